/*
 * fuzz_peer.c -- libFuzzer target for the peer bus's framing and handshake
 * (cluster/peer.c), in both directions, in-process.
 *
 * Each input runs twice, against two fresh buses on a fresh event base,
 * over socketpair(AF_UNIX) handed to the bus with peer.h's test hooks (no
 * TCP port is opened):
 *
 *   incoming   harness ──input──> acceptor bus "a" (peer_bus_adopt_fd):
 *              resp_parse with the unauthenticated limits, conn_dispatch,
 *              PEER.HELLO / PEER.AUTH, then id-tagged requests to handlers
 *   outgoing   dialing bus "d" (peer_link_adopt_fd) <──input── harness:
 *              hiredis's reader under the reader_* bounds, on_hello_reply,
 *              on_auth_reply, on_request_reply
 *
 *   byte 0   bit 0: the harness first completes a VALID handshake (it
 *                   knows the secret: it reads the other side's nonce and
 *                   computes its proof with auth_proof), so that the input
 *                   reaches the authenticated paths; otherwise the raw
 *                   input is the whole conversation
 *            bit 1: cluster-insecure on both buses (HELLO only)
 *            bit 2: the acceptor is killed (DYNAMO.KILL: drop marker)
 *            bit 3: max_message 300 bytes (the "too large" paths)
 *            bits 4-6: chunking mode (whole, 1 byte, random sizes ...)
 *            bit 7: held calls (LATER) are answered after every chunk
 *                   rather than at the end
 *   byte 1   seed for the chunk sizes
 *   byte 2   requests the dialer sends once its link is up (0-7); one
 *            more after each chunk while it stays up
 *   rest     the byte stream, delivered chunk by chunk, the loop run
 *            until quiet (bounded) after each chunk
 *
 * The acceptor's handlers: ECHO x (bulk), INT (the request id), NIL, PING
 * (+OK), LATER (answered later, in order), SYNCFAIL (the batch's group
 * commit fails: the connection closes with calls pending), REVIVE (passes
 * a kill); anything else is an unknown command.
 *
 * Invariants checked (abort() on violation):
 *   - what either bus writes is well-formed RESP (parsed by hiredis);
 *   - the harness's valid handshake always succeeds, and the proof each
 *     bus sends checks with auth_check;
 *   - without the secret nothing reaches a handler and no link comes up
 *     (unless insecure): the input never holds a valid proof, since the
 *     nonces are fresh;
 *   - a handler's caller is the authenticated name;
 *   - every peer_request callback runs exactly once, with a reply whose
 *     strings are NUL-terminated and whose arrays have their items;
 *   - ASan/UBSan/LeakSanitizer: nothing leaks once both buses are freed.
 *
 * The buses' timeouts are a day, so no timer fires during a run: the
 * timer paths (auth timeout, dead link, redial) are not fuzzed here, and
 * a slow machine does not change what an input does.  The dialer's peer
 * is never dialed (the hook replaces the dial).
 */
#include "tests/fuzz/fuzz_peer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "cluster/auth.h"
#include "cluster/peer.h"
#include "server/util.h"

#define SECRET "fuzz-peer-cluster-secret"
#define DIALER "d"
#define ACCEPTOR "a"
#define LOOP_MAX 64     /* loop turns per pump */
#define QUIET_TURNS 3   /* turns without output that end a pump */
#define MAX_HELD 64
#define MAX_REQS 64
#define WRITE_TRIES 8
#define NO_TIMEOUT_MS (24ull * 3600 * 1000)

#define CHECK(e)                                                            \
    do {                                                                    \
        if (!(e)) {                                                         \
            fprintf(stderr, "fuzz_peer.c:%d: invariant failed: %s\n",       \
                    __LINE__, #e);                                          \
            abort();                                                        \
        }                                                                   \
    } while (0)

/* The harness's end of one socketpair, and a parser for what the bus
 * writes on it. */
struct side {
    struct event_base *base;
    int fd;
    redisReader *rd;
    int eof;
};

struct req {
    struct harness *h;
    int calls;
};

struct harness {
    struct fuzz_peer_outcome *out;
    int insecure;
    int may_handle;         /* a handler may run (authenticated or insecure) */
    int sync_fail;          /* SYNCFAIL seen: batch_end fails once */
    struct peer_call *held[MAX_HELD];
    int nheld;
    struct req reqs[MAX_REQS];
    int nreqs;
    int linked;
};

/* ---- chunks (as in fuzz_resp.c) ----------------------------------------- */

static size_t next_chunk(uint32_t *rng, int mode, size_t left)
{
    size_t n;
    *rng = *rng * 1103515245u + 12345u;
    uint32_t r = *rng >> 8;
    switch (mode) {
    case 0: n = left; break;
    case 1: n = 1; break;
    case 2: n = 1 + r % 4; break;
    case 3: n = 1 + r % 17; break;
    case 4: n = 1 + r % 128; break;
    case 5: n = (r & 1) ? 1 : 1 + r % 64; break;
    default: n = 1 + r % 1024; break;
    }
    return n < left ? n : left;
}

/* ---- the harness's end of the socket ------------------------------------ */

static void side_open(struct side *s, struct event_base *base, int fd)
{
    s->base = base;
    s->fd = fd;
    s->rd = redisReaderCreate();
    CHECK(s->rd);
    s->eof = 0;
}

static void side_close(struct side *s)
{
    close(s->fd);
    redisReaderFree(s->rd);
}

/* Reads what the bus wrote; returns the byte count. */
static size_t side_drain(struct side *s)
{
    char buf[16384];
    size_t total = 0;
    while (!s->eof) {
        ssize_t n = read(s->fd, buf, sizeof(buf));
        if (n > 0) {
            CHECK(redisReaderFeed(s->rd, buf, (size_t)n) == REDIS_OK);
            total += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        s->eof = 1;     /* closed (0) or reset */
    }
    return total;
}

/* Runs the loop until the bus has been quiet for a few turns, or closed. */
static void pump(struct side *s)
{
    int quiet = 0;
    for (int i = 0; i < LOOP_MAX && quiet < QUIET_TURNS && !s->eof; i++) {
        event_base_loop(s->base, EVLOOP_NONBLOCK);
        quiet = side_drain(s) ? 0 : quiet + 1;
    }
}

/* The next complete value the bus wrote (the caller frees it), or NULL. */
static redisReply *side_value(struct side *s)
{
    void *r = NULL;
    CHECK(redisReaderGetReply(s->rd, &r) == REDIS_OK);   /* well-formed */
    return r;
}

/* Waits (bounded) for the next value. */
static redisReply *side_await(struct side *s)
{
    redisReply *r = side_value(s);
    for (int i = 0; !r && i < 4 && !s->eof; i++) {
        pump(s);
        r = side_value(s);
    }
    return r;
}

/* Counts and frees the values the bus wrote so far. */
static int side_take_all(struct side *s)
{
    int n = 0;
    redisReply *r;
    while ((r = side_value(s)) != NULL) {
        freeReplyObject(r);
        n++;
    }
    return n;
}

/* Writes as much of p as the bus takes (it may stop reading). */
static void side_write(struct side *s, const void *p, size_t n)
{
    const char *c = p;
    int tries = 0;
    while (n && !s->eof && tries < WRITE_TRIES) {
        ssize_t w = send(s->fd, c, n, MSG_NOSIGNAL);
        if (w > 0) {
            c += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EINTR)
            return;     /* the bus closed */
        tries++;
        pump(s);
    }
}

static void side_command(struct side *s, int argc, const char **argv)
{
    char *cmd = NULL;
    size_t lens[4];
    CHECK(argc <= 4);
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    int n = redisFormatCommandArgv(&cmd, argc, argv, lens);
    CHECK(n > 0);
    side_write(s, cmd, (size_t)n);
    free(cmd);
}

static int reply_is(const redisReply *r, const char *s)
{
    return r && r->type == REDIS_REPLY_STRING && r->len == strlen(s) &&
           memcmp(r->str, s, r->len) == 0;
}

static struct auth_transcript transcript(const char *dn, const char *an)
{
    struct auth_transcript t = {
        .dialer_nonce = dn,
        .dialer_nonce_len = strlen(dn),
        .acceptor_nonce = an,
        .acceptor_nonce_len = strlen(an),
        .dialer = DIALER,
        .dialer_len = strlen(DIALER),
        .acceptor = ACCEPTOR,
        .acceptor_len = strlen(ACCEPTOR),
    };
    return t;
}

static void fresh_nonce(char *out)
{
    CHECK(auth_nonce(out) == 0);
}

/* ---- the acceptor's handlers -------------------------------------------- */

static void check_caller(struct harness *h, struct peer_call *call, int argc,
                         const struct dyn_arg *argv)
{
    CHECK(h->may_handle);
    CHECK(argc >= 1);
    CHECK(peer_call_alive(call));
    for (int i = 0; i < argc; i++)
        CHECK(argv[i].p != NULL);
    if (!h->insecure)
        CHECK(strcmp(peer_call_peer_name(call), DIALER) == 0);
    h->out->in_handled++;
}

static void h_echo(void *ctx, struct peer_call *call, int argc,
                   const struct dyn_arg *argv)
{
    check_caller(ctx, call, argc, argv);
    if (argc < 2)
        peer_call_reply_error(call, "ERR wrong number of arguments");
    else
        peer_call_reply_bulk(call, argv[1].p, argv[1].len);
}

static void h_int(void *ctx, struct peer_call *call, int argc,
                  const struct dyn_arg *argv)
{
    check_caller(ctx, call, argc, argv);
    peer_call_reply_int(call, (long long)peer_call_id(call));
}

static void h_nil(void *ctx, struct peer_call *call, int argc,
                  const struct dyn_arg *argv)
{
    check_caller(ctx, call, argc, argv);
    peer_call_reply_null(call);
}

static void h_ping(void *ctx, struct peer_call *call, int argc,
                   const struct dyn_arg *argv)
{
    check_caller(ctx, call, argc, argv);
    peer_call_reply_ok(call);
}

static void h_later(void *ctx, struct peer_call *call, int argc,
                    const struct dyn_arg *argv)
{
    struct harness *h = ctx;
    check_caller(h, call, argc, argv);
    if (h->nheld == MAX_HELD) {
        peer_call_reply_error(call, "ERR too many held");
        return;
    }
    h->held[h->nheld++] = call;
}

static void h_syncfail(void *ctx, struct peer_call *call, int argc,
                       const struct dyn_arg *argv)
{
    struct harness *h = ctx;
    check_caller(h, call, argc, argv);
    h->sync_fail = 1;
    peer_call_reply_ok(call);
}

static int batch_end(void *ctx)
{
    struct harness *h = ctx;
    int fail = h->sync_fail;
    h->sync_fail = 0;
    return fail ? -1 : 0;
}

/* Answers the held calls, oldest last (replies still leave in order). */
static void answer_held(struct harness *h)
{
    while (h->nheld > 0) {
        struct peer_call *call = h->held[--h->nheld];
        peer_call_reply_bulk(call, "late", 4);
    }
}

static const struct peer_command commands[] = {
    {"ECHO", h_echo, 0},
    {"INT", h_int, 0},
    {"NIL", h_nil, 0},
    {"PING", h_ping, 0},
    {"LATER", h_later, 0},
    {"SYNCFAIL", h_syncfail, 0},
    {"REVIVE", h_ping, PEER_CMD_UNFILTERED},
};

/* ---- the dialer's callbacks --------------------------------------------- */

static void check_value(const struct peer_value *v, int depth)
{
    CHECK(depth < 16);
    switch (v->type) {
    case PEER_V_STRING:
    case PEER_V_STATUS:
    case PEER_V_ERROR:
        CHECK(v->str != NULL && v->str[v->len] == '\0');
        break;
    case PEER_V_ARRAY:
        CHECK(v->n == 0 || v->elem != NULL);
        for (size_t i = 0; i < v->n; i++)
            check_value(&v->elem[i], depth + 1);
        break;
    case PEER_V_INT:
    case PEER_V_NIL:
        break;
    default:
        CHECK(!"unknown peer_value type");
    }
}

static void on_reply(void *ctx, int err, const struct peer_value *v)
{
    struct req *q = ctx;
    struct harness *h = q->h;
    CHECK(q->calls == 0);       /* exactly once */
    q->calls++;
    if (err == 0 || err == DYN_EPROTO) {
        CHECK(v != NULL);
        CHECK((err == DYN_EPROTO) == (v->type == PEER_V_ERROR));
        check_value(v, 0);
        peer_value_free(peer_value_dup(v));
        h->out->out_answered++;
    } else {
        CHECK(err == DYN_EIO || err == DYN_EAGAIN);
        CHECK(v == NULL);
        h->out->out_failed++;
    }
}

static void on_link(void *ctx, int peer_id, int up)
{
    struct harness *h = ctx;
    h->linked = up;
    if (up)
        h->out->out_up = 1;
}

static void send_request(struct harness *h, struct peer_bus *bus, int id)
{
    static const char *names[] = {"ECHO", "GET", "LATER", "PING"};
    if (h->nreqs == MAX_REQS)
        return;
    struct req *q = &h->reqs[h->nreqs++];
    q->h = h;
    q->calls = 0;
    struct dyn_arg argv[2] = {
        {names[h->nreqs % 4], strlen(names[h->nreqs % 4])},
        {"key", 3},
    };
    CHECK(peer_request(bus, id, 2, argv, on_reply, q, NULL) == 0);
    h->out->out_sent++;
}

/* ---- one direction each ------------------------------------------------- */

struct input {
    int valid, insecure, killed, tiny, mode, eager;
    uint32_t seed;
    int nreq;
    const uint8_t *p;
    size_t n;
};

static void bus_opts(const struct input *in, const char *self,
                     struct peer_bus_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->self_name = self;
    o->secret = SECRET;
    o->secret_len = strlen(SECRET);
    o->insecure = in->insecure;
    o->max_message = in->tiny ? 300 : 0;
    /* no timer may fire in a run, however slow the machine: what an input
     * does must not depend on time */
    o->connect_timeout_ms = NO_TIMEOUT_MS;
    o->auth_timeout_ms = NO_TIMEOUT_MS;
    o->dead_link_ms = NO_TIMEOUT_MS;
}

static void run_incoming(const struct input *in, struct fuzz_peer_outcome *out)
{
    struct harness h = {.out = out, .insecure = in->insecure};
    struct peer_handlers hd = {
        .commands = commands,
        .ncommands = sizeof(commands) / sizeof(commands[0]),
        .batch_end = batch_end,
    };
    struct peer_bus_opts o;
    struct peer_bus *bus = NULL;
    struct event_base *base = event_base_new();
    int sv[2];
    struct side s;
    CHECK(base);
    bus_opts(in, ACCEPTOR, &o);
    CHECK(peer_bus_new(base, &o, &hd, &h, &bus) == 0);
    peer_bus_set_killed(bus, in->killed);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                     sv) == 0);
    CHECK(peer_bus_adopt_fd(bus, sv[0]) == 0);
    side_open(&s, base, sv[1]);
    h.may_handle = in->insecure;    /* the input may say HELLO itself */

    if (in->valid) {
        char dn[AUTH_NONCE_HEX + 1], an[AUTH_NONCE_HEX + 1];
        fresh_nonce(dn);
        const char *hello[] = {"PEER.HELLO", DIALER, dn};
        side_command(&s, 3, hello);
        redisReply *r = side_await(&s);
        CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == 2);
        CHECK(reply_is(r->element[0], ACCEPTOR));
        CHECK(r->element[1]->type == REDIS_REPLY_STRING);
        CHECK(r->element[1]->len == (in->insecure ? 0 : AUTH_NONCE_HEX));
        memcpy(an, r->element[1]->str, r->element[1]->len);
        an[r->element[1]->len] = 0;
        freeReplyObject(r);
        h.may_handle = 1;
        if (!in->insecure) {
            struct auth_transcript t = transcript(dn, an);
            char proof[AUTH_MAC_HEX + 1];
            CHECK(auth_proof(SECRET, strlen(SECRET), AUTH_DIALER, &t,
                             proof) == 0);
            const char *auth[] = {"PEER.AUTH", proof};
            side_command(&s, 2, auth);
            r = side_await(&s);
            CHECK(r && r->type == REDIS_REPLY_STRING);
            CHECK(auth_check(SECRET, strlen(SECRET), AUTH_ACCEPTOR, &t,
                             r->str, r->len));
            freeReplyObject(r);
        }
        out->in_authenticated = 1;
    }

    uint32_t rng = in->seed;
    size_t at = 0;
    while (at < in->n && !s.eof) {
        size_t c = next_chunk(&rng, in->mode, in->n - at);
        side_write(&s, in->p + at, c);
        at += c;
        pump(&s);
        if (in->eager) {
            answer_held(&h);
            pump(&s);
        }
        out->in_values += side_take_all(&s);
    }
    pump(&s);
    answer_held(&h);
    pump(&s);
    out->in_values += side_take_all(&s);
    out->in_closed = s.eof;
    peer_bus_free(bus);
    answer_held(&h);    /* orphans now: peer_call_done frees them */
    side_close(&s);
    event_base_free(base);
}

static void run_outgoing(const struct input *in, struct fuzz_peer_outcome *out)
{
    struct harness h = {.out = out, .insecure = in->insecure};
    struct peer_handlers hd = {.on_link = on_link};
    struct peer_bus_opts o;
    struct peer_bus *bus = NULL;
    struct event_base *base = event_base_new();
    int sv[2];
    struct side s;
    CHECK(base);
    bus_opts(in, DIALER, &o);
    CHECK(peer_bus_new(base, &o, &hd, &h, &bus) == 0);
    /* never dialed: the hook gives the link its socket */
    int id = peer_add(bus, ACCEPTOR, "127.0.0.1", 9);
    CHECK(id >= 0);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                     sv) == 0);
    CHECK(peer_link_adopt_fd(bus, id, sv[0]) == 0);
    side_open(&s, base, sv[1]);

    redisReply *r = side_await(&s);
    CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == 3);
    CHECK(reply_is(r->element[0], "PEER.HELLO"));
    CHECK(reply_is(r->element[1], DIALER));
    CHECK(r->element[2]->type == REDIS_REPLY_STRING &&
          r->element[2]->len == AUTH_NONCE_HEX);
    char dn[AUTH_NONCE_HEX + 1], an[AUTH_NONCE_HEX + 1];
    memcpy(dn, r->element[2]->str, AUTH_NONCE_HEX);
    dn[AUTH_NONCE_HEX] = 0;
    freeReplyObject(r);

    if (in->valid) {
        char hello[256];
        if (in->insecure)
            an[0] = 0;
        else
            fresh_nonce(an);
        int n = snprintf(hello, sizeof(hello), "*2\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n",
                         strlen(ACCEPTOR), ACCEPTOR, strlen(an), an);
        side_write(&s, hello, (size_t)n);
        if (!in->insecure) {
            struct auth_transcript t = transcript(dn, an);
            char proof[AUTH_MAC_HEX + 1];
            r = side_await(&s);
            CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == 2);
            CHECK(reply_is(r->element[0], "PEER.AUTH"));
            CHECK(auth_check(SECRET, strlen(SECRET), AUTH_DIALER, &t,
                             r->element[1]->str, r->element[1]->len));
            freeReplyObject(r);
            CHECK(auth_proof(SECRET, strlen(SECRET), AUTH_ACCEPTOR, &t,
                             proof) == 0);
            n = snprintf(hello, sizeof(hello), "$%d\r\n%s\r\n", AUTH_MAC_HEX,
                         proof);
            side_write(&s, hello, (size_t)n);
        }
        pump(&s);
        CHECK(h.linked && peer_is_connected(bus, id));
        for (int i = 0; i < in->nreq; i++)
            send_request(&h, bus, id);
        pump(&s);
    }

    uint32_t rng = in->seed;
    size_t at = 0;
    while (at < in->n && !s.eof) {
        size_t c = next_chunk(&rng, in->mode, in->n - at);
        side_write(&s, in->p + at, c);
        at += c;
        pump(&s);
        if (h.linked)
            send_request(&h, bus, id);
        pump(&s);
        side_take_all(&s);  /* the dialer's requests, well-formed */
    }
    pump(&s);
    side_take_all(&s);
    /* without the secret no link comes up: the input cannot hold a proof
     * over the dialer's fresh nonce */
    CHECK(out->out_up == 0 || in->valid || in->insecure);
    out->out_closed = s.eof;
    peer_bus_free(bus);     /* fails what is outstanding, at once */
    for (int i = 0; i < h.nreqs; i++)
        CHECK(h.reqs[i].calls == 1);
    side_close(&s);
    event_base_free(base);
}

void fuzz_peer_run(const uint8_t *data, size_t size,
                   struct fuzz_peer_outcome *out)
{
    memset(out, 0, sizeof(*out));
    if (size < 3)
        return;
    struct input in = {
        .valid = data[0] & 1,
        .insecure = (data[0] >> 1) & 1,
        .killed = (data[0] >> 2) & 1,
        .tiny = (data[0] >> 3) & 1,
        .mode = (data[0] >> 4) & 7,
        .eager = (data[0] >> 7) & 1,
        .seed = data[1],
        .nreq = data[2] & 7,
        .p = data + 3,
        .n = size - 3,
    };
    run_incoming(&in, out);
    run_outgoing(&in, out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_peer_outcome out;
    fuzz_peer_run(data, size, &out);
    return 0;
}
