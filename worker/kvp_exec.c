/*  kvp_exec.c - the op handlers and their dispatch table (one handler per
    routed op of the op table, kvp_op.h, which says everything else about
    each op: its fields, its routing, whether it writes).

    A handler returns S_KEEP (its writes stay in the batch), S_UNDO (it
    answered with a KVP/1 error or wrote nothing: its nested transaction is
    rolled back) or a negative store code, which kvp_exec_run turns into
    "abort the batch" (FULL) or a 32771 reply (anything else).
*/
#include "kvp_exec.h"
#include "kvp_rc.h"
#include "kvp_reply.h"

#include <czmq.h>
#include <stdarg.h>

#define S_KEEP  0
#define S_UNDO  1
#define S_NEW   2       /* s_replay: the key is unknown, make a new job */
#define S_STOP  3       /* a walk's callback (log, items): the page is full */

#define S_SOURCE_MAX 255    /* the store keeps Source in one byte */

#define S_SCRATCH_KEEP (1024 * 1024)    /* scratch kept between requests */

struct _kvp_exec_t {
    kvp_store_t *store;                     /* borrowed */
    msgpack_zone zone;                      /* strings of decoded jobs */
    msgpack_sbuffer text;                   /* ErrorDescription being built */
    msgpack_sbuffer data;                   /* Remove: copies of old Data;
                                               GetKvpItems: packed items */
    size_t offsets [KVP_ITEMS_MAX];         /* where each copy starts */
    kvp_item_t removed [KVP_ITEMS_MAX];     /* Remove: the event's items */
    size_t page_count;                      /* GetEvents: events in data */
    uint8_t guid [16];                      /* the running slot's target as
                                               store key bytes (ops that
                                               name a system) */
};

typedef int (s_handler_fn) (kvp_exec_t *self, kvp_slot_t *slot);

//  --- Replies ------------------------------------------------------------

//  Answer with a KVP/1 error; the op's writes (if any) are undone.
static int
s_fail (kvp_slot_t *slot, unsigned rc, const char *format, ...)
{
    char error [256];
    va_list args;
    va_start (args, format);
    vsnprintf (error, sizeof error, format, args);
    va_end (args);
    kvp_slot_clear_results (slot);
    kvp_reply_status (&slot->reply, kvp_request_rid (slot->request), rc,
                      error);
    return S_UNDO;
}

//  Append bytes to a growing buffer (msgpack_sbuffer is one).
static void
s_append (msgpack_sbuffer *buf, const char *bytes, size_t len)
{
    if (len)
        msgpack_sbuffer_write (buf, bytes, len);
}

//  A successful reply with no fields of its own.
static int
s_done (kvp_slot_t *slot)
{
    kvp_reply_status (&slot->reply, kvp_request_rid (slot->request),
                      KVP_RC_OK, NULL);
    return S_KEEP;
}

//  Start a successful reply with `extra` fields to follow.
static void
s_reply_ok (kvp_slot_t *slot, msgpack_packer *pk, size_t extra)
{
    msgpack_packer_init (pk, &slot->reply, msgpack_sbuffer_write);
    kvp_reply_begin (pk, kvp_request_rid (slot->request), KVP_RC_OK, NULL,
                     extra);
}

static int
s_unknown_system (kvp_slot_t *slot)
{
    return s_fail (slot, KVP_RC_INVALID_PARAM, "unknown system %s",
                   slot->target.text);
}

//  Read the slot's system; answers "unknown system" (S_UNDO) if absent.
static int
s_system_get (kvp_exec_t *self, kvp_slot_t *slot, const uint8_t guid [16],
              kvp_system_t *sys)
{
    int rc = kvp_store_system_get (self->store, slot->part, guid, sys);
    return rc == KVP_STORE_NOTFOUND ? s_unknown_system (slot) : rc;
}

//  Read job `seq` of `part` back from the log into `job` (strings in the
//  executor's zone, valid until the next call).
static int
s_logged_job (kvp_exec_t *self, uint32_t part, uint64_t seq, kvp_job_t *job)
{
    const void *event;
    size_t len;
    int rc = kvp_store_log_get (self->store, part, seq, &event, &len);
    if (rc)
        return rc;
    msgpack_zone_clear (&self->zone);
    return kvp_job_decode (job, event, len, &self->zone)
           ? KVP_STORE_OK : KVP_STORE_CORRUPT;
}

//  --- System ops ---------------------------------------------------------

static int
s_define (kvp_exec_t *self, kvp_slot_t *slot)
{
    kvp_system_t sys = { .exchange = true,
                         .created_ms = slot->received_ms };
    const char *name = kvp_request_name (slot->request, &sys.name_len);
    if (!name || sys.name_len > KVP_STORE_ELEMENT_MAX)
        return s_fail (slot, KVP_RC_INVALID_PARAM, "name: bad ElementName");
    memcpy (sys.name, name, sys.name_len);
    sys.name [sys.name_len] = 0;
    const uint8_t *guid = self->guid;
    int rc = kvp_store_system_put (self->store, slot->part, guid, &sys, true);
    if (rc == KVP_STORE_EXISTS)
        return s_fail (slot, KVP_RC_FAILED, "system %s already exists",
                       slot->target.text);
    //  The partition record (made by log_next when missing) lists the
    //  partition in REGISTER from now on, even before its first job.
    uint32_t epoch;
    uint64_t seq;
    if (rc == KVP_STORE_OK)
        rc = kvp_store_log_next (self->store, slot->part, &epoch, &seq);
    if (rc)
        return rc;
    msgpack_packer pk;
    s_reply_ok (slot, &pk, 1);
    kvp_pack_cstr (&pk, "id");
    kvp_pack_cstr (&pk, slot->target.text);
    return S_KEEP;
}

static int
s_destroy (kvp_exec_t *self, kvp_slot_t *slot)
{
    const uint8_t *guid = self->guid;
    int rc = kvp_store_system_delete (self->store, slot->part, guid);
    if (rc == KVP_STORE_NOTFOUND)
        return s_unknown_system (slot);
    if (rc)
        return rc;
    return s_done (slot);
}

static int
s_modify_settings (kvp_exec_t *self, kvp_slot_t *slot)
{
    const uint8_t *guid = self->guid;
    kvp_system_t sys;
    int rc = s_system_get (self, slot, guid, &sys);
    if (rc)
        return rc;
    sys.exchange = kvp_request_data_exchange (slot->request);
    rc = kvp_store_system_put (self->store, slot->part, guid, &sys, false);
    if (rc)
        return rc;
    return s_done (slot);
}

static int
s_get_system (kvp_exec_t *self, kvp_slot_t *slot)
{
    const uint8_t *guid = self->guid;
    kvp_system_t sys;
    int rc = s_system_get (self, slot, guid, &sys);
    if (rc)
        return rc;
    msgpack_packer pk;
    s_reply_ok (slot, &pk, 3);
    kvp_pack_cstr (&pk, "id");
    kvp_pack_cstr (&pk, slot->target.text);
    kvp_pack_cstr (&pk, "name");
    kvp_pack_str (&pk, sys.name, sys.name_len);
    kvp_pack_cstr (&pk, "DataExchangeEnabled");
    if (sys.exchange)
        msgpack_pack_true (&pk);
    else
        msgpack_pack_false (&pk);
    return S_UNDO;      //  read only
}

//  --- Reads: items and jobs ---------------------------------------------

//  After a rare big read (a system with many items, a page of events), do
//  not pin its memory.
static void
s_scratch_trim (kvp_exec_t *self)
{
    if (self->data.alloc > S_SCRATCH_KEEP) {
        msgpack_sbuffer_destroy (&self->data);
        msgpack_sbuffer_init (&self->data);
    }
}

//  A walk of a system's items for one GetKvpItems reply (spec section 4).
typedef struct {
    msgpack_sbuffer *buf;       /* the executor's scratch: packed items */
    msgpack_packer pk;          /* packs into buf */
    const kvp_rid_t *rid;       /* the request's, for the reply's size */
    bool paged;                 /* `limit` or `after` given */
    size_t limit;               /* items the reply may hold */
    size_t count;               /* items packed */
    bool more;                  /* an item is left after the last packed */
} s_items_t;

//  Would one more item of `len` packed bytes take the reply past 4 MiB?
static bool
s_items_full (s_items_t *walk, size_t packed, size_t len)
{
    size_t rid = walk->rid && walk->rid->type == KVP_RID_STR? walk->rid->len: 0;
    //  The head is a few dozen bytes: count it exactly only near the end.
    if (packed + len + rid + 256 <= KVP_PAGE_BODY_MAX)
        return false;
    return kvp_reply_items_size (walk->rid, walk->paged, walk->count + 1,
                                 packed + len) > KVP_PAGE_BODY_MAX;
}

//  items_each callback: pack one item, or stop where the reply is full
//  (one more item, by count or by size: `more`).
static int
s_pack_item (void *arg, uint32_t source, const char *name, size_t name_len,
             const char *data, size_t data_len)
{
    s_items_t *walk = (s_items_t *) arg;
    msgpack_sbuffer *buf = walk->buf;
    size_t before = buf->size;
    kvp_item_t item = { source, name, (uint32_t) name_len,
                        data, (uint32_t) data_len };
    if (walk->count < walk->limit)
        kvp_pack_item (&walk->pk, &item);
    walk->more = walk->count == walk->limit
              || s_items_full (walk, before, buf->size - before);
    if (walk->more) {
        buf->size = before;     //  take it back out: packing it measured it
        return S_STOP;
    }
    walk->count++;
    return 0;
}

//  The Source filter and the paging fields as the store takes them.
//  Returns false when no item can match (a Source past what the store
//  keeps).
static bool
s_items_query (kvp_slot_t *slot, s_items_t *walk, uint32_t *source,
               kvp_store_after_t *after, bool *has_after)
{
    uint64_t filter;
    uint32_t limit;
    const kvp_after_t *from;
    *source = UINT32_MAX;               //  the store's "every Source"
    walk->paged = kvp_request_page (slot->request, &limit, &from);
    walk->limit = walk->paged? limit: SIZE_MAX;
    *has_after = from != NULL;
    if (from)
        *after = (kvp_store_after_t) { from->source, from->name,
                                       from->name_len };
    if (!kvp_request_source_filter (slot->request, &filter))
        return true;
    *source = (uint32_t) filter;
    return filter <= S_SOURCE_MAX;
}

static int
s_get_items (kvp_exec_t *self, kvp_slot_t *slot)
{
    const uint8_t *guid = self->guid;
    kvp_system_t sys;
    int rc = s_system_get (self, slot, guid, &sys);
    if (rc)
        return rc;
    s_items_t walk = { .buf = &self->data,
                       .rid = kvp_request_rid (slot->request) };
    uint32_t source;
    kvp_store_after_t after;
    bool has_after;
    //  msgpack wants the count before the items: pack them aside first.
    kvp_pack_start (&walk.pk, walk.buf);
    if (s_items_query (slot, &walk, &source, &after, &has_after))
        rc = kvp_store_items_each (self->store, slot->part, guid, source,
                                   has_after? &after: NULL, s_pack_item,
                                   &walk);
    if (rc && rc != S_STOP)
        return rc;
    if (walk.more && !walk.paged)
        s_fail (slot, KVP_RC_OUT_OF_MEMORY, "items: the system's items do "
                "not fit in one reply of %d bytes; page with limit and "
                "after (%zu items fit)", KVP_PAGE_BODY_MAX, walk.count);
    else
        kvp_reply_items (&slot->reply, walk.rid,
                         walk.paged? &walk.more: NULL, walk.count,
                         self->data.data, self->data.size);
    s_scratch_trim (self);
    return S_UNDO;      //  read only
}

static int
s_get_job (kvp_exec_t *self, kvp_slot_t *slot)
{
    size_t len;
    const char *id = kvp_request_job (slot->request, &len);
    uint32_t part, epoch;
    uint64_t seq;
    kvp_request_job_parts (slot->request, &part, &epoch, &seq);
    kvp_partition_t info;
    kvp_job_t job;
    int rc = kvp_store_partition_get (self->store, part, &info);
    if (rc == KVP_STORE_OK && info.epoch != epoch)
        rc = KVP_STORE_NOTFOUND;        //  a job of another life of part
    if (rc == KVP_STORE_OK)
        rc = s_logged_job (self, part, seq, &job);
    if (rc == KVP_STORE_NOTFOUND)
        return s_fail (slot, KVP_RC_INVALID_PARAM, "unknown job %.*s",
                       (int) len, id);
    if (rc)
        return rc;
    msgpack_packer pk;
    s_reply_ok (slot, &pk, 1);
    kvp_pack_cstr (&pk, "job");
    kvp_pack_job (&pk, &job);
    return S_UNDO;
}

//  --- GetEvents (spec section 10) --------------------------------------

//  A walk of the log for one page: where it is, what it may hold.
typedef struct {
    kvp_exec_t *self;
    const kvp_rid_t *rid;       /* the request's, for the reply's size */
    kvp_events_page_t page;     /* next: one past the last event taken */
    uint32_t limit;             /* events the page may hold */
    bool full;                  /* stopped by limit or size */
    int rc;                     /* a hole in the log: CORRUPT */
} s_page_t;

//  log_each callback: the first seq still kept.
static int
s_first_kept (void *arg, uint32_t part, uint64_t seq, const void *event,
              size_t len)
{
    *(uint64_t *) arg = seq;
    return S_STOP;
}

//  Would one more event of `len` bytes take the reply past the limit?
static bool
s_page_full (s_page_t *walk, size_t len)
{
    kvp_exec_t *self = walk->self;
    size_t rid = walk->rid && walk->rid->type == KVP_RID_STR? walk->rid->len: 0;
    //  The head is a few dozen bytes: count it exactly only near the end.
    if (self->data.size + len + rid + 256 <= KVP_PAGE_BODY_MAX)
        return false;
    kvp_events_page_t page = walk->page;
    page.next++;
    return kvp_reply_events_size (walk->rid, &page, self->page_count + 1,
                                  self->data.size + len)
         > KVP_PAGE_BODY_MAX;
}

//  log_each callback: take one event into the page, as it is stored (the
//  very bytes that were published).
static int
s_page_add (void *arg, uint32_t part, uint64_t seq, const void *event,
            size_t len)
{
    s_page_t *walk = (s_page_t *) arg;
    kvp_exec_t *self = walk->self;
    if (seq > walk->page.last)
        return S_STOP;
    if (seq != walk->page.next) {
        walk->rc = KVP_STORE_CORRUPT;       //  a hole in the kept range
        return S_STOP;
    }
    //  A page holds at least one event, whatever its size.
    walk->full = self->page_count > 0 && s_page_full (walk, len);
    if (walk->full)
        return S_STOP;
    s_append (&self->data, (const char *) event, len);
    self->page_count++;
    walk->page.next++;
    walk->full = self->page_count == walk->limit;
    return walk->full? S_STOP: 0;
}

//  The partition's kept range: page->last (0 when it has no events) and
//  page->first (last + 1 when none is kept).
static int
s_kept_range (kvp_exec_t *self, uint32_t part, kvp_events_page_t *page)
{
    kvp_partition_t info;
    int rc = kvp_store_partition_get (self->store, part, &info);
    page->last = rc == KVP_STORE_OK? info.seq: 0;
    page->first = page->last + 1;
    if (rc == KVP_STORE_NOTFOUND)
        return KVP_STORE_OK;        //  never written here: no events
    if (rc == KVP_STORE_OK)
        rc = kvp_store_log_each (self->store, part, 1, s_first_kept,
                                 &page->first);
    if (rc == S_STOP)
        rc = KVP_STORE_OK;
    if (page->first > page->last + 1)
        page->first = page->last + 1;
    return rc;
}

//  `from` is past retention: 32773 naming `first`, with first and last.
static int
s_events_gone (kvp_slot_t *slot, uint64_t from, const kvp_events_page_t *page)
{
    char error [160];
    snprintf (error, sizeof error, "from: %" PRIu64 " is before first %"
              PRIu64 ", the lowest seq still kept (the events before it are "
              "past retention)", from, page->first);
    msgpack_packer pk;
    kvp_pack_start (&pk, &slot->reply);
    kvp_reply_begin (&pk, kvp_request_rid (slot->request),
                     KVP_RC_INVALID_PARAM, error, 2);
    kvp_pack_cstr (&pk, "first");
    msgpack_pack_uint64 (&pk, page->first);
    kvp_pack_cstr (&pk, "last");
    msgpack_pack_uint64 (&pk, page->last);
    return S_UNDO;
}

static int
s_get_events (kvp_exec_t *self, kvp_slot_t *slot)
{
    uint64_t from;
    s_page_t walk = { self, kvp_request_rid (slot->request),
                      { .partition = slot->part }, 0, false, KVP_STORE_OK };
    kvp_request_events (slot->request, NULL, &from, &walk.limit);
    int rc = s_kept_range (self, slot->part, &walk.page);
    if (rc)
        return rc;
    if (from < walk.page.first)
        return s_events_gone (slot, from, &walk.page);
    walk.page.next = from;
    msgpack_sbuffer_clear (&self->data);
    self->page_count = 0;
    if (from <= walk.page.last)
        rc = kvp_store_log_each (self->store, slot->part, from, s_page_add,
                                 &walk);
    if (rc == S_STOP || rc == KVP_STORE_OK)
        rc = walk.rc;
    if (rc == KVP_STORE_OK && !walk.full && walk.page.next <= walk.page.last)
        rc = KVP_STORE_CORRUPT;     //  the log ends before its last seq
    if (rc)
        return rc;
    kvp_reply_events (&slot->reply, walk.rid, &walk.page, self->page_count,
                      self->data.data, self->data.size);
    s_scratch_trim (self);
    return S_UNDO;      //  read only
}

//  --- Item ops -------------------------------------------------------------

//  Add `what: Source S Name "N"` to the ErrorDescription being built, with
//  '"' and '\' in the name escaped.
static void
s_fault (kvp_exec_t *self, const char *what, const kvp_item_t *item)
{
    char head [64];
    int len = snprintf (head, sizeof head, "%s%s: Source %u Name \"",
                        self->text.size ? "; " : "", what, item->source);
    s_append (&self->text, head, (size_t) len);
    size_t start = 0;
    for (size_t i = 0; i < item->name_len; i++)
        if (item->name [i] == '"' || item->name [i] == '\\') {
            s_append (&self->text, item->name + start, i - start);
            s_append (&self->text, "\\", 1);
            start = i;
        }
    s_append (&self->text, item->name + start, item->name_len - start);
    s_append (&self->text, "\"", 1);
}

//  Is each item where the op needs it (Add: absent; Modify, Remove:
//  present)? Returns the number of faults (each named in self->text) or a
//  store code. For Remove, copies each old Data aside for the event.
static int
s_check_items (kvp_exec_t *self, kvp_slot_t *slot, const uint8_t guid [16],
               kvp_op_t op, const kvp_item_t *items, size_t count)
{
    msgpack_sbuffer_clear (&self->text);
    msgpack_sbuffer_clear (&self->data);
    int faults = 0;
    for (size_t i = 0; i < count; i++) {
        const char *data;
        size_t data_len;
        int rc = kvp_store_item_get (self->store, slot->part, guid,
                                     items [i].source, items [i].name,
                                     items [i].name_len, &data, &data_len);
        if (rc != KVP_STORE_OK && rc != KVP_STORE_NOTFOUND)
            return rc;
        bool exists = rc == KVP_STORE_OK;
        if (exists && op == KVP_OP_ADD_KVP_ITEMS)
            s_fault (self, "key exists", &items [i]), faults++;
        else
        if (!exists && op != KVP_OP_ADD_KVP_ITEMS)
            s_fault (self, "key missing", &items [i]), faults++;
        else
        if (op == KVP_OP_REMOVE_KVP_ITEMS) {
            //  Copied now: the pointer dies at the next write.
            self->offsets [i] = self->data.size;
            self->removed [i] = items [i];
            self->removed [i].data_len = (uint32_t) data_len;
            s_append (&self->data, data, data_len);
        }
    }
    return faults;
}

//  Write all items (they were checked). A clash now means the store
//  disagrees with itself.
static int
s_apply_items (kvp_exec_t *self, kvp_slot_t *slot, const uint8_t guid [16],
               kvp_op_t op, const kvp_item_t *items, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        const kvp_item_t *it = &items [i];
        int rc = op == KVP_OP_REMOVE_KVP_ITEMS
            ? kvp_store_item_delete (self->store, slot->part, guid,
                                     it->source, it->name, it->name_len)
            : kvp_store_item_put (self->store, slot->part, guid, it->source,
                                  it->name, it->name_len, it->data,
                                  it->data_len,
                                  op == KVP_OP_ADD_KVP_ITEMS);
        if (rc == KVP_STORE_EXISTS || rc == KVP_STORE_NOTFOUND)
            return KVP_STORE_CORRUPT;
        if (rc)
            return rc;
    }
    if (op == KVP_OP_REMOVE_KVP_ITEMS)
        for (size_t i = 0; i < count; i++)
            self->removed [i].data = self->data.data
                                   ? self->data.data + self->offsets [i] : "";
    return KVP_STORE_OK;
}

//  An earlier request with this key: answer its job (S_UNDO: nothing is
//  written), refuse a different request, or S_NEW if the key is unknown.
static int
s_replay (kvp_exec_t *self, kvp_slot_t *slot, const uint8_t guid [16],
          const char *key, size_t key_len, const uint8_t digest [16])
{
    uint64_t seq;
    uint8_t earlier [16];
    int rc = kvp_store_key_get (self->store, slot->part, guid, key, key_len,
                                &seq, earlier);
    if (rc == KVP_STORE_NOTFOUND)
        return S_NEW;
    if (rc)
        return rc;
    if (memcmp (digest, earlier, 16) != 0)
        return s_fail (slot, KVP_RC_INVALID_PARAM, "key %.*s was used for a "
                       "different request", (int) key_len, key);
    kvp_job_t job;
    rc = s_logged_job (self, slot->part, seq, &job);
    if (rc == KVP_STORE_NOTFOUND)
        return S_NEW;           //  purged with its key pending: start over
    if (rc)
        return rc;
    kvp_reply_job (&slot->reply, kvp_request_rid (slot->request), &job);
    return S_UNDO;
}

//  Log the job (completed when `ok`, else failed with self->text), encode
//  its event and reply.
static int
s_make_job (kvp_exec_t *self, kvp_slot_t *slot, const uint8_t guid [16],
            const char *key, size_t key_len, const uint8_t *digest, bool ok)
{
    kvp_op_t op = kvp_request_op (slot->request);
    uint32_t epoch;
    uint64_t seq;
    int rc = kvp_store_log_next (self->store, slot->part, &epoch, &seq);
    if (rc)
        return rc;
    kvp_jobid_format (slot->jobid, slot->part, epoch, seq);
    kvp_job_t job = {
        .instance_id = slot->jobid, .job_type = op,
        .target = slot->target.text,
        .job_state = ok ? KVP_JOB_COMPLETED : KVP_JOB_EXCEPTION,
        .error_code = ok ? 0 : KVP_RC_FAILED,
        .error_desc = ok ? "" : self->text.data,
        .error_desc_len = ok ? 0 : self->text.size,
        .time_submitted = slot->received_ms,
        .elapsed_us = (uint64_t) (zclock_usecs () - slot->received_us)
    };
    size_t count = 0;
    const kvp_item_t *items = kvp_request_items (slot->request, &count);
    if (op == KVP_OP_REMOVE_KVP_ITEMS)
        items = self->removed;
    kvp_event_encode (&slot->event, &job, slot->part, seq, items,
                      ok ? count : 0);
    rc = kvp_store_log_put (self->store, slot->part, seq, slot->received_ms,
                            guid, key, key_len, key ? digest : NULL,
                            slot->event.data, slot->event.size);
    if (rc)
        return rc;
    kvp_reply_job (&slot->reply, kvp_request_rid (slot->request), &job);
    slot->seq = seq;
    slot->topic_len = kvp_event_topic (slot->topic, slot->target.text);
    return S_KEEP;
}

//  AddKvpItems, ModifyKvpItems, RemoveKvpItems: spec section 4's order of
//  checks, then an all-or-nothing write and one job either way.
static int
s_items (kvp_exec_t *self, kvp_slot_t *slot)
{
    kvp_request_t *req = slot->request;
    const uint8_t *guid = self->guid;
    uint8_t digest [16];
    size_t key_len = 0;
    const char *key = kvp_request_key (req, &key_len);
    int rc;
    if (key) {
        kvp_request_digest (req, digest);
        rc = s_replay (self, slot, guid, key, key_len, digest);
        if (rc != S_NEW)
            return rc;
    }
    kvp_system_t sys;
    if ((rc = s_system_get (self, slot, guid, &sys)))
        return rc;
    if (!sys.exchange)
        return s_fail (slot, KVP_RC_INVALID_STATE, "DataExchangeEnabled is "
                       "false on system %s", slot->target.text);
    kvp_op_t op = kvp_request_op (req);
    size_t count;
    const kvp_item_t *items = kvp_request_items (req, &count);
    int faults = s_check_items (self, slot, guid, op, items, count);
    if (faults < 0)
        return faults;
    if (faults == 0
    &&  (rc = s_apply_items (self, slot, guid, op, items, count)))
        return rc;
    return s_make_job (self, slot, guid, key, key_len, digest, faults == 0);
}

//  Ping and ClusterStatus are the broker's; they never belong here (nor
//  would a routed op of the table without a handler in s_ops).
static int
s_not_here (kvp_exec_t *self, kvp_slot_t *slot)
{
    kvp_op_t op = kvp_request_op (slot->request);
    return s_fail (slot, KVP_RC_NOT_SUPPORTED, "%s is %s", kvp_op_name (op),
                   kvp_op_route (op) == KVP_BY_BROKER
                   ? "answered by the broker": "not served by workers");
}

//  --- Dispatch -------------------------------------------------------------

//  The handler of each op the broker routes to a worker.
static s_handler_fn *const s_ops [KVP_OP_COUNT] = {
    [KVP_OP_DEFINE_SYSTEM]          = s_define,
    [KVP_OP_DESTROY_SYSTEM]         = s_destroy,
    [KVP_OP_MODIFY_SYSTEM_SETTINGS] = s_modify_settings,
    [KVP_OP_ADD_KVP_ITEMS]          = s_items,
    [KVP_OP_MODIFY_KVP_ITEMS]       = s_items,
    [KVP_OP_REMOVE_KVP_ITEMS]       = s_items,
    [KVP_OP_GET_KVP_ITEMS]          = s_get_items,
    [KVP_OP_GET_JOB]                = s_get_job,
    [KVP_OP_GET_SYSTEM]             = s_get_system,
    [KVP_OP_GET_EVENTS]             = s_get_events,
};

kvp_exec_t *
kvp_exec_new (kvp_store_t *store)
{
    assert (store);
    kvp_exec_t *self = (kvp_exec_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->store = store;
    msgpack_sbuffer_init (&self->text);
    msgpack_sbuffer_init (&self->data);
    if (!msgpack_zone_init (&self->zone, 4096)) {
        free (self);
        return NULL;
    }
    return self;
}

void
kvp_exec_destroy (kvp_exec_t **self_p)
{
    assert (self_p);
    kvp_exec_t *self = *self_p;
    if (!self)
        return;
    msgpack_zone_destroy (&self->zone);
    msgpack_sbuffer_destroy (&self->text);
    msgpack_sbuffer_destroy (&self->data);
    free (self);
    *self_p = NULL;
}

bool
kvp_exec_writes (kvp_op_t op)
{
    return kvp_op_writes (op);
}

bool
kvp_exec_handles (kvp_op_t op)
{
    return (unsigned) op < KVP_OP_COUNT && s_ops [op] != NULL;
}

int
kvp_exec_run (kvp_exec_t *self, kvp_slot_t *slot)
{
    kvp_op_t op = kvp_request_op (slot->request);
    assert (op < KVP_OP_COUNT);
    kvp_slot_clear_results (slot);
    //  Only ops that name a system have a target (GetJob's is zeroed).
    if (kvp_op_names_system (op))
        kvp_guid_to_bytes (&slot->target, self->guid);
    s_handler_fn *handler = s_ops [op]? s_ops [op]: s_not_here;
    int rc = kvp_store_op_begin (self->store);
    if (rc == KVP_STORE_OK) {
        rc = handler (self, slot);
        if (rc == S_KEEP && slot->no_jobs && kvp_op_writes (op))
            rc = s_fail (slot, KVP_RC_NOT_AVAILABLE, "partition %u has "
                         "fewer copies in sync than --min-insync: writes "
                         "refused until one catches up", slot->part);
        int end = kvp_store_op_end (self->store, rc == S_KEEP);
        //  FULL or EIO from op_end: the whole batch failed, whatever the
        //  handler thought.
        if (rc == S_KEEP || rc == S_UNDO || end)
            rc = end;
    }
    if (rc == KVP_STORE_OK)
        return rc;
    kvp_slot_clear_results (slot);
    if (rc == KVP_STORE_FULL || rc == KVP_STORE_EIO)
        return rc;
    zsys_error ("%s on %s: %s", kvp_op_name (op), slot->target.text,
                kvp_store_strerror (rc));
    kvp_reply_status (&slot->reply, kvp_request_rid (slot->request),
                      KVP_RC_STATUS_UNKNOWN, kvp_store_strerror (rc));
    return KVP_STORE_OK;
}
