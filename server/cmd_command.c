/*
 * cmd_command.c -- COMMAND and its subcommands: INFO, DOCS, COUNT, LIST,
 * GETKEYS, GETKEYSANDFLAGS and HELP, the server describing its commands.
 *
 * Why this file exists: clients and tools learn what a server accepts from
 * COMMAND before they send anything else.  redis-cli runs COMMAND DOCS when
 * it starts interactively, and client libraries read key positions from
 * COMMAND INFO.  So the replies keep Redis 7.0's shapes exactly (which
 * element is a set, which a map, where a null goes) and degrade to RESP2 as
 * Redis does.  Everything here is read from the node's command registry
 * (command.h), in its order: a new command row shows up here by itself.
 *
 * COMMAND INFO is built from each command's row (struct command: arity,
 * flags, keys, ACL categories) plus a small table here (redis_meta) of the
 * facts a row cannot express: the Redis flags we have no bit for
 * (allow_busy, skip_slowlog...), the command tips, and Redis's key specs
 * (RW/RO/OW/RM and access/update/insert/delete, per key argument).  A
 * command without a redis_meta row gets one key spec derived from its
 * first/last/step keys and its CMD_WRITE / CMD_READONLY flags.  Rows for
 * commands that the node does not implement are simply never used.
 * COMMAND GETKEYS and GETKEYSANDFLAGS apply the same key specs to the
 * request they are given.
 *
 * COMMAND DOCS gives each command's summary, since, group and complexity
 * from its row, and its arguments from its usage line (usage_find in
 * usage.c), parsed by usage_parse into a tree that this file writes as
 * Redis's argument maps.  redis-cli builds its typing hints from those maps
 * and asserts on their shape, so they must be well formed; test_usage
 * parses every usage line, so a bad one fails `make check`.  Should a line
 * still fail to parse, the command is documented without "arguments", as a
 * command that has no usage line.
 *
 * Invariants: handlers never keep pointers into argv after they return;
 * every reply is exactly one RESP element.
 *
 * Thread-safety: handlers run on the event loop, which owns the node.
 *
 * Errors: bad input is an error reply with Redis's wording; nothing here
 * asserts on client input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/buf.h"
#include "server/client.h"
#include "server/cmd_server.h"
#include "server/command.h"
#include "server/node.h"
#include "server/reply.h"
#include "server/usage.h"
#include "server/util.h"

/* ------------------------------------------------------------------------ */
/* Redis metadata that struct command cannot carry                          */
/* ------------------------------------------------------------------------ */

enum meta_find { MS_RANGE = 0, MS_KEYNUM = 1 };

struct meta_spec {
    const char *notes;  /* NULL: no notes field */
    const char *flags;  /* space separated: "RW access update" */
    int index;          /* begin_search: index of the first key */
    int find;           /* enum meta_find */
    int a, b, c;        /* range: lastkey keystep limit;
                           keynum: keynumidx firstkey keystep */
};

struct cmd_meta {
    const char *name;        /* as in struct command, "config|set" style */
    const char *extra_flags; /* Redis flags without a CMD_* bit */
    const char *tips;        /* space separated */
    int nspecs;
    struct meta_spec specs[2];
};

/* Sorted by name (strcmp order) for bsearch.  Facts from Redis 7.0.15. */
static const struct cmd_meta redis_meta[] = {
    {"append", "", "", 1, {{NULL, "RW insert", 1, MS_RANGE, 0, 1, 0}}},
    {"auth", "allow_busy", "", 0, {{0}}},
    {"bgsave", "no_async_loading", "", 0, {{0}}},
    {"bzmpop", "blocking movablekeys", "", 1,
     {{NULL, "RW access delete", 2, MS_KEYNUM, 0, 1, 1}}},
    {"bzpopmax", "blocking", "", 1,
     {{NULL, "RW access delete", 1, MS_RANGE, -2, 1, 0}}},
    {"bzpopmin", "blocking", "", 1,
     {{NULL, "RW access delete", 1, MS_RANGE, -2, 1, 0}}},
    {"client|info", "", "nondeterministic_output", 0, {{0}}},
    {"client|list", "", "nondeterministic_output", 0, {{0}}},
    {"command", "", "nondeterministic_output_order", 0, {{0}}},
    {"command|docs", "", "nondeterministic_output_order", 0, {{0}}},
    {"command|info", "", "nondeterministic_output_order", 0, {{0}}},
    {"command|list", "", "nondeterministic_output_order", 0, {{0}}},
    {"config|set", "", "request_policy:all_nodes response_policy:all_succeeded",
     0, {{0}}},
    {"copy", "", "", 2,
     {{NULL, "RO access", 1, MS_RANGE, 0, 1, 0},
      {NULL, "OW update", 2, MS_RANGE, 0, 1, 0}}},
    {"dbsize", "", "request_policy:all_shards response_policy:agg_sum", 0,
     {{0}}},
    {"decr", "", "", 1, {{NULL, "RW access update", 1, MS_RANGE, 0, 1, 0}}},
    {"decrby", "", "", 1, {{NULL, "RW access update", 1, MS_RANGE, 0, 1, 0}}},
    {"del", "", "request_policy:multi_shard response_policy:agg_sum", 1,
     {{NULL, "RM delete", 1, MS_RANGE, -1, 1, 0}}},
    {"discard", "allow_busy", "", 0, {{0}}},
    {"exec", "skip_slowlog", "", 0, {{0}}},
    {"exists", "", "request_policy:multi_shard response_policy:agg_sum", 1,
     {{NULL, "RO", 1, MS_RANGE, -1, 1, 0}}},
    {"expire", "", "", 1, {{NULL, "RW update", 1, MS_RANGE, 0, 1, 0}}},
    {"expireat", "", "", 1, {{NULL, "RW update", 1, MS_RANGE, 0, 1, 0}}},
    {"expiretime", "", "", 1, {{NULL, "RO access", 1, MS_RANGE, 0, 1, 0}}},
    {"flushall", "", "request_policy:all_shards response_policy:all_succeeded",
     0, {{0}}},
    {"flushdb", "", "request_policy:all_shards response_policy:all_succeeded",
     0, {{0}}},
    {"get", "", "", 1, {{NULL, "RO access", 1, MS_RANGE, 0, 1, 0}}},
    {"getdel", "", "", 1, {{NULL, "RW access delete", 1, MS_RANGE, 0, 1, 0}}},
    {"getex", "", "", 1,
     {{"RW and UPDATE because it changes the TTL", "RW access update", 1,
       MS_RANGE, 0, 1, 0}}},
    {"getrange", "", "", 1, {{NULL, "RO access", 1, MS_RANGE, 0, 1, 0}}},
    {"getset", "", "", 1, {{NULL, "RW access update", 1, MS_RANGE, 0, 1, 0}}},
    {"hello", "allow_busy", "", 0, {{0}}},
    {"incr", "", "", 1, {{NULL, "RW access update", 1, MS_RANGE, 0, 1, 0}}},
    {"incrby", "", "", 1, {{NULL, "RW access update", 1, MS_RANGE, 0, 1, 0}}},
    {"incrbyfloat", "", "", 1,
     {{NULL, "RW access update", 1, MS_RANGE, 0, 1, 0}}},
    {"info", "",
     "nondeterministic_output request_policy:all_shards "
     "response_policy:special", 0, {{0}}},
    {"keys", "", "request_policy:all_shards nondeterministic_output_order", 0,
     {{0}}},
    {"lastsave", "", "nondeterministic_output", 0, {{0}}},
    {"lcs", "", "", 1, {{NULL, "RO access", 1, MS_RANGE, 1, 1, 0}}},
    {"memory|usage", "", "", 1, {{NULL, "RO", 2, MS_RANGE, 0, 1, 0}}},
    {"mget", "", "request_policy:multi_shard", 1,
     {{NULL, "RO access", 1, MS_RANGE, -1, 1, 0}}},
    {"mset", "", "request_policy:multi_shard response_policy:all_succeeded", 1,
     {{NULL, "OW update", 1, MS_RANGE, -1, 2, 0}}},
    {"msetnx", "", "request_policy:multi_shard response_policy:agg_min", 1,
     {{NULL, "OW insert", 1, MS_RANGE, -1, 2, 0}}},
    {"multi", "allow_busy", "", 0, {{0}}},
    {"persist", "", "", 1, {{NULL, "RW update", 1, MS_RANGE, 0, 1, 0}}},
    {"pexpire", "", "", 1, {{NULL, "RW update", 1, MS_RANGE, 0, 1, 0}}},
    {"pexpireat", "", "", 1, {{NULL, "RW update", 1, MS_RANGE, 0, 1, 0}}},
    {"pexpiretime", "", "", 1, {{NULL, "RO access", 1, MS_RANGE, 0, 1, 0}}},
    {"ping", "", "request_policy:all_shards response_policy:all_succeeded", 0,
     {{0}}},
    {"psetex", "", "", 1, {{NULL, "OW update", 1, MS_RANGE, 0, 1, 0}}},
    {"pttl", "", "nondeterministic_output", 1,
     {{NULL, "RO access", 1, MS_RANGE, 0, 1, 0}}},
    {"quit", "allow_busy", "", 0, {{0}}},
    {"randomkey", "", "request_policy:all_shards nondeterministic_output", 0,
     {{0}}},
    {"rename", "", "", 2,
     {{NULL, "RW access delete", 1, MS_RANGE, 0, 1, 0},
      {NULL, "OW update", 2, MS_RANGE, 0, 1, 0}}},
    {"renamenx", "", "", 2,
     {{NULL, "RW access delete", 1, MS_RANGE, 0, 1, 0},
      {NULL, "OW insert", 2, MS_RANGE, 0, 1, 0}}},
    {"reset", "allow_busy", "", 0, {{0}}},
    {"sadd", "", "", 1, {{NULL, "RW insert", 1, MS_RANGE, 0, 1, 0}}},
    {"save", "no_async_loading", "", 0, {{0}}},
    {"scan", "", "nondeterministic_output request_policy:special", 0, {{0}}},
    {"scard", "", "", 1, {{NULL, "RO", 1, MS_RANGE, 0, 1, 0}}},
    {"sdiff", "", "nondeterministic_output_order", 1,
     {{NULL, "RO access", 1, MS_RANGE, -1, 1, 0}}},
    {"sdiffstore", "", "", 2,
     {{NULL, "OW update", 1, MS_RANGE, 0, 1, 0},
      {NULL, "RO access", 2, MS_RANGE, -1, 1, 0}}},
    {"set", "", "", 1,
     {{"RW and ACCESS due to the optional `GET` argument",
       "RW access update variable_flags", 1, MS_RANGE, 0, 1, 0}}},
    {"setex", "", "", 1, {{NULL, "OW update", 1, MS_RANGE, 0, 1, 0}}},
    {"setnx", "", "", 1, {{NULL, "OW insert", 1, MS_RANGE, 0, 1, 0}}},
    {"setrange", "", "", 1, {{NULL, "RW update", 1, MS_RANGE, 0, 1, 0}}},
    {"shutdown", "allow_busy", "", 0, {{0}}},
    {"sinter", "", "nondeterministic_output_order", 1,
     {{NULL, "RO access", 1, MS_RANGE, -1, 1, 0}}},
    {"sintercard", "movablekeys", "", 1,
     {{NULL, "RO access", 1, MS_KEYNUM, 0, 1, 1}}},
    {"sinterstore", "", "", 2,
     {{NULL, "RW update", 1, MS_RANGE, 0, 1, 0},
      {NULL, "RO access", 2, MS_RANGE, -1, 1, 0}}},
    {"sismember", "", "", 1, {{NULL, "RO", 1, MS_RANGE, 0, 1, 0}}},
    {"smembers", "", "nondeterministic_output_order", 1,
     {{NULL, "RO access", 1, MS_RANGE, 0, 1, 0}}},
    {"smismember", "", "", 1,
     {{NULL, "RO access", 1, MS_RANGE, 0, 1, 0}}},
    {"smove", "", "", 2,
     {{NULL, "RW access delete", 1, MS_RANGE, 0, 1, 0},
      {NULL, "RW insert", 2, MS_RANGE, 0, 1, 0}}},
    {"spop", "", "nondeterministic_output", 1,
     {{NULL, "RW access delete", 1, MS_RANGE, 0, 1, 0}}},
    {"srandmember", "", "nondeterministic_output", 1,
     {{NULL, "RO access", 1, MS_RANGE, 0, 1, 0}}},
    {"srem", "", "", 1, {{NULL, "RW delete", 1, MS_RANGE, 0, 1, 0}}},
    {"sscan", "", "nondeterministic_output", 1,
     {{NULL, "RO access", 1, MS_RANGE, 0, 1, 0}}},
    {"strlen", "", "", 1, {{NULL, "RO", 1, MS_RANGE, 0, 1, 0}}},
    {"substr", "", "", 1, {{NULL, "RO access", 1, MS_RANGE, 0, 1, 0}}},
    {"sunion", "", "nondeterministic_output_order", 1,
     {{NULL, "RO access", 1, MS_RANGE, -1, 1, 0}}},
    {"sunionstore", "", "", 2,
     {{NULL, "OW update", 1, MS_RANGE, 0, 1, 0},
      {NULL, "RO access", 2, MS_RANGE, -1, 1, 0}}},
    {"time", "", "nondeterministic_output", 0, {{0}}},
    {"touch", "", "request_policy:multi_shard response_policy:agg_sum", 1,
     {{NULL, "RO", 1, MS_RANGE, -1, 1, 0}}},
    {"ttl", "", "nondeterministic_output", 1,
     {{NULL, "RO access", 1, MS_RANGE, 0, 1, 0}}},
    {"type", "", "", 1, {{NULL, "RO", 1, MS_RANGE, 0, 1, 0}}},
    {"unlink", "", "request_policy:multi_shard response_policy:agg_sum", 1,
     {{NULL, "RM delete", 1, MS_RANGE, -1, 1, 0}}},
    {"unwatch", "allow_busy", "", 0, {{0}}},
    {"wait", "", "request_policy:all_shards response_policy:agg_min", 0, {{0}}},
    {"watch", "allow_busy", "", 1, {{NULL, "RO", 1, MS_RANGE, -1, 1, 0}}},

    {"zadd", "", "", 1, {{NULL, "RW update", 1, MS_RANGE, 0, 1, 0}}},
    {"zcard", "", "", 1, {{NULL, "RO", 1, MS_RANGE, 0, 1, 0}}},
    {"zcount", "", "", 1, {{NULL, "RO access", 1, MS_RANGE, 0, 1, 0}}},
    {"zdiff", "movablekeys", "", 1,
     {{NULL, "RO access", 1, MS_KEYNUM, 0, 1, 1}}},
    {"zdiffstore", "movablekeys", "", 2,
     {{NULL, "OW update", 1, MS_RANGE, 0, 1, 0},
      {NULL, "RO access", 2, MS_KEYNUM, 0, 1, 1}}},
    {"zincrby", "", "", 1, {{NULL, "RW access update", 1, MS_RANGE, 0, 1, 0}}},
    {"zinter", "movablekeys", "", 1,
     {{NULL, "RO access", 1, MS_KEYNUM, 0, 1, 1}}},
    {"zintercard", "movablekeys", "", 1,
     {{NULL, "RO access", 1, MS_KEYNUM, 0, 1, 1}}},
    {"zinterstore", "movablekeys", "", 2,
     {{NULL, "OW update", 1, MS_RANGE, 0, 1, 0},
      {NULL, "RO access", 2, MS_KEYNUM, 0, 1, 1}}},
    {"zlexcount", "", "", 1, {{NULL, "RO access", 1, MS_RANGE, 0, 1, 0}}},
    {"zmpop", "movablekeys", "", 1,
     {{NULL, "RW access delete", 1, MS_KEYNUM, 0, 1, 1}}},
    {"zmscore", "", "", 1, {{NULL, "RO access", 1, MS_RANGE, 0, 1, 0}}},
    {"zpopmax", "", "", 1, {{NULL, "RW access delete", 1, MS_RANGE, 0, 1, 0}}},
    {"zpopmin", "", "", 1, {{NULL, "RW access delete", 1, MS_RANGE, 0, 1, 0}}},
    {"zrandmember", "", "nondeterministic_output", 1,
     {{NULL, "RO access", 1, MS_RANGE, 0, 1, 0}}},
    {"zrange", "", "", 1, {{NULL, "RO access", 1, MS_RANGE, 0, 1, 0}}},
    {"zrangebylex", "", "", 1, {{NULL, "RO access", 1, MS_RANGE, 0, 1, 0}}},
    {"zrangebyscore", "", "", 1, {{NULL, "RO access", 1, MS_RANGE, 0, 1, 0}}},
    {"zrangestore", "", "", 2,
     {{NULL, "OW update", 1, MS_RANGE, 0, 1, 0},
      {NULL, "RO access", 2, MS_RANGE, 0, 1, 0}}},
    {"zrank", "", "", 1, {{NULL, "RO access", 1, MS_RANGE, 0, 1, 0}}},
    {"zrem", "", "", 1, {{NULL, "RW delete", 1, MS_RANGE, 0, 1, 0}}},
    {"zremrangebylex", "", "", 1, {{NULL, "RW delete", 1, MS_RANGE, 0, 1, 0}}},
    {"zremrangebyrank", "", "", 1, {{NULL, "RW delete", 1, MS_RANGE, 0, 1, 0}}},
    {"zremrangebyscore", "", "", 1,
     {{NULL, "RW delete", 1, MS_RANGE, 0, 1, 0}}},
    {"zrevrange", "", "", 1, {{NULL, "RO access", 1, MS_RANGE, 0, 1, 0}}},
    {"zrevrangebylex", "", "", 1, {{NULL, "RO access", 1, MS_RANGE, 0, 1, 0}}},
    {"zrevrangebyscore", "", "", 1,
     {{NULL, "RO access", 1, MS_RANGE, 0, 1, 0}}},
    {"zrevrank", "", "", 1, {{NULL, "RO access", 1, MS_RANGE, 0, 1, 0}}},
    {"zscan", "", "nondeterministic_output", 1,
     {{NULL, "RO access", 1, MS_RANGE, 0, 1, 0}}},
    {"zscore", "", "", 1, {{NULL, "RO access", 1, MS_RANGE, 0, 1, 0}}},
    {"zunion", "movablekeys", "", 1,
     {{NULL, "RO access", 1, MS_KEYNUM, 0, 1, 1}}},
    {"zunionstore", "movablekeys", "", 2,
     {{NULL, "OW update", 1, MS_RANGE, 0, 1, 0},
      {NULL, "RO access", 2, MS_KEYNUM, 0, 1, 1}}},
};

static int server_meta_cmp(const void *key, const void *elem)
{
    return strcmp((const char *)key, ((const struct cmd_meta *)elem)->name);
}

static const struct cmd_meta *server_meta_find(const char *name)
{
    return bsearch(name, redis_meta, DYN_ARRAY_LEN(redis_meta),
                   sizeof(redis_meta[0]), server_meta_cmp);
}

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */
/* ------------------------------------------------------------------------ */

/* Calls fn for each space-separated word of list. */
typedef void (*word_fn)(void *ctx, const char *w, size_t n);

static void server_words_each(const char *list, word_fn fn, void *ctx)
{
    const char *p = list ? list : "";
    while (*p) {
        while (*p == ' ')
            p++;
        const char *s = p;
        while (*p && *p != ' ')
            p++;
        if (p > s)
            fn(ctx, s, (size_t)(p - s));
    }
}

static size_t server_words_count(const char *list)
{
    size_t n = 0;
    const char *p = list ? list : "";
    while (*p) {
        while (*p == ' ')
            p++;
        if (*p)
            n++;
        while (*p && *p != ' ')
            p++;
    }
    return n;
}

static int server_words_has(const char *list, const char *w)
{
    size_t wl = strlen(w);
    const char *p = list ? list : "";
    while (*p) {
        while (*p == ' ')
            p++;
        const char *s = p;
        while (*p && *p != ' ')
            p++;
        if ((size_t)(p - s) == wl && memcmp(s, w, wl) == 0)
            return 1;
    }
    return 0;
}

/* Looks a name up as COMMAND INFO / DOCS do: "get" or "config|get". */
static const struct command *
server_lookup_full(const struct command_registry *r,
                   const char *name, size_t len)
{
    const char *bar = memchr(name, '|', len);
    if (!bar)
        return command_lookup(r, name, len);
    const struct command *top = command_lookup(r, name, (size_t)(bar - name));
    if (!top)
        return NULL;
    return server_sub_find(top->subcommands, bar + 1,
                    len - (size_t)(bar - name) - 1);
}

static int server_str2ll_arg(const struct dyn_arg *a, long long *v)
{
    return dyn_str2ll(a->p, a->len, v);
}

/* ------------------------------------------------------------------------ */
/* COMMAND                                                                  */
/* ------------------------------------------------------------------------ */

/* Redis's order of flag names in COMMAND INFO; `bit` 0 = only from the
 * redis_meta extra flags. */
static const struct {
    const char *name;
    unsigned bit;
} flag_names[] = {
    {"write", CMD_WRITE},
    {"readonly", CMD_READONLY},
    {"denyoom", CMD_DENYOOM},
    {"module", 0},
    {"admin", CMD_ADMIN},
    {"pubsub", 0},
    {"noscript", CMD_NOSCRIPT},
    {"blocking", 0},
    {"loading", CMD_LOADING},
    {"stale", CMD_STALE},
    {"skip_monitor", 0},
    {"skip_slowlog", 0},
    {"asking", 0},
    {"fast", CMD_FAST},
    {"no_auth", CMD_NO_AUTH},
    {"no_mandatory_keys", 0},
    {"no_async_loading", 0},
    {"no_multi", CMD_MULTI_DENIED},
    {"movablekeys", 0},
    {"allow_busy", 0},
};

/* Redis's order of ACL categories (ACL CAT). */
static const char *const acl_order[] = {
    "keyspace", "read", "write", "set", "sortedset", "list", "hash",
    "string", "bitmap", "hyperloglog", "geo", "stream", "pubsub", "admin",
    "fast", "slow", "blocking", "dangerous", "connection", "transaction",
    "scripting",
};

static int server_flag_present(const struct command *cmd,
                               const struct cmd_meta *m,
                               size_t i)
{
    if (flag_names[i].bit && (cmd->flags & flag_names[i].bit))
        return 1;
    return m && server_words_has(m->extra_flags, flag_names[i].name);
}

static int server_acl_known(const char *w, size_t n)
{
    if (n < 2 || w[0] != '@')
        return 0;
    for (size_t i = 0; i < DYN_ARRAY_LEN(acl_order); i++)
        if (strlen(acl_order[i]) == n - 1 &&
            memcmp(acl_order[i], w + 1, n - 1) == 0)
            return 1;
    return 0;
}

static void server_acl_emit_unknown(void *ctx, const char *w, size_t n)
{
    if (!server_acl_known(w, n))
        reply_status_len(ctx, w, n);
}

static void server_emit_status_word(void *ctx, const char *w, size_t n)
{
    reply_status_len(ctx, w, n);
}

static void server_emit_bulk_word(void *ctx, const char *w, size_t n)
{
    reply_bulk(ctx, w, n);
}

static void server_reply_key_spec(struct dbuf *b, int proto,
                                  const struct meta_spec *sp)
{
    reply_map(b, proto, sp->notes ? 4 : 3);
    if (sp->notes) {
        reply_bulk_cstr(b, "notes");
        reply_bulk_cstr(b, sp->notes);
    }
    reply_bulk_cstr(b, "flags");
    reply_set(b, proto, (long long)server_words_count(sp->flags));
    server_words_each(sp->flags, server_emit_status_word, b);

    reply_bulk_cstr(b, "begin_search");
    reply_map(b, proto, 2);
    reply_bulk_cstr(b, "type");
    reply_bulk_cstr(b, "index");
    reply_bulk_cstr(b, "spec");
    reply_map(b, proto, 1);
    reply_bulk_cstr(b, "index");
    reply_int(b, sp->index);

    reply_bulk_cstr(b, "find_keys");
    reply_map(b, proto, 2);
    reply_bulk_cstr(b, "type");
    if (sp->find == MS_RANGE) {
        reply_bulk_cstr(b, "range");
        reply_bulk_cstr(b, "spec");
        reply_map(b, proto, 3);
        reply_bulk_cstr(b, "lastkey");
        reply_int(b, sp->a);
        reply_bulk_cstr(b, "keystep");
        reply_int(b, sp->b);
        reply_bulk_cstr(b, "limit");
        reply_int(b, sp->c);
    } else {
        reply_bulk_cstr(b, "keynum");
        reply_bulk_cstr(b, "spec");
        reply_map(b, proto, 3);
        reply_bulk_cstr(b, "keynumidx");
        reply_int(b, sp->a);
        reply_bulk_cstr(b, "firstkey");
        reply_int(b, sp->b);
        reply_bulk_cstr(b, "keystep");
        reply_int(b, sp->c);
    }
}

/* The one key spec of a command without a redis_meta row. */
static void server_derive_spec(const struct command *cmd, struct meta_spec *sp)
{
    memset(sp, 0, sizeof *sp);
    if (cmd->flags & CMD_WRITE)
        sp->flags = (cmd->flags & CMD_READONLY) ? "RW access update"
                                                : "RW update";
    else if (cmd->flags & CMD_READONLY)
        sp->flags = "RO access";
    else
        sp->flags = "RW access update";
    sp->index = cmd->first_key;
    sp->find = MS_RANGE;
    sp->a = cmd->last_key < 0 ? cmd->last_key : cmd->last_key - cmd->first_key;
    sp->b = cmd->key_step > 0 ? cmd->key_step : 1;
    sp->c = 0;
}

/* A command without Redis's key specs: its row's keys as specs, into
 * sp[0..1]; the count (0: no key).  A numkeys command (numkeys_at) gets a
 * keynum spec after a range spec for a key before the count (ZUNIONSTORE's
 * destination). */
static int server_derive_specs(const struct command *cmd,
                               struct meta_spec sp[2])
{
    int n = 0;
    if (cmd->first_key > 0 &&
        (!cmd->numkeys_at || cmd->first_key < cmd->numkeys_at)) {
        server_derive_spec(cmd, &sp[n]);
        if (cmd->numkeys_at) { /* only the key before the count */
            sp[n].a = 0;
            sp[n].b = 1;
        }
        n++;
    }
    if (cmd->numkeys_at) {
        server_derive_spec(cmd, &sp[n]);
        sp[n].index = cmd->numkeys_at;
        sp[n].find = MS_KEYNUM;
        sp[n].a = 0; /* the count is at index */
        sp[n].b = 1; /* the first key right after it */
        sp[n].c = 1;
        n++;
    }
    return n;
}

static void server_reply_command_info(struct dbuf *b, int proto,
                                      const struct command *cmd)
{
    const struct cmd_meta *m = server_meta_find(cmd->name);

    reply_array(b, 10);
    reply_bulk_cstr(b, cmd->name);
    reply_int(b, cmd->arity);

    long long nflags = 0;
    for (size_t i = 0; i < DYN_ARRAY_LEN(flag_names); i++)
        nflags += server_flag_present(cmd, m, i);
    reply_set(b, proto, nflags);
    for (size_t i = 0; i < DYN_ARRAY_LEN(flag_names); i++)
        if (server_flag_present(cmd, m, i))
            reply_status(b, flag_names[i].name);

    reply_int(b, cmd->first_key);
    reply_int(b, cmd->last_key);
    reply_int(b, cmd->key_step);

    /* ACL categories in Redis's order, then any of our own. */
    reply_set(b, proto, (long long)server_words_count(cmd->acl_categories));
    for (size_t i = 0; i < DYN_ARRAY_LEN(acl_order); i++) {
        char w[32];
        snprintf(w, sizeof w, "@%s", acl_order[i]);
        if (server_words_has(cmd->acl_categories, w))
            reply_status(b, w);
    }
    server_words_each(cmd->acl_categories, server_acl_emit_unknown, b);

    const char *tips = m ? m->tips : "";
    reply_set(b, proto, (long long)server_words_count(tips));
    server_words_each(tips, server_emit_bulk_word, b);

    if (m) {
        reply_set(b, proto, m->nspecs);
        for (int i = 0; i < m->nspecs; i++)
            server_reply_key_spec(b, proto, &m->specs[i]);
    } else if (cmd->first_key > 0 || cmd->numkeys_at) {
        struct meta_spec sp[2];
        int nsp = server_derive_specs(cmd, sp);
        reply_set(b, proto, nsp);
        for (int i = 0; i < nsp; i++)
            server_reply_key_spec(b, proto, &sp[i]);
    } else {
        reply_set(b, proto, 0);
    }

    long long nsub = 0;
    if (cmd->subcommands)
        for (const struct command *s = cmd->subcommands; s->name; s++)
            nsub++;
    reply_set(b, proto, nsub);
    for (long long i = 0; i < nsub; i++)
        server_reply_command_info(b, proto, &cmd->subcommands[i]);
}

/* -- COMMAND DOCS arguments ----------------------------------------------
 *
 * A command's usage line, parsed by usage.c into a tree (usage.h lists the
 * notation), written as Redis's argument maps: name, type, token, flags
 * (optional, multiple) and, for a oneof or a block, its arguments. */
static void server_usage_emit(struct dbuf *b, int proto,
                              const struct usage_tree *t, int i)
{
    for (; i >= 0; i = t->arg[i].next) {
        const struct usage_arg *a = &t->arg[i];
        int nflags = a->optional + a->multiple;
        long long fields = 2 + (a->token[0] != 0) + (nflags > 0) +
                           (a->child >= 0);
        reply_map(b, proto, fields);
        reply_bulk_cstr(b, "name");
        reply_bulk_cstr(b, a->name);
        reply_bulk_cstr(b, "type");
        reply_bulk_cstr(b, usage_type_name(a->type));
        if (a->token[0]) {
            reply_bulk_cstr(b, "token");
            reply_bulk_cstr(b, a->token);
        }
        if (nflags) {
            reply_bulk_cstr(b, "flags");
            reply_set(b, proto, nflags);
            if (a->optional)
                reply_status(b, "optional");
            if (a->multiple)
                reply_status(b, "multiple");
        }
        if (a->child >= 0) {
            reply_bulk_cstr(b, "arguments");
            reply_array(b, usage_count(t, a->child));
            server_usage_emit(b, proto, t, a->child);
        }
    }
}

static void server_reply_command_docs(struct dbuf *b, int proto,
                                      const struct command *cmd)
{
    const char *fields[4][2] = {
        {"summary", cmd->summary},
        {"since", cmd->since},
        {"group", cmd->group},
        {"complexity", cmd->complexity},
    };
    long long nsub = 0;
    if (cmd->subcommands)
        for (const struct command *s = cmd->subcommands; s->name; s++)
            nsub++;
    struct usage_tree *tree = NULL;
    int args = -1;
    const char *usage = usage_find(cmd->name);
    if (usage) {
        tree = dyn_malloc(sizeof *tree);
        if (usage_parse(tree, usage) == 0)
            args = tree->head;
    }
    long long n = (nsub ? 1 : 0) + (args >= 0 ? 1 : 0);
    for (int i = 0; i < 4; i++)
        n += fields[i][1] != NULL;
    reply_map(b, proto, n);
    for (int i = 0; i < 4; i++) {
        if (!fields[i][1])
            continue;
        reply_bulk_cstr(b, fields[i][0]);
        reply_bulk_cstr(b, fields[i][1]);
    }
    if (args >= 0) {
        reply_bulk_cstr(b, "arguments");
        reply_array(b, usage_count(tree, args));
        server_usage_emit(b, proto, tree, args);
    }
    dyn_free(tree);
    if (nsub) {
        reply_bulk_cstr(b, "subcommands");
        reply_map(b, proto, nsub);
        for (long long i = 0; i < nsub; i++) {
            reply_bulk_cstr(b, cmd->subcommands[i].name);
            server_reply_command_docs(b, proto, &cmd->subcommands[i]);
        }
    }
}

static void server_command_all(struct client *c, int argc,
                               const struct dyn_arg *argv)
{
    const struct command_registry *r = c->node->commands;
    size_t n = command_count(r);
    reply_array(&c->obuf, (long long)n);
    for (size_t i = 0; i < n; i++)
        server_reply_command_info(&c->obuf, c->resp, command_at(r, i));
}

static void server_command_count_proc(struct client *c, int argc,
                                      const struct dyn_arg *argv)
{
    reply_int(&c->obuf, (long long)command_count(c->node->commands));
}

static void server_command_info_proc(struct client *c, int argc,
                                     const struct dyn_arg *argv)
{
    if (argc == 2) {
        server_command_all(c, argc, argv);
        return;
    }
    const struct command_registry *r = c->node->commands;
    reply_array(&c->obuf, argc - 2);
    for (int i = 2; i < argc; i++) {
        const struct command *cmd =
            server_lookup_full(r, argv[i].p, argv[i].len);
        if (cmd)
            server_reply_command_info(&c->obuf, c->resp, cmd);
        else
            reply_null(&c->obuf, c->resp);
    }
}

static void server_command_docs_proc(struct client *c, int argc,
                                     const struct dyn_arg *argv)
{
    const struct command_registry *r = c->node->commands;
    struct dbuf *b = &c->obuf;
    if (argc == 2) {
        size_t n = command_count(r);
        reply_map(b, c->resp, (long long)n);
        for (size_t i = 0; i < n; i++) {
            const struct command *cmd = command_at(r, i);
            reply_bulk_cstr(b, cmd->name);
            server_reply_command_docs(b, c->resp, cmd);
        }
        return;
    }
    /* Unknown names are left out, as Redis does. */
    size_t off = reply_defer(b);
    long long found = 0;
    for (int i = 2; i < argc; i++) {
        const struct command *cmd =
            server_lookup_full(r, argv[i].p, argv[i].len);
        if (!cmd)
            continue;
        reply_bulk_cstr(b, cmd->name);
        server_reply_command_docs(b, c->resp, cmd);
        found++;
    }
    reply_defer_set(b, off, c->resp, '%', found);
}

struct list_filter {
    int kind; /* 0 none, 1 pattern, 2 aclcat, 3 module (never matches) */
    const char *p;
    size_t len;
};

static int server_list_match(const struct command *cmd,
                             const struct list_filter *f)
{
    switch (f->kind) {
    case 1:
        return dyn_glob_match(f->p, f->len, cmd->name, strlen(cmd->name), 1);
    case 2: {
        char w[64];
        if (f->len + 2 > sizeof w)
            return 0;
        w[0] = '@';
        for (size_t i = 0; i < f->len; i++)
            w[i + 1] = (char)((f->p[i] >= 'A' && f->p[i] <= 'Z')
                                  ? f->p[i] + 32 : f->p[i]);
        w[f->len + 1] = '\0';
        return server_words_has(cmd->acl_categories, w);
    }
    case 3:
        return 0;
    default:
        return 1;
    }
}

static void server_command_list_proc(struct client *c, int argc,
                                     const struct dyn_arg *argv)
{
    struct list_filter f = {0, NULL, 0};
    if (argc != 2) {
        if (argc != 5 || !dyn_arg_is(argv[2].p, argv[2].len, "filterby")) {
            client_error(c, ERR_SYNTAX);
            return;
        }
        if (dyn_arg_is(argv[3].p, argv[3].len, "pattern"))
            f.kind = 1;
        else if (dyn_arg_is(argv[3].p, argv[3].len, "aclcat"))
            f.kind = 2;
        else if (dyn_arg_is(argv[3].p, argv[3].len, "module"))
            f.kind = 3;
        else {
            client_error(c, ERR_SYNTAX);
            return;
        }
        f.p = argv[4].p;
        f.len = argv[4].len;
    }
    const struct command_registry *r = c->node->commands;
    struct dbuf *b = &c->obuf;
    size_t off = reply_defer(b);
    long long n = 0;
    for (size_t i = 0; i < command_count(r); i++) {
        const struct command *cmd = command_at(r, i);
        if (server_list_match(cmd, &f)) {
            reply_bulk_cstr(b, cmd->name);
            n++;
        }
        if (cmd->subcommands)
            for (const struct command *s = cmd->subcommands; s->name; s++)
                if (server_list_match(s, &f)) {
                    reply_bulk_cstr(b, s->name);
                    n++;
                }
    }
    reply_defer_set(b, off, c->resp, '*', n);
}

/* The key specs of cmd: its redis_meta row's, or one derived from its
 * first/last/step keys.  Returns how many (0 when it takes no keys). */
static int server_specs_of(const struct command *cmd,
                           const struct meta_spec **out,
                           struct meta_spec derived[2])
{
    const struct cmd_meta *m = server_meta_find(cmd->name);
    if (m) {
        *out = m->specs;
        return m->nspecs;
    }
    *out = derived;
    return server_derive_specs(cmd, derived);
}

/* The access flags of one key as GETKEYSANDFLAGS shows them: SET's depend
 * on its GET option (Redis's "variable_flags"). */
static const char *server_key_flags(const struct command *cmd,
                                    const struct meta_spec *sp, int argc,
                                    const struct dyn_arg *argv)
{
    if (!strstr(sp->flags, "variable_flags"))
        return sp->flags;
    if (strcmp(cmd->name, "set") == 0) {
        for (int i = 3; i < argc; i++)
            if (dyn_arg_is(argv[i].p, argv[i].len, "get"))
                return "RW access update";
        return "OW update";
    }
    return "RW access update";
}

/* COMMAND GETKEYS / GETKEYSANDFLAGS: argv[2..] is the inspected request. */
static void server_getkeys(struct client *c, int argc,
                           const struct dyn_arg *argv, int with_flags)
{
    const struct dyn_arg *rq = argv + 2;
    int n = argc - 2;
    const struct command *cmd =
        command_lookup(c->node->commands, rq[0].p, rq[0].len);
    if (cmd && cmd->subcommands && n > 1) {
        const struct command *s =
            server_sub_find(cmd->subcommands, rq[1].p, rq[1].len);
        if (s)
            cmd = s;
    }
    if (!cmd) {
        client_error(c, "ERR Invalid command specified");
        return;
    }
    if (!server_arity_ok(cmd, n)) {
        client_error(c, 
                     "ERR Invalid number of arguments specified for command");
        return;
    }
    struct meta_spec derived[2];
    const struct meta_spec *specs = NULL;
    int nspecs = server_specs_of(cmd, &specs, derived);
    struct dbuf *b = &c->obuf;
    size_t off = reply_defer(b);
    long long found = 0;
    for (int k = 0; k < nspecs; k++) {
        const struct meta_spec *sp = &specs[k];
        int first = sp->index, last, step;
        if (first >= n)
            continue;
        if (sp->find == MS_RANGE) {
            last = sp->a >= 0 ? first + sp->a : n + sp->a;
            step = sp->b > 0 ? sp->b : 1;
        } else {
            long long nk;
            int at = first + sp->a;
            if (at >= n)
                continue;
            /* a count that is no number, below 1, or names more keys than
             * are given: Redis's numkeys commands (genericGetKeys) refuse */
            int bad = server_str2ll_arg(&rq[at], &nk) < 0 || nk < 1;
            first = at + sp->b;
            step = sp->c > 0 ? sp->c : 1;
            if (!bad && nk > n) /* clamp before multiplying */
                nk = n;
            last = bad ? n : first + (int)nk * step - 1;
            if (last >= n) {
                b->len = off;
                c->errors++;
                reply_error(b, "ERR Invalid arguments specified for command");
                return;
            }
        }
        if (last >= n)
            last = n - 1;
        const char *fl = server_key_flags(cmd, sp, n, rq);
        for (int i = first; i <= last; i += step) {
            if (with_flags) {
                reply_array(b, 2);
                reply_bulk(b, rq[i].p, rq[i].len);
                reply_set(b, c->resp, (long long)server_words_count(fl));
                server_words_each(fl, server_emit_status_word, b);
            } else {
                reply_bulk(b, rq[i].p, rq[i].len);
            }
            found++;
        }
    }
    if (!found) {
        b->len = off; /* drop the placeholder */
        c->errors++;
        reply_error(b, "ERR The command has no key arguments");
        return;
    }
    reply_defer_set(b, off, c->resp, '*', found);
}

static void server_command_getkeys_proc(struct client *c, int argc,
                                        const struct dyn_arg *argv)
{
    server_getkeys(c, argc, argv, 0);
}

static void server_command_getkeysandflags_proc(struct client *c, int argc,
                                                const struct dyn_arg *argv)
{
    server_getkeys(c, argc, argv, 1);
}

static void server_command_help_proc(struct client *c, int argc,
                                     const struct dyn_arg *argv)
{
    static const char *const lines[] = {
        "(no subcommand)",
        "    Return details about all Redis commands.",
        "COUNT",
        "    Return the total number of commands in this Redis server.",
        "LIST",
        "    Return a list of all commands in this Redis server.",
        "INFO [<command-name> ...]",
        "    Return details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "DOCS [<command-name> ...]",
        "    Return documentation details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "GETKEYS <full-command>",
        "    Return the keys from a full Redis command.",
        "GETKEYSANDFLAGS <full-command>",
        "    Return the keys and the access flags from a full Redis command.",
        NULL,
    };
    server_reply_help(c, "COMMAND", lines);
}
/* ------------------------------------------------------------------------ */
/* Table                                                                    */
/* ------------------------------------------------------------------------ */

/* Subcommand rows are in the order Redis 7.0 lists them in COMMAND INFO. */
static const struct command command_subcommands[] = {
    {.name = "command|getkeys", .proc = server_command_getkeys_proc,
     .arity = -4,
     .flags = CMDI_FLAGS, .acl_categories = "@slow @connection",
     .group = "server", .since = "2.8.13",
     .summary = "Say which arguments of a full command are keys",
     .complexity = "O(N) where N is the number of arguments to the command"},
    {.name = "command|list", .proc = server_command_list_proc, .arity = -2,
     .flags = CMDI_FLAGS, .acl_categories = "@slow @connection",
     .group = "server", .since = "7.0.0",
     .summary = "Name every command, optionally filtered",
     .complexity = "O(N) where N is the total number of commands"},
    {.name = "command|count", .proc = server_command_count_proc, .arity = 2,
     .flags = CMDI_FLAGS, .acl_categories = "@slow @connection",
     .group = "server", .since = "2.8.13",
     .summary = "Count the commands this server knows",
     .complexity = "O(1)"},
    {.name = "command|getkeysandflags",
     .proc = server_command_getkeysandflags_proc, .arity = -4,
     .flags = CMDI_FLAGS, .acl_categories = "@slow @connection",
     .group = "server", .since = "7.0.0",
     .summary = "Say which arguments of a full command are keys, and how "
                "each is used",
     .complexity = "O(N) where N is the number of arguments to the command"},
    {.name = "command|docs", .proc = server_command_docs_proc, .arity = -2,
     .flags = CMDI_FLAGS, .acl_categories = "@slow @connection",
     .group = "server", .since = "7.0.0",
     .summary = "Document the named commands, or all of them",
     .complexity = "O(N) where N is the number of commands to look up"},
    {.name = "command|info", .proc = server_command_info_proc, .arity = -2,
     .flags = CMDI_FLAGS, .acl_categories = "@slow @connection",
     .group = "server", .since = "2.8.13",
     .summary = "Describe the named commands, or all of them",
     .complexity = "O(N) where N is the number of commands to look up"},
    {.name = "command|help", .proc = server_command_help_proc, .arity = 2,
     .flags = CMDI_FLAGS, .acl_categories = "@slow @connection",
     .group = "server", .since = "5.0.0",
     .summary = "List the COMMAND subcommands", .complexity = "O(1)"},
    {.name = NULL},
};

/* The container runs its subcommands itself when the dispatcher hands it
 * the whole request. */
static void server_command_proc(struct client *c, int argc,
                                const struct dyn_arg *argv)
{
    if (argc == 1)
        server_command_all(c, argc, argv);
    else
        server_container_run(c, command_subcommands, "COMMAND", argc, argv);
}

const struct command cmd_command_table[] = {
    {.name = "command", .proc = server_command_proc, .arity = -1,
     .flags = CMDI_FLAGS,
     .acl_categories = "@slow @connection", .group = "server",
     .since = "2.8.13", .summary = "Describe the commands this server knows",
     .complexity = "O(N) where N is the total number of commands",
     .subcommands = command_subcommands},
    {.name = NULL},
};
