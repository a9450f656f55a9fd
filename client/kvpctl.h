/*  kvpctl.h - the pieces of bin/kvpctl shared by its source files:
    kvpctl.c parses the command line and dispatches; kvpctl_cmds.c runs the
    one-request commands, kvpctl_watch.c watch and events; kvpctl_print.c
    turns replies and events into output lines.
    Private to the program.
*/
#ifndef KVPCTL_H_INCLUDED
#define KVPCTL_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include "kvp_client.h"

/*  Exit statuses. */
#define CTL_OK          0       /* success */
#define CTL_FAILED      1       /* an error rc or a failed job */
#define CTL_USAGE       2       /* bad command line */
#define CTL_NO_REPLY    3       /* nothing within --timeout */

/*  Command options (each command accepts a subset). */
typedef enum {
    OPT_NAME, OPT_ID, OPT_EXCHANGE, OPT_SOURCE, OPT_KEY, OPT_CIM,
    OPT_COUNT, OPT_SECONDS, OPT_FROM_START, OPT_POSITION, OPT_PARTITION,
    OPT_FROM, OPT_LIMIT, OPT_ROLE, OPT_DIR, OPT_MAX
} ctl_opt_t;

/*  Command options that take no value (given: opt [o] is ""). */
#define OPT_FLAGS       OPTBIT (OPT_FROM_START)

#define OPTBIT(o)       (1u << (o))

typedef struct {
    /* global options */
    const char *broker;         /* --broker EP */
    const char *events;         /* --events EP */
    int timeout_ms;             /* --timeout MS */
    int retries;                /* --retries N, for item ops with --key */
    bool json;                  /* --json */
    const char *curve_secret;   /* --curve-secret FILE (or the environment) */
    const char *broker_public;  /* --broker-public FILE (or the environment) */
    kvp_curve_t *curve;         /* the keys those name, or NULL: plain */
    /* the command */
    const char *command;        /* its name */
    char **args;                /* positional arguments after it */
    int nargs;                  /* entries in args */
    const char *opt [OPT_MAX];  /* option values, NULL when not given */
    kvp_client_t *client;       /* connected before the command runs */
} ctl_t;

typedef int (ctl_fn_t) (ctl_t *ctl);

/*  Command handlers (kvpctl_cmds.c); each returns an exit status. */
ctl_fn_t ctl_ping, ctl_status, ctl_retire, ctl_define, ctl_destroy,
         ctl_settings, ctl_add, ctl_modify, ctl_remove, ctl_get, ctl_system,
         ctl_job, ctl_watch, ctl_events, ctl_keygen;

/*  Report a usage error on stderr; returns CTL_USAGE. */
int
    ctl_usage_error (const char *format, ...);

/*  Read option `opt` as an unsigned number into *value; false (after a
    usage message) if it is not one or exceeds `max`. Leaves *value when
    the option is absent. */
bool
    ctl_opt_uint (ctl_t *ctl, ctl_opt_t opt, uint64_t max, uint64_t *value);

/* --- output (kvpctl_print.c) --------------------------------------------- */

/*  Print a reply the way every command ends: the JSON body (--json) or
    the text `print` gives for a success; the error line on stderr for an
    error rc; the no-reply line for NULL. `items` is the number of items
    a job line reports (-1: do not report). Destroys the reply. Returns the
    exit status. */
typedef void (ctl_print_fn_t) (const kvp_reply_t *reply);
int
    ctl_finish (ctl_t *ctl, kvp_reply_t **reply_p, ctl_print_fn_t *print,
                long items);

/*  Print a job map as the one-line job summary ("job ID TYPE Completed
    (N items, E us)" or "job ID TYPE Exception: RcName: description"). */
void
    ctl_print_job (const msgpack_object *job, long items);

/*  Print one event as a line (watch, events). */
void
    ctl_print_event (const msgpack_object *event);

/*  Print the notice of `count` events of `partition` from seq `from` on
    that can no longer be read (watch): a text line, or with `json` one
    JSON object {"lost": count, "partition": .., "from": ..}. */
void
    ctl_print_lost (uint32_t partition, uint64_t from, uint64_t count,
                    bool json);

/*  The error line of a refusal (`rc`, its `error` text; a negative rc is a
    malformed reply) and the no-reply line, on stderr, as ctl_finish
    prints them. Each returns its exit status. */
int
    ctl_print_error (int rc, const char *error);
int
    ctl_print_no_reply (ctl_t *ctl);

/*  Print one item as the line "SOURCE NAME=DATA" (get). */
void
    ctl_print_item (const msgpack_object *item);

/*  Printers for ctl_finish. */
ctl_print_fn_t ctl_print_ok, ctl_print_pong, ctl_print_status,
               ctl_print_id, ctl_print_system, ctl_print_jobinfo;

#endif
