/*  lfs_tree.c - current and durable places of every lossyfs node. */
#include "lfs_tree.h"
#include "lfs_log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S_ROOT_INO  1
#define S_SECTOR    512

struct _lfs_tree_t {
    char *backing;              //  the backing folder
    lfs_node_t **nodes;         //  by inode number; NULL once freed
    size_t cap;                 //  room in nodes
    uint64_t next_ino;          //  the next node's inode number
    uint64_t last_ino;          //  the newest pending write: its file (0: none),
    off_t last_off;             //  offset
    size_t last_len;            //  and length
};

typedef struct {
    lfs_node_t **at;            //  nodes
    size_t count, cap;
} s_list_t;

static int
s_push (s_list_t *list, lfs_node_t *node)
{
    if (list->count == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 16;
        lfs_node_t **at = realloc (list->at, cap * sizeof *at);
        if (!at)
            return -ENOMEM;
        list->at = at;
        list->cap = cap;
    }
    list->at [list->count++] = node;
    return 0;
}

static struct timespec
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return ts;
}

static int
s_rm_entry (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return ftw->level == 0 ? 0 : remove (path);
}

//  Remove everything inside `dir` (not dir itself).
static void
s_empty_dir (const char *dir)
{
    nftw (dir, s_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

//  The backing path of `node` into buf; -ENAMETOOLONG if it does not fit.
static int
s_path (lfs_tree_t *self, const lfs_node_t *node, char *buf, size_t size)
{
    int n;
    if (node->ino == S_ROOT_INO)
        n = snprintf (buf, size, "%s", self->backing);
    else
    if (!node->dparent)
        n = snprintf (buf, size, "%s/" LFS_UNNAMED "/%" PRIu64,
                      self->backing, node->ino);
    else {
        int rc = s_path (self, node->dparent, buf, size);
        if (rc)
            return rc;
        size_t used = strlen (buf);
        n = snprintf (buf + used, size - used, "/%s", node->dname);
        n += (int) used;
    }
    return n < 0 || (size_t) n >= size ? -ENAMETOOLONG : 0;
}

static lfs_node_t *
s_node_new (lfs_tree_t *self, mode_t mode)
{
    if (self->next_ino >= self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 64;
        lfs_node_t **nodes = realloc (self->nodes, cap * sizeof *nodes);
        if (!nodes)
            return NULL;
        memset (nodes + self->cap, 0, (cap - self->cap) * sizeof *nodes);
        self->nodes = nodes;
        self->cap = cap;
    }
    lfs_node_t *node = calloc (1, sizeof *node);
    if (!node)
        return NULL;
    node->ino = self->next_ino++;
    node->mode = mode;
    node->uid = geteuid ();
    node->gid = getegid ();
    node->atime = node->mtime = node->ctime = s_now ();
    node->fd = -1;
    lfs_data_init (&node->data, 0);
    self->nodes [node->ino] = node;
    return node;
}

//  --- the two places of a node --------------------------------------------

static int
s_link (lfs_node_t *dir, lfs_node_t *node, const char *name)
{
    node->name = strdup (name);
    if (!node->name)
        return -ENOMEM;
    node->parent = dir;
    node->sibling = dir->children;
    dir->children = node;
    return 0;
}

static void
s_unlink (lfs_node_t *node)
{
    lfs_node_t **link = &node->parent->children;
    while (*link != node)
        link = &(*link)->sibling;
    *link = node->sibling;
    node->sibling = NULL;
    node->parent = NULL;
    free (node->name);
    node->name = NULL;
}

static int
s_dlink (lfs_node_t *dir, lfs_node_t *node, const char *name)
{
    node->dname = strdup (name);
    if (!node->dname)
        return -ENOMEM;
    node->dparent = dir;
    node->dsibling = dir->dchildren;
    dir->dchildren = node;
    return 0;
}

static void
s_dunlink (lfs_node_t *node)
{
    lfs_node_t **link = &node->dparent->dchildren;
    while (*link != node)
        link = &(*link)->dsibling;
    *link = node->dsibling;
    node->dsibling = NULL;
    node->dparent = NULL;
    free (node->dname);
    node->dname = NULL;
}

//  Is the node durably where it currently is?
static bool
s_settled (const lfs_node_t *node)
{
    if (node->ino == S_ROOT_INO)
        return true;
    if (!node->parent || !node->dparent)
        return !node->parent && !node->dparent;
    return node->parent == node->dparent && strcmp (node->name, node->dname) == 0;
}

//  --- loading ---------------------------------------------------------------

static int s_load_dir (lfs_tree_t *self, lfs_node_t *dir, const char *path);

static int
s_load_entry (lfs_tree_t *self, lfs_node_t *dir, const char *path,
              const char *name)
{
    char full [PATH_MAX];
    struct stat st;
    if (snprintf (full, sizeof full, "%s/%s", path, name) >= (int) sizeof full)
        return -ENAMETOOLONG;
    if (lstat (full, &st) != 0)
        return -errno;
    if (!S_ISREG (st.st_mode) && !S_ISDIR (st.st_mode)) {
        lfs_log ("skipping %s: neither a file nor a folder", full);
        return 0;
    }
    lfs_node_t *node = s_node_new (self, st.st_mode);
    if (!node || s_link (dir, node, name) || s_dlink (dir, node, name))
        return -ENOMEM;
    node->uid = st.st_uid;
    node->gid = st.st_gid;
    node->atime = st.st_atim;
    node->mtime = st.st_mtim;
    node->ctime = st.st_ctim;
    if (S_ISREG (st.st_mode)) {
        lfs_data_init (&node->data, st.st_size);
        return 0;
    }
    return s_load_dir (self, node, full);
}

static int
s_load_dir (lfs_tree_t *self, lfs_node_t *dir, const char *path)
{
    DIR *dh = opendir (path);
    if (!dh)
        return -errno;
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir (dh))) {
        if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0
        ||  (dir->ino == S_ROOT_INO && strcmp (de->d_name, LFS_UNNAMED) == 0))
            continue;
        rc = s_load_entry (self, dir, path, de->d_name);
    }
    closedir (dh);
    return rc;
}

lfs_tree_t *
lfs_tree_new (const char *backing, int *err)
{
    lfs_tree_t *self = calloc (1, sizeof *self);
    struct stat st;
    char unnamed [PATH_MAX];
    *err = ENOMEM;
    if (!self || !(self->backing = strdup (backing)))
        goto fail;
    self->next_ino = S_ROOT_INO;
    snprintf (unnamed, sizeof unnamed, "%s/" LFS_UNNAMED, backing);
    if (stat (backing, &st) != 0 || !S_ISDIR (st.st_mode)) {
        *err = errno ? errno : ENOTDIR;
        goto fail;
    }
    if (mkdir (unnamed, 0700) != 0 && errno != EEXIST) {
        *err = errno;
        goto fail;
    }
    s_empty_dir (unnamed);      //  what was never named did not survive
    lfs_node_t *root = s_node_new (self, st.st_mode);
    if (!root)
        goto fail;
    root->mtime = st.st_mtim;
    int rc = s_load_dir (self, root, backing);
    if (rc == 0)
        return self;
    *err = -rc;
fail:
    lfs_tree_destroy (&self);
    return NULL;
}

void
lfs_tree_destroy (lfs_tree_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lfs_tree_t *self = *self_p;
    *self_p = NULL;
    for (size_t i = 0; i < self->cap; i++) {
        lfs_node_t *node = self->nodes [i];
        if (!node)
            continue;
        if (node->fd >= 0)
            close (node->fd);
        lfs_data_drop (&node->data);
        free (node->name);
        free (node->dname);
        free (node);
    }
    if (self->backing) {
        char unnamed [PATH_MAX];
        snprintf (unnamed, sizeof unnamed, "%s/" LFS_UNNAMED, self->backing);
        s_empty_dir (unnamed);
    }
    free (self->nodes);
    free (self->backing);
    free (self);
}

lfs_node_t *
lfs_tree_node (lfs_tree_t *self, uint64_t ino)
{
    return ino < self->cap ? self->nodes [ino] : NULL;
}

lfs_node_t *
lfs_tree_child (lfs_node_t *dir, const char *name)
{
    for (lfs_node_t *c = dir->children; c; c = c->sibling)
        if (strcmp (c->name, name) == 0)
            return c;
    return NULL;
}

//  --- namespace changes (current places only) ----------------------------

int
lfs_tree_make (lfs_tree_t *self, lfs_node_t *dir, const char *name,
               mode_t mode, lfs_node_t **node)
{
    if (!S_ISDIR (dir->mode))
        return -ENOTDIR;
    if (lfs_tree_child (dir, name))
        return -EEXIST;
    if (dir->ino == S_ROOT_INO && strcmp (name, LFS_UNNAMED) == 0)
        return -EINVAL;
    if (!S_ISDIR (mode) && !S_ISREG (mode))
        return -EPERM;
    lfs_node_t *fresh = s_node_new (self, mode);
    if (!fresh)
        return -ENOMEM;
    char path [PATH_MAX];
    int rc = s_path (self, fresh, path, sizeof path);
    if (rc == 0 && S_ISDIR (mode) && mkdir (path, mode & 07777) != 0)
        rc = -errno;
    if (rc == 0 && S_ISREG (mode)
    &&  (fresh->fd = open (path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
                           mode & 07777)) < 0)
        rc = -errno;
    if (rc == 0)
        rc = s_link (dir, fresh, name);
    if (rc) {
        lfs_tree_release (self, fresh);
        return rc;
    }
    dir->mtime = dir->ctime = s_now ();
    *node = fresh;
    return 0;
}

int
lfs_tree_remove (lfs_tree_t *self, lfs_node_t *dir, const char *name,
                 bool dir_wanted)
{
    lfs_node_t *node = lfs_tree_child (dir, name);
    if (!node)
        return -ENOENT;
    if (dir_wanted && !S_ISDIR (node->mode))
        return -ENOTDIR;
    if (!dir_wanted && S_ISDIR (node->mode))
        return -EISDIR;
    if (node->children)
        return -ENOTEMPTY;
    s_unlink (node);
    dir->mtime = dir->ctime = s_now ();
    lfs_tree_release (self, node);
    return 0;
}

//  Is `node` (currently) `dir` or inside it?
static bool
s_inside (const lfs_node_t *node, const lfs_node_t *dir)
{
    for (; node; node = node->parent)
        if (node == dir)
            return true;
    return false;
}

//  May `src` replace `dst`? 0 or the errno rename gives.
static int
s_replace_check (const lfs_node_t *src, const lfs_node_t *dst)
{
    if (S_ISDIR (src->mode) && !S_ISDIR (dst->mode))
        return -ENOTDIR;
    if (!S_ISDIR (src->mode) && S_ISDIR (dst->mode))
        return -EISDIR;
    return dst->children ? -ENOTEMPTY : 0;
}

int
lfs_tree_rename (lfs_tree_t *self, lfs_node_t *dir, const char *name,
                 lfs_node_t *newdir, const char *newname, unsigned flags)
{
    if (flags & ~(unsigned) RENAME_NOREPLACE)
        return -EINVAL;
    lfs_node_t *src = lfs_tree_child (dir, name);
    if (!src)
        return -ENOENT;
    if (!S_ISDIR (newdir->mode))
        return -ENOTDIR;
    if (newdir->ino == S_ROOT_INO && strcmp (newname, LFS_UNNAMED) == 0)
        return -EINVAL;
    lfs_node_t *dst = lfs_tree_child (newdir, newname);
    if (dst == src)
        return 0;
    if (dst && (flags & RENAME_NOREPLACE))
        return -EEXIST;
    if (S_ISDIR (src->mode) && s_inside (newdir, src))
        return -EINVAL;
    int rc = dst ? s_replace_check (src, dst) : 0;
    if (rc)
        return rc;
    char *keep = strdup (newname);
    if (!keep)
        return -ENOMEM;
    if (dst)
        s_unlink (dst);
    s_unlink (src);
    src->name = keep;
    src->parent = newdir;
    src->sibling = newdir->children;
    newdir->children = src;
    dir->mtime = dir->ctime = newdir->mtime = newdir->ctime = s_now ();
    if (dst)
        lfs_tree_release (self, dst);
    return 0;
}

//  --- data ------------------------------------------------------------------

int
lfs_tree_fd (lfs_tree_t *self, lfs_node_t *node)
{
    if (node->fd >= 0)
        return node->fd;
    char path [PATH_MAX];
    int rc = s_path (self, node, path, sizeof path);
    if (rc)
        return rc;
    node->fd = open (path, O_RDWR | O_CLOEXEC);
    return node->fd >= 0 ? node->fd : -errno;
}

void
lfs_tree_wrote (lfs_tree_t *self, lfs_node_t *node, off_t off, size_t len)
{
    self->last_ino = node->ino;
    self->last_off = off;
    self->last_len = len;
}

int
lfs_tree_sync_file (lfs_tree_t *self, lfs_node_t *node)
{
    if (!S_ISREG (node->mode) || !lfs_data_dirty (&node->data))
        return 0;
    int fd = lfs_tree_fd (self, node);
    int rc = fd < 0 ? fd : lfs_data_sync (&node->data, fd);
    if (rc == 0 && self->last_ino == node->ino)
        self->last_ino = 0;
    return rc;
}

//  --- making names durable ------------------------------------------------

//  Move the backing object of `node` from its durable place (or the
//  unnamed folder) to (dir, name), or to the unnamed folder if dir is NULL.
static int
s_move (lfs_tree_t *self, lfs_node_t *node, lfs_node_t *dir, const char *name)
{
    char from [PATH_MAX], to [PATH_MAX];
    int rc = s_path (self, node, from, sizeof from);
    if (rc)
        return rc;
    lfs_node_t *old = node->dparent;
    char *oldname = node->dname ? strdup (node->dname) : NULL;
    if (old)
        s_dunlink (node);
    rc = dir ? s_dlink (dir, node, name) : 0;
    if (rc == 0)
        rc = s_path (self, node, to, sizeof to);
    if (rc == 0 && rename (from, to) != 0)
        rc = -errno;
    if (rc) {
        if (node->dparent)
            s_dunlink (node);
        if (old)
            s_dlink (old, node, oldname);
    }
    else
        LFS_DEBUG ("durable: %s -> %s", from, to);
    free (oldname);
    if (rc == 0 && old)
        lfs_tree_release (self, old);
    return rc;
}

static lfs_node_t *
s_dchild (lfs_node_t *dir, const char *name)
{
    for (lfs_node_t *c = dir->dchildren; c; c = c->dsibling)
        if (strcmp (c->dname, name) == 0)
            return c;
    return NULL;
}

//  Is `node` durably inside directory `dir` (or dir itself)?
static bool
s_dinside (const lfs_node_t *node, const lfs_node_t *dir)
{
    for (; node; node = node->dparent)
        if (node == dir)
            return true;
    return false;
}

static int s_commit (lfs_tree_t *self, lfs_node_t *node, s_list_t *later,
                     int depth);

//  A folder moving under a folder that durably sits inside it: first give
//  the new parent's current chain its durable places, so it leaves.
static int
s_untangle (lfs_tree_t *self, lfs_node_t *node, s_list_t *later, int depth)
{
    int rc = 0;
    while (rc == 0 && s_dinside (node->parent, node)) {
        lfs_node_t *up = node->parent;
        while (up->parent && s_dinside (up->parent, node))
            up = up->parent;
        rc = s_commit (self, up, later, depth + 1);
    }
    return rc;
}

//  Give `node` its current place durably. A node durably there is pushed
//  out to the unnamed folder first and, if it has a current place
//  elsewhere, queued on `later` to be moved there too (a rename completes
//  as a whole); if it has none, it goes.
static int
s_commit (lfs_tree_t *self, lfs_node_t *node, s_list_t *later, int depth)
{
    if (depth > 64)
        return -ELOOP;
    if (s_settled (node))
        return 0;
    int rc = S_ISDIR (node->mode) ? s_untangle (self, node, later, depth) : 0;
    lfs_node_t *there = rc ? NULL : s_dchild (node->parent, node->name);
    if (there && there != node) {
        rc = s_move (self, there, NULL, NULL);
        if (rc == 0 && there->parent)
            rc = s_push (later, there);
        else
        if (rc == 0)
            lfs_tree_release (self, there);
    }
    if (rc == 0)
        rc = s_move (self, node, node->parent, node->name);
    return rc;
}

//  The directory's entries that differ: current ones not durably there
//  (to commit) and durable ones no longer there (to commit elsewhere, or
//  to drop when they have no current place).
static int
s_dir_changes (lfs_node_t *dir, s_list_t *commit, s_list_t *gone)
{
    int rc = 0;
    for (lfs_node_t *c = dir->children; c && rc == 0; c = c->sibling)
        if (!s_settled (c))
            rc = s_push (commit, c);
    for (lfs_node_t *d = dir->dchildren; d && rc == 0; d = d->dsibling)
        if (!d->parent)
            rc = s_push (gone, d);
        else
        if (d->parent != dir)
            rc = s_push (commit, d);
    return rc;
}

int
lfs_tree_sync_dir (lfs_tree_t *self, lfs_node_t *dir)
{
    if (!S_ISDIR (dir->mode))
        return -ENOTDIR;
    s_list_t commit = { 0 }, gone = { 0 };
    int rc = s_dir_changes (dir, &commit, &gone);
    for (size_t i = 0; rc == 0 && i < gone.count; i++) {
        rc = s_move (self, gone.at [i], NULL, NULL);
        if (rc == 0)
            lfs_tree_release (self, gone.at [i]);
    }
    for (size_t i = 0; rc == 0 && i < commit.count; i++)
        rc = s_commit (self, commit.at [i], &commit, 0);
    free (commit.at);
    free (gone.at);
    return rc;
}

int
lfs_tree_sync_all (lfs_tree_t *self)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < self->cap; i++)
        if (self->nodes [i] && S_ISREG (self->nodes [i]->mode))
            rc = lfs_tree_sync_file (self, self->nodes [i]);
    //  One pass settles every entry; the loop also settles the folders a
    //  pass may free or move.
    for (int pass = 0; rc == 0 && pass < 4; pass++)
        for (size_t i = 0; rc == 0 && i < self->cap; i++)
            if (self->nodes [i] && S_ISDIR (self->nodes [i]->mode))
                rc = lfs_tree_sync_dir (self, self->nodes [i]);
    return rc;
}

void
lfs_tree_release (lfs_tree_t *self, lfs_node_t *node)
{
    if (!node || node->ino == S_ROOT_INO || node->parent || node->dparent
    ||  node->lookups || node->opens || node->children || node->dchildren)
        return;
    char path [PATH_MAX];
    if (s_path (self, node, path, sizeof path) == 0)
        S_ISDIR (node->mode) ? rmdir (path) : unlink (path);
    if (node->fd >= 0)
        close (node->fd);
    lfs_data_drop (&node->data);
    if (self->last_ino == node->ino)
        self->last_ino = 0;
    self->nodes [node->ino] = NULL;
    free (node);
}

//  --- the power cut ---------------------------------------------------------

static void
s_tear (lfs_tree_t *self, unsigned *seed, lfs_cut_t *report)
{
    lfs_node_t *node = lfs_tree_node (self, self->last_ino);
    if (!node || !self->last_len || !lfs_data_dirty (&node->data))
        return;
    off_t off = self->last_off;
    size_t len = self->last_len;
    off_t first = off / S_SECTOR, last = (off + (off_t) len - 1) / S_SECTOR;
    off_t keep_sectors = (off_t) ((unsigned) rand_r (seed) % (unsigned) (last - first + 2));
    size_t keep = 0;
    if (keep_sectors > 0) {
        off_t end = (first + keep_sectors) * S_SECTOR;
        keep = end - off < (off_t) len ? (size_t) (end - off) : len;
    }
    int fd = lfs_tree_fd (self, node);
    if (keep && fd >= 0)
        lfs_data_tear (&node->data, fd, off, keep);
    report->torn_ino = node->ino;
    report->torn_off = off;
    report->torn_len = len;
    report->torn_kept = keep;
}

//  The current path of `node` below the mount, or its durable one once
//  unlinked, into buf.
static void
s_show_path (const lfs_node_t *node, char *buf, size_t size)
{
    const lfs_node_t *up = node->parent ? node->parent : node->dparent;
    const char *name = node->parent ? node->name : node->dname;
    if (!up) {
        snprintf (buf, size, node->ino == S_ROOT_INO ? "." : "#%" PRIu64,
                  node->ino);
        return;
    }
    s_show_path (up, buf, size);
    size_t used = strlen (buf);
    if (strcmp (buf, ".") == 0)
        used = 0;
    snprintf (buf + used, size - used, "%s%s", used ? "/" : "", name);
}

//  Append "word " to the report's pending list while it fits.
static void
s_note (lfs_cut_t *report, const char *prefix, const lfs_node_t *node,
        size_t bytes)
{
    char path [PATH_MAX], word [PATH_MAX + 40];
    s_show_path (node, path, sizeof path);
    if (prefix)
        snprintf (word, sizeof word, "%s%s ", prefix, path);
    else
        snprintf (word, sizeof word, "%s:%zu ", path, bytes);
    size_t used = strlen (report->pending);
    if (used + strlen (word) + 4 < sizeof report->pending)
        strcat (report->pending, word);
    else
    if (!strstr (report->pending, "..."))
        strcat (report->pending, "...");
}

void
lfs_tree_cut (lfs_tree_t *self, bool tear, unsigned *seed, lfs_cut_t *report)
{
    memset (report, 0, sizeof *report);
    if (tear)
        s_tear (self, seed, report);
    for (size_t i = 0; i < self->cap; i++) {
        lfs_node_t *node = self->nodes [i];
        if (node && S_ISREG (node->mode) && lfs_data_dirty (&node->data)) {
            size_t extents, bytes = lfs_data_pending (&node->data, &extents);
            report->bytes += bytes;
            report->extents += extents;
            report->files++;
            s_note (report, NULL, node, bytes);
        }
    }
    for (size_t i = 0; i < self->cap; i++) {
        lfs_node_t *node = self->nodes [i];
        if (node && !s_settled (node)) {
            report->names++;
            s_note (report, "+", node, 0);
        }
        if (node)
            lfs_data_drop (&node->data);
    }
    self->last_ino = 0;
    char unnamed [PATH_MAX];
    snprintf (unnamed, sizeof unnamed, "%s/" LFS_UNNAMED, self->backing);
    s_empty_dir (unnamed);
}

void
lfs_tree_each (lfs_tree_t *self, void (*fn) (lfs_node_t *, void *), void *arg)
{
    for (size_t i = 0; i < self->cap; i++)
        if (self->nodes [i])
            fn (self->nodes [i], arg);
}
