/*  test_op.c - the one op table (proto/kvp_op.h): every row as the spec
    has it (name, routing, writes, role, fields), the lookups, and that
    every op has a handler where its route column sends it - the worker's
    executor for routed ops, the broker for the ones it answers.
*/
#include <check.h>
#include "kvp_testkit.h"
#include "kvp_op.h"
#include "kvp_request.h"
#include "kvp_exec.h"
#include "kvp_clients.h"

#define R KVP_ROLE_READER
#define W KVP_ROLE_WRITER
#define A KVP_ROLE_ADMIN

//  The table as it must be; fields as "name,name?" (? = optional).
static const struct {
    kvp_op_t op;
    const char *name;
    kvp_op_route_t route;
    bool writes;
    kvp_role_t role;
    const char *fields;
} s_rows [] = {
    { KVP_OP_PING, "Ping", KVP_BY_BROKER, false, R, "" },
    { KVP_OP_CLUSTER_STATUS, "ClusterStatus", KVP_BY_BROKER, false, R, "" },
    { KVP_OP_DEFINE_SYSTEM, "DefineSystem", KVP_BY_ID, true, A, "name,id?" },
    { KVP_OP_DESTROY_SYSTEM, "DestroySystem", KVP_BY_TARGET, true, A,
      "target" },
    { KVP_OP_MODIFY_SYSTEM_SETTINGS, "ModifySystemSettings", KVP_BY_TARGET,
      true, A, "target,DataExchangeEnabled" },
    { KVP_OP_ADD_KVP_ITEMS, "AddKvpItems", KVP_BY_TARGET, true, W,
      "target,items,key?" },
    { KVP_OP_MODIFY_KVP_ITEMS, "ModifyKvpItems", KVP_BY_TARGET, true, W,
      "target,items,key?" },
    { KVP_OP_REMOVE_KVP_ITEMS, "RemoveKvpItems", KVP_BY_TARGET, true, W,
      "target,items,key?" },
    { KVP_OP_GET_KVP_ITEMS, "GetKvpItems", KVP_BY_TARGET, false, R,
      "target,Source?,limit?,after?" },
    { KVP_OP_GET_JOB, "GetJob", KVP_BY_JOB, false, R, "job" },
    { KVP_OP_GET_SYSTEM, "GetSystem", KVP_BY_TARGET, false, R, "target" },
    { KVP_OP_GET_EVENTS, "GetEvents", KVP_BY_PARTITION, false, R,
      "partition,from,limit?" },
    { KVP_OP_RETIRE_WORKER, "RetireWorker", KVP_BY_BROKER, false, A, "id" },
};
#define S_ROWS (sizeof s_rows / sizeof s_rows [0])

//  The fields of `info` in the notation above.
static void
s_fields (const kvp_op_info_t *info, char *out, size_t size)
{
    size_t len = 0;
    out [0] = 0;
    for (size_t i = 0; i < KVP_OP_FIELDS_MAX; i++) {
        const kvp_op_field_t *f = &info->fields [i];
        if (f->field == KVP_FIELD_NONE)
            break;
        len += (size_t) snprintf (out + len, size - len, "%s%s%s",
                                  len? ",": "", kvp_field_name (f->field),
                                  f->required? "": "?");
    }
}

START_TEST (test_rows)
{
    ck_assert_uint_eq (S_ROWS, KVP_OP_COUNT);
    for (size_t i = 0; i < S_ROWS; i++) {
        kvp_op_t op = s_rows [i].op;
        const kvp_op_info_t *info = kvp_op_info (op);
        ck_assert_ptr_nonnull (info);
        ck_assert_str_eq (info->name, s_rows [i].name);
        ck_assert_str_eq (kvp_op_name (op), s_rows [i].name);
        ck_assert_int_eq (kvp_op_route (op), s_rows [i].route);
        ck_assert_int_eq (kvp_op_writes (op), s_rows [i].writes);
        ck_assert_int_eq (kvp_exec_writes (op), s_rows [i].writes);
        ck_assert_int_eq (kvp_op_role (op), s_rows [i].role);
        char fields [128];
        s_fields (info, fields, sizeof fields);
        ck_assert_msg (streq (fields, s_rows [i].fields), "%s takes %s",
                       s_rows [i].name, fields);
        ck_assert_int_eq (kvp_op_lookup (s_rows [i].name,
                                         strlen (s_rows [i].name)), (int) op);
        ck_assert_int_eq (kvp_op_items (op),
                          strstr (s_rows [i].fields, "items") != NULL);
        ck_assert_int_eq (kvp_op_names_system (op),
                          s_rows [i].route == KVP_BY_TARGET
                          || s_rows [i].route == KVP_BY_ID);
    }
}
END_TEST

START_TEST (test_lookups)
{
    ck_assert_int_eq (kvp_op_lookup ("Pin", 3), -1);
    ck_assert_int_eq (kvp_op_lookup ("Pings", 5), -1);
    ck_assert_int_eq (kvp_op_lookup ("PING", 4), -1);
    ck_assert_int_eq (kvp_op_lookup (NULL, 0), -1);
    ck_assert_int_eq (kvp_op_lookup ("Ping", 4), KVP_OP_PING);
    ck_assert_ptr_null (kvp_op_info (KVP_OP_COUNT));
    ck_assert_str_eq (kvp_op_name (KVP_OP_COUNT), "Unknown");
    ck_assert_int_eq (kvp_op_route (KVP_OP_COUNT), KVP_BY_BROKER);
    ck_assert (!kvp_op_writes (KVP_OP_COUNT));
    ck_assert (!kvp_op_takes (KVP_OP_COUNT, KVP_FIELD_TARGET));
    ck_assert (!kvp_op_names_system (KVP_OP_COUNT));
    ck_assert_int_eq (kvp_op_role (KVP_OP_COUNT), KVP_ROLE_ADMIN);
    for (int f = KVP_FIELD_NONE + 1; f < KVP_FIELD_COUNT; f++) {
        const char *name = kvp_field_name ((kvp_field_t) f);
        ck_assert_uint_gt (strlen (name), 0);
        ck_assert_int_eq (kvp_field_lookup (name, strlen (name)), f);
    }
    ck_assert_int_eq (kvp_field_lookup ("Target", 6), KVP_FIELD_NONE);
    ck_assert_int_eq (kvp_field_lookup ("", 0), KVP_FIELD_NONE);
    ck_assert_str_eq (kvp_field_name (KVP_FIELD_COUNT), "");
    ck_assert_str_eq (kvp_role_name (KVP_ROLE_READER), "reader");
    ck_assert_str_eq (kvp_role_name (KVP_ROLE_WRITER), "writer");
    ck_assert_str_eq (kvp_role_name (KVP_ROLE_ADMIN), "admin");
    ck_assert_str_eq (kvp_role_name ((kvp_role_t) 7), "unknown");
}
END_TEST

//  Spec section 11's lists, word for word: what each role may do; and the
//  extension RetireWorker (`kvpctl retire`, section 12), admin's.
START_TEST (test_roles_as_spec)
{
    static const char *reader [] = { "Ping", "ClusterStatus", "GetSystem",
        "GetKvpItems", "GetJob", "GetEvents" };
    static const char *writer [] = { "AddKvpItems", "ModifyKvpItems",
        "RemoveKvpItems" };
    static const char *admin [] = { "DefineSystem", "DestroySystem",
        "ModifySystemSettings", "RetireWorker" };
    size_t seen = 0;
    for (size_t i = 0; i < sizeof reader / sizeof *reader; i++, seen++)
        ck_assert_int_eq (kvp_op_role (kvp_op_lookup (reader [i],
                          strlen (reader [i]))), KVP_ROLE_READER);
    for (size_t i = 0; i < sizeof writer / sizeof *writer; i++, seen++)
        ck_assert_int_eq (kvp_op_role (kvp_op_lookup (writer [i],
                          strlen (writer [i]))), KVP_ROLE_WRITER);
    for (size_t i = 0; i < sizeof admin / sizeof *admin; i++, seen++)
        ck_assert_int_eq (kvp_op_role (kvp_op_lookup (admin [i],
                          strlen (admin [i]))), KVP_ROLE_ADMIN);
    ck_assert_uint_eq (seen, KVP_OP_COUNT);
    //  Every op that writes needs more than reading
    for (int op = 0; op < KVP_OP_COUNT; op++)
        ck_assert (!kvp_op_writes (op) || kvp_op_role (op) != KVP_ROLE_READER);
}
END_TEST

//  A new op is a row, a codec and a handler: the handler must be where
//  the route column sends the op, and nowhere else.
START_TEST (test_every_op_has_its_handler)
{
    for (int op = 0; op < KVP_OP_COUNT; op++) {
        bool broker = kvp_op_route ((kvp_op_t) op) == KVP_BY_BROKER;
        ck_assert_msg (kvp_broker_answers ((kvp_op_t) op) == broker,
                       "%s: broker handler %s", kvp_op_name (op),
                       broker? "missing": "for a routed op");
        ck_assert_msg (kvp_exec_handles ((kvp_op_t) op) == !broker,
                       "%s: worker handler %s", kvp_op_name (op),
                       broker? "for a broker op": "missing");
    }
    ck_assert (!kvp_broker_answers (KVP_OP_COUNT));
    ck_assert (!kvp_exec_handles (KVP_OP_COUNT));
}
END_TEST

//  Every field the table names has a check in the decoder: a request
//  that gives each field of each op a value of a type no field takes is
//  refused 32776 (not a crash, not a pass).
START_TEST (test_every_field_is_checked)
{
    kvp_request_t *request = kvp_request_new ();
    for (int op = 0; op < KVP_OP_COUNT; op++) {
        const kvp_op_info_t *info = kvp_op_info ((kvp_op_t) op);
        for (size_t i = 0; i < KVP_OP_FIELDS_MAX; i++) {
            kvp_field_t field = info->fields [i].field;
            if (field == KVP_FIELD_NONE)
                break;
            tk_body_t body;
            tk_body_begin (&body, info->name, 1);
            tk_pack_str (&body.pk, kvp_field_name (field));
            msgpack_pack_double (&body.pk, 0.5);
            int rc = kvp_request_decode (request, body.sbuf.data,
                                         body.sbuf.size);
            ck_assert_msg (rc == 32776, "%s %s: rc %d", info->name,
                           kvp_field_name (field), rc);
            ck_assert_ptr_nonnull (strstr (kvp_request_error (request),
                                           kvp_field_name (field)));
            tk_body_end (&body);
        }
    }
    kvp_request_destroy (&request);
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("op");
    TCase *tc = tcase_create ("table");
    tcase_add_test (tc, test_rows);
    tcase_add_test (tc, test_lookups);
    tcase_add_test (tc, test_roles_as_spec);
    tcase_add_test (tc, test_every_op_has_its_handler);
    tcase_add_test (tc, test_every_field_is_checked);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
