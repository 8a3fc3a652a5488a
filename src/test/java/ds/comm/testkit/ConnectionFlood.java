package ds.comm.testkit;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A connection flood against a local listener, the attack of issue 15: a daemon thread keeps
 * {@code connections} connections to {@code 127.0.0.1:port} open, each sending {@code greeting}
 * (perhaps a half handshake, perhaps nothing) and then nothing more, and reopens every one the
 * listener drops (read returns end of stream or fails), every 20 ms, until {@link #close()}.
 * The rendezvous and ring listeners must evict such connections and still let real peers in.
 */
public final class ConnectionFlood implements AutoCloseable {

    private final AtomicBoolean stop = new AtomicBoolean();
    private final AtomicInteger opened = new AtomicInteger();
    private final Thread thread;

    private ConnectionFlood(int port, int connections, byte[] greeting) {
        this.thread = Thread.ofPlatform().daemon().name("connection-flood").start(() -> run(port, connections, greeting));
    }

    /** Starts flooding {@code 127.0.0.1:port} with {@code connections} connections that each send {@code greeting}. */
    public static ConnectionFlood start(int port, int connections, byte[] greeting) {
        return new ConnectionFlood(port, connections, greeting.clone());
    }

    /** Connections opened so far, reopened ones included. */
    public int opened() {
        return opened.get();
    }

    private void run(int port, int connections, byte[] greeting) {
        List<SocketChannel> held = new ArrayList<>();
        ByteBuffer sink = ByteBuffer.allocate(256);
        try {
            while (!stop.get()) {
                for (int i = 0; i < held.size(); i++) {
                    sink.clear();
                    try {
                        if (held.get(i).read(sink) < 0) throw new IOException("closed");
                    } catch (IOException e) {
                        closeQuietly(held.get(i));
                        held.remove(i--);
                    }
                }
                while (held.size() < connections && !stop.get()) {
                    try {
                        SocketChannel ch = SocketChannel.open(new InetSocketAddress("127.0.0.1", port));
                        if (greeting.length > 0) ch.write(ByteBuffer.wrap(greeting));
                        ch.configureBlocking(false);
                        held.add(ch);
                        opened.incrementAndGet();
                    } catch (IOException e) {
                        break;
                    }
                }
                Thread.sleep(20);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            for (SocketChannel ch : held) closeQuietly(ch);
        }
    }

    private static void closeQuietly(SocketChannel ch) {
        try {
            ch.close();
        } catch (IOException ignored) {
            // gone
        }
    }

    /** Stops the flood and closes its connections (waits up to 10 s for the thread). */
    @Override
    public void close() throws InterruptedException {
        stop.set(true);
        thread.join(10_000);
    }
}
