/**
 * What ds-comm tells JDK Flight Recorder: one event per collective call, one per group opened
 * and closed, one per failure (see docs/observability.md for names, fields and how to record).
 *
 * <p>A leaf below the public API: it knows no other ds-comm package, so events carry strings
 * and numbers only. The API fills them, and only when a recording takes them: an event object
 * that is never committed is removed by the JIT's escape analysis, so with no recording a call
 * allocates nothing and pays a few loads.
 */
package ds.comm.observe;
