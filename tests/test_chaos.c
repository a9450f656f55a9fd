/*  test_chaos.c - load with idempotency keys while workers and the broker are
    killed (-9) and stopped (SIGSTOP past the deadline) at random moments;
    then every promise is audited against the workers' stores themselves.

    KVP_CHAOS_SECONDS (default 15) sets the length of the fault phase,
    KVP_CHAOS_SEED the random seed (printed, so a run can be repeated).
    `make chaos` runs it for minutes; `make test` runs the short version.

    KVP_CHAOS_REPLICAS=R (R > 1; `make chaos CHAOS_REPLICAS=3`) runs the
    replicated mode instead: the broker keeps R copies of each partition,
    M = min(2, R) in sync (spec section 12). Its faults are kill -9 of a
    partition's leader, of a follower (the worker leading fewest), of the
    broker, and SIGSTOP of a worker past the liveness bound. After the
    heal the broker is stopped first (so the registry keeps the healed
    in-sync sets), then the workers, and the audit reads the registry and
    every worker's store: every acknowledged job on its partition's
    leader (acknowledged-but-lost), no job applied twice, no two copies
    with different jobs at one seq (forks), every in-sync copy reading as
    its leader (divergent replicas); and it reports, per fault, the
    longest time a partition answered 32777 (or another retry code) or
    nothing.
*/
#include <check.h>
#include <signal.h>
#include <sys/wait.h>
#include "kvp_testkit.h"
#include "kvp_store.h"
#include "kvp_reply.h"
#include "kvp_guid.h"
#include "kvp_wire.h"
#include "kvp_registry.h"
#include "kvp_fnv.h"

enum {
    WORKERS = 3,            //  a fault never leaves the cluster without work
    CLIENTS = 4,            //  DEALER connections
    WINDOW = 8,             //  requests outstanding per connection
    SYSTEMS = 48,
    ITEMS = 3,              //  items per request
    ATTEMPT_MS = 4000,      //  no answer for this long: retry (same key)
    DEADLINE_MS = 1500,     //  the broker's --deadline in this test
    HEAL_MS = 60000,        //  bound on finishing after the faults stop
    PARTS = 64,             //  the broker's N (its default)
    SETTLE_MS = 4000,       //  replicated: idle before stopping, so that
                            //  returned followers are back in sync
    FAULTS_MAX = 4096
};

//  Replicated mode: the kinds of fault, and what each one did
typedef enum { F_LEADER, F_FOLLOWER, F_BROKER, F_STOP, F_KINDS } fkind_t;

static const char *s_fkind_name [F_KINDS] = {
    "kill -9 leader", "kill -9 follower", "kill -9 broker",
    "SIGSTOP worker"
};

typedef struct {
    fkind_t kind;
    int worker;             //  -1 for the broker
    int led;                //  loaded partitions it led when hit
    int64_t at;             //  monotonic ms it was done
    int64_t worst;          //  longest outage of a partition after it
    int worst_part;
} fault_t;

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
    uint64_t divergent, out_of_sync, copies;
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
static int replicas = 1;                //  R; 1: the single-copy mode
static uint32_t sys_part [SYSTEMS];     //  each system's partition
static int64_t down_since [PARTS];      //  first unanswered attempt; 0: up
static fault_t faults [FAULTS_MAX];
static size_t nfaults;
static int64_t baseline_worst;          //  outages before the first fault

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

//  --- per-fault unavailability ----------------------------------------

//  An attempt sent at `sent` got no good answer: its partition is down
//  since then, unless it was already.
static void
s_part_down (uint32_t part, int64_t sent)
{
    if (part < PARTS && (!down_since [part] || sent < down_since [part]))
        down_since [part] = sent;
}

//  A 4096 for an attempt sent at `sent`: the partition answered nothing
//  good since the earlier of that and its first failed attempt. The
//  outage goes to the last fault done before it ended.
static void
s_part_up (uint32_t part, int64_t sent)
{
    if (part >= PARTS)
        return;
    int64_t now = zclock_mono ();
    int64_t from = down_since [part] && down_since [part] < sent
                 ? down_since [part] : sent;
    int64_t outage = now - from;
    down_since [part] = 0;
    if (nfaults == 0) {
        if (outage > baseline_worst)
            baseline_worst = outage;
        return;
    }
    fault_t *fault = &faults [nfaults - 1];
    if (outage > fault->worst) {
        fault->worst = outage;
        fault->worst_part = (int) part;
    }
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
    if (rc == 4096)
        s_part_up (sys_part [req->system], req->sent_at);
    else
        s_part_down (sys_part [req->system], req->sent_at);
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
            s_part_down (sys_part [req->system], req->sent_at);
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
s_fault_kill_worker_at (int w)
{
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
s_fault_kill_worker (void)
{
    s_fault_kill_worker_at ((int) s_rand (WORKERS));
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
s_fault_stop_worker_at (int w)
{
    kill (cluster->workers [w], SIGSTOP);
    stats.stops++;
    s_load (DEADLINE_MS + 500 + (int) s_rand (1500), true);
    kill (cluster->workers [w], SIGCONT);
    s_load_until (w, 1, 20000);
}

static void
s_fault_stop_worker (void)
{
    s_fault_stop_worker_at ((int) s_rand (WORKERS));
}

//  --- replicated mode's faults ----------------------------------------

//  From ClusterStatus: how many of the loaded partitions each live worker
//  leads, and the leader of each partition (-1: none live). False
//  without an answer.
static bool
s_leaders (int led [WORKERS], int leader [PARTS])
{
    zsock_t *sock = tk_dealer (cluster->clients);
    tk_body_t body;
    tk_body_begin (&body, "ClusterStatus", 0);
    tk_reply_t *reply = tk_call (sock, &body, 300);
    const msgpack_object *ws = reply ? tk_get (reply->map, "workers") : NULL;
    for (int w = 0; w < WORKERS; w++)
        led [w] = 0;
    for (int p = 0; p < PARTS; p++)
        leader [p] = -1;
    for (uint32_t k = 0; ws && k < ws->via.array.size; k++) {
        const msgpack_object *wk = &ws->via.array.ptr [k];
        const msgpack_object *a = tk_get (wk, "alive");
        const msgpack_object *parts = tk_get (wk, "partitions");
        int w;
        if (sscanf (tk_get_str (wk, "id"), "w%d", &w) != 1
        ||  w < 0 || w >= WORKERS || !a || a->type != MSGPACK_OBJECT_BOOLEAN
        ||  !a->via.boolean || !parts || parts->type != MSGPACK_OBJECT_ARRAY)
            continue;
        for (uint32_t i = 0; i < parts->via.array.size; i++) {
            uint64_t p = parts->via.array.ptr [i].via.u64;
            if (p < PARTS)
                leader [p] = w;
        }
    }
    for (int s = 0; s < SYSTEMS; s++) {
        bool first = true;          //  count each partition once
        for (int t = 0; t < s; t++)
            first = first && sys_part [t] != sys_part [s];
        if (first && leader [sys_part [s]] >= 0)
            led [leader [sys_part [s]]]++;
    }
    bool answered = ws != NULL;
    tk_reply_destroy (&reply);
    zsock_destroy (&sock);
    return answered;
}

static fault_t *
s_fault_begin (fkind_t kind, int worker, int led)
{
    ck_assert_uint_lt (nfaults, FAULTS_MAX);
    fault_t *fault = &faults [nfaults++];
    memset (fault, 0, sizeof *fault);
    fault->kind = kind;
    fault->worker = worker;
    fault->led = led;
    fault->at = zclock_mono ();
    fault->worst_part = -1;
    return fault;
}

//  kill -9 the leader of a loaded partition (`lead`), or the worker that
//  leads fewest of them (a follower of the rest), and restart it.
static void
s_fault_kill_copy (bool lead)
{
    int led [WORKERS], leader [PARTS];
    int w = (int) s_rand (WORKERS);
    if (s_leaders (led, leader)) {
        if (lead) {
            int p = (int) sys_part [s_rand (SYSTEMS)];
            if (leader [p] >= 0)
                w = leader [p];
        }
        else {
            int fewest = w;
            for (int i = 0; i < WORKERS; i++)
                if (led [i] < led [fewest])
                    fewest = i;
            w = fewest;
        }
    }
    else
        led [w] = -1;               //  unknown: the broker did not answer
                                    //  (reported as "?")
    s_fault_begin (lead ? F_LEADER : F_FOLLOWER, w, led [w]);
    s_fault_kill_worker_at (w);
}

static void
s_fault_replicated (void)
{
    switch (s_rand (5)) {
        case 0: case 1:
            s_fault_kill_copy (true);
            break;
        case 2:
            s_fault_kill_copy (false);
            break;
        case 3:
            s_fault_begin (F_BROKER, -1, 0);
            s_fault_kill_broker ();
            break;
        default: {
            int led [WORKERS], leader [PARTS];
            int w = (int) s_rand (WORKERS);
            bool known = s_leaders (led, leader);
            s_fault_begin (F_STOP, w, known ? led [w] : -1);
            s_fault_stop_worker_at (w);
        }
    }
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

//  --- the replicated audit: the registry and every copy ----------------

typedef struct {
    uint64_t seq;
    uint8_t hash [KVP_FNV_SIZE];
} entry_t;

//  What one worker's store holds of one partition
typedef struct {
    bool present;                   //  it has the partition's record
    uint64_t seq;                   //  the record's last job
    entry_t *log;                   //  ascending seq
    size_t count, cap;
    char *dump;                     //  what the read API shows, as text
} copy_t;

static copy_t copies [WORKERS][PARTS];
static uint8_t sys_bytes [SYSTEMS][16];

static int
s_copy_log (void *arg, uint32_t part, uint64_t seq, const void *event,
            size_t len)
{
    copy_t *copy = arg;
    if (copy->count == copy->cap) {
        copy->cap = copy->cap ? copy->cap * 2 : 256;
        copy->log = realloc (copy->log, copy->cap * sizeof *copy->log);
        ck_assert_ptr_nonnull (copy->log);
    }
    entry_t *entry = &copy->log [copy->count++];
    entry->seq = seq;
    kvp_fnv_128 (event, len, entry->hash);
    return 0;
}

static int
s_dump_item (void *arg, uint32_t source, const char *name, size_t name_len,
             const char *data, size_t data_len)
{
    fprintf ((FILE *) arg, "  I %u %.*s = %.*s\n", source, (int) name_len,
             name, (int) data_len, data);
    return 0;
}

static void
s_hex (FILE *out, const uint8_t *bytes, size_t size)
{
    for (size_t i = 0; i < size; i++)
        fprintf (out, "%02x", bytes [i]);
}

//  Systems, items, idempotency keys and log of `part` in `store` (in its
//  open batch), as text: two copies that read alike dump alike.
static char *
s_dump_part (kvp_store_t *store, uint32_t part, const copy_t *copy)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    ck_assert_ptr_nonnull (out);
    fprintf (out, "P %" PRIu64 "\n", copy->seq);
    for (int s = 0; s < SYSTEMS; s++) {
        if (sys_part [s] != part)
            continue;
        kvp_system_t sys;
        if (kvp_store_system_get (store, part, sys_bytes [s], &sys) == 0)
            fprintf (out, "S %d %s %d %" PRIu64 "\n", s, sys.name,
                     sys.exchange, sys.created_ms);
        else
            fprintf (out, "S %d none\n", s);
        kvp_store_items_each (store, part, sys_bytes [s], UINT32_MAX, NULL,
                              s_dump_item, out);
    }
    for (size_t r = 0; r < nrequests; r++) {
        int s = requests [r].system;
        if (sys_part [s] != part)
            continue;
        char key [32];
        uint64_t seq;
        uint8_t digest [16];
        snprintf (key, sizeof key, "k%zu", r);
        if (kvp_store_key_get (store, part, sys_bytes [s], key, strlen (key),
                               &seq, digest) == 0) {
            fprintf (out, "K %s %" PRIu64 " ", key, seq);
            s_hex (out, digest, sizeof digest);
            fputc ('\n', out);
        }
    }
    for (size_t i = 0; i < copy->count; i++) {
        fprintf (out, "L %" PRIu64 " ", copy->log [i].seq);
        s_hex (out, copy->log [i].hash, KVP_FNV_SIZE);
        fputc ('\n', out);
    }
    fclose (out);
    return text;
}

//  Two copies with different jobs at one seq: one fork per such seq.
static uint64_t
s_forks (const copy_t *a, const copy_t *b)
{
    uint64_t forks = 0;
    size_t i = 0, j = 0;
    while (i < a->count && j < b->count) {
        if (a->log [i].seq < b->log [j].seq)
            i++;
        else
        if (a->log [i].seq > b->log [j].seq)
            j++;
        else {
            forks += memcmp (a->log [i].hash, b->log [j].hash,
                             KVP_FNV_SIZE) != 0;
            i++;
            j++;
        }
    }
    return forks;
}

//  A copy's log runs without a hole up to the job its record names, in
//  or out of the in-sync set: a follower applies only what continues its
//  position, or a whole copy.
static uint64_t
s_copy_gaps (const copy_t *copy)
{
    uint64_t gaps = 0;
    for (size_t i = 1; i < copy->count; i++)
        gaps += copy->log [i].seq != copy->log [i - 1].seq + 1;
    if (copy->count && copy->log [copy->count - 1].seq != copy->seq)
        gaps++;
    return gaps;
}

//  Where two dumps first differ, for the report.
static void
s_show_diff (const char *what, const char *a, const char *b)
{
    size_t line = 1, at = 0;
    while (a [at] && a [at] == b [at]) {
        if (a [at] == '\n')
            line++;
        at++;
    }
    while (at > 0 && a [at - 1] != '\n')
        at--;                       //  the whole line, on both sides
    int len_a = (int) strcspn (a + at, "\n");
    int len_b = (int) strcspn (b + at, "\n");
    printf ("chaos: %s: first difference at line %zu: leader \"%.*s\", "
            "copy \"%.*s\"\n", what, line, len_a < 80 ? len_a : 80, a + at,
            len_b < 80 ? len_b : 80, b + at);
}

//  The worker index of a name "wI", or -1.
static int
s_worker_index (const char *name)
{
    int w;
    return name && sscanf (name, "w%d", &w) == 1 && w >= 0 && w < WORKERS
         ? w : -1;
}

//  Is acknowledged request `r` the job its key names on `store`, Completed
//  with the id the client was given?
static bool
s_job_kept (kvp_store_t *store, size_t r)
{
    const request_t *req = &requests [r];
    uint32_t part = sys_part [req->system];
    char key [32];
    uint64_t seq;
    uint8_t digest [16];
    snprintf (key, sizeof key, "k%zu", r);
    if (kvp_store_key_get (store, part, sys_bytes [req->system], key,
                           strlen (key), &seq, digest) != 0)
        return false;
    const void *event;
    size_t len;
    if (kvp_store_log_get (store, part, seq, &event, &len) != 0)
        return false;
    msgpack_unpacked unp;
    msgpack_unpacked_init (&unp);
    size_t off = 0;
    bool kept = msgpack_unpack_next (&unp, event, len, &off)
                == MSGPACK_UNPACK_SUCCESS
             && tk_get_uint (&unp.data, "JobState") == 7
             && strcmp (tk_get_str (&unp.data, "InstanceID"), req->job) == 0;
    msgpack_unpacked_destroy (&unp);
    return kept;
}

static void
s_audit_replicated (void)
{
    char dir [300];
    snprintf (dir, sizeof dir, "%s/broker", cluster->dir);
    int rc = 0;
    kvp_registry_t *registry = kvp_registry_new_replicated (dir, 0, 0, 0, &rc);
    ck_assert_msg (registry, "open the registry in %s: %s", dir,
                   kvp_store_strerror (rc));
    const kvp_regstate_t *state = kvp_registry_state (registry);
    ck_assert_uint_eq (kvp_regstate_replicas (state), (unsigned) replicas);
    ck_assert_uint_eq (kvp_registry_partitions (registry), PARTS);

    kvp_store_t *stores [WORKERS];
    for (int w = 0; w < WORKERS; w++) {
        snprintf (dir, sizeof dir, "%s/w%d", cluster->dir, w);
        kvp_store_config_t config = { .wal_segment = 1 << 20 };
        stores [w] = kvp_store_new (dir, &config, &rc);
        ck_assert_msg (stores [w], "open %s: %s", dir, kvp_store_strerror (rc));
        ck_assert_int_eq (kvp_store_begin (stores [w]), 0);
        for (uint32_t p = 0; p < PARTS; p++) {
            copy_t *copy = &copies [w][p];
            kvp_partition_t info;
            copy->present = kvp_store_partition_get (stores [w], p, &info) == 0;
            copy->seq = copy->present ? info.seq : 0;
            if (copy->present)
                kvp_store_log_each (stores [w], p, 1, s_copy_log, copy);
            copy->dump = s_dump_part (stores [w], p, copy);
        }
    }
    //  Each partition: the leader's log in order, every pair of copies
    //  agreeing where both have a job, every in-sync copy as the leader
    seen = calloc (nrequests + 1, sizeof *seen);
    int leader_of [PARTS];
    size_t items_total = 0;
    for (uint32_t p = 0; p < PARTS; p++) {
        kvp_regpart_t rp;
        leader_of [p] = -1;
        if (!kvp_regstate_partition (state, p, &rp) || rp.count == 0)
            continue;
        int lead = s_worker_index (rp.replicas [rp.leader]);
        leader_of [p] = lead;
        if (lead < 0)
            continue;
        uint64_t expect = 1;
        kvp_store_log_each (stores [lead], p, 1, s_audit_log, &expect);
        for (int s = 0; s < SYSTEMS; s++) {
            if (sys_part [s] != p)
                continue;
            items_check_t check = { 0 };
            kvp_store_items_each (stores [lead], p, sys_bytes [s], UINT32_MAX,
                                  NULL, s_audit_item, &check);
            items_total += check.count;
        }
        for (int a = 0; a < WORKERS; a++) {
            for (int b = a + 1; b < WORKERS; b++)
                stats.forks += s_forks (&copies [a][p], &copies [b][p]);
            if (a != lead)
                stats.gaps += s_copy_gaps (&copies [a][p]);
        }
        for (size_t i = 0; i < rp.count; i++) {
            int w = s_worker_index (rp.replicas [i]);
            stats.copies++;
            if (!rp.in_sync [i]) {
                stats.out_of_sync++;
                continue;
            }
            if (w == lead)
                continue;
            if (w < 0 || strcmp (copies [w][p].dump, copies [lead][p].dump)) {
                char what [64];
                snprintf (what, sizeof what, "partition %u: in-sync copy %s",
                          p, rp.replicas [i]);
                if (w >= 0 && stats.divergent < 5)
                    s_show_diff (what, copies [lead][p].dump,
                                 copies [w][p].dump);
                stats.divergent++;
            }
        }
    }
    for (size_t r = 0; r < nrequests; r++) {
        int lead = leader_of [sys_part [requests [r].system]];
        if (requests [r].state != R_DONE)
            stats.unanswered++;
        else
        if (lead < 0 || seen [r].completed == 0
        ||  !s_job_kept (stores [lead], r))
            stats.lost++;
        if (seen [r].completed > 1)
            stats.twice++;
    }
    if (items_total != stats.acked * ITEMS)
        stats.lost += stats.acked * ITEMS > items_total
                    ? stats.acked * ITEMS - items_total : 0;
    free (seen);
    for (int w = 0; w < WORKERS; w++) {
        kvp_store_abort (stores [w]);
        kvp_store_destroy (&stores [w]);
        for (uint32_t p = 0; p < PARTS; p++) {
            free (copies [w][p].log);
            free (copies [w][p].dump);
        }
    }
    memset (copies, 0, sizeof copies);
    kvp_registry_destroy (&registry);
}

static int
s_cmp_ms (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return x < y ? -1 : x > y;
}

//  Per fault and per kind: the longest time a partition went unanswered
static void
s_report_faults (void)
{
    for (size_t f = 0; f < nfaults; f++) {
        const fault_t *fault = &faults [f];
        char who [48] = "", led [16] = "?";
        if (fault->led >= 0)
            snprintf (led, sizeof led, "%d", fault->led);
        if (fault->worker >= 0)
            snprintf (who, sizeof who, " w%d (leading %s loaded partitions)",
                      fault->worker, led);
        printf ("chaos: fault %zu at %+.1f s: %s%s: longest outage %" PRId64
                " ms (partition %d)\n", f + 1,
                (fault->at - faults [0].at) / 1000.0,
                s_fkind_name [fault->kind], who, fault->worst,
                fault->worst_part);
    }
    int64_t worst [FAULTS_MAX];
    for (int k = 0; k < F_KINDS; k++) {
        size_t count = 0;
        for (size_t f = 0; f < nfaults; f++)
            if (faults [f].kind == (fkind_t) k)
                worst [count++] = faults [f].worst;
        if (count == 0) {
            printf ("chaos: %s: none\n", s_fkind_name [k]);
            continue;
        }
        qsort (worst, count, sizeof *worst, s_cmp_ms);
        printf ("chaos: %s: %zu, longest partition outage after each: median "
                "%" PRId64 " ms, worst %" PRId64 " ms\n", s_fkind_name [k],
                count, worst [count / 2], worst [count - 1]);
    }
    printf ("chaos: longest outage before the first fault %" PRId64 " ms\n",
            baseline_worst);
}

START_TEST (test_chaos)
{
    const char *env = getenv ("KVP_CHAOS_SECONDS");
    int seconds = env ? atoi (env) : 15;
    env = getenv ("KVP_CHAOS_SEED");
    seed = env ? (unsigned) atoi (env) : (unsigned) (time (NULL) ^ getpid ());
    env = getenv ("KVP_CHAOS_REPLICAS");
    replicas = env && atoi (env) > 1 ? atoi (env) : 1;
    int min_insync = replicas < 2 ? replicas : 2;
    ck_assert_int_le (replicas, WORKERS);
    if (replicas > 1)
        printf ("chaos: %d s of faults, seed %u, replicated: R=%d M=%d, "
                "%d workers\n", seconds, seed, replicas, min_insync, WORKERS);
    else
        printf ("chaos: %d s of faults, seed %u\n", seconds, seed);

    cluster = tk_cluster_new (WORKERS);
    char bargs [160];
    int len = snprintf (bargs, sizeof bargs,
                        "--deadline %d --heartbeat 200 --liveness 3",
                        DEADLINE_MS);
    if (replicas > 1)
        snprintf (bargs + len, sizeof bargs - len,
                  " --replicas %d --min-insync %d", replicas, min_insync);
    cluster->broker_args = bargs;
    cluster->worker_args = "--heartbeat 200 --liveness 3";
    ck_assert (tk_cluster_start (cluster));
    zsock_t *admin = tk_dealer (cluster->clients);
    for (int s = 0; s < SYSTEMS; s++) {
        ck_assert_int_eq (tk_define (admin, "chaos", systems [s]), 0);
        kvp_guid_t guid;
        ck_assert (kvp_guid_parse (&guid, systems [s], 36));
        kvp_guid_to_bytes (&guid, sys_bytes [s]);
        sys_part [s] = kvp_guid_partition (&guid, PARTS);
    }
    zsock_destroy (&admin);
    for (int c = 0; c < CLIENTS; c++)
        socks [c] = tk_dealer (cluster->clients);

    int64_t end = zclock_mono () + seconds * 1000LL;
    while (zclock_mono () < end) {
        s_load (300 + (int) s_rand (1500), true);
        if (replicas > 1)
            s_fault_replicated ();
        else
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
    if (replicas > 1) {
        //  Settle: every worker live, returned followers caught up and
        //  back in the in-sync set; then the broker goes first, so that
        //  the registry keeps the in-sync sets of the healed cluster
        ck_assert (tk_wait_alive (cluster, WORKERS, 20000));
        s_load (SETTLE_MS, false);
        ck_assert_int_eq (tk_stop (cluster->broker, SIGTERM, 15000), 0);
        cluster->broker = 0;
    }
    for (int c = 0; c < CLIENTS; c++)
        zsock_destroy (&socks [c]);
    //  Stop everything gracefully, then read the stores.
    for (int w = 0; w < WORKERS; w++) {
        ck_assert_int_eq (tk_stop (cluster->workers [w], SIGTERM, 15000), 0);
        cluster->workers [w] = 0;
    }
    if (cluster->broker)
        tk_stop (cluster->broker, SIGTERM, 15000);
    cluster->broker = 0;
    if (replicas > 1)
        s_audit_replicated ();
    else
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
    if (replicas > 1) {
        printf ("chaos: divergent replicas once healed %" PRIu64 " (of %"
                PRIu64 " copies, %" PRIu64 " out of the in-sync set at the "
                "end)\n", stats.divergent, stats.copies, stats.out_of_sync);
        s_report_faults ();
    }
    fflush (stdout);                //  the report, even when a check fails
    ck_assert_uint_gt (stats.acked, 0);
    ck_assert_uint_eq (stats.lost, 0);
    ck_assert_uint_eq (stats.twice, 0);
    ck_assert_uint_eq (stats.forks, 0);
    ck_assert_uint_eq (stats.divergent, 0);
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
