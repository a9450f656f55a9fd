/*  kvp_bconfig.h - the broker's command line (spec section 9).

    One option table (name, type, default, bounds, help) drives both the
    parser and --help through kvp_opts, so the two cannot drift apart.
    Both `--flag value` and `--flag=value` are accepted; `--config FILE`
    reads the same options from a ZPL file first (flags override it).
    String values point into argv, into the table's defaults or into the
    file's text, which the struct owns until kvp_bconfig_release.
*/
#ifndef KVP_BCONFIG_H_INCLUDED
#define KVP_BCONFIG_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "kvp_opts.h"
#include "kvp_log.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  What kvp_bconfig_parse found. */
#define KVP_BCONFIG_OK      0   /* run with the configuration */
#define KVP_BCONFIG_HELP    1   /* --help was given: print usage, exit 0 */
#define KVP_BCONFIG_ERROR   2   /* bad flag or value: print reason, exit 2 */

typedef struct {
    const char *config;         /* --config FILE, or NULL */
    kvp_opts_file_t *file;      /* its text, owned (kvp_bconfig_release) */
    const char *data;           /* --data DIR: the registry */
    const char *clients;        /* --clients EP: ROUTER for clients */
    const char *workers;        /* --workers EP: ROUTER for workers */
    const char *events_in;      /* --events-in EP: XSUB the workers feed */
    const char *events;         /* --events EP: XPUB for subscribers */
    uint64_t partitions;        /* --partitions N, 1..65535 */
    uint64_t replicas;          /* --replicas R: copies per partition, 1..5 */
    uint64_t min_insync;        /* --min-insync M: 1..R; min (2, R) when
                                   not given (0 while parsing) */
    uint64_t replace_after_s;   /* --replace-after: seconds a worker stays
                                   down before its copies are restored */
    uint64_t replace_after_ms;  /* the same in milliseconds */
    uint64_t heartbeat_ms;      /* --heartbeat: interval, milliseconds */
    uint64_t liveness;          /* --liveness: silent intervals -> down */
    uint64_t deadline_ms;       /* --deadline: a worker's time to answer */
    uint64_t queue_limit;       /* --queue-limit: in flight per worker */
    uint64_t queue_bytes;       /* --queue-bytes: their bytes per worker */
    uint64_t client_inflight;   /* --client-inflight: per client */
    uint64_t client_queue;      /* --client-queue: bytes held per client */
    uint64_t clients_max;       /* --clients-max: connections, 0: derived */
    uint64_t max_msg;           /* --max-msg: ZMQ_MAXMSGSIZE, bytes */
    uint64_t events_hwm;        /* --events-hwm: queued per subscriber */
    const char *metrics;        /* --metrics HOST:PORT, or NULL: off */
    const char *curve_secret;   /* --curve-secret FILE: CURVE on, or NULL */
    const char *clients_allow;  /* --clients-allow DIR: client keys */
    const char *workers_allow;  /* --workers-allow DIR: worker keys */
    bool insecure;              /* --insecure: plain beyond loopback */
    kvp_log_config_t log;       /* --log-level, --log-format, --verbose */
} kvp_bconfig_t;

/*  Fill `self` with every option's default. */
void
    kvp_bconfig_defaults (kvp_bconfig_t *self);

/*  Parse argv[1..argc-1] into `self` (defaults first). Returns
    KVP_BCONFIG_OK, KVP_BCONFIG_HELP, or KVP_BCONFIG_ERROR with the reason
    written into `error` (`size` bytes, NUL-terminated). `self` borrows
    strings from argv (keep argv alive) and from the --config file, whose
    errors read "FILE:LINE: reason"; release `self` with kvp_bconfig_release.
    Checks across options come last: --min-insync above --replicas is an
    error; without --min-insync it is min (2, R). */
int
    kvp_bconfig_parse (kvp_bconfig_t *self, int argc, char *argv [],
                       char *error, size_t size);

/*  Free what kvp_bconfig_parse read from a --config file (the strings
    from it die with it); safe twice. */
void
    kvp_bconfig_release (kvp_bconfig_t *self);

/*  Print the usage text (every option, its default and bounds) to `out`.
    `prog` is the program name shown. */
void
    kvp_bconfig_usage (FILE *out, const char *prog);

#ifdef __cplusplus
}
#endif
#endif
