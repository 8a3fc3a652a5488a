/**
 * The command-line tool ({@code bin/dscomm}): doctor, launch, bench, demo, and the multi-process
 * launcher used by the tests. Lives in test-harness/ and ships in the same module as the
 * library, as torchrun ships with torch. Library packages never depend on it.
 */
package ds.comm.tool;
