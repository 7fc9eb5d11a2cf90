/*
 * vhist.h -- a bounded history of the versions each key was given (pure;
 * see vhist.c).
 */
#ifndef DYN_VHIST_H
#define DYN_VHIST_H

#include <stddef.h>
#include <stdint.h>
#include "cluster/object.h"
#include "cluster/vclock.h"

#define VHIST_KEY_MAX 128       /* key bytes kept whole; a longer key keeps
                                 * these, its length and its hash */
#define VHIST_CLOCK_MAX 12      /* clock entries kept per version */
#define VHIST_SUPERSEDES_MAX 8  /* superseded dots kept per version */
#define VHIST_VALUE_MAX 64      /* value preview bytes */
#define VHIST_NONE UINT32_MAX

/* A version's name: the write event (actor, counter). */
struct vhist_dot {
    uint64_t actor;
    uint64_t counter;
};

/* One recorded version. */
struct vhist_version {
    struct vhist_dot dot;
    uint64_t time_ms;           /* the coordinator's wall clock at write */
    uint32_t size;              /* the value's full length */
    uint8_t tombstone;          /* a delete */
    uint8_t vlen;               /* preview bytes in value */
    uint8_t nclock;             /* entries in clock */
    uint8_t clock_cut;          /* entries of a longer clock left out */
    uint8_t nsup;               /* dots in sup */
    uint8_t sup_more;           /* superseded dots left out */
    struct vclock_entry clock[VHIST_CLOCK_MAX]; /* ctx ∪ dot, by actor */
    struct vhist_dot sup[VHIST_SUPERSEDES_MAX];
    char value[VHIST_VALUE_MAX];
};

/* One key's slot: a ring of up to `bound` versions. */
struct vhist_key {
    uint64_t hash;              /* dyn_hash64 of the whole key */
    uint32_t klen;              /* the whole key's length; 0: slot free */
    uint32_t chain;             /* next slot in the same bucket */
    uint32_t lru_prev, lru_next; /* toward the most / least recent */
    uint32_t first, count;      /* the oldest version's index, how many */
    struct vhist_version *v;    /* bound entries, allocated at first use */
    char key[VHIST_KEY_MAX];
};

struct vhist {
    uint32_t bound;             /* versions per key; 0: off */
    uint32_t cap;               /* key slots */
    uint32_t used;              /* slots holding a key */
    struct vhist_key *slot;
    uint32_t *bucket;           /* nbucket heads (a power of two) */
    uint32_t nbucket;
    uint32_t lru_head, lru_tail; /* most and least recently written */
    uint64_t recorded;          /* versions recorded */
    uint64_t keys_evicted;      /* keys dropped for a newer one */
};

/* bound versions for each of up to keys keys; either 0: off (nothing
 * allocated). */
void vhist_init(struct vhist *h, uint32_t bound, uint32_t keys);
void vhist_free(struct vhist *h);
static inline int vhist_on(const struct vhist *h) { return h->bound > 0; }

/* Describes the sibling idx of o, a version just written on top of cur
 * (the local object before the write, NULL when none), into *out: its
 * dot, clock, time, value preview and size, and the versions it
 * supersedes -- among those this node knows (cur's siblings and the
 * key's history) the ones the new version's context covers and that no
 * other covered one covers, plus any event of the context that no known
 * version accounts for.  Reads h, changes nothing. */
void vhist_describe(const struct vhist *h, const char *key, size_t klen,
                    const struct object *cur, const struct object *o,
                    uint32_t idx, struct vhist_version *out);
/* The same, with the sibling's typed value decoded already (state, of
 * its type; NULL: decoded here for the preview): a coordinator's write of
 * a long list then costs its preview's first items, not a decode. */
void vhist_describe_state(const struct vhist *h, const char *key,
                          size_t klen, const struct object *cur,
                          const struct object *o, uint32_t idx,
                          const void *state, struct vhist_version *out);
/* Appends v to key's history (its oldest version makes room at bound),
 * making key the most recently written; a key new to a full table takes
 * the slot of the least recently written one. */
void vhist_add(struct vhist *h, const char *key, size_t klen,
               const struct vhist_version *v);
/* key's versions, oldest first, up to max into out.  Returns the count. */
uint32_t vhist_list(const struct vhist *h, const char *key, size_t klen,
                    const struct vhist_version **out, uint32_t max);
/* A recorded version's clock as a struct vclock (into c, replaced). */
void vhist_clock(const struct vhist_version *v, struct vclock *c);

#endif
