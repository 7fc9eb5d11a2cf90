/*
 * coordinator.c -- Dynamo's request path: any node takes any data command.
 *
 * Life of a single-key command (GET k, SET k v, DEL k, DYNAMO.PUT ...):
 *
 *   client ──> node X: dispatch ──> pipeline ──> coord_submit
 *                 │ X not among the key's top N replicas
 *                 ├──────── FWD resp argv ─────────────> coordinator C
 *                 │                                        (first reachable of top N)
 *                 │ X is a replica: X coordinates
 *                 v
 *   1. READ   (skipped by ROUTE_KEY_BLIND commands, DYNAMO.PUT / DEL,
 *              whose context comes from the client; see key_start for why
 *              SET reads)
 *             local copy + R.GET to the other replicas; wait for R answers;
 *             merge them into the local store (the coordinator repairs
 *             itself first)
 *   2. EXEC   run the ordinary single-node handler on the local store,
 *             into a buffer: it decides the reply and, for a write, the
 *             new version (object_write: it supersedes what is local)
 *   3. WRITE  if the local object changed: R.PUT of the new object to the
 *             other replicas; wait for W acks (the local write is one)
 *   4. reply  to the submitter's callback (or, for FWD, back to the
 *             forwarding node as the raw RESP bytes); a missed quorum is
 *             -NOQUORUM with the figures, and a write that missed W is not
 *             rolled back
 *   5. REPAIR after the reply, replicas whose read answer lacked part of
 *             the merged object get it (R.PUT), late answers too
 *
 * How a command runs is data: its row's route column (server/command.h).
 * ROUTE_PER_KEY commands (MGET, MSET, DEL, UNLINK, EXISTS, TOUCH) fan out
 * one single-key op per key (as the row's per_key command), each through
 * its own coordinator, combined as the row's combine column says.
 * ROUTE_KEYSPACE commands (KEYS, SCAN, DBSIZE, RANDOMKEY) ask R replicas
 * of each partition for counts from memory and merge key lists only where
 * they differ ("keyspace commands" below, and docs/DESIGN-CHANGES.md);
 * ROUTE_ALL (FLUSHALL) goes to every node; ROUTE_NOTIFY (DYNAMO.CONFIG SET)
 * runs here and tells the others; ROUTE_REFUSED is refused.
 *
 * ROUTE_GATHER commands (SINTER, SMOVE, ZUNIONSTORE, LMOVE ...: several
 * keys of typed values, issue #14) run in three steps ("multi-key
 * commands" below): each key's merged object is read through that key's
 * own coordinator (a child op of DYNAMO.OBJECT: a quorum read, a read
 * repair); the command's ordinary handler runs here on a scratch store
 * that holds those copies; and each key whose copy the handler changed is
 * merged through its own coordinator (a child op of DYNAMO.MERGE: the
 * replicas join the new state with theirs, W acks).  Typed values join,
 * so a write that raced the command on another node is kept, not
 * overwritten: the command is per key, never atomic across keys, as
 * everything in a Dynamo.
 *
 * The coordinator knows no client.  A request comes with its reply
 * protocol and a struct coord_call whose callback takes the reply; the
 * pipeline (server/pipeline.c) keeps a client's replies in order and
 * decides when its next request may start (coord_call.executed tells it
 * when a single-key command has run here).  EXEC's sequence lives there
 * too.
 *
 * An op lives until its reply is out and every peer callback it started has
 * run (the bus runs each exactly once), so late answers are still counted
 * and repaired.  Undecided ops sit on a FIFO ordered by deadline (every op
 * gets the same request-timeout-ms), which coord_tick expires.  So every
 * request that waits on peers answers within request-timeout-ms: a gather
 * still missing answers then replies "-TIMEOUT k of m nodes answered <cmd>
 * within T ms (no answer from ...)", and the answers that come later are
 * counted (late_answers) and dropped, the op staying alive until the last
 * of them is in.
 *
 * Batching: the quorum reads and writes of one loop turn that go to the
 * same replica leave as one R.MGET / R.MPUT, sent by an event activated
 * for the end of the turn (the bus then writes it with everything else
 * for that peer); the replica answers the whole batch in one reply, and
 * each op gets its item as if it had asked alone.  Repairs, forwards and
 * gathers are not batched.
 *
 * The replica side of those requests is cluster/replica.c.  The one peer
 * command here is the forward:
 *   FWD resp argv...   -> coordinate argv; reply [its raw RESP as a bulk,
 *                         status]: 0 ok, 1 an error, 2 an error before it
 *                         ran anywhere (a read quorum missed, no replica
 *                         reachable), after which the forwarding node tries
 *                         the next replica (forward_retries)
 */
#include "cluster/coordinator.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <event2/event.h>
#include "cluster/cluster.h"
#include "cluster/cluster_int.h"
#include "cluster/delta.h"
#include "cluster/evlog.h"
#include "cluster/membership.h"
#include "cluster/object.h"
#include "cluster/peer.h"
#include "cluster/quorum.h"
#include "cluster/ring.h"
#include "cluster/trace.h"
#include "server/cmd_info.h"
#include "server/command.h"
#include "server/db.h"
#include "server/engine.h"
#include "server/log.h"
#include "server/node.h"
#include "server/reply.h"
#include "server/store.h"
#include "server/util.h"

enum op_kind {
    OP_KEY,       /* one key: coordinate here or forward */
    OP_FANOUT,    /* one child op per key, combined */
    OP_GATHER,    /* one request per member, combined */
    OP_MULTI,     /* ROUTE_GATHER: read each key, run here, merge each */
};

enum op_phase {
    PH_START, PH_READ, PH_WRITE, PH_FORWARD, PH_GATHER, PH_DONE,
    PH_GROUP /* a write done here whose replication a group leader sends */
};

enum op_origin { FROM_SUBMIT, FROM_PEER, FROM_PARENT };

struct op {
    struct cluster *cl;
    struct coord *co;
    uint64_t id;
    enum op_kind kind;
    enum op_phase phase;
    enum op_origin origin;
    struct coord_call *sub;     /* FROM_SUBMIT; NULL once cancelled */
    struct peer_call *call;     /* FROM_PEER */
    struct op *parent;          /* FROM_PARENT */
    uint32_t slot;              /* index among the parent's children */
    int resp;
    int finished;               /* reply delivered */
    int failed;                 /* the reply is an error: OP_FAILED, or
                                 * OP_UNAVAILABLE when nothing was applied */
    int refs;                   /* peer callbacks outstanding */

    const struct command *cmd;
    int argc;
    struct dyn_arg *argv;       /* owned copies */

    /* OP_KEY */
    char *key;
    size_t klen;
    uint16_t rep[QUORUM_MAX];   /* targets: reachable top-N members, and
                                 * stand-ins for the others (sloppy) */
    uint16_t standin[QUORUM_MAX]; /* per target: owner it stands in for,
                                   * NO_MEMBER when it is an owner */
    uint32_t nrep;
    uint16_t down[QUORUM_MAX];  /* owners with no stand-in of their own */
    uint32_t ndown;             /* their hints go to the first stand-in
                                 * (or stay here) */
    uint32_t r, w;
    int blind;
    struct quorum q;
    int q_live;
    uint32_t fwd_next;          /* next forward candidate */
    uint32_t part;
    int is_write;
    uint64_t trace_id;          /* its trace (cluster/trace.h), 0: none */
    struct object *written;     /* the version a write replicated (owned):
                                 * a target that misses it gets a hint of
                                 * it, even if the local copy is gone */
    uint64_t rdigest;           /* the digest of our copy the read sent
                                 * (R.MGETD); 0: none sent */
    uint32_t same_mask;         /* bit i: q.node[i] answered +SAME while
                                 * our copy still had that digest (its
                                 * answer then carries no object) */
    /* write groups (key_exec_and_write; a follower is in PH_GROUP): */
    struct op **follow;         /* a leader's followers, in order */
    uint32_t nfollow, follow_cap;
    struct object *gbase;       /* a leader: the copy before the group,
                                 * kept when large (deltas are of it) */
    uint64_t gd0;               /* its digest */
    int ghad;                   /* the key existed before the group */

    /* children / gather */
    uint32_t nchild;
    uint32_t ndone;
    struct dbuf *child;         /* each child's reply */
    unsigned char *child_failed; /* and whether it is an error */
    unsigned char *silent;      /* OP_GATHER: 1 while member i's answer
                                 * is awaited (the timeout names them) */
    uint8_t combine;            /* enum command_combine */
    uint64_t scan_next;         /* COMBINE_SCAN */
    char *pattern;
    struct ksop *ks;            /* ROUTE_KEYSPACE: the merge's state */
    int *mkeys;                 /* OP_MULTI: the keys' argv indexes, */
    uint32_t nmkeys;            /* distinct ones */
    int mwriting;               /* 0: reading the keys, 1: merging them */
    struct dbuf mreply;         /* the handler's reply, sent once merged */
    int mfailed;

    struct dbuf reply;
    uint64_t deadline;
    struct op *dl_prev, *dl_next;
    int on_dl;
    struct op *all_prev, *all_next;     /* every live op */
};

/* Quorum reads / writes for one replica, gathered during a loop turn:
 * plain (R.MGET, R.MPUT) and with deltas (R.MGETD: key and the digest of
 * our copy; R.MDPUT: key and a delta of the replica's copy). */
enum { B_GET, B_PUT, B_GETD, B_DPUT, B_RPUT, B_KINDS };
/* Objects smaller than this are always sent whole. */
#define DELTA_MIN_OBJ 512
/* A member that refused deltas (an older node, or replica-deltas no) is
 * sent whole objects for this long before it is asked again. */
#define DELTA_RETRY_MS 60000
#define BATCH_MAX_BYTES (256 * 1024)   /* send early past this */
#define BATCH_MAX_OBJ (64 * 1024)      /* bigger objects go alone */
struct bentry {
    struct op *op;              /* holds a ref until the answer */
    size_t koff, klen, ooff, olen;  /* in data */
};
struct batch {
    struct bentry *e;
    uint32_t n, cap;
    struct dbuf data;           /* copies of keys and objects */
};

/* A replica that refused a delta of a key (its copy was not the one the
 * delta was made from: a write of another coordinator, or a repair, got
 * there first) gets that key whole until every whole write of it to the
 * replica has been answered.  Deltas made meanwhile would be of versions
 * it has not received yet, and would be refused in turn, each costing a
 * whole merge there: without this, a replica that fell behind under a
 * stream of writes to one key would never catch up. */
struct resync {
    uint64_t khash;
    uint16_t member;
    uint32_t pending; /* whole writes of the key to member unanswered */
};
#define RESYNC_MAX 256

/*
 * Write groups.  A write of a typed value costs the coordinator the
 * value's size, not the op's: the new version is encoded, compared with
 * the old one for a delta, and copied for hints.  Writes to one key that
 * reach their write phase in the same loop turn (50 clients pushing onto
 * one list answer together) therefore form a group: the first one whose
 * typed write was deferred (server/db.c, "Deferred encoding"; the node
 * lets typed writes defer while n->typed_defer_turn is set) leads it, the
 * later ones run on the decoded state and follow, and at the end of the
 * turn (batch_flush_cb), or before a write to the key that cannot follow
 * (other targets), the leader encodes the key once and replicates that
 * version -- which holds every write of the group -- as any write does.
 * Each follower's reply, made when it ran, leaves when the leader's write
 * quorum is decided, with the leader's error if it missed W.  Replicas
 * see one version per group instead of one per write, exactly as if the
 * group's writes had been one.  A turn keeps at most GROUP_MAX groups
 * open; past that writes run alone.
 */
#define GROUP_MAX 64

/* The coordinator of a node (n->coord). */
struct coord {
    struct node *node;
    struct cluster *cl;
    uint64_t next_op;
    struct op *dl_head, *dl_tail;       /* undecided ops, by deadline */
    struct op *all;                     /* every live op */
    int closing;                        /* coord_free is running */
    struct batch *batches;              /* [member * B_KINDS + kind] */
    uint32_t nbatches;
    struct event *ev_flush;             /* sends the batches; NULL: none */
    int flush_armed;
    struct dyn_arg *bargv;              /* a batch's argv, kept */
    size_t bargv_cap;
    uint64_t *plain_until;              /* [member]: no deltas before */
    uint32_t nplain;
    struct resync resync[RESYNC_MAX];   /* keys replicas get whole */
    uint32_t nresync;
    struct op *open[GROUP_MAX];         /* leaders of this turn's groups */
    uint32_t nopen;
};

/* A batch in flight. */
struct mreq {
    struct cluster *cl;
    uint16_t member;
    uint8_t purpose;
    uint8_t kind;
    uint32_t n;
    struct op *op[];
};

/* One outstanding peer request. */
struct preq {
    struct op *op;       /* NULL: fire and forget */
    struct cluster *cl;
    uint16_t member;
    uint8_t purpose;
};

enum {
    P_READ, P_WRITE, P_REPAIR, P_FORWARD, P_GATHER, P_PING, P_NOTIFY,
    P_DWRITE, /* a write sent as a delta */
    P_RWRITE  /* a whole write to a replica that refused a delta */
};

static const struct {
    const char *verb;
    int per; /* arguments per entry */
    uint8_t purpose;
} bkind[B_KINDS] = {
    {"R.MGET", 1, P_READ},
    {"R.MPUT", 2, P_WRITE},
    {"R.MGETD", 2, P_READ},
    {"R.MDPUT", 2, P_DWRITE},
    {"R.MPUT", 2, P_RWRITE},
};


#define NO_MEMBER 0xffff

/* An op's status (op->failed), also the one a FWD answer carries: 0 ok;
 * OP_FAILED an error; OP_UNAVAILABLE an error that says the command was
 * not applied anywhere (the read quorum was missed before it ran, or no
 * replica could be reached), so the forwarding node may try the next
 * replica. */
enum { OP_FAILED = 1, OP_UNAVAILABLE = 2 };

static void op_run(struct op *op);
static void op_finish(struct op *op);
static void group_release(struct op *op);
static void group_close(struct op *op);
struct ksop;
static void ks_free(struct ksop *ks);
static void ks_next(struct op *op);
static void op_child_done(struct op *parent, uint32_t slot,
                          const struct dbuf *reply, int failed);
static void notify_start(struct op *op);
static struct op *op_new(struct coord *co, enum op_kind kind);

/* ---- small helpers ------------------------------------------------------ */

/* The sloppy quorum's targets for op's key: the reachable top-N replicas,
 * and for each unreachable one the next reachable node of the extended
 * preference list, which stands in for it (its write carries a hint).
 * Owners left without a stand-in (fewer nodes reachable than N) are
 * listed in op->down; their hints go to the first stand-in, or to the
 * coordinator. */
static void targets_of(struct cluster *cl, struct op *op, uint32_t part)
{
    uint16_t top[QUORUM_MAX], down[QUORUM_MAX];
    uint32_t ntop = cl_replicas(cl, part, top), ndown = 0;
    op->nrep = 0;
    op->ndown = 0;
    for (uint32_t i = 0; i < ntop; i++) {
        if (cl_reachable(cl, top[i])) {
            op->rep[op->nrep] = top[i];
            op->standin[op->nrep++] = NO_MEMBER;
        } else {
            down[ndown++] = top[i];
        }
    }
    if (!ndown)
        return; /* the common case: no walk past the top N */
    /* the extended preference list: its first N are the top N above */
    uint16_t ri[RING_MAX_NODES];
    uint32_t k = ring_preflist(&cl->ring, part, ri, RING_MAX_NODES);
    uint32_t f = DYN_MIN(cl_nval(cl), k);
    for (uint32_t d = 0; d < ndown; d++) {
        int m = -1;
        while (f < k && m < 0) {
            int c = cl_member_of_ring(cl, ri[f++]);
            if (c >= 0 && cl_reachable(cl, c))
                m = c;
        }
        if (m < 0) {
            op->down[op->ndown++] = down[d];
            continue;
        }
        op->rep[op->nrep] = (uint16_t)m;
        op->standin[op->nrep++] = down[d];
    }
}

/* ---- the op's trace (cluster/trace.c) ----------------------------------
 * A few stores into the op's slot of the node's trace ring, only when
 * the ring is on (trace-max > 0) and the slot is still the op's. */

static const char *member_name(const struct cluster *cl, uint16_t m)
{
    return m < cl->mb.n ? cl->mb.m[m].name : "?";
}

static struct trace *op_trace(const struct op *op)
{
    return op->trace_id ? trace_get(&op->cl->node->traces, op->trace_id)
                        : NULL;
}

/* Replica m's entry in op's trace, with flags added and, when us is
 * non-NULL, the time since the start stored there; NULL when untraced. */
static struct trace_rep *trace_mark(const struct op *op, uint16_t m,
                                    uint32_t flags, uint32_t *(*at)(
                                        struct trace_rep *))
{
    struct trace *t = op_trace(op);
    if (!t)
        return NULL;
    struct trace_rep *r = trace_rep(t, m, member_name(op->cl, m));
    if (!r)
        return NULL;
    r->flags |= flags;
    if (at)
        *at(r) = trace_elapsed(t, node_mono_us(op->cl->node));
    return r;
}

static uint32_t *at_read(struct trace_rep *r) { return &r->read_us; }
static uint32_t *at_write(struct trace_rep *r) { return &r->write_us; }

/* Member m's entry in t, as an owner of the key (the caller clears
 * TR_OWNER for a stand-in), with its status now. */
static struct trace_rep *trace_owner(struct trace *t, struct cluster *cl,
                                     uint16_t m, uint32_t up)
{
    struct trace_rep *r = trace_rep(t, m, member_name(cl, m));
    if (!r)
        return NULL;
    r->flags |= TR_OWNER | up | (m == cl->mb.self ? TR_SELF : 0);
    r->status = m < cl->mb.n ? (uint32_t)cl->mb.m[m].status : 0;
    return r;
}

/* The trace of a key op coordinated here: the preference list (top N,
 * with each owner's status) and the stand-ins targets_of chose. */
static void trace_start(struct op *op)
{
    struct cluster *cl = op->cl;
    struct node *n = cl->node;
    if (!n->traces.cap)
        return;
    uint64_t now_us = node_mono_us(n);
    if (!trace_admit(&n->traces, now_us))
        return;
    struct trace *t = trace_begin(&n->traces, node_wall_ms(n), now_us,
                                  op->cmd->name, op->key, op->klen);
    op->trace_id = t->id;
    const char *me = member_name(cl, (uint16_t)cl->mb.self);
    size_t len = DYN_MIN(strlen(me), sizeof(t->coordinator) - 1);
    memcpy(t->coordinator, me, len);
    t->coordinator[len] = 0;
    if (op->origin == FROM_PEER && op->call) {
        const char *from = peer_call_peer_name(op->call);
        len = from ? DYN_MIN(strlen(from), sizeof(t->forwarded_from) - 1) : 0;
        memcpy(t->forwarded_from, from ? from : "", len);
        t->forwarded_from[len] = 0;
    }
    t->n = cl_nval(cl);
    /* the top N, from targets_of's work: the reachable owners, then the
     * owners a stand-in took, then those nobody could */
    for (uint32_t i = 0; i < op->nrep; i++)
        if (op->standin[i] == NO_MEMBER)
            trace_owner(t, cl, op->rep[i], TR_UP);
    for (uint32_t i = 0; i < op->nrep; i++)
        if (op->standin[i] != NO_MEMBER)
            trace_owner(t, cl, op->standin[i], 0);
    for (uint32_t i = 0; i < op->ndown; i++)
        trace_owner(t, cl, op->down[i], 0);
    for (uint32_t i = 0; i < op->nrep; i++) {
        if (op->standin[i] == NO_MEMBER)
            continue;
        struct trace_rep *r = trace_owner(t, cl, op->rep[i], TR_UP);
        if (!r)
            break;
        r->flags = (r->flags & ~(uint32_t)TR_OWNER) | TR_STANDIN;
        const char *o = member_name(cl, op->standin[i]);
        size_t ol = DYN_MIN(strlen(o), sizeof(r->standin_for) - 1);
        memcpy(r->standin_for, o, ol);
        r->standin_for[ol] = 0;
    }
}

/* The reply is decided: its first line is the outcome. */
static void trace_done(struct op *op)
{
    struct trace *t = op_trace(op);
    if (!t)
        return;
    t->done_us = trace_elapsed(t, node_mono_us(op->cl->node));
    if (op->phase == PH_WRITE && op->q_live && op->q.state == QUORUM_MET)
        t->write_quorum_us = t->done_us;
    const char *p = op->reply.p;
    size_t len = op->reply.len;
    if (!op->failed || !len) {
        trace_outcome(t, "ok", 2);
        return;
    }
    const char *end = memchr(p, '\r', len);
    if (*p == '-') {
        p++;
        len--;
    }
    trace_outcome(t, p, end ? (size_t)(end - p) : len);
}

static void args_copy(struct op *op, int argc, const struct dyn_arg *argv)
{
    size_t total = 0;
    for (int i = 0; i < argc; i++)
        total += argv[i].len + 1;
    op->argv = dyn_malloc(sizeof(struct dyn_arg) * (size_t)(argc ? argc : 1) +
                          total);
    char *p = (char *)(op->argv + (argc ? argc : 1));
    for (int i = 0; i < argc; i++) {
        memcpy(p, argv[i].p, argv[i].len);
        p[argv[i].len] = 0;
        op->argv[i].p = p;
        op->argv[i].len = argv[i].len;
        p += argv[i].len + 1;
    }
    op->argc = argc;
}

/* Puts op on the deadline list, which stays in deadline order: usually at
 * the tail, but a request-timeout-ms lowered at run time (CONFIG SET) gives
 * new ops earlier deadlines than older ones, and cluster_tick looks only at
 * the head, so they go before those (a short walk from the tail). */
static void dl_add(struct op *op)
{
    struct coord *co = op->co;
    struct cluster *cl = op->cl;
    op->deadline = cl_now(cl) + (uint64_t)cl->node->cfg.request_timeout_ms;
    struct op *after = co->dl_tail;
    while (after && after->deadline > op->deadline)
        after = after->dl_prev;
    op->dl_prev = after;
    op->dl_next = after ? after->dl_next : co->dl_head;
    if (op->dl_next)
        op->dl_next->dl_prev = op;
    else
        co->dl_tail = op;
    if (after)
        after->dl_next = op;
    else
        co->dl_head = op;
    op->on_dl = 1;
}

static void dl_del(struct op *op)
{
    struct coord *co = op->co;
    if (!op->on_dl)
        return;
    if (op->dl_prev)
        op->dl_prev->dl_next = op->dl_next;
    else
        co->dl_head = op->dl_next;
    if (op->dl_next)
        op->dl_next->dl_prev = op->dl_prev;
    else
        co->dl_tail = op->dl_prev;
    op->on_dl = 0;
}

static void op_free(struct op *op)
{
    dl_del(op);
    if (op->all_prev)
        op->all_prev->all_next = op->all_next;
    else
        op->co->all = op->all_next;
    if (op->all_next)
        op->all_next->all_prev = op->all_prev;
    if (op->q_live)
        quorum_free(&op->q);
    for (uint32_t i = 0; i < op->nchild; i++)
        dbuf_free(&op->child[i]);
    dyn_free(op->child);
    dyn_free(op->child_failed);
    dyn_free(op->silent);
    dyn_free(op->argv);
    dyn_free(op->pattern);
    ks_free(op->ks);
    dyn_free(op->mkeys);
    dbuf_free(&op->mreply);
    object_free(op->written);
    object_free(op->gbase);
    dyn_free(op->follow);
    dbuf_free(&op->reply);
    dyn_free(op);
}

/* Frees the op once its reply is out and no callback can reach it. */
static void op_maybe_free(struct op *op)
{
    if (op->finished && op->refs == 0)
        op_free(op);
}

static void reply_err(struct op *op, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void reply_err(struct op *op, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    dbuf_reset(&op->reply);
    reply_error(&op->reply, msg);
    op->failed = 1;
}

/* Sends argv to member m; the callback gets a preq.  Returns 0 or <0
 * (nothing was sent and no callback will run). */
static void peer_answer(void *ctx, int err, const struct peer_value *v);
static void op_answer(struct cluster *cl, struct op *op, uint16_t m,
                      uint8_t purpose, int err, const struct peer_value *v);

static int send_to(struct cluster *cl, struct op *op, uint16_t m,
                   uint8_t purpose, int argc, const struct dyn_arg *argv)
{
    struct preq *pr = dyn_calloc(1, sizeof(*pr));
    pr->op = op;
    pr->cl = cl;
    pr->member = m;
    pr->purpose = purpose;
    int rc = peer_request(cl->bus, cl->peer_of[m], argc, argv, peer_answer,
                          pr, NULL);
    if (rc != 0) {
        dyn_free(pr);
        return rc;
    }
    if (op)
        op->refs++;
    return 0;
}

/* ---- batches to replicas ------------------------------------------------ */

static struct batch *batch_of(struct cluster *cl, uint16_t m, int kind)
{
    struct coord *co = cl->node->coord;
    uint32_t i = (uint32_t)m * B_KINDS + (uint32_t)kind;
    if (i >= co->nbatches) {
        uint32_t n = (uint32_t)(m + 8) * B_KINDS;
        co->batches = dyn_realloc(co->batches, sizeof(struct batch) * n);
        memset(co->batches + co->nbatches, 0,
               sizeof(struct batch) * (n - co->nbatches));
        for (uint32_t j = co->nbatches; j < n; j++)
            dbuf_init(&co->batches[j].data);
        co->nbatches = n;
    }
    return &co->batches[i];
}

/* Deltas may go to member m: on here, and m has not refused them lately. */
static int deltas_to(struct cluster *cl, uint16_t m)
{
    struct coord *co = cl->node->coord;
    if (!cl->node->cfg.replica_deltas)
        return 0;
    return m >= co->nplain || co->plain_until[m] <= cl_now(cl);
}

/* m answered a whole batch of deltas with an error: an older node, or
 * replica-deltas no there.  It gets plain requests for a while. */
static void deltas_refused_by(struct cluster *cl, uint16_t m)
{
    struct coord *co = cl->node->coord;
    if (m >= co->nplain) {
        uint32_t n = (uint32_t)m + 8;
        co->plain_until = dyn_realloc(co->plain_until, sizeof(uint64_t) * n);
        memset(co->plain_until + co->nplain, 0,
               sizeof(uint64_t) * (n - co->nplain));
        co->nplain = n;
    }
    co->plain_until[m] = cl_now(cl) + DELTA_RETRY_MS;
}

/* The resync entry of (m, op's key); with add, made when there is none
 * (NULL when the table is full: deltas go on, and may be refused). */
static struct resync *resync_of(struct op *op, uint16_t m, int add)
{
    struct coord *co = op->co;
    if (!add && !co->nresync)
        return NULL; /* the usual case, on every write: no hash */
    uint64_t h = dyn_hash64(op->key, op->klen);
    for (uint32_t i = 0; i < co->nresync; i++)
        if (co->resync[i].khash == h && co->resync[i].member == m)
            return &co->resync[i];
    if (!add || co->nresync == RESYNC_MAX)
        return NULL;
    struct resync *r = &co->resync[co->nresync++];
    r->khash = h;
    r->member = m;
    r->pending = 0;
    return r;
}

static int send_rep(struct cluster *cl, struct op *op, uint16_t m, int kind,
                    const void *blob, size_t blen);

/* The whole object to m, which refused a delta of it (or must get the key
 * whole until it has caught up): counted in the key's resync entry. */
static int send_resync(struct cluster *cl, struct op *op, uint16_t m,
                       const struct object *o)
{
    struct resync *r = resync_of(op, m, 1);
    int rc = send_rep(cl, op, m, B_RPUT, object_bytes(o), object_size(o));
    if (rc == 0 && r)
        r->pending++;
    return rc;
}

/* A whole write to m of a resync answered (or failed). */
static void resync_answered(struct op *op, uint16_t m)
{
    struct coord *co = op->co;
    struct resync *r = resync_of(op, m, 0);
    if (r && r->pending && --r->pending == 0)
        *r = co->resync[--co->nresync];
}

/* The digest a quorum read asks about is our copy's as the batch leaves,
 * not as the op started: the writes of this loop turn leave first (the
 * flush sends them before the reads), so a replica in step holds exactly
 * this copy when the read gets there, and answers +SAME. */
static void read_digest_now(struct cluster *cl, struct op *op, char *hex)
{
    const struct object *mine = store_get(cl->node->store, op->key,
                                          op->klen);
    char buf[17];
    op->rdigest = mine ? object_digest(mine) : 0;
    snprintf(buf, sizeof(buf), "%016llx", (unsigned long long)op->rdigest);
    memcpy(hex, buf, 16);
}

static void batch_answer(void *ctx, int err, const struct peer_value *v)
{
    struct mreq *mr = ctx;
    int whole = err == 0 && v && v->type == PEER_V_ARRAY && v->n == mr->n;
    int all_ok = err == 0 && v && v->type == PEER_V_INT &&
                 v->integer == (long long)mr->n;
    char okstr[] = "OK";
    struct peer_value ok = {.type = PEER_V_STATUS, .str = okstr, .len = 2};
    if (mr->kind == B_GETD && err == DYN_EPROTO && v &&
        v->type == PEER_V_ERROR) {
        /* the member takes no digests: the same reads, plain */
        deltas_refused_by(mr->cl, mr->member);
        for (uint32_t i = 0; i < mr->n; i++) {
            struct op *op = mr->op[i];
            if (op->co->closing ||
                send_rep(mr->cl, op, mr->member, B_GET, NULL, 0) != 0)
                op_answer(mr->cl, op, mr->member, P_READ, DYN_EIO, NULL);
            else
                op->refs--; /* the new request holds its own */
        }
        dyn_free(mr);
        return;
    }
    if (mr->kind == B_DPUT && err == DYN_EPROTO && v &&
        v->type == PEER_V_ERROR)
        deltas_refused_by(mr->cl, mr->member); /* each op resends whole */
    for (uint32_t i = 0; i < mr->n; i++) {
        const struct peer_value *iv = NULL;
        int ierr = err ? err : DYN_EPROTO;
        if (whole) {
            iv = &v->elem[i];
            ierr = iv->type == PEER_V_ERROR ? DYN_EPROTO : 0;
        } else if (all_ok) {
            iv = &ok;
            ierr = 0;
        } else if (v && v->type == PEER_V_ERROR) {
            iv = v;
        }
        op_answer(mr->cl, mr->op[i], mr->member, mr->purpose, ierr, iv);
    }
    dyn_free(mr);
}

/* Sends member m's batch of one kind as one request.  When the bus
 * refuses it: with answer, each op gets a failed answer now; without,
 * the ops' refs are dropped and <0 returned (nothing will answer). */
static int batch_send(struct cluster *cl, uint16_t m, int kind, int answer)
{
    struct coord *co = cl->node->coord;
    struct batch *b = batch_of(cl, m, kind);
    if (!b->n)
        return 0;
    int per = bkind[kind].per;
    struct mreq *mr = dyn_malloc(sizeof(*mr) + sizeof(struct op *) * b->n);
    mr->cl = cl;
    mr->member = m;
    mr->purpose = bkind[kind].purpose;
    mr->kind = (uint8_t)kind;
    mr->n = b->n;
    size_t argc = 1 + (size_t)b->n * (size_t)per;
    if (co->bargv_cap < argc) {
        co->bargv_cap = DYN_MAX(argc, co->bargv_cap * 2);
        dyn_free(co->bargv);
        co->bargv = dyn_malloc(sizeof(*co->bargv) * co->bargv_cap);
    }
    struct dyn_arg *av = co->bargv;
    av[0].p = bkind[kind].verb;
    av[0].len = strlen(av[0].p);
    for (uint32_t i = 0; i < b->n; i++) {
        const struct bentry *e = &b->e[i];
        mr->op[i] = e->op;
        if (kind == B_GETD && co->ev_flush)
            read_digest_now(cl, e->op, b->data.p + e->ooff);
        av[1 + i * per].p = b->data.p + e->koff;
        av[1 + i * per].len = e->klen;
        if (per == 2) {
            av[2 + i * 2].p = b->data.p + e->ooff;
            av[2 + i * 2].len = e->olen;
        }
    }
    int rc = peer_request(cl->bus, cl->peer_of[m], (int)argc, av,
                          batch_answer, mr, NULL);
    b->n = 0;
    dbuf_reset(&b->data);
    if (rc != 0 && answer) {
        batch_answer(mr, DYN_EIO, NULL);
    } else if (rc != 0) {
        for (uint32_t i = 0; i < mr->n; i++)
            mr->op[i]->refs--;
        dyn_free(mr);
        return rc;
    }
    return 0;
}

static void batch_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    struct coord *co = arg;
    struct cluster *cl = co->cl;
    (void)fd;
    (void)what;
    /* the groups' writes join the batches first (flush_armed still set:
     * their sends go out below, not in another turn) */
    while (co->nopen)
        group_close(co->open[co->nopen - 1]);
    co->flush_armed = 0;
    /* writes first: a read that asks whether a replica holds our copy
     * finds it there when the write that made it left in the same turn */
    static const int order[B_KINDS] = {B_PUT, B_RPUT, B_DPUT, B_GET,
                                       B_GETD};
    for (uint32_t m = 0; m < co->nbatches / B_KINDS; m++)
        for (int k = 0; k < B_KINDS; k++)
            if (co->batches[m * B_KINDS + (uint32_t)order[k]].n)
                batch_send(cl, (uint16_t)m, order[k], 1);
}

/* A quorum read or write of op's key to replica m, of one batch kind
 * (blob: the object, digest or delta of the kinds that carry one):
 * batched for the end of the loop turn when the node runs an event loop,
 * else sent at once as a batch of one.  A whole object too big for a
 * batch goes alone (R.PUT).  Returns 0 (the answer comes later) or <0. */
static int send_rep(struct cluster *cl, struct op *op, uint16_t m, int kind,
                    const void *blob, size_t blen)
{
    struct coord *co = op->co;
    if ((kind == B_PUT || kind == B_RPUT) && blen > BATCH_MAX_OBJ) {
        struct dyn_arg av[3] = {{"R.PUT", 5}, {op->key, op->klen},
                                {blob, blen}};
        return send_to(cl, op, m, bkind[kind].purpose, 3, av);
    }
    struct batch *b = batch_of(cl, m, kind);
    if (b->data.len > BATCH_MAX_BYTES)
        batch_send(cl, m, kind, 1);
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 64;
        b->e = dyn_realloc(b->e, sizeof(*b->e) * b->cap);
    }
    struct bentry *e = &b->e[b->n++];
    e->op = op;
    e->koff = b->data.len;
    e->klen = op->klen;
    dbuf_append(&b->data, op->key, op->klen);
    e->ooff = b->data.len;
    e->olen = blen;
    if (blen)
        dbuf_append(&b->data, blob, blen);
    op->refs++;
    if (!co->ev_flush)
        return batch_send(cl, m, kind, 0);
    if (!co->flush_armed) {
        co->flush_armed = 1;
        event_active(co->ev_flush, EV_TIMEOUT, 1);
    }
    return 0;
}

/* ---- local execution ---------------------------------------------------- */

/* Runs a command's ordinary handler on the local store, capturing its
 * reply.  The shadow client stands in for the real one: it is always
 * authenticated and speaks the requester's protocol.  Returns the
 * handler's status: 1 when it answered an error (client_error), else 0. */
static int exec_local(struct cluster *cl, const struct command *cmd, int resp,
                      int argc, const struct dyn_arg *argv, struct dbuf *out)
{
    struct client sc;
    memset(&sc, 0, sizeof(sc));
    sc.node = cl->node;
    sc.fd = -1;
    sc.resp = resp;
    sc.authenticated = 1;
    memcpy(sc.addr, "cluster", sizeof("cluster"));
    sc.obuf = *out; /* the handler appends to out directly */
    cmd->proc(&sc, argc, argv);
    *out = sc.obuf;
    dyn_free(sc.name);
    dyn_free(sc.lib_name);
    dyn_free(sc.lib_ver);
    return sc.errors ? 1 : 0;
}

/* R or W given on DYNAMO.GET / DYNAMO.PUT: the last two arguments. */
static uint32_t override_of(const struct op *op, const char *which,
                            uint32_t dflt)
{
    if (op->argc >= 4) {
        const struct dyn_arg *a = &op->argv[op->argc - 2];
        const struct dyn_arg *v = &op->argv[op->argc - 1];
        long long x;
        if (dyn_arg_is(a->p, a->len, which) &&
            dyn_str2ll(v->p, v->len, &x) == 0 && x >= 1 && x <= 64)
            return (uint32_t)x;
    }
    return dflt;
}

static void key_exec_and_write(struct op *op);

/* The read or write quorum was missed: the -NOQUORUM reply, counted.  A
 * write that missed W is not rolled back, and the error says so. */
static void quorum_failed(struct op *op)
{
    struct cluster *cl = op->cl;
    cl->node->stats.quorum_failures++;
    struct evlog_entry *e = evlog_add(&cl->node->events,
                                      node_wall_ms(cl->node),
                                      EV_QUORUM_FAILURE);
    if (e) {
        evlog_field_bytes(e, "key", op->key, op->klen);
        evlog_field(e, "phase", "%s", op->phase == PH_WRITE ? "write"
                                                             : "read");
        evlog_field(e, "acks", "%u of %u", op->q.ok,
                    op->phase == PH_WRITE ? op->w : op->r);
    }
    if (op->phase == PH_WRITE) {
        cl->noquorum_writes++;
        reply_err(op,
                  "NOQUORUM %u of %u required replicas acknowledged; the "
                  "write may have reached some replicas and is not rolled "
                  "back",
                  op->q.ok, op->w);
    } else {
        cl->noquorum_reads++;
        reply_err(op, "NOQUORUM %u of %u required replicas answered",
                  op->q.ok, op->r);
        op->failed = OP_UNAVAILABLE; /* it never ran */
    }
}

/* The quorum of op's phase over its targets, plus the owners nobody
 * could stand in for, which count as failed answers at once: a quorum the
 * reachable nodes cannot give fails fast, with true figures. */
static void op_quorum_init(struct op *op, uint32_t need)
{
    uint16_t nodes[QUORUM_MAX * 2];
    uint32_t n = 0;
    for (uint32_t i = 0; i < op->nrep; i++)
        nodes[n++] = op->rep[i];
    for (uint32_t i = 0; i < op->ndown && n < QUORUM_MAX; i++)
        nodes[n++] = op->down[i];
    quorum_init(&op->q, nodes, n, DYN_MIN(need, n));
    op->q_live = 1;
    op->same_mask = 0;
    int decided = 0;
    for (uint32_t i = 0; i < op->ndown; i++)
        quorum_reply(&op->q, op->down[i], 0, NULL, &decided);
}

static void key_start_read(struct op *op)
{
    struct cluster *cl = op->cl;
    uint16_t self = (uint16_t)cl->mb.self;
    op->phase = PH_READ;
    op_quorum_init(op, op->r);
    int decided = 0;
    /* Our own answer carries no object: the exec step reads the local
     * store itself, and repair never targets us. */
    quorum_reply(&op->q, self, 1, NULL, &decided);
    trace_mark(op, self, TR_READ_ASKED | TR_READ_OK, at_read);
    /* With our copy's digest, a replica that holds the same bytes answers
     * +SAME instead of them: nothing to send, parse or merge.  A batched
     * read gets the digest when its batch leaves (read_digest_now). */
    /* (a key a write group of this turn deferred has a copy: not
     * encoded here for that, the digest is taken as the batch leaves) */
    int mine = db_deferred_type(cl->node, op->key, op->klen) >= 0 ||
               store_get(cl->node->store, op->key, op->klen) != NULL;
    char hex[17] = "0000000000000000";
    if (mine && !op->co->ev_flush)
        read_digest_now(cl, op, hex);
    for (uint32_t i = 0; i < op->nrep && op->q.state == QUORUM_PENDING; i++) {
        if (op->rep[i] == self)
            continue;
        int by_digest = mine && deltas_to(cl, op->rep[i]);
        if (send_rep(cl, op, op->rep[i], by_digest ? B_GETD : B_GET,
                     by_digest ? hex : NULL, by_digest ? 16 : 0) != 0) {
            quorum_reply(&op->q, op->rep[i], 0, NULL, &decided);
            trace_mark(op, op->rep[i], TR_READ_ASKED | TR_READ_FAILED,
                       at_read);
        } else {
            trace_mark(op, op->rep[i], TR_READ_ASKED, NULL);
        }
    }
    /* R answers may already be in (R = 1, or peers failed fast). */
    if (op->q.state == QUORUM_MET) {
        /* still ask the rest, for read repair, but don't wait */
        key_exec_and_write(op);
    } else if (op->q.state == QUORUM_FAILED) {
        quorum_failed(op);
        op_finish(op);
    } else {
        dl_add(op);
    }
}

/* Everything answered so far is merged into the local copy first. */
static void merge_answers(struct op *op)
{
    for (uint32_t i = 0; i < op->q.n; i++)
        if (op->q.answer[i] == QA_OK && op->q.obj[i] &&
            op->q.node[i] != (uint16_t)op->cl->mb.self)
            db_merge_object(op->cl->node, op->key, op->klen, op->q.obj[i],
                            NULL);
}

/* The owner target m stands in for, or NO_MEMBER. */
static uint16_t standin_of(const struct op *op, uint16_t m)
{
    for (uint32_t i = 0; i < op->nrep; i++)
        if (op->rep[i] == m)
            return op->standin[i];
    return NO_MEMBER;
}

/* The object to a replica (R.PUT) or to a stand-in, with its hint
 * (R.HPUT).  op NULL: fire and forget. */
static int send_object(struct cluster *cl, struct op *op, uint16_t m,
                       uint16_t owner, uint8_t purpose, const char *key,
                       size_t klen, const struct object *o)
{
    struct dyn_arg av[4] = {{"R.PUT", 5},
                            {key, klen},
                            {(const char *)object_bytes(o), object_size(o)},
                            {NULL, 0}};
    if (owner == NO_MEMBER)
        return op && purpose == P_WRITE
                   ? send_rep(cl, op, m, B_PUT, object_bytes(o),
                              object_size(o))
                   : send_to(cl, op, m, purpose, 3, av);
    av[0].p = "R.HPUT";
    av[0].len = 6;
    av[3].p = cl->mb.m[owner].name;
    av[3].len = strlen(av[3].p);
    return send_to(cl, op, m, purpose, 4, av);
}

static void send_repair(struct cluster *cl, const struct op *op,
                        uint16_t m, uint16_t owner, const char *key,
                        size_t klen, const struct object *mine)
{
    if (send_object(cl, NULL, m, owner, P_REPAIR, key, klen, mine) != 0)
        return;
    cl->read_repairs++;
    trace_mark(op, m, TR_REPAIRED, NULL);
    struct evlog_entry *e = evlog_add(&cl->node->events,
                                      node_wall_ms(cl->node), EV_READ_REPAIR);
    if (e) {
        evlog_field_bytes(e, "key", key, klen);
        evlog_field(e, "replica", "%s", member_name(cl, m));
        if (owner != NO_MEMBER)
            evlog_field(e, "for", "%s", member_name(cl, owner));
    }
}

/* 1 when member m answered op's read +SAME while our copy had the digest
 * it asked about. */
static int same_answered(const struct op *op, uint16_t m)
{
    int i = quorum_slot(&op->q, m);
    return i >= 0 && ((op->same_mask >> i) & 1);
}

/* Read repair: every replica whose answer lacks part of what the
 * coordinator now holds gets it.  mine is borrowed: nothing below changes
 * the store. */
static void key_repair(struct op *op)
{
    struct cluster *cl = op->cl;
    const struct object *mine = store_get(cl->node->store, op->key, op->klen);
    if (!mine)
        return;
    uint16_t stale[QUORUM_MAX];
    uint32_t k = quorum_stale(&op->q, mine, stale, QUORUM_MAX);
    int moved = -1; /* our copy is no longer the one +SAME answered */
    for (uint32_t i = 0; i < k; i++) {
        if (stale[i] == (uint16_t)cl->mb.self)
            continue;
        if (same_answered(op, stale[i])) {
            if (moved < 0)
                moved = object_digest(mine) != op->rdigest;
            if (!moved)
                continue; /* it holds exactly our copy */
        }
        send_repair(cl, op, stale[i], standin_of(op, stale[i]), op->key,
                    op->klen, mine);
    }
}

/* EV_SLOPPY_WRITE: the key, and who stood in for whom. */
static void sloppy_event(const struct op *op)
{
    struct cluster *cl = op->cl;
    struct evlog_entry *e = evlog_add(&cl->node->events,
                                      node_wall_ms(cl->node),
                                      EV_SLOPPY_WRITE);
    if (!e)
        return;
    evlog_field_bytes(e, "key", op->key, op->klen);
    char buf[EVENT_VALUE_MAX];
    size_t len = 0;
    buf[0] = 0;
    for (uint32_t i = 0; i < op->nrep && len < sizeof(buf); i++)
        if (op->standin[i] != NO_MEMBER)
            len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s>%s",
                                    len ? " " : "",
                                    member_name(cl, op->standin[i]),
                                    member_name(cl, op->rep[i]));
    if (buf[0])
        evlog_field(e, "standins", "%s", buf);
    if (op->ndown)
        evlog_field(e, "no_standin", "%u", op->ndown);
}

static void key_write(struct op *op, struct object *base, uint64_t d0,
                      int had);

/* The open group of key, or NULL. */
static struct op *group_of(struct coord *co, const char *key, size_t klen)
{
    for (uint32_t i = 0; i < co->nopen; i++)
        if (co->open[i]->klen == klen &&
            memcmp(co->open[i]->key, key, klen) == 0)
            return co->open[i];
    return NULL;
}

/* 1 when op writes to the same targets, with the same W, as leader. */
static int group_fits(const struct op *leader, const struct op *op)
{
    return leader->nrep == op->nrep && leader->ndown == op->ndown &&
           leader->w == op->w && leader->part == op->part &&
           memcmp(leader->rep, op->rep, sizeof(op->rep[0]) * op->nrep) == 0 &&
           memcmp(leader->standin, op->standin,
                  sizeof(op->standin[0]) * op->nrep) == 0 &&
           memcmp(leader->down, op->down, sizeof(op->down[0]) * op->ndown) ==
               0;
}

/* The group's writes are all in the local copy: the leader encodes it and
 * replicates that version (key_write). */
static void group_close(struct op *op)
{
    struct coord *co = op->co;
    for (uint32_t i = 0; i < co->nopen; i++)
        if (co->open[i] == op) {
            co->open[i] = co->open[--co->nopen];
            break;
        }
    struct object *base = op->gbase;
    op->gbase = NULL;
    key_write(op, base, op->gd0, op->ghad);
}

/* Runs op's command here with typed writes allowed to defer when the
 * op may lead or follow a group. */
static void exec_op(struct op *op, int defer)
{
    struct node *n = op->cl->node;
    dbuf_reset(&op->reply);
    n->typed_defer_turn = defer;
    op->failed =
        exec_local(op->cl, op->cmd, op->resp, op->argc, op->argv, &op->reply);
    n->typed_defer_turn = 0;
    if (op->origin == FROM_SUBMIT && op->sub)
        op->sub->executed = 1;
}

static void key_exec_and_write(struct op *op)
{
    struct cluster *cl = op->cl;
    struct coord *co = op->co;
    struct trace *t = op_trace(op);
    if (t && op->q_live && op->phase == PH_READ)
        t->read_quorum_us = trace_elapsed(t, node_mono_us(cl->node));
    if (op->q_live)
        merge_answers(op);
    int writes = !(op->cmd->flags & CMD_READONLY);
    struct op *g = writes ? group_of(co, op->key, op->klen) : NULL;
    if (g && !group_fits(g, op)) {
        group_close(g);
        g = NULL;
    }
    if (g) {
        /* the leader's version will hold this write too */
        exec_op(op, 1);
        if (op->failed) {
            op->phase = PH_DONE;
            op_finish(op);
            return;
        }
        if (g->nfollow == g->follow_cap) {
            g->follow_cap = g->follow_cap ? g->follow_cap * 2 : 16;
            g->follow = dyn_realloc(g->follow,
                                    sizeof(*g->follow) * g->follow_cap);
        }
        g->follow[g->nfollow++] = op;
        op->phase = PH_GROUP;
        op->is_write = 1;
        cl->writes_grouped++;
        return;
    }
    /* A blind write always makes a new version (an error reply aside), so
     * only the others compare digests to see whether the store changed. */
    const struct object *before =
        op->blind ? NULL : store_get(cl->node->store, op->key, op->klen);
    uint64_t d0 = before ? object_digest(before) : 0;
    int had = before != NULL;
    /* a large object a write may change: kept, to send deltas of it */
    struct object *base =
        before && object_size(before) >= DELTA_MIN_OBJ && writes &&
                cl->node->cfg.replica_deltas
            ? object_dup(before)
            : NULL;
    int may_lead = writes && co->ev_flush && co->nopen < GROUP_MAX;
    exec_op(op, may_lead);
    if (may_lead &&
        db_deferred_type(cl->node, op->key, op->klen) >= 0) {
        if (op->failed) {
            /* (a failed command writes nothing; should one have, its
             * write goes now, encoded) */
            (void)store_get(cl->node->store, op->key, op->klen);
        } else {
            /* the first deferred write of the key this turn: it leads */
            op->gbase = base;
            op->gd0 = d0;
            op->ghad = had;
            op->phase = PH_GROUP;
            op->is_write = 1;
            co->open[co->nopen++] = op;
            cl->write_groups++;
            if (!co->flush_armed) {
                co->flush_armed = 1;
                event_active(co->ev_flush, EV_TIMEOUT, 1);
            }
            return;
        }
    }
    key_write(op, base, d0, had);
}

/* The write phase of op, whose command ran here: base (owned; NULL when
 * small or not kept) is the copy before it, of digest d0 (had: there was
 * one).  A write that changed nothing, or a read, ends here (a read with
 * its read repair). */
static void key_write(struct op *op, struct object *base, uint64_t d0,
                      int had)
{
    struct cluster *cl = op->cl;
    uint16_t self = (uint16_t)cl->mb.self;
    const struct object *after = store_get(cl->node->store, op->key, op->klen);
    uint64_t d1 = after && !op->blind && had ? object_digest(after) : 0;
    int changed = after && (op->blind || !had || d1 != d0);
    if (!changed || op->failed) {
        /* a read, or a write that decided not to write */
        object_free(base);
        if (op->q_live && op->phase == PH_READ)
            key_repair(op);
        op->phase = PH_DONE;
        op_finish(op);
        return;
    }
    /* the delta that turns base into the new version, when it is less
     * than half of it: the edit the engine journaled for this write, if
     * it made one (a disk node), else made here */
    struct dbuf delta;
    dbuf_init(&delta);
    int has_delta =
        base &&
        (engine_last_edit(cl->node->engine, op->key, op->klen, d0, d1,
                          &delta) == 0 ||
         delta_make(object_bytes(base), object_size(base), d0,
                    object_bytes(after), object_size(after), d1,
                    object_size(after) / 2, &delta) == 0);
    object_free(base);
    /* replicate the new version: it goes to every replica below, which
     * also repairs the stale ones (no separate read repair) */
    /* after is borrowed: sending copies it, and nothing changes the store
     * until the last send_to.  The op keeps its own copy for the hints of
     * targets that miss it, since by the time an answer fails the local
     * copy may have changed or gone (a stand-in hands it off and drops
     * it). */
    const struct object *obj = after;
    object_free(op->written);
    op->written = object_dup(after);
    if (op->q_live)
        quorum_free(&op->q);
    op->phase = PH_WRITE;
    op->is_write = 1;
    op_quorum_init(op, op->w);
    int decided = 0;
    quorum_reply(&op->q, self, 1, NULL, &decided);
    trace_mark(op, self, TR_WRITE_ASKED | TR_WRITE_OK, at_write);
    int sloppy = op->ndown > 0;
    for (uint32_t i = 0; i < op->nrep; i++) {
        sloppy |= op->standin[i] != NO_MEMBER;
        if (op->rep[i] == self) {
            /* we stand in for an owner ourselves */
            if (op->standin[i] != NO_MEMBER)
                handoff_hint(cl, op->standin[i], op->key, op->klen,
                             op->written);
            continue;
        }
        int sent;
        int owner = op->standin[i] == NO_MEMBER;
        int resync = owner && has_delta && resync_of(op, op->rep[i], 0);
        if (has_delta && owner && !resync && deltas_to(cl, op->rep[i])) {
            sent = send_rep(cl, op, op->rep[i], B_DPUT, delta.p, delta.len);
            cl->deltas_sent += sent == 0;
            cl->delta_bytes += sent == 0 ? delta.len : 0;
            cl->delta_object_bytes += sent == 0 ? object_size(obj) : 0;
        } else if (resync) {
            sent = send_resync(cl, op, op->rep[i], obj);
        } else {
            sent = send_object(cl, op, op->rep[i], op->standin[i], P_WRITE,
                               op->key, op->klen, obj);
        }
        if (sent != 0) {
            quorum_reply(&op->q, op->rep[i], 0, NULL, &decided);
            trace_mark(op, op->rep[i], TR_WRITE_ASKED | TR_WRITE_FAILED,
                       at_write);
        } else {
            trace_mark(op, op->rep[i], TR_WRITE_ASKED, NULL);
        }
    }
    dbuf_free(&delta);
    /* owners nobody could stand in for: the hints stay here */
    for (uint32_t i = 0; i < op->ndown; i++) {
        handoff_hint(cl, op->down[i], op->key, op->klen, op->written);
        trace_mark(op, op->down[i], TR_HINT_KEPT, NULL);
    }
    cl->sloppy_writes += sloppy;
    if (sloppy)
        sloppy_event(op);
    /* a partition on the move: the node that gains it gets the write too */
    uint16_t extra[QUORUM_MAX];
    uint32_t ne = rebalance_extra_targets(cl, op->part, extra, QUORUM_MAX);
    for (uint32_t i = 0; i < ne; i++)
        if (extra[i] != self && cl_reachable(cl, extra[i]))
            send_object(cl, NULL, extra[i], NO_MEMBER, P_REPAIR, op->key,
                        op->klen, obj);
    if (op->q.state == QUORUM_MET) {
        op_finish(op);
    } else if (op->q.state == QUORUM_FAILED) {
        quorum_failed(op);
        op_finish(op);
    } else {
        dl_del(op);
        dl_add(op);
    }
}

static void key_forward(struct op *op)
{
    struct cluster *cl = op->cl;
    op->phase = PH_FORWARD;
    while (op->fwd_next < op->nrep) {
        uint16_t m = op->rep[op->fwd_next++];
        if (!cl_reachable(cl, (int)m))
            continue;
        struct dyn_arg *av = dyn_malloc(sizeof(*av) * (size_t)(op->argc + 2));
        char rv[2] = {(char)('0' + op->resp), 0};
        av[0].p = "FWD";
        av[0].len = 3;
        av[1].p = rv;
        av[1].len = 1;
        for (int i = 0; i < op->argc; i++)
            av[i + 2] = op->argv[i];
        int rc = send_to(cl, op, m, P_FORWARD, op->argc + 2, av);
        dyn_free(av);
        if (rc == 0) {
            cl->forwarded++;
            if (!op->on_dl)
                dl_add(op);
            return;
        }
    }
    cl->noquorum_reads++;
    reply_err(op, "NOQUORUM 0 of %u replicas of the key are reachable",
              op->nrep);
    op->failed = OP_UNAVAILABLE;
    op_finish(op);
}

/* A forward candidate after the one that answered: there is one. */
static int forward_left(const struct op *op)
{
    for (uint32_t i = op->fwd_next; i < op->nrep; i++)
        if (cl_reachable(op->cl, (int)op->rep[i]))
            return 1;
    return 0;
}

static void key_start(struct op *op)
{
    struct cluster *cl = op->cl;
    const struct dyn_arg *k = &op->argv[op->cmd->first_key];
    op->key = (char *)k->p; /* in the args copy: not freed separately */
    op->klen = k->len;
    uint32_t part = ring_partition_of(&cl->ring, op->key, op->klen);
    op->part = part;
    targets_of(cl, op, part);
    int self = (int)cl->mb.self, mine = 0;
    for (uint32_t i = 0; i < op->nrep; i++)
        if (op->rep[i] == (uint16_t)self)
            mine = 1;
    if (!mine && op->origin == FROM_PEER && op->nrep < QUORUM_MAX &&
        cl->ring.nnodes) {
        /* the forwarder saw us among the targets and we do not: views
         * differ while failures are being detected.  Take part anyway
         * rather than bounce it. */
        op->rep[op->nrep] = (uint16_t)self;
        op->standin[op->nrep++] = op->ndown ? op->down[--op->ndown]
                                            : NO_MEMBER;
        mine = 1;
    }
    if (!mine) {
        if (!cl->ring.nnodes) {
            reply_err(op, "CLUSTERDOWN this node has not joined a ring "
                          "yet (its seeds have not answered)");
            op->failed = OP_UNAVAILABLE;
            op_finish(op);
            return;
        }
        key_forward(op);
        return;
    }
    cl->coordinated++;
    trace_start(op);
    uint32_t r = override_of(op, "r", (uint32_t)cl->node->cfg.r);
    uint32_t w = override_of(op, "w", (uint32_t)cl->node->cfg.w);
    /* R and W count against N, not against the targets reachable now: a
     * W the reachable nodes cannot give fails fast */
    op->r = DYN_MIN(r, op->nrep + op->ndown);
    op->w = DYN_MIN(w, op->nrep + op->ndown);
    if (op->r < 1)
        op->r = 1;
    if (op->w < 1)
        op->w = 1;
    struct trace *t = op_trace(op);
    if (t) {
        t->r = op->r;
        t->w = op->w;
    }
    /* A blind write supersedes the local state without reading it first:
     * only the DYNAMO.* writes, whose context the client supplies.  Plain
     * SET reads R replicas first, so that with R + W > N its version
     * descends from the latest acknowledged write instead of becoming a
     * sibling of it: GET's winner rule (highest timestamp, then actor)
     * cannot order two writes made in the same millisecond, so a blind SET
     * could lose to the older one. */
    op->blind = op->cmd->route == ROUTE_KEY_BLIND;
    if (op->blind)
        key_exec_and_write(op);
    else
        key_start_read(op);
}

/* ---- fan-out, sequences, gathers ---------------------------------------- */

static void child_start(struct op *parent, uint32_t slot,
                        const struct command *cmd, int argc,
                        const struct dyn_arg *argv)
{
    struct op *c = op_new(parent->co, OP_KEY);
    c->origin = FROM_PARENT;
    c->parent = parent;
    c->slot = slot;
    c->resp = parent->resp;
    c->cmd = cmd;
    args_copy(c, argc, argv);
    parent->refs++;
    op_run(c);
}

static const struct command *lookup(struct cluster *cl, const char *name)
{
    return command_lookup(cl->node->commands, name, strlen(name));
}

static void fanout_start(struct op *op)
{
    struct cluster *cl = op->cl;
    const struct command *cmd = op->cmd;
    const char *sub = cmd->per_key ? cmd->per_key : cmd->name;
    int step = cmd->key_step > 0 ? cmd->key_step : 1;
    op->combine = cmd->combine;
    if ((op->argc - 1) % step != 0) {
        /* MSET k v k: Redis's arity error, and nothing is written */
        reply_err(op, "ERR wrong number of arguments for '%s' command",
                  cmd->name);
        op_finish(op);
        return;
    }
    const struct command *sc = lookup(cl, sub);
    op->nchild = (uint32_t)((op->argc - 1) / step);
    op->child = dyn_calloc(op->nchild ? op->nchild : 1, sizeof(struct dbuf));
    op->child_failed = dyn_calloc(op->nchild ? op->nchild : 1, 1);
    op->phase = PH_GATHER;
    op->refs++; /* hold the op while children start synchronously */
    for (uint32_t i = 0; i < op->nchild; i++) {
        struct dyn_arg av[3];
        av[0].p = sub;
        av[0].len = strlen(sub);
        av[1] = op->argv[1 + i * (uint32_t)step];
        int ac = 2;
        if (step == 2) {
            av[2] = op->argv[2 + i * 2];
            ac = 3;
        }
        child_start(op, i, sc, ac, av);
    }
    op->refs--;
    op_maybe_free(op);
}

static void combine_children(struct op *op)
{
    dbuf_reset(&op->reply);
    for (uint32_t i = 0; i < op->nchild; i++) {
        if (op->combine != COMBINE_ARRAY && op->child_failed[i]) {
            dbuf_append(&op->reply, op->child[i].p, op->child[i].len);
            op->failed = 1;
            return;
        }
    }
    switch (op->combine) {
    case COMBINE_ARRAY:
        reply_array(&op->reply, op->nchild);
        for (uint32_t i = 0; i < op->nchild; i++)
            dbuf_append(&op->reply, op->child[i].p, op->child[i].len);
        break;
    case COMBINE_OK:
        reply_ok(&op->reply);
        break;
    default: {
        long long sum = 0;
        for (uint32_t i = 0; i < op->nchild; i++)
            if (op->child[i].len > 1 && op->child[i].p[0] == ':')
                sum += strtoll(op->child[i].p + 1, NULL, 10);
        reply_int(&op->reply, sum);
        break;
    }
    }
}

/* Decodes an array of bulk strings from a peer into keys. */
static void gather_combine(struct op *op);

static void multi_next(struct op *op);

static void op_child_done(struct op *parent, uint32_t slot,
                          const struct dbuf *reply, int failed)
{
    if (slot != UINT32_MAX) {
        dbuf_reset(&parent->child[slot]);
        dbuf_append(&parent->child[slot], reply->p, reply->len);
        parent->child_failed[slot] = (unsigned char)failed;
        parent->ndone++;
    }
    if (parent->finished)
        return;
    if (parent->ndone < parent->nchild)
        return;
    if (parent->kind == OP_MULTI) {
        multi_next(parent);
        return;
    }
    combine_children(parent);
    op_finish(parent);
}

/* ---- multi-key commands (ROUTE_GATHER) ---------------------------------- */

#define MULTI_MAX_KEYS 1024

/* Starts one child per key: argv = { verb, key [, bytes] }. */
static void multi_children(struct op *op, const char *verb,
                           const struct dbuf *bytes)
{
    const struct command *sc = lookup(op->cl, verb);
    dyn_assert(sc != NULL);
    for (uint32_t i = 0; i < op->nchild; i++)
        op->child_failed[i] = 0;
    op->ndone = 0;
    op->refs++; /* hold the op while children start synchronously */
    for (uint32_t i = 0; i < op->nchild; i++) {
        struct dyn_arg av[3];
        av[0].p = verb;
        av[0].len = strlen(verb);
        av[1] = op->argv[op->mkeys[i]];
        av[2].p = bytes ? bytes[i].p : NULL;
        av[2].len = bytes ? bytes[i].len : 0;
        int saved = op->resp;
        op->resp = 2; /* the children's replies are parsed here */
        child_start(op, i, sc, bytes ? 3 : 2, av);
        op->resp = saved;
    }
    op->refs--;
}

static void multi_start(struct op *op)
{
    int pos[MULTI_MAX_KEYS];
    int n = command_keys(op->cmd, op->argc, op->argv, pos, MULTI_MAX_KEYS);
    if (n < 0 || n == 0) {
        /* numkeys is not a count of the keys given: the handler words
         * Redis's error, on no data */
        dbuf_reset(&op->reply);
        struct store *real = op->cl->node->store;
        struct store *scratch = store_new(1);
        struct engine *e = op->cl->node->engine;
        op->cl->node->store = scratch;
        op->cl->node->engine = NULL;
        op->failed = exec_local(op->cl, op->cmd, op->resp, op->argc, op->argv,
                                &op->reply);
        op->cl->node->store = real;
        op->cl->node->engine = e;
        store_free(scratch);
        op_finish(op);
        return;
    }
    op->mkeys = dyn_malloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) {
        const struct dyn_arg *k = &op->argv[pos[i]];
        int dup = 0;
        for (uint32_t j = 0; j < op->nmkeys && !dup; j++) {
            const struct dyn_arg *o = &op->argv[op->mkeys[j]];
            dup = o->len == k->len && memcmp(o->p, k->p, k->len) == 0;
        }
        if (!dup)
            op->mkeys[op->nmkeys++] = pos[i];
    }
    op->nchild = op->nmkeys;
    op->child = dyn_calloc(op->nchild, sizeof(struct dbuf));
    op->child_failed = dyn_calloc(op->nchild, 1);
    dbuf_init(&op->mreply);
    op->phase = PH_GATHER;
    multi_children(op, "dynamo.object", NULL);
    op_maybe_free(op);
}

/* A child's RESP2 bulk reply: 1 and the bytes, 0 for nil, -1 otherwise. */
static int multi_bulk(const struct dbuf *b, const char **p, size_t *len)
{
    if (b->len >= 5 && memcmp(b->p, "$-1\r\n", 5) == 0)
        return 0;
    if (b->len < 4 || b->p[0] != '$')
        return -1;
    char *end;
    long long n = strtoll(b->p + 1, &end, 10);
    if (n < 0 || end[0] != '\r' || (size_t)(end + 2 - b->p) + (size_t)n + 2 >
                                         b->len)
        return -1;
    *p = end + 2;
    *len = (size_t)n;
    return 1;
}

/* Every key read: run the handler on their copies; every key merged:
 * reply. */
static void multi_next(struct op *op)
{
    struct cluster *cl = op->cl;
    struct node *n = cl->node;
    for (uint32_t i = 0; i < op->nchild; i++) {
        if (op->child_failed[i]) {
            dbuf_reset(&op->reply);
            dbuf_append(&op->reply, op->child[i].p, op->child[i].len);
            op->failed = OP_FAILED;
            op_finish(op);
            return;
        }
    }
    if (op->mwriting) {
        dbuf_reset(&op->reply);
        dbuf_append(&op->reply, op->mreply.p, op->mreply.len);
        op->failed = op->mfailed;
        op_finish(op);
        return;
    }
    /* the copies, in a scratch store the handler sees as the keyspace */
    struct store *scratch = store_new(1);
    uint64_t *before = dyn_calloc(op->nchild, sizeof(*before));
    for (uint32_t i = 0; i < op->nchild; i++) {
        const char *p;
        size_t len;
        struct object *o = NULL;
        int rc = multi_bulk(&op->child[i], &p, &len);
        if (rc > 0 && db_parse_object(n, p, len, &o) == 0) {
            before[i] = object_digest(o);
            store_put_take(scratch, op->argv[op->mkeys[i]].p,
                           op->argv[op->mkeys[i]].len, o);
        } else if (rc != 0) {
            reply_err(op, "ERR a replica answered %s with %s",
                      "DYNAMO.OBJECT", "an object this node cannot read");
            op->failed = OP_FAILED;
            dyn_free(before);
            store_free(scratch);
            op_finish(op);
            return;
        }
    }
    struct store *real = n->store;
    struct engine *e = n->engine;
    n->store = scratch;
    n->engine = NULL;
    op->mfailed = exec_local(cl, op->cmd, op->resp, op->argc, op->argv,
                             &op->mreply);
    n->store = real;
    n->engine = e;
    /* the dots the handler used are this node's: reserve them before any
     * replica holds one (db.c's essay on counters) */
    if (e && engine_reserve_counters(e, n->dot_counter) != 0) {
        reply_err(op, "ERR write failed: the node could not reserve its "
                      "dot counters on disk");
        op->failed = OP_FAILED;
        dyn_free(before);
        store_free(scratch);
        op_finish(op);
        return;
    }
    struct dbuf *bytes = dyn_calloc(op->nchild, sizeof(*bytes));
    uint32_t nw = 0;
    for (uint32_t i = 0; i < op->nchild; i++) {
        const struct dyn_arg *k = &op->argv[op->mkeys[i]];
        const struct object *o = store_get(scratch, k->p, k->len);
        if (!o || object_digest(o) == before[i])
            continue;
        dbuf_init(&bytes[nw]);
        dbuf_append(&bytes[nw], object_bytes(o), object_size(o));
        op->mkeys[nw++] = op->mkeys[i];
    }
    dyn_free(before);
    store_free(scratch);
    if (nw == 0 || op->mfailed) {
        for (uint32_t i = 0; i < nw; i++)
            dbuf_free(&bytes[i]);
        dyn_free(bytes);
        dbuf_reset(&op->reply);
        dbuf_append(&op->reply, op->mreply.p, op->mreply.len);
        op->failed = op->mfailed;
        op_finish(op);
        return;
    }
    op->mwriting = 1;
    for (uint32_t i = 0; i < op->nchild; i++)
        dbuf_free(&op->child[i]);
    op->nchild = nw;
    multi_children(op, "dynamo.merge", bytes);
    for (uint32_t i = 0; i < nw; i++)
        dbuf_free(&bytes[i]);
    dyn_free(bytes);
}

/* A gather's deadline passed: -TIMEOUT with the figures and the names of
 * the nodes still silent.  Their answers may come later; peer_answer then
 * finds the op finished and drops them (the op lives until they are in). */
static void gather_timeout(struct op *op)
{
    struct cluster *cl = op->cl;
    uint32_t asked = 0, silent = 0;
    struct dbuf names;
    dbuf_init(&names);
    for (uint32_t m = 0; m < op->nchild; m++) {
        if (!op->silent || m == cl->mb.self)
            continue;
        if (op->silent[m]) {
            dbuf_printf(&names, "%s%s", silent ? ", " : "", cl->mb.m[m].name);
            silent++;
            asked++;
        } else if (op->child[m].len) {
            asked++;
        }
    }
    dbuf_append(&names, "", 1);
    reply_err(op, "TIMEOUT %u of %u nodes answered %s within %d ms (no "
                  "answer from %s)%s",
              asked - silent, asked, op->cmd->name,
              cl->node->cfg.request_timeout_ms, names.p,
              op->combine == COMBINE_FLUSH ? "; nothing is rolled back" : "");
    dbuf_free(&names);
}

/* COMBINE_NODES' answer (nodes_start), when every member answered or at
 * the deadline: the records of the members that answered, concatenated
 * (this node's first), then one {node, unanswered} record per member that
 * failed or is still silent.  The local handler's error is the answer. */
static void nodes_combine(struct op *op)
{
    struct cluster *cl = op->cl;
    uint32_t self = cl->mb.self;
    if (op->finished)
        return;
    if (op->child_failed[self]) {
        dbuf_reset(&op->reply);
        dbuf_append(&op->reply, op->child[self].p, op->child[self].len);
        op->failed = 1;
        op_finish(op);
        return;
    }
    long long total = 0;
    struct dbuf body, miss;
    dbuf_init(&body);
    dbuf_init(&miss);
    for (uint32_t k = 0; k < op->nchild; k++) {
        uint32_t m = k == 0 ? self : k <= self ? k - 1 : k;
        const char *p = op->child[m].p;
        size_t len = op->child[m].len;
        if (op->silent[m] || op->child_failed[m]) {
            char why[160];
            if (op->silent[m]) {
                snprintf(why, sizeof(why), "no answer within %d ms",
                         cl->node->cfg.request_timeout_ms);
            } else {
                /* "-ERR text\r\n" -> "text" */
                size_t s = len && p[0] == '-' ? 1 : 0, e = len;
                while (e > s && (p[e - 1] == '\r' || p[e - 1] == '\n'))
                    e--;
                if (e - s > 4 && memcmp(p + s, "ERR ", 4) == 0)
                    s += 4;
                snprintf(why, sizeof(why), "%.*s", (int)(e - s), p + s);
            }
            reply_map(&miss, 2, 2);
            reply_bulk_cstr(&miss, "node");
            reply_bulk_cstr(&miss, cl->mb.m[m].name);
            reply_bulk_cstr(&miss, "unanswered");
            reply_bulk_cstr(&miss, why);
            total++;
            continue;
        }
        const char *nl = len >= 4 && p[0] == '*' ? memchr(p, '\n', len)
                                                 : NULL;
        if (!nl)
            continue;
        total += strtoll(p + 1, NULL, 10);
        dbuf_append(&body, nl + 1, len - (size_t)(nl + 1 - p));
    }
    dbuf_reset(&op->reply);
    reply_array(&op->reply, total);
    dbuf_append(&op->reply, body.p, body.len);
    dbuf_append(&op->reply, miss.p, miss.len);
    dbuf_free(&body);
    dbuf_free(&miss);
    op_finish(op);
}

/* Parses a child reply produced by reply.c (local) or relayed from a peer
 * (stored re-encoded in RESP2). */
static void gather_combine(struct op *op)
{
    if (op->finished)
        return;
    if (op->ks) {
        ks_next(op);
        return;
    }
    if (op->combine == COMBINE_NODES) {
        nodes_combine(op);
        return;
    }
    for (uint32_t i = 0; i < op->nchild; i++)
        if (op->child_failed[i]) {
            dbuf_reset(&op->reply);
            dbuf_append(&op->reply, op->child[i].p, op->child[i].len);
            op->failed = 1;
            op_finish(op);
            return;
        }
    dbuf_reset(&op->reply);
    if (op->combine == COMBINE_COUNT) {
        long long sum = 0;
        for (uint32_t i = 0; i < op->nchild; i++)
            if (op->child[i].len > 1 && op->child[i].p[0] == ':')
                sum += strtoll(op->child[i].p + 1, NULL, 10);
        reply_int(&op->reply, sum);
    } else if (op->combine == COMBINE_FLUSH) {
        reply_ok(&op->reply);
    } else if (op->combine == COMBINE_RANDOM) {
        uint32_t n = 0, pick;
        for (uint32_t i = 0; i < op->nchild; i++)
            if (op->child[i].len && op->child[i].p[0] == '$' &&
                op->child[i].p[1] != '-')
                n++;
        if (n == 0) {
            reply_null(&op->reply, op->resp);
        } else {
            pick = (uint32_t)(node_random(op->cl->node) % n);
            for (uint32_t i = 0; i < op->nchild; i++)
                if (op->child[i].len && op->child[i].p[0] == '$' &&
                    op->child[i].p[1] != '-' && pick-- == 0) {
                    dbuf_append(&op->reply, op->child[i].p, op->child[i].len);
                    break;
                }
        }
    } else {
        /* KEYS / SCAN: children are "*k\r\n" + bulks; concatenate */
        long long total = 0;
        struct dbuf body;
        dbuf_init(&body);
        for (uint32_t i = 0; i < op->nchild; i++) {
            const char *p = op->child[i].p;
            size_t len = op->child[i].len;
            if (len < 4 || p[0] != '*')
                continue;
            const char *nl = memchr(p, '\n', len);
            if (!nl)
                continue;
            total += strtoll(p + 1, NULL, 10);
            dbuf_append(&body, nl + 1, len - (size_t)(nl + 1 - p));
        }
        if (op->combine == COMBINE_SCAN) {
            reply_array(&op->reply, 2);
            char cur[24];
            int l = snprintf(cur, sizeof(cur), "%llu",
                             (unsigned long long)op->scan_next);
            reply_bulk(&op->reply, cur, (size_t)l);
        }
        reply_array(&op->reply, total);
        dbuf_append(&op->reply, body.p, body.len);
        dbuf_free(&body);
    }
    op_finish(op);
}

static void ks_start(struct op *op);

/* An op that gathers one answer per member: a child buffer, a failed
 * flag and a silent flag for each, in the gather phase. */
static void gather_members(struct op *op)
{
    op->nchild = op->cl->mb.n;
    op->child = dyn_calloc(op->nchild, sizeof(struct dbuf));
    op->child_failed = dyn_calloc(op->nchild, 1);
    op->silent = dyn_calloc(op->nchild, 1);
    op->phase = PH_GATHER;
}

/* COMBINE_NODES: what each node recorded or holds (DYNAMO.TRACE,
 * DYNAMO.EVENTS, DYNAMO.ROOTS, DYNAMO.GOSSIP).  Without CLUSTER the
 * command runs here.  With it, the command without its CLUSTER runs here
 * and, as R.NODES cmd args..., on every reachable member; the answers,
 * arrays in RESP2 (a peer answers in RESP2, so the local part is rendered
 * so too), are concatenated, this node's first.  The answer is always
 * what the nodes that answered said: a member that could not be asked
 * (down, not linked), answered an error, or stayed silent until
 * request-timeout-ms (killed, cut off by a fault) adds one record
 * {node, unanswered: why} at the end instead -- never a -TIMEOUT, so a
 * dead node does not hide what the live ones know.  Tombstones (left,
 * removed) are not members to ask.  A syntax error here is the answer,
 * nobody is asked. */
static void nodes_start(struct op *op)
{
    struct cluster *cl = op->cl;
    const struct command *cmd = op->cmd;
    if (op->argc < 2 || !dyn_arg_is(op->argv[1].p, op->argv[1].len,
                                    "cluster")) {
        op->failed = exec_local(cl, cmd, op->resp, op->argc, op->argv,
                                &op->reply)
                         ? OP_FAILED
                         : 0;
        op_finish(op);
        return;
    }
    struct dyn_arg *av = dyn_malloc(sizeof(*av) * (size_t)op->argc);
    av[0].p = "R.NODES";
    av[0].len = 7;
    av[1] = op->argv[0];
    for (int i = 2; i < op->argc; i++)
        av[i] = op->argv[i];
    op->combine = COMBINE_NODES;
    gather_members(op);
    op->refs++;
    uint32_t self = cl->mb.self;
    op->child_failed[self] = exec_local(cl, cmd, 2, op->argc - 1, av + 1,
                                        &op->child[self]) != 0;
    op->ndone++;
    for (uint32_t m = 0; m < cl->mb.n; m++) {
        if (m == self)
            continue;
        if (op->child_failed[self] ||
            MEMBER_IS_TOMBSTONE(cl->mb.m[m].status)) {
            reply_array(&op->child[m], 0);
            op->ndone++;
        } else if (!cl_reachable(cl, (int)m) ||
                   send_to(cl, op, (uint16_t)m, P_GATHER, op->argc,
                           av) != 0) {
            reply_errorf(&op->child[m], "ERR %s is %s", cl->mb.m[m].name,
                         cl->mb.m[m].status == MEMBER_UP ? "not linked"
                         : member_status_name(cl->mb.m[m].status));
            op->child_failed[m] = 1;
            op->ndone++;
        } else {
            op->silent[m] = 1;
        }
    }
    dyn_free(av);
    op->refs--;
    if (op->ndone == op->nchild)
        gather_combine(op);
    else
        dl_add(op);
}

static void keyless_start(struct op *op)
{
    struct cluster *cl = op->cl;
    const struct command *cmd = op->cmd;
    if (cmd->combine == COMBINE_NODES) {
        nodes_start(op);
        return;
    }
    /* Let the local handler judge the syntax first: its error is the one
     * Redis would give, and on success its local result is discarded. */
    struct dbuf probe;
    dbuf_init(&probe);
    int flush = cmd->route == ROUTE_ALL;
    int bad = 0;
    if (!flush) {
        /* SCAN's options; KEYS, DBSIZE and RANDOMKEY have none beyond
         * their arity, and running them here would walk the store */
        if (cmd->combine == COMBINE_SCAN)
            bad = exec_local(cl, cmd, op->resp, op->argc, op->argv, &probe);
    } else if (op->argc > 2 ||
               (op->argc == 2 &&
                !dyn_arg_is(op->argv[1].p, op->argv[1].len, "async") &&
                !dyn_arg_is(op->argv[1].p, op->argv[1].len, "sync"))) {
        reply_error(&probe, "ERR syntax error"); /* and flush nothing */
        bad = 1;
    }
    if (bad) {
        dbuf_append(&op->reply, probe.p, probe.len);
        op->failed = 1;
        dbuf_free(&probe);
        op_finish(op);
        return;
    }
    dbuf_free(&probe);
    op->combine = cmd->combine;
    if (cmd->combine == COMBINE_COUNT || cmd->combine == COMBINE_KEYS ||
        cmd->combine == COMBINE_RANDOM || cmd->combine == COMBINE_SCAN) {
        ks_start(op);
    } else if (cmd->combine == COMBINE_FLUSH) {
        /* FLUSHALL / FLUSHDB: every node */
        gather_members(op);
        op->refs++;
        struct dyn_arg av[1] = {{"R.FLUSH", 7}};
        for (uint32_t m = 0; m < cl->mb.n; m++) {
            if (m == cl->mb.self) {
                db_flush(cl->node);
                reply_ok(&op->child[m]);
                op->ndone++;
            } else if (send_to(cl, op, (uint16_t)m, P_GATHER, 1, av) != 0) {
                reply_errorf(&op->child[m],
                             "ERR %s did not reach node %s: nothing is "
                             "rolled back",
                             cmd->name, cl->mb.m[m].name);
                op->child_failed[m] = 1;
                op->ndone++;
            } else {
                op->silent[m] = 1;
            }
        }
        op->refs--;
        if (op->ndone == op->nchild)
            gather_combine(op);
        else
            dl_add(op);
    } else {
        reply_err(op, "ERR %s has no keyspace-wide answer in a cluster",
                  cmd->name);
        op_finish(op);
    }
}

/* ---- keyspace commands: R replicas per partition, merged ----------------
 *
 * DBSIZE, KEYS, SCAN and RANDOMKEY ask, for each partition, R of its
 * reachable top-N replicas (at least two where two are reachable, so no
 * replica answers alone), in up to three rounds, each one request per
 * member for all its partitions:
 *
 *   COUNT    R.COUNT p... -> [count, fingerprint] of the visible keys of
 *            each partition, from the replica's memory (store.h)
 *   LIST     R.LIST pat p... -> [visible keys, hidden keys] (entries that
 *            exist but are not visible: tombstones, expired), in slices on
 *            the replica.  A partition whose replicas agree (equal count
 *            and fingerprint) is listed by one of them; one where they
 *            differ by each, and its keys are merged: a key visible on
 *            every replica that holds it is visible, hidden on every one
 *            hidden, and where they differ
 *   RESOLVE  R.MGET key... -> the objects of the keys in dispute, merged
 *            by their clocks (object_merge) and judged at now, as a read
 *            of those replicas would.
 *
 * A replica that lacks a key altogether (a node restarted empty, a write
 * it missed) holds no opinion on it, so a wiped replica costs the merge
 * nothing but the listing; only a version conflict costs objects.  DBSIZE
 * lists only the partitions in disagreement.  SCAN's cursor is a
 * partition: a call lists whole partitions from it until about COUNT keys
 * (by the counts), so a full iteration lists each partition once and
 * returns every key present throughout. */

enum { KS_COUNT, KS_LIST, KS_RESOLVE };

struct kent {
    const char *key;            /* into ks->lists */
    size_t klen;
    uint16_t member;
    uint8_t visible;
};

struct ksop {
    int phase;
    uint32_t from, to;          /* partitions [from, to) */
    uint32_t want;              /* replicas asked per partition */
    uint32_t slots;             /* ask's row: want, or N if more */
    uint16_t *ask;              /* [(p - from) * slots + i]; NO_MEMBER */
    uint64_t *cnt, *fp;         /* their counts, same index */
    uint8_t *split;             /* per partition: the replicas differ */
    uint64_t *pcount;           /* per partition: agreed count, or max */
    uint8_t *listed;            /* per partition: in the LIST round */
    long long total;            /* DBSIZE: agreed partitions' counts */
    long long count_hint;       /* SCAN's COUNT */
    struct dbuf out;            /* decided visible keys, as bulks */
    long long nout;
    struct dbuf *lists;         /* per member: its LIST answer (kept) */
    struct kent *ents;          /* keys of split partitions */
    size_t nents, cap;
    uint32_t *disputed;         /* first kent index of each disputed key */
    uint32_t *ndisp_ent;        /* and how many */
    size_t ndisp;
    uint32_t nmembers;
    int sending;                /* ks_send is running: it completes */
};

static void ks_free(struct ksop *ks)
{
    if (!ks)
        return;
    dyn_free(ks->ask);
    dyn_free(ks->cnt);
    dyn_free(ks->fp);
    dyn_free(ks->split);
    dyn_free(ks->pcount);
    dyn_free(ks->listed);
    dbuf_free(&ks->out);
    if (ks->lists)
        for (uint32_t m = 0; m < ks->nmembers; m++)
            dbuf_free(&ks->lists[m]);
    dyn_free(ks->lists);
    dyn_free(ks->ents);
    dyn_free(ks->disputed);
    dyn_free(ks->ndisp_ent);
    dyn_free(ks);
}

/* A reader of the RESP2 bytes that replica.c and value_to_resp make. */
struct rcur {
    const char *p, *end;
};

static int rc_head(struct rcur *c, char type, long long *v)
{
    if (c->p >= c->end || *c->p != type)
        return -1;
    const char *nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
    if (!nl)
        return -1;
    *v = strtoll(c->p + 1, NULL, 10);
    c->p = nl + 1;
    return 0;
}

static int rc_bulk(struct rcur *c, const char **s, size_t *len)
{
    long long l;
    if (rc_head(c, '$', &l) != 0)
        return -1;
    if (l < 0) {
        *s = NULL;
        *len = 0;
        return 0;
    }
    if ((size_t)(c->end - c->p) < (size_t)l + 2)
        return -1;
    *s = c->p;
    *len = (size_t)l;
    c->p += l + 2;
    return 0;
}

/* Resets the gather slots for a new round. */
static void ks_round(struct op *op)
{
    for (uint32_t m = 0; m < op->nchild; m++) {
        dbuf_reset(&op->child[m]);
        op->child_failed[m] = 0;
        op->silent[m] = 0;
    }
    op->ndone = 0;
}

struct ks_local {
    struct op *op;
    uint16_t m;
};

/* The local part of a round, now or from a later loop turn (a listing in
 * slices); the op's ref keeps it alive meanwhile. */
static void ks_local_done(void *ctx, const char *resp, size_t len)
{
    struct ks_local *l = ctx;
    struct op *op = l->op;
    uint16_t m = l->m;
    dyn_free(l);
    if (!op->finished && !op->co->closing) {
        dbuf_reset(&op->child[m]);
        dbuf_append(&op->child[m], resp, len);
        op->silent[m] = 0;
        op->ndone++;
        if (op->ndone == op->nchild && !op->ks->sending)
            gather_combine(op); /* a later turn: nobody else will */
    }
    op->refs--;
    op_maybe_free(op);
}

/* One round's request to member m; a member that cannot be reached
 * answers the round with an error at once. */
static void ks_request(struct op *op, uint16_t m, int ac,
                       const struct dyn_arg *av)
{
    struct cluster *cl = op->cl;
    if (send_to(cl, op, m, P_GATHER, ac, av) != 0) {
        reply_errorf(&op->child[m], "NOQUORUM node %s became unreachable",
                     cl->mb.m[m].name);
        op->child_failed[m] = 1;
        op->ndone++;
    } else {
        op->silent[m] = 1;
    }
}

/* Sends verb [pat] parts[m]... to every member with partitions, the local
 * member through replica_scan.  Completes the round when all answered. */
static void ks_send(struct op *op, const char *verb, const char *pat,
                    uint32_t **parts, uint32_t *nparts)
{
    struct cluster *cl = op->cl;
    ks_round(op);
    op->ks->sending = 1;
    op->refs++; /* hold the op while the round starts */
    for (uint32_t m = 0; m < op->nchild; m++) {
        if (!nparts[m]) {
            op->ndone++;
            continue;
        }
        if (m == cl->mb.self) {
            struct ks_local *l = dyn_malloc(sizeof(*l));
            l->op = op;
            l->m = (uint16_t)m;
            op->refs++;
            op->silent[m] = 1;
            replica_scan(cl, verb, pat, pat ? strlen(pat) : 0, parts[m],
                         nparts[m], ks_local_done, l);
            continue;
        }
        int ac = 0;
        struct dyn_arg *av = dyn_malloc(sizeof(*av) * (nparts[m] + 2));
        char *nums = dyn_malloc((size_t)nparts[m] * 12);
        av[ac].p = verb;
        av[ac++].len = strlen(verb);
        if (pat) {
            av[ac].p = pat;
            av[ac++].len = strlen(pat);
        }
        for (uint32_t i = 0; i < nparts[m]; i++) {
            int len = snprintf(nums + i * 12, 12, "%u", parts[m][i]);
            av[ac].p = nums + i * 12;
            av[ac++].len = (size_t)len;
        }
        ks_request(op, (uint16_t)m, ac, av);
        dyn_free(av);
        dyn_free(nums);
    }
    op->ks->sending = 0;
    op->refs--;
    if (op->ndone == op->nchild && !op->finished)
        gather_combine(op);
}

static uint32_t **ks_parts_new(struct op *op, uint32_t **nparts)
{
    *nparts = dyn_calloc(op->nchild, sizeof(uint32_t));
    return dyn_calloc(op->nchild, sizeof(uint32_t *));
}

static void ks_parts_add(struct op *op, uint32_t **parts, uint32_t *nparts,
                         uint16_t m, uint32_t p)
{
    if (!parts[m])
        parts[m] = dyn_malloc(sizeof(uint32_t) * op->cl->ring.q);
    parts[m][nparts[m]++] = p;
}

static void ks_parts_free(struct op *op, uint32_t **parts, uint32_t *nparts)
{
    for (uint32_t m = 0; m < op->nchild; m++)
        dyn_free(parts[m]);
    dyn_free(parts);
    dyn_free(nparts);
}

static void ks_start(struct op *op)
{
    struct cluster *cl = op->cl;
    const struct command *cmd = op->cmd;
    uint32_t q = cl->ring.q;
    struct ksop *ks = op->ks = dyn_calloc(1, sizeof(*ks));
    dbuf_init(&ks->out);
    ks->from = 0;
    ks->to = q;
    ks->count_hint = 10;
    if (cmd->combine == COMBINE_KEYS) {
        op->pattern = dyn_memdup(op->argv[1].p, op->argv[1].len + 1);
    } else if (cmd->combine == COMBINE_SCAN) {
        unsigned long long cur = 0;
        dyn_str2ull(op->argv[1].p, op->argv[1].len, &cur);
        const char *pat = "*";
        int type_ok = 1;
        for (int i = 2; i + 1 < op->argc; i += 2) {
            if (dyn_arg_is(op->argv[i].p, op->argv[i].len, "match"))
                pat = op->argv[i + 1].p;
            else if (dyn_arg_is(op->argv[i].p, op->argv[i].len, "type"))
                type_ok = dyn_arg_is(op->argv[i + 1].p, op->argv[i + 1].len,
                                     "string");
            else if (dyn_arg_is(op->argv[i].p, op->argv[i].len, "count"))
                dyn_str2ll(op->argv[i + 1].p, op->argv[i + 1].len,
                           &ks->count_hint);
        }
        ks->from = cur >= q ? 0 : (uint32_t)cur;
        op->pattern = dyn_strdup(type_ok ? pat : "\x01no-such-type\x01");
    }
    uint32_t np = ks->to - ks->from;
    uint32_t r = (uint32_t)DYN_MAX(cl->node->cfg.r, 1);
    r = DYN_MIN(r, cl_nval(cl));
    ks->want = DYN_MAX(r, DYN_MIN(2u, cl_nval(cl)));
    ks->slots = DYN_MAX(ks->want, cl_nval(cl));
    ks->ask = dyn_malloc(sizeof(uint16_t) * np * ks->slots);
    ks->cnt = dyn_calloc((size_t)np * ks->slots, sizeof(uint64_t));
    ks->fp = dyn_calloc((size_t)np * ks->slots, sizeof(uint64_t));
    ks->split = dyn_calloc(np, 1);
    ks->listed = dyn_calloc(np, 1);
    ks->pcount = dyn_calloc(np, sizeof(uint64_t));
    ks->nmembers = cl->mb.n;
    gather_members(op);
    uint32_t *nparts, **parts = ks_parts_new(op, &nparts), missing = 0;
    for (uint32_t p = ks->from; p < ks->to; p++) {
        uint16_t rep[QUORUM_MAX];
        uint32_t k = cl_replicas(cl, p, rep), got = 0;
        uint16_t *a = &ks->ask[(p - ks->from) * ks->slots];
        for (uint32_t i = 0; i < k && got < ks->want; i++)
            if (cl_reachable(cl, rep[i])) {
                a[got++] = rep[i];
                ks_parts_add(op, parts, nparts, rep[i], p);
            }
        /* R counts against the partition's owners, as a GET's does */
        if (got < DYN_MIN(r, k))
            missing++;
        for (; got < ks->slots; got++)
            a[got] = NO_MEMBER;
    }
    if (missing) {
        reply_err(op, "NOQUORUM %u partitions have fewer than %u reachable "
                  "replicas", missing, r);
        op_finish(op);
    } else {
        ks->phase = KS_COUNT;
        dl_add(op);
        ks_send(op, "R.COUNT", NULL, parts, nparts);
    }
    ks_parts_free(op, parts, nparts);
}

/* COUNT answered: which partitions agree, and what to list. */
static void ks_after_count(struct op *op)
{
    struct cluster *cl = op->cl;
    struct ksop *ks = op->ks;
    uint32_t np = ks->to - ks->from;
    /* read each member's [count, fp, recovering], in its partitions'
     * order */
    uint32_t *at = dyn_calloc(op->nchild, sizeof(uint32_t));
    struct rcur *cur = dyn_calloc(op->nchild, sizeof(struct rcur));
    for (uint32_t m = 0; m < op->nchild; m++) {
        long long n;
        cur[m].p = op->child[m].p;
        cur[m].end = op->child[m].p + op->child[m].len;
        if (op->child[m].len)
            rc_head(&cur[m], '*', &n);
    }
    int bad = 0;
    for (uint32_t i = 0; i < np && !bad; i++) {
        uint64_t mx = 0;
        int recovering = 0;
        uint16_t *a = &ks->ask[(size_t)i * ks->slots];
        for (uint32_t k = 0; k < ks->want; k++) {
            size_t x = (size_t)i * ks->slots + k;
            uint16_t m = a[k];
            if (m == NO_MEMBER)
                continue;
            long long c, f, rec;
            if (rc_head(&cur[m], ':', &c) != 0 ||
                rc_head(&cur[m], ':', &f) != 0 ||
                rc_head(&cur[m], ':', &rec) != 0) {
                bad = 1;
                break;
            }
            ks->cnt[x] = (uint64_t)c;
            ks->fp[x] = (uint64_t)f;
            recovering |= rec != 0;
            if (k && (ks->cnt[x] != ks->cnt[(size_t)i * ks->slots] ||
                      ks->fp[x] != ks->fp[(size_t)i * ks->slots]))
                ks->split[i] = 1;
            mx = DYN_MAX(mx, (uint64_t)c);
        }
        ks->pcount[i] = mx;
        if (recovering) {
            /* a replica that lost its data has not compared this
             * partition yet: it may not outvote what it never saw, so
             * every reachable replica's list takes part */
            uint16_t rep[QUORUM_MAX];
            uint32_t kk = cl_replicas(cl, ks->from + i, rep), got = 0;
            while (got < ks->slots && a[got] != NO_MEMBER)
                got++;
            for (uint32_t j = 0; j < kk && got < ks->slots; j++) {
                int asked = 0;
                for (uint32_t t = 0; t < got; t++)
                    asked |= a[t] == rep[j];
                if (!asked && cl_reachable(cl, rep[j]))
                    a[got++] = rep[j];
            }
            ks->split[i] = 1;
        }
    }
    dyn_free(at);
    dyn_free(cur);
    if (bad) {
        reply_err(op, "ERR a replica's R.COUNT answer did not parse");
        op_finish(op);
        return;
    }
    uint8_t combine = op->combine;
    uint32_t lfrom = ks->from, lto = ks->to;
    if (combine == COMBINE_SCAN) {
        /* whole partitions until about COUNT keys */
        uint64_t sum = 0;
        lto = lfrom;
        while (lto < ks->to && (lto == lfrom || sum < (uint64_t)
                                DYN_MAX(ks->count_hint, 1))) {
            sum += ks->pcount[lto - ks->from];
            lto++;
        }
        op->scan_next = lto >= cl->ring.q ? 0 : lto;
    } else if (combine == COMBINE_RANDOM) {
        uint64_t total = 0;
        for (uint32_t i = 0; i < np; i++)
            total += ks->pcount[i];
        if (!total) {
            reply_null(&op->reply, op->resp);
            op_finish(op);
            return;
        }
        uint64_t rnd = node_random(cl->node) % total;
        for (uint32_t i = 0; i < np; i++) {
            if (rnd < ks->pcount[i]) {
                lfrom = ks->from + i;
                break;
            }
            rnd -= ks->pcount[i];
        }
        lto = lfrom + 1;
    }
    uint32_t *nparts, **parts = ks_parts_new(op, &nparts), nlisted = 0;
    for (uint32_t p = lfrom; p < lto; p++) {
        uint32_t i = p - ks->from;
        const uint16_t *a = &ks->ask[(size_t)i * ks->slots];
        if (combine == COMBINE_COUNT && !ks->split[i]) {
            ks->total += (long long)ks->pcount[i];
            continue;
        }
        ks->listed[i] = 1;
        nlisted++;
        if (!ks->split[i]) {
            /* one lister: this node if it is one of them */
            uint16_t lm = a[0];
            for (uint32_t k = 0; k < ks->want; k++)
                if (a[k] == cl->mb.self)
                    lm = a[k];
            ks_parts_add(op, parts, nparts, lm, p);
            continue;
        }
        for (uint32_t k = 0; k < ks->slots; k++)
            if (a[k] != NO_MEMBER)
                ks_parts_add(op, parts, nparts, a[k], p);
    }
    if (!nlisted) {
        ks_parts_free(op, parts, nparts);
        reply_int(&op->reply, ks->total);
        op_finish(op);
        return;
    }
    ks->phase = KS_LIST;
    ks_send(op, "R.LIST", combine == COMBINE_COUNT ||
                combine == COMBINE_RANDOM ? "*" : op->pattern,
            parts, nparts);
    ks_parts_free(op, parts, nparts);
}

static int kent_cmp(const void *a, const void *b)
{
    const struct kent *x = a, *y = b;
    size_t n = DYN_MIN(x->klen, y->klen);
    int c = memcmp(x->key, y->key, n);
    if (c)
        return c;
    return x->klen < y->klen ? -1 : x->klen > y->klen;
}

static void ks_reply(struct op *op);

/* LIST answered: agreed partitions' keys are decided; split ones' keys
 * are merged, and disputed keys go to RESOLVE. */
static void ks_after_list(struct op *op)
{
    struct cluster *cl = op->cl;
    struct ksop *ks = op->ks;
    ks->lists = dyn_calloc(op->nchild, sizeof(struct dbuf));
    for (uint32_t m = 0; m < op->nchild; m++) {
        /* keep the bytes: the entries point into them */
        ks->lists[m] = op->child[m];
        dbuf_init(&op->child[m]);
        struct rcur c = {ks->lists[m].p, ks->lists[m].p + ks->lists[m].len};
        long long two, n;
        if (!ks->lists[m].len)
            continue;
        if (rc_head(&c, '*', &two) != 0 || two != 2)
            goto bad;
        for (int part = 0; part < 2; part++) {
            if (rc_head(&c, '*', &n) != 0)
                goto bad;
            for (long long i = 0; i < n; i++) {
                const char *k;
                size_t kl;
                if (rc_bulk(&c, &k, &kl) != 0 || !k)
                    goto bad;
                uint32_t p = ring_partition_of(&cl->ring, k, kl);
                if (p < ks->from || p >= ks->to || !ks->listed[p - ks->from])
                    continue;
                if (!ks->split[p - ks->from]) {
                    if (part == 0) {
                        reply_bulk(&ks->out, k, kl);
                        ks->nout++;
                    }
                    continue;
                }
                if (ks->nents == ks->cap) {
                    ks->cap = ks->cap ? ks->cap * 2 : 64;
                    ks->ents = dyn_realloc(ks->ents,
                                           ks->cap * sizeof(*ks->ents));
                }
                ks->ents[ks->nents++] = (struct kent){k, kl, (uint16_t)m,
                                                      (uint8_t)(part == 0)};
            }
        }
    }
    if (ks->nents)
        qsort(ks->ents, ks->nents, sizeof(*ks->ents), kent_cmp);
    ks->disputed = dyn_malloc(sizeof(uint32_t) * (ks->nents + 1));
    ks->ndisp_ent = dyn_malloc(sizeof(uint32_t) * (ks->nents + 1));
    uint32_t *nparts, **parts = ks_parts_new(op, &nparts);
    for (size_t i = 0; i < ks->nents;) {
        size_t j = i + 1, nvis = ks->ents[i].visible;
        while (j < ks->nents && kent_cmp(&ks->ents[i], &ks->ents[j]) == 0)
            nvis += ks->ents[j++].visible;
        if (nvis == j - i) {
            reply_bulk(&ks->out, ks->ents[i].key, ks->ents[i].klen);
            ks->nout++;
        } else if (nvis) {
            /* the holders differ: their objects decide.  "Partitions"
             * here are kent indices, which the R.MGET answers follow. */
            ks->disputed[ks->ndisp] = (uint32_t)i;
            ks->ndisp_ent[ks->ndisp++] = (uint32_t)(j - i);
            for (size_t x = i; x < j; x++) {
                uint16_t m = ks->ents[x].member;
                if (!parts[m])
                    parts[m] = dyn_malloc(sizeof(uint32_t) *
                                          (ks->nents + 1));
                parts[m][nparts[m]++] = (uint32_t)x;
            }
        }
        i = j;
    }
    if (!ks->ndisp) {
        ks_parts_free(op, parts, nparts);
        ks_reply(op);
        return;
    }
    /* RESOLVE: one R.MGET per holder, the local one from the store */
    ks->phase = KS_RESOLVE;
    ks_round(op);
    op->refs++;
    for (uint32_t m = 0; m < op->nchild; m++) {
        if (!nparts[m]) {
            op->ndone++;
            continue;
        }
        struct dyn_arg *av = dyn_malloc(sizeof(*av) * (nparts[m] + 1));
        av[0].p = "R.MGET";
        av[0].len = 6;
        for (uint32_t i = 0; i < nparts[m]; i++) {
            av[i + 1].p = ks->ents[parts[m][i]].key;
            av[i + 1].len = ks->ents[parts[m][i]].klen;
        }
        if (m == cl->mb.self) {
            reply_array(&op->child[m], nparts[m]);
            for (uint32_t i = 0; i < nparts[m]; i++) {
                const struct object *o =
                    db_object(cl->node, av[i + 1].p, av[i + 1].len);
                if (o)
                    reply_bulk(&op->child[m], object_bytes(o),
                               object_size(o));
                else
                    reply_null(&op->child[m], 2);
            }
            op->ndone++;
        } else {
            ks_request(op, (uint16_t)m, (int)nparts[m] + 1, av);
        }
        dyn_free(av);
    }
    ks_parts_free(op, parts, nparts);
    op->refs--;
    if (op->ndone == op->nchild && !op->finished)
        gather_combine(op);
    return;
bad:
    reply_err(op, "ERR a replica's R.LIST answer did not parse");
    op_finish(op);
}

/* RESOLVE answered: each disputed key's objects merged and judged. */
static void ks_after_resolve(struct op *op)
{
    struct cluster *cl = op->cl;
    struct ksop *ks = op->ks;
    /* each member's answer lists its disputed entries in kent order */
    struct rcur *cur = dyn_calloc(op->nchild, sizeof(struct rcur));
    for (uint32_t m = 0; m < op->nchild; m++) {
        long long n;
        cur[m].p = op->child[m].p;
        cur[m].end = op->child[m].p + op->child[m].len;
        if (op->child[m].len)
            rc_head(&cur[m], '*', &n);
    }
    uint64_t now = cl_now(cl);
    for (size_t d = 0; d < ks->ndisp; d++) {
        struct object *merged = NULL;
        uint32_t first = ks->disputed[d];
        for (uint32_t x = first; x < first + ks->ndisp_ent[d]; x++) {
            const char *b;
            size_t bl;
            struct object *o = NULL;
            if (rc_bulk(&cur[ks->ents[x].member], &b, &bl) != 0 || !b ||
                db_parse_object(cl->node, b, bl, &o) != 0)
                continue;
            if (!merged) {
                merged = o;
            } else {
                int changed;
                struct object *mo = object_merge(merged, o, &changed);
                object_free(o);
                if (mo) {
                    object_free(merged);
                    merged = mo;
                }
            }
        }
        if (merged && object_visible(merged, now, NULL)) {
            reply_bulk(&ks->out, ks->ents[first].key, ks->ents[first].klen);
            ks->nout++;
        }
        object_free(merged);
    }
    dyn_free(cur);
    ks_reply(op);
}

static void ks_reply(struct op *op)
{
    struct ksop *ks = op->ks;
    dbuf_reset(&op->reply);
    switch (op->combine) {
    case COMBINE_COUNT:
        reply_int(&op->reply, ks->total + ks->nout);
        break;
    case COMBINE_RANDOM: {
        struct rcur c = {ks->out.p, ks->out.p + ks->out.len};
        const char *k = NULL;
        size_t kl = 0;
        long long pick = ks->nout ? (long long)(node_random(op->cl->node) %
                                                (uint64_t)ks->nout) : -1;
        for (long long i = 0; i <= pick; i++)
            rc_bulk(&c, &k, &kl);
        if (k)
            reply_bulk(&op->reply, k, kl);
        else
            reply_null(&op->reply, op->resp);
        break;
    }
    case COMBINE_SCAN: {
        char cur[24];
        int l = snprintf(cur, sizeof(cur), "%llu",
                         (unsigned long long)op->scan_next);
        reply_array(&op->reply, 2);
        reply_bulk(&op->reply, cur, (size_t)l);
    }
    /* fall through */
    default:
        reply_array(&op->reply, ks->nout);
        dbuf_append(&op->reply, ks->out.p, ks->out.len);
        break;
    }
    op_finish(op);
}

static void ks_next(struct op *op)
{
    struct ksop *ks = op->ks;
    for (uint32_t i = 0; i < op->nchild; i++)
        if (op->child_failed[i]) {
            dbuf_reset(&op->reply);
            dbuf_append(&op->reply, op->child[i].p, op->child[i].len);
            op->failed = 1;
            op_finish(op);
            return;
        }
    if (ks->phase == KS_COUNT)
        ks_after_count(op);
    else if (ks->phase == KS_LIST)
        ks_after_list(op);
    else
        ks_after_resolve(op);
}

/* ---- op life ------------------------------------------------------------ */

static struct op *op_new(struct coord *co, enum op_kind kind)
{
    struct op *op = dyn_calloc(1, sizeof(*op));
    op->co = co;
    op->cl = co->cl;
    op->id = ++co->next_op;
    op->kind = kind;
    dbuf_init(&op->reply);
    op->all_next = co->all;
    if (co->all)
        co->all->all_prev = op;
    co->all = op;
    return op;
}

/* Starts an op by its command's route (server/command.h). */
static void op_run(struct op *op)
{
    const struct command *cmd = op->cmd;
    switch ((enum command_route)cmd->route) {
    case ROUTE_KEY:
    case ROUTE_KEY_BLIND:
    case ROUTE_PER_KEY:
        if (command_single_key(cmd, op->argc)) {
            key_start(op);
        } else {
            op->kind = OP_FANOUT;
            fanout_start(op);
        }
        break;
    case ROUTE_KEYSPACE:
    case ROUTE_ALL:
        keyless_start(op);
        break;
    case ROUTE_NOTIFY:
        notify_start(op);
        break;
    case ROUTE_GATHER:
        op->kind = OP_MULTI;
        multi_start(op);
        break;
    case ROUTE_REFUSED:
        reply_err(op,
                  "ERR %s is not supported in a cluster: its keys live on "
                  "different nodes and no Dynamo can change them atomically",
                  cmd->name);
        op_finish(op);
        break;
    case ROUTE_LOCAL:
    default:
        reply_err(op, "ERR %s does not run through the cluster", cmd->name);
        op_finish(op);
        break;
    }
}

static void op_finish(struct op *op)
{
    if (op->finished)
        return;
    op->finished = 1;
    if (op->trace_id)
        trace_done(op);
    op->phase = PH_DONE;
    dl_del(op);
    switch (op->origin) {
    case FROM_SUBMIT:
        if (op->sub) {
            struct coord_call *sub = op->sub;
            op->sub = NULL;
            sub->op = NULL;
            sub->executed = 1;
            sub->done(sub->ctx, op->reply.p, op->reply.len, op->failed);
        }
        break;
    case FROM_PEER:
        if (op->call) {
            /* the reply and its status, for the forwarding node */
            struct dbuf *out = peer_call_buf(op->call);
            reply_array(out, 2);
            reply_bulk(out, op->reply.p, op->reply.len);
            reply_int(out, op->failed);
            peer_call_done(op->call);
        }
        op->call = NULL;
        break;
    case FROM_PARENT: {
        /* the child's ref keeps the parent alive while it takes the reply */
        struct op *parent = op->parent;
        op_child_done(parent, op->slot, &op->reply, op->failed);
        parent->refs--;
        op_maybe_free(parent);
        break;
    }
    }
    if (op->nfollow) {
        op->refs++; /* alive while its followers copy its reply */
        group_release(op);
        op->refs--;
    }
    op_maybe_free(op);
}

/* A follower's trace gets the write its leader made for it: what each
 * replica did with the group's version, timed from the follower's own
 * start. */
static void trace_follow(struct op *f, const struct op *leader)
{
    struct trace *t = op_trace(f), *lt = op_trace(leader);
    if (!t || !lt)
        return;
    const uint32_t wflags = TR_WRITE_ASKED | TR_WRITE_OK | TR_WRITE_FAILED |
                            TR_HINT_KEPT;
    int64_t shift = (int64_t)lt->start_us - (int64_t)t->start_us;
    for (uint32_t i = 0; i < lt->nrep; i++) {
        const struct trace_rep *lr = &lt->rep[i];
        if (!(lr->flags & wflags))
            continue;
        struct trace_rep *r = trace_rep(t, lr->member, lr->name);
        if (!r)
            continue;
        r->flags |= lr->flags & wflags;
        if (lr->write_us)
            r->write_us = (uint32_t)DYN_MAX((int64_t)lr->write_us + shift, 0);
    }
    if (lt->write_quorum_us)
        t->write_quorum_us =
            (uint32_t)DYN_MAX((int64_t)lt->write_quorum_us + shift, 0);
}

/* A leader's write is decided: its followers' replies leave, each its
 * own, or the leader's error when the group's write missed W. */
static void group_release(struct op *op)
{
    for (uint32_t i = 0; i < op->nfollow; i++) {
        struct op *f = op->follow[i];
        trace_follow(f, op);
        if (op->failed) {
            dbuf_reset(&f->reply);
            dbuf_append(&f->reply, op->reply.p, op->reply.len);
            f->failed = op->failed;
        }
        op_finish(f);
    }
    op->nfollow = 0;
}

/* ---- peer answers ------------------------------------------------------- */

/* Re-encodes a peer reply as RESP2 bytes (for gathers). */
static void value_to_resp(const struct peer_value *v, struct dbuf *out)
{
    switch (v->type) {
    case PEER_V_STRING:
        reply_bulk(out, v->str, v->len);
        break;
    case PEER_V_ARRAY:
        reply_array(out, (long long)v->n);
        for (size_t i = 0; i < v->n; i++)
            value_to_resp(&v->elem[i], out);
        break;
    case PEER_V_INT:
        reply_int(out, v->integer);
        break;
    case PEER_V_NIL:
        reply_null(out, 2);
        break;
    case PEER_V_STATUS:
        reply_status_len(out, v->str, v->len);
        break;
    case PEER_V_ERROR:
        reply_error(out, v->str);
        break;
    }
}

static void peer_answer(void *ctx, int err, const struct peer_value *v)
{
    struct preq *pr = ctx;
    struct op *op = pr->op;
    struct cluster *cl = pr->cl;
    uint16_t m = pr->member;
    uint8_t purpose = pr->purpose;
    dyn_free(pr);
    if (!op)
        return; /* repair, notify, ping: nothing waits */
    op_answer(cl, op, m, purpose, err, v);
}

/* One answer for op from member m: a reply of its own, or its item of a
 * batch's reply.  op->refs counts it until the end. */
static void op_answer(struct cluster *cl, struct op *op, uint16_t m,
                      uint8_t purpose, int err, const struct peer_value *v)
{
    struct coord *co = op->co;
    /* op->refs still counts this answer, so nothing below can free op */
    int decided = 0;
    if (co->closing) {
        op->refs--;
        return; /* shutting down: cluster_free frees every op */
    }
    switch (purpose) {
    case P_READ: {
        struct object *obj = NULL;
        if (op->phase != PH_READ && op->is_write) {
            /* late, and the write already sent its new version to every
             * replica: nothing to merge or repair, so nothing to parse */
            trace_mark(op, m, err ? TR_READ_FAILED : TR_READ_OK, at_read);
            cl->late_answers++;
            break;
        }
        int same = err == 0 && v && v->type == PEER_V_STATUS &&
                   v->len == 4 && memcmp(v->str, "SAME", 4) == 0;
        /* +SAME: the replica holds the bytes our copy had when we asked.
         * While ours still has them, the answer is "in step": nothing to
         * merge, nothing to repair, and no object to hold for it; if ours
         * has moved on since, nothing is known to merge, and repair
         * treats the answer as empty. */
        /* a deferred copy has moved on since the read left (a write
         * of this turn's group): not in step, and not encoded for that */
        const struct object *mine =
            same && db_deferred_type(cl->node, op->key, op->klen) < 0
                ? store_get(cl->node->store, op->key, op->klen)
                : NULL;
        int in_step = mine && object_digest(mine) == op->rdigest;
        int ok = same ||
                 (err == 0 && v &&
                  (v->type == PEER_V_NIL ||
                   (v->type == PEER_V_STRING &&
                    db_parse_object(cl->node, v->str, v->len, &obj) == 0)));
        struct trace_rep *tr = trace_mark(
            op, m, ok ? TR_READ_OK : TR_READ_FAILED, at_read);
        if (tr && (obj || in_step)) {
            tr->siblings = object_nsiblings(in_step ? mine : obj);
            tr->digest = in_step ? op->rdigest : object_digest(obj);
        }
        if (op->phase != PH_READ) {
            /* late: the read is over (op->q may be the write quorum by
             * now); repair this replica if it lacks what we hold (a write
             * already sent its new version to every replica, and a late
             * answer of a write is not even parsed, above) */
            cl->late_answers++;
            if (!mine)
                mine = store_get(cl->node->store, op->key, op->klen);
            /* in step: it holds exactly our copy */
            int behind = !in_step && mine && quorum_behind(obj, mine);
            if (ok && behind)
                send_repair(cl, op, m, standin_of(op, m), op->key, op->klen,
                            mine);
            object_free(obj);
            break;
        }
        int slot = quorum_slot(&op->q, m);
        if (in_step && slot >= 0)
            op->same_mask |= 1u << slot;
        quorum_reply(&op->q, m, ok, obj, &decided);
        if (decided && op->q.state == QUORUM_MET) {
            dl_del(op);
            key_exec_and_write(op);
        } else if (decided) {
            quorum_failed(op);
            op_finish(op);
        }
        break;
    }
    case P_DWRITE:
        if (!(err == 0 && v && v->type == PEER_V_STATUS) && !co->closing &&
            op->written && v && v->type == PEER_V_ERROR) {
            /* refused (not the replica's copy's delta, or it takes none):
             * the whole object, whose answer counts instead */
            cl->deltas_resent++;
            if (send_resync(cl, op, m, op->written) == 0)
                break;
        }
        /* an ack, or a failure that keeps a hint: */
        /* fall through */
    case P_RWRITE:
        if (purpose == P_RWRITE)
            resync_answered(op, m);
        /* fall through */
    case P_WRITE: {
        int ok = err == 0 && v && v->type == PEER_V_STATUS;
        trace_mark(op, m, ok ? TR_WRITE_OK : TR_WRITE_FAILED, at_write);
        if (!ok && !co->closing) {
            /* the write missed this target: keep a hint for its owner, so
             * that it still reaches all N (handoff.c) */
            uint16_t owner = standin_of(op, m);
            handoff_hint(cl, owner == NO_MEMBER ? m : owner, op->key,
                         op->klen, op->written);
            trace_mark(op, owner == NO_MEMBER ? m : owner, TR_HINT_KEPT,
                       NULL);
        }
        if (op->phase != PH_WRITE || op->q.state != QUORUM_PENDING) {
            if (op->phase == PH_WRITE)
                quorum_reply(&op->q, m, ok, NULL, &decided);
            cl->late_answers++;
            break;
        }
        quorum_reply(&op->q, m, ok, NULL, &decided);
        if (decided && op->q.state == QUORUM_MET) {
            op_finish(op);
        } else if (decided) {
            quorum_failed(op);
            op_finish(op);
        }
        break;
    }
    case P_FORWARD:
        if (op->finished)
            break;
        if (err == 0 && v && v->type == PEER_V_ARRAY && v->n == 2 &&
            v->elem[0].type == PEER_V_STRING &&
            v->elem[1].type == PEER_V_INT) {
            /* the remote coordinator's reply and its status */
            long long st = v->elem[1].integer;
            if (st == OP_UNAVAILABLE && forward_left(op)) {
                /* it ran nowhere (a coordinator that has not yet seen
                 * its peers come back, just after a heal): the next
                 * replica may do better than an error */
                cl->forward_retries++;
                key_forward(op);
                break;
            }
            dbuf_reset(&op->reply);
            dbuf_append(&op->reply, v->elem[0].str, v->elem[0].len);
            op->failed = st == 0 ? 0 : st == OP_UNAVAILABLE ? OP_UNAVAILABLE
                                                            : OP_FAILED;
            op_finish(op);
        } else if (err == DYN_EIO &&
                   ((op->cmd->flags & CMD_READONLY) || op->blind)) {
            /* the next reachable replica: only for a command that means
             * the same run twice, since the lost coordinator may have run
             * it (INCR would count twice: tests/sim) */
            key_forward(op);
        } else {
            reply_err(op, "NOQUORUM the coordinator did not answer (%s)",
                      v && v->type == PEER_V_ERROR ? v->str
                      : err == DYN_EIO ? "link lost: the command may have "
                                         "been applied"
                                       : "timeout");
            op_finish(op);
        }
        break;
    case P_GATHER:
        if (op->finished) {     /* after the -TIMEOUT: dropped */
            cl->late_answers++;
            break;
        }
        op->silent[m] = 0;
        dbuf_reset(&op->child[m]);
        if (err == 0 && v) {
            value_to_resp(v, &op->child[m]);
            op->child_failed[m] = v->type == PEER_V_ERROR;
        } else {
            reply_errorf(&op->child[m],
                         "NOQUORUM node %s did not answer", cl->mb.m[m].name);
            op->child_failed[m] = 1;
        }
        op->ndone++;
        if (op->ndone == op->nchild)
            gather_combine(op);
        break;
    default:
        break;
    }
    op->refs--;
    op_maybe_free(op);
}

static void h_fwd(void *ctx, struct peer_call *call, int argc,
                  const struct dyn_arg *argv)
{
    struct node *n = cluster_node_of(ctx);
    struct coord *co = n->coord;
    if (argc < 3 || argv[1].len != 1 || (argv[1].p[0] != '2' &&
                                         argv[1].p[0] != '3')) {
        peer_call_reply_error(call, "ERR FWD resp argv...");
        return;
    }
    const struct command *cmd =
        command_lookup(n->commands, argv[2].p, argv[2].len);
    if (!co || !cmd || !(cmd->flags & CMD_DATA) ||
        !command_single_key(cmd, argc - 2)) {
        peer_call_reply_error(call, "ERR FWD of a command that has no key");
        return;
    }
    co->cl->forwards_received++;
    struct op *op = op_new(co, OP_KEY);
    op->origin = FROM_PEER;
    op->call = call;
    op->resp = argv[1].p[0] - '0';
    op->cmd = cmd;
    args_copy(op, argc - 2, argv + 2);
    key_start(op);
}

/* R.NODES cmd args...: this node's answer to a COMBINE_NODES command
 * (nodes_start), in RESP2, as the reply itself. */
static void h_nodes(void *ctx, struct peer_call *call, int argc,
                    const struct dyn_arg *argv)
{
    struct node *n = cluster_node_of(ctx);
    const struct command *cmd =
        argc >= 2 ? command_lookup(n->commands, argv[1].p, argv[1].len)
                  : NULL;
    if (!n->coord || !cmd || cmd->combine != COMBINE_NODES) {
        peer_call_reply_error(call, "ERR R.NODES cmd args...: a command "
                                    "that each node answers alone");
        return;
    }
    struct dbuf out;
    dbuf_init(&out);
    exec_local(n->coord->cl, cmd, 2, argc - 1, argv + 1, &out);
    dbuf_append(peer_call_buf(call), out.p, out.len);
    dbuf_free(&out);
    peer_call_done(call);
}

/* and the admin layer's R.INFO (server/cmd_info.h): the coordinator is
 * the layer that hands its peer commands to cluster_init */
static const struct peer_command coord_peer_cmds[] = {
    {"FWD", h_fwd, 0},
    {"R.NODES", h_nodes, 0},
    {"R.INFO", cmd_info_peer, 0},
};

/* ---- ROUTE_NOTIFY ------------------------------------------------------- */

/* DYNAMO.CONFIG SET: the members bound n; the change is made here, with
 * the ordinary handler, and then every other node is told. */
static void notify_start(struct op *op)
{
    struct node *n = op->cl->node;
    if (op->argc == 4 &&
        cluster_quorum_check(n, &op->argv[2], &op->argv[3], &op->reply) != 0) {
        op->failed = 1;
        op_finish(op);
        return;
    }
    op->failed =
        exec_local(op->cl, op->cmd, op->resp, op->argc, op->argv, &op->reply);
    if (!op->failed && op->argc == 4)
        cluster_quorum_changed(n, &op->argv[2], &op->argv[3]);
    op_finish(op);
}

/* ---- public ------------------------------------------------------------- */

int coord_init(struct node *n, struct dbuf *err)
{
    n->coord = NULL;
    int rc = cluster_init(n, coord_peer_cmds, DYN_ARRAY_LEN(coord_peer_cmds),
                          err);
    if (rc != 0 || !n->cluster)
        return rc;
    struct coord *co = dyn_calloc(1, sizeof(*co));
    co->node = n;
    co->cl = n->cluster;
    if (n->base)
        co->ev_flush = event_new(n->base, -1, 0, batch_flush_cb, co);
    n->coord = co;
    return 0;
}

void coord_free(struct node *n)
{
    struct coord *co = n->coord;
    if (!co) {
        cluster_free(n);
        return;
    }
    /* nobody is told any more: the submitters are gone by now */
    for (struct op *op = co->all; op; op = op->all_next) {
        if (op->sub)
            op->sub->op = NULL;
        op->sub = NULL;
        op->call = NULL;
    }
    if (co->ev_flush)
        event_free(co->ev_flush);
    co->ev_flush = NULL;
    for (uint32_t i = 0; i < co->nbatches; i++) {
        dyn_free(co->batches[i].e);
        dbuf_free(&co->batches[i].data);
    }
    dyn_free(co->batches);
    co->batches = NULL;
    co->nbatches = 0;
    dyn_free(co->bargv);
    co->bargv = NULL;
    dyn_free(co->plain_until);
    co->plain_until = NULL;
    co->nplain = 0;
    /* the bus fails what is outstanding: the callbacks run and drop their
     * refs (op_answer sees closing) */
    co->closing = 1;
    cluster_free(n);
    while (co->all) {
        struct op *op = co->all;
        op->finished = 1;
        op->refs = 0;
        op_free(op);
    }
    dyn_free(co);
    n->coord = NULL;
}

void coord_tick(struct node *n, uint64_t t)
{
    struct coord *co = n->coord;
    if (!co)
        return;
    /* deadlines: the list is in deadline order */
    while (co->dl_head && co->dl_head->deadline <= t) {
        struct op *op = co->dl_head;
        dl_del(op);
        if (op->finished)
            continue;
        int decided = 0;
        if ((op->phase == PH_READ || op->phase == PH_WRITE) && op->q_live) {
            quorum_timeout(&op->q, &decided);
            quorum_failed(op);
        } else if (op->phase == PH_GATHER && op->combine == COMBINE_NODES) {
            nodes_combine(op); /* the silent ones are unanswered */
        } else if (op->phase == PH_GATHER) {
            gather_timeout(op);
        } else {
            reply_err(op, "NOQUORUM the coordinator did not answer in time");
        }
        op_finish(op);
    }
    cluster_tick(n, t);
}

void coord_submit(struct node *n, const struct command *cmd, int resp,
                  int argc, const struct dyn_arg *argv,
                  struct coord_call *call)
{
    struct coord *co = n->coord;
    call->executed = 0;
    call->op = NULL;
    if (!co) {
        call->executed = 1;
        static const char e[] = "-ERR this node is not in a cluster\r\n";
        call->done(call->ctx, e, sizeof(e) - 1, 1);
        return;
    }
    struct op *op = op_new(co, OP_KEY);
    op->origin = FROM_SUBMIT;
    op->sub = call;
    op->resp = resp;
    op->cmd = cmd;
    call->op = op;
    args_copy(op, argc, argv);
    if ((cmd->flags & CMD_DATA) && cluster_is_killed(n)) {
        reply_err(op, "KILLED this node simulates a crash (DYNAMO.KILL): data "
                      "commands are refused until DYNAMO.REVIVE");
        op_finish(op);
        return;
    }
    op->refs++; /* op_run may finish it: it must outlive the call */
    op_run(op);
    op->refs--;
    op_maybe_free(op);
}

void coord_cancel(struct coord_call *call)
{
    struct op *op = call->op;
    if (!op)
        return;
    op->sub = NULL;
    call->op = NULL;
    op_maybe_free(op);
}
