/*
 * coordinator.h -- Dynamo's request path: any node takes any data command
 * and runs it against the key's replicas (coordinator.c tells a request's
 * life).
 *
 * It sits above the cluster services (cluster.h) and below the dispatch
 * layer (server/dispatch.c, server/pipeline.c): a request comes in as a
 * command row, its arguments and the protocol its reply is written in, and
 * leaves as RESP bytes handed to a callback.  The coordinator never sees a
 * client, its buffers or its events.
 *
 * Thread-safety: the event loop owns it.
 */
#ifndef DYN_COORDINATOR_H
#define DYN_COORDINATOR_H

#include <stddef.h>
#include <stdint.h>
#include "server/buf.h"
#include "server/client.h"

struct node;
struct command;
struct op;

/* Starts the cluster services (cluster_init, with the coordinator's peer
 * command) and the coordinator.  Returns 0 (also for a node alone:
 * n->cluster and n->coord stay NULL) or <0 with err set. */
int coord_init(struct node *n, struct dbuf *err);
/* Fails every request in flight without calling back, then stops the
 * services (cluster_free). */
void coord_free(struct node *n);
/* Request deadlines, then the services' timers (cluster_tick). */
void coord_tick(struct node *n, uint64_t now_ms);

/* The reply of a submitted request: RESP bytes in the requester's
 * protocol, valid only during the call, and its status: failed is nonzero
 * when the reply is an error (the handler's, a missed quorum, a
 * timeout). */
typedef void coord_done_fn(void *ctx, const char *reply, size_t len,
                           int failed);

/* A request in flight, owned by whoever submitted it (the pipeline keeps
 * it in its entry) until done runs or coord_cancel. */
struct coord_call {
    coord_done_fn *done;
    void *ctx;
    /* 1 once the command ran on this node's store (its write is being
     * replicated) or it finished: a later command on the same key may
     * start without seeing a state older than this one's. */
    int executed;
    struct op *op;            /* the coordinator's; NULL when finished */
};

/* Runs cmd (a data command of the cluster: cmd->route is not ROUTE_LOCAL)
 * through the cluster.  call->done runs exactly once, perhaps before this
 * returns (an error, a read quorum of one), and at the latest after
 * request-timeout-ms (per phase) with a -NOQUORUM / -TIMEOUT error.
 * argv is copied. */
void coord_submit(struct node *n, const struct command *cmd, int resp,
                  int argc, const struct dyn_arg *argv,
                  struct coord_call *call);
/* The submitter goes away: done will not run.  The request itself goes on
 * (its writes still reach their replicas, late answers are counted). */
void coord_cancel(struct coord_call *call);

#endif
