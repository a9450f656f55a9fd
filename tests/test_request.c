/*  test_request.c - the request decoder: every validation rule and its
    return code, fault precedence, hostile msgpack, rid echo, getters and
    the idempotency digest.

    Bodies are written in a tiny notation turned into msgpack by s_build:
      {k: v, 'any key': v}   map          [a, b]     array
      'text'  (escapes \\ \' \xHH)         b'..'      bin
      'ab'*3 + 'c'  repeat and join        12 -3 1.5  uint, int, float
      true false nil
*/
#include <check.h>
#include "kvp_testkit.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <msgpack.h>
#include "kvp_request.h"
#include "kvp_rc.h"
#include "kvp_utf8.h"
#include "kvp_mpcheck.h"

#define GUID    "0b5f4e3a-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
#define GUID_UC "0B5F4E3A-1C2D-4E5F-8A9B-0C1D2E3F4A5B"
#define WMI     "\\\\\\\\HOST\\\\root\\\\virtualization\\\\v2:Msvm_ComputerSystem." \
                "CreationClassName=\"Msvm_ComputerSystem\",Name=\"" GUID_UC "\""
#define ITEM0   "{Name: 'ip', Data: '10.0.0.5', Source: 0}"
#define CIM_HEAD "<INSTANCE CLASSNAME=\"Msvm_KvpExchangeDataItem\">"
#define CIM_ITEM(name, data, src) "'" CIM_HEAD \
    "<PROPERTY NAME=\"Name\" TYPE=\"string\"><VALUE>" name "</VALUE></PROPERTY>" \
    "<PROPERTY NAME=\"Data\" TYPE=\"string\"><VALUE>" data "</VALUE></PROPERTY>" \
    "<PROPERTY NAME=\"Source\" TYPE=\"uint16\"><VALUE>" src "</VALUE></PROPERTY>" \
    "</INSTANCE>'"
#define ADD(items) "{op: 'AddKvpItems', target: '" GUID "', items: " items "}"
#define REMOVE(items) "{op: 'RemoveKvpItems', target: '" GUID "', items: " items "}"
#define GETI(fields) "{op: 'GetKvpItems', target: '" GUID "', " fields "}"

//  --------------------------------------------------------------------------
//  The notation

static void s_value (const char **p, msgpack_packer *pk);

static void
s_skip (const char **p)
{
    while (**p == ' ' || **p == '\n' || **p == ',' || **p == ':')
        (*p)++;
}

/*  One quoted piece with escapes, appended to `out`. */
static void
s_piece (const char **p, char **out, size_t *len)
{
    ck_assert_int_eq (**p, '\'');
    (*p)++;
    size_t start = *len;
    while (**p != '\'') {
        ck_assert_msg (**p, "unterminated string in notation");
        char c = *(*p)++;
        if (c == '\\') {
            c = *(*p)++;
            if (c == 'x') {
                char hex [3] = { (*p) [0], (*p) [1], 0 };
                c = (char) strtol (hex, NULL, 16);
                *p += 2;
            }
        }
        *out = realloc (*out, *len + 1);
        (*out) [(*len)++] = c;
    }
    (*p)++;
    if (**p == '*') {               //  'ab'*3 repeats the piece
        (*p)++;
        long times = strtol (*p, (char **) p, 10);
        size_t piece = *len - start;
        *out = realloc (*out, start + piece * (size_t) times + 1);
        for (long t = 1; t < times; t++)
            memcpy (*out + start + piece * (size_t) t, *out + start, piece);
        *len = start + piece * (size_t) times;
    }
}

/*  A string: pieces joined with '+'. Returns a malloc'd buffer. */
static char *
s_string (const char **p, size_t *len)
{
    char *out = NULL;
    *len = 0;
    while (true) {
        s_piece (p, &out, len);
        while (**p == ' ')
            (*p)++;
        if (**p != '+')
            break;
        (*p)++;
        while (**p == ' ')
            (*p)++;
    }
    return out;
}

static void
s_container (const char **p, msgpack_packer *pk, bool map)
{
    msgpack_sbuffer sub;
    msgpack_sbuffer_init (&sub);
    msgpack_packer inner;
    msgpack_packer_init (&inner, &sub, msgpack_sbuffer_write);
    char close = map? '}': ']';
    size_t count = 0;
    (*p)++;
    for (s_skip (p); **p != close; s_skip (p), count++) {
        ck_assert_msg (**p, "unterminated container in notation");
        if (map && ((**p >= 'a' && **p <= 'z') || (**p >= 'A' && **p <= 'Z'))) {
            const char *start = *p;     //  bare key
            while ((**p >= 'a' && **p <= 'z') || (**p >= 'A' && **p <= 'Z')
                || (**p >= '0' && **p <= '9') || **p == '_')
                (*p)++;
            msgpack_pack_str (&inner, (size_t) (*p - start));
            msgpack_pack_str_body (&inner, start, (size_t) (*p - start));
            s_skip (p);
        }
        else
        if (map) {
            s_value (p, &inner);
            s_skip (p);
        }
        s_value (p, &inner);
    }
    (*p)++;
    if (map)
        msgpack_pack_map (pk, count);
    else
        msgpack_pack_array (pk, count);
    if (sub.size)
        msgpack_sbuffer_write (pk->data, sub.data, sub.size);
    msgpack_sbuffer_destroy (&sub);
}

static void
s_value (const char **p, msgpack_packer *pk)
{
    size_t len;
    if (**p == '{' || **p == '[')
        s_container (p, pk, **p == '{');
    else
    if (**p == '\'') {
        char *text = s_string (p, &len);
        msgpack_pack_str (pk, len);
        if (len)
            msgpack_pack_str_body (pk, text, len);
        free (text);
    }
    else
    if (**p == 'b' && (*p) [1] == '\'') {
        (*p)++;
        char *text = s_string (p, &len);
        msgpack_pack_bin (pk, len);
        if (len)
            msgpack_pack_bin_body (pk, text, len);
        free (text);
    }
    else
    if (strncmp (*p, "true", 4) == 0) { msgpack_pack_true (pk); *p += 4; }
    else
    if (strncmp (*p, "false", 5) == 0) { msgpack_pack_false (pk); *p += 5; }
    else
    if (strncmp (*p, "nil", 3) == 0) { msgpack_pack_nil (pk); *p += 3; }
    else {
        char *end;
        double real = strtod (*p, &end);
        size_t span = strcspn (*p, ".,]} ");
        if ((*p) [span] == '.')
            msgpack_pack_double (pk, real);
        else
        if (**p == '-')
            msgpack_pack_int64 (pk, strtoll (*p, &end, 10));
        else
            msgpack_pack_uint64 (pk, strtoull (*p, &end, 10));
        ck_assert_msg (end != *p, "bad notation at: %.20s", *p);
        *p = end;
    }
}

/*  Build msgpack from the notation into `buf` (cleared first). */
static void
s_build (msgpack_sbuffer *buf, const char *text)
{
    msgpack_sbuffer_clear (buf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, buf, msgpack_sbuffer_write);
    const char *p = text;
    s_value (&p, &pk);
    ck_assert_msg (*p == 0, "notation left over: %.20s", p);
}

//  --------------------------------------------------------------------------
//  Fixture

static kvp_request_t *request;
static msgpack_sbuffer body;

static void
s_setup (void)
{
    request = kvp_request_new ();
    ck_assert_ptr_nonnull (request);
    msgpack_sbuffer_init (&body);
}

static void
s_teardown (void)
{
    kvp_request_destroy (&request);
    ck_assert_ptr_null (request);
    kvp_request_destroy (&request);     //  safe twice
    msgpack_sbuffer_destroy (&body);
}

/*  Decode a body written in the notation. */
static int
s_decode (const char *text)
{
    s_build (&body, text);
    return kvp_request_decode (request, body.data, body.size);
}

/*  An item op with `count` generated map items (Name "k<i>"); item
    `odd` (if >= 0) is written as `other` instead. */
static char *
s_many_items (const char *op, int count, int odd, const char *other)
{
    size_t size = 256 + (size_t) count * 48;
    char *text = malloc (size);
    int len = snprintf (text, size, "{op: '%s', target: '" GUID "', items: [",
                        op);
    for (int i = 0; i < count; i++)
        if (i == odd)
            len += snprintf (text + len, size - (size_t) len, "%s ", other);
        else
            len += snprintf (text + len, size - (size_t) len,
                             "{Name: 'k%d', Data: 'v', Source: 0} ", i);
    snprintf (text + len, size - (size_t) len, "]}");
    return text;
}

//  --------------------------------------------------------------------------
//  The rule table

typedef struct {
    const char *what;           /* the rule under test */
    const char *body;           /* in the notation */
    int rc;                     /* expected return code */
    const char *error;          /* expected in the error text, or NULL */
} s_case_t;

static const s_case_t s_cases [] = {
    //  shape and op
    { "body an array", "[1, 2]", 32773, "not a map" },
    { "body a str", "'Ping'", 32773, "not a map" },
    { "op missing", "{rid: 1}", 32773, "missing field op" },
    { "op missing beats wrong-type rid", "{rid: 1.5}", 32773, "op" },
    { "op an int", "{op: 7}", 32776, "op" },
    { "op a bin", "{op: b'Ping'}", 32776, "op" },
    { "op unknown", "{op: 'Pong'}", 32770, "Pong" },
    { "op case-sensitive", "{op: 'ping'}", 32770, NULL },
    { "op given twice", "{op: 'Ping', op: 'Ping'}", 32773, "twice" },
    { "unknown op beats wrong type", "{op: 'Nope', target: 5, rid: 1.5}",
      32770, NULL },
    { "op unknown, invalid UTF-8 quoted safely", "{op: '\\xff\\xfe'}",
      32770, "op: unknown operation" },
    { "Ping", "{op: 'Ping'}", 0, NULL },
    { "Ping ignores unknown keys", "{op: 'Ping', x: [1, {y: 2}], 5: 6}",
      0, NULL },
    { "ClusterStatus", "{op: 'ClusterStatus', rid: 'a'}", 0, NULL },
    { "rid a float", "{op: 'Ping', rid: 1.5}", 32776, "rid" },
    { "rid negative", "{op: 'Ping', rid: -1}", 32776, "rid" },
    { "rid a bin", "{op: 'Ping', rid: b'x'}", 32776, "rid" },
    //  DefineSystem
    { "define", "{op: 'DefineSystem', name: 'vm'}", 0, NULL },
    { "define name missing", "{op: 'DefineSystem'}", 32773, "name" },
    { "define name an int", "{op: 'DefineSystem', name: 3}", 32776, "name" },
    { "define name a bin", "{op: 'DefineSystem', name: b'vm'}", 32776, NULL },
    { "define name empty", "{op: 'DefineSystem', name: ''}", 32773, "name" },
    { "define name 256", "{op: 'DefineSystem', name: 'n'*256}", 0, NULL },
    { "define name 257", "{op: 'DefineSystem', name: 'n'*257}", 32773,
      "name" },
    { "define name NUL", "{op: 'DefineSystem', name: 'a\\x00b'}", 32773,
      "NUL" },
    { "define name bad UTF-8", "{op: 'DefineSystem', name: 'a\\xc0\\x80'}",
      32773, "UTF-8" },
    { "define id", "{op: 'DefineSystem', name: 'vm', id: '" GUID_UC "'}",
      0, NULL },
    { "define id bad", "{op: 'DefineSystem', name: 'vm', id: 'abc'}",
      32773, "id" },
    { "define id an int", "{op: 'DefineSystem', name: 'vm', id: 1}",
      32776, "id" },
    { "define id wrong type beats missing name",
      "{op: 'DefineSystem', id: true}", 32776, NULL },
    //  RetireWorker: `id` is a worker name, not a GUID
    { "retire", "{op: 'RetireWorker', id: 'w0'}", 0, NULL },
    { "retire a name that is no GUID", "{op: 'RetireWorker', id: 'abc'}",
      0, NULL },
    { "retire id missing", "{op: 'RetireWorker'}", 32773, "missing field id" },
    { "retire id an int", "{op: 'RetireWorker', id: 3}", 32776, "id" },
    { "retire id empty", "{op: 'RetireWorker', id: ''}", 32773, "id" },
    { "retire id 64", "{op: 'RetireWorker', id: 'w'*64}", 0, NULL },
    { "retire id 65", "{op: 'RetireWorker', id: 'w'*65}", 32773, "id" },
    { "retire id NUL", "{op: 'RetireWorker', id: 'a\\x00b'}", 32773,
      "NUL" },
    { "retire id twice", "{op: 'RetireWorker', id: 'a', id: 'b'}", 32773,
      "given twice" },
    //  target ops
    { "destroy", "{op: 'DestroySystem', target: '" GUID "'}", 0, NULL },
    { "destroy by WMI path", "{op: 'DestroySystem', target: '" WMI "'}",
      0, NULL },
    { "destroy target missing", "{op: 'DestroySystem'}", 32773, "target" },
    { "destroy target an int", "{op: 'DestroySystem', target: 1}", 32776,
      "target" },
    { "destroy target a bin", "{op: 'DestroySystem', target: b'" GUID "'}",
      32776, "target" },
    { "destroy target bad", "{op: 'DestroySystem', target: 'vm1'}", 32773,
      "target: not a GUID or WMI object path" },
    { "get system", "{op: 'GetSystem', target: '" GUID "'}", 0, NULL },
    { "target given twice", "{op: 'GetSystem', target: '" GUID "', "
      "target: '" GUID "'}", 32773, "twice" },
    { "modify settings", "{op: 'ModifySystemSettings', target: '" GUID "', "
      "DataExchangeEnabled: false}", 0, NULL },
    { "modify settings flag missing", "{op: 'ModifySystemSettings', "
      "target: '" GUID "'}", 32773, "DataExchangeEnabled" },
    { "modify settings flag an int", "{op: 'ModifySystemSettings', "
      "target: '" GUID "', DataExchangeEnabled: 1}", 32776,
      "DataExchangeEnabled" },
    { "get items", "{op: 'GetKvpItems', target: '" GUID "'}", 0, NULL },
    { "get items Source", "{op: 'GetKvpItems', target: '" GUID "', "
      "Source: 4}", 0, NULL },
    { "get items Source a str", "{op: 'GetKvpItems', target: '" GUID "', "
      "Source: '4'}", 32776, "Source" },
    { "get items Source negative", "{op: 'GetKvpItems', target: '" GUID "', "
      "Source: -4}", 32776, "Source" },
    //  GetKvpItems paging
    { "get items limit 1", GETI ("limit: 1"), 0, NULL },
    { "get items limit 10000", GETI ("limit: 10000"), 0, NULL },
    { "get items limit 0", GETI ("limit: 0"), 32773, "limit: must be 1" },
    { "get items limit 10001", GETI ("limit: 10001"), 32773, "limit" },
    { "get items limit a str", GETI ("limit: '5'"), 32776, "limit" },
    { "get items limit negative", GETI ("limit: -1"), 32776, "limit" },
    { "get items limit given twice", GETI ("limit: 1, limit: 1"), 32773,
      "limit: given twice" },
    { "get items after", GETI ("after: {Source: 0, Name: 'a'}"), 0, NULL },
    { "get items after an item map", GETI ("Source: 4, limit: 2, "
      "after: {Name: 'a', Data: 'x', Source: 4}"), 0, NULL },
    { "get items after any Source", GETI ("after: {Source: 300, Name: 'a'}"),
      0, NULL },
    { "get items after Name 511", GETI ("after: {Source: 0, Name: 'n'*511}"),
      0, NULL },
    { "get items after a str", GETI ("after: 'a'"), 32776, "after: expected map" },
    { "get items after an array", GETI ("after: [0, 'a']"), 32776, "after" },
    { "get items after without Source", GETI ("after: {Name: 'a'}"), 32773,
      "after.Source: missing" },
    { "get items after without Name", GETI ("after: {Source: 0}"), 32773,
      "after.Name: missing" },
    { "get items after empty", GETI ("after: {}"), 32773, "after.Source" },
    { "get items after Source a str", GETI ("after: {Source: '0', Name: 'a'}"),
      32776, "after.Source: expected uint" },
    { "get items after Source negative", GETI ("after: {Source: -1, "
      "Name: 'a'}"), 32776, "after.Source" },
    { "get items after Name an int", GETI ("after: {Source: 0, Name: 5}"),
      32776, "after.Name: expected str" },
    { "get items after Name empty", GETI ("after: {Source: 0, Name: ''}"),
      32773, "after.Name: empty" },
    { "get items after Name 512", GETI ("after: {Source: 0, Name: 'n'*512}"),
      32773, "after.Name: longer than 511" },
    { "get items after Name bad UTF-8", GETI ("after: {Source: 0, "
      "Name: 'a\\xc0\\x80'}"), 32773, "after.Name: not valid UTF-8" },
    { "get items after Name NUL", GETI ("after: {Source: 0, Name: 'a\\x00'}"),
      32773, "after.Name: contains NUL" },
    { "get items after Name given twice", GETI ("after: {Source: 0, "
      "Name: 'a', Name: 'b'}"), 32773, "after.Name: given twice" },
    { "get items after given twice", GETI ("after: {Source: 0, Name: 'a'}, "
      "after: {Source: 0, Name: 'a'}"), 32773, "after: given twice" },
    { "get items wrong-type after beats bad limit", GETI ("limit: 0, "
      "after: {Source: 0, Name: 1}"), 32776, "after.Name" },
    { "get items wrong-type limit beats missing after.Name",
      GETI ("after: {Source: 0}, limit: nil"), 32776, "limit" },
    { "get items bad after beats nothing else", GETI ("Source: 4, limit: 3, "
      "after: {Source: 4, Name: ''}"), 32773, "after.Name" },
    //  GetJob
    { "get job", "{op: 'GetJob', job: '3.0000abcd.17'}", 0, NULL },
    { "get job missing", "{op: 'GetJob'}", 32773, "job" },
    { "get job an int", "{op: 'GetJob', job: 17}", 32776, "job" },
    { "get job malformed", "{op: 'GetJob', job: '3.abcd.17'}", 32773,
      "unknown job" },
    { "get job too long", "{op: 'GetJob', job: '1'*65}", 32773,
      "unknown job" },
    //  GetEvents (spec section 10)
    { "get events", "{op: 'GetEvents', partition: 3, from: 1}", 0, NULL },
    { "get events limit 1", "{op: 'GetEvents', partition: 0, from: 5, "
      "limit: 1}", 0, NULL },
    { "get events limit 10000", "{op: 'GetEvents', partition: 0, from: 5, "
      "limit: 10000}", 0, NULL },
    { "get events partition past any N is the broker's",
      "{op: 'GetEvents', partition: 4294967296, from: 1}", 0, NULL },
    { "get events from 2^64 - 1", "{op: 'GetEvents', partition: 1, "
      "from: 18446744073709551615}", 0, NULL },
    { "get events partition missing", "{op: 'GetEvents', from: 1}", 32773,
      "missing field partition" },
    { "get events from missing", "{op: 'GetEvents', partition: 1}", 32773,
      "missing field from" },
    { "get events from 0", "{op: 'GetEvents', partition: 1, from: 0}", 32773,
      "from: must be at least 1" },
    { "get events limit 0", "{op: 'GetEvents', partition: 1, from: 1, "
      "limit: 0}", 32773, "limit: must be 1 to 10000" },
    { "get events limit 10001", "{op: 'GetEvents', partition: 1, from: 1, "
      "limit: 10001}", 32773, "limit" },
    { "get events partition negative", "{op: 'GetEvents', partition: -1, "
      "from: 1}", 32776, "partition: expected uint" },
    { "get events from negative", "{op: 'GetEvents', partition: 1, "
      "from: -1}", 32776, "from: expected uint" },
    { "get events limit negative", "{op: 'GetEvents', partition: 1, "
      "from: 1, limit: -5}", 32776, "limit: expected uint" },
    { "get events partition a str", "{op: 'GetEvents', partition: '1', "
      "from: 1}", 32776, "partition" },
    { "get events from a float", "{op: 'GetEvents', partition: 1, "
      "from: 1.0}", 32776, "from" },
    { "get events limit nil", "{op: 'GetEvents', partition: 1, from: 1, "
      "limit: nil}", 32776, "limit" },
    { "get events wrong type beats bad value", "{op: 'GetEvents', "
      "from: 0, limit: 0, partition: true}", 32776, "partition" },
    { "get events wrong type beats missing field", "{op: 'GetEvents', "
      "limit: 'x'}", 32776, "limit" },
    { "get events limit given twice", "{op: 'GetEvents', partition: 1, "
      "from: 1, limit: 2, limit: 2}", 32773, "limit: given twice" },
    { "get events ignores other keys", "{op: 'GetEvents', partition: 1, "
      "from: 1, target: 5, items: 'x'}", 0, NULL },
    //  items: shape
    { "add map item", ADD ("[" ITEM0 "]"), 0, NULL },
    { "add CIM item", ADD ("[" CIM_ITEM ("ip", "10.0.0.5", "0") "]"), 0,
      NULL },
    { "add items missing", "{op: 'AddKvpItems', target: '" GUID "'}", 32773,
      "items" },
    { "add items a map", ADD (ITEM0), 32776, "items" },
    { "add items empty", ADD ("[]"), 32773, "items" },
    { "add target missing", "{op: 'AddKvpItems', items: [" ITEM0 "]}",
      32773, "target" },
    { "item an int", ADD ("[" ITEM0 " 5]"), 32776, "items[1]" },
    { "item a bin", ADD ("[b'x']"), 32776, "items[0]" },
    { "item Name an int", ADD ("[{Name: 1, Data: 'd', Source: 0}]"), 32776,
      "items[0].Name" },
    { "item Name a bin", ADD ("[{Name: b'n', Data: 'd', Source: 0}]"), 32776,
      "items[0].Name" },
    { "item Data an int", ADD ("[{Name: 'n', Data: 1, Source: 0}]"), 32776,
      "items[0].Data" },
    { "item Source a str", ADD ("[{Name: 'n', Data: 'd', Source: '0'}]"),
      32776, "items[0].Source" },
    { "item Source negative", ADD ("[{Name: 'n', Data: 'd', Source: -1}]"),
      32776, "items[0].Source" },
    { "item Source a float", ADD ("[{Name: 'n', Data: 'd', Source: 0.0}]"),
      32776, "items[0].Source" },
    { "item Name missing", ADD ("[{Data: 'd', Source: 0}]"), 32773,
      "items[0].Name" },
    { "item Data missing", ADD ("[{Name: 'n', Source: 0}]"), 32773,
      "items[0].Data" },
    { "item Source missing", ADD ("[{Name: 'n', Data: 'd'}]"), 32773,
      "items[0].Source" },
    { "item key twice", ADD ("[{Name: 'n', Name: 'm', Data: 'd', "
      "Source: 0}]"), 32773, "twice" },
    { "item extra keys ignored", ADD ("[{Name: 'n', Data: 'd', Source: 0, "
      "Caption: 5, x: [1]}]"), 0, NULL },
    { "remove without Data", REMOVE ("[{Name: 'n', Source: 4}]"), 0, NULL },
    { "remove Data an int", REMOVE ("[{Name: 'n', Data: 5, Source: 4}]"),
      32776, "Data" },
    { "remove Data unchecked", REMOVE ("[{Name: 'n', Data: '\\xff', "
      "Source: 0}]"), 0, NULL },
    { "modify items", "{op: 'ModifyKvpItems', target: '" GUID "', items: ["
      ITEM0 "]}", 0, NULL },
    //  items: Source
    { "Source 4", ADD ("[{Name: 'n', Data: 'd', Source: 4}]"), 0, NULL },
    { "Source 1", ADD ("[{Name: 'n', Data: 'd', Source: 1}]"), 32773,
      "items[0].Source" },
    { "Source 2", ADD ("[{Name: 'n', Data: 'd', Source: 2}]"), 32773, NULL },
    { "Source 3", ADD ("[{Name: 'n', Data: 'd', Source: 3}]"), 32773, NULL },
    { "Source 5", ADD ("[{Name: 'n', Data: 'd', Source: 5}]"), 32773, NULL },
    { "Source 2^32 + 4", ADD ("[{Name: 'n', Data: 'd', "
      "Source: 4294967300}]"), 32773, NULL },
    //  items: sizes
    { "Name 511", ADD ("[{Name: 'n'*511, Data: 'd', Source: 0}]"), 0, NULL },
    { "Name 512", ADD ("[{Name: 'n'*512, Data: 'd', Source: 0}]"), 32773,
      "items[0].Name: longer than 511" },
    { "Name empty", ADD ("[{Name: '', Data: 'd', Source: 0}]"), 32773,
      "items[0].Name: empty" },
    { "Data empty", ADD ("[{Name: 'n', Data: '', Source: 0}]"), 0, NULL },
    { "Data 2047 Source 0", ADD ("[{Name: 'n', Data: 'd'*2047, Source: 0}]"),
      0, NULL },
    { "Data 2048 Source 0", ADD ("[{Name: 'n', Data: 'd'*2048, Source: 0}]"),
      32773, "items[0].Data: longer than 2047" },
    { "Data 2048 Source 4", ADD ("[{Name: 'n', Data: 'd'*2048, Source: 4}]"),
      0, NULL },
    { "Data 16384 Source 4", ADD ("[{Name: 'n', Data: 'd'*16384, "
      "Source: 4}]"), 0, NULL },
    { "Data 16385 Source 4", ADD ("[{Name: 'n', Data: 'd'*16385, "
      "Source: 4}]"), 32773, "longer than 16384" },
    { "Remove Data 16385 not checked", REMOVE ("[{Name: 'n', Data: 'd'*16385, "
      "Source: 4}]"), 0, NULL },
    //  items: UTF-8 and NUL
    { "Name multibyte", ADD ("[{Name: 'caf\\xc3\\xa9 \\xe2\\x82\\xac "
      "\\xf0\\x9f\\x98\\x80', Data: 'd', Source: 0}]"), 0, NULL },
    { "Name overlong", ADD ("[{Name: 'a\\xc0\\xaf', Data: 'd', Source: 0}]"),
      32773, "items[0].Name: not valid UTF-8" },
    { "Name overlong 3-byte", ADD ("[{Name: '\\xe0\\x80\\xaf', Data: 'd', "
      "Source: 0}]"), 32773, "UTF-8" },
    { "Name surrogate", ADD ("[{Name: '\\xed\\xa0\\x80', Data: 'd', "
      "Source: 0}]"), 32773, "UTF-8" },
    { "Name truncated", ADD ("[{Name: 'ab\\xe2\\x82', Data: 'd', "
      "Source: 0}]"), 32773, "UTF-8" },
    { "Name past U+10FFFF", ADD ("[{Name: '\\xf4\\x90\\x80\\x80', Data: 'd', "
      "Source: 0}]"), 32773, "UTF-8" },
    { "Name lone continuation", ADD ("[{Name: '\\x80', Data: 'd', "
      "Source: 0}]"), 32773, "UTF-8" },
    { "Data invalid UTF-8", ADD ("[{Name: 'n', Data: 'x\\xff', Source: 4}]"),
      32773, "items[0].Data: not valid UTF-8" },
    { "Name NUL", ADD ("[{Name: 'a\\x00', Data: 'd', Source: 0}]"), 32773,
      "items[0].Name: contains NUL" },
    { "Data NUL", ADD ("[{Name: 'n', Data: '\\x00', Source: 0}]"), 32773,
      "items[0].Data: contains NUL" },
    //  items: duplicates
    { "duplicate", ADD ("[{Name: 'ip', Data: 'a', Source: 0} "
      "{Name: 'x', Data: 'b', Source: 0} {Name: 'ip', Data: 'c', Source: 0}]"),
      32773, "items[2]: duplicate (Source 0, Name \"ip\")" },
    { "same Name, other Source", ADD ("[{Name: 'ip', Data: 'a', Source: 0} "
      "{Name: 'ip', Data: 'b', Source: 4}]"), 0, NULL },
    { "duplicate across forms", ADD ("[" CIM_ITEM ("ip", "a", "0") " "
      "{Name: 'ip', Data: 'b', Source: 0}]"), 32773, "duplicate" },
    { "duplicate in remove", REMOVE ("[{Name: 'a', Source: 4} "
      "{Name: 'a', Source: 4}]"), 32773, "items[1]: duplicate" },
    //  key
    { "key", ADD ("[" ITEM0 "], key: 'k'*64"), 0, NULL },
    { "key 65", ADD ("[" ITEM0 "], key: 'k'*65"), 32773, "key" },
    { "key empty", ADD ("[" ITEM0 "], key: ''"), 32773, "key" },
    { "key an int", ADD ("[" ITEM0 "], key: 5"), 32776, "key" },
    //  CIM items
    { "CIM other class", ADD ("['<INSTANCE CLASSNAME=\"Msvm_Other\">"
      "</INSTANCE>']"), 32776, "items[0]" },
    { "CIM broken", ADD ("['<INSTANCE']"), 32773, "items[0]" },
    { "CIM Source 1", ADD ("[" CIM_ITEM ("n", "d", "1") "]"), 32773,
      "items[0].Source" },
    { "CIM Name too long", ADD ("[" CIM_ITEM ("' + 'n'*512 + '", "d", "0")
      "]"), 32773, "items[0].Name" },
    { "CIM entities", ADD ("[" CIM_ITEM ("a&lt;b", "&amp;", "0") "]"), 0,
      NULL },
    //  precedence
    { "wrong type beats bad target", "{op: 'AddKvpItems', target: 'nope', "
      "items: [" ITEM0 " " ITEM0 " " ITEM0 " {Name: 'n', Data: 7, "
      "Source: 0}]}", 32776, "items[3].Data" },
    { "wrong type beats earlier bad Source", ADD ("[{Name: 'a', Data: 'd', "
      "Source: 9} {Name: 5, Data: 'd', Source: 0}]"), 32776,
      "items[1].Name" },
    { "wrong-type rid beats missing target", "{op: 'GetSystem', rid: nil}",
      32776, "rid" },
    { "wrong-type key beats empty items", ADD ("[], key: nil"), 32776, "key" },
    { "CIM wrong class beats bad target", "{op: 'AddKvpItems', target: 'x', "
      "items: ['<INSTANCE CLASSNAME=\"X\"/>']}", 32776, NULL },
    { "first bad value reported", ADD ("[{Name: '', Data: 'd', Source: 0} "
      "{Name: 'b', Data: 'd', Source: 7}]"), 32773, "items[0].Name" },
};

START_TEST (test_rule)
{
    const s_case_t *c = &s_cases [_i];
    int rc = s_decode (c->body);
    ck_assert_msg (rc == c->rc, "%s: rc %d, expected %d (%s)", c->what, rc,
                   c->rc, kvp_request_error (request));
    const char *error = kvp_request_error (request);
    if (c->rc == 0)
        ck_assert_str_eq (error, "");
    else
        ck_assert_msg (strlen (error) > 0, "%s: no error text", c->what);
    if (c->error)
        ck_assert_msg (strstr (error, c->error), "%s: error \"%s\" lacks "
                       "\"%s\"", c->what, error, c->error);
    //  Clients decode the error as a str: it must be valid UTF-8
    ck_assert_msg (kvp_utf8_valid (error, strlen (error)), "%s: error not "
                   "UTF-8", c->what);
}
END_TEST

START_TEST (test_error_quoting)
{
    //  Untrusted bytes in an error are cut, made printable and kept UTF-8
    ck_assert_int_eq (s_decode ("{op: 'x\x01\xe2\x82\xac\xff' + 'y'*100}"),
                      32770);
    const char *error = kvp_request_error (request);
    ck_assert (kvp_utf8_valid (error, strlen (error)));
    ck_assert_ptr_nonnull (strstr (error, "\"x?\xe2\x82\xac?yyy"));
    ck_assert_ptr_nonnull (strstr (error, "...\""));
    ck_assert_uint_lt (strlen (error), 100);
    //  A cut never splits a multi-byte character
    ck_assert_int_eq (s_decode ("{op: 'GetJob', job: 'a'*47 + '\xe2\x82\xac'}"),
                      32773);
    error = kvp_request_error (request);
    ck_assert (kvp_utf8_valid (error, strlen (error)));
    ck_assert_ptr_nonnull (strstr (error, "a...\""));
}
END_TEST

//  --------------------------------------------------------------------------
//  Counts and sizes generated in C

START_TEST (test_item_count)
{
    char *text = s_many_items ("AddKvpItems", 128, -1, NULL);
    ck_assert_int_eq (s_decode (text), 0);
    size_t count;
    const kvp_item_t *items = kvp_request_items (request, &count);
    ck_assert_uint_eq (count, 128);
    ck_assert_int_eq (items [127].name_len, 4);
    ck_assert_int_eq (memcmp (items [127].name, "k127", 4), 0);
    free (text);

    text = s_many_items ("AddKvpItems", 129, -1, NULL);
    ck_assert_int_eq (s_decode (text), 32773);
    ck_assert_ptr_nonnull (strstr (kvp_request_error (request), "items"));
    free (text);

    //  A wrong type past item 128 still outranks the count
    text = s_many_items ("RemoveKvpItems", 200, 150, "[1]");
    ck_assert_int_eq (s_decode (text), 32776);
    ck_assert_ptr_nonnull (strstr (kvp_request_error (request), "items[150]"));
    free (text);
}
END_TEST

START_TEST (test_empty_and_oversized)
{
    ck_assert_int_eq (kvp_request_decode (request, "", 0), 32773);
    ck_assert_int_eq (kvp_request_decode (request, NULL, 0), 32773);

    //  A Ping padded with an unknown str to exactly 1 MiB is fine...
    msgpack_sbuffer_clear (&body);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &body, msgpack_sbuffer_write);
    //  map 1 + "op" 3 + "Ping" 5 + "p" 2 + str32 header 5 = 16 bytes
    size_t pad = KVP_BODY_MAX - 16;
    char *junk = malloc (pad + 1);
    memset (junk, 'x', pad + 1);
    msgpack_pack_map (&pk, 2);
    msgpack_pack_str (&pk, 2); msgpack_pack_str_body (&pk, "op", 2);
    msgpack_pack_str (&pk, 4); msgpack_pack_str_body (&pk, "Ping", 4);
    msgpack_pack_str (&pk, 1); msgpack_pack_str_body (&pk, "p", 1);
    msgpack_pack_str (&pk, pad); msgpack_pack_str_body (&pk, junk, pad);
    ck_assert_uint_eq (body.size, KVP_BODY_MAX);
    ck_assert_int_eq (kvp_request_decode (request, body.data, body.size), 0);

    //  ...one byte more is not
    msgpack_sbuffer_clear (&body);
    msgpack_pack_map (&pk, 2);
    msgpack_pack_str (&pk, 2); msgpack_pack_str_body (&pk, "op", 2);
    msgpack_pack_str (&pk, 4); msgpack_pack_str_body (&pk, "Ping", 4);
    msgpack_pack_str (&pk, 1); msgpack_pack_str_body (&pk, "p", 1);
    msgpack_pack_str (&pk, pad + 1); msgpack_pack_str_body (&pk, junk, pad + 1);
    ck_assert_uint_eq (body.size, KVP_BODY_MAX + 1);
    ck_assert_int_eq (kvp_request_decode (request, body.data, body.size),
                      32773);
    ck_assert_ptr_nonnull (strstr (kvp_request_error (request), "limit"));
    free (junk);
}
END_TEST

//  --------------------------------------------------------------------------
//  Hostile msgpack

START_TEST (test_nesting)
{
    //  The top map is level 1: seven arrays under it make 8 levels
    ck_assert_int_eq (s_decode ("{op: 'Ping', x: [[[[[[[1]]]]]]]}"), 0);
    ck_assert_int_eq (s_decode ("{op: 'Ping', x: [[[[[[[[1]]]]]]]]}"), 32773);
    ck_assert_ptr_nonnull (strstr (kvp_request_error (request), "deep"));
    //  Empty containers count too
    ck_assert_int_eq (s_decode ("{op: 'Ping', x: [[[[[[[[]]]]]]]]}"), 32773);
    //  Very deep input is refused without recursion trouble
    size_t depth = 100000;
    uint8_t *deep = malloc (depth + 1);
    memset (deep, 0x91, depth);         //  fixarray of one, nested
    deep [depth] = 0x01;
    ck_assert_int_eq (kvp_request_decode (request, deep, depth + 1), 32773);
    free (deep);
}
END_TEST

START_TEST (test_declared_lengths)
{
    //  Headers that claim far more than the body holds
    static const struct {
        const char *what;
        uint8_t bytes [16];
        size_t len;
    } lies [] = {
        { "map32 of 2^32-1", { 0xdf, 0xff, 0xff, 0xff, 0xff }, 5 },
        { "array32 in a map", { 0x81, 0xa1, 'x', 0xdd, 0xff, 0xff, 0xff,
                                0xff }, 8 },
        { "str32 of 4 GiB", { 0x81, 0xa1, 'x', 0xdb, 0xff, 0xff, 0xff, 0xff,
                              'a' }, 9 },
        { "bin16 too long", { 0x81, 0xa1, 'x', 0xc5, 0x01, 0x00, 'a' }, 7 },
        { "map16 of 3, one given", { 0xde, 0x00, 0x03, 0xa1, 'x', 0x01 }, 6 },
        { "fixstr cut", { 0x81, 0xa2, 'o', 'p', 0xa4, 'P', 'i' }, 7 },
        { "uint64 cut", { 0x81, 0xa1, 'x', 0xcf, 0x01 }, 5 },
        { "ext32 too long", { 0x81, 0xa1, 'x', 0xc9, 0x00, 0x00, 0x10, 0x00,
                              0x01 }, 9 },
        { "reserved 0xc1", { 0x81, 0xa1, 'x', 0xc1 }, 4 },
        { "header cut", { 0x81, 0xa1, 'x', 0xdb, 0x00 }, 5 },
    };
    for (size_t i = 0; i < sizeof (lies) / sizeof (lies [0]); i++)
        ck_assert_msg (kvp_request_decode (request, lies [i].bytes,
                                           lies [i].len) == 32773,
                       "%s accepted", lies [i].what);
}
END_TEST

START_TEST (test_trailing_bytes)
{
    s_build (&body, "{op: 'Ping'}");
    msgpack_sbuffer_write (&body, "\x01", 1);
    ck_assert_int_eq (kvp_request_decode (request, body.data, body.size),
                      32773);
    ck_assert_ptr_nonnull (strstr (kvp_request_error (request), "trailing"));
    //  Two maps back to back are trailing bytes too
    s_build (&body, "{op: 'Ping'}");
    msgpack_sbuffer_write (&body, body.data, body.size);
    ck_assert_int_eq (kvp_request_decode (request, body.data, body.size),
                      32773);
}
END_TEST

START_TEST (test_many_unknown_keys)
{
    msgpack_sbuffer_clear (&body);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &body, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 10001);
    for (int i = 0; i < 10000; i++) {
        char key [16];
        int len = snprintf (key, sizeof key, "unknown%d", i);
        msgpack_pack_str (&pk, (size_t) len);
        msgpack_pack_str_body (&pk, key, (size_t) len);
        msgpack_pack_int (&pk, i);
    }
    msgpack_pack_str (&pk, 2); msgpack_pack_str_body (&pk, "op", 2);
    msgpack_pack_str (&pk, 4); msgpack_pack_str_body (&pk, "Ping", 4);
    struct timespec start, end;
    clock_gettime (CLOCK_MONOTONIC, &start);
    for (int round = 0; round < 10; round++)
        ck_assert_int_eq (kvp_request_decode (request, body.data, body.size), 0);
    clock_gettime (CLOCK_MONOTONIC, &end);
    double seconds = (double) (end.tv_sec - start.tv_sec)
                   + (double) (end.tv_nsec - start.tv_nsec) / 1e9;
    //  Linear work: ten rounds take milliseconds, even under sanitizers
    ck_assert_msg (seconds < 2.0, "10 x 10,000 keys took %.3f s", seconds);
}
END_TEST

//  --------------------------------------------------------------------------
//  rid

START_TEST (test_rid)
{
    ck_assert_int_eq (s_decode ("{op: 'Ping', rid: 42}"), 0);
    const kvp_rid_t *rid = kvp_request_rid (request);
    ck_assert_int_eq (rid->type, KVP_RID_UINT);
    ck_assert_uint_eq (rid->uint, 42);

    ck_assert_int_eq (s_decode ("{rid: 'abc', op: 'Ping'}"), 0);
    rid = kvp_request_rid (request);
    ck_assert_int_eq (rid->type, KVP_RID_STR);
    ck_assert_uint_eq (rid->len, 3);
    ck_assert_int_eq (memcmp (rid->str, "abc", 3), 0);

    ck_assert_int_eq (s_decode ("{op: 'Ping', rid: 18446744073709551615}"), 0);
    ck_assert_uint_eq (kvp_request_rid (request)->uint, UINT64_MAX);

    //  Another type: 32776 and no rid to echo
    ck_assert_int_eq (s_decode ("{op: 'Ping', rid: [1]}"), 32776);
    ck_assert_int_eq (kvp_request_rid (request)->type, KVP_RID_NONE);

    //  Kept when a later check fails
    ck_assert_int_eq (s_decode ("{op: 'Nope', rid: 7}"), 32770);
    ck_assert_int_eq (kvp_request_rid (request)->type, KVP_RID_UINT);
    ck_assert_int_eq (s_decode ("{rid: 8}"), 32773);
    ck_assert_uint_eq (kvp_request_rid (request)->uint, 8);
    ck_assert_int_eq (s_decode ("{op: 'GetSystem', rid: 9}"), 32773);
    ck_assert_uint_eq (kvp_request_rid (request)->uint, 9);

    //  Not a map: no rid; absent: none; not carried over between decodes
    ck_assert_int_eq (s_decode ("[{rid: 1}]"), 32773);
    ck_assert_int_eq (kvp_request_rid (request)->type, KVP_RID_NONE);
    ck_assert_int_eq (s_decode ("{op: 'Ping', rid: 3}"), 0);
    ck_assert_int_eq (s_decode ("{op: 'Ping'}"), 0);
    ck_assert_int_eq (kvp_request_rid (request)->type, KVP_RID_NONE);
}
END_TEST

/*  A body over the limit: `head` in the notation's map form, without its
    closing brace, then a pad to `size` bytes, then `tail` (notation
    pairs, may be ""). The map's count is patched to fit. */
static void
s_oversized (const char *head, size_t pairs, size_t size, const char *tail)
{
    char text [256];
    snprintf (text, sizeof text, "%s}", head);
    s_build (&body, text);
    msgpack_sbuffer tailbuf;
    msgpack_sbuffer_init (&tailbuf);
    if (*tail) {
        snprintf (text, sizeof text, "{%s}", tail);
        s_build (&tailbuf, text);
    }
    //  Both maps are fixmaps: the first byte holds the count
    size_t tail_pairs = *tail? (size_t) (tailbuf.data [0] & 0x0f): 0;
    body.data [0] = (char) (0x80 | (pairs + 1 + tail_pairs));
    msgpack_packer pk;
    msgpack_packer_init (&pk, &body, msgpack_sbuffer_write);
    msgpack_pack_str (&pk, 3);
    msgpack_pack_str_body (&pk, "pad", 3);
    size_t pad = size - body.size - 5 - (tailbuf.size? tailbuf.size - 1: 0);
    char *junk = calloc (1, pad);
    msgpack_pack_str (&pk, pad);
    msgpack_pack_str_body (&pk, junk, pad);
    free (junk);
    if (tailbuf.size)
        msgpack_sbuffer_write (&body, tailbuf.data + 1, tailbuf.size - 1);
    msgpack_sbuffer_destroy (&tailbuf);
    ck_assert_uint_eq (body.size, size);
}

static const kvp_rid_t *
s_decode_raw (int rc)
{
    ck_assert_int_eq (kvp_request_decode (request, body.data, body.size), rc);
    return kvp_request_rid (request);
}

//  A body refused before it is unpacked still gives its rid: a uint one
//  found by a bounded scan of the start of its map.
START_TEST (test_rid_unread)
{
    size_t big = 2 * 1024 * 1024;
    //  Over the limit, rid first or after the padding
    s_oversized ("{op: 'AddKvpItems', rid: 77", 2, big, "");
    const kvp_rid_t *rid = s_decode_raw (32773);
    ck_assert_ptr_nonnull (strstr (kvp_request_error (request), "limit"));
    ck_assert_int_eq (rid->type, KVP_RID_UINT);
    ck_assert_uint_eq (rid->uint, 77);
    s_oversized ("{op: 'Ping'", 1, big, "rid: 18446744073709551615");
    rid = s_decode_raw (32773);
    ck_assert_int_eq (rid->type, KVP_RID_UINT);
    ck_assert_uint_eq (rid->uint, UINT64_MAX);
    //  Only a uint rid counts; the first rid decides, as in a full decode
    s_oversized ("{op: 'Ping', rid: 'abc'", 2, big, "");
    ck_assert_int_eq (s_decode_raw (32773)->type, KVP_RID_NONE);
    s_oversized ("{op: 'Ping', rid: -1", 2, big, "");
    ck_assert_int_eq (s_decode_raw (32773)->type, KVP_RID_NONE);
    s_oversized ("{rid: [5], rid: 5", 2, big, "");
    ck_assert_int_eq (s_decode_raw (32773)->type, KVP_RID_NONE);
    s_oversized ("{op: 'Ping', 5: 6, ['rid']: 1, 'rid': 9", 4, big, "");
    rid = s_decode_raw (32773);
    ck_assert_int_eq (rid->type, KVP_RID_UINT);
    ck_assert_uint_eq (rid->uint, 9);
    //  Malformed under the limit: cut short after the rid
    s_build (&body, "{op: 'Ping', rid: 12, x: 'abcdef'}");
    rid = s_decode_raw (0);
    ck_assert_uint_eq (rid->uint, 12);
    body.size -= 3;
    rid = s_decode_raw (32773);
    ck_assert_int_eq (rid->type, KVP_RID_UINT);
    ck_assert_uint_eq (rid->uint, 12);
    //  ... but not when the cut is before it (x's str claims 31 bytes)
    s_build (&body, "{op: 'Ping', x: 'abcdef', rid: 12}");
    ck_assert_int_eq ((uint8_t) body.data [11], 0xa6);
    body.data [11] = (char) 0xbf;
    ck_assert_int_eq (s_decode_raw (32773)->type, KVP_RID_NONE);
    //  Wider encodings: a rid in int8 (what msgpack-c calls a uint) under
    //  a "rid" key in str8, with trailing bytes
    const uint8_t wide [] = { 0x82, 0xd9, 0x03, 'r', 'i', 'd', 0xd0, 0x05,
                              0xa2, 'o', 'p', 0xa4, 'P', 'i', 'n', 'g', 0x00 };
    ck_assert_int_eq (kvp_request_decode (request, wide, sizeof wide), 32773);
    ck_assert_int_eq (kvp_request_rid (request)->type, KVP_RID_UINT);
    ck_assert_uint_eq (kvp_request_rid (request)->uint, 5);
    //  Not a map, or nothing past the map header: no rid
    s_build (&body, "[{rid: 1}, 2]");
    body.size--;
    ck_assert_int_eq (s_decode_raw (32773)->type, KVP_RID_NONE);
    ck_assert_int_eq (kvp_request_decode (request, "\x81", 1), 32773);
    ck_assert_int_eq (kvp_request_rid (request)->type, KVP_RID_NONE);
}
END_TEST

//  The scan's bound: at most KVP_MPCHECK_RID_HEADERS headers before the
//  rid, whatever the body's size.
START_TEST (test_rid_scan_bound)
{
    for (int over = 0; over < 2; over++) {
        msgpack_sbuffer_clear (&body);
        msgpack_packer pk;
        msgpack_packer_init (&pk, &body, msgpack_sbuffer_write);
        size_t before = KVP_MPCHECK_RID_HEADERS - 2 + (size_t) over;
        msgpack_pack_map (&pk, 2);
        msgpack_pack_str (&pk, 1);              //  1 header
        msgpack_pack_str_body (&pk, "x", 1);
        msgpack_pack_array (&pk, before - 1);   //  `before` headers
        for (size_t i = 0; i + 1 < before; i++)
            msgpack_pack_nil (&pk);
        msgpack_pack_str (&pk, 3);              //  1 more, then the value
        msgpack_pack_str_body (&pk, "rid", 3);
        msgpack_pack_uint64 (&pk, 3);
        uint64_t rid = 0;
        ck_assert (kvp_mpcheck_rid (body.data, body.size, &rid) == !over);
        ck_assert_uint_eq (rid, over? 0: 3);
        //  Cut short anywhere: never read past the bytes given
        for (size_t cut = 0; cut < body.size; cut += 997)
            ck_assert (!kvp_mpcheck_rid (body.data, cut, &rid));
    }
    uint64_t rid = 1;
    ck_assert (!kvp_mpcheck_rid (NULL, 0, &rid));
}
END_TEST

//  --------------------------------------------------------------------------
//  Getters

START_TEST (test_getters_items)
{
    ck_assert_int_eq (s_decode ("{op: 'AddKvpItems', target: '" WMI "', "
        "key: 'retry-1', items: [" CIM_ITEM ("a&amp;b", "x&lt;y", "4") " "
        "{Name: 'ip', Data: '10.0.0.5', Source: 0}]}"), 0);
    ck_assert_int_eq (kvp_request_op (request), KVP_OP_ADD_KVP_ITEMS);
    ck_assert_str_eq (kvp_request_target (request)->text, GUID);
    size_t count, len;
    const kvp_item_t *items = kvp_request_items (request, &count);
    ck_assert_uint_eq (count, 2);
    ck_assert_uint_eq (items [0].source, 4);
    ck_assert_uint_eq (items [0].name_len, 3);
    ck_assert_int_eq (memcmp (items [0].name, "a&b", 3), 0);
    ck_assert_uint_eq (items [0].data_len, 3);
    ck_assert_int_eq (memcmp (items [0].data, "x<y", 3), 0);
    ck_assert_uint_eq (items [1].source, 0);
    ck_assert_int_eq (memcmp (items [1].data, "10.0.0.5", 8), 0);
    //  Map items point into the body (no copy)
    ck_assert (items [1].name >= body.data
            && items [1].name < body.data + body.size);
    const char *key = kvp_request_key (request, &len);
    ck_assert_uint_eq (len, 7);
    ck_assert_int_eq (memcmp (key, "retry-1", 7), 0);
    ck_assert_ptr_null (kvp_request_name (request, &len));
    ck_assert_uint_eq (len, 0);

    //  Remove hands out no Data
    ck_assert_int_eq (s_decode (REMOVE ("[{Name: 'n', Data: 'x', Source: 0}]")),
                      0);
    items = kvp_request_items (request, &count);
    ck_assert_uint_eq (count, 1);
    ck_assert_uint_eq (items [0].data_len, 0);
    ck_assert_ptr_null (kvp_request_key (request, &len));
    ck_assert_uint_eq (len, 0);
}
END_TEST

START_TEST (test_getters_other)
{
    ck_assert_int_eq (s_decode ("{op: 'DefineSystem', name: 'web-1'}"), 0);
    ck_assert (!kvp_request_has_id (request));
    ck_assert_str_eq (kvp_request_target (request)->text, "");
    size_t len;
    const char *name = kvp_request_name (request, &len);
    ck_assert_uint_eq (len, 5);
    ck_assert_int_eq (memcmp (name, "web-1", 5), 0);

    ck_assert_int_eq (s_decode ("{op: 'DefineSystem', name: 'x', id: '"
                                GUID_UC "'}"), 0);
    ck_assert (kvp_request_has_id (request));
    ck_assert_str_eq (kvp_request_target (request)->text, GUID);

    ck_assert_int_eq (s_decode ("{op: 'ModifySystemSettings', target: '"
                                GUID "', DataExchangeEnabled: true}"), 0);
    ck_assert (kvp_request_data_exchange (request));

    uint64_t source = 99;
    ck_assert_int_eq (s_decode ("{op: 'GetKvpItems', target: '" GUID "'}"), 0);
    ck_assert (!kvp_request_source_filter (request, &source));
    ck_assert_int_eq (s_decode ("{op: 'GetKvpItems', target: '" GUID "', "
                                "Source: 4}"), 0);
    ck_assert (kvp_request_source_filter (request, &source));
    ck_assert_uint_eq (source, 4);

    ck_assert_int_eq (s_decode ("{op: 'GetJob', job: '12.0a0b0c0d.99'}"), 0);
    const char *job = kvp_request_job (request, &len);
    ck_assert_uint_eq (len, 14);
    ck_assert_int_eq (memcmp (job, "12.0a0b0c0d.99", 14), 0);
    uint32_t partition, epoch;
    uint64_t seq;
    kvp_request_job_parts (request, &partition, &epoch, &seq);
    ck_assert_uint_eq (partition, 12);
    ck_assert_uint_eq (epoch, 0x0a0b0c0d);
    ck_assert_uint_eq (seq, 99);
    ck_assert_ptr_null (kvp_request_target (request));

    ck_assert_int_eq (s_decode ("{op: 'RetireWorker', id: 'w-7'}"), 0);
    const char *worker = kvp_request_worker (request, &len);
    ck_assert_uint_eq (len, 3);
    ck_assert_int_eq (memcmp (worker, "w-7", 3), 0);
    ck_assert_ptr_null (kvp_request_target (request));
    ck_assert_ptr_null (kvp_request_name (request, &len));

    ck_assert_int_eq (s_decode ("{op: 'Ping'}"), 0);
    ck_assert_ptr_null (kvp_request_target (request));
    ck_assert_ptr_null (kvp_request_worker (request, &len));
    ck_assert_uint_eq (len, 0);
    size_t count = 9;
    ck_assert_ptr_null (kvp_request_items (request, &count));
    ck_assert_uint_eq (count, 0);
}
END_TEST

START_TEST (test_getters_events)
{
    uint64_t partition = 9, from = 9;
    uint32_t limit = 9;
    ck_assert_int_eq (s_decode ("{op: 'GetEvents', partition: 63, "
                                "from: 12345678901}"), 0);
    kvp_request_events (request, &partition, &from, &limit);
    ck_assert_uint_eq (partition, 63);
    ck_assert_uint_eq (from, 12345678901ULL);
    ck_assert_uint_eq (limit, KVP_PAGE_LIMIT);
    ck_assert_ptr_null (kvp_request_target (request));
    ck_assert_int_eq (s_decode ("{op: 'GetEvents', partition: 0, from: 1, "
                                "limit: 7}"), 0);
    kvp_request_events (request, NULL, NULL, &limit);
    ck_assert_uint_eq (limit, 7);
    kvp_request_events (request, NULL, NULL, NULL);     //  all optional
    //  A later op does not see the earlier one's fields
    ck_assert_int_eq (s_decode ("{op: 'Ping'}"), 0);
    kvp_request_events (request, &partition, &from, &limit);
    ck_assert_uint_eq (partition, 0);
    ck_assert_uint_eq (from, 0);
    ck_assert_uint_eq (limit, KVP_PAGE_LIMIT);
}
END_TEST

START_TEST (test_getters_page)
{
    uint32_t limit = 9;
    const kvp_after_t *after = (const kvp_after_t *) &limit;
    //  Neither limit nor after: not paged
    ck_assert_int_eq (s_decode (GETI ("Source: 4")), 0);
    ck_assert (!kvp_request_page (request, &limit, &after));
    ck_assert_uint_eq (limit, KVP_PAGE_LIMIT);
    ck_assert_ptr_null (after);
    //  limit alone
    ck_assert_int_eq (s_decode (GETI ("limit: 25")), 0);
    ck_assert (kvp_request_page (request, &limit, &after));
    ck_assert_uint_eq (limit, 25);
    ck_assert_ptr_null (after);
    //  after alone: the default limit; extra keys ignored
    ck_assert_int_eq (s_decode (GETI ("after: {Data: 'x', Name: 'k\xe2\x82"
                                      "\xac', Source: 18446744073709551615}")),
                      0);
    ck_assert (kvp_request_page (request, &limit, &after));
    ck_assert_uint_eq (limit, KVP_PAGE_LIMIT);
    ck_assert_ptr_nonnull (after);
    ck_assert_uint_eq (after->source, UINT64_MAX);
    ck_assert_uint_eq (after->name_len, 4);
    ck_assert_int_eq (memcmp (after->name, "k\xe2\x82\xac", 4), 0);
    ck_assert (kvp_request_page (request, NULL, NULL));    //  all optional
    //  Not carried over to the next request
    ck_assert_int_eq (s_decode (GETI ("Source: 0")), 0);
    ck_assert (!kvp_request_page (request, &limit, &after));
    ck_assert_ptr_null (after);
    ck_assert_int_eq (s_decode ("{op: 'GetEvents', partition: 0, from: 1, "
                                "limit: 5}"), 0);
    kvp_request_page (request, &limit, &after);
    ck_assert_uint_eq (limit, 5);
    ck_assert_ptr_null (after);
}
END_TEST

//  --------------------------------------------------------------------------
//  Digest

static void
s_digest_of (const char *text, uint8_t digest [16])
{
    ck_assert_msg (s_decode (text) == 0, "%s", kvp_request_error (request));
    kvp_request_digest (request, digest);
}

START_TEST (test_digest)
{
    uint8_t a [16], b [16];
    //  Item order, item form, rid and key do not count
    s_digest_of (ADD ("[{Name: 'x', Data: '1', Source: 0} "
                      "{Name: 'y', Data: '2', Source: 4}]"), a);
    s_digest_of ("{rid: 5, key: 'k', op: 'AddKvpItems', target: '" GUID "', "
                 "items: [{Source: 4, Data: '2', Name: 'y'} "
                 CIM_ITEM ("x", "1", "0") "]}", b);
    ck_assert_mem_eq (a, b, 16);

    //  Every part counts
    static const char *others [] = {
        ADD ("[{Name: 'x', Data: '1', Source: 0} {Name: 'y', Data: '3', Source: 4}]"),
        ADD ("[{Name: 'x', Data: '1', Source: 4} {Name: 'y', Data: '2', Source: 0}]"),
        ADD ("[{Name: 'x', Data: '1', Source: 0} {Name: 'z', Data: '2', Source: 4}]"),
        ADD ("[{Name: 'x', Data: '1', Source: 0}]"),
        ADD ("[{Name: 'x', Data: '12', Source: 0} {Name: 'y', Data: '', Source: 4}]"),
        ADD ("[{Name: 'x1', Data: '', Source: 0} {Name: 'y', Data: '2', Source: 4}]"),
        "{op: 'ModifyKvpItems', target: '" GUID "', items: [{Name: 'x', "
        "Data: '1', Source: 0} {Name: 'y', Data: '2', Source: 4}]}",
    };
    for (size_t i = 0; i < sizeof (others) / sizeof (others [0]); i++) {
        s_digest_of (others [i], b);
        ck_assert_msg (memcmp (a, b, 16) != 0, "digest %zu collides", i);
    }
    //  Remove ignores Data
    s_digest_of (REMOVE ("[{Name: 'x', Data: '1', Source: 0}]"), a);
    s_digest_of (REMOVE ("[{Name: 'x', Source: 0}]"), b);
    ck_assert_mem_eq (a, b, 16);
    //  Both halves carry information
    uint8_t zero [8] = { 0 };
    ck_assert (memcmp (a, zero, 8) != 0 && memcmp (a + 8, zero, 8) != 0);
}
END_TEST

START_TEST (test_reuse)
{
    //  A failure leaves nothing behind for the next decode
    ck_assert_int_eq (s_decode (ADD ("[{Name: 'n', Data: 'd', Source: 9}]")),
                      32773);
    ck_assert_int_eq (s_decode ("{op: 'Ping'}"), 0);
    ck_assert_str_eq (kvp_request_error (request), "");
    for (int i = 0; i < 200; i++)
        ck_assert_int_eq (s_decode (ADD ("[" CIM_ITEM ("n", "d", "0") "]")),
                          0);
}
END_TEST

Suite *
s_suite (void)
{
    Suite *suite = suite_create ("request");
    TCase *tc = tcase_create ("rules");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_add_loop_test (tc, test_rule, 0,
                         (int) (sizeof (s_cases) / sizeof (s_cases [0])));
    suite_add_tcase (suite, tc);
    tc = tcase_create ("limits");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_add_test (tc, test_item_count);
    tcase_add_test (tc, test_empty_and_oversized);
    tcase_add_test (tc, test_nesting);
    tcase_add_test (tc, test_declared_lengths);
    tcase_add_test (tc, test_trailing_bytes);
    tcase_add_test (tc, test_many_unknown_keys);
    suite_add_tcase (suite, tc);
    tc = tcase_create ("fields");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_add_test (tc, test_rid);
    tcase_add_test (tc, test_rid_unread);
    tcase_add_test (tc, test_rid_scan_bound);
    tcase_add_test (tc, test_error_quoting);
    tcase_add_test (tc, test_getters_items);
    tcase_add_test (tc, test_getters_other);
    tcase_add_test (tc, test_getters_events);
    tcase_add_test (tc, test_getters_page);
    tcase_add_test (tc, test_digest);
    tcase_add_test (tc, test_reuse);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
