/*
 * cmd_zset.c -- the sorted-set commands of Redis 7.0 (ZADD ... ZSCAN, the
 * STORE forms, ZMPOP), on the sorted set CRDT of cluster/crdt_zset.c.
 *
 * A key's value is a crdt_zset state (docs/TYPES.md, "Sorted sets"), read
 * and written through db.h's typed API: db_typed_lookup gives the merged
 * state's bytes, the handler decodes them, applies its ops with dots from
 * db_typed_dots, and stores the new encoding with db_typed_write.  The
 * state is what replicates, so a write keeps the key's expire_ms (Redis
 * keeps a TTL on a sorted set modified in place) and a STORE writes 0 (it
 * replaces the key, as Redis's setKey does).  Read-only commands never
 * write.
 *
 *   ZADD/ZINCRBY  register writes; ZINCRBY (and ZADD INCR) a counter for
 *                 its node, so concurrent increments add up; on a node
 *                 alone it folds into the register, Redis's arithmetic.
 *   ZREM, ZPOP*, ZREMRANGEBY*, ZMPOP   observed removes.
 *   the STORE forms  the destination's members observed away, the result
 *                 added: a reset of what the command saw.
 *
 * Every op uses its own dot: a handler reserves one per op it may apply
 * (an upper bound; unused ones are gaps, as other keys' dots are) and
 * passes the count it used.  An op refused by a limit leaves the key as it
 * was: nothing is stored, and the reply names the limit.
 *
 * Replies and error texts are Redis 7.0.15's byte for byte, in its order of
 * checks (syntax before numbers before the key's type, as each of Redis's
 * handlers does); scores are written as Redis writes a double ("%.17g",
 * "inf", "-inf").  Ranges by score or lex are contiguous in the view
 * sorted by (score, member), found by binary search; BYLEX assumes, as
 * Redis does, that the members in range share one score.
 *
 * ZSCAN: a set of at most ZSET_SCAN_ONE_CALL members is answered whole in
 * one call with cursor 0, as Redis answers a listpack-encoded one; a larger
 * one pages by rank (the cursor is the next rank), which returns every
 * member present throughout when no member before the cursor goes.
 *
 * Multi-key commands (the STORE forms, ZUNION/ZINTER/ZDIFF/ZINTERCARD,
 * ZMPOP, ZRANGESTORE) read and write several keys of the local store; in
 * a cluster they route ROUTE_GATHER: the coordinator fetches each key's
 * merged copy first and merges each written key through its replicas
 * (numkeys_at names ZUNIONSTORE's and ZMPOP's numkeys argument).  The blocking
 * commands answer one clear error: a Dynamo key has N replicas and no one
 * server to wait on.
 *
 * Thread-safety: handlers run on the event loop that owns the node.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/crdt.h"
#include "server/client.h"
#include "server/command.h"
#include "server/db.h"
#include "server/log.h"
#include "server/node.h"
#include "server/reply.h"
#include "server/util.h"

/* Redis's zset-max-listpack-entries default: ZSCAN answers a set this
 * small in one call, as Redis does. */
#define ZSET_SCAN_ONE_CALL 128
/* ZRANDMEMBER with a negative count builds its whole reply in one call:
 * this bounds it (Redis 7.0 has no bound). */
#define ZSET_RANDOM_MAX (16 * 1024 * 1024)

#define ERR_NOT_FLOAT "ERR value is not a valid float"
#define ERR_NAN_SCORE "ERR resulting score is not a number (NaN)"
#define ERR_RANGE_FLOAT "ERR min or max is not a float"
#define ERR_RANGE_LEX "ERR min or max not valid string range item"

/* ---- keys --------------------------------------------------------------- */

static int zs_arg_is(const struct dyn_arg *a, const char *lit)
{
    return dyn_arg_is(a->p, a->len, lit);
}

static void zs_corrupt(struct client *c, const struct dyn_arg *key)
{
    dlog(DLOG_WARNING, "sorted set %.*s: stored state does not decode",
         (int)DYN_MIN(key->len, (size_t)64), key->p);
    client_error(c, "ERR corrupt value");
}

/* The key's sorted set: 1 (*out set), 0 absent, -1 after replying
 * (WRONGTYPE, corrupt).  reserve: for a write that changes the set only
 * if it succeeds (one member), what it may add to the encoding (see
 * db_typed_take_write); else 0. */
static int zs_load_for(struct client *c, const struct dyn_arg *key,
                       struct crdt_zset **out, int64_t *expire_ms,
                       uint64_t reserve)
{
    struct db_typed t;
    *out = NULL;
    if (expire_ms)
        *expire_ms = 0;
    if (reserve) {
        void *st = NULL;
        int64_t exp = 0;
        int rc = db_typed_take_write(c->node, key->p, key->len,
                                     CRDT_TYPE_ZSET, &st, &exp, reserve);
        *out = st;
        if (rc == 1 && expire_ms)
            *expire_ms = exp;
        if (rc >= 0)
            return rc;
        if (rc == DB_WRONGTYPE)
            client_error(c, ERR_WRONGTYPE);
        else if (rc == DYN_EAGAIN || rc == DYN_EIO)
            client_error(c, db_error_text(c->node, rc));
        else
            zs_corrupt(c, key);
        return -1;
    }
    int rc = db_typed_lookup(c->node, key->p, key->len, CRDT_TYPE_ZSET, &t);
    if (rc == DB_WRONGTYPE) {
        client_error(c, ERR_WRONGTYPE);
        return -1;
    }
    if (rc != 1)
        return 0;
    *out = db_typed_take(c->node, key->p, key->len, CRDT_TYPE_ZSET, &t);
    if (!*out && crdt_zset_decode(t.state, t.len, NULL, out) != 0) {
        zs_corrupt(c, key);
        return -1;
    }
    if (expire_ms)
        *expire_ms = t.expire_ms;
    return 1;
}

static int zs_load(struct client *c, const struct dyn_arg *key,
                   struct crdt_zset **out, int64_t *expire_ms)
{
    return zs_load_for(c, key, out, expire_ms, 0);
}

/* The same for a command that only reads: the state the node keeps when
 * it does (db_typed_borrow: lent until the command ends, freeing it does
 * nothing), else as zs_load. */
static int zs_read(struct client *c, const struct dyn_arg *key,
                   struct crdt_zset **out)
{
    void *st = NULL;
    int64_t exp;
    int rc = db_typed_borrow(c->node, key->p, key->len, CRDT_TYPE_ZSET, &st,
                             &exp);
    if (rc == DB_WRONGTYPE) {
        client_error(c, ERR_WRONGTYPE);
        return -1;
    }
    if (rc == 1) {
        *out = st;
        return 1;
    }
    return zs_load(c, key, out, NULL);
}

/* One write's dots and what it applies with. */
struct zs_op {
    struct client *c;
    const struct dyn_arg *key;
    struct crdt_dot first;
    uint64_t ts_ms;
    uint32_t ndots, used;
    int fold;
    const struct crdt_limits *lim;
};

static void zs_op_begin(struct zs_op *op, struct client *c,
                        const struct dyn_arg *key, uint32_t ndots)
{
    op->c = c;
    op->key = key;
    op->ndots = ndots ? ndots : 1;
    op->used = 0;
    op->fold = db_typed_alone(c->node);
    op->lim = db_crdt_limits(c->node);
    db_typed_dots(c->node, key->p, key->len, op->ndots, &op->first,
                  &op->ts_ms);
}

static struct crdt_dot zs_op_dot(struct zs_op *op)
{
    dyn_assert(op->used < op->ndots);
    struct crdt_dot d = { op->first.actor, op->first.counter + op->used++ };
    return d;
}

/* Replies a library error of an op on member (len bytes) of z. */
static void zs_op_error(struct zs_op *op, const struct crdt_zset *z, int rc,
                        size_t len)
{
    struct client *c = op->c;
    const struct crdt_limits *lim = op->lim;
    if (rc == CRDT_ENANSCORE) {
        client_error(c, ERR_NAN_SCORE);
    } else if (rc == DYN_ELIMIT && lim && lim->max_member_len &&
               len > lim->max_member_len) {
        client_errorf(c, "ERR sorted set member would exceed "
                      "proto-max-bulk-len (%u)", lim->max_member_len);
    } else if (rc == DYN_ELIMIT && lim && lim->max_members &&
               crdt_zset_card(z) >= lim->max_members) {
        client_errorf(c, "ERR sorted set would exceed crdt-max-members (%u)",
                      lim->max_members);
    } else if (rc == DYN_ELIMIT) {
        client_errorf(c, "ERR sorted set would exceed its bound on writers "
                      "(%u actors, %u dots awaiting compaction)",
                      lim ? lim->max_actors : 0, lim ? lim->max_dots : 0);
    } else {
        client_errorf(c, "ERR sorted set update refused (%d)", rc);
    }
}

/* Stores *z as the key's value: the state goes to db (*z is NULL
 * afterwards).  0, or -1 after rolling the reply back to mark and replying
 * the write's error. */
static int zs_op_store(struct zs_op *op, struct crdt_zset **z,
                       int64_t expire_ms, size_t mark)
{
    struct client *c = op->c;
    int rc = db_typed_write_state(c->node, op->key->p, op->key->len,
                                  CRDT_TYPE_ZSET, *z, &op->first,
                                  op->used ? op->used : 1, op->ts_ms,
                                  expire_ms);
    *z = NULL;
    if (rc == 0)
        return 0;
    c->obuf.len = mark;
    c->errors++;
    db_reply_write_error(c->node, &c->obuf, rc, NULL);
    return -1;
}

/* ---- numbers and ranges ------------------------------------------------- */

/* NUL-terminated copy of an argument, for strtod. */
static char *zs_cstr(const struct dyn_arg *a)
{
    char *s = dyn_malloc(a->len + 1);
    memcpy(s, a->p, a->len);
    s[a->len] = '\0';
    return s;
}

/* Redis's getDoubleFromObject: the whole argument, no leading space, no
 * NaN, no overflow or underflow to a useless value.  0 or -1. */
static int zs_parse_double(const struct dyn_arg *a, double *out)
{
    if (a->len == 0)
        return -1;
    char *s = zs_cstr(a), *end;
    errno = 0;
    double v = strtod(s, &end);
    int bad = isspace((unsigned char)s[0]) || (size_t)(end - s) != a->len ||
              (errno == ERANGE &&
               (v == HUGE_VAL || v == -HUGE_VAL || fpclassify(v) == FP_ZERO)) ||
              isnan(v);
    dyn_free(s);
    if (bad)
        return -1;
    *out = v;
    return 0;
}

static int zs_parse_ll(struct client *c, const struct dyn_arg *a,
                       long long *out)
{
    if (dyn_str2ll(a->p, a->len, out) == 0)
        return 0;
    client_error(c, ERR_NOT_INTEGER);
    return -1;
}

struct zs_range {
    double min, max;
    int minex, maxex;
};

/* zslParseRange's item: "(" for exclusive, then strtod up to the end (or
 * an embedded NUL, as Redis reads it), no NaN. */
static int zs_range_item(const struct dyn_arg *a, double *v, int *ex)
{
    char *s = zs_cstr(a), *end;
    const char *p = s;
    *ex = 0;
    if (p[0] == '(') {
        *ex = 1;
        p++;
    }
    *v = strtod(p, &end);
    int bad = end[0] != '\0' || isnan(*v);
    dyn_free(s);
    return bad ? -1 : 0;
}

static int zs_parse_range(const struct dyn_arg *min, const struct dyn_arg *max,
                          struct zs_range *r)
{
    if (zs_range_item(min, &r->min, &r->minex) ||
        zs_range_item(max, &r->max, &r->maxex))
        return -1;
    return 0;
}

static int zs_gte_min(double v, const struct zs_range *r)
{
    return r->minex ? v > r->min : v >= r->min;
}

static int zs_lte_max(double v, const struct zs_range *r)
{
    return r->maxex ? v < r->max : v <= r->max;
}

struct zs_lex_item {
    int inf; /* -1 "-", +1 "+", 0 a value */
    int ex;
    const uint8_t *p;
    size_t len;
};

struct zs_lex {
    struct zs_lex_item min, max;
};

static int zs_lex_item(const struct dyn_arg *a, struct zs_lex_item *it)
{
    memset(it, 0, sizeof(*it));
    if (a->len == 0)
        return -1;
    switch (a->p[0]) {
    case '+':
    case '-':
        if (a->len != 1)
            return -1;
        it->inf = a->p[0] == '+' ? 1 : -1;
        return 0;
    case '(':
    case '[':
        it->ex = a->p[0] == '(';
        it->p = (const uint8_t *)a->p + 1;
        it->len = a->len - 1;
        return 0;
    default:
        return -1;
    }
}

static int zs_parse_lex(const struct dyn_arg *min, const struct dyn_arg *max,
                        struct zs_lex *r)
{
    if (zs_lex_item(min, &r->min) || zs_lex_item(max, &r->max))
        return -1;
    return 0;
}

static int zs_bytes_cmp(const uint8_t *a, size_t alen, const uint8_t *b,
                        size_t blen)
{
    size_t m = alen < blen ? alen : blen;
    int c = m ? memcmp(a, b, m) : 0;
    if (c)
        return c;
    return alen < blen ? -1 : (alen > blen);
}

static int zs_lex_gte_min(const uint8_t *m, size_t len, const struct zs_lex *r)
{
    if (r->min.inf)
        return r->min.inf < 0;
    int c = zs_bytes_cmp(m, len, r->min.p, r->min.len);
    return r->min.ex ? c > 0 : c >= 0;
}

static int zs_lex_lte_max(const uint8_t *m, size_t len, const struct zs_lex *r)
{
    if (r->max.inf)
        return r->max.inf > 0;
    int c = zs_bytes_cmp(m, len, r->max.p, r->max.len);
    return r->max.ex ? c < 0 : c <= 0;
}

/* A range by score or by name, as the commands take it. */
enum zs_by { ZS_BY_RANK, ZS_BY_SCORE, ZS_BY_LEX };

struct zs_bounds {
    enum zs_by by; /* ZS_BY_SCORE or ZS_BY_LEX */
    struct zs_range r;
    struct zs_lex lex;
};

/* min and max by score or by name; -1 after replying Redis's error. */
static int zs_parse_bounds(struct client *c, enum zs_by by,
                           const struct dyn_arg *min,
                           const struct dyn_arg *max, struct zs_bounds *b)
{
    b->by = by;
    if (by == ZS_BY_SCORE && zs_parse_range(min, max, &b->r)) {
        client_error(c, ERR_RANGE_FLOAT);
        return -1;
    }
    if (by == ZS_BY_LEX && zs_parse_lex(min, max, &b->lex)) {
        client_error(c, ERR_RANGE_LEX);
        return -1;
    }
    return 0;
}

/* ---- the view's ranges -------------------------------------------------- */

struct zs_item {
    const uint8_t *m;
    size_t len;
    double score;
};

struct zs_items {
    size_t n, cap;
    struct zs_item *v;
    uint8_t **owned; /* copies kept by zs_items_own */
    size_t nowned;
};

static void zs_items_push(struct zs_items *l, const uint8_t *m, size_t len,
                          double score)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = dyn_realloc(l->v, l->cap * sizeof(*l->v));
    }
    struct zs_item it = { m, len, score };
    l->v[l->n++] = it;
}

/* Copies every item's member, so the list outlives changes to its set. */
static void zs_items_own(struct zs_items *l)
{
    l->owned = dyn_realloc(l->owned,
                           (l->nowned + l->n + 1) * sizeof(*l->owned));
    for (size_t k = 0; k < l->n; k++) {
        uint8_t *p = dyn_memdup(l->v[k].m, l->v[k].len ? l->v[k].len : 1);
        l->owned[l->nowned++] = p;
        l->v[k].m = p;
    }
}

static void zs_items_free(struct zs_items *l)
{
    for (size_t k = 0; k < l->nowned; k++)
        dyn_free(l->owned[k]);
    dyn_free(l->owned);
    dyn_free(l->v);
    memset(l, 0, sizeof(*l));
}

static void zs_at(const struct crdt_zset *z, uint32_t i, struct zs_item *it)
{
    crdt_zset_at(z, i, &it->m, &it->len, &it->score);
}

/* The first rank at which pred turns false (pred holds on a prefix of the
 * view: a bound of a score or lex range). */
static uint32_t zs_partition(const struct crdt_zset *z,
                             int (*pred)(const struct zs_item *, const void *),
                             const void *arg)
{
    uint32_t lo = 0, hi = crdt_zset_card(z);
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        struct zs_item it;
        zs_at(z, mid, &it);
        if (pred(&it, arg))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int zs_below_min(const struct zs_item *it, const void *r)
{
    return !zs_gte_min(it->score, r);
}

static int zs_within_max(const struct zs_item *it, const void *r)
{
    return zs_lte_max(it->score, r);
}

static int zs_lex_below_min(const struct zs_item *it, const void *r)
{
    return !zs_lex_gte_min(it->m, it->len, r);
}

static int zs_lex_within_max(const struct zs_item *it, const void *r)
{
    return zs_lex_lte_max(it->m, it->len, r);
}

/* The ranks [*lo, *hi) a score or lex range spans (a lex range: members
 * of one score, as Redis assumes). */
static void zs_span(const struct crdt_zset *z, const struct zs_bounds *b,
                    long long *lo, long long *hi)
{
    if (b->by == ZS_BY_SCORE) {
        *lo = zs_partition(z, zs_below_min, &b->r);
        *hi = zs_partition(z, zs_within_max, &b->r);
    } else {
        *lo = zs_partition(z, zs_lex_below_min, &b->lex);
        *hi = zs_partition(z, zs_lex_within_max, &b->lex);
    }
}

/* Ranks [start, end] after Redis's sanitizing; 0 when empty. */
static int zs_rank_span(long long llen, long long start, long long end,
                        long long *s, long long *e)
{
    if (start < 0)
        start = llen + start;
    if (end < 0)
        end = llen + end;
    if (start < 0)
        start = 0;
    if (start > end || start >= llen)
        return 0;
    if (end >= llen)
        end = llen - 1;
    *s = start;
    *e = end;
    return 1;
}

static void zs_collect_rank(const struct crdt_zset *z, long long start,
                            long long end, int rev, struct zs_items *out)
{
    long long llen = crdt_zset_card(z), s, e;
    if (!zs_rank_span(llen, start, end, &s, &e))
        return;
    for (long long k = s; k <= e; k++) {
        struct zs_item it;
        zs_at(z, (uint32_t)(rev ? llen - 1 - k : k), &it);
        zs_items_push(out, it.m, it.len, it.score);
    }
}

/* A span of ranks with Redis's LIMIT: from its first rank (its last,
 * reversed), skip offset (any negative offset skips everything), then up
 * to limit (negative: no limit) while in the span. */
static void zs_collect_span(const struct crdt_zset *z, long long lo,
                            long long hi, long long offset, long long limit,
                            int rev, struct zs_items *out)
{
    if (lo >= hi || offset < 0 || offset >= hi - lo)
        return;
    long long n = hi - lo - offset;
    if (limit >= 0 && limit < n)
        n = limit;
    for (long long k = 0; k < n; k++) {
        struct zs_item it;
        zs_at(z, (uint32_t)(rev ? hi - 1 - offset - k : lo + offset + k), &it);
        zs_items_push(out, it.m, it.len, it.score);
    }
}

/* An array of members, with scores: flat in RESP2, [member, score] pairs
 * in RESP3. */
static void zs_reply_items(struct client *c, const struct zs_items *l,
                           int withscores)
{
    struct dbuf *b = &c->obuf;
    reply_array(b, withscores && c->resp == 2 ? (long long)l->n * 2
                                              : (long long)l->n);
    for (size_t k = 0; k < l->n; k++) {
        if (withscores && c->resp > 2)
            reply_array(b, 2);
        reply_bulk(b, l->v[k].m, l->v[k].len);
        if (withscores)
            reply_double(b, c->resp, l->v[k].score);
    }
}

/* ---- the destination of a STORE ----------------------------------------- */

static int zs_item_cmp(const void *a, const void *b)
{
    const struct zs_item *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? -1 : 1;
    return zs_bytes_cmp(x->m, x->len, y->m, y->len);
}

/*
 * Writes items (distinct members) as dst's whole value: the members dst's
 * sorted set holds are observed away and the items added, with no TTL; an
 * empty result deletes dst, whatever it held.  0, or -1 after replying.
 */
static int zs_store_items(struct client *c, const struct dyn_arg *dst,
                          const struct zs_items *items)
{
    struct db_typed t;
    struct crdt_zset *z = NULL;
    size_t mark = c->obuf.len;
    int rc = db_typed_lookup(c->node, dst->p, dst->len, CRDT_TYPE_ZSET, &t);
    if (rc == 1 && crdt_zset_decode(t.state, t.len, NULL, &z) != 0) {
        zs_corrupt(c, dst);
        return -1;
    }
    if (items->n == 0 && rc == DB_WRONGTYPE) {
        /* Another type: Redis deletes it. */
        struct db_write w = { .tombstone = 1 };
        rc = db_write(c->node, dst->p, dst->len, &w);
        if (rc != 0) {
            c->errors++;
            db_reply_write_error(c->node, &c->obuf, rc, NULL);
            return -1;
        }
        return 0;
    }
    if (items->n == 0 && !z)
        return 0;
    if (!z)
        z = crdt_zset_new();
    uint32_t old = crdt_zset_card(z);
    struct zs_op op;
    zs_op_begin(&op, c, dst, old + (uint32_t)items->n);
    struct zs_items gone = { 0 };
    for (uint32_t k = 0; k < old; k++) {
        struct zs_item it;
        zs_at(z, k, &it);
        zs_items_push(&gone, it.m, it.len, it.score);
    }
    zs_items_own(&gone);
    rc = 0;
    for (size_t k = 0; k < gone.n && rc >= 0; k++) {
        struct crdt_dot d = zs_op_dot(&op);
        rc = crdt_zset_remove(z, gone.v[k].m, gone.v[k].len, &d, op.fold,
                              op.lim);
        if (rc < 0)
            zs_op_error(&op, z, rc, 0);
    }
    zs_items_free(&gone);
    for (size_t k = 0; k < items->n && rc >= 0; k++) {
        struct crdt_dot d = zs_op_dot(&op);
        int added;
        double s = items->v[k].score == 0 ? 0.0 : items->v[k].score;
        rc = crdt_zset_add(z, items->v[k].m, items->v[k].len, s, &d,
                           op.ts_ms, op.lim, &added);
        if (rc < 0)
            zs_op_error(&op, z, rc, items->v[k].len);
    }
    if (rc < 0) {
        crdt_zset_free(z);
        return -1;
    }
    rc = zs_op_store(&op, &z, 0, mark);
    crdt_zset_free(z);
    return rc;
}

/* ---- ZADD, ZINCRBY ------------------------------------------------------ */

static void zs_add_generic(struct client *c, int argc,
                           const struct dyn_arg *argv, int incr)
{
    int nx = 0, xx = 0, gt = 0, lt = 0, ch = 0, scoreidx = 2;
    if (!incr) {
        for (; scoreidx < argc; scoreidx++) {
            const struct dyn_arg *a = &argv[scoreidx];
            if (zs_arg_is(a, "nx"))
                nx = 1;
            else if (zs_arg_is(a, "xx"))
                xx = 1;
            else if (zs_arg_is(a, "ch"))
                ch = 1;
            else if (zs_arg_is(a, "incr"))
                incr = 1;
            else if (zs_arg_is(a, "gt"))
                gt = 1;
            else if (zs_arg_is(a, "lt"))
                lt = 1;
            else
                break;
        }
    }
    int elements = argc - scoreidx;
    if (elements % 2 || !elements) {
        client_error(c, ERR_SYNTAX);
        return;
    }
    elements /= 2;
    if (nx && xx) {
        client_error(c, "ERR XX and NX options at the same time are not "
                        "compatible");
        return;
    }
    if ((gt && nx) || (lt && nx) || (gt && lt)) {
        client_error(c, "ERR GT, LT, and/or NX options at the same time are "
                        "not compatible");
        return;
    }
    if (incr && elements > 1) {
        client_error(c, "ERR INCR option supports a single "
                        "increment-element pair");
        return;
    }
    double *scores = dyn_malloc((size_t)elements * sizeof(*scores));
    for (int j = 0; j < elements; j++) {
        if (zs_parse_double(&argv[scoreidx + j * 2], &scores[j]) != 0) {
            client_error(c, ERR_NOT_FLOAT);
            dyn_free(scores);
            return;
        }
        /* A small Redis set keeps scores as text where -0 reads 0. */
        if (scores[j] == 0)
            scores[j] = 0.0;
    }
    struct crdt_zset *z;
    int64_t expire_ms;
    /* one member is all or nothing; more could stop midway */
    const struct dyn_arg *m0 = &argv[scoreidx + 1];
    int found = zs_load_for(c, &argv[1], &z, &expire_ms,
                            elements == 1 ? 192 + m0->len : 0);
    if (found < 0) {
        dyn_free(scores);
        return;
    }
    long long added = 0, updated = 0, processed = 0;
    double score = 0;
    if (!found && xx)
        goto reply;
    if (!z)
        z = crdt_zset_new();

    struct zs_op op;
    size_t mark = c->obuf.len;
    zs_op_begin(&op, c, &argv[1], (uint32_t)elements);
    uint64_t run = 0;
    if (incr) { /* the actor its sums go under (db_inc_run) */
        uint64_t last = db_counter_last(c->node, argv[1].p, argv[1].len, &run);
        struct crdt_dot ld = { op.first.actor, last };
        run = db_inc_run(c->node, last, run,
                         last && crdt_zset_has_dot(z, &ld), &op.first);
        crdt_zset_inc_actor(z, run);
    }
    for (int j = 0; j < elements; j++) {
        const struct dyn_arg *m = &argv[scoreidx + 1 + j * 2];
        double cur, newscore = scores[j];
        int exists = crdt_zset_score(z, m->p, m->len, &cur), rc = 0;
        if (exists) {
            if (nx)
                continue;
            if (incr) {
                newscore = cur + scores[j];
                if (isnan(newscore)) {
                    client_error(c, ERR_NAN_SCORE);
                    goto out;
                }
            }
            if ((lt && newscore >= cur) || (gt && newscore <= cur))
                continue;
            processed++;
            if (newscore == cur) {
                score = cur;
                continue;
            }
            struct crdt_dot d = zs_op_dot(&op);
            if (incr)
                rc = crdt_zset_incrby(z, m->p, m->len, scores[j], &d,
                                      op.ts_ms, op.fold, op.lim, &newscore);
            else {
                int a;
                rc = crdt_zset_add(z, m->p, m->len, newscore, &d, op.ts_ms,
                                   op.lim, &a);
            }
            if (rc == 0)
                updated++;
        } else {
            if (xx)
                continue;
            processed++;
            struct crdt_dot d = zs_op_dot(&op);
            if (incr && !op.fold)
                rc = crdt_zset_incrby(z, m->p, m->len, scores[j], &d,
                                      op.ts_ms, 0, op.lim, &newscore);
            else {
                int a;
                rc = crdt_zset_add(z, m->p, m->len, newscore, &d, op.ts_ms,
                                   op.lim, &a);
            }
            if (rc == 0)
                added++;
        }
        if (rc < 0) {
            zs_op_error(&op, z, rc, m->len);
            goto out;
        }
        score = newscore;
    }
    if ((added || updated) && zs_op_store(&op, &z, expire_ms, mark) != 0)
        goto out;
    if (incr && (added || updated))
        db_counter_op(c->node, argv[1].p, argv[1].len, op.first.counter, run);
reply:
    if (incr) {
        if (processed)
            reply_double(&c->obuf, c->resp, score);
        else
            reply_null(&c->obuf, c->resp);
    } else {
        reply_int(&c->obuf, ch ? added + updated : added);
    }
out:
    crdt_zset_free(z);
    dyn_free(scores);
}

static void zs_zadd(struct client *c, int argc, const struct dyn_arg *argv)
{
    zs_add_generic(c, argc, argv, 0);
}

static void zs_zincrby(struct client *c, int argc, const struct dyn_arg *argv)
{
    zs_add_generic(c, argc, argv, 1);
}

/* ---- removes ------------------------------------------------------------ */

/* Removes the listed members of z (key) and stores it; replies the count.
 * The list must own its bytes (zs_items_own). */
static void zs_remove_items(struct client *c, const struct dyn_arg *key,
                            struct crdt_zset **z, int64_t expire_ms,
                            const struct zs_items *l)
{
    if (l->n == 0) {
        reply_int(&c->obuf, 0);
        return;
    }
    struct zs_op op;
    size_t mark = c->obuf.len;
    long long deleted = 0;
    zs_op_begin(&op, c, key, (uint32_t)l->n);
    for (size_t k = 0; k < l->n; k++) {
        struct crdt_dot d = zs_op_dot(&op);
        int rc = crdt_zset_remove(*z, l->v[k].m, l->v[k].len, &d, op.fold,
                                  op.lim);
        if (rc < 0) {
            zs_op_error(&op, *z, rc, 0);
            return;
        }
        deleted += rc;
    }
    if (deleted && zs_op_store(&op, z, expire_ms, mark) != 0)
        return;
    reply_int(&c->obuf, deleted);
}

static void zs_zrem(struct client *c, int argc, const struct dyn_arg *argv)
{
    struct crdt_zset *z;
    int64_t expire_ms;
    int found = zs_load(c, &argv[1], &z, &expire_ms);
    if (found <= 0) {
        if (found == 0)
            reply_int(&c->obuf, 0);
        return;
    }
    struct zs_items l = { 0 };
    for (int j = 2; j < argc; j++) {
        double s;
        if (crdt_zset_score(z, argv[j].p, argv[j].len, &s))
            zs_items_push(&l, (const uint8_t *)argv[j].p, argv[j].len, s);
    }
    /* A member named twice is removed once. */
    zs_remove_items(c, &argv[1], &z, expire_ms, &l);
    zs_items_free(&l);
    crdt_zset_free(z);
}

static void zs_remrange(struct client *c, const struct dyn_arg *argv,
                        enum zs_by by)
{
    long long start = 0, end = 0, lo, hi;
    struct zs_bounds bd;
    if (by == ZS_BY_RANK) {
        if (zs_parse_ll(c, &argv[2], &start) || zs_parse_ll(c, &argv[3], &end))
            return;
    } else if (zs_parse_bounds(c, by, &argv[2], &argv[3], &bd)) {
        return;
    }
    struct crdt_zset *z;
    int64_t expire_ms;
    int found = zs_load(c, &argv[1], &z, &expire_ms);
    if (found <= 0) {
        if (found == 0)
            reply_int(&c->obuf, 0);
        return;
    }
    struct zs_items l = { 0 };
    if (by == ZS_BY_RANK) {
        zs_collect_rank(z, start, end, 0, &l);
    } else {
        zs_span(z, &bd, &lo, &hi);
        zs_collect_span(z, lo, hi, 0, -1, 0, &l);
    }
    zs_items_own(&l);
    zs_remove_items(c, &argv[1], &z, expire_ms, &l);
    zs_items_free(&l);
    crdt_zset_free(z);
}

static void zs_zremrangebyrank(struct client *c, int argc,
                               const struct dyn_arg *argv)
{
    (void)argc;
    zs_remrange(c, argv, ZS_BY_RANK);
}

static void zs_zremrangebyscore(struct client *c, int argc,
                                const struct dyn_arg *argv)
{
    (void)argc;
    zs_remrange(c, argv, ZS_BY_SCORE);
}

static void zs_zremrangebylex(struct client *c, int argc,
                              const struct dyn_arg *argv)
{
    (void)argc;
    zs_remrange(c, argv, ZS_BY_LEX);
}

/* ---- pops --------------------------------------------------------------- */

/*
 * Pops up to count (-1: one, the plain form) from the first key of keys
 * that holds a sorted set.  emitkey: ZMPOP's [key, [[m, s] ...]] (nil when
 * none); else ZPOPMIN/MAX's array.
 */
static void zs_pop(struct client *c, const struct dyn_arg *keys, int nkeys,
                   int max, long long count, int emitkey)
{
    struct crdt_zset *z = NULL;
    int64_t expire_ms = 0;
    const struct dyn_arg *key = NULL;
    for (int k = 0; k < nkeys; k++) {
        int found = zs_load(c, &keys[k], &z, &expire_ms);
        if (found < 0)
            return;
        if (found) {
            key = &keys[k];
            break;
        }
    }
    if (!z) {
        if (emitkey)
            reply_null_array(&c->obuf, c->resp);
        else
            reply_array(&c->obuf, 0);
        return;
    }
    if (count == 0) {
        reply_array(&c->obuf, 0);
        crdt_zset_free(z);
        return;
    }
    int nested = emitkey || (c->resp > 2 && count != -1);
    if (count == -1)
        count = 1;
    long long llen = crdt_zset_card(z);
    long long n = count > llen ? llen : count;
    struct zs_items l = { 0 };
    for (long long k = 0; k < n; k++) {
        struct zs_item it;
        zs_at(z, (uint32_t)(max ? llen - 1 - k : k), &it);
        zs_items_push(&l, it.m, it.len, it.score);
    }
    zs_items_own(&l);

    struct zs_op op;
    size_t mark = c->obuf.len;
    zs_op_begin(&op, c, key, (uint32_t)n);
    for (size_t k = 0; k < l.n; k++) {
        struct crdt_dot d = zs_op_dot(&op);
        int rc = crdt_zset_remove(z, l.v[k].m, l.v[k].len, &d, op.fold,
                                  op.lim);
        if (rc < 0) {
            zs_op_error(&op, z, rc, 0);
            goto out;
        }
    }
    if (zs_op_store(&op, &z, expire_ms, mark) != 0)
        goto out;
    struct dbuf *b = &c->obuf;
    if (emitkey) {
        reply_array(b, 2);
        reply_bulk(b, key->p, key->len);
        reply_array(b, (long long)l.n);
    } else {
        reply_array(b, nested ? (long long)l.n : (long long)l.n * 2);
    }
    for (size_t k = 0; k < l.n; k++) {
        if (nested)
            reply_array(b, 2);
        reply_bulk(b, l.v[k].m, l.v[k].len);
        reply_double(b, c->resp, l.v[k].score);
    }
out:
    zs_items_free(&l);
    crdt_zset_free(z);
}

static void zs_popminmax(struct client *c, int argc,
                         const struct dyn_arg *argv, int max)
{
    long long count = -1;
    if (argc > 3) {
        client_error(c, ERR_SYNTAX);
        return;
    }
    if (argc == 3 && (dyn_str2ll(argv[2].p, argv[2].len, &count) != 0 ||
                      count < 0)) {
        client_error(c, "ERR value is out of range, must be positive");
        return;
    }
    zs_pop(c, &argv[1], 1, max, count, 0);
}

static void zs_zpopmin(struct client *c, int argc, const struct dyn_arg *argv)
{
    zs_popminmax(c, argc, argv, 0);
}

static void zs_zpopmax(struct client *c, int argc, const struct dyn_arg *argv)
{
    zs_popminmax(c, argc, argv, 1);
}

/* A number in [1, LLONG_MAX], else the error msg (Redis's
 * getRangeLongFromObjectOrReply with a message). */
static int zs_parse_positive(struct client *c, const struct dyn_arg *a,
                             const char *msg, long long *out)
{
    if (dyn_str2ll(a->p, a->len, out) != 0 || *out < 1) {
        client_error(c, msg);
        return -1;
    }
    return 0;
}

static void zs_zmpop(struct client *c, int argc, const struct dyn_arg *argv)
{
    long long numkeys, count = -1;
    int max;
    if (zs_parse_positive(c, &argv[1], "ERR numkeys should be greater than 0",
                          &numkeys))
        return;
    long long where = 1 + numkeys + 1;
    if (where >= argc) {
        client_error(c, ERR_SYNTAX);
        return;
    }
    if (zs_arg_is(&argv[where], "min"))
        max = 0;
    else if (zs_arg_is(&argv[where], "max"))
        max = 1;
    else {
        client_error(c, ERR_SYNTAX);
        return;
    }
    for (long long j = where + 1; j < argc; j++) {
        if (count == -1 && zs_arg_is(&argv[j], "count") && j + 1 < argc) {
            j++;
            if (zs_parse_positive(c, &argv[j],
                                  "ERR count should be greater than 0",
                                  &count))
                return;
        } else {
            client_error(c, ERR_SYNTAX);
            return;
        }
    }
    if (count == -1)
        count = 1;
    zs_pop(c, &argv[2], (int)numkeys, max, count, 1);
}

/* ---- reads -------------------------------------------------------------- */

static void zs_zcard(struct client *c, int argc, const struct dyn_arg *argv)
{
    (void)argc;
    struct crdt_zset *z;
    int found = zs_read(c, &argv[1], &z);
    if (found < 0)
        return;
    reply_int(&c->obuf, found ? crdt_zset_card(z) : 0);
    crdt_zset_free(z);
}

static void zs_zscore(struct client *c, int argc, const struct dyn_arg *argv)
{
    (void)argc;
    struct crdt_zset *z;
    double s;
    int found = zs_read(c, &argv[1], &z);
    if (found < 0)
        return;
    if (found && crdt_zset_score(z, argv[2].p, argv[2].len, &s))
        reply_double(&c->obuf, c->resp, s);
    else
        reply_null(&c->obuf, c->resp);
    crdt_zset_free(z);
}

static void zs_zmscore(struct client *c, int argc, const struct dyn_arg *argv)
{
    struct crdt_zset *z;
    double s;
    int found = zs_read(c, &argv[1], &z);
    if (found < 0)
        return;
    reply_array(&c->obuf, argc - 2);
    for (int j = 2; j < argc; j++) {
        if (found && crdt_zset_score(z, argv[j].p, argv[j].len, &s))
            reply_double(&c->obuf, c->resp, s);
        else
            reply_null(&c->obuf, c->resp);
    }
    crdt_zset_free(z);
}

static void zs_rank(struct client *c, const struct dyn_arg *argv, int rev)
{
    struct crdt_zset *z;
    uint32_t r;
    int found = zs_read(c, &argv[1], &z);
    if (found < 0)
        return;
    if (found && crdt_zset_rank(z, argv[2].p, argv[2].len, &r))
        reply_int(&c->obuf, rev ? (long long)crdt_zset_card(z) - 1 - r : r);
    else
        reply_null(&c->obuf, c->resp);
    crdt_zset_free(z);
}

static void zs_zrank(struct client *c, int argc, const struct dyn_arg *argv)
{
    (void)argc;
    zs_rank(c, argv, 0);
}

static void zs_zrevrank(struct client *c, int argc,
                        const struct dyn_arg *argv)
{
    (void)argc;
    zs_rank(c, argv, 1);
}

static void zs_count(struct client *c, const struct dyn_arg *argv,
                     enum zs_by by)
{
    struct zs_bounds bd;
    if (zs_parse_bounds(c, by, &argv[2], &argv[3], &bd))
        return;
    struct crdt_zset *z;
    int found = zs_read(c, &argv[1], &z);
    if (found < 0)
        return;
    long long lo = 0, hi = 0;
    if (found)
        zs_span(z, &bd, &lo, &hi);
    reply_int(&c->obuf, hi > lo ? hi - lo : 0);
    crdt_zset_free(z);
}

static void zs_zcount(struct client *c, int argc, const struct dyn_arg *argv)
{
    (void)argc;
    zs_count(c, argv, ZS_BY_SCORE);
}

static void zs_zlexcount(struct client *c, int argc,
                         const struct dyn_arg *argv)
{
    (void)argc;
    zs_count(c, argv, ZS_BY_LEX);
}

/*
 * ZRANGE and its older forms, and ZRANGESTORE (store: argv[1] is the
 * destination).  start is the index of the source key; by and rev are
 * -1 when the options decide (ZRANGE, ZRANGESTORE).
 */
static void zs_range_generic(struct client *c, int argc,
                             const struct dyn_arg *argv, int start, int store,
                             int by, int rev)
{
    const struct dyn_arg *key = &argv[start];
    int minidx = start + 1, maxidx = start + 2, withscores = 0;
    long long offset = 0, limit = -1, rstart = 0, rend = 0;
    for (int j = start + 3; j < argc; j++) {
        int left = argc - j - 1;
        if (!store && zs_arg_is(&argv[j], "withscores")) {
            withscores = 1;
        } else if (zs_arg_is(&argv[j], "limit") && left >= 2) {
            if (zs_parse_ll(c, &argv[j + 1], &offset) ||
                zs_parse_ll(c, &argv[j + 2], &limit))
                return;
            j += 2;
        } else if (rev == -1 && zs_arg_is(&argv[j], "rev")) {
            rev = 1;
        } else if (by == -1 && zs_arg_is(&argv[j], "bylex")) {
            by = ZS_BY_LEX;
        } else if (by == -1 && zs_arg_is(&argv[j], "byscore")) {
            by = ZS_BY_SCORE;
        } else {
            client_error(c, ERR_SYNTAX);
            return;
        }
    }
    if (rev == -1)
        rev = 0;
    if (by == -1)
        by = ZS_BY_RANK;
    if (limit != -1 && by == ZS_BY_RANK) {
        client_error(c, "ERR syntax error, LIMIT is only supported in "
                        "combination with either BYSCORE or BYLEX");
        return;
    }
    if (withscores && by == ZS_BY_LEX) {
        client_error(c, "ERR syntax error, WITHSCORES not supported in "
                        "combination with BYLEX");
        return;
    }
    if (rev && by != ZS_BY_RANK) {
        int t = minidx;
        minidx = maxidx;
        maxidx = t;
    }
    struct zs_bounds bd;
    if (by == ZS_BY_RANK) {
        if (zs_parse_ll(c, &argv[minidx], &rstart) ||
            zs_parse_ll(c, &argv[maxidx], &rend))
            return;
    } else if (zs_parse_bounds(c, by, &argv[minidx], &argv[maxidx], &bd)) {
        return;
    }
    struct crdt_zset *z;
    int found = zs_read(c, key, &z);
    if (found < 0)
        return;
    struct zs_items l = { 0 };
    if (found) {
        if (by == ZS_BY_RANK)
            zs_collect_rank(z, rstart, rend, rev, &l);
        else {
            long long lo, hi;
            zs_span(z, &bd, &lo, &hi);
            zs_collect_span(z, lo, hi, offset, limit, rev, &l);
        }
    }
    if (store) {
        zs_items_own(&l);
        crdt_zset_free(z);
        z = NULL;
        if (zs_store_items(c, &argv[1], &l) == 0)
            reply_int(&c->obuf, (long long)l.n);
    } else {
        zs_reply_items(c, &l, withscores);
    }
    zs_items_free(&l);
    crdt_zset_free(z);
}

static void zs_zrange(struct client *c, int argc, const struct dyn_arg *argv)
{
    zs_range_generic(c, argc, argv, 1, 0, -1, -1);
}

static void zs_zrangestore(struct client *c, int argc,
                           const struct dyn_arg *argv)
{
    zs_range_generic(c, argc, argv, 2, 1, -1, -1);
}

static void zs_zrevrange(struct client *c, int argc,
                         const struct dyn_arg *argv)
{
    zs_range_generic(c, argc, argv, 1, 0, ZS_BY_RANK, 1);
}

static void zs_zrangebyscore(struct client *c, int argc,
                             const struct dyn_arg *argv)
{
    zs_range_generic(c, argc, argv, 1, 0, ZS_BY_SCORE, 0);
}

static void zs_zrevrangebyscore(struct client *c, int argc,
                                const struct dyn_arg *argv)
{
    zs_range_generic(c, argc, argv, 1, 0, ZS_BY_SCORE, 1);
}

static void zs_zrangebylex(struct client *c, int argc,
                           const struct dyn_arg *argv)
{
    zs_range_generic(c, argc, argv, 1, 0, ZS_BY_LEX, 0);
}

static void zs_zrevrangebylex(struct client *c, int argc,
                              const struct dyn_arg *argv)
{
    zs_range_generic(c, argc, argv, 1, 0, ZS_BY_LEX, 1);
}

/* ---- ZRANDMEMBER, ZSCAN ------------------------------------------------- */

static void zs_reply_member(struct client *c, const struct zs_item *it,
                            int withscores)
{
    if (withscores && c->resp > 2)
        reply_array(&c->obuf, 2);
    reply_bulk(&c->obuf, it->m, it->len);
    if (withscores)
        reply_double(&c->obuf, c->resp, it->score);
}

static void zs_zrandmember(struct client *c, int argc,
                           const struct dyn_arg *argv)
{
    struct crdt_zset *z;
    long long l = 0;
    int withscores = 0;
    if (argc >= 3) {
        if (zs_parse_ll(c, &argv[2], &l))
            return;
        if (l == LLONG_MIN) {
            client_error(c, "ERR value is out of range, value must between "
                            "-9223372036854775807 and 9223372036854775807");
            return;
        }
        if (argc > 4 || (argc == 4 && !zs_arg_is(&argv[3], "withscores"))) {
            client_error(c, ERR_SYNTAX);
            return;
        }
        if (argc == 4) {
            withscores = 1;
            if (l < -LLONG_MAX / 2 || l > LLONG_MAX / 2) {
                client_error(c, "ERR value is out of range");
                return;
            }
        }
    }
    int found = zs_read(c, &argv[1], &z);
    if (found < 0)
        return;
    struct node *n = c->node;
    if (argc < 3) {
        if (!found) {
            reply_null(&c->obuf, c->resp);
            return;
        }
        struct zs_item it;
        zs_at(z, (uint32_t)(node_random(n) % crdt_zset_card(z)), &it);
        reply_bulk(&c->obuf, it.m, it.len);
        crdt_zset_free(z);
        return;
    }
    if (!found || l == 0) {
        reply_array(&c->obuf, 0);
        crdt_zset_free(z);
        return;
    }
    uint32_t size = crdt_zset_card(z);
    int uniq = l > 0;
    unsigned long long count = uniq ? (unsigned long long)l
                                    : (unsigned long long)-(l + 1) + 1;
    struct zs_item it;
    if (!uniq && count > ZSET_RANDOM_MAX) {
        client_errorf(c, "ERR count is too large (at most %d members with "
                      "repetitions)", ZSET_RANDOM_MAX);
        crdt_zset_free(z);
        return;
    }
    if (!uniq || count == 1) {
        reply_array(&c->obuf, withscores && c->resp == 2 ? (long long)count * 2
                                                         : (long long)count);
        for (unsigned long long k = 0; k < count; k++) {
            zs_at(z, (uint32_t)(node_random(n) % size), &it);
            zs_reply_member(c, &it, withscores);
        }
    } else if (count >= size) {
        /* The whole set, highest rank first, as Redis 7.0 answers. */
        reply_array(&c->obuf, withscores && c->resp == 2 ? (long long)size * 2
                                                         : (long long)size);
        for (uint32_t k = size; k-- > 0;) {
            zs_at(z, k, &it);
            zs_reply_member(c, &it, withscores);
        }
    } else {
        /* count distinct ranks, by a partial Fisher-Yates shuffle. */
        uint32_t *ix = dyn_malloc((size_t)size * sizeof(*ix));
        for (uint32_t k = 0; k < size; k++)
            ix[k] = k;
        reply_array(&c->obuf, withscores && c->resp == 2 ? (long long)count * 2
                                                         : (long long)count);
        for (uint32_t k = 0; k < count; k++) {
            uint32_t j = k + (uint32_t)(node_random(n) % (size - k));
            uint32_t t = ix[k];
            ix[k] = ix[j];
            ix[j] = t;
            zs_at(z, ix[k], &it);
            zs_reply_member(c, &it, withscores);
        }
        dyn_free(ix);
    }
    crdt_zset_free(z);
}

static void zs_zscan(struct client *c, int argc, const struct dyn_arg *argv)
{
    uint64_t cursor;
    long long count = 10;
    const struct dyn_arg *pat = NULL;
    if (command_parse_cursor(&argv[2], &cursor)) {
        client_error(c, "ERR invalid cursor");
        return;
    }
    struct crdt_zset *z;
    int found = zs_read(c, &argv[1], &z);
    if (found < 0)
        return;
    if (!found) {
        reply_array(&c->obuf, 2);
        reply_bulk(&c->obuf, "0", 1);
        reply_array(&c->obuf, 0);
        return;
    }
    for (int i = 3; i < argc;) {
        int left = argc - i;
        if (zs_arg_is(&argv[i], "count") && left >= 2) {
            if (zs_parse_ll(c, &argv[i + 1], &count))
                goto out;
            if (count < 1) {
                client_error(c, ERR_SYNTAX);
                goto out;
            }
            i += 2;
        } else if (zs_arg_is(&argv[i], "match") && left >= 2) {
            pat = &argv[i + 1];
            if (pat->len == 1 && pat->p[0] == '*')
                pat = NULL;
            i += 2;
        } else {
            client_error(c, ERR_SYNTAX);
            goto out;
        }
    }
    uint32_t size = crdt_zset_card(z);
    unsigned long long from = cursor, to = size, next = 0;
    if (size <= ZSET_SCAN_ONE_CALL) {
        from = 0;
    } else if (from < size && (unsigned long long)count < size - from) {
        to = from + (unsigned long long)count;
        next = to;
    }
    struct zs_items l = { 0 };
    for (unsigned long long k = from; k < to; k++) {
        struct zs_item it;
        zs_at(z, (uint32_t)k, &it);
        if (pat && !dyn_glob_match(pat->p, pat->len, (const char *)it.m,
                                   it.len, 0))
            continue;
        zs_items_push(&l, it.m, it.len, it.score);
    }
    char num[32];
    int nl = snprintf(num, sizeof(num), "%llu", next);
    reply_array(&c->obuf, 2);
    reply_bulk(&c->obuf, num, (size_t)nl);
    reply_array(&c->obuf, (long long)l.n * 2);
    for (size_t k = 0; k < l.n; k++) {
        /* Scan items are bulk strings in both protocols. */
        reply_bulk(&c->obuf, l.v[k].m, l.v[k].len);
        reply_double(&c->obuf, 2, l.v[k].score);
    }
    zs_items_free(&l);
out:
    crdt_zset_free(z);
}

/* ---- union, intersection, difference ------------------------------------- */

enum zs_setop { ZS_UNION, ZS_INTER, ZS_DIFF };
enum zs_aggr { ZS_SUM, ZS_MIN, ZS_MAX };

/* An input: a sorted set, or a set whose members score 1. */
struct zs_src {
    struct crdt_zset *z;
    struct crdt_set *s;
    uint32_t card;
    double weight;
    int index; /* its place among the keys: keeps the sort stable */
};

static void zs_src_at(const struct zs_src *src, uint32_t i, struct zs_item *it)
{
    if (src->z) {
        zs_at(src->z, i, it);
    } else {
        crdt_set_member(src->s, i, &it->m, &it->len);
        it->score = 1.0;
    }
}

static int zs_src_find(const struct zs_src *src, const uint8_t *m, size_t len,
                       double *score)
{
    if (src->z)
        return crdt_zset_score(src->z, m, len, score);
    if (src->s && crdt_set_contains(src->s, m, len)) {
        *score = 1.0;
        return 1;
    }
    return 0;
}

/* Loads one input key: 0, or -1 after replying (WRONGTYPE, corrupt). */
static int zs_src_load(struct client *c, const struct dyn_arg *key,
                       struct zs_src *src)
{
    struct db_typed t;
    int rc = db_typed_lookup(c->node, key->p, key->len, CRDT_TYPE_ZSET, &t);
    if (rc == 1) {
        if (crdt_zset_decode(t.state, t.len, NULL, &src->z) != 0) {
            zs_corrupt(c, key);
            return -1;
        }
        src->card = crdt_zset_card(src->z);
        return 0;
    }
    if (rc != DB_WRONGTYPE)
        return 0;
    rc = db_typed_lookup(c->node, key->p, key->len, CRDT_TYPE_SET, &t);
    if (rc == DB_WRONGTYPE) {
        client_error(c, ERR_WRONGTYPE);
        return -1;
    }
    if (rc == 1) {
        if (crdt_set_decode(t.state, t.len, NULL, &src->s) != 0) {
            zs_corrupt(c, key);
            return -1;
        }
        src->card = crdt_set_card(src->s);
    }
    return 0;
}

static int zs_src_cmp(const void *a, const void *b)
{
    const struct zs_src *x = a, *y = b;
    if (x->card != y->card)
        return x->card < y->card ? -1 : 1;
    return x->index - y->index;
}

static void zs_aggregate(double *target, double val, enum zs_aggr ag)
{
    if (ag == ZS_SUM) {
        *target = *target + val;
        if (isnan(*target))
            *target = 0.0; /* +inf + -inf: Redis's convention */
    } else if (ag == ZS_MIN) {
        *target = val < *target ? val : *target;
    } else {
        *target = val > *target ? val : *target;
    }
}

struct zs_acc {
    const uint8_t *m;
    size_t len;
    double score;
    size_t seq;
};

static int zs_acc_cmp(const void *a, const void *b)
{
    const struct zs_acc *x = a, *y = b;
    int c = zs_bytes_cmp(x->m, x->len, y->m, y->len);
    if (c)
        return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * ZUNION[STORE], ZINTER[STORE], ZDIFF[STORE], ZINTERCARD.  numkeys_at is
 * the index of numkeys; dst the destination or NULL.
 */
static void zs_setop_generic(struct client *c, int argc,
                             const struct dyn_arg *argv,
                             const struct dyn_arg *dst, int numkeys_at,
                             enum zs_setop op, int card_only,
                             const char *name)
{
    long long setnum, limit = 0;
    enum zs_aggr ag = ZS_SUM;
    int withscores = 0;
    if (zs_parse_ll(c, &argv[numkeys_at], &setnum))
        return;
    if (setnum < 1) {
        client_errorf(c, "ERR at least 1 input key is needed for '%s' "
                      "command", name);
        return;
    }
    if (setnum > argc - (numkeys_at + 1)) {
        client_error(c, ERR_SYNTAX);
        return;
    }
    struct zs_src *src = dyn_calloc((size_t)setnum, sizeof(*src));
    struct zs_items res = { 0 };
    struct zs_acc *acc = NULL;
    int i, j = numkeys_at + 1;
    for (i = 0; i < setnum; i++, j++) {
        src[i].weight = 1.0;
        src[i].index = i;
        if (zs_src_load(c, &argv[j], &src[i]) != 0)
            goto out;
    }
    while (j < argc) {
        int remaining = argc - j;
        if (op != ZS_DIFF && !card_only && remaining >= setnum + 1 &&
            zs_arg_is(&argv[j], "weights")) {
            j++;
            for (i = 0; i < setnum; i++, j++) {
                if (zs_parse_double(&argv[j], &src[i].weight) != 0) {
                    client_error(c, "ERR weight value is not a float");
                    goto out;
                }
            }
        } else if (op != ZS_DIFF && !card_only && remaining >= 2 &&
                   zs_arg_is(&argv[j], "aggregate")) {
            j++;
            if (zs_arg_is(&argv[j], "sum"))
                ag = ZS_SUM;
            else if (zs_arg_is(&argv[j], "min"))
                ag = ZS_MIN;
            else if (zs_arg_is(&argv[j], "max"))
                ag = ZS_MAX;
            else {
                client_error(c, ERR_SYNTAX);
                goto out;
            }
            j++;
        } else if (remaining >= 1 && !dst && !card_only &&
                   zs_arg_is(&argv[j], "withscores")) {
            j++;
            withscores = 1;
        } else if (card_only && remaining >= 2 &&
                   zs_arg_is(&argv[j], "limit")) {
            j++;
            if (dyn_str2ll(argv[j].p, argv[j].len, &limit) != 0 || limit < 0) {
                client_error(c, "ERR LIMIT can't be negative");
                goto out;
            }
            j++;
        } else {
            client_error(c, ERR_SYNTAX);
            goto out;
        }
    }
    if (op != ZS_DIFF)
        qsort(src, (size_t)setnum, sizeof(*src), zs_src_cmp);

    long long cardinality = 0;
    struct zs_item it;
    if (op == ZS_INTER) {
        for (uint32_t k = 0; k < src[0].card; k++) {
            zs_src_at(&src[0], k, &it);
            double score = src[0].weight * it.score, value;
            if (isnan(score))
                score = 0;
            for (i = 1; i < setnum; i++) {
                if (!zs_src_find(&src[i], it.m, it.len, &value))
                    break;
                zs_aggregate(&score, value * src[i].weight, ag);
            }
            if (i < setnum)
                continue;
            if (card_only) {
                cardinality++;
                if (limit && cardinality >= limit)
                    break;
            } else {
                zs_items_push(&res, it.m, it.len, score);
            }
        }
    } else if (op == ZS_UNION) {
        size_t total = 0, n = 0;
        for (i = 0; i < setnum; i++)
            total += src[i].card;
        acc = dyn_malloc((total + 1) * sizeof(*acc));
        for (i = 0; i < setnum; i++) {
            for (uint32_t k = 0; k < src[i].card; k++, n++) {
                zs_src_at(&src[i], k, &it);
                double score = src[i].weight * it.score;
                if (isnan(score))
                    score = 0;
                struct zs_acc a = { it.m, it.len, score, n };
                acc[n] = a;
            }
        }
        qsort(acc, n, sizeof(*acc), zs_acc_cmp);
        for (size_t k = 0; k < n;) {
            double score = acc[k].score;
            size_t e = k + 1;
            for (; e < n && zs_bytes_cmp(acc[e].m, acc[e].len, acc[k].m,
                                         acc[k].len) == 0; e++)
                zs_aggregate(&score, acc[e].score, ag);
            zs_items_push(&res, acc[k].m, acc[k].len, score);
            k = e;
        }
    } else {
        for (uint32_t k = 0; k < src[0].card; k++) {
            double value;
            zs_src_at(&src[0], k, &it);
            for (i = 1; i < setnum; i++)
                if (zs_src_find(&src[i], it.m, it.len, &value))
                    break;
            if (i == setnum)
                zs_items_push(&res, it.m, it.len, it.score);
        }
    }
    if (card_only) {
        reply_int(&c->obuf, cardinality);
        goto out;
    }
    if (res.n > 1)
        qsort(res.v, res.n, sizeof(*res.v), zs_item_cmp);
    if (dst) {
        if (zs_store_items(c, dst, &res) == 0)
            reply_int(&c->obuf, (long long)res.n);
    } else {
        zs_reply_items(c, &res, withscores);
    }
out:
    dyn_free(acc);
    zs_items_free(&res);
    for (i = 0; i < setnum; i++) {
        crdt_zset_free(src[i].z);
        crdt_set_free(src[i].s);
    }
    dyn_free(src);
}

static void zs_zunionstore(struct client *c, int argc,
                           const struct dyn_arg *argv)
{
    zs_setop_generic(c, argc, argv, &argv[1], 2, ZS_UNION, 0, "zunionstore");
}

static void zs_zinterstore(struct client *c, int argc,
                           const struct dyn_arg *argv)
{
    zs_setop_generic(c, argc, argv, &argv[1], 2, ZS_INTER, 0, "zinterstore");
}

static void zs_zdiffstore(struct client *c, int argc,
                          const struct dyn_arg *argv)
{
    zs_setop_generic(c, argc, argv, &argv[1], 2, ZS_DIFF, 0, "zdiffstore");
}

static void zs_zunion(struct client *c, int argc, const struct dyn_arg *argv)
{
    zs_setop_generic(c, argc, argv, NULL, 1, ZS_UNION, 0, "zunion");
}

static void zs_zinter(struct client *c, int argc, const struct dyn_arg *argv)
{
    zs_setop_generic(c, argc, argv, NULL, 1, ZS_INTER, 0, "zinter");
}

static void zs_zdiff(struct client *c, int argc, const struct dyn_arg *argv)
{
    zs_setop_generic(c, argc, argv, NULL, 1, ZS_DIFF, 0, "zdiff");
}

static void zs_zintercard(struct client *c, int argc,
                          const struct dyn_arg *argv)
{
    zs_setop_generic(c, argc, argv, NULL, 1, ZS_INTER, 1, "zintercard");
}

/* ---- blocking forms ----------------------------------------------------- */

static void zs_blocking(struct client *c, const char *name, const char *poll)
{
    client_errorf(c, "ERR %s is not supported: blocking commands need one "
                  "server to wait on, and a Dynamo key has N replicas; poll "
                  "%s instead", name, poll);
}

static void zs_bzpopmin(struct client *c, int argc, const struct dyn_arg *argv)
{
    (void)argc;
    (void)argv;
    zs_blocking(c, "BZPOPMIN", "ZPOPMIN");
}

static void zs_bzpopmax(struct client *c, int argc, const struct dyn_arg *argv)
{
    (void)argc;
    (void)argv;
    zs_blocking(c, "BZPOPMAX", "ZPOPMAX");
}

static void zs_bzmpop(struct client *c, int argc, const struct dyn_arg *argv)
{
    (void)argc;
    (void)argv;
    zs_blocking(c, "BZMPOP", "ZMPOP");
}

/* ---- the table ---------------------------------------------------------- */

#define RD (CMD_READONLY | CMD_DATA)
#define RD_FAST (CMD_READONLY | CMD_FAST | CMD_DATA)
#define WR (CMD_WRITE | CMD_DATA)
#define WR_FAST (CMD_WRITE | CMD_FAST | CMD_DATA)
#define WR_OOM (CMD_WRITE | CMD_DENYOOM | CMD_DATA)
#define WR_OOM_FAST (CMD_WRITE | CMD_DENYOOM | CMD_FAST | CMD_DATA)

const struct command cmd_zset_table[] = {
    { "zadd", zs_zadd, -4, WR_OOM_FAST, 1, 1, 1,
      "@write @sortedset @fast", "sorted-set", "1.2.0",
      "Adds members with scores, or updates their scores.",
      "O(log(N)) for each item added, where N is the number of elements in "
      "the sorted set.", NULL, ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "zcard", zs_zcard, 2, RD_FAST, 1, 1, 1,
      "@read @sortedset @fast", "sorted-set", "1.2.0",
      "Returns the number of members.", "O(1)", NULL, ROUTE_KEY,
      COMBINE_NONE, NULL, 0 },
    { "zcount", zs_zcount, 4, RD_FAST, 1, 1, 1,
      "@read @sortedset @fast", "sorted-set", "2.0.0",
      "Counts the members whose score is within a range.",
      "O(log(N)) with N being the number of elements in the sorted set.",
      NULL, ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "zdiff", zs_zdiff, -3, RD, 0, 0, 0,
      "@read @sortedset @slow", "sorted-set", "6.2.0",
      "Returns the members of the first sorted set absent from the others.",
      "O(L + (N-K)log(N)) worst case where L is the total number of "
      "elements in all the sets, N is the size of the first set, and K is "
      "the size of the result set.", NULL, ROUTE_GATHER, COMBINE_NONE,
      NULL, 1 },
    { "zdiffstore", zs_zdiffstore, -4, WR_OOM, 1, 1, 1,
      "@write @sortedset @slow", "sorted-set", "6.2.0",
      "Stores the difference of sorted sets in a key.",
      "O(L + (N-K)log(N)) worst case where L is the total number of "
      "elements in all the sets, N is the size of the first set, and K is "
      "the size of the result set.", NULL, ROUTE_GATHER, COMBINE_NONE,
      NULL, 2 },
    { "zincrby", zs_zincrby, 4, WR_OOM_FAST, 1, 1, 1,
      "@write @sortedset @fast", "sorted-set", "1.2.0",
      "Adds to a member's score; concurrent increments add up.",
      "O(log(N)) where N is the number of elements in the sorted set.",
      NULL, ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "zinter", zs_zinter, -3, RD, 0, 0, 0,
      "@read @sortedset @slow", "sorted-set", "6.2.0",
      "Returns the intersection of sorted sets.",
      "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted "
      "set, K being the number of input sorted sets and M being the number "
      "of elements in the resulting sorted set.", NULL, ROUTE_GATHER,
      COMBINE_NONE, NULL, 1 },
    { "zintercard", zs_zintercard, -3, RD, 0, 0, 0,
      "@read @sortedset @slow", "sorted-set", "7.0.0",
      "Counts the members of the intersection of sorted sets.",
      "O(N*K) worst case with N being the smallest input sorted set, K "
      "being the number of input sorted sets.", NULL, ROUTE_GATHER,
      COMBINE_NONE, NULL, 1 },
    { "zinterstore", zs_zinterstore, -4, WR_OOM, 1, 1, 1,
      "@write @sortedset @slow", "sorted-set", "2.0.0",
      "Stores the intersection of sorted sets in a key.",
      "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted "
      "set, K being the number of input sorted sets and M being the number "
      "of elements in the resulting sorted set.", NULL, ROUTE_GATHER,
      COMBINE_NONE, NULL, 2 },
    { "zlexcount", zs_zlexcount, 4, RD_FAST, 1, 1, 1,
      "@read @sortedset @fast", "sorted-set", "2.8.9",
      "Counts the members within a lexicographical range.",
      "O(log(N)) with N being the number of elements in the sorted set.",
      NULL, ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "zmpop", zs_zmpop, -4, WR, 0, 0, 0,
      "@write @sortedset @slow", "sorted-set", "7.0.0",
      "Removes and returns the lowest or highest scoring members of the "
      "first non-empty sorted set.",
      "O(K) + O(M*log(N)) where K is the number of provided keys, N being "
      "the number of elements in the sorted set, and M being the number of "
      "elements popped.", NULL, ROUTE_GATHER, COMBINE_NONE, NULL, 1 },
    { "zmscore", zs_zmscore, -3, RD_FAST, 1, 1, 1,
      "@read @sortedset @fast", "sorted-set", "6.2.0",
      "Returns the scores of several members.",
      "O(N) where N is the number of members being requested.", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "zpopmax", zs_zpopmax, -2, WR_FAST, 1, 1, 1,
      "@write @sortedset @fast", "sorted-set", "5.0.0",
      "Removes and returns the highest scoring members.",
      "O(log(N)*M) with N being the number of elements in the sorted set, "
      "and M being the number of elements popped.", NULL, ROUTE_KEY,
      COMBINE_NONE, NULL, 0 },
    { "zpopmin", zs_zpopmin, -2, WR_FAST, 1, 1, 1,
      "@write @sortedset @fast", "sorted-set", "5.0.0",
      "Removes and returns the lowest scoring members.",
      "O(log(N)*M) with N being the number of elements in the sorted set, "
      "and M being the number of elements popped.", NULL, ROUTE_KEY,
      COMBINE_NONE, NULL, 0 },
    { "zrandmember", zs_zrandmember, -2, RD, 1, 1, 1,
      "@read @sortedset @slow", "sorted-set", "6.2.0",
      "Returns random members.",
      "O(N) where N is the number of members returned", NULL, ROUTE_KEY,
      COMBINE_NONE, NULL, 0 },
    { "zrange", zs_zrange, -4, RD, 1, 1, 1,
      "@read @sortedset @slow", "sorted-set", "1.2.0",
      "Returns members in a range of ranks, scores or names.",
      "O(log(N)+M) with N being the number of elements in the sorted set "
      "and M the number of elements returned.", NULL, ROUTE_KEY,
      COMBINE_NONE, NULL, 0 },
    { "zrangebylex", zs_zrangebylex, -4, RD, 1, 1, 1,
      "@read @sortedset @slow", "sorted-set", "2.8.9",
      "Returns members within a lexicographical range.",
      "O(log(N)+M) with N being the number of elements in the sorted set "
      "and M the number of elements being returned. If M is constant (e.g. "
      "always asking for the first 10 elements with LIMIT), you can "
      "consider it O(log(N)).", NULL, ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "zrangebyscore", zs_zrangebyscore, -4, RD, 1, 1, 1,
      "@read @sortedset @slow", "sorted-set", "1.0.5",
      "Returns members within a range of scores.",
      "O(log(N)+M) with N being the number of elements in the sorted set "
      "and M the number of elements being returned. If M is constant (e.g. "
      "always asking for the first 10 elements with LIMIT), you can "
      "consider it O(log(N)).", NULL, ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "zrangestore", zs_zrangestore, -5, WR_OOM, 1, 2, 1,
      "@write @sortedset @slow", "sorted-set", "6.2.0",
      "Stores a range of members of a sorted set in a key.",
      "O(log(N)+M) with N being the number of elements in the sorted set "
      "and M the number of elements stored into the destination key.", NULL,
      ROUTE_GATHER, COMBINE_NONE, NULL, 0 },
    { "zrank", zs_zrank, 3, RD_FAST, 1, 1, 1,
      "@read @sortedset @fast", "sorted-set", "2.0.0",
      "Returns a member's rank, lowest score first.", "O(log(N))", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "zrem", zs_zrem, -3, WR_FAST, 1, 1, 1,
      "@write @sortedset @fast", "sorted-set", "1.2.0",
      "Removes members.",
      "O(M*log(N)) with N being the number of elements in the sorted set "
      "and M the number of elements to be removed.", NULL, ROUTE_KEY,
      COMBINE_NONE, NULL, 0 },
    { "zremrangebylex", zs_zremrangebylex, 4, WR, 1, 1, 1,
      "@write @sortedset @slow", "sorted-set", "2.8.9",
      "Removes the members within a lexicographical range.",
      "O(log(N)+M) with N being the number of elements in the sorted set "
      "and M the number of elements removed by the operation.", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "zremrangebyrank", zs_zremrangebyrank, 4, WR, 1, 1, 1,
      "@write @sortedset @slow", "sorted-set", "2.0.0",
      "Removes the members within a range of ranks.",
      "O(log(N)+M) with N being the number of elements in the sorted set "
      "and M the number of elements removed by the operation.", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "zremrangebyscore", zs_zremrangebyscore, 4, WR, 1, 1, 1,
      "@write @sortedset @slow", "sorted-set", "1.2.0",
      "Removes the members within a range of scores.",
      "O(log(N)+M) with N being the number of elements in the sorted set "
      "and M the number of elements removed by the operation.", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "zrevrange", zs_zrevrange, -4, RD, 1, 1, 1,
      "@read @sortedset @slow", "sorted-set", "1.2.0",
      "Returns members in a range of ranks, highest score first.",
      "O(log(N)+M) with N being the number of elements in the sorted set "
      "and M the number of elements returned.", NULL, ROUTE_KEY,
      COMBINE_NONE, NULL, 0 },
    { "zrevrangebylex", zs_zrevrangebylex, -4, RD, 1, 1, 1,
      "@read @sortedset @slow", "sorted-set", "2.8.9",
      "Returns members within a lexicographical range, in reverse order.",
      "O(log(N)+M) with N being the number of elements in the sorted set "
      "and M the number of elements being returned. If M is constant (e.g. "
      "always asking for the first 10 elements with LIMIT), you can "
      "consider it O(log(N)).", NULL, ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "zrevrangebyscore", zs_zrevrangebyscore, -4, RD, 1, 1, 1,
      "@read @sortedset @slow", "sorted-set", "2.2.0",
      "Returns members within a range of scores, highest first.",
      "O(log(N)+M) with N being the number of elements in the sorted set "
      "and M the number of elements being returned. If M is constant (e.g. "
      "always asking for the first 10 elements with LIMIT), you can "
      "consider it O(log(N)).", NULL, ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "zrevrank", zs_zrevrank, 3, RD_FAST, 1, 1, 1,
      "@read @sortedset @fast", "sorted-set", "2.0.0",
      "Returns a member's rank, highest score first.", "O(log(N))", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "zscan", zs_zscan, -3, RD, 1, 1, 1,
      "@read @sortedset @slow", "sorted-set", "2.8.0",
      "Iterates over members and scores with a cursor.",
      "O(1) for every call. O(N) for a complete iteration, including enough "
      "command calls for the cursor to return back to 0. N is the number of "
      "elements inside the collection.", NULL, ROUTE_KEY, COMBINE_NONE,
      NULL, 0 },
    { "zscore", zs_zscore, 3, RD_FAST, 1, 1, 1,
      "@read @sortedset @fast", "sorted-set", "1.2.0",
      "Returns a member's score.", "O(1)", NULL, ROUTE_KEY, COMBINE_NONE,
      NULL, 0 },
    { "zunion", zs_zunion, -3, RD, 0, 0, 0,
      "@read @sortedset @slow", "sorted-set", "6.2.0",
      "Returns the union of sorted sets.",
      "O(N)+O(M*log(M)) with N being the sum of the sizes of the input "
      "sorted sets, and M being the number of elements in the resulting "
      "sorted set.", NULL, ROUTE_GATHER, COMBINE_NONE, NULL, 1 },
    { "zunionstore", zs_zunionstore, -4, WR_OOM, 1, 1, 1,
      "@write @sortedset @slow", "sorted-set", "2.0.0",
      "Stores the union of sorted sets in a key.",
      "O(N)+O(M log(M)) with N being the sum of the sizes of the input "
      "sorted sets, and M being the number of elements in the resulting "
      "sorted set.", NULL, ROUTE_GATHER, COMBINE_NONE, NULL, 2 },
    { "bzmpop", zs_bzmpop, -5, CMD_WRITE | CMD_DATA, 0, 0, 0,
      "@write @sortedset @slow @blocking", "sorted-set", "7.0.0",
      "Not supported: blocking needs one server to wait on; use ZMPOP.",
      "O(1)", NULL, ROUTE_LOCAL, COMBINE_NONE, NULL, 0 },
    { "bzpopmax", zs_bzpopmax, -3,
      CMD_WRITE | CMD_NOSCRIPT | CMD_FAST | CMD_DATA, 1, -2, 1,
      "@write @sortedset @fast @blocking", "sorted-set", "5.0.0",
      "Not supported: blocking needs one server to wait on; use ZPOPMAX.",
      "O(1)", NULL, ROUTE_LOCAL, COMBINE_NONE, NULL, 0 },
    { "bzpopmin", zs_bzpopmin, -3,
      CMD_WRITE | CMD_NOSCRIPT | CMD_FAST | CMD_DATA, 1, -2, 1,
      "@write @sortedset @fast @blocking", "sorted-set", "5.0.0",
      "Not supported: blocking needs one server to wait on; use ZPOPMIN.",
      "O(1)", NULL, ROUTE_LOCAL, COMBINE_NONE, NULL, 0 },
    { NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0,
      NULL, 0 },
};
