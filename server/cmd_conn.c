/*
 * cmd_conn.c -- connection commands: PING, ECHO, QUIT, SELECT, AUTH, HELLO,
 * RESET, TIME, SHUTDOWN and CLIENT with its subcommands.
 *
 * These mirror Redis 7.0 closely because clients depend on them during the
 * handshake: redis-py sends HELLO / CLIENT SETINFO, redis-cli sends
 * COMMAND DOCS and AUTH, benchmarks send PING.  Every error text is Redis's.
 *
 * Authentication knows one user, "default", whose password is requirepass
 * (no password: "default" accepts any password, as Redis's nopass user).
 * Passwords are compared in time independent of where they differ.
 *
 * Handlers never free a client: CLIENT KILL of another client goes through
 * client_close_async(), of oneself through CLIENT_CLOSE_AFTER_REPLY.
 *
 * Thread-safety: event loop only.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include "server/client.h"
#include "server/command.h"
#include "server/log.h"
#include "server/node.h"
#include "server/reply.h"
#include "server/util.h"

#define COMPAT_REDIS_VERSION "7.0.15"

/* ---- helpers -------------------------------------------------------------- */

static int conn_has_password(const struct node *n)
{
    return n->cfg.requirepass && n->cfg.requirepass[0];
}

/* Compares without stopping at the first difference. */
static int conn_secret_equal(const char *a, size_t alen, const char *b,
                             size_t blen)
{
    unsigned char diff = (unsigned char)(alen != blen);
    size_t n = alen > blen ? alen : blen;
    for (size_t i = 0; i < n; i++) {
        unsigned char x = i < alen ? (unsigned char)a[i] : 0;
        unsigned char y = i < blen ? (unsigned char)b[i] : 0;
        diff |= (unsigned char)(x ^ y);
    }
    return diff == 0;
}

/* 1 if (user, pass) authenticates; user NULL means "default". */
static int conn_check_auth(struct node *n, const struct dyn_arg *user,
                           const struct dyn_arg *pass)
{
    if (user && !(user->len == 7 && memcmp(user->p, "default", 7) == 0))
        return 0;
    if (!conn_has_password(n))
        return 1;
    const char *pw = n->cfg.requirepass;
    return conn_secret_equal(pass->p, pass->len, pw, strlen(pw));
}

/* Redis allows only printable ASCII other than space in names. */
static int conn_valid_name(const struct dyn_arg *a)
{
    for (size_t i = 0; i < a->len; i++) {
        unsigned char ch = (unsigned char)a->p[i];
        if (ch < '!' || ch > '~')
            return 0;
    }
    return 1;
}

static char *conn_arg_dup(const struct dyn_arg *a)
{
    char *s = dyn_malloc(a->len + 1);
    memcpy(s, a->p, a->len);
    s[a->len] = '\0';
    return s;
}

static void conn_set_name(struct client *c, const struct dyn_arg *a)
{
    dyn_free(c->name);
    c->name = a->len ? conn_arg_dup(a) : NULL;
}

/* ---- PING ECHO QUIT SELECT TIME -------------------------------------------- */

static void cmd_ping(struct client *c, int argc, const struct dyn_arg *argv)
{
    if (argc > 2) {
        command_reply_arity(c, "ping");
        return;
    }
    if (argc == 1)
        reply_status_len(&c->obuf, "PONG", 4);
    else
        reply_bulk(&c->obuf, argv[1].p, argv[1].len);
}

static void cmd_echo(struct client *c, int argc, const struct dyn_arg *argv)
{
    reply_bulk(&c->obuf, argv[1].p, argv[1].len);
}

static void cmd_quit(struct client *c, int argc, const struct dyn_arg *argv)
{
    reply_ok(&c->obuf);
    client_close_after_reply(c);
}

static void cmd_select(struct client *c, int argc, const struct dyn_arg *argv)
{
    long long db;
    if (dyn_str2ll(argv[1].p, argv[1].len, &db) < 0) {
        client_error(c, ERR_NOT_INTEGER);
        return;
    }
    if (db < -0x80000000LL || db > 0x7fffffffLL) {
        client_error(c, "ERR value is out of range, value must between "
                     "-2147483648 and 2147483647");
        return;
    }
    if (db < 0 ||
        db >= (c->node->cfg.databases > 0 ? c->node->cfg.databases : 1)) {
        client_error(c, "ERR DB index is out of range");
        return;
    }
    c->db = (int)db;
    reply_ok(&c->obuf);
}

static void cmd_time(struct client *c, int argc, const struct dyn_arg *argv)
{
    uint64_t us = node_wall_us(c->node);
    reply_array(&c->obuf, 2);
    reply_bulk_ll(&c->obuf, (long long)(us / 1000000));
    reply_bulk_ll(&c->obuf, (long long)(us % 1000000));
}

/* ---- AUTH HELLO RESET ------------------------------------------------------- */

static void cmd_auth(struct client *c, int argc, const struct dyn_arg *argv)
{
    struct node *n = c->node;
    if (argc > 3) {
        client_error(c, ERR_SYNTAX);
        return;
    }
    if (argc == 2 && !conn_has_password(n)) {
        client_error(c, 
                     "ERR AUTH <password> called without any password "
                     "configured for the default user. Are you sure your "
                     "configuration is correct?");
        return;
    }
    const struct dyn_arg *user = argc == 3 ? &argv[1] : NULL;
    const struct dyn_arg *pass = argc == 3 ? &argv[2] : &argv[1];
    if (conn_check_auth(n, user, pass)) {
        c->authenticated = 1;
        reply_ok(&c->obuf);
    } else {
        client_error(c, "WRONGPASS invalid username-password pair or "
                     "user is disabled.");
    }
}

static void cmd_hello(struct client *c, int argc, const struct dyn_arg *argv)
{
    struct node *n = c->node;
    long long ver = 0;
    if (argc >= 2) {
        if (dyn_str2ll(argv[1].p, argv[1].len, &ver) < 0) {
            client_error(c, 
                         "ERR Protocol version is not an integer or out of "
                         "range");
            return;
        }
        if (ver < 2 || ver > 3) {
            client_error(c, "NOPROTO unsupported protocol version");
            return;
        }
    }
    const struct dyn_arg *user = NULL, *pass = NULL, *name = NULL;
    for (int j = 2; j < argc; j++) {
        int more = argc - j - 1;
        if (dyn_arg_is(argv[j].p, argv[j].len, "AUTH") && more >= 2) {
            user = &argv[j + 1];
            pass = &argv[j + 2];
            j += 2;
        } else if (dyn_arg_is(argv[j].p, argv[j].len, "SETNAME") &&
                   more >= 1) {
            name = &argv[j + 1];
            j += 1;
        } else {
            client_errorf(c, "ERR Syntax error in HELLO option '%.*s'",
                          (int)DYN_MIN(argv[j].len, 128), argv[j].p);
            return;
        }
    }
    if (user) {
        if (!conn_check_auth(n, user, pass)) {
            client_error(c, "WRONGPASS invalid username-password pair "
                         "or user is disabled.");
            return;
        }
        c->authenticated = 1;
    }
    if (!c->authenticated && conn_has_password(n)) {
        client_error(c, 
                     "NOAUTH HELLO must be called with the client already "
                     "authenticated, otherwise the HELLO AUTH <user> <pass> "
                     "option can be used to authenticate the client and "
                     "select the RESP protocol version at the same time");
        return;
    }
    if (name) {
        if (!conn_valid_name(name)) {
            client_error(c, "ERR Client names cannot contain spaces, "
                         "newlines or special characters.");
            return;
        }
        conn_set_name(c, name);
    }
    if (ver)
        c->resp = (int)ver;
    reply_map(&c->obuf, c->resp, 7);
    reply_bulk_cstr(&c->obuf, "server");
    reply_bulk_cstr(&c->obuf, "redis");
    reply_bulk_cstr(&c->obuf, "version");
    reply_bulk_cstr(&c->obuf, COMPAT_REDIS_VERSION);
    reply_bulk_cstr(&c->obuf, "proto");
    reply_int(&c->obuf, c->resp);
    reply_bulk_cstr(&c->obuf, "id");
    reply_int(&c->obuf, (long long)c->id);
    reply_bulk_cstr(&c->obuf, "mode");
    reply_bulk_cstr(&c->obuf, "standalone");
    reply_bulk_cstr(&c->obuf, "role");
    reply_bulk_cstr(&c->obuf, "master");
    reply_bulk_cstr(&c->obuf, "modules");
    reply_array(&c->obuf, 0);
}

static void cmd_reset(struct client *c, int argc, const struct dyn_arg *argv)
{
    client_multi_reset(c);
    c->resp = 2;
    c->db = 0;
    dyn_free(c->name);
    c->name = NULL;
    c->authenticated = !conn_has_password(c->node);
    reply_status_len(&c->obuf, "RESET", 5);
}

/* ---- SHUTDOWN -------------------------------------------------------------- */

static void cmd_shutdown(struct client *c, int argc, const struct dyn_arg *argv)
{
    int save = 0, nosave = 0, abort_ = 0;
    for (int j = 1; j < argc; j++) {
        if (dyn_arg_is(argv[j].p, argv[j].len, "nosave"))
            nosave = 1;
        else if (dyn_arg_is(argv[j].p, argv[j].len, "save"))
            save = 1;
        else if (dyn_arg_is(argv[j].p, argv[j].len, "now") ||
                 dyn_arg_is(argv[j].p, argv[j].len, "force"))
            ;
        else if (dyn_arg_is(argv[j].p, argv[j].len, "abort"))
            abort_ = 1;
        else {
            client_error(c, ERR_SYNTAX);
            return;
        }
    }
    if ((save && nosave) || (abort_ && argc != 2)) {
        client_error(c, ERR_SYNTAX);
        return;
    }
    if (abort_) {
        client_error(c, "ERR No shutdown in progress.");
        return;
    }
    dlog(DLOG_WARNING, "User requested shutdown...");
    /* No reply, as Redis: the connection closes when the node exits. */
    c->flags |= CLIENT_CLOSE_AFTER_REPLY;
    node_request_shutdown(c->node, 0);
}

/* ---- CLIENT ---------------------------------------------------------------- */

static void conn_reply_text(struct client *c, struct dbuf *text)
{
    if (c->resp >= 3)
        reply_verbatim(&c->obuf, c->resp, "txt", text->p, text->len);
    else
        reply_bulk(&c->obuf, text->p, text->len);
}

static void cmd_client_id(struct client *c, int argc, const struct dyn_arg *argv)
{
    reply_int(&c->obuf, (long long)c->id);
}

static void cmd_client_getname(struct client *c, int argc,
                               const struct dyn_arg *argv)
{
    if (c->name)
        reply_bulk_cstr(&c->obuf, c->name);
    else
        reply_null(&c->obuf, c->resp);
}

static void cmd_client_setname(struct client *c, int argc,
                               const struct dyn_arg *argv)
{
    if (!conn_valid_name(&argv[2])) {
        client_error(c, "ERR Client names cannot contain spaces, "
                     "newlines or special characters.");
        return;
    }
    conn_set_name(c, &argv[2]);
    reply_ok(&c->obuf);
}

static void cmd_client_setinfo(struct client *c, int argc,
                               const struct dyn_arg *argv)
{
    char **dest;
    const char *attr;
    if (dyn_arg_is(argv[2].p, argv[2].len, "lib-name")) {
        dest = &c->lib_name;
        attr = "lib-name";
    } else if (dyn_arg_is(argv[2].p, argv[2].len, "lib-ver")) {
        dest = &c->lib_ver;
        attr = "lib-ver";
    } else {
        client_errorf(c, "ERR Unrecognized option '%.*s'",
                      (int)DYN_MIN(argv[2].len, 128), argv[2].p);
        return;
    }
    if (!conn_valid_name(&argv[3])) {
        client_errorf(c, 
                      "ERR %s cannot contain spaces, newlines or special "
                      "characters.",
                      attr);
        return;
    }
    dyn_free(*dest);
    *dest = argv[3].len ? conn_arg_dup(&argv[3]) : NULL;
    reply_ok(&c->obuf);
}

static void cmd_client_info(struct client *c, int argc,
                            const struct dyn_arg *argv)
{
    struct dbuf t;
    dbuf_init(&t);
    client_describe(c, &t, node_wall_ms(c->node));
    dbuf_appendc(&t, '\n');
    conn_reply_text(c, &t);
    dbuf_free(&t);
}

/* Parses a client id argument: 1 and up. */
static int conn_parse_id(const struct dyn_arg *a, unsigned long long *id)
{
    long long v;
    if (dyn_str2ll(a->p, a->len, &v) < 0 || v <= 0)
        return DYN_EINVAL;
    *id = (unsigned long long)v;
    return 0;
}

/* Returns 1 if the type name denotes normal clients, 0 for a known type we
 * never have, -1 for an unknown type. */
static int conn_client_type(const struct dyn_arg *a)
{
    if (dyn_arg_is(a->p, a->len, "normal"))
        return 1;
    if (dyn_arg_is(a->p, a->len, "master") ||
        dyn_arg_is(a->p, a->len, "replica") ||
        dyn_arg_is(a->p, a->len, "slave") ||
        dyn_arg_is(a->p, a->len, "pubsub"))
        return 0;
    return -1;
}

static void cmd_client_list(struct client *c, int argc,
                            const struct dyn_arg *argv)
{
    struct node *n = c->node;
    int want_type = 1;
    unsigned long long *ids = NULL;
    size_t nids = 0;
    if (argc == 4 && dyn_arg_is(argv[2].p, argv[2].len, "type")) {
        want_type = conn_client_type(&argv[3]);
        if (want_type < 0) {
            client_errorf(c, "ERR Unknown client type '%.*s'",
                          (int)DYN_MIN(argv[3].len, 128), argv[3].p);
            return;
        }
    } else if (argc >= 4 && dyn_arg_is(argv[2].p, argv[2].len, "id")) {
        ids = dyn_malloc((size_t)(argc - 3) * sizeof(*ids));
        for (int j = 3; j < argc; j++) {
            if (conn_parse_id(&argv[j], &ids[nids]) < 0) {
                dyn_free(ids);
                client_error(c, "ERR Invalid client ID");
                return;
            }
            nids++;
        }
    } else if (argc != 2) {
        client_error(c, ERR_SYNTAX);
        return;
    }
    struct dbuf t;
    dbuf_init(&t);
    uint64_t now = node_wall_ms(c->node);
    if (want_type == 1) {
        /* the list is newest first; print oldest first as Redis does */
        struct client *last = n->clients;
        while (last && last->next)
            last = last->next;
        for (struct client *x = last; x; x = x->prev) {
            if (ids) {
                size_t k;
                for (k = 0; k < nids && ids[k] != x->id; k++)
                    ;
                if (k == nids)
                    continue;
            }
            client_describe(x, &t, now);
            dbuf_appendc(&t, '\n');
        }
    }
    dyn_free(ids);
    conn_reply_text(c, &t);
    dbuf_free(&t);
}

static void conn_kill(struct client *c, struct client *victim)
{
    if (victim == c)
        c->flags |= CLIENT_CLOSE_AFTER_REPLY;
    else
        client_close_async(victim);
}

static int conn_argeq(const struct dyn_arg *a, const char *s)
{
    return a->len == strlen(s) && memcmp(a->p, s, a->len) == 0;
}

static void cmd_client_kill(struct client *c, int argc,
                            const struct dyn_arg *argv)
{
    struct node *n = c->node;
    if (argc == 3) {
        /* old form: CLIENT KILL ip:port */
        for (struct client *x = n->clients; x; x = x->next) {
            if (conn_argeq(&argv[2], x->addr)) {
                conn_kill(c, x);
                reply_ok(&c->obuf);
                return;
            }
        }
        client_error(c, "ERR No such client");
        return;
    }
    unsigned long long id = 0;
    const struct dyn_arg *addr = NULL, *laddr = NULL;
    int type = 1, skipme = 1;
    if ((argc - 2) % 2 != 0) {
        client_error(c, ERR_SYNTAX);
        return;
    }
    for (int j = 2; j + 1 < argc; j += 2) {
        const struct dyn_arg *o = &argv[j], *v = &argv[j + 1];
        if (dyn_arg_is(o->p, o->len, "id")) {
            if (conn_parse_id(v, &id) < 0) {
                client_error(c, "ERR client-id should be greater than 0");
                return;
            }
        } else if (dyn_arg_is(o->p, o->len, "addr")) {
            addr = v;
        } else if (dyn_arg_is(o->p, o->len, "laddr")) {
            laddr = v;
        } else if (dyn_arg_is(o->p, o->len, "type")) {
            type = conn_client_type(v);
            if (type < 0) {
                client_errorf(c, "ERR Unknown client type '%.*s'",
                              (int)DYN_MIN(v->len, 128), v->p);
                return;
            }
        } else if (dyn_arg_is(o->p, o->len, "user")) {
            if (!conn_argeq(v, "default")) {
                client_errorf(c, "ERR No such user '%.*s'",
                              (int)DYN_MIN(v->len, 128), v->p);
                return;
            }
        } else if (dyn_arg_is(o->p, o->len, "skipme")) {
            if (dyn_arg_is(v->p, v->len, "yes"))
                skipme = 1;
            else if (dyn_arg_is(v->p, v->len, "no"))
                skipme = 0;
            else {
                client_error(c, ERR_SYNTAX);
                return;
            }
        } else {
            client_error(c, ERR_SYNTAX);
            return;
        }
    }
    long long killed = 0;
    if (type == 1) {
        for (struct client *x = n->clients; x; x = x->next) {
            if (id && x->id != id)
                continue;
            if (addr && !conn_argeq(addr, x->addr))
                continue;
            if (laddr && !conn_argeq(laddr, x->laddr))
                continue;
            if (x == c && skipme)
                continue;
            if (x->flags & (CLIENT_CLOSE_ASAP))
                continue;
            conn_kill(c, x);
            killed++;
        }
    }
    reply_int(&c->obuf, killed);
}

static void cmd_client_onoff(struct client *c, int argc,
                             const struct dyn_arg *argv)
{
    if (dyn_arg_is(argv[2].p, argv[2].len, "on") ||
        dyn_arg_is(argv[2].p, argv[2].len, "off"))
        reply_ok(&c->obuf);
    else
        client_error(c, ERR_SYNTAX);
}

static void cmd_client_unpause(struct client *c, int argc,
                               const struct dyn_arg *argv)
{
    reply_ok(&c->obuf);
}

static void cmd_client_help(struct client *c, int argc,
                            const struct dyn_arg *argv)
{
    static const char *const lines[] = {
        "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GETNAME",
        "    Return the name of the current connection.",
        "ID",
        "    Return the ID of the current connection.",
        "INFO",
        "    Return information about the current client connection.",
        "KILL <ip:port>",
        "    Kill connection made from <ip:port>.",
        "KILL <option> <value> [<option> <value> [...]]",
        "    Kill connections. Options are:",
        "    * ADDR <ip:port>",
        "      Kill connections made from the specified address",
        "    * LADDR <ip:port>",
        "      Kill connections made to specified local address",
        "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
        "      Kill connections by type.",
        "    * USER <username>",
        "      Kill connections authenticated by <username>.",
        "    * SKIPME (YES|NO)",
        "      Skip killing current connection (default: yes).",
        "LIST [options ...]",
        "    Return information about client connections. Options:",
        "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
        "      Return clients of specified type.",
        "    * ID <id> [<id> ...]",
        "      Return clients with the given ids.",
        "SETNAME <name>",
        "    Assign the name <name> to the current connection.",
        "SETINFO <LIB-NAME|LIB-VER> <value>",
        "    Record the client library's name or version.",
        "NO-EVICT (ON|OFF)",
        "    Accepted for compatibility; Mini-Dynamo never evicts clients.",
        "NO-TOUCH (ON|OFF)",
        "    Accepted for compatibility.",
        "UNPAUSE",
        "    Accepted for compatibility; clients are never paused.",
        "HELP",
        "    Print this help.",
    };
    reply_array(&c->obuf, (long long)DYN_ARRAY_LEN(lines));
    for (size_t i = 0; i < DYN_ARRAY_LEN(lines); i++)
        reply_status(&c->obuf, lines[i]);
}

#define CONN_CAT "@slow @connection"

static const struct command client_subcommands[] = {
    {"client|getname", cmd_client_getname, 2, CMD_NOSCRIPT | CMD_LOADING |
     CMD_STALE, 0, 0, 0, CONN_CAT, "connection", "2.6.9",
     "Returns the name of the current connection.", "O(1)", NULL,
     ROUTE_LOCAL, COMBINE_NONE, NULL, 0},
    {"client|help", cmd_client_help, 2, CMD_LOADING | CMD_STALE, 0, 0, 0,
     CONN_CAT, "connection", "5.0.0", "Lists the CLIENT subcommands.", "O(1)",
     NULL, ROUTE_LOCAL, COMBINE_NONE, NULL, 0},
    {"client|id", cmd_client_id, 2, CMD_NOSCRIPT | CMD_LOADING | CMD_STALE, 0,
     0, 0, CONN_CAT, "connection", "5.0.0",
     "Returns the unique id of the current connection.", "O(1)", NULL,
     ROUTE_LOCAL, COMBINE_NONE, NULL, 0},
    {"client|info", cmd_client_info, 2, CMD_NOSCRIPT | CMD_LOADING |
     CMD_STALE, 0, 0, 0, CONN_CAT, "connection", "6.2.0",
     "Describes the current connection in CLIENT LIST's format.", "O(1)",
     NULL, ROUTE_LOCAL, COMBINE_NONE, NULL, 0},
    {"client|kill", cmd_client_kill, -3, CMD_ADMIN | CMD_NOSCRIPT |
     CMD_LOADING | CMD_STALE, 0, 0, 0, "@admin @slow @dangerous @connection",
     "connection", "2.4.0",
     "Closes connections chosen by address, id, type or user.",
     "O(N) where N is the number of client connections", NULL,
     ROUTE_LOCAL, COMBINE_NONE, NULL, 0},
    {"client|list", cmd_client_list, -2, CMD_ADMIN | CMD_NOSCRIPT |
     CMD_LOADING | CMD_STALE, 0, 0, 0, "@admin @slow @dangerous @connection",
     "connection", "2.4.0", "Describes every open client connection.",
     "O(N) where N is the number of client connections", NULL,
     ROUTE_LOCAL, COMBINE_NONE, NULL, 0},
    {"client|no-evict", cmd_client_onoff, 3, CMD_ADMIN | CMD_NOSCRIPT |
     CMD_LOADING | CMD_STALE, 0, 0, 0, "@admin @slow @dangerous @connection",
     "connection", "7.0.0",
     "Accepted for compatibility: clients are never evicted.", "O(1)", NULL,
     ROUTE_LOCAL, COMBINE_NONE, NULL, 0},
    {"client|no-touch", cmd_client_onoff, 3, CMD_NOSCRIPT | CMD_LOADING |
     CMD_STALE, 0, 0, 0, CONN_CAT, "connection", "7.2.0",
     "Accepted for compatibility: keys keep no access time.", "O(1)", NULL,
     ROUTE_LOCAL, COMBINE_NONE, NULL, 0},
    {"client|setinfo", cmd_client_setinfo, 4, CMD_NOSCRIPT | CMD_LOADING |
     CMD_STALE, 0, 0, 0, CONN_CAT, "connection", "7.2.0",
     "Records the client library's name or version for CLIENT LIST.", "O(1)",
     NULL, ROUTE_LOCAL, COMBINE_NONE, NULL, 0},
    {"client|setname", cmd_client_setname, 3, CMD_NOSCRIPT | CMD_LOADING |
     CMD_STALE, 0, 0, 0, CONN_CAT, "connection", "2.6.9",
     "Names the current connection.", "O(1)", NULL,
     ROUTE_LOCAL, COMBINE_NONE, NULL, 0},
    {"client|unpause", cmd_client_unpause, 2, CMD_ADMIN | CMD_NOSCRIPT |
     CMD_LOADING | CMD_STALE, 0, 0, 0, "@admin @slow @dangerous @connection",
     "connection", "6.2.0",
     "Accepted for compatibility: clients are never paused.", "O(N)", NULL,
     ROUTE_LOCAL, COMBINE_NONE, NULL, 0},
    {NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL, 0},
};

const struct command cmd_conn_table[] = {
    {"ping", cmd_ping, -1, CMD_FAST | CMD_SENTINEL, 0, 0, 0,
     "@fast @connection", "connection", "1.0.0",
     "Answers PONG, or echoes its argument: a liveness check.", "O(1)", NULL,
     ROUTE_LOCAL, COMBINE_NONE, NULL, 0},
    {"echo", cmd_echo, 2, CMD_FAST, 0, 0, 0, "@fast @connection",
     "connection", "1.0.0", "Returns its argument unchanged.", "O(1)", NULL,
     ROUTE_LOCAL, COMBINE_NONE, NULL, 0},
    {"quit", cmd_quit, -1, CMD_NO_AUTH | CMD_NO_MULTI | CMD_LOADING |
     CMD_STALE | CMD_FAST, 0, 0, 0, "@fast @connection", "connection",
     "1.0.0", "Replies OK and closes the connection.", "O(1)", NULL,
     ROUTE_LOCAL, COMBINE_NONE, NULL, 0},
    {"select", cmd_select, 2, CMD_LOADING | CMD_STALE | CMD_FAST, 0, 0, 0,
     "@fast @connection", "connection", "1.0.0",
     "Selects the database; Mini-Dynamo has only database 0.", "O(1)", NULL,
     ROUTE_LOCAL, COMBINE_NONE, NULL, 0},
    {"auth", cmd_auth, -2, CMD_NO_AUTH | CMD_NOSCRIPT | CMD_LOADING |
     CMD_STALE | CMD_FAST | CMD_SENTINEL, 0, 0, 0, "@fast @connection",
     "connection", "1.0.0",
     "Authenticates the connection as the default user.",
     "O(N) where N is the length of the password", NULL,
     ROUTE_LOCAL, COMBINE_NONE, NULL, 0},
    {"hello", cmd_hello, -1, CMD_NO_AUTH | CMD_NOSCRIPT | CMD_LOADING |
     CMD_STALE | CMD_FAST | CMD_SENTINEL, 0, 0, 0, "@fast @connection",
     "connection", "6.0.0",
     "Handshake: picks RESP2 or RESP3, optionally authenticates and names "
     "the connection, and describes the server.",
     "O(1)", NULL, ROUTE_LOCAL, COMBINE_NONE, NULL, 0},
    {"reset", cmd_reset, 1, CMD_NO_AUTH | CMD_NO_MULTI | CMD_NOSCRIPT |
     CMD_LOADING | CMD_STALE | CMD_FAST, 0, 0, 0, "@fast @connection",
     "connection", "6.2.0",
     "Returns the connection to its initial state.", "O(1)", NULL,
     ROUTE_LOCAL, COMBINE_NONE, NULL, 0},
    {"time", cmd_time, 1, CMD_LOADING | CMD_STALE | CMD_FAST, 0, 0, 0,
     "@fast", "server", "2.6.0",
     "Returns the node's clock as seconds and microseconds.", "O(1)", NULL,
     ROUTE_LOCAL, COMBINE_NONE, NULL, 0},
    {"shutdown", cmd_shutdown, -1, CMD_ADMIN | CMD_NOSCRIPT | CMD_LOADING |
     CMD_STALE | CMD_MULTI_DENIED | CMD_SENTINEL, 0, 0, 0,
     "@admin @slow @dangerous", "server", "1.0.0",
     "Stops the node cleanly.", "O(N) when saving, where N is the number of "
     "keys",
     NULL, ROUTE_LOCAL, COMBINE_NONE, NULL, 0},
    {"client", NULL, -2, CMD_SENTINEL, 0, 0, 0, "@slow", "connection",
     "2.4.0", "A container for connection management commands.",
     "Depends on subcommand.", client_subcommands,
     ROUTE_LOCAL, COMBINE_NONE, NULL, 0},
    {NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL, 0},
};
