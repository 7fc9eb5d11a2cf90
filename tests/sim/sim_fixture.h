/*
 * sim_fixture.h -- the deterministic cluster fixture the simulation tests
 * share (test_sim_cluster.c, test_sim_scenarios.c): N real nodes (config,
 * store, command table, coordinator) on the in-memory network of
 * sim_bus.c, real struct clients driven through dispatch_request, and
 * helpers that read what a node holds.
 *
 * Nothing moves unless the test steps it: each step delivers one message
 * chosen by the seeded network, and now and then moves the virtual clock a
 * few ms and runs coord_tick on every node.  A seed is an interleaving;
 * a failure names its seed (SIM_ASSERT), which replays it.
 *
 * The nodes read time only through their clock hooks (node->clock, set to
 * the network's virtual clock) and draw random numbers only from node->rng
 * (seeded from the seed), so the same seed gives the same trace.
 *
 * Thread-safety: none.  Errors: a fixture step that cannot work (a config
 * that does not load, a network that never settles) aborts the test.
 */
#ifndef DYN_SIM_FIXTURE_H
#define DYN_SIM_FIXTURE_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "server/node.h"
#include "tests/sim/sim_bus.h"

/* request-timeout-ms of every simulated node */
#define TIMEOUT_MS 1000

struct object;
struct client;
struct dyn_arg;

struct sim;

struct sim_node {
    struct node n;
    struct sim *s;
};

struct sim_opts {
    int nn;                 /* nodes started now, the static members */
    int nval, r, w;         /* N, R, W */
    const char *hint_max_bytes; /* NULL: "0", no hints (see sim_fixture.c) */
    const char *extra;      /* config lines every node gets, or NULL */
};

struct sim {
    struct sim_net *net;
    uint64_t seed;
    int nn;
    struct sim_node *node[SIM_MAX_NODES];
    uint64_t events;    /* logical time: steps and commands */
    uint64_t next_client;
    int frozen;         /* steps move no time */
    char dir[64];       /* the nodes' dirs (hint stores) live here */
    struct sim_opts opts;
    struct client *waiting[256]; /* blocked clients whose reply is not
                                  * traced yet */
    int nwaiting;
};

#define SIM_ASSERT(s, cond, ...)                                              \
    do {                                                                      \
        if (!(cond)) {                                                        \
            char why_[512];                                                   \
            snprintf(why_, sizeof(why_), __VA_ARGS__);                        \
            ck_abort_msg("seed %llu: %s (%s)", (unsigned long long)(s)->seed, \
                         why_, #cond);                                        \
        }                                                                     \
    } while (0)

/* nn static members, each with N=nval, R=r, W=w, and no hints. */
struct sim *sim_new(int nn, int nval, int r, int w, uint64_t seed);
struct sim *sim_new_opts(const struct sim_opts *o, uint64_t seed);
/* Starts one more node (index s->nn before the call, returned), not a
 * member: its only contact is a seed line for node seed_node, so it
 * learns the ring by gossip and joins as rebalance.c does for a node
 * started with seeds. */
int sim_add_joiner(struct sim *s, int seed_node);
void sim_free(struct sim *s);
struct node *sim_node(struct sim *s, int i);

/* Moves the clock to t (or by ms) and lets every node's timers run. */
void sim_advance_to(struct sim *s, uint64_t t);
void sim_advance(struct sim *s, uint64_t ms);
/* One event: sometimes a few ms pass, then one message moves.  Returns 0
 * when no message could. */
int sim_step(struct sim *s);
/* Delivers everything that may go without waiting for a timeout. */
void sim_drain(struct sim *s);
/* Until nothing is in flight: drains, and lets time run to the next
 * failure that waits for its timeout. */
void sim_settle(struct sim *s);

/* Clients: a command sent through node (0-based), its answer in c->obuf. */
struct client *sim_sendv(struct sim *s, int node, int argc,
                         const struct dyn_arg *argv);
/* A command line split on spaces (the tests' values have none). */
struct client *sim_send(struct sim *s, int node, const char *line);
int sim_done(const struct client *c);
void sim_client_free(struct client *c);
/* Steps until c has its answer, letting time pass when nothing moves. */
void sim_wait(struct sim *s, struct client *c);
/* The command's answer, run to completion. */
struct client *sim_cmd(struct sim *s, int node, const char *line);
int reply_is(const struct client *c, const char *want);
int reply_is_bulk(const struct client *c, const char *v);
int reply_starts(const struct client *c, const char *prefix);
/* The reply as a C string, for messages. */
const char *reply_text(struct client *c);
void sim_expect(struct sim *s, int node, const char *line, const char *want);

/* What a node holds: the local object (no network), whether value v is
 * among key's live siblings, how many siblings, the winner's value. */
const struct object *sim_local(struct sim *s, int node, const char *key);
int sim_holds(struct sim *s, int node, const char *key, const char *v);
uint32_t sim_siblings(struct sim *s, int node, const char *key);
void sim_winner(struct sim *s, int node, const char *key, char *out,
                size_t cap);
/* A counter from node's INFO dynamo lines, or -1. */
long long sim_info(struct sim *s, int node, const char *name);
/* The nodes of key's preference list (top N) on node 0's ring, as node
 * indices, in order; returns how many. */
int sim_preflist(struct sim *s, const char *key, int *out);

/* DYNAMO.GET's reply: the context and the values. */
struct dget {
    char ctx[512];
    size_t ctxlen;
    int nvalues;
    char values[8][64];
};
void sim_dynamo_get(struct sim *s, struct client *c, struct dget *d);
/* DYNAMO.PUT key <ctx> value */
struct client *sim_dynamo_put(struct sim *s, int node, const char *key,
                              const struct dget *ctx, const char *value);

/* Trace comparison: equal bytes, and the first line where two differ. */
int trace_equal(const struct dbuf *a, const struct dbuf *b);
void trace_diff(const struct dbuf *a, const struct dbuf *b, char *out,
                size_t cap);

#endif
