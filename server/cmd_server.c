/*
 * cmd_server.c -- LASTSAVE and MEMORY, and the helpers that the server
 * group's command files share.
 *
 * Why this file exists: Redis's "server" group of commands once lived here
 * whole.  INFO, CONFIG and COMMAND now have files of their own (cmd_info.c,
 * cmd_config.c, cmd_command.c); what stays is the small remainder, and the
 * few helpers those files share (cmd_server.h):
 *   - LASTSAVE answers the node's start time: nothing is ever saved as a
 *     snapshot, so the start is the last "save".
 *   - MEMORY USAGE counts a key and its stored object (every sibling with
 *     its vector clock), as the db layer holds it.
 *   - server_container_run runs a container's subcommand (CONFIG, COMMAND,
 *     MEMORY) when the dispatcher hands the container the whole request,
 *     with Redis's unknown-subcommand and arity errors; server_reply_help
 *     is the HELP reply those containers share.
 *
 * Invariants: handlers never keep pointers into argv after they return;
 * every reply is exactly one RESP element.
 *
 * Thread-safety: handlers run on the event loop, which owns the node.
 *
 * Errors: bad input is an error reply with Redis's wording; nothing here
 * asserts on client input.
 */
#include "server/cmd_server.h"

#include <stdio.h>
#include <string.h>

#include "server/buf.h"
#include "server/client.h"
#include "server/command.h"
#include "server/db.h"
#include "server/node.h"
#include "server/reply.h"
#include "server/util.h"
#include "cluster/object.h"

/* ------------------------------------------------------------------------ */
/* Helpers the server group shares (cmd_server.h)                           */
/* ------------------------------------------------------------------------ */

/* The row of table `subs` whose name after '|' is `sub` (case-insensitive),
 * or NULL. */
const struct command *server_sub_find(const struct command *subs,
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

int server_arity_ok(const struct command *cmd, int argc)
{
    return cmd->arity > 0 ? argc == cmd->arity : argc >= -cmd->arity;
}

/* Runs the subcommand named by argv[1] from table `subs`, for a container
 * command whose subcommand the dispatcher did not resolve itself. */
void server_container_run(struct client *c, const struct command *subs,
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
void server_reply_help(struct client *c, const char *upname,
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


/* Subcommand rows are in the order Redis 7.0 lists them in COMMAND INFO. */
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

/* The container runs its subcommands itself when the dispatcher hands it
 * the whole request. */
static void server_memory_proc(struct client *c, int argc,
                               const struct dyn_arg *argv)
{
    server_container_run(c, memory_subcommands, "MEMORY", argc, argv);
}

const struct command cmd_server_table[] = {
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
