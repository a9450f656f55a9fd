/*  test_feed.c - the gap-free subscriber (client/kvp_feed) against real
    clusters: every event exactly once and in seq order per partition when
    (a) its receive queue is tiny and it stalls under load, (b) the broker
    and then a partition's owner are killed with -9 and restarted
    mid-stream, (c) it resumes from a saved position after being stopped
    while jobs were made (also as kvpctl watch --position), and (d) the
    events it asks for are past --retention: an explicit LOST naming the
    count. Also the position file on its own.
*/
#include <check.h>
#include <signal.h>
#include "kvp_testkit.h"
#include "kvp_feed.h"
#include "kvp_obj.h"
#include "kvp_guid.h"

#define S_SYSTEMS   16
#define S_WINDOW    64          /* requests in flight */

static tk_cluster_t *cluster;
static zsock_t *client;
static char s_ids [S_SYSTEMS][37];
static int s_names;             /* item names made so far */

//  What a feed handed on.
typedef struct {
    zhashx_t *seen;             /* InstanceID -> 1 */
    uint64_t last [64];         /* per partition: last seq, 0 = none */
    uint64_t events, repeats, disorder, lost;
} s_seen_t;

static void
s_start (const char *broker_args, const char *worker_args)
{
    cluster = tk_cluster_new (2);
    cluster->broker_args = broker_args;
    cluster->worker_args = worker_args;
    ck_assert_msg (tk_cluster_start (cluster), "cluster did not come up");
    client = tk_dealer (cluster->clients);
    for (int s = 0; s < S_SYSTEMS; s++)
        ck_assert_int_eq (tk_define (client, "feed", s_ids [s]), 0);
}

static void
s_teardown (void)
{
    zsock_destroy (&client);
    tk_cluster_destroy (&cluster);
}

static kvp_feed_t *
s_feed (int rcvhwm, bool from_start)
{
    kvp_feed_config_t config = { .broker = cluster->clients,
        .events = cluster->events, .partition = -1, .rcvhwm = rcvhwm,
        .from_start = from_start, .timeout_ms = 1000 };
    kvp_feed_t *feed = kvp_feed_new (&config);
    ck_assert_ptr_nonnull (feed);
    return feed;
}

//  Let the feed learn every partition's "now" (bounded).
static void
s_ready (kvp_feed_t *feed)
{
    for (int i = 0; i < 200 && !kvp_feed_ready (feed); i++) {
        kvp_feed_msg_t msg;
        ck_assert_int_ge (kvp_feed_recv (feed, 50, &msg), 0);
    }
    ck_assert (kvp_feed_ready (feed));
}

//  --- load -------------------------------------------------------------------

//  Send one AddKvpItems of `items` items of `len` bytes to a system.
static void
s_send_add (int job, int items, size_t len)
{
    char data [1024];
    memset (data, 'x', len);
    data [len] = 0;
    tk_body_t body;
    tk_body_begin (&body, "AddKvpItems", 2);
    tk_pack_kv_str (&body.pk, "target", s_ids [job % S_SYSTEMS]);
    tk_pack_str (&body.pk, "items");
    msgpack_pack_array (&body.pk, (size_t) items);
    for (int i = 0; i < items; i++) {
        char name [32];
        snprintf (name, sizeof name, "n%d", s_names++);
        tk_pack_item (&body.pk, 0, name, data);
    }
    tk_send (client, &body);
    tk_body_end (&body);
}

//  Make `jobs` jobs, S_WINDOW in flight; each acknowledged job id goes
//  into `acked`. A reply that does not come within `wait_ms` ends it.
//  After every reply, `feed` (if any) is given a moment.
static int
s_load (int jobs, int items, size_t len, zhashx_t *acked, kvp_feed_t *feed,
        s_seen_t *seen, int wait_ms);

static void s_take (s_seen_t *seen, const kvp_feed_msg_t *msg);

static int
s_load (int jobs, int items, size_t len, zhashx_t *acked, kvp_feed_t *feed,
        s_seen_t *seen, int wait_ms)
{
    int sent = 0, answered = 0, ok = 0;
    tk_reply_t *reply;
    while (answered < jobs) {
        while (sent < jobs && sent - answered < S_WINDOW)
            s_send_add (sent++, items, len);
        if (!(reply = tk_recv (client, wait_ms)))
            break;
        answered++;
        const msgpack_object *job = tk_get (reply->map, "job");
        if (tk_rc (reply) == 4096 && job) {
            zhashx_insert (acked, tk_get_str (job, "InstanceID"), (void *) 1);
            ok++;
        }
        tk_reply_destroy (&reply);
        kvp_feed_msg_t msg;
        if (feed && kvp_feed_recv (feed, 0, &msg) > 0)
            s_take (seen, &msg);
    }
    return ok;
}

//  --- what the feed hands on ---------------------------------------------------

static void
s_seen_init (s_seen_t *seen)
{
    memset (seen, 0, sizeof *seen);
    seen->seen = zhashx_new ();
}

static void
s_take (s_seen_t *seen, const kvp_feed_msg_t *msg)
{
    if (msg->kind == KVP_FEED_LOST) {
        seen->lost += msg->count;
        return;
    }
    size_t len;
    const char *id = kvp_obj_get_str (msg->event, "InstanceID", &len);
    ck_assert_ptr_nonnull (id);
    char key [80];
    snprintf (key, sizeof key, "%.*s", (int) len, id);
    if (zhashx_lookup (seen->seen, key))
        seen->repeats++;
    zhashx_insert (seen->seen, key, (void *) 1);
    ck_assert_uint_lt (msg->partition, 64);
    uint64_t *last = &seen->last [msg->partition];
    if (*last && msg->seq != *last + 1)
        seen->disorder++;
    *last = msg->seq;
    seen->events++;
}

//  How many of `acked` the feed has handed on.
static size_t
s_count_seen (s_seen_t *seen, zhashx_t *acked)
{
    size_t found = 0;
    for (void *v = zhashx_first (acked); v; v = zhashx_next (acked))
        found += zhashx_lookup (seen->seen, zhashx_cursor (acked)) != NULL;
    return found;
}

//  Read the feed until every acked job's event came (or `seconds`).
static void
s_read_all (kvp_feed_t *feed, s_seen_t *seen, zhashx_t *acked, int seconds)
{
    kvp_feed_catch_up (feed);
    int64_t until = zclock_mono () + seconds * 1000;
    while (s_count_seen (seen, acked) < zhashx_size (acked)
    &&     zclock_mono () < until) {
        kvp_feed_msg_t msg;
        int rc = kvp_feed_recv (feed, 200, &msg);
        ck_assert_int_ge (rc, 0);
        if (rc > 0)
            s_take (seen, &msg);
    }
}

//  Every acked job once, nothing twice, no seq out of place, none lost.
static void
s_check_exactly_once (s_seen_t *seen, zhashx_t *acked)
{
    ck_assert_uint_eq (s_count_seen (seen, acked), zhashx_size (acked));
    ck_assert_uint_eq (seen->repeats, 0);
    ck_assert_uint_eq (seen->disorder, 0);
    ck_assert_uint_eq (seen->lost, 0);
    ck_assert_uint_eq (seen->events, zhashx_size (seen->seen));
}

//  --- (a) a tiny queue that stalls under load -------------------------------------

START_TEST (test_stall_tiny_queue)
{
    //  A small broker queue too, so the stall really loses live events
    s_start ("--events-hwm 50", NULL);
    kvp_feed_t *feed = s_feed (10, false);
    s_ready (feed);
    zhashx_t *acked = zhashx_new ();
    s_seen_t seen;
    s_seen_init (&seen);
    //  Read while loading, then stall for over a second under load
    s_load (300, 4, 400, acked, feed, &seen, 10000);
    int64_t stall = zclock_mono ();
    while (zclock_mono () - stall < 1200)
        s_load (400, 4, 400, acked, NULL, NULL, 10000);
    s_read_all (feed, &seen, acked, 30);
    s_check_exactly_once (&seen, acked);
    kvp_feed_stats_t st;
    kvp_feed_stats (feed, &st);
    ck_assert_msg (st.replayed > 0, "the stall lost nothing: no gap filled");
    ck_assert_uint_eq (st.delivered, seen.events);
    ck_assert_uint_eq (seen.events, zhashx_size (acked));   //  events = jobs
    zhashx_destroy (&seen.seen);
    zhashx_destroy (&acked);
    kvp_feed_destroy (&feed);
}
END_TEST

//  --- (b) broker and owner killed and restarted mid-stream --------------------------

//  A burst of requests in flight, left unanswered: the kill comes while
//  jobs are being made and their events published.
static void
s_burst (void)
{
    for (int i = 0; i < S_WINDOW; i++)
        s_send_add (i, 1, 20);
    zclock_sleep (5);
}

//  A fresh DEALER: replies to the burst are not wanted.
static void
s_reconnect (void)
{
    zsock_destroy (&client);
    client = tk_dealer (cluster->clients);
}

static void
s_restart_broker (void)
{
    s_burst ();
    tk_stop (cluster->broker, SIGKILL, 5000);
    cluster->broker = 0;
    tk_broker_start (cluster);
    ck_assert (tk_wait_alive (cluster, 2, 20000));
    s_reconnect ();
}

static void
s_restart_worker (int w)
{
    s_burst ();
    tk_stop (cluster->workers [w], SIGKILL, 5000);
    cluster->workers [w] = 0;
    ck_assert (tk_wait_alive (cluster, 1, 15000));
    tk_worker_start (cluster, w);
    ck_assert (tk_wait_alive (cluster, 2, 15000));
    s_reconnect ();
}

START_TEST (test_kill_restart_mid_stream)
{
    s_start (NULL, NULL);
    kvp_feed_t *feed = s_feed (0, false);
    s_ready (feed);
    zhashx_t *acked = zhashx_new ();
    s_seen_t seen;
    s_seen_init (&seen);
    s_load (400, 1, 20, acked, feed, &seen, 5000);
    s_restart_broker ();
    s_load (400, 1, 20, acked, feed, &seen, 5000);
    s_restart_worker (0);
    s_load (400, 1, 20, acked, feed, &seen, 5000);
    s_read_all (feed, &seen, acked, 30);
    s_check_exactly_once (&seen, acked);
    ck_assert_uint_ge (zhashx_size (acked), 1000);
    kvp_feed_stats_t st;
    kvp_feed_stats (feed, &st);
    ck_assert_uint_eq (st.lost, 0);
    zhashx_destroy (&seen.seen);
    zhashx_destroy (&acked);
    kvp_feed_destroy (&feed);
}
END_TEST

//  --- (c) resume from a saved position ---------------------------------------------------

START_TEST (test_resume_from_position)
{
    s_start (NULL, NULL);
    char path [300], out [65536];
    snprintf (path, sizeof path, "%s/pos.txt", cluster->dir);
    kvp_feed_t *feed = s_feed (0, false);
    s_ready (feed);
    zhashx_t *before = zhashx_new (), *after = zhashx_new ();
    s_seen_t seen;
    s_seen_init (&seen);
    s_load (200, 1, 10, before, NULL, NULL, 5000);
    s_read_all (feed, &seen, before, 20);
    s_check_exactly_once (&seen, before);
    ck_assert_int_eq (kvp_feed_save (feed, path), 0);
    kvp_feed_destroy (&feed);
    //  Stopped: jobs are made meanwhile
    s_load (150, 1, 10, after, NULL, NULL, 5000);
    feed = s_feed (0, false);
    bool found = false;
    ck_assert_int_eq (kvp_feed_load (feed, path, &found), 0);
    ck_assert (found);
    s_seen_t again;
    s_seen_init (&again);
    s_read_all (feed, &again, after, 20);
    s_check_exactly_once (&again, after);
    ck_assert_uint_eq (again.events, 150);      //  and nothing from before
    ck_assert_int_eq (kvp_feed_save (feed, path), 0);
    kvp_feed_destroy (&feed);
    //  The same with kvpctl: nothing new, then exactly the 20 missed
    ck_assert_int_eq (tk_run (out, sizeof out, "kvpctl", "--broker",
        cluster->clients, "--events", cluster->events, "watch", "--position",
        path, "--seconds", "1", NULL), 0);
    ck_assert_str_eq (out, "");
    zhashx_t *missed = zhashx_new ();
    s_load (20, 1, 10, missed, NULL, NULL, 5000);
    ck_assert_int_eq (tk_run (out, sizeof out, "kvpctl", "--broker",
        cluster->clients, "--events", cluster->events, "watch", "--position",
        path, "--count", "20", "--seconds", "15", NULL), 0);
    int lines = 0;
    for (void *v = zhashx_first (missed); v; v = zhashx_next (missed))
        ck_assert_ptr_nonnull (strstr (out, zhashx_cursor (missed)));
    for (const char *p = out; (p = strchr (p, '\n')); p++)
        lines++;
    ck_assert_int_eq (lines, 20);
    ck_assert_int_eq (tk_run (out, sizeof out, "kvpctl", "--broker",
        cluster->clients, "--events", cluster->events, "watch", "--position",
        path, "--seconds", "1", NULL), 0);
    ck_assert_str_eq (out, "");
    zhashx_destroy (&missed);
    zhashx_destroy (&seen.seen);
    zhashx_destroy (&again.seen);
    zhashx_destroy (&before);
    zhashx_destroy (&after);
}
END_TEST

//  --- (d) past retention: the explicit lost notice ----------------------------------------

//  GetEvents of `part` from 1: rc, and `first` into *first.
static int64_t
s_first_kept (uint32_t part, int64_t *first)
{
    tk_body_t body;
    tk_body_begin (&body, "GetEvents", 2);
    tk_pack_kv_uint (&body.pk, "partition", part);
    tk_pack_kv_uint (&body.pk, "from", 1);
    tk_reply_t *reply = tk_call (client, &body, 5000);
    int64_t rc = tk_rc (reply);
    *first = reply? tk_get_uint (reply->map, "first"): -1;
    tk_reply_destroy (&reply);
    return rc;
}

START_TEST (test_lost_past_retention)
{
    s_start (NULL, "--retention 1");
    char target [37];
    snprintf (target, sizeof target, "%s", s_ids [0]);
    kvp_guid_t guid;
    kvp_guid_parse (&guid, target, 36);
    uint32_t part = kvp_guid_partition (&guid, 64);
    for (int i = 0; i < 5; i++) {
        char name [16];
        snprintf (name, sizeof name, "r%d", i);
        ck_assert_int_eq (tk_add1 (client, "AddKvpItems", target, 0, name,
                                   "v", NULL, NULL, NULL), 4096);
    }
    //  Wait (bounded) until all five are purged: first = 6
    int64_t first = 0;
    for (int i = 0; i < 150 && first != 6; i++) {
        int64_t rc = s_first_kept (part, &first);
        ck_assert (rc == 0 || rc == 32773);
        if (first != 6)
            zclock_sleep (100);
    }
    ck_assert_int_eq (first, 6);
    kvp_feed_config_t config = { .broker = cluster->clients,
        .events = cluster->events, .partition = (int) part,
        .timeout_ms = 1000 };
    kvp_feed_t *feed = kvp_feed_new (&config);
    ck_assert_int_eq (kvp_feed_set_position (feed, part, 0), 0);
    kvp_feed_msg_t msg;
    ck_assert_int_eq (kvp_feed_recv (feed, 10000, &msg), 1);
    ck_assert_int_eq (msg.kind, KVP_FEED_LOST);
    ck_assert_uint_eq (msg.partition, part);
    ck_assert_uint_eq (msg.seq, 1);
    ck_assert_uint_eq (msg.count, 5);
    uint64_t last;
    ck_assert (kvp_feed_position (feed, part, &last));
    ck_assert_uint_eq (last, 5);
    ck_assert_int_eq (kvp_feed_recv (feed, 300, &msg), 0);
    kvp_feed_destroy (&feed);
    //  kvpctl says it in words
    char path [300], out [4096];
    snprintf (path, sizeof path, "%s/pos.txt", cluster->dir);
    FILE *file = fopen (path, "w");
    fprintf (file, "%u 0\n", part);
    fclose (file);
    ck_assert_int_eq (tk_run (out, sizeof out, "kvpctl", "--broker",
        cluster->clients, "--events", cluster->events, "watch", "--position",
        path, "--partition", "", "--seconds", "1", NULL), 2);
    char partition [16];
    snprintf (partition, sizeof partition, "%u", part);
    ck_assert_int_eq (tk_run (out, sizeof out, "kvpctl", "--broker",
        cluster->clients, "--events", cluster->events, "watch", "--position",
        path, "--partition", partition, "--seconds", "3", NULL), 0);
    char expect [128];
    snprintf (expect, sizeof expect, "lost 5 events of partition %u", part);
    ck_assert_ptr_nonnull (strstr (out, expect));
}
END_TEST

//  --- one system ----------------------------------------------------------------------------

//  Only that system's events, in order, none of its partition's others:
//  those come in the replays too, and are passed over.
START_TEST (test_one_system)
{
    s_start (NULL, NULL);
    kvp_guid_t mine, other;
    kvp_guid_parse (&mine, s_ids [0], 36);
    char neighbour [37] = "";
    for (int i = 0; i < 2000 && !*neighbour; i++) {
        ck_assert_int_eq (tk_define (client, "n", neighbour), 0);
        kvp_guid_parse (&other, neighbour, 36);
        if (kvp_guid_partition (&other, 64) != kvp_guid_partition (&mine, 64))
            *neighbour = 0;
    }
    ck_assert_int_eq (strlen (neighbour), 36);
    for (int i = 0; i < 30; i++) {
        char name [16];
        snprintf (name, sizeof name, "o%d", i);
        const char *target = i % 3? neighbour: s_ids [0];
        ck_assert_int_eq (tk_add1 (client, "AddKvpItems", target, 0, name,
                                   "v", NULL, NULL, NULL), 4096);
    }
    kvp_feed_config_t config = { .broker = cluster->clients,
        .events = cluster->events, .system = s_ids [0], .partition = -1,
        .from_start = true, .timeout_ms = 1000 };
    kvp_feed_t *feed = kvp_feed_new (&config);
    ck_assert_ptr_nonnull (feed);
    int got = 0;
    uint64_t last = 0;
    kvp_feed_msg_t msg;
    while (got < 10 && kvp_feed_recv (feed, 5000, &msg) == 1) {
        ck_assert_int_eq (msg.kind, KVP_FEED_EVENT);
        ck_assert_str_eq (tk_get_str (msg.event, "TargetSystem"), s_ids [0]);
        ck_assert_uint_gt (msg.seq, last);
        last = msg.seq;
        got++;
    }
    ck_assert_int_eq (got, 10);
    ck_assert_int_eq (kvp_feed_recv (feed, 500, &msg), 0);
    kvp_feed_stats_t st;
    kvp_feed_stats (feed, &st);
    ck_assert_uint_ge (st.skipped, 20);     //  the neighbour's, passed over
    ck_assert_uint_eq (kvp_feed_partitions (feed), 64);
    kvp_feed_destroy (&feed);
    //  A bad GUID is refused at once
    config.system = "not-a-guid";
    ck_assert_ptr_null (kvp_feed_new (&config));
}
END_TEST

//  --- the position file -----------------------------------------------------------------

START_TEST (test_position_file)
{
    char dir [128], path [256];
    ck_assert (tk_mkdtemp (dir, sizeof dir, "kvpfeed"));
    snprintf (path, sizeof path, "%s/pos.txt", dir);
    kvp_feed_config_t config = { .broker = "tcp://127.0.0.1:1",
        .events = "tcp://127.0.0.1:2", .partition = -1 };
    kvp_feed_t *feed = kvp_feed_new (&config);
    bool found = true;
    ck_assert_int_eq (kvp_feed_load (feed, path, &found), 0);
    ck_assert (!found);
    ck_assert_int_eq (kvp_feed_set_position (feed, 3, 17), 0);
    ck_assert_int_eq (kvp_feed_set_position (feed, 65535, 0), 0);
    ck_assert_int_eq (kvp_feed_set_position (feed, 65536, 0), -1);
    ck_assert_int_eq (kvp_feed_save (feed, path), 0);
    kvp_feed_destroy (&feed);
    char text [256] = "";
    FILE *file = fopen (path, "r");
    size_t len = fread (text, 1, sizeof text - 1, file);
    text [len] = 0;
    fclose (file);
    ck_assert_ptr_nonnull (strstr (text, "\n3 17\n65535 0\n"));
    //  Read back, and written again unchanged by a feed that only read it
    feed = kvp_feed_new (&config);
    ck_assert_int_eq (kvp_feed_load (feed, path, &found), 0);
    ck_assert (found);
    ck_assert_int_eq (kvp_feed_save (feed, path), 0);
    kvp_feed_destroy (&feed);
    file = fopen (path, "r");
    char again [256] = "";
    len = fread (again, 1, sizeof again - 1, file);
    again [len] = 0;
    fclose (file);
    ck_assert_str_eq (again, text);
    //  Malformed lines are refused, naming the line
    static const char *bad [] = { "3\n", "3 -1\n", "x 4\n", "3 4 5\n",
                                  "70000 1\n" };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        file = fopen (path, "w");
        fprintf (file, "# comment\n\n1 2\n%s", bad [i]);
        fclose (file);
        feed = kvp_feed_new (&config);
        ck_assert_int_eq (kvp_feed_load (feed, path, NULL), -1);
        ck_assert_ptr_nonnull (strstr (kvp_feed_error (feed), ":4:"));
        kvp_feed_destroy (&feed);
    }
    tk_rmtree (dir);
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("feed");
    TCase *tc = tcase_create ("unit");
    tcase_add_test (tc, test_position_file);
    suite_add_tcase (suite, tc);
    tc = tcase_create ("cluster");
    tcase_add_checked_fixture (tc, NULL, s_teardown);
    tcase_set_timeout (tc, 180);
    tcase_add_test (tc, test_stall_tiny_queue);
    tcase_add_test (tc, test_kill_restart_mid_stream);
    tcase_add_test (tc, test_resume_from_position);
    tcase_add_test (tc, test_lost_past_retention);
    tcase_add_test (tc, test_one_system);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
