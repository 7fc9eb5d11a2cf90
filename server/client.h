/*
 * client.h -- one client connection and its buffers.
 *
 * A client owns its query buffer (requests parsed in place by resp.c) and its
 * output buffer (replies appended by reply.c).  Command handlers write their
 * reply with reply_*(&c->obuf, ...) using c->resp as the protocol version.
 * Between commands, net.c moves a full obuf (16 KiB or more) to the client's
 * block queue (outq.h) without copying, so what a client that does not read
 * has pending is oq's blocks followed by obuf; a handler only ever sees
 * obuf, and may hold offsets into it during its own command only.
 *
 * Pipelining: requests are executed in order; when a reply cannot be given
 * at once (a command waiting on the cluster, server/pipeline.c) the client
 * is CLIENT_BLOCKED and the rest of the pipeline waits in the query buffer
 * until client_unblock().
 *
 * The functions below live in client.c and never touch the socket; net.c
 * owns the connection (client_free, the listeners).
 *
 * Lifetime: a client is freed only from the event loop, never inside a
 * handler: handlers set CLIENT_CLOSE_AFTER_REPLY or CLIENT_CLOSE_ASAP.
 */
#ifndef DYN_CLIENT_H
#define DYN_CLIENT_H

#include <stdint.h>
#include <stddef.h>
#include "server/buf.h"
#include "server/outq.h"
#include "server/resp.h"
#include "server/util.h"

struct node;
struct event;
struct command;
struct client_ack;


enum client_flags {
    CLIENT_CLOSE_AFTER_REPLY = 1 << 0, /* flush obuf, then close */
    CLIENT_CLOSE_ASAP = 1 << 1,        /* close without flushing */
    CLIENT_MULTI = 1 << 2,             /* inside MULTI: queue commands */
    CLIENT_DIRTY_EXEC = 1 << 3,        /* a queued command was rejected */
    CLIENT_BLOCKED = 1 << 4,           /* waiting for an async reply */
    CLIENT_IN_EXEC = 1 << 5,           /* running EXEC's queued commands */
    /* net.c's own: */
    CLIENT_WRITE_EV = 1u << 24,        /* ev_write is added */
    CLIENT_RESUME = 1u << 25,          /* unblocked: parse the rest of qbuf */
};

/* The longest inline request or count line a client may send; the
 * network and the pipeline's look-ahead parse with the same limit. */
#define CLIENT_MAX_INLINE (64 * 1024)

struct queued_cmd {
    const struct command *cmd;
    int argc;
    struct dyn_arg *argv; /* each p owned (dyn_malloc'd copy) */
};

struct tls_conn;

struct client {
    struct node *node;
    uint64_t id;
    int fd;
    struct event *ev_read;
    struct event *ev_write;
    char addr[64];          /* "ip:port" of the peer */
    char laddr[64];         /* "ip:port" of our side */
    struct dbuf qbuf;
    struct resp_parser parser;
    struct dbuf obuf;
    size_t obuf_sent;       /* bytes of obuf already written */
    struct outq oq;         /* output queued before obuf (net.c); when it is
                             * not empty, obuf_sent is 0 */
    int resp;               /* 2 or 3 (HELLO) */
    int authenticated;
    int db;                 /* always 0 */
    unsigned flags;         /* enum client_flags */
    char *name;             /* CLIENT SETNAME, NULL if none */
    char *lib_name;         /* CLIENT SETINFO LIB-NAME */
    char *lib_ver;          /* CLIENT SETINFO LIB-VER */
    uint64_t ctime_ms;      /* connected at */
    uint64_t last_ms;       /* last interaction */
    const char *last_cmd;   /* name of the last command run */
    int multi_count;
    int multi_cap;
    struct queued_cmd *multi; /* commands queued by MULTI */
    struct client *prev, *next;
    /* net.c's group commit: replies in obuf that acknowledge writes the
     * engine has not committed yet (see net.c). */
    struct client_ack *acks;
    uint32_t nacks, acks_cap;
    /* tls-port: the connection's TLS, and a read that waits for the
     * socket to become writable (a handshake in progress) */
    struct tls_conn *tls;
    int tls_read_wants_write;
    uint64_t errors;        /* error replies so far (client_error): a
                             * command's status is whether it grew */
};

/* Marks the client to be closed once its output is flushed. */
void client_close_after_reply(struct client *c);
/* Resumes a client that was CLIENT_BLOCKED: flushes, then parses the rest of
 * its pipeline from the event loop (never inside the caller). */
void client_unblock(struct client *c);
/* Bytes of output pending: the block queue's and obuf's. */
size_t client_obuf_pending(const struct client *c);
/* Closes c from the event loop soon (CLIENT KILL of another client); safe to
 * call from a handler.  The client is freed in its own callback. */
void client_close_async(struct client *c);
/* Wakes c's writer (once per loop turn: activations merge), for output
 * added outside its own callbacks. */
void client_wake(struct client *c);
/* Answers an error (reply_error's text rules) and counts it: how a
 * handler reports that the command failed. */
void client_error(struct client *c, const char *msg);
void client_errorf(struct client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Frees the commands MULTI queued and leaves the MULTI state (clears
 * CLIENT_MULTI and CLIENT_DIRTY_EXEC).  EXEC, DISCARD, RESET, close. */
void client_multi_reset(struct client *c);
/* Closes and frees c now.  Only from the event loop, never inside a handler
 * running for c. */
void client_free(struct client *c);

/* The listening side (net.c, used by main.c).  net_listen binds every
 * address in cfg.bind at cfg.port (unless it is 0 while tls-port is set,
 * as in Redis) and, when n->tls_ctx is set, at cfg.tls_port for TLS
 * clients; returns 0 or DYN_EIO (logged). */
int net_listen(struct node *n);
void net_close_listeners(struct node *n);
/* Frees every client (shutdown). */
void net_free_all_clients(struct node *n);
/* Periodic work: idle timeout, shrinking idle buffers. */
void net_cron(struct node *n, uint64_t now_ms);

/* Appends "id=.. addr=.. ..." (CLIENT LIST / CLIENT INFO line, no newline). */
void client_describe(const struct client *c, struct dbuf *out,
                     uint64_t now_ms);

#endif
