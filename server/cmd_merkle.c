/*
 * cmd_merkle.c -- the anti-entropy commands (issue #6):
 *
 *   DYNAMO.MERKLE              -> this node's trees: one [partition, root,
 *                                 keys] per non-empty partition (no network)
 *   DYNAMO.MERKLE partition    -> asks every replica of the partition for
 *                                 its tree: {partition, leaves, replicas:
 *                                 [[name, root|nil, keys]...],
 *                                 differing_leaves: [leaf...],
 *                                 unanswered: [name...]}; a replica that
 *                                 does not answer within
 *                                 request-timeout-ms has a nil root and
 *                                 keys -1, and is named in unanswered.
 *                                 Leaves are compared with the first
 *                                 replica that answered.
 *   DYNAMO.AE [partition|NEXT|ALL]
 *                              -> runs one exchange now (default NEXT: the
 *                                 next partition in turn; ALL: every
 *                                 partition this node replicates) ahead of
 *                                 the periodic ones, even with
 *                                 anti-entropy-interval-ms 0, and replies
 *                                 when it is done: {partitions,
 *                                 peer_exchanges, peers_failed,
 *                                 keys_repaired, bytes, ms, unanswered:
 *                                 [name...]}.  Each peer request waits at
 *                                 most request-timeout-ms; a peer that
 *                                 misses it is named in unanswered and
 *                                 not asked again in that run.  On a node
 *                                 under DYNAMO.KILL: -KILLED.
 *
 *   DYNAMO.ROOTS [CLUSTER]     -> this node's roots as one record
 *                                 {node, leaves, empty_root, partitions:
 *                                 [[partition, root, keys]...]}: every
 *                                 partition whose tree is not the empty
 *                                 tree's (empty_root: a partition not
 *                                 listed has that root and no keys; the
 *                                 XOR leaves make a tree emptied by
 *                                 deletes or handoffs equal to it).  No
 *                                 network.  With CLUSTER, every
 *                                 reachable member's record (the
 *                                 coordinator's COMBINE_NODES, as
 *                                 DYNAMO.TRACE CLUSTER: a member that does
 *                                 not answer is a {node, unanswered}
 *                                 record), so a caller compares the roots
 *                                 of each partition's replicas in one
 *                                 round trip (GET /api/merkle).
 *
 * Roots are shown as 16 hex digits.  Both network commands block the
 * calling client (CLIENT_BLOCKED) until the answer is ready, and never
 * longer than their bound (antientropy.h): a peer that does not answer in
 * time makes a partial answer that names it, never a hang.  The pending
 * answer remembers the client by id, not by pointer, so a client that
 * disconnects meanwhile is simply not answered; a peer's answer that comes
 * after the command answered is dropped by antientropy.c (a stale request)
 * and never reaches this file.  Refused inside MULTI.
 *
 * A node alone has no replicas: DYNAMO.MERKLE shows its own trees
 * (enabling them on first use) and DYNAMO.AE is an error.
 *
 * Thread-safety: handlers run on the event loop that owns the node.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/command.h"
#include "server/client.h"
#include "server/node.h"
#include "server/reply.h"
#include "server/store.h"
#include "server/util.h"
#include "cluster/antientropy.h"
#include "cluster/cluster.h"
#include "cluster/merkle.h"

#define MERKLE_KILLED                                                      \
    "KILLED this node simulates a crash (DYNAMO.KILL): anti-entropy is "   \
    "stopped until DYNAMO.REVIVE"

/* A blocked client's pending answer. */
struct merkle_wait {
    struct node *node;
    uint64_t client_id;
};

static struct client *merkle_find_client(struct node *n, uint64_t id)
{
    for (struct client *c = n->clients; c; c = c->next)
        if (c->id == id)
            return c;
    return NULL;
}

static struct merkle_wait *merkle_block(struct client *c)
{
    struct merkle_wait *w = dyn_malloc(sizeof(*w));
    w->node = c->node;
    w->client_id = c->id;
    c->flags |= CLIENT_BLOCKED;
    return w;
}

/* The client to answer (still blocked), or NULL; frees w. */
static struct client *merkle_resume(struct merkle_wait *w)
{
    struct client *c = merkle_find_client(w->node, w->client_id);
    dyn_free(w);
    if (!c || !(c->flags & CLIENT_BLOCKED))
        return NULL;
    return c;
}

static void merkle_root_hex(struct client *c, uint64_t root)
{
    char hex[17];
    snprintf(hex, sizeof(hex), "%016" PRIx64, root);
    reply_bulk(&c->obuf, hex, 16);
}

static int merkle_parse_part(struct client *c, const struct dyn_arg *a,
                             uint32_t *out)
{
    char buf[16];
    char *end;
    if (a->len == 0 || a->len >= sizeof(buf))
        goto bad;
    memcpy(buf, a->p, a->len);
    buf[a->len] = '\0';
    unsigned long v = strtoul(buf, &end, 10);
    if (*end || buf[0] == '-' || v >= store_partitions(c->node->store))
        goto bad;
    *out = (uint32_t)v;
    return 0;
bad:
    client_errorf(c, "ERR partition must be an integer from 0 to %u",
                  store_partitions(c->node->store) - 1);
    return -1;
}

static int merkle_refuse_multi(struct client *c)
{
    if (c->flags & CLIENT_IN_EXEC) {
        client_error(c, "ERR this command cannot run inside MULTI");
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------ DYNAMO.MERKLE */

static void merkle_view_done(void *ctx, const struct antientropy_view *v)
{
    struct client *c = merkle_resume(ctx);
    if (!c)
        return;
    if (v->aborted) {
        client_error(c, "ERR the node is shutting down");
    } else {
        uint32_t silent = 0;
        for (uint32_t i = 0; i < v->nreplicas; i++)
            silent += !v->rep[i].ok;
        reply_map(&c->obuf, c->resp, 5);
        reply_bulk_cstr(&c->obuf, "partition");
        reply_int(&c->obuf, v->partition);
        reply_bulk_cstr(&c->obuf, "leaves");
        reply_int(&c->obuf, v->leaves);
        reply_bulk_cstr(&c->obuf, "replicas");
        reply_array(&c->obuf, v->nreplicas);
        for (uint32_t i = 0; i < v->nreplicas; i++) {
            reply_array(&c->obuf, 3);
            reply_bulk_cstr(&c->obuf, v->rep[i].name);
            if (v->rep[i].ok)
                merkle_root_hex(c, v->rep[i].root);
            else
                reply_null(&c->obuf, c->resp);
            reply_int(&c->obuf, v->rep[i].ok ? v->rep[i].keys : -1);
        }
        reply_bulk_cstr(&c->obuf, "differing_leaves");
        reply_array(&c->obuf, v->ndiff);
        for (uint32_t i = 0; i < v->ndiff; i++)
            reply_int(&c->obuf, v->diff[i]);
        reply_bulk_cstr(&c->obuf, "unanswered");
        reply_array(&c->obuf, silent);
        for (uint32_t i = 0; i < v->nreplicas; i++)
            if (!v->rep[i].ok)
                reply_bulk_cstr(&c->obuf, v->rep[i].name);
    }
    client_unblock(c);
}

/* The store's trees, enabled on first use (a node alone). */
static struct store *merkle_trees(struct node *n)
{
    struct store *s = n->store;
    if (!store_merkle_leaves(s)) {
        int leaves = n->cfg.merkle_leaves;
        store_merkle_enable(s, leaves > 0 && !(leaves & (leaves - 1))
                                   ? (uint32_t)leaves : 1024);
    }
    return s;
}

static void merkle_local(struct client *c, int argc,
                         const struct dyn_arg *argv)
{
    struct store *s = merkle_trees(c->node);
    if (argc == 2) {
        uint32_t p;
        if (merkle_parse_part(c, &argv[1], &p))
            return;
        reply_array(&c->obuf, 3);
        reply_int(&c->obuf, p);
        merkle_root_hex(c, merkle_root(store_merkle(s, p)));
        reply_int(&c->obuf, (long long)store_partition_count(s, p));
        return;
    }
    uint32_t np = store_partitions(s), nonempty = 0;
    for (uint32_t p = 0; p < np; p++)
        nonempty += store_partition_count(s, p) > 0;
    reply_array(&c->obuf, nonempty);
    for (uint32_t p = 0; p < np; p++) {
        if (!store_partition_count(s, p))
            continue;
        reply_array(&c->obuf, 3);
        reply_int(&c->obuf, p);
        merkle_root_hex(c, merkle_root(store_merkle(s, p)));
        reply_int(&c->obuf, (long long)store_partition_count(s, p));
    }
}

static void dynamo_merkle(struct client *c, int argc,
                          const struct dyn_arg *argv)
{
    struct antientropy *ae = antientropy_of(c->node);
    if (argc > 2) {
        client_error(c, ERR_SYNTAX);
        return;
    }
    if (!ae || argc == 1) {
        merkle_local(c, argc, argv);
        return;
    }
    if (merkle_refuse_multi(c))
        return;
    uint32_t p;
    if (merkle_parse_part(c, &argv[1], &p))
        return;
    struct merkle_wait *w = merkle_block(c);
    if (antientropy_view(ae, p, merkle_view_done, w) != 0) {
        c->flags &= ~(unsigned)CLIENT_BLOCKED;
        dyn_free(w);
        client_error(c, "ERR cannot query the replicas");
    }
}

/* ------------------------------------------------------------- DYNAMO.ROOTS */

/* DYNAMO.ROOTS [CLUSTER]: a leading CLUSTER reaches this handler only on
 * a node alone (the coordinator gathers and strips it otherwise). */
static void dynamo_roots(struct client *c, int argc,
                         const struct dyn_arg *argv)
{
    if (argc == 2 && dyn_arg_is(argv[1].p, argv[1].len, "cluster"))
        argc--;
    if (argc != 1) {
        client_error(c, "ERR syntax: DYNAMO.ROOTS [CLUSTER]");
        return;
    }
    struct store *s = merkle_trees(c->node);
    uint32_t leaves = store_merkle_leaves(s), np = store_partitions(s);
    struct merkle *empty = merkle_new(leaves);
    uint64_t empty_root = merkle_root(empty);
    merkle_free(empty);
    uint32_t listed = 0;
    for (uint32_t p = 0; p < np; p++)
        listed += store_partition_count(s, p) > 0 ||
                  merkle_root(store_merkle(s, p)) != empty_root;
    reply_array(&c->obuf, 1);
    reply_map(&c->obuf, c->resp, 4);
    reply_bulk_cstr(&c->obuf, "node");
    reply_bulk_cstr(&c->obuf, c->node->cfg.node_name ? c->node->cfg.node_name
                                                     : "");
    reply_bulk_cstr(&c->obuf, "leaves");
    reply_int(&c->obuf, leaves);
    reply_bulk_cstr(&c->obuf, "empty_root");
    merkle_root_hex(c, empty_root);
    reply_bulk_cstr(&c->obuf, "partitions");
    reply_array(&c->obuf, listed);
    for (uint32_t p = 0; p < np; p++) {
        uint64_t root = merkle_root(store_merkle(s, p));
        size_t keys = store_partition_count(s, p);
        if (!keys && root == empty_root)
            continue;
        reply_array(&c->obuf, 3);
        reply_int(&c->obuf, p);
        merkle_root_hex(c, root);
        reply_int(&c->obuf, (long long)keys);
    }
}

/* ---------------------------------------------------------------- DYNAMO.AE */

static void merkle_ae_done(void *ctx, const struct antientropy_result *r)
{
    struct client *c = merkle_resume(ctx);
    if (!c)
        return;
    if (r->aborted) {
        client_error(c, "ERR the node is shutting down");
    } else if (r->killed) {
        client_error(c, MERKLE_KILLED);
    } else {
        reply_map(&c->obuf, c->resp, 7);
        reply_bulk_cstr(&c->obuf, "partitions");
        reply_int(&c->obuf, r->partitions);
        reply_bulk_cstr(&c->obuf, "peer_exchanges");
        reply_int(&c->obuf, r->peer_exchanges);
        reply_bulk_cstr(&c->obuf, "peers_failed");
        reply_int(&c->obuf, r->peers_failed);
        reply_bulk_cstr(&c->obuf, "keys_repaired");
        reply_int(&c->obuf, (long long)r->keys_repaired);
        reply_bulk_cstr(&c->obuf, "bytes");
        reply_int(&c->obuf, (long long)r->bytes);
        reply_bulk_cstr(&c->obuf, "ms");
        reply_int(&c->obuf, (long long)r->ms);
        reply_bulk_cstr(&c->obuf, "unanswered");
        reply_array(&c->obuf, r->nunanswered);
        for (uint32_t i = 0; i < r->nunanswered; i++)
            reply_bulk_cstr(&c->obuf, r->unanswered[i]);
    }
    client_unblock(c);
}

static void dynamo_ae(struct client *c, int argc, const struct dyn_arg *argv)
{
    struct antientropy *ae = antientropy_of(c->node);
    if (argc > 2) {
        client_error(c, ERR_SYNTAX);
        return;
    }
    if (!ae) {
        client_error(c, "ERR anti-entropy needs a cluster");
        return;
    }
    if (cluster_is_killed(c->node)) {
        client_error(c, MERKLE_KILLED);
        return;
    }
    if (merkle_refuse_multi(c))
        return;
    int64_t part = ANTIENTROPY_NEXT;
    if (argc == 2) {
        if (dyn_arg_is(argv[1].p, argv[1].len, "all")) {
            part = ANTIENTROPY_ALL;
        } else if (!dyn_arg_is(argv[1].p, argv[1].len, "next")) {
            uint32_t p;
            if (merkle_parse_part(c, &argv[1], &p))
                return;
            part = p;
        }
    }
    struct merkle_wait *w = merkle_block(c);
    if (antientropy_start(ae, part, merkle_ae_done, w) != 0) {
        c->flags &= ~(unsigned)CLIENT_BLOCKED;
        dyn_free(w);
        client_error(c, "ERR too many exchanges queued");
    }
}

const struct command cmd_merkle_table[] = {
    { "dynamo.merkle", dynamo_merkle, -1,
      CMD_READONLY | CMD_DYNAMO | CMD_MULTI_DENIED, 0, 0, 0,
      "@read @slow", "dynamo", "1.0.0",
      "Shows the Merkle roots of a partition's replicas and the leaves "
      "where they differ.", "O(L) where L is merkle-leaves.", NULL,
      ROUTE_LOCAL, COMBINE_NONE, NULL, 0 },
    { "dynamo.roots", dynamo_roots, -1, CMD_READONLY | CMD_DYNAMO, 0, 0, 0,
      "@read @slow", "dynamo", "1.0.0",
      "Shows this node's Merkle root of every partition it holds, or every "
      "member's with CLUSTER.", "O(P) where P is the partition count.",
      NULL, ROUTE_ALL, COMBINE_NODES, NULL, 0 },
    { "dynamo.ae", dynamo_ae, -1, CMD_ADMIN | CMD_DYNAMO | CMD_MULTI_DENIED,
      0, 0, 0, "@admin @slow", "dynamo", "1.0.0",
      "Runs an anti-entropy exchange now and replies when it is done.",
      "O(D) where D is the number of differing keys.", NULL,
      ROUTE_LOCAL, COMBINE_NONE, NULL, 0 },
    { NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL,
     0, 0, NULL, 0 },
};
