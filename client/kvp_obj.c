/*  kvp_obj.c - safe access to decoded msgpack objects. See kvp_obj.h. */

#include <string.h>
#include "kvp_obj.h"

const msgpack_object *
kvp_obj_get (const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t key_len = strlen (key);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr [i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == key_len
        &&  memcmp (k->via.str.ptr, key, key_len) == 0)
            return &map->via.map.ptr [i].val;
    }
    return NULL;
}

const char *
kvp_obj_str (const msgpack_object *obj, size_t *len)
{
    if (!obj || obj->type != MSGPACK_OBJECT_STR)
        return NULL;
    *len = obj->via.str.size;
    //  A zero-length str may carry a NULL pointer; callers want non-NULL.
    return obj->via.str.ptr ? obj->via.str.ptr : "";
}

bool
kvp_obj_uint (const msgpack_object *obj, uint64_t *value)
{
    if (!obj || obj->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return false;
    *value = obj->via.u64;
    return true;
}

bool
kvp_obj_bool (const msgpack_object *obj, bool *value)
{
    if (!obj || obj->type != MSGPACK_OBJECT_BOOLEAN)
        return false;
    *value = obj->via.boolean;
    return true;
}

const char *
kvp_obj_get_str (const msgpack_object *map, const char *key, size_t *len)
{
    return kvp_obj_str (kvp_obj_get (map, key), len);
}

bool
kvp_obj_get_uint (const msgpack_object *map, const char *key,
                  uint64_t *value)
{
    return kvp_obj_uint (kvp_obj_get (map, key), value);
}

bool
kvp_obj_get_bool (const msgpack_object *map, const char *key, bool *value)
{
    return kvp_obj_bool (kvp_obj_get (map, key), value);
}

const msgpack_object_array *
kvp_obj_get_array (const msgpack_object *map, const char *key)
{
    const msgpack_object *obj = kvp_obj_get (map, key);
    if (!obj || obj->type != MSGPACK_OBJECT_ARRAY)
        return NULL;
    return &obj->via.array;
}
