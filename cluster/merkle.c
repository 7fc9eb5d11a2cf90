/*
 * merkle.c -- Merkle tree of one partition (see merkle.h for the model).
 *
 * Layout: one array h[2L] in heap order: h[1] is the root, node j has
 * children 2j and 2j+1, the leaves are h[L .. 2L-1].  Level d holds the
 * heap indices [2^d, 2^(d+1)).  h[0] is unused.
 *
 * Laziness: changing leaf i marks only its parent dirty (one bit in
 * `dirty`, indexed by heap index, inner nodes only).  merkle_refresh walks
 * the levels bottom-up; a dirty node is rehashed and marks its own parent,
 * so a read costs O(L/64) bit tests plus O(changes * depth) hashes, and a
 * write is O(1).
 *
 * Why H(left ‖ right) for inner nodes rather than XOR: with XOR, two
 * differences in sibling subtrees could cancel in the parent and hide both
 * from a top-down diff; a hash makes that a 2^-64 event.  Leaves must be
 * XOR sums so that updates need no knowledge of the other keys.
 *
 * Why merkle_contrib hashes the key's 64-bit hash rather than the key: the
 * store already has the hash, so an update never rereads a long key; two
 * keys would need equal 64-bit hashes to be confused.
 *
 * Invariant: for every inner node j that is not marked dirty and has no
 * dirty descendant, h[j] == H(h[2j], h[2j+1]).
 *
 * Thread-safety: none.  Errors: none (allocation aborts on OOM).
 */
#include <string.h>
#include "cluster/merkle.h"
#include "server/util.h"

struct merkle {
    uint32_t leaves;
    unsigned depth;
    uint64_t *h;        /* 2 * leaves */
    uint64_t *dirty;    /* bitmap over heap indices [0, leaves) */
    int any_dirty;
};

static uint64_t merkle_pair(uint64_t a, uint64_t b)
{
    uint64_t buf[2] = { a, b };
    return dyn_hash64(buf, sizeof(buf));
}

struct merkle *merkle_new(uint32_t leaves)
{
    dyn_assert(leaves >= 1 && leaves <= (1u << 20) &&
               (leaves & (leaves - 1)) == 0);
    struct merkle *t = dyn_calloc(1, sizeof(*t));
    t->leaves = leaves;
    while ((1u << t->depth) < leaves)
        t->depth++;
    t->h = dyn_calloc(2 * (size_t)leaves, sizeof(uint64_t));
    t->dirty = dyn_calloc((leaves + 63) / 64, sizeof(uint64_t));
    merkle_clear(t);
    return t;
}

void merkle_free(struct merkle *t)
{
    if (!t)
        return;
    dyn_free(t->h);
    dyn_free(t->dirty);
    dyn_free(t);
}

void merkle_clear(struct merkle *t)
{
    memset(t->h, 0, 2 * (size_t)t->leaves * sizeof(uint64_t));
    /* every inner node must be recomputed from the zero leaves */
    for (uint32_t j = 1; j < t->leaves; j++)
        t->dirty[j / 64] |= 1ull << (j % 64);
    t->any_dirty = t->leaves > 1;
}

uint32_t merkle_leaves(const struct merkle *t)
{
    return t->leaves;
}

unsigned merkle_depth(const struct merkle *t)
{
    return t->depth;
}

size_t merkle_bytes(const struct merkle *t)
{
    return sizeof(*t) + 2 * (size_t)t->leaves * sizeof(uint64_t) +
           (t->leaves + 63) / 64 * sizeof(uint64_t);
}

uint32_t merkle_leaf_of(const struct merkle *t, uint64_t key_hash)
{
    return (uint32_t)key_hash & (t->leaves - 1);
}

uint64_t merkle_contrib(uint64_t key_hash, uint64_t digest)
{
    return merkle_pair(key_hash, digest);
}

void merkle_toggle(struct merkle *t, uint64_t key_hash, uint64_t digest)
{
    uint32_t j = t->leaves + merkle_leaf_of(t, key_hash);
    t->h[j] ^= merkle_contrib(key_hash, digest);
    if (j > 1) {
        j >>= 1;
        t->dirty[j / 64] |= 1ull << (j % 64);
        t->any_dirty = 1;
    }
}

/* Recomputes every dirty inner node, deepest level first. */
static void merkle_refresh(struct merkle *t)
{
    if (!t->any_dirty)
        return;
    for (int d = (int)t->depth - 1; d >= 0; d--) {
        uint32_t lo = 1u << d, hi = 2u << d;
        uint32_t j = lo;
        while (j < hi) {
            uint64_t w = t->dirty[j / 64] >> (j % 64);
            if (w == 0) {
                j = (j | 63) + 1;   /* next word */
                continue;
            }
            j += (uint32_t)__builtin_ctzll(w);
            if (j >= hi)
                break;
            t->h[j] = merkle_pair(t->h[2 * j], t->h[2 * j + 1]);
            t->dirty[j / 64] &= ~(1ull << (j % 64));
            if (j > 1) {
                uint32_t p = j >> 1;
                t->dirty[p / 64] |= 1ull << (p % 64);
            }
            j++;
        }
    }
    t->any_dirty = 0;
}

uint64_t merkle_root(struct merkle *t)
{
    merkle_refresh(t);
    return t->h[1];
}

uint64_t merkle_node(struct merkle *t, unsigned level, uint32_t idx)
{
    dyn_assert(level <= t->depth && idx < (1u << level));
    merkle_refresh(t);
    return t->h[(1u << level) + idx];
}

static void merkle_diff_rec(struct merkle *a, struct merkle *b, uint32_t j,
                            uint32_t *out, size_t max, size_t *n)
{
    if (a->h[j] == b->h[j])
        return;
    if (j >= a->leaves) {
        if (*n < max)
            out[*n] = j - a->leaves;
        (*n)++;
        return;
    }
    merkle_diff_rec(a, b, 2 * j, out, max, n);
    merkle_diff_rec(a, b, 2 * j + 1, out, max, n);
}

size_t merkle_diff(struct merkle *a, struct merkle *b, uint32_t *out,
                   size_t max)
{
    dyn_assert(a->leaves == b->leaves);
    merkle_refresh(a);
    merkle_refresh(b);
    size_t n = 0;
    merkle_diff_rec(a, b, 1, out, max, &n);
    return n;
}
