/*  kvp_wmetrics.c - the worker's counters and their snapshot.
*/
#include "kvp_wmetrics.h"
#include "kvp_metrics.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define S_RCS           12      //  distinct rcs counted per op
#define S_OPS           (KVP_OP_COUNT + 1)  //  the last: not decoded

//  Latency and commit buckets, seconds: 50 us .. 2.5 s.
static const double s_seconds [] = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1, 2.5
};
//  Batch size buckets, requests.
static const double s_sizes [] = {
    1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096
};
#define S_COUNT(a)  (sizeof (a) / sizeof (a) [0])

typedef struct {
    unsigned rc;                //  the reply's rc
    uint64_t count;             //  replies with it
} s_cell_t;

struct _kvp_wmetrics_t {
    kvp_metrics_t *http;        //  the endpoint and its snapshot
    s_cell_t requests [S_OPS][S_RCS];   //  by op, then rc (first come)
    uint64_t other_rc [S_OPS];  //  replies whose rc found no cell
    kvp_metrics_hist_t latency; //  receipt -> reply
    kvp_metrics_hist_t batch;   //  requests per group commit
    kvp_metrics_hist_t commit;  //  seconds per group commit
    uint64_t events;            //  job events published
};

kvp_wmetrics_t *
kvp_wmetrics_new (const char *hostport, char *error, size_t size)
{
    kvp_wmetrics_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->http = kvp_metrics_new (hostport, error, size);
    if (!self->http) {
        free (self);
        return NULL;
    }
    kvp_metrics_hist_init (&self->latency, s_seconds, S_COUNT (s_seconds));
    kvp_metrics_hist_init (&self->commit, s_seconds, S_COUNT (s_seconds));
    kvp_metrics_hist_init (&self->batch, s_sizes, S_COUNT (s_sizes));
    return self;
}

void
kvp_wmetrics_destroy (kvp_wmetrics_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kvp_metrics_destroy (&(*self_p)->http);
    free (*self_p);
    *self_p = NULL;
}

unsigned
kvp_wmetrics_port (kvp_wmetrics_t *self)
{
    return kvp_metrics_port (self->http);
}

void
kvp_wmetrics_reply (kvp_wmetrics_t *self, kvp_op_t op, const void *body,
                    size_t size, double seconds)
{
    unsigned rc = 0;
    size_t row = op < KVP_OP_COUNT ? (size_t) op : KVP_OP_COUNT;
    kvp_metrics_hist_observe (&self->latency, seconds);
    if (!kvp_metrics_reply_rc (body, size, &rc)) {
        self->other_rc [row]++;
        return;
    }
    s_cell_t *cells = self->requests [row];
    for (size_t i = 0; i < S_RCS; i++)
        if (cells [i].rc == rc || cells [i].count == 0) {
            cells [i].rc = rc;
            cells [i].count++;
            return;
        }
    self->other_rc [row]++;
}

void
kvp_wmetrics_batch (kvp_wmetrics_t *self, size_t requests, double seconds)
{
    kvp_metrics_hist_observe (&self->batch, (double) requests);
    kvp_metrics_hist_observe (&self->commit, seconds);
}

void
kvp_wmetrics_event (kvp_wmetrics_t *self)
{
    self->events++;
}

//  kvpbus_worker_requests_total, one sample per op and rc seen.
static void
s_write_requests (kvp_wmetrics_t *self, FILE *out)
{
    kvp_metrics_family (out, "kvpbus_worker_requests_total", "counter",
                        "Replies sent, by op and KVP/1 rc.");
    for (size_t row = 0; row < S_OPS; row++) {
        const char *op = row < KVP_OP_COUNT
                       ? kvp_op_name ((kvp_op_t) row) : "unknown";
        for (size_t i = 0; i < S_RCS && self->requests [row][i].count; i++)
            fprintf (out, "kvpbus_worker_requests_total{op=\"%s\",rc=\"%u\"}"
                     " %llu\n", op, self->requests [row][i].rc,
                     (unsigned long long) self->requests [row][i].count);
        if (self->other_rc [row])
            fprintf (out, "kvpbus_worker_requests_total{op=\"%s\",rc=\"other\"}"
                     " %llu\n", op, (unsigned long long) self->other_rc [row]);
    }
}

//  The write-ahead log and its checkpoints (kvp_store_stats).
static void
s_write_store (FILE *out, kvp_store_t *store)
{
    kvp_store_stats_t st;
    kvp_store_stats (store, &st);
    kvp_metrics_sample (out, "kvpbus_worker_log_bytes", "gauge",
                 "Write-ahead log files on disk, bytes.",
                 (double) st.log_bytes);
    kvp_metrics_sample (out, "kvpbus_worker_log_segments", "gauge",
                 "Write-ahead log segment files.", (double) st.log_segments);
    kvp_metrics_sample (out, "kvpbus_worker_log_backlog_bytes", "gauge",
                 "Log bytes not yet checkpointed into LMDB.",
                 (double) st.backlog);
    kvp_metrics_sample (out, "kvpbus_worker_log_syncs_total", "counter",
                 "fdatasyncs of the log.", (double) st.log_syncs);
    kvp_metrics_sample (out, "kvpbus_worker_log_sync_seconds_total", "counter",
                 "Time spent in them.", (double) st.log_sync_us / 1e6);
    kvp_metrics_family (out, "kvpbus_worker_checkpoint_duration_seconds",
                        "summary", "Checkpoints of the log into LMDB.");
    fprintf (out, "kvpbus_worker_checkpoint_duration_seconds_sum %.9g\n"
             "kvpbus_worker_checkpoint_duration_seconds_count %llu\n",
             (double) st.checkpoint_us / 1e6,
             (unsigned long long) st.checkpoints);
    kvp_metrics_sample (out, "kvpbus_worker_checkpoint_max_seconds", "gauge",
                 "The longest checkpoint so far.",
                 (double) st.checkpoint_us_max / 1e6);
}

void
kvp_wmetrics_publish (kvp_wmetrics_t *self, kvp_store_t *store,
                      size_t owned)
{
    FILE *out = kvp_metrics_begin (self->http);
    if (!out)
        return;
    s_write_requests (self, out);
    kvp_metrics_family (out, "kvpbus_worker_reply_latency_seconds",
                        "histogram", "Receipt of a request to its reply, "
                        "sent once the request is durable.");
    kvp_metrics_hist_write (out, "kvpbus_worker_reply_latency_seconds", NULL,
                            &self->latency);
    kvp_metrics_family (out, "kvpbus_worker_batch_size", "histogram",
                        "Requests per group commit.");
    kvp_metrics_hist_write (out, "kvpbus_worker_batch_size", NULL,
                            &self->batch);
    kvp_metrics_family (out, "kvpbus_worker_commit_duration_seconds",
                        "histogram", "Running one group commit: execute, "
                        "write and sync the log.");
    kvp_metrics_hist_write (out, "kvpbus_worker_commit_duration_seconds",
                            NULL, &self->commit);
    kvp_metrics_sample (out, "kvpbus_worker_events_published_total", "counter",
                 "Job events published.", (double) self->events);
    kvp_metrics_sample (out, "kvpbus_worker_partitions_owned", "gauge",
                 "Partitions this worker serves.", (double) owned);
    s_write_store (out, store);
    kvp_metrics_publish (self->http);
}
