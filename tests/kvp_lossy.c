/*  kvp_lossy.c - start, cut and stop lossyfs for tests. */
#include "kvp_lossy.h"

#include <czmq.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define S_WAIT_MS   10000
#define S_LIVE_MAX  8

//  Mounts not yet unmounted, for the exit handler.
static tk_lossy_t *s_live [S_LIVE_MAX];

static void
s_at_exit (void)
{
    for (int i = 0; i < S_LIVE_MAX; i++)
        if (s_live [i])
            tk_lossy_unmount (s_live [i]);
}

static void
s_track (tk_lossy_t *self, bool live)
{
    static bool registered;
    if (!registered) {
        atexit (s_at_exit);
        registered = true;
    }
    for (int i = 0; i < S_LIVE_MAX; i++)
        if (live ? !s_live [i] : s_live [i] == self) {
            s_live [i] = live ? self : NULL;
            return;
        }
}

bool
tk_lossy_init (tk_lossy_t *self, const char *dir, const char *name)
{
    memset (self, 0, sizeof *self);
    snprintf (self->backing, sizeof self->backing, "%s/%s.disk", dir, name);
    snprintf (self->mnt, sizeof self->mnt, "%s/%s", dir, name);
    snprintf (self->cut, sizeof self->cut, "%s/%s.cut", dir, name);
    return (mkdir (self->backing, 0755) == 0 || errno == EEXIST)
        && (mkdir (self->mnt, 0755) == 0 || errno == EEXIST);
}

bool
tk_lossy_mounted (const char *path)
{
    char copy [512];
    snprintf (copy, sizeof copy, "%s", path);
    struct stat here, up;
    return stat (path, &here) == 0 && stat (dirname (copy), &up) == 0
        && here.st_dev != up.st_dev;
}

static pid_t
s_spawn (tk_lossy_t *self, bool tear, unsigned seed)
{
    const char *bin = getenv ("KVP_BIN");
    const char *logdir = getenv ("KVP_TEST_LOGS");
    char prog [512], log [512], seedarg [16], latency [16], extra [128] = "";
    snprintf (prog, sizeof prog, "%s/tests/lossyfs", bin && *bin ? bin : "bin");
    snprintf (log, sizeof log, "%s/lossyfs.log", logdir ? logdir : "/tmp");
    snprintf (seedarg, sizeof seedarg, "%u", seed);
    snprintf (latency, sizeof latency, "%u", self->latency_us);
    if (self->extra)
        snprintf (extra, sizeof extra, "%s", self->extra);
    char *argv [18] = { prog, "--seed", seedarg, "--cut-file", self->cut,
                        "--sync-latency", latency };
    int argc = 7;
    if (tear)
        argv [argc++] = "--tear";
    for (char *tok = strtok (extra, " "); tok && argc < 15; tok = strtok (NULL, " "))
        argv [argc++] = tok;
    argv [argc++] = self->backing;
    argv [argc++] = self->mnt;
    pid_t pid = fork ();
    if (pid == 0) {
        //  Out of the test's process group, which Check kills when a test
        //  ends, and unmounted (SIGTERM) when the test process dies
        setpgid (0, 0);
        prctl (PR_SET_PDEATHSIG, SIGTERM);
        int fd = open (log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2 (fd, 1);
            dup2 (fd, 2);
            close (fd);
        }
        execv (prog, argv);
        _exit (127);
    }
    return pid;
}

bool
tk_lossy_mount (tk_lossy_t *self, bool tear, unsigned seed)
{
    unlink (self->cut);
    self->pid = s_spawn (self, tear, seed);
    if (self->pid <= 0)
        return false;
    s_track (self, true);
    int64_t until = zclock_mono () + S_WAIT_MS;
    while (zclock_mono () < until) {
        if (tk_lossy_mounted (self->mnt))
            return true;
        if (waitpid (self->pid, NULL, WNOHANG) == self->pid) {
            self->pid = 0;          //  it gave up (its log says why)
            s_track (self, false);
            return false;
        }
        zclock_sleep (5);
    }
    tk_lossy_unmount (self);
    return false;
}

bool
tk_lossy_cut_start (tk_lossy_t *self)
{
    return self->pid > 0 && kill (self->pid, SIGUSR1) == 0;
}

bool
tk_lossy_cut_done (tk_lossy_t *self, char *report, size_t size)
{
    FILE *in = fopen (self->cut, "r");
    if (!in)
        return false;
    if (report && !fgets (report, (int) size, in))
        report [0] = 0;
    fclose (in);
    unlink (self->cut);
    return true;
}

bool
tk_lossy_cut (tk_lossy_t *self, char *report, size_t size)
{
    if (!tk_lossy_cut_start (self))
        return false;
    int64_t until = zclock_mono () + S_WAIT_MS;
    while (zclock_mono () < until) {
        if (tk_lossy_cut_done (self, report, size))
            return true;
        zclock_sleep (1);
    }
    return false;
}

int
tk_lossy_unmount (tk_lossy_t *self)
{
    if (self->pid <= 0)
        return -1;
    kill (self->pid, SIGTERM);
    int status = -1;
    int64_t until = zclock_mono () + S_WAIT_MS;
    while (zclock_mono () < until) {
        if (waitpid (self->pid, &status, WNOHANG) == self->pid)
            break;
        zclock_sleep (5);
    }
    if (zclock_mono () >= until) {
        kill (self->pid, SIGKILL);
        waitpid (self->pid, NULL, 0);
        status = -1;
    }
    //  A lossyfs that died leaves its mount behind, unreachable
    if (tk_lossy_mounted (self->mnt) || errno == ENOTCONN)
        umount2 (self->mnt, MNT_DETACH);
    self->pid = 0;
    s_track (self, false);
    return status;
}

static bool
s_fsync_path (const char *path, int flags)
{
    int fd = open (path, flags | O_CLOEXEC);
    bool ok = fd >= 0 && fsync (fd) == 0;
    if (fd >= 0)
        close (fd);
    return ok;
}

bool
tk_lossy_sync_tree (const char *dir)
{
    DIR *dh = opendir (dir);
    if (!dh)
        return false;
    bool ok = true;
    struct dirent *de;
    while (ok && (de = readdir (dh))) {
        if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
            continue;
        char path [1024];
        snprintf (path, sizeof path, "%s/%s", dir, de->d_name);
        struct stat st;
        ok = lstat (path, &st) == 0;
        if (ok && S_ISDIR (st.st_mode))
            ok = tk_lossy_sync_tree (path);
        else
        if (ok && S_ISREG (st.st_mode))
            ok = s_fsync_path (path, O_RDONLY);
    }
    closedir (dh);
    return ok && s_fsync_path (dir, O_RDONLY | O_DIRECTORY);
}
