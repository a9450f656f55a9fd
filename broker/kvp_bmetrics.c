/*  kvp_bmetrics.c - the broker's counters and their snapshot.
*/
#include "kvp_bmetrics.h"
#include "kvp_metrics.h"

#include <stdlib.h>
#include <string.h>

#define S_RCS           16      //  distinct rcs counted per source
#define S_OPS           (KVP_OP_COUNT + 1)  //  the last: not decoded

//  Latency buckets, seconds: 50 us .. 2.5 s.
static const double s_seconds [] = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1, 2.5
};
#define S_COUNT(a)  (sizeof (a) / sizeof (a) [0])

typedef struct {
    unsigned rc;                //  the reply's rc
    uint64_t count;             //  replies with it
} s_cell_t;

//  Replies from one source, by rc (first come, first cell).
typedef struct {
    s_cell_t cells [S_RCS];
    uint64_t other;             //  an rc that found no cell, or none read
} s_rcs_t;

struct _kvp_bmetrics_t {
    kvp_metrics_t *http;        //  the endpoint and its snapshot
    uint64_t requests [S_OPS];  //  received, by op
    s_rcs_t local;              //  replies the broker made
    s_rcs_t forwarded;          //  replies from workers
    kvp_metrics_hist_t latency; //  request in -> worker's reply out
    //  The snapshot being made (kvp_bmetrics_begin .. _publish)
    size_t alive;               //  workers alive
    FILE *inflight;             //  its worker_inflight samples
    char *inflight_text;
    size_t inflight_size;
    FILE *parts;                //  its worker_partitions samples
    char *parts_text;
    size_t parts_size;
};

kvp_bmetrics_t *
kvp_bmetrics_new (const char *hostport, char *error, size_t size)
{
    kvp_bmetrics_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->http = kvp_metrics_new (hostport, error, size);
    if (!self->http) {
        free (self);
        return NULL;
    }
    kvp_metrics_hist_init (&self->latency, s_seconds, S_COUNT (s_seconds));
    return self;
}

//  Close the per-worker streams and free their text.
static void
s_drop_workers (kvp_bmetrics_t *self)
{
    if (self->inflight)
        fclose (self->inflight);
    if (self->parts)
        fclose (self->parts);
    free (self->inflight_text);
    free (self->parts_text);
    self->inflight = self->parts = NULL;
    self->inflight_text = self->parts_text = NULL;
}

void
kvp_bmetrics_destroy (kvp_bmetrics_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kvp_bmetrics_t *self = *self_p;
    s_drop_workers (self);
    kvp_metrics_destroy (&self->http);
    free (self);
    *self_p = NULL;
}

void
kvp_bmetrics_request (kvp_bmetrics_t *self, kvp_op_t op)
{
    self->requests [op < KVP_OP_COUNT ? (size_t) op : KVP_OP_COUNT]++;
}

static void
s_count_rc (s_rcs_t *rcs, unsigned rc)
{
    for (size_t i = 0; i < S_RCS; i++)
        if (rcs->cells [i].rc == rc || rcs->cells [i].count == 0) {
            rcs->cells [i].rc = rc;
            rcs->cells [i].count++;
            return;
        }
    rcs->other++;
}

void
kvp_bmetrics_reply (kvp_bmetrics_t *self, const void *body, size_t size)
{
    unsigned rc;
    if (kvp_metrics_reply_rc (body, size, &rc))
        s_count_rc (&self->local, rc);
    else
        self->local.other++;
}

void
kvp_bmetrics_forward (kvp_bmetrics_t *self, const void *body, size_t size,
                      double seconds)
{
    unsigned rc;
    if (kvp_metrics_reply_rc (body, size, &rc))
        s_count_rc (&self->forwarded, rc);
    else
        self->forwarded.other++;
    kvp_metrics_hist_observe (&self->latency, seconds);
}

void
kvp_bmetrics_begin (kvp_bmetrics_t *self)
{
    s_drop_workers (self);
    self->alive = 0;
    self->inflight = open_memstream (&self->inflight_text,
                                     &self->inflight_size);
    self->parts = open_memstream (&self->parts_text, &self->parts_size);
}

void
kvp_bmetrics_worker (kvp_bmetrics_t *self, const char *name, bool alive,
                     size_t inflight, size_t partitions)
{
    self->alive += alive;
    if (self->inflight)
        fprintf (self->inflight, "kvpbus_broker_worker_inflight{worker=\"%s\""
                 "} %zu\n", name, inflight);
    if (self->parts)
        fprintf (self->parts, "kvpbus_broker_worker_partitions{worker=\"%s\""
                 "} %zu\n", name, partitions);
}

//  The samples of one source's replies.
static void
s_write_rcs (FILE *out, const char *from, const s_rcs_t *rcs)
{
    for (size_t i = 0; i < S_RCS && rcs->cells [i].count; i++)
        fprintf (out, "kvpbus_broker_replies_total{from=\"%s\",rc=\"%u\"} "
                 "%llu\n", from, rcs->cells [i].rc,
                 (unsigned long long) rcs->cells [i].count);
    if (rcs->other)
        fprintf (out, "kvpbus_broker_replies_total{from=\"%s\",rc=\"other\"}"
                 " %llu\n", from, (unsigned long long) rcs->other);
}

//  The counters of requests and replies, and the latency.
static void
s_write_traffic (kvp_bmetrics_t *self, FILE *out)
{
    kvp_metrics_family (out, "kvpbus_broker_requests_total", "counter",
                        "Requests received, by op.");
    for (size_t op = 0; op < S_OPS; op++)
        if (self->requests [op])
            fprintf (out, "kvpbus_broker_requests_total{op=\"%s\"} %llu\n",
                     op < KVP_OP_COUNT ? kvp_op_name ((kvp_op_t) op)
                                       : "unknown",
                     (unsigned long long) self->requests [op]);
    kvp_metrics_family (out, "kvpbus_broker_replies_total", "counter",
                        "Replies sent, made by the broker or a worker, by "
                        "KVP/1 rc.");
    s_write_rcs (out, "broker", &self->local);
    s_write_rcs (out, "worker", &self->forwarded);
    kvp_metrics_family (out, "kvpbus_broker_reply_latency_seconds",
                        "histogram", "Request in to reply out, for requests "
                        "sent to workers.");
    kvp_metrics_hist_write (out, "kvpbus_broker_reply_latency_seconds", NULL,
                            &self->latency);
}

//  What an operator watches in a replicated cluster (Kafka's
//  under-replicated and offline partitions, and what the broker did).
static void
s_write_replication (FILE *out, const kvp_bmetrics_totals_t *totals)
{
    kvp_metrics_sample (out, "kvpbus_broker_partitions_under_replicated",
                 "gauge", "Placed partitions with fewer than --replicas "
                 "copies in sync.", (double) totals->under_replicated);
    kvp_metrics_sample (out, "kvpbus_broker_partitions_under_min_insync",
                 "gauge", "Partitions whose leader is live with fewer than "
                 "--min-insync copies in sync: writes get 32777.",
                 (double) totals->under_min_insync);
    kvp_metrics_sample (out, "kvpbus_broker_partitions_offline", "gauge",
                 "Placed partitions whose leader is down.",
                 (double) totals->offline);
    kvp_metrics_sample (out, "kvpbus_broker_replication_decisions_total",
                 "counter", "Placements, promotions, in-sync changes and "
                 "moves committed in the registry.",
                 (double) totals->decisions);
    kvp_metrics_sample (out, "kvpbus_broker_replication_copies_total",
                 "counter", "Copies of a partition asked of its leader for "
                 "a follower.", (double) totals->copies);
}

//  A family whose samples were written into `text`.
static void
s_write_text (FILE *out, const char *name, const char *help, FILE **stream,
              char **text)
{
    kvp_metrics_family (out, name, "gauge", help);
    if (*stream)
        fclose (*stream);
    *stream = NULL;
    if (*text)
        fputs (*text, out);
}

void
kvp_bmetrics_publish (kvp_bmetrics_t *self,
                      const kvp_bmetrics_totals_t *totals)
{
    FILE *out = kvp_metrics_begin (self->http);
    if (!out)
        return;
    s_write_traffic (self, out);
    kvp_metrics_sample (out, "kvpbus_broker_timeouts_total", "counter",
                 "Requests answered 32772: no reply within the deadline.",
                 (double) totals->timeouts);
    kvp_metrics_sample (out, "kvpbus_broker_lost_total", "counter",
                 "Requests in flight to a worker that went away.",
                 (double) totals->lost);
    kvp_metrics_sample (out, "kvpbus_broker_events_published_total", "counter",
                 "Events from workers relayed to the subscribers' socket.",
                 (double) totals->events);
    kvp_metrics_sample (out, "kvpbus_broker_partitions", "gauge",
                 "Partitions (N).", (double) totals->partitions);
    kvp_metrics_sample (out, "kvpbus_broker_workers_alive", "gauge",
                 "Workers registered and alive.", (double) self->alive);
    if (totals->replicated)
        s_write_replication (out, totals);
    s_write_text (out, "kvpbus_broker_worker_inflight", "Requests in flight "
                  "at each worker (its queue).", &self->inflight,
                  &self->inflight_text);
    s_write_text (out, "kvpbus_broker_worker_partitions", "Partitions each "
                  "worker owns.", &self->parts, &self->parts_text);
    kvp_metrics_publish (self->http);
}
