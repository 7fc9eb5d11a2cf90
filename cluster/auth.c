/*
 * auth.c -- the peer bus's proofs (auth.h): HMAC-SHA256 over a labelled,
 * length-prefixed transcript, and the TLS PSK derivation.  libcrypto
 * supplies the randomness, the MAC, HKDF and the constant-time compare.
 */
#include "cluster/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <string.h>
#include "server/util.h"

#define AUTH_LABEL "mini-dynamo peer auth v2"
#define AUTH_PSK_LABEL "mini-dynamo peer tls psk v1"

static void to_hex(const unsigned char *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = 0;
}

/* Cryptographic randomness, so OpenSSL's and not the node's random source
 * (node_random): a nonce must be unpredictable, and it is no simulation
 * state (the simulation runs with cluster-insecure, without handshakes). */
int auth_nonce(char *out)
{
    unsigned char raw[AUTH_NONCE_HEX / 2];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return DYN_EIO;
    to_hex(raw, sizeof(raw), out);
    return 0;
}

static unsigned char *put_field(unsigned char *w, const char *p, size_t n)
{
    w[0] = (unsigned char)(n >> 24);
    w[1] = (unsigned char)(n >> 16);
    w[2] = (unsigned char)(n >> 8);
    w[3] = (unsigned char)n;
    memcpy(w + 4, p, n);
    return w + 4 + n;
}

int auth_proof(const char *secret, size_t secret_len, enum auth_role role,
               const struct auth_transcript *t, char *out)
{
    unsigned char msg[sizeof(AUTH_LABEL) + 1 + 4 * (4 + AUTH_FIELD_MAX)];
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (secret_len == 0 || secret_len > 1024 ||
        (role != AUTH_DIALER && role != AUTH_ACCEPTOR) ||
        t->dialer_nonce_len > AUTH_FIELD_MAX ||
        t->acceptor_nonce_len > AUTH_FIELD_MAX ||
        t->dialer_len > AUTH_FIELD_MAX || t->acceptor_len > AUTH_FIELD_MAX)
        return DYN_EINVAL;
    unsigned char *w = msg;
    memcpy(w, AUTH_LABEL, sizeof(AUTH_LABEL)); /* with its NUL */
    w += sizeof(AUTH_LABEL);
    *w++ = (unsigned char)role;
    w = put_field(w, t->dialer_nonce, t->dialer_nonce_len);
    w = put_field(w, t->acceptor_nonce, t->acceptor_nonce_len);
    w = put_field(w, t->dialer, t->dialer_len);
    w = put_field(w, t->acceptor, t->acceptor_len);
    if (!HMAC(EVP_sha256(), secret, (int)secret_len, msg, (size_t)(w - msg),
              mac, &maclen) ||
        maclen != AUTH_MAC_HEX / 2)
        return DYN_EIO;
    to_hex(mac, maclen, out);
    return 0;
}

int auth_check(const char *secret, size_t secret_len, enum auth_role role,
               const struct auth_transcript *t, const char *mac,
               size_t mac_len)
{
    char want[AUTH_MAC_HEX + 1];
    if (!mac || mac_len != AUTH_MAC_HEX)
        return 0;
    if (auth_proof(secret, secret_len, role, t, want) != 0)
        return 0;
    return CRYPTO_memcmp(want, mac, AUTH_MAC_HEX) == 0;
}

int auth_tls_psk(const char *secret, size_t secret_len, unsigned char *out)
{
    if (secret_len == 0 || secret_len > 1024)
        return DYN_EINVAL;
    EVP_PKEY_CTX *kctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
    size_t outlen = 32;
    int ok = kctx && EVP_PKEY_derive_init(kctx) > 0 &&
             EVP_PKEY_CTX_set_hkdf_md(kctx, EVP_sha256()) > 0 &&
             EVP_PKEY_CTX_set1_hkdf_key(kctx, (const unsigned char *)secret,
                                        (int)secret_len) > 0 &&
             EVP_PKEY_CTX_add1_hkdf_info(
                 kctx, (const unsigned char *)AUTH_PSK_LABEL,
                 (int)strlen(AUTH_PSK_LABEL)) > 0 &&
             EVP_PKEY_derive(kctx, out, &outlen) > 0 && outlen == 32;
    EVP_PKEY_CTX_free(kctx);
    return ok ? 0 : DYN_EIO;
}
