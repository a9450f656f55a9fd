/*  fuzz_request.c - libFuzzer target for kvp_request_decode.

    Beyond "does not crash", it checks what the rest of the system relies
    on: a known return code with an error text exactly when it fails, an
    error text that is valid UTF-8 (clients decode it strictly), and on
    success items within every bound, a lower-case GUID target, a digest,
    and a reply that can be encoded.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <msgpack.h>
#include "kvp_request.h"
#include "kvp_reply.h"
#include "kvp_rc.h"
#include "kvp_utf8.h"

#define CHECK(cond) do { if (!(cond)) __builtin_trap (); } while (0)

static void
s_check_items (kvp_request_t *request)
{
    size_t count;
    const kvp_item_t *items = kvp_request_items (request, &count);
    CHECK (items && count >= 1 && count <= KVP_ITEMS_MAX);
    bool remove = kvp_request_op (request) == KVP_OP_REMOVE_KVP_ITEMS;
    for (size_t i = 0; i < count; i++) {
        const kvp_item_t *item = &items [i];
        CHECK (item->source == 0 || item->source == 4);
        CHECK (item->name_len >= 1 && item->name_len <= KVP_NAME_MAX);
        CHECK (!memchr (item->name, 0, item->name_len));
        CHECK (kvp_utf8_valid (item->name, item->name_len));
        size_t max = item->source == 0? KVP_DATA_MAX_HOST: KVP_DATA_MAX_ONLY;
        CHECK (item->data_len <= max && (!remove || item->data_len == 0));
        CHECK (kvp_utf8_valid (item->data, item->data_len));
        for (size_t j = 0; j < i; j++)
            CHECK (items [j].source != item->source
                || items [j].name_len != item->name_len
                || memcmp (items [j].name, item->name, item->name_len) != 0);
    }
}

static void
s_check_success (kvp_request_t *request)
{
    kvp_op_t op = kvp_request_op (request);
    CHECK ((unsigned) op < KVP_OP_COUNT);
    CHECK (strcmp (kvp_request_error (request), "") == 0);
    const kvp_guid_t *target = kvp_request_target (request);
    if (target && (op != KVP_OP_DEFINE_SYSTEM || kvp_request_has_id (request))) {
        kvp_guid_t again;
        CHECK (kvp_guid_parse (&again, target->text, KVP_GUID_LEN));
        CHECK (strcmp (again.text, target->text) == 0);
    }
    if (kvp_op_items (op))
        s_check_items (request);
    if (op == KVP_OP_GET_EVENTS) {
        uint64_t from;
        uint32_t limit;
        kvp_request_events (request, NULL, &from, &limit);
        CHECK (from >= 1 && limit >= 1 && limit <= KVP_PAGE_LIMIT_MAX);
    }
    if (op == KVP_OP_GET_KVP_ITEMS) {
        uint32_t limit;
        const kvp_after_t *after;
        kvp_request_page (request, &limit, &after);
        CHECK (limit >= 1 && limit <= KVP_PAGE_LIMIT_MAX);
        if (after)
            CHECK (after->name_len >= 1 && after->name_len <= KVP_NAME_MAX
                && !memchr (after->name, 0, after->name_len)
                && kvp_utf8_valid (after->name, after->name_len));
    }
    size_t len;
    if (op == KVP_OP_DEFINE_SYSTEM) {
        const char *name = kvp_request_name (request, &len);
        CHECK (name && len >= 1 && len <= KVP_ELEMENT_MAX);
        CHECK (kvp_utf8_valid (name, len));
    }
    if (kvp_request_key (request, &len))
        CHECK (len >= 1 && len <= KVP_KEY_MAX);
    uint8_t digest [16];
    kvp_request_digest (request, digest);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    static kvp_request_t *request;
    static msgpack_sbuffer reply;
    if (!request) {
        request = kvp_request_new ();
        msgpack_sbuffer_init (&reply);
    }
    int rc = kvp_request_decode (request, data, size);
    const char *error = kvp_request_error (request);
    CHECK (rc == 0 || rc == KVP_RC_INVALID_PARAM || rc == KVP_RC_NOT_SUPPORTED
        || rc == KVP_RC_INCORRECT_TYPE);
    CHECK ((rc == 0) == (error [0] == 0));
    CHECK (kvp_utf8_valid (error, strlen (error)));
    const kvp_rid_t *rid = kvp_request_rid (request);
    if (rid->type == KVP_RID_STR)
        CHECK (rid->len <= size && (const uint8_t *) rid->str >= data
            && (const uint8_t *) rid->str + rid->len <= data + size);
    if (rc == 0)
        s_check_success (request);
    kvp_reply_status (&reply, rid, (unsigned) rc, error);
    CHECK (reply.size > 0);
    return 0;
}
