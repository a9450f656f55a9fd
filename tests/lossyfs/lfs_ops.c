/*  lfs_ops.c - the FUSE operations of lossyfs (see lossyfs.c for the
    model they implement).
*/
#include "lfs_ops.h"
#include "lfs_log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

//  Everything reaches the kernel through lossyfs, so its caches may keep
//  what they learn for a while.
#define S_TIMEOUT   1.0

typedef struct lfs_handle {
    lfs_node_t *node;           //  the file or folder open
    int flags;                  //  open(2) flags
    char *list;                 //  folders: the listing taken at opendir
    size_t list_size;           //  its bytes
    struct lfs_handle *prev, *next; //  in fs->handles
} s_handle_t;

//  Take the lock; NULL (and EIO sent) once the power is off.
static lfs_fs_t *
s_enter (fuse_req_t req)
{
    lfs_fs_t *fs = fuse_req_userdata (req);
    pthread_mutex_lock (&fs->lock);
    if (!fs->dead)
        return fs;
    pthread_mutex_unlock (&fs->lock);
    fuse_reply_err (req, EIO);
    return NULL;
}

static void
s_leave (lfs_fs_t *fs)
{
    pthread_mutex_unlock (&fs->lock);
}

//  The node of `ino`, or NULL with ESTALE sent and the lock released.
static lfs_node_t *
s_node (lfs_fs_t *fs, fuse_req_t req, fuse_ino_t ino)
{
    lfs_node_t *node = lfs_tree_node (fs->tree, ino);
    if (!node) {
        s_leave (fs);
        fuse_reply_err (req, ESTALE);
    }
    return node;
}

//  A sync takes the disk latency_us: wait without the lock (a cut may come
//  meanwhile), then take it again. Returns the node, or NULL with EIO or
//  ESTALE sent.
static lfs_node_t *
s_flush_wait (lfs_fs_t *fs, fuse_req_t req, fuse_ino_t ino)
{
    if (fs->latency_us) {
        s_leave (fs);
        usleep (fs->latency_us);
        if (!s_enter (req))
            return NULL;
    }
    return s_node (fs, req, ino);
}

static void
s_reply_rc (lfs_fs_t *fs, fuse_req_t req, int rc)
{
    s_leave (fs);
    fuse_reply_err (req, -rc);
}

static struct timespec
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return ts;
}

static void
s_stat (const lfs_node_t *node, struct stat *st)
{
    memset (st, 0, sizeof *st);
    st->st_ino = node->ino;
    st->st_mode = node->mode;
    st->st_nlink = S_ISDIR (node->mode) ? 2 : node->parent ? 1 : 0;
    st->st_uid = node->uid;
    st->st_gid = node->gid;
    st->st_size = S_ISREG (node->mode) ? node->data.size : 4096;
    st->st_blksize = 4096;
    st->st_blocks = (st->st_size + 511) / 512;
    st->st_atim = node->atime;
    st->st_mtim = node->mtime;
    st->st_ctim = node->ctime;
}

//  Reply with an entry for `node`: the kernel now holds one more lookup.
static void
s_reply_entry (lfs_fs_t *fs, fuse_req_t req, lfs_node_t *node,
               struct fuse_file_info *fi)
{
    struct fuse_entry_param e = { .ino = node->ino, .generation = 1,
        .attr_timeout = S_TIMEOUT, .entry_timeout = S_TIMEOUT };
    s_stat (node, &e.attr);
    node->lookups++;
    s_leave (fs);
    if (fi)
        fuse_reply_create (req, &e, fi);
    else
        fuse_reply_entry (req, &e);
}

static s_handle_t *
s_handle_new (lfs_fs_t *fs, lfs_node_t *node, int flags)
{
    s_handle_t *h = calloc (1, sizeof *h);
    if (h) {
        h->node = node;
        h->flags = flags;
        node->opens++;
        h->next = fs->handles;
        if (h->next)
            h->next->prev = h;
        fs->handles = h;
    }
    return h;
}

static void
s_handle_destroy (lfs_fs_t *fs, s_handle_t *h)
{
    if (h->prev)
        h->prev->next = h->next;
    else
        fs->handles = h->next;
    if (h->next)
        h->next->prev = h->prev;
    h->node->opens--;
    lfs_tree_release (fs->tree, h->node);
    free (h->list);
    free (h);
}

void
lfs_ops_free_handles (lfs_fs_t *fs)
{
    while (fs->handles)
        s_handle_destroy (fs, fs->handles);
}

//  --- the kernel's bookkeeping ---------------------------------------------

static void
s_init (void *userdata, struct fuse_conn_info *conn)
{
    //  Every write must reach lossyfs when it is made (no write-back
    //  cache), and nothing changes behind the kernel's back, so it need
    //  not drop its cached pages when it sees a new mtime.
    conn->want &= ~(FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_AUTO_INVAL_DATA
                  | FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE
                  | FUSE_CAP_SPLICE_MOVE | FUSE_CAP_READDIRPLUS);
}

static void
s_destroy (void *userdata)
{
    lfs_fs_t *fs = userdata;
    pthread_mutex_lock (&fs->lock);
    if (!fs->dead) {
        //  Unmounted without a cut: a clean shutdown keeps everything
        int rc = lfs_tree_sync_all (fs->tree);
        lfs_log ("unmounted cleanly: everything synced%s",
                 rc ? " (with errors)" : "");
    }
    pthread_mutex_unlock (&fs->lock);
}

static void
s_forget_one (lfs_fs_t *fs, fuse_ino_t ino, uint64_t nlookup)
{
    lfs_node_t *node = lfs_tree_node (fs->tree, ino);
    if (!node)
        return;
    node->lookups = nlookup < node->lookups ? node->lookups - nlookup : 0;
    lfs_tree_release (fs->tree, node);
}

static void
s_forget (fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    lfs_fs_t *fs = fuse_req_userdata (req);
    pthread_mutex_lock (&fs->lock);
    s_forget_one (fs, ino, nlookup);
    pthread_mutex_unlock (&fs->lock);
    fuse_reply_none (req);
}

static void
s_forget_multi (fuse_req_t req, size_t count, struct fuse_forget_data *list)
{
    lfs_fs_t *fs = fuse_req_userdata (req);
    pthread_mutex_lock (&fs->lock);
    for (size_t i = 0; i < count; i++)
        s_forget_one (fs, list [i].ino, list [i].nlookup);
    pthread_mutex_unlock (&fs->lock);
    fuse_reply_none (req);
}

//  release and releasedir: never refused, so the kernel can let go.
static void
s_release (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    lfs_fs_t *fs = fuse_req_userdata (req);
    s_handle_t *h = (s_handle_t *) (uintptr_t) fi->fh;
    pthread_mutex_lock (&fs->lock);
    if (h)
        s_handle_destroy (fs, h);
    pthread_mutex_unlock (&fs->lock);
    fuse_reply_err (req, 0);
}

//  --- attributes and names -------------------------------------------------

static void
s_lookup (fuse_req_t req, fuse_ino_t parent, const char *name)
{
    lfs_fs_t *fs = s_enter (req);
    lfs_node_t *dir = fs ? s_node (fs, req, parent) : NULL;
    if (!dir)
        return;
    lfs_node_t *node = S_ISDIR (dir->mode) ? lfs_tree_child (dir, name) : NULL;
    if (node)
        s_reply_entry (fs, req, node, NULL);
    else
        s_reply_rc (fs, req, S_ISDIR (dir->mode) ? -ENOENT : -ENOTDIR);
}

static void
s_getattr (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    lfs_fs_t *fs = s_enter (req);
    lfs_node_t *node = fs ? s_node (fs, req, ino) : NULL;
    if (!node)
        return;
    struct stat st;
    s_stat (node, &st);
    s_leave (fs);
    fuse_reply_attr (req, &st, S_TIMEOUT);
}

//  Times, mode and owner live in memory only (see lossyfs.c).
static void
s_set_meta (lfs_node_t *node, const struct stat *attr, int to_set)
{
    if (to_set & FUSE_SET_ATTR_MODE)
        node->mode = (node->mode & S_IFMT) | (attr->st_mode & 07777);
    if (to_set & FUSE_SET_ATTR_UID)
        node->uid = attr->st_uid;
    if (to_set & FUSE_SET_ATTR_GID)
        node->gid = attr->st_gid;
    if (to_set & FUSE_SET_ATTR_ATIME)
        node->atime = attr->st_atim;
    if (to_set & FUSE_SET_ATTR_MTIME)
        node->mtime = attr->st_mtim;
    if (to_set & FUSE_SET_ATTR_ATIME_NOW)
        node->atime = s_now ();
    if (to_set & FUSE_SET_ATTR_MTIME_NOW)
        node->mtime = s_now ();
    node->ctime = s_now ();
}

static void
s_setattr (fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
           struct fuse_file_info *fi)
{
    lfs_fs_t *fs = s_enter (req);
    lfs_node_t *node = fs ? s_node (fs, req, ino) : NULL;
    if (!node)
        return;
    int rc = 0;
    if ((to_set & FUSE_SET_ATTR_SIZE) && !S_ISREG (node->mode))
        rc = -EISDIR;
    else
    if (to_set & FUSE_SET_ATTR_SIZE) {
        LFS_DEBUG ("truncate ino %" PRIu64 " to %jd", node->ino,
                   (intmax_t) attr->st_size);
        rc = lfs_data_resize (&node->data, attr->st_size);
        node->mtime = s_now ();
    }
    if (rc) {
        s_reply_rc (fs, req, rc);
        return;
    }
    s_set_meta (node, attr, to_set);
    struct stat st;
    s_stat (node, &st);
    s_leave (fs);
    fuse_reply_attr (req, &st, S_TIMEOUT);
}

static void
s_make (fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
        struct fuse_file_info *fi)
{
    lfs_fs_t *fs = s_enter (req);
    lfs_node_t *dir = fs ? s_node (fs, req, parent) : NULL;
    if (!dir)
        return;
    lfs_node_t *node;
    int rc = lfs_tree_make (fs->tree, dir, name, mode, &node);
    LFS_DEBUG ("%s %s in ino %" PRIu64 ": %s", S_ISDIR (mode) ? "mkdir" : "create",
               name, dir->ino, rc ? strerror (-rc) : "ok");
    if (rc) {
        s_reply_rc (fs, req, rc);
        return;
    }
    if (fi) {
        s_handle_t *h = s_handle_new (fs, node, fi->flags);
        if (!h) {
            lfs_tree_remove (fs->tree, dir, name, false);
            s_reply_rc (fs, req, -ENOMEM);
            return;
        }
        fi->fh = (uintptr_t) h;
        fi->keep_cache = 1;
    }
    s_reply_entry (fs, req, node, fi);
}

static void
s_mkdir (fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    s_make (req, parent, name, (mode & 07777) | S_IFDIR, NULL);
}

static void
s_create (fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
          struct fuse_file_info *fi)
{
    s_make (req, parent, name, (mode & 07777) | S_IFREG, fi);
}

static void
s_remove (fuse_req_t req, fuse_ino_t parent, const char *name, bool dir_wanted)
{
    lfs_fs_t *fs = s_enter (req);
    lfs_node_t *dir = fs ? s_node (fs, req, parent) : NULL;
    if (!dir)
        return;
    int rc = lfs_tree_remove (fs->tree, dir, name, dir_wanted);
    LFS_DEBUG ("%s %s in ino %" PRIu64 ": %s", dir_wanted ? "rmdir" : "unlink",
               name, dir->ino, rc ? strerror (-rc) : "ok");
    s_reply_rc (fs, req, rc);
}

static void
s_unlink (fuse_req_t req, fuse_ino_t parent, const char *name)
{
    s_remove (req, parent, name, false);
}

static void
s_rmdir (fuse_req_t req, fuse_ino_t parent, const char *name)
{
    s_remove (req, parent, name, true);
}

static void
s_rename (fuse_req_t req, fuse_ino_t parent, const char *name,
          fuse_ino_t newparent, const char *newname, unsigned int flags)
{
    lfs_fs_t *fs = s_enter (req);
    lfs_node_t *dir = fs ? s_node (fs, req, parent) : NULL;
    lfs_node_t *newdir = dir ? s_node (fs, req, newparent) : NULL;
    if (!newdir)
        return;
    int rc = lfs_tree_rename (fs->tree, dir, name, newdir, newname, flags);
    LFS_DEBUG ("rename %s in ino %" PRIu64 " to %s in ino %" PRIu64 ": %s",
               name, dir->ino, newname, newdir->ino, rc ? strerror (-rc) : "ok");
    s_reply_rc (fs, req, rc);
}

//  --- file contents ---------------------------------------------------------

static void
s_open (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    lfs_fs_t *fs = s_enter (req);
    lfs_node_t *node = fs ? s_node (fs, req, ino) : NULL;
    if (!node)
        return;
    if (!S_ISREG (node->mode)) {
        s_reply_rc (fs, req, -EISDIR);
        return;
    }
    int rc = lfs_tree_fd (fs->tree, node);
    if (rc >= 0 && (fi->flags & O_TRUNC))
        rc = lfs_data_resize (&node->data, 0);
    s_handle_t *h = rc >= 0 ? s_handle_new (fs, node, fi->flags) : NULL;
    if (!h) {
        s_reply_rc (fs, req, rc < 0 ? rc : -ENOMEM);
        return;
    }
    fi->fh = (uintptr_t) h;
    fi->keep_cache = 1;
    s_leave (fs);
    fuse_reply_open (req, fi);
}

static void
s_read (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
        struct fuse_file_info *fi)
{
    lfs_fs_t *fs = s_enter (req);
    lfs_node_t *node = fs ? s_node (fs, req, ino) : NULL;
    if (!node)
        return;
    char *buf = malloc (size ? size : 1);
    int fd = lfs_tree_fd (fs->tree, node);
    size_t got = 0;
    int rc = !buf ? -ENOMEM : fd < 0 ? fd
           : lfs_data_read (&node->data, fd, buf, size, off, &got);
    s_leave (fs);
    if (rc)
        fuse_reply_err (req, -rc);
    else
        fuse_reply_buf (req, buf, got);
    free (buf);
}

static void
s_write (fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
         off_t off, struct fuse_file_info *fi)
{
    lfs_fs_t *fs = s_enter (req);
    lfs_node_t *node = fs ? s_node (fs, req, ino) : NULL;
    if (!node)
        return;
    s_handle_t *h = (s_handle_t *) (uintptr_t) fi->fh;
    int rc = lfs_data_write (&node->data, buf, size, off);
    if (rc == 0) {
        lfs_tree_wrote (fs->tree, node, off, size);
        node->mtime = node->ctime = s_now ();
    }
    //  An O_DSYNC or O_SYNC descriptor: the write is durable on return
    bool sync = h && (h->flags & O_DSYNC);
    if (rc == 0 && sync && !(node = s_flush_wait (fs, req, ino)))
        return;
    if (rc == 0 && sync)
        rc = lfs_tree_sync_file (fs->tree, node);
    LFS_DEBUG ("write ino %" PRIu64 " at %jd, %zu bytes%s: %s", node->ino,
               (intmax_t) off, size, sync ? " (O_DSYNC)" : "",
               rc ? strerror (-rc) : "ok");
    if (rc) {
        s_reply_rc (fs, req, rc);
        return;
    }
    s_leave (fs);
    fuse_reply_write (req, size);
}

static void
s_flush (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    lfs_fs_t *fs = s_enter (req);
    if (fs)
        s_reply_rc (fs, req, 0);    //  close(2) makes nothing durable
}

static void
s_fsync (fuse_req_t req, fuse_ino_t ino, int datasync,
         struct fuse_file_info *fi)
{
    lfs_fs_t *fs = s_enter (req);
    lfs_node_t *node = fs ? s_flush_wait (fs, req, ino) : NULL;
    if (!node)
        return;
    size_t extents, bytes = lfs_data_pending (&node->data, &extents);
    int rc = lfs_tree_sync_file (fs->tree, node);
    LFS_DEBUG ("%s ino %" PRIu64 ": %zu bytes in %zu extents, size %jd: %s",
               datasync ? "fdatasync" : "fsync", node->ino, bytes, extents,
               (intmax_t) node->data.size, rc ? strerror (-rc) : "durable");
    s_reply_rc (fs, req, rc);
}

static void
s_fallocate (fuse_req_t req, fuse_ino_t ino, int mode, off_t off,
             off_t len, struct fuse_file_info *fi)
{
    lfs_fs_t *fs = s_enter (req);
    lfs_node_t *node = fs ? s_node (fs, req, ino) : NULL;
    if (!node)
        return;
    if (mode != 0) {
        s_reply_rc (fs, req, -EOPNOTSUPP);
        return;
    }
    //  Reserve the space in the backing file now (so a full disk says so
    //  now) without changing its size; the new size is pending data.
    int fd = lfs_tree_fd (fs->tree, node);
    int rc = fd < 0 ? fd
           : fallocate (fd, FALLOC_FL_KEEP_SIZE, off, len) ? -errno : 0;
    if (rc == 0 && off + len > node->data.size) {
        rc = lfs_data_resize (&node->data, off + len);
        node->mtime = node->ctime = s_now ();
    }
    LFS_DEBUG ("fallocate ino %" PRIu64 " at %jd, %jd bytes: %s", node->ino,
               (intmax_t) off, (intmax_t) len, rc ? strerror (-rc) : "ok");
    s_reply_rc (fs, req, rc);
}

//  --- folders ---------------------------------------------------------------

static int
s_list_add (fuse_req_t req, s_handle_t *h, const char *name,
            const lfs_node_t *node)
{
    struct stat st = { .st_ino = node->ino, .st_mode = node->mode };
    size_t need = fuse_add_direntry (req, NULL, 0, name, NULL, 0);
    char *list = realloc (h->list, h->list_size + need);
    if (!list)
        return -ENOMEM;
    h->list = list;
    fuse_add_direntry (req, list + h->list_size, need, name, &st,
                       (off_t) (h->list_size + need));
    h->list_size += need;
    return 0;
}

static void
s_opendir (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    lfs_fs_t *fs = s_enter (req);
    lfs_node_t *dir = fs ? s_node (fs, req, ino) : NULL;
    if (!dir)
        return;
    if (!S_ISDIR (dir->mode)) {
        s_reply_rc (fs, req, -ENOTDIR);
        return;
    }
    s_handle_t *h = s_handle_new (fs, dir, fi->flags);
    int rc = h ? s_list_add (req, h, ".", dir) : -ENOMEM;
    if (rc == 0)
        rc = s_list_add (req, h, "..", dir->parent ? dir->parent : dir);
    for (lfs_node_t *c = dir->children; c && rc == 0; c = c->sibling)
        rc = s_list_add (req, h, c->name, c);
    if (rc) {
        if (h)
            s_handle_destroy (fs, h);
        s_reply_rc (fs, req, rc);
        return;
    }
    fi->fh = (uintptr_t) h;
    s_leave (fs);
    fuse_reply_open (req, fi);
}

static void
s_readdir (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
           struct fuse_file_info *fi)
{
    lfs_fs_t *fs = s_enter (req);
    if (!fs)
        return;
    s_handle_t *h = (s_handle_t *) (uintptr_t) fi->fh;
    size_t from = off > 0 ? (size_t) off : 0;
    size_t count = from < h->list_size ? h->list_size - from : 0;
    if (count > size)
        count = size;
    s_leave (fs);
    fuse_reply_buf (req, count ? h->list + from : NULL, count);
}

static void
s_fsyncdir (fuse_req_t req, fuse_ino_t ino, int datasync,
            struct fuse_file_info *fi)
{
    lfs_fs_t *fs = s_enter (req);
    lfs_node_t *dir = fs ? s_flush_wait (fs, req, ino) : NULL;
    if (!dir)
        return;
    int rc = lfs_tree_sync_dir (fs->tree, dir);
    LFS_DEBUG ("fsync folder ino %" PRIu64 ": %s", dir->ino,
               rc ? strerror (-rc) : "its entries are durable");
    s_reply_rc (fs, req, rc);
}

static void
s_statfs (fuse_req_t req, fuse_ino_t ino)
{
    lfs_fs_t *fs = s_enter (req);
    if (!fs)
        return;
    struct statvfs sv;
    int rc = statvfs (fs->backing, &sv) ? -errno : 0;
    s_leave (fs);
    if (rc)
        fuse_reply_err (req, -rc);
    else
        fuse_reply_statfs (req, &sv);
}

const struct fuse_lowlevel_ops lfs_ops = {
    .init = s_init,
    .destroy = s_destroy,
    .lookup = s_lookup,
    .forget = s_forget,
    .forget_multi = s_forget_multi,
    .getattr = s_getattr,
    .setattr = s_setattr,
    .mkdir = s_mkdir,
    .unlink = s_unlink,
    .rmdir = s_rmdir,
    .rename = s_rename,
    .create = s_create,
    .open = s_open,
    .read = s_read,
    .write = s_write,
    .flush = s_flush,
    .release = s_release,
    .fsync = s_fsync,
    .fallocate = s_fallocate,
    .opendir = s_opendir,
    .readdir = s_readdir,
    .releasedir = s_release,
    .fsyncdir = s_fsyncdir,
    .statfs = s_statfs,
};
