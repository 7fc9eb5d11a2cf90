/*
 * cmd_list.c -- Redis 7.0's list commands on the list CRDT (issue #14,
 * docs/TYPES.md "Lists"): LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LLEN LRANGE
 * LINDEX LSET LREM LTRIM LINSERT LPOS LMOVE RPOPLPUSH LMPOP, and the
 * blocking forms, which answer an error.
 *
 * A key's value is a crdt_list state (cluster/crdt_list.c): every element
 * is named by a position id, so pushes through different coordinators all
 * survive, in one order on every replica, and a pop or LREM is an observed
 * remove that leaves no tombstone.  A handler sees the keyspace only
 * through db.h's typed API:
 *
 *   db_typed_lookup  -> crdt_list_decode (a corrupt state answers
 *                       "ERR corrupt value" and is logged, never trusted)
 *   the op           -> crdt_list_* on the decoded copy
 *   db_typed_dots    -> one dot per element the op adds (at least one: a
 *                       pop's write is a version too)
 *   db_typed_write   -> the new state; the key's TTL is kept; a list whose
 *                       last element went makes the key absent (db keeps
 *                       its context)
 *
 * In a cluster the coordinator merges the replicas' copies into the local
 * one first (ROUTE_KEY), so a handler that is right on one node is right
 * there.  LMOVE, RPOPLPUSH and LMPOP name several keys: ROUTE_GATHER
 * (each key's merged copy fetched through its replicas, each written key
 * shipped back through them; not atomic across keys).  Read-only
 * commands never write.
 *
 * Replies and errors are Redis 7.0.15's byte for byte, in its order of
 * checks (tests/integration/differential.cmds, "lists"): e.g. LRANGE and
 * LTRIM parse their indexes before the key's type is checked, LINDEX and
 * LSET after; LMOVE checks the destination's type only once the source
 * has an element.  Client numbers go to LLONG_MIN and LLONG_MAX: every
 * negation and sum is checked (LPOS RANK and LREM's count at LLONG_MIN do
 * what Redis 7.0 does with them, see there).
 *
 * A blocking command (BLPOP ...) would wait on one server for a push, and
 * a Dynamo key has N replicas, any of which may take the push: they answer
 * one error that says so, and clients poll the non-blocking form.
 *
 * Thread-safety: handlers run on the event loop that owns the node.
 */
#include <limits.h>
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

enum list_end { LIST_HEAD = 0, LIST_TAIL = 1 };

/* A key's list as a handler holds it. */
struct lkey {
    const struct dyn_arg *key;
    struct crdt_list *l; /* NULL: the key holds no list */
    int64_t expire_ms;
};

static void lkey_free(struct lkey *k)
{
    crdt_list_free(k->l);
    k->l = NULL;
}

/*
 * Reads key's list into k.  Returns 1 (k->l holds at least one element),
 * 0 (no list: absent, expired or empty), or -1 after replying WRONGTYPE
 * or the corrupt-value error.  read: counts a keyspace hit or miss, as
 * Redis's lookupKeyRead does.  reserve (list_open_for): for a write that
 * changes the list only if it succeeds (one element pushed, pops), what
 * it may add to the encoding (see db_typed_take_write); else 0.
 */
static int list_open_for(struct client *c, const struct dyn_arg *key,
                         int read, uint64_t reserve, struct lkey *k)
{
    struct node *n = c->node;
    struct db_typed t;
    k->key = key;
    k->l = NULL;
    k->expire_ms = 0;
    if (!read && reserve) {
        void *st = NULL;
        int rc = db_typed_take_write(n, key->p, key->len, CRDT_TYPE_LIST,
                                     &st, &k->expire_ms, reserve);
        k->l = st;
        if (rc >= 0)
            return rc; /* a list the node keeps is never empty */
        if (rc == DB_WRONGTYPE) {
            client_error(c, ERR_WRONGTYPE);
        } else if (rc == DYN_EAGAIN || rc == DYN_EIO) {
            client_error(c, db_error_text(n, rc));
        } else {
            dlog(DLOG_WARNING, "list key of %zu bytes: corrupt state (%d)",
                 key->len, rc);
            client_error(c, "ERR corrupt value");
        }
        return -1;
    }
    if (read) {
        /* a read uses the state the node keeps, when it does */
        void *st = NULL;
        int b = db_typed_borrow(n, key->p, key->len, CRDT_TYPE_LIST, &st,
                                &k->expire_ms);
        if (b == 1) {
            k->l = st;
            n->stats.keyspace_hits++;
            return 1;
        }
        if (b == DB_WRONGTYPE) {
            client_error(c, ERR_WRONGTYPE);
            return -1;
        }
    }
    int rc = db_typed_lookup(n, key->p, key->len, CRDT_TYPE_LIST, &t);
    if (rc == DB_WRONGTYPE) {
        client_error(c, ERR_WRONGTYPE);
        return -1;
    }
    if (rc == 1) {
        /* a write takes the state kept from the last write; a read
         * decodes its own copy and leaves that one for the next write */
        k->l = read ? NULL
                    : db_typed_take(n, key->p, key->len, CRDT_TYPE_LIST, &t);
        int d = k->l ? 0 : crdt_list_decode(t.state, t.len, NULL, &k->l);
        if (d != 0) {
            dlog(DLOG_WARNING, "list key of %zu bytes: corrupt state (%d)",
                 key->len, d);
            client_error(c, "ERR corrupt value");
            return -1;
        }
        k->expire_ms = t.expire_ms;
        if (crdt_list_len(k->l) == 0)
            lkey_free(k);
    }
    if (read) {
        if (k->l)
            n->stats.keyspace_hits++;
        else
            n->stats.keyspace_misses++;
    }
    return k->l ? 1 : 0;
}

static int list_open(struct client *c, const struct dyn_arg *key, int read,
                     struct lkey *k)
{
    return list_open_for(c, key, read, 0, k);
}

/*
 * Stores k's list, written by an op that used ndots dots from first (see
 * list_dots): the state goes to db (k->l is NULL afterwards).  0, or -1
 * after rolling the reply back to mark and replying the write's error.
 */
static int list_store(struct client *c, struct lkey *k,
                      const struct crdt_dot *first, uint32_t ndots,
                      uint64_t ts, size_t mark)
{
    int rc = db_typed_write_state(c->node, k->key->p, k->key->len,
                                  CRDT_TYPE_LIST, k->l, first, ndots, ts,
                                  k->expire_ms);
    k->l = NULL;
    if (rc == 0)
        return 0;
    c->obuf.len = mark;
    c->errors++;
    db_reply_write_error(c->node, &c->obuf, rc, NULL);
    return -1;
}

static void list_dots(struct client *c, const struct lkey *k, uint32_t n,
                      struct crdt_dot *first, uint64_t *ts)
{
    db_typed_dots(c->node, k->key->p, k->key->len, n, first, ts);
}

/* The error of a crdt_list op that failed. */
static void list_op_error(struct client *c, int rc)
{
    if (rc == DYN_ELIMIT) {
        client_error(c, "ERR list would exceed a configured limit (an "
                        "element's position, proto-max-bulk-len, "
                        "vclock-max-entries actors or the dot cloud)");
        return;
    }
    const char *t = crdt_err_text(rc);
    client_error(c, t && rc != DYN_EINVAL ? t : "ERR corrupt value");
}

/* Parses a long long argument; -1 after replying msg (Redis's
 * getLongLongFromObjectOrReply; msg NULL: the usual text). */
static int list_ll(struct client *c, const struct dyn_arg *a, const char *msg,
                   long long *out)
{
    if (dyn_str2ll(a->p, a->len, out) == 0)
        return 0;
    client_error(c, msg ? msg : ERR_NOT_INTEGER);
    return -1;
}

/* Redis's getRangeLongFromObjectOrReply with a message for both a
 * non-number and one out of [min, max]. */
static int list_ll_range(struct client *c, const struct dyn_arg *a,
                         long long min, long long max, const char *msg,
                         long long *out)
{
    if (list_ll(c, a, msg, out) != 0)
        return -1;
    if (*out < min || *out > max) {
        client_error(c, msg);
        return -1;
    }
    return 0;
}

/* LEFT or RIGHT; -1 after the syntax error. */
static int list_where(struct client *c, const struct dyn_arg *a,
                      enum list_end *out)
{
    if (dyn_arg_is(a->p, a->len, "left"))
        *out = LIST_HEAD;
    else if (dyn_arg_is(a->p, a->len, "right"))
        *out = LIST_TAIL;
    else {
        client_error(c, ERR_SYNTAX);
        return -1;
    }
    return 0;
}

static int list_eq(const struct crdt_list *l, uint32_t i, const void *p,
                   size_t len)
{
    const uint8_t *v;
    size_t vl;
    crdt_list_at(l, i, &v, &vl);
    return vl == len && (len == 0 || memcmp(v, p, len) == 0);
}

static void reply_element(struct client *c, const struct crdt_list *l,
                          uint32_t i)
{
    const uint8_t *v;
    size_t len;
    crdt_list_at(l, i, &v, &len);
    reply_bulk(&c->obuf, v, len);
}

/* Redis's start/stop normalisation (LRANGE, LTRIM) over a list of len
 * elements: 1 and [*from, *to] when the range holds an element, else 0. */
static int list_range(long long start, long long stop, uint32_t len,
                      uint32_t *from, uint32_t *to)
{
    long long n = len;
    if (start < 0)
        start += n;
    if (stop < 0)
        stop += n;
    if (start < 0)
        start = 0;
    if (start > stop || start >= n)
        return 0;
    if (stop >= n)
        stop = n - 1;
    *from = (uint32_t)start;
    *to = (uint32_t)stop;
    return 1;
}

/* ------------------------------------------------------------------ pushes */

/*
 * Pushes argv[2..] at one end of k's list (a new list when k->l is NULL),
 * in argument order, each as its own LPUSH/RPUSH would; replies the new
 * length.
 */
static void list_push_into(struct client *c, struct lkey *k, int argc,
                           const struct dyn_arg *argv, enum list_end end)
{
    uint32_t nv = (uint32_t)(argc - 2);
    const void **v = dyn_malloc(nv * sizeof(*v));
    size_t *lens = dyn_malloc(nv * sizeof(*lens));
    /* crdt_list_insert_many places v[j] at i + j: at the head the last
     * argument comes first (LPUSH k a b c gives c b a). */
    for (uint32_t j = 0; j < nv; j++) {
        uint32_t a = end == LIST_HEAD ? nv - 1 - j : j;
        v[j] = argv[2 + a].p;
        lens[j] = argv[2 + a].len;
    }
    if (!k->l)
        k->l = crdt_list_new();
    struct crdt_dot first;
    uint64_t ts;
    list_dots(c, k, nv, &first, &ts);
    int rc = crdt_list_insert_many(k->l, end == LIST_HEAD ? 0
                                                          : crdt_list_len(k->l),
                                   v, lens, nv, &first,
                                   db_crdt_limits(c->node));
    dyn_free(v);
    dyn_free(lens);
    if (rc != 0) {
        list_op_error(c, rc);
        return;
    }
    size_t mark = c->obuf.len;
    uint32_t len = crdt_list_len(k->l);
    if (list_store(c, k, &first, nv, ts, mark) == 0)
        reply_int(&c->obuf, len);
}

static void list_push(struct client *c, int argc, const struct dyn_arg *argv,
                      enum list_end end, int only_existing)
{
    struct lkey k;
    /* one element is all or nothing; more could stop midway */
    int found = list_open_for(c, &argv[1], 0,
                              argc == 3 ? 128 + argv[2].len : 0, &k);
    if (found < 0)
        return;
    if (!found && only_existing) {
        reply_int(&c->obuf, 0);
        return;
    }
    list_push_into(c, &k, argc, argv, end);
    lkey_free(&k);
}

static void list_lpush(struct client *c, int argc, const struct dyn_arg *argv)
{
    list_push(c, argc, argv, LIST_HEAD, 0);
}

static void list_rpush(struct client *c, int argc, const struct dyn_arg *argv)
{
    list_push(c, argc, argv, LIST_TAIL, 0);
}

static void list_lpushx(struct client *c, int argc, const struct dyn_arg *argv)
{
    list_push(c, argc, argv, LIST_HEAD, 1);
}

static void list_rpushx(struct client *c, int argc, const struct dyn_arg *argv)
{
    list_push(c, argc, argv, LIST_TAIL, 1);
}

/* -------------------------------------------------------------------- pops */

/*
 * Removes count (>= 1, at most the length) elements from one end of k's
 * list and stores it, replying them first: as an array when as_array,
 * else the one element as a bulk.  If the write fails the reply is rolled
 * back to mark (a caller's header included) and the error replied.
 */
static int list_pop_n(struct client *c, struct lkey *k, uint32_t count,
                      enum list_end end, int as_array, size_t mark)
{
    uint32_t n = crdt_list_len(k->l);
    uint32_t *ix = dyn_malloc(count * sizeof(*ix));
    if (as_array)
        reply_array(&c->obuf, count);
    for (uint32_t j = 0; j < count; j++) {
        uint32_t i = end == LIST_HEAD ? j : n - 1 - j;
        reply_element(c, k->l, i);
        ix[end == LIST_HEAD ? j : count - 1 - j] = i;
    }
    crdt_list_remove_at(k->l, ix, count);
    dyn_free(ix);
    struct crdt_dot dot;
    uint64_t ts;
    list_dots(c, k, 1, &dot, &ts);
    return list_store(c, k, &dot, 1, ts, mark);
}

static void list_pop(struct client *c, int argc, const struct dyn_arg *argv,
                     enum list_end end, const char *name)
{
    long long count = 0;
    int has_count = argc == 3;
    if (argc > 3) {
        command_reply_arity(c, name);
        return;
    }
    if (has_count &&
        list_ll_range(c, &argv[2], 0, LLONG_MAX,
                      "ERR value is out of range, must be positive",
                      &count) != 0)
        return;
    struct lkey k;
    /* removes only: nothing to refuse midway */
    int found = list_open_for(c, &argv[1], 0, 64, &k);
    if (found < 0)
        return;
    if (!found) {
        if (has_count)
            reply_null_array(&c->obuf, c->resp);
        else
            reply_null(&c->obuf, c->resp);
        return;
    }
    if (has_count && count == 0) {
        reply_array(&c->obuf, 0);
    } else {
        uint32_t n = crdt_list_len(k.l);
        uint32_t take = !has_count ? 1
                        : (unsigned long long)count < n ? (uint32_t)count
                                                        : n;
        list_pop_n(c, &k, take, end, has_count, c->obuf.len);
    }
    lkey_free(&k);
}

static void list_lpop(struct client *c, int argc, const struct dyn_arg *argv)
{
    list_pop(c, argc, argv, LIST_HEAD, "lpop");
}

static void list_rpop(struct client *c, int argc, const struct dyn_arg *argv)
{
    list_pop(c, argc, argv, LIST_TAIL, "rpop");
}

/* ------------------------------------------------------------------- reads */

static void list_llen(struct client *c, int argc, const struct dyn_arg *argv)
{
    (void)argc;
    struct lkey k;
    int found = list_open(c, &argv[1], 1, &k);
    if (found < 0)
        return;
    reply_int(&c->obuf, found ? crdt_list_len(k.l) : 0);
    lkey_free(&k);
}

static void list_lrange(struct client *c, int argc, const struct dyn_arg *argv)
{
    (void)argc;
    long long start, stop;
    if (list_ll(c, &argv[2], NULL, &start) != 0 ||
        list_ll(c, &argv[3], NULL, &stop) != 0)
        return;
    struct lkey k;
    int found = list_open(c, &argv[1], 1, &k);
    if (found < 0)
        return;
    uint32_t from, to;
    if (!found || !list_range(start, stop, crdt_list_len(k.l), &from, &to)) {
        reply_array(&c->obuf, 0);
    } else {
        reply_array(&c->obuf, (long long)to - from + 1);
        for (uint32_t i = from; i <= to; i++)
            reply_element(c, k.l, i);
    }
    lkey_free(&k);
}

static void list_lindex(struct client *c, int argc, const struct dyn_arg *argv)
{
    (void)argc;
    struct lkey k;
    long long index;
    int found = list_open(c, &argv[1], 1, &k);
    if (found < 0)
        return;
    if (!found) {
        reply_null(&c->obuf, c->resp);
        return;
    }
    if (list_ll(c, &argv[2], NULL, &index) == 0) {
        long long n = crdt_list_len(k.l);
        if (index < 0)
            index += n;
        if (index < 0 || index >= n)
            reply_null(&c->obuf, c->resp);
        else
            reply_element(c, k.l, (uint32_t)index);
    }
    lkey_free(&k);
}

/*
 * LPOS key element [RANK rank] [COUNT num] [MAXLEN len].  Redis 7.0 takes
 * RANK LLONG_MIN without complaint and negates it (undefined in C; it
 * stays negative): every match then counts from the tail, and with COUNT
 * every match is returned.  That is what this does, on purpose.
 */
static void list_lpos(struct client *c, int argc, const struct dyn_arg *argv)
{
    long long rank = 1, count = -1, maxlen = 0;
    int from_tail = 0, rank_min = 0;
    for (int j = 3; j < argc; j++) {
        const struct dyn_arg *o = &argv[j];
        int more = argc - 1 - j;
        if (dyn_arg_is(o->p, o->len, "rank") && more) {
            if (list_ll(c, &argv[++j], NULL, &rank) != 0)
                return;
            if (rank == 0) {
                client_error(c, "ERR RANK can't be zero: use 1 to start from "
                                "the first match, 2 from the second ... or "
                                "use negative to start from the end of the "
                                "list");
                return;
            }
        } else if (dyn_arg_is(o->p, o->len, "count") && more) {
            if (list_ll_range(c, &argv[++j], 0, LLONG_MAX,
                              "ERR COUNT can't be negative", &count) != 0)
                return;
        } else if (dyn_arg_is(o->p, o->len, "maxlen") && more) {
            if (list_ll_range(c, &argv[++j], 0, LLONG_MAX,
                              "ERR MAXLEN can't be negative", &maxlen) != 0)
                return;
        } else {
            client_error(c, ERR_SYNTAX);
            return;
        }
    }
    if (rank < 0) {
        from_tail = 1;
        rank_min = rank == LLONG_MIN;
        rank = rank_min ? 1 : -rank;
    }
    struct lkey k;
    int found = list_open(c, &argv[1], 1, &k);
    if (found < 0)
        return;
    if (!found) {
        if (count != -1)
            reply_array(&c->obuf, 0);
        else
            reply_null(&c->obuf, c->resp);
        return;
    }
    uint32_t n = crdt_list_len(k.l);
    long long matches = 0, emitted = 0, at = -1;
    size_t hdr = 0;
    if (count != -1)
        hdr = reply_defer(&c->obuf);
    for (uint32_t s = 0; s < n && (maxlen == 0 || s < maxlen); s++) {
        uint32_t i = from_tail ? n - 1 - s : s;
        if (!list_eq(k.l, i, argv[2].p, argv[2].len))
            continue;
        matches++;
        if (matches < rank)
            continue;
        if (count == -1) {
            at = i;
            break;
        }
        reply_int(&c->obuf, i);
        emitted++;
        if (count && !rank_min && matches - rank + 1 >= count)
            break;
    }
    if (count != -1)
        reply_defer_set(&c->obuf, hdr, c->resp, '*', emitted);
    else if (at >= 0)
        reply_int(&c->obuf, at);
    else
        reply_null(&c->obuf, c->resp);
    lkey_free(&k);
}

/* ------------------------------------------------------------------ edits */

static void list_lset(struct client *c, int argc, const struct dyn_arg *argv)
{
    (void)argc;
    struct lkey k;
    long long index;
    int found = list_open(c, &argv[1], 0, &k);
    if (found < 0)
        return;
    if (!found) {
        client_error(c, "ERR no such key");
        return;
    }
    if (list_ll(c, &argv[2], NULL, &index) != 0)
        goto out;
    long long n = crdt_list_len(k.l);
    if (index < 0)
        index += n;
    if (index < 0 || index >= n) {
        client_error(c, "ERR index out of range");
        goto out;
    }
    struct crdt_dot dot;
    uint64_t ts;
    list_dots(c, &k, 1, &dot, &ts);
    int rc = crdt_list_set(k.l, (uint32_t)index, argv[3].p, argv[3].len, &dot,
                           db_crdt_limits(c->node));
    if (rc != 0) {
        list_op_error(c, rc);
        goto out;
    }
    if (list_store(c, &k, &dot, 1, ts, c->obuf.len) == 0)
        reply_ok(&c->obuf);
out:
    lkey_free(&k);
}

/* LREM key count element.  A count of LLONG_MIN: Redis 7.0 negates it
 * (it stays negative) and so removes every match, from the tail. */
static void list_lrem(struct client *c, int argc, const struct dyn_arg *argv)
{
    (void)argc;
    long long count;
    if (list_ll(c, &argv[2], NULL, &count) != 0)
        return;
    struct lkey k;
    int found = list_open(c, &argv[1], 0, &k);
    if (found < 0)
        return;
    if (!found) {
        reply_int(&c->obuf, 0);
        return;
    }
    int from_tail = count < 0;
    unsigned long long limit = count == LLONG_MIN ? 0
                               : count < 0        ? (unsigned long long)-count
                                                  : (unsigned long long)count;
    uint32_t n = crdt_list_len(k.l), removed = 0;
    uint32_t *ix = dyn_malloc(((size_t)n + 1) * sizeof(*ix));
    for (uint32_t s = 0; s < n && (limit == 0 || removed < limit); s++) {
        uint32_t i = from_tail ? n - 1 - s : s;
        if (list_eq(k.l, i, argv[3].p, argv[3].len))
            ix[removed++] = i;
    }
    if (from_tail) /* ascending for remove_at */
        for (uint32_t a = 0, b = removed; a + 1 < b; a++, b--) {
            uint32_t t = ix[a];
            ix[a] = ix[b - 1];
            ix[b - 1] = t;
        }
    if (removed) {
        crdt_list_remove_at(k.l, ix, removed);
        struct crdt_dot dot;
        uint64_t ts;
        list_dots(c, &k, 1, &dot, &ts);
        if (list_store(c, &k, &dot, 1, ts, c->obuf.len) == 0)
            reply_int(&c->obuf, removed);
    } else {
        reply_int(&c->obuf, 0);
    }
    dyn_free(ix);
    lkey_free(&k);
}

static void list_ltrim(struct client *c, int argc, const struct dyn_arg *argv)
{
    (void)argc;
    long long start, stop;
    if (list_ll(c, &argv[2], NULL, &start) != 0 ||
        list_ll(c, &argv[3], NULL, &stop) != 0)
        return;
    struct lkey k;
    int found = list_open(c, &argv[1], 0, &k);
    if (found < 0)
        return;
    if (!found) {
        reply_ok(&c->obuf);
        return;
    }
    uint32_t n = crdt_list_len(k.l), from = 0, to = 0, nr = 0;
    int keep = list_range(start, stop, n, &from, &to);
    uint32_t *ix = dyn_malloc(((size_t)n + 1) * sizeof(*ix));
    for (uint32_t i = 0; i < n; i++)
        if (!keep || i < from || i > to)
            ix[nr++] = i;
    if (nr) {
        crdt_list_remove_at(k.l, ix, nr);
        struct crdt_dot dot;
        uint64_t ts;
        list_dots(c, &k, 1, &dot, &ts);
        if (list_store(c, &k, &dot, 1, ts, c->obuf.len) == 0)
            reply_ok(&c->obuf);
    } else {
        reply_ok(&c->obuf);
    }
    dyn_free(ix);
    lkey_free(&k);
}

static void list_linsert(struct client *c, int argc,
                         const struct dyn_arg *argv)
{
    (void)argc;
    int after;
    if (dyn_arg_is(argv[2].p, argv[2].len, "after"))
        after = 1;
    else if (dyn_arg_is(argv[2].p, argv[2].len, "before"))
        after = 0;
    else {
        client_error(c, ERR_SYNTAX);
        return;
    }
    struct lkey k;
    int found = list_open(c, &argv[1], 0, &k);
    if (found < 0)
        return;
    if (!found) {
        reply_int(&c->obuf, 0);
        return;
    }
    uint32_t n = crdt_list_len(k.l), i;
    for (i = 0; i < n; i++)
        if (list_eq(k.l, i, argv[3].p, argv[3].len))
            break;
    if (i == n) {
        reply_int(&c->obuf, -1);
        lkey_free(&k);
        return;
    }
    struct crdt_dot dot;
    uint64_t ts;
    list_dots(c, &k, 1, &dot, &ts);
    int rc = crdt_list_insert(k.l, i + (uint32_t)after, argv[4].p, argv[4].len,
                              &dot, db_crdt_limits(c->node));
    uint32_t len = crdt_list_len(k.l);
    if (rc != 0)
        list_op_error(c, rc);
    else if (list_store(c, &k, &dot, 1, ts, c->obuf.len) == 0)
        reply_int(&c->obuf, len);
    lkey_free(&k);
}

/* ------------------------------------------------------------ two lists */

static int list_same_key(const struct dyn_arg *a, const struct dyn_arg *b)
{
    return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

/*
 * LMOVE's body: pops from one end of src and pushes at one end of dst
 * (the same list when the keys are equal), replying the element.  The
 * destination is written before the source, so a refused write can at
 * worst leave the element in both lists, never in neither.
 */
static void list_move(struct client *c, const struct dyn_arg *src,
                      const struct dyn_arg *dst, enum list_end from,
                      enum list_end to)
{
    struct lkey s, d;
    int found = list_open(c, src, 0, &s);
    if (found <= 0) {
        if (found == 0)
            reply_null(&c->obuf, c->resp);
        return;
    }
    int same = list_same_key(src, dst);
    struct lkey *dk = &s;
    if (!same) {
        if (list_open(c, dst, 0, &d) < 0) {
            lkey_free(&s);
            return;
        }
        dk = &d;
    }
    uint32_t n = crdt_list_len(s.l), i = from == LIST_HEAD ? 0 : n - 1;
    const uint8_t *v;
    size_t vlen;
    crdt_list_at(s.l, i, &v, &vlen);
    uint8_t *val = vlen ? dyn_memdup(v, vlen) : NULL;
    crdt_list_remove(s.l, i);
    if (!dk->l)
        dk->l = crdt_list_new();
    struct crdt_dot dot, sdot;
    uint64_t ts, sts;
    list_dots(c, dk, 1, &dot, &ts);
    int rc = crdt_list_insert(dk->l, to == LIST_HEAD ? 0 : crdt_list_len(dk->l),
                              val ? (const void *)val : "", vlen, &dot,
                              db_crdt_limits(c->node));
    size_t mark = c->obuf.len;
    if (rc != 0) {
        list_op_error(c, rc);
    } else if (list_store(c, dk, &dot, 1, ts, mark) == 0) {
        if (!same) {
            list_dots(c, &s, 1, &sdot, &sts);
            rc = list_store(c, &s, &sdot, 1, sts, mark);
        }
        if (rc == 0)
            reply_bulk(&c->obuf, val, vlen);
    }
    dyn_free(val);
    if (!same)
        lkey_free(&d);
    lkey_free(&s);
}

static void list_lmove(struct client *c, int argc, const struct dyn_arg *argv)
{
    (void)argc;
    enum list_end from, to;
    if (list_where(c, &argv[3], &from) != 0 ||
        list_where(c, &argv[4], &to) != 0)
        return;
    list_move(c, &argv[1], &argv[2], from, to);
}

static void list_rpoplpush(struct client *c, int argc,
                           const struct dyn_arg *argv)
{
    (void)argc;
    list_move(c, &argv[1], &argv[2], LIST_TAIL, LIST_HEAD);
}

/* LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]: pops from the
 * first key (in argument order) that holds a list; [key, [elements]]. */
static void list_lmpop(struct client *c, int argc, const struct dyn_arg *argv)
{
    long long numkeys, count = -1;
    enum list_end end;
    if (list_ll_range(c, &argv[1], 1, LLONG_MAX,
                      "ERR numkeys should be greater than 0", &numkeys) != 0)
        return;
    if (numkeys >= argc - 2) {
        client_error(c, ERR_SYNTAX);
        return;
    }
    int where = 2 + (int)numkeys;
    if (list_where(c, &argv[where], &end) != 0)
        return;
    for (int j = where + 1; j < argc; j++) {
        int more = argc - 1 - j;
        if (count == -1 && dyn_arg_is(argv[j].p, argv[j].len, "count") &&
            more) {
            if (list_ll_range(c, &argv[++j], 1, LLONG_MAX,
                              "ERR count should be greater than 0",
                              &count) != 0)
                return;
        } else {
            client_error(c, ERR_SYNTAX);
            return;
        }
    }
    if (count == -1)
        count = 1;
    for (int j = 2; j < where; j++) {
        struct lkey k;
        int found = list_open(c, &argv[j], 0, &k);
        if (found < 0)
            return;
        if (!found)
            continue;
        uint32_t n = crdt_list_len(k.l);
        uint32_t take = (unsigned long long)count < n ? (uint32_t)count : n;
        size_t mark = c->obuf.len;
        reply_array(&c->obuf, 2);
        reply_bulk(&c->obuf, argv[j].p, argv[j].len);
        list_pop_n(c, &k, take, end, 1, mark);
        lkey_free(&k);
        return;
    }
    reply_null_array(&c->obuf, c->resp);
}

/* ------------------------------------------------------------- blocking */

static void list_blocking(struct client *c, int argc,
                          const struct dyn_arg *argv)
{
    (void)argc;
    char name[32];
    size_t n = DYN_MIN(argv[0].len, sizeof(name) - 1);
    for (size_t k = 0; k < n; k++) {
        char ch = argv[0].p[k];
        name[k] = ch >= 'a' && ch <= 'z' ? (char)(ch - 'a' + 'A') : ch;
    }
    name[n] = 0;
    client_errorf(c, "ERR %s is not supported: blocking commands need one "
                     "server to wait on, and a Dynamo key has N replicas; "
                     "poll %s instead",
                  name, name + 1);
}

/* --------------------------------------------------------------- table */

#define WR_FAST (CMD_WRITE | CMD_DENYOOM | CMD_FAST | CMD_DATA)
#define WR (CMD_WRITE | CMD_DENYOOM | CMD_DATA)
#define WR_NOOM_FAST (CMD_WRITE | CMD_FAST | CMD_DATA)
#define WR_NOOM (CMD_WRITE | CMD_DATA)
#define RD (CMD_READONLY | CMD_DATA)
#define RD_FAST (CMD_READONLY | CMD_FAST | CMD_DATA)
#define BLOCK (CMD_WRITE | CMD_NOSCRIPT | CMD_DATA)

#define O_N_STATE "O(N) where N is the list's length: its state is read " \
                  "and written whole"

const struct command cmd_list_table[] = {
    { "lpush", list_lpush, -3, WR_FAST, 1, 1, 1, "@write @list @fast",
      "list", "1.0.0", "Pushes elements at the head of a list, the last "
      "argument first.", O_N_STATE, NULL, ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "rpush", list_rpush, -3, WR_FAST, 1, 1, 1, "@write @list @fast",
      "list", "1.0.0", "Pushes elements at the tail of a list, in order.",
      O_N_STATE, NULL, ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "lpushx", list_lpushx, -3, WR_FAST, 1, 1, 1, "@write @list @fast",
      "list", "2.2.0", "Pushes elements at the head of a list that exists.",
      O_N_STATE, NULL, ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "rpushx", list_rpushx, -3, WR_FAST, 1, 1, 1, "@write @list @fast",
      "list", "2.2.0", "Pushes elements at the tail of a list that exists.",
      O_N_STATE, NULL, ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "lpop", list_lpop, -2, WR_NOOM_FAST, 1, 1, 1, "@write @list @fast",
      "list", "1.0.0", "Removes and returns the first element, or the first "
      "count.", O_N_STATE, NULL, ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "rpop", list_rpop, -2, WR_NOOM_FAST, 1, 1, 1, "@write @list @fast",
      "list", "1.0.0", "Removes and returns the last element, or the last "
      "count.", O_N_STATE, NULL, ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "llen", list_llen, 2, RD_FAST, 1, 1, 1, "@read @list @fast", "list",
      "1.0.0", "Returns the number of elements of a list.", O_N_STATE, NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "lrange", list_lrange, 4, RD, 1, 1, 1, "@read @list @slow", "list",
      "1.0.0", "Returns the elements between two indexes.", O_N_STATE, NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "lindex", list_lindex, 3, RD, 1, 1, 1, "@read @list @slow", "list",
      "1.0.0", "Returns the element at an index.", O_N_STATE, NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "lset", list_lset, 4, WR, 1, 1, 1, "@write @list @slow", "list",
      "1.0.0", "Replaces the element at an index.", O_N_STATE, NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "lrem", list_lrem, 4, WR_NOOM, 1, 1, 1, "@write @list @slow", "list",
      "1.0.0", "Removes the first count elements equal to one, from the "
      "head or (negative count) the tail; 0: all of them.", O_N_STATE, NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "ltrim", list_ltrim, 4, WR_NOOM, 1, 1, 1, "@write @list @slow", "list",
      "1.0.0", "Keeps only the elements between two indexes.", O_N_STATE,
      NULL, ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "linsert", list_linsert, 5, WR, 1, 1, 1, "@write @list @slow", "list",
      "2.2.0", "Inserts an element before or after the first one equal to "
      "a pivot.", O_N_STATE, NULL, ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "lpos", list_lpos, -3, RD, 1, 1, 1, "@read @list @slow", "list",
      "6.0.6", "Returns the index of matching elements.", O_N_STATE, NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "lmove", list_lmove, 5, WR, 1, 2, 1, "@write @list @slow", "list",
      "6.2.0", "Pops an element from one end of a list and pushes it at an "
      "end of another (or the same).", "O(N+M) where N and M are the two "
      "lists' lengths", NULL, ROUTE_GATHER, COMBINE_NONE, NULL, 0 },
    { "rpoplpush", list_rpoplpush, 3, WR, 1, 2, 1, "@write @list @slow",
      "list", "1.2.0", "Pops the last element of a list and pushes it at the "
      "head of another (LMOVE src dst RIGHT LEFT).", "O(N+M) where N and M "
      "are the two lists' lengths", NULL, ROUTE_GATHER, COMBINE_NONE,
      NULL, 0 },
    { "lmpop", list_lmpop, -4, WR_NOOM, 0, 0, 0, "@write @list @slow",
      "list", "7.0.0", "Pops elements from the first of several keys that "
      "holds a list.", "O(N+M) where N is the number of keys and M the "
      "lengths of the lists read", NULL, ROUTE_GATHER, COMBINE_NONE,
      NULL, 1 },
    { "blpop", list_blocking, -3, BLOCK, 1, -2, 1,
      "@write @list @slow @blocking", "list", "2.0.0",
      "Not supported: a Dynamo key has N replicas; poll LPOP.", "O(1)", NULL,
      ROUTE_LOCAL, COMBINE_NONE, NULL, 0 },
    { "brpop", list_blocking, -3, BLOCK, 1, -2, 1,
      "@write @list @slow @blocking", "list", "2.0.0",
      "Not supported: a Dynamo key has N replicas; poll RPOP.", "O(1)", NULL,
      ROUTE_LOCAL, COMBINE_NONE, NULL, 0 },
    { "blmove", list_blocking, 6, BLOCK | CMD_DENYOOM, 1, 2, 1,
      "@write @list @slow @blocking", "list", "6.2.0",
      "Not supported: a Dynamo key has N replicas; poll LMOVE.", "O(1)",
      NULL, ROUTE_LOCAL, COMBINE_NONE, NULL, 0 },
    { "brpoplpush", list_blocking, 4, BLOCK | CMD_DENYOOM, 1, 2, 1,
      "@write @list @slow @blocking", "list", "2.2.0",
      "Not supported: a Dynamo key has N replicas; poll RPOPLPUSH.", "O(1)",
      NULL, ROUTE_LOCAL, COMBINE_NONE, NULL, 0 },
    { "blmpop", list_blocking, -5, BLOCK, 0, 0, 0,
      "@write @list @slow @blocking", "list", "7.0.0",
      "Not supported: a Dynamo key has N replicas; poll LMPOP.", "O(1)", NULL,
      ROUTE_LOCAL, COMBINE_NONE, NULL, 0 },
    { NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0,
      NULL, 0 },
};
