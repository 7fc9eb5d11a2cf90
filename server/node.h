/*
 * node.h -- the node context: all state of one dynamod process.
 *
 * There is no global `server`: every subsystem is reached from the node that
 * is passed in (handlers reach it as c->node).  The event loop owns the node
 * and everything in it; a helper thread, where there is one, talks to the
 * loop only through a queue and a wake-up.
 *
 * Time and chance are reached the same way: node_wall_ms / node_mono_us /
 * node_turn_ms read the node's clock hooks, node_random its seeded state.
 * main.c installs the system clock and a seed from /dev/urandom; the
 * simulation (tests/sim) a virtual clock and its own seed, and then replays
 * a run exactly.
 */
#ifndef DYN_NODE_H
#define DYN_NODE_H

#include <stdint.h>
#include <stddef.h>
#include <signal.h>
#include "server/config.h"
#include "server/buf.h"
#include "cluster/crdt.h"
#include "cluster/evlog.h"
#include "cluster/trace.h"
#include "cluster/vhist.h"

struct event_base;
struct event;
struct evconnlistener;
struct ssl_ctx_st;
struct store;
struct client;
struct command_registry;
struct cluster;
struct coord;
struct http;
struct pipeline;
struct peer_bus_impl;

/* Latency histogram: log2 buckets of microseconds (bucket i holds values in
 * [2^(i-1), 2^i) us), enough for p50/p99 estimates. */
#define LAT_BUCKETS 40
struct latency_hist {
    uint64_t count;
    uint64_t sum_us;
    uint64_t buckets[LAT_BUCKETS];
};
void latency_add(struct latency_hist *h, uint64_t us);
/* The q-quantile (0 < q < 1) in microseconds (upper bound of its bucket,
 * interpolated within it). */
double latency_quantile(const struct latency_hist *h, double q);

/* Client commands per wall second of the monotonic clock, for INFO's
 * instantaneous_ops_per_sec and last_second_p99_usec (what the http
 * API's event stream shows per node): [0] the second now counting, [1]
 * the one before it.  Counting costs a division and a bucket add per
 * command; a new second clears one histogram. */
struct second_window {
    uint64_t sec;               /* node_mono_us / 1e6 of w[0] */
    struct latency_hist lat[2]; /* [0] now, [1] the second before */
};
/* A command that took us microseconds ended at now_us. */
void second_window_add(struct second_window *w, uint64_t now_us,
                       uint64_t us);
/* The last whole second's figures as of now_us (empty when no command
 * ended in it). */
const struct latency_hist *second_window_last(const struct second_window *w,
                                              uint64_t now_us);

struct command_stat {
    uint64_t calls;
    uint64_t usec;
    uint64_t rejected_calls;
    uint64_t failed_calls;
    struct latency_hist lat;
};

#define SIBLING_HIST_BUCKETS 6 /* 1, 2, 3, 4, 5-8, 9+ */

struct node_stats {
    uint64_t total_connections_received;
    uint64_t rejected_connections;
    uint64_t total_commands_processed;
    uint64_t total_net_input_bytes;
    uint64_t total_net_output_bytes;
    uint64_t keyspace_hits;
    uint64_t keyspace_misses;
    uint64_t expired_keys;
    uint64_t expired_stale_perc;
    uint64_t tombstones_reaped;
    uint64_t typed_compactions; /* typed values compacted (db.c) */
    uint64_t typed_writes_deferred;  /* typed writes not encoded (db.c) */
    uint64_t typed_encodes_deferred; /* deferred states encoded since */
    uint64_t typed_settles_refused; /* ... whose record a full disk
                                      * refused (the journal keeps them) */
    uint64_t total_error_replies;
    uint64_t unexpected_error_replies;
    uint64_t client_output_limit_disconnections;
    uint64_t client_query_buffer_limit_disconnections;
    uint64_t vclock_prunes;
    uint64_t siblings_created;     /* writes that left >1 sibling */
    uint64_t sibling_cap_refusals; /* writes refused by max-siblings */
    uint64_t sibling_hist[SIBLING_HIST_BUCKETS]; /* per read: sibling count */
    uint64_t quorum_failures;
    uint64_t used_memory_peak;     /* INFO memory: highest used_memory seen */
    struct command_stat *cmd;      /* command_stat_slots() entries */
    /* client commands (a routed one from its request to its reply) */
    struct second_window last_second;
    /* the http API (server/http): connections open, event-stream
     * subscribers, poll rounds the stream ran, subscribers dropped as
     * too slow */
    uint64_t http_connections;
    uint64_t http_stream_subscribers;
    uint64_t http_stream_rounds;
    uint64_t http_stream_dropped;
};

/* Where a node reads time.  Every read of time in server/ and cluster/
 * goes through the node_*_ms/us functions below, so a simulation that
 * installs its own hooks replays exactly.  ctx is passed to each hook. */
struct node_clock {
    uint64_t (*wall_us)(void *ctx); /* wall clock, us since the epoch */
    uint64_t (*mono_us)(void *ctx); /* monotonic clock, us */
    /* wall ms as of this event-loop turn (may lag a turn: cheap for code
     * that reads it several times per request); NULL: wall_us / 1000 */
    uint64_t (*turn_ms)(void *ctx);
    void *ctx;
};

/* The command dispatch_call is running, when the typed-op journal may
 * record it (server/journal.h): its arguments, the argument that is its
 * key, and node_random's state when it started. */
struct node_journal_ctx {
    int argc;
    const struct dyn_arg *argv;
    int key_at;
    uint64_t rng;
};

struct node {
    struct config cfg;
    char *config_file;          /* absolute path, or NULL */
    char *executable;
    struct event_base *base;
    struct store *store;
    struct engine *engine;      /* durable engine over store (NULL: none) */
    struct command_registry *commands;

    /* identity */
    uint32_t incarnation;
    uint64_t actor;             /* actor_make(node_name, incarnation) */
    uint64_t dot_counter;       /* highest dot counter this actor has used,
                                 * across all keys (object_write floor) */
    struct dbuf typed_view;     /* db_lookup's text of a counter (db.c) */
    struct crdt_limits crdt_limits; /* db_crdt_limits: from the config */
    struct tcache *tcache;      /* decoded typed states (db.c) */
    struct dbuf typed_enc;      /* a typed state's encoding, kept (db.c) */
    int typed_enc_busy;         /* typed_enc is being written */
    int typed_defer_turn;       /* in a cluster, typed writes may defer
                                 * their encoding: the coordinator sets it
                                 * around a write it encodes before the
                                 * loop turn ends (its write groups) */
    const struct node_journal_ctx *jctx; /* set by dispatch_call; NULL:
                                 * a deferred write on disk is not
                                 * journaled, so it is encoded */
    int journal_replaying;      /* server/replay.c runs journaled ops:
                                 * deferred writes are not journaled */
    struct crdt_dot replay_first; /* ... the dots of the typed write the */
    uint32_t replay_ndots;        /* op made, for replay to check */
    uint64_t sibling_cap_log_us;   /* monotonic time of the last max-siblings
                                    * log line (db.c rate-limits them) */
    uint64_t sibling_cap_unlogged; /* refusals since that line, not logged */
    char run_id[41];

    /* clients */
    struct client *clients;     /* doubly-linked list */
    size_t nclients;
    uint64_t next_client_id;
    size_t listen_count;
    int listen_fds[16];
    struct event *listen_ev[16];
    int listen_tls[16];         /* 1: the listener is tls-port's */
    struct ssl_ctx_st *tls_ctx; /* tls-port's context (main.c), or NULL */

    /* timers and signals */
    struct event *cron_ev;
    struct event *engine_ev;    /* the storage helper thread's wake-up */
    struct event *engine_slice_ev; /* compaction slices while work remains */
    struct event *sigterm_ev;
    struct event *sigint_ev;
    uint64_t cronloops;
    uint64_t start_ms;
    uint64_t stat_reset_ms;
    int shutdown_asap;
    int exit_code;

    /* Monotonic clock (us) at the end of the last command, or 0 when not
     * inside a batch of requests: lets dispatch_call time each command with
     * one clock read.  net.c sets it before a batch and zeroes it after;
     * dispatch_call reads the clock itself when it is 0. */
    uint64_t clock_us;

    /* The node's clock (node_wall_ms and friends below).  main.c installs
     * the system clock (node_clock_system); the simulation (tests/sim)
     * installs a virtual one.  A hook left NULL reads the system clock, so
     * unit tests that assemble a node by hand need not set any. */
    struct node_clock clock;

    /* The node's random source (node_random): xorshift64* state.  main.c
     * seeds it from /dev/urandom, the simulation from its seed. */
    uint64_t rng;

    struct node_stats stats;

    /* What happened, for DYNAMO.TRACE and DYNAMO.EVENTS: bounded rings
     * (cluster/trace.c, cluster/evlog.c) of trace-max and event-max slots,
     * allocated by cluster_init and freed by cluster_free; a node alone
     * keeps both off (cap 0: every record is skipped). */
    struct trace_ring traces;
    struct evlog events;
    /* DYNAMO.VERSIONS: the versions this node created, per key, bounded
     * by version-history and version-history-keys (cluster/vhist.c);
     * recorded by db_write, allocated by cluster_init like the rings */
    struct vhist versions;
    /* Names other nodes' actors (vclock actor ids) in clocks and dots:
     * cluster_init installs the member table's answer; NULL (a node
     * alone) names only this node's own (node_actor_name). */
    const char *(*actor_name)(void *ctx, uint64_t actor);
    void *actor_name_ctx;

    /* the Dynamo layer, NULL for a node alone: the cluster services
     * (cluster/cluster.c) and the request path above them
     * (cluster/coordinator.c) */
    struct cluster *cluster;
    struct coord *coord;
    struct http *http;          /* the JSON API (server/http), or NULL */
    struct event *cluster_ev;   /* coord_tick timer */
    /* clients' requests in flight through the coordinator, in order
     * (server/pipeline.c); NULL for a node alone */
    struct pipeline *pipeline;
    /* The peer bus cluster_init builds (cluster/peer.h): NULL is the TCP
     * bus; the simulation points it at its in-memory network. */
    const struct peer_bus_impl *peers;
};

/* The next number of the node's random source: every random choice in
 * server/ and cluster/ (sampling keys, picking peers, gossip, jitter) is
 * drawn from it.  Cryptographic randomness (auth nonces, TLS) is not:
 * it is no simulation state and comes from OpenSSL. */
uint64_t node_random(struct node *n);
/* The node's clock (struct node_clock). */
uint64_t node_wall_us(const struct node *n);
uint64_t node_wall_ms(const struct node *n);
uint64_t node_mono_us(const struct node *n);
uint64_t node_turn_ms(const struct node *n);
/* Installs the system clock: clock_gettime for wall and monotonic time,
 * and libevent's cached time of the loop turn for node_turn_ms. */
void node_clock_system(struct node *n);
/* Stops the loop after the current iteration; exit code for main(). */
void node_request_shutdown(struct node *n, int exit_code);
/* Recomputes node->actor from node_name and incarnation. */
void node_update_actor(struct node *n);
/* The node name of a vclock actor: this node's own, else the actor_name
 * hook's answer, else NULL (print it in hex). */
const char *node_actor_name(const struct node *n, uint64_t actor);

#endif
