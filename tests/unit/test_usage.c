/*
 * test_usage.c -- the usage notation: what tree each element of a usage
 * line gives, how they nest, which lines are refused, and that every line
 * of the node's own usage table parses.
 *
 * A tree is checked through a one-line rendering, so each expectation reads
 * like the notation it comes from:
 *   type:name          an argument ("key:key", "string:value")
 *   {TOKEN}            its token ("pure-token:nx{NX}", "string:seconds{EX}")
 *   ?  *               optional, multiple
 *   (a, b)             the arguments of a oneof or a block
 * These are the fields COMMAND DOCS writes, so a change here is a change in
 * what redis-cli shows as hints.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/usage.h"
#include "server/util.h"

static void render_list(const struct usage_tree *t, int i, const char *sep,
                        char *out, size_t cap)
{
    for (int first = 1; i >= 0; i = t->arg[i].next, first = 0) {
        const struct usage_arg *a = &t->arg[i];
        size_t l = strlen(out);
        snprintf(out + l, cap - l, "%s%s:%s", first ? "" : sep,
                 usage_type_name(a->type), a->name);
        l = strlen(out);
        if (a->token[0])
            snprintf(out + l, cap - l, "{%s}", a->token);
        l = strlen(out);
        snprintf(out + l, cap - l, "%s%s", a->optional ? "?" : "",
                 a->multiple ? "*" : "");
        if (a->child >= 0) {
            l = strlen(out);
            snprintf(out + l, cap - l, "(");
            render_list(t, a->child, ", ", out, cap);
            l = strlen(out);
            snprintf(out + l, cap - l, ")");
        }
    }
}

/* Parses line, which must be well formed, and renders its tree. */
static const char *parsed(const char *line)
{
    static struct usage_tree t;
    static char out[4096];
    int rc = usage_parse(&t, line);
    ck_assert_msg(rc == 0, "\"%s\" refused (%d)", line, rc);
    out[0] = '\0';
    render_list(&t, t.head, " ", out, sizeof out);
    return out;
}

/* The error usage_parse gives for line; the tree is left empty. */
static int refused(const char *line)
{
    static struct usage_tree t;
    int rc = usage_parse(&t, line);
    ck_assert_msg(rc < 0, "\"%s\" accepted", line);
    ck_assert_int_eq(t.head, -1);
    return rc;
}

START_TEST(a_lower_case_word_is_a_string_or_a_key)
{
    ck_assert_str_eq(parsed("value"), "string:value");
    ck_assert_str_eq(parsed("message"), "string:message");
    /* a key is a word that starts or ends with "key", or source and
     * destination exactly */
    ck_assert_str_eq(parsed("key"), "key:key");
    ck_assert_str_eq(parsed("key1 key2"), "key:key1 key:key2");
    ck_assert_str_eq(parsed("newkey"), "key:newkey");
    ck_assert_str_eq(parsed("source destination"),
                     "key:source key:destination");
    ck_assert_str_eq(parsed("destination-db"), "string:destination-db");
}
END_TEST

START_TEST(an_upper_case_word_is_a_token)
{
    /* alone, or before another token: a pure token named in lower case */
    ck_assert_str_eq(parsed("NOW"), "pure-token:now{NOW}");
    ck_assert_str_eq(parsed("LEN IDX"),
                     "pure-token:len{LEN} pure-token:idx{IDX}");
    /* before a lower-case word: that word's token */
    ck_assert_str_eq(parsed("MATCH pattern"), "string:pattern{MATCH}");
    ck_assert_str_eq(parsed("ID client-id"), "string:client-id{ID}");
    /* a word with any lower-case letter is not a token */
    ck_assert_str_eq(parsed("Now"), "string:Now");
    /* a token before a group stays a pure token */
    ck_assert_str_eq(parsed("TYPE [x]"),
                     "pure-token:type{TYPE} string:x?");
}
END_TEST

START_TEST(a_bar_makes_a_oneof)
{
    ck_assert_str_eq(parsed("ON|OFF|SKIP"),
                     "oneof:choice(pure-token:on{ON}, pure-token:off{OFF}, "
                     "pure-token:skip{SKIP})");
    ck_assert_str_eq(parsed("key a|b"),
                     "key:key oneof:choice(string:a, string:b)");
}
END_TEST

START_TEST(brackets_make_an_argument_optional)
{
    ck_assert_str_eq(parsed("[username] password"),
                     "string:username? string:password");
    ck_assert_str_eq(parsed("[GET]"), "pure-token:get{GET}?");
    ck_assert_str_eq(parsed("[SAMPLES count]"), "string:count{SAMPLES}?");
    /* a bar inside brackets splits the whole group */
    ck_assert_str_eq(parsed("[NX|XX]"),
                     "oneof:choice?(pure-token:nx{NX}, pure-token:xx{XX})");
    ck_assert_str_eq(parsed("[EX seconds|PX milliseconds|KEEPTTL]"),
                     "oneof:choice?(string:seconds{EX}, "
                     "string:milliseconds{PX}, pure-token:keepttl{KEEPTTL})");
    /* several arguments in one group become one optional block */
    ck_assert_str_eq(parsed("[AUTH username password]"),
                     "block:block?(string:username{AUTH}, string:password)");
}
END_TEST

START_TEST(a_repetition_marks_what_comes_before_it)
{
    /* one item repeated: the item itself is multiple */
    ck_assert_str_eq(parsed("key [key ...]"), "key:key*");
    ck_assert_str_eq(parsed("parameter [parameter ...]"),
                     "string:parameter*");
    /* k items repeated: the last k items become one multiple block */
    ck_assert_str_eq(parsed("key value [key value ...]"),
                     "block:block*(key:key, string:value)");
    ck_assert_str_eq(parsed("numkeys key value [key value ...]"),
                     "string:numkeys block:block*(key:key, string:value)");
    /* spaces before the closing bracket do not matter */
    ck_assert_str_eq(parsed("key [key ...  ]"), "key:key*");
}
END_TEST

START_TEST(groups_nest)
{
    /* optional and multiple at once */
    ck_assert_str_eq(parsed("[command-name [command-name ...]]"),
                     "string:command-name?*");
    ck_assert_str_eq(parsed("[section [section ...]]"), "string:section?*");
    /* groups inside a group */
    ck_assert_str_eq(
        parsed("[protover [AUTH username password] [SETNAME clientname]]"),
        "block:block?(string:protover, "
        "block:block?(string:username{AUTH}, string:password), "
        "string:clientname{SETNAME}?)");
    /* a repetition inside a group */
    ck_assert_str_eq(parsed("[ID client-id [client-id ...]]"),
                     "string:client-id{ID}?*");
    /* a bar splits the whole group it is in, so the token before the
     * first alternative belongs to that alternative only */
    ck_assert_str_eq(parsed("[TYPE NORMAL|MASTER]"),
                     "oneof:choice?(block:block(pure-token:type{TYPE}, "
                     "pure-token:normal{NORMAL}), pure-token:master{MASTER})");
    /* a group inside an alternative */
    ck_assert_str_eq(parsed("[FILTERBY MODULE name|PATTERN pattern]"),
                     "oneof:choice?(block:block(pure-token:filterby{FILTERBY}, "
                     "string:name{MODULE}), string:pattern{PATTERN})");
    /* up to USAGE_MAX_DEPTH brackets deep */
    ck_assert_str_eq(parsed("[[[[[[[[a]]]]]]]]"), "string:a?");
}
END_TEST

START_TEST(malformed_lines_are_refused)
{
    /* nothing to parse */
    ck_assert_int_eq(refused(""), DYN_EINVAL);
    ck_assert_int_eq(refused("   "), DYN_EINVAL);
    /* brackets that do not pair, or hold nothing */
    ck_assert_int_eq(refused("[key"), DYN_EINVAL);
    ck_assert_int_eq(refused("key]"), DYN_EINVAL);
    ck_assert_int_eq(refused("[a]] [b"), DYN_EINVAL);
    ck_assert_int_eq(refused("[]"), DYN_EINVAL);
    ck_assert_int_eq(refused("key [ ]"), DYN_EINVAL);
    /* an alternative that is empty, or not a word */
    ck_assert_int_eq(refused("a||b"), DYN_EINVAL);
    ck_assert_int_eq(refused("|a"), DYN_EINVAL);
    ck_assert_int_eq(refused("a|"), DYN_EINVAL);
    ck_assert_int_eq(refused("[a|]"), DYN_EINVAL);
    ck_assert_int_eq(refused("[|a]"), DYN_EINVAL);
    ck_assert_int_eq(refused("a | b"), DYN_EINVAL);
    ck_assert_int_eq(refused("[x]|y"), DYN_EINVAL);
    /* "..." only as the last word of a group, after something to repeat */
    ck_assert_int_eq(refused("key ..."), DYN_EINVAL);
    ck_assert_int_eq(refused("key [key...]"), DYN_EINVAL);
    ck_assert_int_eq(refused("key [key ... value]"), DYN_EINVAL);
    ck_assert_int_eq(refused("key [...]"), DYN_EINVAL);
    ck_assert_int_eq(refused("[key ...]"), DYN_EINVAL);
    ck_assert_int_eq(refused("key [key value ...]"), DYN_EINVAL);
    ck_assert_int_eq(refused("key [key ...."), DYN_EINVAL);
    /* bytes that are not printable ASCII */
    ck_assert_int_eq(refused("key\tvalue"), DYN_EINVAL);
    ck_assert_int_eq(refused("caf\xc3\xa9"), DYN_EINVAL);
}
END_TEST

START_TEST(lines_beyond_the_limits_are_refused)
{
    char line[4 * USAGE_MAX_ARGS + 64];

    /* a word must fit in a name, with its NUL */
    memset(line, 'a', USAGE_NAME_MAX - 1);
    line[USAGE_NAME_MAX - 1] = '\0';
    {
        static struct usage_tree t;
        ck_assert_int_eq(usage_parse(&t, line), 0);
        ck_assert_str_eq(t.arg[t.head].name, line);
    }
    memset(line, 'a', USAGE_NAME_MAX);
    line[USAGE_NAME_MAX] = '\0';
    ck_assert_int_eq(refused(line), DYN_ELIMIT);

    /* USAGE_MAX_ARGS arguments fit, one more does not */
    line[0] = '\0';
    for (int i = 0; i < USAGE_MAX_ARGS; i++)
        strcat(line, i ? " a" : "a");
    {
        static struct usage_tree t;
        ck_assert_int_eq(usage_parse(&t, line), 0);
        ck_assert_int_eq(usage_count(&t, t.head), USAGE_MAX_ARGS);
    }
    strcat(line, " a");
    ck_assert_int_eq(refused(line), DYN_ELIMIT);

    /* one bracket deeper than USAGE_MAX_DEPTH */
    ck_assert_int_eq(refused("[[[[[[[[[a]]]]]]]]]"), DYN_ELIMIT);
}
END_TEST

START_TEST(a_tree_is_rebuilt_by_each_parse)
{
    static struct usage_tree t;
    ck_assert_int_eq(usage_parse(&t, "key value [key value ...]"), 0);
    ck_assert_int_eq(usage_count(&t, t.head), 1);
    /* a refused line leaves no tree behind */
    ck_assert_int_lt(usage_parse(&t, "[key"), 0);
    ck_assert_int_eq(t.head, -1);
    /* and the next parse starts from an empty pool */
    ck_assert_int_eq(usage_parse(&t, "key"), 0);
    ck_assert_int_eq(t.used, 1);
    ck_assert_str_eq(t.arg[t.head].name, "key");
}
END_TEST

START_TEST(type_names_are_redis_s)
{
    ck_assert_str_eq(usage_type_name(USAGE_STRING), "string");
    ck_assert_str_eq(usage_type_name(USAGE_KEY), "key");
    ck_assert_str_eq(usage_type_name(USAGE_TOKEN), "pure-token");
    ck_assert_str_eq(usage_type_name(USAGE_ONEOF), "oneof");
    ck_assert_str_eq(usage_type_name(USAGE_BLOCK), "block");
}
END_TEST

START_TEST(every_row_of_the_command_table_parses)
{
    size_t n = 0;
    const struct usage_row *rows = usage_rows(&n);
    ck_assert_uint_gt(n, 50);
    for (size_t i = 0; i < n; i++) {
        static struct usage_tree t;
        int rc = usage_parse(&t, rows[i].line);
        ck_assert_msg(rc == 0, "usage of %s refused (%d): \"%s\"",
                      rows[i].name, rc, rows[i].line);
        ck_assert_msg(t.head >= 0, "usage of %s is empty", rows[i].name);
        /* sorted and unique: usage_find is a binary search */
        if (i > 0)
            ck_assert_msg(strcmp(rows[i - 1].name, rows[i].name) < 0,
                          "%s is out of order after %s", rows[i].name,
                          rows[i - 1].name);
        ck_assert_ptr_eq(usage_find(rows[i].name), rows[i].line);
    }
}
END_TEST

START_TEST(the_table_holds_the_lines_redis_documents)
{
    ck_assert_str_eq(parsed(usage_find("set")),
                     "key:key string:value "
                     "oneof:choice?(pure-token:nx{NX}, pure-token:xx{XX}) "
                     "pure-token:get{GET}? "
                     "oneof:choice?(string:seconds{EX}, "
                     "string:milliseconds{PX}, "
                     "string:unix-time-seconds{EXAT}, "
                     "string:unix-time-milliseconds{PXAT}, "
                     "pure-token:keepttl{KEEPTTL})");
    ck_assert_str_eq(parsed(usage_find("config|set")),
                     "block:block*(string:parameter, string:value)");
    ck_assert_str_eq(parsed(usage_find("mset")),
                     "block:block*(key:key, string:value)");
    /* commands without arguments have no line; unknown names neither */
    ck_assert_ptr_null(usage_find("command"));
    ck_assert_ptr_null(usage_find("nosuch"));
    ck_assert_ptr_null(usage_find(""));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("usage");
    TCase *tc = tcase_create("notation");
    tcase_add_test(tc, a_lower_case_word_is_a_string_or_a_key);
    tcase_add_test(tc, an_upper_case_word_is_a_token);
    tcase_add_test(tc, a_bar_makes_a_oneof);
    tcase_add_test(tc, brackets_make_an_argument_optional);
    tcase_add_test(tc, a_repetition_marks_what_comes_before_it);
    tcase_add_test(tc, groups_nest);
    tcase_add_test(tc, malformed_lines_are_refused);
    tcase_add_test(tc, lines_beyond_the_limits_are_refused);
    tcase_add_test(tc, a_tree_is_rebuilt_by_each_parse);
    tcase_add_test(tc, type_names_are_redis_s);
    suite_add_tcase(s, tc);
    TCase *tt = tcase_create("table");
    tcase_add_test(tt, every_row_of_the_command_table_parses);
    tcase_add_test(tt, the_table_holds_the_lines_redis_documents);
    suite_add_tcase(s, tt);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
