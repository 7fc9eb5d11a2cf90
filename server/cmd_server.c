/*
 * cmd_server.c -- the server's introspection commands: INFO, CONFIG,
 * COMMAND, LASTSAVE and MEMORY USAGE.
 *
 * Why this file exists: clients, tools and people look at a server through
 * these commands before anything else.  redis-cli runs COMMAND DOCS when it
 * starts interactively, client libraries read INFO's `loading` and
 * `redis_version`, benchmarks run CONFIG GET and CONFIG RESETSTAT.  So the
 * replies keep Redis 7.0's shapes exactly (which element is a set, which a
 * map, where a null goes), degrade to RESP2 as Redis does, and INFO keeps
 * Redis's section order and line format ("name:value\r\n", sections joined by
 * an empty line) with our own `dynamo` section after `keyspace`.
 *
 * COMMAND INFO is built from each command's row (struct command: arity,
 * flags, keys, ACL categories) plus a small table here (redis_meta) of the
 * facts a row cannot express: the Redis flags we have no bit for
 * (allow_busy, skip_slowlog...), the command tips, and Redis's key specs
 * (RW/RO/OW/RM and access/update/insert/delete, per key argument).  A
 * command without a redis_meta row gets one key spec derived from its
 * first/last/step keys and its CMD_WRITE / CMD_READONLY flags.  Rows for
 * commands that the node does not implement are simply never used.
 *
 * COMMAND DOCS gives each command's summary, since, group and complexity
 * from its row, and its arguments from usage_table: a syntax line in
 * Redis's notation, parsed into Redis's argument maps.  redis-cli builds its
 * typing hints from those maps, so they must be well formed: it asserts on
 * the reply's shape and would abort at start-up otherwise.
 *
 * CONFIG SET is atomic over all its name/value pairs: every name is checked
 * (known, not repeated) before anything changes, and if one value is
 * refused, the pairs already applied are set back to their old values.
 *
 * Invariants: handlers never keep pointers into argv after they return;
 * every reply is exactly one RESP element.
 *
 * Thread-safety: handlers run on the event loop, which owns the node.
 *
 * Errors: bad input is an error reply with Redis's wording; nothing here
 * asserts on client input.
 */
/* The generated config.h (PACKAGE_VERSION, DYN_NO_JEMALLOC), in angle
 * brackets: "config.h" would find server/config.h next to this file. */
#include <config.h>

#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#ifndef DYN_NO_JEMALLOC
/* Calling mallctl also keeps jemalloc in the link under --as-needed. */
#include <jemalloc/jemalloc.h>
#elif defined(__SANITIZE_ADDRESS__)
/* From the ASan runtime (sanitizer/allocator_interface.h, not always
 * installed). */
size_t __sanitizer_get_current_allocated_bytes(void);
size_t __sanitizer_get_heap_size(void);
#endif

#include "server/buf.h"
#include "server/client.h"
#include "server/command.h"
#include "cluster/cluster.h"
#include "server/config.h"
#include "server/db.h"
#include "server/engine.h"
#include "server/log.h"
#include "server/node.h"
#include "server/reply.h"
#include "server/store.h"
#include "server/util.h"
#include "cluster/object.h"

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
    {"save", "no_async_loading", "", 0, {{0}}},
    {"scan", "", "nondeterministic_output request_policy:special", 0, {{0}}},
    {"set", "", "", 1,
     {{"RW and ACCESS due to the optional `GET` argument",
       "RW access update variable_flags", 1, MS_RANGE, 0, 1, 0}}},
    {"setex", "", "", 1, {{NULL, "OW update", 1, MS_RANGE, 0, 1, 0}}},
    {"setnx", "", "", 1, {{NULL, "OW insert", 1, MS_RANGE, 0, 1, 0}}},
    {"setrange", "", "", 1, {{NULL, "RW update", 1, MS_RANGE, 0, 1, 0}}},
    {"shutdown", "allow_busy", "", 0, {{0}}},
    {"strlen", "", "", 1, {{NULL, "RO", 1, MS_RANGE, 0, 1, 0}}},
    {"substr", "", "", 1, {{NULL, "RO access", 1, MS_RANGE, 0, 1, 0}}},
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
};

/* Argument syntax for COMMAND DOCS, in the notation of Redis's docs
 * ("key [key ...]", "[NX|XX]", "[EX seconds|PX milliseconds]").  It is
 * turned into Redis's argument maps, from which redis-cli builds the hints
 * it shows while a command is typed.  Sorted by name for bsearch. */
struct cmd_usage {
    const char *name;
    const char *usage;
};

static const struct cmd_usage usage_table[] = {
    {"append", "key value"},
    {"auth", "[username] password"},
    {"bgsave", "[SCHEDULE]"},
    {"client|list",
     "[TYPE NORMAL|MASTER|REPLICA|PUBSUB] [ID client-id [client-id ...]]"},
    {"client|no-evict", "ON|OFF"},
    {"client|pause", "timeout [WRITE|ALL]"},
    {"client|reply", "ON|OFF|SKIP"},
    {"client|setname", "connection-name"},
    {"command|docs", "[command-name [command-name ...]]"},
    {"command|info", "[command-name [command-name ...]]"},
    {"command|list",
     "[FILTERBY MODULE module-name|ACLCAT category|PATTERN pattern]"},
    {"config|get", "parameter [parameter ...]"},
    {"config|set", "parameter value [parameter value ...]"},
    {"copy", "source destination [DB destination-db] [REPLACE]"},
    {"decr", "key"},
    {"decrby", "key decrement"},
    {"del", "key [key ...]"},
    {"dynamo.config|get", "parameter"},
    {"dynamo.config|set", "parameter value"},
    {"dynamo.del", "key context [W w]"},
    {"dynamo.get", "key [R r]"},
    {"dynamo.local", "key"},
    {"dynamo.put", "key context value [W w]"},
    {"dynamo.vclock", "key"},
    {"echo", "message"},
    {"exists", "key [key ...]"},
    {"expire", "key seconds [NX|XX|GT|LT]"},
    {"expireat", "key unix-time-seconds [NX|XX|GT|LT]"},
    {"expiretime", "key"},
    {"flushall", "[ASYNC|SYNC]"},
    {"flushdb", "[ASYNC|SYNC]"},
    {"get", "key"},
    {"getdel", "key"},
    {"getex",
     "key [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT "
     "unix-time-milliseconds|PERSIST]"},
    {"getrange", "key start end"},
    {"getset", "key value"},
    {"hello", "[protover [AUTH username password] [SETNAME clientname]]"},
    {"incr", "key"},
    {"incrby", "key increment"},
    {"incrbyfloat", "key increment"},
    {"info", "[section [section ...]]"},
    {"keys", "pattern"},
    {"lcs", "key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]"},
    {"memory|usage", "key [SAMPLES count]"},
    {"mget", "key [key ...]"},
    {"mset", "key value [key value ...]"},
    {"msetnx", "key value [key value ...]"},
    {"persist", "key"},
    {"pexpire", "key milliseconds [NX|XX|GT|LT]"},
    {"pexpireat", "key unix-time-milliseconds [NX|XX|GT|LT]"},
    {"pexpiretime", "key"},
    {"ping", "[message]"},
    {"psetex", "key milliseconds value"},
    {"pttl", "key"},
    {"rename", "key newkey"},
    {"renamenx", "key newkey"},
    {"scan", "cursor [MATCH pattern] [COUNT count] [TYPE type]"},
    {"select", "index"},
    {"set",
     "key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT "
     "unix-time-seconds|PXAT unix-time-milliseconds|KEEPTTL]"},
    {"setex", "key seconds value"},
    {"setnx", "key value"},
    {"setrange", "key offset value"},
    {"shutdown", "[NOSAVE|SAVE] [NOW] [FORCE] [ABORT]"},
    {"strlen", "key"},
    {"substr", "key start end"},
    {"touch", "key [key ...]"},
    {"ttl", "key"},
    {"type", "key"},
    {"unlink", "key [key ...]"},
    {"wait", "numreplicas timeout"},
    {"watch", "key [key ...]"},
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

/* A NUL-terminated copy of an argument; the caller frees it. */
static char *server_arg_cstr(const struct dyn_arg *a)
{
    char *s = dyn_malloc(a->len + 1);
    memcpy(s, a->p, a->len);
    s[a->len] = '\0';
    return s;
}

/* The row of table `subs` whose name after '|' is `sub` (case-insensitive),
 * or NULL. */
static const struct command *server_sub_find(const struct command *subs,
                                             const char *sub, size_t len)
{
    if (!subs)
        return NULL;
    for (const struct command *s = subs; s->name; s++) {
        const char *bar = strchr(s->name, '|');
        const char *tail = bar ? bar + 1 : s->name;
        if (dyn_arg_is(sub, len, tail))
            return s;
    }
    return NULL;
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

static int server_arity_ok(const struct command *cmd, int argc)
{
    return cmd->arity > 0 ? argc == cmd->arity : argc >= -cmd->arity;
}

/* Runs the subcommand named by argv[1] from table `subs`, for a container
 * command whose subcommand the dispatcher did not resolve itself. */
static void server_container_run(struct client *c, const struct command *subs,
                                 const char *upname, int argc,
                                 const struct dyn_arg *argv)
{
    const struct command *sub = server_sub_find(subs, argv[1].p, argv[1].len);
    if (!sub) {
        int l = (int)DYN_MIN(argv[1].len, 128);
        client_errorf(c, "ERR unknown subcommand '%.*s'. Try %s HELP.",
                      l, argv[1].p, upname);
        return;
    }
    if (!server_arity_ok(sub, argc)) {
        command_reply_arity(c, sub->name);
        return;
    }
    sub->proc(c, argc, argv);
}

/* A help reply: one status line per entry, with Redis's HELP footer. */
static void server_reply_help(struct client *c, const char *upname,
                              const char *const *lines)
{
    size_t n = 0;
    while (lines[n])
        n++;
    reply_array(&c->obuf, (long long)n + 3);
    char head[128];
    snprintf(head, sizeof head,
             "%s <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
             upname);
    reply_status(&c->obuf, head);
    for (size_t i = 0; i < n; i++)
        reply_status(&c->obuf, lines[i]);
    reply_status(&c->obuf, "HELP");
    reply_status(&c->obuf, "    Prints this help.");
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
    } else if (cmd->first_key > 0) {
        struct meta_spec sp;
        server_derive_spec(cmd, &sp);
        reply_set(b, proto, 1);
        server_reply_key_spec(b, proto, &sp);
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

/* -- COMMAND DOCS arguments from a usage string ---------------------------
 *
 * The usage notation is parsed into a small tree (a pool of nodes linked by
 * index), then written as Redis's argument maps:
 *   word            {name word, type string|key}
 *   UPPER           {name upper, type pure-token, token UPPER}
 *   UPPER word      {name word, type string, token UPPER}
 *   a|b|c           {type oneof, arguments [a, b, c]}
 *   [x]             x with flag optional (a block when x is several args)
 *   x [x ...]       x with flag multiple (a block when x is several args)
 */
enum uarg_type { UA_STRING, UA_KEY, UA_TOKEN, UA_ONEOF, UA_BLOCK };

#define UA_POOL 96
#define UA_NAME 48

struct uarg {
    char name[UA_NAME];
    char token[UA_NAME];
    int type;          /* enum uarg_type */
    int optional, multiple;
    int child, next;   /* pool indices, -1 = none */
};

struct uarg_pool {
    struct uarg n[UA_POOL];
    int used;
};

static int server_ua_new(struct uarg_pool *P, int type, const char *name,
                         size_t nlen)
{
    if (P->used == UA_POOL)
        return -1;
    struct uarg *a = &P->n[P->used];
    memset(a, 0, sizeof *a);
    a->type = type;
    a->child = a->next = -1;
    snprintf(a->name, sizeof a->name, "%.*s", (int)DYN_MIN(nlen, UA_NAME - 1),
             name);
    return P->used++;
}

static int server_ua_is_upper(const char *w, size_t n)
{
    int letters = 0;
    for (size_t i = 0; i < n; i++) {
        if (w[i] >= 'a' && w[i] <= 'z')
            return 0;
        if (w[i] >= 'A' && w[i] <= 'Z')
            letters = 1;
    }
    return letters;
}

/* End of the item starting at s (a word or a bracketed group). */
static const char *server_ua_item_end(const char *s, const char *e)
{
    if (*s == '[') {
        int depth = 0;
        for (const char *p = s; p < e; p++) {
            if (*p == '[')
                depth++;
            else if (*p == ']' && --depth == 0)
                return p + 1;
        }
        return e;
    }
    const char *p = s;
    while (p < e && *p != ' ' && *p != '[')
        p++;
    return p;
}

/* The top-level '|' in [s, e), or NULL. */
static const char *server_ua_bar(const char *s, const char *e)
{
    int depth = 0;
    for (const char *p = s; p < e; p++) {
        if (*p == '[')
            depth++;
        else if (*p == ']')
            depth--;
        else if (*p == '|' && depth == 0)
            return p;
    }
    return NULL;
}

static int server_ua_seq(struct uarg_pool *P, const char *s, const char *e);

/* A list parsed from [s, e) as one node: itself when it is one argument,
 * else a block around it. */
static int server_ua_one(struct uarg_pool *P, const char *s, const char *e)
{
    int head = server_ua_seq(P, s, e);
    if (head < 0 || P->n[head].next < 0)
        return head;
    int b = server_ua_new(P, UA_BLOCK, "block", 5);
    if (b >= 0)
        P->n[b].child = head;
    return b;
}

static int server_ua_oneof(struct uarg_pool *P, const char *s, const char *e)
{
    int o = server_ua_new(P, UA_ONEOF, "choice", 6), last = -1;
    if (o < 0)
        return -1;
    while (s < e) {
        const char *bar = server_ua_bar(s, e);
        const char *ae = bar ? bar : e;
        int a = server_ua_one(P, s, ae);
        if (a >= 0) {
            if (last < 0)
                P->n[o].child = a;
            else
                P->n[last].next = a;
            last = a;
        }
        s = bar ? bar + 1 : e;
    }
    return o;
}

/* Parses a sequence of items; returns the index of the first, or -1. */
static int server_ua_seq(struct uarg_pool *P, const char *s, const char *e)
{
    int head = -1, prev[16], nprev = 0; /* prev: the items so far, in order */
    while (s < e) {
        while (s < e && *s == ' ')
            s++;
        if (s >= e)
            break;
        const char *ie = server_ua_item_end(s, e);
        int node = -1;
        if (*s == '[') {
            const char *is = s + 1, *ine = ie - 1;
            while (ine > is && ine[-1] == ' ')
                ine--;
            if (ine - is >= 3 && memcmp(ine - 3, "...", 3) == 0) {
                /* Repetition of the last k items: mark or wrap them. */
                const char *r = ine - 3;
                int k = 0;
                for (const char *p = is; p < r; ) {
                    while (p < r && *p == ' ')
                        p++;
                    if (p >= r)
                        break;
                    p = server_ua_item_end(p, r);
                    k++;
                }
                if (k >= 1 && k <= nprev) {
                    int first = prev[nprev - k];
                    if (k == 1) {
                        P->n[first].multiple = 1;
                    } else {
                        int b = server_ua_new(P, UA_BLOCK, "block", 5);
                        if (b >= 0) {
                            P->n[b].child = first;
                            P->n[b].multiple = 1;
                            P->n[prev[nprev - 1]].next = -1;
                            if (nprev - k == 0)
                                head = b;
                            else
                                P->n[prev[nprev - k - 1]].next = b;
                            nprev -= k;
                            prev[nprev++] = b;
                        }
                    }
                }
                s = ie;
                continue;
            }
            node = server_ua_bar(is, ine) ? server_ua_oneof(P, is, ine)
                                          : server_ua_one(P, is, ine);
            if (node >= 0)
                P->n[node].optional = 1;
        } else if (server_ua_bar(s, ie)) {
            node = server_ua_oneof(P, s, ie);
        } else if (server_ua_is_upper(s, (size_t)(ie - s))) {
            const char *ns = ie;
            while (ns < e && *ns == ' ')
                ns++;
            const char *ne = ns < e ? server_ua_item_end(ns, e) : ns;
            if (ns < e && *ns != '[' && !server_ua_bar(ns, ne) &&
                !server_ua_is_upper(ns, (size_t)(ne - ns))) {
                node = server_ua_new(P, UA_STRING, ns, (size_t)(ne - ns));
                ie = ne;
            } else {
                char low[UA_NAME];
                size_t l = DYN_MIN((size_t)(ie - s), UA_NAME - 1);
                for (size_t i = 0; i < l; i++)
                    low[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32
                                                                 : s[i]);
                node = server_ua_new(P, UA_TOKEN, low, l);
            }
            if (node >= 0)
                snprintf(P->n[node].token, UA_NAME, "%.*s",
                         (int)DYN_MIN((size_t)(server_ua_item_end(s, e) - s),
                                      UA_NAME - 1), s);
        } else {
            size_t l = (size_t)(ie - s);
            int key = (l >= 3 && memcmp(s, "key", 3) == 0) ||
                      (l >= 3 && memcmp(ie - 3, "key", 3) == 0) ||
                      (l == 6 && memcmp(s, "source", 6) == 0) ||
                      (l == 11 && memcmp(s, "destination", 11) == 0);
            node = server_ua_new(P, key ? UA_KEY : UA_STRING, s, l);
        }
        s = ie;
        if (node < 0)
            continue;
        if (nprev == 0)
            head = node;
        else
            P->n[prev[nprev - 1]].next = node;
        if (nprev == (int)DYN_ARRAY_LEN(prev)) {
            memmove(prev, prev + 1, sizeof(prev) - sizeof(prev[0]));
            nprev--;
        }
        prev[nprev++] = node;
    }
    return head;
}

static long long server_ua_count(const struct uarg_pool *P, int i)
{
    long long n = 0;
    for (; i >= 0; i = P->n[i].next)
        n++;
    return n;
}

static void server_ua_emit(struct dbuf *b, int proto,
                           const struct uarg_pool *P, int i)
{
    static const char *const types[] = {"string", "key", "pure-token",
                                        "oneof", "block"};
    for (; i >= 0; i = P->n[i].next) {
        const struct uarg *a = &P->n[i];
        int nflags = a->optional + a->multiple;
        long long fields = 2 + (a->token[0] != 0) + (nflags > 0) +
                           (a->child >= 0);
        reply_map(b, proto, fields);
        reply_bulk_cstr(b, "name");
        reply_bulk_cstr(b, a->name);
        reply_bulk_cstr(b, "type");
        reply_bulk_cstr(b, types[a->type]);
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
            reply_array(b, server_ua_count(P, a->child));
            server_ua_emit(b, proto, P, a->child);
        }
    }
}

static int server_usage_cmp(const void *key, const void *elem)
{
    return strcmp((const char *)key, ((const struct cmd_usage *)elem)->name);
}

static const char *server_usage_of(const char *name)
{
    const struct cmd_usage *u =
        bsearch(name, usage_table, DYN_ARRAY_LEN(usage_table),
                sizeof(usage_table[0]), server_usage_cmp);
    return u ? u->usage : NULL;
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
    struct uarg_pool *pool = NULL;
    int args = -1;
    const char *usage = server_usage_of(cmd->name);
    if (usage) {
        pool = dyn_malloc(sizeof *pool);
        pool->used = 0;
        args = server_ua_seq(pool, usage, usage + strlen(usage));
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
        reply_array(b, server_ua_count(pool, args));
        server_ua_emit(b, proto, pool, args);
    }
    dyn_free(pool);
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
                           struct meta_spec *derived)
{
    const struct cmd_meta *m = server_meta_find(cmd->name);
    if (m) {
        *out = m->specs;
        return m->nspecs;
    }
    if (cmd->first_key <= 0)
        return 0;
    server_derive_spec(cmd, derived);
    *out = derived;
    return 1;
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
    struct meta_spec derived;
    const struct meta_spec *specs = NULL;
    int nspecs = server_specs_of(cmd, &specs, &derived);
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
            if (at >= n || server_str2ll_arg(&rq[at], &nk) < 0 || nk < 0)
                continue;
            first = at + sp->b;
            step = sp->c > 0 ? sp->c : 1;
            if (nk > n)     /* the client's count: clamp before multiplying */
                nk = n;
            last = first + (int)nk * step - 1;
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
/* CONFIG                                                                   */
/* ------------------------------------------------------------------------ */

struct cfg_pair {
    char *name;
    char *value;
};

struct cfg_collect {
    struct cfg_pair *v;
    size_t n, cap;
};

static void server_cfg_collect_fn(void *ctx, const char *name,
                                  const char *value)
{
    struct cfg_collect *cc = ctx;
    for (size_t i = 0; i < cc->n; i++)
        if (strcmp(cc->v[i].name, name) == 0)
            return; /* several patterns may match one option */
    if (cc->n == cc->cap) {
        cc->cap = cc->cap ? cc->cap * 2 : 16;
        cc->v = dyn_realloc(cc->v, cc->cap * sizeof(cc->v[0]));
    }
    cc->v[cc->n].name = dyn_strdup(name);
    cc->v[cc->n].value = dyn_strdup(value ? value : "");
    cc->n++;
}

static void server_cfg_collect_free(struct cfg_collect *cc)
{
    for (size_t i = 0; i < cc->n; i++) {
        dyn_free(cc->v[i].name);
        dyn_free(cc->v[i].value);
    }
    dyn_free(cc->v);
    cc->v = NULL;
    cc->n = cc->cap = 0;
}

static void server_config_get_proc(struct client *c, int argc,
                                   const struct dyn_arg *argv)
{
    struct cfg_collect cc = {NULL, 0, 0};
    for (int i = 2; i < argc; i++)
        config_get(&c->node->cfg, argv[i].p, argv[i].len,
                   server_cfg_collect_fn, &cc);
    reply_map(&c->obuf, c->resp, (long long)cc.n);
    for (size_t i = 0; i < cc.n; i++) {
        reply_bulk_cstr(&c->obuf, cc.v[i].name);
        reply_bulk_cstr(&c->obuf, cc.v[i].value);
    }
    server_cfg_collect_free(&cc);
}

/* The current value of one option, as CONFIG GET shows it (dyn_malloc'd). */
static char *server_config_value_of(const struct config *cfg, const char *name)
{
    struct cfg_collect cc = {NULL, 0, 0};
    config_get(cfg, name, strlen(name), server_cfg_collect_fn, &cc);
    char *v = NULL;
    for (size_t i = 0; i < cc.n && !v; i++)
        if (strcasecmp(cc.v[i].name, name) == 0)
            v = dyn_strdup(cc.v[i].value);
    if (!v && cc.n)
        v = dyn_strdup(cc.v[0].value);
    server_cfg_collect_free(&cc);
    return v;
}

/* Applies what a changed option means beyond its field: the log module
 * keeps its own copy of the level and the file.  Returns 0 or <0. */
static int server_config_apply_side(struct node *n, const char *name)
{
    if (strcasecmp(name, "loglevel") == 0) {
        dlog_set_level(n->cfg.loglevel);
    } else if (strcasecmp(name, "logfile") == 0) {
        return dlog_set_file(n->cfg.logfile);
    }
    return 0;
}

static void server_config_set_proc(struct client *c, int argc,
                                   const struct dyn_arg *argv)
{
    struct node *n = c->node;
    if ((argc - 2) % 2 != 0) {
        client_error(c, ERR_SYNTAX);
        return;
    }
    int npairs = (argc - 2) / 2;
    char **names = dyn_calloc((size_t)npairs, sizeof(char *));
    char **values = dyn_calloc((size_t)npairs, sizeof(char *));
    char **old = dyn_calloc((size_t)npairs, sizeof(char *));
    struct dbuf err;
    dbuf_init(&err);
    int applied = 0, failed = 0;

    for (int i = 0; i < npairs; i++) {
        names[i] = server_arg_cstr(&argv[2 + 2 * i]);
        values[i] = server_arg_cstr(&argv[3 + 2 * i]);
    }
    /* Pass 1: every name known, none twice; nothing changes yet. */
    for (int i = 0; i < npairs && !failed; i++) {
        if (!config_known(names[i])) {
            client_errorf(c, 
                          "ERR Unknown option or number of arguments for "
                          "CONFIG SET - '%s'", names[i]);
            failed = 1;
            break;
        }
        for (int j = 0; j < i; j++)
            if (strcasecmp(names[i], names[j]) == 0) {
                client_errorf(c, 
                              "ERR CONFIG SET failed (possibly related to "
                              "argument '%s') - duplicate parameter", names[i]);
                failed = 1;
                break;
            }
    }
    /* Pass 2: apply in order, remembering old values for the roll back. */
    for (int i = 0; i < npairs && !failed; i++) {
        old[i] = server_config_value_of(&n->cfg, names[i]);
        dbuf_reset(&err);
        if (config_set(&n->cfg, names[i], values[i], &err) < 0) {
            dbuf_appendc(&err, '\0');
            client_errorf(c, "ERR %s",
                          err.p ? err.p : "CONFIG SET failed");
            failed = 1;
            break;
        }
        applied = i + 1;
        if (server_config_apply_side(n, names[i]) < 0) {
            client_errorf(c, 
                          "ERR CONFIG SET failed (possibly related to argument "
                          "'%s') - can't open the log file", names[i]);
            failed = 1;
            break;
        }
    }
    if (failed) {
        /* Roll back in reverse order; old values were accepted before. */
        for (int i = applied - 1; i >= 0; i--) {
            if (!old[i])
                continue;
            dbuf_reset(&err);
            if (config_set(&n->cfg, names[i], old[i], &err) < 0)
                dlog(DLOG_WARNING, "CONFIG SET rollback of %s failed",
                     names[i]);
            server_config_apply_side(n, names[i]);
        }
    } else {
        reply_ok(&c->obuf);
    }
    for (int i = 0; i < npairs; i++) {
        dyn_free(names[i]);
        dyn_free(values[i]);
        dyn_free(old[i]);
    }
    dyn_free(names);
    dyn_free(values);
    dyn_free(old);
    dbuf_free(&err);
}

static void server_config_resetstat_proc(struct client *c, int argc,
                                         const struct dyn_arg *argv)
{
    struct node *n = c->node;
    struct command_stat *cmd = n->stats.cmd;
    memset(&n->stats, 0, sizeof n->stats);
    n->stats.cmd = cmd;
    if (cmd)
        memset(cmd, 0,
               command_stat_slots(n->commands) * sizeof(struct command_stat));
    n->stat_reset_ms = node_wall_ms(n);
    reply_ok(&c->obuf);
}

static void server_config_rewrite_proc(struct client *c, int argc,
                                       const struct dyn_arg *argv)
{
    if (!c->node->config_file)
        client_error(c, 
                     "ERR The server is running without a config file");
    else
        client_error(c, "ERR CONFIG REWRITE is not supported");
}

static void server_config_help_proc(struct client *c, int argc,
                                    const struct dyn_arg *argv)
{
    static const char *const lines[] = {
        "GET <pattern>",
        "    Return parameters matching the glob-like <pattern> and their "
        "values.",
        "SET <directive> <value>",
        "    Set the configuration <directive> to <value>.",
        "RESETSTAT",
        "    Reset statistics reported by the INFO command.",
        "REWRITE",
        "    Rewrite the configuration file.",
        NULL,
    };
    server_reply_help(c, "CONFIG", lines);
}


/* ------------------------------------------------------------------------ */
/* INFO                                                                     */
/* ------------------------------------------------------------------------ */

struct mem_figures {
    uint64_t used;      /* bytes allocated by the program */
    uint64_t active;    /* bytes in active pages (jemalloc) */
    uint64_t resident;  /* allocator's resident bytes */
    uint64_t rss;       /* process RSS */
    char allocator[64];
};

static uint64_t proc_rss(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, res = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%llu %llu", &size, &res) != 2)
        res = 0;
    fclose(f);
    return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void server_mem_read(struct mem_figures *m)
{
    memset(m, 0, sizeof *m);
#ifndef DYN_NO_JEMALLOC
    uint64_t epoch = 1;
    size_t sz = sizeof epoch;
    mallctl("epoch", &epoch, &sz, &epoch, sz);
    size_t v = 0;
    sz = sizeof v;
    if (mallctl("stats.allocated", &v, &sz, NULL, 0) == 0)
        m->used = v;
    sz = sizeof v;
    if (mallctl("stats.active", &v, &sz, NULL, 0) == 0)
        m->active = v;
    sz = sizeof v;
    if (mallctl("stats.resident", &v, &sz, NULL, 0) == 0)
        m->resident = v;
    const char *ver = NULL;
    sz = sizeof ver;
    if (mallctl("version", &ver, &sz, NULL, 0) == 0 && ver) {
        size_t l = strcspn(ver, "-");
        snprintf(m->allocator, sizeof m->allocator, "jemalloc-%.*s", (int)l,
                 ver);
    } else {
        snprintf(m->allocator, sizeof m->allocator, "jemalloc");
    }
#elif defined(__SANITIZE_ADDRESS__)
    /* ASan owns malloc, and mallinfo2() would report nothing. */
    m->used = __sanitizer_get_current_allocated_bytes();
    m->active = m->used;
    m->resident = __sanitizer_get_heap_size();
    snprintf(m->allocator, sizeof m->allocator, "libc");
#else
    struct mallinfo2 mi = mallinfo2();
    m->used = mi.uordblks + mi.hblkhd;
    m->active = m->used;
    m->resident = mi.arena + mi.hblkhd;
    snprintf(m->allocator, sizeof m->allocator, "libc");
#endif
    m->rss = proc_rss();
}

/* Redis's bytesToHuman: "1016.07K". */
static void server_human_bytes(char *out, size_t cap, uint64_t n)
{
    static const char units[] = "KMGTPE";
    if (n < 1024) {
        snprintf(out, cap, "%" PRIu64 "B", n);
        return;
    }
    double d = (double)n / 1024.0;
    int u = 0;
    while (d >= 1024.0 && u < 5) {
        d /= 1024.0;
        u++;
    }
    snprintf(out, cap, "%.2f%c", d, units[u]);
}

static double server_tv_sec(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1000000.0;
}

static void server_info_server(struct node *n, struct dbuf *b, uint64_t now_ms)
{
    struct utsname u;
    if (uname(&u) != 0)
        memset(&u, 0, sizeof u);
    uint64_t up = now_ms > n->start_ms ? (now_ms - n->start_ms) / 1000 : 0;
    dbuf_appends(b, "# Server\r\n"
                    "redis_version:7.0.15\r\n"
                    "redis_git_sha1:00000000\r\n"
                    "redis_git_dirty:0\r\n"
                    "dynamo_version:" PACKAGE_VERSION "\r\n"
                    "redis_mode:standalone\r\n");
    dbuf_printf(b, "os:%s %s %s\r\n", u.sysname, u.release, u.machine);
    dbuf_printf(b, "arch_bits:%d\r\n", (int)(sizeof(long) * 8));
    dbuf_appends(b, "monotonic_clock:POSIX clock_gettime\r\n"
                    "multiplexing_api:libevent\r\n");
#ifdef __GNUC__
    dbuf_printf(b, "gcc_version:%d.%d.%d\r\n", __GNUC__, __GNUC_MINOR__,
                __GNUC_PATCHLEVEL__);
#endif
    dbuf_printf(b, "process_id:%ld\r\n", (long)getpid());
    dbuf_appends(b, "process_supervised:no\r\n");
    dbuf_printf(b, "run_id:%s\r\n", n->run_id);
    dbuf_printf(b, "tcp_port:%d\r\n", n->cfg.port);
    dbuf_printf(b, "server_time_usec:%" PRIu64 "\r\n", node_wall_us(n));
    dbuf_printf(b, "uptime_in_seconds:%" PRIu64 "\r\n", up);
    dbuf_printf(b, "uptime_in_days:%" PRIu64 "\r\n", up / 86400);
    dbuf_printf(b, "hz:%d\r\n", n->cfg.hz);
    dbuf_printf(b, "configured_hz:%d\r\n", n->cfg.hz);
    dbuf_printf(b, "executable:%s\r\n", n->executable ? n->executable : "");
    dbuf_printf(b, "config_file:%s\r\n", n->config_file ? n->config_file : "");
    dbuf_appends(b, "io_threads_active:0\r\n");
}

static void server_info_clients(struct node *n, struct dbuf *b)
{
    size_t max_in = 0, max_out = 0, blocked = 0;
    for (struct client *c = n->clients; c; c = c->next) {
        max_in = DYN_MAX(max_in, c->qbuf.len);
        max_out = DYN_MAX(max_out, client_obuf_pending(c));
        if (c->flags & CLIENT_BLOCKED)
            blocked++;
    }
    dbuf_printf(b,
                "# Clients\r\n"
                "connected_clients:%zu\r\n"
                "cluster_connections:0\r\n"
                "maxclients:%d\r\n"
                "client_recent_max_input_buffer:%zu\r\n"
                "client_recent_max_output_buffer:%zu\r\n"
                "blocked_clients:%zu\r\n"
                "tracking_clients:0\r\n"
                "clients_in_timeout_table:0\r\n",
                n->nclients, n->cfg.maxclients, max_in, max_out, blocked);
}

static void server_info_memory(struct node *n, struct dbuf *b)
{
    struct mem_figures m;
    server_mem_read(&m);
    if (m.used > n->stats.used_memory_peak)
        n->stats.used_memory_peak = m.used;
    uint64_t peak = n->stats.used_memory_peak;
    long pages = sysconf(_SC_PHYS_PAGES);
    long psize = sysconf(_SC_PAGESIZE);
    uint64_t total = (pages > 0 && psize > 0)
                         ? (uint64_t)pages * (uint64_t)psize : 0;
    char h1[32], h2[32], h3[32], h4[32];
    server_human_bytes(h1, sizeof h1, m.used);
    server_human_bytes(h2, sizeof h2, m.rss);
    server_human_bytes(h3, sizeof h3, peak);
    server_human_bytes(h4, sizeof h4, total);
    size_t overhead = n->store ? store_overhead_bytes(n->store) : 0;
    dbuf_appends(b, "# Memory\r\n");
    dbuf_printf(b, "used_memory:%" PRIu64 "\r\n", m.used);
    dbuf_printf(b, "used_memory_human:%s\r\n", h1);
    dbuf_printf(b, "used_memory_rss:%" PRIu64 "\r\n", m.rss);
    dbuf_printf(b, "used_memory_rss_human:%s\r\n", h2);
    dbuf_printf(b, "used_memory_peak:%" PRIu64 "\r\n", peak);
    dbuf_printf(b, "used_memory_peak_human:%s\r\n", h3);
    dbuf_printf(b, "used_memory_peak_perc:%.2f%%\r\n",
                peak ? 100.0 * (double)m.used / (double)peak : 0.0);
    dbuf_printf(b, "used_memory_overhead:%zu\r\n", overhead);
    dbuf_printf(b, "allocator_allocated:%" PRIu64 "\r\n", m.used);
    dbuf_printf(b, "allocator_active:%" PRIu64 "\r\n", m.active);
    dbuf_printf(b, "allocator_resident:%" PRIu64 "\r\n", m.resident);
    dbuf_printf(b, "total_system_memory:%" PRIu64 "\r\n", total);
    dbuf_printf(b, "total_system_memory_human:%s\r\n", h4);
    dbuf_appends(b, "maxmemory:0\r\n"
                    "maxmemory_human:0B\r\n"
                    "maxmemory_policy:noeviction\r\n");
    dbuf_printf(b, "allocator_frag_ratio:%.2f\r\n",
                m.used ? (double)m.active / (double)m.used : 0.0);
    dbuf_printf(b, "mem_fragmentation_ratio:%.2f\r\n",
                m.used ? (double)m.rss / (double)m.used : 0.0);
    dbuf_printf(b, "mem_allocator:%s\r\n", m.allocator);
    dbuf_appends(b, "active_defrag_running:0\r\n"
                    "lazyfree_pending_objects:0\r\n"
                    "lazyfreed_objects:0\r\n");
}

static void server_info_persistence(struct node *n, struct dbuf *b)
{
    dbuf_appends(b, "# Persistence\r\n"
                    "loading:0\r\n"
                    "async_loading:0\r\n"
                    "rdb_changes_since_last_save:0\r\n"
                    "rdb_bgsave_in_progress:0\r\n");
    dbuf_printf(b, "rdb_last_save_time:%" PRIu64 "\r\n", n->start_ms / 1000);
    dbuf_appends(b, "rdb_last_bgsave_status:ok\r\n"
                    "rdb_last_bgsave_time_sec:-1\r\n"
                    "rdb_current_bgsave_time_sec:-1\r\n"
                    "rdb_saves:0\r\n"
                    "aof_enabled:0\r\n"
                    "aof_rewrite_in_progress:0\r\n"
                    "aof_rewrite_scheduled:0\r\n"
                    "aof_last_rewrite_time_sec:-1\r\n"
                    "aof_current_rewrite_time_sec:-1\r\n"
                    "aof_last_bgrewrite_status:ok\r\n"
                    "aof_rewrites:0\r\n"
                    "aof_last_write_status:ok\r\n");
    if (n->engine)
        engine_info(n->engine, b); /* the durable engine's own lines */
}

static void server_info_stats(struct node *n, struct dbuf *b)
{
    const struct node_stats *s = &n->stats;
    dbuf_appends(b, "# Stats\r\n");
    dbuf_printf(b, "total_connections_received:%" PRIu64 "\r\n",
                s->total_connections_received);
    dbuf_printf(b, "total_commands_processed:%" PRIu64 "\r\n",
                s->total_commands_processed);
    dbuf_appends(b, "instantaneous_ops_per_sec:0\r\n");
    dbuf_printf(b, "total_net_input_bytes:%" PRIu64 "\r\n",
                s->total_net_input_bytes);
    dbuf_printf(b, "total_net_output_bytes:%" PRIu64 "\r\n",
                s->total_net_output_bytes);
    dbuf_appends(b, "instantaneous_input_kbps:0.00\r\n"
                    "instantaneous_output_kbps:0.00\r\n");
    dbuf_printf(b, "rejected_connections:%" PRIu64 "\r\n",
                s->rejected_connections);
    dbuf_appends(b, "sync_full:0\r\n"
                    "sync_partial_ok:0\r\n"
                    "sync_partial_err:0\r\n");
    dbuf_printf(b, "expired_keys:%" PRIu64 "\r\n", s->expired_keys);
    dbuf_printf(b, "expired_stale_perc:%.2f\r\n",
                (double)s->expired_stale_perc);
    dbuf_appends(b, "evicted_keys:0\r\nevicted_clients:0\r\n");
    dbuf_printf(b, "keyspace_hits:%" PRIu64 "\r\n", s->keyspace_hits);
    dbuf_printf(b, "keyspace_misses:%" PRIu64 "\r\n", s->keyspace_misses);
    dbuf_appends(b, "pubsub_channels:0\r\npubsub_patterns:0\r\n"
                    "latest_fork_usec:0\r\ntotal_forks:0\r\n");
    dbuf_printf(b, "unexpected_error_replies:%" PRIu64 "\r\n",
                s->unexpected_error_replies);
    dbuf_printf(b, "total_error_replies:%" PRIu64 "\r\n",
                s->total_error_replies);
    dbuf_printf(b, "client_query_buffer_limit_disconnections:%" PRIu64 "\r\n",
                s->client_query_buffer_limit_disconnections);
    dbuf_printf(b, "client_output_buffer_limit_disconnections:%" PRIu64 "\r\n",
                s->client_output_limit_disconnections);
}

static void server_info_replication(struct node *n, struct dbuf *b)
{
    dbuf_appends(b, "# Replication\r\n"
                    "role:master\r\n"
                    "connected_slaves:0\r\n"
                    "master_failover_state:no-failover\r\n");
    dbuf_printf(b, "master_replid:%s\r\n", n->run_id);
    dbuf_appends(b, "master_replid2:"
                    "0000000000000000000000000000000000000000\r\n"
                    "master_repl_offset:0\r\n"
                    "second_repl_offset:-1\r\n"
                    "repl_backlog_active:0\r\n"
                    "repl_backlog_size:1048576\r\n"
                    "repl_backlog_first_byte_offset:0\r\n"
                    "repl_backlog_histlen:0\r\n");
}

static void server_info_cpu(struct dbuf *b)
{
    struct rusage self, children, thread;
    memset(&self, 0, sizeof self);
    memset(&children, 0, sizeof children);
    memset(&thread, 0, sizeof thread);
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &children);
#ifdef RUSAGE_THREAD
    getrusage(RUSAGE_THREAD, &thread);
#else
    thread = self;
#endif
    dbuf_printf(b,
                "# CPU\r\n"
                "used_cpu_sys:%.6f\r\n"
                "used_cpu_user:%.6f\r\n"
                "used_cpu_sys_children:%.6f\r\n"
                "used_cpu_user_children:%.6f\r\n"
                "used_cpu_sys_main_thread:%.6f\r\n"
                "used_cpu_user_main_thread:%.6f\r\n",
                server_tv_sec(self.ru_stime), server_tv_sec(self.ru_utime),
                server_tv_sec(children.ru_stime),
                server_tv_sec(children.ru_utime),
                server_tv_sec(thread.ru_stime), server_tv_sec(thread.ru_utime));
}

/* Calls fn for every command and subcommand that has stats to show. */
typedef void (*stat_fn)(struct dbuf *b, const struct command *cmd,
                        const struct command_stat *st);

static void server_stats_each(struct node *n, struct dbuf *b, stat_fn fn)
{
    const struct command_registry *r = n->commands;
    if (!r || !n->stats.cmd)
        return;
    size_t slots = command_stat_slots(r);
    for (size_t i = 0; i < command_count(r); i++) {
        const struct command *cmd = command_at(r, i);
        const struct command *sub = cmd->subcommands;
        for (const struct command *x = cmd; x; ) {
            size_t k = command_stat_index(r, x);
            if (k < slots) {
                const struct command_stat *st = &n->stats.cmd[k];
                if (st->calls || st->failed_calls || st->rejected_calls)
                    fn(b, x, st);
            }
            if (sub && sub->name)
                x = sub++;
            else
                x = NULL;
        }
    }
}

static void server_commandstat_line(struct dbuf *b, const struct command *cmd,
                                    const struct command_stat *st)
{
    dbuf_printf(b,
                "cmdstat_%s:calls=%" PRIu64 ",usec=%" PRIu64
                ",usec_per_call=%.2f,rejected_calls=%" PRIu64
                ",failed_calls=%" PRIu64 "\r\n",
                cmd->name, st->calls, st->usec,
                st->calls ? (double)st->usec / (double)st->calls : 0.0,
                st->rejected_calls, st->failed_calls);
}

static void server_latencystat_line(struct dbuf *b, const struct command *cmd,
                                    const struct command_stat *st)
{
    if (!st->lat.count)
        return;
    dbuf_printf(b,
                "latency_percentiles_usec_%s:p50=%.3f,p99=%.3f,p99.9=%.3f\r\n",
                cmd->name, latency_quantile(&st->lat, 0.5),
                latency_quantile(&st->lat, 0.99),
                latency_quantile(&st->lat, 0.999));
}

static void server_dynamo_latency_line(struct dbuf *b,
                                       const struct command *cmd,
                                       const struct command_stat *st)
{
    if (!st->lat.count)
        return;
    dbuf_printf(b, "latency_%s:p50=%.3f,p99=%.3f\r\n", cmd->name,
                latency_quantile(&st->lat, 0.5),
                latency_quantile(&st->lat, 0.99));
}

static void server_info_keyspace(struct node *n, struct dbuf *b)
{
    dbuf_appends(b, "# Keyspace\r\n");
    if (!n->store)
        return;
    size_t keys = db_size(n);
    if (keys > 0)
        dbuf_printf(b, "db0:keys=%zu,expires=%zu,avg_ttl=0\r\n", keys,
                    store_count_expiring(n->store));
}

static void server_info_dynamo(struct node *n, struct dbuf *b)
{
    const struct node_stats *s = &n->stats;
    const struct config *cfg = &n->cfg;
    dbuf_appends(b, "# Dynamo\r\n");
    dbuf_printf(b, "node_name:%s\r\n", cfg->node_name ? cfg->node_name : "");
    dbuf_printf(b, "actor:%016" PRIx64 "\r\n", n->actor);
    dbuf_printf(b, "incarnation:%" PRIu32 "\r\n", n->incarnation);
    dbuf_printf(b, "n:%d\r\nr:%d\r\nw:%d\r\n", cfg->n, cfg->r, cfg->w);
    dbuf_printf(b, "conflict_policy:%s\r\n",
                cfg->conflict_policy == CONFLICT_LWW ? "lww" : "siblings");
    dbuf_printf(b, "vclock_max_entries:%d\r\n", cfg->vclock_max_entries);
    dbuf_printf(b, "quorum_failures:%" PRIu64 "\r\n", s->quorum_failures);
    /* ring, quorum and repair counters (cluster_enabled:0 when alone);
     * hinted handoff and anti-entropy counters come with those
     * mechanisms */
    cluster_info(n, b);
    dbuf_printf(b, "vclock_prunes:%" PRIu64 "\r\n", s->vclock_prunes);
    dbuf_printf(b, "siblings_created:%" PRIu64 "\r\n", s->siblings_created);
    dbuf_printf(b, "sibling_cap_refusals:%" PRIu64 "\r\n",
                s->sibling_cap_refusals);
    dbuf_printf(b,
                "sibling_hist:1=%" PRIu64 ",2=%" PRIu64 ",3=%" PRIu64
                ",4=%" PRIu64 ",5-8=%" PRIu64 ",9+=%" PRIu64 "\r\n",
                s->sibling_hist[0], s->sibling_hist[1], s->sibling_hist[2],
                s->sibling_hist[3], s->sibling_hist[4], s->sibling_hist[5]);
    if (n->store) {
        size_t all = store_count(n->store), live = store_count_live(n->store);
        dbuf_printf(b, "partitions:%" PRIu32 "\r\n",
                    store_partitions(n->store));
        dbuf_printf(b, "tombstones:%zu\r\n", all > live ? all - live : 0);
    } else {
        dbuf_printf(b, "partitions:%d\r\ntombstones:0\r\n",
                    cfg->ring_partitions);
    }
    dbuf_printf(b, "tombstones_reaped:%" PRIu64 "\r\n", s->tombstones_reaped);
    server_stats_each(n, b, server_dynamo_latency_line);
}

enum info_section {
    SEC_SERVER, SEC_CLIENTS, SEC_MEMORY, SEC_PERSISTENCE, SEC_STATS,
    SEC_REPLICATION, SEC_CPU, SEC_MODULES, SEC_COMMANDSTATS, SEC_ERRORSTATS,
    SEC_LATENCYSTATS, SEC_CLUSTER, SEC_KEYSPACE, SEC_DYNAMO, SEC_COUNT
};

/* In output order. `dflt`: part of the default set; every section is part
 * of "all" and "everything". */
static const struct {
    const char *name;
    int dflt;
} sections[SEC_COUNT] = {
    [SEC_SERVER] = {"server", 1},
    [SEC_CLIENTS] = {"clients", 1},
    [SEC_MEMORY] = {"memory", 1},
    [SEC_PERSISTENCE] = {"persistence", 1},
    [SEC_STATS] = {"stats", 1},
    [SEC_REPLICATION] = {"replication", 1},
    [SEC_CPU] = {"cpu", 1},
    [SEC_MODULES] = {"modules", 1},
    [SEC_COMMANDSTATS] = {"commandstats", 0},
    [SEC_ERRORSTATS] = {"errorstats", 1},
    [SEC_LATENCYSTATS] = {"latencystats", 0},
    [SEC_CLUSTER] = {"cluster", 1},
    [SEC_KEYSPACE] = {"keyspace", 1},
    [SEC_DYNAMO] = {"dynamo", 1},
};

static void server_info_section(struct node *n, struct dbuf *b, int sec,
                                uint64_t now_ms)
{
    switch (sec) {
    case SEC_SERVER: server_info_server(n, b, now_ms); break;
    case SEC_CLIENTS: server_info_clients(n, b); break;
    case SEC_MEMORY: server_info_memory(n, b); break;
    case SEC_PERSISTENCE: server_info_persistence(n, b); break;
    case SEC_STATS: server_info_stats(n, b); break;
    case SEC_REPLICATION: server_info_replication(n, b); break;
    case SEC_CPU: server_info_cpu(b); break;
    case SEC_MODULES: dbuf_appends(b, "# Modules\r\n"); break;
    case SEC_COMMANDSTATS:
        dbuf_appends(b, "# Commandstats\r\n");
        server_stats_each(n, b, server_commandstat_line);
        break;
    case SEC_ERRORSTATS: dbuf_appends(b, "# Errorstats\r\n"); break;
    case SEC_LATENCYSTATS:
        dbuf_appends(b, "# Latencystats\r\n");
        server_stats_each(n, b, server_latencystat_line);
        break;
    case SEC_CLUSTER:
        dbuf_appends(b, "# Cluster\r\ncluster_enabled:0\r\n");
        break;
    case SEC_KEYSPACE: server_info_keyspace(n, b); break;
    case SEC_DYNAMO: server_info_dynamo(n, b); break;
    default: break;
    }
}

static void server_info_proc(struct client *c, int argc,
                             const struct dyn_arg *argv)
{
    int want[SEC_COUNT] = {0};
    if (argc == 1) {
        for (int i = 0; i < SEC_COUNT; i++)
            want[i] = sections[i].dflt;
    }
    for (int a = 1; a < argc; a++) {
        const struct dyn_arg *x = &argv[a];
        if (dyn_arg_is(x->p, x->len, "all") ||
            dyn_arg_is(x->p, x->len, "everything")) {
            for (int i = 0; i < SEC_COUNT; i++)
                want[i] = 1;
        } else if (dyn_arg_is(x->p, x->len, "default")) {
            for (int i = 0; i < SEC_COUNT; i++)
                want[i] |= sections[i].dflt;
        } else {
            for (int i = 0; i < SEC_COUNT; i++)
                if (dyn_arg_is(x->p, x->len, sections[i].name))
                    want[i] = 1;
        }
    }
    struct dbuf text;
    dbuf_init(&text);
    uint64_t now_ms = node_wall_ms(c->node);
    int first = 1;
    for (int i = 0; i < SEC_COUNT; i++) {
        if (!want[i])
            continue;
        if (!first)
            dbuf_appends(&text, "\r\n");
        first = 0;
        server_info_section(c->node, &text, i, now_ms);
    }
    reply_verbatim(&c->obuf, c->resp, "txt", text.p ? text.p : "", text.len);
    dbuf_free(&text);
}

/* ------------------------------------------------------------------------ */
/* LASTSAVE, MEMORY                                                         */
/* ------------------------------------------------------------------------ */

static void server_lastsave_proc(struct client *c, int argc,
                                 const struct dyn_arg *argv)
{
    /* Nothing is ever saved as an RDB: the start time is the last "save". */
    reply_int(&c->obuf, (long long)(c->node->start_ms / 1000));
}

static void server_memory_usage_proc(struct client *c, int argc,
                                     const struct dyn_arg *argv)
{
    if (argc != 3 && argc != 5) {
        client_error(c, ERR_SYNTAX);
        return;
    }
    if (argc == 5) {
        long long samples;
        if (!dyn_arg_is(argv[3].p, argv[3].len, "samples")) {
            client_error(c, ERR_SYNTAX);
            return;
        }
        if (dyn_str2ll(argv[4].p, argv[4].len, &samples) < 0) {
            client_error(c, ERR_NOT_INTEGER);
            return;
        }
        if (samples < 0) {
            client_error(c, ERR_SYNTAX);
            return;
        }
    }
    struct db_value v;
    if (!db_lookup(c->node, argv[2].p, argv[2].len, &v)) {
        reply_null(&c->obuf, c->resp);
        return;
    }
    const struct object *o = db_object(c->node, argv[2].p, argv[2].len);
    size_t bytes = argv[2].len + (o ? object_size(o) : v.vlen);
    reply_int(&c->obuf, (long long)bytes);
}

static void server_memory_help_proc(struct client *c, int argc,
                                    const struct dyn_arg *argv)
{
    static const char *const lines[] = {
        "USAGE <key> [SAMPLES <count>]",
        "    Return memory in bytes used by <key> and its value (the key, "
        "every",
        "    sibling, and their vector clocks).",
        NULL,
    };
    server_reply_help(c, "MEMORY", lines);
}


/* ------------------------------------------------------------------------ */
/* Tables                                                                   */
/* ------------------------------------------------------------------------ */

#define CFG_FLAGS (CMD_ADMIN | CMD_NOSCRIPT | CMD_LOADING | CMD_STALE)
#define CMDI_FLAGS (CMD_LOADING | CMD_STALE)

/* Subcommand rows are in the order Redis 7.0 lists them in COMMAND INFO. */
static const struct command config_subcommands[] = {
    {.name = "config|rewrite", .proc = server_config_rewrite_proc, .arity = 2,
     .flags = CFG_FLAGS, .acl_categories = "@admin @slow @dangerous",
     .group = "server", .since = "2.8.0",
     .summary = "Write the running options back to the config file "
                "(not supported)",
     .complexity = "O(1)"},
    {.name = "config|resetstat", .proc = server_config_resetstat_proc,
     .arity = 2,
     .flags = CFG_FLAGS, .acl_categories = "@admin @slow @dangerous",
     .group = "server", .since = "2.0.0",
     .summary = "Zero the counters that INFO reports",
     .complexity = "O(1)"},
    {.name = "config|get", .proc = server_config_get_proc, .arity = -3,
     .flags = CFG_FLAGS, .acl_categories = "@admin @slow @dangerous",
     .group = "server", .since = "2.0.0",
     .summary = "Return the options whose names match the glob patterns, "
                "with their values",
     .complexity = "O(N) when N is the number of configuration parameters "
                   "provided"},
    {.name = "config|help", .proc = server_config_help_proc, .arity = 2,
     .flags = CMDI_FLAGS, .acl_categories = "@slow", .group = "server",
     .since = "5.0.0", .summary = "List the CONFIG subcommands",
     .complexity = "O(1)"},
    {.name = "config|set", .proc = server_config_set_proc, .arity = -4,
     .flags = CFG_FLAGS, .acl_categories = "@admin @slow @dangerous",
     .group = "server", .since = "2.0.0",
     .summary = "Change options at run time, all of them or none",
     .complexity = "O(N) when N is the number of configuration parameters "
                   "provided"},
    {.name = NULL},
};

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

static const struct command memory_subcommands[] = {
    {.name = "memory|usage", .proc = server_memory_usage_proc, .arity = -3,
     .flags = CMD_READONLY, .first_key = 2, .last_key = 2, .key_step = 1,
     .acl_categories = "@read @slow", .group = "server", .since = "4.0.0",
     .summary = "Bytes a key and its versioned value take",
     .complexity = "O(N) where N is the number of siblings"},
    {.name = "memory|help", .proc = server_memory_help_proc, .arity = 2,
     .flags = CMDI_FLAGS, .acl_categories = "@slow", .group = "server",
     .since = "4.0.0", .summary = "List the MEMORY subcommands",
     .complexity = "O(1)"},
    {.name = NULL},
};

/* The containers run their subcommands themselves when the dispatcher
 * hands them the whole request. */
static void server_config_proc(struct client *c, int argc,
                               const struct dyn_arg *argv)
{
    server_container_run(c, config_subcommands, "CONFIG", argc, argv);
}

static void server_command_proc(struct client *c, int argc,
                                const struct dyn_arg *argv)
{
    if (argc == 1)
        server_command_all(c, argc, argv);
    else
        server_container_run(c, command_subcommands, "COMMAND", argc, argv);
}

static void server_memory_proc(struct client *c, int argc,
                               const struct dyn_arg *argv)
{
    server_container_run(c, memory_subcommands, "MEMORY", argc, argv);
}

const struct command cmd_server_table[] = {
    {.name = "info", .proc = server_info_proc, .arity = -1, .flags = CMDI_FLAGS,
     .acl_categories = "@slow @dangerous", .group = "server", .since = "1.0.0",
     .summary = "Report the node's state and counters, by section",
     .complexity = "O(1)"},
    {.name = "config", .proc = server_config_proc, .arity = -2, .flags = 0,
     .acl_categories = "@slow", .group = "server", .since = "2.0.0",
     .summary = "Read and change the running configuration",
     .complexity = "Depends on subcommand.",
     .subcommands = config_subcommands},
    {.name = "command", .proc = server_command_proc, .arity = -1,
     .flags = CMDI_FLAGS,
     .acl_categories = "@slow @connection", .group = "server",
     .since = "2.8.13", .summary = "Describe the commands this server knows",
     .complexity = "O(N) where N is the total number of commands",
     .subcommands = command_subcommands},
    {.name = "lastsave", .proc = server_lastsave_proc, .arity = 1,
     .flags = CMD_LOADING | CMD_STALE | CMD_FAST,
     .acl_categories = "@admin @fast @dangerous", .group = "server",
     .since = "1.0.0",
     .summary = "Unix time of the last save (the start time: nothing is "
                "saved as a snapshot)",
     .complexity = "O(1)"},
    {.name = "memory", .proc = server_memory_proc, .arity = -2, .flags = 0,
     .acl_categories = "@slow", .group = "server", .since = "4.0.0",
     .summary = "Memory figures for keys",
     .complexity = "Depends on subcommand.",
     .subcommands = memory_subcommands},
    {.name = NULL},
};
