/*
 * coordinator.c -- Dynamo's request path: any node takes any command.
 *
 * Life of a single-key command (GET k, SET k v, DEL k, DYNAMO.PUT ...):
 *
 *   client ──> node X: command_call ──> cluster_dispatch
 *                 │ X not among the key's top N replicas
 *                 ├──────── FWD resp argv ─────────────> coordinator C
 *                 │                                        (first reachable of top N)
 *                 │ X is a replica: X coordinates
 *                 v
 *   1. READ   (skipped only by DYNAMO.PUT / DYNAMO.DEL, whose context
 *              comes from the client; see is_blind for why SET reads)
 *             local copy + R.GET to the other replicas; wait for R answers;
 *             merge them into the local store (the coordinator repairs
 *             itself first)
 *   2. EXEC   run the ordinary single-node handler on the local store,
 *             into a buffer: it decides the reply and, for a write, the
 *             new version (object_write: it supersedes what is local)
 *   3. WRITE  if the local object changed: R.PUT of the new object to the
 *             other replicas; wait for W acks (the local write is one)
 *   4. reply  to the client (or, for FWD, back to the forwarding node as
 *             the raw RESP bytes); a missed quorum is -NOQUORUM with the
 *             figures, and a write that missed W is not rolled back
 *   5. REPAIR after the reply, replicas whose read answer lacked part of
 *             the merged object get it (R.PUT), late answers too
 *
 * Multi-key commands (MGET, MSET, DEL, UNLINK, EXISTS, TOUCH) fan out one
 * single-key operation per key, each through its own coordinator, and are
 * combined.  Keyspace-wide commands (KEYS, SCAN, DBSIZE, RANDOMKEY) ask,
 * for each partition, its first reachable replica, so each key counts once;
 * FLUSHALL goes to every node.  EXEC runs its queue one command at a time.
 *
 * Pipelining: a client's single-key commands on different keys run
 * concurrently.  Each client with ops in flight has a pipe: its ops in
 * request order; a finished op's reply waits there until every earlier
 * one is out, so replies leave in request order.  After starting an op,
 * cluster_dispatch peeks at the next request already in the query buffer:
 * the client keeps going only if that request is a well-formed single-key
 * data command whose key no unexecuted op of the pipe holds (so a command
 * sees the effects of the earlier ones on its key, and none of the later
 * ones); anything else (another command, a partial or inline request, a
 * full pipe) blocks the client until the pipe is empty.  Nothing but the
 * coordinator can thus append to obuf while ops are in flight.
 *
 * An op lives until its reply is out and every peer callback it started has
 * run (the bus runs each exactly once), so late answers are still counted
 * and repaired.  Undecided ops sit on a FIFO ordered by deadline (every op
 * gets the same request-timeout-ms), which cluster_tick expires.  So every
 * client command that waits on peers answers within request-timeout-ms
 * (EXEC: per queued command): a gather still missing answers then replies
 * "-TIMEOUT k of m nodes answered <cmd> within T ms (no answer from
 * ...)", and the answers that come later are counted (late_answers) and
 * dropped, the op staying alive until the last of them is in.
 *
 * Batching: the quorum reads and writes of one loop turn that go to the
 * same replica leave as one R.MGET / R.MPUT, sent by an event activated
 * for the end of the turn (the bus then writes it with everything else
 * for that peer); the replica answers the whole batch in one reply, and
 * each op gets its item as if it had asked alone.  Repairs, forwards and
 * gathers are not batched.
 *
 * Replica side (peer commands, only on authenticated links):
 *   R.GET key          -> object bytes or nil
 *   R.MGET key...      -> array: object bytes or nil per key
 *   R.PUT key bytes    -> merge into the local store, +OK
 *   R.MPUT (key bytes)... -> :count when all are stored, else an array
 *                         of +OK / -ERR per pair
 *   R.KEYS pat p...    -> visible keys of those partitions matching pat
 *   R.COUNT p...       -> number of visible keys in those partitions
 *   R.RANDOM p...      -> one visible key of those partitions, or nil
 *   R.FLUSH            -> drop everything, +OK
 *   R.CONFIG name val  -> n / r / w, +OK
 *   R.PING             -> +PONG (failure-detector probe)
 *   FWD resp argv...   -> coordinate argv, reply its raw RESP as a bulk
 */
#include "cluster/coordinator.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <event2/event.h>
#include "cluster/antientropy.h"
#include "cluster/cluster_int.h"
#include "cluster/membership.h"
#include "cluster/object.h"
#include "cluster/peer.h"
#include "cluster/quorum.h"
#include "cluster/ring.h"
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
    OP_SEQ,       /* EXEC: children one after another */
    OP_GATHER,    /* one request per member, combined */
};

enum op_phase { PH_START, PH_READ, PH_WRITE, PH_FORWARD, PH_GATHER, PH_DONE };

enum op_origin { FROM_CLIENT, FROM_PEER, FROM_PARENT };

enum combine {
    COMBINE_ARRAY,   /* MGET, EXEC: *k then each child's reply */
    COMBINE_OK,      /* MSET: +OK unless a child failed */
    COMBINE_SUM,     /* DEL, EXISTS, ...: sum of integers */
    COMBINE_COUNT,   /* DBSIZE */
    COMBINE_KEYS,    /* KEYS */
    COMBINE_SCAN,    /* SCAN: [cursor, keys] */
    COMBINE_RANDOM,  /* RANDOMKEY */
    COMBINE_FLUSH,   /* FLUSHALL */
};

struct op {
    struct cluster *cl;
    uint64_t id;
    enum op_kind kind;
    enum op_phase phase;
    enum op_origin origin;
    struct client *client;      /* FROM_CLIENT; NULL once gone */
    struct peer_call *call;     /* FROM_PEER */
    struct op *parent;          /* FROM_PARENT */
    uint32_t slot;              /* index among the parent's children */
    int resp;
    int finished;               /* reply delivered */
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

    /* children / gather */
    uint32_t nchild;
    uint32_t ndone;
    struct dbuf *child;         /* each child's reply */
    unsigned char *silent;      /* OP_GATHER: 1 while member i's answer
                                 * is awaited (the timeout names them) */
    enum combine combine;
    uint64_t scan_next;         /* COMBINE_SCAN */
    char *pattern;
    struct queued_cmd *queue;   /* OP_SEQ: EXEC's commands, owned */
    int queue_len;

    struct dbuf reply;
    uint64_t deadline;
    struct op *dl_prev, *dl_next;
    int on_dl;
    struct op *all_prev, *all_next;     /* every live op */
    struct pipe *pipe;          /* FROM_CLIENT: the client's pipe */
    struct op *pipe_next;
};

/* A client's ops in flight, in request order. */
#define PIPE_MAX 128
struct pipe {
    struct client *c;
    struct pipe *hnext;
    struct op *head, *tail;
    uint32_t n;
    int blocked;                /* we set CLIENT_BLOCKED */
};


/* Quorum reads / writes for one replica, gathered during a loop turn. */
enum { B_GET, B_PUT, B_KINDS };
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

/* A batch in flight. */
struct mreq {
    struct cluster *cl;
    uint16_t member;
    uint8_t purpose;
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

enum { P_READ, P_WRITE, P_REPAIR, P_FORWARD, P_GATHER, P_PING, P_NOTIFY };

static void op_run(struct op *op);
static void op_finish(struct op *op);
static void op_child_done(struct op *parent, uint32_t slot,
                          const struct dbuf *reply);
static struct op *op_new(struct cluster *cl, enum op_kind kind);

/* ---- small helpers ------------------------------------------------------ */

static struct cluster *CL(const struct node *n)
{
    return n->cluster;
}

/* The node's clock of this loop turn (node_turn_ms: libevent's cached
 * time on a real node, virtual time in the simulation, tests/sim): it is
 * read several times per request, and a clock_gettime each time showed in
 * profiles; being a loop turn behind only moves deadlines by as much. */
static uint64_t now_ms(const struct cluster *cl)
{
    return node_turn_ms(cl->node);
}

static int self_member(const struct cluster *cl)
{
    return (int)cl->mb.self;
}

/* Member index for a ring node index (names are the same strings). */
static int member_of_ring(const struct cluster *cl, uint16_t ring_idx)
{
    return membership_find(&cl->mb, cl->ring.names[ring_idx]);
}

static int member_reachable(const struct cluster *cl, int m)
{
    if (m < 0)
        return 0;
    if (m == self_member(cl))
        return 1;
    return membership_is_up(&cl->mb, (uint32_t)m) &&
           peer_is_connected(cl->bus, cl->peer_of[m]);
}

#define NO_MEMBER 0xffff

/* Top-N replicas of the partition, as member indices. */
static uint32_t replicas_of(struct cluster *cl, uint32_t part, uint16_t *out)
{
    uint16_t ri[QUORUM_MAX];
    uint32_t nval = (uint32_t)cl->node->cfg.n;
    /* the config, DYNAMO.CONFIG and gossip all refuse n > QUORUM_MAX */
    dyn_assert(nval <= QUORUM_MAX);
    uint32_t k = ring_preflist(&cl->ring, part, ri, nval);
    uint32_t m = 0;
    for (uint32_t i = 0; i < k; i++) {
        int mi = member_of_ring(cl, ri[i]);
        if (mi >= 0)
            out[m++] = (uint16_t)mi;
    }
    return m;
}

/* The sloppy quorum's targets for op's key: the reachable top-N replicas,
 * and for each unreachable one the next reachable node of the extended
 * preference list, which stands in for it (its write carries a hint).
 * Owners left without a stand-in (fewer nodes reachable than N) are
 * listed in op->down; their hints go to the first stand-in, or to the
 * coordinator. */
static void targets_of(struct cluster *cl, struct op *op, uint32_t part)
{
    uint16_t top[QUORUM_MAX], down[QUORUM_MAX];
    uint32_t ntop = replicas_of(cl, part, top), ndown = 0;
    op->nrep = 0;
    op->ndown = 0;
    for (uint32_t i = 0; i < ntop; i++) {
        if (member_reachable(cl, top[i])) {
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
    uint32_t f = DYN_MIN(DYN_MIN((uint32_t)cl->node->cfg.n, QUORUM_MAX), k);
    for (uint32_t d = 0; d < ndown; d++) {
        int m = -1;
        while (f < k && m < 0) {
            int c = member_of_ring(cl, ri[f++]);
            if (c >= 0 && member_reachable(cl, c))
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
    struct cluster *cl = op->cl;
    op->deadline = now_ms(cl) + (uint64_t)cl->node->cfg.request_timeout_ms;
    struct op *after = cl->dl_tail;
    while (after && after->deadline > op->deadline)
        after = after->dl_prev;
    op->dl_prev = after;
    op->dl_next = after ? after->dl_next : cl->dl_head;
    if (op->dl_next)
        op->dl_next->dl_prev = op;
    else
        cl->dl_tail = op;
    if (after)
        after->dl_next = op;
    else
        cl->dl_head = op;
    op->on_dl = 1;
}

static void dl_del(struct op *op)
{
    struct cluster *cl = op->cl;
    if (!op->on_dl)
        return;
    if (op->dl_prev)
        op->dl_prev->dl_next = op->dl_next;
    else
        cl->dl_head = op->dl_next;
    if (op->dl_next)
        op->dl_next->dl_prev = op->dl_prev;
    else
        cl->dl_tail = op->dl_prev;
    op->on_dl = 0;
}

static void op_free(struct op *op)
{
    dl_del(op);
    if (op->all_prev)
        op->all_prev->all_next = op->all_next;
    else
        op->cl->all = op->all_next;
    if (op->all_next)
        op->all_next->all_prev = op->all_prev;
    if (op->q_live)
        quorum_free(&op->q);
    for (uint32_t i = 0; i < op->nchild; i++)
        dbuf_free(&op->child[i]);
    dyn_free(op->child);
    dyn_free(op->silent);
    dyn_free(op->argv);
    dyn_free(op->pattern);
    for (int i = 0; i < op->queue_len; i++) {
        for (int j = 0; j < op->queue[i].argc; j++)
            dyn_free((void *)op->queue[i].argv[j].p);
        dyn_free(op->queue[i].argv);
    }
    dyn_free(op->queue);
    dbuf_free(&op->reply);
    dyn_free(op);
}

/* Frees the op once its reply is out and no callback can reach it. */
static void op_maybe_free(struct op *op)
{
    if (op->finished && op->refs == 0 && !op->pipe)
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
    uint32_t i = (uint32_t)m * B_KINDS + (uint32_t)kind;
    if (i >= cl->nbatches) {
        uint32_t n = (uint32_t)(m + 8) * B_KINDS;
        cl->batches = dyn_realloc(cl->batches, sizeof(struct batch) * n);
        memset(cl->batches + cl->nbatches, 0,
               sizeof(struct batch) * (n - cl->nbatches));
        for (uint32_t j = cl->nbatches; j < n; j++)
            dbuf_init(&cl->batches[j].data);
        cl->nbatches = n;
    }
    return &cl->batches[i];
}

static void batch_answer(void *ctx, int err, const struct peer_value *v)
{
    struct mreq *mr = ctx;
    int whole = err == 0 && v && v->type == PEER_V_ARRAY && v->n == mr->n;
    int all_ok = err == 0 && v && v->type == PEER_V_INT &&
                 v->integer == (long long)mr->n;
    char okstr[] = "OK";
    struct peer_value ok = {.type = PEER_V_STATUS, .str = okstr, .len = 2};
    for (uint32_t i = 0; i < mr->n; i++) {
        const struct peer_value *iv = NULL;
        int ierr = err ? err : DYN_EPROTO;
        if (whole) {
            iv = &v->elem[i];
            ierr = iv->type == PEER_V_ERROR ? DYN_EPROTO : 0;
        } else if (all_ok) {
            iv = &ok;
            ierr = 0;
        } else if (err == 0 && v && v->type == PEER_V_ERROR) {
            iv = v;
        }
        op_answer(mr->cl, mr->op[i], mr->member, mr->purpose, ierr, iv);
    }
    dyn_free(mr);
}

/* Sends member m's batch of one kind as one request. */
static void batch_send(struct cluster *cl, uint16_t m, int kind)
{
    struct batch *b = batch_of(cl, m, kind);
    if (!b->n)
        return;
    int per = kind == B_PUT ? 2 : 1;
    struct mreq *mr = dyn_malloc(sizeof(*mr) + sizeof(struct op *) * b->n);
    mr->cl = cl;
    mr->member = m;
    mr->purpose = kind == B_PUT ? P_WRITE : P_READ;
    mr->n = b->n;
    size_t argc = 1 + (size_t)b->n * (size_t)per;
    if (cl->bargv_cap < argc) {
        cl->bargv_cap = DYN_MAX(argc, cl->bargv_cap * 2);
        dyn_free(cl->bargv);
        cl->bargv = dyn_malloc(sizeof(*cl->bargv) * cl->bargv_cap);
    }
    struct dyn_arg *av = cl->bargv;
    av[0].p = kind == B_PUT ? "R.MPUT" : "R.MGET";
    av[0].len = 6;
    for (uint32_t i = 0; i < b->n; i++) {
        const struct bentry *e = &b->e[i];
        mr->op[i] = e->op;
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
    if (rc != 0)
        batch_answer(mr, DYN_EIO, NULL);
}

static void batch_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    struct cluster *cl = arg;
    (void)fd;
    (void)what;
    cl->flush_armed = 0;
    for (uint32_t i = 0; i < cl->nbatches; i++)
        if (cl->batches[i].n)
            batch_send(cl, (uint16_t)(i / B_KINDS), (int)(i % B_KINDS));
}

/* A quorum read (R.GET key) or write (R.PUT key bytes) to a replica:
 * batched for the end of the loop turn when the node runs an event loop,
 * else sent at once.  Returns 0 (the answer comes later) or <0. */
static int send_rep(struct cluster *cl, struct op *op, uint16_t m,
                    uint8_t purpose, int argc, const struct dyn_arg *argv)
{
    if (!cl->ev_flush || (argc == 3 && argv[2].len > BATCH_MAX_OBJ))
        return send_to(cl, op, m, purpose, argc, argv);
    int kind = purpose == P_WRITE ? B_PUT : B_GET;
    struct batch *b = batch_of(cl, m, kind);
    if (b->data.len > BATCH_MAX_BYTES)
        batch_send(cl, m, kind);
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 64;
        b->e = dyn_realloc(b->e, sizeof(*b->e) * b->cap);
    }
    struct bentry *e = &b->e[b->n++];
    e->op = op;
    e->koff = b->data.len;
    e->klen = argv[1].len;
    dbuf_append(&b->data, argv[1].p, argv[1].len);
    e->ooff = b->data.len;
    e->olen = argc == 3 ? argv[2].len : 0;
    if (argc == 3)
        dbuf_append(&b->data, argv[2].p, argv[2].len);
    op->refs++;
    if (!cl->flush_armed) {
        cl->flush_armed = 1;
        event_active(cl->ev_flush, EV_TIMEOUT, 1);
    }
    return 0;
}

/* ---- local execution ---------------------------------------------------- */

/* Runs a command's ordinary handler on the local store, capturing its
 * reply.  The shadow client stands in for the real one: it is always
 * authenticated and speaks the requester's protocol. */
static void exec_local(struct cluster *cl, const struct command *cmd, int resp,
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
}

/* Merges a remote version into the local store, through db_store_take so
 * that a disk node logs it.  own is NULL or remote itself, which is then
 * consumed.  Returns 1 if the local copy changed, 0 if not, or <0 when the
 * store refused the write. */
static int merge_local(struct cluster *cl, const char *key, size_t klen,
                       const struct object *remote, struct object *own)
{
    const struct object *cur = store_get(cl->node->store, key, klen);
    struct object *m;
    if (!cur) {
        m = own ? own : object_dup(remote);
    } else if (object_equal(cur, remote)) {
        /* the common case, replicas in sync: no merge to build */
        object_free(own);
        return 0;
    } else {
        int changed = 0;
        m = object_merge(cur, remote, &changed);
        object_free(own);
        if (!changed) {
            object_free(m);
            return 0;
        }
    }
    int rc = db_store_take(cl->node, key, klen, m);
    return rc < 0 ? rc : 1;
}

static int parse_object(struct cluster *cl, const char *p, size_t len,
                        struct object **out)
{
    struct object_limits lim = {
        .max_siblings = (uint32_t)cl->node->cfg.max_siblings * 2,
        .max_ctx_entries = 4096,
        .max_value_len = (uint64_t)cl->node->cfg.proto_max_bulk_len,
    };
    return object_from_bytes((const uint8_t *)p, len, &lim, out);
}

/* ---- quorum coordination of one key ------------------------------------ */

static int cmd_is(const struct command *cmd, const char *name)
{
    return strcmp(cmd->name, name) == 0;
}

/* A write that supersedes the local state without reading it first: only
 * the DYNAMO.* writes, whose context the client supplies.  Plain SET reads
 * R replicas first, so that with R + W > N its version descends from the
 * latest acknowledged write instead of becoming a sibling of it: GET's
 * winner rule (highest timestamp, then actor) cannot order two writes made
 * in the same millisecond, so a blind SET could lose to the older one. */
static int is_blind(const struct op *op)
{
    const struct command *c = op->cmd;
    return cmd_is(c, "dynamo.put") || cmd_is(c, "dynamo.del");
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
    int decided = 0;
    for (uint32_t i = 0; i < op->ndown; i++)
        quorum_reply(&op->q, op->down[i], 0, NULL, &decided);
}

static void key_start_read(struct op *op)
{
    struct cluster *cl = op->cl;
    uint16_t self = (uint16_t)self_member(cl);
    op->phase = PH_READ;
    op_quorum_init(op, op->r);
    int decided = 0;
    /* Our own answer carries no object: the exec step reads the local
     * store itself, and repair never targets us. */
    quorum_reply(&op->q, self, 1, NULL, &decided);
    struct dyn_arg av[2] = {{"R.GET", 5}, {op->key, op->klen}};
    for (uint32_t i = 0; i < op->nrep && op->q.state == QUORUM_PENDING; i++) {
        if (op->rep[i] == self)
            continue;
        if (send_rep(cl, op, op->rep[i], P_READ, 2, av) != 0)
            quorum_reply(&op->q, op->rep[i], 0, NULL, &decided);
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
            op->q.node[i] != (uint16_t)self_member(op->cl))
            merge_local(op->cl, op->key, op->klen, op->q.obj[i], NULL);
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
        return op && purpose == P_WRITE ? send_rep(cl, op, m, P_WRITE, 3, av)
                                        : send_to(cl, op, m, purpose, 3, av);
    av[0].p = "R.HPUT";
    av[0].len = 6;
    av[3].p = cl->mb.m[owner].name;
    av[3].len = strlen(av[3].p);
    return send_to(cl, op, m, purpose, 4, av);
}

static void send_repair(struct cluster *cl, uint16_t m, uint16_t owner,
                        const char *key, size_t klen,
                        const struct object *mine)
{
    if (send_object(cl, NULL, m, owner, P_REPAIR, key, klen, mine) == 0)
        cl->read_repairs++;
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
    for (uint32_t i = 0; i < k; i++)
        if (stale[i] != (uint16_t)self_member(cl))
            send_repair(cl, stale[i], standin_of(op, stale[i]), op->key,
                        op->klen, mine);
}

static void key_exec_and_write(struct op *op)
{
    struct cluster *cl = op->cl;
    uint16_t self = (uint16_t)self_member(cl);
    if (op->q_live)
        merge_answers(op);
    /* A blind write always makes a new version (an error reply aside), so
     * only the others compare digests to see whether the store changed. */
    const struct object *before =
        op->blind ? NULL : store_get(cl->node->store, op->key, op->klen);
    uint64_t d0 = before ? object_digest(before) : 0;
    int had = before != NULL;
    dbuf_reset(&op->reply);
    exec_local(cl, op->cmd, op->resp, op->argc, op->argv, &op->reply);
    const struct object *after = store_get(cl->node->store, op->key, op->klen);
    int changed = after && (op->blind || !had || object_digest(after) != d0);
    if (!changed || (op->reply.len && op->reply.p[0] == '-')) {
        /* a read, or a write that decided not to write */
        if (op->q_live && op->phase == PH_READ)
            key_repair(op);
        op->phase = PH_DONE;
        op_finish(op);
        return;
    }
    /* replicate the new version: it goes to every replica below, which
     * also repairs the stale ones (no separate read repair) */
    /* after is borrowed: sending copies it, and nothing changes the store
     * until the last send_to */
    const struct object *obj = after;
    if (op->q_live)
        quorum_free(&op->q);
    op->phase = PH_WRITE;
    op->is_write = 1;
    op_quorum_init(op, op->w);
    int decided = 0;
    quorum_reply(&op->q, self, 1, NULL, &decided);
    int sloppy = op->ndown > 0;
    for (uint32_t i = 0; i < op->nrep; i++) {
        sloppy |= op->standin[i] != NO_MEMBER;
        if (op->rep[i] == self) {
            /* we stand in for an owner ourselves */
            if (op->standin[i] != NO_MEMBER)
                handoff_hint(cl, op->standin[i], op->key, op->klen);
            continue;
        }
        if (send_object(cl, op, op->rep[i], op->standin[i], P_WRITE, op->key,
                        op->klen, obj) != 0)
            quorum_reply(&op->q, op->rep[i], 0, NULL, &decided);
    }
    /* owners nobody could stand in for: the hints stay here */
    for (uint32_t i = 0; i < op->ndown; i++)
        handoff_hint(cl, op->down[i], op->key, op->klen);
    cl->sloppy_writes += sloppy;
    /* a partition on the move: the node that gains it gets the write too */
    uint16_t extra[QUORUM_MAX];
    uint32_t ne = rebalance_extra_targets(cl, op->part, extra, QUORUM_MAX);
    for (uint32_t i = 0; i < ne; i++)
        if (extra[i] != self && member_reachable(cl, extra[i]))
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
        if (!member_reachable(cl, (int)m))
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
    op_finish(op);
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
    int self = self_member(cl), mine = 0;
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
            op_finish(op);
            return;
        }
        key_forward(op);
        return;
    }
    cl->coordinated++;
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
    op->blind = is_blind(op);
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
    struct op *c = op_new(parent->cl, OP_KEY);
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
    const char *sub = cmd->name;
    int step = cmd->key_step > 0 ? cmd->key_step : 1;
    if (cmd_is(cmd, "mget")) {
        sub = "get";
        op->combine = COMBINE_ARRAY;
    } else if (cmd_is(cmd, "mset")) {
        sub = "set";
        op->combine = COMBINE_OK;
    } else {
        op->combine = COMBINE_SUM;
    }
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

static void seq_next(struct op *op);

static void combine_children(struct op *op)
{
    dbuf_reset(&op->reply);
    for (uint32_t i = 0; i < op->nchild; i++) {
        if (op->combine != COMBINE_ARRAY && op->child[i].len &&
            op->child[i].p[0] == '-') {
            dbuf_append(&op->reply, op->child[i].p, op->child[i].len);
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

static void op_child_done(struct op *parent, uint32_t slot,
                          const struct dbuf *reply)
{
    if (slot != UINT32_MAX) {
        dbuf_reset(&parent->child[slot]);
        dbuf_append(&parent->child[slot], reply->p, reply->len);
        parent->ndone++;
    }
    if (parent->finished)
        return;
    if (parent->kind == OP_SEQ) {
        if (parent->ndone < parent->nchild) {
            if (slot != UINT32_MAX)
                seq_next(parent);
            return;
        }
        combine_children(parent);
        op_finish(parent);
        return;
    }
    if (parent->ndone < parent->nchild)
        return;
    combine_children(parent);
    op_finish(parent);
}

/* EXEC: queued commands run one at a time, in order. */
static void seq_next(struct op *op)
{
    struct cluster *cl = op->cl;
    while (op->ndone < op->nchild && !op->finished) {
        uint32_t i = op->ndone;
        struct client *c = op->client;
        struct queued_cmd *qc = &op->queue[i];
        if (qc->cmd->flags & CMD_DATA) {
            child_start(op, i, qc->cmd, qc->argc, qc->argv);
            return; /* continues from op_child_done */
        }
        /* not a data command: run it for the real client, capturing */
        if (!c) {
            reply_error(&op->child[i], "ERR client gone");
            op->ndone++;
            continue;
        }
        struct dbuf saved = c->obuf;
        dbuf_init(&c->obuf);
        command_call(c, qc->cmd, qc->argc, qc->argv);
        dbuf_reset(&op->child[i]);
        dbuf_append(&op->child[i], c->obuf.p, c->obuf.len);
        dbuf_free(&c->obuf);
        c->obuf = saved;
        op->ndone++;
    }
    (void)cl;
    if (!op->finished && op->ndone == op->nchild) {
        combine_children(op);
        op_finish(op);
    }
}

/* For each partition, the first reachable replica; groups the partitions
 * by member.  parts[m] lists member m's partitions.  Returns the number of
 * partitions with no reachable replica. */
static uint32_t plan_partitions(struct cluster *cl, uint32_t from, uint32_t to,
                                uint32_t **parts, uint32_t *nparts)
{
    uint32_t missing = 0;
    for (uint32_t p = from; p < to; p++) {
        uint16_t rep[QUORUM_MAX];
        uint32_t k = replicas_of(cl, p, rep);
        int chosen = -1;
        for (uint32_t i = 0; i < k && chosen < 0; i++)
            if (member_reachable(cl, rep[i]))
                chosen = rep[i];
        if (chosen < 0) {
            missing++;
            continue;
        }
        if (!parts[chosen])
            parts[chosen] = dyn_malloc(sizeof(uint32_t) * cl->ring.q);
        parts[chosen][nparts[chosen]++] = p;
    }
    return missing;
}

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

/* The answer to R.KEYS (pattern) / R.COUNT / R.RANDOM over a list of this
 * node's partitions, as RESP into out: the replica handler sends it, and a
 * coordinator that owns some of the partitions itself uses it directly. */
static void scan_answer(struct cluster *cl, const char *verb, const char *pat,
                        size_t plen, const uint32_t *parts, size_t np,
                        struct dbuf *out)
{
    int is_keys = strcmp(verb, "R.KEYS") == 0;
    int is_rand = strcmp(verb, "R.RANDOM") == 0;
    struct scan_ctx s = {0};
    s.now = (int64_t)now_ms(cl);
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

static void gather_start(struct op *op, const char *verb, const char *pattern,
                         uint32_t from, uint32_t to)
{
    struct cluster *cl = op->cl;
    uint32_t nm = cl->mb.n;
    uint32_t **parts = dyn_calloc(nm, sizeof(uint32_t *));
    uint32_t *nparts = dyn_calloc(nm, sizeof(uint32_t));
    uint32_t missing = plan_partitions(cl, from, to, parts, nparts);
    if (missing) {
        reply_err(op, "NOQUORUM %u partitions have no reachable replica",
                  missing);
        op_finish(op);
        goto out;
    }
    op->nchild = nm;
    op->child = dyn_calloc(nm, sizeof(struct dbuf));
    op->silent = dyn_calloc(nm, 1);
    op->phase = PH_GATHER;
    op->refs++;
    for (uint32_t m = 0; m < nm; m++) {
        if (!nparts[m]) {
            op->ndone++;
            continue;
        }
        int ac = 0;
        struct dyn_arg *av = dyn_malloc(sizeof(*av) * (nparts[m] + 2));
        char *nums = dyn_malloc((size_t)nparts[m] * 12);
        av[ac].p = verb;
        av[ac++].len = strlen(verb);
        if (pattern) {
            av[ac].p = pattern;
            av[ac++].len = strlen(pattern);
        }
        for (uint32_t i = 0; i < nparts[m]; i++) {
            int l = snprintf(nums + i * 12, 12, "%u", parts[m][i]);
            av[ac].p = nums + i * 12;
            av[ac++].len = (size_t)l;
        }
        if (m == (uint32_t)self_member(cl)) {
            /* answer locally, in the same shape a peer would */
            scan_answer(cl, verb, pattern, pattern ? strlen(pattern) : 0,
                        parts[m], nparts[m], &op->child[m]);
            op->ndone++;
        } else if (send_to(cl, op, (uint16_t)m, P_GATHER, ac, av) != 0) {
            reply_error(&op->child[m], "NOQUORUM a replica became unreachable");
            op->ndone++;
        } else {
            op->silent[m] = 1;
        }
        dyn_free(av);
        dyn_free(nums);
    }
    op->refs--;
    if (op->ndone == op->nchild)
        gather_combine(op);
    else
        dl_add(op);
out:
    for (uint32_t m = 0; m < nm; m++)
        dyn_free(parts[m]);
    dyn_free(parts);
    dyn_free(nparts);
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
        if (!op->silent || m == (uint32_t)self_member(cl))
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

/* Parses a child reply produced by reply.c (local) or relayed from a peer
 * (stored re-encoded in RESP2). */
static void gather_combine(struct op *op)
{
    if (op->finished)
        return;
    for (uint32_t i = 0; i < op->nchild; i++)
        if (op->child[i].len && op->child[i].p[0] == '-') {
            dbuf_reset(&op->reply);
            dbuf_append(&op->reply, op->child[i].p, op->child[i].len);
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

static void keyless_start(struct op *op)
{
    struct cluster *cl = op->cl;
    const struct command *cmd = op->cmd;
    /* Let the local handler judge the syntax first: its error is the one
     * Redis would give, and on success its local result is discarded. */
    struct dbuf probe;
    dbuf_init(&probe);
    int flush = cmd_is(cmd, "flushall") || cmd_is(cmd, "flushdb");
    if (!flush)
        exec_local(cl, cmd, op->resp, op->argc, op->argv, &probe);
    else if (op->argc > 2 ||
             (op->argc == 2 &&
              !dyn_arg_is(op->argv[1].p, op->argv[1].len, "async") &&
              !dyn_arg_is(op->argv[1].p, op->argv[1].len, "sync")))
        reply_error(&probe, "ERR syntax error"); /* and flush nothing */
    if (probe.len && probe.p[0] == '-') {
        dbuf_append(&op->reply, probe.p, probe.len);
        dbuf_free(&probe);
        op_finish(op);
        return;
    }
    dbuf_free(&probe);
    if (cmd_is(cmd, "dbsize")) {
        op->combine = COMBINE_COUNT;
        gather_start(op, "R.COUNT", NULL, 0, cl->ring.q);
    } else if (cmd_is(cmd, "keys")) {
        op->combine = COMBINE_KEYS;
        op->pattern = dyn_memdup(op->argv[1].p, op->argv[1].len + 1);
        gather_start(op, "R.KEYS", op->pattern, 0, cl->ring.q);
    } else if (cmd_is(cmd, "randomkey")) {
        op->combine = COMBINE_RANDOM;
        gather_start(op, "R.RANDOM", NULL, 0, cl->ring.q);
    } else if (cmd_is(cmd, "scan")) {
        /* cursor = a partition: each call returns one whole partition */
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
        }
        uint32_t p = cur >= cl->ring.q ? 0 : (uint32_t)cur;
        op->scan_next = p + 1 >= cl->ring.q ? 0 : p + 1;
        op->combine = COMBINE_SCAN;
        op->pattern = dyn_strdup(type_ok ? pat : "\x01no-such-type\x01");
        gather_start(op, "R.KEYS", op->pattern, p, p + 1);
    } else {
        /* FLUSHALL / FLUSHDB: every node */
        op->combine = COMBINE_FLUSH;
        op->nchild = cl->mb.n;
        op->child = dyn_calloc(op->nchild, sizeof(struct dbuf));
        op->silent = dyn_calloc(op->nchild, 1);
        op->phase = PH_GATHER;
        op->refs++;
        struct dyn_arg av[1] = {{"R.FLUSH", 7}};
        for (uint32_t m = 0; m < cl->mb.n; m++) {
            if (m == (uint32_t)self_member(cl)) {
                db_flush(cl->node);
                reply_ok(&op->child[m]);
                op->ndone++;
            } else if (send_to(cl, op, (uint16_t)m, P_GATHER, 1, av) != 0) {
                reply_errorf(&op->child[m],
                             "ERR %s did not reach node %s: nothing is "
                             "rolled back",
                             cmd->name, cl->mb.m[m].name);
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
    }
}

/* ---- client pipes -------------------------------------------------------- */

static struct pipe **pipe_slot(struct cluster *cl, const struct client *c)
{
    uintptr_t h = (uintptr_t)c;
    h ^= h >> 9;
    struct pipe **pp = &cl->pipes[h % PIPE_BUCKETS];
    while (*pp && (*pp)->c != c)
        pp = &(*pp)->hnext;
    return pp;
}

static struct pipe *pipe_get(struct cluster *cl, struct client *c)
{
    struct pipe **pp = pipe_slot(cl, c);
    if (!*pp) {
        struct pipe *p = dyn_calloc(1, sizeof(*p));
        p->c = c;
        *pp = p;
    }
    return *pp;
}

/* Unlinks an empty pipe (or one whose ops were detached) and frees it. */
static void pipe_del(struct cluster *cl, struct pipe *p)
{
    struct pipe **pp = pipe_slot(cl, p->c);
    if (*pp == p)
        *pp = p->hnext;
    dyn_free(p);
}

static void pipe_push(struct pipe *p, struct op *op)
{
    op->pipe = p;
    op->pipe_next = NULL;
    if (p->tail)
        p->tail->pipe_next = op;
    else
        p->head = op;
    p->tail = op;
    p->n++;
}

/* Moves the finished replies at the head of the pipe to the client's
 * output, in order, and wakes the client's writer (once per loop turn:
 * event_active merges). */
static void pipe_drain(struct cluster *cl, struct pipe *p)
{
    struct client *c = p->c;
    int wrote = 0;
    while (p->head && p->head->finished) {
        struct op *h = p->head;
        p->head = h->pipe_next;
        if (!p->head)
            p->tail = NULL;
        p->n--;
        h->pipe = NULL;
        dbuf_append(&c->obuf, h->reply.p, h->reply.len);
        wrote = 1;
        op_maybe_free(h);
    }
    if (cl->dispatching == c)
        return; /* cluster_dispatch settles the client */
    if (p->n == 0) {
        int blocked = p->blocked;
        pipe_del(cl, p);
        if (blocked)
            client_unblock(c);
        else if (wrote && c->ev_write)
            event_active(c->ev_write, EV_WRITE, 1);
    } else if (wrote && c->ev_write) {
        event_active(c->ev_write, EV_WRITE, 1);
    }
}

/* Is the request after the one being dispatched (already in the query
 * buffer) a single-key data command that may start before the pipe is
 * empty?  See the essay. */
static int pipe_next_ok(struct cluster *cl, struct client *c, struct pipe *p,
                        int argc, const struct dyn_arg *argv)
{
    if (p->n >= PIPE_MAX ||
        (c->flags & (CLIENT_MULTI | CLIENT_IN_EXEC | CLIENT_CLOSE_AFTER_REPLY |
                     CLIENT_CLOSE_ASAP)))
        return 0;
    /* only from the net loop: argv points into the query buffer */
    const struct resp_parser *cp = &c->parser;
    if (argc < 1 || cp->argc != (size_t)argc ||
        argv[0].p != c->qbuf.p + cp->args[0].off ||
        c->qbuf.p[resp_consumed(cp)] != '*')
        return 0;
    size_t end = cp->args[argc - 1].off + cp->args[argc - 1].len + 2;
    if (end >= c->qbuf.len || c->qbuf.p[end] != '*')
        return 0;
    struct node *n = cl->node;
    if (!c->authenticated && n->cfg.requirepass && n->cfg.requirepass[0])
        return 0; /* the net loop parses it, with the unauthenticated limits */
    struct resp_limits lim = {
        .max_bulk = n->cfg.proto_max_bulk_len,
        .max_inline = 64 * 1024,
    };
    int ok = 0;
    struct resp_parser *pk = &cl->peek;
    int st = resp_parse(pk, c->qbuf.p + end, c->qbuf.len - end, &lim);
    if (st != RESP_COMMAND || pk->argc > 64) {
        /* not kept: a large or partial request may have grown the parser */
        resp_free(pk);
        resp_init(pk);
        return 0;
    }
    const char *base = c->qbuf.p + end;
    const struct command *cmd =
        command_lookup(n->commands, base + pk->args[0].off, pk->args[0].len);
    int na = (int)pk->argc;
    if (!cmd || cmd->subcommands || !(cmd->flags & CMD_DATA) ||
        cmd->first_key <= 0 || na <= cmd->first_key)
        goto out;
    if ((cmd->arity > 0 && na != cmd->arity) ||
        (cmd->arity < 0 && na < -cmd->arity))
        goto out;
    int step = cmd->key_step > 0 ? cmd->key_step : 1;
    if (na > cmd->first_key + step && cmd->last_key < 0)
        goto out; /* a fan-out */
    if (cmd_is(cmd, "rename") || cmd_is(cmd, "renamenx") ||
        cmd_is(cmd, "copy") || cmd_is(cmd, "msetnx"))
        goto out;
    const char *key = base + pk->args[cmd->first_key].off;
    size_t klen = pk->args[cmd->first_key].len;
    for (struct op *op = p->head; op; op = op->pipe_next) {
        if (op->finished)
            continue;
        if (op->kind != OP_KEY || !op->key)
            goto out; /* multi-key, keyless, EXEC: a barrier */
        if (op->phase == PH_WRITE)
            continue; /* executed here already */
        if (op->klen == klen && memcmp(op->key, key, klen) == 0)
            goto out;
    }
    ok = 1;
out:
    resp_next(pk);
    resp_shift(pk, resp_consumed(pk));
    return ok;
}

/* After starting op for c: the client goes on with its pipeline, or
 * blocks until the pipe is empty. */
static void pipe_settle(struct cluster *cl, struct client *c, struct op *op,
                        int argc, const struct dyn_arg *argv)
{
    struct pipe *p = *pipe_slot(cl, c); /* op may have left it already */
    cl->dispatching = NULL;
    op->refs--;
    op_maybe_free(op);
    if (!p)
        return;
    if (p->n == 0) {
        pipe_del(cl, p);
        return;
    }
    if (pipe_next_ok(cl, c, p, argc, argv))
        return;
    p->blocked = 1;
    c->flags |= CLIENT_BLOCKED;
}

/* ---- op life ------------------------------------------------------------ */

static struct op *op_new(struct cluster *cl, enum op_kind kind)
{
    struct op *op = dyn_calloc(1, sizeof(*op));
    op->cl = cl;
    op->id = ++cl->next_op;
    op->kind = kind;
    dbuf_init(&op->reply);
    op->all_next = cl->all;
    if (cl->all)
        cl->all->all_prev = op;
    cl->all = op;
    return op;
}

static void op_run(struct op *op)
{
    switch (op->kind) {
    case OP_KEY:
        if (op->cmd->first_key <= 0) {
            keyless_start(op);
        } else if (op->argc > op->cmd->first_key +
                                   (op->cmd->key_step > 0 ? op->cmd->key_step
                                                          : 1) &&
                   op->cmd->last_key < 0) {
            op->kind = OP_FANOUT;
            fanout_start(op);
        } else {
            key_start(op);
        }
        break;
    case OP_SEQ:
        seq_next(op);
        break;
    default:
        break;
    }
}

static void op_finish(struct op *op)
{
    if (op->finished)
        return;
    op->finished = 1;
    op->phase = PH_DONE;
    dl_del(op);
    switch (op->origin) {
    case FROM_CLIENT:
        if (op->pipe) {
            pipe_drain(op->cl, op->pipe); /* may free op */
            return;
        }
        break;
    case FROM_PEER:
        if (op->call)
            peer_call_reply_bulk(op->call, op->reply.p, op->reply.len);
        op->call = NULL;
        break;
    case FROM_PARENT: {
        /* the child's ref keeps the parent alive while it takes the reply */
        struct op *parent = op->parent;
        op_child_done(parent, op->slot, &op->reply);
        parent->refs--;
        op_maybe_free(parent);
        break;
    }
    }
    op_maybe_free(op);
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
    /* op->refs still counts this answer, so nothing below can free op */
    int decided = 0;
    if (cl->closing) {
        op->refs--;
        return; /* shutting down: cluster_free frees every op */
    }
    switch (purpose) {
    case P_READ: {
        struct object *obj = NULL;
        int ok = err == 0 && v &&
                 (v->type == PEER_V_NIL ||
                  (v->type == PEER_V_STRING &&
                   parse_object(cl, v->str, v->len, &obj) == 0));
        if (op->phase != PH_READ) {
            /* late: the read is over (op->q may be the write quorum by
             * now); repair this replica if it lacks what we hold */
            cl->late_answers++;
            /* a write already sent its new version to every replica */
            const struct object *mine =
                op->is_write ? NULL
                             : store_get(cl->node->store, op->key, op->klen);
            if (ok && mine && quorum_behind(obj, mine))
                send_repair(cl, m, standin_of(op, m), op->key, op->klen,
                            mine);
            object_free(obj);
            break;
        }
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
    case P_WRITE: {
        int ok = err == 0 && v && v->type == PEER_V_STATUS;
        if (!ok && !cl->closing) {
            /* the write missed this target: keep a hint for its owner, so
             * that it still reaches all N (handoff.c) */
            uint16_t owner = standin_of(op, m);
            handoff_hint(cl, owner == NO_MEMBER ? m : owner, op->key,
                         op->klen);
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
        if (err == 0 && v && v->type == PEER_V_STRING) {
            dbuf_reset(&op->reply);
            dbuf_append(&op->reply, v->str, v->len);
            op_finish(op);
        } else if (err == DYN_EIO &&
                   ((op->cmd->flags & CMD_READONLY) || is_blind(op))) {
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
        if (err == 0 && v)
            value_to_resp(v, &op->child[m]);
        else
            reply_errorf(&op->child[m],
                         "NOQUORUM node %s did not answer", cl->mb.m[m].name);
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
    if (argc != 3 || parse_object(cl, argv[2].p, argv[2].len, &o) != 0) {
        peer_call_reply_error(call, "ERR R.PUT key object: invalid object");
        return;
    }
    cl->replica_puts++;
    /* an ack promises the version is stored: a refused write is an error */
    if (merge_local(cl, argv[1].p, argv[1].len, o, o) < 0)
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
        if (parse_object(cl, b->p, b->len, &o) != 0)
            res[i] = 1;
        else if (merge_local(cl, k->p, k->len, o, o) < 0)
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
    scan_answer(cl, is_keys ? "R.KEYS" : is_rand ? "R.RANDOM" : "R.COUNT",
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
        ver = cl->qversion + 1;
    members_adopt_quorum(cl, ver, q[0], q[1], q[2], peer_call_peer_name(call));
    peer_call_reply_ok(call);
}

static void h_ping(void *ctx, struct peer_call *call, int argc,
                   const struct dyn_arg *argv)
{
    peer_call_reply_bulk(call, "PONG", 4);
}

static void h_fwd(void *ctx, struct peer_call *call, int argc,
                  const struct dyn_arg *argv)
{
    struct cluster *cl = call_cluster(ctx);
    if (argc < 3 || argv[1].len != 1 || (argv[1].p[0] != '2' &&
                                         argv[1].p[0] != '3')) {
        peer_call_reply_error(call, "ERR FWD resp argv...");
        return;
    }
    const struct command *cmd =
        command_lookup(cl->node->commands, argv[2].p, argv[2].len);
    if (!cmd || !(cmd->flags & CMD_DATA) || cmd->first_key <= 0 ||
        argc - 2 <= cmd->first_key) {
        peer_call_reply_error(call, "ERR FWD of a command that has no key");
        return;
    }
    cl->forwards_received++;
    struct op *op = op_new(cl, OP_KEY);
    op->origin = FROM_PEER;
    op->call = call;
    op->resp = argv[1].p[0] - '0';
    op->cmd = cmd;
    args_copy(op, argc - 2, argv + 2);
    key_start(op);
}

static const struct peer_command peer_cmds[] = {
    {"R.GET", h_get, 0},       {"R.PUT", h_put, 0},
    {"R.KEYS", h_scan, 0},     {"R.COUNT", h_scan, 0},
    {"R.RANDOM", h_scan, 0},   {"R.FLUSH", h_flush, 0},
    {"R.CONFIG", h_config, 0}, {"R.PING", h_ping, 0},
    {"FWD", h_fwd, 0},         {"R.MPUT", h_mput, 0},
    {"R.MGET", h_mget, 0},
};

static int member_of_peer(const struct cluster *cl, int peer_id)
{
    for (uint32_t i = 0; i < cl->mb.n; i++)
        if (cl->peer_of[i] == peer_id)
            return (int)i;
    return -1;
}

static void on_sent(void *ctx, int peer_id, uint64_t t)
{
    struct cluster *cl = ctx;
    int m = member_of_peer(cl, peer_id);
    (void)t; /* the bus's clock is monotonic; membership runs on ours */
    if (m >= 0)
        membership_on_request(&cl->mb, (uint32_t)m, now_ms(cl));
}

void cl_log_event(struct cluster *cl, const struct member_event *ev)
{
    dlog(DLOG_NOTICE, "member %s: %s -> %s", cl->mb.m[ev->member].name,
         member_status_name(ev->from), member_status_name(ev->to));
}

static void on_reply(void *ctx, int peer_id, uint64_t t)
{
    struct cluster *cl = ctx;
    int m = member_of_peer(cl, peer_id);
    struct member_event ev;
    (void)t;
    if (m >= 0 && membership_on_reply(&cl->mb, (uint32_t)m, now_ms(cl), &ev))
        cl_log_event(cl, &ev);
}

static void on_link(void *ctx, int peer_id, int up)
{
    struct cluster *cl = ctx;
    int m = member_of_peer(cl, peer_id);
    if (m >= 0)
        dlog(DLOG_VERBOSE, "link to %s %s", cl->mb.m[m].name,
             up ? "up" : "down");
}

/* Group commit on the peer bus: the replica writes of one read from a
 * peer are committed once, before their acknowledgements leave. */
static void peer_batch_begin(void *ctx)
{
    struct cluster *cl = ctx;
    if (cl->node->engine)
        engine_batch_begin(cl->node->engine);
}

static int peer_batch_end(void *ctx)
{
    struct cluster *cl = ctx;
    return cl->node->engine ? engine_batch_end(cl->node->engine) : 0;
}

/* Our peer commands followed by those of the other files of the layer. */
static struct peer_handlers handlers_of(struct cluster *cl)
{
    size_t nae = 0;
    const struct peer_command *ae = antientropy_peer_commands(&nae);
    const struct {
        const struct peer_command *c;
        size_t n;
    } parts[] = {
        {peer_cmds, sizeof(peer_cmds) / sizeof(peer_cmds[0])},
        {members_peer_cmds, members_npeer_cmds},
        {handoff_peer_cmds, handoff_npeer_cmds},
        {rebalance_peer_cmds, rebalance_npeer_cmds},
        {ae, nae},
    };
    size_t total = 0;
    for (size_t i = 0; i < DYN_ARRAY_LEN(parts); i++)
        total += parts[i].n;
    cl->pcmds = dyn_malloc(sizeof(*cl->pcmds) * (total + 1));
    total = 0;
    for (size_t i = 0; i < DYN_ARRAY_LEN(parts); i++) {
        if (parts[i].n)
            memcpy(cl->pcmds + total, parts[i].c,
                   sizeof(*parts[i].c) * parts[i].n);
        total += parts[i].n;
    }
    struct peer_handlers h = {
        .commands = cl->pcmds,
        .ncommands = total,
        .on_message = NULL,
        .on_sent = on_sent,
        .on_reply = on_reply,
        .on_link = on_link,
        .batch_begin = peer_batch_begin,
        .batch_end = peer_batch_end,
    };
    return h;
}

/* ---- for the other files of the Dynamo layer (cluster_int.h) ---------- */

uint64_t cl_now(const struct cluster *cl)
{
    return now_ms(cl);
}

int cl_reachable(const struct cluster *cl, int m)
{
    return member_reachable(cl, m);
}

int cl_send(struct cluster *cl, uint16_t m, int argc,
            const struct dyn_arg *argv, peer_reply_fn *fn, void *ctx)
{
    if (m >= cl->mb.n || m == cl->mb.self || cl->peer_of[m] < 0)
        return DYN_EINVAL;
    if (!fn)
        return send_to(cl, NULL, m, P_NOTIFY, argc, argv);
    return peer_request(cl->bus, cl->peer_of[m], argc, argv, fn, ctx, NULL);
}

int cl_merge_local(struct cluster *cl, const char *key, size_t klen,
                   const struct object *remote, struct object *own)
{
    return merge_local(cl, key, klen, remote, own);
}

int cl_parse_object(struct cluster *cl, const char *p, size_t len,
                    struct object **out)
{
    return parse_object(cl, p, len, out);
}

/* ---- public ------------------------------------------------------------- */

/* "NAME HOST:PORT[@PEERPORT]" */
static int parse_member(const char *line, char *name, char *host, int *port,
                        int *pport)
{
    char hp[128];
    if (sscanf(line, "%63s %127s", name, hp) != 2)
        return -1;
    char *at = strchr(hp, '@');
    *pport = 0;
    if (at) {
        *at = 0;
        *pport = atoi(at + 1);
    }
    char *colon = strrchr(hp, ':');
    if (!colon)
        return -1;
    *colon = 0;
    *port = atoi(colon + 1);
    if (*port <= 0 || *port > 65535)
        return -1;
    if (!*pport)
        *pport = *port + 10000;
    if (*pport <= 0 || *pport > 65535)
        return -1;
    snprintf(host, 64, "%.63s", hp);
    return 0;
}

int cluster_init(struct node *n, struct dbuf *err)
{
    const char *list = n->cfg.cluster_nodes ? n->cfg.cluster_nodes : "";
    n->cluster = NULL;
    /* a cluster node: static members, seeds, or a secret (a node waiting
     * for DYNAMO.JOIN) */
    if (!list[0] && !(n->cfg.seeds && n->cfg.seeds[0]) &&
        !(n->cfg.cluster_secret && n->cfg.cluster_secret[0]))
        return 0;
    struct cluster *cl = dyn_calloc(1, sizeof(*cl));
    cl->node = n;
    resp_init(&cl->peek);
    membership_init(&cl->mb, (uint64_t)n->cfg.suspect_timeout_ms,
                    DYN_MAX((uint64_t)n->cfg.down_timeout_ms,
                            (uint64_t)n->cfg.suspect_timeout_ms));
    const char **names = dyn_calloc(256, sizeof(char *));
    int *pports = dyn_calloc(256, sizeof(int));
    size_t nn = 0;
    int self_pport = 0;
    const char *p = list;
    uint64_t t = now_ms(cl);
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char line[256], name[64], host[64];
        int port, pport;
        snprintf(line, sizeof(line), "%.*s", (int)DYN_MIN(len, 255), p);
        p += len + (e ? 1 : 0);
        if (!line[0])
            continue;
        if (parse_member(line, name, host, &port, &pport) != 0) {
            dbuf_printf(err, "cluster-node '%s': expected NAME HOST:PORT", line);
            goto fail;
        }
        int self = strcmp(name, n->cfg.node_name) == 0;
        if (self && n->cfg.cluster_port)
            pport = n->cfg.cluster_port;
        if (self)
            self_pport = pport;
        int rc = membership_add(&cl->mb, name, host, (uint16_t)port,
                                (uint16_t)pport, self, 1, t);
        if (rc < 0) {
            dbuf_printf(err, "cluster-node '%s': %s", line,
                        rc == DYN_EEXIST ? "the name appears twice"
                                         : "invalid name or host");
            goto fail;
        }
        if (nn < 256) {
            pports[nn] = pport;
            names[nn++] = cl->mb.m[rc].name;
        }
    }
    if (cl->mb.self == UINT32_MAX && nn) {
        dbuf_printf(err, "node-name '%s' is not among the cluster-node lines",
                    n->cfg.node_name);
        goto fail;
    }
    if (cl->mb.self == UINT32_MAX) {
        /* seeds only: we know ourselves, and learn the rest by gossip */
        char host[64];
        snprintf(host, sizeof(host), "%s", n->cfg.bind);
        char *sp = strchr(host, ' ');
        if (sp)
            *sp = 0;
        self_pport = n->cfg.cluster_port ? n->cfg.cluster_port
                                         : n->cfg.port + 10000;
        if (membership_add(&cl->mb, n->cfg.node_name, host,
                           (uint16_t)n->cfg.port, (uint16_t)self_pport, 1, 1,
                           t) < 0) {
            dbuf_printf(err, "node-name '%s' or bind '%s' is not usable as a "
                             "member", n->cfg.node_name, host);
            goto fail;
        }
    }
    const char *secret = n->cfg.cluster_secret ? n->cfg.cluster_secret : "";
    if (!secret[0] && !n->cfg.cluster_insecure) {
        dbuf_printf(err, "cluster-secret is not set: the peer bus will not "
                         "start without one (or set cluster-insecure yes)");
        goto fail;
    }
    if (!nn) {
        /* no ring until a seed's gossip brings one (epoch 0 loses) */
        if (ring_init(&cl->ring, (uint32_t)n->cfg.ring_partitions) != 0) {
            dbuf_printf(err, "cannot build the ring");
            goto fail;
        }
    } else if (ring_build(&cl->ring, (uint32_t)n->cfg.ring_partitions, names,
                          nn, (uint32_t)n->cfg.n) != 0) {
        dbuf_printf(err, "cannot build the ring");
        goto fail;
    }
    rebalance_load_ring(cl);
    char bind_host[64];
    snprintf(bind_host, sizeof(bind_host), "%s", n->cfg.bind);
    char *sp = strchr(bind_host, ' ');
    if (sp)
        *sp = 0;
    struct peer_bus_opts o = {
        .self_name = n->cfg.node_name,
        .bind_host = bind_host,
        .port = self_pport,
        .secret = secret,
        .secret_len = strlen(secret),
        .insecure = n->cfg.cluster_insecure,
        .tls = n->cfg.tls_cluster,
        .max_message = (size_t)n->cfg.proto_max_bulk_len + 4096,
        .connect_timeout_ms = (uint64_t)n->cfg.request_timeout_ms * 2,
        .dead_link_ms = (uint64_t)n->cfg.request_timeout_ms * 5,
    };
    struct peer_handlers handlers = handlers_of(cl);
    if (n->cfg.tls_cluster && !secret[0]) {
        dbuf_printf(err, "tls-cluster yes needs cluster-secret: the bus's "
                         "TLS key is derived from it");
        goto fail;
    }
    if (peer_bus_open(n->peers, n->base, &o, &handlers, cl, &cl->bus) != 0) {
        dbuf_printf(err, "cannot start the peer bus on %s:%d", bind_host,
                    self_pport);
        goto fail;
    }
    if (n->base)
        cl->ev_flush = event_new(n->base, -1, 0, batch_flush_cb, cl);
    if (members_init(cl, err) != 0 || handoff_init(cl, err) != 0 ||
        rebalance_init(cl) != 0)
        goto fail_bus;
    for (uint32_t i = 0; i < cl->mb.n; i++)
        members_added(cl, i);
    dyn_free(names);
    dyn_free(pports);
    n->cluster = cl;
    cl->ae = antientropy_new(n);
    dlog(DLOG_NOTICE,
         "cluster: %u members, ring of %u partitions, N=%d R=%d W=%d, peer "
         "bus on %s:%d",
         cl->mb.n, cl->ring.q, n->cfg.n, n->cfg.r, n->cfg.w, bind_host,
         self_pport);
    return 0;
fail_bus:
    rebalance_free(cl);
    handoff_free(cl);
    members_free(cl);
    if (cl->ev_flush)
        event_free(cl->ev_flush);
    peer_bus_free(cl->bus);
    dyn_free(cl->peer_of);
fail:
    dyn_free(names);
    dyn_free(pports);
    ring_free(&cl->ring);
    membership_free(&cl->mb);
    dyn_free(cl->pcmds);
    dyn_free(cl);
    return DYN_EINVAL;
}

void cluster_free(struct node *n)
{
    struct cluster *cl = CL(n);
    if (!cl)
        return;
    /* clients are gone by now; the bus fails what is outstanding */
    for (struct op *op = cl->all; op; op = op->all_next) {
        op->client = NULL;
        op->call = NULL;
        op->pipe = NULL;
    }
    for (size_t i = 0; i < PIPE_BUCKETS; i++)
        while (cl->pipes[i]) {
            struct pipe *p = cl->pipes[i];
            cl->pipes[i] = p->hnext;
            dyn_free(p);
        }
    resp_free(&cl->peek);
    if (cl->ev_flush)
        event_free(cl->ev_flush);
    cl->ev_flush = NULL;
    for (uint32_t i = 0; i < cl->nbatches; i++) {
        dyn_free(cl->batches[i].e);
        dbuf_free(&cl->batches[i].data);
    }
    dyn_free(cl->batches);
    cl->batches = NULL;
    dyn_free(cl->bargv);
    cl->bargv = NULL;
    cl->nbatches = 0;
    antientropy_free(cl->ae);
    cl->ae = NULL;
    /* fails what is outstanding: callbacks run and drop their refs */
    cl->closing = 1;
    peer_bus_free(cl->bus);
    cl->bus = NULL;
    while (cl->all) {
        struct op *op = cl->all;
        op->finished = 1;
        op->refs = 0;
        op_free(op);
    }
    rebalance_free(cl);
    handoff_free(cl);
    members_free(cl);
    ring_free(&cl->ring);
    membership_free(&cl->mb);
    dyn_free(cl->peer_of);
    dyn_free(cl->pcmds);
    dyn_free(cl);
    n->cluster = NULL;
}

static int keyless(const struct command *cmd)
{
    return cmd->first_key <= 0;
}

int cluster_dispatch(struct client *c, const struct command *cmd, int argc,
                     const struct dyn_arg *argv)
{
    struct cluster *cl = CL(c->node);
    if (!cl || (c->flags & CLIENT_IN_EXEC))
        return 0;
    if (cmd_is(cmd, "dynamo.config|set")) {
        /* N cannot exceed the members: there would be no N replicas */
        long long nv;
        if (argc == 4 && dyn_arg_is(argv[2].p, argv[2].len, "n") &&
            dyn_str2ll(argv[3].p, argv[3].len, &nv) == 0 &&
            nv > (long long)cl->mb.n) {
            reply_errorf(&c->obuf,
                         "ERR n (%lld) cannot exceed the %u members of the "
                         "cluster",
                         nv, cl->mb.n);
            return 1;
        }
        /* apply here, then tell every peer */
        size_t before = c->obuf.len;
        cmd->proc(c, argc, argv);
        if (c->obuf.len > before && c->obuf.p[before] == '+') {
            /* the version is the time of the change: gossip keeps the
             * newest, so nodes that miss this notice catch up */
            cl->qversion = DYN_MAX(cl->qversion + 1, node_wall_ms(c->node));
            char vb[24];
            snprintf(vb, sizeof(vb), "%llu",
                     (unsigned long long)cl->qversion);
            struct dyn_arg av[4] = {
                {"R.CONFIG", 8}, argv[2], argv[3], {vb, strlen(vb)}};
            for (uint32_t m = 0; m < cl->mb.n; m++)
                if (m != cl->mb.self)
                    send_to(cl, NULL, (uint16_t)m, P_NOTIFY, 4, av);
        }
        return 1;
    }
    if (!(cmd->flags & CMD_DATA))
        return 0;
    if (cl->killed) {
        reply_error(&c->obuf, "KILLED this node simulates a crash "
                              "(DYNAMO.KILL): data commands are refused "
                              "until DYNAMO.REVIVE");
        return 1;
    }
    if (cmd_is(cmd, "rename") || cmd_is(cmd, "renamenx") ||
        cmd_is(cmd, "copy") || cmd_is(cmd, "msetnx")) {
        reply_errorf(&c->obuf,
                     "ERR %s is not supported in a cluster: its keys live on "
                     "different nodes and no Dynamo can change them "
                     "atomically",
                     cmd->name);
        return 1;
    }
    (void)keyless;
    struct op *op = op_new(cl, OP_KEY);
    op->origin = FROM_CLIENT;
    op->client = c;
    op->resp = c->resp;
    op->cmd = cmd;
    args_copy(op, argc, argv);
    pipe_push(pipe_get(cl, c), op);
    /* A reply finished now goes to obuf at once when it is the pipe's
     * head; pipe_settle decides whether the pipeline goes on. */
    cl->dispatching = c;
    op->refs++;
    op_run(op);
    pipe_settle(cl, c, op, argc, argv);
    return 1;
}

int cluster_exec(struct client *c, struct queued_cmd *queue, int count)
{
    struct cluster *cl = CL(c->node);
    if (!cl)
        return 0;
    struct op *op = op_new(cl, OP_SEQ);
    op->queue = queue;
    op->queue_len = count;
    op->origin = FROM_CLIENT;
    op->client = c;
    op->resp = c->resp;
    op->combine = COMBINE_ARRAY;
    op->nchild = (uint32_t)count;
    op->child = dyn_calloc(op->nchild ? op->nchild : 1, sizeof(struct dbuf));
    pipe_push(pipe_get(cl, c), op);
    cl->dispatching = c;
    op->refs++;
    seq_next(op);
    pipe_settle(cl, c, op, 0, NULL); /* EXEC is a barrier: blocks */
    return 1;
}

void cluster_client_gone(struct client *c)
{
    struct cluster *cl = CL(c->node);
    if (!cl)
        return;
    struct pipe **pp = pipe_slot(cl, c);
    struct pipe *p = *pp;
    if (p) {
        *pp = p->hnext;
        struct op *op = p->head, *next;
        for (; op; op = next) {
            next = op->pipe_next;
            op->pipe = NULL;
            op->client = NULL;
            op_maybe_free(op);
        }
        dyn_free(p);
    }
    for (struct op *op = cl->all; op; op = op->all_next)
        if (op->client == c)
            op->client = NULL;
}

void cluster_tick(struct node *n, uint64_t t)
{
    struct cluster *cl = CL(n);
    if (!cl)
        return;
    /* deadlines: the list is in deadline order */
    while (cl->dl_head && cl->dl_head->deadline <= t) {
        struct op *op = cl->dl_head;
        dl_del(op);
        if (op->finished)
            continue;
        int decided = 0;
        if ((op->phase == PH_READ || op->phase == PH_WRITE) && op->q_live) {
            quorum_timeout(&op->q, &decided);
            quorum_failed(op);
        } else if (op->phase == PH_GATHER) {
            gather_timeout(op);
        } else {
            reply_err(op, "NOQUORUM the coordinator did not answer in time");
        }
        op_finish(op);
    }
    members_tick(cl, t);
    if (!cl->killed) {
        handoff_tick(cl, t);
        rebalance_tick(cl, t);
    }
    /* even when killed: it answers its waiting clients (deadlines, and
     * DYNAMO.KILL ends a run), and starts nothing while killed */
    antientropy_tick(cl->ae, t);
}

const struct ring *cluster_ring(const struct node *n)
{
    return n->cluster ? &n->cluster->ring : NULL;
}

const struct membership *cluster_membership(const struct node *n)
{
    return n->cluster ? &n->cluster->mb : NULL;
}

int cluster_member_reachable(const struct node *n, int member)
{
    return n->cluster && member_reachable(n->cluster, member);
}

void cluster_info(struct node *n, struct dbuf *out)
{
    struct cluster *cl = CL(n);
    if (!cl) {
        dbuf_printf(out, "cluster_enabled:0\r\n");
        return;
    }
    uint32_t up = 0;
    for (uint32_t m = 0; m < cl->mb.n; m++)
        up += membership_is_up(&cl->mb, m);
    struct peer_bus_stats ps;
    peer_bus_get_stats(cl->bus, &ps);
    dbuf_printf(out,
                "cluster_enabled:1\r\n"
                "cluster_members:%u\r\n"
                "cluster_members_up:%u\r\n"
                "ring_epoch:%llu\r\n"
                "coordinated:%llu\r\n"
                "forwarded:%llu\r\n"
                "forwards_received:%llu\r\n"
                "read_repairs:%llu\r\n"
                "late_answers:%llu\r\n"
                "noquorum_reads:%llu\r\n"
                "noquorum_writes:%llu\r\n"
                "replica_gets:%llu\r\n"
                "replica_puts:%llu\r\n"
                "down_transitions:%llu\r\n"
                "peer_requests_sent:%llu\r\n"
                "peer_link_writes:%llu\r\n"
                "peer_auth_failures:%llu\r\n",
                cl->mb.n, up, (unsigned long long)cl->ring.epoch,
                (unsigned long long)cl->coordinated,
                (unsigned long long)cl->forwarded,
                (unsigned long long)cl->forwards_received,
                (unsigned long long)cl->read_repairs,
                (unsigned long long)cl->late_answers,
                (unsigned long long)cl->noquorum_reads,
                (unsigned long long)cl->noquorum_writes,
                (unsigned long long)cl->replica_gets,
                (unsigned long long)cl->replica_puts,
                (unsigned long long)cl->mb.down_transitions,
                (unsigned long long)ps.requests_sent,
                (unsigned long long)ps.link_writes,
                (unsigned long long)ps.auth_failures);
    dbuf_printf(out, "peer_auth_timeouts:%llu\r\npeer_unauth_refused:%llu\r\n",
                (unsigned long long)ps.auth_timeouts,
                (unsigned long long)ps.unauth_refused);
    dbuf_printf(out, "gossip_rounds:%llu\r\nkilled:%d\r\n",
                (unsigned long long)cl->gossip_rounds, cl->killed);
    handoff_info(cl, out);
    rebalance_info(cl, out);
    antientropy_info(cl->ae, out);
}

int cluster_self(const struct node *n)
{
    return n->cluster ? self_member(n->cluster) : -1;
}

uint32_t cluster_replicas(struct node *n, uint32_t part, uint16_t *out,
                          uint32_t max)
{
    uint16_t rep[QUORUM_MAX];
    if (!n->cluster)
        return 0;
    uint32_t k = replicas_of(n->cluster, part, rep);
    k = DYN_MIN(k, max);
    memcpy(out, rep, sizeof(uint16_t) * k);
    return k;
}

int cluster_request(struct node *n, int member, int argc,
                    const struct dyn_arg *argv, peer_reply_fn *fn, void *ctx)
{
    struct cluster *cl = n->cluster;
    if (!cl || member < 0 || (uint32_t)member >= cl->mb.n ||
        member == self_member(cl) || !member_reachable(cl, member))
        return DYN_EINVAL;
    return peer_request(cl->bus, cl->peer_of[member], argc, argv, fn, ctx,
                        NULL);
}

uint64_t cluster_now_ms(const struct node *n)
{
    return n->cluster ? now_ms(n->cluster) : node_turn_ms(n);
}

int cluster_merge_bytes(struct node *n, const void *key, size_t klen,
                        const void *bytes, size_t len)
{
    struct object *o = NULL;
    if (!n->cluster || parse_object(n->cluster, bytes, len, &o) != 0)
        return DYN_EINVAL;
    return merge_local(n->cluster, key, klen, o, o);
}

struct node *cluster_node_of(void *peer_ctx)
{
    return ((struct cluster *)peer_ctx)->node;
}
