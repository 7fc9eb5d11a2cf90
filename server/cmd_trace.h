/*
 * cmd_trace.h -- DYNAMO.TRACE and DYNAMO.EVENTS (server/cmd_trace.c): the
 * two renderers the commands use, for a reader above the command layer
 * that follows the rings without a client (the http API's event stream,
 * server/http/sse.c, renders this node's part with them and asks the
 * other nodes with R.NODES).
 *
 * Thread-safety: the event loop owns the node and its rings.
 */
#ifndef DYN_CMD_TRACE_H
#define DYN_CMD_TRACE_H

#include <stdint.h>
#include "server/buf.h"

struct node;

/* DYNAMO.TRACE SINCE since newest's reply (in protocol resp) appended to
 * out: of the finished traces after since, the newest `newest`. */
void cmd_trace_since(struct node *n, uint64_t since, uint32_t newest,
                     int resp, struct dbuf *out);
/* DYNAMO.EVENTS since's reply appended to out. */
void cmd_trace_events(struct node *n, uint64_t since, int resp,
                      struct dbuf *out);

#endif
