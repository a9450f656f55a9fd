/*  kvp_idkey.h - ZeroMQ routing identities as keys of a zhashx table: a
    length byte, then the identity's bytes (1 to 255 of them).

    The broker keys its worker sessions (kvp_workers) and its clients
    (kvp_peers) by the routing identity their ROUTER gives them. No
    sockets.
*/
#ifndef KVP_IDKEY_H_INCLUDED
#define KVP_IDKEY_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KVP_IDKEY_MAX   256         /* a key's bytes, length byte included */

/*  Write the key of the identity `id` (`len` bytes) into `key`. Returns
    false, leaving `key` alone, when len is 0 or over 255. */
bool
    kvp_idkey_set (uint8_t key [KVP_IDKEY_MAX], const void *id, size_t len);

/*  Make `table` hash, compare, copy and free its keys as identity keys. */
void
    kvp_idkey_table (zhashx_t *table);

#ifdef __cplusplus
}
#endif
#endif
