/*  lfs_tree.h - the lossyfs namespace: every file and directory as it is
    seen now, and where (if anywhere) it durably is in the backing folder.

    Each node has a current place (parent, name), or none once unlinked,
    and a durable place (dparent, dname), or none while its name has not
    reached the backing folder. The backing folder holds exactly the
    durable tree: a node with a durable place is the backing object at
    path(dparent)/dname. A node without one (created, not yet made durable
    by a directory sync; or unlinked, the unlink made durable, still open)
    lives in the backing folder's hidden LFS_UNNAMED folder as its inode
    number; that folder is emptied at every mount and at the cut, since
    nothing in it survives a crash. Files keep their data in lfs_data.

    lfs_tree_sync_dir is the only place where names become durable (see
    lossyfs.c for the rule). Everything here is called under lossyfs's one
    lock. No hard links, symbolic links or special files.
*/
#ifndef LFS_TREE_H_INCLUDED
#define LFS_TREE_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include "lfs_data.h"

#define LFS_UNNAMED ".lossyfs.unnamed"

typedef struct lfs_node lfs_node_t;
struct lfs_node {
    uint64_t ino;               /* inode number (the root is 1), never reused */
    mode_t mode;                /* type and permissions */
    uid_t uid;                  /* owner */
    gid_t gid;                  /* group */
    struct timespec atime;      /* access time (memory only) */
    struct timespec mtime;      /* modification time (memory only) */
    struct timespec ctime;      /* change time (memory only) */
    lfs_node_t *parent;         /* current directory, NULL once unlinked */
    char *name;                 /* current name, NULL once unlinked */
    lfs_node_t *children;       /* directories: current entries */
    lfs_node_t *sibling;        /* next entry of the current parent */
    lfs_node_t *dparent;        /* durable directory, NULL if none */
    char *dname;                /* durable name, NULL if none */
    lfs_node_t *dchildren;      /* directories: durable entries */
    lfs_node_t *dsibling;       /* next entry of the durable parent */
    uint64_t lookups;           /* the kernel's references (forget) */
    int opens;                  /* open handles */
    int fd;                     /* files: backing file, -1 until needed */
    lfs_data_t data;            /* files: content */
};

typedef struct _lfs_tree_t lfs_tree_t;

/*  Load the tree from `backing` (an existing folder): every regular file
    and folder in it, all durable, nothing pending; LFS_UNNAMED is emptied
    first. Returns NULL with *err set to an errno value on failure. */
lfs_tree_t *
    lfs_tree_new (const char *backing, int *err);

/*  Free the tree and close every backing file (nothing is synced); null
    the pointer; safe on NULL. */
void
    lfs_tree_destroy (lfs_tree_t **self_p);

/*  The node of inode `ino`, or NULL. */
lfs_node_t *
    lfs_tree_node (lfs_tree_t *self, uint64_t ino);

/*  The current entry `name` of directory `dir`, or NULL. */
lfs_node_t *
    lfs_tree_child (lfs_node_t *dir, const char *name);

/*  Make a new file or directory (per `mode`) as entry `name` of `dir`,
    not yet durable. Returns 0 and the node in *node, or a negative errno
    (EEXIST, ENOTDIR, EINVAL for LFS_UNNAMED in the root, backing errors). */
int
    lfs_tree_make (lfs_tree_t *self, lfs_node_t *dir, const char *name,
                   mode_t mode, lfs_node_t **node);

/*  unlink (dir_wanted false) or rmdir (true) entry `name` of `dir`.
    Returns 0 or a negative errno (ENOENT, EISDIR, ENOTDIR, ENOTEMPTY). */
int
    lfs_tree_remove (lfs_tree_t *self, lfs_node_t *dir, const char *name,
                     bool dir_wanted);

/*  rename(2) with flags 0 or RENAME_NOREPLACE (others: -EINVAL). Returns 0
    or a negative errno as rename does. */
int
    lfs_tree_rename (lfs_tree_t *self, lfs_node_t *dir, const char *name,
                     lfs_node_t *newdir, const char *newname,
                     unsigned flags);

/*  The backing descriptor of file `node`, opened when first needed;
    -errno on failure. */
int
    lfs_tree_fd (lfs_tree_t *self, lfs_node_t *node);

/*  Remember the newest write (the one a cut may tear). */
void
    lfs_tree_wrote (lfs_tree_t *self, lfs_node_t *node, off_t off,
                    size_t len);

/*  fsync/fdatasync of a file: its content and size become durable.
    Returns 0 or a negative errno. */
int
    lfs_tree_sync_file (lfs_tree_t *self, lfs_node_t *node);

/*  fsync of a directory: its current entries become its durable entries
    (renames into or out of it complete on both sides). Returns 0 or a
    negative errno. */
int
    lfs_tree_sync_dir (lfs_tree_t *self, lfs_node_t *dir);

/*  Everything becomes durable (a clean unmount). */
int
    lfs_tree_sync_all (lfs_tree_t *self);

/*  Call after the kernel forgets, a handle closes, or a name goes: frees
    the node once nothing refers to it any more. */
void
    lfs_tree_release (lfs_tree_t *self, lfs_node_t *node);

/*  What a power cut threw away (for its report). */
typedef struct {
    size_t bytes;               /* pending bytes dropped */
    size_t extents;             /* pending extents dropped */
    size_t files;               /* files with unsynced content */
    size_t names;               /* nodes whose place was not durable */
    off_t torn_off;             /* the torn write: offset, */
    size_t torn_len;            /* its length, */
    size_t torn_kept;           /* how much of it was kept (0: no tear) */
    uint64_t torn_ino;          /* and its file (0: none) */
    char pending [512];         /* "path:bytes ..." of the files with
                                   unsynced content, then "+" names of nodes
                                   whose place was not durable (cut short
                                   with "...") */
} lfs_cut_t;

/*  The power cut: if `tear` and a write is still pending, a random prefix
    (whole 512-byte sectors, by `seed`) of the newest write becomes
    durable; then every pending change is dropped and LFS_UNNAMED emptied.
    The backing folder is then exactly what survives. Fills *report. */
void
    lfs_tree_cut (lfs_tree_t *self, bool tear, unsigned *seed,
                  lfs_cut_t *report);

/*  Visit every node (for the cut's cache invalidation). */
void
    lfs_tree_each (lfs_tree_t *self, void (*fn) (lfs_node_t *, void *),
                   void *arg);

#endif
