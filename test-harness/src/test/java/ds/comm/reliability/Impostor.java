package ds.comm.reliability;

import ds.comm.topology.JobSecret;
import ds.comm.topology.LaunchEnv;
import ds.comm.topology.LauncherKind;
import ds.comm.topology.Rendezvous;
import ds.comm.topology.Topology;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The attacker of the attack tests, run as another uid ({@link OtherUser}): the library's own
 * rendezvous code with the public key (what a job without DSCOMM_JOB_SECRET uses), a flood of
 * idle connections, or a ring handshake of the job. Prints one result line; exits 0.
 *
 * <pre>
 *   rank1 PORT MILLIS [ADDR [SECRET]]  join a 2-rank job at ADDR:PORT (default 127.0.0.1) as rank 1
 *   rank0 PORT MILLIS [ADDR [SECRET]]  be rank 0 of a 2-rank job on PORT (bind MASTER_PORT first)
 *                                      (public key unless SECRET: then also a genuine rank elsewhere)
 *   flood PORT N MILLIS [ADDR]  hold N idle connections to ADDR:PORT, reopening each one dropped
 *   ring PORT TOKEN MILLIS      offer a valid ring HELLO (rank 1 -> rank 0 of group w) again and again
 *   listen MILLIS               listen on an ephemeral port (printed: PORT n), accept everything, send
 *                               a made-up ring CHALLENGE, count the bytes connectors send
 *   watch DIR MILLIS            watch DIR for segment files; for each, create first every sibling
 *                               rank's and split group's name that can be derived from it
 * </pre>
 */
public final class Impostor {

    private Impostor() {
    }

    public static void main(String[] args) throws Exception {
        System.out.println("UID " + ds.comm.topology.SocketOwner.ownUid());
        switch (args[0]) {
            case "rank1", "rank0" -> {
                int rank = args[0].equals("rank1") ? 1 : 0;
                Duration timeout = Duration.ofMillis(Long.parseLong(args[2]));
                String addr = args.length > 3 ? args[3] : "127.0.0.1";
                JobSecret secret = args.length > 4 ? JobSecret.of(args[4]) : JobSecret.unauthenticated();
                LaunchEnv env = new LaunchEnv(LauncherKind.DSCOMM, rank, 2, -1, -1, addr, Integer.parseInt(args[1]),
                        timeout, null);
                if (rank == 1 && args.length <= 3) {
                    // The impostor on this node: be first, pounce the moment rank 0 listens (a
                    // genuine rank on another host, ADDR given, cannot see that listener).
                    long until = System.nanoTime() + timeout.toNanos();
                    while (ds.comm.topology.SocketOwner.listenerOwner(Integer.parseInt(args[1])) < 0
                            && System.nanoTime() < until) {
                        Thread.sleep(1);
                    }
                }
                try {
                    Topology t = Rendezvous.join(env, "evil", 0, timeout.toNanos(), secret);
                    System.out.println("JOINED " + t.digest());
                } catch (RuntimeException e) {
                    System.out.println("FAILED " + e.getMessage());
                }
            }
            case "flood" -> flood(Integer.parseInt(args[1]), Integer.parseInt(args[2]), Long.parseLong(args[3]),
                    args.length > 4 ? args[4] : "127.0.0.1");
            case "ring" -> ring(Integer.parseInt(args[1]), args[2], Long.parseLong(args[3]));
            case "listen" -> listen(Long.parseLong(args[1]));
            case "watch" -> watch(java.nio.file.Path.of(args[1]), Long.parseLong(args[2]));
            default -> throw new IllegalArgumentException(args[0]);
        }
        System.out.flush();
    }

    private static void flood(int port, int n, long millis, String addr) throws InterruptedException {
        long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        List<Socket> open = new ArrayList<>();
        long opened = 0;
        long challengeBytes = 0;
        while (System.nanoTime() < until) {
            for (int i = 0; i < open.size(); i++) {
                Socket s = open.get(i);
                try {
                    InputStream in = s.getInputStream();
                    int avail = in.available();
                    if (avail > 0) challengeBytes += in.skip(avail);
                    s.sendUrgentData(0); // fails once the other side is gone
                } catch (IOException e) {
                    closeQuietly(s);
                    open.remove(i--);
                }
            }
            while (open.size() < n && System.nanoTime() < until) {
                try {
                    Socket s = new Socket(addr, port);
                    s.setSoTimeout(1);
                    open.add(s);
                    opened++;
                } catch (IOException e) {
                    break; // refused: try again next round
                }
            }
            Thread.sleep(5);
        }
        open.forEach(Impostor::closeQuietly);
        System.out.println("FLOOD opened=" + opened + " challengeBytes=" + challengeBytes);
    }

    private static void ring(int port, String token, long millis) throws InterruptedException {
        long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        int connections = 0;
        int challenged = 0;
        int acked = 0;
        byte[] hello = ringHello(token);
        JobSecret publicKey = JobSecret.unauthenticated();
        while (System.nanoTime() < until) {
            try (Socket s = new Socket("127.0.0.1", port)) {
                connections++;
                s.setSoTimeout(1000);
                OutputStream out = s.getOutputStream();
                InputStream in = s.getInputStream();
                out.write(hello);
                out.flush();
                byte[] challenge = in.readNBytes(36);
                if (challenge.length == 36) {
                    challenged++;
                    byte[] mine = JobSecret.nonce();
                    byte[] tag = publicKey.tag("ds-comm ring connector".getBytes(StandardCharsets.US_ASCII),
                            Arrays.copyOfRange(challenge, 4, 36), mine, hello);
                    out.write(ByteBuffer.allocate(68).putInt(0x44535252).put(mine).put(tag).array());
                    out.flush();
                    if (in.readNBytes(40).length == 40) acked++;
                }
            } catch (IOException e) {
                // closed or refused
            }
            Thread.sleep(20);
        }
        System.out.println("RING connections=" + connections + " challenged=" + challenged + " acked=" + acked);
    }

    /** A listener on a port a ring rank would connect to (one a dead rank left, say). */
    private static void listen(long millis) throws IOException {
        long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        long accepted = 0;
        long received = 0;
        try (java.net.ServerSocket server = new java.net.ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress())) {
            System.out.println("PORT " + server.getLocalPort());
            System.out.flush();
            server.setSoTimeout(50);
            while (System.nanoTime() < until) {
                try (Socket s = server.accept()) {
                    accepted++;
                    s.setSoTimeout(200);
                    s.getOutputStream().write(ByteBuffer.allocate(36).putInt(0x44535243).array());
                    s.getOutputStream().flush();
                    try {
                        byte[] b = new byte[4096];
                        int n;
                        while ((n = s.getInputStream().read(b)) > 0) received += n;
                    } catch (IOException e) {
                        // read timeout or reset: next connection
                    }
                } catch (java.net.SocketTimeoutException e) {
                    // nobody this round
                }
            }
        }
        System.out.println("LISTEN accepted=" + accepted + " received=" + received);
    }

    /**
     * Issue 15's squatter: names of the form dscomm-USER-TOKEN-GROUP-RANK gave away every other
     * rank's and split group's name. It polls (a tight loop stands in for inotify) and plants
     * those names; it prints how many files of the job it saw and how many names it planted.
     */
    private static void watch(java.nio.file.Path dir, long millis) throws IOException {
        long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        java.util.Set<String> seen = new java.util.HashSet<>();
        java.util.Set<String> planted = new java.util.HashSet<>();
        System.out.println("READY");
        System.out.flush();
        while (System.nanoTime() < until) {
            try (var files = java.nio.file.Files.newDirectoryStream(dir, "dscomm-*")) {
                for (java.nio.file.Path f : files) {
                    String name = f.getFileName().toString();
                    if (planted.contains(name) || !seen.add(name)) continue;
                    for (String guess : guesses(name)) {
                        try {
                            java.nio.file.Files.createFile(dir.resolve(guess));
                            planted.add(guess);
                        } catch (IOException e) {
                            // taken already
                        }
                    }
                }
            } catch (IOException e) {
                // the directory went away: the test is over
            }
        }
        System.out.println("WATCH seen=" + seen.size() + " planted=" + planted.size());
    }

    /** Every name the old scheme let one derive from {@code name}: other ranks, split groups. */
    private static List<String> guesses(String name) {
        List<String> out = new ArrayList<>();
        String[] p = name.split("-");
        if (p.length == 5) { // dscomm-user-token-group-rank
            String base = p[0] + "-" + p[1] + "-" + p[2] + "-";
            for (String group : List.of(p[3], p[3] + ".s1c0", p[3] + ".s1c1", p[3] + ".n0", p[3] + ".x")) {
                for (int r = 0; r < 8; r++) out.add(base + group + "-" + r);
            }
        } else if (p.length == 3) { // dscomm-user-key: only the key's neighbours are left to try
            String key = p[2];
            for (int i = 0; i < 16; i++) {
                out.add(p[0] + "-" + p[1] + "-" + key.substring(0, key.length() - 1) + Integer.toHexString(i));
            }
        }
        return out;
    }

    /** A data-connection HELLO from world rank 1 to world rank 0, group "w" of 2 (HandshakeDescriptor). */
    private static byte[] ringHello(String token) {
        byte[] t = token.getBytes(StandardCharsets.US_ASCII);
        byte[] name = "w".getBytes(StandardCharsets.US_ASCII);
        return ByteBuffer.allocate(28 + t.length + name.length).putInt(0x44535248).putShort((short) 3)
                .putShort((short) 0).putShort((short) t.length).putShort((short) name.length)
                .putInt(1).putInt(1).putInt(0).putInt(2).put(t).put(name).array();
    }

    private static void closeQuietly(Socket s) {
        try {
            s.close();
        } catch (IOException e) {
            // gone already
        }
    }
}
