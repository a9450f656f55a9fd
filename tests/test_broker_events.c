/*  test_broker_events.c - how the real bin/kvp-broker routes GetEvents
    (spec section 10), driven by a fake worker (kvp_fakeworker): by
    `partition` with an empty guid frame to its owner; answered by the
    broker itself for a partition never assigned (which stays so);
    32773 for a partition not below N; 32777 while the owner is down; and
    the full decode's faults first, as for every routed op.
*/
#include <check.h>
#include "kvp_testkit.h"
#include "kvp_fakeworker.h"
#include "kvp_rc.h"

#define S_FAST  "--partitions 8 --heartbeat 100 --liveness 3 --deadline 1000"

static tk_cluster_t *s_cluster;
static zsock_t *s_client;
static fw_t *s_worker;

static void
s_setup (void)
{
    s_cluster = tk_cluster_new (0);
    s_cluster->broker_args = S_FAST;
    ck_assert_int_gt (tk_broker_start (s_cluster), 0);
    s_client = tk_dealer (s_cluster->clients);
    tk_body_t body;
    tk_body_begin (&body, "Ping", 0);
    tk_reply_t *reply = tk_call (s_client, &body, 10000);
    ck_assert_int_eq (tk_rc (reply), 0);
    tk_reply_destroy (&reply);
    s_worker = fw_new (s_cluster, "w0", "tok0");
    uint32_t parts [8];
    ck_assert_uint_eq (fw_register (s_worker, 0, NULL, 0, parts, 8), 0);
}

static void
s_teardown (void)
{
    fw_destroy (&s_worker);
    zsock_destroy (&s_client);
    tk_cluster_destroy (&s_cluster);
}

//  Send GetEvents {partition, from, rid} (from as a str when `bad`).
static void
s_send_events (uint64_t part, uint64_t from, uint64_t rid, bool bad)
{
    tk_body_t body;
    tk_body_begin (&body, "GetEvents", 3);
    tk_pack_kv_uint (&body.pk, "partition", part);
    if (bad)
        tk_pack_kv_str (&body.pk, "from", "1");
    else
        tk_pack_kv_uint (&body.pk, "from", from);
    tk_pack_kv_uint (&body.pk, "rid", rid);
    tk_send (s_client, &body);
    tk_body_end (&body);
}

//  The client's next reply, while the fake worker heartbeats; nothing
//  else may reach the worker meanwhile.
static tk_reply_t *
s_reply (void)
{
    int64_t until = zclock_mono () + 5000;
    tk_reply_t *reply = NULL;
    while (!reply && zclock_mono () < until) {
        zmsg_t *msg = s_worker? fw_recv (s_worker, 20, true): NULL;
        ck_assert_msg (msg == NULL, "the worker got a message");
        reply = tk_recv (s_client, 30);
    }
    ck_assert_ptr_nonnull (reply);
    return reply;
}

static bool
s_unowned (uint32_t part)
{
    tk_body_t body;
    tk_body_begin (&body, "ClusterStatus", 0);
    tk_reply_t *reply = tk_call (s_client, &body, 5000);
    const msgpack_object *unowned = tk_get (reply->map, "unowned");
    ck_assert (unowned && unowned->type == MSGPACK_OBJECT_ARRAY);
    bool found = false;
    for (uint32_t i = 0; i < unowned->via.array.size; i++)
        found |= unowned->via.array.ptr [i].via.u64 == part;
    tk_reply_destroy (&reply);
    return found;
}

START_TEST (test_unassigned_answered_by_broker)
{
    s_send_events (2, 7, 11, false);
    tk_reply_t *reply = s_reply ();
    ck_assert_int_eq (tk_rc (reply), 0);
    ck_assert_int_eq (tk_get_uint (reply->map, "rid"), 11);
    ck_assert_int_eq (tk_get_uint (reply->map, "partition"), 2);
    ck_assert_int_eq (tk_get_uint (reply->map, "first"), 1);
    ck_assert_int_eq (tk_get_uint (reply->map, "last"), 0);
    ck_assert_int_eq (tk_get_uint (reply->map, "next"), 7);
    const msgpack_object *events = tk_get (reply->map, "events");
    ck_assert (events && events->type == MSGPACK_OBJECT_ARRAY);
    ck_assert_uint_eq (events->via.array.size, 0);
    tk_reply_destroy (&reply);
    ck_assert (s_unowned (2));
    //  Faults of the body come first, then N
    s_send_events (2, 0, 12, false);
    reply = s_reply ();
    ck_assert_int_eq (tk_rc (reply), KVP_RC_INVALID_PARAM);
    ck_assert_ptr_nonnull (strstr (tk_get_str (reply->map, "error"), "from"));
    tk_reply_destroy (&reply);
    s_send_events (8, 1, 13, false);
    reply = s_reply ();
    ck_assert_int_eq (tk_rc (reply), KVP_RC_INVALID_PARAM);
    ck_assert_ptr_nonnull (strstr (tk_get_str (reply->map, "error"),
                                   "partition"));
    tk_reply_destroy (&reply);
    s_send_events (8, 1, 14, true);
    reply = s_reply ();
    ck_assert_int_eq (tk_rc (reply), KVP_RC_INCORRECT_TYPE);
    tk_reply_destroy (&reply);
    ck_assert (s_unowned (2));
}
END_TEST

START_TEST (test_routed_to_owner_then_down)
{
    //  Partition 3 gets an owner through a GetSystem
    kvp_guid_t guid;
    do
        kvp_guid_random (&guid);
    while (kvp_guid_partition (&guid, 8) != 3);
    tk_body_t body;
    tk_body_begin (&body, "GetSystem", 1);
    tk_pack_kv_str (&body.pk, "target", guid.text);
    tk_send (s_client, &body);
    tk_body_end (&body);
    zmsg_t *assign = fw_expect (s_worker, KVP_W_ASSIGN, true);
    zmsg_destroy (&assign);
    fw_request_t req = fw_take_request (s_worker, true);
    fw_answer (s_worker, &req, 0);
    tk_reply_t *reply = tk_recv (s_client, 5000);
    ck_assert_int_eq (tk_rc (reply), 0);
    tk_reply_destroy (&reply);
    //  GetEvents goes to the owner: partition 3, no guid, no new ASSIGN
    s_send_events (3, 1, 21, false);
    req = fw_take_request (s_worker, true);
    ck_assert_uint_eq (req.part, 3);
    ck_assert_str_eq (req.guid, "");
    fw_answer (s_worker, &req, 0);
    reply = tk_recv (s_client, 5000);
    ck_assert_int_eq (tk_rc (reply), 0);
    ck_assert_int_eq (tk_get_uint (reply->map, "rid"), 21);
    tk_reply_destroy (&reply);
    //  The owner goes silent: 32777 within the liveness
    fw_destroy (&s_worker);
    int64_t rc = 0;
    for (int i = 0; i < 100 && rc != KVP_RC_NOT_AVAILABLE; i++) {
        s_send_events (3, 1, 22, false);
        reply = s_reply ();
        rc = tk_rc (reply);
        tk_reply_destroy (&reply);
        if (rc != KVP_RC_NOT_AVAILABLE)
            zclock_sleep (50);
    }
    ck_assert_int_eq (rc, KVP_RC_NOT_AVAILABLE);
    s_send_events (3, 1, 23, true);     //  the type fault still first
    reply = s_reply ();
    ck_assert_int_eq (tk_rc (reply), KVP_RC_INCORRECT_TYPE);
    tk_reply_destroy (&reply);
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("broker_events");
    TCase *tc = tcase_create ("GetEvents");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc, test_unassigned_answered_by_broker);
    tcase_add_test (tc, test_routed_to_owner_then_down);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
