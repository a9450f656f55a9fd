/*  main.c - bin/kvp-worker: serve a kvpbus broker's partitions from LMDB.

    Usage: kvp-worker --data DIR [--broker EP] [--events-in EP] [--id NAME]
    (--help for every option). Exit status: 0 after SIGTERM/SIGINT, 2 for a
    bad command line, a directory of another worker, a store it refuses to
    serve (a damaged log, another layout) or a fatal refusal by the broker,
    1 for any other failure.
*/
#include "kvp_config.h"
#include "kvp_fdlimit.h"
#include "kvp_worker.h"

#include <czmq.h>

int
main (int argc, char *argv [])
{
    kvp_config_t config;
    char error [256];
    int rc = kvp_config_parse (&config, argc, argv, error, sizeof error);
    if (rc == KVP_CONFIG_HELP) {
        kvp_config_usage (stdout, "kvp-worker");
        return 0;
    }
    if (rc != KVP_CONFIG_OK) {
        fprintf (stderr, "kvp-worker: %s (try --help)\n", error);
        return 2;
    }
    zsys_init ();
    zsys_set_logstream (stderr);
    zsys_set_logident ("kvp-worker");
    kvp_fdlimit_t fdlimit;
    kvp_fdlimit_raise (&fdlimit);
    int status;
    kvp_worker_t *worker = kvp_worker_new (&config, &status);
    if (!worker) {
        kvp_config_release (&config);
        return status;
    }
    char ident [128];
    snprintf (ident, sizeof ident, "kvp-worker %s", kvp_worker_id (worker));
    zsys_set_logident (ident);
    char limits [160];
    kvp_fdlimit_describe (&fdlimit, limits, sizeof limits);
    zsys_notice ("serving from %s (sync %s); %s", config.data,
                 config.nosync ? "none" : "full", limits);
    status = kvp_worker_run (worker);
    kvp_worker_destroy (&worker);
    kvp_config_release (&config);
    zsys_shutdown ();
    return status;
}
