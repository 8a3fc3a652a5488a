package ds.comm;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Which reduction kernels {@link Communicator#init()} compiles before it returns, read from
 * {@code DSCOMM_WARMUP} or {@link CommConfig.Builder#warmUp(boolean)}.
 *
 * <p>Syntax: {@code 0|off|false|no}: none; {@code 1|on|true|yes|default} or unset: SUM of fp32
 * and bf16 (what tensor-parallel inference reduces; a job that reduces one type only gets its
 * best steady state by naming it, {@code fp32} or {@code bf16}, see {@link WarmUp}); {@code all} every type and operation; or a comma-separated list of
 * {@code type[:op]} (op defaults to sum), e.g. {@code bf16,fp32:max,int64:sum}.
 *
 * @param kernels (type, op) pairs in the order they are warmed; empty for none
 */
record WarmUpSet(List<Kernel> kernels) {

    /** One reduction kernel. */
    record Kernel(DType type, ReduceOp op) {
    }

    static final WarmUpSet NONE = new WarmUpSet(List.of());
    static final WarmUpSet DEFAULT = new WarmUpSet(List.of(new Kernel(DType.FP32, ReduceOp.SUM),
            new Kernel(DType.BF16, ReduceOp.SUM)));

    WarmUpSet {
        kernels = List.copyOf(kernels);
    }

    /** Every type with every operation. */
    static WarmUpSet all() {
        List<Kernel> out = new ArrayList<>();
        for (ReduceOp op : ReduceOp.values()) {
            for (DType t : DType.values()) out.add(new Kernel(t, op));
        }
        return new WarmUpSet(out);
    }

    boolean isEmpty() {
        return kernels.isEmpty();
    }

    /** The kinds in {@code DSCOMM_WARMUP}'s syntax, e.g. {@code fp32:sum,bf16:max}. */
    String label() {
        StringBuilder b = new StringBuilder();
        for (Kernel k : kernels) {
            if (!b.isEmpty()) b.append(',');
            b.append(k.type().name().toLowerCase(Locale.ROOT)).append(':').append(k.op().name().toLowerCase(Locale.ROOT));
        }
        return b.toString();
    }

    static WarmUpSet parse(String value) {
        String v = value.trim().toLowerCase(Locale.ROOT);
        switch (v) {
            case "0", "off", "false", "no" -> {
                return NONE;
            }
            case "1", "on", "true", "yes", "default" -> {
                return DEFAULT;
            }
            case "all" -> {
                return all();
            }
            default -> {
            }
        }
        Set<Kernel> out = new LinkedHashSet<>();
        for (String item : v.split(",")) {
            String s = item.trim();
            if (s.isEmpty()) continue;
            int colon = s.indexOf(':');
            String type = colon < 0 ? s : s.substring(0, colon).trim();
            String op = colon < 0 ? "sum" : s.substring(colon + 1).trim();
            try {
                out.add(new Kernel(DType.valueOf(type.toUpperCase(Locale.ROOT)), ReduceOp.valueOf(op.toUpperCase(Locale.ROOT))));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("'" + s + "' is not type[:op] (types fp32 fp64 bf16 fp16 int32 int64, "
                        + "ops sum prod min max); or use 0, 1 or all");
            }
        }
        if (out.isEmpty()) throw new IllegalArgumentException("expected 0, 1, all or a list like bf16,fp32:max");
        return new WarmUpSet(new ArrayList<>(out));
    }
}
