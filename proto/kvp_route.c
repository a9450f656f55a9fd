/*  kvp_route.c - what routing needs, from a raw body or a decoded one.

    The light scan is one pass: read the top-level map's keys; for each
    value, note where it starts if it is one of the keys routing reads
    (op, rid, target, id, job, partition), then step over it header by
    header, never unpacking it. The
    structural rules are kvp_mpcheck's, applied to the same bytes, so a
    body this scan accepts is one the full decoder unpacks. Only once the
    whole body has been walked are the noted values read.
*/
#include <string.h>
#include <assert.h>
#include "kvp_route.h"
#include "kvp_mpcheck.h"

typedef enum { S_OTHER, S_UINT, S_STR, S_ARRAY, S_MAP } s_kind_t;

/*  One msgpack header, as far as the scan cares. */
typedef struct {
    s_kind_t kind;
    size_t head;                /* header bytes, type byte included */
    uint64_t skip;              /* payload bytes after the header */
    uint64_t children;          /* objects nested in it (2n for a map) */
    uint64_t value;             /* S_UINT: the number */
} s_head_t;

/*  Types 0xc0..0xdf: the kind, the bytes of a length field (variable
    types) or of the payload (fixed ones), and extra payload bytes (the
    ext type byte). A zero `known` marks 0xc1, which msgpack reserves. */
static const struct {
    uint8_t known;
    uint8_t kind;
    uint8_t field;
    uint8_t fixed;
    uint8_t extra;
} s_types [32] = {
    [0x00] = { 1, S_OTHER, 0, 0, 0 },                   /* nil */
    [0x02] = { 1, S_OTHER, 0, 0, 0 },                   /* false */
    [0x03] = { 1, S_OTHER, 0, 0, 0 },                   /* true */
    [0x04] = { 1, S_OTHER, 1, 0, 0 },                   /* bin 8/16/32 */
    [0x05] = { 1, S_OTHER, 2, 0, 0 },
    [0x06] = { 1, S_OTHER, 4, 0, 0 },
    [0x07] = { 1, S_OTHER, 1, 0, 1 },                   /* ext 8/16/32 */
    [0x08] = { 1, S_OTHER, 2, 0, 1 },
    [0x09] = { 1, S_OTHER, 4, 0, 1 },
    [0x0a] = { 1, S_OTHER, 0, 4, 0 },                   /* float 32/64 */
    [0x0b] = { 1, S_OTHER, 0, 8, 0 },
    [0x0c] = { 1, S_UINT, 0, 1, 0 },                    /* uint 8..64 */
    [0x0d] = { 1, S_UINT, 0, 2, 0 },
    [0x0e] = { 1, S_UINT, 0, 4, 0 },
    [0x0f] = { 1, S_UINT, 0, 8, 0 },
    //  Signed ints are S_OTHER even when >= 0: msgpack-c calls those
    //  unsigned, so a rid sent that way is left to the full decode.
    [0x10] = { 1, S_OTHER, 0, 1, 0 },                   /* int 8..64 */
    [0x11] = { 1, S_OTHER, 0, 2, 0 },
    [0x12] = { 1, S_OTHER, 0, 4, 0 },
    [0x13] = { 1, S_OTHER, 0, 8, 0 },
    [0x14] = { 1, S_OTHER, 0, 2, 0 },                   /* fixext 1..16 */
    [0x15] = { 1, S_OTHER, 0, 3, 0 },
    [0x16] = { 1, S_OTHER, 0, 5, 0 },
    [0x17] = { 1, S_OTHER, 0, 9, 0 },
    [0x18] = { 1, S_OTHER, 0, 17, 0 },
    [0x19] = { 1, S_STR, 1, 0, 0 },                     /* str 8/16/32 */
    [0x1a] = { 1, S_STR, 2, 0, 0 },
    [0x1b] = { 1, S_STR, 4, 0, 0 },
    [0x1c] = { 1, S_ARRAY, 2, 0, 0 },                   /* array 16/32 */
    [0x1d] = { 1, S_ARRAY, 4, 0, 0 },
    [0x1e] = { 1, S_MAP, 2, 0, 0 },                     /* map 16/32 */
    [0x1f] = { 1, S_MAP, 4, 0, 0 },
};

/*  The top-level keys routing reads. */
enum { S_F_OP, S_F_RID, S_F_TARGET, S_F_ID, S_F_JOB, S_F_PARTITION,
       S_F_COUNT };
static const kvp_field_t s_fields [S_F_COUNT] = {
    KVP_FIELD_OP, KVP_FIELD_RID, KVP_FIELD_TARGET, KVP_FIELD_ID,
    KVP_FIELD_JOB, KVP_FIELD_PARTITION
};

/*  The body being walked. */
typedef struct {
    const uint8_t *data;
    size_t len;
    size_t pos;                 /* next byte to read */
} s_cursor_t;

/*  Types 0xc0..0xdf. Returns false for 0xc1 or a header cut short. */
static bool
s_header_long (const uint8_t *p, size_t avail, s_head_t *h)
{
    unsigned index = p [0] - 0xc0u;
    if (!s_types [index].known)
        return false;
    h->kind = (s_kind_t) s_types [index].kind;
    size_t field = s_types [index].field;
    if (field == 0) {
        h->skip = s_types [index].fixed;
        if (h->kind == S_UINT && avail > h->skip)
            h->value = kvp_mpcheck_be (p + 1, (size_t) h->skip);
        return true;                //  a short payload fails in s_next
    }
    if (avail < 1 + field)
        return false;
    uint64_t n = kvp_mpcheck_be (p + 1, field);
    h->head = 1 + field;
    if (h->kind == S_MAP)
        h->children = 2 * n;
    else
    if (h->kind == S_ARRAY)
        h->children = n;
    else
        h->skip = n + s_types [index].extra;
    return true;
}

/*  Read the header at p (avail >= 1 bytes). */
static bool
s_header (const uint8_t *p, size_t avail, s_head_t *h)
{
    uint8_t type = p [0];
    *h = (s_head_t) { S_OTHER, 1, 0, 0, 0 };
    if (type <= 0x7f) {                                 /* positive fixint */
        h->kind = S_UINT;
        h->value = type;
    }
    else
    if (type <= 0x8f) {                                 /* fixmap */
        h->kind = S_MAP;
        h->children = 2 * (uint64_t) (type & 0x0f);
    }
    else
    if (type <= 0x9f) {                                 /* fixarray */
        h->kind = S_ARRAY;
        h->children = type & 0x0f;
    }
    else
    if (type <= 0xbf) {                                 /* fixstr */
        h->kind = S_STR;
        h->skip = type & 0x1f;
    }
    else
    if (type <= 0xdf)
        return s_header_long (p, avail, h);
    return true;                                        /* negative fixint */
}

/*  Read one header and step over it and its payload (not its children).
    Every child takes at least one byte, so a larger count is a lie. */
static bool
s_next (s_cursor_t *c, s_head_t *h)
{
    if (c->pos >= c->len || !s_header (c->data + c->pos, c->len - c->pos, h))
        return false;
    c->pos += h->head;
    size_t left = c->len - c->pos;
    if (h->skip > left || h->children > left)
        return false;
    c->pos += (size_t) h->skip;
    return true;
}

/*  Step over one whole object. A container there would be nested at
    `level` (the top-level map is level 1); no container may go deeper
    than KVP_MPCHECK_DEPTH, as in the full decoder's pre-scan. */
static bool
s_skip_object (s_cursor_t *c, unsigned level)
{
    uint64_t expect [KVP_MPCHECK_DEPTH + 1];
    unsigned depth = 0;             //  open containers inside the object
    expect [0] = 1;
    while (true) {
        while (depth > 0 && expect [depth] == 0)
            depth--;
        if (expect [depth] == 0)
            return true;
        expect [depth]--;
        s_head_t h;
        if (!s_next (c, &h))
            return false;
        if (h.kind != S_ARRAY && h.kind != S_MAP)
            continue;
        if (level + depth > KVP_MPCHECK_DEPTH)
            return false;
        if (h.children > 0)
            expect [++depth] = h.children;
    }
}

static int
s_field_lookup (const uint8_t *key, size_t len)
{
    kvp_field_t field = kvp_field_lookup ((const char *) key, len);
    for (int f = 0; field != KVP_FIELD_NONE && f < S_F_COUNT; f++)
        if (s_fields [f] == field)
            return f;
    return -1;
}

/*  Walk the whole body: a map with str keys, each of the routing keys at
    most once; `at` gets where each one's value starts (NULL if absent). */
static const char *
s_walk (s_cursor_t *c, const uint8_t *at [S_F_COUNT])
{
    s_head_t root;
    if (!s_next (c, &root) || root.kind != S_MAP)
        return "body is not a well-formed map";
    for (uint64_t pair = 0; pair < root.children / 2; pair++) {
        s_head_t key;
        if (!s_next (c, &key) || key.kind != S_STR)
            return "a key is malformed or not a str";
        int f = s_field_lookup (c->data + c->pos - key.skip, (size_t) key.skip);
        const uint8_t *value = c->data + c->pos;
        if (!s_skip_object (c, 2))
            return "a value is malformed or nested too deep";
        if (f < 0)
            continue;
        if (at [f])
            return "a routing key is given twice";
        at [f] = value;
    }
    if (c->pos != c->len)
        return "trailing bytes after the map";
    return NULL;
}

/*  The str at `at` (a value already walked), or false if it is another
    type or absent. */
static bool
s_str (const uint8_t *at, const uint8_t *end, const char **str, size_t *len)
{
    s_head_t h;
    if (!at || !s_header (at, (size_t) (end - at), &h) || h.kind != S_STR)
        return false;
    *str = (const char *) at + h.head;
    *len = (size_t) h.skip;
    return true;
}

static const char *
s_take_op (kvp_route_t *route, const uint8_t *at, const uint8_t *end)
{
    const char *name;
    size_t len;
    if (!s_str (at, end, &name, &len))
        return "op is missing or not a str";
    int op = kvp_op_lookup (name, len);
    if (op < 0)
        return "op is unknown";
    if (kvp_op_route ((kvp_op_t) op) == KVP_BY_BROKER)
        return "op is not routed";
    route->op = (kvp_op_t) op;
    return NULL;
}

static const char *
s_take_rid (kvp_route_t *route, const uint8_t *at, const uint8_t *end)
{
    route->rid = (kvp_rid_t) { KVP_RID_NONE, 0, NULL, 0 };
    if (!at)
        return NULL;
    s_head_t h;
    s_header (at, (size_t) (end - at), &h);     //  walked: cannot fail
    if (h.kind == S_UINT)
        route->rid = (kvp_rid_t) { KVP_RID_UINT, h.value, NULL, 0 };
    else
    if (h.kind == S_STR)
        route->rid = (kvp_rid_t) { KVP_RID_STR, 0,
                                   (const char *) at + h.head,
                                   (size_t) h.skip };
    else
        return "rid is of another type";
    return NULL;
}

/*  The uint at `at` (a value already walked), or false. */
static bool
s_uint (const uint8_t *at, const uint8_t *end, uint64_t *value)
{
    s_head_t h;
    if (!at || !s_header (at, (size_t) (end - at), &h) || h.kind != S_UINT)
        return false;
    *value = h.value;
    return true;
}

static const char *
s_take_job (kvp_route_t *route, const uint8_t *at, const uint8_t *end)
{
    const char *text;
    size_t len;
    uint32_t partition;
    if (!s_str (at, end, &text, &len)
    ||  !kvp_jobid_parse (text, len, &partition, &route->job_epoch,
                          &route->job_seq))
        return "job is missing or not a job id";
    route->partition = partition;
    return NULL;
}

/*  The GUID at `at`: an `id` (as_target false) or a `target`. */
static const char *
s_take_guid (kvp_route_t *route, const uint8_t *at, const uint8_t *end,
             bool as_target)
{
    const char *text;
    size_t len;
    route->has_guid = true;
    bool ok = s_str (at, end, &text, &len)
           && (as_target? kvp_guid_parse_target (&route->guid, text, len)
                        : kvp_guid_parse (&route->guid, text, len));
    if (ok)
        return NULL;
    return as_target? "target is missing or not a GUID or WMI path"
                    : "id is missing or not a GUID";
}

/*  The routing key of route->op, as the op table's route column says. */
static const char *
s_take_key (kvp_route_t *route, const uint8_t *at [S_F_COUNT],
            const uint8_t *end)
{
    switch (kvp_op_route (route->op)) {
        case KVP_BY_TARGET:
            return s_take_guid (route, at [S_F_TARGET], end, true);
        case KVP_BY_ID:
            //  Without an id the broker makes one: the full decode's job.
            return s_take_guid (route, at [S_F_ID], end, false);
        case KVP_BY_JOB:
            return s_take_job (route, at [S_F_JOB], end);
        case KVP_BY_PARTITION:
            return s_uint (at [S_F_PARTITION], end, &route->partition)
                 ? NULL: "partition is missing or not a uint";
        default:
            return "op is not routed";
    }
}

const char *
kvp_route_scan (kvp_route_t *route, const void *body, size_t len)
{
    assert (route);
    if (!body || len == 0 || len > KVP_BODY_MAX)
        return "body is empty or over the limit";
    s_cursor_t c = { (const uint8_t *) body, len, 0 };
    memset (route, 0, sizeof *route);
    const uint8_t *at [S_F_COUNT] = { NULL };
    const char *why = s_walk (&c, at);
    const uint8_t *end = c.data + len;
    if (!why)
        why = s_take_op (route, at [S_F_OP], end);
    if (!why)
        why = s_take_rid (route, at [S_F_RID], end);
    if (!why)
        why = s_take_key (route, at, end);
    return why;
}

//  --------------------------------------------------------------------------
//  From a decoded request

void
kvp_route_from_request (kvp_route_t *route, kvp_request_t *request)
{
    assert (route && request);
    memset (route, 0, sizeof *route);
    route->op = kvp_request_op (request);
    route->rid = *kvp_request_rid (request);
    kvp_op_route_t by = kvp_op_route (route->op);
    uint32_t partition = 0;
    if (by == KVP_BY_JOB) {
        kvp_request_job_parts (request, &partition, &route->job_epoch,
                               &route->job_seq);
        route->partition = partition;
    }
    else
    if (by == KVP_BY_PARTITION)
        kvp_request_events (request, &route->partition, NULL, NULL);
    else
    if (by == KVP_BY_TARGET || by == KVP_BY_ID) {
        route->has_guid = true;
        route->make_id = by == KVP_BY_ID && !kvp_request_has_id (request);
        route->guid = *kvp_request_target (request);
    }
}

uint32_t
kvp_route_partition (const kvp_route_t *route, uint32_t nparts)
{
    assert (route);
    if (nparts == 0 || kvp_op_route (route->op) == KVP_BY_BROKER)
        return KVP_ROUTE_NONE;
    if (route->has_guid)
        return kvp_guid_partition (&route->guid, nparts);
    return route->partition < nparts? (uint32_t) route->partition
                                    : KVP_ROUTE_NONE;
}
