/*  kvp_items.h - decode and validate the `items` array of an item op
    (internal to proto/).

    Each item is a map {Name, Data, Source} or a str holding a CIM-XML
    embedded instance (kvp_cim). The rules are spec section 4's: 1..128
    items, Source 0 or 4, Name 1..511 bytes and Data up to 2047 (Source 0)
    or 16384 (Source 4) bytes of UTF-8 without NUL, no two items with the
    same (Source, Name). RemoveKvpItems takes Data optionally, leaves it
    unchecked and hands none out. Uses msgpack-c and kvp_cim.
*/
#ifndef KVP_ITEMS_H_INCLUDED
#define KVP_ITEMS_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <msgpack.h>
#include "kvp_request.h"
#include "kvp_cim.h"
#include "kvp_fault.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  What the check fills in; owned by the request. */
typedef struct {
    kvp_item_t items [KVP_ITEMS_MAX];   /* in request order */
    size_t count;                       /* valid entries in items */
    uint8_t order [KVP_ITEMS_MAX];      /* indexes by (Source, Name) */
} kvp_items_t;

/*  Validate `value` (the request's `items`) into `out`, recording faults
    in `fault`. Every item is walked even past the 128th, so that a wrong
    type anywhere is found. CIM-XML text is decoded into `cim`'s storage
    (the caller resets it per request). `out->order` is set only when no
    fault was recorded. `remove` selects the RemoveKvpItems rules. */
void
    kvp_items_check (kvp_items_t *out, const msgpack_object *value,
                     bool remove, kvp_cim_t *cim, kvp_fault_t *fault);

#ifdef __cplusplus
}
#endif
#endif
