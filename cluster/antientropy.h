/*
 * antientropy.h -- Merkle-tree anti-entropy between the replicas of a
 * partition (see antientropy.c).  The coordinator owns one instance per
 * node and calls it from its tick; the exchange's peer commands are served
 * through the coordinator's peer command table.
 *
 * Thread-safety: none; the event loop owns it.
 */
#ifndef DYN_ANTIENTROPY_H
#define DYN_ANTIENTROPY_H

#include <stddef.h>
#include <stdint.h>
#include "cluster/peer.h"
#include "server/buf.h"

struct node;
struct antientropy;

struct antientropy *antientropy_new(struct node *n);
void antientropy_free(struct antientropy *ae);      /* NULL: no-op */
/* Called every cluster tick (about 5 ms). */
void antientropy_tick(struct antientropy *ae, uint64_t now_ms);
/* INFO lines ("name:value\r\n"). */
void antientropy_info(struct antientropy *ae, struct dbuf *out);
/* The exchange's peer commands; handlers get the coordinator's ctx
 * (cluster_node_of(ctx) gives the node). */
const struct peer_command *antientropy_peer_commands(size_t *n);

#endif
