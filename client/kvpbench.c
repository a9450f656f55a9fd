/*  kvpbench.c - load harness for a kvpbus cluster.

        bin/kvpbench [--broker EP] [--events EP] [-c CONNS] [-p PIPELINE]
                     [-n REQUESTS | -d SECONDS] [--rate R] [--items K]
                     [--vms V] [--op add|modify|mixed] [--warmup SECONDS]
                     [--json] [--plot FILE.svg|FILE.png] [--csv FILE] [--no-events]
                     [--key] [--reuse-vms] [--seed S] [--latency-log FILE]
                     [--cpu-pids NAME=PID,...] [--slow-subscriber MS]
                     [--sub-hwm N] [--stalled-subscribers N]
        bin/kvpbench --replay [--replay-limit N] [--broker EP] [--json]

    Outline: connect and Ping (exit 1 if the broker does not answer within
    5 s), start the subscriber (a gap-free feed of every partition from
    now, in its own thread), define the systems, preload them for --op
    modify, run the measured load, wait for the events still due, print
    the report. With --replay, only read every stored event back with
    GetEvents and report the rate. Exit 0 when the run completed (errors
    are reported, not fatal), 2 on a usage error.
*/

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "kvpbench.h"
#include "kvp_fdlimit.h"
#include "kvp_request.h"

#define PING_TIMEOUT_MS 5000
#define STALLED_SETTLE_MS 1000  /* for stalled subscribers to connect */

typedef enum { O_STR, O_INT, O_LONG, O_DOUBLE, O_FLAG, O_OP } o_type_t;

typedef struct {
    const char *flag;           /* long form */
    const char *short_flag;     /* or NULL */
    const char *metavar;        /* NULL for flags */
    o_type_t type;              /* how to read the value */
    size_t offset;              /* field in bench_opts_t */
    double min, max;            /* bounds for numbers */
    const char *help;           /* one line, with the default */
} o_spec_t;

#define F(field) offsetof (bench_opts_t, field)
static const o_spec_t s_specs [] = {
    { "--broker", NULL, "EP", O_STR, F (broker), 0, 0,
      "broker clients endpoint (tcp://127.0.0.1:5555)" },
    { "--events", NULL, "EP", O_STR, F (events), 0, 0,
      "broker events endpoint (tcp://127.0.0.1:5558)" },
    { "--curve-secret", NULL, "FILE", O_STR, F (curve_secret), 0, 0,
      "our secret certificate, for a secured cluster ($"
      KVP_CURVE_ENV_SECRET ")" },
    { "--broker-public", NULL, "FILE", O_STR, F (broker_public), 0, 0,
      "the broker's public certificate ($" KVP_CURVE_ENV_BROKER ")" },
    { "--conns", "-c", "CONNS", O_INT, F (conns), 1, 256,
      "DEALER connections (4)" },
    { "--pipeline", "-p", "P", O_INT, F (pipeline), 1, 4096,
      "requests in flight per connection (16)" },
    { "--requests", "-n", "N", O_LONG, F (requests), 1, 1e15,
      "measured requests, then stop" },
    { "--duration", "-d", "SECONDS", O_DOUBLE, F (duration), 0.1, 1e6,
      "measured seconds, then stop (10)" },
    { "--rate", NULL, "R", O_DOUBLE, F (rate), 0.1, 1e8,
      "open loop: R requests/s in all (default: closed loop)" },
    { "--items", NULL, "K", O_INT, F (items), 1, KVP_ITEMS_MAX,
      "items per request (16)" },
    { "--vms", NULL, "V", O_INT, F (vms), 1, 1000000,
      "systems the load is spread over (1000)" },
    { "--op", NULL, "OP", O_OP, F (mode), 0, 0,
      "add (default) | modify (preload, then modify) | mixed (50/50)" },
    { "--warmup", NULL, "SECONDS", O_DOUBLE, F (warmup), 0, 3600,
      "seconds of load before measuring (0)" },
    { "--json", NULL, NULL, O_FLAG, F (json), 0, 0,
      "final report as one JSON object" },
    { "--plot", NULL, "FILE", O_STR, F (plot), 0, 0,
      "draw throughput and latency over time: FILE.svg or FILE.png (gnuplot)" },
    { "--csv", NULL, "FILE", O_STR, F (csv), 0, 0,
      "per-second rows: t,rps,p50,p99,errors" },
    { "--no-events", NULL, NULL, O_FLAG, F (no_events), 0, 0,
      "do not subscribe to events" },
    { "--key", NULL, NULL, O_FLAG, F (key), 0, 0,
      "give every request an idempotency key" },
    { "--reuse-vms", NULL, NULL, O_FLAG, F (reuse_vms), 0, 0,
      "the systems of this --seed exist: skip defining them" },
    { "--seed", NULL, "S", O_LONG, F (seed), 0, 1e15,
      "seed for the system GUIDs and target choice (1)" },
    { "--latency-log", NULL, "FILE", O_STR, F (latency_log), 0, 0,
      "a line per measured reply: send time (unix us), latency (us)" },
    { "--cpu-pids", NULL, "LIST", O_STR, F (cpu_pids), 0, 0,
      "NAME=PID,...: also report their CPU per request in the window" },
    { "--slow-subscriber", NULL, "MS", O_DOUBLE, F (slow_subscriber), 0, 10000,
      "the subscriber sleeps MS (fractions too) per event: it falls behind" },
    { "--sub-hwm", NULL, "N", O_INT, F (sub_hwm), 1, 10000000,
      "the subscriber's receive queue, messages (100000)" },
    { "--stalled-subscribers", NULL, "N", O_INT, F (stalled), 0, 10000,
      "N more subscribers to every job that never read (0)" },
    { "--replay", NULL, NULL, O_FLAG, F (replay), 0, 0,
      "no load: read every stored event back (GetEvents), report events/s" },
    { "--replay-limit", NULL, "N", O_INT, F (replay_limit), 1, 10000,
      "--replay: events per GetEvents page (1000)" },
};
#define SPECS (sizeof s_specs / sizeof s_specs [0])

static const char *s_op_names [] = { "add", "modify", "mixed" };

static void
s_usage (FILE *out)
{
    fputs ("usage: kvpbench [OPTIONS]\n\nLoad a kvpbus cluster with "
           "AddKvpItems/ModifyKvpItems and measure it.\n\noptions:\n", out);
    for (size_t i = 0; i < SPECS; i++) {
        char left [40];
        snprintf (left, sizeof left, "%s%s%s%s%s",
                  s_specs [i].short_flag ? s_specs [i].short_flag : "",
                  s_specs [i].short_flag ? ", " : "", s_specs [i].flag,
                  s_specs [i].metavar ? " " : "",
                  s_specs [i].metavar ? s_specs [i].metavar : "");
        fprintf (out, "  %-26s %s\n", left, s_specs [i].help);
    }
    fprintf (out, "  %-26s %s\n", "--help", "this text");
    fputs ("\nLatency is measured from the intended send time (with --rate, "
           "the schedule),\nso a stalled server shows up in the tail. CPU "
           "time (this process and the\n--cpu-pids ones, from /proc/PID/stat) "
           "is sampled when the first measured\nrequest is sent and when "
           "the last one is, and divided by the replies received\nin "
           "between. Events are counted by a gap-free subscriber: each "
           "once, in seq order\nper partition; what its queue drops is read "
           "back with GetEvents (\"filled by\nreplay\"), repeats are "
           "dropped, and events that can no longer be read are\n\"lost\" "
           "(must be 0). Exit status: 0 the run completed, 1 the broker did "
           "not\nanswer Ping within 5 s, 2 usage error.\n", out);
}

static int
s_bad (const char *format, const char *flag, const char *value)
{
    fputs ("kvpbench: ", stderr);
    fprintf (stderr, format, flag, value);
    fputs ("\n(kvpbench --help for usage)\n", stderr);
    return -1;
}

/*  Store `value` for option `spec`. Returns 0 or -1 (message printed). */
static int
s_set (bench_opts_t *opts, const o_spec_t *spec, const char *value)
{
    void *field = (char *) opts + spec->offset;
    if (spec->type == O_FLAG) { *(bool *) field = true; return 0; }
    if (spec->type == O_STR) { *(const char **) field = value; return 0; }
    if (spec->type == O_OP) {
        for (int i = 0; i < 3; i++)
            if (streq (value, s_op_names [i])) {
                opts->mode = (bench_mode_t) i;
                opts->op_name = s_op_names [i];
                return 0;
            }
        return s_bad ("%s: expected add, modify or mixed: %s", spec->flag, value);
    }
    char *end;
    errno = 0;
    double number = strtod (value, &end);
    if (errno || end == value || *end || !(number >= spec->min)
    ||  number > spec->max
    ||  (spec->type != O_DOUBLE && number != (double) (long) number))
        return s_bad ("%s: not a number in range: %s", spec->flag, value);
    if (spec->type == O_INT)
        *(int *) field = (int) number;
    else
    if (spec->type == O_LONG)
        *(long *) field = (long) number;
    else
        *(double *) field = number;
    return 0;
}

static const o_spec_t *
s_find (const char *arg)
{
    for (size_t i = 0; i < SPECS; i++)
        if (streq (arg, s_specs [i].flag)
        ||  (s_specs [i].short_flag && streq (arg, s_specs [i].short_flag)))
            return &s_specs [i];
    return NULL;
}

/*  Parse the command line. Returns 0, 1 after --help, -1 on error. */
static int
s_parse (bench_opts_t *opts, int argc, char **argv)
{
    bool have_n = false, have_d = false;
    for (int i = 1; i < argc; i++) {
        if (streq (argv [i], "--help"))
            return 1;
        const o_spec_t *spec = s_find (argv [i]);
        if (!spec)
            return s_bad ("%s%s", "unknown option: ", argv [i]);
        const char *value = NULL;
        if (spec->type != O_FLAG) {
            if (i + 1 >= argc)
                return s_bad ("%s needs a value%s", spec->flag, "");
            value = argv [++i];
        }
        if (s_set (opts, spec, value))
            return -1;
        have_n |= spec->offset == F (requests);
        have_d |= spec->offset == F (duration);
    }
    if (have_n && have_d)
        return s_bad ("%s and %s: give one of them", "-n", "-d");
    if (!have_n)
        opts->requests = 0;
    return 0;
}

/*  Set up, define, preload and run; the exit status. */
static int
s_bench (const bench_opts_t *opts, bench_stats_t *stats)
{
    bench_load_t *load = bench_load_new (opts, stats);
    if (!load)
        return BENCH_NO_BROKER;
    if (!bench_load_ping (load, PING_TIMEOUT_MS)) {
        fprintf (stderr, "kvpbench: no reply to Ping from %s within %d ms\n",
                 opts->broker, PING_TIMEOUT_MS);
        bench_load_destroy (&load);
        return BENCH_NO_BROKER;
    }
    if (!opts->reuse_vms) {
        uint64_t failed = bench_load_define (load);
        fprintf (stderr, "kvpbench: %d systems defined (%" PRIu64 " failed)\n",
                 opts->vms, failed);
    }
    if (opts->mode == BENCH_MODIFY && !zsys_interrupted) {
        bench_load_preload (load);
        fprintf (stderr, "kvpbench: %d systems preloaded\n", opts->vms);
    }
    bench_stalled_t *stalled = opts->stalled
        ? bench_stalled_new (opts->events, opts->stalled) : NULL;
    if (stalled) {
        fprintf (stderr, "kvpbench: %d subscribers that never read\n",
                 opts->stalled);
        zclock_sleep (STALLED_SETTLE_MS);   //  connected and subscribed
    }
    bool ready = stalled || !opts->stalled;
    if (!zsys_interrupted && ready)
        bench_load_run (load);
    bench_stalled_destroy (&stalled);
    bench_load_destroy (&load);
    return ready ? BENCH_OK : BENCH_NO_BROKER;
}

/*  The report on stdout, then the files asked for. */
static void
s_outputs (const bench_opts_t *opts, bench_stats_t *stats)
{
    bench_stats_report (stats, opts, stdout);
    if (opts->csv)
        bench_stats_csv (stats, opts->csv);
    if (opts->plot)
        bench_stats_plot (stats, opts->plot);
    if (opts->latency_log)
        bench_stats_latency_log (stats, opts->latency_log);
}

//  After the command line: the replay, or the load and its report.
static int
s_run (const bench_opts_t *opts)
{
    if (opts->replay)
        return bench_replay_run (opts, stdout);
    //  Stalled subscribers (a child process's) take a descriptor or two
    //  each
    if (opts->stalled) {
        kvp_fdlimit_t limit;
        kvp_fdlimit_raise (&limit);
    }
    bench_cpu_t *cpu = bench_cpu_new (opts->cpu_pids);
    if (!cpu)
        return BENCH_USAGE;
    bench_stats_t *stats = bench_stats_new (!opts->no_events, &cpu);
    if (stats && opts->latency_log && bench_stats_keep_latencies (stats))
        bench_stats_destroy (&stats);
    if (!stats)
        return BENCH_NO_BROKER;
    int status = s_bench (opts, stats);
    if (status == BENCH_OK)
        s_outputs (opts, stats);
    bench_stats_destroy (&stats);
    return status;
}

int
main (int argc, char **argv)
{
    //  czmq logs to stdout by default; stdout is for the report.
    zsys_set_logstream (stderr);
    bench_opts_t opts = {
        .broker = "tcp://127.0.0.1:5555", .events = "tcp://127.0.0.1:5558",
        .conns = 4, .pipeline = 16, .duration = 10, .items = 16,
        .vms = 1000, .mode = BENCH_ADD, .op_name = "add", .seed = 1,
        .sub_hwm = KVP_SUB_RCVHWM, .replay_limit = 1000
    };
    int parsed = s_parse (&opts, argc, argv);
    if (parsed > 0)
        s_usage (stdout);
    if (parsed)
        return parsed > 0 ? BENCH_OK : BENCH_USAGE;
    char error [512];
    if (!kvp_curve_for_client (opts.curve_secret, opts.broker_public,
                               &opts.curve, error, sizeof error)) {
        fprintf (stderr, "kvpbench: %s\n", error);
        return BENCH_USAGE;
    }
    int status = s_run (&opts);
    kvp_curve_destroy (&opts.curve);
    return status;
}
