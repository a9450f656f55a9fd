/*  test_config.c - the worker's command line (kvp_config), and the
    option files of both programs (--config, deploy/kvp-*.cfg).
*/
#include <check.h>
#include "kvp_testkit.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kvp_config.h"
#include "kvp_bconfig.h"

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
    ck_assert_ptr_null (c.zone);
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
    ck_assert (!c.log.verbose);
    ck_assert_uint_eq (c.log.level, KVP_LOG_INFO);
    ck_assert_uint_eq (c.log.format, KVP_LOG_TEXT);
}
END_TEST

START_TEST (test_both_forms)
{
    kvp_config_t c;
    char error [256];
    ck_assert_int_eq (s_parse (&c, error, sizeof error, "--data=/x",
        "--broker", "tcp://127.0.0.1:7001", "--events-in=tcp://127.0.0.1:7002",
        "--id=w1", "--zone", "rack 3", "--sync", "none", "--map-size=2M",
        "--map-max", "1g",
        "--retention=60", "--heartbeat", "250", "--liveness=5", "--batch",
        "8", "--verbose", "--log-level=warning", "--log-format", "json",
        NULL), KVP_CONFIG_OK);
    ck_assert_str_eq (c.data, "/x");
    ck_assert_str_eq (c.broker, "tcp://127.0.0.1:7001");
    ck_assert_str_eq (c.events_in, "tcp://127.0.0.1:7002");
    ck_assert_str_eq (c.id, "w1");
    ck_assert_str_eq (c.zone, "rack 3");
    ck_assert (c.nosync);
    ck_assert_int_eq (c.map_size, 2 * 1024 * 1024);
    ck_assert_int_eq (c.map_max, 1024 * 1024 * 1024);
    ck_assert_int_eq (c.retention_s, 60);
    ck_assert_int_eq (c.heartbeat_ms, 250);
    ck_assert_int_eq (c.liveness, 5);
    ck_assert_int_eq (c.batch, 8);
    ck_assert (c.log.verbose);
    ck_assert_uint_eq (c.log.level, KVP_LOG_WARNING);
    ck_assert_uint_eq (c.log.format, KVP_LOG_JSON);
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
        "--log-level LEVEL", "--log-format text|json",
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
        { { "--data", "/x", "--zone", "tab\there" }, "not a zone name" },
        { { "--data", "/x", "--zone=z234567890123456789012345678901234567890"
            "1234567890123456789012345" }, "not a zone name" },
        { { "--data", "/x", "--zone=" }, "--zone" },
        { { "--data", "/x", "--verbose=1" }, "--verbose" },
        { { "--data", "/x", "--log-level", "loud" }, "--log-level" },
        { { "--data", "/x", "--log-format=xml" }, "text|json" },
        { { "--data", "/x", "stray" }, "stray" },
        { { "--data=" }, "--data" },
        { { "--data", "/x", "--checkpoint-ms", "0" }, "--checkpoint-ms" },
        { { "--data", "/x", "--wal-segment-size=1k" }, "--wal-segment-size" },
        { { "--data", "/x", "--metrics", "127.0.0.1" }, "HOST:PORT" },
        { { "--data", "/x", "--metrics", ":9" }, "HOST:PORT" },
        { { "--data", "/x", "--metrics", "h:70000" }, "HOST:PORT" },
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

//  Write `text` to "<root>/<name>"; the path into `path` (512 bytes).
static void
s_write (char *path, const char *name, const char *text)
{
    snprintf (path, 512, "%s/%s", tk_root (), name);
    FILE *out = fopen (path, "w");
    ck_assert_ptr_nonnull (out);
    fputs (text, out);
    fclose (out);
}

START_TEST (test_file)
{
    char path [512];
    s_write (path, "w.cfg", "data = \"/srv/w\"\nbatch = 16\nsync = none\n"
                            "verbose = true\nmetrics = \"127.0.0.1:9\"\n"
                            "log-format = json\n");
    kvp_config_t c;
    char error [256];
    ck_assert_int_eq (s_parse (&c, error, sizeof error, "--config", path,
                               "--batch", "32", NULL), KVP_CONFIG_OK);
    ck_assert_str_eq (c.data, "/srv/w");
    ck_assert_uint_eq (c.batch, 32);            //  the flag wins
    ck_assert (c.nosync);
    ck_assert (c.log.verbose);
    ck_assert_uint_eq (c.log.format, KVP_LOG_JSON);
    ck_assert_str_eq (c.metrics, "127.0.0.1:9");
    ck_assert_uint_eq (c.heartbeat_ms, 1000);   //  untouched: the default
    kvp_config_release (&c);
    kvp_config_release (&c);
    ck_assert_ptr_null (c.file);
    //  Errors name the file and line; nothing is kept
    s_write (path, "bad.cfg", "data = \"/srv/w\"\n\nbatch = 5000\n");
    ck_assert_int_eq (s_parse (&c, error, sizeof error, "--config", path,
                               NULL), KVP_CONFIG_ERROR);
    ck_assert_ptr_null (c.file);
    char want [600];
    snprintf (want, sizeof want, "%s:3: --batch", path);
    ck_assert_msg (strncmp (error, want, strlen (want)) == 0, "%s", error);
    //  --data may come from neither: still refused, file released
    s_write (path, "nodata.cfg", "batch = 5\n");
    ck_assert_int_eq (s_parse (&c, error, sizeof error, "--config", path,
                               NULL), KVP_CONFIG_ERROR);
    ck_assert_ptr_null (c.file);
    ck_assert_str_eq (error, "--data DIR is required");
}
END_TEST

//  One option as --help shows it: its name and default ("" if none).
typedef struct {
    char name [64];
    char def [128];
    bool flag;
} s_shown_t;

//  The options of a usage text, --config and --help left out.
static size_t
s_shown (const char *usage, s_shown_t *shown, size_t max)
{
    size_t n = 0;
    for (const char *at = strstr (usage, "\n  --"); at && n < max;
         at = strstr (at + 1, "\n  --")) {
        s_shown_t *opt = &shown [n];
        memset (opt, 0, sizeof *opt);
        sscanf (at + 5, "%63[a-z-]", opt->name);
        const char *eol = strchr (at + 1, '\n');
        const char *def = strstr (at, "[default ");
        if (def && (!eol || def < eol))
            sscanf (def + 9, "%127[^]]", opt->def);
        opt->flag = at [5 + strlen (opt->name)] == ' '
                 && at [6 + strlen (opt->name)] == ' ';
        if (strcmp (opt->name, "config") && strcmp (opt->name, "help"))
            n++;
    }
    return n;
}

//  The value of "#name = value" in `text` (quotes removed) into `value`;
//  false if the file has no such line.
static bool
s_listed (const char *text, const char *name, char *value, size_t size)
{
    char key [80];
    snprintf (key, sizeof key, "\n#%s = ", name);
    const char *at = strstr (text, key);
    if (!at)
        return false;
    at += strlen (key);
    size_t len = strcspn (at, "\n");
    if (*at == '"' && len >= 2) {
        at++;
        len -= 2;
    }
    snprintf (value, size, "%.*s", (int) len, at);
    return true;
}

//  A shipped file with every "#name = value" line whose option has a
//  default made live, written into `path`.
static void
s_live_copy (const char *text, const s_shown_t *shown, size_t count,
             char *path)
{
    char *live = NULL;
    size_t len = 0;
    FILE *out = open_memstream (&live, &len);
    for (size_t i = 0; i < count; i++) {
        char value [128];
        if ((shown [i].def [0] || shown [i].flag)
        &&  s_listed (text, shown [i].name, value, sizeof value))
            fprintf (out, "%s = \"%s\"\n", shown [i].name, value);
    }
    fclose (out);
    s_write (path, "live.cfg", live);
    free (live);
}

//  Check a shipped file against a program's usage text: every option
//  listed, with its default; makes the live copy into `path`.
static void
s_check_shipped (const char *file, const char *usage, char *path)
{
    char *text = NULL;
    size_t len = 0;
    FILE *in = fopen (file, "r");
    ck_assert_msg (in != NULL, "cannot open %s", file);
    ck_assert_int_eq (getdelim (&text, &len, 0, in) > 0, 1);
    fclose (in);
    s_shown_t shown [40];
    size_t count = s_shown (usage, shown, 40);
    ck_assert_uint_ge (count, 10);
    for (size_t i = 0; i < count; i++) {
        char value [128];
        ck_assert_msg (s_listed (text, shown [i].name, value, sizeof value),
                       "%s lacks \"#%s = \"", file, shown [i].name);
        if (shown [i].def [0])
            ck_assert_msg (streq (value, shown [i].def), "%s: %s = %s, but "
                           "its default is %s", file, shown [i].name, value,
                           shown [i].def);
        if (shown [i].flag)
            ck_assert_str_eq (value, "false");
    }
    s_live_copy (text, shown, count, path);
    free (text);
}

//  The usage text of kvp_config_usage or kvp_bconfig_usage.
static char *
s_usage (bool broker)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream (&text, &len);
    if (broker)
        kvp_bconfig_usage (out, "kvp-broker");
    else
        kvp_config_usage (out, "kvp-worker");
    fclose (out);
    return text;
}

#define S_SAME_U(a, b, f)   ck_assert_uint_eq ((a).f, (b).f)
#define S_SAME_S(a, b, f)   ck_assert_msg (((a).f == NULL) == ((b).f == NULL) \
    && (!(a).f || streq ((a).f, (b).f)), "%s differs", #f)

START_TEST (test_shipped_worker)
{
    char path [512], error [256];
    char *usage = s_usage (false);
    s_check_shipped ("deploy/kvp-worker.cfg", usage, path);
    free (usage);
    kvp_config_t a, b;
    ck_assert_int_eq (s_parse (&a, error, sizeof error, "--data", "/d",
                               NULL), KVP_CONFIG_OK);
    ck_assert_int_eq (s_parse (&b, error, sizeof error, "--data", "/d",
                               "--config", path, NULL), KVP_CONFIG_OK);
    ck_assert_ptr_nonnull (b.file);
    S_SAME_S (a, b, broker); S_SAME_S (a, b, events_in);
    S_SAME_S (a, b, id); S_SAME_S (a, b, zone); S_SAME_U (a, b, nosync);
    S_SAME_U (a, b, map_size); S_SAME_U (a, b, map_max);
    S_SAME_U (a, b, checkpoint_ms); S_SAME_U (a, b, checkpoint_ops);
    S_SAME_S (a, b, checkpoint_log); S_SAME_U (a, b, wal_segment);
    S_SAME_U (a, b, backlog_max); S_SAME_U (a, b, retention_s);
    S_SAME_U (a, b, heartbeat_ms); S_SAME_U (a, b, liveness);
    S_SAME_U (a, b, batch); S_SAME_S (a, b, metrics);
    S_SAME_U (a, b, log.level); S_SAME_U (a, b, log.format);
    S_SAME_U (a, b, log.verbose);
    kvp_config_release (&b);
    //  As shipped (all commented out) it parses too
    ck_assert_int_eq (s_parse (&b, error, sizeof error, "--data", "/d",
        "--config", "deploy/kvp-worker.cfg", NULL), KVP_CONFIG_OK);
    kvp_config_release (&b);
}
END_TEST

START_TEST (test_shipped_broker)
{
    char path [512], error [256];
    char *usage = s_usage (true);
    s_check_shipped ("deploy/kvp-broker.cfg", usage, path);
    free (usage);
    kvp_bconfig_t a, b;
    char *plain [] = { "kvp-broker", NULL };
    char *filed [] = { "kvp-broker", "--config", path, NULL };
    ck_assert_int_eq (kvp_bconfig_parse (&a, 1, plain, error, sizeof error),
                      KVP_BCONFIG_OK);
    ck_assert_int_eq (kvp_bconfig_parse (&b, 3, filed, error, sizeof error),
                      KVP_BCONFIG_OK);
    ck_assert_ptr_nonnull (b.file);
    S_SAME_S (a, b, data); S_SAME_S (a, b, clients);
    S_SAME_S (a, b, workers); S_SAME_S (a, b, events_in);
    S_SAME_S (a, b, events); S_SAME_U (a, b, partitions);
    S_SAME_U (a, b, heartbeat_ms); S_SAME_U (a, b, liveness);
    S_SAME_U (a, b, deadline_ms); S_SAME_U (a, b, queue_limit);
    S_SAME_U (a, b, queue_bytes); S_SAME_U (a, b, client_inflight);
    S_SAME_U (a, b, client_queue); S_SAME_U (a, b, clients_max);
    S_SAME_U (a, b, max_msg); S_SAME_U (a, b, events_hwm);
    S_SAME_U (a, b, replicas); S_SAME_U (a, b, min_insync);
    S_SAME_U (a, b, replace_after_s);
    S_SAME_S (a, b, metrics); S_SAME_U (a, b, log.level);
    S_SAME_U (a, b, log.format);
    S_SAME_U (a, b, log.verbose);
    kvp_bconfig_release (&b);
    //  A file value, then a flag over it; a bad key is refused
    s_write (path, "b.cfg", "partitions = 8\nliveness = 4\nbogus = 1\n");
    ck_assert_int_eq (kvp_bconfig_parse (&b, 3, filed, error, sizeof error),
                      KVP_BCONFIG_ERROR);
    ck_assert_ptr_nonnull (strstr (error, "b.cfg:3: unknown option"));
    s_write (path, "b.cfg", "partitions = 8\nliveness = 4\n");
    char *over [] = { "kvp-broker", "--config", path, "--liveness=5", NULL };
    ck_assert_int_eq (kvp_bconfig_parse (&b, 4, over, error, sizeof error),
                      KVP_BCONFIG_OK);
    ck_assert_uint_eq (b.partitions, 8);
    ck_assert_uint_eq (b.liveness, 5);
    kvp_bconfig_release (&b);
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
    tc = tcase_create ("file");
    tcase_add_checked_fixture (tc, tk_root_setup, tk_root_teardown);
    tcase_add_test (tc, test_file);
    tcase_add_test (tc, test_shipped_worker);
    tcase_add_test (tc, test_shipped_broker);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
