/*
 * antientropy.c -- placeholder: anti-entropy is not implemented yet.
 */
#include "cluster/antientropy.h"

#include "server/util.h"

struct antientropy {
    struct node *node;
};

struct antientropy *antientropy_new(struct node *n)
{
    struct antientropy *ae = dyn_calloc(1, sizeof(*ae));
    ae->node = n;
    return ae;
}

void antientropy_free(struct antientropy *ae)
{
    dyn_free(ae);
}

void antientropy_tick(struct antientropy *ae, uint64_t now_ms)
{
    (void)ae;
    (void)now_ms;
}

void antientropy_info(struct antientropy *ae, struct dbuf *out)
{
    (void)ae;
    (void)out;
}

const struct peer_command *antientropy_peer_commands(size_t *n)
{
    *n = 0;
    return NULL;
}
