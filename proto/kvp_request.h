/*  kvp_request.h - decode and validate one KVP/1 request body.

    A kvp_request_t is a reusable decoder: make one per socket loop, call
    kvp_request_decode for each body, read the fields, decode the next. No
    allocation happens per request once its buffers have grown to the
    largest body seen. Every pointer it hands out (strings, items) points
    into the body given to decode or into the request's own storage, and
    stays valid until the next decode or destroy: the caller keeps the body
    alive that long.

    Validation follows spec section 4 exactly, including which fault wins
    when several apply: body not a map (32773), op not a str (32776),
    unknown op (32770), a field of the wrong type (32776), a field with a bad
    value or a missing field (32773). Which fields an op takes is the op
    table's word (kvp_op.h); this decoder knows how to check each field.
    Checks that need the store (unknown system, DataExchangeEnabled,
    existing keys) or the cluster (a partition below N) are the worker's
    and the broker's.

    Uses msgpack-c, the op table and the CIM-XML parser (kvp_cim.h); no
    sockets.
*/
#ifndef KVP_REQUEST_H_INCLUDED
#define KVP_REQUEST_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "kvp_guid.h"
#include "kvp_op.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KVP_BODY_MAX        (1024 * 1024)   /* largest request body, bytes */
#define KVP_ITEMS_MAX       128             /* items per item op */
#define KVP_NAME_MAX        511             /* item Name, bytes */
#define KVP_DATA_MAX_HOST   2047            /* item Data for Source 0, bytes */
#define KVP_DATA_MAX_ONLY   16384           /* item Data for Source 4, bytes */
#define KVP_ELEMENT_MAX     256             /* DefineSystem name, bytes */
#define KVP_KEY_MAX         64              /* idempotency key, bytes */
#define KVP_SOURCE_HOST     0               /* HostExchangeItems */
#define KVP_SOURCE_HOSTONLY 4               /* HostOnlyItems */

#define KVP_PAGE_LIMIT      1000    /* a page's `limit` when absent
                                       (GetEvents, GetKvpItems) */
#define KVP_PAGE_LIMIT_MAX  10000   /* largest `limit` */

/*  The `rid` of a request, returned as sent. */
typedef enum {
    KVP_RID_NONE,               /* absent (or of a wrong type) */
    KVP_RID_UINT,
    KVP_RID_STR
} kvp_rid_type_t;

typedef struct {
    kvp_rid_type_t type;        /* which of the two below is set */
    uint64_t uint;              /* KVP_RID_UINT */
    const char *str;            /* KVP_RID_STR, not NUL-terminated, borrowed */
    size_t len;                 /* KVP_RID_STR length in bytes */
} kvp_rid_t;

/*  One data item (Msvm_KvpExchangeDataItem) after decoding. */
typedef struct {
    uint32_t source;            /* 0 or 4 once validated */
    const char *name;           /* not NUL-terminated, borrowed */
    uint32_t name_len;          /* bytes */
    const char *data;           /* not NUL-terminated, borrowed; may be NULL
                                   when data_len is 0 */
    uint32_t data_len;          /* bytes */
} kvp_item_t;

typedef struct _kvp_request_t kvp_request_t;

/*  Create a decoder. Returns NULL when out of memory. */
kvp_request_t *
    kvp_request_new (void);

/*  Destroy a decoder and null the caller's pointer; safe on NULL. */
void
    kvp_request_destroy (kvp_request_t **self_p);

/*  Decode and validate `len` bytes of msgpack at `body`. Returns KVP_RC_OK
    (0) when the request is valid, else the KVP/1 return code of the first
    fault by the spec's order, with kvp_request_error giving the reason.
    Bodies over KVP_BODY_MAX, deeper than a few levels or declaring more
    elements than they hold are refused (32773) before any unpacking. */
int
    kvp_request_decode (kvp_request_t *self, const void *body, size_t len);

/*  Who sends the bodies decoded from now on (spec section 11): an op above
    `role` is refused with 32769, right after the op checks (so before any
    field fault), with an error naming the op and `who` (borrowed: keep it
    until the next call). A new decoder lets every op through (admin): the
    broker sets each client's role when CURVE is on. */
void
    kvp_request_set_access (kvp_request_t *self, kvp_role_t role,
                            const char *who);

/*  The reason for the last failed decode, naming the field or key at
    fault ("" after a success). Valid until the next decode. */
const char *
    kvp_request_error (kvp_request_t *self);

/*  The op; valid once decode got past the op checks (any rc other than
    32773 for a non-map body, 32776 for op, 32770). */
kvp_op_t
    kvp_request_op (kvp_request_t *self);

/*  The rid; set by every decode that found a map (KVP_RID_NONE if absent
    or of the wrong type), and by a decode that refused the body before
    unpacking it (over KVP_BODY_MAX, malformed msgpack) when a bounded scan
    of the start of its map finds a uint rid (kvp_mpcheck_rid): a client
    matching replies by rid gets its answer whenever the rid can be read. */
const kvp_rid_t *
    kvp_request_rid (kvp_request_t *self);

/*  `target` (or for DefineSystem `id`) as a lower-case GUID. For
    DefineSystem without `id`, has_id is false and the GUID is zeroed: the
    caller makes one (kvp_guid_random). NULL if the op takes neither. */
const kvp_guid_t *
    kvp_request_target (kvp_request_t *self);
bool
    kvp_request_has_id (kvp_request_t *self);

/*  RetireWorker `id`: the worker name (1..KVP_WORKER_ID_MAX bytes of
    UTF-8 without NUL, not NUL-terminated). Sets *len; NULL for other
    ops. */
const char *
    kvp_request_worker (kvp_request_t *self, size_t *len);
/*  DefineSystem `name` (ElementName). Sets *len; NULL for other ops. */
const char *
    kvp_request_name (kvp_request_t *self, size_t *len);

/*  ModifySystemSettings `DataExchangeEnabled`. */
bool
    kvp_request_data_exchange (kvp_request_t *self);

/*  Item ops: the validated items (1..128), in request order, and their
    count. For RemoveKvpItems every item's Data is NULL/0 (Remove matches
    by (Source, Name); what the client sent as Data is not validated). */
const kvp_item_t *
    kvp_request_items (kvp_request_t *self, size_t *count);

/*  Item ops: the idempotency `key`, or NULL when absent. Sets *len. */
const char *
    kvp_request_key (kvp_request_t *self, size_t *len);

/*  GetKvpItems: true and *source set when the `Source` filter is given. */
bool
    kvp_request_source_filter (kvp_request_t *self, uint64_t *source);

/*  A position in a system's item order (GetKvpItems `after`): the items
    that sort after (source, name). */
typedef struct {
    uint64_t source;            /* any uint: a position, not an item */
    const char *name;           /* not NUL-terminated, borrowed */
    size_t name_len;            /* 1..KVP_NAME_MAX bytes */
} kvp_after_t;

/*  GetKvpItems paging (spec section 4): true when the request is paged
    (gives `limit` or `after`). *limit (may be NULL) gets `limit`, or
    KVP_PAGE_LIMIT when absent; *after (may be NULL) the position, or NULL
    when absent (from the first item). */
bool
    kvp_request_page (kvp_request_t *self, uint32_t *limit,
                      const kvp_after_t **after);

/*  GetJob: the job id and its parsed parts. Sets *len. */
const char *
    kvp_request_job (kvp_request_t *self, size_t *len);
void
    kvp_request_job_parts (kvp_request_t *self, uint32_t *partition,
                           uint32_t *epoch, uint64_t *seq);

/*  GetEvents: `partition` and `from` as given (the broker and the worker
    check `partition` against N), and `limit` (KVP_PAGE_LIMIT when
    absent). Any pointer may be NULL. */
void
    kvp_request_events (kvp_request_t *self, uint64_t *partition,
                        uint64_t *from, uint32_t *limit);

/*  Item ops: a 128-bit digest of the op and the set of (Source, Name, Data)
    (independent of item order and form), for the idempotency rule. */
void
    kvp_request_digest (kvp_request_t *self, uint8_t digest [16]);

#ifdef __cplusplus
}
#endif
#endif
