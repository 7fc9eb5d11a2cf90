/*
 * peer.h -- the cluster peer bus: authenticated, pipelined RESP links
 * between nodes (the I/O shell; see the essay at the top of peer.c).
 *
 * One bus per node, on one struct event_base.  It dials every peer it is
 * told about (one persistent hiredis link each) and accepts peers' links on
 * the cluster port.  The coordinator sees neither hiredis nor libevent
 * types: requests go out as (ptr,len) arguments, replies come back as a
 * struct peer_value tree, and incoming requests are handed to a command
 * table as a struct peer_call that is answered, now or later, in order.
 *
 * Callbacks: a peer_reply_fn runs exactly once for every peer_request that
 * returned 0, always from the event loop and never inside peer_request.
 * The one exception to "from the event loop" is peer_bus_free, which fails
 * every outstanding request with DYN_EIO before it returns.
 *
 * Implementations.  The bus is a table of operations (struct
 * peer_bus_ops): struct peer_bus and struct peer_call are the first member
 * of an implementation's own structs and point at its table, and the
 * functions below are thin dispatchers through it (cluster/peer_ops.c), so
 * callers never know which bus they talk to.  cluster/peer.c is the real
 * one (TCP, peer_tcp_ops; peer_bus_new); tests/sim/sim_bus.c is an
 * in-memory network.  cluster_init builds the bus its node names
 * (node->peers, a struct peer_bus_impl; NULL: TCP) with peer_bus_open.
 *
 * Thread-safety: none; everything runs on the event loop's thread.
 */
#ifndef DYN_PEER_H
#define DYN_PEER_H

#include <stddef.h>
#include <stdint.h>
#include "server/buf.h"
#include "server/util.h"    /* struct dyn_arg */

struct event_base;
struct peer_bus_ops;

/* The head of every implementation's bus and call structs. */
struct peer_bus {
    const struct peer_bus_ops *ops;
};
struct peer_call {
    const struct peer_bus_ops *ops;
};

#define PEER_NAME_MAX 64    /* node names, including the NUL */

struct peer_bus_opts {
    const char *self_name;      /* our node-name, sent in PEER.HELLO */
    const char *bind_host;      /* listener addresses, bind's words (Redis
                                 * syntax, announce.h): one listener on
                                 * each, an unavailable '-' one skipped;
                                 * NULL: no listener */
    int port;                   /* cluster-port; 0: any free port */
    const char *secret;         /* cluster-secret */
    size_t secret_len;
    int insecure;               /* cluster-insecure: skip the MACs */
    int tls;                    /* tls-cluster: TLS 1.3 under a PSK derived
                                 * from the secret (needs one) */
    size_t max_message;         /* bytes; 0: 64 MiB.  Bounds every read */
    uint64_t connect_timeout_ms;/* connect + handshake; 0: 2000 */
    uint64_t auth_timeout_ms;   /* an incoming connection not ready by
                                 * then is closed; 0: 5000 */
    uint64_t dead_link_ms;      /* oldest reply this late kills the link,
                                 * and dropped requests fail after it;
                                 * 0: 5000 */
};

enum peer_value_type {
    PEER_V_STRING = 1,  /* bulk string */
    PEER_V_ARRAY,
    PEER_V_INT,
    PEER_V_NIL,         /* $-1 or *-1 */
    PEER_V_STATUS,      /* +text */
    PEER_V_ERROR,       /* -text */
};

/* A reply, converted from hiredis's.  str is NUL-terminated (len excludes
 * the NUL) for STRING, STATUS and ERROR; elem[n] for ARRAY. */
struct peer_value {
    enum peer_value_type type;
    long long integer;
    char *str;
    size_t len;
    size_t n;
    struct peer_value *elem;
};

/* err 0: reply is the answer.  DYN_EPROTO: reply is the PEER_V_ERROR.
 * DYN_EIO: the link is down or was lost before the answer (reply NULL).
 * DYN_EAGAIN: no answer within dead_link_ms because a fault dropped the
 * request or its reply (reply NULL).  reply is borrowed for the duration of
 * the callback; keep a copy with peer_value_dup. */
typedef void peer_reply_fn(void *ctx, int err, const struct peer_value *reply);

/* An incoming request.  argv[0] is the command name; the request id that
 * travelled in the wire's second argument is not in argv (see
 * peer_call_id).  argv points into the connection's buffer and is valid only
 * during the call: a handler that answers later copies what it needs. */
typedef void peer_handler_fn(void *ctx, struct peer_call *call, int argc,
                             const struct dyn_arg *argv);

#define PEER_CMD_UNFILTERED 1u   /* passes faults and a killed bus */
struct peer_command {
    const char *name;       /* matched case-insensitively */
    peer_handler_fn *fn;
    unsigned flags;         /* PEER_CMD_* */
};

struct peer_handlers {
    const struct peer_command *commands;
    size_t ncommands;
    /* Any other command; NULL: "-ERR unknown peer command '<name>'". */
    peer_handler_fn *on_message;
    /* For the failure detector (membership_on_request / on_reply).  Any may
     * be NULL.  on_link reports a link that became usable (authenticated,
     * up=1) or stopped being usable (up=0). */
    void (*on_sent)(void *ctx, int peer_id, uint64_t now_ms);
    void (*on_reply)(void *ctx, int peer_id, uint64_t now_ms);
    void (*on_link)(void *ctx, int peer_id, int up);
    /* Group commit (storage): batch_begin runs before the handlers of one
     * read callback of an incoming connection, batch_end after them and
     * before their replies are written.  A non-zero batch_end closes the
     * connection instead (the writes those replies acknowledge could not
     * be made durable: no ack may leave).  Both may be NULL. */
    void (*batch_begin)(void *ctx);
    int (*batch_end)(void *ctx);
};

struct peer_bus_stats {
    uint64_t requests_sent;     /* peer_request calls that went out */
    uint64_t replies_received;
    uint64_t requests_received; /* handed to a handler */
    uint64_t replies_sent;
    uint64_t bytes_sent;        /* both sides: requests queued + replies */
    uint64_t bytes_received;    /* incoming connections */
    uint64_t link_writes;       /* write(2) calls on outgoing links */
    uint64_t conn_writes;       /* write(2) calls on incoming connections */
    uint64_t connects;          /* outgoing connection attempts */
    uint64_t reconnects;        /* attempts after a link was lost/refused */
    uint64_t auth_failures;     /* either side of the handshake */
    uint64_t auth_timeouts;     /* incoming, not authenticated in time */
    uint64_t unauth_refused;    /* incoming, over PEER_MAX_UNAUTH */
    uint64_t dead_links;        /* links killed by dead_link_ms */
    uint64_t oversized;         /* links/connections closed for max_message */
    uint64_t dropped;           /* requests/replies dropped by a fault */
};

struct peer_fault {
    int drop_out;           /* requests to this peer are never sent */
    int drop_in;            /* requests from this peer are not handled */
    uint64_t delay_ms;      /* requests to this peer wait this long */
};

/* A bus implementation: every peer_* function below (but the two test
 * hooks at the end, which are TCP's) goes through these.  Each entry
 * keeps the contract of the function of the same name; bus_new receives
 * the impl pointer of struct peer_bus_impl. */
struct peer_bus_ops {
    int (*bus_new)(void *impl, struct event_base *base,
                   const struct peer_bus_opts *opts,
                   const struct peer_handlers *h, void *ctx,
                   struct peer_bus **out);
    void (*bus_free)(struct peer_bus *bus);
    int (*port)(const struct peer_bus *bus);
    void (*get_stats)(const struct peer_bus *bus, struct peer_bus_stats *out);
    int (*add)(struct peer_bus *bus, const char *name, const char *host,
               int port);
    int (*remove)(struct peer_bus *bus, int peer_id);
    int (*is_connected)(const struct peer_bus *bus, int peer_id);
    int (*find)(const struct peer_bus *bus, const char *name);
    int (*set_fault)(struct peer_bus *bus, int peer_id,
                     const struct peer_fault *f);
    void (*set_killed)(struct peer_bus *bus, int killed);
    int (*request)(struct peer_bus *bus, int peer_id, int argc,
                   const struct dyn_arg *argv, peer_reply_fn *cb, void *ctx,
                   uint64_t *id_out);
    struct dbuf *(*call_buf)(struct peer_call *call);
    void (*call_done)(struct peer_call *call);
    const char *(*call_peer_name)(const struct peer_call *call);
    int (*call_peer_id)(const struct peer_call *call);
    uint64_t (*call_id)(const struct peer_call *call);
    int (*call_alive)(const struct peer_call *call);
};

/* The TCP bus (cluster/peer.c). */
extern const struct peer_bus_ops peer_tcp_ops;

/* Which bus a node builds: ops and the pointer its bus_new receives. */
struct peer_bus_impl {
    const struct peer_bus_ops *ops;
    void *impl;
};

/* Creates the TCP bus and starts its listener.  DYN_EINVAL: no self_name, or no
 * secret without insecure; DYN_EIO: cannot listen.  *out is set on 0. */
int peer_bus_new(struct event_base *base, const struct peer_bus_opts *opts,
                 const struct peer_handlers *h, void *ctx,
                 struct peer_bus **out);
/* Closes everything; outstanding requests fail with DYN_EIO before it
 * returns and calls still pending become orphans (see peer_call_done).
 * Never from inside a bus callback.  NULL is a no-op. */
void peer_bus_free(struct peer_bus *bus);
/* peer_bus_new for the implementation impl names; NULL: the TCP bus. */
int peer_bus_open(const struct peer_bus_impl *impl, struct event_base *base,
                  const struct peer_bus_opts *opts,
                  const struct peer_handlers *h, void *ctx,
                  struct peer_bus **out);
/* The port the listeners are bound to (useful with port 0), or 0. */
int peer_bus_port(const struct peer_bus *bus);
void peer_bus_get_stats(const struct peer_bus *bus, struct peer_bus_stats *out);

/* Adds a peer and starts dialing it.  Returns its id (>= 0) or DYN_EINVAL
 * (bad name/host/port) / DYN_EEXIST (name taken). */
int peer_add(struct peer_bus *bus, const char *name, const char *host,
             int port);
/* Closes the link; its outstanding requests fail with DYN_EIO from the
 * loop.  The id may be reused by a later peer_add. */
int peer_remove(struct peer_bus *bus, int peer_id);
/* 1 when the link is authenticated and requests will go out. */
int peer_is_connected(const struct peer_bus *bus, int peer_id);
/* The id of the peer called name, or DYN_ENOTFOUND. */
int peer_find(const struct peer_bus *bus, const char *name);
int peer_set_fault(struct peer_bus *bus, int peer_id,
                   const struct peer_fault *f);
/* DYNAMO.KILL: every request out is swallowed and every request in is
 * answered with the drop marker (silence to the sender), as if the node had
 * crashed, except PEER_CMD_UNFILTERED commands.  Links stay up. */
void peer_bus_set_killed(struct peer_bus *bus, int killed);

/* Sends argv (argv[0] is the command name) to the peer.  The bus inserts a
 * request id as the second wire argument; *id_out (may be NULL) receives it.
 * Returns 0 and cb runs exactly once later, or, without calling cb:
 * DYN_EINVAL (bad peer id, argc < 1) / DYN_ELIMIT (larger than
 * max_message).  A peer that is not connected is a 0 return and DYN_EIO. */
int peer_request(struct peer_bus *bus, int peer_id, int argc,
                 const struct dyn_arg *argv, peer_reply_fn *cb, void *ctx,
                 uint64_t *id_out);

/* Answering an incoming request.  Append exactly one RESP value to
 * peer_call_buf(call) (reply.c: reply_bulk, reply_array, ...) and then call
 * peer_call_done(call); the helpers below do both.  A call may be finished
 * after its handler returned (replies still leave in request order); after
 * peer_call_done the call pointer is dead.  If the connection closed
 * meanwhile, peer_call_done just frees the call. */
struct dbuf *peer_call_buf(struct peer_call *call);
void peer_call_done(struct peer_call *call);
void peer_call_reply_ok(struct peer_call *call);
void peer_call_reply_error(struct peer_call *call, const char *msg);
void peer_call_reply_int(struct peer_call *call, long long v);
void peer_call_reply_bulk(struct peer_call *call, const void *p, size_t n);
void peer_call_reply_null(struct peer_call *call);
/* The authenticated name of the caller, its peer id (or -1 when it is not
 * one of our peers) and the request id it sent. */
const char *peer_call_peer_name(const struct peer_call *call);
int peer_call_peer_id(const struct peer_call *call);
uint64_t peer_call_id(const struct peer_call *call);
/* 0 once the connection the call came on has closed. */
int peer_call_alive(const struct peer_call *call);

/* Deep copy of a reply (the callback's is borrowed); free with
 * peer_value_free.  peer_value_free(NULL) is a no-op. */
struct peer_value *peer_value_dup(const struct peer_value *v);
void peer_value_free(struct peer_value *v);
/* For implementations: a deep copy into *dst, and the release of what an
 * owned value (one that peer_value_copy filled) holds, not v itself. */
void peer_value_copy(struct peer_value *dst, const struct peer_value *src);
void peer_value_clear(struct peer_value *v);

/* For implementations: hands an incoming request (argv[0] the command, no
 * id) to the handler h's table names, else h->on_message, else answers
 * "-ERR unknown peer command '<name>'". */
void peer_dispatch(const struct peer_handlers *h, void *ctx,
                   struct peer_call *call, int argc,
                   const struct dyn_arg *argv);

/* ---- for tests and fuzzing only (the server never calls these) ----------
 * They let a test play the other end of a connection without TCP, e.g. over
 * socketpair(AF_UNIX), through the same code as real sockets.  The bus
 * takes fd either way (it is closed with the connection).  TCP buses
 * only (peer_bus_new). */
/* fd becomes an accepted incoming connection.  DYN_ELIMIT: refused as
 * on_accept refuses (too many unauthenticated connections, or TLS could not
 * start); fd is closed. */
int peer_bus_adopt_fd(struct peer_bus *bus, int fd);
/* fd, connected to the peer, becomes the peer's outgoing link in place of
 * a dial: the link says PEER.HELLO on it from the loop.  DYN_EINVAL: no
 * such peer, or its link already has a connection (fd is not taken). */
int peer_link_adopt_fd(struct peer_bus *bus, int peer_id, int fd);

#endif
