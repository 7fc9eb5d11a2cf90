/*
 * command.h -- the command table and the dispatcher.
 *
 * Commands are data: each cmd_*.c module exports a table of struct command
 * rows (name, handler, arity, flags, key positions, docs).  command.c joins
 * the tables into one case-insensitive lookup at startup (owned by the node)
 * and dispatches each parsed request:
 *
 *   request ─> lookup ─> unknown? "ERR unknown command ..."
 *                 ─> auth required and not authenticated? NOAUTH
 *                 ─> arity wrong? "ERR wrong number of arguments for '%s' command"
 *                 ─> in MULTI and not CMD_NO_MULTI? queue, "+QUEUED"
 *                 ─> handler(c, argc, argv) appends its reply to c->obuf
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
};

/* Each cmd_*.c module exports its rows, terminated by a row with name NULL. */
extern const struct command cmd_conn_table[];    /* cmd_conn.c */
extern const struct command cmd_info_table[];    /* cmd_info.c */
extern const struct command cmd_config_table[];  /* cmd_config.c */
extern const struct command cmd_command_table[]; /* cmd_command.c */
extern const struct command cmd_server_table[];  /* cmd_server.c */
extern const struct command cmd_string_table[];  /* cmd_string.c */
extern const struct command cmd_keys_table[];    /* cmd_keys.c */
extern const struct command cmd_multi_table[];   /* cmd_multi.c */
extern const struct command cmd_dynamo_table[];  /* cmd_dynamo.c */
extern const struct command cmd_cluster_table[]; /* cmd_cluster.c */
extern const struct command cmd_merkle_table[];  /* cmd_merkle.c */

struct command_registry;
struct command_registry *command_registry_new(void);
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

/* Runs one parsed request for c: the checks above, then the handler.  Also
 * used by EXEC for queued commands (with CLIENT_IN_EXEC set). */
void command_dispatch(struct client *c, int argc, const struct dyn_arg *argv);
/* Runs a command that already passed the checks (EXEC), with stats. */
void command_call(struct client *c, const struct command *cmd, int argc,
                  const struct dyn_arg *argv);

/* Frees the commands MULTI queued and leaves the MULTI state (clears
 * CLIENT_MULTI and CLIENT_DIRTY_EXEC).  Used by EXEC, DISCARD, client close. */
void command_multi_reset(struct client *c);

/* Replies with Redis's arity error for cmd. */
void command_reply_arity(struct client *c, const char *name);
/* "ERR syntax error" and friends, used by several handlers. */
#define ERR_SYNTAX "ERR syntax error"
#define ERR_NOT_INTEGER "ERR value is not an integer or out of range"
#define ERR_WRONGTYPE \
    "WRONGTYPE Operation against a key holding the wrong kind of value"

#endif
