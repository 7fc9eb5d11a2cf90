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
struct http;
struct evhttp_connection;

/* Told when a connection closes. */
typedef void http_close_fn(struct evhttp_connection *evcon, void *arg);

/* Binds every bind address at cfg.http_port (as net_listen binds the
 * client port) and serves the API on n's loop.  0 (also with http-port
 * 0), or DYN_EIO (logged) when a required address cannot be bound. */
int http_start(struct node *n);
/* Stops listening and drops every request in flight without answering
 * (their commands' callbacks are cancelled).  NULL-safe via n->http. */
void http_free(struct node *n);

/* fn(evcon, arg) runs when evcon (a connection that sent a request)
 * closes; fn NULL: nobody is told.  Replaces the last one given: http.c
 * owns evhttp's one close callback per connection, which also counts the
 * connections against http-max-connections. */
void http_conn_watch(struct http *h, struct evhttp_connection *evcon,
                     http_close_fn *fn, void *arg);
/* Closes evcon now (its requests are freed with it), without telling its
 * watcher. */
void http_conn_close(struct http *h, struct evhttp_connection *evcon);

#endif
