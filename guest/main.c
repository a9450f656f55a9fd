/*  main.c - bin/kvp-guest: keep a guest's Hyper-V pool file (.kvp_pool_0)
    equal to its system's Source 0 items in a kvpbus cluster.

    Usage: kvp-guest --system GUID [--pool-dir DIR] [--position FILE]
    [--broker EP] [--events EP] (--help for every option). Exit status: 0
    after SIGTERM/SIGINT, 2 for a bad command line, 1 for any other
    failure.
*/
#include "kvp_guest.h"

#include <czmq.h>
#include <unistd.h>
#include "kvp_opts.h"
#include "kvp_curve.h"

static const kvp_opts_option_t s_options [] = {
    { .name = "system", .type = KVP_OPTS_STRING, .metavar = "GUID",
      KVP_OPTS_FIELD (kvp_guest_config_t, system),
      .help = "the guest's system: a GUID or a WMI path (required)" },
    { .name = "pool-dir", .type = KVP_OPTS_STRING, .metavar = "DIR",
      .def = "/var/lib/hyperv", KVP_OPTS_FIELD (kvp_guest_config_t, pool_dir),
      .help = "folder of the pool file .kvp_pool_0 (created if missing)" },
    { .name = "position", .type = KVP_OPTS_STRING, .metavar = "FILE",
      KVP_OPTS_FIELD (kvp_guest_config_t, position),
      .help = "keep the event position here, to resume after a restart" },
    { .name = "broker", .type = KVP_OPTS_STRING, .metavar = "EP",
      .def = "tcp://127.0.0.1:5555", KVP_OPTS_FIELD (kvp_guest_config_t, broker),
      .help = "the broker's clients endpoint (EP1,EP2,...: several, any "
              "one of them connected serves)" },
    { .name = "events", .type = KVP_OPTS_STRING, .metavar = "EP",
      .def = "tcp://127.0.0.1:5558", KVP_OPTS_FIELD (kvp_guest_config_t, events),
      .help = "the broker's events endpoint (a list, as --broker)" },
    { .name = "timeout-ms", .type = KVP_OPTS_UINT, .metavar = "MS",
      .def = "3000", .min = 100, .max = 600000,
      KVP_OPTS_FIELD (kvp_guest_config_t, timeout_ms),
      .help = "wait this long for a reply before asking again" },
    { .name = "resync-ms", .type = KVP_OPTS_UINT, .metavar = "MS",
      .def = "10000", .min = 100, .max = 86400000,
      KVP_OPTS_FIELD (kvp_guest_config_t, resync_ms),
      .help = "read every item again this often (a destroyed system empties the file)" },
    { .name = "curve-secret", .type = KVP_OPTS_STRING, .metavar = "FILE",
      KVP_OPTS_FIELD (kvp_guest_config_t, curve_secret),
      .help = "our secret certificate (a reader key), for a secured "
              "cluster (default $" KVP_CURVE_ENV_SECRET ")" },
    { .name = "broker-public", .type = KVP_OPTS_STRING, .metavar = "FILE",
      KVP_OPTS_FIELD (kvp_guest_config_t, broker_public),
      .help = "the broker's public certificate (default $"
              KVP_CURVE_ENV_BROKER ")" },
    KVP_LOG_OPTIONS (kvp_guest_config_t, log),
};

static void
s_usage (FILE *out)
{
    fprintf (out, "usage: kvp-guest --system GUID [options]\n\n"
             "Keeps DIR/.kvp_pool_0 equal to the system's Source 0 items,"
             " in the record\nlayout of Linux's hv_kvp_daemon.\n\n"
             "options:\n");
    kvp_opts_usage (s_options, KVP_OPTS_COUNT (s_options), out);
}

int
main (int argc, char *argv [])
{
    kvp_guest_config_t config;
    char error [256];
    int rc = kvp_opts_parse (s_options, KVP_OPTS_COUNT (s_options), &config,
                             argc, argv, error, sizeof error);
    if (rc == KVP_OPTS_OK && !config.system) {
        snprintf (error, sizeof error, "--system is required");
        rc = KVP_OPTS_ERROR;
    }
    kvp_curve_t *curve = NULL;
    if (rc == KVP_OPTS_OK
    &&  !kvp_curve_for_client (config.curve_secret, config.broker_public,
                               &curve, error, sizeof error))
        rc = KVP_OPTS_ERROR;
    config.curve = curve;
    if (rc == KVP_OPTS_HELP) {
        s_usage (stdout);
        return 0;
    }
    if (rc != KVP_OPTS_OK) {
        fprintf (stderr, "kvp-guest: %s (try --help)\n", error);
        return 2;
    }
    if (!kvp_log_start (&config.log, "kvp-guest", STDERR_FILENO))
        return 1;
    char ident [40];
    snprintf (ident, sizeof ident, "%.36s", config.system);
    kvp_log_name (ident);
    kvp_guest_t *guest = kvp_guest_new (&config);
    if (!guest) {
        kvp_curve_destroy (&curve);
        zsys_shutdown ();
        return 1;
    }
    zsys_notice ("keeping %s/.kvp_pool_0", config.pool_dir);
    rc = kvp_guest_run (guest);
    kvp_guest_destroy (&guest);
    kvp_curve_destroy (&curve);
    zsys_shutdown ();
    return rc;
}
