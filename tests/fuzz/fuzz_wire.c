/*  fuzz_wire.c - libFuzzer target for the decoders that read bytes from
    other processes or the disk: REGISTER, WELCOME/ASSIGN, REFUSE (what a
    stranger on the workers' socket can send) and stored job events. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <msgpack.h>
#include "kvp_wire.h"
#include "kvp_reply.h"

#define CHECK(cond) do { if (!(cond)) __builtin_trap (); } while (0)

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    kvp_register_t reg;
    if (kvp_register_decode (&reg, data, size)) {
        CHECK (strlen (reg.id) >= 1 && strlen (reg.id) <= KVP_WORKER_ID_MAX);
        CHECK (strlen (reg.token) >= 1 && strlen (reg.token) <= KVP_TOKEN_MAX);
        CHECK (reg.nparts <= KVP_PARTITIONS_MAX);
        for (size_t i = 0; i < reg.partition_count; i++)
            CHECK (reg.partitions [i] < KVP_PARTITIONS_MAX);
        free (reg.partitions);
    }
    uint32_t *partitions, nparts, beat;
    size_t count;
    if (kvp_assign_decode (data, size, &partitions, &count, &nparts, &beat)) {
        for (size_t i = 0; i < count; i++)
            CHECK (partitions [i] < KVP_PARTITIONS_MAX);
        free (partitions);
    }
    char error [16];
    if (kvp_refuse_decode (data, size, error, sizeof error))
        CHECK (strlen (error) < sizeof error);
    msgpack_zone zone;
    msgpack_zone_init (&zone, 1024);
    kvp_job_t job;
    if (kvp_job_decode (&job, data, size, &zone))
        CHECK (job.instance_id && job.target && job.error_desc
            && strlen (job.error_desc) <= job.error_desc_len);
    msgpack_zone_destroy (&zone);
    return 0;
}
