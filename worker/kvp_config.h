/*  kvp_config.h - the worker's command line (spec section 9).

    One option table (name, type, default, bounds, help) drives both the
    parser and --help through kvp_opts, so the two cannot drift apart.
    Both `--flag value` and `--flag=value` are accepted. String values point into argv (or
    into the table's defaults): nothing is allocated.
*/
#ifndef KVP_CONFIG_H_INCLUDED
#define KVP_CONFIG_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/*  What kvp_config_parse found. */
#define KVP_CONFIG_OK     0     /* run with the configuration */
#define KVP_CONFIG_HELP   1     /* --help was given: print usage, exit 0 */
#define KVP_CONFIG_ERROR  2     /* bad flag or value: print reason, exit 2 */

typedef struct {
    const char *data;           /* --data DIR (required) */
    const char *broker;         /* --broker EP: the broker's workers ROUTER */
    const char *events_in;      /* --events-in EP: the broker's XSUB */
    const char *id;             /* --id NAME, or NULL when not given */
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
    bool verbose;               /* --verbose: debug logs */
} kvp_config_t;

/*  Parse argv[1..argc-1] into `self` (defaults first). Returns
    KVP_CONFIG_OK, KVP_CONFIG_HELP, or KVP_CONFIG_ERROR with the reason
    written into `error` (`size` bytes, NUL-terminated). `self` borrows
    strings from argv: keep argv alive. */
int
    kvp_config_parse (kvp_config_t *self, int argc, char *argv [],
                      char *error, size_t size);

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
