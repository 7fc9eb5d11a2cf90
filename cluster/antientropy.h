/*
 * antientropy.h -- Merkle-tree anti-entropy between the replicas of a
 * partition (see antientropy.c).  The coordinator owns one instance per
 * node and calls it from its tick; the exchange's peer commands are served
 * through the coordinator's peer command table.
 *
 * Thread-safety: none; the event loop owns it.
 */
#ifndef DYN_ANTIENTROPY_H
#define DYN_ANTIENTROPY_H

#include <stddef.h>
#include <stdint.h>
#include "cluster/peer.h"
#include "server/buf.h"

struct node;
struct antientropy;

struct antientropy *antientropy_new(struct node *n);
void antientropy_free(struct antientropy *ae);      /* NULL: no-op */
/* Called every cluster tick (about 5 ms), also while DYNAMO.KILL is in
 * effect: it then only expires deadlines and answers waiters. */
void antientropy_tick(struct antientropy *ae, uint64_t now_ms);
/* INFO lines ("name:value\r\n"). */
void antientropy_info(struct antientropy *ae, struct dbuf *out);
/* The exchange's peer commands; handlers get the coordinator's ctx
 * (cluster_node_of(ctx) gives the node). */
const struct peer_command *antientropy_peer_commands(size_t *n);

/* ---- for the commands (server/cmd_merkle.c) ----------------------------- */

/* The node's instance, NULL for a node alone. */
struct antientropy *antientropy_of(struct node *n);
/* 1 while this node, having started with an empty store (it lost its data,
 * or never had any), has not yet compared partition part with a peer (a
 * root found equal, or an exchange done): it must not answer alone for the
 * partition's keyspace (the coordinator's DBSIZE / KEYS / SCAN). */
int antientropy_recovering(const struct antientropy *ae, uint32_t part);

#define ANTIENTROPY_NEXT (-1)   /* the next partition in turn */
#define ANTIENTROPY_ALL  (-2)   /* every partition this node replicates */

#define ANTIENTROPY_MAX_NAMED 64 /* peers a result names */

struct antientropy_result {
    int aborted;                /* the node is shutting down */
    int killed;                 /* DYNAMO.KILL ended or refused the run */
    uint32_t partitions;        /* partitions exchanged */
    uint32_t peer_exchanges;    /* (partition, peer) pairs compared */
    uint32_t peers_failed;      /* peers that did not answer */
    uint64_t keys_repaired;
    uint64_t bytes;             /* sent + received */
    uint64_t ms;                /* wall time */
    /* the peers whose exchange failed: no answer within request-timeout-ms
     * (those are not asked again in the same run), unreachable, or a bad
     * answer.  Names valid during the callback only. */
    uint32_t nunanswered;
    const char *unanswered[ANTIENTROPY_MAX_NAMED];
};
typedef void antientropy_done_fn(void *ctx,
                                 const struct antientropy_result *r);
/* Queues an exchange of `part` (or NEXT / ALL) ahead of the periodic ones;
 * fn runs exactly once from the event loop when it is done.  0, or
 * DYN_EINVAL (bad partition) / DYN_ELIMIT (too many queued).
 * Bound: every request of the run waits at most request-timeout-ms for
 * its answer; a peer that misses it is skipped for the rest of the run, so
 * the run takes at most (its peers) x request-timeout-ms of waiting plus
 * the exchanges with the peers that do answer (throttled by
 * anti-entropy-max-bps), after the run in progress and the ones queued
 * before it.  DYNAMO.KILL ends the run and the queue (result.killed). */
int antientropy_start(struct antientropy *ae, int64_t part,
                      antientropy_done_fn *fn, void *ctx);

/* DYNAMO.MERKLE: every replica's root and leaves for one partition. */
struct antientropy_view {
    int aborted;
    uint32_t partition;
    uint32_t leaves;
    uint32_t nreplicas;
    struct {
        char name[PEER_NAME_MAX];
        int ok;                 /* answered */
        uint64_t root;
        long long keys;
    } rep[16];
    uint32_t *diff;             /* leaves where some replica differs */
    uint32_t ndiff;
};
typedef void antientropy_view_fn(void *ctx, const struct antientropy_view *v);
/* 0 and fn runs exactly once later, within request-timeout-ms (a
 * replica that has not answered by then is shown with ok 0, and its late
 * answer is dropped); DYN_EINVAL: bad partition. */
int antientropy_view(struct antientropy *ae, uint32_t part,
                     antientropy_view_fn *fn, void *ctx);

#endif
