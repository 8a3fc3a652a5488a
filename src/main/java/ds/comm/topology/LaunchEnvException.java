package ds.comm.topology;

/**
 * A launcher variable is missing, malformed or inconsistent with another one. The message names
 * the variable(s) and the value(s) so that the user can fix the launch command.
 */
public final class LaunchEnvException extends IllegalArgumentException {

    private static final long serialVersionUID = 1L;

    /**
     * @param message names the variable and its value, e.g. "RANK=4 is not below WORLD_SIZE=4"
     */
    public LaunchEnvException(String message) {
        super(message);
    }
}
