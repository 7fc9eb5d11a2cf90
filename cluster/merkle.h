/*
 * merkle.h -- a Merkle tree over the keys of one ring partition (pure).
 *
 * The tree has a fixed number of leaves L (merkle-leaves, a power of two).
 * A key belongs to leaf merkle_leaf_of(hash) where hash = dyn_hash64(key);
 * the leaf is the low log2(L) bits of the hash.  They are not the
 * partition bits (the top ones), so a partition's keys spread evenly over
 * its leaves; and they are the bits the store keeps as a tag in each slot
 * (server/store.c), so listing one leaf's keys scans the slots' tags
 * without touching or rehashing a key (anti-entropy's AE.KEYS).
 *
 * A leaf's hash is the XOR of merkle_contrib(hash, digest) over its keys,
 * digest = object_digest() of the key's object.  XOR makes an update O(1)
 * and order-free: merkle_toggle() both adds and removes a contribution, so
 * replacing an object is toggle(old digest) + toggle(new digest).  Inner
 * nodes are H(left ‖ right), recomputed lazily (dirty bits) the next time
 * a node is read, so a write never pays for the path to the root.
 *
 * Node addressing: level 0 is the root, level depth = log2(L) the leaves;
 * level d has 2^d nodes, numbered 0..2^d-1 from the left.
 *
 * Thread-safety: none (reads refresh dirty nodes, so even reads mutate).
 */
#ifndef DYN_MERKLE_H
#define DYN_MERKLE_H

#include <stddef.h>
#include <stdint.h>

struct merkle;

/* leaves: a power of two, 1 .. 2^20. */
struct merkle *merkle_new(uint32_t leaves);
void merkle_free(struct merkle *t);            /* NULL: no-op */
/* Back to the empty tree. */
void merkle_clear(struct merkle *t);

uint32_t merkle_leaves(const struct merkle *t);
unsigned merkle_depth(const struct merkle *t);  /* log2(leaves) */
/* Bytes the tree uses. */
size_t merkle_bytes(const struct merkle *t);

/* Which leaf a key (by its dyn_hash64) falls in. */
uint32_t merkle_leaf_of(const struct merkle *t, uint64_t key_hash);
/* The key's contribution to its leaf: H(key_hash ‖ digest). */
uint64_t merkle_contrib(uint64_t key_hash, uint64_t digest);
/* XORs the key's contribution into (or out of) its leaf. */
void merkle_toggle(struct merkle *t, uint64_t key_hash, uint64_t digest);

uint64_t merkle_root(struct merkle *t);
/* The hash of node idx (< 2^level) at level (<= depth). */
uint64_t merkle_node(struct merkle *t, unsigned level, uint32_t idx);

/* Leaves whose hashes differ between a and b (same leaf count), found
 * top-down (only subtrees whose hashes differ are visited), in ascending
 * order.  Writes at most max into out; returns the total number. */
size_t merkle_diff(struct merkle *a, struct merkle *b, uint32_t *out,
                   size_t max);

#endif
