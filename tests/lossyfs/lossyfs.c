/*  lossyfs.c - a FUSE file system that loses, on command, exactly what a
    disk with a volatile write cache loses in a power cut.

    Usage: lossyfs [--tear] [--seed N] [--sync-latency US] [--cut-file PATH]
                   [--verbose] BACKING MOUNTPOINT

    It serves the folder BACKING at MOUNTPOINT and stays in the foreground.
    BACKING always holds the durable state, nothing else; the rest is in
    lossyfs's memory. SIGUSR1 cuts the power; SIGTERM (or SIGINT, or an
    unmount) ends it. Mounting BACKING again shows exactly what survived.

    What it models
    --------------
    * Data. A write is seen at once by read(2) and by mappings (the kernel's
      page cache is used: no direct I/O, no write-back cache, so each write
      reaches lossyfs in order, and pages read back are built from the
      durable bytes with every pending write over them). It becomes durable
      when the file is fsync'd or fdatasync'd (the two are the same here),
      through any descriptor of it. A size change - ftruncate, O_TRUNC, the
      growth of fallocate (mode 0; other modes are EOPNOTSUPP) - is data
      like a write: pending until the file is synced. fallocate reserves
      its space in BACKING at once, so a full disk shows there.
    * O_DSYNC and O_SYNC. A write through such a descriptor is durable when
      it returns. The kernel follows each such write with an fsync of the
      file, which lossyfs cannot tell from any other fsync, so the whole
      file's pending data becomes durable then, not only that write's range.
    * Names. Creating, unlinking and renaming a file or folder changes only
      the namespace that processes see. fsync of a folder makes its current
      entries durable: new names appear in BACKING, unlinked names go, and
      a rename into or out of that folder completes on both sides at once
      (as one journal record would). Until then the old durable names stay:
      a file created, written and fdatasync'd whose folder was never
      fsync'd disappears at the cut, whatever was synced into it; a file
      unlinked without a folder fsync comes back with its durable content;
      a file renamed over another brings the other back. A node with no
      durable name lives in BACKING's hidden folder .lossyfs.unnamed (so
      its synced data has somewhere to go); that folder is emptied at every
      mount and at the cut, and cannot be seen or created through the mount.
    * The cut (SIGUSR1). Under the same lock as every operation, so each
      operation happened wholly before it or not at all: with --tear, a
      random number (0 to all, by --seed) of the 512-byte sectors of the
      newest write not yet synced, counted from its start, is made durable
      first (extending the file if they reach past its durable size); then
      every pending write, size change and name change is thrown away.
      From then on every operation fails with EIO (the kernel's bookkeeping
      of forget and release excepted) until the file system is unmounted,
      so whatever the processes still running do reaches nothing. The
      kernel's cached pages of every file are dropped. Then lossyfs writes
      a one-line report to --cut-file (written as PATH.tmp, then renamed:
      its appearance means the cut is complete) and logs it.
    * Sync latency (--sync-latency US). Each fsync, fdatasync, folder fsync
      and O_DSYNC write waits that long before it makes anything durable,
      as a disk's cache flush does, without holding the lock: a cut in
      that time loses what it would have saved, and the call fails with
      EIO. lossyfs serves one request at a time, so meanwhile the others
      wait, as on a disk that does one flush at a time. Without it a sync
      costs nothing, and a cut almost never finds a write waiting for one.
    * A clean unmount (SIGTERM, SIGINT, umount) without a cut makes
      everything durable first, as a clean shutdown would.
    * statfs answers with the figures of BACKING's file system.

    What it does not model
    ----------------------
    * A disk keeps unsynced writes in no particular order and may persist
      any subset of them; here they are all lost together, and only the
      newest write can be torn. Writes that overwrite synced data are
      likewise all-or-nothing (no mixed old and new sectors except by the
      tear).
    * Real file systems often make more durable than asked (a journal
      commit carries other files' metadata, ext4 and btrfs persist a new
      file's name with its first fsync). lossyfs gives only what POSIX
      promises, so it finds code that relies on those extras.
    * Metadata other than size (mode, owner, times) lives in memory only
      and is not persisted at all: after a remount it is what BACKING has
      (the creation mode, the host's times). No hard links, symbolic links,
      special files, extended attributes, RENAME_EXCHANGE or
      RENAME_WHITEOUT. fcntl locks are the kernel's local ones.
    * "Durable" means written into BACKING; lossyfs does not fsync BACKING
      itself (the host is not the machine whose power is cut).
    * Pending data is held in memory without bound, and writes never fail
      for lack of space (only fallocate and a sync can report ENOSPC).
    * A write through O_DSYNC is never torn: the cut falls before it
      reaches lossyfs or after it is durable (or, with --sync-latency,
      while it waits: then it is pending and may be the torn one).
    * A process killed by a signal while a write is in the kernel may have
      part of it delivered; that is the kernel's business, before lossyfs.
*/
#include "lfs_ops.h"
#include "lfs_log.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

bool lfs_verbose;

void
lfs_log (const char *format, ...)
{
    char line [1024];
    va_list args;
    va_start (args, format);
    vsnprintf (line, sizeof line, format, args);
    va_end (args);
    fprintf (stderr, "lossyfs[%d]: %s\n", (int) getpid (), line);
}

typedef struct {
    bool tear;                  //  --tear
    unsigned seed;              //  --seed (default: from the clock)
    unsigned latency_us;        //  --sync-latency
    const char *cut_file;       //  --cut-file, or NULL
    const char *backing;        //  BACKING, resolved
    const char *mountpoint;     //  MOUNTPOINT
} s_options_t;

typedef struct {
    lfs_fs_t *fs;
    struct fuse_session *se;
    s_options_t *options;
    volatile sig_atomic_t stop;     //  set by main: the thread returns
} s_control_t;

static void
s_usage (FILE *out)
{
    fprintf (out,
        "usage: lossyfs [--tear] [--seed N] [--sync-latency US]\n"
        "               [--cut-file PATH] [--verbose] BACKING MOUNTPOINT\n\n"
        "Serves BACKING at MOUNTPOINT; what is not synced stays in memory.\n"
        "kill -USR1 PID cuts the power (everything unsynced is lost);\n"
        "kill -TERM PID unmounts (cleanly, if there was no cut).\n\n"
        "  --tear           at the cut, keep a random prefix (whole 512-byte\n"
        "                   sectors) of the newest unsynced write\n"
        "  --seed N         random seed for the tear\n"
        "  --sync-latency US  each sync waits this long (unlocked) before it\n"
        "                   makes anything durable\n"
        "  --cut-file PATH  write the cut's report there once it is done\n"
        "  --verbose        log every change and sync\n");
}

//  Returns 0, 1 for --help, or 2 for a bad command line.
static int
s_parse (int argc, char *argv [], s_options_t *options)
{
    static const struct option longs [] = {
        { "tear", no_argument, NULL, 't' },
        { "seed", required_argument, NULL, 's' },
        { "sync-latency", required_argument, NULL, 'l' },
        { "cut-file", required_argument, NULL, 'c' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    options->seed = (unsigned) time (NULL) ^ (unsigned) getpid ();
    int opt;
    while ((opt = getopt_long (argc, argv, "", longs, NULL)) != -1)
        switch (opt) {
            case 't': options->tear = true; break;
            case 's': options->seed = (unsigned) strtoul (optarg, NULL, 10); break;
            case 'l': options->latency_us = (unsigned) strtoul (optarg, NULL, 10); break;
            case 'c': options->cut_file = optarg; break;
            case 'v': lfs_verbose = true; break;
            case 'h': return 1;
            default: return 2;
        }
    if (argc - optind != 2)
        return 2;
    static char backing [PATH_MAX];
    if (!realpath (argv [optind], backing)) {
        fprintf (stderr, "lossyfs: %s: %s\n", argv [optind], strerror (errno));
        return 2;
    }
    options->backing = backing;
    options->mountpoint = argv [optind + 1];
    return 0;
}

//  --- the cut ---------------------------------------------------------------

typedef struct {
    fuse_ino_t *inos;           //  files whose cached pages to drop
    size_t count, cap;
} s_inos_t;

static void
s_collect (lfs_node_t *node, void *arg)
{
    s_inos_t *set = arg;
    if (!S_ISREG (node->mode))
        return;
    if (set->count == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 64;
        fuse_ino_t *inos = realloc (set->inos, cap * sizeof *inos);
        if (!inos)
            return;
        set->inos = inos;
        set->cap = cap;
    }
    set->inos [set->count++] = node->ino;
}

static void
s_report (const s_options_t *options, const lfs_cut_t *cut)
{
    char line [1024];
    snprintf (line, sizeof line,
              "cut: dropped %zu bytes in %zu extents of %zu files, %zu names "
              "not durable; torn write: ino %" PRIu64 " at %jd, %zu bytes, "
              "%zu kept; pending: %s", cut->bytes, cut->extents, cut->files,
              cut->names, cut->torn_ino, (intmax_t) cut->torn_off,
              cut->torn_len, cut->torn_kept, cut->pending);
    lfs_log ("%s", line);
    if (!options->cut_file)
        return;
    char tmp [PATH_MAX];
    snprintf (tmp, sizeof tmp, "%s.tmp", options->cut_file);
    FILE *out = fopen (tmp, "w");
    if (!out || fprintf (out, "%s\n", line) < 0 || fclose (out) != 0
    ||  rename (tmp, options->cut_file) != 0)
        lfs_log ("cannot write %s: %s", options->cut_file, strerror (errno));
}

static void
s_cut (s_control_t *control)
{
    lfs_fs_t *fs = control->fs;
    s_inos_t set = { 0 };
    lfs_cut_t cut;
    pthread_mutex_lock (&fs->lock);
    bool first = !fs->dead;
    if (first) {
        lfs_tree_cut (fs->tree, control->options->tear,
                      &control->options->seed, &cut);
        fs->dead = true;
        lfs_tree_each (fs->tree, s_collect, &set);
    }
    pthread_mutex_unlock (&fs->lock);
    if (!first) {
        lfs_log ("cut: the power is already off");
        return;
    }
    //  Outside the lock: dropping a page may wait for a read that the
    //  loop must answer (with EIO)
    for (size_t i = 0; i < set.count; i++)
        fuse_lowlevel_notify_inval_inode (control->se, set.inos [i], 0, 0);
    free (set.inos);
    s_report (control->options, &cut);
}

//  The control thread: each SIGUSR1 is a cut (only the first does
//  anything). It looks at `stop` ten times a second, so that main can end
//  it without cancelling it.
static void *
s_control (void *arg)
{
    s_control_t *control = arg;
    sigset_t set;
    sigemptyset (&set);
    sigaddset (&set, SIGUSR1);
    struct timespec tick = { .tv_nsec = 100 * 1000 * 1000 };
    while (!control->stop)
        if (sigtimedwait (&set, NULL, &tick) == SIGUSR1)
            s_cut (control);
    return NULL;
}

//  Start the control thread with every signal blocked in it, so that
//  SIGTERM reaches the loop's thread; only SIGUSR1 stays blocked there.
static int
s_control_start (s_control_t *control, pthread_t *thread)
{
    sigset_t all, usr1;
    sigfillset (&all);
    sigemptyset (&usr1);
    sigaddset (&usr1, SIGUSR1);
    pthread_sigmask (SIG_SETMASK, &all, NULL);
    int rc = pthread_create (thread, NULL, s_control, control);
    pthread_sigmask (SIG_SETMASK, &usr1, NULL);
    return rc;
}

//  --- main ------------------------------------------------------------------

static int
s_serve (lfs_fs_t *fs, s_options_t *options)
{
    char fsname [PATH_MAX + 16];
    snprintf (fsname, sizeof fsname, "fsname=lossyfs:%s,subtype=lossyfs",
              options->backing);
    char *argv [] = { "lossyfs", "-o", fsname, NULL };
    struct fuse_args args = FUSE_ARGS_INIT (3, argv);
    struct fuse_session *se = fuse_session_new (&args, &lfs_ops,
                                                sizeof lfs_ops, fs);
    fuse_opt_free_args (&args);
    if (!se)
        return 1;
    int status = 1;
    pthread_t thread;
    s_control_t control = { fs, se, options, 0 };
    if (fuse_set_signal_handlers (se) == 0
    &&  fuse_session_mount (se, options->mountpoint) == 0) {
        if (s_control_start (&control, &thread) == 0) {
            lfs_log ("%s on %s (seed %u, tear %s, sync latency %u us)",
                     options->backing, options->mountpoint, options->seed,
                     options->tear ? "on" : "off", options->latency_us);
            status = fuse_session_loop (se) < 0 ? 1 : 0;
            control.stop = 1;
            pthread_join (thread, NULL);
        }
        fuse_session_unmount (se);
    }
    fuse_remove_signal_handlers (se);
    fuse_session_destroy (se);      //  calls s_destroy: the clean sync
    return status;
}

int
main (int argc, char *argv [])
{
    //  SIGUSR1 is taken by the control thread only, never by default
    sigset_t usr1;
    sigemptyset (&usr1);
    sigaddset (&usr1, SIGUSR1);
    pthread_sigmask (SIG_BLOCK, &usr1, NULL);
    s_options_t options = { 0 };
    int rc = s_parse (argc, argv, &options);
    if (rc) {
        s_usage (rc == 1 ? stdout : stderr);
        return rc == 1 ? 0 : 2;
    }
    int err;
    lfs_fs_t fs = { .backing = options.backing,
                    .lock = PTHREAD_MUTEX_INITIALIZER,
                    .latency_us = options.latency_us };
    fs.tree = lfs_tree_new (options.backing, &err);
    if (!fs.tree) {
        fprintf (stderr, "lossyfs: %s: %s\n", options.backing, strerror (err));
        return 1;
    }
    int status = s_serve (&fs, &options);
    lfs_ops_free_handles (&fs);
    lfs_tree_destroy (&fs.tree);
    pthread_mutex_destroy (&fs.lock);
    return status;
}
