/*
 * config.c -- one table of options drives every way of setting them.
 *
 * Each row of `options` says what an option is: its name (the hyphenated
 * name users type), its type, where it lives in struct config (offsetof),
 * its default, its bounds, and whether CONFIG SET may change it at run time.
 * The config file parser, the command line, CONFIG GET and CONFIG SET all
 * go through the same row-driven parse and render functions, so an option
 * cannot be accepted by one path and rejected by another, and adding an
 * option is one row (plus its field and its block in conf/dynamod.conf).
 *
 * Types: bool (yes/no), int, long long, memory size (bytes, with Redis's
 * k/kb/m/mb/g/gb suffixes: 1k = 1000, 1kb = 1024), string, enum (a name
 * from the row's list, stored as its int value).
 *
 * Invariants:
 *   - every string field of an initialised config is non-NULL and owned by
 *     the config (config_free releases them);
 *   - a failed load or set leaves the option it was parsing unchanged: the
 *     value is parsed completely before it is stored.  (A failed file load
 *     may have applied the lines before the bad one; callers exit.)
 *   - config_set_many is all-or-nothing: on error every option it touched
 *     is restored.
 *
 * Errors are text made here, at the boundary, in two voices.  File and
 * command-line errors are for a person editing a file: they name the place
 * ("conf/x.conf:3: ...", "--port: ...") and say what would be valid.  The
 * checks that run after parsing (config_validate, config_check_dir) name it
 * too: each option's row keeps where it was last set (config->origin:
 * "conf/x.conf:3" or "command line: --r 5"), and a message starts with the
 * place of the option it blames.
 * CONFIG SET errors copy Redis 7.0's wording word for word, because clients
 * and tests match on it; they are written WITHOUT the leading "ERR ", which
 * the command handler adds.
 *
 * Secrets (F_SECRET: cluster-secret) are kept as given but never shown:
 * CONFIG GET answers CONFIG_REDACTED when one is set ("" when not), no
 * error quotes one, and a secret is never a runtime option (CONFIG SET's
 * roll back reads old values through config_get).  A future CONFIG REWRITE
 * must render from the struct (opt_render), never from CONFIG GET, so the
 * file keeps the real value.
 *
 * Thread-safety: the table is constant; a struct config belongs to the
 * event loop.  Nothing here touches global state (not even the log level:
 * applying a changed option is the caller's job); the file system only
 * through config_load_file and config_check_dir (which may create dir and
 * creates and removes one probe file in it).
 */
#include "server/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cluster/announce.h"
#include "cluster/quorum.h"
#include "server/log.h"
#include "server/util.h"

/* T_RATIO: a decimal between min/1000 and max/1000, kept in an int as
 * thousandths (compact-ratio 0.5 is stored as 500). */
enum opt_type { T_BOOL, T_INT, T_LL, T_MEM, T_STR, T_ENUM, T_RATIO };

#define F_RUNTIME  0x01 /* CONFIG SET may change it */
#define F_MULTI    0x02 /* several words, stored joined by one space (bind) */
#define F_COBL     0x04 /* also accepts "normal <hard> <soft> <secs> ..." */
#define F_POW2     0x08 /* must be a power of two */
#define F_CLAMP    0x10 /* values outside [clo, chi] are clamped (Redis hz) */
#define F_NONEMPTY 0x20 /* a string that must not be empty */
#define F_NODENAME 0x40 /* restricted character set */
#define F_APPEND   0x80 /* each occurrence adds a line (cluster-node) */
#define F_SECRET   0x100 /* never shown: CONFIG GET and errors redact it */
#define F_MEMBER   0x200 /* "NAME HOST:PORT[@PEERPORT]" (cluster-node) */
#define F_ADDR     0x400 /* "" or a numeric address another host can dial:
                          * not a wildcard (cluster-announce-ip) */

struct opt_enum {
    const char *name;
    int value;
};

struct opt {
    const char *name;
    enum opt_type type;
    size_t off;
    long long def;          /* numeric default (bool/int/ll/mem/enum) */
    const char *sdef;       /* string default */
    long long min, max;     /* accepted range */
    unsigned flags;
    const struct opt_enum *enums; /* NULL-name terminated */
    long long clo, chi;     /* clamp range for F_CLAMP */
};

static const struct opt_enum loglevel_enum[] = {
    {"debug", DLOG_DEBUG},     {"verbose", DLOG_VERBOSE},
    {"notice", DLOG_NOTICE},   {"warning", DLOG_WARNING},
    {NULL, 0},
};
static const struct opt_enum policy_enum[] = {
    {"siblings", CONFLICT_SIBLINGS}, {"lww", CONFLICT_LWW}, {NULL, 0},
};
/* Redis lists appendfsync's choices in this order in its errors. */
static const struct opt_enum fsync_enum[] = {
    {"everysec", FSYNC_EVERYSEC}, {"always", FSYNC_ALWAYS},
    {"no", FSYNC_NO},             {NULL, 0},
};
static const struct opt_enum storage_enum[] = {
    {"memory", STORAGE_MEMORY}, {"disk", STORAGE_DISK}, {NULL, 0},
};
static const struct opt_enum tls_auth_enum[] = {
    {"no", TLS_AUTH_NO}, {"yes", TLS_AUTH_YES},
    {"optional", TLS_AUTH_OPTIONAL}, {NULL, 0},
};

#define OFF(f) offsetof(struct config, f)
#define MB (1024LL * 1024)
#define GB (1024LL * MB)

#define BOOL(nm, f, d, fl) \
    {nm, T_BOOL, OFF(f), d, NULL, 0, 1, fl, NULL, 0, 0}
#define INT(nm, f, d, lo, hi, fl) \
    {nm, T_INT, OFF(f), d, NULL, lo, hi, fl, NULL, 0, 0}
#define MEM(nm, f, d, lo, hi, fl) \
    {nm, T_MEM, OFF(f), d, NULL, lo, hi, fl, NULL, 0, 0}
#define STR(nm, f, d, fl) \
    {nm, T_STR, OFF(f), 0, d, 0, 0, fl, NULL, 0, 0}
#define ENUM(nm, f, d, e, fl) \
    {nm, T_ENUM, OFF(f), d, NULL, 0, 0, fl, e, 0, 0}

/* Runtime flags follow Redis 7.0 where Redis has the option, except bind
 * and port (we do not re-listen) and dir (ours holds the data files). */
static const struct opt options[] = {
    /* network */
    STR("bind", bind, "127.0.0.1", F_MULTI | F_NONEMPTY),
    INT("port", port, 7001, 0, 65535, 0),
    BOOL("protected-mode", protected_mode, 1, F_RUNTIME),
    INT("tcp-backlog", tcp_backlog, 511, 0, INT_MAX, 0),
    INT("maxclients", maxclients, 10000, 1, INT_MAX, F_RUNTIME),
    INT("timeout", timeout, 0, 0, INT_MAX, F_RUNTIME),
    INT("tcp-keepalive", tcp_keepalive, 300, 0, INT_MAX, F_RUNTIME),
    STR("requirepass", requirepass, "", F_RUNTIME),
    MEM("proto-max-bulk-len", proto_max_bulk_len, 512 * MB, MB, LLONG_MAX,
        F_RUNTIME),
    MEM("typed-cache-size", typed_cache_size, 64 * MB, 0, LLONG_MAX,
        F_RUNTIME),
    MEM("client-query-buffer-limit", client_query_buffer_limit, GB, MB,
        LLONG_MAX, F_RUNTIME),
    MEM("client-output-buffer-limit", client_output_buffer_limit, 256 * MB,
        0, LLONG_MAX, F_RUNTIME | F_COBL),
    /* TLS (Redis's names); certificates are read once, at start */
    INT("tls-port", tls_port, 0, 0, 65535, 0),
    /* the JSON API (server/http/http.c); 0: no http listener */
    INT("http-port", http_port, 0, 0, 65535, 0),
    INT("http-max-connections", http_max_connections, 128, 1, 65535, 0),
    INT("http-stream-max", http_stream_max, 8, 0, 1024, F_RUNTIME),
    STR("tls-cert-file", tls_cert_file, "", 0),
    STR("tls-key-file", tls_key_file, "", 0),
    STR("tls-ca-cert-file", tls_ca_cert_file, "", 0),
    ENUM("tls-auth-clients", tls_auth_clients, TLS_AUTH_YES, tls_auth_enum,
         0),
    BOOL("tls-cluster", tls_cluster, 0, 0),
    /* process */
    STR("node-name", node_name, "", F_NODENAME),
    STR("dir", dir, ".", F_NONEMPTY),
    STR("logfile", logfile, "", 0),
    ENUM("loglevel", loglevel, DLOG_NOTICE, loglevel_enum, F_RUNTIME),
    STR("pidfile", pidfile, "", 0),
    {"hz", T_INT, OFF(hz), 10, NULL, 0, INT_MAX, F_RUNTIME | F_CLAMP, NULL,
     1, 500},
    BOOL("daemonize", daemonize, 0, 0),
    /* keyspace */
    INT("databases", databases, 1, 1, 16, 0),
    INT("ring-partitions", ring_partitions, 256, 16, 65536, F_POW2),
    INT("vclock-max-entries", vclock_max_entries, 10, 1, 10000, F_RUNTIME),
    INT("max-siblings", max_siblings, 100, 1, 100000, F_RUNTIME),
    ENUM("conflict-policy", conflict_policy, CONFLICT_SIBLINGS, policy_enum,
         F_RUNTIME),
    INT("tombstone-grace-s", tombstone_grace_s, 60, 0, INT_MAX, F_RUNTIME),
    INT("keyspace-slice-keys", keyspace_slice_keys, 20000, 1, INT_MAX,
        F_RUNTIME),
    BOOL("active-expire", active_expire, 1, F_RUNTIME),
    /* quorum */
    /* n is bounded by what a quorum tracks (QUORUM_MAX replicas): an n
     * above it would be a setting the coordinator cannot honour */
    INT("n", n, 3, 1, QUORUM_MAX, F_RUNTIME),
    INT("r", r, 2, 1, 64, F_RUNTIME),
    INT("w", w, 2, 1, 64, F_RUNTIME),
    /* storage */
    ENUM("storage", storage, STORAGE_DISK, storage_enum, 0),
    ENUM("appendfsync", appendfsync, FSYNC_EVERYSEC, fsync_enum, F_RUNTIME),
    MEM("segment-max-bytes", segment_max_bytes, 64 * MB, 4096, GB, 0),
    {"compact-ratio", T_RATIO, OFF(compact_ratio_pm), 500, NULL, 0, 1000,
     F_RUNTIME, NULL, 0, 0},
    BOOL("value-cache", value_cache, 0, 0),
    MEM("journal-max-bytes", journal_max_bytes, 16 * MB, 0, GB, 0),
    MEM("journal-held-max-bytes", journal_held_max_bytes, 64 * MB, 0,
        64 * GB, 0),
    /* cluster */
    STR("cluster-node", cluster_nodes, "", F_MULTI | F_APPEND | F_MEMBER),
    INT("cluster-port", cluster_port, 0, 0, 65535, 0),
    STR("cluster-secret", cluster_secret, "", F_SECRET),
    STR("cluster-announce-ip", cluster_announce_ip, "", F_ADDR),
    BOOL("cluster-insecure", cluster_insecure, 0, 0),
    INT("request-timeout-ms", request_timeout_ms, 1000, 10, 600000,
        F_RUNTIME),
    STR("seed", seeds, "", F_MULTI | F_APPEND),
    STR("spare-node", spare_nodes, "", F_MULTI | F_APPEND),
    INT("gossip-interval-ms", gossip_interval_ms, 1000, 10, 600000,
        F_RUNTIME),
    INT("suspect-timeout-ms", suspect_timeout_ms, 1000, 10, 3600000,
        F_RUNTIME),
    INT("down-timeout-ms", down_timeout_ms, 3000, 10, 3600000, F_RUNTIME),
    MEM("hint-max-bytes", hint_max_bytes, 256 * MB, 0, LLONG_MAX, F_RUNTIME),
    BOOL("replica-deltas", replica_deltas, 1, F_RUNTIME),
    /* anti-entropy */
    INT("merkle-leaves", merkle_leaves, 1024, 16, 1048576, F_POW2),
    INT("anti-entropy-interval-ms", anti_entropy_interval_ms, 10000, 0,
        86400000, F_RUNTIME),
    INT("anti-entropy-sweep-interval-ms", anti_entropy_sweep_ms, 1000, 0,
        86400000, F_RUNTIME),
    MEM("anti-entropy-max-bytes-per-sec", anti_entropy_max_bps, 10 * MB, 0,
        LLONG_MAX, F_RUNTIME),
    /* observability */
    INT("trace-max", trace_max, 128, 0, 1000000, 0),
    INT("event-max", event_max, 1024, 0, 1000000, 0),
    INT("version-history", version_history, 0, 0, 1024, 0),
    INT("version-history-keys", version_history_keys, 1024, 1, 1000000, 0),
};

#define NODE_NAME_MAX 64

/* ---- field access ------------------------------------------------------ */

static void *field(const struct config *c, const struct opt *o)
{
    return (char *)c + o->off;
}

static long long num_get(const struct config *c, const struct opt *o)
{
    if (o->type == T_LL || o->type == T_MEM)
        return *(long long *)field(c, o);
    return *(int *)field(c, o);
}

static void num_put(struct config *c, const struct opt *o, long long v)
{
    if (o->type == T_LL || o->type == T_MEM)
        *(long long *)field(c, o) = v;
    else
        *(int *)field(c, o) = (int)v;
}

static char **str_slot(const struct config *c, const struct opt *o)
{
    return (char **)field(c, o);
}

static const struct opt *opt_find(const char *name, size_t len)
{
    for (size_t i = 0; i < DYN_ARRAY_LEN(options); i++)
        if (dyn_arg_is(name, len, options[i].name))
            return &options[i];
    return NULL;
}

/* ---- errors ------------------------------------------------------------ */

/* Why a value was rejected; rendered in either voice by reason(). */
enum perr {
    PE_NONE = 0,
    PE_NARGS,     /* single-value option given several words */
    PE_NOARGS,    /* no value at all */
    PE_NOTINT,
    PE_RANGE,
    PE_NOTMEM,
    PE_BOOL,
    PE_ENUM,
    PE_POW2,
    PE_EMPTY,
    PE_NODENAME,
    PE_COBL,
    PE_MEMBER,
    PE_ADDR,
};

static void err_vset(struct dbuf *err, const char *fmt, va_list ap)
{
    if (!err)
        return;
    dbuf_reset(err);
    dbuf_vprintf(err, fmt, ap);
    dbuf_reserve(err, 1);
    err->p[err->len] = '\0';
}

static void err_set(struct dbuf *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void err_set(struct dbuf *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, fmt, ap);
    va_end(ap);
}

static void enum_list(struct dbuf *out, const struct opt *o)
{
    for (const struct opt_enum *e = o->enums; e->name; e++) {
        if (e != o->enums)
            dbuf_appends(out, ", ");
        dbuf_appends(out, e->name);
    }
}

/* Appends the reason for `pe` to out.  redis != 0: CONFIG SET's wording. */
static void reason(struct dbuf *out, const struct opt *o, enum perr pe,
                   int nargs, int redis)
{
    switch (pe) {
    case PE_NONE:
        break;
    case PE_NARGS:
        if (redis)
            dbuf_appends(out, "wrong number of arguments");
        else
            dbuf_printf(out, "'%s' takes exactly one value, got %d",
                        o->name, nargs);
        break;
    case PE_NOARGS:
        dbuf_appends(out, redis ? "wrong number of arguments"
                                : "a value is required");
        break;
    case PE_NOTINT:
        if (redis)
            dbuf_appends(out, "argument couldn't be parsed into an integer");
        else
            dbuf_printf(out, "must be an integer between %lld and %lld",
                        o->min, o->max);
        break;
    case PE_RANGE:
        if (o->type == T_RATIO)
            dbuf_printf(out, "%s be a number between %g and %g",
                        redis ? "argument must" : "must",
                        (double)o->min / 1000, (double)o->max / 1000);
        else if (redis)
            dbuf_printf(out, "argument must be between %lld and %lld "
                        "inclusive", o->min, o->max);
        else if (o->type == T_MEM)
            dbuf_printf(out, "must be between %lld and %lld bytes",
                        o->min, o->max);
        else
            dbuf_printf(out, "must be an integer between %lld and %lld",
                        o->min, o->max);
        break;
    case PE_NOTMEM:
        if (redis)
            dbuf_appends(out, "argument must be a memory value");
        else
            dbuf_printf(out, "must be a size in bytes, optionally with a "
                        "k/kb/m/mb/g/gb suffix (1k = 1000, 1kb = 1024), "
                        "between %lld and %lld bytes", o->min, o->max);
        break;
    case PE_BOOL:
        dbuf_appends(out, "argument must be 'yes' or 'no'");
        break;
    case PE_ENUM:
        dbuf_appends(out, "argument(s) must be one of the following: ");
        enum_list(out, o);
        break;
    case PE_POW2:
        dbuf_printf(out, "argument must be a power of two between %lld and "
                    "%lld inclusive", o->min, o->max);
        break;
    case PE_EMPTY:
        dbuf_appends(out, "argument must not be empty");
        break;
    case PE_NODENAME:
        dbuf_printf(out, "node name must be at most %d characters from "
                    "A-Z a-z 0-9 . _ : -", NODE_NAME_MAX);
        break;
    case PE_COBL:
        dbuf_appends(out, "argument must be a memory value (the hard limit "
                     "for normal clients) or 'normal <hard> <soft> "
                     "<seconds>' groups");
        break;
    case PE_ADDR:
        dbuf_appends(out, "argument must be a numeric IPv4 or IPv6 address "
                     "that is not a wildcard (0.0.0.0, ::)");
        break;
    case PE_MEMBER:
        dbuf_appends(out, "expected NAME HOST:PORT or NAME HOST:PORT@PEERPORT,"
                     " ports from 1 to 65535, and PORT + 10000 <= 65535 "
                     "without @PEERPORT");
        break;
    }
}

/* ---- value parsing ----------------------------------------------------- */

/* Redis's memtoull rules: digits, then an optional unit b/k/kb/m/mb/g/gb,
 * case-insensitive.  No sign, no spaces, no fractions. */
static int parse_mem(const char *s, long long *out)
{
    size_t len = strlen(s), nd = 0;
    while (nd < len && s[nd] >= '0' && s[nd] <= '9')
        nd++;
    if (nd == 0)
        return DYN_EINVAL;
    const char *u = s + nd;
    unsigned long long mul;
    if (*u == '\0' || strcasecmp(u, "b") == 0)
        mul = 1;
    else if (strcasecmp(u, "k") == 0)
        mul = 1000ULL;
    else if (strcasecmp(u, "kb") == 0)
        mul = 1024ULL;
    else if (strcasecmp(u, "m") == 0)
        mul = 1000ULL * 1000;
    else if (strcasecmp(u, "mb") == 0)
        mul = 1024ULL * 1024;
    else if (strcasecmp(u, "g") == 0)
        mul = 1000ULL * 1000 * 1000;
    else if (strcasecmp(u, "gb") == 0)
        mul = 1024ULL * 1024 * 1024;
    else
        return DYN_EINVAL;
    unsigned long long v = 0;
    for (size_t i = 0; i < nd; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (ULLONG_MAX - d) / 10)
            return DYN_ERANGE;
        v = v * 10 + d;
    }
    if (v != 0 && mul > ULLONG_MAX / v)
        return DYN_ERANGE;
    v *= mul;
    if (v > (unsigned long long)LLONG_MAX)
        return DYN_ERANGE;
    *out = (long long)v;
    return 0;
}

/* The space-separated word at *p (length *len, 0 at the end); *p moves
 * past it. */
static const char *word_at(const char **p, size_t *len)
{
    while (**p == ' ')
        (*p)++;
    const char *w = *p;
    while (**p && **p != ' ')
        (*p)++;
    *len = (size_t)(*p - w);
    return w;
}

/* A port number: 1 to 65535, digits only. */
static int port_ok(const char *s, size_t len, long *out)
{
    unsigned long long v;
    if (dyn_str2ull(s, len, &v) != 0 || v < 1 || v > 65535)
        return 0;
    *out = (long)v;
    return 1;
}

/* "" (unset), or a numeric address that is not a wildcard. */
static int addr_ok(const char *s)
{
    unsigned char a[16];
    if (!s[0])
        return 1;
    if (inet_pton(AF_INET, s, a) != 1 && inet_pton(AF_INET6, s, a) != 1)
        return 0;
    return announce_kind_of(s) != ANNOUNCE_WILDCARD;
}

/* A cluster-node value, "NAME HOST:PORT[@PEERPORT]", as cluster_init reads
 * it, with the peer port defaulting to PORT + 10000.  Checked at parse time
 * so that a bad one is reported with its file and line.  "" is allowed: it
 * clears the list. */
static int member_ok(const char *s)
{
    const char *p = s;
    size_t nlen, hlen, more;
    word_at(&p, &nlen);
    if (nlen == 0)
        return 1;
    const char *hp = word_at(&p, &hlen);
    word_at(&p, &more);
    if (nlen > 63 || hlen == 0 || hlen > 127 || more)
        return 0;
    const char *at = memchr(hp, '@', hlen);
    size_t hostport = at ? (size_t)(at - hp) : hlen;
    long port, pport = 0;
    if (at && !port_ok(at + 1, hlen - hostport - 1, &pport))
        return 0;
    const char *colon = NULL;
    for (size_t i = 0; i < hostport; i++)
        if (hp[i] == ':')
            colon = hp + i;
    /* cluster/membership.h keeps names and hosts under 64 bytes */
    if (!colon || colon == hp || colon - hp > 63 ||
        !port_ok(colon + 1, hostport - (size_t)(colon + 1 - hp), &port))
        return 0;
    return at || port + 10000 <= 65535;
}

/* Whether the '\n'-joined cluster-node list holds a line whose NAME is the
 * first word of `line` (or `name` itself when line is NULL). */
static int member_listed(const char *list, const char *name, size_t nlen)
{
    const char *p = list ? list : "";
    while (*p) {
        while (*p == ' ')
            p++;
        size_t k = strcspn(p, " \n");
        if (k == nlen && memcmp(p, name, nlen) == 0)
            return 1;
        p += strcspn(p, "\n");
        if (*p)
            p++;
    }
    return 0;
}

/* The NAME of a cluster-node value (its first word). */
static size_t member_name(const char *v, const char **name)
{
    size_t len;
    *name = word_at(&v, &len);
    return len;
}

static int node_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n > NODE_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
              ch == ':' || ch == '-'))
            return 0;
    }
    return 1;
}

/* A parsed value, not yet stored. */
struct pval {
    long long num;
    char *str; /* owned; T_STR only */
};

/* The normal-class hard limit out of Redis's "class hard soft secs" form. */
static enum perr parse_cobl(int argc, char **argv, struct pval *out)
{
    if (argc % 4 != 0)
        return PE_COBL;
    int found = 0;
    for (int i = 0; i < argc; i += 4) {
        long long hard, soft, secs;
        if (parse_mem(argv[i + 1], &hard) != 0 ||
            parse_mem(argv[i + 2], &soft) != 0 ||
            dyn_str2ll(argv[i + 3], strlen(argv[i + 3]), &secs) != 0 ||
            secs < 0)
            return PE_COBL;
        if (strcasecmp(argv[i], "normal") == 0) {
            out->num = hard;
            found = 1;
        } else if (strcasecmp(argv[i], "replica") != 0 &&
                   strcasecmp(argv[i], "slave") != 0 &&
                   strcasecmp(argv[i], "pubsub") != 0) {
            return PE_COBL;
        }
    }
    return found ? PE_NONE : PE_COBL;
}

static char *join_args(int argc, char **argv)
{
    struct dbuf b;
    dbuf_init(&b);
    for (int i = 0; i < argc; i++) {
        if (i)
            dbuf_appendc(&b, ' ');
        dbuf_appends(&b, argv[i]);
    }
    dbuf_appendc(&b, '\0');
    return b.p;
}

/* Parses argv (the words after the name) for option o into out. */
static enum perr opt_parse(const struct opt *o, int argc, char **argv,
                           struct pval *out)
{
    out->num = 0;
    out->str = NULL;
    if (argc == 0)
        return PE_NOARGS;
    if (argc > 1 && !(o->flags & (F_MULTI | F_COBL)))
        return PE_NARGS;
    const char *v = argv[0];
    long long n;
    switch (o->type) {
    case T_BOOL:
        if (strcasecmp(v, "yes") == 0)
            out->num = 1;
        else if (strcasecmp(v, "no") == 0)
            out->num = 0;
        else
            return PE_BOOL;
        return PE_NONE;
    case T_INT:
    case T_LL:
        if (dyn_str2ll(v, strlen(v), &n) != 0)
            return PE_NOTINT;
        if (o->flags & F_CLAMP) {
            if (n < o->min || n > o->max)
                return PE_RANGE;
            n = DYN_MAX(n, o->clo);
            n = DYN_MIN(n, o->chi);
        } else if (n < o->min || n > o->max) {
            return PE_RANGE;
        }
        if ((o->flags & F_POW2) && (n & (n - 1)) != 0)
            return PE_POW2;
        out->num = n;
        return PE_NONE;
    case T_MEM: {
        if (argc > 1) {
            enum perr pe = parse_cobl(argc, argv, out);
            if (pe == PE_NONE && (out->num < o->min || out->num > o->max))
                pe = PE_RANGE;
            return pe;
        }
        int rc = parse_mem(v, &n);
        if (rc == DYN_ERANGE)
            return PE_RANGE;
        if (rc != 0)
            return (o->flags & F_COBL) ? PE_COBL : PE_NOTMEM;
        if (n < o->min || n > o->max)
            return PE_RANGE;
        out->num = n;
        return PE_NONE;
    }
    case T_RATIO: {
        char *end;
        errno = 0;
        double d = strtod(v, &end);
        /* bounded before llround: a huge d has no long long value */
        if (end == v || *end != '\0' || errno == ERANGE || !(d == d) ||
            d > 1e15 || d < -1e15)
            return PE_RANGE;
        n = llround(d * 1000);
        if (n < o->min || n > o->max)
            return PE_RANGE;
        out->num = n;
        return PE_NONE;
    }
    case T_ENUM:
        for (const struct opt_enum *e = o->enums; e->name; e++) {
            if (strcasecmp(v, e->name) == 0) {
                out->num = e->value;
                return PE_NONE;
            }
        }
        return PE_ENUM;
    case T_STR: {
        char *s = (o->flags & F_MULTI) ? join_args(argc, argv)
                                       : dyn_strdup(v);
        if ((o->flags & F_NONEMPTY) && s[0] == '\0') {
            dyn_free(s);
            return PE_EMPTY;
        }
        if ((o->flags & F_NODENAME) && !node_name_ok(s)) {
            dyn_free(s);
            return PE_NODENAME;
        }
        if ((o->flags & F_MEMBER) && !member_ok(s)) {
            dyn_free(s);
            return PE_MEMBER;
        }
        if ((o->flags & F_ADDR) && !addr_ok(s)) {
            dyn_free(s);
            return PE_ADDR;
        }
        out->str = s;
        return PE_NONE;
    }
    }
    return PE_NOTINT; /* not reached */
}

/* Stores a parsed value; takes ownership of v->str. */
static void opt_store(struct config *c, const struct opt *o, struct pval *v)
{
    if (o->type == T_STR && (o->flags & F_APPEND) && *str_slot(c, o) &&
        **str_slot(c, o) && v->str[0]) {
        char **slot = str_slot(c, o);
        size_t a = strlen(*slot), b = strlen(v->str);
        char *j = dyn_malloc(a + b + 2);
        memcpy(j, *slot, a);
        j[a] = '\n';
        memcpy(j + a + 1, v->str, b + 1);
        dyn_free(*slot);
        dyn_free(v->str);
        v->str = NULL;
        *slot = j;
        return;
    }
    if (o->type == T_STR) {
        char **slot = str_slot(c, o);
        dyn_free(*slot);
        *slot = v->str;
        v->str = NULL;
    } else {
        num_put(c, o, v->num);
    }
}

/* Stores a parsed value set at `where` ("file:line", "command line: ...",
 * or NULL for CONFIG SET, which keeps the start-up place), and remembers
 * the place.  A cluster-node or seed line appended to earlier ones keeps
 * the first line's place.  Takes ownership of v->str. */
static void opt_store_at(struct config *c, const struct opt *o,
                         struct pval *v, const char *where)
{
    int appending = o->type == T_STR && (o->flags & F_APPEND) &&
                    *str_slot(c, o) && **str_slot(c, o) && v->str[0];
    opt_store(c, o, v);
    if (!where || appending)
        return;
    size_t i = (size_t)(o - options);
    if (!c->origin)
        c->origin = dyn_calloc(DYN_ARRAY_LEN(options), sizeof(char *));
    dyn_free(c->origin[i]);
    c->origin[i] = dyn_strdup(where);
}

const char *config_origin(const struct config *c, const char *name)
{
    const struct opt *o = opt_find(name, strlen(name));
    if (!o || !c->origin)
        return NULL;
    return c->origin[o - options];
}

/* Renders o's value: into buf for numbers, or a pointer to the string. */
static const char *opt_render(const struct config *c, const struct opt *o,
                              char *buf)
{
    long long v;
    switch (o->type) {
    case T_BOOL:
        return num_get(c, o) ? "yes" : "no";
    case T_INT:
    case T_LL:
    case T_MEM:
        dyn_ll2str(buf, num_get(c, o));
        return buf;
    case T_RATIO:
        snprintf(buf, 32, "%g", (double)num_get(c, o) / 1000);
        return buf;
    case T_ENUM:
        v = num_get(c, o);
        for (const struct opt_enum *e = o->enums; e->name; e++)
            if (e->value == v)
                return e->name;
        dyn_ll2str(buf, v);
        return buf;
    case T_STR: {
        const char *s = *str_slot(c, o);
        if (o->flags & F_NODENAME && (!s || !*s)) {
            /* Not finalised yet: show what it will be. */
            snprintf(buf, 32, "node-%d", c->port);
            return buf;
        }
        return s ? s : "";
    }
    }
    return "";
}

/* ---- defaults and lifetime --------------------------------------------- */

void config_init_defaults(struct config *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < DYN_ARRAY_LEN(options); i++) {
        const struct opt *o = &options[i];
        /* CONFIG SET's roll back reads old values through config_get,
         * which redacts a secret: a secret can only be immutable. */
        dyn_assert(!((o->flags & F_SECRET) && (o->flags & F_RUNTIME)));
        if (o->type == T_STR)
            *str_slot(c, o) = dyn_strdup(o->sdef);
        else
            num_put(c, o, o->def);
    }
}

void config_free(struct config *c)
{
    if (!c)
        return;
    if (c->origin) {
        for (size_t i = 0; i < DYN_ARRAY_LEN(options); i++)
            dyn_free(c->origin[i]);
        dyn_free(c->origin);
        c->origin = NULL;
    }
    for (size_t i = 0; i < DYN_ARRAY_LEN(options); i++) {
        const struct opt *o = &options[i];
        if (o->type == T_STR) {
            char **slot = str_slot(c, o);
            dyn_free(*slot);
            *slot = NULL;
        }
    }
}

int config_known(const char *name)
{
    return opt_find(name, strlen(name)) != NULL;
}

/* ---- the config file --------------------------------------------------- */

struct words {
    int argc;
    int cap;
    char **argv;
};

static void words_free(struct words *w)
{
    for (int i = 0; i < w->argc; i++)
        dyn_free(w->argv[i]);
    dyn_free(w->argv);
    w->argc = w->cap = 0;
    w->argv = NULL;
}

static void words_push(struct words *w, struct dbuf *b)
{
    if (w->argc == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 8;
        w->argv = dyn_realloc(w->argv, (size_t)w->cap * sizeof(char *));
    }
    dbuf_appendc(b, '\0');
    w->argv[w->argc++] = dyn_memdup(b->p, b->len);
    dbuf_reset(b);
}

/* Splits a line into words as Redis does (sdssplitargs): whitespace
 * separates words; "double quotes" take \n \r \t \b \a \\ \" and \xHH
 * escapes; 'single quotes' take only \'.  A closing quote must be followed
 * by whitespace or the end.  Returns 0, or DYN_EINVAL for unbalanced
 * quotes (w is then empty). */
static int split_words(const char *p, size_t len, struct words *w)
{
    const char *end = p + len;
    struct dbuf cur;
    dbuf_init(&cur);
    w->argc = 0;
    for (;;) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' ||
                           *p == '\n' || *p == '\v' || *p == '\f'))
            p++;
        if (p >= end)
            break;
        int inq = 0, insq = 0;
        for (;;) {
            if (inq) {
                if (p >= end)
                    goto unbalanced;
                if (*p == '\\' && p + 3 < end && p[1] == 'x' &&
                    dyn_hex_val(p[2]) >= 0 && dyn_hex_val(p[3]) >= 0) {
                    dbuf_appendc(&cur, (char)(dyn_hex_val(p[2]) * 16 +
                                              dyn_hex_val(p[3])));
                    p += 4;
                    continue;
                }
                if (*p == '\\' && p + 1 < end) {
                    char ch = p[1];
                    switch (ch) {
                    case 'n': ch = '\n'; break;
                    case 'r': ch = '\r'; break;
                    case 't': ch = '\t'; break;
                    case 'b': ch = '\b'; break;
                    case 'a': ch = '\a'; break;
                    default: break;
                    }
                    dbuf_appendc(&cur, ch);
                    p += 2;
                    continue;
                }
                if (*p == '"') {
                    p++;
                    if (p < end && !(*p == ' ' || *p == '\t' || *p == '\r' ||
                                     *p == '\n'))
                        goto unbalanced;
                    break;
                }
                dbuf_appendc(&cur, *p++);
            } else if (insq) {
                if (p >= end)
                    goto unbalanced;
                if (*p == '\\' && p + 1 < end && p[1] == '\'') {
                    dbuf_appendc(&cur, '\'');
                    p += 2;
                    continue;
                }
                if (*p == '\'') {
                    p++;
                    if (p < end && !(*p == ' ' || *p == '\t' || *p == '\r' ||
                                     *p == '\n'))
                        goto unbalanced;
                    break;
                }
                dbuf_appendc(&cur, *p++);
            } else {
                if (p >= end || *p == ' ' || *p == '\t' || *p == '\r' ||
                    *p == '\n')
                    break;
                if (*p == '"') {
                    inq = 1;
                    p++;
                } else if (*p == '\'') {
                    insq = 1;
                    p++;
                } else {
                    dbuf_appendc(&cur, *p++);
                }
            }
        }
        words_push(w, &cur);
    }
    dbuf_free(&cur);
    return 0;
unbalanced:
    dbuf_free(&cur);
    words_free(w);
    return DYN_EINVAL;
}

/* Whether a config line sets a secret option (its first word names one). */
static int line_is_secret(const char *p, size_t len)
{
    size_t n = 0;
    while (n < len && p[n] != ' ' && p[n] != '\t')
        n++;
    const struct opt *o = opt_find(p, n);
    return o && (o->flags & F_SECRET);
}

/* Shortens a line for quoting in an error; a secret's value is not shown
 * (the message may end up in a log or a terminal scroll-back). */
static void quote_line(struct dbuf *out, const char *p, size_t len,
                       int secret)
{
    size_t max = 80;
    if (secret) {
        size_t n = 0;
        while (n < len && p[n] != ' ' && p[n] != '\t')
            n++;
        dbuf_printf(out, "'%.*s %s'", (int)n, p, CONFIG_REDACTED);
        return;
    }
    dbuf_appendc(out, '\'');
    dbuf_append(out, p, DYN_MIN(len, max));
    if (len > max)
        dbuf_appends(out, "...");
    dbuf_appendc(out, '\'');
}

static void err_finish(struct dbuf *err, struct dbuf *msg)
{
    if (!err)
        return;
    dbuf_reset(err);
    dbuf_append(err, msg->p, msg->len);
    dbuf_reserve(err, 1);
    err->p[err->len] = '\0';
}

/* Moves msg into err, frees msg, and returns rc (an error path's tail). */
static int err_fail(struct dbuf *err, struct dbuf *msg, int rc)
{
    err_finish(err, msg);
    dbuf_free(msg);
    return rc;
}

int config_load_string(struct config *c, const char *text, const char *origin,
                       struct dbuf *err)
{
    const char *p = text;
    int lineno = 0;
    struct words w = {0, 0, NULL};
    struct dbuf msg;
    dbuf_init(&msg);
    int rc = 0;
    if (!origin)
        origin = "config";
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        const char *line = p;
        p = nl ? nl + 1 : p + len;
        lineno++;
        /* trim for comment detection and for quoting in errors */
        while (len && (*line == ' ' || *line == '\t')) {
            line++;
            len--;
        }
        while (len && (line[len - 1] == '\r' || line[len - 1] == ' ' ||
                       line[len - 1] == '\t'))
            len--;
        if (len == 0 || line[0] == '#')
            continue;
        if (split_words(line, len, &w) != 0) {
            dbuf_printf(&msg, "%s:%d: unbalanced quotes in ", origin, lineno);
            quote_line(&msg, line, len, line_is_secret(line, len));
            rc = DYN_EINVAL;
            break;
        }
        if (w.argc == 0)
            continue;
        const struct opt *o = opt_find(w.argv[0], strlen(w.argv[0]));
        if (!o) {
            dbuf_printf(&msg, "%s:%d: unknown option '%s'", origin, lineno,
                        w.argv[0]);
            rc = DYN_EINVAL;
            break;
        }
        struct pval v;
        enum perr pe = opt_parse(o, w.argc - 1, w.argv + 1, &v);
        if (pe != PE_NONE) {
            dbuf_printf(&msg, "%s:%d: ", origin, lineno);
            if (pe == PE_NARGS || pe == PE_NOARGS) {
                dbuf_printf(&msg, "wrong number of values for '%s': ",
                            o->name);
                reason(&msg, o, pe, w.argc - 1, 0);
                for (int i = 1; i < w.argc; i++) {
                    if (w.argv[i][0] == '#') {
                        dbuf_appends(&msg, " (comments must be on a line "
                                     "of their own)");
                        break;
                    }
                }
            } else {
                char *joined = join_args(w.argc - 1, w.argv + 1);
                dbuf_printf(&msg, "invalid value for '%s': '%s' (", o->name,
                            (o->flags & F_SECRET) ? CONFIG_REDACTED : joined);
                dyn_free(joined);
                reason(&msg, o, pe, w.argc - 1, 0);
                dbuf_appendc(&msg, ')');
            }
            rc = DYN_EINVAL;
            break;
        }
        const char *mn;
        size_t mlen = (o->flags & F_MEMBER) ? member_name(v.str, &mn) : 0;
        if (mlen && member_listed(*str_slot(c, o), mn, mlen)) {
            dbuf_printf(&msg, "%s:%d: cluster-node '%.*s' appears twice",
                        origin, lineno, (int)mlen, mn);
            dyn_free(v.str);
            rc = DYN_EINVAL;
            break;
        }
        char where[PATH_MAX + 32];
        snprintf(where, sizeof(where), "%s:%d", origin, lineno);
        opt_store_at(c, o, &v, where);
        words_free(&w);
    }
    words_free(&w);
    if (rc != 0)
        err_finish(err, &msg);
    dbuf_free(&msg);
    return rc;
}

int config_load_file(struct config *c, const char *path, struct dbuf *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        err_set(err, "%s: cannot open config file: %s", path,
                strerror(errno));
        return DYN_EIO;
    }
    struct dbuf text;
    dbuf_init(&text);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        dbuf_append(&text, chunk, n);
    int bad = ferror(f);
    int saved = errno;
    fclose(f);
    if (bad) {
        dbuf_free(&text);
        err_set(err, "%s: cannot read config file: %s", path,
                strerror(saved));
        return DYN_EIO;
    }
    if (memchr(text.p, '\0', text.len)) {
        dbuf_free(&text);
        err_set(err, "%s: config file contains a NUL byte", path);
        return DYN_EINVAL;
    }
    dbuf_appendc(&text, '\0');
    int rc = config_load_string(c, text.p, path, err);
    dbuf_free(&text);
    return rc;
}

/* ---- the command line -------------------------------------------------- */

int config_load_argv(struct config *c, int argc, char **argv, int start,
                     struct dbuf *err)
{
    struct dbuf msg;
    dbuf_init(&msg);
    int i = start;
    while (i < argc) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            dbuf_printf(&msg, "unexpected argument '%s': options are given "
                        "as --name value", a);
            goto fail;
        }
        const char *name = a + 2;
        int j = i + 1;
        while (j < argc && strncmp(argv[j], "--", 2) != 0)
            j++;
        const struct opt *o = opt_find(name, strlen(name));
        if (!o) {
            dbuf_printf(&msg, "%s: unknown option '%s'", a, name);
            goto fail;
        }
        int nv = j - i - 1;
        struct pval v;
        enum perr pe = opt_parse(o, nv, argv + i + 1, &v);
        if (pe == PE_NOARGS) {
            dbuf_printf(&msg, "%s: a value is required", a);
            goto fail;
        }
        if (pe == PE_NARGS) {
            dbuf_printf(&msg, "%s: ", a);
            reason(&msg, o, pe, nv, 0);
            goto fail;
        }
        if (pe != PE_NONE) {
            char *joined = join_args(nv, argv + i + 1);
            dbuf_printf(&msg, "%s: invalid value '%s' (", a,
                        (o->flags & F_SECRET) ? CONFIG_REDACTED : joined);
            dyn_free(joined);
            reason(&msg, o, pe, nv, 0);
            dbuf_appendc(&msg, ')');
            goto fail;
        }
        const char *mn;
        size_t mlen = (o->flags & F_MEMBER) ? member_name(v.str, &mn) : 0;
        if (mlen && member_listed(*str_slot(c, o), mn, mlen)) {
            dbuf_printf(&msg, "%s: cluster-node '%.*s' appears twice", a,
                        (int)mlen, mn);
            dyn_free(v.str);
            goto fail;
        }
        char *joined = join_args(nv, argv + i + 1);
        struct dbuf where;
        dbuf_init(&where);
        dbuf_printf(&where, "command line: %s %s%c", a,
                    (o->flags & F_SECRET) ? CONFIG_REDACTED : joined, 0);
        opt_store_at(c, o, &v, where.p);
        dbuf_free(&where);
        dyn_free(joined);
        i = j;
    }
    dbuf_free(&msg);
    return 0;
fail:
    return err_fail(err, &msg, DYN_EINVAL);
}

/* ---- cross-field rules ------------------------------------------------- */

/* Starts a start-up message about option `name`: "; " between messages,
 * then the place where it was set (or, when it holds its default, where
 * `alt` was set; "config" if neither was set). */
static void located(struct dbuf *msg, int bad, const struct config *c,
                    const char *name, const char *alt)
{
    const char *at = config_origin(c, name);
    if (!at && alt)
        at = config_origin(c, alt);
    dbuf_printf(msg, "%s%s: ", bad ? "; " : "", at ? at : "config");
}

/* r or w against n.  `where` != 0 (start-up) puts each message after the
 * place of the option it blames and names n's place; 0 is CONFIG SET's
 * Redis wording, without places. */
static void quorum_rule(struct dbuf *msg, int bad, const struct config *c,
                        const char *name, int v, int where)
{
    if (where)
        located(msg, bad, c, name, "n");
    else if (bad)
        dbuf_appends(msg, "; ");
    dbuf_printf(msg, "%s (%d) must not be greater than n (%d)", name, v,
                c->n);
    const char *at_n = config_origin(c, "n");
    const char *at_v = config_origin(c, name);
    if (where && at_n && at_v)
        dbuf_printf(msg, " (n is set at %s)", at_n);
}

/* The rules that must hold between options.  Appends one message per
 * broken rule (joined by "; ") to msg and returns how many broke.  Used by
 * config_validate (where = 1) and, for the runtime options, by
 * config_set_many (where = 0). */
static int cross_check(const struct config *c, struct dbuf *msg,
                       const char **culprit, int where)
{
    int bad = 0;
    *culprit = NULL;
    if (c->w > c->n) {
        quorum_rule(msg, bad, c, "w", c->w, where);
        if (!*culprit)
            *culprit = "w";
        bad++;
    }
    if (c->r > c->n) {
        quorum_rule(msg, bad, c, "r", c->r, where);
        if (!*culprit)
            *culprit = "r";
        bad++;
    }
    return bad;
}

int config_validate(const struct config *c, struct dbuf *err,
                    struct dbuf *warn)
{
    struct dbuf msg;
    dbuf_init(&msg);
    const char *culprit;
    int bad = cross_check(c, &msg, &culprit, 1);
    int rp = c->ring_partitions;
    int members = c->cluster_nodes && c->cluster_nodes[0];
    int seeds = c->seeds && c->seeds[0];
    if (rp < 16 || rp > 65536 || (rp & (rp - 1)) != 0) {
        located(&msg, bad, c, "ring-partitions", NULL);
        dbuf_printf(&msg, "ring-partitions (%d) must be a power of two "
                    "between 16 and 65536", rp);
        bad++;
    }
    if (members && c->cluster_port == 0 && c->port + 10000 > 65535) {
        located(&msg, bad, c, "port", "cluster-node");
        dbuf_printf(&msg, "the peer bus port (port + 10000 = %d) is out "
                    "of range: set cluster-port", c->port + 10000);
        bad++;
    }
    /* cluster_init refuses this too; here the message can say where the
     * node was made a cluster member */
    if ((members || seeds) && !(c->cluster_secret && c->cluster_secret[0]) &&
        !c->cluster_insecure) {
        located(&msg, bad, c, members ? "cluster-node" : "seed", NULL);
        dbuf_printf(&msg, "cluster-secret is not set: the peer bus will "
                    "not start without one (or set cluster-insecure yes)");
        bad++;
    }
    if (members && c->node_name && c->node_name[0] &&
        !member_listed(c->cluster_nodes, c->node_name, strlen(c->node_name))) {
        located(&msg, bad, c, "node-name", "cluster-node");
        dbuf_printf(&msg, "node-name '%s' is not among the cluster-node "
                    "lines", c->node_name);
        bad++;
    }
    if (c->daemonize) {
        located(&msg, bad, c, "daemonize", NULL);
        dbuf_printf(&msg, "daemonize yes is not supported: dynamod runs "
                    "in the foreground (use a supervisor, or "
                    "tools/dynamo-cluster)");
        bad++;
    }
    if (c->node_name && !node_name_ok(c->node_name)) {
        located(&msg, bad, c, "node-name", NULL);
        dbuf_printf(&msg, "node-name '%s' is invalid: ", c->node_name);
        reason(&msg, &options[0], PE_NODENAME, 1, 0);
        bad++;
    }
    if (!bad && c->r + c->w <= c->n && warn) {
        dbuf_printf(warn, "r + w (%d + %d) <= n (%d): read and write quorums "
                    "need not overlap, so a read may miss the latest "
                    "acknowledged write\n", c->r, c->w, c->n);
        dbuf_reserve(warn, 1);
        warn->p[warn->len] = '\0';
    }
    if (bad)
        err_finish(err, &msg);
    dbuf_free(&msg);
    return bad ? DYN_EINVAL : 0;
}

int config_check_dir(const struct config *c, struct dbuf *err)
{
    const char *dir = c->dir && c->dir[0] ? c->dir : ".";
    const char *at = config_origin(c, "dir");
    struct dbuf msg;
    struct stat st;
    dbuf_init(&msg);
    dbuf_printf(&msg, "%s: dir '%s' ", at ? at : "config (default)", dir);
    if (stat(dir, &st) != 0 && errno == ENOENT && mkdir(dir, 0755) != 0) {
        dbuf_printf(&msg, "does not exist and cannot be created: %s",
                    strerror(errno));
        goto fail;
    }
    if (stat(dir, &st) != 0) {
        dbuf_printf(&msg, "cannot be used: %s", strerror(errno));
        goto fail;
    }
    if (!S_ISDIR(st.st_mode)) {
        dbuf_appends(&msg, "is not a directory");
        goto fail;
    }
    /* access(W_OK) would say yes to root on a read-only mount or sysfs:
     * create and remove a file, as the node will. */
    char probe[PATH_MAX];
    snprintf(probe, sizeof(probe), "%s/.dynamod-write-test.%ld", dir,
             (long)getpid());
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0 && errno == EEXIST) {
        unlink(probe); /* left by a crashed earlier run with our pid */
        fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0600);
    }
    if (fd < 0) {
        dbuf_printf(&msg, "is not writable: %s", strerror(errno));
        goto fail;
    }
    close(fd);
    unlink(probe);
    dbuf_free(&msg);
    return 0;
fail:
    return err_fail(err, &msg, DYN_EIO);
}

void config_finalize(struct config *c)
{
    if (!c->node_name || c->node_name[0] == '\0') {
        char buf[32];
        snprintf(buf, sizeof(buf), "node-%d", c->port);
        dyn_free(c->node_name);
        c->node_name = dyn_strdup(buf);
    }
}

/* ---- CONFIG GET / CONFIG SET ------------------------------------------- */

static int has_glob(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] == '*' || p[i] == '?' || p[i] == '[' || p[i] == '\\')
            return 1;
    return 0;
}

/* What CONFIG GET shows: the value, or for a secret only whether it is
 * set.  Anyone who can reach the client port (and, by default, requirepass
 * is empty) can run CONFIG GET, and the cluster secret would let them pass
 * the peer bus's authentication; so it never leaves the node.  requirepass
 * is shown, as Redis shows it: a client must know it to run CONFIG GET
 * once it is set. */
static const char *opt_render_public(const struct config *c,
                                     const struct opt *o, char *buf)
{
    const char *v = opt_render(c, o, buf);
    if (o->flags & F_SECRET)
        return v[0] ? CONFIG_REDACTED : "";
    return v;
}

void config_get(const struct config *c, const char *pattern, size_t plen,
                config_get_fn fn, void *ctx)
{
    char buf[32];
    if (!has_glob(pattern, plen)) {
        /* Redis answers an exact name with the name as the client spelled
         * it ("CONFIG GET PORT" -> "PORT"). */
        const struct opt *o = opt_find(pattern, plen);
        if (o) {
            char *name = dyn_memdup(pattern, plen + 1);
            name[plen] = '\0';
            fn(ctx, name, opt_render_public(c, o, buf));
            dyn_free(name);
        }
        return;
    }
    for (size_t i = 0; i < DYN_ARRAY_LEN(options); i++) {
        const struct opt *o = &options[i];
        if (dyn_glob_match(pattern, plen, o->name, strlen(o->name), 1))
            fn(ctx, o->name, opt_render_public(c, o, buf));
    }
}

/* Splits a CONFIG SET value into words on spaces (for multi-word options,
 * as Redis does for bind). */
static void split_spaces(const char *s, struct words *w)
{
    struct dbuf cur;
    dbuf_init(&cur);
    w->argc = 0;
    for (;;) {
        while (*s == ' ')
            s++;
        if (!*s)
            break;
        while (*s && *s != ' ')
            dbuf_appendc(&cur, *s++);
        words_push(w, &cur);
    }
    dbuf_free(&cur);
}

struct saved {
    const struct opt *o;
    long long num;
    char *str; /* owned copy */
};

static void restore(struct config *c, struct saved *sv, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        if (sv[i].o->type == T_STR) {
            char **slot = str_slot(c, sv[i].o);
            dyn_free(*slot);
            *slot = sv[i].str;
            sv[i].str = NULL;
        } else {
            num_put(c, sv[i].o, sv[i].num);
        }
    }
}

static void set_fail(struct dbuf *err, const char *name, struct dbuf *why)
{
    struct dbuf msg;
    dbuf_init(&msg);
    dbuf_printf(&msg, "CONFIG SET failed (possibly related to argument "
                "'%s') - ", name);
    dbuf_append(&msg, why->p, why->len);
    err_finish(err, &msg);
    dbuf_free(&msg);
}

int config_set_many(struct config *c, int npairs, char **nv,
                    struct dbuf *err)
{
    const struct opt **os = dyn_calloc((size_t)npairs + 1, sizeof(*os));
    struct saved *sv = dyn_calloc((size_t)npairs + 1, sizeof(*sv));
    struct dbuf why;
    dbuf_init(&why);
    int rc = 0, nsaved = 0;

    /* First every name: unknown, immutable, duplicate, as Redis checks. */
    for (int i = 0; i < npairs; i++) {
        const char *name = nv[2 * i];
        os[i] = opt_find(name, strlen(name));
        if (!os[i]) {
            err_set(err, "Unknown option or number of arguments for CONFIG "
                    "SET - '%s'", name);
            rc = DYN_ENOTFOUND;
            goto out;
        }
        if (!(os[i]->flags & F_RUNTIME)) {
            dbuf_appends(&why, "can't set immutable config");
            set_fail(err, name, &why);
            rc = DYN_EINVAL;
            goto out;
        }
        for (int j = 0; j < i; j++) {
            if (os[j] == os[i]) {
                dbuf_appends(&why, "duplicate parameter");
                set_fail(err, name, &why);
                rc = DYN_EINVAL;
                goto out;
            }
        }
    }
    /* Then the values, each stored after its old value is saved. */
    for (int i = 0; i < npairs; i++) {
        const struct opt *o = os[i];
        const char *name = nv[2 * i], *val = nv[2 * i + 1];
        struct words w = {0, 0, NULL};
        struct pval v;
        enum perr pe;
        if (o->flags & (F_MULTI | F_COBL)) {
            split_spaces(val, &w);
            pe = opt_parse(o, w.argc, w.argv, &v);
        } else {
            char *one[1] = {(char *)val};
            pe = opt_parse(o, 1, one, &v);
        }
        words_free(&w);
        if (pe != PE_NONE) {
            reason(&why, o, pe, 1, 1);
            set_fail(err, name, &why);
            rc = DYN_EINVAL;
            goto out;
        }
        sv[nsaved].o = o;
        if (o->type == T_STR)
            sv[nsaved].str = dyn_strdup(*str_slot(c, o));
        else
            sv[nsaved].num = num_get(c, o);
        nsaved++;
        opt_store(c, o, &v);
    }
    /* Last the rules between options, on the result. */
    const char *culprit;
    if (cross_check(c, &why, &culprit, 0)) {
        /* Blame the option the client set: r or w itself, else n. */
        const char *name = culprit;
        for (int i = 0; i < npairs; i++)
            if (strcmp(os[i]->name, "n") == 0)
                name = nv[2 * i];
        for (int i = 0; i < npairs; i++)
            if (strcmp(os[i]->name, culprit) == 0)
                name = nv[2 * i];
        set_fail(err, name, &why);
        rc = DYN_EINVAL;
        goto out;
    }
out:
    if (rc != 0)
        restore(c, sv, nsaved);
    for (int i = 0; i < nsaved; i++)
        dyn_free(sv[i].str);
    dyn_free(sv);
    dyn_free(os);
    dbuf_free(&why);
    return rc;
}

int config_set(struct config *c, const char *name, const char *value,
               struct dbuf *err)
{
    char *nv[2] = {(char *)name, (char *)value};
    return config_set_many(c, 1, nv, err);
}

int config_is_runtime(const char *name)
{
    const struct opt *o = opt_find(name, strlen(name));
    return o && (o->flags & F_RUNTIME);
}
