/*
 * sim_bus.h -- an in-memory network for the deterministic cluster
 * simulation (tests/sim): a second implementation of cluster/peer.h's
 * table of operations (struct peer_bus_ops) for N nodes living in one
 * process, and the test decides which message moves next.
 *
 * The test creates one struct sim_net, names its nodes with sim_net_add
 * (which points node->peers at the network), and only then runs
 * cluster_init on each node: its peer_bus_open builds a bus of this
 * network, which finds its place in it by the node name.  A node may be
 * added later (a joiner); a peer it adds under a seed's placeholder name
 * ("?seed-i", members.c) reaches the node whose cluster port
 * (cluster-port, or port + 10000) the seed line gave, as a dial would.
 * After that nothing moves by itself: sim_net_step delivers ONE message,
 * chosen by the network's seeded PRNG among the messages that may go
 * next, so a seed is an interleaving and a failing seed replays exactly.
 *
 * What the sim keeps of peer.c's contract:
 *  - a reply callback runs exactly once for every peer_request that
 *    returned 0, never inside peer_request (failures are queued too);
 *    peer_bus_free fails what is outstanding with DYN_EIO before it
 *    returns;
 *  - one link per ordered pair of nodes is FIFO: requests from A to B are
 *    handled in the order they were sent, and B's replies to A leave in
 *    request order whatever order B's handlers finish in; different links
 *    interleave freely;
 *  - on_sent when a request goes out, on_reply when its answer comes back
 *    (with the simulated clock), on_link when sim_net_link connects or
 *    disconnects a pair (never inside peer_add).
 *
 * Faults, per directed link (sim_net_link):
 *  - SIM_LINK_DOWN: the link is not connected (peer_is_connected is 0);
 *    new requests fail with DYN_EIO from the "loop", and anything found
 *    in flight on it when it would be delivered is lost, its requester
 *    failing with DYN_EIO -- a crashed process or a refused connection;
 *  - SIM_LINK_SILENT: the link looks up but swallows everything; the
 *    requester's callback gets DYN_EAGAIN once dead_link_ms of simulated
 *    time has passed -- a partition, or a node too slow to answer.
 *
 * The trace: every delivery (request, reply, failure), with the virtual
 * time and a hash of the whole message, and whatever the test adds
 * (sim_net_tracef: timer ticks, client commands and replies) goes to a
 * buffer the test hands over (sim_net_trace_to), or to stderr with
 * SIM_TRACE=1.  The nodes read time and random numbers only through their
 * node (server/node.h), which the test points at this network's clock and
 * its seed, so the same seed gives a byte-identical trace; test_sim_cluster
 * checks that it does.
 *
 * Thread-safety: none.  No file-level state: a node reaches its network
 * through node->peers, so several networks may exist at once.
 */
#ifndef DYN_SIM_BUS_H
#define DYN_SIM_BUS_H

#include <stddef.h>
#include <stdint.h>

struct node;
struct sim_net;

#define SIM_MAX_NODES 8

enum sim_link { SIM_LINK_UP = 0, SIM_LINK_DOWN, SIM_LINK_SILENT };

/* The simulated wall clock starts at start_ms. */
struct sim_net *sim_net_new(uint64_t seed, uint64_t start_ms);
/* Every bus must be freed (coord_free) first. */
void sim_net_free(struct sim_net *net);

/* Registers node n under name (the node's node-name); returns its index. */
int sim_net_add(struct sim_net *net, const char *name, struct node *n);

uint64_t sim_net_now(const struct sim_net *net);
/* Moves the clock forward (never back). */
void sim_net_set_now(struct sim_net *net, uint64_t t);

/* Delivers one message that may go now, chosen at random.  Returns 1, or 0
 * when none may (nothing in flight, or only failures due later). */
int sim_net_step(struct sim_net *net);
/* Messages in flight (including failures waiting for their time). */
size_t sim_net_pending(const struct sim_net *net);
/* The time the earliest waiting failure becomes due, or UINT64_MAX. */
uint64_t sim_net_next_due(const struct sim_net *net);

void sim_net_link(struct sim_net *net, int from, int to, enum sim_link mode);
/* Every link to and from node i. */
void sim_net_isolate(struct sim_net *net, int i, enum sim_link mode);

/* Counters for the test's own checks. */
uint64_t sim_net_delivered(const struct sim_net *net);
uint64_t sim_net_dropped(const struct sim_net *net);

/* Parses one RESP value (RESP2, and RESP3's null) at p into v: what the
 * bus does with an answer, offered to the test for client replies.
 * Returns the bytes used, or -1.  Release v with sim_value_clear. */
struct peer_value;
long sim_resp_parse(const char *p, size_t len, struct peer_value *v);
void sim_value_clear(struct peer_value *v);

/* The random source the network uses, for the test's own choices. */
uint64_t sim_net_random(struct sim_net *net);

/* Trace lines go to out (NULL: back to stderr if SIM_TRACE=1, else
 * nowhere); the caller owns out. */
struct dbuf;
void sim_net_trace_to(struct sim_net *net, struct dbuf *out);
/* One trace line, "t=<now> " and the formatted text, when tracing. */
void sim_net_tracef(struct sim_net *net, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Traces a client's complete answer: its id, length, hash, first line.
 * sim_client.c calls it when the coordinator unblocks a client. */
struct client;
void sim_net_trace_reply(const struct client *c);

#endif
