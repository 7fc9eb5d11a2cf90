/*
 * cmd_keys.c -- the generic keyspace commands: DEL/UNLINK, EXISTS, TYPE,
 * KEYS, SCAN, RANDOMKEY, DBSIZE, FLUSHALL/FLUSHDB, the expiry family
 * (EXPIRE ... PEXPIRETIME, PERSIST), TOUCH, RENAME/RENAMENX and COPY.
 *
 * Deleting is writing: DEL stores a tombstone version through db_write()
 * (only for keys that are visible, which is what it counts), so that the
 * delete replicates and supersedes the versions it saw instead of letting a
 * stale replica resurrect them.  Likewise an expiry lives in the version:
 * EXPIRE and PERSIST write a new version with the same value and the new
 * absolute expire_ms; an expiry already in the past writes a tombstone.
 *
 * Enumeration (KEYS, SCAN, RANDOMKEY) is the one place that walks the store
 * itself (store_iter_partition / store_scan): db.h has no iterator.  The walk
 * must not change the store, so it applies db's visibility rule by hand: a
 * key is listed when its winning sibling is a value that has not expired
 * (deleted and expired objects are skipped here, not removed).
 *
 * RENAME, RENAMENX and COPY are two writes (destination, then the source's
 * tombstone for RENAME): atomic on one node, but in a cluster the two keys
 * live on different replica sets and a failure between the writes can leave
 * both keys, or a reader can see both for a moment.  Dynamo has no
 * multi-key transactions; this is documented rather than hidden.
 *
 * Replies and error texts are Redis 7.0's.  Only strings exist, so TYPE says
 * "string" or "none" and SCAN's TYPE filter matches "string" only.
 *
 * Thread-safety: handlers run on the event loop that owns the node.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/command.h"
#include "server/client.h"
#include "server/db.h"
#include "server/node.h"
#include "server/reply.h"
#include "server/store.h"
#include "server/util.h"

/* ------------------------------------------------------------------ helpers */

/* Writes a version of key (a value, or a tombstone when val is NULL).
 * Returns 0, or -1 after replying the error. */
static int keys_write(struct client *c, const void *key, size_t klen,
                      const void *val, size_t vlen, int64_t expire_ms)
{
    struct db_write w = {
        .value = val ? val : "", .vlen = val ? vlen : 0,
        .tombstone = val == NULL, .expire_ms = val ? expire_ms : 0,
        .ctx = NULL,
    };
    int rc = db_write(c->node, key, klen, &w);
    if (rc == 0)
        return 0;
    c->errors++;
    db_reply_write_error(c->node, &c->obuf, rc, NULL);
    return -1;
}

/* Writes v (a key's visible value, borrowed) again as key's value, with
 * expire_ms: EXPIRE and PERSIST on the same key, RENAME and COPY to
 * another.  A typed value is written as its state, with a new dot, so a
 * counter stays a counter and a set a set.  0, or -1 after replying. */
static int keys_write_value(struct client *c, const void *key, size_t klen,
                            const struct db_value *v, int64_t expire_ms)
{
    if (v->type == CRDT_TYPE_STRING) {
        uint8_t *copy = v->vlen ? dyn_memdup(v->value, v->vlen) : NULL;
        int rc = keys_write(c, key, klen, copy ? (void *)copy : "", v->vlen,
                            expire_ms);
        dyn_free(copy);
        return rc;
    }
    /* v->state stays valid: db_typed_write decodes it before it changes
     * the store, and issuing dots touches only the cache */
    struct crdt_dot dot;
    uint64_t ts;
    db_typed_dots(c->node, key, klen, 1, &dot, &ts);
    int rc = db_typed_write(c->node, key, klen, v->type, v->state, v->slen,
                            &dot, 1, ts, expire_ms);
    if (rc == 0)
        return 0;
    c->errors++;
    db_reply_write_error(c->node, &c->obuf, rc, NULL);
    return -1;
}

static int keys_lookup_read(struct client *c, const struct dyn_arg *key,
                            struct db_value *v)
{
    if (db_lookup(c->node, key->p, key->len, v)) {
        c->node->stats.keyspace_hits++;
        return 1;
    }
    c->node->stats.keyspace_misses++;
    return 0;
}

/* db's visibility rule (db.c), applied without touching the store: the
 * winning sibling is a value that has not expired at now_ms. */
static int keys_visible(const struct object *o, int64_t now_ms)
{
    return db_visible(o, (uint64_t)now_ms, NULL);
}

/* --------------------------------------------------------- delete / exists */

static void keys_del(struct client *c, int argc, const struct dyn_arg *argv)
{
    struct db_value v;
    long long deleted = 0;

    for (int j = 1; j < argc; j++) {
        if (!db_lookup(c->node, argv[j].p, argv[j].len, &v))
            continue;
        if (keys_write(c, argv[j].p, argv[j].len, NULL, 0, 0) != 0)
            return;
        deleted++;
    }
    reply_int(&c->obuf, deleted);
}

/* A read that needs only whether key is visible, and its type: a
 * deferred typed value answers without its bytes being encoded. */
static int keys_type_read(struct client *c, const struct dyn_arg *key,
                          int *type)
{
    struct db_value v;
    int t = db_deferred_type(c->node, key->p, key->len);
    if (t >= 0) {
        c->node->stats.keyspace_hits++;
        *type = t;
        return 1;
    }
    if (!keys_lookup_read(c, key, &v))
        return 0;
    *type = v.type;
    return 1;
}

/* EXISTS and TOUCH: a key named twice counts twice, as in Redis. */
static void keys_exists(struct client *c, int argc,
                        const struct dyn_arg *argv)
{
    long long count = 0;
    int type;

    for (int j = 1; j < argc; j++)
        count += keys_type_read(c, &argv[j], &type);
    reply_int(&c->obuf, count);
}

static void keys_type(struct client *c, int argc, const struct dyn_arg *argv)
{
    int type;
    reply_status(&c->obuf, keys_type_read(c, &argv[1], &type)
                               ? crdt_type_name(type)
                               : "none");
}

/* What OBJECT ENCODING answers: the honest name of how each type is kept
 * (Redis's names would claim a listpack or a skiplist we do not have). */
static const char *keys_encoding(int type)
{
    switch (type) {
    case CRDT_TYPE_STRING:
        return "raw";
    case CRDT_TYPE_COUNTER:
        return "pn-counter";
    case CRDT_TYPE_SET:
        return "orswot";
    case CRDT_TYPE_HASH:
        return "or-map";
    case CRDT_TYPE_ZSET:
        return "or-zset";
    case CRDT_TYPE_LIST:
        return "or-sequence";
    default:
        return "unknown";
    }
}

/* OBJECT ENCODING key | OBJECT HELP. */
static void keys_object_encoding(struct client *c, int argc,
                                 const struct dyn_arg *argv)
{
    struct db_value v;
    if (!db_lookup(c->node, argv[2].p, argv[2].len, &v)) {
        reply_null(&c->obuf, c->resp);
        return;
    }
    reply_bulk(&c->obuf, keys_encoding(v.type),
               strlen(keys_encoding(v.type)));
}

static void keys_object_help(struct client *c, int argc,
                             const struct dyn_arg *argv)
{
    static const char *const lines[] = {
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return how the value of <key> is kept: raw (a string),",
        "    pn-counter, orswot (a set), or-map (a hash), or-zset (a sorted",
        "    set) or or-sequence (a list): the replicated types of issue #14.",
        "HELP",
        "    Print this help.",
        NULL,
    };
    size_t n = 0;
    while (lines[n])
        n++;
    reply_array(&c->obuf, (long long)n);
    for (size_t i = 0; i < n; i++)
        reply_status(&c->obuf, lines[i]);
}

/* ------------------------------------------------------------ enumeration */

struct keys_walk {
    struct dbuf *out;       /* bulk replies appended here */
    long long count;        /* keys listed */
    long long visited;      /* entries seen, listed or not */
    const char *pat;        /* NULL = every key */
    size_t plen;
    int64_t now_ms;
    const char *type;       /* SCAN TYPE: only keys of this type, or NULL */
    size_t tlen;
};

static int keys_walk_fn(void *ctx, const void *key, size_t klen,
                        const struct object *obj)
{
    struct keys_walk *w = ctx;

    w->visited++;
    if (w->pat && !dyn_glob_match(w->pat, w->plen, key, klen, 0))
        return 0;
    struct sibling s;
    if (!db_visible(obj, (uint64_t)w->now_ms, &s))
        return 0;
    if (w->type && !dyn_arg_is(w->type, w->tlen, crdt_type_name(s.type)))
        return 0;
    reply_bulk(w->out, key, klen);
    w->count++;
    return 0;
}

static void keys_keys(struct client *c, int argc, const struct dyn_arg *argv)
{
    struct store *s = c->node->store;
    struct keys_walk w = {
        .out = &c->obuf, .now_ms = (int64_t)node_wall_ms(c->node),
        .pat = argv[1].p, .plen = argv[1].len,
    };
    size_t off;
    uint32_t parts = store_partitions(s);

    if (argv[1].len == 1 && argv[1].p[0] == '*')
        w.pat = NULL;
    off = reply_defer(&c->obuf);
    for (uint32_t p = 0; p < parts; p++)
        store_iter_partition(s, p, keys_walk_fn, &w);
    reply_defer_set(&c->obuf, off, c->resp, '*', w.count);
}

/* Redis's cursor rule: strtoul over the argument (so "-1" is a valid, huge
 * cursor), no leading space, nothing left over, no overflow. */
static void keys_scan(struct client *c, int argc, const struct dyn_arg *argv)
{
    struct dbuf found;
    struct keys_walk w = { .now_ms = (int64_t)node_wall_ms(c->node) };
    uint64_t cursor;
    long long count = 10;
    char num[32];

    if (command_parse_cursor(&argv[1], &cursor) != 0) {
        client_error(c, "ERR invalid cursor");
        return;
    }
    for (int i = 2; i < argc; i += 2) {
        int has_value = argc - i >= 2;
        if (has_value && dyn_arg_is(argv[i].p, argv[i].len, "count")) {
            if (dyn_str2ll(argv[i + 1].p, argv[i + 1].len, &count) != 0) {
                client_error(c, ERR_NOT_INTEGER);
                return;
            }
            if (count < 1) {
                client_error(c, ERR_SYNTAX);
                return;
            }
        } else if (has_value && dyn_arg_is(argv[i].p, argv[i].len, "match")) {
            w.pat = argv[i + 1].p;
            w.plen = argv[i + 1].len;
            if (w.plen == 1 && w.pat[0] == '*')
                w.pat = NULL;
        } else if (has_value && dyn_arg_is(argv[i].p, argv[i].len, "type")) {
            w.type = argv[i + 1].p;
            w.tlen = argv[i + 1].len;
        } else {
            client_error(c, ERR_SYNTAX);
            return;
        }
    }

    /* Like Redis, stop once about COUNT entries were visited (filtered or
     * not) or the scan is complete.  store_scan spends a step on each empty
     * partition, so a call may visit nothing; a few more calls let a small
     * keyspace finish in one SCAN, as it does in Redis, while the total
     * stays bounded by about count * 10 steps plus one per partition. */
    dbuf_init(&found);
    w.out = &found;
    {
        struct store *s = c->node->store;
        /* count is up to LLONG_MAX: saturate count * 10, do not wrap. */
        uint64_t steps = (uint64_t)count > UINT64_MAX / 10
                             ? UINT64_MAX : (uint64_t)count * 10;
        uint64_t rounds = 1 + store_partitions(s) / steps;
        do {
            cursor = store_scan(s, cursor, (size_t)(count - w.visited),
                                keys_walk_fn, &w);
        } while (cursor != 0 && w.visited < count && rounds-- > 0);
    }
    reply_array(&c->obuf, 2);
    snprintf(num, sizeof(num), "%llu", (unsigned long long)cursor);
    reply_bulk_cstr(&c->obuf, num);
    reply_array(&c->obuf, w.count);
    dbuf_append(&c->obuf, found.p, found.len);
    dbuf_free(&found);
}

/* RANDOMKEY: picks a partition weighted by its entry count, then a uniform
 * visible key within it (reservoir sampling); partitions holding no visible
 * key are skipped in ring order, so the walk ends after one lap. */
struct keys_pick {
    struct node *n;
    int64_t now_ms;
    uint64_t seen;
    const void *key;
    size_t klen;
};

static int keys_pick_fn(void *ctx, const void *key, size_t klen,
                        const struct object *obj)
{
    struct keys_pick *p = ctx;

    if (!keys_visible(obj, p->now_ms))
        return 0;
    p->seen++;
    if (node_random(p->n) % p->seen == 0) {
        p->key = key;
        p->klen = klen;
    }
    return 0;
}

static void keys_randomkey(struct client *c, int argc,
                           const struct dyn_arg *argv)
{
    struct node *n = c->node;
    struct store *s = n->store;
    uint32_t parts = store_partitions(s);
    size_t total = store_count(s);
    struct keys_pick pick = { .n = n, .now_ms = (int64_t)node_wall_ms(n) };
    uint32_t start = 0;

    if (total == 0) {
        reply_null(&c->obuf, c->resp);
        return;
    }
    {
        uint64_t r = node_random(n) % total;
        for (uint32_t p = 0; p < parts; p++) {
            size_t cnt = store_partition_count(s, p);
            if (r < cnt) {
                start = p;
                break;
            }
            r -= cnt;
        }
    }
    for (uint32_t i = 0; i < parts; i++) {
        uint32_t p = (start + i) % parts;
        if (store_partition_count(s, p) == 0)
            continue;
        store_iter_partition(s, p, keys_pick_fn, &pick);
        if (pick.key) {
            /* The key points into the store, unchanged since the walk. */
            reply_bulk(&c->obuf, pick.key, pick.klen);
            return;
        }
    }
    reply_null(&c->obuf, c->resp);
}

static void keys_dbsize(struct client *c, int argc, const struct dyn_arg *argv)
{
    reply_int(&c->obuf, (long long)db_size(c->node));
}

/* FLUSHALL / FLUSHDB [ASYNC|SYNC]: both flush at once (the store is
 * in-memory; there is no lazy-free thread to hand the work to). */
static void keys_flush(struct client *c, int argc, const struct dyn_arg *argv)
{
    if (argc > 2 ||
        (argc == 2 && !dyn_arg_is(argv[1].p, argv[1].len, "sync") &&
         !dyn_arg_is(argv[1].p, argv[1].len, "async"))) {
        client_error(c, ERR_SYNTAX);
        return;
    }
    int rc = db_flush(c->node);
    if (rc != 0)
        client_error(c, db_error_text(c->node, rc));
    else
        reply_ok(&c->obuf);
}

/* ----------------------------------------------------------------- expiry */

enum keys_expire_flags {
    EXPF_NX = 1 << 0,
    EXPF_XX = 1 << 1,
    EXPF_GT = 1 << 2,
    EXPF_LT = 1 << 3,
};

/* EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT key time [NX|XX|GT|LT ...].
 * basetime: now for the relative forms, 0 for the absolute ones. */
static void keys_expire_generic(struct client *c, int argc,
                                const struct dyn_arg *argv, int64_t basetime,
                                int seconds, const char *cmd)
{
    int64_t now = (int64_t)node_wall_ms(c->node);
    struct db_value v;
    unsigned flags = 0;
    long long when;

    for (int j = 3; j < argc; j++) {
        if (dyn_arg_is(argv[j].p, argv[j].len, "nx"))
            flags |= EXPF_NX;
        else if (dyn_arg_is(argv[j].p, argv[j].len, "xx"))
            flags |= EXPF_XX;
        else if (dyn_arg_is(argv[j].p, argv[j].len, "gt"))
            flags |= EXPF_GT;
        else if (dyn_arg_is(argv[j].p, argv[j].len, "lt"))
            flags |= EXPF_LT;
        else {
            client_errorf(c, "ERR Unsupported option %.*s",
                          (int)argv[j].len, argv[j].p);
            return;
        }
    }
    if ((flags & EXPF_NX) && (flags & (EXPF_XX | EXPF_GT | EXPF_LT))) {
        client_error(c, "ERR NX and XX, GT or LT options at the same "
                     "time are not compatible");
        return;
    }
    if ((flags & EXPF_GT) && (flags & EXPF_LT)) {
        client_error(c, 
                     "ERR GT and LT options at the same time are not "
                     "compatible");
        return;
    }
    if (dyn_str2ll(argv[2].p, argv[2].len, &when) != 0) {
        client_error(c, ERR_NOT_INTEGER);
        return;
    }
    if (seconds) {
        if (when > LLONG_MAX / 1000 || when < LLONG_MIN / 1000) {
            client_errorf(c, "ERR invalid expire time in '%s' command",
                          cmd);
            return;
        }
        when *= 1000;
    }
    if (when > LLONG_MAX - basetime) {
        client_errorf(c, "ERR invalid expire time in '%s' command",
                      cmd);
        return;
    }
    when += basetime;

    if (!db_lookup(c->node, argv[1].p, argv[1].len, &v)) {
        reply_int(&c->obuf, 0);
        return;
    }
    if (flags) {
        int64_t cur = v.expire_ms ? v.expire_ms : -1;
        if (((flags & EXPF_NX) && cur != -1) ||
            ((flags & EXPF_XX) && cur == -1) ||
            ((flags & EXPF_GT) && (when <= cur || cur == -1)) ||
            ((flags & EXPF_LT) && cur != -1 && when >= cur)) {
            reply_int(&c->obuf, 0);
            return;
        }
    }
    if (when <= now) {
        if (keys_write(c, argv[1].p, argv[1].len, NULL, 0, 0) == 0)
            reply_int(&c->obuf, 1);
        return;
    }
    /* Same value, new expiry. */
    if (keys_write_value(c, argv[1].p, argv[1].len, &v, when) == 0)
        reply_int(&c->obuf, 1);
}

static void keys_expire(struct client *c, int argc, const struct dyn_arg *argv)
{
    keys_expire_generic(c, argc, argv, (int64_t)node_wall_ms(c->node), 1,
                        "expire");
}

static void keys_pexpire(struct client *c, int argc,
                         const struct dyn_arg *argv)
{
    keys_expire_generic(c, argc, argv, (int64_t)node_wall_ms(c->node), 0,
                        "pexpire");
}

static void keys_expireat(struct client *c, int argc,
                          const struct dyn_arg *argv)
{
    keys_expire_generic(c, argc, argv, 0, 1, "expireat");
}

static void keys_pexpireat(struct client *c, int argc,
                           const struct dyn_arg *argv)
{
    keys_expire_generic(c, argc, argv, 0, 0, "pexpireat");
}

/* TTL family: -2 absent, -1 no expiry; seconds are rounded as Redis does. */
static void keys_ttl_generic(struct client *c, const struct dyn_arg *key,
                             int ms, int absolute)
{
    struct db_value v;
    long long t;

    if (!keys_lookup_read(c, key, &v)) {
        reply_int(&c->obuf, -2);
        return;
    }
    if (v.expire_ms == 0) {
        reply_int(&c->obuf, -1);
        return;
    }
    t = absolute ? v.expire_ms
                 : v.expire_ms - (int64_t)node_wall_ms(c->node);
    if (t < 0)
        t = 0;
    /* Seconds rounded half up, as Redis's (t + 500) / 1000, without the sum:
     * EXPIRETIME after PEXPIREAT k 9223372036854775807 would overflow it. */
    reply_int(&c->obuf, ms ? t : t / 1000 + (t % 1000 >= 500));
}

static void keys_ttl(struct client *c, int argc, const struct dyn_arg *argv)
{
    keys_ttl_generic(c, &argv[1], 0, 0);
}

static void keys_pttl(struct client *c, int argc, const struct dyn_arg *argv)
{
    keys_ttl_generic(c, &argv[1], 1, 0);
}

static void keys_expiretime(struct client *c, int argc,
                            const struct dyn_arg *argv)
{
    keys_ttl_generic(c, &argv[1], 0, 1);
}

static void keys_pexpiretime(struct client *c, int argc,
                             const struct dyn_arg *argv)
{
    keys_ttl_generic(c, &argv[1], 1, 1);
}

static void keys_persist(struct client *c, int argc,
                         const struct dyn_arg *argv)
{
    struct db_value v;

    if (!db_lookup(c->node, argv[1].p, argv[1].len, &v) ||
        v.expire_ms == 0) {
        reply_int(&c->obuf, 0);
        return;
    }
    if (keys_write_value(c, argv[1].p, argv[1].len, &v, 0) == 0)
        reply_int(&c->obuf, 1);
}

/* ----------------------------------------------------- rename / copy */

static int keys_same(const struct dyn_arg *a, const struct dyn_arg *b)
{
    return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

/* Writes dst = src's value (with its expiry); then, for a rename, src's
 * tombstone.  Returns 0, or -1 after replying. */
static int keys_move(struct client *c, const struct dyn_arg *src,
                     const struct dyn_arg *dst, const struct db_value *v,
                     int remove_src)
{
    if (keys_write_value(c, dst->p, dst->len, v, v->expire_ms) != 0)
        return -1;
    if (remove_src)
        return keys_write(c, src->p, src->len, NULL, 0, 0);
    return 0;
}

static void keys_rename_generic(struct client *c, const struct dyn_arg *argv,
                                int nx)
{
    struct db_value v, dv;

    if (!db_lookup(c->node, argv[1].p, argv[1].len, &v)) {
        client_error(c, "ERR no such key");
        return;
    }
    if (keys_same(&argv[1], &argv[2])) {
        if (nx)
            reply_int(&c->obuf, 0);
        else
            reply_ok(&c->obuf);
        return;
    }
    if (nx) {
        if (db_lookup(c->node, argv[2].p, argv[2].len, &dv)) {
            reply_int(&c->obuf, 0);
            return;
        }
        /* That lookup may have expired dst (a store change): take src's
         * borrowed view again. */
        if (!db_lookup(c->node, argv[1].p, argv[1].len, &v)) {
            client_error(c, "ERR no such key");
            return;
        }
    }
    if (keys_move(c, &argv[1], &argv[2], &v, 1) != 0)
        return;
    if (nx)
        reply_int(&c->obuf, 1);
    else
        reply_ok(&c->obuf);
}

static void keys_rename(struct client *c, int argc, const struct dyn_arg *argv)
{
    keys_rename_generic(c, argv, 0);
}

static void keys_renamenx(struct client *c, int argc,
                          const struct dyn_arg *argv)
{
    keys_rename_generic(c, argv, 1);
}

/* COPY source destination [DB 0] [REPLACE] (one database only). */
static void keys_copy(struct client *c, int argc, const struct dyn_arg *argv)
{
    struct db_value v, dv;
    int replace = 0;
    long long dbid = 0;

    for (int j = 3; j < argc; j++) {
        if (dyn_arg_is(argv[j].p, argv[j].len, "replace")) {
            replace = 1;
        } else if (dyn_arg_is(argv[j].p, argv[j].len, "db") &&
                   j + 1 < argc) {
            if (dyn_str2ll(argv[j + 1].p, argv[j + 1].len, &dbid) != 0) {
                client_error(c, ERR_NOT_INTEGER);
                return;
            }
            if (dbid < 0 || dbid >= c->node->cfg.databases) {
                client_error(c, "ERR DB index is out of range");
                return;
            }
            j++;
        } else {
            client_error(c, ERR_SYNTAX);
            return;
        }
    }
    if (keys_same(&argv[1], &argv[2])) {
        client_error(c, 
                     "ERR source and destination objects are the same");
        return;
    }
    if (!db_lookup(c->node, argv[1].p, argv[1].len, &v)) {
        reply_int(&c->obuf, 0);
        return;
    }
    if (!replace) {
        if (db_lookup(c->node, argv[2].p, argv[2].len, &dv)) {
            reply_int(&c->obuf, 0);
            return;
        }
        if (!db_lookup(c->node, argv[1].p, argv[1].len, &v)) {
            reply_int(&c->obuf, 0);
            return;
        }
    }
    if (keys_move(c, &argv[1], &argv[2], &v, 0) == 0)
        reply_int(&c->obuf, 1);
}

/* The container: dispatch resolves OBJECT's subcommand rows itself; this
 * runs only for OBJECT alone. */
static void keys_object(struct client *c, int argc, const struct dyn_arg *argv)
{
    (void)argc;
    (void)argv;
    command_reply_arity(c, "object");
}

static const struct command object_subcommands[] = {
    { "object|encoding", keys_object_encoding, 3, CMD_READONLY | CMD_DATA, 2, 2, 1,
      "@keyspace @read @slow", "generic", "2.2.3",
      "How a key's value is kept: raw, pn-counter, orswot, or-map, or-zset "
      "or or-sequence.", "O(1)", NULL, ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "object|help", keys_object_help, 2, CMD_LOADING | CMD_STALE, 0, 0, 0,
      "@keyspace @slow", "generic", "6.2.0", "Lists the OBJECT subcommands.",
      "O(1)", NULL, ROUTE_LOCAL, COMBINE_NONE, NULL, 0 },
    { NULL },
};

/* ------------------------------------------------------------------ table */

#define KEY_RD_FAST (CMD_READONLY | CMD_FAST | CMD_DATA)
#define KEY_WR_FAST (CMD_WRITE | CMD_FAST | CMD_DATA)

const struct command cmd_keys_table[] = {
    { "del", keys_del, -2, CMD_WRITE | CMD_DATA, 1, -1, 1,
      "@keyspace @write @slow", "generic", "1.0.0",
      "Deletes keys by writing tombstones; returns how many existed.",
      "O(N) where N is the number of keys to delete.", NULL,
      ROUTE_PER_KEY, COMBINE_SUM, NULL, 0 },
    { "unlink", keys_del, -2, KEY_WR_FAST, 1, -1, 1,
      "@keyspace @write @fast", "generic", "4.0.0",
      "Same as DEL: writes tombstones for the keys that exist.",
      "O(1) for each key removed.", NULL, ROUTE_PER_KEY, COMBINE_SUM, NULL, 0 },
    { "exists", keys_exists, -2, KEY_RD_FAST, 1, -1, 1,
      "@keyspace @read @fast", "generic", "1.0.0",
      "Counts how many of the keys exist (duplicates count again).",
      "O(N) where N is the number of keys to check.", NULL,
      ROUTE_PER_KEY, COMBINE_SUM, NULL, 0 },
    { "type", keys_type, 2, KEY_RD_FAST, 1, 1, 1,
      "@keyspace @read @fast", "generic", "1.0.0",
      "Returns the type of a key: string, set, hash, zset, list, or none.",
      "O(1)", NULL, ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "object", keys_object, -2, CMD_DATA, 0, 0, 0, "@slow", "generic",
      "2.2.3", "Inspects how a key's value is kept.",
      "Depends on subcommand.", object_subcommands, ROUTE_LOCAL,
      COMBINE_NONE, NULL, 0 },
    { "keys", keys_keys, 2, CMD_READONLY | CMD_DATA, 0, 0, 0,
      "@keyspace @read @slow @dangerous", "generic", "1.0.0",
      "Lists every key of this node matching a glob pattern.",
      "O(N) with N being the number of keys stored on the node.", NULL,
      ROUTE_KEYSPACE, COMBINE_KEYS, NULL, 0 },
    { "scan", keys_scan, -2, CMD_READONLY | CMD_DATA, 0, 0, 0,
      "@keyspace @read @slow", "generic", "2.8.0",
      "Iterates over the keys of this node with a cursor.",
      "O(1) for every call. O(N) for a complete iteration.", NULL,
      ROUTE_KEYSPACE, COMBINE_SCAN, NULL, 0 },
    { "randomkey", keys_randomkey, 1, CMD_READONLY | CMD_DATA, 0, 0, 0,
      "@keyspace @read @slow", "generic", "1.0.0",
      "Returns a random key stored on this node.", "O(1)", NULL,
      ROUTE_KEYSPACE, COMBINE_RANDOM, NULL, 0 },
    { "dbsize", keys_dbsize, 1, KEY_RD_FAST, 0, 0, 0,
      "@keyspace @read @fast", "server", "1.0.0",
      "Returns the number of keys stored on this node.", "O(1)", NULL,
      ROUTE_KEYSPACE, COMBINE_COUNT, NULL, 0 },
    { "flushall", keys_flush, -1, CMD_WRITE | CMD_DATA, 0, 0, 0,
      "@keyspace @write @slow @dangerous", "server", "1.0.0",
      "Removes every key stored on this node.",
      "O(N) where N is the number of keys on the node.", NULL,
      ROUTE_ALL, COMBINE_FLUSH, NULL, 0 },
    { "flushdb", keys_flush, -1, CMD_WRITE | CMD_DATA, 0, 0, 0,
      "@keyspace @write @slow @dangerous", "server", "1.0.0",
      "Removes every key stored on this node (there is one database).",
      "O(N) where N is the number of keys on the node.", NULL,
      ROUTE_ALL, COMBINE_FLUSH, NULL, 0 },
    { "expire", keys_expire, -3, KEY_WR_FAST, 1, 1, 1,
      "@keyspace @write @fast", "generic", "1.0.0",
      "Sets a key's time to live in seconds.", "O(1)", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "pexpire", keys_pexpire, -3, KEY_WR_FAST, 1, 1, 1,
      "@keyspace @write @fast", "generic", "2.6.0",
      "Sets a key's time to live in milliseconds.", "O(1)", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "expireat", keys_expireat, -3, KEY_WR_FAST, 1, 1, 1,
      "@keyspace @write @fast", "generic", "1.2.0",
      "Sets a key's expiry as a Unix time in seconds.", "O(1)", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "pexpireat", keys_pexpireat, -3, KEY_WR_FAST, 1, 1, 1,
      "@keyspace @write @fast", "generic", "2.6.0",
      "Sets a key's expiry as a Unix time in milliseconds.", "O(1)", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "ttl", keys_ttl, 2, KEY_RD_FAST, 1, 1, 1,
      "@keyspace @read @fast", "generic", "1.0.0",
      "Returns a key's remaining time to live in seconds.", "O(1)", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "pttl", keys_pttl, 2, KEY_RD_FAST, 1, 1, 1,
      "@keyspace @read @fast", "generic", "2.6.0",
      "Returns a key's remaining time to live in milliseconds.", "O(1)",
      NULL, ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "expiretime", keys_expiretime, 2, KEY_RD_FAST, 1, 1, 1,
      "@keyspace @read @fast", "generic", "7.0.0",
      "Returns a key's expiry as a Unix time in seconds.", "O(1)", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "pexpiretime", keys_pexpiretime, 2, KEY_RD_FAST, 1, 1, 1,
      "@keyspace @read @fast", "generic", "7.0.0",
      "Returns a key's expiry as a Unix time in milliseconds.", "O(1)",
      NULL, ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "persist", keys_persist, 2, KEY_WR_FAST, 1, 1, 1,
      "@keyspace @write @fast", "generic", "2.2.0",
      "Removes a key's expiry.", "O(1)", NULL, ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "touch", keys_exists, -2, KEY_RD_FAST, 1, -1, 1,
      "@keyspace @read @fast", "generic", "3.2.1",
      "Counts the keys that exist (access times are not tracked).",
      "O(N) where N is the number of keys that will be touched.", NULL,
      ROUTE_PER_KEY, COMBINE_SUM, NULL, 0 },
    { "rename", keys_rename, 3, CMD_WRITE | CMD_DATA, 1, 2, 1,
      "@keyspace @write @slow", "generic", "1.0.0",
      "Renames a key (two writes; not atomic across replicas).", "O(1)",
      NULL, ROUTE_GATHER, COMBINE_NONE, NULL, 0 },
    { "renamenx", keys_renamenx, 3, KEY_WR_FAST, 1, 2, 1,
      "@keyspace @write @fast", "generic", "1.0.0",
      "Renames a key if the new name is free (not atomic across replicas).",
      "O(1)", NULL, ROUTE_GATHER, COMBINE_NONE, NULL, 0 },
    { "copy", keys_copy, -3, CMD_WRITE | CMD_DENYOOM | CMD_DATA, 1, 2, 1,
      "@keyspace @write @slow", "generic", "6.2.0",
      "Copies a key's value and expiry to another key.",
      "O(1) for string values.", NULL, ROUTE_GATHER, COMBINE_NONE, NULL, 0 },
    { NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL,
     0, 0, NULL, 0 },
};
