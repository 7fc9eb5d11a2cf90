/*
 * hreq.h -- the pure side of an HTTP request to the JSON API: matching a
 * path against a route pattern, percent-decoding, and the access checks
 * (Host, Origin, the password).  server/http/http.c, the I/O shell, asks
 * these questions and acts on the answers; nothing here knows evhttp, a
 * socket or a node, so the unit tests (tests/unit/test_http.c) ask them
 * directly.
 *
 * Why the checks exist: the API changes the cluster (kill, join, write),
 * and a browser will send requests to 127.0.0.1 on behalf of any web page
 * the user opens.  A foreign Origin is a cross-site request (CSRF); a Host
 * that is not one of the node's own names is DNS rebinding (a foreign name
 * that resolves to this node, which makes the page same-origin with it).
 * So a request is served only when its Host names this node and its
 * Origin, if any, is this node's own http origin or the exact http origin
 * of a member of its cluster (hreq_origin_listed: the dashboard served by
 * one node calls the others directly).
 *
 * Errors: functions return 1/0 for yes/no, or a negative enum dyn_err for
 * malformed input (then nothing is allocated).  Thread-safety: none needed
 * (no state).
 */
#ifndef DYN_HREQ_H
#define DYN_HREQ_H

#include <stddef.h>

/* Methods, as a bit mask (the route table's column). */
enum hreq_method {
    HREQ_GET = 1 << 0,
    HREQ_POST = 1 << 1,
    HREQ_PUT = 1 << 2,
    HREQ_DELETE = 1 << 3,
    HREQ_HEAD = 1 << 4,
    HREQ_OTHER = 1 << 5,
};

/* Decodes %XX escapes of s[0..len) ('+' stays '+': paths, not forms) into
 * a new NUL-terminated buffer (*out, its length in *outlen, bytes may
 * include NUL).  DYN_EINVAL on a bad escape.  Caller frees *out. */
int hreq_pct_decode(const char *s, size_t len, char **out, size_t *outlen);

/* Matches path (no query string) against pattern, whose segments are
 * literal or ":name" (one non-empty segment, captured).  Returns 1 with
 * the decoded capture in *param (NULL when the pattern has none; caller
 * frees), 0 for no match, DYN_EINVAL for a bad escape in the capture. At
 * most one capture per pattern. */
int hreq_match(const char *pattern, const char *path, char **param,
               size_t *param_len);

/* The host part of a Host header value ("[::1]:8001" -> "::1",
 * "node:80" -> "node") into out; DYN_EINVAL when it does not fit or is
 * malformed. */
int hreq_host_part(const char *host, char *out, size_t outlen);

/* 1 when host (a Host header) names one of names[] (case-insensitive) or
 * is localhost / a loopback literal. */
int hreq_host_allowed(const char *host, const char *const *names,
                      size_t nnames);

/* 1 when origin (an Origin header) is http(s)://host[:port] with host as
 * hreq_host_allowed allows and port (default 80 / 443) equal to port:
 * this node's own http origin.  "null" and anything else: 0. */
int hreq_origin_allowed(const char *origin, const char *const *names,
                        size_t nnames, int port);

/* 1 when origin (an Origin header) is one of origins[], each
 * "http://host:port" (the http origins of the cluster's members, which
 * the caller learned from their INFO): scheme, host (without case) and
 * port equal, where a loopback host (localhost, 127.0.0.1, ::1) matches
 * any loopback host, since each names this same machine.  Such an origin
 * is allowed across origins (http.c answers it with its exact
 * Access-Control-Allow-Origin); a page of the cluster's own nodes may
 * call any node.  0 for anything else, "null" included. */
int hreq_origin_listed(const char *origin, const char *const *origins,
                       size_t norigins);

/* 1 when the Authorization header grants access: pass is NULL or empty,
 * or the header is "Bearer <pass>" or "Basic base64(<any user>:<pass>)".
 * The comparison takes the same time wherever the strings differ. */
int hreq_auth_ok(const char *authorization, const char *pass);

/* 1 when addr (a peer's numeric address as evhttp gives it) is loopback:
 * 127.0.0.0/8, ::1, or 127.x mapped into IPv6 -- protected mode serves
 * only these, as net.c does on the client port. */
int hreq_addr_is_loopback(const char *addr);

/* The Allow header for a method mask ("GET, PUT, DELETE"). */
void hreq_allow_text(unsigned methods, char *out, size_t outlen);

#endif
