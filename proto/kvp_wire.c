/*  kvp_wire.c - the maps between broker and workers, and big-endian
    frame helpers.

    The decoders face any peer that reaches the workers' socket, so they
    are as strict as the request decoder: a pre-scan first, then exact
    types, bounded strings and bounded partition numbers.
*/
#include <stdlib.h>
#include <string.h>
#include <assert.h>
#include "kvp_wire.h"
#include "kvp_pack.h"
#include "kvp_utf8.h"
#include "kvp_mpcheck.h"

#define S_BODY_MAX  (1024 * 1024)   /* 65536 partitions fit in ~330 KB */
#define S_DEPTH     2               /* a map holding an array */

static void
s_pack_partitions (msgpack_packer *pk, const uint32_t *partitions,
                   size_t count)
{
    kvp_pack_cstr (pk, "partitions");
    msgpack_pack_array (pk, count);
    for (size_t i = 0; i < count; i++)
        msgpack_pack_uint32 (pk, partitions [i]);
}

void
kvp_register_encode (msgpack_sbuffer *buf, const kvp_register_t *reg)
{
    assert (buf);
    assert (reg);
    assert (reg->partitions || reg->partition_count == 0);
    bool zone = reg->zone [0] != 0;
    msgpack_packer pk;
    kvp_pack_start (&pk, buf);
    msgpack_pack_map (&pk, 5 + zone);
    kvp_pack_cstr (&pk, "version");
    msgpack_pack_uint32 (&pk, reg->version);
    kvp_pack_cstr (&pk, "id");
    kvp_pack_cstr (&pk, reg->id);
    kvp_pack_cstr (&pk, "token");
    kvp_pack_cstr (&pk, reg->token);
    s_pack_partitions (&pk, reg->partitions, reg->partition_count);
    kvp_pack_cstr (&pk, "nparts");
    msgpack_pack_uint32 (&pk, reg->nparts);
    if (zone) {
        kvp_pack_cstr (&pk, "zone");
        kvp_pack_cstr (&pk, reg->zone);
    }
}

bool
kvp_wire_zone_valid (const char *zone, size_t len)
{
    if (!zone || len > KVP_ZONE_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (zone [i] < 0x20 || zone [i] > 0x7e)
            return false;
    return true;
}

void
kvp_assign_encode (msgpack_sbuffer *buf, const uint32_t *partitions,
                   size_t count, uint32_t nparts, uint32_t heartbeat_ms)
{
    assert (buf);
    assert (partitions || count == 0);
    msgpack_packer pk;
    kvp_pack_start (&pk, buf);
    msgpack_pack_map (&pk, 1 + (nparts > 0) + (heartbeat_ms > 0));
    s_pack_partitions (&pk, partitions, count);
    if (nparts) {
        kvp_pack_cstr (&pk, "nparts");
        msgpack_pack_uint32 (&pk, nparts);
    }
    if (heartbeat_ms) {
        kvp_pack_cstr (&pk, "heartbeat_ms");
        msgpack_pack_uint32 (&pk, heartbeat_ms);
    }
}

void
kvp_refuse_encode (msgpack_sbuffer *buf, const char *error)
{
    assert (buf);
    msgpack_packer pk;
    kvp_pack_start (&pk, buf);
    msgpack_pack_map (&pk, 1);
    kvp_pack_cstr (&pk, "error");
    kvp_pack_cstr (&pk, error? error: "");
}

//  --------------------------------------------------------------------------
//  Decoding: unpack into a scratch zone, look fields up by name

/*  The decoders' common frame: check, unpack, require a map. */
typedef struct {
    msgpack_zone zone;
    msgpack_object root;
} s_doc_t;

static bool
s_doc_open (s_doc_t *doc, const void *body, size_t len)
{
    if (!body || len == 0 || len > S_BODY_MAX
    ||  kvp_mpcheck_scan (body, len, S_DEPTH))
        return false;
    if (!msgpack_zone_init (&doc->zone, 4096))
        return false;
    size_t offset = 0;
    if (msgpack_unpack ((const char *) body, len, &offset, &doc->zone,
                        &doc->root) == MSGPACK_UNPACK_SUCCESS
    &&  doc->root.type == MSGPACK_OBJECT_MAP)
        return true;
    msgpack_zone_destroy (&doc->zone);
    return false;
}

/*  The value of key `name` in the document's map; NULL if absent. A key
    given twice makes the document unusable (*twice set). */
static const msgpack_object *
s_doc_get (s_doc_t *doc, const char *name, bool *twice)
{
    const msgpack_object_map *map = &doc->root.via.map;
    const msgpack_object *found = NULL;
    size_t len = strlen (name);
    for (uint32_t i = 0; i < map->size; i++) {
        const msgpack_object *key = &map->ptr [i].key;
        if (key->type == MSGPACK_OBJECT_STR && key->via.str.size == len
        &&  memcmp (key->via.str.ptr, name, len) == 0) {
            if (found)
                *twice = true;
            found = &map->ptr [i].val;
        }
    }
    return found;
}

/*  A uint field that fits in `max`; absent is fine when optional. */
static bool
s_get_uint (s_doc_t *doc, const char *name, bool required, uint64_t max,
            uint32_t *value)
{
    bool twice = false;
    const msgpack_object *obj = s_doc_get (doc, name, &twice);
    *value = 0;
    if (twice)
        return false;
    if (!obj)
        return !required;
    if (obj->type != MSGPACK_OBJECT_POSITIVE_INTEGER || obj->via.u64 > max)
        return false;
    *value = (uint32_t) obj->via.u64;
    return true;
}

/*  A str field of 1..max bytes, valid UTF-8 without NUL, copied into
    `out` (max + 1 bytes) NUL-terminated. */
static bool
s_get_name (s_doc_t *doc, const char *name, char *out, size_t max)
{
    bool twice = false;
    const msgpack_object *obj = s_doc_get (doc, name, &twice);
    if (twice || !obj || obj->type != MSGPACK_OBJECT_STR)
        return false;
    size_t len = obj->via.str.size;
    if (len == 0 || len > max || memchr (obj->via.str.ptr, 0, len)
    ||  !kvp_utf8_valid (obj->via.str.ptr, len))
        return false;
    memcpy (out, obj->via.str.ptr, len);
    out [len] = 0;
    return true;
}

/*  The optional `zone`: a zone name copied into `out` (KVP_ZONE_MAX + 1
    bytes), "" when absent. */
static bool
s_get_zone (s_doc_t *doc, char *out)
{
    bool twice = false;
    const msgpack_object *obj = s_doc_get (doc, "zone", &twice);
    out [0] = 0;
    if (twice)
        return false;
    if (!obj)
        return true;
    if (obj->type != MSGPACK_OBJECT_STR
    ||  !kvp_wire_zone_valid (obj->via.str.ptr, obj->via.str.size))
        return false;
    memcpy (out, obj->via.str.ptr, obj->via.str.size);
    out [obj->via.str.size] = 0;
    return true;
}

/*  The `partitions` array: uints below KVP_PARTITIONS_MAX, at most that
    many. Allocates *partitions (NULL when empty). */
static bool
s_get_partitions (s_doc_t *doc, uint32_t **partitions, size_t *count)
{
    bool twice = false;
    const msgpack_object *obj = s_doc_get (doc, "partitions", &twice);
    if (twice || !obj || obj->type != MSGPACK_OBJECT_ARRAY
    ||  obj->via.array.size > KVP_PARTITIONS_MAX)
        return false;
    size_t n = obj->via.array.size;
    for (size_t i = 0; i < n; i++) {
        const msgpack_object *p = &obj->via.array.ptr [i];
        if (p->type != MSGPACK_OBJECT_POSITIVE_INTEGER
        ||  p->via.u64 >= KVP_PARTITIONS_MAX)
            return false;
    }
    uint32_t *list = NULL;
    if (n && !(list = (uint32_t *) malloc (n * sizeof (uint32_t))))
        return false;
    for (size_t i = 0; i < n; i++)
        list [i] = (uint32_t) obj->via.array.ptr [i].via.u64;
    *partitions = list;
    *count = n;
    return true;
}

bool
kvp_register_decode (kvp_register_t *reg, const void *body, size_t len)
{
    assert (reg);
    s_doc_t doc;
    if (!s_doc_open (&doc, body, len))
        return false;
    kvp_register_t out = { 0 };
    bool ok = s_get_uint (&doc, "version", true, UINT32_MAX, &out.version)
           && s_get_name (&doc, "id", out.id, KVP_WORKER_ID_MAX)
           && s_get_name (&doc, "token", out.token, KVP_TOKEN_MAX)
           && s_get_uint (&doc, "nparts", true, KVP_PARTITIONS_MAX,
                          &out.nparts)
           && s_get_zone (&doc, out.zone)
           && s_get_partitions (&doc, &out.partitions, &out.partition_count);
    msgpack_zone_destroy (&doc.zone);
    if (ok)
        *reg = out;
    return ok;
}

bool
kvp_assign_decode (const void *body, size_t len, uint32_t **partitions,
                   size_t *count, uint32_t *nparts, uint32_t *heartbeat_ms)
{
    assert (partitions && count && nparts && heartbeat_ms);
    s_doc_t doc;
    if (!s_doc_open (&doc, body, len))
        return false;
    uint32_t n, beat, *list = NULL;
    size_t listed = 0;
    bool ok = s_get_uint (&doc, "nparts", false, KVP_PARTITIONS_MAX, &n)
           && s_get_uint (&doc, "heartbeat_ms", false, UINT32_MAX, &beat)
           && s_get_partitions (&doc, &list, &listed);
    msgpack_zone_destroy (&doc.zone);
    if (!ok)
        return false;
    *partitions = list;
    *count = listed;
    *nparts = n;
    *heartbeat_ms = beat;
    return true;
}

bool
kvp_refuse_decode (const void *body, size_t len, char *error, size_t size)
{
    s_doc_t doc;
    if (!s_doc_open (&doc, body, len))
        return false;
    bool twice = false;
    const msgpack_object *obj = s_doc_get (&doc, "error", &twice);
    bool ok = !twice && obj && obj->type == MSGPACK_OBJECT_STR;
    if (ok && error && size > 0) {
        size_t copy = obj->via.str.size < size - 1? obj->via.str.size: size - 1;
        if (copy)
            memcpy (error, obj->via.str.ptr, copy);
        error [copy] = 0;
    }
    msgpack_zone_destroy (&doc.zone);
    return ok;
}

//  --------------------------------------------------------------------------

//  Big-endian integers of the frames; reading is the pre-scan's reader
static void
s_put_be (uint8_t *out, size_t bytes, uint64_t value)
{
    for (size_t i = bytes; i-- > 0; value >>= 8)
        out [i] = (uint8_t) value;
}

void
kvp_put_u64 (uint8_t out [8], uint64_t value)
{
    s_put_be (out, 8, value);
}

uint64_t
kvp_get_u64 (const uint8_t in [8])
{
    return kvp_mpcheck_be (in, 8);
}

void
kvp_put_u32 (uint8_t out [4], uint32_t value)
{
    s_put_be (out, 4, value);
}

uint32_t
kvp_get_u32 (const uint8_t in [4])
{
    return (uint32_t) kvp_mpcheck_be (in, 4);
}
