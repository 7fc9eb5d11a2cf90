/*
 * command.h -- the command table.
 *
 * Commands are data: each cmd_*.c module exports a table of struct command
 * rows (name, handler, arity, flags, key positions, docs, and how the
 * command routes in a cluster).  command.c joins the tables into one
 * case-insensitive lookup at startup (owned by the node); dispatch.h runs
 * each parsed request through it.  Adding a command is one row and one
 * handler; a handler writes its reply to c->obuf and reports an error with
 * client_error (client.h), which is its status.
 *
 * Arity follows Redis: N > 0 means exactly N arguments (the name included),
 * -N means at least N.
 */
#ifndef DYN_COMMAND_H
#define DYN_COMMAND_H

#include <stddef.h>
#include <stdint.h>
#include "server/client.h"

typedef void (*command_proc)(struct client *c, int argc,
                             const struct dyn_arg *argv);

enum command_flags {
    CMD_WRITE = 1 << 0,
    CMD_READONLY = 1 << 1,
    CMD_ADMIN = 1 << 2,
    CMD_FAST = 1 << 3,
    CMD_NO_AUTH = 1 << 4,     /* allowed before AUTH (AUTH, HELLO, QUIT) */
    CMD_NO_MULTI = 1 << 5,    /* runs at once even inside MULTI */
    CMD_LOADING = 1 << 6,
    CMD_STALE = 1 << 7,
    CMD_NOSCRIPT = 1 << 8,
    CMD_DENYOOM = 1 << 9,
    CMD_SENTINEL = 1 << 10,
    CMD_MULTI_DENIED = 1 << 11, /* error if used inside MULTI (WATCH) */
    CMD_DYNAMO = 1 << 12,     /* a DYNAMO.* command */
    CMD_DATA = 1 << 13,       /* touches the keyspace (refused while killed) */
    CMD_CHANCE = 1 << 15,     /* a write whose effect draws on
                               * node_random (SPOP): the typed-op journal
                               * cannot run it again (server/replay.c) */
    CMD_INTERNAL = 1 << 14,   /* only the coordinator runs it (its child ops
                               * and peers' FWD): a client is told it is
                               * unknown (DYNAMO.OBJECT, DYNAMO.MERGE) */
};

/* How a command runs when the node is in a cluster: the coordinator
 * (cluster/coordinator.c) reads these columns, never the command's name.
 * A node alone runs every command locally. */
enum command_route {
    ROUTE_LOCAL = 0,  /* this node only: connection, server, admin */
    ROUTE_KEY,        /* one key: quorum read, run here, quorum write */
    ROUTE_KEY_BLIND,  /* one key whose context the client supplies: no read
                       * first (DYNAMO.PUT / DYNAMO.DEL) */
    ROUTE_PER_KEY,    /* several keys: one ROUTE_KEY op per key (as the
                       * per_key command), replies combined; with one key,
                       * one ROUTE_KEY op of the command itself */
    ROUTE_KEYSPACE,   /* the whole keyspace: each partition asked of its
                       * first reachable replica, answers combined */
    ROUTE_ALL,        /* every node runs it (FLUSHALL) */
    ROUTE_NOTIFY,     /* runs here, then every other node is told
                       * (DYNAMO.CONFIG SET) */
    ROUTE_REFUSED,    /* refused: its keys live on different nodes and no
                       * Dynamo changes them atomically */
    ROUTE_GATHER,     /* several keys of typed values (SINTER, SMOVE,
                       * ZUNIONSTORE ...): each key's merged object is read
                       * through its own replicas, the handler runs here
                       * on those copies, and every key it wrote is merged
                       * through that key's replicas (W acks each) */
};

/* How the answers of a ROUTE_PER_KEY / KEYSPACE / ALL command combine. */
enum command_combine {
    COMBINE_NONE = 0,
    COMBINE_ARRAY,    /* MGET: an array of the per-key replies */
    COMBINE_OK,       /* MSET: +OK unless one failed */
    COMBINE_SUM,      /* DEL, EXISTS ...: the sum of the integers */
    COMBINE_COUNT,    /* DBSIZE: R.COUNT summed */
    COMBINE_KEYS,     /* KEYS: R.KEYS concatenated */
    COMBINE_SCAN,     /* SCAN: R.KEYS of one partition, with a cursor */
    COMBINE_RANDOM,   /* RANDOMKEY: one of the R.RANDOM answers */
    COMBINE_FLUSH,    /* FLUSHALL: +OK when every node flushed */
    COMBINE_NODES,    /* DYNAMO.TRACE / EVENTS / ROOTS / GOSSIP: runs
                       * here alone; with CLUSTER first, every reachable
                       * member runs it (R.NODES), the arrays are
                       * concatenated, and each member that did not
                       * answer adds a {node, unanswered} record */
};

struct command {
    const char *name;         /* lower case; "config|get" for subcommands */
    command_proc proc;
    int arity;
    unsigned flags;           /* enum command_flags */
    int first_key, last_key, key_step;
    const char *acl_categories; /* space separated, e.g. "@write @string @slow" */
    const char *group;        /* "string", "generic", "connection", "server" */
    const char *since;        /* Redis version that added it, or ours */
    const char *summary;      /* one line, our own words */
    const char *complexity;
    const struct command *subcommands; /* NULL-name terminated, or NULL */
    /* in a cluster (enum command_route, enum command_combine) */
    uint8_t route;
    uint8_t combine;
    const char *per_key;      /* ROUTE_PER_KEY: the single-key command each
                               * key runs as (NULL: the command itself) */
    uint8_t numkeys_at;       /* ROUTE_GATHER: the index of a numkeys
                               * argument whose keys follow it (SINTERCARD,
                               * ZUNIONSTORE dst numkeys ..., LMPOP); 0:
                               * keys are first_key..last_key by key_step */
};

/* Each cmd_*.c module exports its rows, terminated by a row with name NULL. */
extern const struct command cmd_conn_table[];    /* cmd_conn.c */
extern const struct command cmd_info_table[];    /* cmd_info.c */
extern const struct command cmd_config_table[];  /* cmd_config.c */
extern const struct command cmd_command_table[]; /* cmd_command.c */
extern const struct command cmd_server_table[];  /* cmd_server.c */
extern const struct command cmd_string_table[];  /* cmd_string.c */
extern const struct command cmd_set_table[];     /* cmd_set.c */
extern const struct command cmd_hash_table[];    /* cmd_hash.c */
extern const struct command cmd_keys_table[];    /* cmd_keys.c */
extern const struct command cmd_multi_table[];   /* cmd_multi.c */
extern const struct command cmd_dynamo_table[];  /* cmd_dynamo.c */
extern const struct command cmd_cluster_table[]; /* cmd_cluster.c */
extern const struct command cmd_merkle_table[];  /* cmd_merkle.c */
extern const struct command cmd_trace_table[];   /* cmd_trace.c */
extern const struct command cmd_zset_table[];    /* cmd_zset.c */
extern const struct command cmd_list_table[];    /* cmd_list.c */

struct command_registry;
/* Joins ntables tables (each ended by a row whose name is NULL); a name
 * in two tables: the first row wins. */
struct command_registry *
command_registry_new(const struct command *const *tables, size_t ntables);
void command_registry_free(struct command_registry *r);
/* Case-insensitive; NULL if unknown. */
const struct command *command_lookup(const struct command_registry *r,
                                     const char *name, size_t len);
/* Iterates over all top-level commands. */
size_t command_count(const struct command_registry *r);
const struct command *command_at(const struct command_registry *r, size_t i);
/* Index used to keep per-command stats in the node (0..count-1 for top level
 * commands and their subcommands). */
size_t command_stat_index(const struct command_registry *r,
                          const struct command *cmd);
size_t command_stat_slots(const struct command_registry *r);

/* A container's subcommand row named by arg (case-insensitive), or NULL. */
const struct command *command_lookup_sub(const struct command *container,
                                         const char *arg, size_t len);

/* The keys of a call of cmd (first_key..last_key by key_step, or after
 * its numkeys argument, plus a key before it): their indexes into argv,
 * at most max; returns the count, or -1 when numkeys is not a count the
 * arguments hold (the handler then answers Redis's error). */
int command_keys(const struct command *cmd, int argc,
                 const struct dyn_arg *argv, int *pos, int max);

/* The index of the one key cmd acts on when called with argc arguments,
 * for a command that routes by key (ROUTE_KEY, ROUTE_KEY_BLIND, or
 * ROUTE_PER_KEY given one key), or 0: several keys or none. */
int command_single_key(const struct command *cmd, int argc);

/* A SCAN-family cursor as Redis reads it: strtoull over the whole
 * argument, no leading space, no overflow.  0, or -1 (the caller answers
 * "ERR invalid cursor"). */
int command_parse_cursor(const struct dyn_arg *a, uint64_t *out);

/* Replies with Redis's arity error for cmd. */
void command_reply_arity(struct client *c, const char *name);
/* "ERR syntax error" and friends, used by several handlers. */
#define ERR_SYNTAX "ERR syntax error"
#define ERR_NOT_INTEGER "ERR value is not an integer or out of range"
#define ERR_WRONGTYPE \
    "WRONGTYPE Operation against a key holding the wrong kind of value"

#endif
