package ds.comm.tool.scenario;

import ds.comm.topology.LaunchLedger;
import ds.comm.topology.JobSecret;
import ds.comm.topology.LaunchEnv;
import ds.comm.topology.NodeIdentity;
import ds.comm.topology.Rendezvous;
import ds.comm.topology.Topology;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Rank program for the multi-process topology tests: joins the rendezvous and prints what it
 * learned in a canonical form, so that a test can check that every rank holds the same table.
 *
 * <pre>
 * usage: TopologyProbe [--exit-before-rendezvous RANK:CODE] [GROUP ...]
 *   GROUP  comma-separated world ranks, e.g. 0,1; prints "group=0,1 local=true nodes=1"
 * </pre>
 * Output lines: {@code env launcher=... rank=... size=... localRank=... localSize=...},
 * {@code me rank=R localRank=L localSize=S node=N}, {@code digest=<Topology#digest()>}, and one
 * {@code group=} line per GROUP argument.
 */
public final class TopologyProbe {

    private TopologyProbe() {
    }

    /**
     * @param args see the class description
     */
    public static void main(String[] args) {
        LaunchEnv env = LaunchEnv.fromSystem();
        System.out.println("env launcher=" + env.launcher() + " rank=" + env.rank() + " size=" + env.worldSize()
                + " localRank=" + env.localRank() + " localSize=" + env.localSize());
        int first = 0;
        if (args.length >= 2 && args[0].equals("--exit-before-rendezvous")) {
            String[] rc = args[1].split(":");
            if (env.rank() == Integer.parseInt(rc[0])) {
                System.out.println("exiting early with code " + rc[1]);
                System.exit(Integer.parseInt(rc[1]));
            }
            first = 2;
        }
        String node = NodeIdentity.detect(System.getenv(),
                Path.of(System.getenv().getOrDefault("DSCOMM_SHM_DIR", "/dev/shm")));
        Topology t = Rendezvous.join(env, node, 0, env.timeoutNanos(), JobSecret.fromEnvironment(System.getenv()),
                LaunchLedger.fromEnvironment(System.getenv()));
        int me = t.rank();
        System.out.println("me rank=" + me + " localRank=" + t.localRank(me) + " localSize=" + t.localSize(me)
                + " node=" + t.myNode() + " leader=" + t.nodeLeader(t.myNode()));
        System.out.println("digest=" + t.digest());
        for (int i = first; i < args.length; i++) {
            int[] group = Arrays.stream(args[i].split(",")).mapToInt(Integer::parseInt).toArray();
            System.out.println("group=" + args[i] + " local=" + t.isNodeLocal(group) + " nodes=" + t.nodeCount(group));
        }
    }
}
