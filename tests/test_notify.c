/*  test_notify.c - the service manager's view (kvp_notify): a real broker
    and worker started with NOTIFY_SOCKET naming a datagram socket bound
    here, as systemd does for a Type=notify unit. READY=1 must come when
    the process serves (the worker's only once it is registered),
    WATCHDOG=1 every half WATCHDOG_USEC and only when that is set,
    STOPPING=1 when a stop begins.
*/
#include <check.h>
#include "kvp_testkit.h"
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

//  A datagram socket bound at "<root>/notify", named by NOTIFY_SOCKET
//  for the programs started after this.
static int
s_listen (void)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    snprintf (addr.sun_path, sizeof addr.sun_path, "%s/notify", tk_root ());
    int fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge (fd, 0);
    ck_assert_int_eq (bind (fd, (struct sockaddr *) &addr, sizeof addr), 0);
    setenv ("NOTIFY_SOCKET", addr.sun_path, 1);
    return fd;
}

//  Wait at most `timeout_ms` for a datagram holding the line `want`
//  (e.g. "READY=1"). The WATCHDOG=1 lines before it are counted into
//  *watchdogs (may be NULL). True when it came.
static bool
s_wait_for (int fd, const char *want, int timeout_ms, int *watchdogs)
{
    int64_t until = zclock_mono () + timeout_ms;
    int64_t left;
    while ((left = until - zclock_mono ()) > 0) {
        struct pollfd item = { .fd = fd, .events = POLLIN };
        if (poll (&item, 1, (int) left) != 1)
            continue;
        char text [4096];
        ssize_t len = recv (fd, text, sizeof text - 1, 0);
        ck_assert_int_gt (len, 0);
        text [len] = 0;
        for (char *line = strtok (text, "\n"); line;
             line = strtok (NULL, "\n")) {
            if (streq (line, want))
                return true;
            if (watchdogs && streq (line, "WATCHDOG=1"))
                (*watchdogs)++;
        }
    }
    return false;
}

//  WATCHDOG=1 datagrams that come within `ms`.
static int
s_watchdogs (int fd, int ms)
{
    int count = 0;
    s_wait_for (fd, "(none)", ms, &count);
    return count;
}

//  rc of a Ping on the cluster's clients endpoint (-1: no answer in 1 s).
static int64_t
s_ping (tk_cluster_t *cluster)
{
    zsock_t *sock = tk_dealer (cluster->clients);
    tk_body_t body;
    tk_body_begin (&body, "Ping", 0);
    tk_reply_t *reply = tk_call (sock, &body, 1000);
    int64_t rc = reply ? tk_rc (reply) : -1;
    tk_reply_destroy (&reply);
    zsock_destroy (&sock);
    return rc;
}

START_TEST (test_broker)
{
    int fd = s_listen ();
    setenv ("WATCHDOG_USEC", "400000", 1);      //  a ping every 200 ms
    tk_cluster_t *cluster = tk_cluster_new (0);
    tk_broker_start (cluster);
    ck_assert (s_wait_for (fd, "READY=1", 10000, NULL));
    ck_assert_int_eq (s_ping (cluster), 0);     //  it serves
    //  About 5 in a second; a loaded machine may lose one or two
    int count = s_watchdogs (fd, 1000);
    ck_assert_msg (count >= 3 && count <= 7, "%d watchdog pings", count);
    kill (cluster->broker, SIGTERM);
    ck_assert (s_wait_for (fd, "STOPPING=1", 5000, NULL));
    ck_assert_int_eq (tk_stop (cluster->broker, SIGTERM, 10000), 0);
    cluster->broker = 0;
    //  No WATCHDOG_USEC: no pings
    unsetenv ("WATCHDOG_USEC");
    tk_broker_start (cluster);
    ck_assert (s_wait_for (fd, "READY=1", 10000, NULL));
    ck_assert_int_eq (s_watchdogs (fd, 1000), 0);
    tk_cluster_destroy (&cluster);
    close (fd);
}
END_TEST

START_TEST (test_worker)
{
    int fd = s_listen ();
    setenv ("WATCHDOG_USEC", "400000", 1);
    tk_cluster_t *cluster = tk_cluster_new (1);
    tk_worker_start (cluster, 0);
    //  No broker yet: alive (the watchdog is fed), but not ready
    int count = 0;
    ck_assert (!s_wait_for (fd, "READY=1", 1500, &count));
    ck_assert_int_ge (count, 3);
    //  The broker comes (without the socket): READY=1 once registered
    unsetenv ("NOTIFY_SOCKET");
    tk_broker_start (cluster);
    ck_assert (s_wait_for (fd, "READY=1", 15000, NULL));
    ck_assert (tk_wait_alive (cluster, 1, 100));
    ck_assert_int_ge (s_watchdogs (fd, 1000), 3);
    kill (cluster->workers [0], SIGTERM);
    ck_assert (s_wait_for (fd, "STOPPING=1", 5000, NULL));
    ck_assert_int_eq (tk_stop (cluster->workers [0], SIGTERM, 10000), 0);
    cluster->workers [0] = 0;
    tk_cluster_destroy (&cluster);
    close (fd);
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("notify");
    TCase *tc = tcase_create ("programs");
    tcase_add_checked_fixture (tc, tk_root_setup, tk_root_teardown);
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc, test_broker);
    tcase_add_test (tc, test_worker);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
