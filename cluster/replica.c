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
 *   R.MGETD (key digest)...
 *                         -> array: per key, +SAME when the local object's
 *                            digest (16 hex digits) is that one, else its
 *                            bytes or nil
 *   R.MDPUT (key delta)...-> as R.MPUT, with a delta (cluster/delta.h) of
 *                            the local object for each key: stored when it
 *                            applies, else -DELTA (the coordinator then
 *                            sends the whole object)
 *   R.KEYS pat p...       -> visible keys of those partitions matching pat
 *   R.LIST pat p...       -> [visible keys, hidden keys (entries that are
 *                            not visible: tombstones, expired)]
 *   R.COUNT p...          -> [count, fingerprint, recovering] of the
 *                            visible keys, per partition
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
 * replica_scan is the local answer to R.KEYS / R.LIST / R.COUNT /
 * R.RANDOM; the coordinator uses it too for the partitions it holds
 * itself, so a gather answers in one shape wherever the answer comes from.
 * None of them reads a record: counts and visibility come from the store's
 * memory (store.h, "the visible keyspace").  Counts answer at once.  A
 * listing answers at once when its first slice finishes it; otherwise it
 * becomes a job, and a zero-delay timer runs one slice per loop turn
 * (whole partitions until keyspace-slice-keys entries were visited), the
 * jobs taking turns, so the loop polls its sockets between slices and no
 * client or peer waits behind a big KEYS.  The job owns the peer call
 * until it answers; cluster_free drops unfinished jobs unanswered (the bus
 * fails their calls), and a coordinator's local job holds its op's ref.
 *
 * Thread-safety: none; the event loop owns everything.
 */
#include <stdlib.h>
#include <string.h>
#include <event2/event.h>
#include "cluster/antientropy.h"
#include "cluster/cluster_int.h"
#include "cluster/delta.h"
#include "cluster/object.h"
#include "cluster/peer.h"
#include "server/db.h"
#include "server/log.h"
#include "server/node.h"
#include "server/reply.h"
#include "server/store.h"
#include "server/util.h"

/* ---- keyspace answers: counts from memory, listings in slices ---------- */

/* A listing (R.KEYS, R.LIST) that has not finished: the partitions left,
 * the keys so far, and whom to tell. */
struct replica_job {
    struct replica_job *next;
    int list;                   /* R.LIST: hidden keys too */
    char *pat;
    size_t plen;
    int all;
    uint32_t *parts;
    size_t np, at;
    struct dbuf vis, hid;       /* bulks */
    size_t nvis, nhid;
    replica_scan_fn *done;
    void *ctx;
};

struct replica_jobs {
    struct replica_job *head, *tail;
    struct event *ev;           /* runs the next slice; NULL: none (sim) */
};

static int list_cb(void *ctx, const void *key, size_t klen, int visible)
{
    struct replica_job *j = ctx;
    if (!visible && !j->list)
        return 0;
    if (!j->all && !dyn_glob_match(j->pat, j->plen, key, klen, 0))
        return 0;
    if (visible) {
        reply_bulk(&j->vis, key, klen);
        j->nvis++;
    } else {
        reply_bulk(&j->hid, key, klen);
        j->nhid++;
    }
    return 0;
}

/* One slice: whole partitions until keyspace-slice-keys entries were
 * visited (a partition is never split, so a key moved by a resize between
 * slices is neither missed nor listed twice).  1 when the job is done. */
static int job_slice(struct cluster *cl, struct replica_job *j)
{
    struct store *st = cl->node->store;
    uint64_t now = cl_now(cl);
    size_t budget = (size_t)DYN_MAX(cl->node->cfg.keyspace_slice_keys, 1);
    size_t visited = 0;
    cl->keyspace_slices++;
    while (j->at < j->np && visited < budget) {
        uint32_t p = j->parts[j->at++];
        visited += store_partition_count(st, p);
        store_iter_visible(st, p, now, list_cb, j);
    }
    return j->at == j->np;
}

static void job_free(struct replica_job *j)
{
    dbuf_free(&j->vis);
    dbuf_free(&j->hid);
    dyn_free(j->pat);
    dyn_free(j->parts);
    dyn_free(j);
}

static void job_finish(struct replica_job *j)
{
    struct dbuf out;
    dbuf_init(&out);
    if (j->list)
        reply_array(&out, 2);
    reply_array(&out, (long long)j->nvis);
    dbuf_append(&out, j->vis.p, j->vis.len);
    if (j->list) {
        reply_array(&out, (long long)j->nhid);
        dbuf_append(&out, j->hid.p, j->hid.len);
    }
    j->done(j->ctx, out.p, out.len);
    dbuf_free(&out);
    job_free(j);
}

static void jobs_arm(struct replica_jobs *rj)
{
    /* a zero timer, not event_active: the loop polls its sockets first */
    struct timeval tv = {0, 0};
    evtimer_add(rj->ev, &tv);
}

/* The next slice of the oldest job; jobs take turns. */
static void jobs_run(evutil_socket_t fd, short what, void *arg)
{
    struct cluster *cl = arg;
    struct replica_jobs *rj = cl->rj;
    struct replica_job *j = rj->head;
    if (!j)
        return;
    rj->head = j->next;
    if (!rj->head)
        rj->tail = NULL;
    j->next = NULL;
    if (job_slice(cl, j)) {
        job_finish(j);
    } else {
        if (rj->tail)
            rj->tail->next = j;
        else
            rj->head = j;
        rj->tail = j;
    }
    if (rj->head)
        jobs_arm(rj);
}

/* [count, fingerprint, recovering] per partition: recovering is 1 while
 * this node, having started empty, has not compared the partition with a
 * peer (antientropy_recovering), so the coordinator asks more replicas */
static void answer_counts(struct cluster *cl, const uint32_t *parts,
                          size_t np, struct dbuf *out)
{
    uint64_t *c = dyn_malloc(sizeof(uint64_t) * 2 * (np ? np : 1));
    store_count_visible(cl->node->store, cl_now(cl), parts, np, c, c + np);
    reply_array(out, (long long)(3 * np));
    for (size_t i = 0; i < np; i++) {
        reply_int(out, (long long)c[i]);
        reply_int(out, (long long)c[np + i]);
        reply_int(out, antientropy_recovering(cl->ae, parts[i]));
    }
    dyn_free(c);
}

struct pick {
    uint64_t k;
    const void *key;
    size_t klen;
};

static int pick_cb(void *ctx, const void *key, size_t klen, int visible)
{
    struct pick *pk = ctx;
    if (!visible)
        return 0;
    if (pk->k-- == 0) {
        pk->key = key;
        pk->klen = klen;
        return 1;
    }
    return 0;
}

/* one visible key: a partition weighted by its count, then a uniform key
 * of it, all decided from memory */
static void answer_random(struct cluster *cl, const uint32_t *parts,
                          size_t np, struct dbuf *out)
{
    uint64_t *c = dyn_malloc(sizeof(uint64_t) * 2 * (np ? np : 1));
    uint64_t now = cl_now(cl), total = 0;
    store_count_visible(cl->node->store, now, parts, np, c, c + np);
    for (size_t i = 0; i < np; i++)
        total += c[i];
    struct pick pk = {0};
    if (total) {
        uint64_t r = node_random(cl->node) % total;
        for (size_t i = 0; i < np; i++) {
            if (r < c[i]) {
                pk.k = r;
                store_iter_visible(cl->node->store, parts[i], now, pick_cb,
                                   &pk);
                break;
            }
            r -= c[i];
        }
    }
    if (pk.key)
        reply_bulk(out, pk.key, pk.klen);
    else
        reply_null(out, 2);
    dyn_free(c);
}

void replica_scan(struct cluster *cl, const char *verb, const char *pat,
                  size_t plen, const uint32_t *parts, size_t np,
                  replica_scan_fn *done, void *ctx)
{
    if (strcmp(verb, "R.COUNT") == 0 || strcmp(verb, "R.RANDOM") == 0) {
        struct dbuf out;
        dbuf_init(&out);
        if (verb[2] == 'C')
            answer_counts(cl, parts, np, &out);
        else
            answer_random(cl, parts, np, &out);
        done(ctx, out.p, out.len);
        dbuf_free(&out);
        return;
    }
    struct replica_job *j = dyn_calloc(1, sizeof(*j));
    j->list = strcmp(verb, "R.LIST") == 0;
    j->plen = pat ? plen : 1;
    j->pat = dyn_malloc(j->plen + 1);
    memcpy(j->pat, pat ? pat : "*", j->plen);
    j->pat[j->plen] = 0;
    j->all = j->plen == 1 && j->pat[0] == '*';
    j->parts = dyn_malloc(sizeof(uint32_t) * (np ? np : 1));
    if (np)
        memcpy(j->parts, parts, sizeof(uint32_t) * np);
    j->np = np;
    dbuf_init(&j->vis);
    dbuf_init(&j->hid);
    j->done = done;
    j->ctx = ctx;
    /* the first slice now: a small keyspace answers in this turn */
    if (job_slice(cl, j) || !cl->node->base) {
        while (j->at < j->np)
            job_slice(cl, j); /* no loop to yield to (the simulation) */
        job_finish(j);
        return;
    }
    struct replica_jobs *rj = cl->rj;
    if (!rj) {
        rj = cl->rj = dyn_calloc(1, sizeof(*rj));
        rj->ev = evtimer_new(cl->node->base, jobs_run, cl);
    }
    if (rj->tail)
        rj->tail->next = j;
    else
        rj->head = j;
    rj->tail = j;
    jobs_arm(rj);
}

void replica_free(struct cluster *cl)
{
    struct replica_jobs *rj = cl->rj;
    if (!rj)
        return;
    while (rj->head) {
        struct replica_job *j = rj->head;
        rj->head = j->next;
        job_free(j);
    }
    if (rj->ev)
        event_free(rj->ev);
    dyn_free(rj);
    cl->rj = NULL;
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
    int rc = argc == 3 ? db_parse_object(cl->node, argv[2].p, argv[2].len, &o)
                       : DYN_EINVAL;
    if (rc == DYN_EFORMAT) {
        peer_call_reply_error(call, DB_EFORMAT_TEXT);
        return;
    }
    if (rc != 0) {
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

/* The answer of a batch of pairs (R.MPUT, R.MDPUT): :n when every pair
 * was stored (res[i] NULL), else +OK or res[i]'s error per pair. */
static void reply_pairs(struct peer_call *call, const char **res, int n)
{
    int bad = 0;
    for (int i = 0; i < n; i++)
        bad += res[i] != NULL;
    struct dbuf *out = peer_call_buf(call);
    if (!bad) {
        reply_int(out, n);
    } else {
        reply_array(out, n);
        for (int i = 0; i < n; i++) {
            if (res[i])
                reply_error(out, res[i]);
            else
                reply_ok(out);
        }
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
    int n = (argc - 1) / 2;
    const char **res = dyn_malloc(sizeof(*res) * (size_t)n);
    for (int i = 0; i < n; i++) {
        const struct dyn_arg *k = &argv[1 + 2 * i], *b = &argv[2 + 2 * i];
        struct object *o = NULL;
        res[i] = NULL;
        int rc = db_parse_object(cl->node, b->p, b->len, &o);
        if (rc == DYN_EFORMAT)
            res[i] = DB_EFORMAT_TEXT;
        else if (rc != 0)
            res[i] = "ERR R.MPUT: invalid object";
        else if (db_merge_object(cl->node, k->p, k->len, o, o) < 0)
            res[i] = "ERR R.MPUT: the replica could not store the object";
        else
            cl->replica_puts++;
    }
    reply_pairs(call, res, n);
    dyn_free(res);
}

/* ---- deltas: reads that skip an equal copy, writes as edits ----------- */

/* The checks R.MGETD and R.MDPUT share: deltas on here, and pairs of
 * arguments.  1 when the call was answered with an error. */
static int deltas_refused(struct cluster *cl, struct peer_call *call,
                          int argc, const char *usage)
{
    if (!cl->node->cfg.replica_deltas) {
        peer_call_reply_error(call, "ERR replica-deltas is off on this node");
        return 1;
    }
    if (argc < 3 || argc % 2 == 0) {
        peer_call_reply_error(call, usage);
        return 1;
    }
    return 0;
}

static int digest_parse(const struct dyn_arg *a, uint64_t *out)
{
    uint64_t v = 0;
    if (a->len != 16)
        return DYN_EINVAL;
    for (size_t i = 0; i < 16; i++) {
        char c = a->p[i];
        int x = c >= 'A' && c <= 'F' ? -1 : dyn_hex_val(c); /* lowercase */
        if (x < 0)
            return DYN_EINVAL;
        v = v << 4 | (uint64_t)x;
    }
    *out = v;
    return 0;
}

static void h_mgetd(void *ctx, struct peer_call *call, int argc,
                    const struct dyn_arg *argv)
{
    struct cluster *cl = call_cluster(ctx);
    if (deltas_refused(cl, call, argc,
                       "ERR R.MGETD key digest [key digest ...]"))
        return;
    for (int i = 2; i < argc; i += 2) {
        uint64_t d;
        if (digest_parse(&argv[i], &d) != 0) {
            peer_call_reply_error(call, "ERR R.MGETD: a digest is 16 "
                                        "lowercase hex digits");
            return;
        }
    }
    struct dbuf *out = peer_call_buf(call);
    reply_array(out, (argc - 1) / 2);
    for (int i = 1; i < argc; i += 2) {
        uint64_t d = 0;
        digest_parse(&argv[i + 1], &d);
        cl->replica_gets++;
        const struct object *o = db_object(cl->node, argv[i].p, argv[i].len);
        if (o && object_digest(o) == d) {
            cl->replica_gets_same++;
            reply_status(out, "SAME");
        } else if (o) {
            reply_bulk(out, object_bytes(o), object_size(o));
        } else {
            reply_null(out, 2);
        }
    }
    peer_call_done(call);
}

/* One R.MDPUT pair: 0 (stored), or the error it answers. */
static const char *dput_one(struct cluster *cl, const struct dyn_arg *k,
                            const struct dyn_arg *d)
{
    struct node *n = cl->node;
    const struct object *cur = store_get(n->store, k->p, k->len);
    if (!cur) {
        cl->replica_deltas_refused++;
        return "DELTA no copy here";
    }
    uint64_t bd, td;
    if (delta_digests(d->p, d->len, &bd, &td) != 0)
        return "ERR R.MDPUT: invalid delta";
    uint64_t have = object_digest(cur); /* cached for a large object */
    if (have == td)
        return NULL; /* we hold its target already (a read repair that
                      * overtook it) */
    if (have != bd) {
        cl->replica_deltas_refused++;
        return "DELTA base differs";
    }
    /* the edit is made in the new object's own bytes (no copy) */
    uint64_t tlen;
    if (delta_target_len(d->p, d->len, &tlen) != 0 ||
        tlen > (uint64_t)n->cfg.proto_max_bulk_len + 4096)
        return "ERR R.MDPUT: invalid delta";
    uint8_t *bytes;
    struct object *raw = object_raw((size_t)tlen, &bytes);
    if (delta_patch_into(object_bytes(cur), object_size(cur), d->p, d->len,
                         bytes, (size_t)tlen) != 0) {
        object_free(raw);
        return "ERR R.MDPUT: invalid delta";
    }
    struct object *o = NULL;
    int rc = db_parse_raw_checked(n, raw, &o);
    if (rc == DYN_EFORMAT)
        return DB_EFORMAT_TEXT;
    if (rc != 0)
        return "ERR R.MDPUT: invalid object";
    if (object_digest(o) != td) { /* hashed once, kept for the store */
        object_free(o);
        return "ERR R.MDPUT: invalid delta";
    }
    /* The coordinator made this object from exactly our copy: it is its
     * successor, so it is stored as it is, with no merge to build. */
    if (db_store_edit(n, k->p, k->len, o, d->p, d->len) < 0)
        return "ERR R.MDPUT: the replica could not store the object";
    cl->replica_puts++;
    cl->replica_deltas++;
    return NULL;
}

static void h_mdput(void *ctx, struct peer_call *call, int argc,
                    const struct dyn_arg *argv)
{
    struct cluster *cl = call_cluster(ctx);
    if (deltas_refused(cl, call, argc,
                       "ERR R.MDPUT key delta [key delta ...]"))
        return;
    int n = (argc - 1) / 2;
    const char **res = dyn_malloc(sizeof(*res) * (size_t)n);
    for (int i = 0; i < n; i++)
        res[i] = dput_one(cl, &argv[1 + 2 * i], &argv[2 + 2 * i]);
    reply_pairs(call, res, n);
    dyn_free(res);
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

static void scan_answer(void *ctx, const char *resp, size_t len)
{
    struct peer_call *call = ctx;
    dbuf_append(peer_call_buf(call), resp, len);
    peer_call_done(call);
}

static void h_scan(void *ctx, struct peer_call *call, int argc,
                   const struct dyn_arg *argv)
{
    struct cluster *cl = call_cluster(ctx);
    int is_list = dyn_arg_is(argv[0].p, argv[0].len, "R.LIST");
    int is_keys = is_list || dyn_arg_is(argv[0].p, argv[0].len, "R.KEYS");
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
    /* a listing may answer from a later loop turn: the call stays ours */
    replica_scan(cl, is_list ? "R.LIST" : is_keys ? "R.KEYS"
                     : is_rand ? "R.RANDOM" : "R.COUNT",
                 is_keys ? argv[1].p : NULL, is_keys ? argv[1].len : 0,
                 parts, (size_t)np, scan_answer, call);
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
    {"R.LIST", h_scan, 0},
    {"R.RANDOM", h_scan, 0},   {"R.FLUSH", h_flush, 0},
    {"R.CONFIG", h_config, 0}, {"R.PING", h_ping, 0},
    {"R.MPUT", h_mput, 0},     {"R.MGET", h_mget, 0},
    {"R.MDPUT", h_mdput, 0},   {"R.MGETD", h_mgetd, 0},
};
const size_t replica_npeer_cmds = DYN_ARRAY_LEN(replica_peer_cmds);
