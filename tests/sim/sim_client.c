/*
 * sim_client.c -- what server/net.c gives the rest of the server, for the
 * simulation, which links every server module except net.c and main.c
 * (the peer bus is chosen at run time instead: node->peers, sim_bus.c).
 *
 * A simulated client is a struct client the test owns: no socket, no
 * events.  Its replies accumulate in c->obuf, and the test reads them
 * from there; the pipeline clears CLIENT_BLOCKED (client.c's
 * client_unblock, which has no event to activate here) when a late reply
 * is complete, which the test watches for.  The test frees its clients
 * itself, through client_free below.
 *
 * The listener entry points exist so that net.o is never pulled out of
 * libdynserver.a; nothing in the simulation calls them.
 *
 * Thread-safety: none.
 */
#include <stdio.h>
#include "server/pipeline.h"
#include "server/client.h"
#include "server/command.h"
#include "server/util.h"
#include "tests/sim/sim_bus.h"

/* The test owns the struct; this releases what hangs off it. */
void client_free(struct client *c)
{
    if (!c)
        return;
    pipeline_client_gone(c);
    client_multi_reset(c);
    dbuf_free(&c->obuf);
    dbuf_free(&c->qbuf);
    dyn_free(c->name);
    dyn_free(c->lib_name);
    dyn_free(c->lib_ver);
    c->name = c->lib_name = c->lib_ver = NULL;
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
