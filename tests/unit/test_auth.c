/*
 * test_auth.c -- the peer bus challenge: the right secret passes, a wrong
 * secret, another nonce, another name or a tampered MAC fail, and nonces do
 * not repeat.  The MAC is checked against an RFC 4231 HMAC-SHA256 vector so
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
    char nonce[AUTH_NONCE_HEX + 1], other[AUTH_NONCE_HEX + 1];
    char mac[AUTH_MAC_HEX + 1];
    ck_assert_int_eq(auth_nonce(nonce), 0);
    ck_assert_int_eq(auth_nonce(other), 0);
    ck_assert_uint_eq(strlen(nonce), AUTH_NONCE_HEX);
    ck_assert_str_ne(nonce, other);
    const char *s = "s3cret";
    ck_assert_int_eq(auth_mac(s, 6, nonce, 64, "node-a", 6, mac), 0);
    ck_assert_int_eq(auth_verify(s, 6, nonce, 64, "node-a", 6, mac, 64), 1);
    ck_assert_int_eq(auth_verify("s3creT", 6, nonce, 64, "node-a", 6, mac, 64),
                     0);
    ck_assert_int_eq(auth_verify(s, 6, other, 64, "node-a", 6, mac, 64), 0);
    ck_assert_int_eq(auth_verify(s, 6, nonce, 64, "node-b", 6, mac, 64), 0);
    mac[10] = mac[10] == 'a' ? 'b' : 'a';
    ck_assert_int_eq(auth_verify(s, 6, nonce, 64, "node-a", 6, mac, 64), 0);
    ck_assert_int_eq(auth_verify(s, 6, nonce, 64, "node-a", 6, mac, 63), 0);
    ck_assert_int_eq(auth_mac("", 0, nonce, 64, "a", 1, mac), DYN_EINVAL);
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
