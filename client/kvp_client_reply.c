/*  kvp_client_reply.c - one KVP/1 reply as received. See
    kvp_client_reply.h. */

#include <stdlib.h>
#include <string.h>
#include "kvp_client_reply.h"
#include "kvp_obj.h"
#include "kvp_mpcheck.h"

struct _kvp_reply_t {
    msgpack_unpacked unpacked;      /* objects decoded from body */
    int rc;                         /* -1 when malformed */
    uint64_t rid;                   /* 0 when absent or not a uint */
    char *error;                    /* NUL-terminated copy, or NULL */
    size_t len;                     /* bytes of body */
    char body [];                   /* the body; objects point into it */
};

/*  Read rc, rid and error once, so the accessors are plain loads. */
static void
s_cache_fields (kvp_reply_t *self)
{
    const msgpack_object *map = &self->unpacked.data;
    uint64_t value;
    self->rc = kvp_obj_get_uint (map, "rc", &value) && value <= INT32_MAX
             ? (int) value : -1;
    self->rid = kvp_obj_get_uint (map, "rid", &value) ? value : 0;
    size_t len;
    const char *error = kvp_obj_get_str (map, "error", &len);
    if (error)
        self->error = strndup (error, len);
}

kvp_reply_t *
kvp_reply_new (const void *body, size_t len)
{
    if (kvp_mpcheck_scan (body, len, KVP_MPCHECK_DEPTH))
        return NULL;
    kvp_reply_t *self = (kvp_reply_t *) malloc (sizeof (kvp_reply_t) + len);
    if (!self)
        return NULL;
    memcpy (self->body, body, len);
    self->len = len;
    self->error = NULL;
    msgpack_unpacked_init (&self->unpacked);
    size_t offset = 0;
    int rc = msgpack_unpack_next (&self->unpacked, self->body, len, &offset);
    if (rc != MSGPACK_UNPACK_SUCCESS
    ||  self->unpacked.data.type != MSGPACK_OBJECT_MAP) {
        kvp_reply_destroy (&self);
        return NULL;
    }
    s_cache_fields (self);
    return self;
}

void
kvp_reply_destroy (kvp_reply_t **self_p)
{
    if (self_p && *self_p) {
        kvp_reply_t *self = *self_p;
        msgpack_unpacked_destroy (&self->unpacked);
        free (self->error);
        free (self);
        *self_p = NULL;
    }
}

int
kvp_reply_rc (const kvp_reply_t *self)
{
    return self->rc;
}

uint64_t
kvp_reply_rid (const kvp_reply_t *self)
{
    return self->rid;
}

const char *
kvp_reply_error (const kvp_reply_t *self)
{
    return self->error ? self->error : "";
}

const msgpack_object *
kvp_reply_get (const kvp_reply_t *self, const char *key)
{
    return kvp_obj_get (&self->unpacked.data, key);
}

const msgpack_object *
kvp_reply_map (const kvp_reply_t *self)
{
    return &self->unpacked.data;
}

const void *
kvp_reply_body (const kvp_reply_t *self, size_t *len)
{
    *len = self->len;
    return self->body;
}
