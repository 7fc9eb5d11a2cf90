/*
 * pipeline.c -- a client's requests in flight through the cluster, and
 * the order their replies leave in.
 *
 * In a cluster a data command waits for other nodes, so its reply comes
 * later than the handler-runs-and-appends of a node alone.  A client that
 * pipelines (redis-benchmark -P, any client library's pipeline) still gets
 * its replies in request order, and its single-key commands on different
 * keys run concurrently:
 *
 *   dispatch_call ─> pipeline_submit ─> coord_submit(cmd, done, ctx)
 *                        │                      │ later (or at once)
 *                        │                      v
 *                        │                 entry_done: the reply waits in
 *                        │                 its entry until every earlier
 *                        │                 one is out, then goes to obuf
 *                        v
 *                  pipe_settle: the next request in the query buffer may
 *                  start now, or the client blocks until the pipe is empty
 *
 * Each client with requests in flight has a pipe: its entries in request
 * order.  After starting one, pipe_settle peeks at the next request
 * already in the query buffer: the client keeps going only if that
 * request is a well-formed single-key command (command_single_key) whose
 * key no unexecuted entry of the pipe holds, so a command sees the
 * effects of the earlier ones on its key and none of the later ones.  An
 * entry's command counts as executed once the coordinator ran it on this
 * node's store (coord_call.executed): its write is on the way to the
 * replicas, and the next command on that key reads after it.  Anything
 * else -- another kind of command, a partial or inline request, a full
 * pipe (PIPE_MAX) -- blocks the client until the pipe is empty.  So
 * nothing but the pipeline appends to obuf while entries are in flight.
 *
 * EXEC in a cluster is an entry too, and a barrier: its queued commands
 * run one after another (each through the coordinator, or locally through
 * the dispatcher's run function for those that do not route), and the
 * array of their replies is its reply.
 *
 * The coordinator knows nothing of this: it gets a command, its arguments
 * and a struct coord_call, which lives in the entry; a client that goes
 * away cancels its calls (coord_cancel) and its entries are freed.
 *
 * Thread-safety: event loop only.
 */
#include "server/pipeline.h"

#include <string.h>
#include "cluster/coordinator.h"
#include "server/command.h"
#include "server/node.h"
#include "server/reply.h"
#include "server/resp.h"
#include "server/util.h"

#define PIPE_BUCKETS 256
#define PIPE_MAX 128

struct pipe;

struct pentry {
    struct pipe *p;
    struct pentry *next;
    const struct command *cmd;
    struct coord_call call;     /* the request in the coordinator:
                                 * pending while call.op is set */
    uint64_t start_us;          /* when it was submitted (monotonic) */
    int finished;               /* the reply is complete */
    int sent;                   /* and already in obuf */
    struct dbuf reply;
    char *key;                  /* a single-key entry's key (a copy), or
                                 * NULL: a barrier */
    size_t klen;
    /* EXEC */
    struct queued_cmd *queue;   /* owned */
    int qlen;
    int qnext;                  /* the next queued command to run */
    int looping;                /* exec_next is on the stack */
    pipeline_run_fn *run_local;
    struct dbuf *child;         /* each queued command's reply */
};

struct pipe {
    struct client *c;
    struct pipe *hnext;
    struct pentry *head, *tail;
    uint32_t n;
    int blocked;                /* we set CLIENT_BLOCKED */
};

struct pipeline {
    struct node *node;
    struct pipe *pipes[PIPE_BUCKETS];   /* by client */
    struct client *dispatching;         /* inside pipeline_submit / exec */
    struct resp_parser peek;            /* the next request, peeked */
};

static struct pipe **pipe_slot(struct pipeline *pl, const struct client *c)
{
    uintptr_t h = (uintptr_t)c;
    h ^= h >> 9;
    struct pipe **pp = &pl->pipes[h % PIPE_BUCKETS];
    while (*pp && (*pp)->c != c)
        pp = &(*pp)->hnext;
    return pp;
}

static struct pipe *pipe_get(struct pipeline *pl, struct client *c)
{
    struct pipe **pp = pipe_slot(pl, c);
    if (!*pp) {
        struct pipe *p = dyn_calloc(1, sizeof(*p));
        p->c = c;
        *pp = p;
    }
    return *pp;
}

static void pipe_del(struct pipeline *pl, struct pipe *p)
{
    struct pipe **pp = pipe_slot(pl, p->c);
    if (*pp == p)
        *pp = p->hnext;
    dyn_free(p);
}

static struct pentry *entry_push(struct pipe *p, const struct command *cmd)
{
    struct pentry *e = dyn_calloc(1, sizeof(*e));
    e->p = p;
    e->cmd = cmd;
    dbuf_init(&e->reply);
    if (p->tail)
        p->tail->next = e;
    else
        p->head = e;
    p->tail = e;
    p->n++;
    return e;
}

static void entry_free(struct pentry *e)
{
    coord_cancel(&e->call); /* nothing when no call is pending */
    for (int i = 0; i < e->qlen; i++) {
        for (int j = 0; j < e->queue[i].argc; j++)
            dyn_free((void *)e->queue[i].argv[j].p);
        dyn_free(e->queue[i].argv);
    }
    dyn_free(e->queue);
    if (e->child)
        for (int i = 0; i < e->qlen; i++)
            dbuf_free(&e->child[i]);
    dyn_free(e->child);
    dyn_free(e->key);
    dbuf_free(&e->reply);
    dyn_free(e);
}

/* Moves the finished replies at the head of the pipe to the client's
 * output, in order, and wakes the client's writer. */
static void pipe_drain(struct pipeline *pl, struct pipe *p)
{
    struct client *c = p->c;
    int wrote = 0;
    while (p->head && p->head->finished) {
        struct pentry *h = p->head;
        p->head = h->next;
        if (!p->head)
            p->tail = NULL;
        p->n--;
        if (!h->sent)
            dbuf_append(&c->obuf, h->reply.p, h->reply.len);
        wrote = 1;
        entry_free(h);
    }
    if (pl->dispatching == c)
        return; /* pipe_settle settles the client */
    if (p->n == 0) {
        int blocked = p->blocked;
        pipe_del(pl, p);
        if (blocked)
            client_unblock(c);
        else if (wrote)
            client_wake(c);
    } else if (wrote) {
        client_wake(c);
    }
}

/* An entry's reply is complete.  At the head of its pipe it goes to obuf
 * at once (no copy kept), else it waits in the entry. */
static void entry_finish(struct pentry *e, const char *reply, size_t len,
                         int failed)
{
    struct pipe *p = e->p;
    struct client *c = p->c;
    struct pipeline *pl = c->node->pipeline;
    e->finished = 1;
    if (e->cmd) { /* EXEC (no cmd) was counted as it ran, by dispatch */
        uint64_t now = node_mono_us(c->node);
        second_window_add(&c->node->stats.last_second, now,
                          now > e->start_us ? now - e->start_us : 0);
    }
    if (p->head == e) {
        dbuf_append(&c->obuf, reply, len);
        e->sent = 1;
    } else {
        dbuf_append(&e->reply, reply, len);
    }
    if (failed) {
        c->errors++;
        if (pl->dispatching != c) {
            /* the dispatcher saw it succeed for now: count it here */
            struct node *n = c->node;
            n->stats.cmd[command_stat_index(n->commands, e->cmd)]
                .failed_calls++;
            n->stats.total_error_replies++;
        }
    }
    pipe_drain(pl, p);
}

static void entry_done(void *ctx, const char *reply, size_t len, int failed)
{
    struct pentry *e = ctx;
    entry_finish(e, reply, len, failed);
}

/* Is the request after the one being dispatched (already in the query
 * buffer) a single-key command that may start before the pipe is empty?
 * See the essay. */
static int pipe_next_ok(struct pipeline *pl, struct client *c, struct pipe *p,
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
    struct node *n = pl->node;
    if (!c->authenticated && n->cfg.requirepass && n->cfg.requirepass[0])
        return 0; /* the net loop parses it, with the unauthenticated limits */
    struct resp_limits lim = {
        .max_bulk = n->cfg.proto_max_bulk_len,
        .max_inline = CLIENT_MAX_INLINE,
    };
    int ok = 0;
    struct resp_parser *pk = &pl->peek;
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
    if (!cmd || cmd->subcommands)
        goto out;
    if ((cmd->arity > 0 && na != cmd->arity) ||
        (cmd->arity < 0 && na < -cmd->arity))
        goto out;
    int ki = command_single_key(cmd, na);
    if (!ki)
        goto out; /* several keys, none, or a command that does not route */
    const char *key = base + pk->args[ki].off;
    size_t klen = pk->args[ki].len;
    for (struct pentry *e = p->head; e; e = e->next) {
        if (e->finished)
            continue;
        if (!e->key)
            goto out; /* multi-key, keyspace-wide, EXEC: a barrier */
        if (e->call.executed)
            continue; /* it ran here already */
        if (e->klen == klen && memcmp(e->key, key, klen) == 0)
            goto out;
    }
    ok = 1;
out:
    resp_next(pk);
    resp_shift(pk, resp_consumed(pk));
    return ok;
}

/* After starting an entry for c: the client goes on with its pipeline, or
 * blocks until the pipe is empty. */
static void pipe_settle(struct pipeline *pl, struct client *c, int argc,
                        const struct dyn_arg *argv)
{
    struct pipe *p = *pipe_slot(pl, c);
    pl->dispatching = NULL;
    if (!p)
        return;
    if (p->n == 0) {
        pipe_del(pl, p);
        return;
    }
    if (argv && pipe_next_ok(pl, c, p, argc, argv))
        return;
    p->blocked = 1;
    c->flags |= CLIENT_BLOCKED;
}

void pipeline_submit(struct client *c, const struct command *cmd, int argc,
                     const struct dyn_arg *argv)
{
    struct pipeline *pl = c->node->pipeline;
    struct pentry *e = entry_push(pipe_get(pl, c), cmd);
    int ki = command_single_key(cmd, argc);
    if (ki) {
        e->key = dyn_memdup(argv[ki].p, argv[ki].len);
        e->klen = argv[ki].len;
    }
    e->call.done = entry_done;
    e->call.ctx = e;
    e->start_us = node_mono_us(c->node);
    pl->dispatching = c;
    coord_submit(c->node, cmd, c->resp, argc, argv, &e->call);
    pipe_settle(pl, c, argc, argv);
}

/* ---- EXEC ---------------------------------------------------------------- */

static void exec_next(struct pentry *e);

static void exec_child_done(void *ctx, const char *reply, size_t len,
                            int failed)
{
    struct pentry *e = ctx;
    (void)failed; /* an error inside EXEC is an element of its array */
    dbuf_append(&e->child[e->qnext], reply, len);
    e->qnext++;
    if (!e->looping)
        exec_next(e);
}

/* Runs the queued commands from qnext on, until one waits on the cluster
 * or all are done. */
static void exec_next(struct pentry *e)
{
    struct client *c = e->p->c;
    e->looping = 1;
    while (e->qnext < e->qlen && !e->call.op) {
        struct queued_cmd *qc = &e->queue[e->qnext];
        if (qc->cmd->route != ROUTE_LOCAL) {
            e->call.done = exec_child_done;
            e->call.ctx = e;
            coord_submit(c->node, qc->cmd, c->resp, qc->argc, qc->argv,
                         &e->call);
            continue; /* done may have run already */
        }
        /* not a cluster command: run it for the real client, capturing */
        struct dbuf saved = c->obuf;
        dbuf_init(&c->obuf);
        c->flags |= CLIENT_IN_EXEC;
        e->run_local(c, qc->cmd, qc->argc, qc->argv);
        c->flags &= ~(unsigned)CLIENT_IN_EXEC;
        dbuf_append(&e->child[e->qnext], c->obuf.p, c->obuf.len);
        dbuf_free(&c->obuf);
        c->obuf = saved;
        e->qnext++;
    }
    e->looping = 0;
    if (e->qnext < e->qlen)
        return; /* exec_child_done goes on */
    struct dbuf out;
    dbuf_init(&out);
    reply_array(&out, e->qlen);
    for (int i = 0; i < e->qlen; i++)
        dbuf_append(&out, e->child[i].p, e->child[i].len);
    entry_finish(e, out.p, out.len, 0);
    dbuf_free(&out);
}

void pipeline_exec(struct client *c, struct queued_cmd *queue, int count,
                   pipeline_run_fn *run_local)
{
    struct pipeline *pl = c->node->pipeline;
    struct pentry *e = entry_push(pipe_get(pl, c), NULL);
    e->queue = queue;
    e->qlen = count;
    e->run_local = run_local;
    e->child = dyn_calloc(count ? (size_t)count : 1, sizeof(struct dbuf));
    pl->dispatching = c;
    exec_next(e);
    pipe_settle(pl, c, 0, NULL); /* EXEC is a barrier: blocks */
}

/* ---- life ---------------------------------------------------------------- */

void pipeline_client_gone(struct client *c)
{
    struct pipeline *pl = c->node->pipeline;
    if (!pl)
        return;
    struct pipe **pp = pipe_slot(pl, c);
    struct pipe *p = *pp;
    if (!p)
        return;
    *pp = p->hnext;
    struct pentry *e = p->head, *next;
    for (; e; e = next) {
        next = e->next;
        entry_free(e);
    }
    dyn_free(p);
}

void pipeline_init(struct node *n)
{
    struct pipeline *pl = dyn_calloc(1, sizeof(*pl));
    pl->node = n;
    resp_init(&pl->peek);
    n->pipeline = pl;
}

void pipeline_free(struct node *n)
{
    struct pipeline *pl = n->pipeline;
    if (!pl)
        return;
    for (size_t i = 0; i < PIPE_BUCKETS; i++)
        while (pl->pipes[i]) {
            struct pipe *p = pl->pipes[i];
            pl->pipes[i] = p->hnext;
            struct pentry *e = p->head, *next;
            for (; e; e = next) {
                next = e->next;
                entry_free(e);
            }
            dyn_free(p);
        }
    resp_free(&pl->peek);
    dyn_free(pl);
    n->pipeline = NULL;
}
