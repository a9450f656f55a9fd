/*  kvpbench.h - the pieces of bin/kvpbench shared by its source files:
    kvpbench.c (options, the run's outline), kvpbench_load.c (connections
    and the request loop), kvpbench_events.c (the gap-free subscriber that
    counts events, in a thread of its own), kvpbench_stalled.c
    (--stalled-subscribers), kvpbench_replay.c (--replay:
    GetEvents throughput), kvpbench_stats.c (the clock, latencies, errors,
    events and the reports), kvpbench_cpu.c (CPU time of this and other
    processes over the measured window). Calls run one way: kvpbench.c ->
    load -> events -> stats -> cpu. Private to the program.
*/
#ifndef KVPBENCH_H_INCLUDED
#define KVPBENCH_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "kvp_client.h"
#include "kvp_feed.h"
#include "kvp_hist.h"

#define BENCH_OK        0       /* the run completed */
#define BENCH_NO_BROKER 1       /* Ping failed within 5 s */
#define BENCH_USAGE     2       /* bad command line */

typedef enum { BENCH_ADD, BENCH_MODIFY, BENCH_MIXED } bench_mode_t;

/*  The command line. */
typedef struct {
    const char *broker;         /* --broker EP */
    const char *events;         /* --events EP */
    int conns;                  /* -c: DEALER connections */
    int pipeline;               /* -p: requests in flight per connection */
    long requests;              /* -n: measured requests; 0 = by time */
    double duration;            /* -d: measured seconds */
    double rate;                /* --rate: req/s in all; 0 = closed loop */
    int items;                  /* --items: items per request */
    int vms;                    /* --vms: systems written to */
    bench_mode_t mode;          /* --op */
    const char *op_name;        /* --op as given */
    double warmup;              /* --warmup: seconds not measured */
    bool json;                  /* --json: report as one JSON object */
    const char *plot;           /* --plot FILE.svg */
    const char *csv;            /* --csv FILE */
    bool no_events;             /* --no-events: no subscriber */
    bool key;                   /* --key: idempotency key per request */
    bool reuse_vms;             /* --reuse-vms: skip DefineSystem */
    long seed;                  /* --seed: system GUIDs and target choice */
    const char *latency_log;    /* --latency-log FILE: a line per reply */
    const char *cpu_pids;       /* --cpu-pids NAME=PID,...: also measured */
    double slow_subscriber;     /* --slow-subscriber MS: sleep per event */
    int sub_hwm;                /* --sub-hwm N: the subscriber's queue */
    int stalled;                /* --stalled-subscribers N: never read */
    bool replay;                /* --replay: read the logs back, no load */
    int replay_limit;           /* --replay-limit N: GetEvents page */
    const char *curve_secret;   /* --curve-secret FILE (or the environment) */
    const char *broker_public;  /* --broker-public FILE (or the environment) */
    kvp_curve_t *curve;         /* the keys those name, or NULL: plain */
} bench_opts_t;

/* --- CPU time (kvpbench_cpu.c) -------------------------------------------- */

typedef struct _bench_cpu_t bench_cpu_t;

/*  Watch this process (as "kvpbench") and the ones named in `list`,
    "NAME=PID[,NAME=PID...]" (NULL or "" for none; at most 15, names up to
    15 characters). Returns NULL on a malformed list (message on stderr)
    or when out of memory. */
bench_cpu_t *
    bench_cpu_new (const char *list);
void
    bench_cpu_destroy (bench_cpu_t **self_p);

/*  Read every watched process's CPU time (user + system, all threads,
    from /proc/PID/stat) as the window's start (`end` false) or its end.
    An end before any start, or a second end, is ignored. */
void
    bench_cpu_sample (bench_cpu_t *self, bool end);

/*  Report the window: its length and, per process, CPU seconds, cores
    and microseconds per reply for `replies` replies received in it.
    `json`: as one member of a JSON object, `"cpu":{...}` (no comma
    before or after it); otherwise as text lines. */
void
    bench_cpu_report (const bench_cpu_t *self, uint64_t replies, bool json,
                      FILE *out);

/* --- statistics (kvpbench_stats.c) ---------------------------------------- */

typedef struct _bench_stats_t bench_stats_t;

/*  Monotonic clock in microseconds: the time base of every *_us value
    (here, so the load and the statistics share it without a cycle). */
int64_t
    bench_now_us (void);

/*  Create the statistics of a run; NULL when out of memory (the caller's
    `cpu` is destroyed then too). `events` says whether events are matched
    to replies; `cpu_p`, the CPU sampler of the measured window, is taken
    over (the caller's pointer is nulled). */
bench_stats_t *
    bench_stats_new (bool events, bench_cpu_t **cpu_p);
void
    bench_stats_destroy (bench_stats_t **self_p);

/*  The measured window starts at `start_us` (monotonic microseconds). */
void
    bench_stats_start (bench_stats_t *self, int64_t start_us);

/*  Keep one (send time, latency) pair per measured reply, at most
    BENCH_LATENCY_LOG_MAX, for bench_stats_latency_log. Returns 0, or -1
    when out of memory. Call before the run. */
#define BENCH_LATENCY_LOG_MAX 20000000
int
    bench_stats_keep_latencies (bench_stats_t *self);

/*  Open and close the CPU window: the load opens it as it sends the
    first measured request and closes it when it has sent the last one;
    only the first open and the first close after it count, and
    bench_stats_finish closes a window still open. The replies counted
    against the window are all those received inside it, measured or
    not, so that CPU time and replies cover the same interval. */
void
    bench_stats_cpu_open (bench_stats_t *self);
void
    bench_stats_cpu_close (bench_stats_t *self);

/*  Record the reply to an item op. `measured`: its intended send time is
    inside the measured window; `latency_us` from that intended time;
    `items` the number the request carried. Reads rc/job from the reply
    and matches its event. Returns true if the job completed. */
bool
    bench_stats_reply (bench_stats_t *self, const kvp_reply_t *reply,
                       bool measured, int64_t sent_us, int64_t now_us,
                       int items);

/*  Count an error by name ("NoReply", an rc name, ...). */
void
    bench_stats_error (bench_stats_t *self, const char *name, bool measured);

/*  Record one event received at `now_us`. */
void
    bench_stats_event (bench_stats_t *self, const msgpack_object *event,
                       int64_t now_us);

/*  Close the second that ends at `now_us`: print the progress line to
    stderr and, inside the measured window, keep a per-second row. A
    shorter last "second" is closed only if it saw replies or errors. */
void
    bench_stats_second (bench_stats_t *self, int64_t now_us, bool measured);

/*  Events still expected: jobs replied whose event has not come. Like
    bench_stats_event, callable from the subscriber's thread. */
uint64_t
    bench_stats_events_missing (bench_stats_t *self);

/*  The subscriber's counters (repeats, gaps filled, lost, ...), for the
    report; from the subscriber's thread. */
void
    bench_stats_feed (bench_stats_t *self, const kvp_feed_stats_t *feed);

/* --- events (kvpbench_events.c) ------------------------------------------- */

typedef struct _bench_events_t bench_events_t;

/*  Start the subscriber thread: a gap-free feed of every partition from
    now, each event recorded with bench_stats_event (after sleeping
    --slow-subscriber ms). Returns once every partition's "now" is known,
    or NULL (message on stderr) if that takes over 10 s. */
bench_events_t *
    bench_events_new (const bench_opts_t *opts, bench_stats_t *stats);

/*  Stop the thread (its counters go to the stats first); null the
    pointer; safe on NULL. */
void
    bench_events_destroy (bench_events_t **self_p);

/*  Ask every partition now for the events still due (after the load). */
void
    bench_events_catch_up (bench_events_t *self);

/* --- stalled subscribers (kvpbench_stalled.c) ------------------------------ */

typedef struct _bench_stalled_t bench_stalled_t;

/*  `count` subscribers of every job on `events` that never read, in a
    child process (ended by bench_stalled_destroy, or with this one).
    NULL (message on stderr) when they cannot all be made. */
bench_stalled_t *
    bench_stalled_new (const char *events, int count);
void
    bench_stalled_destroy (bench_stalled_t **self_p);

/* --- replay (kvpbench_replay.c) ------------------------------------------- */

/*  --replay: read every partition's kept events back with GetEvents
    (pages of --replay-limit, one request in flight per partition),
    check they come in seq order without gaps, and report events/s and
    MB/s on `out` (text, or JSON with --json). Returns the exit status. */
int
    bench_replay_run (const bench_opts_t *opts, FILE *out);

/*  The measured window ends at `end_us`; `requests` were sent in it. */
void
    bench_stats_finish (bench_stats_t *self, int64_t end_us,
                        uint64_t requests);

/*  Reports: the final summary (text or one JSON object) on `out`, the
    per-second rows as CSV into `path`, an SVG plot through gnuplot. The
    file ones return 0 or -1 (after a message on stderr). */
void
    bench_stats_report (bench_stats_t *self, const bench_opts_t *opts,
                        FILE *out);
int
    bench_stats_csv (bench_stats_t *self, const char *path);
int
    bench_stats_plot (bench_stats_t *self, const char *path);

/*  Write the kept latencies to `path`, one line per measured reply in the
    order received: "<send time> <latency>", the send time in
    microseconds since the epoch (CLOCK_REALTIME), the latency in
    microseconds. Returns 0 or -1 (after a message on stderr); says on
    stderr how many replies did not fit under the cap. */
int
    bench_stats_latency_log (bench_stats_t *self, const char *path);

/* --- load (kvpbench_load.c) ----------------------------------------------- */

typedef struct _bench_load_t bench_load_t;

/*  Connect opts->conns clients (and the subscriber unless --no-events).
    NULL on failure (message on stderr). */
bench_load_t *
    bench_load_new (const bench_opts_t *opts, bench_stats_t *stats);
void
    bench_load_destroy (bench_load_t **self_p);

/*  Ping the broker on every connection; false if any gets no reply
    within `timeout_ms`. */
bool
    bench_load_ping (bench_load_t *self, int timeout_ms);

/*  Define the systems (pipelined DefineSystem with their fixed GUIDs;
    an existing one is fine). Returns how many failed. */
uint64_t
    bench_load_define (bench_load_t *self);

/*  --op modify: one AddKvpItems per system, so every system has names to
    modify. Not measured. */
void
    bench_load_preload (bench_load_t *self);

/*  The measured run: warm-up, then -n requests or -d seconds, then the
    replies and events still due. */
void
    bench_load_run (bench_load_t *self);

#endif
