/*
 * aediff.h -- anti-entropy's key diff (pure; see aediff.c).
 *
 * Given the (key, digest, reapable) listings of the same Merkle leaves on
 * two replicas, decide which keys this side pulls from the other and which
 * it pushes to it.  No node, no store, no I/O: antientropy.c builds the
 * two lists (ours from the store, theirs from AE.KEYS) and sends what this
 * returns.
 *
 * Thread-safety: none needed (no shared state).
 */
#ifndef DYN_AEDIFF_H
#define DYN_AEDIFF_H

#include <stddef.h>
#include <stdint.h>

/* One side's entry for one key.  key is not copied: it must outlive the
 * result. */
struct aediff_entry {
    const char *key;
    size_t len;
    uint64_t digest;            /* object_digest() of the key's object */
    int reapable;               /* a confirmed tombstone past its grace */
};

struct aediff_result {
    /* Entries of remote[] to fetch, and of local[] to send, in ascending
     * key order (memcmp, then the shorter first), each key at most once. */
    const struct aediff_entry **pull;
    size_t npull;
    const struct aediff_entry **push;
    size_t npush;
    /* keys held by one side only that were not sent because that side's
     * copy is reapable (the other side has reaped it already) */
    size_t reapable_skipped;
};

/* Compares the two listings.  Sorts local[] and remote[] in place (any
 * input order is accepted).  Per key:
 *   both sides, every digest equal     -> nothing
 *   both sides, some digest differs    -> pull and push
 *   only local                         -> push, unless reapable
 *   only remote                        -> pull, unless reapable
 * A key listed more than once on one side (a store never does; a peer
 * might) is one key: it differs when any two of its digests on either
 * side differ, and it is reapable only when every one of its entries on
 * that side is.  out is filled in; free it with aediff_result_free. */
void aediff_keys(struct aediff_entry *local, size_t nlocal,
                 struct aediff_entry *remote, size_t nremote,
                 struct aediff_result *out);
void aediff_result_free(struct aediff_result *r);   /* NULL: no-op */

/* The order aediff_keys sorts and reports keys in: <0, 0, >0. */
int aediff_key_cmp(const void *a, size_t alen, const void *b, size_t blen);

#endif
