/*  lfs_data.c - one file's durable bytes plus its pending writes. */
#include "lfs_data.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static lfs_extent_t *
s_extent_new (off_t off, const char *data, size_t len)
{
    lfs_extent_t *self = malloc (sizeof *self);
    char *copy = malloc (len);
    if (!self || !copy) {
        free (self);
        free (copy);
        return NULL;
    }
    memcpy (copy, data, len);
    *self = (lfs_extent_t) { .off = off, .len = len, .data = copy };
    return self;
}

static void
s_extent_free (lfs_extent_t *self)
{
    free (self->data);
    free (self);
}

//  Keep only the bytes of `x` from `from` on (from inside x).
static void
s_trim_head (lfs_extent_t *x, off_t from)
{
    size_t cut = (size_t) (from - x->off);
    memmove (x->data, x->data + cut, x->len - cut);
    x->len -= cut;
    x->off = from;
}

void
lfs_data_init (lfs_data_t *self, off_t size)
{
    *self = (lfs_data_t) { .size = size, .dsize = size, .zero_from = size };
}

void
lfs_data_drop (lfs_data_t *self)
{
    while (self->head) {
        lfs_extent_t *next = self->head->next;
        s_extent_free (self->head);
        self->head = next;
    }
    lfs_data_init (self, self->dsize);
}

//  pread all of [off, off + len) or up to the backing file's end.
static int
s_pread_full (int fd, char *buf, size_t len, off_t off)
{
    while (len > 0) {
        ssize_t n = pread (fd, buf, len, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;              //  the rest stays zero
        buf += n;
        len -= (size_t) n;
        off += n;
    }
    return 0;
}

static int
s_pwrite_full (int fd, const char *buf, size_t len, off_t off)
{
    while (len > 0) {
        ssize_t n = pwrite (fd, buf, len, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        buf += n;
        len -= (size_t) n;
        off += n;
    }
    return 0;
}

int
lfs_data_read (lfs_data_t *self, int fd, char *buf, size_t len, off_t off,
               size_t *got)
{
    *got = 0;
    if (off >= self->size)
        return 0;
    if ((off_t) len > self->size - off)
        len = (size_t) (self->size - off);
    memset (buf, 0, len);
    off_t end = off + (off_t) len;
    off_t backed = end < self->zero_from ? end : self->zero_from;
    if (backed > off) {
        int rc = s_pread_full (fd, buf, (size_t) (backed - off), off);
        if (rc)
            return rc;
    }
    for (lfs_extent_t *x = self->head; x && x->off < end; x = x->next) {
        off_t xend = x->off + (off_t) x->len;
        if (xend <= off)
            continue;
        off_t from = x->off > off ? x->off : off;
        off_t to = xend < end ? xend : end;
        memcpy (buf + (from - off), x->data + (from - x->off), (size_t) (to - from));
    }
    *got = len;
    return 0;
}

//  Cut [off, end) out of the extents at *link onwards: extents inside go,
//  extents across an edge are trimmed, one across both is split. Returns
//  the link where an extent starting at `off` belongs, or NULL (ENOMEM).
static lfs_extent_t **
s_carve (lfs_extent_t **link, off_t off, off_t end)
{
    while (*link) {
        lfs_extent_t *x = *link;
        off_t xend = x->off + (off_t) x->len;
        if (xend <= off) {
            link = &x->next;
            continue;
        }
        if (x->off >= end)
            break;
        if (x->off < off && xend > end) {
            lfs_extent_t *right = s_extent_new (end, x->data + (end - x->off),
                                                (size_t) (xend - end));
            if (!right)
                return NULL;
            right->next = x->next;
            x->next = right;
            x->len = (size_t) (off - x->off);
            return &x->next;
        }
        if (x->off < off) {
            x->len = (size_t) (off - x->off);
            link = &x->next;
        }
        else
        if (xend > end) {
            s_trim_head (x, end);
            break;
        }
        else {
            *link = x->next;
            s_extent_free (x);
        }
    }
    return link;
}

int
lfs_data_write (lfs_data_t *self, const char *buf, size_t len, off_t off)
{
    if (len == 0)
        return 0;
    lfs_extent_t *fresh = s_extent_new (off, buf, len);
    if (!fresh)
        return -ENOMEM;
    lfs_extent_t **link = s_carve (&self->head, off, off + (off_t) len);
    if (!link) {
        s_extent_free (fresh);
        return -ENOMEM;
    }
    fresh->next = *link;
    *link = fresh;
    if (off + (off_t) len > self->size)
        self->size = off + (off_t) len;
    return 0;
}

int
lfs_data_resize (lfs_data_t *self, off_t size)
{
    if (size < self->size) {
        lfs_extent_t **link = s_carve (&self->head, size, self->size);
        if (!link)
            return -ENOMEM;
        if (size < self->zero_from)
            self->zero_from = size;
    }
    self->size = size;
    return 0;
}

int
lfs_data_sync (lfs_data_t *self, int fd)
{
    if (!lfs_data_dirty (self))
        return 0;
    if (self->zero_from < self->dsize && ftruncate (fd, self->zero_from) != 0)
        return -errno;
    if (self->size != self->zero_from && ftruncate (fd, self->size) != 0)
        return -errno;
    for (lfs_extent_t *x = self->head; x; x = x->next) {
        int rc = s_pwrite_full (fd, x->data, x->len, x->off);
        if (rc)
            return rc;
    }
    self->dsize = self->size;
    lfs_data_drop (self);
    return 0;
}

int
lfs_data_tear (lfs_data_t *self, int fd, off_t off, size_t keep)
{
    if (off >= self->size || keep == 0)
        return 0;
    char *buf = malloc (keep);
    if (!buf)
        return -ENOMEM;
    size_t got;
    int rc = lfs_data_read (self, fd, buf, keep, off, &got);
    if (rc == 0)
        rc = s_pwrite_full (fd, buf, got, off);
    if (rc == 0 && off + (off_t) got > self->dsize)
        self->dsize = off + (off_t) got;
    free (buf);
    return rc;
}

size_t
lfs_data_pending (const lfs_data_t *self, size_t *extents)
{
    size_t bytes = 0, count = 0;
    for (lfs_extent_t *x = self->head; x; x = x->next) {
        bytes += x->len;
        count++;
    }
    if (extents)
        *extents = count;
    return bytes;
}

bool
lfs_data_dirty (const lfs_data_t *self)
{
    return self->head || self->size != self->dsize
        || self->zero_from != self->dsize;
}
