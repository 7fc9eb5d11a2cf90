/*
 * cluster.h -- the cluster services of a node: the member table, the ring,
 * the peer bus and the Dynamo modules that run on them (gossip and failure
 * detection, hinted handoff, rebalancing, anti-entropy, the replica side of
 * the peer protocol).  cluster/cluster.c owns them; the request path
 * (coordinator.h) and the cluster's commands (server/cmd_cluster.c,
 * server/cmd_merkle.c) sit above and call down into this header, never the
 * reverse (docs/ARCHITECTURE.md draws the stack).
 *
 * With no cluster-node, seed or cluster-secret line the node is alone and
 * none of this runs: n->cluster stays NULL.
 *
 * Thread-safety: the event loop owns it.
 */
#ifndef DYN_CLUSTER_H
#define DYN_CLUSTER_H

#include <stddef.h>
#include <stdint.h>
#include "cluster/peer.h"
#include "server/buf.h"

struct node;
struct ring;
struct membership;

/* Reads cfg.cluster_nodes / seeds and starts the peer bus, whose handler
 * table is the services' peer commands followed by extra (the layers
 * above add theirs: the coordinator's FWD).  Returns 0 (also when there is
 * no cluster: n->cluster stays NULL) or <0 with err set. */
int cluster_init(struct node *n, const struct peer_command *extra,
                 size_t nextra, struct dbuf *err);
/* Stops the bus (outstanding requests fail: their callbacks run first)
 * and frees the services. */
void cluster_free(struct node *n);

/* Timers of the services: failure detection, gossip, hint delivery,
 * rebalancing, anti-entropy.  Called every few ms from the event loop. */
void cluster_tick(struct node *n, uint64_t now_ms);

/* DYNAMO.CONFIG SET n|r|w in a cluster: n may not exceed the members
 * (0, or DYN_EINVAL with the Redis error text in err).  After the local
 * change succeeded, cluster_quorum_changed tells every other node (R.CONFIG
 * with a version: gossip keeps the newest, so a node that misses it catches
 * up). */
int cluster_quorum_check(struct node *n, const struct dyn_arg *name,
                         const struct dyn_arg *value, struct dbuf *err);
void cluster_quorum_changed(struct node *n, const struct dyn_arg *name,
                            const struct dyn_arg *value);

/* For DYNAMO.RING / PREFLIST / MEMBERS: the ring and member table, NULL
 * for a node alone.  member_reachable: up and linked (self: always). */
const struct ring *cluster_ring(const struct node *n);
/* This node's recent gossip rounds (members.c), or NULL outside a
 * cluster. */
struct gossiplog;
const struct gossiplog *cluster_gossip_log(const struct node *n);
const struct membership *cluster_membership(const struct node *n);
int cluster_member_reachable(const struct node *n, int member);

/* INFO dynamo lines (appended, "name:value\r\n"). */
void cluster_info(struct node *n, struct dbuf *out);

/* ---- for the Dynamo modules above (antientropy.c, the coordinator) ------
 * Members are indices into cluster_membership(n)->m. */
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
/* The end of a change asked of another node (DYNAMO.ADD, DYNAMO.LEAVE
 * name): err NULL when that node took it, else its Redis error text
 * (borrowed for the call).  Runs exactly once, from the event loop; also
 * while the node shuts down (with an error). */
typedef void cluster_done_fn(void *ctx, const char *err);
/* DYNAMO.ADD host:port: tells the spare-node at that (client) address,
 * over the peer bus, to join through this node (members.c).  <0 with err
 * (done never runs), or 0 and done runs once the spare answered. */
int cluster_add_spare(struct node *n, const char *addr, size_t len,
                      cluster_done_fn *done, void *ctx, struct dbuf *err);
/* 1 if host:port is the address of one of this node's spare-node lines. */
int cluster_is_spare(const struct node *n, const char *addr, size_t len);
/* DYNAMO.SPARES: the spare-node lines that are not live members:
 * [{addr, name|nil, http|nil, linked}] (name and http as the spare last
 * said; nil until it answered). */
void cluster_spares_reply(struct node *n, struct dbuf *out, int resp);
/* DYNAMO.LEAVE name: tells the live member name to leave (R.LEAVE, which
 * runs its DYNAMO.LEAVE); like cluster_add_spare. */
int cluster_tell_leave(struct node *n, const char *name, size_t len,
                       cluster_done_fn *done, void *ctx, struct dbuf *err);
/* Writes the whole DYNAMO.RING PLAN reply to out. */
int cluster_ring_plan(struct node *n, int join, const char *name, size_t len,
                      struct dbuf *out, int resp);

/* DYNAMO.HINTS reply: [owner, count, bytes] per owner (handoff.c). */
void cluster_hints_reply(struct node *n, struct dbuf *out);

/* The node behind the ctx that peer command handlers receive. */
struct node *cluster_node_of(void *peer_ctx);

#endif
