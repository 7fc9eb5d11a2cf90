/*
 * config.h -- the node's configuration, described by a table.
 *
 * Every option has one row (config.c): name, type, offset into struct config,
 * default, min, max, and whether CONFIG SET may change it at run time.  The
 * same table drives the config file parser, the command line (--name value),
 * CONFIG GET (glob patterns) and CONFIG SET, so they cannot disagree.
 *
 * File syntax is Redis's: one "name value..." per line, '#' comments,
 * double/single quoted values with escapes.  Sizes accept k/kb/m/mb/g/gb
 * (1k = 1000, 1kb = 1024, as Redis).  Booleans are yes/no.
 *
 * Errors: config_load_* return 0 or a negative dyn_err and write a message
 * that names the file and line (or the command-line option) into err.
 * Cross-field checks (config_validate, config_check_dir) run after all
 * sources are parsed: W <= N and R <= N are required; R + W <= N only
 * warns.  They name the place too: the config remembers where each option
 * was set ("conf/x.conf:3", "command line: --r 5"), and every message
 * starts with the place of the option it blames.
 *
 * Thread-safety: the event loop owns the config.
 */
#ifndef DYN_CONFIG_H
#define DYN_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include "server/buf.h"

enum conflict_policy { CONFLICT_SIBLINGS = 0, CONFLICT_LWW = 1 };
enum appendfsync_mode { FSYNC_ALWAYS = 0, FSYNC_EVERYSEC = 1, FSYNC_NO = 2 };
enum storage_mode { STORAGE_MEMORY = 0, STORAGE_DISK = 1 };
enum tls_auth_mode { TLS_AUTH_NO = 0, TLS_AUTH_YES = 1, TLS_AUTH_OPTIONAL = 2 };

struct config {
    /* network */
    char *bind;                 /* "127.0.0.1", space-separated list allowed */
    int port;                   /* 7001 */
    int protected_mode;         /* yes */
    int tcp_backlog;            /* 511 */
    int maxclients;             /* 10000 */
    int timeout;                /* idle client timeout, s; 0 = never */
    int tcp_keepalive;          /* s, 300 */
    char *requirepass;          /* NULL / "" = none */
    long long proto_max_bulk_len;          /* 512mb */
    long long typed_cache_size;            /* 64mb: decoded typed states
                                            * kept (server/tcache.h) */
    long long client_query_buffer_limit;   /* 1gb */
    long long client_output_buffer_limit;  /* hard limit, bytes: 256mb */
    /* TLS */
    int tls_port;               /* 0 = no TLS client port */
    int http_port;              /* JSON API (evhttp); 0 = off */
    int http_max_connections;   /* http connections open at once, 128 */
    int http_stream_max;        /* /api/stream subscribers at once, 8 */
    char *tls_cert_file;        /* PEM certificate (chain) of the node */
    char *tls_key_file;         /* its PEM private key */
    char *tls_ca_cert_file;     /* CAs that client certificates must chain to */
    int tls_auth_clients;       /* enum tls_auth_mode, yes */
    int tls_cluster;            /* peer bus over TLS 1.3 (PSK from the secret) */
    /* process */
    char *node_name;            /* default "node-<port>" */
    char *dir;                  /* data directory, "." */
    char *logfile;              /* "" = stderr */
    int loglevel;               /* enum dlog_level, notice */
    char *pidfile;              /* "" = none */
    int hz;                     /* background task frequency, 10 */
    int daemonize;              /* no (not supported: must be no) */
    /* keyspace */
    int databases;              /* 1: only SELECT 0 */
    int ring_partitions;        /* 256, power of two */
    int vclock_max_entries;     /* 10 */
    int max_siblings;           /* 100: beyond it writes get an error */
    int conflict_policy;        /* enum conflict_policy */
    int tombstone_grace_s;      /* 60 */
    int active_expire;          /* yes */
    /* quorum (used from the cluster issue on; N=R=W=1 act alone) */
    int n;                      /* 3 */
    int r;                      /* 2 */
    int w;                      /* 2 */
    /* storage */
    int storage;                /* enum storage_mode, disk */
    int appendfsync;            /* enum appendfsync_mode, everysec */
    long long segment_max_bytes; /* 64mb: a data segment rolls over past it */
    int compact_ratio_pm;       /* compact-ratio in thousandths (0.5 = 500) */
    int value_cache;            /* no: values stay on disk (Bitcask) */
    long long journal_max_bytes; /* 16mb: the typed-op journal checkpoints
                                  * past it; 0: no journal (server/journal.h) */
    long long journal_held_max_bytes; /* 64mb: versions held newer than
                                       * their records (the journal's
                                       * edits, server/engine.c) */
    /* cluster */
    char *cluster_nodes;        /* "NAME HOST:PORT[@PEERPORT]" lines joined
                                 * by '\n'; empty = a node alone */
    int cluster_port;           /* peer bus; 0 = port + 10000 */
    char *cluster_secret;       /* HMAC key of the peer bus */
    char *cluster_announce_ip;  /* advertised address; "" = from bind */
    int cluster_insecure;       /* run the bus without a secret */
    int request_timeout_ms;     /* quorum deadline, 1000 */
    int keyspace_slice_keys;    /* keys a listing visits per loop turn */
    char *seeds;                /* "HOST:PORT" lines joined by '\n' */
    char *spare_nodes;          /* "HOST:PORT" lines of nodes an operator
                                 * may add (POST /api/nodes), '\n' */
    int gossip_interval_ms;     /* 1000 */
    int suspect_timeout_ms;     /* unanswered this long: suspect, 1000 */
    int down_timeout_ms;        /* unanswered this long: down, 3000 */
    long long hint_max_bytes;   /* hint store budget, 256mb */
    int replica_deltas;         /* yes: quorum reads skip equal copies,
                                 * writes of large objects go as deltas */
    /* anti-entropy */
    int merkle_leaves;          /* leaves per partition tree, 1024 */
    int anti_entropy_interval_ms; /* one partition exchange per, 10000; 0 off */
    int anti_entropy_sweep_ms;  /* root sweep of all partitions per, 1000;
                                 * 0 no sweep */
    long long anti_entropy_max_bps; /* exchange bandwidth cap, 10mb; 0 = none */
    /* observability */
    int trace_max;              /* DYNAMO.TRACE ring size, 128; 0 off */
    int event_max;              /* DYNAMO.EVENTS ring size, 1024; 0 off */
    int version_history;        /* DYNAMO.VERSIONS: versions kept per key,
                                 * 16; 0 off */
    int version_history_keys;   /* ... for this many keys (the least
                                 * recently written evicted), 1024 */
    /* where each option was set, by table row (config.c): "file:line",
     * "command line: --name value", or NULL for the default; owned */
    char **origin;
};

/* What CONFIG GET shows for a secret option that is set (cluster-secret):
 * the value itself never leaves the node. */
#define CONFIG_REDACTED "(redacted)"

void config_init_defaults(struct config *c);
void config_free(struct config *c);

/* Parses a config file.  Returns 0 or <0 with err = "file:line: message". */
int config_load_file(struct config *c, const char *path, struct dbuf *err);
/* Parses argv from index `start`: "--name value [value...]" pairs, as
 * redis-server does.  Returns 0 or <0 with err set. */
int config_load_argv(struct config *c, int argc, char **argv, int start,
                     struct dbuf *err);
/* Parses a whole config text (used by the two above and by tests). `origin`
 * names it in errors. */
int config_load_string(struct config *c, const char *text, const char *origin,
                       struct dbuf *err);
/* Cross-field checks.  Returns 0 or <0 with err; warnings go to warn
 * (appended, one per line, each ending in '\n'; warn may be NULL). */
int config_validate(const struct config *c, struct dbuf *err,
                    struct dbuf *warn);
/* Fills what defaults from other options: node-name "" -> "node-<port>".
 * Call once after all sources are loaded, before config_validate. */
void config_finalize(struct config *c);
/* Where option `name` was set at start-up: "file:line", "command line:
 * --name value" (a secret's value redacted), or NULL when it holds its
 * default.  For cluster-node and seed, the first of their lines. */
const char *config_origin(const struct config *c, const char *name);
/* Checks that dir is a writable directory, creating it when only its last
 * component is missing (as the storage engine did).  Returns 0, or <0
 * with err = "<where dir was set>: dir '...' ...". */
int config_check_dir(const struct config *c, struct dbuf *err);

/* CONFIG GET: calls fn(name, value) for every option matching the glob
 * (case-insensitive), in table order.  A pattern without glob characters
 * that names an option reports it under the pattern's own spelling, as
 * Redis does ("CONFIG GET PORT" -> "PORT").  Values render as Redis renders
 * them: sizes as plain byte counts, booleans yes/no, enums by name; a
 * secret (cluster-secret) renders as CONFIG_REDACTED when set, "" when not. */
typedef void (*config_get_fn)(void *ctx, const char *name, const char *value);
void config_get(const struct config *c, const char *pattern, size_t plen,
                config_get_fn fn, void *ctx);
/* CONFIG SET of one option at run time.  Returns 0, or <0 with err set to
 * Redis's wording: "Unknown option or number of arguments for CONFIG SET -
 * 'x'" (DYN_ENOTFOUND), "CONFIG SET failed (possibly related to argument
 * 'x') - ..." (DYN_EINVAL).  The text has NO leading "ERR ": the handler
 * adds it.  config_set only stores the value; applying a change (e.g.
 * loglevel -> dlog_set_level) is the caller's job.  Multi-word options
 * (bind, client-output-buffer-limit) take one space-separated value.
 * Errors in every config_* function reset err and leave it NUL-terminated.
 */
int config_set(struct config *c, const char *name, const char *value,
               struct dbuf *err);
/* Redis 7's multi-pair CONFIG SET n1 v1 n2 v2 ...: all-or-nothing.  nv has
 * 2*npairs strings.  Names are all checked first (unknown, immutable,
 * duplicate), then values, then the cross-field rules (w <= n, r <= n) on
 * the result; on any error every option is restored. */
int config_set_many(struct config *c, int npairs, char **nv,
                    struct dbuf *err);
/* 1 if CONFIG SET may change the option. */
int config_is_runtime(const char *name);
/* 1 if name is a known option (case-insensitive). */
int config_known(const char *name);

#endif
