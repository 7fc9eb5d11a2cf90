/*
 * command.c -- the command registry and the dispatcher.
 *
 * The registry joins the cmd_*_table arrays into one open-addressing hash
 * table keyed by the lower-case command name, built once at startup.  A
 * lookup lower-cases the request's first argument into a stack buffer (names
 * are short) and probes; no allocation happens per request.
 *
 * Container commands (rows with subcommands, e.g. CONFIG, CLIENT) dispatch
 * on argv[1]: their subcommand rows are named "container|sub" and are found
 * by a linear scan of the (short) subcommand list.
 *
 * Every command and subcommand row gets a stat index (0..slots-1), found by a
 * second hash keyed by the row's address, so command_call() can charge the
 * node's per-command counters without a search.
 *
 * The order of checks follows Redis 7.0's processCommand: unknown command or
 * subcommand, arity, authentication, then MULTI queuing.  A request rejected
 * inside MULTI marks the transaction dirty (EXEC then aborts), and a rejected
 * EXEC aborts the transaction at once.
 *
 * Thread-safety: the registry is immutable after command_registry_new and is
 * read only from the event loop.
 */
#include "server/command.h"
#include "cluster/coordinator.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "server/node.h"
#include "server/reply.h"
#include "server/util.h"

#define NAME_MAX_LEN 64

struct reg_slot {
    const struct command *cmd;
    uint32_t hash;
};

struct stat_slot {
    const struct command *cmd;
    size_t index;
};

struct command_registry {
    /* top-level commands, in table order */
    const struct command **list;
    size_t count;
    /* name hash: cap is a power of two, at least 2x count */
    struct reg_slot *slots;
    size_t mask;
    /* row address -> stat index */
    struct stat_slot *stats;
    size_t stats_mask;
    size_t nstat;
};

static uint32_t name_hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

static size_t ptr_hash(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x;
}

static size_t pow2_at_least(size_t n)
{
    size_t c = 16;
    while (c < n)
        c <<= 1;
    return c;
}

static void registry_add_stat(struct command_registry *r,
                              const struct command *cmd)
{
    size_t i = ptr_hash(cmd) & r->stats_mask;
    while (r->stats[i].cmd) {
        if (r->stats[i].cmd == cmd)
            return;
        i = (i + 1) & r->stats_mask;
    }
    r->stats[i].cmd = cmd;
    r->stats[i].index = r->nstat++;
}

static void registry_add(struct command_registry *r, const struct command *cmd)
{
    size_t len = strlen(cmd->name);
    uint32_t h = name_hash(cmd->name, len);
    size_t i = h & r->mask;
    while (r->slots[i].cmd) {
        if (strcmp(r->slots[i].cmd->name, cmd->name) == 0)
            return; /* a duplicate row: the first table wins */
        i = (i + 1) & r->mask;
    }
    r->slots[i].cmd = cmd;
    r->slots[i].hash = h;
    r->list[r->count++] = cmd;
    registry_add_stat(r, cmd);
    if (cmd->subcommands)
        for (const struct command *s = cmd->subcommands; s->name; s++)
            registry_add_stat(r, s);
}

struct command_registry *command_registry_new(void)
{
    const struct command *tables[] = {cmd_conn_table,   cmd_info_table,
                                      cmd_config_table, cmd_command_table,
                                      cmd_server_table,
                                      cmd_string_table, cmd_keys_table,
                                      cmd_multi_table,  cmd_dynamo_table,
                                      cmd_cluster_table, cmd_merkle_table};
    size_t total = 0, subs = 0;
    for (size_t t = 0; t < DYN_ARRAY_LEN(tables); t++)
        for (const struct command *c = tables[t]; c->name; c++) {
            total++;
            if (c->subcommands)
                for (const struct command *s = c->subcommands; s->name; s++)
                    subs++;
        }
    struct command_registry *r = dyn_calloc(1, sizeof(*r));
    r->list = dyn_calloc(total ? total : 1, sizeof(*r->list));
    size_t cap = pow2_at_least(total * 2 + 1);
    r->slots = dyn_calloc(cap, sizeof(*r->slots));
    r->mask = cap - 1;
    size_t scap = pow2_at_least((total + subs) * 2 + 1);
    r->stats = dyn_calloc(scap, sizeof(*r->stats));
    r->stats_mask = scap - 1;
    for (size_t t = 0; t < DYN_ARRAY_LEN(tables); t++)
        for (const struct command *c = tables[t]; c->name; c++)
            registry_add(r, c);
    return r;
}

void command_registry_free(struct command_registry *r)
{
    if (!r)
        return;
    dyn_free(r->list);
    dyn_free(r->slots);
    dyn_free(r->stats);
    dyn_free(r);
}

const struct command *command_lookup(const struct command_registry *r,
                                     const char *name, size_t len)
{
    char low[NAME_MAX_LEN];
    if (len == 0 || len >= sizeof(low))
        return NULL;
    for (size_t i = 0; i < len; i++)
        low[i] = (char)tolower((unsigned char)name[i]);
    uint32_t h = name_hash(low, len);
    size_t i = h & r->mask;
    while (r->slots[i].cmd) {
        const struct command *c = r->slots[i].cmd;
        if (r->slots[i].hash == h && memcmp(c->name, low, len) == 0 &&
            c->name[len] == '\0')
            return c;
        i = (i + 1) & r->mask;
    }
    return NULL;
}

size_t command_count(const struct command_registry *r)
{
    return r->count;
}

const struct command *command_at(const struct command_registry *r, size_t i)
{
    return i < r->count ? r->list[i] : NULL;
}

size_t command_stat_index(const struct command_registry *r,
                          const struct command *cmd)
{
    size_t i = ptr_hash(cmd) & r->stats_mask;
    while (r->stats[i].cmd) {
        if (r->stats[i].cmd == cmd)
            return r->stats[i].index;
        i = (i + 1) & r->stats_mask;
    }
    dyn_assert(!"command row not registered");
    return 0;
}

size_t command_stat_slots(const struct command_registry *r)
{
    return r->nstat;
}

/* The subcommand row of container for sub, or NULL. */
static const struct command *command_lookup_sub(const struct command *container,
                                                const char *sub, size_t len)
{
    for (const struct command *s = container->subcommands; s->name; s++) {
        const char *bar = strchr(s->name, '|');
        const char *sn = bar ? bar + 1 : s->name;
        if (strlen(sn) == len && strncasecmp(sn, sub, len) == 0)
            return s;
    }
    return NULL;
}

void command_reply_arity(struct client *c, const char *name)
{
    reply_errorf(&c->obuf, "ERR wrong number of arguments for '%s' command",
                 name);
}

void command_multi_reset(struct client *c)
{
    for (int i = 0; i < c->multi_count; i++) {
        struct queued_cmd *q = &c->multi[i];
        for (int j = 0; j < q->argc; j++)
            dyn_free((void *)q->argv[j].p);
        dyn_free(q->argv);
    }
    dyn_free(c->multi);
    c->multi = NULL;
    c->multi_count = 0;
    c->multi_cap = 0;
    c->flags &= ~(unsigned)(CLIENT_MULTI | CLIENT_DIRTY_EXEC);
}

/* A request refused before running: in MULTI it poisons the transaction;
 * a refused EXEC aborts it with the reason.  msg has its "ERR " prefix. */
static void command_reject(struct client *c, const struct command *cmd,
                           const char *msg)
{
    struct node *n = c->node;
    n->stats.total_error_replies++;
    if (cmd) {
        n->stats.cmd[command_stat_index(n->commands, cmd)].rejected_calls++;
    }
    /* Redis turns any rejected EXEC into EXECABORT, inside MULTI or not. */
    if (cmd && strcmp(cmd->name, "exec") == 0) {
        const char *why = strncmp(msg, "ERR ", 4) == 0 ? msg + 4 : msg;
        if (c->flags & CLIENT_MULTI)
            command_multi_reset(c);
        reply_errorf(&c->obuf, "EXECABORT Transaction discarded because of: %s",
                     why);
        return;
    }
    if (c->flags & CLIENT_MULTI)
        c->flags |= CLIENT_DIRTY_EXEC;
    reply_error(&c->obuf, msg);
}

static void command_reject_unknown(struct client *c, int argc,
                                   const struct dyn_arg *argv)
{
    struct dbuf m;
    dbuf_init(&m);
    struct dbuf args;
    dbuf_init(&args);
    for (int j = 1; j < argc && args.len < 128; j++)
        dbuf_printf(&args, "'%.*s' ",
                    (int)DYN_MIN(argv[j].len, 128 - args.len), argv[j].p);
    dbuf_printf(&m, "ERR unknown command '%.*s', with args beginning with: ",
                (int)DYN_MIN(argv[0].len, 128), argv[0].p);
    dbuf_append(&m, args.p, args.len);
    dbuf_appendc(&m, '\0');
    command_reject(c, NULL, m.p);
    dbuf_free(&args);
    dbuf_free(&m);
}

static void command_queue(struct client *c, const struct command *cmd,
                          int argc, const struct dyn_arg *argv)
{
    if (c->multi_count == c->multi_cap) {
        c->multi_cap = c->multi_cap ? c->multi_cap * 2 : 8;
        c->multi = dyn_realloc(c->multi,
                               (size_t)c->multi_cap * sizeof(*c->multi));
    }
    struct queued_cmd *q = &c->multi[c->multi_count++];
    q->cmd = cmd;
    q->argc = argc;
    q->argv = dyn_malloc((size_t)argc * sizeof(*q->argv));
    for (int i = 0; i < argc; i++) {
        /* one spare byte so handlers may treat a copy as a C string */
        char *p = dyn_malloc(argv[i].len + 1);
        memcpy(p, argv[i].p, argv[i].len);
        p[argv[i].len] = '\0';
        q->argv[i].p = p;
        q->argv[i].len = argv[i].len;
    }
    reply_status_len(&c->obuf, "QUEUED", 6);
}

void command_call(struct client *c, const struct command *cmd, int argc,
                  const struct dyn_arg *argv)
{
    struct node *n = c->node;
    size_t before = c->obuf.len;
    c->last_cmd = cmd->name;
    /* Inside a batch the previous command's end is this one's start. */
    uint64_t t0 = n->clock_us ? n->clock_us : node_mono_us(n);
    /* In a cluster, data commands go through the coordinator, which may
     * block the client until the quorum answers. */
    if (!n->cluster || !cluster_dispatch(c, cmd, argc, argv))
        cmd->proc(c, argc, argv);
    uint64_t t1 = node_mono_us(n);
    uint64_t us = t1 > t0 ? t1 - t0 : 0;
    if (n->clock_us)
        n->clock_us = t1;
    struct command_stat *st = &n->stats.cmd[command_stat_index(n->commands,
                                                               cmd)];
    st->calls++;
    st->usec += us;
    latency_add(&st->lat, us);
    n->stats.total_commands_processed++;
    if (c->obuf.len > before && c->obuf.p[before] == '-') {
        st->failed_calls++;
        n->stats.total_error_replies++;
    }
}

void command_dispatch(struct client *c, int argc, const struct dyn_arg *argv)
{
    struct node *n = c->node;
    const struct command *cmd =
        command_lookup(n->commands, argv[0].p, argv[0].len);
    if (!cmd) {
        command_reject_unknown(c, argc, argv);
        return;
    }
    if (cmd->subcommands && argc >= 2) {
        const struct command *sub =
            command_lookup_sub(cmd, argv[1].p, argv[1].len);
        if (!sub) {
            char up[NAME_MAX_LEN];
            size_t l = strlen(cmd->name);
            if (l >= sizeof(up))
                l = sizeof(up) - 1;
            for (size_t i = 0; i < l; i++)
                up[i] = (char)toupper((unsigned char)cmd->name[i]);
            up[l] = '\0';
            struct dbuf m;
            dbuf_init(&m);
            dbuf_printf(&m, "ERR unknown subcommand '%.*s'. Try %s HELP.",
                        (int)DYN_MIN(argv[1].len, 128), argv[1].p, up);
            dbuf_appendc(&m, '\0');
            command_reject(c, NULL, m.p);
            dbuf_free(&m);
            return;
        }
        cmd = sub;
    }
    if ((cmd->arity > 0 && argc != cmd->arity) ||
        (cmd->arity < 0 && argc < -cmd->arity)) {
        char msg[128];
        snprintf(msg, sizeof(msg),
                 "ERR wrong number of arguments for '%s' command", cmd->name);
        command_reject(c, cmd, msg);
        return;
    }
    if (!c->authenticated && !(cmd->flags & CMD_NO_AUTH) &&
        n->cfg.requirepass && n->cfg.requirepass[0]) {
        command_reject(c, cmd, "NOAUTH Authentication required.");
        return;
    }
    if ((c->flags & CLIENT_MULTI) && !(cmd->flags & CMD_NO_MULTI)) {
        if (cmd->flags & CMD_MULTI_DENIED) {
            command_reject(c, cmd,
                           "ERR Command not allowed inside a transaction");
            return;
        }
        command_queue(c, cmd, argc, argv);
        return;
    }
    command_call(c, cmd, argc, argv);
}
