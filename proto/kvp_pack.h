/*  kvp_pack.h - the msgpack writing steps every encoder of proto/ (and
    its users) repeats: start a body in a reused buffer, pack a str.

    Leaf module over msgpack-c.
*/
#ifndef KVP_PACK_H_INCLUDED
#define KVP_PACK_H_INCLUDED

#include <stddef.h>
#include <msgpack.h>

#ifdef __cplusplus
extern "C" {
#endif

/*  Empty `buf` (keeping its memory) and point `pk` at it: the start of a
    new body. */
void
    kvp_pack_start (msgpack_packer *pk, msgpack_sbuffer *buf);

/*  Pack a str of `len` bytes (`str` may be NULL when len is 0), or a
    NUL-terminated one (NULL packs as ""). */
void
    kvp_pack_str (msgpack_packer *pk, const char *str, size_t len);
void
    kvp_pack_cstr (msgpack_packer *pk, const char *str);

#ifdef __cplusplus
}
#endif

#endif
