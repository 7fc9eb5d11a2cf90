/*
 * test_http.c -- the pure side of the JSON API: a path reaches the row it
 * names and its :key comes back decoded; only this node's own names pass
 * the Host and Origin checks (no CSRF, no DNS rebinding); the password is
 * taken as a bearer token or with HTTP Basic and any user; RESP replies
 * and INFO text become the JSON the API promises; INFO's numbers become
 * Prometheus text.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "server/http/hreq.h"
#include "server/http/rjson.h"
#include "server/util.h"

/* ---- paths --------------------------------------------------------------- */

START_TEST(path_matches_its_pattern_and_decodes_the_key)
{
    char *p;
    size_t pl;
    ck_assert_int_eq(hreq_match("/api/cluster", "/api/cluster", &p, &pl), 1);
    ck_assert_ptr_null(p);
    ck_assert_int_eq(hreq_match("/api/data/:key", "/api/data/cart%2042", &p,
                                &pl), 1);
    ck_assert_str_eq(p, "cart 42");
    ck_assert_uint_eq(pl, 7);
    free(p);
    /* a key may hold a slash or a NUL once decoded */
    ck_assert_int_eq(hreq_match("/api/data/:key", "/api/data/a%2Fb%00c", &p,
                                &pl), 1);
    ck_assert_uint_eq(pl, 5);
    ck_assert(memcmp(p, "a/b\0c", 5) == 0);
    free(p);
    ck_assert_int_eq(hreq_match("/api/nodes/:id/kill", "/api/nodes/n2/kill",
                                &p, &pl), 1);
    ck_assert_str_eq(p, "n2");
    free(p);
}
END_TEST

START_TEST(path_that_differs_does_not_match)
{
    char *p;
    size_t pl;
    ck_assert_int_eq(hreq_match("/api/data/:key", "/api/data", &p, &pl), 0);
    ck_assert_int_eq(hreq_match("/api/data/:key", "/api/data/", &p, &pl), 0);
    ck_assert_int_eq(hreq_match("/api/data/:key", "/api/data/a/b", &p, &pl),
                     0);
    ck_assert_int_eq(hreq_match("/api/cluster", "/api/cluster/", &p, &pl), 0);
    ck_assert_int_eq(hreq_match("/api/cluster", "/api/clusterx", &p, &pl), 0);
    ck_assert_int_eq(hreq_match("/api/ring", "/api/ring/key/k", &p, &pl), 0);
    ck_assert_int_eq(hreq_match("/metrics", "metrics", &p, &pl), 0);
    /* a broken escape is an error, not a match */
    ck_assert_int_eq(hreq_match("/api/data/:key", "/api/data/a%2", &p, &pl),
                     DYN_EINVAL);
    ck_assert_int_eq(hreq_match("/api/data/:key", "/api/data/%zz", &p, &pl),
                     DYN_EINVAL);
}
END_TEST

START_TEST(percent_decoding)
{
    char *d;
    size_t dl;
    ck_assert_int_eq(hreq_pct_decode("a+b%41%62", 9, &d, &dl), 0);
    ck_assert_str_eq(d, "a+bAb");
    free(d);
    ck_assert_int_eq(hreq_pct_decode("%", 1, &d, &dl), DYN_EINVAL);
    ck_assert_int_eq(hreq_pct_decode("%4", 2, &d, &dl), DYN_EINVAL);
}
END_TEST

START_TEST(allow_lists_the_methods)
{
    char a[64];
    hreq_allow_text(HREQ_GET | HREQ_PUT | HREQ_DELETE, a, sizeof(a));
    ck_assert_str_eq(a, "GET, PUT, DELETE");
    hreq_allow_text(HREQ_POST, a, sizeof(a));
    ck_assert_str_eq(a, "POST");
}
END_TEST

/* ---- access ---------------------------------------------------------------- */

static const char *const names[] = {"n1", "10.0.0.5", "fe80::1"};

START_TEST(host_must_name_this_node)
{
    ck_assert(hreq_host_allowed("localhost:8001", names, 3));
    ck_assert(hreq_host_allowed("127.0.0.1:8001", names, 3));
    ck_assert(hreq_host_allowed("[::1]:8001", names, 3));
    ck_assert(hreq_host_allowed("N1", names, 3));
    ck_assert(hreq_host_allowed("10.0.0.5:8001", names, 3));
    ck_assert(hreq_host_allowed("[fe80::1]", names, 3));
    /* DNS rebinding: a foreign name that resolves here */
    ck_assert(!hreq_host_allowed("evil.example:8001", names, 3));
    ck_assert(!hreq_host_allowed("localhost.evil.example", names, 3));
    ck_assert(!hreq_host_allowed("n1.evil", names, 3));
    ck_assert(!hreq_host_allowed("", names, 3));
    ck_assert(!hreq_host_allowed("n1:80x", names, 3));
    ck_assert(!hreq_host_allowed("[::1", names, 3));
}
END_TEST

START_TEST(origin_must_be_this_nodes_own)
{
    ck_assert(hreq_origin_allowed("http://127.0.0.1:8001", names, 3, 8001));
    ck_assert(hreq_origin_allowed("http://localhost:8001", names, 3, 8001));
    ck_assert(hreq_origin_allowed("http://[::1]:8001", names, 3, 8001));
    ck_assert(hreq_origin_allowed("http://n1", names, 3, 80));
    ck_assert(hreq_origin_allowed("https://n1", names, 3, 443));
    /* CSRF: another site, another port of this host, other schemes */
    ck_assert(!hreq_origin_allowed("http://evil.example", names, 3, 8001));
    ck_assert(!hreq_origin_allowed("http://127.0.0.1:3000", names, 3, 8001));
    ck_assert(!hreq_origin_allowed("http://127.0.0.1", names, 3, 8001));
    ck_assert(!hreq_origin_allowed("null", names, 3, 8001));
    ck_assert(!hreq_origin_allowed("file://", names, 3, 8001));
    ck_assert(!hreq_origin_allowed("http://127.0.0.1:8001/x", names, 3,
                                   8001));
    ck_assert(!hreq_origin_allowed("http://a@127.0.0.1:8001", names, 3,
                                   8001));
}
END_TEST

/* The page served by one member calls the others: their exact origins,
 * learned from INFO, are allowed; loopback names are one machine. */
START_TEST(member_origins_are_exact)
{
    const char *members[] = {"http://127.0.0.1:8002", "http://n3:8003",
                             "https://[::1]:8004"};
    ck_assert(hreq_origin_listed("http://127.0.0.1:8002", members, 3));
    ck_assert(hreq_origin_listed("http://localhost:8002", members, 3));
    ck_assert(hreq_origin_listed("http://N3:8003", members, 3));
    ck_assert(hreq_origin_listed("https://127.0.0.1:8004", members, 3));
    /* another port, scheme or host; malformed; nothing learned */
    ck_assert(!hreq_origin_listed("http://127.0.0.1:8003", members, 3));
    ck_assert(!hreq_origin_listed("https://127.0.0.1:8002", members, 3));
    ck_assert(!hreq_origin_listed("http://n3", members, 3));
    ck_assert(!hreq_origin_listed("http://n4:8003", members, 3));
    ck_assert(!hreq_origin_listed("http://evil.example:8002", members, 3));
    ck_assert(!hreq_origin_listed("http://127.0.0.1:8002/x", members, 3));
    ck_assert(!hreq_origin_listed("null", members, 3));
    ck_assert(!hreq_origin_listed("http://127.0.0.1:8002", members, 0));
}
END_TEST

START_TEST(protected_mode_knows_loopback_peers)
{
    ck_assert(hreq_addr_is_loopback("127.0.0.1"));
    ck_assert(hreq_addr_is_loopback("127.9.8.7"));
    ck_assert(hreq_addr_is_loopback("::1"));
    ck_assert(hreq_addr_is_loopback("::ffff:127.0.0.1"));
    ck_assert(!hreq_addr_is_loopback("10.0.0.1"));
    ck_assert(!hreq_addr_is_loopback("128.0.0.1"));
    ck_assert(!hreq_addr_is_loopback("::ffff:10.0.0.1"));
    ck_assert(!hreq_addr_is_loopback("fe80::1"));
    ck_assert(!hreq_addr_is_loopback("127.evil"));
    ck_assert(!hreq_addr_is_loopback(""));
}
END_TEST

START_TEST(password_by_bearer_or_basic)
{
    ck_assert(hreq_auth_ok(NULL, NULL));
    ck_assert(hreq_auth_ok(NULL, ""));
    ck_assert(!hreq_auth_ok(NULL, "s3cret"));
    ck_assert(hreq_auth_ok("Bearer s3cret", "s3cret"));
    ck_assert(!hreq_auth_ok("Bearer s3cre", "s3cret"));
    ck_assert(!hreq_auth_ok("Bearer s3cretx", "s3cret"));
    /* "anyone:s3cret" and ":s3cret" */
    ck_assert(hreq_auth_ok("Basic YW55b25lOnMzY3JldA==", "s3cret"));
    ck_assert(hreq_auth_ok("Basic OnMzY3JldA==", "s3cret"));
    /* "anyone:wrong", no colon, not base64 */
    ck_assert(!hreq_auth_ok("Basic YW55b25lOndyb25n", "s3cret"));
    ck_assert(!hreq_auth_ok("Basic czNjcmV0", "s3cret"));
    ck_assert(!hreq_auth_ok("Basic !!!", "s3cret"));
    ck_assert(!hreq_auth_ok("Digest s3cret", "s3cret"));
}
END_TEST

/* ---- RESP to JSON ------------------------------------------------------------ */

static char *reply_json(const char *resp)
{
    size_t used = 0;
    json_t *j = rjson_reply(resp, strlen(resp), &used);
    if (!j)
        return NULL;
    ck_assert_uint_eq(used, strlen(resp));
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    return s;
}

static void check_reply(const char *resp, const char *want)
{
    char *got = reply_json(resp);
    ck_assert_msg(got != NULL, "no JSON for %s", resp);
    ck_assert_str_eq(got, want);
    free(got);
}

START_TEST(resp_scalars)
{
    check_reply("+OK\r\n", "\"OK\"");
    check_reply(":-42\r\n", "-42");
    check_reply("$5\r\nhe\r\no\r\n", "\"he\\r\\no\"");
    check_reply("$-1\r\n", "null");
    check_reply("_\r\n", "null");
    check_reply("#t\r\n", "true");
    check_reply(",1.5\r\n", "1.5");
    check_reply(",inf\r\n", "\"inf\"");
    check_reply("=8\r\ntxt:a:bc\r\n", "\"a:bc\"");
    check_reply("-NOQUORUM 1 of 2\r\n", "{\"error\":\"NOQUORUM 1 of 2\"}");
}
END_TEST

START_TEST(resp_aggregates)
{
    /* DYNAMO.GET's shape */
    check_reply("*2\r\n$3\r\nctx\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n",
                "[\"ctx\",[\"a\",\"b\"]]");
    check_reply("*-1\r\n", "null");
    check_reply("%2\r\n$5\r\nepoch\r\n:3\r\n:7\r\n$1\r\nx\r\n",
                "{\"epoch\":3,\"7\":\"x\"}");
    check_reply("~1\r\n$1\r\na\r\n", "[\"a\"]");
    /* an attribute is skipped, the value after it kept */
    check_reply("|1\r\n$1\r\nk\r\n$1\r\nv\r\n:5\r\n", "5");
}
END_TEST

START_TEST(resp_malformed_is_null)
{
    static const char *const bad[] = {
        "", "+OK", "$5\r\nabc\r\n", "$3\r\nabcde\r\n", "*2\r\n:1\r\n",
        ":x\r\n", "?\r\n", "#x\r\n", "%1\r\n$1\r\nk\r\n", "=2\r\nab\r\n",
        "*99999999999\r\n"};
    for (size_t i = 0; i < DYN_ARRAY_LEN(bad); i++)
        ck_assert_msg(rjson_reply(bad[i], strlen(bad[i]), NULL) == NULL,
                      "accepted %s", bad[i]);
    /* nesting beyond the bound */
    char deep[4 * (RJSON_MAX_DEPTH + 4) + 8];
    size_t k = 0;
    for (int i = 0; i < RJSON_MAX_DEPTH + 4; i++) {
        memcpy(deep + k, "*1\r\n", 4);
        k += 4;
    }
    memcpy(deep + k, ":1\r\n", 4);
    k += 4;
    ck_assert_ptr_null(rjson_reply(deep, k, NULL));
}
END_TEST

START_TEST(invalid_utf8_is_replaced_not_dropped)
{
    json_t *s = rjson_string("a\xff" "b\xc3\xa9", 5);
    ck_assert_str_eq(json_string_value(s), "a\xef\xbf\xbd" "b\xc3\xa9");
    json_decref(s);
    /* an overlong encoding of '/' is not valid UTF-8 either */
    s = rjson_string("\xc0\xaf", 2);
    ck_assert_str_eq(json_string_value(s), "\xef\xbf\xbd\xef\xbf\xbd");
    json_decref(s);
}
END_TEST

/* ---- INFO ------------------------------------------------------------------------ */

static const char info_text[] =
    "# Memory\r\nused_memory:1024\r\nused_memory_human:1.00K\r\n\r\n"
    "# Keyspace\r\ndb0:keys=3,expires=0,avg_ttl=0\r\n\r\n"
    "# Dynamo\r\nnode_name:n1\r\nactor:00ab\r\nhints_pending:2\r\n"
    "latency_set:p50=12.000,p99=15.920\r\nrebalance_pending_driver:\r\n"
    "ratio:0.5\r\n";

START_TEST(info_text_becomes_sections_of_numbers)
{
    json_t *j = rjson_info(info_text, strlen(info_text));
    json_t *mem = json_object_get(j, "memory");
    ck_assert_int_eq(json_integer_value(json_object_get(mem, "used_memory")),
                     1024);
    ck_assert_str_eq(json_string_value(json_object_get(mem,
                                                       "used_memory_human")),
                     "1.00K");
    json_t *db0 = json_object_get(json_object_get(j, "keyspace"), "db0");
    ck_assert_int_eq(json_integer_value(json_object_get(db0, "keys")), 3);
    json_t *dy = json_object_get(j, "dynamo");
    ck_assert_str_eq(json_string_value(json_object_get(dy, "node_name")),
                     "n1");
    /* hex stays text: "00ab" is not a number */
    ck_assert_str_eq(json_string_value(json_object_get(dy, "actor")), "00ab");
    ck_assert_int_eq(json_integer_value(json_object_get(dy, "hints_pending")),
                     2);
    json_t *lat = json_object_get(dy, "latency_set");
    ck_assert(json_real_value(json_object_get(lat, "p99")) > 15.9);
    ck_assert_str_eq(json_string_value(json_object_get(
                         dy, "rebalance_pending_driver")), "");
    ck_assert(json_real_value(json_object_get(dy, "ratio")) == 0.5);
    json_decref(j);
}
END_TEST

START_TEST(metrics_have_one_sample_per_node)
{
    json_t *nodes = json_object();
    json_object_set_new(nodes, "n1", rjson_info(info_text, strlen(info_text)));
    const char *t2 = "# Dynamo\r\nhints_pending:5\r\n";
    json_object_set_new(nodes, "n\"2", rjson_info(t2, strlen(t2)));
    struct dbuf out;
    dbuf_init(&out);
    rjson_metrics(nodes, &out);
    dbuf_appendc(&out, '\0');
    const char *m = out.p;
    ck_assert_ptr_nonnull(strstr(m, "# TYPE dynamod_dynamo_hints_pending "
                                    "untyped\n"
                                    "dynamod_dynamo_hints_pending{node=\"n1\"}"
                                    " 2\n"
                                    "dynamod_dynamo_hints_pending{node="
                                    "\"n\\\"2\"} 5\n"));
    ck_assert_ptr_nonnull(strstr(m, "dynamod_keyspace_db0_keys{node=\"n1\"} "
                                    "3\n"));
    ck_assert_ptr_nonnull(strstr(m, "dynamod_dynamo_latency_set_p99{node="
                                    "\"n1\"} 15.92"));
    /* text is not a metric */
    ck_assert_ptr_null(strstr(m, "node_name"));
    ck_assert_ptr_null(strstr(m, "used_memory_human"));
    /* metrics sorted by name: dynamo before keyspace before memory */
    ck_assert(strstr(m, "dynamod_dynamo_") < strstr(m, "dynamod_keyspace_"));
    ck_assert(strstr(m, "dynamod_keyspace_") < strstr(m, "dynamod_memory_"));
    dbuf_free(&out);
    json_decref(nodes);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, path_matches_its_pattern_and_decodes_the_key);
    tcase_add_test(tc, path_that_differs_does_not_match);
    tcase_add_test(tc, percent_decoding);
    tcase_add_test(tc, allow_lists_the_methods);
    tcase_add_test(tc, host_must_name_this_node);
    tcase_add_test(tc, origin_must_be_this_nodes_own);
    tcase_add_test(tc, member_origins_are_exact);
    tcase_add_test(tc, protected_mode_knows_loopback_peers);
    tcase_add_test(tc, password_by_bearer_or_basic);
    tcase_add_test(tc, resp_scalars);
    tcase_add_test(tc, resp_aggregates);
    tcase_add_test(tc, resp_malformed_is_null);
    tcase_add_test(tc, invalid_utf8_is_replaced_not_dropped);
    tcase_add_test(tc, info_text_becomes_sections_of_numbers);
    tcase_add_test(tc, metrics_have_one_sample_per_node);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
