/*  test_bounds.c - nothing one peer does costs the broker more than its
    bounds, or another peer its answers: a client that pipelines without
    reading gets every reply, stalled subscribers and a never-reading
    client stay within their bytes, and file descriptors run out for
    clients before they do for workers.
*/
#include <check.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include "kvp_testkit.h"

static tk_cluster_t *cluster;
static zsock_t *client;

static void
s_start (int workers, const char *broker_args, const char *worker_args)
{
    cluster = tk_cluster_new (workers);
    cluster->broker_args = broker_args;
    cluster->worker_args = worker_args;
    ck_assert_msg (tk_cluster_start (cluster), "cluster did not come up");
    client = tk_dealer (cluster->clients);
}

static void
s_teardown (void)
{
    zsock_destroy (&client);
    tk_cluster_destroy (&cluster);
}

//  AddKvpItems of one item `name` with `rid`, not waiting.
static void
s_send_add (zsock_t *sock, const char *id, const char *name, uint64_t rid)
{
    tk_body_t body;
    tk_body_begin (&body, "AddKvpItems", 3);
    tk_pack_kv_str (&body.pk, "target", id);
    tk_pack_kv_uint (&body.pk, "rid", rid);
    tk_pack_str (&body.pk, "items");
    msgpack_pack_array (&body.pk, 1);
    tk_pack_item (&body.pk, 0, name, "v");
    tk_send (sock, &body);
    tk_body_end (&body);
}

//  The names of a system's items, each marked in `seen` (by its number).
static size_t
s_mark_items (const char *id, uint8_t *seen, size_t count)
{
    tk_body_t body;
    tk_body_begin (&body, "GetKvpItems", 1);
    tk_pack_kv_str (&body.pk, "target", id);
    tk_reply_t *reply = tk_call (client, &body, 30000);
    ck_assert_int_eq (tk_rc (reply), 0);
    const msgpack_object *items = tk_get (reply->map, "items");
    for (uint32_t i = 0; i < items->via.array.size; i++) {
        unsigned n = 0;
        ck_assert_int_eq (sscanf (tk_get_str (&items->via.array.ptr [i],
                                              "Name"), "p%u", &n), 1);
        ck_assert_uint_lt (n, count);
        seen [n] |= 2;
    }
    size_t size = items->via.array.size;
    tk_reply_destroy (&reply);
    return size;
}

//  --- a client that pipelines without reading ----------------------------

#define S_PIPELINE      200000      //  requests sent before reading any
#define S_SYSTEMS       16          //  spread so that each GetKvpItems fits

START_TEST (test_pipeline_every_reply)
{
    s_start (2, NULL, NULL);
    char ids [S_SYSTEMS][37];
    for (int s = 0; s < S_SYSTEMS; s++)
        ck_assert_int_eq (tk_define (client, "pipe", ids [s]), 0);
    //  Nothing held back on our side, every request goes out at once; and
    //  little room to receive, so that the replies wait in the broker
    zsock_t *pipeline = zsock_new (ZMQ_DEALER);
    zsock_set_sndhwm (pipeline, 0);
    zsock_set_rcvbuf (pipeline, 64 * 1024);
    zsock_set_linger (pipeline, 0);
    ck_assert_int_eq (zsock_connect (pipeline, "%s", cluster->clients), 0);
    for (int i = 0; i < S_PIPELINE; i++) {
        char name [16];
        snprintf (name, sizeof name, "p%d", i);
        s_send_add (pipeline, ids [i % S_SYSTEMS], name, (uint64_t) i);
    }
    //  Then read: each rid exactly once, 4096 (applied) or 32774 (not)
    uint8_t *seen = calloc (S_PIPELINE, 1);
    size_t replies = 0, applied = 0;
    tk_reply_t *reply;
    while (replies < S_PIPELINE && (reply = tk_recv (pipeline, 30000))) {
        int64_t rid = tk_get_uint (reply->map, "rid");
        int64_t rc = tk_rc (reply);
        ck_assert_msg (rid >= 0 && rid < S_PIPELINE, "rid %lld", (long long) rid);
        ck_assert_msg (!seen [rid], "a second reply to rid %lld", (long long) rid);
        ck_assert_msg (rc == 4096 || rc == 32774, "rc %lld", (long long) rc);
        if (rc == 4096) {
            ck_assert_int_eq (tk_get_uint (tk_get (reply->map, "job"),
                                           "JobState"), 7);
            applied++;
        }
        seen [rid] = rc == 4096 ? 1 : 4;
        replies++;
        tk_reply_destroy (&reply);
    }
    ck_assert_uint_eq (replies, S_PIPELINE);
    ck_assert_ptr_null (tk_recv (pipeline, 200));
    //  What was applied is what is stored, and nothing else
    size_t stored = 0;
    for (int s = 0; s < S_SYSTEMS; s++)
        stored += s_mark_items (ids [s], seen, S_PIPELINE);
    ck_assert_uint_eq (stored, applied);
    for (size_t i = 0; i < S_PIPELINE; i++)
        ck_assert_msg (seen [i] == 3 || seen [i] == 4, "request %zu: %s", i,
                       seen [i] == 1 ? "answered 4096 but not stored"
                                     : "stored but answered 32774");
    free (seen);
    zsock_destroy (&pipeline);
}
END_TEST

//  --- stalled subscribers and a client that never reads ---------------------

#define S_STALLED       300         //  subscribers that never read
#define S_EVENTS_HWM    1000        //  the broker's default --events-hwm
#define S_BIG_ITEMS     64          //  16 KiB each: a system of 1 MiB
#define S_CLIENT_QUEUE  (16u << 20) //  --client-queue for this test
#define S_CLIENT_HWM    64          //  replies ZeroMQ queues per client
#define S_CONN_COST     (64 * 1024.0)   //  ZeroMQ's own per connection:
                                        //  its buffers and pipes
#define S_MIB           (1024.0 * 1024.0)

//  Under AddressSanitizer the broker's memory is mostly the sanitizer's own
//  (redzones, quarantine): the bounds are checked in the normal build
//  (and the worker takes ten times as long for each 1 MiB read: fewer)
#if defined (__SANITIZE_ADDRESS__)
#   define S_RSS_CHECKED   false
#   define S_GETS          120     //  GetKvpItems the bad client sends
#else
#   define S_RSS_CHECKED   true
#   define S_GETS          600
#endif

//  A subscriber to every job that never reads, with as little room to
//  receive as the kernel allows, so that its queue fills in the broker.
static zsock_t *
s_stalled_sub (const char *endpoint)
{
    zsock_t *sub = zsock_new (ZMQ_SUB);
    ck_assert_ptr_nonnull (sub);
    zsock_set_rcvhwm (sub, 1);
    zsock_set_rcvbuf (sub, 4096);
    zsock_set_linger (sub, 0);
    zsock_set_subscribe (sub, "job/");
    ck_assert_int_eq (zsock_connect (sub, "%s", endpoint), 0);
    return sub;
}

//  A system holding 1 MiB of host-only items.
static void
s_big_system (char id [37])
{
    static char data [16385];
    memset (data, 'b', 16384);
    ck_assert_int_eq (tk_define (client, "big", id), 0);
    for (int batch = 0; batch < S_BIG_ITEMS / 16; batch++) {
        tk_body_t body;
        tk_body_begin (&body, "AddKvpItems", 2);
        tk_pack_kv_str (&body.pk, "target", id);
        tk_pack_str (&body.pk, "items");
        msgpack_pack_array (&body.pk, 16);
        for (int i = 0; i < 16; i++) {
            char name [16];
            snprintf (name, sizeof name, "b%d", batch * 16 + i);
            tk_pack_item (&body.pk, 4, name, data);
        }
        tk_reply_t *reply = tk_call (client, &body, 10000);
        ck_assert_int_eq (tk_rc (reply), 4096);
        tk_reply_destroy (&reply);
    }
}

//  `count` writes by a normal client, 32 in flight, each answered within
//  10 s; the broker's largest RSS seen meanwhile goes into *peak.
static void
s_normal_writes (const char *id, int count, int64_t *peak)
{
    int sent = 0, answered = 0;
    while (answered < count) {
        while (sent < count && sent - answered < 32) {
            char name [16];
            snprintf (name, sizeof name, "n%d", sent);
            s_send_add (client, id, name, (uint64_t) sent++);
        }
        tk_reply_t *reply = tk_recv (client, 10000);
        ck_assert_int_eq (tk_rc (reply), 4096);
        tk_reply_destroy (&reply);
        answered++;
        int64_t rss = tk_rss_bytes (cluster->broker);
        if (rss > *peak)
            *peak = rss;
    }
}

//  The broker's growth past `base` within `bound` bytes, said and checked.
static void
s_within (const char *what, int64_t base, int64_t peak, double bound)
{
    printf ("test_stalled_subscribers_bounded: %s: broker RSS %.1f MiB, "
            "peak %.1f MiB (+%.1f; bound +%.1f)\n", what, base / S_MIB,
            peak / S_MIB, (peak - base) / S_MIB, bound / S_MIB);
    fflush (stdout);
    ck_assert_msg (!S_RSS_CHECKED || peak - base <= bound, "%s: broker grew "
                   "%.1f MiB, over its bound of %.1f MiB", what,
                   (peak - base) / S_MIB, bound / S_MIB);
}

START_TEST (test_stalled_subscribers_bounded)
{
    char args [128];
    snprintf (args, sizeof args, "--client-queue %u", S_CLIENT_QUEUE);
    //  The worker's passes kept short (each read here is 1 MiB), so that
    //  even a slow build answers its heartbeats while it serves them
    s_start (1, args, "--batch 16");
    char big [37], small [37];
    s_big_system (big);
    ck_assert_int_eq (tk_define (client, "small", small), 0);
    int64_t base = tk_rss_bytes (cluster->broker), peak = base;
    //  The documented bounds: per subscriber --events-hwm events of a
    //  128-byte header each (their bodies, about 400 bytes here, shared)
    //  and its connection; per client 64 replies in ZeroMQ and
    //  --client-queue bytes; and a little for the allocator
    double subscribers = S_STALLED * (S_EVENTS_HWM * 128.0 + S_CONN_COST)
                       + S_EVENTS_HWM * 400.0 + 8 * S_MIB;
    double reader = S_CLIENT_HWM * (S_BIG_ITEMS * 16.5 * 1024)
                  + S_CLIENT_QUEUE;
    //  Stalled subscribers, and events enough to fill each one's queue
    //  five times over while a normal client is answered
    zsock_t *subs [S_STALLED];
    for (int i = 0; i < S_STALLED; i++)
        subs [i] = s_stalled_sub (cluster->events);
    s_normal_writes (small, 5 * S_EVENTS_HWM, &peak);
    s_within ("subscribers", base, peak, subscribers);
    //  Then a bad client too: S_GETS reads of 1 MiB, never reading a reply
    zsock_t *bad = zsock_new (ZMQ_DEALER);
    zsock_set_rcvhwm (bad, 1);
    zsock_set_rcvbuf (bad, 64 * 1024);
    zsock_set_linger (bad, 0);
    ck_assert_int_eq (zsock_connect (bad, "%s", cluster->clients), 0);
    for (int i = 0; i < S_GETS; i++) {
        tk_body_t body;
        tk_body_begin (&body, "GetKvpItems", 1);
        tk_pack_kv_str (&body.pk, "target", big);
        tk_send (bad, &body);
        tk_body_end (&body);
    }
    s_normal_writes (small, S_EVENTS_HWM, &peak);
    s_within ("and a client that does not read", base, peak,
              subscribers + reader);
    //  When it reads at last, the bad client gets one answer for each
    //  request: the items while its queue had room, 32774 past it
    int items = 0, busy = 0;
    tk_reply_t *reply;
    while (items + busy < S_GETS && (reply = tk_recv (bad, 20000))) {
        items += tk_rc (reply) == 0;
        busy += tk_rc (reply) == 32774;
        tk_reply_destroy (&reply);
    }
    ck_assert_int_eq (items + busy, S_GETS);
    ck_assert_int_gt (items, 0);
    ck_assert_int_gt (busy, 0);
    //  Gone peers leave their memory behind them
    for (int i = 0; i < S_STALLED; i++)
        zsock_destroy (&subs [i]);
    zsock_destroy (&bad);
    int64_t after = tk_rss_bytes (cluster->broker);
    for (int i = 0; S_RSS_CHECKED && i < 100 && after > base + 16 * S_MIB;
         i++) {
        zclock_sleep (100);
        after = tk_rss_bytes (cluster->broker);
    }
    printf ("test_stalled_subscribers_bounded: broker RSS %.1f MiB once "
            "they are gone\n", after / S_MIB);
    fflush (stdout);
    ck_assert_msg (!S_RSS_CHECKED || after <= base + 16 * S_MIB, "broker "
                   "kept %.1f MiB after its peers went", (after - base) / S_MIB);
}
END_TEST

//  --- file descriptors -------------------------------------------------------

#define S_NOFILE        256         //  the broker's open-file limit here
#define S_IDLE          320         //  idle clients: more than that

//  Workers alive by ClusterStatus on `sock` reach `alive` within `ms`.
static bool
s_wait_alive (zsock_t *sock, int alive, int ms)
{
    int64_t until = zclock_mono () + ms;
    while (zclock_mono () < until) {
        tk_body_t body;
        tk_body_begin (&body, "ClusterStatus", 0);
        tk_reply_t *reply = tk_call (sock, &body, 1000);
        const msgpack_object *ws = reply ? tk_get (reply->map, "workers")
                                         : NULL;
        int count = 0;
        for (uint32_t i = 0; ws && i < ws->via.array.size; i++) {
            const msgpack_object *a = tk_get (&ws->via.array.ptr [i], "alive");
            count += a && a->type == MSGPACK_OBJECT_BOOLEAN && a->via.boolean;
        }
        tk_reply_destroy (&reply);
        if (ws && count == alive)
            return true;
        zclock_sleep (100);
    }
    return false;
}

//  A Ping on `sock` answered within `ms` (sent again every half second:
//  a connection refused loses what it had queued).
static bool
s_pinged (zsock_t *sock, int ms)
{
    int64_t until = zclock_mono () + ms;
    bool answered = false;
    while (!answered && zclock_mono () < until) {
        tk_body_t body;
        tk_body_begin (&body, "Ping", 0);
        tk_reply_t *reply = tk_call (sock, &body, 500);
        answered = tk_rc (reply) == 0;
        tk_reply_destroy (&reply);
    }
    return answered;
}

//  More idle clients than the broker has descriptors: those past its cap
//  are refused, and the workers' socket keeps the descriptors it needs.
START_TEST (test_fds_clients_before_workers)
{
    cluster = tk_cluster_new (1);
    cluster->broker_nofile = S_NOFILE;
    ck_assert (tk_cluster_start (cluster));
    client = tk_dealer (cluster->clients);
    ck_assert (s_pinged (client, 5000));
    zsock_t *idle [S_IDLE];
    for (int i = 0; i < S_IDLE; i++)
        idle [i] = tk_dealer (cluster->clients);
    zclock_sleep (1000);            //  they connect, or are refused
    //  A worker killed and started again registers: it has descriptors
    tk_stop (cluster->workers [0], SIGKILL, 5000);
    ck_assert (s_wait_alive (client, 0, 15000));
    ck_assert (tk_worker_start (cluster, 0) > 0);
    ck_assert (s_wait_alive (client, 1, 15000));
    //  The refused ones try again, and the broker does not spin on them
    double before = tk_cpu_seconds (cluster->broker);
    zclock_sleep (3000);
    double used = tk_cpu_seconds (cluster->broker) - before;
    ck_assert_msg (before >= 0 && used < 1.0, "broker used %.2f s of CPU in "
                   "3 s", used);
    char text [96];
    snprintf (text, sizeof text, "kvp-broker[%d]: clients: refused a "
              "connection", (int) cluster->broker);
    ck_assert (tk_log_has ("broker", text));
    //  Once the idle ones close, a new client is answered
    for (int i = 0; i < S_IDLE; i++)
        zsock_destroy (&idle [i]);
    zsock_t *fresh = tk_dealer (cluster->clients);
    ck_assert (s_pinged (fresh, 10000));
    zsock_destroy (&fresh);
}
END_TEST

//  With the cap set above the open-file limit, accepts fail: each is
//  logged, at most a line a second.
START_TEST (test_fds_accept_failed_logged)
{
    cluster = tk_cluster_new (0);
    cluster->broker_nofile = 96;
    cluster->broker_args = "--clients-max 100000";
    ck_assert (tk_cluster_start (cluster));
    zsock_t *idle [100];
    for (int i = 0; i < 100; i++)
        idle [i] = tk_dealer (cluster->clients);
    char text [96];
    snprintf (text, sizeof text, "kvp-broker[%d]: clients: cannot accept a "
              "connection: Too many open files", (int) cluster->broker);
    bool logged = false;
    for (int i = 0; i < 30 && !logged; i++) {
        zclock_sleep (100);
        logged = tk_log_has ("broker", text);
    }
    for (int i = 0; i < 100; i++)
        zsock_destroy (&idle [i]);
    ck_assert (logged);
    //  When they are gone, the broker serves again
    client = tk_dealer (cluster->clients);
    ck_assert (s_pinged (client, 10000));
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("bounds");
    TCase *tc = tcase_create ("clients");
    tcase_add_checked_fixture (tc, NULL, s_teardown);
    tcase_set_timeout (tc, 180);
    tcase_add_test (tc, test_pipeline_every_reply);
    tcase_add_test (tc, test_stalled_subscribers_bounded);
    suite_add_tcase (suite, tc);
    tc = tcase_create ("fds");
    tcase_add_checked_fixture (tc, NULL, s_teardown);
    tcase_set_timeout (tc, 120);
    tcase_add_test (tc, test_fds_clients_before_workers);
    tcase_add_test (tc, test_fds_accept_failed_logged);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
