/*  test_kvpbench.c - bin/kvpbench against a real broker and worker on
    127.0.0.1: the latency log (one line per measured reply, agreeing with
    the report), the CPU figures of --cpu-pids, and deploy/ckpt_p99.py
    splitting that log around a checkpoint made up here.
*/
#include <check.h>
#include "kvp_testkit.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINES_MAX   200000      /* far above what a 1 s run can send */
#define CKPT_SCRIPT "deploy/ckpt_p99.py"

static tk_cluster_t *cluster;

typedef struct {
    int64_t sent;               /* unix us */
    int64_t latency;            /* us */
} s_line_t;

static void
s_setup (void)
{
    cluster = tk_cluster_new (1);
    ck_assert_msg (tk_cluster_start (cluster), "cluster did not come up");
}

static void
s_teardown (void)
{
    tk_cluster_destroy (&cluster);
}

static int64_t
s_unix_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

//  The number after `"key":` at its first place at or after `from`; -1
//  if absent or null.
static double
s_json_number (const char *from, const char *key)
{
    char pattern [64];
    snprintf (pattern, sizeof pattern, "\"%s\":", key);
    const char *at = from ? strstr (from, pattern) : NULL;
    double value;
    if (!at || sscanf (at + strlen (pattern), "%lf", &value) != 1)
        return -1;
    return value;
}

//  Read the latency log; the number of lines (each checked for shape).
static size_t
s_read_log (const char *path, s_line_t *lines)
{
    FILE *file = fopen (path, "r");
    ck_assert_ptr_nonnull (file);
    size_t count = 0;
    char text [128];
    while (fgets (text, sizeof text, file)) {
        ck_assert_uint_lt (count, LINES_MAX);
        char tail;
        ck_assert_msg (sscanf (text, "%" SCNd64 " %" SCNd64 "%c",
                               &lines [count].sent, &lines [count].latency,
                               &tail) == 3 && tail == '\n',
                       "line %zu malformed: %s", count + 1, text);
        count++;
    }
    fclose (file);
    return count;
}

//  Nearest-rank percentile of the logged latencies (sorts `values`).
static int
s_cmp (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return x < y ? -1 : x > y;
}

static int64_t
s_percentile (int64_t *values, size_t count, double p)
{
    qsort (values, count, sizeof *values, s_cmp);
    size_t rank = (size_t) (p / 100 * (double) count + 0.999999);
    return values [rank ? rank - 1 : 0];
}

//  Run kvpbench for 1 s after 0.3 s of warm-up with both new options;
//  its JSON report into `out`.
static void
s_run_bench (char *out, size_t size, const char *log)
{
    char pids [64];
    snprintf (pids, sizeof pids, "broker=%d,w0=%d", (int) cluster->broker,
              (int) cluster->workers [0]);
    ck_assert_int_eq (tk_run (out, size, "kvpbench", "--broker",
                              cluster->clients, "--events", cluster->events,
                              "-c", "2", "-p", "2", "-d", "1", "--warmup",
                              "0.3", "--vms", "20", "--json", "--latency-log",
                              log, "--cpu-pids", pids, NULL), 0);
}

//  Run deploy/ckpt_p99.py on `log` and one checkpoint [start, end]; the
//  counts it prints for the requests during and between checkpoints.
static void
s_split (const char *log, int64_t start, int64_t end, long *during,
         long *between)
{
    char ckpt [300], command [1024], line [256];
    snprintf (ckpt, sizeof ckpt, "%s/checkpoints.log", cluster->dir);
    FILE *file = fopen (ckpt, "w");
    ck_assert_ptr_nonnull (file);
    fprintf (file, "%" PRId64 " %" PRId64 "\n", start, end);
    fclose (file);
    snprintf (command, sizeof command, "python3 %s --latency %s "
              "--checkpoints %s", CKPT_SCRIPT, log, ckpt);
    FILE *pipe = popen (command, "r");
    ck_assert_ptr_nonnull (pipe);
    *during = *between = -1;
    while (fgets (line, sizeof line, pipe)) {
        sscanf (line, "during a checkpoint %ld", during);
        sscanf (line, "between checkpoints %ld", between);
    }
    ck_assert_int_eq (pclose (pipe), 0);
}

START_TEST (test_latency_log_and_cpu)
{
    static s_line_t lines [LINES_MAX];
    static int64_t latencies [LINES_MAX];
    char out [8192], log [300];
    snprintf (log, sizeof log, "%s/latency.log", cluster->dir);
    int64_t before = s_unix_us ();
    s_run_bench (out, sizeof out, log);
    int64_t after = s_unix_us ();

    //  One line per measured reply, sent inside the measured window.
    double replies = s_json_number (out, "replies");
    size_t count = s_read_log (log, lines);
    ck_assert_msg (replies > 0 && (double) count == replies,
                   "%zu lines, %.0f replies", count, replies);
    for (size_t i = 0; i < count; i++) {
        ck_assert_int_ge (lines [i].sent, before + 300000 - 20000);
        ck_assert_int_le (lines [i].sent + lines [i].latency, after);
        ck_assert_int_gt (lines [i].latency, 0);
        latencies [i] = lines [i].latency;
    }
    //  The report's p50 and p99 are the log's, within the histogram's
    //  precision (1/128, rounded up).
    const char *hist = strstr (out, "\"reply_latency_us\":");
    struct { double p; const char *key; } checks [] = { { 50, "p50" }, { 99, "p99" } };
    for (size_t i = 0; i < 2; i++) {
        int64_t want = s_percentile (latencies, count, checks [i].p);
        double got = s_json_number (hist, checks [i].key);
        ck_assert_msg (got >= (double) want && got <= want * (1 + 1.0 / 128) + 1,
                       "%s: report %.0f, log %" PRId64, checks [i].key, got, want);
    }

    //  CPU per request for kvpbench and both named processes.
    const char *cpu = strstr (out, "\"us_per_request\":");
    ck_assert_ptr_nonnull (cpu);
    ck_assert (s_json_number (cpu, "kvpbench") > 0);
    ck_assert (s_json_number (cpu, "broker") > 0);
    ck_assert (s_json_number (cpu, "w0") > 0);
    ck_assert (s_json_number (strstr (out, "\"cpu\":"), "replies") > 0);

    //  A checkpoint over the middle third of the sends: the script finds
    //  the requests that overlap it, as counted here.
    if (access (CKPT_SCRIPT, R_OK) != 0) {
        fprintf (stderr, "test_kvpbench: %s not found from here: not run\n",
                 CKPT_SCRIPT);
        return;
    }
    int64_t first = lines [0].sent, last = lines [0].sent;
    for (size_t i = 0; i < count; i++) {
        first = lines [i].sent < first ? lines [i].sent : first;
        last = lines [i].sent > last ? lines [i].sent : last;
    }
    int64_t start = first + (last - first) / 3, end = first + 2 * (last - first) / 3;
    long want = 0, during, between;
    for (size_t i = 0; i < count; i++)
        want += lines [i].sent <= end && lines [i].sent + lines [i].latency >= start;
    s_split (log, start, end, &during, &between);
    ck_assert_int_eq (during, want);
    ck_assert_int_eq (during + between, (long) count);
    ck_assert_int_gt (between, 0);
}
END_TEST

//  --stalled-subscribers: the load runs beside subscribers that never
//  read, and the events are all counted (the stalled ones lose theirs).
START_TEST (test_stalled_subscribers)
{
    char out [8192];
    ck_assert_int_eq (tk_run (out, sizeof out, "kvpbench", "--broker",
                              cluster->clients, "--events", cluster->events,
                              "-c", "2", "-p", "2", "-d", "1", "--vms", "20",
                              "--json", "--stalled-subscribers", "50", NULL), 0);
    ck_assert (s_json_number (out, "replies") > 0);
    ck_assert (s_json_number (out, "events_lost") == 0);
    ck_assert_int_eq (tk_run (out, sizeof out, "kvpbench",
                              "--stalled-subscribers", "10001", NULL), 2);
}
END_TEST

START_TEST (test_cpu_pids_usage)
{
    char out [1024];
    const char *bad [] = { "broker", "=12", "broker=", "broker=0", "b=12x",
                           "a-name-far-too-long=12", "b=1,,c=2" };
    //  Refused before connecting: no broker needed.
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++)
        ck_assert_msg (tk_run (out, sizeof out, "kvpbench", "--cpu-pids",
                               bad [i], NULL) == 2,
                       "accepted --cpu-pids %s", bad [i]);
}
END_TEST

int
main (void)
{
    Suite *suite = suite_create ("kvpbench");
    TCase *tc = tcase_create ("against a cluster");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc, test_latency_log_and_cpu);
    tcase_add_test (tc, test_stalled_subscribers);
    suite_add_tcase (suite, tc);
    tc = tcase_create ("options");
    tcase_add_test (tc, test_cpu_pids_usage);
    suite_add_tcase (suite, tc);
    return tk_run_suite (suite);
}
