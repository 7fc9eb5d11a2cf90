/*
 * rjson.h -- RESP replies and INFO text as JSON (jansson), and INFO
 * figures as Prometheus text: the conversions of the JSON API
 * (server/http/http.c runs real commands and hands their replies here).
 *
 * Why: the API answers with what the commands answered, through the same
 * request path as a RESP client, so the one thing to get right is the
 * conversion, and it is pure: bytes in, a json_t out.  JSON is built with
 * jansson only, never by printing strings.
 *
 * Mapping of RESP (2 and 3) to JSON: simple and bulk strings, verbatim
 * strings (their "txt:" prefix dropped) and big numbers are strings;
 * integers are integers; doubles are reals (inf and nan, which JSON has
 * not, are the strings "inf", "-inf", "nan"); booleans are booleans; null
 * bulks, null arrays and RESP3 nulls are null; arrays, sets and pushes are
 * arrays; maps are objects (a key that is not a string is written in
 * decimal); an error is the object {"error": "<text>"}; attributes are
 * skipped.  A string that is not valid UTF-8 has each bad byte replaced by
 * U+FFFD: JSON text is Unicode, and the API is for people reading keys
 * and values; a client that needs bytes uses RESP.
 *
 * Errors: NULL (or a negative enum dyn_err) for malformed or truncated
 * input; nothing is leaked.  Thread-safety: stateless.
 */
#ifndef DYN_RJSON_H
#define DYN_RJSON_H

#include <stddef.h>
#include <jansson.h>
#include "server/buf.h"

/* Nesting deeper than this is refused (our replies nest three deep). */
#define RJSON_MAX_DEPTH 32

/* A JSON string of p[0..len), invalid UTF-8 bytes replaced by U+FFFD. */
json_t *rjson_string(const char *p, size_t len);

/* One RESP value at p[0..len) as JSON; *used (may be NULL) gets the bytes
 * it took.  NULL when the bytes do not hold one whole value. */
json_t *rjson_reply(const char *p, size_t len, size_t *used);

/* A flat [name, value, ...] array (a RESP2 map: DYNAMO.TRACE's records
 * as a peer or a CLUSTER form sends them) as an object; a value that is
 * an array of such arrays (a trace's replicas) too.  New reference. */
json_t *rjson_pairs(json_t *a);

/* INFO text as {"section": {"field": value}}: section names in lower
 * case; a value that is a whole integer or decimal becomes a number; a
 * value of k=v pairs separated by commas ("keys=3,expires=0",
 * "p50=1.0,p99=2.0") becomes an object of them; anything else stays a
 * string. */
json_t *rjson_info(const char *text, size_t len);

/* Prometheus text (exposition format 0.0.4) of the numbers in nodes, an
 * object {"node name": rjson_info(...)}: one metric per section and field,
 * "dynamod_<section>_<field>" (a k=v object adds "_<k>"), each with a
 * sample per node labelled node="<name>".  Names keep [a-zA-Z0-9_] (others
 * become '_'); label values are escaped as the format says.  Samples of a
 * metric are together, metrics sorted by name. */
void rjson_metrics(json_t *nodes, struct dbuf *out);

#endif
