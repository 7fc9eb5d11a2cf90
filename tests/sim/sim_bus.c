/*
 * sim_bus.c -- cluster/peer.h over an in-memory, test-driven network (see
 * sim_bus.h for the contract it keeps and the faults it offers).
 *
 * Life of a request from node A to node B:
 *
 *   peer_request(A's bus, B)
 *     │ link A->B down ──────────> FAIL(DYN_EIO), due now
 *     │ fault drop_out ──────────> FAIL(DYN_EAGAIN), due now + dead_link_ms
 *     v
 *   REQ message in flight (on_sent)
 *     │ ... sim_net_step picks it (only the oldest REQ of link A->B may go)
 *     │ link silent / B drops A ─> FAIL(DYN_EAGAIN) at sent + dead_link_ms
 *     v
 *   B: call appended to B's queue for A, handler(call, argv)
 *     │ handler (now or later) writes one RESP value, peer_call_done
 *     │ finished calls at the queue head leave in order
 *     v
 *   REP message in flight (the RESP bytes)
 *     │ ... picked (only the oldest REP of link B->A may go)
 *     │ link silent ─────────────> FAIL(DYN_EAGAIN) at sent + dead_link_ms
 *     v
 *   A: on_reply, bytes parsed into a struct peer_value, cb(ctx, 0|EPROTO, v)
 *
 * A link set DOWN breaks both connections between the pair at once, as a
 * closed socket does: requests and replies in flight on them, and calls
 * the far side has not answered yet, fail their requesters with DYN_EIO
 * (queued, so never inside the call that broke the link).
 *
 * Invariants: every message in the queue owns exactly one callback (cb,
 * ctx) of a live bus; a call is on exactly one connection queue until it
 * has left as a REP, or it is an orphan (its connection broke) and is freed
 * by peer_call_done.  Messages are kept in send order (seq), so "the first
 * of its link in the array" is the FIFO head.
 *
 * The trace (sim_net_trace_to, SIM_TRACE=1) has one line per delivery,
 * "t=<virtual ms> REQ|REP|FAIL nA->nB id=<id> h=<hash of every byte>" and
 * a readable head, plus the test's own lines (sim_net_tracef); the hash
 * makes two traces equal only if every message was.
 *
 * The bus is peer.h's table of operations (sim_bus_ops): struct sim_bus
 * and struct sim_call begin with struct peer_bus / peer_call, and what is
 * not about the network -- reply value copies, the handler lookup for an
 * incoming request, the one-call answers -- is cluster/peer_ops.c's,
 * shared with the TCP bus.
 *
 * Thread-safety: none.  Errors: peer.h's.
 */
#include "tests/sim/sim_bus.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cluster/peer.h"
#include "server/client.h"
#include "server/node.h"
#include "server/reply.h"
#include "server/util.h"

enum msg_kind { MSG_REQ = 1, MSG_REP, MSG_FAIL };

struct sim_msg {
    enum msg_kind kind;
    int from, to;               /* node indices: the way it travels */
    uint64_t due;               /* may not go before (delay, FAIL timeout) */
    uint64_t sent_ms;
    /* the callback this message owns (requester side) */
    struct sim_bus *req_bus;
    int req_peer;               /* peer id of the answerer on req_bus */
    peer_reply_fn *cb;
    void *ctx;
    uint64_t id;
    /* MSG_REQ: the request (argv[0] is the command, no id) */
    int argc;
    struct dyn_arg *argv;       /* one allocation with the bytes */
    /* MSG_REP: the answer's RESP bytes; MSG_FAIL: err */
    struct dbuf bytes;
    int err;
};

struct sim_call {
    struct peer_call pub;       /* first: peer_call_* dispatch through it */
    struct sim_bus *bus;        /* the answering bus */
    int from;                   /* requester node */
    uint64_t id;
    struct dbuf out;
    int done;
    int orphan;                 /* connection broke: freed by done */
    struct sim_msg *req;        /* owns the requester's callback */
    struct sim_call *next;
};

struct sim_peer {
    int used;
    char name[PEER_NAME_MAX];
    int port;                   /* a seed ("?seed-i") is found by it */
    int node;                   /* -1: no such node in the network */
    struct peer_fault fault;
};

struct sim_bus {
    struct peer_bus pub;        /* first: peer_* dispatch through it */
    struct sim_net *net;
    int self;
    struct peer_handlers h;
    void *ctx;
    uint64_t dead_link_ms;
    size_t max_message;
    int freeing;
    int killed;                 /* peer_bus_set_killed */
    uint64_t next_id;
    struct sim_peer peers[SIM_MAX_NODES * 2];
    /* incoming connection queues, by requester node */
    struct sim_call *conn_head[SIM_MAX_NODES], *conn_tail[SIM_MAX_NODES];
    struct peer_bus_stats st;
};

struct sim_node {
    char name[PEER_NAME_MAX];
    int port;                   /* its cluster port, for seed lines */
    struct node *n;
    struct sim_bus *bus;
};

struct sim_net {
    uint64_t rng;
    uint64_t now;
    struct sim_node nodes[SIM_MAX_NODES];
    int nnodes;
    enum sim_link link[SIM_MAX_NODES][SIM_MAX_NODES];
    struct sim_msg **q;         /* in send order */
    size_t qlen, qcap;
    uint64_t delivered, dropped;
    int trace;                  /* SIM_TRACE=1: to stderr */
    struct dbuf *trace_out;     /* sim_net_trace_to: to this buffer */
    struct peer_bus_impl impl;  /* what sim_net_add gives its nodes */
};

static const struct peer_bus_ops sim_bus_ops;

static struct sim_bus *sim_bus_of(struct peer_bus *pub)
{
    dyn_assert(pub->ops == &sim_bus_ops);
    return (struct sim_bus *)pub;
}

static const struct sim_bus *sim_bus_of_c(const struct peer_bus *pub)
{
    dyn_assert(pub->ops == &sim_bus_ops);
    return (const struct sim_bus *)pub;
}

static struct sim_call *sim_call_of(struct peer_call *pub)
{
    return (struct sim_call *)pub;
}

static const struct sim_call *sim_call_of_c(const struct peer_call *pub)
{
    return (const struct sim_call *)pub;
}

/* ---- the network -------------------------------------------------------- */

uint64_t sim_net_random(struct sim_net *net)
{
    /* splitmix64: every seed, including 0, gives a good stream */
    uint64_t z = (net->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

struct sim_net *sim_net_new(uint64_t seed, uint64_t start_ms)
{
    struct sim_net *net = dyn_calloc(1, sizeof(*net));
    net->rng = seed;
    net->now = start_ms;
    const char *tr = getenv("SIM_TRACE");
    net->trace = tr && tr[0] == '1';
    net->impl.ops = &sim_bus_ops;
    net->impl.impl = net;
    return net;
}

void sim_net_free(struct sim_net *net)
{
    if (!net)
        return;
    for (int i = 0; i < net->nnodes; i++)
        dyn_assert(net->nodes[i].bus == NULL);
    dyn_assert(net->qlen == 0);
    dyn_free(net->q);
    dyn_free(net);
}

int sim_net_add(struct sim_net *net, const char *name, struct node *n)
{
    dyn_assert(net->nnodes < SIM_MAX_NODES);
    struct sim_node *sn = &net->nodes[net->nnodes];
    snprintf(sn->name, sizeof(sn->name), "%s", name);
    sn->port = n->cfg.cluster_port ? n->cfg.cluster_port : n->cfg.port + 10000;
    sn->n = n;
    n->peers = &net->impl;      /* cluster_init builds its bus on us */
    return net->nnodes++;
}

uint64_t sim_net_now(const struct sim_net *net)
{
    return net->now;
}

void sim_net_set_now(struct sim_net *net, uint64_t t)
{
    if (t > net->now)
        net->now = t;
}

size_t sim_net_pending(const struct sim_net *net)
{
    return net->qlen;
}

uint64_t sim_net_delivered(const struct sim_net *net)
{
    return net->delivered;
}

uint64_t sim_net_dropped(const struct sim_net *net)
{
    return net->dropped;
}

static int node_by_name(const struct sim_net *net, const char *name)
{
    for (int i = 0; i < net->nnodes; i++)
        if (strcmp(net->nodes[i].name, name) == 0)
            return i;
    return -1;
}

/* The node a peer entry reaches: by its name, or for a seed (members.c
 * names those "?seed-i" until its gossip tells the real name) by the
 * cluster port its seed line gave, as a dial would. */
static int node_of_peer(const struct sim_net *net, const struct sim_peer *p)
{
    int i = node_by_name(net, p->name);
    if (i >= 0 || p->name[0] != '?')
        return i;
    for (i = 0; i < net->nnodes; i++)
        if (net->nodes[i].port == p->port)
            return i;
    return -1;
}

static struct sim_peer *bus_peer(struct sim_bus *bus, int id);

static void q_push(struct sim_net *net, struct sim_msg *m)
{
    if (net->qlen == net->qcap) {
        net->qcap = net->qcap ? net->qcap * 2 : 64;
        net->q = dyn_realloc(net->q, net->qcap * sizeof(*net->q));
    }
    net->q[net->qlen++] = m;
}

static void q_remove(struct sim_net *net, size_t i)
{
    memmove(&net->q[i], &net->q[i + 1], (net->qlen - i - 1) * sizeof(*net->q));
    net->qlen--;
}

static void msg_free(struct sim_msg *m)
{
    if (!m)
        return;
    dyn_free(m->argv);
    dbuf_free(&m->bytes);
    dyn_free(m);
}

/* Turns m (which owns a callback) into a failure due at `due`, queued. */
static void msg_fail(struct sim_net *net, struct sim_msg *m, int err,
                     uint64_t due)
{
    dyn_free(m->argv);
    m->argv = NULL;
    m->argc = 0;
    dbuf_free(&m->bytes);
    m->kind = MSG_FAIL;
    m->err = err;
    m->due = due;
    q_push(net, m);
}

/* A connection from a (dialer) to b closes: what is in flight on it and
 * what b has not answered fail their requesters with DYN_EIO. */
static void conn_break(struct sim_net *net, int a, int b)
{
    for (size_t i = 0; i < net->qlen;) {
        struct sim_msg *m = net->q[i];
        if ((m->kind == MSG_REQ && m->from == a && m->to == b) ||
            (m->kind == MSG_REP && m->from == b && m->to == a)) {
            q_remove(net, i);
            net->dropped++;
            msg_fail(net, m, DYN_EIO, net->now);
            continue;
        }
        i++;
    }
    struct sim_bus *bb = net->nodes[b].bus;
    if (!bb)
        return;
    struct sim_call *c = bb->conn_head[a];
    bb->conn_head[a] = bb->conn_tail[a] = NULL;
    while (c) {
        struct sim_call *next = c->next;
        struct sim_msg *m = c->req;
        c->req = NULL;
        c->next = NULL;
        if (m) {
            net->dropped++;
            msg_fail(net, m, DYN_EIO, net->now);
        }
        if (c->done) {
            dbuf_free(&c->out);
            dyn_free(c);
        } else {
            c->orphan = 1;
        }
        c = next;
    }
}

static int peer_of_node(struct sim_bus *bus, int node);
static int connected(const struct sim_net *net, int a, int b);

/* on_link on a's bus about b, as the connection comes or goes. */
static void link_notify(struct sim_net *net, int a, int b, int up)
{
    struct sim_bus *bus = net->nodes[a].bus;
    int pid = bus ? peer_of_node(bus, b) : -1;
    if (pid >= 0 && bus->h.on_link)
        bus->h.on_link(bus->ctx, pid, up);
}

void sim_net_link(struct sim_net *net, int from, int to, enum sim_link mode)
{
    int before = connected(net, from, to);
    enum sim_link was = net->link[from][to];
    net->link[from][to] = mode;
    if (mode == SIM_LINK_DOWN && was != SIM_LINK_DOWN) {
        conn_break(net, from, to);
        conn_break(net, to, from);
    }
    int after = connected(net, from, to);
    if (before != after) {
        link_notify(net, from, to, after);
        link_notify(net, to, from, after);
    }
}

void sim_net_isolate(struct sim_net *net, int i, enum sim_link mode)
{
    for (int j = 0; j < net->nnodes; j++) {
        if (j == i)
            continue;
        sim_net_link(net, i, j, mode);
        sim_net_link(net, j, i, mode);
    }
}

uint64_t sim_net_next_due(const struct sim_net *net)
{
    uint64_t best = UINT64_MAX;
    for (size_t i = 0; i < net->qlen; i++)
        if (net->q[i]->due > net->now && net->q[i]->due < best)
            best = net->q[i]->due;
    return best;
}

static int connected(const struct sim_net *net, int a, int b)
{
    return a >= 0 && b >= 0 && net->nodes[a].bus && net->nodes[b].bus &&
           net->link[a][b] != SIM_LINK_DOWN && net->link[b][a] != SIM_LINK_DOWN;
}

/* ---- RESP answers back into peer values --------------------------------- */

/* One line (up to CRLF) at p; returns its length or -1. */
static long line_len(const char *p, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++)
        if (p[i] == '\r' && p[i + 1] == '\n')
            return (long)i;
    return -1;
}

static void value_set_str(struct peer_value *v, const char *p, size_t n)
{
    v->str = dyn_malloc(n + 1);
    memcpy(v->str, p, n);
    v->str[n] = 0;
    v->len = n;
}

/* Parses one RESP2 value (and RESP3's null) at p; returns the bytes used or
 * -1.  The handlers are ours, so anything else is a bug worth failing on. */
static long value_parse(const char *p, size_t len, struct peer_value *v)
{
    memset(v, 0, sizeof(*v));
    long l = line_len(p, len);
    if (l < 1)
        return -1;
    long long num = 0;
    size_t used = (size_t)l + 2;
    switch (p[0]) {
    case '+':
    case '-':
        v->type = p[0] == '+' ? PEER_V_STATUS : PEER_V_ERROR;
        value_set_str(v, p + 1, (size_t)l - 1);
        return (long)used;
    case '_':
        v->type = PEER_V_NIL;
        return (long)used;
    case ':':
        if (dyn_str2ll(p + 1, (size_t)l - 1, &num) != 0)
            return -1;
        v->type = PEER_V_INT;
        v->integer = num;
        return (long)used;
    case '$':
        if (dyn_str2ll(p + 1, (size_t)l - 1, &num) != 0)
            return -1;
        if (num < 0) {
            v->type = PEER_V_NIL;
            return (long)used;
        }
        if (used + (size_t)num + 2 > len)
            return -1;
        v->type = PEER_V_STRING;
        value_set_str(v, p + used, (size_t)num);
        return (long)(used + (size_t)num + 2);
    case '*':
        if (dyn_str2ll(p + 1, (size_t)l - 1, &num) != 0)
            return -1;
        if (num < 0) {
            v->type = PEER_V_NIL;
            return (long)used;
        }
        v->type = PEER_V_ARRAY;
        v->elem = dyn_calloc((size_t)num ? (size_t)num : 1, sizeof(*v->elem));
        for (long long i = 0; i < num; i++) {
            long k = value_parse(p + used, len - used, &v->elem[i]);
            v->n = (size_t)i + 1;
            if (k < 0)
                return -1;
            used += (size_t)k;
        }
        return (long)used;
    default:
        return -1;
    }
}

long sim_resp_parse(const char *p, size_t len, struct peer_value *v)
{
    return value_parse(p, len, v);
}

void sim_value_clear(struct peer_value *v)
{
    peer_value_clear(v);
}

/* ---- delivery ----------------------------------------------------------- */

static void call_free(struct sim_call *c)
{
    dbuf_free(&c->out);
    dyn_free(c);
}

/* Finished calls at the head of b's queue for requester a leave, in order. */
static void conn_flush(struct sim_bus *b, int a)
{
    struct sim_net *net = b->net;
    while (b->conn_head[a] && b->conn_head[a]->done) {
        struct sim_call *c = b->conn_head[a];
        b->conn_head[a] = c->next;
        if (!c->next)
            b->conn_tail[a] = NULL;
        struct sim_msg *m = c->req;
        c->req = NULL;
        m->kind = MSG_REP;
        m->from = b->self;
        m->to = a;
        m->sent_ms = net->now;
        m->due = 0;
        dyn_free(m->argv);
        m->argv = NULL;
        m->argc = 0;
        dbuf_init(&m->bytes);
        dbuf_append(&m->bytes, c->out.p, c->out.len);
        b->st.replies_sent++;
        b->st.bytes_sent += c->out.len;
        q_push(net, m);
        call_free(c);
    }
}

static int peer_of_node(struct sim_bus *bus, int node)
{
    for (int i = 0; i < (int)DYN_ARRAY_LEN(bus->peers); i++) {
        struct sim_peer *p = bus_peer(bus, i);
        if (p && p->node == node)
            return i;
    }
    return -1;
}

static void deliver_request(struct sim_net *net, struct sim_msg *m)
{
    struct sim_bus *b = net->nodes[m->to].bus;
    if (!b || !connected(net, m->from, m->to)) {
        net->dropped++;
        msg_fail(net, m, DYN_EIO, net->now);
        return;
    }
    int pid = peer_of_node(b, m->from);
    if (net->link[m->from][m->to] == SIM_LINK_SILENT ||
        (pid >= 0 && b->peers[pid].fault.drop_in)) {
        net->dropped++;
        b->st.dropped++;
        msg_fail(net, m, DYN_EAGAIN, m->sent_ms + m->req_bus->dead_link_ms);
        return;
    }
    struct sim_call *c = dyn_calloc(1, sizeof(*c));
    c->pub.ops = &sim_bus_ops;
    c->bus = b;
    c->from = m->from;
    c->id = m->id;
    dbuf_init(&c->out);
    c->req = m;
    if (b->conn_tail[m->from])
        b->conn_tail[m->from]->next = c;
    else
        b->conn_head[m->from] = c;
    b->conn_tail[m->from] = c;
    b->st.requests_received++;
    /* argv stays valid through the handler: m is not freed before the
     * call is done, and its argv only then */
    int argc = m->argc;
    struct dyn_arg *argv = m->argv;
    m->argv = NULL;
    peer_dispatch(&b->h, b->ctx, &c->pub, argc, argv);
    dyn_free(argv);
}

static void deliver_reply(struct sim_net *net, struct sim_msg *m)
{
    struct sim_bus *a = m->req_bus;
    if (!connected(net, m->from, m->to)) {
        net->dropped++;
        msg_fail(net, m, DYN_EIO, net->now);
        return;
    }
    if (net->link[m->from][m->to] == SIM_LINK_SILENT) {
        net->dropped++;
        msg_fail(net, m, DYN_EAGAIN, m->sent_ms + a->dead_link_ms);
        return;
    }
    struct peer_value v;
    long used = value_parse(m->bytes.p, m->bytes.len, &v);
    dyn_assert(used > 0 && (size_t)used == m->bytes.len);
    a->st.replies_received++;
    if (a->h.on_reply)
        a->h.on_reply(a->ctx, m->req_peer, net->now);
    m->cb(m->ctx, v.type == PEER_V_ERROR ? DYN_EPROTO : 0, &v);
    peer_value_clear(&v);
    msg_free(m);
}

/* ---- the trace ---------------------------------------------------------- */

void sim_net_trace_to(struct sim_net *net, struct dbuf *out)
{
    net->trace_out = out;
}

static void trace_vline(struct sim_net *net, const char *fmt, va_list ap)
{
    struct dbuf line;
    dbuf_init(&line);
    dbuf_printf(&line, "t=%llu ", (unsigned long long)net->now);
    dbuf_vprintf(&line, fmt, ap);
    dbuf_appendc(&line, '\n');
    if (net->trace_out)
        dbuf_append(net->trace_out, line.p, line.len);
    else if (net->trace)
        fwrite(line.p, 1, line.len, stderr);
    dbuf_free(&line);
}

void sim_net_tracef(struct sim_net *net, const char *fmt, ...)
{
    if (!net->trace_out && !net->trace)
        return;
    va_list ap;
    va_start(ap, fmt);
    trace_vline(net, fmt, ap);
    va_end(ap);
}

/* A printable head of bytes: up to 40 of them, up to the first CR. */
static int trace_head(const char *p, size_t len)
{
    size_t n = 0;
    while (n < len && n < 40 && p[n] != '\r' && p[n] != '\n')
        n++;
    return (int)n;
}

void sim_net_trace_reply(const struct client *c)
{
    const struct peer_bus_impl *pi = c->node ? c->node->peers : NULL;
    struct sim_net *net = pi && pi->ops == &sim_bus_ops ? pi->impl : NULL;
    if (!net || (!net->trace_out && !net->trace))
        return;
    sim_net_tracef(net, "reply c%llu len=%zu h=%016llx %.*s",
                   (unsigned long long)c->id, c->obuf.len,
                   (unsigned long long)dyn_hash64(c->obuf.p, c->obuf.len),
                   trace_head(c->obuf.p, c->obuf.len), c->obuf.p);
}

/* One line per delivery: kind, link, id, a hash of every byte of the
 * message (so a difference anywhere in it shows), and a readable head. */
static void msg_trace(struct sim_net *net, const struct sim_msg *m)
{
    static const char *kinds[] = {"?", "REQ", "REP", "FAIL"};
    uint64_t h = 0;
    struct dbuf head;
    dbuf_init(&head);
    if (m->kind == MSG_REQ) {
        for (int i = 0; i < m->argc; i++) {
            h = h * 0x100000001b3ULL ^
                dyn_hash64(m->argv[i].p, m->argv[i].len);
            if (i < 2)
                dbuf_printf(&head, " %.*s",
                            trace_head(m->argv[i].p, m->argv[i].len),
                            m->argv[i].p);
        }
    } else if (m->kind == MSG_REP) {
        h = dyn_hash64(m->bytes.p, m->bytes.len);
        dbuf_printf(&head, " %.*s", trace_head(m->bytes.p, m->bytes.len),
                    m->bytes.p);
    } else {
        dbuf_printf(&head, " err=%d", m->err);
    }
    sim_net_tracef(net, "%s n%d->n%d id=%llu h=%016llx%.*s", kinds[m->kind],
                   m->from + 1, m->to + 1, (unsigned long long)m->id,
                   (unsigned long long)h, (int)head.len,
                   head.p ? head.p : "");
    dbuf_free(&head);
}

int sim_net_step(struct sim_net *net)
{
    /* candidates: the head of each link's request and reply FIFO, and every
     * failure that is due */
    size_t cand[256];
    size_t nc = 0;
    unsigned char seen[2][SIM_MAX_NODES][SIM_MAX_NODES];
    memset(seen, 0, sizeof(seen));
    for (size_t i = 0; i < net->qlen && nc < DYN_ARRAY_LEN(cand); i++) {
        struct sim_msg *m = net->q[i];
        if (m->kind == MSG_FAIL) {
            if (m->due <= net->now)
                cand[nc++] = i;
            continue;
        }
        int k = m->kind == MSG_REQ ? 0 : 1;
        if (seen[k][m->from][m->to])
            continue;
        seen[k][m->from][m->to] = 1;
        if (m->due <= net->now)
            cand[nc++] = i;
    }
    if (nc == 0)
        return 0;
    size_t i = cand[sim_net_random(net) % nc];
    struct sim_msg *m = net->q[i];
    q_remove(net, i);
    net->delivered++;
    if (net->trace || net->trace_out)
        msg_trace(net, m);
    switch (m->kind) {
    case MSG_REQ:
        deliver_request(net, m);
        break;
    case MSG_REP:
        deliver_reply(net, m);
        break;
    case MSG_FAIL:
        m->cb(m->ctx, m->err, NULL);
        msg_free(m);
        break;
    }
    return 1;
}

/* ---- the bus ------------------------------------------------------------ */

static int sim_bus_new(void *impl, struct event_base *base,
                       const struct peer_bus_opts *opts,
                       const struct peer_handlers *h, void *ctx,
                       struct peer_bus **out)
{
    struct sim_net *net = impl;
    (void)base;
    if (!net || !opts->self_name || !opts->self_name[0])
        return DYN_EINVAL;
    if (!opts->insecure && (!opts->secret || !opts->secret_len))
        return DYN_EINVAL;
    int self = node_by_name(net, opts->self_name);
    if (self < 0 || net->nodes[self].bus)
        return DYN_EIO;
    struct sim_bus *bus = dyn_calloc(1, sizeof(*bus));
    bus->pub.ops = &sim_bus_ops;
    bus->net = net;
    bus->self = self;
    bus->h = *h;
    bus->ctx = ctx;
    bus->dead_link_ms = opts->dead_link_ms ? opts->dead_link_ms : 5000;
    bus->max_message = opts->max_message ? opts->max_message : 64u << 20;
    net->nodes[self].bus = bus;
    *out = &bus->pub;
    return 0;
}

/* Fails with DYN_EIO, now, every message that owns one of bus's
 * callbacks; callbacks may queue more (they fail: the bus is freeing). */
static void bus_fail_all(struct sim_bus *bus)
{
    struct sim_net *net = bus->net;
    for (;;) {
        size_t i;
        for (i = 0; i < net->qlen; i++)
            if (net->q[i]->req_bus == bus)
                break;
        if (i == net->qlen)
            break;
        struct sim_msg *m = net->q[i];
        q_remove(net, i);
        m->cb(m->ctx, DYN_EIO, NULL);
        msg_free(m);
    }
}

static void sim_bus_free(struct peer_bus *pub)
{
    struct sim_bus *bus = sim_bus_of(pub);
    struct sim_net *net = bus->net;
    bus->freeing = 1;
    /* connections both ways close; their requesters fail (queued), then
     * everything that is ours fails at once */
    for (int j = 0; j < net->nnodes; j++) {
        if (j == bus->self)
            continue;
        conn_break(net, bus->self, j);
        conn_break(net, j, bus->self);
    }
    bus_fail_all(bus);
    /* requests on their way to us fail their senders */
    for (size_t i = 0; i < net->qlen;) {
        struct sim_msg *m = net->q[i];
        if (m->kind == MSG_REQ && m->to == bus->self) {
            q_remove(net, i);
            msg_fail(net, m, DYN_EIO, net->now);
            continue;
        }
        i++;
    }
    net->nodes[bus->self].bus = NULL;
    dyn_free(bus);
}

static int sim_port(const struct peer_bus *pub)
{
    return 30000 + sim_bus_of_c(pub)->self;
}

static void sim_get_stats(const struct peer_bus *pub,
                          struct peer_bus_stats *out)
{
    *out = sim_bus_of_c(pub)->st;
}

/* The peer, its node resolved by name (it may join the network after
 * peer_add). */
static struct sim_peer *bus_peer(struct sim_bus *bus, int id)
{
    if (id < 0 || id >= (int)DYN_ARRAY_LEN(bus->peers) || !bus->peers[id].used)
        return NULL;
    struct sim_peer *p = &bus->peers[id];
    if (p->node < 0)
        p->node = node_of_peer(bus->net, p);
    return p;
}

static int sim_find(const struct peer_bus *pub, const char *name);

static int sim_add(struct peer_bus *pub, const char *name, const char *host,
                   int port)
{
    struct sim_bus *bus = sim_bus_of(pub);
    if (!name || !name[0] || strlen(name) >= PEER_NAME_MAX || !host ||
        port <= 0 || port > 65535)
        return DYN_EINVAL;
    if (sim_find(pub, name) >= 0)
        return DYN_EEXIST;
    for (int i = 0; i < (int)DYN_ARRAY_LEN(bus->peers); i++) {
        if (bus->peers[i].used)
            continue;
        memset(&bus->peers[i], 0, sizeof(bus->peers[i]));
        bus->peers[i].used = 1;
        snprintf(bus->peers[i].name, PEER_NAME_MAX, "%s", name);
        bus->peers[i].port = port;
        bus->peers[i].node = node_of_peer(bus->net, &bus->peers[i]);
        bus->st.connects++;
        return i;
    }
    return DYN_ELIMIT;
}

static int sim_remove(struct peer_bus *pub, int peer_id)
{
    struct sim_bus *bus = sim_bus_of(pub);
    struct sim_peer *p = bus_peer(bus, peer_id);
    if (!p)
        return DYN_EINVAL;
    if (p->node >= 0)
        conn_break(bus->net, bus->self, p->node);
    p->used = 0;
    return 0;
}

static int sim_is_connected(const struct peer_bus *pub, int peer_id)
{
    struct sim_bus *bus = sim_bus_of((struct peer_bus *)pub);
    struct sim_peer *p = bus_peer(bus, peer_id);
    return p && connected(bus->net, bus->self, p->node);
}

static int sim_find(const struct peer_bus *pub, const char *name)
{
    const struct sim_bus *bus = sim_bus_of_c(pub);
    for (int i = 0; i < (int)DYN_ARRAY_LEN(bus->peers); i++)
        if (bus->peers[i].used && strcmp(bus->peers[i].name, name) == 0)
            return i;
    return DYN_ENOTFOUND;
}

/* The simulation has its own crash faults; a killed bus only stops what
 * it sends (PEER_CMD_UNFILTERED is not modelled). */
static void sim_set_killed(struct peer_bus *pub, int killed)
{
    sim_bus_of(pub)->killed = killed;
}

static int sim_set_fault(struct peer_bus *pub, int peer_id,
                         const struct peer_fault *f)
{
    struct sim_peer *p = bus_peer(sim_bus_of(pub), peer_id);
    if (!p)
        return DYN_EINVAL;
    p->fault = *f;
    return 0;
}

static int sim_request(struct peer_bus *pub, int peer_id, int argc,
                       const struct dyn_arg *argv, peer_reply_fn *cb,
                       void *ctx, uint64_t *id_out)
{
    struct sim_bus *bus = sim_bus_of(pub);
    struct sim_peer *p = bus_peer(bus, peer_id);
    struct sim_net *net = bus->net;
    if (!p || argc < 1 || !cb)
        return DYN_EINVAL;
    if (bus->freeing)
        return DYN_EIO;
    size_t total = 64;
    for (int i = 0; i < argc; i++)
        total += argv[i].len + 24;
    if (total > bus->max_message)
        return DYN_ELIMIT;
    struct sim_msg *m = dyn_calloc(1, sizeof(*m));
    dbuf_init(&m->bytes);
    m->req_bus = bus;
    m->req_peer = peer_id;
    m->cb = cb;
    m->ctx = ctx;
    m->id = ++bus->next_id;
    m->from = bus->self;
    m->to = p->node;
    m->sent_ms = net->now;
    if (id_out)
        *id_out = m->id;
    if (p->fault.drop_out || bus->killed) {
        bus->st.dropped++;
        net->dropped++;
        msg_fail(net, m, DYN_EAGAIN, net->now + bus->dead_link_ms);
        return 0;
    }
    if (!connected(net, bus->self, p->node)) {
        msg_fail(net, m, DYN_EIO, net->now);
        return 0;
    }
    size_t bytes = 0;
    for (int i = 0; i < argc; i++)
        bytes += argv[i].len;
    m->kind = MSG_REQ;
    m->argc = argc;
    m->argv = dyn_malloc(sizeof(*m->argv) * (size_t)argc + bytes + 1);
    char *s = (char *)(m->argv + argc);
    for (int i = 0; i < argc; i++) {
        memcpy(s, argv[i].p, argv[i].len);
        m->argv[i].p = s;
        m->argv[i].len = argv[i].len;
        s += argv[i].len;
    }
    m->due = net->now + p->fault.delay_ms;
    q_push(net, m);
    bus->st.requests_sent++;
    bus->st.bytes_sent += bytes;
    if (bus->h.on_sent)
        bus->h.on_sent(bus->ctx, peer_id, net->now);
    return 0;
}

/* ---- calls -------------------------------------------------------------- */

static struct dbuf *sim_call_buf(struct peer_call *pub)
{
    return &sim_call_of(pub)->out;
}

static void sim_call_done(struct peer_call *pub)
{
    struct sim_call *call = sim_call_of(pub);
    dyn_assert(!call->done);
    call->done = 1;
    if (call->orphan) {
        call_free(call);
        return;
    }
    conn_flush(call->bus, call->from);
}

/* peer_call_reply_* are in cluster/peer_ops.c */

static const char *sim_call_peer_name(const struct peer_call *pub)
{
    const struct sim_call *call = sim_call_of_c(pub);
    return call->bus->net->nodes[call->from].name;
}

static int sim_call_peer_id(const struct peer_call *pub)
{
    const struct sim_call *call = sim_call_of_c(pub);
    return call->orphan ? -1 : peer_of_node(call->bus, call->from);
}

static uint64_t sim_call_id(const struct peer_call *pub)
{
    return sim_call_of_c(pub)->id;
}

static int sim_call_alive(const struct peer_call *pub)
{
    return !sim_call_of_c(pub)->orphan;
}

static const struct peer_bus_ops sim_bus_ops = {
    .bus_new = sim_bus_new,
    .bus_free = sim_bus_free,
    .port = sim_port,
    .get_stats = sim_get_stats,
    .add = sim_add,
    .remove = sim_remove,
    .is_connected = sim_is_connected,
    .find = sim_find,
    .set_fault = sim_set_fault,
    .set_killed = sim_set_killed,
    .request = sim_request,
    .call_buf = sim_call_buf,
    .call_done = sim_call_done,
    .call_peer_name = sim_call_peer_name,
    .call_peer_id = sim_call_peer_id,
    .call_id = sim_call_id,
    .call_alive = sim_call_alive,
};
