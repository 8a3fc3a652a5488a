package ds.comm.topology;

import java.nio.ByteOrder;
import java.util.Map;

/**
 * A test stand-in for a rank of another byte order: it takes part in a real rendezvous exactly
 * like a rank would, but announces {@code order} instead of this machine's native order.
 */
public final class ForeignByteOrderRank {

    private ForeignByteOrderRank() {
    }

    /** Joins as {@code env}'s rank (never rank 0) announcing {@code order}; returns rank 0's table. */
    public static Topology join(Map<String, String> env, ByteOrder order) {
        LaunchEnv launch = LaunchEnv.detect(env);
        if (launch.rank() == 0) throw new IllegalArgumentException("rank 0 hosts the rendezvous; fake another rank");
        return RendezvousClient.exchange(launch, NodeIdentity.detect(env, java.nio.file.Path.of("/dev/shm")), 0, System.nanoTime() + launch.timeoutNanos(),
                JobSecret.fromEnvironment(env), LaunchLedger.none(), order);
    }
}
