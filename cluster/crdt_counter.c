/*
 * crdt_counter.c -- a PN-counter with a base and observed reset: what
 * INCR, INCRBY, DECRBY, INCRBYFLOAT, SET and DEL do to a counter key when
 * any replica may take them at any time (issue #14, docs/TYPES.md).
 *
 * State.  Per actor one entry per run (below), and a set of base
 * candidates:
 *
 *   entry a: run     the counter of the dot its run began at (0: a run
 *                    from before runs, encoded without it)
 *            seq     the counter of a's last dot in the run this state
 *                    has seen
 *            i       a's running sum of integer increments (INCRBY/DECRBY)
 *            fops, f a's number and running sum of INCRBYFLOAT increments
 *            r*      a snapshot of (seq, i, fops, f) taken by the latest
 *                    reset that observed a: what a reset cancelled
 *   base:    (dot, ts_ms, bytes or absent): the string the counter counts
 *            from (an observed SET, or the string INCR found)
 *   seen:    per actor the highest base dot the state has seen: the
 *            bases' own causal context, apart from the entries
 *
 * The value is the winning base plus every entry's live part
 * (i - ri) + (f - rf).  An entry is one run of an actor's history: a later
 * seq holds everything an earlier one of the same run did, so an entry
 * joins another of its (actor, run) by the higher seq, and so do the
 * snapshots (by rseq); entries of other runs are kept side by side.
 *
 * Runs.  That rule holds only while the actor increments from a state
 * that holds its latest entry, and a node can lack it: one that dropped
 * its copy of the key when the ring moved it away and later coordinates
 * for it again (a stand-in, under sloppy quorum) reads an empty state or
 * an older copy.  An entry it wrote from there with a higher seq and a
 * smaller sum replaced the one the replicas held, and the increments
 * between were lost (the chaos suite found two).  So an op continues the
 * actor's current run (its highest) only when the state holds one and the
 * caller does not know better (crdt_counter_own_last: the node remembers
 * its latest counter op on the key, and a run that does not end there is
 * an older copy); otherwise it begins a run at its dot, counting from
 * zero, and the runs add up.  A run that is not current is never written
 * again, so no two runs count one increment.  The bases are an observed-remove set
 * of one-shot values: a reset replaces the bases it sees with its own, and
 * a join keeps a base that the other side either holds or has not seen
 * (its dot is above the other side's seen for that actor).  A string
 * becomes a base without touching the entries (crdt_counter_add_string,
 * crdt_counter_from_string): until 2026-12-03 the bases' context was the
 * entries' seqs, so a string's dot raised its actor's entry, and that
 * entry, with the sums of a lower seq, replaced in a join the entry of
 * a state that held more of the actor's increments.  Concurrent
 * bases stay, and the highest (ts_ms, actor, counter) wins, as
 * object_winner picks among siblings.  So the join is a product of
 * semilattices: commutative, associative, idempotent (docs/TYPES.md).
 *
 * Observed reset.  A reset snapshots every entry it sees: an increment
 * is cancelled exactly when some reset observed it, and an increment
 * concurrent with the reset (a higher seq) stays live on top of the new
 * base.  The value kinds: no live part reads as the base's bytes as they
 * were written (SET k 05 reads "05"); a live part on an integer base (or
 * none) is an integer, on a float base or with any live INCRBYFLOAT a long
 * double in Redis's text; on a base that is not a number the increments
 * are kept but the base's bytes show (a later SET observes them away).  A
 * merged sum beyond int64 (no single replica could accept it) is kept
 * exactly and reads as its decimal text (CRDT_COUNTER_BIG).
 *
 * Encoding (canonical: fields present only when not zero, entries by
 * actor, bases by dot; decode re-encodes and compares):
 *
 *   u8 COUNTER_TAG (0x41; CRDT_TYPE_COUNTER, 1, before the seen list)
 *   varint nentries, then per entry, by (actor, run):
 *     u64 actor (LE) | varint seq (>= 1) | u8 flags
 *     bit5: varint run (1 .. seq; absent: 0, only one such per actor)
 *     bit0: zigzag i         bit1: varint fops, ld f
 *     bit2: varint rseq      bit3: zigzag ri      bit4: varint rfops, ld rf
 *   varint nbases, then per base:
 *     u64 actor | varint counter (>= 1) | varint ts_ms | u8 kind
 *     (0 absent, 1 bytes) | bytes: varint len, the bytes
 *   varint nseen, then per actor (ascending): u64 actor | varint counter
 *     (>= 1)
 *
 * A state encoded before the seen list (tag 1, no list) decodes with seen
 * = every entry's seq, what its bases' context was then; it is encoded
 * with the list from then on.  A node from before takes tag 0x41 for a
 * malformed value and refuses it (its sender keeps its copy).
 *
 * Invariants (decode checks them): run <= seq, rseq <= seq and, when
 * set, >= run, rfops <= fops, a snapshot of the current seq equals the
 * entry; every base's dot is within its actor's seen; floats finite.
 * The bases' context stays per actor: a node that lost its state and
 * resets takes its own older base for seen, which, with clocks going
 * forward, never is the winner anyway (a later reset has a later time).  A node from before runs
 * refuses an entry with bit5 as malformed (its sender keeps its copy).
 *
 * Errors: see crdt.h.  Nothing here aborts on bad input.
 */
#include "cluster/crdt.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "cluster/crdt_int.h"

#define CE_I 0x01
#define CE_F 0x02
#define CE_RSEQ 0x04
#define CE_RI 0x08
#define CE_RF 0x10
#define CE_RUN 0x20

#define COUNTER_TAG 0x41 /* the encoding with the bases' context */

struct centry {
    uint64_t actor;
    uint64_t run; /* the seq its run began at; 0: a run from before runs */
    uint64_t seq;
    int64_t i;
    uint64_t fops;
    long double f;
    uint64_t rseq;
    int64_t ri;
    uint64_t rfops;
    long double rf;
};

struct cbase {
    uint64_t actor;
    uint64_t counter;
    uint64_t ts_ms;
    int absent;
    uint8_t *p;
    uint32_t len;
};

struct crdt_counter {
    uint32_t ne, cape;
    struct centry *e;
    uint32_t nb, capb;
    struct cbase *b;
    /* per actor the highest base dot this state has seen (held, or taken
     * by a reset): the bases' own causal context (ts_ms unused, 0) */
    struct vclock seen;
    /* not part of the state: an actor whose next op begins a run
     * (crdt_counter_own_last), 0 none */
    uint64_t fork_actor;
};

const char *crdt_err_text(int err)
{
    switch (err) {
    case CRDT_ENOTINT:
        return "ERR value is not an integer or out of range";
    case CRDT_ENOTFLOAT:
        return "ERR value is not a valid float";
    case CRDT_EOVERFLOW:
        return "ERR increment or decrement would overflow";
    case CRDT_ENANINF:
        return "ERR increment would produce NaN or Infinity";
    case CRDT_ESTALE:
        return "ERR the operation's dot was already seen";
    case DYN_ELIMIT:
        return "ERR the value would exceed a configured limit";
    case DYN_EINVAL:
        return "ERR malformed typed value";
    default:
        return NULL;
    }
}

/* ---- Redis's long double text ------------------------------------------- */

int crdt_ld_parse(const void *p, size_t len, long double *out)
{
    char buf[CRDT_LD_CHARS];
    char *end;
    if (len == 0 || len >= sizeof(buf))
        return DYN_EINVAL;
    memcpy(buf, p, len);
    buf[len] = '\0';
    if (buf[0] == ' ' || (buf[0] >= '\t' && buf[0] <= '\r'))
        return DYN_EINVAL;
    errno = 0;
    long double v = strtold(buf, &end);
    if ((size_t)(end - buf) != len || errno == EINVAL || isnan(v))
        return DYN_EINVAL;
    if (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || v == 0.0L))
        return DYN_EINVAL;
    *out = v;
    return 0;
}

size_t crdt_ld_format(char *buf, size_t cap, long double v)
{
    int l = snprintf(buf, cap, "%.17Lf", v);
    if (l < 0 || (size_t)l + 1 > cap)
        return 0;
    if (strchr(buf, '.') != NULL) {
        while (buf[l - 1] == '0')
            l--;
        if (buf[l - 1] == '.')
            l--;
    }
    if (l == 2 && buf[0] == '-' && buf[1] == '0') {
        buf[0] = '0';
        l = 1;
    }
    buf[l] = '\0';
    return (size_t)l;
}

/* ---- state ---------------------------------------------------------------- */

struct crdt_counter *crdt_counter_new(void)
{
    return dyn_calloc(1, sizeof(struct crdt_counter));
}

static void base_clear(struct cbase *b)
{
    dyn_free(b->p);
    b->p = NULL;
}

void crdt_counter_free(struct crdt_counter *c)
{
    if (!c)
        return;
    for (uint32_t k = 0; k < c->nb; k++)
        base_clear(&c->b[k]);
    dyn_free(c->b);
    dyn_free(c->e);
    vclock_free(&c->seen);
    dyn_free(c);
}

static void push_entry(struct crdt_counter *c, const struct centry *e)
{
    if (c->ne == c->cape) {
        c->cape = c->cape ? c->cape * 2 : 4;
        c->e = dyn_realloc(c->e, (size_t)c->cape * sizeof(*c->e));
    }
    c->e[c->ne++] = *e;
}

/* Appends a copy of b (its bytes copied). */
static void push_base(struct crdt_counter *c, const struct cbase *b)
{
    if (c->nb == c->capb) {
        c->capb = c->capb ? c->capb * 2 : 2;
        c->b = dyn_realloc(c->b, (size_t)c->capb * sizeof(*c->b));
    }
    struct cbase *d = &c->b[c->nb++];
    *d = *b;
    d->p = b->len ? dyn_memdup(b->p, b->len) : NULL;
}

struct crdt_counter *crdt_counter_dup(const struct crdt_counter *c)
{
    struct crdt_counter *d = crdt_counter_new();
    for (uint32_t k = 0; k < c->ne; k++)
        push_entry(d, &c->e[k]);
    for (uint32_t k = 0; k < c->nb; k++)
        push_base(d, &c->b[k]);
    vclock_copy(&d->seen, &c->seen);
    return d;
}

/* Records base dot (actor, counter) as seen. */
static void seen_raise(struct crdt_counter *c, uint64_t actor,
                       uint64_t counter)
{
    if (vclock_get(&c->seen, actor) < counter)
        vclock_set(&c->seen, actor, counter, 0);
}

/* 1 when the bases' context has room for actor (it holds it, or holds
 * fewer actors than max_actors). */
static int seen_room(const struct crdt_counter *c, uint64_t actor,
                     const struct crdt_limits *lim)
{
    return !lim || !lim->max_actors || c->seen.n < lim->max_actors ||
           vclock_get(&c->seen, actor) != 0;
}

/* Inserts a copy of b in dot order (b's dot is not held). */
static void insert_base(struct crdt_counter *c, const struct cbase *b);

/* Index of actor's first entry (lowest run), or where it would go. */
static uint32_t entry_find(const struct crdt_counter *c, uint64_t actor)
{
    uint32_t lo = 0, hi = c->ne;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (c->e[mid].actor < actor)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Index of actor's current run (its entry with the highest run), or
 * c->ne when the state holds none; *top (may be NULL): the highest seq of
 * any of actor's entries (0: none). */
static uint32_t actor_run(const struct crdt_counter *c, uint64_t actor,
                          uint64_t *top)
{
    uint32_t k = entry_find(c, actor), at = c->ne;
    uint64_t t = 0;
    for (; k < c->ne && c->e[k].actor == actor; k++) {
        at = k;
        t = DYN_MAX(t, c->e[k].seq);
    }
    if (top)
        *top = t;
    return at;
}

/*
 * The entry an op by dot updates, after the checks every op makes: the
 * dot is new to this state, and a new entry fits max_actors.  The op
 * continues the actor's current run when the state holds one; otherwise
 * it begins a run at its dot, which counts from zero (the state may lack
 * the actor's entries without the actor having made none: file header).
 * Returns 0 and *out (inserted, zero but for actor and run, when new),
 * or CRDT_ESTALE / DYN_ELIMIT with nothing changed.
 */
static int op_entry(struct crdt_counter *c, const struct crdt_dot *dot,
                    const struct crdt_limits *lim, struct centry **out)
{
    if (dot->counter == 0)
        return DYN_EINVAL;
    uint64_t top;
    uint32_t k = actor_run(c, dot->actor, &top);
    if (k < c->ne && dot->counter <= top)
        return CRDT_ESTALE;
    if (k < c->ne && c->fork_actor != dot->actor) {
        *out = &c->e[k];
        return 0;
    }
    if (lim && lim->max_actors && c->ne >= lim->max_actors)
        return DYN_ELIMIT;
    c->fork_actor = 0;
    /* after actor's runs: the new run is above every seq it has */
    k = actor_run(c, dot->actor, NULL);
    k = k < c->ne ? k + 1 : entry_find(c, dot->actor);
    struct centry z;
    memset(&z, 0, sizeof(z));
    z.actor = dot->actor;
    z.run = dot->counter;
    push_entry(c, &z);
    memmove(&c->e[k + 1], &c->e[k], (size_t)(c->ne - 1 - k) * sizeof(*c->e));
    c->e[k] = z;
    *out = &c->e[k];
    return 0;
}

void crdt_counter_own_last(struct crdt_counter *c, uint64_t actor,
                           uint64_t last)
{
    uint32_t k = actor_run(c, actor, NULL);
    c->fork_actor = last && k < c->ne && c->e[k].seq != last ? actor : 0;
}

static int base_dot_cmp(const struct cbase *a, const struct cbase *b);

static int base_beats(const struct cbase *a, const struct cbase *b)
{
    if (a->ts_ms != b->ts_ms)
        return a->ts_ms > b->ts_ms;
    if (a->actor != b->actor)
        return a->actor > b->actor;
    return a->counter > b->counter;
}

static const struct cbase *base_winner(const struct crdt_counter *c)
{
    const struct cbase *w = NULL;
    for (uint32_t k = 0; k < c->nb; k++)
        if (!w || base_beats(&c->b[k], w))
            w = &c->b[k];
    return w;
}

int crdt_counter_from_string(const void *value, size_t len,
                             const struct crdt_dot *dot, uint64_t ts_ms,
                             const struct crdt_limits *lim,
                             struct crdt_counter **out)
{
    struct crdt_counter *c = crdt_counter_new();
    int rc = crdt_counter_add_string(c, value, len, dot, ts_ms, lim);
    if (rc) {
        crdt_counter_free(c);
        c = NULL;
    }
    *out = c;
    return rc;
}

int crdt_counter_add_string(struct crdt_counter *c, const void *value,
                            size_t len, const struct crdt_dot *dot,
                            uint64_t ts_ms, const struct crdt_limits *lim)
{
    if (dot->counter == 0)
        return DYN_EINVAL;
    if (value && ((lim && lim->max_member_len && len > lim->max_member_len) ||
                  len > UINT32_MAX))
        return DYN_ELIMIT;
    if (vclock_get(&c->seen, dot->actor) >= dot->counter)
        return 0; /* held as a base already, or a reset took it */
    if (!seen_room(c, dot->actor, lim))
        return DYN_ELIMIT;
    /* the entries stay: a base is no increment, and an entry's seq
     * claims every increment of its actor below it */
    struct cbase b = { dot->actor, dot->counter, ts_ms, value == NULL,
                       (uint8_t *)value, value ? (uint32_t)len : 0 };
    insert_base(c, &b);
    seen_raise(c, dot->actor, dot->counter);
    return 0;
}

static void insert_base(struct crdt_counter *c, const struct cbase *b)
{
    uint32_t at = 0;
    while (at < c->nb && base_dot_cmp(&c->b[at], b) < 0)
        at++;
    push_base(c, b);
    struct cbase nb = c->b[c->nb - 1];
    memmove(&c->b[at + 1], &c->b[at], (size_t)(c->nb - 1 - at) * sizeof(*c->b));
    c->b[at] = nb;
}

/* ---- the value -------------------------------------------------------------- */

/* The live part: sum of (i - ri) exactly, sum of (f - rf) in actor order,
 * and whether any live part exists. */
static int live_part(const struct crdt_counter *c, __int128 *isum,
                     long double *fsum, int *floats)
{
    int live = 0;
    *isum = 0;
    *fsum = 0;
    *floats = 0;
    for (uint32_t k = 0; k < c->ne; k++) {
        const struct centry *e = &c->e[k];
        *isum += (__int128)e->i - (__int128)e->ri;
        if (e->fops > e->rfops) {
            *fsum += e->f - e->rf;
            *floats = 1;
        }
    }
    live = *isum != 0 || *floats;
    return live;
}

void crdt_counter_value(const struct crdt_counter *c,
                        struct crdt_counter_value *out)
{
    const struct cbase *w = base_winner(c);
    __int128 isum;
    long double fsum, bf = 0;
    int floats;
    long long bi = 0;
    int live = live_part(c, &isum, &fsum, &floats);

    memset(out, 0, sizeof(*out));
    int has_bytes = w && !w->absent;
    int is_int = has_bytes && dyn_str2ll((const char *)w->p, w->len, &bi) == 0;
    int is_float = has_bytes && !is_int &&
                   crdt_ld_parse(w->p, w->len, &bf) == 0;
    if (has_bytes) {
        out->bytes = w->p;
        out->len = w->len;
    }
    if (!live) {
        out->kind = !has_bytes ? CRDT_COUNTER_ABSENT
                    : is_int   ? CRDT_COUNTER_INT
                    : is_float ? CRDT_COUNTER_FLOAT
                               : CRDT_COUNTER_BYTES;
        out->i = bi;
        out->f = is_int ? (long double)bi : bf;
        return;
    }
    if (has_bytes && !is_int && !is_float) {
        out->kind = CRDT_COUNTER_BYTES;
        return;
    }
    out->bytes = NULL; /* a live part: the value is computed */
    out->len = 0;
    if (floats || is_float) {
        out->kind = CRDT_COUNTER_FLOAT;
        out->f = (is_int ? (long double)bi : bf) + (long double)isum + fsum;
        return;
    }
    __int128 t = (__int128)bi + isum;
    out->i = (int64_t)t;
    out->kind = t >= INT64_MIN && t <= INT64_MAX ? CRDT_COUNTER_INT
                                                 : CRDT_COUNTER_BIG;
    out->f = (long double)t;
}

/* Decimal text of a 128-bit integer. */
static void format_i128(struct dbuf *out, __int128 t)
{
    char tmp[48];
    size_t n = 0;
    unsigned __int128 u = t < 0 ? -(unsigned __int128)t : (unsigned __int128)t;
    do {
        tmp[n++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u);
    if (t < 0)
        dbuf_appendc(out, '-');
    while (n)
        dbuf_appendc(out, tmp[--n]);
}

int crdt_counter_format(const struct crdt_counter *c, struct dbuf *out)
{
    struct crdt_counter_value v;
    crdt_counter_value(c, &v);
    switch (v.kind) {
    case CRDT_COUNTER_ABSENT:
        return DYN_ENOTFOUND;
    case CRDT_COUNTER_BYTES:
        dbuf_append(out, v.bytes, v.len);
        return 0;
    case CRDT_COUNTER_INT:
    case CRDT_COUNTER_FLOAT:
        if (v.bytes) { /* no live part: the base as written */
            dbuf_append(out, v.bytes, v.len);
            return 0;
        }
        if (v.kind == CRDT_COUNTER_INT) {
            char num[32];
            dbuf_append(out, num, (size_t)dyn_ll2str(num, v.i));
        } else {
            char *buf = dyn_malloc(CRDT_LD_CHARS);
            size_t n = crdt_ld_format(buf, CRDT_LD_CHARS, v.f);
            dbuf_append(out, buf, n);
            dyn_free(buf);
        }
        return 0;
    case CRDT_COUNTER_BIG: {
        const struct cbase *w = base_winner(c);
        __int128 isum;
        long double fsum;
        int floats;
        long long bi = 0;
        live_part(c, &isum, &fsum, &floats);
        if (w && !w->absent)
            dyn_str2ll((const char *)w->p, w->len, &bi);
        format_i128(out, (__int128)bi + isum);
        return 0;
    }
    }
    return DYN_EINVAL;
}

/* ---- operations ------------------------------------------------------------ */

/* The value as INCRBY reads it: an integer, or CRDT_ENOTINT. */
static int current_int(const struct crdt_counter *c, long long *out)
{
    struct crdt_counter_value v;
    crdt_counter_value(c, &v);
    switch (v.kind) {
    case CRDT_COUNTER_ABSENT:
        *out = 0;
        return 0;
    case CRDT_COUNTER_INT:
        *out = v.i;
        return 0;
    case CRDT_COUNTER_FLOAT: { /* a float whose text is an integer */
        struct dbuf b;
        dbuf_init(&b);
        crdt_counter_format(c, &b);
        int rc = dyn_str2ll(b.p, b.len, out);
        dbuf_free(&b);
        return rc ? CRDT_ENOTINT : 0;
    }
    default:
        return CRDT_ENOTINT;
    }
}

int crdt_counter_incrby(struct crdt_counter *c, int64_t by,
                        const struct crdt_dot *dot,
                        const struct crdt_limits *lim, int64_t *result)
{
    long long cur;
    int rc = current_int(c, &cur);
    if (rc)
        return rc;
    if ((by < 0 && cur < 0 && by < LLONG_MIN - cur) ||
        (by > 0 && cur > 0 && by > LLONG_MAX - cur))
        return CRDT_EOVERFLOW;
    /* The check on the dot comes after the value's: an op that fails is
     * no op, whichever the reason. */
    uint32_t k = actor_run(c, dot->actor, NULL);
    if (k < c->ne) {
        int64_t i = c->e[k].i;
        if ((by < 0 && i < 0 && by < INT64_MIN - i) ||
            (by > 0 && i > 0 && by > INT64_MAX - i))
            return CRDT_EOVERFLOW; /* the actor's own running sum */
    }
    struct centry *e;
    if ((rc = op_entry(c, dot, lim, &e)))
        return rc;
    e->seq = dot->counter;
    e->i += by;
    *result = cur + by;
    return 0;
}

int crdt_counter_incrbyfloat(struct crdt_counter *c, long double by,
                             const struct crdt_dot *dot,
                             const struct crdt_limits *lim,
                             long double *result)
{
    struct crdt_counter_value v;
    long double cur = 0;
    crdt_counter_value(c, &v);
    switch (v.kind) {
    case CRDT_COUNTER_ABSENT:
        break;
    case CRDT_COUNTER_INT:
    case CRDT_COUNTER_FLOAT:
    case CRDT_COUNTER_BIG:
        cur = v.f;
        break;
    default:
        return CRDT_ENOTFLOAT;
    }
    if (isnan(by) || isinf(by) || isnan(cur + by) || isinf(cur + by))
        return CRDT_ENANINF;
    uint32_t k = actor_run(c, dot->actor, NULL);
    if (k < c->ne && (isinf(c->e[k].f + by) || c->e[k].fops == UINT64_MAX))
        return CRDT_ENANINF; /* the actor's own running sum */
    struct centry *e;
    int rc = op_entry(c, dot, lim, &e);
    if (rc)
        return rc;
    struct centry saved = *e;
    e->seq = dot->counter;
    e->fops++;
    e->f += by;
    crdt_counter_value(c, &v);
    if (isnan(v.f) || isinf(v.f)) { /* the sum in actor order overflowed */
        *e = saved;
        if (saved.seq == 0) { /* the entry was new: take it out again */
            uint32_t at = (uint32_t)(e - c->e);
            memmove(&c->e[at], &c->e[at + 1],
                    (size_t)(c->ne - at - 1) * sizeof(*c->e));
            c->ne--;
        }
        return CRDT_ENANINF;
    }
    *result = v.f;
    return 0;
}

int crdt_counter_reset(struct crdt_counter *c, const void *value, size_t len,
                       const struct crdt_dot *dot, uint64_t ts_ms,
                       const struct crdt_limits *lim)
{
    if (value && ((lim && lim->max_member_len && len > lim->max_member_len) ||
                  len > UINT32_MAX))
        return DYN_ELIMIT;
    if (!seen_room(c, dot->actor, lim))
        return DYN_ELIMIT;
    struct centry *e;
    int rc = op_entry(c, dot, lim, &e);
    if (rc)
        return rc;
    crdt_counter_clear_observed(c);
    /* The resetter's own entry: its new seq has nothing live. */
    e->seq = dot->counter;
    e->rseq = dot->counter;
    struct cbase b = { dot->actor, dot->counter, ts_ms, value == NULL,
                       (uint8_t *)value, value ? (uint32_t)len : 0 };
    push_base(c, &b);
    seen_raise(c, dot->actor, dot->counter);
    return 0;
}

/* An observed clear without a dot: what a write of another type that saw
 * this whole state does to it (object.c).  Every entry is snapshotted and
 * every base goes (the bases' context keeps them seen), so the state
 * reads as absent, joins above the state it was made from, and an
 * increment or a SET it has not seen still wins a later join. */
void crdt_counter_clear_observed(struct crdt_counter *c)
{
    for (uint32_t k = 0; k < c->ne; k++) {
        struct centry *x = &c->e[k];
        x->rseq = x->seq;
        x->ri = x->i;
        x->rfops = x->fops;
        x->rf = x->f;
    }
    for (uint32_t k = 0; k < c->nb; k++)
        base_clear(&c->b[k]);
    c->nb = 0;
}

void crdt_counter_clock(const struct crdt_counter *c, struct vclock *out)
{
    vclock_clear(out);
    for (uint32_t k = 0; k < c->ne; k++)
        if (c->e[k].seq > vclock_get(out, c->e[k].actor))
            vclock_set(out, c->e[k].actor, c->e[k].seq, 0);
    vclock_merge(out, &c->seen);
}

/* ---- join ------------------------------------------------------------------- */

/* Total order on two entries' (seq, i, fops, f) and on their snapshots,
 * for a deterministic pick when two states disagree about one seq (only
 * corrupt peers do). */
static int ld_cmp(long double a, long double b)
{
    /* x87: the 80 bits that hold the value, not the padding after them */
    size_t n = sizeof(long double) < 10 ? sizeof(long double) : 10;
    return memcmp(&a, &b, n);
}

static int part_cmp(uint64_t s1, int64_t i1, uint64_t o1, long double f1,
                    uint64_t s2, int64_t i2, uint64_t o2, long double f2)
{
    if (s1 != s2)
        return s1 < s2 ? -1 : 1;
    if (i1 != i2)
        return i1 < i2 ? -1 : 1;
    if (o1 != o2)
        return o1 < o2 ? -1 : 1;
    return ld_cmp(f1, f2);
}

static struct centry entry_join(const struct centry *a, const struct centry *b)
{
    struct centry r = *a;
    if (part_cmp(b->seq, b->i, b->fops, b->f, a->seq, a->i, a->fops, a->f) >
        0) {
        r.seq = b->seq;
        r.i = b->i;
        r.fops = b->fops;
        r.f = b->f;
    }
    if (part_cmp(b->rseq, b->ri, b->rfops, b->rf, a->rseq, a->ri, a->rfops,
                 a->rf) > 0) {
        r.rseq = b->rseq;
        r.ri = b->ri;
        r.rfops = b->rfops;
        r.rf = b->rf;
    }
    /* Two valid states that disagree about one seq (only a corrupt peer
     * sends such a thing) can pair an entry and a snapshot that do not
     * fit; the snapshot yields, so a join always gives a valid state. */
    if (r.rseq == r.seq || r.rfops > r.fops) {
        if (r.rseq == r.seq)
            r.ri = r.i;
        r.rfops = r.fops;
        r.rf = r.f;
    }
    return r;
}

static int base_dot_cmp(const struct cbase *a, const struct cbase *b)
{
    return crdt_dot_cmp_raw(a->actor, a->counter, b->actor, b->counter);
}

/* The order of entries: by actor, then run. */
static int entry_key_cmp(const struct centry *a, const struct centry *b)
{
    return crdt_dot_cmp_raw(a->actor, a->run, b->actor, b->run);
}

/* Same dot, different content (corrupt peers): the smaller wins. */
static int base_content_cmp(const struct cbase *a, const struct cbase *b)
{
    if (a->ts_ms != b->ts_ms)
        return a->ts_ms < b->ts_ms ? -1 : 1;
    if (a->absent != b->absent)
        return a->absent ? -1 : 1;
    return crdt_bytes_cmp(a->p, a->len, b->p, b->len);
}

struct crdt_counter *crdt_counter_join(const struct crdt_counter *a,
                                       const struct crdt_counter *b)
{
    struct crdt_counter *r = crdt_counter_new();
    uint32_t i = 0, j = 0;
    while (i < a->ne || j < b->ne) { /* entries by (actor, run) */
        int c = i >= a->ne   ? 1
                : j >= b->ne ? -1
                             : entry_key_cmp(&a->e[i], &b->e[j]);
        if (c < 0) {
            push_entry(r, &a->e[i++]);
        } else if (c > 0) {
            push_entry(r, &b->e[j++]);
        } else {
            struct centry x = entry_join(&a->e[i++], &b->e[j++]);
            push_entry(r, &x);
        }
    }
    /* Bases: one the other side holds, or has not seen, stays (an
     * ORSWOT of one-shot values over the bases' own context). */
    i = j = 0;
    while (i < a->nb || j < b->nb) {
        int c = i >= a->nb ? 1 : j >= b->nb ? -1
                                            : base_dot_cmp(&a->b[i], &b->b[j]);
        if (c < 0) {
            if (a->b[i].counter > vclock_get(&b->seen, a->b[i].actor))
                push_base(r, &a->b[i]);
            i++;
        } else if (c > 0) {
            if (b->b[j].counter > vclock_get(&a->seen, b->b[j].actor))
                push_base(r, &b->b[j]);
            j++;
        } else {
            push_base(r, base_content_cmp(&a->b[i], &b->b[j]) <= 0
                             ? &a->b[i]
                             : &b->b[j]);
            i++;
            j++;
        }
    }
    vclock_copy(&r->seen, &a->seen);
    vclock_merge(&r->seen, &b->seen);
    return r;
}

/* ---- encoding --------------------------------------------------------------- */

/* The encoding; legacy: without the bases' context (what decode takes
 * from before it, and checks by encoding again). */
static void counter_encode(const struct crdt_counter *c, struct dbuf *out,
                           int legacy)
{
    crdt_put_u8(out, legacy ? CRDT_TYPE_COUNTER : COUNTER_TAG);
    crdt_put_varint(out, c->ne);
    for (uint32_t k = 0; k < c->ne; k++) {
        const struct centry *e = &c->e[k];
        uint8_t fl = (e->i ? CE_I : 0) | (e->fops ? CE_F : 0) |
                     (e->rseq ? CE_RSEQ : 0) | (e->ri ? CE_RI : 0) |
                     (e->rfops ? CE_RF : 0) | (e->run ? CE_RUN : 0);
        crdt_put_u64(out, e->actor);
        crdt_put_varint(out, e->seq);
        crdt_put_u8(out, fl);
        if (fl & CE_RUN)
            crdt_put_varint(out, e->run);
        if (fl & CE_I)
            crdt_put_varint(out, crdt_zigzag(e->i));
        if (fl & CE_F) {
            crdt_put_varint(out, e->fops);
            crdt_put_ld(out, e->f);
        }
        if (fl & CE_RSEQ)
            crdt_put_varint(out, e->rseq);
        if (fl & CE_RI)
            crdt_put_varint(out, crdt_zigzag(e->ri));
        if (fl & CE_RF) {
            crdt_put_varint(out, e->rfops);
            crdt_put_ld(out, e->rf);
        }
    }
    crdt_put_varint(out, c->nb);
    for (uint32_t k = 0; k < c->nb; k++) {
        const struct cbase *b = &c->b[k];
        crdt_put_u64(out, b->actor);
        crdt_put_varint(out, b->counter);
        crdt_put_varint(out, b->ts_ms);
        crdt_put_u8(out, b->absent ? 0 : 1);
        if (!b->absent) {
            crdt_put_varint(out, b->len);
            dbuf_append(out, b->p, b->len);
        }
    }
    if (legacy)
        return;
    crdt_put_varint(out, c->seen.n);
    for (uint32_t k = 0; k < c->seen.n; k++) {
        crdt_put_u64(out, c->seen.e[k].actor);
        crdt_put_varint(out, c->seen.e[k].counter);
    }
}

void crdt_counter_encode(const struct crdt_counter *c, struct dbuf *out)
{
    counter_encode(c, out, 0);
}

/* An entry's own invariants (decode's checks). */
static int entry_valid(const struct centry *e)
{
    if (e->seq == 0 || e->rseq > e->seq || e->rfops > e->fops ||
        e->run > e->seq || (e->rseq && e->rseq < e->run))
        return 0;
    if ((e->fops == 0 && e->f != 0) || (e->rfops == 0 && e->rf != 0))
        return 0;
    if (isinf(e->f) || isinf(e->rf))
        return 0;
    if (e->rseq == 0 && (e->ri || e->rfops))
        return 0;
    if (e->rseq == e->seq &&
        (e->ri != e->i || e->rfops != e->fops || ld_cmp(e->rf, e->f)))
        return 0;
    return 1;
}

int crdt_counter_decode(const uint8_t *p, size_t len,
                        const struct crdt_limits *lim,
                        struct crdt_counter **out)
{
    struct crdt_rd r;
    int rc = DYN_EINVAL;
    uint32_t max_actors = lim && lim->max_actors ? lim->max_actors
                                                 : UINT32_MAX;
    uint64_t max_len = lim && lim->max_member_len ? lim->max_member_len
                                                  : UINT32_MAX;
    *out = NULL;
    crdt_rd_init(&r, p, len);
    uint8_t tag = crdt_rd_u8(&r);
    if (tag != CRDT_TYPE_COUNTER && tag != COUNTER_TAG)
        return DYN_EINVAL;
    int legacy = tag == CRDT_TYPE_COUNTER;
    struct crdt_counter *c = crdt_counter_new();
    uint64_t ne = crdt_rd_varint(&r);
    if (r.err)
        goto out;
    if (ne > max_actors) {
        rc = DYN_ELIMIT;
        goto out;
    }
    if (ne > crdt_rd_left(&r) / 10) /* actor + seq + flags */
        goto out;
    for (uint64_t k = 0; k < ne; k++) {
        struct centry e;
        memset(&e, 0, sizeof(e));
        e.actor = crdt_rd_u64(&r);
        e.seq = crdt_rd_varint(&r);
        uint8_t fl = crdt_rd_u8(&r);
        if (fl & ~(CE_I | CE_F | CE_RSEQ | CE_RI | CE_RF | CE_RUN) ||
            (legacy && (fl & CE_RUN)))
            goto out;
        if (fl & CE_RUN)
            e.run = crdt_rd_varint(&r);
        if (fl & CE_I)
            e.i = crdt_unzigzag(crdt_rd_varint(&r));
        if (fl & CE_F) {
            e.fops = crdt_rd_varint(&r);
            e.f = crdt_rd_ld(&r);
        }
        if (fl & CE_RSEQ)
            e.rseq = crdt_rd_varint(&r);
        if (fl & CE_RI)
            e.ri = crdt_unzigzag(crdt_rd_varint(&r));
        if (fl & CE_RF) {
            e.rfops = crdt_rd_varint(&r);
            e.rf = crdt_rd_ld(&r);
        }
        if (r.err || !entry_valid(&e) ||
            (c->ne && entry_key_cmp(&c->e[c->ne - 1], &e) >= 0))
            goto out;
        push_entry(c, &e);
    }
    uint64_t nb = crdt_rd_varint(&r);
    if (r.err || nb > crdt_rd_left(&r) / 11) /* actor, counter, ts, kind */
        goto out;
    for (uint64_t k = 0; k < nb; k++) {
        struct cbase b;
        memset(&b, 0, sizeof(b));
        b.actor = crdt_rd_u64(&r);
        b.counter = crdt_rd_varint(&r);
        b.ts_ms = crdt_rd_varint(&r);
        uint8_t kind = crdt_rd_u8(&r);
        if (kind > 1)
            goto out;
        b.absent = kind == 0;
        if (!b.absent) {
            uint64_t bl = crdt_rd_varint(&r);
            if (!r.err && bl > max_len) {
                rc = DYN_ELIMIT;
                goto out;
            }
            b.p = (uint8_t *)crdt_rd_bytes(&r, bl);
            b.len = (uint32_t)bl;
        }
        if (r.err || b.counter == 0 ||
            (c->nb && base_dot_cmp(&c->b[c->nb - 1], &b) >= 0))
            goto out;
        push_base(c, &b);
    }
    /* the bases' context; a state encoded before it had one has none,
     * and its bases were seen as far as their actor's seq */
    if (legacy) { /* one entry per actor then (no runs) */
        for (uint32_t k = 0; k < c->ne; k++)
            vclock_set(&c->seen, c->e[k].actor, c->e[k].seq, 0);
    } else {
        uint64_t ns = crdt_rd_varint(&r);
        if (!r.err && ns > max_actors) {
            rc = DYN_ELIMIT;
            goto out;
        }
        if (r.err || ns > crdt_rd_left(&r) / 9) /* actor + counter */
            goto out;
        for (uint64_t k = 0; k < ns; k++) {
            uint64_t actor = crdt_rd_u64(&r);
            uint64_t counter = crdt_rd_varint(&r);
            if (r.err || counter == 0 ||
                (c->seen.n && c->seen.e[c->seen.n - 1].actor >= actor))
                goto out;
            vclock_set(&c->seen, actor, counter, 0);
        }
    }
    for (uint32_t k = 0; k < c->nb; k++)
        if (c->b[k].counter > vclock_get(&c->seen, c->b[k].actor))
            goto out; /* a base its state has not seen */
    if (r.err || r.off != len)
        goto out;
    /* One state, one encoding: what is left to check (shortest varints
     * were checked on the way, the long doubles' forms here). */
    struct dbuf again;
    dbuf_init(&again);
    counter_encode(c, &again, legacy);
    int same = again.len == len && memcmp(again.p, p, len) == 0;
    dbuf_free(&again);
    if (!same)
        goto out;
    *out = c;
    return 0;
out:
    crdt_counter_free(c);
    return rc;
}

/* ---- a readable state (DYNAMO.LOCAL) ------------------------------------------ */

void crdt_counter_describe(const struct crdt_counter *c, struct dbuf *out)
{
    char f[64];
    for (uint32_t k = 0; k < c->nb; k++) {
        const struct cbase *b = &c->b[k];
        dbuf_printf(out, "base %016" PRIx64 ":%" PRIu64 " ts=%" PRIu64 " ",
                    b->actor, b->counter, b->ts_ms);
        if (b->absent)
            dbuf_appends(out, "(absent)");
        else
            dbuf_printf(out, "\"%.*s\"", (int)DYN_MIN(b->len, 64u),
                        (const char *)b->p);
        dbuf_appendc(out, '\n');
    }
    if (c->seen.n) {
        dbuf_appends(out, "bases_seen");
        for (uint32_t k = 0; k < c->seen.n; k++)
            dbuf_printf(out, " %016" PRIx64 ":%" PRIu64, c->seen.e[k].actor,
                        c->seen.e[k].counter);
        dbuf_appendc(out, '\n');
    }
    for (uint32_t k = 0; k < c->ne; k++) {
        const struct centry *e = &c->e[k];
        dbuf_printf(out, "actor %016" PRIx64, e->actor);
        if (e->run)
            dbuf_printf(out, " run=%" PRIu64, e->run);
        dbuf_printf(out, " seq=%" PRIu64 " sum=%" PRId64, e->seq, e->i);
        if (e->fops) {
            crdt_ld_format(f, sizeof(f), e->f);
            dbuf_printf(out, " float_ops=%" PRIu64 " float_sum=%s", e->fops, f);
        }
        if (e->rseq) {
            dbuf_printf(out, " reset_at=%" PRIu64 " reset_sum=%" PRId64,
                        e->rseq, e->ri);
            if (e->rfops) {
                crdt_ld_format(f, sizeof(f), e->rf);
                dbuf_printf(out, " reset_float_sum=%s", f);
            }
        }
        dbuf_appendc(out, '\n');
    }
}
