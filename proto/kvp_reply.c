/*  kvp_reply.c - encode KVP/1 reply bodies, job maps and events; read a
    job back from a stored event. */
#include <stdio.h>
#include <string.h>
#include <assert.h>
#include "kvp_reply.h"
#include "kvp_rc.h"
#include "kvp_mpcheck.h"

#define S_JOB_FIELDS    8       /* the keys of spec section 6 */

void
kvp_reply_begin (msgpack_packer *pk, const kvp_rid_t *rid, unsigned rc,
                 const char *error, size_t extra)
{
    assert (pk);
    bool has_rid = rid && rid->type != KVP_RID_NONE;
    bool has_error = rc >= KVP_RC_FAILED;
    msgpack_pack_map (pk, (size_t) has_rid + 1 + (size_t) has_error + extra);
    if (has_rid) {
        kvp_pack_cstr (pk, "rid");
        if (rid->type == KVP_RID_UINT)
            msgpack_pack_uint64 (pk, rid->uint);
        else
            kvp_pack_str (pk, rid->str, rid->len);
    }
    kvp_pack_cstr (pk, "rc");
    msgpack_pack_unsigned_int (pk, rc);
    if (has_error) {
        kvp_pack_cstr (pk, "error");
        kvp_pack_cstr (pk, error? error: "");
    }
}

void
kvp_reply_status (msgpack_sbuffer *buf, const kvp_rid_t *rid, unsigned rc,
                  const char *error)
{
    assert (buf);
    msgpack_packer pk;
    kvp_pack_start (&pk, buf);
    kvp_reply_begin (&pk, rid, rc, error, 0);
}

void
kvp_pack_item (msgpack_packer *pk, const kvp_item_t *item)
{
    assert (pk);
    assert (item);
    msgpack_pack_map (pk, 3);
    kvp_pack_cstr (pk, "Name");
    kvp_pack_str (pk, item->name, item->name_len);
    kvp_pack_cstr (pk, "Data");
    kvp_pack_str (pk, item->data, item->data_len);
    kvp_pack_cstr (pk, "Source");
    msgpack_pack_uint32 (pk, item->source);
}

/*  The 8 job fields as key/value pairs, without a map header (the event
    puts them at its top level). */
static void
s_pack_job_fields (msgpack_packer *pk, const kvp_job_t *job)
{
    kvp_pack_cstr (pk, "InstanceID");
    kvp_pack_cstr (pk, job->instance_id);
    kvp_pack_cstr (pk, "JobType");
    kvp_pack_cstr (pk, kvp_op_name (job->job_type));
    kvp_pack_cstr (pk, "TargetSystem");
    kvp_pack_cstr (pk, job->target);
    kvp_pack_cstr (pk, "JobState");
    msgpack_pack_uint32 (pk, job->job_state);
    kvp_pack_cstr (pk, "ErrorCode");
    msgpack_pack_uint32 (pk, job->error_code);
    kvp_pack_cstr (pk, "ErrorDescription");
    kvp_pack_str (pk, job->error_desc, job->error_desc? job->error_desc_len: 0);
    kvp_pack_cstr (pk, "TimeSubmitted");
    msgpack_pack_uint64 (pk, job->time_submitted);
    kvp_pack_cstr (pk, "ElapsedTime");
    msgpack_pack_uint64 (pk, job->elapsed_us);
}

void
kvp_pack_job (msgpack_packer *pk, const kvp_job_t *job)
{
    assert (pk);
    assert (job);
    msgpack_pack_map (pk, S_JOB_FIELDS);
    s_pack_job_fields (pk, job);
}

void
kvp_reply_job (msgpack_sbuffer *buf, const kvp_rid_t *rid,
               const kvp_job_t *job)
{
    assert (buf);
    msgpack_packer pk;
    kvp_pack_start (&pk, buf);
    kvp_reply_begin (&pk, rid, KVP_RC_JOB_STARTED, NULL, 1);
    kvp_pack_cstr (&pk, "job");
    kvp_pack_job (&pk, job);
}

void
kvp_event_encode (msgpack_sbuffer *buf, const kvp_job_t *job,
                  uint32_t partition, uint64_t seq,
                  const kvp_item_t *items, size_t count)
{
    assert (buf);
    assert (job);
    assert (items || count == 0);
    bool completed = job->job_state == KVP_JOB_COMPLETED;
    msgpack_packer pk;
    kvp_pack_start (&pk, buf);
    msgpack_pack_map (&pk, S_JOB_FIELDS + 2 + (completed? 1: 0));
    s_pack_job_fields (&pk, job);
    kvp_pack_cstr (&pk, "partition");
    msgpack_pack_uint32 (&pk, partition);
    kvp_pack_cstr (&pk, "seq");
    msgpack_pack_uint64 (&pk, seq);
    if (!completed)
        return;                 //  items only for a completed job
    kvp_pack_cstr (&pk, "items");
    msgpack_pack_array (&pk, count);
    for (size_t i = 0; i < count; i++)
        kvp_pack_item (&pk, &items [i]);
}

size_t
kvp_event_topic (char *topic, const char *target)
{
    assert (topic);
    assert (target);
    size_t len = strnlen (target, KVP_GUID_LEN);
    memcpy (topic, "job/", 4);
    memcpy (topic + 4, target, len);
    topic [4 + len] = 0;
    return 4 + len;
}

//  --------------------------------------------------------------------------
//  Pages

/*  A msgpack writer that only counts. */
static int
s_count (void *data, const char *bytes, size_t len)
{
    *(size_t *) data += len;
    return 0;
}

/*  Everything but the items' bytes. */
static void
s_items_head (msgpack_packer *pk, const kvp_rid_t *rid, const bool *more,
              size_t count)
{
    kvp_reply_begin (pk, rid, KVP_RC_OK, NULL, more? 2: 1);
    if (more) {
        kvp_pack_cstr (pk, "more");
        if (*more)
            msgpack_pack_true (pk);
        else
            msgpack_pack_false (pk);
    }
    kvp_pack_cstr (pk, "items");
    msgpack_pack_array (pk, count);
}

void
kvp_reply_items (msgpack_sbuffer *buf, const kvp_rid_t *rid, const bool *more,
                 size_t count, const void *items, size_t len)
{
    assert (buf);
    assert (items || len == 0);
    msgpack_packer pk;
    kvp_pack_start (&pk, buf);
    s_items_head (&pk, rid, more, count);
    if (len)
        msgpack_sbuffer_write (buf, (const char *) items, len);
}

size_t
kvp_reply_items_size (const kvp_rid_t *rid, bool paged, size_t count,
                      size_t len)
{
    size_t size = 0;
    bool more = false;
    msgpack_packer pk;
    msgpack_packer_init (&pk, &size, s_count);
    s_items_head (&pk, rid, paged? &more: NULL, count);
    return size + len;
}

/*  Everything but the events' bytes. */
static void
s_events_head (msgpack_packer *pk, const kvp_rid_t *rid,
               const kvp_events_page_t *page, size_t count)
{
    kvp_reply_begin (pk, rid, KVP_RC_OK, NULL, 5);
    kvp_pack_cstr (pk, "partition");
    msgpack_pack_uint32 (pk, page->partition);
    kvp_pack_cstr (pk, "first");
    msgpack_pack_uint64 (pk, page->first);
    kvp_pack_cstr (pk, "last");
    msgpack_pack_uint64 (pk, page->last);
    kvp_pack_cstr (pk, "next");
    msgpack_pack_uint64 (pk, page->next);
    kvp_pack_cstr (pk, "events");
    msgpack_pack_array (pk, count);
}

void
kvp_reply_events (msgpack_sbuffer *buf, const kvp_rid_t *rid,
                  const kvp_events_page_t *page, size_t count,
                  const void *events, size_t len)
{
    assert (buf && page);
    assert (events || len == 0);
    msgpack_packer pk;
    kvp_pack_start (&pk, buf);
    s_events_head (&pk, rid, page, count);
    if (len)
        msgpack_sbuffer_write (buf, (const char *) events, len);
}

size_t
kvp_reply_events_size (const kvp_rid_t *rid, const kvp_events_page_t *page,
                       size_t count, size_t len)
{
    assert (page);
    size_t size = 0;
    msgpack_packer pk;
    msgpack_packer_init (&pk, &size, s_count);
    s_events_head (&pk, rid, page, count);
    return size + len;
}

//  --------------------------------------------------------------------------
//  Reading a job back

/*  A NUL-terminated copy of a str object in `zone`, or NULL. */
static const char *
s_zone_copy (msgpack_zone *zone, const msgpack_object *value, size_t *len)
{
    char *copy = (char *) msgpack_zone_malloc (zone, value->via.str.size + 1);
    if (!copy)
        return NULL;
    if (value->via.str.size)
        memcpy (copy, value->via.str.ptr, value->via.str.size);
    copy [value->via.str.size] = 0;
    if (len)
        *len = value->via.str.size;
    return copy;
}

static bool
s_key_is (const msgpack_object *key, const char *name)
{
    size_t len = strlen (name);
    return key->type == MSGPACK_OBJECT_STR && key->via.str.size == len
        && memcmp (key->via.str.ptr, name, len) == 0;
}

/*  Find each job field in the event map; false if one is missing or of
    the wrong type. */
static bool
s_job_fields (const msgpack_object_map *map, const msgpack_object *found [])
{
    static const char *names [S_JOB_FIELDS] = {
        "InstanceID", "JobType", "TargetSystem", "JobState", "ErrorCode",
        "ErrorDescription", "TimeSubmitted", "ElapsedTime"
    };
    for (size_t f = 0; f < S_JOB_FIELDS; f++) {
        found [f] = NULL;
        for (uint32_t i = 0; i < map->size && !found [f]; i++)
            if (s_key_is (&map->ptr [i].key, names [f]))
                found [f] = &map->ptr [i].val;
        msgpack_object_type want = f < 3 || f == 5
            ? MSGPACK_OBJECT_STR: MSGPACK_OBJECT_POSITIVE_INTEGER;
        if (!found [f] || found [f]->type != want)
            return false;
    }
    return found [3]->via.u64 <= UINT32_MAX && found [4]->via.u64 <= UINT32_MAX;
}

static bool
s_job_from_map (kvp_job_t *job, const msgpack_object_map *map,
                msgpack_zone *zone)
{
    const msgpack_object *f [S_JOB_FIELDS];
    if (!s_job_fields (map, f))
        return false;
    int op = kvp_op_lookup (f [1]->via.str.ptr, f [1]->via.str.size);
    if (op < 0)
        return false;
    kvp_job_t out = { 0 };
    out.instance_id = s_zone_copy (zone, f [0], NULL);
    out.job_type = (kvp_op_t) op;
    out.target = s_zone_copy (zone, f [2], NULL);
    out.job_state = (uint32_t) f [3]->via.u64;
    out.error_code = (uint32_t) f [4]->via.u64;
    out.error_desc = s_zone_copy (zone, f [5], &out.error_desc_len);
    out.time_submitted = f [6]->via.u64;
    out.elapsed_us = f [7]->via.u64;
    if (!out.instance_id || !out.target || !out.error_desc)
        return false;
    *job = out;
    return true;
}

bool
kvp_job_decode (kvp_job_t *job, const void *body, size_t len,
                msgpack_zone *zone)
{
    assert (job);
    assert (zone);
    //  Stored bytes are checked like network bytes: the disk can lie too
    if (!body || len == 0 || kvp_mpcheck_scan (body, len, KVP_MPCHECK_DEPTH))
        return false;
    msgpack_zone scratch;
    if (!msgpack_zone_init (&scratch, 4096))
        return false;
    msgpack_object root;
    size_t offset = 0;
    bool ok = msgpack_unpack ((const char *) body, len, &offset, &scratch,
                              &root) == MSGPACK_UNPACK_SUCCESS
           && root.type == MSGPACK_OBJECT_MAP
           && s_job_from_map (job, &root.via.map, zone);
    msgpack_zone_destroy (&scratch);
    return ok;
}
