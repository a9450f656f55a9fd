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
#include <unistd.h>

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
    int status = 1;
    kvp_worker_t *worker = NULL;
    kvp_fdlimit_t fdlimit;
    if (kvp_log_start (&config.log, "kvp-worker", STDERR_FILENO)) {
        kvp_fdlimit_raise (&fdlimit);
        worker = kvp_worker_new (&config, &status);
    }
    if (!worker) {
        kvp_config_release (&config);
        return status;
    }
    kvp_log_name (kvp_worker_id (worker));
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
