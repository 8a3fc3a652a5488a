package ds.comm.lanes;

import java.util.function.ToIntFunction;

/**
 * Finds an enum constant by its explicit stable code: the number that stands for it in shared
 * memory and on the wire, never its ordinal. Code 0 means "none"; codes are small, positive and
 * unique (a duplicate fails the enum's class initialisation, so no format can carry two).
 *
 * @param <E> the enum
 */
public final class StableCodes<E extends Enum<E>> {

    private final Object[] byCode;

    /**
     * @param values every constant of the enum
     * @param code   each constant's stable code, 1..255
     */
    public StableCodes(E[] values, ToIntFunction<E> code) {
        int max = 0;
        for (E e : values) max = Math.max(max, code.applyAsInt(e));
        if (max > 255) throw new IllegalArgumentException("stable codes are 1..255, got " + max);
        byCode = new Object[max + 1];
        for (E e : values) {
            int c = code.applyAsInt(e);
            if (c < 1) throw new IllegalArgumentException(e + ": stable code " + c + " (0 means none)");
            if (byCode[c] != null) throw new IllegalArgumentException(e + " and " + byCode[c] + " share stable code " + c);
            byCode[c] = e;
        }
    }

    /** The constant of {@code code}, or null for 0 and for any unknown code (peers' words are range-checked here). */
    @SuppressWarnings("unchecked")
    public E of(int code) {
        return code > 0 && code < byCode.length ? (E) byCode[code] : null;
    }
}
