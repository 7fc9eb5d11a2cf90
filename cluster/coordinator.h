/*
 * coordinator.h -- the Dynamo layer of a node: members, ring, peer bus and
 * the quorum coordinator that every data command goes through.
 *
 * With no cluster-node lines the node is alone and none of this runs:
 * commands act on the local store as they always did.  With a member list,
 * any node accepts any command; see coordinator.c for a request's life.
 *
 * Thread-safety: the event loop owns it.
 */
#ifndef DYN_COORDINATOR_H
#define DYN_COORDINATOR_H

#include <stdint.h>
#include "server/buf.h"
#include "server/client.h"

struct node;
struct command;
struct cluster;
struct ring;
struct membership;

/* Reads cfg.cluster_nodes and starts the peer bus.  Returns 0 (also when
 * there is no cluster: n->cluster stays NULL) or <0 with err set. */
int cluster_init(struct node *n, struct dbuf *err);
void cluster_free(struct node *n);

/* Takes over a command when the node is in a cluster and the command
 * touches the keyspace.  Returns 1 if it did (the client may now be
 * CLIENT_BLOCKED until the answer is ready), 0 to run it locally. */
int cluster_dispatch(struct client *c, const struct command *cmd, int argc,
                     const struct dyn_arg *argv);
/* EXEC in a cluster: runs the queued commands one after another through
 * the coordinator, and answers with the array of their replies.  Takes
 * ownership of queue when it returns 1; returns 0 (queue untouched) for a
 * node alone. */
int cluster_exec(struct client *c, struct queued_cmd *queue, int count);

/* Timers: quorum deadlines, pings, failure detection.  Called often
 * (every few ms) from the event loop. */
void cluster_tick(struct node *n, uint64_t now_ms);

/* For DYNAMO.RING / PREFLIST / MEMBERS: the ring and member table, NULL
 * for a node alone.  member_reachable: up and linked (self: always). */
const struct ring *cluster_ring(const struct node *n);
const struct membership *cluster_membership(const struct node *n);
int cluster_member_reachable(const struct node *n, int member);

/* INFO dynamo lines (appended, "name:value\r\n"). */
void cluster_info(struct node *n, struct dbuf *out);

/* A client is going away: detach the operations waiting to answer it. */
void cluster_client_gone(struct client *c);

/* ---- for the other Dynamo-layer modules (cluster/antientropy.c) ---------
 * Members are indices into cluster_membership(n)->m. */
#include "cluster/peer.h"
int cluster_self(const struct node *n);
/* Top-N replicas of partition part under the current ring, in preference
 * order (at most max); the count. */
uint32_t cluster_replicas(struct node *n, uint32_t part, uint16_t *out,
                          uint32_t max);
/* 1 if this node is one of partition part's top-N replicas under the
 * current ring, or under a pending ring (a partition it is gaining). */
int cluster_replicates(struct node *n, uint32_t part);
/* Sends argv to member m over the peer bus.  0: fn runs exactly once,
 * later, from the event loop; <0: nothing was sent (self, unreachable or
 * unknown member) and fn never runs. */
int cluster_request(struct node *n, int member, int argc,
                    const struct dyn_arg *argv, peer_reply_fn *fn, void *ctx);
uint64_t cluster_now_ms(const struct node *n);
/* Parses object bytes from a peer (with the node's limits) and merges them
 * into the local store by their clocks.  1: the local copy changed, 0: it
 * already had everything, DYN_EINVAL: bad bytes, other <0: the store
 * refused the write. */
int cluster_merge_bytes(struct node *n, const void *key, size_t klen,
                        const void *bytes, size_t len);
/* ---- simulated failures (members.c) ----
 * name NULL: this node.  Errors are written to err as a Redis error text. */
int cluster_kill(struct node *n, const char *name, size_t len,
                 uint64_t seconds, struct dbuf *err);
int cluster_revive(struct node *n, const char *name, size_t len,
                   struct dbuf *err);
int cluster_is_killed(const struct node *n);
/* DYNAMO.FAULT argv: writes the whole reply to out. */
int cluster_fault(struct node *n, int argc, const struct dyn_arg *argv,
                  struct dbuf *out);

/* ---- explicit membership changes (rebalance.c) ----
 * Errors are written to err as Redis error text. */
/* DYNAMO.JOIN host:port: gossip with that address; a node that finds a
 * ring it is not in then joins it. */
int cluster_join(struct node *n, const char *hostport, size_t len,
                 struct dbuf *err);
int cluster_leave(struct node *n, struct dbuf *err);   /* err may be NULL */
int cluster_forget(struct node *n, const char *name, size_t len,
                   struct dbuf *err);
/* Writes the whole DYNAMO.RING PLAN reply to out. */
int cluster_ring_plan(struct node *n, int join, const char *name, size_t len,
                      struct dbuf *out, int resp);

/* DYNAMO.HINTS reply: [owner, count, bytes] per owner (handoff.c). */
void cluster_hints_reply(struct node *n, struct dbuf *out);

/* The node behind the ctx that peer command handlers receive. */
struct node *cluster_node_of(void *peer_ctx);

#endif
