/*  fuzz_decision.c - libFuzzer target for the registry's decoders and its
    state machine: the decision records (store/kvp_decision.c) and the
    state snapshots (store/kvp_regstate.c), which the broker reads back
    from its disk.

    Three ways in, each input taking all three. The input as one record:
    refused whole, or well formed and encoding back to the very same
    bytes. The input as a snapshot: refused, or a state that saves back to
    the very same bytes. And, since random bytes almost never pass a CRC,
    the input as a script of records built field by field (types, parts,
    epochs near the current one, names from a small pool with an empty and
    an over-long one), each encoded, decoded back and applied to a state:
    accepted exactly when validation says so, a refusal changing nothing,
    and after every record the state's snapshot loading back equal, so no
    sequence of records breaks an invariant. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "kvp_decision.h"
#include "kvp_regstate.h"

#define CHECK(cond) do { if (!(cond)) __builtin_trap (); } while (0)
#define S_STEP 6                    //  input bytes per scripted record

static char s_long [KVP_DECISION_NAME_MAX + 2];

static const char *
s_pool (uint8_t pick)
{
    static const char *names [] = { "a", "b", "c", "d", "e", "", NULL };
    if (!s_long [0])
        memset (s_long, 'n', sizeof s_long - 1);
    return pick % 8 == 7? s_long: names [pick % 8];
}

static void
s_one_record (const uint8_t *data, size_t size)
{
    kvp_decision_t record;
    if (kvp_decision_decode (data, size, &record) != 0) {
        CHECK (record.type == 0 && !record.worker);
        return;
    }
    CHECK (kvp_decision_valid (&record, NULL, 0));
    CHECK (kvp_decision_encode (&record, NULL, 0) == size);
    uint8_t *again = malloc (size);
    CHECK (again && kvp_decision_encode (&record, again, size) == size);
    CHECK (memcmp (again, data, size) == 0);
    free (again);
    char line [128];
    kvp_decision_describe (&record, line, sizeof line);
}

//  The state must save to these bytes again, and load back equal
static void
s_check_snapshot (const kvp_regstate_t *state, uint64_t seq)
{
    size_t size;
    uint8_t *bytes = kvp_regstate_save (state, seq, &size);
    CHECK (bytes);
    uint64_t back_seq = 0;
    int rc = -1;
    kvp_regstate_t *back = kvp_regstate_load (bytes, size, &back_seq, &rc);
    CHECK (back && rc == 0 && back_seq == seq);
    CHECK (kvp_regstate_equal (back, state)
        && kvp_regstate_equal (state, back));
    kvp_regstate_destroy (&back);
    free (bytes);
}

static void
s_snapshot (const uint8_t *data, size_t size)
{
    uint64_t seq;
    int rc = 0;
    kvp_regstate_t *state = kvp_regstate_load (data, size, &seq, &rc);
    if (!state) {
        CHECK (rc != 0);
        return;
    }
    size_t saved;
    uint8_t *bytes = kvp_regstate_save (state, seq, &saved);
    CHECK (bytes && saved == size && memcmp (bytes, data, size) == 0);
    free (bytes);
    kvp_regstate_destroy (&state);
}

//  A record from S_STEP input bytes, near what the state holds
static void
s_build (const kvp_regstate_t *state, const uint8_t *in,
         kvp_decision_t *out)
{
    memset (out, 0, sizeof *out);
    out->type = (kvp_decision_type_t) (in [0] % (KVP_DECISION_TYPES + 1));
    uint32_t nparts = kvp_regstate_partitions (state);
    out->part = in [1] % (nparts + 2);
    kvp_regpart_t part = { 0 };
    kvp_regstate_partition (state, out->part, &part);
    out->epoch = in [2] < 250? part.epoch + in [2] % 3: (uint64_t) in [2];
    bool copy = part.count && (in [3] & 0x80);
    out->worker = copy? part.replicas [in [3] % part.count]: s_pool (in [3]);
    out->to = s_pool (in [4]);
    out->token = in [4] & 0x80? "token": "";
    out->count = in [5] % (KVP_DECISION_REPLICAS_MAX + 2);
    for (size_t i = 0; i < out->count && i < KVP_DECISION_REPLICAS_MAX; i++)
        out->workers [i] = s_pool ((uint8_t) (in [3] + i * (in [4] | 1)));
    out->nparts = 1 + in [1] % 16;
    out->replicas = in [2] % 7;
    out->min_insync = in [5] % 4;
}

//  One scripted record: through the codec, then applied or refused
static void
s_step (kvp_regstate_t *state, const kvp_decision_t *built, uint64_t seq)
{
    uint8_t buf [4096];
    size_t size = kvp_decision_encode (built, buf, sizeof buf);
    CHECK ((size != 0) == kvp_decision_valid (built, NULL, 0));
    kvp_decision_t record = *built;
    if (size && size <= sizeof buf)
        CHECK (kvp_decision_decode (buf, size, &record) == 0);
    size_t before_size, after_size;
    uint8_t *before = kvp_regstate_save (state, 0, &before_size);
    int valid = kvp_regstate_validate (state, &record, NULL, 0);
    int rc = kvp_regstate_apply (state, &record, NULL, 0);
    CHECK (rc == valid);
    uint8_t *after = kvp_regstate_save (state, 0, &after_size);
    if (rc)
        CHECK (before_size == after_size
            && memcmp (before, after, before_size) == 0);
    free (before);
    free (after);
    s_check_snapshot (state, seq);
}

static void
s_fold (const uint8_t *data, size_t size)
{
    kvp_regstate_t *state = kvp_regstate_new ();
    CHECK (state);
    kvp_decision_t create = { .type = KVP_DECISION_CREATE,
                              .nparts = size? 1 + data [0] % 16: 4,
                              .replicas = 3, .min_insync = 2 };
    CHECK (kvp_regstate_apply (state, &create, NULL, 0) == 0);
    uint64_t seq = 1;
    for (size_t at = 1; at + S_STEP <= size; at += S_STEP) {
        kvp_decision_t record;
        s_build (state, data + at, &record);
        s_step (state, &record, ++seq);
    }
    kvp_regstate_destroy (&state);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    s_one_record (data, size);
    s_snapshot (data, size);
    s_fold (data, size);
    return 0;
}
