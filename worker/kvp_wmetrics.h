/*  kvp_wmetrics.h - the worker's Prometheus metrics (--metrics).

    The reactor counts into plain fields (no atomics, no locks: it is the
    only writer) and, from its timer, writes them as a snapshot that the
    HTTP thread of kvp_metrics serves. Families:

      kvpbus_worker_requests_total{op,rc}       replies sent
      kvpbus_worker_reply_latency_seconds       accepted -> durable (the
                                                reply is sent after the
                                                group commit)
      kvpbus_worker_batch_size                  requests per group commit
      kvpbus_worker_commit_duration_seconds     running one group commit
                                                (execute, log write, sync)
      kvpbus_worker_events_published_total      job events published
      kvpbus_worker_partitions_owned            partitions it serves
      kvpbus_worker_log_bytes, _log_segments, _log_backlog_bytes,
      _log_syncs_total, _log_sync_seconds_total, _checkpoints_total,
      _checkpoint_seconds_total, _checkpoint_max_seconds
                                                kvp_store_stats
      process_*                                 kvp_metrics_process
*/
#ifndef KVP_WMETRICS_H_INCLUDED
#define KVP_WMETRICS_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include "kvp_op.h"
#include "kvp_store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _kvp_wmetrics_t kvp_wmetrics_t;

/*  Serve metrics on `hostport` ("HOST:PORT"). Returns NULL on failure with
    the reason in `error` (`size` bytes). */
kvp_wmetrics_t *
    kvp_wmetrics_new (const char *hostport, char *error, size_t size);

/*  Stop serving and free; safe on NULL and twice. Nulls *self_p. */
void
    kvp_wmetrics_destroy (kvp_wmetrics_t **self_p);

/*  The port it listens on. */
unsigned
    kvp_wmetrics_port (kvp_wmetrics_t *self);

/*  One reply sent: `op` (KVP_OP_COUNT or above when it was not decoded),
    the reply body (its rc is read from it) and the time from receipt to
    the reply, in seconds. */
void
    kvp_wmetrics_reply (kvp_wmetrics_t *self, kvp_op_t op,
                        const void *body, size_t size, double seconds);

/*  One group commit of `requests` requests that took `seconds`. */
void
    kvp_wmetrics_batch (kvp_wmetrics_t *self, size_t requests,
                        double seconds);

/*  One job event published. */
void
    kvp_wmetrics_event (kvp_wmetrics_t *self);

/*  Write the snapshot scrapes get, with the store's counters (`store`
    borrowed) and the number of partitions owned. */
void
    kvp_wmetrics_publish (kvp_wmetrics_t *self, kvp_store_t *store,
                          size_t owned);

#ifdef __cplusplus
}
#endif
#endif
