/*  fuzz_wal.c - libFuzzer target for the write-ahead log's segment decoder
    (kvp_walseg_scan, which kvp_wal_open runs on every segment), built from
    the segment format alone (store/kvp_walseg.c).

    Two ways in. The input itself, as a segment's bytes. And, when its first
    byte is odd, a valid segment built from the input and then damaged as
    the input says (bit flips, zeroed headers, cuts), since random bytes
    almost never get past a CRC. Either way the scan must read only inside
    the bytes, hand out records in LSN order that lie inside the valid
    prefix, describe itself consistently, and give the same answer twice;
    and what recovery makes of a torn segment (the prefix kept, the rest
    zeroed) must scan clean to the same last record. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "kvp_walseg.h"

#define CHECK(cond) do { if (!(cond)) __builtin_trap (); } while (0)
#define S_BUILD_MAX 16384

typedef struct {
    const uint8_t *base;
    size_t size;
    uint64_t next;                  //  LSN expected next
    size_t count;
    size_t end;                     //  offset past the last record seen
    size_t stop;                    //  return 7 after this many (0: never)
} s_walk_t;

static int
s_walk_fn (void *arg, uint64_t lsn, const void *data, size_t size)
{
    s_walk_t *walk = (s_walk_t *) arg;
    const uint8_t *p = (const uint8_t *) data;
    CHECK (lsn == walk->next);
    CHECK (p >= walk->base + KVP_WALSEG_SEGMENT_HEADER
                + KVP_WALSEG_RECORD_HEADER);
    CHECK (size <= (size_t) (walk->base + walk->size - p));
    uint8_t sum = 0;                //  every byte handed out is readable
    for (size_t i = 0; i < size; i++)
        sum ^= p [i];
    __asm__ volatile ("" : : "r" (sum));
    walk->next++;
    walk->count++;
    walk->end = (size_t) (p - walk->base) + size;
    return walk->count == walk->stop? 7: 0;
}

static void
s_check_state (const kvp_walseg_scan_t *scan, size_t size)
{
    CHECK (scan->state <= KVP_WALSEG_DAMAGED);
    CHECK (scan->end <= scan->dirty && scan->dirty <= size);
    CHECK (scan->why || scan->state == KVP_WALSEG_CLEAN);
    if (scan->state == KVP_WALSEG_CLEAN || scan->state == KVP_WALSEG_TORN) {
        CHECK (scan->version == KVP_WALSEG_VERSION && scan->first >= 1);
        CHECK (scan->end >= KVP_WALSEG_SEGMENT_HEADER && scan->end % 8 == 0);
        CHECK (scan->last == scan->first + scan->count - 1);
        CHECK ((scan->dirty == scan->end)
            == (scan->state == KVP_WALSEG_CLEAN));
    }
    if (scan->state == KVP_WALSEG_EMPTY)
        CHECK (scan->count == 0 && scan->first == 0);
    if (scan->state == KVP_WALSEG_FOREIGN)
        CHECK (scan->version != KVP_WALSEG_VERSION);
}

//  What recovery does to a torn tail: keep the prefix, zero the rest
static void
s_check_repair (const uint8_t *bytes, size_t size,
                const kvp_walseg_scan_t *scan)
{
    uint8_t *copy = (uint8_t *) calloc (1, size);
    CHECK (copy);
    memcpy (copy, bytes, scan->end);
    kvp_walseg_scan_t again;
    kvp_walseg_scan (copy, size, scan->first, NULL, NULL, &again);
    CHECK (again.state == KVP_WALSEG_CLEAN);
    CHECK (again.last == scan->last && again.count == scan->count);
    CHECK (again.end == scan->end);
    free (copy);
}

static void
s_check (const uint8_t *bytes, size_t size, uint64_t first)
{
    kvp_walseg_scan_t scan, twice;
    CHECK (kvp_walseg_scan (bytes, size, first, NULL, NULL, &scan) == 0);
    s_check_state (&scan, size);
    s_walk_t walk = { bytes, size, scan.first, 0, 0, 0 };
    CHECK (kvp_walseg_scan (bytes, size, first, s_walk_fn, &walk,
                            &twice) == 0);
    CHECK (memcmp (&scan, &twice, sizeof scan) == 0);
    CHECK (walk.count == scan.count);
    CHECK (walk.end <= scan.end);
    //  Stopped by the callback: the scan describes the records before
    s_walk_t part = { bytes, size, scan.first, 0, 0, 1 + size % 3 };
    int rc = kvp_walseg_scan (bytes, size, first, s_walk_fn, &part, &twice);
    CHECK ((rc == 7) == (scan.count >= part.stop));
    if (rc == 7)
        CHECK (twice.count == part.stop - 1 && twice.end < scan.end);
    if (first && scan.state != KVP_WALSEG_EMPTY
    &&  scan.version == KVP_WALSEG_VERSION)
        CHECK (scan.first == first || scan.state == KVP_WALSEG_DAMAGED);
    if (scan.state == KVP_WALSEG_TORN)
        s_check_repair (bytes, size, &scan);
}

//  Rewrite the segment header: another version or first LSN, valid CRC
static void
s_header (uint8_t *seg, uint64_t first, uint32_t version)
{
    kvp_walseg_segment_header (seg, first);
    seg [7] = (uint8_t) version;
    uint32_t crc = kvp_walseg_crc32c (0, seg, 28);
    for (int i = 0; i < 4; i++)
        seg [28 + i] = (uint8_t) (crc >> (24 - 8 * i));
}

//  Add record `lsn` with `len` payload bytes from `from`; false if full
static bool
s_add (uint8_t *seg, size_t *off, uint64_t lsn, uint64_t lag,
       const uint8_t *from, size_t len)
{
    if (*off + kvp_walseg_record_span (len) > S_BUILD_MAX)
        return false;
    uint8_t *data = seg + *off + KVP_WALSEG_RECORD_HEADER;
    memcpy (data, from, len);
    struct iovec iov = { data, len };
    kvp_walseg_record_header (seg + *off, lsn, lsn > lag? lsn - lag: 0,
                              &iov, 1, len);
    *off += kvp_walseg_record_span (len);
    return true;
}

//  Build a segment from the input's ops, each an op byte and operands:
//  add a record (size byte, payload; how far `synced` lags, and whether
//  the LSN skips, come from the op byte), flip a byte, zero a record
//  header's worth at an aligned offset, cut the end, or rewrite the
//  segment header with another version or first LSN
static size_t
s_build (const uint8_t *in, size_t size, uint8_t *seg, uint64_t *first)
{
    size_t i = 3, off = KVP_WALSEG_SEGMENT_HEADER, cut = S_BUILD_MAX;
    *first = size > 2? 1 + (in [1] | (uint64_t) in [2] << 8): 1;
    kvp_walseg_segment_header (seg, *first);
    uint64_t lsn = *first;
    while (i + 2 < size) {
        uint8_t op = in [i++];
        size_t arg = (size_t) in [i] | (size_t) in [i + 1] << 8;
        if ((op & 7) <= 1) {
            size_t len = in [i++];
            len = len < size - i? len: size - i;
            lsn += (op & 7) && (op & 0x80);      //  now and then, a gap
            if (!s_add (seg, &off, lsn++, 1 + (op >> 3) % 4, in + i, len))
                break;
            i += len;
            continue;
        }
        i += 2;
        if ((op & 7) == 2)
            seg [arg % S_BUILD_MAX] ^= (uint8_t) ((op >> 3) | 1);
        else if ((op & 7) == 3 && (arg & ~(size_t) 7) + 24 <= S_BUILD_MAX)
            memset (seg + (arg & ~(size_t) 7), 0, KVP_WALSEG_RECORD_HEADER);
        else if ((op & 7) == 4 && arg < cut)
            cut = arg;
        else if ((op & 7) == 5)
            s_header (seg, *first, (uint32_t) (arg & 3));
        else if ((op & 7) == 6)
            s_header (seg, arg, 1);
    }
    return cut;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    s_check (data, size, 0);
    s_check (data, size, 1);
    if (size && (data [0] & 1)) {
        static uint8_t seg [S_BUILD_MAX];
        memset (seg, 0, sizeof seg);
        uint64_t first;
        size_t used = s_build (data, size, seg, &first);
        s_check (seg, used, first);
        s_check (seg, used, first + 1);
        s_check (seg, used, 0);
    }
    return 0;
}
