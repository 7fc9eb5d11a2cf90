/*
 * dispatch.h -- the dispatcher: a parsed request in, its checks, MULTI's
 * queue, statistics, and the handler or the cluster (dispatch.c).
 *
 * Thread-safety: event loop only.
 */
#ifndef DYN_DISPATCH_H
#define DYN_DISPATCH_H

#include "server/client.h"

struct command;
struct command_registry;

/* The registry of every command table (main.c, the simulation). */
struct command_registry *dispatch_registry_new(void);
/* Runs one parsed request for c: lookup, arity, auth, MULTI queuing, then
 * dispatch_call. */
void dispatch_request(struct client *c, int argc, const struct dyn_arg *argv);
/* Runs a command that passed the checks (also EXEC's queued commands, with
 * CLIENT_IN_EXEC set), with statistics. */
void dispatch_call(struct client *c, const struct command *cmd, int argc,
                   const struct dyn_arg *argv);

#endif
