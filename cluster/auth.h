/*
 * auth.h -- the proofs of the peer bus's mutual authentication.
 *
 * Both ends of a peer connection prove that they know cluster-secret.  A
 * proof is HMAC-SHA256(secret, transcript), hex encoded, where the
 * transcript is
 *
 *   "mini-dynamo peer auth v2" ‖ role ‖ len‖dialer-nonce ‖ len‖acceptor-nonce
 *                              ‖ len‖dialer-name  ‖ len‖acceptor-name
 *
 * (role is the byte 'D' for the dialer's proof, 'A' for the acceptor's;
 * each len is 4 bytes big-endian).  Why each part is there:
 *  - the role: a proof computed by one side can never be replayed as the
 *    other side's proof (the reflection that defeated the first version,
 *    whose two proofs were the same function of a nonce and a name);
 *  - both nonces: each side's fresh nonce makes the other's proof unique to
 *    this connection, so a recorded proof is worthless on any other;
 *  - both names: a proof made for a connection between n1 and n2 says so,
 *    and cannot be moved to a connection between other nodes;
 *  - the lengths: no two different transcripts encode to the same bytes.
 * The order of the handshake (peer.c) adds the other half: the dialer
 * proves first, and the acceptor computes its own proof only for a dialer
 * that has proven itself, so an unauthenticated party never obtains a proof
 * over values it chose.
 *
 * The MAC and the randomness come from OpenSSL's libcrypto and comparisons
 * are constant-time: nothing here is hand-rolled crypto.
 *
 * Thread-safety: reentrant.  Errors: 0 or DYN_EINVAL / DYN_EIO.
 */
#ifndef DYN_AUTH_H
#define DYN_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define AUTH_NONCE_HEX 64   /* 32 random bytes, hex */
#define AUTH_MAC_HEX 64     /* SHA-256, hex */
#define AUTH_FIELD_MAX 256  /* longest nonce or name a transcript takes */

enum auth_role {
    AUTH_DIALER = 'D',
    AUTH_ACCEPTOR = 'A',
};

/* What both sides saw of one handshake.  Nothing is owned. */
struct auth_transcript {
    const char *dialer_nonce;
    size_t dialer_nonce_len;
    const char *acceptor_nonce;
    size_t acceptor_nonce_len;
    const char *dialer;
    size_t dialer_len;
    const char *acceptor;
    size_t acceptor_len;
};

/* Fills out[AUTH_NONCE_HEX + 1] with a random nonce (RAND_bytes). */
int auth_nonce(char *out);

/* out[AUTH_MAC_HEX + 1] = the proof of `role` over the transcript.
 * DYN_EINVAL: no secret, or a field longer than AUTH_FIELD_MAX. */
int auth_proof(const char *secret, size_t secret_len, enum auth_role role,
               const struct auth_transcript *t, char *out);

/* 1 when mac is role's proof over the transcript, in constant time. */
int auth_check(const char *secret, size_t secret_len, enum auth_role role,
               const struct auth_transcript *t, const char *mac,
               size_t mac_len);

/* out[32] = a key for TLS 1.3's external pre-shared key, derived from the
 * secret with HKDF-SHA256 under its own label, so the PSK never equals
 * anything the challenge-response above reveals. */
int auth_tls_psk(const char *secret, size_t secret_len, unsigned char *out);

#endif
