/*  kvp_request.c - decode and validate one KVP/1 request body.

    A body goes through three gates:
      1. size and a validating pre-scan of the raw msgpack (kvp_mpcheck),
         so msgpack_unpack only ever sees well-formed, shallow input;
      2. msgpack_unpack into the request's own zone, cleared and reused
         for every decode (strings are not copied: they point into the
         body);
      3. one walk over the fields the op takes (the op table, kvp_op.h),
         each checked by its field's checker below, recording the first
         wrong-type fault and the first bad-value fault separately: a
         wrong type anywhere beats a bad value anywhere (spec section 4),
         whatever order the map came in.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <assert.h>
#include <msgpack.h>
#include "kvp_request.h"
#include "kvp_rc.h"
#include "kvp_cim.h"
#include "kvp_fault.h"
#include "kvp_items.h"
#include "kvp_mpcheck.h"
#include "kvp_hash.h"
#include "kvp_wire.h"          /* KVP_WORKER_ID_MAX */

#define S_ZONE_CHUNK    (64 * 1024)     /* fits the objects of a typical body */

typedef void (s_check_fn) (kvp_request_t *self, const msgpack_object *value);

struct _kvp_request_t {
    msgpack_zone zone;          /* unpacked objects; cleared per decode */
    kvp_cim_t *cim;             /* parser for items given as CIM-XML */
    const msgpack_object *fields [KVP_FIELD_COUNT];  /* first of each key */
    unsigned dups;              /* bit per field given more than once */
    kvp_fault_t fault;          /* first wrong-type and bad-value faults */
    const char *error;          /* what kvp_request_error returns */
    kvp_op_t op;                /* valid once past the op checks */
    kvp_rid_t rid;
    kvp_guid_t target;          /* target, or DefineSystem id */
    bool has_id;                /* DefineSystem gave an id */
    const char *worker;         /* RetireWorker `id`: a worker name */
    size_t worker_len;
    const char *name;           /* DefineSystem name */
    size_t name_len;
    bool data_exchange;         /* ModifySystemSettings */
    kvp_items_t items;          /* item ops */
    const char *key;            /* item ops, NULL when absent */
    size_t key_len;
    bool has_source;            /* GetKvpItems filter given */
    uint64_t source;
    const char *job;            /* GetJob id and its parts */
    size_t job_len;
    uint32_t job_partition;
    uint32_t job_epoch;
    uint64_t job_seq;
    uint64_t partition;         /* GetEvents */
    uint64_t from;
    uint32_t limit;             /* GetEvents, GetKvpItems */
    bool has_limit;             /* `limit` given */
    kvp_after_t after;          /* GetKvpItems */
    bool has_after;             /* `after` given */
    kvp_role_t role;            /* of the sender (kvp_request_set_access) */
    const char *who;            /* its name, for a 32769 */
};

static s_check_fn s_check_name, s_check_id, s_check_target, s_check_dxe,
                  s_check_items, s_check_key, s_check_source, s_check_job,
                  s_check_partition, s_check_from, s_check_limit,
                  s_check_after;

/*  How each field an op may take is checked (which op takes which is the
    op table's). */
static s_check_fn *const s_checks [KVP_FIELD_COUNT] = {
    [KVP_FIELD_NAME] = s_check_name, [KVP_FIELD_ID] = s_check_id,
    [KVP_FIELD_TARGET] = s_check_target, [KVP_FIELD_DXE] = s_check_dxe,
    [KVP_FIELD_ITEMS] = s_check_items, [KVP_FIELD_KEY] = s_check_key,
    [KVP_FIELD_SOURCE] = s_check_source, [KVP_FIELD_JOB] = s_check_job,
    [KVP_FIELD_PARTITION] = s_check_partition,
    [KVP_FIELD_FROM] = s_check_from, [KVP_FIELD_LIMIT] = s_check_limit,
    [KVP_FIELD_AFTER] = s_check_after,
};

//  --------------------------------------------------------------------------
//  Faults

/*  Fail at once with `rc`: the shape and op faults, which outrank every
    field fault and need no ranking among themselves. */
static int
s_refuse (kvp_request_t *self, int rc, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (self->fault.value_error, KVP_FAULT_MAX, format, args);
    va_end (args);
    self->error = self->fault.value_error;
    return rc;
}

//  --------------------------------------------------------------------------
//  Top-level fields

static void
s_check_name (kvp_request_t *self, const msgpack_object *value)
{
    if (value->type != MSGPACK_OBJECT_STR) {
        kvp_fault_type (&self->fault, "name: expected str");
        return;
    }
    self->name = value->via.str.ptr;
    self->name_len = value->via.str.size;
    kvp_fault_check_text (&self->fault, "name", -1, self->name,
                          self->name_len, 1, KVP_ELEMENT_MAX);
}

//  RetireWorker's `id`: a worker name as REGISTER takes it (1..64 bytes
//  of UTF-8, no NUL).
static void
s_check_worker (kvp_request_t *self, const msgpack_object *value)
{
    self->worker = value->via.str.ptr;
    self->worker_len = value->via.str.size;
    kvp_fault_check_text (&self->fault, "id", -1, self->worker,
                          self->worker_len, 1, KVP_WORKER_ID_MAX);
}

static void
s_check_id (kvp_request_t *self, const msgpack_object *value)
{
    if (value->type != MSGPACK_OBJECT_STR)
        kvp_fault_type (&self->fault, "id: expected str");
    else
    if (self->op == KVP_OP_RETIRE_WORKER)
        s_check_worker (self, value);
    else
    if (!kvp_guid_parse (&self->target, value->via.str.ptr,
                         value->via.str.size))
        kvp_fault_value (&self->fault, "id: not a GUID");
    else
        self->has_id = true;
}

static void
s_check_target (kvp_request_t *self, const msgpack_object *value)
{
    if (value->type != MSGPACK_OBJECT_STR)
        kvp_fault_type (&self->fault, "target: expected str");
    else
    if (!kvp_guid_parse_target (&self->target, value->via.str.ptr,
                                value->via.str.size))
        kvp_fault_value (&self->fault,
                         "target: not a GUID or WMI object path");
}

static void
s_check_dxe (kvp_request_t *self, const msgpack_object *value)
{
    if (value->type != MSGPACK_OBJECT_BOOLEAN)
        kvp_fault_type (&self->fault, "DataExchangeEnabled: expected bool");
    else
        self->data_exchange = value->via.boolean;
}

static void
s_check_key (kvp_request_t *self, const msgpack_object *value)
{
    if (value->type != MSGPACK_OBJECT_STR) {
        kvp_fault_type (&self->fault, "key: expected str");
        return;
    }
    if (value->via.str.size < 1 || value->via.str.size > KVP_KEY_MAX)
        kvp_fault_value (&self->fault, "key: must be 1 to %d bytes",
                         KVP_KEY_MAX);
    self->key = value->via.str.ptr;
    self->key_len = value->via.str.size;
}

static void
s_check_source (kvp_request_t *self, const msgpack_object *value)
{
    if (value->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        kvp_fault_type (&self->fault, "Source: expected uint");
    else {
        self->has_source = true;
        self->source = value->via.u64;
    }
}

static void
s_check_job (kvp_request_t *self, const msgpack_object *value)
{
    if (value->type != MSGPACK_OBJECT_STR) {
        kvp_fault_type (&self->fault, "job: expected str");
        return;
    }
    self->job = value->via.str.ptr;
    self->job_len = value->via.str.size;
    if (!kvp_jobid_parse (self->job, self->job_len, &self->job_partition,
                          &self->job_epoch, &self->job_seq)) {
        char quoted [KVP_QUOTE_MAX + 8];
        kvp_fault_value (&self->fault, "job: unknown job \"%s\"",
                         kvp_fault_quote (quoted, sizeof quoted, self->job,
                                          self->job_len));
    }
}

/*  A uint field into *out; false (a type fault) otherwise: a negative
    number is of the wrong type, as for Source. */
static bool
s_take_uint (kvp_request_t *self, const msgpack_object *value,
             const char *field, uint64_t *out)
{
    if (value->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        kvp_fault_type (&self->fault, "%s: expected uint", field);
        return false;
    }
    *out = value->via.u64;
    return true;
}

static void
s_check_partition (kvp_request_t *self, const msgpack_object *value)
{
    s_take_uint (self, value, "partition", &self->partition);
}

static void
s_check_from (kvp_request_t *self, const msgpack_object *value)
{
    if (s_take_uint (self, value, "from", &self->from) && self->from == 0)
        kvp_fault_value (&self->fault, "from: must be at least 1 (the "
                         "first seq wanted)");
}

static void
s_check_limit (kvp_request_t *self, const msgpack_object *value)
{
    uint64_t limit;
    self->has_limit = true;
    if (!s_take_uint (self, value, "limit", &limit))
        return;
    if (limit < 1 || limit > KVP_PAGE_LIMIT_MAX)
        kvp_fault_value (&self->fault, "limit: must be 1 to %d",
                         KVP_PAGE_LIMIT_MAX);
    else
        self->limit = (uint32_t) limit;
}

/*  `after`'s Source and Name (other keys, such as an item's Data, are
    ignored: the last item of a page may be sent back as it came). */
static void
s_after_parts (kvp_request_t *self, const msgpack_object_map *map,
               const msgpack_object *found [2])
{
    static const char *parts [2] = { "Source", "Name" };
    for (uint32_t i = 0; i < map->size; i++) {
        const msgpack_object *key = &map->ptr [i].key;
        for (int p = 0; p < 2 && key->type == MSGPACK_OBJECT_STR; p++) {
            if (key->via.str.size != strlen (parts [p])
            ||  memcmp (key->via.str.ptr, parts [p], key->via.str.size))
                continue;
            if (found [p])
                kvp_fault_value (&self->fault, "after.%s: given twice",
                                 parts [p]);
            else
                found [p] = &map->ptr [i].val;
        }
    }
}

static void
s_check_after (kvp_request_t *self, const msgpack_object *value)
{
    const msgpack_object *found [2] = { NULL, NULL };
    if (value->type != MSGPACK_OBJECT_MAP) {
        kvp_fault_type (&self->fault, "after: expected map {Source, Name}");
        return;
    }
    self->has_after = true;
    s_after_parts (self, &value->via.map, found);
    bool source = found [0]
               && s_take_uint (self, found [0], "after.Source",
                               &self->after.source);
    if (found [1] && found [1]->type != MSGPACK_OBJECT_STR)
        kvp_fault_type (&self->fault, "after.Name: expected str");
    if (!found [0] || !found [1]) {
        kvp_fault_value (&self->fault, "after.%s: missing",
                         found [0]? "Name": "Source");
        return;
    }
    if (!source || found [1]->type != MSGPACK_OBJECT_STR)
        return;
    self->after.name = found [1]->via.str.ptr;
    self->after.name_len = found [1]->via.str.size;
    kvp_fault_check_text (&self->fault, "after.Name", -1, self->after.name,
                          self->after.name_len, 1, KVP_NAME_MAX);
}

static void
s_check_items (kvp_request_t *self, const msgpack_object *value)
{
    kvp_items_check (&self->items, value,
                     self->op == KVP_OP_REMOVE_KVP_ITEMS, self->cim,
                     &self->fault);
}

//  --------------------------------------------------------------------------
//  Decode

kvp_request_t *
kvp_request_new (void)
{
    kvp_request_t *self = (kvp_request_t *) calloc (1, sizeof (kvp_request_t));
    if (!self)
        return NULL;
    if (!msgpack_zone_init (&self->zone, S_ZONE_CHUNK)) {
        free (self);
        return NULL;
    }
    self->cim = kvp_cim_new ();
    if (!self->cim) {
        kvp_request_destroy (&self);
        return NULL;
    }
    self->error = "";
    self->op = KVP_OP_COUNT;
    self->role = KVP_ROLE_ADMIN;
    self->who = "";
    return self;
}

void
kvp_request_destroy (kvp_request_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kvp_request_t *self = *self_p;
    kvp_cim_destroy (&self->cim);
    msgpack_zone_destroy (&self->zone);
    free (self);
    *self_p = NULL;
}

/*  Forget the previous request. */
static void
s_reset (kvp_request_t *self)
{
    memset (self->fields, 0, sizeof (self->fields));
    self->dups = 0;
    kvp_fault_reset (&self->fault);
    self->error = "";
    self->op = KVP_OP_COUNT;
    self->rid = (kvp_rid_t) { KVP_RID_NONE, 0, NULL, 0 };
    memset (&self->target, 0, sizeof (self->target));
    self->has_id = false;
    self->worker = NULL;
    self->worker_len = 0;
    self->name = NULL;
    self->name_len = 0;
    self->data_exchange = false;
    self->items.count = 0;
    self->key = NULL;
    self->key_len = 0;
    self->has_source = false;
    self->source = 0;
    self->job = NULL;
    self->job_len = 0;
    self->job_partition = self->job_epoch = 0;
    self->job_seq = 0;
    self->partition = self->from = 0;
    self->limit = KVP_PAGE_LIMIT;
    self->has_limit = self->has_after = false;
    self->after = (kvp_after_t) { 0, NULL, 0 };
    kvp_cim_reset (self->cim);
}

/*  Note where each known key is; unknown and non-str keys are skipped. */
static void
s_collect (kvp_request_t *self, const msgpack_object_map *map)
{
    for (uint32_t i = 0; i < map->size; i++) {
        const msgpack_object *key = &map->ptr [i].key;
        if (key->type != MSGPACK_OBJECT_STR || key->via.str.size > 20)
            continue;
        kvp_field_t f = kvp_field_lookup (key->via.str.ptr, key->via.str.size);
        if (f == KVP_FIELD_NONE)
            continue;
        if (self->fields [f])
            self->dups |= 1u << f;
        else
            self->fields [f] = &map->ptr [i].val;
    }
}

static void
s_take_rid (kvp_request_t *self)
{
    const msgpack_object *rid = self->fields [KVP_FIELD_RID];
    if (!rid)
        return;
    if (rid->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        self->rid.type = KVP_RID_UINT;
        self->rid.uint = rid->via.u64;
    }
    else
    if (rid->type == MSGPACK_OBJECT_STR) {
        self->rid.type = KVP_RID_STR;
        self->rid.str = rid->via.str.ptr;
        self->rid.len = rid->via.str.size;
    }
    else
        kvp_fault_type (&self->fault, "rid: expected uint or str");
}

/*  The op checks, which outrank every field fault. */
static int
s_take_op (kvp_request_t *self)
{
    const msgpack_object *op = self->fields [KVP_FIELD_OP];
    if (!op)
        return s_refuse (self, KVP_RC_INVALID_PARAM, "missing field op");
    if (self->dups & (1u << KVP_FIELD_OP))
        return s_refuse (self, KVP_RC_INVALID_PARAM, "op: given twice");
    if (op->type != MSGPACK_OBJECT_STR)
        return s_refuse (self, KVP_RC_INCORRECT_TYPE, "op: expected str");
    int found = kvp_op_lookup (op->via.str.ptr, op->via.str.size);
    if (found < 0) {
        char quoted [KVP_QUOTE_MAX + 8];
        return s_refuse (self, KVP_RC_NOT_SUPPORTED,
                         "op: unknown operation \"%s\"",
                         kvp_fault_quote (quoted, sizeof quoted,
                                          op->via.str.ptr, op->via.str.size));
    }
    self->op = (kvp_op_t) found;
    if (kvp_op_role (self->op) > self->role)
        return s_refuse (self, KVP_RC_ACCESS_DENIED, "%s: not allowed to "
                         "client %s (role %s; it needs %s)",
                         kvp_op_name (self->op), self->who,
                         kvp_role_name (self->role),
                         kvp_role_name (kvp_op_role (self->op)));
    return 0;
}

/*  Check one field the op takes. */
static void
s_check_field (kvp_request_t *self, const kvp_op_field_t *rule)
{
    const char *name = kvp_field_name (rule->field);
    const msgpack_object *value = self->fields [rule->field];
    if (!value) {
        if (rule->required)
            kvp_fault_value (&self->fault, "missing field %s", name);
        return;
    }
    if (self->dups & (1u << rule->field))
        kvp_fault_value (&self->fault, "%s: given twice", name);
    assert (s_checks [rule->field]);
    s_checks [rule->field] (self, value);
}

/*  Check the fields the op takes and pick the verdict. */
static int
s_check_fields (kvp_request_t *self)
{
    const kvp_op_info_t *info = kvp_op_info (self->op);
    for (size_t r = 0; r < KVP_OP_FIELDS_MAX; r++) {
        if (info->fields [r].field == KVP_FIELD_NONE)
            break;
        s_check_field (self, &info->fields [r]);
    }
    if (self->fault.type) {
        self->error = self->fault.type_error;
        return KVP_RC_INCORRECT_TYPE;
    }
    if (self->fault.value) {
        self->error = self->fault.value_error;
        return KVP_RC_INVALID_PARAM;
    }
    return KVP_RC_OK;
}

/*  Size, pre-scan, unpack: the gates before the fields. Returns 0 with
    *root the body's map, or 32773. */
static int
s_unpack (kvp_request_t *self, const void *body, size_t len,
          msgpack_object *root)
{
    if (len > KVP_BODY_MAX)
        return s_refuse (self, KVP_RC_INVALID_PARAM, "body of %zu bytes, "
                         "over the limit of %d", len, KVP_BODY_MAX);
    const char *why = kvp_mpcheck_scan (body, len, KVP_MPCHECK_DEPTH);
    if (why)
        return s_refuse (self, KVP_RC_INVALID_PARAM, "body: %s", why);
    msgpack_zone_clear (&self->zone);
    size_t offset = 0;
    msgpack_unpack_return unpacked = msgpack_unpack ((const char *) body, len,
                                        &offset, &self->zone, root);
    if (unpacked != MSGPACK_UNPACK_SUCCESS)
        return s_refuse (self, KVP_RC_INVALID_PARAM, "body: %s",
                         unpacked == MSGPACK_UNPACK_NOMEM_ERROR
                         ? "out of memory unpacking": "not valid msgpack");
    if (root->type != MSGPACK_OBJECT_MAP)
        return s_refuse (self, KVP_RC_INVALID_PARAM, "body is not a map");
    return 0;
}

int
kvp_request_decode (kvp_request_t *self, const void *body, size_t len)
{
    assert (self);
    s_reset (self);
    if (!body || len == 0)
        return s_refuse (self, KVP_RC_INVALID_PARAM, "empty body");
    msgpack_object root;
    int rc = s_unpack (self, body, len, &root);
    if (rc) {
        //  Refused unread: its rid, if the start of the map shows one
        uint64_t rid;
        if (kvp_mpcheck_rid (body, len, &rid))
            self->rid = (kvp_rid_t) { KVP_RID_UINT, rid, NULL, 0 };
        return rc;
    }
    s_collect (self, &root.via.map);
    s_take_rid (self);
    rc = s_take_op (self);
    return rc? rc: s_check_fields (self);
}

void
kvp_request_set_access (kvp_request_t *self, kvp_role_t role,
                        const char *who)
{
    self->role = role;
    self->who = who ? who : "";
}

//  --------------------------------------------------------------------------
//  Getters

const char *
kvp_request_error (kvp_request_t *self)
{
    assert (self);
    return self->error;
}

kvp_op_t
kvp_request_op (kvp_request_t *self)
{
    assert (self);
    return self->op;
}

const kvp_rid_t *
kvp_request_rid (kvp_request_t *self)
{
    assert (self);
    return &self->rid;
}

const kvp_guid_t *
kvp_request_target (kvp_request_t *self)
{
    assert (self);
    return kvp_op_names_system (self->op)? &self->target: NULL;
}

bool
kvp_request_has_id (kvp_request_t *self)
{
    assert (self);
    return self->has_id;
}

const char *
kvp_request_worker (kvp_request_t *self, size_t *len)
{
    assert (self);
    bool retire = self->op == KVP_OP_RETIRE_WORKER;
    if (len)
        *len = retire? self->worker_len: 0;
    return retire? self->worker: NULL;
}

const char *
kvp_request_name (kvp_request_t *self, size_t *len)
{
    assert (self);
    bool define = self->op == KVP_OP_DEFINE_SYSTEM;
    if (len)
        *len = define? self->name_len: 0;
    return define? self->name: NULL;
}

bool
kvp_request_data_exchange (kvp_request_t *self)
{
    assert (self);
    return self->data_exchange;
}

const kvp_item_t *
kvp_request_items (kvp_request_t *self, size_t *count)
{
    assert (self);
    bool items = kvp_op_items (self->op);
    if (count)
        *count = items? self->items.count: 0;
    return items? self->items.items: NULL;
}

const char *
kvp_request_key (kvp_request_t *self, size_t *len)
{
    assert (self);
    if (len)
        *len = self->key? self->key_len: 0;
    return self->key;
}

bool
kvp_request_source_filter (kvp_request_t *self, uint64_t *source)
{
    assert (self);
    if (self->has_source && source)
        *source = self->source;
    return self->has_source;
}

bool
kvp_request_page (kvp_request_t *self, uint32_t *limit,
                  const kvp_after_t **after)
{
    assert (self);
    if (limit)
        *limit = self->limit;
    if (after)
        *after = self->has_after? &self->after: NULL;
    return self->has_limit || self->has_after;
}

const char *
kvp_request_job (kvp_request_t *self, size_t *len)
{
    assert (self);
    if (len)
        *len = self->job? self->job_len: 0;
    return self->job;
}

void
kvp_request_job_parts (kvp_request_t *self, uint32_t *partition,
                       uint32_t *epoch, uint64_t *seq)
{
    assert (self);
    if (partition) *partition = self->job_partition;
    if (epoch) *epoch = self->job_epoch;
    if (seq) *seq = self->job_seq;
}

void
kvp_request_events (kvp_request_t *self, uint64_t *partition, uint64_t *from,
                    uint32_t *limit)
{
    assert (self);
    if (partition) *partition = self->partition;
    if (from) *from = self->from;
    if (limit) *limit = self->limit;
}

//  --------------------------------------------------------------------------
//  Digest: op, count, then each item in (Source, Name) order, so neither
//  item order nor item form counts (kvp_hash.h says how strong it is).

void
kvp_request_digest (kvp_request_t *self, uint8_t digest [16])
{
    assert (self);
    kvp_hash_t hash;
    kvp_hash_init (&hash);
    bool remove = self->op == KVP_OP_REMOVE_KVP_ITEMS;
    bool items = kvp_op_items (self->op);
    size_t count = items? self->items.count: 0;
    kvp_hash_word (&hash, (uint64_t) self->op);
    kvp_hash_word (&hash, count);
    for (size_t i = 0; i < count; i++) {
        const kvp_item_t *item = &self->items.items [self->items.order [i]];
        kvp_hash_word (&hash, item->source);
        kvp_hash_bytes (&hash, item->name, item->name_len);
        if (!remove)            //  Remove matches by (Source, Name) only
            kvp_hash_bytes (&hash, item->data, item->data_len);
    }
    kvp_hash_final (&hash, digest);
}
