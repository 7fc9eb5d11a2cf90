/*
 * object.c -- a key's versioned object: siblings under dotted version
 * vectors, in one allocation whose bytes are also the wire/disk encoding.
 *
 * Layout.  struct object is a 4-byte length followed by the encoding; the
 * length is the only thing in memory that is not part of object_bytes():
 *
 *   u32 size (host order, in memory only)
 *   -- object_bytes() starts here ---------------------------------------
 *   u8  format            OBJECT_FORMAT (1); 2 with a typed sibling,
 *                         3 when a typed one is kept beside a sibling
 *                         that covers it, or a counter beside a string
 *   varint nsiblings      >= 1
 *   nsiblings x sibling, strictly ascending by dot (actor, counter):
 *     u8  flags           bit0 tombstone, bit1 has expire; others zero
 *     u64 actor           little-endian
 *     varint counter      >= 1
 *     varint ts_ms
 *     varint expire_ms    only when flags has bit1; never 0
 *     ctx                 the vclock encoding (self-delimiting, vclock.h)
 *     varint vlen         0 for a tombstone
 *     value               vlen bytes
 *
 * Varints are LEB128 in their shortest form and every field is explicit,
 * so there are no padding bytes and one object has exactly one encoding:
 * equal objects have equal bytes, and object_digest() hashes the bytes.
 * A first SET of a 100-byte value (empty context, no expiry) costs
 * 4 + 1 + 1 + (1 + 8 + 1 + 6 + 1 + 1 + 100) = 124 bytes: jemalloc's
 * 128-byte class.  Siblings are found by walking; there are few of them.
 *
 * An object of OBJ_DIGEST_MIN bytes or more carries, after its encoding,
 * 9 bytes that are not part of it either: its digest and a flag that says
 * the digest is there.  object_digest fills them the first time it is
 * asked (an object never changes once built, so the digest never goes
 * stale; the write through a const pointer is that cache's only
 * mutation).  A large value is hashed by the store for its Merkle leaf,
 * by the coordinator before and after a write and for a quorum read, and
 * for a delta: once now, instead of six times per write.  Small objects
 * pay nothing.
 *
 * Invariants of every object (object_from_bytes() checks them all on
 * untrusted input, the builders keep them):
 *   - at least one sibling, sorted by dot, no dot twice;
 *   - a sibling's context never covers its own dot (ctx[actor] < counter);
 *   - no sibling covers another (t.ctx[s.actor] >= s.counter) unless the
 *     two cover each other, or the covered one is typed (below; the
 *     object is then format 3), i.e. the object is already reconciled,
 *     so merging it with itself is a no-op;
 *   - no two siblings of one typed type (they join).
 *
 * Observed clears.  A write (object_write) that covers a typed sibling
 * of another type (or a string write covering one), its dot and every
 * dot its state has seen, does not drop it: the coordinator holds that
 * state, and leaves its observed clear in its place (crdt_clear_bytes:
 * the members, entries and bases go, the state's context stays; its dot,
 * ts and context stay, its expiry goes).  The clear is a function of the
 * covered state alone and lies above it in its type's join, so joining
 * it with a concurrent state of that type (that the write never saw)
 * removes exactly what the write saw, whichever comes first.  A merge
 * (object_merge) clears nothing: a typed sibling another covers there
 * was claimed by a context its writer's coordinator never held (a
 * client's, DYNAMO.PUT), and clearing it in a merge removed it in one
 * merge order and not in another (where it was first joined with a
 * concurrent state).  It stays as it is, observed away: it never wins a
 * read (object_winner_get, object_visible), and the next write through
 * a node that holds it leaves its clear.
 *
 * The counter family.  A counter and a string beside it (a SET and an
 * INCR that did not see each other) are not joined in a merge either
 * (a string a third sibling covers would go in one order and live on
 * inside the counter in the other): they stay two siblings, and are read
 * as one value, the counter with each string as a base candidate
 * (object_counter_fold).  INCR folds them into its new state, and its
 * context then drops them.  docs/TYPES.md section 4 has the argument.
 *
 * Reconciliation keeps every sibling of the union that no other sibling of
 * the union covers; one dot kept once (if two replicas disagree about the
 * content of a dot, which a correct cluster never does, the smaller
 * encoding wins so the choice does not depend on argument order).  In a
 * correct history "covers" is part of happened-before and cannot cycle.
 * A client context can still claim counters an actor has not issued yet
 * (a coordinator knows only its own: see db.c), so the version written
 * with it claims to have seen that actor's *future* writes to the key.
 * When such a write arrives the two cover each other; both are kept, as
 * siblings, so the honest write is not lost (dropping both, or picking one
 * by timestamp, would lose it).  Longer cycles (only corrupt peers) that
 * would leave nothing keep the lww winner of the union instead, so an
 * object never becomes empty.
 *
 * Counters never wrap: object_write refuses (NULL) a dot above
 * UINT64_MAX or above the caller's max_counter.
 *
 * Speed: every GET and SET reads an object, so the readers trust it (it
 * was built here or validated by object_from_bytes): they skip the order
 * and limit checks, decode varints with wire.h's bounded decoder and
 * assert where object_from_bytes would return an error, and take
 * single-sibling shortcuts; object_write reads the current siblings in
 * place (contexts stay encoded; the few counters it needs are looked up in
 * the encoding) and writes the result straight into its one allocation,
 * copying the value once.
 *
 * Pure: the time arrives in object_write.now_ms.  Objects are immutable,
 * so any thread may read them.  Errors: object_from_bytes() returns
 * DYN_EINVAL (malformed) or DYN_ELIMIT (a limit is exceeded); the rest
 * cannot fail on valid objects (allocation aborts on OOM).
 */
#include "cluster/object.h"

#include <string.h>

#include "server/util.h"
#include "server/wire.h"

#define OBJECT_FORMAT 1       /* every sibling a plain string */
#define OBJECT_FORMAT_TYPED 2 /* at least one typed sibling */
#define OBJECT_FORMAT_CLEARS 3 /* format 2's layout, and a typed sibling
                                * kept beside one that covers it, or a
                                * counter beside a string (a node that
                                * knows only 2 would take the object for
                                * unreconciled) */
#define SIB_TOMBSTONE 0x01
#define SIB_EXPIRE 0x02
#define SIB_TYPED 0x04        /* a u8 type follows the flags */
/* flags + actor + counter + ts + ctx count + vlen */
#define SIB_MIN_LEN (1 + 8 + 1 + 1 + 1 + 1)

struct object {
    uint32_t size; /* bytes in b[] */
    uint8_t b[];
};

#define OBJ_DIGEST_MIN 4096 /* objects this big cache their digest */

static size_t obj_alloc_size(size_t len)
{
    return sizeof(struct object) + len + (len >= OBJ_DIGEST_MIN ? 9 : 0);
}

/* An object of len bytes, its digest not yet known. */
static struct object *obj_alloc(size_t len)
{
    struct object *o = dyn_malloc(obj_alloc_size(len));
    o->size = (uint32_t)len;
    if (len >= OBJ_DIGEST_MIN)
        o->b[len + 8] = 0;
    return o;
}

/* One sibling while building: its encoded record and, when decoded, its
 * context. */
struct sib_rec {
    struct sibling v;
    const uint8_t *p; /* the record's bytes */
    size_t len;
    struct vclock ctx;
};

/* ---- parsing ------------------------------------------------------------ */

/*
 * Parses the sibling record at p[off..len).  With ctx non-NULL the context
 * is fully decoded and checked (max_ctx entries); otherwise it is skipped.
 * Returns 0 and *end, or DYN_EINVAL / DYN_ELIMIT.  Never reads outside p.
 */
static int sib_parse(const uint8_t *p, size_t len, size_t off,
                     uint32_t max_ctx, uint64_t max_vlen,
                     struct sibling *out, struct vclock *ctx, size_t *end)
{
    uint64_t v;
    size_t k;

    if (len - off < SIB_MIN_LEN)
        return DYN_EINVAL;
    uint8_t flags = p[off++];
    if (flags & ~(SIB_TOMBSTONE | SIB_EXPIRE | SIB_TYPED))
        return DYN_EINVAL;
    out->type = CRDT_TYPE_STRING;
    if (flags & SIB_TYPED) {
        if (len - off < SIB_MIN_LEN)
            return DYN_EINVAL;
        out->type = p[off++];
        if (out->type == CRDT_TYPE_STRING)
            return DYN_EINVAL; /* not canonical: the flag says typed */
    }
    out->actor = wire_load_le64(p + off);
    off += 8;
    if (wire_varint_get_canonical(p + off, len - off, &out->counter, &k) ||
        out->counter == 0)
        return DYN_EINVAL;
    off += k;
    if (wire_varint_get_canonical(p + off, len - off, &out->ts_ms, &k))
        return DYN_EINVAL;
    off += k;
    out->expire_ms = 0;
    if (flags & SIB_EXPIRE) {
        if (wire_varint_get_canonical(p + off, len - off, &v, &k) || v == 0)
            return DYN_EINVAL;
        out->expire_ms = (int64_t)v;
        off += k;
    }
    out->tombstone = (flags & SIB_TOMBSTONE) != 0;
    out->ctx = p + off;
    if (ctx) {
        int rc = vclock_decode(ctx, p + off, len - off, max_ctx, &k);
        if (rc)
            return rc;
        if (vclock_get(ctx, out->actor) >= out->counter)
            return DYN_EINVAL; /* a write cannot have seen itself */
    } else if (!(k = vclock_encoded_len(p + off, len - off))) {
        return DYN_EINVAL;
    }
    out->ctxlen = (uint32_t)k;
    off += k;
    if (wire_varint_get_canonical(p + off, len - off, &v, &k))
        return DYN_EINVAL;
    off += k;
    if (v > len - off)
        return DYN_EINVAL;
    if (v > max_vlen || v > UINT32_MAX)
        return DYN_ELIMIT;
    if (out->tombstone && v != 0 && out->type == CRDT_TYPE_STRING)
        return DYN_EINVAL;
    if (out->type != CRDT_TYPE_STRING && v == 0)
        return DYN_EINVAL; /* a typed value is never empty bytes */
    out->value = p + off;
    out->vlen = (uint32_t)v;
    *end = off + (size_t)v;
    return 0;
}

/* ---- trusted reading ------------------------------------------------------
 *
 * Every struct object in memory was built here or validated by
 * object_from_bytes(), so reading one again needs no bounds or form checks:
 * these readers are the hot path of every GET and SET (sib_parse is only for
 * untrusted bytes and for decoding contexts). */

/* A context's actors are 8 bytes big-endian (vclock.h's encoding). */
static inline uint64_t t_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

/* A varint of a valid object, which ends at end: it decodes, so a failure
 * is a broken invariant (memory corruption), not bad input. */
static inline size_t tv_get(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    size_t used;
    int rc = wire_varint_get_canonical(p, (size_t)(end - p), v, &used);
    dyn_assert(rc == 0);
    return used;
}

/* A varint's length, without its value. */
static inline size_t tv_skip(const uint8_t *p, const uint8_t *end)
{
    uint64_t v;
    return tv_get(p, end, &v);
}

/* Length of a valid encoded context (vclock.h's encoding). */
static inline size_t tctx_len(const uint8_t *p, const uint8_t *end)
{
    uint64_t count;
    size_t off = tv_get(p, end, &count);
    for (uint64_t i = 0; i < count; i++) {
        off += 8;
        off += tv_skip(p + off, end);
        off += tv_skip(p + off, end);
    }
    return off;
}

/* actor's counter in a valid encoded context (big-endian actors in
 * ascending order), 0 if absent. */
static uint64_t tctx_get(const uint8_t *p, size_t len, uint64_t actor)
{
    const uint8_t *end = p + len;
    uint64_t count, c;
    size_t off = tv_get(p, end, &count);
    for (uint64_t i = 0; i < count; i++) {
        uint64_t a = t_be64(p + off);
        off += 8;
        if (a > actor)
            return 0;
        off += tv_get(p + off, end, &c);
        if (a == actor)
            return c;
        off += tv_skip(p + off, end);
    }
    return 0;
}

/* The sibling record at off of a valid object of len bytes; returns its
 * end. */
static inline size_t sib_read(const uint8_t *p, size_t len, size_t off,
                              struct sibling *out)
{
    const uint8_t *end = p + len;
    uint64_t v;
    uint8_t flags = p[off++];
    out->type = (flags & SIB_TYPED) ? p[off++] : CRDT_TYPE_STRING;
    out->actor = wire_load_le64(p + off);
    off += 8;
    off += tv_get(p + off, end, &out->counter);
    off += tv_get(p + off, end, &out->ts_ms);
    out->expire_ms = 0;
    if (flags & SIB_EXPIRE) {
        off += tv_get(p + off, end, &v);
        out->expire_ms = (int64_t)v;
    }
    out->tombstone = (flags & SIB_TOMBSTONE) != 0;
    out->ctx = p + off;
    size_t k = tctx_len(p + off, end);
    out->ctxlen = (uint32_t)k;
    off += k;
    off += tv_get(p + off, end, &v);
    out->value = p + off;
    out->vlen = (uint32_t)v;
    return off + (size_t)v;
}

/* Offset of the first sibling and the sibling count of a valid object. */
static inline size_t obj_first(const struct object *o, uint32_t *n)
{
    uint64_t v;
    size_t k = tv_get(o->b + 1, o->b + o->size, &v);
    *n = (uint32_t)v;
    return 1 + k;
}

/* The sibling at off of a valid object; returns the next offset. */
static inline size_t obj_next(const struct object *o, size_t off,
                              struct sibling *s)
{
    return sib_read(o->b, o->size, off, s);
}

/* All siblings of a valid object, contexts decoded; *n gets the count.
 * Free with recs_free. */
static struct sib_rec *obj_recs(const struct object *o, uint32_t *n)
{
    size_t off = obj_first(o, n);
    struct sib_rec *r = dyn_calloc(*n, sizeof(*r));
    for (uint32_t i = 0; i < *n; i++) {
        size_t end;
        vclock_init(&r[i].ctx);
        int rc = sib_parse(o->b, o->size, off, UINT32_MAX, UINT64_MAX,
                           &r[i].v, &r[i].ctx, &end);
        dyn_assert(rc == 0);
        r[i].p = o->b + off;
        r[i].len = end - off;
        off = end;
    }
    return r;
}

static void recs_free(struct sib_rec *r, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        vclock_free(&r[i].ctx);
    dyn_free(r);
}

/* ---- building ----------------------------------------------------------- */

static int dot_cmp(const struct sibling *a, const struct sibling *b)
{
    if (a->actor != b->actor)
        return a->actor < b->actor ? -1 : 1;
    if (a->counter != b->counter)
        return a->counter < b->counter ? -1 : 1;
    return 0;
}

/* The lww order: 1 when a beats b (higher ts_ms, then actor, counter). */
static int sib_beats(const struct sibling *a, const struct sibling *b)
{
    if (a->ts_ms != b->ts_ms)
        return a->ts_ms > b->ts_ms;
    if (a->actor != b->actor)
        return a->actor > b->actor;
    return a->counter > b->counter;
}

static int rec_covers(const struct sib_rec *t, const struct sib_rec *s);

/* 1 when recs[0..n) (a reconciled object's) hold what a node that knows
 * only format 2 would take for an unreconciled object: a typed sibling
 * another covers (a write's observed clear, or a state a client context
 * claimed), or a counter beside a string (docs/TYPES.md section 4).  Such
 * an object is written as format 3, which that node refuses as newer. */
static int recs_past_format_2(struct sib_rec *const *recs, uint32_t n)
{
    int counter = 0, string = 0;
    for (uint32_t i = 0; i < n; i++) {
        counter |= recs[i]->v.type == CRDT_TYPE_COUNTER;
        string |= recs[i]->v.type == CRDT_TYPE_STRING;
        for (uint32_t j = 0; j < n; j++)
            if (i != j && recs[i]->v.type != CRDT_TYPE_STRING &&
                rec_covers(recs[j], recs[i]) && !rec_covers(recs[i], recs[j]))
                return 1;
    }
    return counter && string;
}

/* An object from records already in dot order (their contexts decoded
 * when there are several). */
static struct object *obj_build(struct sib_rec *const *recs, uint32_t n)
{
    size_t total = 1 + wire_varint_size(n);
    int typed = 0, clears = 0;
    for (uint32_t i = 0; i < n; i++) {
        total += recs[i]->len;
        typed |= recs[i]->v.type != CRDT_TYPE_STRING;
    }
    if (typed && n > 1)
        clears = recs_past_format_2(recs, n);
    dyn_assert(n >= 1 && total <= UINT32_MAX);
    struct object *o = obj_alloc(total);
    size_t off = 0;
    o->b[off++] = clears  ? OBJECT_FORMAT_CLEARS
                  : typed ? OBJECT_FORMAT_TYPED
                          : OBJECT_FORMAT;
    off += wire_varint_put(o->b + off, n);
    for (uint32_t i = 0; i < n; i++) {
        memcpy(o->b + off, recs[i]->p, recs[i]->len);
        off += recs[i]->len;
    }
    return o;
}

/* vclock_encoded_size / vclock_encode, inline: varint count, then per
 * entry the actor (8 bytes big-endian), counter and ts_ms as varints
 * (vclock.h's encoding). */
static inline size_t tctx_size(const struct vclock *c)
{
    size_t n = wire_varint_size(c->n);
    for (uint32_t i = 0; i < c->n; i++)
        n += 8 + wire_varint_size(c->e[i].counter) + wire_varint_size(c->e[i].ts_ms);
    return n;
}

static inline size_t tctx_put(uint8_t *out, const struct vclock *c)
{
    size_t n = wire_varint_put(out, c->n);
    for (uint32_t i = 0; i < c->n; i++) {
        uint64_t a = c->e[i].actor;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        a = __builtin_bswap64(a);
#endif
        memcpy(out + n, &a, sizeof(a));
        n += 8;
        n += wire_varint_put(out + n, c->e[i].counter);
        n += wire_varint_put(out + n, c->e[i].ts_ms);
    }
    return n;
}

/* Size of the record sib_write() makes. */
static size_t sib_size(int type, uint64_t counter, uint64_t ts_ms,
                       int64_t expire_ms, const struct vclock *ctx,
                       size_t vlen)
{
    return 1 + (type != CRDT_TYPE_STRING) + 8 + wire_varint_size(counter) +
           wire_varint_size(ts_ms) +
           (expire_ms ? wire_varint_size((uint64_t)expire_ms) : 0) + tctx_size(ctx) +
           wire_varint_size(vlen) + vlen;
}

/* Encodes one new sibling record at out (vlen 0 for a tombstone); returns
 * its size, which is sib_size()'s. */
static size_t sib_write(uint8_t *out, int type, uint64_t actor,
                        uint64_t counter, uint64_t ts_ms, int64_t expire_ms,
                        int tombstone, const struct vclock *ctx,
                        const void *value, size_t vlen)
{
    size_t off = 0;
    out[off++] = (uint8_t)((tombstone ? SIB_TOMBSTONE : 0) |
                           (expire_ms ? SIB_EXPIRE : 0) |
                           (type != CRDT_TYPE_STRING ? SIB_TYPED : 0));
    if (type != CRDT_TYPE_STRING)
        out[off++] = (uint8_t)type;
    wire_store_le64(out + off, actor);
    off += 8;
    off += wire_varint_put(out + off, counter);
    off += wire_varint_put(out + off, ts_ms);
    if (expire_ms)
        off += wire_varint_put(out + off, (uint64_t)expire_ms);
    off += tctx_put(out + off, ctx);
    off += wire_varint_put(out + off, vlen);
    if (vlen)
        memcpy(out + off, value, vlen);
    return off + vlen;
}

/* A sibling of a valid object and where its record lies. */
struct sib_span {
    struct sibling v;
    const uint8_t *p;
    size_t len;
    int seen;         /* object_write: the new context covers it */
};

/* 1 when ctx has seen every dot a typed sibling's state has seen (a SET
 * that read a set covers it only if it read every add the set holds; its
 * dot is the latest write's, and a join keeps other writers' adds inside).
 * A string: 1 (only its dot matters). */
static int ctx_covers_state(const struct vclock *ctx, const struct sibling *s)
{
    if (s->type == CRDT_TYPE_STRING)
        return 1;
    struct vclock seen;
    vclock_init(&seen);
    int ok = crdt_seen_bytes(s->type, s->value, s->vlen, &seen) == 0;
    for (uint32_t k = 0; ok && k < seen.n; k++)
        ok = vclock_get(ctx, seen.e[k].actor) >= seen.e[k].counter;
    vclock_free(&seen);
    return ok;
}

static struct object *obj_reconcile(const struct object *o);

#define OBJ_STACK_SIBS 8

/*
 * The hot path of every SET: the current siblings are read in place (no
 * context is decoded: the few counters needed are looked up in the encoded
 * contexts), and the result is laid out directly in its one allocation, so
 * the value is copied exactly once.
 */
struct object *object_write(const struct object *cur,
                            const struct object_write *w, uint32_t *pruned)
{
    struct sib_span stack[OBJ_STACK_SIBS], *r = stack;
    uint32_t n = 0;
    if (cur) {
        size_t off = obj_first(cur, &n);
        if (n > OBJ_STACK_SIBS)
            r = dyn_malloc((size_t)n * sizeof(*r));
        for (uint32_t i = 0; i < n; i++) {
            size_t end = sib_read(cur->b, cur->size, off, &r[i].v);
            r[i].p = cur->b + off;
            r[i].len = end - off;
            off = end;
        }
    }

    /* The new context: w->ctx as is, or a pruned copy. */
    struct vclock empty, copy;
    vclock_init(&empty);
    vclock_init(&copy);
    const struct vclock *ctx = w->ctx ? w->ctx : &empty;
    if (w->max_ctx_entries && ctx->n > w->max_ctx_entries) {
        vclock_copy(&copy, ctx);
        uint32_t d = vclock_prune(&copy, w->max_ctx_entries);
        if (pruned)
            *pruned += d;
        ctx = &copy;
    }

    /* The dot: above the writer's own counters in its context, in every
     * local dot of the actor and in the context of every sibling that stays
     * (one the new context covers is gone, whatever it claims), and at
     * least the node's floor.  Never wraps: a counter that would pass
     * UINT64_MAX or w->max_counter refuses the write. */
    uint64_t max = w->ctx ? vclock_get(w->ctx, w->actor) : 0;
    for (uint32_t i = 0; i < n; i++) {
        if (r[i].v.actor == w->actor)
            max = DYN_MAX(max, r[i].v.counter);
        r[i].seen = vclock_get(ctx, r[i].v.actor) >= r[i].v.counter &&
                    ctx_covers_state(ctx, &r[i].v);
        if (!r[i].seen)
            max = DYN_MAX(max, tctx_get(r[i].v.ctx, r[i].v.ctxlen, w->actor));
    }
    uint64_t limit = w->max_counter ? w->max_counter : UINT64_MAX;
    if (max >= limit || (w->min_counter && w->min_counter > limit)) {
        vclock_free(&copy);
        if (r != stack)
            dyn_free(r);
        return NULL;
    }
    struct sibling nv;
    memset(&nv, 0, sizeof(nv));
    nv.actor = w->actor;
    nv.counter = DYN_MAX(max + 1, w->min_counter);

    /* Keep what the new context has not seen.  Its dot is above every
     * local dot of this actor and every remaining sibling's claim, so only
     * a covered sibling whose (forged) context claims the new dot too can
     * cover it: such a pair covers each other, and both stay, as
     * object_merge keeps them (see the essay). */
    uint32_t k = 1;
    int typed = w->type != CRDT_TYPE_STRING;
    size_t vlen = w->tombstone && !typed ? 0 : w->vlen;
    size_t nlen = sib_size(w->type, nv.counter, w->now_ms, w->expire_ms, ctx,
                           vlen);
    size_t total = nlen;
    for (uint32_t i = 0; i < n; i++) {
        if (r[i].seen &&
            tctx_get(r[i].v.ctx, r[i].v.ctxlen, w->actor) < nv.counter &&
            (r[i].v.type == CRDT_TYPE_STRING || r[i].v.type == w->type)) {
            r[i].p = NULL; /* covered: dropped */
            continue;
        }
        /* a typed sibling of another type the write covers stays, and the
         * reconciliation below leaves its observed clear in its place */
        k++;
        total += r[i].len;
        typed |= r[i].v.type != CRDT_TYPE_STRING;
    }
    total += 1 + wire_varint_size(k);
    dyn_assert(total <= UINT32_MAX);
    struct object *o = obj_alloc(total);
    size_t off = 0;
    o->b[off++] = typed ? OBJECT_FORMAT_TYPED : OBJECT_FORMAT;
    off += wire_varint_put(o->b + off, k);
    int placed = 0;
    for (uint32_t i = 0; i <= n; i++) {
        if (!placed && (i == n || (r[i].p && dot_cmp(&nv, &r[i].v) < 0))) {
            size_t wr = sib_write(o->b + off, w->type, w->actor, nv.counter,
                                  w->now_ms, w->expire_ms, w->tombstone, ctx,
                                  w->value, vlen);
            dyn_assert(wr == nlen);
            off += wr;
            placed = 1;
        }
        if (i < n && r[i].p) {
            memcpy(o->b + off, r[i].p, r[i].len);
            off += r[i].len;
        }
    }
    dyn_assert(off == total);

    vclock_free(&copy);
    if (r != stack)
        dyn_free(r);
    if (typed && k > 1) {
        /* a typed sibling stays beside others: the result is reconciled
         * as a merge would (a string concurrent with a counter joins it),
         * so every replica's object_from_bytes accepts it */
        struct object *rec = obj_reconcile(o);
        object_free(o);
        o = rec;
    }
    return o;
}

/* 1 when t's context has seen s: s's dot, and for a typed s every dot its
 * state has seen (a SET that read a set covers it only if it read every add
 * the set holds; a concurrent SADD elsewhere keeps the set alive). */
static int rec_covers(const struct sib_rec *t, const struct sib_rec *s)
{
    return vclock_get(&t->ctx, s->v.actor) >= s->v.counter &&
           ctx_covers_state(&t->ctx, &s->v);
}

/* Total order on two records with the same dot, for a deterministic pick. */
static int rec_bytes_cmp(const struct sib_rec *a, const struct sib_rec *b)
{
    size_t m = DYN_MIN(a->len, b->len);
    int c = memcmp(a->p, b->p, m);
    if (c)
        return c;
    return a->len < b->len ? -1 : (a->len > b->len);
}

/* Records a merge builds itself (joined typed siblings): their bytes and
 * contexts are owned here until the merged object is laid out. */
struct made {
    struct sib_rec **recs;
    uint32_t n, cap;
};

static void made_free(struct made *m)
{
    for (uint32_t i = 0; i < m->n; i++) {
        dyn_free((void *)m->recs[i]->p);
        vclock_free(&m->recs[i]->ctx);
        dyn_free(m->recs[i]);
    }
    dyn_free(m->recs);
}

/* Lays out r, whose context r->ctx is set, as a sibling record of type
 * with the dot and ts of d, expire_ms, tombstone and the value val, and
 * hands it to m (which frees it with the merge). */
static void made_finish(struct made *m, struct sib_rec *r, int type,
                        const struct sibling *d, int64_t expire_ms,
                        int tombstone, const struct dbuf *val)
{
    size_t len = sib_size(type, d->counter, d->ts_ms, expire_ms, &r->ctx,
                          val->len);
    uint8_t *p = dyn_malloc(len);
    size_t wr = sib_write(p, type, d->actor, d->counter, d->ts_ms, expire_ms,
                          tombstone, &r->ctx, val->p, val->len);
    dyn_assert(wr == len);
    size_t end;
    struct vclock tmp;
    vclock_init(&tmp);
    int rc = sib_parse(p, len, 0, UINT32_MAX, UINT64_MAX, &r->v, &tmp, &end);
    dyn_assert(rc == 0 && end == len);
    vclock_free(&tmp);
    r->p = p;
    r->len = len;
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 4;
        m->recs = dyn_realloc(m->recs, (size_t)m->cap * sizeof(*m->recs));
    }
    m->recs[m->n++] = r;
}

/*
 * One sibling out of two versions of one typed value: the value is the
 * type's join (for a counter and a string: the string joins the counter
 * as a base, docs/TYPES.md section 4); the dot, ts and expiry are those of
 * the lww winner of the two, and the context has seen both (the loser's
 * dot included, kept below the winner's own dot; two versions of one dot,
 * a join and an original it joined, add nothing).  NULL when a value does
 * not decode (only a corrupt peer; the caller keeps both then).
 */
static struct sib_rec *rec_join(const struct sib_rec *a,
                                const struct sib_rec *b, struct made *m)
{
    const struct sib_rec *w = sib_beats(&a->v, &b->v) ? a : b;
    const struct sib_rec *o = w == a ? b : a;
    int type = a->v.type;
    struct dbuf val;
    dbuf_init(&val);
    int empty = -1;
    dyn_assert(a->v.type == b->v.type && type != CRDT_TYPE_STRING);
    int rc = crdt_join_bytes(type, a->v.value, a->v.vlen, b->v.value,
                             b->v.vlen, NULL, &val, &empty);
    if (rc != 0) {
        dbuf_free(&val);
        return NULL;
    }
    struct sib_rec *r = dyn_calloc(1, sizeof(*r));
    vclock_init(&r->ctx);
    vclock_copy(&r->ctx, &a->ctx);
    vclock_merge(&r->ctx, &b->ctx);
    /* the loser's dot only when it continues its actor's entry: a vclock
     * entry claims every dot below it, and a loser above a gap (a blind
     * write beside an older sibling of its actor) would claim, and drop,
     * siblings nobody saw.  Leaving it out loses nothing: a copy of the
     * loser met later joins in again, and joins are idempotent.  Never
     * the winner's own dot (one dot, two states). */
    if (o->v.counter == vclock_get(&r->ctx, o->v.actor) + 1 &&
        !(o->v.actor == w->v.actor && o->v.counter >= w->v.counter))
        vclock_set(&r->ctx, o->v.actor, o->v.counter, o->v.ts_ms);
    if (vclock_get(&r->ctx, w->v.actor) >= w->v.counter) {
        /* below the winner's own dot; a context has no 0 entries (the
         * decoder refuses them), so below dot 1 is no entry at all */
        if (w->v.counter > 1)
            vclock_set(&r->ctx, w->v.actor, w->v.counter - 1, w->v.ts_ms);
        else
            vclock_cap(&r->ctx, w->v.actor, 0);
    }
    if (empty < 0)
        empty = crdt_empty_bytes(type, (const uint8_t *)val.p, val.len);
    made_finish(m, r, type, &w->v, w->v.expire_ms, empty, &val);
    dbuf_free(&val);
    return r;
}

/* The record a merge keeps for a typed record another sibling covers
 * wholly: the same dot, ts and context, no expiry, and the state's
 * observed clear (crdt_clear_bytes: it reads as empty, its context
 * stays); the readers never let it win (obj_sib_cleared).  A function of
 * x alone, and clearing it again gives it back.  NULL when the value does
 * not decode (only a corrupt peer's). */
static struct sib_rec *rec_clear(const struct sib_rec *x, struct made *m)
{
    struct dbuf val;
    dbuf_init(&val);
    if (crdt_clear_bytes(x->v.type, x->v.value, x->v.vlen, &val) != 0) {
        dbuf_free(&val);
        return NULL;
    }
    struct sib_rec *r = dyn_calloc(1, sizeof(*r));
    vclock_init(&r->ctx);
    vclock_copy(&r->ctx, &x->ctx);
    made_finish(m, r, x->v.type, &x->v, 0, 1, &val);
    dbuf_free(&val);
    return r;
}

/* 1 when x is its own observed clear (rec_clear's record): what a
 * reconciled object may keep beside a sibling that covers it. */
static int rec_is_clear(const struct sib_rec *x)
{
    if (x->v.type == CRDT_TYPE_STRING || x->v.expire_ms != 0 ||
        !x->v.tombstone)
        return 0;
    struct dbuf val;
    dbuf_init(&val);
    int same = crdt_clear_bytes(x->v.type, x->v.value, x->v.vlen, &val) == 0 &&
               val.len == x->v.vlen &&
               memcmp(val.p, x->v.value, val.len) == 0;
    dbuf_free(&val);
    return same;
}

/* 1 when a and b are one event that a merge joins: two states of one
 * typed dot (one replica joined more into it).  Anything else with one
 * dot (only a corrupt peer sends it) keeps one, deterministically. */
static int rec_same_event(const struct sib_rec *a, const struct sib_rec *b)
{
    return a->v.type == b->v.type && a->v.type != CRDT_TYPE_STRING;
}

/* Two records one join reconciles: two states of one CRDT type.  A
 * counter and a string stay two siblings, read as one value
 * (object_counter_fold): joining them in a merge made the result depend
 * on the order (a string that a third sibling covers went in one order
 * and lived on inside the counter in the other). */
static int rec_joinable(const struct sib_rec *a, const struct sib_rec *b)
{
    return a->v.type != CRDT_TYPE_STRING && a->v.type == b->v.type;
}

/* u[0..n) in dot order: joinable records are joined, until none is left;
 * the result is again in dot order.  Returns the new count. */
static uint32_t recs_join_all(struct sib_rec **u, uint32_t n, struct made *m)
{
    for (;;) {
        uint32_t x = n, y = n;
        for (uint32_t i = 0; i < n && x == n; i++)
            for (uint32_t j = i + 1; j < n; j++)
                if (rec_joinable(u[i], u[j])) {
                    x = i;
                    y = j;
                    break;
                }
        if (x == n)
            return n;
        struct sib_rec *r = rec_join(u[x], u[y], m);
        if (!r)
            return n; /* undecodable: both stay, untouched */
        memmove(&u[y], &u[y + 1], (size_t)(n - y - 1) * sizeof(*u));
        n--;
        memmove(&u[x], &u[x + 1], (size_t)(n - x - 1) * sizeof(*u));
        n--;
        uint32_t at = 0;
        while (at < n && dot_cmp(&u[at]->v, &r->v) < 0)
            at++;
        if (at < n && dot_cmp(&u[at]->v, &r->v) == 0) {
            /* its dot is one of the others': two states of one typed dot
             * join (so neither side's adds go); anything else (only a
             * corrupt peer sends one dot with two types) keeps one,
             * deterministically */
            struct sib_rec *j = NULL;
            if (rec_same_event(r, u[at]))
                j = rec_join(r, u[at], m);
            if (j)
                u[at] = j;
            else if (rec_bytes_cmp(r, u[at]) < 0)
                u[at] = r;
            continue;
        }
        memmove(&u[at + 1], &u[at], (size_t)(n - at) * sizeof(*u));
        u[at] = r;
        n++;
    }
}

/* Keeps, in order, the records of u[0..n) that no other covers (unless
 * they cover it back), and a covered typed record too: as its observed
 * clear (rec_clear) when clear (a write, whose coordinator holds the
 * state it covers), else as it is (a merge: see object_merge); returns
 * their count, never 0. */
static uint32_t recs_drop_covered(struct sib_rec **u, uint32_t n,
                                  struct made *m, int clear)
{
    uint32_t i, j, k = 0;
    struct sib_rec **keep = dyn_malloc((size_t)n * sizeof(*keep));
    for (i = 0; i < n; i++) {
        int covered = 0;
        for (j = 0; j < n && !covered; j++)
            covered = j != i && rec_covers(u[j], u[i]) &&
                      !rec_covers(u[i], u[j]);
        if (!covered || (u[i]->v.type != CRDT_TYPE_STRING && !clear)) {
            keep[k++] = u[i];
        } else if (u[i]->v.type != CRDT_TYPE_STRING) {
            /* its clear; one that does not decode (only a corrupt peer's)
             * is dropped, as every covered sibling was before clears */
            struct sib_rec *c = rec_is_clear(u[i]) ? u[i] : rec_clear(u[i], m);
            if (c)
                keep[k++] = c;
        }
    }
    if (k == 0) { /* only a cycle of corrupt siblings can get here */
        uint32_t w = 0;
        for (i = 1; i < n; i++)
            if (sib_beats(&u[i]->v, &u[w]->v))
                w = i;
        keep[k++] = u[w];
    }
    memcpy(u, keep, (size_t)k * sizeof(*u));
    dyn_free(keep);
    return k;
}

/* The reconciled object of the records u[0..n) in dot order (the union
 * of two objects, or one object's own): joinable records are joined,
 * then every string another covers (and that does not cover back) goes,
 * and a covered typed record stays: as its observed clear when clear (a
 * write), as it is otherwise (a merge). */
static struct object *recs_reconcile(struct sib_rec **u, uint32_t n,
                                     struct made *made, int clear)
{
    n = recs_join_all(u, n, made);
    n = recs_drop_covered(u, n, made, clear);
    return obj_build(u, n);
}

static struct object *obj_reconcile(const struct object *o)
{
    uint32_t n;
    struct sib_rec *r = obj_recs(o, &n);
    struct sib_rec **u = dyn_malloc((size_t)n * sizeof(*u));
    struct made made = { NULL, 0, 0 };
    for (uint32_t i = 0; i < n; i++)
        u[i] = &r[i];
    struct object *out = recs_reconcile(u, n, &made, 1);
    dyn_free(u);
    made_free(&made);
    recs_free(r, n);
    return out;
}

struct object *object_merge(const struct object *a, const struct object *b,
                            int *changed_a)
{
    if (a->size == b->size && memcmp(a->b, b->b, a->size) == 0) {
        if (changed_a)
            *changed_a = 0;
        return object_dup(a);
    }
    uint32_t na, nb;
    struct sib_rec *ra = obj_recs(a, &na), *rb = obj_recs(b, &nb);
    struct sib_rec **u = dyn_malloc((size_t)(na + nb) * sizeof(*u));
    struct made made = { NULL, 0, 0 };
    uint32_t n = 0, i = 0, j = 0;
    while (i < na || j < nb) {
        int c = i >= na ? 1 : j >= nb ? -1 : dot_cmp(&ra[i].v, &rb[j].v);
        if (c < 0) {
            u[n++] = &ra[i++];
        } else if (c > 0) {
            u[n++] = &rb[j++];
        } else if (rec_same_event(&ra[i], &rb[j]) &&
                   rec_bytes_cmp(&ra[i], &rb[j]) != 0) {
            /* one typed dot, two states (one replica joined more into
             * it): their join, not a pick, so neither side's adds go */
            struct sib_rec *r = rec_join(&ra[i], &rb[j], &made);
            u[n++] = r ? r : rec_bytes_cmp(&ra[i], &rb[j]) <= 0 ? &ra[i]
                                                                  : &rb[j];
            i++;
            j++;
        } else {
            u[n++] = rec_bytes_cmp(&ra[i], &rb[j]) <= 0 ? &ra[i] : &rb[j];
            i++;
            j++;
        }
    }
    struct object *o = recs_reconcile(u, n, &made, 0);
    if (changed_a)
        *changed_a = o->size != a->size || memcmp(o->b, a->b, a->size) != 0;

    dyn_free(u);
    made_free(&made);
    recs_free(ra, na);
    recs_free(rb, nb);
    return o;
}

struct object *object_replace_value(const struct object *o, uint32_t i,
                                    const void *value, size_t vlen)
{
    uint32_t n;
    struct sib_rec *r = obj_recs(o, &n);
    dyn_assert(i < n);
    struct sib_rec **ptrs = dyn_malloc((size_t)n * sizeof(*ptrs));
    for (uint32_t k = 0; k < n; k++)
        ptrs[k] = &r[k];
    const struct sibling *s = &r[i].v;
    size_t len = sib_size(s->type, s->counter, s->ts_ms, s->expire_ms,
                          &r[i].ctx, vlen);
    uint8_t *p = dyn_malloc(len);
    size_t wr = sib_write(p, s->type, s->actor, s->counter, s->ts_ms,
                          s->expire_ms, s->tombstone, &r[i].ctx, value, vlen);
    dyn_assert(wr == len);
    r[i].p = p;
    r[i].len = len;
    struct object *out = obj_build(ptrs, n);
    dyn_free(p);
    dyn_free(ptrs);
    recs_free(r, n);
    return out;
}

struct object *object_lww(const struct object *o)
{
    uint32_t w = object_winner(o), n;
    size_t off = obj_first(o, &n);
    if (n == 1)
        return object_dup(o);
    struct sib_rec r;
    memset(&r, 0, sizeof(r));
    for (uint32_t i = 0; i < w; i++)
        off = obj_next(o, off, &r.v);
    r.p = o->b + off;
    r.len = obj_next(o, off, &r.v) - off;
    struct sib_rec *one = &r;
    return obj_build(&one, 1);
}

void object_free(struct object *o)
{
    dyn_free(o);
}

struct object *object_dup(const struct object *o)
{
    return dyn_memdup(o, obj_alloc_size(o->size)); /* the cache too */
}

/* ---- reading ------------------------------------------------------------ */

uint32_t object_nsiblings(const struct object *o)
{
    uint32_t n;
    obj_first(o, &n);
    return n;
}

void object_sibling(const struct object *o, uint32_t i, struct sibling *out)
{
    uint32_t n;
    size_t off = obj_first(o, &n);
    dyn_assert(i < n);
    for (uint32_t k = 0; k < i; k++)
        off = obj_next(o, off, out);
    obj_next(o, off, out);
}

/* 1 when sibling x of o (at index xi) is observed away: a typed sibling
 * another sibling's context covers, its dot and every dot its state has
 * seen (a state a client's context claimed, which a merge keeps as it
 * is), or a typed tombstone whose dot one holds (a write's observed
 * clear: the write covered the whole state). */
static int obj_sib_cleared(const struct object *o, uint32_t xi,
                           const struct sibling *x)
{
    if (x->type == CRDT_TYPE_STRING)
        return 0;
    uint32_t n;
    struct sibling t;
    struct vclock seen;
    int have_seen = 0, cleared = 0;
    size_t off = obj_first(o, &n);
    for (uint32_t i = 0; i < n && !cleared; i++) {
        off = obj_next(o, off, &t);
        if (i == xi || tctx_get(t.ctx, t.ctxlen, x->actor) < x->counter)
            continue;
        if (x->tombstone)
            return 1;
        if (!have_seen) {
            vclock_init(&seen);
            have_seen = 1;
            if (crdt_seen_bytes(x->type, x->value, x->vlen, &seen) != 0)
                break; /* undecodable (only a corrupt peer's): live */
        }
        cleared = 1;
        for (uint32_t k = 0; cleared && k < seen.n; k++)
            cleared = tctx_get(t.ctx, t.ctxlen, seen.e[k].actor) >=
                      seen.e[k].counter;
    }
    if (have_seen)
        vclock_free(&seen);
    return cleared;
}

/* The highest (ts, actor, counter) of o's siblings, leaving out the
 * observed clears when skip_cleared (and there is another). */
static uint32_t obj_winner(const struct object *o, struct sibling *out,
                           int skip_cleared)
{
    uint32_t n, w = UINT32_MAX;
    struct sibling s;
    size_t off = obj_first(o, &n);
    for (uint32_t i = 0; i < n; i++) {
        off = obj_next(o, off, &s);
        if (w != UINT32_MAX && !sib_beats(&s, out))
            continue;
        if (skip_cleared && obj_sib_cleared(o, i, &s))
            continue;
        *out = s;
        w = i;
    }
    return w;
}

static int sib_expired(const struct sibling *s, uint64_t now_ms);

/* The index of o's counter sibling when it stands for the counter family
 * (docs/TYPES.md section 4): no other sibling covers it and it has not
 * expired at now_ms (0: never); UINT32_MAX when there is none.  A
 * reconciled object holds at most one counter (two join). */
static uint32_t obj_family_counter(const struct object *o, uint64_t now_ms,
                                   struct sibling *out)
{
    uint32_t n;
    struct sibling s;
    size_t off = obj_first(o, &n);
    for (uint32_t i = 0; i < n; i++) {
        off = obj_next(o, off, &s);
        if (s.type != CRDT_TYPE_COUNTER || obj_sib_cleared(o, i, &s) ||
            (now_ms && sib_expired(&s, now_ms)))
            continue;
        *out = s;
        return i;
    }
    return UINT32_MAX;
}

uint32_t object_winner_get(const struct object *o, struct sibling *out)
{
    uint32_t w = obj_winner(o, out, 0);
    if (object_nsiblings(o) == 1)
        return w;
    /* a sibling observed away never wins against the write that observed
     * it, whatever the clocks say (the writer's clock may be behind) */
    if (out->type != CRDT_TYPE_STRING && obj_sib_cleared(o, w, out)) {
        struct sibling alt;
        uint32_t a = obj_winner(o, &alt, 1);
        if (a != UINT32_MAX) {
            *out = alt;
            w = a;
        }
    }
    /* a string and a counter are one value: the counter stands for it */
    if (out->type == CRDT_TYPE_STRING) {
        struct sibling c;
        uint32_t k = obj_family_counter(o, 0, &c);
        if (k != UINT32_MAX) {
            *out = c;
            w = k;
        }
    }
    return w;
}

int object_counter_fold(const struct object *o, uint64_t now_ms,
                        const struct crdt_limits *lim, struct crdt_counter *c)
{
    uint32_t n;
    int folded = 0;
    struct sibling s;
    size_t off = obj_first(o, &n);
    for (uint32_t i = 0; i < n && n > 1; i++) {
        off = obj_next(o, off, &s);
        if (s.type != CRDT_TYPE_STRING || (now_ms && sib_expired(&s, now_ms)))
            continue;
        struct crdt_dot d = { s.actor, s.counter };
        int rc = crdt_counter_add_string(c, s.tombstone ? NULL : s.value,
                                         s.vlen, &d, s.ts_ms, lim);
        if (rc)
            return rc;
        folded++;
    }
    return folded;
}

uint32_t object_winner(const struct object *o)
{
    struct sibling best;
    return object_winner_get(o, &best);
}

uint64_t object_actor_counter(const struct object *o, uint64_t actor)
{
    uint32_t n;
    uint64_t max = 0;
    struct sibling s;
    size_t off = obj_first(o, &n);
    if (n == 1) { /* the common case: only the dot is needed */
        size_t at = off + 1 + ((o->b[off] & SIB_TYPED) ? 1 : 0);
        if (wire_load_le64(o->b + at) != actor)
            return 0;
        tv_get(o->b + at + 8, o->b + o->size, &max);
        return max;
    }
    for (uint32_t i = 0; i < n; i++) {
        off = obj_next(o, off, &s);
        if (s.actor == actor && s.counter > max)
            max = s.counter;
    }
    return max;
}

/* out = out ∪ (ctx of s) ∪ dot of s. */
static void clock_add_sibling(struct vclock *out, const struct sibling *s,
                              struct vclock *tmp)
{
    int rc = vclock_decode(tmp, s->ctx, s->ctxlen, UINT32_MAX, NULL);
    dyn_assert(rc == 0);
    vclock_merge(out, tmp);
    vclock_clear(tmp);
    vclock_set(tmp, s->actor, s->counter, s->ts_ms);
    vclock_merge(out, tmp);
}

void object_clock(const struct object *o, struct vclock *out)
{
    uint32_t n;
    struct sibling s;
    struct vclock tmp;
    size_t off = obj_first(o, &n);
    if (n == 1) {
        /* ctx ∪ dot: the context never covers its own dot, so the dot's
         * entry replaces the actor's (counter and ts, as merge does). */
        obj_next(o, off, &s);
        int rc = vclock_decode(out, s.ctx, s.ctxlen, UINT32_MAX, NULL);
        dyn_assert(rc == 0);
        vclock_set(out, s.actor, s.counter, s.ts_ms);
        return;
    }
    vclock_init(&tmp);
    vclock_clear(out);
    for (uint32_t i = 0; i < n; i++) {
        off = obj_next(o, off, &s);
        clock_add_sibling(out, &s, &tmp);
    }
    vclock_free(&tmp);
}

void object_sibling_clock(const struct object *o, uint32_t i,
                          struct vclock *out)
{
    struct sibling s;
    struct vclock tmp;
    object_sibling(o, i, &s);
    vclock_init(&tmp);
    vclock_clear(out);
    clock_add_sibling(out, &s, &tmp);
    vclock_free(&tmp);
}

int object_any_expiry(const struct object *o)
{
    uint32_t n;
    struct sibling s;
    size_t off = obj_first(o, &n);
    if (n == 1)
        return (o->b[off] & SIB_EXPIRE) != 0;
    for (uint32_t i = 0; i < n; i++) {
        off = obj_next(o, off, &s);
        if (s.expire_ms != 0)
            return 1;
    }
    return 0;
}

static int sib_expired(const struct sibling *s, uint64_t now_ms)
{
    return !s->tombstone && s->expire_ms != 0 &&
           (uint64_t)s->expire_ms <= now_ms;
}

int object_visible(const struct object *o, uint64_t now_ms,
                   struct sibling *out)
{
    struct sibling best, s;
    int have = 0;
    uint32_t n = object_nsiblings(o);
    if (n == 1) {
        object_winner_get(o, &best);
        have = !sib_expired(&best, now_ms);
    } else {
        for (uint32_t i = 0; i < n; i++) {
            object_sibling(o, i, &s);
            if (sib_expired(&s, now_ms))
                continue; /* an expired version is gone, its peers stay */
            if (obj_sib_cleared(o, i, &s))
                continue; /* an observed clear is no version to read */
            if (!have || s.ts_ms > best.ts_ms ||
                (s.ts_ms == best.ts_ms &&
                 (s.actor > best.actor ||
                  (s.actor == best.actor && s.counter > best.counter)))) {
                best = s;
                have = 1;
            }
        }
    }
    struct sibling c;
    if (have && n > 1 &&
        (best.type == CRDT_TYPE_STRING || best.type == CRDT_TYPE_COUNTER) &&
        obj_family_counter(o, now_ms, &c) != UINT32_MAX) {
        /* the counter family: the counter with its strings as bases is
         * there unless it reads as absent */
        struct crdt_counter *st = NULL;
        if (crdt_counter_decode(c.value, c.vlen, NULL, &st) == 0 &&
            object_counter_fold(o, now_ms, NULL, st) >= 0) {
            struct crdt_counter_value v;
            crdt_counter_value(st, &v);
            crdt_counter_free(st);
            if (v.kind == CRDT_COUNTER_ABSENT)
                return 0;
            if (out)
                *out = c;
            return 1;
        }
        crdt_counter_free(st);
    }
    if (!have || best.tombstone)
        return 0;
    if (out)
        *out = best;
    return 1;
}

/* Visibility changes only when a value sibling expires, so two instants
 * tell it all up to the second expiry. */
void object_visibility(const struct object *o, uint64_t *t1, int *before,
                       int *after, int *more)
{
    uint64_t first = 0, second = 0;
    uint32_t n = object_nsiblings(o);
    for (uint32_t i = 0; i < n; i++) {
        struct sibling s;
        object_sibling(o, i, &s);
        if (s.tombstone || s.expire_ms == 0)
            continue;
        uint64_t x = (uint64_t)s.expire_ms;
        if (!first || x < first) {
            if (first)
                second = first;
            first = x;
        } else if (x != first && (!second || x < second)) {
            second = x;
        }
    }
    *t1 = first;
    *before = object_visible(o, first ? first - 1 : 0, NULL);
    *after = first ? object_visible(o, first, NULL) : *before;
    *more = second != 0;
}

int object_is_deleted(const struct object *o)
{
    uint32_t n;
    struct sibling s;
    size_t off = obj_first(o, &n);
    if (n == 1)
        return (o->b[off] & SIB_TOMBSTONE) != 0;
    for (uint32_t i = 0; i < n; i++) {
        off = obj_next(o, off, &s);
        if (!s.tombstone)
            return 0;
    }
    return 1;
}

const uint8_t *object_bytes(const struct object *o)
{
    return o->b;
}

size_t object_size(const struct object *o)
{
    return o->size;
}

int object_equal(const struct object *a, const struct object *b)
{
    return a->size == b->size && memcmp(a->b, b->b, a->size) == 0;
}

/* object_from_bytes' checks of p: 0 or its error. */
static int bytes_check(const uint8_t *p, size_t len,
                       const struct object_limits *lim)
{
    uint32_t max_sib = lim && lim->max_siblings ? lim->max_siblings
                                                : UINT32_MAX;
    uint32_t max_ctx = lim && lim->max_ctx_entries ? lim->max_ctx_entries
                                                   : UINT32_MAX;
    uint64_t max_vlen = lim && lim->max_value_len ? lim->max_value_len
                                                  : UINT64_MAX;
    uint64_t n;
    size_t k, off;
    int rc = DYN_EINVAL;

    if (len >= 1 && p[0] > OBJECT_FORMAT_CLEARS)
        return DYN_EFORMAT; /* a newer node's format: not ours to read */
    if (len < 2 || p[0] < OBJECT_FORMAT)
        return DYN_EINVAL;
    if (len > UINT32_MAX)
        return DYN_ELIMIT;
    if (wire_varint_get_canonical(p + 1, len - 1, &n, &k) || n == 0)
        return DYN_EINVAL;
    if (n > max_sib)
        return DYN_ELIMIT;
    off = 1 + k;
    if (n > (len - off) / SIB_MIN_LEN)
        return DYN_EINVAL;

    struct sib_rec *r = dyn_calloc((size_t)n, sizeof(*r));
    uint32_t parsed = 0;
    int typed = 0;
    for (uint32_t i = 0; i < n; i++) {
        size_t end;
        vclock_init(&r[i].ctx);
        parsed = i + 1;
        rc = sib_parse(p, len, off, max_ctx, max_vlen, &r[i].v, &r[i].ctx,
                       &end);
        if (rc)
            goto out;
        r[i].p = p + off;
        r[i].len = end - off;
        if (r[i].v.type != CRDT_TYPE_STRING) {
            rc = DYN_EFORMAT; /* a type a newer node knows: refused whole */
            if (!crdt_type_known(r[i].v.type))
                goto out;
            typed = 1;
            int empty = 0;
            rc = lim && lim->typed_trusted
                     ? 0
                     : crdt_validate_bytes(r[i].v.type, r[i].v.value,
                                           r[i].v.vlen,
                                           lim ? lim->types : NULL, &empty);
            if (rc)
                goto out;
            rc = DYN_EINVAL;
            if (!(lim && lim->typed_trusted) && r[i].v.tombstone != empty)
                goto out; /* the empty flag must say what the state reads */
        }
        rc = DYN_EINVAL;
        if (i > 0 && dot_cmp(&r[i - 1].v, &r[i].v) >= 0)
            goto out; /* not canonical order, or a dot twice */
        off = end;
    }
    if (off != len || typed != (p[0] >= OBJECT_FORMAT_TYPED))
        goto out;
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = i + 1; j < n; j++)
            if (rec_joinable(&r[i], &r[j]))
                goto out; /* not reconciled: a merge would join them */
    int past2 = 0, counter = 0, string = 0;
    for (uint32_t i = 0; i < n; i++) {
        counter |= r[i].v.type == CRDT_TYPE_COUNTER;
        string |= r[i].v.type == CRDT_TYPE_STRING;
        for (uint32_t j = 0; j < n; j++)
            if (i != j && rec_covers(&r[j], &r[i]) &&
                !rec_covers(&r[i], &r[j])) {
                if (r[i].v.type == CRDT_TYPE_STRING)
                    goto out; /* not reconciled: a covered string goes */
                past2 = 1;
            }
    }
    past2 |= counter && string;
    if (past2 != (p[0] == OBJECT_FORMAT_CLEARS))
        goto out; /* the format says whether it needs format 3 */
    rc = 0;
out:
    recs_free(r, parsed);
    return rc;
}

int object_from_bytes(const uint8_t *p, size_t len,
                      const struct object_limits *lim, struct object **out)
{
    *out = NULL;
    int rc = bytes_check(p, len, lim);
    if (rc)
        return rc;
    struct object *o = obj_alloc(len);
    memcpy(o->b, p, len);
    *out = o;
    return 0;
}

struct object *object_raw(size_t len, uint8_t **bytes)
{
    dyn_assert(len <= UINT32_MAX);
    struct object *o = obj_alloc(len);
    *bytes = o->b;
    return o;
}

int object_from_raw(struct object *raw, const struct object_limits *lim,
                    struct object **out)
{
    *out = NULL;
    int rc = bytes_check(raw->b, raw->size, lim);
    if (rc) {
        object_free(raw);
        return rc;
    }
    *out = raw;
    return 0;
}

uint64_t object_digest(const struct object *o)
{
    if (o->size < OBJ_DIGEST_MIN)
        return dyn_hash64(o->b, o->size);
    uint8_t *c = (uint8_t *)o->b + o->size; /* the cache, see the essay */
    uint64_t d;
    if (c[8]) {
        memcpy(&d, c, 8);
        return d;
    }
    d = dyn_hash64(o->b, o->size);
    memcpy(c, &d, 8);
    c[8] = 1;
    return d;
}
