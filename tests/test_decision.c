/*  test_decision.c - the decision records' codec (store/kvp_decision.h):
    every type both ways, the layout pinned, records that are not well
    formed refused on the way in, and bytes that are not exactly one
    record refused on the way out, whole.
*/
#include <check.h>
#include <string.h>
#include "kvp_decision.h"
#include "kvp_lmdb.h"
#include "kvp_store.h"
#include "kvp_testkit.h"
#include "kvp_walseg.h"

//  One record of each type
static size_t
s_samples (kvp_decision_t *out)
{
    static char long_token [KVP_DECISION_TOKEN_MAX + 1];
    memset (long_token, 't', KVP_DECISION_TOKEN_MAX);
    kvp_decision_t samples [] = {
        { .type = KVP_DECISION_CREATE, .nparts = 65536, .replicas = 3,
          .min_insync = 2 },
        { .type = KVP_DECISION_WORKER, .worker = "w1", .token = "abc" },
        { .type = KVP_DECISION_WORKER, .worker = "w2", .token = long_token },
        { .type = KVP_DECISION_WORKER, .worker = "w3", .token = "" },
        { .type = KVP_DECISION_ASSIGN, .part = 65535, .worker = "w1" },
        { .type = KVP_DECISION_PLACE, .part = 9, .count = 3,
          .workers = { "a", "b", "c" } },
        { .type = KVP_DECISION_LEADER, .part = 1, .epoch = UINT64_MAX,
          .worker = "b" },
        { .type = KVP_DECISION_SHRINK, .part = 2, .epoch = 7,
          .worker = "c" },
        { .type = KVP_DECISION_EXPAND, .part = 3, .epoch = 1,
          .worker = "c" },
        { .type = KVP_DECISION_MOVE, .part = 4, .epoch = 2, .worker = "c",
          .to = "d" },
        { .type = KVP_DECISION_MOVE, .part = 4, .epoch = 2, .worker = "",
          .to = "d" },
        { .type = KVP_DECISION_MOVE, .part = 4, .epoch = 2, .worker = "c",
          .to = "" },
        { .type = KVP_DECISION_RETIRE, .worker = "w9" },
    };
    memcpy (out, samples, sizeof samples);
    return sizeof samples / sizeof samples [0];
}

static bool
s_same_str (const char *a, const char *b)
{
    return a == b || (a && b && strcmp (a, b) == 0);
}

//  Every field the type has is the same
static void
s_assert_same (const kvp_decision_t *a, const kvp_decision_t *b)
{
    ck_assert_int_eq (a->type, b->type);
    ck_assert_uint_eq (a->nparts, b->nparts);
    ck_assert_uint_eq (a->replicas, b->replicas);
    ck_assert_uint_eq (a->min_insync, b->min_insync);
    ck_assert_uint_eq (a->part, b->part);
    ck_assert (a->epoch == b->epoch);
    ck_assert_uint_eq (a->count, b->count);
    for (size_t i = 0; i < a->count; i++)
        ck_assert_str_eq (a->workers [i], b->workers [i]);
    ck_assert (s_same_str (a->worker, b->worker));
    ck_assert (s_same_str (a->token, b->token));
    ck_assert (s_same_str (a->to, b->to));
}

//  Encode into a fresh buffer; the caller frees it
static uint8_t *
s_encode (const kvp_decision_t *record, size_t *size)
{
    *size = kvp_decision_encode (record, NULL, 0);
    ck_assert_uint_gt (*size, 0);
    ck_assert_uint_le (*size, KVP_DECISION_SIZE_MAX);
    uint8_t *buf = malloc (*size);
    ck_assert_uint_eq (kvp_decision_encode (record, buf, *size), *size);
    return buf;
}

//  Recompute the CRC of a tampered record, so the decoder looks further
static void
s_recrc (uint8_t *buf, size_t size)
{
    kvp_lmdb_put_u32 (buf + size - 4, kvp_walseg_crc32c_soft (0, buf,
                                                              size - 4));
}

static void
s_assert_refused (const uint8_t *buf, size_t size)
{
    kvp_decision_t record;
    memset (&record, 0x5a, sizeof record);
    ck_assert_int_eq (kvp_decision_decode (buf, size, &record),
                      KVP_STORE_CORRUPT);
    ck_assert_int_eq (record.type, 0);      //  nothing handed out
    ck_assert_ptr_null (record.worker);
}

START_TEST (test_roundtrip)
{
    kvp_decision_t samples [16];
    size_t count = s_samples (samples);
    for (size_t i = 0; i < count; i++) {
        size_t size;
        uint8_t *buf = s_encode (&samples [i], &size);
        kvp_decision_t back;
        ck_assert_int_eq (kvp_decision_decode (buf, size, &back), 0);
        s_assert_same (&samples [i], &back);
        //  Strings point into the bytes: no copy, and the same bytes again
        if (back.worker)
            ck_assert (back.worker >= (const char *) buf
                    && back.worker < (const char *) buf + size);
        uint8_t *again = s_encode (&back, &size);
        ck_assert_mem_eq (again, buf, size);
        free (again);
        free (buf);
    }
    //  The longest record is the bound
    size_t size;
    kvp_decision_t worst = samples [2];
    char name [KVP_DECISION_NAME_MAX + 1];
    memset (name, 'n', KVP_DECISION_NAME_MAX);
    name [KVP_DECISION_NAME_MAX] = 0;
    worst.worker = name;
    free (s_encode (&worst, &size));
    ck_assert_uint_eq (size, KVP_DECISION_SIZE_MAX);
}
END_TEST

//  The bytes of one record, as the format says
START_TEST (test_layout)
{
    kvp_decision_t assign = { .type = KVP_DECISION_ASSIGN, .part = 7,
                              .worker = "w1" };
    size_t size;
    uint8_t *buf = s_encode (&assign, &size);
    const uint8_t want [] = { 1, 3, 0, 0, 0, 7, 0, 7, 0, 2, 'w', '1', 0 };
    ck_assert_uint_eq (size, sizeof want + 4);
    ck_assert_mem_eq (buf, want, sizeof want);
    ck_assert_uint_eq (kvp_lmdb_get_u32 (buf + sizeof want),
                       kvp_walseg_crc32c_soft (0, want, sizeof want));
    free (buf);
    kvp_decision_t leader = { .type = KVP_DECISION_LEADER, .part = 258,
                              .epoch = 0x0102030405060708ull,
                              .worker = "x" };
    buf = s_encode (&leader, &size);
    const uint8_t head [] = { 1, 5, 0, 0, 0, 14, 1, 2,
                              1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 'x', 0 };
    ck_assert_uint_eq (size, sizeof head + 4);
    ck_assert_mem_eq (buf, head, sizeof head);
    free (buf);
}
END_TEST

//  A buffer too small gets nothing written and the size it needs
START_TEST (test_short_buffer)
{
    kvp_decision_t record = { .type = KVP_DECISION_RETIRE, .worker = "w" };
    uint8_t buf [64];
    memset (buf, 0xee, sizeof buf);
    size_t need = kvp_decision_encode (&record, buf, 5);
    ck_assert_uint_eq (need, 6 + 4 + 4);
    for (size_t i = 0; i < sizeof buf; i++)
        ck_assert_uint_eq (buf [i], 0xee);
    ck_assert_uint_eq (kvp_decision_encode (&record, buf, need), need);
}
END_TEST

//  Records that are not well formed: not encoded, with a reason
START_TEST (test_malformed)
{
    char name [KVP_DECISION_NAME_MAX + 2];
    memset (name, 'n', sizeof name - 1);
    name [sizeof name - 1] = 0;
    kvp_decision_t bad [] = {
        { .type = 0 },
        { .type = KVP_DECISION_TYPES },
        { .type = KVP_DECISION_CREATE, .nparts = 0, .replicas = 1,
          .min_insync = 1 },
        { .type = KVP_DECISION_CREATE, .nparts = 65537, .replicas = 1,
          .min_insync = 1 },
        { .type = KVP_DECISION_CREATE, .nparts = 8, .replicas = 6,
          .min_insync = 1 },
        { .type = KVP_DECISION_CREATE, .nparts = 8, .replicas = 2,
          .min_insync = 3 },
        { .type = KVP_DECISION_CREATE, .nparts = 8, .replicas = 2,
          .min_insync = 0 },
        { .type = KVP_DECISION_WORKER, .worker = "w", .token = NULL },
        { .type = KVP_DECISION_WORKER, .worker = "", .token = "t" },
        { .type = KVP_DECISION_WORKER, .worker = name, .token = "t" },
        { .type = KVP_DECISION_ASSIGN, .part = 65536, .worker = "w" },
        { .type = KVP_DECISION_ASSIGN, .part = 1, .worker = NULL },
        { .type = KVP_DECISION_PLACE, .part = 1, .count = 0 },
        { .type = KVP_DECISION_PLACE, .part = 1, .count = 6 },
        { .type = KVP_DECISION_PLACE, .part = 1, .count = 2,
          .workers = { "a", "a" } },
        { .type = KVP_DECISION_PLACE, .part = 1, .count = 2,
          .workers = { "a", "" } },
        { .type = KVP_DECISION_LEADER, .part = 1, .epoch = 0,
          .worker = "a" },
        { .type = KVP_DECISION_MOVE, .part = 1, .epoch = 1, .worker = "",
          .to = "" },
        { .type = KVP_DECISION_MOVE, .part = 1, .epoch = 1, .worker = "a",
          .to = NULL },
        { .type = KVP_DECISION_RETIRE, .worker = "" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        char why [128] = "";
        ck_assert_msg (!kvp_decision_valid (&bad [i], why, sizeof why),
                       "record %zu is taken", i);
        ck_assert_uint_gt (strlen (why), 0);
        ck_assert_uint_eq (kvp_decision_encode (&bad [i], NULL, 0), 0);
    }
    ck_assert (!kvp_decision_valid (NULL, NULL, 0));
    char why [128];
    ck_assert (!kvp_decision_valid (&bad [14], why, sizeof why));
    ck_assert_str_eq (why, "a worker is twice in the list");
}
END_TEST

//  Every cut, every extra byte and every bit flipped is refused
START_TEST (test_damage)
{
    kvp_decision_t samples [16];
    size_t count = s_samples (samples);
    for (size_t i = 0; i < count; i++) {
        if (samples [i].token && strlen (samples [i].token) > 100)
            continue;                   //  the long token: cuts are many
        size_t size;
        uint8_t *buf = s_encode (&samples [i], &size);
        for (size_t cut = 0; cut < size; cut++)
            s_assert_refused (buf, cut);
        uint8_t *longer = calloc (1, size + 1);
        memcpy (longer, buf, size);
        s_assert_refused (longer, size + 1);
        free (longer);
        for (size_t bit = 0; bit < size * 8; bit++) {
            buf [bit / 8] ^= (uint8_t) (1u << (bit % 8));
            s_assert_refused (buf, size);
            buf [bit / 8] ^= (uint8_t) (1u << (bit % 8));
        }
        free (buf);
    }
    s_assert_refused (NULL, 0);
    kvp_decision_t record;
    ck_assert_int_eq (kvp_decision_decode (NULL, 10, &record),
                      KVP_STORE_CORRUPT);
}
END_TEST

//  Bytes with a good CRC that still are not a record
START_TEST (test_strict)
{
    kvp_decision_t place = { .type = KVP_DECISION_PLACE, .part = 1,
                             .count = 2, .workers = { "ab", "cd" } };
    size_t size;
    uint8_t *good = s_encode (&place, &size);
    uint8_t *buf = malloc (size + 8);
    //  Body from offset 6: part(2) count(1) "ab"(2+2+1) "cd"(2+2+1)
    struct { size_t at; uint8_t value; size_t at2; uint8_t value2; }
    edits [] = {
        { 0, 2, 0, 2 },                 //  another version
        { 1, 0, 1, 0 },                 //  type 0
        { 1, KVP_DECISION_TYPES, 1, KVP_DECISION_TYPES },   //  unknown
        { 5, 14, 5, 14 },               //  a length that is not the body's
        { 8, 6, 8, 6 },                 //  six workers
        { 8, 3, 8, 3 },                 //  three announced, two there
        { 8, 1, 8, 1 },                 //  one announced, two there
        { 13, 'x', 13, 'x' },           //  "ab" without its NUL
        { 12, 0, 12, 0 },               //  a NUL inside "ab"
        { 16, 'a', 17, 'b' },           //  "ab" twice
        { 10, 0, 10, 0 },               //  a length short of the NUL
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits [0]; i++) {
        memcpy (buf, good, size);
        buf [edits [i].at] = edits [i].value;
        buf [edits [i].at2] = edits [i].value2;
        s_recrc (buf, size);
        s_assert_refused (buf, size);
    }
    //  A string's length running past the body
    memcpy (buf, good, size);
    buf [14] = 0x7f;
    s_recrc (buf, size);
    s_assert_refused (buf, size);
    //  CREATE with M above R, N of 0
    kvp_decision_t create = { .type = KVP_DECISION_CREATE, .nparts = 4,
                              .replicas = 2, .min_insync = 2 };
    free (good);
    good = s_encode (&create, &size);
    memcpy (buf, good, size);
    buf [11] = 3;
    s_recrc (buf, size);
    s_assert_refused (buf, size);
    memcpy (buf, good, size);
    buf [9] = 0;
    s_recrc (buf, size);
    s_assert_refused (buf, size);
    //  The untouched one decodes
    kvp_decision_t back;
    ck_assert_int_eq (kvp_decision_decode (good, size, &back), 0);
    free (good);
    free (buf);
}
END_TEST

START_TEST (test_names)
{
    ck_assert_str_eq (kvp_decision_type_name (KVP_DECISION_CREATE), "create");
    ck_assert_str_eq (kvp_decision_type_name (KVP_DECISION_RETIRE), "retire");
    ck_assert_str_eq (kvp_decision_type_name (0), "?");
    ck_assert_str_eq (kvp_decision_type_name (KVP_DECISION_TYPES), "?");
    char line [128];
    kvp_decision_t samples [16];
    s_samples (samples);
    ck_assert_str_eq (kvp_decision_describe (&samples [0], line, sizeof line),
                      "create nparts 65536 replicas 3 min_insync 2");
    ck_assert_str_eq (kvp_decision_describe (&samples [5], line, sizeof line),
                      "place part 9 workers a,b,c");
    ck_assert_str_eq (kvp_decision_describe (&samples [9], line, sizeof line),
                      "move part 4 epoch 2 worker c to d");
    //  Cut to the buffer, still terminated
    kvp_decision_describe (&samples [9], line, 10);
    ck_assert_str_eq (line, "move part");
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("decision");
    TCase *tc = tcase_create ("decision");
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc, test_roundtrip);
    tcase_add_test (tc, test_layout);
    tcase_add_test (tc, test_short_buffer);
    tcase_add_test (tc, test_malformed);
    tcase_add_test (tc, test_damage);
    tcase_add_test (tc, test_strict);
    tcase_add_test (tc, test_names);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
