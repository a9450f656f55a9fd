/*  kvp_decgen.c - random decision records for tests (see kvp_decgen.h). */
#include <string.h>
#include "kvp_decgen.h"

#define S_TRIES 64

static const char *s_names [] = {
    "w0", "w1", "w2", "w3", "w4", "w5", "w6", "w7"
};
static const char *s_tokens [] = { "t0", "t1", "t2", "" };

uint64_t
tk_rand (uint64_t *seed)
{
    uint64_t z = (*seed += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static const char *
s_name (uint64_t *seed)
{
    return s_names [tk_rand (seed) % 8];
}

//  One of the partition's copies mostly, else any name
static const char *
s_copy (const kvp_regpart_t *part, uint64_t *seed)
{
    if (part->count && tk_rand (seed) % 8)
        return part->replicas [tk_rand (seed) % part->count];
    return s_name (seed);
}

//  PLACE: 1..R distinct names of the pool
static void
s_place (const kvp_regstate_t *state, uint64_t *seed, kvp_decision_t *out)
{
    unsigned replicas = kvp_regstate_replicas (state);
    out->count = 1 + tk_rand (seed) % (replicas? replicas: 1);
    size_t first = tk_rand (seed) % 8;
    for (size_t i = 0; i < out->count; i++)
        out->workers [i] = s_names [(first + 3 * i) % 8];
}

//  The epoch a record of this type would need, now and then off by one
static uint64_t
s_epoch (const kvp_regpart_t *part, kvp_decision_type_t type, uint64_t *seed)
{
    uint64_t epoch = part->epoch + (type == KVP_DECISION_LEADER);
    if (tk_rand (seed) % 8 == 0)
        epoch++;
    return epoch? epoch: 1;
}

//  The type: replication's records most often, CREATE and RETIRE rarely
static kvp_decision_type_t
s_type (uint64_t *seed)
{
    static const kvp_decision_type_t types [] = {
        KVP_DECISION_CREATE, KVP_DECISION_RETIRE,
        KVP_DECISION_WORKER, KVP_DECISION_WORKER, KVP_DECISION_WORKER,
        KVP_DECISION_ASSIGN, KVP_DECISION_ASSIGN, KVP_DECISION_PLACE,
        KVP_DECISION_PLACE, KVP_DECISION_PLACE, KVP_DECISION_LEADER,
        KVP_DECISION_LEADER, KVP_DECISION_SHRINK, KVP_DECISION_SHRINK,
        KVP_DECISION_EXPAND, KVP_DECISION_EXPAND, KVP_DECISION_MOVE,
        KVP_DECISION_MOVE, KVP_DECISION_MOVE
    };
    return types [tk_rand (seed) % (sizeof types / sizeof types [0])];
}

void
tk_decision_random (const kvp_regstate_t *state, uint64_t *seed,
                    kvp_decision_t *out)
{
    uint32_t nparts = kvp_regstate_partitions (state);
    kvp_regpart_t part = { 0 };
    memset (out, 0, sizeof *out);
    out->type = s_type (seed);
    out->part = (uint32_t) (tk_rand (seed) % (nparts + 1));
    kvp_regstate_partition (state, out->part, &part);
    out->epoch = s_epoch (&part, out->type, seed);
    out->worker = s_copy (&part, seed);
    out->token = s_tokens [tk_rand (seed) % 4];
    out->nparts = 16;
    out->replicas = 3;
    out->min_insync = 2;
    if (out->type == KVP_DECISION_PLACE)
        s_place (state, seed, out);
    if (out->type == KVP_DECISION_MOVE) {
        out->to = tk_rand (seed) % 4? s_name (seed): "";
        if (tk_rand (seed) % 4 == 0)
            out->worker = "";
        if (!*out->worker && !*out->to)
            out->to = s_name (seed);
    }
}

void
tk_decision_next (const kvp_regstate_t *state, uint64_t seed,
                  kvp_decision_t *out)
{
    for (int i = 0; i < S_TRIES; i++) {
        tk_decision_random (state, &seed, out);
        if (kvp_regstate_validate (state, out, NULL, 0) == 0)
            return;
    }
    memset (out, 0, sizeof *out);
    out->type = KVP_DECISION_WORKER;
    out->worker = s_name (&seed);
    out->token = s_tokens [tk_rand (&seed) % 4];
}
