/*  kvp_reply.h - encode KVP/1 reply bodies, job maps and events.

    Replies are written into a msgpack_sbuffer the caller owns (clear it and
    reuse it: no allocation once it has grown). The functions that make a
    whole body (kvp_reply_status, kvp_reply_job, kvp_event_encode) clear
    the buffer themselves first; the kvp_pack_* helpers and
    kvp_reply_begin append to what the packer holds. Every reply is one map:
    `rid` (when the request had one), `rc`, `error` (when rc >= 32768) and
    the op's own fields.

    A job (spec section 6) is kept as kvp_job_t. The worker stores the
    encoded *event* of a job (kvp_event_encode) in its per-partition log;
    kvp_job_decode reads the job fields back out of such an event, which is
    how GetJob answers.

    Uses msgpack-c; no sockets.
*/
#ifndef KVP_REPLY_H_INCLUDED
#define KVP_REPLY_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <msgpack.h>
#include "kvp_pack.h"
#include "kvp_request.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KVP_JOB_COMPLETED   7       /* CIM_ConcreteJob JobState */
#define KVP_JOB_EXCEPTION   10

/*  A job as replied, stored and published. Strings are borrowed. */
typedef struct {
    const char *instance_id;    /* job id, NUL-terminated */
    kvp_op_t job_type;          /* the item op */
    const char *target;         /* lower-case GUID, NUL-terminated */
    uint32_t job_state;         /* KVP_JOB_COMPLETED or KVP_JOB_EXCEPTION */
    uint32_t error_code;        /* 0, or the rc describing the failure */
    const char *error_desc;     /* "" when completed */
    size_t error_desc_len;      /* bytes of error_desc */
    uint64_t time_submitted;    /* Unix time, milliseconds */
    uint64_t elapsed_us;        /* acceptance -> commit, microseconds */
} kvp_job_t;

/*  Start a reply: the map header for `extra` more key/value pairs after
    rid/rc/error, then rid (if rid->type != KVP_RID_NONE), rc, and error
    (only if rc >= 32768; `error` may be NULL then and "" is sent). The
    caller packs exactly `extra` pairs next. `rid` may be NULL. */
void
    kvp_reply_begin (msgpack_packer *pk, const kvp_rid_t *rid, unsigned rc,
                     const char *error, size_t extra);

/*  A whole reply with no extra fields (errors, Ping, DestroySystem, ...). */
void
    kvp_reply_status (msgpack_sbuffer *buf, const kvp_rid_t *rid,
                      unsigned rc, const char *error);

/*  Pack one item as the map {"Name", "Data", "Source"}. */
void
    kvp_pack_item (msgpack_packer *pk, const kvp_item_t *item);

/*  Pack a job map (the 8 fields of spec section 6). */
void
    kvp_pack_job (msgpack_packer *pk, const kvp_job_t *job);

/*  A whole item-op reply: rc 4096 and `job`. */
void
    kvp_reply_job (msgpack_sbuffer *buf, const kvp_rid_t *rid,
                   const kvp_job_t *job);

/*  Encode a job's event body: the job fields at top level, `partition`,
    `seq`, and for a completed job `items` (the `count` items). */
void
    kvp_event_encode (msgpack_sbuffer *buf, const kvp_job_t *job,
                      uint32_t partition, uint64_t seq,
                      const kvp_item_t *items, size_t count);

/*  Format the topic of a job's event, "job/<guid>", into `topic` (at least
    KVP_TOPIC_MAX + 1 bytes). Returns its length. */
#define KVP_TOPIC_MAX   (4 + KVP_GUID_LEN)
size_t
    kvp_event_topic (char *topic, const char *target);

/*  --- Pages: GetKvpItems (spec section 4), GetEvents (section 10) ------ */

#define KVP_PAGE_BODY_MAX (4 * 1024 * 1024)     /* a page's reply body, bytes:
                                                   it ends early only where one
                                                   more entry would pass it */

/*  A whole GetKvpItems reply: rc 0, `items`, an array of `count` item maps
    whose encodings are the `len` bytes at `items` (packed with
    kvp_pack_item; may be NULL when len is 0), and for a paged request
    (`more` not NULL) `more`. */
void
    kvp_reply_items (msgpack_sbuffer *buf, const kvp_rid_t *rid,
                     const bool *more, size_t count, const void *items,
                     size_t len);

/*  The exact size in bytes of the body kvp_reply_items would make. */
size_t
    kvp_reply_items_size (const kvp_rid_t *rid, bool paged, size_t count,
                          size_t len);

/*  The fields of a GetEvents reply besides `events`. */
typedef struct {
    uint32_t partition;         /* as asked */
    uint64_t first;             /* lowest seq kept (last + 1 when none) */
    uint64_t last;              /* highest durable seq (0 when none) */
    uint64_t next;              /* the seq to ask for next */
} kvp_events_page_t;

/*  A whole GetEvents reply: rc 0, the page's fields and `events`, an array
    of `count` event maps whose encodings are the `len` bytes at `events`
    (stored event bodies, copied as they are; may be NULL when len is 0). */
void
    kvp_reply_events (msgpack_sbuffer *buf, const kvp_rid_t *rid,
                      const kvp_events_page_t *page, size_t count,
                      const void *events, size_t len);

/*  The exact size in bytes of the body kvp_reply_events would make. */
size_t
    kvp_reply_events_size (const kvp_rid_t *rid,
                           const kvp_events_page_t *page, size_t count,
                           size_t len);

/*  Read the job fields back from an event body made by kvp_event_encode.
    The strings in `job` are NUL-terminated copies allocated from `zone`;
    they live as long as the zone's contents. Returns false if the body is
    not such an event. */
bool
    kvp_job_decode (kvp_job_t *job, const void *body, size_t len,
                    msgpack_zone *zone);

#ifdef __cplusplus
}
#endif
#endif
