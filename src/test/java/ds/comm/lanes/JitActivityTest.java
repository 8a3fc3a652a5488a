package ds.comm.lanes;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Reading HotSpot's Compiler.queue text: what the warm-up runs until. */
class JitActivityTest {

    @Test
    void emptyQueuesAndNoCurrentCompileAreQuiet() {
        assertFalse(JitActivity.compiling("Current compiles: \n\nC1 compile queue:\nEmpty\n\nC2 compile queue:\nEmpty\n\n"));
    }

    @Test
    void aCompileInProgressOrQueuedIsBusy() {
        assertTrue(JitActivity.compiling("Current compiles: \nC2 CompilerThread0  1763       4       a.B::step (891 bytes)\n\n"
                + "C1 compile queue:\nEmpty\n\nC2 compile queue:\nEmpty\n"));
        assertTrue(JitActivity.compiling("Current compiles: \n\nC1 compile queue:\nEmpty\n\nC2 compile queue:\n"
                + "1751       4       a.B::bappend (26 bytes)\n"));
    }

    @Test
    void thisJvmCanBeAskedAndAnswers() {
        JitActivity jit = JitActivity.forThisJvm();
        assertNotNull(jit, "HotSpot's diagnostic command should be reachable through the platform MBean server");
        jit.compiling();   // either answer is right at any moment; it must not throw
    }
}
