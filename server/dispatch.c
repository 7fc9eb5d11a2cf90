/*
 * dispatch.c -- runs each parsed request: the checks, MULTI's queue, the
 * statistics, and the choice between the handler here and the cluster.
 *
 *   request ─> lookup ─> unknown? "ERR unknown command ..."
 *                 ─> auth required and not authenticated? NOAUTH
 *                 ─> arity wrong? "ERR wrong number of arguments for '%s' command"
 *                 ─> in MULTI and not CMD_NO_MULTI? queue, "+QUEUED"
 *                 ─> dispatch_call: a node alone, or a ROUTE_LOCAL row:
 *                    handler(c, argc, argv) appends its reply to c->obuf;
 *                    in a cluster, any other route: pipeline_submit
 *
 * The order of checks follows Redis 7.0's processCommand: unknown command or
 * subcommand, arity, authentication, then MULTI queuing.  A request rejected
 * inside MULTI marks the transaction dirty (EXEC then aborts), and a rejected
 * EXEC aborts the transaction at once.
 *
 * A command's status is the handler's (client_error counts its errors), not
 * the text of its reply: failed_calls and total_error_replies grow when
 * c->errors did.  A reply that arrives later from the cluster is counted by
 * the pipeline when it arrives.
 *
 * This is the top of the request path below the network: it may call
 * anything beneath (the registry, the handlers through their rows, the
 * pipeline and through it the coordinator); only net.c and main.c call it.
 *
 * Thread-safety: event loop only.
 */
#include "server/dispatch.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include "server/client.h"
#include "server/command.h"
#include "server/db.h"
#include "server/engine.h"
#include "server/node.h"
#include "server/pipeline.h"
#include "server/replay.h"
#include "server/reply.h"
#include "server/util.h"

#define NAME_MAX_LEN 64

struct command_registry *dispatch_registry_new(void)
{
    static const struct command *const tables[] = {
        cmd_conn_table,    cmd_info_table,   cmd_config_table,
        cmd_command_table, cmd_server_table, cmd_string_table,
        cmd_keys_table,    cmd_multi_table,  cmd_dynamo_table,
        cmd_cluster_table, cmd_merkle_table, cmd_trace_table,
        cmd_zset_table,
        cmd_list_table,
        cmd_set_table,
        cmd_hash_table,
    };
    return command_registry_new(tables, DYN_ARRAY_LEN(tables));
}

/* A request refused before running: in MULTI it poisons the transaction;
 * a refused EXEC aborts it with the reason.  msg has its "ERR " prefix. */
static void reject(struct client *c, const struct command *cmd,
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
            client_multi_reset(c);
        client_errorf(c, "EXECABORT Transaction discarded because of: %s",
                      why);
        return;
    }
    if (c->flags & CLIENT_MULTI)
        c->flags |= CLIENT_DIRTY_EXEC;
    client_error(c, msg);
}

static void reject_unknown(struct client *c, int argc,
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
    reject(c, NULL, m.p);
    dbuf_free(&args);
    dbuf_free(&m);
}

static void queue(struct client *c, const struct command *cmd, int argc,
                  const struct dyn_arg *argv)
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

void dispatch_call(struct client *c, const struct command *cmd, int argc,
                   const struct dyn_arg *argv)
{
    struct node *n = c->node;
    uint64_t errors = c->errors;
    c->last_cmd = cmd->name;
    /* Inside a batch the previous command's end is this one's start. */
    uint64_t t0 = n->clock_us ? n->clock_us : node_mono_us(n);
    /* In a cluster, a command that routes goes through the coordinator,
     * which may block the client until the quorum answers (pipeline.c);
     * inside EXEC the pipeline runs the queue itself. */
    int routed = n->pipeline && cmd->route != ROUTE_LOCAL &&
                 !(c->flags & CLIENT_IN_EXEC);
    /* a write the typed-op journal can run again may defer on disk
     * (server/replay.c): its arguments and chance are what it records */
    const struct node_journal_ctx *outer = n->jctx;
    struct node_journal_ctx jc = {argc, argv, cmd->first_key, n->rng};
    n->jctx = !routed && engine_journal_on(n->engine) &&
                      replay_journalable(cmd)
                  ? &jc
                  : NULL;
    if (routed)
        pipeline_submit(c, cmd, argc, argv); /* it counts the second */
    else
        cmd->proc(c, argc, argv);
    n->jctx = outer;
    db_typed_end(n); /* the typed states the command borrowed go back */
    uint64_t t1 = node_mono_us(n);
    uint64_t us = t1 > t0 ? t1 - t0 : 0;
    if (!routed && !(c->flags & CLIENT_IN_EXEC))
        second_window_add(&n->stats.last_second, t1, us);
    if (n->clock_us)
        n->clock_us = t1;
    struct command_stat *st = &n->stats.cmd[command_stat_index(n->commands,
                                                               cmd)];
    st->calls++;
    st->usec += us;
    latency_add(&st->lat, us);
    n->stats.total_commands_processed++;
    if (c->errors != errors) {
        st->failed_calls++;
        n->stats.total_error_replies++;
    }
}

void dispatch_request(struct client *c, int argc, const struct dyn_arg *argv)
{
    struct node *n = c->node;
    const struct command *cmd =
        command_lookup(n->commands, argv[0].p, argv[0].len);
    if (!cmd || (cmd->flags & CMD_INTERNAL)) {
        reject_unknown(c, argc, argv);
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
            reject(c, NULL, m.p);
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
        reject(c, cmd, msg);
        return;
    }
    if (!c->authenticated && !(cmd->flags & CMD_NO_AUTH) &&
        n->cfg.requirepass && n->cfg.requirepass[0]) {
        reject(c, cmd, "NOAUTH Authentication required.");
        return;
    }
    if ((c->flags & CLIENT_MULTI) && !(cmd->flags & CMD_NO_MULTI)) {
        if (cmd->flags & CMD_MULTI_DENIED) {
            reject(c, cmd,
                           "ERR Command not allowed inside a transaction");
            return;
        }
        queue(c, cmd, argc, argv);
        return;
    }
    dispatch_call(c, cmd, argc, argv);
}
