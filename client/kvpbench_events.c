/*  kvpbench_events.c - the subscriber of a kvpbench run: a gap-free feed
    (kvp_feed) of every partition from now, in a thread of its own, so
    that a slow subscriber (--slow-subscriber) falls behind the load
    without slowing it: its queue overflows, the feed reads the gaps back
    with GetEvents, and the counts show it caught up.

    The thread records each event with bench_stats_event (which matches
    it to its job) and keeps the feed's counters in the stats. It speaks
    to its creator over the actor pipe: "READY" or "FAILED" once at
    start, then it takes "CATCHUP" and "$TERM".
*/

#include <time.h>
#include "kvpbench.h"

#define READY_WAIT_MS   10000   /* for every partition's "now" */
#define STATS_EVERY_MS  200     /* counters into the stats */

struct _bench_events_t {
    zactor_t *actor;
};

typedef struct {
    const bench_opts_t *opts;
    bench_stats_t *stats;
} s_args_t;

//  --slow-subscriber: sleep this long (ms, fractions allowed).
static void
s_sleep_ms (double ms)
{
    if (ms <= 0)
        return;
    time_t seconds = (time_t) (ms / 1000);
    struct timespec ts = { seconds, (long) ((ms - 1000.0 * seconds) * 1e6) };
    nanosleep (&ts, NULL);
}

//  Wait (bounded) until the feed follows every partition from now.
static bool
s_ready (kvp_feed_t *feed, s_args_t *args)
{
    int64_t until = zclock_mono () + READY_WAIT_MS;
    while (!kvp_feed_ready (feed) && zclock_mono () < until
    &&     !zsys_interrupted) {
        kvp_feed_msg_t msg;
        int rc = kvp_feed_recv (feed, 50, &msg);
        if (rc < 0)
            return false;
        if (rc > 0 && msg.kind == KVP_FEED_EVENT)   //  cannot be ours yet
            bench_stats_event (args->stats, msg.event, bench_now_us ());
    }
    return kvp_feed_ready (feed);
}

//  A command from the creator; false on $TERM.
static bool
s_command (zsock_t *pipe, kvp_feed_t *feed)
{
    char *command = zstr_recv (pipe);
    bool term = !command || streq (command, "$TERM");
    if (command && feed && streq (command, "CATCHUP"))
        kvp_feed_catch_up (feed);
    zstr_free (&command);
    return !term;
}

static void
s_push_stats (kvp_feed_t *feed, bench_stats_t *stats)
{
    kvp_feed_stats_t st;
    kvp_feed_stats (feed, &st);
    bench_stats_feed (stats, &st);
}

static void
s_loop (zsock_t *pipe, kvp_feed_t *feed, s_args_t *args)
{
    int64_t pushed = 0;
    while (!zsys_interrupted) {
        if ((zsock_events (pipe) & ZMQ_POLLIN) && !s_command (pipe, feed))
            break;
        kvp_feed_msg_t msg;
        int rc = kvp_feed_recv (feed, 20, &msg);
        if (rc < 0)
            break;
        if (rc > 0 && msg.kind == KVP_FEED_EVENT) {
            s_sleep_ms (args->opts->slow_subscriber);
            bench_stats_event (args->stats, msg.event, bench_now_us ());
        }
        if (zclock_mono () - pushed >= STATS_EVERY_MS) {
            s_push_stats (feed, args->stats);
            pushed = zclock_mono ();
        }
    }
    s_push_stats (feed, args->stats);
}

static void
s_actor (zsock_t *pipe, void *argp)
{
    s_args_t args = *(s_args_t *) argp;
    zsock_signal (pipe, 0);
    const bench_opts_t *opts = args.opts;
    kvp_feed_config_t config = { .broker = opts->broker,
        .events = opts->events, .partition = -1, .rcvhwm = opts->sub_hwm,
        .curve = opts->curve };
    kvp_feed_t *feed = kvp_feed_new (&config);
    bool ready = feed && s_ready (feed, &args);
    zstr_send (pipe, ready? "READY": "FAILED");
    if (ready)
        s_loop (pipe, feed, &args);
    else
        while (s_command (pipe, feed))
            ;                   //  the creator sends $TERM next
    kvp_feed_destroy (&feed);
}

bench_events_t *
bench_events_new (const bench_opts_t *opts, bench_stats_t *stats)
{
    bench_events_t *self = (bench_events_t *) zmalloc (sizeof *self);
    if (!self)
        return NULL;
    s_args_t args = { opts, stats };
    self->actor = zactor_new (s_actor, &args);
    char *said = self->actor? zstr_recv (self->actor): NULL;
    if (!said || !streq (said, "READY")) {
        fprintf (stderr, "kvpbench: the subscriber could not learn where "
                 "each partition's events stand (%s, %s) within %d s\n",
                 opts->broker, opts->events, READY_WAIT_MS / 1000);
        bench_events_destroy (&self);
    }
    zstr_free (&said);
    return self;
}

void
bench_events_destroy (bench_events_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zactor_destroy (&(*self_p)->actor);
    free (*self_p);
    *self_p = NULL;
}

void
bench_events_catch_up (bench_events_t *self)
{
    zstr_send (self->actor, "CATCHUP");
}
