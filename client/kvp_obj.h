/*  kvp_obj.h - safe access to decoded msgpack objects.

    Replies and events arrive from other processes; nothing in them is
    trusted. These getters check types before every use and return NULL /
    false rather than read a field of the wrong kind. (The raw bytes are
    checked before decoding with proto's kvp_mpcheck_scan.)

    Uses msgpack-c only.
*/
#ifndef KVP_OBJ_H_INCLUDED
#define KVP_OBJ_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <msgpack.h>

#ifdef __cplusplus
extern "C" {
#endif

/*  Look up the str key `key` (NUL-terminated, compared bytewise) in `map`.
    Returns the value (borrowed from the map) or NULL when `map` is NULL,
    not a map, or has no such key. When a key appears twice, the first
    wins. */
const msgpack_object *
    kvp_obj_get (const msgpack_object *map, const char *key);

/*  If `obj` is a str, return its bytes (not NUL-terminated, borrowed) and
    set *len; else return NULL. `obj` may be NULL. */
const char *
    kvp_obj_str (const msgpack_object *obj, size_t *len);

/*  If `obj` is a non-negative integer, set *value and return true. */
bool
    kvp_obj_uint (const msgpack_object *obj, uint64_t *value);

/*  If `obj` is a bool, set *value and return true. */
bool
    kvp_obj_bool (const msgpack_object *obj, bool *value);

/*  Shorthands: kvp_obj_get followed by kvp_obj_str / kvp_obj_uint /
    kvp_obj_bool. */
const char *
    kvp_obj_get_str (const msgpack_object *map, const char *key, size_t *len);
bool
    kvp_obj_get_uint (const msgpack_object *map, const char *key,
                      uint64_t *value);
bool
    kvp_obj_get_bool (const msgpack_object *map, const char *key,
                      bool *value);

/*  The array in `map` under `key`, or NULL if absent or not an array. */
const msgpack_object_array *
    kvp_obj_get_array (const msgpack_object *map, const char *key);

#ifdef __cplusplus
}
#endif
#endif
