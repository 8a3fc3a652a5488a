package ds.comm.lanes;

import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.util.List;

/**
 * Where reducers come from: the scalar reference, a vector reducer of a chosen width, or the one
 * {@code DSCOMM_VECTOR_BITS} asks for.
 *
 * <p>Vector reducers exist for 64, 128, 256 and 512 bits, up to the widest shape this JVM
 * supports ({@link VectorShape#preferredShape()}). Each width is a separate hidden class of the
 * same kernel source per combiner (see {@code VectorKernelTemplate}), defined on first use and then shared; all
 * reducers are stateless and thread-safe.
 */
public final class Reducers {

    /** The environment variable {@link #fromEnvironment(String)} interprets. */
    public static final String VECTOR_BITS_VARIABLE = "DSCOMM_VECTOR_BITS";

    private static final int[] WIDTHS = {64, 128, 256, 512};
    private static final Reducer[] VECTOR = new Reducer[WIDTHS.length];

    private Reducers() {
    }

    /** The scalar reference reducer; {@link Reducer#vectorBits()} is 0. */
    public static Reducer scalar() {
        return ScalarReducer.INSTANCE;
    }

    /**
     * The vector reducer of the given width.
     *
     * @param bits 64, 128, 256 or 512, and at most {@link #maxBits()}
     * @throws IllegalArgumentException for any other width, or one wider than this JVM supports
     */
    public static Reducer vector(int bits) {
        int index = widthIndex(bits);
        if (index < 0) {
            throw new IllegalArgumentException("vector width must be 64, 128, 256 or 512 bits: " + bits);
        }
        int max = maxBits();
        if (bits > max) {
            throw new IllegalArgumentException(bits + "-bit vectors are not supported by this JVM (widest: "
                    + (max == 0 ? "none" : max + "-bit") + ")");
        }
        synchronized (VECTOR) {
            Reducer r = VECTOR[index];
            if (r == null) {
                r = defineVectorReducer(bits);
                VECTOR[index] = r;
            }
            return r;
        }
    }

    /**
     * The widest vector width this JVM supports and {@link #vector(int)} accepts, or 0 if none.
     * It is the JVM's preferred (widest) shape, capped at 512 bits.
     */
    public static int maxBits() {
        int preferred = VectorShape.preferredShape().vectorBitSize();
        for (int i = WIDTHS.length - 1; i >= 0; i--) {
            int bits = WIDTHS[i];
            // A shape this JVM really supports has exactly bits/32 float lanes.
            if (bits <= preferred && VectorSpecies.of(float.class, VectorShape.forBitSize(bits)).length() == bits / Float.SIZE) {
                return bits;
            }
        }
        return 0;
    }

    /** The width {@link #fromEnvironment(String)} picks when nothing is asked for; 0 means scalar. */
    public static int preferredBits() {
        return maxBits();
    }

    /**
     * The reducer {@code DSCOMM_VECTOR_BITS} asks for.
     *
     * @param dscommVectorBits the variable's value: {@code null} or blank for the preferred width,
     *                         {@code 0} for the scalar reference, or 64, 128, 256, 512
     * @throws IllegalArgumentException for any other value, or a width this JVM does not support
     */
    public static Reducer fromEnvironment(String dscommVectorBits) {
        if (dscommVectorBits == null || dscommVectorBits.isBlank()) {
            int preferred = preferredBits();
            return preferred == 0 ? scalar() : vector(preferred);
        }
        String value = dscommVectorBits.strip();
        int bits;
        try {
            bits = Integer.parseInt(value);
        } catch (NumberFormatException e) {
            bits = -1;
        }
        if (bits == 0) {
            return scalar();
        }
        if (widthIndex(bits) < 0) {
            throw new IllegalArgumentException(VECTOR_BITS_VARIABLE + " must be unset, 0 (scalar), 64, 128, 256 or 512; got '"
                    + dscommVectorBits + "'");
        }
        try {
            return vector(bits);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(VECTOR_BITS_VARIABLE + "=" + value + ": " + e.getMessage(), e);
        }
    }

    /** {@link #fromEnvironment(String)} of this process's {@code DSCOMM_VECTOR_BITS}. */
    public static Reducer fromEnvironment() {
        return fromEnvironment(System.getenv(VECTOR_BITS_VARIABLE));
    }

    /**
     * One line saying which reducer is in use and what this JVM prefers, e.g.
     * {@code "512-bit in use (preferred 512-bit, FloatVector 16 lanes)"} or
     * {@code "scalar in use (preferred 512-bit)"}.
     */
    public static String describe(Reducer reducer) {
        int preferred = preferredBits();
        String pref = preferred == 0 ? "no vector support" : "preferred " + preferred + "-bit";
        int bits = reducer.vectorBits();
        if (bits == 0) {
            return "scalar in use (" + pref + ")";
        }
        return bits + "-bit in use (" + pref + ", FloatVector " + bits / Float.SIZE + " lanes)";
    }

    /**
     * Whether {@code segment} is a plain native segment (arena-allocated, or made from an
     * address): the kind the vector kernels have copies compiled for alone. Callers that choose
     * which segments to hand the kernels as sources (staging a heap or file-mapped buffer first)
     * ask this, so that their choice and the reducer's agree by construction.
     */
    public static boolean isPlainNative(MemorySegment segment) {
        return segment.getClass() == VectorReducer.PLAIN_NATIVE;
    }

    private static int widthIndex(int bits) {
        for (int i = 0; i < WIDTHS.length; i++) {
            if (WIDTHS[i] == bits) {
                return i;
            }
        }
        return -1;
    }

    /**
     * A vector reducer with freshly defined kernel classes, not the shared one: its kernels carry
     * no JIT profile from earlier use. For tests that observe compiled code.
     */
    static Reducer newVectorReducer(int bits) {
        vector(bits);   // validates the width
        return defineVectorReducer(bits);
    }

    /**
     * Builds the reducer of one width: {@code VectorKernelTemplate} defined once more as a hidden
     * class for each combiner and segment kind, with {@code [bits, combiner, exact]} as class data
     * (exact: the copy for plain native segments only).
     */
    private static Reducer defineVectorReducer(int bits) {
        byte[] classFile;
        try (InputStream in = Reducers.class.getResourceAsStream("VectorKernelTemplate.class")) {
            if (in == null) {
                throw new IllegalStateException("VectorKernelTemplate.class is missing from " + Reducers.class.getModule());
            }
            classFile = in.readAllBytes();
        } catch (IOException e) {
            throw new IllegalStateException("cannot read VectorKernelTemplate.class", e);
        }
        MethodHandle[] kernels = new MethodHandle[2 * VectorReducer.KERNELS_PER_COPY];
        for (boolean exact : new boolean[] {true, false}) {
            for (Combiner op : Combiner.values()) {
                try {
                    MethodHandles.Lookup kernel = MethodHandles.lookup()
                            .defineHiddenClassWithClassData(classFile, List.of(bits, op, exact), true);
                    for (ElementType type : ElementType.values()) {
                        kernels[VectorReducer.kernelIndex(exact, op, type)] = kernel.findStatic(kernel.lookupClass(),
                                VectorReducer.kernelName(type), VectorReducer.KERNEL_TYPE);
                    }
                } catch (ReflectiveOperationException e) {
                    throw new IllegalStateException("cannot define the " + bits + "-bit " + op + " vector kernels", e);
                }
            }
        }
        return new VectorReducer(bits, kernels);
    }
}
