/*  kvp_pack.c - msgpack writing steps shared by the encoders (see
    kvp_pack.h). */
#include <string.h>
#include <assert.h>
#include "kvp_pack.h"

void
kvp_pack_start (msgpack_packer *pk, msgpack_sbuffer *buf)
{
    assert (pk);
    assert (buf);
    msgpack_sbuffer_clear (buf);
    msgpack_packer_init (pk, buf, msgpack_sbuffer_write);
}

void
kvp_pack_str (msgpack_packer *pk, const char *str, size_t len)
{
    assert (pk);
    msgpack_pack_str (pk, len);
    if (len)                    //  str may be NULL when empty
        msgpack_pack_str_body (pk, str, len);
}

void
kvp_pack_cstr (msgpack_packer *pk, const char *str)
{
    kvp_pack_str (pk, str, str? strlen (str): 0);
}
