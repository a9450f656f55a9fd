/*  test_replay.c - GetEvents in the worker's executor (kvp_exec) against a
    real store in a temporary folder: every rule of spec section 10 as a
    table row, the kept range after retention, the 4 MiB page bound, and
    that returned events are byte for byte the published ones. No sockets:
    bodies are decoded with kvp_request_decode, as the worker does.
*/
#include <check.h>
#include "kvp_testkit.h"
#include "kvp_batch.h"
#include "kvp_rc.h"
#include "kvp_reply.h"
#include "kvp_route.h"

#define S_NPARTS    16
#define S_SLOTS     16
#define S_SYS       "6f1c3b7e-2a4d-4c1e-9b7a-0d5e8f2a1c34"
#define S_JOBS      12          /* events of the system's partition */

static kvp_store_t *s_store;
static kvp_batch_t *s_batch;
static uint32_t s_part;                 /* the system's partition */
static msgpack_sbuffer s_published [S_JOBS + 4];    /* event bodies */
static msgpack_sbuffer s_reply;         /* the last reply body */
static msgpack_unpacked s_unpacked;     /* ... decoded */

//  Queue a decoded request as the worker does (partition from its route).
static kvp_slot_t *
s_queue (tk_body_t *body)
{
    kvp_slot_t *slot = kvp_batch_claim (s_batch);
    ck_assert_ptr_nonnull (slot);
    slot->msg = zmsg_new ();
    zmsg_addmem (slot->msg, body->sbuf.data, body->sbuf.size);
    tk_body_end (body);
    zframe_t *frame = zmsg_first (slot->msg);
    int rc = kvp_request_decode (slot->request, zframe_data (frame),
                                 zframe_size (frame));
    ck_assert_msg (rc == 0, "%s", kvp_request_error (slot->request));
    kvp_route_t route;
    kvp_route_from_request (&route, slot->request);
    memset (&slot->target, 0, sizeof slot->target);
    if (route.has_guid)
        slot->target = route.guid;
    slot->part = kvp_route_partition (&route, S_NPARTS);
    ck_assert_uint_ne (slot->part, KVP_ROUTE_NONE);
    slot->received_ms = (uint64_t) zclock_time ();
    slot->received_us = zclock_usecs ();
    slot->state = KVP_SLOT_READY;
    return slot;
}

//  Run one request alone; keep its reply (and its event as published
//  into `event` when it made one). Returns the reply map.
static const msgpack_object *
s_call (tk_body_t *body, uint64_t received_ms, msgpack_sbuffer *event)
{
    kvp_slot_t *slot = s_queue (body);
    if (received_ms)
        slot->received_ms = received_ms;
    kvp_batch_run (s_batch);
    msgpack_sbuffer_clear (&s_reply);
    msgpack_sbuffer_write (&s_reply, slot->reply.data, slot->reply.size);
    if (event && slot->event.size)
        msgpack_sbuffer_write (event, slot->event.data, slot->event.size);
    kvp_batch_clear (s_batch);
    msgpack_unpacked_destroy (&s_unpacked);
    msgpack_unpacked_init (&s_unpacked);
    ck_assert_int_eq (msgpack_unpack_next (&s_unpacked, s_reply.data,
                                           s_reply.size, NULL),
                      MSGPACK_UNPACK_SUCCESS);
    return &s_unpacked.data;
}

//  One AddKvpItems of `count` items with `len` bytes of Data (Source 4).
static void
s_add (int job, int count, size_t len, uint64_t received_ms)
{
    char *data = malloc (len + 1);
    memset (data, 'd', len);
    data [len] = 0;
    tk_body_t body;
    tk_body_begin (&body, "AddKvpItems", 2);
    tk_pack_kv_str (&body.pk, "target", S_SYS);
    tk_pack_str (&body.pk, "items");
    msgpack_pack_array (&body.pk, (size_t) count);
    for (int i = 0; i < count; i++) {
        char name [32];
        snprintf (name, sizeof name, "j%d-i%d", job, i);
        tk_pack_item (&body.pk, 4, name, data);
    }
    free (data);
    const msgpack_object *reply = s_call (&body, received_ms,
                                          &s_published [job]);
    ck_assert_int_eq (tk_get_uint (reply, "rc"), KVP_RC_JOB_STARTED);
}

//  GetEvents of `part` from `from` (limit 0: none given).
static const msgpack_object *
s_get_events (uint32_t part, uint64_t from, uint64_t limit)
{
    tk_body_t body;
    tk_body_begin (&body, "GetEvents", limit? 3: 2);
    tk_pack_kv_uint (&body.pk, "partition", part);
    tk_pack_kv_uint (&body.pk, "from", from);
    if (limit)
        tk_pack_kv_uint (&body.pk, "limit", limit);
    return s_call (&body, 0, NULL);
}

static void
s_setup (void)
{
    tk_root_setup ();
    kvp_store_config_t config = { .nosync = true };
    int rc = 0;
    s_store = kvp_store_new (tk_root (), &config, &rc);
    ck_assert_msg (s_store, "store: %s", kvp_store_strerror (rc));
    s_batch = kvp_batch_new (s_store, S_SLOTS);
    ck_assert_ptr_nonnull (s_batch);
    msgpack_sbuffer_init (&s_reply);
    msgpack_unpacked_init (&s_unpacked);
    for (size_t i = 0; i < sizeof s_published / sizeof s_published [0]; i++)
        msgpack_sbuffer_init (&s_published [i]);
    kvp_guid_t guid;
    kvp_guid_parse (&guid, S_SYS, strlen (S_SYS));
    s_part = kvp_guid_partition (&guid, S_NPARTS);
    tk_body_t body;
    tk_body_begin (&body, "DefineSystem", 2);
    tk_pack_kv_str (&body.pk, "name", "replay");
    tk_pack_kv_str (&body.pk, "id", S_SYS);
    ck_assert_int_eq (tk_get_uint (s_call (&body, 0, NULL), "rc"), 0);
}

static void
s_teardown (void)
{
    kvp_batch_destroy (&s_batch);
    kvp_store_destroy (&s_store);
    msgpack_unpacked_destroy (&s_unpacked);
    msgpack_sbuffer_destroy (&s_reply);
    for (size_t i = 0; i < sizeof s_published / sizeof s_published [0]; i++)
        msgpack_sbuffer_destroy (&s_published [i]);
    tk_root_teardown ();
}

//  The reply is rc 0 with first, last, next and events seq from..from +
//  count - 1, each byte for byte as published, concatenated at the end.
static void
s_check_page (const msgpack_object *reply, uint64_t first, uint64_t last,
              uint64_t next, uint64_t from, uint64_t count)
{
    ck_assert_int_eq (tk_get_uint (reply, "rc"), 0);
    ck_assert_int_eq (tk_get_uint (reply, "partition"), s_part);
    ck_assert_int_eq (tk_get_uint (reply, "first"), first);
    ck_assert_int_eq (tk_get_uint (reply, "last"), last);
    ck_assert_uint_eq ((uint64_t) tk_get_uint (reply, "next"), next);
    const msgpack_object *events = tk_get (reply, "events");
    ck_assert (events && events->type == MSGPACK_OBJECT_ARRAY);
    ck_assert_uint_eq (events->via.array.size, count);
    size_t tail = 0;
    for (uint64_t i = 0; i < count; i++) {
        const msgpack_object *ev = &events->via.array.ptr [i];
        ck_assert_uint_eq ((uint64_t) tk_get_uint (ev, "seq"), from + i);
        tail += s_published [from + i - 1].size;
    }
    ck_assert_uint_le (tail, s_reply.size);
    const char *at = s_reply.data + s_reply.size - tail;
    for (uint64_t i = 0; i < count; i++) {
        const msgpack_sbuffer *pub = &s_published [from + i - 1];
        ck_assert_mem_eq (at, pub->data, pub->size);
        at += pub->size;
    }
}

//  --- the rules, as rows --------------------------------------------------

static const struct {
    const char *what;
    uint64_t from, limit;       /* limit 0: not given (1000) */
    uint64_t next, count;       /* expected */
} s_rows [] = {
    { "everything from 1", 1, 0, S_JOBS + 1, S_JOBS },
    { "limit events", 1, 5, 6, 5 },
    { "the next page from next", 6, 5, 11, 5 },
    { "all up to last when fewer remain", 11, 5, S_JOBS + 1, 2 },
    { "limit 1", S_JOBS, 1, S_JOBS + 1, 1 },
    { "limit 10000", 3, 10000, S_JOBS + 1, S_JOBS - 2 },
    { "from last + 1: empty, next = from", S_JOBS + 1, 0, S_JOBS + 1, 0 },
    { "from past last is not an error", 1000, 7, 1000, 0 },
    { "from 2^64 - 1", UINT64_MAX, 0, UINT64_MAX, 0 },
};
#define S_ROWS (int) (sizeof s_rows / sizeof s_rows [0])

START_TEST (test_rule)
{
    for (int job = 0; job < S_JOBS; job++)
        s_add (job, 2, 10, 0);
    const msgpack_object *reply = s_get_events (s_part, s_rows [_i].from,
                                                s_rows [_i].limit);
    s_check_page (reply, 1, S_JOBS, s_rows [_i].next, s_rows [_i].from,
                  s_rows [_i].count);
}
END_TEST

//  A partition never written here, and one with a system but no job.
START_TEST (test_no_events)
{
    uint32_t other = (s_part + 1) % S_NPARTS;
    const msgpack_object *reply = s_get_events (other, 5, 0);
    ck_assert_int_eq (tk_get_uint (reply, "rc"), 0);
    ck_assert_int_eq (tk_get_uint (reply, "partition"), other);
    ck_assert_int_eq (tk_get_uint (reply, "first"), 1);
    ck_assert_int_eq (tk_get_uint (reply, "last"), 0);
    ck_assert_int_eq (tk_get_uint (reply, "next"), 5);
    ck_assert_uint_eq (tk_get (reply, "events")->via.array.size, 0);
    //  DefineSystem made the record: still no event
    s_check_page (s_get_events (s_part, 1, 0), 1, 0, 1, 1, 0);
}
END_TEST

//  Retention: `first` moves up; asking before it is 32773 naming it,
//  with first and last in the reply; every kept event stays readable.
START_TEST (test_past_retention)
{
    uint64_t old = (uint64_t) zclock_time () - 3600 * 1000;
    for (int job = 0; job < S_JOBS; job++)
        s_add (job, 1, 10, job < 5? old: 0);
    size_t purged = 0;
    ck_assert_int_eq (kvp_store_purge (s_store, old + 1, 100, &purged), 0);
    ck_assert_int_eq (kvp_store_checkpoint (s_store, 10000), 0);
    kvp_store_purge (s_store, old + 1, 0, &purged);
    ck_assert_uint_eq (purged, 5);
    const msgpack_object *reply = s_get_events (s_part, 3, 0);
    ck_assert_int_eq (tk_get_uint (reply, "rc"), KVP_RC_INVALID_PARAM);
    ck_assert_int_eq (tk_get_uint (reply, "first"), 6);
    ck_assert_int_eq (tk_get_uint (reply, "last"), S_JOBS);
    ck_assert_ptr_nonnull (strstr (tk_get_str (reply, "error"), "first"));
    ck_assert_ptr_null (tk_get (reply, "events"));
    reply = s_get_events (s_part, 5, 1);
    ck_assert_int_eq (tk_get_uint (reply, "rc"), KVP_RC_INVALID_PARAM);
    s_check_page (s_get_events (s_part, 6, 0), 6, S_JOBS, S_JOBS + 1, 6,
                  S_JOBS - 5);
    //  All purged: first is last + 1, and from there on is fine
    ck_assert_int_eq (kvp_store_purge (s_store, UINT64_MAX, 100, &purged), 0);
    ck_assert_int_eq (kvp_store_checkpoint (s_store, 10000), 0);
    reply = s_get_events (s_part, S_JOBS, 0);
    ck_assert_int_eq (tk_get_uint (reply, "rc"), KVP_RC_INVALID_PARAM);
    ck_assert_int_eq (tk_get_uint (reply, "first"), S_JOBS + 1);
    s_check_page (s_get_events (s_part, S_JOBS + 1, 0), S_JOBS + 1, S_JOBS,
                  S_JOBS + 1, S_JOBS + 1, 0);
}
END_TEST

//  A page ends only where one more event would take the reply past
//  4 MiB: events of ~1 MB (a request body is at most 1 MiB), four to a
//  page.
START_TEST (test_page_bound)
{
    for (int job = 0; job < 5; job++)
        s_add (job, 62, 16000, 0);
    ck_assert_uint_gt (s_published [0].size, 990000);
    const msgpack_object *reply = s_get_events (s_part, 1, 0);
    s_check_page (reply, 1, 5, 5, 1, 4);
    ck_assert_uint_le (s_reply.size, KVP_PAGE_BODY_MAX);
    ck_assert_uint_gt (s_reply.size + s_published [4].size,
                       KVP_PAGE_BODY_MAX);
    s_check_page (s_get_events (s_part, 5, 0), 1, 5, 6, 5, 1);
    s_check_page (s_get_events (s_part, 2, 0), 1, 5, 6, 2, 4);
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("replay");
    TCase *tc = tcase_create ("GetEvents");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_set_timeout (tc, 60);
    tcase_add_loop_test (tc, test_rule, 0, S_ROWS);
    tcase_add_test (tc, test_no_events);
    tcase_add_test (tc, test_past_retention);
    tcase_add_test (tc, test_page_bound);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
