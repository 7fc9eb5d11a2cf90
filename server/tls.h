/*
 * tls.h -- TLS for the node's sockets: contexts, and non-blocking I/O that
 * reads like read(2)/write(2).
 *
 * Two kinds of context:
 *  - a certificate context for the client port (tls-port): the node's
 *    certificate chain and key, TLS 1.2 or newer, and client certificates
 *    checked against tls-ca-cert-file as tls-auth-clients says (Redis's
 *    option names and meanings);
 *  - a pre-shared-key context for the peer bus (tls-cluster): TLS 1.3 only,
 *    one external PSK derived from cluster-secret (auth_tls_psk), with an
 *    ephemeral (EC)DHE exchange on top, so no certificate is needed, both
 *    ends prove the secret, and a recorded session cannot be decrypted
 *    later from the secret alone.
 *
 * A struct tls_conn wraps one non-blocking socket.  tls_conn_read and
 * tls_conn_write behave as read(2)/write(2) do on such a socket (partial
 * writes included: the context allows them and moving buffers), and run
 * the handshake inside the first calls.  They return bytes (> 0), 0 on an
 * orderly close (read), TLS_IO_AGAIN when the socket must become readable
 * or writable first (tls_conn_wants_write tells which), or TLS_IO_ERROR.
 * Two duties fall on the caller because OpenSSL buffers:
 *  - decrypted bytes may wait inside OpenSSL after a read that filled the
 *    caller's buffer; no socket event will announce them, so a caller
 *    checks tls_conn_pending and reads again (from the loop);
 *  - a read may need the socket writable (during a handshake): when
 *    tls_conn_wants_write says so after a read, the caller retries the read
 *    once the socket is writable.
 *
 * Thread-safety: a context may be shared by connections of one thread.
 * Errors: constructors return NULL with a message in err.
 */
#ifndef DYN_TLS_H
#define DYN_TLS_H

#include <stddef.h>
#include <sys/types.h>
#include "server/buf.h"

struct ssl_ctx_st;
struct tls_conn;

#define TLS_IO_AGAIN (-1)
#define TLS_IO_ERROR (-2)

struct tls_server_opts {
    const char *cert_file;      /* PEM chain, required */
    const char *key_file;       /* PEM key, required */
    const char *ca_cert_file;   /* required unless auth_clients is 0 */
    int auth_clients;           /* enum tls_auth_mode (config.h) */
};

/* A certificate context for a listening port.  On failure *bad names
 * the option to blame ("tls-cert-file", ...). */
struct ssl_ctx_st *tls_server_ctx_new(const struct tls_server_opts *o,
                                      struct dbuf *err, const char **bad);
/* A TLS 1.3 PSK context; `server` picks the side.  key[32]. */
struct ssl_ctx_st *tls_psk_ctx_new(const unsigned char *key, int server,
                                   struct dbuf *err);
void tls_ctx_free(struct ssl_ctx_st *ctx);

/* Wraps fd (not owned: the caller closes it after tls_conn_free). */
struct tls_conn *tls_conn_new(struct ssl_ctx_st *ctx, int fd, int server);
void tls_conn_free(struct tls_conn *t);
ssize_t tls_conn_read(struct tls_conn *t, void *buf, size_t n);
ssize_t tls_conn_write(struct tls_conn *t, const void *buf, size_t n);
/* After TLS_IO_AGAIN: 1 when the socket must become writable. */
int tls_conn_wants_write(const struct tls_conn *t);
/* NULL, or (after a read or write failed during the handshake) why, as
 * static text: the handshake never completed. */
const char *tls_conn_handshake_error(const struct tls_conn *t);
/* Decrypted bytes waiting inside OpenSSL. */
size_t tls_conn_pending(const struct tls_conn *t);
/* The first error OpenSSL queued for this thread, as text (static). */
const char *tls_last_error(void);

#endif
