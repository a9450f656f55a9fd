/*  test_opts.c - the generic command-line parser (kvp_opts) over a table
    that uses every option type and field type.
*/
#include <check.h>
#include "kvp_testkit.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kvp_opts.h"
#include <unistd.h>

typedef struct {
    const char *name;           //  STRING with a default
    char *path;                 //  STRING without one (NULL)
    const char *tag;            //  STRING with a check
    uint64_t count;             //  UINT 1..100
    int small;                  //  UINT into an int
    unsigned medium;            //  UINT into an unsigned
    unsigned long long big;     //  UINT into an unsigned long long
    uint64_t size;              //  BYTES 1K..1T
    bool quiet;                 //  FLAG
    int level;                  //  CHOICE into an int
    bool fast;                  //  CHOICE into a bool
    int untouched;              //  not in the table
    const char *config;         //  CONFIG (in s_ftable only)
} s_config_t;

//  --tag: lower-case letters only.
static bool
s_check_tag (const char *value, char *reason, size_t size)
{
    for (const char *p = value; *p; p++)
        if (*p < 'a' || *p > 'z') {
            snprintf (reason, size, "has a '%c' (a-z only)", *p);
            return false;
        }
    return true;
}

static const kvp_opts_choice_t s_levels [] = {
    { "low", 1 }, { "mid", 5 }, { "high", 9 }, { NULL, 0 }
};
static const kvp_opts_choice_t s_speeds [] = {
    { "safe", 0 }, { "fast", 1 }, { NULL, 0 }
};

#define S_AT(field) KVP_OPTS_FIELD (s_config_t, field)

static const kvp_opts_option_t s_table [] = {
    { .name = "name", .type = KVP_OPTS_STRING, .metavar = "TEXT",
      .def = "anon", S_AT (name), .help = "a name" },
    { .name = "path", .type = KVP_OPTS_STRING, .metavar = "DIR",
      S_AT (path), .help = "a folder" },
    { .name = "tag", .type = KVP_OPTS_STRING, .check = s_check_tag,
      S_AT (tag), .help = "a tag" },
    { .name = "count", .type = KVP_OPTS_UINT, .metavar = "N", .def = "7",
      .min = 1, .max = 100, S_AT (count), .help = "how many" },
    { .name = "small", .type = KVP_OPTS_UINT, .def = "0", .min = 0,
      .max = 1000, S_AT (small), .help = "an int" },
    { .name = "medium", .type = KVP_OPTS_UINT, .min = 0, .max = 4000000000u,
      S_AT (medium), .help = "an unsigned" },
    { .name = "big", .type = KVP_OPTS_UINT, .min = 0, .max = UINT64_MAX,
      S_AT (big), .help = "an unsigned long long" },
    { .name = "size", .type = KVP_OPTS_BYTES, .metavar = "BYTES",
      .def = "2K", .min = 1024, .max = 1024ULL * 1024 * 1024 * 1024,
      S_AT (size), .help = "a size" },
    { .name = "quiet", .type = KVP_OPTS_FLAG, S_AT (quiet),
      .help = "say less" },
    { .name = "level", .type = KVP_OPTS_CHOICE, .choices = s_levels,
      .def = "mid", S_AT (level), .help = "a level" },
    { .name = "speed", .type = KVP_OPTS_CHOICE, .choices = s_speeds,
      .metavar = "MODE", S_AT (fast), .help = "a speed" },
};
#define S_COUNT KVP_OPTS_COUNT (s_table)

//  Parse a NULL-terminated list of arguments (argv[0] is added).
static int
s_parse (s_config_t *config, char *error, size_t size, ...)
{
    char *argv [32];
    va_list args;
    va_start (args, size);
    int argc = tk_argv (argv, 32, "prog", args);
    va_end (args);
    return kvp_opts_parse (s_table, S_COUNT, config, argc, argv, error,
                           size);
}

START_TEST (test_field_types)
{
    s_config_t c;
    ck_assert_int_eq (KVP_OPTS_CTYPE (c.name), KVP_OPTS_C_STRING);
    ck_assert_int_eq (KVP_OPTS_CTYPE (c.path), KVP_OPTS_C_STRING);
    ck_assert_int_eq (KVP_OPTS_CTYPE (c.quiet), KVP_OPTS_C_BOOL);
    ck_assert_int_eq (KVP_OPTS_CTYPE (c.small), KVP_OPTS_C_INT);
    ck_assert_int_eq (KVP_OPTS_CTYPE (c.medium), KVP_OPTS_C_UNSIGNED);
    ck_assert_int_eq (KVP_OPTS_CTYPE (c.big), KVP_OPTS_C_ULLONG);
    double d;
    ck_assert_int_eq (KVP_OPTS_CTYPE (d), KVP_OPTS_C_OTHER);
    ck_assert_uint_eq (s_table [1].offset, offsetof (s_config_t, path));
}
END_TEST

START_TEST (test_defaults)
{
    s_config_t c;
    memset (&c, 0xa5, sizeof c);
    c.untouched = 42;
    char error [128];
    ck_assert_int_eq (s_parse (&c, error, sizeof error, NULL), KVP_OPTS_OK);
    ck_assert_str_eq (error, "");
    ck_assert_str_eq (c.name, "anon");
    ck_assert_ptr_null (c.path);
    ck_assert_ptr_null (c.tag);
    ck_assert_uint_eq (c.count, 7);
    ck_assert_int_eq (c.small, 0);
    ck_assert_uint_eq (c.medium, 0);
    ck_assert_uint_eq (c.big, 0);
    ck_assert_uint_eq (c.size, 2048);
    ck_assert (!c.quiet);
    ck_assert_int_eq (c.level, 5);
    ck_assert (!c.fast);
    ck_assert_int_eq (c.untouched, 42);     //  not in the table
    //  kvp_opts_defaults alone does the same
    memset (&c, 0xa5, sizeof c);
    kvp_opts_defaults (s_table, S_COUNT, &c);
    ck_assert_str_eq (c.name, "anon");
    ck_assert_uint_eq (c.size, 2048);
    ck_assert (!c.quiet);
}
END_TEST

START_TEST (test_both_forms)
{
    s_config_t c;
    char error [128];
    ck_assert_int_eq (s_parse (&c, error, sizeof error, "--name", "x",
        "--path=/p", "--tag", "abc", "--count=100", "--small", "1000",
        "--medium=4000000000", "--big", "18446744073709551615",
        "--size=3m", "--quiet", "--level", "high", "--speed=fast", NULL),
        KVP_OPTS_OK);
    ck_assert_str_eq (c.name, "x");
    ck_assert_str_eq (c.path, "/p");
    ck_assert_str_eq (c.tag, "abc");
    ck_assert_uint_eq (c.count, 100);
    ck_assert_int_eq (c.small, 1000);
    ck_assert_uint_eq (c.medium, 4000000000u);
    ck_assert (c.big == UINT64_MAX);
    ck_assert_uint_eq (c.size, 3 * 1024 * 1024);
    ck_assert (c.quiet);
    ck_assert_int_eq (c.level, 9);
    ck_assert (c.fast);
    //  The last of a repeated option wins; a value may start with "--"
    ck_assert_int_eq (s_parse (&c, error, sizeof error, "--count", "3",
        "--count", "4", "--name", "--quiet", NULL), KVP_OPTS_OK);
    ck_assert_uint_eq (c.count, 4);
    ck_assert_str_eq (c.name, "--quiet");
    ck_assert (!c.quiet);
    //  An "=" inside the value belongs to the value
    ck_assert_int_eq (s_parse (&c, error, sizeof error, "--name=a=b", NULL),
                      KVP_OPTS_OK);
    ck_assert_str_eq (c.name, "a=b");
}
END_TEST

START_TEST (test_bytes)
{
    const struct {
        const char *text;
        bool bytes, ok;
        uint64_t value;
    } cases [] = {
        { "0", false, true, 0 },
        { "42", false, true, 42 },
        { "18446744073709551615", false, true, UINT64_MAX },
        { "18446744073709551616", false, false, 0 },
        { "1k", true, true, 1024 },
        { "1K", true, true, 1024 },
        { "5M", true, true, 5ULL << 20 },
        { "2g", true, true, 2ULL << 30 },
        { "3T", true, true, 3ULL << 40 },
        { "16777215T", true, true, 16777215ULL << 40 },
        { "16777216T", true, false, 0 },
        { "1K", false, false, 0 },
        { "1P", true, false, 0 },
        { "1KB", true, false, 0 },
        { "", true, false, 0 },
        { "-1", false, false, 0 },
        { "+1", false, false, 0 },
        { " 1", false, false, 0 },
        { "1 ", false, false, 0 },
        { "K", true, false, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        uint64_t value = 777;
        bool ok = kvp_opts_parse_uint (cases [i].text, cases [i].bytes,
                                       &value);
        ck_assert_msg (ok == cases [i].ok, "case %zu \"%s\"", i,
                       cases [i].text);
        ck_assert_msg (value == (ok ? cases [i].value : 777),
                       "case %zu \"%s\"", i, cases [i].text);
    }
}
END_TEST

START_TEST (test_help)
{
    s_config_t c;
    char error [128];
    ck_assert_int_eq (s_parse (&c, error, sizeof error, "--help", NULL),
                      KVP_OPTS_HELP);
    ck_assert_int_eq (s_parse (&c, error, sizeof error, "-h", NULL),
                      KVP_OPTS_HELP);
    //  Help wins over what comes after it, even a bad option
    ck_assert_int_eq (s_parse (&c, error, sizeof error, "--count", "9",
                               "--help", "--bogus", NULL), KVP_OPTS_HELP);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream (&text, &len);
    ck_assert_ptr_nonnull (out);
    kvp_opts_usage (s_table, S_COUNT, out);
    fclose (out);
    const char *parts [] = { "--name TEXT", "a name", "[default anon]",
        "--path DIR", "--tag VALUE", "--count N", "(1..100)",
        "--size BYTES", "[default 2K]", "(1024..1099511627776)",
        "--level low|mid|high", "[default mid]", "--speed MODE",
        "--quiet ", "say less", "--help", "print this text and exit" };
    for (size_t i = 0; i < sizeof parts / sizeof parts [0]; i++)
        ck_assert_msg (strstr (text, parts [i]), "usage lacks \"%s\":\n%s",
                       parts [i], text);
    //  One line per option plus --help
    size_t lines = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    ck_assert_uint_eq (lines, S_COUNT + 1);
    //  Flags show no placeholder, and no bounds appear for strings
    ck_assert_ptr_null (strstr (text, "--quiet VALUE"));
    free (text);
}
END_TEST

START_TEST (test_errors)
{
    s_config_t c;
    char error [128];
    //  Each bad command line, and what the reason must contain.
    const struct { const char *args [3]; const char *reason; } bad [] = {
        { { "stray" }, "unexpected argument \"stray\"" },
        { { "-x" }, "unexpected argument \"-x\"" },
        { { "--bogus" }, "unknown option \"--bogus\"" },
        { { "--bogus=1" }, "unknown option \"--bogus\"" },
        { { "--" }, "unknown option \"--\"" },
        { { "--nam", "x" }, "unknown option \"--nam\"" },
        { { "--count" }, "--count needs a value (N)" },
        { { "--tag" }, "--tag needs a value (VALUE)" },
        { { "--level" }, "--level needs a value (low|mid|high)" },
        { { "--quiet=1" }, "--quiet takes no value" },
        { { "--quiet=" }, "--quiet takes no value" },
        { { "--name=" }, "--name: empty value" },
        { { "--path", "" }, "--path: empty value" },
        { { "--count", "0" }, "--count: \"0\" is not a number in 1..100" },
        { { "--count=101" }, "--count: \"101\" is not a number in 1..100" },
        { { "--count=-5" }, "--count" },
        { { "--count=5x" }, "--count" },
        { { "--count=1K" }, "--count" },
        { { "--size=1023" }, "--size: \"1023\" is not a number" },
        { { "--size=2T" }, "--size" },
        { { "--size=1Q" }, "--size" },
        { { "--level=max" }, "--level: expected low|mid|high, got \"max\"" },
        { { "--speed", "slow" }, "--speed: expected safe|fast, got \"slow\"" },
        { { "--tag=aB" }, "--tag: \"aB\" has a 'B' (a-z only)" },
        { { "--count=3", "--bogus" }, "--bogus" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        char *argv [5] = { "prog" };
        int argc = 1;
        for (int j = 0; j < 3 && bad [i].args [j]; j++)
            argv [argc++] = (char *) bad [i].args [j];
        ck_assert_int_eq (kvp_opts_parse (s_table, S_COUNT, &c, argc, argv,
                                          error, sizeof error),
                          KVP_OPTS_ERROR);
        ck_assert_msg (strstr (error, bad [i].reason),
                       "case %zu: \"%s\" lacks \"%s\"", i, error,
                       bad [i].reason);
    }
}
END_TEST

START_TEST (test_error_buffer)
{
    s_config_t c;
    //  A short buffer gets a truncated, terminated reason
    char small [8];
    memset (small, 'x', sizeof small);
    ck_assert_int_eq (s_parse (&c, small, sizeof small, "--bogus", NULL),
                      KVP_OPTS_ERROR);
    ck_assert_uint_eq (strlen (small), sizeof small - 1);
    //  No buffer at all is allowed
    ck_assert_int_eq (s_parse (&c, NULL, 0, "--count=0", NULL),
                      KVP_OPTS_ERROR);
    ck_assert_int_eq (s_parse (&c, NULL, 0, "--count=2", NULL), KVP_OPTS_OK);
    ck_assert_uint_eq (c.count, 2);
}
END_TEST

//  A table with a --config option, for the option-file tests.
static const kvp_opts_option_t s_ftable [] = {
    { .name = "config", .type = KVP_OPTS_CONFIG, .metavar = "FILE",
      S_AT (config), .help = "an option file" },
    { .name = "name", .type = KVP_OPTS_STRING, .metavar = "TEXT",
      .def = "anon", S_AT (name), .help = "a name" },
    { .name = "count", .type = KVP_OPTS_UINT, .metavar = "N", .def = "7",
      .min = 1, .max = 100, S_AT (count), .help = "how many" },
    { .name = "size", .type = KVP_OPTS_BYTES, .metavar = "BYTES",
      .def = "2K", .min = 1024, .max = 1024ULL * 1024 * 1024 * 1024,
      S_AT (size), .help = "a size" },
    { .name = "quiet", .type = KVP_OPTS_FLAG, S_AT (quiet),
      .help = "say less" },
    { .name = "level", .type = KVP_OPTS_CHOICE, .choices = s_levels,
      .def = "mid", S_AT (level), .help = "a level" },
};

//  Write `text` to "<root>/<name>" and return that path (static buffer).
static const char *
s_write (const char *name, const char *text)
{
    static char path [512];
    snprintf (path, sizeof path, "%s/%s", tk_root (), name);
    FILE *out = fopen (path, "w");
    ck_assert_ptr_nonnull (out);
    fputs (text, out);
    fclose (out);
    return path;
}

//  kvp_opts_parse_file over s_ftable with a NULL-terminated argument list.
static int
s_parse_file (s_config_t *config, kvp_opts_file_t **file, char *error,
              size_t size, ...)
{
    char *argv [32];
    va_list args;
    va_start (args, size);
    int argc = tk_argv (argv, 32, "prog", args);
    va_end (args);
    return kvp_opts_parse_file (s_ftable, KVP_OPTS_COUNT (s_ftable), config,
                                argc, argv, file, error, size);
}

START_TEST (test_file_values)
{
    const char *path = s_write ("ok.cfg",
        "#   a comment, then a blank line\n"
        "\n"
        "name = \"two words # not a comment\"\n"
        "count = 9     # a comment after a value\n"
        "    # an indented comment\n"
        "size = 4K\n"
        "quiet = true\n"
        "level = high\n");
    s_config_t c;
    kvp_opts_file_t *file = NULL;
    char error [256];
    ck_assert_int_eq (s_parse_file (&c, &file, error, sizeof error,
                                    "--config", path, NULL), KVP_OPTS_OK);
    ck_assert_ptr_nonnull (file);
    ck_assert_str_eq (c.config, path);
    ck_assert_str_eq (c.name, "two words # not a comment");
    ck_assert_uint_eq (c.count, 9);
    ck_assert_uint_eq (c.size, 4096);
    ck_assert (c.quiet);
    ck_assert_int_eq (c.level, 9);
    kvp_opts_file_destroy (&file);
    kvp_opts_file_destroy (&file);      //  safe twice
    ck_assert_ptr_null (file);

    //  Flags override the file, wherever they stand around --config
    ck_assert_int_eq (s_parse_file (&c, &file, error, sizeof error,
                                    "--count=3", "--config", path,
                                    "--level", "low", NULL), KVP_OPTS_OK);
    ck_assert_uint_eq (c.count, 3);
    ck_assert_int_eq (c.level, 1);
    ck_assert_uint_eq (c.size, 4096);       //  the file, not the default
    kvp_opts_file_destroy (&file);

    //  A flag set false in the file; other options keep their defaults
    path = s_write ("off.cfg", "quiet = false\n");
    ck_assert_int_eq (s_parse_file (&c, &file, error, sizeof error,
                                    "--config", path, NULL), KVP_OPTS_OK);
    ck_assert (!c.quiet);
    ck_assert_str_eq (c.name, "anon");
    ck_assert_uint_eq (c.count, 7);
    kvp_opts_file_destroy (&file);

    //  No --config: no file, as kvp_opts_parse
    ck_assert_int_eq (s_parse_file (&c, &file, error, sizeof error,
                                    "--count", "5", NULL), KVP_OPTS_OK);
    ck_assert_ptr_null (file);
    ck_assert_ptr_null (c.config);
    ck_assert_uint_eq (c.count, 5);
}
END_TEST

START_TEST (test_file_errors)
{
    struct {
        const char *text;           //  the file
        const char *reason;         //  expected after "<path>:"
    } bad [] = {
        { "# c\n\nbogus = 1\n", "3: unknown option \"bogus\"" },
        { "count = 0\n", "1: --count: \"0\" is not a number in 1..100" },
        { "count = 5 apples\n", "1: --count: \"5 apples\" is not" },
        { "name = \"\"\n", "1: --name: empty value" },
        { "level = extreme\n", "1: --level: expected low|mid|high" },
        { "quiet = maybe\n", "1: quiet: expected true or false" },
        { "count = 2\n# c\ncount = 3\n", "3: count: set again (first on "
                                         "line 1)" },
        { "count = 2\nname\n    nested = 1\n", "2: name: options take no "
                                                "indented lines" },
        { "config = \"other.cfg\"\n", "1: config: a file cannot name" },
        { "name = \"open\n", "1: missing \"" },
        { "count = 2\n        name = x\n", "2: indent" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        const char *path = s_write ("bad.cfg", bad [i].text);
        s_config_t c;
        kvp_opts_file_t *file = (kvp_opts_file_t *) &c;     //  overwritten
        char error [256], want [512];
        ck_assert_int_eq (s_parse_file (&c, &file, error, sizeof error,
                                        "--config", path, NULL),
                          KVP_OPTS_ERROR);
        ck_assert_ptr_null (file);
        snprintf (want, sizeof want, "%s:%s", path, bad [i].reason);
        ck_assert_msg (strncmp (error, want, strlen (want)) == 0,
                       "case %zu: \"%s\", wanted \"%s\"", i, error, want);
    }
    //  A file that is not there
    s_config_t c;
    kvp_opts_file_t *file = NULL;
    char error [256];
    ck_assert_int_eq (s_parse_file (&c, &file, error, sizeof error,
                                    "--config=/nonexistent/x.cfg", NULL),
                      KVP_OPTS_ERROR);
    ck_assert_str_eq (error, "--config /nonexistent/x.cfg: No such file or "
                             "directory");
    //  A bad flag is refused before the file is read
    const char *path = s_write ("bogus.cfg", "bogus = 1\n");
    ck_assert_int_eq (s_parse_file (&c, &file, error, sizeof error,
                                    "--config", path, "--count=0", NULL),
                      KVP_OPTS_ERROR);
    ck_assert (strncmp (error, "--count", 7) == 0);
    ck_assert_ptr_null (file);
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("opts");
    TCase *tc = tcase_create ("parser");
    tcase_add_test (tc, test_field_types);
    tcase_add_test (tc, test_defaults);
    tcase_add_test (tc, test_both_forms);
    tcase_add_test (tc, test_bytes);
    tcase_add_test (tc, test_help);
    tcase_add_test (tc, test_errors);
    tcase_add_test (tc, test_error_buffer);
    suite_add_tcase (suite, tc);
    tc = tcase_create ("file");
    tcase_add_checked_fixture (tc, tk_root_setup, tk_root_teardown);
    tcase_add_test (tc, test_file_values);
    tcase_add_test (tc, test_file_errors);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
