/*  test_install.c - make install and make uninstall, as a user of the
    library and an administrator meet them: the tree in a DESTDIR, the
    shared library's soname and exports, the man pages against --help, a
    client (client/examples/ping.c) built with nothing but `pkg-config
    --cflags --libs kvpbus` and run against a real cluster, then nothing
    left after uninstall; and `systemd-analyze verify` on the units as
    installed in a PREFIX of their own (their ExecStart must exist).

    Runs `make` in the checkout (the current folder, as tests/run.sh
    leaves it). Skipped under AddressSanitizer: the library and programs
    installed are the release build.
*/
#include <check.h>
#include "kvp_testkit.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_VERSION   "1.0.0"     //  the Makefile's KVPBUS_VERSION
#define S_OUT_MAX   65536

static const char *s_programs [] = { "kvp-broker", "kvp-worker", "kvpctl",
                                     "kvpbench", "kvp-guest" };
#define S_PROGRAMS  (sizeof s_programs / sizeof s_programs [0])

//  Run a shell command (printf-style) with stderr joined to stdout,
//  captured into `out` (S_OUT_MAX bytes); returns its exit status.
static int
s_sh (char *out, const char *format, ...)
{
    char command [4096];
    va_list args;
    va_start (args, format);
    vsnprintf (command, sizeof command, format, args);
    va_end (args);
    strncat (command, " 2>&1", sizeof command - strlen (command) - 1);
    FILE *pipe = popen (command, "r");
    ck_assert_ptr_nonnull (pipe);
    size_t used = fread (out, 1, S_OUT_MAX - 1, pipe);
    out [used] = 0;
    int status = pclose (pipe);
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

//  `make TARGET ARGS` in the checkout, asserted to succeed. A make that
//  runs this test leaves its jobserver in the environment: not ours.
static void
s_make (char *out, const char *target, const char *args)
{
    unsetenv ("MAKEFLAGS");
    unsetenv ("MFLAGS");
    unsetenv ("MAKELEVEL");
    ck_assert_msg (access ("Makefile", R_OK) == 0, "run from the checkout");
    int rc = s_sh (out, "make -s --no-print-directory %s %s", target, args);
    ck_assert_msg (rc == 0, "make %s %s: %s", target, args, out);
}

//  Files and links under `dir`, written into `out`; returns how many.
static int
s_left (const char *dir, char *out)
{
    s_sh (out, "find '%s' \\( -type f -o -type l \\) | sort", dir);
    int count = 0;
    for (const char *at = out; (at = strchr (at, '\n')); at++)
        count++;
    return count;
}

//  Assert that `path` is a regular file (or, with `link`, a symbolic link
//  to `link`).
static void
s_assert_installed (const char *path, const char *link)
{
    struct stat st;
    ck_assert_msg (lstat (path, &st) == 0, "%s is not installed", path);
    if (!link) {
        ck_assert_msg (S_ISREG (st.st_mode), "%s is not a file", path);
        return;
    }
    char target [256] = "";
    ck_assert (readlink (path, target, sizeof target - 1) > 0);
    ck_assert_str_eq (target, link);
}

//  The tree under DESTDIR/usr/local: every file install is to write.
static void
s_check_tree (const char *top)
{
    char path [512];
    const char *files [] = {
        "lib/libkvpbus.so.1.0.0", "lib/libkvpbus.a",
        "lib/pkgconfig/kvpbus.pc", "include/kvpbus/kvpbus.h",
        "include/kvpbus/kvp_client.h", "include/kvpbus/kvp_client_reply.h",
        "include/kvpbus/kvp_sub.h", "include/kvpbus/kvp_feed.h",
        "include/kvpbus/kvp_merge.h", "include/kvpbus/kvp_pager.h",
        "include/kvpbus/kvp_curve.h",
        "lib/systemd/system/kvp-broker.service",
        "lib/systemd/system/kvp-worker@.service",
        "lib/systemd/system/kvp-guest.service",
        "share/kvpbus/kvp-broker.cfg", "share/kvpbus/kvp-worker.cfg",
        "share/doc/kvpbus/README.md", "share/doc/kvpbus/examples/ping.c" };
    for (size_t i = 0; i < sizeof files / sizeof files [0]; i++) {
        snprintf (path, sizeof path, "%s/%s", top, files [i]);
        s_assert_installed (path, NULL);
    }
    for (size_t i = 0; i < S_PROGRAMS; i++) {
        snprintf (path, sizeof path, "%s/bin/%s", top, s_programs [i]);
        s_assert_installed (path, NULL);
        ck_assert (access (path, X_OK) == 0);
        snprintf (path, sizeof path, "%s/share/man/man1/%s.1", top,
                  s_programs [i]);
        s_assert_installed (path, NULL);
    }
    snprintf (path, sizeof path, "%s/lib/libkvpbus.so.1", top);
    s_assert_installed (path, "libkvpbus.so.1.0.0");
    snprintf (path, sizeof path, "%s/lib/libkvpbus.so", top);
    s_assert_installed (path, "libkvpbus.so.1");
}

//  The shared library: soname libkvpbus.so.1; it exports the public API
//  alone (the proto/ code inside stays hidden).
static void
s_check_library (const char *top, char *out)
{
    ck_assert_int_eq (s_sh (out, "readelf -d %s/lib/libkvpbus.so.1.0.0",
                            top), 0);
    ck_assert_msg (strstr (out, "Library soname: [libkvpbus.so.1]"), "%s",
                   out);
    ck_assert_int_eq (s_sh (out, "nm -D --defined-only %s/lib/libkvpbus.so"
                            " | awk '{print $NF}'", top), 0);
    int exported = 0;
    for (char *name = strtok (out, "\n"); name; name = strtok (NULL, "\n")) {
        bool api = strncmp (name, "kvp_client_", 11) == 0
                || strncmp (name, "kvp_reply_", 10) == 0
                || strncmp (name, "kvp_sub_", 8) == 0
                || strncmp (name, "kvp_feed_", 9) == 0
                || strncmp (name, "kvp_merge_", 10) == 0
                || strncmp (name, "kvp_pager_", 10) == 0
                || strncmp (name, "kvp_curve_", 10) == 0;
        ck_assert_msg (api || streq (name, "KVPBUS_1"), "exports %s", name);
        exported += api;
    }
    ck_assert_int_ge (exported, 40);
    ck_assert_int_eq (s_sh (out, "ar t %s/lib/libkvpbus.a", top), 0);
    ck_assert_ptr_nonnull (strstr (out, "kvp_feed.o"));
}

//  Each man page: every option its program's --help lists, and (where
//  groff is) no warning from groff.
static void
s_check_man (const char *top, char *out)
{
    char *page = malloc (S_OUT_MAX);
    for (size_t i = 0; i < S_PROGRAMS; i++) {
        char path [512];
        snprintf (path, sizeof path, "%s/share/man/man1/%s.1", top,
                  s_programs [i]);
        s_sh (page, "cat %s", path);
        s_sh (out, "%s/bin/%s --help | grep -o -- '--[a-z][a-z-]*' | sort -u",
              top, s_programs [i]);
        int options = 0;
        for (char *opt = strtok (out, "\n"); opt; opt = strtok (NULL, "\n")) {
            char roff [96];             //  --log-level as \-\-log\-level
            size_t len = 0;
            for (const char *c = opt; *c && len < sizeof roff - 3; c++) {
                if (*c == '-')
                    roff [len++] = '\\';
                roff [len++] = *c;
            }
            roff [len] = 0;
            ck_assert_msg (strstr (page, roff), "%s.1 lacks %s",
                           s_programs [i], opt);
            options++;
        }
        ck_assert_int_ge (options, 5);
        if (s_sh (out, "command -v groff") == 0) {
            ck_assert_int_eq (s_sh (out, "groff -man -Tutf8 -ww -z %s",
                                    path), 0);
            ck_assert_msg (out [0] == 0, "groff on %s: %s", path, out);
        }
    }
    free (page);
}

//  Build client/examples/ping.c with pkg-config's flags alone (the
//  DESTDIR as the sysroot) into `binary`.
static void
s_build_client (const char *dest, const char *binary, char *out)
{
    char path [512];
    snprintf (path, sizeof path, "%s/usr/local/lib/pkgconfig", dest);
    setenv ("PKG_CONFIG_PATH", path, 1);
    setenv ("PKG_CONFIG_SYSROOT_DIR", dest, 1);
    ck_assert_int_eq (s_sh (out, "pkg-config --modversion kvpbus"), 0);
    ck_assert_str_eq (out, S_VERSION "\n");
    //  What the headers expose comes with it; libzmq is for static links
    ck_assert_int_eq (s_sh (out, "pkg-config --print-requires kvpbus"), 0);
    ck_assert_str_eq (out, "libczmq\nmsgpack\n");
    ck_assert_int_eq (s_sh (out, "pkg-config --print-requires-private "
                            "kvpbus"), 0);
    ck_assert_str_eq (out, "libzmq\n");
    int rc = s_sh (out, "cc -Wall -Wextra -Werror client/examples/ping.c "
                   "$(pkg-config --cflags --libs kvpbus) -o %s", binary);
    ck_assert_msg (rc == 0, "the client does not build: %s", out);
}

//  True (and says so) under AddressSanitizer: install copies the release
//  build, not this one.
static bool
s_sanitized (void)
{
#ifdef __SANITIZE_ADDRESS__
    printf ("test_install: skipped under AddressSanitizer\n");
    return true;
#else
    return false;
#endif
}

START_TEST (test_destdir)
{
    if (s_sanitized ())
        return;
    char *out = malloc (S_OUT_MAX);
    char dest [300], top [400], args [400], ping [300];
    snprintf (dest, sizeof dest, "%s/dest", tk_root ());
    snprintf (top, sizeof top, "%s/usr/local", dest);
    snprintf (args, sizeof args, "DESTDIR=%s", dest);
    s_make (out, "install", args);
    s_check_tree (top);
    ck_assert_int_eq (s_left (dest, out), 30);  //  and nothing else
    s_check_library (top, out);
    s_check_man (top, out);
    //  The client, against a real broker and worker
    snprintf (ping, sizeof ping, "%s/ping", tk_root ());
    s_build_client (dest, ping, out);
    tk_cluster_t *cluster = tk_cluster_new (1);
    ck_assert (tk_cluster_start (cluster));
    int rc = s_sh (out, "LD_LIBRARY_PATH=%s/lib ldd %s; "
                   "LD_LIBRARY_PATH=%s/lib %s %s", top, ping, top, ping,
                   cluster->clients);
    tk_cluster_destroy (&cluster);
    ck_assert_msg (rc == 0, "%s", out);
    char linked [512];
    snprintf (linked, sizeof linked, "libkvpbus.so.1 => %s/lib/", top);
    ck_assert_msg (strstr (out, linked), "%s", out);
    ck_assert_msg (strstr (out, "Ping: rc 0\nDefineSystem: id "), "%s", out);
    //  Uninstall leaves no file, and none of kvpbus's own folders
    s_make (out, "uninstall", args);
    ck_assert_msg (s_left (dest, out) == 0, "left behind:\n%s", out);
    const char *own [] = { "include/kvpbus", "share/kvpbus",
                           "share/doc/kvpbus" };
    for (size_t i = 0; i < sizeof own / sizeof own [0]; i++) {
        char path [512];
        snprintf (path, sizeof path, "%s/%s", top, own [i]);
        ck_assert_msg (access (path, F_OK) != 0, "%s is left", path);
    }
    free (out);
}
END_TEST

START_TEST (test_units)
{
    if (s_sanitized ())
        return;
    char *out = malloc (S_OUT_MAX);
    if (s_sh (out, "command -v systemd-analyze") != 0) {
        printf ("test_install: no systemd-analyze here: the units are not "
                "verified\n");
        free (out);
        return;
    }
    //  Installed under a PREFIX of its own (no DESTDIR), so that the
    //  units' ExecStart names programs that exist, and their man pages
    //  (Documentation=man:...) are found through MANPATH
    char prefix [300], args [400], path [512];
    snprintf (prefix, sizeof prefix, "%s/prefix", tk_root ());
    snprintf (args, sizeof args, "PREFIX=%s LDCONFIG=true", prefix);
    s_make (out, "install", args);
    snprintf (path, sizeof path, "%s/share/man", prefix);
    setenv ("MANPATH", path, 1);
    //  verify runs man for each Documentation=man: page
    const char *man = "";
    if (s_sh (out, "command -v man") != 0) {
        printf ("test_install: no man here: Documentation= not checked\n");
        man = "--man=no ";
    }
    const char *units [] = { "kvp-broker.service", "kvp-worker@w1.service",
                             "kvp-guest.service" };
    for (size_t i = 0; i < sizeof units / sizeof units [0]; i++) {
        int rc = s_sh (out, "systemd-analyze verify %s%s/lib/systemd/"
                       "system/%s", man, prefix, units [i]);
        ck_assert_msg (rc == 0 && out [0] == 0, "%s: %s", units [i], out);
    }
    //  The installed unit runs the installed program
    ck_assert_int_eq (s_sh (out, "grep '^ExecStart=' %s/lib/systemd/system/"
                            "kvp-broker.service", prefix), 0);
    snprintf (path, sizeof path, "ExecStart=%s/bin/kvp-broker --config "
              "/etc/kvpbus/kvp-broker.cfg", prefix);
    ck_assert_msg (strncmp (out, path, strlen (path)) == 0, "%s", out);
    s_make (out, "uninstall", args);
    ck_assert_msg (s_left (prefix, out) == 0, "left behind:\n%s", out);
    free (out);
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("install");
    TCase *tc = tcase_create ("install");
    tcase_add_checked_fixture (tc, tk_root_setup, tk_root_teardown);
    tcase_set_timeout (tc, 600);
    tcase_add_test (tc, test_destdir);
    tcase_add_test (tc, test_units);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
