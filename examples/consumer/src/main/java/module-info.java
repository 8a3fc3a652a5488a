/** A user's application of ds-comm: a 2-rank (or N-rank) fp32 all-reduce, checked. */
module consumer {
    requires ds.comm;
}
