/*
 * cmd_cluster.c -- DYNAMO.RING, DYNAMO.PREFLIST and DYNAMO.MEMBERS: what
 * this node believes about the ring and its members.
 *
 * These are views, not quorum operations: each node answers from its own
 * state, which is the point (two nodes may disagree while gossip is in
 * flight).  A node alone has no ring and says so.
 */
#include <stdio.h>
#include <string.h>
#include "cluster/coordinator.h"
#include "cluster/membership.h"
#include "cluster/ring.h"
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
        reply_error(&c->obuf, NOT_IN_CLUSTER);
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
        reply_error(&c->obuf, NOT_IN_CLUSTER);
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
        reply_error(&c->obuf, NOT_IN_CLUSTER);
        return;
    }
    const struct ring *r = cluster_ring(c->node);
    uint64_t now = dyn_wall_ms();
    reply_array(&c->obuf, (long long)mb->n + 1);
    reply_array(&c->obuf, 2);
    reply_bulk_cstr(&c->obuf, "ring_epoch");
    reply_int(&c->obuf, (long long)r->epoch);
    for (uint32_t i = 0; i < mb->n; i++) {
        const struct member *m = &mb->m[i];
        char addr[96];
        snprintf(addr, sizeof(addr), "%s:%u", m->host, (unsigned)m->port);
        reply_map(&c->obuf, c->resp, 5);
        reply_bulk_cstr(&c->obuf, "name");
        reply_bulk_cstr(&c->obuf, m->name);
        reply_bulk_cstr(&c->obuf, "addr");
        reply_bulk_cstr(&c->obuf, addr);
        reply_bulk_cstr(&c->obuf, "status");
        reply_bulk_cstr(&c->obuf,
                        m->self ? "self" : member_status_name(m->status));
        reply_bulk_cstr(&c->obuf, "last_reply_ms_ago");
        reply_int(&c->obuf, m->self ? 0
                                    : (long long)(now > m->last_reply_ms
                                                      ? now - m->last_reply_ms
                                                      : 0));
        reply_bulk_cstr(&c->obuf, "incarnation");
        reply_int(&c->obuf, m->incarnation);
    }
}

const struct command cmd_cluster_table[] = {
    {"dynamo.ring", dynamo_ring, 1, CMD_READONLY | CMD_DYNAMO, 0, 0, 0,
     "@read @slow", "dynamo", "1.0.0",
     "Shows this node's ring: epoch, partitions per node, each partition's "
     "replicas.",
     "O(Q)", NULL},
    {"dynamo.preflist", dynamo_preflist, 2, CMD_READONLY | CMD_DYNAMO, 1, 1,
     1, "@read @fast", "dynamo", "1.0.0",
     "Shows a key's hash, partition, replicas and fallbacks with their "
     "status.",
     "O(S)", NULL},
    {"dynamo.members", dynamo_members, 1, CMD_READONLY | CMD_DYNAMO, 0, 0, 0,
     "@read @slow", "dynamo", "1.0.0",
     "Shows this node's view of every member.", "O(S)", NULL},
    {NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL},
};
