/*
 * auth.h -- challenge-response authentication of the peer bus.
 *
 * The acceptor of a peer connection hands out a fresh random nonce; the
 * dialer proves it knows cluster-secret by answering with
 * HMAC-SHA256(secret, nonce ‖ dialer-name), hex encoded.  The MAC comes from
 * OpenSSL's libcrypto and the comparison is constant-time: nothing here is
 * hand-rolled crypto.  Until a connection has passed this exchange, the
 * acceptor ignores every internal command on it, so an unauthenticated peer
 * changes nothing.
 *
 * Thread-safety: reentrant.  Errors: 0 or DYN_EINVAL / DYN_EIO.
 */
#ifndef DYN_AUTH_H
#define DYN_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define AUTH_NONCE_HEX 64   /* 32 random bytes, hex */
#define AUTH_MAC_HEX 64     /* SHA-256, hex */

/* Fills out[AUTH_NONCE_HEX + 1] with a random nonce (RAND_bytes). */
int auth_nonce(char *out);

/* out[AUTH_MAC_HEX + 1] = hex(HMAC-SHA256(secret, nonce ‖ name)). */
int auth_mac(const char *secret, size_t secret_len, const char *nonce,
             size_t nonce_len, const char *name, size_t name_len, char *out);

/* 1 when mac is the right answer to nonce for name, in constant time. */
int auth_verify(const char *secret, size_t secret_len, const char *nonce,
                size_t nonce_len, const char *name, size_t name_len,
                const char *mac, size_t mac_len);

#endif
