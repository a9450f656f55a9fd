/*  kvpbench_load.c - the load: C DEALER connections polled in one thread,
    each keeping up to P requests in flight; the events are counted by the
    gap-free subscriber in a thread of its own (kvpbench_events.c).

    Every phase (define, preload, run) is the same loop: send what is due,
    poll every socket until the next thing to do (a scheduled send, the
    next second, the drain deadline), take in replies and events. In the
    closed loop a connection sends whenever it has fewer than P requests
    in flight; in the open loop (--rate) requests are due on a fixed
    schedule and each keeps its *intended* send time, so time spent
    waiting for a free connection counts as latency (no coordinated
    omission). Nothing here stores per-sample data.
*/

#include <inttypes.h>
#include <math.h>
#include <sys/random.h>
#include "kvpbench.h"
#include "kvp_guid.h"
#include "kvp_rc.h"
#include "kvp_reply.h"

#define DRAIN_MS        20000   /* longest wait for replies after sending */
#define INTERRUPT_DRAIN_MS 1000 /* the same after Ctrl-C */
#define EVENT_STALL_MS  5000    /* events still due, none arriving: give up */
#define SECOND          INT64_C (1000000)

typedef enum { REQ_DEFINE, REQ_ADD, REQ_MODIFY } req_op_t;

/*  One request in flight. */
typedef struct {
    uint64_t rid;               /* 0 when the slot is free */
    int64_t sent_us;            /* intended send time */
    uint64_t names;             /* request number its item names come from */
    uint32_t vm;                /* target system index */
    uint8_t op;                 /* req_op_t */
    bool measured;              /* sent inside the measured window */
} slot_t;

typedef struct {
    kvp_client_t *client;
    uint64_t next_rid;          /* the rid the client's next begin assigns */
    int outstanding;            /* requests in flight */
    slot_t *slots;              /* indexed by rid & mask */
} conn_t;

/*  What a phase sends next: fills `slot` for a request intended at
    `when`, or returns false when the phase has nothing more to send. */
typedef bool (next_fn_t) (bench_load_t *self, int64_t when, slot_t *slot);
typedef void (tick_fn_t) (bench_load_t *self, int64_t now);

typedef struct {
    next_fn_t *next;            /* the request generator */
    tick_fn_t *tick;            /* once a second */
    bool open_loop;             /* follow the --rate schedule */
} phase_t;

struct _bench_load_t {
    const bench_opts_t *opts;   /* the command line */
    bench_stats_t *stats;       /* where results go */
    conn_t *conns;              /* opts->conns of them */
    size_t mask;                /* slots per connection - 1 */
    bench_events_t *events;     /* the subscriber; NULL with --no-events */
    zmq_pollitem_t *items;      /* the connections */
    int nitems;                 /* entries in items */
    char (*guids) [KVP_GUID_LEN + 1];   /* the systems, by index */
    uint64_t *last_add;         /* per system: 1 + names of its last
                                   completed add; 0 for none */
    char prefix [9];            /* random per run: names never collide */
    uint64_t counter;           /* requests made (names, data) */
    uint64_t rng;               /* xorshift64* state */
    int next_conn;              /* open loop: round robin */
    uint64_t setup_next;        /* define/preload: next system */
    uint64_t setup_done;        /* define/preload: replies */
    uint64_t define_failed;     /* DefineSystem errors */
    int64_t measure_start;      /* run: end of the warm-up */
    int64_t stop_at;            /* run: end of the measured window (-d) */
    int64_t run_start;          /* run: when the schedule starts */
    int64_t next_send;          /* open loop: next intended send time */
    uint64_t scheduled;         /* open loop: requests scheduled so far */
    int64_t last_reply;         /* time of the last measured reply */
    uint64_t measured_sent;     /* requests sent in the measured window */
    uint64_t stray;             /* replies whose rid matched nothing */
};

/* --- set-up ------------------------------------------------------------------ */

static uint64_t
s_splitmix (uint64_t *state)
{
    uint64_t z = (*state += UINT64_C (0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C (0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C (0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t
s_rand (bench_load_t *self)
{
    uint64_t x = self->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    self->rng = x;
    return x * UINT64_C (0x2545f4914f6cdd1d);
}

/*  System `index`'s GUID: a version-4 layout of 128 bits drawn from the
    seed, so the same --seed names the same systems (--reuse-vms). */
static void
s_make_guid (char *text, long seed, uint64_t index)
{
    uint64_t state = (uint64_t) seed * UINT64_C (0x100000001b3) + index;
    uint64_t hi = s_splitmix (&state), lo = s_splitmix (&state);
    hi = (hi & ~UINT64_C (0xf000)) | 0x4000;                /* version 4 */
    lo = (lo & ~(UINT64_C (3) << 62)) | (UINT64_C (2) << 62); /* variant */
    snprintf (text, KVP_GUID_LEN + 1, "%08" PRIx64 "-%04" PRIx64 "-%04" PRIx64
              "-%04" PRIx64 "-%012" PRIx64, hi >> 32, (hi >> 16) & 0xffff,
              hi & 0xffff, lo >> 48, lo & UINT64_C (0xffffffffffff));
}

static bool
s_connect (bench_load_t *self)
{
    const bench_opts_t *opts = self->opts;
    size_t slots = 1;
    //  Four times the pipeline, so one slow request rarely blocks a slot.
    while (slots < (size_t) opts->pipeline * 4)
        slots <<= 1;
    self->mask = slots - 1;
    for (int i = 0; i < opts->conns; i++) {
        conn_t *conn = &self->conns [i];
        conn->client = kvp_client_new_curve (opts->broker, opts->curve);
        conn->slots = (slot_t *) calloc (slots, sizeof (slot_t));
        conn->next_rid = 1;
        if (!conn->client || !conn->slots)
            return false;
        self->items [i] = (zmq_pollitem_t) {
            zsock_resolve (kvp_client_sock (conn->client)), 0, ZMQ_POLLIN, 0 };
    }
    self->nitems = opts->conns;
    //  Ready means it follows every partition from now: before any job.
    if (!opts->no_events)
        self->events = bench_events_new (opts, self->stats);
    return opts->no_events || self->events;
}

bench_load_t *
bench_load_new (const bench_opts_t *opts, bench_stats_t *stats)
{
    bench_load_t *self = (bench_load_t *) zmalloc (sizeof (bench_load_t));
    if (!self)
        return NULL;
    self->opts = opts;
    self->stats = stats;
    self->conns = (conn_t *) calloc ((size_t) opts->conns, sizeof (conn_t));
    self->items = (zmq_pollitem_t *) calloc ((size_t) opts->conns + 1,
                                             sizeof (zmq_pollitem_t));
    self->guids = calloc ((size_t) opts->vms, sizeof *self->guids);
    self->last_add = (uint64_t *) calloc ((size_t) opts->vms, sizeof (uint64_t));
    if (!self->conns || !self->items || !self->guids || !self->last_add
    ||  !s_connect (self)) {
        fprintf (stderr, "kvpbench: cannot set up %d connections to %s\n",
                 opts->conns, opts->broker);
        bench_load_destroy (&self);
        return NULL;
    }
    for (int i = 0; i < opts->vms; i++)
        s_make_guid (self->guids [i], opts->seed, (uint64_t) i);
    uint32_t random = 0;
    if (getrandom (&random, sizeof random, 0) != sizeof random)
        random = (uint32_t) bench_now_us () ^ (uint32_t) getpid ();
    snprintf (self->prefix, sizeof self->prefix, "%08x", random);
    uint64_t state = (uint64_t) opts->seed;
    self->rng = s_splitmix (&state) | 1;
    return self;
}

void
bench_load_destroy (bench_load_t **self_p)
{
    if (self_p && *self_p) {
        bench_load_t *self = *self_p;
        for (int i = 0; self->conns && i < self->opts->conns; i++) {
            kvp_client_destroy (&self->conns [i].client);
            free (self->conns [i].slots);
        }
        bench_events_destroy (&self->events);
        free (self->conns);
        free (self->items);
        free (self->guids);
        free (self->last_add);
        free (self);
        *self_p = NULL;
    }
}

/* --- requests -------------------------------------------------------------- */

static msgpack_packer *
s_begin (conn_t *conn, const char *op, size_t extra)
{
    conn->next_rid++;           //  mirrors the client's own rid counter
    return kvp_client_begin (conn->client, op, extra);
}

/*  K items: names from request number `names`, data fresh. */
static void
s_pack_items (bench_load_t *self, msgpack_packer *pk, uint64_t names)
{
    int count = self->opts->items;
    uint64_t fresh = self->counter++;
    msgpack_pack_array (pk, (size_t) count);
    for (int i = 0; i < count; i++) {
        char name [48], data [48];
        kvp_item_t item = { KVP_SOURCE_HOST, name, 0, data, 0 };
        item.name_len = (uint32_t) snprintf (name, sizeof name,
            "guest.k%04d-%s%" PRIx64, i, self->prefix, names);
        item.data_len = (uint32_t) snprintf (data, sizeof data,
            "v%016" PRIx64 "-%s-%04d", fresh, self->prefix, i);
        kvp_pack_item (pk, &item);
    }
}

static void
s_pack (bench_load_t *self, conn_t *conn, const slot_t *slot)
{
    const char *guid = self->guids [slot->vm];
    msgpack_packer *pk;
    if (slot->op == REQ_DEFINE) {
        char name [32];
        snprintf (name, sizeof name, "kvpbench-%u", slot->vm);
        pk = s_begin (conn, "DefineSystem", 2);
        kvp_pack_cstr (pk, "name");
        kvp_pack_cstr (pk, name);
        kvp_pack_cstr (pk, "id");
        kvp_pack_cstr (pk, guid);
        return;
    }
    const char *op = slot->op == REQ_ADD ? "AddKvpItems" : "ModifyKvpItems";
    pk = s_begin (conn, op, self->opts->key ? 3 : 2);
    kvp_pack_cstr (pk, "target");
    kvp_pack_cstr (pk, guid);
    kvp_pack_cstr (pk, "items");
    s_pack_items (self, pk, slot->names);
    if (self->opts->key) {
        char key [48];
        snprintf (key, sizeof key, "kb-%s-%" PRIx64, self->prefix,
                  self->counter);
        kvp_pack_cstr (pk, "key");
        kvp_pack_cstr (pk, key);
    }
}

static bool
s_has_room (bench_load_t *self, conn_t *conn)
{
    return conn->outstanding < self->opts->pipeline
        && conn->slots [conn->next_rid & self->mask].rid == 0;
}

static void
s_send (bench_load_t *self, conn_t *conn, slot_t *slot)
{
    s_pack (self, conn, slot);
    uint64_t rid;
    if (kvp_client_send (conn->client, &rid)) {
        bench_stats_error (self->stats, "SendFailed", slot->measured);
        return;
    }
    assert (rid == conn->next_rid - 1);
    slot->rid = rid;
    conn->slots [rid & self->mask] = *slot;
    conn->outstanding++;
}

/* --- replies and events ------------------------------------------------------ */

static void
s_on_define (bench_load_t *self, const kvp_reply_t *reply)
{
    int rc = kvp_reply_rc (reply);
    //  32768: the id exists already, from an earlier run with this seed.
    if (rc == KVP_RC_OK || rc == KVP_RC_FAILED)
        return;
    if (self->define_failed++ == 0)
        fprintf (stderr, "kvpbench: DefineSystem failed: %s (%d): %s\n",
                 rc < 0 ? "MalformedReply" : kvp_rc_name ((unsigned) rc), rc,
                 kvp_reply_error (reply));
}

static void
s_on_reply (bench_load_t *self, conn_t *conn, kvp_reply_t *reply,
            int64_t now)
{
    uint64_t rid = kvp_reply_rid (reply);
    slot_t *slot = &conn->slots [rid & self->mask];
    if (rid == 0 || slot->rid != rid) {
        self->stray++;
        return;
    }
    if (slot->op == REQ_DEFINE)
        s_on_define (self, reply);
    else
    if (bench_stats_reply (self->stats, reply, slot->measured, slot->sent_us,
                           now, self->opts->items)
    &&  slot->op == REQ_ADD)
        self->last_add [slot->vm] = slot->names + 1;
    if (slot->measured)
        self->last_reply = now;
    slot->rid = 0;
    conn->outstanding--;
    self->setup_done++;
}

static void
s_take_input (bench_load_t *self)
{
    int64_t now = bench_now_us ();
    for (int i = 0; i < self->opts->conns; i++) {
        if (!(self->items [i].revents & ZMQ_POLLIN))
            continue;
        kvp_reply_t *reply;
        while ((reply = kvp_client_recv (self->conns [i].client, 0))) {
            s_on_reply (self, &self->conns [i], reply, now);
            kvp_reply_destroy (&reply);
        }
    }
}

/*  Poll every socket for at most `timeout_us`, then take in what came. */
static void
s_poll (bench_load_t *self, int64_t timeout_us)
{
    long timeout_ms = timeout_us <= 0 ? 0 : (long) ((timeout_us + 999) / 1000);
    if (zmq_poll (self->items, self->nitems, timeout_ms) > 0)
        s_take_input (self);
}

/* --- the phase loop ----------------------------------------------------------- */

static int
s_outstanding (bench_load_t *self)
{
    int total = 0;
    for (int i = 0; i < self->opts->conns; i++)
        total += self->conns [i].outstanding;
    return total;
}

/*  Closed loop: fill every connection up to P. False when done sending. */
static bool
s_send_closed (bench_load_t *self, const phase_t *phase, int64_t now)
{
    for (int i = 0; i < self->opts->conns; i++) {
        conn_t *conn = &self->conns [i];
        while (s_has_room (self, conn)) {
            slot_t slot = { 0 };
            if (!phase->next (self, now, &slot))
                return false;
            s_send (self, conn, &slot);
        }
    }
    return true;
}

/*  A connection with room, round robin; NULL if all are full. */
static conn_t *
s_free_conn (bench_load_t *self)
{
    for (int k = 0; k < self->opts->conns; k++) {
        conn_t *conn = &self->conns [self->next_conn];
        self->next_conn = (self->next_conn + 1) % self->opts->conns;
        if (s_has_room (self, conn))
            return conn;
    }
    return NULL;
}

/*  Open loop: send everything whose intended time has come, while there
    is a free connection. False when done sending. */
static bool
s_send_open (bench_load_t *self, const phase_t *phase, int64_t now)
{
    conn_t *conn;
    while (self->next_send <= now && (conn = s_free_conn (self))) {
        slot_t slot = { 0 };
        if (!phase->next (self, self->next_send, &slot))
            return false;
        s_send (self, conn, &slot);
        //  From the count, not by adding an interval: no drift at any rate.
        self->next_send = self->run_start
            + (int64_t) llround (++self->scheduled * (double) SECOND
                                 / self->opts->rate);
    }
    return true;
}

/*  Fail what is still in flight after the drain deadline. */
static void
s_abandon (bench_load_t *self)
{
    for (int i = 0; i < self->opts->conns; i++) {
        conn_t *conn = &self->conns [i];
        for (size_t s = 0; s <= self->mask && conn->outstanding; s++) {
            if (conn->slots [s].rid == 0)
                continue;
            bench_stats_error (self->stats, "NoReply", conn->slots [s].measured);
            conn->slots [s].rid = 0;
            conn->outstanding--;
        }
    }
}

/*  When the loop must wake next. */
static int64_t
s_wake (bench_load_t *self, const phase_t *phase, bool sending,
        int64_t next_second, int64_t drain_deadline)
{
    int64_t wake = next_second;
    if (drain_deadline && drain_deadline < wake)
        wake = drain_deadline;
    //  In the open loop, wake for the next send only if it can go out.
    if (sending && phase->open_loop && self->next_send < wake
    &&  s_outstanding (self) < self->opts->conns * self->opts->pipeline)
        wake = self->next_send;
    return wake;
}

static void
s_phase (bench_load_t *self, const phase_t *phase, int64_t start)
{
    int64_t next_second = start + SECOND, drain_deadline = 0;
    bool sending = true;
    while (true) {
        int64_t now = bench_now_us ();
        if (sending && !zsys_interrupted)
            sending = phase->open_loop ? s_send_open (self, phase, now)
                                       : s_send_closed (self, phase, now);
        else
            sending = false;
        //  Replies still due get DRAIN_MS; after Ctrl-C, a short moment.
        if (!sending && !drain_deadline)
            drain_deadline = now + (zsys_interrupted ? INTERRUPT_DRAIN_MS
                                                     : DRAIN_MS) * INT64_C (1000);
        if (!sending && (s_outstanding (self) == 0 || now >= drain_deadline))
            break;
        if (now >= next_second) {
            phase->tick (self, now);
            next_second += SECOND;
        }
        s_poll (self, s_wake (self, phase, sending, next_second,
                              drain_deadline) - now);
    }
    s_abandon (self);
}

/* --- ping, define, preload ------------------------------------------------------ */

bool
bench_load_ping (bench_load_t *self, int timeout_ms)
{
    for (int i = 0; i < self->opts->conns; i++) {
        conn_t *conn = &self->conns [i];
        s_begin (conn, "Ping", 0);
        kvp_reply_t *reply = kvp_client_call (conn->client, timeout_ms);
        bool ok = reply != NULL;
        kvp_reply_destroy (&reply);
        if (!ok)
            return false;
    }
    return true;
}

/*  Define and preload: one request per system, in order. */
static bool
s_next_setup (bench_load_t *self, int64_t when, uint8_t op, slot_t *slot)
{
    if (self->setup_next >= (uint64_t) self->opts->vms)
        return false;
    slot->vm = (uint32_t) self->setup_next++;
    slot->op = op;
    slot->sent_us = when;
    slot->names = self->counter;
    return true;
}

static bool
s_next_define (bench_load_t *self, int64_t when, slot_t *slot)
{
    return s_next_setup (self, when, REQ_DEFINE, slot);
}

static bool
s_next_preload (bench_load_t *self, int64_t when, slot_t *slot)
{
    return s_next_setup (self, when, REQ_ADD, slot);
}

static void
s_tick_setup (bench_load_t *self, int64_t now)
{
    fprintf (stderr, "kvpbench: set-up %" PRIu64 "/%d systems\n",
             self->setup_done, self->opts->vms);
}

uint64_t
bench_load_define (bench_load_t *self)
{
    phase_t phase = { s_next_define, s_tick_setup, false };
    self->setup_next = self->setup_done = 0;
    s_phase (self, &phase, bench_now_us ());
    if (self->setup_done < (uint64_t) self->opts->vms)
        self->define_failed += (uint64_t) self->opts->vms - self->setup_done;
    return self->define_failed;
}

void
bench_load_preload (bench_load_t *self)
{
    phase_t phase = { s_next_preload, s_tick_setup, false };
    self->setup_next = self->setup_done = 0;
    s_phase (self, &phase, bench_now_us ());
}

/* --- the measured run ----------------------------------------------------------- */

static bool
s_next_run (bench_load_t *self, int64_t when, slot_t *slot)
{
    const bench_opts_t *opts = self->opts;
    if (opts->requests ? self->measured_sent >= (uint64_t) opts->requests
                       : when >= self->stop_at) {
        bench_stats_cpu_close (self->stats);
        return false;
    }
    slot->measured = when >= self->measure_start;
    if (slot->measured)
        bench_stats_cpu_open (self->stats);     //  once: the first one
    self->measured_sent += slot->measured;
    slot->sent_us = when;
    slot->vm = (uint32_t) (s_rand (self) % (uint64_t) opts->vms);
    bool modify = opts->mode == BENCH_MODIFY
               || (opts->mode == BENCH_MIXED && (s_rand (self) >> 63));
    uint64_t last = self->last_add [slot->vm];
    slot->op = modify && last ? REQ_MODIFY : REQ_ADD;
    slot->names = slot->op == REQ_MODIFY ? last - 1 : self->counter;
    return true;
}

static void
s_tick_run (bench_load_t *self, int64_t now)
{
    bench_stats_second (self->stats, now, now - SECOND >= self->measure_start);
}

/*  After the run: wait for the events still due while they keep coming
    (a slow subscriber may take long to catch up), at most EVENT_STALL_MS
    without one. */
static void
s_wait_events (bench_load_t *self)
{
    if (!self->events)
        return;
    bench_events_catch_up (self->events);
    uint64_t missing = bench_stats_events_missing (self->stats), was = missing;
    int64_t progress = bench_now_us ();
    while (missing > 0 && !zsys_interrupted
    &&     bench_now_us () - progress < EVENT_STALL_MS * INT64_C (1000)) {
        zclock_sleep (20);
        missing = bench_stats_events_missing (self->stats);
        if (missing < was)
            progress = bench_now_us ();
        was = missing;
    }
    bench_events_destroy (&self->events);  //  its counters go to the stats
}

void
bench_load_run (bench_load_t *self)
{
    const bench_opts_t *opts = self->opts;
    phase_t phase = { s_next_run, s_tick_run, opts->rate > 0 };
    int64_t start = bench_now_us ();
    self->measure_start = start + (int64_t) llround (opts->warmup * SECOND);
    self->stop_at = self->measure_start
                  + (int64_t) llround (opts->duration * SECOND);
    self->run_start = self->next_send = start;
    self->scheduled = 0;
    self->last_reply = self->measure_start;
    bench_stats_start (self->stats, self->measure_start);
    s_phase (self, &phase, start);
    bench_stats_second (self->stats, bench_now_us (), true);
    bench_stats_finish (self->stats, self->last_reply, self->measured_sent);
    s_wait_events (self);
    if (self->stray)
        fprintf (stderr, "kvpbench: %" PRIu64 " replies matched no request\n",
                 self->stray);
}
