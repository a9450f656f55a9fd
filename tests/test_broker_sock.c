/*  test_broker_sock.c - the real bin/kvp-broker on 127.0.0.1, driven by a
    fake worker DEALER (kvp_fakeworker) and client DEALERs.
*/
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <czmq.h>
#include <msgpack.h>
#include "kvp_request.h"
#include "kvp_wire.h"
#include "kvp_guid.h"
#include "kvp_rc.h"
#include "kvp_testkit.h"
#include "kvp_fakeworker.h"

//  --------------------------------------------------------------------------
//  Client helpers

//  A GUID whose partition (of n) is `part`.
static void
s_guid_in (kvp_guid_t *guid, uint32_t part, uint32_t n)
{
    do
        kvp_guid_random (guid);
    while (kvp_guid_partition (guid, n) != part);
}

//  Send {op, target, rid} without waiting.
static void
s_send_target (zsock_t *client, const char *op, const char *target,
               uint64_t rid)
{
    tk_body_t body;
    tk_body_begin (&body, op, 2);
    tk_pack_kv_str (&body.pk, "target", target);
    tk_pack_kv_uint (&body.pk, "rid", rid);
    tk_send (client, &body);
    tk_body_end (&body);
}

//  Send {op: AddKvpItems, target, items: 5, rid}: a routing key the light
//  scan accepts, with `items` of the wrong type (32776 by the full decode).
static void
s_send_bad_items (zsock_t *client, const char *target, uint64_t rid)
{
    tk_body_t body;
    tk_body_begin (&body, "AddKvpItems", 3);
    tk_pack_kv_str (&body.pk, "target", target);
    tk_pack_kv_uint (&body.pk, "items", 5);
    tk_pack_kv_uint (&body.pk, "rid", rid);
    tk_send (client, &body);
    tk_body_end (&body);
}

//  Wait for a client reply while the fake worker (if any) heartbeats.
static tk_reply_t *
s_wait_reply (zsock_t *client, fw_t *worker, int timeout_ms)
{
    int64_t until = zclock_mono () + timeout_ms;
    tk_reply_t *reply = NULL;
    while (!reply && zclock_mono () < until) {
        if (worker) {
            fw_heartbeat (worker);
            zmsg_t *msg;
            while (zsock_events (worker->sock) & ZMQ_POLLIN
                   && (msg = zmsg_recv (worker->sock)))
                zmsg_destroy (&msg);    //  heartbeats from the broker
        }
        reply = tk_recv (client, 50);
    }
    return reply;
}

//  The reply for `rid`, skipping replies to other requests.
static tk_reply_t *
s_reply_for (zsock_t *client, fw_t *worker, uint64_t rid)
{
    int64_t until = zclock_mono () + 5000;
    while (zclock_mono () < until) {
        tk_reply_t *reply = s_wait_reply (client, worker, 500);
        if (reply && tk_get_uint (reply->map, "rid") == (int64_t) rid)
            return reply;
        tk_reply_destroy (&reply);
    }
    ck_abort_msg ("no reply for rid %llu", (unsigned long long) rid);
    return NULL;
}

//  The reply for `rid` must have `rc`; returns its error text (static).
static const char *
s_expect_rc (zsock_t *client, fw_t *worker, uint64_t rid, int64_t rc)
{
    tk_reply_t *reply = s_reply_for (client, worker, rid);
    ck_assert_int_eq (tk_rc (reply), rc);
    const char *error = tk_get_str (reply->map, "error");
    tk_reply_destroy (&reply);
    return error;
}

//  Find worker `id` in a ClusterStatus reply: alive and its partitions.
static bool
s_status_worker (tk_reply_t *reply, const char *id, bool *alive,
                 uint32_t *parts, size_t *count)
{
    const msgpack_object *workers = tk_get (reply->map, "workers");
    ck_assert (workers && workers->type == MSGPACK_OBJECT_ARRAY);
    for (uint32_t i = 0; i < workers->via.array.size; i++) {
        const msgpack_object *w = &workers->via.array.ptr [i];
        if (strcmp (tk_get_str (w, "id"), id) != 0)
            continue;
        const msgpack_object *a = tk_get (w, "alive");
        ck_assert (a && a->type == MSGPACK_OBJECT_BOOLEAN);
        *alive = a->via.boolean;
        const msgpack_object *p = tk_get (w, "partitions");
        ck_assert (p && p->type == MSGPACK_OBJECT_ARRAY);
        *count = p->via.array.size;
        for (uint32_t j = 0; j < p->via.array.size; j++)
            parts [j] = (uint32_t) p->via.array.ptr [j].via.u64;
        return true;
    }
    return false;
}

static tk_reply_t *
s_status (zsock_t *client)
{
    tk_body_t body;
    tk_body_begin (&body, "ClusterStatus", 0);
    tk_reply_t *reply = tk_call (client, &body, 5000);
    ck_assert_int_eq (tk_rc (reply), 0);
    return reply;
}

//  Poll ClusterStatus until worker `id` is (not) alive.
static bool
s_wait_alive (zsock_t *client, const char *id, bool want, int timeout_ms)
{
    int64_t until = zclock_mono () + timeout_ms;
    while (zclock_mono () < until) {
        tk_reply_t *reply = s_status (client);
        bool alive = false;
        uint32_t parts [64];
        size_t count;
        bool found = s_status_worker (reply, id, &alive, parts, &count);
        tk_reply_destroy (&reply);
        if (found && alive == want)
            return true;
        zclock_sleep (20);
    }
    return false;
}

static tk_cluster_t *s_cluster;

static void
s_broker_setup (const char *args)
{
    s_cluster = tk_cluster_new (0);
    s_cluster->broker_args = args;
    ck_assert_int_gt (tk_broker_start (s_cluster), 0);
    //  Ready when it answers Ping.
    zsock_t *client = tk_dealer (s_cluster->clients);
    tk_body_t body;
    tk_body_begin (&body, "Ping", 0);
    tk_reply_t *reply = tk_call (client, &body, 10000);
    ck_assert_int_eq (tk_rc (reply), 0);
    tk_reply_destroy (&reply);
    zsock_destroy (&client);
}

static void
s_broker_teardown (void)
{
    tk_cluster_destroy (&s_cluster);
}

#define S_FAST  "--partitions 8 --heartbeat 100 --liveness 3 --deadline 1000"

//  --------------------------------------------------------------------------
//  The real broker

//  A broker started with `args`, a client, and one registered fake worker
//  "w0" (its WELCOME partitions in `parts`, 8 entries, when not NULL);
//  `guid` is a system in partition `part` (of 8).
static void
s_one_start (const char *args, uint32_t part, zsock_t **client,
             fw_t **worker, kvp_guid_t *guid, uint32_t *parts)
{
    uint32_t scratch [8];
    s_broker_setup (args);
    *client = tk_dealer (s_cluster->clients);
    *worker = fw_new (s_cluster, "w0", "tok0");
    fw_register (*worker, 0, NULL, 0, parts ? parts : scratch, 8);
    s_guid_in (guid, part, 8);
}

//  GetSystem on `guid` with `rid`: the worker is assigned the partition
//  and receives the request.
static fw_request_t
s_one_route (zsock_t *client, fw_t *worker, const kvp_guid_t *guid,
             uint64_t rid)
{
    s_send_target (client, "GetSystem", guid->text, rid);
    zmsg_t *assign = fw_expect (worker, KVP_W_ASSIGN, true);
    zmsg_destroy (&assign);
    return fw_take_request (worker, true);
}

//  Undo s_one_start.
static void
s_one_stop (fw_t **worker, zsock_t **client)
{
    fw_destroy (worker);
    zsock_destroy (client);
    s_broker_teardown ();
}

START_TEST (test_socket_envelopes)
{
    s_broker_setup (S_FAST);
    zsock_t *client = tk_dealer (s_cluster->clients);
    //  Malformed shapes: each gets a 32773 reply, the broker goes on.
    const void *data [4];
    size_t sizes [4];
    int shapes = 0;
    //  no delimiter
    data [0] = "KVP1"; sizes [0] = 4; data [1] = "\x80"; sizes [1] = 1;
    tk_send_frames (client, 2, data, sizes);
    shapes++;
    //  wrong signature
    data [0] = ""; sizes [0] = 0; data [1] = "KVP2"; sizes [1] = 4;
    data [2] = "\x80"; sizes [2] = 1;
    tk_send_frames (client, 3, data, sizes);
    shapes++;
    //  too many frames
    data [1] = "KVP1"; data [3] = "x"; sizes [3] = 1;
    tk_send_frames (client, 4, data, sizes);
    shapes++;
    //  body not a map (an array)
    data [2] = "\x91\x01"; sizes [2] = 2;
    tk_send_frames (client, 3, data, sizes);
    shapes++;
    //  one frame only
    tk_send_frames (client, 1, data, sizes);
    shapes++;
    for (int i = 0; i < shapes; i++) {
        tk_reply_t *reply = tk_recv (client, 5000);
        ck_assert_msg (reply != NULL, "no reply to malformed message %d", i);
        ck_assert_int_eq (tk_rc (reply), KVP_RC_INVALID_PARAM);
        ck_assert (strlen (tk_get_str (reply->map, "error")) > 0);
        tk_reply_destroy (&reply);
    }
    //  Unknown op, with the rid returned.
    tk_body_t body;
    tk_body_begin (&body, "Frobnicate", 1);
    tk_pack_kv_uint (&body.pk, "rid", 77);
    tk_reply_t *reply = tk_call (client, &body, 5000);
    ck_assert_int_eq (tk_rc (reply), KVP_RC_NOT_SUPPORTED);
    ck_assert_int_eq (tk_get_uint (reply->map, "rid"), 77);
    tk_reply_destroy (&reply);
    //  Ping with a str rid.
    tk_body_begin (&body, "Ping", 1);
    tk_pack_kv_str (&body.pk, "rid", "p-1");
    reply = tk_call (client, &body, 5000);
    ck_assert_int_eq (tk_rc (reply), 0);
    ck_assert_str_eq (tk_get_str (reply->map, "rid"), "p-1");
    tk_reply_destroy (&reply);
    //  A REQ client is served too.
    zsock_t *req = zsock_new_req (s_cluster->clients);
    zsock_set_linger (req, 0);
    tk_body_begin (&body, "Ping", 0);
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "KVP1");
    zmsg_addmem (msg, body.sbuf.data, body.sbuf.size);
    zmsg_send (&msg, req);
    tk_body_end (&body);
    zpoller_t *poller = zpoller_new (req, NULL);
    ck_assert_ptr_eq (zpoller_wait (poller, 5000), req);
    msg = zmsg_recv (req);
    ck_assert_uint_eq (zmsg_size (msg), 2);
    ck_assert (zframe_streq (zmsg_first (msg), "KVP1"));
    zmsg_destroy (&msg);
    zpoller_destroy (&poller);
    zsock_destroy (&req);
    //  No worker yet: all partitions unowned, routed ops 32777.
    reply = s_status (client);
    ck_assert_int_eq (tk_get_uint (reply->map, "partitions"), 8);
    const msgpack_object *unowned = tk_get (reply->map, "unowned");
    ck_assert_uint_eq (unowned->via.array.size, 8);
    ck_assert_uint_eq (unowned->via.array.ptr [7].via.u64, 7);
    tk_reply_destroy (&reply);
    kvp_guid_t guid;
    kvp_guid_random (&guid);
    s_send_target (client, "GetSystem", guid.text, 5);
    reply = tk_recv (client, 5000);
    ck_assert_int_eq (tk_rc (reply), KVP_RC_NOT_AVAILABLE);
    ck_assert_str_eq (tk_get_str (reply->map, "error"), "no live worker");
    ck_assert_int_eq (tk_get_uint (reply->map, "rid"), 5);
    tk_reply_destroy (&reply);
    zsock_destroy (&client);
    s_broker_teardown ();
}
END_TEST

START_TEST (test_socket_routing)
{
    s_broker_setup (S_FAST);
    zsock_t *client = tk_dealer (s_cluster->clients);
    fw_t *worker = fw_new (s_cluster, "w0", "tok0");
    uint32_t parts [8];
    ck_assert_uint_eq (fw_register (worker, 0, NULL, 0, parts, 8), 0);
    ck_assert (s_wait_alive (client, "w0", true, 5000));

    //  First request for partition 3: ASSIGN [3], then the REQUEST.
    kvp_guid_t guid;
    s_guid_in (&guid, 3, 8);
    s_send_target (client, "GetSystem", guid.text, 1001);
    zmsg_t *assign = fw_expect (worker, KVP_W_ASSIGN, true);
    ck_assert_uint_eq (fw_partitions (assign, parts, 8, NULL), 1);
    ck_assert_uint_eq (parts [0], 3);
    zmsg_destroy (&assign);
    fw_request_t req = fw_take_request (worker, true);
    ck_assert_uint_eq (req.part, 3);
    ck_assert_str_eq (req.guid, guid.text);
    fw_answer (worker, &req, 0);
    tk_reply_t *reply = s_wait_reply (client, worker, 5000);
    ck_assert_int_eq (tk_rc (reply), 0);
    ck_assert_int_eq (tk_get_uint (reply->map, "rid"), 1001);
    tk_reply_destroy (&reply);

    //  DefineSystem without id: the broker makes the guid.
    tk_body_t body;
    tk_body_begin (&body, "DefineSystem", 2);
    tk_pack_kv_str (&body.pk, "name", "vm");
    tk_pack_kv_uint (&body.pk, "rid", 1002);
    tk_send (client, &body);
    tk_body_end (&body);
    zmsg_t *msg = fw_recv (worker, 5000, true);
    char *command = zmsg_popstr (msg);
    if (streq (command, KVP_W_ASSIGN)) {    //  a new partition, maybe
        zmsg_destroy (&msg);
        msg = fw_recv (worker, 5000, true);
        free (command);
        command = zmsg_popstr (msg);
    }
    ck_assert_str_eq (command, KVP_W_REQUEST);
    free (command);
    zmsg_first (msg);                       //  tag
    zframe_t *part_frame = zmsg_next (msg);
    zframe_t *guid_frame = zmsg_next (msg);
    kvp_guid_t made;
    ck_assert (kvp_guid_parse (&made, (char *) zframe_data (guid_frame),
                               zframe_size (guid_frame)));
    ck_assert_uint_eq (kvp_get_u32 (zframe_data (part_frame)),
                       kvp_guid_partition (&made, 8));
    zmsg_destroy (&msg);

    //  GetJob routes by the job id's partition, with an empty guid frame.
    char job [KVP_JOBID_MAX + 1];
    kvp_jobid_format (job, 3, 1, 9);
    tk_body_begin (&body, "GetJob", 1);
    tk_pack_kv_str (&body.pk, "job", job);
    tk_send (client, &body);
    tk_body_end (&body);
    req = fw_take_request (worker, true);
    ck_assert_uint_eq (req.part, 3);
    ck_assert_str_eq (req.guid, "");
    fw_answer (worker, &req, 0);
    reply = s_wait_reply (client, worker, 5000);
    ck_assert_int_eq (tk_rc (reply), 0);
    tk_reply_destroy (&reply);
    //  A job in a partition past N is unknown.
    kvp_jobid_format (job, 9, 1, 1);
    tk_body_begin (&body, "GetJob", 1);
    tk_pack_kv_str (&body.pk, "job", job);
    reply = tk_call (client, &body, 5000);
    ck_assert_int_eq (tk_rc (reply), KVP_RC_INVALID_PARAM);
    tk_reply_destroy (&reply);

    //  ClusterStatus shows the owner and the rest unowned.
    reply = s_status (client);
    bool alive;
    size_t count;
    ck_assert (s_status_worker (reply, "w0", &alive, parts, &count));
    ck_assert (alive);
    ck_assert_uint_ge (count, 1);
    bool has3 = false;
    for (size_t i = 0; i < count; i++)
        has3 |= parts [i] == 3;
    ck_assert (has3);
    const msgpack_object *unowned = tk_get (reply->map, "unowned");
    ck_assert_uint_eq (unowned->via.array.size + count, 8);
    tk_reply_destroy (&reply);
    fw_destroy (&worker);
    zsock_destroy (&client);
    s_broker_teardown ();
}
END_TEST

START_TEST (test_socket_worker_down)
{
    zsock_t *client;
    fw_t *worker;
    kvp_guid_t guid;
    uint32_t parts [8];
    s_one_start (S_FAST, 5, &client, &worker, &guid, parts);
    fw_request_t req = s_one_route (client, worker, &guid, 2001);
    //  The worker falls silent with the request in flight.
    int64_t start = zclock_mono ();
    tk_reply_t *reply = tk_recv (client, 5000);
    ck_assert_int_eq (tk_rc (reply), KVP_RC_STATUS_UNKNOWN);
    ck_assert_int_eq (tk_get_uint (reply->map, "rid"), 2001);
    ck_assert (strstr (tk_get_str (reply->map, "error"), "w0"));
    ck_assert_int_lt (zclock_mono () - start, 2000);
    tk_reply_destroy (&reply);
    //  Sticky: the partition stays w0's, so requests get 32777.
    s_send_target (client, "GetSystem", guid.text, 2002);
    reply = tk_recv (client, 5000);
    ck_assert_int_eq (tk_rc (reply), KVP_RC_NOT_AVAILABLE);
    ck_assert_str_eq (tk_get_str (reply->map, "error"),
                      "partition 5: worker w0 is down");
    tk_reply_destroy (&reply);
    //  Its late reply is dropped; its next message is told to register.
    fw_answer (worker, &req, 0);
    char error [128];
    fw_expect_refuse (worker, error, sizeof error);
    ck_assert_str_eq (error, "unknown worker, register first");
    //  Registering again brings partition 5 back with it.
    size_t count = fw_register (worker, 8, parts, 0, parts, 8);
    ck_assert_uint_eq (count, 1);
    ck_assert_uint_eq (parts [0], 5);
    ck_assert (s_wait_alive (client, "w0", true, 5000));
    //  BYE: down at once.
    zstr_send (worker->sock, KVP_W_BYE);
    ck_assert (s_wait_alive (client, "w0", false, 5000));
    s_one_stop (&worker, &client);
}
END_TEST

START_TEST (test_socket_deadline)
{
    zsock_t *client;
    fw_t *worker;
    kvp_guid_t guid;
    s_one_start (S_FAST, 1, &client, &worker, &guid, NULL);
    int64_t start = zclock_mono ();
    fw_request_t req = s_one_route (client, worker, &guid, 3001);
    //  Alive (heartbeating) but never answering: 32772 after --deadline.
    tk_reply_t *reply = s_wait_reply (client, worker, 5000);
    ck_assert_int_eq (tk_rc (reply), KVP_RC_TIMEOUT);
    ck_assert_int_eq (tk_get_uint (reply->map, "rid"), 3001);
    ck_assert_int_ge (zclock_mono () - start, 1000);
    tk_reply_destroy (&reply);
    //  The late answer is dropped: no second reply.
    fw_answer (worker, &req, 0);
    ck_assert_ptr_null (s_wait_reply (client, worker, 300));
    //  And the worker is still in service.
    s_send_target (client, "GetSystem", guid.text, 3002);
    req = fw_take_request (worker, true);
    fw_answer (worker, &req, 0);
    reply = s_wait_reply (client, worker, 5000);
    ck_assert_int_eq (tk_rc (reply), 0);
    ck_assert_int_eq (tk_get_uint (reply->map, "rid"), 3002);
    tk_reply_destroy (&reply);
    s_one_stop (&worker, &client);
}
END_TEST

START_TEST (test_socket_queue_limit)
{
    zsock_t *client;
    fw_t *worker;
    kvp_guid_t guid;
    s_one_start (S_FAST " --queue-limit 1024", 2, &client, &worker, &guid, NULL);
    //  1024 requests fill the queue; the 1025th is refused at once.
    for (int i = 0; i <= 1024; i++)
        s_send_target (client, "GetSystem", guid.text, (uint64_t) i);
    tk_reply_t *reply = s_wait_reply (client, worker, 5000);
    ck_assert_int_eq (tk_rc (reply), KVP_RC_IN_USE);
    ck_assert_int_eq (tk_get_uint (reply->map, "rid"), 1024);
    tk_reply_destroy (&reply);
    //  A malformed body gets its own fault, not 32774.
    s_send_bad_items (client, guid.text, 5000);
    s_expect_rc (client, worker, 5000, KVP_RC_INCORRECT_TYPE);
    s_one_stop (&worker, &client);
}
END_TEST

START_TEST (test_socket_refusals)
{
    s_broker_setup (S_FAST);
    zsock_t *client = tk_dealer (s_cluster->clients);
    char error [128];
    //  Anything before REGISTER: told to register.
    fw_t *early = fw_new (s_cluster, "early", "tok");
    fw_heartbeat (early);
    fw_expect_refuse (early, error, sizeof error);
    ck_assert_str_eq (error, "unknown worker, register first");
    fw_destroy (&early);

    fw_t *w0 = fw_new (s_cluster, "w0", "tok0");
    uint32_t parts [8];
    fw_register (w0, 0, NULL, 0, parts, 8);
    kvp_guid_t guid;
    s_guid_in (&guid, 6, 8);
    s_send_target (client, "GetSystem", guid.text, 1);
    zmsg_t *assign = fw_expect (w0, KVP_W_ASSIGN, true);
    zmsg_destroy (&assign);
    fw_request_t req = fw_take_request (w0, true);
    fw_answer (w0, &req, 0);
    tk_reply_t *reply = s_wait_reply (client, w0, 5000);
    tk_reply_destroy (&reply);

    //  Another worker claiming w0's partition: a fork, refused.
    fw_t *w1 = fw_new (s_cluster, "w1", "tok1");
    uint32_t claim [] = { 6 };
    fw_send_register (w1, 8, claim, 1);
    fw_expect_refuse (w1, error, sizeof error);
    ck_assert_str_eq (error, "fatal: partition 6 belongs to w0");
    //  Another partition count.
    fw_send_register (w1, 16, NULL, 0);
    fw_expect_refuse (w1, error, sizeof error);
    ck_assert_str_eq (error, "fatal: partition count mismatch");
    fw_destroy (&w1);
    //  w0's name from another data directory.
    fw_t *twin = fw_new (s_cluster, "w0", "other");
    fw_send_register (twin, 0, NULL, 0);
    fw_expect_refuse (twin, error, sizeof error);
    ck_assert_str_eq (error,
                      "fatal: worker id w0 is bound to another data directory");
    fw_destroy (&twin);
    //  w0's name and token while w0 is connected and alive.
    twin = fw_new (s_cluster, "w0", "tok0");
    fw_send_register (twin, 8, NULL, 0);
    fw_expect_refuse (twin, error, sizeof error);
    ck_assert_str_eq (error, "fatal: worker w0 is already registered");
    fw_destroy (&twin);
    //  Once w0's connection is gone, its successor takes over at once.
    fw_destroy (&w0);
    fw_t *next = fw_new (s_cluster, "w0", "tok0");
    int64_t until = zclock_mono () + 5000;
    size_t count = 0;
    bool welcomed = false;
    while (!welcomed && zclock_mono () < until) {
        fw_send_register (next, 8, claim, 1);
        zmsg_t *msg = fw_recv (next, 1000, false);
        ck_assert_ptr_nonnull (msg);
        char *command = zmsg_popstr (msg);
        welcomed = streq (command, KVP_W_WELCOME);
        if (welcomed)
            count = fw_partitions (msg, parts, 8, NULL);
        free (command);
        zmsg_destroy (&msg);
    }
    ck_assert (welcomed);
    ck_assert_uint_eq (count, 1);
    ck_assert_uint_eq (parts [0], 6);
    fw_destroy (&next);
    zsock_destroy (&client);
    s_broker_teardown ();
}
END_TEST

START_TEST (test_socket_restart)
{
    zsock_t *client;
    fw_t *worker;
    kvp_guid_t guid;
    uint32_t parts [8];
    s_one_start (S_FAST, 4, &client, &worker, &guid, parts);
    fw_request_t req = s_one_route (client, worker, &guid, 1);
    fw_answer (worker, &req, 0);
    tk_reply_t *reply = s_wait_reply (client, worker, 5000);
    ck_assert_int_eq (tk_rc (reply), 0);
    tk_reply_destroy (&reply);
    fw_destroy (&worker);
    zsock_destroy (&client);

    //  SIGTERM: a clean stop, exit 0.
    int status = tk_stop (s_cluster->broker, SIGTERM, 10000);
    s_cluster->broker = 0;
    ck_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    //  Another --partitions on the same data: refused, exit 2.
    char data [300], out [256];
    snprintf (data, sizeof data, "%s/broker", s_cluster->dir);
    ck_assert_int_eq (tk_run (out, sizeof out, "kvp-broker", "--data", data,
                              "--partitions", "16", "--clients",
                              s_cluster->clients, NULL), 2);
    //  Restarted: w0 known, owning 4, not alive until it registers.
    tk_broker_start (s_cluster);
    client = tk_dealer (s_cluster->clients);
    reply = tk_recv (client, 0);            //  nothing pending
    ck_assert_ptr_null (reply);
    tk_body_t body;
    tk_body_begin (&body, "ClusterStatus", 0);
    reply = tk_call (client, &body, 10000);
    ck_assert_int_eq (tk_rc (reply), 0);
    bool alive = true;
    size_t count;
    ck_assert (s_status_worker (reply, "w0", &alive, parts, &count));
    ck_assert (!alive);
    ck_assert_uint_eq (count, 1);
    ck_assert_uint_eq (parts [0], 4);
    tk_reply_destroy (&reply);
    s_send_target (client, "GetSystem", guid.text, 2);
    reply = tk_recv (client, 5000);
    ck_assert_int_eq (tk_rc (reply), KVP_RC_NOT_AVAILABLE);
    tk_reply_destroy (&reply);
    worker = fw_new (s_cluster, "w0", "tok0");
    uint32_t claim [] = { 4 };
    count = fw_register (worker, 8, claim, 1, parts, 8);
    ck_assert_uint_eq (count, 1);
    ck_assert_uint_eq (parts [0], 4);
    ck_assert (s_wait_alive (client, "w0", true, 5000));
    //  A second broker on the same ports cannot bind: exit 1.
    snprintf (data, sizeof data, "%s/other", s_cluster->dir);
    ck_assert_int_eq (tk_run (out, sizeof out, "kvp-broker", "--data", data,
                              "--clients", s_cluster->clients, NULL), 1);
    s_one_stop (&worker, &client);
}
END_TEST

//  Events go PUB -> events-in -> events -> SUB, subscriptions the other
//  way (the PUB filters, so a topic nobody wants never arrives).
START_TEST (test_socket_events)
{
    s_broker_setup (S_FAST);
    char endpoint [80];
    snprintf (endpoint, sizeof endpoint, ">%s", s_cluster->events_in);
    zsock_t *pub = zsock_new_pub (endpoint);
    zsock_t *sub = zsock_new_sub (s_cluster->events, "job/");
    ck_assert (pub && sub);
    zsock_set_linger (pub, 0);
    zsock_set_linger (sub, 0);
    zpoller_t *poller = zpoller_new (sub, NULL);
    int64_t until = zclock_mono () + 10000;
    char *topic = NULL, *body = NULL;
    //  Publish until the subscription has made it through the proxy.
    while (!topic && zclock_mono () < until) {
        zstr_sendx (pub, "other/x", "no", NULL);
        zstr_sendx (pub, "job/abc", "yes", NULL);
        if (zpoller_wait (poller, 50))
            zstr_recvx (sub, &topic, &body, NULL);
    }
    ck_assert_ptr_nonnull (topic);
    ck_assert_str_eq (topic, "job/abc");
    ck_assert_str_eq (body, "yes");
    zstr_free (&topic);
    zstr_free (&body);
    zpoller_destroy (&poller);
    zsock_destroy (&pub);
    zsock_destroy (&sub);
    s_broker_teardown ();
}
END_TEST

//  SIGTERM with requests in flight: the answered one is delivered, the
//  other gets 32772 at its deadline, then the broker exits 0.
START_TEST (test_socket_drain)
{
    zsock_t *client;
    fw_t *worker;
    kvp_guid_t guid;
    s_one_start (S_FAST, 0, &client, &worker, &guid, NULL);
    s_send_target (client, "GetSystem", guid.text, 1);
    s_send_target (client, "GetSystem", guid.text, 2);
    zmsg_t *assign = fw_expect (worker, KVP_W_ASSIGN, true);
    zmsg_destroy (&assign);
    fw_request_t first = fw_take_request (worker, true);
    fw_request_t second = fw_take_request (worker, true);
    ck_assert_int_eq (kill (s_cluster->broker, SIGTERM), 0);
    fw_answer (worker, &first, 0);
    tk_reply_t *reply = s_wait_reply (client, worker, 5000);
    ck_assert_int_eq (tk_rc (reply), 0);
    ck_assert_int_eq (tk_get_uint (reply->map, "rid"), 1);
    tk_reply_destroy (&reply);
    reply = s_wait_reply (client, worker, 5000);
    ck_assert_int_eq (tk_rc (reply), KVP_RC_TIMEOUT);
    ck_assert_int_eq (tk_get_uint (reply->map, "rid"), 2);
    tk_reply_destroy (&reply);
    zmsg_destroy (&second.msg);
    int status = tk_stop (s_cluster->broker, SIGTERM, 10000);
    s_cluster->broker = 0;
    ck_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    s_one_stop (&worker, &client);
}
END_TEST

//  Bodies the light scan routes without the full decode: a fault in them
//  reaches the owner; but before the broker answers by itself (no live
//  worker, owner down) or assigns a partition, it decodes, so the client
//  gets the body's fault code first, as the spec orders them.
START_TEST (test_socket_light)
{
    s_broker_setup (S_FAST);
    zsock_t *client = tk_dealer (s_cluster->clients);
    kvp_guid_t guid;
    s_guid_in (&guid, 2, 8);
    //  No worker at all: the body's fault, not 32777.
    s_send_bad_items (client, guid.text, 1);
    s_expect_rc (client, NULL, 1, KVP_RC_INCORRECT_TYPE);
    tk_body_t body;
    tk_body_begin (&body, "DefineSystem", 3);
    tk_pack_kv_str (&body.pk, "id", guid.text);
    tk_pack_kv_uint (&body.pk, "name", 7);
    tk_pack_kv_uint (&body.pk, "rid", 2);
    tk_send (client, &body);
    tk_body_end (&body);
    s_expect_rc (client, NULL, 2, KVP_RC_INCORRECT_TYPE);
    tk_body_begin (&body, "RemoveKvpItems", 2);
    tk_pack_kv_str (&body.pk, "target", guid.text);
    tk_pack_kv_uint (&body.pk, "rid", 3);
    tk_send (client, &body);
    tk_body_end (&body);
    ck_assert_str_eq (s_expect_rc (client, NULL, 3, KVP_RC_INVALID_PARAM),
                      "missing field items");
    s_send_target (client, "GetSystem", guid.text, 4);
    ck_assert_str_eq (s_expect_rc (client, NULL, 4, KVP_RC_NOT_AVAILABLE),
                      "no live worker");
    //  A GetJob past N with a rid of the wrong type: 32776 first.
    char job [KVP_JOBID_MAX + 1];
    kvp_jobid_format (job, 9, 1, 1);
    tk_body_begin (&body, "GetJob", 2);
    tk_pack_kv_str (&body.pk, "job", job);
    tk_pack_str (&body.pk, "rid");
    msgpack_pack_array (&body.pk, 0);
    tk_reply_t *reply = tk_call (client, &body, 5000);
    ck_assert_int_eq (tk_rc (reply), KVP_RC_INCORRECT_TYPE);
    tk_reply_destroy (&reply);

    //  A live worker: a malformed body assigns no partition.
    fw_t *worker = fw_new (s_cluster, "w0", "tok0");
    uint32_t parts [8];
    fw_register (worker, 0, NULL, 0, parts, 8);
    ck_assert (s_wait_alive (client, "w0", true, 5000));
    s_send_bad_items (client, guid.text, 10);
    s_expect_rc (client, worker, 10, KVP_RC_INCORRECT_TYPE);
    reply = s_status (client);
    ck_assert_uint_eq (tk_get (reply->map, "unowned")->via.array.size, 8);
    tk_reply_destroy (&reply);
    //  A good one does; after that, the malformed body goes to the owner
    //  as sent, and the owner's answer comes back.
    s_send_target (client, "GetSystem", guid.text, 11);
    zmsg_t *assign = fw_expect (worker, KVP_W_ASSIGN, true);
    zmsg_destroy (&assign);
    fw_request_t req = fw_take_request (worker, true);
    fw_answer (worker, &req, 0);
    s_expect_rc (client, worker, 11, 0);
    s_send_bad_items (client, guid.text, 12);
    req = fw_take_request (worker, true);
    ck_assert_uint_eq (req.part, 2);
    ck_assert_str_eq (req.guid, guid.text);
    zframe_t *sent = zmsg_last (req.msg);
    ck_assert_int_eq (kvp_request_decode (worker->request, zframe_data (sent),
                                          zframe_size (sent)),
                      KVP_RC_INCORRECT_TYPE);
    fw_answer (worker, &req, KVP_RC_INCORRECT_TYPE);
    s_expect_rc (client, worker, 12, KVP_RC_INCORRECT_TYPE);

    //  The owner down: the body's fault first, then 32777 for a good one.
    zstr_send (worker->sock, KVP_W_BYE);
    ck_assert (s_wait_alive (client, "w0", false, 5000));
    s_send_bad_items (client, guid.text, 13);
    s_expect_rc (client, NULL, 13, KVP_RC_INCORRECT_TYPE);
    s_send_target (client, "GetSystem", guid.text, 14);
    ck_assert_str_eq (s_expect_rc (client, NULL, 14, KVP_RC_NOT_AVAILABLE),
                      "partition 2: worker w0 is down");
    fw_destroy (&worker);
    zsock_destroy (&client);
    s_broker_teardown ();
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("broker_sock");
    TCase *tc = tcase_create ("socket");
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc, test_socket_envelopes);
    tcase_add_test (tc, test_socket_routing);
    tcase_add_test (tc, test_socket_worker_down);
    tcase_add_test (tc, test_socket_deadline);
    tcase_add_test (tc, test_socket_queue_limit);
    tcase_add_test (tc, test_socket_refusals);
    tcase_add_test (tc, test_socket_restart);
    tcase_add_test (tc, test_socket_events);
    tcase_add_test (tc, test_socket_drain);
    tcase_add_test (tc, test_socket_light);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
