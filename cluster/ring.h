/*
 * ring.h -- consistent hashing with Q fixed, equal partitions (pure).
 *
 * This is partitioning strategy 3 of the Dynamo paper: the 64-bit hash space
 * is cut into Q = 2^k equal partitions (ring-partitions, fixed for the life
 * of a cluster) and a table maps each partition to its owner node.  The table
 * carries an epoch; membership changes produce a new table with epoch + 1
 * through a deterministic claim function, and gossip keeps the higher epoch.
 *
 * Claim (ring_add / ring_remove):
 *   - a joining node takes floor(Q / S') partitions, one at a time, each from
 *     the node that currently owns the most (ties: the node that sorts
 *     first), preferring a partition whose neighbours within N-1 positions
 *     the joiner does not already own;
 *   - a leaving node's partitions go, one at a time, to the node that owns
 *     the fewest (same tie-break and neighbour preference).
 *   So every load stays within floor(Q/S)..ceil(Q/S), and a change moves
 *   partitions only to or from the node that joins or leaves.
 *
 * Preference list of partition p: the owners of p, p+1, ... clockwise,
 * skipping nodes already taken.  The first N are the key's replicas; the
 * rest, in walk order, are the fallbacks for a sloppy quorum.
 *
 * Node indices are positions in the ring's node array, sorted by name, so
 * every node computes identical lists from identical state.
 *
 * Thread-safety: none; a ring value has one owner.  Copies are cheap.
 */
#ifndef DYN_RING_H
#define DYN_RING_H

#include <stddef.h>
#include <stdint.h>
#include "server/buf.h"

#define RING_MAX_NODES 1024
#define RING_MAX_PARTITIONS 65536

struct ring {
    uint32_t q;         /* partitions, a power of two */
    uint32_t bits;      /* log2(q) */
    uint64_t epoch;
    uint32_t nnodes;
    char **names;       /* sorted ascending (strcmp), owned */
    uint16_t *owner;    /* q entries: index into names */
};

/* An empty ring (no nodes) with q partitions.  q must be a power of two in
 * 1..RING_MAX_PARTITIONS.  Returns 0 or DYN_EINVAL. */
int ring_init(struct ring *r, uint32_t q);
void ring_free(struct ring *r);
void ring_copy(struct ring *dst, const struct ring *src);

/* A fresh cluster's ring: the names sorted and striped round the ring
 * (owner of p = p mod S), epoch 1.  The same set of names, in any order,
 * always gives the same table.  Returns 0, DYN_EINVAL, DYN_EEXIST (a name
 * twice) or DYN_ELIMIT. */
int ring_build(struct ring *r, uint32_t q, const char *const *names,
               size_t n, uint32_t nval);

/* Adds a node (claim).  Returns 0, DYN_EEXIST or DYN_ELIMIT. epoch += 1. */
int ring_add(struct ring *r, const char *name, uint32_t nval);
/* Removes a node, handing its partitions to the others.  Returns 0 or
 * DYN_ENOTFOUND.  Removing the last node leaves a ring with no owners.
 * epoch += 1. */
int ring_remove(struct ring *r, const char *name, uint32_t nval);

/* Index of name, or -1. */
int ring_node_index(const struct ring *r, const char *name);

uint32_t ring_partition_of_hash(const struct ring *r, uint64_t hash);
uint32_t ring_partition_of(const struct ring *r, const void *key, size_t klen);
/* First hash value of partition p (its position on the ring). */
uint64_t ring_partition_start(const struct ring *r, uint32_t p);

/* Fills out[] with node indices: the distinct owners walking clockwise from
 * p, at most max of them (max >= N gives replicas then fallbacks).
 * Returns how many (min(max, nnodes)). */
uint32_t ring_preflist(const struct ring *r, uint32_t p, uint16_t *out,
                       uint32_t max);

/* Partitions owned by node index i. */
uint32_t ring_owned_count(const struct ring *r, uint32_t i);

/* A move of one partition between owners (for plans and handoff). */
struct ring_move {
    uint32_t partition;
    const char *from;   /* points into one of the rings' names */
    const char *to;
};
/* Lists the partitions whose owner differs between a and b (same q).
 * Returns the count; fills up to max moves. */
uint32_t ring_diff(const struct ring *a, const struct ring *b,
                   struct ring_move *moves, uint32_t max);

/* Wire encoding for gossip: q, epoch, names, owner table.  decode validates
 * everything (names unique and sorted, owners in range) and returns 0 or
 * DYN_EINVAL. */
void ring_encode(const struct ring *r, struct dbuf *out);
int ring_decode(struct ring *r, const uint8_t *p, size_t len);

#endif
