/*  test_chaos.c - load with idempotency keys while workers and the broker are
    killed (-9) and stopped (SIGSTOP past the deadline) at random moments;
    then every promise is audited against the workers' stores themselves.

    KVP_CHAOS_SECONDS (default 15) sets the length of the fault phase,
    KVP_CHAOS_SEED the random seed (printed, so a run can be repeated).
    `make chaos` runs it for minutes; `make test` runs the short version.
*/
#include <check.h>
#include <signal.h>
#include <sys/wait.h>
#include "kvp_testkit.h"
#include "kvp_store.h"
#include "kvp_reply.h"
#include "kvp_guid.h"
#include "kvp_wire.h"

enum {
    WORKERS = 3,            //  a fault never leaves the cluster without work
    CLIENTS = 4,            //  DEALER connections
    WINDOW = 8,             //  requests outstanding per connection
    SYSTEMS = 48,
    ITEMS = 3,              //  items per request
    ATTEMPT_MS = 4000,      //  no answer for this long: retry (same key)
    DEADLINE_MS = 1500,     //  the broker's --deadline in this test
    HEAL_MS = 60000         //  bound on finishing after the faults stop
};

typedef enum { R_IDLE, R_SENT, R_RETRY, R_DONE } rstate_t;

typedef struct {
    int client;             //  connection it is sent on
    int system;             //  index into the systems
    rstate_t state;
    int attempts;
    int64_t sent_at;        //  current attempt, monotonic ms
    char job [KVP_JOBID_MAX + 1];   //  job id of the final answer
} request_t;

typedef struct {
    uint64_t sent, acked, retried, kills, broker_kills, stops;
    uint64_t twice, lost, forks, unanswered, errors, gaps, stray_items;
    int64_t detect_ms_max, recover_ms_max;
} stats_t;

static tk_cluster_t *cluster;
static char systems [SYSTEMS][37];
static request_t *requests;
static size_t nrequests, cap_requests;
static uint32_t *rid_owner;             //  rid -> request index
static size_t nrids, cap_rids;
static size_t *active;                  //  requests sent or to retry
static size_t nactive, cap_active;
static zsock_t *socks [CLIENTS];
static int outstanding [CLIENTS];
static stats_t stats;
static unsigned seed;

static uint32_t
s_rand (uint32_t n)
{
    return (uint32_t) (rand_r (&seed) % n);
}

static void
s_item_name (char *buf, size_t size, size_t req, int item)
{
    snprintf (buf, size, "chaos-%zu-%d", req, item);
}

static void
s_item_data (char *buf, size_t size, size_t req, int item)
{
    snprintf (buf, size, "data-%zu-%d-%zu", req, item, req * 31 + item);
}

//  Send (or resend, with the same key and items) request `r`.
static void
s_send (size_t r)
{
    request_t *req = &requests [r];
    if (nrids == cap_rids) {
        cap_rids = cap_rids ? cap_rids * 2 : 4096;
        rid_owner = realloc (rid_owner, cap_rids * sizeof *rid_owner);
    }
    uint64_t rid = nrids;
    rid_owner [nrids++] = (uint32_t) r;
    tk_body_t body;
    tk_body_begin (&body, "AddKvpItems", 4);
    tk_pack_kv_str (&body.pk, "target", systems [req->system]);
    tk_pack_kv_uint (&body.pk, "rid", rid);
    char key [32];
    snprintf (key, sizeof key, "k%zu", r);
    tk_pack_kv_str (&body.pk, "key", key);
    tk_pack_str (&body.pk, "items");
    msgpack_pack_array (&body.pk, ITEMS);
    for (int i = 0; i < ITEMS; i++) {
        char name [64], data [64];
        s_item_name (name, sizeof name, r, i);
        s_item_data (data, sizeof data, r, i);
        tk_pack_item (&body.pk, i % 2 ? 4 : 0, name, data);
    }
    tk_send (socks [req->client], &body);
    tk_body_end (&body);
    if (req->attempts++)
        stats.retried++;
    else
        stats.sent++;
    req->state = R_SENT;
    req->sent_at = zclock_mono ();
    outstanding [req->client]++;
}

static size_t
s_new_request (int client)
{
    if (nrequests == cap_requests) {
        cap_requests = cap_requests ? cap_requests * 2 : 4096;
        requests = realloc (requests, cap_requests * sizeof *requests);
    }
    if (nactive == cap_active) {
        cap_active = cap_active ? cap_active * 2 : 1024;
        active = realloc (active, cap_active * sizeof *active);
    }
    active [nactive++] = nrequests;
    request_t *req = &requests [nrequests];
    memset (req, 0, sizeof *req);
    req->client = client;
    req->system = (int) s_rand (SYSTEMS);
    return nrequests++;
}

//  Take one reply: final (4096) or to be retried.
static void
s_on_reply (tk_reply_t *reply)
{
    int64_t rid = tk_get_uint (reply->map, "rid");
    if (rid < 0 || (size_t) rid >= nrids)
        return;
    request_t *req = &requests [rid_owner [rid]];
    //  Only the latest attempt's answer counts for the window; a late
    //  answer to an earlier attempt is still checked for consistency.
    int64_t rc = tk_rc (reply);
    const msgpack_object *job = tk_get (reply->map, "job");
    if (rc == 4096) {
        const char *id = tk_get_str (job, "InstanceID");
        if (tk_get_uint (job, "JobState") != 7)
            stats.twice++;          //  our names are unique: only a second
                                    //  application could find them present
        else if (req->state == R_DONE && strcmp (req->job, id) != 0)
            stats.twice++;          //  two different jobs for one key
        if (req->state != R_DONE) {
            snprintf (req->job, sizeof req->job, "%s", id);
            if (req->state == R_SENT)
                outstanding [req->client]--;
            req->state = R_DONE;
            stats.acked++;
        }
    }
    else
    if (rc == 32771 || rc == 32772 || rc == 32774 || rc == 32777) {
        if (req->state == R_SENT) {
            outstanding [req->client]--;
            req->state = R_RETRY;
        }
    }
    else
        stats.errors++;
}

//  Attempts with no answer for too long are retried; answered requests
//  leave the active list.
static void
s_expire (void)
{
    int64_t now = zclock_mono ();
    size_t kept = 0;
    for (size_t a = 0; a < nactive; a++) {
        request_t *req = &requests [active [a]];
        if (req->state == R_SENT && now - req->sent_at > ATTEMPT_MS) {
            req->state = R_RETRY;
            outstanding [req->client]--;
        }
        if (req->state != R_DONE)
            active [kept++] = active [a];
    }
    nactive = kept;
}

//  Fill every connection's window: retries first, then (if `fresh`) new.
static void
s_fill (bool fresh)
{
    for (size_t a = 0; a < nactive; a++) {
        request_t *req = &requests [active [a]];
        if (req->state == R_RETRY && outstanding [req->client] < WINDOW
        &&  zclock_mono () - req->sent_at > 200)
            s_send (active [a]);
    }
    for (int c = 0; fresh && c < CLIENTS; c++)
        while (outstanding [c] < WINDOW)
            s_send (s_new_request (c));
}

//  Read replies for up to `ms`.
static void
s_pump (int ms)
{
    zpoller_t *poller = zpoller_new (NULL);
    for (int c = 0; c < CLIENTS; c++)
        zpoller_add (poller, socks [c]);
    int64_t until = zclock_mono () + ms;
    while (zclock_mono () < until) {
        zsock_t *which = zpoller_wait (poller, (int) (until - zclock_mono ()));
        if (!which)
            break;
        tk_reply_t *reply = tk_recv (which, 0);
        if (reply)
            s_on_reply (reply);
        tk_reply_destroy (&reply);
    }
    zpoller_destroy (&poller);
}

//  Is worker `i` alive according to ClusterStatus? -1 without an answer.
static int
s_worker_alive (int i)
{
    zsock_t *sock = tk_dealer (cluster->clients);
    tk_body_t body;
    tk_body_begin (&body, "ClusterStatus", 0);
    tk_reply_t *reply = tk_call (sock, &body, 300);
    int alive = -1;
    char id [16];
    snprintf (id, sizeof id, "w%d", i);
    const msgpack_object *ws = reply ? tk_get (reply->map, "workers") : NULL;
    for (uint32_t k = 0; ws && k < ws->via.array.size; k++)
        if (strcmp (tk_get_str (&ws->via.array.ptr [k], "id"), id) == 0) {
            const msgpack_object *a = tk_get (&ws->via.array.ptr [k], "alive");
            alive = a && a->type == MSGPACK_OBJECT_BOOLEAN && a->via.boolean;
        }
    tk_reply_destroy (&reply);
    zsock_destroy (&sock);
    return alive;
}

//  Keep the load going for `ms`, in short slices.
static void
s_load (int ms, bool fresh)
{
    int64_t until = zclock_mono () + ms;
    while (zclock_mono () < until) {
        s_fill (fresh);
        s_pump (20);
        s_expire ();
    }
}

//  Load until `pred` holds (polled every ~50 ms) or `bound` ms pass;
//  returns the ms it took, or -1.
static int64_t
s_load_until (int worker, int want_alive, int bound)
{
    int64_t start = zclock_mono ();
    while (zclock_mono () - start < bound) {
        s_load (50, true);
        if (s_worker_alive (worker) == want_alive)
            return zclock_mono () - start;
    }
    return -1;
}

static void
s_fault_kill_worker (void)
{
    int w = (int) s_rand (WORKERS);
    tk_stop (cluster->workers [w], SIGKILL, 5000);
    stats.kills++;
    int64_t detect = s_load_until (w, 0, 15000);
    ck_assert_msg (detect >= 0, "death of w%d never noticed", w);
    stats.detect_ms_max = detect > stats.detect_ms_max ? detect : stats.detect_ms_max;
    s_load ((int) s_rand (1000), true);
    tk_worker_start (cluster, w);
    int64_t back = s_load_until (w, 1, 20000);
    ck_assert_msg (back >= 0, "w%d did not come back", w);
    stats.recover_ms_max = back > stats.recover_ms_max ? back : stats.recover_ms_max;
}

static void
s_fault_kill_broker (void)
{
    tk_stop (cluster->broker, SIGKILL, 5000);
    stats.broker_kills++;
    s_load ((int) s_rand (800), true);
    tk_broker_start (cluster);
    int64_t start = zclock_mono ();
    while (zclock_mono () - start < 20000) {
        s_load (100, true);
        if (tk_wait_alive (cluster, WORKERS, 50))
            break;
    }
}

static void
s_fault_stop_worker (void)
{
    int w = (int) s_rand (WORKERS);
    kill (cluster->workers [w], SIGSTOP);
    stats.stops++;
    s_load (DEADLINE_MS + 500 + (int) s_rand (1500), true);
    kill (cluster->workers [w], SIGCONT);
    s_load_until (w, 1, 20000);
}

//  --- the audit, against the stores themselves ------------------------

typedef struct {
    size_t completed;       //  Completed jobs in the logs for this request
} seen_t;

static seen_t *seen;

//  One log entry: check its place in the sequence and count its request.
static int
s_audit_log (void *arg, uint32_t part, uint64_t seq, const void *event,
             size_t len)
{
    uint64_t *expect = arg;
    if (seq != *expect)
        stats.gaps++;
    *expect = seq + 1;
    msgpack_unpacked unp;
    msgpack_unpacked_init (&unp);
    size_t off = 0;
    if (msgpack_unpack_next (&unp, event, len, &off) == MSGPACK_UNPACK_SUCCESS
    &&  tk_get_uint (&unp.data, "JobState") == 7) {
        const msgpack_object *items = tk_get (&unp.data, "items");
        size_t r;
        if (items && items->via.array.size
        &&  sscanf (tk_get_str (&items->via.array.ptr [0], "Name"), "chaos-%zu-", &r) == 1
        &&  r < nrequests)
            seen [r].completed++;
    }
    msgpack_unpacked_destroy (&unp);
    return 0;
}

typedef struct {
    size_t count;
    bool ok;
    size_t req;
} items_check_t;

static int
s_audit_item (void *arg, uint32_t source, const char *name, size_t name_len,
              const char *data, size_t data_len)
{
    items_check_t *check = arg;
    char buf [128], want [64];
    size_t r;
    int i;
    snprintf (buf, sizeof buf, "%.*s", (int) name_len, name);
    if (sscanf (buf, "chaos-%zu-%d", &r, &i) != 2 || r >= nrequests
    ||  requests [r].state != R_DONE) {
        stats.stray_items++;        //  an item no acknowledged job made
        return 0;
    }
    s_item_data (want, sizeof want, r, i);
    if (data_len != strlen (want) || memcmp (data, want, data_len) != 0)
        stats.lost++;
    check->count++;
    return 0;
}

static void
s_audit (void)
{
    seen = calloc (nrequests + 1, sizeof *seen);
    uint32_t owner [KVP_PARTITIONS_MAX];
    memset (owner, 0xff, sizeof owner);
    size_t items_total = 0;
    for (int w = 0; w < WORKERS; w++) {
        char dir [300];
        snprintf (dir, sizeof dir, "%s/w%d", cluster->dir, w);
        int rc;
        kvp_store_config_t config = { .wal_segment = 1 << 20 };
        kvp_store_t *store = kvp_store_new (dir, &config, &rc);
        ck_assert_msg (store, "open %s: %s", dir, kvp_store_strerror (rc));
        uint32_t *parts;
        size_t nparts;
        ck_assert_int_eq (kvp_store_partitions (store, &parts, &nparts), 0);
        ck_assert_int_eq (kvp_store_begin (store), 0);
        for (size_t p = 0; p < nparts; p++) {
            if (owner [parts [p]] != UINT32_MAX)
                stats.forks++;      //  one partition's data on two workers
            owner [parts [p]] = (uint32_t) w;
            uint64_t expect = 1;
            kvp_store_log_each (store, parts [p], 1, s_audit_log, &expect);
        }
        for (int s = 0; s < SYSTEMS; s++) {
            kvp_guid_t guid;
            uint8_t bytes [16];
            kvp_guid_parse (&guid, systems [s], 36);
            kvp_guid_to_bytes (&guid, bytes);
            uint32_t part = kvp_guid_partition (&guid, 64);
            items_check_t check = { 0 };
            kvp_store_items_each (store, part, bytes, UINT32_MAX, NULL,
                                  s_audit_item, &check);
            items_total += check.count;
        }
        kvp_store_abort (store);
        free (parts);
        kvp_store_destroy (&store);
    }
    for (size_t r = 0; r < nrequests; r++) {
        if (requests [r].state != R_DONE)
            stats.unanswered++;
        else
        if (seen [r].completed == 0)
            stats.lost++;
        if (seen [r].completed > 1)
            stats.twice++;
    }
    //  Every acknowledged request's items are all there, exactly.
    if (items_total != stats.acked * ITEMS)
        stats.lost += stats.acked * ITEMS > items_total
                    ? stats.acked * ITEMS - items_total : 0;
    free (seen);
}

START_TEST (test_chaos)
{
    const char *env = getenv ("KVP_CHAOS_SECONDS");
    int seconds = env ? atoi (env) : 15;
    env = getenv ("KVP_CHAOS_SEED");
    seed = env ? (unsigned) atoi (env) : (unsigned) (time (NULL) ^ getpid ());
    printf ("chaos: %d s of faults, seed %u\n", seconds, seed);

    cluster = tk_cluster_new (WORKERS);
    char bargs [128];
    snprintf (bargs, sizeof bargs, "--deadline %d --heartbeat 200 --liveness 3", DEADLINE_MS);
    cluster->broker_args = bargs;
    cluster->worker_args = "--heartbeat 200 --liveness 3";
    ck_assert (tk_cluster_start (cluster));
    zsock_t *admin = tk_dealer (cluster->clients);
    for (int s = 0; s < SYSTEMS; s++)
        ck_assert_int_eq (tk_define (admin, "chaos", systems [s]), 0);
    zsock_destroy (&admin);
    for (int c = 0; c < CLIENTS; c++)
        socks [c] = tk_dealer (cluster->clients);

    int64_t end = zclock_mono () + seconds * 1000LL;
    while (zclock_mono () < end) {
        s_load (300 + (int) s_rand (1500), true);
        switch (s_rand (4)) {
            case 0: case 1: s_fault_kill_worker (); break;
            case 2: s_fault_kill_broker (); break;
            default: s_fault_stop_worker (); break;
        }
    }
    //  Heal: no new requests; retry until every request has its answer.
    int64_t heal_end = zclock_mono () + HEAL_MS;
    bool all_done = false;
    while (!all_done && zclock_mono () < heal_end) {
        s_load (200, false);
        all_done = nactive == 0;
    }
    for (int c = 0; c < CLIENTS; c++)
        zsock_destroy (&socks [c]);
    //  Stop everything gracefully, then read the stores.
    for (int w = 0; w < WORKERS; w++) {
        ck_assert_int_eq (tk_stop (cluster->workers [w], SIGTERM, 15000), 0);
        cluster->workers [w] = 0;
    }
    tk_stop (cluster->broker, SIGTERM, 15000);
    cluster->broker = 0;
    s_audit ();

    printf ("chaos: requests sent %" PRIu64 ", acknowledged %" PRIu64
            ", retried %" PRIu64 "\n", stats.sent, stats.acked, stats.retried);
    printf ("chaos: faults survived: worker kill -9 %" PRIu64 ", broker kill -9 %"
            PRIu64 ", SIGSTOP past the deadline %" PRIu64 "\n",
            stats.kills, stats.broker_kills, stats.stops);
    printf ("chaos: acknowledged-but-lost %" PRIu64 ", applied-twice %" PRIu64
            ", forks %" PRIu64 ", without an answer %" PRIu64
            ", stray items %" PRIu64 ", seq gaps %" PRIu64 ", other errors %" PRIu64 "\n",
            stats.lost, stats.twice, stats.forks, stats.unanswered,
            stats.stray_items, stats.gaps, stats.errors);
    printf ("chaos: dead worker noticed within %" PRId64 " ms (worst); "
            "restarted worker serving again within %" PRId64 " ms (worst)\n",
            stats.detect_ms_max, stats.recover_ms_max);
    ck_assert_uint_gt (stats.acked, 0);
    ck_assert_uint_eq (stats.lost, 0);
    ck_assert_uint_eq (stats.twice, 0);
    ck_assert_uint_eq (stats.forks, 0);
    ck_assert_uint_eq (stats.unanswered, 0);
    ck_assert_uint_eq (stats.stray_items, 0);
    ck_assert_uint_eq (stats.gaps, 0);
    ck_assert_uint_eq (stats.errors, 0);
    tk_cluster_destroy (&cluster);
    free (requests);
    free (rid_owner);
    free (active);
}
END_TEST

int
main (void)
{
    Suite *suite = suite_create ("chaos");
    TCase *tc = tcase_create ("faults");
    const char *env = getenv ("KVP_CHAOS_SECONDS");
    tcase_set_timeout (tc, (env ? atoi (env) : 15) * 3 + 180);
    tcase_add_test (tc, test_chaos);
    suite_add_tcase (suite, tc);
    return tk_run_suite (suite);
}
