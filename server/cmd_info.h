/*
 * cmd_info.h -- INFO's text for the layers above the admin commands: the
 * http API (server/http/http.c) shows it per node, and the coordinator
 * puts cmd_info_peer in the peer bus's handler table (R.INFO), so that one
 * node can read every node's figures (cmd_info.c tells the format).
 *
 * Thread-safety: event loop only.
 */
#ifndef DYN_CMD_INFO_H
#define DYN_CMD_INFO_H

#include <stddef.h>
#include "server/buf.h"
#include "server/util.h"

struct node;
struct peer_call;

/* Appends INFO's text for argv[1..argc) as section names (argv[0], the
 * command's name, is ignored; none: the default set), as INFO answers. */
void cmd_info_text(struct node *n, int argc, const struct dyn_arg *argv,
                   struct dbuf *text);
/* The peer command R.INFO [section ...]: answers the text as a bulk. */
void cmd_info_peer(void *ctx, struct peer_call *call, int argc,
                   const struct dyn_arg *argv);

/* host:port of this node's http API as the other members reach it ("" with
 * http-port 0; INFO server's http_addr). */
void cmd_info_http_addr(const struct node *n, char *out, size_t cap);

#endif
