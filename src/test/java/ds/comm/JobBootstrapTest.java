package ds.comm;

import ds.comm.mpi.MpiImplementation;
import ds.comm.topology.LaunchEnv;
import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** How a job's ranks meet (MPI or the socket rendezvous) and which MPI they load. In-process. */
class JobBootstrapTest {

    private static Map<String, String> env(String... kv) {
        Map<String, String> m = new HashMap<>();
        for (int i = 0; i < kv.length; i += 2) m.put(kv[i], kv[i + 1]);
        return m;
    }

    private static final Map<String, String> MPIRUN = env("OMPI_COMM_WORLD_RANK", "0", "OMPI_COMM_WORLD_SIZE", "2");
    private static final Map<String, String> HYDRA = env("PMI_RANK", "1", "PMI_SIZE", "2");

    private static boolean meets(Map<String, String> launcher, String... settings) {
        Map<String, String> e = new HashMap<>(launcher);
        e.putAll(env(settings));
        return Job.meetsThroughMpi(Resolved.of(CommConfig.builder().environment(e).build()),
                LaunchEnv.detectWithoutRendezvous(e));
    }

    @Test
    void forcedShmAndHierUnderAnMpiLauncherMeetThroughMpiWithoutMasterPort() {
        assertTrue(meets(MPIRUN, "DSCOMM_BACKEND", "shm"));
        assertTrue(meets(MPIRUN, "DSCOMM_BACKEND", "hier"));
        assertTrue(meets(HYDRA, "DSCOMM_BACKEND", "shm"));
        assertTrue(meets(MPIRUN), "AUTO as before");
    }

    @Test
    void anExplicitMasterPortKeepsTheSocketRendezvousForForcedShm() {
        assertFalse(meets(MPIRUN, "DSCOMM_BACKEND", "shm", "MASTER_PORT", "29500"));
        assertTrue(meets(MPIRUN, "MASTER_PORT", "29500"), "AUTO still prefers MPI under mpirun");
    }

    @Test
    void ringMpiOffAndOtherLaunchersNeverMeetThroughMpi() {
        assertFalse(meets(MPIRUN, "DSCOMM_BACKEND", "ring"));
        assertFalse(meets(MPIRUN, "DSCOMM_BACKEND", "shm", "DSCOMM_MPI", "0"));
        assertFalse(meets(env("RANK", "0", "WORLD_SIZE", "2"), "DSCOMM_BACKEND", "shm"));
        assertFalse(meets(env("SLURM_PROCID", "0", "SLURM_NTASKS", "2"), "DSCOMM_BACKEND", "shm"));
        assertFalse(meets(env("OMPI_COMM_WORLD_RANK", "0", "OMPI_COMM_WORLD_SIZE", "1"), "DSCOMM_BACKEND", "shm"));
    }

    private static boolean ringMeets(Map<String, String> launcher, String... settings) {
        Map<String, String> e = new HashMap<>(launcher);
        e.putAll(env(settings));
        return Job.ringMeetsThroughMpi(Resolved.of(CommConfig.builder().environment(e).build()),
                LaunchEnv.detectWithoutRendezvous(e));
    }

    @Test
    void forcedRingUnderAnMpiLauncherWithoutMasterPortLearnsRankZerosAddressThroughMpi() {
        assertTrue(ringMeets(MPIRUN, "DSCOMM_BACKEND", "ring"));
        assertTrue(ringMeets(HYDRA, "DSCOMM_BACKEND", "ring"));
        assertFalse(ringMeets(MPIRUN, "DSCOMM_BACKEND", "ring", "MASTER_PORT", "29500"), "an explicit port wins");
        assertFalse(ringMeets(MPIRUN, "DSCOMM_BACKEND", "ring", "DSCOMM_MPI", "0"), "MPI switched off");
        assertFalse(ringMeets(MPIRUN, "DSCOMM_BACKEND", "shm"), "shm meets through MPI outright");
        assertFalse(ringMeets(env("SLURM_PROCID", "0", "SLURM_NTASKS", "2"), "DSCOMM_BACKEND", "ring"));
    }

    @Test
    void withoutALoadableMpiOrAMasterPortTheErrorNamesTheLibraryAndTheLaunchersRemedy() {
        for (String backend : new String[] {"shm", "hier", "ring"}) {
            Map<String, String> e = new HashMap<>(MPIRUN);
            e.putAll(env("DSCOMM_BACKEND", backend, "DSCOMM_MPI_LIB", "/nonexistent/libdscomm-no-mpi.so", "DSCOMM_TIMEOUT", "5s"));
            CommException x = org.junit.jupiter.api.Assertions.assertThrows(CommException.class,
                    () -> Communicator.init(CommConfig.builder().environment(e).build()));
            String m = x.getMessage();
            assertTrue(m.contains("/nonexistent/libdscomm-no-mpi.so") && m.contains("MASTER_PORT is not set")
                    && m.contains("mpirun -x MASTER_ADDR"), backend + ": " + m);
        }
    }

    @Test
    void theLaunchersMpiIsTheOneLoaded() {
        assertEquals(MpiImplementation.OPEN_MPI, Job.mpiImplementationOf(LaunchEnv.detectWithoutRendezvous(MPIRUN), MPIRUN));
        assertEquals(MpiImplementation.MPICH, Job.mpiImplementationOf(LaunchEnv.detectWithoutRendezvous(HYDRA), HYDRA));
        Map<String, String> intel = new HashMap<>(HYDRA);
        intel.put("I_MPI_ROOT", "/opt/intel/oneapi/mpi/latest");
        assertEquals(MpiImplementation.INTEL_MPI, Job.mpiImplementationOf(LaunchEnv.detectWithoutRendezvous(intel), intel));
        Map<String, String> torch = env("RANK", "0", "WORLD_SIZE", "2");
        assertEquals(MpiImplementation.UNKNOWN, Job.mpiImplementationOf(LaunchEnv.detectWithoutRendezvous(torch), torch));
    }
}
