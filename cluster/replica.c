/*
 * replica.c -- the replica side of the peer protocol: what a node does
 * when another node's coordinator reads or writes a copy it holds, or asks
 * about the keys of some partitions.
 *
 *   R.GET key             -> object bytes or nil
 *   R.MGET key...         -> array: object bytes or nil per key
 *   R.PUT key bytes       -> merge into the local store, +OK
 *   R.MPUT (key bytes)... -> :count when all are stored, else an array of
 *                            +OK / -ERR per pair
 *   R.KEYS pat p...       -> visible keys of those partitions matching pat
 *   R.COUNT p...          -> number of visible keys in those partitions
 *   R.RANDOM p...         -> one visible key of those partitions, or nil
 *   R.FLUSH               -> drop everything, +OK
 *   R.CONFIG name val [v] -> n / r / w with its version, +OK
 *   R.PING                -> +PONG (failure-detector probe)
 *
 * Only authenticated links reach these (cluster/peer.c).  A write merges
 * the received version into the local copy by the clocks (db_merge_object):
 * replicas never decide between versions, they keep what the clocks say is
 * not superseded, so an R.PUT repeated or reordered changes nothing.  An
 * acknowledgement promises the version is stored (and, with appendfsync
 * always, fsynced: the bus commits one read's writes as a group before the
 * answers leave, cluster.c's batch hooks).
 *
 * replica_scan is the local answer to R.KEYS / R.COUNT / R.RANDOM; the
 * coordinator uses it too for the partitions it holds itself, so a gather
 * answers in one shape wherever the answer comes from.
 *
 * Thread-safety: none; the event loop owns everything.
 */
#include <stdlib.h>
#include <string.h>
#include "cluster/cluster_int.h"
#include "cluster/object.h"
#include "cluster/peer.h"
#include "server/db.h"
#include "server/log.h"
#include "server/node.h"
#include "server/reply.h"
#include "server/store.h"
#include "server/util.h"

/* Local answer to R.KEYS / R.COUNT / R.RANDOM over a partition list. */
struct scan_ctx {
    const char *pat;
    size_t plen;
    int all;
    int64_t now;
    long long count;
    struct dbuf *out;
    size_t nkeys;
    uint64_t rnd;
    char *pick;
    size_t picklen;
};

static int visible(const struct object *o, int64_t now)
{
    return db_visible(o, (uint64_t)now, NULL);
}

static int scan_keys_cb(void *ctx, const void *key, size_t klen,
                        const struct object *obj)
{
    struct scan_ctx *s = ctx;
    if (!visible(obj, s->now))
        return 0;
    if (!s->all && !dyn_glob_match(s->pat, s->plen, key, klen, 0))
        return 0;
    s->count++;
    if (s->out) {
        reply_bulk(s->out, key, klen);
        s->nkeys++;
    }
    return 0;
}

static int scan_random_cb(void *ctx, const void *key, size_t klen,
                          const struct object *obj)
{
    struct scan_ctx *s = ctx;
    if (!visible(obj, s->now))
        return 0;
    s->count++;
    /* reservoir sampling: each key kept with probability 1/count */
    s->rnd = s->rnd * 6364136223846793005ULL + 1442695040888963407ULL;
    if ((s->rnd >> 33) % (uint64_t)s->count == 0) {
        dyn_free(s->pick);
        s->pick = dyn_memdup(key, klen);
        s->picklen = klen;
    }
    return 0;
}

void replica_scan(struct cluster *cl, const char *verb, const char *pat,
                  size_t plen, const uint32_t *parts, size_t np,
                  struct dbuf *out)
{
    int is_keys = strcmp(verb, "R.KEYS") == 0;
    int is_rand = strcmp(verb, "R.RANDOM") == 0;
    struct scan_ctx s = {0};
    s.now = (int64_t)cl_now(cl);
    s.pat = pat ? pat : "*";
    s.plen = pat ? plen : 1;
    s.all = s.plen == 1 && s.pat[0] == '*';
    s.rnd = node_random(cl->node);
    struct dbuf body;
    dbuf_init(&body);
    if (is_keys)
        s.out = &body;
    for (size_t i = 0; i < np; i++)
        store_iter_partition(cl->node->store, parts[i],
                             is_rand ? scan_random_cb : scan_keys_cb, &s);
    if (is_keys) {
        reply_array(out, (long long)s.nkeys);
        dbuf_append(out, body.p, body.len);
    } else if (is_rand) {
        if (s.pick)
            reply_bulk(out, s.pick, s.picklen);
        else
            reply_null(out, 2);
    } else {
        reply_int(out, s.count);
    }
    dbuf_free(&body);
    dyn_free(s.pick);
}

/* ---- the replica side --------------------------------------------------- */

static struct cluster *call_cluster(void *ctx)
{
    return ctx;
}

static void h_get(void *ctx, struct peer_call *call, int argc,
                  const struct dyn_arg *argv)
{
    struct cluster *cl = call_cluster(ctx);
    if (argc != 2) {
        peer_call_reply_error(call, "ERR R.GET key");
        return;
    }
    cl->replica_gets++;
    const struct object *o = db_object(cl->node, argv[1].p, argv[1].len);
    if (o)
        peer_call_reply_bulk(call, object_bytes(o), object_size(o));
    else
        peer_call_reply_null(call);
}

static void h_put(void *ctx, struct peer_call *call, int argc,
                  const struct dyn_arg *argv)
{
    struct cluster *cl = call_cluster(ctx);
    struct object *o = NULL;
    if (argc != 3 ||
        db_parse_object(cl->node, argv[2].p, argv[2].len, &o) != 0) {
        peer_call_reply_error(call, "ERR R.PUT key object: invalid object");
        return;
    }
    cl->replica_puts++;
    /* an ack promises the version is stored: a refused write is an error */
    if (db_merge_object(cl->node, argv[1].p, argv[1].len, o, o) < 0)
        peer_call_reply_error(call, "ERR R.PUT: the replica could not store "
                                    "the object");
    else
        peer_call_reply_ok(call);
}

static void h_mget(void *ctx, struct peer_call *call, int argc,
                   const struct dyn_arg *argv)
{
    struct cluster *cl = call_cluster(ctx);
    if (argc < 2) {
        peer_call_reply_error(call, "ERR R.MGET key...");
        return;
    }
    struct dbuf *out = peer_call_buf(call);
    reply_array(out, argc - 1);
    for (int i = 1; i < argc; i++) {
        cl->replica_gets++;
        const struct object *o = db_object(cl->node, argv[i].p, argv[i].len);
        if (o)
            reply_bulk(out, object_bytes(o), object_size(o));
        else
            reply_null(out, 2);
    }
    peer_call_done(call);
}

static void h_mput(void *ctx, struct peer_call *call, int argc,
                   const struct dyn_arg *argv)
{
    struct cluster *cl = call_cluster(ctx);
    if (argc < 3 || argc % 2 == 0) {
        peer_call_reply_error(call, "ERR R.MPUT key object [key object ...]");
        return;
    }
    int n = (argc - 1) / 2, bad = 0;
    char *res = dyn_malloc((size_t)n);
    for (int i = 0; i < n; i++) {
        const struct dyn_arg *k = &argv[1 + 2 * i], *b = &argv[2 + 2 * i];
        struct object *o = NULL;
        res[i] = 0;
        if (db_parse_object(cl->node, b->p, b->len, &o) != 0)
            res[i] = 1;
        else if (db_merge_object(cl->node, k->p, k->len, o, o) < 0)
            res[i] = 2;
        else
            cl->replica_puts++;
        bad += res[i] != 0;
    }
    struct dbuf *out = peer_call_buf(call);
    if (!bad) {
        reply_int(out, n);
    } else {
        reply_array(out, n);
        for (int i = 0; i < n; i++) {
            if (res[i] == 0)
                reply_ok(out);
            else if (res[i] == 1)
                reply_error(out, "ERR R.MPUT: invalid object");
            else
                reply_error(out, "ERR R.MPUT: the replica could not store "
                                 "the object");
        }
    }
    dyn_free(res);
    peer_call_done(call);
}

static int parse_parts(struct cluster *cl, int from, int argc,
                       const struct dyn_arg *argv, uint32_t *out)
{
    int k = 0;
    for (int i = from; i < argc; i++) {
        unsigned long long p;
        if (dyn_str2ull(argv[i].p, argv[i].len, &p) != 0 || p >= cl->ring.q)
            return -1;
        out[k++] = (uint32_t)p;
    }
    return k;
}

static void h_scan(void *ctx, struct peer_call *call, int argc,
                   const struct dyn_arg *argv)
{
    struct cluster *cl = call_cluster(ctx);
    int is_keys = dyn_arg_is(argv[0].p, argv[0].len, "R.KEYS");
    int is_rand = dyn_arg_is(argv[0].p, argv[0].len, "R.RANDOM");
    int from = is_keys ? 2 : 1;
    if (argc < from) {
        peer_call_reply_error(call, "ERR wrong number of arguments");
        return;
    }
    uint32_t *parts = dyn_malloc(sizeof(uint32_t) * (size_t)(argc + 1));
    int np = parse_parts(cl, from, argc, argv, parts);
    if (np < 0) {
        dyn_free(parts);
        peer_call_reply_error(call, "ERR bad partition");
        return;
    }
    char *pat = NULL;
    if (is_keys) {
        pat = dyn_memdup(argv[1].p, argv[1].len + 1);
        pat[argv[1].len] = 0;
    }
    replica_scan(cl, is_keys ? "R.KEYS" : is_rand ? "R.RANDOM" : "R.COUNT",
                pat, is_keys ? argv[1].len : 0, parts, (size_t)np,
                peer_call_buf(call));
    peer_call_done(call);
    dyn_free(pat);
    dyn_free(parts);
}

static void h_flush(void *ctx, struct peer_call *call, int argc,
                    const struct dyn_arg *argv)
{
    struct cluster *cl = call_cluster(ctx);
    db_flush(cl->node);
    dlog(DLOG_NOTICE, "FLUSHALL from %s", peer_call_peer_name(call));
    peer_call_reply_ok(call);
}

/* R.CONFIG n|r|w value [version]: DYNAMO.CONFIG SET on another node. */
static void h_config(void *ctx, struct peer_call *call, int argc,
                     const struct dyn_arg *argv)
{
    struct cluster *cl = call_cluster(ctx);
    long long v;
    unsigned long long ver = 0;
    if ((argc != 3 && argc != 4) ||
        dyn_str2ll(argv[2].p, argv[2].len, &v) != 0 || v < 1 || v > 64 ||
        (argc == 4 && dyn_str2ull(argv[3].p, argv[3].len, &ver) != 0)) {
        peer_call_reply_error(call, "ERR R.CONFIG n|r|w value [version]");
        return;
    }
    const struct config *c = &cl->node->cfg;
    long long q[3] = {c->n, c->r, c->w};
    if (dyn_arg_is(argv[1].p, argv[1].len, "n"))
        q[0] = v;
    else if (dyn_arg_is(argv[1].p, argv[1].len, "r"))
        q[1] = v;
    else if (dyn_arg_is(argv[1].p, argv[1].len, "w"))
        q[2] = v;
    else {
        peer_call_reply_error(call, "ERR R.CONFIG n|r|w value [version]");
        return;
    }
    /* an old sender without a version: newer than what we have */
    if (!ver)
        ver = members_quorum_version(cl) + 1;
    members_adopt_quorum(cl, ver, q[0], q[1], q[2], peer_call_peer_name(call));
    peer_call_reply_ok(call);
}

static void h_ping(void *ctx, struct peer_call *call, int argc,
                   const struct dyn_arg *argv)
{
    peer_call_reply_bulk(call, "PONG", 4);
}

const struct peer_command replica_peer_cmds[] = {
    {"R.GET", h_get, 0},       {"R.PUT", h_put, 0},
    {"R.KEYS", h_scan, 0},     {"R.COUNT", h_scan, 0},
    {"R.RANDOM", h_scan, 0},   {"R.FLUSH", h_flush, 0},
    {"R.CONFIG", h_config, 0}, {"R.PING", h_ping, 0},
    {"R.MPUT", h_mput, 0},     {"R.MGET", h_mget, 0},
};
const size_t replica_npeer_cmds = DYN_ARRAY_LEN(replica_peer_cmds);
