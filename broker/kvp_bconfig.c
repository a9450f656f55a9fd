/*  kvp_bconfig.c - the broker's option table and usage text; the parsing
    itself is kvp_opts.
*/
#include "kvp_bconfig.h"
#include "kvp_opts.h"
#include <string.h>

_Static_assert (KVP_BCONFIG_OK == KVP_OPTS_OK
             && KVP_BCONFIG_HELP == KVP_OPTS_HELP
             && KVP_BCONFIG_ERROR == KVP_OPTS_ERROR,
                "kvp_bconfig_parse returns kvp_opts_parse's codes");

#define S_AT(field) KVP_OPTS_FIELD (kvp_bconfig_t, field)
#define S_MIB       (1024ull * 1024)

static const kvp_opts_option_t s_options [] = {
    { .name = "config", .type = KVP_OPTS_CONFIG, .metavar = "FILE",
      S_AT (config),
      .help = "read these options from a ZPL file (name = value lines); "
              "flags override it" },
    { .name = "data", .type = KVP_OPTS_STRING, .metavar = "DIR",
      .def = "./var/broker", S_AT (data),
      .help = "registry folder (created if missing)" },
    { .name = "clients", .type = KVP_OPTS_STRING, .metavar = "EP",
      .def = "tcp://127.0.0.1:5555", S_AT (clients),
      .help = "ROUTER endpoint for clients" },
    { .name = "workers", .type = KVP_OPTS_STRING, .metavar = "EP",
      .def = "tcp://127.0.0.1:5556", S_AT (workers),
      .help = "ROUTER endpoint for workers" },
    { .name = "events-in", .type = KVP_OPTS_STRING, .metavar = "EP",
      .def = "tcp://127.0.0.1:5557", S_AT (events_in),
      .help = "XSUB endpoint the workers publish to" },
    { .name = "events", .type = KVP_OPTS_STRING, .metavar = "EP",
      .def = "tcp://127.0.0.1:5558", S_AT (events),
      .help = "XPUB endpoint for subscribers" },
    { .name = "partitions", .type = KVP_OPTS_UINT, .metavar = "N",
      .def = "64", .min = 1, .max = 65535, S_AT (partitions),
      .help = "number of partitions (fixed for the life of the data)" },
    { .name = "replicas", .type = KVP_OPTS_UINT, .metavar = "R",
      .def = "1", .min = 1, .max = 5, S_AT (replicas),
      .help = "copies of each partition, on as many workers (fixed for "
              "the life of the data)" },
    //  No default in the table: it depends on R (kvp_bconfig_parse)
    { .name = "min-insync", .type = KVP_OPTS_UINT, .metavar = "M",
      .min = 1, .max = 5, S_AT (min_insync),
      .help = "copies in sync, the leader's included, before a write is "
              "acknowledged; at most R (fixed for the life of the data; "
              "default min(2, R))" },
    { .name = "replace-after", .type = KVP_OPTS_UINT, .metavar = "SECONDS",
      .def = "300", .min = 1, .max = 31536000, S_AT (replace_after_s),
      .help = "time a worker stays down before its copies are restored on "
              "the other workers" },
    { .name = "heartbeat", .type = KVP_OPTS_UINT, .metavar = "MS",
      .def = "1000", .min = 10, .max = 60000, S_AT (heartbeat_ms),
      .help = "heartbeat interval to and from workers" },
    { .name = "liveness", .type = KVP_OPTS_UINT, .metavar = "N",
      .def = "3", .min = 1, .max = 100, S_AT (liveness),
      .help = "silent heartbeat intervals before a worker is down" },
    { .name = "deadline", .type = KVP_OPTS_UINT, .metavar = "MS",
      .def = "10000", .min = 1000, .max = 600000, S_AT (deadline_ms),
      .help = "time a worker has to answer before the client gets 32772" },
    { .name = "queue-limit", .type = KVP_OPTS_UINT, .metavar = "N",
      .def = "4096", .min = 1024, .max = 1000000, S_AT (queue_limit),
      .help = "requests in flight per worker before 32774" },
    { .name = "queue-bytes", .type = KVP_OPTS_BYTES, .metavar = "BYTES",
      .def = "64M", .min = 4 * S_MIB, .max = 64 * 1024 * S_MIB,
      S_AT (queue_bytes),
      .help = "request bytes in flight per worker before 32774" },
    { .name = "client-inflight", .type = KVP_OPTS_UINT, .metavar = "N",
      .def = "1024", .min = 1, .max = 1000000, S_AT (client_inflight),
      .help = "requests in flight per client before 32774" },
    { .name = "client-queue", .type = KVP_OPTS_BYTES, .metavar = "BYTES",
      .def = "64M", .min = S_MIB, .max = 16 * 1024 * S_MIB,
      S_AT (client_queue),
      .help = "replies a client has not read and requests it sent "
              "meanwhile, per client, past which its requests are "
              "discarded unread" },
    { .name = "clients-max", .type = KVP_OPTS_UINT, .metavar = "N",
      .def = "0", .min = 0, .max = 100000000, S_AT (clients_max),
      .help = "client and subscriber connections at once; one more is "
              "closed at once (0: the open-file limit less 64 and the "
              "files open at start, kept for workers)" },
    //  4 MiB + 64 KiB: the largest KVP/1 body plus room for its envelope
    { .name = "max-msg", .type = KVP_OPTS_UINT, .metavar = "BYTES",
      .def = "4259840", .min = 4 * S_MIB, .max = 1024 * S_MIB,
      S_AT (max_msg),
      .help = "transport cap (ZMQ_MAXMSGSIZE) on network-facing sockets" },
    { .name = "events-hwm", .type = KVP_OPTS_UINT, .metavar = "N",
      .def = "1000", .min = 1, .max = 100000000, S_AT (events_hwm),
      .help = "events queued per subscriber before it loses some (it can "
              "read them back with GetEvents)" },
    KVP_OPTS_METRICS (kvp_bconfig_t, metrics),
    { .name = "curve-secret", .type = KVP_OPTS_STRING, .metavar = "FILE",
      S_AT (curve_secret),
      .help = "the broker's secret certificate: CURVE on every endpoint "
              "(needs --clients-allow and --workers-allow)" },
    { .name = "clients-allow", .type = KVP_OPTS_STRING, .metavar = "DIR",
      S_AT (clients_allow),
      .help = "public certificates of the clients let in (metadata name "
              "and role)" },
    { .name = "workers-allow", .type = KVP_OPTS_STRING, .metavar = "DIR",
      S_AT (workers_allow),
      .help = "public certificates of the workers let in (metadata name: "
              "the worker id)" },
    { .name = "insecure", .type = KVP_OPTS_FLAG, S_AT (insecure),
      .help = "allow binding beyond loopback without --curve-secret" },
    KVP_LOG_OPTIONS (kvp_bconfig_t, log),
};
#define S_OPTIONS   KVP_OPTS_COUNT (s_options)

//  The checks across options, and what derives from them.
static int
s_finish (kvp_bconfig_t *self, char *error, size_t size)
{
    if (!self->min_insync)
        self->min_insync = self->replicas < 2 ? self->replicas : 2;
    self->replace_after_ms = self->replace_after_s * 1000;
    if (self->min_insync <= self->replicas)
        return KVP_BCONFIG_OK;
    snprintf (error, size, "--min-insync: %llu is more than --replicas "
              "%llu", (unsigned long long) self->min_insync,
              (unsigned long long) self->replicas);
    kvp_bconfig_release (self);
    return KVP_BCONFIG_ERROR;
}

void
kvp_bconfig_defaults (kvp_bconfig_t *self)
{
    memset (self, 0, sizeof *self);
    kvp_opts_defaults (s_options, S_OPTIONS, self);
    s_finish (self, NULL, 0);
}

int
kvp_bconfig_parse (kvp_bconfig_t *self, int argc, char *argv [],
                   char *error, size_t size)
{
    memset (self, 0, sizeof *self);
    int rc = kvp_opts_parse_file (s_options, S_OPTIONS, self, argc, argv,
                                  &self->file, error, size);
    return rc == KVP_BCONFIG_OK ? s_finish (self, error, size) : rc;
}

void
kvp_bconfig_release (kvp_bconfig_t *self)
{
    kvp_opts_file_destroy (&self->file);
}

void
kvp_bconfig_usage (FILE *out, const char *prog)
{
    fprintf (out, "usage: %s [options]\n\n"
             "Routes KVP/1 requests to the workers that own their partition "
             "and relays\ntheir events.\n\noptions:\n", prog);
    kvp_opts_usage (s_options, S_OPTIONS, out);
}
