/*
 * sse.h -- GET /api/stream: the cluster's events, traces and figures as
 * Server-Sent Events (server/http/sse.c tells how and what it costs).
 *
 * http.c checks access and routes the request here; this module owns the
 * subscribers and the polling that feeds them, and offers its R.INFO
 * gather to http.c (the member origins it learns at start).
 *
 * Thread-safety: event loop only.
 */
#ifndef DYN_SSE_H
#define DYN_SSE_H

#include <jansson.h>

struct node;
struct sse;
struct evhttp_request;

/* Output a subscriber may leave unread before it is dropped. */
#define SSE_PENDING_MAX (256 * 1024)

/* Every member's INFO: {"name": rjson_info(...)} or {"name": {"error"}}
 * for one that could not be asked or did not answer in time.  nodes is
 * borrowed for the call. */
typedef void sse_info_fn(void *arg, json_t *nodes);

struct sse *sse_new(struct node *n, sse_info_fn *learn, void *learn_arg);
/* Ends every subscriber's stream without freeing its connection (evhttp
 * frees it with the server); gathers in flight complete into nothing.
 * sse_free(NULL) is a no-op. */
void sse_free(struct sse *s);

/* 1 when one more subscriber fits under http-stream-max. */
int sse_has_room(const struct sse *s);
/* Takes over req (access already checked, headers such as CORS already
 * set): answers 200 text/event-stream and keeps it open until the client
 * goes, or is too slow, or the server stops. */
void sse_subscribe(struct sse *s, struct evhttp_request *req);

/* Asks every member for INFO sections (the serving node answers at once);
 * fn(arg, nodes) runs from the loop after the last answer or after
 * request-timeout-ms, and only if s still exists. */
void sse_gather_info(struct sse *s, const char *const *sections,
                     size_t nsec, sse_info_fn *fn, void *arg);

#endif
