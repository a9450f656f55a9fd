/*  test_log.c - the log (kvp_log): levels, text and JSON lines written
    here and read back by a JSON parser written here, nothing formatted
    past the level; then a real broker and worker with --log-format json
    and with --log-level error.
*/
#include <check.h>
#include "kvp_testkit.h"
#include <ctype.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "kvp_log.h"
#include "kvp_utf8.h"

//  --- a parser of one JSON object of strings and numbers ------------------

#define S_FIELDS_MAX    16
#define S_VALUE_MAX     2048

typedef struct {
    char key [S_FIELDS_MAX][32];
    char value [S_FIELDS_MAX][S_VALUE_MAX];     //  strings decoded
    bool is_str [S_FIELDS_MAX];
    size_t count;
} s_object_t;

//  Four hex digits at `p` into *code; false if they are not.
static bool
s_hex4 (const char *p, unsigned *code)
{
    *code = 0;
    for (int i = 0; i < 4; i++) {
        if (!isxdigit ((unsigned char) p [i]))
            return false;
        *code = *code * 16 + (unsigned) (isdigit ((unsigned char) p [i])
              ? p [i] - '0' : tolower ((unsigned char) p [i]) - 'a' + 10);
    }
    return true;
}

//  Append code point `code` as UTF-8; the lone surrogates U+DC80..U+DCFF
//  are the bytes 0x80..0xff they escape (kvp_json's surrogateescape).
static size_t
s_put_code (char *out, unsigned code)
{
    if (code >= 0xdc80 && code <= 0xdcff) {
        out [0] = (char) (code - 0xdc00);
        return 1;
    }
    if (code < 0x80) {
        out [0] = (char) code;
        return 1;
    }
    if (code < 0x800) {
        out [0] = (char) (0xc0 | code >> 6);
        out [1] = (char) (0x80 | (code & 0x3f));
        return 2;
    }
    out [0] = (char) (0xe0 | code >> 12);
    out [1] = (char) (0x80 | ((code >> 6) & 0x3f));
    out [2] = (char) (0x80 | (code & 0x3f));
    return 3;
}

//  A JSON string at *p (its quote) decoded into `out` (S_VALUE_MAX);
//  *p moves past it. False on anything JSON does not allow.
static bool
s_string (const char **p, char *out)
{
    const char *at = *p;
    size_t used = 0;
    if (*at++ != '"')
        return false;
    while (*at != '"') {
        if ((unsigned char) *at < 0x20 || used + 4 >= S_VALUE_MAX)
            return false;               //  raw control bytes, NUL too
        if (*at != '\\') {
            out [used++] = *at++;
            continue;
        }
        static const char escaped [] = "\"\\/bfnrt";
        static const char meant [] = "\"\\/\b\f\n\r\t";
        const char *plain = strchr (escaped, at [1]);
        unsigned code;
        if (at [1] == 'u' && s_hex4 (at + 2, &code)) {
            used += s_put_code (out + used, code);
            at += 6;
        }
        else
        if (at [1] && plain) {
            out [used++] = meant [plain - escaped];
            at += 2;
        }
        else
            return false;
    }
    out [used] = 0;
    *p = at + 1;
    return true;
}

//  `line` as one flat JSON object of string and number values, and
//  nothing after it.
static bool
s_parse (const char *line, s_object_t *obj)
{
    memset (obj, 0, sizeof *obj);
    const char *p = line;
    if (*p++ != '{')
        return false;
    while (obj->count < S_FIELDS_MAX) {
        char key [S_VALUE_MAX];
        size_t i = obj->count;
        if (!s_string (&p, key) || strlen (key) >= sizeof obj->key [i]
        ||  *p++ != ':')
            return false;
        strcpy (obj->key [i], key);
        obj->is_str [i] = *p == '"';
        if (obj->is_str [i] && !s_string (&p, obj->value [i]))
            return false;
        if (!obj->is_str [i]) {
            size_t len = strspn (p, "-0123456789.eE+");
            if (len == 0 || len >= S_VALUE_MAX)
                return false;
            snprintf (obj->value [i], S_VALUE_MAX, "%.*s", (int) len, p);
            p += len;
        }
        obj->count++;
        if (*p == '}')
            return p [1] == 0;
        if (*p++ != ',')
            return false;
    }
    return false;
}

//  The value of `key`, or NULL.
static const char *
s_get (const s_object_t *obj, const char *key)
{
    for (size_t i = 0; i < obj->count; i++)
        if (streq (obj->key [i], key))
            return obj->value [i];
    return NULL;
}

//  Check one JSON log line: valid UTF-8, one object, the six fields with
//  their types, a UTC time with milliseconds, a known level.
static void
s_check_line (const char *line, s_object_t *obj)
{
    ck_assert_msg (kvp_utf8_valid (line, strlen (line)), "not UTF-8: %s",
                   line);
    ck_assert_msg (s_parse (line, obj), "not a JSON object: %s", line);
    const char *str_fields [] = { "time", "level", "role", "id", "msg" };
    for (size_t i = 0; i < sizeof str_fields / sizeof str_fields [0]; i++)
        ck_assert_msg (s_get (obj, str_fields [i]), "no %s: %s",
                       str_fields [i], line);
    ck_assert_msg (s_get (obj, "pid") && atoi (s_get (obj, "pid")) > 0,
                   "no pid: %s", line);
    int y, mo, d, h, mi, s, ms;
    char z = 0;
    ck_assert_int_eq (sscanf (s_get (obj, "time"), "%4d-%2d-%2dT%2d:%2d:"
                              "%2d.%3d%c", &y, &mo, &d, &h, &mi, &s, &ms,
                              &z), 8);
    ck_assert_int_eq (z, 'Z');
    ck_assert_ptr_nonnull (strstr ("error warning notice info debug",
                                   s_get (obj, "level")));
}

//  --- helpers -----------------------------------------------------------

//  The whole file at `path` (the caller frees it); "" if absent.
static char *
s_slurp (const char *path)
{
    char *text = NULL;
    size_t size = 0;
    FILE *in = fopen (path, "r");
    if (!in || getdelim (&text, &size, 0, in) < 0) {
        free (text);
        text = strdup ("");
    }
    if (in)
        fclose (in);
    return text;
}

//  Start the log into "<root>/NAME" with `config`; its path into `path`.
static void
s_start (const char *name, const kvp_log_config_t *config, char *path)
{
    snprintf (path, 512, "%s/%s", tk_root (), name);
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge (fd, 0);
    ck_assert (kvp_log_start (config, "kvp-test", fd));
    close (fd);
}

//  One line at each level, the level's name in it.
static void
s_one_of_each (void)
{
    zsys_error ("line error");
    zsys_warning ("line warning");
    zsys_notice ("line notice");
    zsys_info ("line info");
    zsys_debug ("line debug");
}

//  Lines of `text`, and how many of them hold `word`.
static size_t
s_count (const char *text, const char *word, size_t *lines)
{
    size_t found = 0;
    *lines = 0;
    for (const char *at = text; *at; at = strchr (at, '\n') + 1) {
        const char *eol = strchr (at, '\n');
        ck_assert_ptr_nonnull (eol);        //  every line ends
        char *hit = strstr (at, word);
        found += hit && hit < eol;
        (*lines)++;
    }
    return found;
}

//  --- the module --------------------------------------------------------

START_TEST (test_json_lines)
{
    char path [512];
    kvp_log_config_t config = { .level = KVP_LOG_INFO,
                                .format = KVP_LOG_JSON };
    s_start ("json.log", &config, path);
    const char *tricky = "quote \" back \\ tab \t ctl \x01 del \x7f "
                         "utf-8 \xc3\xa9 bad \xff end";
    zsys_notice ("before the name");
    kvp_log_name ("w\"1");
    zsys_warning ("%s", tricky);
    zsys_warning ("first\nsecond");
    zsys_debug ("not written");
    kvp_log_stop ();
    char *text = s_slurp (path);
    size_t lines;
    ck_assert_uint_eq (s_count (text, "\"msg\"", &lines), 4);
    ck_assert_uint_eq (lines, 4);
    s_object_t obj;
    const char *at = text;
    const char *want [][4] = {
        //  level, id, msg; the id is the PID until named
        { "notice", "", "before the name" },
        { "warning", "w\"1", tricky },
        { "warning", "w\"1", "first" },
        { "warning", "w\"1", "second" },    //  the newline's rest
    };
    char pid [16];
    snprintf (pid, sizeof pid, "%d", (int) getpid ());
    for (size_t i = 0; i < lines; i++) {
        char line [4096];
        size_t len = strcspn (at, "\n");
        snprintf (line, sizeof line, "%.*s", (int) len, at);
        at += len + 1;
        s_check_line (line, &obj);
        ck_assert_str_eq (s_get (&obj, "level"), want [i][0]);
        ck_assert_str_eq (s_get (&obj, "role"), "kvp-test");
        ck_assert_str_eq (s_get (&obj, "id"), *want [i][1] ? want [i][1]
                                                           : pid);
        ck_assert_str_eq (s_get (&obj, "pid"), pid);
        ck_assert_str_eq (s_get (&obj, "msg"), want [i][2]);
    }
    free (text);
}
END_TEST

START_TEST (test_levels)
{
    for (unsigned level = KVP_LOG_ERROR; level <= KVP_LOG_DEBUG; level++) {
        char path [512], name [32];
        snprintf (name, sizeof name, "level%u.log", level);
        kvp_log_config_t config = { .level = level };
        s_start (name, &config, path);
        for (unsigned other = KVP_LOG_ERROR; other <= KVP_LOG_DEBUG; other++)
            ck_assert (kvp_log_on (other) == (other <= level));
        s_one_of_each ();
        kvp_log_stop ();
        char *text = s_slurp (path);
        size_t lines;
        const char *names [] = { "error", "warning", "notice", "info",
                                 "debug" };
        for (unsigned other = KVP_LOG_ERROR; other <= KVP_LOG_DEBUG; other++)
            ck_assert_msg (s_count (text, names [other], &lines)
                           == (other <= level), "level %u: %s", level, text);
        ck_assert_uint_eq (lines, level + 1);
        //  Text lines are zsys's own: letter, ident, date, text
        ck_assert_msg (strncmp (text, "E: (kvp-test) ", 14) == 0, "%s",
                       text);
        free (text);
    }
    //  --verbose is debug whatever the level says
    char path [512];
    kvp_log_config_t config = { .level = KVP_LOG_ERROR, .verbose = true };
    s_start ("verbose.log", &config, path);
    s_one_of_each ();
    kvp_log_stop ();
    char *text = s_slurp (path);
    size_t lines;
    ck_assert_uint_eq (s_count (text, "line debug", &lines), 1);
    ck_assert_uint_eq (lines, 5);
    free (text);
}
END_TEST

static int s_formatted;

static int
s_format (void)
{
    return ++s_formatted;
}

START_TEST (test_debug_not_formatted)
{
    char path [512];
    kvp_log_config_t config = { .level = KVP_LOG_INFO };
    s_start ("off.log", &config, path);
    KVP_DEBUG ("value %d", s_format ());
    kvp_log_stop ();
    ck_assert_int_eq (s_formatted, 0);
    config.level = KVP_LOG_DEBUG;
    s_start ("on.log", &config, path);
    KVP_DEBUG ("value %d", s_format ());
    kvp_log_stop ();
    ck_assert_int_eq (s_formatted, 1);
    char *text = s_slurp (path);
    ck_assert_ptr_nonnull (strstr (text, "value 1"));
    free (text);
}
END_TEST

//  --- the programs -------------------------------------------------------

//  Start a broker and one worker with `args` each, logging into the
//  test's folder; stop them (SIGTERM, exit 0); their logs into *broker
//  and *worker (the caller frees them). Sets the PIDs.
static void
s_run_cluster (const char *args, char **broker, char **worker,
               pid_t *pids)
{
    setenv ("KVP_TEST_LOGS", tk_root (), 1);
    tk_cluster_t *cluster = tk_cluster_new (1);
    cluster->broker_args = args;
    cluster->worker_args = args;
    ck_assert (tk_cluster_start (cluster));
    pids [0] = cluster->broker;
    pids [1] = cluster->workers [0];
    ck_assert_int_eq (tk_stop (cluster->workers [0], SIGTERM, 10000), 0);
    cluster->workers [0] = 0;
    ck_assert_int_eq (tk_stop (cluster->broker, SIGTERM, 10000), 0);
    cluster->broker = 0;
    tk_cluster_destroy (&cluster);
    char path [512];
    snprintf (path, sizeof path, "%s/broker.log", tk_root ());
    *broker = s_slurp (path);
    snprintf (path, sizeof path, "%s/w0.log", tk_root ());
    *worker = s_slurp (path);
}

//  Every line of `text` a JSON log line of `role` and `pid`; returns how
//  many hold `word` in their msg. The worker's are named "w0" once named.
static size_t
s_check_program (const char *text, const char *role, pid_t pid,
                 const char *word)
{
    size_t found = 0, lines = 0;
    char want_pid [16];
    snprintf (want_pid, sizeof want_pid, "%d", (int) pid);
    for (const char *at = text; *at; lines++) {
        char line [4096];
        size_t len = strcspn (at, "\n");
        ck_assert (at [len] == '\n' && len < sizeof line);
        snprintf (line, sizeof line, "%.*s", (int) len, at);
        at += len + 1;
        s_object_t obj;
        s_check_line (line, &obj);
        ck_assert_str_eq (s_get (&obj, "role"), role);
        ck_assert_str_eq (s_get (&obj, "pid"), want_pid);
        ck_assert (streq (s_get (&obj, "id"), want_pid)
                || streq (s_get (&obj, "id"), "w0"));
        found += strstr (s_get (&obj, "msg"), word) != NULL;
    }
    ck_assert_uint_ge (lines, 2);
    return found;
}

//  The rate limit the broker's warnings share: the first line passes, the
//  next within the period are held back and counted into the one after.
START_TEST (test_limit)
{
    kvp_log_limit_t limit = { 0 };
    uint64_t held = 99;
    ck_assert (kvp_log_limit (&limit, 200, &held));
    ck_assert_uint_eq (held, 0);
    for (int i = 0; i < 5; i++)
        ck_assert (!kvp_log_limit (&limit, 200, &held));
    zclock_sleep (250);
    ck_assert (kvp_log_limit (&limit, 200, &held));
    ck_assert_uint_eq (held, 5);
    ck_assert (!kvp_log_limit (&limit, 200, &held));
}
END_TEST

START_TEST (test_programs_json)
{
    char *broker, *worker;
    pid_t pids [2];
    s_run_cluster ("--log-format json", &broker, &worker, pids);
    ck_assert_uint_eq (s_check_program (broker, "kvp-broker", pids [0],
                                        "worker w0 registered"), 1);
    ck_assert_uint_eq (s_check_program (worker, "kvp-worker", pids [1],
                                        "registered:"), 1);
    free (broker);
    free (worker);
    //  The guest has the same options
    char usage [8192];
    ck_assert_int_eq (tk_run (usage, sizeof usage, "kvp-guest", "--help",
                              NULL), 0);
    ck_assert_ptr_nonnull (strstr (usage, "--log-format text|json"));
    ck_assert_ptr_nonnull (strstr (usage, "--log-level LEVEL"));
}
END_TEST

START_TEST (test_programs_quiet)
{
    //  At the default level the start-up notices are there ...
    char *broker, *worker;
    pid_t pids [2];
    s_run_cluster (NULL, &broker, &worker, pids);
    ck_assert_ptr_nonnull (strstr (broker, "N: (kvp-broker) "));
    ck_assert_ptr_nonnull (strstr (broker, "partitions, registry"));
    ck_assert_ptr_nonnull (strstr (worker, "registered:"));
    free (broker);
    free (worker);
    //  ... and with --log-level error no line but errors is
    char path [512];
    snprintf (path, sizeof path, "%s/broker.log", tk_root ());
    unlink (path);
    snprintf (path, sizeof path, "%s/w0.log", tk_root ());
    unlink (path);
    s_run_cluster ("--log-level error", &broker, &worker, pids);
    const char *texts [] = { broker, worker };
    for (size_t i = 0; i < 2; i++) {
        size_t lines, errors = s_count (texts [i], "E: (", &lines);
        ck_assert_msg (errors == lines, "more than errors: %s", texts [i]);
    }
    ck_assert_ptr_null (strstr (broker, "partitions, registry"));
    ck_assert_ptr_null (strstr (worker, "registered:"));
    free (broker);
    free (worker);
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("log");
    TCase *tc = tcase_create ("module");
    tcase_add_checked_fixture (tc, tk_root_setup, tk_root_teardown);
    tcase_add_test (tc, test_json_lines);
    tcase_add_test (tc, test_levels);
    tcase_add_test (tc, test_debug_not_formatted);
    tcase_add_test (tc, test_limit);
    suite_add_tcase (suite, tc);
    tc = tcase_create ("programs");
    tcase_add_checked_fixture (tc, tk_root_setup, tk_root_teardown);
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc, test_programs_json);
    tcase_add_test (tc, test_programs_quiet);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
