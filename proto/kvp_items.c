/*  kvp_items.c - decode and validate the `items` array of an item op. */
#include <string.h>
#include "kvp_items.h"
#include "kvp_rc.h"

/*  What every item check needs. */
typedef struct {
    kvp_fault_t *fault;
    kvp_cim_t *cim;
    bool remove;                /* RemoveKvpItems rules */
} s_ctx_t;

static const char *s_parts [3] = { "Name", "Data", "Source" };

/*  Find Name, Data and Source in a map item; other keys are ignored. */
static void
s_find_parts (s_ctx_t *ctx, size_t index, const msgpack_object_map *map,
              const msgpack_object *found [3])
{
    for (uint32_t i = 0; i < map->size; i++) {
        const msgpack_object *key = &map->ptr [i].key;
        if (key->type != MSGPACK_OBJECT_STR)
            continue;
        for (int p = 0; p < 3; p++) {
            if (key->via.str.size != strlen (s_parts [p])
            ||  memcmp (key->via.str.ptr, s_parts [p], key->via.str.size))
                continue;
            if (found [p])
                kvp_fault_value (ctx->fault, "items[%zu].%s: given twice",
                                 index, s_parts [p]);
            else
                found [p] = &map->ptr [i].val;
        }
    }
}

/*  Fill `item` from a map item {Name, Data, Source}. Returns true when
    every required part is there with the right type, so its values can
    be checked. */
static bool
s_item_map (s_ctx_t *ctx, size_t index, const msgpack_object_map *map,
            kvp_item_t *item, uint64_t *source)
{
    const msgpack_object *found [3] = { NULL, NULL, NULL };
    s_find_parts (ctx, index, map, found);
    bool complete = true;
    for (int p = 0; p < 3; p++) {
        msgpack_object_type want = p == 2? MSGPACK_OBJECT_POSITIVE_INTEGER
                                         : MSGPACK_OBJECT_STR;
        if (found [p] && found [p]->type != want) {
            kvp_fault_type (ctx->fault, "items[%zu].%s: expected %s", index,
                            s_parts [p], p == 2? "uint": "str");
            complete = false;
        }
        else
        if (!found [p] && !(p == 1 && ctx->remove)) {
            kvp_fault_value (ctx->fault, "items[%zu].%s: missing", index,
                             s_parts [p]);
            complete = false;
        }
    }
    if (!complete)
        return false;
    item->name = found [0]->via.str.ptr;
    item->name_len = found [0]->via.str.size;
    item->data = found [1]? found [1]->via.str.ptr: NULL;
    item->data_len = found [1]? found [1]->via.str.size: 0;
    *source = found [2]->via.u64;
    return true;
}

/*  Fill `item` from a CIM-XML embedded instance. */
static bool
s_item_cim (s_ctx_t *ctx, size_t index, const msgpack_object_str *xml,
            kvp_item_t *item, uint64_t *source)
{
    const char *name, *data;
    size_t name_len, data_len;
    int rc = kvp_cim_parse (ctx->cim, xml->ptr, xml->size, &name, &name_len,
                            &data, &data_len, source);
    if (rc == KVP_RC_INCORRECT_TYPE)
        kvp_fault_type (ctx->fault, "items[%zu]: %s", index,
                        kvp_cim_error (ctx->cim));
    else
    if (rc != 0)
        kvp_fault_value (ctx->fault, "items[%zu]: %s", index,
                         kvp_cim_error (ctx->cim));
    if (rc != 0)
        return false;
    //  Bounded by the CIM parser's value limit, far below 4 GiB
    item->name = name;
    item->name_len = (uint32_t) name_len;
    item->data = data;
    item->data_len = (uint32_t) data_len;
    return true;
}

/*  The value rules of one decoded item. */
static void
s_item_values (s_ctx_t *ctx, size_t index, kvp_item_t *item, uint64_t source)
{
    if (source != KVP_SOURCE_HOST && source != KVP_SOURCE_HOSTONLY) {
        kvp_fault_value (ctx->fault, "items[%zu].Source: must be 0 or 4",
                         index);
        return;
    }
    item->source = (uint32_t) source;
    kvp_fault_check_text (ctx->fault, "Name", (long) index, item->name,
                          item->name_len, 1, KVP_NAME_MAX);
    if (ctx->remove) {
        //  Remove matches by (Source, Name): its Data is ignored unseen
        item->data = NULL;
        item->data_len = 0;
        return;
    }
    size_t max = source == KVP_SOURCE_HOST? KVP_DATA_MAX_HOST
                                          : KVP_DATA_MAX_ONLY;
    kvp_fault_check_text (ctx->fault, "Data", (long) index, item->data,
                          item->data_len, 0, max);
}

static void
s_item (s_ctx_t *ctx, size_t index, const msgpack_object *value,
        kvp_item_t *item)
{
    uint64_t source = 0;
    bool decoded = false;
    *item = (kvp_item_t) { 0 };
    if (value->type == MSGPACK_OBJECT_MAP)
        decoded = s_item_map (ctx, index, &value->via.map, item, &source);
    else
    if (value->type == MSGPACK_OBJECT_STR)
        decoded = s_item_cim (ctx, index, &value->via.str, item, &source);
    else
        kvp_fault_type (ctx->fault, "items[%zu]: expected map or str", index);
    if (decoded)
        s_item_values (ctx, index, item, source);
}

/*  Order of two items by (Source, Name bytewise). */
static int
s_item_cmp (const kvp_item_t *a, const kvp_item_t *b)
{
    if (a->source != b->source)
        return a->source < b->source? -1: 1;
    size_t common = a->name_len < b->name_len? a->name_len: b->name_len;
    int diff = common? memcmp (a->name, b->name, common): 0;
    if (diff)
        return diff;
    return a->name_len < b->name_len? -1: a->name_len > b->name_len;
}

/*  Sort item indexes by (Source, Name) (stable insertion sort: n <= 128,
    and no allocation). */
static void
s_sort (kvp_items_t *out)
{
    for (size_t i = 0; i < out->count; i++) {
        size_t j = i;
        while (j > 0 && s_item_cmp (&out->items [out->order [j - 1]],
                                    &out->items [i]) > 0) {
            out->order [j] = out->order [j - 1];
            j--;
        }
        out->order [j] = (uint8_t) i;
    }
}

/*  After sorting, report the first duplicate in request order: in a run
    of equal items (kept in request order by the stable sort) it is the
    run's second index. */
static void
s_find_duplicate (kvp_items_t *out, kvp_fault_t *fault)
{
    size_t first = out->count;
    for (size_t i = 1; i < out->count; i++) {
        const kvp_item_t *prev = &out->items [out->order [i - 1]];
        bool run_starts = i == 1
            || s_item_cmp (&out->items [out->order [i - 2]], prev) != 0;
        if (run_starts && s_item_cmp (prev, &out->items [out->order [i]]) == 0
        &&  out->order [i] < first)
            first = out->order [i];
    }
    if (first == out->count)
        return;
    const kvp_item_t *dup = &out->items [first];
    char quoted [KVP_QUOTE_MAX + 8];
    kvp_fault_value (fault, "items[%zu]: duplicate (Source %u, Name \"%s\")",
                     first, (unsigned) dup->source,
                     kvp_fault_quote (quoted, sizeof quoted, dup->name,
                                      dup->name_len));
}

void
kvp_items_check (kvp_items_t *out, const msgpack_object *value, bool remove,
                 kvp_cim_t *cim, kvp_fault_t *fault)
{
    out->count = 0;
    if (value->type != MSGPACK_OBJECT_ARRAY) {
        kvp_fault_type (fault, "items: expected array");
        return;
    }
    s_ctx_t ctx = { fault, cim, remove };
    size_t count = value->via.array.size;
    if (count == 0)
        kvp_fault_value (fault, "items: empty");
    else
    if (count > KVP_ITEMS_MAX)
        kvp_fault_value (fault, "items: %zu items, at most %d", count,
                         KVP_ITEMS_MAX);
    //  Items past the limit are still walked: a wrong type among them
    //  outranks the bad count
    for (size_t i = 0; i < count && !fault->type; i++) {
        kvp_item_t item;
        s_item (&ctx, i, &value->via.array.ptr [i], &item);
        if (i < KVP_ITEMS_MAX)
            out->items [i] = item;
    }
    out->count = count < KVP_ITEMS_MAX? count: KVP_ITEMS_MAX;
    if (fault->type || fault->value)
        return;
    s_sort (out);
    s_find_duplicate (out, fault);
}
