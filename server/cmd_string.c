/*
 * cmd_string.c -- the string commands: GET, SET and its family, MGET/MSET,
 * APPEND, SETRANGE/GETRANGE (and SUBSTR), STRLEN and the counters (INCR ...
 * INCRBYFLOAT).
 *
 * Every key holds a string (Mini-Dynamo has no other type), so no command
 * here ever answers WRONGTYPE.  Handlers see the keyspace only through db.h:
 * db_lookup() for the visible value (the winning live sibling, expired and
 * deleted versions hidden) and db_write() for a new version.  A write always
 * carries the whole value and an *absolute* expiry (expire_ms), because a
 * version is what replicates: a TTL that lived outside the version would be
 * lost on the other replicas.  So:
 *
 *   - SET, SETEX, GETSET, MSET ... write expire_ms = the new expiry or 0
 *     (a SET without KEEPTTL clears the TTL, as in Redis);
 *   - APPEND, SETRANGE, INCR* keep the current expire_ms (Redis keeps the
 *     TTL of a key modified in place);
 *   - GETEX writes a new version with the same value and the new expiry.
 *
 * Read-modify-write commands (APPEND, SETRANGE, INCR*, GETSET, GETDEL, SET NX
 * /XX/GET) read and write at this node inside one event-loop turn, so they are
 * atomic on a single node.  In a cluster they are NOT atomic across replicas:
 * two coordinators can read the same value and both write value+1; the two
 * versions are then concurrent siblings (or, with conflict-policy lww, one
 * increment is lost).  Counters that must not lose updates need a CRDT,
 * which Dynamo leaves to the application.
 *
 * Replies and error texts are byte-for-byte Redis 7.0's, including the order
 * in which errors are detected (syntax before integer parsing before range).
 *
 * Every offset, length, increment and expiry is a client's number, up to
 * LLONG_MAX either way: sums and products of them are checked
 * (__builtin_*_overflow, or a bound tested before the operation) and answer
 * Redis's error, never a wrapped value (signed overflow is undefined, and
 * the sanitizer build aborts on it).
 *
 * A handler that must answer with the old value *and* write (SET ... GET,
 * GETSET, GETDEL, GETEX) appends the reply first, while the borrowed value
 * is still valid, and rolls the output buffer back to its mark if the write
 * is refused (too many siblings), so the client sees only the error.
 *
 * Thread-safety: handlers run on the event loop that owns the node.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/crdt.h"
#include "server/command.h"
#include "server/client.h"
#include "server/db.h"
#include "server/node.h"
#include "server/reply.h"
#include "server/util.h"

/* ------------------------------------------------------------------ helpers */

/* Writes a plain value version of key.  Returns 0, or -1 after replying the
 * error (the output buffer is first rolled back to `mark`). */
static int string_write(struct client *c, const struct dyn_arg *key,
                        const void *val, size_t vlen, int64_t expire_ms,
                        size_t mark)
{
    struct db_write w = {
        .value = val, .vlen = vlen, .tombstone = 0,
        .expire_ms = expire_ms, .ctx = NULL,
    };
    int rc = db_write(c->node, key->p, key->len, &w);
    if (rc == 0)
        return 0;
    c->obuf.len = mark;
    c->errors++;
    db_reply_write_error(c->node, &c->obuf, rc, NULL);
    return -1;
}

static int string_delete(struct client *c, const struct dyn_arg *key,
                         size_t mark)
{
    struct db_write w = { .tombstone = 1 };
    int rc = db_write(c->node, key->p, key->len, &w);
    if (rc == 0)
        return 0;
    c->obuf.len = mark;
    c->errors++;
    db_reply_write_error(c->node, &c->obuf, rc, NULL);
    return -1;
}

static uint32_t string_hist_bucket(uint32_t nsiblings)
{
    if (nsiblings <= 4)
        return nsiblings - 1;
    return nsiblings <= 8 ? 4 : 5;
}

/* A string's value: 1 (v filled), 0 (absent), or -1 after replying
 * WRONGTYPE: the key holds a set, hash, sorted set or list (a counter
 * reads as its text). */
static int string_lookup(struct client *c, const struct dyn_arg *key,
                         struct db_value *v)
{
    if (!db_lookup(c->node, key->p, key->len, v))
        return 0;
    if (db_is_collection(v->type)) {
        client_error(c, ERR_WRONGTYPE);
        return -1;
    }
    return 1;
}

/* A read lookup: like string_lookup, but counts keyspace hits/misses and
 * the sibling histogram, as a GET-like read does. */
static int string_lookup_read(struct client *c, const struct dyn_arg *key,
                              struct db_value *v)
{
    struct node *n = c->node;
    int found = string_lookup(c, key, v);
    if (found <= 0) {
        if (found == 0)
            n->stats.keyspace_misses++;
        return found;
    }
    n->stats.keyspace_hits++;
    if (v->nsiblings >= 1)
        n->stats.sibling_hist[string_hist_bucket(v->nsiblings)]++;
    return 1;
}

static int string_arg_is(const struct dyn_arg *a, const char *lit)
{
    return dyn_arg_is(a->p, a->len, lit);
}

static int string_parse_ll(struct client *c, const struct dyn_arg *a,
                           long long *out)
{
    if (dyn_str2ll(a->p, a->len, out) == 0)
        return 0;
    client_error(c, ERR_NOT_INTEGER);
    return -1;
}

static void string_reply_expire_error(struct client *c, const char *cmd)
{
    client_errorf(c, "ERR invalid expire time in '%s' command", cmd);
}

enum string_expire_unit {
    EXP_NONE = 0, EXP_EX, EXP_PX, EXP_EXAT, EXP_PXAT,
};

/* Turns an EX/PX/EXAT/PXAT argument into an absolute time in ms with
 * Redis's checks (positive, no overflow).  Returns 0, or -1 after replying. */
static int string_expire_ms(struct client *c, const struct dyn_arg *a,
                            enum string_expire_unit unit, const char *cmd,
                            int64_t now, int64_t *out)
{
    long long v;
    int seconds = unit == EXP_EX || unit == EXP_EXAT;

    if (string_parse_ll(c, a, &v) != 0)
        return -1;
    if (v <= 0 || (seconds && v > LLONG_MAX / 1000)) {
        string_reply_expire_error(c, cmd);
        return -1;
    }
    if (seconds)
        v *= 1000;
    if (unit == EXP_EX || unit == EXP_PX) {
        if (v > LLONG_MAX - now) {
            string_reply_expire_error(c, cmd);
            return -1;
        }
        v += now;
    }
    *out = v;
    return 0;
}

/* ------------------------------------------------------------- GET and SET */

static void string_get(struct client *c, int argc, const struct dyn_arg *argv)
{
    struct db_value v;
    int found = string_lookup_read(c, &argv[1], &v);
    if (found > 0)
        reply_bulk(&c->obuf, v.value, v.vlen);
    else if (found == 0)
        reply_null(&c->obuf, c->resp);
}

enum string_set_flags {
    SETF_NX = 1 << 0,
    SETF_XX = 1 << 1,
    SETF_GET = 1 << 2,
    SETF_KEEPTTL = 1 << 3,
    SETF_PERSIST = 1 << 4,
};

struct string_opts {
    unsigned flags;
    enum string_expire_unit unit;
    const struct dyn_arg *expire; /* the time argument, NULL if none */
};

/* Parses SET's (is_set = 1) or GETEX's options with Redis's rules: an
 * option conflicting with an earlier one, an unknown word or a missing time
 * is a syntax error; repeating the same option is allowed (last wins). */
static int string_parse_opts(struct client *c, int argc,
                             const struct dyn_arg *argv, int start,
                             int is_set, struct string_opts *o)
{
    static const char *const units[] = { NULL, "ex", "px", "exat", "pxat" };
    memset(o, 0, sizeof(*o));
    for (int j = start; j < argc; j++) {
        const struct dyn_arg *a = &argv[j];
        int has_next = j + 1 < argc;
        enum string_expire_unit u = EXP_NONE;

        for (int k = EXP_EX; k <= EXP_PXAT; k++)
            if (string_arg_is(a, units[k]))
                u = (enum string_expire_unit)k;

        if (is_set && string_arg_is(a, "nx") && !(o->flags & SETF_XX)) {
            o->flags |= SETF_NX;
        } else if (is_set && string_arg_is(a, "xx") &&
                   !(o->flags & SETF_NX)) {
            o->flags |= SETF_XX;
        } else if (is_set && string_arg_is(a, "get")) {
            o->flags |= SETF_GET;
        } else if (is_set && string_arg_is(a, "keepttl") &&
                   o->unit == EXP_NONE) {
            o->flags |= SETF_KEEPTTL;
        } else if (!is_set && string_arg_is(a, "persist") &&
                   o->unit == EXP_NONE) {
            o->flags |= SETF_PERSIST;
        } else if (u != EXP_NONE && has_next &&
                   !(o->flags & (SETF_KEEPTTL | SETF_PERSIST)) &&
                   (o->unit == EXP_NONE || o->unit == u)) {
            o->unit = u;
            o->expire = &argv[++j];
        } else {
            client_error(c, ERR_SYNTAX);
            return -1;
        }
    }
    return 0;
}

/* The common body of SET, SETNX, SETEX and PSETEX.  ok/abort say what to
 * answer on success and when NX/XX stops the write (0 = +OK / null,
 * 1 = :1 / :0). */
static void string_set_generic(struct client *c, const struct dyn_arg *key,
                               const struct dyn_arg *val,
                               const struct string_opts *o, const char *cmd,
                               int int_reply)
{
    struct node *n = c->node;
    int64_t now = (int64_t)node_wall_ms(c->node);
    int64_t expire = 0;
    struct db_value v;
    size_t mark = c->obuf.len;
    int found;

    if (o->expire && string_expire_ms(c, o->expire, o->unit, cmd, now,
                                      &expire) != 0)
        return;

    if (o->flags & SETF_GET) {
        found = string_lookup_read(c, key, &v);
        if (found < 0)
            return;
        if (found)
            reply_bulk(&c->obuf, v.value, v.vlen);
        else
            reply_null(&c->obuf, c->resp);
    } else if (o->flags & (SETF_NX | SETF_XX | SETF_KEEPTTL)) {
        found = db_lookup(n, key->p, key->len, &v);
    } else {
        /* A plain SET needs nothing of the old value: db_write finds (and
         * lazily expires) it itself. */
        found = 0;
    }

    if (((o->flags & SETF_NX) && found) || ((o->flags & SETF_XX) && !found)) {
        if (!(o->flags & SETF_GET)) {
            if (int_reply)
                reply_int(&c->obuf, 0);
            else
                reply_null(&c->obuf, c->resp);
        }
        return;
    }
    if ((o->flags & SETF_KEEPTTL) && found)
        expire = v.expire_ms;

    if (string_write(c, key, val->p, val->len, expire, mark) != 0)
        return;
    if (o->flags & SETF_GET)
        return;
    if (int_reply)
        reply_int(&c->obuf, 1);
    else
        reply_ok(&c->obuf);
}

static void string_set(struct client *c, int argc, const struct dyn_arg *argv)
{
    struct string_opts o;
    if (string_parse_opts(c, argc, argv, 3, 1, &o) != 0)
        return;
    string_set_generic(c, &argv[1], &argv[2], &o, "set", 0);
}

static void string_setnx(struct client *c, int argc,
                         const struct dyn_arg *argv)
{
    struct string_opts o = { .flags = SETF_NX };
    string_set_generic(c, &argv[1], &argv[2], &o, "setnx", 1);
}

static void string_setex(struct client *c, int argc,
                         const struct dyn_arg *argv)
{
    struct string_opts o = { .unit = EXP_EX, .expire = &argv[2] };
    string_set_generic(c, &argv[1], &argv[3], &o, "setex", 0);
}

static void string_psetex(struct client *c, int argc,
                          const struct dyn_arg *argv)
{
    struct string_opts o = { .unit = EXP_PX, .expire = &argv[2] };
    string_set_generic(c, &argv[1], &argv[3], &o, "psetex", 0);
}

static void string_getset(struct client *c, int argc,
                          const struct dyn_arg *argv)
{
    struct string_opts o = { .flags = SETF_GET };
    string_set_generic(c, &argv[1], &argv[2], &o, "getset", 0);
}

static void string_getdel(struct client *c, int argc,
                          const struct dyn_arg *argv)
{
    struct db_value v;
    size_t mark = c->obuf.len;
    int found = string_lookup_read(c, &argv[1], &v);

    if (found <= 0) {
        if (found == 0)
            reply_null(&c->obuf, c->resp);
        return;
    }
    reply_bulk(&c->obuf, v.value, v.vlen);
    string_delete(c, &argv[1], mark);
}

static void string_getex(struct client *c, int argc,
                         const struct dyn_arg *argv)
{
    struct string_opts o;
    struct db_value v;
    int64_t now = (int64_t)node_wall_ms(c->node);
    int64_t expire = 0;
    size_t mark = c->obuf.len;
    uint8_t *copy;

    if (string_parse_opts(c, argc, argv, 2, 0, &o) != 0)
        return;
    /* Redis looks the key up before it validates the time. */
    int found = string_lookup_read(c, &argv[1], &v);
    if (found <= 0) {
        if (found == 0)
            reply_null(&c->obuf, c->resp);
        return;
    }
    if (o.expire && string_expire_ms(c, o.expire, o.unit, "getex", now,
                                     &expire) != 0)
        return;
    reply_bulk(&c->obuf, v.value, v.vlen);

    if ((o.unit == EXP_EXAT || o.unit == EXP_PXAT) && expire <= now) {
        string_delete(c, &argv[1], mark);
    } else if (o.expire || ((o.flags & SETF_PERSIST) && v.expire_ms != 0)) {
        /* The new version carries the same value: copy it, since the
         * borrowed pointer is only good until the write. */
        copy = v.vlen ? dyn_memdup(v.value, v.vlen) : NULL;
        string_write(c, &argv[1], copy ? (const void *)copy : "", v.vlen,
                     o.expire ? expire : 0, mark);
        dyn_free(copy);
    }
}

/* -------------------------------------------------------------- multi-key */

static void string_mget(struct client *c, int argc,
                        const struct dyn_arg *argv)
{
    struct db_value v;
    reply_array(&c->obuf, argc - 1);
    for (int j = 1; j < argc; j++) {
        /* MGET answers nil for a key of another type, as Redis does */
        if (db_lookup(c->node, argv[j].p, argv[j].len, &v) &&
            !db_is_collection(v.type)) {
            c->node->stats.keyspace_hits++;
            reply_bulk(&c->obuf, v.value, v.vlen);
        } else {
            c->node->stats.keyspace_misses++;
            reply_null(&c->obuf, c->resp);
        }
    }
}

/* MSET and MSETNX write key by key: a write refused half way (too many
 * siblings) leaves the earlier keys written, and the client gets the error. */
static void string_mset_generic(struct client *c, int argc,
                                const struct dyn_arg *argv, int nx)
{
    struct db_value v;
    size_t mark = c->obuf.len;

    if (argc % 2 == 0) {
        command_reply_arity(c, nx ? "msetnx" : "mset");
        return;
    }
    if (nx) {
        for (int j = 1; j < argc; j += 2) {
            if (db_lookup(c->node, argv[j].p, argv[j].len, &v)) {
                reply_int(&c->obuf, 0);
                return;
            }
        }
    }
    for (int j = 1; j < argc; j += 2)
        if (string_write(c, &argv[j], argv[j + 1].p, argv[j + 1].len, 0,
                         mark) != 0)
            return;
    if (nx)
        reply_int(&c->obuf, 1);
    else
        reply_ok(&c->obuf);
}

static void string_mset(struct client *c, int argc,
                        const struct dyn_arg *argv)
{
    string_mset_generic(c, argc, argv, 0);
}

static void string_msetnx(struct client *c, int argc,
                          const struct dyn_arg *argv)
{
    string_mset_generic(c, argc, argv, 1);
}

/* ------------------------------------------------------------ byte ranges */

static void string_strlen(struct client *c, int argc,
                          const struct dyn_arg *argv)
{
    struct db_value v;
    int found = string_lookup_read(c, &argv[1], &v);
    if (found > 0)
        reply_int(&c->obuf, v.vlen);
    else if (found == 0)
        reply_int(&c->obuf, 0);
}

/* Redis's checkStringLength: the result may not exceed proto-max-bulk-len.
 * size and append are both >= 0 but come from the client (SETRANGE's offset
 * can be LLONG_MAX), so the sum is checked, never computed blindly. */
static int string_check_len(struct client *c, long long size,
                            long long append)
{
    long long total;
    if (__builtin_add_overflow(size, append, &total) ||
        total > c->node->cfg.proto_max_bulk_len) {
        client_error(c, "ERR string exceeds maximum allowed size "
                     "(proto-max-bulk-len)");
        return -1;
    }
    return 0;
}

static void string_append(struct client *c, int argc,
                          const struct dyn_arg *argv)
{
    struct db_value v;
    uint8_t *buf;
    size_t total;

    int found = string_lookup(c, &argv[1], &v);
    if (found < 0)
        return;
    if (!found) {
        if (string_write(c, &argv[1], argv[2].p, argv[2].len, 0,
                         c->obuf.len) == 0)
            reply_int(&c->obuf, (long long)argv[2].len);
        return;
    }
    if (string_check_len(c, v.vlen, (long long)argv[2].len) != 0)
        return;
    total = v.vlen + argv[2].len;
    buf = dyn_malloc(total ? total : 1);
    if (v.vlen)
        memcpy(buf, v.value, v.vlen);
    if (argv[2].len)
        memcpy(buf + v.vlen, argv[2].p, argv[2].len);
    if (string_write(c, &argv[1], buf, total, v.expire_ms, c->obuf.len) == 0)
        reply_int(&c->obuf, (long long)total);
    dyn_free(buf);
}

static void string_setrange(struct client *c, int argc,
                            const struct dyn_arg *argv)
{
    struct db_value v;
    long long offset;
    size_t olen = 0, total;
    int64_t expire = 0;
    uint8_t *buf;
    int found;

    if (string_parse_ll(c, &argv[2], &offset) != 0)
        return;
    if (offset < 0) {
        client_error(c, "ERR offset is out of range");
        return;
    }
    found = string_lookup(c, &argv[1], &v);
    if (found < 0)
        return;
    if (found) {
        olen = v.vlen;
        expire = v.expire_ms;
    }
    if (argv[3].len == 0) {
        reply_int(&c->obuf, (long long)olen);
        return;
    }
    if (string_check_len(c, offset, (long long)argv[3].len) != 0)
        return;
    total = DYN_MAX(olen, (size_t)offset + argv[3].len);
    buf = dyn_calloc(1, total);
    if (olen)
        memcpy(buf, v.value, olen);
    memcpy(buf + offset, argv[3].p, argv[3].len);
    if (string_write(c, &argv[1], buf, total, expire, c->obuf.len) == 0)
        reply_int(&c->obuf, (long long)total);
    dyn_free(buf);
}

static void string_getrange(struct client *c, int argc,
                            const struct dyn_arg *argv)
{
    struct db_value v;
    long long start, end, len;

    if (string_parse_ll(c, &argv[2], &start) != 0 ||
        string_parse_ll(c, &argv[3], &end) != 0)
        return;
    int found = string_lookup_read(c, &argv[1], &v);
    if (found <= 0) {
        if (found == 0)
            reply_bulk(&c->obuf, "", 0);
        return;
    }
    len = v.vlen;
    if (start < 0 && end < 0 && start > end) {
        reply_bulk(&c->obuf, "", 0);
        return;
    }
    if (start < 0)
        start += len;
    if (end < 0)
        end += len;
    if (start < 0)
        start = 0;
    if (end < 0)
        end = 0;
    if (end >= len)
        end = len - 1;
    if (start > end || len == 0)
        reply_bulk(&c->obuf, "", 0);
    else
        reply_bulk(&c->obuf, v.value + start, (size_t)(end - start + 1));
}

/* --------------------------------------------------------------- counters */

/*
 * The counter path (issue #14, docs/TYPES.md section 5): in a cluster, or
 * on a key that already holds a counter, INCR and its family act on a
 * PN-counter, so concurrent increments through any replicas add up.  The
 * counter starts from what the key holds: nothing, or the visible string
 * (its base, with that version's dot and time), or the counter itself.
 * *is_float selects INCRBYFLOAT (fby); the reply is the new value.
 * Returns after replying.
 */
static void string_counter_op(struct client *c, const struct dyn_arg *key,
                              const struct db_value *v, int found,
                              long long by, int is_float, long double fby)
{
    struct node *n = c->node;
    const struct crdt_limits *lim = db_crdt_limits(n);
    struct crdt_counter *ctr = NULL;
    int rc = 0;
    if (found && v->type == CRDT_TYPE_COUNTER) {
        /* the state the key's last write kept, else its encoding decoded;
         * the strings beside it join it as bases (this write observes
         * them, so they go) */
        struct db_typed t = { v->state, v->slen, v->expire_ms };
        ctr = db_typed_take(n, key->p, key->len, CRDT_TYPE_COUNTER, &t);
        if (!ctr)
            rc = crdt_counter_decode(v->state, v->slen, lim, &ctr);
        const struct object *o = v->nsiblings > 1
                                     ? db_object(n, key->p, key->len)
                                     : NULL;
        if (rc == 0 && o) {
            int k = object_counter_fold(o, node_wall_ms(n), lim, ctr);
            rc = k < 0 ? k : 0;
        }
    } else if (found) {
        rc = crdt_counter_from_string(v->value, v->vlen, &v->dot, v->ts_ms,
                                      lim, &ctr);
    } else {
        ctr = crdt_counter_new();
    }
    if (rc != 0) {
        client_error(c, rc == DYN_ELIMIT ? crdt_err_text(rc)
                                         : "ERR corrupt value");
        return;
    }
    struct crdt_dot dot;
    uint64_t ts, run, last = db_counter_last(n, key->p, key->len, &run);
    int64_t iresult = 0;
    long double fresult = 0;
    db_typed_dots(n, key->p, key->len, 1, &dot, &ts);
    crdt_counter_own_last(ctr, dot.actor, last);
    if (is_float)
        rc = crdt_counter_incrbyfloat(ctr, fby, &dot, lim, &fresult);
    else
        rc = crdt_counter_incrby(ctr, by, &dot, lim, &iresult);
    if (rc != 0) {
        const char *t = crdt_err_text(rc);
        client_error(c, t ? t : "ERR corrupt value");
        crdt_counter_free(ctr);
        return;
    }
    size_t mark = c->obuf.len;
    rc = db_typed_write_state(n, key->p, key->len, CRDT_TYPE_COUNTER, ctr,
                              &dot, 1, ts, found ? v->expire_ms : 0);
    if (rc != 0) {
        c->obuf.len = mark;
        c->errors++;
        db_reply_write_error(n, &c->obuf, rc, NULL);
        return;
    }
    db_counter_op(n, key->p, key->len, dot.counter, 0);
    if (!is_float) {
        reply_int(&c->obuf, iresult);
        return;
    }
    char *buf = dyn_malloc(CRDT_LD_CHARS);
    size_t len = crdt_ld_format(buf, CRDT_LD_CHARS, fresult);
    reply_bulk(&c->obuf, buf, len);
    dyn_free(buf);
}

/* INCR/DECR/INCRBY/DECRBY: the stored text must be a strict integer.
 * The result keeps the key's TTL. */
static void string_incr_generic(struct client *c, const struct dyn_arg *key,
                                long long incr)
{
    struct db_value v;
    long long cur = 0;
    int64_t expire = 0;
    char num[32];
    int len;

    int found = string_lookup(c, key, &v);
    if (found < 0)
        return;
    if (!db_typed_alone(c->node) ||
        (found && v.type == CRDT_TYPE_COUNTER)) {
        string_counter_op(c, key, &v, found, incr, 0, 0);
        return;
    }
    if (found) {
        if (dyn_str2ll((const char *)v.value, v.vlen, &cur) != 0) {
            client_error(c, ERR_NOT_INTEGER);
            return;
        }
        expire = v.expire_ms;
    }
    if ((incr < 0 && cur < 0 && incr < LLONG_MIN - cur) ||
        (incr > 0 && cur > 0 && incr > LLONG_MAX - cur)) {
        client_error(c, "ERR increment or decrement would overflow");
        return;
    }
    cur += incr;
    len = dyn_ll2str(num, cur);
    if (string_write(c, key, num, (size_t)len, expire, c->obuf.len) == 0)
        reply_int(&c->obuf, cur);
}

static void string_incr(struct client *c, int argc, const struct dyn_arg *argv)
{
    string_incr_generic(c, &argv[1], 1);
}

static void string_decr(struct client *c, int argc, const struct dyn_arg *argv)
{
    string_incr_generic(c, &argv[1], -1);
}

static void string_incrby(struct client *c, int argc,
                          const struct dyn_arg *argv)
{
    long long incr;
    if (string_parse_ll(c, &argv[2], &incr) == 0)
        string_incr_generic(c, &argv[1], incr);
}

static void string_decrby(struct client *c, int argc,
                          const struct dyn_arg *argv)
{
    long long decr;
    if (string_parse_ll(c, &argv[2], &decr) != 0)
        return;
    if (decr == LLONG_MIN) {
        client_error(c, "ERR decrement would overflow");
        return;
    }
    string_incr_generic(c, &argv[1], -decr);
}

static void string_incrbyfloat(struct client *c, int argc,
                               const struct dyn_arg *argv)
{
    struct db_value v;
    long double cur = 0, incr;
    int64_t expire = 0;
    char *buf;
    size_t len;

    int found = string_lookup(c, &argv[1], &v);
    if (found < 0)
        return;
    if (!db_typed_alone(c->node) ||
        (found && v.type == CRDT_TYPE_COUNTER)) {
        if (found && v.type != CRDT_TYPE_COUNTER &&
            crdt_ld_parse((const char *)v.value, v.vlen, &cur) != 0) {
            client_error(c, "ERR value is not a valid float");
            return;
        }
        if (crdt_ld_parse(argv[2].p, argv[2].len, &incr) != 0) {
            client_error(c, "ERR value is not a valid float");
            return;
        }
        string_counter_op(c, &argv[1], &v, found, 0, 1, incr);
        return;
    }
    if (found) {
        if (crdt_ld_parse((const char *)v.value, v.vlen, &cur) != 0) {
            client_error(c, "ERR value is not a valid float");
            return;
        }
        expire = v.expire_ms;
    }
    if (crdt_ld_parse(argv[2].p, argv[2].len, &incr) != 0) {
        client_error(c, "ERR value is not a valid float");
        return;
    }
    cur += incr;
    if (isnan(cur) || isinf(cur)) {
        client_error(c, "ERR increment would produce NaN or Infinity");
        return;
    }
    buf = dyn_malloc(CRDT_LD_CHARS);
    len = crdt_ld_format(buf, CRDT_LD_CHARS, cur);
    if (len == 0)
        client_error(c, "ERR value is not a valid float");
    else if (string_write(c, &argv[1], buf, len, expire, c->obuf.len) == 0)
        reply_bulk(&c->obuf, buf, len);
    dyn_free(buf);
}

/* ------------------------------------------------------------------ table */

#define RD_FAST (CMD_READONLY | CMD_FAST | CMD_DATA)
#define WR (CMD_WRITE | CMD_DENYOOM | CMD_DATA)
#define WR_FAST (CMD_WRITE | CMD_DENYOOM | CMD_FAST | CMD_DATA)

const struct command cmd_string_table[] = {
    { "get", string_get, 2, RD_FAST, 1, 1, 1,
      "@read @string @fast", "string", "1.0.0",
      "Returns the winning value of a key.", "O(1)", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "set", string_set, -3, WR, 1, 1, 1,
      "@write @string @slow", "string", "1.0.0",
      "Writes a value, optionally only if the key is absent or present, "
      "with an expiry.", "O(1)", NULL, ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "setnx", string_setnx, 3, WR_FAST, 1, 1, 1,
      "@write @string @fast", "string", "1.0.0",
      "Writes a value only when the key does not exist.", "O(1)", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "setex", string_setex, 4, WR, 1, 1, 1,
      "@write @string @slow", "string", "2.0.0",
      "Writes a value with a time to live in seconds.", "O(1)", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "psetex", string_psetex, 4, WR, 1, 1, 1,
      "@write @string @slow", "string", "2.6.0",
      "Writes a value with a time to live in milliseconds.", "O(1)", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "getset", string_getset, 3, WR_FAST, 1, 1, 1,
      "@write @string @fast", "string", "1.0.0",
      "Writes a value and returns the previous one.", "O(1)", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "getdel", string_getdel, 2, CMD_WRITE | CMD_FAST | CMD_DATA, 1, 1, 1,
      "@write @string @fast", "string", "6.2.0",
      "Returns a value and deletes the key.", "O(1)", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "getex", string_getex, -2, CMD_WRITE | CMD_FAST | CMD_DATA, 1, 1, 1,
      "@write @string @fast", "string", "6.2.0",
      "Returns a value and changes or removes its expiry.", "O(1)", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "mget", string_mget, -2, RD_FAST, 1, -1, 1,
      "@read @string @fast", "string", "1.0.0",
      "Returns the values of several keys.",
      "O(N) where N is the number of keys to retrieve.", NULL,
      ROUTE_PER_KEY, COMBINE_ARRAY, "get", 0 },
    { "mset", string_mset, -3, WR, 1, -1, 2,
      "@write @string @slow", "string", "1.0.1",
      "Writes several keys, one after the other.",
      "O(N) where N is the number of keys to set.", NULL,
      ROUTE_PER_KEY, COMBINE_OK, "set", 0 },
    { "msetnx", string_msetnx, -3, WR, 1, -1, 2,
      "@write @string @slow", "string", "1.0.1",
      "Writes several keys only when none of them exists.",
      "O(N) where N is the number of keys to set.", NULL,
      ROUTE_REFUSED, COMBINE_NONE, NULL, 0 },
    { "strlen", string_strlen, 2, RD_FAST, 1, 1, 1,
      "@read @string @fast", "string", "2.2.0",
      "Returns the length of a value in bytes.", "O(1)", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "append", string_append, 3, WR_FAST, 1, 1, 1,
      "@write @string @fast", "string", "2.0.0",
      "Appends bytes to a value, creating the key if needed.",
      "O(1) amortized.", NULL, ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "incr", string_incr, 2, WR_FAST, 1, 1, 1,
      "@write @string @fast", "string", "1.0.0",
      "Adds one to an integer value (not atomic across replicas).",
      "O(1)", NULL, ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "decr", string_decr, 2, WR_FAST, 1, 1, 1,
      "@write @string @fast", "string", "1.0.0",
      "Subtracts one from an integer value (not atomic across replicas).",
      "O(1)", NULL, ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "incrby", string_incrby, 3, WR_FAST, 1, 1, 1,
      "@write @string @fast", "string", "1.0.0",
      "Adds an integer to an integer value (not atomic across replicas).",
      "O(1)", NULL, ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "decrby", string_decrby, 3, WR_FAST, 1, 1, 1,
      "@write @string @fast", "string", "1.0.0",
      "Subtracts an integer from an integer value (not atomic across "
      "replicas).", "O(1)", NULL, ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "incrbyfloat", string_incrbyfloat, 3, WR_FAST, 1, 1, 1,
      "@write @string @fast", "string", "2.6.0",
      "Adds a floating point number to a value (not atomic across "
      "replicas).", "O(1)", NULL, ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "getrange", string_getrange, 4, CMD_READONLY | CMD_DATA, 1, 1, 1,
      "@read @string @slow", "string", "2.4.0",
      "Returns a byte range of a value; negative offsets count from the "
      "end.", "O(N) where N is the length of the returned string.", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "substr", string_getrange, 4, CMD_READONLY | CMD_DATA, 1, 1, 1,
      "@read @string @slow", "string", "1.0.0",
      "Returns a byte range of a value (GETRANGE's old name).",
      "O(N) where N is the length of the returned string.", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "setrange", string_setrange, 4, WR, 1, 1, 1,
      "@write @string @slow", "string", "2.2.0",
      "Overwrites part of a value at an offset, zero-padding as needed.",
      "O(1), not counting the time to copy the new bytes.", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL,
     0, 0, NULL, 0 },
};
