/*  kvp_testkit.h - helpers for the tests that run real kvpbus programs.

    A tk_cluster_t is one broker and up to TK_WORKERS_MAX workers, started
    from $KVP_BIN (default bin/) on 127.0.0.1 ports chosen here, with their
    data in a temporary folder that tk_cluster_destroy removes. Processes
    are stopped by PID. Waiting is always polling with a bound.

    The client side speaks KVP/1 with plain zsock + msgpack, as an outside
    client would (nothing from client/), so these tests check the wire;
    a secured cluster's keys are made and read with proto's kvp_curve.
*/
#ifndef KVP_TESTKIT_H_INCLUDED
#define KVP_TESTKIT_H_INCLUDED

#include <check.h>
#include <czmq.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define TK_WORKERS_MAX 8

typedef struct {
    char dir [256];                 /* temporary root, removed at destroy */
    char clients [64];              /* broker endpoints */
    char workers_ep [64];
    char events_in [64];
    char events [64];
    pid_t broker;                   /* 0 when not running */
    pid_t workers [TK_WORKERS_MAX]; /* 0 when not running */
    int nworkers;                   /* workers configured */
    const char *broker_args;        /* extra flags, space-separated, or NULL */
    const char *worker_args;        /* extra flags for every worker, or NULL */
    bool secure;                    /* CURVE on (tk_cluster_secure) */
    unsigned broker_nofile;         /* the broker's open-file limit, soft
                                       and hard (0: as the test's) */
} tk_cluster_t;

/*  Run every test of `suite` (CK_RUN_SUITE / CK_RUN_CASE select, as
    usual) and free it. Returns the exit status for main: 0 when all
    passed, 1 otherwise. */
int tk_run_suite (Suite *suite);

/*  Make a new empty folder "/tmp/<prefix>.XXXXXX" into `dir` (size bytes).
    Returns false if it could not. */
bool tk_mkdtemp (char *dir, size_t size, const char *prefix);
/*  Remove a folder and everything in it (does not follow links). */
void tk_rmtree (const char *dir);
/*  Check fixtures: a fresh folder "/tmp/<program>.XXXXXX" for each test,
    made by tk_root_setup and removed with all it holds by
    tk_root_teardown; tk_root () names it in between. */
void tk_root_setup (void);
void tk_root_teardown (void);
const char *tk_root (void);

/*  A command line for a parser under test: `argv0`, then the arguments of
    the NULL-terminated list `args`, into `argv` (room for `max` pointers;
    a NULL after the last). Returns argc. */
int tk_argv (char **argv, int max, const char *argv0, va_list args);

/*  Mount a tmpfs of `bytes` on `dir` (an existing folder), for tests of
    a full disk. Returns false when mounting is not permitted (not root,
    or a container without the right): the caller skips, saying so. A
    test process that fails ends at once, so mount from an unchecked
    fixture (the runner's process), which also unmounts:
    tk_tmpfs_umount detaches it (lazily: files still open keep it alive
    until they close) and removes the folder. */
bool tk_tmpfs_mount (const char *dir, size_t bytes);
void tk_tmpfs_umount (const char *dir);
/*  Fill the file system holding `path` with a new file of that name
    (zeros until the disk says no room). Returns the bytes written. */
size_t tk_fill_disk (const char *path);

/*  Whether the log of a program started here ($KVP_TEST_LOGS/NAME.log:
    "broker", "w0", ...) holds `text`. */
bool tk_log_has (const char *name, const char *text);

/*  CPU seconds (user + system) a process has used so far, or -1. */
double tk_cpu_seconds (pid_t pid);
/*  Resident memory of a process, bytes, or -1. */
int64_t tk_rss_bytes (pid_t pid);

/*  Make a cluster description with `nworkers` workers and fresh ports;
    nothing is started. */
tk_cluster_t *tk_cluster_new (int nworkers);
/*  Stop everything still running (SIGKILL), remove the folder, free. */
void tk_cluster_destroy (tk_cluster_t **self_p);

/*  Start the broker / worker i (0-based), data in dir/broker, dir/wI,
    worker id "wI". Returns the PID. */
pid_t tk_broker_start (tk_cluster_t *self);
pid_t tk_worker_start (tk_cluster_t *self, int i);
/*  Start the broker and every worker and wait until all are registered. */
bool tk_cluster_start (tk_cluster_t *self);

/*  Turn CURVE on for the programs started from now on: makes the keys in
    DIR/keys (broker; workers/wI for each worker, named "wI"; clients/NAME
    for reader, writer and admin, each with that role) and gives them to
    the broker and workers. tk_wait_alive asks as admin. */
void tk_cluster_secure (tk_cluster_t *self);

/*  The path of a key of a secured cluster: tk_key (self, "clients",
    "reader", true) is DIR/keys/clients/reader_secret. `kind` NULL: the
    broker's. Points into one of four buffers, reused in turn. */
const char *tk_key (tk_cluster_t *self, const char *kind, const char *name,
                    bool secret);

/*  A DEALER to `endpoint` as a CURVE client with our `secret` file and the
    `broker_public` file (either NULL: plain). */
zsock_t *tk_dealer_curve (const char *endpoint, const char *secret,
                          const char *broker_public);

/*  Send `sig` to a PID and, for SIGKILL/SIGTERM/SIGINT, reap it (at most
    timeout_ms). Returns the exit status as waitpid gives it, or -1. */
int tk_stop (pid_t pid, int sig, int timeout_ms);

/*  Poll ClusterStatus until `alive` workers are alive (timeout_ms). */
bool tk_wait_alive (tk_cluster_t *self, int alive, int timeout_ms);

/*  Run a program from $KVP_BIN with arguments (NULL-terminated) and wait
    for it; stdout is captured into `out` (size bytes, NUL-terminated).
    Returns its exit status, or -1. */
int tk_run (char *out, size_t size, const char *prog, ...);
/*  tk_run with the program's stderr in `out` too. */
int tk_run_all (char *out, size_t size, const char *prog, ...);
/*  tk_run_all for at most timeout_ms: a program still running then (its
    output still open) is killed (SIGKILL) and -1 returned. For programs
    expected to refuse to start, which would otherwise run on. */
int tk_run_for (int timeout_ms, char *out, size_t size, const char *prog,
                ...);

/* --- a raw KVP/1 client ------------------------------------------------- */

typedef struct {
    msgpack_sbuffer sbuf;           /* the body being built */
    msgpack_packer pk;              /* packs into sbuf */
} tk_body_t;

typedef struct {
    msgpack_unpacked unp;           /* the reply body */
    msgpack_object *map;            /* its top map, or NULL */
    zmsg_t *msg;                    /* the frames as received */
} tk_reply_t;

/*  A DEALER connected to `endpoint`. */
zsock_t *tk_dealer (const char *endpoint);

/*  Start a body: a map of 1 + `extra` pairs, `op` first. */
void tk_body_begin (tk_body_t *body, const char *op, size_t extra);
void tk_body_end (tk_body_t *body);
void tk_pack_str (msgpack_packer *pk, const char *str);
void tk_pack_kv_str (msgpack_packer *pk, const char *key, const char *value);
void tk_pack_kv_uint (msgpack_packer *pk, const char *key, uint64_t value);
/*  One item map {Name, Data, Source}. */
void tk_pack_item (msgpack_packer *pk, unsigned source, const char *name,
                   const char *data);

/*  Send the body as [empty][KVP1][body]. */
void tk_send (zsock_t *sock, tk_body_t *body);
/*  Send arbitrary frames: `count` frames of the given sizes. */
void tk_send_frames (zsock_t *sock, int count, const void **data,
                     const size_t *sizes);
/*  Receive one reply (NULL on timeout or if it is not [empty][KVP1][map]). */
tk_reply_t *tk_recv (zsock_t *sock, int timeout_ms);
/*  tk_send + tk_recv; the body is ended. */
tk_reply_t *tk_call (zsock_t *sock, tk_body_t *body, int timeout_ms);
void tk_reply_destroy (tk_reply_t **self_p);

/*  Reply field access: NULL / -1 / "" when absent or of another type. */
const msgpack_object *tk_get (const msgpack_object *map, const char *key);
int64_t tk_get_uint (const msgpack_object *map, const char *key);
/*  A str field copied into a static buffer (each call overwrites it). */
const char *tk_get_str (const msgpack_object *map, const char *key);
/*  rc of a reply, -1 if none. */
int64_t tk_rc (tk_reply_t *reply);

/*  Conveniences over a cluster's clients endpoint. Each returns the
    reply's rc; ids/job ids are copied into the caller's buffer. */
int tk_define (zsock_t *sock, const char *name, char id [37]);
int tk_add1 (zsock_t *sock, const char *op, const char *target,
             unsigned source, const char *name, const char *data,
             const char *key, char job [65], int64_t *job_state);

#endif
