/*  kvp_client_reply.h - one KVP/1 reply as a client received it.

    The class is kvp_reply_t (kvp_reply_*). Its header is not called
    kvp_reply.h because proto/ already has that name for the reply
    *encoder*; the two share the prefix but no symbol.

    A reply owns a copy of its body and the msgpack objects decoded from
    it. Bodies come from the network, so nothing is assumed: the body must
    pass proto's kvp_mpcheck_scan (exactly one object, declared lengths
    within the bytes, nesting at most KVP_MPCHECK_DEPTH) and be a map;
    every field is checked for type on access, and one of the wrong type
    reads as absent.

    Uses msgpack-c, proto (kvp_mpcheck) and kvp_obj.
*/
#ifndef KVP_CLIENT_REPLY_H_INCLUDED
#define KVP_CLIENT_REPLY_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <msgpack.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _kvp_reply_t kvp_reply_t;

/*  Decode `len` bytes of `body` (copied; the caller keeps its buffer).
    Returns NULL if the bytes are not one well-formed msgpack map or when
    out of memory. */
kvp_reply_t *
    kvp_reply_new (const void *body, size_t len);

/*  Destroy a reply and null the caller's pointer; safe on NULL. Pointers
    obtained from the reply die with it. */
void
    kvp_reply_destroy (kvp_reply_t **self_p);

/*  The reply's `rc`, or -1 when it is absent, not a uint, or larger than
    INT32_MAX (a malformed reply). */
int
    kvp_reply_rc (const kvp_reply_t *self);

/*  The reply's `rid` when it is a uint, else 0 (absent or a str rid).
    kvp_client never assigns rid 0. */
uint64_t
    kvp_reply_rid (const kvp_reply_t *self);

/*  The `error` text, NUL-terminated (cut at the first NUL the text may
    contain), or "" when absent or not a str. Owned by the reply. */
const char *
    kvp_reply_error (const kvp_reply_t *self);

/*  The value under the str key `key` in the reply map, or NULL when
    absent. Owned by the reply. */
const msgpack_object *
    kvp_reply_get (const kvp_reply_t *self, const char *key);

/*  The whole reply map (for printing). Owned by the reply. */
const msgpack_object *
    kvp_reply_map (const kvp_reply_t *self);

/*  The raw body bytes; sets *len. Owned by the reply. */
const void *
    kvp_reply_body (const kvp_reply_t *self, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
