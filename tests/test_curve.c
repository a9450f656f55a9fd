/*  test_curve.c - CURVE keys (proto/kvp_curve), the allow folders
    (broker/kvp_allow) and the role gate of the request decoder.
*/
#include <check.h>
#include <sys/stat.h>
#include "kvp_testkit.h"
#include "kvp_curve.h"
#include "kvp_allow.h"
#include "kvp_request.h"
#include "kvp_rc.h"

static char s_dir [256];

static void
s_setup (void)
{
    ck_assert (tk_mkdtemp (s_dir, sizeof s_dir, "kvpcurve"));
}

static void
s_teardown (void)
{
    tk_rmtree (s_dir);
}

//  keygen NAME [ROLE] into s_dir/SUB; the public file's path in `path`.
static void
s_keygen (const char *sub, const char *name, const char *role, char *path)
{
    char dir [300], error [256];
    snprintf (dir, sizeof dir, "%s/%s", s_dir, sub);
    ck_assert_msg (kvp_curve_keygen (dir, name, role, path, 400, error,
                                     sizeof error), "%s", error);
}

static void
s_write (const char *path, const char *text, mode_t mode)
{
    FILE *file = fopen (path, "w");
    ck_assert_ptr_nonnull (file);
    fputs (text, file);
    fclose (file);
    ck_assert_int_eq (chmod (path, mode), 0);
}

START_TEST (test_keygen_modes)
{
    char path [400], secret [420], error [256];
    s_keygen ("k", "alice", "writer", path);
    snprintf (secret, sizeof secret, "%s_secret", path);
    struct stat st;
    ck_assert_int_eq (stat (secret, &st), 0);
    ck_assert_int_eq (st.st_mode & 0777, 0600);
    ck_assert_int_eq (stat (path, &st), 0);
    ck_assert_int_eq (st.st_mode & 0777, 0644);
    //  the folder it made is private
    char dir [300];
    snprintf (dir, sizeof dir, "%s/k", s_dir);
    ck_assert_int_eq (stat (dir, &st), 0);
    ck_assert_int_eq (st.st_mode & 0777, 0700);
    //  never replaced; no path in the name
    ck_assert (!kvp_curve_keygen (dir, "alice", NULL, path, sizeof path,
                                  error, sizeof error));
    ck_assert (strstr (error, "already exists"));
    ck_assert (!kvp_curve_keygen (dir, "../x", NULL, path, sizeof path,
                                  error, sizeof error));
    ck_assert (!kvp_curve_keygen (dir, "", NULL, path, sizeof path,
                                  error, sizeof error));
}
END_TEST

START_TEST (test_load)
{
    char path [400], secret [420], error [256];
    s_keygen ("k", "bob", "reader", path);
    snprintf (secret, sizeof secret, "%s_secret", path);
    kvp_curve_t *curve = kvp_curve_load (secret, path, error, sizeof error);
    ck_assert_msg (curve, "%s", error);
    ck_assert_str_eq (kvp_curve_name (curve), "bob");
    ck_assert_int_eq (strlen (kvp_curve_public (curve)), 40);
    kvp_curve_destroy (&curve);
    ck_assert_ptr_null (curve);
    kvp_curve_destroy (&curve);
    ck_assert_str_eq (kvp_curve_name (NULL), "");

    //  open to group or others: refused, with the mode and the fix
    for (mode_t mode = 0601; mode <= 0700; mode += 077) {
        ck_assert_int_eq (chmod (secret, mode == 0700 ? 0640 : mode), 0);
        curve = kvp_curve_load (secret, NULL, error, sizeof error);
        ck_assert_ptr_null (curve);
        ck_assert_msg (strstr (error, "chmod 600"), "%s", error);
    }
    ck_assert_int_eq (chmod (secret, 0600), 0);
    //  a public file as the secret; garbage; a missing file
    char fake [420];
    snprintf (fake, sizeof fake, "%s/public_only", s_dir);
    FILE *in = fopen (path, "r");
    char text [2048] = "";
    size_t got = fread (text, 1, sizeof text - 1, in);
    text [got] = 0;
    fclose (in);
    s_write (fake, text, 0600);
    ck_assert_ptr_null (kvp_curve_load (fake, NULL, error, sizeof error));
    ck_assert (strstr (error, "secret-key"));
    s_write (fake, "curve\n    secret-key = \"short\"\n", 0600);
    ck_assert_ptr_null (kvp_curve_load (fake, NULL, error, sizeof error));
    snprintf (fake, sizeof fake, "%s/none", s_dir);
    ck_assert_ptr_null (kvp_curve_load (fake, NULL, error, sizeof error));
    ck_assert_ptr_null (kvp_curve_load (secret, fake, error, sizeof error));
}
END_TEST

START_TEST (test_for_client)
{
    char path [400], secret [420], error [256];
    s_keygen ("k", "carol", "admin", path);
    snprintf (secret, sizeof secret, "%s_secret", path);
    unsetenv (KVP_CURVE_ENV_SECRET);
    unsetenv (KVP_CURVE_ENV_BROKER);
    kvp_curve_t *curve = (kvp_curve_t *) 1;
    ck_assert (kvp_curve_for_client (NULL, NULL, &curve, error,
                                     sizeof error));
    ck_assert_ptr_null (curve);     //  security off
    ck_assert (!kvp_curve_for_client (secret, NULL, &curve, error,
                                      sizeof error));
    ck_assert (strstr (error, "--broker-public"));
    setenv (KVP_CURVE_ENV_SECRET, secret, 1);
    setenv (KVP_CURVE_ENV_BROKER, path, 1);
    ck_assert (kvp_curve_for_client (NULL, NULL, &curve, error,
                                     sizeof error));
    ck_assert_ptr_nonnull (curve);
    ck_assert_str_eq (kvp_curve_name (curve), "carol");
    kvp_curve_destroy (&curve);
    unsetenv (KVP_CURVE_ENV_SECRET);
    unsetenv (KVP_CURVE_ENV_BROKER);
}
END_TEST

START_TEST (test_loopback)
{
    const char *local [] = { "tcp://127.0.0.1:5555", "tcp://127.1.2.3:1",
        "tcp://localhost:5555", "tcp://[::1]:5555", "ipc:///tmp/x",
        "inproc://x" };
    const char *open [] = { "tcp://*:5555", "tcp://0.0.0.0:5555",
        "tcp://10.0.0.1:5555", "tcp://eth0:5555", "tcp://[::]:5555",
        "tcp://127.0.0.1.evil:1", "tcp://128.0.0.1:1", "tcp://localhostx:1",
        "tcp://127.0.0.256:1" };
    for (size_t i = 0; i < sizeof local / sizeof *local; i++)
        ck_assert_msg (kvp_curve_is_loopback (local [i]), "%s", local [i]);
    for (size_t i = 0; i < sizeof open / sizeof *open; i++)
        ck_assert_msg (!kvp_curve_is_loopback (open [i]), "%s", open [i]);
}
END_TEST

//  --- the allow folders -------------------------------------------------

//  The Z85 public key in a public file.
static void
s_public_key (const char *path, char key [41])
{
    zconfig_t *root = zconfig_load (path);
    ck_assert_ptr_nonnull (root);
    snprintf (key, 41, "%s", zconfig_get (root, "/curve/public-key", ""));
    zconfig_destroy (&root);
}

START_TEST (test_allow)
{
    char reader [400], admin [400], norole [400], badrole [400], key [41];
    s_keygen ("clients", "r", "reader", reader);
    s_keygen ("clients", "a", "admin", admin);
    s_keygen ("clients", "n", NULL, norole);
    s_keygen ("clients", "b", "root", badrole);
    char dir [300], junk [400], error [256];
    snprintf (dir, sizeof dir, "%s/clients", s_dir);
    snprintf (junk, sizeof junk, "%s/README", dir);
    s_write (junk, "not a certificate {{{\n", 0644);
    kvp_allow_t *allow = kvp_allow_new (dir, true, "test", error,
                                        sizeof error);
    ck_assert_msg (allow, "%s", error);
    //  only the two with a known role; no secret file counts
    ck_assert_int_eq (kvp_allow_size (allow), 2);
    s_public_key (reader, key);
    const kvp_allow_peer_t *peer = kvp_allow_lookup (allow, key);
    ck_assert_ptr_nonnull (peer);
    ck_assert_str_eq (peer->name, "r");
    ck_assert_int_eq (peer->role, KVP_ROLE_READER);
    s_public_key (norole, key);
    ck_assert_ptr_null (kvp_allow_lookup (allow, key));
    s_public_key (badrole, key);
    ck_assert_ptr_null (kvp_allow_lookup (allow, key));
    ck_assert_ptr_null (kvp_allow_lookup (allow, "nonsense"));
    //  unchanged folder: not read again; a removed file: read again
    ck_assert (!kvp_allow_refresh (allow, false));
    ck_assert_int_eq (unlink (reader), 0);
    ck_assert (kvp_allow_refresh (allow, false));
    ck_assert_int_eq (kvp_allow_size (allow), 1);
    s_public_key (admin, key);
    ck_assert_int_eq (kvp_allow_lookup (allow, key)->role, KVP_ROLE_ADMIN);
    ck_assert (kvp_allow_refresh (allow, true));
    kvp_allow_destroy (&allow);

    //  workers: a name is enough; a missing folder is an error
    kvp_allow_t *workers = kvp_allow_new (dir, false, "test", error,
                                          sizeof error);
    ck_assert_int_eq (kvp_allow_size (workers), 3);
    kvp_allow_destroy (&workers);
    snprintf (dir, sizeof dir, "%s/missing", s_dir);
    ck_assert_ptr_null (kvp_allow_new (dir, false, "test", error,
                                       sizeof error));
    ck_assert (strstr (error, "missing"));
}
END_TEST

//  --- the role gate ------------------------------------------------------

static int
s_decode_as (kvp_request_t *request, kvp_role_t role, const char *body,
             size_t len)
{
    kvp_request_set_access (request, role, "dave");
    return kvp_request_decode (request, body, len);
}

START_TEST (test_role_gate)
{
    kvp_request_t *request = kvp_request_new ();
    //  {"op": "DestroySystem", "target": 7}: a type fault after the op
    const char destroy [] = "\x82\xa2op\xad" "DestroySystem\xa6target\x07";
    ck_assert_int_eq (kvp_request_decode (request, destroy,
                                          sizeof destroy - 1),
                      KVP_RC_INCORRECT_TYPE);
    ck_assert_int_eq (s_decode_as (request, KVP_ROLE_WRITER, destroy,
                                   sizeof destroy - 1),
                      KVP_RC_ACCESS_DENIED);
    const char *error = kvp_request_error (request);
    ck_assert_msg (strstr (error, "DestroySystem") && strstr (error, "dave")
                   && strstr (error, "writer"), "%s", error);
    ck_assert_int_eq (s_decode_as (request, KVP_ROLE_ADMIN, destroy,
                                   sizeof destroy - 1),
                      KVP_RC_INCORRECT_TYPE);
    //  the unknown-op check comes first
    const char unknown [] = "\x81\xa2op\xa4Nope";
    ck_assert_int_eq (s_decode_as (request, KVP_ROLE_READER, unknown,
                                   sizeof unknown - 1),
                      KVP_RC_NOT_SUPPORTED);
    //  a reader may Ping
    const char ping [] = "\x81\xa2op\xa4Ping";
    ck_assert_int_eq (s_decode_as (request, KVP_ROLE_READER, ping,
                                   sizeof ping - 1), KVP_RC_OK);
    kvp_request_destroy (&request);
    ck_assert_int_eq (kvp_role_lookup ("admin"), KVP_ROLE_ADMIN);
    ck_assert_int_eq (kvp_role_lookup ("Admin"), -1);
    ck_assert_int_eq (kvp_role_lookup (NULL), -1);
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("curve");
    TCase *tc = tcase_create ("keys");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_add_test (tc, test_keygen_modes);
    tcase_add_test (tc, test_load);
    tcase_add_test (tc, test_for_client);
    tcase_add_test (tc, test_loopback);
    tcase_add_test (tc, test_allow);
    tcase_add_test (tc, test_role_gate);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
