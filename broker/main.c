/*  main.c - bin/kvp-broker: parse the command line, run the broker.

    Exit codes: 0 after a clean stop (SIGINT/SIGTERM) or --help; 1 when it
    cannot start (a port in use, a folder it cannot make); 2 for a bad
    flag or value, or a registry made with another --partitions,
    --replicas or --min-insync.
*/
#include <czmq.h>
#include <unistd.h>
#include "kvp_bconfig.h"
#include "kvp_broker.h"

int
main (int argc, char *argv [])
{
    kvp_bconfig_t config;
    char error [256];
    int rc = kvp_bconfig_parse (&config, argc, argv, error, sizeof error);
    if (rc == KVP_BCONFIG_HELP) {
        kvp_bconfig_usage (stdout, "kvp-broker");
        return 0;
    }
    if (rc == KVP_BCONFIG_ERROR) {
        fprintf (stderr, "kvp-broker: %s (see --help)\n", error);
        return 2;
    }
    //  Logs go to stderr: stdout is for --help only
    int exit_code = 1;
    if (!kvp_log_start (&config.log, "kvp-broker", STDERR_FILENO)) {
        kvp_bconfig_release (&config);
        return exit_code;
    }
    kvp_broker_t *broker = kvp_broker_new (&config, &exit_code);
    if (broker) {
        kvp_broker_run (broker);
        kvp_broker_destroy (&broker);
        exit_code = 0;
    }
    kvp_bconfig_release (&config);
    return exit_code;
}
