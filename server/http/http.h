/*
 * http.h -- the node's JSON API on http-port (server/http/http.c tells the
 * endpoints, the access rules and a request's life).
 *
 * main.c starts it after the client listeners and frees it first at
 * shutdown.  With http-port 0 nothing is bound and n->http stays NULL.
 *
 * Thread-safety: event loop only.
 */
#ifndef DYN_HTTP_H
#define DYN_HTTP_H

struct node;

/* Binds every bind address at cfg.http_port (as net_listen binds the
 * client port) and serves the API on n's loop.  0 (also with http-port
 * 0), or DYN_EIO (logged) when a required address cannot be bound. */
int http_start(struct node *n);
/* Stops listening and drops every request in flight without answering
 * (their commands' callbacks are cancelled).  NULL-safe via n->http. */
void http_free(struct node *n);

#endif
