/*  kvp_change.h - the changes of one batch, as the write-ahead log keeps
    them: a flat list of table writes that replaying applies to LMDB
    exactly as they were decided (no clock, no random source, no request).

    A record is a sequence of changes, each

      op(1) table(1) key_len(2) [value_len(4), PUT only] key [value]

    all integers big-endian. op is PUT (set key to value), DEL (delete key)
    or CLEAR (delete every key that starts with `key`, a prefix). table is
    one of kvp_change_table_t; keys are 1..KVP_CHANGE_KEY_MAX bytes, values
    at most KVP_CHANGE_VALUE_MAX.

    The writer appends into a growable buffer it owns; a mark taken before
    a request's changes lets them be taken back when the request is undone.
    The reader checks every length against the bytes it was given and never
    trusts the record: anything malformed is KVP_STORE_CORRUPT (it is
    fuzzed). Leaf module; no LMDB.
*/
#ifndef KVP_CHANGE_H_INCLUDED
#define KVP_CHANGE_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KVP_CHANGE_KEY_MAX      511         /* LMDB's key limit */
#define KVP_CHANGE_VALUE_MAX    (64u << 20) /* far above any record */

typedef enum {
    KVP_CHANGE_PUT = 1,
    KVP_CHANGE_DEL = 2,
    KVP_CHANGE_CLEAR = 3
} kvp_change_op_t;

/*  The store's tables, by a number that is part of the log's format (not
    LMDB's dbi handles, which depend on the order databases are opened). */
typedef enum {
    KVP_TABLE_META = 0,
    KVP_TABLE_SYSTEMS = 1,
    KVP_TABLE_ITEMS = 2,
    KVP_TABLE_LOG = 3,
    KVP_TABLE_LOGBODY = 4,
    KVP_TABLE_KEYS = 5,
    KVP_TABLE_COUNT = 6
} kvp_change_table_t;

typedef struct {
    uint8_t *data;          /* the record so far */
    size_t size;            /* bytes used */
    size_t cap;             /* bytes allocated */
    size_t count;           /* changes in it */
    size_t puts;            /* bytes of its PUT changes (keys, values) */
} kvp_change_t;

/*  Start an empty record (no allocation until the first change). */
void
    kvp_change_init (kvp_change_t *self);

/*  Free the buffer; the record is empty again. */
void
    kvp_change_fini (kvp_change_t *self);

/*  Append one change. val is ignored (may be NULL) unless op is PUT.
    Returns 0, or -1 when out of memory or a length is out of bounds (the
    record is then unchanged). */
int
    kvp_change_add (kvp_change_t *self, kvp_change_op_t op,
                    kvp_change_table_t table, const void *key,
                    size_t key_len, const void *val, size_t val_len);

/*  Take back every change appended since the record was `mark` (a copy of
    the fields taken then; its data pointer is not used). */
void
    kvp_change_truncate (kvp_change_t *self, const kvp_change_t *mark);

/*  Which partition a change belongs to, from its bytes alone: the first
    2 key bytes (big-endian) of systems, items, log and keys; for meta, a
    PUT or DEL of a 2-byte key (a partition record); for logbody, a PUT's
    first 2 value bytes (a body's key is a worker-global number). Returns
    0..65535, or KVP_CHANGE_NOPART: a global value of meta ("\xff\xff" +
    name), any CLEAR of meta or logbody, a DEL of a body (its bytes do not
    say whose it was), or a key or value too short to tell. */
#define KVP_CHANGE_NOPART       (-1)

int
    kvp_change_part (kvp_change_op_t op, kvp_change_table_t table,
                     const void *key, size_t key_len, const void *val,
                     size_t val_len);

/*  Where the piece of a record that starts at change offset `at` ends:
    whole changes, about `max` bytes (at least one change, so more when
    one change is larger), never parting a job's index entry (a PUT of
    the log table) from the change after it, its body (kvp_store_apply
    takes them only together). Returns `size` at the record's end, or when
    what follows `at` does not decode. */
size_t
    kvp_change_piece (const void *data, size_t size, size_t at, size_t max);

/*  Called once per change by kvp_change_each; non-zero stops the walk and
    is returned by it. */
typedef int (kvp_change_fn) (void *arg, kvp_change_op_t op,
                             kvp_change_table_t table, const void *key,
                             size_t key_len, const void *val,
                             size_t val_len);

/*  Check a whole record, then call fn for each change in order. A record
    that does not decode is KVP_STORE_CORRUPT and fn is never called, so a
    bad record is never half applied. */
int
    kvp_change_each (const void *data, size_t size, kvp_change_fn *fn,
                     void *arg);

#ifdef __cplusplus
}
#endif
#endif
