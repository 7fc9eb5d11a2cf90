/*
 * crdt_zset.c -- a sorted set whose replicas merge by themselves: what
 * ZADD, ZINCRBY and ZREM do when any replica may take them at any time
 * (issue #14, docs/TYPES.md "Sorted sets").
 *
 * Built on crdt_set.  The state is an ORSWOT whose member bytes are
 * *entries*; this file builds, reads and orders them, and crdt_set does
 * the rest (context, join, compaction, limits, the untrusted decoder).
 * An entry names its sorted-set member first, so a member's entries are
 * neighbours in the ORSWOT's order:
 *
 *   u32 BE mlen | member | u8 kind | body (u64 fields big-endian, doubles
 *   as their IEEE bits; NaN never appears)
 *
 *   REG  (ZADD)    ts_ms | actor | counter | score | u32 nsnap | snaps
 *                  a last-writer-wins register; (actor, counter) is the
 *                  dot of the write, so two writes are two entries.
 *   INC  (ZINCRBY) actor | seq | from | delta
 *                  one per actor that incremented the member: the sum of
 *                  its increments since `from` (0, or the seq of the
 *                  cancelled part it continued from); seq is the dot
 *                  counter of its latest increment.  A later increment by
 *                  the same actor replaces it (seq grows, delta adds).
 *   HID  (ZREM)    u32 nsnap | snaps
 *                  hidden: it makes no member; it remembers what a ZREM
 *                  cancelled, only when the member had counters.
 *   snap           actor | seq | from | delta: a copy of the INC entry an
 *                  op observed and cancelled, sorted by actor, one per
 *                  actor (the highest seq).
 *
 * Ops (each adds one entry with the op's dot, then removes the member's
 * entries it observed, so a failed add changes nothing):
 *   ZADD m s     REG whose snaps are every INC entry and every snap the
 *                member holds (per actor the highest seq).
 *   ZINCRBY m b  actor A: A's INC entry with delta + b; with none, a new
 *                one from A's snap (from = snap.seq) or from 0.  On a
 *                node alone (fold) a REG with old + b instead, Redis's
 *                arithmetic exactly.
 *   ZREM m       every entry goes; a HID with the snaps stays when there
 *                were any (and the node is not alone).
 *
 * Reading a member.  It exists while it holds a REG or an INC entry.
 * Score = the REG with the highest (ts_ms, actor, counter) (0 when none)
 * + per INC entry its delta minus what the highest-seq snap of its actor
 * (among the REG and HID entries) already cancelled: all of it when the
 * snap is at or below `from`, none when at or above seq, else
 * delta - snap.delta.  An increment therefore counts unless an op
 * observed it; a concurrent ZADD or ZREM observed none of it.  The sum
 * runs in entry order, so every replica gets the same double; a NaN sum
 * (concurrent +inf and -inf increments) reads as 0.
 *
 * The view.  Reads use the members sorted by (score, member bytes,
 * shorter first), Redis's order, built lazily from the entries after a
 * change or a decode, never encoded.  A const read may build it (the
 * state is logically unchanged).
 *
 * Encoding: u8 CRDT_TYPE_ZSET then crdt_set_encode of the entries (whose
 * first byte, CRDT_TYPE_SET, stays).  Decode checks every entry: kind,
 * exact length, no NaN, snaps ascending and bounded by max_actors,
 * members within max_member_len and max_members.
 *
 * Errors: see crdt.h.  Nothing here aborts on bad input.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "cluster/crdt.h"

#include "cluster/crdt_int.h"

enum { ZK_REG = 1, ZK_INC = 2, ZK_HID = 3 };

#define ZSNAP_BYTES 32u /* actor, seq, from, delta */
#define ZREG_BYTES 36u  /* ts, actor, counter, score, nsnap */
#define ZINC_BYTES 32u
#define ZHID_BYTES 4u   /* nsnap */

struct zsnap {
    uint64_t actor, seq, from;
    double delta;
};

/* One parsed entry; pointers into the entry's bytes. */
struct zent {
    const uint8_t *m;
    uint32_t mlen;
    uint8_t kind;
    uint64_t ts, actor, counter; /* REG; actor also INC */
    double score;                /* REG */
    uint64_t seq, from;          /* INC */
    double delta;                /* INC */
    uint32_t nsnap;              /* REG, HID */
    const uint8_t *snap;
};

/* A member's run of entries. */
struct zgroup {
    const uint8_t *m;
    uint32_t len;
    uint32_t first, nent;
    int visible;
    double score;
    uint32_t rank;
};

struct zord {
    double score;
    const uint8_t *m;
    uint32_t len;
    uint32_t g;
};

struct crdt_zset {
    struct crdt_set *s;
    int dirty; /* the view below is stale */
    int maybe_hidden; /* entries of a member no longer visible may be
                       * held (set by removes and by a state from
                       * elsewhere; cleared by crdt_zset_compact) */
    int card_known; /* ncard counts the visible members (ops keep it) */
    uint32_t ncard;
    uint32_t ng, capg;
    struct zgroup *g; /* every member with entries, in entry order */
    uint32_t nvis;
    struct zord *order; /* the visible ones by (score, member) */
    int pinned; /* crdt_zset_pin */
    uint64_t inc_actor; /* crdt_zset_inc_actor; not part of the state */
};

/* ---- bytes -------------------------------------------------------------- */

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static uint32_t get_be32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    return v;
}

static void put_be64(struct dbuf *b, uint64_t v)
{
    uint8_t t[8];
    for (int k = 7; k >= 0; k--, v >>= 8)
        t[k] = (uint8_t)v;
    dbuf_append(b, t, 8);
}

static void put_be32(struct dbuf *b, uint32_t v)
{
    uint8_t t[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8),
                     (uint8_t)v };
    dbuf_append(b, t, 4);
}

static double bits_dbl(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

static uint64_t dbl_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

static void put_prefix(struct dbuf *b, const void *m, size_t len)
{
    put_be32(b, (uint32_t)len);
    dbuf_append(b, m, len);
}

static void get_snap(const uint8_t *p, struct zsnap *s)
{
    s->actor = get_be64(p);
    s->seq = get_be64(p + 8);
    s->from = get_be64(p + 16);
    s->delta = bits_dbl(get_be64(p + 24));
}

static void put_snap(struct dbuf *b, const struct zsnap *s)
{
    put_be64(b, s->actor);
    put_be64(b, s->seq);
    put_be64(b, s->from);
    put_be64(b, dbl_bits(s->delta));
}

/* Parses and checks one entry: 0, or DYN_EINVAL (DYN_ELIMIT for a snap
 * list over max_actors, 0 = none). */
static int ent_parse(const uint8_t *p, size_t len, uint32_t max_actors,
                     struct zent *e)
{
    memset(e, 0, sizeof(*e));
    if (len < 5)
        return DYN_EINVAL;
    e->mlen = get_be32(p);
    if (e->mlen > len - 5)
        return DYN_EINVAL;
    e->m = p + 4;
    const uint8_t *q = p + 4 + e->mlen;
    size_t left = len - 4 - e->mlen - 1;
    e->kind = *q++;
    switch (e->kind) {
    case ZK_REG:
        if (left < ZREG_BYTES)
            return DYN_EINVAL;
        e->ts = get_be64(q);
        e->actor = get_be64(q + 8);
        e->counter = get_be64(q + 16);
        e->score = bits_dbl(get_be64(q + 24));
        e->nsnap = get_be32(q + 32);
        if (e->counter == 0 || isnan(e->score))
            return DYN_EINVAL;
        q += ZREG_BYTES;
        left -= ZREG_BYTES;
        break;
    case ZK_INC:
        if (left != ZINC_BYTES)
            return DYN_EINVAL;
        e->actor = get_be64(q);
        e->seq = get_be64(q + 8);
        e->from = get_be64(q + 16);
        e->delta = bits_dbl(get_be64(q + 24));
        if (e->seq == 0 || e->from >= e->seq || isnan(e->delta))
            return DYN_EINVAL;
        return 0;
    case ZK_HID:
        if (left < ZHID_BYTES)
            return DYN_EINVAL;
        e->nsnap = get_be32(q);
        if (e->nsnap == 0)
            return DYN_EINVAL;
        q += ZHID_BYTES;
        left -= ZHID_BYTES;
        break;
    default:
        return DYN_EINVAL;
    }
    if (left / ZSNAP_BYTES != e->nsnap || left % ZSNAP_BYTES)
        return DYN_EINVAL;
    if (max_actors && e->nsnap > max_actors)
        return DYN_ELIMIT;
    e->snap = q;
    struct zsnap prev = { 0, 0, 0, 0 }, s;
    for (uint32_t k = 0; k < e->nsnap; k++) {
        get_snap(q + (size_t)k * ZSNAP_BYTES, &s);
        if (s.seq == 0 || s.from >= s.seq || isnan(s.delta) ||
            (k && s.actor <= prev.actor))
            return DYN_EINVAL;
        prev = s;
    }
    return 0;
}

static void ent_at(const struct crdt_set *s, uint32_t i, struct zent *e)
{
    const uint8_t *p;
    size_t len;
    crdt_set_member(s, i, &p, &len);
    int rc = ent_parse(p, len, 0, e);
    dyn_assert(rc == 0); /* checked when it was made or decoded */
}

/* ---- a member's entries ------------------------------------------------- */

/* The run of entries of member m: *first and the count. */
static uint32_t member_run(const struct crdt_set *s, const void *m, size_t len,
                           uint32_t *first)
{
    struct dbuf pre;
    dbuf_init(&pre);
    put_prefix(&pre, m, len);
    uint32_t i = crdt_set_lower_bound(s, pre.p, pre.len), n = crdt_set_card(s);
    *first = i;
    uint32_t k = i;
    for (; k < n; k++) {
        const uint8_t *p;
        size_t plen;
        crdt_set_member(s, k, &p, &plen);
        if (plen < pre.len || memcmp(p, pre.p, pre.len) != 0)
            break;
    }
    dbuf_free(&pre);
    return k - i;
}

/* Keeps, per actor, the snap with the highest (seq, from, delta bits). */
static void snap_keep(struct zsnap *v, uint32_t *n, const struct zsnap *s)
{
    for (uint32_t k = 0; k < *n; k++) {
        if (v[k].actor != s->actor)
            continue;
        if (s->seq > v[k].seq ||
            (s->seq == v[k].seq &&
             (s->from > v[k].from ||
              (s->from == v[k].from &&
               dbl_bits(s->delta) > dbl_bits(v[k].delta)))))
            v[k] = *s;
        return;
    }
    v[(*n)++] = *s;
}

static int snap_cmp(const void *a, const void *b)
{
    const struct zsnap *x = a, *y = b;
    return x->actor < y->actor ? -1 : x->actor > y->actor;
}

/* What the entries [first, first + n) cancel or hold, per actor: with
 * incs, the INC entries count too (what a new reset observes); without,
 * only the REG and HID snaps (what the entries say is cancelled).  A
 * malloc'd array sorted by actor. */
static struct zsnap *run_snaps(const struct crdt_set *s, uint32_t first,
                               uint32_t n, int incs, uint32_t *nout)
{
    uint32_t cap = 1;
    struct zent e;
    for (uint32_t k = 0; k < n; k++) {
        ent_at(s, first + k, &e);
        cap += e.kind == ZK_INC ? 1 : e.nsnap;
    }
    struct zsnap *v = dyn_malloc(cap * sizeof(*v));
    *nout = 0;
    for (uint32_t k = 0; k < n; k++) {
        ent_at(s, first + k, &e);
        if (e.kind == ZK_INC) {
            if (incs) {
                struct zsnap x = { e.actor, e.seq, e.from, e.delta };
                snap_keep(v, nout, &x);
            }
            continue;
        }
        for (uint32_t j = 0; j < e.nsnap; j++) {
            struct zsnap x;
            get_snap(e.snap + (size_t)j * ZSNAP_BYTES, &x);
            snap_keep(v, nout, &x);
        }
    }
    qsort(v, *nout, sizeof(*v), snap_cmp);
    return v;
}

static const struct zsnap *snap_find(const struct zsnap *v, uint32_t n,
                                     uint64_t actor)
{
    for (uint32_t k = 0; k < n; k++)
        if (v[k].actor == actor)
            return &v[k];
    return NULL;
}

/* Whether the run makes a member, and its score. */
static int run_score(const struct crdt_set *s, uint32_t first, uint32_t n,
                     double *score)
{
    uint32_t ns;
    if (n == 1) { /* the common case: one register, or one counter */
        struct zent e;
        ent_at(s, first, &e);
        *score = e.kind == ZK_REG ? e.score : e.delta;
        return e.kind != ZK_HID;
    }
    struct zsnap *snaps = run_snaps(s, first, n, 0, &ns);
    struct zent e, best = { 0 };
    int have_reg = 0, visible = 0;
    for (uint32_t k = 0; k < n; k++) {
        ent_at(s, first + k, &e);
        if (e.kind != ZK_REG)
            continue;
        visible = 1;
        if (!have_reg || e.ts > best.ts ||
            (e.ts == best.ts &&
             crdt_dot_cmp_raw(e.actor, e.counter, best.actor, best.counter) >
                 0)) {
            best = e;
            have_reg = 1;
        }
    }
    double v = have_reg ? best.score : 0.0;
    for (uint32_t k = 0; k < n; k++) {
        ent_at(s, first + k, &e);
        if (e.kind != ZK_INC)
            continue;
        visible = 1;
        /* Entries of one actor sort by seq: only its last one counts (two
         * appear only after a replica lost its copy). */
        if (k + 1 < n) {
            struct zent nx;
            ent_at(s, first + k + 1, &nx);
            if (nx.kind == ZK_INC && nx.actor == e.actor)
                continue;
        }
        const struct zsnap *sn = snap_find(snaps, ns, e.actor);
        double c = e.delta;
        if (sn && sn->seq >= e.seq)
            c = 0;
        else if (sn && sn->seq > e.from && sn->from == e.from)
            c = e.delta - sn->delta;
        if (!isnan(c))
            v += c;
    }
    dyn_free(snaps);
    *score = isnan(v) ? 0.0 : v;
    return visible;
}

/* ---- the view ----------------------------------------------------------- */

static int ord_cmp(const void *a, const void *b)
{
    const struct zord *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? -1 : 1;
    return crdt_bytes_cmp(x->m, x->len, y->m, y->len);
}

static void view_build(const struct crdt_zset *cz)
{
    struct crdt_zset *z = (struct crdt_zset *)cz; /* logically const */
    if (!z->dirty)
        return;
    uint32_t n = crdt_set_card(z->s);
    z->ng = 0;
    struct zent e;
    for (uint32_t i = 0; i < n; i++) {
        ent_at(z->s, i, &e);
        struct zgroup *last = z->ng ? &z->g[z->ng - 1] : NULL;
        if (last && last->len == e.mlen && memcmp(last->m, e.m, e.mlen) == 0) {
            last->nent++;
            continue;
        }
        if (z->ng == z->capg) {
            z->capg = z->capg ? z->capg * 2 : 8;
            z->g = dyn_realloc(z->g, (size_t)z->capg * sizeof(*z->g));
        }
        struct zgroup *g = &z->g[z->ng++];
        g->m = e.m;
        g->len = e.mlen;
        g->first = i;
        g->nent = 1;
    }
    dyn_free(z->order);
    z->order = dyn_malloc(((size_t)z->ng + 1) * sizeof(*z->order));
    z->nvis = 0;
    for (uint32_t k = 0; k < z->ng; k++) {
        struct zgroup *g = &z->g[k];
        g->visible = run_score(z->s, g->first, g->nent, &g->score);
        if (!g->visible)
            continue;
        struct zord o = { g->score, g->m, g->len, k };
        z->order[z->nvis++] = o;
    }
    qsort(z->order, z->nvis, sizeof(*z->order), ord_cmp);
    for (uint32_t r = 0; r < z->nvis; r++)
        z->g[z->order[r].g].rank = r;
    z->dirty = 0;
    z->ncard = z->nvis;
    z->card_known = 1;
}

/* The group of m in the view, or NULL. */
static const struct zgroup *view_find(const struct crdt_zset *z, const void *m,
                                      size_t len)
{
    view_build(z);
    uint32_t lo = 0, hi = z->ng;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const struct zgroup *g = &z->g[mid];
        int c = g->len != len ? (g->len < len ? -1 : 1)
                              : (len ? memcmp(g->m, m, len) : 0);
        if (c == 0)
            return g;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* ---- life --------------------------------------------------------------- */

static struct crdt_zset *wrap(struct crdt_set *s)
{
    struct crdt_zset *z = dyn_calloc(1, sizeof(*z));
    z->s = s;
    z->dirty = 1;
    z->maybe_hidden = 1;
    return z;
}

/* An op made a member appear (+1) or go (-1). */
static void card_add(struct crdt_zset *z, int d)
{
    if (z->card_known)
        z->ncard = (uint32_t)((int64_t)z->ncard + d);
}

struct crdt_zset *crdt_zset_new(void)
{
    return wrap(crdt_set_new());
}

uint32_t crdt_zset_entries(const struct crdt_zset *z)
{
    return crdt_set_card(z->s);
}

void crdt_zset_pin(struct crdt_zset *z, int on)
{
    z->pinned = on;
}

void crdt_zset_free(struct crdt_zset *z)
{
    if (!z || z->pinned)
        return;
    crdt_set_free(z->s);
    dyn_free(z->g);
    dyn_free(z->order);
    dyn_free(z);
}

struct crdt_zset *crdt_zset_dup(const struct crdt_zset *z)
{
    return wrap(crdt_set_dup(z->s));
}

/* ---- ops ---------------------------------------------------------------- */

/* The set's limits for entries: members unbounded here (the zset counts
 * its own), an entry's bytes bounded by the member's plus the body. */
static void set_limits(const struct crdt_limits *lim, struct crdt_limits *out)
{
    memset(out, 0, sizeof(*out));
    if (!lim)
        return;
    out->max_actors = lim->max_actors;
    out->max_dots = lim->max_dots;
}

/* Copies of the run's entries, to remove after the new one is in. */
struct zcopies {
    uint32_t n;
    uint8_t **p;
    size_t *len;
};

static void copies_take(const struct crdt_set *s, uint32_t first, uint32_t n,
                        struct zcopies *c)
{
    c->n = n;
    c->p = dyn_malloc(((size_t)n + 1) * sizeof(*c->p));
    c->len = dyn_malloc(((size_t)n + 1) * sizeof(*c->len));
    for (uint32_t k = 0; k < n; k++) {
        const uint8_t *p;
        crdt_set_member(s, first + k, &p, &c->len[k]);
        c->p[k] = dyn_memdup(p, c->len[k] ? c->len[k] : 1);
    }
}

/* Removes the copies from s except `keep` (the entry just added). */
static void copies_remove(struct crdt_set *s, struct zcopies *c,
                          const struct dbuf *keep)
{
    for (uint32_t k = 0; k < c->n; k++) {
        if (!(keep && keep->len == c->len[k] &&
              memcmp(keep->p, c->p[k], keep->len) == 0))
            crdt_set_remove(s, c->p[k], c->len[k]);
        dyn_free(c->p[k]);
    }
    dyn_free(c->p);
    dyn_free(c->len);
}

static void copies_free(struct zcopies *c)
{
    for (uint32_t k = 0; k < c->n; k++)
        dyn_free(c->p[k]);
    dyn_free(c->p);
    dyn_free(c->len);
}

/* Whether adding member m (not yet visible) passes max_members. */
static int room_for(const struct crdt_zset *z, const struct crdt_limits *lim)
{
    return !(lim && lim->max_members &&
             crdt_zset_card(z) >= lim->max_members);
}

static void put_reg(struct dbuf *b, const void *m, size_t len, double score,
                    const struct crdt_dot *dot, uint64_t ts_ms,
                    const struct zsnap *snaps, uint32_t ns)
{
    put_prefix(b, m, len);
    crdt_put_u8(b, ZK_REG);
    put_be64(b, ts_ms);
    put_be64(b, dot->actor);
    put_be64(b, dot->counter);
    put_be64(b, dbl_bits(score));
    put_be32(b, ns);
    for (uint32_t k = 0; k < ns; k++)
        put_snap(b, &snaps[k]);
}

/* Adds entry b (with dot) and removes the run [first, first + n). */
static int replace_run(struct crdt_zset *z, uint32_t first, uint32_t n,
                       const struct dbuf *b, const struct crdt_dot *dot,
                       const struct crdt_limits *lim)
{
    struct crdt_limits sl;
    struct zcopies c;
    int added;
    set_limits(lim, &sl);
    copies_take(z->s, first, n, &c);
    int rc = crdt_set_add(z->s, b->p, b->len, dot, &sl, &added);
    if (rc) {
        copies_free(&c);
        return rc;
    }
    copies_remove(z->s, &c, b);
    z->dirty = 1;
    return 0;
}

static int write_reg(struct crdt_zset *z, const void *m, size_t len,
                     double score, const struct crdt_dot *dot, uint64_t ts_ms,
                     const struct crdt_limits *lim, int was_member)
{
    if (lim && lim->max_member_len && len > lim->max_member_len)
        return DYN_ELIMIT;
    if (!was_member && !room_for(z, lim))
        return DYN_ELIMIT;
    uint32_t first, n = member_run(z->s, m, len, &first), ns;
    struct zsnap *snaps = run_snaps(z->s, first, n, 1, &ns);
    if (lim && lim->max_actors && ns > lim->max_actors) {
        dyn_free(snaps);
        return DYN_ELIMIT;
    }
    struct dbuf b;
    dbuf_init(&b);
    put_reg(&b, m, len, score, dot, ts_ms, snaps, ns);
    dyn_free(snaps);
    int rc = replace_run(z, first, n, &b, dot, lim);
    dbuf_free(&b);
    return rc;
}

int crdt_zset_add(struct crdt_zset *z, const void *m, size_t len, double score,
                  const struct crdt_dot *dot, uint64_t ts_ms,
                  const struct crdt_limits *lim, int *added)
{
    double old;
    if (isnan(score) || dot->counter == 0)
        return DYN_EINVAL;
    int was = crdt_zset_score(z, m, len, &old);
    int rc = write_reg(z, m, len, score, dot, ts_ms, lim, was);
    if (rc == 0) {
        *added = !was;
        card_add(z, !was);
    }
    return rc;
}

void crdt_zset_inc_actor(struct crdt_zset *z, uint64_t actor)
{
    z->inc_actor = actor;
}

int crdt_zset_has_dot(const struct crdt_zset *z, const struct crdt_dot *d)
{
    return crdt_set_has_dot(z->s, d);
}

int crdt_zset_incrby(struct crdt_zset *z, const void *m, size_t len, double by,
                     const struct crdt_dot *dot, uint64_t ts_ms, int fold,
                     const struct crdt_limits *lim, double *result)
{
    double old = 0;
    if (isnan(by) || dot->counter == 0)
        return DYN_EINVAL;
    int was = crdt_zset_score(z, m, len, &old);
    double want = old + by;
    if (isnan(want))
        return CRDT_ENANSCORE;
    if (fold) {
        int rc = write_reg(z, m, len, want, dot, ts_ms, lim, was);
        if (rc == 0) {
            *result = want;
            card_add(z, !was);
        }
        return rc;
    }
    if (lim && lim->max_member_len && len > lim->max_member_len)
        return DYN_ELIMIT;
    if (!was && !room_for(z, lim))
        return DYN_ELIMIT;

    /* A's own counter: its INC entry, else the part a reset cancelled
     * (A: the op's actor, or the run crdt_zset_inc_actor names, when the
     * node's state lacked its latest increment: docs/TYPES.md 5.1). */
    uint64_t ia = z->inc_actor ? z->inc_actor : dot->actor;
    uint32_t first, n = member_run(z->s, m, len, &first), own = UINT32_MAX;
    struct zent e;
    for (uint32_t k = 0; k < n; k++) {
        ent_at(z->s, first + k, &e);
        if (e.kind == ZK_INC && e.actor == ia)
            own = k; /* the last, the highest seq */
    }
    struct zsnap x = { ia, dot->counter, 0, by };
    if (own != UINT32_MAX) {
        ent_at(z->s, first + own, &e);
        if (e.seq >= dot->counter)
            return CRDT_ESTALE;
        x.from = e.from;
        x.delta = e.delta + by;
    } else {
        uint32_t ns;
        struct zsnap *snaps = run_snaps(z->s, first, n, 0, &ns);
        const struct zsnap *sn = snap_find(snaps, ns, ia);
        if (sn && sn->seq < dot->counter)
            x.from = sn->seq;
        dyn_free(snaps);
    }
    if (isnan(x.delta))
        return CRDT_ENANSCORE;
    struct dbuf b;
    dbuf_init(&b);
    put_prefix(&b, m, len);
    crdt_put_u8(&b, ZK_INC);
    put_snap(&b, &x);
    /* Only A's own INC entries are replaced; the rest stay as they are. */
    struct crdt_limits sl;
    int added;
    set_limits(lim, &sl);
    int rc = crdt_set_add(z->s, b.p, b.len, dot, &sl, &added);
    if (rc == 0) {
        for (uint32_t k = n; k-- > 0;) {
            ent_at(z->s, first + k, &e);
            if (e.kind != ZK_INC || e.actor != ia || e.seq == x.seq)
                continue;
            const uint8_t *p;
            size_t plen;
            crdt_set_member(z->s, first + k, &p, &plen);
            uint8_t *cp = dyn_memdup(p, plen);
            crdt_set_remove(z->s, cp, plen);
            dyn_free(cp);
        }
        z->dirty = 1;
        card_add(z, !was);
        crdt_zset_score(z, m, len, result);
    }
    dbuf_free(&b);
    return rc;
}

int crdt_zset_remove(struct crdt_zset *z, const void *m, size_t len,
                     const struct crdt_dot *dot, int fold,
                     const struct crdt_limits *lim)
{
    z->maybe_hidden = 1;
    double old;
    if (!crdt_zset_score(z, m, len, &old))
        return 0;
    uint32_t first, n = member_run(z->s, m, len, &first), ns;
    struct zsnap *snaps = fold ? NULL : run_snaps(z->s, first, n, 1, &ns);
    if (fold || ns == 0) {
        struct zcopies c;
        copies_take(z->s, first, n, &c);
        copies_remove(z->s, &c, NULL);
        dyn_free(snaps);
        z->dirty = 1;
        card_add(z, -1);
        return 1;
    }
    if (lim && lim->max_actors && ns > lim->max_actors) {
        dyn_free(snaps);
        return DYN_ELIMIT;
    }
    struct dbuf b;
    dbuf_init(&b);
    put_prefix(&b, m, len);
    crdt_put_u8(&b, ZK_HID);
    put_be32(&b, ns);
    for (uint32_t k = 0; k < ns; k++)
        put_snap(&b, &snaps[k]);
    dyn_free(snaps);
    int rc = replace_run(z, first, n, &b, dot, lim);
    dbuf_free(&b);
    if (rc)
        return rc;
    card_add(z, -1);
    return 1;
}

/* ---- reads -------------------------------------------------------------- */

/* The visible members by a scan of the entries' kinds, without the view's
 * sort (what the db's emptiness test asks of every stored state). */
static uint32_t card_scan(const struct crdt_set *s)
{
    uint32_t n = crdt_set_card(s), card = 0;
    const uint8_t *prev = NULL;
    size_t prevlen = 0;
    int counted = 0;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *p;
        size_t len;
        crdt_set_member(s, i, &p, &len);
        size_t plen = 4 + (size_t)get_be32(p); /* checked at decode */
        if (!prev || prevlen != plen || memcmp(prev, p, plen) != 0)
            counted = 0;
        prev = p;
        prevlen = plen;
        if (!counted && p[plen] != ZK_HID) {
            card++;
            counted = 1;
        }
    }
    return card;
}

uint32_t crdt_zset_card(const struct crdt_zset *z)
{
    if (!z->card_known) {
        struct crdt_zset *w = (struct crdt_zset *)z; /* logically const */
        w->ncard = card_scan(z->s);
        w->card_known = 1;
    }
    return z->ncard;
}

int crdt_zset_score(const struct crdt_zset *z, const void *m, size_t len,
                    double *score)
{
    if (z->dirty) {
        /* Between writes: read the member's own entries, so a run of ops
         * does not rebuild the whole view after each one. */
        uint32_t first, n = member_run(z->s, m, len, &first);
        return n ? run_score(z->s, first, n, score) : 0;
    }
    const struct zgroup *g = view_find(z, m, len);
    if (!g || !g->visible)
        return 0;
    *score = g->score;
    return 1;
}

void crdt_zset_at(const struct crdt_zset *z, uint32_t i, const uint8_t **m,
                  size_t *len, double *score)
{
    view_build(z);
    dyn_assert(i < z->nvis);
    *m = z->order[i].m;
    *len = z->order[i].len;
    *score = z->order[i].score;
}

int crdt_zset_rank(const struct crdt_zset *z, const void *m, size_t len,
                   uint32_t *rank)
{
    const struct zgroup *g = view_find(z, m, len);
    if (!g || !g->visible)
        return 0;
    *rank = g->rank;
    return 1;
}

uint32_t crdt_zset_nentries(const struct crdt_zset *z)
{
    return crdt_set_card(z->s);
}

void crdt_zset_seen(const struct crdt_zset *z, struct vclock *out)
{
    crdt_set_seen(z->s, out);
}

void crdt_zset_clear(struct crdt_zset *z)
{
    const uint8_t *p;
    size_t len;
    while (crdt_set_card(z->s)) {
        crdt_set_member(z->s, crdt_set_card(z->s) - 1, &p, &len);
        uint8_t *copy = dyn_memdup(p, len);
        crdt_set_remove(z->s, copy, len);
        dyn_free(copy);
    }
    z->dirty = 1;
    z->maybe_hidden = 1;
    z->ncard = 0;
    z->card_known = 1;
}

/* ---- join, compaction, encoding ---------------------------------------- */

struct crdt_zset *crdt_zset_join(const struct crdt_zset *a,
                                 const struct crdt_zset *b)
{
    return wrap(crdt_set_join(a->s, b->s));
}

int crdt_zset_claim(struct crdt_zset *z, uint64_t actor, uint64_t lo,
                    uint64_t hi)
{
    return crdt_set_claim(z->s, actor, lo, hi); /* no entry changes */
}

static int zset_compact(struct crdt_zset *z, const struct vclock *stable,
                        int fold)
{
    int rc = fold ? crdt_set_compact(z->s, stable)
                  : crdt_set_compact_marks(z->s, stable);
    if (rc)
        return rc;
    /* A removed member's hidden entries guard against a ZINCRBY concurrent
     * with the ZREM; under the precondition none can arrive any more.
     * Adds and increments leave none: a run of them skips the sweep. */
    if (!z->maybe_hidden)
        return 0;
    z->maybe_hidden = 0;
    view_build(z);
    struct zcopies c = { 0, NULL, NULL };
    uint32_t cap = 0;
    for (uint32_t k = 0; k < z->ng; k++) {
        const struct zgroup *g = &z->g[k];
        if (g->visible)
            continue;
        for (uint32_t j = 0; j < g->nent; j++) {
            if (c.n == cap) {
                cap = cap ? cap * 2 : 8;
                c.p = dyn_realloc(c.p, cap * sizeof(*c.p));
                c.len = dyn_realloc(c.len, cap * sizeof(*c.len));
            }
            const uint8_t *p;
            crdt_set_member(z->s, g->first + j, &p, &c.len[c.n]);
            c.p[c.n] = dyn_memdup(p, c.len[c.n]);
            c.n++;
        }
    }
    if (c.n) {
        copies_remove(z->s, &c, NULL);
        z->dirty = 1;
    } else {
        dyn_free(c.p);
        dyn_free(c.len);
    }
    return 0;
}

int crdt_zset_compact(struct crdt_zset *z, const struct vclock *stable)
{
    return zset_compact(z, stable, 1);
}

int crdt_zset_compact_marks(struct crdt_zset *z, const struct vclock *stable)
{
    return zset_compact(z, stable, 0);
}

void crdt_zset_encode(const struct crdt_zset *z, struct dbuf *out)
{
    crdt_put_u8(out, CRDT_TYPE_ZSET);
    crdt_set_encode(z->s, out);
}

int crdt_zset_decode(const uint8_t *p, size_t len,
                     const struct crdt_limits *lim, struct crdt_zset **out)
{
    struct crdt_limits sl;
    struct crdt_set *s;
    *out = NULL;
    if (len < 1 || p[0] != CRDT_TYPE_ZSET)
        return DYN_EINVAL;
    set_limits(lim, &sl);
    int rc = crdt_set_decode(p + 1, len - 1, &sl, &s);
    if (rc)
        return rc;
    uint32_t max_actors = lim ? lim->max_actors : 0;
    uint32_t n = crdt_set_card(s);
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *ep;
        size_t elen;
        struct zent e;
        crdt_set_member(s, i, &ep, &elen);
        rc = ent_parse(ep, elen, max_actors, &e);
        if (rc == 0 && lim && lim->max_member_len &&
            e.mlen > lim->max_member_len)
            rc = DYN_ELIMIT;
        if (rc) {
            crdt_set_free(s);
            return rc;
        }
    }
    struct crdt_zset *z = wrap(s);
    if (lim && lim->max_members && crdt_zset_card(z) > lim->max_members) {
        crdt_zset_free(z);
        return DYN_ELIMIT;
    }
    *out = z;
    return 0;
}

/* ---- describe ----------------------------------------------------------- */

static void put_snaps(struct dbuf *out, const struct zent *e)
{
    for (uint32_t j = 0; j < e->nsnap; j++) {
        struct zsnap x;
        get_snap(e->snap + (size_t)j * ZSNAP_BYTES, &x);
        dbuf_printf(out, " cancelled(%016llx seq=%llu from=%llu %.17g)",
                    (unsigned long long)x.actor, (unsigned long long)x.seq,
                    (unsigned long long)x.from, x.delta);
    }
}

static void describe_run(const struct crdt_zset *z, const struct zgroup *g,
                         struct dbuf *out)
{
    struct zent e;
    for (uint32_t j = 0; j < g->nent; j++) {
        ent_at(z->s, g->first + j, &e);
        if (e.kind == ZK_REG) {
            dbuf_printf(out, "  reg score=%.17g ts=%llu dot=%016llx:%llu",
                        e.score, (unsigned long long)e.ts,
                        (unsigned long long)e.actor,
                        (unsigned long long)e.counter);
            put_snaps(out, &e);
        } else if (e.kind == ZK_INC) {
            dbuf_printf(out, "  incr actor=%016llx seq=%llu from=%llu "
                        "sum=%.17g", (unsigned long long)e.actor,
                        (unsigned long long)e.seq,
                        (unsigned long long)e.from, e.delta);
        } else {
            dbuf_appends(out, "  removed");
            put_snaps(out, &e);
        }
        dbuf_appendc(out, '\n');
    }
}

void crdt_zset_describe(const struct crdt_zset *z, struct dbuf *out)
{
    struct vclock c;
    view_build(z);
    vclock_init(&c);
    crdt_set_clock(z->s, &c);
    dbuf_printf(out, "zset members=%u entries=%u cloud=%" PRIu64
                     " dots in %u ranges clock=",
                z->nvis, crdt_set_card(z->s), crdt_set_ncloud(z->s),
                crdt_set_ncloud_ranges(z->s));
    for (uint32_t k = 0; k < c.n; k++)
        dbuf_printf(out, "%s%016llx:%llu", k ? "," : "",
                    (unsigned long long)c.e[k].actor,
                    (unsigned long long)c.e[k].counter);
    vclock_free(&c);
    dbuf_appendc(out, '\n');
    for (uint32_t r = 0; r < z->nvis; r++) {
        const struct zgroup *g = &z->g[z->order[r].g];
        dbuf_printf(out, "%u ", r);
        crdt_describe_member(out, g->m, g->len);
        dbuf_printf(out, " %.17g\n", g->score);
        describe_run(z, g, out);
    }
    for (uint32_t k = 0; k < z->ng; k++) {
        const struct zgroup *g = &z->g[k];
        if (g->visible)
            continue;
        dbuf_appends(out, "hidden ");
        crdt_describe_member(out, g->m, g->len);
        dbuf_appendc(out, '\n');
        describe_run(z, g, out);
    }
}
