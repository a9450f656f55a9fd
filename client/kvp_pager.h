/*  kvp_pager.h - every item of a system, read page by page.

    A system's items may not fit in one reply (spec section 4: a system
    past 4 MiB of items answers an unpaged GetKvpItems with 32778). A
    pager reads them with GetKvpItems pages: `limit` items at most, each
    page asked for `after` the last item of the one before, until a page
    says there is no `more`. It hands the items on one by one, in order of
    Source, then Name, each exactly once among the items that stay in place
    while it reads (an item added or removed meanwhile may or may not be
    seen, never twice).

        kvp_pager_t *pager = kvp_pager_new (client, guid, -1, 0);
        const msgpack_object *item;
        while ((item = kvp_pager_next (pager, 5000)))
            ... kvp_obj_get_str (item, "Name", &len) ...
        if (kvp_pager_rc (pager) != 0)
            ... kvp_pager_error (pager) ...
        kvp_pager_destroy (&pager);

    What comes back is checked as it comes: a page must be an array of
    items each with a str Name and a uint Source, sorting after the item
    before it, and a page that says `more` must hold an item; otherwise
    the read fails, so a broken peer cannot make a pager loop. A reply
    without `more` is a last page (a server that does not page sends
    everything at once, or 32778).

    A pager borrows its client (one request in flight at a time, through
    kvp_client_call) and is used by the client's thread. Uses kvp_client,
    kvp_obj, proto's page limits (kvp_request.h) and msgpack-c.
*/
#ifndef KVP_PAGER_H_INCLUDED
#define KVP_PAGER_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <msgpack.h>
#include "kvp_client.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _kvp_pager_t kvp_pager_t;

/*  A pager over the items of system `target` (a GUID or WMI path,
    copied), of Source `source` only when it is >= 0, `limit` items a page
    (0: KVP_PAGE_LIMIT, the protocol's default; more than
    KVP_PAGE_LIMIT_MAX: that, the largest page there is). Nothing is
    sent before the first kvp_pager_next. Returns NULL when out of
    memory. */
kvp_pager_t *
    kvp_pager_new (kvp_client_t *client, const char *target, int64_t source,
                   unsigned limit);

/*  Destroy a pager and null the caller's pointer; safe on NULL. The
    client stays the caller's. */
void
    kvp_pager_destroy (kvp_pager_t **self_p);

/*  The next item map {Name, Data, Source}, asking for the next page (one
    call, waiting at most `timeout_ms`) when the current one is used up
    and said `more`. Owned by the pager, valid until the next call or
    destroy. NULL when every item has been handed on (kvp_pager_rc is 0)
    or the read failed (it is not). */
const msgpack_object *
    kvp_pager_next (kvp_pager_t *self, int timeout_ms);

#define KVP_PAGER_NO_REPLY  (-1)    /* a page got no reply in time */
#define KVP_PAGER_MALFORMED (-2)    /* a reply is not as described above */

/*  0 while the read goes well and after its end; the rc of a page that
    was refused (for example 32773 for an unknown system); or one of the
    two codes above. */
int
    kvp_pager_rc (const kvp_pager_t *self);

/*  Why the read failed: the refusal's `error`, or the pager's own reason
    ("" while none). Owned by the pager. */
const char *
    kvp_pager_error (const kvp_pager_t *self);

/*  Pages received with rc 0 so far. */
size_t
    kvp_pager_pages (const kvp_pager_t *self);

#ifdef __cplusplus
}
#endif
#endif
