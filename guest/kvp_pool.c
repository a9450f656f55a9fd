/*  kvp_pool.c - the pool file in the kernel's record layout, replaced
    atomically under the daemon's fcntl lock. */
#include "kvp_pool.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct _kvp_pool_t {
    char *dir;                  /* the pool folder */
    char *path;                 /* dir/.kvp_pool_0 */
    char *tmp;                  /* dir/.kvp_pool_0.new: written, then renamed */
    zhashx_t *items;            /* name -> data (both strings we own) */
    zhashx_t *written;          /* what the file holds; NULL: unknown */
};

kvp_pool_t *
kvp_pool_new (const char *dir)
{
    if (zsys_dir_create ("%s", dir) != 0) {
        zsys_error ("pool: cannot make %s: %s", dir, strerror (errno));
        return NULL;
    }
    kvp_pool_t *self = (kvp_pool_t *) zmalloc (sizeof (kvp_pool_t));
    self->dir = strdup (dir);
    self->path = zsys_sprintf ("%s/%s", dir, KVP_POOL_FILE);
    self->tmp = zsys_sprintf ("%s/%s.new", dir, KVP_POOL_FILE);
    self->items = zhashx_new ();
    zhashx_set_destructor (self->items, (zhashx_destructor_fn *) zstr_free);
    zhashx_set_duplicator (self->items, (zhashx_duplicator_fn *) strdup);
    return self;
}

void
kvp_pool_destroy (kvp_pool_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kvp_pool_t *self = *self_p;
    zhashx_destroy (&self->items);
    zhashx_destroy (&self->written);
    free (self->dir);
    zstr_free (&self->path);
    zstr_free (&self->tmp);
    free (self);
    *self_p = NULL;
}

void
kvp_pool_clear (kvp_pool_t *self)
{
    zhashx_purge (self->items);
}

//  A field's text fits when it leaves room for the NUL and holds none.
static bool
s_fits (const char *text, size_t len, size_t field)
{
    return len < field && memchr (text, '\0', len) == NULL;
}

int
kvp_pool_put (kvp_pool_t *self, const char *name, size_t name_len,
              const char *data, size_t data_len)
{
    if (name_len == 0 || !s_fits (name, name_len, KVP_POOL_KEY_SIZE)
    ||  !s_fits (data, data_len, KVP_POOL_VALUE_SIZE)) {
        zsys_warning ("pool: item of %zu/%zu bytes does not fit a record: "
                      "left out", name_len, data_len);
        return -1;
    }
    char key [KVP_POOL_KEY_SIZE], value [KVP_POOL_VALUE_SIZE];
    memcpy (key, name, name_len);
    key [name_len] = '\0';
    memcpy (value, data, data_len);
    value [data_len] = '\0';
    zhashx_update (self->items, key, value);
    return 0;
}

void
kvp_pool_remove (kvp_pool_t *self, const char *name, size_t name_len)
{
    if (name_len >= KVP_POOL_KEY_SIZE)
        return;
    char key [KVP_POOL_KEY_SIZE];
    memcpy (key, name, name_len);
    key [name_len] = '\0';
    zhashx_delete (self->items, key);
}

size_t
kvp_pool_size (kvp_pool_t *self)
{
    return zhashx_size (self->items);
}

bool
kvp_pool_dirty (kvp_pool_t *self)
{
    if (!self->written || zhashx_size (self->written) != zhashx_size (self->items))
        return true;
    for (const char *data = zhashx_first (self->items); data;
         data = zhashx_next (self->items)) {
        const char *key = (const char *) zhashx_cursor (self->items);
        const char *old = (const char *) zhashx_lookup (self->written, key);
        if (!old || strcmp (old, data) != 0)
            return true;
    }
    return false;
}

const char *
kvp_pool_path (kvp_pool_t *self)
{
    return self->path;
}

static int
s_cmp (const void *a, const void *b)
{
    return strcmp (*(const char *const *) a, *(const char *const *) b);
}

//  Write every record to `fd`, in name order. Returns 0 or -1 (errno).
static int
s_write_records (kvp_pool_t *self, int fd)
{
    zlistx_t *keys = zhashx_keys (self->items);
    size_t count = zlistx_size (keys), i = 0;
    const char **names = (const char **) zmalloc ((count + 1) * sizeof (char *));
    for (const char *k = zlistx_first (keys); k; k = zlistx_next (keys))
        names [i++] = k;
    qsort (names, count, sizeof (char *), s_cmp);
    int rc = 0;
    for (i = 0; i < count && rc == 0; i++) {
        char record [KVP_POOL_RECORD_SIZE] = { 0 };
        strcpy (record, names [i]);
        strcpy (record + KVP_POOL_KEY_SIZE,
                (const char *) zhashx_lookup (self->items, names [i]));
        if (write (fd, record, sizeof record) != (ssize_t) sizeof record)
            rc = -1;
    }
    free (names);
    zlistx_destroy (&keys);
    return rc;
}

//  The new file, complete and on disk, at self->tmp.
static int
s_write_tmp (kvp_pool_t *self)
{
    int fd = open (self->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    int rc = s_write_records (self, fd);
    if (rc == 0)
        rc = fsync (fd);
    int saved = errno;
    close (fd);
    if (rc != 0) {
        unlink (self->tmp);
        errno = saved;
    }
    return rc;
}

static int
s_fsync_dir (const char *dir)
{
    int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync (fd);
    close (fd);
    return rc;
}

//  Hold the daemon's whole-file write lock on the current pool file
//  (made if missing). Returns the locked fd, or -1.
static int
s_lock (kvp_pool_t *self)
{
    int fd = open (self->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    struct flock lock = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    while (fcntl (fd, F_SETLKW, &lock) != 0) {
        if (errno != EINTR) {
            close (fd);
            return -1;
        }
    }
    return fd;
}

int
kvp_pool_write (kvp_pool_t *self)
{
    int lock = s_lock (self);
    if (lock < 0)
        return -1;
    int rc = s_write_tmp (self);
    if (rc == 0 && rename (self->tmp, self->path) != 0) {
        rc = -1;
        unlink (self->tmp);
    }
    if (rc == 0)
        rc = s_fsync_dir (self->dir);
    int saved = errno;
    close (lock);               //  releases the lock, after the rename
    if (rc == 0) {
        zhashx_destroy (&self->written);
        self->written = zhashx_dup (self->items);
    }
    errno = saved;
    return rc;
}
