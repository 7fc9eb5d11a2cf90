/*
 * crdt_list.c -- a list any replica may push to, pop from and edit at any
 * time, built on the ORSWOT (crdt_set.c): Redis's lists under issue #14
 * (docs/TYPES.md, "Lists").
 *
 * An element is a member of the set whose bytes are a *position id*, then
 * the value.  Ids are dense (one fits between any two), immutable and
 * unique, and the set keeps members in byte order, so byte order is list
 * order and a join, which only unions and removes members, never reorders
 * two elements: every replica shows the same order, and each replica's
 * own order of the elements it saw survives every merge.  Join, context,
 * compaction, limits and the untrusted-bytes decoder are the set's; a
 * removed element leaves no tombstone (the set's context covers its dot).
 *
 * Position id: tokens, then END.
 *   DIGIT  0x02 | u32 BE        a place among siblings
 *   DOT    0x01 | u64 BE actor | u64 BE counter
 *   END    0x00
 * Byte order is token order (END < DOT < DIGIT, payloads big-endian).
 * Every id ends with DIGIT(x >= 1), its own DOT (the dot of the op that
 * inserted it), END; so two elements never share an id, and concurrent
 * inserts at one place (same digits) are ordered by their dots.  The
 * allocator (alloc) copies a neighbour's tokens while there is no room
 * and emits DIGIT(x) as soon as one fits strictly between the neighbours;
 * copying a DOT is how an element goes between two same-digit siblings.
 * Grammar (checked by the decoder; alloc relies on it): the first token
 * is a DIGIT, no DOT follows a DOT, no DOT follows DIGIT(0).  Two
 * elements with one id and different values come only from a forged
 * state, but a join with it keeps both, so the decoder accepts them (the
 * state stays readable) and only an insert between those two is refused
 * (DYN_EINVAL).
 *
 * Short ids.  The first element is DIGIT(2^31); RPUSH takes the last
 * digit + STEP (2^12), LPUSH the first - STEP, so a level holds 2^19
 * pushes at each end; when fewer than STEP digits remain it goes one
 * level down (5 more bytes), where 2^20 more fit.  An insert between two
 * neighbours bisects their gap (12 times between two pushes before it
 * goes down a level, 31 times on a fresh level).  A depth-1 id is 23
 * bytes: 100,000 RPUSHes (or LPUSHes) of 8-byte values encode in 33.0
 * bytes per element once compacted (list_ids_stay_short prints it); 2000
 * LINSERTs at one place average 198 bytes.
 *
 * Errors: see crdt.h.  Nothing here aborts on bad input.
 */
#include "cluster/crdt.h"

#include <inttypes.h>

#include "cluster/crdt_int.h"

#define TOK_END 0x00
#define TOK_DOT 0x01
#define TOK_DIGIT 0x02
#define TOK_NONE 0xff /* no bound on that side */
#define DIGIT_LEN 5
#define DOT_LEN 17
#define STEP (UINT64_C(1) << 12)
#define DIGITS (UINT64_C(1) << 32)

struct crdt_list {
    struct crdt_set *s;
    int pinned; /* crdt_list_pin */
};

struct tok {
    uint8_t kind;
    uint32_t d;        /* DIGIT */
    const uint8_t *raw; /* the token's bytes */
    size_t len;
};

enum mode { MODE_MID, MODE_LEFT, MODE_RIGHT };

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int k = 0; k < 8; k++)
        v = v << 8 | p[k];
    return v;
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int k = n - 1; k >= 0; k--, v >>= 8)
        p[k] = (uint8_t)v;
}

/*
 * The id at the start of an element's bytes: 0 and its length through
 * END, or DYN_EINVAL when it breaks the grammar or CRDT_LIST_MAX_ID.
 */
static int id_parse(const uint8_t *p, size_t len, size_t *idlen)
{
    size_t off = 0;
    uint8_t prev = TOK_END, prev2 = TOK_END;
    uint32_t prevd = 0;
    for (;;) {
        if (off >= len || off > CRDT_LIST_MAX_ID)
            return DYN_EINVAL;
        uint8_t k = p[off];
        if (k == TOK_END) {
            /* ... DIGIT(>= 1) DOT END */
            if (prev != TOK_DOT || prev2 != TOK_DIGIT)
                return DYN_EINVAL;
            *idlen = off + 1;
            return off + 1 <= CRDT_LIST_MAX_ID ? 0 : DYN_EINVAL;
        }
        if (k == TOK_DIGIT) {
            if (len - off < DIGIT_LEN)
                return DYN_EINVAL;
            prevd = be32(p + off + 1);
            off += DIGIT_LEN;
        } else if (k == TOK_DOT) {
            if (len - off < DOT_LEN || prev == TOK_END || prev == TOK_DOT ||
                (prev == TOK_DIGIT && prevd == 0) ||
                be64(p + off + 9) == 0)
                return DYN_EINVAL;
            off += DOT_LEN;
        } else {
            return DYN_EINVAL;
        }
        prev2 = prev;
        prev = k;
    }
}

/* The token at *off of a valid id; END does not advance. */
static void tok_read(const uint8_t *id, size_t *off, struct tok *t)
{
    t->kind = id[*off];
    t->raw = id + *off;
    t->d = 0;
    if (t->kind == TOK_END) {
        t->len = 1;
        return;
    }
    t->len = t->kind == TOK_DIGIT ? DIGIT_LEN : DOT_LEN;
    if (t->kind == TOK_DIGIT)
        t->d = be32(id + *off + 1);
    *off += t->len;
}

static void emit_digit(struct dbuf *out, uint32_t d)
{
    uint8_t b[DIGIT_LEN] = { TOK_DIGIT };
    put_be(b + 1, d, 4);
    dbuf_append(out, b, sizeof(b));
}

/*
 * A new id strictly between the ids L and R (NULL: no bound), ending with
 * dot, into out (reset first).  mode: LEFT when L is NULL (a push at the
 * head: digits step down), RIGHT when R is NULL (at the tail: step up),
 * else MID (bisect).  DYN_EINVAL when L and R are one id, DYN_ELIMIT
 * when the id would pass CRDT_LIST_MAX_ID.
 */
static int alloc(const uint8_t *L, const uint8_t *R, enum mode mode,
                 const struct crdt_dot *dot, struct dbuf *out)
{
    size_t li = 0, ri = 0;
    int track_l = L != NULL, track_r = R != NULL;
    uint64_t x;

    dbuf_reset(out);
    for (;;) {
        struct tok l = { TOK_NONE, 0, NULL, 0 }, r = { TOK_NONE, 0, NULL, 0 };
        if (out->len + DIGIT_LEN + DOT_LEN + 1 > CRDT_LIST_MAX_ID)
            return DYN_ELIMIT;
        if (track_l)
            tok_read(L, &li, &l);
        if (track_r)
            tok_read(R, &ri, &r);
        if (track_l && track_r && l.kind == r.kind && l.len == r.len &&
            memcmp(l.raw, r.raw, l.len) == 0) {
            if (l.kind == TOK_END)
                return DYN_EINVAL;
            dbuf_append(out, l.raw, l.len);
            continue;
        }
        /* DIGIT(x) fits when lo <= x < hi; final digits are >= 1. */
        uint64_t lo = l.kind == TOK_DIGIT ? (uint64_t)l.d + 1 : 1;
        uint64_t hi = r.kind == TOK_DIGIT ? r.d : r.kind == TOK_NONE ? DIGITS
                                                                     : 0;
        if (hi > lo) {
            uint64_t room = hi - lo;
            if (mode == MODE_RIGHT && r.kind == TOK_NONE && room < STEP &&
                l.kind == TOK_DIGIT) {
                dbuf_append(out, l.raw, l.len); /* one level down */
                continue;
            }
            if (mode == MODE_LEFT && l.kind == TOK_NONE && room < STEP &&
                r.kind == TOK_DIGIT) {
                if (R[ri] == TOK_DIGIT) {
                    dbuf_append(out, r.raw, r.len); /* under R's prefix */
                    continue;
                }
                /* R ends here: a level down under the digit before it */
                emit_digit(out, r.d - 1);
                track_l = track_r = 0;
                continue;
            }
            if (mode == MODE_RIGHT && r.kind == TOK_NONE)
                x = lo - 1 + STEP;
            else if (mode == MODE_LEFT && l.kind == TOK_NONE)
                x = hi - STEP;
            else
                x = lo + room / 2;
            break;
        }
        /* No room at this level. */
        if (l.kind == TOK_DIGIT || l.kind == TOK_DOT) {
            dbuf_append(out, l.raw, l.len);
            track_r = 0;
        } else if (r.kind == TOK_DIGIT && r.d == 1) {
            emit_digit(out, 0); /* between L's end (or nothing) and 1 */
            track_l = track_r = 0;
        } else if (r.kind == TOK_DIGIT && r.d == 0) {
            dbuf_append(out, r.raw, r.len);
            track_l = 0;
        } else {
            return DYN_EINVAL; /* not a pair the grammar allows */
        }
    }
    emit_digit(out, (uint32_t)x);
    uint8_t d[DOT_LEN + 1] = { TOK_DOT };
    put_be(d + 1, dot->actor, 8);
    put_be(d + 9, dot->counter, 8);
    d[DOT_LEN] = TOK_END;
    dbuf_append(out, d, sizeof(d));
    return 0;
}

/* ---- the list ------------------------------------------------------------- */

struct crdt_list *crdt_list_new(void)
{
    struct crdt_list *l = dyn_calloc(1, sizeof(*l));
    l->s = crdt_set_new();
    return l;
}

void crdt_list_pin(struct crdt_list *l, int on)
{
    l->pinned = on;
}

void crdt_list_free(struct crdt_list *l)
{
    if (!l || l->pinned)
        return;
    crdt_set_free(l->s);
    dyn_free(l);
}

struct crdt_list *crdt_list_dup(const struct crdt_list *l)
{
    struct crdt_list *d = dyn_calloc(1, sizeof(*d));
    d->s = crdt_set_dup(l->s);
    return d;
}

uint32_t crdt_list_len(const struct crdt_list *l)
{
    return crdt_set_card(l->s);
}

/* Element i's bytes and its id's length. */
static void element(const struct crdt_list *l, uint32_t i, const uint8_t **p,
                    size_t *len, size_t *idlen)
{
    crdt_set_member(l->s, i, p, len);
    int rc = id_parse(*p, *len, idlen);
    dyn_assert(rc == 0); /* the decoder and alloc keep every id valid */
}

void crdt_list_at(const struct crdt_list *l, uint32_t i, const uint8_t **v,
                  size_t *len)
{
    const uint8_t *p;
    size_t n, idlen;
    element(l, i, &p, &n, &idlen);
    *v = p + idlen;
    *len = n - idlen;
}

/* The set's limits for elements: a value's bound plus an id's. */
static void set_limits(const struct crdt_limits *lim, struct crdt_limits *out)
{
    *out = *lim;
    if (lim->max_member_len)
        out->max_member_len = (uint32_t)DYN_MIN(
            (uint64_t)lim->max_member_len + CRDT_LIST_MAX_ID, UINT32_MAX);
}

/* Inserts v between elements left and right (either may be past an
 * end): the shared part of insert and set. */
static int insert_between(struct crdt_list *l, int64_t left, int64_t right,
                          const void *v, size_t len,
                          const struct crdt_dot *dot,
                          const struct crdt_limits *lim)
{
    uint32_t n = crdt_list_len(l);
    const uint8_t *L = NULL, *R = NULL;
    size_t plen, idlen;
    struct crdt_limits sl = { 0, 0, 0, 0 };
    if (lim && lim->max_member_len && len > lim->max_member_len)
        return DYN_ELIMIT;
    if (lim)
        set_limits(lim, &sl);
    if (left >= 0)
        element(l, (uint32_t)left, &L, &plen, &idlen);
    if (right < (int64_t)n)
        element(l, (uint32_t)right, &R, &plen, &idlen);
    enum mode mode = n == 0 ? MODE_MID : !L ? MODE_LEFT : !R ? MODE_RIGHT
                                                          : MODE_MID;
    struct dbuf id;
    dbuf_init(&id);
    int rc = alloc(L, R, mode, dot, &id);
    if (rc == 0) {
        int added; /* 1 but in a forged state that holds this id already */
        dbuf_append(&id, v, len);
        rc = crdt_set_add(l->s, id.p, id.len, dot, lim ? &sl : NULL, &added);
    }
    dbuf_free(&id);
    return rc;
}

int crdt_list_insert(struct crdt_list *l, uint32_t i, const void *v,
                     size_t len, const struct crdt_dot *dot,
                     const struct crdt_limits *lim)
{
    if (i > crdt_list_len(l))
        return DYN_EINVAL;
    return insert_between(l, (int64_t)i - 1, i, v, len, dot, lim);
}

int crdt_list_insert_many(struct crdt_list *l, uint32_t i,
                          const void *const *v, const size_t *lens,
                          uint32_t k, const struct crdt_dot *first,
                          const struct crdt_limits *lim)
{
    uint32_t n = crdt_list_len(l);
    if (i > n || first->counter == 0 || first->counter + k < first->counter)
        return DYN_EINVAL;
    if (lim && lim->max_members && (uint64_t)n + k > lim->max_members)
        return DYN_ELIMIT;
    for (uint32_t j = 0; j < k; j++)
        if (lim && lim->max_member_len && lens[j] > lim->max_member_len)
            return DYN_ELIMIT;
    /* At the head the last value goes in first, so each takes LEFT steps
     * as LPUSHes do; elsewhere in order, as RPUSHes do. */
    for (uint32_t j = 0; j < k; j++) {
        uint32_t x = i == 0 && n > 0 ? k - 1 - j : j;
        struct crdt_dot d = { first->actor, first->counter + j };
        int rc = crdt_list_insert(l, i == 0 && n > 0 ? 0 : i + j, v[x],
                                  lens[x], &d, lim);
        if (rc != 0)
            return rc;
    }
    return 0;
}

void crdt_list_remove(struct crdt_list *l, uint32_t i)
{
    crdt_list_remove_at(l, &i, 1);
}

void crdt_list_remove_at(struct crdt_list *l, const uint32_t *ix, uint32_t k)
{
    crdt_set_remove_at(l->s, ix, k);
}

int crdt_list_set(struct crdt_list *l, uint32_t i, const void *v, size_t len,
                  const struct crdt_dot *dot, const struct crdt_limits *lim)
{
    if (i >= crdt_list_len(l))
        return DYN_EINVAL;
    /* Add the new element first (between i - 1 and i + 1: its id falls
     * on either side of the old one), so an error changes nothing; the
     * old one goes right after, so one more member is allowed meanwhile. */
    struct crdt_limits more = { 0, 0, 0, 0 };
    if (lim) {
        more = *lim;
        if (more.max_members && more.max_members < UINT32_MAX)
            more.max_members++;
    }
    const uint8_t *old;
    size_t olen, idlen;
    element(l, i, &old, &olen, &idlen);
    uint8_t *copy = dyn_memdup(old, olen);
    int rc = insert_between(l, (int64_t)i - 1, (int64_t)i + 1, v, len, dot,
                            lim ? &more : NULL);
    if (rc == 0)
        crdt_set_remove(l->s, copy, olen);
    dyn_free(copy);
    return rc;
}

struct crdt_list *crdt_list_join(const struct crdt_list *a,
                                 const struct crdt_list *b)
{
    struct crdt_list *r = dyn_calloc(1, sizeof(*r));
    r->s = crdt_set_join(a->s, b->s);
    return r;
}

void crdt_list_clock(const struct crdt_list *l, struct vclock *out)
{
    crdt_set_clock(l->s, out);
}

void crdt_list_seen(const struct crdt_list *l, struct vclock *out)
{
    crdt_set_seen(l->s, out);
}

int crdt_list_compact(struct crdt_list *l, const struct vclock *stable)
{
    return crdt_set_compact(l->s, stable);
}

int crdt_list_compact_marks(struct crdt_list *l, const struct vclock *stable)
{
    return crdt_set_compact_marks(l->s, stable);
}

int crdt_list_claim(struct crdt_list *l, uint64_t actor, uint64_t lo,
                    uint64_t hi)
{
    return crdt_set_claim(l->s, actor, lo, hi);
}

void crdt_list_encode(const struct crdt_list *l, struct dbuf *out)
{
    crdt_put_u8(out, CRDT_TYPE_LIST);
    crdt_set_encode(l->s, out);
}

int crdt_list_decode(const uint8_t *p, size_t len,
                     const struct crdt_limits *lim, struct crdt_list **out)
{
    struct crdt_limits sl;
    struct crdt_set *s = NULL;
    *out = NULL;
    if (len < 1 || p[0] != CRDT_TYPE_LIST)
        return DYN_EINVAL;
    if (lim)
        set_limits(lim, &sl);
    int rc = crdt_set_decode(p + 1, len - 1, lim ? &sl : NULL, &s);
    if (rc != 0)
        return rc;
    for (uint32_t k = 0; k < crdt_set_card(s); k++) {
        const uint8_t *m;
        size_t ml, idlen;
        crdt_set_member(s, k, &m, &ml);
        if (id_parse(m, ml, &idlen) != 0) {
            crdt_set_free(s);
            return DYN_EINVAL;
        }
        if (lim && lim->max_member_len && ml - idlen > lim->max_member_len) {
            crdt_set_free(s);
            return DYN_ELIMIT;
        }
    }
    struct crdt_list *l = dyn_calloc(1, sizeof(*l));
    l->s = s;
    *out = l;
    return 0;
}

/* ---- describe ------------------------------------------------------------- */

static void describe_id(const uint8_t *id, struct dbuf *out)
{
    size_t off = 0;
    struct tok t;
    int first = 1;
    for (;;) {
        tok_read(id, &off, &t);
        if (t.kind == TOK_END)
            return;
        if (!first)
            dbuf_appendc(out, '.');
        first = 0;
        if (t.kind == TOK_DIGIT)
            dbuf_printf(out, "%u", t.d);
        else
            dbuf_printf(out, "(%016" PRIx64 ":%" PRIu64 ")", be64(t.raw + 1),
                        be64(t.raw + 9));
    }
}

void crdt_list_describe(const struct crdt_list *l, struct dbuf *out)
{
    struct vclock c;
    vclock_init(&c);
    crdt_set_clock(l->s, &c);
    dbuf_appends(out, "clock");
    for (uint32_t k = 0; k < c.n; k++)
        dbuf_printf(out, " %016" PRIx64 ":%" PRIu64, c.e[k].actor,
                    c.e[k].counter);
    vclock_free(&c);
    dbuf_printf(out, "\ncloud %" PRIu64 " dots in %u ranges, element dots %"
                     PRIu64 "\nelements %u\n",
                crdt_set_ncloud(l->s), crdt_set_ncloud_ranges(l->s),
                crdt_set_ndots(l->s),
                crdt_list_len(l));
    for (uint32_t i = 0; i < crdt_list_len(l); i++) {
        const uint8_t *p;
        size_t n, idlen;
        element(l, i, &p, &n, &idlen);
        describe_id(p, out);
        dbuf_appendc(out, ' ');
        crdt_describe_member(out, p + idlen, n - idlen);
        dbuf_appendc(out, '\n');
    }
}
