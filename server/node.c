/*
 * node.c -- small services of the node context: latency histograms, the
 * node's random source, shutdown requests and the actor id.
 *
 * The node itself is assembled by main.c; this file holds the helpers that
 * every subsystem reaches through the node pointer it is handed.
 *
 * Latency histograms use log2 buckets of microseconds: bucket 0 holds 0 us,
 * bucket i (i >= 1) holds [2^(i-1), 2^i).  A quantile is found by walking
 * the buckets and interpolating linearly inside the one that holds it, which
 * is accurate to within a factor of two and costs nothing on the hot path
 * (one clz per sample).
 *
 * Randomness is xorshift64*: fast, good enough for sampling keys and picking
 * peers, and deterministic from its seed so pure modules can be replayed.
 *
 * Time is injected the same way: the node's clock is a small table of hooks
 * (struct node_clock).  main.c installs the system clock; the simulation
 * (tests/sim) installs a virtual clock and seeds node->rng from its seed,
 * so a simulated run is a function of its seed alone.  node_turn_ms is the
 * cheap reading for code on the request path: on the system clock it is
 * libevent's cached time of the loop turn, which costs no system call.
 *
 * Thread-safety: the event loop owns the node; none of this is locked.
 */
#include "server/node.h"

#include <string.h>
#include <event2/event.h>
#include "cluster/vclock.h"
#include "server/util.h"

static unsigned latency_bucket(uint64_t us)
{
    if (us == 0)
        return 0;
    unsigned b = 64u - (unsigned)__builtin_clzll(us); /* 2^(b-1) <= us < 2^b */
    return b < LAT_BUCKETS ? b : LAT_BUCKETS - 1;
}

void latency_add(struct latency_hist *h, uint64_t us)
{
    h->count++;
    h->sum_us += us;
    h->buckets[latency_bucket(us)]++;
}

static const struct latency_hist no_latency;

void second_window_add(struct second_window *w, uint64_t now_us, uint64_t us)
{
    uint64_t sec = now_us / 1000000;
    if (sec != w->sec) {
        if (sec == w->sec + 1)
            w->lat[1] = w->lat[0];
        else
            memset(&w->lat[1], 0, sizeof(w->lat[1]));
        memset(&w->lat[0], 0, sizeof(w->lat[0]));
        w->sec = sec;
    }
    latency_add(&w->lat[0], us);
}

const struct latency_hist *second_window_last(const struct second_window *w,
                                              uint64_t now_us)
{
    uint64_t sec = now_us / 1000000;
    if (sec == w->sec + 1)
        return &w->lat[0];
    if (sec == w->sec)
        return &w->lat[1];
    return &no_latency;
}

double latency_quantile(const struct latency_hist *h, double q)
{
    if (h->count == 0)
        return 0.0;
    if (q <= 0.0)
        q = 0.0;
    if (q >= 1.0)
        q = 1.0;
    double rank = q * (double)h->count;
    uint64_t seen = 0;
    for (unsigned i = 0; i < LAT_BUCKETS; i++) {
        uint64_t in = h->buckets[i];
        if (in == 0)
            continue;
        if ((double)(seen + in) >= rank) {
            double lo = i == 0 ? 0.0 : (double)(1ULL << (i - 1));
            double hi = i == 0 ? 1.0 : (double)(1ULL << i);
            double frac = (rank - (double)seen) / (double)in;
            if (frac < 0)
                frac = 0;
            return lo + (hi - lo) * frac;
        }
        seen += in;
    }
    return (double)(1ULL << (LAT_BUCKETS - 1));
}

uint64_t node_random(struct node *n)
{
    uint64_t x = n->rng;
    if (x == 0)
        x = 0x9e3779b97f4a7c15ULL; /* xorshift must not start at zero */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    n->rng = x;
    return x * 0x2545f4914f6cdd1dULL;
}

uint64_t node_wall_us(const struct node *n)
{
    if (n->clock.wall_us)
        return n->clock.wall_us(n->clock.ctx);
    return dyn_wall_us();
}

uint64_t node_wall_ms(const struct node *n)
{
    return node_wall_us(n) / 1000;
}

uint64_t node_mono_us(const struct node *n)
{
    if (n->clock.mono_us)
        return n->clock.mono_us(n->clock.ctx);
    return dyn_mono_us();
}

uint64_t node_turn_ms(const struct node *n)
{
    if (n->clock.turn_ms)
        return n->clock.turn_ms(n->clock.ctx);
    return node_wall_ms(n);
}

static uint64_t system_wall_us(void *ctx)
{
    (void)ctx;
    return dyn_wall_us();
}

static uint64_t system_mono_us(void *ctx)
{
    (void)ctx;
    return dyn_mono_us();
}

/* libevent's time of this loop turn, or the wall clock outside a loop. */
static uint64_t system_turn_ms(void *ctx)
{
    const struct node *n = ctx;
    struct timeval tv;
    if (n->base && event_base_gettimeofday_cached(n->base, &tv) == 0)
        return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
    return dyn_wall_us() / 1000;
}

void node_clock_system(struct node *n)
{
    n->clock.wall_us = system_wall_us;
    n->clock.mono_us = system_mono_us;
    n->clock.turn_ms = system_turn_ms;
    n->clock.ctx = n;
}

void node_request_shutdown(struct node *n, int exit_code)
{
    n->shutdown_asap = 1;
    n->exit_code = exit_code;
    if (n->base)
        event_base_loopexit(n->base, NULL);
}

void node_update_actor(struct node *n)
{
    n->actor = actor_make(n->cfg.node_name ? n->cfg.node_name : "",
                          n->incarnation);
}

const char *node_actor_name(const struct node *n, uint64_t actor)
{
    if (actor == n->actor)
        return n->cfg.node_name;
    return n->actor_name ? n->actor_name(n->actor_name_ctx, actor) : NULL;
}
