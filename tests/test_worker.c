/*  test_worker.c - the worker's execution layer (kvp_exec, kvp_batch,
    kvp_identity) driven directly against a store in a temporary folder:
    request bodies are built with msgpack and decoded with
    kvp_request_decode, as the worker does; no sockets.
*/
#include <check.h>
#include "kvp_testkit.h"
#include "kvp_batch.h"
#include "kvp_exec.h"
#include "kvp_identity.h"
#include "kvp_rc.h"
#include "kvp_reply.h"

#define S_NPARTS    16
#define S_SLOTS     32
#define S_SYS_A     "6f1c3b7e-2a4d-4c1e-9b7a-0d5e8f2a1c34"
#define S_SYS_B     "00000000-0000-0000-0000-000000000000"
#define S_SYS_NONE  "11111111-2222-3333-4444-555555555555"

static char s_root [64];        /* made by main, removed by main */
static char s_dir [96];         /* one test's store, under s_root */
static kvp_store_t *s_store;
static kvp_batch_t *s_batch;

//  Results of the last s_run, one per slot, parsed before the batch is
//  cleared (the slots' buffers are reused).
static msgpack_unpacked s_replies [S_SLOTS];
static size_t s_reply_sizes [S_SLOTS];  /* their bodies' sizes */
static msgpack_unpacked s_events [S_SLOTS];
//  Copies of the bodies the unpacked objects point into (a slot frees a
//  big buffer when the batch is cleared)
static msgpack_sbuffer s_bodies [S_SLOTS][2];
static bool s_has_event [S_SLOTS];
static char s_topics [S_SLOTS][KVP_TOPIC_MAX + 1];
static size_t s_count;

typedef struct {
    unsigned source;
    const char *name;
    const char *data;
} s_item_t;

static void
s_open (size_t map_size, size_t map_max)
{
    kvp_store_config_t config = { .map_size = map_size, .map_max = map_max,
                                  .nosync = true, .wal_segment = 64 << 10 };
    int rc = 0;
    s_store = kvp_store_new (s_dir, &config, &rc);
    ck_assert_msg (s_store, "store: %s", kvp_store_strerror (rc));
    s_batch = kvp_batch_new (s_store, S_SLOTS);
    ck_assert_ptr_nonnull (s_batch);
}

static void
s_forget (void)
{
    for (size_t i = 0; i < s_count; i++) {
        msgpack_unpacked_destroy (&s_replies [i]);
        msgpack_unpacked_destroy (&s_events [i]);
        msgpack_sbuffer_destroy (&s_bodies [i][0]);
        msgpack_sbuffer_destroy (&s_bodies [i][1]);
    }
    s_count = 0;
}

static void
s_close (void)
{
    kvp_batch_destroy (&s_batch);
    kvp_batch_destroy (&s_batch);           //  safe twice
    kvp_store_destroy (&s_store);
}

static void
s_setup (void)
{
    snprintf (s_dir, sizeof s_dir, "%s/t-XXXXXX", s_root);
    ck_assert_ptr_nonnull (mkdtemp (s_dir));
    s_open (0, 0);
}

//  A failed test skips this (its process ends at the assertion); main
//  removes s_root whatever happened.
static void
s_teardown (void)
{
    s_forget ();
    s_close ();
    tk_rmtree (s_dir);
}

//  --- Building and queueing requests --------------------------------------

static void
s_item_body (tk_body_t *body, const char *op, const char *target,
             const char *key, const s_item_t *items, size_t count)
{
    tk_body_begin (body, op, key ? 3 : 2);
    tk_pack_kv_str (&body->pk, "target", target);
    if (key)
        tk_pack_kv_str (&body->pk, "key", key);
    tk_pack_str (&body->pk, "items");
    msgpack_pack_array (&body->pk, count);
    for (size_t i = 0; i < count; i++)
        tk_pack_item (&body->pk, items [i].source, items [i].name,
                      items [i].data);
}

static void
s_target_body (tk_body_t *body, const char *op, const char *target)
{
    tk_body_begin (body, op, 1);
    tk_pack_kv_str (&body->pk, "target", target);
}

//  Queue a request as the worker does: decode, pick target and partition
//  (`id`: the GUID the broker sends for DefineSystem). Ends `body`.
static kvp_slot_t *
s_queue (tk_body_t *body, const char *id)
{
    kvp_slot_t *slot = kvp_batch_claim (s_batch);
    ck_assert_ptr_nonnull (slot);
    slot->msg = zmsg_new ();
    zmsg_addmem (slot->msg, body->sbuf.data, body->sbuf.size);
    tk_body_end (body);
    zframe_t *frame = zmsg_first (slot->msg);
    int rc = kvp_request_decode (slot->request, zframe_data (frame),
                                 zframe_size (frame));
    if (rc) {
        kvp_slot_reject (slot, (unsigned) rc,
                         kvp_request_error (slot->request));
        return slot;
    }
    //  As the worker does: no target unless the op names a system.
    memset (&slot->target, 0, sizeof slot->target);
    if (kvp_request_op (slot->request) == KVP_OP_GET_JOB) {
        uint32_t epoch;
        uint64_t seq;
        kvp_request_job_parts (slot->request, &slot->part, &epoch, &seq);
    }
    else {
        if (id)
            ck_assert (kvp_guid_parse (&slot->target, id, strlen (id)));
        else
            slot->target = *kvp_request_target (slot->request);
        slot->part = kvp_guid_partition (&slot->target, S_NPARTS);
    }
    slot->received_ms = (uint64_t) zclock_time ();
    slot->received_us = zclock_usecs ();
    slot->state = KVP_SLOT_READY;
    return slot;
}

//  Run the batch, keep every reply and event, clear the batch.
static void
s_run (void)
{
    s_forget ();
    kvp_batch_run (s_batch);
    s_count = kvp_batch_size (s_batch);
    for (size_t i = 0; i < s_count; i++) {
        kvp_slot_t *slot = kvp_batch_slot (s_batch, i);
        msgpack_unpacked_init (&s_replies [i]);
        msgpack_unpacked_init (&s_events [i]);
        msgpack_sbuffer *reply = &s_bodies [i][0], *event = &s_bodies [i][1];
        msgpack_sbuffer_init (reply);
        msgpack_sbuffer_init (event);
        msgpack_sbuffer_write (reply, slot->reply.data, slot->reply.size);
        msgpack_sbuffer_write (event, slot->event.data, slot->event.size);
        s_reply_sizes [i] = reply->size;
        ck_assert_int_eq (msgpack_unpack_next (&s_replies [i], reply->data,
                                               reply->size, NULL),
                          MSGPACK_UNPACK_SUCCESS);
        s_has_event [i] = event->size > 0;
        if (s_has_event [i])
            ck_assert_int_eq (msgpack_unpack_next (&s_events [i], event->data,
                                                   event->size, NULL),
                              MSGPACK_UNPACK_SUCCESS);
        snprintf (s_topics [i], sizeof s_topics [i], "%.*s",
                  (int) slot->topic_len, slot->topic);
    }
    kvp_batch_clear (s_batch);
}

static const msgpack_object *
s_reply (size_t i)
{
    ck_assert_uint_lt (i, s_count);
    return &s_replies [i].data;
}

static const msgpack_object *
s_event (size_t i)
{
    ck_assert_uint_lt (i, s_count);
    return s_has_event [i] ? &s_events [i].data : NULL;
}

//  One request alone in a batch; its reply.
static const msgpack_object *
s_call (tk_body_t *body, const char *id)
{
    s_queue (body, id);
    s_run ();
    return s_reply (0);
}

static int64_t
s_rc (const msgpack_object *reply)
{
    return tk_get_uint (reply, "rc");
}

static int64_t
s_define (const char *id, const char *name)
{
    tk_body_t body;
    tk_body_begin (&body, "DefineSystem", 2);
    tk_pack_kv_str (&body.pk, "name", name);
    tk_pack_kv_str (&body.pk, "id", id);
    return s_rc (s_call (&body, id));
}

//  One item op alone; returns its reply.
static const msgpack_object *
s_items (const char *op, const char *target, const char *key,
         const s_item_t *items, size_t count)
{
    tk_body_t body;
    s_item_body (&body, op, target, key, items, count);
    return s_call (&body, NULL);
}

static const msgpack_object *
s_get_items (const char *target)
{
    tk_body_t body;
    s_target_body (&body, "GetKvpItems", target);
    return s_call (&body, NULL);
}

static const msgpack_object *
s_job (const msgpack_object *reply)
{
    const msgpack_object *job = tk_get (reply, "job");
    ck_assert_ptr_nonnull (job);
    return job;
}

//  Number of items a GetKvpItems reply holds (-1 if no array).
static int64_t
s_item_count (const msgpack_object *reply)
{
    const msgpack_object *items = tk_get (reply, "items");
    return items && items->type == MSGPACK_OBJECT_ARRAY
         ? (int64_t) items->via.array.size : -1;
}

//  --- Systems ------------------------------------------------------------------

START_TEST (test_define_get_system)
{
    ck_assert_int_eq (s_define (S_SYS_A, "web01"), KVP_RC_OK);
    ck_assert_str_eq (tk_get_str (s_reply (0), "id"), S_SYS_A);

    tk_body_t body;
    s_target_body (&body, "GetSystem", S_SYS_A);
    const msgpack_object *reply = s_call (&body, NULL);
    ck_assert_int_eq (s_rc (reply), 0);
    ck_assert_str_eq (tk_get_str (reply, "name"), "web01");
    ck_assert_str_eq (tk_get_str (reply, "id"), S_SYS_A);
    const msgpack_object *dx = tk_get (reply, "DataExchangeEnabled");
    ck_assert (dx && dx->type == MSGPACK_OBJECT_BOOLEAN && dx->via.boolean);

    //  Defining it again fails and names it.
    ck_assert_int_eq (s_define (S_SYS_A, "other"), KVP_RC_FAILED);
    ck_assert_ptr_nonnull (strstr (tk_get_str (s_reply (0), "error"), S_SYS_A));

    //  The partition now has a record: a restart registers it.
    kvp_partition_t info;
    uint32_t part = kvp_guid_partition (&(kvp_guid_t) { S_SYS_A }, S_NPARTS);
    ck_assert_int_eq (kvp_store_partition_get (s_store, part, &info), 0);
    ck_assert_int_eq (info.seq, 0);
}
END_TEST

START_TEST (test_rid_returned)
{
    ck_assert_int_eq (s_define (S_SYS_A, "web01"), 0);
    tk_body_t body;
    tk_body_begin (&body, "GetSystem", 2);
    tk_pack_kv_str (&body.pk, "target", S_SYS_A);
    tk_pack_kv_str (&body.pk, "rid", "r-17");
    ck_assert_str_eq (tk_get_str (s_call (&body, NULL), "rid"), "r-17");
    tk_body_begin (&body, "GetSystem", 2);
    tk_pack_kv_str (&body.pk, "target", S_SYS_NONE);
    tk_pack_kv_uint (&body.pk, "rid", 99);
    const msgpack_object *reply = s_call (&body, NULL);
    ck_assert_int_eq (s_rc (reply), KVP_RC_INVALID_PARAM);
    ck_assert_int_eq (tk_get_uint (reply, "rid"), 99);
}
END_TEST

START_TEST (test_settings_and_destroy)
{
    ck_assert_int_eq (s_define (S_SYS_A, "web01"), 0);
    tk_body_t body;
    tk_body_begin (&body, "ModifySystemSettings", 2);
    tk_pack_kv_str (&body.pk, "target", S_SYS_A);
    tk_pack_str (&body.pk, "DataExchangeEnabled");
    msgpack_pack_false (&body.pk);
    ck_assert_int_eq (s_rc (s_call (&body, NULL)), 0);

    //  Data Exchange off: item ops refused with 32775 and no job.
    s_item_t ip = { 0, "ip", "10.0.0.1" };
    const msgpack_object *reply = s_items ("AddKvpItems", S_SYS_A, NULL,
                                           &ip, 1);
    ck_assert_int_eq (s_rc (reply), KVP_RC_INVALID_STATE);
    ck_assert_ptr_null (tk_get (reply, "job"));
    ck_assert_ptr_null (s_event (0));

    s_target_body (&body, "DestroySystem", S_SYS_A);
    ck_assert_int_eq (s_rc (s_call (&body, NULL)), 0);
    s_target_body (&body, "DestroySystem", S_SYS_A);
    ck_assert_int_eq (s_rc (s_call (&body, NULL)), KVP_RC_INVALID_PARAM);
    s_target_body (&body, "GetSystem", S_SYS_A);
    ck_assert_int_eq (s_rc (s_call (&body, NULL)), KVP_RC_INVALID_PARAM);
}
END_TEST

START_TEST (test_unknown_system)
{
    s_item_t ip = { 0, "ip", "10.0.0.1" };
    const msgpack_object *reply = s_items ("AddKvpItems", S_SYS_NONE, "k1",
                                           &ip, 1);
    ck_assert_int_eq (s_rc (reply), KVP_RC_INVALID_PARAM);
    ck_assert_ptr_nonnull (strstr (tk_get_str (reply, "error"), S_SYS_NONE));
    ck_assert_ptr_null (s_event (0));
    ck_assert_int_eq (s_rc (s_get_items (S_SYS_NONE)), KVP_RC_INVALID_PARAM);
    tk_body_t body;
    tk_body_begin (&body, "ModifySystemSettings", 2);
    tk_pack_kv_str (&body.pk, "target", S_SYS_NONE);
    tk_pack_str (&body.pk, "DataExchangeEnabled");
    msgpack_pack_true (&body.pk);
    ck_assert_int_eq (s_rc (s_call (&body, NULL)), KVP_RC_INVALID_PARAM);
}
END_TEST

//  --- Item ops -------------------------------------------------------------------

START_TEST (test_add_completed)
{
    ck_assert_int_eq (s_define (S_SYS_A, "web01"), 0);
    s_item_t two [] = { { 0, "ip", "10.0.0.1" }, { 4, "role", "db" } };
    const msgpack_object *reply = s_items ("AddKvpItems", S_SYS_A, NULL,
                                           two, 2);
    ck_assert_int_eq (s_rc (reply), KVP_RC_JOB_STARTED);
    const msgpack_object *job = s_job (reply);
    ck_assert_int_eq (tk_get_uint (job, "JobState"), KVP_JOB_COMPLETED);
    ck_assert_int_eq (tk_get_uint (job, "ErrorCode"), 0);
    ck_assert_str_eq (tk_get_str (job, "ErrorDescription"), "");
    ck_assert_str_eq (tk_get_str (job, "JobType"), "AddKvpItems");
    ck_assert_str_eq (tk_get_str (job, "TargetSystem"), S_SYS_A);
    ck_assert_int_ge (tk_get_uint (job, "TimeSubmitted"),
                      zclock_time () - 60000);
    ck_assert_int_ge (tk_get_uint (job, "ElapsedTime"), 0);
    char id [KVP_JOBID_MAX + 1];
    snprintf (id, sizeof id, "%s", tk_get_str (job, "InstanceID"));

    //  Its event: the job at top level, partition, seq 1, the items.
    const msgpack_object *event = s_event (0);
    ck_assert_ptr_nonnull (event);
    ck_assert_str_eq (s_topics [0], "job/" S_SYS_A);
    ck_assert_str_eq (tk_get_str (event, "InstanceID"), id);
    ck_assert_int_eq (tk_get_uint (event, "seq"), 1);
    ck_assert_int_eq (tk_get_uint (event, "partition"),
        kvp_guid_partition (&(kvp_guid_t) { S_SYS_A }, S_NPARTS));
    ck_assert_int_eq (s_item_count (event), 2);

    //  The items are stored, sorted by Source then Name.
    reply = s_get_items (S_SYS_A);
    ck_assert_int_eq (s_rc (reply), 0);
    ck_assert_int_eq (s_item_count (reply), 2);
    const msgpack_object *items = tk_get (reply, "items");
    ck_assert_str_eq (tk_get_str (&items->via.array.ptr [0], "Name"), "ip");
    ck_assert_str_eq (tk_get_str (&items->via.array.ptr [1], "Data"), "db");

    //  The Source filter.
    tk_body_t body;
    tk_body_begin (&body, "GetKvpItems", 2);
    tk_pack_kv_str (&body.pk, "target", S_SYS_A);
    tk_pack_kv_uint (&body.pk, "Source", 4);
    reply = s_call (&body, NULL);
    ck_assert_int_eq (s_item_count (reply), 1);

    //  The next job of the partition is seq 2.
    s_item_t more = { 0, "dns", "1.1.1.1" };
    s_items ("AddKvpItems", S_SYS_A, NULL, &more, 1);
    ck_assert_int_eq (tk_get_uint (s_event (0), "seq"), 2);
}
END_TEST

START_TEST (test_add_existing_fails)
{
    ck_assert_int_eq (s_define (S_SYS_A, "web01"), 0);
    s_item_t ip = { 0, "ip", "10.0.0.1" };
    s_items ("AddKvpItems", S_SYS_A, NULL, &ip, 1);
    //  One new and one existing item: the job fails, naming the existing
    //  one, and writes neither.
    s_item_t two [] = { { 0, "new", "x" }, { 0, "ip", "10.9.9.9" } };
    const msgpack_object *reply = s_items ("AddKvpItems", S_SYS_A, NULL,
                                           two, 2);
    ck_assert_int_eq (s_rc (reply), KVP_RC_JOB_STARTED);
    const msgpack_object *job = s_job (reply);
    ck_assert_int_eq (tk_get_uint (job, "JobState"), KVP_JOB_EXCEPTION);
    ck_assert_int_eq (tk_get_uint (job, "ErrorCode"), KVP_RC_FAILED);
    ck_assert_str_eq (tk_get_str (job, "ErrorDescription"),
                      "key exists: Source 0 Name \"ip\"");
    //  A failed job has its event too, without items.
    ck_assert_int_eq (tk_get_uint (s_event (0), "seq"), 2);
    ck_assert_ptr_null (tk_get (s_event (0), "items"));

    reply = s_get_items (S_SYS_A);
    ck_assert_int_eq (s_item_count (reply), 1);
    const msgpack_object *items = tk_get (reply, "items");
    ck_assert_str_eq (tk_get_str (&items->via.array.ptr [0], "Data"),
                      "10.0.0.1");
}
END_TEST

START_TEST (test_modify_remove_missing_fail)
{
    ck_assert_int_eq (s_define (S_SYS_A, "web01"), 0);
    s_item_t ip = { 0, "ip", "10.0.0.1" };
    s_items ("AddKvpItems", S_SYS_A, NULL, &ip, 1);
    s_item_t two [] = { { 0, "ip", "10.0.0.2" }, { 4, "gone", "" },
                        { 0, "q\"t", "" } };
    const msgpack_object *job = s_job (s_items ("ModifyKvpItems", S_SYS_A,
                                                NULL, two, 3));
    ck_assert_int_eq (tk_get_uint (job, "JobState"), KVP_JOB_EXCEPTION);
    ck_assert_str_eq (tk_get_str (job, "ErrorDescription"),
                      "key missing: Source 4 Name \"gone\"; "
                      "key missing: Source 0 Name \"q\\\"t\"");
    job = s_job (s_items ("RemoveKvpItems", S_SYS_A, NULL, two, 3));
    ck_assert_int_eq (tk_get_uint (job, "JobState"), KVP_JOB_EXCEPTION);
    //  Nothing changed: ip keeps its first value.
    const msgpack_object *reply = s_get_items (S_SYS_A);
    ck_assert_int_eq (s_item_count (reply), 1);
    ck_assert_str_eq (tk_get_str (&tk_get (reply, "items")->via.array.ptr [0],
                                  "Data"), "10.0.0.1");
    //  Modify of an existing item completes.
    job = s_job (s_items ("ModifyKvpItems", S_SYS_A, NULL, two, 1));
    ck_assert_int_eq (tk_get_uint (job, "JobState"), KVP_JOB_COMPLETED);
    reply = s_get_items (S_SYS_A);
    ck_assert_str_eq (tk_get_str (&tk_get (reply, "items")->via.array.ptr [0],
                                  "Data"), "10.0.0.2");
}
END_TEST

START_TEST (test_remove_reports_old_data)
{
    ck_assert_int_eq (s_define (S_SYS_A, "web01"), 0);
    s_item_t two [] = { { 0, "ip", "10.0.0.1" }, { 4, "role", "db" },
                        { 0, "keep", "k" } };
    s_items ("AddKvpItems", S_SYS_A, NULL, two, 3);
    //  Remove matches by (Source, Name): Data in the request is ignored.
    s_item_t rm [] = { { 0, "ip", "" }, { 4, "role", "whatever" } };
    const msgpack_object *job = s_job (s_items ("RemoveKvpItems", S_SYS_A,
                                                NULL, rm, 2));
    ck_assert_int_eq (tk_get_uint (job, "JobState"), KVP_JOB_COMPLETED);
    const msgpack_object *items = tk_get (s_event (0), "items");
    ck_assert (items && items->type == MSGPACK_OBJECT_ARRAY);
    ck_assert_int_eq (items->via.array.size, 2);
    bool seen_ip = false, seen_role = false;
    for (uint32_t i = 0; i < 2; i++) {
        const msgpack_object *it = &items->via.array.ptr [i];
        const char *name = tk_get_str (it, "Name");
        if (strcmp (name, "ip") == 0)
            seen_ip = strcmp (tk_get_str (it, "Data"), "10.0.0.1") == 0;
        else
        if (strcmp (name, "role") == 0)
            seen_role = strcmp (tk_get_str (it, "Data"), "db") == 0;
    }
    ck_assert (seen_ip && seen_role);
    ck_assert_int_eq (s_item_count (s_get_items (S_SYS_A)), 1);
}
END_TEST

START_TEST (test_idempotent_key)
{
    ck_assert_int_eq (s_define (S_SYS_A, "web01"), 0);
    s_item_t ip [] = { { 0, "ip", "10.0.0.1" }, { 0, "gw", "10.0.0.254" } };
    const msgpack_object *job = s_job (s_items ("AddKvpItems", S_SYS_A,
                                                "op-1", ip, 2));
    char id [KVP_JOBID_MAX + 1];
    snprintf (id, sizeof id, "%s", tk_get_str (job, "InstanceID"));
    ck_assert_int_eq (tk_get_uint (s_event (0), "seq"), 1);

    //  The same request again (items in another order): the same job, no
    //  new event, though the items now exist.
    s_item_t swapped [] = { ip [1], ip [0] };
    const msgpack_object *reply = s_items ("AddKvpItems", S_SYS_A, "op-1",
                                           swapped, 2);
    ck_assert_int_eq (s_rc (reply), KVP_RC_JOB_STARTED);
    job = s_job (reply);
    ck_assert_str_eq (tk_get_str (job, "InstanceID"), id);
    ck_assert_int_eq (tk_get_uint (job, "JobState"), KVP_JOB_COMPLETED);
    ck_assert_ptr_null (s_event (0));

    //  The same key for a different request is refused.
    reply = s_items ("AddKvpItems", S_SYS_A, "op-1", ip, 1);
    ck_assert_int_eq (s_rc (reply), KVP_RC_INVALID_PARAM);
    ck_assert_ptr_nonnull (strstr (tk_get_str (reply, "error"), "op-1"));
    ck_assert_ptr_null (s_event (0));

    //  The next real job is seq 2: the replays used none.
    s_item_t dns = { 0, "dns", "1.1.1.1" };
    s_items ("AddKvpItems", S_SYS_A, "op-2", &dns, 1);
    ck_assert_int_eq (tk_get_uint (s_event (0), "seq"), 2);
}
END_TEST

START_TEST (test_get_job)
{
    ck_assert_int_eq (s_define (S_SYS_A, "web01"), 0);
    s_item_t ip = { 0, "ip", "10.0.0.1" };
    const msgpack_object *job = s_job (s_items ("AddKvpItems", S_SYS_A,
                                                NULL, &ip, 1));
    char id [KVP_JOBID_MAX + 1];
    snprintf (id, sizeof id, "%s", tk_get_str (job, "InstanceID"));

    tk_body_t body;
    tk_body_begin (&body, "GetJob", 1);
    tk_pack_kv_str (&body.pk, "job", id);
    const msgpack_object *reply = s_call (&body, NULL);
    ck_assert_int_eq (s_rc (reply), 0);
    job = s_job (reply);
    ck_assert_str_eq (tk_get_str (job, "InstanceID"), id);
    ck_assert_str_eq (tk_get_str (job, "TargetSystem"), S_SYS_A);
    ck_assert_int_eq (tk_get_uint (job, "JobState"), KVP_JOB_COMPLETED);

    //  A job id of the right form that names no job: another epoch, a
    //  seq not reached, a partition with no record.
    uint32_t part, epoch;
    uint64_t seq;
    ck_assert (kvp_jobid_parse (id, strlen (id), &part, &epoch, &seq));
    char other [KVP_JOBID_MAX + 1];
    const struct { uint32_t part, epoch; uint64_t seq; } unknown [] = {
        { part, epoch ^ 1, seq }, { part, epoch, seq + 5 },
        { (part + 1) % S_NPARTS, epoch, seq } };
    for (size_t i = 0; i < 3; i++) {
        kvp_jobid_format (other, unknown [i].part, unknown [i].epoch,
                          unknown [i].seq);
        tk_body_begin (&body, "GetJob", 1);
        tk_pack_kv_str (&body.pk, "job", other);
        reply = s_call (&body, NULL);
        ck_assert_int_eq (s_rc (reply), KVP_RC_INVALID_PARAM);
        ck_assert_ptr_nonnull (strstr (tk_get_str (reply, "error"), other));
    }
    //  Garbage is refused by the decoder before it reaches the store.
    tk_body_begin (&body, "GetJob", 1);
    tk_pack_kv_str (&body.pk, "job", "not-a-job");
    ck_assert_int_eq (s_rc (s_call (&body, NULL)), KVP_RC_INVALID_PARAM);
}
END_TEST

START_TEST (test_not_here)
{
    tk_body_t body;
    tk_body_begin (&body, "Ping", 0);
    s_queue (&body, S_SYS_A);
    s_run ();
    ck_assert_int_eq (s_rc (s_reply (0)), KVP_RC_NOT_SUPPORTED);
}
END_TEST

//  --- Batches ----------------------------------------------------------------------

START_TEST (test_batch_one_fails)
{
    ck_assert_int_eq (s_define (S_SYS_A, "web01"), 0);
    ck_assert_int_eq (s_define (S_SYS_B, "web02"), 0);
    s_item_t ip = { 0, "ip", "1" };
    s_items ("AddKvpItems", S_SYS_A, NULL, &ip, 1);

    //  One batch: three good adds, a failing add, an unknown system, a
    //  read that sees the batch's own writes.
    s_item_t a1 = { 0, "a1", "x" }, a2 = { 0, "a2", "y" };
    s_item_t b1 = { 4, "b1", "z" };
    tk_body_t body;
    s_item_body (&body, "AddKvpItems", S_SYS_A, NULL, &a1, 1);
    s_queue (&body, NULL);
    s_item_body (&body, "AddKvpItems", S_SYS_A, NULL, &ip, 1);
    s_queue (&body, NULL);
    s_item_body (&body, "AddKvpItems", S_SYS_B, NULL, &b1, 1);
    s_queue (&body, NULL);
    s_item_body (&body, "AddKvpItems", S_SYS_NONE, NULL, &a2, 1);
    s_queue (&body, NULL);
    s_item_body (&body, "AddKvpItems", S_SYS_A, NULL, &a2, 1);
    s_queue (&body, NULL);
    s_target_body (&body, "GetKvpItems", S_SYS_A);
    s_queue (&body, NULL);
    kvp_batch_stats_t stats;
    kvp_batch_stats (s_batch, &stats);     //  forget the setup's batches
    s_run ();
    ck_assert_int_eq (s_count, 6);
    //  The counters saw one batch of six requests and one commit; taking
    //  them starts them again from zero.
    kvp_batch_stats (s_batch, &stats);
    ck_assert_uint_eq (stats.batches, 1);
    ck_assert_uint_eq (stats.requests, 6);
    ck_assert_uint_eq (stats.commits, 1);
    ck_assert_uint_gt (stats.commit_us + stats.exec_us, 0);
    kvp_batch_stats (s_batch, &stats);
    ck_assert_uint_eq (stats.batches, 0);
    ck_assert_uint_eq (stats.requests, 0);
    int64_t states [] = { KVP_JOB_COMPLETED, KVP_JOB_EXCEPTION,
                          KVP_JOB_COMPLETED, -1, KVP_JOB_COMPLETED };
    for (size_t i = 0; i < 5; i++)
        if (states [i] < 0)
            ck_assert_int_eq (s_rc (s_reply (i)), KVP_RC_INVALID_PARAM);
        else
            ck_assert_int_eq (tk_get_uint (s_job (s_reply (i)), "JobState"),
                              states [i]);
    ck_assert_int_eq (s_item_count (s_reply (5)), 3);
    //  Jobs of A's partition got consecutive seqs (1 was the first add).
    ck_assert_int_eq (tk_get_uint (s_event (0), "seq"), 2);
    ck_assert_int_eq (tk_get_uint (s_event (1), "seq"), 3);
    ck_assert_int_eq (tk_get_uint (s_event (4), "seq"), 4);
    ck_assert_ptr_null (s_event (3));
    //  Committed: visible in the next batch.
    ck_assert_int_eq (s_item_count (s_get_items (S_SYS_A)), 3);
    ck_assert_int_eq (s_item_count (s_get_items (S_SYS_B)), 1);
}
END_TEST

START_TEST (test_sent_marks)
{
    ck_assert_int_eq (s_define (S_SYS_A, "web01"), 0);
    uint32_t part = kvp_guid_partition (&(kvp_guid_t) { S_SYS_A }, S_NPARTS);
    s_item_t it [] = { { 0, "a", "1" }, { 0, "b", "2" }, { 0, "c", "3" } };
    for (size_t i = 0; i < 3; i++)
        s_items ("AddKvpItems", S_SYS_A, NULL, &it [i], 1);
    kvp_partition_t info;
    ck_assert_int_eq (kvp_store_partition_get (s_store, part, &info), 0);
    ck_assert_int_eq (info.seq, 3);
    ck_assert_int_eq (info.sent, 0);

    //  Marks ride with the next batch that writes...
    kvp_batch_sent (s_batch, part, 2);
    s_item_t d = { 0, "d", "4" };
    s_items ("AddKvpItems", S_SYS_A, NULL, &d, 1);
    ck_assert_int_eq (kvp_store_partition_get (s_store, part, &info), 0);
    ck_assert_int_eq (info.sent, 2);
    ck_assert_int_eq (info.seq, 4);
    //  ... or are flushed on their own.
    kvp_batch_sent (s_batch, part, 4);
    ck_assert_int_eq (kvp_batch_flush (s_batch), 0);
    ck_assert_int_eq (kvp_store_partition_get (s_store, part, &info), 0);
    ck_assert_int_eq (info.sent, 4);
    ck_assert_int_eq (kvp_batch_flush (s_batch), 0);    //  nothing left
}
END_TEST

//  `count` host-only items named prefix0, prefix1, ... holding `data`.
static void
s_big_items (s_item_t *items, size_t count, const char *prefix,
             char names [][16], const char *data)
{
    for (unsigned i = 0; i < count && i < 100; i++) {
        snprintf (names [i], 16, "%.8s%u", prefix, i);
        items [i] = (s_item_t) { 4, names [i], data };
    }
}

START_TEST (test_batch_grows_map)
{
    s_close ();
    s_open (1024 * 1024, 16 * 1024 * 1024);
    ck_assert_int_eq (s_define (S_SYS_A, "web01"), 0);
    static char data [16001];
    memset (data, 'd', sizeof data - 1);
    //  Six requests of 8 x 16 KB (items and events: ~3 MB) in one batch
    //  over a 1 MiB map: FULL, grow, rerun, all complete.
    char names [6][8][16];
    s_item_t items [8];
    tk_body_t body;
    for (unsigned r = 0; r < 6; r++) {
        char prefix [16];
        snprintf (prefix, sizeof prefix, "r%u-", r);
        s_big_items (items, 8, prefix, names [r], data);
        s_item_body (&body, "AddKvpItems", S_SYS_A, NULL, items, 8);
        s_queue (&body, NULL);
    }
    s_run ();
    for (size_t r = 0; r < 6; r++) {
        ck_assert_int_eq (tk_get_uint (s_job (s_reply (r)), "JobState"),
                          KVP_JOB_COMPLETED);
        ck_assert_int_eq (tk_get_uint (s_event (r), "seq"), r + 1);
    }
    ck_assert_int_eq (s_item_count (s_get_items (S_SYS_A)), 48);
}
END_TEST

START_TEST (test_map_full)
{
    s_close ();
    s_open (1024 * 1024, 1024 * 1024);      //  cannot grow at all
    ck_assert_int_eq (s_define (S_SYS_A, "web01"), 0);
    ck_assert_int_eq (s_define (S_SYS_B, "web02"), 0);
    static char data [16001];
    memset (data, 'f', sizeof data - 1);
    char names [8][16];
    s_item_t items [8];
    int64_t rc = 0;
    int added = 0;
    for (unsigned r = 0; r < 40 && rc != KVP_RC_OUT_OF_MEMORY; r++) {
        char prefix [16];
        snprintf (prefix, sizeof prefix, "r%u-", r);
        s_big_items (items, 8, prefix, names, data);
        const msgpack_object *reply = s_items ("AddKvpItems", S_SYS_A, NULL,
                                               items, 8);
        rc = s_rc (reply);
        if (rc == KVP_RC_JOB_STARTED)
            added++;
        else
            ck_assert_ptr_null (s_event (0));   //  no job for a refusal
    }
    ck_assert_int_eq (rc, KVP_RC_OUT_OF_MEMORY);
    ck_assert_int_gt (added, 0);
    ck_assert_ptr_nonnull (strstr (tk_get_str (s_reply (0), "error"),
                                   "store full"));

    //  Full, in one batch: the write is refused, the reads still work.
    tk_body_t body;
    s_item_body (&body, "AddKvpItems", S_SYS_B, NULL, items, 8);
    s_queue (&body, NULL);
    s_target_body (&body, "GetKvpItems", S_SYS_A);
    s_queue (&body, NULL);
    s_target_body (&body, "GetSystem", S_SYS_B);
    s_queue (&body, NULL);
    s_run ();
    ck_assert_int_eq (s_rc (s_reply (0)), KVP_RC_OUT_OF_MEMORY);
    ck_assert_int_eq (s_rc (s_reply (1)), 0);
    ck_assert_int_eq (s_item_count (s_reply (1)), added * 8);
    ck_assert_int_eq (s_rc (s_reply (2)), 0);

    //  Destroying A frees its items: B's writes fit again, the very next
    //  one (LMDB needs one more commit before it reuses freed pages: the
    //  batch makes it).
    s_target_body (&body, "DestroySystem", S_SYS_A);
    ck_assert_int_eq (s_rc (s_call (&body, NULL)), 0);
    s_big_items (items, 8, "b", names, data);
    const msgpack_object *reply = s_items ("AddKvpItems", S_SYS_B, NULL,
                                           items, 8);
    ck_assert_int_eq (s_rc (reply), KVP_RC_JOB_STARTED);
    ck_assert_int_eq (tk_get_uint (s_job (reply), "JobState"),
                      KVP_JOB_COMPLETED);
    ck_assert_int_eq (s_item_count (s_get_items (S_SYS_B)), 8);
}
END_TEST

//  --- GetKvpItems paging (spec section 4) ------------------------------------------

//  A GetKvpItems page: `source` < 0 for no filter, `limit` 0 for none,
//  `after_name` NULL for no `after`.
static const msgpack_object *
s_page (const char *target, int source, unsigned limit, unsigned after_source,
        const char *after_name)
{
    tk_body_t body;
    tk_body_begin (&body, "GetKvpItems", 1 + (source >= 0) + (limit > 0)
                                           + (after_name != NULL));
    tk_pack_kv_str (&body.pk, "target", target);
    if (source >= 0)
        tk_pack_kv_uint (&body.pk, "Source", (uint64_t) source);
    if (limit)
        tk_pack_kv_uint (&body.pk, "limit", limit);
    if (after_name) {
        tk_pack_str (&body.pk, "after");
        msgpack_pack_map (&body.pk, 2);
        tk_pack_kv_uint (&body.pk, "Source", after_source);
        tk_pack_kv_str (&body.pk, "Name", after_name);
    }
    return s_call (&body, NULL);
}

//  The names of a page's items joined by ',' (Source 4 ones as "4:name"),
//  and its `more` ("" when absent), as "a,b,4:c|more".
static const char *
s_page_text (const msgpack_object *reply)
{
    static char text [4096];
    size_t len = 0;
    const msgpack_object *items = tk_get (reply, "items");
    ck_assert_ptr_nonnull (items);
    for (uint32_t i = 0; i < items->via.array.size; i++) {
        const msgpack_object *item = &items->via.array.ptr [i];
        len += (size_t) snprintf (text + len, sizeof text - len, "%s%s%s",
                                  i? ",": "",
                                  tk_get_uint (item, "Source")? "4:": "",
                                  tk_get_str (item, "Name"));
    }
    const msgpack_object *more = tk_get (reply, "more");
    if (more)
        ck_assert_int_eq (more->type, MSGPACK_OBJECT_BOOLEAN);
    snprintf (text + len, sizeof text - len, "|%s",
              !more? "": more->via.boolean? "more": "last");
    return text;
}

static void
s_small_system (void)
{
    ck_assert_int_eq (s_define (S_SYS_A, "paged"), 0);
    s_item_t items [] = { { 0, "b", "2" }, { 4, "d", "4" }, { 0, "a", "1" },
                          { 0, "c", "3" }, { 0, "ab", "x" } };
    ck_assert_int_eq (s_rc (s_items ("AddKvpItems", S_SYS_A, NULL, items, 5)),
                      KVP_RC_JOB_STARTED);
}

//  limit and after at the edges: first, middle, last, past the last, a
//  position no item has, with and without the Source filter
START_TEST (test_page_edges)
{
    s_small_system ();
    const char *all = "a,ab,b,c,4:d";
    ck_assert_str_eq (s_page_text (s_get_items (S_SYS_A)), "a,ab,b,c,4:d|");
    ck_assert_str_eq (s_page_text (s_page (S_SYS_A, -1, 1, 0, NULL)), "a|more");
    ck_assert_str_eq (s_page_text (s_page (S_SYS_A, -1, 4, 0, NULL)),
                      "a,ab,b,c|more");
    ck_assert_str_eq (s_page_text (s_page (S_SYS_A, -1, 5, 0, NULL)),
                      "a,ab,b,c,4:d|last");
    ck_assert_str_eq (s_page_text (s_page (S_SYS_A, -1, 10000, 0, NULL)),
                      "a,ab,b,c,4:d|last");
    //  after alone: the default limit
    ck_assert_str_eq (s_page_text (s_page (S_SYS_A, -1, 0, 0, "a")),
                      "ab,b,c,4:d|last");
    ck_assert_str_eq (s_page_text (s_page (S_SYS_A, -1, 1, 0, "ab")),
                      "b|more");
    ck_assert_str_eq (s_page_text (s_page (S_SYS_A, -1, 2, 0, "b")),
                      "c,4:d|last");
    //  After the last item, and past every item: empty, no more
    ck_assert_str_eq (s_page_text (s_page (S_SYS_A, -1, 1, 4, "d")), "|last");
    ck_assert_str_eq (s_page_text (s_page (S_SYS_A, -1, 0, 9, "a")), "|last");
    //  A name no item has, in the middle; a Source with no items
    ck_assert_str_eq (s_page_text (s_page (S_SYS_A, -1, 0, 0, "aa")),
                      "ab,b,c,4:d|last");
    ck_assert_str_eq (s_page_text (s_page (S_SYS_A, -1, 2, 0, "bz")),
                      "c,4:d|last");
    ck_assert_str_eq (s_page_text (s_page (S_SYS_A, -1, 0, 2, "zzz")),
                      "4:d|last");
    //  With the Source filter
    ck_assert_str_eq (s_page_text (s_page (S_SYS_A, 0, 3, 0, NULL)),
                      "a,ab,b|more");
    ck_assert_str_eq (s_page_text (s_page (S_SYS_A, 0, 3, 0, "b")), "c|last");
    ck_assert_str_eq (s_page_text (s_page (S_SYS_A, 4, 0, 0, "zzz")),
                      "4:d|last");
    ck_assert_str_eq (s_page_text (s_page (S_SYS_A, 0, 0, 4, "a")), "|last");
    ck_assert_str_eq (s_page_text (s_page (S_SYS_A, 300, 5, 0, NULL)),
                      "|last");
    //  Page by page with limit 1: every item once, in order
    char joined [256] = "", last [16] = "";
    unsigned last_source = 0;
    for (int page = 0; page < 10; page++) {
        const msgpack_object *reply = s_page (S_SYS_A, -1, 1, last_source,
                                              page? last: NULL);
        const msgpack_object *items = tk_get (reply, "items");
        ck_assert_uint_eq (items->via.array.size, 1);
        const msgpack_object *item = &items->via.array.ptr [0];
        snprintf (last, sizeof last, "%s", tk_get_str (item, "Name"));
        last_source = (unsigned) tk_get_uint (item, "Source");
        size_t len = strlen (joined);
        snprintf (joined + len, sizeof joined - len, "%s%s%s", len? ",": "",
                  last_source? "4:": "", last);
        if (!tk_get (reply, "more")->via.boolean)
            break;
    }
    ck_assert_str_eq (joined, all);
}
END_TEST

//  Bad limit and after values: the decoder's codes, nothing changed
START_TEST (test_page_refused)
{
    s_small_system ();
    ck_assert_int_eq (s_rc (s_page (S_SYS_A, -1, 10001, 0, NULL)),
                      KVP_RC_INVALID_PARAM);
    ck_assert_ptr_nonnull (strstr (tk_get_str (s_reply (0), "error"),
                                   "limit"));
    ck_assert_int_eq (s_rc (s_page (S_SYS_A, -1, 0, 0, "")),
                      KVP_RC_INVALID_PARAM);
    ck_assert_ptr_nonnull (strstr (tk_get_str (s_reply (0), "error"),
                                   "after.Name"));
    tk_body_t body;
    tk_body_begin (&body, "GetKvpItems", 2);
    tk_pack_kv_str (&body.pk, "target", S_SYS_A);
    tk_pack_kv_str (&body.pk, "after", "a");
    ck_assert_int_eq (s_rc (s_call (&body, NULL)), KVP_RC_INCORRECT_TYPE);
    ck_assert_int_eq (s_rc (s_page (S_SYS_NONE, -1, 1, 0, "a")),
                      KVP_RC_INVALID_PARAM);
    ck_assert_str_eq (s_page_text (s_get_items (S_SYS_A)), "a,ab,b,c,4:d|");
}
END_TEST

//  A system past 4 MiB of items (300 host-only items of 16000 bytes):
//  unpaged it is 32778 saying to page; pages end only where one more item
//  would pass 4 MiB, and paging reads every item exactly once, in order.
START_TEST (test_page_big_system)
{
    ck_assert_int_eq (s_define (S_SYS_A, "big"), 0);
    static char data [16001];
    memset (data, 'd', sizeof data - 1);
    char names [60][16];
    s_item_t items [60];
    for (unsigned r = 0; r < 5; r++) {
        for (unsigned i = 0; i < 60; i++) {
            snprintf (names [i], 16, "k%03u", r * 60 + i);
            items [i] = (s_item_t) { 4, names [i], data };
        }
        ck_assert_int_eq (s_rc (s_items ("AddKvpItems", S_SYS_A, NULL,
                                         items, 60)), KVP_RC_JOB_STARTED);
    }
    const msgpack_object *reply = s_get_items (S_SYS_A);
    ck_assert_int_eq (s_rc (reply), KVP_RC_OUT_OF_MEMORY);
    const char *error = tk_get_str (reply, "error");
    ck_assert_msg (strstr (error, "page with limit and after"), "%s", error);
    ck_assert_ptr_null (tk_get (reply, "items"));

    unsigned next = 0, pages = 0;
    char after [16] = "";
    for (bool more = true; more && pages < 10; pages++) {
        reply = s_page (S_SYS_A, pages % 2? 4: -1, 10000, 4,
                        pages? after: NULL);
        ck_assert_int_eq (s_rc (reply), 0);
        const msgpack_object *list = tk_get (reply, "items");
        more = tk_get (reply, "more")->via.boolean;
        for (uint32_t i = 0; i < list->via.array.size; i++, next++) {
            const msgpack_object *item = &list->via.array.ptr [i];
            snprintf (after, sizeof after, "k%03u", next);
            ck_assert_str_eq (tk_get_str (item, "Name"), after);
            ck_assert_uint_eq (tk_get (item, "Data")->via.str.size, 16000);
        }
        //  Full by size: within 4 MiB, and one more item would pass it
        size_t size = s_reply_sizes [0];
        ck_assert_uint_le (size, KVP_PAGE_BODY_MAX);
        if (more)
            ck_assert_uint_gt (size + 16000, KVP_PAGE_BODY_MAX);
    }
    ck_assert_uint_eq (next, 300);
    ck_assert_uint_eq (pages, 2);
    //  The default limit reads it in pages too
    reply = s_page (S_SYS_A, -1, 0, 4, "k000");
    ck_assert (tk_get (reply, "more")->via.boolean);
}
END_TEST

//  --- Identity ---------------------------------------------------------------------

START_TEST (test_identity)
{
    kvp_identity_t ident, again;
    char error [256];
    ck_assert_int_eq (kvp_identity_load (&ident, s_store, NULL, error,
                                         sizeof error), 0);
    ck_assert_int_eq (strlen (ident.id), 10);
    ck_assert (strncmp (ident.id, "w-", 2) == 0);
    ck_assert_int_eq (strspn (ident.id + 2, "0123456789abcdef"), 8);
    ck_assert_int_eq (strlen (ident.token), 32);
    ck_assert_int_eq (ident.nparts, 0);

    //  Kept: a restart is the same worker, with or without --id.
    ck_assert_int_eq (kvp_identity_load (&again, s_store, NULL, error,
                                         sizeof error), 0);
    ck_assert_str_eq (again.id, ident.id);
    ck_assert_str_eq (again.token, ident.token);
    ck_assert_int_eq (kvp_identity_load (&again, s_store, ident.id, error,
                                         sizeof error), 0);
    //  Another name for this directory is refused.
    ck_assert_int_eq (kvp_identity_load (&again, s_store, "w9", error,
                                         sizeof error),
                      KVP_IDENTITY_CONFLICT);
    ck_assert_ptr_nonnull (strstr (error, ident.id));

    ck_assert_int_eq (kvp_identity_set_nparts (&ident, s_store, 64), 0);
    ck_assert_int_eq (kvp_identity_load (&again, s_store, NULL, error,
                                         sizeof error), 0);
    ck_assert_int_eq (again.nparts, 64);
}
END_TEST

START_TEST (test_identity_given_id)
{
    kvp_identity_t ident;
    char error [256];
    ck_assert_int_eq (kvp_identity_load (&ident, s_store, "w1", error,
                                         sizeof error), 0);
    ck_assert_str_eq (ident.id, "w1");
    s_close ();
    s_open (0, 0);
    ck_assert_int_eq (kvp_identity_load (&ident, s_store, NULL, error,
                                         sizeof error), 0);
    ck_assert_str_eq (ident.id, "w1");
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("worker");
    TCase *tc = tcase_create ("exec");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc, test_define_get_system);
    tcase_add_test (tc, test_rid_returned);
    tcase_add_test (tc, test_settings_and_destroy);
    tcase_add_test (tc, test_unknown_system);
    tcase_add_test (tc, test_add_completed);
    tcase_add_test (tc, test_add_existing_fails);
    tcase_add_test (tc, test_modify_remove_missing_fail);
    tcase_add_test (tc, test_remove_reports_old_data);
    tcase_add_test (tc, test_idempotent_key);
    tcase_add_test (tc, test_get_job);
    tcase_add_test (tc, test_not_here);
    suite_add_tcase (suite, tc);

    tc = tcase_create ("batch");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc, test_batch_one_fails);
    tcase_add_test (tc, test_sent_marks);
    tcase_add_test (tc, test_batch_grows_map);
    tcase_add_test (tc, test_map_full);
    suite_add_tcase (suite, tc);

    tc = tcase_create ("pages");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc, test_page_edges);
    tcase_add_test (tc, test_page_refused);
    tcase_add_test (tc, test_page_big_system);
    suite_add_tcase (suite, tc);

    tc = tcase_create ("identity");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_add_test (tc, test_identity);
    tcase_add_test (tc, test_identity_given_id);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    if (!tk_mkdtemp (s_root, sizeof s_root, "kvp-test-worker"))
        return 1;
    int status = tk_run_suite (s_suite ());
    tk_rmtree (s_root);
    return status;
}
