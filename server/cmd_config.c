/*
 * cmd_config.c -- CONFIG GET, SET, RESETSTAT, REWRITE and HELP: the
 * running configuration as clients see it.
 *
 * Why this file exists: server/config.c owns the option table (names,
 * types, limits, which options may change at run time) and the parsing and
 * checks; this file is only its client-facing side.  Benchmarks and tools
 * run CONFIG GET and CONFIG RESETSTAT, operators CONFIG SET, and the replies
 * keep Redis 7.0's shapes and wording.
 *
 * CONFIG GET takes several glob patterns; an option that more than one
 * pattern matches is listed once, where it first matched.
 *
 * CONFIG SET is atomic over all its name/value pairs: every name is checked
 * (known, not repeated) before anything changes, and if one value is
 * refused, the pairs already applied are set back to their old values.  An
 * option may mean more than its field: the log module keeps its own copy of
 * loglevel and logfile, so those are applied there too (and rolled back).
 *
 * CONFIG RESETSTAT zeroes the node's counters, the per-command stats that
 * INFO commandstats and latencystats show, and restarts their clock.
 * CONFIG REWRITE is refused: the node never writes its config file.
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
#include <string.h>
#include <strings.h>

#include "server/buf.h"
#include "server/client.h"
#include "server/cmd_server.h"
#include "server/command.h"
#include "server/config.h"
#include "server/log.h"
#include "server/node.h"
#include "server/reply.h"
#include "server/util.h"

/* A NUL-terminated copy of an argument; the caller frees it. */
static char *server_arg_cstr(const struct dyn_arg *a)
{
    char *s = dyn_malloc(a->len + 1);
    memcpy(s, a->p, a->len);
    s[a->len] = '\0';
    return s;
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
/* Table                                                                    */
/* ------------------------------------------------------------------------ */

#define CFG_FLAGS (CMD_ADMIN | CMD_NOSCRIPT | CMD_LOADING | CMD_STALE)

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

/* The container runs its subcommands itself when the dispatcher hands it
 * the whole request. */
static void server_config_proc(struct client *c, int argc,
                               const struct dyn_arg *argv)
{
    server_container_run(c, config_subcommands, "CONFIG", argc, argv);
}

const struct command cmd_config_table[] = {
    {.name = "config", .proc = server_config_proc, .arity = -2, .flags = 0,
     .acl_categories = "@slow", .group = "server", .since = "2.0.0",
     .summary = "Read and change the running configuration",
     .complexity = "Depends on subcommand.",
     .subcommands = config_subcommands},
    {.name = NULL},
};
