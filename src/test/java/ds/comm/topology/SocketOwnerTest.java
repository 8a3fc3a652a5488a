package ds.comm.topology;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The kernel's socket tables name the owner of a connection's other end: this process for its
 * own connections (dual-stack IPv6 sockets and plain IPv4 ones), another uid for a process of
 * another user, nobody for an address pair that no socket of this node has.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SocketOwnerTest {

    private static InetSocketAddress local(Socket s) {
        return (InetSocketAddress) s.getLocalSocketAddress();
    }

    private static InetSocketAddress remote(Socket s) {
        return (InetSocketAddress) s.getRemoteSocketAddress();
    }

    @Test
    void bothEndsOfAnOwnLoopbackConnectionBelongToThisProcessesUser() throws Exception {
        Assumptions.assumeTrue(SocketOwner.ownUid() >= 0, "no /proc/self/status");
        try (ServerSocket server = new ServerSocket(0, 4, InetAddress.getByName("127.0.0.1"));
             Socket client = new Socket("127.0.0.1", server.getLocalPort());
             Socket accepted = server.accept()) {
            long[] owners = SocketOwner.ownersOfPeers(List.of(new SocketOwner.Connection(local(accepted), remote(accepted)),
                    new SocketOwner.Connection(local(client), remote(client))));
            assertArrayEquals(new long[] {SocketOwner.ownUid(), SocketOwner.ownUid()}, owners);
            assertEquals(SocketOwner.ownUid(), SocketOwner.listenerOwner(server.getLocalPort()));
            assertEquals(PeerCheck.Verdict.SAME_USER, PeerCheck.verdict(owners[0]));
        }
    }

    @Test
    void aPlainIpv4PeerIsFoundInTheIpv4Table() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/bin/bash")), "no bash for an AF_INET client");
        try (ServerSocket server = new ServerSocket(0, 4, InetAddress.getByName("127.0.0.1"))) {
            // bash's /dev/tcp opens an AF_INET socket: its end is listed in /proc/net/tcp, not tcp6.
            Process p = new ProcessBuilder("bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/" + server.getLocalPort()
                    + "; sleep 20").start();
            try (Socket accepted = server.accept()) {
                assertEquals(SocketOwner.ownUid(), SocketOwner.ownerOfPeer(local(accepted), remote(accepted)));
            } finally {
                p.destroyForcibly();
                p.waitFor();
            }
        }
    }

    @Test
    void aPeerOfAnotherUserIsSeenWithItsUidAndRefused() throws Exception {
        ds.comm.testkit.RequiredEnvironment.assumeAvailable(SocketOwner.ownUid() == 0,
                "running a process as another uid needs root");
        ds.comm.testkit.RequiredEnvironment.assumeAvailable(Files.isExecutable(Path.of("/usr/bin/setpriv")),
                "no setpriv (util-linux)");
        try (ServerSocket server = new ServerSocket(0, 4, InetAddress.getByName("127.0.0.1"))) {
            Process p = new ProcessBuilder("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
                    "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/" + server.getLocalPort() + "; sleep 20").start();
            try (Socket accepted = server.accept()) {
                long owner = SocketOwner.ownerOfPeer(local(accepted), remote(accepted));
                assertEquals(65534, owner);
                assertEquals(PeerCheck.Verdict.OTHER_USER, PeerCheck.verdict(owner));
                assertTrue(PeerCheck.otherUser("x", owner).contains("uid 65534"));
            } finally {
                p.destroyForcibly();
                p.waitFor();
            }
        }
    }

    @Test
    void anAddressPairNoSocketOfThisNodeHasIsNotLocal() throws IOException {
        long owner = SocketOwner.ownerOfPeer(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 1),
                new InetSocketAddress(InetAddress.getByName("192.0.2.7"), 2));
        assertEquals(SocketOwner.NOT_LOCAL, owner);
        assertEquals(PeerCheck.Verdict.NOT_LOCAL, PeerCheck.verdict(owner));
    }
}
