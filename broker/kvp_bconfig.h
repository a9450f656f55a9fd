/*  kvp_bconfig.h - the broker's command line (spec section 9).

    One option table (name, type, default, bounds, help) drives both the
    parser and --help through kvp_opts, so the two cannot drift apart.
    Both `--flag value` and `--flag=value` are accepted. String values point into argv or into
    the table's defaults: nothing is allocated.
*/
#ifndef KVP_BCONFIG_H_INCLUDED
#define KVP_BCONFIG_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/*  What kvp_bconfig_parse found. */
#define KVP_BCONFIG_OK      0   /* run with the configuration */
#define KVP_BCONFIG_HELP    1   /* --help was given: print usage, exit 0 */
#define KVP_BCONFIG_ERROR   2   /* bad flag or value: print reason, exit 2 */

typedef struct {
    const char *data;           /* --data DIR: the registry */
    const char *clients;        /* --clients EP: ROUTER for clients */
    const char *workers;        /* --workers EP: ROUTER for workers */
    const char *events_in;      /* --events-in EP: XSUB the workers feed */
    const char *events;         /* --events EP: XPUB for subscribers */
    uint64_t partitions;        /* --partitions N, 1..65535 */
    uint64_t heartbeat_ms;      /* --heartbeat: interval, milliseconds */
    uint64_t liveness;          /* --liveness: silent intervals -> down */
    uint64_t deadline_ms;       /* --deadline: a worker's time to answer */
    uint64_t queue_limit;       /* --queue-limit: in flight per worker */
    uint64_t max_msg;           /* --max-msg: ZMQ_MAXMSGSIZE, bytes */
    uint64_t events_hwm;        /* --events-hwm: queued per subscriber */
    bool verbose;               /* --verbose: debug logs */
} kvp_bconfig_t;

/*  Fill `self` with every option's default. */
void
    kvp_bconfig_defaults (kvp_bconfig_t *self);

/*  Parse argv[1..argc-1] into `self` (defaults first). Returns
    KVP_BCONFIG_OK, KVP_BCONFIG_HELP, or KVP_BCONFIG_ERROR with the reason
    written into `error` (`size` bytes, NUL-terminated). `self` borrows
    strings from argv: keep argv alive. */
int
    kvp_bconfig_parse (kvp_bconfig_t *self, int argc, char *argv [],
                       char *error, size_t size);

/*  Print the usage text (every option, its default and bounds) to `out`.
    `prog` is the program name shown. */
void
    kvp_bconfig_usage (FILE *out, const char *prog);

#ifdef __cplusplus
}
#endif
#endif
