/*  test_config.c - the worker's command line (kvp_config).
*/
#include <check.h>
#include "kvp_testkit.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kvp_config.h"

//  Parse a NULL-terminated list of arguments (argv[0] is added).
static int
s_parse (kvp_config_t *config, char *error, size_t size, ...)
{
    char *argv [32];
    va_list args;
    va_start (args, size);
    int argc = tk_argv (argv, 32, "kvp-worker", args);
    va_end (args);
    return kvp_config_parse (config, argc, argv, error, size);
}

START_TEST (test_defaults)
{
    kvp_config_t c;
    char error [256];
    ck_assert_int_eq (s_parse (&c, error, sizeof error, "--data", "/tmp/d",
                               NULL), KVP_CONFIG_OK);
    ck_assert_str_eq (c.data, "/tmp/d");
    ck_assert_str_eq (c.broker, "tcp://127.0.0.1:5556");
    ck_assert_str_eq (c.events_in, "tcp://127.0.0.1:5557");
    ck_assert_ptr_null (c.id);
    ck_assert (!c.nosync);
    ck_assert_int_eq (c.map_size, 16ULL << 30);
    ck_assert_int_eq (c.map_max, 0);
    ck_assert_int_eq (c.checkpoint_ms, 100);
    ck_assert_int_eq (c.checkpoint_ops, 10000);
    ck_assert_ptr_null (c.checkpoint_log);
    ck_assert_int_eq (c.wal_segment, 64 << 20);
    ck_assert_int_eq (c.retention_s, 86400);
    ck_assert_int_eq (c.heartbeat_ms, 1000);
    ck_assert_int_eq (c.liveness, 3);
    ck_assert_int_eq (c.batch, 256);
    ck_assert (!c.verbose);
}
END_TEST

START_TEST (test_both_forms)
{
    kvp_config_t c;
    char error [256];
    ck_assert_int_eq (s_parse (&c, error, sizeof error, "--data=/x",
        "--broker", "tcp://127.0.0.1:7001", "--events-in=tcp://127.0.0.1:7002",
        "--id=w1", "--sync", "none", "--map-size=2M", "--map-max", "1g",
        "--retention=60", "--heartbeat", "250", "--liveness=5", "--batch",
        "8", "--verbose", NULL), KVP_CONFIG_OK);
    ck_assert_str_eq (c.data, "/x");
    ck_assert_str_eq (c.broker, "tcp://127.0.0.1:7001");
    ck_assert_str_eq (c.events_in, "tcp://127.0.0.1:7002");
    ck_assert_str_eq (c.id, "w1");
    ck_assert (c.nosync);
    ck_assert_int_eq (c.map_size, 2 * 1024 * 1024);
    ck_assert_int_eq (c.map_max, 1024 * 1024 * 1024);
    ck_assert_int_eq (c.retention_s, 60);
    ck_assert_int_eq (c.heartbeat_ms, 250);
    ck_assert_int_eq (c.liveness, 5);
    ck_assert_int_eq (c.batch, 8);
    ck_assert (c.verbose);
}
END_TEST

START_TEST (test_help)
{
    kvp_config_t c;
    char error [256];
    ck_assert_int_eq (s_parse (&c, error, sizeof error, "--help", NULL),
                      KVP_CONFIG_HELP);
    //  --help wins even with other flags or without --data.
    ck_assert_int_eq (s_parse (&c, error, sizeof error, "--batch", "9",
                               "--help", NULL), KVP_CONFIG_HELP);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream (&text, &len);
    kvp_config_usage (out, "kvp-worker");
    fclose (out);
    const char *flags [] = { "--data DIR", "--broker EP", "--events-in EP",
        "--id NAME", "--sync", "--map-size", "--map-max", "--retention",
        "--heartbeat", "--liveness", "--batch", "--verbose", "--help",
        "tcp://127.0.0.1:5556", "86400" };
    for (size_t i = 0; i < sizeof flags / sizeof flags [0]; i++)
        ck_assert_msg (strstr (text, flags [i]), "usage lacks %s", flags [i]);
    free (text);
}
END_TEST

START_TEST (test_errors)
{
    kvp_config_t c;
    char error [256];
    //  Each bad command line, and a word the reason must contain.
    const struct { const char *args [4]; const char *reason; } bad [] = {
        { { "--broker", "tcp://127.0.0.1:1" }, "--data" },
        { { "--data", "/x", "--bogus" }, "--bogus" },
        { { "--data", "/x", "--batch" }, "--batch" },
        { { "--data", "/x", "--batch", "0" }, "--batch" },
        { { "--data", "/x", "--batch", "4097" }, "--batch" },
        { { "--data", "/x", "--heartbeat=-5" }, "--heartbeat" },
        { { "--data", "/x", "--liveness=3x" }, "--liveness" },
        { { "--data", "/x", "--sync", "fast" }, "--sync" },
        { { "--data", "/x", "--map-size=12Q" }, "--map-size" },
        { { "--data", "/x", "--id", "has space" }, "--id" },
        { { "--data", "/x", "--verbose=1" }, "--verbose" },
        { { "--data", "/x", "stray" }, "stray" },
        { { "--data=" }, "--data" },
        { { "--data", "/x", "--checkpoint-ms", "0" }, "--checkpoint-ms" },
        { { "--data", "/x", "--wal-segment-size=1k" }, "--wal-segment-size" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        char *argv [6] = { "kvp-worker" };
        int argc = 1;
        for (int j = 0; j < 4 && bad [i].args [j]; j++)
            argv [argc++] = (char *) bad [i].args [j];
        ck_assert_int_eq (kvp_config_parse (&c, argc, argv, error,
                                            sizeof error), KVP_CONFIG_ERROR);
        ck_assert_msg (strstr (error, bad [i].reason), "case %zu: \"%s\"",
                       i, error);
    }
}
END_TEST

START_TEST (test_valid_id)
{
    ck_assert (kvp_config_valid_id ("w1"));
    ck_assert (kvp_config_valid_id ("w-0a1b2c3d"));
    ck_assert (kvp_config_valid_id ("rack1:node_2.x"));
    ck_assert (!kvp_config_valid_id (""));
    ck_assert (!kvp_config_valid_id ("a/b"));
    char longest [66];
    memset (longest, 'a', 65);
    longest [65] = 0;
    ck_assert (!kvp_config_valid_id (longest));
    longest [64] = 0;
    ck_assert (kvp_config_valid_id (longest));
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("config");
    TCase *tc = tcase_create ("worker");
    tcase_add_test (tc, test_defaults);
    tcase_add_test (tc, test_both_forms);
    tcase_add_test (tc, test_help);
    tcase_add_test (tc, test_errors);
    tcase_add_test (tc, test_valid_id);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
