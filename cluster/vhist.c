/*
 * vhist.c -- a bounded history of the versions each key was given (pure:
 * no I/O, no node).
 *
 * Why: a key's object holds only its current siblings; the versions they
 * replaced are gone.  To show how a key got where it is -- which write
 * replaced which, where two writes went concurrent and which write
 * resolved them -- a node remembers the last `version-history` versions
 * it created for each of the last `version-history-keys` keys it wrote
 * (DYNAMO.VERSIONS, GET /api/versions/:key).  A version is recorded once,
 * by the node that made it: server/db.c's db_write, on the key's
 * coordinator, describes the new sibling before the store takes the
 * object (vhist_describe) and appends it once the write is stored
 * (vhist_add).  Versions that reach a node by replication, repair, hints
 * or streaming are not recorded there: they were recorded where they
 * were made, and a partition streamed to a new owner would otherwise push
 * every recent key out of the table.  So the whole history of a key is
 * the union over the nodes (DYNAMO.VERSIONS CLUSTER), and a node that
 * restarts starts with none (the history is memory only).
 *
 * What a version supersedes.  The new version's context says which write
 * events its writer had seen (a dotted version vector: object.h).  The
 * versions this node knows for the key are the siblings of its local copy
 * before the write and the versions still in the key's history.  The new
 * version supersedes those whose dot its context covers; of these, only
 * the ones no other covered version covers are listed (the direct
 * predecessors, the edges of the key's history graph, not every
 * ancestor).  An event of the context that no known version accounts for
 * (the writer read a version this node never held: a DYNAMO.PUT through a
 * coordinator the replication has not reached yet) is listed by its dot
 * too, so a write that resolves siblings always names each of them.
 *
 * Bounds.  The key table holds `cap` slots and a hash of bucket heads,
 * allocated at vhist_init; a key's ring of `bound` versions is allocated
 * the first time its slot is used and handed on with the slot when the
 * least recently written key is evicted for a new one, so the memory never
 * exceeds cap x bound versions and, once the table is full, nothing more
 * is allocated.  A version keeps at most VHIST_CLOCK_MAX clock entries
 * (the newest: clocks are pruned above vclock-max-entries, 10 by
 * default), VHIST_SUPERSEDES_MAX dots (and the count of the others) and
 * VHIST_VALUE_MAX bytes of its value (and its full size).  A key up to
 * VHIST_KEY_MAX bytes is kept and compared whole; a longer one keeps its
 * first bytes, its length and a 64-bit hash of all its bytes, and matches
 * only a key equal in all three.
 *
 * Thread-safety: none; the event loop owns it.  Errors: none (allocation
 * aborts on OOM; bound 0 or keys 0 records nothing).
 */
#include "cluster/vhist.h"

#include <stdlib.h>
#include <string.h>
#include "cluster/crdt.h"
#include "server/buf.h"
#include "server/util.h"

void vhist_init(struct vhist *h, uint32_t bound, uint32_t keys)
{
    memset(h, 0, sizeof(*h));
    h->lru_head = h->lru_tail = VHIST_NONE;
    if (!bound || !keys)
        return;
    h->bound = bound;
    h->cap = keys;
    h->slot = dyn_calloc(keys, sizeof(*h->slot));
    h->nbucket = 16;
    while (h->nbucket < keys)
        h->nbucket <<= 1;
    h->bucket = dyn_malloc(sizeof(*h->bucket) * h->nbucket);
    for (uint32_t i = 0; i < h->nbucket; i++)
        h->bucket[i] = VHIST_NONE;
}

void vhist_free(struct vhist *h)
{
    for (uint32_t i = 0; i < h->cap; i++)
        dyn_free(h->slot[i].v);
    dyn_free(h->slot);
    dyn_free(h->bucket);
    memset(h, 0, sizeof(*h));
    h->lru_head = h->lru_tail = VHIST_NONE;
}

/* ---- the key table ------------------------------------------------------ */

static uint32_t find(const struct vhist *h, const char *key, size_t klen,
                     uint64_t hash)
{
    if (!h->cap)
        return VHIST_NONE;
    size_t cmp = DYN_MIN(klen, (size_t)VHIST_KEY_MAX);
    for (uint32_t i = h->bucket[hash & (h->nbucket - 1)]; i != VHIST_NONE;
         i = h->slot[i].chain) {
        const struct vhist_key *k = &h->slot[i];
        if (k->hash == hash && k->klen == klen &&
            memcmp(k->key, key, cmp) == 0)
            return i;
    }
    return VHIST_NONE;
}

static void lru_unlink(struct vhist *h, uint32_t i)
{
    struct vhist_key *k = &h->slot[i];
    if (k->lru_prev != VHIST_NONE)
        h->slot[k->lru_prev].lru_next = k->lru_next;
    else
        h->lru_head = k->lru_next;
    if (k->lru_next != VHIST_NONE)
        h->slot[k->lru_next].lru_prev = k->lru_prev;
    else
        h->lru_tail = k->lru_prev;
    k->lru_prev = k->lru_next = VHIST_NONE;
}

static void lru_push(struct vhist *h, uint32_t i)
{
    struct vhist_key *k = &h->slot[i];
    k->lru_prev = VHIST_NONE;
    k->lru_next = h->lru_head;
    if (h->lru_head != VHIST_NONE)
        h->slot[h->lru_head].lru_prev = i;
    h->lru_head = i;
    if (h->lru_tail == VHIST_NONE)
        h->lru_tail = i;
}

static void bucket_unlink(struct vhist *h, uint32_t i)
{
    uint32_t *p = &h->bucket[h->slot[i].hash & (h->nbucket - 1)];
    while (*p != i)
        p = &h->slot[*p].chain;
    *p = h->slot[i].chain;
}

/* The slot of key, made the most recently written: found, new, or the
 * least recently written key's, evicted. */
static uint32_t slot_for(struct vhist *h, const char *key, size_t klen)
{
    uint64_t hash = dyn_hash64(key, klen);
    uint32_t i = find(h, key, klen, hash);
    if (i != VHIST_NONE) {
        lru_unlink(h, i);
        lru_push(h, i);
        return i;
    }
    if (h->used < h->cap) {
        i = h->used++;
    } else {
        i = h->lru_tail;
        lru_unlink(h, i);
        bucket_unlink(h, i);
        h->keys_evicted++;
    }
    struct vhist_key *k = &h->slot[i];
    k->hash = hash;
    k->klen = (uint32_t)klen;
    k->first = k->count = 0;
    memcpy(k->key, key, DYN_MIN(klen, (size_t)VHIST_KEY_MAX));
    uint32_t b = (uint32_t)(hash & (h->nbucket - 1));
    k->chain = h->bucket[b];
    h->bucket[b] = i;
    lru_push(h, i);
    return i;
}

void vhist_add(struct vhist *h, const char *key, size_t klen,
               const struct vhist_version *v)
{
    if (!h->bound)
        return;
    struct vhist_key *k = &h->slot[slot_for(h, key, klen)];
    if (!k->v)
        k->v = dyn_malloc(sizeof(*k->v) * h->bound);
    if (k->count < h->bound) {
        k->v[(k->first + k->count) % h->bound] = *v;
        k->count++;
    } else {
        k->v[k->first] = *v;
        k->first = (k->first + 1) % h->bound;
    }
    h->recorded++;
}

uint32_t vhist_list(const struct vhist *h, const char *key, size_t klen,
                    const struct vhist_version **out, uint32_t max)
{
    uint32_t i = find(h, key, klen, dyn_hash64(key, klen));
    if (i == VHIST_NONE)
        return 0;
    const struct vhist_key *k = &h->slot[i];
    uint32_t n = DYN_MIN(k->count, max);
    for (uint32_t j = 0; j < n; j++)
        out[j] = &k->v[(k->first + j) % h->bound];
    return n;
}

void vhist_clock(const struct vhist_version *v, struct vclock *c)
{
    vclock_clear(c);
    for (uint32_t i = 0; i < v->nclock; i++)
        vclock_set(c, v->clock[i].actor, v->clock[i].counter,
                   v->clock[i].ts_ms);
}

/* ---- what a new version supersedes --------------------------------------- */

#define VHIST_STACK 16

/* A version this node knows: its dot and its clock (ctx ∪ dot). */
struct known {
    struct vhist_dot dot;
    const struct vclock_entry *e;
    uint32_t n;
    int covered;
};

static uint64_t entry_get(const struct vclock_entry *e, uint32_t n,
                          uint64_t actor)
{
    for (uint32_t i = 0; i < n; i++)
        if (e[i].actor == actor)
            return e[i].counter;
    return 0;
}

/* k's clock covers the event d. */
static int knows(const struct known *k, struct vhist_dot d)
{
    return entry_get(k->e, k->n, d.actor) >= d.counter;
}

static int dot_cmp(const void *a, const void *b)
{
    const struct vhist_dot *x = a, *y = b;
    if (x->actor != y->actor)
        return x->actor < y->actor ? -1 : 1;
    return x->counter < y->counter ? -1 : x->counter > y->counter;
}

static int ts_desc(const void *a, const void *b)
{
    const struct vclock_entry *x = a, *y = b;
    return x->ts_ms < y->ts_ms ? 1 : x->ts_ms > y->ts_ms ? -1 : 0;
}

static int actor_cmp(const void *a, const void *b)
{
    const struct vclock_entry *x = a, *y = b;
    return x->actor < y->actor ? -1 : x->actor > y->actor;
}

static void sup_add(struct vhist_version *v, struct vhist_dot d)
{
    for (uint32_t i = 0; i < v->nsup; i++)
        if (v->sup[i].actor == d.actor && v->sup[i].counter == d.counter)
            return;
    if (v->nsup < VHIST_SUPERSEDES_MAX)
        v->sup[v->nsup++] = d;
    else if (v->sup_more < UINT8_MAX)
        v->sup_more++;
}

/* crdt_items_bytes' callback: items after a space, the preview's length
 * at most (then it stops: the rest is cut anyway). */
static int vhist_item(void *ctx, const uint8_t *p, size_t len)
{
    struct dbuf *b = ctx;
    if (b->len >= VHIST_VALUE_MAX)
        return 1;
    dbuf_appendc(b, ' ');
    dbuf_append(b, p, DYN_MIN(len, (size_t)VHIST_VALUE_MAX));
    return b->len >= VHIST_VALUE_MAX;
}

void vhist_describe(const struct vhist *h, const char *key, size_t klen,
                    const struct object *cur, const struct object *o,
                    uint32_t idx, struct vhist_version *out)
{
    vhist_describe_state(h, key, klen, cur, o, idx, NULL, out);
}

void vhist_describe_state(const struct vhist *h, const char *key,
                          size_t klen, const struct object *cur,
                          const struct object *o, uint32_t idx,
                          const void *state, struct vhist_version *out)
{
    struct sibling s;
    object_sibling(o, idx, &s);
    memset(out, 0, sizeof(*out));
    out->dot.actor = s.actor;
    out->dot.counter = s.counter;
    out->time_ms = s.ts_ms;
    out->size = s.vlen;
    out->tombstone = s.tombstone ? 1 : 0;
    out->vlen = (uint8_t)DYN_MIN(s.vlen, (uint32_t)VHIST_VALUE_MAX);
    if (s.type != CRDT_TYPE_STRING) {
        /* a typed value's preview is what a client reads, not its state's
         * bytes: "set: a b c", "counter: 12" */
        struct dbuf b;
        dbuf_init(&b);
        dbuf_appends(&b, s.type == CRDT_TYPE_COUNTER
                             ? "counter"
                             : crdt_type_name(s.type));
        dbuf_appendc(&b, ':');
        if (state)
            crdt_state_items(s.type, state, vhist_item, &b);
        else
            crdt_items_bytes(s.type, s.value, s.vlen, vhist_item, &b);
        out->vlen = (uint8_t)DYN_MIN(b.len, (size_t)VHIST_VALUE_MAX);
        memcpy(out->value, b.p, out->vlen);
        dbuf_free(&b);
    } else if (out->vlen) {
        memcpy(out->value, s.value, out->vlen);
    }

    struct vclock clk, ctx;
    vclock_init(&clk);
    vclock_init(&ctx);
    object_sibling_clock(o, idx, &clk);
    if (clk.n <= VHIST_CLOCK_MAX) {
        memcpy(out->clock, clk.e, sizeof(*clk.e) * clk.n);
        out->nclock = (uint8_t)clk.n;
    } else {
        /* the newest entries, as pruning keeps them */
        qsort(clk.e, clk.n, sizeof(*clk.e), ts_desc);
        memcpy(out->clock, clk.e, sizeof(*clk.e) * VHIST_CLOCK_MAX);
        qsort(out->clock, VHIST_CLOCK_MAX, sizeof(*out->clock), actor_cmp);
        out->nclock = VHIST_CLOCK_MAX;
        out->clock_cut = (uint8_t)DYN_MIN(clk.n - VHIST_CLOCK_MAX, 255u);
    }
    /* the context as stored in the object: it decoded when it was built */
    size_t used;
    if (vclock_decode(&ctx, s.ctx, s.ctxlen, UINT32_MAX, &used) != 0)
        vclock_clear(&ctx);

    /* the versions known here: cur's siblings, then the key's history */
    /* on the stack for the usual few siblings and versions (this runs on
     * every write a coordinator makes) */
    const struct vhist_version *hist[VHIST_STACK];
    struct known kst[2 * VHIST_STACK];
    struct vclock cst[VHIST_STACK];
    uint32_t nhist = 0;
    const struct vhist_version **hv = hist;
    uint32_t hi = h->cap ? find(h, key, klen, dyn_hash64(key, klen))
                         : VHIST_NONE;
    if (hi != VHIST_NONE && h->slot[hi].count) {
        nhist = h->slot[hi].count;
        if (nhist > VHIST_STACK)
            hv = dyn_malloc(sizeof(*hv) * nhist);
        vhist_list(h, key, klen, hv, nhist);
    }
    uint32_t ncur = cur ? object_nsiblings(cur) : 0;
    struct known *k = ncur + nhist <= 2 * VHIST_STACK
                          ? kst
                          : dyn_malloc(sizeof(*k) * (ncur + nhist));
    struct vclock *cc = ncur <= VHIST_STACK
                            ? cst
                            : dyn_malloc(sizeof(*cc) * ncur);
    uint32_t nk = 0;
    for (uint32_t i = 0; i < ncur; i++) {
        struct sibling t;
        object_sibling(cur, i, &t);
        vclock_init(&cc[i]);
        object_sibling_clock(cur, i, &cc[i]);
        if (t.actor == s.actor && t.counter == s.counter)
            continue;
        k[nk].dot.actor = t.actor;
        k[nk].dot.counter = t.counter;
        k[nk].e = cc[i].e;
        k[nk].n = cc[i].n;
        nk++;
    }
    for (uint32_t i = 0; i < nhist; i++) {
        struct vhist_dot d = hv[i]->dot;
        uint32_t j = 0;
        while (j < nk && dot_cmp(&k[j].dot, &d) != 0)
            j++;
        if (j < nk || (d.actor == s.actor && d.counter == s.counter))
            continue;
        k[nk].dot = d;
        k[nk].e = hv[i]->clock;
        k[nk].n = hv[i]->nclock;
        nk++;
    }
    for (uint32_t i = 0; i < nk; i++)
        k[i].covered = vclock_get(&ctx, k[i].dot.actor) >= k[i].dot.counter;
    /* the direct predecessors: covered, and not known to another covered
     * version (unless they know each other: only a forged context does
     * that, and then neither hides the other) */
    for (uint32_t i = 0; i < nk; i++) {
        if (!k[i].covered)
            continue;
        int hidden = 0;
        for (uint32_t j = 0; j < nk && !hidden; j++)
            hidden = j != i && k[j].covered && knows(&k[j], k[i].dot) &&
                     !knows(&k[i], k[j].dot);
        if (!hidden)
            sup_add(out, k[i].dot);
    }
    /* events of the context that no covered version accounts for */
    for (uint32_t e = 0; e < ctx.n; e++) {
        struct vhist_dot d = {ctx.e[e].actor, ctx.e[e].counter};
        int accounted = 0;
        for (uint32_t i = 0; i < nk && !accounted; i++)
            accounted = k[i].covered && knows(&k[i], d);
        if (!accounted)
            sup_add(out, d);
    }
    qsort(out->sup, out->nsup, sizeof(*out->sup), dot_cmp);

    for (uint32_t i = 0; i < ncur; i++)
        vclock_free(&cc[i]);
    if (cc != cst)
        dyn_free(cc);
    if (k != kst)
        dyn_free(k);
    if (hv != hist)
        dyn_free(hv);
    vclock_free(&ctx);
    vclock_free(&clk);
}
