/*  kvp_op.c - the one table of KVP/1 operations. See kvp_op.h. */

#include <string.h>
#include "kvp_op.h"

#define S_NEED(f)   { KVP_FIELD_ ## f, true }
#define S_MAY(f)    { KVP_FIELD_ ## f, false }
#define S_ITEM_FIELDS { S_NEED (TARGET), S_NEED (ITEMS), S_MAY (KEY) }

/*  Indexed by kvp_op_t. Roles as spec section 11 lists them; the
    extension RetireWorker (`kvpctl retire`, spec section 12) is admin's. */
static const kvp_op_info_t s_ops [KVP_OP_COUNT] = {
    [KVP_OP_PING] = { "Ping", KVP_BY_BROKER, false, KVP_ROLE_READER,
        { { KVP_FIELD_NONE } } },
    [KVP_OP_CLUSTER_STATUS] = { "ClusterStatus", KVP_BY_BROKER, false,
        KVP_ROLE_READER, { { KVP_FIELD_NONE } } },
    [KVP_OP_DEFINE_SYSTEM] = { "DefineSystem", KVP_BY_ID, true,
        KVP_ROLE_ADMIN, { S_NEED (NAME), S_MAY (ID) } },
    [KVP_OP_DESTROY_SYSTEM] = { "DestroySystem", KVP_BY_TARGET, true,
        KVP_ROLE_ADMIN, { S_NEED (TARGET) } },
    [KVP_OP_MODIFY_SYSTEM_SETTINGS] = { "ModifySystemSettings",
        KVP_BY_TARGET, true, KVP_ROLE_ADMIN,
        { S_NEED (TARGET), S_NEED (DXE) } },
    [KVP_OP_ADD_KVP_ITEMS] = { "AddKvpItems", KVP_BY_TARGET, true,
        KVP_ROLE_WRITER, S_ITEM_FIELDS },
    [KVP_OP_MODIFY_KVP_ITEMS] = { "ModifyKvpItems", KVP_BY_TARGET, true,
        KVP_ROLE_WRITER, S_ITEM_FIELDS },
    [KVP_OP_REMOVE_KVP_ITEMS] = { "RemoveKvpItems", KVP_BY_TARGET, true,
        KVP_ROLE_WRITER, S_ITEM_FIELDS },
    [KVP_OP_GET_KVP_ITEMS] = { "GetKvpItems", KVP_BY_TARGET, false,
        KVP_ROLE_READER,
        { S_NEED (TARGET), S_MAY (SOURCE), S_MAY (LIMIT), S_MAY (AFTER) } },
    [KVP_OP_GET_JOB] = { "GetJob", KVP_BY_JOB, false, KVP_ROLE_READER,
        { S_NEED (JOB) } },
    [KVP_OP_GET_SYSTEM] = { "GetSystem", KVP_BY_TARGET, false,
        KVP_ROLE_READER, { S_NEED (TARGET) } },
    [KVP_OP_GET_EVENTS] = { "GetEvents", KVP_BY_PARTITION, false,
        KVP_ROLE_READER, { S_NEED (PARTITION), S_NEED (FROM), S_MAY (LIMIT) } },
    //  `id` is a worker name here; the broker's registry is what it writes
    [KVP_OP_RETIRE_WORKER] = { "RetireWorker", KVP_BY_BROKER, false,
        KVP_ROLE_ADMIN, { S_NEED (ID) } },
};

static const char *s_fields [KVP_FIELD_COUNT] = {
    [KVP_FIELD_NONE] = "", [KVP_FIELD_OP] = "op", [KVP_FIELD_RID] = "rid",
    [KVP_FIELD_NAME] = "name", [KVP_FIELD_ID] = "id",
    [KVP_FIELD_TARGET] = "target", [KVP_FIELD_DXE] = "DataExchangeEnabled",
    [KVP_FIELD_ITEMS] = "items", [KVP_FIELD_KEY] = "key",
    [KVP_FIELD_SOURCE] = "Source", [KVP_FIELD_JOB] = "job",
    [KVP_FIELD_PARTITION] = "partition", [KVP_FIELD_FROM] = "from",
    [KVP_FIELD_LIMIT] = "limit", [KVP_FIELD_AFTER] = "after"
};

static const char *s_roles [] = { "reader", "writer", "admin" };

const kvp_op_info_t *
kvp_op_info (kvp_op_t op)
{
    return (unsigned) op < KVP_OP_COUNT? &s_ops [op]: NULL;
}

const char *
kvp_op_name (kvp_op_t op)
{
    const kvp_op_info_t *info = kvp_op_info (op);
    return info? info->name: "Unknown";
}

int
kvp_op_lookup (const char *name, size_t len)
{
    if (!name)
        return -1;
    for (int op = 0; op < KVP_OP_COUNT; op++)
        if (strlen (s_ops [op].name) == len
        &&  memcmp (s_ops [op].name, name, len) == 0)
            return op;
    return -1;
}

kvp_op_route_t
kvp_op_route (kvp_op_t op)
{
    const kvp_op_info_t *info = kvp_op_info (op);
    return info? info->route: KVP_BY_BROKER;
}

bool
kvp_op_writes (kvp_op_t op)
{
    const kvp_op_info_t *info = kvp_op_info (op);
    return info && info->writes;
}

kvp_role_t
kvp_op_role (kvp_op_t op)
{
    const kvp_op_info_t *info = kvp_op_info (op);
    return info? info->role: KVP_ROLE_ADMIN;
}

bool
kvp_op_takes (kvp_op_t op, kvp_field_t field)
{
    const kvp_op_info_t *info = kvp_op_info (op);
    for (size_t i = 0; info && i < KVP_OP_FIELDS_MAX; i++) {
        if (info->fields [i].field == KVP_FIELD_NONE)
            break;
        if (info->fields [i].field == field)
            return true;
    }
    return false;
}

bool
kvp_op_names_system (kvp_op_t op)
{
    kvp_op_route_t route = kvp_op_route (op);
    return kvp_op_info (op) && (route == KVP_BY_TARGET || route == KVP_BY_ID);
}

bool
kvp_op_items (kvp_op_t op)
{
    return kvp_op_takes (op, KVP_FIELD_ITEMS);
}

const char *
kvp_field_name (kvp_field_t field)
{
    return (unsigned) field < KVP_FIELD_COUNT? s_fields [field]: "";
}

kvp_field_t
kvp_field_lookup (const char *key, size_t len)
{
    for (int f = KVP_FIELD_NONE + 1; key && f < KVP_FIELD_COUNT; f++)
        if (strlen (s_fields [f]) == len
        &&  memcmp (s_fields [f], key, len) == 0)
            return (kvp_field_t) f;
    return KVP_FIELD_NONE;
}

const char *
kvp_role_name (kvp_role_t role)
{
    return (unsigned) role <= KVP_ROLE_ADMIN? s_roles [role]: "unknown";
}

int
kvp_role_lookup (const char *name)
{
    for (int role = KVP_ROLE_READER; name && role <= KVP_ROLE_ADMIN; role++)
        if (strcmp (name, s_roles [role]) == 0)
            return role;
    return -1;
}
