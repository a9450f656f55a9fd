/*  test_security.c - spec section 11 against real processes: who gets in,
    as whom, with which rights, and the safe defaults.
*/
#include <check.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include "kvp_testkit.h"
#include "kvp_curve.h"

#define S_SILENT_MS 1500        //  a refused peer gets nothing this long

static tk_cluster_t *cluster;
static zsock_t *admin;
static char system_id [37];

static zsock_t *
s_as (const char *name)
{
    return tk_dealer_curve (cluster->clients,
                            tk_key (cluster, "clients", name, true),
                            tk_key (cluster, NULL, "broker", false));
}

static void
s_setup (void)
{
    cluster = tk_cluster_new (2);
    tk_cluster_secure (cluster);
    ck_assert_msg (tk_cluster_start (cluster), "secured cluster not up");
    admin = s_as ("admin");
    ck_assert_int_eq (tk_define (admin, "sec", system_id), 0);
    ck_assert_int_eq (tk_add1 (admin, "AddKvpItems", system_id, 0, "a", "1",
                               NULL, NULL, NULL), 4096);
}

static void
s_teardown (void)
{
    zsock_destroy (&admin);
    tk_cluster_destroy (&cluster);
}

//  Items on the test system, read as admin.
static int64_t
s_items (void)
{
    tk_body_t body;
    tk_body_begin (&body, "GetKvpItems", 1);
    tk_pack_kv_str (&body.pk, "target", system_id);
    tk_reply_t *reply = tk_call (admin, &body, 5000);
    ck_assert_int_eq (tk_rc (reply), 0);
    const msgpack_object *items = tk_get (reply->map, "items");
    int64_t count = items ? (int64_t) items->via.array.size : -1;
    tk_reply_destroy (&reply);
    return count;
}

//  An AddKvpItems of one new item from `sock`: its reply, or NULL.
static tk_reply_t *
s_try_add (zsock_t *sock, const char *name, int timeout_ms)
{
    tk_body_t body;
    tk_body_begin (&body, "AddKvpItems", 2);
    tk_pack_kv_str (&body.pk, "target", system_id);
    tk_pack_str (&body.pk, "items");
    msgpack_pack_array (&body.pk, 1);
    tk_pack_item (&body.pk, 0, name, "x");
    return tk_call (sock, &body, timeout_ms);
}

static void
s_assert_shut_out (zsock_t *sock, const char *what)
{
    int64_t before = s_items ();
    tk_reply_t *reply = s_try_add (sock, what, S_SILENT_MS);
    ck_assert_msg (reply == NULL, "%s got a reply", what);
    ck_assert_int_eq (s_items (), before);
}

START_TEST (test_strangers_get_nothing)
{
    //  No CURVE at all, a key nobody let in, a worker's key as a client.
    zsock_t *plain = tk_dealer (cluster->clients);
    zsock_set_sndtimeo (plain, 1000);   //  no handshake, no pipe to queue on
    s_assert_shut_out (plain, "plain");
    zsock_destroy (&plain);

    char dir [300];
    snprintf (dir, sizeof dir, "%s/stranger", cluster->dir);
    char path [400], error [256];
    ck_assert (kvp_curve_keygen (dir, "eve", "admin", path, sizeof path,
                                 error, sizeof error));
    strcat (path, "_secret");
    zsock_t *eve = tk_dealer_curve (cluster->clients, path,
                                    tk_key (cluster, NULL, "broker", false));
    s_assert_shut_out (eve, "unknown key");
    zsock_destroy (&eve);

    zsock_t *worker = tk_dealer_curve (cluster->clients,
                                       tk_key (cluster, "workers", "w0", true),
                                       tk_key (cluster, NULL, "broker", false));
    s_assert_shut_out (worker, "worker key");
    zsock_destroy (&worker);
}
END_TEST

//  Roles: each op refused names itself and the client; nothing changes.
static void
s_assert_denied (zsock_t *sock, tk_body_t *body, const char *op,
                 const char *who)
{
    int64_t before = s_items ();
    tk_reply_t *reply = tk_call (sock, body, 5000);
    ck_assert_int_eq (tk_rc (reply), 32769);
    const char *error = tk_get_str (reply->map, "error");
    ck_assert_msg (strstr (error, op) && strstr (error, who),
                   "32769 error \"%s\" does not name %s and %s", error, op,
                   who);
    tk_reply_destroy (&reply);
    ck_assert_int_eq (s_items (), before);
}

START_TEST (test_roles)
{
    zsock_t *reader = s_as ("reader");
    zsock_t *writer = s_as ("writer");
    tk_body_t body;
    //  reader: reads, but no item op
    tk_body_begin (&body, "GetKvpItems", 1);
    tk_pack_kv_str (&body.pk, "target", system_id);
    tk_reply_t *reply = tk_call (reader, &body, 5000);
    ck_assert_int_eq (tk_rc (reply), 0);
    tk_reply_destroy (&reply);
    tk_body_begin (&body, "AddKvpItems", 2);
    tk_pack_kv_str (&body.pk, "target", system_id);
    tk_pack_str (&body.pk, "items");
    msgpack_pack_array (&body.pk, 1);
    tk_pack_item (&body.pk, 0, "r", "x");
    s_assert_denied (reader, &body, "AddKvpItems", "reader");
    //  The role outranks a field fault (section 4's order): a bad target.
    tk_body_begin (&body, "RemoveKvpItems", 1);
    tk_pack_kv_uint (&body.pk, "target", 7);
    s_assert_denied (reader, &body, "RemoveKvpItems", "reader");

    //  writer: item ops, but not the system's life
    ck_assert_int_eq (tk_add1 (writer, "AddKvpItems", system_id, 0, "w", "1",
                               NULL, NULL, NULL), 4096);
    tk_body_begin (&body, "DefineSystem", 1);
    tk_pack_kv_str (&body.pk, "name", "nope");
    s_assert_denied (writer, &body, "DefineSystem", "writer");
    tk_body_begin (&body, "DestroySystem", 1);
    tk_pack_kv_str (&body.pk, "target", system_id);
    s_assert_denied (writer, &body, "DestroySystem", "writer");

    //  admin: everything
    tk_body_begin (&body, "ModifySystemSettings", 2);
    tk_pack_kv_str (&body.pk, "target", system_id);
    tk_pack_str (&body.pk, "DataExchangeEnabled");
    msgpack_pack_true (&body.pk);
    reply = tk_call (admin, &body, 5000);
    ck_assert_int_eq (tk_rc (reply), 0);
    tk_reply_destroy (&reply);
    tk_body_begin (&body, "DestroySystem", 1);
    tk_pack_kv_str (&body.pk, "target", system_id);
    reply = tk_call (admin, &body, 5000);
    ck_assert_int_eq (tk_rc (reply), 0);
    tk_reply_destroy (&reply);
    zsock_destroy (&reader);
    zsock_destroy (&writer);
}
END_TEST

//  Events reach allowed subscribers only.
static zsock_t *
s_sub (const char *secret)
{
    zsock_t *sub = zsock_new (ZMQ_SUB);
    if (secret) {
        char error [256];
        kvp_curve_t *curve = kvp_curve_load (secret, tk_key (cluster, NULL,
                                             "broker", false), error,
                                             sizeof error);
        ck_assert_msg (curve, "%s", error);
        kvp_curve_client (curve, sub);
        kvp_curve_destroy (&curve);
    }
    zsock_set_subscribe (sub, "job/");
    zsock_connect (sub, "%s", cluster->events);
    return sub;
}

static int
s_drain (zsock_t *sub, int want, int timeout_ms)
{
    int got = 0;
    int64_t until = zclock_mono () + timeout_ms;
    while (got < want && zclock_mono () < until) {
        zpoller_t *poller = zpoller_new (sub, NULL);
        if (zpoller_wait (poller, 100)) {
            zmsg_t *msg = zmsg_recv (sub);
            got += msg != NULL;
            zmsg_destroy (&msg);
        }
        zpoller_destroy (&poller);
    }
    return got;
}

START_TEST (test_subscribers)
{
    char dir [300], stranger [400], error [256];
    snprintf (dir, sizeof dir, "%s/stranger", cluster->dir);
    ck_assert (kvp_curve_keygen (dir, "mallory", "reader", stranger,
                                 sizeof stranger, error, sizeof error));
    strcat (stranger, "_secret");
    zsock_t *reader = s_sub (tk_key (cluster, "clients", "reader", true));
    zsock_t *plain = s_sub (NULL);
    zsock_t *unknown = s_sub (stranger);
    zclock_sleep (500);             //  subscriptions reach the workers
    enum { N = 20 };
    for (int i = 0; i < N; i++) {
        char name [16];
        snprintf (name, sizeof name, "e%d", i);
        ck_assert_int_eq (tk_add1 (admin, "AddKvpItems", system_id, 0, name,
                                   "x", NULL, NULL, NULL), 4096);
    }
    ck_assert_int_eq (s_drain (reader, N, 5000), N);
    ck_assert_int_eq (s_drain (plain, 1, 500), 0);
    ck_assert_int_eq (s_drain (unknown, 1, 500), 0);
    zsock_destroy (&reader);
    zsock_destroy (&plain);
    zsock_destroy (&unknown);
}
END_TEST

//  A worker's key is its id: not another worker's, and a client key is
//  no worker at all.
static int
s_owned (const char *id)
{
    tk_body_t body;
    tk_body_begin (&body, "ClusterStatus", 0);
    tk_reply_t *reply = tk_call (admin, &body, 5000);
    ck_assert_int_eq (tk_rc (reply), 0);
    int count = -1;
    const msgpack_object *ws = tk_get (reply->map, "workers");
    for (uint32_t w = 0; w < ws->via.array.size; w++)
        if (streq (tk_get_str (&ws->via.array.ptr [w], "id"), id))
            count = (int) tk_get (&ws->via.array.ptr [w],
                                  "partitions")->via.array.size;
    tk_reply_destroy (&reply);
    return count;
}

//  Start a kvp-worker as `id`, on that worker's own data folder (so only
//  the key can give it away), with the key `secret`; its exit status, or
//  -1 if it is still running after `ms` (then it is killed).
static int
s_impostor (const char *id, const char *secret, int ms)
{
    char data [300];
    snprintf (data, sizeof data, "%s/%s", cluster->dir, id);
    pid_t pid = fork ();
    if (pid == 0) {
        char path [512];
        snprintf (path, sizeof path, "%s/kvp-worker",
                  getenv ("KVP_BIN") ? getenv ("KVP_BIN") : "bin");
        int log = open ("/dev/null", O_WRONLY);
        dup2 (log, 2);
        execl (path, path, "--data", data, "--id", id, "--broker",
               cluster->workers_ep, "--events-in", cluster->events_in,
               "--curve-secret", secret, "--broker-public",
               tk_key (cluster, NULL, "broker", false), (char *) NULL);
        _exit (127);
    }
    int64_t until = zclock_mono () + ms;
    int status;
    while (zclock_mono () < until) {
        if (waitpid (pid, &status, WNOHANG) == pid)
            return WIFEXITED (status) ? WEXITSTATUS (status) : -2;
        zclock_sleep (50);
    }
    tk_stop (pid, SIGKILL, 5000);
    return -1;
}

START_TEST (test_worker_identity)
{
    int owned = s_owned ("w1");
    ck_assert_int_gt (owned + s_owned ("w0"), 0);
    tk_stop (cluster->workers [1], SIGKILL, 5000);
    cluster->workers [1] = 0;
    ck_assert (tk_wait_alive (cluster, 1, 15000));
    //  w0's valid key, registering as the absent w1: refused, fatally
    char key [400];
    snprintf (key, sizeof key, "%s", tk_key (cluster, "workers", "w0", true));
    ck_assert_int_eq (s_impostor ("w1", key, 10000), 2);
    ck_assert_int_eq (s_owned ("w1"), owned);
    //  a client's key: never gets past the handshake
    snprintf (key, sizeof key, "%s", tk_key (cluster, "clients", "admin",
                                             true));
    ck_assert_int_eq (s_impostor ("w1", key, 3000), -1);
    ck_assert_int_eq (s_owned ("w1"), owned);
    ck_assert (tk_wait_alive (cluster, 1, 1000));
}
END_TEST

//  A certificate removed shuts its key out of new connections within 5 s;
//  put back, SIGHUP lets it in at once.
START_TEST (test_revocation)
{
    char public [400], saved [420];
    snprintf (public, sizeof public, "%s", tk_key (cluster, "clients",
                                                   "writer", false));
    //  out of the folder: every file in it but *_secret is a certificate
    snprintf (saved, sizeof saved, "%s/writer.saved", cluster->dir);
    zsock_t *writer = s_as ("writer");
    tk_reply_t *reply = s_try_add (writer, "before", 5000);
    ck_assert_int_eq (tk_rc (reply), 4096);
    tk_reply_destroy (&reply);
    zsock_destroy (&writer);
    ck_assert_int_eq (rename (public, saved), 0);
    int64_t removed = zclock_mono ();
    bool shut = false;
    for (int i = 0; i < 12 && !shut; i++) {
        writer = s_as ("writer");
        reply = s_try_add (writer, "probe", 500);
        shut = reply == NULL;
        tk_reply_destroy (&reply);
        zsock_destroy (&writer);
    }
    ck_assert_msg (shut, "a removed key still gets in");
    ck_assert_int_le (zclock_mono () - removed, 5000 + 500);

    ck_assert_int_eq (rename (saved, public), 0);
    kill (cluster->broker, SIGHUP);
    zclock_sleep (200);
    writer = s_as ("writer");
    reply = s_try_add (writer, "after", 1500);
    ck_assert_msg (reply && tk_rc (reply) == 4096,
                   "SIGHUP did not let it in");
    tk_reply_destroy (&reply);
    zsock_destroy (&writer);
}
END_TEST

//  --- the safe defaults: no cluster of their own -------------------------

START_TEST (test_open_secret_refused)
{
    char mode [8] = "0640";
    const char *secret = tk_key (cluster, NULL, "broker", true);
    ck_assert_int_eq (chmod (secret, 0640), 0);
    char out [4096];
    int rc = tk_run_all (out, sizeof out, "kvp-broker", "--data", cluster->dir,
                     "--clients", "tcp://127.0.0.1:1", "--curve-secret",
                     secret, "--clients-allow", cluster->dir,
                     "--workers-allow", cluster->dir, (char *) NULL);
    ck_assert_int_eq (rc, 2);
    ck_assert_msg (strstr (out, mode) && strstr (out, "chmod 600"),
                   "no reason given: %s", out);
    const char *client = tk_key (cluster, "clients", "reader", true);
    ck_assert_int_eq (chmod (client, 0604), 0);
    char public [400];
    snprintf (public, sizeof public, "%s", tk_key (cluster, NULL, "broker",
                                                   false));
    rc = tk_run_all (out, sizeof out, "kvpctl", "--curve-secret", client,
                 "--broker-public", public, "ping", (char *) NULL);
    ck_assert_int_eq (rc, 2);
}
END_TEST

START_TEST (test_protected_mode)
{
    char out [4096], data [300], port [64];
    snprintf (data, sizeof data, "%s/open", cluster->dir);
    snprintf (port, sizeof port, "tcp://0.0.0.0:%d", 1);
    int rc = tk_run_all (out, sizeof out, "kvp-broker", "--data", data,
                     "--clients", port, (char *) NULL);
    ck_assert_int_eq (rc, 2);
    ck_assert_msg (strstr (out, "protected mode"), "no reason: %s", out);
    rc = tk_run_all (out, sizeof out, "kvp-broker", "--data", data, "--events",
                 "tcp://*:1", (char *) NULL);
    ck_assert_int_eq (rc, 2);
}
END_TEST

START_TEST (test_folders_private)
{
    char path [300];
    struct stat st;
    snprintf (path, sizeof path, "%s/broker", cluster->dir);
    ck_assert_int_eq (stat (path, &st), 0);
    ck_assert_int_eq (st.st_mode & 0777, 0700);
    snprintf (path, sizeof path, "%s/w0", cluster->dir);
    ck_assert_int_eq (stat (path, &st), 0);
    ck_assert_int_eq (st.st_mode & 0777, 0700);
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("security");
    TCase *tc = tcase_create ("secured");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_set_timeout (tc, 90);
    tcase_add_test (tc, test_strangers_get_nothing);
    tcase_add_test (tc, test_roles);
    tcase_add_test (tc, test_subscribers);
    tcase_add_test (tc, test_worker_identity);
    tcase_add_test (tc, test_revocation);
    tcase_add_test (tc, test_open_secret_refused);
    tcase_add_test (tc, test_protected_mode);
    tcase_add_test (tc, test_folders_private);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
