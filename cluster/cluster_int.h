/*
 * cluster_int.h -- struct cluster and the one internal API of the cluster
 * services, shared by the files of that layer:
 *
 *   cluster.c      owns struct cluster: init, tick, free, INFO, the peer
 *                  bus's wiring, and the helpers below
 *   members.c      gossip rounds, seeds, failure-detector pings, new
 *                  members, DYNAMO.KILL / REVIVE / FAULT
 *   handoff.c      sloppy-quorum hints: the hint store, hinted writes,
 *                  delivery to owners that answer again
 *   rebalance.c    DYNAMO.JOIN / LEAVE / FORGET: pending rings, partition
 *                  streaming, dropping what a node no longer replicates
 *   replica.c      the replica side of the peer protocol
 *
 * The coordinator (coordinator.c), one layer up, includes it too: it reads
 * the member table and the ring, asks handoff for hints and rebalance for
 * the extra targets of a partition on the move, and counts its requests
 * in the statistics below.  Nothing here calls the coordinator.  Nothing
 * outside cluster/ includes this header; the public face is cluster.h.
 * Thread-safety: none; the event loop owns everything.
 */
#ifndef DYN_CLUSTER_INT_H
#define DYN_CLUSTER_INT_H

#include <stddef.h>
#include <stdint.h>
#include "cluster/cluster.h"
#include "cluster/evlog.h"
#include "cluster/membership.h"
#include "cluster/object.h"
#include "cluster/peer.h"
#include "cluster/quorum.h"
#include "cluster/ring.h"
#include "server/buf.h"
#include "server/resp.h"

struct node;
struct hints;
struct members;
struct handoff;
struct rebalance;
struct antientropy;

struct cluster {
    struct node *node;
    struct membership mb;
    int *peer_of;               /* member index -> peer id, -1 for self */
    struct ring ring;
    struct peer_bus *bus;
    int closing;                        /* cluster_free is running */
    uint64_t last_ping_ms;
    uint64_t ping_interval_ms;
    struct antientropy *ae;
    /* each module's own state, opaque to the others */
    struct members *mem;                /* members.c */
    struct handoff *ho;                 /* handoff.c */
    /* rebalance.c: explicit membership changes */
    struct rebalance *rb;
    struct replica_jobs *rj;            /* replica.c: listings in slices */
    struct peer_command *pcmds;         /* ours + anti-entropy's */
    /* stats: the coordinator's (coordinated .. noquorum_writes) and the
     * replica side's, reported together by cluster_info */
    uint64_t coordinated;
    uint64_t sloppy_writes;             /* writes with a stand-in */
    uint64_t sloppy_reads;
    uint64_t forwarded;
    uint64_t forward_retries;           /* a forward that ran nowhere,
                                         * sent to the next replica */
    uint64_t forwards_received;
    uint64_t read_repairs;
    uint64_t late_answers;
    uint64_t noquorum_reads;
    uint64_t noquorum_writes;
    uint64_t replica_puts;
    uint64_t keyspace_slices;           /* listing slices run here */
    uint64_t replica_gets;
    uint64_t replica_gets_same;         /* R.MGETD answered +SAME */
    uint64_t replica_deltas;            /* R.MDPUT pairs stored */
    uint64_t replica_deltas_refused;    /* not our copy's delta */
    uint64_t deltas_sent;               /* the coordinator's */
    uint64_t delta_bytes;               /* what they took */
    uint64_t delta_object_bytes;        /* what the objects would have */
    uint64_t deltas_resent;             /* refused: the object went */
    uint64_t write_groups;              /* writes that led a group */
    uint64_t writes_grouped;            /* writes that joined one */
};

/* ---- cluster.c ---- */
/* The node's clock of this loop turn (node_turn_ms). */
uint64_t cl_now(const struct cluster *cl);
/* The member index of ring node ring_idx (the names are the same), or <0. */
int cl_member_of_ring(const struct cluster *cl, uint16_t ring_idx);
/* Member m may be asked now: self, or up and linked. */
int cl_reachable(const struct cluster *cl, int m);
/* N: at most QUORUM_MAX (the config, DYNAMO.CONFIG and gossip refuse more). */
uint32_t cl_nval(const struct cluster *cl);
/* Top-N replicas of partition part under the current ring, as member
 * indices in preference order; the count (at most QUORUM_MAX). */
uint32_t cl_replicas(struct cluster *cl, uint32_t part, uint16_t *out);
/* Fire-and-forget (fn NULL) or with a callback: 0 (fn runs once later, if
 * given) or <0 (nothing sent). */
int cl_send(struct cluster *cl, uint16_t m, int argc,
            const struct dyn_arg *argv, peer_reply_fn *fn, void *ctx);
void cl_log_event(struct cluster *cl, const struct member_event *ev);
/* The answer of a node told to change (R.JOIN, R.LEAVE): 0 when it took
 * it; else 1, and done has run with its error (or "no answer"). */
int cl_refused(int err, const struct peer_value *v, cluster_done_fn *done,
               void *ctx);
/* A new entry of the node's event log (cluster/evlog.h), stamped with the
 * node's wall clock; NULL when event-max is 0 (evlog_field takes NULL). */
struct evlog_entry *cl_event(struct cluster *cl, enum evlog_type type);

/* ---- replica.c ---- */
/* The answer to R.KEYS / R.LIST (pattern) / R.COUNT / R.RANDOM (verb)
 * over a list of this node's partitions, as RESP bytes to done (which runs
 * exactly once: at once for counts and small listings, from a later loop
 * turn for a listing of more than keyspace-slice-keys entries, which runs
 * in slices). */
typedef void replica_scan_fn(void *ctx, const char *resp, size_t len);
void replica_scan(struct cluster *cl, const char *verb, const char *pat,
                  size_t plen, const uint32_t *parts, size_t np,
                  replica_scan_fn *done, void *ctx);
/* Drops every unfinished listing, its callback unrun (cluster_free). */
void replica_free(struct cluster *cl);
extern const struct peer_command replica_peer_cmds[];
extern const size_t replica_npeer_cmds;

/* ---- members.c ---- */
int members_init(struct cluster *cl, struct dbuf *err);
void members_free(struct cluster *cl);
void members_tick(struct cluster *cl, uint64_t t);
/* DYNAMO.JOIN host:port: a seed added at run time. */
int members_add_seed(struct cluster *cl, const char *hostport, size_t len,
                     struct dbuf *err);
/* n, r, w with their version, from a peer (R.CONFIG or gossip): taken if
 * the version is newer than ours.  Returns 1 if taken. */
int members_adopt_quorum(struct cluster *cl, uint64_t version, long long n,
                         long long r, long long w, const char *from);
/* A member was added to the table (gossip or join): give it a peer link. */
void members_added(struct cluster *cl, uint32_t m);
/* DYNAMO.KILL is in effect. */
int members_killed(const struct cluster *cl);
/* The version of the n, r, w this node holds (0: never changed). */
uint64_t members_quorum_version(const struct cluster *cl);
/* INFO lines: gossip_rounds, killed, and this node's own entry:
 * member_status, member_incarnation, member_rejoining. */
void members_info(struct cluster *cl, struct dbuf *out);
extern const struct peer_command members_peer_cmds[];
extern const size_t members_npeer_cmds;

/* ---- handoff.c ---- */
int handoff_init(struct cluster *cl, struct dbuf *err);
void handoff_free(struct cluster *cl);
void handoff_tick(struct cluster *cl, uint64_t t);
/* Keeps a hint for owner m of a write it missed or that this node took for
 * it: written (borrowed, the object the write carried) merged with the
 * local copy of key, so that a copy handed off and dropped meanwhile loses
 * nothing; when the local copy has seen written's dot of this node it
 * holds written already, and is kept as it is, unmerged.  A hint that
 * cannot be kept is counted (hints_lost) and logged. */
struct object;
void handoff_hint(struct cluster *cl, uint16_t owner, const char *key,
                  size_t klen, const struct object *written);
void handoff_info(struct cluster *cl, struct dbuf *out);
/* The ring changed: look again, at once, for hints whose owner no longer
 * replicates their key (they are re-targeted). */
void handoff_ring_changed(struct cluster *cl);
/* A hint for key is kept here (a stand-in copy still owed to an owner). */
int handoff_holds(struct cluster *cl, const void *key, size_t klen);
extern const struct peer_command handoff_peer_cmds[];
extern const size_t handoff_npeer_cmds;

/* ---- rebalance.c ---- */
int rebalance_init(struct cluster *cl);
void rebalance_free(struct cluster *cl);
void rebalance_tick(struct cluster *cl, uint64_t t);
/* The ring as last saved in <dir>/ring, if it is newer than cl->ring (a
 * restart keeps the ring a join or leave made).  Call before init. */
void rebalance_load_ring(struct cluster *cl);
/* The ring was replaced (gossip or R.RING): old is the previous one.
 * Saves the new ring. */
void rebalance_ring_changed(struct cluster *cl, const struct ring *old);
/* Members that gain partition part under a pending ring (not in the
 * current top N): writes go to them too.  Returns the count. */
uint32_t rebalance_extra_targets(struct cluster *cl, uint32_t part,
                                 uint16_t *out, uint32_t max);
/* Member `name` is among partition part's top N under the ring, or under
 * the pending ring of a change in progress. */
int rebalance_is_replica(struct cluster *cl, const char *name,
                         uint32_t part);
void rebalance_info(struct cluster *cl, struct dbuf *out);
extern const struct peer_command rebalance_peer_cmds[];
extern const size_t rebalance_npeer_cmds;

#endif
