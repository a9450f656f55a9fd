/*  test_route.c - the broker's light scan (kvp_route): what it finds in
    valid bodies, every case where it must leave the body to the full
    decode, hostile bytes, and that whenever it accepts a body the full
    decode (kvp_request_decode) agrees on op, rid and routing key.
*/
#include <check.h>
#include "kvp_testkit.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <msgpack.h>
#include "kvp_route.h"
#include "kvp_request.h"
#include "kvp_mpcheck.h"
#include "kvp_guid.h"
#include "kvp_rc.h"

#define GUID    "0b5f4e3a-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
#define GUID_UC "0B5F4E3A-1C2D-4E5F-8A9B-0C1D2E3F4A5B"
#define WMI     "\\\\HOST\\root\\virtualization\\v2:Msvm_ComputerSystem." \
                "CreationClassName=\"Msvm_ComputerSystem\",Name=\"" GUID_UC "\""

static kvp_request_t *s_request;

static void
s_setup (void)
{
    s_request = kvp_request_new ();
    ck_assert_ptr_nonnull (s_request);
}

static void
s_teardown (void)
{
    kvp_request_destroy (&s_request);
}

//  --------------------------------------------------------------------------
//  Building bodies

typedef struct {
    msgpack_sbuffer sbuf;
    msgpack_packer pk;
} s_body_t;

static void
s_begin (s_body_t *body, uint32_t pairs)
{
    msgpack_sbuffer_init (&body->sbuf);
    msgpack_packer_init (&body->pk, &body->sbuf, msgpack_sbuffer_write);
    msgpack_pack_map (&body->pk, pairs);
}

static void
s_end (s_body_t *body)
{
    msgpack_sbuffer_destroy (&body->sbuf);
}

static void
s_str (s_body_t *body, const char *text)
{
    size_t len = strlen (text);
    msgpack_pack_str (&body->pk, len);
    msgpack_pack_str_body (&body->pk, text, len);
}

static void
s_kv_str (s_body_t *body, const char *key, const char *value)
{
    s_str (body, key);
    s_str (body, value);
}

static void
s_kv_uint (s_body_t *body, const char *key, uint64_t value)
{
    s_str (body, key);
    msgpack_pack_uint64 (&body->pk, value);
}

//  `items`: an array of `count` valid item maps.
static void
s_kv_items (s_body_t *body, unsigned count)
{
    s_str (body, "items");
    msgpack_pack_array (&body->pk, count);
    for (unsigned i = 0; i < count; i++) {
        char name [32];
        snprintf (name, sizeof name, "name-%u", i);
        msgpack_pack_map (&body->pk, 3);
        s_kv_str (body, "Name", name);
        s_kv_str (body, "Data", "some data");
        s_kv_uint (body, "Source", 0);
    }
}

//  --------------------------------------------------------------------------
//  The contract: accepted means the full decode agrees

/*  Scan `len` bytes; if accepted, check the full decode against it:
    structure fine, op and rid equal, same routing key, and any fault it
    finds is one the worker answers (a field other than op, rid and the
    routing key, of the kind 32773 or 32776). Returns the scan's verdict. */
static const char *
s_scan (kvp_route_t *route, const void *body, size_t len)
{
    const char *why = kvp_route_scan (route, body, len);
    if (why)
        return why;
    ck_assert (len > 0 && len <= KVP_BODY_MAX);
    ck_assert_ptr_null (kvp_mpcheck_scan (body, len, KVP_MPCHECK_DEPTH));
    int rc = kvp_request_decode (s_request, body, len);
    ck_assert_msg (rc == KVP_RC_OK || rc == KVP_RC_INVALID_PARAM
                   || rc == KVP_RC_INCORRECT_TYPE, "decode gave %d", rc);
    ck_assert_int_eq (kvp_request_op (s_request), route->op);
    const kvp_rid_t *rid = kvp_request_rid (s_request);
    ck_assert_int_eq (rid->type, route->rid.type);
    ck_assert_uint_eq (rid->uint, route->rid.uint);
    ck_assert_uint_eq (rid->len, route->rid.len);
    ck_assert_ptr_eq (rid->str, route->rid.str);
    const char *error = kvp_request_error (s_request);
    ck_assert_msg (strncmp (error, "rid", 3) != 0, "%s", error);
    kvp_op_route_t by = kvp_op_route (route->op);
    ck_assert (by != KVP_BY_BROKER);
    //  The decoded request routes the same way, to the same partition.
    kvp_route_t decoded;
    kvp_route_from_request (&decoded, s_request);
    ck_assert_int_eq (decoded.op, route->op);
    ck_assert_int_eq (decoded.has_guid, route->has_guid);
    for (uint32_t nparts = 1; nparts <= 65536; nparts *= 4)
        ck_assert_uint_eq (kvp_route_partition (&decoded, nparts),
                           kvp_route_partition (route, nparts));
    if (by == KVP_BY_PARTITION) {
        uint64_t partition;
        kvp_request_events (s_request, &partition, NULL, NULL);
        ck_assert (!route->has_guid);
        ck_assert_uint_eq (partition, route->partition);
        ck_assert_msg (!strstr (error, "partition"), "%s", error);
    }
    else
    if (by == KVP_BY_JOB) {
        uint32_t part, epoch;
        uint64_t seq;
        kvp_request_job_parts (s_request, &part, &epoch, &seq);
        ck_assert (!route->has_guid);
        ck_assert_uint_eq (part, route->partition);
        ck_assert_uint_eq (epoch, route->job_epoch);
        ck_assert_uint_eq (seq, route->job_seq);
        ck_assert_msg (!strstr (error, "job"), "%s", error);
    }
    else {
        ck_assert (route->has_guid);
        ck_assert_str_eq (kvp_request_target (s_request)->text,
                          route->guid.text);
        ck_assert_msg (!strstr (error, "target") && strncmp (error, "id", 2),
                       "%s", error);
        if (by == KVP_BY_ID)
            ck_assert (kvp_request_has_id (s_request));
    }
    return NULL;
}

static const char *
s_scan_body (kvp_route_t *route, s_body_t *body)
{
    return s_scan (route, body->sbuf.data, body->sbuf.size);
}

//  --------------------------------------------------------------------------
//  Valid bodies

START_TEST (test_item_ops)
{
    const char *ops [] = { "AddKvpItems", "ModifyKvpItems", "RemoveKvpItems" };
    for (size_t i = 0; i < 3; i++) {
        s_body_t body;
        s_begin (&body, 5);
        s_kv_str (&body, "op", ops [i]);
        s_kv_uint (&body, "rid", 12345);
        s_kv_str (&body, "target", GUID);
        s_kv_items (&body, 16);
        s_kv_str (&body, "key", "retry-1");
        kvp_route_t route;
        ck_assert_ptr_null (s_scan_body (&route, &body));
        ck_assert_int_eq (kvp_request_decode (s_request, body.sbuf.data,
                                              body.sbuf.size), KVP_RC_OK);
        ck_assert_int_eq (route.op, kvp_op_lookup (ops [i], strlen (ops [i])));
        ck_assert_int_eq (route.rid.type, KVP_RID_UINT);
        ck_assert_uint_eq (route.rid.uint, 12345);
        ck_assert (route.has_guid);
        ck_assert_str_eq (route.guid.text, GUID);
        s_end (&body);
    }
}
END_TEST

//  Keys in any order, the routing key first or last, a WMI path, rid as a
//  str or absent, keys in the longer str encodings.
START_TEST (test_orders_and_forms)
{
    s_body_t body;
    kvp_route_t route;
    //  items before op, target last, a str rid
    s_begin (&body, 4);
    s_kv_items (&body, 128);
    s_kv_str (&body, "rid", "request-7");
    s_kv_str (&body, "op", "ModifyKvpItems");
    s_kv_str (&body, "target", WMI);
    ck_assert_ptr_null (s_scan_body (&route, &body));
    ck_assert_int_eq (route.op, KVP_OP_MODIFY_KVP_ITEMS);
    ck_assert_int_eq (route.rid.type, KVP_RID_STR);
    ck_assert_uint_eq (route.rid.len, 9);
    ck_assert_int_eq (memcmp (route.rid.str, "request-7", 9), 0);
    ck_assert_str_eq (route.guid.text, GUID);       //  lower-cased
    s_end (&body);
    //  no rid; unknown keys of every kind are stepped over
    s_begin (&body, 6);
    s_kv_str (&body, "target", GUID_UC);
    s_str (&body, "x-nested");
    msgpack_pack_array (&body.pk, 2);
    msgpack_pack_map (&body.pk, 1);
    s_kv_str (&body, "deep", "value");
    msgpack_pack_bin (&body.pk, 3);
    msgpack_pack_bin_body (&body.pk, "abc", 3);
    s_str (&body, "x-float");
    msgpack_pack_double (&body.pk, 1.5);
    s_str (&body, "x-neg");
    msgpack_pack_int64 (&body.pk, -1234567);
    s_str (&body, "x-ext");
    msgpack_pack_ext (&body.pk, 5, 7);
    msgpack_pack_ext_body (&body.pk, "12345", 5);
    s_kv_str (&body, "op", "GetSystem");
    ck_assert_ptr_null (s_scan_body (&route, &body));
    ck_assert_int_eq (route.op, KVP_OP_GET_SYSTEM);
    ck_assert_int_eq (route.rid.type, KVP_RID_NONE);
    ck_assert_str_eq (route.guid.text, GUID);
    s_end (&body);
    //  str8/str16 keys and values, map16 at the top, the widest uint rid
    static const uint8_t raw [] = {
        0xde, 0x00, 0x03,
        0xd9, 0x02, 'o', 'p',
        0xda, 0x00, 0x0d, 'D', 'e', 's', 't', 'r', 'o', 'y', 'S', 'y', 's',
                          't', 'e', 'm',
        0xd9, 0x03, 'r', 'i', 'd',
        0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xd9, 0x06, 't', 'a', 'r', 'g', 'e', 't',
        0xd9, 0x24, '0', 'b', '5', 'f', '4', 'e', '3', 'a', '-', '1', 'c',
        '2', 'd', '-', '4', 'e', '5', 'f', '-', '8', 'a', '9', 'b', '-', '0',
        'c', '1', 'd', '2', 'e', '3', 'f', '4', 'a', '5', 'b'
    };
    ck_assert_ptr_null (s_scan (&route, raw, sizeof raw));
    ck_assert_int_eq (route.op, KVP_OP_DESTROY_SYSTEM);
    ck_assert_int_eq (route.rid.type, KVP_RID_UINT);
    ck_assert_uint_eq (route.rid.uint, UINT64_MAX);
    ck_assert_str_eq (route.guid.text, GUID);
}
END_TEST

START_TEST (test_other_routed_ops)
{
    s_body_t body;
    kvp_route_t route;
    //  DefineSystem with an id routes by it
    s_begin (&body, 3);
    s_kv_str (&body, "op", "DefineSystem");
    s_kv_str (&body, "name", "vm-1");
    s_kv_str (&body, "id", GUID_UC);
    ck_assert_ptr_null (s_scan_body (&route, &body));
    ck_assert_int_eq (route.op, KVP_OP_DEFINE_SYSTEM);
    ck_assert_str_eq (route.guid.text, GUID);
    s_end (&body);
    //  GetJob routes by the job id's partition
    char job [KVP_JOBID_MAX + 1];
    kvp_jobid_format (job, 17, 0xabcdef01, 99);
    s_begin (&body, 3);
    s_kv_str (&body, "job", job);
    s_kv_uint (&body, "rid", 0);
    s_kv_str (&body, "op", "GetJob");
    ck_assert_ptr_null (s_scan_body (&route, &body));
    ck_assert_int_eq (route.op, KVP_OP_GET_JOB);
    ck_assert (!route.has_guid);
    ck_assert_uint_eq (route.partition, 17);
    ck_assert_uint_eq (kvp_route_partition (&route, 64), 17);
    ck_assert_uint_eq (kvp_route_partition (&route, 17), KVP_ROUTE_NONE);
    ck_assert_uint_eq (route.job_epoch, 0xabcdef01);
    ck_assert_uint_eq (route.job_seq, 99);
    ck_assert_int_eq (route.rid.type, KVP_RID_UINT);
    s_end (&body);
    //  GetEvents routes by `partition` as given; its other fields are
    //  the worker's to check
    s_begin (&body, 4);
    s_kv_str (&body, "op", "GetEvents");
    s_kv_uint (&body, "from", 0);
    s_kv_uint (&body, "partition", 70000);
    s_kv_str (&body, "rid", "r");
    ck_assert_ptr_null (s_scan_body (&route, &body));
    ck_assert_int_eq (route.op, KVP_OP_GET_EVENTS);
    ck_assert (!route.has_guid);
    ck_assert_uint_eq (route.partition, 70000);
    ck_assert_uint_eq (kvp_route_partition (&route, 65535), KVP_ROUTE_NONE);
    ck_assert_uint_eq (kvp_route_partition (&route, 0), KVP_ROUTE_NONE);
    ck_assert_int_eq (kvp_request_decode (s_request, body.sbuf.data,
                                          body.sbuf.size),
                      KVP_RC_INVALID_PARAM);           //  from 0
    s_end (&body);
    //  the rest of the TARGET ops
    const char *ops [] = { "DestroySystem", "ModifySystemSettings",
                           "GetKvpItems", "GetSystem" };
    for (size_t i = 0; i < 4; i++) {
        s_begin (&body, 2);
        s_kv_str (&body, "op", ops [i]);
        s_kv_str (&body, "target", GUID);
        ck_assert_ptr_null (s_scan_body (&route, &body));
        ck_assert_str_eq (route.guid.text, GUID);
        s_end (&body);
    }
}
END_TEST

//  A routing key that is fine with a fault elsewhere: accepted (the worker
//  answers the fault), and the fault is what the full decode finds.
START_TEST (test_worker_faults)
{
    s_body_t body;
    kvp_route_t route;
    //  items of the wrong type: 32776
    s_begin (&body, 3);
    s_kv_str (&body, "op", "AddKvpItems");
    s_kv_str (&body, "target", GUID);
    s_kv_uint (&body, "items", 5);
    ck_assert_ptr_null (s_scan_body (&route, &body));
    ck_assert_int_eq (kvp_request_decode (s_request, body.sbuf.data,
                                          body.sbuf.size),
                      KVP_RC_INCORRECT_TYPE);
    s_end (&body);
    //  items missing, items given twice, a bad key: 32773
    for (int variant = 0; variant < 3; variant++) {
        s_begin (&body, variant == 0 ? 2 : 4);
        s_kv_str (&body, "op", "RemoveKvpItems");
        s_kv_str (&body, "target", GUID);
        if (variant == 1) {
            s_kv_items (&body, 1);
            s_kv_items (&body, 2);
        }
        if (variant == 2) {
            s_kv_items (&body, 1);
            s_kv_str (&body, "key", "");
        }
        ck_assert_ptr_null (s_scan_body (&route, &body));
        ck_assert_int_eq (kvp_request_decode (s_request, body.sbuf.data,
                                              body.sbuf.size),
                          KVP_RC_INVALID_PARAM);
        s_end (&body);
    }
    //  DefineSystem with an id and a name of the wrong type
    s_begin (&body, 3);
    s_kv_str (&body, "op", "DefineSystem");
    s_kv_str (&body, "id", GUID);
    s_kv_uint (&body, "name", 3);
    ck_assert_ptr_null (s_scan_body (&route, &body));
    ck_assert_int_eq (kvp_request_decode (s_request, body.sbuf.data,
                                          body.sbuf.size),
                      KVP_RC_INCORRECT_TYPE);
    s_end (&body);
}
END_TEST

//  --------------------------------------------------------------------------
//  Left to the full decode

/*  A body of {op, then one more pair made by `extra`}; checks that the
    scan refuses it and returns the full decode's rc for it. */
typedef void (s_extra_fn) (s_body_t *body);

static int
s_refused (const char *op, uint32_t pairs, s_extra_fn *extra)
{
    s_body_t body;
    s_begin (&body, pairs);
    if (op)
        s_kv_str (&body, "op", op);
    if (extra)
        extra (&body);
    kvp_route_t route;
    const char *why = kvp_route_scan (&route, body.sbuf.data, body.sbuf.size);
    ck_assert_msg (why != NULL, "scan accepted a body for %s",
                   op ? op : "(no op)");
    ck_assert (strlen (why) > 0);
    int rc = kvp_request_decode (s_request, body.sbuf.data, body.sbuf.size);
    s_end (&body);
    return rc;
}

static void s_target (s_body_t *b) { s_kv_str (b, "target", GUID); }
static void s_target_bad (s_body_t *b) { s_kv_str (b, "target", "nope"); }
static void s_target_uint (s_body_t *b) { s_kv_uint (b, "target", 1); }
static void s_target_twice (s_body_t *b) { s_target (b); s_target (b); }
static void s_id_wmi (s_body_t *b) { s_kv_str (b, "id", WMI); }
static void s_name (s_body_t *b) { s_kv_str (b, "name", "vm"); }
static void s_job_bad (s_body_t *b) { s_kv_str (b, "job", "7.zz.1"); }
static void s_job_uint (s_body_t *b) { s_kv_uint (b, "job", 7); }
static void s_op_twice (s_body_t *b) { s_target (b); s_kv_str (b, "op", "GetSystem"); }
static void s_from (s_body_t *b) { s_kv_uint (b, "from", 1); }
static void s_part_str (s_body_t *b) { s_from (b); s_kv_str (b, "partition", "3"); }
static void s_part_twice (s_body_t *b)
{
    s_from (b);
    s_kv_uint (b, "partition", 3);
    s_kv_uint (b, "partition", 3);
}

static void
s_part_negative (s_body_t *b)
{
    s_from (b);
    s_str (b, "partition");
    msgpack_pack_int8 (&b->pk, -1);
}

static void
s_rid_array (s_body_t *b)
{
    s_target (b);
    s_str (b, "rid");
    msgpack_pack_array (&b->pk, 0);
}

static void
s_rid_nil (s_body_t *b)
{
    s_target (b);
    s_str (b, "rid");
    msgpack_pack_nil (&b->pk);
}

static void
s_rid_negative (s_body_t *b)
{
    s_target (b);
    s_str (b, "rid");
    msgpack_pack_int8 (&b->pk, -3);
}

static void
s_rid_twice (s_body_t *b)
{
    s_target (b);
    s_kv_uint (b, "rid", 1);
    s_kv_uint (b, "rid", 2);
}

static void
s_rid_bin (s_body_t *b)
{
    s_target (b);
    s_str (b, "rid");
    msgpack_pack_bin (&b->pk, 1);
    msgpack_pack_bin_body (&b->pk, "x", 1);
}

static void
s_int_key (s_body_t *b)
{
    s_target (b);
    msgpack_pack_uint8 (&b->pk, 1);
    msgpack_pack_uint8 (&b->pk, 2);
}

START_TEST (test_fallbacks)
{
    //  The op: missing, given twice, unknown, local
    ck_assert_int_eq (s_refused (NULL, 1, s_target), KVP_RC_INVALID_PARAM);
    ck_assert_int_eq (s_refused ("GetSystem", 3, s_op_twice),
                      KVP_RC_INVALID_PARAM);
    ck_assert_int_eq (s_refused ("Frobnicate", 2, s_target),
                      KVP_RC_NOT_SUPPORTED);
    ck_assert_int_eq (s_refused ("getsystem", 2, s_target),
                      KVP_RC_NOT_SUPPORTED);
    ck_assert_int_eq (s_refused ("Ping", 1, NULL), KVP_RC_OK);
    ck_assert_int_eq (s_refused ("ClusterStatus", 1, NULL), KVP_RC_OK);
    //  The routing key: missing, wrong type, bad value, given twice
    ck_assert_int_eq (s_refused ("GetSystem", 1, NULL), KVP_RC_INVALID_PARAM);
    ck_assert_int_eq (s_refused ("GetSystem", 2, s_target_uint),
                      KVP_RC_INCORRECT_TYPE);
    ck_assert_int_eq (s_refused ("AddKvpItems", 2, s_target_bad),
                      KVP_RC_INVALID_PARAM);
    ck_assert_int_eq (s_refused ("GetSystem", 3, s_target_twice),
                      KVP_RC_INVALID_PARAM);
    ck_assert_int_eq (s_refused ("GetJob", 2, s_job_bad),
                      KVP_RC_INVALID_PARAM);
    ck_assert_int_eq (s_refused ("GetJob", 2, s_job_uint),
                      KVP_RC_INCORRECT_TYPE);
    ck_assert_int_eq (s_refused ("GetJob", 2, s_target), KVP_RC_INVALID_PARAM);
    //  GetEvents: partition missing, of another type, negative, twice
    ck_assert_int_eq (s_refused ("GetEvents", 2, s_from), KVP_RC_INVALID_PARAM);
    ck_assert_int_eq (s_refused ("GetEvents", 3, s_part_str),
                      KVP_RC_INCORRECT_TYPE);
    ck_assert_int_eq (s_refused ("GetEvents", 3, s_part_negative),
                      KVP_RC_INCORRECT_TYPE);
    ck_assert_int_eq (s_refused ("GetEvents", 4, s_part_twice),
                      KVP_RC_INVALID_PARAM);
    //  DefineSystem: without id the broker makes one; an id is a GUID only
    ck_assert_int_eq (s_refused ("DefineSystem", 2, s_name), KVP_RC_OK);
    ck_assert_int_eq (s_refused ("DefineSystem", 2, s_id_wmi),
                      KVP_RC_INVALID_PARAM);
    //  rid of another type (32776 by the full decode), or given twice
    ck_assert_int_eq (s_refused ("GetSystem", 3, s_rid_array),
                      KVP_RC_INCORRECT_TYPE);
    ck_assert_int_eq (s_refused ("GetSystem", 3, s_rid_nil),
                      KVP_RC_INCORRECT_TYPE);
    ck_assert_int_eq (s_refused ("GetSystem", 3, s_rid_negative),
                      KVP_RC_INCORRECT_TYPE);
    ck_assert_int_eq (s_refused ("GetSystem", 3, s_rid_bin),
                      KVP_RC_INCORRECT_TYPE);
    ck_assert_int_eq (s_refused ("GetSystem", 4, s_rid_twice), KVP_RC_OK);
    //  a key that is not a str
    ck_assert_int_eq (s_refused ("GetSystem", 3, s_int_key), KVP_RC_OK);
}
END_TEST

/*  {op: GetSystem, target: GUID, rid: <`rid`, `len` bytes>}. */
static size_t
s_with_rid (uint8_t *out, const char *rid, size_t len)
{
    static const char head [] = "\x83\xa2op\xa9GetSystem\xa6target\xd9\x24"
                                GUID "\xa3rid";
    memcpy (out, head, sizeof head - 1);
    memcpy (out + sizeof head - 1, rid, len);
    return sizeof head - 1 + len;
}

//  A rid in a signed encoding is left to the full decode, which takes a
//  value >= 0 as a uint and refuses a negative one (32776).
START_TEST (test_signed_rid)
{
    static const struct { const char *bytes; size_t len; int rc; } rids [] = {
        { "\xd0\x05", 2, KVP_RC_OK },
        { "\xd0\xfd", 2, KVP_RC_INCORRECT_TYPE },
        { "\xd1\xff\x00", 3, KVP_RC_INCORRECT_TYPE },
        { "\xd2\x00\x00\x01\x00", 5, KVP_RC_OK },
        { "\xd3\x80\x00\x00\x00\x00\x00\x00\x00", 9, KVP_RC_INCORRECT_TYPE },
        { "\xff", 1, KVP_RC_INCORRECT_TYPE },          //  -1 as a fixint
        { "\xca\x00\x00\x00\x00", 5, KVP_RC_INCORRECT_TYPE },
        { "\xc3", 1, KVP_RC_INCORRECT_TYPE },
    };
    uint8_t buf [128];
    for (size_t i = 0; i < sizeof rids / sizeof rids [0]; i++) {
        size_t len = s_with_rid (buf, rids [i].bytes, rids [i].len);
        kvp_route_t route;
        ck_assert_ptr_nonnull (kvp_route_scan (&route, buf, len));
        ck_assert_int_eq (kvp_request_decode (s_request, buf, len),
                          rids [i].rc);
    }
    //  The unsigned encodings are read exactly.
    static const struct { const char *bytes; size_t len; uint64_t value; }
    uints [] = {
        { "\x00", 1, 0 }, { "\x7f", 1, 127 }, { "\xcc\xff", 2, 255 },
        { "\xcd\x01\x00", 3, 256 }, { "\xce\xff\xff\xff\xff", 5, 0xffffffff },
        { "\xcf\x00\x00\x00\x01\x00\x00\x00\x00", 9, 0x100000000ULL },
    };
    for (size_t i = 0; i < sizeof uints / sizeof uints [0]; i++) {
        size_t len = s_with_rid (buf, uints [i].bytes, uints [i].len);
        kvp_route_t route;
        ck_assert_ptr_null (s_scan (&route, buf, len));
        ck_assert_int_eq (route.rid.type, KVP_RID_UINT);
        ck_assert_uint_eq (route.rid.uint, uints [i].value);
    }
}
END_TEST

/*  Raw bodies the scan must refuse (whatever the full decode says). */
static void
s_refuse_raw (const void *data, size_t len)
{
    kvp_route_t route;
    ck_assert_ptr_nonnull (kvp_route_scan (&route, data, len));
}

START_TEST (test_fallback_shapes)
{
    kvp_route_t route;
    ck_assert_ptr_nonnull (kvp_route_scan (&route, NULL, 0));
    ck_assert_ptr_nonnull (kvp_route_scan (&route, "\x80", 0));
    s_refuse_raw ("\x80", 1);                       //  {} : no op
    s_refuse_raw ("\x90", 1);                       //  []
    s_refuse_raw ("\xa2op", 3);                     //  "op"
    s_refuse_raw ("\xc0", 1);                       //  nil
    s_refuse_raw ("\x05", 1);                       //  5
    s_refuse_raw ("\xc1", 1);                       //  reserved
    //  op as bin, not str
    static const char bin_op [] = "\x82\xa2op\xc4\x09GetSystem\xa6target\xa1x";
    s_refuse_raw (bin_op, sizeof bin_op - 1);
    //  a valid body, then a byte too many
    s_body_t body;
    s_begin (&body, 2);
    s_kv_str (&body, "op", "GetSystem");
    s_kv_str (&body, "target", GUID);
    ck_assert_ptr_null (s_scan_body (&route, &body));
    msgpack_pack_nil (&body.pk);
    s_refuse_raw (body.sbuf.data, body.sbuf.size);
    //  cut short at every length
    for (size_t len = 0; len + 1 < body.sbuf.size; len++)
        s_refuse_raw (body.sbuf.data, len);
    s_end (&body);
    //  over the size limit, however well-formed
    size_t big = KVP_BODY_MAX + 1;
    char *huge = calloc (1, big);
    //  {op: GetSystem, target: "abcd", x: <a str filling the rest>}
    static const char head [] = "\x83\xa2op\xa9GetSystem\xa6target\xa4"
                                "abcd\xa1x\xdb";
    size_t head_len = sizeof head - 1;
    memcpy (huge, head, head_len);
    uint32_t rest = (uint32_t) (big - head_len - 4);
    uint8_t be [4] = { (uint8_t) (rest >> 24), (uint8_t) (rest >> 16),
                       (uint8_t) (rest >> 8), (uint8_t) rest };
    memcpy (huge + head_len, be, 4);
    ck_assert_ptr_null (kvp_mpcheck_scan (huge, big, KVP_MPCHECK_DEPTH));
    s_refuse_raw (huge, big);
    free (huge);
}
END_TEST

/*  {op: GetSystem, target: GUID, x: <value nested `levels` deep>}. */
static size_t
s_nested (uint8_t *out, unsigned levels)
{
    static const char head [] = "\x83\xa2op\xa9GetSystem\xa6target\xd9\x24"
                                GUID "\xa1x";
    size_t len = sizeof head - 1;
    memcpy (out, head, len);
    for (unsigned i = 0; i < levels; i++)
        out [len++] = 0x91;                         //  [ ... ]
    out [len++] = 0x01;
    return len;
}

//  Nesting: the top map is level 1, so a value may nest 7 more; one more
//  is refused, as the full decoder's pre-scan does.
START_TEST (test_depth)
{
    uint8_t buf [256];
    kvp_route_t route;
    size_t len = s_nested (buf, KVP_MPCHECK_DEPTH - 1);
    ck_assert_ptr_null (kvp_mpcheck_scan (buf, len, KVP_MPCHECK_DEPTH));
    ck_assert_ptr_null (s_scan (&route, buf, len));
    len = s_nested (buf, KVP_MPCHECK_DEPTH);
    ck_assert_ptr_nonnull (kvp_mpcheck_scan (buf, len, KVP_MPCHECK_DEPTH));
    s_refuse_raw (buf, len);
    //  Empty containers count too.
    buf [len - 2] = 0x90;
    len--;
    ck_assert_ptr_nonnull (kvp_mpcheck_scan (buf, len, KVP_MPCHECK_DEPTH));
    s_refuse_raw (buf, len);
}
END_TEST

//  Lying lengths and reserved bytes inside values the scan only steps over.
START_TEST (test_hostile_values)
{
    static const char head [] = "\x83\xa2op\xa9GetSystem\xa6target\xd9\x24"
                                GUID "\xa1x";
    static const struct { const char *bytes; size_t len; } tails [] = {
        { "\xdd\xff\xff\xff\xff", 5 },              //  array of 2^32-1
        { "\xdf\xff\xff\xff\xff", 5 },              //  map of 2^32-1
        { "\xdb\xff\xff\xff\xff", 5 },              //  str of 4 GB
        { "\xc6\x00\x00\x00\x10" "abc", 8 },        //  bin short
        { "\xc9\x00\x00\x00\x02\x01" "a", 7 },      //  ext short
        { "\xd8\x01" "0123456789", 12 },            //  fixext 16 short
        { "\xcf\x01\x02", 3 },                      //  uint64 short
        { "\x92\x01\xc1", 3 },                      //  reserved in an array
        { "\xda\x00", 2 },                          //  length field short
        { "\x82\x01", 2 },                          //  map cut short
    };
    uint8_t buf [128];
    size_t head_len = sizeof head - 1;
    memcpy (buf, head, head_len);
    for (size_t i = 0; i < sizeof tails / sizeof tails [0]; i++) {
        memcpy (buf + head_len, tails [i].bytes, tails [i].len);
        size_t len = head_len + tails [i].len;
        ck_assert_ptr_nonnull (kvp_mpcheck_scan (buf, len, KVP_MPCHECK_DEPTH));
        s_refuse_raw (buf, len);
    }
    //  The top map itself lying about its size.
    s_refuse_raw ("\xdf\xff\xff\xff\xff\xa2op", 8);
    s_refuse_raw ("\xde\x00", 2);
}
END_TEST

/*  xorshift, for repeatable mutations. */
static uint64_t
s_rand (uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

//  Every mutation of valid bodies: never a crash or an out-of-bounds read
//  (run under ASan), never accepted where the structural pre-scan refuses,
//  and when accepted, the full decode agrees (s_scan checks).
START_TEST (test_mutations)
{
    s_body_t seeds [3];
    s_begin (&seeds [0], 5);
    s_kv_str (&seeds [0], "op", "AddKvpItems");
    s_kv_uint (&seeds [0], "rid", 300);
    s_kv_str (&seeds [0], "target", GUID);
    s_kv_items (&seeds [0], 3);
    s_kv_str (&seeds [0], "key", "k");
    s_begin (&seeds [1], 3);
    s_kv_str (&seeds [1], "rid", "r");
    s_kv_str (&seeds [1], "job", "12.0000abcd.5");
    s_kv_str (&seeds [1], "op", "GetJob");
    s_begin (&seeds [2], 3);
    s_kv_str (&seeds [2], "op", "DefineSystem");
    s_kv_str (&seeds [2], "id", GUID);
    s_kv_str (&seeds [2], "name", "vm");
    uint64_t state = 0x9e3779b97f4a7c15ULL;
    size_t accepted = 0, refused = 0;
    uint8_t buf [1024];
    for (int round = 0; round < 60000; round++) {
        s_body_t *seed = &seeds [round % 3];
        size_t len = seed->sbuf.size;
        memcpy (buf, seed->sbuf.data, len);
        int edits = 1 + (int) (s_rand (&state) % 3);
        for (int e = 0; e < edits; e++) {
            uint64_t r = s_rand (&state);
            size_t at = (size_t) (r >> 16) % len;
            switch (r % 4) {
                case 0: buf [at] = (uint8_t) (r >> 8); break;
                case 1: buf [at] ^= (uint8_t) (1u << ((r >> 8) % 8)); break;
                case 2: len = at + 1; break;
                default:
                    if (len < sizeof buf) {
                        memmove (buf + at + 1, buf + at, len - at);
                        buf [at] = (uint8_t) (r >> 8);
                        len++;
                    }
            }
        }
        //  A private copy of exactly len bytes, so ASan sees any overread.
        uint8_t *copy = malloc (len);
        memcpy (copy, buf, len);
        kvp_route_t route;
        if (s_scan (&route, copy, len))
            refused++;
        else
            accepted++;
        free (copy);
    }
    //  Both outcomes must have been exercised for the test to mean much.
    ck_assert_uint_gt (accepted, 100);
    ck_assert_uint_gt (refused, 100);
    for (int i = 0; i < 3; i++)
        s_end (&seeds [i]);
}
END_TEST

//  Random bytes behind a valid map head.
START_TEST (test_random_bytes)
{
    uint64_t state = 12345;
    for (int round = 0; round < 20000; round++) {
        size_t len = 1 + (size_t) (s_rand (&state) % 64);
        uint8_t *bytes = malloc (len);
        for (size_t i = 0; i < len; i++)
            bytes [i] = (uint8_t) s_rand (&state);
        bytes [0] = (uint8_t) (0x80 | (bytes [0] & 0x0f));
        kvp_route_t route;
        s_scan (&route, bytes, len);
        free (bytes);
    }
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("route");
    TCase *tc = tcase_create ("valid");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_add_test (tc, test_item_ops);
    tcase_add_test (tc, test_orders_and_forms);
    tcase_add_test (tc, test_other_routed_ops);
    tcase_add_test (tc, test_worker_faults);
    suite_add_tcase (suite, tc);
    tc = tcase_create ("fallback");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_add_test (tc, test_fallbacks);
    tcase_add_test (tc, test_signed_rid);
    tcase_add_test (tc, test_fallback_shapes);
    tcase_add_test (tc, test_depth);
    suite_add_tcase (suite, tc);
    tc = tcase_create ("hostile");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc, test_hostile_values);
    tcase_add_test (tc, test_mutations);
    tcase_add_test (tc, test_random_bytes);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
