/*
 * cmd_multi.c -- MULTI, EXEC, DISCARD, WATCH, UNWATCH.
 *
 * A transaction here is what Redis gives minus WATCH: the queued commands
 * run back to back when EXEC arrives, with nothing else interleaved on this
 * node.  The dispatcher (dispatch.c) does the queuing and marks the
 * transaction dirty when a queued request is refused; this file only opens,
 * runs and discards it.
 *
 * WATCH is refused with a clear error instead of being accepted and ignored:
 * Mini-Dynamo keys live on different replica sets and carry siblings, so
 * there is no single version of a key to watch, and pretending would let a
 * check-and-set silently lose updates.
 *
 * Thread-safety: event loop only.
 */
#include "server/client.h"
#include "server/command.h"
#include "server/dispatch.h"
#include "server/node.h"
#include "server/pipeline.h"
#include "server/reply.h"
#include "server/util.h"

static void cmd_multi(struct client *c, int argc, const struct dyn_arg *argv)
{
    if (c->flags & CLIENT_MULTI) {
        client_error(c, "ERR MULTI calls can not be nested");
        return;
    }
    c->flags |= CLIENT_MULTI;
    reply_ok(&c->obuf);
}

static void cmd_exec(struct client *c, int argc, const struct dyn_arg *argv)
{
    if (!(c->flags & CLIENT_MULTI)) {
        client_error(c, "ERR EXEC without MULTI");
        return;
    }
    if (c->flags & CLIENT_DIRTY_EXEC) {
        client_multi_reset(c);
        client_error(c, "EXECABORT Transaction discarded because of "
                     "previous errors.");
        return;
    }
    /* Take the queue out of the client first: the commands run as if outside
     * MULTI, and a command that resets the client cannot free it under us. */
    struct queued_cmd *q = c->multi;
    int count = c->multi_count;
    c->multi = NULL;
    c->multi_count = 0;
    c->multi_cap = 0;
    c->flags &= ~(unsigned)(CLIENT_MULTI | CLIENT_DIRTY_EXEC);
    /* In a cluster each command needs its own quorum: the pipeline runs
     * the queue one command at a time and answers when the last is done. */
    if (c->node->pipeline) {
        pipeline_exec(c, q, count, dispatch_call);
        return;
    }
    c->flags |= CLIENT_IN_EXEC;
    reply_array(&c->obuf, count);
    for (int i = 0; i < count; i++)
        dispatch_call(c, q[i].cmd, q[i].argc, q[i].argv);
    c->flags &= ~(unsigned)CLIENT_IN_EXEC;
    for (int i = 0; i < count; i++) {
        for (int j = 0; j < q[i].argc; j++)
            dyn_free((void *)q[i].argv[j].p);
        dyn_free(q[i].argv);
    }
    dyn_free(q);
}

static void cmd_discard(struct client *c, int argc, const struct dyn_arg *argv)
{
    if (!(c->flags & CLIENT_MULTI)) {
        client_error(c, "ERR DISCARD without MULTI");
        return;
    }
    client_multi_reset(c);
    reply_ok(&c->obuf);
}

static void cmd_watch(struct client *c, int argc, const struct dyn_arg *argv)
{
    if (c->flags & CLIENT_MULTI) {
        client_error(c, "ERR WATCH inside MULTI is not allowed");
        return;
    }
    client_error(c, "ERR WATCH is not supported: Mini-Dynamo has no "
                 "isolation across keys (see README, Transactions)");
}

static void cmd_unwatch(struct client *c, int argc, const struct dyn_arg *argv)
{
    reply_ok(&c->obuf);
}

const struct command cmd_multi_table[] = {
    {"multi", cmd_multi, 1, CMD_NO_MULTI | CMD_NOSCRIPT | CMD_LOADING |
     CMD_STALE | CMD_FAST, 0, 0, 0, "@fast @transaction", "transactions",
     "1.2.0", "Starts a transaction: later commands are queued until EXEC.",
     "O(1)", NULL, ROUTE_LOCAL, COMBINE_NONE, NULL, 0},
    {"exec", cmd_exec, 1, CMD_NO_MULTI | CMD_NOSCRIPT | CMD_LOADING |
     CMD_STALE, 0, 0, 0, "@slow @transaction", "transactions", "1.2.0",
     "Runs the queued commands in order and returns their replies.",
     "Depends on commands in the transaction", NULL,
     ROUTE_LOCAL, COMBINE_NONE, NULL, 0},
    {"discard", cmd_discard, 1, CMD_NO_MULTI | CMD_NOSCRIPT | CMD_LOADING |
     CMD_STALE | CMD_FAST, 0, 0, 0, "@fast @transaction", "transactions",
     "2.0.0", "Drops the queued commands and leaves the transaction.",
     "O(N), when N is the number of queued commands", NULL,
     ROUTE_LOCAL, COMBINE_NONE, NULL, 0},
    {"watch", cmd_watch, -2, CMD_NO_MULTI | CMD_NOSCRIPT | CMD_LOADING |
     CMD_STALE | CMD_FAST, 1, -1, 1, "@fast @transaction", "transactions",
     "2.2.0",
     "Refused: optimistic locking needs one version per key, which a "
     "Dynamo store does not have.",
     "O(1)", NULL, ROUTE_LOCAL, COMBINE_NONE, NULL, 0},
    {"unwatch", cmd_unwatch, 1, CMD_NOSCRIPT | CMD_LOADING | CMD_STALE |
     CMD_FAST, 0, 0, 0, "@fast @transaction", "transactions", "2.2.0",
     "Accepted for compatibility: there is never anything watched.", "O(1)",
     NULL, ROUTE_LOCAL, COMBINE_NONE, NULL, 0},
    {NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL, 0},
};
