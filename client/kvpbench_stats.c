/*  kvpbench_stats.c - what a kvpbench run measured, and its reports.

    Latencies go into log-linear histograms (kvp_hist): bounded memory,
    no samples kept. Event latency is "intended send time -> event
    received": a reply's job id is remembered with its send time until
    the event comes, and an event that beats its reply waits in a second
    table until the reply comes. Both tables are bounded.

    With --latency-log, each measured reply also keeps 8 bytes (send time
    from the window's start, latency), up to BENCH_LATENCY_LOG_MAX, and
    the lines are written once, after the run, so that the log costs the
    request loop neither a system call nor formatting.

    Events are recorded by the subscriber's thread (kvpbench_events.c):
    the two job-id tables, the event counters and the subscriber's
    counters are shared with the load's thread under one mutex.
*/
#include <pthread.h>

#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include "kvpbench.h"
#include "kvp_guid.h"
#include "kvp_json.h"
#include "kvp_obj.h"
#include "kvp_rc.h"
#include "kvp_reply.h"

#define ERRORS_MAX      32          /* distinct error names kept */
#define PENDING_MAX     1000000     /* job ids waiting for a match */
#define SECOND          INT64_C (1000000)

typedef struct {
    char name [48];             /* rc name, "NoReply", "Job:Failed", ... */
    uint64_t count;             /* measured occurrences */
} s_error_t;

typedef struct {
    uint32_t sent;              /* us from the window's start to the send */
    uint32_t latency;           /* us */
} s_sample_t;

typedef struct {
    double t;                   /* seconds since the measured start */
    double rps;                 /* replies per second in that second */
    uint64_t p50, p99;          /* reply latency, us */
    uint64_t errors;            /* errors in that second */
} s_row_t;

struct _bench_stats_t {
    bool events_on;             /* a subscriber is counting events */
    kvp_hist_t *reply;          /* measured reply latency, us */
    kvp_hist_t *event;          /* measured event latency, us */
    kvp_hist_t *second;         /* this second's reply latency */
    uint64_t sec_replies;       /* replies this second */
    uint64_t sec_errors;        /* errors this second */
    int64_t sec_start;          /* when this second began */
    int64_t start_us, end_us;   /* the measured window */
    uint64_t requests;          /* measured requests sent */
    uint64_t replies;           /* measured replies */
    uint64_t items;             /* measured items written */
    uint64_t errors;            /* measured errors */
    double cpu_s;               /* this process's CPU time, user + sys */
    uint64_t jobs;              /* every job replied (4096) */
    uint64_t events;            /* events matched to our jobs */
    pthread_mutex_t lock;       /* the event side, shared with the
                                   subscriber's thread */
    kvp_feed_stats_t feed;      /* the subscriber's counters */
    s_error_t errs [ERRORS_MAX];    /* errors by name */
    size_t nerrs;               /* entries in errs */
    s_row_t *rows;              /* per-second rows of the measured window */
    size_t nrows, rows_max;     /* used, allocated */
    zhashx_t *replied;          /* job id -> send time << 1 | measured */
    zhashx_t *early;            /* job id -> event arrival time */
    bench_cpu_t *cpu;           /* CPU time over the cpu window */
    uint64_t all_replies;       /* item op replies, measured or not */
    uint64_t cpu_replies;       /* all_replies at the cpu window's start,
                                   then the replies inside it */
    bool cpu_opened;            /* the cpu window has started */
    bool cpu_closed;            /* cpu_replies holds the window's count */
    int64_t epoch_us;           /* CLOCK_REALTIME at start_us */
    s_sample_t *samples;        /* --latency-log, NULL without */
    size_t nsamples, samples_max;   /* kept, allocated */
    uint64_t samples_lost;      /* measured replies not kept (cap, memory) */
};

bench_stats_t *
bench_stats_new (bool events, bench_cpu_t **cpu_p)
{
    bench_stats_t *self = (bench_stats_t *) zmalloc (sizeof (bench_stats_t));
    if (!self) {
        bench_cpu_destroy (cpu_p);
        return NULL;
    }
    self->cpu = *cpu_p;
    *cpu_p = NULL;
    pthread_mutex_init (&self->lock, NULL);
    self->events_on = events;
    self->reply = kvp_hist_new ();
    self->event = kvp_hist_new ();
    self->second = kvp_hist_new ();
    self->replied = zhashx_new ();
    self->early = zhashx_new ();
    if (!self->reply || !self->event || !self->second || !self->replied
    ||  !self->early || !self->cpu)
        bench_stats_destroy (&self);
    return self;
}

void
bench_stats_destroy (bench_stats_t **self_p)
{
    if (self_p && *self_p) {
        bench_stats_t *self = *self_p;
        kvp_hist_destroy (&self->reply);
        kvp_hist_destroy (&self->event);
        kvp_hist_destroy (&self->second);
        zhashx_destroy (&self->replied);
        zhashx_destroy (&self->early);
        bench_cpu_destroy (&self->cpu);
        pthread_mutex_destroy (&self->lock);
        free (self->samples);
        free (self->rows);
        free (self);
        *self_p = NULL;
    }
}

int64_t
bench_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * SECOND + ts.tv_nsec / 1000;
}

/*  CLOCK_REALTIME in microseconds. */
static int64_t
s_epoch_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * SECOND + ts.tv_nsec / 1000;
}

void
bench_stats_start (bench_stats_t *self, int64_t start_us)
{
    self->start_us = start_us;
    self->sec_start = bench_now_us ();
    //  The two clocks read back to back: the offset is good to ~1 us
    //  unless the system clock is stepped during the run.
    self->epoch_us = s_epoch_us () + (start_us - bench_now_us ());
}

int
bench_stats_keep_latencies (bench_stats_t *self)
{
    self->samples_max = 65536;
    self->samples = (s_sample_t *) malloc (self->samples_max
                                           * sizeof (s_sample_t));
    return self->samples ? 0 : -1;
}

void
bench_stats_cpu_open (bench_stats_t *self)
{
    if (self->cpu_opened)
        return;
    self->cpu_opened = true;
    bench_cpu_sample (self->cpu, false);
    self->cpu_replies = self->all_replies;
}

void
bench_stats_cpu_close (bench_stats_t *self)
{
    if (!self->cpu_opened || self->cpu_closed)
        return;
    self->cpu_closed = true;
    bench_cpu_sample (self->cpu, true);
    self->cpu_replies = self->all_replies - self->cpu_replies;
}

void
bench_stats_finish (bench_stats_t *self, int64_t end_us, uint64_t requests)
{
    self->end_us = end_us;
    self->requests = requests;
    bench_stats_cpu_close (self);
    //  The load generator shares the machine: say what it cost.
    struct rusage usage;
    if (getrusage (RUSAGE_SELF, &usage) == 0)
        self->cpu_s = usage.ru_utime.tv_sec + usage.ru_stime.tv_sec
                    + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

/* --- recording -------------------------------------------------------------------- */

void
bench_stats_error (bench_stats_t *self, const char *name, bool measured)
{
    self->sec_errors++;
    if (!measured)
        return;
    self->errors++;
    size_t i = 0;
    while (i < self->nerrs && strcmp (self->errs [i].name, name) != 0)
        i++;
    if (i == self->nerrs) {
        if (self->nerrs == ERRORS_MAX)
            i = ERRORS_MAX - 1;         //  lump the rare rest together
        else
            snprintf (self->errs [self->nerrs++].name,
                      sizeof self->errs [0].name, "%s", name);
    }
    self->errs [i].count++;
}

/*  Copy a job id into `id` (KVP_JOBID_MAX + 1 bytes); false if absent or
    too long. */
static bool
s_job_id (const msgpack_object *map, char *id)
{
    size_t len;
    const char *text = kvp_obj_get_str (map, "InstanceID", &len);
    if (!text || len == 0 || len > KVP_JOBID_MAX)
        return false;
    memcpy (id, text, len);
    id [len] = 0;
    return true;
}

static void
s_event_latency (bench_stats_t *self, int64_t sent_us, bool measured,
                 int64_t arrived_us)
{
    self->events++;
    if (measured)
        kvp_hist_record (self->event, arrived_us > sent_us
                                      ? (uint64_t) (arrived_us - sent_us) : 0);
}

/*  A job was replied: match its event, or wait for it. */
static void
s_match_reply (bench_stats_t *self, const msgpack_object *job,
               int64_t sent_us, bool measured)
{
    char id [KVP_JOBID_MAX + 1];
    if (!self->events_on || !s_job_id (job, id))
        return;
    pthread_mutex_lock (&self->lock);
    void *arrived = zhashx_lookup (self->early, id);
    if (arrived) {
        s_event_latency (self, sent_us, measured, (int64_t) (uintptr_t) arrived);
        zhashx_delete (self->early, id);
    }
    else
    if (zhashx_size (self->replied) < PENDING_MAX)
        zhashx_insert (self->replied, id,
                       (void *) (uintptr_t) ((uint64_t) sent_us << 1 | measured));
    pthread_mutex_unlock (&self->lock);
}

void
bench_stats_event (bench_stats_t *self, const msgpack_object *event,
                   int64_t now_us)
{
    char id [KVP_JOBID_MAX + 1];
    if (!s_job_id (event, id))
        return;
    pthread_mutex_lock (&self->lock);
    void *sent = zhashx_lookup (self->replied, id);
    if (sent) {
        uint64_t value = (uint64_t) (uintptr_t) sent;
        s_event_latency (self, (int64_t) (value >> 1), value & 1, now_us);
        zhashx_delete (self->replied, id);
    }
    else
    if (zhashx_size (self->early) < PENDING_MAX)
        zhashx_insert (self->early, id, (void *) (uintptr_t) now_us);
    pthread_mutex_unlock (&self->lock);
}

/*  A 4096 reply: the job's outcome. True if it completed. */
static bool
s_job (bench_stats_t *self, const kvp_reply_t *reply, bool measured,
       int64_t sent_us, int items)
{
    const msgpack_object *job = kvp_reply_get (reply, "job");
    uint64_t state = 0, code = 0;
    if (!kvp_obj_get_uint (job, "JobState", &state)) {
        bench_stats_error (self, "MalformedJob", measured);
        return false;
    }
    self->jobs++;
    s_match_reply (self, job, sent_us, measured);
    if (state == KVP_JOB_COMPLETED) {
        self->items += measured ? (uint64_t) items : 0;
        return true;
    }
    char name [48];
    kvp_obj_get_uint (job, "ErrorCode", &code);
    snprintf (name, sizeof name, "Job:%s", kvp_rc_name ((unsigned) code));
    bench_stats_error (self, name, measured);
    return false;
}

/*  Keep a measured reply for the latency log, growing the table by
    doubling up to the cap. */
static void
s_keep_sample (bench_stats_t *self, int64_t sent_us, uint64_t latency)
{
    int64_t sent = sent_us - self->start_us;
    if (sent < 0 || sent > UINT32_MAX || latency > UINT32_MAX) {
        self->samples_lost++;           //  over 71 minutes: not kept
        return;
    }
    if (self->nsamples == self->samples_max) {
        size_t max = self->samples_max * 2;
        if (max > BENCH_LATENCY_LOG_MAX)
            max = BENCH_LATENCY_LOG_MAX;
        s_sample_t *samples = max > self->samples_max
            ? (s_sample_t *) realloc (self->samples, max * sizeof (s_sample_t))
            : NULL;
        if (!samples) {
            self->samples_lost++;
            return;
        }
        self->samples = samples;
        self->samples_max = max;
    }
    self->samples [self->nsamples++] = (s_sample_t) {
        (uint32_t) sent, (uint32_t) latency };
}

bool
bench_stats_reply (bench_stats_t *self, const kvp_reply_t *reply,
                   bool measured, int64_t sent_us, int64_t now_us, int items)
{
    uint64_t latency = now_us > sent_us ? (uint64_t) (now_us - sent_us) : 0;
    kvp_hist_record (self->second, latency);
    self->sec_replies++;
    self->all_replies++;
    if (measured) {
        kvp_hist_record (self->reply, latency);
        self->replies++;
        if (self->samples)
            s_keep_sample (self, sent_us, latency);
    }
    int rc = kvp_reply_rc (reply);
    if (rc == KVP_RC_JOB_STARTED)
        return s_job (self, reply, measured, sent_us, items);
    bench_stats_error (self, rc < 0 ? "MalformedReply"
                                    : kvp_rc_name ((unsigned) rc), measured);
    return false;
}

uint64_t
bench_stats_events_missing (bench_stats_t *self)
{
    pthread_mutex_lock (&self->lock);
    uint64_t missing = zhashx_size (self->replied);
    pthread_mutex_unlock (&self->lock);
    return missing;
}

void
bench_stats_feed (bench_stats_t *self, const kvp_feed_stats_t *feed)
{
    pthread_mutex_lock (&self->lock);
    self->feed = *feed;
    pthread_mutex_unlock (&self->lock);
}

/* --- per second --------------------------------------------------------------------- */

static void
s_add_row (bench_stats_t *self, const s_row_t *row)
{
    if (self->nrows == self->rows_max) {
        size_t max = self->rows_max ? self->rows_max * 2 : 64;
        s_row_t *rows = (s_row_t *) realloc (self->rows, max * sizeof (s_row_t));
        if (!rows)
            return;
        self->rows = rows;
        self->rows_max = max;
    }
    self->rows [self->nrows++] = *row;
}

void
bench_stats_second (bench_stats_t *self, int64_t now_us, bool measured)
{
    //  A last, partial second is worth a row only if something happened.
    if (now_us - self->sec_start < SECOND && !self->sec_replies
    &&  !self->sec_errors)
        return;
    double elapsed = (double) (now_us - self->sec_start) / SECOND;
    s_row_t row = {
        (double) (now_us - self->start_us) / SECOND,
        elapsed > 0 ? (double) self->sec_replies / elapsed : 0,
        kvp_hist_percentile (self->second, 50),
        kvp_hist_percentile (self->second, 99),
        self->sec_errors
    };
    fprintf (stderr, "%7.1fs %10.0f req/s   p99 %8" PRIu64 " us   errors %"
             PRIu64 "%s\n", row.t, row.rps, row.p99, row.errors,
             measured ? "" : "   (warm-up)");
    if (measured)
        s_add_row (self, &row);
    kvp_hist_reset (self->second);
    self->sec_replies = self->sec_errors = 0;
    self->sec_start = now_us;
}

/* --- reports -------------------------------------------------------------------------- */

static double
s_duration (bench_stats_t *self)
{
    double seconds = (double) (self->end_us - self->start_us) / SECOND;
    return seconds > 0 ? seconds : 0;
}

static void
s_text_latency (FILE *out, const char *label, const kvp_hist_t *hist)
{
    fprintf (out, "%-15s p50 %" PRIu64 "  p90 %" PRIu64 "  p99 %" PRIu64
             "  p99.9 %" PRIu64 "  max %" PRIu64 " us\n", label,
             kvp_hist_percentile (hist, 50), kvp_hist_percentile (hist, 90),
             kvp_hist_percentile (hist, 99), kvp_hist_percentile (hist, 99.9),
             kvp_hist_max (hist));
}

static void
s_report_text (bench_stats_t *self, const bench_opts_t *opts, FILE *out)
{
    double seconds = s_duration (self);
    fprintf (out, "kvpbench %s: %s, %d connections x %d in flight, %s, "
             "%d items per request, %d systems\n", opts->broker,
             opts->rate > 0 ? "open loop" : "closed loop", opts->conns,
             opts->pipeline, opts->op_name, opts->items, opts->vms);
    fprintf (out, "%-15s %.2f s\n", "duration", seconds);
    fprintf (out, "%-15s %" PRIu64 " sent, %" PRIu64 " replied\n",
             "requests", self->requests, self->replies);
    fprintf (out, "%-15s %.1f\n", "requests/s",
             seconds > 0 ? self->replies / seconds : 0);
    fprintf (out, "%-15s %.1f\n", "items/s",
             seconds > 0 ? self->items / seconds : 0);
    s_text_latency (out, "reply latency", self->reply);
    if (self->events_on)
        s_text_latency (out, "event latency", self->event);
    fprintf (out, "%-15s %" PRIu64, "errors", self->errors);
    for (size_t i = 0; i < self->nerrs; i++)
        fprintf (out, "%s%s %" PRIu64, i ? ", " : " (", self->errs [i].name,
                 self->errs [i].count);
    fputs (self->nerrs ? ")\n" : "\n", out);
    if (self->events_on) {
        fprintf (out, "%-15s %" PRIu64 " received, %" PRIu64 " jobs\n",
                 "events", self->events, self->jobs);
        fprintf (out, "%-15s %" PRIu64 " repeats dropped, %" PRIu64
                 " gap events filled by replay, %" PRIu64 " lost, %" PRIu64
                 " shed live (%" PRIu64 " GetEvents)\n", "subscriber",
                 self->feed.repeats, self->feed.replayed, self->feed.lost,
                 self->feed.shed, self->feed.requests);
    }
    else
        fprintf (out, "%-15s not counted (--no-events), %" PRIu64 " jobs\n",
                 "events", self->jobs);
    fprintf (out, "%-15s %.2f s (user + sys, whole run)\n", "kvpbench cpu",
             self->cpu_s);
    bench_cpu_report (self->cpu, self->cpu_replies, false, out);
}

static void
s_json_latency (FILE *out, const char *key, const kvp_hist_t *hist)
{
    fprintf (out, "\"%s\":{\"count\":%" PRIu64 ",\"p50\":%" PRIu64 ",\"p90\":%"
             PRIu64 ",\"p99\":%" PRIu64 ",\"p99_9\":%" PRIu64 ",\"max\":%"
             PRIu64 ",\"mean\":%.1f}", key, kvp_hist_count (hist),
             kvp_hist_percentile (hist, 50), kvp_hist_percentile (hist, 90),
             kvp_hist_percentile (hist, 99), kvp_hist_percentile (hist, 99.9),
             kvp_hist_max (hist), kvp_hist_mean (hist));
}

static void
s_report_json (bench_stats_t *self, const bench_opts_t *opts, FILE *out)
{
    double seconds = s_duration (self);
    fputs ("{\"broker\":", out);
    kvp_json_write_str (out, opts->broker, strlen (opts->broker));
    fprintf (out, ",\"mode\":\"%s\",\"connections\":%d,\"pipeline\":%d,"
             "\"rate\":%.1f,\"op\":\"%s\",\"items_per_request\":%d,"
             "\"systems\":%d,\"duration_s\":%.3f,\"requests\":%" PRIu64
             ",\"replies\":%" PRIu64 ",\"requests_per_s\":%.1f,"
             "\"items_per_s\":%.1f,", opts->rate > 0 ? "open" : "closed",
             opts->conns, opts->pipeline, opts->rate, opts->op_name,
             opts->items, opts->vms, seconds, self->requests, self->replies,
             seconds > 0 ? self->replies / seconds : 0,
             seconds > 0 ? self->items / seconds : 0);
    s_json_latency (out, "reply_latency_us", self->reply);
    fputc (',', out);
    s_json_latency (out, "event_latency_us", self->event);
    fprintf (out, ",\"errors\":%" PRIu64 ",\"errors_by_rc\":{", self->errors);
    for (size_t i = 0; i < self->nerrs; i++)
        fprintf (out, "%s\"%s\":%" PRIu64, i ? "," : "", self->errs [i].name,
                 self->errs [i].count);
    fprintf (out, "},\"events_counted\":%s,\"events_received\":%" PRIu64
             ",\"jobs\":%" PRIu64 ",\"events_repeats\":%" PRIu64
             ",\"events_replayed\":%" PRIu64 ",\"events_lost\":%" PRIu64
             ",\"events_shed\":%" PRIu64 ",\"client_cpu_s\":%.3f,",
             self->events_on ? "true" : "false", self->events, self->jobs,
             self->feed.repeats, self->feed.replayed, self->feed.lost,
             self->feed.shed, self->cpu_s);
    bench_cpu_report (self->cpu, self->cpu_replies, true, out);
    fputs ("}\n", out);
}

void
bench_stats_report (bench_stats_t *self, const bench_opts_t *opts, FILE *out)
{
    if (opts->json)
        s_report_json (self, opts, out);
    else
        s_report_text (self, opts, out);
}

int
bench_stats_csv (bench_stats_t *self, const char *path)
{
    FILE *file = fopen (path, "w");
    if (!file) {
        fprintf (stderr, "kvpbench: %s: %s\n", path, strerror (errno));
        return -1;
    }
    fputs ("t,rps,p50,p99,errors\n", file);
    for (size_t i = 0; i < self->nrows; i++) {
        const s_row_t *row = &self->rows [i];
        fprintf (file, "%.1f,%.1f,%" PRIu64 ",%" PRIu64 ",%" PRIu64 "\n",
                 row->t, row->rps, row->p50, row->p99, row->errors);
    }
    if (fclose (file)) {
        fprintf (stderr, "kvpbench: %s: %s\n", path, strerror (errno));
        return -1;
    }
    return 0;
}

/*  Whether `program` is an executable file in a $PATH folder. */
static bool
s_in_path (const char *program)
{
    const char *path = getenv ("PATH");
    char *copy = strdup (path ? path : "/usr/bin:/bin"), *save = NULL;
    bool found = false;
    for (char *dir = strtok_r (copy, ":", &save); dir && !found;
         dir = strtok_r (NULL, ":", &save)) {
        char full [PATH_MAX];
        snprintf (full, sizeof full, "%s/%s", *dir ? dir : ".", program);
        found = access (full, X_OK) == 0;
    }
    free (copy);
    return found;
}

/*  `text` as a gnuplot single-quoted string ('' stands for a quote). */
static void
s_gnuplot_quote (FILE *out, const char *text)
{
    fputc ('\'', out);
    for (; *text; text++)
        fputs (*text == '\'' ? "''" : (char []) { *text, 0 }, out);
    fputc ('\'', out);
}

int
bench_stats_plot (bench_stats_t *self, const char *path)
{
    if (self->nrows == 0) {
        fprintf (stderr, "kvpbench: no per-second data to plot\n");
        return -1;
    }
    if (!s_in_path ("gnuplot")) {
        fprintf (stderr, "kvpbench: gnuplot not found in PATH: no plot made "
                 "(use --csv for the data)\n");
        return -1;
    }
    FILE *gp = popen ("gnuplot", "w");
    if (!gp) {
        fprintf (stderr, "kvpbench: cannot run gnuplot: %s\n", strerror (errno));
        return -1;
    }
    size_t len = strlen (path);
    bool png = len > 4 && strcasecmp (path + len - 4, ".png") == 0;
    fputs (png ? "set terminal pngcairo size 960,720 background rgb 'white'\n"
               : "set terminal svg size 960,720 dynamic background rgb 'white'\n",
           gp);
    fputs ("set output ", gp);
    s_gnuplot_quote (gp, path);
    fputs ("\nset datafile separator ','\n$d << EOD\n", gp);
    for (size_t i = 0; i < self->nrows; i++)
        fprintf (gp, "%.1f,%.1f,%" PRIu64 ",%" PRIu64 "\n", self->rows [i].t,
                 self->rows [i].rps, self->rows [i].p50, self->rows [i].p99);
    fputs ("EOD\n"
           "set multiplot layout 2,1 title 'kvpbench'\n"
           "set grid\nset key top right\nset xlabel 'time (s)'\n"
           "set ylabel 'requests/s'\nset yrange [0:*]\n"
           "plot $d using 1:2 with linespoints title 'throughput'\n"
           "set ylabel 'reply latency (us)'\n"
           "plot $d using 1:3 with linespoints title 'p50', "
           "$d using 1:4 with linespoints title 'p99'\n"
           "unset multiplot\n", gp);
    int status = pclose (gp);
    if (status != 0) {
        fprintf (stderr, "kvpbench: gnuplot failed (status %d)\n", status);
        return -1;
    }
    return 0;
}

int
bench_stats_latency_log (bench_stats_t *self, const char *path)
{
    FILE *file = fopen (path, "w");
    if (!file) {
        fprintf (stderr, "kvpbench: %s: %s\n", path, strerror (errno));
        return -1;
    }
    setvbuf (file, NULL, _IOFBF, 1 << 20);
    for (size_t i = 0; i < self->nsamples; i++)
        fprintf (file, "%" PRId64 " %" PRIu32 "\n",
                 self->epoch_us + self->samples [i].sent,
                 self->samples [i].latency);
    if (fclose (file)) {
        fprintf (stderr, "kvpbench: %s: %s\n", path, strerror (errno));
        return -1;
    }
    if (self->samples_lost)
        fprintf (stderr, "kvpbench: %s: %" PRIu64 " replies not logged (at "
                 "most %d are kept)\n", path, self->samples_lost,
                 BENCH_LATENCY_LOG_MAX);
    return 0;
}
