/*
 * crdt_set.c -- an add-wins observed-remove set without tombstones
 * (ORSWOT, as Riak 2.0's sets), members are byte strings: what SADD and
 * SREM do when any replica may take them at any time (issue #14,
 * docs/TYPES.md).
 *
 * State.
 *   context  every dot this state has seen: a clock (per actor, all dots
 *            up to the counter) and a cloud (the seen dots above a gap,
 *            as ranges of one actor's consecutive counters).  Counters
 *            are the node's dot counters, which other keys share, so one
 *            key sees an actor's dots with gaps; the cloud keeps them
 *            exactly rather than assume the gaps were seen.  A caller
 *            that knows a gap's dots went to other keys may say so
 *            (crdt_set_claim), which keeps the cloud one range.
 *   members  sorted; each holds the dots of the adds that put it there
 *            and that no op has observed since (normally one), and a mark
 *            (below).
 *   stable   the clock of the last compaction (crdt_set_compact*).
 *
 * Ops (the coordinator's; the dot is its actor and next counter):
 *   add m:    m's dots := { dot }, and the dot joins the context (add
 *             observes and replaces every dot of m it sees);
 *   remove m: m goes away; its dots stay in the context, nothing else is
 *             kept (no tombstone).
 * Join (the ORSWOT rule): a dot of m survives when both sides hold it, or
 * when the side that lacks it has not seen it (it is not in that side's
 * context).  A member is present while it holds a dot or a mark.  So a
 * remove beats only the adds it saw, and a concurrent add wins.
 *
 * Compaction.  Once every replica has seen the dots up to a clock S and
 * all later states descend from one state that holds them (the caller's
 * precondition, see crdt.h), the members' dots up to S are replaced by a
 * one-bit mark: "present since an add that every replica has seen".  On
 * a node alone the cloud's dots up to S also fold into the clock
 * (crdt_set_compact); in a cluster the context stays exact
 * (crdt_set_compact_marks), for the mark rule.  A join keeps a mark when
 * the other side has the member with a mark, or with a dot up to the
 * marking side's S (the other side still holds that old add); a member
 * the other side dropped, or re-added with a new dot only, was removed
 * there after it saw the add, so the mark goes -- when that side's
 * context holds every dot the marking side's held up to S (it descends
 * from a state that held the add; join_member has the cases).  A dot up
 * to the joined S that survives a join (only a state that breaks the
 * precondition gives one) becomes a mark, so a joined state always
 * satisfies the invariants.
 *
 * Encoding (canonical; decode checks every invariant and re-encodes):
 *
 *   u8 CRDT_TYPE_SET
 *   varint nactors, nactors x u64 actor (LE), strictly ascending: exactly
 *          the actors of the clock and the cloud
 *   varint nclock,  x (varint actor index, varint counter >= 1), by index
 *   varint ncloud,  x (varint index, varint lo >= 1, varint hi - lo): the
 *                   ranges, by (index, lo); each lo > clock + 1 (a range
 *                   that continues the clock is folded), and one actor's
 *                   ranges neither touch nor overlap
 *   varint nstable, x (varint index, varint counter >= 1), by index,
 *                   each <= the context's highest dot of its actor
 *   varint nmembers, then per member, by (bytes, length):
 *          varint len | bytes | varint (ndots << 1 | mark) |
 *          ndots x (varint index, varint counter) by (index, counter),
 *          each in the context and above stable; ndots > 0 or mark;
 *          mark only with a stable clock
 *
 * A member's metadata is one dot, 2 to 15 bytes (the actor is an index).
 *
 * Errors: see crdt.h.  Nothing here aborts on bad input.
 */
#include "cluster/crdt.h"

#include <inttypes.h>
#include <stdlib.h>

#include "cluster/crdt_int.h"

struct smember {
    uint8_t *p;
    uint32_t len;
    uint8_t mark;
    uint32_t ndots;
    struct crdt_dot *dots; /* sorted by (actor, counter) */
};

/* A run of an actor's dots in the cloud: counters lo..hi, all seen. */
struct crange {
    uint64_t actor, lo, hi;
};

struct crdt_set {
    struct vclock clock;  /* ts_ms unused (0) */
    struct vclock stable; /* ts_ms unused (0) */
    uint32_t ncloud, capcloud; /* ranges */
    struct crange *cloud; /* sorted by (actor, lo); one actor's ranges
                           * neither touch nor overlap, and each starts
                           * above the clock's counter + 1 */
    uint32_t n, cap;
    struct smember *m; /* sorted by crdt_bytes_cmp; m[0..cap) allocated */
    uint32_t front; /* free slots before m (the allocation starts at
                     * m - front): an insert or remove near the start
                     * shifts the members before it, not those after */
    int pinned; /* crdt_set_pin: crdt_set_free leaves it alone */
};

static int dot_cmp(const struct crdt_dot *a, const struct crdt_dot *b)
{
    return crdt_dot_cmp_raw(a->actor, a->counter, b->actor, b->counter);
}

struct crdt_set *crdt_set_new(void)
{
    struct crdt_set *s = dyn_calloc(1, sizeof(*s));
    vclock_init(&s->clock);
    vclock_init(&s->stable);
    return s;
}

static void member_clear(struct smember *m)
{
    dyn_free(m->p);
    dyn_free(m->dots);
    m->p = NULL;
    m->dots = NULL;
}

void crdt_set_free(struct crdt_set *s)
{
    if (!s || s->pinned)
        return;
    for (uint32_t k = 0; k < s->n; k++)
        member_clear(&s->m[k]);
    if (s->m)
        dyn_free(s->m - s->front);
    dyn_free(s->cloud);
    vclock_free(&s->clock);
    vclock_free(&s->stable);
    dyn_free(s);
}

void crdt_set_pin(struct crdt_set *s, int on)
{
    s->pinned = on;
}

/* Room for one more member after the last (the front room stays). */
static void members_room(struct crdt_set *s)
{
    if (s->n < s->cap)
        return;
    s->cap = s->cap ? s->cap * 2 : 4;
    struct smember *base = s->m ? s->m - s->front : NULL;
    base = dyn_realloc(base, ((size_t)s->front + s->cap) * sizeof(*s->m));
    s->m = base + s->front;
}

/* Appends a member taking p and dots (owned by the set afterwards). */
static void push_member_take(struct crdt_set *s, uint8_t *p, uint32_t len,
                             uint8_t mark, struct crdt_dot *dots,
                             uint32_t ndots)
{
    members_room(s);
    struct smember *m = &s->m[s->n++];
    m->p = p;
    m->len = len;
    m->mark = mark;
    m->dots = dots;
    m->ndots = ndots;
}

/* Puts *nm at position at (<= n), shifting whichever side of it is
 * shorter: the members after it, or those before it into the front room
 * (made, half as large again as the set, when there is none), so pushes
 * at either end cost no more than a few members' moves. */
static void member_insert(struct crdt_set *s, uint32_t at,
                          const struct smember *nm)
{
    if (at < s->n / 2 && s->front == 0 && s->n >= 16) {
        uint32_t room = s->n / 2;
        struct smember *base = dyn_malloc(((size_t)room + s->cap) *
                                          sizeof(*s->m));
        memcpy(base + room, s->m, (size_t)s->n * sizeof(*s->m));
        dyn_free(s->m);
        s->m = base + room;
        s->front = room;
    }
    if (at < s->n / 2 && s->front > 0) {
        s->m--;
        s->front--;
        s->cap++;
        memmove(&s->m[0], &s->m[1], (size_t)at * sizeof(*s->m));
        s->m[at] = *nm;
        s->n++;
        return;
    }
    members_room(s);
    memmove(&s->m[at + 1], &s->m[at], (size_t)(s->n - at) * sizeof(*s->m));
    s->m[at] = *nm;
    s->n++;
}

/* Takes member at out of the array (its bytes are the caller's), shifting
 * the shorter side. */
static void member_delete(struct crdt_set *s, uint32_t at)
{
    if (at < s->n / 2) {
        memmove(&s->m[1], &s->m[0], (size_t)at * sizeof(*s->m));
        s->m++;
        s->front++;
        s->cap--;
    } else {
        memmove(&s->m[at], &s->m[at + 1],
                (size_t)(s->n - at - 1) * sizeof(*s->m));
    }
    s->n--;
}

static void push_range(struct crdt_set *s, uint64_t actor, uint64_t lo,
                       uint64_t hi)
{
    if (s->ncloud == s->capcloud) {
        s->capcloud = s->capcloud ? s->capcloud * 2 : 4;
        s->cloud = dyn_realloc(s->cloud,
                               (size_t)s->capcloud * sizeof(*s->cloud));
    }
    struct crange *r = &s->cloud[s->ncloud++];
    r->actor = actor;
    r->lo = lo;
    r->hi = hi;
}

struct crdt_set *crdt_set_dup(const struct crdt_set *s)
{
    struct crdt_set *d = crdt_set_new();
    vclock_copy(&d->clock, &s->clock);
    vclock_copy(&d->stable, &s->stable);
    for (uint32_t k = 0; k < s->ncloud; k++)
        push_range(d, s->cloud[k].actor, s->cloud[k].lo, s->cloud[k].hi);
    for (uint32_t k = 0; k < s->n; k++) {
        const struct smember *m = &s->m[k];
        push_member_take(d, m->len ? dyn_memdup(m->p, m->len) : NULL, m->len,
                         m->mark,
                         m->ndots ? dyn_memdup(m->dots, m->ndots *
                                                            sizeof(*m->dots))
                                  : NULL,
                         m->ndots);
    }
    return d;
}

/* ---- the causal context ------------------------------------------------ */

static int range_cmp(uint64_t actor, uint64_t lo, const struct crange *r)
{
    return crdt_dot_cmp_raw(actor, lo, r->actor, r->lo);
}

/* *at: the index of the first range after (actor, counter) in the order;
 * 1 when the range before it holds the dot. */
static int cloud_find(const struct crdt_set *s, const struct crdt_dot *d,
                      uint32_t *at)
{
    uint32_t lo = 0, hi = s->ncloud;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (range_cmp(d->actor, d->counter, &s->cloud[mid]) >= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *at = lo;
    return lo > 0 && s->cloud[lo - 1].actor == d->actor &&
           d->counter <= s->cloud[lo - 1].hi;
}

static int ctx_has(const struct crdt_set *s, const struct crdt_dot *d)
{
    uint32_t at;
    return d->counter <= vclock_get(&s->clock, d->actor) ||
           cloud_find(s, d, &at);
}

/* The cloud in its one form: ranges the clock covers dropped, a range
 * that continues the clock folded into it, ranges of one actor that
 * touch or overlap merged.  Takes ranges sorted by (actor, lo), which
 * may touch or overlap; one pass. */
static void ctx_normalize(struct crdt_set *s)
{
    uint32_t w = 0;
    for (uint32_t k = 0; k < s->ncloud; k++) {
        struct crange r = s->cloud[k];
        uint64_t c = vclock_get(&s->clock, r.actor);
        if (r.hi <= c)
            continue;
        if (r.lo <= c + 1) {
            vclock_set(&s->clock, r.actor, r.hi, 0);
            continue;
        }
        struct crange *prev = w ? &s->cloud[w - 1] : NULL;
        if (prev && prev->actor == r.actor && r.lo <= prev->hi + 1) {
            prev->hi = DYN_MAX(prev->hi, r.hi);
            continue;
        }
        s->cloud[w++] = r;
    }
    s->ncloud = w;
}

/* Adds the dots lo..hi of actor to the context. */
static void ctx_add_range(struct crdt_set *s, uint64_t actor, uint64_t lo,
                          uint64_t hi)
{
    struct crdt_dot d = { actor, lo };
    uint32_t at;
    cloud_find(s, &d, &at);
    push_range(s, actor, lo, hi);
    memmove(&s->cloud[at + 1], &s->cloud[at],
            (size_t)(s->ncloud - 1 - at) * sizeof(*s->cloud));
    s->cloud[at].actor = actor;
    s->cloud[at].lo = lo;
    s->cloud[at].hi = hi;
    ctx_normalize(s);
}

static void ctx_add(struct crdt_set *s, const struct crdt_dot *d)
{
    if (!ctx_has(s, d))
        ctx_add_range(s, d->actor, d->counter, d->counter);
}

/* 1 when adding actor's dots lo..hi (none of them seen, lo above the
 * clock's counter + 1) would make a new range: none it touches. */
static int range_grows(const struct crdt_set *s, uint64_t actor, uint64_t lo,
                       uint64_t hi)
{
    struct crdt_dot d = { actor, lo };
    uint32_t at;
    cloud_find(s, &d, &at);
    if (at > 0 && s->cloud[at - 1].actor == actor &&
        s->cloud[at - 1].hi + 1 >= lo)
        return 0;
    return !(at < s->ncloud && s->cloud[at].actor == actor &&
             s->cloud[at].lo <= hi + 1);
}

int crdt_set_has_dot(const struct crdt_set *s, const struct crdt_dot *d)
{
    return ctx_has(s, d);
}

/* The highest counter of actor the context holds (0: none). */
static uint64_t ctx_top(const struct crdt_set *s, uint64_t actor)
{
    uint64_t top = vclock_get(&s->clock, actor);
    for (uint32_t k = 0; k < s->ncloud; k++)
        if (s->cloud[k].actor == actor && s->cloud[k].hi > top)
            top = s->cloud[k].hi;
    return top;
}

/* 1 when o's context holds actor's dots lo..hi (all of them). */
static int ctx_has_range(const struct crdt_set *o, uint64_t actor,
                         uint64_t lo, uint64_t hi)
{
    if (hi <= vclock_get(&o->clock, actor))
        return 1;
    struct crdt_dot d = { actor, lo };
    uint32_t at;
    /* normalized: a range never continues the clock, so lo..hi is held
     * only within the clock or within one range */
    return lo > vclock_get(&o->clock, actor) && cloud_find(o, &d, &at) &&
           hi <= o->cloud[at - 1].hi;
}

/* 1 when o's context holds every dot of s's context up to upto (per
 * actor): o descends from a state that held what s held there. */
static int ctx_includes(const struct crdt_set *o, const struct crdt_set *s,
                        const struct vclock *upto)
{
    if (upto->n == 0) /* never compacted: nothing to hold */
        return 1;
    for (uint32_t k = 0; k < upto->n; k++) {
        uint64_t a = upto->e[k].actor, u = upto->e[k].counter;
        uint64_t c = DYN_MIN(vclock_get(&s->clock, a), u);
        if (c && !ctx_has_range(o, a, 1, c))
            return 0;
    }
    for (uint32_t k = 0; k < s->ncloud; k++) {
        const struct crange *r = &s->cloud[k];
        uint64_t u = vclock_get(upto, r->actor);
        if (r->lo <= u && !ctx_has_range(o, r->actor, r->lo,
                                          DYN_MIN(r->hi, u)))
            return 0;
    }
    return 1;
}

int crdt_set_claim(struct crdt_set *s, uint64_t actor, uint64_t lo,
                   uint64_t hi)
{
    if (lo == 0 || lo > hi)
        return DYN_EINVAL;
    ctx_add_range(s, actor, lo, hi);
    return 0;
}

/* Distinct actors of the clock and the cloud. */
static uint32_t ctx_nactors(const struct crdt_set *s)
{
    uint32_t n = s->clock.n, i = 0;
    for (uint32_t k = 0; k < s->ncloud; k++) {
        if (k && s->cloud[k].actor == s->cloud[k - 1].actor)
            continue;
        while (i < s->clock.n && s->clock.e[i].actor < s->cloud[k].actor)
            i++;
        if (i >= s->clock.n || s->clock.e[i].actor != s->cloud[k].actor)
            n++;
    }
    return n;
}

/* ---- members -------------------------------------------------------------- */

static int member_find(const struct crdt_set *s, const void *p, size_t len,
                       uint32_t *at)
{
    uint32_t lo = 0, hi = s->n;
    /* the ends first: pushes at either end of a list are common */
    if (hi && crdt_bytes_cmp(s->m[0].p, s->m[0].len, p, len) > 0) {
        *at = 0;
        return 0;
    }
    if (hi && crdt_bytes_cmp(s->m[hi - 1].p, s->m[hi - 1].len, p, len) < 0) {
        *at = hi;
        return 0;
    }
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (crdt_bytes_cmp(s->m[mid].p, s->m[mid].len, p, len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *at = lo;
    return lo < s->n &&
           crdt_bytes_cmp(s->m[lo].p, s->m[lo].len, p, len) == 0;
}

/* 0 when a dot of actor would make the context name more actors than
 * lim allows. */
static int actor_fits(const struct crdt_set *s, uint64_t actor,
                      const struct crdt_limits *lim)
{
    if (!lim || !lim->max_actors || vclock_get(&s->clock, actor) != 0)
        return 1;
    for (uint32_t k = 0; k < s->ncloud; k++)
        if (s->cloud[k].actor == actor)
            return 1;
    return ctx_nactors(s) < lim->max_actors;
}

int crdt_set_add(struct crdt_set *s, const void *p, size_t len,
                 const struct crdt_dot *dot, const struct crdt_limits *lim,
                 int *added)
{
    uint32_t at;
    if (dot->counter == 0)
        return DYN_EINVAL;
    if (ctx_has(s, dot))
        return CRDT_ESTALE;
    if (len > UINT32_MAX ||
        (lim && lim->max_member_len && len > lim->max_member_len))
        return DYN_ELIMIT;
    int found = member_find(s, p, len, &at);
    if (!found && lim && lim->max_members && s->n >= lim->max_members)
        return DYN_ELIMIT;
    if (!actor_fits(s, dot->actor, lim))
        return DYN_ELIMIT;
    if (lim && lim->max_dots && s->ncloud >= lim->max_dots &&
        dot->counter > vclock_get(&s->clock, dot->actor) + 1 &&
        range_grows(s, dot->actor, dot->counter, dot->counter))
        return DYN_ELIMIT; /* the cloud would grow past its bound */

    struct crdt_dot *one = dyn_malloc(sizeof(*one));
    *one = *dot;
    if (found) {
        struct smember *m = &s->m[at];
        dyn_free(m->dots);
        m->dots = one;
        m->ndots = 1;
        m->mark = 0;
    } else {
        struct smember nm = { len ? dyn_memdup(p, len) : NULL,
                              (uint32_t)len, 0, 1, one };
        member_insert(s, at, &nm);
    }
    ctx_add(s, dot);
    *added = !found;
    return 0;
}

int crdt_set_remove(struct crdt_set *s, const void *p, size_t len)
{
    uint32_t at;
    if (!member_find(s, p, len, &at))
        return 0;
    member_clear(&s->m[at]);
    member_delete(s, at);
    return 1;
}

uint32_t crdt_set_remove_at(struct crdt_set *s, const uint32_t *ix,
                            uint32_t k)
{
    if (k == 1 && ix[0] < s->n) { /* one (a pop): shift the shorter side */
        member_clear(&s->m[ix[0]]);
        member_delete(s, ix[0]);
        return 1;
    }
    uint32_t w = 0, j = 0, gone = 0;
    for (uint32_t r = 0; r < s->n; r++) {
        while (j < k && ix[j] < r)
            j++;
        if (j < k && ix[j] == r) {
            member_clear(&s->m[r]);
            gone++;
            continue;
        }
        s->m[w++] = s->m[r];
    }
    s->n = w;
    return gone;
}

/* ---- batches ----------------------------------------------------------------- */

/* ix := 0..k-1 ordered by the members' bytes (crdt_bytes_cmp), equal
 * members by index: a bottom-up merge sort, stable, O(k log k)
 * comparisons. */
static void sort_by_member(const void *const *m, const size_t *lens,
                           uint32_t *ix, uint32_t k)
{
    uint32_t *tmp = dyn_malloc(((size_t)k + 1) * sizeof(*tmp));
    uint32_t *src = ix, *dst = tmp;
    for (uint32_t i = 0; i < k; i++)
        ix[i] = i;
    for (size_t w = 1; w < k; w *= 2) {
        for (size_t lo = 0; lo < k; lo += 2 * w) {
            size_t mid = DYN_MIN(lo + w, k), hi = DYN_MIN(lo + 2 * w, k);
            size_t a = lo, b = mid, o = lo;
            while (a < mid && b < hi) {
                if (crdt_bytes_cmp(m[src[b]], lens[src[b]], m[src[a]],
                                   lens[src[a]]) < 0)
                    dst[o++] = src[b++];
                else
                    dst[o++] = src[a++];
            }
            while (a < mid)
                dst[o++] = src[a++];
            while (b < hi)
                dst[o++] = src[b++];
        }
        uint32_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != ix)
        memcpy(ix, src, (size_t)k * sizeof(*ix));
    dyn_free(tmp);
}

/* Sorted and without repeats: of a member named several times, the last
 * naming stays (its dot is the one k single adds would leave).  Returns
 * the count kept at the front of ix. */
static uint32_t keep_last_naming(const void *const *m, const size_t *lens,
                                 uint32_t *ix, uint32_t k)
{
    uint32_t w = 0;
    for (uint32_t i = 0; i < k; i++) {
        if (i + 1 < k && crdt_bytes_cmp(m[ix[i]], lens[ix[i]], m[ix[i + 1]],
                                        lens[ix[i + 1]]) == 0)
            continue;
        ix[w++] = ix[i];
    }
    return w;
}

int crdt_set_add_many(struct crdt_set *s, const void *const *m,
                      const size_t *lens, uint32_t k,
                      const struct crdt_dot *first,
                      const struct crdt_limits *lim, uint32_t *added)
{
    *added = 0;
    if (first->counter == 0)
        return DYN_EINVAL;
    if (k == 0)
        return 0;
    if (k == 1) { /* one member: a binary search, not a merge walk */
        int one = 0;
        int rc = crdt_set_add(s, m[0], lens[0], first, lim, &one);
        *added = (uint32_t)one;
        return rc;
    }
    if (first->counter - 1 > UINT64_MAX - k)
        return DYN_EINVAL; /* the last dot's counter would wrap */
    uint64_t actor = first->actor, last = first->counter + k - 1;
    uint64_t top = vclock_get(&s->clock, actor);
    uint32_t at;
    /* None of the k dots seen: not below the clock, none in the cloud
     * (no range holds first, and the next one starts beyond last). */
    if (first->counter <= top || cloud_find(s, first, &at) ||
        (at < s->ncloud && s->cloud[at].actor == actor &&
         s->cloud[at].lo <= last))
        return CRDT_ESTALE;
    for (uint32_t i = 0; i < k; i++)
        if (lens[i] > UINT32_MAX ||
            (lim && lim->max_member_len && lens[i] > lim->max_member_len))
            return DYN_ELIMIT;
    if (!actor_fits(s, actor, lim))
        return DYN_ELIMIT;
    int contiguous = first->counter == top + 1;
    if (lim && lim->max_dots && !contiguous && s->ncloud >= lim->max_dots &&
        range_grows(s, actor, first->counter, last))
        return DYN_ELIMIT; /* dots above a gap: the cloud grows a range */

    uint32_t *ix = dyn_malloc((size_t)k * sizeof(*ix));
    sort_by_member(m, lens, ix, k);
    uint32_t u = keep_last_naming(m, lens, ix, k);
    uint32_t nnew = 0, i = 0, j = 0;
    while (j < u) { /* count the new members: one merge walk */
        int c = i >= s->n ? 1
                          : crdt_bytes_cmp(s->m[i].p, s->m[i].len, m[ix[j]],
                                           lens[ix[j]]);
        if (c < 0) {
            i++;
        } else {
            nnew += c > 0;
            i += c == 0;
            j++;
        }
    }
    if (lim && lim->max_members && (uint64_t)s->n + nnew > lim->max_members) {
        dyn_free(ix);
        return DYN_ELIMIT;
    }

    /* Members: one merge into a new array. */
    uint32_t n = s->n + nnew;
    struct smember *out = dyn_malloc(((size_t)n + 1) * sizeof(*out));
    uint32_t o = 0;
    i = j = 0;
    while (i < s->n || j < u) {
        int c = i >= s->n ? 1
                : j >= u  ? -1
                          : crdt_bytes_cmp(s->m[i].p, s->m[i].len, m[ix[j]],
                                           lens[ix[j]]);
        if (c < 0) {
            out[o++] = s->m[i++];
            continue;
        }
        struct crdt_dot *one = dyn_malloc(sizeof(*one));
        one->actor = actor;
        one->counter = first->counter + ix[j];
        if (c == 0) {
            out[o] = s->m[i++];
            dyn_free(out[o].dots);
        } else {
            size_t len = lens[ix[j]];
            out[o].p = len ? dyn_memdup(m[ix[j]], len) : NULL;
            out[o].len = (uint32_t)len;
        }
        out[o].dots = one;
        out[o].ndots = 1;
        out[o].mark = 0;
        o++;
        j++;
    }
    if (s->m)
        dyn_free(s->m - s->front);
    s->m = out;
    s->front = 0;
    s->n = n;
    s->cap = n + 1;
    dyn_free(ix);

    /* Context: the k dots in one step.  Continuing the clock, they join
     * it (and the cloud's dots they reach fold in); above a gap, they go
     * into the cloud as one range. */
    if (contiguous) {
        vclock_set(&s->clock, actor, last, 0);
        ctx_normalize(s);
    } else {
        ctx_add_range(s, actor, first->counter, last);
    }
    *added = nnew;
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

uint32_t crdt_set_remove_many(struct crdt_set *s, const void *const *m,
                              const size_t *lens, uint32_t k)
{
    if (k == 0 || s->n == 0)
        return 0;
    uint32_t *gone = dyn_malloc((size_t)k * sizeof(*gone));
    uint32_t ngone = 0, at;
    for (uint32_t i = 0; i < k; i++)
        if (member_find(s, m[i], lens[i], &at))
            gone[ngone++] = at;
    qsort(gone, ngone, sizeof(*gone), cmp_u32);
    uint32_t u = 0;
    for (uint32_t i = 0; i < ngone; i++)
        if (u == 0 || gone[u - 1] != gone[i])
            gone[u++] = gone[i];
    /* One compaction pass from the first removed member. */
    uint32_t w = u ? gone[0] : s->n, g = 0;
    for (uint32_t r = w; r < s->n; r++) {
        if (g < u && gone[g] == r) {
            member_clear(&s->m[r]);
            g++;
        } else {
            s->m[w++] = s->m[r];
        }
    }
    s->n = w;
    dyn_free(gone);
    return u;
}

void crdt_set_clear(struct crdt_set *s)
{
    for (uint32_t k = 0; k < s->n; k++)
        member_clear(&s->m[k]);
    s->n = 0;
}

uint32_t crdt_set_lower_bound(const struct crdt_set *s, const void *p,
                              size_t len)
{
    uint32_t at;
    member_find(s, p, len, &at);
    return at;
}

int crdt_set_contains(const struct crdt_set *s, const void *p, size_t len)
{
    uint32_t at;
    return member_find(s, p, len, &at);
}

uint32_t crdt_set_card(const struct crdt_set *s)
{
    return s->n;
}

void crdt_set_member(const struct crdt_set *s, uint32_t i, const uint8_t **p,
                     size_t *len)
{
    dyn_assert(i < s->n);
    *p = s->m[i].p;
    *len = s->m[i].len;
}

void crdt_set_member_dots(const struct crdt_set *s, uint32_t i,
                          const struct crdt_dot **dots, uint32_t *ndots,
                          int *mark)
{
    dyn_assert(i < s->n);
    *dots = s->m[i].dots;
    *ndots = s->m[i].ndots;
    *mark = s->m[i].mark;
}

void crdt_set_clock(const struct crdt_set *s, struct vclock *out)
{
    vclock_copy(out, &s->clock);
}

uint64_t crdt_set_ndots(const struct crdt_set *s)
{
    uint64_t n = 0;
    for (uint32_t k = 0; k < s->n; k++)
        n += s->m[k].ndots;
    return n;
}

uint64_t crdt_set_ncloud(const struct crdt_set *s)
{
    uint64_t n = 0;
    for (uint32_t k = 0; k < s->ncloud; k++)
        n += s->cloud[k].hi - s->cloud[k].lo + 1;
    return n;
}

uint32_t crdt_set_ncloud_ranges(const struct crdt_set *s)
{
    return s->ncloud;
}

/* ---- join ------------------------------------------------------------------ */

static int below(const struct vclock *c, const struct crdt_dot *d)
{
    return d->counter <= vclock_get(c, d->actor);
}


/* 1 when m holds a dot up to stable. */
static int holds_old_add(const struct smember *m, const struct vclock *stable)
{
    for (uint32_t k = 0; k < m->ndots; k++)
        if (below(stable, &m->dots[k]))
            return 1;
    return 0;
}

/*
 * One member of the join.  a (of state sa) and b (of sb) may be NULL, not
 * both.  b_saw: ctx_includes(sb, sa, &sa->stable), and a_saw the
 * other way (once per join).  Appends the result to r when it is present.
 */
static void join_member(struct crdt_set *r, const struct crdt_set *sa,
                        const struct smember *a, const struct crdt_set *sb,
                        const struct smember *b, int a_saw, int b_saw)
{
    const struct smember *x = a ? a : b;
    uint32_t na = a ? a->ndots : 0, nb = b ? b->ndots : 0;
    struct crdt_dot *dots = dyn_malloc((size_t)(na + nb + 1) * sizeof(*dots));
    uint32_t n = 0, i = 0, j = 0;
    uint8_t mark = 0;

    /* Dots: merge the two sorted lists, keeping a dot both hold or the
     * other side has not seen. */
    while (i < na || j < nb) {
        int c = i >= na ? 1 : j >= nb ? -1 : dot_cmp(&a->dots[i], &b->dots[j]);
        if (c == 0) {
            dots[n++] = a->dots[i];
            i++;
            j++;
        } else if (c < 0) {
            if (!ctx_has(sb, &a->dots[i]))
                dots[n++] = a->dots[i];
            i++;
        } else {
            if (!ctx_has(sa, &b->dots[j]))
                dots[n++] = b->dots[j];
            j++;
        }
    }
    if (a && b) {
        if (a->mark && (b->mark || holds_old_add(b, &sa->stable)))
            mark = 1;
        if (b->mark && (a->mark || holds_old_add(a, &sb->stable)))
            mark = 1;
    }
    /* A marked member the other side lacks: removed there when that side
     * has seen every dot the marking side had seen up to its stable clock
     * (ctx_includes), so it descends from a state that held the add.  One
     * that has not (written before the replicas became equal and
     * delivered late, a hint, or a stand-in's write from an empty copy)
     * never saw the add and cannot have removed it.  Exact because a
     * cluster's compaction keeps the context's gaps
     * (crdt_set_compact_marks): tested against the clock alone (gaps
     * unclaimed after a restart left it short), a remove taken on an
     * uncompacted replica lost to the mark; against the context's highest
     * dots, a stand-in's late state dropped it (docs/TYPES.md 6.3). */
    if (a && !b && a->mark && !b_saw)
        mark = 1;
    if (b && !a && b->mark && !a_saw)
        mark = 1;
    /* A dot up to the joined stable clock becomes the mark. */
    uint32_t w = 0;
    for (uint32_t k = 0; k < n; k++) {
        if (below(&r->stable, &dots[k]))
            mark = 1;
        else
            dots[w++] = dots[k];
    }
    n = w;
    if (n == 0 && !mark) {
        dyn_free(dots);
        return;
    }
    if (n == 0) {
        dyn_free(dots);
        dots = NULL;
    }
    push_member_take(r, x->len ? dyn_memdup(x->p, x->len) : NULL, x->len, mark,
                     dots, n);
}

struct crdt_set *crdt_set_join(const struct crdt_set *a,
                               const struct crdt_set *b)
{
    /* The empty state is the identity (a new replica's): it has seen
     * nothing, so it removed nothing, marks included. */
    if (a->clock.n == 0 && a->ncloud == 0)
        return crdt_set_dup(b);
    if (b->clock.n == 0 && b->ncloud == 0)
        return crdt_set_dup(a);
    struct crdt_set *r = crdt_set_new();
    vclock_copy(&r->clock, &a->clock);
    vclock_merge(&r->clock, &b->clock);
    vclock_copy(&r->stable, &a->stable);
    vclock_merge(&r->stable, &b->stable);
    uint32_t i = 0, j = 0;
    while (i < a->ncloud || j < b->ncloud) { /* merged by (actor, lo) */
        const struct crange *x;
        if (j >= b->ncloud ||
            (i < a->ncloud &&
             range_cmp(a->cloud[i].actor, a->cloud[i].lo, &b->cloud[j]) <= 0))
            x = &a->cloud[i++];
        else
            x = &b->cloud[j++];
        push_range(r, x->actor, x->lo, x->hi);
    }
    ctx_normalize(r);

    int a_saw = ctx_includes(a, b, &b->stable);
    int b_saw = ctx_includes(b, a, &a->stable);
    i = j = 0;
    while (i < a->n || j < b->n) {
        int c = i >= a->n   ? 1
                : j >= b->n ? -1
                            : crdt_bytes_cmp(a->m[i].p, a->m[i].len, b->m[j].p,
                                             b->m[j].len);
        if (c == 0)
            join_member(r, a, &a->m[i++], b, &b->m[j++], a_saw, b_saw);
        else if (c < 0)
            join_member(r, a, &a->m[i++], b, NULL, a_saw, b_saw);
        else
            join_member(r, a, NULL, b, &b->m[j++], a_saw, b_saw);
    }
    return r;
}

/* ---- compaction ----------------------------------------------------------- */

static int compact(struct crdt_set *s, const struct vclock *stable, int fold)
{
    /* Within the context: no actor's stable counter above the highest dot
     * this state has seen of it. */
    for (uint32_t k = 0; k < stable->n; k++) {
        if (stable->e[k].counter > ctx_top(s, stable->e[k].actor))
            return DYN_EINVAL;
    }
    for (uint32_t k = 0; k < stable->n && fold; k++) {
        uint64_t a = stable->e[k].actor;
        if (stable->e[k].counter > vclock_get(&s->clock, a))
            vclock_set(&s->clock, a, stable->e[k].counter, 0);
    }
    ctx_normalize(s);
    for (uint32_t k = 0; k < stable->n; k++)
        vclock_set(&s->stable, stable->e[k].actor,
                   DYN_MAX(stable->e[k].counter,
                           vclock_get(&s->stable, stable->e[k].actor)),
                   0);
    for (uint32_t k = 0; k < s->n; k++) {
        struct smember *m = &s->m[k];
        uint32_t w = 0;
        for (uint32_t d = 0; d < m->ndots; d++) {
            if (below(&s->stable, &m->dots[d]))
                m->mark = 1;
            else
                m->dots[w++] = m->dots[d];
        }
        m->ndots = w;
    }
    return 0;
}

int crdt_set_compact(struct crdt_set *s, const struct vclock *stable)
{
    return compact(s, stable, 1);
}

int crdt_set_compact_marks(struct crdt_set *s, const struct vclock *stable)
{
    return compact(s, stable, 0);
}

/* ---- encoding --------------------------------------------------------------- */

/* The actor table: the clock's and the cloud's actors, ascending. */
static uint64_t *actor_table(const struct crdt_set *s, uint32_t *n)
{
    uint64_t *t = dyn_malloc(((size_t)s->clock.n + s->ncloud + 1) *
                             sizeof(*t));
    uint32_t k = 0, i = 0, j = 0;
    while (i < s->clock.n || j < s->ncloud) {
        uint64_t x;
        if (j >= s->ncloud ||
            (i < s->clock.n && s->clock.e[i].actor <= s->cloud[j].actor))
            x = s->clock.e[i++].actor;
        else
            x = s->cloud[j++].actor;
        if (k == 0 || t[k - 1] != x)
            t[k++] = x;
    }
    *n = k;
    return t;
}

static uint64_t actor_index(const uint64_t *t, uint32_t n, uint64_t actor)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (t[mid] < actor)
            lo = mid + 1;
        else
            hi = mid;
    }
    dyn_assert(lo < n && t[lo] == actor);
    return lo;
}

static void put_clock(struct dbuf *out, const struct vclock *c,
                      const uint64_t *t, uint32_t nt)
{
    crdt_put_varint(out, c->n);
    for (uint32_t k = 0; k < c->n; k++) {
        crdt_put_varint(out, actor_index(t, nt, c->e[k].actor));
        crdt_put_varint(out, c->e[k].counter);
    }
}

/* The last actor put_dot looked up and its index: a long list's elements
 * mostly come from one actor in a row. */
struct actor_memo {
    uint64_t actor, idx;
    int set;
};

static void put_dot(struct dbuf *out, const struct crdt_dot *d,
                    const uint64_t *t, uint32_t nt, struct actor_memo *mm)
{
    if (!mm->set || mm->actor != d->actor) {
        mm->actor = d->actor;
        mm->idx = actor_index(t, nt, d->actor);
        mm->set = 1;
    }
    crdt_put_varint(out, mm->idx);
    crdt_put_varint(out, d->counter);
}

void crdt_set_encode(const struct crdt_set *s, struct dbuf *out)
{
    uint32_t nt;
    uint64_t *t = actor_table(s, &nt);
    /* room for all of it at once: a bound, not the exact size */
    size_t need = 1 + WIRE_VARINT_MAX * 4 + (size_t)nt * 8 +
                  (size_t)(s->clock.n + s->stable.n) * 20 + (size_t)s->ncloud * 30;
    for (uint32_t k = 0; k < s->n; k++)
        need += s->m[k].len + WIRE_VARINT_MAX * 2 + s->m[k].ndots * 20;
    dbuf_reserve(out, need);
    crdt_put_u8(out, CRDT_TYPE_SET);
    crdt_put_varint(out, nt);
    for (uint32_t k = 0; k < nt; k++)
        crdt_put_u64(out, t[k]);
    put_clock(out, &s->clock, t, nt);
    crdt_put_varint(out, s->ncloud);
    for (uint32_t k = 0; k < s->ncloud; k++) {
        const struct crange *r = &s->cloud[k];
        crdt_put_varint(out, actor_index(t, nt, r->actor));
        crdt_put_varint(out, r->lo);
        crdt_put_varint(out, r->hi - r->lo);
    }
    put_clock(out, &s->stable, t, nt);
    crdt_put_varint(out, s->n);
    struct actor_memo mm = {0, 0, 0};
    for (uint32_t k = 0; k < s->n; k++) {
        const struct smember *m = &s->m[k];
        crdt_put_varint(out, m->len);
        crdt_put_bytes(out, m->p, m->len);
        crdt_put_varint(out, (uint64_t)m->ndots << 1 | m->mark);
        for (uint32_t d = 0; d < m->ndots; d++)
            put_dot(out, &m->dots[d], t, nt, &mm);
    }
    dyn_free(t);
}

/* A dot through the actor table; the reader's error is set when the index
 * is out of range. */
static void rd_dot(struct crdt_rd *r, const uint64_t *t, uint64_t nt,
                   struct crdt_dot *d)
{
    uint64_t ix = crdt_rd_varint(r);
    d->counter = crdt_rd_varint(r);
    if (r->err || ix >= nt || d->counter == 0) {
        r->err = DYN_EINVAL;
        return;
    }
    d->actor = t[ix];
}

/* A cloud range through the actor table: index, first counter (>= 1),
 * length - 1.  0, or DYN_EINVAL (the reader's error set too). */
static int rd_range(struct crdt_rd *r, const uint64_t *t, uint64_t nt,
                    struct crange *x)
{
    uint64_t ix = crdt_rd_varint(r);
    x->lo = crdt_rd_varint(r);
    uint64_t len = crdt_rd_varint(r);
    if (r->err || ix >= nt || x->lo == 0 || len > UINT64_MAX - x->lo) {
        r->err = DYN_EINVAL;
        return DYN_EINVAL;
    }
    x->actor = t[ix];
    x->hi = x->lo + len;
    return 0;
}

/* A clock in index form into c: indices strictly ascending. */
static void rd_clock(struct crdt_rd *r, const uint64_t *t, uint64_t nt,
                     struct vclock *c)
{
    uint64_t n = crdt_rd_varint(r);
    if (r->err || n > nt) {
        r->err = DYN_EINVAL;
        return;
    }
    struct crdt_dot d, prev = { 0, 0 };
    for (uint64_t k = 0; k < n && !r->err; k++) {
        rd_dot(r, t, nt, &d);
        if (r->err || (k && d.actor <= prev.actor)) {
            r->err = DYN_EINVAL;
            return;
        }
        vclock_set(c, d.actor, d.counter, 0);
        prev = d;
    }
}

/*
 * The head of an encoded set, up to its cloud: the type byte, the actor
 * table (into *t, the caller frees it; *nt entries), the clock and the
 * cloud into s, each checked as crdt_set_decode checks them.  0,
 * DYN_EINVAL, or DYN_ELIMIT past max_actors / max_dots (cloud ranges).
 */
static int rd_context(struct crdt_rd *r, uint32_t max_actors,
                      uint32_t max_dots, struct crdt_set *s, uint64_t **t,
                      uint64_t *nt)
{
    *t = NULL;
    if (crdt_rd_u8(r) != CRDT_TYPE_SET)
        return DYN_EINVAL;
    *nt = crdt_rd_varint(r);
    if (r->err)
        return DYN_EINVAL;
    if (*nt > max_actors)
        return DYN_ELIMIT;
    if (*nt > crdt_rd_left(r) / 8)
        return DYN_EINVAL;
    uint64_t *tab = *t = dyn_malloc((size_t)(*nt + 1) * sizeof(*tab));
    for (uint64_t k = 0; k < *nt; k++) {
        tab[k] = crdt_rd_u64(r);
        if (k && tab[k] <= tab[k - 1])
            return DYN_EINVAL;
    }
    rd_clock(r, tab, *nt, &s->clock);
    uint64_t nc = crdt_rd_varint(r);
    if (r->err)
        return DYN_EINVAL;
    if (nc > max_dots)
        return DYN_ELIMIT;
    if (nc > crdt_rd_left(r) / 3)
        return DYN_EINVAL;
    for (uint64_t k = 0; k < nc; k++) {
        struct crange x;
        if (rd_range(r, tab, *nt, &x) != 0 ||
            x.lo <= vclock_get(&s->clock, x.actor) + 1)
            return DYN_EINVAL;
        const struct crange *prev = s->ncloud ? &s->cloud[s->ncloud - 1]
                                              : NULL;
        /* ascending; one actor's ranges neither touch nor overlap */
        if (prev && (range_cmp(x.actor, x.lo, prev) <= 0 ||
                     (prev->actor == x.actor && x.lo <= prev->hi + 1)))
            return DYN_EINVAL;
        push_range(s, x.actor, x.lo, x.hi);
    }
    return 0;
}

int crdt_set_decode(const uint8_t *p, size_t len,
                    const struct crdt_limits *lim, struct crdt_set **out)
{
    struct crdt_rd r;
    int rc = DYN_EINVAL;
    uint64_t *t = NULL;
    uint32_t max_actors = lim && lim->max_actors ? lim->max_actors
                                                 : UINT32_MAX;
    uint32_t max_members = lim && lim->max_members ? lim->max_members
                                                   : UINT32_MAX;
    uint64_t max_len = lim && lim->max_member_len ? lim->max_member_len
                                                  : UINT32_MAX;
    uint32_t max_dots = lim && lim->max_dots ? lim->max_dots : UINT32_MAX;

    *out = NULL;
    crdt_rd_init(&r, p, len);
    struct crdt_set *s = crdt_set_new();
    uint64_t nt;
    rc = rd_context(&r, max_actors, max_dots, s, &t, &nt);
    if (rc)
        goto out;
    rc = DYN_EINVAL;
    rd_clock(&r, t, nt, &s->stable);
    if (r.err)
        goto out;
    for (uint32_t k = 0; k < s->stable.n; k++)
        if (s->stable.e[k].counter > ctx_top(s, s->stable.e[k].actor))
            goto out;
    uint64_t nm = crdt_rd_varint(&r);
    if (r.err)
        goto out;
    if (nm > max_members) {
        rc = DYN_ELIMIT;
        goto out;
    }
    if (nm > crdt_rd_left(&r) / 2) /* len, dots-and-mark */
        goto out;
    if (nm) { /* the bytes left bound nm: one allocation, no regrowth */
        s->cap = (uint32_t)nm;
        s->m = dyn_malloc((size_t)nm * sizeof(*s->m));
    }
    for (uint64_t k = 0; k < nm; k++) {
        uint64_t ml = crdt_rd_varint(&r);
        if (!r.err && ml > max_len) {
            rc = DYN_ELIMIT;
            goto out;
        }
        const uint8_t *mp = crdt_rd_bytes(&r, ml);
        uint64_t dm = crdt_rd_varint(&r);
        uint64_t nd = dm >> 1;
        uint8_t mark = dm & 1;
        if (r.err)
            goto out;
        if (nd > max_dots) {
            rc = DYN_ELIMIT;
            goto out;
        }
        if (nd > crdt_rd_left(&r) / 2 || (nd == 0 && !mark) ||
            (mark && s->stable.n == 0) ||
            (s->n && crdt_bytes_cmp(s->m[s->n - 1].p, s->m[s->n - 1].len, mp,
                                    ml) >= 0))
            goto out;
        struct crdt_dot *dots = nd ? dyn_malloc(nd * sizeof(*dots)) : NULL;
        push_member_take(s, ml ? dyn_memdup(mp, ml) : NULL, (uint32_t)ml,
                         mark, dots, 0);
        struct smember *m = &s->m[s->n - 1];
        for (uint64_t d = 0; d < nd; d++) {
            rd_dot(&r, t, nt, &dots[d]);
            if (r.err || !ctx_has(s, &dots[d]) ||
                below(&s->stable, &dots[d]) ||
                (d && dot_cmp(&dots[d - 1], &dots[d]) >= 0))
                goto out;
            m->ndots = (uint32_t)d + 1;
        }
    }
    if (r.err || r.off != len)
        goto out;
    /* The table names exactly the context's actors, and the rest is in its
     * one form: re-encode and compare. */
    struct dbuf again;
    dbuf_init(&again);
    crdt_set_encode(s, &again);
    int same = again.len == len && memcmp(again.p, p, len) == 0;
    dbuf_free(&again);
    if (!same)
        goto out;
    *out = s;
    dyn_free(t);
    return 0;
out:
    dyn_free(t);
    crdt_set_free(s);
    return rc;
}

/* ---- what a state has seen, and a readable state (DYNAMO.LOCAL) ------------ */

void crdt_set_seen(const struct crdt_set *s, struct vclock *out)
{
    vclock_copy(out, &s->clock);
    for (uint32_t k = 0; k < s->ncloud; k++)
        if (s->cloud[k].hi > vclock_get(out, s->cloud[k].actor))
            vclock_set(out, s->cloud[k].actor, s->cloud[k].hi, 0);
}

int crdt_set_seen_encoded(const uint8_t *p, size_t len, struct vclock *out)
{
    struct crdt_rd r;
    struct crdt_set *s = crdt_set_new();
    uint64_t *t, nt;
    crdt_rd_init(&r, p, len);
    int rc = rd_context(&r, UINT32_MAX, UINT32_MAX, s, &t, &nt);
    if (rc == 0)
        crdt_set_seen(s, out);
    dyn_free(t);
    crdt_set_free(s);
    return rc ? DYN_EINVAL : 0;
}

static void describe_bytes(struct dbuf *out, const uint8_t *p, size_t len)
{
    size_t shown = DYN_MIN(len, (size_t)64);
    dbuf_appendc(out, '"');
    for (size_t i = 0; i < shown; i++) {
        if (p[i] == '\\' || p[i] == '"')
            dbuf_printf(out, "\\%c", p[i]);
        else if (p[i] >= 0x20 && p[i] < 0x7f)
            dbuf_appendc(out, (char)p[i]);
        else
            dbuf_printf(out, "\\x%02x", p[i]);
    }
    dbuf_appendc(out, '"');
    if (shown < len)
        dbuf_printf(out, "...(%zu bytes)", len);
}

void crdt_describe_member(struct dbuf *out, const uint8_t *p, size_t len)
{
    describe_bytes(out, p, len);
}

void crdt_set_describe(const struct crdt_set *s, struct dbuf *out)
{
    dbuf_appends(out, "clock");
    for (uint32_t k = 0; k < s->clock.n; k++)
        dbuf_printf(out, " %016" PRIx64 ":%" PRIu64, s->clock.e[k].actor,
                    s->clock.e[k].counter);
    dbuf_printf(out, "\ncloud %" PRIu64 " dots in %u ranges",
                crdt_set_ncloud(s), s->ncloud);
    for (uint32_t k = 0; k < s->ncloud && k < 16; k++) {
        const struct crange *r = &s->cloud[k];
        if (r->lo == r->hi)
            dbuf_printf(out, " %016" PRIx64 ":%" PRIu64, r->actor, r->lo);
        else
            dbuf_printf(out, " %016" PRIx64 ":%" PRIu64 "-%" PRIu64,
                        r->actor, r->lo, r->hi);
    }
    if (s->ncloud > 16)
        dbuf_appends(out, " ...");
    dbuf_appends(out, "\nstable");
    for (uint32_t k = 0; k < s->stable.n; k++)
        dbuf_printf(out, " %016" PRIx64 ":%" PRIu64, s->stable.e[k].actor,
                    s->stable.e[k].counter);
    dbuf_printf(out, "\nmembers %u\n", s->n);
    for (uint32_t k = 0; k < s->n; k++) {
        const struct smember *m = &s->m[k];
        describe_bytes(out, m->p, m->len);
        if (m->mark)
            dbuf_appends(out, " stable");
        for (uint32_t d = 0; d < m->ndots; d++)
            dbuf_printf(out, " %016" PRIx64 ":%" PRIu64, m->dots[d].actor,
                        m->dots[d].counter);
        dbuf_appendc(out, '\n');
    }
}
