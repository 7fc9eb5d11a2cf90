/*
 * peer_reply.c -- the one-call answers of peer.h (peer_call_reply_*).
 *
 * They only append a RESP value with reply.c and finish the call, so they
 * are written once here on top of peer_call_buf / peer_call_done, and serve
 * both the real bus (peer.c) and the simulated one (tests/sim/sim_bus.c).
 */
#include "cluster/peer.h"
#include "server/reply.h"

void peer_call_reply_ok(struct peer_call *call)
{
    reply_ok(peer_call_buf(call));
    peer_call_done(call);
}

void peer_call_reply_error(struct peer_call *call, const char *msg)
{
    reply_error(peer_call_buf(call), msg);
    peer_call_done(call);
}

void peer_call_reply_int(struct peer_call *call, long long v)
{
    reply_int(peer_call_buf(call), v);
    peer_call_done(call);
}

void peer_call_reply_bulk(struct peer_call *call, const void *p, size_t n)
{
    reply_bulk(peer_call_buf(call), p, n);
    peer_call_done(call);
}

void peer_call_reply_null(struct peer_call *call)
{
    reply_null(peer_call_buf(call), 2);
    peer_call_done(call);
}
