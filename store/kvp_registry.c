/*  kvp_registry.c - the broker's memory as a log of decisions.

    Databases of the registry's LMDB environment (layout 2):

      config    "nparts"   -> N(4) layout(4), big-endian, layout 2
      records   seq(8, BE) -> one decision record (kvp_decision.h)
      snapshot  "state"    -> the state after record S (kvp_regstate.h)

    The records are exactly S+1, S+2, ... (S is 0 without a snapshot): a
    snapshot is written with the deletion of the records it covers, in one
    transaction. Opening loads the snapshot and applies each later record
    in order; one that does not decode or that the state refuses is
    corruption, since it was applied once already.

    A snapshot is taken after a commit once at least S_TAIL_MIN records
    follow the last one and they take more bytes than it does: snapshot
    writes cost at most about what the records cost, and opening reads at
    most about twice the state's size.

    Layout 1, before decision records: config "nparts" -> N(4), owners
    part(2) -> worker, tokens worker -> token. It is converted when opened,
    in one transaction (a crash leaves it as it was): CREATE, a WORKER per
    token, an ASSIGN per owner, the old tables dropped. "nparts" grows to
    8 bytes, a length older brokers refuse as corrupt, so that none runs
    on a registry it would misread.
*/
#include <stdlib.h>
#include <string.h>
#include <czmq.h>
#include "kvp_registry.h"
#include "kvp_lmdb.h"

#define S_MAP_SIZE      ((size_t) 1 << 30)  //  address space, not disk
#define S_MAXDBS        8
#define S_LAYOUT        2
#define S_TAIL_MIN      64
#define S_STACK_RECORD  1024        //  records encoded without malloc
#define S_WHY           256         //  room for a refusal's reason

struct _kvp_registry_t {
    char *dir;                      //  for log lines
    MDB_env *env;
    MDB_dbi config, records, snapshot;
    kvp_regstate_t *state;          //  the fold of the records
    uint64_t seq;                   //  the last record applied
    size_t snap_bytes;              //  the snapshot's size; 0: none
    size_t tail_count;              //  records after the snapshot
    size_t tail_bytes;              //  their bytes
};

//  What opening wants: N (0: adopt), R and M (both 0: adopt)
typedef struct {
    uint32_t nparts;
    unsigned replicas, min_insync;
} s_shape_t;

typedef int (s_txn_fn) (kvp_registry_t *self, MDB_txn *txn, void *arg);
typedef int (s_row_fn) (kvp_registry_t *self, MDB_txn *txn,
                        const MDB_val *key, const MDB_val *val);

//  --- Transactions -------------------------------------------------------

//  Run `fn` in a write transaction, committed (synced) if it returns 0
static int
s_txn (kvp_registry_t *self, s_txn_fn *fn, void *arg)
{
    MDB_txn *txn = NULL;
    int rc = kvp_lmdb_rc (mdb_txn_begin (self->env, NULL, 0, &txn),
                          "registry begin");
    if (rc == KVP_STORE_OK)
        rc = fn (self, txn, arg);
    if (rc == KVP_STORE_OK)
        return kvp_lmdb_commit (self->env, txn, "registry commit");
    if (txn)
        mdb_txn_abort (txn);
    return rc;
}

//  Call `fn` on every row of `dbi`, in key order
static int
s_each (kvp_registry_t *self, MDB_txn *txn, MDB_dbi dbi, s_row_fn *fn)
{
    MDB_cursor *cursor = NULL;
    MDB_val key, val;
    int rc = kvp_lmdb_rc (mdb_cursor_open (txn, dbi, &cursor),
                          "registry cursor");
    int got = rc? MDB_NOTFOUND: mdb_cursor_get (cursor, &key, &val,
                                                MDB_FIRST);
    for (; rc == KVP_STORE_OK && got == MDB_SUCCESS;
           got = mdb_cursor_get (cursor, &key, &val, MDB_NEXT))
        rc = fn (self, txn, &key, &val);
    if (rc == KVP_STORE_OK && got != MDB_NOTFOUND)
        rc = kvp_lmdb_rc (got, "registry cursor");
    if (cursor)
        mdb_cursor_close (cursor);
    return rc;
}

//  The record `d` at sequence number `seq`; *len gets its size
static int
s_put_record (kvp_registry_t *self, MDB_txn *txn, uint64_t seq,
              const kvp_decision_t *d, size_t *len)
{
    uint8_t stack [S_STACK_RECORD], key [8];
    *len = kvp_decision_encode (d, NULL, 0);
    uint8_t *buf = *len <= sizeof stack? stack: malloc (*len);
    if (!buf)
        return KVP_STORE_EIO;
    kvp_decision_encode (d, buf, *len);
    kvp_lmdb_put_u64 (key, seq);
    MDB_val mkey = { 8, key }, val = { *len, buf };
    int rc = mdb_put (txn, self->records, &mkey, &val, MDB_APPEND);
    if (buf != stack)
        free (buf);
    return kvp_lmdb_rc (rc, "registry record");
}

//  One more record is part of the state
static void
s_advance (kvp_registry_t *self, size_t len)
{
    self->seq++;
    self->tail_count++;
    self->tail_bytes += len;
}

//  Check, write and apply a record inside the transaction that opens the
//  registry (nobody sees the state before it commits)
static int
s_append (kvp_registry_t *self, MDB_txn *txn, const kvp_decision_t *d)
{
    char why [S_WHY], line [S_WHY];
    size_t len = 0;
    int rc = kvp_regstate_prepare (self->state, d, why, sizeof why);
    if (rc == KVP_STORE_EINVAL)
        zsys_error ("registry %s: %s refused: %s", self->dir,
                    kvp_decision_describe (d, line, sizeof line), why);
    if (rc == KVP_STORE_OK)
        rc = s_put_record (self, txn, self->seq + 1, d, &len);
    if (rc == KVP_STORE_OK) {
        kvp_regstate_commit (self->state, d);
        s_advance (self, len);
    }
    return rc;
}

//  --- Snapshots ----------------------------------------------------------

static int
s_snapshot_txn (kvp_registry_t *self, MDB_txn *txn, void *arg)
{
    size_t len = 0;
    uint8_t *buf = kvp_regstate_save (self->state, self->seq, &len);
    if (!buf)
        return KVP_STORE_EIO;
    MDB_val key = { 5, (void *) "state" }, val = { len, buf };
    int rc = kvp_lmdb_rc (mdb_put (txn, self->snapshot, &key, &val, 0),
                          "registry snapshot");
    free (buf);
    //  The records it covers are the tail, seq - tail_count + 1 .. seq
    for (uint64_t seq = self->seq - self->tail_count + 1;
         rc == KVP_STORE_OK && seq <= self->seq; seq++) {
        uint8_t bytes [8];
        kvp_lmdb_put_u64 (bytes, seq);
        MDB_val record = { 8, bytes };
        rc = kvp_lmdb_rc (mdb_del (txn, self->records, &record, NULL),
                          "registry compaction");
    }
    *(size_t *) arg = len;
    return rc;
}

//  Snapshot when the tail has outgrown the last snapshot; a failure only
//  leaves the records as they are (and is tried again after the next)
static void
s_snapshot_due (kvp_registry_t *self)
{
    if (self->tail_count < S_TAIL_MIN || self->tail_bytes < self->snap_bytes)
        return;
    size_t len = 0;
    int rc = s_txn (self, s_snapshot_txn, &len);
    if (rc == KVP_STORE_OK) {
        self->snap_bytes = len;
        self->tail_count = self->tail_bytes = 0;
    }
    else
        zsys_warning ("registry %s: no snapshot at record %llu: %s",
                      self->dir, (unsigned long long) self->seq,
                      kvp_store_strerror (rc));
}

//  --- Opening: a new directory -------------------------------------------

//  config "nparts": N and the layout
static int
s_put_layout (kvp_registry_t *self, MDB_txn *txn)
{
    uint8_t bytes [8];
    kvp_lmdb_put_u32 (bytes, kvp_regstate_partitions (self->state));
    kvp_lmdb_put_u32 (bytes + 4, S_LAYOUT);
    MDB_val key = { 6, (void *) "nparts" }, val = { 8, bytes };
    return kvp_lmdb_rc (mdb_put (txn, self->config, &key, &val, 0),
                        "registry layout");
}

static int
s_create (kvp_registry_t *self, MDB_txn *txn, const s_shape_t *shape)
{
    kvp_decision_t create = { .type = KVP_DECISION_CREATE,
                              .nparts = shape->nparts,
                              .replicas = (uint8_t) shape->replicas,
                              .min_insync = (uint8_t) shape->min_insync };
    if (shape->nparts == 0 || shape->replicas == 0)
        return KVP_STORE_NOTFOUND;
    int rc = s_append (self, txn, &create);
    return rc? rc: s_put_layout (self, txn);
}

//  --- Opening: layout 1 --------------------------------------------------

//  A NUL-terminated copy of a value that holds no NUL; NULL if it does
static char *
s_text (const MDB_val *val)
{
    char *text = strndup ((const char *) val->mv_data, val->mv_size);
    if (text && strlen (text) != val->mv_size) {
        free (text);
        return NULL;
    }
    return text;
}

static int
s_convert_token (kvp_registry_t *self, MDB_txn *txn, const MDB_val *key,
                 const MDB_val *val)
{
    char *name = s_text (key), *token = s_text (val);
    kvp_decision_t worker = { .type = KVP_DECISION_WORKER, .worker = name,
                              .token = token };
    int rc = name && token? s_append (self, txn, &worker): KVP_STORE_CORRUPT;
    free (name);
    free (token);
    return rc;
}

static int
s_convert_owner (kvp_registry_t *self, MDB_txn *txn, const MDB_val *key,
                 const MDB_val *val)
{
    char *name = key->mv_size == 2? s_text (val): NULL;
    kvp_decision_t assign = { .type = KVP_DECISION_ASSIGN, .worker = name };
    if (name)
        assign.part = kvp_lmdb_get_u16 ((const uint8_t *) key->mv_data);
    int rc = name? s_append (self, txn, &assign): KVP_STORE_CORRUPT;
    free (name);
    return rc;
}

//  Turn an old table into records with `fn`, then drop it
static int
s_convert_table (kvp_registry_t *self, MDB_txn *txn, const char *name,
                 s_row_fn *fn)
{
    MDB_dbi dbi;
    int rc = mdb_dbi_open (txn, name, 0, &dbi);
    if (rc == MDB_NOTFOUND)
        return KVP_STORE_OK;
    rc = kvp_lmdb_rc (rc, "registry old table");
    if (rc == KVP_STORE_OK)
        rc = s_each (self, txn, dbi, fn);
    if (rc == KVP_STORE_OK)
        rc = kvp_lmdb_rc (mdb_drop (txn, dbi, 1), "registry old table");
    return rc;
}

static int
s_convert (kvp_registry_t *self, MDB_txn *txn, uint32_t nparts)
{
    s_shape_t shape = { nparts, 1, 1 };
    int rc = s_create (self, txn, &shape);
    if (rc == KVP_STORE_NOTFOUND || rc == KVP_STORE_EINVAL)
        rc = KVP_STORE_CORRUPT;     //  layout 1 holds no such N
    if (rc == KVP_STORE_OK)
        rc = s_convert_table (self, txn, "tokens", s_convert_token);
    if (rc == KVP_STORE_OK)
        rc = s_convert_table (self, txn, "owners", s_convert_owner);
    if (rc == KVP_STORE_EINVAL)
        rc = KVP_STORE_CORRUPT;     //  a row that no record can say
    return rc;
}

//  --- Opening: layout 2 --------------------------------------------------

static int
s_replay_record (kvp_registry_t *self, MDB_txn *txn, const MDB_val *key,
                 const MDB_val *val)
{
    char why [S_WHY], line [S_WHY];
    kvp_decision_t record;
    bool next = key->mv_size == 8 && kvp_lmdb_get_u64 (
                    (const uint8_t *) key->mv_data) == self->seq + 1;
    int rc = next? kvp_decision_decode (val->mv_data, val->mv_size, &record)
                 : KVP_STORE_CORRUPT;
    if (rc == KVP_STORE_OK
    &&  kvp_regstate_apply (self->state, &record, why, sizeof why)) {
        zsys_error ("registry %s: record %llu (%s) does not apply: %s",
                    self->dir, (unsigned long long) self->seq + 1,
                    kvp_decision_describe (&record, line, sizeof line), why);
        rc = KVP_STORE_CORRUPT;
    }
    if (rc == KVP_STORE_OK)
        s_advance (self, val->mv_size);
    return rc;
}

//  The snapshot, if there is one, as the state to replay from
static int
s_load_snapshot (kvp_registry_t *self, MDB_txn *txn)
{
    MDB_val key = { 5, (void *) "state" }, val;
    int rc = mdb_get (txn, self->snapshot, &key, &val);
    if (rc == MDB_NOTFOUND)
        return KVP_STORE_OK;
    if (rc != MDB_SUCCESS)
        return kvp_lmdb_rc (rc, "registry snapshot");
    kvp_regstate_t *state = kvp_regstate_load (val.mv_data, val.mv_size,
                                               &self->seq, &rc);
    if (state) {
        kvp_regstate_destroy (&self->state);
        self->state = state;
        self->snap_bytes = val.mv_size;
    }
    return rc;
}

static int
s_load (kvp_registry_t *self, MDB_txn *txn, uint32_t nparts)
{
    int rc = s_load_snapshot (self, txn);
    if (rc == KVP_STORE_OK)
        rc = s_each (self, txn, self->records, s_replay_record);
    if (rc == KVP_STORE_OK
    &&  kvp_regstate_partitions (self->state) != nparts)
        rc = KVP_STORE_CORRUPT;     //  the records say another N
    return rc;
}

//  --- Opening ------------------------------------------------------------

//  Read "nparts" and open what it says: nothing yet, layout 1 or 2
static int
s_open_layout (kvp_registry_t *self, MDB_txn *txn, const s_shape_t *shape,
               bool *converted)
{
    const char *names [] = { "config", "records", "snapshot" };
    MDB_dbi *dbis [] = { &self->config, &self->records, &self->snapshot };
    int rc = kvp_lmdb_dbis_create (txn, names, dbis, 3);
    MDB_val key = { 6, (void *) "nparts" }, val = { 0, NULL };
    int got = rc? MDB_SUCCESS: mdb_get (txn, self->config, &key, &val);
    if (rc == KVP_STORE_OK && got == MDB_NOTFOUND)
        return s_create (self, txn, shape);
    if (rc == KVP_STORE_OK && got != MDB_SUCCESS)
        return kvp_lmdb_rc (got, "registry nparts");
    const uint8_t *bytes = (const uint8_t *) val.mv_data;
    *converted = rc == KVP_STORE_OK && val.mv_size == 4;
    if (*converted)
        return s_convert (self, txn, kvp_lmdb_get_u32 (bytes));
    if (rc == KVP_STORE_OK && val.mv_size == 8
    &&  kvp_lmdb_get_u32 (bytes + 4) == S_LAYOUT)
        return s_load (self, txn, kvp_lmdb_get_u32 (bytes));
    return rc? rc: KVP_STORE_CORRUPT;
}

//  Open, and refuse a directory of another shape before anything of it
//  (a conversion) commits
static int
s_open_txn (kvp_registry_t *self, MDB_txn *txn, void *arg)
{
    const s_shape_t *shape = (const s_shape_t *) arg;
    bool converted = false;
    int rc = s_open_layout (self, txn, shape, &converted);
    const kvp_regstate_t *state = self->state;
    if (rc == KVP_STORE_OK
    &&  ((shape->nparts && shape->nparts != kvp_regstate_partitions (state))
      || (shape->replicas
          && (shape->replicas != kvp_regstate_replicas (state)
           || shape->min_insync != kvp_regstate_min_insync (state)))))
        rc = KVP_STORE_MISMATCH;
    if (rc == KVP_STORE_OK && converted)
        zsys_info ("registry %s: converting the old layout to %llu "
                   "decision records", self->dir,
                   (unsigned long long) self->seq);
    return rc;
}

//  Are the caller's N, R and M possible? (0 for N, or for both R and M,
//  adopts the directory's)
static bool
s_shape_ok (const s_shape_t *shape)
{
    bool adopt = shape->replicas == 0 && shape->min_insync == 0;
    unsigned r = adopt? 1: shape->replicas, m = adopt? 1: shape->min_insync;
    kvp_decision_t create = { .type = KVP_DECISION_CREATE,
                              .nparts = shape->nparts? shape->nparts: 1,
                              .replicas = (uint8_t) r,
                              .min_insync = (uint8_t) m };
    return shape->nparts <= KVP_DECISION_PARTITIONS_MAX
        && shape->replicas <= KVP_DECISION_REPLICAS_MAX
        && kvp_decision_valid (&create, NULL, 0);
}

static int
s_open (kvp_registry_t *self, const s_shape_t *shape)
{
    int rc = kvp_lmdb_env_open (self->dir, S_MAP_SIZE, S_MAXDBS, 0,
                                &self->env);
    if (rc == KVP_STORE_OK)
        rc = s_txn (self, s_open_txn, (void *) shape);
    if (rc == KVP_STORE_OK)
        s_snapshot_due (self);
    return rc;
}

kvp_registry_t *
kvp_registry_new_replicated (const char *dir, uint32_t nparts,
                             unsigned replicas, unsigned min_insync, int *rc)
{
    s_shape_t shape = { nparts, replicas, min_insync };
    int status = KVP_STORE_EINVAL;
    kvp_registry_t *self = NULL;
    if (dir && *dir && s_shape_ok (&shape)) {
        status = KVP_STORE_EIO;         //  out of memory until opened
        self = (kvp_registry_t *) calloc (1, sizeof (kvp_registry_t));
    }
    if (self && (self->dir = strdup (dir))
    &&  (self->state = kvp_regstate_new ()))
        status = s_open (self, &shape);
    if (status != KVP_STORE_OK) {
        zsys_error ("registry %s: cannot open: %s", dir? dir: "(null)",
                    kvp_store_strerror (status));
        kvp_registry_destroy (&self);
    }
    if (rc)
        *rc = status;
    return self;
}

kvp_registry_t *
kvp_registry_new (const char *dir, uint32_t nparts, int *rc)
{
    return kvp_registry_new_replicated (dir, nparts, 1, 1, rc);
}

void
kvp_registry_destroy (kvp_registry_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kvp_registry_t *self = *self_p;
    if (self->env)
        mdb_env_close (self->env);
    kvp_regstate_destroy (&self->state);
    free (self->dir);
    free (self);
    *self_p = NULL;
}

//  --- Decisions ----------------------------------------------------------

typedef struct {
    const kvp_decision_t *record;
    size_t len;                     //  its encoded size, once written
} s_apply_t;

static int
s_apply_txn (kvp_registry_t *self, MDB_txn *txn, void *arg)
{
    s_apply_t *apply = (s_apply_t *) arg;
    return s_put_record (self, txn, self->seq + 1, apply->record,
                         &apply->len);
}

int
kvp_registry_apply (kvp_registry_t *self, const kvp_decision_t *record,
                    char *why, size_t size)
{
    if (!self)
        return KVP_STORE_EINVAL;
    int rc = kvp_regstate_prepare (self->state, record, why, size);
    if (rc)
        return rc;
    s_apply_t apply = { record, 0 };
    rc = s_txn (self, s_apply_txn, &apply);
    if (rc) {
        if (why && size)
            snprintf (why, size, "the registry cannot commit: %s",
                      kvp_store_strerror (rc));
        return rc;
    }
    kvp_regstate_commit (self->state, record);
    s_advance (self, apply.len);
    s_snapshot_due (self);
    return KVP_STORE_OK;
}

//  Apply a record the older calls built; a refusal is logged
static int
s_apply_logged (kvp_registry_t *self, const kvp_decision_t *record)
{
    char why [S_WHY], line [S_WHY];
    int rc = kvp_registry_apply (self, record, why, sizeof why);
    if (rc)
        zsys_warning ("registry %s: %s not applied: %s", self->dir,
                      kvp_decision_describe (record, line, sizeof line), why);
    return rc;
}

uint64_t
kvp_registry_seq (kvp_registry_t *self)
{
    return self? self->seq: 0;
}

const kvp_regstate_t *
kvp_registry_state (kvp_registry_t *self)
{
    return self? self->state: NULL;
}

uint32_t
kvp_registry_partitions (kvp_registry_t *self)
{
    return self? kvp_regstate_partitions (self->state): 0;
}

const char *
kvp_registry_owner (kvp_registry_t *self, uint32_t part)
{
    return self? kvp_regstate_leader (self->state, part): NULL;
}

int
kvp_registry_assign (kvp_registry_t *self, uint32_t part,
                     const char *worker)
{
    if (!self || !worker)
        return KVP_STORE_EINVAL;
    const char *owner = kvp_regstate_leader (self->state, part);
    if (owner && streq (owner, worker))
        return KVP_STORE_OK;            //  nothing changes
    kvp_decision_t assign = { .type = KVP_DECISION_ASSIGN, .part = part,
                              .worker = worker };
    return s_apply_logged (self, &assign);
}

const char *
kvp_registry_token (kvp_registry_t *self, const char *worker)
{
    return self && worker? kvp_regstate_token (self->state, worker): NULL;
}

int
kvp_registry_set_token (kvp_registry_t *self, const char *worker,
                        const char *token)
{
    if (!self || !worker || !token)
        return KVP_STORE_EINVAL;
    const char *known = kvp_regstate_token (self->state, worker);
    if (known && streq (known, token))
        return KVP_STORE_OK;            //  nothing changes
    kvp_decision_t record = { .type = KVP_DECISION_WORKER, .worker = worker,
                              .token = token };
    return s_apply_logged (self, &record);
}

const char **
kvp_registry_workers (kvp_registry_t *self, size_t *count)
{
    size_t none;
    if (!count)
        count = &none;
    if (!self) {
        *count = 0;
        return NULL;
    }
    return kvp_regstate_workers (self->state, count);
}
