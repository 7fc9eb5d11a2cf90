/*
 * handoff.c -- hinted handoff: the stand-in side of a sloppy quorum.
 *
 * When a write cannot reach one of the key's top-N replicas (the owner),
 * some other node keeps a hint for it in the durable hint store
 * (cluster/hints.c: <dir>/hints, checksummed segments, replayed at start):
 *
 *   1. a stand-in: the coordinator chose a healthy node further down the
 *      preference list in place of a down owner and sent it
 *      R.HPUT key object owner...; the stand-in merges the object into
 *      its own store (so sloppy reads find it) and keeps a hint per owner;
 *   2. the coordinator itself stands in for an owner (it is the stand-in);
 *   3. an owner's write ack failed or timed out: the coordinator keeps the
 *      hint, so a write that reached W nodes still reaches all N.
 *
 * The hint's payload is the object the write carried, merged with this
 * node's local copy of the key when it has one: the local copy carries
 * every sibling an older hint for the same key had (the store keeps one
 * hint per owner and key, the newest).  A hint never depends on the local
 * copy alone: when an owner's ack fails late, a stand-in that coordinated
 * the write may have handed its copy off and dropped it meanwhile, and the
 * coordinator passes the object it replicated.
 *
 * Every hint this node should keep and cannot (over hint-max-bytes, an I/O
 * error of the hint store, no object to keep) is counted in INFO's
 * hints_lost and logged as a warning, at most one line per
 * HINT_LOST_LOG_US with a count of the failures the line stands for;
 * anti-entropy then repairs what the hint would have carried.  A budget
 * of 0 ("keep no hints") counts them but logs nothing: the operator asked.
 *
 * Delivery (handoff_tick, every 50 ms): for each owner with pending hints
 * that is UP and connected, and has no batch in flight, up to 256 hints go
 * out as one R.MPUT (the owner merges them by their clocks, the same
 * command as quorum writes).  Each acknowledged hint is deleted from the
 * store.  If this node is not itself a replica of the key (it was only a
 * stand-in) and its copy is still exactly the delivered object, the copy is
 * dropped too, so that once hints are delivered every key lives on exactly
 * its N replicas.  A newer write to the stand-in meanwhile has made a
 * newer hint, which keeps the copy until it is delivered in turn.
 *
 * Delivery sends an owner only the hints of keys it still replicates.
 * Re-targeting (retarget_tick): a hint whose owner no longer replicates
 * its key -- the owner left or was forgotten, or the ring gave the
 * partition to others -- would wait forever, and its stand-in copy with
 * it.  Once a second (at once after a ring change), a pass walks every
 * pending hint from memory, 256 per tick, and re-targets those: the object
 * is merged here if this node replicates the key, and becomes a hint for
 * each other replica of the key under the ring (and each gainer under a
 * pending ring); then the old hint is dropped.  Delivery carries the new
 * hints like any other, and a replica that had the object already merges
 * it as a no-op.  Ownership is judged only once gossip has confirmed this
 * node's ring (a ring loaded from disk may be stale), and a tombstoned
 * owner still in the ring (a forget under way) keeps its hints until the
 * ring moves on.  Counted in INFO hints_retargeted, one log line a pass.
 *
 * Orphans: a copy this node holds for a partition it does not replicate,
 * with no hint pending (the hint was dropped over the budget, or the ring
 * moved on), would stay forever.  Once a second, one such partition is
 * swept: up to 256 of its keys go to each of its N replicas (R.MPUT), and
 * once every replica has acknowledged them the copies that did not change
 * meanwhile are dropped.  A replica that is not reachable postpones it.
 *
 * Durability: a hint is written to the kernel (hints_flush) before the
 * write it belongs to is acknowledged, so it survives kill -9; with
 * appendfsync always it is fsynced first, with everysec once a second.
 * A hint over hint-max-bytes is dropped and counted; anti-entropy repairs
 * what it would have carried.
 *
 * Thread-safety: none; the event loop owns the store.
 */
#include <stdio.h>
#include <string.h>
#include "cluster/cluster_int.h"
#include "cluster/cluster.h"
#include "cluster/hints.h"
#include "cluster/object.h"
#include "server/config.h"
#include "server/db.h"
#include "server/log.h"
#include "server/node.h"
#include "server/reply.h"
#include "server/store.h"
#include "server/util.h"

/* This file's state (cl->ho). */
struct handoff {
    struct hints *hints;
    uint64_t last_hint_sync_ms;
    uint64_t last_deliver_ms;
    uint8_t *delivering;                /* per member: a batch in flight */
    uint32_t delivering_cap;
    uint64_t hints_delivered;
    uint64_t hints_redundant_dropped;   /* stand-in copies removed */
    uint64_t last_sweep_ms;
    uint32_t sweep_next;                /* next partition to look at */
    int sweeping;                       /* a sweep batch in flight */
    uint64_t orphans_handed_off;        /* copies sent to owners, dropped */
    uint64_t hints_lost;                /* hints that could not be kept */
    uint64_t lost_log_us;               /* monotonic time of the last
                                         * hints_lost log line */
    uint64_t lost_unlogged;             /* losses since that line */
    /* the re-targeting pass: where it is, and what it did */
    int rt_active;                      /* a pass is under way */
    int rt_now;                         /* start the next one at once */
    uint64_t rt_last_ms;                /* the end of the last pass */
    char rt_owner[HINTS_OWNER_MAX + 1]; /* the owner being walked */
    uint64_t rt_after;                  /* ...after this hint id */
    uint64_t rt_pass_count;             /* re-targeted in this pass */
    char rt_pass_owner[MEMBER_NAME_MAX];/* one owner of them, for the log */
    uint64_t hints_retargeted;
};

#define DELIVER_BATCH 256
#define DELIVER_EVERY_MS 50
#define HINT_LOST_LOG_US (10 * 1000 * 1000)

int handoff_init(struct cluster *cl, struct dbuf *err)
{
    struct node *n = cl->node;
    cl->ho = dyn_calloc(1, sizeof(*cl->ho));
    struct hints_opts o = {
        .dir = n->cfg.dir,
        .max_bytes = (uint64_t)n->cfg.hint_max_bytes,
        .segment_max_bytes = 0,
    };
    struct hints_recovery rec;
    memset(&rec, 0, sizeof(rec));
    int rc = hints_open(&o, &cl->ho->hints, &rec);
    if (rc != 0) {
        dbuf_printf(err, "cannot open the hint store in %s/hints (error "
                         "%d: is the directory writable?)", n->cfg.dir, rc);
        return rc;
    }
    if (rec.pending)
        dlog(DLOG_NOTICE, "hint store: %llu hints pending (%llu bytes) "
                          "after replay",
             (unsigned long long)rec.pending,
             (unsigned long long)rec.pending_bytes);
    return 0;
}

void handoff_free(struct cluster *cl)
{
    if (!cl->ho)
        return;
    if (cl->ho->hints) {
        if (cl->node->cfg.appendfsync != FSYNC_NO)
            hints_sync(cl->ho->hints);
        hints_close(cl->ho->hints);
    }
    dyn_free(cl->ho->delivering);
    dyn_free(cl->ho);
    cl->ho = NULL;
}

int handoff_holds(struct cluster *cl, const void *key, size_t klen)
{
    return cl->ho && cl->ho->hints &&
           hints_has_key(cl->ho->hints, key, (uint32_t)klen);
}

/* The write a hint belongs to is acknowledged only after this. */
static void make_durable(struct cluster *cl)
{
    if (cl->node->cfg.appendfsync == FSYNC_ALWAYS)
        hints_sync(cl->ho->hints);
    else
        hints_flush(cl->ho->hints);
}

/* A hint for owner that could not be kept (why): counted, and logged at
 * most once per HINT_LOST_LOG_US. */
static void hint_lost(struct cluster *cl, const char *owner, const char *why)
{
    struct handoff *ho = cl->ho;
    ho->hints_lost++;
    if (cl->node->cfg.hint_max_bytes == 0)
        return; /* hint-max-bytes 0: keeping none is what was asked */
    uint64_t now = node_mono_us(cl->node);
    if (ho->lost_log_us && now - ho->lost_log_us < HINT_LOST_LOG_US) {
        ho->lost_unlogged++;
        return;
    }
    if (ho->lost_unlogged)
        dlog(DLOG_WARNING, "Hint for %s not kept (%s): anti-entropy must "
                           "repair it; %llu more hints lost since the "
                           "previous line, %llu in all (INFO hints_lost)",
             owner, why, (unsigned long long)ho->lost_unlogged,
             (unsigned long long)ho->hints_lost);
    else
        dlog(DLOG_WARNING, "Hint for %s not kept (%s): anti-entropy must "
                           "repair it; %llu in all (INFO hints_lost)",
             owner, why, (unsigned long long)ho->hints_lost);
    ho->lost_log_us = now;
    ho->lost_unlogged = 0;
}

/* Keeps a hint of key for owner: written (borrowed; the object a write
 * carried, or NULL) merged with the local copy, or whichever exists.
 * Counts and logs a failure; 0 if kept. */
static int add_hint(struct cluster *cl, const char *owner, const char *key,
                    size_t klen, const struct object *written, int own)
{
    const struct object *local = store_get(cl->node->store, key, klen);
    struct object *merged = NULL;
    const struct object *o = local ? local : written;
    /* own: written is a version this node's coordinator stored; the local
     * copy grew from it by writes and merges, so it holds it already (a
     * merge of a large typed value costs two decodes, a join and an
     * encode: under a stream of failing writes to one key that merge
     * kept the node's loop busy past the failure detector's timeout) */
    if (own && local && written &&
        object_actor_counter(local, cl->node->actor) <
            object_actor_counter(written, cl->node->actor))
        own = 0; /* not the copy that write grew into (dropped meanwhile
                  * and written again): merge */
    if (local && written && !own) {
        int changed = 0;
        merged = object_merge(local, written, &changed);
        if (changed)
            o = merged;
    }
    int rc;
    if (!o) {
        rc = DYN_ENOTFOUND;
        hint_lost(cl, owner, "no object to keep");
    } else if (!cl->ho->hints) {
        rc = DYN_EIO;
        hint_lost(cl, owner, "no hint store");
    } else {
        rc = hints_add(cl->ho->hints, owner, key, (uint32_t)klen,
                       object_bytes(o), (uint32_t)object_size(o));
        if (rc == 0) {
            struct evlog_entry *e = cl_event(cl, EV_HINT_STORED);
            evlog_field_bytes(e, "key", key, klen);
            evlog_field(e, "owner", "%s", owner);
        }
        if (rc != 0)
            hint_lost(cl, owner, rc == DYN_ELIMIT ? "hint-max-bytes reached"
                                 : rc == DYN_EIO ? "the hint store cannot "
                                                   "write"
                                                 : "bad owner name");
    }
    object_free(merged);
    return rc;
}

void handoff_hint(struct cluster *cl, uint16_t owner, const char *key,
                  size_t klen, const struct object *written)
{
    if (owner >= cl->mb.n || owner == cl->mb.self)
        return;
    if (add_hint(cl, cl->mb.m[owner].name, key, klen, written, 1) == 0)
        make_durable(cl);
}

/* R.HPUT key object owner...: a write taken for down owners.  Merged into
 * the local store, then one hint per owner; the ack means both are
 * durable as the fsync policy says. */
static void h_hput(void *ctx, struct peer_call *call, int argc,
                   const struct dyn_arg *argv)
{
    struct cluster *cl = ctx;
    struct object *o = NULL;
    if (argc < 4 ||
        db_parse_object(cl->node, argv[2].p, argv[2].len, &o) != 0) {
        peer_call_reply_error(call, "ERR R.HPUT key object owner...");
        return;
    }
    /* o stays ours: the hints below keep it whatever the store does */
    if (db_merge_object(cl->node, argv[1].p, argv[1].len, o, NULL) < 0) {
        object_free(o);
        peer_call_reply_error(call, "ERR the stand-in could not store the "
                                    "write");
        return;
    }
    for (int i = 3; i < argc; i++) {
        char owner[MEMBER_NAME_MAX];
        if (argv[i].len >= sizeof(owner))
            continue;
        memcpy(owner, argv[i].p, argv[i].len);
        owner[argv[i].len] = 0;
        if (strcmp(owner, cl->mb.m[cl->mb.self].name) == 0)
            continue; /* we own it after all: the merge was the write */
        add_hint(cl, owner, argv[1].p, argv[1].len, o, 0);
    }
    object_free(o);
    make_durable(cl);
    peer_call_reply_ok(call);
}

const struct peer_command handoff_peer_cmds[] = {
    {"R.HPUT", h_hput, 0},
};
const size_t handoff_npeer_cmds =
    sizeof(handoff_peer_cmds) / sizeof(handoff_peer_cmds[0]);

/* ---- delivery ----------------------------------------------------------- */

struct delivery {
    struct cluster *cl;
    uint16_t member;
    struct hints_batch b;
};

/* Is this node one of the key's replicas (or about to become one)? */
static int replicates(struct cluster *cl, const void *key, size_t klen)
{
    return cluster_replicates(cl->node,
                              ring_partition_of(&cl->ring, key, klen));
}

/* After the owners took the object (bytes, len) of a key: drops this
 * node's copy if the node does not replicate the key, the copy is still
 * exactly those bytes (a newer write makes its own hint) and no hint for
 * the key is pending.  1 if dropped. */
static int drop_handed_copy(struct cluster *cl, const void *key, size_t klen,
                            const void *bytes, size_t len)
{
    if (replicates(cl, key, klen))
        return 0;
    const struct object *o = store_get(cl->node->store, key, klen);
    if (!o || object_size(o) != len || memcmp(object_bytes(o), bytes, len))
        return 0;
    if (hints_has_key(cl->ho->hints, key, (uint32_t)klen))
        return 0; /* still owed to another owner */
    return db_drop(cl->node, key, klen) == 0;
}

static void delivered_one(struct cluster *cl, const char *owner,
                          const struct hint *h)
{
    if (hints_delivered(cl->ho->hints, owner, h->key, h->klen, h->id) != 0)
        return;
    cl->ho->hints_delivered++;
    struct evlog_entry *e = cl_event(cl, EV_HINT_DELIVERED);
    evlog_field_bytes(e, "key", h->key, h->klen);
    evlog_field(e, "owner", "%s", owner);
    if (drop_handed_copy(cl, h->key, h->klen, h->obj, h->olen))
        cl->ho->hints_redundant_dropped++;
}

static void deliver_answer(void *ctx, int err, const struct peer_value *v)
{
    struct delivery *d = ctx;
    struct cluster *cl = d->cl;
    const char *owner = d->member < cl->mb.n ? cl->mb.m[d->member].name : NULL;
    int all_ok = err == 0 && v && v->type == PEER_V_INT &&
                 v->integer == (long long)d->b.n;
    int per = err == 0 && v && v->type == PEER_V_ARRAY && v->n == d->b.n;
    if (owner && cl->ho->hints && (all_ok || per)) {
        for (size_t i = 0; i < d->b.n; i++)
            if (all_ok || v->elem[i].type == PEER_V_STATUS)
                delivered_one(cl, owner, &d->b.v[i]);
        make_durable(cl);
    }
    if (d->member < cl->ho->delivering_cap)
        cl->ho->delivering[d->member] = 0;
    hints_batch_free(&d->b);
    dyn_free(d);
}

struct owner_walk {
    struct cluster *cl;
    uint64_t t;
    char **names;
    uint32_t n;
};

static void collect_owner(void *ctx, const char *owner, uint64_t count,
                          uint64_t bytes)
{
    struct owner_walk *w = ctx;
    (void)count;
    (void)bytes;
    w->names = dyn_realloc(w->names, sizeof(char *) * (w->n + 1));
    w->names[w->n++] = dyn_strdup(owner);
}

/* The owner of a hint still replicates its key (under the ring, or the
 * pending ring of a change in progress).  With no ring yet, it does. */
static int owner_owns(struct cluster *cl, const char *owner, const void *key,
                      size_t klen)
{
    if (!cl->ring.nnodes)
        return 1;
    return rebalance_is_replica(cl, owner,
                                ring_partition_of(&cl->ring, key, klen));
}

/* Keeps only the hints of b that owner still replicates: the others are
 * the re-targeting pass's (below). */
static void keep_owned(struct cluster *cl, const char *owner,
                       struct hints_batch *b)
{
    size_t k = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (owner_owns(cl, owner, b->v[i].key, b->v[i].klen)) {
            b->v[k++] = b->v[i];
        } else {
            dyn_free(b->v[i].key);
            dyn_free(b->v[i].obj);
        }
    }
    b->n = k;
}

static void deliver_owner(struct cluster *cl, const char *owner)
{
    int m = membership_find(&cl->mb, owner);
    if (m < 0 || m == (int)cl->mb.self)
        return;
    /* a member that left or was forgotten is not UP: its hints wait for
     * the ring to move on, then the re-targeting pass sends them on */
    if (cl->mb.m[m].status != MEMBER_UP || !cl_reachable(cl, m))
        return;
    if ((uint32_t)m >= cl->ho->delivering_cap) {
        uint32_t cap = (uint32_t)m + 16;
        cl->ho->delivering = dyn_realloc(cl->ho->delivering, cap);
        memset(cl->ho->delivering + cl->ho->delivering_cap, 0,
               cap - cl->ho->delivering_cap);
        cl->ho->delivering_cap = cap;
    }
    if (cl->ho->delivering[m])
        return;
    struct delivery *d = dyn_calloc(1, sizeof(*d));
    d->cl = cl;
    d->member = (uint16_t)m;
    hints_batch_init(&d->b);
    if (hints_next(cl->ho->hints, owner, 0, DELIVER_BATCH, &d->b) == 0)
        keep_owned(cl, owner, &d->b);
    if (d->b.n == 0) {
        hints_batch_free(&d->b);
        dyn_free(d);
        return;
    }
    size_t argc = 1 + d->b.n * 2;
    struct dyn_arg *av = dyn_malloc(sizeof(*av) * argc);
    av[0].p = "R.MPUT";
    av[0].len = 6;
    for (size_t i = 0; i < d->b.n; i++) {
        av[1 + 2 * i].p = (const char *)d->b.v[i].key;
        av[1 + 2 * i].len = d->b.v[i].klen;
        av[2 + 2 * i].p = (const char *)d->b.v[i].obj;
        av[2 + 2 * i].len = d->b.v[i].olen;
    }
    if (cl_send(cl, (uint16_t)m, (int)argc, av, deliver_answer, d) == 0) {
        cl->ho->delivering[m] = 1;
    } else {
        hints_batch_free(&d->b);
        dyn_free(d);
    }
    dyn_free(av);
}

/* ---- orphans -------------------------------------------------------------- */

#define SWEEP_EVERY_MS 1000
#define SWEEP_BATCH 256

struct sweep {
    struct cluster *cl;
    uint32_t waiting;
    int failed;
    uint32_t n;
    char **keys;
    size_t *klens;
    struct dbuf objs;           /* the objects sent, back to back */
    size_t *ooff, *olen;
};

struct sweep_collect {
    struct cluster *cl;
    struct sweep *sw;
};

static int sweep_cb(void *ctx, const void *key, size_t klen,
                    const struct object *o)
{
    struct sweep_collect *sc = ctx;
    struct sweep *sw = sc->sw;
    if (sw->n >= SWEEP_BATCH)
        return 1;
    if (hints_has_key(sc->cl->ho->hints, key, (uint32_t)klen))
        return 0; /* its hint will carry it */
    sw->keys[sw->n] = dyn_memdup(key, klen);
    sw->klens[sw->n] = klen;
    sw->ooff[sw->n] = sw->objs.len;
    sw->olen[sw->n] = object_size(o);
    dbuf_append(&sw->objs, object_bytes(o), object_size(o));
    sw->n++;
    return 0;
}

static void sweep_free(struct sweep *sw)
{
    for (uint32_t i = 0; i < sw->n; i++)
        dyn_free(sw->keys[i]);
    dyn_free(sw->keys);
    dyn_free(sw->klens);
    dyn_free(sw->ooff);
    dyn_free(sw->olen);
    dbuf_free(&sw->objs);
    dyn_free(sw);
}

static void sweep_one_done(struct sweep *sw)
{
    struct cluster *cl = sw->cl;
    if (--sw->waiting)
        return;
    if (!sw->failed) {
        for (uint32_t i = 0; i < sw->n; i++)
            if (drop_handed_copy(cl, sw->keys[i], sw->klens[i],
                                 sw->objs.p + sw->ooff[i], sw->olen[i]))
                cl->ho->orphans_handed_off++;
    }
    cl->ho->sweeping = 0;
    cl->ho->last_sweep_ms = 0; /* the next partition right away */
    sweep_free(sw);
}

static void sweep_answer(void *ctx, int err, const struct peer_value *v)
{
    struct sweep *sw = ctx;
    if (!(err == 0 && v && v->type == PEER_V_INT &&
          v->integer == (long long)sw->n))
        sw->failed = 1;
    sweep_one_done(sw);
}

static void sweep_tick(struct cluster *cl, uint64_t t)
{
    if (cl->ho->sweeping || t - cl->ho->last_sweep_ms < SWEEP_EVERY_MS ||
        !cl->ring.nnodes)
        return;
    struct store *st = cl->node->store;
    uint32_t q = store_partitions(st);
    uint16_t rep[64];
    for (uint32_t k = 0; k < q; k++) {
        uint32_t p = (cl->ho->sweep_next + k) % q;
        if (!store_partition_count(st, p))
            continue;
        if (cluster_replicates(cl->node, p))
            continue;
        uint32_t nr = cluster_replicas(cl->node, p, rep, 64);
        int reachable = 1;
        for (uint32_t i = 0; i < nr; i++)
            if (cl->mb.m[rep[i]].status != MEMBER_UP ||
                !cl_reachable(cl, rep[i]))
                reachable = 0;
        if (!nr || !reachable)
            continue;
        struct sweep *sw = dyn_calloc(1, sizeof(*sw));
        sw->cl = cl;
        sw->keys = dyn_malloc(sizeof(char *) * SWEEP_BATCH);
        sw->klens = dyn_malloc(sizeof(size_t) * SWEEP_BATCH);
        sw->ooff = dyn_malloc(sizeof(size_t) * SWEEP_BATCH);
        sw->olen = dyn_malloc(sizeof(size_t) * SWEEP_BATCH);
        dbuf_init(&sw->objs);
        struct sweep_collect sc = {cl, sw};
        store_iter_partition(st, p, sweep_cb, &sc);
        if (!sw->n) {
            sweep_free(sw);
            continue;
        }
        size_t argc = 1 + (size_t)sw->n * 2;
        struct dyn_arg *av = dyn_malloc(sizeof(*av) * argc);
        av[0].p = "R.MPUT";
        av[0].len = 6;
        for (uint32_t i = 0; i < sw->n; i++) {
            av[1 + 2 * i].p = sw->keys[i];
            av[1 + 2 * i].len = sw->klens[i];
            av[2 + 2 * i].p = sw->objs.p + sw->ooff[i];
            av[2 + 2 * i].len = sw->olen[i];
        }
        sw->waiting = 1; /* held while sending */
        for (uint32_t i = 0; i < nr; i++)
            if (cl_send(cl, rep[i], (int)argc, av, sweep_answer, sw) == 0)
                sw->waiting++;
            else
                sw->failed = 1;
        dyn_free(av);
        cl->ho->sweeping = 1;
        cl->ho->sweep_next = p + 1;
        sweep_one_done(sw); /* drops the hold */
        return;
    }
    cl->ho->sweep_next = 0;
    cl->ho->last_sweep_ms = t; /* nothing to hand off: look again in a while */
}

/* ---- re-targeting --------------------------------------------------------- */

#define RETARGET_BATCH 256
#define RETARGET_EVERY_MS 1000

struct rt_pick {
    struct cluster *cl;
    const char *owner;
    uint32_t seen;
    uint32_t n;
    uint64_t ids[RETARGET_BATCH];
    uint8_t *keys[RETARGET_BATCH];
    uint32_t klens[RETARGET_BATCH];
};

static void rt_collect(void *ctx, uint64_t id, const void *key, uint32_t klen)
{
    struct rt_pick *p = ctx;
    p->seen++;
    if (p->n >= RETARGET_BATCH || owner_owns(p->cl, p->owner, key, klen))
        return;
    p->ids[p->n] = id;
    p->keys[p->n] = dyn_memdup(key, klen ? klen : 1);
    p->klens[p->n] = klen;
    p->n++;
}

/* Hint id of (owner, key): its owner no longer replicates the key.  The
 * object goes to the key's replicas now (and to the gainers of a change
 * in progress): merged here if this node is one, else as a new hint for
 * each of them, which delivery then carries (and after which this node's
 * stand-in copy is dropped, as for any delivered hint).  A replica that
 * holds the object already merges it as a no-op.  Then the old hint is
 * dropped.  1 if re-targeted, 0 if kept (no replica to take it, or the
 * merge here failed). */
static int retarget_one(struct cluster *cl, const char *owner, uint64_t id,
                        const uint8_t *key, uint32_t klen)
{
    struct handoff *ho = cl->ho;
    struct hints_batch b;
    hints_batch_init(&b);
    if (hints_next(ho->hints, owner, id - 1, 1, &b) != 0 || b.n != 1 ||
        b.v[0].id != id) {
        hints_batch_free(&b);
        return 0;   /* replaced or gone meanwhile */
    }
    struct object *obj = NULL;
    if (db_parse_object(cl->node, b.v[0].obj, b.v[0].olen, &obj) != 0) {
        hints_batch_free(&b);
        if (hints_drop(ho->hints, owner, key, klen, id) == 0)
            hint_lost(cl, owner, "its object does not parse");
        return 0;
    }
    hints_batch_free(&b);
    uint32_t part = ring_partition_of(&cl->ring, key, klen);
    uint16_t to[2 * QUORUM_MAX];
    uint32_t nt = cl_replicas(cl, part, to);
    nt += rebalance_extra_targets(cl, part, to + nt, QUORUM_MAX);
    int om = membership_find(&cl->mb, owner);
    uint32_t sent = 0;
    int failed = 0;
    for (uint32_t i = 0; i < nt; i++) {
        int dup = to[i] == om;
        for (uint32_t j = 0; j < i && !dup; j++)
            dup = to[j] == to[i];
        if (dup)
            continue;
        sent++;
        if (to[i] == cl->mb.self)
            failed |= db_merge_object(cl->node, key, klen, obj, NULL) < 0;
        else
            add_hint(cl, cl->mb.m[to[i]].name, (const char *)key, klen, obj,
                     0);
    }
    object_free(obj);
    if (!sent || failed)
        return 0;
    if (hints_drop(ho->hints, owner, key, klen, id) != 0)
        return 0;
    ho->hints_retargeted++;
    if (!ho->rt_pass_count++)
        snprintf(ho->rt_pass_owner, sizeof(ho->rt_pass_owner), "%s", owner);
    return 1;
}

/* Walks every pending hint, RETARGET_BATCH per call, and re-targets those
 * whose owner no longer replicates their key: the owner left, was
 * forgotten, or the ring gave the partition to others.  A pass starts once
 * a second, or at once after a ring change, and only once gossip has
 * confirmed the ring (a ring loaded from disk may be stale). */
static void retarget_tick(struct cluster *cl, uint64_t t)
{
    struct handoff *ho = cl->ho;
    if (!cl->ring.nnodes || !cl->mb.self_heard)
        return;
    if (!ho->rt_active) {
        if (!ho->rt_now && t - ho->rt_last_ms < RETARGET_EVERY_MS)
            return;
        ho->rt_active = 1;
        ho->rt_now = 0;
        ho->rt_owner[0] = 0;
        ho->rt_after = 0;
        ho->rt_pass_count = 0;
    }
    struct owner_walk w = {cl, t, NULL, 0};
    hints_owners(ho->hints, collect_owner, &w);
    uint32_t budget = RETARGET_BATCH, acted = 0;
    int paused = 0;
    for (uint32_t i = 0; i < w.n && !paused; i++) {
        int c = strcmp(w.names[i], ho->rt_owner);
        if (c < 0 || (c == 0 && ho->rt_after == UINT64_MAX))
            continue;
        if (c > 0) {
            snprintf(ho->rt_owner, sizeof(ho->rt_owner), "%s", w.names[i]);
            ho->rt_after = 0;
        }
        struct rt_pick *p = dyn_calloc(1, sizeof(*p));
        p->cl = cl;
        p->owner = w.names[i];
        uint64_t last = hints_scan(ho->hints, w.names[i], ho->rt_after,
                                   budget, rt_collect, p);
        for (uint32_t k = 0; k < p->n; k++) {
            acted += retarget_one(cl, w.names[i], p->ids[k], p->keys[k],
                                  p->klens[k]);
            dyn_free(p->keys[k]);
        }
        if (p->seen < budget) {
            ho->rt_after = UINT64_MAX; /* this owner is done */
            budget -= p->seen;
        } else {
            ho->rt_after = last;
            paused = 1;
        }
        dyn_free(p);
    }
    for (uint32_t i = 0; i < w.n; i++)
        dyn_free(w.names[i]);
    dyn_free(w.names);
    if (acted)
        make_durable(cl);
    if (paused)
        return;
    ho->rt_active = 0;
    ho->rt_last_ms = t;
    if (ho->rt_pass_count)
        dlog(DLOG_NOTICE, "Re-targeted %llu hints whose owner (%s%s) no "
             "longer replicates their key (it left, was forgotten, or the "
             "ring moved) to the keys' replicas (INFO hints_retargeted)",
             (unsigned long long)ho->rt_pass_count, ho->rt_pass_owner,
             ho->rt_pass_count > 1 ? ", ..." : "");
}

void handoff_ring_changed(struct cluster *cl)
{
    if (!cl->ho)
        return;
    cl->ho->rt_active = 0;
    cl->ho->rt_now = 1;
}

void handoff_tick(struct cluster *cl, uint64_t t)
{
    if (!cl->ho->hints)
        return;
    hints_set_budget(cl->ho->hints, (uint64_t)cl->node->cfg.hint_max_bytes);
    if (cl->node->cfg.appendfsync == FSYNC_EVERYSEC &&
        t - cl->ho->last_hint_sync_ms >= 1000) {
        cl->ho->last_hint_sync_ms = t;
        hints_sync(cl->ho->hints);
    }
    sweep_tick(cl, t);
    if (t - cl->ho->last_deliver_ms < DELIVER_EVERY_MS)
        return;
    retarget_tick(cl, t);
    cl->ho->last_deliver_ms = t;
    /* names first: delivery may change the owner list */
    struct owner_walk w = {cl, t, NULL, 0};
    hints_owners(cl->ho->hints, collect_owner, &w);
    for (uint32_t i = 0; i < w.n; i++) {
        deliver_owner(cl, w.names[i]);
        dyn_free(w.names[i]);
    }
    dyn_free(w.names);
}

struct info_owner_ctx {
    struct dbuf *out;
    uint32_t n;
};

static void info_owner(void *ctx, const char *owner, uint64_t count,
                       uint64_t bytes)
{
    struct info_owner_ctx *o = ctx;
    (void)bytes;
    dbuf_printf(o->out, "%s%s=%llu", o->n++ ? "," : "", owner,
                (unsigned long long)count);
}

void handoff_info(struct cluster *cl, struct dbuf *out)
{
    struct hints_stats st;
    memset(&st, 0, sizeof(st));
    if (cl->ho->hints)
        hints_stats(cl->ho->hints, &st);
    dbuf_printf(out,
                "sloppy_writes:%llu\r\n"
                "sloppy_reads:%llu\r\n"
                "hints_stored:%llu\r\n"
                "hints_delivered:%llu\r\n"
                "hints_dropped:%llu\r\n"
                "hints_pending:%llu\r\n"
                "hints_pending_bytes:%llu\r\n"
                "hints_owners:%u\r\n"
                "hint_max_bytes:%llu\r\n"
                "standin_copies_dropped:%llu\r\n"
                "orphans_handed_off:%llu\r\n"
                "hints_lost:%llu\r\n"
                "hints_retargeted:%llu\r\n",
                (unsigned long long)cl->sloppy_writes,
                (unsigned long long)cl->sloppy_reads,
                (unsigned long long)st.stored,
                (unsigned long long)cl->ho->hints_delivered,
                (unsigned long long)st.dropped,
                (unsigned long long)st.pending,
                (unsigned long long)st.pending_bytes, st.owners,
                (unsigned long long)st.max_bytes,
                (unsigned long long)cl->ho->hints_redundant_dropped,
                (unsigned long long)cl->ho->orphans_handed_off,
                (unsigned long long)cl->ho->hints_lost,
                (unsigned long long)cl->ho->hints_retargeted);
    /* the pending hints per owner, for the dashboard's hint queues:
     * "n2=3,n4=1" (bounded by the members: one entry per owner) */
    dbuf_printf(out, "hints_by_owner:");
    if (cl->ho->hints) {
        struct info_owner_ctx o = {out, 0};
        hints_owners(cl->ho->hints, info_owner, &o);
    }
    dbuf_printf(out, "\r\n");
}

/* DYNAMO.HINTS: [owner, count, bytes] per owner with pending hints. */
struct list_ctx {
    struct dbuf *out;
    uint32_t n;
    int count_only;
};

static void list_owner(void *ctx, const char *owner, uint64_t count,
                       uint64_t bytes)
{
    struct list_ctx *l = ctx;
    l->n++;
    if (l->count_only)
        return;
    reply_array(l->out, 3);
    reply_bulk_cstr(l->out, owner);
    reply_int(l->out, (long long)count);
    reply_int(l->out, (long long)bytes);
}

void cluster_hints_reply(struct node *n, struct dbuf *out)
{
    struct cluster *cl = n->cluster;
    struct list_ctx l = {out, 0, 1};
    if (!cl || !cl->ho->hints) {
        reply_array(out, 0);
        return;
    }
    hints_owners(cl->ho->hints, list_owner, &l);
    reply_array(out, l.n);
    l.count_only = 0;
    hints_owners(cl->ho->hints, list_owner, &l);
}
