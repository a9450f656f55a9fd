/*  kvp_bmetrics.h - the broker's Prometheus metrics (--metrics).

    The reactor counts into plain fields (it is their only writer: no
    atomics, no locks) and, from its timer, writes them as a snapshot that
    the HTTP thread of kvp_metrics serves. Families:

      kvpbus_broker_requests_total{op}          requests received, by op
      kvpbus_broker_replies_total{from,rc}      replies sent: made by the
                                                broker, or a worker's
      kvpbus_broker_reply_latency_seconds       request in -> reply out,
                                                for requests sent to workers
      kvpbus_broker_timeouts_total, _lost_total worker replies not had
      kvpbus_broker_events_published_total      events relayed to XPUB
      kvpbus_broker_workers_alive               live workers
      kvpbus_broker_partitions                  N
      kvpbus_broker_worker_inflight{worker}     requests at each worker
      kvpbus_broker_worker_partitions{worker}   partitions each owns
      process_*                                 kvp_metrics_process
*/
#ifndef KVP_BMETRICS_H_INCLUDED
#define KVP_BMETRICS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kvp_op.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _kvp_bmetrics_t kvp_bmetrics_t;

/*  Serve metrics on `hostport` ("HOST:PORT"). Returns NULL on failure with
    the reason in `error` (`size` bytes). */
kvp_bmetrics_t *
    kvp_bmetrics_new (const char *hostport, char *error, size_t size);

/*  Stop serving and free; safe on NULL and twice. Nulls *self_p. */
void
    kvp_bmetrics_destroy (kvp_bmetrics_t **self_p);

/*  A request received (`op` at or above KVP_OP_COUNT: not decoded). */
void
    kvp_bmetrics_request (kvp_bmetrics_t *self, kvp_op_t op);

/*  A reply the broker made itself (its rc is read from `body`). */
void
    kvp_bmetrics_reply (kvp_bmetrics_t *self, const void *body,
                        size_t size);

/*  A worker's reply forwarded (its rc is read from `body`), `seconds`
    after the request came in. */
void
    kvp_bmetrics_forward (kvp_bmetrics_t *self, const void *body,
                          size_t size, double seconds);

/*  Start the next snapshot: call kvp_bmetrics_begin, then
    kvp_bmetrics_worker for each worker, then kvp_bmetrics_publish. */
void
    kvp_bmetrics_begin (kvp_bmetrics_t *self);

/*  One worker: its name, whether alive, requests in flight, partitions. */
void
    kvp_bmetrics_worker (kvp_bmetrics_t *self, const char *name, bool alive,
                         size_t inflight, size_t partitions);

/*  What the broker keeps counting itself, for kvp_bmetrics_publish. */
typedef struct {
    uint64_t timeouts;          /* requests answered 32772 */
    uint64_t lost;              /* in flight to a worker that went away */
    uint64_t events;            /* events the proxy handed to XPUB */
    uint32_t partitions;        /* N */
    bool replicated;            /* R > 1: the replication gauges follow */
    uint32_t under_replicated;  /* placed, fewer than R in sync */
    uint32_t under_min_insync;  /* leader live, fewer than M in sync */
    uint32_t offline;           /* placed, leader down */
    uint64_t decisions;         /* replication decisions committed */
    uint64_t copies;            /* copies asked of leaders */
} kvp_bmetrics_totals_t;

/*  Write the snapshot scrapes get: the counters, the workers given since
    kvp_bmetrics_begin, and `totals`. */
void
    kvp_bmetrics_publish (kvp_bmetrics_t *self,
                          const kvp_bmetrics_totals_t *totals);

#ifdef __cplusplus
}
#endif
#endif
