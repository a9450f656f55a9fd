/*  test_replication.c - replicated partitions (KVP1.md section 12) on
    loopback: a real broker with --replicas and real workers, killed,
    stopped and restarted under load, checked over the wire.

    Every wait is polling with a bound. The broker runs with heartbeats of
    200 ms and a liveness of 3, so a worker is declared down 600 ms after
    it fell silent (sooner when its connection drops). The figures a test
    measures (time to serve writes again, events seen across a failover)
    are printed as lines starting "replication:".
*/
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include "kvp_guid.h"
#include "kvp_testkit.h"

#define S_PARTS         8           //  --partitions of every cluster here
#define S_HEARTBEAT     "--heartbeat 200 --liveness 3"
#define S_SILENCE_MS    600         //  200 x 3
//  Writes are served again within 2 s of the leader being declared down
//  (section 12); declaring takes the silence plus a tick at most, and the
//  machine is shared: 6 s from the kill.
#define S_BACK_MS       6000

static tk_cluster_t *cluster;
static zsock_t *client;

//  Start a cluster of `workers` with --replicas and --min-insync (and
//  room for `spare` more workers started later).
static void
s_start (int workers, int spare, int replicas, int min_insync)
{
    static char args [256];
    snprintf (args, sizeof args, "--partitions %d --replicas %d "
              "--min-insync %d " S_HEARTBEAT, S_PARTS, replicas, min_insync);
    cluster = tk_cluster_new (workers + spare);
    cluster->nworkers = workers;
    cluster->broker_args = args;
    cluster->worker_args = S_HEARTBEAT;
    ck_assert_msg (tk_cluster_start (cluster), "cluster did not come up");
    cluster->nworkers = workers + spare;
    client = tk_dealer (cluster->clients);
}

static void
s_teardown (void)
{
    zsock_destroy (&client);
    tk_cluster_destroy (&cluster);
}

static void
s_kill (int w)
{
    tk_stop (cluster->workers [w], SIGKILL, 5000);
    cluster->workers [w] = 0;
}

static uint32_t
s_part_of (const char *id)
{
    kvp_guid_t guid;
    ck_assert (kvp_guid_parse (&guid, id, strlen (id)));
    return kvp_guid_partition (&guid, S_PARTS);
}

//  --- ClusterStatus -----------------------------------------------------------

typedef struct {
    bool answered;
    int64_t replicas, min_insync;
    bool alive [TK_WORKERS_MAX];
    bool leads [TK_WORKERS_MAX][S_PARTS];
    bool follows [TK_WORKERS_MAX][S_PARTS];
} s_status_t;

static void
s_parts_into (const msgpack_object *parts, bool *into)
{
    for (uint32_t k = 0; parts && parts->type == MSGPACK_OBJECT_ARRAY
                         && k < parts->via.array.size; k++)
        if (parts->via.array.ptr [k].via.u64 < S_PARTS)
            into [parts->via.array.ptr [k].via.u64] = true;
}

static s_status_t
s_status (void)
{
    s_status_t st;
    memset (&st, 0, sizeof st);
    zsock_t *sock = tk_dealer (cluster->clients);
    tk_body_t body;
    tk_body_begin (&body, "ClusterStatus", 0);
    tk_reply_t *reply = tk_call (sock, &body, 2000);
    zsock_destroy (&sock);
    if (!reply || tk_rc (reply) != 0) {
        tk_reply_destroy (&reply);
        return st;
    }
    st.answered = true;
    st.replicas = tk_get_uint (reply->map, "replicas");
    st.min_insync = tk_get_uint (reply->map, "min_insync");
    const msgpack_object *ws = tk_get (reply->map, "workers");
    for (uint32_t i = 0; ws && i < ws->via.array.size; i++) {
        const msgpack_object *w = &ws->via.array.ptr [i];
        int index = -1;
        if (sscanf (tk_get_str (w, "id"), "w%d", &index) != 1
        ||  index < 0 || index >= TK_WORKERS_MAX)
            continue;
        const msgpack_object *alive = tk_get (w, "alive");
        st.alive [index] = alive && alive->type == MSGPACK_OBJECT_BOOLEAN
                        && alive->via.boolean;
        s_parts_into (tk_get (w, "partitions"), st.leads [index]);
        s_parts_into (tk_get (w, "follows"), st.follows [index]);
    }
    tk_reply_destroy (&reply);
    return st;
}

//  The live worker that leads `part`, or -1.
static int
s_leader (const s_status_t *st, uint32_t part)
{
    for (int w = 0; w < TK_WORKERS_MAX; w++)
        if (st->alive [w] && st->leads [w][part])
            return w;
    return -1;
}

//  Live workers holding a copy of `part` (leading or following).
static int
s_copies (const s_status_t *st, uint32_t part)
{
    int count = 0;
    for (int w = 0; w < TK_WORKERS_MAX; w++)
        count += st->alive [w] && (st->leads [w][part]
                                   || st->follows [w][part]);
    return count;
}

//  Poll until a live worker other than `not` leads `part`; -1 after
//  timeout_ms.
static int
s_wait_leader (uint32_t part, int not, int timeout_ms)
{
    int64_t until = zclock_mono () + timeout_ms;
    while (zclock_mono () < until) {
        s_status_t st = s_status ();
        int w = s_leader (&st, part);
        if (w >= 0 && w != not)
            return w;
        zclock_sleep (20);
    }
    return -1;
}

//  --- the broker's log ---------------------------------------------------------

static void
s_log_path (char *path, size_t size, const char *name)
{
    const char *dir = getenv ("KVP_TEST_LOGS");
    snprintf (path, size, "%s/%s.log", dir ? dir : "/tmp", name);
}

//  How long the log is now: later searches start there (the log is
//  appended to by every cluster of the program).
static long
s_log_mark (const char *name)
{
    char path [512];
    s_log_path (path, sizeof path, name);
    struct stat st;
    return stat (path, &st) == 0 ? (long) st.st_size : 0;
}

//  The first line after `mark` holding `text` and `also` (NULL: any),
//  into `line`; false if none.
static bool
s_log_find (const char *name, long mark, const char *text, const char *also,
            char *line, size_t size)
{
    char path [512];
    s_log_path (path, sizeof path, name);
    FILE *file = fopen (path, "r");
    if (!file)
        return false;
    bool found = false;
    if (fseek (file, mark, SEEK_SET) == 0) {
        char *buf = NULL;
        size_t cap = 0;
        while (!found && getline (&buf, &cap, file) > 0)
            if (strstr (buf, text) && (!also || strstr (buf, also))) {
                found = true;
                snprintf (line, size, "%s", buf);
            }
        free (buf);
    }
    fclose (file);
    return found;
}

//  Kill worker `w`, a follower of `part`, and wait (bounded) until the
//  broker has taken it out of the partition's in-sync set.
static void
s_kill_follower (int w, uint32_t part)
{
    long mark = s_log_mark ("broker");
    s_kill (w);
    char text [64], worker [32], line [512];
    snprintf (text, sizeof text, "decided: shrink part %u ", part);
    snprintf (worker, sizeof worker, "worker w%d", w);
    int64_t until = zclock_mono () + S_BACK_MS;
    bool shrunk = false;
    while (!shrunk && zclock_mono () < until)
        if (!(shrunk = s_log_find ("broker", mark, text, worker, line,
                                   sizeof line)))
            zclock_sleep (20);
    ck_assert_msg (shrunk, "w%d killed, still in partition %u's in-sync set",
                   w, part);
}

//  --- requests -------------------------------------------------------------------

//  Names, data and keys of job j: n<j>, d<j>, k<j>.
static void
s_job_text (int j, char *name, char *data, char *key)
{
    sprintf (name, "n%d", j);
    sprintf (data, "d%d", j);
    sprintf (key, "k%d", j);
}

//  One keyed AddKvpItems of job j's item on `target`, not waited for.
static void
s_send_add (zsock_t *sock, const char *target, int j)
{
    char name [16], data [16], key [16];
    s_job_text (j, name, data, key);
    tk_body_t body;
    tk_body_begin (&body, "AddKvpItems", 4);
    tk_pack_kv_str (&body.pk, "target", target);
    tk_pack_kv_uint (&body.pk, "rid", (uint64_t) j);
    tk_pack_kv_str (&body.pk, "key", key);
    tk_pack_str (&body.pk, "items");
    msgpack_pack_array (&body.pk, 1);
    tk_pack_item (&body.pk, 0, name, data);
    tk_send (sock, &body);
    tk_body_end (&body);
}

//  Job j, keyed, retried on the try-again codes until 4096 (timeout_ms).
//  Returns the last rc.
static int
s_add_retry (const char *target, int j, char job [65], int timeout_ms)
{
    char name [16], data [16], key [16];
    s_job_text (j, name, data, key);
    int64_t until = zclock_mono () + timeout_ms;
    int rc = -1;
    while (zclock_mono () < until) {
        int64_t state;
        rc = tk_add1 (client, "AddKvpItems", target, 0, name, data, key, job,
                      &state);
        if (rc == 4096) {
            ck_assert_int_eq (state, 7);
            return rc;
        }
        ck_assert_msg (rc == -1 || rc == 32771 || rc == 32772 || rc == 32777,
                       "job %d: rc %d", j, rc);
        zclock_sleep (50);
    }
    return rc;
}

//  GetKvpItems of `target`, retried while its partition is between
//  leaders (timeout_ms). The reply (rc 0), or NULL.
static tk_reply_t *
s_items (const char *target, int timeout_ms)
{
    int64_t until = zclock_mono () + timeout_ms;
    while (zclock_mono () < until) {
        tk_body_t body;
        tk_body_begin (&body, "GetKvpItems", 1);
        tk_pack_kv_str (&body.pk, "target", target);
        tk_reply_t *reply = tk_call (client, &body, 2000);
        if (tk_rc (reply) == 0)
            return reply;
        tk_reply_destroy (&reply);
        zclock_sleep (50);
    }
    return NULL;
}

//  The Data of item `name` (Source 0) in a GetKvpItems reply, or NULL.
static const char *
s_item_data (tk_reply_t *reply, const char *name)
{
    const msgpack_object *items = tk_get (reply->map, "items");
    for (uint32_t i = 0; items && i < items->via.array.size; i++) {
        const msgpack_object *it = &items->via.array.ptr [i];
        if (tk_get_uint (it, "Source") == 0
        &&  streq (tk_get_str (it, "Name"), name))
            return tk_get_str (it, "Data");
    }
    return NULL;
}

static uint32_t
s_item_count (tk_reply_t *reply)
{
    const msgpack_object *items = tk_get (reply->map, "items");
    return items ? items->via.array.size : 0;
}

//  --- pipelined load with idempotency keys ------------------------------------------

#define S_DEALERS   4
#define S_WINDOW    8               //  in flight per DEALER
#define S_TIMEOUT   3000            //  ms without an answer: send again
#define S_RETRY     50              //  ms before a try-again code is retried

typedef struct {
    int system;                     //  index in the load's systems
    int sock;
    int64_t sent;                   //  mono ms of the last send; 0 idle
    int64_t retry_at;               //  a send due then; 0 none
    bool acked;
    bool retried;                   //  a try-again code came first
    int64_t acked_at;               //  mono ms of the 4096
    char job [65];
    int64_t state;
} s_job_t;

typedef struct {
    zsock_t *socks [S_DEALERS];
    int inflight [S_DEALERS];
    char (*systems) [37];
    int nsystems;
    s_job_t *jobs;
    int count, next, acked;
    int retries [4];                //  32771, 32772, 32777, timeout
    uint32_t watch;                 //  partition of the kill
    int64_t kill_at;                //  0 before the kill
    int64_t back_at;                //  first 4096 on `watch` sent after it
    zsock_t *sub;                   //  events, or NULL
    zhashx_t *events;               //  "part/seq" -> InstanceID
    zhashx_t *seen;                 //  InstanceID -> times seen
    int event_count, event_twice, event_forks;
} s_load_t;

static void
s_load_init (s_load_t *load, char (*systems) [37], int nsystems, int count)
{
    memset (load, 0, sizeof *load);
    for (int i = 0; i < S_DEALERS; i++)
        load->socks [i] = tk_dealer (cluster->clients);
    load->systems = systems;
    load->nsystems = nsystems;
    load->jobs = calloc ((size_t) count, sizeof *load->jobs);
    load->count = count;
    for (int j = 0; j < count; j++) {
        load->jobs [j].system = j % nsystems;
        load->jobs [j].sock = j % S_DEALERS;
    }
    load->events = zhashx_new ();
    zhashx_set_destructor (load->events, (zhashx_destructor_fn *) zstr_free);
    zhashx_set_duplicator (load->events, (zhashx_duplicator_fn *) strdup);
    load->seen = zhashx_new ();
}

static void
s_load_fini (s_load_t *load)
{
    for (int i = 0; i < S_DEALERS; i++)
        zsock_destroy (&load->socks [i]);
    zsock_destroy (&load->sub);
    zhashx_destroy (&load->events);
    zhashx_destroy (&load->seen);
    free (load->jobs);
}

static void
s_load_send (s_load_t *load, int j)
{
    s_job_t *job = &load->jobs [j];
    s_send_add (load->socks [job->sock], load->systems [job->system], j);
    if (!job->sent)
        load->inflight [job->sock]++;
    job->sent = zclock_mono ();
    job->retry_at = 0;
}

//  New jobs into free windows; retries that are due; sends that timed out.
static void
s_load_fill (s_load_t *load, int64_t now)
{
    for (int j = 0; j < load->next; j++) {
        s_job_t *job = &load->jobs [j];
        if (job->acked)
            continue;
        if (job->retry_at && job->retry_at <= now)
            s_load_send (load, j);
        else
        if (job->sent && now - job->sent > S_TIMEOUT) {
            load->retries [3]++;
            s_load_send (load, j);
        }
    }
    while (load->next < load->count
       &&  load->inflight [load->jobs [load->next].sock] < S_WINDOW)
        s_load_send (load, load->next++);
}

static void
s_load_reply (s_load_t *load, tk_reply_t *reply)
{
    int64_t j = tk_get_uint (reply->map, "rid");
    ck_assert (j >= 0 && j < load->count);
    s_job_t *job = &load->jobs [j];
    int64_t rc = tk_rc (reply);
    const msgpack_object *jobmap = tk_get (reply->map, "job");
    if (rc == 4096) {
        const char *id = tk_get_str (jobmap, "InstanceID");
        if (job->acked) {
            //  A late answer to an earlier send: the very same job
            ck_assert_msg (streq (id, job->job), "job %d answered as %s and "
                           "as %s", (int) j, job->job, id);
            return;
        }
        snprintf (job->job, sizeof job->job, "%s", id);
        job->state = tk_get_uint (jobmap, "JobState");
        job->acked = true;
        job->acked_at = zclock_mono ();
        load->acked++;
        if (load->kill_at && !load->back_at && job->sent >= load->kill_at
        &&  s_part_of (load->systems [job->system]) == load->watch)
            load->back_at = zclock_mono ();
    }
    else {
        int kind = rc == 32771 ? 0 : rc == 32772 ? 1 : rc == 32777 ? 2 : -1;
        ck_assert_msg (kind >= 0, "job %d: rc %d: %s", (int) j, (int) rc,
                       tk_get_str (reply->map, "error"));
        load->retries [kind]++;
        job->retried = true;
        if (job->acked || job->retry_at)
            return;
        job->retry_at = zclock_mono () + S_RETRY;
    }
    if (job->sent) {
        load->inflight [job->sock]--;
        job->sent = 0;
    }
}

//  One event from the subscriber: its seq given to one job only.
static void
s_load_event (s_load_t *load)
{
    zmsg_t *msg = zmsg_recv (load->sub);
    zframe_t *frame = msg && zmsg_size (msg) == 2 ? zmsg_last (msg) : NULL;
    msgpack_unpacked unp;
    msgpack_unpacked_init (&unp);
    size_t off = 0;
    if (frame && msgpack_unpack_next (&unp, (const char *) zframe_data (frame),
                                      zframe_size (frame), &off)
                 == MSGPACK_UNPACK_SUCCESS) {
        char key [64], id [65];
        snprintf (key, sizeof key, "%lld/%lld",
                  (long long) tk_get_uint (&unp.data, "partition"),
                  (long long) tk_get_uint (&unp.data, "seq"));
        snprintf (id, sizeof id, "%s", tk_get_str (&unp.data, "InstanceID"));
        const char *before = (const char *) zhashx_lookup (load->events, key);
        if (!before)
            zhashx_insert (load->events, key, id);
        else
        if (!streq (before, id))
            load->event_forks++;
        size_t times = (size_t) zhashx_lookup (load->seen, id);
        if (times)
            load->event_twice++;
        zhashx_update (load->seen, id, (void *) (times + 1));
        load->event_count++;
    }
    msgpack_unpacked_destroy (&unp);
    zmsg_destroy (&msg);
}

//  Run until every job is acknowledged, or `stop_at` are (0: all), or
//  the deadline. Returns whether the condition was met.
static bool
s_load_run (s_load_t *load, int stop_at, int timeout_ms)
{
    int want = stop_at ? stop_at : load->count;
    zpoller_t *poller = zpoller_new (NULL);
    for (int i = 0; i < S_DEALERS; i++)
        zpoller_add (poller, load->socks [i]);
    if (load->sub)
        zpoller_add (poller, load->sub);
    int64_t until = zclock_mono () + timeout_ms;
    while (load->acked < want && zclock_mono () < until) {
        s_load_fill (load, zclock_mono ());
        void *ready = zpoller_wait (poller, 10);
        if (ready && ready == load->sub)
            s_load_event (load);
        else
        if (ready) {
            tk_reply_t *reply = tk_recv ((zsock_t *) ready, 0);
            if (reply)
                s_load_reply (load, reply);
            tk_reply_destroy (&reply);
        }
    }
    zpoller_destroy (&poller);
    return load->acked >= want;
}

//  Take what the subscriber still has, until it is quiet for quiet_ms.
static void
s_load_drain (s_load_t *load, int quiet_ms)
{
    zpoller_t *poller = zpoller_new (load->sub, NULL);
    while (zpoller_wait (poller, quiet_ms))
        s_load_event (load);
    zpoller_destroy (&poller);
}

//  A SUB on job/ that is known to receive: adds on a probe system until
//  an event of it comes (bounded), then quiet.
static zsock_t *
s_subscriber (void)
{
    zsock_t *sub = zsock_new_sub (cluster->events, "job/");
    ck_assert_ptr_nonnull (sub);
    char probe [37];
    ck_assert_int_eq (tk_define (client, "probe", probe), 0);
    zpoller_t *poller = zpoller_new (sub, NULL);
    bool through = false;
    for (int i = 0; i < 100 && !through; i++) {
        char name [16];
        snprintf (name, sizeof name, "probe%d", i);
        tk_add1 (client, "AddKvpItems", probe, 0, name, "x", NULL, NULL,
                 NULL);
        through = zpoller_wait (poller, 100) != NULL;
    }
    ck_assert_msg (through, "the subscriber received nothing");
    while (zpoller_wait (poller, 300)) {
        zmsg_t *msg = zmsg_recv (sub);
        zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    return sub;
}

//  The event of `seq` in `part` by GetEvents, its InstanceID into `id`.
static bool
s_replayed (uint32_t part, uint64_t seq, char id [65])
{
    tk_body_t body;
    tk_body_begin (&body, "GetEvents", 3);
    tk_pack_kv_uint (&body.pk, "partition", part);
    tk_pack_kv_uint (&body.pk, "from", seq);
    tk_pack_kv_uint (&body.pk, "limit", 1);
    tk_reply_t *reply = tk_call (client, &body, 5000);
    const msgpack_object *events = reply ? tk_get (reply->map, "events")
                                         : NULL;
    bool found = tk_rc (reply) == 0 && events
              && events->type == MSGPACK_OBJECT_ARRAY
              && events->via.array.size == 1
              && tk_get_uint (&events->via.array.ptr [0], "seq")
                 == (int64_t) seq;
    if (found)
        snprintf (id, 65, "%s", tk_get_str (&events->via.array.ptr [0],
                                            "InstanceID"));
    tk_reply_destroy (&reply);
    return found;
}

//  Every acknowledged job of the load is there: its item with its data,
//  once per key (a system holds exactly its jobs' items, each job
//  Completed: one applied twice would have failed on its existing
//  name), a keyed retry answers the same job, and no seq went to two
//  jobs.
static void
s_load_verify (s_load_t *load)
{
    zhashx_t *seqs = zhashx_new ();
    zhashx_set_destructor (seqs, (zhashx_destructor_fn *) zstr_free);
    zhashx_set_duplicator (seqs, (zhashx_duplicator_fn *) strdup);
    for (int j = 0; j < load->count; j++) {
        s_job_t *job = &load->jobs [j];
        ck_assert_msg (job->acked, "job %d never acknowledged", j);
        ck_assert_msg (job->state == 7, "job %d (%s): JobState %lld", j,
                       job->job, (long long) job->state);
        uint32_t part, epoch;
        uint64_t seq;
        ck_assert (kvp_jobid_parse (job->job, strlen (job->job), &part,
                                    &epoch, &seq));
        char key [64];
        snprintf (key, sizeof key, "%u/%llu", part, (unsigned long long) seq);
        const char *other = (const char *) zhashx_lookup (seqs, key);
        ck_assert_msg (!other, "seq %s given to %s and %s", key, other,
                       job->job);
        zhashx_insert (seqs, key, job->job);
    }
    zhashx_destroy (&seqs);
    for (int s = 0; s < load->nsystems; s++) {
        tk_reply_t *reply = s_items (load->systems [s], 5000);
        ck_assert_msg (reply, "system %d unreadable", s);
        uint32_t jobs = 0;
        for (int j = s; j < load->count; j += load->nsystems, jobs++) {
            char name [16], data [16], key [16];
            s_job_text (j, name, data, key);
            const char *have = s_item_data (reply, name);
            ck_assert_msg (have && streq (have, data), "job %d (%s): item "
                           "%s is %s", j, load->jobs [j].job, name,
                           have ? have : "missing");
        }
        ck_assert_int_eq (s_item_count (reply), jobs);
        tk_reply_destroy (&reply);
    }
    for (int j = 0; j < load->count; j++) {
        char job [65];
        ck_assert_int_eq (s_add_retry (load->systems [load->jobs [j].system],
                                       j, job, 5000), 4096);
        ck_assert_msg (streq (job, load->jobs [j].job), "job %d: retried as "
                       "%s, acknowledged as %s", j, job, load->jobs [j].job);
    }
}

//  --- R = 3, M = 2 ------------------------------------------------------------------

enum { S_SYSTEMS = 16, S_JOBS = 600, S_KILL_AFTER = 150 };

//  Systems on every partition, S_SYSTEMS / S_PARTS each (defined until
//  each has its share; bounded).
static void
s_systems (char systems [S_SYSTEMS][37])
{
    int per [S_PARTS] = { 0 }, have = 0;
    for (int i = 0; i < 400 && have < S_SYSTEMS; i++) {
        char id [37];
        ck_assert_int_eq (tk_define (client, "r", id), 0);
        uint32_t part = s_part_of (id);
        if (per [part] < S_SYSTEMS / S_PARTS) {
            per [part]++;
            snprintf (systems [have++], 37, "%s", id);
        }
    }
    ck_assert_int_eq (have, S_SYSTEMS);
}

//  The seq of the load's jobs in `part` the subscriber never saw, from
//  the lowest to the highest (the probe's came before them).
static int
s_seq_gaps (s_load_t *load, uint32_t part)
{
    uint64_t low = UINT64_MAX, high = 0;
    for (int j = 0; j < load->count; j++) {
        uint32_t p, e;
        uint64_t seq;
        if (kvp_jobid_parse (load->jobs [j].job, strlen (load->jobs [j].job),
                             &p, &e, &seq) && p == part) {
            low = seq < low ? seq : low;
            high = seq > high ? seq : high;
        }
    }
    int gaps = 0;
    for (uint64_t seq = low; low != UINT64_MAX && seq <= high; seq++) {
        char key [64];
        snprintf (key, sizeof key, "%u/%llu", part, (unsigned long long) seq);
        gaps += zhashx_lookup (load->events, key) == NULL;
    }
    return gaps;
}

//  Events across the failover: a seq never names two jobs, and each
//  acknowledged job's event was published: the new leader publishes the
//  tail its old leader had not (a repeat of one it had is allowed, spec
//  section 7, and counted), so no seq is missing at the subscriber.
static void
s_events_check (s_load_t *load)
{
    int missing = 0, retried = 0, before = 0, gaps = 0;
    char first [65] = "";
    for (int j = 0; j < load->count; j++) {
        const char *id = load->jobs [j].job;
        if (zhashx_lookup (load->seen, id))
            continue;
        missing++;
        retried += load->jobs [j].retried;
        before += load->jobs [j].acked_at < load->kill_at;
        if (!*first)
            snprintf (first, sizeof first, "%s", id);
        uint32_t part, epoch;
        uint64_t seq;
        ck_assert (kvp_jobid_parse (id, strlen (id), &part, &epoch, &seq));
        char got [65];
        ck_assert_msg (s_replayed (part, seq, got), "job %s: no event "
                       "published and none by GetEvents", id);
        ck_assert_str_eq (got, id);
    }
    for (uint32_t part = 0; part < S_PARTS; part++)
        gaps += s_seq_gaps (load, part);
    printf ("replication: events: %d received for %d jobs; %d seq given to "
            "two jobs, %d delivered twice, %d seq missing at the subscriber "
            "(%d jobs without an event, each served by GetEvents%s%s)\n",
            load->event_count, load->count, load->event_forks,
            load->event_twice, gaps, missing, *first ? "; first " : "",
            first);
    if (missing)
        printf ("replication: events: of the %d jobs without an event, %d "
                "were first answered 32771/32772/32777 and acknowledged by a "
                "keyed retry, %d were acknowledged before the kill\n",
                missing, retried, before);
    ck_assert_int_eq (load->event_forks, 0);
    ck_assert_int_eq (gaps, 0);
    ck_assert_int_eq (missing, 0);
}

//  The killed worker `dead` returns on its folder: listed as a follower
//  of the load's partition, it catches up while writes go on (jobs from
//  S_JOBS on systems [0]) and rejoins the in-sync set. Returns the jobs
//  written in all.
static int
s_return (s_load_t *load, int dead)
{
    long mark = s_log_mark ("broker");
    tk_worker_start (cluster, dead);
    ck_assert (tk_wait_alive (cluster, 3, 15000));
    int64_t until = zclock_mono () + 10000;
    bool follows = false;
    while (!follows && zclock_mono () < until) {
        s_status_t st = s_status ();
        if (!(follows = st.follows [dead][load->watch]))
            zclock_sleep (50);
    }
    ck_assert_msg (follows, "w%d does not follow partition %u", dead,
                   load->watch);
    char expand [64], worker [32], line [512];
    snprintf (expand, sizeof expand, "decided: expand part %u ", load->watch);
    snprintf (worker, sizeof worker, "worker w%d", dead);
    bool rejoined = false;
    int j = S_JOBS;
    until = zclock_mono () + 15000;
    while (!rejoined && zclock_mono () < until) {
        char job [65];
        ck_assert_int_eq (s_add_retry (load->systems [0], j++, job, 5000),
                          4096);
        if (!(rejoined = s_log_find ("broker", mark, expand, worker, line,
                                     sizeof line)))
            zclock_sleep (100);
    }
    ck_assert_msg (rejoined, "w%d never rejoined partition %u's in-sync set",
                   dead, load->watch);
    return j;
}

//  Every system of the load's partition holds exactly its jobs' items
//  of the `written` (the first S_JOBS spread, the rest on systems [0]).
static void
s_partition_holds (s_load_t *load, int written)
{
    for (int s = 0; s < load->nsystems; s++) {
        if (s_part_of (load->systems [s]) != load->watch)
            continue;
        tk_reply_t *reply = s_items (load->systems [s], 5000);
        ck_assert_ptr_nonnull (reply);
        uint32_t want = 0;
        for (int k = 0; k < written; k++) {
            if (k < S_JOBS ? k % load->nsystems != s : s != 0)
                continue;
            char name [16], data [16], key [16];
            s_job_text (k, name, data, key);
            const char *have = s_item_data (reply, name);
            ck_assert_msg (have && streq (have, data), "job %d lost", k);
            want++;
        }
        ck_assert_int_eq (s_item_count (reply), want);
        tk_reply_destroy (&reply);
    }
}

//  Leader killed under pipelined keyed load: nothing acknowledged is lost
//  or applied twice, a new leader is listed, writes go on within the
//  bound; the events at a subscriber across it. Then the dead worker
//  returns on its folder as a follower, catches up, and can lead the
//  partition with all data.
START_TEST (test_leader_killed_under_load)
{
    s_start (3, 0, 3, 2);
    s_status_t st = s_status ();
    ck_assert_int_eq (st.replicas, 3);
    ck_assert_int_eq (st.min_insync, 2);
    static char systems [S_SYSTEMS][37];
    s_systems (systems);
    s_load_t load;
    s_load_init (&load, systems, S_SYSTEMS, S_JOBS);
    load.sub = s_subscriber ();
    load.watch = s_part_of (systems [0]);
    ck_assert (s_load_run (&load, S_KILL_AFTER, 30000));
    st = s_status ();
    int dead = s_leader (&st, load.watch);
    ck_assert_int_ge (dead, 0);
    ck_assert_int_eq (s_copies (&st, load.watch), 3);
    load.kill_at = zclock_mono ();
    s_kill (dead);
    ck_assert_msg (s_load_run (&load, 0, 40000), "%d of %d jobs acknowledged",
                   load.acked, load.count);
    ck_assert_msg (load.back_at, "no write on partition %u after the kill",
                   load.watch);
    int64_t back = load.back_at - load.kill_at;
    printf ("replication: partition %u wrote again %lld ms after its leader "
            "w%d was killed (bound %d ms); retries: %d x 32771, %d x 32772, "
            "%d x 32777, %d timeouts\n", load.watch, (long long) back, dead,
            S_BACK_MS, load.retries [0], load.retries [1], load.retries [2],
            load.retries [3]);
    ck_assert_int_le (back, S_BACK_MS);
    int leader = s_wait_leader (load.watch, dead, 5000);
    ck_assert_msg (leader >= 0, "no new leader listed for partition %u",
                   load.watch);
    s_load_drain (&load, 1000);
    s_load_verify (&load);
    s_events_check (&load);
    int written = s_return (&load, dead);
    //  It can lead with all data: the third copy goes, then the leader,
    //  and the returned worker is the one left to promote
    s_kill_follower (3 - dead - leader, load.watch);
    s_kill (leader);
    ck_assert_int_eq (s_wait_leader (load.watch, leader, S_BACK_MS), dead);
    s_partition_holds (&load, written);
    s_load_fini (&load);
}
END_TEST

//  Jobs from..to-1 on `target`, each acknowledged; their job ids kept.
static void
s_write (const char *target, int from, int to, char jobs [][65])
{
    for (int j = from; j < to; j++)
        ck_assert_int_eq (s_add_retry (target, j, jobs [j], 10000), 4096);
}

//  `target` holds exactly the items of jobs 0..count-1.
static void
s_holds (const char *target, int count)
{
    tk_reply_t *reply = s_items (target, 5000);
    ck_assert_msg (reply, "%s unreadable", target);
    for (int j = 0; j < count; j++) {
        char name [16], data [16], key [16];
        s_job_text (j, name, data, key);
        const char *have = s_item_data (reply, name);
        ck_assert_msg (have && streq (have, data), "%s: job %d's item %s "
                       "is %s", target, j, name, have ? have : "missing");
    }
    ck_assert_int_eq (s_item_count (reply), count);
    tk_reply_destroy (&reply);
}

//  The dead worker's disk is gone: a fresh empty worker under a new id
//  joins, kvpctl retire names the dead one, and R copies come back.
START_TEST (test_retire_restores_copies)
{
    s_start (3, 1, 3, 2);
    char id [37];
    ck_assert_int_eq (tk_define (client, "r", id), 0);
    uint32_t part = s_part_of (id);
    static char jobs [30][65];
    s_write (id, 0, 20, jobs);
    s_status_t st = s_status ();
    int dead = s_leader (&st, part);
    ck_assert_int_ge (dead, 0);
    s_kill (dead);
    char folder [400];
    snprintf (folder, sizeof folder, "%s/w%d", cluster->dir, dead);
    tk_rmtree (folder);
    ck_assert_int_ge (s_wait_leader (part, dead, S_BACK_MS), 0);
    tk_worker_start (cluster, 3);
    ck_assert (tk_wait_alive (cluster, 3, 15000));
    char out [4096], name [16];
    snprintf (name, sizeof name, "w%d", dead % 10);
    ck_assert_int_eq (tk_run_all (out, sizeof out, "kvpctl", "--broker",
                                  cluster->clients, "retire", name, NULL), 0);
    //  Writes go on meanwhile (two copies in sync)
    s_write (id, 20, 30, jobs);
    int64_t until = zclock_mono () + 10000;
    int copies = 0;
    while (copies < 3 && zclock_mono () < until) {
        st = s_status ();
        copies = s_copies (&st, part);
        if (copies < 3)
            zclock_sleep (100);
    }
    s_holds (id, 30);
    ck_assert_msg (copies == 3, "partition %u has %d live copies 10 s "
                   "after kvpctl retire %s with a fresh worker w3 up", part,
                   copies, name);
    ck_assert (st.follows [3][part] || st.leads [3][part]);
}
END_TEST

//  A follower stopped past the liveness bound leaves the in-sync set and
//  writes go on; continued, it catches up and rejoins.
START_TEST (test_follower_stopped)
{
    s_start (3, 0, 3, 2);
    char id [37];
    ck_assert_int_eq (tk_define (client, "f", id), 0);
    uint32_t part = s_part_of (id);
    static char jobs [80][65];
    s_write (id, 0, 10, jobs);
    s_status_t st = s_status ();
    int leader = s_leader (&st, part), follower = -1;
    for (int w = 0; w < 3; w++)
        if (w != leader && st.follows [w][part])
            follower = w;
    ck_assert_int_ge (follower, 0);
    long mark = s_log_mark ("broker");
    kill (cluster->workers [follower], SIGSTOP);
    //  Each write answered, the first once the follower is dropped from
    //  the in-sync set
    int64_t start = zclock_mono (), first = 0;
    for (int j = 10; j < 40; j++) {
        int64_t state;
        char name [16], data [16], key [16];
        s_job_text (j, name, data, key);
        int rc = tk_add1 (client, "AddKvpItems", id, 0, name, data, key,
                          jobs [j], &state);
        ck_assert_msg (rc == 4096, "job %d while w%d is stopped: rc %d", j,
                       follower, rc);
        ck_assert_int_eq (state, 7);
        if (!first)
            first = zclock_mono () - start;
    }
    printf ("replication: with w%d stopped, the first write took %lld ms "
            "(liveness %d ms)\n", follower, (long long) first, S_SILENCE_MS);
    ck_assert_int_le (first, S_BACK_MS);
    //  The first waited for the stopped follower until it was dropped: it
    //  was heard from (heartbeat, ACK) within 200 ms before the stop, so
    //  it is declared down no sooner than 400 ms after it
    ck_assert_msg (first >= S_SILENCE_MS / 2, "the first write was "
                   "acknowledged in %lld ms, without the stopped in-sync "
                   "follower", (long long) first);
    char line [512], worker [32], text [64];
    snprintf (worker, sizeof worker, "worker w%d", follower);
    snprintf (text, sizeof text, "decided: shrink part %u ", part);
    ck_assert_msg (s_log_find ("broker", mark, text, worker, line,
                               sizeof line),
                   "no shrink of w%d from partition %u", follower, part);
    //  Still stopped: those writes did not wait for it
    char state [256];
    snprintf (state, sizeof state, "/proc/%d/stat",
              (int) cluster->workers [follower]);
    FILE *file = fopen (state, "r");
    ck_assert_ptr_nonnull (file);
    ck_assert (fgets (state, sizeof state, file));
    fclose (file);
    ck_assert_ptr_nonnull (strstr (state, ") T "));
    mark = s_log_mark ("broker");
    int64_t cont = zclock_mono ();
    kill (cluster->workers [follower], SIGCONT);
    snprintf (text, sizeof text, "decided: expand part %u ", part);
    bool rejoined = false;
    int j = 40;
    while (!rejoined && j < 80 && zclock_mono () - cont < 10000) {
        s_write (id, j, j + 1, jobs);
        j++;
        rejoined = s_log_find ("broker", mark, text, worker, line,
                               sizeof line);
        if (!rejoined)
            zclock_sleep (100);
    }
    ck_assert_msg (rejoined, "w%d did not rejoin partition %u in 10 s",
                   follower, part);
    printf ("replication: w%d rejoined partition %u's in-sync set %lld ms "
            "after SIGCONT\n", follower, part,
            (long long) (zclock_mono () - cont));
    st = s_status ();
    ck_assert (st.alive [follower] && st.follows [follower][part]);
    //  It holds every job: made the only copy left to lead, it serves them
    s_kill_follower (3 - leader - follower, part);
    s_kill (leader);
    ck_assert_int_eq (s_wait_leader (part, leader, S_BACK_MS), follower);
    s_holds (id, j);
}
END_TEST

//  R = 2, M = 2: the leader's loss stops writes (32777, nothing changed)
//  while keyed retries of acknowledged jobs are still answered.
START_TEST (test_r2m2_writes_stop)
{
    s_start (2, 0, 2, 2);
    char id [37];
    ck_assert_int_eq (tk_define (client, "m", id), 0);
    uint32_t part = s_part_of (id);
    static char jobs [10][65];
    s_write (id, 0, 10, jobs);
    s_status_t st = s_status ();
    int dead = s_leader (&st, part);
    ck_assert_int_ge (dead, 0);
    s_kill (dead);
    int leader = s_wait_leader (part, dead, S_BACK_MS);
    ck_assert_int_ge (leader, 0);
    s_holds (id, 10);
    //  Writes refused, new keys or none, Add or Modify
    for (int j = 10; j < 15; j++) {
        char name [16], data [16], key [16];
        s_job_text (j, name, data, key);
        ck_assert_int_eq (tk_add1 (client, "AddKvpItems", id, 0, name, data,
                                   key, NULL, NULL), 32777);
        ck_assert_int_eq (tk_add1 (client, "AddKvpItems", id, 0, name, data,
                                   NULL, NULL, NULL), 32777);
    }
    ck_assert_int_eq (tk_add1 (client, "ModifyKvpItems", id, 0, "n0", "new",
                               NULL, NULL, NULL), 32777);
    s_holds (id, 10);
    //  The acknowledged ones: answered with their job
    for (int j = 0; j < 10; j++) {
        char name [16], data [16], key [16], job [65];
        s_job_text (j, name, data, key);
        int64_t state;
        ck_assert_int_eq (tk_add1 (client, "AddKvpItems", id, 0, name, data,
                                   key, job, &state), 4096);
        ck_assert_str_eq (job, jobs [j]);
        ck_assert_int_eq (state, 7);
    }
    s_holds (id, 10);
}
END_TEST

//  R = 2, M = 1: the leader's loss stops nothing.
START_TEST (test_r2m1_writes_go_on)
{
    s_start (2, 0, 2, 1);
    char id [37];
    ck_assert_int_eq (tk_define (client, "m", id), 0);
    uint32_t part = s_part_of (id);
    static char jobs [20][65];
    s_write (id, 0, 10, jobs);
    s_status_t st = s_status ();
    int dead = s_leader (&st, part);
    ck_assert_int_ge (dead, 0);
    int64_t kill_at = zclock_mono ();
    s_kill (dead);
    ck_assert_int_eq (s_add_retry (id, 10, jobs [10], S_BACK_MS), 4096);
    int64_t back = zclock_mono () - kill_at;
    printf ("replication: R=2 M=1: wrote again %lld ms after the leader's "
            "kill\n", (long long) back);
    ck_assert_int_ge (s_wait_leader (part, dead, S_BACK_MS), 0);
    s_write (id, 11, 20, jobs);
    s_holds (id, 20);
}
END_TEST

//  The broker killed right after it decided a promotion, restarted on the
//  same data: the promoted leader serves, nothing acknowledged is lost.
START_TEST (test_broker_killed_after_promotion)
{
    s_start (3, 0, 3, 2);
    char id [37];
    ck_assert_int_eq (tk_define (client, "b", id), 0);
    uint32_t part = s_part_of (id);
    static char jobs [30][65];
    s_write (id, 0, 20, jobs);
    s_status_t st = s_status ();
    int dead = s_leader (&st, part);
    ck_assert_int_ge (dead, 0);
    long mark = s_log_mark ("broker");
    s_kill (dead);
    char text [64], line [512];
    snprintf (text, sizeof text, "decided: leader part %u ", part);
    int64_t until = zclock_mono () + 5000;
    bool decided = false;
    while (!decided && zclock_mono () < until)
        if (!(decided = s_log_find ("broker", mark, text, NULL, line,
                                    sizeof line)))
            zclock_sleep (2);
    ck_assert_msg (decided, "no promotion of partition %u", part);
    tk_stop (cluster->broker, SIGKILL, 5000);
    cluster->broker = 0;
    int promoted = -1;
    const char *at = strstr (line, "worker w");
    ck_assert (at && sscanf (at, "worker w%d", &promoted) == 1);
    ck_assert (promoted != dead);
    zsock_destroy (&client);
    tk_broker_start (cluster);
    ck_assert (tk_wait_alive (cluster, 2, 15000));
    client = tk_dealer (cluster->clients);
    ck_assert_int_eq (s_wait_leader (part, dead, S_BACK_MS), promoted);
    s_holds (id, 20);
    s_write (id, 20, 30, jobs);
    s_holds (id, 30);
    for (int j = 0; j < 20; j++) {
        char job [65];
        ck_assert_int_eq (s_add_retry (id, j, job, 5000), 4096);
        ck_assert_str_eq (job, jobs [j]);
    }
}
END_TEST

//  One case per test, so that CK_RUN_CASE picks one.
static void
s_case (Suite *suite, const char *name, const TTest *test)
{
    TCase *tc = tcase_create (name);
    tcase_add_checked_fixture (tc, NULL, s_teardown);
    tcase_set_timeout (tc, 120);
    tcase_add_test (tc, test);
    suite_add_tcase (suite, tc);
}

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("replication");
    s_case (suite, "leader-killed", test_leader_killed_under_load);
    s_case (suite, "retire", test_retire_restores_copies);
    s_case (suite, "follower-stopped", test_follower_stopped);
    s_case (suite, "r2m2", test_r2m2_writes_stop);
    s_case (suite, "r2m1", test_r2m1_writes_go_on);
    s_case (suite, "broker-killed", test_broker_killed_after_promotion);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
