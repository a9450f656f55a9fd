/*  kvp_cursor.h - bounds-checked reading and writing of the registry's
    encodings (decision records, state snapshots), big-endian like every
    integer the store writes.

    A writer without room only counts: the same code sizes an encoding
    (data NULL) and then writes it. A reader never reads past its bytes:
    the first read that would clears `ok`, and every read after it gives
    zeros and NULLs, so a decoder checks `ok` once at the end.

    A string is len(2) bytes NUL. The NUL is on disk so that a decoder can
    hand out pointers into the bytes it was given; a string with a NUL
    inside, or without its NUL, does not read. Internal to store/; header
    only, libc only (the integer fields are kvp_lmdb.h's).
*/
#ifndef KVP_CURSOR_H_INCLUDED
#define KVP_CURSOR_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "kvp_lmdb.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint8_t *data;          /* where to write, or NULL to only count */
    size_t size;            /* bytes at data */
    size_t pos;             /* bytes the encoding takes so far */
} kvp_writer_t;

typedef struct {
    const uint8_t *data;    /* the bytes being read (borrowed) */
    size_t size;            /* their length */
    size_t pos;             /* next byte to read */
    bool ok;                /* false once a read went past the end or a
                               string was malformed */
} kvp_reader_t;

/*  Room for `len` more bytes at the writer's position, or NULL (the
    position still advances, so the encoding is counted). */
static inline uint8_t *
kvp_writer_room (kvp_writer_t *self, size_t len)
{
    uint8_t *at = self->data && len <= self->size
               && self->pos <= self->size - len? self->data + self->pos: NULL;
    self->pos += len;
    return at;
}

static inline void
kvp_writer_u8 (kvp_writer_t *self, uint8_t value)
{
    uint8_t *at = kvp_writer_room (self, 1);
    if (at)
        *at = value;
}

static inline void
kvp_writer_u16 (kvp_writer_t *self, uint16_t value)
{
    uint8_t *at = kvp_writer_room (self, 2);
    if (at)
        kvp_lmdb_put_u16 (at, value);
}

static inline void
kvp_writer_u32 (kvp_writer_t *self, uint32_t value)
{
    uint8_t *at = kvp_writer_room (self, 4);
    if (at)
        kvp_lmdb_put_u32 (at, value);
}

static inline void
kvp_writer_u64 (kvp_writer_t *self, uint64_t value)
{
    uint8_t *at = kvp_writer_room (self, 8);
    if (at)
        kvp_lmdb_put_u64 (at, value);
}

/*  A string of at most 65535 bytes (the caller checks its bound). */
static inline void
kvp_writer_str (kvp_writer_t *self, const char *str)
{
    size_t len = strlen (str);
    kvp_writer_u16 (self, (uint16_t) len);
    uint8_t *at = kvp_writer_room (self, len + 1);
    if (at)
        memcpy (at, str, len + 1);
}

/*  The next `len` bytes, or NULL (and ok cleared) if there are fewer. */
static inline const uint8_t *
kvp_reader_take (kvp_reader_t *self, size_t len)
{
    if (!self->ok || len > self->size - self->pos) {
        self->ok = false;
        return NULL;
    }
    const uint8_t *at = self->data + self->pos;
    self->pos += len;
    return at;
}

static inline uint8_t
kvp_reader_u8 (kvp_reader_t *self)
{
    const uint8_t *at = kvp_reader_take (self, 1);
    return at? *at: 0;
}

static inline uint16_t
kvp_reader_u16 (kvp_reader_t *self)
{
    const uint8_t *at = kvp_reader_take (self, 2);
    return at? kvp_lmdb_get_u16 (at): 0;
}

static inline uint32_t
kvp_reader_u32 (kvp_reader_t *self)
{
    const uint8_t *at = kvp_reader_take (self, 4);
    return at? kvp_lmdb_get_u32 (at): 0;
}

static inline uint64_t
kvp_reader_u64 (kvp_reader_t *self)
{
    const uint8_t *at = kvp_reader_take (self, 8);
    return at? kvp_lmdb_get_u64 (at): 0;
}

/*  A string of at most `max` bytes, pointing into the reader's bytes; NULL
    (and ok cleared) if it is longer, cut short, lacks its NUL or holds
    one inside. */
static inline const char *
kvp_reader_str (kvp_reader_t *self, size_t max)
{
    size_t len = kvp_reader_u16 (self);
    const uint8_t *at = kvp_reader_take (self, len + 1);
    if (at && (len > max || at [len] != 0 || memchr (at, 0, len)))
        self->ok = false;
    return self->ok? (const char *) at: NULL;
}

#ifdef __cplusplus
}
#endif
#endif
