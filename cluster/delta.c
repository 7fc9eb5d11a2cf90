/*
 * delta.c -- an object as an edit of the version before it.  delta.h has
 * the format and what it is for; this file has the search.
 *
 * Why this works for the objects we send: an op changes a few places of a
 * canonical encoding (the dot and time in the object's header, a clock
 * entry or two, a count, the member or element it added or removed) and
 * leaves long runs between them equal, shifted by what was inserted
 * before them.  So after each difference the two texts are back in step
 * within a few hundred bytes.  The search after a difference indexes the
 * base's next DELTA_WINDOW bytes by their DELTA_SYNC-byte grams and looks
 * the target's next DELTA_WINDOW bytes up in it, plus a few diagonals
 * (target position minus base position) near the common tail's, for an
 * insert or drop bigger than the window.  Encodings repeat short runs (an
 * actor id in every member of a set, a flag byte and a length), so a
 * candidate is scored by the equal run it starts, counted up to
 * DELTA_RUNCAP, less the bytes it drops and inserts to get there: the
 * place where the texts go on together beats a repeat that breaks off a
 * few bytes later, and a near sync with a long enough run beats a far one
 * with a longer run.  Each search is bounded, so making an edit is linear
 * in the object; an edit this misses is only bigger, never wrong, and
 * past the caller's max the whole object goes instead.
 */
#include "cluster/delta.h"

#include <string.h>
#include "server/util.h"
#include "server/wire.h"

#define DELTA_SYNC 8     /* equal bytes that count as back in step */
#define DELTA_WINDOW 1024 /* how far ahead a sync is looked for */
#define DELTA_SPREAD 3    /* diagonals either side of the tail's */
#define DELTA_HBITS 11    /* the window's index: 2^11 slots */
#define DELTA_RUNCAP 256  /* a run this long is as good as longer */
#define DELTA_BLOCK 1024  /* equal runs are first skipped by blocks */

static void put_le64(struct dbuf *b, uint64_t v)
{
    uint8_t p[8];
    for (int k = 0; k < 8; k++)
        p[k] = (uint8_t)(v >> (8 * k));
    dbuf_append(b, p, 8);
}

static uint64_t get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int k = 7; k >= 0; k--)
        v = v << 8 | p[k];
    return v;
}

static void put_varint(struct dbuf *b, uint64_t v)
{
    uint8_t p[WIRE_VARINT_MAX];
    dbuf_append(b, p, wire_varint_put(p, v));
}

/* Length of the equal run at a and b, at most max: a word at a time. */
static size_t run_fwd(const uint8_t *a, const uint8_t *b, size_t max)
{
    size_t k = 0;
    while (k + DELTA_BLOCK <= max && memcmp(a + k, b + k, DELTA_BLOCK) == 0)
        k += DELTA_BLOCK; /* libc's memcmp is the fast way over long runs */
    while (k + 8 <= max) {
        uint64_t x, y;
        memcpy(&x, a + k, 8);
        memcpy(&y, b + k, 8);
        if (x != y)
            break;
        k += 8;
    }
    while (k < max && a[k] == b[k])
        k++;
    return k;
}

/* Length of the equal run that ends at a_end and b_end, at most max. */
static size_t run_back(const uint8_t *a_end, const uint8_t *b_end,
                       size_t max)
{
    size_t k = 0;
    while (k + DELTA_BLOCK <= max &&
           memcmp(a_end - k - DELTA_BLOCK, b_end - k - DELTA_BLOCK,
                  DELTA_BLOCK) == 0)
        k += DELTA_BLOCK;
    while (k + 8 <= max) {
        uint64_t x, y;
        memcpy(&x, a_end - k - 8, 8);
        memcpy(&y, b_end - k - 8, 8);
        if (x != y)
            break;
        k += 8;
    }
    while (k < max && a_end[-1 - (ptrdiff_t)k] == b_end[-1 - (ptrdiff_t)k])
        k++;
    return k;
}

struct texts {
    const uint8_t *b, *t;
    size_t blen, tlen;
    size_t tail; /* the common tail's length */
};

/* The first place at or after (i, j) on diagonal d (target position minus
 * base position) where DELTA_SYNC bytes agree, within DELTA_WINDOW: 1 and
 * *x (its base position), or 0. */
static int sync_on(const struct texts *s, size_t i, size_t j, ptrdiff_t d,
                   size_t *x)
{
    ptrdiff_t lo = (ptrdiff_t)j - d; /* x + d >= j */
    size_t from = lo > (ptrdiff_t)i ? (size_t)lo : i;
    for (size_t k = from; k < from + DELTA_WINDOW; k++) {
        size_t tk = (size_t)((ptrdiff_t)k + d);
        if (k + DELTA_SYNC > s->blen || tk + DELTA_SYNC > s->tlen)
            return 0;
        if (s->b[k] == s->t[tk] &&
            memcmp(s->b + k, s->t + tk, DELTA_SYNC) == 0) {
            *x = k;
            return 1;
        }
    }
    return 0;
}

static uint32_t gram_slot(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return (uint32_t)((v * 0x9e3779b97f4a7c15ULL) >> (64 - DELTA_HBITS));
}

/* The window's index: per slot, the generation that filled it (high 16
 * bits) and the base offset in the window plus one (low 16). */
struct index {
    uint32_t slot[1u << DELTA_HBITS];
    uint32_t gen;
};

/* What reaching (x, y) from (i, j) costs: the bytes dropped and
 * inserted, less the part of the move between diagonals (target position
 * minus base position) that goes toward the common tail's: the texts'
 * lengths differ by that much, so the edit pays it somewhere anyway.
 * Without that credit an insert longer than DELTA_RUNCAP (a turn's pushes
 * onto a list of equal values) could never win over the short runs a
 * repetitive text offers on the wrong diagonals, step after step. */
static long cost_of(const struct texts *s, size_t i, size_t j, size_t x,
                    size_t y)
{
    ptrdiff_t d0 = (ptrdiff_t)j - (ptrdiff_t)i;
    ptrdiff_t d = (ptrdiff_t)y - (ptrdiff_t)x;
    ptrdiff_t dt = (ptrdiff_t)s->tlen - (ptrdiff_t)s->blen;
    long c = (long)((x - i) + (y - j));
    if ((d0 <= d && d <= dt) || (dt <= d && d <= d0))
        c -= (long)(d > d0 ? d - d0 : d0 - d);
    return c;
}

/* A candidate sync (x, y): better than *best when the equal run it starts
 * (up to DELTA_RUNCAP) less what it costs (cost_of) is higher.  *run is
 * the run's length. */
static void consider(const struct texts *s, size_t i, size_t j, size_t x,
                     size_t y, long *best, size_t *i2, size_t *j2,
                     size_t *run)
{
    size_t r = run_fwd(s->b + x, s->t + y,
                       DYN_MIN(DELTA_RUNCAP,
                               DYN_MIN(s->blen - x, s->tlen - y)));
    long score = (long)r - cost_of(s, i, j, x, y);
    *run = r;
    if (score > *best) {
        *best = score;
        *i2 = x;
        *j2 = y;
    }
}

/* Where base and target are back in step after a difference at (i, j).
 * Candidates: every DELTA_SYNC-byte run of the target's next DELTA_WINDOW
 * bytes found in the base's next DELTA_WINDOW (an index of the base's
 * window), and the first sync on each diagonal near the common tail's (an
 * insert or drop bigger than the window).  The one whose equal run, less
 * what reaching it costs, is longest wins: short runs that repeat (the
 * same actor id in every member) lose to the run that goes on.  Else the
 * start of the common tail (or the ends). */
static void next_sync(const struct texts *s, struct index *ix, size_t i,
                      size_t j, size_t *i2, size_t *j2)
{
    size_t tail = DYN_MIN(s->tail, DYN_MIN(s->blen - i, s->tlen - j));
    *i2 = s->blen - tail;
    *j2 = s->tlen - tail;
    long best = (long)DYN_MIN(tail, DELTA_RUNCAP) -
                cost_of(s, i, j, *i2, *j2);
    if (++ix->gen == 0x10000) {
        memset(ix->slot, 0, sizeof(ix->slot));
        ix->gen = 1;
    }
    uint32_t g = ix->gen << 16;
    size_t bend = DYN_MIN(i + DELTA_WINDOW, s->blen);
    for (size_t x = bend; x-- > i;) /* backwards: the first x stays */
        if (x + DELTA_SYNC <= s->blen)
            ix->slot[gram_slot(s->b + x)] = g | (uint32_t)(x - i + 1);
    size_t tend = DYN_MIN(j + DELTA_WINDOW, s->tlen);
    ptrdiff_t last_d = PTRDIFF_MAX;
    size_t last_end = 0; /* the target end of the last run measured */
    for (size_t y = j; y < tend && y + DELTA_SYNC <= s->tlen; y++) {
        if ((long)DELTA_RUNCAP - (long)(y - j) <= best)
            break; /* nothing further can win */
        uint32_t h = ix->slot[gram_slot(s->t + y)];
        if ((h & 0xffff0000u) != g)
            continue;
        size_t x = i + (h & 0xffff) - 1;
        ptrdiff_t d = (ptrdiff_t)y - (ptrdiff_t)x;
        if (d == last_d && y < last_end)
            continue; /* inside a run already measured */
        if (memcmp(s->b + x, s->t + y, DELTA_SYNC) != 0)
            continue;
        size_t run;
        consider(s, i, j, x, y, &best, i2, j2, &run);
        last_d = d;
        last_end = y + run;
    }
    ptrdiff_t dt = (ptrdiff_t)s->tlen - (ptrdiff_t)s->blen;
    for (ptrdiff_t d = dt - DELTA_SPREAD; d <= dt + DELTA_SPREAD; d++) {
        size_t x, run;
        if (sync_on(s, i, j, d, &x))
            consider(s, i, j, x, (size_t)((ptrdiff_t)x + d), &best, i2, j2,
                     &run);
    }
}

int delta_make(const uint8_t *base, size_t blen, uint64_t bdigest,
               const uint8_t *target, size_t tlen, uint64_t tdigest,
               size_t max, struct dbuf *out)
{
    size_t start = out->len;
    dbuf_appendc(out, DELTA_FORMAT);
    put_le64(out, bdigest);
    put_le64(out, tdigest);
    put_varint(out, tlen);
    struct texts s = {base, target, blen, tlen, 0};
    struct index *ix = dyn_calloc(1, sizeof(*ix));
    s.tail = run_back(base + blen, target + tlen, DYN_MIN(blen, tlen));
    size_t ci = 0, i = 0, j = 0; /* ci: the base's cursor after the ops */
    for (;;) {
        size_t k = run_fwd(base + i, target + j,
                           DYN_MIN(blen - i, tlen - j));
        i += k;
        j += k;
        if (i == blen && j == tlen)
            break; /* the rest of the base is the rest of the target */
        size_t i2, j2;
        next_sync(&s, ix, i, j, &i2, &j2);
        put_varint(out, i - ci);
        put_varint(out, i2 - i);
        put_varint(out, j2 - j);
        dbuf_append(out, target + j, j2 - j);
        ci = i = i2;
        j = j2;
        if (out->len - start > max)
            break;
    }
    dyn_free(ix);
    if (out->len - start > max) {
        out->len = start;
        return DYN_ELIMIT;
    }
    return 0;
}

int delta_digests(const void *delta, size_t dlen, uint64_t *base,
                  uint64_t *target)
{
    const uint8_t *p = delta;
    if (dlen < DELTA_HEADER || p[0] != DELTA_FORMAT)
        return DYN_EINVAL;
    *base = get_le64(p + 1);
    *target = get_le64(p + 9);
    return 0;
}

static int get_varint(const uint8_t *p, size_t len, size_t *at, uint64_t *v)
{
    size_t used;
    if (wire_varint_get(p + *at, len - *at, v, &used) != 0)
        return DYN_EINVAL;
    *at += used;
    return 0;
}

/* The target's length, and in *at where the ops begin. */
static int target_len_at(const void *delta, size_t dlen, uint64_t *tlen,
                         size_t *at)
{
    uint64_t bd, td;
    *at = DELTA_HEADER;
    if (delta_digests(delta, dlen, &bd, &td) != 0 ||
        get_varint(delta, dlen, at, tlen) != 0)
        return DYN_EINVAL;
    return 0;
}

int delta_target_len(const void *delta, size_t dlen, uint64_t *tlen)
{
    size_t at;
    return target_len_at(delta, dlen, tlen, &at);
}

int delta_patch(const uint8_t *base, size_t blen, const void *delta,
                size_t dlen, size_t limit, uint8_t **out, size_t *olen)
{
    uint64_t tlen;
    if (delta_target_len(delta, dlen, &tlen) != 0)
        return DYN_EINVAL;
    if (tlen > limit)
        return DYN_ELIMIT;
    uint8_t *t = dyn_malloc(tlen ? (size_t)tlen : 1);
    int rc = delta_patch_into(base, blen, delta, dlen, t, (size_t)tlen);
    if (rc != 0) {
        dyn_free(t);
        return rc;
    }
    *out = t;
    *olen = (size_t)tlen;
    return 0;
}

int delta_patch_into(const uint8_t *base, size_t blen, const void *delta,
                     size_t dlen, uint8_t *t, size_t tlen)
{
    const uint8_t *p = delta;
    uint64_t want;
    size_t at;
    if (target_len_at(delta, dlen, &want, &at) != 0 || want != tlen)
        return DYN_EINVAL;
    if (tlen > blen + (dlen - at))
        return DYN_EINVAL; /* more than the base and the inserts hold */
    size_t ci = 0, tj = 0;
    while (at < dlen) {
        uint64_t keep, drop, ilen;
        if (get_varint(p, dlen, &at, &keep) != 0 ||
            get_varint(p, dlen, &at, &drop) != 0 ||
            get_varint(p, dlen, &at, &ilen) != 0 || keep > blen - ci ||
            drop > blen - ci - keep || ilen > dlen - at ||
            keep > tlen - tj || ilen > tlen - tj - keep)
            return DYN_EINVAL;
        memcpy(t + tj, base + ci, (size_t)keep);
        tj += (size_t)keep;
        ci += (size_t)(keep + drop);
        memcpy(t + tj, p + at, (size_t)ilen);
        tj += (size_t)ilen;
        at += (size_t)ilen;
    }
    if (blen - ci != tlen - tj)
        return DYN_EINVAL;
    memcpy(t + tj, base + ci, blen - ci);
    return 0;
}

int delta_apply(const uint8_t *base, size_t blen, const void *delta,
                size_t dlen, size_t limit, uint8_t **out, size_t *olen)
{
    uint64_t bd, td;
    if (delta_digests(delta, dlen, &bd, &td) != 0)
        return DYN_EINVAL;
    if (dyn_hash64(base, blen) != bd)
        return DYN_ENOTFOUND;
    uint8_t *t;
    size_t tlen;
    int rc = delta_patch(base, blen, delta, dlen, limit, &t, &tlen);
    if (rc != 0)
        return rc;
    if (dyn_hash64(t, tlen) != td) {
        dyn_free(t);
        return DYN_EINVAL;
    }
    *out = t;
    *olen = tlen;
    return 0;
}
