/*
 * antientropy.c -- Merkle-tree anti-entropy: replicas of a partition
 * compare trees and swap only the objects that differ, so they converge
 * without client reads (Dynamo, SOSP 2007, section 4.7).
 *
 * A round (one partition, this node as initiator) and its life:
 *
 *   tick: interval due, or a DYNAMO.AE queued ─> pick partition p that this
 *   node replicates (round robin) ─> for each other replica P of p, in turn:
 *
 *     AE.ROOT p ───────────> [leaves, root, gen, keys]   equal root: next P
 *     AE.TREE p d+1 i..  ──> child hashes, level by level; keep only the
 *                            children whose hash differs from ours
 *     AE.KEYS p leaf..   ──> [key, digest, reapable]* of the differing
 *                            leaves; compared with our own list
 *                            (aediff_keys, cluster/aediff.c, pure):
 *                              differs on both sides  -> pull, then push
 *                              only P has it          -> pull
 *                              only we have it        -> push
 *     AE.GET p key..     ──> objects, merged here by their clocks
 *     AE.PUT p key obj.. ──> P merges ours (after our pull, so both sides
 *                            end with the same merged object)
 *
 *   when every P's root equalled ours and ours did not change during the
 *   round: confirm p's tombstones here and at every P (AE.CONFIRM p gen).
 *
 * Which partitions get a round.  Comparing an in-sync partition costs one
 * root hash, so rounds are not paced per partition:
 *
 *   root sweep, every anti-entropy-sweep-interval-ms (1 s):
 *     for each peer P sharing partitions with us, all at once:
 *       AE.ROOTS p1 p2 ... ──> [leaves, root1, root2, ...]  (one request
 *                              per peer, answered from the trees in memory)
 *     a root that differs from ours (now, and as of the ask: see "Writes in
 *     flight") queues its partition (dirty[], INFO ae_sweep_*)
 *   queued partitions: one round each, back to back (a periodic round goes
 *     straight on to the next queued partition; DYNAMO.AE requests go
 *     first), paced by the token bucket only
 *   no new sweep while one is out or partitions are queued.
 *
 * So a wiped replica of a 3-node cluster (256 partitions) is found by the
 * next sweep and refilled at the bandwidth cap, where one partition per
 * anti-entropy-interval-ms took 256 x 10 s.  A node whose store is empty
 * at its first tick (a memory node restarted, a new incarnation or an
 * empty data dir on disk: it lost its data, or never had any) sweeps at
 * once, without the first sweep's jitter or waiting for its trees to warm,
 * and again every AE_LOST_RETRY_MS until some peer answered (its peers are
 * not linked yet at the first tick).  Such a node also reports each
 * partition as recovering (antientropy_recovering) until it has compared
 * it with a peer (a sweep found the roots equal, or an exchange of it
 * finished), so that the keyspace commands do not let it answer alone.  The old round robin, one partition per
 * anti-entropy-interval-ms whether it differs or not, stays: its rounds
 * confirm tombstones (below), which a sweep, comparing one peer at a time,
 * does not.  anti-entropy-interval-ms 0 turns both off.
 *
 * Safe deletes.  A tombstone may be reaped only when every replica holds
 * it (db.c asks store_tombstones_confirmed).  A round in which all roots
 * equal this node's root, unchanged from the round's start, proves that
 * every replica held exactly this node's content as of that moment; each
 * side records the store generation it reported, and tombstones stored
 * after it need a later round.  A tombstone that is past its grace period
 * and confirmed is "reapable": the exchange neither pushes nor pulls it to
 * a side that lacks the key (that side has reaped it already), so reaping
 * never ping-pongs.
 *
 * Writes in flight.  Under a write load the replicas differ by the writes
 * the write path is still delivering.  A peer's hash (root or tree node)
 * is compared with ours as of when the request went out as well as with
 * ours now, and a match with either counts as equal: when the peer lags
 * by our newest writes (the coordinator's usual case: its replication
 * and our request reach the peer in order), its answer equals our earlier
 * hash and the descent stops at once instead of chasing the writes down
 * to the leaves.  This weakens nothing: equality at either instant is an
 * observed equality of the two replicas, and a real divergence differs
 * from both.  (Tombstone confirmation still demands the peers' roots equal
 * ours as of the round's start and unchanged to its end.)  INFO counts
 * ae_descents (roots differed), ae_leaves_listed and ae_keys_compared, so
 * one can see how far exchanges under load go (measured with SET -P 16 at
 * a 10 ms interval: ~25-45 % descend, none reaches AE.KEYS).
 *
 * Keys being written.  A key whose newest version is younger than twice
 * request-timeout-ms (db_key_hot) is neither pulled nor pushed: the
 * write path is still delivering it to every replica, and an exchange
 * that copies it whole (a large typed value: its merge decodes both
 * copies) would only overtake that stream, whose writes then go as whole
 * objects instead of deltas (coordinator.c, "deltas").  The next round
 * after the writes stop repairs what the write path missed; a replica
 * that lacks the key, or holds an older copy, still pulls it.  INFO
 * ae_hot_skipped counts the keys left.  Compaction leaves them too.
 *
 * Throttling: one round at a time per node (the peers may serve several);
 * a token bucket of anti-entropy-max-bps bytes per second (requests and
 * replies both count, the sweep's too) holds the next request back, and the
 * next sweep, when it runs dry.
 * Batches are bounded (leaves, keys and bytes per request) so that a
 * freshly wiped replica is refilled in many small steps.
 *
 * Deadlines (clients wait on DYNAMO.AE and DYNAMO.MERKLE): the bus may
 * hold a request for as long as a fault delays it (DYNAMO.FAULT ... DELAY),
 * so nothing here waits on it for longer than request-timeout-ms.  The
 * round's one outstanding request, the sweep's requests and each view
 * have a deadline that the tick checks (a sweep past it ends with the
 * answers it has); past it the request is marked stale, the round takes its
 * peer as failed (and does not ask it again in the same run, so DYNAMO.AE
 * ALL costs one timeout per silent peer, not one per partition), and a
 * view shows the replica as not answering.  A stale request's answer, when
 * it comes, is only counted (ae_late_answers).  The tick runs under
 * DYNAMO.KILL too: it ends the run and the queued DYNAMO.AE requests
 * (result.killed) and starts nothing.
 *
 * Lifetime: every request carries a struct ae_req that the instance lists;
 * antientropy_free detaches them (req->ae = NULL) because the bus fails
 * outstanding requests only after cluster_free freed us.  Completion
 * callbacks (DYNAMO.AE / DYNAMO.MERKLE) run from the tick, never inside the
 * call that asked.
 *
 * Thread-safety: none; the event loop owns it.
 * Errors: peers that fail or miss the deadline are skipped (counted, and
 * named to DYNAMO.AE); bad peer input is an error reply, never an
 * assert.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/aediff.h"
#include "cluster/antientropy.h"
#include "cluster/cluster.h"
#include "cluster/membership.h"
#include "cluster/merkle.h"
#include "cluster/object.h"
#include "server/log.h"
#include "server/db.h"
#include "server/node.h"
#include "server/reply.h"
#include "server/store.h"
#include "server/util.h"

#define AE_MAX_REPLICAS 16
#define AE_TREE_BATCH   2048            /* node hashes per AE.TREE */
#define AE_LEAF_BATCH   256             /* leaves per AE.KEYS */
#define AE_KEY_BATCH    512             /* keys per AE.GET / AE.PUT */
#define AE_BATCH_BYTES  (512 * 1024)    /* object bytes per AE.PUT */
#define AE_MAX_QUEUED   64
#define AE_MAX_UNANSWERED ANTIENTROPY_MAX_NAMED
#define AE_LOST_RETRY_MS 100            /* sweep retry of a node that
                                         * started empty */

enum ae_phase { PH_ROOT, PH_TREE, PH_KEYS, PH_GET, PH_PUT, PH_NEXT_PEER };

struct ae_key {
    char *k;
    size_t len;
};

struct ae_keys {
    struct ae_key *v;
    size_t n, cap;
};

struct ae_waiter {
    antientropy_done_fn *fn;
    void *ctx;
};

struct ae_round {
    int active;
    int killed;                 /* ended by DYNAMO.KILL */
    uint32_t part;
    int sweep;                  /* ALL: go on to the next partition */
    uint32_t sweep_left;
    uint16_t peers[AE_MAX_REPLICAS];
    uint64_t peer_gen[AE_MAX_REPLICAS];
    uint32_t npeers, pi;
    enum ae_phase phase;
    int waiting;                /* a request is out: out */
    struct ae_req *out;
    uint64_t out_deadline;      /* request-timeout-ms after it left */
    uint16_t unanswered[AE_MAX_UNANSWERED];  /* members whose exchange
                                              * failed in this run */
    unsigned char unanswered_timeout[AE_MAX_UNANSWERED]; /* ... because
                                              * they missed a deadline */
    uint32_t nunanswered;
    uint64_t root_start, gen_start;
    uint64_t root_sent;         /* our root when AE.ROOT went out */
    uint64_t *sent_hash;        /* our hashes of the AE.TREE nodes asked */
    int all_equal;
    unsigned level;             /* nodes[] are at this level */
    uint32_t *nodes, *next;
    size_t nnodes, nnext, node_pos;
    size_t leaf_pos;            /* into nodes[] once level == depth */
    struct ae_keys pull, push;
    size_t pull_pos, push_pos;
    /* results */
    struct antientropy_result res;
    uint64_t started_ms;
    struct ae_waiter w;         /* fn NULL: periodic */
};

struct ae_view_state {
    struct antientropy_view v;
    antientropy_view_fn *fn;
    void *ctx;
    int pending;
    uint64_t deadline;          /* request-timeout-ms after it asked */
    uint64_t *leaves[AE_MAX_REPLICAS];  /* per replica, NULL if none */
    struct ae_view_state *next;
};

struct ae_req {
    struct antientropy *ae;     /* NULL: detached (instance freed) */
    struct ae_req *prev, *next;
    struct ae_view_state *view; /* a DYNAMO.MERKLE query, or NULL */
    int sweep;                  /* an AE.ROOTS of the root sweep */
    uint32_t *parts;            /* ...the partitions it asked (owned) */
    size_t nparts;
    int stale;                  /* the round or view gave up on it: its
                                 * late answer is only counted */
    int vi;                     /* replica index in the view */
    size_t sent;                /* request bytes */
};

struct ae_queued {
    int64_t part;
    struct ae_waiter w;
};

/* The root sweep in flight: one AE.ROOTS per peer, all out at once. */
struct ae_sweep {
    int active;
    uint32_t pending;           /* requests not answered yet */
    uint32_t answered;          /* peers that answered this sweep */
    uint64_t deadline;          /* request-timeout-ms after it asked */
};

struct antientropy {
    struct node *node;
    uint32_t nparts;
    uint32_t cursor;            /* round robin over partitions */
    uint32_t warm;              /* next partition whose tree is built */
    uint64_t next_ms;
    uint64_t last_tick_ms;
    double tokens;              /* bytes */
    struct ae_round r;
    struct ae_queued queue[AE_MAX_QUEUED];
    size_t nqueued;
    struct ae_req *reqs;        /* outstanding */
    struct ae_view_state *views;
    /* the root sweep */
    struct ae_sweep sw;
    uint64_t next_sweep_ms;     /* 0: not scheduled yet */
    int started;                /* the first tick ran */
    uint8_t *recovering;        /* per partition, when the node started
                                 * empty: not yet compared with a peer
                                 * (antientropy_recovering) */
    int lost;                   /* started with an empty store: sweep as
                                 * soon as a peer can answer */
    uint64_t *sent_root;        /* per partition: our root when the sweep
                                 * asked */
    unsigned char *dirty;       /* per partition: roots differed, queued */
    uint32_t ndirty, dirty_cursor;
    /* INFO */
    uint64_t exchanges, peer_exchanges, keys_repaired, bytes_sent,
        bytes_received, peers_failed, confirmed, rounds_equal,
        last_round_ms, reapable_skipped, hot_skipped;
    uint64_t timeouts;          /* requests given up after the deadline */
    uint64_t late_answers;      /* answers that came after it */
    uint64_t descents, leaves_listed, keys_compared;
    uint64_t sweeps, sweep_roots_compared, sweep_partitions_differed,
        sweep_peers_failed;
};

/* ---- helpers ------------------------------------------------------------ */

static int ae_arg_u64(const struct dyn_arg *a, uint64_t *out)
{
    char buf[24];
    if (a->len == 0 || a->len >= sizeof(buf))
        return -1;
    memcpy(buf, a->p, a->len);
    buf[a->len] = '\0';
    for (size_t i = 0; i < a->len; i++)
        if (buf[i] < '0' || buf[i] > '9')
            return -1;
    char *end;
    *out = strtoull(buf, &end, 10);
    return *end ? -1 : 0;
}

static void keys_add(struct ae_keys *ks, const void *k, size_t len);

/* The keys of e[0..n) that are not being written (see "Keys being
 * written"): the others are left to the write path, and counted. */
static void keys_add_cold(struct antientropy *ae, struct ae_keys *ks,
                          const struct aediff_entry *const *e, size_t n)
{
    struct node *nd = ae->node;
    for (size_t i = 0; i < n; i++) {
        if (db_key_hot(nd, store_get(nd->store, e[i]->key, e[i]->len)))
            ae->hot_skipped++;
        else
            keys_add(ks, e[i]->key, e[i]->len);
    }
}

static void keys_add(struct ae_keys *ks, const void *k, size_t len)
{
    if (ks->n == ks->cap) {
        ks->cap = ks->cap ? ks->cap * 2 : 64;
        ks->v = dyn_realloc(ks->v, ks->cap * sizeof(*ks->v));
    }
    ks->v[ks->n].k = dyn_malloc(len ? len : 1);
    memcpy(ks->v[ks->n].k, k, len);
    ks->v[ks->n].len = len;
    ks->n++;
}

static void keys_reset(struct ae_keys *ks)
{
    for (size_t i = 0; i < ks->n; i++)
        dyn_free(ks->v[i].k);
    ks->n = 0;
}

static void keys_free(struct ae_keys *ks)
{
    keys_reset(ks);
    dyn_free(ks->v);
    memset(ks, 0, sizeof(*ks));
}

static size_t value_bytes(const struct peer_value *v)
{
    if (!v)
        return 0;
    size_t n = 16 + v->len;
    if (v->type == PEER_V_ARRAY)
        for (size_t i = 0; i < v->n; i++)
            n += value_bytes(&v->elem[i]);
    return n;
}

static struct ae_req *req_new(struct antientropy *ae)
{
    struct ae_req *q = dyn_calloc(1, sizeof(*q));
    q->ae = ae;
    q->next = ae->reqs;
    if (ae->reqs)
        ae->reqs->prev = q;
    ae->reqs = q;
    return q;
}

static void req_free(struct ae_req *q)
{
    dyn_free(q->parts);
    if (q->ae) {
        if (q->prev)
            q->prev->next = q->next;
        else
            q->ae->reqs = q->next;
        if (q->next)
            q->next->prev = q->prev;
    }
    dyn_free(q);
}

/* Sends argv to member m; 0 or <0 (fn will not run, q freed). */
static int ae_send(struct antientropy *ae, int m, int argc,
                   const struct dyn_arg *argv, peer_reply_fn *fn,
                   struct ae_req *q)
{
    size_t bytes = 0;
    for (int i = 0; i < argc; i++)
        bytes += argv[i].len + 16;
    q->sent = bytes;
    int rc = cluster_request(ae->node, m, argc, argv, fn, q);
    if (rc < 0) {
        req_free(q);
        return rc;
    }
    ae->bytes_sent += bytes;
    ae->r.res.bytes += q->view || q->sweep ? 0 : bytes;
    ae->tokens -= (double)bytes;
    return 0;
}

/* The argv builder: a dbuf of argument bytes plus their lengths. */
struct ae_argv {
    struct dbuf data;
    size_t *off, *len;
    int n, cap;
};

static void argv_init(struct ae_argv *a)
{
    memset(a, 0, sizeof(*a));
    dbuf_init(&a->data);
}

static void argv_add(struct ae_argv *a, const void *p, size_t len)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 16;
        a->off = dyn_realloc(a->off, (size_t)a->cap * sizeof(size_t));
        a->len = dyn_realloc(a->len, (size_t)a->cap * sizeof(size_t));
    }
    a->off[a->n] = a->data.len;
    a->len[a->n] = len;
    dbuf_append(&a->data, p, len);
    a->n++;
}

static void argv_addf(struct ae_argv *a, unsigned long long v)
{
    char b[24];
    int n = snprintf(b, sizeof(b), "%llu", v);
    argv_add(a, b, (size_t)n);
}

/* The dyn_arg array (caller frees); valid while a is unchanged. */
static struct dyn_arg *argv_build(struct ae_argv *a)
{
    struct dyn_arg *v = dyn_malloc(sizeof(*v) * (size_t)(a->n ? a->n : 1));
    for (int i = 0; i < a->n; i++) {
        v[i].p = a->data.p + a->off[i];
        v[i].len = a->len[i];
    }
    return v;
}

static void argv_free(struct ae_argv *a)
{
    dbuf_free(&a->data);
    dyn_free(a->off);
    dyn_free(a->len);
}

static int ae_send_argv(struct antientropy *ae, int m, struct ae_argv *a,
                        peer_reply_fn *fn, struct ae_req *q)
{
    struct dyn_arg *v = argv_build(a);
    int rc = ae_send(ae, m, a->n, v, fn, q);
    dyn_free(v);
    argv_free(a);
    return rc;
}

/* Whether an all-tombstone object may be left out of the exchange: past
 * its grace period and confirmed on every replica (so it is being reaped,
 * and a side without it has reaped it). */
static int ae_reapable(struct node *n, uint32_t part, const struct object *o,
                       uint64_t now_ms)
{
    return db_tombstone_reapable(n, part, o, now_ms);
}

/* ---- the partitions a root sweep found different ------------------------ */

static int ae_replicates(struct antientropy *ae, uint32_t part);

static void dirty_mark(struct antientropy *ae, uint32_t part)
{
    if (ae->dirty[part])
        return;
    ae->dirty[part] = 1;
    ae->ndirty++;
    ae->sweep_partitions_differed++;
}

/* The next queued partition that this node still replicates (round robin
 * from the last one taken), unqueued; -1 when none is left. */
static int64_t dirty_pop(struct antientropy *ae)
{
    for (uint32_t i = 0; i < ae->nparts && ae->ndirty > 0; i++) {
        uint32_t p = (ae->dirty_cursor + i) % ae->nparts;
        if (!ae->dirty[p])
            continue;
        ae->dirty[p] = 0;
        ae->ndirty--;
        if (ae_replicates(ae, p)) {
            ae->dirty_cursor = (p + 1) % ae->nparts;
            return p;
        }
    }
    return -1;
}

/* ---- the initiator's round ---------------------------------------------- */

static void round_step(struct antientropy *ae);

static struct merkle *ae_tree(struct antientropy *ae, uint32_t part)
{
    return store_merkle(ae->node->store, part);
}

static void round_next_peer(struct antientropy *ae)
{
    struct ae_round *r = &ae->r;
    r->pi++;
    r->phase = PH_ROOT;
    r->nnodes = r->nnext = r->node_pos = r->leaf_pos = 0;
    keys_reset(&r->pull);
    keys_reset(&r->push);
    r->pull_pos = r->push_pos = 0;
}

/* Whether member m missed a request deadline earlier in this run (it is
 * not asked again until the run ends). */
static int round_timed_out(const struct ae_round *r, int m)
{
    for (uint32_t i = 0; i < r->nunanswered; i++)
        if (r->unanswered[i] == m && r->unanswered_timeout[i])
            return 1;
    return 0;
}

/* Names member m among the peers that did not answer in this run. */
static void round_note_unanswered(struct ae_round *r, int m, int timeout)
{
    for (uint32_t i = 0; i < r->nunanswered; i++)
        if (r->unanswered[i] == m) {
            r->unanswered_timeout[i] |= (unsigned char)timeout;
            return;
        }
    if (r->nunanswered < AE_MAX_UNANSWERED) {
        r->unanswered[r->nunanswered] = (uint16_t)m;
        r->unanswered_timeout[r->nunanswered++] = (unsigned char)timeout;
    }
}

static void round_peer_failed(struct antientropy *ae)
{
    round_note_unanswered(&ae->r, ae->r.peers[ae->r.pi], 0);
    ae->peers_failed++;
    ae->r.res.peers_failed++;
    ae->r.all_equal = 0;
    round_next_peer(ae);
}

/* Starts a round of partition part. */
static void round_begin(struct antientropy *ae, uint32_t part)
{
    struct node *n = ae->node;
    struct ae_round *r = &ae->r;
    uint16_t reps[AE_MAX_REPLICAS];
    uint32_t k = cluster_replicas(n, part, reps, AE_MAX_REPLICAS);
    int self = cluster_self(n);
    r->part = part;
    r->npeers = 0;
    for (uint32_t i = 0; i < k; i++)
        if (reps[i] != self)
            r->peers[r->npeers++] = reps[i];
    r->pi = 0;
    r->phase = PH_ROOT;
    r->waiting = 0;
    struct merkle *t = ae_tree(ae, part);
    r->root_start = merkle_root(t);
    r->gen_start = store_generation(n->store);
    r->all_equal = 1;
    r->nnodes = r->nnext = r->node_pos = r->leaf_pos = 0;
    r->res.partitions++;
}

static int ae_replicates(struct antientropy *ae, uint32_t part)
{
    uint16_t reps[AE_MAX_REPLICAS];
    uint32_t k = cluster_replicas(ae->node, part, reps, AE_MAX_REPLICAS);
    int self = cluster_self(ae->node);
    for (uint32_t i = 0; i < k; i++)
        if (reps[i] == self)
            return 1;
    return 0;
}

/* The next partition this node replicates after the cursor, or -1. */
static int64_t ae_pick(struct antientropy *ae)
{
    for (uint32_t i = 0; i < ae->nparts; i++) {
        uint32_t p = (ae->cursor + i) % ae->nparts;
        if (ae_replicates(ae, p)) {
            ae->cursor = (p + 1) % ae->nparts;
            return p;
        }
    }
    return -1;
}

static void round_start(struct antientropy *ae, int64_t part,
                        struct ae_waiter w, uint64_t now_ms)
{
    struct ae_round *r = &ae->r;
    memset(&r->res, 0, sizeof(r->res));
    r->w = w;
    r->nunanswered = 0;
    r->killed = 0;
    (void)now_ms;
    r->started_ms = cluster_now_ms(ae->node);   /* the clock res.ms uses */
    r->sweep = part == ANTIENTROPY_ALL;
    r->sweep_left = r->sweep ? ae->nparts : 0;
    r->active = 1;
    if (part < 0) {
        if (r->sweep)
            ae->cursor = 0;
        part = ae_pick(ae);
        if (part < 0) {     /* nothing replicated here: done at once */
            r->npeers = 0;
            r->pi = 0;
            r->part = 0;
            r->all_equal = 0;
            r->sweep = 0;
            return;
        }
    }
    round_begin(ae, (uint32_t)part);
}

static void ae_on_confirm(void *ctx, int err, const struct peer_value *reply)
{
    struct ae_req *q = ctx;
    if (q->ae)
        q->ae->bytes_received += value_bytes(reply);
    req_free(q);
}

/* The run is over (or DYNAMO.KILL ended it): the waiter gets the result. */
static void round_end(struct antientropy *ae)
{
    struct ae_round *r = &ae->r;
    struct node *n = ae->node;
    r->active = 0;
    uint64_t end = cluster_now_ms(n);
    r->res.ms = end > r->started_ms ? end - r->started_ms : 0;
    ae->last_round_ms = r->res.ms;
    keys_reset(&r->pull);
    keys_reset(&r->push);
    if (r->w.fn) {
        const struct membership *mb = cluster_membership(n);
        struct ae_waiter w = r->w;
        r->w.fn = NULL;
        r->res.killed = r->killed;
        r->res.nunanswered = 0;
        for (uint32_t i = 0; i < r->nunanswered && mb; i++)
            if (r->unanswered[i] < mb->n)
                r->res.unanswered[r->res.nunanswered++] =
                    mb->m[r->unanswered[i]].name;
        w.fn(w.ctx, &r->res);
    }
}

/* The current partition is done: confirm, then the next one (sweep) or
 * the end of the round. */
static void round_partition_done(struct antientropy *ae)
{
    struct ae_round *r = &ae->r;
    struct node *n = ae->node;
    ae->exchanges++;
    if (r->npeers > 0 && !r->all_equal) {
        /* only the exchanges that found a difference: an idle cluster
         * would otherwise fill the event log with sweeps */
        struct evlog_entry *e = evlog_add(&n->events, node_wall_ms(n),
                                          EV_AE_EXCHANGE);
        evlog_field(e, "partition", "%u", r->part);
        evlog_field(e, "peers", "%u", r->npeers);
    }
    if (ae->recovering && r->npeers > 0)
        ae->recovering[r->part] = 0;   /* compared and pulled */
    if (r->npeers > 0 && r->all_equal &&
        merkle_root(ae_tree(ae, r->part)) == r->root_start) {
        ae->rounds_equal++;
        store_confirm_tombstones(n->store, r->part, r->gen_start);
        /* every replica holds exactly this content: its typed values'
         * dots are stable (the peers take the compacted states from
         * their own rounds, or from the next exchange with us) */
        db_compact_typed(n, r->part);
        for (uint32_t i = 0; i < r->npeers; i++) {
            struct ae_argv a;
            argv_init(&a);
            argv_add(&a, "AE.CONFIRM", 10);
            argv_addf(&a, r->part);
            argv_addf(&a, r->peer_gen[i]);
            struct ae_req *q = req_new(ae);
            q->vi = -1;     /* fire and forget */
            (void)ae_send_argv(ae, r->peers[i], &a, ae_on_confirm, q);
        }
        ae->confirmed++;
    }
    if (r->sweep) {
        while (--r->sweep_left > 0 && ae->cursor != 0) {
            uint32_t p = ae->cursor;
            ae->cursor = (p + 1) % ae->nparts;
            if (ae_replicates(ae, p)) {
                round_begin(ae, p);
                return;
            }
        }
    }
    /* a periodic round goes on with the partitions a root sweep found
     * different, back to back (the token bucket paces the requests),
     * unless a DYNAMO.AE waits */
    if (!r->w.fn && !r->sweep && ae->nqueued == 0) {
        int64_t p = dirty_pop(ae);
        if (p >= 0) {
            round_begin(ae, (uint32_t)p);
            return;
        }
    }
    round_end(ae);
}

/* A reply for the round.  Returns the live instance, or NULL when the
 * reply is to be dropped. */
static struct antientropy *round_reply(struct ae_req *q,
                                       const struct peer_value *reply)
{
    struct antientropy *ae = q->ae;
    int stale = q->stale;
    req_free(q);
    if (!ae)
        return NULL;
    size_t b = value_bytes(reply);
    ae->bytes_received += b;
    ae->tokens -= (double)b;
    if (stale) {                /* the round gave up on it: counted only */
        ae->late_answers++;
        return NULL;
    }
    ae->r.res.bytes += b;
    ae->r.waiting = 0;
    ae->r.out = NULL;
    return ae;
}

static int reply_is_array(int err, const struct peer_value *v)
{
    return err == 0 && v && v->type == PEER_V_ARRAY;
}

static uint64_t value_u64(const struct peer_value *v)
{
    if (v->type == PEER_V_INT)
        return (uint64_t)v->integer;
    if (v->type == PEER_V_STRING)
        return strtoull(v->str, NULL, 10);
    return 0;
}

static void on_root(void *ctx, int err, const struct peer_value *v)
{
    struct antientropy *ae = round_reply(ctx, v);
    if (!ae)
        return;
    struct ae_round *r = &ae->r;
    if (!reply_is_array(err, v) || v->n < 4) {
        round_peer_failed(ae);
        round_step(ae);
        return;
    }
    struct merkle *t = ae_tree(ae, r->part);
    uint64_t leaves = value_u64(&v->elem[0]);
    uint64_t root = value_u64(&v->elem[1]);
    r->peer_gen[r->pi] = value_u64(&v->elem[2]);
    ae->peer_exchanges++;
    r->res.peer_exchanges++;
    if (leaves != merkle_leaves(t)) {
        dlog(DLOG_WARNING, "anti-entropy: a peer has %llu merkle leaves, we "
             "have %u: partition %u not compared",
             (unsigned long long)leaves, merkle_leaves(t), r->part);
        round_peer_failed(ae);
    } else {
        if (root != r->root_start)
            r->all_equal = 0;
        if (root == merkle_root(t) || root == r->root_sent) {
            round_next_peer(ae);
        } else {
            ae->descents++;
            r->phase = PH_TREE;
            r->level = 0;
            r->nodes = dyn_realloc(r->nodes, sizeof(uint32_t));
            r->nodes[0] = 0;
            r->nnodes = 1;
            r->node_pos = 0;
            r->nnext = 0;
        }
    }
    round_step(ae);
}

static void on_tree(void *ctx, int err, const struct peer_value *v)
{
    struct ae_req *q = ctx;
    size_t asked = q->vi > 0 ? (size_t)q->vi : 0;
    struct antientropy *ae = round_reply(q, v);
    if (!ae)
        return;
    struct ae_round *r = &ae->r;
    if (!reply_is_array(err, v) || v->n != 2 * asked) {
        round_peer_failed(ae);
        round_step(ae);
        return;
    }
    struct merkle *t = ae_tree(ae, r->part);
    /* the children of nodes[node_pos - asked .. node_pos) */
    size_t base = r->node_pos - asked;
    for (size_t i = 0; i < asked; i++) {
        for (uint32_t c = 0; c < 2; c++) {
            uint32_t idx = 2 * r->nodes[base + i] + c;
            uint64_t theirs = value_u64(&v->elem[2 * i + c]);
            if (theirs != merkle_node(t, r->level + 1, idx) &&
                theirs != r->sent_hash[2 * i + c])
                r->next[r->nnext++] = idx;
        }
    }
    if (r->node_pos == r->nnodes) {
        uint32_t *tmp = r->nodes;
        r->nodes = r->next;
        r->next = tmp;
        r->nnodes = r->nnext;
        r->nnext = 0;
        r->node_pos = 0;
        r->level++;
        if (r->nnodes == 0)     /* it changed meanwhile: equal now */
            round_next_peer(ae);
        else if (r->level == merkle_depth(t)) {
            r->phase = PH_KEYS;
            r->leaf_pos = 0;
        }
    }
    round_step(ae);
}

/* Our (key, digest, reapable) entries of a set of leaves. */
struct ae_local {
    struct ae_keys keys;
    uint64_t *digest;
    unsigned char *flags;
    size_t cap;
};

static int local_add(void *ctx, const void *key, size_t klen,
                     uint64_t digest, unsigned flags)
{
    struct ae_local *l = ctx;
    keys_add(&l->keys, key, klen);
    if (l->keys.n > l->cap) {
        l->cap = l->keys.cap;
        l->digest = dyn_realloc(l->digest, l->cap * sizeof(uint64_t));
        l->flags = dyn_realloc(l->flags, l->cap);
    }
    l->digest[l->keys.n - 1] = digest;
    l->flags[l->keys.n - 1] = (unsigned char)flags;
    return 0;
}

static void on_keys(void *ctx, int err, const struct peer_value *v)
{
    struct ae_req *q = ctx;
    size_t from = (size_t)q->vi;
    struct antientropy *ae = round_reply(q, v);
    if (!ae)
        return;
    struct ae_round *r = &ae->r;
    struct node *n = ae->node;
    if (!reply_is_array(err, v) || v->n % 3 != 0) {
        round_peer_failed(ae);
        round_step(ae);
        return;
    }
    struct merkle *t = ae_tree(ae, r->part);
    uint32_t L = merkle_leaves(t);
    uint64_t *mask = dyn_calloc((L + 63) / 64, sizeof(uint64_t));
    for (size_t i = from; i < r->leaf_pos; i++)
        mask[r->nodes[i] / 64] |= 1ull << (r->nodes[i] % 64);
    struct ae_local loc;
    memset(&loc, 0, sizeof(loc));
    store_iter_leaves(n->store, r->part, mask, local_add, &loc);
    dyn_free(mask);

    uint64_t now = cluster_now_ms(n);
    size_t nl = loc.keys.n, nr = v->n / 3;
    struct aediff_entry *ls = dyn_malloc(sizeof(*ls) * (nl ? nl : 1));
    struct aediff_entry *rs = dyn_malloc(sizeof(*rs) * (nr ? nr : 1));
    for (size_t i = 0; i < nl; i++) {
        ls[i].key = loc.keys.v[i].k;
        ls[i].len = loc.keys.v[i].len;
        ls[i].digest = loc.digest[i];
        ls[i].reapable = 0;
        if (loc.flags[i] & STORE_F_DELETED)
            ls[i].reapable = ae_reapable(
                n, r->part, store_get(n->store, ls[i].key, ls[i].len), now);
    }
    size_t nrv = 0;
    for (size_t i = 0; i < nr; i++) {
        const struct peer_value *e = &v->elem[3 * i];
        if (e[0].type != PEER_V_STRING)
            continue;
        rs[nrv].key = e[0].str;
        rs[nrv].len = e[0].len;
        rs[nrv].digest = value_u64(&e[1]);
        rs[nrv].reapable = value_u64(&e[2]) != 0;
        nrv++;
    }
    ae->keys_compared += nl + nrv;
    struct aediff_result d;
    aediff_keys(ls, nl, rs, nrv, &d);
    /* the keys are copied (keys_add): ls and rs point into loc and v,
     * which do not outlive this reply */
    keys_add_cold(ae, &r->pull, d.pull, d.npull);
    keys_add_cold(ae, &r->push, d.push, d.npush);
    ae->reapable_skipped += d.reapable_skipped;
    aediff_result_free(&d);
    dyn_free(ls);
    dyn_free(rs);
    keys_free(&loc.keys);
    dyn_free(loc.digest);
    dyn_free(loc.flags);
    r->phase = PH_GET;
    r->pull_pos = r->push_pos = 0;
    round_step(ae);
}

static void on_get(void *ctx, int err, const struct peer_value *v)
{
    struct ae_req *q = ctx;
    size_t asked = (size_t)q->vi;
    struct antientropy *ae = round_reply(q, v);
    if (!ae)
        return;
    struct ae_round *r = &ae->r;
    if (!reply_is_array(err, v) || v->n != asked) {
        round_peer_failed(ae);
        round_step(ae);
        return;
    }
    size_t base = r->pull_pos - asked;
    for (size_t i = 0; i < asked; i++) {
        const struct peer_value *e = &v->elem[i];
        if (e->type != PEER_V_STRING)
            continue;               /* gone there meanwhile */
        const struct ae_key *k = &r->pull.v[base + i];
        int rc = db_merge_bytes(ae->node, k->k, k->len, e->str, e->len);
        if (rc == 1) {
            ae->keys_repaired++;
            r->res.keys_repaired++;
            struct evlog_entry *ev = evlog_add(&ae->node->events,
                                               node_wall_ms(ae->node),
                                               EV_AE_REPAIR);
            evlog_field_bytes(ev, "key", k->k, k->len);
            evlog_field(ev, "partition", "%u", r->part);
            evlog_field(ev, "direction", "pulled");
        }
    }
    round_step(ae);
}

static void on_put(void *ctx, int err, const struct peer_value *v)
{
    struct antientropy *ae = round_reply(ctx, v);
    if (!ae)
        return;
    struct ae_round *r = &ae->r;
    if (err != 0 || !v || v->type != PEER_V_INT) {
        round_peer_failed(ae);
        round_step(ae);
        return;
    }
    ae->keys_repaired += (uint64_t)DYN_MAX(v->integer, 0);
    r->res.keys_repaired += (uint64_t)DYN_MAX(v->integer, 0);
    if (v->integer > 0) {
        struct evlog_entry *e = evlog_add(&ae->node->events,
                                          node_wall_ms(ae->node),
                                          EV_AE_REPAIR);
        evlog_field(e, "keys", "%lld", v->integer);
        evlog_field(e, "partition", "%u", r->part);
        evlog_field(e, "direction", "pushed");
    }
    round_step(ae);
}

/* Sends the round's next request, or finishes; from the tick or a reply. */
static void round_step(struct antientropy *ae)
{
    struct ae_round *r = &ae->r;
    struct node *n = ae->node;
    while (r->active && !r->waiting) {
        if (r->pi >= r->npeers) {
            round_partition_done(ae);
            continue;
        }
        int m = r->peers[r->pi];
        if (r->phase == PH_ROOT && round_timed_out(r, m)) {
            round_peer_failed(ae);      /* missed a deadline in this run */
            continue;
        }
        if (n->cfg.anti_entropy_max_bps > 0 && ae->tokens <= 0)
            return;     /* the tick refills and calls again */
        struct ae_argv a;
        argv_init(&a);
        struct ae_req *q = req_new(ae);
        peer_reply_fn *fn = NULL;
        struct merkle *t = ae_tree(ae, r->part);

        switch (r->phase) {
        case PH_ROOT:
            argv_add(&a, "AE.ROOT", 7);
            argv_addf(&a, r->part);
            r->root_sent = merkle_root(t);
            fn = on_root;
            break;
        case PH_TREE: {
            size_t k = DYN_MIN(r->nnodes - r->node_pos, AE_TREE_BATCH / 2);
            argv_add(&a, "AE.TREE", 7);
            argv_addf(&a, r->part);
            argv_addf(&a, r->level + 1);
            if (!r->sent_hash)
                r->sent_hash = dyn_malloc(sizeof(uint64_t) * AE_TREE_BATCH);
            for (size_t i = 0; i < k; i++) {
                uint32_t idx = r->nodes[r->node_pos + i];
                argv_addf(&a, 2ull * idx);
                argv_addf(&a, 2ull * idx + 1);
                r->sent_hash[2 * i] = merkle_node(t, r->level + 1, 2 * idx);
                r->sent_hash[2 * i + 1] = merkle_node(t, r->level + 1,
                                                      2 * idx + 1);
            }
            if (r->nnext == 0)
                r->next = dyn_realloc(r->next, sizeof(uint32_t) *
                                                   (2 * r->nnodes + 1));
            r->node_pos += k;
            q->vi = (int)k;
            fn = on_tree;
            break;
        }
        case PH_KEYS: {
            if (r->leaf_pos >= r->nnodes) {
                round_next_peer(ae);
                req_free(q);
                argv_free(&a);
                continue;
            }
            size_t k = DYN_MIN(r->nnodes - r->leaf_pos, AE_LEAF_BATCH);
            argv_add(&a, "AE.KEYS", 7);
            argv_addf(&a, r->part);
            q->vi = (int)r->leaf_pos;
            for (size_t i = 0; i < k; i++)
                argv_addf(&a, r->nodes[r->leaf_pos + i]);
            r->leaf_pos += k;
            ae->leaves_listed += k;
            fn = on_keys;
            break;
        }
        case PH_GET: {
            if (r->pull_pos >= r->pull.n) {
                r->phase = PH_PUT;
                req_free(q);
                argv_free(&a);
                continue;
            }
            size_t k = DYN_MIN(r->pull.n - r->pull_pos, AE_KEY_BATCH);
            argv_add(&a, "AE.GET", 6);
            argv_addf(&a, r->part);
            for (size_t i = 0; i < k; i++)
                argv_add(&a, r->pull.v[r->pull_pos + i].k,
                         r->pull.v[r->pull_pos + i].len);
            r->pull_pos += k;
            q->vi = (int)k;
            fn = on_get;
            break;
        }
        case PH_PUT: {
            argv_add(&a, "AE.PUT", 6);
            argv_addf(&a, r->part);
            size_t bytes = 0;
            while (r->push_pos < r->push.n && a.n < 2 + 2 * AE_KEY_BATCH &&
                   bytes < AE_BATCH_BYTES) {
                const struct ae_key *k = &r->push.v[r->push_pos++];
                const struct object *o = store_get(n->store, k->k, k->len);
                if (!o)
                    continue;   /* gone meanwhile */
                argv_add(&a, k->k, k->len);
                argv_add(&a, object_bytes(o), object_size(o));
                bytes += k->len + object_size(o);
            }
            if (a.n == 2) {     /* nothing (left) to push */
                req_free(q);
                argv_free(&a);
                keys_reset(&r->pull);
                keys_reset(&r->push);
                r->pull_pos = r->push_pos = 0;
                r->phase = PH_KEYS;     /* next batch of leaves */
                continue;
            }
            fn = on_put;
            break;
        }
        default:
            dyn_assert(0);
        }
        (void)t;
        r->waiting = 1;
        if (ae_send_argv(ae, m, &a, fn, q) != 0) {
            r->waiting = 0;
            round_peer_failed(ae);
        } else {
            r->out = q;
            r->out_deadline = cluster_now_ms(n) +
                              (uint64_t)n->cfg.request_timeout_ms;
        }
    }
}

/* ---- the root sweep ------------------------------------------------------ */

/* The sweep is over: every peer answered, or the deadline passed. */
static void sweep_end(struct antientropy *ae)
{
    ae->sw.active = 0;
    ae->sweeps++;
    if (ae->sw.answered > 0)
        ae->lost = 0;
}

static void on_roots(void *ctx, int err, const struct peer_value *v)
{
    struct ae_req *q = ctx;
    struct antientropy *ae = q->ae;
    int stale = q->stale;
    uint32_t *parts = q->parts;
    size_t np = q->nparts;
    q->parts = NULL;
    req_free(q);
    if (!ae) {
        dyn_free(parts);
        return;
    }
    size_t b = value_bytes(v);
    ae->bytes_received += b;
    ae->tokens -= (double)b;
    if (stale) {                /* the sweep gave up on it */
        ae->late_answers++;
        dyn_free(parts);
        return;
    }
    struct ae_sweep *sw = &ae->sw;
    sw->pending--;
    if (!reply_is_array(err, v) || v->n != np + 1 ||
        value_u64(&v->elem[0]) != store_merkle_leaves(ae->node->store)) {
        ae->sweep_peers_failed++;
    } else {
        sw->answered++;
        for (size_t i = 0; i < np; i++) {
            uint32_t p = parts[i];
            uint64_t theirs = value_u64(&v->elem[1 + i]);
            ae->sweep_roots_compared++;
            /* equal to ours now or as of the ask: in sync (see "Writes in
             * flight" above) */
            if (theirs != merkle_root(ae_tree(ae, p)) &&
                theirs != ae->sent_root[p] &&
                !(ae->r.active && ae->r.part == p)) /* being exchanged */
                dirty_mark(ae, p);
            else if (ae->recovering && theirs == merkle_root(ae_tree(ae, p)))
                ae->recovering[p] = 0;      /* equal to a peer's now */
        }
    }
    dyn_free(parts);
    if (sw->pending == 0)
        sweep_end(ae);
}

/* Asks every peer for the roots of all the partitions it shares with this
 * node, one AE.ROOTS per peer, all at once; the answers queue the
 * partitions whose roots differ (dirty_mark).  A peer that cannot be asked
 * (not linked) is counted and left to the next sweep. */
static void sweep_begin(struct antientropy *ae)
{
    struct node *n = ae->node;
    const struct membership *mb = cluster_membership(n);
    if (!mb || mb->n == 0)
        return;
    size_t nm = mb->n;
    int self = cluster_self(n);
    struct ae_argv *a = dyn_calloc(nm, sizeof(*a));
    uint32_t **parts = dyn_calloc(nm, sizeof(*parts));
    size_t *np = dyn_calloc(nm, sizeof(*np));
    for (uint32_t p = 0; p < ae->nparts; p++) {
        uint16_t reps[AE_MAX_REPLICAS];
        uint32_t k = cluster_replicas(n, p, reps, AE_MAX_REPLICAS);
        int mine = 0;
        for (uint32_t i = 0; i < k; i++)
            mine |= reps[i] == self;
        if (!mine)
            continue;
        ae->sent_root[p] = merkle_root(ae_tree(ae, p));
        for (uint32_t i = 0; i < k; i++) {
            size_t m = reps[i];
            if ((int)m == self || m >= nm)
                continue;
            if (!parts[m]) {
                parts[m] = dyn_malloc(sizeof(uint32_t) * ae->nparts);
                argv_init(&a[m]);
                argv_add(&a[m], "AE.ROOTS", 8);
            }
            argv_addf(&a[m], p);
            parts[m][np[m]++] = p;
        }
    }
    memset(&ae->sw, 0, sizeof(ae->sw));
    ae->sw.deadline = cluster_now_ms(n) + (uint64_t)n->cfg.request_timeout_ms;
    for (size_t m = 0; m < nm; m++) {
        if (!parts[m])
            continue;
        struct ae_req *q = req_new(ae);
        q->sweep = 1;
        q->parts = parts[m];        /* the request owns it now */
        q->nparts = np[m];
        if (ae_send_argv(ae, (int)m, &a[m], on_roots, q) == 0)
            ae->sw.pending++;
        else
            ae->sweep_peers_failed++;
    }
    ae->sw.active = ae->sw.pending > 0;
    dyn_free(a);
    dyn_free(parts);
    dyn_free(np);
}

/* The sweep's deadline passed: the silent peers' answers are dropped when
 * they come, and the sweep ends with what it has. */
static void sweep_expire(struct antientropy *ae, uint64_t now)
{
    if (!ae->sw.active || now < ae->sw.deadline)
        return;
    for (struct ae_req *q = ae->reqs; q; q = q->next)
        if (q->sweep && !q->stale) {
            q->stale = 1;
            ae->timeouts++;
            ae->sweep_peers_failed++;
        }
    sweep_end(ae);
}

/* Starts a sweep when one is due: every anti-entropy-sweep-interval-ms
 * (the first one jittered), none while one is out or while partitions of
 * the last one wait for their exchange; a node that started empty sweeps
 * at once, and again every AE_LOST_RETRY_MS until a peer answered. */
static void sweep_tick(struct antientropy *ae, uint64_t now_ms)
{
    struct node *n = ae->node;
    int sv = n->cfg.anti_entropy_sweep_ms;
    if (sv <= 0 || n->cfg.anti_entropy_interval_ms <= 0 || ae->sw.active ||
        ae->ndirty > 0)
        return;
    /* the trees are warmed first (one partition a tick), unless the
     * store is empty and they cost nothing */
    if (ae->warm < ae->nparts && !ae->lost)
        return;
    if (ae->next_sweep_ms == 0)
        ae->next_sweep_ms = ae->lost ? now_ms
                                     : now_ms + node_random(n) % (uint64_t)sv;
    if (ae->next_sweep_ms > now_ms + (uint64_t)sv)
        ae->next_sweep_ms = now_ms + (uint64_t)sv; /* CONFIG SET shortened */
    if (now_ms < ae->next_sweep_ms)
        return;
    if (n->cfg.anti_entropy_max_bps > 0 && ae->tokens <= 0)
        return;
    sweep_begin(ae);
    ae->next_sweep_ms = now_ms + (uint64_t)(ae->lost
                                            ? DYN_MIN(sv, AE_LOST_RETRY_MS)
                                            : sv);
}

/* ---- DYNAMO.MERKLE views ------------------------------------------------- */

static void view_on_reply(void *ctx, int err, const struct peer_value *v)
{
    struct ae_req *q = ctx;
    struct ae_view_state *vs = q->view;
    int vi = q->vi;
    int stale = q->stale;
    struct antientropy *ae = q->ae;
    req_free(q);
    if (!ae)
        return;     /* the instance freed the view already */
    ae->bytes_received += value_bytes(v);
    if (stale) {    /* the view answered without it, and is gone */
        ae->late_answers++;
        return;
    }
    vs->pending--;
    if (!reply_is_array(err, v) || v->n < 4 + (size_t)vs->v.leaves)
        return;
    if (value_u64(&v->elem[0]) != vs->v.leaves)
        return;
    vs->v.rep[vi].ok = 1;
    vs->v.rep[vi].root = value_u64(&v->elem[1]);
    vs->v.rep[vi].keys = (long long)value_u64(&v->elem[3]);
    vs->leaves[vi] = dyn_malloc(sizeof(uint64_t) * vs->v.leaves);
    for (uint32_t i = 0; i < vs->v.leaves; i++)
        vs->leaves[vi][i] = value_u64(&v->elem[4 + i]);
}

int antientropy_view(struct antientropy *ae, uint32_t part,
                     antientropy_view_fn *fn, void *ctx)
{
    struct node *n = ae->node;
    if (part >= ae->nparts)
        return DYN_EINVAL;
    struct ae_view_state *vs = dyn_calloc(1, sizeof(*vs));
    vs->fn = fn;
    vs->ctx = ctx;
    vs->v.partition = part;
    vs->deadline = cluster_now_ms(n) + (uint64_t)n->cfg.request_timeout_ms;
    struct merkle *t = ae_tree(ae, part);
    vs->v.leaves = merkle_leaves(t);
    uint16_t reps[AE_MAX_REPLICAS];
    uint32_t k = cluster_replicas(n, part, reps, AE_MAX_REPLICAS);
    const struct membership *mb = cluster_membership(n);
    int self = cluster_self(n);
    vs->v.nreplicas = k;
    for (uint32_t i = 0; i < k; i++) {
        snprintf(vs->v.rep[i].name, sizeof(vs->v.rep[i].name), "%s",
                 mb->m[reps[i]].name);
        if (reps[i] == self) {
            vs->v.rep[i].ok = 1;
            vs->v.rep[i].root = merkle_root(t);
            vs->v.rep[i].keys = (long long)store_partition_count(n->store,
                                                                 part);
            vs->leaves[i] = dyn_malloc(sizeof(uint64_t) * vs->v.leaves);
            unsigned d = merkle_depth(t);
            for (uint32_t l = 0; l < vs->v.leaves; l++)
                vs->leaves[i][l] = merkle_node(t, d, l);
            continue;
        }
        struct ae_argv a;
        argv_init(&a);
        argv_add(&a, "AE.ROOT", 7);
        argv_addf(&a, part);
        argv_add(&a, "LEAVES", 6);
        struct ae_req *q = req_new(ae);
        q->view = vs;
        q->vi = (int)i;
        if (ae_send_argv(ae, reps[i], &a, view_on_reply, q) == 0)
            vs->pending++;
    }
    vs->next = ae->views;
    ae->views = vs;
    return 0;
}

static void view_finish(struct ae_view_state *vs, int aborted)
{
    struct antientropy_view *v = &vs->v;
    v->aborted = aborted;
    /* differing leaves: against the first replica that answered */
    int base = -1;
    for (uint32_t i = 0; i < v->nreplicas && base < 0; i++)
        if (vs->leaves[i])
            base = (int)i;
    v->diff = dyn_malloc(sizeof(uint32_t) * (v->leaves ? v->leaves : 1));
    v->ndiff = 0;
    for (uint32_t l = 0; base >= 0 && l < v->leaves; l++) {
        int differs = 0;
        for (uint32_t i = 0; i < v->nreplicas; i++)
            if (vs->leaves[i] && vs->leaves[i][l] != vs->leaves[base][l])
                differs = 1;
        if (differs)
            v->diff[v->ndiff++] = l;
    }
    vs->fn(vs->ctx, v);
    dyn_free(v->diff);
    for (uint32_t i = 0; i < AE_MAX_REPLICAS; i++)
        dyn_free(vs->leaves[i]);
    dyn_free(vs);
}

/* Finishes the views whose replicas all answered or whose deadline
 * passed; a replica still silent then is shown as not answering, and its
 * request is marked stale so that its late answer touches nothing. */
static void views_poll(struct antientropy *ae, uint64_t now)
{
    struct ae_view_state **pp = &ae->views;
    while (*pp) {
        struct ae_view_state *vs = *pp;
        if (vs->pending > 0 && now < vs->deadline) {
            pp = &vs->next;
            continue;
        }
        *pp = vs->next;
        if (vs->pending > 0)
            for (struct ae_req *q = ae->reqs; q; q = q->next)
                if (q->view == vs) {
                    q->view = NULL;
                    q->stale = 1;
                    ae->timeouts++;
                }
        view_finish(vs, 0);
    }
}

/* The round's request missed request-timeout-ms: its peer is skipped for
 * the rest of the run and the round goes on without waiting for it. */
static void round_expire(struct antientropy *ae, uint64_t now)
{
    struct ae_round *r = &ae->r;
    if (!r->active || !r->waiting || !r->out || now < r->out_deadline)
        return;
    r->out->stale = 1;
    r->out = NULL;
    r->waiting = 0;
    ae->timeouts++;
    round_note_unanswered(r, r->peers[r->pi], 1);
    round_peer_failed(ae);
    round_step(ae);
}

/* The oldest queued DYNAMO.AE request (nqueued > 0). */
static struct ae_queued queue_pop(struct antientropy *ae)
{
    struct ae_queued qd = ae->queue[0];
    memmove(ae->queue, ae->queue + 1,
            (ae->nqueued - 1) * sizeof(ae->queue[0]));
    ae->nqueued--;
    return qd;
}

/* DYNAMO.KILL: the node behaves as crashed, so a run in progress and the
 * queued DYNAMO.AE requests end now (their clients get an answer) instead
 * of waiting for DYNAMO.REVIVE. */
static void ae_killed(struct antientropy *ae)
{
    struct ae_round *r = &ae->r;
    if (r->active) {
        if (r->out)
            r->out->stale = 1;
        r->out = NULL;
        r->waiting = 0;
        r->killed = 1;
        round_end(ae);
    }
    while (ae->nqueued > 0) {
        struct ae_queued qd = queue_pop(ae);
        struct antientropy_result res;
        memset(&res, 0, sizeof(res));
        res.killed = 1;
        qd.w.fn(qd.w.ctx, &res);
    }
}

/* ---- public ------------------------------------------------------------- */

struct antientropy *antientropy_new(struct node *n)
{
    struct antientropy *ae = dyn_calloc(1, sizeof(*ae));
    ae->node = n;
    ae->nparts = store_partitions(n->store);
    uint32_t leaves = (uint32_t)n->cfg.merkle_leaves;
    if (leaves == 0 || (leaves & (leaves - 1)) != 0)
        leaves = 1024;
    store_merkle_enable(n->store, leaves);
    store_set_agent(n->store, ae);
    ae->cursor = (uint32_t)(node_random(n) % ae->nparts);
    ae->sent_root = dyn_calloc(ae->nparts, sizeof(uint64_t));
    ae->dirty = dyn_calloc(ae->nparts, 1);
    /* each node works through its queue from its own random point, so
     * the replicas that all found a wiped peer's partitions different
     * mostly refill different partitions (the first to get there makes
     * the roots equal, and the others' rounds stop at AE.ROOT) */
    ae->dirty_cursor = (uint32_t)(node_random(n) % ae->nparts);
    return ae;
}

int antientropy_recovering(const struct antientropy *ae, uint32_t part)
{
    return ae && ae->recovering && part < ae->nparts &&
           ae->recovering[part];
}

void antientropy_free(struct antientropy *ae)
{
    if (!ae)
        return;
    dyn_free(ae->recovering);
    for (struct ae_req *q = ae->reqs; q; q = q->next)
        q->ae = NULL;
    ae->reqs = NULL;
    while (ae->views) {
        struct ae_view_state *vs = ae->views;
        ae->views = vs->next;
        view_finish(vs, 1);
    }
    struct ae_round *r = &ae->r;
    if (r->active && r->w.fn) {
        r->res.aborted = 1;
        r->w.fn(r->w.ctx, &r->res);
    }
    for (size_t i = 0; i < ae->nqueued; i++) {
        struct antientropy_result res;
        memset(&res, 0, sizeof(res));
        res.aborted = 1;
        ae->queue[i].w.fn(ae->queue[i].w.ctx, &res);
    }
    keys_free(&r->pull);
    keys_free(&r->push);
    dyn_free(r->nodes);
    dyn_free(r->next);
    dyn_free(r->sent_hash);
    dyn_free(ae->sent_root);
    dyn_free(ae->dirty);
    if (store_agent(ae->node->store) == ae)
        store_set_agent(ae->node->store, NULL);
    dyn_free(ae);
}

struct antientropy *antientropy_of(struct node *n)
{
    return n->cluster && n->store ? store_agent(n->store) : NULL;
}

int antientropy_start(struct antientropy *ae, int64_t part,
                      antientropy_done_fn *fn, void *ctx)
{
    if (part >= (int64_t)ae->nparts || part < ANTIENTROPY_ALL)
        return DYN_EINVAL;
    if (ae->nqueued == AE_MAX_QUEUED)
        return DYN_ELIMIT;
    ae->queue[ae->nqueued].part = part;
    ae->queue[ae->nqueued].w.fn = fn;
    ae->queue[ae->nqueued].w.ctx = ctx;
    ae->nqueued++;
    return 0;
}

void antientropy_tick(struct antientropy *ae, uint64_t now_ms)
{
    struct node *n = ae->node;
    long long bps = n->cfg.anti_entropy_max_bps;
    if (ae->last_tick_ms && now_ms > ae->last_tick_ms && bps > 0) {
        ae->tokens += (double)bps * (double)(now_ms - ae->last_tick_ms) /
                      1000.0;
        if (ae->tokens > (double)bps)
            ae->tokens = (double)bps;
    } else if (!ae->last_tick_ms) {
        ae->tokens = (double)DYN_MAX(bps, 0);
    }
    ae->last_tick_ms = now_ms;
    uint64_t now = cluster_now_ms(n);   /* the clock deadlines were set by */
    views_poll(ae, now);
    round_expire(ae, now);
    sweep_expire(ae, now);
    if (cluster_is_killed(n)) {
        ae_killed(ae);
        return;
    }
    if (!ae->started) {     /* the store is loaded by the first tick */
        ae->started = 1;
        ae->lost = store_count(n->store) == 0;
        if (ae->lost)
            ae->recovering = memset(dyn_malloc(ae->nparts), 1, ae->nparts);
    }
    sweep_tick(ae, now_ms);

    if (ae->r.active) {
        round_step(ae);
        return;
    }
    if (ae->nqueued > 0) {
        struct ae_queued qd = queue_pop(ae);
        round_start(ae, qd.part, qd.w, now_ms);
        round_step(ae);
        return;
    }
    if (ae->ndirty > 0) {   /* what the last sweep found, back to back */
        int64_t p = dirty_pop(ae);
        if (p >= 0) {
            struct ae_waiter w = { NULL, NULL };
            round_start(ae, p, w, now_ms);
            round_step(ae);
            return;
        }
    }
    int iv = n->cfg.anti_entropy_interval_ms;
    if (iv <= 0)
        return;
    /* after a start, the trees of the partitions this node replicates are
     * rebuilt from the store, one partition a tick, ahead of the first
     * exchanges */
    if (ae->warm < ae->nparts) {
        uint32_t p = ae->warm++;
        if (cluster_replicates(n, p))
            store_merkle(n->store, p);
    }
    if (ae->next_ms == 0)   /* first interval after start: jittered */
        ae->next_ms = now_ms + node_random(n) % (uint64_t)iv;
    if (ae->next_ms > now_ms + (uint64_t)iv)
        ae->next_ms = now_ms + (uint64_t)iv; /* CONFIG SET shortened it */
    if (now_ms < ae->next_ms)
        return;
    ae->next_ms = now_ms + (uint64_t)iv;
    struct ae_waiter w = { NULL, NULL };
    round_start(ae, ANTIENTROPY_NEXT, w, now_ms);
    round_step(ae);
}

void antientropy_info(struct antientropy *ae, struct dbuf *out)
{
    dbuf_printf(out,
                "ae_exchanges:%llu\r\n"
                "ae_peer_exchanges:%llu\r\n"
                "ae_keys_repaired:%llu\r\n"
                "ae_bytes_sent:%llu\r\n"
                "ae_bytes_received:%llu\r\n"
                "ae_peers_failed:%llu\r\n"
                "ae_timeouts:%llu\r\n"
                "ae_late_answers:%llu\r\n"
                "ae_partitions_confirmed:%llu\r\n"
                "ae_reapable_skipped:%llu\r\n"
                "ae_hot_skipped:%llu\r\n"
                "ae_descents:%llu\r\n"
                "ae_leaves_listed:%llu\r\n"
                "ae_keys_compared:%llu\r\n"
                "ae_last_round_ms:%llu\r\n"
                "ae_running:%d\r\n"
                "ae_merkle_bytes:%zu\r\n"
                "ae_sweeps:%llu\r\n"
                "ae_sweep_roots_compared:%llu\r\n"
                "ae_sweep_partitions_differed:%llu\r\n"
                "ae_sweep_peers_failed:%llu\r\n"
                "ae_sweep_queued:%u\r\n"
                "ae_sweep_running:%d\r\n",
                (unsigned long long)ae->exchanges,
                (unsigned long long)ae->peer_exchanges,
                (unsigned long long)ae->keys_repaired,
                (unsigned long long)ae->bytes_sent,
                (unsigned long long)ae->bytes_received,
                (unsigned long long)ae->peers_failed,
                (unsigned long long)ae->timeouts,
                (unsigned long long)ae->late_answers,
                (unsigned long long)ae->confirmed,
                (unsigned long long)ae->reapable_skipped,
                (unsigned long long)ae->hot_skipped,
                (unsigned long long)ae->descents,
                (unsigned long long)ae->leaves_listed,
                (unsigned long long)ae->keys_compared,
                (unsigned long long)ae->last_round_ms, ae->r.active,
                store_merkle_bytes(ae->node->store),
                (unsigned long long)ae->sweeps,
                (unsigned long long)ae->sweep_roots_compared,
                (unsigned long long)ae->sweep_partitions_differed,
                (unsigned long long)ae->sweep_peers_failed, ae->ndirty,
                ae->sw.active);
}

/* ---- the peer side ------------------------------------------------------- */

/* Parses the partition argument; replies with an error and returns -1. */
/* The handlers' common start: at least min_argc arguments, argv[1] a
 * partition of this store, trees enabled.  0, or -1 with the error sent. */
static int peer_part(struct node *n, struct peer_call *call, int argc,
                     const struct dyn_arg *argv, int min_argc, uint32_t *part)
{
    uint64_t p;
    if (argc < min_argc) {
        peer_call_reply_error(call, "ERR arity");
        return -1;
    }
    if (ae_arg_u64(&argv[1], &p) != 0 || p >= store_partitions(n->store)) {
        peer_call_reply_error(call, "ERR bad partition");
        return -1;
    }
    if (!store_merkle_leaves(n->store)) {
        peer_call_reply_error(call, "ERR anti-entropy is not running");
        return -1;
    }
    *part = (uint32_t)p;
    return 0;
}

/* AE.ROOT part [LEAVES] -> [leaves, root, gen, keys, leaf hashes...] */
static void pc_root(void *ctx, struct peer_call *call, int argc,
                    const struct dyn_arg *argv)
{
    struct node *n = cluster_node_of(ctx);
    uint32_t part;
    if (peer_part(n, call, argc, argv, 2, &part))
        return;
    struct merkle *t = store_merkle(n->store, part);
    int with_leaves = argc > 2 && dyn_arg_is(argv[2].p, argv[2].len,
                                             "leaves");
    struct dbuf *b = peer_call_buf(call);
    uint32_t L = merkle_leaves(t);
    reply_array(b, 4 + (with_leaves ? L : 0));
    reply_int(b, L);
    reply_int(b, (long long)merkle_root(t));
    reply_int(b, (long long)store_generation(n->store));
    reply_int(b, (long long)store_partition_count(n->store, part));
    if (with_leaves) {
        unsigned d = merkle_depth(t);
        for (uint32_t l = 0; l < L; l++)
            reply_int(b, (long long)merkle_node(t, d, l));
    }
    peer_call_done(call);
}

/* AE.ROOTS part... -> [leaves, root...]: the root sweep's one request per
 * peer, answered from the trees in memory (a tree not built yet is built
 * from the store, as for AE.ROOT). */
static void pc_roots(void *ctx, struct peer_call *call, int argc,
                     const struct dyn_arg *argv)
{
    struct node *n = cluster_node_of(ctx);
    if (argc < 2) {
        peer_call_reply_error(call, "ERR arity");
        return;
    }
    if (!store_merkle_leaves(n->store)) {
        peer_call_reply_error(call, "ERR anti-entropy is not running");
        return;
    }
    for (int i = 1; i < argc; i++) {
        uint64_t p;
        if (ae_arg_u64(&argv[i], &p) != 0 ||
            p >= store_partitions(n->store)) {
            peer_call_reply_error(call, "ERR bad partition");
            return;
        }
    }
    struct dbuf *b = peer_call_buf(call);
    reply_array(b, argc);
    reply_int(b, store_merkle_leaves(n->store));
    for (int i = 1; i < argc; i++) {
        uint64_t p;
        ae_arg_u64(&argv[i], &p);
        reply_int(b, (long long)merkle_root(store_merkle(n->store,
                                                         (uint32_t)p)));
    }
    peer_call_done(call);
}

/* AE.TREE part level idx... -> [hash...] */
static void pc_tree(void *ctx, struct peer_call *call, int argc,
                    const struct dyn_arg *argv)
{
    struct node *n = cluster_node_of(ctx);
    uint32_t part;
    uint64_t level;
    if (peer_part(n, call, argc, argv, 3, &part))
        return;
    struct merkle *t = store_merkle(n->store, part);
    if (ae_arg_u64(&argv[2], &level) != 0 || level > merkle_depth(t)) {
        peer_call_reply_error(call, "ERR bad level");
        return;
    }
    for (int i = 3; i < argc; i++) {
        uint64_t idx;
        if (ae_arg_u64(&argv[i], &idx) != 0 || idx >= (1ull << level)) {
            peer_call_reply_error(call, "ERR bad node index");
            return;
        }
    }
    struct dbuf *b = peer_call_buf(call);
    reply_array(b, argc - 3);
    for (int i = 3; i < argc; i++) {
        uint64_t idx;
        ae_arg_u64(&argv[i], &idx);
        reply_int(b, (long long)merkle_node(t, (unsigned)level,
                                            (uint32_t)idx));
    }
    peer_call_done(call);
}

/* AE.KEYS part leaf... -> [key, digest, reapable]* */
static void pc_keys(void *ctx, struct peer_call *call, int argc,
                    const struct dyn_arg *argv)
{
    struct node *n = cluster_node_of(ctx);
    uint32_t part;
    if (peer_part(n, call, argc, argv, 2, &part))
        return;
    struct merkle *t = store_merkle(n->store, part);
    uint32_t L = merkle_leaves(t);
    uint64_t *mask = dyn_calloc((L + 63) / 64, sizeof(uint64_t));
    for (int i = 2; i < argc; i++) {
        uint64_t leaf;
        if (ae_arg_u64(&argv[i], &leaf) != 0 || leaf >= L) {
            dyn_free(mask);
            peer_call_reply_error(call, "ERR bad leaf");
            return;
        }
        mask[leaf / 64] |= 1ull << (leaf % 64);
    }
    struct ae_local loc;
    memset(&loc, 0, sizeof(loc));
    store_iter_leaves(n->store, part, mask, local_add, &loc);
    dyn_free(mask);
    uint64_t now = cluster_now_ms(n);
    struct dbuf *b = peer_call_buf(call);
    reply_array(b, (long long)(3 * loc.keys.n));
    for (size_t i = 0; i < loc.keys.n; i++) {
        const struct ae_key *k = &loc.keys.v[i];
        int reapable = 0;
        if (loc.flags[i] & STORE_F_DELETED)
            reapable = ae_reapable(n, part, store_get(n->store, k->k, k->len),
                                   now);
        reply_bulk(b, k->k, k->len);
        reply_int(b, (long long)loc.digest[i]);
        reply_int(b, reapable);
    }
    keys_free(&loc.keys);
    dyn_free(loc.digest);
    dyn_free(loc.flags);
    peer_call_done(call);
}

/* AE.GET part key... -> [object bytes or nil]* */
static void pc_get(void *ctx, struct peer_call *call, int argc,
                   const struct dyn_arg *argv)
{
    struct node *n = cluster_node_of(ctx);
    uint32_t part;
    if (peer_part(n, call, argc, argv, 2, &part))
        return;
    struct dbuf *b = peer_call_buf(call);
    reply_array(b, argc - 2);
    for (int i = 2; i < argc; i++) {
        const struct object *o = store_get(n->store, argv[i].p, argv[i].len);
        if (o)
            reply_bulk(b, object_bytes(o), object_size(o));
        else
            reply_null(b, 2);
    }
    peer_call_done(call);
}

/* AE.PUT part key obj ... -> :changed */
static void pc_put(void *ctx, struct peer_call *call, int argc,
                   const struct dyn_arg *argv)
{
    struct node *n = cluster_node_of(ctx);
    uint32_t part;
    if (argc % 2 != 0) {
        peer_call_reply_error(call, "ERR arity");
        return;
    }
    if (peer_part(n, call, argc, argv, 2, &part))
        return;
    long long changed = 0;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (store_partition_of(n->store, argv[i].p, argv[i].len) != part)
            continue;
        int rc = db_merge_bytes(n, argv[i].p, argv[i].len,
                                     argv[i + 1].p, argv[i + 1].len);
        if (rc == 1)
            changed++;
    }
    peer_call_reply_int(call, changed);
}

/* AE.CONFIRM part gen -> +OK: every replica held our content as of gen. */
static void pc_confirm(void *ctx, struct peer_call *call, int argc,
                       const struct dyn_arg *argv)
{
    struct node *n = cluster_node_of(ctx);
    uint32_t part;
    uint64_t gen;
    if (argc > 3) {
        peer_call_reply_error(call, "ERR arity");
        return;
    }
    if (peer_part(n, call, argc, argv, 3, &part))
        return;
    if (ae_arg_u64(&argv[2], &gen) != 0) {
        peer_call_reply_error(call, "ERR bad generation");
        return;
    }
    store_confirm_tombstones(n->store, part, gen);
    peer_call_reply_ok(call);
}

static const struct peer_command ae_peer_cmds[] = {
    { "AE.ROOT", pc_root, 0 },
    { "AE.ROOTS", pc_roots, 0 },
    { "AE.TREE", pc_tree, 0 },
    { "AE.KEYS", pc_keys, 0 },
    { "AE.GET", pc_get, 0 },
    { "AE.PUT", pc_put, 0 },
    { "AE.CONFIRM", pc_confirm, 0 },
};

const struct peer_command *antientropy_peer_commands(size_t *n)
{
    *n = DYN_ARRAY_LEN(ae_peer_cmds);
    return ae_peer_cmds;
}
