import java.util.concurrent.atomic.AtomicLong;

/**
 * How far apart the two cores this machine gives two threads are: two threads hand one cache
 * line back and forth, and every sample prints the round trip in nanoseconds. On a virtual
 * machine the hypervisor moves the vCPUs between host cores and sockets while it runs, so the
 * samples show which placement a benchmark ran under (on the project's 2-vCPU machine: ~31 ns
 * on sibling hardware threads, 70-90 ns within a socket, 450-570 ns across, changing within a
 * second). Everything an all-reduce moves between ranks pays that: read benchmark runs with it.
 *
 * <pre>java bench/CoreToCore.java [SAMPLES] [PAUSE_MS]      (defaults 40, 300)</pre>
 */
public final class CoreToCore {

    private static final AtomicLong LINE = new AtomicLong();
    private static final int ROUND_TRIPS = 200_000;

    public static void main(String[] args) throws InterruptedException {
        int samples = args.length > 0 ? Integer.parseInt(args[0]) : 40;
        long pauseMillis = args.length > 1 ? Long.parseLong(args[1]) : 300;
        Thread echo = new Thread(() -> {
            // Answers every odd value with the next even one.
            for (long expected = 1; ; expected += 2) {
                while (LINE.get() != expected) Thread.onSpinWait();
                LINE.set(expected + 1);
            }
        });
        echo.setDaemon(true);
        echo.start();
        long value = 0;
        StringBuilder line = new StringBuilder();
        for (int s = 0; s < samples; s++) {
            long start = System.nanoTime();
            for (int i = 0; i < ROUND_TRIPS; i++) {
                LINE.set(value + 1);
                value += 2;
                while (LINE.get() != value) Thread.onSpinWait();
            }
            line.append(Math.round((System.nanoTime() - start) / (double) ROUND_TRIPS)).append(' ');
            Thread.sleep(pauseMillis);
        }
        System.out.println("round trip ns per sample: " + line.toString().trim());
    }
}
