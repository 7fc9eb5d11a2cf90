/*
 * test_config.c -- the configuration table, as a user meets it: defaults,
 * the config file, the command line, CONFIG GET and CONFIG SET, and the
 * cross-field rules.  Error texts are asserted because users read them and
 * clients match on CONFIG SET's (Redis 7.0's wording).
 */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster/quorum.h"
#include "server/buf.h"
#include "server/config.h"
#include "server/log.h"
#include "server/util.h"

/* ---- helpers ----------------------------------------------------------- */

static struct config cfg;
static struct dbuf err;

static void setup(void)
{
    config_init_defaults(&cfg);
    dbuf_init(&err);
}

static void teardown(void)
{
    config_free(&cfg);
    dbuf_free(&err);
}

static const char *errs(void)
{
    return err.p ? err.p : "";
}

static int load(const char *text)
{
    dbuf_reset(&err);
    return config_load_string(&cfg, text, "t.conf", &err);
}

static int set(const char *name, const char *value)
{
    dbuf_reset(&err);
    return config_set(&cfg, name, value, &err);
}

#define GOT_MAX 128 /* more than the table's options */
struct got {
    int n;
    char names[GOT_MAX][64];
    char values[GOT_MAX][128];
};

static void collect(void *ctx, const char *name, const char *value)
{
    struct got *g = ctx;
    ck_assert_int_lt(g->n, GOT_MAX);
    snprintf(g->names[g->n], sizeof(g->names[0]), "%s", name);
    snprintf(g->values[g->n], sizeof(g->values[0]), "%s", value);
    g->n++;
}

static struct got get(const char *pattern)
{
    struct got g;
    memset(&g, 0, sizeof(g));
    config_get(&cfg, pattern, strlen(pattern), collect, &g);
    return g;
}

/* The value CONFIG GET shows for an exact name. */
static const char *getv(const char *name)
{
    static char buf[128];
    struct got g = get(name);
    ck_assert_msg(g.n == 1, "CONFIG GET %s gave %d results", name, g.n);
    snprintf(buf, sizeof(buf), "%s", g.values[0]);
    return buf;
}

/* ---- defaults ---------------------------------------------------------- */

START_TEST(defaults_match_the_header)
{
    ck_assert_str_eq(cfg.bind, "127.0.0.1");
    ck_assert_int_eq(cfg.port, 7001);
    ck_assert_int_eq(cfg.protected_mode, 1);
    ck_assert_int_eq(cfg.tcp_backlog, 511);
    ck_assert_int_eq(cfg.maxclients, 10000);
    ck_assert_int_eq(cfg.timeout, 0);
    ck_assert_int_eq(cfg.tcp_keepalive, 300);
    ck_assert_str_eq(cfg.requirepass, "");
    ck_assert(cfg.proto_max_bulk_len == 512LL * 1024 * 1024);
    ck_assert(cfg.client_query_buffer_limit == 1024LL * 1024 * 1024);
    ck_assert(cfg.client_output_buffer_limit == 256LL * 1024 * 1024);
    ck_assert_str_eq(cfg.node_name, "");
    ck_assert_str_eq(cfg.dir, ".");
    ck_assert_str_eq(cfg.logfile, "");
    ck_assert_int_eq(cfg.loglevel, DLOG_NOTICE);
    ck_assert_str_eq(cfg.pidfile, "");
    ck_assert_int_eq(cfg.hz, 10);
    ck_assert_int_eq(cfg.daemonize, 0);
    ck_assert_int_eq(cfg.databases, 1);
    ck_assert_int_eq(cfg.ring_partitions, 256);
    ck_assert_int_eq(cfg.vclock_max_entries, 10);
    ck_assert_int_eq(cfg.max_siblings, 100);
    ck_assert_int_eq(cfg.conflict_policy, CONFLICT_SIBLINGS);
    ck_assert_int_eq(cfg.tombstone_grace_s, 60);
    ck_assert_int_eq(cfg.active_expire, 1);
    ck_assert_int_eq(cfg.n, 3);
    ck_assert_int_eq(cfg.r, 2);
    ck_assert_int_eq(cfg.w, 2);
    ck_assert_int_eq(cfg.appendfsync, FSYNC_EVERYSEC);
    ck_assert_int_eq(cfg.trace_max, 128);
    ck_assert_int_eq(cfg.event_max, 1024);
    ck_assert_int_eq(cfg.version_history, 0);
    ck_assert_int_eq(cfg.version_history_keys, 1024);
}
END_TEST

START_TEST(defaults_are_valid_and_node_name_follows_the_port)
{
    struct dbuf warn;
    dbuf_init(&warn);
    ck_assert_int_eq(load("port 7005\n"), 0);
    ck_assert_str_eq(getv("node-name"), "node-7005");
    config_finalize(&cfg);
    ck_assert_str_eq(cfg.node_name, "node-7005");
    ck_assert_int_eq(config_validate(&cfg, &err, &warn), 0);
    ck_assert_uint_eq(warn.len, 0);
    /* an explicit name is kept */
    ck_assert_int_eq(load("node-name alpha\n"), 0);
    config_finalize(&cfg);
    ck_assert_str_eq(cfg.node_name, "alpha");
    dbuf_free(&warn);
}
END_TEST

START_TEST(free_releases_and_is_idempotent)
{
    config_free(&cfg);
    ck_assert_ptr_null(cfg.bind);
    ck_assert_ptr_null(cfg.dir);
    config_free(&cfg);
    config_free(NULL);
    config_init_defaults(&cfg); /* for teardown */
}
END_TEST

/* ---- file syntax ------------------------------------------------------- */

START_TEST(file_comments_blank_lines_and_case)
{
    ck_assert_int_eq(load("# a comment\n"
                          "\n"
                          "   \t\n"
                          "  # indented comment\n"
                          "PORT 7002\n"
                          "  Tcp-KeepAlive   60  \r\n"
                          "protected-mode NO\n"
                          "appendfsync ALWAYS\n"
                          "conflict-policy LWW"), /* no final newline */
                     0);
    ck_assert_int_eq(cfg.port, 7002);
    ck_assert_int_eq(cfg.tcp_keepalive, 60);
    ck_assert_int_eq(cfg.protected_mode, 0);
    ck_assert_int_eq(cfg.appendfsync, FSYNC_ALWAYS);
    ck_assert_int_eq(cfg.conflict_policy, CONFLICT_LWW);
}
END_TEST

START_TEST(file_later_lines_win)
{
    ck_assert_int_eq(load("port 7002\nport 7003\n"), 0);
    ck_assert_int_eq(cfg.port, 7003);
}
END_TEST

START_TEST(file_quoting_and_escapes)
{
    ck_assert_int_eq(load("requirepass \"a b\\\"c\\n\\x41\"\n"), 0);
    ck_assert_str_eq(cfg.requirepass, "a b\"c\nA");
    ck_assert_int_eq(load("requirepass 'it\\'s \\n'\n"), 0);
    ck_assert_str_eq(cfg.requirepass, "it's \\n");
    ck_assert_int_eq(load("requirepass \"\"\n"), 0);
    ck_assert_str_eq(cfg.requirepass, "");
    ck_assert_int_eq(load("logfile \"/tmp/with space.log\"\n"), 0);
    ck_assert_str_eq(cfg.logfile, "/tmp/with space.log");
    /* quoted names work too */
    ck_assert_int_eq(load("\"port\" '7009'\n"), 0);
    ck_assert_int_eq(cfg.port, 7009);
}
END_TEST

START_TEST(file_unbalanced_quotes_name_the_line)
{
    ck_assert_int_lt(load("port 7002\nrequirepass \"abc\n"), 0);
    ck_assert_str_eq(errs(),
                     "t.conf:2: unbalanced quotes in 'requirepass \"abc'");
    ck_assert_int_lt(load("requirepass \"abc\"def\n"), 0);
    ck_assert_str_eq(errs(),
                     "t.conf:1: unbalanced quotes in 'requirepass \"abc\"def'");
    ck_assert_int_lt(load("requirepass 'abc\n"), 0);
    ck_assert_ptr_nonnull(strstr(errs(), "t.conf:1: unbalanced quotes"));
}
END_TEST

START_TEST(file_unknown_option_names_file_and_line)
{
    ck_assert_int_lt(load("port 7002\n\n# c\nprot 5\n"), 0);
    ck_assert_str_eq(errs(), "t.conf:4: unknown option 'prot'");
    /* lines before the bad one were applied; the caller exits anyway */
    ck_assert_int_eq(cfg.port, 7002);
}
END_TEST

START_TEST(file_bad_values_name_line_option_and_rule)
{
    ck_assert_int_lt(load("\n\nport abc\n"), 0);
    ck_assert_str_eq(errs(), "t.conf:3: invalid value for 'port': 'abc' "
                             "(must be an integer between 0 and 65535)");
    ck_assert_int_lt(load("port 65536\n"), 0);
    ck_assert_str_eq(errs(), "t.conf:1: invalid value for 'port': '65536' "
                             "(must be an integer between 0 and 65535)");
    ck_assert_int_lt(load("daemonize maybe\n"), 0);
    ck_assert_str_eq(errs(), "t.conf:1: invalid value for 'daemonize': "
                             "'maybe' (argument must be 'yes' or 'no')");
    ck_assert_int_lt(load("appendfsync sometimes\n"), 0);
    ck_assert_str_eq(errs(), "t.conf:1: invalid value for 'appendfsync': "
                             "'sometimes' (argument(s) must be one of the "
                             "following: everysec, always, no)");
    ck_assert_int_lt(load("proto-max-bulk-len 5q\n"), 0);
    ck_assert_ptr_nonnull(strstr(errs(), "t.conf:1: invalid value for "
                                         "'proto-max-bulk-len': '5q' "
                                         "(must be a size in bytes"));
    ck_assert_int_lt(load("proto-max-bulk-len 1000\n"), 0);
    ck_assert_str_eq(errs(), "t.conf:1: invalid value for "
                             "'proto-max-bulk-len': '1000' (must be between "
                             "1048576 and 9223372036854775807 bytes)");
    ck_assert_int_lt(load("ring-partitions 100\n"), 0);
    ck_assert_str_eq(errs(), "t.conf:1: invalid value for 'ring-partitions'"
                             ": '100' (argument must be a power of two "
                             "between 16 and 65536 inclusive)");
    ck_assert_int_lt(load("dir \"\"\n"), 0);
    ck_assert_str_eq(errs(), "t.conf:1: invalid value for 'dir': '' "
                             "(argument must not be empty)");
    ck_assert_int_lt(load("node-name 'a b'\n"), 0);
    ck_assert_ptr_nonnull(strstr(errs(), "t.conf:1: invalid value for "
                                         "'node-name': 'a b' (node name"));
}
END_TEST

START_TEST(file_wrong_number_of_values)
{
    ck_assert_int_lt(load("port 1 2\n"), 0);
    ck_assert_str_eq(errs(), "t.conf:1: wrong number of values for 'port': "
                             "'port' takes exactly one value, got 2");
    ck_assert_int_lt(load("port\n"), 0);
    ck_assert_str_eq(errs(), "t.conf:1: wrong number of values for 'port': "
                             "a value is required");
    ck_assert_int_lt(load("port 7002 # the port\n"), 0);
    ck_assert_ptr_nonnull(strstr(errs(), "t.conf:1: wrong number of values"));
    ck_assert_ptr_nonnull(strstr(errs(), "comments must be on a line"));
}
END_TEST

START_TEST(file_missing_file_is_an_io_error)
{
    dbuf_reset(&err);
    ck_assert_int_eq(config_load_file(&cfg, "/nonexistent/x.conf", &err),
                     DYN_EIO);
    ck_assert_str_eq(errs(), "/nonexistent/x.conf: cannot open config "
                             "file: No such file or directory");
}
END_TEST

START_TEST(file_errors_use_the_path)
{
    char dir[] = "/tmp/test_config.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/x.conf", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("port 7010\nhz 20\n\nmaxclients many\n", f);
    fclose(f);
    dbuf_reset(&err);
    ck_assert_int_eq(config_load_file(&cfg, path, &err), DYN_EINVAL);
    char want[512];
    snprintf(want, sizeof(want), "%s:4: invalid value for 'maxclients': "
             "'many' (must be an integer between 1 and 2147483647)", path);
    ck_assert_str_eq(errs(), want);
    ck_assert_int_eq(cfg.hz, 20);
    unlink(path);
    rmdir(dir);
}
END_TEST

/* ---- types and limits -------------------------------------------------- */

START_TEST(sizes_use_redis_units)
{
    static const struct {
        const char *in;
        long long out;
    } cases[] = {
        {"0", 0},
        {"1500", 1500},
        {"1b", 1},
        {"1k", 1000},
        {"1K", 1000},
        {"1kb", 1024},
        {"1KB", 1024},
        {"2m", 2000000},
        {"2mb", 2LL * 1024 * 1024},
        {"3g", 3000000000LL},
        {"3Gb", 3LL * 1024 * 1024 * 1024},
        {"9223372036854775807", LLONG_MAX},
    };
    for (size_t i = 0; i < DYN_ARRAY_LEN(cases); i++) {
        char line[128];
        snprintf(line, sizeof(line), "client-output-buffer-limit %s\n",
                 cases[i].in);
        ck_assert_msg(load(line) == 0, "%s: %s", cases[i].in, errs());
        ck_assert_msg(cfg.client_output_buffer_limit == cases[i].out,
                      "%s -> %lld", cases[i].in,
                      cfg.client_output_buffer_limit);
    }
    static const char *bad[] = {"", "k", "-1", "+5", "1.5", "1 k", "1kib",
                                "5q", "9223372036854775808",
                                "9999999999gb"};
    for (size_t i = 0; i < DYN_ARRAY_LEN(bad); i++) {
        ck_assert_msg(set("proto-max-bulk-len", bad[i]) < 0, "'%s'", bad[i]);
    }
}
END_TEST

START_TEST(integers_are_strict)
{
    static const char *bad[] = {"", " 5", "5 ", "+5", "05", "0x10", "1e3",
                                "5k", "abc", "99999999999999999999"};
    for (size_t i = 0; i < DYN_ARRAY_LEN(bad); i++) {
        ck_assert_msg(set("maxclients", bad[i]) < 0, "'%s'", bad[i]);
        ck_assert_str_eq(errs(), "CONFIG SET failed (possibly related to "
                                 "argument 'maxclients') - argument couldn't "
                                 "be parsed into an integer");
    }
    ck_assert_int_eq(cfg.maxclients, 10000);
}
END_TEST

START_TEST(integer_limits_are_inclusive)
{
    ck_assert_int_eq(load("port 0\n"), 0);
    ck_assert_int_eq(load("port 65535\n"), 0);
    ck_assert_int_lt(load("port -1\n"), 0);
    ck_assert_int_eq(load("maxclients 1\n"), 0);
    ck_assert_int_lt(load("maxclients 0\n"), 0);
    ck_assert_int_eq(load("maxclients 2147483647\n"), 0);
    ck_assert_int_lt(load("maxclients 2147483648\n"), 0);
    ck_assert_int_eq(load("ring-partitions 16\n"), 0);
    ck_assert_int_eq(load("ring-partitions 65536\n"), 0);
    ck_assert_int_eq(cfg.ring_partitions, 65536);
    ck_assert_int_lt(load("ring-partitions 8\n"), 0);
    ck_assert_int_lt(load("ring-partitions 131072\n"), 0);
    ck_assert_int_lt(load("ring-partitions 48\n"), 0);
    ck_assert_int_eq(load("trace-max 0\n"), 0);
    ck_assert_int_lt(load("trace-max -1\n"), 0);
    ck_assert_int_eq(load("event-max 0\n"), 0);
    ck_assert_int_lt(load("event-max 1000001\n"), 0);
    ck_assert_int_eq(load("version-history 0\n"), 0);
    ck_assert_int_lt(load("version-history 1025\n"), 0);
    ck_assert_int_lt(load("version-history-keys 0\n"), 0);
    ck_assert_int_lt(load("version-history-keys 1000001\n"), 0);
    ck_assert_int_eq(load("n 1\nr 1\nw 1\n"), 0);
    ck_assert_int_lt(load("n 0\n"), 0);
    ck_assert_int_eq(load("proto-max-bulk-len 1mb\n"), 0);
    ck_assert_int_lt(load("proto-max-bulk-len 1048575\n"), 0);
    ck_assert_int_lt(load("client-query-buffer-limit 1000000\n"), 0);
    ck_assert_int_eq(load("client-output-buffer-limit 0\n"), 0);
    ck_assert_int_eq(cfg.client_output_buffer_limit, 0);
}
END_TEST

START_TEST(hz_is_clamped_like_redis)
{
    ck_assert_int_eq(set("hz", "0"), 0);
    ck_assert_int_eq(cfg.hz, 1);
    ck_assert_int_eq(set("hz", "1000"), 0);
    ck_assert_int_eq(cfg.hz, 500);
    ck_assert_str_eq(getv("hz"), "500");
    ck_assert_int_lt(set("hz", "-1"), 0);
    ck_assert_str_eq(errs(), "CONFIG SET failed (possibly related to "
                             "argument 'hz') - argument must be between 0 "
                             "and 2147483647 inclusive");
}
END_TEST

START_TEST(booleans_and_enums_ignore_case)
{
    ck_assert_int_eq(load("active-expire No\nloglevel DEBUG\n"), 0);
    ck_assert_int_eq(cfg.active_expire, 0);
    ck_assert_int_eq(cfg.loglevel, DLOG_DEBUG);
    ck_assert_str_eq(getv("active-expire"), "no");
    ck_assert_str_eq(getv("loglevel"), "debug");
    ck_assert_int_eq(load("loglevel warning\nappendfsync no\n"), 0);
    ck_assert_int_eq(cfg.loglevel, DLOG_WARNING);
    ck_assert_int_eq(cfg.appendfsync, FSYNC_NO);
    ck_assert_int_lt(load("active-expire 1\n"), 0);
    ck_assert_int_lt(load("loglevel nothing\n"), 0);
}
END_TEST

START_TEST(bind_takes_several_addresses)
{
    ck_assert_int_eq(load("bind 127.0.0.1   ::1\n"), 0);
    ck_assert_str_eq(cfg.bind, "127.0.0.1 ::1");
    ck_assert_str_eq(getv("bind"), "127.0.0.1 ::1");
    ck_assert_int_lt(load("bind\n"), 0);
}
END_TEST

START_TEST(output_limit_also_takes_redis_class_form)
{
    ck_assert_int_eq(load("client-output-buffer-limit normal 64mb 0 0 "
                          "replica 256mb 64mb 60 pubsub 32mb 8mb 60\n"), 0);
    ck_assert(cfg.client_output_buffer_limit == 64LL * 1024 * 1024);
    ck_assert_str_eq(getv("client-output-buffer-limit"), "67108864");
    ck_assert_int_eq(set("client-output-buffer-limit", "normal 1k 0 0"), 0);
    ck_assert_int_eq(cfg.client_output_buffer_limit, 1000);
    ck_assert_int_lt(set("client-output-buffer-limit", "normal 1k 0"), 0);
    ck_assert_int_lt(set("client-output-buffer-limit", "pubsub 1k 0 0"), 0);
    ck_assert_int_lt(set("client-output-buffer-limit", "bogus 1k 0 0"), 0);
    ck_assert_int_lt(set("client-output-buffer-limit", "lots"), 0);
    ck_assert_int_eq(cfg.client_output_buffer_limit, 1000);
}
END_TEST

/* ---- command line ------------------------------------------------------ */

static int argv_load(int argc, char **argv, int start)
{
    dbuf_reset(&err);
    return config_load_argv(&cfg, argc, argv, start, &err);
}

START_TEST(argv_pairs_and_multiword_values)
{
    char *argv[] = {"dynamod", "x.conf", "--port", "7002", "--bind",
                    "127.0.0.1", "::1", "--tcp-keepalive", "-0", "--hz",
                    "20", "--requirepass", ""};
    /* "-0" is not "--"-prefixed so it is a value, and a bad one */
    ck_assert_int_lt(argv_load(13, argv, 2), 0);
    ck_assert_str_eq(errs(), "--tcp-keepalive: invalid value '-0' (must be "
                             "an integer between 0 and 2147483647)");
    argv[8] = "0";
    ck_assert_int_eq(argv_load(13, argv, 2), 0);
    ck_assert_int_eq(cfg.port, 7002);
    ck_assert_str_eq(cfg.bind, "127.0.0.1 ::1");
    ck_assert_int_eq(cfg.tcp_keepalive, 0);
    ck_assert_int_eq(cfg.hz, 20);
    ck_assert_str_eq(cfg.requirepass, "");
    /* nothing after start is fine */
    ck_assert_int_eq(argv_load(2, argv, 2), 0);
}
END_TEST

START_TEST(argv_errors_name_the_option)
{
    char *a1[] = {"dynamod", "--prot", "5"};
    ck_assert_int_lt(argv_load(3, a1, 1), 0);
    ck_assert_str_eq(errs(), "--prot: unknown option 'prot'");
    char *a2[] = {"dynamod", "--port", "abc"};
    ck_assert_int_lt(argv_load(3, a2, 1), 0);
    ck_assert_str_eq(errs(), "--port: invalid value 'abc' (must be an "
                             "integer between 0 and 65535)");
    char *a3[] = {"dynamod", "--port", "--hz", "5"};
    ck_assert_int_lt(argv_load(4, a3, 1), 0);
    ck_assert_str_eq(errs(), "--port: a value is required");
    char *a4[] = {"dynamod", "--daemonize"};
    ck_assert_int_lt(argv_load(2, a4, 1), 0);
    ck_assert_str_eq(errs(), "--daemonize: a value is required");
    char *a5[] = {"dynamod", "7002"};
    ck_assert_int_lt(argv_load(2, a5, 1), 0);
    ck_assert_str_eq(errs(), "unexpected argument '7002': options are given "
                             "as --name value");
    char *a6[] = {"dynamod", "--port", "1", "2"};
    ck_assert_int_lt(argv_load(4, a6, 1), 0);
    ck_assert_str_eq(errs(), "--port: 'port' takes exactly one value, got 2");
    char *a7[] = {"dynamod", "--PORT", "7003"};
    ck_assert_int_eq(argv_load(3, a7, 1), 0);
    ck_assert_int_eq(cfg.port, 7003);
}
END_TEST

/* ---- CONFIG GET -------------------------------------------------------- */

START_TEST(get_renders_like_redis)
{
    ck_assert_str_eq(getv("port"), "7001");
    ck_assert_str_eq(getv("protected-mode"), "yes");
    ck_assert_str_eq(getv("proto-max-bulk-len"), "536870912");
    ck_assert_str_eq(getv("client-query-buffer-limit"), "1073741824");
    ck_assert_str_eq(getv("conflict-policy"), "siblings");
    ck_assert_str_eq(getv("appendfsync"), "everysec");
    ck_assert_str_eq(getv("storage"), "disk");
    ck_assert_str_eq(getv("segment-max-bytes"), "67108864");
    ck_assert_str_eq(getv("compact-ratio"), "0.5");
    ck_assert_str_eq(getv("value-cache"), "no");
    ck_assert_str_eq(getv("loglevel"), "notice");
    ck_assert_str_eq(getv("requirepass"), "");
    ck_assert_str_eq(getv("daemonize"), "no");
    ck_assert_str_eq(getv("tls-port"), "0");
    ck_assert_str_eq(getv("http-port"), "0");
    ck_assert_str_eq(getv("http-max-connections"), "128");
    ck_assert_str_eq(getv("http-stream-max"), "8");
    ck_assert_str_eq(getv("tls-cert-file"), "");
    ck_assert_str_eq(getv("tls-auth-clients"), "yes");
    ck_assert_str_eq(getv("tls-cluster"), "no");
}
END_TEST

START_TEST(get_with_globs)
{
    struct got g = get("*");
    ck_assert_int_eq(g.n, 67); /* every option in struct config */
    g = get("p*");
    ck_assert_int_eq(g.n, 4);
    ck_assert_str_eq(g.names[0], "port");
    ck_assert_str_eq(g.names[1], "protected-mode");
    ck_assert_str_eq(g.names[2], "proto-max-bulk-len");
    ck_assert_str_eq(g.names[3], "pidfile");
    g = get("?");
    ck_assert_int_eq(g.n, 3);
    ck_assert_str_eq(g.names[0], "n");
    ck_assert_str_eq(g.names[1], "r");
    ck_assert_str_eq(g.names[2], "w");
    g = get("[nr]");
    ck_assert_int_eq(g.n, 2);
    g = get("*LIMIT");
    ck_assert_int_eq(g.n, 2);
    ck_assert_str_eq(g.names[0], "client-query-buffer-limit");
    ck_assert_str_eq(g.names[1], "client-output-buffer-limit");
    g = get("nosuch*");
    ck_assert_int_eq(g.n, 0);
    g = get("nosuch");
    ck_assert_int_eq(g.n, 0);
}
END_TEST

START_TEST(get_exact_name_keeps_the_callers_spelling)
{
    struct got g = get("PORT");
    ck_assert_int_eq(g.n, 1);
    ck_assert_str_eq(g.names[0], "PORT");
    ck_assert_str_eq(g.values[0], "7001");
    /* the pattern need not be NUL-terminated */
    memset(&g, 0, sizeof(g));
    config_get(&cfg, "hzXYZ", 2, collect, &g);
    ck_assert_int_eq(g.n, 1);
    ck_assert_str_eq(g.names[0], "hz");
}
END_TEST

/* ---- CONFIG SET -------------------------------------------------------- */

START_TEST(set_runtime_options)
{
    ck_assert_int_eq(set("maxclients", "50"), 0);
    ck_assert_int_eq(cfg.maxclients, 50);
    ck_assert_int_eq(set("MaxClients", "60"), 0);
    ck_assert_int_eq(cfg.maxclients, 60);
    ck_assert_int_eq(set("requirepass", "s3cret pass"), 0);
    ck_assert_str_eq(cfg.requirepass, "s3cret pass");
    ck_assert_int_eq(set("proto-max-bulk-len", "2mb"), 0);
    ck_assert_str_eq(getv("proto-max-bulk-len"), "2097152");
    ck_assert_int_eq(set("loglevel", "verbose"), 0);
    ck_assert_int_eq(cfg.loglevel, DLOG_VERBOSE);
    ck_assert_int_eq(set("conflict-policy", "lww"), 0);
    ck_assert_int_eq(cfg.conflict_policy, CONFLICT_LWW);
    ck_assert_int_eq(set("active-expire", "no"), 0);
    ck_assert_int_eq(cfg.active_expire, 0);
    ck_assert_int_eq(set("appendfsync", "always"), 0);
    ck_assert_int_eq(cfg.appendfsync, FSYNC_ALWAYS);
    ck_assert_int_eq(set("compact-ratio", "0.25"), 0);
    ck_assert_int_eq(cfg.compact_ratio_pm, 250);
    ck_assert_str_eq(getv("compact-ratio"), "0.25");
    ck_assert_int_lt(set("compact-ratio", "1.5"), 0);
    ck_assert_int_lt(set("compact-ratio", "half"), 0);
    ck_assert_int_eq(cfg.compact_ratio_pm, 250);
}
END_TEST

START_TEST(set_errors_use_redis_wording)
{
    ck_assert_int_eq(set("nosuch", "1"), DYN_ENOTFOUND);
    ck_assert_str_eq(errs(), "Unknown option or number of arguments for "
                             "CONFIG SET - 'nosuch'");
    static const char *immutable[] = {"daemonize", "port", "bind",
                                      "databases", "ring-partitions",
                                      "node-name", "dir", "logfile",
                                      "pidfile", "tcp-backlog", "trace-max"};
    for (size_t i = 0; i < DYN_ARRAY_LEN(immutable); i++) {
        char want[256];
        ck_assert_int_eq(set(immutable[i], "1"), DYN_EINVAL);
        snprintf(want, sizeof(want), "CONFIG SET failed (possibly related "
                 "to argument '%s') - can't set immutable config",
                 immutable[i]);
        ck_assert_str_eq(errs(), want);
        ck_assert(!config_is_runtime(immutable[i]));
    }
    ck_assert_int_lt(set("maxclients", "-5"), 0);
    ck_assert_str_eq(errs(), "CONFIG SET failed (possibly related to "
                             "argument 'maxclients') - argument must be "
                             "between 1 and 2147483647 inclusive");
    ck_assert_int_lt(set("protected-mode", "maybe"), 0);
    ck_assert_str_eq(errs(), "CONFIG SET failed (possibly related to "
                             "argument 'protected-mode') - argument must be "
                             "'yes' or 'no'");
    ck_assert_int_lt(set("appendfsync", "sometimes"), 0);
    ck_assert_str_eq(errs(), "CONFIG SET failed (possibly related to "
                             "argument 'appendfsync') - argument(s) must be "
                             "one of the following: everysec, always, no");
    ck_assert_int_lt(set("loglevel", "foo"), 0);
    ck_assert_str_eq(errs(), "CONFIG SET failed (possibly related to "
                             "argument 'loglevel') - argument(s) must be one "
                             "of the following: debug, verbose, notice, "
                             "warning");
    ck_assert_int_lt(set("proto-max-bulk-len", "1x"), 0);
    ck_assert_str_eq(errs(), "CONFIG SET failed (possibly related to "
                             "argument 'proto-max-bulk-len') - argument "
                             "must be a memory value");
    ck_assert_int_lt(set("proto-max-bulk-len", "10"), 0);
    ck_assert_str_eq(errs(), "CONFIG SET failed (possibly related to "
                             "argument 'proto-max-bulk-len') - argument "
                             "must be between 1048576 and "
                             "9223372036854775807 inclusive");
    ck_assert_int_lt(set("timeout", "-1"), 0);
    ck_assert_str_eq(errs(), "CONFIG SET failed (possibly related to "
                             "argument 'timeout') - argument must be "
                             "between 0 and 2147483647 inclusive");
    /* nothing changed */
    ck_assert_int_eq(cfg.maxclients, 10000);
    ck_assert_int_eq(cfg.protected_mode, 1);
    ck_assert(cfg.proto_max_bulk_len == 512LL * 1024 * 1024);
    /* err text never starts with ERR: the handler adds it */
    ck_assert(strncmp(errs(), "ERR", 3) != 0);
}
END_TEST

START_TEST(set_keeps_quorum_rules)
{
    ck_assert_int_eq(set("w", "3"), 0);
    ck_assert_int_lt(set("w", "4"), 0);
    ck_assert_str_eq(errs(), "CONFIG SET failed (possibly related to "
                             "argument 'w') - w (4) must not be greater "
                             "than n (3)");
    ck_assert_int_eq(cfg.w, 3);
    ck_assert_int_lt(set("n", "2"), 0);
    ck_assert_str_eq(errs(), "CONFIG SET failed (possibly related to "
                             "argument 'n') - w (3) must not be greater "
                             "than n (2)");
    ck_assert_int_eq(cfg.n, 3);
    ck_assert_int_lt(set("R", "5"), 0);
    ck_assert_str_eq(errs(), "CONFIG SET failed (possibly related to "
                             "argument 'R') - r (5) must not be greater "
                             "than n (3)");
    ck_assert_int_eq(cfg.r, 2);
}
END_TEST

/* The coordinator tracks at most QUORUM_MAX (16) replicas per request: an n
 * above it is refused where it is set, not clamped where it is used. */
START_TEST(n_above_what_a_quorum_tracks_is_refused)
{
    ck_assert_int_eq(QUORUM_MAX, 16);
    ck_assert_int_lt(load("r 1\nw 1\nn 17\n"), 0);
    ck_assert_str_eq(errs(), "t.conf:3: invalid value for 'n': '17' "
                             "(must be an integer between 1 and 16)");
    ck_assert_int_lt(load("n 64\n"), 0);
    ck_assert_str_eq(errs(), "t.conf:1: invalid value for 'n': '64' "
                             "(must be an integer between 1 and 16)");
    ck_assert_int_eq(load("n 16\n"), 0);
    ck_assert_int_eq(cfg.n, 16);

    ck_assert_int_lt(set("n", "17"), 0);
    ck_assert_str_eq(errs(), "CONFIG SET failed (possibly related to "
                             "argument 'n') - argument must be between 1 "
                             "and 16 inclusive");
    ck_assert_int_eq(cfg.n, 16);
    ck_assert_int_eq(set("n", "5"), 0);
    ck_assert_int_eq(cfg.n, 5);
}
END_TEST

START_TEST(set_many_is_all_or_nothing)
{
    /* lowering N, R and W together works though each alone would not */
    char *down[] = {"n", "1", "r", "1", "w", "1"};
    dbuf_reset(&err);
    ck_assert_int_eq(config_set_many(&cfg, 3, down, &err), 0);
    ck_assert_int_eq(cfg.n, 1);
    ck_assert_int_eq(cfg.w, 1);
    /* a bad later value undoes the earlier ones */
    char *bad[] = {"hz", "20", "requirepass", "x", "maxclients", "abc"};
    dbuf_reset(&err);
    ck_assert_int_lt(config_set_many(&cfg, 3, bad, &err), 0);
    ck_assert_str_eq(errs(), "CONFIG SET failed (possibly related to "
                             "argument 'maxclients') - argument couldn't be "
                             "parsed into an integer");
    ck_assert_int_eq(cfg.hz, 10);
    ck_assert_str_eq(cfg.requirepass, "");
    char *imm[] = {"hz", "30", "daemonize", "no"};
    dbuf_reset(&err);
    ck_assert_int_lt(config_set_many(&cfg, 2, imm, &err), 0);
    ck_assert_str_eq(errs(), "CONFIG SET failed (possibly related to "
                             "argument 'daemonize') - can't set immutable "
                             "config");
    ck_assert_int_eq(cfg.hz, 10);
    char *dup[] = {"hz", "30", "HZ", "40"};
    dbuf_reset(&err);
    ck_assert_int_lt(config_set_many(&cfg, 2, dup, &err), 0);
    ck_assert_str_eq(errs(), "CONFIG SET failed (possibly related to "
                             "argument 'HZ') - duplicate parameter");
    char *unk[] = {"hz", "30", "nosuch", "1"};
    dbuf_reset(&err);
    ck_assert_int_eq(config_set_many(&cfg, 2, unk, &err), DYN_ENOTFOUND);
    ck_assert_str_eq(errs(), "Unknown option or number of arguments for "
                             "CONFIG SET - 'nosuch'");
    ck_assert_int_eq(cfg.hz, 10);
    /* quorum breakage detected on the result, everything restored */
    char *q[] = {"n", "5", "w", "5", "n", "4"};
    dbuf_reset(&err);
    ck_assert_int_lt(config_set_many(&cfg, 3, q, &err), 0); /* duplicate */
    char *q2[] = {"w", "5", "n", "4"};
    dbuf_reset(&err);
    ck_assert_int_lt(config_set_many(&cfg, 2, q2, &err), 0);
    ck_assert_str_eq(errs(), "CONFIG SET failed (possibly related to "
                             "argument 'w') - w (5) must not be greater "
                             "than n (4)");
    ck_assert_int_eq(cfg.n, 1);
    ck_assert_int_eq(cfg.w, 1);
}
END_TEST

START_TEST(known_names)
{
    ck_assert(config_known("port"));
    ck_assert(config_known("Ring-Partitions"));
    ck_assert(!config_known("ring_partitions"));
    ck_assert(!config_known(""));
    ck_assert(config_is_runtime("maxclients"));
    ck_assert(!config_is_runtime("nosuch"));
}
END_TEST

/* ---- validation -------------------------------------------------------- */

START_TEST(validate_rules)
{
    struct dbuf warn;
    dbuf_init(&warn);
    ck_assert_int_eq(load("n 3\nw 4\n"), 0);
    dbuf_reset(&err);
    ck_assert_int_lt(config_validate(&cfg, &err, &warn), 0);
    ck_assert_str_eq(errs(), "t.conf:2: w (4) must not be greater than n (3) "
                             "(n is set at t.conf:1)");
    ck_assert_int_eq(load("w 2\nr 4\n"), 0);
    ck_assert_int_lt(config_validate(&cfg, &err, &warn), 0);
    ck_assert_str_eq(errs(), "t.conf:2: r (4) must not be greater than n (3) "
                             "(n is set at t.conf:1)");
    ck_assert_int_eq(load("r 1\nw 1\n"), 0);
    dbuf_reset(&warn);
    ck_assert_int_eq(config_validate(&cfg, &err, &warn), 0);
    ck_assert_ptr_nonnull(warn.p);
    ck_assert_ptr_nonnull(strstr(warn.p, "r + w (1 + 1) <= n (3)"));
    ck_assert_int_eq(config_validate(&cfg, &err, NULL), 0);
    ck_assert_int_eq(load("r 2\nw 2\ndaemonize yes\n"), 0);
    ck_assert_int_lt(config_validate(&cfg, &err, &warn), 0);
    ck_assert_str_eq(errs(), "t.conf:3: daemonize yes is not supported: "
                             "dynamod runs in the foreground (use a "
                             "supervisor, or tools/dynamo-cluster)");
    ck_assert_int_eq(load("daemonize no\n"), 0);
    cfg.ring_partitions = 100; /* set directly, bypassing the parser */
    ck_assert_int_lt(config_validate(&cfg, &err, &warn), 0);
    ck_assert_ptr_nonnull(strstr(errs(), "ring-partitions (100) must be a "
                                         "power of two"));
    cfg.ring_partitions = 256;
    ck_assert_int_eq(config_validate(&cfg, &err, &warn), 0);
    dbuf_free(&warn);
}
END_TEST

/* Each start-up error names where the option it blames was set: the file
 * and line, or the command-line option with its value. */
START_TEST(cross_field_errors_name_the_place)
{
    /* r > n: r's line, and n's */
    ck_assert_int_eq(load("port 7001\nn 2\n\nr 3\n"), 0);
    ck_assert_int_lt(config_validate(&cfg, &err, NULL), 0);
    ck_assert_str_eq(errs(), "t.conf:4: r (3) must not be greater than n (2) "
                             "(n is set at t.conf:2)");
    /* r at its default (2) against a smaller n: n's place */
    config_free(&cfg);
    config_init_defaults(&cfg);
    ck_assert_int_eq(load("w 1\nn 1\n"), 0);
    ck_assert_int_lt(config_validate(&cfg, &err, NULL), 0);
    ck_assert_str_eq(errs(), "t.conf:2: r (2) must not be greater than n (1)");
    /* the command line */
    config_free(&cfg);
    config_init_defaults(&cfg);
    char *a1[] = {"dynamod", "--r", "5"};
    ck_assert_int_eq(argv_load(3, a1, 1), 0);
    ck_assert_str_eq(config_origin(&cfg, "r"), "command line: --r 5");
    ck_assert_ptr_null(config_origin(&cfg, "n"));
    ck_assert_int_lt(config_validate(&cfg, &err, NULL), 0);
    ck_assert_str_eq(errs(), "command line: --r 5: r (5) must not be greater "
                             "than n (3)");

    /* a cluster-node line with a bad port is refused at its line */
    config_free(&cfg);
    config_init_defaults(&cfg);
    static const char *const bad_members[] = {
        "a 127.0.0.1:99999", "a 127.0.0.1:0", "a 127.0.0.1:7001@70000",
        "a 127.0.0.1:60000", "a 127.0.0.1", "a 127.0.0.1:x", "a",
        "a 127.0.0.1:7001 extra", "a :7001",
        "a h234567890123456789012345678901234567890123456789012345678901234"
        ":7001",
        "n2345678901234567890123456789012345678901234567890123456789012345"
        " 127.0.0.1:7001",
    };
    for (size_t i = 0; i < sizeof(bad_members) / sizeof(*bad_members); i++) {
        char text[256];
        snprintf(text, sizeof(text), "port 7001\ncluster-node %s\n",
                 bad_members[i]);
        ck_assert_int_lt(load(text), 0);
        ck_assert_msg(strncmp(errs(), "t.conf:2: invalid value for "
                              "'cluster-node': ", 38) == 0, "%s: %s",
                      bad_members[i], errs());
        ck_assert_ptr_nonnull(strstr(errs(), "expected NAME HOST:PORT"));
    }
    ck_assert_int_eq(load("cluster-node a 127.0.0.1:60000@60001\n"
                          "cluster-node b 127.0.0.1:7002\n"
                          "cluster-node c [::1]:7003\n"), 0);
    ck_assert_str_eq(cfg.cluster_nodes, "a 127.0.0.1:60000@60001\n"
                                        "b 127.0.0.1:7002\nc [::1]:7003");
    char *a2[] = {"dynamod", "--cluster-node", "b 127.0.0.1:65535"};
    ck_assert_int_lt(argv_load(3, a2, 1), 0);
    ck_assert_str_eq(errs(), "--cluster-node: invalid value 'b "
                             "127.0.0.1:65535' (expected NAME HOST:PORT or "
                             "NAME HOST:PORT@PEERPORT, ports from 1 to "
                             "65535, and PORT + 10000 <= 65535 without "
                             "@PEERPORT)");

    /* cluster-announce-ip: a numeric address, never a wildcard, refused at
     * its line with the option unchanged */
    config_free(&cfg);
    config_init_defaults(&cfg);
    ck_assert_str_eq(cfg.cluster_announce_ip, "");
    static const char *const bad_announce[] = {
        "0.0.0.0", "::", "::ffff:0.0.0.0", "db1.example", "10.0.0.256",
        "[::1]", "*",
    };
    for (size_t i = 0; i < sizeof(bad_announce) / sizeof(*bad_announce);
         i++) {
        char text[128], want[160];
        snprintf(text, sizeof(text), "port 7001\ncluster-announce-ip %s\n",
                 bad_announce[i]);
        ck_assert_int_lt(load(text), 0);
        snprintf(want, sizeof(want), "t.conf:2: invalid value for "
                 "'cluster-announce-ip': '%s' (argument must be a numeric "
                 "IPv4 or IPv6 address that is not a wildcard (0.0.0.0, ::))",
                 bad_announce[i]);
        ck_assert_str_eq(errs(), want);
        ck_assert_str_eq(cfg.cluster_announce_ip, "");
    }
    ck_assert_int_eq(load("cluster-announce-ip 198.18.0.11\n"), 0);
    ck_assert_str_eq(cfg.cluster_announce_ip, "198.18.0.11");
    ck_assert_str_eq(config_origin(&cfg, "cluster-announce-ip"), "t.conf:1");
    ck_assert_int_eq(load("cluster-announce-ip fd00::7\n"), 0);
    ck_assert_str_eq(cfg.cluster_announce_ip, "fd00::7");
    ck_assert_int_eq(load("cluster-announce-ip \"\"\n"), 0);
    ck_assert_str_eq(cfg.cluster_announce_ip, "");

    /* cluster-node lines without a secret: the first line's place */
    config_free(&cfg);
    config_init_defaults(&cfg);
    ck_assert_int_eq(load("port 7001\n\ncluster-node a 127.0.0.1:7001\n"
                          "cluster-node b 127.0.0.1:7002\nnode-name a\n"), 0);
    ck_assert_int_lt(config_validate(&cfg, &err, NULL), 0);
    ck_assert_str_eq(errs(), "t.conf:3: cluster-secret is not set: the peer "
                             "bus will not start without one (or set "
                             "cluster-insecure yes)");
    ck_assert_int_eq(load("cluster-insecure yes\n"), 0);
    ck_assert_int_eq(config_validate(&cfg, &err, NULL), 0);
    ck_assert_int_eq(load("cluster-insecure no\ncluster-secret s\n"), 0);
    ck_assert_int_eq(config_validate(&cfg, &err, NULL), 0);
    config_free(&cfg);
    config_init_defaults(&cfg);
    ck_assert_int_eq(load("seed 127.0.0.1:7001\n"), 0);
    ck_assert_int_lt(config_validate(&cfg, &err, NULL), 0);
    ck_assert_ptr_nonnull(strstr(errs(), "t.conf:1: cluster-secret is not "
                                         "set"));

    /* a member named twice: the second line; node-name not a member */
    config_free(&cfg);
    config_init_defaults(&cfg);
    ck_assert_int_lt(load("cluster-node a 127.0.0.1:7001\n"
                          "cluster-node b 127.0.0.1:7002\n"
                          "cluster-node a 127.0.0.1:7003\n"), 0);
    ck_assert_str_eq(errs(), "t.conf:3: cluster-node 'a' appears twice");
    char *a4[] = {"dynamod", "--cluster-node", "b 127.0.0.1:7004"};
    ck_assert_int_lt(argv_load(3, a4, 1), 0);
    ck_assert_str_eq(errs(), "--cluster-node: cluster-node 'b' appears "
                             "twice");
    ck_assert_int_eq(load("cluster-secret s\nnode-name c\n"), 0);
    ck_assert_int_lt(config_validate(&cfg, &err, NULL), 0);
    ck_assert_str_eq(errs(), "t.conf:2: node-name 'c' is not among the "
                             "cluster-node lines");
    ck_assert_int_eq(load("node-name b\n"), 0);
    ck_assert_int_eq(config_validate(&cfg, &err, NULL), 0);

    /* daemonize, from the command line */
    config_free(&cfg);
    config_init_defaults(&cfg);
    char *a3[] = {"dynamod", "--daemonize", "yes"};
    ck_assert_int_eq(argv_load(3, a3, 1), 0);
    ck_assert_int_lt(config_validate(&cfg, &err, NULL), 0);
    ck_assert_ptr_nonnull(strstr(errs(), "command line: --daemonize yes: "
                                         "daemonize yes is not supported"));
}
END_TEST

/* dir must be a directory the node can write: missing (and not creatable),
 * a file, or read-only are start-up errors that name dir's line. */
START_TEST(dir_errors_name_the_place)
{
    char tmpl[] = "/tmp/test_config.XXXXXX";
    char *base = mkdtemp(tmpl);
    ck_assert_ptr_nonnull(base);
    char text[512], path[300];

    /* missing, with its parent: created, as the engine did */
    snprintf(path, sizeof(path), "%s/data", base);
    snprintf(text, sizeof(text), "port 7001\ndir %s\n", path);
    ck_assert_int_eq(load(text), 0);
    ck_assert_int_eq(config_check_dir(&cfg, &err), 0);
    ck_assert_int_eq(access(path, W_OK), 0);

    /* missing, and so is its parent */
    snprintf(path, sizeof(path), "%s/nope/data", base);
    snprintf(text, sizeof(text), "port 7001\n\ndir %s\n", path);
    ck_assert_int_eq(load(text), 0);
    ck_assert_int_lt(config_check_dir(&cfg, &err), 0);
    char want[700];
    snprintf(want, sizeof(want), "t.conf:3: dir '%s' does not exist and "
             "cannot be created: No such file or directory", path);
    ck_assert_str_eq(errs(), want);

    /* a file */
    snprintf(path, sizeof(path), "%s/afile", base);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    char *a1[] = {"dynamod", "--dir", path};
    ck_assert_int_eq(argv_load(3, a1, 1), 0);
    ck_assert_int_lt(config_check_dir(&cfg, &err), 0);
    snprintf(want, sizeof(want), "command line: --dir %s: dir '%s' is not a "
             "directory", path, path);
    ck_assert_str_eq(errs(), want);

    /* not writable: a read-only directory, or for root (who writes
     * anywhere permissions allow) sysfs */
    snprintf(path, sizeof(path), "%s/ro", base);
    ck_assert_int_eq(mkdir(path, 0555), 0);
    const char *ro = geteuid() == 0 ? "/sys" : path;
    snprintf(text, sizeof(text), "dir %s\n", ro);
    ck_assert_int_eq(load(text), 0);
    if (config_check_dir(&cfg, &err) == 0) {
        /* a sandbox where even this is writable: nothing to check */
    } else {
        snprintf(want, sizeof(want), "t.conf:1: dir '%s' is not writable: ",
                 ro);
        ck_assert_msg(strncmp(errs(), want, strlen(want)) == 0, "%s", errs());
    }
    rmdir(path);
    snprintf(path, sizeof(path), "%s/afile", base);
    unlink(path);
    snprintf(path, sizeof(path), "%s/data", base);
    rmdir(path);
    rmdir(base);
}
END_TEST

/* The cluster secret never leaves the node: CONFIG GET shows whether it is
 * set, not what it is; errors and recorded places redact it. */
START_TEST(secret_is_never_shown)
{
    ck_assert_str_eq(getv("cluster-secret"), "");
    ck_assert_int_eq(load("cluster-secret \"Sekrit value\"\n"
                          "requirepass pw\n"), 0);
    ck_assert_str_eq(cfg.cluster_secret, "Sekrit value");
    ck_assert_str_eq(getv("cluster-secret"), "(redacted)");
    ck_assert_str_eq(getv("CLUSTER-SECRET"), "(redacted)");
    /* requirepass stays Redis's: shown (CONFIG GET needs AUTH once set) */
    ck_assert_str_eq(getv("requirepass"), "pw");
    struct got g = get("*");
    ck_assert_int_gt(g.n, 40);
    for (int i = 0; i < g.n; i++)
        ck_assert_msg(strstr(g.values[i], "Sekrit") == NULL, "%s shows it",
                      g.names[i]);
    /* immutable: CONFIG SET cannot change (or probe) it */
    ck_assert_int_lt(set("cluster-secret", "other"), 0);
    ck_assert_str_eq(errs(), "CONFIG SET failed (possibly related to "
                             "argument 'cluster-secret') - can't set "
                             "immutable config");
    ck_assert_str_eq(cfg.cluster_secret, "Sekrit value");
    /* an error on its line does not quote it */
    ck_assert_int_lt(load("port 7001\ncluster-secret \"Sekrit value\n"), 0);
    ck_assert_str_eq(errs(), "t.conf:2: unbalanced quotes in "
                             "'cluster-secret (redacted)'");
    char *a1[] = {"dynamod", "--cluster-secret", "Sekrit"};
    ck_assert_int_eq(argv_load(3, a1, 1), 0);
    ck_assert_str_eq(config_origin(&cfg, "cluster-secret"),
                     "command line: --cluster-secret (redacted)");
}
END_TEST

/* ---- the shipped config file ------------------------------------------- */

START_TEST(shipped_conf_loads_and_equals_the_defaults)
{
    const char *top = getenv("TOP_SRCDIR");
    char path[1024];
    snprintf(path, sizeof(path), "%s/conf/dynamod.conf", top ? top : "..");
    if (access(path, R_OK) != 0)
        snprintf(path, sizeof(path), "conf/dynamod.conf");
    if (access(path, R_OK) != 0)
        snprintf(path, sizeof(path), "../../conf/dynamod.conf");
    struct config c2;
    config_init_defaults(&c2);
    c2.port = 1; /* the file must set every option back */
    c2.hz = 1;
    dbuf_reset(&err);
    ck_assert_msg(config_load_file(&c2, path, &err) == 0, "%s", errs());
    struct got a, b;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    config_get(&cfg, "*", 1, collect, &a);
    config_get(&c2, "*", 1, collect, &b);
    ck_assert_int_eq(a.n, b.n);
    for (int i = 0; i < a.n; i++) {
        ck_assert_str_eq(a.names[i], b.names[i]);
        ck_assert_msg(strcmp(a.values[i], b.values[i]) == 0,
                      "%s: default '%s', dynamod.conf '%s'", a.names[i],
                      a.values[i], b.values[i]);
    }
    /* every option appears in the file as a line of its own */
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char text[65536];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    for (int i = 0; i < a.n; i++) {
        char needle[80];
        snprintf(needle, sizeof(needle), "\n%s ", a.names[i]);
        ck_assert_msg(strstr(text, needle) != NULL, "%s is not in %s",
                      a.names[i], path);
    }
    config_finalize(&c2);
    ck_assert_int_eq(config_validate(&c2, &err, NULL), 0);
    config_free(&c2);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, defaults_match_the_header);
    tcase_add_test(tc, defaults_are_valid_and_node_name_follows_the_port);
    tcase_add_test(tc, free_releases_and_is_idempotent);
    tcase_add_test(tc, file_comments_blank_lines_and_case);
    tcase_add_test(tc, file_later_lines_win);
    tcase_add_test(tc, file_quoting_and_escapes);
    tcase_add_test(tc, file_unbalanced_quotes_name_the_line);
    tcase_add_test(tc, file_unknown_option_names_file_and_line);
    tcase_add_test(tc, file_bad_values_name_line_option_and_rule);
    tcase_add_test(tc, file_wrong_number_of_values);
    tcase_add_test(tc, file_missing_file_is_an_io_error);
    tcase_add_test(tc, file_errors_use_the_path);
    tcase_add_test(tc, sizes_use_redis_units);
    tcase_add_test(tc, integers_are_strict);
    tcase_add_test(tc, integer_limits_are_inclusive);
    tcase_add_test(tc, hz_is_clamped_like_redis);
    tcase_add_test(tc, booleans_and_enums_ignore_case);
    tcase_add_test(tc, bind_takes_several_addresses);
    tcase_add_test(tc, output_limit_also_takes_redis_class_form);
    tcase_add_test(tc, argv_pairs_and_multiword_values);
    tcase_add_test(tc, argv_errors_name_the_option);
    tcase_add_test(tc, get_renders_like_redis);
    tcase_add_test(tc, get_with_globs);
    tcase_add_test(tc, get_exact_name_keeps_the_callers_spelling);
    tcase_add_test(tc, set_runtime_options);
    tcase_add_test(tc, set_errors_use_redis_wording);
    tcase_add_test(tc, set_keeps_quorum_rules);
    tcase_add_test(tc, n_above_what_a_quorum_tracks_is_refused);
    tcase_add_test(tc, set_many_is_all_or_nothing);
    tcase_add_test(tc, known_names);
    tcase_add_test(tc, validate_rules);
    tcase_add_test(tc, cross_field_errors_name_the_place);
    tcase_add_test(tc, dir_errors_name_the_place);
    tcase_add_test(tc, secret_is_never_shown);
    tcase_add_test(tc, shipped_conf_loads_and_equals_the_defaults);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
