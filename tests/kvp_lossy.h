/*  kvp_lossy.h - tests' handle on a lossyfs mount (tests/lossyfs): a disk
    whose unsynced writes a power cut throws away.

    A tk_lossy_t names three paths under a folder the test owns: the
    backing folder (what survives), the mount point, and the file where
    lossyfs reports a finished cut. lossyfs runs from $KVP_BIN/tests, its
    output appended to $KVP_TEST_LOGS/lossyfs.log; it is stopped by PID.
    A mount still up when the test program exits is unmounted then; if the
    test process dies (a failed assertion in Check's fork mode ends it
    without exit handlers), lossyfs unmounts itself.
*/
#ifndef KVP_LOSSY_H_INCLUDED
#define KVP_LOSSY_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct {
    char backing [300];             /* the backing folder */
    char mnt [300];                 /* the mount point */
    char cut [300];                 /* lossyfs's cut report */
    pid_t pid;                      /* lossyfs, 0 when not mounted */
    const char *extra;              /* more lossyfs flags ("--verbose"), or NULL */
    unsigned latency_us;            /* --sync-latency of the next mount */
} tk_lossy_t;

/*  Fill in the paths dir/NAME.disk, dir/NAME, dir/NAME.cut and make the
    two folders. Returns false if they could not be made. */
bool tk_lossy_init (tk_lossy_t *self, const char *dir, const char *name);

/*  Start lossyfs on the mount point (with --tear if `tear`, seed `seed`)
    and wait until it is mounted (at most 10 s). */
bool tk_lossy_mount (tk_lossy_t *self, bool tear, unsigned seed);

/*  Cut the power and wait (at most 10 s) until lossyfs says it is done;
    its report line goes into `report` (size bytes) if not NULL. */
bool tk_lossy_cut (tk_lossy_t *self, char *report, size_t size);

/*  The same in two steps, for a test that keeps working meanwhile: start
    the cut (false if lossyfs is not running), then poll until it is done
    (true, report filled in as above). lossyfs refuses everything from a
    moment after the start on; the report comes once it has also dropped
    the kernel's cached pages. */
bool tk_lossy_cut_start (tk_lossy_t *self);
bool tk_lossy_cut_done (tk_lossy_t *self, char *report, size_t size);

/*  Unmount (SIGTERM; without a cut this syncs everything) and reap
    lossyfs. Returns its exit status as waitpid gives it, or -1 if it had
    to be killed. */
int tk_lossy_unmount (tk_lossy_t *self);

/*  Is something mounted on `path` (another device than its parent)? */
bool tk_lossy_mounted (const char *path);

/*  fsync every file and folder under `dir` (as sync(1) would for them).
    Returns false on the first failure. */
bool tk_lossy_sync_tree (const char *dir);

#endif
