package ds.comm;

import java.util.Objects;

/**
 * Which backend a communicator uses, and why, in words.
 *
 * @param backend the backend in use (never {@link Backend#AUTO})
 * @param reason  why it was chosen, e.g. "ranks 0-3 span 2 nodes; SHM disabled by DSCOMM_SHM=0"
 */
public record BackendChoice(Backend backend, String reason) {

    /** Validates. */
    public BackendChoice {
        Objects.requireNonNull(backend, "backend");
        Objects.requireNonNull(reason, "reason");
        if (backend == Backend.AUTO) throw new IllegalArgumentException("AUTO is a request, not a choice");
    }

    @Override
    public String toString() {
        return backend.label() + ": " + reason;
    }
}
