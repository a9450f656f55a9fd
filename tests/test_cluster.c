/*  test_cluster.c - a real broker and two real workers on 127.0.0.1, driven
    over the wire: the end-to-end promises of KVP/1.
*/
#include <check.h>
#include <signal.h>
#include "kvp_testkit.h"

static tk_cluster_t *cluster;
static zsock_t *client;

static void
s_setup (void)
{
    cluster = tk_cluster_new (2);
    ck_assert_msg (tk_cluster_start (cluster), "cluster did not come up");
    client = tk_dealer (cluster->clients);
}

static void
s_teardown (void)
{
    zsock_destroy (&client);
    tk_cluster_destroy (&cluster);
}

//  GetKvpItems of `target`; the reply (caller destroys).
static tk_reply_t *
s_get_items (zsock_t *sock, const char *target)
{
    tk_body_t body;
    tk_body_begin (&body, "GetKvpItems", 1);
    tk_pack_kv_str (&body.pk, "target", target);
    return tk_call (sock, &body, 10000);
}

//  Does `items` (an array of item maps) hold Name=Data for Source?
static bool
s_has_item (const msgpack_object *items, unsigned source, const char *name,
            const char *data)
{
    if (!items || items->type != MSGPACK_OBJECT_ARRAY)
        return false;
    for (uint32_t i = 0; i < items->via.array.size; i++) {
        const msgpack_object *it = &items->via.array.ptr [i];
        if (tk_get_uint (it, "Source") != source)
            continue;
        if (strcmp (tk_get_str (it, "Name"), name) != 0)
            continue;
        return strcmp (tk_get_str (it, "Data"), data) == 0;
    }
    return false;
}

START_TEST (test_define_add_get_job)
{
    char id [37], job [65];
    ck_assert_int_eq (tk_define (client, "web01", id), 0);
    ck_assert_int_eq (strlen (id), 36);

    //  Two items in one AddKvpItems.
    tk_body_t body;
    tk_body_begin (&body, "AddKvpItems", 3);
    tk_pack_kv_str (&body.pk, "target", id);
    tk_pack_str (&body.pk, "items");
    msgpack_pack_array (&body.pk, 2);
    tk_pack_item (&body.pk, 0, "ip", "10.0.0.5");
    tk_pack_item (&body.pk, 4, "role", "web");
    tk_pack_kv_uint (&body.pk, "rid", 77);
    tk_reply_t *reply = tk_call (client, &body, 10000);
    ck_assert_ptr_nonnull (reply);
    ck_assert_int_eq (tk_rc (reply), 4096);
    ck_assert_int_eq (tk_get_uint (reply->map, "rid"), 77);
    const msgpack_object *jobmap = tk_get (reply->map, "job");
    ck_assert_int_eq (tk_get_uint (jobmap, "JobState"), 7);
    ck_assert_int_eq (tk_get_uint (jobmap, "ErrorCode"), 0);
    ck_assert_str_eq (tk_get_str (jobmap, "JobType"), "AddKvpItems");
    ck_assert_str_eq (tk_get_str (jobmap, "TargetSystem"), id);
    ck_assert_int_gt (tk_get_uint (jobmap, "TimeSubmitted"), 1700000000000LL);
    snprintf (job, sizeof job, "%s", tk_get_str (jobmap, "InstanceID"));
    ck_assert_int_gt (strlen (job), 0);
    tk_reply_destroy (&reply);

    reply = s_get_items (client, id);
    ck_assert_int_eq (tk_rc (reply), 0);
    const msgpack_object *items = tk_get (reply->map, "items");
    ck_assert_int_eq (items->via.array.size, 2);
    ck_assert (s_has_item (items, 0, "ip", "10.0.0.5"));
    ck_assert (s_has_item (items, 4, "role", "web"));
    //  Sorted by Source, then Name.
    ck_assert_int_eq (tk_get_uint (&items->via.array.ptr [0], "Source"), 0);
    tk_reply_destroy (&reply);

    tk_body_begin (&body, "GetJob", 1);
    tk_pack_kv_str (&body.pk, "job", job);
    reply = tk_call (client, &body, 10000);
    ck_assert_int_eq (tk_rc (reply), 0);
    jobmap = tk_get (reply->map, "job");
    ck_assert_str_eq (tk_get_str (jobmap, "InstanceID"), job);
    ck_assert_int_eq (tk_get_uint (jobmap, "JobState"), 7);
    tk_reply_destroy (&reply);

    //  All-or-nothing: one new item and one existing -> failed job, no change.
    tk_body_begin (&body, "AddKvpItems", 2);
    tk_pack_kv_str (&body.pk, "target", id);
    tk_pack_str (&body.pk, "items");
    msgpack_pack_array (&body.pk, 2);
    tk_pack_item (&body.pk, 0, "new", "x");
    tk_pack_item (&body.pk, 0, "ip", "10.9.9.9");
    reply = tk_call (client, &body, 10000);
    ck_assert_int_eq (tk_rc (reply), 4096);
    jobmap = tk_get (reply->map, "job");
    ck_assert_int_eq (tk_get_uint (jobmap, "JobState"), 10);
    ck_assert_int_eq (tk_get_uint (jobmap, "ErrorCode"), 32768);
    ck_assert_ptr_nonnull (strstr (tk_get_str (jobmap, "ErrorDescription"), "ip"));
    tk_reply_destroy (&reply);
    reply = s_get_items (client, id);
    items = tk_get (reply->map, "items");
    ck_assert_int_eq (items->via.array.size, 2);
    ck_assert (s_has_item (items, 0, "ip", "10.0.0.5"));
    tk_reply_destroy (&reply);

    //  GetSystem
    tk_body_begin (&body, "GetSystem", 1);
    tk_pack_kv_str (&body.pk, "target", id);
    reply = tk_call (client, &body, 10000);
    ck_assert_int_eq (tk_rc (reply), 0);
    ck_assert_str_eq (tk_get_str (reply->map, "name"), "web01");
    ck_assert_str_eq (tk_get_str (reply->map, "id"), id);
    const msgpack_object *dee = tk_get (reply->map, "DataExchangeEnabled");
    ck_assert (dee && dee->type == MSGPACK_OBJECT_BOOLEAN && dee->via.boolean);
    tk_reply_destroy (&reply);
}
END_TEST

START_TEST (test_local_ops_and_errors)
{
    tk_body_t body;
    tk_body_begin (&body, "Ping", 1);
    tk_pack_kv_str (&body.pk, "rid", "abc");
    tk_reply_t *reply = tk_call (client, &body, 5000);
    ck_assert_int_eq (tk_rc (reply), 0);
    ck_assert_str_eq (tk_get_str (reply->map, "rid"), "abc");
    tk_reply_destroy (&reply);

    tk_body_begin (&body, "NoSuchOp", 0);
    reply = tk_call (client, &body, 5000);
    ck_assert_int_eq (tk_rc (reply), 32770);
    ck_assert_int_gt (strlen (tk_get_str (reply->map, "error")), 0);
    tk_reply_destroy (&reply);

    //  Unknown system.
    tk_body_begin (&body, "GetKvpItems", 1);
    tk_pack_kv_str (&body.pk, "target", "00000000-0000-0000-0000-000000000001");
    reply = tk_call (client, &body, 10000);
    ck_assert_int_eq (tk_rc (reply), 32773);
    tk_reply_destroy (&reply);

    //  A message that is not KVP/1 at all still gets an answer.
    const void *data [2] = { "", "hello" };
    size_t sizes [2] = { 0, 5 };
    tk_send_frames (client, 2, data, sizes);
    reply = tk_recv (client, 5000);
    ck_assert_int_eq (tk_rc (reply), 32773);
    tk_reply_destroy (&reply);

    //  ClusterStatus: both workers alive; all 64 partitions accounted for.
    tk_body_begin (&body, "ClusterStatus", 0);
    reply = tk_call (client, &body, 5000);
    ck_assert_int_eq (tk_rc (reply), 0);
    ck_assert_int_eq (tk_get_uint (reply->map, "partitions"), 64);
    const msgpack_object *workers = tk_get (reply->map, "workers");
    const msgpack_object *unowned = tk_get (reply->map, "unowned");
    ck_assert_int_eq (workers->via.array.size, 2);
    uint32_t owned = 0;
    for (uint32_t i = 0; i < workers->via.array.size; i++)
        owned += tk_get (&workers->via.array.ptr [i], "partitions")->via.array.size;
    ck_assert_int_eq (owned + unowned->via.array.size, 64);
    tk_reply_destroy (&reply);
}
END_TEST

//  Every job gives exactly one event, and each partition's seq is 1, 2, ...
START_TEST (test_events_contiguous)
{
    zsock_t *sub = zsock_new_sub (cluster->events, "job/");
    ck_assert_ptr_nonnull (sub);
    //  Wait until the subscription has reached the workers: send Adds on a
    //  probe system until one event arrives (bounded).
    char probe [37];
    ck_assert_int_eq (tk_define (client, "probe", probe), 0);
    bool through = false;
    for (int i = 0; i < 100 && !through; i++) {
        char name [32];
        snprintf (name, sizeof name, "probe%d", i);
        tk_add1 (client, "AddKvpItems", probe, 0, name, "x", NULL, NULL, NULL);
        zpoller_t *poller = zpoller_new (sub, NULL);
        if (zpoller_wait (poller, 100)) {
            through = true;
            zmsg_t *msg = zmsg_recv (sub);
            zmsg_destroy (&msg);
        }
        zpoller_destroy (&poller);
    }
    ck_assert (through);
    //  Drain what the probe produced.
    zpoller_t *poller = zpoller_new (sub, NULL);
    while (zpoller_wait (poller, 300)) {
        zmsg_t *msg = zmsg_recv (sub);
        zmsg_destroy (&msg);
    }

    enum { SYSTEMS = 8, JOBS = 200 };
    char ids [SYSTEMS][37];
    for (int s = 0; s < SYSTEMS; s++)
        ck_assert_int_eq (tk_define (client, "ev", ids [s]), 0);
    char jobs [JOBS][65];
    for (int j = 0; j < JOBS; j++) {
        char name [32];
        snprintf (name, sizeof name, "k%d", j);
        //  Every tenth job fails: it adds the name job j - SYSTEMS already
        //  added to the same system. Failed jobs get their events too.
        if (j % 10 == 9)
            snprintf (name, sizeof name, "k%d", j - SYSTEMS);
        ck_assert_int_eq (tk_add1 (client, "AddKvpItems", ids [j % SYSTEMS], 0,
                                   name, "v", NULL, jobs [j], NULL), 4096);
    }
    //  Collect the events: exactly one per job id, and per partition the
    //  seq values must be consecutive.
    zhashx_t *seen = zhashx_new ();
    uint64_t last_seq [64] = { 0 };
    int events = 0;
    while (events < JOBS && zpoller_wait (poller, 5000)) {
        zmsg_t *msg = zmsg_recv (sub);
        char *topic = zmsg_popstr (msg);
        zframe_t *frame = zmsg_pop (msg);
        msgpack_unpacked unp;
        msgpack_unpacked_init (&unp);
        size_t off = 0;
        ck_assert_int_eq (msgpack_unpack_next (&unp, (const char *) zframe_data (frame),
                                               zframe_size (frame), &off),
                          MSGPACK_UNPACK_SUCCESS);
        const msgpack_object *ev = &unp.data;
        char expect [64];
        snprintf (expect, sizeof expect, "job/%s", tk_get_str (ev, "TargetSystem"));
        ck_assert_str_eq (topic, expect);
        const char *instance = tk_get_str (ev, "InstanceID");
        ck_assert_ptr_null (zhashx_lookup (seen, instance));
        zhashx_insert (seen, instance, (void *) 1);
        int64_t part = tk_get_uint (ev, "partition");
        int64_t seq = tk_get_uint (ev, "seq");
        ck_assert (part >= 0 && part < 64);
        if (last_seq [part])
            ck_assert_int_eq (seq, last_seq [part] + 1);
        last_seq [part] = seq;
        if (tk_get_uint (ev, "JobState") == 7)
            ck_assert_ptr_nonnull (tk_get (ev, "items"));
        events++;
        msgpack_unpacked_destroy (&unp);
        zframe_destroy (&frame);
        zstr_free (&topic);
        zmsg_destroy (&msg);
    }
    ck_assert_int_eq (events, JOBS);
    for (int j = 0; j < JOBS; j++)
        ck_assert_msg (zhashx_lookup (seen, jobs [j]), "no event for job %s", jobs [j]);
    //  And no extra event arrives.
    ck_assert_ptr_null (zpoller_wait (poller, 300));
    zhashx_destroy (&seen);
    zpoller_destroy (&poller);
    zsock_destroy (&sub);
}
END_TEST

//  1,000 requests pipelined on one DEALER: every one answered, by rid.
START_TEST (test_pipelined_thousand)
{
    enum { SYSTEMS = 16, N = 1000 };
    char ids [SYSTEMS][37];
    for (int s = 0; s < SYSTEMS; s++)
        ck_assert_int_eq (tk_define (client, "pipe", ids [s]), 0);
    for (int i = 0; i < N; i++) {
        tk_body_t body;
        tk_body_begin (&body, "AddKvpItems", 3);
        tk_pack_kv_str (&body.pk, "target", ids [i % SYSTEMS]);
        tk_pack_kv_uint (&body.pk, "rid", i);
        tk_pack_str (&body.pk, "items");
        msgpack_pack_array (&body.pk, 1);
        char name [32];
        snprintf (name, sizeof name, "p%d", i);
        tk_pack_item (&body.pk, 0, name, "data");
        tk_send (client, &body);
        tk_body_end (&body);
    }
    static bool answered [N];
    memset (answered, 0, sizeof answered);
    int count = 0;
    tk_reply_t *reply;
    while (count < N && (reply = tk_recv (client, 20000))) {
        int64_t rid = tk_get_uint (reply->map, "rid");
        ck_assert (rid >= 0 && rid < N);
        ck_assert (!answered [rid]);
        answered [rid] = true;
        ck_assert_int_eq (tk_rc (reply), 4096);
        ck_assert_int_eq (tk_get_uint (tk_get (reply->map, "job"), "JobState"), 7);
        tk_reply_destroy (&reply);
        count++;
    }
    ck_assert_int_eq (count, N);
}
END_TEST

//  Kill -9 a worker, restart it on the same folder: every committed item
//  is there, and it serves its partitions again.
START_TEST (test_worker_kill_restart)
{
    enum { SYSTEMS = 12, PER = 10 };
    char ids [SYSTEMS][37];
    for (int s = 0; s < SYSTEMS; s++)
        ck_assert_int_eq (tk_define (client, "crash", ids [s]), 0);
    for (int s = 0; s < SYSTEMS; s++)
        for (int k = 0; k < PER; k++) {
            char name [32], data [32];
            snprintf (name, sizeof name, "n%d", k);
            snprintf (data, sizeof data, "d%d-%d", s, k);
            ck_assert_int_eq (tk_add1 (client, "AddKvpItems", ids [s], 0, name, data,
                                       NULL, NULL, NULL), 4096);
        }
    tk_stop (cluster->workers [0], SIGKILL, 5000);
    cluster->workers [0] = 0;
    ck_assert (tk_wait_alive (cluster, 1, 15000));
    //  While w0 is down its systems answer 32777; the others still work.
    int unavailable = 0;
    for (int s = 0; s < SYSTEMS; s++) {
        tk_reply_t *reply = s_get_items (client, ids [s]);
        int64_t rc = tk_rc (reply);
        ck_assert (rc == 0 || rc == 32777);
        unavailable += rc == 32777;
        tk_reply_destroy (&reply);
    }
    tk_worker_start (cluster, 0);
    ck_assert (tk_wait_alive (cluster, 2, 15000));
    for (int s = 0; s < SYSTEMS; s++) {
        tk_reply_t *reply = s_get_items (client, ids [s]);
        ck_assert_int_eq (tk_rc (reply), 0);
        const msgpack_object *items = tk_get (reply->map, "items");
        ck_assert_int_eq (items->via.array.size, PER);
        for (int k = 0; k < PER; k++) {
            char name [32], data [32];
            snprintf (name, sizeof name, "n%d", k);
            snprintf (data, sizeof data, "d%d-%d", s, k);
            ck_assert (s_has_item (items, 0, name, data));
        }
        tk_reply_destroy (&reply);
    }
    //  With 12 systems over 2 workers, w0 almost surely owned some.
    ck_assert_int_gt (unavailable, 0);
}
END_TEST

//  Restart the broker: ownership is kept, workers come back by themselves.
START_TEST (test_broker_restart)
{
    enum { SYSTEMS = 8 };
    char ids [SYSTEMS][37];
    for (int s = 0; s < SYSTEMS; s++) {
        ck_assert_int_eq (tk_define (client, "b", ids [s]), 0);
        ck_assert_int_eq (tk_add1 (client, "AddKvpItems", ids [s], 0, "before", "1",
                                   NULL, NULL, NULL), 4096);
    }
    ck_assert_int_eq (tk_stop (cluster->broker, SIGKILL, 5000) != -1, 1);
    cluster->broker = 0;
    zsock_destroy (&client);
    tk_broker_start (cluster);
    ck_assert (tk_wait_alive (cluster, 2, 20000));
    client = tk_dealer (cluster->clients);
    for (int s = 0; s < SYSTEMS; s++) {
        tk_reply_t *reply = s_get_items (client, ids [s]);
        ck_assert_int_eq (tk_rc (reply), 0);
        ck_assert (s_has_item (tk_get (reply->map, "items"), 0, "before", "1"));
        tk_reply_destroy (&reply);
        ck_assert_int_eq (tk_add1 (client, "AddKvpItems", ids [s], 0, "after", "2",
                                   NULL, NULL, NULL), 4096);
    }
}
END_TEST

//  The one-minute tour with kvpctl, as the README shows it.
START_TEST (test_kvpctl_tour)
{
    char out [8192], id [64];
    ck_assert_int_eq (tk_run (out, sizeof out, "kvpctl", "--broker", cluster->clients,
                              "define", "--name", "web01", NULL), 0);
    ck_assert_int_eq (sscanf (out, "%63s", id), 1);
    ck_assert_int_eq (strlen (id), 36);
    ck_assert_int_eq (tk_run (out, sizeof out, "kvpctl", "--broker", cluster->clients,
                              "add", id, "ip=10.0.0.5", "role=web", NULL), 0);
    ck_assert_ptr_nonnull (strstr (out, "Completed"));
    char job [65];
    ck_assert_int_eq (sscanf (out, "job %64s", job), 1);
    ck_assert_int_eq (tk_run (out, sizeof out, "kvpctl", "--broker", cluster->clients,
                              "get", id, NULL), 0);
    ck_assert_ptr_nonnull (strstr (out, "ip=10.0.0.5"));
    ck_assert_ptr_nonnull (strstr (out, "role=web"));
    ck_assert_int_eq (tk_run (out, sizeof out, "kvpctl", "--broker", cluster->clients,
                              "job", job, NULL), 0);
    ck_assert_ptr_nonnull (strstr (out, "Completed"));
    //  The same add again fails (keys exist): exit status 1.
    ck_assert_int_eq (tk_run (out, sizeof out, "kvpctl", "--broker", cluster->clients,
                              "add", id, "ip=10.0.0.6", NULL), 1);
    ck_assert_int_eq (tk_run (out, sizeof out, "kvpctl", "--broker", cluster->clients,
                              "--json", "status", NULL), 0);
    ck_assert_ptr_nonnull (strstr (out, "\"partitions\""));
    ck_assert_int_eq (tk_run (out, sizeof out, "kvpctl", "--help", NULL), 0);
    ck_assert_int_eq (tk_run (out, sizeof out, "kvpctl", "--no-such-flag", NULL), 2);
}
END_TEST

//  One GetKvpItems page over the wire: `limit`, after (4, `after`) when
//  it is not NULL.
static tk_reply_t *
s_get_page (const char *target, unsigned limit, const char *after)
{
    tk_body_t body;
    tk_body_begin (&body, "GetKvpItems", after? 3: 2);
    tk_pack_kv_str (&body.pk, "target", target);
    tk_pack_kv_uint (&body.pk, "limit", limit);
    if (after) {
        tk_pack_str (&body.pk, "after");
        msgpack_pack_map (&body.pk, 2);
        tk_pack_kv_uint (&body.pk, "Source", 4);
        tk_pack_kv_str (&body.pk, "Name", after);
    }
    return tk_call (client, &body, 10000);
}

//  A system past 4 MiB of items (300 host-only items of 16000 bytes) stays
//  readable: unpaged it is 32778 saying to page, pages read every item
//  once, in order, and so do kvpctl get and its --json form.
START_TEST (test_big_system_pages)
{
    char id [37];
    ck_assert_int_eq (tk_define (client, "big", id), 0);
    static char data [16001];
    memset (data, 'd', sizeof data - 1);
    for (int r = 0; r < 5; r++) {
        tk_body_t body;
        tk_body_begin (&body, "AddKvpItems", 2);
        tk_pack_kv_str (&body.pk, "target", id);
        tk_pack_str (&body.pk, "items");
        msgpack_pack_array (&body.pk, 60);
        for (int i = 0; i < 60; i++) {
            char name [16];
            snprintf (name, sizeof name, "k%03d", r * 60 + i);
            tk_pack_item (&body.pk, 4, name, data);
        }
        tk_reply_t *reply = tk_call (client, &body, 10000);
        ck_assert_int_eq (tk_rc (reply), 4096);
        tk_reply_destroy (&reply);
    }
    tk_reply_t *reply = s_get_items (client, id);
    ck_assert_int_eq (tk_rc (reply), 32778);
    ck_assert_ptr_nonnull (strstr (tk_get_str (reply->map, "error"),
                                   "page with limit and after"));
    tk_reply_destroy (&reply);
    //  Over the wire: a page full by size, then the rest
    char after [16] = "";
    int next = 0;
    for (int page = 0; page < 2; page++) {
        reply = s_get_page (id, 10000, page? after: NULL);
        ck_assert_int_eq (tk_rc (reply), 0);
        const msgpack_object *more = tk_get (reply->map, "more");
        ck_assert (more && more->via.boolean == (page == 0));
        const msgpack_object *items = tk_get (reply->map, "items");
        for (uint32_t i = 0; i < items->via.array.size; i++, next++) {
            snprintf (after, sizeof after, "k%03d", next);
            ck_assert_str_eq (tk_get_str (&items->via.array.ptr [i], "Name"),
                              after);
        }
        tk_reply_destroy (&reply);
    }
    ck_assert_int_eq (next, 300);
    //  kvpctl get: every item, a line each, in order
    size_t size = 8 * 1024 * 1024;
    char *out = malloc (size);
    ck_assert_int_eq (tk_run (out, size, "kvpctl", "--broker",
                              cluster->clients, "get", id, NULL), 0);
    char *line = out;
    for (int i = 0; i < 300; i++) {
        char head [32];
        snprintf (head, sizeof head, "4 k%03d=dddd", i);
        ck_assert_msg (strncmp (line, head, strlen (head)) == 0,
                       "line %d: %.20s", i, line);
        line = strchr (line, '\n');
        ck_assert_ptr_nonnull (line);
        line++;
    }
    ck_assert_str_eq (line, "");
    //  --json, in pages of 7: one reply with all 300
    ck_assert_int_eq (tk_run (out, size, "kvpctl", "--broker",
                              cluster->clients, "--json", "get", id,
                              "--limit", "7", NULL), 0);
    ck_assert_int_eq (strncmp (out, "{\"rc\":0,\"items\":[{\"", 19), 0);
    int names = 0;
    for (char *at = out; (at = strstr (at, "\"Name\"")); at++)
        names++;
    ck_assert_int_eq (names, 300);
    ck_assert_ptr_nonnull (strstr (out, "\"k299\""));
    free (out);
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("cluster");
    TCase *tc = tcase_create ("end-to-end");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_set_timeout (tc, 120);
    tcase_add_test (tc, test_define_add_get_job);
    tcase_add_test (tc, test_local_ops_and_errors);
    tcase_add_test (tc, test_events_contiguous);
    tcase_add_test (tc, test_pipelined_thousand);
    tcase_add_test (tc, test_worker_kill_restart);
    tcase_add_test (tc, test_broker_restart);
    tcase_add_test (tc, test_kvpctl_tour);
    tcase_add_test (tc, test_big_system_pages);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
