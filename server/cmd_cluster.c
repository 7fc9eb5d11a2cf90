/*
 * cmd_cluster.c -- DYNAMO.RING, DYNAMO.PREFLIST, DYNAMO.MEMBERS and
 * DYNAMO.GOSSIP: what this node believes about the ring and its members,
 * and how gossip told it.
 *
 *   DYNAMO.GOSSIP [CLUSTER]  -> one record {node, view, rounds}: view is
 *                               this node's member table (name, status,
 *                               incarnation, heartbeat, heartbeat_ms_ago:
 *                               -1 never heard), rounds its last gossip
 *                               rounds, newest first (GOSSIPLOG_ROUNDS,
 *                               cluster/gossiplog.h): time_ms, peer, dir
 *                               (sent: we asked, and what the reply
 *                               brought; received: the peer asked),
 *                               answered, entries (members in the message
 *                               that came in), news (what it changed
 *                               here: "n3: suspect->up", "n4: restarted,
 *                               incarnation 2", "ring: epoch 3->4"; past
 *                               GOSSIPLOG_NEWS lines, "... and k more").
 *                               With CLUSTER, every member's record (the
 *                               coordinator's COMBINE_NODES: a member that
 *                               does not answer is {node, unanswered}).
 *
 * These are views, not quorum operations: each node answers from its own
 * state, which is the point (two nodes may disagree while gossip is in
 * flight).  A node alone has no ring and says so.
 *
 * The file also holds the commands that steer membership and failures:
 * DYNAMO.KILL / REVIVE / FAULT / HINTS, DYNAMO.JOIN / LEAVE / FORGET, and
 * DYNAMO.ADD host:port / SPARES / LEAVE name, which act on another node
 * over the peer bus (members.c, rebalance.c).  ADD and LEAVE name block
 * the calling client until that node answered (the peer bus bounds the
 * wait: a lost link fails the request), so the reply is the other node's
 * own: +OK when its change started, or its error.  The pending answer
 * remembers the client by id, not by pointer.  Refused inside MULTI.
 */
#include <stdio.h>
#include <string.h>
#include "cluster/cluster.h"
#include "cluster/gossiplog.h"
#include "cluster/membership.h"
#include "cluster/ring.h"
#include "server/client.h"
#include "server/command.h"
#include "server/node.h"
#include "server/reply.h"
#include "server/util.h"

#define NOT_IN_CLUSTER \
    "ERR this node is not in a cluster (no cluster-node lines in its config)"

static void reply_member(struct client *c, const struct node *n,
                         const char *name)
{
    const struct membership *mb = cluster_membership(n);
    int m = membership_find(mb, name);
    reply_array(&c->obuf, 2);
    reply_bulk_cstr(&c->obuf, name);
    if (m < 0)
        reply_bulk_cstr(&c->obuf, "unknown");
    else if (mb->m[m].self)
        reply_bulk_cstr(&c->obuf, "self");
    else if (!cluster_member_reachable(n, m))
        reply_bulk_cstr(&c->obuf, mb->m[m].status == MEMBER_UP
                                      ? "unreachable"
                                      : member_status_name(mb->m[m].status));
    else
        reply_bulk_cstr(&c->obuf, member_status_name(mb->m[m].status));
}

/* DYNAMO.RING: epoch, partitions, per node the partitions it owns, and per
 * partition its preference list (the N replicas). */
static void dynamo_ring(struct client *c, int argc, const struct dyn_arg *argv)
{
    const struct ring *r = cluster_ring(c->node);
    if (!r) {
        client_error(c, NOT_IN_CLUSTER);
        return;
    }
    if (argc > 1) {
        /* DYNAMO.RING PLAN JOIN|LEAVE node */
        if (argc != 4 || !dyn_arg_is(argv[1].p, argv[1].len, "plan") ||
            (!dyn_arg_is(argv[2].p, argv[2].len, "join") &&
             !dyn_arg_is(argv[2].p, argv[2].len, "leave"))) {
            client_error(c, "ERR syntax: DYNAMO.RING [PLAN JOIN|LEAVE "
                         "node]");
            return;
        }
        /* <0: it answered an error */
        if (cluster_ring_plan(c->node,
                              dyn_arg_is(argv[2].p, argv[2].len, "join"),
                              argv[3].p, argv[3].len, &c->obuf, c->resp) < 0)
            c->errors++;
        return;
    }
    uint32_t nval = (uint32_t)c->node->cfg.n;
    if (nval > r->nnodes)
        nval = r->nnodes;
    reply_map(&c->obuf, c->resp, 4);
    reply_bulk_cstr(&c->obuf, "epoch");
    reply_int(&c->obuf, (long long)r->epoch);
    reply_bulk_cstr(&c->obuf, "partitions");
    reply_int(&c->obuf, r->q);
    reply_bulk_cstr(&c->obuf, "nodes");
    reply_array(&c->obuf, r->nnodes);
    for (uint32_t i = 0; i < r->nnodes; i++) {
        reply_array(&c->obuf, 2);
        reply_bulk_cstr(&c->obuf, r->names[i]);
        reply_int(&c->obuf, ring_owned_count(r, i));
    }
    reply_bulk_cstr(&c->obuf, "table");
    reply_array(&c->obuf, r->q);
    for (uint32_t p = 0; p < r->q; p++) {
        uint16_t out[64];
        uint32_t k = ring_preflist(r, p, out, nval > 64 ? 64 : nval);
        reply_array(&c->obuf, 1 + (long long)k);
        reply_int(&c->obuf, p);
        for (uint32_t i = 0; i < k; i++)
            reply_bulk_cstr(&c->obuf, r->names[out[i]]);
    }
}

/* DYNAMO.PREFLIST key: hash, partition, the N replicas and the fallbacks,
 * each with its status as this node sees it. */
static void dynamo_preflist(struct client *c, int argc,
                            const struct dyn_arg *argv)
{
    const struct ring *r = cluster_ring(c->node);
    if (!r) {
        client_error(c, NOT_IN_CLUSTER);
        return;
    }
    uint64_t h = dyn_hash64(argv[1].p, argv[1].len);
    uint32_t p = ring_partition_of_hash(r, h);
    uint16_t out[RING_MAX_NODES];
    uint32_t k = ring_preflist(r, p, out, r->nnodes);
    uint32_t nval = (uint32_t)c->node->cfg.n;
    if (nval > k)
        nval = k;
    char hex[24];
    snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)h);
    reply_map(&c->obuf, c->resp, 4);
    reply_bulk_cstr(&c->obuf, "hash");
    reply_bulk_cstr(&c->obuf, hex);
    reply_bulk_cstr(&c->obuf, "partition");
    reply_int(&c->obuf, p);
    reply_bulk_cstr(&c->obuf, "replicas");
    reply_array(&c->obuf, nval);
    for (uint32_t i = 0; i < nval; i++)
        reply_member(c, c->node, r->names[out[i]]);
    reply_bulk_cstr(&c->obuf, "fallbacks");
    reply_array(&c->obuf, k - nval);
    for (uint32_t i = nval; i < k; i++)
        reply_member(c, c->node, r->names[out[i]]);
}

/* DYNAMO.MEMBERS: this node's member table. */
static void dynamo_members(struct client *c, int argc,
                           const struct dyn_arg *argv)
{
    const struct membership *mb = cluster_membership(c->node);
    if (!mb) {
        client_error(c, NOT_IN_CLUSTER);
        return;
    }
    const struct ring *r = cluster_ring(c->node);
    uint64_t now = node_wall_ms(c->node);
    reply_array(&c->obuf, (long long)mb->n + 1);
    reply_array(&c->obuf, 2);
    reply_bulk_cstr(&c->obuf, "ring_epoch");
    reply_int(&c->obuf, (long long)r->epoch);
    for (uint32_t i = 0; i < mb->n; i++) {
        const struct member *m = &mb->m[i];
        char addr[96];
        snprintf(addr, sizeof(addr), "%s:%u", m->host, (unsigned)m->port);
        reply_map(&c->obuf, c->resp, 8);
        reply_bulk_cstr(&c->obuf, "name");
        reply_bulk_cstr(&c->obuf, m->name);
        reply_bulk_cstr(&c->obuf, "addr");
        reply_bulk_cstr(&c->obuf, addr);
        reply_bulk_cstr(&c->obuf, "status");
        /* our own entry: "self", or the tombstone that keeps us out */
        reply_bulk_cstr(&c->obuf, m->self && !MEMBER_IS_TOMBSTONE(m->status)
                                      ? "self"
                                      : member_status_name(m->status));
        reply_bulk_cstr(&c->obuf, "last_reply_ms_ago");
        reply_int(&c->obuf, m->self ? 0
                                    : (long long)(now > m->last_reply_ms
                                                      ? now - m->last_reply_ms
                                                      : 0));
        reply_bulk_cstr(&c->obuf, "incarnation");
        reply_int(&c->obuf, m->incarnation);
        reply_bulk_cstr(&c->obuf, "heartbeat");
        reply_int(&c->obuf, (long long)m->heartbeat);
        reply_bulk_cstr(&c->obuf, "heartbeat_ms_ago");
        reply_int(&c->obuf, m->self || !m->last_heard_ms
                                ? (m->self ? 0 : -1)
                                : (long long)(now > m->last_heard_ms
                                                  ? now - m->last_heard_ms
                                                  : 0));
        reply_bulk_cstr(&c->obuf, "down_transitions");
        reply_int(&c->obuf, (long long)m->down_transitions);
    }
}

/* DYNAMO.GOSSIP [CLUSTER]: a leading CLUSTER reaches this handler only on
 * a node alone (the coordinator gathers and strips it otherwise). */
static void dynamo_gossip(struct client *c, int argc,
                          const struct dyn_arg *argv)
{
    if (argc == 2 && dyn_arg_is(argv[1].p, argv[1].len, "cluster"))
        argc--;
    if (argc != 1) {
        client_error(c, "ERR syntax: DYNAMO.GOSSIP [CLUSTER]");
        return;
    }
    const struct membership *mb = cluster_membership(c->node);
    const struct gossiplog *log = cluster_gossip_log(c->node);
    if (!mb || !log) {
        client_error(c, NOT_IN_CLUSTER);
        return;
    }
    uint64_t now = node_wall_ms(c->node);
    reply_array(&c->obuf, 1);
    reply_map(&c->obuf, c->resp, 3);
    reply_bulk_cstr(&c->obuf, "node");
    reply_bulk_cstr(&c->obuf, mb->m[mb->self].name);
    reply_bulk_cstr(&c->obuf, "view");
    reply_array(&c->obuf, mb->n);
    for (uint32_t i = 0; i < mb->n; i++) {
        const struct member *m = &mb->m[i];
        reply_map(&c->obuf, c->resp, 5);
        reply_bulk_cstr(&c->obuf, "name");
        reply_bulk_cstr(&c->obuf, m->name);
        reply_bulk_cstr(&c->obuf, "status");
        reply_bulk_cstr(&c->obuf, m->self && !MEMBER_IS_TOMBSTONE(m->status)
                                      ? "self"
                                      : member_status_name(m->status));
        reply_bulk_cstr(&c->obuf, "incarnation");
        reply_int(&c->obuf, m->incarnation);
        reply_bulk_cstr(&c->obuf, "heartbeat");
        reply_int(&c->obuf, (long long)m->heartbeat);
        reply_bulk_cstr(&c->obuf, "heartbeat_ms_ago");
        reply_int(&c->obuf, m->self ? 0
                            : !m->last_heard_ms ? -1
                            : (long long)(now > m->last_heard_ms
                                              ? now - m->last_heard_ms
                                              : 0));
    }
    const struct gossiplog_round *out[GOSSIPLOG_ROUNDS];
    uint32_t k = gossiplog_list(log, out, GOSSIPLOG_ROUNDS);
    reply_bulk_cstr(&c->obuf, "rounds");
    reply_array(&c->obuf, k);
    for (uint32_t i = 0; i < k; i++) {
        const struct gossiplog_round *r = out[i];
        uint32_t kept = DYN_MIN(r->nnews, (uint32_t)GOSSIPLOG_NEWS);
        reply_map(&c->obuf, c->resp, 6);
        reply_bulk_cstr(&c->obuf, "time_ms");
        reply_int(&c->obuf, (long long)r->wall_ms);
        reply_bulk_cstr(&c->obuf, "peer");
        reply_bulk_cstr(&c->obuf, r->peer);
        reply_bulk_cstr(&c->obuf, "dir");
        reply_bulk_cstr(&c->obuf, gossiplog_dir_name(r->dir));
        reply_bulk_cstr(&c->obuf, "answered");
        reply_int(&c->obuf, r->answered);
        reply_bulk_cstr(&c->obuf, "entries");
        reply_int(&c->obuf, r->entries);
        reply_bulk_cstr(&c->obuf, "news");
        reply_array(&c->obuf, kept + (r->nnews > kept));
        for (uint32_t j = 0; j < kept; j++)
            reply_bulk_cstr(&c->obuf, r->news[j]);
        if (r->nnews > kept) {
            char more[48];
            snprintf(more, sizeof(more), "... and %u more", r->nnews - kept);
            reply_bulk_cstr(&c->obuf, more);
        }
    }
}

/* Replies +OK, or the error text the cluster function wrote. */
static void reply_result(struct client *c, int rc, struct dbuf *err)
{
    if (rc == 0)
        reply_ok(&c->obuf);
    else
        client_error(c, err->len ? err->p : "ERR failed");
    dbuf_free(err);
}

static int in_cluster(struct client *c)
{
    if (cluster_membership(c->node))
        return 1;
    client_error(c, NOT_IN_CLUSTER);
    return 0;
}

/* DYNAMO.KILL [node] [seconds] */
static void dynamo_kill(struct client *c, int argc, const struct dyn_arg *argv)
{
    if (!in_cluster(c))
        return;
    const struct membership *mb = cluster_membership(c->node);
    const char *name = NULL;
    size_t nlen = 0;
    unsigned long long secs = 0;
    int bad = argc > 3;
    if (argc >= 2) {
        char tmp[MEMBER_NAME_MAX];
        int known = 0;
        if (argv[1].len < sizeof(tmp)) {
            memcpy(tmp, argv[1].p, argv[1].len);
            tmp[argv[1].len] = 0;
            known = membership_find(mb, tmp) >= 0;
        }
        if (known || argc == 3) {
            name = argv[1].p;
            nlen = argv[1].len;
        } else if (dyn_str2ull(argv[1].p, argv[1].len, &secs) != 0) {
            name = argv[1].p; /* unknown member: cluster_kill says so */
            nlen = argv[1].len;
        }
    }
    if (argc == 3 && dyn_str2ull(argv[2].p, argv[2].len, &secs) != 0)
        bad = 1;
    if (bad) {
        client_error(c, "ERR syntax: DYNAMO.KILL [node] [seconds]");
        return;
    }
    struct dbuf err;
    dbuf_init(&err);
    reply_result(c, cluster_kill(c->node, name, nlen, secs, &err), &err);
}

/* DYNAMO.REVIVE [node] */
static void dynamo_revive(struct client *c, int argc,
                          const struct dyn_arg *argv)
{
    if (!in_cluster(c))
        return;
    struct dbuf err;
    dbuf_init(&err);
    reply_result(c, cluster_revive(c->node, argc > 1 ? argv[1].p : NULL,
                                   argc > 1 ? argv[1].len : 0, &err),
                 &err);
}

static void dynamo_fault(struct client *c, int argc,
                         const struct dyn_arg *argv)
{
    if (!in_cluster(c))
        return;
    if (cluster_fault(c->node, argc, argv, &c->obuf) < 0)
        c->errors++; /* it answered an error */
}

static void dynamo_hints(struct client *c, int argc,
                         const struct dyn_arg *argv)
{
    if (!in_cluster(c))
        return;
    cluster_hints_reply(c->node, &c->obuf);
}

static void dynamo_join(struct client *c, int argc, const struct dyn_arg *argv)
{
    if (!in_cluster(c))
        return;
    struct dbuf err;
    dbuf_init(&err);
    reply_result(c, cluster_join(c->node, argv[1].p, argv[1].len, &err), &err);
}

/* ---- changes asked of another node: the client waits for its answer ---- */

/* A blocked client's pending answer, by id: a client that disconnected
 * meanwhile is simply not answered. */
struct told_wait {
    struct node *node;
    uint64_t client_id;
};

static void told_done(void *ctx, const char *err)
{
    struct told_wait *w = ctx;
    struct client *c = w->node->clients;
    while (c && c->id != w->client_id)
        c = c->next;
    dyn_free(w);
    if (!c || !(c->flags & CLIENT_BLOCKED))
        return;
    if (err)
        client_error(c, err);
    else
        reply_ok(&c->obuf);
    client_unblock(c);
}

typedef int tell_fn(struct node *n, const char *arg, size_t len,
                    cluster_done_fn *done, void *ctx, struct dbuf *err);

/* Blocks c until the other node answered fn's request. */
static void tell_and_wait(struct client *c, tell_fn *fn,
                          const struct dyn_arg *arg)
{
    if (c->flags & CLIENT_IN_EXEC) {
        client_error(c, "ERR this command cannot run inside MULTI");
        return;
    }
    struct told_wait *w = dyn_malloc(sizeof(*w));
    w->node = c->node;
    w->client_id = c->id;
    struct dbuf err;
    dbuf_init(&err);
    if (fn(c->node, arg->p, arg->len, told_done, w, &err) != 0) {
        dyn_free(w);
        client_error(c, err.len ? err.p : "ERR failed");
    } else {
        c->flags |= CLIENT_BLOCKED;
    }
    dbuf_free(&err);
}

/* DYNAMO.LEAVE: this node leaves; DYNAMO.LEAVE name: the live member name
 * is told to (it drives its own leave). */
static void dynamo_leave(struct client *c, int argc,
                         const struct dyn_arg *argv)
{
    if (!in_cluster(c))
        return;
    if (argc > 2) {
        client_error(c, "ERR syntax: DYNAMO.LEAVE [name]");
        return;
    }
    if (argc == 2) {
        tell_and_wait(c, cluster_tell_leave, &argv[1]);
        return;
    }
    struct dbuf err;
    dbuf_init(&err);
    reply_result(c, cluster_leave(c->node, &err), &err);
}

/* DYNAMO.ADD host:port: the spare-node there joins through this node. */
static void dynamo_add(struct client *c, int argc, const struct dyn_arg *argv)
{
    if (!in_cluster(c))
        return;
    tell_and_wait(c, cluster_add_spare, &argv[1]);
}

static void dynamo_spares(struct client *c, int argc,
                          const struct dyn_arg *argv)
{
    if (!in_cluster(c))
        return;
    cluster_spares_reply(c->node, &c->obuf, c->resp);
}

static void dynamo_forget(struct client *c, int argc,
                          const struct dyn_arg *argv)
{
    if (!in_cluster(c))
        return;
    struct dbuf err;
    dbuf_init(&err);
    reply_result(c, cluster_forget(c->node, argv[1].p, argv[1].len, &err),
                 &err);
}

const struct command cmd_cluster_table[] = {
    {"dynamo.ring", dynamo_ring, -1, CMD_READONLY | CMD_DYNAMO, 0, 0, 0,
     "@read @slow", "dynamo", "1.0.0",
     "Shows this node's ring: epoch, partitions per node, each partition's "
     "replicas.",
     "O(Q)", NULL, ROUTE_LOCAL, COMBINE_NONE, NULL, 0},
    {"dynamo.preflist", dynamo_preflist, 2, CMD_READONLY | CMD_DYNAMO, 1, 1,
     1, "@read @fast", "dynamo", "1.0.0",
     "Shows a key's hash, partition, replicas and fallbacks with their "
     "status.",
     "O(S)", NULL, ROUTE_LOCAL, COMBINE_NONE, NULL, 0},
    {"dynamo.members", dynamo_members, 1, CMD_READONLY | CMD_DYNAMO, 0, 0, 0,
     "@read @slow", "dynamo", "1.0.0",
     "Shows this node's view of every member.", "O(S)", NULL,
     ROUTE_LOCAL, COMBINE_NONE, NULL, 0},
    {"dynamo.gossip", dynamo_gossip, -1, CMD_READONLY | CMD_DYNAMO, 0, 0, 0,
     "@read @slow", "dynamo", "1.0.0",
     "Shows this node's member view and its last gossip rounds (with "
     "whom, which way, the news each brought), or every member's with "
     "CLUSTER.",
     "O(S + G) where G is the rounds kept", NULL, ROUTE_ALL, COMBINE_NODES,
     NULL, 0},
    {"dynamo.kill", dynamo_kill, -1, CMD_ADMIN | CMD_DYNAMO, 0, 0, 0,
     "@admin @dangerous", "dynamo", "1.0.0",
     "Makes this node (or the named one) behave as crashed: peer traffic "
     "is dropped and data commands refused, until DYNAMO.REVIVE or the "
     "seconds run out.",
     "O(1)", NULL, ROUTE_LOCAL, COMBINE_NONE, NULL, 0},
    {"dynamo.revive", dynamo_revive, -1, CMD_ADMIN | CMD_DYNAMO, 0, 0, 0,
     "@admin", "dynamo", "1.0.0", "Ends DYNAMO.KILL on this or the named node.",
     "O(1)", NULL, ROUTE_LOCAL, COMBINE_NONE, NULL, 0},
    {"dynamo.fault", dynamo_fault, -2, CMD_ADMIN | CMD_DYNAMO, 0, 0, 0,
     "@admin @dangerous", "dynamo", "1.0.0",
     "Drops or delays peer traffic between two members, one way or both: "
     "from to DROP [BOTH] | from to DELAY ms [BOTH] | CLEAR [ALL] | LIST.",
     "O(S)", NULL, ROUTE_LOCAL, COMBINE_NONE, NULL, 0},
    {"dynamo.hints", dynamo_hints, 1, CMD_READONLY | CMD_DYNAMO, 0, 0, 0,
     "@read @slow", "dynamo", "1.0.0",
     "Lists the hints this node holds: owner, count, bytes.", "O(owners)",
     NULL, ROUTE_LOCAL, COMBINE_NONE, NULL, 0},
    {"dynamo.join", dynamo_join, 2, CMD_ADMIN | CMD_DYNAMO, 0, 0, 0,
     "@admin", "dynamo", "1.0.0",
     "Gossips with host:port; a node outside the ring then joins it and "
     "its partitions are streamed to it.",
     "O(1)", NULL, ROUTE_LOCAL, COMBINE_NONE, NULL, 0},
    {"dynamo.leave", dynamo_leave, -1, CMD_ADMIN | CMD_DYNAMO, 0, 0, 0,
     "@admin @dangerous", "dynamo", "1.0.0",
     "Hands off this node's partitions, then leaves the cluster; with a "
     "name, tells that live member to leave and replies with its answer.",
     "O(Q)", NULL, ROUTE_LOCAL, COMBINE_NONE, NULL, 0},
    {"dynamo.add", dynamo_add, 2, CMD_ADMIN | CMD_DYNAMO, 0, 0, 0,
     "@admin", "dynamo", "1.0.0",
     "Tells the spare-node at host:port, over the peer bus, to join the "
     "cluster through this node (its DYNAMO.JOIN); replies with its "
     "answer.",
     "O(1)", NULL, ROUTE_LOCAL, COMBINE_NONE, NULL, 0},
    {"dynamo.spares", dynamo_spares, 1, CMD_READONLY | CMD_DYNAMO, 0, 0, 0,
     "@read @slow", "dynamo", "1.0.0",
     "Lists the spare-node lines that are not members: address, name and "
     "http address as the spare reported them, whether it is linked.",
     "O(spares)", NULL, ROUTE_LOCAL, COMBINE_NONE, NULL, 0},
    {"dynamo.forget", dynamo_forget, 2, CMD_ADMIN | CMD_DYNAMO, 0, 0, 0,
     "@admin @dangerous", "dynamo", "1.0.0",
     "Removes a dead node for good; its partitions are re-replicated.",
     "O(Q)", NULL, ROUTE_LOCAL, COMBINE_NONE, NULL, 0},
    {NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL, 0},
};
