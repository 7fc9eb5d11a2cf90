/*
 * rebalance.c -- explicit membership changes (paper 4.8-4.9): a node
 * joins, leaves, or is forgotten, and the partitions it gains or loses are
 * streamed before ownership switches.
 *
 * One node drives each change: the joiner itself (DYNAMO.JOIN, or a node
 * started with seed lines that finds a ring it is not in), the leaver
 * (DYNAMO.LEAVE), or the node that was told to DYNAMO.FORGET a dead one.
 * The driver computes the target ring with the claim function (ring.c:
 * epoch + 1) and runs three phases, re-sending R.MOVE to every live
 * member every 200 ms until each phase is over:
 *
 *   1. announce  R.MOVE driver 0 ring: each member keeps the target as its
 *                pending ring and answers "ready" once it knows every node
 *                of the target as a member.  From then on its coordinators
 *                send every write of a partition on the move to the nodes
 *                that gain it, too (rebalance_extra_targets): a write made
 *                during the stream reaches the new owner.
 *   2. stream    once every live member is ready: R.MOVE driver 1 ring.
 *                Each member pulls every partition it gains (it is in the
 *                target's top N and not in the current one) from N - W + 1
 *                reachable current replicas (any acknowledged write is on
 *                one of them; R.PULL part: every object of the partition in
 *                one reply), merges them by their clocks, and answers
 *                "done" when its last partition is in.
 *   3. switch    once every live member is done: the driver installs the
 *                target as its ring and sends it to everyone (R.RING; gossip
 *                carries it too).  Ownership switches for all partitions at
 *                once, and only after every stream is complete.
 *
 * A node that no longer replicates a partition under the new ring drops
 * its copies after a grace period (so a coordinator still on the old ring
 * for a moment reads complete data), and a leaver marks itself LEFT.  A
 * member that is down during the change misses it: it learns the ring by
 * gossip when it returns, and anti-entropy repairs its data.  A node that
 * learns it was forgotten does not drop: nobody pulled from it, so the
 * orphan sweep (handoff.c) hands its copies to the replicas first.
 *
 * Who may join (gossip.h has the rule): a node whose own entry is a
 * tombstone (it left, or the cluster holds it as left or forgotten and it
 * was not told DYNAMO.JOIN) never drives a join, and a joiner first waits
 * for gossip to carry its own entry, so that it knows what the cluster
 * holds for it; DYNAMO.JOIN on a node outside the ring makes it outbid its
 * tombstone (gossip_rejoin).  A member refuses (-BUSY, without taking the
 * pending ring) a change that adds a node it holds as a tombstone, until
 * gossip brings that node's new life.
 *
 * Why every write also goes to the gainer, and why streaming waits for
 * every member's "ready": a write that reached only the old replicas after
 * the gainer had pulled the partition would be lost to the new owner.
 * With every coordinator already sending to the gainer before the first
 * pull, each write is either in the pull or sent directly, or both
 * (merging is idempotent).
 *
 * Two changes from the same ring (nodes that join at once, a join during
 * a leave): each member holds one pending ring, and the two compete for
 * the members (goes_first).  A change whose streaming has begun goes
 * before one still announcing -- some members are already pulling for it,
 * and its driver had every member it knew ready -- and between two in the
 * same phase the driver whose name sorts first goes first.  A member takes
 * the pending ring of a change that goes before the one it holds, and
 * refuses the other with -BUSY.  The driver's own node is one of the
 * members, and the driver asks it first in every poll: once it holds
 * another change, ours gives way (a join starts again, from the winner's
 * ring, when that ring is installed; a leave or forget is retried).
 * Every node ranks two changes the same way (a change only moves up, from
 * announcing to streaming), so the first-ranked change takes every member
 * and the others give way: there is no cycle of refusals.  (Ranking by
 * name alone, with members that had begun streaming for one change
 * refusing any other, deadlocked: a joiner that started driving before
 * the streaming driver had heard of it refused that driver by name, while
 * the members refused the joiner; nobody gave way.)  A driver never
 * counts a member that has installed another ring of its epoch as done:
 * that member answers -BUSY, and the driver gives up when it learns the
 * new ring.  Likewise a member holding the pending ring of a later epoch
 * refuses a change made from an older ring.
 *
 * A member may also be told to change by another one over the peer bus
 * (the http API's add and remove buttons): R.JOIN seed makes a spare run
 * DYNAMO.JOIN seed (members.c keeps the spares), and R.LEAVE makes a
 * member run DYNAMO.LEAVE (cluster_tell_leave).  Each answers what the
 * command would have answered there: the change itself is the same one,
 * driven by the node that joins or leaves.
 *
 * A driver killed for good mid-change would leave every member holding
 * its pending ring: a member abandons a pending ring whose driver it has
 * held down (or left, forgotten) for ten down timeouts (pending_watch).
 *
 * Thread-safety: none; the event loop owns everything.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "cluster/cluster_int.h"
#include "cluster/cluster.h"
#include "cluster/gossip.h"
#include "cluster/hints.h"
#include "server/db.h"
#include "server/log.h"
#include "server/node.h"
#include "server/reply.h"
#include "server/store.h"
#include "server/util.h"

#define POLL_MS 200
#define PULLS_IN_FLIGHT 4
#define RETRY_MS 300
#define NO_SOURCE_WAIT_MS 10000 /* a pull with no reachable source retries
                                 * this long after streaming began */

enum drive { DRIVE_NONE, DRIVE_JOIN, DRIVE_LEAVE, DRIVE_FORGET };

struct pull {
    uint32_t part;
    uint8_t state;          /* 0 waiting, 1 in flight, 2 done */
    uint32_t waiting;       /* answers outstanding */
    int failed;
    uint64_t retry_at;
};

struct rebalance {
    /* the change this node drives */
    enum drive drive;
    enum drive want;        /* a leave or forget to start again when the
                             * change that got in its way is done */
    struct ring target;
    uint8_t *reply;         /* per member: 0 none, 1 ready, 2 done */
    uint32_t reply_cap;
    int go;
    uint64_t last_poll_ms;
    uint64_t drive_started_ms;
    char forget[MEMBER_NAME_MAX];
    /* the pending ring this node knows of (any driver's) */
    int has_pending;
    struct ring pending;
    char driver[MEMBER_NAME_MAX];
    int go_received;
    int driver_go;          /* the driver has said its streaming began */
    uint64_t pending_gen;   /* bumped whenever the pending ring is set or
                             * cleared: a pull answer of an older one (same
                             * epoch, another driver) is stale */
    struct pull *pulls;
    uint32_t npulls;
    uint32_t pulls_done;
    uint64_t pull_started_ms;
    uint64_t pull_bytes;
    /* partitions to drop after a ring change */
    uint8_t *drop;
    uint64_t drop_at;
    uint32_t drop_next;
    /* stats */
    uint64_t keys_in, bytes_in, keys_dropped;
    uint64_t last_stream_ms, last_stream_bytes;
    uint64_t changes_driven;
    uint64_t driver_lost_ms;    /* since when the pending ring's driver
                                 * is down or gone (0: it is not) */
    uint64_t pending_abandoned;
};

static const char *rebalance_move(struct cluster *cl, const char *driver,
                                  int go, const struct ring *target);
static void rebalance_install(struct cluster *cl, const struct ring *r);
static void pull_finished(struct cluster *cl, uint32_t idx);

static int in_top(struct cluster *cl, const struct ring *r, uint32_t part,
                  const char *name)
{
    uint16_t ri[QUORUM_MAX];
    uint32_t nval = cl_nval(cl);
    uint32_t k = ring_preflist(r, part, ri, nval);
    for (uint32_t i = 0; i < k; i++)
        if (strcmp(r->names[ri[i]], name) == 0)
            return 1;
    return 0;
}

static const char *self_name(const struct cluster *cl)
{
    return cl->mb.m[cl->mb.self].name;
}

/* Our own entry is a tombstone: we left, or the cluster holds us as left
 * or forgotten and we were not told to come back (gossip.h). */
static int self_out(const struct cluster *cl)
{
    return MEMBER_IS_TOMBSTONE(cl->mb.m[cl->mb.self].status);
}

int rebalance_init(struct cluster *cl)
{
    struct rebalance *rb = dyn_calloc(1, sizeof(*rb));
    ring_init(&rb->target, cl->ring.q ? cl->ring.q : 16);
    ring_init(&rb->pending, cl->ring.q ? cl->ring.q : 16);
    rb->drop = dyn_calloc(cl->ring.q ? cl->ring.q : 1, 1);
    cl->rb = rb;
    return 0;
}

void rebalance_free(struct cluster *cl)
{
    struct rebalance *rb = cl->rb;
    if (!rb)
        return;
    ring_free(&rb->target);
    ring_free(&rb->pending);
    dyn_free(rb->reply);
    dyn_free(rb->pulls);
    dyn_free(rb->drop);
    dyn_free(rb);
    cl->rb = NULL;
}

uint32_t rebalance_extra_targets(struct cluster *cl, uint32_t part,
                                 uint16_t *out, uint32_t max)
{
    struct rebalance *rb = cl->rb;
    if (!rb || !rb->has_pending || part >= rb->pending.q)
        return 0;
    uint16_t ri[QUORUM_MAX];
    uint32_t nval = cl_nval(cl);
    uint32_t k = ring_preflist(&rb->pending, part, ri, nval), n = 0;
    for (uint32_t i = 0; i < k && n < max; i++) {
        const char *name = rb->pending.names[ri[i]];
        if (in_top(cl, &cl->ring, part, name))
            continue;
        int m = membership_find(&cl->mb, name);
        if (m >= 0)
            out[n++] = (uint16_t)m;
    }
    return n;
}

int rebalance_is_replica(struct cluster *cl, const char *name, uint32_t part)
{
    if (!cl->rb || part >= cl->ring.q)
        return 0;
    return in_top(cl, &cl->ring, part, name) ||
           (cl->rb->has_pending && in_top(cl, &cl->rb->pending, part, name));
}

int cluster_replicates(struct node *n, uint32_t part)
{
    struct cluster *cl = n->cluster;
    return cl && rebalance_is_replica(cl, self_name(cl), part);
}

/* ---- the pending ring and the pulls (every member) --------------------- */

static void pending_clear(struct rebalance *rb)
{
    rb->pending_gen++;
    rb->has_pending = 0;
    rb->go_received = 0;
    rb->driver_go = 0;
    dyn_free(rb->pulls);
    rb->pulls = NULL;
    rb->npulls = rb->pulls_done = 0;
}

static void pending_set(struct cluster *cl, const struct ring *target,
                        const char *driver)
{
    struct rebalance *rb = cl->rb;
    pending_clear(rb);
    ring_free(&rb->pending);
    ring_copy(&rb->pending, target);
    rb->has_pending = 1;
    snprintf(rb->driver, sizeof(rb->driver), "%s", driver);
    const char *me = self_name(cl);
    rb->pulls = dyn_calloc(target->q, sizeof(*rb->pulls));
    for (uint32_t p = 0; p < target->q; p++)
        if (in_top(cl, target, p, me) && !in_top(cl, &cl->ring, p, me))
            rb->pulls[rb->npulls++].part = p;
    dlog(DLOG_NOTICE, "rebalance: pending ring epoch %llu from %s; this node "
                      "gains %u partitions",
         (unsigned long long)target->epoch, driver, rb->npulls);
    struct evlog_entry *e = cl_event(cl, EV_STREAM);
    evlog_field(e, "epoch", "%llu", (unsigned long long)target->epoch);
    evlog_field(e, "driver", "%s", driver);
    evlog_field(e, "partitions", "%u to pull", rb->npulls);
}

/* Every answer for pull idx is in. */
static void pull_finished(struct cluster *cl, uint32_t idx)
{
    struct rebalance *rb = cl->rb;
    struct pull *pl = &rb->pulls[idx];
    if (pl->failed) {
        pl->state = 0;
        pl->failed = 0;
        pl->retry_at = cl_now(cl) + RETRY_MS;
        return;
    }
    pl->state = 2;
    struct evlog_entry *e = cl_event(cl, EV_STREAM);
    evlog_field(e, "partition", "%u", pl->part);
    evlog_field(e, "done", "%u of %u", rb->pulls_done + 1, rb->npulls);
    evlog_field(e, "bytes", "%llu", (unsigned long long)rb->pull_bytes);
    if (++rb->pulls_done == rb->npulls) {
        rb->last_stream_ms = cl_now(cl) - rb->pull_started_ms;
        rb->last_stream_bytes = rb->pull_bytes;
        dlog(DLOG_NOTICE, "rebalance: streamed %u partitions, %llu bytes in "
                          "%llu ms",
             rb->npulls, (unsigned long long)rb->pull_bytes,
             (unsigned long long)rb->last_stream_ms);
    }
}

struct pull_ctx {
    struct cluster *cl;
    uint64_t gen;       /* rb->pending_gen when sent */
    uint32_t idx;
};

static void pull_answer(void *ctx, int err, const struct peer_value *v)
{
    struct pull_ctx *pc = ctx;
    struct cluster *cl = pc->cl;
    struct rebalance *rb = cl->rb;
    if (!rb || !rb->has_pending || rb->pending_gen != pc->gen ||
        pc->idx >= rb->npulls) {
        dyn_free(pc);
        return; /* superseded */
    }
    struct pull *pl = &rb->pulls[pc->idx];
    if (err == 0 && v && v->type == PEER_V_ARRAY && v->n % 2 == 0) {
        for (size_t i = 0; i + 1 < v->n; i += 2) {
            const struct peer_value *k = &v->elem[i], *o = &v->elem[i + 1];
            if (k->type != PEER_V_STRING || o->type != PEER_V_STRING)
                continue;
            struct object *obj = NULL;
            if (db_parse_object(cl->node, o->str, o->len, &obj) != 0)
                continue;
            if (db_merge_object(cl->node, k->str, k->len, obj, obj) < 0)
                pl->failed = 1;
            rb->keys_in++;
            rb->bytes_in += k->len + o->len;
            rb->pull_bytes += k->len + o->len;
        }
    } else {
        pl->failed = 1;
    }
    if (--pl->waiting == 0)
        pull_finished(cl, pc->idx);
    dyn_free(pc);
}

static void pull_start(struct cluster *cl, uint32_t idx)
{
    struct rebalance *rb = cl->rb;
    struct pull *pl = &rb->pulls[idx];
    uint16_t ri[QUORUM_MAX];
    uint32_t nval = cl_nval(cl);
    uint32_t k = ring_preflist(&cl->ring, pl->part, ri, nval);
    char pb[16];
    snprintf(pb, sizeof(pb), "%u", pl->part);
    struct dyn_arg av[2] = {{"R.PULL", 6}, {pb, strlen(pb)}};
    pl->waiting = 0;
    pl->state = 1;
    pl->failed = 0;
    /* every write acknowledged by W of the N old replicas is on at least
     * one of any N - W + 1 of them: that many sources are enough */
    int w = cl->node->cfg.w;
    uint32_t need = nval > (uint32_t)w ? nval - (uint32_t)w + 1 : 1;
    for (uint32_t i = 0; i < k && pl->waiting < need; i++) {
        int m = membership_find(&cl->mb, cl->ring.names[ri[i]]);
        if (m < 0 || m == (int)cl->mb.self || !cl_reachable(cl, m))
            continue;
        struct pull_ctx *pc = dyn_malloc(sizeof(*pc));
        pc->cl = cl;
        pc->gen = rb->pending_gen;
        pc->idx = idx;
        if (cl_send(cl, (uint16_t)m, 2, av, pull_answer, pc) == 0)
            pl->waiting++;
        else
            dyn_free(pc);
    }
    if (pl->waiting == 0) {
        /* No source reachable.  Just after a node starts (a joiner) its
         * links may still be coming up, or a loaded machine's failure
         * detector flaps: try again for a while before leaving the
         * partition to anti-entropy (measured: a joiner on a loaded CI
         * machine "streamed" all 126 partitions with 0 bytes) */
        if (cl_now(cl) - rb->pull_started_ms < NO_SOURCE_WAIT_MS)
            pl->failed = 1;
        pull_finished(cl, idx);
    }
}

static void pulls_tick(struct cluster *cl, uint64_t t)
{
    struct rebalance *rb = cl->rb;
    if (!rb->has_pending || !rb->go_received)
        return;
    uint32_t inflight = 0;
    for (uint32_t i = 0; i < rb->npulls; i++)
        inflight += rb->pulls[i].state == 1;
    for (uint32_t i = 0; i < rb->npulls && inflight < PULLS_IN_FLIGHT; i++) {
        struct pull *pl = &rb->pulls[i];
        if (pl->state != 0 || pl->retry_at > t)
            continue;
        pull_start(cl, i);
        inflight += rb->pulls[i].state == 1;
    }
}

/* R.PULL part: every object of the partition, as key, bytes pairs. */
struct pull_out {
    struct dbuf *b;
    uint64_t n;
};

static int pull_cb(void *ctx, const void *key, size_t klen,
                   const struct object *o)
{
    struct pull_out *po = ctx;
    reply_bulk(po->b, key, klen);
    reply_bulk(po->b, object_bytes(o), object_size(o));
    po->n++;
    return 0;
}

static void h_pull(void *ctx, struct peer_call *call, int argc,
                   const struct dyn_arg *argv)
{
    struct cluster *cl = ctx;
    unsigned long long p;
    if (argc != 2 || dyn_str2ull(argv[1].p, argv[1].len, &p) != 0 ||
        p >= store_partitions(cl->node->store)) {
        peer_call_reply_error(call, "ERR R.PULL partition");
        return;
    }
    struct dbuf body;
    dbuf_init(&body);
    struct pull_out po = {&body, 0};
    store_iter_partition(cl->node->store, (uint32_t)p, pull_cb, &po);
    struct dbuf *out = peer_call_buf(call);
    reply_array(out, (long long)(po.n * 2));
    dbuf_append(out, body.p, body.len);
    dbuf_free(&body);
    peer_call_done(call);
}

/* ---- switching rings ---------------------------------------------------- */

/* <dir>/ring: the ring's wire encoding, replaced atomically. */
static void ring_path(struct cluster *cl, char *out, size_t n, int tmp)
{
    snprintf(out, n, "%s/ring%s", cl->node->cfg.dir, tmp ? ".tmp" : "");
}

static void save_ring(struct cluster *cl)
{
    char path[1024], tmp[1024];
    ring_path(cl, path, sizeof(path), 0);
    ring_path(cl, tmp, sizeof(tmp), 1);
    struct dbuf enc;
    dbuf_init(&enc);
    ring_encode(&cl->ring, &enc);
    FILE *f = fopen(tmp, "wb");
    int ok = f && fwrite(enc.p, 1, enc.len, f) == enc.len;
    if (f && fflush(f) != 0)
        ok = 0;
    if (f && fsync(fileno(f)) != 0)
        ok = 0;
    if (f && fclose(f) != 0)
        ok = 0;
    if (ok && rename(tmp, path) != 0)
        ok = 0;
    if (!ok)
        dlog(DLOG_WARNING, "cannot save the ring to %s: %s", path,
             strerror(errno));
    dbuf_free(&enc);
}

void rebalance_load_ring(struct cluster *cl)
{
    char path[1024];
    ring_path(cl, path, sizeof(path), 0);
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    struct dbuf b;
    dbuf_init(&b);
    char chunk[4096];
    size_t k;
    while ((k = fread(chunk, 1, sizeof(chunk), f)) > 0 &&
           b.len < ((size_t)64 << 20))
        dbuf_append(&b, chunk, k);
    fclose(f);
    struct ring r;
    if (ring_decode(&r, (const uint8_t *)b.p, b.len) == 0) {
        if (r.q == cl->ring.q && r.epoch > cl->ring.epoch) {
            dlog(DLOG_NOTICE, "ring epoch %llu loaded from %s",
                 (unsigned long long)r.epoch, path);
            ring_free(&cl->ring);
            ring_copy(&cl->ring, &r);
        }
        ring_free(&r);
    } else {
        dlog(DLOG_WARNING, "%s is not a valid ring: ignored", path);
    }
    dbuf_free(&b);
}

void rebalance_ring_changed(struct cluster *cl, const struct ring *old)
{
    struct rebalance *rb = cl->rb;
    struct evlog_entry *e = cl_event(cl, EV_RING);
    evlog_field(e, "from_epoch", "%llu", (unsigned long long)old->epoch);
    evlog_field(e, "epoch", "%llu", (unsigned long long)cl->ring.epoch);
    evlog_field(e, "nodes", "%u", cl->ring.nnodes);
    save_ring(cl);
    if (rb->has_pending && rb->pending.epoch <= cl->ring.epoch)
        pending_clear(rb);
    if (rb->drive != DRIVE_NONE && rb->target.epoch <= cl->ring.epoch &&
        ring_node_index(&cl->ring, self_name(cl)) >= 0 &&
        rb->drive == DRIVE_JOIN)
        rb->drive = DRIVE_NONE; /* someone else's switch included us */
    /* what this node stops replicating is dropped after a grace period */
    const char *me = self_name(cl);
    uint32_t lost = 0;
    if (old->q == cl->ring.q && old->nnodes) {
        for (uint32_t p = 0; p < cl->ring.q; p++)
            if (in_top(cl, old, p, me) && !in_top(cl, &cl->ring, p, me)) {
                rb->drop[p] = 1;
                lost++;
            }
    }
    if (lost) {
        rb->drop_at = cl_now(cl) + 3000 +
                      2 * (uint64_t)cl->node->cfg.gossip_interval_ms;
        rb->drop_next = 0;
        dlog(DLOG_NOTICE, "rebalance: ring epoch %llu: this node no longer "
                          "replicates %u partitions (dropped after a grace "
                          "period)",
             (unsigned long long)cl->ring.epoch, lost);
    }
    /* a member of the new ring we have not heard of: learn it by gossip */
    handoff_ring_changed(cl);
}

/* Takes r as the ring if it is newer. */
static void rebalance_install(struct cluster *cl, const struct ring *r)
{
    if (r->q != cl->ring.q || r->epoch <= cl->ring.epoch)
        return;
    struct ring old;
    ring_copy(&old, &cl->ring);
    ring_free(&cl->ring);
    ring_copy(&cl->ring, r);
    dlog(DLOG_NOTICE, "rebalance: ring epoch %llu -> %llu",
         (unsigned long long)old.epoch, (unsigned long long)r->epoch);
    rebalance_ring_changed(cl, &old);
    ring_free(&old);
}

/* Drops, a partition per tick, what this node no longer replicates. */
struct drop_ctx {
    char **keys;
    size_t *lens;
    size_t n, cap;
};

static int drop_cb(void *ctx, const void *key, size_t klen,
                   const struct object *o)
{
    struct drop_ctx *d = ctx;
    (void)o;
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 64;
        d->keys = dyn_realloc(d->keys, sizeof(char *) * d->cap);
        d->lens = dyn_realloc(d->lens, sizeof(size_t) * d->cap);
    }
    d->keys[d->n] = dyn_memdup(key, klen);
    d->lens[d->n++] = klen;
    return 0;
}

static void drops_tick(struct cluster *cl, uint64_t t)
{
    struct rebalance *rb = cl->rb;
    if (!rb->drop_at || t < rb->drop_at)
        return;
    while (rb->drop_next < cl->ring.q && !rb->drop[rb->drop_next])
        rb->drop_next++;
    if (rb->drop_next >= cl->ring.q) {
        rb->drop_at = 0;
        return;
    }
    uint32_t p = rb->drop_next++;
    rb->drop[p] = 0;
    /* forgotten: nobody pulled from this node, so its copies go to the
     * partition's replicas first (handoff.c's orphan sweep) */
    if (cl->mb.m[cl->mb.self].status == MEMBER_REMOVED)
        return;
    /* replicating it again (another change since), or gaining it: keep */
    if (cluster_replicates(cl->node, p))
        return;
    struct drop_ctx d = {NULL, NULL, 0, 0};
    store_iter_partition(cl->node->store, p, drop_cb, &d);
    for (size_t i = 0; i < d.n; i++) {
        /* a stand-in copy still owed to a down owner stays until then */
        if (!handoff_holds(cl, d.keys[i], d.lens[i]))
            if (db_drop(cl->node, d.keys[i], d.lens[i]) == 0)
                rb->keys_dropped++;
        dyn_free(d.keys[i]);
    }
    dyn_free(d.keys);
    dyn_free(d.lens);
}

/* Two rings are the same change: same epoch, nodes and owners. */
static int ring_same(const struct ring *a, const struct ring *b)
{
    if (a->q != b->q || a->epoch != b->epoch || a->nnodes != b->nnodes)
        return 0;
    for (uint32_t i = 0; i < a->nnodes; i++)
        if (strcmp(a->names[i], b->names[i]) != 0)
            return 0;
    return memcmp(a->owner, b->owner, sizeof(*a->owner) * a->q) == 0;
}

/* Of two changes to the same epoch, does driver a (streaming if a_go) go
 * before driver b (streaming if b_go)?  A change whose streaming has begun
 * goes before one still announcing (its driver had every member it knew
 * ready, and members have begun to pull for it); between two of the same
 * phase, the driver whose name sorts first.  A change only moves up this
 * order (announce -> stream), so every member and driver ranks two given
 * changes the same way once it has heard of both. */
static int goes_first(const char *a, int a_go, const char *b, int b_go)
{
    if (a_go != b_go)
        return a_go;
    return strcmp(a, b) < 0;
}

/* A member's side of R.MOVE: returns "ready", "done", "wait" or
 * "-ERR ..." / "-BUSY ..." (the driver's own node answers it too, first
 * thing in each of its polls) */
static const char *rebalance_move(struct cluster *cl, const char *driver,
                                  int go, const struct ring *target)
{
    struct rebalance *rb = cl->rb;
    if (target->q != cl->ring.q)
        return "-ERR another cluster (ring size)";
    if (target->epoch <= cl->ring.epoch) {
        /* switched already: to this very ring, or to another change's
         * (a driver that lost must never count this as its "done") */
        if (ring_same(target, &cl->ring))
            return "done";
        return "-BUSY the ring has moved past this change";
    }
    /* a node this member holds as left or forgotten is let into the ring
     * only once it has come back as a new life (gossip.h): else the ring
     * would hold a node every member treats as down */
    for (uint32_t i = 0; i < target->nnodes; i++) {
        int m = membership_find(&cl->mb, target->names[i]);
        if (m >= 0 && MEMBER_IS_TOMBSTONE(cl->mb.m[m].status) &&
            ring_node_index(&cl->ring, target->names[i]) < 0)
            return "-BUSY the change adds a node held here as left or "
                   "forgotten";
    }
    /* a pending ring of a later epoch was made from a ring newer than
     * this change's, which gossip will bring to its driver */
    if (rb->has_pending && target->epoch < rb->pending.epoch)
        return "-BUSY a change from a newer ring is in progress";
    if (rb->has_pending && rb->pending.epoch == target->epoch &&
        strcmp(rb->driver, driver) != 0) {
        /* two changes from the same ring (two nodes joining at once): the
         * one that goes first (goes_first) takes this member over; the
         * other is refused until its driver's own node holds the winner's
         * ring too, where it gives up (drive_tick) and starts over from
         * the ring the winner makes */
        if (!goes_first(driver, go, rb->driver, rb->driver_go))
            return "-BUSY another membership change is in progress";
        pending_set(cl, target, driver);
    }
    if (!rb->has_pending || rb->pending.epoch != target->epoch)
        pending_set(cl, target, driver);
    if (go)
        rb->driver_go = 1;
    /* writes can go to every node of the target only if we know them */
    for (uint32_t i = 0; i < target->nnodes; i++)
        if (membership_find(&cl->mb, target->names[i]) < 0)
            return "wait";
    if (go && !rb->go_received) {
        rb->go_received = 1;
        rb->pull_started_ms = cl_now(cl);
        rb->pull_bytes = 0;
    }
    if (rb->go_received && rb->pulls_done == rb->npulls)
        return "done";
    return "ready";
}

/* R.MOVE driver go ring -> "ready" | "done" | "wait" | error */
static void h_move(void *ctx, struct peer_call *call, int argc,
                   const struct dyn_arg *argv)
{
    struct cluster *cl = ctx;
    struct ring target;
    if (argc != 4 || argv[1].len >= MEMBER_NAME_MAX ||
        ring_decode(&target, (const uint8_t *)argv[3].p, argv[3].len) != 0) {
        peer_call_reply_error(call, "ERR R.MOVE driver go ring");
        return;
    }
    char driver[MEMBER_NAME_MAX];
    memcpy(driver, argv[1].p, argv[1].len);
    driver[argv[1].len] = 0;
    const char *answer = rebalance_move(cl, driver, argv[2].len == 1 &&
                                                        argv[2].p[0] == '1',
                                        &target);
    ring_free(&target);
    if (answer[0] == '-')
        peer_call_reply_error(call, answer + 1);
    else
        peer_call_reply_bulk(call, answer, strlen(answer));
}

/* R.RING ring: the driver switched; take it if newer. */
static void h_ring(void *ctx, struct peer_call *call, int argc,
                   const struct dyn_arg *argv)
{
    struct cluster *cl = ctx;
    struct ring r;
    if (argc != 2 ||
        ring_decode(&r, (const uint8_t *)argv[1].p, argv[1].len) != 0) {
        peer_call_reply_error(call, "ERR R.RING ring");
        return;
    }
    rebalance_install(cl, &r);
    ring_free(&r);
    peer_call_reply_ok(call);
}

static void h_join(void *ctx, struct peer_call *call, int argc,
                   const struct dyn_arg *argv);
static void h_leave(void *ctx, struct peer_call *call, int argc,
                    const struct dyn_arg *argv);

const struct peer_command rebalance_peer_cmds[] = {
    {"R.MOVE", h_move, 0},
    {"R.PULL", h_pull, 0},
    {"R.RING", h_ring, 0},
    {"R.JOIN", h_join, 0},
    {"R.LEAVE", h_leave, 0},
};
const size_t rebalance_npeer_cmds =
    sizeof(rebalance_peer_cmds) / sizeof(rebalance_peer_cmds[0]);

/* ---- driving a change ---------------------------------------------------- */

struct move_ctx {
    struct cluster *cl;
    uint64_t epoch;
    uint16_t member;
};

static void note_reply(struct rebalance *rb, uint32_t m, const char *str,
                       size_t len)
{
    if (m >= rb->reply_cap)
        return;
    if (len == 5 && memcmp(str, "ready", 5) == 0)
        rb->reply[m] = 1;
    else if (len == 4 && memcmp(str, "done", 4) == 0)
        rb->reply[m] = rb->go ? 2 : 1;
    else
        rb->reply[m] = 0;
}

static void move_answer(void *ctx, int err, const struct peer_value *v)
{
    struct move_ctx *mc = ctx;
    struct rebalance *rb = mc->cl->rb;
    if (rb && rb->drive != DRIVE_NONE && rb->target.epoch == mc->epoch) {
        if (err == 0 && v && v->type == PEER_V_STRING)
            note_reply(rb, mc->member, v->str, v->len);
        else if (mc->member < rb->reply_cap)
            rb->reply[mc->member] = 0;
    }
    dyn_free(mc);
}

static int live_member(struct cluster *cl, uint32_t m)
{
    if (m == cl->mb.self)
        return 1;
    return !MEMBER_IS_TOMBSTONE(cl->mb.m[m].status) &&
           cl->mb.m[m].status != MEMBER_DOWN && cl_reachable(cl, (int)m);
}

static int start_change(struct cluster *cl, enum drive kind,
                        const struct ring *target)
{
    struct rebalance *rb = cl->rb;
    ring_free(&rb->target);
    ring_copy(&rb->target, target);
    rb->drive = kind;
    rb->go = 0;
    rb->last_poll_ms = 0;
    rb->drive_started_ms = cl_now(cl);
    if (rb->reply_cap < cl->mb.n + 64) {
        rb->reply_cap = cl->mb.n + 64;
        rb->reply = dyn_realloc(rb->reply, rb->reply_cap);
    }
    memset(rb->reply, 0, rb->reply_cap);
    dlog(DLOG_NOTICE, "rebalance: driving %s to ring epoch %llu",
         kind == DRIVE_JOIN ? "a join" : kind == DRIVE_LEAVE ? "a leave"
                                                           : "a forget",
         (unsigned long long)target->epoch);
    struct evlog_entry *e =
        cl_event(cl, kind == DRIVE_JOIN ? EV_JOIN : EV_LEAVE);
    evlog_field(e, "state", "driving");
    evlog_field(e, "kind", "%s", kind == DRIVE_JOIN ? "join"
                                 : kind == DRIVE_LEAVE ? "leave" : "forget");
    evlog_field(e, "epoch", "%llu", (unsigned long long)target->epoch);
    return 0;
}

static void finish_change(struct cluster *cl)
{
    struct rebalance *rb = cl->rb;
    enum drive kind = rb->drive;
    struct ring target;
    ring_copy(&target, &rb->target);
    rb->drive = DRIVE_NONE;
    rb->changes_driven++;
    struct evlog_entry *e =
        cl_event(cl, kind == DRIVE_JOIN ? EV_JOIN : EV_LEAVE);
    evlog_field(e, "state", "done");
    evlog_field(e, "kind", "%s", kind == DRIVE_JOIN ? "join"
                                 : kind == DRIVE_LEAVE ? "leave" : "forget");
    evlog_field(e, "epoch", "%llu", (unsigned long long)target.epoch);
    evlog_field(e, "ms", "%llu",
                (unsigned long long)(cl_now(cl) - rb->drive_started_ms));
    rebalance_install(cl, &target);
    struct dbuf enc;
    dbuf_init(&enc);
    ring_encode(&target, &enc);
    struct dyn_arg av[2] = {{"R.RING", 6}, {enc.p, enc.len}};
    for (uint32_t m = 0; m < cl->mb.n; m++)
        if (m != cl->mb.self && !MEMBER_IS_TOMBSTONE(cl->mb.m[m].status))
            cl_send(cl, (uint16_t)m, 2, av, NULL, NULL);
    dbuf_free(&enc);
    ring_free(&target);
    if (kind == DRIVE_LEAVE) {
        gossip_leave(&cl->mb, cl_now(cl));
        dlog(DLOG_NOTICE, "rebalance: this node has left the cluster");
    }
    dlog(DLOG_NOTICE, "rebalance: the change took %llu ms",
         (unsigned long long)(cl_now(cl) - rb->drive_started_ms));
}

/* The driver's own node answers the driver's R.MOVE.  Returns 0 when it
 * holds another change that goes first: ours gives way (a leave or forget
 * is started again when that change is done; auto_join redoes a join). */
static int drive_local(struct cluster *cl, const char *me)
{
    struct rebalance *rb = cl->rb;
    const char *local = rebalance_move(cl, me, rb->go, &rb->target);
    if (local[0] == '-') {
        dlog(DLOG_NOTICE, "rebalance: %s's change goes first; ours waits "
                          "for its ring", rb->driver);
        if (rb->drive != DRIVE_JOIN)
            rb->want = rb->drive;
        rb->drive = DRIVE_NONE;
        return 0;
    }
    note_reply(rb, cl->mb.self, local, strlen(local));
    return 1;
}

static void drive_tick(struct cluster *cl, uint64_t t)
{
    struct rebalance *rb = cl->rb;
    if (rb->drive == DRIVE_NONE)
        return;
    if (cl->ring.epoch >= rb->target.epoch) {
        /* someone else's change got there first: start over from it */
        enum drive kind = rb->drive;
        rb->drive = DRIVE_NONE;
        dlog(DLOG_NOTICE, "rebalance: ring moved to epoch %llu meanwhile",
             (unsigned long long)cl->ring.epoch);
        if (kind != DRIVE_JOIN)
            rb->want = kind;
        return;
    }
    if (rb->drive == DRIVE_JOIN && self_out(cl)) {
        /* the cluster holds us as left or forgotten, and we were not told
         * to come back (gossip.h): no join */
        rb->drive = DRIVE_NONE;
        if (rb->has_pending && strcmp(rb->driver, self_name(cl)) == 0)
            pending_clear(rb);
        dlog(DLOG_NOTICE, "rebalance: join abandoned: this node is held as "
                          "left or forgotten");
        return;
    }
    if (t - rb->last_poll_ms < POLL_MS)
        return;
    rb->last_poll_ms = t;
    if (rb->reply_cap < cl->mb.n) {
        uint32_t old = rb->reply_cap;
        rb->reply_cap = cl->mb.n + 64;
        rb->reply = dyn_realloc(rb->reply, rb->reply_cap);
        memset(rb->reply + old, 0, rb->reply_cap - old);
    }
    /* this node first, and fresh: if it now holds a change that goes
     * before ours, ours must neither start streaming nor switch on answers
     * the last poll brought */
    const char *me = self_name(cl);
    if (!drive_local(cl, me))
        return;
    /* decide on what the last poll brought */
    int all_ready = 1, all_done = 1;
    for (uint32_t m = 0; m < cl->mb.n; m++) {
        if (!live_member(cl, m))
            continue;
        all_ready &= rb->reply[m] >= 1;
        all_done &= rb->reply[m] == 2;
    }
    if (rb->go && all_done) {
        finish_change(cl);
        return;
    }
    if (!rb->go && all_ready) {
        rb->go = 1;
        memset(rb->reply, 0, rb->reply_cap);
        dlog(DLOG_NOTICE, "rebalance: every member knows the pending ring; "
                          "streaming starts");
        if (!drive_local(cl, me)) /* cannot fail: ours is held here */
            return;
    }
    struct dbuf enc;
    dbuf_init(&enc);
    ring_encode(&rb->target, &enc);
    struct dyn_arg av[4] = {{"R.MOVE", 6},
                            {me, strlen(me)},
                            {rb->go ? "1" : "0", 1},
                            {enc.p, enc.len}};
    for (uint32_t m = 0; m < cl->mb.n; m++) {
        if (m == cl->mb.self || !live_member(cl, m))
            continue;
        struct move_ctx *mc = dyn_malloc(sizeof(*mc));
        mc->cl = cl;
        mc->epoch = rb->target.epoch;
        mc->member = (uint16_t)m;
        if (cl_send(cl, (uint16_t)m, 4, av, move_answer, mc) != 0)
            dyn_free(mc);
    }
    dbuf_free(&enc);
}

/* A node that has a ring but is not in it, and was not made to leave,
 * joins: started with seed lines, or after DYNAMO.JOIN. */
static void auto_join(struct cluster *cl, uint64_t t)
{
    struct rebalance *rb = cl->rb;
    if (rb->drive != DRIVE_NONE || !cl->ring.nnodes || rb->has_pending ||
        ring_node_index(&cl->ring, self_name(cl)) >= 0 || self_out(cl))
        return;
    /* what the cluster holds for us (a tombstone: we stay out, unless
     * told to join) comes with the first gossip that carries our entry */
    if (!cl->mb.self_heard)
        return;
    /* wait until gossip has told us of every node of the ring */
    int reachable = 0;
    for (uint32_t i = 0; i < cl->ring.nnodes; i++) {
        int m = membership_find(&cl->mb, cl->ring.names[i]);
        if (m < 0)
            return;
        reachable += cl_reachable(cl, m);
    }
    (void)t;
    if (!reachable)
        return;
    struct ring target;
    ring_copy(&target, &cl->ring);
    if (ring_add(&target, self_name(cl), (uint32_t)cl->node->cfg.n) == 0)
        start_change(cl, DRIVE_JOIN, &target);
    ring_free(&target);
}

/* A pending ring whose driver has been down, left or forgotten for ten
 * down timeouts is abandoned here: a driver killed for good in the middle
 * of its change would otherwise hold every member's pending ring forever,
 * and with it the extra write targets, the copies kept for the gainers, and
 * every later change (-BUSY).  A driver that comes back polls again, and
 * its R.MOVE sets the pending ring anew (pulls start over; merging is
 * idempotent). */
static void pending_watch(struct cluster *cl, uint64_t t)
{
    struct rebalance *rb = cl->rb;
    int m = rb->has_pending ? membership_find(&cl->mb, rb->driver) : -1;
    int gone = rb->has_pending && m != (int)cl->mb.self &&
               (m < 0 || MEMBER_IS_TOMBSTONE(cl->mb.m[m].status) ||
                cl->mb.m[m].status == MEMBER_DOWN);
    if (!gone) {
        rb->driver_lost_ms = 0;
        return;
    }
    if (!rb->driver_lost_ms) {
        rb->driver_lost_ms = t ? t : 1;
        return;
    }
    uint64_t bound = 10 * (uint64_t)cl->node->cfg.down_timeout_ms;
    if (t - rb->driver_lost_ms < bound)
        return;
    dlog(DLOG_WARNING, "rebalance: %s, the driver of pending ring epoch %llu, "
                       "has been %s for %llu ms: the change is abandoned "
                       "here (it starts again if %s polls again)",
         rb->driver, (unsigned long long)rb->pending.epoch,
         m < 0 ? "unknown" : member_status_name(cl->mb.m[m].status),
         (unsigned long long)(t - rb->driver_lost_ms), rb->driver);
    pending_clear(rb);
    rb->driver_lost_ms = 0;
    rb->pending_abandoned++;
}

/* A leave or forget that had to give way starts again from the new ring. */
static void retry_wanted(struct cluster *cl)
{
    struct rebalance *rb = cl->rb;
    if (rb->want == DRIVE_NONE || rb->drive != DRIVE_NONE || rb->has_pending)
        return;
    enum drive w = rb->want;
    rb->want = DRIVE_NONE;
    struct dbuf err;
    dbuf_init(&err);
    int rc = w == DRIVE_LEAVE
                 ? cluster_leave(cl->node, &err)
                 : cluster_forget(cl->node, rb->forget, strlen(rb->forget),
                                  &err);
    if (rc == DYN_EAGAIN)
        rb->want = w;
    else if (rc != 0)
        dlog(DLOG_WARNING, "rebalance: the %s cannot start again: %.*s",
             w == DRIVE_LEAVE ? "leave" : "forget", (int)err.len, err.p);
    dbuf_free(&err);
}

void rebalance_tick(struct cluster *cl, uint64_t t)
{
    /* rejoining ends once this node is in the ring the cluster gossips:
     * from then on a tombstone for it (a later forget) is adopted */
    if (cl->mb.rejoining && cl->mb.self_heard && !self_out(cl) &&
        ring_node_index(&cl->ring, self_name(cl)) >= 0)
        cl->mb.rejoining = 0;
    pending_watch(cl, t);
    retry_wanted(cl);
    auto_join(cl, t);
    drive_tick(cl, t);
    pulls_tick(cl, t);
    drops_tick(cl, t);
}

/* ---- the public commands ------------------------------------------------ */

int cluster_join(struct node *n, const char *hostport, size_t len,
                 struct dbuf *err)
{
    struct cluster *cl = n->cluster;
    if (!cl) {
        dbuf_printf(err, "ERR this node is not in a cluster");
        return DYN_EINVAL;
    }
    int rc = members_add_seed(cl, hostport, len, err);
    /* a member in the ring the cluster gossips has nothing to come back
     * from (a ring not yet confirmed by gossip may be a stale one) */
    if (rc != 0 || (cl->mb.self_heard && !self_out(cl) &&
                    ring_node_index(&cl->ring, self_name(cl)) >= 0))
        return rc;
    /* the operator's word: a tombstone the cluster holds for this node
     * (it left, or was forgotten) is outbid by a new life (gossip.h) */
    rc = gossip_rejoin(&cl->mb, cl_now(cl));
    if (rc == 1)
        dlog(DLOG_NOTICE, "DYNAMO.JOIN: this node had left or was "
                          "forgotten; rejoining as incarnation %u",
             cl->mb.m[cl->mb.self].incarnation);
    return 0;
}

int cluster_leave(struct node *n, struct dbuf *err)
{
    struct cluster *cl = n->cluster;
    struct rebalance *rb = cl ? cl->rb : NULL;
    if (!cl) {
        if (err)
            dbuf_printf(err, "ERR this node is not in a cluster");
        return DYN_EINVAL;
    }
    if (rb->drive != DRIVE_NONE || rb->has_pending) {
        if (err)
            dbuf_printf(err, "BUSY a membership change is in progress; try "
                             "again when it is done");
        return DYN_EAGAIN;
    }
    if (ring_node_index(&cl->ring, self_name(cl)) < 0) {
        if (err)
            dbuf_printf(err, "ERR this node owns no partitions (not in the "
                             "ring)");
        return DYN_EINVAL;
    }
    if (cl->ring.nnodes <= (uint32_t)n->cfg.n) {
        if (err)
            dbuf_printf(err, "ERR only %u nodes in the ring: with n=%d a "
                             "leave would leave fewer than N replicas",
                        cl->ring.nnodes, n->cfg.n);
        return DYN_EINVAL;
    }
    struct ring target;
    ring_copy(&target, &cl->ring);
    ring_remove(&target, self_name(cl), (uint32_t)n->cfg.n);
    start_change(cl, DRIVE_LEAVE, &target);
    ring_free(&target);
    return 0;
}

int cluster_forget(struct node *n, const char *name, size_t len,
                   struct dbuf *err)
{
    struct cluster *cl = n->cluster;
    if (!cl) {
        dbuf_printf(err, "ERR this node is not in a cluster");
        return DYN_EINVAL;
    }
    struct rebalance *rb = cl->rb;
    char nm[MEMBER_NAME_MAX];
    if (len >= sizeof(nm)) {
        dbuf_printf(err, "ERR unknown member");
        return DYN_ENOTFOUND;
    }
    memcpy(nm, name, len);
    nm[len] = 0;
    int m = membership_find(&cl->mb, nm);
    if (m < 0) {
        dbuf_printf(err, "ERR unknown member '%s'", nm);
        return DYN_ENOTFOUND;
    }
    if (m == (int)cl->mb.self) {
        dbuf_printf(err, "ERR a node cannot forget itself (use DYNAMO.LEAVE)");
        return DYN_EINVAL;
    }
    if (cl_reachable(cl, m) && cl->mb.m[m].status == MEMBER_UP) {
        dbuf_printf(err, "ERR %s is up: forget only a dead node (or make it "
                         "DYNAMO.LEAVE)", nm);
        return DYN_EINVAL;
    }
    if (rb->drive != DRIVE_NONE || rb->has_pending) {
        dbuf_printf(err, "BUSY a membership change is in progress; try "
                         "again when it is done");
        return DYN_EAGAIN;
    }
    /* its hints are re-targeted to the keys' replicas once the ring no
     * longer holds it (handoff.c) */
    gossip_forget(&cl->mb, nm, cl_now(cl));
    if (ring_node_index(&cl->ring, nm) < 0)
        return 0;
    struct ring target;
    ring_copy(&target, &cl->ring);
    ring_remove(&target, nm, (uint32_t)n->cfg.n);
    snprintf(rb->forget, sizeof(rb->forget), "%s", nm);
    start_change(cl, DRIVE_FORGET, &target);
    ring_free(&target);
    return 0;
}

/* DYNAMO.RING PLAN JOIN|LEAVE node */
int cluster_ring_plan(struct node *n, int join, const char *name, size_t len,
                      struct dbuf *out, int resp)
{
    struct cluster *cl = n->cluster;
    if (!cl || !cl->ring.nnodes) {
        reply_error(out, "ERR this node has no ring");
        return DYN_EINVAL;
    }
    char nm[MEMBER_NAME_MAX];
    if (len == 0 || len >= sizeof(nm)) {
        reply_error(out, "ERR invalid node name");
        return DYN_EINVAL;
    }
    memcpy(nm, name, len);
    nm[len] = 0;
    struct ring target;
    ring_copy(&target, &cl->ring);
    int rc = join ? ring_add(&target, nm, (uint32_t)n->cfg.n)
                  : ring_remove(&target, nm, (uint32_t)n->cfg.n);
    if (rc != 0) {
        ring_free(&target);
        reply_errorf(out, "ERR %s", join ? "that node is already in the ring"
                                         : "that node is not in the ring");
        return rc;
    }
    /* per partition: the replicas that change */
    uint32_t nval = cl_nval(n->cluster);
    struct dbuf moves;
    dbuf_init(&moves);
    uint32_t changed = 0, transfers = 0;
    for (uint32_t p = 0; p < target.q; p++) {
        uint16_t a[QUORUM_MAX], b[QUORUM_MAX];
        uint32_t ka = ring_preflist(&cl->ring, p, a, nval);
        uint32_t kb = ring_preflist(&target, p, b, nval);
        const char *gain[QUORUM_MAX], *loss[QUORUM_MAX];
        uint32_t ng = 0, nl = 0;
        for (uint32_t i = 0; i < kb; i++)
            if (!in_top(cl, &cl->ring, p, target.names[b[i]]))
                gain[ng++] = target.names[b[i]];
        for (uint32_t i = 0; i < ka; i++)
            if (!in_top(cl, &target, p, cl->ring.names[a[i]]))
                loss[nl++] = cl->ring.names[a[i]];
        if (!ng && !nl)
            continue;
        changed++;
        transfers += ng;
        reply_array(&moves, 3);
        reply_int(&moves, p);
        reply_array(&moves, nl);
        for (uint32_t i = 0; i < nl; i++)
            reply_bulk_cstr(&moves, loss[i]);
        reply_array(&moves, ng);
        for (uint32_t i = 0; i < ng; i++)
            reply_bulk_cstr(&moves, gain[i]);
    }
    reply_map(out, resp, 6);
    reply_bulk_cstr(out, "epoch");
    reply_int(out, (long long)cl->ring.epoch);
    reply_bulk_cstr(out, "target_epoch");
    reply_int(out, (long long)target.epoch);
    reply_bulk_cstr(out, "partitions_changing");
    reply_int(out, changed);
    reply_bulk_cstr(out, "transfers");
    reply_int(out, transfers);
    reply_bulk_cstr(out, "share_moving");
    char sh[32];
    snprintf(sh, sizeof(sh), "%.4f", (double)changed / (double)target.q);
    reply_bulk_cstr(out, sh);
    reply_bulk_cstr(out, "moves");
    reply_array(out, changed);
    dbuf_append(out, moves.p, moves.len);
    dbuf_free(&moves);
    ring_free(&target);
    return 0;
}

void rebalance_info(struct cluster *cl, struct dbuf *out)
{
    struct rebalance *rb = cl->rb;
    dbuf_printf(out,
                "rebalance_driving:%s\r\n"
                "rebalance_pending_epoch:%llu\r\n"
                "rebalance_pending_driver:%s\r\n"
                "rebalance_pending_streaming:%d\r\n"
                "rebalance_partitions_gaining:%u\r\n"
                "rebalance_partitions_streamed:%u\r\n"
                "rebalance_keys_in:%llu\r\n"
                "rebalance_bytes_in:%llu\r\n"
                "rebalance_last_stream_ms:%llu\r\n"
                "rebalance_last_stream_bytes:%llu\r\n"
                "rebalance_keys_dropped:%llu\r\n"
                "rebalance_changes_driven:%llu\r\n"
                "rebalance_pending_abandoned:%llu\r\n",
                rb->drive == DRIVE_NONE    ? "none"
                : rb->drive == DRIVE_JOIN  ? "join"
                : rb->drive == DRIVE_LEAVE ? "leave"
                                           : "forget",
                (unsigned long long)(rb->has_pending ? rb->pending.epoch : 0),
                rb->has_pending ? rb->driver : "",
                rb->has_pending && rb->driver_go,
                rb->has_pending ? rb->npulls : 0,
                rb->has_pending ? rb->pulls_done : 0,
                (unsigned long long)rb->keys_in,
                (unsigned long long)rb->bytes_in,
                (unsigned long long)rb->last_stream_ms,
                (unsigned long long)rb->last_stream_bytes,
                (unsigned long long)rb->keys_dropped,
                (unsigned long long)rb->changes_driven,
                (unsigned long long)rb->pending_abandoned);
}

/* ---- changes asked by another member ------------------------------------ */

/* Answers a call with rc's outcome: +OK, or err's Redis error text. */
static void reply_outcome(struct peer_call *call, int rc, struct dbuf *err)
{
    if (rc == 0) {
        peer_call_reply_ok(call);
    } else {
        dbuf_printf(err, "%s", ""); /* NUL-terminates, also when empty */
        peer_call_reply_error(call, err->len ? err->p : "ERR failed");
    }
    dbuf_free(err);
}

/* R.JOIN seed: DYNAMO.JOIN seed, from a member that holds us as a spare. */
static void h_join(void *ctx, struct peer_call *call, int argc,
                   const struct dyn_arg *argv)
{
    struct cluster *cl = ctx;
    if (argc != 2) {
        peer_call_reply_error(call, "ERR R.JOIN host:port");
        return;
    }
    dlog(DLOG_NOTICE, "R.JOIN from %s: joining through %.*s",
         peer_call_peer_name(call), (int)DYN_MIN(argv[1].len, 80),
         argv[1].p);
    struct dbuf err;
    dbuf_init(&err);
    reply_outcome(call, cluster_join(cl->node, argv[1].p, argv[1].len, &err),
                  &err);
}

/* R.LEAVE: DYNAMO.LEAVE, asked by another member. */
static void h_leave(void *ctx, struct peer_call *call, int argc,
                    const struct dyn_arg *argv)
{
    struct cluster *cl = ctx;
    (void)argv;
    if (argc != 1) {
        peer_call_reply_error(call, "ERR R.LEAVE");
        return;
    }
    dlog(DLOG_NOTICE, "R.LEAVE from %s: leaving the cluster",
         peer_call_peer_name(call));
    struct dbuf err;
    dbuf_init(&err);
    reply_outcome(call, cluster_leave(cl->node, &err), &err);
}

struct told {
    struct cluster *cl;
    char name[MEMBER_NAME_MAX];
    cluster_done_fn *done;
    void *ctx;
};

static void tell_answered(void *ctx, int err, const struct peer_value *v)
{
    struct told *t = ctx;
    if (!cl_refused(err, v, t->done, t->ctx)) {
        /* the leaver logs its own leave; this says here who asked */
        struct evlog_entry *e = cl_event(t->cl, EV_LEAVE);
        evlog_field(e, "state", "asked");
        evlog_field(e, "kind", "leave");
        evlog_field(e, "member", "%s", t->name);
        t->done(t->ctx, NULL);
    }
    dyn_free(t);
}

int cluster_tell_leave(struct node *n, const char *name, size_t len,
                       cluster_done_fn *done, void *ctx, struct dbuf *err)
{
    struct cluster *cl = n->cluster;
    if (!cl) {
        dbuf_printf(err, "ERR this node is not in a cluster");
        return DYN_EINVAL;
    }
    char nm[MEMBER_NAME_MAX];
    int m = len < sizeof(nm) ? (memcpy(nm, name, len), nm[len] = 0,
                                membership_find(&cl->mb, nm))
                             : -1;
    if (m < 0) {
        dbuf_printf(err, "ERR unknown member '%.*s'", (int)DYN_MIN(len, 64),
                    name);
        return DYN_ENOTFOUND;
    }
    if (m == (int)cl->mb.self) {
        dbuf_printf(err, "ERR that is this node (DYNAMO.LEAVE without a "
                         "name)");
        return DYN_EINVAL;
    }
    if (!cl_reachable(cl, m)) {
        dbuf_printf(err, "ERR member '%s' is not reachable (a dead member "
                         "is forgotten: DYNAMO.FORGET)", nm);
        return DYN_EIO;
    }
    struct dyn_arg av[1] = {{"R.LEAVE", 7}};
    struct told *t = dyn_malloc(sizeof(*t));
    t->cl = cl;
    snprintf(t->name, sizeof(t->name), "%s", nm);
    t->done = done;
    t->ctx = ctx;
    if (cl_send(cl, (uint16_t)m, 1, av, tell_answered, t) != 0) {
        dyn_free(t);
        dbuf_printf(err, "ERR member '%s' is not reachable", nm);
        return DYN_EIO;
    }
    return 0;
}
