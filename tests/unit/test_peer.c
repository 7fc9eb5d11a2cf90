/*
 * test_peer.c -- the peer bus over real loopback sockets.
 *
 * Two or three buses live in one process on one event_base, which the tests
 * drive with event_base_loop(EVLOOP_ONCE) until a condition holds or a
 * deadline passes (a 5 ms ticker keeps the loop from blocking forever; no
 * test sleeps).  Raw sockets play a peer that does not know the secret.
 * Ports 7850-7899.
 */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <fcntl.h>

#include <event2/event.h>

#include "cluster/auth.h"
#include "cluster/peer.h"
#include "server/reply.h"
#include "server/util.h"

#define SECRET "0123456789abcdef-cluster-secret"

/* ---- fixture ---------------------------------------------------------- */

struct node_ctx {
    const char *name;
    struct peer_bus *bus;
    int handled;                /* handler invocations */
    struct peer_call *held[64]; /* HOLD calls, answered by the test */
    int nheld;
    int links_up, links_down;
    int sent, replies;
    char last_caller[PEER_NAME_MAX];
    int last_caller_id;
};

static void h_echo(void *ctx, struct peer_call *call, int argc,
                   const struct dyn_arg *argv)
{
    struct node_ctx *n = ctx;
    n->handled++;
    snprintf(n->last_caller, sizeof(n->last_caller), "%s",
             peer_call_peer_name(call));
    n->last_caller_id = peer_call_peer_id(call);
    if (argc < 2) {
        peer_call_reply_error(call, "ERR wrong number of arguments");
        return;
    }
    peer_call_reply_bulk(call, argv[1].p, argv[1].len);
}

static void h_who(void *ctx, struct peer_call *call, int argc,
                  const struct dyn_arg *argv)
{
    struct node_ctx *n = ctx;
    char buf[160];
    n->handled++;
    snprintf(buf, sizeof(buf), "%s<-%s", n->name, peer_call_peer_name(call));
    peer_call_reply_bulk(call, buf, strlen(buf));
}

static void h_id(void *ctx, struct peer_call *call, int argc,
                 const struct dyn_arg *argv)
{
    struct node_ctx *n = ctx;
    n->handled++;
    peer_call_reply_int(call, (long long)peer_call_id(call));
}

/* HOLD tag: answered later by the test with "held:<tag>" */
static void h_hold(void *ctx, struct peer_call *call, int argc,
                   const struct dyn_arg *argv)
{
    struct node_ctx *n = ctx;
    n->handled++;
    ck_assert_int_lt(n->nheld, 64);
    n->held[n->nheld++] = call;
}

static void answer_held(struct node_ctx *n, int i, const char *text)
{
    peer_call_reply_bulk(n->held[i], text, strlen(text));
    n->held[i] = NULL;
}

/* BIG n: a bulk of n bytes */
static void h_big(void *ctx, struct peer_call *call, int argc,
                  const struct dyn_arg *argv)
{
    struct node_ctx *n = ctx;
    long long len = 0;
    n->handled++;
    dyn_str2ll(argv[1].p, argv[1].len, &len);
    char *p = dyn_malloc((size_t)len);
    memset(p, 'x', (size_t)len);
    peer_call_reply_bulk(call, p, (size_t)len);
    dyn_free(p);
}

/* PAIR: a nested reply [int, [bulk, nil]] */
static void h_pair(void *ctx, struct peer_call *call, int argc,
                   const struct dyn_arg *argv)
{
    struct node_ctx *n = ctx;
    n->handled++;
    struct dbuf *b = peer_call_buf(call);
    reply_array(b, 2);
    reply_int(b, 42);
    reply_array(b, 2);
    reply_bulk(b, "in", 2);
    reply_null(b, 2);
    peer_call_done(call);
}

static const struct peer_command commands[] = {
    {"ECHO", h_echo, 0}, {"WHO", h_who, 0}, {"ID", h_id, 0},
    {"HOLD", h_hold, 0}, {"BIG", h_big, 0}, {"PAIR", h_pair, 0},
};

static void on_sent(void *ctx, int peer_id, uint64_t now_ms)
{
    ((struct node_ctx *)ctx)->sent++;
}

static void on_reply(void *ctx, int peer_id, uint64_t now_ms)
{
    ((struct node_ctx *)ctx)->replies++;
}

static void on_link(void *ctx, int peer_id, int up)
{
    struct node_ctx *n = ctx;
    if (up)
        n->links_up++;
    else
        n->links_down++;
}

static const struct peer_handlers handlers = {
    .commands = commands,
    .ncommands = sizeof(commands) / sizeof(commands[0]),
    .on_message = NULL,
    .on_sent = on_sent,
    .on_reply = on_reply,
    .on_link = on_link,
};

struct bus_cfg {
    const char *secret;
    int insecure;
    size_t max_message;
    uint64_t dead_link_ms;
    uint64_t auth_timeout_ms;
    int tls;
    const char *bind_host;      /* NULL: 127.0.0.1 */
};

static struct peer_bus *mkbus(struct event_base *base, struct node_ctx *n,
                              const char *name, int port,
                              const struct bus_cfg *cfg)
{
    struct peer_bus_opts o = {
        .self_name = name,
        .bind_host = cfg && cfg->bind_host ? cfg->bind_host : "127.0.0.1",
        .port = port,
        .secret = cfg && cfg->secret ? cfg->secret : SECRET,
        .secret_len = strlen(cfg && cfg->secret ? cfg->secret : SECRET),
        .insecure = cfg ? cfg->insecure : 0,
        .max_message = cfg ? cfg->max_message : 0,
        .connect_timeout_ms = 1000,
        .dead_link_ms = cfg && cfg->dead_link_ms ? cfg->dead_link_ms : 3000,
        .auth_timeout_ms = cfg ? cfg->auth_timeout_ms : 0,
        .tls = cfg ? cfg->tls : 0,
    };
    struct peer_bus *bus = NULL;
    memset(n, 0, sizeof(*n));
    n->name = name;
    ck_assert_int_eq(peer_bus_new(base, &o, &handlers, n, &bus), 0);
    ck_assert_ptr_nonnull(bus);
    n->bus = bus;
    return bus;
}

static uint64_t now_ms(void)
{
    return dyn_mono_us() / 1000;
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
}

struct world {
    struct event_base *base;
    struct event *ticker;
};

static void world_init(struct world *w)
{
    struct timeval tv = {0, 5000};
    w->base = event_base_new();
    ck_assert_ptr_nonnull(w->base);
    w->ticker = event_new(w->base, -1, EV_PERSIST, tick, NULL);
    event_add(w->ticker, &tv);
}

static void world_free(struct world *w)
{
    event_free(w->ticker);
    event_base_free(w->base);
}

/* Steps the loop until cond holds or ms pass; evaluates to cond. */
#define RUN_UNTIL(w, cond, ms)                                               \
    ({                                                                       \
        uint64_t dl_ = now_ms() + (ms);                                      \
        while (!(cond) && now_ms() < dl_)                                    \
            event_base_loop((w)->base, EVLOOP_ONCE);                         \
        (cond);                                                              \
    })

/* Steps the loop for ms whatever happens. */
static void run_for(struct world *w, uint64_t ms)
{
    uint64_t dl = now_ms() + ms;
    while (now_ms() < dl)
        event_base_loop(w->base, EVLOOP_ONCE);
}

/* ---- requests --------------------------------------------------------- */

struct req {
    int calls;
    int err;
    int type;
    long long integer;
    char str[256];
    size_t len;
    size_t n;
    int order;
    int *seq;
    uint64_t id;
};

static void on_done(void *ctx, int err, const struct peer_value *v)
{
    struct req *r = ctx;
    r->calls++;
    r->err = err;
    r->order = r->seq ? (*r->seq)++ : 0;
    if (v) {
        r->type = v->type;
        r->integer = v->integer;
        r->n = v->n;
        r->len = v->len;
        if (v->str)
            snprintf(r->str, sizeof(r->str), "%.*s", (int)v->len, v->str);
    }
}

static int send1(struct peer_bus *bus, int peer, struct req *r,
                 const char *cmd, const char *arg)
{
    struct dyn_arg argv[2] = {{cmd, strlen(cmd)}, {arg, arg ? strlen(arg) : 0}};
    memset(r, 0, sizeof(*r));
    return peer_request(bus, peer, arg ? 2 : 1, argv, on_done, r, &r->id);
}

/* Adds each bus to the other and waits for both links. */
static void connect_pair(struct world *w, struct node_ctx *a, int aport,
                         struct node_ctx *b, int bport, int *ab, int *ba)
{
    *ab = peer_add(a->bus, b->name, "127.0.0.1", bport);
    *ba = peer_add(b->bus, a->name, "127.0.0.1", aport);
    ck_assert_int_ge(*ab, 0);
    ck_assert_int_ge(*ba, 0);
    ck_assert(RUN_UNTIL(w, peer_is_connected(a->bus, *ab) &&
                               peer_is_connected(b->bus, *ba), 3000));
}

static struct peer_bus_stats stats(struct peer_bus *bus)
{
    struct peer_bus_stats s;
    peer_bus_get_stats(bus, &s);
    return s;
}

/* ---- raw sockets ------------------------------------------------------ */

static int raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static void raw_send(int fd, const char *s, size_t n)
{
    ck_assert_int_eq(write(fd, s, n), (ssize_t)n);
}

/* Reads what is there; returns 0 at EOF (or reset), 1 otherwise. */
static int raw_pump(int fd, struct dbuf *in)
{
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n > 0) {
        dbuf_append(in, buf, (size_t)n);
        return 1;
    }
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
        return 0;
    return 1;
}

static int has(const struct dbuf *in, const char *needle)
{
    return in->len && memmem(in->p, in->len, needle, strlen(needle)) != NULL;
}

static int count_crlf(const struct dbuf *in)
{
    int k = 0;
    for (size_t i = 0; i + 1 < in->len; i++)
        if (in->p[i] == '\r' && in->p[i + 1] == '\n')
            k++;
    return k;
}

static void raw_hello(struct dbuf *b, const char *name, const char *nonce)
{
    dbuf_printf(b, "*3\r\n$10\r\nPEER.HELLO\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n",
                strlen(name), name, strlen(nonce), nonce);
}

/* ---- tests ------------------------------------------------------------ */

START_TEST(request_reply_between_two_buses)
{
    struct world w;
    struct node_ctx a, b;
    int ab, ba;
    world_init(&w);
    mkbus(w.base, &a, "a", 7850, NULL);
    mkbus(w.base, &b, "b", 7851, NULL);
    ck_assert_int_eq(peer_bus_port(b.bus), 7851);
    connect_pair(&w, &a, 7850, &b, 7851, &ab, &ba);
    ck_assert_int_eq(a.links_up, 1);
    ck_assert_int_eq(b.links_up, 1);

    struct req r1, r2, r3, r4;
    ck_assert_int_eq(send1(a.bus, ab, &r1, "ECHO", "hello"), 0);
    /* never inside peer_request */
    ck_assert_int_eq(r1.calls, 0);
    ck_assert_int_eq(send1(b.bus, ba, &r2, "WHO", NULL), 0);
    ck_assert_int_eq(send1(a.bus, ab, &r3, "NOSUCH", "x"), 0);
    ck_assert_int_eq(send1(a.bus, ab, &r4, "PAIR", NULL), 0);
    ck_assert(RUN_UNTIL(&w, r1.calls && r2.calls && r3.calls && r4.calls,
                        2000));
    ck_assert_int_eq(r1.err, 0);
    ck_assert_int_eq(r1.type, PEER_V_STRING);
    ck_assert_str_eq(r1.str, "hello");
    ck_assert_int_eq(r2.err, 0);
    ck_assert_str_eq(r2.str, "a<-b");
    ck_assert_int_eq(r3.err, DYN_EPROTO);
    ck_assert_int_eq(r3.type, PEER_V_ERROR);
    ck_assert_str_eq(r3.str, "ERR unknown peer command 'NOSUCH'");
    ck_assert_int_eq(r4.err, 0);
    ck_assert_int_eq(r4.type, PEER_V_ARRAY);
    ck_assert_uint_eq(r4.n, 2);
    /* the caller's authenticated name and its id in the acceptor's table */
    ck_assert_str_eq(b.last_caller, "a");
    ck_assert_int_eq(b.last_caller_id, ba);
    /* failure-detector hooks */
    ck_assert_int_eq(a.sent, 3);
    ck_assert_int_eq(a.replies, 3);
    ck_assert_int_eq(b.sent, 1);
    /* a second run gets no second callback */
    run_for(&w, 50);
    ck_assert_int_eq(r1.calls + r2.calls + r3.calls + r4.calls, 4);
    ck_assert_int_eq(peer_add(a.bus, "b", "127.0.0.1", 7851), DYN_EEXIST);
    ck_assert_int_eq(peer_find(a.bus, "b"), ab);
    ck_assert_int_eq(peer_request(a.bus, 99, 1,
                                  &(struct dyn_arg){"X", 1}, on_done, &r1,
                                  NULL), DYN_EINVAL);
    peer_bus_free(a.bus);
    peer_bus_free(b.bus);
    world_free(&w);
}
END_TEST

struct keep {
    struct peer_value **out;
    int calls;
};

static void keep_cb(void *ctx, int err, const struct peer_value *v)
{
    struct keep *kk = ctx;
    kk->calls++;
    ck_assert_int_eq(err, 0);
    *kk->out = peer_value_dup(v);
}

START_TEST(nested_reply_is_converted)
{
    struct world w;
    struct node_ctx a, b;
    int ab, ba;
    world_init(&w);
    mkbus(w.base, &a, "a", 7852, NULL);
    mkbus(w.base, &b, "b", 7853, NULL);
    connect_pair(&w, &a, 7852, &b, 7853, &ab, &ba);
    struct peer_value *kept = NULL;
    /* keep a deep copy past the callback */
    struct keep k = {&kept, 0};
    struct dyn_arg argv[1] = {{"PAIR", 4}};
    ck_assert_int_eq(peer_request(a.bus, ab, 1, argv, keep_cb, &k, NULL), 0);
    ck_assert(RUN_UNTIL(&w, k.calls == 1, 2000));
    ck_assert_int_eq(kept->type, PEER_V_ARRAY);
    ck_assert_uint_eq(kept->n, 2);
    ck_assert_int_eq(kept->elem[0].type, PEER_V_INT);
    ck_assert_int_eq(kept->elem[0].integer, 42);
    ck_assert_int_eq(kept->elem[1].type, PEER_V_ARRAY);
    ck_assert_int_eq(kept->elem[1].elem[0].type, PEER_V_STRING);
    ck_assert_str_eq(kept->elem[1].elem[0].str, "in");
    ck_assert_int_eq(kept->elem[1].elem[1].type, PEER_V_NIL);
    peer_value_free(kept);
    peer_value_free(NULL);
    peer_bus_free(a.bus);
    peer_bus_free(b.bus);
    world_free(&w);
}
END_TEST

START_TEST(no_secret_refused_unless_insecure)
{
    struct world w;
    struct node_ctx a, b;
    int ab, ba;
    world_init(&w);
    struct peer_bus *bus = NULL;
    struct peer_bus_opts o = {.self_name = "a", .bind_host = "127.0.0.1",
                              .port = 7854};
    ck_assert_int_eq(peer_bus_new(w.base, &o, &handlers, &a, &bus),
                     DYN_EINVAL);
    ck_assert_ptr_null(bus);
    o.secret = "";
    ck_assert_int_eq(peer_bus_new(w.base, &o, &handlers, &a, &bus),
                     DYN_EINVAL);
    /* cluster-insecure yes: names are still exchanged */
    struct bus_cfg insecure = {.insecure = 1};
    mkbus(w.base, &a, "a", 7854, &insecure);
    mkbus(w.base, &b, "b", 7855, &insecure);
    connect_pair(&w, &a, 7854, &b, 7855, &ab, &ba);
    struct req r;
    ck_assert_int_eq(send1(a.bus, ab, &r, "WHO", NULL), 0);
    ck_assert(RUN_UNTIL(&w, r.calls, 2000));
    ck_assert_str_eq(r.str, "b<-a");
    peer_bus_free(a.bus);
    peer_bus_free(b.bus);
    world_free(&w);
}
END_TEST

/* bind's words, as the node passes them: a listener on each, one port for
 * all (the kernel's pick with port 0), an optional address that is not on
 * this host skipped, a required one fatal. */
START_TEST(listens_on_every_bind_address)
{
    struct world w;
    struct node_ctx a, b, c;
    int ab, ba, ac, ca;
    world_init(&w);
    struct bus_cfg three = {.bind_host =
                                "127.0.0.1 127.0.0.41 -198.18.255.254"};
    mkbus(w.base, &a, "a", 0, &three);
    int pa = peer_bus_port(a.bus);
    ck_assert_int_gt(pa, 0);
    mkbus(w.base, &b, "b", 0, NULL);
    mkbus(w.base, &c, "c", 0, NULL);
    /* b reaches a at its second address, c at its first */
    ab = peer_add(a.bus, "b", "127.0.0.1", peer_bus_port(b.bus));
    ba = peer_add(b.bus, "a", "127.0.0.41", pa);
    ac = peer_add(a.bus, "c", "127.0.0.1", peer_bus_port(c.bus));
    ca = peer_add(c.bus, "a", "127.0.0.1", pa);
    ck_assert(RUN_UNTIL(&w, peer_is_connected(b.bus, ba) &&
                                peer_is_connected(c.bus, ca) &&
                                peer_is_connected(a.bus, ab) &&
                                peer_is_connected(a.bus, ac), 3000));
    struct req r1, r2;
    ck_assert_int_eq(send1(b.bus, ba, &r1, "WHO", NULL), 0);
    ck_assert_int_eq(send1(c.bus, ca, &r2, "WHO", NULL), 0);
    ck_assert(RUN_UNTIL(&w, r1.calls && r2.calls, 2000));
    ck_assert_str_eq(r1.str, "a<-b");
    ck_assert_str_eq(r2.str, "a<-c");
    peer_bus_free(a.bus);
    peer_bus_free(b.bus);
    peer_bus_free(c.bus);

    struct peer_bus *bus = NULL;
    struct peer_bus_opts o = {.self_name = "d", .port = 0,
                              .secret = SECRET, .secret_len = strlen(SECRET)};
    o.bind_host = "127.0.0.1 198.18.255.254";   /* required, not here */
    ck_assert_int_eq(peer_bus_new(w.base, &o, &handlers, &a, &bus), DYN_EIO);
    ck_assert_ptr_null(bus);
    o.bind_host = "-198.18.255.254";            /* nowhere to listen */
    ck_assert_int_eq(peer_bus_new(w.base, &o, &handlers, &a, &bus), DYN_EIO);
    ck_assert_ptr_null(bus);
    world_free(&w);
}
END_TEST

START_TEST(pipelined_10k_answered_in_order)
{
    enum { N = 10000 };
    struct world w;
    struct node_ctx a, b;
    int ab, ba, seq = 0;
    world_init(&w);
    mkbus(w.base, &a, "a", 7856, NULL);
    mkbus(w.base, &b, "b", 7857, NULL);
    connect_pair(&w, &a, 7856, &b, 7857, &ab, &ba);
    struct req *r = dyn_calloc(N, sizeof(*r));
    int done = 0;
    for (int i = 0; i < N; i++) {
        struct dyn_arg argv[1] = {{"ID", 2}};
        r[i].seq = &seq;
        ck_assert_int_eq(
            peer_request(a.bus, ab, 1, argv, on_done, &r[i], &r[i].id), 0);
    }
    ck_assert(RUN_UNTIL(&w, seq == N, 10000));
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(r[i].calls, 1);
        ck_assert_int_eq(r[i].err, 0);
        ck_assert_int_eq(r[i].order, i);
        ck_assert_int_eq(r[i].type, PEER_V_INT);
        ck_assert_uint_eq((uint64_t)r[i].integer, r[i].id);
        if (i)
            ck_assert_uint_gt(r[i].id, r[i - 1].id);
        done++;
    }
    ck_assert_int_eq(done, N);
    ck_assert_int_eq(b.handled, N);
    struct peer_bus_stats sa = stats(a.bus), sb = stats(b.bus);
    ck_assert_uint_eq(sa.requests_sent, N);
    ck_assert_uint_eq(sa.replies_received, N);
    ck_assert_uint_eq(sb.requests_received, N);
    fprintf(stderr, "10k pipelined: link writes %llu, acceptor writes %llu\n",
            (unsigned long long)sa.link_writes,
            (unsigned long long)sb.conn_writes);
    dyn_free(r);
    peer_bus_free(a.bus);
    peer_bus_free(b.bus);
    world_free(&w);
}
END_TEST

START_TEST(late_answers_keep_request_order)
{
    struct world w;
    struct node_ctx a, b;
    int ab, ba, seq = 0;
    world_init(&w);
    mkbus(w.base, &a, "a", 7858, NULL);
    mkbus(w.base, &b, "b", 7859, NULL);
    connect_pair(&w, &a, 7858, &b, 7859, &ab, &ba);
    struct req r[4];
    ck_assert_int_eq(send1(a.bus, ab, &r[0], "HOLD", "1"), 0);
    ck_assert_int_eq(send1(a.bus, ab, &r[1], "ECHO", "two"), 0);
    ck_assert_int_eq(send1(a.bus, ab, &r[2], "HOLD", "3"), 0);
    ck_assert_int_eq(send1(a.bus, ab, &r[3], "ECHO", "four"), 0);
    for (int i = 0; i < 4; i++)
        r[i].seq = &seq;
    ck_assert(RUN_UNTIL(&w, b.handled == 4, 2000));
    ck_assert_int_eq(b.nheld, 2);
    run_for(&w, 30);
    ck_assert_int_eq(seq, 0); /* "two" is ready but waits behind 1 */
    answer_held(&b, 1, "held:3");   /* the later one finishes first */
    run_for(&w, 30);
    ck_assert_int_eq(seq, 0);
    answer_held(&b, 0, "held:1");
    ck_assert(RUN_UNTIL(&w, seq == 4, 2000));
    ck_assert_str_eq(r[0].str, "held:1");
    ck_assert_str_eq(r[1].str, "two");
    ck_assert_str_eq(r[2].str, "held:3");
    ck_assert_str_eq(r[3].str, "four");
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(r[i].order, i);
        ck_assert_int_eq(r[i].calls, 1);
    }
    peer_bus_free(a.bus);
    peer_bus_free(b.bus);
    world_free(&w);
}
END_TEST

START_TEST(wrong_secret_reaches_no_handler)
{
    struct world w;
    struct node_ctx a, b;
    world_init(&w);
    struct bus_cfg other = {.secret = "not-the-cluster-secret"};
    mkbus(w.base, &a, "a", 7860, &other);
    mkbus(w.base, &b, "b", 7861, NULL);
    int ab = peer_add(a.bus, "b", "127.0.0.1", 7861);
    int ba = peer_add(b.bus, "a", "127.0.0.1", 7860);
    /* each side refuses the other: the dialer checks the acceptor's MAC */
    ck_assert(RUN_UNTIL(&w, stats(a.bus).auth_failures >= 2 &&
                                stats(b.bus).auth_failures >= 2, 3000));
    ck_assert(!peer_is_connected(a.bus, ab));
    ck_assert(!peer_is_connected(b.bus, ba));
    struct req r;
    ck_assert_int_eq(send1(a.bus, ab, &r, "ECHO", "x"), 0);
    ck_assert_int_eq(r.calls, 0);
    ck_assert(RUN_UNTIL(&w, r.calls, 1000));
    ck_assert_int_eq(r.err, DYN_EIO);
    run_for(&w, 50);
    ck_assert_int_eq(r.calls, 1);
    ck_assert_int_eq(a.handled + b.handled, 0);
    ck_assert_int_eq(a.links_up + b.links_up, 0);
    peer_bus_free(a.bus);
    peer_bus_free(b.bus);
    world_free(&w);
}
END_TEST

START_TEST(unauthenticated_socket_gets_noauth)
{
    struct world w;
    struct node_ctx b;
    world_init(&w);
    mkbus(w.base, &b, "b", 7862, NULL);
    struct dbuf out, in;
    dbuf_init(&out);
    dbuf_init(&in);

    /* 1: HELLO, then a well-formed internal command without PEER.AUTH */
    int fd = raw_connect(7862);
    char nonce[AUTH_NONCE_HEX + 1];
    ck_assert_int_eq(auth_nonce(nonce), 0);
    raw_hello(&out, "a", nonce);
    dbuf_appends(&out, "*3\r\n$4\r\nECHO\r\n$1\r\n7\r\n$5\r\nhello\r\n");
    raw_send(fd, out.p, out.len);
    int open = 1;
    ck_assert(RUN_UNTIL(&w, !(open = raw_pump(fd, &in)), 2000));
    ck_assert(has(&in, "-NOAUTH peer not authenticated\r\n"));
    /* the challenge: a name and a nonce, and no proof of anything yet */
    ck_assert(has(&in, "*2\r\n$1\r\nb\r\n$64\r\n"));
    ck_assert(!has(&in, "hello"));
    close(fd);

    /* 2: an internal command straight away */
    dbuf_reset(&out);
    dbuf_reset(&in);
    fd = raw_connect(7862);
    dbuf_appends(&out, "*3\r\n$4\r\nECHO\r\n$1\r\n7\r\n$5\r\nhello\r\n");
    raw_send(fd, out.p, out.len);
    ck_assert(RUN_UNTIL(&w, !(open = raw_pump(fd, &in)), 2000));
    ck_assert_int_eq((int)in.len, 32);
    ck_assert(has(&in, "-NOAUTH peer not authenticated\r\n"));
    close(fd);

    /* 3: HELLO, then a wrong PEER.AUTH: refused, counted, closed */
    dbuf_reset(&out);
    dbuf_reset(&in);
    fd = raw_connect(7862);
    raw_hello(&out, "a", nonce);
    raw_send(fd, out.p, out.len);
    ck_assert(RUN_UNTIL(&w, (raw_pump(fd, &in), count_crlf(&in) >= 5),
                        2000));
    dbuf_reset(&out);
    dbuf_printf(&out, "*2\r\n$9\r\nPEER.AUTH\r\n$64\r\n%064d\r\n", 0);
    dbuf_appends(&out, "*3\r\n$4\r\nECHO\r\n$1\r\n8\r\n$5\r\nhello\r\n");
    raw_send(fd, out.p, out.len);
    ck_assert(RUN_UNTIL(&w, !(open = raw_pump(fd, &in)), 2000));
    ck_assert(has(&in, "-ERR peer authentication failed\r\n"));
    ck_assert(!has(&in, "hello"));
    ck_assert_uint_eq(stats(b.bus).auth_failures, 1);
    close(fd);

    /* 4: the same with the right proof works (the test knows the secret),
     * and only then does the acceptor prove itself */
    dbuf_reset(&out);
    dbuf_reset(&in);
    fd = raw_connect(7862);
    raw_hello(&out, "a", nonce);
    raw_send(fd, out.p, out.len);
    ck_assert(RUN_UNTIL(&w, (raw_pump(fd, &in), count_crlf(&in) >= 5),
                        2000));
    const char *np = memmem(in.p, in.len, "$64\r\n", 5);
    ck_assert_ptr_nonnull(np);
    char anonce[AUTH_NONCE_HEX + 1];
    memcpy(anonce, np + 5, AUTH_NONCE_HEX);
    anonce[AUTH_NONCE_HEX] = 0;
    struct auth_transcript t = {nonce, 64, anonce, 64, "a", 1, "b", 1};
    char mac[AUTH_MAC_HEX + 1], want[AUTH_MAC_HEX + 1];
    ck_assert_int_eq(auth_proof(SECRET, strlen(SECRET), AUTH_DIALER, &t,
                                mac), 0);
    ck_assert_int_eq(auth_proof(SECRET, strlen(SECRET), AUTH_ACCEPTOR, &t,
                                want), 0);
    ck_assert(!has(&in, want));
    dbuf_reset(&out);
    dbuf_reset(&in);
    dbuf_printf(&out, "*2\r\n$9\r\nPEER.AUTH\r\n$64\r\n%s\r\n", mac);
    dbuf_appends(&out, "*3\r\n$4\r\nECHO\r\n$1\r\n9\r\n$5\r\nhello\r\n");
    raw_send(fd, out.p, out.len);
    ck_assert(RUN_UNTIL(&w, (raw_pump(fd, &in), has(&in, "hello\r\n")),
                        2000));
    ck_assert(has(&in, want)); /* the acceptor proved itself */
    ck_assert(has(&in, "$64\r\n"));
    ck_assert(has(&in, "\r\n$5\r\nhello\r\n"));
    ck_assert_int_eq(b.handled, 1);
    close(fd);

    dbuf_free(&out);
    dbuf_free(&in);
    peer_bus_free(b.bus);
    world_free(&w);
}
END_TEST

/* The attack that passed the first handshake: ask n1 for a challenge
 * while claiming to be n2, then hand n1's nonce to n2 as if it were ours
 * and replay n2's answer to n1.  Now no node computes a proof for a
 * dialer that has not proven itself, so there is nothing to replay. */
static void read_hello_answer(struct world *w, int fd, const char *name,
                              char *nonce_out)
{
    struct dbuf in;
    dbuf_init(&in);
    ck_assert(RUN_UNTIL(w, (raw_pump(fd, &in), count_crlf(&in) >= 5), 2000));
    char want[128];
    snprintf(want, sizeof(want), "*2\r\n$%zu\r\n%s\r\n$64\r\n", strlen(name),
             name);
    /* exactly [name, nonce]: no third element, no proof */
    ck_assert_uint_eq(in.len, strlen(want) + 64 + 2);
    ck_assert_mem_eq(in.p, want, strlen(want));
    memcpy(nonce_out, in.p + strlen(want), 64);
    nonce_out[64] = 0;
    dbuf_free(&in);
}

START_TEST(reflected_challenge_gets_nothing)
{
    struct world w;
    struct node_ctx n1, n2;
    int ab, ba;
    world_init(&w);
    mkbus(w.base, &n1, "n1", 7870, NULL);
    mkbus(w.base, &n2, "n2", 7871, NULL);
    connect_pair(&w, &n1, 7870, &n2, 7871, &ab, &ba);
    struct dbuf out, in;
    dbuf_init(&out);
    dbuf_init(&in);
    char mine[AUTH_NONCE_HEX + 1], n1_nonce[65], n2_nonce[65], x_nonce[65];
    ck_assert_int_eq(auth_nonce(mine), 0);

    int to_n1 = raw_connect(7870);  /* 1: "I am n2" */
    raw_hello(&out, "n2", mine);
    raw_send(to_n1, out.p, out.len);
    read_hello_answer(&w, to_n1, "n1", n1_nonce);

    int to_n2 = raw_connect(7871);  /* 2: n1's nonce, reflected at n2 */
    dbuf_reset(&out);
    raw_hello(&out, "x", n1_nonce);
    raw_send(to_n2, out.p, out.len);
    read_hello_answer(&w, to_n2, "n2", n2_nonce);

    int to_self = raw_connect(7870);  /* and at n1 itself */
    dbuf_reset(&out);
    raw_hello(&out, "x", n1_nonce);
    raw_send(to_self, out.p, out.len);
    read_hello_answer(&w, to_self, "n1", x_nonce);

    /* 3: the only 64-hex strings the attacker holds, offered as proofs */
    const char *tries[] = {n2_nonce, x_nonce, n1_nonce, mine};
    uint64_t fails = stats(n1.bus).auth_failures;
    for (int i = 0; i < 4; i++) {
        int fd = raw_connect(7870);
        dbuf_reset(&out);
        dbuf_reset(&in);
        raw_hello(&out, "n2", mine);
        raw_send(fd, out.p, out.len);
        read_hello_answer(&w, fd, "n1", n1_nonce);
        dbuf_reset(&out);
        dbuf_printf(&out, "*2\r\n$9\r\nPEER.AUTH\r\n$64\r\n%s\r\n", tries[i]);
        dbuf_appends(&out, "*3\r\n$4\r\nECHO\r\n$1\r\n1\r\n$5\r\nwiped\r\n");
        raw_send(fd, out.p, out.len);
        ck_assert(RUN_UNTIL(&w, !raw_pump(fd, &in), 2000));
        ck_assert(has(&in, "-ERR peer authentication failed\r\n"));
        ck_assert(!has(&in, "wiped"));
        close(fd);
    }
    ck_assert_uint_eq(stats(n1.bus).auth_failures, fails + 4);
    ck_assert_int_eq(n1.handled + n2.handled, 0);
    close(to_n1);
    close(to_n2);
    close(to_self);
    dbuf_free(&out);
    dbuf_free(&in);
    peer_bus_free(n1.bus);
    peer_bus_free(n2.bus);
    world_free(&w);
}
END_TEST

START_TEST(own_name_refused_idle_handshakes_timed_out_and_capped)
{
    struct world w;
    struct node_ctx a, b;
    int ab, ba;
    world_init(&w);
    struct bus_cfg quick = {.auth_timeout_ms = 300};
    mkbus(w.base, &b, "b", 7873, &quick);
    struct dbuf out, in;
    dbuf_init(&out);
    dbuf_init(&in);
    char nonce[AUTH_NONCE_HEX + 1];
    ck_assert_int_eq(auth_nonce(nonce), 0);

    /* a dialer that claims to be the node it dials */
    int fd = raw_connect(7873);
    raw_hello(&out, "b", nonce);
    raw_send(fd, out.p, out.len);
    ck_assert(RUN_UNTIL(&w, !raw_pump(fd, &in), 2000));
    ck_assert(has(&in, "-ERR peer claims this node's own name\r\n"));
    ck_assert(!has(&in, "$64"));
    close(fd);

    /* a connection that never finishes its handshake is closed */
    fd = raw_connect(7873);
    dbuf_reset(&out);
    raw_hello(&out, "a", nonce);
    raw_send(fd, out.p, out.len);
    ck_assert(RUN_UNTIL(&w, !raw_pump(fd, &in), 5000));
    ck_assert_uint_eq(stats(b.bus).auth_timeouts, 1);
    close(fd);

    /* at most 64 unauthenticated connections are kept */
    int fds[70];
    for (int i = 0; i < 70; i++)
        fds[i] = raw_connect(7873);
    ck_assert(RUN_UNTIL(&w, stats(b.bus).unauth_refused >= 6, 2000));
    ck_assert_uint_eq(stats(b.bus).unauth_refused, 6);
    for (int i = 0; i < 70; i++)
        close(fds[i]);
    /* once they are gone (closed or timed out), a real peer links */
    mkbus(w.base, &a, "a", 7872, NULL);
    connect_pair(&w, &a, 7872, &b, 7873, &ab, &ba);
    ck_assert(peer_is_connected(a.bus, ab));
    dbuf_free(&out);
    dbuf_free(&in);
    peer_bus_free(a.bus);
    peer_bus_free(b.bus);
    world_free(&w);
}
END_TEST

/* tls-cluster: the same bus over TLS 1.3 with a PSK from the secret.
 * Large messages cross several TLS records both ways, a pipeline of many
 * requests keeps its order, a plain-text peer gets nowhere, and a TLS
 * peer with another secret fails the TLS handshake itself. */
START_TEST(tls_links_carry_requests_and_refuse_strangers)
{
    struct world w;
    struct node_ctx a, b, c;
    int ab, ba;
    world_init(&w);
    struct bus_cfg tls = {.tls = 1};
    mkbus(w.base, &a, "a", 7874, &tls);
    mkbus(w.base, &b, "b", 7875, &tls);
    connect_pair(&w, &a, 7874, &b, 7875, &ab, &ba);
    struct req r1, r2;
    ck_assert_int_eq(send1(a.bus, ab, &r1, "WHO", NULL), 0);
    ck_assert(RUN_UNTIL(&w, r1.calls, 2000));
    ck_assert_str_eq(r1.str, "b<-a");

    /* 3 MB each way: many records, partial writes, OpenSSL's buffering */
    size_t big = 3u << 20;
    char *blob = dyn_malloc(big + 1);
    for (size_t i = 0; i < big; i++)
        blob[i] = (char)('a' + i % 26);
    blob[big] = 0;
    ck_assert_int_eq(send1(a.bus, ab, &r2, "ECHO", blob), 0);
    ck_assert(RUN_UNTIL(&w, r2.calls, 10000));
    ck_assert_int_eq(r2.err, 0);
    ck_assert_uint_eq(r2.len, big);
    ck_assert(strncmp(r2.str, blob, 200) == 0);
    dyn_free(blob);

    /* 2000 requests in one turn come back in order */
    static struct req many[2000];
    int seq = 0;
    for (int i = 0; i < 2000; i++) {
        char arg[16];
        snprintf(arg, sizeof(arg), "%d", i);
        ck_assert_int_eq(send1(b.bus, ba, &many[i], "ECHO", arg), 0);
        many[i].seq = &seq;
    }
    ck_assert(RUN_UNTIL(&w, seq == 2000, 10000));
    for (int i = 0; i < 2000; i++) {
        char arg[16];
        snprintf(arg, sizeof(arg), "%d", i);
        ck_assert_str_eq(many[i].str, arg);
        ck_assert_int_eq(many[i].order, i);
    }

    /* plain text to a TLS port: no HELLO answer, the socket is closed */
    struct dbuf out, in;
    dbuf_init(&out);
    dbuf_init(&in);
    char nonce[AUTH_NONCE_HEX + 1];
    ck_assert_int_eq(auth_nonce(nonce), 0);
    int fd = raw_connect(7875);
    raw_hello(&out, "x", nonce);
    raw_send(fd, out.p, out.len);
    ck_assert(RUN_UNTIL(&w, !raw_pump(fd, &in), 3000));
    ck_assert(!has(&in, nonce));
    ck_assert(!has(&in, "$64"));
    close(fd);

    /* TLS with another secret: the PSKs differ, no link, no handler */
    int handled = a.handled + b.handled;
    struct bus_cfg other = {.tls = 1, .secret = "not-the-cluster-secret"};
    mkbus(w.base, &c, "c", 7876, &other);
    int cb = peer_add(c.bus, "b", "127.0.0.1", 7875);
    int bc = peer_add(b.bus, "c", "127.0.0.1", 7876);
    run_for(&w, 500);
    ck_assert(!peer_is_connected(c.bus, cb));
    ck_assert(!peer_is_connected(b.bus, bc));
    ck_assert_int_eq(c.links_up, 0);
    ck_assert_int_eq(a.handled + b.handled + c.handled, handled);
    dbuf_free(&out);
    dbuf_free(&in);
    peer_bus_free(a.bus);
    peer_bus_free(b.bus);
    peer_bus_free(c.bus);
    world_free(&w);
}
END_TEST

START_TEST(handshake_limits_and_hello_needs_a_nonce)
{
    struct world w;
    struct node_ctx b;
    world_init(&w);
    mkbus(w.base, &b, "b", 7863, NULL);
    struct dbuf in;
    dbuf_init(&in);
    /* more than 10 arguments before authentication: protocol error */
    int fd = raw_connect(7863);
    const char *many = "*11\r\n";
    raw_send(fd, many, strlen(many));
    int open = 1;
    ck_assert(RUN_UNTIL(&w, !(open = raw_pump(fd, &in)), 2000));
    ck_assert(has(&in, "-ERR Protocol error: unauthenticated multibulk"));
    close(fd);
    /* a HELLO with a short nonce */
    dbuf_reset(&in);
    fd = raw_connect(7863);
    const char *bad = "*3\r\n$10\r\nPEER.HELLO\r\n$1\r\na\r\n$2\r\nab\r\n";
    raw_send(fd, bad, strlen(bad));
    ck_assert(RUN_UNTIL(&w, !(open = raw_pump(fd, &in)), 2000));
    ck_assert(has(&in, "-ERR malformed PEER.HELLO"));
    close(fd);
    ck_assert_int_eq(b.handled, 0);
    dbuf_free(&in);
    peer_bus_free(b.bus);
    world_free(&w);
}
END_TEST

START_TEST(oversized_messages_rejected)
{
    struct world w;
    struct node_ctx a, b;
    int ab, ba;
    world_init(&w);
    struct bus_cfg big = {.max_message = 1 << 20};
    struct bus_cfg small = {.max_message = 4096};
    mkbus(w.base, &a, "a", 7864, &big);
    mkbus(w.base, &b, "b", 7865, &small);
    connect_pair(&w, &a, 7864, &b, 7865, &ab, &ba);
    char *blob = dyn_malloc(20001);
    memset(blob, 'y', 20000);
    blob[20000] = 0;

    /* our own limit: refused at once, no callback */
    struct req r;
    ck_assert_int_eq(send1(b.bus, ba, &r, "ECHO", blob), DYN_ELIMIT);
    run_for(&w, 20);
    ck_assert_int_eq(r.calls, 0);

    /* the acceptor's limit: the bulk is refused before it is buffered */
    ck_assert_int_eq(send1(a.bus, ab, &r, "ECHO", blob), 0);
    ck_assert(RUN_UNTIL(&w, r.calls, 2000));
    ck_assert(r.err == DYN_EPROTO || r.err == DYN_EIO);
    ck_assert_int_eq(b.handled, 0);
    ck_assert_uint_ge(stats(b.bus).oversized, 1);
    /* the link comes back */
    ck_assert(RUN_UNTIL(&w, peer_is_connected(a.bus, ab), 3000));

    /* a reply larger than the dialer's limit kills the link: DYN_EIO */
    struct req r2;
    ck_assert_int_eq(send1(b.bus, ba, &r2, "BIG", "10000"), 0);
    ck_assert(RUN_UNTIL(&w, r2.calls, 2000));
    ck_assert_int_eq(r2.err, DYN_EIO);
    ck_assert_int_eq(a.handled, 1);
    ck_assert_uint_ge(stats(b.bus).oversized, 2);
    ck_assert(RUN_UNTIL(&w, peer_is_connected(b.bus, ba), 3000));
    struct req r3;
    ck_assert_int_eq(send1(b.bus, ba, &r3, "BIG", "100"), 0);
    ck_assert(RUN_UNTIL(&w, r3.calls, 2000));
    ck_assert_int_eq(r3.err, 0);
    ck_assert_uint_eq(r3.len, 100);
    dyn_free(blob);
    peer_bus_free(a.bus);
    peer_bus_free(b.bus);
    world_free(&w);
}
END_TEST

START_TEST(lost_peer_fails_pending_once_then_reconnects)
{
    struct world w;
    struct node_ctx a, b;
    int ab, ba;
    world_init(&w);
    mkbus(w.base, &a, "a", 7866, NULL);
    mkbus(w.base, &b, "b", 7867, NULL);
    connect_pair(&w, &a, 7866, &b, 7867, &ab, &ba);
    struct req r[3];
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(send1(a.bus, ab, &r[i], "HOLD", "x"), 0);
    ck_assert(RUN_UNTIL(&w, b.nheld == 3, 2000));
    struct peer_call *orphans[3] = {b.held[0], b.held[1], b.held[2]};
    peer_bus_free(b.bus);   /* node b goes away */
    for (int i = 0; i < 3; i++) {
        ck_assert(!peer_call_alive(orphans[i]));
        peer_call_reply_ok(orphans[i]); /* frees the orphan */
    }
    ck_assert(RUN_UNTIL(&w, r[0].calls && r[1].calls && r[2].calls, 2000));
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(r[i].err, DYN_EIO);
    ck_assert_int_eq(a.links_down, 1);
    ck_assert(!peer_is_connected(a.bus, ab));
    /* a request now fails too, from the loop */
    struct req r4;
    ck_assert_int_eq(send1(a.bus, ab, &r4, "ECHO", "x"), 0);
    ck_assert_int_eq(r4.calls, 0);
    ck_assert(RUN_UNTIL(&w, r4.calls, 1000));
    ck_assert_int_eq(r4.err, DYN_EIO);
    run_for(&w, 300);   /* a few refused redials */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(r[i].calls, 1);
    ck_assert_int_eq(r4.calls, 1);

    /* b comes back on the same port: a redials and requests work */
    mkbus(w.base, &b, "b", 7867, NULL);
    ck_assert(RUN_UNTIL(&w, peer_is_connected(a.bus, ab), 6000));
    ck_assert_int_eq(a.links_up, 2);
    ck_assert_uint_ge(stats(a.bus).reconnects, 1);
    struct req r5;
    ck_assert_int_eq(send1(a.bus, ab, &r5, "ECHO", "back"), 0);
    ck_assert(RUN_UNTIL(&w, r5.calls, 2000));
    ck_assert_int_eq(r5.err, 0);
    ck_assert_str_eq(r5.str, "back");
    ck_assert_int_eq(b.last_caller_id, -1); /* b has no peer table yet */
    int ba2 = peer_add(b.bus, "a", "127.0.0.1", 7866);
    ck_assert_int_eq(send1(a.bus, ab, &r5, "ECHO", "again"), 0);
    ck_assert(RUN_UNTIL(&w, r5.calls, 2000));
    ck_assert_str_eq(b.last_caller, "a");
    ck_assert_int_eq(b.last_caller_id, ba2);
    peer_bus_free(a.bus);
    peer_bus_free(b.bus);
    world_free(&w);
}
END_TEST

START_TEST(requests_of_one_turn_leave_in_one_write)
{
    enum { N = 1000 };
    struct world w;
    struct node_ctx a, b;
    int ab, ba, seq = 0;
    world_init(&w);
    mkbus(w.base, &a, "a", 7868, NULL);
    mkbus(w.base, &b, "b", 7869, NULL);
    connect_pair(&w, &a, 7868, &b, 7869, &ab, &ba);
    struct req *r = dyn_calloc(N, sizeof(*r));
    struct peer_bus_stats a0 = stats(a.bus), b0 = stats(b.bus);
    for (int i = 0; i < N; i++) {
        struct dyn_arg argv[2] = {{"ECHO", 4}, {"payload", 7}};
        r[i].seq = &seq;
        ck_assert_int_eq(peer_request(a.bus, ab, 2, argv, on_done, &r[i],
                                      NULL), 0);
    }
    ck_assert(RUN_UNTIL(&w, seq == N, 5000));
    struct peer_bus_stats a1 = stats(a.bus), b1 = stats(b.bus);
    uint64_t lw = a1.link_writes - a0.link_writes;
    uint64_t cw = b1.conn_writes - b0.conn_writes;
    fprintf(stderr, "batching: %d requests, %llu link writes, %llu reply "
            "writes\n", N, (unsigned long long)lw, (unsigned long long)cw);
    ck_assert_uint_eq(a1.requests_sent - a0.requests_sent, N);
    ck_assert_uint_ge(lw, 1);
    ck_assert_uint_le(lw, 2);
    ck_assert_uint_le(cw, 20);  /* one per read callback */
    for (int i = 0; i < N; i++)
        ck_assert_str_eq(r[i].str, "payload");
    dyn_free(r);
    peer_bus_free(a.bus);
    peer_bus_free(b.bus);
    world_free(&w);
}
END_TEST

START_TEST(three_buses_full_mesh)
{
    struct world w;
    struct node_ctx n[3];
    const char *names[3] = {"n1", "n2", "n3"};
    int ports[3] = {7870, 7871, 7872};
    int id[3][3];
    world_init(&w);
    for (int i = 0; i < 3; i++)
        mkbus(w.base, &n[i], names[i], ports[i], NULL);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if (i != j)
                id[i][j] = peer_add(n[i].bus, names[j], "127.0.0.1",
                                    ports[j]);
    ck_assert(RUN_UNTIL(&w, n[0].links_up == 2 && n[1].links_up == 2 &&
                                n[2].links_up == 2, 3000));
    struct req r[3][3];
    memset(r, 0, sizeof(r));
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if (i != j)
                ck_assert_int_eq(send1(n[i].bus, id[i][j], &r[i][j], "WHO",
                                       NULL), 0);
    int all = 0;
    ck_assert(RUN_UNTIL(&w, ({
                            all = 1;
                            for (int i = 0; i < 3; i++)
                                for (int j = 0; j < 3; j++)
                                    if (i != j && !r[i][j].calls)
                                        all = 0;
                            all;
                        }), 3000));
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if (i != j) {
                char want[32];
                snprintf(want, sizeof(want), "%s<-%s", names[j], names[i]);
                ck_assert_str_eq(r[i][j].str, want);
            }
    /* removing a peer closes its link; requests to it are refused */
    ck_assert_int_eq(peer_remove(n[0].bus, id[0][1]), 0);
    ck_assert(!peer_is_connected(n[0].bus, id[0][1]));
    struct req x;
    ck_assert_int_eq(send1(n[0].bus, id[0][1], &x, "WHO", NULL), DYN_EINVAL);
    ck_assert_int_eq(peer_find(n[0].bus, "n2"), DYN_ENOTFOUND);
    run_for(&w, 50);
    ck_assert_int_eq(n[0].links_down, 0); /* no on_link for a removal */
    ck_assert_int_eq(send1(n[0].bus, id[0][2], &x, "WHO", NULL), 0);
    ck_assert(RUN_UNTIL(&w, x.calls, 2000));
    ck_assert_str_eq(x.str, "n3<-n1");
    for (int i = 0; i < 3; i++)
        peer_bus_free(n[i].bus);
    world_free(&w);
}
END_TEST

START_TEST(dropped_requests_look_like_silence)
{
    struct world w;
    struct node_ctx a, b;
    int ab, ba;
    world_init(&w);
    struct bus_cfg dl = {.dead_link_ms = 200};
    mkbus(w.base, &a, "a", 7873, &dl);
    mkbus(w.base, &b, "b", 7874, &dl);
    connect_pair(&w, &a, 7873, &b, 7874, &ab, &ba);

    /* drop_out on a: never sent */
    struct peer_fault f = {.drop_out = 1};
    ck_assert_int_eq(peer_set_fault(a.bus, ab, &f), 0);
    struct req r;
    uint64_t t0 = now_ms();
    ck_assert_int_eq(send1(a.bus, ab, &r, "ECHO", "x"), 0);
    ck_assert(RUN_UNTIL(&w, r.calls, 2000));
    ck_assert_int_eq(r.err, DYN_EAGAIN);
    ck_assert_uint_ge(now_ms() - t0, 190);
    ck_assert_int_eq(b.handled, 0);

    /* drop_in on b for a: not handled, silence at a, the link stays up */
    memset(&f, 0, sizeof(f));
    ck_assert_int_eq(peer_set_fault(a.bus, ab, &f), 0);
    f.drop_in = 1;
    ck_assert_int_eq(peer_set_fault(b.bus, ba, &f), 0);
    ck_assert_int_eq(send1(a.bus, ab, &r, "ECHO", "x"), 0);
    ck_assert(RUN_UNTIL(&w, r.calls, 2000));
    ck_assert_int_eq(r.err, DYN_EAGAIN);
    ck_assert_int_eq(b.handled, 0);
    ck_assert(peer_is_connected(a.bus, ab));
    ck_assert_int_eq(a.links_down, 0);

    /* delay: answered, but not before delay_ms */
    memset(&f, 0, sizeof(f));
    ck_assert_int_eq(peer_set_fault(b.bus, ba, &f), 0);
    f.delay_ms = 80;
    ck_assert_int_eq(peer_set_fault(a.bus, ab, &f), 0);
    struct req d1, d2;
    int seq = 0;
    t0 = now_ms();
    ck_assert_int_eq(send1(a.bus, ab, &d1, "ECHO", "d1"), 0);
    ck_assert_int_eq(send1(a.bus, ab, &d2, "ECHO", "d2"), 0);
    d1.seq = d2.seq = &seq;
    ck_assert(RUN_UNTIL(&w, d1.calls && d2.calls, 2000));
    ck_assert_uint_ge(now_ms() - t0, 75);
    ck_assert_str_eq(d1.str, "d1");
    ck_assert_str_eq(d2.str, "d2");
    ck_assert_int_lt(d1.order, d2.order);
    ck_assert_uint_eq(stats(a.bus).dropped, 1);
    ck_assert_uint_eq(stats(b.bus).dropped, 1);

    /* a long delay, then the fault cleared: what was held goes out now, in
     * order, not 100 s later */
    f.delay_ms = 100000;
    ck_assert_int_eq(peer_set_fault(a.bus, ab, &f), 0);
    struct req h1, h2;
    seq = 0;
    ck_assert_int_eq(send1(a.bus, ab, &h1, "ECHO", "h1"), 0);
    ck_assert_int_eq(send1(a.bus, ab, &h2, "ECHO", "h2"), 0);
    h1.seq = h2.seq = &seq;
    run_for(&w, 100);
    ck_assert_int_eq(h1.calls + h2.calls, 0);
    memset(&f, 0, sizeof(f));
    ck_assert_int_eq(peer_set_fault(a.bus, ab, &f), 0);
    ck_assert(RUN_UNTIL(&w, h1.calls && h2.calls, 3000));
    ck_assert_str_eq(h1.str, "h1");
    ck_assert_str_eq(h2.str, "h2");
    ck_assert_int_lt(h1.order, h2.order);
    peer_bus_free(a.bus);
    peer_bus_free(b.bus);
    world_free(&w);
}
END_TEST

START_TEST(overdue_reply_kills_the_link)
{
    struct world w;
    struct node_ctx a, b;
    int ab, ba;
    world_init(&w);
    struct bus_cfg dl = {.dead_link_ms = 150};
    mkbus(w.base, &a, "a", 7875, &dl);
    mkbus(w.base, &b, "b", 7876, &dl);
    connect_pair(&w, &a, 7875, &b, 7876, &ab, &ba);
    struct req r;
    ck_assert_int_eq(send1(a.bus, ab, &r, "HOLD", "x"), 0);
    ck_assert(RUN_UNTIL(&w, r.calls, 2000));
    ck_assert_int_eq(r.err, DYN_EIO);
    ck_assert_uint_eq(stats(a.bus).dead_links, 1);
    ck_assert_int_eq(a.links_down, 1);
    /* the held call on b is now an orphan; answering it is harmless */
    ck_assert(RUN_UNTIL(&w, !peer_call_alive(b.held[0]), 2000));
    answer_held(&b, 0, "late");
    ck_assert(RUN_UNTIL(&w, peer_is_connected(a.bus, ab), 3000));
    ck_assert_int_eq(send1(a.bus, ab, &r, "ECHO", "ok"), 0);
    ck_assert(RUN_UNTIL(&w, r.calls, 2000));
    ck_assert_str_eq(r.str, "ok");
    peer_bus_free(a.bus);
    peer_bus_free(b.bus);
    world_free(&w);
}
END_TEST

/* ---- the table of operations (peer_ops.c) ------------------------------ */

/* A bus that only records what reached it: peer.h's functions must reach
 * an implementation through its ops and nothing else. */
struct fake_bus {
    struct peer_bus pub;
    void *impl;             /* what bus_new received */
    char log[256];          /* one letter per operation, in order */
    int killed;
};

struct fake_call {
    struct peer_call pub;
    struct dbuf out;
    int done;
};

static void fake_log(const struct peer_bus *b, char op)
{
    struct fake_bus *f = (struct fake_bus *)b;
    size_t n = strlen(f->log);
    if (n + 1 < sizeof(f->log))
        f->log[n] = op;
}

static const struct peer_bus_ops fake_ops;

static int fake_new(void *impl, struct event_base *base,
                    const struct peer_bus_opts *opts,
                    const struct peer_handlers *h, void *ctx,
                    struct peer_bus **out)
{
    struct fake_bus *f = dyn_calloc(1, sizeof(*f));
    f->pub.ops = &fake_ops;
    f->impl = impl;
    *out = &f->pub;
    return 0;
}

static void fake_free(struct peer_bus *b) { dyn_free(b); }
static int fake_port(const struct peer_bus *b)
{
    fake_log(b, 'P');
    return 4242;
}
static void fake_stats(const struct peer_bus *b, struct peer_bus_stats *o)
{
    fake_log(b, 'S');
    memset(o, 0, sizeof(*o));
    o->requests_sent = 7;
}
static int fake_add(struct peer_bus *b, const char *n, const char *h, int p)
{
    fake_log(b, 'a');
    return 3;
}
static int fake_remove(struct peer_bus *b, int id)
{
    fake_log(b, 'r');
    return id == 3 ? 0 : DYN_EINVAL;
}
static int fake_connected(const struct peer_bus *b, int id)
{
    fake_log(b, 'c');
    return id == 3;
}
static int fake_find(const struct peer_bus *b, const char *name)
{
    fake_log(b, 'f');
    return strcmp(name, "x") == 0 ? 3 : DYN_ENOTFOUND;
}
static int fake_fault(struct peer_bus *b, int id, const struct peer_fault *f)
{
    fake_log(b, 'F');
    return 0;
}
static void fake_killed(struct peer_bus *b, int k)
{
    fake_log(b, 'K');
    ((struct fake_bus *)b)->killed = k;
}
static int fake_request(struct peer_bus *b, int id, int argc,
                        const struct dyn_arg *argv, peer_reply_fn *cb,
                        void *ctx, uint64_t *id_out)
{
    fake_log(b, 'q');
    if (id_out)
        *id_out = 99;
    return DYN_ELIMIT;
}
static struct dbuf *fake_buf(struct peer_call *c)
{
    return &((struct fake_call *)c)->out;
}
static void fake_done(struct peer_call *c) { ((struct fake_call *)c)->done++; }
static const char *fake_name(const struct peer_call *c) { return "caller"; }
static int fake_pid(const struct peer_call *c) { return 5; }
static uint64_t fake_cid(const struct peer_call *c) { return 77; }
static int fake_alive(const struct peer_call *c) { return 1; }

static const struct peer_bus_ops fake_ops = {
    .bus_new = fake_new, .bus_free = fake_free, .port = fake_port,
    .get_stats = fake_stats, .add = fake_add, .remove = fake_remove,
    .is_connected = fake_connected, .find = fake_find,
    .set_fault = fake_fault, .set_killed = fake_killed,
    .request = fake_request, .call_buf = fake_buf, .call_done = fake_done,
    .call_peer_name = fake_name, .call_peer_id = fake_pid,
    .call_id = fake_cid, .call_alive = fake_alive,
};

START_TEST(peer_functions_reach_the_implementation_the_node_names)
{
    int token;
    struct peer_bus_impl impl = {&fake_ops, &token};
    struct peer_bus_opts o = {.self_name = "me", .insecure = 1};
    struct peer_bus *bus = NULL;
    ck_assert_int_eq(peer_bus_open(&impl, NULL, &o, NULL, NULL, &bus), 0);
    ck_assert_ptr_eq(bus->ops, &fake_ops);
    struct fake_bus *f = (struct fake_bus *)bus;
    ck_assert_ptr_eq(f->impl, &token);
    /* each function answers what the implementation said, in order */
    ck_assert_int_eq(peer_add(bus, "x", "h", 1), 3);
    ck_assert_int_eq(peer_find(bus, "x"), 3);
    ck_assert_int_eq(peer_find(bus, "y"), DYN_ENOTFOUND);
    ck_assert_int_eq(peer_is_connected(bus, 3), 1);
    ck_assert_int_eq(peer_is_connected(bus, 4), 0);
    struct peer_fault flt = {0};
    ck_assert_int_eq(peer_set_fault(bus, 3, &flt), 0);
    peer_bus_set_killed(bus, 1);
    ck_assert_int_eq(f->killed, 1);
    struct dyn_arg av[1] = {{"PING", 4}};
    uint64_t id = 0;
    ck_assert_int_eq(peer_request(bus, 3, 1, av, NULL, NULL, &id),
                     DYN_ELIMIT);
    ck_assert_uint_eq(id, 99);
    ck_assert_int_eq(peer_bus_port(bus), 4242);
    struct peer_bus_stats st;
    peer_bus_get_stats(bus, &st);
    ck_assert_uint_eq(st.requests_sent, 7);
    ck_assert_int_eq(peer_remove(bus, 3), 0);
    ck_assert_str_eq(f->log, "affccFKqPSr");
    peer_bus_free(bus);
    peer_bus_free(NULL);
}
END_TEST

static void ops_get(void *ctx, struct peer_call *call, int argc,
                    const struct dyn_arg *argv)
{
    *(int *)ctx = 1;
    peer_call_reply_int(call, argc);
}
static void ops_other(void *ctx, struct peer_call *call, int argc,
                      const struct dyn_arg *argv)
{
    *(int *)ctx = 2;
    peer_call_reply_ok(call);
}

START_TEST(peer_dispatch_tries_the_table_then_on_message_then_unknown)
{
    static const struct peer_command cmds[] = {{"R.GET", ops_get, 0}};
    struct peer_handlers h = {.commands = cmds, .ncommands = 1};
    struct fake_call c = {.pub.ops = &fake_ops};
    dbuf_init(&c.out);
    int seen = 0;
    struct dyn_arg av[2] = {{"r.get", 5}, {"k", 1}};
        peer_dispatch(&h, &seen, &c.pub, 2, av);
    ck_assert_int_eq(seen, 1);
    ck_assert_int_eq(c.done, 1);
    ck_assert_uint_eq(c.out.len, 4);
    ck_assert(memcmp(c.out.p, ":2\r\n", 4) == 0);
    /* not in the table: on_message */
    dbuf_reset(&c.out);
    h.on_message = ops_other;
    av[0].p = "R.PUT";
    peer_dispatch(&h, &seen, &c.pub, 2, av);
    ck_assert_int_eq(seen, 2);
    ck_assert_int_eq(c.done, 2);
    /* neither: the unknown-command error, and the call is finished */
    dbuf_reset(&c.out);
    h.on_message = NULL;
    peer_dispatch(&h, &seen, &c.pub, 2, av);
    ck_assert_int_eq(c.done, 3);
    const char *want = "-ERR unknown peer command 'R.PUT'\r\n";
    ck_assert_uint_eq(c.out.len, strlen(want));
    ck_assert(memcmp(c.out.p, want, c.out.len) == 0);
    /* the call's accessors go through the ops as well */
    ck_assert_str_eq(peer_call_peer_name(&c.pub), "caller");
    ck_assert_int_eq(peer_call_peer_id(&c.pub), 5);
    ck_assert_uint_eq(peer_call_id(&c.pub), 77);
    ck_assert_int_eq(peer_call_alive(&c.pub), 1);
    dbuf_free(&c.out);
}
END_TEST

START_TEST(a_duplicated_value_owns_every_byte)
{
    char s1[] = "abc", s2[] = "de";
    struct peer_value inner[2] = {
        {.type = PEER_V_STRING, .str = s1, .len = 3},
        {.type = PEER_V_INT, .integer = -5},
    };
    struct peer_value outer[2] = {
        {.type = PEER_V_ARRAY, .n = 2, .elem = inner},
        {.type = PEER_V_STATUS, .str = s2, .len = 2},
    };
    struct peer_value top = {.type = PEER_V_ARRAY, .n = 2, .elem = outer};
    struct peer_value *d = peer_value_dup(&top);
    s1[0] = 'X';    /* the copy does not share the original's bytes */
    ck_assert_int_eq(d->type, PEER_V_ARRAY);
    ck_assert_uint_eq(d->n, 2);
    ck_assert_ptr_ne(d->elem, outer);
    ck_assert_uint_eq(d->elem[0].n, 2);
    ck_assert_str_eq(d->elem[0].elem[0].str, "abc");
    ck_assert_uint_eq(d->elem[0].elem[0].len, 3);
    ck_assert_int_eq(d->elem[0].elem[1].integer, -5);
    ck_assert_ptr_null(d->elem[0].elem[1].str);
    ck_assert_int_eq(d->elem[1].type, PEER_V_STATUS);
    ck_assert_str_eq(d->elem[1].str, "de");
    peer_value_free(d);
    peer_value_free(NULL);
    struct peer_value v;
    peer_value_copy(&v, &outer[1]);
    peer_value_clear(&v);
    ck_assert_ptr_null(v.str);
    ck_assert_int_eq(v.type, 0);
}
END_TEST

static Suite *peer_suite(void)
{
    Suite *s = suite_create("peer");
    TCase *tc = tcase_create("bus");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, request_reply_between_two_buses);
    tcase_add_test(tc, nested_reply_is_converted);
    tcase_add_test(tc, no_secret_refused_unless_insecure);
    tcase_add_test(tc, listens_on_every_bind_address);
    tcase_add_test(tc, pipelined_10k_answered_in_order);
    tcase_add_test(tc, late_answers_keep_request_order);
    tcase_add_test(tc, wrong_secret_reaches_no_handler);
    tcase_add_test(tc, unauthenticated_socket_gets_noauth);
    tcase_add_test(tc, reflected_challenge_gets_nothing);
    tcase_add_test(tc, tls_links_carry_requests_and_refuse_strangers);
    tcase_add_test(tc, own_name_refused_idle_handshakes_timed_out_and_capped);
    tcase_add_test(tc, handshake_limits_and_hello_needs_a_nonce);
    tcase_add_test(tc, oversized_messages_rejected);
    tcase_add_test(tc, lost_peer_fails_pending_once_then_reconnects);
    tcase_add_test(tc, requests_of_one_turn_leave_in_one_write);
    tcase_add_test(tc, three_buses_full_mesh);
    tcase_add_test(tc, dropped_requests_look_like_silence);
    tcase_add_test(tc, overdue_reply_kills_the_link);
    suite_add_tcase(s, tc);
    tc = tcase_create("ops");
    tcase_add_test(tc, peer_functions_reach_the_implementation_the_node_names);
    tcase_add_test(tc,
                   peer_dispatch_tries_the_table_then_on_message_then_unknown);
    tcase_add_test(tc, a_duplicated_value_owns_every_byte);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(peer_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
