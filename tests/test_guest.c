/*  test_guest.c - bin/kvp-guest against a real cluster: the pool file it
    keeps, read here with the kernel's record layout, follows adds,
    modifies and removes (never a Source 4 item), is emptied after a
    DestroySystem, catches up after the agent is restarted (from its
    position file, and reading the items again when the events it missed
    are past retention) and after the broker is killed and restarted; a reader
    holding the pool file's lock delays the agent's replace, and readers
    never see part of a file.
*/
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "kvp_testkit.h"
#include "kvp_guid.h"

//  include/uapi/linux/hyperv.h
#define HV_KVP_EXCHANGE_MAX_KEY_SIZE    512
#define HV_KVP_EXCHANGE_MAX_VALUE_SIZE  2048
struct kvp_record {
    char key [HV_KVP_EXCHANGE_MAX_KEY_SIZE];
    char value [HV_KVP_EXCHANGE_MAX_VALUE_SIZE];
};

#define S_WAIT_MS   15000

static tk_cluster_t *cluster;
static zsock_t *client;
static char s_id [37];
static char s_pool [300];           /* the pool folder */
static char s_file [320];           /* its .kvp_pool_0 */
static char s_position [300];
static pid_t s_guest;
static char s_secret [400];         /* secured: the agent's reader key */
static char s_broker_key [400];     /* and the broker's public file */

//  --- the agent ------------------------------------------------------------------

static pid_t
s_guest_start (void)
{
    const char *bin = getenv ("KVP_BIN");
    char path [512], log [512];
    snprintf (path, sizeof path, "%s/kvp-guest", bin? bin: "bin");
    const char *logs = getenv ("KVP_TEST_LOGS");
    snprintf (log, sizeof log, "%s/test_guest-agent.log", logs? logs: "/tmp");
    pid_t pid = fork ();
    ck_assert_int_ge (pid, 0);
    if (pid == 0) {
        int fd = open (log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2 (fd, 1);
            dup2 (fd, 2);
        }
        //  Secured, the keys come from the environment, as the README says
        if (*s_secret) {
            setenv ("KVP_CURVE_SECRET", s_secret, 1);
            setenv ("KVP_BROKER_PUBLIC", s_broker_key, 1);
        }
        //  A list of brokers, the first never there: the agent is served
        //  by the one that is
        char brokers [200];
        snprintf (brokers, sizeof brokers, "tcp://127.0.0.1:1,%s",
                  cluster->clients);
        execl (path, path, "--system", s_id, "--pool-dir", s_pool,
               "--position", s_position, "--broker", brokers,
               "--events", cluster->events, "--resync-ms", "300",
               "--timeout-ms", "1000", (char *) NULL);
        _exit (127);
    }
    return pid;
}

static void
s_setup_with (int workers, const char *worker_args, bool secure)
{
    cluster = tk_cluster_new (workers);
    cluster->worker_args = worker_args;
    *s_secret = 0;
    if (secure) {
        tk_cluster_secure (cluster);
        snprintf (s_secret, sizeof s_secret, "%s",
                  tk_key (cluster, "clients", "reader", true));
        snprintf (s_broker_key, sizeof s_broker_key, "%s",
                  tk_key (cluster, NULL, "broker", false));
    }
    ck_assert_msg (tk_cluster_start (cluster), "cluster did not come up");
    client = secure ? tk_dealer_curve (cluster->clients,
                                       tk_key (cluster, "clients", "admin",
                                               true), s_broker_key)
                    : tk_dealer (cluster->clients);
    ck_assert_int_eq (tk_define (client, "guest", s_id), 0);
    snprintf (s_pool, sizeof s_pool, "%s/hyperv", cluster->dir);
    snprintf (s_file, sizeof s_file, "%s/.kvp_pool_0", s_pool);
    snprintf (s_position, sizeof s_position, "%s/guest.pos", cluster->dir);
    s_guest = s_guest_start ();
}

static void
s_setup (void)
{
    s_setup_with (2, NULL, false);
}

//  CURVE on: the agent holds a reader key (it only reads and subscribes).
static void
s_setup_secure (void)
{
    s_setup_with (2, NULL, true);
}

static void
s_teardown (void)
{
    if (s_guest)
        tk_stop (s_guest, SIGKILL, 5000);
    s_guest = 0;
    zsock_destroy (&client);
    tk_cluster_destroy (&cluster);
}

//  --- the reader: the kernel's layout, under the daemon's lock -----------------

//  Read the pool file as "key=value;..." (records in file order) into
//  `out`. Returns the record count, -1 if there is no file, -2 if the file
//  is not whole records or a field lacks its NUL.
static int
s_read_pool (char *out, size_t size)
{
    out [0] = '\0';
    int fd = open (s_file, O_RDONLY);
    if (fd < 0)
        return -1;
    struct flock lock = { .l_type = F_RDLCK, .l_whence = SEEK_SET };
    ck_assert_int_eq (fcntl (fd, F_SETLKW, &lock), 0);
    struct kvp_record record;
    int count = 0;
    ssize_t n;
    size_t used = 0;
    while ((n = read (fd, &record, sizeof record)) == (ssize_t) sizeof record) {
        if (!memchr (record.key, 0, sizeof record.key)
        ||  !memchr (record.value, 0, sizeof record.value)) {
            count = -2;
            break;
        }
        used += snprintf (out + used, used < size? size - used: 0, "%s%s=%s",
                          count? ";": "", record.key, record.value);
        count++;
    }
    if (n != 0 && count >= 0)
        count = -2;             //  a partial record
    close (fd);                 //  releases the lock
    return count;
}

//  Wait until the pool reads `want`; returns what it read last.
static const char *
s_wait_pool (const char *want)
{
    static char text [65536];
    for (int i = 0; i < S_WAIT_MS / 20; i++) {
        int count = s_read_pool (text, sizeof text);
        ck_assert_int_ne (count, -2);
        if (count >= 0 && streq (text, want))
            break;
        zclock_sleep (20);
    }
    return text;
}

static void
s_job (const char *op, unsigned source, const char *name, const char *data)
{
    int64_t state = 0;
    ck_assert_int_eq (tk_add1 (client, op, s_id, source, name, data, NULL,
                               NULL, &state), 4096);
    ck_assert_int_eq (state, 7);
}

//  --- tests ----------------------------------------------------------------------------

START_TEST (test_follows_items)
{
    ck_assert_str_eq (s_wait_pool (""), "");
    s_job ("AddKvpItems", 0, "role", "web");
    ck_assert_str_eq (s_wait_pool ("role=web"), "role=web");
    s_job ("AddKvpItems", 4, "secret", "host-only");
    s_job ("AddKvpItems", 0, "dc", "west");
    ck_assert_str_eq (s_wait_pool ("dc=west;role=web"), "dc=west;role=web");
    s_job ("ModifyKvpItems", 0, "role", "db");
    ck_assert_str_eq (s_wait_pool ("dc=west;role=db"), "dc=west;role=db");
    s_job ("RemoveKvpItems", 0, "dc", "");
    ck_assert_str_eq (s_wait_pool ("role=db"), "role=db");
    //  A long value fills its field up to the NUL
    char data [2048];
    memset (data, 'v', 2047);
    data [2047] = '\0';
    char want [2100];
    snprintf (want, sizeof want, "long=%s;role=db", data);
    s_job ("AddKvpItems", 0, "long", data);
    ck_assert_str_eq (s_wait_pool (want), want);
    struct stat st;
    ck_assert_int_eq (stat (s_file, &st), 0);
    ck_assert_int_eq (st.st_size, 2 * sizeof (struct kvp_record));
    ck_assert (strstr (s_wait_pool (want), "secret") == NULL);
}
END_TEST

START_TEST (test_destroy_empties_the_file)
{
    s_job ("AddKvpItems", 0, "a", "1");
    ck_assert_str_eq (s_wait_pool ("a=1"), "a=1");
    tk_body_t body;
    tk_body_begin (&body, "DestroySystem", 1);
    tk_pack_kv_str (&body.pk, "target", s_id);
    tk_reply_t *reply = tk_call (client, &body, 5000);
    ck_assert_int_eq (tk_rc (reply), 0);
    tk_reply_destroy (&reply);
    ck_assert_str_eq (s_wait_pool (""), "");
    struct stat st;
    ck_assert_int_eq (stat (s_file, &st), 0);
    ck_assert_int_eq (st.st_size, 0);
}
END_TEST

//  The partition's last seq (GetEvents).
static int64_t
s_last_seq (void)
{
    kvp_guid_t guid;
    kvp_guid_parse (&guid, s_id, 36);
    tk_body_t body;
    tk_body_begin (&body, "GetEvents", 2);
    tk_pack_kv_uint (&body.pk, "partition", kvp_guid_partition (&guid, 64));
    tk_pack_kv_uint (&body.pk, "from", 1);
    tk_reply_t *reply = tk_call (client, &body, 5000);
    int64_t last = reply? tk_get_uint (reply->map, "last"): -1;
    tk_reply_destroy (&reply);
    return last;
}

START_TEST (test_restart_resumes_from_position)
{
    //  The agent saves its position once it has written the file
    for (int i = 0; i < S_WAIT_MS / 20 && access (s_position, R_OK) != 0; i++)
        zclock_sleep (20);
    ck_assert_int_eq (access (s_position, R_OK), 0);
    s_job ("AddKvpItems", 0, "before", "1");
    ck_assert_str_eq (s_wait_pool ("before=1"), "before=1");
    ck_assert_int_eq (tk_stop (s_guest, SIGTERM, 10000), 0);   //  exit 0
    s_guest = 0;
    s_job ("AddKvpItems", 0, "while", "down");
    s_job ("ModifyKvpItems", 0, "before", "2");
    ck_assert_str_eq (s_wait_pool ("before=1"), "before=1");   //  nobody wrote
    s_guest = s_guest_start ();
    ck_assert_str_eq (s_wait_pool ("before=2;while=down"), "before=2;while=down");
    //  The position names the partition's last seq once caught up
    kvp_guid_t guid;
    kvp_guid_parse (&guid, s_id, 36);
    char want [64], text [256] = "";
    snprintf (want, sizeof want, "%u %" PRId64 "\n",
              kvp_guid_partition (&guid, 64), s_last_seq ());
    for (int i = 0; i < S_WAIT_MS / 20 && !strstr (text, want); i++) {
        FILE *file = fopen (s_position, "r");
        size_t n = file? fread (text, 1, sizeof text - 1, file): 0;
        text [n] = '\0';
        if (file)
            fclose (file);
        zclock_sleep (20);
    }
    ck_assert_msg (strstr (text, want), "position \"%s\", want \"%s\"", text, want);
}
END_TEST

//  A snapshot of a system past 4 MiB of Source 0 items (2100 of 2047
//  bytes) is read page by page: the agent started on it fills its file
//  with every item.
START_TEST (test_snapshot_past_4mib)
{
    ck_assert_int_ne (tk_stop (s_guest, SIGKILL, 10000), -1);
    s_guest = 0;
    unlink (s_position);
    static char data [2048];
    memset (data, 'v', 2047);
    for (int r = 0; r * 128 < 2100; r++) {
        tk_body_t body;
        int count = 2100 - r * 128 < 128? 2100 - r * 128: 128;
        tk_body_begin (&body, "AddKvpItems", 2);
        tk_pack_kv_str (&body.pk, "target", s_id);
        tk_pack_str (&body.pk, "items");
        msgpack_pack_array (&body.pk, (size_t) count);
        for (int i = 0; i < count; i++) {
            char name [16];
            snprintf (name, sizeof name, "k%04d", r * 128 + i);
            tk_pack_item (&body.pk, 0, name, data);
        }
        tk_reply_t *reply = tk_call (client, &body, 10000);
        ck_assert_int_eq (tk_rc (reply), 4096);
        tk_reply_destroy (&reply);
    }
    s_guest = s_guest_start ();
    static char text [65536];
    int count = -1;
    for (int i = 0; i < S_WAIT_MS / 50 && count != 2100; i++) {
        count = s_read_pool (text, sizeof text);
        ck_assert_int_ne (count, -2);
        if (count != 2100)
            zclock_sleep (50);
    }
    ck_assert_int_eq (count, 2100);
    ck_assert_int_eq (strncmp (text, "k0000=vvv", 9), 0);
}
END_TEST

START_TEST (test_broker_restart)
{
    s_job ("AddKvpItems", 0, "x", "1");
    ck_assert_str_eq (s_wait_pool ("x=1"), "x=1");
    tk_stop (cluster->broker, SIGKILL, 5000);
    cluster->broker = tk_broker_start (cluster);
    ck_assert (tk_wait_alive (cluster, 2, 20000));
    s_job ("AddKvpItems", 0, "y", "2");
    s_job ("RemoveKvpItems", 0, "x", "");
    ck_assert_str_eq (s_wait_pool ("y=2"), "y=2");
}
END_TEST

START_TEST (test_lock_delays_the_replace)
{
    s_job ("AddKvpItems", 0, "k", "old");
    ck_assert_str_eq (s_wait_pool ("k=old"), "k=old");
    int fd = open (s_file, O_RDONLY);
    ck_assert_int_ge (fd, 0);
    struct flock lock = { .l_type = F_RDLCK, .l_whence = SEEK_SET };
    ck_assert_int_eq (fcntl (fd, F_SETLKW, &lock), 0);
    struct stat held, now;
    ck_assert_int_eq (fstat (fd, &held), 0);
    s_job ("ModifyKvpItems", 0, "k", "new");
    //  While we hold the lock the file is not replaced
    for (int i = 0; i < 40; i++) {
        ck_assert_int_eq (stat (s_file, &now), 0);
        ck_assert_int_eq (now.st_ino, held.st_ino);
        zclock_sleep (20);
    }
    char text [64];
    ck_assert_int_eq (pread (fd, text, 5, 0), 5);
    ck_assert (memcmp (text, "k\0\0\0\0", 5) == 0);
    close (fd);                 //  lets the agent go on
    ck_assert_str_eq (s_wait_pool ("k=new"), "k=new");
    ck_assert_int_eq (stat (s_file, &now), 0);
    ck_assert_int_ne (now.st_ino, held.st_ino);
}
END_TEST

//  A child that reads the pool under its lock for `ms`; its exit status
//  is the number of reads that were not whole files, or 100 if it never
//  read one.
static pid_t
s_reader (int ms)
{
    pid_t pid = fork ();
    ck_assert_int_ge (pid, 0);
    if (pid == 0) {
        int64_t end = zclock_mono () + ms;
        int bad = 0, good = 0;
        char text [65536];
        while (zclock_mono () < end) {
            int count = s_read_pool (text, sizeof text);
            if (count == -2 || (count >= 0 && count != 40))
                bad++;
            else
            if (count == 40)
                good++;
        }
        _exit (bad? (bad > 99? 99: bad): good? 0: 100);
    }
    return pid;
}

START_TEST (test_readers_never_see_part_of_a_file)
{
    //  40 items of long values: each file is 100 KiB, written many times
    char data [2048];
    memset (data, 'd', 2000);
    data [2000] = '\0';
    for (int i = 0; i < 40; i++) {
        char name [16];
        snprintf (name, sizeof name, "n%02d", i);
        s_job ("AddKvpItems", 0, name, data);
    }
    char text [65536];
    for (int i = 0; i < S_WAIT_MS / 20 && s_read_pool (text, sizeof text) != 40; i++)
        zclock_sleep (20);
    ck_assert_int_eq (s_read_pool (text, sizeof text), 40);
    pid_t reader = s_reader (3000);
    for (int i = 0; i < 60; i++) {
        char name [16];
        snprintf (name, sizeof name, "n%02d", i % 40);
        data [0] = 'a' + i % 26;
        s_job ("ModifyKvpItems", 0, name, data);
    }
    int status;
    ck_assert_int_eq (waitpid (reader, &status, 0), reader);
    ck_assert (WIFEXITED (status));
    ck_assert_int_eq (WEXITSTATUS (status), 0);
}
END_TEST

//  The bytes appended to the agent's log from `offset` on.
static char *
s_log_since (long offset)
{
    const char *logs = getenv ("KVP_TEST_LOGS");
    char path [512];
    snprintf (path, sizeof path, "%s/test_guest-agent.log", logs? logs: "/tmp");
    FILE *file = fopen (path, "r");
    ck_assert_ptr_nonnull (file);
    fseek (file, 0, SEEK_END);
    long end = ftell (file);
    long size = end > offset? end - offset: 0;
    char *text = (char *) zmalloc (size + 1);
    fseek (file, end > offset? offset: end, SEEK_SET);
    size_t n = fread (text, 1, size, file);
    text [n] = '\0';
    fclose (file);
    return text;
}

START_TEST (test_lost_events_resync)
{
    for (int i = 0; i < S_WAIT_MS / 20 && access (s_position, R_OK) != 0; i++)
        zclock_sleep (20);
    ck_assert_int_eq (access (s_position, R_OK), 0);
    ck_assert_int_eq (tk_stop (s_guest, SIGTERM, 10000), 0);
    s_guest = 0;
    int64_t before = s_last_seq ();
    s_job ("AddKvpItems", 0, "gone", "1");
    s_job ("AddKvpItems", 0, "kept", "2");
    s_job ("RemoveKvpItems", 0, "gone", "");
    //  Wait (bounded) until the three events are past retention
    kvp_guid_t guid;
    kvp_guid_parse (&guid, s_id, 36);
    int64_t first = 0;
    for (int i = 0; i < 300 && first <= before + 3; i++) {
        tk_body_t body;
        tk_body_begin (&body, "GetEvents", 2);
        tk_pack_kv_uint (&body.pk, "partition", kvp_guid_partition (&guid, 64));
        tk_pack_kv_uint (&body.pk, "from", 1);
        tk_reply_t *reply = tk_call (client, &body, 5000);
        first = reply? tk_get_uint (reply->map, "first"): -1;
        tk_reply_destroy (&reply);
        if (first <= before + 3)
            zclock_sleep (100);
    }
    ck_assert_int_gt (first, before + 3);
    const char *logs = getenv ("KVP_TEST_LOGS");
    char path [512];
    snprintf (path, sizeof path, "%s/test_guest-agent.log", logs? logs: "/tmp");
    struct stat st;
    long offset = stat (path, &st) == 0? (long) st.st_size: 0;
    s_guest = s_guest_start ();
    ck_assert_str_eq (s_wait_pool ("kept=2"), "kept=2");
    char *text = NULL;
    for (int i = 0; i < S_WAIT_MS / 50; i++) {
        zstr_free (&text);
        text = s_log_since (offset);
        if (strstr (text, "lost 3 events"))
            break;
        zclock_sleep (50);
    }
    ck_assert_msg (strstr (text, "lost 3 events"), "agent log: %s", text);
    zstr_free (&text);
}
END_TEST

static void
s_setup_short (void)
{
    s_setup_with (1, "--retention 1", false);
}

START_TEST (test_command_line)
{
    char out [4096];
    ck_assert_int_eq (tk_run (out, sizeof out, "kvp-guest", "--help", NULL), 0);
    ck_assert (strstr (out, "--pool-dir"));
    ck_assert_int_eq (tk_run (out, sizeof out, "kvp-guest", "--pool-dir", "/tmp", NULL), 2);
    ck_assert_int_eq (tk_run (out, sizeof out, "kvp-guest", "--nope", NULL), 2);
}
END_TEST

int
main (void)
{
    Suite *suite = suite_create ("guest");
    TCase *tc = tcase_create ("agent");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_set_timeout (tc, 120);
    tcase_add_test (tc, test_follows_items);
    tcase_add_test (tc, test_destroy_empties_the_file);
    tcase_add_test (tc, test_restart_resumes_from_position);
    tcase_add_test (tc, test_broker_restart);
    tcase_add_test (tc, test_snapshot_past_4mib);
    tcase_add_test (tc, test_lock_delays_the_replace);
    tcase_add_test (tc, test_readers_never_see_part_of_a_file);
    suite_add_tcase (suite, tc);
    TCase *lost = tcase_create ("retention");
    tcase_add_checked_fixture (lost, s_setup_short, s_teardown);
    tcase_set_timeout (lost, 120);
    tcase_add_test (lost, test_lost_events_resync);
    suite_add_tcase (suite, lost);
    TCase *secure = tcase_create ("secured");
    tcase_add_checked_fixture (secure, s_setup_secure, s_teardown);
    tcase_set_timeout (secure, 120);
    tcase_add_test (secure, test_follows_items);
    tcase_add_test (secure, test_destroy_empties_the_file);
    suite_add_tcase (suite, secure);
    TCase *cli = tcase_create ("command line");
    tcase_add_test (cli, test_command_line);
    suite_add_tcase (suite, cli);
    return tk_run_suite (suite);
}
