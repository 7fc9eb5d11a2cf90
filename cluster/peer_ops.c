/*
 * peer_ops.c -- peer.h's functions over a bus's table of operations, and
 * what every bus implementation shares.
 *
 * A struct peer_bus (and a struct peer_call) is the first member of an
 * implementation's own struct and points at its struct peer_bus_ops; each
 * peer_* function here only forwards to that table, so the coordinator
 * and its modules call the same names whichever bus they were given: the
 * TCP bus (cluster/peer.c, peer_tcp_ops) in the server, the in-memory
 * network (tests/sim/sim_bus.c) in the simulation.
 *
 * Shared, so that no implementation copies another: deep copies of reply
 * values (peer_value_*), the handler lookup for an incoming request
 * (peer_dispatch), and the one-call answers (peer_call_reply_*), written on
 * top of peer_call_buf / peer_call_done with reply.c.
 *
 * Thread-safety: none, as the buses.  Errors: the implementation's.
 */
#include <string.h>
#include "cluster/peer.h"
#include "server/reply.h"
#include "server/util.h"

/* ---- the dispatchers ---------------------------------------------------- */

int peer_bus_new(struct event_base *base, const struct peer_bus_opts *opts,
                 const struct peer_handlers *h, void *ctx,
                 struct peer_bus **out)
{
    return peer_tcp_ops.bus_new(NULL, base, opts, h, ctx, out);
}

int peer_bus_open(const struct peer_bus_impl *impl, struct event_base *base,
                  const struct peer_bus_opts *opts,
                  const struct peer_handlers *h, void *ctx,
                  struct peer_bus **out)
{
    if (!impl || !impl->ops)
        return peer_bus_new(base, opts, h, ctx, out);
    return impl->ops->bus_new(impl->impl, base, opts, h, ctx, out);
}

void peer_bus_free(struct peer_bus *bus)
{
    if (bus)
        bus->ops->bus_free(bus);
}

int peer_bus_port(const struct peer_bus *bus)
{
    return bus->ops->port(bus);
}

void peer_bus_get_stats(const struct peer_bus *bus, struct peer_bus_stats *out)
{
    bus->ops->get_stats(bus, out);
}

int peer_add(struct peer_bus *bus, const char *name, const char *host,
             int port)
{
    return bus->ops->add(bus, name, host, port);
}

int peer_remove(struct peer_bus *bus, int peer_id)
{
    return bus->ops->remove(bus, peer_id);
}

int peer_is_connected(const struct peer_bus *bus, int peer_id)
{
    return bus->ops->is_connected(bus, peer_id);
}

int peer_find(const struct peer_bus *bus, const char *name)
{
    return bus->ops->find(bus, name);
}

int peer_set_fault(struct peer_bus *bus, int peer_id,
                   const struct peer_fault *f)
{
    return bus->ops->set_fault(bus, peer_id, f);
}

void peer_bus_set_killed(struct peer_bus *bus, int killed)
{
    bus->ops->set_killed(bus, killed);
}

int peer_request(struct peer_bus *bus, int peer_id, int argc,
                 const struct dyn_arg *argv, peer_reply_fn *cb, void *ctx,
                 uint64_t *id_out)
{
    return bus->ops->request(bus, peer_id, argc, argv, cb, ctx, id_out);
}

struct dbuf *peer_call_buf(struct peer_call *call)
{
    return call->ops->call_buf(call);
}

void peer_call_done(struct peer_call *call)
{
    call->ops->call_done(call);
}

const char *peer_call_peer_name(const struct peer_call *call)
{
    return call->ops->call_peer_name(call);
}

int peer_call_peer_id(const struct peer_call *call)
{
    return call->ops->call_peer_id(call);
}

uint64_t peer_call_id(const struct peer_call *call)
{
    return call->ops->call_id(call);
}

int peer_call_alive(const struct peer_call *call)
{
    return call->ops->call_alive(call);
}

/* ---- shared by the implementations -------------------------------------- */

void peer_value_copy(struct peer_value *dst, const struct peer_value *src)
{
    *dst = *src;
    dst->str = NULL;
    dst->elem = NULL;
    if (src->str) {
        dst->str = dyn_malloc(src->len + 1);
        memcpy(dst->str, src->str, src->len);
        dst->str[src->len] = 0;
    }
    if (src->n) {
        dst->elem = dyn_calloc(src->n, sizeof(*dst->elem));
        for (size_t i = 0; i < src->n; i++)
            peer_value_copy(&dst->elem[i], &src->elem[i]);
    }
}

void peer_value_clear(struct peer_value *v)
{
    for (size_t i = 0; i < v->n; i++)
        peer_value_clear(&v->elem[i]);
    dyn_free(v->elem);
    dyn_free(v->str);
    memset(v, 0, sizeof(*v));
}

struct peer_value *peer_value_dup(const struct peer_value *v)
{
    struct peer_value *d = dyn_malloc(sizeof(*d));
    peer_value_copy(d, v);
    return d;
}

void peer_value_free(struct peer_value *v)
{
    if (!v)
        return;
    peer_value_clear(v);
    dyn_free(v);
}

void peer_dispatch(const struct peer_handlers *h, void *ctx,
                   struct peer_call *call, int argc,
                   const struct dyn_arg *argv)
{
    for (size_t i = 0; i < h->ncommands; i++) {
        const struct peer_command *cmd = &h->commands[i];
        if (dyn_arg_is(argv[0].p, argv[0].len, cmd->name)) {
            cmd->fn(ctx, call, argc, argv);
            return;
        }
    }
    if (h->on_message) {
        h->on_message(ctx, call, argc, argv);
        return;
    }
    reply_errorf(peer_call_buf(call), "ERR unknown peer command '%.*s'",
                 (int)DYN_MIN(argv[0].len, 64), argv[0].p);
    peer_call_done(call);
}

/* ---- one-call answers --------------------------------------------------- */

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
