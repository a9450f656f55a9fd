/*  kvp_guid.h - system GUIDs, WMI object paths, the partition function and
    job ids.

    A GUID is kept as 36 lower-case characters plus NUL (kvp_guid_t). The
    partition of a system is a pure function of that text and the number of
    partitions N (proto/KVP1.md section "Partitions"):

        partition = fnv1a32 (lower-case GUID, 36 bytes) mod N

    A job id (InstanceID) is "<partition>.<epoch>.<seq>": partition in
    decimal, the partition's epoch as 8 lower-case hex digits, and the job's
    per-partition sequence number in decimal. The broker routes GetJob by
    the partition it reads from the id. Leaf module: no dependencies.
*/
#ifndef KVP_GUID_H_INCLUDED
#define KVP_GUID_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KVP_GUID_LEN    36          /* text length, without the NUL */
#define KVP_JOBID_MAX   64          /* longest job id, without the NUL */

typedef struct {
    char text [KVP_GUID_LEN + 1];   /* lower-case, NUL-terminated */
} kvp_guid_t;

/*  Parse `len` bytes at `text` as a GUID (any case). Returns true and fills
    `guid` (lower-cased) on success; false if the text is not exactly a
    GUID. */
bool
    kvp_guid_parse (kvp_guid_t *guid, const char *text, size_t len);

/*  Parse a request's `target`: either a GUID, or a WMI object path whose key
    property Name="<GUID>" holds one (other key properties are ignored).
    Returns true and fills `guid` on success. */
bool
    kvp_guid_parse_target (kvp_guid_t *guid, const char *text, size_t len);

/*  Make a random (version 4) GUID. */
void
    kvp_guid_random (kvp_guid_t *guid);

/*  Convert between text and the 16 raw bytes (for compact store keys). */
void
    kvp_guid_to_bytes (const kvp_guid_t *guid, uint8_t bytes [16]);
void
    kvp_guid_from_bytes (kvp_guid_t *guid, const uint8_t bytes [16]);

/*  The partition of `guid` among `partitions` (> 0) partitions. */
uint32_t
    kvp_guid_partition (const kvp_guid_t *guid, uint32_t partitions);

/*  Format a job id into `buf` (at least KVP_JOBID_MAX + 1 bytes). Returns
    its length. */
size_t
    kvp_jobid_format (char *buf, uint32_t partition, uint32_t epoch,
                      uint64_t seq);

/*  Parse `len` bytes as a job id. Returns true and fills the three parts if
    the text has the exact form kvp_jobid_format makes; false otherwise. */
bool
    kvp_jobid_parse (const char *text, size_t len, uint32_t *partition,
                     uint32_t *epoch, uint64_t *seq);

/*  32-bit FNV-1a of `len` bytes (the hash behind the partition function). */
uint32_t
    kvp_fnv1a32 (const void *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif
