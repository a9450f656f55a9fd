/*  kvp_config.c - the worker's option table, its own checks and usage
    text; the parsing itself is kvp_opts.
*/
#include "kvp_config.h"
#include "kvp_opts.h"
#include "kvp_wire.h"

#include <ctype.h>
#include <string.h>

_Static_assert (KVP_CONFIG_OK == KVP_OPTS_OK
             && KVP_CONFIG_HELP == KVP_OPTS_HELP
             && KVP_CONFIG_ERROR == KVP_OPTS_ERROR,
                "kvp_config_parse returns kvp_opts_parse's codes");

//  --id: a worker name (kvp_config_valid_id).
static bool
s_check_id (const char *value, char *reason, size_t size)
{
    if (kvp_config_valid_id (value))
        return true;
    snprintf (reason, size, "is not a worker name (1-%d of A-Z a-z 0-9 "
              ". _ - :)", KVP_WORKER_ID_MAX);
    return false;
}

//  --zone: a zone name (kvp_wire_zone_valid).
static bool
s_check_zone (const char *value, char *reason, size_t size)
{
    if (kvp_wire_zone_valid (value, strlen (value)))
        return true;
    snprintf (reason, size, "is not a zone name (at most %d printable "
              "ASCII characters)", KVP_ZONE_MAX);
    return false;
}

//  --sync: "none" sets nosync.
static const kvp_opts_choice_t s_sync [] = {
    { "full", 0 }, { "none", 1 }, { NULL, 0 }
};

#define S_AT(field) KVP_OPTS_FIELD (kvp_config_t, field)
#define S_GIB       (1024ULL * 1024 * 1024)

static const kvp_opts_option_t s_options [] = {
    { .name = "config", .type = KVP_OPTS_CONFIG, .metavar = "FILE",
      S_AT (config),
      .help = "read these options from a ZPL file (name = value lines); "
              "flags override it" },
    { .name = "data", .type = KVP_OPTS_STRING, .metavar = "DIR",
      S_AT (data),
      .help = "data directory (created if missing); keeps the worker's "
              "name" },
    { .name = "broker", .type = KVP_OPTS_STRING, .metavar = "EP",
      .def = "tcp://127.0.0.1:5556", S_AT (broker),
      .help = "the broker's workers endpoint" },
    { .name = "events-in", .type = KVP_OPTS_STRING, .metavar = "EP",
      .def = "tcp://127.0.0.1:5557", S_AT (events_in),
      .help = "the broker's events-in endpoint (job events)" },
    { .name = "id", .type = KVP_OPTS_STRING, .metavar = "NAME",
      .check = s_check_id, S_AT (id),
      .help = "worker name (default: the one in DIR, else w-<8 hex>)" },
    { .name = "zone", .type = KVP_OPTS_STRING, .metavar = "NAME",
      .check = s_check_zone, S_AT (zone),
      .help = "the zone this worker runs in (a rack, a room, a site): the "
              "broker puts a partition's copies in different zones (none "
              "when not given)" },
    { .name = "sync", .type = KVP_OPTS_CHOICE, .choices = s_sync,
      .def = "full", S_AT (nosync),
      .help = "none: the write-ahead log is not fdatasynced (survives a "
              "process crash only)" },
    { .name = "map-size", .type = KVP_OPTS_BYTES, .metavar = "BYTES",
      .def = "16G", .min = 1024 * 1024, .max = 1024 * 1024 * S_GIB,
      S_AT (map_size),
      .help = "LMDB map size: the most the store can hold (address space, "
              "not disk; K/M/G/T suffixes)" },
    { .name = "map-max", .type = KVP_OPTS_BYTES, .metavar = "BYTES",
      .def = "0", .min = 0, .max = 1024 * 1024 * S_GIB, S_AT (map_max),
      .help = "when not 0, the map size (as --map-size)" },
    { .name = "checkpoint-ms", .type = KVP_OPTS_UINT, .metavar = "MS",
      .def = "100", .min = 1, .max = 3600 * 1000, S_AT (checkpoint_ms),
      .help = "most time between checkpoints of the log into LMDB" },
    { .name = "checkpoint-ops", .type = KVP_OPTS_UINT, .metavar = "N",
      .def = "10000", .min = 1, .max = 100000000, S_AT (checkpoint_ops),
      .help = "changes waiting that start a checkpoint at once" },
    { .name = "checkpoint-log", .type = KVP_OPTS_STRING, .metavar = "FILE",
      S_AT (checkpoint_log),
      .help = "append a line per checkpoint: start and end (Unix us), "
              "records, changes" },
    { .name = "wal-segment-size", .type = KVP_OPTS_BYTES, .metavar = "BYTES",
      .def = "64M", .min = 64 * 1024, .max = S_GIB, S_AT (wal_segment),
      .help = "write-ahead log segment size (preallocated)" },
    { .name = "backlog-max", .type = KVP_OPTS_BYTES, .metavar = "BYTES",
      .def = "256M", .min = 1024 * 1024, .max = 64 * S_GIB,
      S_AT (backlog_max),
      .help = "log bytes not yet checkpointed past which writes get "
              "32774" },
    { .name = "retention", .type = KVP_OPTS_UINT, .metavar = "SECONDS",
      .def = "86400", .min = 1, .max = 10ULL * 366 * 86400,
      S_AT (retention_s),
      .help = "jobs and idempotency keys are kept this long" },
    { .name = "heartbeat", .type = KVP_OPTS_UINT, .metavar = "MS",
      .def = "1000", .min = 10, .max = 60000, S_AT (heartbeat_ms),
      .help = "heartbeat interval (the broker's WELCOME may override it)" },
    { .name = "liveness", .type = KVP_OPTS_UINT, .metavar = "N",
      .def = "3", .min = 1, .max = 100, S_AT (liveness),
      .help = "broker declared dead after N silent heartbeat intervals" },
    { .name = "batch", .type = KVP_OPTS_UINT, .metavar = "N",
      .def = "256", .min = 1, .max = 4096, S_AT (batch),
      .help = "most requests in one group commit" },
    KVP_OPTS_METRICS (kvp_config_t, metrics),
    { .name = "curve-secret", .type = KVP_OPTS_STRING, .metavar = "FILE",
      S_AT (curve_secret),
      .help = "the worker's secret certificate (its metadata name is the "
              "id it may register as): CURVE to the broker" },
    { .name = "broker-public", .type = KVP_OPTS_STRING, .metavar = "FILE",
      S_AT (broker_public),
      .help = "the broker's public certificate (with --curve-secret)" },
    KVP_LOG_OPTIONS (kvp_config_t, log),
};
#define S_OPTIONS   KVP_OPTS_COUNT (s_options)

int
kvp_config_parse (kvp_config_t *self, int argc, char *argv [],
                  char *error, size_t size)
{
    memset (self, 0, sizeof *self);
    int rc = kvp_opts_parse_file (s_options, S_OPTIONS, self, argc, argv,
                                  &self->file, error, size);
    if (rc != KVP_OPTS_OK)
        return rc;
    //  Checks across options, after all of them are known
    if (self->data)
        return KVP_CONFIG_OK;
    snprintf (error, size, "--data DIR is required");
    kvp_config_release (self);
    return KVP_CONFIG_ERROR;
}

void
kvp_config_release (kvp_config_t *self)
{
    kvp_opts_file_destroy (&self->file);
}

void
kvp_config_usage (FILE *out, const char *prog)
{
    fprintf (out, "usage: %s --data DIR [options]\n\n"
                  "Serves the partitions it owns for a kvpbus broker.\n\n"
                  "options:\n", prog);
    kvp_opts_usage (s_options, S_OPTIONS, out);
}

bool
kvp_config_valid_id (const char *name)
{
    size_t len = strlen (name);
    if (len == 0 || len > KVP_WORKER_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) name [i];
        if (!isalnum (c) && !strchr ("._-:", c))
            return false;
    }
    return true;
}
