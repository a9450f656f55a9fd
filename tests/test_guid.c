/*  test_guid.c - GUIDs, WMI object path targets, the partition function
    and job ids. */
#include <check.h>
#include "kvp_testkit.h"
#include <stdlib.h>
#include <string.h>
#include "kvp_guid.h"

#define GUID    "0b5f4e3a-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
#define GUID_UC "0B5F4E3A-1C2D-4E5F-8A9B-0C1D2E3F4A5B"

static bool
s_parse (const char *text, kvp_guid_t *guid)
{
    return kvp_guid_parse (guid, text, strlen (text));
}

static bool
s_target (const char *text, kvp_guid_t *guid)
{
    return kvp_guid_parse_target (guid, text, strlen (text));
}

START_TEST (test_parse)
{
    kvp_guid_t guid;
    ck_assert (s_parse (GUID, &guid));
    ck_assert_str_eq (guid.text, GUID);
    ck_assert (s_parse (GUID_UC, &guid));
    ck_assert_str_eq (guid.text, GUID);
    ck_assert (s_parse ("0B5f4E3a-1c2D-4e5f-8A9b-0c1d2e3f4a5B", &guid));
    ck_assert_str_eq (guid.text, GUID);

    static const char *bad [] = {
        "",
        "0b5f4e3a-1c2d-4e5f-8a9b-0c1d2e3f4a5",         //  35
        "0b5f4e3a-1c2d-4e5f-8a9b-0c1d2e3f4a5b0",       //  37
        "{0b5f4e3a-1c2d-4e5f-8a9b-0c1d2e3f4a5b}",
        "0b5f4e3a1c2d-4e5f-8a9b-0c1d2e3f4a5b-",
        "0b5f4e3a-1c2d-4e5f-8a9b-0c1d2e3f4a5g",
        "0b5f4e3a_1c2d-4e5f-8a9b-0c1d2e3f4a5b",
        " b5f4e3a-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
        "0b5f4e3a-1c2d-4e5f-8a9b-0c1d2e3f4a-b",
    };
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad [0]); i++) {
        memset (&guid, 'z', sizeof guid);
        ck_assert_msg (!s_parse (bad [i], &guid), "accepted %s", bad [i]);
        ck_assert_msg (guid.text [0] == 'z', "changed on failure");
    }
    //  A NUL inside is not a digit; length is what counts, not the NUL
    ck_assert (!kvp_guid_parse (&guid, GUID "\0", 37));
    ck_assert (!kvp_guid_parse (&guid, "0b5f4e3a-1c2d-4e5f-8a9b\0000c1d2e3f4a5b",
                                36));
    ck_assert (kvp_guid_parse (&guid, GUID "trailing", 36));
}
END_TEST

START_TEST (test_target)
{
    kvp_guid_t guid;
    static const char *good [] = {
        GUID,
        "\\\\HOST\\root\\virtualization\\v2:Msvm_ComputerSystem."
        "CreationClassName=\"Msvm_ComputerSystem\",Name=\"" GUID_UC "\"",
        "\\\\.\\root\\virtualization\\v2:Msvm_ComputerSystem.Name=\""
        GUID "\",CreationClassName=\"Msvm_ComputerSystem\"",
        "root\\virtualization\\v2:Msvm_ComputerSystem.Name=\"" GUID "\"",
        "Msvm_ComputerSystem.CreationClassName=\"Msvm_ComputerSystem\","
        "Name=\"" GUID "\"",
        "Msvm_ComputerSystem.Name='" GUID "'",
        "Msvm_ComputerSystem.name=\"" GUID "\"",
        "\\\\host.example.com\\root\\v2:Msvm_ComputerSystem.Note=\"a:b,c\\\"d\","
        "Name=\"" GUID "\"",
        "Msvm_ComputerSystem.Id=42,Name=\"" GUID "\"",
    };
    for (size_t i = 0; i < sizeof (good) / sizeof (good [0]); i++) {
        memset (&guid, 0, sizeof guid);
        ck_assert_msg (s_target (good [i], &guid), "refused %s", good [i]);
        ck_assert_str_eq (guid.text, GUID);
    }
    static const char *bad [] = {
        "",
        "vm1",
        "Msvm_ComputerSystem",
        "Msvm_ComputerSystem.",
        "Msvm_ComputerSystem.Name",
        "Msvm_ComputerSystem.Name=",
        "Msvm_ComputerSystem.Name=\"" GUID,
        "Msvm_ComputerSystem.Name=\"" GUID "\",",
        "Msvm_ComputerSystem.Name=\"" GUID "\"x",
        "Msvm_ComputerSystem.Name=\"" GUID "\",Name=\"" GUID "\"",
        "Msvm_ComputerSystem.CreationClassName=\"Msvm_ComputerSystem\"",
        "Msvm_ComputerSystem.Name=\"not-a-guid\"",
        "Msvm_ComputerSystem.Name=" GUID,
        "Msvm_ComputerSystem.Name=\"" GUID "\\\"\"",
        "Msvm_ComputerSystem.Name=\"{" GUID "}\"",
        "Msvm_ComputerSystem.Name = \"" GUID "\"",
        ".Name=\"" GUID "\"",
        "\\\\HOST\\root:.Name=\"" GUID "\"",
        "Msvm_ComputerSystem.Name=\"" GUID "\",X=\"unterminated",
        "Msvm_ComputerSystem.X=\"\\",
        "0b5f4e3a-1c2d-4e5f-8a9b-0c1d2e3f4a5g",
    };
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad [0]); i++)
        ck_assert_msg (!s_target (bad [i], &guid), "accepted %s", bad [i]);
    //  Bounds: a path cut short inside its buffer is refused
    const char *path = "Msvm_ComputerSystem.Name=\"" GUID "\"";
    for (size_t len = 0; len < strlen (path); len++)
        ck_assert (!kvp_guid_parse_target (&guid, path, len));
}
END_TEST

START_TEST (test_random)
{
    kvp_guid_t a, b, parsed;
    kvp_guid_random (&a);
    kvp_guid_random (&b);
    ck_assert_str_ne (a.text, b.text);
    ck_assert_uint_eq (strlen (a.text), 36);
    ck_assert (kvp_guid_parse (&parsed, a.text, 36));
    ck_assert_str_eq (parsed.text, a.text);     //  already lower case
    ck_assert_int_eq (a.text [14], '4');        //  version 4
    ck_assert_ptr_nonnull (strchr ("89ab", a.text [19]));   //  variant
}
END_TEST

START_TEST (test_bytes)
{
    kvp_guid_t guid, back;
    ck_assert (kvp_guid_parse (&guid, GUID, 36));
    uint8_t bytes [16];
    kvp_guid_to_bytes (&guid, bytes);
    static const uint8_t expect [16] = {
        0x0b, 0x5f, 0x4e, 0x3a, 0x1c, 0x2d, 0x4e, 0x5f,
        0x8a, 0x9b, 0x0c, 0x1d, 0x2e, 0x3f, 0x4a, 0x5b
    };
    ck_assert_mem_eq (bytes, expect, 16);
    kvp_guid_from_bytes (&back, bytes);
    ck_assert_str_eq (back.text, GUID);
    for (int round = 0; round < 100; round++) {
        kvp_guid_random (&guid);
        kvp_guid_to_bytes (&guid, bytes);
        kvp_guid_from_bytes (&back, bytes);
        ck_assert_str_eq (back.text, guid.text);
    }
}
END_TEST

START_TEST (test_partition)
{
    //  Published FNV-1a test vectors
    ck_assert_uint_eq (kvp_fnv1a32 ("", 0), 0x811c9dc5u);
    ck_assert_uint_eq (kvp_fnv1a32 ("a", 1), 0xe40c292cu);
    ck_assert_uint_eq (kvp_fnv1a32 ("foobar", 6), 0xbf9cf968u);
    //  Pinned: these must never change for a running cluster
    kvp_guid_t guid;
    ck_assert (kvp_guid_parse (&guid, GUID_UC, 36));
    ck_assert_uint_eq (kvp_fnv1a32 (guid.text, 36), 0x4beec721u);
    ck_assert_uint_eq (kvp_guid_partition (&guid, 64), 33);
    ck_assert_uint_eq (kvp_guid_partition (&guid, 7), 1);
    ck_assert_uint_eq (kvp_guid_partition (&guid, 65536), 50977);
    ck_assert_uint_eq (kvp_guid_partition (&guid, 1), 0);
    ck_assert (kvp_guid_parse (&guid, "00000000-0000-0000-0000-000000000000",
                               36));
    ck_assert_uint_eq (kvp_guid_partition (&guid, 64), 17);
    ck_assert (kvp_guid_parse (&guid, "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
                               36));
    ck_assert_uint_eq (kvp_guid_partition (&guid, 64), 17);
    ck_assert_uint_eq (kvp_guid_partition (&guid, 65536), 43921);
}
END_TEST

START_TEST (test_jobid)
{
    char buf [KVP_JOBID_MAX + 1];
    size_t len = kvp_jobid_format (buf, 3, 0xabcd, 17);
    ck_assert_str_eq (buf, "3.0000abcd.17");
    ck_assert_uint_eq (len, 13);
    len = kvp_jobid_format (buf, UINT32_MAX, UINT32_MAX, UINT64_MAX);
    ck_assert_str_eq (buf, "4294967295.ffffffff.18446744073709551615");
    ck_assert_uint_eq (len, strlen (buf));

    uint32_t partition, epoch;
    uint64_t seq;
    ck_assert (kvp_jobid_parse (buf, len, &partition, &epoch, &seq));
    ck_assert_uint_eq (partition, UINT32_MAX);
    ck_assert_uint_eq (epoch, UINT32_MAX);
    ck_assert_uint_eq (seq, UINT64_MAX);
    ck_assert (kvp_jobid_parse ("0.00000000.0", 12, &partition, &epoch, &seq));
    ck_assert_uint_eq (partition + epoch + seq, 0);
    ck_assert (kvp_jobid_parse ("63.0a0b0c0d.1", 13, NULL, NULL, NULL));

    static const char *bad [] = {
        "", "3", "3.0000abcd", "3.0000abcd.", ".0000abcd.1", "3..1",
        "03.0000abcd.1", "3.0000abcd.01", "3.0000ABCD.1", "3.000abcd.1",
        "3.00000abcd.1", "3.0000abcd.1.", "3.0000abcd.1x", "-3.0000abcd.1",
        "+3.0000abcd.1", "3.0000abcg.1", " 3.0000abcd.1",
        "4294967296.00000000.1", "1.00000000.18446744073709551616",
        "1.00000000.99999999999999999999",
    };
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad [0]); i++)
        ck_assert_msg (!kvp_jobid_parse (bad [i], strlen (bad [i]), &partition,
                                         &epoch, &seq), "accepted %s", bad [i]);
    //  Length bounds the parse, not a NUL
    ck_assert (kvp_jobid_parse ("3.0000abcd.17", 12, NULL, NULL, NULL));
    ck_assert (!kvp_jobid_parse ("3.0000abcd.17", 10, NULL, NULL, NULL));
    char longer [80];
    memset (longer, '1', sizeof longer);
    ck_assert (!kvp_jobid_parse (longer, sizeof longer, NULL, NULL, NULL));
}
END_TEST

Suite *
s_suite (void)
{
    Suite *suite = suite_create ("guid");
    TCase *tc = tcase_create ("guid");
    tcase_add_test (tc, test_parse);
    tcase_add_test (tc, test_target);
    tcase_add_test (tc, test_random);
    tcase_add_test (tc, test_bytes);
    tcase_add_test (tc, test_partition);
    tcase_add_test (tc, test_jobid);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
