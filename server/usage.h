/*
 * usage.h -- the usage notation of Redis's docs, parsed into the argument
 * tree that COMMAND DOCS shows (pure).
 *
 * A usage line is what a person reads in a command's documentation:
 *
 *   key value [NX|XX] [GET] [EX seconds|PX milliseconds|KEEPTTL]
 *
 * usage_parse turns it into a tree of struct usage_arg, one node per
 * argument, which cmd_command.c writes out as Redis's argument maps:
 *
 *   notation        node
 *   word            {name word, type string}, or type key for a word that
 *                   starts or ends with "key", or is source / destination
 *   UPPER           {name upper, type pure-token, token UPPER}
 *   UPPER word      {name word, type string, token UPPER}
 *   a|b|c           {type oneof, children a, b, c}
 *   [x]             x, optional (a block around x when x is several items)
 *   x [x ...]       x, multiple (a block around x when x is several items)
 *
 * The module also holds the usage lines of the node's commands
 * (usage_find), keyed by command name ("get", "config|get"): a line is
 * documentation, kept apart from the handlers, and here a unit test can
 * parse every one of them.
 *
 * Invariants: a tree is a fixed pool (no allocation, so any line can be
 * parsed anywhere); children and siblings are linked by index, -1 ends a
 * list.  A line either parses completely or usage_parse returns an error:
 * a caller never sees half a tree.
 *
 * Thread-safety: none needed; no state outside the caller's tree.
 *
 * Errors: DYN_EINVAL for a malformed line (unbalanced or empty brackets, an
 * empty alternative, "..." anywhere but at the end of a bracketed group or
 * with nothing before it to repeat, a control or non-ASCII byte, an empty
 * line); DYN_ELIMIT when a line needs more than USAGE_MAX_ARGS nodes, more
 * than USAGE_MAX_DEPTH nested brackets, or a word of USAGE_NAME_MAX bytes
 * or more.
 */
#ifndef DYN_USAGE_H
#define DYN_USAGE_H

#include <stddef.h>

enum usage_type {
    USAGE_STRING,
    USAGE_KEY,
    USAGE_TOKEN,  /* a pure token: a keyword with no value */
    USAGE_ONEOF,
    USAGE_BLOCK,
};

#define USAGE_MAX_ARGS 96
#define USAGE_NAME_MAX 48 /* a name or token, its NUL included */
#define USAGE_MAX_DEPTH 8

struct usage_arg {
    char name[USAGE_NAME_MAX];
    char token[USAGE_NAME_MAX]; /* "" when the argument has no token */
    int type;                   /* enum usage_type */
    int optional, multiple;     /* 0 or 1 */
    int child, next;            /* indices into the tree, -1 = none */
};

struct usage_tree {
    struct usage_arg arg[USAGE_MAX_ARGS];
    int used;
    int head; /* the first top-level argument, -1 when there is none */
    int err;  /* parser-internal: the first error met, 0 if none */
};

/* Parses the NUL-terminated line into t (overwritten).  Returns 0, or
 * DYN_EINVAL / DYN_ELIMIT as the essay says; on error t->head is -1. */
int usage_parse(struct usage_tree *t, const char *line);

/* The number of arguments in the sibling list that starts at index i. */
int usage_count(const struct usage_tree *t, int i);

/* Redis's name of a type: "string", "key", "pure-token", "oneof", "block". */
const char *usage_type_name(int type);

/* The usage line of a command ("get", "config|get"), or NULL when it has
 * none (it takes no arguments, or is not documented here). */
const char *usage_find(const char *name);

/* The whole table, sorted by name in strcmp order. */
struct usage_row {
    const char *name;
    const char *line;
};
const struct usage_row *usage_rows(size_t *n);

#endif
