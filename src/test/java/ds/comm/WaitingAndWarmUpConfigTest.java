package ds.comm;

import ds.comm.spi.AdaptiveIdleStrategy;
import ds.comm.spi.BackoffIdleStrategy;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** How DSCOMM_IDLE and DSCOMM_WARMUP (and their CommConfig setters) resolve. */
class WaitingAndWarmUpConfigTest {

    private static Resolved resolve(Map<String, String> env) {
        return Resolved.of(CommConfig.builder().environment(env).build());
    }

    @Test
    void adaptiveWaitingIsTheDefaultAndTheOldBackOffStaysSelectable() {
        assertInstanceOf(IdlePolicy.Adaptive.class, resolve(Map.of()).idle());
        assertInstanceOf(AdaptiveIdleStrategy.class, resolve(Map.of()).settings().idle().get());
        assertInstanceOf(BackoffIdleStrategy.class, resolve(Map.of("DSCOMM_IDLE", "backoff")).settings().idle().get());
        assertEquals(IdlePolicy.parking(), resolve(Map.of("DSCOMM_IDLE", "park")).idle());
        assertInstanceOf(IdlePolicy.Adaptive.class, resolve(Map.of("DSCOMM_IDLE", "adaptive")).idle());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> resolve(Map.of("DSCOMM_IDLE", "busy")));
        assertTrue(e.getMessage().contains("DSCOMM_IDLE"), e.getMessage());
    }

    @Test
    void theNodesRankCountReachesTheAdaptiveStrategy() {
        int cpus = Runtime.getRuntime().availableProcessors();
        AdaptiveIdleStrategy crowded = (AdaptiveIdleStrategy) Resolved.idleStrategies(IdlePolicy.adaptive(), cpus + 1).get();
        AdaptiveIdleStrategy roomy = (AdaptiveIdleStrategy) Resolved.idleStrategies(IdlePolicy.adaptive(), 1).get();
        assertTrue(crowded.oversubscribed());
        assertTrue(!roomy.oversubscribed());
    }

    @Test
    void warmUpIsOnByDefaultAsTheSumOfTheInferenceTypesAndTakesAListOrOff() {
        assertEquals(WarmUpSet.DEFAULT, resolve(Map.of()).warmUp());
        assertEquals(WarmUpSet.DEFAULT, resolve(Map.of("DSCOMM_WARMUP", "1")).warmUp());
        assertEquals(List.of(new WarmUpSet.Kernel(DType.FP32, ReduceOp.SUM), new WarmUpSet.Kernel(DType.BF16, ReduceOp.SUM)),
                WarmUpSet.DEFAULT.kernels());
        assertEquals("bf16:sum,fp32:max", resolve(Map.of("DSCOMM_WARMUP", "bf16,fp32:max")).warmUp().label());
        assertTrue(resolve(Map.of("DSCOMM_WARMUP", "0")).warmUp().isEmpty());
        assertTrue(resolve(Map.of("DSCOMM_WARMUP", "off")).warmUp().isEmpty());
        assertEquals(DType.values().length * ReduceOp.values().length, resolve(Map.of("DSCOMM_WARMUP", "all")).warmUp()
                .kernels().size());
        assertEquals(List.of(new WarmUpSet.Kernel(DType.BF16, ReduceOp.SUM), new WarmUpSet.Kernel(DType.FP32, ReduceOp.MAX)),
                resolve(Map.of("DSCOMM_WARMUP", " bf16 , fp32:max,bf16")).warmUp().kernels());
        assertTrue(Resolved.of(CommConfig.builder().environment(Map.of()).warmUp(false).build()).warmUp().isEmpty());
        assertEquals(WarmUpSet.DEFAULT, Resolved.of(CommConfig.builder().environment(Map.of("DSCOMM_WARMUP", "0"))
                .warmUp(true).build()).warmUp(), "CommConfig wins over the environment");
    }

    @Test
    void aMalformedWarmUpListNamesTheVariableAndTheBadItem() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> resolve(Map.of("DSCOMM_WARMUP", "fp32,bf17:sum")));
        assertTrue(e.getMessage().contains("DSCOMM_WARMUP") && e.getMessage().contains("bf17"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> resolve(Map.of("DSCOMM_WARMUP", "fp32:avg")));
        assertThrows(IllegalArgumentException.class, () -> resolve(Map.of("DSCOMM_WARMUP", ",")));
    }
}
