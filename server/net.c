/*
 * net.c -- client connections: accept, read, parse, dispatch, write.
 *
 * This is the hot path.  It uses plain libevent events and the client's own
 * buffers with read(2)/write(2), not bufferevents: a request is parsed in
 * place in the query buffer and every reply of a batch goes out in one
 * write.  The life of a batch of requests:
 *
 *   socket readable ──> client_read_cb
 *        read() up to 16 KiB (more when a large bulk is known to be coming)
 *        into qbuf ──> client_process_input:
 *            resp_parse ── NEED_MORE ──> stop
 *               │ COMMAND                 ERROR ──> "-ERR Protocol error..."
 *               v                                   close after reply
 *            dispatch_request(c, argv)  -- handler appends to obuf
 *            obuf >= 16 KiB ──> its memory joins the block queue (oq)
 *            resp_next, loop (stops while CLIENT_BLOCKED / closing)
 *        drop the consumed bytes from qbuf (memmove of a partial tail only)
 *        event_active(ev_write)  -- runs after every read queued this round
 *   client_write_cb ──> client_flush: one write() of the whole obuf, or
 *               one writev() of oq's blocks then obuf when oq is not empty
 *               partial ──> enable the write event until drained
 *
 * Redis flushes in beforeSleep(), once per loop iteration, after serving
 * every readable client.  libevent has no such hook, but an event activated
 * from a callback joins the tail of the active queue, behind the read
 * callbacks of this iteration, which gives the same order: all reads, then
 * all writes.  Measured with redis-benchmark -P 16 -c 50, writing at the end
 * of each read callback instead woke the benchmark once per client and cost
 * about a third of the throughput.
 *
 * Output: one buffer, then blocks.  Handlers append to obuf, so a
 * pipeline's small replies leave in one write(2), with no more work than
 * one contiguous buffer costs.  But a client that does not read would make
 * obuf grow without end, and each doubling copies all it holds (a 256 MB
 * buffer stalled every other client for up to 1.3 s).  So between
 * commands, and after a partial write, an obuf that holds 16 KiB or more
 * is handed to the client's block queue (outq.h) -- no copy, the queue
 * takes the memory -- and obuf starts afresh: a slow reader costs O(new
 * bytes), as with Redis's 16 KiB reply blocks.  The pending output is then
 * oq's blocks followed by obuf, and client_flush sends both with one
 * writev(2).  A hand-over waits while a reply in obuf awaits its commit
 * (see below: the acks hold obuf offsets); client_process_input commits
 * early when such a reply holds 16 KiB, which only commands with large
 * replies to writes can cause.
 *
 * Group commit (storage disk).  While a batch is parsed and dispatched the
 * engine does not commit each write (engine_set_group_commit); a command
 * that made the engine accept records (engine_seq moved) leaves an "ack"
 * entry: where its reply lies in obuf and the engine_seq after it.  Before
 * any of a client's output leaves (client_flush), engine_commit runs --
 * write(2) of the buffered records, and fdatasync under appendfsync
 * always -- so the first client flushed in a loop turn pays for the whole
 * turn and the others find nothing pending.  An entry whose seq the commit
 * covered (engine_committed_seq) is dropped; if the commit failed, each
 * uncovered reply is replaced in obuf by the fail-stop error
 * (engine_error_text, "MISCONF ..."), one error per reply so a pipelining
 * client stays in step.  A blocked command (the cluster answers later)
 * keeps an open entry whose end is fixed when the client is resumed.
 * The peer bus brackets its batches with engine_batch_begin/end (wired by
 * cluster/cluster.c through struct peer_handlers).
 *
 * Output limits.  A client whose pending output passes
 * client-output-buffer-limit is closed (CLOSE_ASAP, counted in INFO's
 * client_output_buffer_limit_disconnections).  While requirepass is set, a
 * client that has never authenticated is held to NET_UNAUTH_OBUF_LIMIT
 * (16 KiB), checked after each of its commands: without it, a connection
 * that pipelines PINGs and never reads makes the node buffer its NOAUTH
 * errors without bound (Redis's CVE-2025-21605).
 *
 * Invariants:
 *  - qbuf[0 .. resp_consumed) is never kept across callbacks: it is dropped
 *    (and the parser shifted) at the end of every batch.
 *  - the pending output is oq's blocks, then obuf[obuf_sent .. len); when
 *    oq is not empty obuf_sent is 0; when all drains obuf's len and
 *    obuf_sent are reset to 0, so an idle client holds no stale bytes.
 *  - acks (group commit) exist only while their replies are in obuf: oq
 *    takes obuf only when no ack is left.
 *  - a client is freed only here, from its own callbacks, from the cron or
 *    at shutdown -- never inside a handler (handlers set CLOSE_* flags, and
 *    client_close_async() schedules the client's write callback).
 *  - CLIENT_WRITE_EV (a private flag bit) is set iff ev_write is added.
 *
 * Thread-safety: everything runs on the event loop thread.
 * The http API (server/http/http.c) makes clients too, with no socket
 * (fd -1, no read event; its write event tells it the reply is complete),
 * on the same list: client_free releases them as it does any client.
 *
 * Errors: socket errors close the client (logged at verbose level).
 */
#include "cluster/announce.h"
#include "server/client.h"
#include "server/dispatch.h"
#include "server/pipeline.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>
#include <event2/event.h>
#include "server/engine.h"
#include "server/log.h"
#include "server/node.h"
#include "server/reply.h"
#include "server/tls.h"
#include "server/util.h"

#define NET_READ_CHUNK (16 * 1024)
#define NET_ACCEPT_PER_CALL 1000
#define NET_STACK_ARGS 32
/* Idle buffers above these capacities are shrunk by the cron. */
#define NET_QBUF_KEEP (32 * 1024)
#define NET_OBUF_KEEP (16 * 1024)
/* An empty query buffer above this is released at once. */
#define NET_QBUF_BIG (1024 * 1024)
/* Below this much output the per-request limit check is skipped. */
#define NET_OBUF_CHECK (1024 * 1024)
/* obuf holding this much joins the block queue (outq.h), as Redis's 16 KiB
 * reply chunks. */
#define NET_OBUF_SPILL (16 * 1024)
/* iovecs per writev: 64 blocks of 16 KiB or more outrun any socket buffer. */
#define NET_IOV_MAX 64
/* The output limit of a client that has never authenticated while
 * requirepass is set (CVE-2025-21605).  Redis closes such a client once its
 * replies overflow the 16 KiB static reply buffer (its list may then hold
 * 1 KiB); this is the same bound.  Such a client can only run AUTH, HELLO
 * and the like, so anything more is an attack on memory. */
#define NET_UNAUTH_OBUF_LIMIT (16 * 1024)

/* Private flag bits, above enum client_flags. */
#define CLIENT_EVER_AUTH (1u << 26) /* authenticated at some point */

static void client_write_cb(evutil_socket_t fd, short what, void *arg);

/* A reply in obuf that acknowledges writes not yet committed. */
struct client_ack {
    size_t start, end;  /* obuf offsets; end NET_ACK_OPEN while blocked */
    uint64_t seq;       /* engine_seq once the command had run */
};
#define NET_ACK_OPEN SIZE_MAX

static const char msg_maxclients[] = "-ERR max number of clients reached\r\n";
static const char msg_denied[] =
    "-DENIED Redis is running in protected mode because protected mode is "
    "enabled and no password is set for the default user. In this mode "
    "connections are only accepted from the loopback interface. If you want "
    "to connect from external computers to Redis you may adopt one of the "
    "following solutions: 1) Just disable protected mode sending the command "
    "'CONFIG SET protected-mode no' from the loopback interface by connecting "
    "to Redis from the same host the server is running, however MAKE SURE "
    "Redis is not publicly accessible from internet if you do so. Use CONFIG "
    "REWRITE to make this change permanent. 2) Alternatively you can just "
    "disable the protected mode by editing the Redis configuration file, and "
    "setting the protected mode option to 'no', and then restarting the "
    "server. 3) If you started the server manually just for testing, restart "
    "it with the '--protected-mode no' option. 4) Setup a an authentication "
    "password for the default user. NOTE: You only need to do one of the "
    "above things in order for the server to start accepting connections from "
    "the outside.\r\n";

/* ---- helpers ------------------------------------------------------------ */

static int net_has_password(const struct node *n)
{
    return n->cfg.requirepass && n->cfg.requirepass[0];
}

/* 1 if the peer address is loopback (127.0.0.0/8, ::1, ::ffff:127.x). */
static int net_addr_is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        return (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        if (IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr))
            return 1;
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
            return s6->sin6_addr.s6_addr[12] == 127;
        return 0;
    }
    return 1; /* unix sockets count as local */
}

static void net_format_addr(const struct sockaddr_storage *ss, char *out,
                            size_t outlen)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
        port = ntohs(s4->sin_port);
        snprintf(out, outlen, "%s:%d", ip, port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
        port = ntohs(s6->sin6_port);
        snprintf(out, outlen, "[%s]:%d", ip, port);
    } else {
        snprintf(out, outlen, "?:0");
    }
}

static void net_tune_socket(struct node *n, int fd)
{
    int yes = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
    if (n->cfg.tcp_keepalive > 0) {
        int idle = n->cfg.tcp_keepalive;
        int intvl = idle / 3 > 0 ? idle / 3 : 1;
        int cnt = 3;
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &yes, sizeof(yes));
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
    }
}

/* Wall clock in ms as of this loop iteration (the node's turn clock:
 * libevent's cached time), which is all idle accounting needs and costs
 * no clock read. */
static uint64_t net_now_ms(struct node *n)
{
    return node_turn_ms(n);
}

/* ---- client lifetime ----------------------------------------------------- */

void client_free(struct client *c)
{
    if (!c)
        return;
    struct node *n = c->node;
    if (c->prev)
        c->prev->next = c->next;
    else
        n->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    n->nclients--;
    pipeline_client_gone(c);
    /* the http API's clients have no socket and no read event */
    if (c->ev_read)
        event_free(c->ev_read);
    if (c->ev_write)
        event_free(c->ev_write);
    tls_conn_free(c->tls);
    if (c->fd >= 0)
        close(c->fd);
    client_multi_reset(c);
    dbuf_free(&c->qbuf);
    dbuf_free(&c->obuf);
    outq_free(&c->oq);
    resp_free(&c->parser);
    dyn_free(c->acks);
    dyn_free(c->name);
    dyn_free(c->lib_name);
    dyn_free(c->lib_ver);
    dyn_free(c);
}

static void client_read_cb(evutil_socket_t fd, short what, void *arg);

static struct client *client_new(struct node *n, int fd,
                                 const struct sockaddr_storage *peer)
{
    struct client *c = dyn_calloc(1, sizeof(*c));
    c->node = n;
    c->id = n->next_client_id++;
    c->fd = fd;
    net_format_addr(peer, c->addr, sizeof(c->addr));
    struct sockaddr_storage local;
    socklen_t ll = sizeof(local);
    if (getsockname(fd, (struct sockaddr *)&local, &ll) == 0)
        net_format_addr(&local, c->laddr, sizeof(c->laddr));
    else
        snprintf(c->laddr, sizeof(c->laddr), "?:0");
    dbuf_init(&c->qbuf);
    dbuf_init(&c->obuf);
    outq_init(&c->oq);
    resp_init(&c->parser);
    c->resp = 2;
    c->authenticated = !net_has_password(n);
    if (c->authenticated)
        c->flags |= CLIENT_EVER_AUTH;
    c->ctime_ms = c->last_ms = net_now_ms(n);
    c->ev_read = event_new(n->base, fd, EV_READ | EV_PERSIST, client_read_cb,
                           c);
    c->ev_write = event_new(n->base, fd, EV_WRITE | EV_PERSIST,
                            client_write_cb, c);
    event_add(c->ev_read, NULL);
    c->next = n->clients;
    if (n->clients)
        n->clients->prev = c;
    n->clients = c;
    n->nclients++;
    return c;
}

/* ---- output ------------------------------------------------------------- */

/* 1 when c has never authenticated and requirepass is set: its output is
 * held to NET_UNAUTH_OBUF_LIMIT.  A client that authenticated once keeps
 * the ordinary limit after RESET or a later CONFIG SET requirepass, as in
 * Redis. */
static int client_unauth_limited(const struct client *c)
{
    return !(c->flags & CLIENT_EVER_AUTH) && net_has_password(c->node);
}

/* 1 (and the client marked CLOSE_ASAP, counted and logged) when its pending
 * output passed client-output-buffer-limit, or NET_UNAUTH_OBUF_LIMIT for a
 * client that has never authenticated. */
static int client_obuf_over_limit(struct client *c)
{
    struct node *n = c->node;
    long long limit = n->cfg.client_output_buffer_limit;
    int unauth = client_unauth_limited(c);
    if (unauth)
        limit = NET_UNAUTH_OBUF_LIMIT;
    size_t pending = client_obuf_pending(c);
    if (limit <= 0 || (long long)pending <= limit)
        return 0;
    if (!(c->flags & CLIENT_CLOSE_ASAP)) {
        c->flags |= CLIENT_CLOSE_ASAP;
        n->stats.client_output_limit_disconnections++;
        dlog(DLOG_WARNING,
             "Client id=%llu addr=%s closed for overcoming of output buffer "
             "limits (%zu bytes pending%s).",
             (unsigned long long)c->id, c->addr, pending,
             unauth ? ", not authenticated" : "");
    }
    return 1;
}

/* ---- group commit ---------------------------------------------------------- */

static void client_ack_add(struct client *c, size_t start, size_t end,
                           uint64_t seq)
{
    if (c->nacks == c->acks_cap) {
        c->acks_cap = c->acks_cap ? c->acks_cap * 2 : 16;
        c->acks = dyn_realloc(c->acks, c->acks_cap * sizeof(*c->acks));
    }
    c->acks[c->nacks++] = (struct client_ack){ start, end, seq };
}

/* obuf lost its first k bytes (sent): open entries move down. */
static void client_acks_shift(struct client *c, size_t k)
{
    for (uint32_t i = 0; i < c->nacks; i++)
        c->acks[i].start -= DYN_MIN(c->acks[i].start, k);
}

/* Before c's output leaves: commits what its replies acknowledge, and
 * replaces every reply whose writes could not be made durable with the
 * fail-stop error.  Entries still open (blocked) stay. */
static void client_commit_acks(struct client *c)
{
    struct node *n = c->node;
    if (c->nacks == 0)
        return;
    (void)engine_commit(n->engine); /* failure shows in committed_seq */
    uint64_t done = engine_committed_seq(n->engine);
    uint32_t keep = 0;
    int bad = 0;
    for (uint32_t i = 0; i < c->nacks; i++) {
        struct client_ack *a = &c->acks[i];
        if (a->seq <= done)
            continue;
        if (a->end != NET_ACK_OPEN && a->end > a->start)
            bad = 1;
        else if (a->end != NET_ACK_OPEN)
            continue; /* no reply (the client went away): nothing to undo */
        c->acks[keep++] = *a;
    }
    c->nacks = keep;
    if (!bad)
        return;
    const char *msg = engine_error_text(n->engine, DYN_EIO);
    struct dbuf out;
    dbuf_init(&out);
    dbuf_reserve(&out, c->obuf.len - c->obuf_sent + 256);
    size_t pos = c->obuf_sent;
    keep = 0;
    for (uint32_t i = 0; i < c->nacks; i++) {
        struct client_ack *a = &c->acks[i];
        dyn_assert(a->start >= pos);
        dbuf_append(&out, c->obuf.p + pos, a->start - pos);
        pos = a->start;
        if (a->end == NET_ACK_OPEN) {
            a->start = out.len;
            c->acks[keep++] = *a;
            continue;
        }
        dbuf_appends(&out, "-");
        dbuf_appends(&out, msg);
        dbuf_appends(&out, "\r\n");
        n->stats.total_error_replies++;
        pos = a->end;
    }
    dbuf_append(&out, c->obuf.p + pos, c->obuf.len - pos);
    dbuf_free(&c->obuf);
    c->obuf = out;
    c->obuf_sent = 0;
    c->nacks = keep;
    dlog(DLOG_WARNING, "Client id=%llu addr=%s: replies to writes that could "
         "not be made durable were replaced by the MISCONF error",
         (unsigned long long)c->id, c->addr);
}

/* Hands obuf's pending bytes to the block queue, without copying: the
 * queue takes obuf's memory and obuf starts afresh.  Not while a reply in
 * obuf waits for its commit (the acks hold obuf offsets): returns 0 then. */
static int client_spill(struct client *c)
{
    if (c->nacks)
        return 0;
    outq_take(&c->oq, &c->obuf, c->obuf_sent);
    c->obuf_sent = 0;
    return 1;
}

/* The pending output as iovecs: the queued blocks, then obuf's tail when
 * every block fits.  Returns how many. */
static int client_out_iov(struct client *c, struct iovec *iov, size_t tail)
{
    int k = outq_iov(&c->oq, iov, NET_IOV_MAX - 1);
    if ((size_t)k == c->oq.blocks && tail > 0) {
        iov[k].iov_base = c->obuf.p + c->obuf_sent;
        iov[k].iov_len = tail;
        k++;
    }
    return k;
}

/* client_flush's write for a TLS client: the queued blocks, then obuf's
 * tail, in order, through OpenSSL (which has no writev: one call per block,
 * each as many records as the socket takes).  Returns the bytes written,
 * or -1 with errno (EAGAIN when nothing could go). */
static ssize_t client_tls_write(struct client *c, size_t tail)
{
    struct iovec iov[NET_IOV_MAX];
    int k = client_out_iov(c, iov, tail);
    size_t total = 0;
    for (int i = 0; i < k; i++) {
        size_t off = 0;
        while (off < iov[i].iov_len) {
            ssize_t w = tls_conn_write(c->tls, (char *)iov[i].iov_base + off,
                                       iov[i].iov_len - off);
            if (w == TLS_IO_AGAIN) {
                if (total)
                    return (ssize_t)total;
                errno = EAGAIN;
                return -1;
            }
            if (w < 0) {
                errno = EPROTO;
                return -1;
            }
            off += (size_t)w;
            total += (size_t)w;
        }
    }
    return (ssize_t)total;
}

/* Writes as much of the pending output (the queued blocks, then obuf) as
 * the socket takes: one write(2) when all of it is in obuf, the common
 * case, else one writev(2).  Returns 0, or -1 when the client was freed. */
static int client_flush(struct client *c)
{
    struct node *n = c->node;
    client_commit_acks(c);
    size_t queued = c->oq.pending;
    size_t tail = c->obuf.len - c->obuf_sent;
    if (queued + tail > 0) {
        ssize_t w;
        if (c->tls) {
            w = client_tls_write(c, tail);
        } else if (queued == 0) {
            w = write(c->fd, c->obuf.p + c->obuf_sent, tail);
        } else {
            struct iovec iov[NET_IOV_MAX];
            int k = client_out_iov(c, iov, tail);
            w = writev(c->fd, iov, k);
        }
        if (w < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                dlog(DLOG_VERBOSE, "Error writing to client: %s",
                     strerror(errno));
                client_free(c);
                return -1;
            }
            w = 0;
        }
        size_t from_queue = DYN_MIN((size_t)w, queued);
        if (from_queue)
            outq_consume(&c->oq, from_queue);
        c->obuf_sent += (size_t)w - from_queue;
        n->stats.total_net_output_bytes += (uint64_t)w;
        if (w > 0)
            c->last_ms = net_now_ms(n);
    }
    if (client_obuf_pending(c) == 0) {
        if (c->nacks)
            client_acks_shift(c, c->obuf.len);
        c->obuf.len = 0;
        c->obuf_sent = 0;
        if (c->flags & CLIENT_WRITE_EV) {
            event_del(c->ev_write);
            c->flags &= ~CLIENT_WRITE_EV;
        }
        if (c->flags & CLIENT_CLOSE_AFTER_REPLY) {
            client_free(c);
            return -1;
        }
        return 0;
    }
    if (client_obuf_over_limit(c)) {
        client_free(c);
        return -1;
    }
    /* The peer reads slowly: a block's worth in obuf joins the queue
     * rather than obuf growing; less is moved down once mostly sent. */
    if (c->obuf.len - c->obuf_sent >= NET_OBUF_SPILL) {
        client_spill(c);
    } else if (c->oq.pending == 0 && c->obuf_sent > 65536 &&
               c->obuf_sent > c->obuf.len / 2) {
        if (c->nacks)
            client_acks_shift(c, c->obuf_sent);
        dbuf_consume(&c->obuf, c->obuf_sent);
        c->obuf_sent = 0;
    }
    if (!(c->flags & CLIENT_WRITE_EV)) {
        event_add(c->ev_write, NULL);
        c->flags |= CLIENT_WRITE_EV;
    }
    return 0;
}

/* ---- input -------------------------------------------------------------- */

static void client_protocol_error(struct client *c)
{
    const char *e = resp_error(&c->parser);
    dlog(DLOG_VERBOSE, "Protocol error (%s) from client: id=%llu addr=%s",
         e ? e : "?", (unsigned long long)c->id, c->addr);
    c->node->stats.total_error_replies++;
    dbuf_appends(&c->obuf, "-ERR ");
    dbuf_appends(&c->obuf, e ? e : "Protocol error");
    dbuf_appends(&c->obuf, "\r\n");
    c->flags |= CLIENT_CLOSE_AFTER_REPLY;
}

/* Runs every complete request in qbuf, then drops the consumed bytes. */
static void client_process_input(struct client *c)
{
    struct node *n = c->node;
    struct resp_limits lim;
    lim.max_bulk = n->cfg.proto_max_bulk_len;
    lim.max_inline = CLIENT_MAX_INLINE;
    lim.unauthenticated = !c->authenticated && net_has_password(n);
    lim.unauth_max_args = 10;
    lim.unauth_max_bulk = 16384;
    /* a client that never authenticated is checked after every command */
    int unauth = client_unauth_limited(c);
    struct dyn_arg stack_argv[NET_STACK_ARGS];
    n->clock_us = node_mono_us(n);
    struct engine *eng = n->engine;
    if (eng)
        engine_set_group_commit(eng, 1);

    while (!(c->flags & (CLIENT_BLOCKED | CLIENT_CLOSE_AFTER_REPLY |
                         CLIENT_CLOSE_ASAP))) {
        int st = resp_parse(&c->parser, c->qbuf.p, c->qbuf.len, &lim);
        if (st == RESP_NEED_MORE)
            break;
        if (st == RESP_ERROR) {
            client_protocol_error(c);
            break;
        }
        size_t argc = c->parser.argc;
        struct dyn_arg *argv = stack_argv;
        if (argc > NET_STACK_ARGS)
            argv = dyn_malloc(argc * sizeof(*argv));
        for (size_t i = 0; i < argc; i++) {
            argv[i].p = c->qbuf.p + c->parser.args[i].off;
            argv[i].len = c->parser.args[i].len;
        }
        int was_auth = c->authenticated;
        uint64_t seq0 = engine_seq(eng);
        size_t out0 = c->obuf.len;
        dispatch_request(c, (int)argc, argv);
        uint64_t seq1 = engine_seq(eng);
        if (seq1 != seq0)
            client_ack_add(c, out0, (c->flags & CLIENT_BLOCKED)
                                        ? NET_ACK_OPEN : c->obuf.len, seq1);
        if (argv != stack_argv)
            dyn_free(argv);
        resp_next(&c->parser);
        if (c->authenticated != was_auth) {
            lim.unauthenticated = !c->authenticated && net_has_password(n);
            if (c->authenticated)
                c->flags |= CLIENT_EVER_AUTH;
            unauth = client_unauth_limited(c);
        }
        if (c->obuf.len >= NET_OBUF_SPILL) {
            /* a reply that acknowledges writes leaves obuf only once they
             * are committed: commit now (the batch's later writes commit
             * at the flush as usual) */
            client_commit_acks(c);
            client_spill(c);
        }
        if ((unauth || client_obuf_pending(c) > NET_OBUF_CHECK) &&
            client_obuf_over_limit(c))
            break;
    }
    n->clock_us = 0;
    if (eng)
        engine_set_group_commit(eng, 0);
    size_t done = resp_consumed(&c->parser);
    if (done > 0) {
        if (done >= c->qbuf.len)
            c->qbuf.len = 0;
        else
            dbuf_consume(&c->qbuf, done);
        resp_shift(&c->parser, done);
    }
    /* A buffer sized for one big bulk is not kept for small requests. */
    if (c->qbuf.len == 0 && c->qbuf.cap > NET_QBUF_BIG)
        dbuf_free(&c->qbuf);
}

static void client_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct client *c = arg;
    struct node *n = c->node;
    size_t readlen = NET_READ_CHUNK;
    size_t want = resp_want(&c->parser);
    if (want > c->qbuf.len && want - c->qbuf.len > readlen) {
        /* A big bulk of known length (already checked against
         * proto-max-bulk-len) is on its way: size the buffer for it once,
         * as Redis does, instead of reallocating (and copying) as it grows.
         * Untouched pages of a large allocation cost no memory. */
        readlen = want - c->qbuf.len;
    }
    dbuf_reserve(&c->qbuf, readlen);
    /* use whatever room the buffer already has */
    readlen = c->qbuf.cap - c->qbuf.len;
    ssize_t r;
    if (c->tls) {
        r = tls_conn_read(c->tls, c->qbuf.p + c->qbuf.len, readlen);
        if (r == TLS_IO_AGAIN) {
            if (tls_conn_wants_write(c->tls)) {
                c->tls_read_wants_write = 1;
                if (!(c->flags & CLIENT_WRITE_EV)) {
                    event_add(c->ev_write, NULL);
                    c->flags |= CLIENT_WRITE_EV;
                }
            }
            return;
        }
        if (r == TLS_IO_ERROR) {
            errno = EPROTO;
            r = -1;
        }
    } else {
        r = read(fd, c->qbuf.p + c->qbuf.len, readlen);
    }
    if (r <= 0) {
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        if (r == 0)
            dlog(DLOG_VERBOSE, "Client closed connection id=%llu addr=%s",
                 (unsigned long long)c->id, c->addr);
        else
            dlog(DLOG_VERBOSE, "Reading from client: %s", strerror(errno));
        client_free(c);
        return;
    }
    n->stats.total_net_input_bytes += (uint64_t)r;
    c->last_ms = net_now_ms(n);
    if (c->flags & (CLIENT_CLOSE_AFTER_REPLY | CLIENT_CLOSE_ASAP))
        return; /* input after QUIT or a protocol error is ignored */
    c->qbuf.len += (size_t)r;
    long long qlimit = n->cfg.client_query_buffer_limit;
    if (qlimit > 0 && (long long)c->qbuf.len > qlimit) {
        n->stats.client_query_buffer_limit_disconnections++;
        dlog(DLOG_WARNING,
             "Closing client that reached max query buffer length: id=%llu "
             "addr=%s qbuf=%zu",
             (unsigned long long)c->id, c->addr, c->qbuf.len);
        client_free(c);
        return;
    }
    client_process_input(c);
    if (c->flags & CLIENT_CLOSE_ASAP) {
        client_free(c);
        return;
    }
    /* OpenSSL may hold more decrypted input than this read took: no socket
     * event announces it, so come back for it next turn */
    if (c->tls && tls_conn_pending(c->tls) && !(c->flags & CLIENT_BLOCKED))
        event_active(c->ev_read, EV_READ, 1);
    /* Defer the write to the end of this loop iteration (our beforeSleep):
     * an activated event runs after the read callbacks already queued, so
     * every client served in this iteration is flushed in one pass and a
     * pipelining peer is woken once per batch rather than once per client. */
    if ((client_obuf_pending(c) || (c->flags & CLIENT_CLOSE_AFTER_REPLY)) &&
        !(c->flags & CLIENT_WRITE_EV))
        event_active(c->ev_write, EV_WRITE, 1);
}

/* Runs when the socket is writable, and (via event_active) when the client
 * was unblocked or killed from elsewhere. */
static void client_write_cb(evutil_socket_t fd, short what, void *arg)
{
    struct client *c = arg;
    if (c->flags & CLIENT_CLOSE_ASAP) {
        client_free(c);
        return;
    }
    if (c->tls_read_wants_write) {
        /* the TLS handshake wanted to write: the read goes on now */
        c->tls_read_wants_write = 0;
        client_read_cb(fd, EV_READ, c);
        return;
    }
    if (c->flags & CLIENT_RESUME) {
        c->flags &= ~CLIENT_RESUME;
        /* the blocked command's reply is what obuf gained meanwhile */
        for (uint32_t i = 0; i < c->nacks; i++)
            if (c->acks[i].end == NET_ACK_OPEN)
                c->acks[i].end = c->obuf.len;
        if (!(c->flags & CLIENT_BLOCKED) && c->qbuf.len > 0)
            client_process_input(c);
        if (c->flags & CLIENT_CLOSE_ASAP) {
            client_free(c);
            return;
        }
    }
    client_flush(c);
}

/* ---- accepting ------------------------------------------------------------ */

static void net_reject(int fd, const char *msg, size_t len)
{
    ssize_t w = write(fd, msg, len); /* best effort, as Redis */
    (void)w;
    close(fd);
}

static void net_accept(struct node *n, int lfd, int tls)
{
    for (int i = 0; i < NET_ACCEPT_PER_CALL; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                errno != ECONNABORTED)
                dlog(DLOG_WARNING, "Accepting client connection: %s",
                     strerror(errno));
            return;
        }
        n->stats.total_connections_received++;
        if (n->cfg.maxclients > 0 && n->nclients >= (size_t)n->cfg.maxclients) {
            n->stats.rejected_connections++;
            net_reject(fd, msg_maxclients, sizeof(msg_maxclients) - 1);
            continue;
        }
        if (n->cfg.protected_mode && !net_has_password(n) &&
            !net_addr_is_loopback(&ss)) {
            char a[64];
            net_format_addr(&ss, a, sizeof(a));
            dlog(DLOG_WARNING,
                 "Denied connection from %s: protected mode is on and no "
                 "password is set",
                 a);
            n->stats.rejected_connections++;
            net_reject(fd, msg_denied, sizeof(msg_denied) - 1);
            continue;
        }
        net_tune_socket(n, fd);
        struct tls_conn *t = NULL;
        if (tls && !(t = tls_conn_new(n->tls_ctx, fd, 1))) {
            dlog(DLOG_WARNING, "TLS setup of a client failed: %s",
                 tls_last_error());
            close(fd);
            continue;
        }
        struct client *c = client_new(n, fd, &ss);
        c->tls = t;
        dlog(DLOG_VERBOSE, "Accepted %s%s", c->addr, tls ? " (TLS)" : "");
    }
}

static void net_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
    net_accept(arg, lfd, 0);
}

static void net_accept_tls_cb(evutil_socket_t lfd, short what, void *arg)
{
    net_accept(arg, lfd, 1);
}

/* Reads "spec" as Redis's bind does (announce_bind_word, shared with the
 * peer bus): "*" is any IPv4, "::*" any IPv6, a leading '-' marks an
 * address that may be unavailable. */
static int net_listen_one(struct node *n, const char *spec, int portnum,
                          int tls)
{
    int optional = 0;
    char host[ANNOUNCE_HOST_MAX];
    if (announce_bind_word(spec, host, sizeof(host), &optional) != 0) {
        dlog(DLOG_WARNING, "Invalid bind address '%s'", spec);
        return optional ? 0 : DYN_EINVAL;
    }
    char port[16];
    snprintf(port, sizeof(port), "%d", portnum);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        dlog(DLOG_WARNING, "Could not create server TCP listening socket %s:%d: %s",
             host, portnum, gai_strerror(gai));
        return optional ? 0 : DYN_EIO;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    0);
    if (fd < 0)
        goto fail;
    int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    if (res->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &yes, sizeof(yes));
    if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 ||
        listen(fd, n->cfg.tcp_backlog > 0 ? n->cfg.tcp_backlog : 511) < 0)
        goto fail;
    freeaddrinfo(res);
    if (n->listen_count >= DYN_ARRAY_LEN(n->listen_fds)) {
        close(fd);
        dlog(DLOG_WARNING, "Too many bind addresses");
        return DYN_ELIMIT;
    }
    n->listen_fds[n->listen_count] = fd;
    n->listen_tls[n->listen_count] = tls;
    n->listen_ev[n->listen_count] =
        event_new(n->base, fd, EV_READ | EV_PERSIST,
                  tls ? net_accept_tls_cb : net_accept_cb, n);
    event_add(n->listen_ev[n->listen_count], NULL);
    n->listen_count++;
    return 0;
fail:;
    int e = errno;
    if (fd >= 0)
        close(fd);
    freeaddrinfo(res);
    dlog(DLOG_WARNING, "Warning: Could not create server TCP listening socket "
         "%s:%d: %s", host, portnum, strerror(e));
    return optional && (e == EADDRNOTAVAIL || e == EAFNOSUPPORT) ? 0 : DYN_EIO;
}

int net_listen(struct node *n)
{
    const char *bind = n->cfg.bind && n->cfg.bind[0] ? n->cfg.bind : "127.0.0.1";
    char *copy = dyn_strdup(bind);
    char *save = NULL;
    int rc = 0;
    int plain = n->cfg.port != 0 || !n->tls_ctx;
    for (char *tok = strtok_r(copy, " \t", &save); tok;
         tok = strtok_r(NULL, " \t", &save)) {
        /* port 0 with a tls-port: TLS only, as in Redis */
        rc = plain ? net_listen_one(n, tok, n->cfg.port, 0) : 0;
        if (rc == 0 && n->tls_ctx)
            rc = net_listen_one(n, tok, n->cfg.tls_port, 1);
        if (rc < 0)
            break;
    }
    dyn_free(copy);
    if (rc == 0 && n->listen_count == 0) {
        dlog(DLOG_WARNING, "Configured to not listen anywhere, exiting.");
        rc = DYN_EIO;
    }
    return rc;
}

void net_close_listeners(struct node *n)
{
    for (size_t i = 0; i < n->listen_count; i++) {
        event_free(n->listen_ev[i]);
        close(n->listen_fds[i]);
    }
    n->listen_count = 0;
}

void net_free_all_clients(struct node *n)
{
    while (n->clients)
        client_free(n->clients);
}

void net_cron(struct node *n, uint64_t now_ms)
{
    uint64_t timeout_ms = n->cfg.timeout > 0 ? (uint64_t)n->cfg.timeout * 1000 : 0;
    struct client *next;
    for (struct client *c = n->clients; c; c = next) {
        next = c->next;
        uint64_t idle = now_ms > c->last_ms ? now_ms - c->last_ms : 0;
        if (timeout_ms && idle > timeout_ms && !(c->flags & CLIENT_BLOCKED)) {
            dlog(DLOG_VERBOSE, "Closing idle client id=%llu addr=%s",
                 (unsigned long long)c->id, c->addr);
            client_free(c);
            continue;
        }
        /* Shrink what a burst left behind: empty buffers at once, others
         * once the client has been idle for two seconds, as Redis does. */
        if (c->qbuf.cap > NET_QBUF_KEEP) {
            if (c->qbuf.len == 0)
                dbuf_free(&c->qbuf);
            else if (idle >= 2000 && c->qbuf.len < NET_QBUF_KEEP)
                dbuf_shrink(&c->qbuf, NET_QBUF_KEEP);
        }
        if (client_obuf_pending(c) == 0 && c->obuf.cap > NET_OBUF_KEEP &&
            (idle >= 2000 || c->obuf.cap > 4 * NET_OBUF_KEEP))
            dbuf_shrink(&c->obuf, NET_OBUF_KEEP);
    }
}

