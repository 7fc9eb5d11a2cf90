/*
 * auth.c -- HMAC-SHA256 challenge-response for the peer bus (auth.h).
 * libcrypto supplies the randomness, the MAC and the constant-time compare.
 */
#include "cluster/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>
#include "server/util.h"

static void to_hex(const unsigned char *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = 0;
}

int auth_nonce(char *out)
{
    unsigned char raw[AUTH_NONCE_HEX / 2];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return DYN_EIO;
    to_hex(raw, sizeof(raw), out);
    return 0;
}

int auth_mac(const char *secret, size_t secret_len, const char *nonce,
             size_t nonce_len, const char *name, size_t name_len, char *out)
{
    unsigned char msg[512];
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (nonce_len + name_len + 1 > sizeof(msg) || secret_len == 0 ||
        secret_len > 1024)
        return DYN_EINVAL;
    /* nonce and name are separated by a byte neither may contain */
    memcpy(msg, nonce, nonce_len);
    msg[nonce_len] = 0;
    memcpy(msg + nonce_len + 1, name, name_len);
    if (!HMAC(EVP_sha256(), secret, (int)secret_len, msg,
              nonce_len + 1 + name_len, mac, &maclen) ||
        maclen != AUTH_MAC_HEX / 2)
        return DYN_EIO;
    to_hex(mac, maclen, out);
    return 0;
}

int auth_verify(const char *secret, size_t secret_len, const char *nonce,
                size_t nonce_len, const char *name, size_t name_len,
                const char *mac, size_t mac_len)
{
    char want[AUTH_MAC_HEX + 1];
    if (mac_len != AUTH_MAC_HEX)
        return 0;
    if (memchr(nonce, 0, nonce_len) || memchr(name, 0, name_len))
        return 0;
    if (auth_mac(secret, secret_len, nonce, nonce_len, name, name_len, want))
        return 0;
    return CRYPTO_memcmp(want, mac, AUTH_MAC_HEX) == 0;
}
