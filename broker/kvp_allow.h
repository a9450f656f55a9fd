/*  kvp_allow.h - the keys one folder lets in (spec section 11):
    --clients-allow or --workers-allow.

    Every file in the folder whose name does not end in `_secret` is a
    public certificate (CZMQ zcert, ZPL). Its `metadata name` is who the
    peer is; for clients, `metadata role` (reader, writer, admin) is what it
    may do. A certificate that lacks what its folder needs (a name; for
    clients also a known role), or that cannot be read, lets nobody in and
    is logged when the folder is read.

    kvp_allow_refresh reads the folder again when it changed (its mtime)
    or when asked to (`force`); the last good reading stays in force while
    the folder cannot be read. One thread uses a list. Uses czmq.
*/
#ifndef KVP_ALLOW_H_INCLUDED
#define KVP_ALLOW_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include "kvp_op.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _kvp_allow_t kvp_allow_t;

/*  What a key is let in as. */
typedef struct {
    const char *name;           /* metadata name */
    kvp_role_t role;            /* metadata role (client folders) */
} kvp_allow_peer_t;

/*  A list over `dir`, read once; `roles` when its certificates must carry
    a role (the clients' folder). `logid` starts its log lines. Returns
    NULL with the reason in `error` when the folder cannot be read. */
kvp_allow_t *
    kvp_allow_new (const char *dir, bool roles, const char *logid,
                   char *error, size_t size);

void
    kvp_allow_destroy (kvp_allow_t **self_p);

/*  Read the folder again if it changed since the last reading, or always
    when `force`. Returns true when the list was read again. */
bool
    kvp_allow_refresh (kvp_allow_t *self, bool force);

/*  The peer the Z85 public key `key` is let in as, or NULL. The pointers
    stay valid until the next refresh. */
const kvp_allow_peer_t *
    kvp_allow_lookup (kvp_allow_t *self, const char *key);

/*  Keys let in now. */
size_t
    kvp_allow_size (kvp_allow_t *self);

#ifdef __cplusplus
}
#endif
#endif
