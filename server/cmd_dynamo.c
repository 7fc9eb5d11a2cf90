/*
 * cmd_dynamo.c -- the Dynamo-specific commands, named like Redis module
 * commands (dotted):
 *
 *   DYNAMO.GET key [R n]              -> [context, [value, ...]]
 *   DYNAMO.PUT key context value [W n] -> +OK
 *   DYNAMO.DEL key context [W n]      -> :1 if the context covered a live
 *                                        value, else :0
 *   DYNAMO.VCLOCK key                 -> one map per sibling (clock, dot, ...)
 *   DYNAMO.LOCAL key                  -> this node's stored copy, with values
 *   DYNAMO.CONFIG GET|SET n|r|w [v]   -> the quorum settings
 *
 * This is Dynamo's get/put interface (SOSP 2007, section 4.1): a read
 * returns every concurrent version plus an opaque *context* (the merged
 * clock of all siblings, tombstones and expired ones included, encoded by
 * vclock_context_encode), and a write that hands that context back
 * supersedes everything the reader saw -- that is how a client resolves
 * siblings.  An empty context is a blind write: it supersedes nothing and
 * becomes a sibling of every stored version.  A context that claims writes
 * of this node beyond the ones it made is refused with the figures (db.c
 * explains how the node knows them).
 *
 * Values are listed in a deterministic order: the winner (object_winner,
 * the version plain GET returns) first if it is a live value, then the
 * others by dot (actor, counter).  Tombstones and expired versions are not
 * values and are left out, but their dots stay in the context.
 *
 * R and W are validated (1..N) but, on a single node, every operation
 * already involves the only replica; the coordinator uses them in a cluster.
 *
 * DYNAMO.LOCAL reads the store directly (not through db, which in a cluster
 * is the quorum path and also expires lazily): it shows exactly what this
 * node holds, which is what the cluster tests compare across replicas.
 *
 * Thread-safety: handlers run on the event loop that owns the node.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "server/command.h"
#include "server/client.h"
#include "server/db.h"
#include "server/log.h"
#include "server/node.h"
#include "server/reply.h"
#include "server/store.h"
#include "server/util.h"
#include "cluster/object.h"
#include "cluster/quorum.h"
#include "cluster/vclock.h"

/* ------------------------------------------------------------------ helpers */

/* Parses trailing "<opt> n" pairs (opt is "r" or "w") from argv[start].
 * Returns 0 with *out set (or left alone when absent), or -1 after
 * replying. */
static int dynamo_parse_quorum(struct client *c, int argc,
                               const struct dyn_arg *argv, int start,
                               const char *opt, const char *label, int *out)
{
    int nrep = c->node->cfg.n;

    for (int j = start; j < argc; j += 2) {
        long long v;
        if (!dyn_arg_is(argv[j].p, argv[j].len, opt) || j + 1 >= argc) {
            client_error(c, ERR_SYNTAX);
            return -1;
        }
        if (dyn_str2ll(argv[j + 1].p, argv[j + 1].len, &v) != 0) {
            client_error(c, ERR_NOT_INTEGER);
            return -1;
        }
        if (v < 1 || v > nrep) {
            client_errorf(c, "ERR %s must be between 1 and N (%d)",
                          label, nrep);
            return -1;
        }
        *out = (int)v;
    }
    return 0;
}

/* Decodes a client context; "" is the empty clock (a blind write). */
static int dynamo_parse_context(struct client *c, const struct dyn_arg *a,
                                struct vclock *ctx)
{
    if (a->len == 0)
        return 0;
    if (vclock_context_decode(ctx, a->p, a->len,
                              (uint32_t)c->node->cfg.vclock_max_entries) == 0)
        return 0;
    client_error(c, "ERR invalid context");
    return -1;
}

static int dynamo_sibling_live(const struct sibling *s, int64_t now_ms)
{
    return !s->tombstone && (s->expire_ms == 0 || s->expire_ms > now_ms);
}

static uint32_t dynamo_hist_bucket(uint32_t nsiblings)
{
    if (nsiblings <= 4)
        return nsiblings - 1;
    return nsiblings <= 8 ? 4 : 5;
}

/* vclock_format's naming callback: members by name (node_actor_name),
 * an actor no member's name hashes to in hex. */
static const char *dynamo_actor_name(void *ctx, uint64_t actor)
{
    return node_actor_name(ctx, actor);
}

static void dynamo_format_dot(const struct node *n, const struct sibling *s,
                              struct dbuf *out)
{
    const char *name = node_actor_name(n, s->actor);
    if (name)
        dbuf_printf(out, "%s:%" PRIu64, name, s->counter);
    else
        dbuf_printf(out, "%016" PRIx64 ":%" PRIu64, s->actor, s->counter);
}

/* A sibling's value as clients read it: a string's bytes; a counter's
 * text; a set's, hash's, sorted set's or list's items as an array (what
 * SMEMBERS, HGETALL, ZRANGE .. WITHSCORES, LRANGE would reply). */
struct dynamo_items {
    struct dbuf out;
    long long n;
};

static int dynamo_item(void *ctx, const uint8_t *p, size_t len)
{
    struct dynamo_items *it = ctx;
    reply_bulk(&it->out, p, len);
    it->n++;
    return 0;
}

static void dynamo_reply_value(struct client *c, const struct sibling *s)
{
    if (s->type == CRDT_TYPE_STRING) {
        reply_bulk(&c->obuf, s->value, s->vlen);
        return;
    }
    struct dynamo_items it;
    dbuf_init(&it.out);
    it.n = 0;
    int rc = crdt_items_bytes(s->type, s->value, s->vlen, dynamo_item, &it);
    if (rc != 0)
        reply_null(&c->obuf, c->resp);
    else if (s->type == CRDT_TYPE_COUNTER && it.n == 1)
        dbuf_append(&c->obuf, it.out.p, it.out.len);
    else if (s->type == CRDT_TYPE_COUNTER)
        reply_null(&c->obuf, c->resp);
    else {
        reply_array(&c->obuf, it.n);
        dbuf_append(&c->obuf, it.out.p, it.out.len);
    }
    dbuf_free(&it.out);
}

/* The counter family's value (docs/TYPES.md section 4): the counter s
 * with the strings beside it in o as bases, as GET reads it. */
static void dynamo_reply_family(struct client *c, const struct object *o,
                                const struct sibling *s, int64_t now)
{
    struct crdt_counter *ctr = NULL;
    struct dbuf out;
    dbuf_init(&out);
    if (crdt_counter_decode(s->value, s->vlen, NULL, &ctr) == 0 &&
        object_counter_fold(o, (uint64_t)now, NULL, ctr) >= 0 &&
        crdt_counter_format(ctr, &out) == 0)
        reply_bulk(&c->obuf, out.p, out.len);
    else
        reply_null(&c->obuf, c->resp);
    crdt_counter_free(ctr);
    dbuf_free(&out);
}

/* --------------------------------------------------------------- GET / PUT */

/* Orders live sibling indexes: the winner first, then by dot. */
static int dynamo_before(const struct object *o, uint32_t winner, uint32_t a,
                         uint32_t b)
{
    struct sibling sa, sb;
    if (a == winner || b == winner)
        return a == winner;
    object_sibling(o, a, &sa);
    object_sibling(o, b, &sb);
    if (sa.actor != sb.actor)
        return sa.actor < sb.actor;
    return sa.counter < sb.counter;
}

static void dynamo_get(struct client *c, int argc, const struct dyn_arg *argv)
{
    struct node *n = c->node;
    const struct object *o;
    struct vclock clk;
    struct dbuf ctx;
    uint32_t *idx = NULL, nlive = 0;
    int r = n->cfg.r;
    int64_t now = (int64_t)node_wall_ms(c->node);

    if (dynamo_parse_quorum(c, argc, argv, 2, "r", "R", &r) != 0)
        return;
    vclock_init(&clk);
    dbuf_init(&ctx);
    o = db_object(n, argv[1].p, argv[1].len);
    /* a counter with strings beside it is one value, the counter's */
    struct sibling fam;
    int family = o && object_nsiblings(o) > 1 &&
                 object_visible(o, (uint64_t)now, &fam) &&
                 fam.type == CRDT_TYPE_COUNTER;
    if (o) {
        uint32_t ns = object_nsiblings(o), winner = object_winner(o);
        object_clock(o, &clk);
        idx = dyn_malloc(ns * sizeof(*idx));
        for (uint32_t i = 0; i < ns; i++) {
            struct sibling s;
            object_sibling(o, i, &s);
            int fam_counter = family && s.actor == fam.actor &&
                              s.counter == fam.counter;
            if (family && s.type == CRDT_TYPE_STRING)
                continue; /* a base of the family's counter */
            if (!fam_counter && !dynamo_sibling_live(&s, now))
                continue;
            /* insertion sort: sibling counts are small */
            uint32_t k = nlive++;
            while (k > 0 && dynamo_before(o, winner, i, idx[k - 1])) {
                idx[k] = idx[k - 1];
                k--;
            }
            idx[k] = i;
        }
    }
    vclock_context_encode(&clk, &ctx);

    if (nlive) {
        n->stats.keyspace_hits++;
        n->stats.sibling_hist[dynamo_hist_bucket(nlive)]++;
    } else {
        n->stats.keyspace_misses++;
    }
    reply_array(&c->obuf, 2);
    reply_bulk(&c->obuf, ctx.p, ctx.len);
    reply_array(&c->obuf, nlive);
    for (uint32_t k = 0; k < nlive; k++) {
        struct sibling s;
        object_sibling(o, idx[k], &s);
        if (family && s.actor == fam.actor && s.counter == fam.counter)
            dynamo_reply_family(c, o, &s, now);
        else
            dynamo_reply_value(c, &s);
    }
    dyn_free(idx);
    dbuf_free(&ctx);
    vclock_free(&clk);
}

/* The common part of PUT and DEL: a write with the client's context. */
static int dynamo_write_ctx(struct client *c, const struct dyn_arg *key,
                            const struct vclock *ctx, const void *val,
                            size_t vlen, int tombstone)
{
    struct db_write w = {
        .value = val, .vlen = vlen, .tombstone = tombstone,
        .expire_ms = 0, .ctx = ctx,
    };
    int rc = db_write(c->node, key->p, key->len, &w);
    if (rc != 0) {
        c->errors++;
        db_reply_write_error(c->node, &c->obuf, rc, ctx);
    }
    return rc;
}

static void dynamo_put(struct client *c, int argc, const struct dyn_arg *argv)
{
    struct vclock ctx;
    int w = c->node->cfg.w;

    if (dynamo_parse_quorum(c, argc, argv, 4, "w", "W", &w) != 0)
        return;
    vclock_init(&ctx);
    if (dynamo_parse_context(c, &argv[2], &ctx) == 0 &&
        dynamo_write_ctx(c, &argv[1], &ctx, argv[3].p, argv[3].len, 0) == 0)
        reply_ok(&c->obuf);
    vclock_free(&ctx);
}

static void dynamo_del(struct client *c, int argc, const struct dyn_arg *argv)
{
    struct vclock ctx;
    const struct object *o;
    int w = c->node->cfg.w, had = 0;
    int64_t now = (int64_t)node_wall_ms(c->node);

    if (dynamo_parse_quorum(c, argc, argv, 3, "w", "W", &w) != 0)
        return;
    vclock_init(&ctx);
    if (dynamo_parse_context(c, &argv[2], &ctx) != 0)
        goto out;
    o = db_object(c->node, argv[1].p, argv[1].len);
    if (o) {
        for (uint32_t i = 0; i < object_nsiblings(o) && !had; i++) {
            struct sibling s;
            object_sibling(o, i, &s);
            had = dynamo_sibling_live(&s, now) &&
                  vclock_get(&ctx, s.actor) >= s.counter;
        }
    }
    if (dynamo_write_ctx(c, &argv[1], &ctx, "", 0, 1) == 0)
        reply_int(&c->obuf, had);
out:
    vclock_free(&ctx);
}

/* ------------------------------------------------------- VCLOCK / LOCAL */

static void dynamo_field_int(struct client *c, const char *name, long long v)
{
    reply_bulk_cstr(&c->obuf, name);
    reply_int(&c->obuf, v);
}

static void dynamo_reply_siblings(struct client *c, const struct object *o,
                                  int with_values)
{
    struct node *n = c->node;
    uint32_t ns = o ? object_nsiblings(o) : 0;
    uint32_t winner = o ? object_winner(o) : 0;
    struct vclock clk;
    struct dbuf tmp;

    vclock_init(&clk);
    dbuf_init(&tmp);
    reply_array(&c->obuf, ns);
    for (uint32_t i = 0; i < ns; i++) {
        struct sibling s;
        object_sibling(o, i, &s);
        int typed = s.type != CRDT_TYPE_STRING;
        reply_map(&c->obuf, c->resp, (with_values ? 8 : 7) + (typed ? 2 : 0));

        object_sibling_clock(o, i, &clk);
        dbuf_reset(&tmp);
        vclock_format(&clk, &tmp, dynamo_actor_name, n);
        reply_bulk_cstr(&c->obuf, "clock");
        reply_bulk(&c->obuf, tmp.p, tmp.len);

        dbuf_reset(&tmp);
        dynamo_format_dot(n, &s, &tmp);
        reply_bulk_cstr(&c->obuf, "dot");
        reply_bulk(&c->obuf, tmp.p, tmp.len);

        dynamo_field_int(c, "ts", (long long)s.ts_ms);
        dynamo_field_int(c, "size", s.vlen);
        dynamo_field_int(c, "tombstone", s.tombstone ? 1 : 0);
        dynamo_field_int(c, "expire", s.expire_ms);
        dynamo_field_int(c, "winner", i == winner);
        if (typed) {
            /* the type's state, readably: its dots, entries, clock */
            reply_bulk_cstr(&c->obuf, "type");
            reply_bulk_cstr(&c->obuf, s.type == CRDT_TYPE_COUNTER
                                          ? "counter"
                                          : crdt_type_name(s.type));
            dbuf_reset(&tmp);
            crdt_describe_bytes(s.type, s.value, s.vlen, &tmp);
            reply_bulk_cstr(&c->obuf, "state");
            reply_bulk(&c->obuf, tmp.p, tmp.len);
        }
        if (with_values) {
            reply_bulk_cstr(&c->obuf, "value");
            if (s.tombstone)
                reply_null(&c->obuf, c->resp);
            else
                dynamo_reply_value(c, &s);
        }
    }
    dbuf_free(&tmp);
    vclock_free(&clk);
}

static void dynamo_vclock(struct client *c, int argc,
                          const struct dyn_arg *argv)
{
    dynamo_reply_siblings(c, db_object(c->node, argv[1].p, argv[1].len), 0);
}

static void dynamo_local(struct client *c, int argc,
                         const struct dyn_arg *argv)
{
    dynamo_reply_siblings(c, store_get(c->node->store, argv[1].p,
                                       argv[1].len), 1);
}

/* ------------------------------------------------------------------ CONFIG */

/* Which quorum field a name selects, or NULL. */
static int *dynamo_config_field(struct config *cfg, const struct dyn_arg *a)
{
    if (dyn_arg_is(a->p, a->len, "n"))
        return &cfg->n;
    if (dyn_arg_is(a->p, a->len, "r"))
        return &cfg->r;
    if (dyn_arg_is(a->p, a->len, "w"))
        return &cfg->w;
    return NULL;
}

static void dynamo_config_unknown(struct client *c, const struct dyn_arg *a)
{
    client_errorf(c, 
                  "ERR unknown DYNAMO.CONFIG parameter '%.*s' (expected n, r "
                  "or w)", (int)DYN_MIN(a->len, 128), a->p);
}

static void dynamo_config_get(struct client *c, int argc,
                              const struct dyn_arg *argv)
{
    int *f = dynamo_config_field(&c->node->cfg, &argv[2]);
    if (!f)
        dynamo_config_unknown(c, &argv[2]);
    else
        reply_int(&c->obuf, *f);
}

/* N >= 1 and 1 <= R, W <= N are required; R + W <= N is allowed (the
 * operator may want fast, sloppy reads) but logged, since then a read
 * quorum need not overlap the last write quorum. */
static void dynamo_config_set(struct client *c, int argc,
                              const struct dyn_arg *argv)
{
    struct config *cfg = &c->node->cfg;
    int *f = dynamo_config_field(cfg, &argv[2]);
    int n, r, w;
    long long v;

    if (!f) {
        dynamo_config_unknown(c, &argv[2]);
        return;
    }
    if (dyn_str2ll(argv[3].p, argv[3].len, &v) != 0 || v < INT32_MIN ||
        v > INT32_MAX) {
        client_error(c, ERR_NOT_INTEGER);
        return;
    }
    n = f == &cfg->n ? (int)v : cfg->n;
    r = f == &cfg->r ? (int)v : cfg->r;
    w = f == &cfg->w ? (int)v : cfg->w;
    if (f == &cfg->n && n > QUORUM_MAX) {
        client_errorf(c, 
                      "ERR N must be at most %d (the replicas a quorum can "
                      "track)", QUORUM_MAX);
        return;
    }
    if (f == &cfg->n && (n < 1 || n < r || n < w)) {
        client_errorf(c, 
                      "ERR N must be at least 1 and not below R (%d) or W (%d)",
                      r, w);
        return;
    }
    if (f == &cfg->r && (r < 1 || r > n)) {
        client_errorf(c, "ERR R must be between 1 and N (%d)", n);
        return;
    }
    if (f == &cfg->w && (w < 1 || w > n)) {
        client_errorf(c, "ERR W must be between 1 and N (%d)", n);
        return;
    }
    *f = (int)v;
    if (r + w <= n)
        dlog(DLOG_WARNING,
             "DYNAMO.CONFIG: R (%d) + W (%d) <= N (%d): a read quorum may "
             "miss the latest write", r, w, n);
    reply_ok(&c->obuf);
}

static void dynamo_config_help(struct client *c, int argc,
                               const struct dyn_arg *argv)
{
    static const char *const lines[] = {
        "DYNAMO.CONFIG <subcommand> [<arg> [value] ...]. Subcommands are:",
        "GET <n|r|w>",
        "    Return the replication factor N, or the read or write quorum.",
        "SET <n|r|w> <value>",
        "    Change it (1 <= R, W <= N). R + W <= N is allowed, with a "
        "warning.",
        "HELP",
        "    Print this help.",
    };
    reply_array(&c->obuf, (long long)DYN_ARRAY_LEN(lines));
    for (size_t i = 0; i < DYN_ARRAY_LEN(lines); i++)
        reply_status(&c->obuf, lines[i]);
}

/* ------------------------------------------------------------------ table */

static const struct command dynamo_config_subcommands[] = {
    { "dynamo.config|get", dynamo_config_get, 3,
      CMD_ADMIN | CMD_NOSCRIPT | CMD_LOADING | CMD_STALE | CMD_DYNAMO, 0, 0, 0,
      "@admin @slow @dangerous", "dynamo", "1.0.0",
      "Returns N, R or W.", "O(1)", NULL, ROUTE_LOCAL, COMBINE_NONE, NULL, 0 },
    { "dynamo.config|set", dynamo_config_set, 4,
      CMD_ADMIN | CMD_NOSCRIPT | CMD_LOADING | CMD_STALE | CMD_DYNAMO, 0, 0, 0,
      "@admin @slow @dangerous", "dynamo", "1.0.0",
      "Changes N, R or W at run time.", "O(1)", NULL,
      ROUTE_NOTIFY, COMBINE_NONE, NULL, 0 },
    { "dynamo.config|help", dynamo_config_help, 2,
      CMD_LOADING | CMD_STALE | CMD_DYNAMO, 0, 0, 0,
      "@slow", "dynamo", "1.0.0",
      "Lists the DYNAMO.CONFIG subcommands.", "O(1)", NULL,
      ROUTE_LOCAL, COMBINE_NONE, NULL, 0 },
    { NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL,
     0, 0, NULL, 0 },
};

#define DYN_RD (CMD_READONLY | CMD_FAST | CMD_DYNAMO | CMD_DATA)
#define DYN_WR (CMD_WRITE | CMD_DENYOOM | CMD_FAST | CMD_DYNAMO | CMD_DATA)

/* ------------------------------------------- OBJECT / MERGE (internal) */

/* DYNAMO.OBJECT key: the merged object's encoding, or nil.  The read half
 * of a multi-key command (cluster/coordinator.c, ROUTE_GATHER): run on a
 * replica after its quorum read. */
static void dynamo_object(struct client *c, int argc,
                          const struct dyn_arg *argv)
{
    const struct object *o = db_object(c->node, argv[1].p, argv[1].len);
    if (o)
        reply_bulk(&c->obuf, object_bytes(o), object_size(o));
    else
        reply_null(&c->obuf, c->resp);
}

/* DYNAMO.MERGE key bytes: joins an object built elsewhere into the key
 * (the write half of a multi-key command); the coordinator replicates the
 * result.  Bad bytes change nothing. */
static void dynamo_merge(struct client *c, int argc,
                         const struct dyn_arg *argv)
{
    int rc = db_merge_bytes(c->node, argv[1].p, argv[1].len, argv[2].p,
                            argv[2].len);
    if (rc >= 0)
        reply_ok(&c->obuf);
    else if (rc == DYN_EFORMAT)
        client_error(c, DB_EFORMAT_TEXT);
    else if (rc == DYN_EINVAL)
        client_error(c, "ERR malformed object");
    else {
        c->errors++;
        db_reply_write_error(c->node, &c->obuf, rc, NULL);
    }
}

const struct command cmd_dynamo_table[] = {
    { "dynamo.object", dynamo_object, 2,
      CMD_READONLY | CMD_DYNAMO | CMD_DATA | CMD_INTERNAL, 1, 1, 1,
      "@read", "dynamo", "1.0.0",
      "Internal: a key's merged object, for a multi-key command.", "O(1)",
      NULL, ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "dynamo.merge", dynamo_merge, 3,
      CMD_WRITE | CMD_DYNAMO | CMD_DATA | CMD_INTERNAL, 1, 1, 1,
      "@write", "dynamo", "1.0.0",
      "Internal: joins an object into a key, for a multi-key command.",
      "O(1)", NULL, ROUTE_KEY_BLIND, COMBINE_NONE, NULL, 0 },
    { "dynamo.get", dynamo_get, -2, DYN_RD, 1, 1, 1,
      "@read @fast", "dynamo", "1.0.0",
      "Returns every concurrent value of a key and the causal context to "
      "write back with.", "O(S) where S is the number of siblings.", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "dynamo.put", dynamo_put, -4, DYN_WR, 1, 1, 1,
      "@write @fast", "dynamo", "1.0.0",
      "Writes a value that supersedes the versions named by a context.",
      "O(S) where S is the number of siblings.", NULL,
      ROUTE_KEY_BLIND, COMBINE_NONE, NULL, 0 },
    { "dynamo.del", dynamo_del, -3,
      CMD_WRITE | CMD_FAST | CMD_DYNAMO | CMD_DATA, 1, 1, 1,
      "@write @fast", "dynamo", "1.0.0",
      "Writes a tombstone that supersedes the versions named by a context.",
      "O(S) where S is the number of siblings.", NULL,
      ROUTE_KEY_BLIND, COMBINE_NONE, NULL, 0 },
    { "dynamo.vclock", dynamo_vclock, 2, DYN_RD, 1, 1, 1,
      "@read @fast", "dynamo", "1.0.0",
      "Shows each sibling's vector clock, dot, timestamp and size.",
      "O(S) where S is the number of siblings.", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "dynamo.local", dynamo_local, 2,
      CMD_READONLY | CMD_FAST | CMD_DYNAMO, 1, 1, 1,
      "@read @fast", "dynamo", "1.0.0",
      "Shows this node's own stored copy of a key, values included, "
      "without a quorum.", "O(S) where S is the number of siblings.", NULL,
      ROUTE_LOCAL, COMBINE_NONE, NULL, 0 },
    { "dynamo.config", dynamo_config_help, -2, CMD_DYNAMO, 0, 0, 0,
      "@slow", "dynamo", "1.0.0",
      "Reads or changes the replication settings N, R and W.",
      "Depends on subcommand.", dynamo_config_subcommands,
      ROUTE_LOCAL, COMBINE_NONE, NULL, 0 },
    { NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL,
     0, 0, NULL, 0 },
};
