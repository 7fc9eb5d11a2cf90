/*
 * pipeline.h -- a client's requests in flight through the cluster, kept in
 * request order (pipeline.c).
 *
 * Thread-safety: event loop only.
 */
#ifndef DYN_PIPELINE_H
#define DYN_PIPELINE_H

#include "server/client.h"

struct node;
struct command;

/* Runs a command that passed the dispatcher's checks. */
typedef void pipeline_run_fn(struct client *c, const struct command *cmd,
                             int argc, const struct dyn_arg *argv);

/* n->pipeline, for a node whose coordinator runs (n->coord). */
void pipeline_init(struct node *n);
/* Every client is gone by now. */
void pipeline_free(struct node *n);

/* Hands cmd (its route is not ROUTE_LOCAL) to the coordinator for c.  The
 * reply reaches c->obuf in request order, now or later; the client goes
 * on with its next request at once when that request may run beside this
 * one, else it is CLIENT_BLOCKED until every earlier reply is out. */
void pipeline_submit(struct client *c, const struct command *cmd, int argc,
                     const struct dyn_arg *argv);
/* EXEC: the queue (owned from now on) runs one command at a time, those
 * that route through the coordinator, the others by run_local (the
 * dispatcher, with CLIENT_IN_EXEC set); the answer is the array of their
 * replies.  The client is blocked until it is out. */
void pipeline_exec(struct client *c, struct queued_cmd *queue, int count,
                   pipeline_run_fn *run_local);
/* c is going away: its requests in flight are cancelled (they still finish
 * in the cluster; nobody is told). */
void pipeline_client_gone(struct client *c);

#endif
