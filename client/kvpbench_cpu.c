/*  kvpbench_cpu.c - CPU time of kvpbench and of the processes it is told
    about (the broker, the workers), over the measured window.

    Each process's user + system time (every thread) is read from
    /proc/PID/stat in clock ticks at the window's start and at its end;
    the difference divided by the replies received in between is the CPU
    each reply cost that process. Sampling twice per run costs nothing
    measurable; the resolution is one tick (10 ms at the usual 100 Hz),
    so a run of a few seconds at tens of thousands of replies per second
    gives CPU per reply to well under one percent.
*/

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "kvpbench.h"

#define WATCH_MAX   16          /* processes watched, kvpbench included */
#define PROC_NAME_MAX 15        /* longest process name */

typedef struct {
    char name [PROC_NAME_MAX + 1];  /* as given, "kvpbench" for this process */
    pid_t pid;                  /* 0 for this process */
    int64_t start, end;         /* ticks at the samples; -1 if unreadable */
} s_proc_t;

struct _bench_cpu_t {
    s_proc_t procs [WATCH_MAX]; /* this process first */
    int nprocs;                 /* entries in procs */
    long ticks_per_s;           /* sysconf (_SC_CLK_TCK) */
    int64_t start_us, end_us;   /* monotonic times of the samples; 0 = none */
};

/*  User + system ticks of `pid` (0: this process), or -1. The command
    name in /proc/PID/stat may hold spaces and parentheses, so the fields
    are counted from the last ')'. */
static int64_t
s_ticks (pid_t pid)
{
    char path [64], line [1024];
    if (pid)
        snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    else
        snprintf (path, sizeof path, "/proc/self/stat");
    FILE *file = fopen (path, "r");
    if (!file)
        return -1;
    size_t len = fread (line, 1, sizeof line - 1, file);
    fclose (file);
    line [len] = 0;
    const char *rest = strrchr (line, ')');
    unsigned long long utime, stime;
    //  Fields 3 to 13 skipped; 14 is utime, 15 stime (proc(5)).
    if (!rest || sscanf (rest + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u"
                         " %*u %llu %llu", &utime, &stime) != 2)
        return -1;
    return (int64_t) (utime + stime);
}

/*  Add "NAME=PID" (`len` bytes at `entry`). Returns 0 or -1. */
static int
s_add (bench_cpu_t *self, const char *entry, size_t len)
{
    const char *equals = memchr (entry, '=', len);
    size_t name_len = equals ? (size_t) (equals - entry) : 0;
    if (!equals || name_len == 0 || name_len > PROC_NAME_MAX
    ||  self->nprocs == WATCH_MAX)
        return -1;
    char digits [24];
    size_t digits_len = len - name_len - 1;
    if (digits_len == 0 || digits_len >= sizeof digits)
        return -1;
    memcpy (digits, equals + 1, digits_len);
    digits [digits_len] = 0;
    char *end;
    errno = 0;
    long pid = strtol (digits, &end, 10);
    if (errno || *end || pid <= 0 || pid > INT32_MAX)
        return -1;
    s_proc_t *proc = &self->procs [self->nprocs++];
    memcpy (proc->name, entry, name_len);
    proc->name [name_len] = 0;
    proc->pid = (pid_t) pid;
    return 0;
}

static int
s_parse (bench_cpu_t *self, const char *list)
{
    while (list && *list) {
        const char *comma = strchr (list, ',');
        size_t len = comma ? (size_t) (comma - list) : strlen (list);
        if (s_add (self, list, len))
            return -1;
        list = comma ? comma + 1 : list + len;
    }
    return 0;
}

bench_cpu_t *
bench_cpu_new (const char *list)
{
    bench_cpu_t *self = (bench_cpu_t *) zmalloc (sizeof (bench_cpu_t));
    if (!self)
        return NULL;
    self->ticks_per_s = sysconf (_SC_CLK_TCK);
    snprintf (self->procs [0].name, sizeof self->procs [0].name, "kvpbench");
    self->nprocs = 1;
    if (self->ticks_per_s <= 0 || s_parse (self, list)) {
        fprintf (stderr, "kvpbench: --cpu-pids: expected NAME=PID[,NAME=PID"
                 "...] (at most %d, names up to %d characters): %s\n",
                 WATCH_MAX - 1, PROC_NAME_MAX, list ? list : "");
        bench_cpu_destroy (&self);
    }
    return self;
}

void
bench_cpu_destroy (bench_cpu_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

void
bench_cpu_sample (bench_cpu_t *self, bool end)
{
    if (end ? !self->start_us || self->end_us : self->start_us != 0)
        return;
    for (int i = 0; i < self->nprocs; i++) {
        int64_t ticks = s_ticks (self->procs [i].pid);
        if (end)
            self->procs [i].end = ticks;
        else
            self->procs [i].start = ticks;
    }
    if (end)
        self->end_us = bench_now_us ();
    else
        self->start_us = bench_now_us ();
}

/*  Whether the window has both its samples. */
static bool
s_done (const bench_cpu_t *self)
{
    return self->start_us && self->end_us;
}

/*  CPU seconds of procs [i] in the window, or -1 if a sample failed. */
static double
s_seconds (const bench_cpu_t *self, int i)
{
    const s_proc_t *proc = &self->procs [i];
    if (!s_done (self) || proc->start < 0 || proc->end < proc->start)
        return -1;
    return (double) (proc->end - proc->start) / (double) self->ticks_per_s;
}

static double
s_window_s (const bench_cpu_t *self)
{
    return s_done (self)
         ? (double) (self->end_us - self->start_us) / 1e6 : 0;
}

/*  One JSON object member per process: "name":value, or null. */
static void
s_json_members (const bench_cpu_t *self, FILE *out, double scale)
{
    for (int i = 0; i < self->nprocs; i++) {
        double seconds = s_seconds (self, i);
        fprintf (out, "%s\"%s\":", i ? "," : "", self->procs [i].name);
        if (seconds < 0 || scale <= 0)
            fputs ("null", out);
        else
            fprintf (out, "%.3f", seconds * scale);
    }
}

static void
s_report_json (const bench_cpu_t *self, uint64_t replies, FILE *out)
{
    double window = s_window_s (self);
    fprintf (out, "\"cpu\":{\"window_s\":%.3f,\"replies\":%" PRIu64
             ",\"tick_us\":%.0f,\"us_per_request\":{", window, replies,
             1e6 / (double) self->ticks_per_s);
    s_json_members (self, out, replies ? 1e6 / (double) replies : 0);
    fputs ("},\"cores\":{", out);
    s_json_members (self, out, window > 0 ? 1 / window : 0);
    fputs ("}}", out);
}

static void
s_report_text (const bench_cpu_t *self, uint64_t replies, FILE *out)
{
    double window = s_window_s (self);
    fprintf (out, "%-15s %.2f s, %" PRIu64 " replies in it\n", "cpu window",
             window, replies);
    for (int i = 0; i < self->nprocs; i++) {
        double seconds = s_seconds (self, i);
        if (seconds < 0 || !replies || window <= 0)
            fprintf (out, "  %-13s not measured\n", self->procs [i].name);
        else
            fprintf (out, "  %-13s %8.1f us per request  (%.2f cores)\n",
                     self->procs [i].name, seconds * 1e6 / (double) replies,
                     seconds / window);
    }
}

void
bench_cpu_report (const bench_cpu_t *self, uint64_t replies, bool json,
                  FILE *out)
{
    if (json)
        s_report_json (self, replies, out);
    else
        s_report_text (self, replies, out);
}
