/*  test_json.c - the msgpack -> JSON printer used by kvpctl --json. */
#include <check.h>
#include "kvp_testkit.h"
#include <string.h>
#include <msgpack.h>
#include "kvp_json.h"

/*  Pack with `pack`, print, and compare with `want`. */
typedef void (s_pack_fn) (msgpack_packer *pk);

static void
s_expect (s_pack_fn *pack, const char *want)
{
    msgpack_sbuffer buf;
    msgpack_sbuffer_init (&buf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buf, msgpack_sbuffer_write);
    pack (&pk);
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    ck_assert_int_eq (msgpack_unpack_next (&unpacked, buf.data, buf.size,
                                           &offset), MSGPACK_UNPACK_SUCCESS);
    char *text = kvp_json_encode (&unpacked.data);
    ck_assert_ptr_nonnull (text);
    ck_assert_str_eq (text, want);
    free (text);
    msgpack_unpacked_destroy (&unpacked);
    msgpack_sbuffer_destroy (&buf);
}

static void
s_str (msgpack_packer *pk, const char *str, size_t len)
{
    msgpack_pack_str_with_body (pk, str, len);
}

static void s_pack_scalars (msgpack_packer *pk)
{
    msgpack_pack_array (pk, 8);
    msgpack_pack_nil (pk);
    msgpack_pack_true (pk);
    msgpack_pack_false (pk);
    msgpack_pack_uint64 (pk, UINT64_MAX);
    msgpack_pack_int64 (pk, INT64_MIN);
    msgpack_pack_double (pk, 0.1);
    msgpack_pack_double (pk, 1.0 / 0.0);
    msgpack_pack_float (pk, 1.5f);
}

START_TEST (test_scalars)
{
    s_expect (s_pack_scalars, "[null,true,false,18446744073709551615,"
                              "-9223372036854775808,0.1,null,1.5]");
}
END_TEST

static void s_pack_escapes (msgpack_packer *pk)
{
    s_str (pk, "q\"b\\s/\n\r\t\b\f\x01\x1f\x7f" "end", 17);
}

START_TEST (test_escapes)
{
    s_expect (s_pack_escapes,
              "\"q\\\"b\\\\s/\\n\\r\\t\\b\\f\\u0001\\u001f\\u007fend\"");
}
END_TEST

static void s_pack_nul (msgpack_packer *pk)
{
    s_str (pk, "a\0b", 3);
}

START_TEST (test_nul)
{
    s_expect (s_pack_nul, "\"a\\u0000b\"");
}
END_TEST

static void s_pack_utf8 (msgpack_packer *pk)
{
    //  é (2 bytes), € (3), 😀 (4): kept as they are.
    s_str (pk, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9);
}

START_TEST (test_utf8_kept)
{
    s_expect (s_pack_utf8, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
}
END_TEST

static void s_pack_bad_utf8 (msgpack_packer *pk)
{
    msgpack_pack_array (pk, 6);
    s_str (pk, "a\xff" "b", 3);             //  invalid byte
    s_str (pk, "\xc0\xaf", 2);              //  overlong '/'
    s_str (pk, "\xed\xa0\x80", 3);          //  a surrogate, encoded
    s_str (pk, "\xe2\x82", 2);              //  truncated €
    s_str (pk, "\xf4\x90\x80\x80", 4);      //  past U+10FFFF
    s_str (pk, "\x80" "x", 2);              //  lone continuation byte
}

START_TEST (test_bad_utf8)
{
    s_expect (s_pack_bad_utf8,
              "[\"a\\udcffb\",\"\\udcc0\\udcaf\",\"\\udced\\udca0\\udc80\","
              "\"\\udce2\\udc82\",\"\\udcf4\\udc90\\udc80\\udc80\","
              "\"\\udc80x\"]");
}
END_TEST

static void s_pack_bin (msgpack_packer *pk)
{
    msgpack_pack_array (pk, 4);
    msgpack_pack_bin_with_body (pk, "", 0);
    msgpack_pack_bin_with_body (pk, "f", 1);
    msgpack_pack_bin_with_body (pk, "fo", 2);
    msgpack_pack_bin_with_body (pk, "foo\xff", 4);
}

START_TEST (test_bin_base64)
{
    s_expect (s_pack_bin, "[{\"$bin\":\"\"},{\"$bin\":\"Zg==\"},"
                          "{\"$bin\":\"Zm8=\"},{\"$bin\":\"Zm9v/w==\"}]");
}
END_TEST

static void s_pack_ext (msgpack_packer *pk)
{
    msgpack_pack_ext_with_body (pk, "ab", 2, -1);
}

START_TEST (test_ext)
{
    s_expect (s_pack_ext, "{\"$ext\":-1,\"data\":\"YWI=\"}");
}
END_TEST

static void s_pack_map (msgpack_packer *pk)
{
    //  A reply-like map with a nested job, and keys that are not str.
    msgpack_pack_map (pk, 5);
    s_str (pk, "rc", 2);
    msgpack_pack_uint32 (pk, 4096);
    s_str (pk, "job", 3);
    msgpack_pack_map (pk, 2);
    s_str (pk, "InstanceID", 10);
    s_str (pk, "1.3fa9c2d1.42", 13);
    s_str (pk, "items", 5);
    msgpack_pack_array (pk, 0);
    msgpack_pack_uint32 (pk, 7);
    msgpack_pack_true (pk);
    s_str (pk, "k\"ey", 4);
    msgpack_pack_map (pk, 0);
    msgpack_pack_array (pk, 1);
    s_str (pk, "x", 1);
    msgpack_pack_nil (pk);
}

START_TEST (test_map)
{
    s_expect (s_pack_map,
              "{\"rc\":4096,\"job\":{\"InstanceID\":\"1.3fa9c2d1.42\","
              "\"items\":[]},\"7\":true,\"k\\\"ey\":{},"
              "\"[\\\"x\\\"]\":null}");
}
END_TEST

START_TEST (test_write_str)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    ck_assert_int_eq (kvp_json_write_str (out, "a\tb", 3), 0);
    ck_assert_int_eq (kvp_json_write_str (out, NULL, 0), 0);
    fclose (out);
    ck_assert_str_eq (text, "\"a\\tb\"\"\"");
    free (text);
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("json");
    TCase *tc = tcase_create ("print");
    tcase_add_test (tc, test_scalars);
    tcase_add_test (tc, test_escapes);
    tcase_add_test (tc, test_nul);
    tcase_add_test (tc, test_utf8_kept);
    tcase_add_test (tc, test_bad_utf8);
    tcase_add_test (tc, test_bin_base64);
    tcase_add_test (tc, test_ext);
    tcase_add_test (tc, test_map);
    tcase_add_test (tc, test_write_str);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
