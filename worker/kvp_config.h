/*  kvp_config.h - the worker's command line (spec section 9).

    One option table (name, type, default, bounds, help) drives both the
    parser and --help through kvp_opts, so the two cannot drift apart.
    Both `--flag value` and `--flag=value` are accepted; `--config FILE`
    reads the same options from a ZPL file first (flags override it).
    String values point into argv, into the table's defaults or into the
    file's text, which the struct owns until kvp_config_release.
*/
#ifndef KVP_CONFIG_H_INCLUDED
#define KVP_CONFIG_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "kvp_opts.h"
#include "kvp_log.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  What kvp_config_parse found. */
#define KVP_CONFIG_OK     0     /* run with the configuration */
#define KVP_CONFIG_HELP   1     /* --help was given: print usage, exit 0 */
#define KVP_CONFIG_ERROR  2     /* bad flag or value: print reason, exit 2 */

typedef struct {
    const char *config;         /* --config FILE, or NULL */
    kvp_opts_file_t *file;      /* its text, owned (kvp_config_release) */
    const char *data;           /* --data DIR (required) */
    const char *broker;         /* --broker EP: the broker's workers ROUTER */
    const char *events_in;      /* --events-in EP: the broker's XSUB */
    const char *id;             /* --id NAME, or NULL when not given */
    const char *zone;           /* --zone NAME, or NULL: no zone */
    bool nosync;                /* --sync none: the log is not fsynced */
    uint64_t map_size;          /* --map-size: LMDB map, bytes */
    uint64_t map_max;           /* --map-max: when not 0, the map size */
    uint64_t checkpoint_ms;     /* --checkpoint-ms: most time between */
    uint64_t checkpoint_ops;    /* --checkpoint-ops: changes that start one */
    const char *checkpoint_log; /* --checkpoint-log FILE, or NULL */
    uint64_t wal_segment;       /* --wal-segment-size: bytes per segment */
    uint64_t backlog_max;       /* --backlog-max: log bytes behind -> 32774 */
    uint64_t retention_s;       /* --retention: keep jobs/keys this long */
    uint64_t heartbeat_ms;      /* --heartbeat: interval, milliseconds */
    uint64_t liveness;          /* --liveness: silent intervals -> dead */
    uint64_t batch;             /* --batch: requests per group commit */
    const char *metrics;        /* --metrics HOST:PORT, or NULL: off */
    const char *curve_secret;   /* --curve-secret FILE: CURVE on, or NULL */
    const char *broker_public;  /* --broker-public FILE: the broker's key */
    kvp_log_config_t log;       /* --log-level, --log-format, --verbose */
} kvp_config_t;

/*  Parse argv[1..argc-1] into `self` (defaults first). Returns
    KVP_CONFIG_OK, KVP_CONFIG_HELP, or KVP_CONFIG_ERROR with the reason
    written into `error` (`size` bytes, NUL-terminated). `self` borrows
    strings from argv (keep argv alive) and from the --config file, whose
    errors read "FILE:LINE: reason"; release `self` with kvp_config_release. */
int
    kvp_config_parse (kvp_config_t *self, int argc, char *argv [],
                      char *error, size_t size);

/*  Free what kvp_config_parse read from a --config file (the strings
    from it die with it); safe twice. */
void
    kvp_config_release (kvp_config_t *self);

/*  Print the usage text (every option, its default and bounds) to `out`.
    `prog` is the program name shown. */
void
    kvp_config_usage (FILE *out, const char *prog);

/*  True if `name` is a valid worker name: 1..64 bytes of letters,
    digits, '.', '_', '-' and ':'. */
bool
    kvp_config_valid_id (const char *name);

#ifdef __cplusplus
}
#endif
#endif
