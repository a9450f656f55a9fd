/*  test_faults.c - every return code where the spec puts it, through a real
    cluster, and the promises that hold while processes die and stall.
*/
#include <check.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>
#include <errno.h>
#include <unistd.h>
#include "kvp_testkit.h"

static tk_cluster_t *cluster;
static zsock_t *client;

//  Start a cluster of `workers` with extra flags.
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

//  Which worker (index) owns `id`'s partition, by ClusterStatus; -1 if none.
static int
s_owner_of (const char *id)
{
    tk_body_t body;
    tk_body_begin (&body, "ClusterStatus", 0);
    tk_reply_t *reply = tk_call (client, &body, 5000);
    ck_assert_ptr_nonnull (reply);
    uint32_t nparts = (uint32_t) tk_get_uint (reply->map, "partitions");
    uint32_t h = 2166136261u;
    for (const char *p = id; *p; p++)
        h = (h ^ (uint8_t) *p) * 16777619u;
    uint32_t part = h % nparts;
    int owner = -1;
    const msgpack_object *ws = tk_get (reply->map, "workers");
    for (uint32_t w = 0; w < ws->via.array.size; w++) {
        const msgpack_object *parts = tk_get (&ws->via.array.ptr [w], "partitions");
        for (uint32_t k = 0; k < parts->via.array.size; k++)
            if (parts->via.array.ptr [k].via.u64 == part)
                sscanf (tk_get_str (&ws->via.array.ptr [w], "id"), "w%d", &owner);
    }
    tk_reply_destroy (&reply);
    return owner;
}

//  A system on worker `w` (defines until one lands there; bounded).
static void
s_system_on (int w, char id [37])
{
    for (int i = 0; i < 200; i++) {
        ck_assert_int_eq (tk_define (client, "f", id), 0);
        if (s_owner_of (id) == w)
            return;
    }
    ck_abort_msg ("no system landed on w%d", w);
}

//  Send one AddKvpItems without waiting.
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

static int64_t
s_items_count (const char *id, int64_t *rc)
{
    tk_body_t body;
    tk_body_begin (&body, "GetKvpItems", 1);
    tk_pack_kv_str (&body.pk, "target", id);
    tk_reply_t *reply = tk_call (client, &body, 10000);
    *rc = tk_rc (reply);
    const msgpack_object *items = reply ? tk_get (reply->map, "items") : NULL;
    int64_t n = items ? (int64_t) items->via.array.size : -1;
    tk_reply_destroy (&reply);
    return n;
}

START_TEST (test_worker_down_32777_and_inflight_32771)
{
    s_start (2, "--heartbeat 200 --liveness 3 --deadline 20000",
             "--heartbeat 200 --liveness 3");
    char id [37];
    s_system_on (0, id);
    //  Stall w0, send a request into it, then kill it: status unknown.
    kill (cluster->workers [0], SIGSTOP);
    s_send_add (client, id, "inflight", 1);
    zclock_sleep (100);     //  let the broker route it before the kill
    tk_stop (cluster->workers [0], SIGKILL, 5000);
    cluster->workers [0] = 0;
    tk_reply_t *reply = tk_recv (client, 10000);
    ck_assert_int_eq (tk_rc (reply), 32771);
    ck_assert_int_eq (tk_get_uint (reply->map, "rid"), 1);
    tk_reply_destroy (&reply);
    //  While it is down: 32777, and a new worker joining does not take its
    //  partitions (that would fork them).
    int64_t rc;
    s_items_count (id, &rc);
    ck_assert_int_eq (rc, 32777);
    cluster->nworkers = 3;
    tk_worker_start (cluster, 2);
    ck_assert (tk_wait_alive (cluster, 2, 15000));
    s_items_count (id, &rc);
    ck_assert_int_eq (rc, 32777);
    ck_assert_int_eq (s_owner_of (id), 0);
    //  Back on its own folder, it serves again.
    tk_worker_start (cluster, 0);
    ck_assert (tk_wait_alive (cluster, 3, 15000));
    s_items_count (id, &rc);
    ck_assert_int_eq (rc, 0);
}
END_TEST

START_TEST (test_stalled_worker_32772)
{
    s_start (1, "--heartbeat 1000 --liveness 10 --deadline 1000", NULL);
    char id [37];
    ck_assert_int_eq (tk_define (client, "t", id), 0);
    kill (cluster->workers [0], SIGSTOP);
    s_send_add (client, id, "late", 5);
    tk_reply_t *reply = tk_recv (client, 8000);
    ck_assert_int_eq (tk_rc (reply), 32772);
    ck_assert_int_eq (tk_get_uint (reply->map, "rid"), 5);
    tk_reply_destroy (&reply);
    kill (cluster->workers [0], SIGCONT);
    //  The late reply is dropped; the next request is served normally.
    int64_t rc;
    int64_t n = s_items_count (id, &rc);
    ck_assert_int_eq (rc, 0);
    ck_assert (n == 0 || n == 1);
}
END_TEST

START_TEST (test_queue_limit_32774)
{
    s_start (1, "--queue-limit 1024 --deadline 60000 --heartbeat 1000 --liveness 30", NULL);
    char id [37];
    ck_assert_int_eq (tk_define (client, "q", id), 0);
    kill (cluster->workers [0], SIGSTOP);
    enum { N = 1100 };
    for (int i = 0; i < N; i++) {
        char name [32];
        snprintf (name, sizeof name, "q%d", i);
        s_send_add (client, id, name, (uint64_t) i);
    }
    //  Everything past the limit is refused at once, while w0 is stopped.
    int busy = 0;
    tk_reply_t *reply;
    while (busy < N - 1024 && (reply = tk_recv (client, 5000))) {
        ck_assert_int_eq (tk_rc (reply), 32774);
        ck_assert_int_ge (tk_get_uint (reply->map, "rid"), 1024);
        busy++;
        tk_reply_destroy (&reply);
    }
    ck_assert_int_eq (busy, N - 1024);
    kill (cluster->workers [0], SIGCONT);
    int done = 0;
    while (done < 1024 && (reply = tk_recv (client, 20000))) {
        ck_assert_int_eq (tk_rc (reply), 4096);
        done++;
        tk_reply_destroy (&reply);
    }
    ck_assert_int_eq (done, 1024);
}
END_TEST

START_TEST (test_item_ops_and_codes)
{
    s_start (2, NULL, NULL);
    char id [37], job [65], job2 [65];
    int64_t state;
    ck_assert_int_eq (tk_define (client, "ops", id), 0);
    ck_assert_int_eq (tk_add1 (client, "AddKvpItems", id, 0, "a", "1", NULL, job, &state), 4096);
    ck_assert_int_eq (state, 7);
    //  Modify an existing key; modify a missing one -> failed job 32768.
    ck_assert_int_eq (tk_add1 (client, "ModifyKvpItems", id, 0, "a", "2", NULL, job, &state), 4096);
    ck_assert_int_eq (state, 7);
    ck_assert_int_eq (tk_add1 (client, "ModifyKvpItems", id, 0, "zz", "2", NULL, job, &state), 4096);
    ck_assert_int_eq (state, 10);
    //  Remove (Data ignored), then remove again -> failed.
    ck_assert_int_eq (tk_add1 (client, "RemoveKvpItems", id, 0, "a", "", NULL, job, &state), 4096);
    ck_assert_int_eq (state, 7);
    ck_assert_int_eq (tk_add1 (client, "RemoveKvpItems", id, 0, "a", "", NULL, job, &state), 4096);
    ck_assert_int_eq (state, 10);
    //  Idempotency: same key, same request -> the same job, applied once.
    ck_assert_int_eq (tk_add1 (client, "AddKvpItems", id, 4, "k", "v", "key-1", job, &state), 4096);
    ck_assert_int_eq (state, 7);
    ck_assert_int_eq (tk_add1 (client, "AddKvpItems", id, 4, "k", "v", "key-1", job2, &state), 4096);
    ck_assert_str_eq (job, job2);
    ck_assert_int_eq (state, 7);
    //  Same key, different request -> 32773.
    ck_assert_int_eq (tk_add1 (client, "AddKvpItems", id, 4, "k", "other", "key-1", NULL, NULL), 32773);
    //  DataExchangeEnabled false -> 32775 for the item ops; GetSystem shows it.
    tk_body_t body;
    tk_body_begin (&body, "ModifySystemSettings", 2);
    tk_pack_kv_str (&body.pk, "target", id);
    tk_pack_str (&body.pk, "DataExchangeEnabled");
    msgpack_pack_false (&body.pk);
    tk_reply_t *reply = tk_call (client, &body, 10000);
    ck_assert_int_eq (tk_rc (reply), 0);
    tk_reply_destroy (&reply);
    ck_assert_int_eq (tk_add1 (client, "AddKvpItems", id, 0, "b", "1", NULL, NULL, NULL), 32775);
    ck_assert_int_eq (tk_add1 (client, "RemoveKvpItems", id, 4, "k", "", NULL, NULL, NULL), 32775);
    //  ... but a retry with an old key still returns its job.
    ck_assert_int_eq (tk_add1 (client, "AddKvpItems", id, 4, "k", "v", "key-1", job2, NULL), 4096);
    ck_assert_str_eq (job, job2);
    //  Wrong type -> 32776; unknown system -> 32773; bad Source -> 32773.
    tk_body_begin (&body, "AddKvpItems", 2);
    tk_pack_kv_uint (&body.pk, "target", 5);
    tk_pack_kv_str (&body.pk, "items", "x");
    reply = tk_call (client, &body, 10000);
    ck_assert_int_eq (tk_rc (reply), 32776);
    tk_reply_destroy (&reply);
    ck_assert_int_eq (tk_add1 (client, "AddKvpItems", "11111111-2222-3333-4444-555555555555",
                               0, "a", "1", NULL, NULL, NULL), 32773);
    ck_assert_int_eq (tk_add1 (client, "AddKvpItems", id, 1, "a", "1", NULL, NULL, NULL), 32773);
    //  DefineSystem of an existing id -> 32768.
    tk_body_begin (&body, "DefineSystem", 2);
    tk_pack_kv_str (&body.pk, "name", "again");
    tk_pack_kv_str (&body.pk, "id", id);
    reply = tk_call (client, &body, 10000);
    ck_assert_int_eq (tk_rc (reply), 32768);
    tk_reply_destroy (&reply);
    //  A WMI object path works as a target, in any case.
    char path [256], upper [37];
    for (int i = 0; i < 37; i++)
        upper [i] = (char) toupper ((unsigned char) id [i]);
    snprintf (path, sizeof path, "\\\\HOST\\root\\virtualization\\v2:Msvm_ComputerSystem."
              "CreationClassName=\"Msvm_ComputerSystem\",Name=\"%s\"", upper);
    tk_body_begin (&body, "GetSystem", 1);
    tk_pack_kv_str (&body.pk, "target", path);
    reply = tk_call (client, &body, 10000);
    ck_assert_int_eq (tk_rc (reply), 0);
    ck_assert_str_eq (tk_get_str (reply->map, "id"), id);
    const msgpack_object *dee = tk_get (reply->map, "DataExchangeEnabled");
    ck_assert (dee && dee->type == MSGPACK_OBJECT_BOOLEAN && !dee->via.boolean);
    tk_reply_destroy (&reply);
    //  DestroySystem: its items and keys go; then it is unknown.
    tk_body_begin (&body, "DestroySystem", 1);
    tk_pack_kv_str (&body.pk, "target", id);
    reply = tk_call (client, &body, 10000);
    ck_assert_int_eq (tk_rc (reply), 0);
    tk_reply_destroy (&reply);
    int64_t rc;
    s_items_count (id, &rc);
    ck_assert_int_eq (rc, 32773);
    //  The job is still there after the system is gone.
    tk_body_begin (&body, "GetJob", 1);
    tk_pack_kv_str (&body.pk, "job", job);
    reply = tk_call (client, &body, 10000);
    ck_assert_int_eq (tk_rc (reply), 0);
    tk_reply_destroy (&reply);
    //  An unknown job -> 32773.
    tk_body_begin (&body, "GetJob", 1);
    tk_pack_kv_str (&body.pk, "job", "no-such-job");
    reply = tk_call (client, &body, 10000);
    ck_assert_int_eq (tk_rc (reply), 32773);
    tk_reply_destroy (&reply);
}
END_TEST

//  Hostile input through the broker: always an answer, nothing changed.
//  Bodies over 1 MiB that carry a rid get their 32773 with it: a 2 MB
//  AddKvpItems with the rid first, and one with the rid after its items
//  (128 of 16 KiB, the way a dict-ordered client packs it).
static void
s_oversized_rid (const char *id)
{
    static char data [16385];
    memset (data, 'd', sizeof data - 1);
    for (int last = 0; last < 2; last++) {
        tk_body_t body;
        tk_body_begin (&body, "AddKvpItems", 2 + (size_t) !last);
        if (!last)
            tk_pack_kv_uint (&body.pk, "rid", 4242);
        tk_pack_kv_str (&body.pk, "target", id);
        tk_pack_str (&body.pk, "items");
        msgpack_pack_array (&body.pk, 128);
        for (int i = 0; i < 128; i++) {
            char name [16];
            snprintf (name, sizeof name, "big%d", i);
            tk_pack_item (&body.pk, 4, name, data);
        }
        if (last) {
            body.sbuf.data [0] = (char) 0x84;   //  one more pair: the rid
            tk_pack_kv_uint (&body.pk, "rid", 1ULL << 40);
        }
        ck_assert_uint_gt (body.sbuf.size, 2 * 1000 * 1000);
        tk_reply_t *reply = tk_call (client, &body, 10000);
        ck_assert_int_eq (tk_rc (reply), 32773);
        ck_assert_ptr_nonnull (strstr (tk_get_str (reply->map, "error"),
                                       "over the limit"));
        ck_assert_int_eq (tk_get_uint (reply->map, "rid"),
                          last? (int64_t) (1ULL << 40): 4242);
        tk_reply_destroy (&reply);
    }
    int64_t rc;
    ck_assert_int_eq (s_items_count (id, &rc), 0);
}

START_TEST (test_hostile_input)
{
    s_start (1, NULL, NULL);
    char id [37];
    ck_assert_int_eq (tk_define (client, "h", id), 0);
    //  A body over 1 MiB.
    size_t big = 1024 * 1024 + 16;
    char *blob = malloc (big);
    memset (blob, 'x', big);
    const void *frames [3] = { "", "KVP1", blob };
    size_t sizes [3] = { 0, 4, big };
    tk_send_frames (client, 3, frames, sizes);
    tk_reply_t *reply = tk_recv (client, 10000);
    ck_assert_int_eq (tk_rc (reply), 32773);
    tk_reply_destroy (&reply);
    free (blob);
    s_oversized_rid (id);
    //  Wrong signature, missing delimiter, extra frames, not a map.
    const void *f2 [3] = { "", "KVP2", "\x80" };
    size_t s2 [3] = { 0, 4, 1 };
    tk_send_frames (client, 3, f2, s2);
    reply = tk_recv (client, 5000);
    ck_assert_int_eq (tk_rc (reply), 32773);
    tk_reply_destroy (&reply);
    const void *f3 [4] = { "", "KVP1", "\x80", "extra" };
    size_t s3 [4] = { 0, 4, 1, 5 };
    tk_send_frames (client, 4, f3, s3);
    reply = tk_recv (client, 5000);
    ck_assert_int_eq (tk_rc (reply), 32773);
    tk_reply_destroy (&reply);
    const void *f4 [3] = { "", "KVP1", "\x93\x01\x02\x03" };
    size_t s4 [3] = { 0, 4, 4 };
    tk_send_frames (client, 3, f4, s4);
    reply = tk_recv (client, 5000);
    ck_assert_int_eq (tk_rc (reply), 32773);
    tk_reply_destroy (&reply);
    //  Deep nesting.
    char deep [2000];
    deep [0] = '\x81';
    deep [1] = '\xa2'; deep [2] = 'o'; deep [3] = 'p';
    size_t n = 4;
    while (n < sizeof deep)
        deep [n++] = '\x91';
    const void *f5 [3] = { "", "KVP1", deep };
    size_t s5 [3] = { 0, 4, sizeof deep };
    tk_send_frames (client, 3, f5, s5);
    reply = tk_recv (client, 5000);
    ck_assert_int_eq (tk_rc (reply), 32773);
    tk_reply_destroy (&reply);
    //  10,000 unknown keys: answered (the op is fine).
    tk_body_t body;
    tk_body_begin (&body, "GetKvpItems", 10001);
    tk_pack_kv_str (&body.pk, "target", id);
    for (int i = 0; i < 10000; i++) {
        char key [16];
        snprintf (key, sizeof key, "u%d", i);
        tk_pack_kv_uint (&body.pk, key, (uint64_t) i);
    }
    reply = tk_call (client, &body, 10000);
    ck_assert_int_eq (tk_rc (reply), 0);
    tk_reply_destroy (&reply);
    //  Invalid UTF-8 and a NUL in a Name: 32773, nothing stored.
    ck_assert_int_eq (tk_add1 (client, "AddKvpItems", id, 0, "bad\xc3", "v", NULL, NULL, NULL), 32773);
    tk_body_begin (&body, "AddKvpItems", 2);
    tk_pack_kv_str (&body.pk, "target", id);
    tk_pack_str (&body.pk, "items");
    msgpack_pack_array (&body.pk, 1);
    msgpack_pack_map (&body.pk, 3);
    tk_pack_str (&body.pk, "Name");
    msgpack_pack_str (&body.pk, 3);
    msgpack_pack_str_body (&body.pk, "a\0b", 3);
    tk_pack_kv_str (&body.pk, "Data", "v");
    tk_pack_kv_uint (&body.pk, "Source", 0);
    reply = tk_call (client, &body, 10000);
    ck_assert_int_eq (tk_rc (reply), 32773);
    tk_reply_destroy (&reply);
    int64_t rc;
    ck_assert_int_eq (s_items_count (id, &rc), 0);
    //  A stranger on the workers' socket is refused and the broker goes on.
    zsock_t *stranger = tk_dealer (cluster->workers_ep);
    zstr_sendx (stranger, "REPLY", "12345678", "junk", NULL);
    zpoller_t *poller = zpoller_new (stranger, NULL);
    ck_assert_ptr_nonnull (zpoller_wait (poller, 5000));
    char *cmd = zstr_recv (stranger);
    ck_assert_str_eq (cmd, "REFUSE");
    zstr_free (&cmd);
    zpoller_destroy (&poller);
    zsock_destroy (&stranger);
    tk_body_begin (&body, "Ping", 0);
    reply = tk_call (client, &body, 5000);
    ck_assert_int_eq (tk_rc (reply), 0);
    tk_reply_destroy (&reply);
}
END_TEST

//  A full store: 32778 for writes, reads go on, and space coming back
//  (a system destroyed) lets writes succeed again.
START_TEST (test_store_full_32778)
{
    s_start (1, NULL, "--map-size 1048576 --map-max 1048576");
    char a [37], b [37];
    ck_assert_int_eq (tk_define (client, "full-a", a), 0);
    ck_assert_int_eq (tk_define (client, "full-b", b), 0);
    char data [2001];
    memset (data, 'd', 2000);
    data [2000] = 0;
    int rc = 4096, added = 0;
    char failed [32] = "";
    for (int i = 0; i < 2000 && rc == 4096; i++) {
        snprintf (failed, sizeof failed, "fill%d", i);
        rc = tk_add1 (client, "AddKvpItems", a, 0, failed, data, NULL, NULL, NULL);
        added += rc == 4096;
    }
    ck_assert_int_eq (rc, 32778);
    ck_assert_int_gt (added, 10);
    //  The refused write changed nothing and is refused again; reads work.
    ck_assert_int_eq (tk_add1 (client, "AddKvpItems", a, 0, failed, data, NULL, NULL, NULL), 32778);
    int64_t getrc;
    ck_assert_int_eq (s_items_count (a, &getrc), added);
    ck_assert_int_eq (getrc, 0);
    //  Space comes back when a system goes. LMDB reuses freed pages only
    //  once a later commit has passed, so allow a few attempts.
    tk_body_t body;
    tk_body_begin (&body, "DestroySystem", 1);
    tk_pack_kv_str (&body.pk, "target", a);
    tk_reply_t *reply = tk_call (client, &body, 10000);
    ck_assert_int_eq (tk_rc (reply), 0);
    tk_reply_destroy (&reply);
    rc = 0;
    for (int attempt = 0; attempt < 5 && rc != 4096; attempt++) {
        char name [32];
        snprintf (name, sizeof name, "more%d", attempt);
        rc = tk_add1 (client, "AddKvpItems", b, 0, name, data, NULL, NULL, NULL);
        ck_assert (rc == 4096 || rc == 32778);
    }
    ck_assert_int_eq (rc, 4096);
}
END_TEST

//  --- A full disk, for real: the worker's folder on a small tmpfs ------------

#define S_DISK          (24u << 20)     //  the tmpfs
#define S_BIG           16384           //  host-only items' most Data

//  AddKvpItems of `count` host-only items of `size` bytes named `tag`-N.
static int
s_add_big (const char *id, const char *tag, int round, int count,
           size_t size)
{
    static char data [S_BIG + 1];
    memset (data, 'f', S_BIG);
    data [size] = 0;
    tk_body_t body;
    tk_body_begin (&body, "AddKvpItems", 2);
    tk_pack_kv_str (&body.pk, "target", id);
    tk_pack_str (&body.pk, "items");
    msgpack_pack_array (&body.pk, (size_t) count);
    for (int i = 0; i < count; i++) {
        char name [48];
        snprintf (name, sizeof name, "%s-%d-%d", tag, round, i);
        tk_pack_item (&body.pk, 4, name, data);
    }
    tk_reply_t *reply = tk_call (client, &body, 15000);
    int rc = (int) tk_rc (reply);
    tk_reply_destroy (&reply);
    return rc;
}

//  Writes of `count` items of `size` bytes until the store says 32778
//  (bounded); returns those accepted.
static int
s_fill_store (const char *id, int round, int count, size_t size)
{
    int rc = 4096, added = 0;
    for (int i = 0; i < 3000 && rc == 4096; i++) {
        rc = s_add_big (id, "fill", round * 10000 + i, count, size);
        added += rc == 4096;
    }
    ck_assert_int_eq (rc, 32778);
    return added;
}

//  A small write once room is back: retried while the worker's
//  checkpoint catches up (bounded). Its last rc.
static int
s_write_again (const char *id, const char *name)
{
    int rc = -1;
    for (int i = 0; i < 25 && rc != 4096; i++) {
        char unique [64];
        snprintf (unique, sizeof unique, "%s-%d", name, i);
        rc = tk_add1 (client, "AddKvpItems", id, 4, unique, "small", NULL,
                      NULL, NULL);
        if (rc != 4096)
            zclock_sleep (200);
    }
    return rc;
}

static int
s_destroy (const char *id)
{
    tk_body_t body;
    tk_body_begin (&body, "DestroySystem", 1);
    tk_pack_kv_str (&body.pk, "target", id);
    tk_reply_t *reply = tk_call (client, &body, 15000);
    int rc = (int) tk_rc (reply);
    tk_reply_destroy (&reply);
    return rc;
}

//  DestroySystem once room is back, retried while the checkpoint catches
//  up (it retries a commit that found no room every second); its last rc.
static int
s_destroy_again (const char *id)
{
    int rc = s_destroy (id);
    for (int i = 0; i < 25 && rc == 32778; i++) {
        zclock_sleep (200);
        rc = s_destroy (id);
    }
    return rc;
}

//  The worker is still the process we started.
static void
s_worker_alive (void)
{
    int status = 0;
    pid_t rc = waitpid (cluster->workers [0], &status, WNOHANG);
    ck_assert_msg (rc == 0, "the worker ended: %s %d",
                   WIFSIGNALED (status) ? "signal" : "exit",
                   WIFSIGNALED (status) ? WTERMSIG (status)
                                        : WEXITSTATUS (status));
}

//  Reads go on: the system, its small items and a job.
static void
s_reads_served (const char *id, int64_t small)
{
    s_worker_alive ();
    tk_body_t body;
    tk_body_begin (&body, "GetSystem", 1);
    tk_pack_kv_str (&body.pk, "target", id);
    tk_reply_t *reply = tk_call (client, &body, 15000);
    ck_assert_int_eq (tk_rc (reply), 0);
    tk_reply_destroy (&reply);
    tk_body_begin (&body, "GetKvpItems", 2);
    tk_pack_kv_str (&body.pk, "target", id);
    tk_pack_kv_uint (&body.pk, "Source", 0);
    reply = tk_call (client, &body, 15000);
    ck_assert_int_eq (tk_rc (reply), 0);
    ck_assert_int_eq (tk_get (reply->map, "items")->via.array.size, small);
    tk_reply_destroy (&reply);
}

//  The worker is still the process we started, and not spinning: under
//  half a CPU second in the `ms` it is watched while idle.
static void
s_worker_calm (int ms)
{
    pid_t pid = cluster->workers [0];
    s_worker_alive ();
    double before = tk_cpu_seconds (pid);
    zclock_sleep (ms);
    double used = tk_cpu_seconds (pid) - before;
    ck_assert_msg (before >= 0 && used < 0.5 * ms / 1000.0,
                   "worker used %.2f s of CPU in %d ms while idle", used, ms);
    s_worker_alive ();
}

//  Fill what room LMDB still has (its free pages may be too scattered for
//  sixteen large values and still fit one): until a write of a large item
//  gets 32778, while reads are served. Crumbs may stay usable for small
//  items, as they should.
static void
s_fill_rest (const char *id, int round)
{
    s_fill_store (id, round + 1, 16, S_BIG);
    s_fill_store (id, round + 2, 1, S_BIG);
    s_reads_served (id, 1);
}

//  Stop the worker (killed, or asked to) and start it again with `args`;
//  it must come up
static void
s_restart_worker (const char *args, bool kill)
{
    tk_stop (cluster->workers [0], kill ? SIGKILL : SIGTERM, 15000);
    ck_assert (tk_wait_alive (cluster, 0, 15000));
    cluster->worker_args = args;
    ck_assert (tk_worker_start (cluster, 0) > 0);
    ck_assert (tk_wait_alive (cluster, 1, 15000));
}

//  Items of `source` a system has.
static int64_t
s_items_in (const char *id, unsigned source)
{
    tk_body_t body;
    tk_body_begin (&body, "GetKvpItems", 2);
    tk_pack_kv_str (&body.pk, "target", id);
    tk_pack_kv_uint (&body.pk, "Source", source);
    tk_reply_t *reply = tk_call (client, &body, 15000);
    ck_assert_int_eq (tk_rc (reply), 0);
    int64_t count = tk_get (reply->map, "items")->via.array.size;
    tk_reply_destroy (&reply);
    return count;
}

//  Fill the store, then (with a filler) the rest of the disk too.
static void
s_fill_all (const char *id, int round, const char *filler)
{
    ck_assert_int_gt (s_fill_store (id, round, 16, S_BIG), 0);
    if (filler)
        tk_fill_disk (filler);
    s_fill_rest (id, round * 10);
}

//  The tmpfs, mounted and unmounted by the runner's process (an unchecked
//  fixture), so that a failing test leaves no mount behind
static char s_disk [128];
static bool s_disk_ok;

static void
s_disk_setup (void)
{
    s_disk_ok = tk_mkdtemp (s_disk, sizeof s_disk, "kvpdisk")
             && tk_tmpfs_mount (s_disk, S_DISK);
    if (!s_disk_ok)
        printf ("test_disk_full_tmpfs: skipped, cannot mount a tmpfs (%s);"
                " run as root\n", strerror (errno));
}

static void
s_disk_teardown (void)
{
    if (*s_disk)
        tk_tmpfs_umount (s_disk);
}

START_TEST (test_disk_full_tmpfs)
{
    if (!s_disk_ok)
        return;
    cluster = tk_cluster_new (1);
    char dir [300], filler [320];
    snprintf (dir, sizeof dir, "%s/w0", cluster->dir);
    snprintf (filler, sizeof filler, "%s/filler", s_disk);
    //  The worker's folder is on the tmpfs
    ck_assert_int_eq (symlink (s_disk, dir), 0);
    cluster->worker_args = "--checkpoint-ms 3600000 --checkpoint-ops 100000000";
    ck_assert (tk_cluster_start (cluster));
    client = tk_dealer (cluster->clients);
    //  A restart on the full disk with the log holding what LMDB lacks
    //  (checkpoints held off, the disk filled, then a kill): it comes up,
    //  reads are served (what LMDB lacks from memory, until the reserve or
    //  room coming back lets LMDB take it), writes get 32778, and it does
    //  not spin; room back, it writes again
    char held [37], freed [37], kept [400];
    ck_assert_int_eq (tk_define (client, "held", held), 0);
    ck_assert_int_eq (tk_add1 (client, "AddKvpItems", held, 0, "first", "v",
                               NULL, NULL, NULL), 4096);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq (s_add_big (held, "held", i, 16, S_BIG), 4096);
    tk_fill_disk (filler);
    s_restart_worker (NULL, true);
    snprintf (kept, sizeof kept, "store %s: no room to replay", dir);
    ck_assert (tk_log_has ("w0", kept));
    s_reads_served (held, 1);
    ck_assert_int_eq (s_items_in (held, 4), 64);
    s_fill_rest (held, 50);
    s_worker_calm (1500);
    ck_assert_int_eq (unlink (filler), 0);
    ck_assert_int_eq (s_destroy_again (held), 0);
    ck_assert_int_eq (tk_define (client, "freed", freed), 0);
    ck_assert_int_eq (s_write_again (freed, "freed"), 4096);
    //  Filled by the store itself (even rounds), a DestroySystem frees
    //  room: it only deletes, so it gets in, and LMDB can hold what the
    //  log has. With a filler taking the rest of the disk too (odd
    //  rounds), what the log has may wait for room: the filler goes
    for (int round = 0; round < 4; round++) {
        bool by_filler = round % 2;
        char id [37];
        ck_assert_int_eq (tk_define (client, "disk", id), 0);
        ck_assert_int_eq (tk_add1 (client, "AddKvpItems", id, 0, "first", "v",
                                   NULL, NULL, NULL), 4096);
        s_fill_all (id, round, by_filler ? filler : NULL);
        //  Full, the worker neither spins nor ends
        s_worker_calm (1000);
        int rc = s_destroy (id);
        if (by_filler) {
            ck_assert (rc == 0 || rc == 32778);
            ck_assert_int_eq (unlink (filler), 0);
            if (rc != 0)
                rc = s_destroy_again (id);
        }
        ck_assert_int_eq (rc, 0);
        char next [37];
        ck_assert_int_eq (tk_define (client, "after", next), 0);
        ck_assert_int_eq (s_write_again (next, "again"), 4096);
    }
    int status = tk_stop (cluster->workers [0], SIGTERM, 15000);
    cluster->workers [0] = 0;
    ck_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0);
}
END_TEST

//  SIGTERM: workers and broker finish what they accepted and exit 0.
START_TEST (test_graceful_stop)
{
    s_start (2, NULL, NULL);
    char id [37];
    ck_assert_int_eq (tk_define (client, "g", id), 0);
    for (int i = 0; i < 200; i++) {
        char name [16];
        snprintf (name, sizeof name, "g%d", i);
        s_send_add (client, id, name, (uint64_t) i);
    }
    int answered = 0;
    tk_reply_t *reply;
    while (answered < 200 && (reply = tk_recv (client, 10000))) {
        ck_assert_int_eq (tk_rc (reply), 4096);
        answered++;
        tk_reply_destroy (&reply);
    }
    ck_assert_int_eq (answered, 200);
    for (int w = 0; w < 2; w++) {
        int status = tk_stop (cluster->workers [w], SIGTERM, 15000);
        cluster->workers [w] = 0;
        ck_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    }
    int status = tk_stop (cluster->broker, SIGTERM, 15000);
    cluster->broker = 0;
    ck_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0);
}
END_TEST

//  Command-line contract: --help exits 0, bad flags 2, and a folder made
//  with other settings refuses to start (2).
START_TEST (test_command_lines)
{
    cluster = tk_cluster_new (1);
    char out [8192];
    ck_assert_int_eq (tk_run (out, sizeof out, "kvp-broker", "--help", NULL), 0);
    ck_assert_ptr_nonnull (strstr (out, "--partitions"));
    ck_assert_int_eq (tk_run (out, sizeof out, "kvp-worker", "--help", NULL), 0);
    ck_assert_ptr_nonnull (strstr (out, "--data"));
    ck_assert_int_eq (tk_run (out, sizeof out, "kvp-broker", "--bogus", NULL), 2);
    ck_assert_int_eq (tk_run (out, sizeof out, "kvp-worker", "--bogus", NULL), 2);
    ck_assert_int_eq (tk_run (out, sizeof out, "kvp-broker", "--partitions", "0", NULL), 2);
    ck_assert (tk_cluster_start (cluster));
    //  The worker's folder holds "w0": another --id is refused.
    char dir [300];
    snprintf (dir, sizeof dir, "%s/w0", cluster->dir);
    tk_stop (cluster->workers [0], SIGTERM, 15000);
    cluster->workers [0] = 0;
    ck_assert_int_eq (tk_run (out, sizeof out, "kvp-worker", "--data", dir, "--id", "other",
                              "--broker", cluster->workers_ep, NULL), 2);
    //  The broker's folder holds N = 64: another --partitions is refused.
    tk_stop (cluster->broker, SIGTERM, 15000);
    cluster->broker = 0;
    snprintf (dir, sizeof dir, "%s/broker", cluster->dir);
    ck_assert_int_eq (tk_run (out, sizeof out, "kvp-broker", "--data", dir,
                              "--partitions", "32", "--clients", cluster->clients,
                              "--workers", cluster->workers_ep, "--events-in",
                              cluster->events_in, "--events", cluster->events, NULL), 2);
}
END_TEST

//  A subscriber that never reads does not stall the cluster.
START_TEST (test_stalled_subscriber)
{
    s_start (1, NULL, NULL);
    zsock_t *sub = zsock_new_sub (cluster->events, "job/");
    zsock_set_rcvhwm (sub, 10);
    char id [37];
    ck_assert_int_eq (tk_define (client, "s", id), 0);
    enum { N = 3000 };
    int sent = 0, answered = 0;
    tk_reply_t *reply;
    while (answered < N) {
        while (sent < N && sent - answered < 64) {
            char name [16];
            snprintf (name, sizeof name, "s%d", sent);
            s_send_add (client, id, name, (uint64_t) sent++);
        }
        reply = tk_recv (client, 15000);
        ck_assert_ptr_nonnull (reply);
        ck_assert_int_eq (tk_rc (reply), 4096);
        tk_reply_destroy (&reply);
        answered++;
    }
    zsock_destroy (&sub);
}
END_TEST

//  Jobs and idempotency keys are purged after --retention (here 1 s, so
//  the test need not wait a day): the job is gone, the key can be reused.
START_TEST (test_retention_purge)
{
    s_start (1, NULL, "--retention 1");
    char id [37], job [65], job2 [65];
    int64_t state;
    ck_assert_int_eq (tk_define (client, "r", id), 0);
    ck_assert_int_eq (tk_add1 (client, "AddKvpItems", id, 0, "a", "1", "once", job, &state), 4096);
    ck_assert_int_eq (state, 7);
    //  Poll GetJob until the purge has taken the job (bounded).
    int64_t rc = 0;
    for (int i = 0; i < 100 && rc == 0; i++) {
        tk_body_t body;
        tk_body_begin (&body, "GetJob", 1);
        tk_pack_kv_str (&body.pk, "job", job);
        tk_reply_t *reply = tk_call (client, &body, 5000);
        rc = tk_rc (reply);
        tk_reply_destroy (&reply);
        if (rc == 0)
            zclock_sleep (100);
    }
    ck_assert_int_eq (rc, 32773);
    //  The key went with its job: the same key now makes a new job (which
    //  fails, as "a" exists: the items themselves are not purged).
    ck_assert_int_eq (tk_add1 (client, "AddKvpItems", id, 0, "a", "1", "once", job2, &state), 4096);
    ck_assert_str_ne (job, job2);
    ck_assert_int_eq (state, 10);
    int64_t getrc;
    ck_assert_int_eq (s_items_count (id, &getrc), 1);
}
END_TEST

//  Items as CIM-XML embedded instances, the form PowerShell's GetText(1)
//  writes, over the wire and through kvpctl --cim.
START_TEST (test_cim_items)
{
    s_start (1, NULL, NULL);
    char id [37];
    ck_assert_int_eq (tk_define (client, "cim", id), 0);
    const char *ip =
        "<INSTANCE CLASSNAME=\"Msvm_KvpExchangeDataItem\">"
        "<PROPERTY NAME=\"Caption\" PROPAGATED=\"true\" TYPE=\"string\"></PROPERTY>"
        "<PROPERTY NAME=\"Data\" TYPE=\"string\"><VALUE>10.0.0.5 &amp; &lt;b&gt;</VALUE></PROPERTY>"
        "<PROPERTY NAME=\"Name\" TYPE=\"string\"><VALUE>ip</VALUE></PROPERTY>"
        "<PROPERTY NAME=\"Source\" TYPE=\"uint16\"><VALUE>0</VALUE></PROPERTY>"
        "</INSTANCE>";
    tk_body_t body;
    tk_body_begin (&body, "AddKvpItems", 2);
    tk_pack_kv_str (&body.pk, "target", id);
    tk_pack_str (&body.pk, "items");
    msgpack_pack_array (&body.pk, 2);
    tk_pack_str (&body.pk, ip);
    tk_pack_item (&body.pk, 4, "role", "web");
    tk_reply_t *reply = tk_call (client, &body, 10000);
    ck_assert_int_eq (tk_rc (reply), 4096);
    ck_assert_int_eq (tk_get_uint (tk_get (reply->map, "job"), "JobState"), 7);
    tk_reply_destroy (&reply);
    tk_body_begin (&body, "GetKvpItems", 2);
    tk_pack_kv_str (&body.pk, "target", id);
    tk_pack_kv_uint (&body.pk, "Source", 0);
    reply = tk_call (client, &body, 10000);
    const msgpack_object *items = tk_get (reply->map, "items");
    ck_assert_int_eq (items->via.array.size, 1);
    ck_assert_str_eq (tk_get_str (&items->via.array.ptr [0], "Data"), "10.0.0.5 & <b>");
    tk_reply_destroy (&reply);
    //  Another class -> 32776; broken XML -> 32773; both change nothing.
    const char *other = "<INSTANCE CLASSNAME=\"Msvm_Other\">"
        "<PROPERTY NAME=\"Name\" TYPE=\"string\"><VALUE>x</VALUE></PROPERTY></INSTANCE>";
    const char *broken = "<INSTANCE CLASSNAME=\"Msvm_KvpExchangeDataItem\"><PROPERTY";
    const char *cases [2] = { other, broken };
    int64_t expect [2] = { 32776, 32773 };
    for (int i = 0; i < 2; i++) {
        tk_body_begin (&body, "AddKvpItems", 2);
        tk_pack_kv_str (&body.pk, "target", id);
        tk_pack_str (&body.pk, "items");
        msgpack_pack_array (&body.pk, 1);
        tk_pack_str (&body.pk, cases [i]);
        reply = tk_call (client, &body, 10000);
        ck_assert_int_eq (tk_rc (reply), expect [i]);
        tk_reply_destroy (&reply);
    }
    int64_t getrc;
    ck_assert_int_eq (s_items_count (id, &getrc), 2);
    //  kvpctl add --cim FILE: one instance per line.
    char file [300], out [4096];
    snprintf (file, sizeof file, "%s/items.xml", cluster->dir);
    FILE *f = fopen (file, "w");
    fprintf (f, "%s\n", "<INSTANCE CLASSNAME=\"Msvm_KvpExchangeDataItem\">"
        "<PROPERTY NAME=\"Name\" TYPE=\"string\"><VALUE>fromfile</VALUE></PROPERTY>"
        "<PROPERTY NAME=\"Data\" TYPE=\"string\"><VALUE>yes</VALUE></PROPERTY>"
        "<PROPERTY NAME=\"Source\" TYPE=\"uint8\"><VALUE>4</VALUE></PROPERTY></INSTANCE>");
    fclose (f);
    ck_assert_int_eq (tk_run (out, sizeof out, "kvpctl", "--broker", cluster->clients,
                              "add", id, "--cim", file, NULL), 0);
    ck_assert_ptr_nonnull (strstr (out, "Completed"));
    ck_assert_int_eq (tk_run (out, sizeof out, "kvpctl", "--broker", cluster->clients,
                              "get", id, "--source", "4", NULL), 0);
    ck_assert_ptr_nonnull (strstr (out, "fromfile=yes"));
}
END_TEST

//  Past the transport cap (4 MiB + 64 KiB by default) the connection is
//  dropped without a reply; the broker goes on serving everyone else.
START_TEST (test_transport_cap)
{
    s_start (1, NULL, NULL);
    size_t huge = 5 * 1024 * 1024;
    char *blob = calloc (1, huge);
    const void *frames [3] = { "", "KVP1", blob };
    size_t sizes [3] = { 0, 4, huge };
    tk_send_frames (client, 3, frames, sizes);
    free (blob);
    tk_reply_t *reply = tk_recv (client, 2000);
    ck_assert_ptr_null (reply);
    zsock_t *other = tk_dealer (cluster->clients);
    tk_body_t body;
    tk_body_begin (&body, "Ping", 0);
    reply = tk_call (other, &body, 5000);
    ck_assert_int_eq (tk_rc (reply), 0);
    tk_reply_destroy (&reply);
    zsock_destroy (&other);
    //  The dropped client reconnects by itself and is served again.
    int64_t rc = -1;
    for (int i = 0; i < 50 && rc != 0; i++) {
        tk_body_begin (&body, "Ping", 0);
        reply = tk_call (client, &body, 200);
        rc = tk_rc (reply);
        tk_reply_destroy (&reply);
    }
    ck_assert_int_eq (rc, 0);
}
END_TEST

//  Checkpoints that cannot keep up: writes get 32774 once the log holds
//  --backlog-max bytes LMDB lacks, nothing else breaks, and what was
//  acknowledged is all there after a clean stop and a restart.
START_TEST (test_backlog_32774)
{
    s_start (1, NULL, "--checkpoint-ms 3600000 --checkpoint-ops 100000000 "
                      "--backlog-max 1M");
    char a [37];
    ck_assert_int_eq (tk_define (client, "backlog", a), 0);
    char data [2001];
    memset (data, 'b', 2000);
    data [2000] = 0;
    int rc = 4096, added = 0;
    for (int i = 0; i < 2000 && rc == 4096; i++) {
        char name [32];
        snprintf (name, sizeof name, "b%d", i);
        rc = tk_add1 (client, "AddKvpItems", a, 0, name, data, NULL, NULL, NULL);
        added += rc == 4096;
    }
    ck_assert_int_eq (rc, 32774);
    ck_assert_int_gt (added, 100);
    int64_t getrc;
    ck_assert_int_eq (s_items_count (a, &getrc), added);
    int status = tk_stop (cluster->workers [0], SIGTERM, 15000);
    ck_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    cluster->worker_args = NULL;
    ck_assert (tk_worker_start (cluster, 0) > 0);
    ck_assert (tk_wait_alive (cluster, 1, 10000));
    ck_assert_int_eq (s_items_count (a, &getrc), added);
    ck_assert_int_eq (tk_add1 (client, "AddKvpItems", a, 0, "after", data,
                               NULL, NULL, NULL), 4096);
}
END_TEST

//  A log damaged before its last synced record: the worker refuses to
//  start (exit 2) and leaves the files as they are.
START_TEST (test_damaged_log_refused)
{
    s_start (1, NULL, "--checkpoint-ms 3600000 --checkpoint-ops 100000000");
    char a [37];
    ck_assert_int_eq (tk_define (client, "damaged", a), 0);
    for (int i = 0; i < 5; i++) {
        char name [16];
        snprintf (name, sizeof name, "d%d", i);
        ck_assert_int_eq (tk_add1 (client, "AddKvpItems", a, 0, name, "x",
                                   NULL, NULL, NULL), 4096);
    }
    tk_stop (cluster->workers [0], SIGKILL, 5000);
    cluster->workers [0] = 0;
    char path [400];
    snprintf (path, sizeof path, "%s/w0/wal/%016x.wal", cluster->dir, 1);
    FILE *file = fopen (path, "r+b");
    ck_assert_ptr_nonnull (file);
    uint8_t byte;
    //  A byte of the first record's payload (after the 32-byte segment
    //  header and the record's 24-byte header)
    ck_assert_int_eq (fseek (file, 32 + 24 + 4, SEEK_SET), 0);
    ck_assert_int_eq (fread (&byte, 1, 1, file), 1);
    byte ^= 0x20;
    ck_assert_int_eq (fseek (file, 32 + 24 + 4, SEEK_SET), 0);
    ck_assert_int_eq (fwrite (&byte, 1, 1, file), 1);
    fclose (file);
    struct stat before, after;
    ck_assert_int_eq (stat (path, &before), 0);
    char data [300], out [8192];
    snprintf (data, sizeof data, "%s/w0", cluster->dir);
    ck_assert_int_eq (tk_run (out, sizeof out, "kvp-worker", "--data", data,
                              "--broker", cluster->workers_ep, NULL), 2);
    ck_assert_int_eq (stat (path, &after), 0);
    ck_assert (before.st_size == after.st_size
            && before.st_mtime == after.st_mtime);
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("faults");
    TCase *tc = tcase_create ("codes");
    tcase_add_checked_fixture (tc, NULL, s_teardown);
    tcase_set_timeout (tc, 120);
    tcase_add_test (tc, test_worker_down_32777_and_inflight_32771);
    tcase_add_test (tc, test_stalled_worker_32772);
    tcase_add_test (tc, test_queue_limit_32774);
    tcase_add_test (tc, test_item_ops_and_codes);
    tcase_add_test (tc, test_hostile_input);
    tcase_add_test (tc, test_store_full_32778);
    tcase_add_test (tc, test_graceful_stop);
    tcase_add_test (tc, test_command_lines);
    tcase_add_test (tc, test_stalled_subscriber);
    tcase_add_test (tc, test_retention_purge);
    tcase_add_test (tc, test_cim_items);
    tcase_add_test (tc, test_transport_cap);
    tcase_add_test (tc, test_backlog_32774);
    tcase_add_test (tc, test_damaged_log_refused);
    suite_add_tcase (suite, tc);
    tc = tcase_create ("disk");
    tcase_add_unchecked_fixture (tc, s_disk_setup, s_disk_teardown);
    tcase_add_checked_fixture (tc, NULL, s_teardown);
    tcase_set_timeout (tc, 300);
    tcase_add_test (tc, test_disk_full_tmpfs);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
