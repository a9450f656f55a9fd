/*  kvp_testkit.c - start real kvpbus programs for tests; a raw KVP/1 client.
*/
#include "kvp_testkit.h"
#include "kvp_curve.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define TK_ARGS_MAX 64

static const char *
s_bin_dir (void)
{
    const char *bin = getenv ("KVP_BIN");
    return bin && *bin ? bin : "bin";
}

//  A port on 127.0.0.1 that was free a moment ago (the kernel picks it).
static int
s_free_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET };
    sa.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    int port = -1;
    if (fd >= 0 && bind (fd, (struct sockaddr *) &sa, sizeof sa) == 0
    &&  getsockname (fd, (struct sockaddr *) &sa, &len) == 0)
        port = ntohs (sa.sin_port);
    if (fd >= 0)
        close (fd);
    return port;
}

static int
s_rm_entry (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove (path);
}

int
tk_run_suite (Suite *suite)
{
    SRunner *runner = srunner_create (suite);
    srunner_run_all (runner, CK_NORMAL);
    int failed = srunner_ntests_failed (runner);
    srunner_free (runner);
    return failed ? 1 : 0;
}

bool
tk_mkdtemp (char *dir, size_t size, const char *prefix)
{
    snprintf (dir, size, "/tmp/%s.XXXXXX", prefix);
    return mkdtemp (dir) != NULL;
}

void
tk_rmtree (const char *dir)
{
    nftw (dir, s_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char s_root [128];

void
tk_root_setup (void)
{
    ck_assert (tk_mkdtemp (s_root, sizeof s_root,
                           program_invocation_short_name));
}

void
tk_root_teardown (void)
{
    tk_rmtree (s_root);
}

const char *
tk_root (void)
{
    return s_root;
}

int
tk_argv (char **argv, int max, const char *argv0, va_list args)
{
    int argc = 0;
    argv [argc++] = (char *) argv0;
    char *arg;
    while (argc < max - 1 && (arg = va_arg (args, char *)))
        argv [argc++] = arg;
    argv [argc] = NULL;
    return argc;
}

bool
tk_tmpfs_mount (const char *dir, size_t bytes)
{
    char options [64];
    snprintf (options, sizeof options, "size=%zu,mode=0755", bytes);
    return mount ("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, options) == 0;
}

void
tk_tmpfs_umount (const char *dir)
{
    umount2 (dir, MNT_DETACH);
    rmdir (dir);
}

size_t
tk_fill_disk (const char *path)
{
    static const char zeros [64 * 1024];
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    size_t total = 0;
    ssize_t n = 1;
    //  Bounded: each write takes room until there is none
    while (fd >= 0 && n > 0)
        if ((n = write (fd, zeros, sizeof zeros)) > 0)
            total += (size_t) n;
    //  The last pages, a smaller write at a time
    for (size_t size = sizeof zeros / 2; fd >= 0 && size >= 512; size /= 2)
        while ((n = write (fd, zeros, size)) > 0)
            total += (size_t) n;
    if (fd >= 0)
        close (fd);
    return total;
}

//  Fields 14 and 15 (utime, stime) of /proc/PID/stat, or field 24 (rss
//  pages), after the command name (which may hold spaces).
static bool
s_proc_stat (pid_t pid, unsigned long long *utime, unsigned long long *stime,
             long long *rss)
{
    char path [64], text [1024];
    snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    FILE *file = fopen (path, "r");
    size_t n = file ? fread (text, 1, sizeof text - 1, file) : 0;
    if (file)
        fclose (file);
    text [n] = 0;
    char *after = strrchr (text, ')');
    return after && sscanf (after + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u"
                            " %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %*u"
                            " %*u %lld", utime, stime, rss) == 3;
}

double
tk_cpu_seconds (pid_t pid)
{
    unsigned long long utime, stime;
    long long rss;
    if (!s_proc_stat (pid, &utime, &stime, &rss))
        return -1;
    return (double) (utime + stime) / (double) sysconf (_SC_CLK_TCK);
}

int64_t
tk_rss_bytes (pid_t pid)
{
    unsigned long long utime, stime;
    long long rss;
    if (!s_proc_stat (pid, &utime, &stime, &rss))
        return -1;
    return (int64_t) rss * sysconf (_SC_PAGESIZE);
}

//  Clusters not yet destroyed, so a test that ends early (a failed
//  assertion exits the test process) still leaves no folder behind.
static tk_cluster_t *s_live [16];

static void
s_cleanup_at_exit (void)
{
    for (size_t i = 0; i < sizeof s_live / sizeof s_live [0]; i++)
        if (s_live [i])
            tk_cluster_destroy (&s_live [i]);
}

static void
s_track (tk_cluster_t *self, tk_cluster_t *old)
{
    static bool registered;
    if (!registered) {
        atexit (s_cleanup_at_exit);
        registered = true;
    }
    for (size_t i = 0; i < sizeof s_live / sizeof s_live [0]; i++)
        if (s_live [i] == old) {
            s_live [i] = self;
            return;
        }
}

tk_cluster_t *
tk_cluster_new (int nworkers)
{
    assert (nworkers >= 0 && nworkers <= TK_WORKERS_MAX);
    tk_cluster_t *self = calloc (1, sizeof *self);
    assert (self);
    assert (tk_mkdtemp (self->dir, sizeof self->dir, "kvptest"));
    self->nworkers = nworkers;
    snprintf (self->clients, sizeof self->clients, "tcp://127.0.0.1:%d", s_free_port ());
    snprintf (self->workers_ep, sizeof self->workers_ep, "tcp://127.0.0.1:%d", s_free_port ());
    snprintf (self->events_in, sizeof self->events_in, "tcp://127.0.0.1:%d", s_free_port ());
    snprintf (self->events, sizeof self->events, "tcp://127.0.0.1:%d", s_free_port ());
    s_track (self, NULL);
    return self;
}


void
tk_cluster_destroy (tk_cluster_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tk_cluster_t *self = *self_p;
    *self_p = NULL;
    s_track (NULL, self);
    for (int i = 0; i < self->nworkers; i++)
        if (self->workers [i])
            tk_stop (self->workers [i], SIGKILL, 5000);
    if (self->broker)
        tk_stop (self->broker, SIGKILL, 5000);
    tk_rmtree (self->dir);
    free (self);
}

//  Split `extra` on spaces into argv (in a static copy per call site).
static int
s_split_args (char *copy, char **argv, int max)
{
    int argc = 0;
    for (char *tok = strtok (copy, " "); tok && argc < max; tok = strtok (NULL, " "))
        argv [argc++] = tok;
    return argc;
}

//  The log file of `logname` into `log` (size bytes).
static void
s_log_path (char *log, size_t size, const char *logname)
{
    const char *logdir = getenv ("KVP_TEST_LOGS");
    snprintf (log, size, "%s/%s.log", logdir ? logdir : "/tmp", logname);
}

bool
tk_log_has (const char *name, const char *text)
{
    char log [512];
    s_log_path (log, sizeof log, name);
    FILE *file = fopen (log, "r");
    char *line = NULL;
    size_t size = 0;
    bool found = false;
    while (file && !found && getline (&line, &size, file) > 0)
        found = strstr (line, text) != NULL;
    free (line);
    if (file)
        fclose (file);
    return found;
}

//  fork + exec $KVP_BIN/prog with argv, with an open-file limit of
//  `nofile` when not 0; output appended to a log file.
static pid_t
s_spawn (const char *prog, char **argv, const char *logname, unsigned nofile)
{
    char path [512];
    snprintf (path, sizeof path, "%s/%s", s_bin_dir (), prog);
    argv [0] = path;
    char log [512];
    s_log_path (log, sizeof log, logname);
    pid_t pid = fork ();
    assert (pid >= 0);
    if (pid == 0) {
        //  If the test dies (a failed assert, a Check timeout), so do we.
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        struct rlimit limit = { nofile, nofile };
        if (nofile && setrlimit (RLIMIT_NOFILE, &limit) != 0)
            _exit (126);
        int fd = open (log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2 (fd, 1);
            dup2 (fd, 2);
            close (fd);
        }
        execv (path, argv);
        _exit (127);
    }
    return pid;
}

pid_t
tk_broker_start (tk_cluster_t *self)
{
    char data [300], extra [512] = "";
    snprintf (data, sizeof data, "%s/broker", self->dir);
    if (self->broker_args)
        snprintf (extra, sizeof extra, "%s", self->broker_args);
    char *argv [TK_ARGS_MAX] = { NULL, "--data", data, "--clients", self->clients,
        "--workers", self->workers_ep, "--events-in", self->events_in,
        "--events", self->events };
    int argc = 11;
    char keys [3][400];
    if (self->secure) {
        snprintf (keys [0], sizeof keys [0], "%s", tk_key (self, NULL,
                                                           "broker", true));
        snprintf (keys [1], sizeof keys [1], "%s/keys/clients", self->dir);
        snprintf (keys [2], sizeof keys [2], "%s/keys/workers", self->dir);
        const char *flags [3] = { "--curve-secret", "--clients-allow",
                                  "--workers-allow" };
        for (int k = 0; k < 3; k++) {
            argv [argc++] = (char *) flags [k];
            argv [argc++] = keys [k];
        }
    }
    argc += s_split_args (extra, argv + argc, TK_ARGS_MAX - argc - 1);
    argv [argc] = NULL;
    self->broker = s_spawn ("kvp-broker", argv, "broker",
                            self->broker_nofile);
    return self->broker;
}

pid_t
tk_worker_start (tk_cluster_t *self, int i)
{
    assert (i >= 0 && i < self->nworkers);
    char data [300], id [16], extra [512] = "";
    snprintf (data, sizeof data, "%s/w%d", self->dir, i);
    snprintf (id, sizeof id, "w%d", i);
    if (self->worker_args)
        snprintf (extra, sizeof extra, "%s", self->worker_args);
    //  Small log segments: a test worker has little to log, and each new
    //  segment is written with zeros before use
    char *argv [TK_ARGS_MAX] = { NULL, "--data", data, "--id", id,
        "--broker", self->workers_ep, "--events-in", self->events_in,
        "--wal-segment-size", "1M" };
    int argc = 11;
    char secret [400], broker [400];
    if (self->secure) {
        snprintf (secret, sizeof secret, "%s", tk_key (self, "workers", id,
                                                       true));
        snprintf (broker, sizeof broker, "%s", tk_key (self, NULL, "broker",
                                                       false));
        argv [argc++] = "--curve-secret";
        argv [argc++] = secret;
        argv [argc++] = "--broker-public";
        argv [argc++] = broker;
    }
    argc += s_split_args (extra, argv + argc, TK_ARGS_MAX - argc - 1);
    argv [argc] = NULL;
    self->workers [i] = s_spawn ("kvp-worker", argv, id, 0);
    return self->workers [i];
}

bool
tk_cluster_start (tk_cluster_t *self)
{
    tk_broker_start (self);
    for (int i = 0; i < self->nworkers; i++)
        tk_worker_start (self, i);
    return tk_wait_alive (self, self->nworkers, 15000);
}

int
tk_stop (pid_t pid, int sig, int timeout_ms)
{
    if (pid <= 0)
        return -1;
    kill (pid, sig);
    if (sig != SIGKILL && sig != SIGTERM && sig != SIGINT)
        return 0;
    int64_t until = zclock_mono () + timeout_ms;
    int status;
    while (zclock_mono () < until) {
        pid_t rc = waitpid (pid, &status, WNOHANG);
        if (rc == pid)
            return status;
        if (rc < 0)
            return -1;
        zclock_sleep (10);
    }
    kill (pid, SIGKILL);            //  over time: do not leave it behind
    waitpid (pid, &status, 0);
    return -1;
}

//  Number of workers ClusterStatus reports alive, or -1 without answer.
static int
s_alive_count (zsock_t *sock)
{
    tk_body_t body;
    tk_body_begin (&body, "ClusterStatus", 0);
    tk_reply_t *reply = tk_call (sock, &body, 300);
    if (!reply)
        return -1;
    int alive = 0;
    const msgpack_object *workers = tk_get (reply->map, "workers");
    if (workers && workers->type == MSGPACK_OBJECT_ARRAY)
        for (uint32_t i = 0; i < workers->via.array.size; i++) {
            const msgpack_object *a = tk_get (&workers->via.array.ptr [i], "alive");
            if (a && a->type == MSGPACK_OBJECT_BOOLEAN && a->via.boolean)
                alive++;
        }
    tk_reply_destroy (&reply);
    return alive;
}

bool
tk_wait_alive (tk_cluster_t *self, int alive, int timeout_ms)
{
    int64_t until = zclock_mono () + timeout_ms;
    bool ok = false;
    while (!ok && zclock_mono () < until) {
        zsock_t *sock = self->secure
            ? tk_dealer_curve (self->clients,
                               tk_key (self, "clients", "admin", true),
                               tk_key (self, NULL, "broker", false))
            : tk_dealer (self->clients);
        int64_t round = zclock_mono () + 1000;
        while (!ok && zclock_mono () < round && zclock_mono () < until) {
            ok = s_alive_count (sock) == alive;
            if (!ok)
                zclock_sleep (50);
        }
        zsock_destroy (&sock);      //  a fresh socket drops stale replies
    }
    return ok;
}

//  Read the child's output from `fd` into `out` until it closes it, or
//  until `timeout_ms` (0: no bound) have passed. False on the timeout.
static bool
s_read_output (int fd, char *out, size_t size, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    size_t used = 0;
    ssize_t n = 1;
    char sink [4096];
    while (n > 0) {
        if (timeout_ms) {
            struct pollfd item = { .fd = fd, .events = POLLIN };
            int64_t left = deadline - zclock_mono ();
            if (left <= 0 || poll (&item, 1, (int) left) == 0)
                break;
        }
        n = read (fd, used + 1 < size ? out + used : sink,
                  used + 1 < size ? size - 1 - used : sizeof sink);
        if (n > 0 && used + 1 < size)
            used += n;
    }
    out [used] = 0;
    return n <= 0;
}

static int
s_run (char *out, size_t size, bool errors, int timeout_ms, const char *prog,
       va_list ap)
{
    char *argv [TK_ARGS_MAX] = { NULL };
    int argc = 1;
    const char *arg;
    while ((arg = va_arg (ap, const char *)) && argc < TK_ARGS_MAX - 1)
        argv [argc++] = (char *) arg;
    char path [512];
    snprintf (path, sizeof path, "%s/%s", s_bin_dir (), prog);
    argv [0] = path;
    int pipefd [2];
    assert (pipe (pipefd) == 0);
    pid_t pid = fork ();
    assert (pid >= 0);
    if (pid == 0) {
        dup2 (pipefd [1], 1);
        if (errors)
            dup2 (pipefd [1], 2);
        close (pipefd [0]);
        close (pipefd [1]);
        execv (path, argv);
        _exit (127);
    }
    close (pipefd [1]);
    bool ended = s_read_output (pipefd [0], out, size, timeout_ms);
    close (pipefd [0]);
    if (!ended)                     //  still running past the bound
        kill (pid, SIGKILL);
    int status;
    if (waitpid (pid, &status, 0) != pid || !ended)
        return -1;
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

int
tk_run (char *out, size_t size, const char *prog, ...)
{
    va_list ap;
    va_start (ap, prog);
    int rc = s_run (out, size, false, 0, prog, ap);
    va_end (ap);
    return rc;
}

int
tk_run_all (char *out, size_t size, const char *prog, ...)
{
    va_list ap;
    va_start (ap, prog);
    int rc = s_run (out, size, true, 0, prog, ap);
    va_end (ap);
    return rc;
}

int
tk_run_for (int timeout_ms, char *out, size_t size, const char *prog, ...)
{
    va_list ap;
    va_start (ap, prog);
    int rc = s_run (out, size, true, timeout_ms, prog, ap);
    va_end (ap);
    return rc;
}

/* --- raw client -------------------------------------------------------- */

zsock_t *
tk_dealer (const char *endpoint)
{
    zsock_t *sock = zsock_new_dealer (endpoint);
    assert (sock);
    zsock_set_linger (sock, 0);
    return sock;
}

zsock_t *
tk_dealer_curve (const char *endpoint, const char *secret,
                 const char *broker_public)
{
    if (!secret || !broker_public)
        return tk_dealer (endpoint);
    char error [512];
    kvp_curve_t *curve = kvp_curve_load (secret, broker_public, error,
                                         sizeof error);
    if (!curve)
        fprintf (stderr, "tk_dealer_curve: %s\n", error);
    assert (curve);
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    assert (sock);
    kvp_curve_client (curve, sock);
    kvp_curve_destroy (&curve);
    zsock_set_linger (sock, 0);
    //  A refused handshake leaves no pipe to queue on: sends must not block
    zsock_set_sndtimeo (sock, 1000);
    assert (zsock_connect (sock, "%s", endpoint) == 0);
    return sock;
}

const char *
tk_key (tk_cluster_t *self, const char *kind, const char *name, bool secret)
{
    static char paths [4][400];     //  a few calls may share a statement
    static unsigned next;
    char *path = paths [next++ % 4];
    snprintf (path, sizeof paths [0], "%s/keys%s%s/%s%s", self->dir,
              kind ? "/" : "", kind ? kind : "", name,
              secret ? "_secret" : "");
    return path;
}

static void
s_keygen (const char *dir, const char *name, const char *role)
{
    char path [400], error [512];
    if (!kvp_curve_keygen (dir, name, role, path, sizeof path, error,
                           sizeof error))
        fprintf (stderr, "tk_cluster_secure: %s\n", error);
    assert (access (path, F_OK) == 0);
}

void
tk_cluster_secure (tk_cluster_t *self)
{
    char dir [400];
    snprintf (dir, sizeof dir, "%s/keys", self->dir);
    s_keygen (dir, "broker", NULL);
    snprintf (dir, sizeof dir, "%s/keys/workers", self->dir);
    for (int i = 0; i < self->nworkers; i++) {
        char id [16];
        snprintf (id, sizeof id, "w%d", i);
        s_keygen (dir, id, NULL);
    }
    snprintf (dir, sizeof dir, "%s/keys/clients", self->dir);
    const char *roles [] = { "reader", "writer", "admin" };
    for (int i = 0; i < 3; i++)
        s_keygen (dir, roles [i], roles [i]);
    self->secure = true;
}

void
tk_body_begin (tk_body_t *body, const char *op, size_t extra)
{
    msgpack_sbuffer_init (&body->sbuf);
    msgpack_packer_init (&body->pk, &body->sbuf, msgpack_sbuffer_write);
    msgpack_pack_map (&body->pk, 1 + extra);
    tk_pack_kv_str (&body->pk, "op", op);
}

void
tk_body_end (tk_body_t *body)
{
    msgpack_sbuffer_destroy (&body->sbuf);
}

void
tk_pack_str (msgpack_packer *pk, const char *str)
{
    size_t len = strlen (str);
    msgpack_pack_str (pk, len);
    msgpack_pack_str_body (pk, str, len);
}

void
tk_pack_kv_str (msgpack_packer *pk, const char *key, const char *value)
{
    tk_pack_str (pk, key);
    tk_pack_str (pk, value);
}

void
tk_pack_kv_uint (msgpack_packer *pk, const char *key, uint64_t value)
{
    tk_pack_str (pk, key);
    msgpack_pack_uint64 (pk, value);
}

void
tk_pack_item (msgpack_packer *pk, unsigned source, const char *name,
              const char *data)
{
    msgpack_pack_map (pk, 3);
    tk_pack_kv_str (pk, "Name", name);
    tk_pack_kv_str (pk, "Data", data);
    tk_pack_kv_uint (pk, "Source", source);
}

void
tk_send (zsock_t *sock, tk_body_t *body)
{
    const void *data [3] = { "", "KVP1", body->sbuf.data };
    size_t sizes [3] = { 0, 4, body->sbuf.size };
    tk_send_frames (sock, 3, data, sizes);
}

void
tk_send_frames (zsock_t *sock, int count, const void **data,
                const size_t *sizes)
{
    zmsg_t *msg = zmsg_new ();
    for (int i = 0; i < count; i++)
        zmsg_addmem (msg, data [i], sizes [i]);
    //  Only a socket given a send timeout can fail here (a peer refused in
    //  the handshake): the reply that never comes tells the caller.
    if (zmsg_send (&msg, sock) != 0)
        zmsg_destroy (&msg);
}

tk_reply_t *
tk_recv (zsock_t *sock, int timeout_ms)
{
    zpoller_t *poller = zpoller_new (sock, NULL);
    void *ready = zpoller_wait (poller, timeout_ms);
    zpoller_destroy (&poller);
    if (!ready)
        return NULL;
    zmsg_t *msg = zmsg_recv (sock);
    if (!msg)
        return NULL;
    zframe_t *empty = zmsg_first (msg);
    zframe_t *sig = zmsg_next (msg);
    zframe_t *body = zmsg_next (msg);
    if (zmsg_size (msg) != 3 || zframe_size (empty) != 0 || zframe_size (sig) != 4
    ||  memcmp (zframe_data (sig), "KVP1", 4) != 0) {
        zmsg_destroy (&msg);
        return NULL;
    }
    tk_reply_t *self = calloc (1, sizeof *self);
    msgpack_unpacked_init (&self->unp);
    size_t off = 0;
    if (msgpack_unpack_next (&self->unp, (const char *) zframe_data (body),
                             zframe_size (body), &off) == MSGPACK_UNPACK_SUCCESS
    &&  self->unp.data.type == MSGPACK_OBJECT_MAP)
        self->map = &self->unp.data;
    self->msg = msg;
    return self;
}

tk_reply_t *
tk_call (zsock_t *sock, tk_body_t *body, int timeout_ms)
{
    tk_send (sock, body);
    tk_body_end (body);
    return tk_recv (sock, timeout_ms);
}

void
tk_reply_destroy (tk_reply_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    msgpack_unpacked_destroy (&(*self_p)->unp);
    zmsg_destroy (&(*self_p)->msg);
    free (*self_p);
    *self_p = NULL;
}

const msgpack_object *
tk_get (const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t len = strlen (key);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr [i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == len
        &&  memcmp (k->via.str.ptr, key, len) == 0)
            return &map->via.map.ptr [i].val;
    }
    return NULL;
}

int64_t
tk_get_uint (const msgpack_object *map, const char *key)
{
    const msgpack_object *o = tk_get (map, key);
    return o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (int64_t) o->via.u64 : -1;
}

const char *
tk_get_str (const msgpack_object *map, const char *key)
{
    static char buf [70000];
    const msgpack_object *o = tk_get (map, key);
    buf [0] = 0;
    if (o && o->type == MSGPACK_OBJECT_STR && o->via.str.size < sizeof buf) {
        memcpy (buf, o->via.str.ptr, o->via.str.size);
        buf [o->via.str.size] = 0;
    }
    return buf;
}

int64_t
tk_rc (tk_reply_t *reply)
{
    return reply ? tk_get_uint (reply->map, "rc") : -1;
}

int
tk_define (zsock_t *sock, const char *name, char id [37])
{
    tk_body_t body;
    tk_body_begin (&body, "DefineSystem", 1);
    tk_pack_kv_str (&body.pk, "name", name);
    tk_reply_t *reply = tk_call (sock, &body, 10000);
    int rc = (int) tk_rc (reply);
    if (id)
        snprintf (id, 37, "%s", reply ? tk_get_str (reply->map, "id") : "");
    tk_reply_destroy (&reply);
    return rc;
}

int
tk_add1 (zsock_t *sock, const char *op, const char *target, unsigned source,
         const char *name, const char *data, const char *key, char job [65],
         int64_t *job_state)
{
    tk_body_t body;
    tk_body_begin (&body, op, key ? 3 : 2);
    tk_pack_kv_str (&body.pk, "target", target);
    tk_pack_str (&body.pk, "items");
    msgpack_pack_array (&body.pk, 1);
    tk_pack_item (&body.pk, source, name, data);
    if (key)
        tk_pack_kv_str (&body.pk, "key", key);
    tk_reply_t *reply = tk_call (sock, &body, 10000);
    int rc = (int) tk_rc (reply);
    const msgpack_object *jobmap = reply ? tk_get (reply->map, "job") : NULL;
    if (job)
        snprintf (job, 65, "%s", jobmap ? tk_get_str (jobmap, "InstanceID") : "");
    if (job_state)
        *job_state = jobmap ? tk_get_uint (jobmap, "JobState") : -1;
    tk_reply_destroy (&reply);
    return rc;
}
