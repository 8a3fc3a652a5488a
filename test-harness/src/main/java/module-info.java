/**
 * ds-comm's command-line tool ({@code bin/dscomm}): the launcher, bench, demo, doctor and soak.
 *
 * <p>Exports nothing: it is run ({@code -m ds.comm.tool}), not depended on. It reads the
 * library's launch and topology detection and its kernels' description through exports qualified
 * to this module only, which no application can use.
 */
module ds.comm.tool {
    requires ds.comm;
    requires java.logging;
    // bench reports the JVM's uptime when it started its timed loop.
    requires java.management;
    // bench --jfr records the run with the library's JFR events.
    requires jdk.jfr;
}
