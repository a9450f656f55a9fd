/*  test_reply.c - reply, job and event encoding; reading a job back. */
#include <check.h>
#include "kvp_testkit.h"
#include <stdlib.h>
#include <string.h>
#include <msgpack.h>
#include "kvp_reply.h"
#include "kvp_rc.h"

#define GUID "0b5f4e3a-1c2d-4e5f-8a9b-0c1d2e3f4a5b"

static msgpack_sbuffer buf;
static msgpack_zone zone;
static msgpack_object root;

static void
s_setup (void)
{
    msgpack_sbuffer_init (&buf);
    ck_assert (msgpack_zone_init (&zone, 2048));
}

static void
s_teardown (void)
{
    msgpack_sbuffer_destroy (&buf);
    msgpack_zone_destroy (&zone);
}

/*  Unpack the buffer as exactly one map. */
static const msgpack_object_map *
s_unpack (void)
{
    size_t offset = 0;
    msgpack_zone_clear (&zone);
    ck_assert_int_eq (msgpack_unpack (buf.data, buf.size, &offset, &zone,
                                      &root), MSGPACK_UNPACK_SUCCESS);
    ck_assert_int_eq (root.type, MSGPACK_OBJECT_MAP);
    return &root.via.map;
}

static bool
s_key_is (const msgpack_object *key, const char *name)
{
    return key->type == MSGPACK_OBJECT_STR
        && key->via.str.size == strlen (name)
        && memcmp (key->via.str.ptr, name, key->via.str.size) == 0;
}

/*  Check the keys of a map, in order. */
static void
s_keys (const msgpack_object_map *map, const char **keys, size_t count)
{
    ck_assert_uint_eq (map->size, count);
    for (size_t i = 0; i < count; i++)
        ck_assert_msg (s_key_is (&map->ptr [i].key, keys [i]),
                       "key %zu is not %s", i, keys [i]);
}

static void
s_str_eq (const msgpack_object *value, const char *text)
{
    ck_assert_int_eq (value->type, MSGPACK_OBJECT_STR);
    ck_assert_uint_eq (value->via.str.size, strlen (text));
    ck_assert_int_eq (memcmp (value->via.str.ptr, text, strlen (text)), 0);
}

static void
s_uint_eq (const msgpack_object *value, uint64_t number)
{
    ck_assert_int_eq (value->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    ck_assert_uint_eq (value->via.u64, number);
}

START_TEST (test_status)
{
    //  Success: rc only, no error
    kvp_reply_status (&buf, NULL, KVP_RC_OK, "ignored");
    const msgpack_object_map *map = s_unpack ();
    s_keys (map, (const char *[]) { "rc" }, 1);
    s_uint_eq (&map->ptr [0].val, 0);

    //  A fault with a uint rid; the buffer is cleared first
    kvp_rid_t rid = { KVP_RID_UINT, 77, NULL, 0 };
    kvp_reply_status (&buf, &rid, KVP_RC_INVALID_PARAM, "target: bad");
    map = s_unpack ();
    s_keys (map, (const char *[]) { "rid", "rc", "error" }, 3);
    s_uint_eq (&map->ptr [0].val, 77);
    s_uint_eq (&map->ptr [1].val, 32773);
    s_str_eq (&map->ptr [2].val, "target: bad");

    //  A str rid, a NULL error sent as ""
    rid = (kvp_rid_t) { KVP_RID_STR, 0, "req-1xyz", 5 };
    kvp_reply_status (&buf, &rid, KVP_RC_NOT_SUPPORTED, NULL);
    map = s_unpack ();
    s_keys (map, (const char *[]) { "rid", "rc", "error" }, 3);
    s_str_eq (&map->ptr [0].val, "req-1");
    s_str_eq (&map->ptr [2].val, "");

    //  rc 4096 is not a fault: no error
    rid.type = KVP_RID_NONE;
    kvp_reply_status (&buf, &rid, KVP_RC_JOB_STARTED, "x");
    s_keys (s_unpack (), (const char *[]) { "rc" }, 1);
}
END_TEST

START_TEST (test_begin_extra)
{
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buf, msgpack_sbuffer_write);
    kvp_rid_t rid = { KVP_RID_UINT, 1, NULL, 0 };
    kvp_reply_begin (&pk, &rid, KVP_RC_OK, NULL, 2);
    kvp_pack_cstr (&pk, "id");
    kvp_pack_cstr (&pk, GUID);
    kvp_pack_cstr (&pk, "items");
    msgpack_pack_array (&pk, 2);
    kvp_item_t items [2] = {
        { 0, "ip", 2, "10.0.0.5", 8 },
        { 4, "empty", 5, NULL, 0 },
    };
    kvp_pack_item (&pk, &items [0]);
    kvp_pack_item (&pk, &items [1]);
    const msgpack_object_map *map = s_unpack ();
    s_keys (map, (const char *[]) { "rid", "rc", "id", "items" }, 4);
    s_str_eq (&map->ptr [2].val, GUID);
    const msgpack_object_array *array = &map->ptr [3].val.via.array;
    ck_assert_uint_eq (array->size, 2);
    const char *item_keys [] = { "Name", "Data", "Source" };
    s_keys (&array->ptr [0].via.map, item_keys, 3);
    s_str_eq (&array->ptr [0].via.map.ptr [0].val, "ip");
    s_str_eq (&array->ptr [0].via.map.ptr [1].val, "10.0.0.5");
    s_uint_eq (&array->ptr [0].via.map.ptr [2].val, 0);
    s_str_eq (&array->ptr [1].via.map.ptr [1].val, "");
    s_uint_eq (&array->ptr [1].via.map.ptr [2].val, 4);
}
END_TEST

static const char *s_job_keys [] = {
    "InstanceID", "JobType", "TargetSystem", "JobState", "ErrorCode",
    "ErrorDescription", "TimeSubmitted", "ElapsedTime"
};

static kvp_job_t
s_job (uint32_t state)
{
    kvp_job_t job = {
        .instance_id = "3.0000abcd.17",
        .job_type = KVP_OP_ADD_KVP_ITEMS,
        .target = GUID,
        .job_state = state,
        .error_code = state == KVP_JOB_COMPLETED? 0: KVP_RC_FAILED,
        .error_desc = state == KVP_JOB_COMPLETED? "": "exists: (0, \"ip\")xx",
        .error_desc_len = state == KVP_JOB_COMPLETED? 0: 17,
        .time_submitted = 1700000000123ULL,
        .elapsed_us = 4321
    };
    return job;
}

START_TEST (test_job_reply)
{
    kvp_job_t job = s_job (KVP_JOB_EXCEPTION);
    kvp_rid_t rid = { KVP_RID_STR, 0, "r", 1 };
    kvp_reply_job (&buf, &rid, &job);
    const msgpack_object_map *map = s_unpack ();
    s_keys (map, (const char *[]) { "rid", "rc", "job" }, 3);
    s_uint_eq (&map->ptr [1].val, 4096);
    const msgpack_object_map *jm = &map->ptr [2].val.via.map;
    s_keys (jm, s_job_keys, 8);
    s_str_eq (&jm->ptr [0].val, "3.0000abcd.17");
    s_str_eq (&jm->ptr [1].val, "AddKvpItems");
    s_str_eq (&jm->ptr [2].val, GUID);
    s_uint_eq (&jm->ptr [3].val, 10);
    s_uint_eq (&jm->ptr [4].val, 32768);
    s_str_eq (&jm->ptr [5].val, "exists: (0, \"ip\")");
    s_uint_eq (&jm->ptr [6].val, 1700000000123ULL);
    s_uint_eq (&jm->ptr [7].val, 4321);
}
END_TEST

START_TEST (test_event)
{
    kvp_item_t items [2] = {
        { 0, "ip", 2, "10.0.0.5", 8 },
        { 4, "secret", 6, "s", 1 },
    };
    kvp_job_t job = s_job (KVP_JOB_COMPLETED);
    kvp_event_encode (&buf, &job, 33, 9, items, 2);
    const msgpack_object_map *map = s_unpack ();
    const char *keys [] = {
        "InstanceID", "JobType", "TargetSystem", "JobState", "ErrorCode",
        "ErrorDescription", "TimeSubmitted", "ElapsedTime", "partition", "seq",
        "items"
    };
    s_keys (map, keys, 11);
    s_uint_eq (&map->ptr [8].val, 33);
    s_uint_eq (&map->ptr [9].val, 9);
    ck_assert_uint_eq (map->ptr [10].val.via.array.size, 2);
    s_str_eq (&map->ptr [10].val.via.array.ptr [1].via.map.ptr [0].val,
              "secret");

    //  Read back: every job field, strings copied and NUL-terminated
    msgpack_zone strings;
    ck_assert (msgpack_zone_init (&strings, 1024));
    kvp_job_t back;
    ck_assert (kvp_job_decode (&back, buf.data, buf.size, &strings));
    ck_assert_str_eq (back.instance_id, job.instance_id);
    ck_assert_int_eq (back.job_type, KVP_OP_ADD_KVP_ITEMS);
    ck_assert_str_eq (back.target, GUID);
    ck_assert_uint_eq (back.job_state, 7);
    ck_assert_uint_eq (back.error_code, 0);
    ck_assert_str_eq (back.error_desc, "");
    ck_assert_uint_eq (back.error_desc_len, 0);
    ck_assert_uint_eq (back.time_submitted, job.time_submitted);
    ck_assert_uint_eq (back.elapsed_us, job.elapsed_us);
    ck_assert (back.instance_id < buf.data
            || back.instance_id >= buf.data + buf.size);

    //  A failed job: no items, description kept
    job = s_job (KVP_JOB_EXCEPTION);
    job.job_type = KVP_OP_REMOVE_KVP_ITEMS;
    kvp_event_encode (&buf, &job, 0, 1, NULL, 0);
    s_keys (s_unpack (), keys, 10);
    ck_assert (kvp_job_decode (&back, buf.data, buf.size, &strings));
    ck_assert_int_eq (back.job_type, KVP_OP_REMOVE_KVP_ITEMS);
    ck_assert_uint_eq (back.job_state, 10);
    ck_assert_uint_eq (back.error_code, 32768);
    ck_assert_str_eq (back.error_desc, "exists: (0, \"ip\")");
    ck_assert_uint_eq (back.error_desc_len, 17);

    //  A job map (the GetJob reply form) reads back too
    msgpack_sbuffer_clear (&buf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buf, msgpack_sbuffer_write);
    kvp_pack_job (&pk, &job);
    ck_assert (kvp_job_decode (&back, buf.data, buf.size, &strings));
    msgpack_zone_destroy (&strings);
}
END_TEST

START_TEST (test_job_decode_refuses)
{
    msgpack_zone strings;
    ck_assert (msgpack_zone_init (&strings, 1024));
    kvp_job_t job = s_job (KVP_JOB_COMPLETED), back;
    kvp_event_encode (&buf, &job, 1, 2, NULL, 0);
    //  Every cut of a good event is refused
    for (size_t len = 0; len < buf.size; len++)
        ck_assert (!kvp_job_decode (&back, buf.data, len, &strings));
    //  Not a map, a reply, a wrong type, an unknown JobType
    ck_assert (!kvp_job_decode (&back, "\x91\x01", 2, &strings));
    kvp_reply_status (&buf, NULL, 0, NULL);
    ck_assert (!kvp_job_decode (&back, buf.data, buf.size, &strings));
    msgpack_sbuffer_clear (&buf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buf, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 8);
    for (int i = 0; i < 8; i++) {
        kvp_pack_cstr (&pk, s_job_keys [i]);
        if (i == 1)
            kvp_pack_cstr (&pk, "Teleport");
        else
        if (i < 3 || i == 5)
            kvp_pack_cstr (&pk, "x");
        else
            msgpack_pack_uint64 (&pk, 1);
    }
    ck_assert (!kvp_job_decode (&back, buf.data, buf.size, &strings));
    msgpack_sbuffer_clear (&buf);
    msgpack_pack_map (&pk, 8);
    for (int i = 0; i < 8; i++) {
        kvp_pack_cstr (&pk, s_job_keys [i]);
        kvp_pack_cstr (&pk, i == 1? "GetJob": "x");    //  JobState a str
    }
    ck_assert (!kvp_job_decode (&back, buf.data, buf.size, &strings));
    msgpack_zone_destroy (&strings);
}
END_TEST

START_TEST (test_topic)
{
    char topic [KVP_TOPIC_MAX + 1];
    ck_assert_uint_eq (kvp_event_topic (topic, GUID), 40);
    ck_assert_str_eq (topic, "job/" GUID);
    //  Never more than the GUID's length is copied
    ck_assert_uint_eq (kvp_event_topic (topic, GUID "overlong"), 40);
    ck_assert_str_eq (topic, "job/" GUID);
}
END_TEST

//  GetKvpItems: `items` from packed bytes; `more` only when paged; the size
//  function is exact for every kind of rid.
START_TEST (test_items_reply)
{
    msgpack_sbuffer items;
    msgpack_sbuffer_init (&items);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &items, msgpack_sbuffer_write);
    kvp_item_t a = { 0, "a", 1, "1", 1 }, b = { 4, "b", 1, "", 0 };
    kvp_pack_item (&pk, &a);
    kvp_pack_item (&pk, &b);
    kvp_rid_t rids [3] = { { KVP_RID_NONE, 0, NULL, 0 },
                           { KVP_RID_UINT, 1ULL << 40, NULL, 0 },
                           { KVP_RID_STR, 0, "r-123", 5 } };
    for (int r = 0; r < 3; r++) {
        bool more = r == 1;
        kvp_reply_items (&buf, &rids [r], &more, 2, items.data, items.size);
        ck_assert_uint_eq (buf.size, kvp_reply_items_size (&rids [r], true, 2,
                                                           items.size));
        const msgpack_object_map *map = s_unpack ();
        size_t base = r? 1: 0;
        ck_assert_uint_eq (map->size, base + 3);
        ck_assert (s_key_is (&map->ptr [base + 1].key, "more"));
        ck_assert_int_eq (map->ptr [base + 1].val.type, MSGPACK_OBJECT_BOOLEAN);
        ck_assert (map->ptr [base + 1].val.via.boolean == more);
        ck_assert (s_key_is (&map->ptr [base + 2].key, "items"));
        const msgpack_object *list = &map->ptr [base + 2].val;
        ck_assert_int_eq (list->type, MSGPACK_OBJECT_ARRAY);
        ck_assert_uint_eq (list->via.array.size, 2);
        s_str_eq (&list->via.array.ptr [1].via.map.ptr [0].val, "b");
        //  Not paged: no `more`
        kvp_reply_items (&buf, &rids [r], NULL, 2, items.data, items.size);
        ck_assert_uint_eq (buf.size, kvp_reply_items_size (&rids [r], false,
                                                           2, items.size));
        map = s_unpack ();
        ck_assert_uint_eq (map->size, base + 2);
        ck_assert (s_key_is (&map->ptr [base + 1].key, "items"));
    }
    //  No items at all
    bool more = false;
    kvp_reply_items (&buf, NULL, &more, 0, NULL, 0);
    const msgpack_object_map *map = s_unpack ();
    s_keys (map, (const char *[]) { "rc", "more", "items" }, 3);
    ck_assert_uint_eq (map->ptr [2].val.via.array.size, 0);
    msgpack_sbuffer_destroy (&items);
}
END_TEST

Suite *
s_suite (void)
{
    Suite *suite = suite_create ("reply");
    TCase *tc = tcase_create ("reply");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_add_test (tc, test_status);
    tcase_add_test (tc, test_begin_extra);
    tcase_add_test (tc, test_job_reply);
    tcase_add_test (tc, test_event);
    tcase_add_test (tc, test_job_decode_refuses);
    tcase_add_test (tc, test_topic);
    tcase_add_test (tc, test_items_reply);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
