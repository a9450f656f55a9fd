/*  kvp_decision.c - the decision records' codec (see kvp_decision.h). */
#include <stdio.h>
#include <string.h>
#include "kvp_decision.h"
#include "kvp_cursor.h"
#include "kvp_store.h"
#include "kvp_walseg.h"

//  The fields a type has, in their order in the body
#define F_CREATE    0x01        //  nparts replicas min_insync
#define F_PART      0x02
#define F_EPOCH     0x04
#define F_LIST      0x08        //  count workers
#define F_WORKER    0x10
#define F_TOKEN     0x20
#define F_TO        0x40
#define F_EITHER    0x80        //  worker and to may each be empty

typedef struct {
    const char *name;
    unsigned fields;
} s_type_t;

static const s_type_t
s_types [KVP_DECISION_TYPES] = {
    [KVP_DECISION_CREATE] = { "create", F_CREATE },
    [KVP_DECISION_WORKER] = { "worker", F_WORKER | F_TOKEN },
    [KVP_DECISION_ASSIGN] = { "assign", F_PART | F_WORKER },
    [KVP_DECISION_PLACE]  = { "place",  F_PART | F_LIST },
    [KVP_DECISION_LEADER] = { "leader", F_PART | F_EPOCH | F_WORKER },
    [KVP_DECISION_SHRINK] = { "shrink", F_PART | F_EPOCH | F_WORKER },
    [KVP_DECISION_EXPAND] = { "expand", F_PART | F_EPOCH | F_WORKER },
    [KVP_DECISION_MOVE]   = { "move",   F_PART | F_EPOCH | F_WORKER | F_TO
                                        | F_EITHER },
    [KVP_DECISION_RETIRE] = { "retire", F_WORKER },
};

//  The type's field mask; 0 for an unknown type
static unsigned
s_fields (kvp_decision_type_t type)
{
    return type > 0 && type < KVP_DECISION_TYPES? s_types [type].fields: 0;
}

const char *
kvp_decision_type_name (kvp_decision_type_t type)
{
    return s_fields (type)? s_types [type].name: "?";
}

//  --- Well-formed ---------------------------------------------------------

//  Set the reason (when wanted) and say no
static bool
s_no (char *why, size_t size, const char *reason)
{
    if (why && size)
        snprintf (why, size, "%s", reason);
    return false;
}

//  A name: present, 1..NAME_MAX bytes (0 allowed when `empty`)
static bool
s_name_ok (const char *name, bool empty)
{
    size_t len = name? strlen (name): 0;
    return name && (len || empty) && len <= KVP_DECISION_NAME_MAX;
}

static bool
s_create_ok (const kvp_decision_t *self, char *why, size_t size)
{
    if (self->nparts < 1 || self->nparts > KVP_DECISION_PARTITIONS_MAX)
        return s_no (why, size, "nparts is not 1..65536");
    if (self->replicas < 1 || self->replicas > KVP_DECISION_REPLICAS_MAX)
        return s_no (why, size, "replicas is not 1..5");
    if (self->min_insync < 1 || self->min_insync > self->replicas)
        return s_no (why, size, "min_insync is not 1..replicas");
    return true;
}

static bool
s_list_ok (const kvp_decision_t *self, char *why, size_t size)
{
    if (self->count < 1 || self->count > KVP_DECISION_REPLICAS_MAX)
        return s_no (why, size, "a replica list holds 1..5 workers");
    for (size_t i = 0; i < self->count; i++) {
        if (!s_name_ok (self->workers [i], false))
            return s_no (why, size, "a replica's name is empty or too long");
        for (size_t j = 0; j < i; j++)
            if (strcmp (self->workers [i], self->workers [j]) == 0)
                return s_no (why, size, "a worker is twice in the list");
    }
    return true;
}

//  The worker, token and to fields
static bool
s_strings_ok (const kvp_decision_t *self, unsigned fields, char *why,
              size_t size)
{
    bool either = (fields & F_EITHER) != 0;
    if ((fields & F_WORKER) && !s_name_ok (self->worker, either))
        return s_no (why, size, "the worker name is missing or too long");
    if ((fields & F_TO) && !s_name_ok (self->to, either))
        return s_no (why, size, "the new holder's name is too long");
    if (either && !*self->worker && !*self->to)
        return s_no (why, size, "a move names no worker");
    if ((fields & F_TOKEN)
    &&  (!self->token || strlen (self->token) > KVP_DECISION_TOKEN_MAX))
        return s_no (why, size, "the token is missing or too long");
    return true;
}

bool
kvp_decision_valid (const kvp_decision_t *self, char *why, size_t size)
{
    unsigned fields = self? s_fields (self->type): 0;
    if (!fields)
        return s_no (why, size, "unknown decision type");
    if ((fields & F_CREATE) && !s_create_ok (self, why, size))
        return false;
    if ((fields & F_PART) && self->part >= KVP_DECISION_PARTITIONS_MAX)
        return s_no (why, size, "partition is not below 65536");
    if ((fields & F_EPOCH) && self->epoch == 0)
        return s_no (why, size, "epoch 0 is never current");
    if ((fields & F_LIST) && !s_list_ok (self, why, size))
        return false;
    return s_strings_ok (self, fields, why, size);
}

//  --- Encoding -----------------------------------------------------------

//  The body's fields, in order
static void
s_write_body (const kvp_decision_t *self, unsigned fields, kvp_writer_t *w)
{
    if (fields & F_CREATE) {
        kvp_writer_u32 (w, self->nparts);
        kvp_writer_u8 (w, self->replicas);
        kvp_writer_u8 (w, self->min_insync);
    }
    if (fields & F_PART)
        kvp_writer_u16 (w, (uint16_t) self->part);
    if (fields & F_EPOCH)
        kvp_writer_u64 (w, self->epoch);
    if (fields & F_LIST) {
        kvp_writer_u8 (w, (uint8_t) self->count);
        for (size_t i = 0; i < self->count; i++)
            kvp_writer_str (w, self->workers [i]);
    }
    if (fields & F_WORKER)
        kvp_writer_str (w, self->worker);
    if (fields & F_TOKEN)
        kvp_writer_str (w, self->token);
    if (fields & F_TO)
        kvp_writer_str (w, self->to);
}

size_t
kvp_decision_encode (const kvp_decision_t *self, uint8_t *buf, size_t size)
{
    if (!kvp_decision_valid (self, NULL, 0))
        return 0;
    unsigned fields = s_fields (self->type);
    kvp_writer_t count = { NULL, 0, 0 };
    s_write_body (self, fields, &count);
    size_t total = KVP_DECISION_HEADER + count.pos + KVP_DECISION_TRAILER;
    if (!buf || size < total)
        return total;
    kvp_writer_t w = { buf, size, 0 };
    kvp_writer_u8 (&w, KVP_DECISION_VERSION);
    kvp_writer_u8 (&w, (uint8_t) self->type);
    kvp_writer_u32 (&w, (uint32_t) count.pos);
    s_write_body (self, fields, &w);
    kvp_writer_u32 (&w, kvp_walseg_crc32c (0, buf, w.pos));
    return total;
}

//  --- Decoding -----------------------------------------------------------

static void
s_read_body (kvp_decision_t *self, unsigned fields, kvp_reader_t *r)
{
    if (fields & F_CREATE) {
        self->nparts = kvp_reader_u32 (r);
        self->replicas = kvp_reader_u8 (r);
        self->min_insync = kvp_reader_u8 (r);
    }
    if (fields & F_PART)
        self->part = kvp_reader_u16 (r);
    if (fields & F_EPOCH)
        self->epoch = kvp_reader_u64 (r);
    if (fields & F_LIST) {
        self->count = kvp_reader_u8 (r);
        if (self->count > KVP_DECISION_REPLICAS_MAX)
            r->ok = false;
        for (size_t i = 0; r->ok && i < self->count; i++)
            self->workers [i] = kvp_reader_str (r, KVP_DECISION_NAME_MAX);
    }
    if (fields & F_WORKER)
        self->worker = kvp_reader_str (r, KVP_DECISION_NAME_MAX);
    if (fields & F_TOKEN)
        self->token = kvp_reader_str (r, KVP_DECISION_TOKEN_MAX);
    if (fields & F_TO)
        self->to = kvp_reader_str (r, KVP_DECISION_NAME_MAX);
}

//  The header and trailer: version, a known type, a length that is the
//  rest of the bytes, the CRC. Returns the type's fields, or 0.
static unsigned
s_frame_ok (const uint8_t *bytes, size_t size, kvp_decision_t *self)
{
    if (size < KVP_DECISION_HEADER + KVP_DECISION_TRAILER)
        return 0;
    size_t body = size - KVP_DECISION_HEADER - KVP_DECISION_TRAILER;
    self->type = (kvp_decision_type_t) bytes [1];
    uint32_t crc = kvp_lmdb_get_u32 (bytes + size - KVP_DECISION_TRAILER);
    if (bytes [0] != KVP_DECISION_VERSION || !s_fields (self->type)
    ||  kvp_lmdb_get_u32 (bytes + 2) != body
    ||  kvp_walseg_crc32c (0, bytes, size - KVP_DECISION_TRAILER) != crc)
        return 0;
    return s_fields (self->type);
}

int
kvp_decision_decode (const void *data, size_t size, kvp_decision_t *self)
{
    const uint8_t *bytes = (const uint8_t *) data;
    memset (self, 0, sizeof *self);
    unsigned fields = bytes? s_frame_ok (bytes, size, self): 0;
    //  The body lies between the header and the CRC
    kvp_reader_t r = { bytes, fields? size - KVP_DECISION_TRAILER: 0,
                       fields? KVP_DECISION_HEADER: 0, fields != 0 };
    if (fields)
        s_read_body (self, fields, &r);
    if (!r.ok || r.pos != r.size || !kvp_decision_valid (self, NULL, 0)) {
        memset (self, 0, sizeof *self);
        return KVP_STORE_CORRUPT;
    }
    return KVP_STORE_OK;
}

//  --- Logs ---------------------------------------------------------------

const char *
kvp_decision_describe (const kvp_decision_t *self, char *buf, size_t size)
{
    unsigned fields = s_fields (self->type);
    int at = snprintf (buf, size, "%s", kvp_decision_type_name (self->type));
    //  Each piece goes where the last ended, or nowhere once cut
#define S_MORE(...) do { if (at >= 0 && (size_t) at < size) \
        at += snprintf (buf + at, size - (size_t) at, __VA_ARGS__); \
    } while (0)
    if (fields & F_CREATE)
        S_MORE (" nparts %u replicas %u min_insync %u", self->nparts,
                self->replicas, self->min_insync);
    if (fields & F_PART)
        S_MORE (" part %u", self->part);
    if (fields & F_EPOCH)
        S_MORE (" epoch %llu", (unsigned long long) self->epoch);
    for (size_t i = 0; (fields & F_LIST) && i < self->count
                    && i < KVP_DECISION_REPLICAS_MAX; i++)
        S_MORE ("%s%s", i? ",": " workers ",
                self->workers [i]? self->workers [i]: "?");
    if (fields & F_WORKER)
        S_MORE (" worker %s", self->worker? self->worker: "(none)");
    if (fields & F_TO)
        S_MORE (" to %s", self->to? self->to: "(none)");
#undef S_MORE
    return buf;
}
