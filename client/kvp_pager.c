/*  kvp_pager.c - every item of a system, page by page. See kvp_pager.h. */

#include <stdarg.h>
#include <string.h>
#include "kvp_pager.h"
#include "kvp_obj.h"
#include "kvp_pack.h"
#include "kvp_request.h"

struct _kvp_pager_t {
    kvp_client_t *client;           /* borrowed */
    char *target;                   /* as given */
    int64_t source;                 /* the filter; < 0: none */
    unsigned limit;                 /* items a page */
    kvp_reply_t *page;              /* the page being handed on */
    const msgpack_object_array *items;  /* its items */
    uint32_t next;                  /* index of the next item to hand on */
    bool more;                      /* the page said items follow it */
    bool has_last;                  /* an item was handed on */
    uint64_t last_source;           /* the last item handed on */
    char *last_name;
    size_t last_len;
    size_t last_size;               /* bytes allocated in last_name */
    int rc;                         /* see kvp_pager_rc */
    char error [256];
    size_t pages;                   /* pages received */
};

kvp_pager_t *
kvp_pager_new (kvp_client_t *client, const char *target, int64_t source,
               unsigned limit)
{
    assert (client && target);
    kvp_pager_t *self = (kvp_pager_t *) zmalloc (sizeof (kvp_pager_t));
    if (!self)
        return NULL;
    self->client = client;
    self->target = strdup (target);
    self->source = source;
    self->limit = limit == 0? KVP_PAGE_LIMIT
                : limit > KVP_PAGE_LIMIT_MAX? KVP_PAGE_LIMIT_MAX: limit;
    if (!self->target)
        kvp_pager_destroy (&self);
    return self;
}

void
kvp_pager_destroy (kvp_pager_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kvp_pager_t *self = *self_p;
    kvp_reply_destroy (&self->page);
    free (self->target);
    free (self->last_name);
    free (self);
    *self_p = NULL;
}

//  The read has failed with `rc` and a reason. Returns false.
static bool
s_fail (kvp_pager_t *self, int rc, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

static bool
s_fail (kvp_pager_t *self, int rc, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (self->error, sizeof self->error, format, args);
    va_end (args);
    self->rc = rc;
    kvp_reply_destroy (&self->page);
    return false;
}

//  Ask for the page after the last item handed on.
static kvp_reply_t *
s_ask (kvp_pager_t *self, int timeout_ms)
{
    msgpack_packer *pk = kvp_client_begin (self->client, "GetKvpItems",
                                           2 + (self->source >= 0)
                                             + self->has_last);
    kvp_pack_cstr (pk, "target");
    kvp_pack_cstr (pk, self->target);
    kvp_pack_cstr (pk, "limit");
    msgpack_pack_unsigned_int (pk, self->limit);
    if (self->source >= 0) {
        kvp_pack_cstr (pk, "Source");
        msgpack_pack_uint64 (pk, (uint64_t) self->source);
    }
    if (self->has_last) {
        kvp_pack_cstr (pk, "after");
        msgpack_pack_map (pk, 2);
        kvp_pack_cstr (pk, "Source");
        msgpack_pack_uint64 (pk, self->last_source);
        kvp_pack_cstr (pk, "Name");
        kvp_pack_str (pk, self->last_name, self->last_len);
    }
    return kvp_client_call (self->client, timeout_ms);
}

//  Replace the page with the next one. Returns false (the read failed)
//  if none came or it is not a page.
static bool
s_fetch (kvp_pager_t *self, int timeout_ms)
{
    kvp_reply_destroy (&self->page);
    self->page = s_ask (self, timeout_ms);
    if (!self->page)
        return s_fail (self, KVP_PAGER_NO_REPLY, "GetKvpItems: no reply "
                       "within %d ms", timeout_ms);
    int rc = kvp_reply_rc (self->page);
    const char *error = kvp_reply_error (self->page);
    if (rc != 0)
        return s_fail (self, rc, "%s", *error? error: "GetKvpItems refused");
    const msgpack_object *map = kvp_reply_map (self->page);
    self->items = kvp_obj_get_array (map, "items");
    self->more = false;
    kvp_obj_get_bool (map, "more", &self->more);
    self->next = 0;
    if (!self->items)
        return s_fail (self, KVP_PAGER_MALFORMED, "GetKvpItems: a reply "
                       "without items");
    if (self->more && self->items->size == 0)
        return s_fail (self, KVP_PAGER_MALFORMED, "GetKvpItems: a page with "
                       "more but no items");
    self->pages++;
    return true;
}

//  Does (source, name) sort after the last item handed on?
static bool
s_after_last (kvp_pager_t *self, uint64_t source, const char *name,
              size_t len)
{
    if (!self->has_last || source != self->last_source)
        return !self->has_last || source > self->last_source;
    size_t common = len < self->last_len? len: self->last_len;
    int cmp = common? memcmp (name, self->last_name, common): 0;
    return cmp > 0 || (cmp == 0 && len > self->last_len);
}

//  Check the item and remember it as the last one handed on. Returns
//  NULL, or what is wrong.
static const char *
s_take (kvp_pager_t *self, const msgpack_object *item)
{
    size_t len;
    uint64_t source;
    const char *name = kvp_obj_get_str (item, "Name", &len);
    if (!name || !kvp_obj_get_uint (item, "Source", &source))
        return "has no str Name or uint Source";
    if (!s_after_last (self, source, name, len))
        return "does not sort after the item before it";
    if (len > self->last_size) {
        char *grown = (char *) realloc (self->last_name, len);
        if (!grown)
            return "is more than the memory left";
        self->last_name = grown;
        self->last_size = len;
    }
    if (len)
        memcpy (self->last_name, name, len);
    self->last_len = len;
    self->last_source = source;
    self->has_last = true;
    return NULL;
}

const msgpack_object *
kvp_pager_next (kvp_pager_t *self, int timeout_ms)
{
    assert (self);
    if (self->rc)
        return NULL;
    if (!self->page || self->next == self->items->size) {
        if (self->page && !self->more)
            return NULL;                //  the last page is used up
        if (!s_fetch (self, timeout_ms))
            return NULL;
        if (self->items->size == 0)
            return NULL;                //  an empty last page
    }
    const msgpack_object *item = &self->items->ptr [self->next++];
    const char *why = s_take (self, item);
    if (why) {
        s_fail (self, KVP_PAGER_MALFORMED, "GetKvpItems: item %" PRIu32
                " of page %zu %s", self->next, self->pages, why);
        return NULL;
    }
    return item;
}

int
kvp_pager_rc (const kvp_pager_t *self)
{
    assert (self);
    return self->rc;
}

const char *
kvp_pager_error (const kvp_pager_t *self)
{
    assert (self);
    return self->error;
}

size_t
kvp_pager_pages (const kvp_pager_t *self)
{
    assert (self);
    return self->pages;
}
