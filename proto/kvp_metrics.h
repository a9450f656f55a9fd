/*  kvp_metrics.h - a Prometheus endpoint (text exposition format 0.0.4 at
    GET /metrics) served by libmicrohttpd from a snapshot.

    The hot path never waits for a scraper: the owning thread keeps plain
    counters, and now and then (its timer) writes them as text into the
    stream kvp_metrics_begin returns and calls kvp_metrics_publish, which
    swaps the text in under a mutex held for a pointer swap. The HTTP
    thread copies the last published text under that mutex and adds the
    standard process_* metrics (CPU, memory, file descriptors), read from
    /proc when the scrape comes. A scrape therefore sees counters at most
    one snapshot period old.

    Not part of the KVP/1 codec: it lives in proto/ because proto is the
    one library both the broker and the worker link. It opens a listening
    socket (libmicrohttpd's), never a ZeroMQ one.
*/
#ifndef KVP_METRICS_H_INCLUDED
#define KVP_METRICS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _kvp_metrics_t kvp_metrics_t;

/*  Buckets of a histogram, upper bounds in seconds (or units), ascending;
    the +Inf bucket is implied. */
#define KVP_METRICS_BUCKETS_MAX 16

typedef struct {
    const double *bounds;       /* borrowed, `nbounds` ascending bounds */
    size_t nbounds;             /* at most KVP_METRICS_BUCKETS_MAX */
    uint64_t counts [KVP_METRICS_BUCKETS_MAX + 1];  /* per bucket, not
                                                       cumulative; last +Inf */
    double sum;                 /* of every value observed */
} kvp_metrics_hist_t;

/*  Start serving on `hostport` ("HOST:PORT", an IPv4 address or a name
    that resolves to one; PORT may be 0 for any free port). Returns NULL
    on failure with the reason in `error` (`size` bytes). */
kvp_metrics_t *
    kvp_metrics_new (const char *hostport, char *error, size_t size);

/*  Stop serving and free everything; safe on NULL and twice. Nulls
    *self_p. */
void
    kvp_metrics_destroy (kvp_metrics_t **self_p);

/*  The port it listens on (useful after PORT 0). */
unsigned
    kvp_metrics_port (kvp_metrics_t *self);

/*  A fresh stream to write the next snapshot into (owned by `self`;
    valid until kvp_metrics_publish), or NULL when out of memory. Only the
    owning thread calls it. */
FILE *
    kvp_metrics_begin (kvp_metrics_t *self);

/*  Make what was written since kvp_metrics_begin the text scrapes get. */
void
    kvp_metrics_publish (kvp_metrics_t *self);

/*  Write the "# HELP" and "# TYPE" lines of a metric family. */
void
    kvp_metrics_family (FILE *out, const char *name, const char *type,
                        const char *help);

/*  A family of one unlabelled sample: its HELP and TYPE lines and the
    value (whole numbers exactly, others to nine significant digits). */
void
    kvp_metrics_sample (FILE *out, const char *name, const char *type,
                        const char *help, double value);

/*  Prepare a histogram over `nbounds` bounds (borrowed). */
void
    kvp_metrics_hist_init (kvp_metrics_hist_t *self, const double *bounds,
                           size_t nbounds);

/*  Count one value into its bucket. */
void
    kvp_metrics_hist_observe (kvp_metrics_hist_t *self, double value);

/*  Write a histogram's _bucket, _sum and _count samples. `labels` is
    NULL or "a=\"x\"" (no braces) to put in front of each le. */
void
    kvp_metrics_hist_write (FILE *out, const char *name, const char *labels,
                            const kvp_metrics_hist_t *self);

/*  The rc of a KVP/1 reply body (a map whose first keys are "rid", when
    it has one, and "rc", as kvp_reply_begin writes them), read without
    decoding the rest. Returns false when it is not there. */
bool
    kvp_metrics_reply_rc (const void *body, size_t size, unsigned *rc);

/*  Write the process_* families of the calling process (Prometheus's
    standard names) from /proc/self. */
void
    kvp_metrics_process (FILE *out);

#ifdef __cplusplus
}
#endif
#endif
