/*  test_crash.c - power loss under load. One worker keeps its data on
    lossyfs (tests/lossyfs: what is not synced is lost at a cut), loaded
    from a few DEALER connections with AddKvpItems, ModifyKvpItems,
    RemoveKvpItems (all with idempotency keys), DefineSystem and
    DestroySystem over a small set of systems. At a random moment the power
    is cut, then the worker killed (-9: nothing it does after the cut
    reaches the disk); the file system is mounted again on what survived
    and the worker restarted there; then every acknowledged outcome is
    audited:

    * every system holds exactly the items its acknowledged history gives;
      one whose request was in flight at the cut holds the state before it
      or after it, never a part of it (half-applied); retried with the same
      key, that request then answers with a job and changes nothing more;
    * every acknowledged job reads back with GetJob as it was acknowledged
      (those since the last crash point, and a sample of older ones);
    * every few points the worker is stopped (it must exit 0) and its
      store read directly: each partition's seq runs from 1 without a gap,
      and every acknowledged job is in it with the same state and error;
    * the worker starts again and registers, every time.

    Systems run one request at a time, so a system's history is a
    sequence. Some crash points fall while the worker is still starting
    (recovery). The load then goes on, and the next point comes.

    Environment: KVP_CRASH_POINTS (default 15), KVP_CRASH_SEED (printed),
    KVP_CRASH_WORKER_ARGS (more worker flags, after the test's own small
    --wal-segment-size, --checkpoint-ms and --checkpoint-ops: "--sync none"
    shows the test failing),
    KVP_CRASH_STORE_EVERY (default 3: the store's own audit every N
    points, and at the end), KVP_CRASH_SETUP_SYNC (default 0: the worker
    must make its own files' names durable; 1: once the worker has made
    its data folder, the test fsyncs everything in it, as an installation
    step would), KVP_CRASH_VERBOSE
    (1: lossyfs logs every change, into $KVP_TEST_LOGS/lossyfs.log),
    KVP_CRASH_TEAR (default 1: half the mounts tear the newest unsynced
    write at the cut; 0: none).
    `make crash` runs 200 points; `make test` the short version.
*/
#include <check.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/wait.h>
#include "kvp_testkit.h"
#include "kvp_lossy.h"
#include "kvp_guid.h"
#include "kvp_store.h"

enum {
    CLIENTS = 3,            //  DEALER connections
    WINDOW = 4,             //  requests outstanding per connection
    SYSTEMS = 24,
    CHURN = 6,              //  systems 0..CHURN-1 may be destroyed
    OP_ITEMS = 3,           //  most items per request
    MODEL_MAX = 24,         //  from this many items on, a system sheds some
    ITEMS_CAP = 2 * MODEL_MAX,  //  room for a system's items (and for more
                                //  than it should have, to see them)
    OLD_SAMPLE = 64,        //  older jobs GetJob reads again per point
    AUDIT_WINDOW = 32,      //  GetJob requests outstanding
    REPLY_MS = 15000,       //  bound on one answer in the audit
    DRAIN_MS = 4000         //  bound on the answers after the kill
};

typedef struct {
    unsigned source;
    char name [16];
    char data [32];
} item_t;

typedef struct {
    bool defined;
    int count;
    item_t at [ITEMS_CAP];
} sstate_t;

typedef enum { OP_ADD, OP_MODIFY, OP_REMOVE, OP_DEFINE, OP_DESTROY } opkind_t;
static const char *s_opname [] = { "AddKvpItems", "ModifyKvpItems",
    "RemoveKvpItems", "DefineSystem", "DestroySystem" };

typedef struct {
    opkind_t kind;
    int nitems;
    item_t items [OP_ITEMS];
    bool ok;                //  expected to succeed (else a failed job)
    char key [24];
} op_t;

typedef enum { S_IDLE, S_BUSY, S_UNKNOWN } phase_t;

typedef struct {
    char id [37];
    sstate_t model;         //  after the last acknowledged request
    sstate_t after;         //  model with `op` applied
    op_t op;                //  the request in flight, or of unknown outcome
    phase_t phase;
    uint64_t rid;           //  of the attempt in flight
    int client;
    unsigned serial;        //  fresh names, data and keys
} system_t;

typedef struct {
    char id [KVP_JOBID_MAX + 1];
    char type [16];
    int sys;
    int nitems;
    int64_t state, error, submitted, elapsed;
    bool gone;              //  found lost once; not counted again
    bool seen;              //  in the store's log (during its audit)
} job_t;

typedef struct {
    int points, in_recovery, store_audits;
    uint64_t sent, acked, getjob_checks, log_checks;
    uint64_t lost_jobs, lost_items, half, wrong, gaps, twice, errors;
    uint64_t applied, not_applied, unacked_in_log, failed_by_cut;
    uint64_t torn, dropped, cuts_names, cuts_data;
    int64_t recover_ms_max;
} stats_t;

static tk_cluster_t *cluster;
static tk_lossy_t disk;
static system_t systems [SYSTEMS];
static job_t *jobs;
static size_t njobs, cap_jobs, jobs_checked;    //  GetJob'd up to here
static zhashx_t *job_index;                     //  InstanceID -> index + 1
static zsock_t *socks [CLIENTS], *audit;
static int outstanding [CLIENTS];
static int *rid_sys;                            //  rid -> system
static uint64_t nrids, cap_rids;
static unsigned seed;                   //  the random state
static unsigned seed0;                  //  the seed it started from
static stats_t stats;
static char worker_args [512];

static int64_t run_start;
static bool power_off;          //  from the cut until the worker is back

static void s_summary (void);

//  One line about something wrong, for the first few of them.
static void
s_problem (const char *format, ...) __attribute__ ((format (printf, 1, 2)));
static void
s_problem (const char *format, ...)
{
    static int shown;
    if (++shown > 40) {
        if (shown == 41)
            printf ("crash: (more problems, not shown)\n");
        return;
    }
    va_list args;
    va_start (args, format);
    printf ("crash: ");
    vprintf (format, args);
    va_end (args);
}

//  Give up the run (with its figures so far) unless `cond` holds.
static void
s_require (bool cond, const char *format, ...) __attribute__ ((format (printf, 2, 3)));
static void
s_require (bool cond, const char *format, ...)
{
    if (cond)
        return;
    char why [256];
    va_list args;
    va_start (args, format);
    vsnprintf (why, sizeof why, format, args);
    va_end (args);
    s_summary ();
    ck_abort_msg ("%s", why);
}

static uint32_t
s_rand (uint32_t n)
{
    return (uint32_t) (rand_r (&seed) % n);
}

static bool
s_env_flag (const char *name, bool dflt)
{
    const char *env = getenv (name);
    return env && *env ? atoi (env) != 0 : dflt;
}

//  --- a system's items -----------------------------------------------------

static int
s_find (const sstate_t *st, unsigned source, const char *name)
{
    for (int i = 0; i < st->count; i++)
        if (st->at [i].source == source && strcmp (st->at [i].name, name) == 0)
            return i;
    return -1;
}

//  What a successful `op` makes of `st`.
static void
s_apply (sstate_t *st, const op_t *op)
{
    if (op->kind == OP_DEFINE || op->kind == OP_DESTROY) {
        st->defined = op->kind == OP_DEFINE;
        st->count = 0;
    }
    for (int k = 0; k < op->nitems; k++) {
        const item_t *item = &op->items [k];
        int i = s_find (st, item->source, item->name);
        if (op->kind == OP_ADD && i < 0 && st->count < ITEMS_CAP)
            st->at [st->count++] = *item;
        else
        if (op->kind == OP_MODIFY && i >= 0)
            st->at [i] = *item;
        else
        if (op->kind == OP_REMOVE && i >= 0)
            st->at [i] = st->at [--st->count];
    }
}

//  Do a and b agree, leaving out the items `op` names (all if op NULL)?
static bool
s_agree (const sstate_t *a, const sstate_t *b, const op_t *op)
{
    if (a->defined != b->defined)
        return false;
    for (int pass = 0; pass < 2; pass++) {
        const sstate_t *x = pass ? b : a, *y = pass ? a : b;
        for (int i = 0; i < x->count; i++) {
            const item_t *item = &x->at [i];
            bool named = false;
            for (int k = 0; op && k < op->nitems; k++)
                named |= op->items [k].source == item->source
                      && strcmp (op->items [k].name, item->name) == 0;
            int j = s_find (y, item->source, item->name);
            if (!named && (j < 0 || strcmp (y->at [j].data, item->data) != 0))
                return false;
        }
    }
    return true;
}

//  --- choosing the next request ------------------------------------------

static void
s_fresh_item (system_t *sys, item_t *item)
{
    item->source = s_rand (2) ? 4 : 0;
    snprintf (item->name, sizeof item->name, "n%u", sys->serial);
    snprintf (item->data, sizeof item->data, "v%u-%u", sys->serial, s_rand (1000));
    sys->serial++;
}

//  Up to `want` distinct existing items into op (new data when `modify`).
static void
s_pick_existing (system_t *sys, op_t *op, int want, bool modify)
{
    for (int k = 0; k < want && op->nitems < sys->model.count; k++) {
        const item_t *item = &sys->model.at [s_rand ((uint32_t) sys->model.count)];
        bool twice = false;
        for (int j = 0; j < op->nitems; j++)
            twice |= op->items [j].source == item->source
                  && strcmp (op->items [j].name, item->name) == 0;
        if (twice)
            continue;
        op->items [op->nitems] = *item;
        if (modify)
            snprintf (op->items [op->nitems].data, sizeof item->data, "m%u-%u",
                      sys->serial++, s_rand (1000));
        op->nitems++;
    }
}

//  A request that must fail: Add of an existing item, or Modify of a
//  missing one (the job is acknowledged, JobState 10, nothing changes).
static void
s_choose_failing (system_t *sys, op_t *op)
{
    bool add = sys->model.count > 0 && s_rand (2);
    op->kind = add ? OP_ADD : OP_MODIFY;
    op->ok = false;
    if (add)
        s_pick_existing (sys, op, 1, false);
    s_fresh_item (sys, &op->items [op->nitems++]);
}

static void
s_choose (system_t *sys)
{
    op_t *op = &sys->op;
    memset (op, 0, sizeof *op);
    op->ok = true;
    int count = sys->model.count;
    uint32_t r = s_rand (100);
    if (!sys->model.defined)
        op->kind = OP_DEFINE;
    else
    if (sys - systems < CHURN && r < 5)
        op->kind = OP_DESTROY;
    else
    if (r < 12)
        s_choose_failing (sys, op);
    else
    if (count > 0 && (r < 35 || count >= MODEL_MAX)) {
        op->kind = OP_REMOVE;
        s_pick_existing (sys, op, 1 + (int) s_rand (OP_ITEMS), false);
    }
    else
    if (count > 0 && r < 55) {
        op->kind = OP_MODIFY;
        s_pick_existing (sys, op, 1 + (int) s_rand (OP_ITEMS), true);
    }
    else {
        op->kind = OP_ADD;
        for (int k = (int) s_rand (OP_ITEMS); k >= 0; k--)
            s_fresh_item (sys, &op->items [op->nitems++]);
    }
    snprintf (op->key, sizeof op->key, "k%u", sys->serial++);
    sys->after = sys->model;
    if (op->ok)
        s_apply (&sys->after, op);
}

//  --- sending and answers ------------------------------------------------

static uint64_t
s_new_rid (int sys)
{
    if (nrids == cap_rids) {
        cap_rids = cap_rids ? cap_rids * 2 : 4096;
        rid_sys = realloc (rid_sys, cap_rids * sizeof *rid_sys);
    }
    rid_sys [nrids] = sys;
    return nrids++;
}

static void
s_send_op (zsock_t *sock, system_t *sys)
{
    const op_t *op = &sys->op;
    bool items = op->kind <= OP_REMOVE;
    tk_body_t body;
    tk_body_begin (&body, s_opname [op->kind],
                   items ? 4 : op->kind == OP_DEFINE ? 3 : 2);
    tk_pack_kv_uint (&body.pk, "rid", sys->rid);
    if (op->kind == OP_DEFINE) {
        tk_pack_kv_str (&body.pk, "id", sys->id);
        tk_pack_kv_str (&body.pk, "name", "crash");
    }
    else
        tk_pack_kv_str (&body.pk, "target", sys->id);
    if (items) {
        tk_pack_kv_str (&body.pk, "key", op->key);
        tk_pack_str (&body.pk, "items");
        msgpack_pack_array (&body.pk, (uint32_t) op->nitems);
        for (int k = 0; k < op->nitems; k++)
            tk_pack_item (&body.pk, op->items [k].source, op->items [k].name,
                          op->items [k].data);
    }
    tk_send (sock, &body);
    tk_body_end (&body);
    stats.sent++;
}

static void
s_record_job (system_t *sys, const msgpack_object *job)
{
    if (njobs == cap_jobs) {
        cap_jobs = cap_jobs ? cap_jobs * 2 : 4096;
        jobs = realloc (jobs, cap_jobs * sizeof *jobs);
    }
    job_t *rec = &jobs [njobs];
    memset (rec, 0, sizeof *rec);
    snprintf (rec->id, sizeof rec->id, "%s", tk_get_str (job, "InstanceID"));
    snprintf (rec->type, sizeof rec->type, "%s", tk_get_str (job, "JobType"));
    rec->sys = (int) (sys - systems);
    rec->nitems = sys->op.nitems;
    rec->state = tk_get_uint (job, "JobState");
    rec->error = tk_get_uint (job, "ErrorCode");
    rec->submitted = tk_get_uint (job, "TimeSubmitted");
    rec->elapsed = tk_get_uint (job, "ElapsedTime");
    if (zhashx_lookup (job_index, rec->id)) {
        stats.twice++;          //  a job id given to two jobs
        s_problem ("job id %s given twice\n", rec->id);
    }
    zhashx_update (job_index, rec->id, (void *) (uintptr_t) (njobs + 1));
    njobs++;
}

//  The outcome the model expects of an acknowledged answer; false (and
//  counted) when it is another.
static bool
s_expected (system_t *sys, int64_t rc, const msgpack_object *job)
{
    const op_t *op = &sys->op;
    bool good = op->kind <= OP_REMOVE
        ? rc == 4096 && tk_get_uint (job, "JobState") == (op->ok ? 7 : 10)
          && tk_get_uint (job, "ErrorCode") == (op->ok ? 0 : 32768)
        : rc == 0;
    if (!good) {
        stats.wrong++;
        s_problem ("%s on %s answered rc %" PRId64 " JobState %" PRId64
                " (expected %s)\n", s_opname [op->kind], sys->id, rc,
                tk_get_uint (job, "JobState"), op->ok ? "success" : "failure");
    }
    return good;
}

//  A final answer: the model moves on. Returns false for answers that
//  leave the outcome unknown (32771, 32772, 32774, 32777) or are errors.
static bool
s_settle (system_t *sys, tk_reply_t *reply)
{
    int64_t rc = tk_rc (reply);
    const msgpack_object *job = tk_get (reply->map, "job");
    if (rc == 32771 || rc == 32772 || rc == 32774 || rc == 32777)
        return false;
    if (power_off && rc != 0 && rc != 4096) {
        stats.failed_by_cut++;  //  the disk failed under it: not applied,
        return false;           //  and audited as in flight
    }
    if (rc != 0 && rc != 4096 && !(rc == 32768 && sys->op.kind == OP_DEFINE)) {
        stats.errors++;
        s_problem ("%s on %s: rc %" PRId64 " %s\n", s_opname [sys->op.kind],
                sys->id, rc, tk_get_str (reply->map, "error"));
        return false;
    }
    stats.acked++;
    if (rc == 4096)
        s_record_job (sys, job);
    if (s_expected (sys, rc, job))
        sys->model = sys->after;
    else
    if (rc == 4096 && tk_get_uint (job, "JobState") == 7)
        sys->model = sys->after;    //  (wrong, but it happened)
    return true;
}

static void
s_on_reply (tk_reply_t *reply)
{
    int64_t rid = tk_get_uint (reply->map, "rid");
    if (rid < 0 || (uint64_t) rid >= nrids)
        return;
    system_t *sys = &systems [rid_sys [rid]];
    if (sys->phase != S_BUSY || sys->rid != (uint64_t) rid)
        return;                     //  an answer to an attempt given up
    outstanding [sys->client]--;
    sys->phase = s_settle (sys, reply) ? S_IDLE : S_UNKNOWN;
}

//  --- the load ----------------------------------------------------------

static void
s_fill (void)
{
    for (int c = 0; c < CLIENTS; c++)
        for (int tries = 0; outstanding [c] < WINDOW && tries < SYSTEMS; tries++) {
            system_t *sys = &systems [s_rand (SYSTEMS)];
            if (sys->phase != S_IDLE)
                continue;
            s_choose (sys);
            sys->phase = S_BUSY;
            sys->client = c;
            sys->rid = s_new_rid ((int) (sys - systems));
            s_send_op (socks [c], sys);
            outstanding [c]++;
        }
}

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
        if (reply && reply->map)
            s_on_reply (reply);
        tk_reply_destroy (&reply);
    }
    zpoller_destroy (&poller);
}

//  Keep the load going for `ms`; requests are in flight when it returns.
static void
s_load (int ms)
{
    int64_t until = zclock_mono () + ms;
    do {
        s_fill ();
        s_pump (2);
    } while (zclock_mono () < until);
    s_fill ();
}

//  Cut the power while the load goes on, so the cut finds the worker busy.
static bool
s_cut (char *report, size_t size)
{
    if (!tk_lossy_cut_start (&disk))
        return false;
    int64_t until = zclock_mono () + 10000;
    while (zclock_mono () < until) {
        s_fill ();
        s_pump (1);
        if (tk_lossy_cut_done (&disk, report, size))
            return true;
    }
    return false;
}

static bool
s_busy (void)
{
    for (int s = 0; s < SYSTEMS; s++)
        if (systems [s].phase == S_BUSY)
            return true;
    return false;
}

//  --- the power cut and the restart ---------------------------------------

//  Start the worker and wait until it serves; its time goes into the stats.
static void
s_start_worker (bool wait)
{
    int64_t start = zclock_mono ();
    pid_t pid = tk_worker_start (cluster, 0);
    if (!wait)
        return;
    bool up = tk_wait_alive (cluster, 1, 30000);
    int status;
    if (!up && waitpid (pid, &status, WNOHANG) == pid) {
        cluster->workers [0] = 0;
        s_require (false, "the worker did not start on what survived crash "
                   "point %d: %s %d", stats.points,
                   WIFEXITED (status) ? "exit status" : "killed by signal",
                   WIFEXITED (status) ? WEXITSTATUS (status) : WTERMSIG (status));
    }
    s_require (up, "the worker did not register after crash point %d",
               stats.points);
    int64_t ms = zclock_mono () - start;
    stats.recover_ms_max = ms > stats.recover_ms_max ? ms : stats.recover_ms_max;
}

static void
s_tally_cut (const char *report)
{
    const char *pending = strstr (report, "pending: ");
    size_t dropped = 0, kept = 0;
    sscanf (report, "cut: dropped %zu", &dropped);
    const char *torn = strstr (report, " bytes, ");
    if (torn)
        sscanf (torn, " bytes, %zu kept", &kept);
    stats.dropped += dropped;
    stats.torn += kept > 0;
    stats.cuts_names += pending && strchr (pending, '+');
    stats.cuts_data += dropped > 0;
}

//  A disk's flush time for the next mount: from an SSD's to a slow disk's,
//  so that cuts find syncs in progress.
static unsigned
s_latency (void)
{
    static const unsigned us [] = { 100, 500, 1000, 3000 };
    return us [s_rand (4)];
}

//  Cut, kill -9, collect what answers still come, mount again, restart.
static void
s_power_cycle (bool wait, const char *when)
{
    int status = 0;
    pid_t gone = waitpid (cluster->workers [0], &status, WNOHANG);
    s_require (gone == 0, "the worker died on its own before crash point %d (%s %d)",
               stats.points + 1,
               WIFEXITED (status) ? "exit status" : "killed by signal",
               WIFEXITED (status) ? WEXITSTATUS (status) : WTERMSIG (status));
    char report [1024] = "";
    power_off = true;
    s_require (s_cut (report, sizeof report), "lossyfs did not cut the power");
    tk_stop (cluster->workers [0], SIGKILL, 5000);
    cluster->workers [0] = 0;
    stats.points++;
    s_tally_cut (report);
    report [strcspn (report, "\n")] = 0;
    int64_t until = zclock_mono () + DRAIN_MS;
    while (s_busy () && zclock_mono () < until)
        s_pump (20);
    for (int s = 0; s < SYSTEMS; s++)
        if (systems [s].phase == S_BUSY) {
            systems [s].phase = S_UNKNOWN;
            outstanding [systems [s].client]--;
        }
    ck_assert (tk_wait_alive (cluster, 0, 15000));
    tk_lossy_unmount (&disk);
    disk.latency_us = s_latency ();
    bool tear = s_env_flag ("KVP_CRASH_TEAR", true) && s_rand (2);
    s_require (tk_lossy_mount (&disk, tear, seed + (unsigned) stats.points),
               "lossyfs did not mount again");
    int64_t start = zclock_mono ();
    power_off = false;
    s_start_worker (wait);
    printf ("crash %3d: %-22s %s; worker back in %" PRId64 " ms\n", stats.points,
            when, report + (strncmp (report, "cut: ", 5) ? 0 : 5),
            wait ? zclock_mono () - start : (int64_t) -1);
}

//  --- the audit through the wire ------------------------------------------

static tk_reply_t *
s_call (tk_body_t *body, uint64_t rid)
{
    tk_send (audit, body);
    tk_body_end (body);
    int64_t until = zclock_mono () + REPLY_MS;
    while (zclock_mono () < until) {
        tk_reply_t *reply = tk_recv (audit, (int) (until - zclock_mono ()));
        if (!reply || tk_get_uint (reply->map, "rid") == (int64_t) rid)
            return reply;
        tk_reply_destroy (&reply);
    }
    return NULL;
}

//  The system's items as the worker serves them; false without an answer.
static bool
s_observe (system_t *sys, sstate_t *seen)
{
    uint64_t rid = s_new_rid ((int) (sys - systems));
    tk_body_t body;
    tk_body_begin (&body, "GetKvpItems", 2);
    tk_pack_kv_uint (&body.pk, "rid", rid);
    tk_pack_kv_str (&body.pk, "target", sys->id);
    tk_reply_t *reply = s_call (&body, rid);
    int64_t rc = tk_rc (reply);
    memset (seen, 0, sizeof *seen);
    seen->defined = rc == 0;
    const msgpack_object *items = reply ? tk_get (reply->map, "items") : NULL;
    for (uint32_t i = 0; rc == 0 && items && i < items->via.array.size
                         && seen->count < ITEMS_CAP; i++) {
        const msgpack_object *it = &items->via.array.ptr [i];
        item_t *item = &seen->at [seen->count++];
        item->source = (unsigned) tk_get_uint (it, "Source");
        snprintf (item->name, sizeof item->name, "%s", tk_get_str (it, "Name"));
        snprintf (item->data, sizeof item->data, "%s", tk_get_str (it, "Data"));
    }
    tk_reply_destroy (&reply);
    if (rc != 0 && rc != 32773) {
        stats.errors++;
        s_problem ("GetKvpItems %s: rc %" PRId64 "\n", sys->id, rc);
    }
    return rc == 0 || rc == 32773;
}

//  Retry the request of unknown outcome with its key: it must now answer
//  (with the earlier job if that was applied) and leave `after`.
static void
s_retry (system_t *sys)
{
    sys->rid = s_new_rid ((int) (sys - systems));
    tk_body_t body;
    op_t *op = &sys->op;
    //  s_send_op packs from sys; send it on the audit socket
    tk_body_begin (&body, s_opname [op->kind], 4);
    tk_pack_kv_uint (&body.pk, "rid", sys->rid);
    tk_pack_kv_str (&body.pk, "target", sys->id);
    tk_pack_kv_str (&body.pk, "key", op->key);
    tk_pack_str (&body.pk, "items");
    msgpack_pack_array (&body.pk, (uint32_t) op->nitems);
    for (int k = 0; k < op->nitems; k++)
        tk_pack_item (&body.pk, op->items [k].source, op->items [k].name,
                      op->items [k].data);
    stats.sent++;
    tk_reply_t *reply = s_call (&body, sys->rid);
    sys->phase = reply && s_settle (sys, reply) ? S_IDLE : S_UNKNOWN;
    tk_reply_destroy (&reply);
}

//  A system whose state is wrong; half-applied ones are always shown.
static void
s_show (const char *what, const system_t *sys, const sstate_t *seen)
{
    char line [256];
    snprintf (line, sizeof line, "%s on %s (%s, %s): model %d items, after %d, "
              "served %d%s", what, sys->id, s_opname [sys->op.kind],
              sys->phase == S_UNKNOWN ? "in flight" : "settled",
              sys->model.count, sys->after.count, seen->count,
              seen->defined ? "" : " (no such system)");
    if (strcmp (what, "LOST") == 0)
        s_problem ("%s\n", line);
    else
        printf ("crash: %s\n", line);
}

//  Is `item` (one of the request's) in `seen` as `st` has it (present
//  with the same data, or absent)?
static bool
s_item_as (const sstate_t *seen, const sstate_t *st, const item_t *item)
{
    int a = s_find (seen, item->source, item->name);
    int b = s_find (st, item->source, item->name);
    return a < 0 ? b < 0 : b >= 0 && strcmp (seen->at [a].data, st->at [b].data) == 0;
}

//  Half-applied: the rest as before the request, and of its items some as
//  before it and some as after it.
static bool
s_partly (const system_t *sys, const sstate_t *seen)
{
    if (sys->op.kind > OP_REMOVE || !s_agree (seen, &sys->model, &sys->op))
        return false;
    int old = 0, new = 0;
    for (int k = 0; k < sys->op.nitems; k++) {
        bool b = s_item_as (seen, &sys->model, &sys->op.items [k]);
        bool a = s_item_as (seen, &sys->after, &sys->op.items [k]);
        if (!a && !b)
            return false;       //  neither: lost, not half-applied
        old += b && !a;
        new += a && !b;
    }
    return old > 0 && new > 0;
}

static const char *
s_data_in (const sstate_t *st, const item_t *item)
{
    int i = s_find (st, item->source, item->name);
    return i < 0 ? "(absent)" : st->at [i].data;
}

//  The request's items before it, after it and as served (always shown).
static void
s_show_items (const system_t *sys, const sstate_t *seen)
{
    for (int k = 0; k < sys->op.nitems; k++) {
        const item_t *item = &sys->op.items [k];
        printf ("crash:   item %u/%s: before %s, after %s, served %s\n",
                item->source, item->name, s_data_in (&sys->model, item),
                s_data_in (&sys->after, item), s_data_in (seen, item));
    }
}

//  One system: the state served must be the model, or (request in flight
//  at the cut) the model with that request wholly applied.
static void
s_audit_system (system_t *sys)
{
    sstate_t seen;
    if (!s_observe (sys, &seen))
        return;
    bool before = s_agree (&seen, &sys->model, NULL);
    bool after = sys->phase == S_UNKNOWN && s_agree (&seen, &sys->after, NULL);
    if (!before && !after) {
        bool half = sys->phase == S_UNKNOWN && s_partly (sys, &seen);
        if (half)
            stats.half++;
        else
            stats.lost_items++;
        s_show (half ? "HALF-APPLIED" : "LOST", sys, &seen);
        if (half)
            s_show_items (sys, &seen);
        sys->model = seen;          //  go on from what is there
        sys->phase = S_IDLE;
        return;
    }
    if (sys->phase != S_UNKNOWN)
        return;
    if (after && !before)
        stats.applied++;
    else
    if (before && !after)
        stats.not_applied++;
    if (sys->op.kind <= OP_REMOVE)
        s_retry (sys);
    else {
        sys->model = seen;
        sys->phase = S_IDLE;
    }
}

//  GetJob's rids: the job's index above S_JOB_RID, apart from the others
#define S_JOB_RID   ((int64_t) 1 << 40)

static void
s_get_job_send (size_t j)
{
    tk_body_t body;
    tk_body_begin (&body, "GetJob", 2);
    tk_pack_kv_uint (&body.pk, "rid", (uint64_t) S_JOB_RID + j);
    tk_pack_kv_str (&body.pk, "job", jobs [j].id);
    tk_send (audit, &body);
    tk_body_end (&body);
}

//  GetJob must give the map the job was acknowledged with.
static void
s_get_job_check (tk_reply_t *reply)
{
    int64_t j = tk_get_uint (reply->map, "rid") - S_JOB_RID;
    if (j < 0 || (size_t) j >= njobs)
        return;
    job_t *rec = &jobs [j];
    const msgpack_object *job = tk_get (reply->map, "job");
    stats.getjob_checks++;
    bool same = tk_rc (reply) == 0 && job
        && strcmp (tk_get_str (job, "InstanceID"), rec->id) == 0
        && strcmp (tk_get_str (job, "JobType"), rec->type) == 0
        && strcmp (tk_get_str (job, "TargetSystem"), systems [rec->sys].id) == 0
        && tk_get_uint (job, "JobState") == rec->state
        && tk_get_uint (job, "ErrorCode") == rec->error
        && tk_get_uint (job, "TimeSubmitted") == rec->submitted
        && tk_get_uint (job, "ElapsedTime") == rec->elapsed;
    if (!same && !rec->gone) {
        rec->gone = true;
        stats.lost_jobs++;
        s_problem ("LOST job %s (GetJob rc %" PRId64 ", JobState %" PRId64
                ")\n", rec->id, tk_rc (reply), tk_get_uint (job, "JobState"));
    }
}

//  GetJob for the jobs since the last check and a sample of older ones.
static void
s_audit_jobs (void)
{
    size_t *list = malloc ((njobs - jobs_checked + OLD_SAMPLE + 1) * sizeof *list);
    size_t count = 0;
    for (int k = 0; jobs_checked > 0 && k < OLD_SAMPLE; k++)
        list [count++] = s_rand ((uint32_t) jobs_checked);
    for (size_t j = jobs_checked; j < njobs; j++)
        list [count++] = j;
    jobs_checked = njobs;
    size_t next = 0, inflight = 0;
    while (next < count || inflight) {
        while (inflight < AUDIT_WINDOW && next < count) {
            s_get_job_send (list [next++]);
            inflight++;
        }
        tk_reply_t *reply = tk_recv (audit, REPLY_MS);
        ck_assert_msg (reply, "GetJob: no answer");
        if (reply->map && tk_get_uint (reply->map, "rid") >= S_JOB_RID) {
            s_get_job_check (reply);
            inflight--;
        }
        tk_reply_destroy (&reply);
    }
    free (list);
}

//  --- the audit of the store itself -------------------------------------

static int
s_log_entry (void *arg, uint32_t part, uint64_t seq, const void *event,
             size_t len)
{
    uint64_t *expect = arg;
    if (seq != *expect) {
        stats.gaps++;
        s_problem ("partition %u: seq %" PRIu64 " after %" PRIu64 "\n",
                part, seq, *expect - 1);
    }
    *expect = seq + 1;
    msgpack_unpacked unp;
    msgpack_unpacked_init (&unp);
    size_t off = 0;
    if (msgpack_unpack_next (&unp, event, len, &off) == MSGPACK_UNPACK_SUCCESS) {
        uintptr_t at = (uintptr_t) zhashx_lookup (job_index,
                                                  tk_get_str (&unp.data, "InstanceID"));
        job_t *rec = at ? &jobs [at - 1] : NULL;
        const msgpack_object *items = tk_get (&unp.data, "items");
        size_t nitems = items && items->type == MSGPACK_OBJECT_ARRAY
                      ? items->via.array.size : 0;
        if (!rec)
            stats.unacked_in_log++;     //  in flight at a cut: allowed
        else
        if (tk_get_uint (&unp.data, "JobState") == rec->state
        &&  tk_get_uint (&unp.data, "ErrorCode") == rec->error
        &&  (rec->state != 7 || (int) nitems == rec->nitems))
            rec->seen = true;
        stats.log_checks += rec != NULL;
    }
    msgpack_unpacked_destroy (&unp);
    return 0;
}

static void
s_read_store (void)
{
    int rc;
    kvp_store_t *store = kvp_store_new (disk.mnt, NULL, &rc);
    s_require (store, "the store does not open: %s", kvp_store_strerror (rc));
    uint32_t *parts;
    size_t nparts;
    ck_assert_int_eq (kvp_store_partitions (store, &parts, &nparts), 0);
    ck_assert_int_eq (kvp_store_begin (store), 0);
    for (size_t p = 0; p < nparts; p++) {
        uint64_t expect = 1;
        kvp_store_log_each (store, parts [p], 1, s_log_entry, &expect);
    }
    kvp_store_abort (store);
    free (parts);
    kvp_store_destroy (&store);
}

//  Stop the worker (it must exit 0), read its store, start it again.
static void
s_audit_store (void)
{
    int status = tk_stop (cluster->workers [0], SIGTERM, 30000);
    cluster->workers [0] = 0;
    if (!WIFEXITED (status) || WEXITSTATUS (status) != 0) {
        stats.errors++;
        s_problem ("the worker stopped with status %d\n", status);
    }
    ck_assert (tk_wait_alive (cluster, 0, 15000));
    s_read_store ();
    for (size_t j = 0; j < njobs; j++) {
        if (!jobs [j].seen && !jobs [j].gone) {
            jobs [j].gone = true;
            stats.lost_jobs++;
            s_problem ("LOST job %s: not in the store's log as "
                    "acknowledged\n", jobs [j].id);
        }
        jobs [j].seen = false;
    }
    stats.store_audits++;
    s_start_worker (true);
}

static void
s_audit (bool store)
{
    for (int s = 0; s < SYSTEMS; s++)
        s_audit_system (&systems [s]);
    s_audit_jobs ();
    if (store)
        s_audit_store ();
}

//  --- the run -----------------------------------------------------------

//  How long to load before the next cut: often short, sometimes long.
static int
s_delay (void)
{
    uint32_t r = s_rand (10);
    return r < 3 ? (int) s_rand (80) : r < 7 ? 80 + (int) s_rand (420)
                                             : 500 + (int) s_rand (1000);
}

static void
s_setup_cluster (void)
{
    cluster = tk_cluster_new (1);
    const char *extra = getenv ("KVP_CRASH_WORKER_ARGS");
    //  Small segments and frequent checkpoints, so that the cuts also land
    //  in segment switches and checkpoints
    snprintf (worker_args, sizeof worker_args, "--heartbeat 100 --liveness 3 "
              "--wal-segment-size 64K --checkpoint-ms 20 --checkpoint-ops 200 "
              "%s", extra ? extra : "");
    cluster->broker_args = "--heartbeat 100 --liveness 3 --deadline 2000";
    cluster->worker_args = worker_args;
    ck_assert (tk_lossy_init (&disk, cluster->dir, "w0"));
    disk.extra = s_env_flag ("KVP_CRASH_VERBOSE", false) ? "--verbose" : NULL;
    disk.latency_us = 1000;
    ck_assert (tk_lossy_mount (&disk, false, seed));
    ck_assert_msg (tk_cluster_start (cluster), "the cluster did not come up");
    audit = tk_dealer (cluster->clients);
    for (int s = 0; s < SYSTEMS; s++) {
        ck_assert_int_eq (tk_define (audit, "crash", systems [s].id), 0);
        systems [s].model.defined = true;
    }
    if (s_env_flag ("KVP_CRASH_SETUP_SYNC", false))
        ck_assert (tk_lossy_sync_tree (disk.mnt));
    for (int c = 0; c < CLIENTS; c++)
        socks [c] = tk_dealer (cluster->clients);
    job_index = zhashx_new ();
}

static void
s_teardown_cluster (void)
{
    for (int c = 0; c < CLIENTS; c++)
        zsock_destroy (&socks [c]);
    zsock_destroy (&audit);
    tk_stop (cluster->workers [0], SIGTERM, 30000);
    cluster->workers [0] = 0;
    tk_stop (cluster->broker, SIGTERM, 15000);
    cluster->broker = 0;
    tk_lossy_unmount (&disk);
    tk_cluster_destroy (&cluster);
    zhashx_destroy (&job_index);
    free (jobs);
    free (rid_sys);
}

static void
s_summary (void)
{
    printf ("crash: %d crash points (%d while the worker was starting), "
            "%d store audits, %" PRId64 " s, seed %u, worker args \"%s\"\n",
            stats.points, stats.in_recovery, stats.store_audits,
            (zclock_mono () - run_start) / 1000, seed0, worker_args);
    printf ("crash: cuts that dropped data %" PRIu64 " (%" PRIu64 " bytes), "
            "with names not yet durable %" PRIu64 ", torn writes %" PRIu64
            "; worst restart %" PRId64 " ms\n", stats.cuts_data, stats.dropped,
            stats.cuts_names, stats.torn, stats.recover_ms_max);
    printf ("crash: requests sent %" PRIu64 ", acknowledged %" PRIu64
            " (%zu jobs); in flight at a cut: applied %" PRIu64 ", not %" PRIu64
            ", refused by the failing disk %" PRIu64 "; unacknowledged jobs in "
            "the log %" PRIu64 "\n", stats.sent, stats.acked, njobs,
            stats.applied, stats.not_applied, stats.failed_by_cut,
            stats.unacked_in_log);
    printf ("crash: acknowledged jobs checked: %" PRIu64 " by GetJob, %" PRIu64
            " in the store's log; lost: %" PRIu64 " jobs, the items of %" PRIu64
            " systems; half-applied %" PRIu64 ", seq gaps %" PRIu64
            ", job ids twice %" PRIu64 ", wrong outcomes %" PRIu64
            ", other errors %" PRIu64 "\n", stats.getjob_checks,
            stats.log_checks, stats.lost_jobs, stats.lost_items, stats.half,
            stats.gaps, stats.twice, stats.wrong, stats.errors);
    fflush (stdout);
}

START_TEST (test_crash)
{
    const char *env = getenv ("KVP_CRASH_POINTS");
    int points = env && *env ? atoi (env) : 15;
    env = getenv ("KVP_CRASH_STORE_EVERY");
    int store_every = env && *env && atoi (env) > 0 ? atoi (env) : 3;
    env = getenv ("KVP_CRASH_SEED");
    seed = env && *env ? (unsigned) atoi (env) : (unsigned) (time (NULL) ^ getpid ());
    seed0 = seed;
    printf ("crash: %d crash points, seed %u\n", points, seed);
    fflush (stdout);
    run_start = zclock_mono ();
    s_setup_cluster ();
    while (stats.points < points) {
        int ms = s_delay ();
        s_load (ms);
        char when [32];
        snprintf (when, sizeof when, "after %d ms of load:", ms);
        bool recovering = stats.points + 1 < points && s_rand (6) == 0;
        s_power_cycle (!recovering, when);
        if (recovering) {
            int ms = (int) s_rand (300);
            zclock_sleep (ms);
            snprintf (when, sizeof when, "%d ms into a restart:", ms);
            s_power_cycle (true, when);
            stats.in_recovery++;
        }
        s_audit (stats.points >= points || stats.points / store_every
                 != (stats.points - 1 - recovering) / store_every);
        fflush (stdout);
    }
    s_summary ();
    s_teardown_cluster ();
    ck_assert_uint_gt (njobs, 0);
    ck_assert_uint_eq (stats.lost_jobs, 0);
    ck_assert_uint_eq (stats.lost_items, 0);
    ck_assert_uint_eq (stats.half, 0);
    ck_assert_uint_eq (stats.gaps, 0);
    ck_assert_uint_eq (stats.twice, 0);
    ck_assert_uint_eq (stats.wrong, 0);
    ck_assert_uint_eq (stats.errors, 0);
}
END_TEST

int
main (void)
{
    Suite *suite = suite_create ("crash");
    TCase *tc = tcase_create ("power loss");
    const char *env = getenv ("KVP_CRASH_POINTS");
    tcase_set_timeout (tc, (env && *env ? atoi (env) : 15) * 20 + 120);
    tcase_add_test (tc, test_crash);
    suite_add_tcase (suite, tc);
    return tk_run_suite (suite);
}
