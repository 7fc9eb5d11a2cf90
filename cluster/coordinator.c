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
 *   1. READ   (skipped by blind writes: SET without NX/XX/GET/KEEPTTL,
 *              SETEX, PSETEX, MSET's parts, DYNAMO.PUT/DEL)
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
 * An op lives until its reply is out and every peer callback it started has
 * run (the bus runs each exactly once), so late answers are still counted
 * and repaired.  Undecided ops sit on a FIFO ordered by deadline (every op
 * gets the same request-timeout-ms), which cluster_tick expires.
 *
 * Replica side (peer commands, only on authenticated links):
 *   R.GET key          -> object bytes or nil
 *   R.PUT key bytes    -> merge into the local store, +OK
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
#include "cluster/membership.h"
#include "cluster/object.h"
#include "cluster/peer.h"
#include "cluster/quorum.h"
#include "cluster/ring.h"
#include "server/command.h"
#include "server/db.h"
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
    int in_dispatch;            /* still inside the call that started it */
    int finished;               /* reply delivered */
    int refs;                   /* peer callbacks outstanding */

    const struct command *cmd;
    int argc;
    struct dyn_arg *argv;       /* owned copies */

    /* OP_KEY */
    char *key;
    size_t klen;
    uint16_t rep[QUORUM_MAX];   /* top N members, preference order */
    uint32_t nrep;
    uint32_t r, w;
    int blind;
    struct quorum q;
    int q_live;
    uint32_t fwd_next;          /* next forward candidate */
    int is_write;

    /* children / gather */
    uint32_t nchild;
    uint32_t ndone;
    struct dbuf *child;         /* each child's reply */
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
};

struct cluster {
    struct node *node;
    struct membership mb;
    int *peer_of;               /* member index -> peer id, -1 for self */
    struct ring ring;
    struct peer_bus *bus;
    uint64_t next_op;
    struct op *dl_head, *dl_tail;
    struct op *all;                     /* every live op */
    int closing;                        /* cluster_free is running */
    uint64_t last_ping_ms;
    uint64_t ping_interval_ms;
    /* stats */
    uint64_t coordinated;
    uint64_t forwarded;
    uint64_t forwards_received;
    uint64_t read_repairs;
    uint64_t late_answers;
    uint64_t noquorum_reads;
    uint64_t noquorum_writes;
    uint64_t replica_puts;
    uint64_t replica_gets;
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

static uint64_t now_ms(void)
{
    return dyn_wall_ms();
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

/* Top-N replicas of the partition, as member indices. */
static uint32_t replicas_of(struct cluster *cl, uint32_t part, uint16_t *out)
{
    uint16_t ri[QUORUM_MAX];
    uint32_t nval = (uint32_t)cl->node->cfg.n;
    if (nval > QUORUM_MAX)
        nval = QUORUM_MAX;
    uint32_t k = ring_preflist(&cl->ring, part, ri, nval);
    uint32_t m = 0;
    for (uint32_t i = 0; i < k; i++) {
        int mi = member_of_ring(cl, ri[i]);
        if (mi >= 0)
            out[m++] = (uint16_t)mi;
    }
    return m;
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

static void dl_add(struct op *op)
{
    struct cluster *cl = op->cl;
    op->deadline = now_ms() + (uint64_t)cl->node->cfg.request_timeout_ms;
    op->dl_prev = cl->dl_tail;
    op->dl_next = NULL;
    if (cl->dl_tail)
        cl->dl_tail->dl_next = op;
    else
        cl->dl_head = op;
    cl->dl_tail = op;
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
    dyn_free(op->argv);
    dyn_free(op->key);
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
}

/* Sends argv to member m; the callback gets a preq.  Returns 0 or <0
 * (nothing was sent and no callback will run). */
static void peer_answer(void *ctx, int err, const struct peer_value *v);

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
    snprintf(sc.addr, sizeof(sc.addr), "cluster");
    dbuf_init(&sc.obuf);
    cmd->proc(&sc, argc, argv);
    dbuf_append(out, sc.obuf.p, sc.obuf.len);
    dbuf_free(&sc.obuf);
    dyn_free(sc.name);
    dyn_free(sc.lib_name);
    dyn_free(sc.lib_ver);
}

static struct object *local_copy(struct cluster *cl, const char *key,
                                 size_t klen)
{
    const struct object *o = db_object(cl->node, key, klen);
    return o ? object_dup(o) : NULL;
}

/* Merges a remote version into the local store.  Returns 1 if the local
 * copy changed. */
static int merge_local(struct cluster *cl, const char *key, size_t klen,
                       const struct object *remote)
{
    const struct object *cur = store_get(cl->node->store, key, klen);
    if (!cur) {
        store_put_take(cl->node->store, key, klen, object_dup(remote));
        return 1;
    }
    int changed = 0;
    struct object *m = object_merge(cur, remote, &changed);
    if (changed)
        store_put_take(cl->node->store, key, klen, m);
    else
        object_free(m);
    return changed;
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

/* A write that supersedes the local state without reading it first. */
static int is_blind(const struct op *op)
{
    const struct command *c = op->cmd;
    if (cmd_is(c, "setex") || cmd_is(c, "psetex") || cmd_is(c, "dynamo.put") ||
        cmd_is(c, "dynamo.del"))
        return 1;
    if (cmd_is(c, "set")) {
        for (int i = 3; i < op->argc; i++) {
            const struct dyn_arg *a = &op->argv[i];
            if (dyn_arg_is(a->p, a->len, "nx") ||
                dyn_arg_is(a->p, a->len, "xx") ||
                dyn_arg_is(a->p, a->len, "get") ||
                dyn_arg_is(a->p, a->len, "keepttl"))
                return 0;
        }
        return 1;
    }
    return 0;
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

static void key_start_read(struct op *op)
{
    struct cluster *cl = op->cl;
    uint16_t self = (uint16_t)self_member(cl);
    op->phase = PH_READ;
    quorum_init(&op->q, op->rep, op->nrep, op->r);
    op->q_live = 1;
    int decided = 0;
    quorum_reply(&op->q, self, 1, local_copy(cl, op->key, op->klen), &decided);
    struct dyn_arg av[2] = {{"R.GET", 5}, {op->key, op->klen}};
    for (uint32_t i = 0; i < op->nrep && op->q.state == QUORUM_PENDING; i++) {
        if (op->rep[i] == self)
            continue;
        if (send_to(cl, op, op->rep[i], P_READ, 2, av) != 0)
            quorum_reply(&op->q, op->rep[i], 0, NULL, &decided);
    }
    /* R answers may already be in (R = 1, or peers failed fast). */
    if (op->q.state == QUORUM_MET) {
        /* still ask the rest, for read repair, but don't wait */
        key_exec_and_write(op);
    } else if (op->q.state == QUORUM_FAILED) {
        cl->noquorum_reads++;
        cl->node->stats.quorum_failures++;
        reply_err(op, "NOQUORUM %u of %u required replicas answered",
                  op->q.ok, op->r);
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
            merge_local(op->cl, op->key, op->klen, op->q.obj[i]);
}

static void key_repair(struct op *op)
{
    struct cluster *cl = op->cl;
    const struct object *mine = store_get(cl->node->store, op->key, op->klen);
    if (!mine)
        return;
    struct object *merged = object_dup(mine);
    uint16_t stale[QUORUM_MAX];
    uint32_t k = quorum_stale(&op->q, merged, stale, QUORUM_MAX);
    struct dyn_arg av[3] = {{"R.PUT", 5},
                            {op->key, op->klen},
                            {(const char *)object_bytes(merged),
                             object_size(merged)}};
    for (uint32_t i = 0; i < k; i++) {
        if (stale[i] == (uint16_t)self_member(cl))
            continue;
        if (send_to(cl, NULL, stale[i], P_REPAIR, 3, av) == 0)
            cl->read_repairs++;
    }
    object_free(merged);
}

static void key_exec_and_write(struct op *op)
{
    struct cluster *cl = op->cl;
    uint16_t self = (uint16_t)self_member(cl);
    if (op->q_live)
        merge_answers(op);
    const struct object *before =
        store_get(cl->node->store, op->key, op->klen);
    uint64_t d0 = before ? object_digest(before) : 0;
    int had = before != NULL;
    dbuf_reset(&op->reply);
    exec_local(cl, op->cmd, op->resp, op->argc, op->argv, &op->reply);
    const struct object *after = store_get(cl->node->store, op->key, op->klen);
    int changed = after && (!had || object_digest(after) != d0);
    if (!changed || (op->reply.len && op->reply.p[0] == '-')) {
        /* a read, or a write that decided not to write */
        if (op->q_live && op->phase == PH_READ)
            key_repair(op);
        op->phase = PH_DONE;
        op_finish(op);
        return;
    }
    /* replicate the new version */
    if (op->q_live && op->phase == PH_READ)
        key_repair(op);
    struct object *obj = object_dup(after);
    if (op->q_live)
        quorum_free(&op->q);
    op->phase = PH_WRITE;
    op->is_write = 1;
    quorum_init(&op->q, op->rep, op->nrep, op->w);
    op->q_live = 1;
    int decided = 0;
    quorum_reply(&op->q, self, 1, NULL, &decided);
    struct dyn_arg av[3] = {{"R.PUT", 5},
                            {op->key, op->klen},
                            {(const char *)object_bytes(obj), object_size(obj)}};
    for (uint32_t i = 0; i < op->nrep; i++) {
        if (op->rep[i] == self)
            continue;
        if (send_to(cl, op, op->rep[i], P_WRITE, 3, av) != 0)
            quorum_reply(&op->q, op->rep[i], 0, NULL, &decided);
    }
    object_free(obj);
    if (op->q.state == QUORUM_MET) {
        op_finish(op);
    } else if (op->q.state == QUORUM_FAILED) {
        cl->noquorum_writes++;
        cl->node->stats.quorum_failures++;
        reply_err(op,
                  "NOQUORUM %u of %u required replicas acknowledged; the "
                  "write may have reached some replicas and is not rolled "
                  "back",
                  op->q.ok, op->w);
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
    op->key = dyn_memdup(k->p, k->len);
    op->klen = k->len;
    uint32_t part = ring_partition_of(&cl->ring, op->key, op->klen);
    op->nrep = replicas_of(cl, part, op->rep);
    int self = self_member(cl), mine = 0;
    for (uint32_t i = 0; i < op->nrep; i++)
        if (op->rep[i] == (uint16_t)self)
            mine = 1;
    if (!mine) {
        if (op->origin == FROM_PEER) {
            reply_err(op, "ERR forwarded to a node outside the key's "
                          "preference list");
            op_finish(op);
            return;
        }
        key_forward(op);
        return;
    }
    cl->coordinated++;
    uint32_t r = override_of(op, "r", (uint32_t)cl->node->cfg.r);
    uint32_t w = override_of(op, "w", (uint32_t)cl->node->cfg.w);
    op->r = DYN_MIN(r, op->nrep);
    op->w = DYN_MIN(w, op->nrep);
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
    struct sibling s;
    object_sibling(o, object_winner(o), &s);
    if (s.tombstone)
        return 0;
    return s.expire_ms == 0 || s.expire_ms > now;
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
    op->phase = PH_GATHER;
    op->refs++;
    for (uint32_t m = 0; m < nm; m++) {
        if (!nparts[m]) {
            op->ndone++;
            continue;
        }
        int ac = 0;
        int extra = pattern ? 2 : 1;
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
        (void)extra;
        if (m == (uint32_t)self_member(cl)) {
            /* answer locally, in the same shape a peer would */
            struct scan_ctx s = {0};
            s.now = (int64_t)now_ms();
            s.pat = pattern ? pattern : "*";
            s.plen = strlen(s.pat);
            s.all = s.plen == 1 && s.pat[0] == '*';
            s.rnd = node_random(cl->node);
            struct dbuf body;
            dbuf_init(&body);
            int is_keys = strcmp(verb, "R.KEYS") == 0;
            int is_rand = strcmp(verb, "R.RANDOM") == 0;
            if (is_keys)
                s.out = &body;
            for (uint32_t i = 0; i < nparts[m]; i++)
                store_iter_partition(cl->node->store, parts[m][i],
                                     is_rand ? scan_random_cb : scan_keys_cb,
                                     &s);
            if (is_keys) {
                reply_array(&op->child[m], (long long)s.nkeys);
                dbuf_append(&op->child[m], body.p, body.len);
            } else if (is_rand) {
                if (s.pick)
                    reply_bulk(&op->child[m], s.pick, s.picklen);
                else
                    reply_null(&op->child[m], 2);
            } else {
                reply_int(&op->child[m], s.count);
            }
            dyn_free(s.pick);
            dbuf_free(&body);
            op->ndone++;
        } else if (send_to(cl, op, (uint16_t)m, P_GATHER, ac, av) != 0) {
            reply_error(&op->child[m], "NOQUORUM a replica became unreachable");
            op->ndone++;
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
            }
        }
        op->refs--;
        if (op->ndone == op->nchild)
            gather_combine(op);
        else
            dl_add(op);
    }
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
        if (op->client) {
            struct client *c = op->client;
            dbuf_append(&c->obuf, op->reply.p, op->reply.len);
            if (!op->in_dispatch)
                client_unblock(c);
            else
                c->flags &= ~(unsigned)CLIENT_BLOCKED;
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
            const struct object *mine =
                store_get(cl->node->store, op->key, op->klen);
            if (ok && mine) {
                int changed = 1;
                if (obj) {
                    struct object *t = object_merge(obj, mine, &changed);
                    object_free(t);
                }
                if (changed) {
                    struct dyn_arg av[3] = {
                        {"R.PUT", 5},
                        {op->key, op->klen},
                        {(const char *)object_bytes(mine),
                         object_size(mine)}};
                    if (send_to(cl, NULL, m, P_REPAIR, 3, av) == 0)
                        cl->read_repairs++;
                }
            }
            object_free(obj);
            break;
        }
        quorum_reply(&op->q, m, ok, obj, &decided);
        if (decided && op->q.state == QUORUM_MET) {
            dl_del(op);
            key_exec_and_write(op);
        } else if (decided) {
            cl->noquorum_reads++;
            cl->node->stats.quorum_failures++;
            reply_err(op, "NOQUORUM %u of %u required replicas answered",
                      op->q.ok, op->r);
            op_finish(op);
        }
        break;
    }
    case P_WRITE: {
        int ok = err == 0 && v && v->type == PEER_V_STATUS;
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
            cl->noquorum_writes++;
            cl->node->stats.quorum_failures++;
            reply_err(op,
                      "NOQUORUM %u of %u required replicas acknowledged; the "
                      "write may have reached some replicas and is not "
                      "rolled back",
                      op->q.ok, op->w);
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
        } else if (err == DYN_EIO) {
            key_forward(op); /* the next reachable replica */
        } else {
            reply_err(op, "NOQUORUM the coordinator did not answer (%s)",
                      v && v->type == PEER_V_ERROR ? v->str : "timeout");
            op_finish(op);
        }
        break;
    case P_GATHER:
        if (op->finished)
            break;
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
    merge_local(cl, argv[1].p, argv[1].len, o);
    object_free(o);
    peer_call_reply_ok(call);
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
    struct scan_ctx s = {0};
    char *pat = NULL;
    s.now = (int64_t)now_ms();
    if (is_keys) {
        pat = dyn_memdup(argv[1].p, argv[1].len + 1);
        pat[argv[1].len] = 0;
        s.pat = pat;
        s.plen = argv[1].len;
        s.all = s.plen == 1 && s.pat[0] == '*';
    } else {
        s.all = 1;
    }
    s.rnd = node_random(cl->node);
    struct dbuf body;
    dbuf_init(&body);
    if (is_keys)
        s.out = &body;
    for (int i = 0; i < np; i++)
        store_iter_partition(cl->node->store, parts[i],
                             is_rand ? scan_random_cb : scan_keys_cb, &s);
    struct dbuf *out = peer_call_buf(call);
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
    peer_call_done(call);
    dbuf_free(&body);
    dyn_free(s.pick);
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

static void h_config(void *ctx, struct peer_call *call, int argc,
                     const struct dyn_arg *argv)
{
    struct cluster *cl = call_cluster(ctx);
    long long v;
    if (argc != 3 || dyn_str2ll(argv[2].p, argv[2].len, &v) != 0 || v < 1 ||
        v > 64) {
        peer_call_reply_error(call, "ERR R.CONFIG n|r|w value");
        return;
    }
    struct config *c = &cl->node->cfg;
    if (dyn_arg_is(argv[1].p, argv[1].len, "n"))
        c->n = (int)v;
    else if (dyn_arg_is(argv[1].p, argv[1].len, "r"))
        c->r = (int)v;
    else if (dyn_arg_is(argv[1].p, argv[1].len, "w"))
        c->w = (int)v;
    else {
        peer_call_reply_error(call, "ERR R.CONFIG n|r|w value");
        return;
    }
    dlog(DLOG_NOTICE, "%.*s set to %lld by %s", (int)argv[1].len, argv[1].p,
         v, peer_call_peer_name(call));
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
    {"R.GET", h_get},     {"R.PUT", h_put},       {"R.KEYS", h_scan},
    {"R.COUNT", h_scan},  {"R.RANDOM", h_scan},   {"R.FLUSH", h_flush},
    {"R.CONFIG", h_config}, {"R.PING", h_ping},   {"FWD", h_fwd},
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
        membership_on_request(&cl->mb, (uint32_t)m, now_ms());
}

static void log_event(struct cluster *cl, const struct member_event *ev)
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
    if (m >= 0 && membership_on_reply(&cl->mb, (uint32_t)m, now_ms(), &ev))
        log_event(cl, &ev);
}

static void on_link(void *ctx, int peer_id, int up)
{
    struct cluster *cl = ctx;
    int m = member_of_peer(cl, peer_id);
    if (m >= 0)
        dlog(DLOG_VERBOSE, "link to %s %s", cl->mb.m[m].name,
             up ? "up" : "down");
}

static const struct peer_handlers handlers = {
    .commands = peer_cmds,
    .ncommands = sizeof(peer_cmds) / sizeof(peer_cmds[0]),
    .on_message = NULL,
    .on_sent = on_sent,
    .on_reply = on_reply,
    .on_link = on_link,
};

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
    const char *list = n->cfg.cluster_nodes;
    n->cluster = NULL;
    if (!list || !list[0])
        return 0;
    struct cluster *cl = dyn_calloc(1, sizeof(*cl));
    cl->node = n;
    membership_init(&cl->mb, (uint64_t)n->cfg.request_timeout_ms,
                    (uint64_t)n->cfg.request_timeout_ms * 3);
    cl->ping_interval_ms = (uint64_t)n->cfg.request_timeout_ms / 2;
    if (cl->ping_interval_ms < 50)
        cl->ping_interval_ms = 50;
    const char **names = dyn_calloc(256, sizeof(char *));
    int *pports = dyn_calloc(256, sizeof(int));
    size_t nn = 0;
    int self_pport = 0;
    const char *p = list;
    uint64_t t = now_ms();
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
    if (cl->mb.self == UINT32_MAX) {
        dbuf_printf(err, "node-name '%s' is not among the cluster-node lines",
                    n->cfg.node_name);
        goto fail;
    }
    const char *secret = n->cfg.cluster_secret ? n->cfg.cluster_secret : "";
    if (!secret[0] && !n->cfg.cluster_insecure) {
        dbuf_printf(err, "cluster-secret is not set: the peer bus will not "
                         "start without one (or set cluster-insecure yes)");
        goto fail;
    }
    if (ring_build(&cl->ring, (uint32_t)n->cfg.ring_partitions, names, nn,
                   (uint32_t)n->cfg.n) != 0) {
        dbuf_printf(err, "cannot build the ring");
        goto fail;
    }
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
        .max_message = (size_t)n->cfg.proto_max_bulk_len + 4096,
        .connect_timeout_ms = (uint64_t)n->cfg.request_timeout_ms * 2,
        .dead_link_ms = (uint64_t)n->cfg.request_timeout_ms * 5,
    };
    if (peer_bus_new(n->base, &o, &handlers, cl, &cl->bus) != 0) {
        dbuf_printf(err, "cannot start the peer bus on %s:%d", bind_host,
                    self_pport);
        goto fail;
    }
    cl->peer_of = dyn_malloc(sizeof(int) * cl->mb.n);
    for (uint32_t i = 0; i < cl->mb.n; i++) {
        cl->peer_of[i] = -1;
        if (i == cl->mb.self)
            continue;
        cl->peer_of[i] = peer_add(cl->bus, cl->mb.m[i].name, cl->mb.m[i].host,
                                  cl->mb.m[i].peer_port);
    }
    dyn_free(names);
    dyn_free(pports);
    n->cluster = cl;
    dlog(DLOG_NOTICE,
         "cluster: %u members, ring of %u partitions, N=%d R=%d W=%d, peer "
         "bus on %s:%d",
         cl->mb.n, cl->ring.q, n->cfg.n, n->cfg.r, n->cfg.w, bind_host,
         self_pport);
    return 0;
fail:
    dyn_free(names);
    dyn_free(pports);
    ring_free(&cl->ring);
    membership_free(&cl->mb);
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
    }
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
    ring_free(&cl->ring);
    membership_free(&cl->mb);
    dyn_free(cl->peer_of);
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
        /* apply here, then tell every peer */
        size_t before = c->obuf.len;
        cmd->proc(c, argc, argv);
        if (c->obuf.len > before && c->obuf.p[before] == '+') {
            struct dyn_arg av[3] = {{"R.CONFIG", 8}, argv[2], argv[3]};
            for (uint32_t m = 0; m < cl->mb.n; m++)
                if (m != cl->mb.self)
                    send_to(cl, NULL, (uint16_t)m, P_NOTIFY, 3, av);
        }
        return 1;
    }
    if (!(cmd->flags & CMD_DATA))
        return 0;
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
    op->in_dispatch = 1;
    args_copy(op, argc, argv);
    c->flags |= CLIENT_BLOCKED;
    op_run(op);
    /* Finished already (its reply is in obuf, BLOCKED cleared, possibly
     * freed), or still waiting: then later completions go through
     * client_unblock. */
    if (c->flags & CLIENT_BLOCKED)
        op->in_dispatch = 0;
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
    op->in_dispatch = 1;
    op->combine = COMBINE_ARRAY;
    op->nchild = (uint32_t)count;
    op->child = dyn_calloc(op->nchild ? op->nchild : 1, sizeof(struct dbuf));
    c->flags |= CLIENT_BLOCKED;
    op->refs++;
    seq_next(op);
    op->refs--;
    if (!op->finished)
        op->in_dispatch = 0;
    else
        op_maybe_free(op);
    return 1;
}

void cluster_client_gone(struct client *c)
{
    struct cluster *cl = CL(c->node);
    if (!cl)
        return;
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
            if (op->phase == PH_READ) {
                cl->noquorum_reads++;
                reply_err(op, "NOQUORUM %u of %u required replicas answered",
                          op->q.ok, op->r);
            } else {
                cl->noquorum_writes++;
                reply_err(op,
                          "NOQUORUM %u of %u required replicas "
                          "acknowledged; the write may have reached some "
                          "replicas and is not rolled back",
                          op->q.ok, op->w);
            }
            n->stats.quorum_failures++;
        } else if (op->phase == PH_GATHER) {
            reply_err(op, "NOQUORUM not every node answered in time");
        } else {
            reply_err(op, "NOQUORUM the coordinator did not answer in time");
        }
        op_finish(op);
    }
    /* failure detector: keep a request outstanding to every peer */
    if (t - cl->last_ping_ms >= cl->ping_interval_ms) {
        cl->last_ping_ms = t;
        struct dyn_arg av[1] = {{"R.PING", 6}};
        for (uint32_t m = 0; m < cl->mb.n; m++)
            if (m != cl->mb.self && peer_is_connected(cl->bus, cl->peer_of[m]))
                send_to(cl, NULL, (uint16_t)m, P_PING, 1, av);
    }
    struct member_event ev[16];
    uint32_t k = membership_tick(&cl->mb, t, ev, 16);
    for (uint32_t i = 0; i < k; i++)
        log_event(cl, &ev[i]);
    /* a peer we cannot reach at all is down, not just silent */
    for (uint32_t m = 0; m < cl->mb.n; m++)
        if (m != cl->mb.self && !peer_is_connected(cl->bus, cl->peer_of[m]))
            membership_on_request(&cl->mb, m, t);
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
}
