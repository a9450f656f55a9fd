/*  kvp_repl.c - replication message headers (see kvp_repl.h).
*/
#include "kvp_repl.h"
#include <string.h>

#define S_PARTS_MAX 65536

static void
s_put (uint8_t **at, uint64_t value, size_t bytes)
{
    for (size_t i = bytes; i-- > 0; value >>= 8)
        (*at) [i] = (uint8_t) value;
    *at += bytes;
}

static uint64_t
s_get (const uint8_t **at, size_t bytes)
{
    uint64_t value = 0;
    for (size_t i = 0; i < bytes; i++)
        value = (value << 8) | (*at) [i];
    *at += bytes;
    return value;
}

size_t
kvp_repl_encode (const kvp_repl_t *self, size_t size, uint8_t *out)
{
    uint8_t *at = out;
    s_put (&at, self->part, 4);
    s_put (&at, self->epoch, 8);
    if (size == KVP_REPL_ROLE)
        s_put (&at, self->writable ? KVP_REPL_WRITABLE : 0, 1);
    if (size == KVP_REPL_DATA)
        s_put (&at, self->prev, 8);
    if (size == KVP_REPL_DATA || size == KVP_REPL_POS
    ||  size == KVP_REPL_CHUNK)
        s_put (&at, self->seq, 8);
    if (size == KVP_REPL_CHUNK) {
        s_put (&at, self->index, 4);
        s_put (&at, self->last ? 1 : 0, 1);
    }
    return (size_t) (at - out);
}

bool
kvp_repl_decode (kvp_repl_t *self, size_t size, const void *data,
                 size_t len)
{
    memset (self, 0, sizeof *self);
    if (!data || len != size
    ||  (size != KVP_REPL_ROLE && size != KVP_REPL_DATA
      && size != KVP_REPL_POS && size != KVP_REPL_COPY
      && size != KVP_REPL_CHUNK))
        return false;
    const uint8_t *at = (const uint8_t *) data;
    kvp_repl_t out = { 0 };
    uint64_t part = s_get (&at, 4);
    out.epoch = s_get (&at, 8);
    uint64_t flags = size == KVP_REPL_ROLE ? s_get (&at, 1) : 0;
    if (size == KVP_REPL_DATA)
        out.prev = s_get (&at, 8);
    if (size == KVP_REPL_DATA || size == KVP_REPL_POS
    ||  size == KVP_REPL_CHUNK)
        out.seq = s_get (&at, 8);
    uint64_t last = 0;
    if (size == KVP_REPL_CHUNK) {
        out.index = (uint32_t) s_get (&at, 4);
        last = s_get (&at, 1);
    }
    if (part >= S_PARTS_MAX || out.epoch == 0 || out.seq < out.prev
    ||  (flags & ~(uint64_t) KVP_REPL_WRITABLE) || last > 1)
        return false;
    out.part = (uint32_t) part;
    out.writable = (flags & KVP_REPL_WRITABLE) != 0;
    out.last = last == 1;
    *self = out;
    return true;
}
