package ds.comm.tool;

import ds.comm.topology.LaunchEnv;
import ds.comm.topology.LauncherKind;

/** Whether this process was started as one rank of a job (by any supported launcher). */
final class RankEnvironment {

    private RankEnvironment() {
    }

    static boolean present() {
        return LaunchEnv.detectWithoutRendezvous(System.getenv()).launcher() != LauncherKind.NONE;
    }
}
