/**
 * The command-line tool ({@code bin/dscomm}): doctor, launch, bench, demo, soak, and the
 * multi-process launcher the tests use. Its own artifact and module ({@code ds-comm-tool},
 * {@code ds.comm.tool}), built on the library, as torchrun is built on torch; library packages
 * never depend on it, and a user who {@code requires ds.comm} does not get it.
 */
package ds.comm.tool;
