/*
 * tls.c -- TLS contexts and non-blocking TLS I/O (tls.h), on OpenSSL.
 *
 * The PSK context keeps its key in the context's app data (a 32-byte copy
 * freed with the context), so no file-level state is needed.  Both PSK
 * callbacks build the same session: TLS 1.3, TLS_AES_128_GCM_SHA256, the
 * key as its resumption secret, under one fixed identity.  A server that
 * finds no matching identity offers no PSK, and without a certificate the
 * handshake then fails, which is the point: only holders of the secret
 * complete it.
 */
#include "server/tls.h"

#include <errno.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "server/util.h"

#define TLS_PSK_IDENTITY "mini-dynamo-cluster"
#define TLS_PSK_KEY_LEN 32

struct tls_conn {
    SSL *ssl;
    int want_write;
    int failed;         /* no close_notify after a fatal error */
    const char *handshake_error;  /* static text: the handshake failed */
};

const char *tls_last_error(void)
{
    unsigned long e = ERR_peek_last_error();
    return e ? ERR_reason_error_string(e) ? ERR_reason_error_string(e)
                                          : "unknown TLS error"
             : "no TLS error queued";
}

static void ctx_common(SSL_CTX *ctx)
{
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* a peer that vanishes without close_notify is an ordinary EOF;
     * renegotiation (TLS 1.2) is a cheap way to burn our CPU */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF |
                                 SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
}

SSL_CTX *tls_server_ctx_new(const struct tls_server_opts *o, struct dbuf *err,
                            const char **bad)
{
    dbuf_reset(err);
    *bad = "tls-port";
    if (!o->cert_file || !*o->cert_file || !o->key_file || !*o->key_file) {
        dbuf_printf(err, "tls-port needs tls-cert-file and tls-key-file");
        return NULL;
    }
    *bad = "tls-auth-clients";
    if (o->auth_clients && (!o->ca_cert_file || !*o->ca_cert_file)) {
        dbuf_printf(err, "tls-auth-clients %s needs tls-ca-cert-file "
                         "(or set tls-auth-clients no)",
                    o->auth_clients == 2 ? "optional" : "yes");
        return NULL;
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        dbuf_printf(err, "cannot create a TLS context: %s", tls_last_error());
        return NULL;
    }
    ctx_common(ctx);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    *bad = "tls-cert-file";
    if (SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) != 1) {
        dbuf_printf(err, "tls-cert-file '%s': %s", o->cert_file,
                    tls_last_error());
        goto fail;
    }
    *bad = "tls-key-file";
    if (SSL_CTX_use_PrivateKey_file(ctx, o->key_file, SSL_FILETYPE_PEM) != 1) {
        dbuf_printf(err, "tls-key-file '%s': %s", o->key_file,
                    tls_last_error());
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        dbuf_printf(err, "tls-key-file '%s' does not match tls-cert-file "
                         "'%s'", o->key_file, o->cert_file);
        goto fail;
    }
    *bad = "tls-ca-cert-file";
    if (o->ca_cert_file && *o->ca_cert_file &&
        SSL_CTX_load_verify_locations(ctx, o->ca_cert_file, NULL) != 1) {
        dbuf_printf(err, "tls-ca-cert-file '%s': %s", o->ca_cert_file,
                    tls_last_error());
        goto fail;
    }
    int mode = SSL_VERIFY_NONE;
    if (o->auth_clients == 1)
        mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    else if (o->auth_clients == 2)
        mode = SSL_VERIFY_PEER;
    SSL_CTX_set_verify(ctx, mode, NULL);
    ERR_clear_error();
    *bad = NULL;
    return ctx;
fail:
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

/* The one PSK session both sides build from the context's key. */
static SSL_SESSION *psk_session(SSL *ssl)
{
    const unsigned char *key = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    static const unsigned char aes128gcm[2] = {0x13, 0x01};
    const SSL_CIPHER *cipher = SSL_CIPHER_find(ssl, aes128gcm);
    SSL_SESSION *s = cipher && key ? SSL_SESSION_new() : NULL;
    if (!s)
        return NULL;
    if (SSL_SESSION_set1_master_key(s, key, TLS_PSK_KEY_LEN) != 1 ||
        SSL_SESSION_set_cipher(s, cipher) != 1 ||
        SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION) != 1) {
        SSL_SESSION_free(s);
        return NULL;
    }
    return s;
}

static int psk_use_cb(SSL *ssl, const EVP_MD *md, const unsigned char **id,
                      size_t *idlen, SSL_SESSION **sess)
{
    *sess = NULL;
    *id = NULL;
    *idlen = 0;
    SSL_SESSION *s = psk_session(ssl);
    if (!s)
        return 0;
    if (md && SSL_CIPHER_get_handshake_digest(SSL_SESSION_get0_cipher(s)) !=
                  md) {
        /* after a HelloRetryRequest for another hash: offer no PSK */
        SSL_SESSION_free(s);
        return 1;
    }
    *sess = s;
    *id = (const unsigned char *)TLS_PSK_IDENTITY;
    *idlen = strlen(TLS_PSK_IDENTITY);
    return 1;
}

static int psk_find_cb(SSL *ssl, const unsigned char *identity,
                       size_t identity_len, SSL_SESSION **sess)
{
    *sess = NULL;
    if (identity_len != strlen(TLS_PSK_IDENTITY) ||
        memcmp(identity, TLS_PSK_IDENTITY, identity_len) != 0)
        return 1;   /* unknown identity: no PSK, the handshake fails */
    *sess = psk_session(ssl);
    return *sess ? 1 : 0;
}

SSL_CTX *tls_psk_ctx_new(const unsigned char *key, int server,
                         struct dbuf *err)
{
    dbuf_reset(err);
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method()
                                      : TLS_client_method());
    if (!ctx) {
        dbuf_printf(err, "cannot create a TLS context: %s", tls_last_error());
        return NULL;
    }
    ctx_common(ctx);
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    if (server)
        SSL_CTX_set_num_tickets(ctx, 0);
    if (SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256") != 1) {
        dbuf_printf(err, "TLS 1.3 AES-128-GCM unavailable: %s",
                    tls_last_error());
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_app_data(ctx, dyn_memdup(key, TLS_PSK_KEY_LEN));
    if (server)
        SSL_CTX_set_psk_find_session_callback(ctx, psk_find_cb);
    else
        SSL_CTX_set_psk_use_session_callback(ctx, psk_use_cb);
    return ctx;
}

void tls_ctx_free(SSL_CTX *ctx)
{
    if (!ctx)
        return;
    unsigned char *key = SSL_CTX_get_app_data(ctx);
    if (key) {
        OPENSSL_cleanse(key, TLS_PSK_KEY_LEN);
        dyn_free(key);
    }
    SSL_CTX_free(ctx);
}

struct tls_conn *tls_conn_new(SSL_CTX *ctx, int fd, int server)
{
    SSL *ssl = SSL_new(ctx);
    if (!ssl)
        return NULL;
    if (SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        return NULL;
    }
    if (server)
        SSL_set_accept_state(ssl);
    else
        SSL_set_connect_state(ssl);
    struct tls_conn *t = dyn_calloc(1, sizeof(*t));
    t->ssl = ssl;
    return t;
}

void tls_conn_free(struct tls_conn *t)
{
    if (!t)
        return;
    /* a close_notify if the link is healthy; never wait for the answer */
    if (!t->failed && SSL_is_init_finished(t->ssl))
        SSL_shutdown(t->ssl);
    SSL_free(t->ssl);
    ERR_clear_error();
    dyn_free(t);
}

/* The connection failed: if it was still in its handshake, remember why
 * (OpenSSL's reason, or the peer closing), for tls_conn_handshake_error. */
static void note_failure(struct tls_conn *t)
{
    t->failed = 1;
    if (t->handshake_error || SSL_is_init_finished(t->ssl))
        return;
    unsigned long e = ERR_peek_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    t->handshake_error = r ? r : "the peer closed the connection";
}

/* Maps an OpenSSL result to the read(2)-like convention. */
static ssize_t io_result(struct tls_conn *t, int n, int reading)
{
    if (n > 0) {
        t->want_write = 0;
        return n;
    }
    switch (SSL_get_error(t->ssl, n)) {
    case SSL_ERROR_WANT_READ:
        t->want_write = 0;
        return TLS_IO_AGAIN;
    case SSL_ERROR_WANT_WRITE:
        t->want_write = 1;
        return TLS_IO_AGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return reading ? 0 : TLS_IO_ERROR;
    case SSL_ERROR_SYSCALL:
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return TLS_IO_AGAIN;
        note_failure(t);
        if (reading && errno == 0)
            return 0;
        return TLS_IO_ERROR;
    default:
        note_failure(t);
        return TLS_IO_ERROR;
    }
}

const char *tls_conn_handshake_error(const struct tls_conn *t)
{
    return t ? t->handshake_error : NULL;
}

ssize_t tls_conn_read(struct tls_conn *t, void *buf, size_t n)
{
    ERR_clear_error();
    errno = 0;
    int r = SSL_read(t->ssl, buf, (int)DYN_MIN(n, (size_t)INT32_MAX));
    return io_result(t, r, 1);
}

ssize_t tls_conn_write(struct tls_conn *t, const void *buf, size_t n)
{
    if (n == 0)
        return 0;
    ERR_clear_error();
    errno = 0;
    int r = SSL_write(t->ssl, buf, (int)DYN_MIN(n, (size_t)INT32_MAX));
    return io_result(t, r, 0);
}

int tls_conn_wants_write(const struct tls_conn *t)
{
    return t->want_write;
}

size_t tls_conn_pending(const struct tls_conn *t)
{
    int n = SSL_pending(t->ssl);
    return n > 0 ? (size_t)n : 0;
}
