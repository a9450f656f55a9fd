/*  lfs_ops.h - lossyfs's FUSE low-level operations over an lfs_tree.

    Every operation runs under `lock`. Once `dead` (the power cut), every
    operation fails with EIO except the kernel's bookkeeping (forget,
    release, releasedir), so nothing a process does afterwards reaches the
    backing folder.
*/
#ifndef LFS_OPS_H_INCLUDED
#define LFS_OPS_H_INCLUDED

#define FUSE_USE_VERSION 312     /* libfuse 3.12 API */
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include "lfs_tree.h"

typedef struct {
    lfs_tree_t *tree;           /* the namespace and contents */
    const char *backing;        /* the backing folder (statfs) */
    pthread_mutex_t lock;       /* held by every operation and the cut */
    bool dead;                  /* after the cut: EIO for everything */
    unsigned latency_us;        /* how long a sync takes (--sync-latency) */
    struct lfs_handle *handles; /* open files and folders (lfs_ops.c) */
} lfs_fs_t;

/*  The operations table for fuse_session_new (userdata: an lfs_fs_t). */
extern const struct fuse_lowlevel_ops lfs_ops;

/*  Free the handles the kernel never released (it drops its releases at
    unmount); call once the session is gone. */
void
    lfs_ops_free_handles (lfs_fs_t *fs);

#endif
