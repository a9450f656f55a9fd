/*  kvp_pool.h - a guest's KVP pool file, as Linux's hv_kvp_daemon keeps it.

    The pool file (DIR/.kvp_pool_0 for Source 0, the items the host gives
    the guest) is a flat array of records, each a 512-byte key and a
    2048-byte value, both NUL-terminated UTF-8 and NUL-padded
    (HV_KVP_EXCHANGE_MAX_KEY_SIZE and _VALUE_SIZE of the kernel's
    include/uapi/linux/hyperv.h). Readers and the daemon take a whole-file
    fcntl lock on it.

    A kvp_pool_t holds the items in memory (name -> data) and writes them
    out as a whole: a temporary file in DIR is written and fsynced, then
    renamed over the pool file and DIR is fsynced, all while holding the
    write lock on the pool file, so a reader that takes the lock sees either
    the old file or the new one, never part of one. Records are written in
    bytewise order of name.

    One pool is used by one thread. Uses czmq (zhashx).
*/
#ifndef KVP_POOL_H_INCLUDED
#define KVP_POOL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KVP_POOL_KEY_SIZE     512     /* HV_KVP_EXCHANGE_MAX_KEY_SIZE */
#define KVP_POOL_VALUE_SIZE   2048    /* HV_KVP_EXCHANGE_MAX_VALUE_SIZE */
#define KVP_POOL_RECORD_SIZE  (KVP_POOL_KEY_SIZE + KVP_POOL_VALUE_SIZE)
#define KVP_POOL_FILE         ".kvp_pool_0"

typedef struct _kvp_pool_t kvp_pool_t;

/*  A pool for the file `dir`/.kvp_pool_0, empty in memory (the file is not
    read: the host's items are the truth). `dir` is created if missing.
    Returns NULL if it cannot be (logged). */
kvp_pool_t *
    kvp_pool_new (const char *dir);

/*  Free the pool and null the caller's pointer; safe on NULL. The file
    stays as last written. */
void
    kvp_pool_destroy (kvp_pool_t **self_p);

/*  Forget every item (in memory). */
void
    kvp_pool_clear (kvp_pool_t *self);

/*  Set item `name` (`name_len` bytes) to `data` (`data_len` bytes), adding
    it if new. Returns 0, or -1 (nothing changed, logged) when either does
    not fit its field with its NUL or holds a NUL. */
int
    kvp_pool_put (kvp_pool_t *self, const char *name, size_t name_len,
                  const char *data, size_t data_len);

/*  Remove item `name` if present. */
void
    kvp_pool_remove (kvp_pool_t *self, const char *name, size_t name_len);

/*  Number of items in memory. */
size_t
    kvp_pool_size (kvp_pool_t *self);

/*  Whether memory differs from what was last written (or nothing was). */
bool
    kvp_pool_dirty (kvp_pool_t *self);

/*  Replace the pool file with the items in memory, atomically and under
    the pool file's fcntl write lock (waiting for readers that hold it).
    Returns 0, or -1 with errno set (the old file is left as it was). */
int
    kvp_pool_write (kvp_pool_t *self);

/*  The pool file's path (owned by the pool). */
const char *
    kvp_pool_path (kvp_pool_t *self);

#ifdef __cplusplus
}
#endif
#endif
