/*  kvp_walseg.h - the write-ahead log's segment format: how one segment's
    bytes are framed, their CRC-32C, and the scanner that says what a
    segment's bytes are. The log that writes and recovers segments is
    kvp_wal.h; this is the part that tests and fuzzers take alone.

    On disk (integers big-endian, like the rest of the store):
      segment header, 32 bytes: magic "KVPW", version (u32) 1, first LSN
        (u64), 12 zero bytes, CRC-32C of the 28 bytes before it (u32)
      record, at an 8-byte aligned offset: size (u32), CRC-32C (u32) of the
        size, the LSN, `synced` and the payload; LSN (u64), synced (u64),
        then `size` payload bytes and zeros up to the next multiple of 8.
        The size word at an aligned offset cannot straddle a sector.
      zeros where a record header would start: the end of the segment's
        records.

    A segment's records have contiguous LSNs, from the header's first LSN
    on. Each carries `synced`, the highest LSN that an fdatasync had
    covered when it was written, always below its own LSN (a record that
    claims itself synced is not one).

    Torn or damaged (kvp_walseg_state_t). After the header, the valid
    prefix is the records that each have the next LSN and a matching CRC.
    Bytes after it that are not the next record end the records: they are
    a torn tail (writes a crash cut short, never synced) unless a valid
    record after them, with an LSN that could follow, says their LSN had
    been synced, which is damage: no crash explains it. Only zeros after
    the prefix is a clean end. No valid header and no valid record is a
    segment torn while it was created (EMPTY); no valid header but records
    is damage. A valid header of another format version is FOREIGN; one
    whose first LSN is not the one its file name gives is damage. The
    search for a valid record after a tear is bounded (the payload whose
    CRC it checks is at most twice the segment's size plus 1 MiB): past
    the bound the scan says DAMAGED, refusing rather than discarding what
    might be records.

    What the log does with each (repair, remove, refuse) is kvp_wal.h's.
    Leaf module over libc alone: no I/O, no threads, no allocation; every
    function may be called from any thread.
*/
#ifndef KVP_WALSEG_H_INCLUDED
#define KVP_WALSEG_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KVP_WALSEG_VERSION        1u          /* format version written */
#define KVP_WALSEG_SEGMENT_HEADER 32          /* segment header, bytes */
#define KVP_WALSEG_RECORD_HEADER  24          /* record header, bytes */
#define KVP_WALSEG_RECORD_MAX     (1u << 30)  /* largest payload, bytes */

typedef enum {
    KVP_WALSEG_CLEAN,       /* valid header, records, then only zeros */
    KVP_WALSEG_TORN,        /* valid header, records, then bytes that are
                               not a record and that no valid record after
                               them claims were synced: a torn tail */
    KVP_WALSEG_EMPTY,       /* no valid header and no valid record */
    KVP_WALSEG_FOREIGN,     /* a valid header of another format version */
    KVP_WALSEG_DAMAGED      /* anything else: not a crash's doing */
} kvp_walseg_state_t;

typedef struct {
    kvp_walseg_state_t state;   /* what the bytes are */
    uint32_t version;       /* the header's format version (0: no header) */
    uint64_t first;         /* the header's first LSN (0: no header) */
    uint64_t last;          /* LSN of the last valid record, first - 1 if
                               none (0 without a header) */
    size_t count;           /* valid records */
    size_t end;             /* offset past the last valid record: where
                               the next one goes */
    size_t dirty;           /* offset past the last non-zero byte at or
                               after `end` (== end when the rest is zero) */
    size_t bad;             /* where the damage is, for DAMAGED */
    const char *why;        /* static text saying what is wrong, or NULL */
} kvp_walseg_scan_t;

/*  Called for each record in LSN order; `data` is valid during the call
    only. A non-zero return stops the walk and is returned by its caller. */
typedef int (kvp_walseg_record_fn) (void *arg, uint64_t lsn,
                                    const void *data, size_t size);

/*  Decode the `size` bytes of one segment at `bytes` (may be NULL when
    size is 0), calling fn (if not NULL) for each record of the valid
    prefix, and describe them in *scan. `first` is the LSN the segment's
    file name gives, or 0 if unknown; a header that says another is
    DAMAGED. Trusts nothing in the bytes and reads only inside them; its
    work is bounded by a small multiple of size. Returns 0, or fn's
    non-zero return (*scan then describes the records before that one). */
int
    kvp_walseg_scan (const void *bytes, size_t size, uint64_t first,
                     kvp_walseg_record_fn *fn, void *arg,
                     kvp_walseg_scan_t *scan);

/*  Write the header of a segment whose first record is `first`. */
void
    kvp_walseg_segment_header (uint8_t out [KVP_WALSEG_SEGMENT_HEADER],
                               uint64_t first);

/*  Write the header of the record `lsn` made of the `count` pieces at
    `iov` (size bytes in all, at most KVP_WALSEG_RECORD_MAX), `synced`
    being the last LSN known durable when it is written (< lsn). */
void
    kvp_walseg_record_header (uint8_t out [KVP_WALSEG_RECORD_HEADER],
                              uint64_t lsn, uint64_t synced,
                              const struct iovec *iov, int count,
                              size_t size);

/*  Bytes a record of `size` payload bytes takes in a segment (header,
    payload, padding to 8); size must be at most KVP_WALSEG_RECORD_MAX. */
static inline size_t
kvp_walseg_record_span (size_t size)
{
    return KVP_WALSEG_RECORD_HEADER + ((size + 7) & ~(size_t) 7);
}

/*  CRC-32C (Castagnoli) of `size` bytes, continuing from `crc` (0 to
    start): crc32c (crc32c (0, a), b) is the CRC of a then b. Uses the
    SSE4.2 instruction when the CPU has it; _soft is the table-driven
    version (slice-by-8), always available, for tests. */
uint32_t
    kvp_walseg_crc32c (uint32_t crc, const void *data, size_t size);
uint32_t
    kvp_walseg_crc32c_soft (uint32_t crc, const void *data, size_t size);

#ifdef __cplusplus
}
#endif
#endif
