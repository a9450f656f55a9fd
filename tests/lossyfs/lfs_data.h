/*  lfs_data.h - the contents of one lossyfs file: the durable bytes in a
    backing file, and over them the writes and size changes that were not
    synced yet, kept in memory.

    What a reader sees, byte by byte below `size`: the newest pending write
    that covers the byte; else, below `zero_from`, the backing file's byte;
    else zero (a truncation, or growth by ftruncate or fallocate, not yet
    synced). lfs_data_sync makes that view the backing file's content;
    lfs_data_drop forgets it, as a power cut does.

    Invariants: zero_from <= dsize, zero_from <= size, and every extent lies
    below size. The extents are sorted by offset and never overlap.

    An lfs_data_t is embedded in its node; it does not own the backing
    file's descriptor (lfs_tree opens and closes it). One thread at a time.
*/
#ifndef LFS_DATA_H_INCLUDED
#define LFS_DATA_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct lfs_extent {
    struct lfs_extent *next;    /* next extent, higher offset */
    off_t off;                  /* first byte */
    size_t len;                 /* bytes, > 0 */
    char *data;                 /* len bytes, owned */
} lfs_extent_t;

typedef struct {
    off_t size;                 /* current size, as readers see it */
    off_t dsize;                /* durable size: the backing file's */
    off_t zero_from;            /* backing bytes from here on read as 0 */
    lfs_extent_t *head;         /* pending writes, sorted, disjoint */
} lfs_data_t;

/*  Start with the durable content of a backing file of `size` bytes and
    nothing pending. */
void
    lfs_data_init (lfs_data_t *self, off_t size);

/*  Free every pending extent (the view falls back to the backing file). */
void
    lfs_data_drop (lfs_data_t *self);

/*  Read up to `len` bytes at `off` into `buf` as a reader sees them, from
    backing file `fd`; *got is the count (0 at or past the end). Returns 0
    or a negative errno from the backing file. */
int
    lfs_data_read (lfs_data_t *self, int fd, char *buf, size_t len,
                   off_t off, size_t *got);

/*  Record a write of `len` bytes at `off` (copied). Returns 0 or -ENOMEM. */
int
    lfs_data_write (lfs_data_t *self, const char *buf, size_t len,
                    off_t off);

/*  Change the current size (ftruncate, or the growth of fallocate).
    Returns 0 or -ENOMEM. */
int
    lfs_data_resize (lfs_data_t *self, off_t size);

/*  Make the current view durable: truncate and grow the backing file `fd`
    as pending, write every extent, forget them. Returns 0 or a negative
    errno; on failure nothing is forgotten (the backing file may hold part
    of the change, as a disk that failed mid-flush would). */
int
    lfs_data_sync (lfs_data_t *self, int fd);

/*  The torn write of a power cut: make durable only the bytes
    [off, off + keep) of the view (clipped to the current size), growing
    the backing file if they reach past it. Returns 0 or a negative errno. */
int
    lfs_data_tear (lfs_data_t *self, int fd, off_t off, size_t keep);

/*  Pending bytes and pending extents (for logs and the cut's report). */
size_t
    lfs_data_pending (const lfs_data_t *self, size_t *extents);

/*  True if anything differs from the durable content. */
bool
    lfs_data_dirty (const lfs_data_t *self);

#endif
