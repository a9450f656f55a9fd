/*  kvp_change.c - the changes of one batch (see kvp_change.h). */
#include <stdlib.h>
#include <string.h>
#include "kvp_change.h"
#include "kvp_store.h"

#define S_HEAD      4           //  op table key_len(2)
#define S_VLEN      4           //  value_len, PUT only

static void
s_put_u16 (uint8_t *p, size_t value)
{
    p [0] = (uint8_t) (value >> 8);
    p [1] = (uint8_t) value;
}

static void
s_put_u32 (uint8_t *p, size_t value)
{
    s_put_u16 (p, value >> 16);
    s_put_u16 (p + 2, value & 0xffff);
}

static size_t
s_get_u16 (const uint8_t *p)
{
    return ((size_t) p [0] << 8) | p [1];
}

static size_t
s_get_u32 (const uint8_t *p)
{
    return (s_get_u16 (p) << 16) | s_get_u16 (p + 2);
}

void
kvp_change_init (kvp_change_t *self)
{
    memset (self, 0, sizeof *self);
}

void
kvp_change_fini (kvp_change_t *self)
{
    free (self->data);
    kvp_change_init (self);
}

//  Make room for `more` bytes, doubling
static int
s_reserve (kvp_change_t *self, size_t more)
{
    if (self->cap - self->size >= more)
        return 0;
    size_t cap = self->cap? self->cap: 4096;
    while (cap - self->size < more)
        cap *= 2;
    uint8_t *data = (uint8_t *) realloc (self->data, cap);
    if (!data)
        return -1;
    self->data = data;
    self->cap = cap;
    return 0;
}

int
kvp_change_add (kvp_change_t *self, kvp_change_op_t op,
                kvp_change_table_t table, const void *key, size_t key_len,
                const void *val, size_t val_len)
{
    bool put = op == KVP_CHANGE_PUT;
    if (!put)
        val_len = 0;
    if (op < KVP_CHANGE_PUT || op > KVP_CHANGE_CLEAR
    ||  table >= KVP_TABLE_COUNT || !key || key_len == 0
    ||  key_len > KVP_CHANGE_KEY_MAX || val_len > KVP_CHANGE_VALUE_MAX
    ||  (val_len && !val))
        return -1;
    size_t size = S_HEAD + (put? S_VLEN: 0) + key_len + val_len;
    if (s_reserve (self, size))
        return -1;
    uint8_t *p = self->data + self->size;
    p [0] = (uint8_t) op;
    p [1] = (uint8_t) table;
    s_put_u16 (p + 2, key_len);
    p += S_HEAD;
    if (put) {
        s_put_u32 (p, val_len);
        p += S_VLEN;
    }
    memcpy (p, key, key_len);
    if (val_len)
        memcpy (p + key_len, val, val_len);
    self->size += size;
    self->count++;
    if (put)
        self->puts += key_len + val_len;
    return 0;
}

void
kvp_change_truncate (kvp_change_t *self, const kvp_change_t *mark)
{
    if (mark->size <= self->size) {
        self->size = mark->size;
        self->count = mark->count;
        self->puts = mark->puts;
    }
}

int
kvp_change_part (kvp_change_op_t op, kvp_change_table_t table,
                 const void *key, size_t key_len, const void *val,
                 size_t val_len)
{
    const uint8_t *bytes = (const uint8_t *) key;
    if (table == KVP_TABLE_META)
        //  A partition record is exactly 2 bytes; a CLEAR of "pp" would
        //  reach the global values too ("\xff\xff" + name)
        return op != KVP_CHANGE_CLEAR && key_len == 2
             ? (int) s_get_u16 (bytes): KVP_CHANGE_NOPART;
    if (table == KVP_TABLE_LOGBODY)
        return op == KVP_CHANGE_PUT && val_len >= 2
             ? (int) s_get_u16 ((const uint8_t *) val): KVP_CHANGE_NOPART;
    if (table >= KVP_TABLE_COUNT || key_len < 2)
        return KVP_CHANGE_NOPART;
    return (int) s_get_u16 (bytes);
}

//  Decode the change at `p` (`left` bytes remain); its length in *used,
//  or 0 when it does not decode
typedef struct {
    kvp_change_op_t op;
    kvp_change_table_t table;
    const uint8_t *key, *val;
    size_t key_len, val_len;
} s_change_t;

static size_t
s_decode (const uint8_t *p, size_t left, s_change_t *change)
{
    if (left < S_HEAD || p [0] < KVP_CHANGE_PUT || p [0] > KVP_CHANGE_CLEAR
    ||  p [1] >= KVP_TABLE_COUNT)
        return 0;
    change->op = (kvp_change_op_t) p [0];
    change->table = (kvp_change_table_t) p [1];
    change->key_len = s_get_u16 (p + 2);
    size_t head = S_HEAD;
    change->val_len = 0;
    if (change->op == KVP_CHANGE_PUT) {
        if (left < S_HEAD + S_VLEN)
            return 0;
        change->val_len = s_get_u32 (p + S_HEAD);
        head += S_VLEN;
    }
    if (change->key_len == 0 || change->key_len > KVP_CHANGE_KEY_MAX
    ||  change->val_len > KVP_CHANGE_VALUE_MAX
    ||  left - head < change->key_len
    ||  left - head - change->key_len < change->val_len)
        return 0;
    change->key = p + head;
    change->val = change->key + change->key_len;
    return head + change->key_len + change->val_len;
}

size_t
kvp_change_piece (const void *data, size_t size, size_t at, size_t max)
{
    const uint8_t *bytes = (const uint8_t *) data;
    s_change_t change;
    size_t end = at;
    while (end < size) {
        size_t used = s_decode (bytes + end, size - end, &change);
        if (used == 0)
            return size;
        size_t next = end + used;
        if (change.op == KVP_CHANGE_PUT && change.table == KVP_TABLE_LOG
        &&  next < size) {
            s_change_t body;
            size_t more = s_decode (bytes + next, size - next, &body);
            if (more == 0)
                return size;
            next += more;               //  its body with it
        }
        if (end > at && next - at > max)
            break;
        end = next;
    }
    return end;
}

int
kvp_change_each (const void *data, size_t size, kvp_change_fn *fn, void *arg)
{
    const uint8_t *bytes = (const uint8_t *) data;
    s_change_t change;
    if (!bytes && size)
        return KVP_STORE_CORRUPT;
    //  Check everything first: a bad record is refused whole
    for (size_t at = 0, used; at < size; at += used)
        if ((used = s_decode (bytes + at, size - at, &change)) == 0)
            return KVP_STORE_CORRUPT;
    int rc = 0;
    for (size_t at = 0; at < size && rc == 0; ) {
        at += s_decode (bytes + at, size - at, &change);
        rc = fn (arg, change.op, change.table, change.key, change.key_len,
                 change.val, change.val_len);
    }
    return rc;
}
