/*
 * peer.c -- the cluster peer bus (peer.h).
 *
 * Why this file exists: nodes talk to each other all the time (replica
 * writes, reads, forwarded client commands, later gossip and handoff), and
 * every one of those exchanges wants the same things: a persistent,
 * authenticated connection per peer, many requests in flight on it, replies
 * matched to requests, a failure reported exactly once, and a reconnect
 * when the link breaks.  The bus provides them, and nothing else: it knows
 * no command but its own handshake.
 *
 * The life of a request, from the coordinator on node A to a handler on
 * node B and back (twemproxy-style):
 *
 *   node A (dialer)                              node B (acceptor)
 *   ───────────────                              ─────────────────
 *   peer_request(B, argv, cb)
 *     │ link not UP ─────> defer queue ──> cb(DYN_EIO) next loop turn
 *     │ fault drop_out ──> silent list ──> cb(DYN_EAGAIN) after dead_link_ms
 *     │ fault delay_ms ──> delay queue ──> (sent when its time comes)
 *     v
 *   encode "*n $cmd $id args.." ──> the link's obuf     (pending FIFO += req,
 *     │                                                   dead-link timer)
 *     │  ... more requests this loop turn append ...
 *     v
 *   end of the loop turn (ev_flush, activated by the first request of the
 *   turn, runs after the callbacks queued so far; the write event covers
 *   what a full socket leaves):
 *   ONE write(2) of the whole obuf ──────────────────> read event
 *                                                        │ resp_parse (limits)
 *                                                        v
 *                                           not authenticated? -NOAUTH, close
 *                                           call = {id}, appended to the
 *                                           connection's reply queue
 *                                                        │
 *                                                        v
 *                                           handler(ctx, call, argv)
 *                                             answers now, or later with
 *                                             peer_call_done(call)
 *                                                        │
 *                       finished calls at the queue head move to obuf, in
 *                       order; one write(2) per read callback (or per loop
 *                       turn for late answers)
 *                                                        │
 *   hiredis's reader (size-limited) <────────────────────┘
 *     │ replies match requests by order (pending FIFO head)
 *     v
 *   redisReply ──> struct peer_value ──> cb(ctx, 0 | DYN_EPROTO, value)
 *
 *   link lost (EOF, error, dead-link timer, oversized reply): every pending
 *   callback gets DYN_EIO from the loop; on_link(down); redial after
 *   100 ms, doubling to 1 s, reset once a link authenticates.
 *
 * The handshake (mutual challenge-response; auth.h says what a proof
 * covers and why):
 *
 *   dialer                                     acceptor
 *   PEER.HELLO <dialer-name> <dialer-nonce> ──>
 *                                              refuses its own name
 *                   <── [acceptor-name, acceptor-nonce]   (no proof yet)
 *   checks the name is the peer it meant to dial
 *   PEER.AUTH <proof(D, both nonces, both names)> ──>
 *                                              checks the dialer's proof
 *                   <── proof(A, both nonces, both names)
 *                       (or an error, and the acceptor closes)
 *   checks the acceptor's proof: the link is up
 *
 * The dialer proves itself first, and the acceptor computes a proof only
 * for a dialer that has, so nobody without the secret ever gets a node to
 * compute a proof over values of its choosing.  A dialer's proof is over
 * the acceptor's fresh nonce and both names, and is labelled as a dialer's,
 * so it is good for that one connection to that one node and nothing else.
 * What the handshake cannot do is bind the proofs to the TCP stream: an
 * attacker on the path can relay a handshake and then inject into the
 * stream.  tls-cluster closes that (the whole link is TLS 1.3 under a PSK
 * derived from the secret; see peer_tls below).
 *
 * An incoming connection that has not authenticated within
 * auth_timeout_ms (5 s) is closed, and at most PEER_MAX_UNAUTH of them are
 * open at once (more are closed as they arrive): a flood of half-open
 * handshakes costs bounded memory and no proof computation.
 *
 * With cluster-insecure both sides still exchange HELLO (names), but skip
 * PEER.AUTH: the acceptor's HELLO answer makes the connection ready.
 *
 * A failed handshake is counted (auth_failures) and logged as a warning
 * that names the peer's address and the side that failed: "this node
 * dialing n2 at host:port", or "ip:port dialing this node as n1" (the name
 * as claimed).  A wrong cluster-secret fails on every redial, so the lines
 * are rate-limited: at most one per PEER_AUTH_LOG_MS per address (the
 * dialed host:port, or the caller's IP and claimed name), the next one
 * saying how many it stands for.  The table of addresses is bounded
 * (PEER_AUTH_LOG_SLOTS): a failure from yet another address while every
 * slot is recent is not logged, only counted in the next line that is.
 * With tls-cluster a wrong secret fails the TLS handshake instead, before
 * any of this; a handshake that fails (either side, or a peer without
 * tls-cluster) is counted and logged the same way, with OpenSSL's reason.
 *
 * Invariants:
 *  - Until an incoming connection has passed PEER.AUTH, nothing on it
 *    reaches a handler: any other command is answered "-NOAUTH peer not
 *    authenticated" and the connection is closed.  Before authentication the
 *    parser also applies the small unauthenticated limits (10 arguments,
 *    16 KiB bulks).
 *  - Requests go out only on an authenticated link, so the pending FIFO
 *    holds exactly the requests sent on it, in the order their replies
 *    come back; a reply with no request pending closes the link.
 *  - Replies leave an incoming connection in request order, whatever order
 *    handlers finish in.
 *  - Every size that comes from the network is bounded by max_message
 *    before it is allocated: the incoming parser (max_bulk and the buffered
 *    bytes), and on outgoing links a wrapper around the reader's object
 *    functions (bytes of the reply being built) plus a check of the bytes
 *    the reader holds buffered after each read.
 *  - A reply callback runs exactly once, from the event loop, never inside
 *    peer_request (peer_bus_free is the documented exception).
 *
 * Deferred destruction: a link is never freed while its replies are being
 * delivered; closing it activates ev_kill, and the link is freed from
 * there, at the top of the loop.  A removed peer is freed only
 * once its link is gone.
 *
 * Both directions do their own socket I/O (non-blocking connect, read,
 * write, TLS through server/tls.c).  From hiredis the outgoing side uses
 * only the reply reader (redisReaderCreate/Feed/GetReply and its object
 * functions), an API that hiredis 0.14 and 1.x share; its async context
 * and libevent adapter are not used, so nothing depends on their layout.
 *
 * TLS (tls-cluster yes): both directions run TLS 1.3 under an external
 * PSK derived from cluster-secret, and the handshake above runs inside it.
 * TLS authenticates the link itself and protects every message after it;
 * the inner handshake still names the two nodes.  TLS records can make a
 * write take one call per 16 KiB record, and OpenSSL may hold decrypted
 * bytes that no socket event announces: the read handlers re-arm
 * themselves while tls_conn_pending says so.
 *
 * Fault injection (for DYNAMO.FAULT): drop_out swallows requests to a
 * peer; drop_in makes the acceptor answer requests from a peer with the
 * marker error "-PEERDROP", which the dialer swallows.  Either way the
 * request looks like silence to the coordinator, and its callback gets
 * DYN_EAGAIN after dead_link_ms, while the link stays up.  delay_ms holds
 * requests to a peer that long before sending them (in order).
 *
 * This file is the TCP implementation of peer.h's table of operations
 * (peer_tcp_ops; peer_ops.c dispatches to it): struct tcp_bus and struct
 * tcp_call begin with peer.h's struct peer_bus / peer_call, and the
 * tcp_* functions at the table are the peer_* functions of peer.h.
 *
 * Thread-safety: none; one event loop owns the bus.
 * Errors: functions return 0 or a negative enum dyn_err; problems on the
 * wire become error replies, closed connections or callbacks with an error.
 */
#include "cluster/peer.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <hiredis/hiredis.h>

#include "cluster/announce.h"
#include "cluster/auth.h"
#include "server/reply.h"
#include "server/log.h"
#include "server/resp.h"
#include "server/tls.h"
#include "server/util.h"

#define PEER_DEFAULT_MAX_MESSAGE (64u * 1024 * 1024)
#define PEER_DEFAULT_CONNECT_MS 2000
#define PEER_DEFAULT_DEAD_MS 5000
#define PEER_BACKOFF_MIN_MS 100
#define PEER_BACKOFF_MAX_MS 1000
#define PEER_READ_CHUNK 16384
#define PEER_DROP_MARKER "PEERDROP"
#define PEER_DEFAULT_AUTH_MS 5000
#define PEER_MAX_LISTENERS 16     /* bind addresses, as net.c allows */
#define PEER_MAX_UNAUTH 64
#define PEER_AUTH_LOG_MS 10000
#define PEER_AUTH_LOG_SLOTS 32

/* ---- types ------------------------------------------------------------ */

/* One outgoing request, from peer_request until its callback. */
struct preq {
    struct preq *next;
    peer_reply_fn *cb;
    void *ctx;
    uint64_t id;
    uint64_t t_ms;      /* sent at / deadline (silent) / release (delayed) */
    int err;            /* deferred queue: the error to deliver */
    int peer_id;
    char *wire;         /* delayed requests: their encoding */
    size_t wire_len;
};

struct preq_list {
    struct preq *head, *tail;
};

enum link_state {
    LINK_IDLE = 0,      /* no connection (waiting to redial) */
    LINK_CONNECTING,
    LINK_HELLO,         /* PEER.HELLO sent */
    LINK_AUTH,          /* PEER.AUTH sent */
    LINK_UP,
    LINK_CLOSING,       /* being torn down */
};

struct peer {
    struct tcp_bus *bus;
    int id;
    int removed;
    int linked;         /* on_link(up) reported, down not yet */
    char name[PEER_NAME_MAX];
    char *host;
    int port;
    int fd;                     /* -1: no connection */
    struct event *ev_read;      /* of fd, while it is open */
    struct event *ev_write;
    struct tls_conn *tls;       /* tls-cluster */
    redisReader *reader;        /* replies, bounded by reader_* below */
    struct dbuf obuf;           /* queued output, sent from obuf_sent */
    size_t obuf_sent;
    int read_wants_write;       /* a TLS read waits for writability */
    enum link_state state;
    char nonce[AUTH_NONCE_HEX + 1];         /* ours, sent in PEER.HELLO */
    char peer_nonce[AUTH_NONCE_HEX + 1];    /* the acceptor's */
    char peer_name[PEER_NAME_MAX];          /* the acceptor's (seeds) */
    struct preq_list pending;   /* sent, awaiting replies, in order */
    struct preq_list delayed;   /* fault delay_ms */
    struct event *ev_retry;
    struct event *ev_connect_to;
    struct event *ev_dead;
    struct event *ev_delay;
    struct event *ev_kill;
    uint64_t backoff_ms;
    uint64_t attempts;
    size_t reply_bytes;         /* of the reply the reader is building */
    struct peer_fault fault;
    redisReplyObjectFunctions fn;       /* our wrappers */
    redisReplyObjectFunctions *orig_fn; /* hiredis's defaults */
};

enum conn_state {
    CONN_HELLO = 0,     /* expects PEER.HELLO */
    CONN_AUTH,          /* expects PEER.AUTH */
    CONN_READY,
};

struct peer_conn {
    struct tcp_bus *bus;
    int fd;
    struct event *ev_read;
    struct event *ev_write;
    struct dbuf qbuf;
    struct resp_parser parser;
    struct dbuf obuf;
    size_t obuf_sent;
    struct tcp_call *head, *tail;  /* calls in request order */
    enum conn_state state;
    int closing;        /* stop reading; close once the queue is flushed */
    int in_read;        /* inside the read callback: flush at its end */
    int peer_id;
    char name[PEER_NAME_MAX];
    char nonce[AUTH_NONCE_HEX + 1];         /* ours, in the HELLO answer */
    char peer_nonce[AUTH_NONCE_HEX + 1];    /* the dialer's */
    char addr[64];              /* the caller's "ip:port", for the log */
    char ip[48];
    struct event *ev_auth_to;   /* closes it if not ready in time */
    struct tls_conn *tls;       /* tls-cluster */
    int read_wants_write;       /* a TLS read waits for writability */
    struct peer_conn *prev, *next;
};

struct tcp_call {
    struct peer_call pub;   /* first: peer_call_* dispatch through it */
    struct peer_conn *conn; /* NULL once orphaned */
    struct tcp_call *next;
    struct dbuf out;
    int done;
    int peer_id;
    uint64_t id;
    char peer_name[PEER_NAME_MAX];
};

struct tcp_bus {
    struct peer_bus pub;        /* first: peer_* dispatch through it */
    struct event_base *base;
    char self[PEER_NAME_MAX];
    char *secret;
    size_t secret_len;
    int insecure;
    size_t max_message;
    uint64_t connect_timeout_ms;
    uint64_t auth_timeout_ms;
    uint64_t dead_link_ms;
    struct peer_handlers h;
    void *ctx;
    struct evconnlistener *listeners[PEER_MAX_LISTENERS]; /* one a bind
                                         * address */
    int nlisteners;
    struct peer **peers;
    int npeers;         /* slots in use or freed (ids < npeers) */
    int peers_cap;
    struct peer_conn *conns;
    int unauth_conns;           /* of conns, not CONN_READY */
    struct ssl_ctx_st *tls_client;  /* tls-cluster: PSK contexts, or NULL */
    struct ssl_ctx_st *tls_server;
    struct preq_list deferred;
    struct event *ev_defer;
    struct preq_list silent;
    struct event *ev_silent;
    struct event *ev_flush;     /* writes every link's output, once a turn */
    int flush_armed;
    uint64_t next_id;
    struct dbuf scratch;        /* request encoding */
    struct dyn_arg *argv;       /* incoming argv scratch */
    size_t argv_cap;
    struct peer_value *elems;   /* a top-level reply array's items */
    size_t elems_cap;
    int elems_busy;
    int freeing;
    int killed;                 /* DYNAMO.KILL: behave as crashed */
    struct peer_bus_stats st;
    /* auth failure log lines, per address (see the essay) */
    struct auth_log {
        char key[PEER_NAME_MAX + 64];   /* "" when free */
        uint64_t last_ms;
        uint64_t unlogged;              /* failures since its last line */
    } auth_log[PEER_AUTH_LOG_SLOTS];
    uint64_t auth_unlogged;     /* not logged: no slot free (any address) */
};

/* ---- small helpers ---------------------------------------------------- */

/* The TCP structs behind peer.h's heads (their first members). */
static struct tcp_bus *tcp_bus_of(struct peer_bus *pub)
{
    dyn_assert(pub->ops == &peer_tcp_ops);
    return (struct tcp_bus *)pub;
}

static const struct tcp_bus *tcp_bus_of_c(const struct peer_bus *pub)
{
    dyn_assert(pub->ops == &peer_tcp_ops);
    return (const struct tcp_bus *)pub;
}

static struct tcp_call *tcp_call_of(struct peer_call *pub)
{
    return (struct tcp_call *)pub;
}

static const struct tcp_call *tcp_call_of_c(const struct peer_call *pub)
{
    return (const struct tcp_call *)pub;
}

static int tcp_find(const struct peer_bus *pub, const char *name);
static void tcp_call_done(struct peer_call *pub);
static void tcp_bus_free(struct peer_bus *pub);

static uint64_t bus_now_ms(void)
{
    return dyn_mono_us() / 1000;
}

/* A failed handshake with the peer at key (its address, for the rate
 * limit), described by who (the side and the address) and why: logged as
 * a warning unless key had a line less than PEER_AUTH_LOG_MS ago. */
static void auth_log_failure(struct tcp_bus *bus, const char *key,
                             const char *who, const char *why)
{
    uint64_t now = bus_now_ms();
    struct auth_log *slot = NULL, *oldest = NULL;
    for (int i = 0; i < PEER_AUTH_LOG_SLOTS; i++) {
        struct auth_log *a = &bus->auth_log[i];
        if (a->key[0] && strcmp(a->key, key) == 0) {
            slot = a;
            break;
        }
        if (!oldest || !a->key[0] ||
            (oldest->key[0] && a->last_ms < oldest->last_ms))
            oldest = a;
    }
    if (slot && now - slot->last_ms < PEER_AUTH_LOG_MS) {
        slot->unlogged++;
        return;
    }
    if (!slot) {
        if (oldest->key[0] && now - oldest->last_ms < PEER_AUTH_LOG_MS) {
            bus->auth_unlogged++; /* every slot busy: many addresses */
            return;
        }
        slot = oldest;
        bus->auth_unlogged += slot->key[0] ? slot->unlogged : 0;
        snprintf(slot->key, sizeof(slot->key), "%s", key);
        slot->unlogged = 0;
    }
    uint64_t more = slot->unlogged, others = bus->auth_unlogged;
    if (DLOG_WARNING >= dlog_current_level) {
        char tail[160] = "";
        if (more || others)
            snprintf(tail, sizeof(tail),
                     " (%llu more from this address and %llu from others "
                     "since the previous such line)",
                     (unsigned long long)more, (unsigned long long)others);
        dlog_write(DLOG_WARNING, "Peer authentication failed, %s: %s%s",
                   who, why, tail);
    }
    slot->last_ms = now;
    slot->unlogged = 0;
    bus->auth_unlogged = 0;
}

static void ms_to_tv(uint64_t ms, struct timeval *tv)
{
    tv->tv_sec = (time_t)(ms / 1000);
    tv->tv_usec = (suseconds_t)((ms % 1000) * 1000);
}

static void timer_arm(struct event *ev, uint64_t ms)
{
    struct timeval tv;
    ms_to_tv(ms, &tv);
    event_add(ev, &tv);
}

static void list_push(struct preq_list *l, struct preq *q)
{
    q->next = NULL;
    if (l->tail)
        l->tail->next = q;
    else
        l->head = q;
    l->tail = q;
}

static struct preq *list_pop(struct preq_list *l)
{
    struct preq *q = l->head;
    if (q) {
        l->head = q->next;
        if (!l->head)
            l->tail = NULL;
        q->next = NULL;
    }
    return q;
}

static void preq_free(struct preq *q)
{
    dyn_free(q->wire);
    dyn_free(q);
}

static int valid_name(const char *s, size_t n)
{
    if (n == 0 || n >= PEER_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
            return 0;
    return 1;
}

/* 1 when a name the other end gave is this node's own (refused by both
 * sides of the handshake). */
static int is_self(const struct tcp_bus *bus, const char *s, size_t n)
{
    return n == strlen(bus->self) && memcmp(s, bus->self, n) == 0;
}

static struct peer *bus_peer(const struct tcp_bus *bus, int id)
{
    if (id < 0 || id >= bus->npeers)
        return NULL;
    struct peer *p = bus->peers[id];
    return p && !p->removed ? p : NULL;
}

/* ---- deferred and silent completions ---------------------------------- */

/* Queues q to have its callback run with err at the next loop turn. */
static void defer_fail(struct tcp_bus *bus, struct preq *q, int err)
{
    q->err = err;
    list_push(&bus->deferred, q);
    event_active(bus->ev_defer, 0, 0);
}

static void on_defer(evutil_socket_t fd, short what, void *arg)
{
    struct tcp_bus *bus = arg;
    struct preq_list l = bus->deferred;
    struct preq *q;
    bus->deferred.head = bus->deferred.tail = NULL;
    while ((q = list_pop(&l)) != NULL) {
        q->cb(q->ctx, q->err, NULL);
        preq_free(q);
    }
}

/* A dropped request: silence, then DYN_EAGAIN after dead_link_ms. */
static void silent_add(struct tcp_bus *bus, struct preq *q)
{
    dyn_free(q->wire);
    q->wire = NULL;
    q->t_ms = bus_now_ms() + bus->dead_link_ms;
    list_push(&bus->silent, q);
    if (!event_pending(bus->ev_silent, EV_TIMEOUT, NULL))
        timer_arm(bus->ev_silent, bus->dead_link_ms);
}

static void on_silent(evutil_socket_t fd, short what, void *arg)
{
    struct tcp_bus *bus = arg;
    uint64_t now = bus_now_ms();
    while (bus->silent.head && bus->silent.head->t_ms <= now) {
        struct preq *q = list_pop(&bus->silent);
        q->cb(q->ctx, DYN_EAGAIN, NULL);
        preq_free(q);
    }
    if (bus->silent.head)
        timer_arm(bus->ev_silent, bus->silent.head->t_ms - now);
}

/* ---- replies: redisReply -> peer_value -------------------------------- */

/* The value borrows the reply's strings; only elem arrays are allocated. */
static void value_borrow(struct peer_value *v, const redisReply *r)
{
    memset(v, 0, sizeof(*v));
    switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        v->type = r->type == REDIS_REPLY_STRING   ? PEER_V_STRING
                  : r->type == REDIS_REPLY_STATUS ? PEER_V_STATUS
                                                  : PEER_V_ERROR;
        v->str = r->str;
        v->len = r->len;
        break;
    case REDIS_REPLY_INTEGER:
        v->type = PEER_V_INT;
        v->integer = r->integer;
        break;
    case REDIS_REPLY_ARRAY:
        v->type = PEER_V_ARRAY;
        v->n = r->elements;
        if (v->n) {
            v->elem = dyn_calloc(v->n, sizeof(*v->elem));
            for (size_t i = 0; i < v->n; i++)
                value_borrow(&v->elem[i], r->element[i]);
        }
        break;
    default:
        v->type = PEER_V_NIL;
        break;
    }
}

static void value_unborrow(struct peer_value *v)
{
    for (size_t i = 0; i < v->n; i++)
        value_unborrow(&v->elem[i]);
    dyn_free(v->elem);
}

/* ---- the hiredis reader, bounded -------------------------------------- */

/* Counts the bytes of the reply being built; refuses (NULL makes hiredis
 * fail the link) once they pass max_message. */
static int reader_account(const redisReadTask *t, size_t n)
{
    struct peer *p = t->privdata;
    if (!t->parent)
        p->reply_bytes = 0;
    p->reply_bytes += n;
    if (p->reply_bytes > p->bus->max_message) {
        p->bus->st.oversized++;
        return 0;
    }
    return 1;
}

static void *reader_string(const redisReadTask *t, char *s, size_t len)
{
    struct peer *p = t->privdata;
    if (!reader_account(t, len + 16))
        return NULL;
    return p->orig_fn->createString(t, s, len);
}

/* The one signature that differs: hiredis 1.x counts elements in a
 * size_t, 0.14 in an int (checked against both read.h headers). */
#if defined(HIREDIS_MAJOR) && HIREDIS_MAJOR >= 1
typedef size_t reader_nelem;
#else
typedef int reader_nelem;
#endif

static void *reader_array(const redisReadTask *t, reader_nelem n)
{
    struct peer *p = t->privdata;
    if (!reader_account(t, (size_t)(n > 0 ? n : 0) * 8 + 16))
        return NULL;
    return p->orig_fn->createArray(t, n);
}

static void *reader_integer(const redisReadTask *t, long long v)
{
    struct peer *p = t->privdata;
    if (!reader_account(t, 16))
        return NULL;
    return p->orig_fn->createInteger(t, v);
}

static void *reader_nil(const redisReadTask *t)
{
    struct peer *p = t->privdata;
    if (!reader_account(t, 16))
        return NULL;
    return p->orig_fn->createNil(t);
}

/* ---- outgoing links --------------------------------------------------- */

static void link_connect(struct peer *p);
static void link_start(struct peer *p, int fd);
static void peer_destroy(struct peer *p);
static void link_write(struct peer *p);
static void encode_len(struct dbuf *b, char c, uint64_t n);
static void encode_arg(struct dbuf *b, const void *s, size_t n);

/* Closes the link from the top of the loop (never from inside a reply). */
static void link_close(struct peer *p)
{
    if (p->state != LINK_IDLE)
        p->state = LINK_CLOSING;
    event_active(p->ev_kill, 0, 0);
}

static void link_schedule_retry(struct peer *p)
{
    if (p->bus->freeing || p->removed)
        return;
    timer_arm(p->ev_retry, p->backoff_ms);
    p->backoff_ms = DYN_MIN(p->backoff_ms * 2, PEER_BACKOFF_MAX_MS);
}

/* Tears the connection down now.  Its pending requests fail with DYN_EIO
 * from the loop (at once while the bus is being freed), on_link(down) is
 * reported if up was, and a redial is scheduled. */
static void link_kill_now(struct peer *p)
{
    struct tcp_bus *bus = p->bus;
    struct preq *q;
    if (p->fd < 0)
        return;
    event_free(p->ev_read);
    event_free(p->ev_write);
    p->ev_read = p->ev_write = NULL;
    tls_conn_free(p->tls);
    p->tls = NULL;
    close(p->fd);
    p->fd = -1;
    redisReaderFree(p->reader);
    p->reader = NULL;
    dbuf_reset(&p->obuf);
    p->obuf_sent = 0;
    p->read_wants_write = 0;
    p->state = LINK_IDLE;
    event_del(p->ev_connect_to);
    event_del(p->ev_dead);
    while ((q = list_pop(&p->pending)) != NULL) {
        if (bus->freeing) {
            q->cb(q->ctx, DYN_EIO, NULL);
            preq_free(q);
        } else {
            defer_fail(bus, q, DYN_EIO);
        }
    }
    if (bus->freeing)
        return;
    if (p->linked) {
        p->linked = 0;
        if (bus->h.on_link)
            bus->h.on_link(bus->ctx, p->id, 0);
    }
    link_schedule_retry(p);
}

static void on_kill(evutil_socket_t fd, short what, void *arg)
{
    struct peer *p = arg;
    link_kill_now(p);
    if (p->removed)
        peer_destroy(p);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct peer *p = arg;
    if (p->fd < 0 && !p->removed)
        link_connect(p);
}

static void on_connect_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct peer *p = arg;
    if (p->state != LINK_UP)
        link_kill_now(p);
}

static void on_dead(evutil_socket_t fd, short what, void *arg)
{
    struct peer *p = arg;
    struct tcp_bus *bus = p->bus;
    uint64_t now = bus_now_ms();
    struct preq *q = p->pending.head;
    if (!q || p->fd < 0)
        return;
    if (now - q->t_ms >= bus->dead_link_ms) {
        bus->st.dead_links++;
        link_kill_now(p);
        return;
    }
    timer_arm(p->ev_dead, q->t_ms + bus->dead_link_ms - now);
}

/* read(2) and write(2) of a link, through TLS when the link has it, in
 * tls.h's convention: bytes, 0 at EOF, TLS_IO_AGAIN or TLS_IO_ERROR. */
static ssize_t sock_io(int fd, struct tls_conn *tls, void *buf, size_t n,
                       int reading)
{
    if (tls)
        return reading ? tls_conn_read(tls, buf, n)
                       : tls_conn_write(tls, buf, n);
    ssize_t r = reading ? read(fd, buf, n) : write(fd, buf, n);
    if (r >= 0)
        return r;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return TLS_IO_AGAIN;
    return TLS_IO_ERROR;
}

#define PEER_OBUF_KEEP (1u << 20) /* an output queue keeps this much */

/* Writes b from *sent on as far as the socket takes it, counting each
 * call in *calls.  Returns 1 when all of it went (b is emptied), 0 when the
 * socket must drain first (*arm: wait for the write event; else a TLS write
 * waits for the read event), -1 on an error. */
static int sock_drain(int fd, struct tls_conn *tls, struct dbuf *b,
                      size_t *sent, uint64_t *calls, int *arm)
{
    while (b->len > *sent) {
        ssize_t n = sock_io(fd, tls, b->p + *sent, b->len - *sent, 0);
        (*calls)++;
        if (n == TLS_IO_AGAIN) {
            *arm = !tls || tls_conn_wants_write(tls);
            return 0;
        }
        if (n <= 0)
            return -1;
        *sent += (size_t)n;
    }
    /* a queue that grew while its peer stalled (large values queued for
     * it) gives its memory back once sent: measured, a 1 GB buffer stayed
     * allocated after a 6 s stall of one replica */
    dbuf_reset(b);
    dbuf_shrink(b, PEER_OBUF_KEEP);
    *sent = 0;
    return 1;
}

static void link_up(struct peer *p)
{
    struct tcp_bus *bus = p->bus;
    p->state = LINK_UP;
    p->backoff_ms = PEER_BACKOFF_MIN_MS;
    event_del(p->ev_connect_to);
    p->linked = 1;
    if (bus->h.on_link)
        bus->h.on_link(bus->ctx, p->id, 1);
}

#define SECRET_HINT " (is cluster-secret the same on both nodes?)"
#define TLS_HINT \
    " (are cluster-secret and tls-cluster the same on both nodes?)"

/* The handshake on our link to p failed (why): counted, logged, closed. */
static void link_auth_failed(struct peer *p, const char *why)
{
    char key[PEER_NAME_MAX + 64], who[2 * PEER_NAME_MAX + 96];
    p->bus->st.auth_failures++;
    snprintf(key, sizeof(key), "%s:%d", p->host ? p->host : "?", p->port);
    if (p->name[0] == '?')
        snprintf(who, sizeof(who), "this node dialing seed %s", key);
    else
        snprintf(who, sizeof(who), "this node dialing %s at %s", p->name,
                 key);
    auth_log_failure(p->bus, key, who, why);
    link_close(p);
}

/* Our link's TLS handshake failed: counted and logged as a failed
 * authentication, and closed (1); 0 when it is not that. */
static int link_tls_failed(struct peer *p)
{
    const char *e = tls_conn_handshake_error(p->tls);
    if (!e)
        return 0;
    char why[256];
    snprintf(why, sizeof(why), "the TLS handshake failed: %s" TLS_HINT, e);
    link_auth_failed(p, why);
    return 1;
}

/* The transcript of an outgoing link's handshake, as both sides saw it. */
static struct auth_transcript link_transcript(const struct peer *p)
{
    const char *self = p->bus->self;
    struct auth_transcript t = {
        .dialer_nonce = p->nonce,
        .dialer_nonce_len = strlen(p->nonce),
        .acceptor_nonce = p->peer_nonce,
        .acceptor_nonce_len = strlen(p->peer_nonce),
        .dialer = self,
        .dialer_len = strlen(self),
        .acceptor = p->peer_name,
        .acceptor_len = strlen(p->peer_name),
    };
    return t;
}

/* Queues a handshake command (no request id) on the link and writes it. */
static void link_handshake_send(struct peer *p, int argc, const char **argv)
{
    encode_len(&p->obuf, '*', (uint64_t)argc);
    for (int i = 0; i < argc; i++)
        encode_arg(&p->obuf, argv[i], strlen(argv[i]));
    link_write(p);
}

/* The acceptor's answer to our proof: its own proof, or an error. */
static void on_auth_reply(struct peer *p, const redisReply *r)
{
    struct tcp_bus *bus = p->bus;
    struct auth_transcript t = link_transcript(p);
    if (r->type == REDIS_REPLY_STRING &&
        auth_check(bus->secret, bus->secret_len, AUTH_ACCEPTOR, &t, r->str,
                   r->len))
        link_up(p);
    else if (r->type == REDIS_REPLY_ERROR)
        link_auth_failed(p, "it refused this node's proof" SECRET_HINT);
    else
        link_auth_failed(p, "its proof is wrong" SECRET_HINT);
}

static int is_str(const redisReply *r)
{
    return r->type == REDIS_REPLY_STRING;
}

/* The acceptor's HELLO answer [name, nonce]: check who answered, then
 * prove ourselves first. */
static void on_hello_reply(struct peer *p, const redisReply *r)
{
    struct tcp_bus *bus = p->bus;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        !is_str(r->element[0]) || !is_str(r->element[1])) {
        link_auth_failed(p, r->type == REDIS_REPLY_ERROR
                                ? "it refused this node's PEER.HELLO"
                                : "malformed answer to PEER.HELLO");
        return;
    }
    const redisReply *name = r->element[0], *nonce = r->element[1];
    /* the node we meant to dial, not whoever listens at that address; a
     * seed ("?..." name) is whoever answers there, proven by its proof */
    int seed = p->name[0] == '?';
    if (!seed && (name->len != strlen(p->name) ||
                  memcmp(name->str, p->name, name->len) != 0)) {
        link_auth_failed(p, "another node answers at that address");
        return;
    }
    if (!valid_name(name->str, name->len) ||
        is_self(bus, name->str, name->len)) {
        link_auth_failed(p, "it answers with an invalid name or this "
                            "node's own");
        return;
    }
    if (bus->insecure) {
        link_up(p);
        return;
    }
    if (nonce->len != AUTH_NONCE_HEX) {
        link_auth_failed(p, "its nonce is malformed (is cluster-insecure "
                            "the same on both nodes?)");
        return;
    }
    memcpy(p->peer_name, name->str, name->len);
    p->peer_name[name->len] = 0;
    memcpy(p->peer_nonce, nonce->str, AUTH_NONCE_HEX);
    p->peer_nonce[AUTH_NONCE_HEX] = 0;
    char proof[AUTH_MAC_HEX + 1];
    struct auth_transcript t = link_transcript(p);
    if (auth_proof(bus->secret, bus->secret_len, AUTH_DIALER, &t, proof)) {
        link_auth_failed(p, "this node could not compute its proof");
        return;
    }
    p->state = LINK_AUTH;
    const char *argv[2] = {"PEER.AUTH", proof};
    link_handshake_send(p, 2, argv);
}

/* TCP is connected: start TLS (inside the first write) and say HELLO. */
static void link_connected(struct peer *p)
{
    struct tcp_bus *bus = p->bus;
    if (bus->tls_client) {
        p->tls = tls_conn_new(bus->tls_client, p->fd, 0);
        if (!p->tls) {
            link_kill_now(p);
            return;
        }
    }
    if (auth_nonce(p->nonce) != 0) {
        link_kill_now(p);
        return;
    }
    event_add(p->ev_read, NULL);
    p->state = LINK_HELLO;
    const char *argv[3] = {"PEER.HELLO", bus->self, p->nonce};
    link_handshake_send(p, 3, argv);
}

static void on_request_reply(struct peer *p, const redisReply *r);

/* Routes one reply by the link's state.  A reply nobody asked for breaks
 * the protocol: the link is closed. */
static void link_deliver(struct peer *p, const redisReply *r)
{
    switch (p->state) {
    case LINK_HELLO:
        on_hello_reply(p, r);
        break;
    case LINK_AUTH:
        on_auth_reply(p, r);
        break;
    case LINK_UP:
        if (p->pending.head)
            on_request_reply(p, r);
        else
            link_close(p);
        break;
    default:
        break;
    }
}

/* Read event of a link: read, parse with hiredis's reader (bounded), and
 * hand each reply on. */
static void link_on_read(evutil_socket_t fd, short what, void *arg)
{
    struct peer *p = arg;
    struct tcp_bus *bus = p->bus;
    char buf[PEER_READ_CHUNK];
    if (p->state == LINK_CLOSING)
        return;
    ssize_t n = sock_io(p->fd, p->tls, buf, sizeof(buf), 1);
    if (n == TLS_IO_AGAIN) {
        if (p->tls && tls_conn_wants_write(p->tls)) {
            p->read_wants_write = 1;
            event_add(p->ev_write, NULL);
        }
        link_write(p);  /* a TLS handshake may now let output go */
        return;
    }
    if (n <= 0) {
        if (!link_tls_failed(p))
            link_kill_now(p);
        return;
    }
    if (redisReaderFeed(p->reader, buf, (size_t)n) != REDIS_OK) {
        link_kill_now(p);
        return;
    }
    for (;;) {
        void *reply = NULL;
        if (redisReaderGetReply(p->reader, &reply) != REDIS_OK) {
            link_kill_now(p);  /* malformed, or over max_message */
            return;
        }
        if (!reply)
            break;
        link_deliver(p, reply);
        freeReplyObject(reply);
        if (p->fd < 0 || p->state == LINK_CLOSING)
            return;
    }
    if (p->reader->len - p->reader->pos > bus->max_message) {
        bus->st.oversized++;
        link_kill_now(p);
        return;
    }
    if (p->tls && tls_conn_pending(p->tls))
        event_active(p->ev_read, EV_READ, 1);
    link_write(p);
}

/* Write event of a link: the connect finished, or output (or a TLS read
 * that needed the socket writable) can go on. */
static void link_on_write(evutil_socket_t fd, short what, void *arg)
{
    struct peer *p = arg;
    if (p->state == LINK_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err)
            link_kill_now(p);
        else
            link_connected(p);
        return;
    }
    if (p->read_wants_write) {
        p->read_wants_write = 0;
        link_on_read(fd, EV_READ, p);
        if (p->fd < 0)
            return;
    }
    link_write(p);
}

/* Writes what is queued: one write(2) when the socket takes it all (TLS
 * may need one call per record); the write event covers the rest. */
static void link_write(struct peer *p)
{
    if (p->fd < 0 || p->state == LINK_CONNECTING ||
        p->state == LINK_CLOSING || p->obuf.len == p->obuf_sent)
        return;
    int arm = 0;
    int rc = sock_drain(p->fd, p->tls, &p->obuf, &p->obuf_sent,
                        &p->bus->st.link_writes, &arm);
    if (rc < 0 && !link_tls_failed(p))
        link_close(p);
    else if (rc == 0 && arm)
        event_add(p->ev_write, NULL);
}

static void link_connect(struct peer *p)
{
    struct tcp_bus *bus = p->bus;
    struct addrinfo hints, *res = NULL;
    char portstr[16];
    bus->st.connects++;
    if (p->attempts++ > 0)
        bus->st.reconnects++;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(portstr, sizeof(portstr), "%d", p->port);
    if (getaddrinfo(p->host, portstr, &hints, &res) != 0 || !res) {
        link_schedule_retry(p);
        return;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    0);
    if (fd < 0) {
        freeaddrinfo(res);
        link_schedule_retry(p);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int rc = connect(fd, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (rc != 0 && errno != EINPROGRESS) {
        close(fd);
        link_schedule_retry(p);
        return;
    }
    link_start(p, fd);
}

/* fd is connecting (or connected): wait for it, then say HELLO. */
static void link_start(struct peer *p, int fd)
{
    struct tcp_bus *bus = p->bus;
    p->fd = fd;
    p->state = LINK_CONNECTING;
    p->ev_read = event_new(bus->base, fd, EV_READ | EV_PERSIST, link_on_read,
                           p);
    p->ev_write = event_new(bus->base, fd, EV_WRITE, link_on_write, p);
    p->reader = redisReaderCreate();
    if (!p->reader)
        dyn_assert(!"out of memory");
    /* every object the reader builds is counted against max_message */
    p->orig_fn = p->reader->fn;
    p->fn = *p->orig_fn;
    p->fn.createString = reader_string;
    p->fn.createArray = reader_array;
    p->fn.createInteger = reader_integer;
    p->fn.createNil = reader_nil;
    p->reader->fn = &p->fn;
    p->reader->privdata = p;
    event_add(p->ev_write, NULL);   /* the connect's completion */
    timer_arm(p->ev_connect_to, bus->connect_timeout_ms);
}

/* ---- requests --------------------------------------------------------- */

static void on_request_reply(struct peer *p, const redisReply *r)
{
    struct tcp_bus *bus = p->bus;
    struct preq *q = list_pop(&p->pending);
    bus->st.replies_received++;
    if (r->type == REDIS_REPLY_ERROR &&
        strncmp(r->str, PEER_DROP_MARKER, strlen(PEER_DROP_MARKER)) == 0) {
        /* a dropped request is silence, for the failure detector too */
        silent_add(bus, q);
        return;
    }
    if (bus->h.on_reply)
        bus->h.on_reply(bus->ctx, p->id, bus_now_ms());
    struct peer_value v;
    if (r->type == REDIS_REPLY_ARRAY && r->elements && !bus->elems_busy) {
        /* A batch's answer has one item per request: its array comes from
         * a buffer kept across replies rather than a large calloc (and
         * free, with jemalloc's madvise) per reply. */
        if (bus->elems_cap < r->elements) {
            bus->elems_cap = DYN_MAX(r->elements, bus->elems_cap * 2);
            dyn_free(bus->elems);
            bus->elems = dyn_malloc(sizeof(*bus->elems) * bus->elems_cap);
        }
        memset(&v, 0, sizeof(v));
        v.type = PEER_V_ARRAY;
        v.n = r->elements;
        v.elem = bus->elems;
        for (size_t i = 0; i < v.n; i++)
            value_borrow(&v.elem[i], r->element[i]);
        bus->elems_busy = 1;
        q->cb(q->ctx, 0, &v);
        bus->elems_busy = 0;
        for (size_t i = 0; i < v.n; i++)
            value_unborrow(&v.elem[i]);
        preq_free(q);
        return;
    }
    value_borrow(&v, r);
    q->cb(q->ctx, v.type == PEER_V_ERROR ? DYN_EPROTO : 0, &v);
    value_unborrow(&v);
    preq_free(q);
}

/* End of the loop turn: every link writes what was queued on it in this
 * turn, now rather than after one more epoll round (which would also add
 * and remove its write event each turn). */
static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    struct tcp_bus *bus = arg;
    (void)fd;
    (void)what;
    bus->flush_armed = 0;
    for (int i = 0; i < bus->npeers; i++) {
        struct peer *p = bus->peers[i];
        if (p && p->state == LINK_UP && p->obuf.len > p->obuf_sent)
            link_write(p);
    }
}

/* Puts an encoded request on the link (or fails it, deferred). */
static void link_send(struct peer *p, struct preq *q, const char *wire,
                      size_t len)
{
    struct tcp_bus *bus = p->bus;
    if (p->state != LINK_UP || p->fd < 0) {
        defer_fail(bus, q, DYN_EIO);
        return;
    }
    dbuf_append(&p->obuf, wire, len);
    uint64_t now = bus_now_ms();
    q->t_ms = now;
    list_push(&p->pending, q);
    if (!bus->flush_armed) {
        bus->flush_armed = 1;
        event_active(bus->ev_flush, EV_TIMEOUT, 1);
    }
    bus->st.requests_sent++;
    bus->st.bytes_sent += len;
    if (!event_pending(p->ev_dead, EV_TIMEOUT, NULL))
        timer_arm(p->ev_dead, bus->dead_link_ms);
    if (bus->h.on_sent)
        bus->h.on_sent(bus->ctx, p->id, now);
}

/* Commands that pass faults and a killed bus (DYNAMO.REVIVE, FAULT CLEAR):
 * flagged PEER_CMD_UNFILTERED in the command table. */
static int unfiltered(const struct tcp_bus *bus, const char *name,
                      size_t len)
{
    for (size_t i = 0; i < bus->h.ncommands; i++)
        if ((bus->h.commands[i].flags & PEER_CMD_UNFILTERED) &&
            dyn_arg_is(name, len, bus->h.commands[i].name))
            return 1;
    return 0;
}

static void tcp_set_killed(struct peer_bus *pub, int killed)
{
    struct tcp_bus *bus = tcp_bus_of(pub);
    bus->killed = killed;
}

static void on_delay(evutil_socket_t fd, short what, void *arg)
{
    struct peer *p = arg;
    uint64_t now = bus_now_ms();
    while (p->delayed.head && p->delayed.head->t_ms <= now) {
        struct preq *q = list_pop(&p->delayed);
        char *wire = q->wire;
        q->wire = NULL;
        if (p->fault.drop_out) {
            dyn_free(wire);
            p->bus->st.dropped++;
            silent_add(p->bus, q);
            continue;
        }
        link_send(p, q, wire, q->wire_len);
        dyn_free(wire);
    }
    if (p->delayed.head)
        timer_arm(p->ev_delay, p->delayed.head->t_ms - now);
}

/* Decimal digits of v into the end of a buffer; returns the first. */
static char *fmt_u64(char *end, uint64_t v)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

/* "<c><n>\r\n" without printf: this runs several times per request. */
static void encode_len(struct dbuf *b, char c, uint64_t n)
{
    char tmp[32];
    tmp[30] = '\r';
    tmp[31] = '\n';
    char *p = fmt_u64(tmp + 30, n);
    *--p = c;
    dbuf_append(b, p, (size_t)(tmp + 32 - p));
}

static void encode_arg(struct dbuf *b, const void *s, size_t n)
{
    encode_len(b, '$', n);
    dbuf_append(b, s, n);
    dbuf_append(b, "\r\n", 2);
}

static int tcp_request(struct peer_bus *pub, int peer_id, int argc,
                       const struct dyn_arg *argv, peer_reply_fn *cb,
                       void *ctx, uint64_t *id_out)
{
    struct tcp_bus *bus = tcp_bus_of(pub);
    struct peer *p = bus_peer(bus, peer_id);
    if (!p || argc < 1 || !cb)
        return DYN_EINVAL;
    if (bus->freeing)
        return DYN_EIO;
    size_t total = 64;
    for (int i = 0; i < argc; i++)
        total += argv[i].len + 24;
    if (total > bus->max_message)
        return DYN_ELIMIT;

    struct preq *q = dyn_calloc(1, sizeof(*q));
    q->cb = cb;
    q->ctx = ctx;
    q->peer_id = peer_id;
    q->id = ++bus->next_id;
    if (id_out)
        *id_out = q->id;

    if ((p->fault.drop_out || bus->killed) &&
        !unfiltered(bus, argv[0].p, argv[0].len)) {
        /* to the caller it left and was never answered: the failure
         * detector must see it as sent */
        bus->st.dropped++;
        silent_add(bus, q);
        if (bus->h.on_sent)
            bus->h.on_sent(bus->ctx, peer_id, bus_now_ms());
        return 0;
    }
    if (p->state != LINK_UP) {
        defer_fail(bus, q, DYN_EIO);
        return 0;
    }
    struct dbuf *b = &bus->scratch;
    char idtmp[24];
    char *idbuf = fmt_u64(idtmp + sizeof(idtmp), q->id);
    size_t idlen = (size_t)(idtmp + sizeof(idtmp) - idbuf);
    dbuf_reset(b);
    encode_len(b, '*', (uint64_t)argc + 1);
    encode_arg(b, argv[0].p, argv[0].len);
    encode_arg(b, idbuf, idlen);
    for (int i = 1; i < argc; i++)
        encode_arg(b, argv[i].p, argv[i].len);

    if (p->fault.delay_ms) {
        q->wire = dyn_memdup(b->p, b->len);
        q->wire_len = b->len;
        q->t_ms = bus_now_ms() + p->fault.delay_ms;
        list_push(&p->delayed, q);
        if (!event_pending(p->ev_delay, EV_TIMEOUT, NULL))
            timer_arm(p->ev_delay, p->fault.delay_ms);
        return 0;
    }
    link_send(p, q, b->p, b->len);
    return 0;
}

/* ---- peers ------------------------------------------------------------ */

static int tcp_add(struct peer_bus *pub, const char *name, const char *host,
                   int port)
{
    struct tcp_bus *bus = tcp_bus_of(pub);
    if (!name || !host || !valid_name(name, strlen(name)) || port <= 0 ||
        port > 65535 || !*host)
        return DYN_EINVAL;
    if (tcp_find(pub, name) >= 0)
        return DYN_EEXIST;
    int id = -1;
    for (int i = 0; i < bus->npeers; i++)
        if (!bus->peers[i]) {
            id = i;
            break;
        }
    if (id < 0) {
        if (bus->npeers == bus->peers_cap) {
            bus->peers_cap = bus->peers_cap ? bus->peers_cap * 2 : 8;
            bus->peers = dyn_realloc(bus->peers, sizeof(*bus->peers) *
                                                     (size_t)bus->peers_cap);
        }
        id = bus->npeers++;
    }
    struct peer *p = dyn_calloc(1, sizeof(*p));
    p->bus = bus;
    p->id = id;
    snprintf(p->name, sizeof(p->name), "%s", name);
    p->host = dyn_strdup(host);
    p->port = port;
    p->backoff_ms = PEER_BACKOFF_MIN_MS;
    p->fd = -1;
    dbuf_init(&p->obuf);
    p->ev_retry = evtimer_new(bus->base, on_retry, p);
    p->ev_connect_to = evtimer_new(bus->base, on_connect_timeout, p);
    p->ev_dead = evtimer_new(bus->base, on_dead, p);
    p->ev_delay = evtimer_new(bus->base, on_delay, p);
    p->ev_kill = event_new(bus->base, -1, 0, on_kill, p);
    bus->peers[id] = p;
    for (struct peer_conn *c = bus->conns; c; c = c->next)
        if (c->state == CONN_READY && strcmp(c->name, p->name) == 0)
            c->peer_id = id;
    /* dial from the loop, like every later redial */
    timer_arm(p->ev_retry, 0);
    return id;
}

/* Frees a peer whose link is gone. */
static void peer_destroy(struct peer *p)
{
    struct tcp_bus *bus = p->bus;
    struct preq *q;
    dyn_assert(p->fd < 0);
    dbuf_free(&p->obuf);
    while ((q = list_pop(&p->delayed)) != NULL) {
        if (bus->freeing) {
            q->cb(q->ctx, DYN_EIO, NULL);
            preq_free(q);
        } else {
            defer_fail(bus, q, DYN_EIO);
        }
    }
    event_free(p->ev_retry);
    event_free(p->ev_connect_to);
    event_free(p->ev_dead);
    event_free(p->ev_delay);
    event_free(p->ev_kill);
    for (struct peer_conn *c = bus->conns; c; c = c->next)
        if (c->peer_id == p->id)
            c->peer_id = -1;
    bus->peers[p->id] = NULL;
    dyn_free(p->host);
    dyn_free(p);
}

static int tcp_remove(struct peer_bus *pub, int peer_id)
{
    struct tcp_bus *bus = tcp_bus_of(pub);
    struct peer *p = bus_peer(bus, peer_id);
    if (!p)
        return DYN_EINVAL;
    p->removed = 1;
    p->linked = 0;  /* the caller knows: no on_link(down) for it */
    for (struct peer_conn *c = bus->conns; c; c = c->next)
        if (c->peer_id == peer_id)
            c->peer_id = -1;
    event_del(p->ev_retry);
    link_close(p);
    return 0;
}

static int tcp_is_connected(const struct peer_bus *pub, int peer_id)
{
    const struct peer *p = bus_peer(tcp_bus_of_c(pub), peer_id);
    return p && p->state == LINK_UP;
}

static int tcp_find(const struct peer_bus *pub, const char *name)
{
    const struct tcp_bus *bus = tcp_bus_of_c(pub);
    for (int i = 0; i < bus->npeers; i++) {
        const struct peer *p = bus->peers[i];
        if (p && !p->removed && strcmp(p->name, name) == 0)
            return i;
    }
    return DYN_ENOTFOUND;
}

static int tcp_set_fault(struct peer_bus *pub, int peer_id,
                         const struct peer_fault *f)
{
    struct peer *p = bus_peer(tcp_bus_of(pub), peer_id);
    if (!p || !f)
        return DYN_EINVAL;
    p->fault = *f;
    /* A shorter delay (or a cleared fault) holds nothing longer than it
     * now says: requests held under the old delay go out by then, still
     * in order, instead of arriving long after the fault was cleared. */
    if (p->delayed.head) {
        uint64_t now = bus_now_ms(), latest = now + f->delay_ms;
        for (struct preq *q = p->delayed.head; q; q = q->next)
            if (q->t_ms > latest)
                q->t_ms = latest;
        uint64_t head = p->delayed.head->t_ms;
        timer_arm(p->ev_delay, head > now ? head - now : 0);
    }
    return 0;
}

/* ---- incoming connections --------------------------------------------- */

static void conn_write(struct peer_conn *c);

static void conn_free(struct peer_conn *c)
{
    struct tcp_bus *bus = c->bus;
    struct tcp_call *call = c->head, *next;
    for (; call; call = next) {
        next = call->next;
        if (call->done) {
            dbuf_free(&call->out);
            dyn_free(call);
        } else {
            call->conn = NULL;  /* its handler frees it in peer_call_done */
            call->next = NULL;
        }
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        bus->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->state != CONN_READY)
        bus->unauth_conns--;
    event_free(c->ev_read);
    event_free(c->ev_write);
    event_free(c->ev_auth_to);
    tls_conn_free(c->tls);
    close(c->fd);
    dbuf_free(&c->qbuf);
    dbuf_free(&c->obuf);
    resp_free(&c->parser);
    dyn_free(c);
}

static struct tcp_call *call_new(struct peer_conn *c, uint64_t id)
{
    struct tcp_call *call = dyn_calloc(1, sizeof(*call));
    call->pub.ops = &peer_tcp_ops;
    call->conn = c;
    call->id = id;
    call->peer_id = c->peer_id;
    memcpy(call->peer_name, c->name, sizeof(call->peer_name));
    if (c->tail)
        c->tail->next = call;
    else
        c->head = call;
    c->tail = call;
    return call;
}

/* Queues an immediate error reply and marks the connection to close. */
static void conn_fail(struct peer_conn *c, const char *msg)
{
    struct tcp_call *call = call_new(c, 0);
    reply_error(&call->out, msg);
    call->done = 1;
    c->closing = 1;
    event_del(c->ev_read);
}

/* Our id for an authenticated caller, -1 when it is not in our table (the
 * table is kept current by peer_add / peer_destroy). */
static int conn_peer_id(const struct tcp_bus *bus, const char *name)
{
    int id = tcp_find(&bus->pub, name);
    return id >= 0 ? id : -1;
}

/* The peer just dialed us: if our link to it is waiting to redial, it is
 * back, so dial now instead of at the end of the backoff. */
static void redial_now(struct tcp_bus *bus, int peer_id)
{
    struct peer *p = bus_peer(bus, peer_id);
    if (p && !p->removed && p->state == LINK_IDLE &&
        evtimer_pending(p->ev_retry, NULL)) {
        p->backoff_ms = PEER_BACKOFF_MIN_MS;
        timer_arm(p->ev_retry, 0);
    }
}

/* The connection is authenticated (or insecure): it may carry requests. */
static void conn_ready(struct peer_conn *c)
{
    struct tcp_bus *bus = c->bus;
    c->state = CONN_READY;
    bus->unauth_conns--;
    event_del(c->ev_auth_to);
    c->peer_id = conn_peer_id(bus, c->name);
    redial_now(bus, c->peer_id);
}

/* The handshake of an incoming connection failed (why): counted and
 * logged with the caller's address and the name it claims (name, len; len
 * 0: none yet). */
static void conn_auth_log(struct peer_conn *c, const char *name, size_t len,
                          const char *why)
{
    char claimed[PEER_NAME_MAX], key[PEER_NAME_MAX + 64];
    char who[PEER_NAME_MAX + 128];
    c->bus->st.auth_failures++;
    if (name && len && len < sizeof(claimed) && valid_name(name, len)) {
        memcpy(claimed, name, len);
        claimed[len] = 0;
    } else {
        snprintf(claimed, sizeof(claimed), "?");
    }
    snprintf(key, sizeof(key), "%s %s", c->ip, claimed);
    snprintf(who, sizeof(who), "%s dialing this node as %s", c->addr,
             claimed);
    auth_log_failure(c->bus, key, who, why);
}

/* The same, then msg is the caller's answer and the connection closes. */
static void conn_auth_failed(struct peer_conn *c, const char *name,
                             size_t len, const char *why, const char *msg)
{
    conn_auth_log(c, name, len, why);
    conn_fail(c, msg);
}

static struct auth_transcript conn_transcript(const struct peer_conn *c)
{
    const char *self = c->bus->self;
    struct auth_transcript t = {
        .dialer_nonce = c->peer_nonce,
        .dialer_nonce_len = strlen(c->peer_nonce),
        .acceptor_nonce = c->nonce,
        .acceptor_nonce_len = strlen(c->nonce),
        .dialer = c->name,
        .dialer_len = strlen(c->name),
        .acceptor = self,
        .acceptor_len = strlen(self),
    };
    return t;
}

/* PEER.HELLO <name> <nonce>: answer [our name, our nonce], and no proof:
 * the dialer has not proven anything yet. */
static void conn_hello(struct peer_conn *c, int argc,
                       const struct dyn_arg *argv)
{
    struct tcp_bus *bus = c->bus;
    if (argc != 3 || !valid_name(argv[1].p, argv[1].len) ||
        argv[2].len != AUTH_NONCE_HEX) {
        conn_auth_failed(c, argc > 1 ? argv[1].p : NULL,
                         argc > 1 ? argv[1].len : 0, "malformed PEER.HELLO",
                         "ERR malformed PEER.HELLO");
        return;
    }
    if (is_self(bus, argv[1].p, argv[1].len)) {
        conn_auth_failed(c, argv[1].p, argv[1].len,
                         "it claims this node's own name",
                         "ERR peer claims this node's own name");
        return;
    }
    memcpy(c->name, argv[1].p, argv[1].len);
    c->name[argv[1].len] = 0;
    memcpy(c->peer_nonce, argv[2].p, AUTH_NONCE_HEX);
    c->peer_nonce[AUTH_NONCE_HEX] = 0;
    if (!bus->insecure && auth_nonce(c->nonce) != 0) {
        conn_fail(c, "ERR peer authentication unavailable");
        return;
    }
    struct tcp_call *call = call_new(c, 0);
    reply_array(&call->out, 2);
    reply_bulk_cstr(&call->out, bus->self);
    reply_bulk_cstr(&call->out, bus->insecure ? "" : c->nonce);
    call->done = 1;
    if (bus->insecure)
        conn_ready(c);
    else
        c->state = CONN_AUTH;
}

/* PEER.AUTH <dialer's proof>: check it, then answer with ours. */
static void conn_auth(struct peer_conn *c, int argc,
                      const struct dyn_arg *argv)
{
    struct tcp_bus *bus = c->bus;
    struct auth_transcript t = conn_transcript(c);
    char proof[AUTH_MAC_HEX + 1];
    if (argc != 2 ||
        !auth_check(bus->secret, bus->secret_len, AUTH_DIALER, &t, argv[1].p,
                    argv[1].len)) {
        conn_auth_failed(c, c->name, strlen(c->name),
                         "its proof is wrong" SECRET_HINT,
                         "ERR peer authentication failed");
        return;
    }
    if (auth_proof(bus->secret, bus->secret_len, AUTH_ACCEPTOR, &t, proof)) {
        conn_fail(c, "ERR peer authentication unavailable");
        return;
    }
    conn_ready(c);
    struct tcp_call *call = call_new(c, 0);
    reply_bulk(&call->out, proof, AUTH_MAC_HEX);
    call->done = 1;
}

static void conn_dispatch(struct peer_conn *c)
{
    struct tcp_bus *bus = c->bus;
    size_t argc = c->parser.argc;
    if (bus->argv_cap < argc) {
        bus->argv_cap = DYN_MAX(argc, bus->argv_cap * 2);
        bus->argv = dyn_realloc(bus->argv, sizeof(*bus->argv) * bus->argv_cap);
    }
    struct dyn_arg *argv = bus->argv;
    for (size_t i = 0; i < argc; i++) {
        argv[i].p = c->qbuf.p + c->parser.args[i].off;
        argv[i].len = c->parser.args[i].len;
    }
    int is_hello = dyn_arg_is(argv[0].p, argv[0].len, "PEER.HELLO");
    int is_auth = dyn_arg_is(argv[0].p, argv[0].len, "PEER.AUTH");

    if (c->state == CONN_HELLO && is_hello) {
        conn_hello(c, (int)argc, argv);
        return;
    }
    if (c->state == CONN_AUTH && is_auth) {
        conn_auth(c, (int)argc, argv);
        return;
    }
    if (c->state != CONN_READY) {
        conn_fail(c, "NOAUTH peer not authenticated");
        return;
    }
    if (is_hello || is_auth) {
        struct tcp_call *call = call_new(c, 0);
        reply_error(&call->out, "ERR peer already authenticated");
        call->done = 1;
        return;
    }
    unsigned long long id;
    if (argc < 2 || dyn_str2ull(argv[1].p, argv[1].len, &id) != 0) {
        struct tcp_call *call = call_new(c, 0);
        reply_error(&call->out, "ERR peer request without an id");
        call->done = 1;
        return;
    }
    struct tcp_call *call = call_new(c, id);
    if (c->peer_id < 0)
        c->peer_id = conn_peer_id(bus, c->name); /* added since it came */
    struct peer *from = bus_peer(bus, c->peer_id);
    if ((bus->killed || (from && from->fault.drop_in)) &&
        !unfiltered(bus, argv[0].p, argv[0].len)) {
        bus->st.dropped++;
        reply_error(&call->out, PEER_DROP_MARKER " dropped by fault injection");
        call->done = 1;
        return;
    }
    /* the handler sees argv without the id */
    argv[1] = argv[0];
    argv++;
    argc--;
    bus->st.requests_received++;
    peer_dispatch(&bus->h, bus->ctx, &call->pub, (int)argc, argv);
}

/* Moves the finished calls at the head of the queue to obuf, in order. */
static void conn_collect(struct peer_conn *c)
{
    while (c->head && c->head->done) {
        struct tcp_call *call = c->head;
        c->head = call->next;
        if (!c->head)
            c->tail = NULL;
        if (c->obuf.len == 0) {
            struct dbuf t = c->obuf;
            c->obuf = call->out;
            call->out = t;
            c->obuf_sent = 0;
        } else {
            dbuf_append(&c->obuf, call->out.p, call->out.len);
        }
        c->bus->st.replies_sent++;
        dbuf_free(&call->out);
        dyn_free(call);
    }
}

/* One write(2) of everything that can go (TLS: one call per record);
 * closes when asked to. */
static void conn_write(struct peer_conn *c)
{
    conn_collect(c);
    size_t before = c->obuf_sent, pending = c->obuf.len - c->obuf_sent;
    int arm = 0;
    int rc = sock_drain(c->fd, c->tls, &c->obuf, &c->obuf_sent,
                        &c->bus->st.conn_writes, &arm);
    if (rc < 0) {
        conn_free(c);
        return;
    }
    c->bus->st.bytes_sent += rc ? pending : c->obuf_sent - before;
    if (rc == 0) {
        if (arm)
            event_add(c->ev_write, NULL);
        return;
    }
    if (c->closing && !c->head)
        conn_free(c);
}

static void conn_on_read(evutil_socket_t fd, short what, void *arg);

static void conn_on_write(evutil_socket_t fd, short what, void *arg)
{
    struct peer_conn *c = arg;
    if (c->read_wants_write) {
        c->read_wants_write = 0;
        conn_on_read(fd, EV_READ, c);
        return;  /* the read ends with a write */
    }
    conn_write(c);
}

static void conn_on_read(evutil_socket_t fd, short what, void *arg)
{
    struct peer_conn *c = arg;
    struct tcp_bus *bus = c->bus;
    dbuf_reserve(&c->qbuf, PEER_READ_CHUNK);
    ssize_t n = sock_io(fd, c->tls, c->qbuf.p + c->qbuf.len,
                        c->qbuf.cap - c->qbuf.len, 1);
    if (n == TLS_IO_AGAIN) {
        if (c->tls && tls_conn_wants_write(c->tls)) {
            c->read_wants_write = 1;
            event_add(c->ev_write, NULL);
        }
        return;
    }
    if (n <= 0) {
        const char *e = tls_conn_handshake_error(c->tls);
        if (e) {  /* a TLS handshake failed: nothing can be answered */
            char why[256];
            snprintf(why, sizeof(why), "the TLS handshake failed: %s" TLS_HINT,
                     e);
            conn_auth_log(c, NULL, 0, why);
        }
        conn_free(c);
        return;
    }
    c->qbuf.len += (size_t)n;
    bus->st.bytes_received += (uint64_t)n;

    struct resp_limits lim = {
        .max_bulk = (long long)bus->max_message,
        .max_inline = DYN_MIN(bus->max_message, 64 * 1024),
        .unauthenticated = c->state != CONN_READY,
        .unauth_max_args = 10,
        .unauth_max_bulk = 16384,
    };
    c->in_read = 1;
    if (bus->h.batch_begin)
        bus->h.batch_begin(bus->ctx);
    while (!c->closing) {
        lim.unauthenticated = c->state != CONN_READY;
        int r = resp_parse(&c->parser, c->qbuf.p, c->qbuf.len, &lim);
        if (r == RESP_COMMAND) {
            conn_dispatch(c);
            resp_next(&c->parser);
            continue;
        }
        if (r == RESP_ERROR) {
            char msg[128];
            snprintf(msg, sizeof(msg), "ERR %s", resp_error(&c->parser));
            if (strstr(msg, "bulk length") || strstr(msg, "too big"))
                bus->st.oversized++;
            conn_fail(c, msg);
            break;
        }
        if (c->qbuf.len - resp_consumed(&c->parser) > bus->max_message) {
            bus->st.oversized++;
            conn_fail(c, "ERR peer message too large");
        }
        break;
    }
    c->in_read = 0;
    size_t used = resp_consumed(&c->parser);
    if (used) {
        dbuf_consume(&c->qbuf, used);
        resp_shift(&c->parser, used);
    }
    if (bus->h.batch_end && bus->h.batch_end(bus->ctx) != 0) {
        conn_free(c);
        return;
    }
    if (c->tls && tls_conn_pending(c->tls))
        event_active(c->ev_read, EV_READ, 1);
    conn_write(c);
}

/* A connection that has not authenticated in time: closed, counted. */
static void conn_on_auth_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct peer_conn *c = arg;
    c->bus->st.auth_timeouts++;
    conn_free(c);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd,
                      struct sockaddr *sa, int salen, void *arg)
{
    struct tcp_bus *bus = arg;
    if (bus->unauth_conns >= PEER_MAX_UNAUTH) {
        /* a flood of handshakes: the newest waits its turn elsewhere */
        bus->st.unauth_refused++;
        close(fd);
        return;
    }
    struct peer_conn *c = dyn_calloc(1, sizeof(*c));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    evutil_make_socket_nonblocking(fd);
    c->bus = bus;
    c->fd = fd;
    c->peer_id = -1;
    char host[48] = "?", serv[16] = "?";
    if (getnameinfo(sa, (socklen_t)salen, host, sizeof(host), serv,
                    sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(host, sizeof(host), "?");
        snprintf(serv, sizeof(serv), "?");
    }
    snprintf(c->ip, sizeof(c->ip), "%s", host);
    snprintf(c->addr, sizeof(c->addr),
             strchr(host, ':') ? "[%s]:%s" : "%s:%s", host, serv);
    dbuf_init(&c->qbuf);
    dbuf_init(&c->obuf);
    resp_init(&c->parser);
    c->ev_read = event_new(bus->base, fd, EV_READ | EV_PERSIST, conn_on_read,
                           c);
    c->ev_write = event_new(bus->base, fd, EV_WRITE, conn_on_write, c);
    c->ev_auth_to = evtimer_new(bus->base, conn_on_auth_timeout, c);
    if (bus->tls_server && !(c->tls = tls_conn_new(bus->tls_server, fd, 1))) {
        event_free(c->ev_read);
        event_free(c->ev_write);
        event_free(c->ev_auth_to);
        close(fd);
        dyn_free(c);
        return;
    }
    bus->unauth_conns++;
    timer_arm(c->ev_auth_to, bus->auth_timeout_ms);
    c->next = bus->conns;
    if (bus->conns)
        bus->conns->prev = c;
    bus->conns = c;
    event_add(c->ev_read, NULL);
}

/* ---- calls ------------------------------------------------------------ */

static struct dbuf *tcp_call_buf(struct peer_call *pub)
{
    return &tcp_call_of(pub)->out;
}

static void tcp_call_done(struct peer_call *pub)
{
    struct tcp_call *call = tcp_call_of(pub);
    struct peer_conn *c = call->conn;
    dyn_assert(!call->done);
    call->done = 1;
    if (!c) {
        dbuf_free(&call->out);
        dyn_free(call);
        return;
    }
    /* inside the read callback the flush comes at its end; otherwise one
     * write at the next loop turn carries every answer finished by then */
    if (!c->in_read && c->head == call)
        event_add(c->ev_write, NULL);
}

/* peer_call_reply_* are in cluster/peer_ops.c */

static const char *tcp_call_peer_name(const struct peer_call *pub)
{
    return tcp_call_of_c(pub)->peer_name;
}

static int tcp_call_peer_id(const struct peer_call *pub)
{
    return tcp_call_of_c(pub)->peer_id;
}

static uint64_t tcp_call_id(const struct peer_call *pub)
{
    return tcp_call_of_c(pub)->id;
}

static int tcp_call_alive(const struct peer_call *pub)
{
    return tcp_call_of_c(pub)->conn != NULL;
}

/* ---- the bus ---------------------------------------------------------- */

static int tcp_port(const struct peer_bus *pub);

/* One listener on host:port.  DYN_ENOTFOUND: the address is not on this
 * host (unknown, not configured, or of a family not supported), which an
 * optional bind address may be; DYN_ELIMIT: too many; DYN_EIO: anything
 * else (in use, no permission). */
static int bus_listen_one(struct tcp_bus *bus, const char *host, int port)
{
    struct addrinfo hints, *res = NULL;
    char portstr[16];
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(portstr, sizeof(portstr), "%d", port);
    if (getaddrinfo(host, portstr, &hints, &res) != 0 || !res)
        return DYN_ENOTFOUND;
    if (bus->nlisteners >= PEER_MAX_LISTENERS) {
        freeaddrinfo(res);
        return DYN_ELIMIT;
    }
    /* IPv6 sockets are IPv6-only, as net.c's: "* ::*" binds both
     * wildcards on one port, which a dual-stack "::" would refuse */
    unsigned flags =
        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC;
    if (res->ai_family == AF_INET6)
        flags |= LEV_OPT_BIND_IPV6ONLY;
    struct evconnlistener *l = evconnlistener_new_bind(
        bus->base, on_accept, bus, flags, 511, res->ai_addr,
        (int)res->ai_addrlen);
    int e = errno;
    freeaddrinfo(res);
    if (!l)
        return e == EADDRNOTAVAIL || e == EAFNOSUPPORT ? DYN_ENOTFOUND
                                                       : DYN_EIO;
    bus->listeners[bus->nlisteners++] = l;
    return 0;
}

/* A listener on every word of `binds` (bind's syntax, announce.h), all on
 * one port: with port 0 the first listener's port, chosen by the kernel.
 * An optional ('-') address that is not on this host is skipped, as net.c
 * skips it for clients; any other failure, or no listener at all, fails. */
static int bus_listen(struct tcp_bus *bus, const char *binds, int port)
{
    const char *p = binds;
    char word[ANNOUNCE_HOST_MAX + 1], host[ANNOUNCE_HOST_MAX];
    int wl;
    while ((wl = announce_next_word(&p, word, sizeof(word))) != 0) {
        int optional;
        if (wl < 0)
            return DYN_EINVAL;
        if (announce_bind_word(word, host, sizeof(host), &optional) != 0) {
            if (optional)
                continue;
            return DYN_EINVAL;
        }
        int rc = bus_listen_one(bus, host, port);
        if (rc == DYN_ENOTFOUND && optional)
            continue;
        if (rc != 0)
            return rc;
        if (port == 0)
            port = tcp_port(&bus->pub);
    }
    return bus->nlisteners ? 0 : DYN_EIO;
}

static int tcp_bus_new(void *impl, struct event_base *base,
                       const struct peer_bus_opts *opts,
                       const struct peer_handlers *h, void *ctx,
                       struct peer_bus **out)
{
    (void)impl;
    if (!base || !opts || !opts->self_name ||
        !valid_name(opts->self_name, strlen(opts->self_name)))
        return DYN_EINVAL;
    /* a bus without a secret is refused unless explicitly insecure; TLS
     * keys come from the secret, so it needs one too */
    if ((!opts->insecure || opts->tls) &&
        (!opts->secret || opts->secret_len == 0))
        return DYN_EINVAL;
    if (opts->port < 0 || opts->port > 65535)
        return DYN_EINVAL;
    struct tcp_bus *bus = dyn_calloc(1, sizeof(*bus));
    bus->pub.ops = &peer_tcp_ops;
    bus->base = base;
    snprintf(bus->self, sizeof(bus->self), "%s", opts->self_name);
    if (opts->secret && opts->secret_len) {
        bus->secret = dyn_memdup(opts->secret, opts->secret_len);
        bus->secret_len = opts->secret_len;
    }
    bus->insecure = opts->insecure;
    bus->max_message =
        opts->max_message ? opts->max_message : PEER_DEFAULT_MAX_MESSAGE;
    bus->connect_timeout_ms = opts->connect_timeout_ms
                                  ? opts->connect_timeout_ms
                                  : PEER_DEFAULT_CONNECT_MS;
    bus->dead_link_ms =
        opts->dead_link_ms ? opts->dead_link_ms : PEER_DEFAULT_DEAD_MS;
    bus->auth_timeout_ms =
        opts->auth_timeout_ms ? opts->auth_timeout_ms : PEER_DEFAULT_AUTH_MS;
    if (h)
        bus->h = *h;
    bus->ctx = ctx;
    dbuf_init(&bus->scratch);
    if (opts->tls) {
        unsigned char psk[32];
        struct dbuf err;
        dbuf_init(&err);
        if (auth_tls_psk(opts->secret, opts->secret_len, psk) == 0) {
            bus->tls_client = tls_psk_ctx_new(psk, 0, &err);
            bus->tls_server = tls_psk_ctx_new(psk, 1, &err);
        }
        memset(psk, 0, sizeof(psk));
        dbuf_free(&err);
        if (!bus->tls_client || !bus->tls_server) {
            tls_ctx_free(bus->tls_client);
            tls_ctx_free(bus->tls_server);
            dbuf_free(&bus->scratch);
            dyn_free(bus->secret);
            dyn_free(bus);
            return DYN_EIO;
        }
    }
    bus->ev_defer = event_new(base, -1, 0, on_defer, bus);
    bus->ev_silent = evtimer_new(base, on_silent, bus);
    bus->ev_flush = event_new(base, -1, 0, on_flush, bus);
    if (opts->bind_host && bus_listen(bus, opts->bind_host, opts->port)) {
        tcp_bus_free(&bus->pub);
        return DYN_EIO;
    }
    *out = &bus->pub;
    return 0;
}

static int tcp_port(const struct peer_bus *pub)
{
    const struct tcp_bus *bus = tcp_bus_of_c(pub);
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (!bus->nlisteners ||
        getsockname(evconnlistener_get_fd(bus->listeners[0]),
                    (struct sockaddr *)&ss, &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

static void tcp_get_stats(const struct peer_bus *pub,
                          struct peer_bus_stats *out)
{
    *out = tcp_bus_of_c(pub)->st;
}

static void tcp_bus_free(struct peer_bus *pub)
{
    struct tcp_bus *bus = tcp_bus_of(pub);
    bus->freeing = 1;
    for (int i = 0; i < bus->nlisteners; i++)
        evconnlistener_free(bus->listeners[i]);
    bus->nlisteners = 0;
    while (bus->conns)
        conn_free(bus->conns);
    for (int i = 0; i < bus->npeers; i++) {
        struct peer *p = bus->peers[i];
        if (!p)
            continue;
        link_kill_now(p);
        peer_destroy(p);
    }
    struct preq *q;
    while ((q = list_pop(&bus->silent)) != NULL) {
        q->cb(q->ctx, DYN_EIO, NULL);
        preq_free(q);
    }
    while ((q = list_pop(&bus->deferred)) != NULL) {
        q->cb(q->ctx, q->err, NULL);
        preq_free(q);
    }
    event_free(bus->ev_defer);
    event_free(bus->ev_silent);
    event_free(bus->ev_flush);
    dyn_free(bus->peers);
    dyn_free(bus->argv);
    dyn_free(bus->elems);
    dbuf_free(&bus->scratch);
    tls_ctx_free(bus->tls_client);
    tls_ctx_free(bus->tls_server);
    if (bus->secret) {
        memset(bus->secret, 0, bus->secret_len);
        dyn_free(bus->secret);
    }
    dyn_free(bus);
}

/* ---- test hooks: connections without TCP (tests and fuzzing) ---------- */

/* These hand the bus a socket that is already connected (one end of a
 * socketpair(AF_UNIX) in tests/fuzz/fuzz_peer.c), so that a test can play
 * the other side of either direction in-process.  They reuse the real
 * paths: an adopted incoming fd goes through on_accept, an adopted outgoing
 * fd through link_start (the state after a non-blocking connect), so
 * nothing here changes how real sockets behave.  The server never calls
 * them. */

int peer_bus_adopt_fd(struct peer_bus *pub, int fd)
{
    struct tcp_bus *bus = tcp_bus_of(pub);
    struct peer_conn *before = bus->conns;
    if (fd < 0)
        return DYN_EINVAL;
    on_accept(NULL, fd, NULL, 0, bus);
    return bus->conns != before ? 0 : DYN_ELIMIT;  /* refused: fd closed */
}

int peer_link_adopt_fd(struct peer_bus *pub, int peer_id, int fd)
{
    struct peer *p = bus_peer(tcp_bus_of(pub), peer_id);
    if (!p || p->fd >= 0 || fd < 0)
        return DYN_EINVAL;
    event_del(p->ev_retry);         /* the dial peer_add scheduled */
    evutil_make_socket_nonblocking(fd);
    link_start(p, fd);
    return 0;
}

/* ---- the table -------------------------------------------------------- */

const struct peer_bus_ops peer_tcp_ops = {
    .bus_new = tcp_bus_new,
    .bus_free = tcp_bus_free,
    .port = tcp_port,
    .get_stats = tcp_get_stats,
    .add = tcp_add,
    .remove = tcp_remove,
    .is_connected = tcp_is_connected,
    .find = tcp_find,
    .set_fault = tcp_set_fault,
    .set_killed = tcp_set_killed,
    .request = tcp_request,
    .call_buf = tcp_call_buf,
    .call_done = tcp_call_done,
    .call_peer_name = tcp_call_peer_name,
    .call_peer_id = tcp_call_peer_id,
    .call_id = tcp_call_id,
    .call_alive = tcp_call_alive,
};
