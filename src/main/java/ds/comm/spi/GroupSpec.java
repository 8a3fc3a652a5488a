package ds.comm.spi;

import java.util.Arrays;
import java.util.Objects;

/**
 * Identity of one group of ranks, the same on every member.
 *
 * @param name      unique within the job, safe in file names ([A-Za-z0-9.]+), e.g. "w" or "w.s1c0"
 * @param jobToken  random token every rank learned at rendezvous, safe in file names ([0-9a-f]+)
 * @param members   world ranks of the members, indexed by group rank
 * @param myIndex   this process's group rank
 */
public record GroupSpec(String name, String jobToken, int[] members, int myIndex) {

    /** Validates and defensively copies. */
    public GroupSpec {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(jobToken, "jobToken");
        if (!name.matches("[A-Za-z0-9.]+")) throw new IllegalArgumentException("bad group name: " + name);
        if (!jobToken.matches("[0-9a-f]+")) throw new IllegalArgumentException("bad job token: " + jobToken);
        members = members.clone();
        if (members.length == 0) throw new IllegalArgumentException("empty group " + name);
        if (myIndex < 0 || myIndex >= members.length) {
            throw new IllegalArgumentException("index " + myIndex + " outside group " + name + " of " + members.length);
        }
    }

    /** Number of members. */
    public int size() {
        return members.length;
    }

    /** World rank of group rank {@code index}. */
    public int worldRank(int index) {
        return members[index];
    }

    /** This process's world rank. */
    public int myWorldRank() {
        return members[myIndex];
    }

    @Override
    public int[] members() {
        return members.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GroupSpec g && g.name.equals(name) && g.jobToken.equals(jobToken)
                && Arrays.equals(g.members, members) && g.myIndex == myIndex;
    }

    @Override
    public int hashCode() {
        return Objects.hash(name, jobToken, Arrays.hashCode(members), myIndex);
    }

    @Override
    public String toString() {
        return name + Arrays.toString(members) + "@" + myIndex;
    }
}
