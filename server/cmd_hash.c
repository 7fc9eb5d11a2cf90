/*
 * cmd_hash.c -- the hash commands: every Redis 7.0 hash command (HSET
 * HSETNX HMSET HGET HMGET HGETALL HDEL HEXISTS HLEN HKEYS HVALS HSTRLEN
 * HINCRBY HINCRBYFLOAT HRANDFIELD HSCAN) on the observed-remove map of
 * cluster/crdt_hash.c (issue #14, docs/TYPES.md "Hashes").
 *
 * A hash key's value is a crdt_hash state.  A handler reads it through
 * db's typed API (db_typed_lookup: the key's merged state in a cluster, or
 * WRONGTYPE), decodes it, and for a write reserves dots (db_typed_dots),
 * applies the ops and stores the new state (db_typed_write), which db
 * replicates.  Dots: an HSET of a field uses one, two when the field was
 * incremented (its reset snapshot); an HDEL none or one; an HINCRBY* one.
 * A handler reserves the most its ops may use and names the version with
 * the ones used (at least one); the others are never issued again.
 *
 * On a node alone (db_typed_alone) HINCRBY and HINCRBYFLOAT fold: the
 * library computes the value exactly as Redis does and stores it as a
 * plain register, so replies match redis-server byte for byte.  In a
 * cluster they are counters: concurrent increments add up, and an HSET or
 * HDEL cancels only the increments it saw.
 *
 * Replies.  Fields come out in the state's order (length, then bytes)
 * where Redis's is its listpack's or hash table's: both are "no defined
 * order".  RESP3: HGETALL answers a map, HRANDFIELD WITHVALUES pairs, as
 * Redis 7.0.  Errors are Redis 7.0's texts in Redis's order (arity, then
 * numbers, then WRONGTYPE, then the value).
 *
 * HSCAN.  A hash Redis would keep as a listpack (at most
 * HASH_SMALL_FIELDS fields, each field and value at most HASH_SMALL_BYTES
 * bytes, its defaults) comes back whole with cursor 0, as Redis answers.
 * A larger one is walked by a cursor in the 64-bit space of the fields'
 * hashes (dyn_hash64, the same on every node): a call returns about COUNT
 * fields whose hash is >= cursor, in hash order, never splitting fields
 * that share a hash; the next cursor is the first hash it did not return,
 * 0 when none is left.  Cursors only grow, so a scan ends, and a field
 * present from the first call to the last is returned at least once
 * whatever is added or removed meanwhile.  MATCH filters after COUNT.
 *
 * HRANDFIELD with a negative count draws with repeats, |count| times:
 * the reply stops at client-output-buffer-limit (HASH_RAND_REPLY_MAX when
 * that is 0) with an error instead of building one the client would be
 * dropped for (Redis builds it).
 * Randomness comes from node_random (node.h).
 *
 * A stored state that does not decode is a corrupt store: "-ERR corrupt
 * value" and a log line, never a crash.
 *
 * Thread-safety: handlers run on the event loop that owns the node.
 */
#include <errno.h>
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/crdt.h"
#include "server/command.h"
#include "server/client.h"
#include "server/db.h"
#include "server/log.h"
#include "server/node.h"
#include "server/reply.h"
#include "server/util.h"

/* Redis 7.0's hash-max-listpack-entries / -value defaults: below them a
 * hash is one listpack, and HSCAN returns it whole. */
#define HASH_SMALL_FIELDS 128
#define HASH_SMALL_BYTES 64
/* HRANDFIELD's reply bound when client-output-buffer-limit is 0 (none):
 * a negative count draws |count| times, up to 2^63, which no client can
 * take. */
#define HASH_RAND_REPLY_MAX (1LL << 30)

/* ------------------------------------------------------------------ helpers */

/*
 * key's hash, decoded into *out (owned by the caller).  1: a hash; 0: no
 * key, *out NULL; -1: replied (WRONGTYPE, corrupt).  read: count a
 * keyspace hit or miss, as Redis's reads do.  reserve: for a write that
 * changes the hash only if it succeeds (one field), hash_reserve's figure
 * (see db_typed_take_write); else 0.
 */
static uint64_t hash_reserve(const struct dyn_arg *args, int n)
{
    uint64_t r = 64;
    for (int i = 0; i < n; i++)
        r += args[i].len + 64;
    return r;
}

static int hash_read(struct client *c, const struct dyn_arg *key,
                     struct crdt_hash **out, int64_t *expire_ms, int read,
                     uint64_t reserve)
{
    struct node *n = c->node;
    struct db_typed t;
    int rc;
    *out = NULL;
    if (expire_ms)
        *expire_ms = 0;
    if (!read && reserve) {
        /* an all-or-nothing op: its state may be the node's deferred
         * one (db_typed_take_write) */
        void *st = NULL;
        int64_t exp = 0;
        rc = db_typed_take_write(n, key->p, key->len, CRDT_TYPE_HASH, &st,
                                 &exp, reserve);
        *out = st;
        if (rc == 1 && expire_ms)
            *expire_ms = exp;
        if (rc >= 0)
            return rc;
        if (rc == DB_WRONGTYPE) {
            client_error(c, ERR_WRONGTYPE);
            return -1;
        }
        if (rc == DYN_EAGAIN || rc == DYN_EIO) {
            client_error(c, db_error_text(n, rc));
            return -1;
        }
        client_error(c, rc == DYN_ELIMIT ? "ERR stored hash exceeds this "
                                           "node's crdt limits (were they "
                                           "lowered?)"
                                         : "ERR corrupt value");
        return -1;
    }
    if (read) {
        /* a read uses the state the node keeps, when it does */
        void *st = NULL;
        int64_t exp = 0;
        rc = db_typed_borrow(n, key->p, key->len, CRDT_TYPE_HASH, &st, &exp);
        if (rc == 1) {
            *out = st;
            if (expire_ms)
                *expire_ms = exp;
            n->stats.keyspace_hits++;
            return 1;
        }
        if (rc == DB_WRONGTYPE) {
            client_error(c, ERR_WRONGTYPE);
            return -1;
        }
    }
    rc = db_typed_lookup(n, key->p, key->len, CRDT_TYPE_HASH, &t);
    if (rc == DB_WRONGTYPE) {
        client_error(c, ERR_WRONGTYPE);
        return -1;
    }
    if (rc != 1) {
        if (read)
            n->stats.keyspace_misses++;
        return 0;
    }
    if (read)
        n->stats.keyspace_hits++;
    /* a write takes the state kept from the last write; a read decodes
     * its own copy and leaves that one for the next write */
    *out = read ? NULL
                : db_typed_take(n, key->p, key->len, CRDT_TYPE_HASH, &t);
    rc = *out ? 0 : crdt_hash_decode(t.state, t.len, db_crdt_limits(n), out);
    if (rc == DYN_ELIMIT) {
        client_error(c, "ERR stored hash exceeds this node's crdt limits "
                        "(were they lowered?)");
        return -1;
    }
    if (rc != 0) {
        dlog(DLOG_WARNING, "hash key '%.*s': stored state does not decode",
             (int)DYN_MIN(key->len, (size_t)128), key->p);
        client_error(c, "ERR corrupt value");
        return -1;
    }
    if (expire_ms)
        *expire_ms = t.expire_ms;
    return 1;
}

/* A write: the reserved dots, the next unused one, and the TTL to keep. */
struct hash_op {
    struct crdt_dot first, next;
    uint64_t ts;
    int64_t expire_ms;
    size_t mark; /* the reply's start, rolled back on an error */
};

static void hash_op_begin(struct client *c, const struct dyn_arg *key,
                          uint32_t ndots, int64_t expire_ms,
                          struct hash_op *op)
{
    db_typed_dots(c->node, key->p, key->len, ndots, &op->first, &op->ts);
    op->next = op->first;
    op->expire_ms = expire_ms;
    op->mark = c->obuf.len;
}

/* The actor HINCRBY* keeps its sums under (db_inc_run), set on h. */
static uint64_t hash_inc_run(struct client *c, const struct dyn_arg *key,
                             struct crdt_hash *h, const struct hash_op *op)
{
    uint64_t run, last = db_counter_last(c->node, key->p, key->len, &run);
    struct crdt_dot ld = { op->first.actor, last };
    uint64_t ia = db_inc_run(c->node, last, run,
                             last && crdt_hash_has_dot(h, &ld), &op->first);
    crdt_hash_inc_actor(h, ia);
    return ia;
}

/* Answers an op's refusal by the library (the state is dropped). */
static void hash_reply_op_error(struct client *c, int rc, size_t mark)
{
    const struct crdt_limits *lim = db_crdt_limits(c->node);
    c->obuf.len = mark;
    switch (rc) {
    case CRDT_ENOTINT:
        client_error(c, "ERR hash value is not an integer");
        break;
    case CRDT_ENOTFLOAT:
        client_error(c, "ERR hash value is not a float");
        break;
    case CRDT_EOVERFLOW:
        client_error(c, "ERR increment or decrement would overflow");
        break;
    case CRDT_ENANINF:
        client_error(c, "ERR increment would produce NaN or Infinity");
        break;
    case DYN_ELIMIT:
        client_errorf(c, "ERR hash would exceed this node's crdt limits "
                         "(fields and values up to proto-max-bulk-len, "
                         "%u bytes; %u actors; %u context dots until "
                         "anti-entropy compacts it)",
                      lim->max_member_len, lim->max_actors, lim->max_dots);
        break;
    default: {
        const char *t = crdt_err_text(rc);
        client_error(c, t ? t : "ERR hash update refused (a stale dot)");
    }
    }
}

/* Stores *h as key's hash, named by the dots op used (at least one): the
 * state goes to db (*h is NULL afterwards).  0, or -1 after replying (the
 * reply rolled back first). */
static int hash_store(struct client *c, const struct dyn_arg *key,
                      struct crdt_hash **h, const struct hash_op *op)
{
    struct node *n = c->node;
    uint64_t used = op->next.counter - op->first.counter;
    int rc = db_typed_write_state(n, key->p, key->len, CRDT_TYPE_HASH, *h,
                                  &op->first, used ? (uint32_t)used : 1,
                                  op->ts, op->expire_ms);
    *h = NULL;
    if (rc == 0)
        return 0;
    c->obuf.len = op->mark;
    if (rc == DB_ETOOBIG) {
        client_errorf(c, "ERR hash would encode to more than "
                         "proto-max-bulk-len (%lld bytes)",
                      n->cfg.proto_max_bulk_len);
        return -1;
    }
    c->errors++;
    db_reply_write_error(n, &c->obuf, rc, NULL);
    return -1;
}

static uint64_t hash_rand_below(struct node *n, uint64_t bound)
{
    return node_random(n) % bound;
}

/* ------------------------------------------------------------------ writes */

/* HSET / HMSET: field value pairs from argv[2]; *added the new fields.
 * 0, or -1 after replying. */
static int hash_set_pairs(struct client *c, int argc,
                          const struct dyn_arg *argv, int64_t *added)
{
    struct crdt_hash *h;
    int64_t expire;
    /* one pair is all or nothing; more could stop midway */
    int rc = hash_read(c, &argv[1], &h, &expire, 0,
                       argc == 4 ? hash_reserve(argv + 2, 2) : 0);
    if (rc < 0)
        return -1;
    if (rc == 0)
        h = crdt_hash_new();
    uint32_t pairs = (uint32_t)((argc - 2) / 2);
    struct hash_op op;
    hash_op_begin(c, &argv[1], 2 * pairs, expire, &op);
    const struct crdt_limits *lim = db_crdt_limits(c->node);
    *added = 0;
    for (int i = 2; i < argc; i += 2) {
        int one;
        rc = crdt_hash_set(h, argv[i].p, argv[i].len, argv[i + 1].p,
                           argv[i + 1].len, op.ts, &op.next, lim, &one);
        if (rc) {
            hash_reply_op_error(c, rc, op.mark);
            crdt_hash_free(h);
            return -1;
        }
        *added += one;
    }
    rc = hash_store(c, &argv[1], &h, &op);
    crdt_hash_free(h);
    return rc;
}

static void hash_hset(struct client *c, int argc, const struct dyn_arg *argv)
{
    int64_t added;
    if (argc % 2 == 1) {
        command_reply_arity(c, "hset");
        return;
    }
    if (hash_set_pairs(c, argc, argv, &added) == 0)
        reply_int(&c->obuf, added);
}

static void hash_hmset(struct client *c, int argc, const struct dyn_arg *argv)
{
    int64_t added;
    if (argc % 2 == 1) {
        command_reply_arity(c, "hmset");
        return;
    }
    if (hash_set_pairs(c, argc, argv, &added) == 0)
        reply_ok(&c->obuf);
}

static void hash_hsetnx(struct client *c, int argc,
                        const struct dyn_arg *argv)
{
    (void)argc;
    struct crdt_hash *h;
    int64_t expire;
    uint32_t i;
    int rc = hash_read(c, &argv[1], &h, &expire, 0,
                       hash_reserve(argv + 2, 2));
    if (rc < 0)
        return;
    if (rc == 1 && crdt_hash_find(h, argv[2].p, argv[2].len, &i)) {
        reply_int(&c->obuf, 0);
        crdt_hash_free(h);
        return;
    }
    if (rc == 0)
        h = crdt_hash_new();
    struct hash_op op;
    hash_op_begin(c, &argv[1], 2, expire, &op);
    rc = crdt_hash_set(h, argv[2].p, argv[2].len, argv[3].p, argv[3].len,
                       op.ts, &op.next, db_crdt_limits(c->node), NULL);
    if (rc)
        hash_reply_op_error(c, rc, op.mark);
    else if (hash_store(c, &argv[1], &h, &op) == 0)
        reply_int(&c->obuf, 1);
    crdt_hash_free(h);
}

static void hash_hdel(struct client *c, int argc, const struct dyn_arg *argv)
{
    struct crdt_hash *h;
    int64_t expire;
    int rc = hash_read(c, &argv[1], &h, &expire, 0,
                       argc == 3 ? hash_reserve(argv + 2, 1) : 0);
    if (rc <= 0) {
        if (rc == 0)
            reply_int(&c->obuf, 0);
        return;
    }
    struct hash_op op;
    hash_op_begin(c, &argv[1], (uint32_t)(argc - 2), expire, &op);
    long long deleted = 0;
    for (int i = 2; i < argc; i++) {
        int one;
        rc = crdt_hash_del(h, argv[i].p, argv[i].len, &op.next,
                           db_crdt_limits(c->node), &one);
        if (rc) {
            hash_reply_op_error(c, rc, op.mark);
            crdt_hash_free(h);
            return;
        }
        deleted += one;
    }
    if (deleted == 0 || hash_store(c, &argv[1], &h, &op) == 0)
        reply_int(&c->obuf, deleted);
    crdt_hash_free(h);
}

static void hash_hincrby(struct client *c, int argc,
                         const struct dyn_arg *argv)
{
    (void)argc;
    long long by;
    if (dyn_str2ll(argv[3].p, argv[3].len, &by) != 0) {
        client_error(c, ERR_NOT_INTEGER);
        return;
    }
    struct crdt_hash *h;
    int64_t expire, result;
    int rc = hash_read(c, &argv[1], &h, &expire, 0,
                       hash_reserve(argv + 2, 2));
    if (rc < 0)
        return;
    if (rc == 0)
        h = crdt_hash_new();
    struct hash_op op;
    hash_op_begin(c, &argv[1], 1, expire, &op);
    uint64_t run = hash_inc_run(c, &argv[1], h, &op);
    rc = crdt_hash_incrby(h, argv[2].p, argv[2].len, by,
                          db_typed_alone(c->node), op.ts, &op.next,
                          db_crdt_limits(c->node), &result);
    if (rc) {
        hash_reply_op_error(c, rc, op.mark);
    } else if (hash_store(c, &argv[1], &h, &op) == 0) {
        db_counter_op(c->node, argv[1].p, argv[1].len, op.first.counter, run);
        reply_int(&c->obuf, result);
    }
    crdt_hash_free(h);
}

static void hash_hincrbyfloat(struct client *c, int argc,
                              const struct dyn_arg *argv)
{
    (void)argc;
    long double by, result;
    if (crdt_ld_parse(argv[3].p, argv[3].len, &by) != 0) {
        client_error(c, "ERR value is not a valid float");
        return;
    }
    if (isnan(by) || isinf(by)) {
        client_error(c, "ERR value is NaN or Infinity");
        return;
    }
    struct crdt_hash *h;
    int64_t expire;
    int rc = hash_read(c, &argv[1], &h, &expire, 0,
                       hash_reserve(argv + 2, 2));
    if (rc < 0)
        return;
    if (rc == 0)
        h = crdt_hash_new();
    struct hash_op op;
    hash_op_begin(c, &argv[1], 1, expire, &op);
    uint64_t run = hash_inc_run(c, &argv[1], h, &op);
    rc = crdt_hash_incrbyfloat(h, argv[2].p, argv[2].len, by,
                               db_typed_alone(c->node), op.ts, &op.next,
                               db_crdt_limits(c->node), &result);
    if (rc) {
        hash_reply_op_error(c, rc, op.mark);
    } else if (hash_store(c, &argv[1], &h, &op) == 0) {
        db_counter_op(c->node, argv[1].p, argv[1].len, op.first.counter, run);
        char *buf = dyn_malloc(CRDT_LD_CHARS);
        size_t len = crdt_ld_format(buf, CRDT_LD_CHARS, result);
        reply_bulk(&c->obuf, buf, len);
        dyn_free(buf);
    }
    crdt_hash_free(h);
}

/* ------------------------------------------------------------------- reads */

static void hash_hget(struct client *c, int argc, const struct dyn_arg *argv)
{
    (void)argc;
    struct crdt_hash *h;
    uint32_t i;
    int rc = hash_read(c, &argv[1], &h, NULL, 1, 0);
    if (rc < 0)
        return;
    if (rc == 1 && crdt_hash_find(h, argv[2].p, argv[2].len, &i)) {
        const uint8_t *v;
        size_t len;
        crdt_hash_value(h, i, &v, &len);
        reply_bulk(&c->obuf, v, len);
    } else {
        reply_null(&c->obuf, c->resp);
    }
    crdt_hash_free(h);
}

static void hash_hmget(struct client *c, int argc, const struct dyn_arg *argv)
{
    struct crdt_hash *h;
    int rc = hash_read(c, &argv[1], &h, NULL, 1, 0);
    if (rc < 0)
        return;
    reply_array(&c->obuf, argc - 2);
    for (int k = 2; k < argc; k++) {
        uint32_t i;
        if (h && crdt_hash_find(h, argv[k].p, argv[k].len, &i)) {
            const uint8_t *v;
            size_t len;
            crdt_hash_value(h, i, &v, &len);
            reply_bulk(&c->obuf, v, len);
        } else {
            reply_null(&c->obuf, c->resp);
        }
    }
    crdt_hash_free(h);
}

enum { HASH_KEYS = 1, HASH_VALS = 2 };

static void hash_reply_all(struct client *c, const struct dyn_arg *key,
                           int what)
{
    struct crdt_hash *h;
    int rc = hash_read(c, key, &h, NULL, 1, 0);
    if (rc < 0)
        return;
    uint32_t n = h ? crdt_hash_len(h) : 0;
    if (what == (HASH_KEYS | HASH_VALS))
        reply_map(&c->obuf, c->resp, n);
    else
        reply_array(&c->obuf, n);
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *p;
        size_t len;
        if (what & HASH_KEYS) {
            crdt_hash_field(h, i, &p, &len);
            reply_bulk(&c->obuf, p, len);
        }
        if (what & HASH_VALS) {
            crdt_hash_value(h, i, &p, &len);
            reply_bulk(&c->obuf, p, len);
        }
    }
    crdt_hash_free(h);
}

static void hash_hgetall(struct client *c, int argc,
                         const struct dyn_arg *argv)
{
    (void)argc;
    hash_reply_all(c, &argv[1], HASH_KEYS | HASH_VALS);
}

static void hash_hkeys(struct client *c, int argc, const struct dyn_arg *argv)
{
    (void)argc;
    hash_reply_all(c, &argv[1], HASH_KEYS);
}

static void hash_hvals(struct client *c, int argc, const struct dyn_arg *argv)
{
    (void)argc;
    hash_reply_all(c, &argv[1], HASH_VALS);
}

static void hash_hlen(struct client *c, int argc, const struct dyn_arg *argv)
{
    (void)argc;
    struct crdt_hash *h;
    int rc = hash_read(c, &argv[1], &h, NULL, 1, 0);
    if (rc < 0)
        return;
    reply_int(&c->obuf, h ? crdt_hash_len(h) : 0);
    crdt_hash_free(h);
}

static void hash_hexists(struct client *c, int argc,
                         const struct dyn_arg *argv)
{
    (void)argc;
    struct crdt_hash *h;
    uint32_t i;
    int rc = hash_read(c, &argv[1], &h, NULL, 1, 0);
    if (rc < 0)
        return;
    reply_int(&c->obuf, h && crdt_hash_find(h, argv[2].p, argv[2].len, &i));
    crdt_hash_free(h);
}

static void hash_hstrlen(struct client *c, int argc,
                         const struct dyn_arg *argv)
{
    (void)argc;
    struct crdt_hash *h;
    uint32_t i;
    size_t len = 0;
    int rc = hash_read(c, &argv[1], &h, NULL, 1, 0);
    if (rc < 0)
        return;
    if (h && crdt_hash_find(h, argv[2].p, argv[2].len, &i)) {
        const uint8_t *v;
        crdt_hash_value(h, i, &v, &len);
    }
    reply_int(&c->obuf, (long long)len);
    crdt_hash_free(h);
}

/* One HRANDFIELD item: the field, and its value WITHVALUES. */
static void hash_reply_item(struct client *c, struct crdt_hash *h, uint32_t i,
                            int withvalues)
{
    const uint8_t *p;
    size_t len;
    if (withvalues && c->resp > 2)
        reply_array(&c->obuf, 2);
    crdt_hash_field(h, i, &p, &len);
    reply_bulk(&c->obuf, p, len);
    if (withvalues) {
        crdt_hash_value(h, i, &p, &len);
        reply_bulk(&c->obuf, p, len);
    }
}

static void hash_hrandfield_count(struct client *c, int argc,
                                  const struct dyn_arg *argv)
{
    long long count;
    int withvalues = 0;
    if (dyn_str2ll(argv[2].p, argv[2].len, &count) != 0) {
        client_error(c, ERR_NOT_INTEGER);
        return;
    }
    if (count == LLONG_MIN) {
        client_error(c, "ERR value is out of range, value must between "
                        "-9223372036854775807 and 9223372036854775807");
        return;
    }
    if (argc > 4 ||
        (argc == 4 && !dyn_arg_is(argv[3].p, argv[3].len, "withvalues"))) {
        client_error(c, ERR_SYNTAX);
        return;
    }
    if (argc == 4) {
        withvalues = 1;
        if (count < -LLONG_MAX / 2 || count > LLONG_MAX / 2) {
            client_error(c, "ERR value is out of range");
            return;
        }
    }
    struct crdt_hash *h;
    int rc = hash_read(c, &argv[1], &h, NULL, 1, 0);
    if (rc < 0)
        return;
    if (rc == 0 || count == 0) {
        reply_array(&c->obuf, 0);
        crdt_hash_free(h);
        return;
    }
    uint32_t size = crdt_hash_len(h);
    int flat = withvalues && c->resp == 2;
    if (count < 0 || count == 1) {
        /* Draws with repeats: bounded by the output limit, not by the
         * hash, so stop where the client would be dropped anyway. */
        unsigned long long draws = count < 0 ? (unsigned long long)-count : 1;
        long long limit = c->node->cfg.client_output_buffer_limit;
        if (limit <= 0)
            limit = HASH_RAND_REPLY_MAX;
        size_t mark = c->obuf.len;
        reply_array(&c->obuf, (long long)(flat ? draws * 2 : draws));
        for (unsigned long long k = 0; k < draws; k++) {
            hash_reply_item(c, h, (uint32_t)hash_rand_below(c->node, size),
                            withvalues);
            if (c->obuf.len - mark > (unsigned long long)limit) {
                c->obuf.len = mark;
                client_errorf(c, "ERR HRANDFIELD's reply would pass "
                                 "%lld bytes (client-output-buffer-limit, "
                                 "or 1 GiB without one); ask for fewer "
                                 "fields", limit);
                break;
            }
        }
    } else if ((unsigned long long)count >= size) {
        reply_array(&c->obuf, flat ? 2LL * size : size);
        for (uint32_t i = 0; i < size; i++)
            hash_reply_item(c, h, i, withvalues);
    } else {
        /* count distinct fields: a partial Fisher-Yates over indices */
        uint32_t k = (uint32_t)count;
        uint32_t *ix = dyn_malloc((size_t)size * sizeof(*ix));
        for (uint32_t i = 0; i < size; i++)
            ix[i] = i;
        reply_array(&c->obuf, flat ? 2LL * k : k);
        for (uint32_t i = 0; i < k; i++) {
            uint32_t j = i + (uint32_t)hash_rand_below(c->node, size - i);
            uint32_t t = ix[i];
            ix[i] = ix[j];
            ix[j] = t;
            hash_reply_item(c, h, ix[i], withvalues);
        }
        dyn_free(ix);
    }
    crdt_hash_free(h);
}

static void hash_hrandfield(struct client *c, int argc,
                            const struct dyn_arg *argv)
{
    if (argc >= 3) {
        hash_hrandfield_count(c, argc, argv);
        return;
    }
    struct crdt_hash *h;
    int rc = hash_read(c, &argv[1], &h, NULL, 1, 0);
    if (rc < 0)
        return;
    if (rc == 0) {
        reply_null(&c->obuf, c->resp);
        return;
    }
    const uint8_t *p;
    size_t len;
    crdt_hash_field(h, (uint32_t)hash_rand_below(c->node, crdt_hash_len(h)),
                    &p, &len);
    reply_bulk(&c->obuf, p, len);
    crdt_hash_free(h);
}

/* Redis's cursor rule: strtoul over the argument, no leading space,
 * nothing left over, no overflow. */
struct hash_scan_item {
    uint64_t h;
    uint32_t i;
};

static int hash_scan_cmp(const void *x, const void *y)
{
    const struct hash_scan_item *a = x, *b = y;
    if (a->h != b->h)
        return a->h < b->h ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

/* 1 when Redis would hold h as a listpack (HSCAN answers it whole). */
static int hash_small(struct crdt_hash *h)
{
    uint32_t n = crdt_hash_len(h);
    if (n > HASH_SMALL_FIELDS)
        return 0;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *p;
        size_t flen, vlen;
        crdt_hash_field(h, i, &p, &flen);
        crdt_hash_value(h, i, &p, &vlen);
        if (flen > HASH_SMALL_BYTES || vlen > HASH_SMALL_BYTES)
            return 0;
    }
    return 1;
}

static void hash_hscan(struct client *c, int argc, const struct dyn_arg *argv)
{
    uint64_t cursor;
    if (command_parse_cursor(&argv[2], &cursor) != 0) {
        client_error(c, "ERR invalid cursor");
        return;
    }
    struct crdt_hash *h;
    int rc = hash_read(c, &argv[1], &h, NULL, 1, 0);
    if (rc < 0)
        return;
    if (rc == 0) { /* Redis answers before it reads the options */
        reply_array(&c->obuf, 2);
        reply_bulk_cstr(&c->obuf, "0");
        reply_array(&c->obuf, 0);
        return;
    }
    long long count = 10;
    const char *pat = NULL;
    size_t plen = 0;
    for (int i = 3; i < argc; i += 2) {
        int has_value = argc - i >= 2;
        if (has_value && dyn_arg_is(argv[i].p, argv[i].len, "count")) {
            if (dyn_str2ll(argv[i + 1].p, argv[i + 1].len, &count) != 0) {
                client_error(c, ERR_NOT_INTEGER);
                crdt_hash_free(h);
                return;
            }
            if (count < 1) {
                client_error(c, ERR_SYNTAX);
                crdt_hash_free(h);
                return;
            }
        } else if (has_value && dyn_arg_is(argv[i].p, argv[i].len, "match")) {
            pat = argv[i + 1].p;
            plen = argv[i + 1].len;
            if (plen == 1 && pat[0] == '*')
                pat = NULL;
        } else {
            client_error(c, ERR_SYNTAX);
            crdt_hash_free(h);
            return;
        }
    }

    uint32_t size = crdt_hash_len(h), n = 0, take;
    struct hash_scan_item *it = dyn_malloc(((size_t)size + 1) * sizeof(*it));
    uint64_t next = 0;
    if (hash_small(h)) {
        for (uint32_t i = 0; i < size; i++)
            it[n++] = (struct hash_scan_item){ 0, i };
        take = n;
    } else {
        for (uint32_t i = 0; i < size; i++) {
            const uint8_t *p;
            size_t len;
            crdt_hash_field(h, i, &p, &len);
            uint64_t hv = dyn_hash64(p, len);
            if (hv >= cursor)
                it[n++] = (struct hash_scan_item){ hv, i };
        }
        qsort(it, n, sizeof(*it), hash_scan_cmp);
        take = 0;
        while (take < n && (take < (unsigned long long)count ||
                            it[take].h == it[take - 1].h))
            take++;
        next = take < n ? it[take].h : 0;
    }
    uint32_t found = 0;
    for (uint32_t k = 0; k < take; k++) {
        const uint8_t *p;
        size_t len;
        crdt_hash_field(h, it[k].i, &p, &len);
        if (!pat || dyn_glob_match(pat, plen, (const char *)p, len, 0))
            it[found++] = it[k];
    }
    char num[32];
    snprintf(num, sizeof(num), "%llu", (unsigned long long)next);
    reply_array(&c->obuf, 2);
    reply_bulk_cstr(&c->obuf, num);
    reply_array(&c->obuf, 2LL * found);
    for (uint32_t k = 0; k < found; k++) { /* flat pairs, RESP3 too */
        const uint8_t *p;
        size_t len;
        crdt_hash_field(h, it[k].i, &p, &len);
        reply_bulk(&c->obuf, p, len);
        crdt_hash_value(h, it[k].i, &p, &len);
        reply_bulk(&c->obuf, p, len);
    }
    dyn_free(it);
    crdt_hash_free(h);
}

/* ------------------------------------------------------------------ table */

#define RD_FAST (CMD_READONLY | CMD_FAST | CMD_DATA)
#define RD (CMD_READONLY | CMD_DATA)
#define WR (CMD_WRITE | CMD_DENYOOM | CMD_DATA)
#define WR_FAST (CMD_WRITE | CMD_DENYOOM | CMD_FAST | CMD_DATA)

const struct command cmd_hash_table[] = {
    { "hset", hash_hset, -4, WR_FAST, 1, 1, 1,
      "@write @hash @fast", "hash", "2.0.0",
      "Sets fields of a hash; concurrent writes of a field: the latest "
      "wins, over a concurrent HDEL too.",
      "O(1) for each field/value pair added, so O(N) to add N field/value "
      "pairs when the command is called with multiple field/value pairs.",
      NULL, ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "hsetnx", hash_hsetnx, 4, WR_FAST, 1, 1, 1,
      "@write @hash @fast", "hash", "2.0.0",
      "Sets a field of a hash only when it is absent.", "O(1)", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "hmset", hash_hmset, -4, WR_FAST, 1, 1, 1,
      "@write @hash @fast", "hash", "2.0.0",
      "Sets fields of a hash (deprecated form of HSET).",
      "O(N) where N is the number of fields being set.", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "hget", hash_hget, 3, RD_FAST, 1, 1, 1,
      "@read @hash @fast", "hash", "2.0.0",
      "Returns the value of a field of a hash.", "O(1)", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "hmget", hash_hmget, -3, RD_FAST, 1, 1, 1,
      "@read @hash @fast", "hash", "2.0.0",
      "Returns the values of several fields of a hash.",
      "O(N) where N is the number of fields being requested.", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "hgetall", hash_hgetall, 2, RD, 1, 1, 1,
      "@read @hash @slow", "hash", "2.0.0",
      "Returns every field and value of a hash.",
      "O(N) where N is the size of the hash.", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "hdel", hash_hdel, -3, CMD_WRITE | CMD_FAST | CMD_DATA, 1, 1, 1,
      "@write @hash @fast", "hash", "2.0.0",
      "Removes fields of a hash (the writes it saw; a concurrent HSET or "
      "HINCRBY elsewhere survives).",
      "O(N) where N is the number of fields to be removed.", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "hexists", hash_hexists, 3, RD_FAST, 1, 1, 1,
      "@read @hash @fast", "hash", "2.0.0",
      "Tells whether a field exists in a hash.", "O(1)", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "hlen", hash_hlen, 2, RD_FAST, 1, 1, 1,
      "@read @hash @fast", "hash", "2.0.0",
      "Returns the number of fields of a hash.", "O(1)", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "hkeys", hash_hkeys, 2, RD, 1, 1, 1,
      "@read @hash @slow", "hash", "2.0.0",
      "Returns every field of a hash.",
      "O(N) where N is the size of the hash.", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "hvals", hash_hvals, 2, RD, 1, 1, 1,
      "@read @hash @slow", "hash", "2.0.0",
      "Returns every value of a hash.",
      "O(N) where N is the size of the hash.", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "hstrlen", hash_hstrlen, 3, RD_FAST, 1, 1, 1,
      "@read @hash @fast", "hash", "3.2.0",
      "Returns the length in bytes of a field's value.", "O(1)", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "hincrby", hash_hincrby, 4, WR_FAST, 1, 1, 1,
      "@write @hash @fast", "hash", "2.0.0",
      "Adds an integer to a field; concurrent increments add up.", "O(1)",
      NULL, ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "hincrbyfloat", hash_hincrbyfloat, 4, WR_FAST, 1, 1, 1,
      "@write @hash @fast", "hash", "2.6.0",
      "Adds a float to a field; concurrent increments add up.", "O(1)",
      NULL, ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "hrandfield", hash_hrandfield, -2, RD, 1, 1, 1,
      "@read @hash @slow", "hash", "6.2.0",
      "Returns random fields of a hash, with their values on request.",
      "O(N) where N is the number of fields returned", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "hscan", hash_hscan, -3, RD, 1, 1, 1,
      "@read @hash @slow", "hash", "2.8.0",
      "Iterates over the fields and values of a hash with a cursor.",
      "O(1) for every call. O(N) for a complete iteration, including "
      "enough command calls for the cursor to return back to 0. N is the "
      "number of elements inside the collection.", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL,
      ROUTE_LOCAL, COMBINE_NONE, NULL, 0 },
};
