/*
 * aediff.c -- the key diff of an anti-entropy exchange, as a pure function
 * (see aediff.h for the contract).
 *
 * Once a Merkle descent has found the leaves that differ, each side lists
 * (key, digest, reapable) for those leaves.  Both lists are sorted by key
 * and merged in one pass; each key is one "run" (its entries on the two
 * sides), decided as a whole:
 *
 *   local  a:1  b:2  c:3        remote  b:2  c:9  d:4
 *     a  only here        -> push
 *     b  same digest      -> nothing
 *     c  digests differ   -> pull, then push (the caller pulls first, so
 *                            both sides end with the same merged object)
 *     d  only there       -> pull
 *
 * Reapable.  A tombstone that every replica was confirmed to hold and that
 * is past its grace period may already be gone on the other side; sending
 * it there (or fetching it here) would only bring it back, so a key held by
 * one side only is skipped when that side's copy is reapable, and counted.
 * When both sides hold the key the digests decide, as for any key.
 *
 * Duplicates.  A store lists a key once, but the remote list comes off the
 * wire.  Runs make the answer independent of the order qsort leaves equal
 * keys in (qsort is not stable): a run is decided from the min and max
 * digest on each side, and its key goes out at most once each way.
 *
 * Invariants: pull[] points into remote[], push[] into local[]; each key
 * appears at most once in each; both are in ascending key order.
 * Thread-safety: no state.  Errors: none (allocation aborts on OOM).
 */
#include <stdlib.h>
#include <string.h>

#include "cluster/aediff.h"
#include "server/util.h"

int aediff_key_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
    int c = memcmp(a, b, DYN_MIN(alen, blen));
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen;
}

static int entry_cmp(const void *x, const void *y)
{
    const struct aediff_entry *a = x, *b = y;
    return aediff_key_cmp(a->key, a->len, b->key, b->len);
}

/* One side's entries of one key: v[from .. to). */
struct run {
    size_t to;
    uint64_t min, max;
    int all_reapable;
};

static struct run run_of(const struct aediff_entry *v, size_t n, size_t from)
{
    struct run r = { from + 1, v[from].digest, v[from].digest,
                     v[from].reapable != 0 };
    while (r.to < n && entry_cmp(&v[from], &v[r.to]) == 0) {
        if (v[r.to].digest < r.min)
            r.min = v[r.to].digest;
        if (v[r.to].digest > r.max)
            r.max = v[r.to].digest;
        if (!v[r.to].reapable)
            r.all_reapable = 0;
        r.to++;
    }
    return r;
}

void aediff_keys(struct aediff_entry *local, size_t nl,
                 struct aediff_entry *remote, size_t nr,
                 struct aediff_result *out)
{
    memset(out, 0, sizeof(*out));
    if (nl)
        qsort(local, nl, sizeof(*local), entry_cmp);
    if (nr)
        qsort(remote, nr, sizeof(*remote), entry_cmp);
    out->pull = dyn_malloc(sizeof(*out->pull) * (nr ? nr : 1));
    out->push = dyn_malloc(sizeof(*out->push) * (nl ? nl : 1));
    size_t i = 0, j = 0;
    while (i < nl || j < nr) {
        int c = i == nl ? 1 : j == nr ? -1 : entry_cmp(&local[i], &remote[j]);
        if (c == 0) {
            struct run a = run_of(local, nl, i), b = run_of(remote, nr, j);
            if (a.min != a.max || b.min != b.max || a.min != b.min) {
                out->pull[out->npull++] = &remote[j];
                out->push[out->npush++] = &local[i];
            }
            i = a.to;
            j = b.to;
        } else if (c < 0) {         /* only here */
            struct run a = run_of(local, nl, i);
            if (a.all_reapable)
                out->reapable_skipped++;
            else
                out->push[out->npush++] = &local[i];
            i = a.to;
        } else {                    /* only there */
            struct run b = run_of(remote, nr, j);
            if (b.all_reapable)
                out->reapable_skipped++;
            else
                out->pull[out->npull++] = &remote[j];
            j = b.to;
        }
    }
}

void aediff_result_free(struct aediff_result *r)
{
    if (!r)
        return;
    dyn_free(r->pull);
    dyn_free(r->push);
    memset(r, 0, sizeof(*r));
}
