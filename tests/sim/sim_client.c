/*
 * sim_client.c -- what server/net.c gives the command handlers, for the
 * simulation, which links every server module except net.c and main.c
 * (the peer bus is chosen at run time instead: node->peers, sim_bus.c).
 *
 * A simulated client is a struct client the test owns: no socket, no
 * events.  Its replies accumulate in c->obuf, and the test reads them
 * from there.  client_unblock is how the coordinator hands a blocked
 * client its late answer: here it only clears CLIENT_BLOCKED, which is the
 * test's sign that the answer is complete, and the answer goes to the
 * network's trace (sim_net_trace_reply).  Closing is a flag the test may
 * look at; the test frees its clients itself.
 *
 * The listener entry points exist so that net.o is never pulled out of
 * libdynserver.a; nothing in the simulation calls them.
 *
 * Thread-safety: none.
 */
#include <stdio.h>
#include "cluster/coordinator.h"
#include "server/client.h"
#include "server/command.h"
#include "server/util.h"
#include "tests/sim/sim_bus.h"

size_t client_obuf_pending(const struct client *c)
{
    return c->obuf.len - c->obuf_sent;
}

void client_close_after_reply(struct client *c)
{
    c->flags |= CLIENT_CLOSE_AFTER_REPLY;
}

void client_close_async(struct client *c)
{
    c->flags |= CLIENT_CLOSE_ASAP;
}

void client_unblock(struct client *c)
{
    c->flags &= ~(unsigned)CLIENT_BLOCKED;
    sim_net_trace_reply(c);
}

/* The test owns the struct; this releases what hangs off it. */
void client_free(struct client *c)
{
    if (!c)
        return;
    cluster_client_gone(c);
    command_multi_reset(c);
    dbuf_free(&c->obuf);
    dbuf_free(&c->qbuf);
    dyn_free(c->name);
    dyn_free(c->lib_name);
    dyn_free(c->lib_ver);
    c->name = c->lib_name = c->lib_ver = NULL;
}

void client_describe(const struct client *c, struct dbuf *out,
                     uint64_t now_ms)
{
    dbuf_printf(out, "id=%llu addr=%s fd=-1 name=%s age=%llu",
                (unsigned long long)c->id, c->addr, c->name ? c->name : "",
                (unsigned long long)((now_ms - c->ctime_ms) / 1000));
}

int net_listen(struct node *n)
{
    (void)n;
    return 0;
}

void net_close_listeners(struct node *n)
{
    (void)n;
}

void net_free_all_clients(struct node *n)
{
    (void)n;
}

void net_cron(struct node *n, uint64_t now_ms)
{
    (void)n;
    (void)now_ms;
}
