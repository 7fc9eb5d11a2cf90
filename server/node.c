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
 * Thread-safety: the event loop owns the node; none of this is locked.
 */
#include "server/node.h"

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
