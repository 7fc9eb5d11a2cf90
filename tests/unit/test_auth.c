/*
 * test_auth.c -- the peer bus proofs: the right secret passes; a wrong
 * secret, the other role, another nonce, another name or a tampered MAC
 * fail; nonces do not repeat; the TLS PSK is stable and secret-dependent.  The MAC is checked against an RFC 4231 HMAC-SHA256 vector so
 * that a broken build of the primitive cannot pass.
 */
#include <check.h>
#include <string.h>
#include <openssl/hmac.h>
#include <openssl/evp.h>
#include "cluster/auth.h"
#include "server/util.h"

START_TEST(right_secret_passes_everything_else_fails)
{
    char nd[AUTH_NONCE_HEX + 1], na[AUTH_NONCE_HEX + 1];
    char mac[AUTH_MAC_HEX + 1];
    ck_assert_int_eq(auth_nonce(nd), 0);
    ck_assert_int_eq(auth_nonce(na), 0);
    ck_assert_uint_eq(strlen(nd), AUTH_NONCE_HEX);
    ck_assert_str_ne(nd, na);
    const char *s = "s3cret";
    struct auth_transcript t = {nd, 64, na, 64, "node-a", 6, "node-b", 6};
    ck_assert_int_eq(auth_proof(s, 6, AUTH_DIALER, &t, mac), 0);
    ck_assert_int_eq(auth_check(s, 6, AUTH_DIALER, &t, mac, 64), 1);
    /* every part of the transcript counts */
    ck_assert_int_eq(auth_check("s3creT", 6, AUTH_DIALER, &t, mac, 64), 0);
    ck_assert_int_eq(auth_check(s, 6, AUTH_ACCEPTOR, &t, mac, 64), 0);
    struct auth_transcript u = t;
    u.dialer_nonce = na;
    ck_assert_int_eq(auth_check(s, 6, AUTH_DIALER, &u, mac, 64), 0);
    u = t;
    u.acceptor_nonce = nd;
    ck_assert_int_eq(auth_check(s, 6, AUTH_DIALER, &u, mac, 64), 0);
    u = t;
    u.dialer = "node-c";
    ck_assert_int_eq(auth_check(s, 6, AUTH_DIALER, &u, mac, 64), 0);
    u = t;
    u.acceptor = "node-c";
    ck_assert_int_eq(auth_check(s, 6, AUTH_DIALER, &u, mac, 64), 0);
    /* the two names swapped: the same bytes, another transcript */
    u = t;
    u.dialer = "node-b";
    u.acceptor = "node-a";
    ck_assert_int_eq(auth_check(s, 6, AUTH_DIALER, &u, mac, 64), 0);
    /* moving a byte from one field to the next changes the encoding */
    struct auth_transcript v1 = {nd, 64, na, 64, "ab", 2, "c", 1};
    struct auth_transcript v2 = {nd, 64, na, 64, "a", 1, "bc", 2};
    char m1[AUTH_MAC_HEX + 1], m2[AUTH_MAC_HEX + 1];
    ck_assert_int_eq(auth_proof(s, 6, AUTH_DIALER, &v1, m1), 0);
    ck_assert_int_eq(auth_proof(s, 6, AUTH_DIALER, &v2, m2), 0);
    ck_assert_str_ne(m1, m2);
    mac[10] = mac[10] == 'a' ? 'b' : 'a';
    ck_assert_int_eq(auth_check(s, 6, AUTH_DIALER, &t, mac, 64), 0);
    ck_assert_int_eq(auth_check(s, 6, AUTH_DIALER, &t, mac, 63), 0);
    ck_assert_int_eq(auth_proof("", 0, AUTH_DIALER, &t, mac), DYN_EINVAL);
}
END_TEST

START_TEST(dialer_and_acceptor_proofs_differ)
{
    /* the reflection of the first version: one side's proof must never be
     * the other side's, even over the same nonces and names */
    const char *s = "s3cret";
    char d[AUTH_MAC_HEX + 1], a[AUTH_MAC_HEX + 1];
    struct auth_transcript t = {"n", 1, "n", 1, "x", 1, "x", 1};
    ck_assert_int_eq(auth_proof(s, 6, AUTH_DIALER, &t, d), 0);
    ck_assert_int_eq(auth_proof(s, 6, AUTH_ACCEPTOR, &t, a), 0);
    ck_assert_str_ne(d, a);
    ck_assert_int_eq(auth_check(s, 6, AUTH_ACCEPTOR, &t, d, 64), 0);
    ck_assert_int_eq(auth_check(s, 6, AUTH_DIALER, &t, a, 64), 0);
}
END_TEST

START_TEST(tls_psk_is_derived_and_stable)
{
    unsigned char k1[32], k2[32], k3[32];
    ck_assert_int_eq(auth_tls_psk("s3cret", 6, k1), 0);
    ck_assert_int_eq(auth_tls_psk("s3cret", 6, k2), 0);
    ck_assert_int_eq(auth_tls_psk("s3creT", 6, k3), 0);
    ck_assert_mem_eq(k1, k2, 32);
    ck_assert(memcmp(k1, k3, 32) != 0);
    ck_assert(memcmp(k1, "s3cret", 6) != 0);
    ck_assert_int_eq(auth_tls_psk("", 0, k1), DYN_EINVAL);
}
END_TEST

START_TEST(hmac_primitive_matches_rfc4231)
{
    /* RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?" */
    unsigned char out[32];
    unsigned int n = 0;
    const char *data = "what do ya want for nothing?";
    HMAC(EVP_sha256(), "Jefe", 4, (const unsigned char *)data, strlen(data),
         out, &n);
    static const unsigned char want[32] = {
        0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24,
        0x26, 0x08, 0x95, 0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27,
        0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43};
    ck_assert_uint_eq(n, 32);
    ck_assert_mem_eq(out, want, 32);
}
END_TEST

static Suite *auth_suite(void)
{
    Suite *s = suite_create("auth");
    TCase *tc = tcase_create("auth");
    tcase_add_test(tc, right_secret_passes_everything_else_fails);
    tcase_add_test(tc, dialer_and_acceptor_proofs_differ);
    tcase_add_test(tc, tls_psk_is_derived_and_stable);
    tcase_add_test(tc, hmac_primitive_matches_rfc4231);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(auth_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
