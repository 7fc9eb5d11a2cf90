/*
 * command.c -- the command registry: the rows of the command tables, found
 * by name.  Running a request is the dispatcher's (dispatch.c), one layer
 * up; this file only answers "which row is this".
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
 * second hash keyed by the row's address, so dispatch_call() can charge
 * the node's per-command counters without a search.
 *
 * The registry is given its tables (dispatch_registry_new lists them all):
 * the tables of the cluster's commands live above the cluster services,
 * and the registry, which the coordinator reads, lives below them.
 *
 * Thread-safety: the registry is immutable after command_registry_new and is
 * read only from the event loop.
 */
#include "server/command.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
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

struct command_registry *
command_registry_new(const struct command *const *tables, size_t ntables)
{
    size_t total = 0, subs = 0;
    for (size_t t = 0; t < ntables; t++)
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
    for (size_t t = 0; t < ntables; t++)
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
const struct command *command_lookup_sub(const struct command *container,
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
    client_errorf(c, "ERR wrong number of arguments for '%s' command", name);
}

int command_keys(const struct command *cmd, int argc,
                 const struct dyn_arg *argv, int *pos, int max)
{
    int n = 0;
    if (cmd->numkeys_at) {
        long long nk;
        if (cmd->numkeys_at >= argc ||
            dyn_str2ll(argv[cmd->numkeys_at].p, argv[cmd->numkeys_at].len,
                       &nk) != 0 ||
            nk < 1 || nk > argc - 1 - cmd->numkeys_at)
            return -1;
        if (cmd->first_key > 0 && cmd->first_key < cmd->numkeys_at &&
            n < max)
            pos[n++] = cmd->first_key;
        for (int i = 0; i < nk && n < max; i++)
            pos[n++] = cmd->numkeys_at + 1 + i;
        return n;
    }
    if (cmd->first_key <= 0)
        return 0;
    int step = cmd->key_step > 0 ? cmd->key_step : 1;
    int last = cmd->last_key < 0 ? argc + cmd->last_key : cmd->last_key;
    for (int i = cmd->first_key; i <= last && i < argc && n < max; i += step)
        pos[n++] = i;
    return n;
}

int command_parse_cursor(const struct dyn_arg *a, uint64_t *out)
{
    char *buf = dyn_malloc(a->len + 1);
    char *end;
    memcpy(buf, a->p, a->len);
    buf[a->len] = '\0';
    errno = 0;
    unsigned long long v = strtoull(buf, &end, 10);
    int ok = !isspace((unsigned char)buf[0]) && *end == '\0' &&
             errno != ERANGE;
    dyn_free(buf);
    *out = v;
    return ok ? 0 : -1;
}

int command_single_key(const struct command *cmd, int argc)
{
    if (cmd->route != ROUTE_KEY && cmd->route != ROUTE_KEY_BLIND &&
        cmd->route != ROUTE_PER_KEY)
        return 0;
    int step = cmd->key_step > 0 ? cmd->key_step : 1;
    if (cmd->first_key <= 0 || argc <= cmd->first_key ||
        (argc > cmd->first_key + step && cmd->last_key < 0))
        return 0;
    return cmd->first_key;
}

