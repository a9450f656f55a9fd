/*  kvp_regsnap.c - snapshots of the registry's state (kvp_regstate_save
    and kvp_regstate_load of kvp_regstate.h).

    Encoding (integers big-endian, strings as kvp_cursor.h):

      version(1) seq(8) nparts(4) replicas(1) min_insync(1)
      nworkers(4), by id: flags(1: 1 token, 2 retired) name [token]
      nplaced(4), ascending: part(2) epoch(8) count(1) leader(1) isr(1)
                             id(4) x count
      crc32c(4) of everything before

    Workers are written in id order, so a loaded state has the same ids
    and saves back to the same bytes.
*/
#include <stdlib.h>
#include <string.h>
#include "kvp_regstate_priv.h"
#include "kvp_cursor.h"
#include "kvp_store.h"
#include "kvp_walseg.h"

#define S_TOKEN     1               //  worker flags in a snapshot
#define S_RETIRED   2

//  --- Saving -------------------------------------------------------------

static void
s_write_workers (const kvp_regstate_t *self, kvp_writer_t *w)
{
    kvp_writer_u32 (w, (uint32_t) self->count);
    for (size_t id = 0; id < self->count; id++) {
        const kvp_regworker_t *worker = &self->workers [id];
        kvp_writer_u8 (w, (uint8_t) ((worker->token? S_TOKEN: 0)
                                   | (worker->retired? S_RETIRED: 0)));
        kvp_writer_str (w, worker->name);
        if (worker->token)
            kvp_writer_str (w, worker->token);
    }
}

static void
s_write_parts (const kvp_regstate_t *self, kvp_writer_t *w)
{
    uint32_t placed = 0;
    for (uint32_t part = 0; part < self->nparts; part++)
        placed += self->parts [part].count > 0;
    kvp_writer_u32 (w, placed);
    for (uint32_t part = 0; part < self->nparts; part++) {
        const kvp_regslot_t *p = &self->parts [part];
        if (!p->count)
            continue;
        kvp_writer_u16 (w, (uint16_t) part);
        kvp_writer_u64 (w, p->epoch);
        kvp_writer_u8 (w, p->count);
        kvp_writer_u8 (w, p->leader);
        kvp_writer_u8 (w, p->isr);
        for (int i = 0; i < p->count; i++)
            kvp_writer_u32 (w, p->ids [i]);
    }
}

static void
s_write_state (const kvp_regstate_t *self, uint64_t seq, kvp_writer_t *w)
{
    kvp_writer_u8 (w, KVP_REGSTATE_VERSION);
    kvp_writer_u64 (w, seq);
    kvp_writer_u32 (w, self->nparts);
    kvp_writer_u8 (w, self->replicas);
    kvp_writer_u8 (w, self->min_insync);
    s_write_workers (self, w);
    s_write_parts (self, w);
}

uint8_t *
kvp_regstate_save (const kvp_regstate_t *self, uint64_t seq, size_t *size)
{
    kvp_writer_t count = { NULL, 0, 0 };
    s_write_state (self, seq, &count);
    size_t total = count.pos + 4;
    uint8_t *buf = malloc (total);
    if (!buf)
        return NULL;
    kvp_writer_t w = { buf, total, 0 };
    s_write_state (self, seq, &w);
    kvp_writer_u32 (&w, kvp_walseg_crc32c (0, buf, w.pos));
    *size = total;
    return buf;
}

//  --- Loading ------------------------------------------------------------

//  N, R and M: a valid CREATE, or all 0 for a state before one
static int
s_load_config (kvp_regstate_t *self, kvp_reader_t *r)
{
    kvp_decision_t create = { .type = KVP_DECISION_CREATE };
    create.nparts = kvp_reader_u32 (r);
    create.replicas = kvp_reader_u8 (r);
    create.min_insync = kvp_reader_u8 (r);
    if (!create.nparts && !create.replicas && !create.min_insync)
        return KVP_STORE_OK;
    if (!kvp_decision_valid (&create, NULL, 0))
        return KVP_STORE_CORRUPT;
    return kvp_regstate_create (self, &create);
}

//  One worker: its flags, a new name, its token if it has one
static int
s_load_worker (kvp_regstate_t *self, kvp_reader_t *r)
{
    uint8_t flags = kvp_reader_u8 (r);
    const char *name = kvp_reader_str (r, KVP_DECISION_NAME_MAX);
    const char *token = flags & S_TOKEN
                      ? kvp_reader_str (r, KVP_DECISION_TOKEN_MAX): NULL;
    bool found = true;
    size_t at = name? kvp_regstate_search (self, name, &found): 0;
    if (!r->ok || flags > (S_TOKEN | S_RETIRED) || !*name || found)
        return KVP_STORE_CORRUPT;
    char *owned = kvp_regstate_grow (self) == 0? strdup (name): NULL;
    char *copy = owned && token? strdup (token): NULL;
    if (!owned || (token && !copy)) {
        free (owned);
        return KVP_STORE_EIO;
    }
    uint32_t id = kvp_regstate_insert (self, at, owned);
    kvp_regworker_t *worker = &self->workers [id];
    worker->token = copy;
    worker->retired = (flags & S_RETIRED) != 0;
    return KVP_STORE_OK;
}

static int
s_load_workers (kvp_regstate_t *self, kvp_reader_t *r)
{
    uint32_t count = kvp_reader_u32 (r);
    if (count && !self->nparts)
        return KVP_STORE_CORRUPT;   //  no record names one before CREATE
    int rc = KVP_STORE_OK;
    for (uint32_t i = 0; rc == 0 && r->ok && i < count; i++)
        rc = s_load_worker (self, r);
    return rc;
}

//  A partition's copies: distinct known workers, a leader in sync, an
//  in-sync set among the copies
static bool
s_part_ok (const kvp_regstate_t *self, const kvp_regslot_t *p)
{
    if (p->epoch == 0 || p->leader >= p->count
    ||  (p->isr >> p->count) || !kvp_regslot_in_sync (p, p->leader))
        return false;
    for (int i = 0; i < p->count; i++) {
        if (p->ids [i] >= self->count)
            return false;
        for (int j = 0; j < i; j++)
            if (p->ids [i] == p->ids [j])
                return false;
    }
    return true;
}

static int
s_load_parts (kvp_regstate_t *self, kvp_reader_t *r)
{
    uint32_t placed = kvp_reader_u32 (r);
    int64_t last = -1;
    for (uint32_t i = 0; r->ok && i < placed; i++) {
        uint32_t part = kvp_reader_u16 (r);
        if ((int64_t) part <= last || part >= self->nparts)
            return KVP_STORE_CORRUPT;
        kvp_regslot_t *p = &self->parts [part];
        p->epoch = kvp_reader_u64 (r);
        p->count = kvp_reader_u8 (r);
        p->leader = kvp_reader_u8 (r);
        p->isr = kvp_reader_u8 (r);
        if (p->count < 1 || p->count > self->replicas)
            return KVP_STORE_CORRUPT;
        for (int j = 0; j < p->count; j++)
            p->ids [j] = kvp_reader_u32 (r);
        if (!s_part_ok (self, p))
            return KVP_STORE_CORRUPT;
        last = part;
    }
    return r->ok? KVP_STORE_OK: KVP_STORE_CORRUPT;
}

//  The version, the CRC, then the state; the reader spans the bytes
//  before the CRC and must end exactly there
static int
s_load (kvp_regstate_t *self, const uint8_t *bytes, size_t size,
        uint64_t *seq)
{
    if (size < 1 + 4 || bytes [0] != KVP_REGSTATE_VERSION
    ||  kvp_walseg_crc32c (0, bytes, size - 4)
        != kvp_lmdb_get_u32 (bytes + size - 4))
        return KVP_STORE_CORRUPT;
    kvp_reader_t r = { bytes, size - 4, 1, true };
    *seq = kvp_reader_u64 (&r);
    int rc = r.ok? s_load_config (self, &r): KVP_STORE_CORRUPT;
    if (rc == 0)
        rc = s_load_workers (self, &r);
    if (rc == 0)
        rc = s_load_parts (self, &r);
    if (rc == 0 && (!r.ok || r.pos != r.size))
        rc = KVP_STORE_CORRUPT;
    return rc;
}

kvp_regstate_t *
kvp_regstate_load (const void *data, size_t size, uint64_t *seq, int *rc)
{
    kvp_regstate_t *self = kvp_regstate_new ();
    int status = self? KVP_STORE_CORRUPT: KVP_STORE_EIO;
    if (self && data)
        status = s_load (self, (const uint8_t *) data, size, seq);
    if (status)
        kvp_regstate_destroy (&self);
    if (rc)
        *rc = status;
    return self;
}
