/*  test_wire.c - the broker/worker maps and the big-endian helpers. */
#include <check.h>
#include "kvp_testkit.h"
#include <stdlib.h>
#include <string.h>
#include <msgpack.h>
#include "kvp_wire.h"

static msgpack_sbuffer buf;
static msgpack_packer pk;

static void
s_setup (void)
{
    msgpack_sbuffer_init (&buf);
    msgpack_packer_init (&pk, &buf, msgpack_sbuffer_write);
}

static void
s_teardown (void)
{
    msgpack_sbuffer_destroy (&buf);
}

static void
s_str (const char *text)
{
    msgpack_pack_str (&pk, strlen (text));
    msgpack_pack_str_body (&pk, text, strlen (text));
}

START_TEST (test_register_round_trip)
{
    uint32_t parts [3] = { 0, 17, 65535 };
    kvp_register_t reg = { KVP_WIRE_VERSION, "w1", "tok-abc", 64, parts, 3,
                           "" };
    kvp_register_encode (&buf, &reg);
    kvp_register_t back;
    ck_assert (kvp_register_decode (&back, buf.data, buf.size));
    ck_assert_uint_eq (back.version, 1);
    ck_assert_str_eq (back.id, "w1");
    ck_assert_str_eq (back.token, "tok-abc");
    ck_assert_uint_eq (back.nparts, 64);
    ck_assert_uint_eq (back.partition_count, 3);
    ck_assert_mem_eq (back.partitions, parts, sizeof parts);
    free (back.partitions);

    //  A fresh worker: no partitions, nparts 0; longest id and token
    memset (reg.id, 'i', KVP_WORKER_ID_MAX);
    reg.id [KVP_WORKER_ID_MAX] = 0;
    memset (reg.token, 't', KVP_TOKEN_MAX);
    reg.token [KVP_TOKEN_MAX] = 0;
    reg.nparts = 0;
    reg.partitions = NULL;
    reg.partition_count = 0;
    kvp_register_encode (&buf, &reg);
    ck_assert (kvp_register_decode (&back, buf.data, buf.size));
    ck_assert_str_eq (back.id, reg.id);
    ck_assert_str_eq (back.token, reg.token);
    ck_assert_uint_eq (back.partition_count, 0);
    ck_assert_str_eq (back.zone, "");
    free (back.partitions);
}
END_TEST

//  The optional zone: sent only when named, absent decodes as "", and a
//  bad one refuses the REGISTER.
START_TEST (test_register_zone)
{
    kvp_register_t reg = { .version = KVP_WIRE_VERSION, .id = "w1",
                           .token = "t", .nparts = 8, .zone = "rack 2" };
    kvp_register_encode (&buf, &reg);
    kvp_register_t back;
    ck_assert (kvp_register_decode (&back, buf.data, buf.size));
    ck_assert_str_eq (back.zone, "rack 2");
    ck_assert_str_eq (back.id, "w1");
    free (back.partitions);
    //  The longest zone
    memset (reg.zone, 'z', KVP_ZONE_MAX);
    reg.zone [KVP_ZONE_MAX] = 0;
    kvp_register_encode (&buf, &reg);
    ck_assert (kvp_register_decode (&back, buf.data, buf.size));
    ck_assert_str_eq (back.zone, reg.zone);
    free (back.partitions);
    //  No zone: the map has no such key (as an older worker sends it)
    reg.zone [0] = 0;
    kvp_register_encode (&buf, &reg);
    ck_assert_ptr_null (memmem (buf.data, buf.size, "zone", 4));
    memset (back.zone, 'x', sizeof back.zone);
    ck_assert (kvp_register_decode (&back, buf.data, buf.size));
    ck_assert_str_eq (back.zone, "");
    free (back.partitions);
    //  Bad zones: too long, not printable, not a str, given twice
    static const char *bad [] = {
        "z2345678901234567890123456789012345678901234567890123456789012345",
        "tab\there", "nl\n", "\xc3\xa9t\xc3\xa9", NULL
    };
    for (int i = 0; i < 6; i++) {
        msgpack_sbuffer_clear (&buf);
        msgpack_pack_map (&pk, i == 5? 7: 6);
        s_str ("version"); msgpack_pack_uint32 (&pk, 1);
        s_str ("id"); s_str ("w1");
        s_str ("token"); s_str ("t");
        s_str ("partitions"); msgpack_pack_array (&pk, 0);
        s_str ("nparts"); msgpack_pack_uint32 (&pk, 8);
        s_str ("zone");
        if (i < 4) s_str (bad [i]);
        else
        if (i == 4) msgpack_pack_uint32 (&pk, 7);
        else {
            s_str ("a");
            s_str ("zone"); s_str ("b");
        }
        ck_assert_msg (!kvp_register_decode (&back, buf.data, buf.size),
                       "accepted bad zone %d", i);
    }
    ck_assert (kvp_wire_zone_valid ("", 0));
    ck_assert (kvp_wire_zone_valid ("eu-west-1a", 10));
    ck_assert (!kvp_wire_zone_valid ("a\x7f", 2));
    ck_assert (!kvp_wire_zone_valid (NULL, 0));
}
END_TEST

/*  A REGISTER map with one field replaced: `bad` names the field and
    `how` picks the bad value. */
static void
s_register_with (const char *bad, int how)
{
    msgpack_sbuffer_clear (&buf);
    msgpack_pack_map (&pk, 5);
    s_str ("version");
    if (strcmp (bad, "version") == 0) s_str ("1");
    else msgpack_pack_uint32 (&pk, 1);
    s_str ("id");
    if (strcmp (bad, "id") == 0) {
        if (how == 0) s_str ("");
        if (how == 1) s_str ("i2345678901234567890123456789012345678901234567890123456789012345");
        if (how == 2) msgpack_pack_uint32 (&pk, 5);
        if (how == 3) { msgpack_pack_str (&pk, 3); msgpack_pack_str_body (&pk, "a\0b", 3); }
        if (how == 4) s_str ("\xff");
    }
    else s_str ("w1");
    s_str ("token");
    if (strcmp (bad, "token") == 0) msgpack_pack_bin (&pk, 0);
    else s_str ("t");
    s_str ("partitions");
    msgpack_pack_array (&pk, 2);
    msgpack_pack_uint32 (&pk, 1);
    if (strcmp (bad, "partitions") == 0) {
        if (how == 0) msgpack_pack_uint32 (&pk, 65536);
        if (how == 1) msgpack_pack_int32 (&pk, -1);
        if (how == 2) s_str ("2");
    }
    else msgpack_pack_uint32 (&pk, 2);
    s_str (strcmp (bad, "missing") == 0? "nparts_": "nparts");
    if (strcmp (bad, "nparts") == 0) msgpack_pack_uint32 (&pk, 65537);
    else msgpack_pack_uint32 (&pk, 64);
}

START_TEST (test_register_refuses)
{
    kvp_register_t back;
    s_register_with ("none", 0);
    ck_assert (kvp_register_decode (&back, buf.data, buf.size));
    free (back.partitions);
    static const struct { const char *field; int how; } bad [] = {
        { "version", 0 }, { "id", 0 }, { "id", 1 }, { "id", 2 }, { "id", 3 },
        { "id", 4 }, { "token", 0 }, { "partitions", 0 },
        { "partitions", 1 }, { "partitions", 2 }, { "nparts", 0 },
        { "missing", 0 },
    };
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad [0]); i++) {
        s_register_with (bad [i].field, bad [i].how);
        ck_assert_msg (!kvp_register_decode (&back, buf.data, buf.size),
                       "accepted bad %s (%d)", bad [i].field, bad [i].how);
    }
    //  Every cut of a good map, and garbage
    s_register_with ("none", 0);
    for (size_t len = 0; len < buf.size; len++)
        ck_assert (!kvp_register_decode (&back, buf.data, len));
    ck_assert (!kvp_register_decode (&back, "\xdd\xff\xff\xff\xff", 5));
    ck_assert (!kvp_register_decode (&back, "\x81\xa1x\x91\x91\x91\x01", 7));
    ck_assert (!kvp_register_decode (&back, NULL, 0));
}
END_TEST

START_TEST (test_assign)
{
    uint32_t parts [2] = { 5, 9 }, *back = NULL, nparts = 7, beat = 7;
    size_t count = 99;
    kvp_assign_encode (&buf, parts, 2, 64, 1000);
    ck_assert (kvp_assign_decode (buf.data, buf.size, &back, &count, &nparts,
                                  &beat));
    ck_assert_uint_eq (count, 2);
    ck_assert_mem_eq (back, parts, sizeof parts);
    ck_assert_uint_eq (nparts, 64);
    ck_assert_uint_eq (beat, 1000);
    free (back);

    //  ASSIGN: nparts and heartbeat omitted
    kvp_assign_encode (&buf, parts, 1, 0, 0);
    ck_assert (kvp_assign_decode (buf.data, buf.size, &back, &count, &nparts,
                                  &beat));
    ck_assert_uint_eq (count, 1);
    ck_assert_uint_eq (back [0], 5);
    ck_assert_uint_eq (nparts, 0);
    ck_assert_uint_eq (beat, 0);
    free (back);
    kvp_assign_encode (&buf, NULL, 0, 0, 0);
    ck_assert (kvp_assign_decode (buf.data, buf.size, &back, &count, &nparts,
                                  &beat));
    ck_assert_uint_eq (count, 0);
    free (back);

    //  Refused: partitions missing or out of range, bad heartbeat type
    msgpack_sbuffer_clear (&buf);
    msgpack_pack_map (&pk, 1);
    s_str ("nparts");
    msgpack_pack_uint32 (&pk, 4);
    ck_assert (!kvp_assign_decode (buf.data, buf.size, &back, &count, &nparts,
                                   &beat));
    msgpack_sbuffer_clear (&buf);
    msgpack_pack_map (&pk, 1);
    s_str ("partitions");
    msgpack_pack_array (&pk, 1);
    msgpack_pack_uint64 (&pk, 1ULL << 40);
    ck_assert (!kvp_assign_decode (buf.data, buf.size, &back, &count, &nparts,
                                   &beat));
    msgpack_sbuffer_clear (&buf);
    msgpack_pack_map (&pk, 2);
    s_str ("partitions");
    msgpack_pack_array (&pk, 0);
    s_str ("heartbeat_ms");
    msgpack_pack_double (&pk, 1.5);
    ck_assert (!kvp_assign_decode (buf.data, buf.size, &back, &count, &nparts,
                                   &beat));
}
END_TEST

START_TEST (test_refuse)
{
    char error [8];
    kvp_refuse_encode (&buf, "no");
    ck_assert (kvp_refuse_decode (buf.data, buf.size, error, sizeof error));
    ck_assert_str_eq (error, "no");
    kvp_refuse_encode (&buf, "partitions mismatch");
    ck_assert (kvp_refuse_decode (buf.data, buf.size, error, sizeof error));
    ck_assert_str_eq (error, "partiti");    //  cut to fit, terminated
    ck_assert (!kvp_refuse_decode ("\x80", 1, error, sizeof error));
    ck_assert (!kvp_refuse_decode ("\x81\xa5" "error\x05", 8, error,
                                   sizeof error));
}
END_TEST

START_TEST (test_big_endian)
{
    uint8_t eight [8], four [4];
    kvp_put_u64 (eight, 0x0102030405060708ULL);
    ck_assert_mem_eq (eight, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    ck_assert_uint_eq (kvp_get_u64 (eight), 0x0102030405060708ULL);
    kvp_put_u64 (eight, UINT64_MAX);
    ck_assert_uint_eq (kvp_get_u64 (eight), UINT64_MAX);
    kvp_put_u32 (four, 0xdeadbeef);
    ck_assert_mem_eq (four, "\xde\xad\xbe\xef", 4);
    ck_assert_uint_eq (kvp_get_u32 (four), 0xdeadbeef);
}
END_TEST

Suite *
s_suite (void)
{
    Suite *suite = suite_create ("wire");
    TCase *tc = tcase_create ("wire");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_add_test (tc, test_register_round_trip);
    tcase_add_test (tc, test_register_refuses);
    tcase_add_test (tc, test_register_zone);
    tcase_add_test (tc, test_assign);
    tcase_add_test (tc, test_refuse);
    tcase_add_test (tc, test_big_endian);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
