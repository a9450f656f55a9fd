/*  test_retire.c - the surface of replication (spec section 12) on the
    real programs: the broker's --replicas and --min-insync, fixed with
    its folder; ClusterStatus's replicas, min_insync and follows; and
    RetireWorker / kvpctl retire, after which a worker gets no new
    partition.
*/
#include <check.h>
#include <signal.h>
#include "kvp_testkit.h"
#include "kvp_registry.h"
#include "kvp_store.h"

static tk_cluster_t *cluster;
static zsock_t *client;

static void
s_teardown (void)
{
    zsock_destroy (&client);
    tk_cluster_destroy (&cluster);
}

//  Start `nworkers` workers under a broker given `broker_args`, and
//  connect the client.
static void
s_start (int nworkers, const char *broker_args)
{
    cluster = tk_cluster_new (nworkers);
    cluster->broker_args = broker_args;
    ck_assert_msg (tk_cluster_start (cluster), "cluster did not come up");
    client = tk_dealer (cluster->clients);
}

//  Run bin/kvp-broker on the cluster's endpoints, its registry in
//  `folder` under the cluster's, with up to four more arguments (NULL
//  ends them); its exit status (-1 if it still ran after 15 s: killed),
//  stdout and stderr in `out`. For flags it should refuse.
static int
s_broker_run (char *out, size_t size, const char *folder, const char *a,
              const char *b, const char *c, const char *d)
{
    char dir [300];
    snprintf (dir, sizeof dir, "%s/%s", cluster->dir, folder);
    return tk_run_for (15000, out, size, "kvp-broker", "--data", dir,
                       "--clients", cluster->clients, "--workers",
                       cluster->workers_ep, "--events-in", cluster->events_in,
                       "--events", cluster->events, a, b, c, d, NULL);
}

//  Make the registry folder `folder` with N, R and M, as a broker would.
static void
s_registry_make (const char *folder, uint32_t nparts, unsigned replicas,
                 unsigned min_insync)
{
    char dir [300];
    snprintf (dir, sizeof dir, "%s/%s", cluster->dir, folder);
    int rc = 0;
    kvp_registry_t *registry = kvp_registry_new_replicated (
        dir, nparts, replicas, min_insync, &rc);
    ck_assert_msg (registry, "registry: %s", kvp_store_strerror (rc));
    kvp_registry_destroy (&registry);
}

//  ClusterStatus; the reply (the caller destroys it).
static tk_reply_t *
s_status (void)
{
    tk_body_t body;
    tk_body_begin (&body, "ClusterStatus", 0);
    tk_reply_t *reply = tk_call (client, &body, 10000);
    ck_assert_ptr_nonnull (reply);
    ck_assert_int_eq (tk_rc (reply), 0);
    return reply;
}

//  The map of worker `id` in a ClusterStatus reply.
static const msgpack_object *
s_worker (tk_reply_t *reply, const char *id)
{
    const msgpack_object *workers = tk_get (reply->map, "workers");
    ck_assert_ptr_nonnull (workers);
    for (uint32_t i = 0; i < workers->via.array.size; i++) {
        const msgpack_object *worker = &workers->via.array.ptr [i];
        if (streq (tk_get_str (worker, "id"), id))
            return worker;
    }
    ck_abort_msg ("no worker %s in ClusterStatus", id);
    return NULL;
}

//  The array `key` of a worker map, checked to be an array.
static const msgpack_object_array *
s_list (const msgpack_object *worker, const char *key)
{
    const msgpack_object *list = tk_get (worker, key);
    ck_assert_msg (list && list->type == MSGPACK_OBJECT_ARRAY,
                   "%s is not an array", key);
    return &list->via.array;
}

//  Does the array hold partition `part`?
static bool
s_holds (const msgpack_object_array *list, uint64_t part)
{
    for (uint32_t i = 0; i < list->size; i++)
        if (list->ptr [i].via.u64 == part)
            return true;
    return false;
}

//  --- the broker's options -------------------------------------------------

//  Bad values refuse to start (exit 2, the reason on stderr); a folder
//  refuses another R or M, naming what it holds and what was asked.
START_TEST (test_replica_options)
{
    cluster = tk_cluster_new (1);
    char out [8192];
    const char *bad [][4] = {
        { "--replicas", "0", NULL, NULL },
        { "--replicas", "6", NULL, NULL },
        { "--replicas", "three", NULL, NULL },
        { "--replicas", "2", "--min-insync", "3" },
        { "--min-insync", "0", NULL, NULL },
        { "--replace-after", "0", NULL, NULL },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        ck_assert_int_eq (s_broker_run (out, sizeof out, "bad", bad [i][0],
                                        bad [i][1], bad [i][2], bad [i][3]),
                          2);
        const char *flag = bad [i][2] ? bad [i][2] : bad [i][0];
        ck_assert_msg (strstr (out, flag), "case %zu: %s", i, out);
    }
    //  A folder of R 1 and M 1 (the defaults) refuses R 3 ...
    s_registry_make ("one", 64, 1, 1);
    ck_assert_int_eq (s_broker_run (out, sizeof out, "one", "--replicas", "3",
                                    NULL, NULL), 2);
    ck_assert_msg (strstr (out, "made with --partitions 64 --replicas 1 "
                           "--min-insync 1, not --partitions 64 --replicas "
                           "3 --min-insync 2"), "%s", out);
    //  ... and one of R 3 and M 2 refuses M 3, and the default R
    s_registry_make ("three", 64, 3, 2);
    ck_assert_int_eq (s_broker_run (out, sizeof out, "three", "--replicas",
                                    "3", "--min-insync", "3"), 2);
    ck_assert_msg (strstr (out, "made with --partitions 64 --replicas 3 "
                           "--min-insync 2, not --partitions 64 --replicas "
                           "3 --min-insync 3"), "%s", out);
    ck_assert_int_eq (s_broker_run (out, sizeof out, "three", NULL, NULL,
                                    NULL, NULL), 2);
    ck_assert_msg (strstr (out, "--replicas 3 --min-insync 2, not "
                           "--partitions 64 --replicas 1 --min-insync 1"),
                   "%s", out);
}
END_TEST

//  --- ClusterStatus ----------------------------------------------------------

//  One copy (the default): replicas 1, min_insync 1, and every worker's
//  follows empty; partitions what it owns, as before.
START_TEST (test_status_default)
{
    s_start (2, NULL);
    char id [37];
    ck_assert_int_eq (tk_define (client, "a", id), 0);
    tk_reply_t *reply = s_status ();
    ck_assert_int_eq (tk_get_uint (reply->map, "replicas"), 1);
    ck_assert_int_eq (tk_get_uint (reply->map, "min_insync"), 1);
    //  rc and five keys: partitions, replicas, min_insync, workers, unowned
    ck_assert_int_eq (reply->map->via.map.size, 6);
    ck_assert_int_eq (tk_get_uint (reply->map, "partitions"), 64);
    ck_assert_ptr_nonnull (tk_get (reply->map, "unowned"));
    uint32_t owned = 0;
    for (int i = 0; i < 2; i++) {
        const msgpack_object *worker = s_worker (reply, i ? "w1" : "w0");
        ck_assert_int_eq (worker->via.map.size, 4);
        ck_assert_uint_eq (s_list (worker, "follows")->size, 0);
        owned += s_list (worker, "partitions")->size;
    }
    ck_assert_uint_eq (owned, 1);
    tk_reply_destroy (&reply);
}
END_TEST

//  R 3: the top level says 3 and 2; a partition the registry places on
//  three workers is in its leader's partitions and in the two others'
//  follows, kept while a follower is down.
START_TEST (test_status_replicated)
{
    s_start (3, "--replicas 3");
    tk_reply_t *reply = s_status ();
    ck_assert_int_eq (tk_get_uint (reply->map, "replicas"), 3);
    ck_assert_int_eq (tk_get_uint (reply->map, "min_insync"), 2);
    for (int i = 0; i < 3; i++) {
        char name [8];
        snprintf (name, sizeof name, "w%d", i);
        ck_assert_uint_eq (s_list (s_worker (reply, name), "follows")->size,
                           0);
    }
    tk_reply_destroy (&reply);
    //  Place two partitions in the registry while the broker is stopped:
    //  5 on w1, w0, w2 (w1 leads), 9 on w2, w0, w1 (w2 leads). (A
    //  partition placed short of R copies would get one more as soon as
    //  a spare worker is live.)
    ck_assert_int_eq (tk_stop (cluster->broker, SIGTERM, 15000), 0);
    cluster->broker = 0;
    char dir [300];
    snprintf (dir, sizeof dir, "%s/broker", cluster->dir);
    int rc = 0;
    kvp_registry_t *registry = kvp_registry_new_replicated (dir, 64, 3, 2,
                                                            &rc);
    ck_assert_ptr_nonnull (registry);
    kvp_decision_t place = { .type = KVP_DECISION_PLACE, .part = 5,
                             .count = 3, .workers = { "w1", "w0", "w2" } };
    char why [256] = "";
    ck_assert_msg (kvp_registry_apply (registry, &place, why, sizeof why)
                   == 0, "%s", why);
    place = (kvp_decision_t) { .type = KVP_DECISION_PLACE, .part = 9,
                               .count = 3, .workers = { "w2", "w0", "w1" } };
    ck_assert_msg (kvp_registry_apply (registry, &place, why, sizeof why)
                   == 0, "%s", why);
    kvp_registry_destroy (&registry);
    ck_assert (tk_broker_start (cluster));
    ck_assert (tk_wait_alive (cluster, 3, 20000));
    //  w0 is down: it keeps its copies
    ck_assert (tk_stop (cluster->workers [0], SIGKILL, 15000) >= 0);
    cluster->workers [0] = 0;
    ck_assert (tk_wait_alive (cluster, 2, 20000));
    reply = s_status ();
    const msgpack_object *w0 = s_worker (reply, "w0");
    const msgpack_object *w1 = s_worker (reply, "w1");
    const msgpack_object *w2 = s_worker (reply, "w2");
    ck_assert (tk_get (w0, "alive")->type == MSGPACK_OBJECT_BOOLEAN
               && !tk_get (w0, "alive")->via.boolean);
    ck_assert_uint_eq (s_list (w0, "follows")->size, 2);
    ck_assert (s_holds (s_list (w0, "follows"), 5));
    ck_assert (s_holds (s_list (w0, "follows"), 9));
    ck_assert_uint_eq (s_list (w1, "follows")->size, 1);
    ck_assert (s_holds (s_list (w1, "follows"), 9));
    ck_assert (s_holds (s_list (w1, "partitions"), 5));
    ck_assert_uint_eq (s_list (w2, "follows")->size, 1);
    ck_assert (s_holds (s_list (w2, "follows"), 5));
    ck_assert (s_holds (s_list (w2, "partitions"), 9));
    //  Leading is not following
    ck_assert (!s_holds (s_list (w0, "partitions"), 5));
    ck_assert (!s_holds (s_list (w2, "partitions"), 5));
    ck_assert (!s_holds (s_list (w1, "partitions"), 9));
    tk_reply_destroy (&reply);
    //  kvpctl status shows the same, counted
    char out [4096];
    ck_assert_int_eq (tk_run (out, sizeof out, "kvpctl", "--broker",
                              cluster->clients, "status", NULL), 0);
    ck_assert_msg (strstr (out, ", replicas 3 (2 in sync)\n"), "%s", out);
    ck_assert_msg (strstr (out, "PARTITIONS FOLLOWS\n"), "%s", out);
    ck_assert_msg (strstr (out, "\nw0                       no     0          2\n"),
                   "%s", out);
}
END_TEST

//  Poll ClusterStatus (at most timeout_ms) until worker `id` leads `part`.
static bool
s_wait_leads (const char *id, uint64_t part, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 200) {
        tk_reply_t *reply = s_status ();
        bool leads = s_holds (s_list (s_worker (reply, id), "partitions"),
                              part);
        tk_reply_destroy (&reply);
        if (leads)
            return true;
        zclock_sleep (200);
    }
    return false;
}

//  A broker that restarts does not take a leader that has not registered
//  again yet for a lost one: with 5 on w1, w0 (w1 leads) and 9 on w0, w1
//  (w0 leads), w0 registering alone leaves 5 to w1 until the broker has
//  waited a liveness period, and w1 back in time leads it still. A leader
//  that goes silent once registered is replaced as before.
START_TEST (test_restart_keeps_leaders)
{
    s_start (2, "--replicas 2 --liveness 5");
    ck_assert_int_eq (tk_stop (cluster->broker, SIGTERM, 15000), 0);
    cluster->broker = 0;
    ck_assert_int_eq (tk_stop (cluster->workers [1], SIGTERM, 15000), 0);
    cluster->workers [1] = 0;
    char dir [300];
    snprintf (dir, sizeof dir, "%s/broker", cluster->dir);
    int rc = 0;
    kvp_registry_t *registry = kvp_registry_new_replicated (dir, 64, 2, 2,
                                                            &rc);
    ck_assert_ptr_nonnull (registry);
    kvp_decision_t place = { .type = KVP_DECISION_PLACE, .part = 5,
                             .count = 2, .workers = { "w1", "w0" } };
    char why [256] = "";
    ck_assert_msg (kvp_registry_apply (registry, &place, why, sizeof why)
                   == 0, "%s", why);
    place = (kvp_decision_t) { .type = KVP_DECISION_PLACE, .part = 9,
                               .count = 2, .workers = { "w0", "w1" } };
    ck_assert_msg (kvp_registry_apply (registry, &place, why, sizeof why)
                   == 0, "%s", why);
    kvp_registry_destroy (&registry);
    ck_assert (tk_broker_start (cluster));
    ck_assert (tk_wait_alive (cluster, 1, 20000));
    //  w0 alone, well within the liveness period (5 s)
    tk_reply_t *reply = s_status ();
    const msgpack_object *w0 = s_worker (reply, "w0");
    ck_assert (!s_holds (s_list (w0, "partitions"), 5));
    ck_assert (s_holds (s_list (w0, "follows"), 5));
    ck_assert (s_holds (s_list (w0, "partitions"), 9));
    tk_reply_destroy (&reply);
    ck_assert (tk_worker_start (cluster, 1));
    ck_assert (tk_wait_alive (cluster, 2, 20000));
    reply = s_status ();
    w0 = s_worker (reply, "w0");
    const msgpack_object *w1 = s_worker (reply, "w1");
    ck_assert (s_holds (s_list (w1, "partitions"), 5));
    ck_assert (s_holds (s_list (w1, "follows"), 9));
    ck_assert (!s_holds (s_list (w0, "partitions"), 5));
    ck_assert (s_holds (s_list (w0, "partitions"), 9));
    tk_reply_destroy (&reply);
    //  w1 killed: w0 takes 5 once w1 is seen gone
    ck_assert (tk_stop (cluster->workers [1], SIGKILL, 15000) >= 0);
    cluster->workers [1] = 0;
    ck_assert_msg (s_wait_leads ("w0", 5, 20000), "w0 never led 5");
}
END_TEST

//  --- RetireWorker -----------------------------------------------------------

//  kvpctl retire ID: 0 once; then, and for a name nobody registered, an
//  error that changes nothing; the worker gets no new partition, also
//  after a broker restart.
START_TEST (test_retire)
{
    s_start (2, NULL);
    char out [4096];
    ck_assert_int_eq (tk_run_all (out, sizeof out, "kvpctl", "--broker",
                                  cluster->clients, "retire", "w0", NULL), 0);
    ck_assert_int_eq (tk_run_all (out, sizeof out, "kvpctl", "--broker",
                                  cluster->clients, "retire", "w0", NULL), 1);
    ck_assert_msg (strstr (out, "(32775)") && strstr (out, "w0"), "%s", out);
    ck_assert_int_eq (tk_run_all (out, sizeof out, "kvpctl", "--broker",
                                  cluster->clients, "retire", "nobody", NULL),
                      1);
    ck_assert_msg (strstr (out, "(32773)") && strstr (out, "nobody"), "%s",
                   out);
    ck_assert_int_eq (tk_run_all (out, sizeof out, "kvpctl", "--broker",
                                  cluster->clients, "retire", NULL), 2);
    //  Over the wire: the same codes, and `id` checked as a name
    tk_body_t body;
    tk_body_begin (&body, "RetireWorker", 1);
    tk_pack_kv_uint (&body.pk, "id", 7);
    tk_reply_t *reply = tk_call (client, &body, 10000);
    ck_assert_int_eq (tk_rc (reply), 32776);
    tk_reply_destroy (&reply);
    //  Twenty new systems: every partition they take goes to w1
    for (int i = 0; i < 20; i++) {
        char id [37];
        ck_assert_int_eq (tk_define (client, "r", id), 0);
    }
    reply = s_status ();
    ck_assert_uint_eq (s_list (s_worker (reply, "w0"), "partitions")->size,
                       0);
    ck_assert_uint_ge (s_list (s_worker (reply, "w1"), "partitions")->size,
                       10);
    tk_reply_destroy (&reply);
    //  The retirement is in the registry: a restarted broker keeps it
    ck_assert_int_eq (tk_stop (cluster->broker, SIGTERM, 15000), 0);
    ck_assert (tk_broker_start (cluster));
    ck_assert (tk_wait_alive (cluster, 2, 20000));
    ck_assert_int_eq (tk_run_all (out, sizeof out, "kvpctl", "--broker",
                                  cluster->clients, "retire", "w0", NULL), 1);
    ck_assert_msg (strstr (out, "(32775)"), "%s", out);
}
END_TEST

//  With CURVE on, RetireWorker is admin's: a reader or a writer gets
//  32769 and nothing changes.
START_TEST (test_retire_roles)
{
    cluster = tk_cluster_new (1);
    tk_cluster_secure (cluster);
    ck_assert_msg (tk_cluster_start (cluster), "cluster did not come up");
    char out [4096], public [512];
    snprintf (public, sizeof public, "%s",
              tk_key (cluster, NULL, "broker", false));
    const char *roles [] = { "reader", "writer", "admin" };
    for (int i = 0; i < 3; i++) {
        char secret [512];
        snprintf (secret, sizeof secret, "%s",
                  tk_key (cluster, "clients", roles [i], true));
        int rc = tk_run_all (out, sizeof out, "kvpctl", "--broker",
                             cluster->clients, "--curve-secret", secret,
                             "--broker-public", public, "retire", "w0",
                             NULL);
        if (i < 2) {
            ck_assert_int_eq (rc, 1);
            ck_assert_msg (strstr (out, "(32769)"), "%s: %s", roles [i], out);
        }
        else
            ck_assert_msg (rc == 0, "admin: %s", out);
    }
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("retire");
    TCase *tc = tcase_create ("options");
    tcase_add_checked_fixture (tc, NULL, s_teardown);
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc, test_replica_options);
    suite_add_tcase (suite, tc);
    tc = tcase_create ("status");
    tcase_add_checked_fixture (tc, NULL, s_teardown);
    tcase_set_timeout (tc, 120);
    tcase_add_test (tc, test_status_default);
    tcase_add_test (tc, test_status_replicated);
    tcase_add_test (tc, test_restart_keeps_leaders);
    suite_add_tcase (suite, tc);
    tc = tcase_create ("retire");
    tcase_add_checked_fixture (tc, NULL, s_teardown);
    tcase_set_timeout (tc, 120);
    tcase_add_test (tc, test_retire);
    tcase_add_test (tc, test_retire_roles);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
