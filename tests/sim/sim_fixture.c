/*
 * sim_fixture.c -- the simulated cluster the sim tests share (see
 * sim_fixture.h): node set-up on the virtual clock and seeded random
 * source, stepping, clients, and views of what a node holds.
 *
 * Thread-safety: none.  Errors: fixture failures abort the test.
 */
#include "tests/sim/sim_fixture.h"

#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "cluster/cluster.h"
#include "cluster/coordinator.h"
#include "server/dispatch.h"
#include "server/pipeline.h"
#include "cluster/object.h"
#include "cluster/peer.h"
#include "cluster/ring.h"
#include "server/client.h"
#include "server/command.h"
#include "server/config.h"
#include "server/store.h"
#include "server/tcache.h"
#include "server/util.h"

/* The nodes' clock is the network's virtual clock: wall and loop-turn
 * time in ms, and a monotonic clock in us that is the same instant. */
static uint64_t sim_clock_ms(void *ctx)
{
    const struct sim_node *sn = ctx;
    return sim_net_now(sn->s->net);
}

static uint64_t sim_clock_us(void *ctx)
{
    return sim_clock_ms(ctx) * 1000;
}


/* hint-max-bytes unless the test asks otherwise.  The read-repair tests
 * need a replica that stays stale, which hinted handoff would mend first,
 * so the simulation runs without hints by default (0 drops every hint);
 * the handoff scenario sets a budget. */
static const char *const sim_hint_budget = "0";

/* Creates node i and runs coord_init on it.  members: cluster-node
 * lines (NUL-terminated), or seed lines for a joiner. */
static void sim_node_start(struct sim *s, int i, const char *members)
{
    const struct sim_opts *o = &s->opts;
    struct sim_node *sn = dyn_calloc(1, sizeof(*sn));
    struct node *n = &sn->n;
    sn->s = s;
    s->node[i] = sn;
    config_init_defaults(&n->cfg);
    struct dbuf text, err;
    dbuf_init(&text);
    dbuf_init(&err);
    char ndir[96];
    snprintf(ndir, sizeof(ndir), "%s/n%d", s->dir, i + 1);
    ck_assert_int_eq(mkdir(ndir, 0700), 0);
    dbuf_printf(&text,
                "node-name n%d\nport %d\nstorage memory\n"
                "cluster-insecure yes\nring-partitions 64\n"
                "n %d\nr %d\nw %d\nrequest-timeout-ms %d\n"
                "dir %s\nhint-max-bytes %s\n%s%s",
                i + 1, 7001 + i, o->nval, o->r, o->w, TIMEOUT_MS, ndir,
                o->hint_max_bytes ? o->hint_max_bytes : sim_hint_budget,
                o->extra ? o->extra : "", members);
    dbuf_appendc(&text, 0);
    if (config_load_string(&n->cfg, text.p, "sim", &err) != 0) {
        dbuf_appendc(&err, 0);
        ck_abort_msg("config: %s", err.p);
    }
    config_finalize(&n->cfg);
    dbuf_free(&text);
    n->clock.wall_us = sim_clock_us;
    n->clock.mono_us = sim_clock_us;
    n->clock.turn_ms = sim_clock_ms;
    n->clock.ctx = sn;
    n->start_ms = n->stat_reset_ms = sim_net_now(s->net);
    n->next_client_id = 1;
    n->rng = s->seed * 0x9e3779b97f4a7c15ULL + (uint64_t)i + 1;
    n->incarnation = (uint32_t)i + 1;
    node_update_actor(n);
    n->store = store_new((uint32_t)n->cfg.ring_partitions);
    n->commands = dispatch_registry_new();
    n->stats.cmd = dyn_calloc(command_stat_slots(n->commands) + 1,
                              sizeof(*n->stats.cmd));
    sim_net_add(s->net, n->cfg.node_name, n);
    if (coord_init(n, &err) != 0) {
        dbuf_appendc(&err, 0);
        ck_abort_msg("coord_init: %s", err.p);
    }
    ck_assert_ptr_nonnull(n->cluster);
    pipeline_init(n);
    dbuf_free(&err);
}

struct sim *sim_new_opts(const struct sim_opts *o, uint64_t seed)
{
    struct sim *s = dyn_calloc(1, sizeof(*s));
    s->seed = seed;
    s->opts = *o;
    s->net = sim_net_new(seed, 1700000000000ULL);
    snprintf(s->dir, sizeof(s->dir), "/tmp/dynsimXXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(s->dir));
    struct dbuf members;
    dbuf_init(&members);
    for (int i = 0; i < o->nn; i++)
        dbuf_printf(&members, "cluster-node n%d 127.0.0.1:%d\n", i + 1,
                    7001 + i);
    dbuf_appendc(&members, 0);
    for (int i = 0; i < o->nn; i++) {
        sim_node_start(s, i, members.p);
        s->nn = i + 1;
    }
    dbuf_free(&members);
    return s;
}

struct sim *sim_new(int nn, int nval, int r, int w, uint64_t seed)
{
    struct sim_opts o = {.nn = nn, .nval = nval, .r = r, .w = w};
    return sim_new_opts(&o, seed);
}

int sim_add_joiner(struct sim *s, int seed_node)
{
    dyn_assert(s->nn < SIM_MAX_NODES);
    char line[64];
    /* the seed's client port (members.c dials port + 10000) */
    snprintf(line, sizeof(line), "seed 127.0.0.1:%d\n", 7001 + seed_node);
    int i = s->nn;
    sim_node_start(s, i, line);
    s->nn = i + 1;
    return i;
}

static int rm_entry(const char *path, const struct stat *st, int type,
                    struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

void sim_free(struct sim *s)
{
    for (int i = 0; i < s->nn; i++) {
        pipeline_free(&s->node[i]->n);
        coord_free(&s->node[i]->n);
    }
    for (int i = 0; i < s->nn; i++) {
        struct node *n = &s->node[i]->n;
        store_free(n->store);
        dbuf_free(&n->typed_view);
        dbuf_free(&n->typed_enc);
        tcache_free(n->tcache);
        command_registry_free(n->commands);
        dyn_free(n->stats.cmd);
        config_free(&n->cfg);
        dyn_free(s->node[i]);
    }
    sim_net_free(s->net);
    if (nftw(s->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "could not remove %s\n", s->dir);
    dyn_free(s);
}

struct node *sim_node(struct sim *s, int i)
{
    return &s->node[i]->n;
}

/* The replies that came since the last look, in the order the clients
 * were sent: a blocked client's reply is complete when the pipeline
 * unblocks it (CLIENT_BLOCKED cleared). */
static void sim_trace_replies(struct sim *s)
{
    int k = 0;
    for (int i = 0; i < s->nwaiting; i++) {
        struct client *c = s->waiting[i];
        if (c->flags & CLIENT_BLOCKED)
            s->waiting[k++] = c;
        else
            sim_net_trace_reply(c);
    }
    s->nwaiting = k;
}

/* Moves the clock to t and lets every node's timers run. */
void sim_advance_to(struct sim *s, uint64_t t)
{
    sim_net_set_now(s->net, t);
    for (int i = 0; i < s->nn; i++) {
        sim_net_tracef(s->net, "tick n%d", i + 1);
        coord_tick(sim_node(s, i), sim_net_now(s->net));
    }
    sim_trace_replies(s);
}

void sim_advance(struct sim *s, uint64_t ms)
{
    sim_advance_to(s, sim_net_now(s->net) + ms);
}

/* One event: sometimes a few ms pass, then one message moves.  Returns 0
 * when no message could. */
int sim_step(struct sim *s)
{
    s->events++;
    if (!s->frozen && sim_net_random(s->net) % 8 == 0)
        sim_advance(s, 1 + sim_net_random(s->net) % 3);
    int moved = sim_net_step(s->net);
    sim_trace_replies(s);
    return moved;
}

/* Delivers everything that may go without waiting for a timeout. */
void sim_drain(struct sim *s)
{
    for (int i = 0; i < 1000000 && sim_step(s); i++)
        ;
}

/* Until nothing is in flight: drains, and lets time run to the next
 * failure that waits for its timeout. */
void sim_settle(struct sim *s)
{
    for (int round = 0; round < 1000; round++) {
        sim_drain(s);
        uint64_t due = sim_net_next_due(s->net);
        if (sim_net_pending(s->net) == 0 || due == UINT64_MAX)
            return;
        sim_advance_to(s, due);
    }
    SIM_ASSERT(s, 0, "the network never settled");
}

/* ---- clients ------------------------------------------------------------ */

struct client *sim_sendv(struct sim *s, int node, int argc,
                         const struct dyn_arg *argv)
{
    struct client *c = dyn_calloc(1, sizeof(*c));
    c->node = sim_node(s, node);
    c->id = ++s->next_client;
    c->fd = -1;
    c->resp = 2;
    c->authenticated = 1;
    c->ctime_ms = c->last_ms = sim_net_now(s->net);
    snprintf(c->addr, sizeof(c->addr), "sim:%llu", (unsigned long long)c->id);
    dbuf_init(&c->qbuf);
    dbuf_init(&c->obuf);
    /* on the node's client list, as net.c keeps it: commands that answer
     * later find their client there by id (DYNAMO.AE, CLIENT KILL) */
    c->next = c->node->clients;
    if (c->next)
        c->next->prev = c;
    c->node->clients = c;
    s->events++;
    struct dbuf line;
    dbuf_init(&line);
    for (int i = 0; i < argc; i++)
        dbuf_printf(&line, " %.*s", (int)argv[i].len, argv[i].p);
    sim_net_tracef(s->net, "cmd c%llu n%d%.*s", (unsigned long long)c->id,
                   node + 1, (int)line.len, line.p ? line.p : "");
    dbuf_free(&line);
    dispatch_request(c, argc, argv);
    if (!(c->flags & CLIENT_BLOCKED))
        sim_net_trace_reply(c); /* answered at once */
    else if (s->nwaiting < (int)DYN_ARRAY_LEN(s->waiting))
        s->waiting[s->nwaiting++] = c;
    return c;
}

/* A command line split on spaces (the tests' values have none). */
struct client *sim_send(struct sim *s, int node, const char *line)
{
    struct dyn_arg av[16];
    int ac = 0;
    const char *p = line;
    while (*p && ac < 16) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        if (e > p) {
            av[ac].p = p;
            av[ac++].len = (size_t)(e - p);
        }
        p = e;
    }
    return sim_sendv(s, node, ac, av);
}

int sim_done(const struct client *c)
{
    return !(c->flags & CLIENT_BLOCKED);
}

void sim_client_free(struct client *c)
{
    if (!c)
        return;
    struct sim *s = ((struct sim_node *)c->node)->s;
    int k = 0;
    for (int i = 0; i < s->nwaiting; i++)
        if (s->waiting[i] != c)
            s->waiting[k++] = s->waiting[i];
    s->nwaiting = k;
    if (c->prev)
        c->prev->next = c->next;
    else
        c->node->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    client_free(c);
    dyn_free(c);
}

/* Steps until c has its answer, letting time pass when nothing moves. */
void sim_wait(struct sim *s, struct client *c)
{
    uint64_t start = sim_net_now(s->net);
    while (!sim_done(c)) {
        if (!sim_step(s))
            sim_advance(s, 10);
        SIM_ASSERT(s, sim_net_now(s->net) - start < 60000,
                   "client %llu never answered",
                   (unsigned long long)c->id);
    }
}

/* The command's answer, run to completion. */
struct client *sim_cmd(struct sim *s, int node, const char *line)
{
    struct client *c = sim_send(s, node, line);
    sim_wait(s, c);
    return c;
}

int reply_is(const struct client *c, const char *want)
{
    return c->obuf.len == strlen(want) && memcmp(c->obuf.p, want, c->obuf.len) == 0;
}

int reply_is_bulk(const struct client *c, const char *v)
{
    char want[256];
    snprintf(want, sizeof(want), "$%zu\r\n%s\r\n", strlen(v), v);
    return reply_is(c, want);
}

int reply_starts(const struct client *c, const char *prefix)
{
    size_t l = strlen(prefix);
    return c->obuf.len >= l && memcmp(c->obuf.p, prefix, l) == 0;
}

/* The reply as a C string, for messages. */
const char *reply_text(struct client *c)
{
    dbuf_appendc(&c->obuf, 0);
    c->obuf.len--;
    return c->obuf.p ? c->obuf.p : "(nothing)";
}

void sim_expect(struct sim *s, int node, const char *line, const char *want)
{
    struct client *c = sim_cmd(s, node, line);
    SIM_ASSERT(s, reply_is(c, want), "%s via n%d: got %s", line, node + 1,
               reply_text(c));
    sim_client_free(c);
}

/* ---- what a node holds -------------------------------------------------- */

const struct object *sim_local(struct sim *s, int node, const char *key)
{
    return store_get(sim_node(s, node)->store, key, strlen(key));
}

/* Does node hold value v among the siblings of key? */
int sim_holds(struct sim *s, int node, const char *key, const char *v)
{
    const struct object *o = sim_local(s, node, key);
    for (uint32_t i = 0; o && i < object_nsiblings(o); i++) {
        struct sibling sb;
        object_sibling(o, i, &sb);
        if (!sb.tombstone && sb.vlen == strlen(v) &&
            memcmp(sb.value, v, sb.vlen) == 0)
            return 1;
    }
    return 0;
}

uint32_t sim_siblings(struct sim *s, int node, const char *key)
{
    const struct object *o = sim_local(s, node, key);
    return o ? object_nsiblings(o) : 0;
}

/* The value of key's winning sibling on node, or "" */
void sim_winner(struct sim *s, int node, const char *key, char *out,
                size_t cap)
{
    const struct object *o = sim_local(s, node, key);
    out[0] = 0;
    if (!o)
        return;
    struct sibling sb;
    object_sibling(o, object_winner(o), &sb);
    snprintf(out, cap, "%.*s", (int)sb.vlen, (const char *)sb.value);
}

/* A counter from INFO's dynamo lines of node. */
long long sim_info(struct sim *s, int node, const char *name)
{
    struct dbuf b;
    dbuf_init(&b);
    cluster_info(sim_node(s, node), &b);
    dbuf_appendc(&b, 0);
    long long v = -1;
    char pat[64];
    snprintf(pat, sizeof(pat), "%s:", name);
    const char *p = strstr(b.p, pat);
    if (p)
        v = strtoll(p + strlen(pat), NULL, 10);
    dbuf_free(&b);
    return v;
}

/* The nodes of key's preference list (top N), as node indices, in order. */
int sim_preflist(struct sim *s, const char *key, int *out)
{
    const struct ring *r = cluster_ring(sim_node(s, 0));
    uint16_t ri[16];
    uint32_t k = ring_preflist(r, ring_partition_of(r, key, strlen(key)), ri,
                               (uint32_t)sim_node(s, 0)->cfg.n);
    for (uint32_t i = 0; i < k; i++)
        out[i] = atoi(r->names[ri[i]] + 1) - 1; /* "nK" */
    return (int)k;
}


void sim_dynamo_get(struct sim *s, struct client *c, struct dget *d)
{
    struct peer_value v;
    memset(d, 0, sizeof(*d));
    long used = sim_resp_parse(c->obuf.p, c->obuf.len, &v);
    SIM_ASSERT(s, used > 0 && v.type == PEER_V_ARRAY && v.n == 2 &&
                      v.elem[0].type == PEER_V_STRING &&
                      v.elem[1].type == PEER_V_ARRAY,
               "DYNAMO.GET reply: %s", reply_text(c));
    SIM_ASSERT(s, v.elem[0].len <= sizeof(d->ctx), "context too long");
    memcpy(d->ctx, v.elem[0].str, v.elem[0].len);
    d->ctxlen = v.elem[0].len;
    for (size_t i = 0; i < v.elem[1].n && i < 8; i++)
        snprintf(d->values[d->nvalues++], 64, "%s", v.elem[1].elem[i].str);
    sim_value_clear(&v);
}

/* DYNAMO.PUT key <ctx> value [extra...] */
struct client *sim_dynamo_put(struct sim *s, int node, const char *key,
                              const struct dget *ctx, const char *value)
{
    struct dyn_arg av[4] = {
        {"DYNAMO.PUT", 10},
        {key, strlen(key)},
        {ctx ? ctx->ctx : "", ctx ? ctx->ctxlen : 0},
        {value, strlen(value)},
    };
    return sim_sendv(s, node, 4, av);
}

/* The first line where two traces part, for the failure message. */
void trace_diff(const struct dbuf *a, const struct dbuf *b, char *out,
                size_t cap)
{
    size_t i = 0, line = 1, start = 0;
    while (i < a->len && i < b->len && a->p[i] == b->p[i]) {
        if (a->p[i] == '\n') {
            line++;
            start = i + 1;
        }
        i++;
    }
    size_t ea = start, eb = start;
    while (ea < a->len && a->p[ea] != '\n')
        ea++;
    while (eb < b->len && b->p[eb] != '\n')
        eb++;
    snprintf(out, cap, "line %zu: '%.*s' vs '%.*s'", line,
             (int)DYN_MIN(ea - start, (size_t)120), a->p + start,
             (int)DYN_MIN(eb - start, (size_t)120), b->p + start);
}

int trace_equal(const struct dbuf *a, const struct dbuf *b)
{
    return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}