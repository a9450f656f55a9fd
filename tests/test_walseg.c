/*  test_walseg.c - the write-ahead log's segment format (store/kvp_walseg.h):
    CRC-32C, the framing, and the scanner, on segments built in memory.
    No files: what the log does with what the scanner says is test_wal.c.
*/
#include <check.h>
#include <string.h>
#include "kvp_walseg.h"
#include "kvp_testkit.h"

//  --- Records: payload of LSN n in generation g is known ---------------

static size_t
s_size (uint64_t lsn, size_t max)
{
    return (size_t) ((lsn * 2654435761u) >> 7) % (max + 1);
}

static void
s_fill (uint8_t *data, size_t size, uint64_t lsn, int gen)
{
    for (size_t i = 0; i < size; i++)
        data [i] = (uint8_t) (lsn * 31 + i * 7 + (size_t) gen * 101);
}

typedef struct {
    uint64_t next;                  //  LSN expected next
    size_t count;                   //  records seen
    size_t max;                     //  sizes were 0..max
    uint64_t regen;                 //  LSNs from here on are generation 1
    uint64_t stop;                  //  return 7 at this LSN (0: never)
} s_expect_t;

static int
s_expect_fn (void *arg, uint64_t lsn, const void *data, size_t size)
{
    s_expect_t *expect = (s_expect_t *) arg;
    static uint8_t want [16 << 10];
    ck_assert_uint_eq (lsn, expect->next);
    ck_assert_uint_eq (size, s_size (lsn, expect->max));
    s_fill (want, size, lsn, expect->regen && lsn >= expect->regen);
    ck_assert (memcmp (data, want, size) == 0);
    expect->next++;
    expect->count++;
    return lsn == expect->stop? 7: 0;
}

//  --- CRC and the segment decoder --------------------------------------

START_TEST (test_crc)
{
    //  RFC 3720 (iSCSI) B.4 test vectors, and the usual check value
    uint8_t buf [48];
    memset (buf, 0, 32);
    ck_assert_uint_eq (kvp_walseg_crc32c (0, buf, 32), 0x8A9136AAu);
    memset (buf, 0xff, 32);
    ck_assert_uint_eq (kvp_walseg_crc32c (0, buf, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        buf [i] = (uint8_t) i;
    ck_assert_uint_eq (kvp_walseg_crc32c (0, buf, 32), 0x46DD794Eu);
    ck_assert_uint_eq (kvp_walseg_crc32c_soft (0, buf, 32), 0x46DD794Eu);
    ck_assert_uint_eq (kvp_walseg_crc32c (0, "123456789", 9), 0xE3069283u);
    ck_assert_uint_eq (kvp_walseg_crc32c_soft (0, "123456789", 9),
                       0xE3069283u);
    ck_assert_uint_eq (kvp_walseg_crc32c (0, NULL, 0), 0);
    //  Both versions agree at every alignment and length, and chain
    static uint8_t big [5000];
    s_fill (big, sizeof big, 3, 0);
    for (size_t off = 0; off < 9; off++)
        for (size_t len = 0; len < 100; len += 7) {
            uint32_t crc = kvp_walseg_crc32c (0, big + off, len);
            ck_assert_uint_eq (crc, kvp_walseg_crc32c_soft (0, big + off,
                                                            len));
            uint32_t half = kvp_walseg_crc32c (0, big + off, len / 2);
            ck_assert_uint_eq (crc, kvp_walseg_crc32c (half,
                                                       big + off + len / 2,
                                                       len - len / 2));
        }
    ck_assert_uint_eq (kvp_walseg_crc32c (0, big, sizeof big),
                       kvp_walseg_crc32c_soft (0, big, sizeof big));
}
END_TEST

//  A segment in memory: header for `first`, then records
typedef struct {
    uint8_t bytes [8192];
    size_t off;
} s_seg_t;

static void
s_seg_begin (s_seg_t *seg, uint64_t first)
{
    memset (seg, 0, sizeof *seg);
    kvp_walseg_segment_header (seg->bytes, first);
    seg->off = KVP_WALSEG_SEGMENT_HEADER;
}

//  Add record `lsn` (`size` bytes of pattern) claiming `synced`; returns
//  its offset
static size_t
s_seg_add (s_seg_t *seg, uint64_t lsn, uint64_t synced, size_t size)
{
    size_t at = seg->off;
    uint8_t *data = seg->bytes + at + KVP_WALSEG_RECORD_HEADER;
    s_fill (data, size, lsn, 0);
    struct iovec iov = { data, size };
    kvp_walseg_record_header (seg->bytes + at, lsn, synced, &iov, 1, size);
    seg->off += kvp_walseg_record_span (size);
    return at;
}

static void
s_put_be (uint8_t *p, uint64_t value, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--, value >>= 8)
        p [i] = (uint8_t) value;
}

//  A torn tail full of plausible record headers, each claiming most of
//  the segment: checking their CRCs is bounded, and past the bound the
//  scan refuses rather than calling it a tail
START_TEST (test_scan_bound)
{
    static uint8_t bytes [256 << 10];
    memset (bytes, 0, sizeof bytes);
    kvp_walseg_segment_header (bytes, 1);
    struct iovec iov = { bytes + 56, 8 };
    kvp_walseg_record_header (bytes + 32, 1, 0, &iov, 1, 8);
    size_t from = 32 + kvp_walseg_record_span (8);
    size_t count = 4;
    kvp_walseg_scan_t scan;
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < count; i++) {
            uint8_t *head = bytes + from + 24 + 24 * i;
            s_put_be (head, sizeof bytes - (size_t) (head - bytes) - 64, 4);
            s_put_be (head + 8, 3, 8);          //  LSN 3: could follow 2
            s_put_be (head + 16, 2, 8);         //  says 2 was synced
        }
        kvp_walseg_scan (bytes, sizeof bytes, 1, NULL, NULL, &scan);
        ck_assert_uint_eq (scan.count, 1);
        //  4 bad CRCs are checked (a torn tail); 64 are too many to check
        ck_assert_int_eq (scan.state, round? KVP_WALSEG_DAMAGED
                                           : KVP_WALSEG_TORN);
        count = 64;
    }
}
END_TEST

START_TEST (test_scan)
{
    kvp_walseg_scan_t scan;
    static s_seg_t seg;
    ck_assert_int_eq (kvp_walseg_scan (NULL, 0, 0, NULL, NULL, &scan), 0);
    ck_assert_int_eq (scan.state, KVP_WALSEG_EMPTY);
    //  Header only: clean, no records
    s_seg_begin (&seg, 5);
    kvp_walseg_scan (seg.bytes, sizeof seg.bytes, 5, NULL, NULL, &scan);
    ck_assert_int_eq (scan.state, KVP_WALSEG_CLEAN);
    ck_assert_uint_eq (scan.first, 5);
    ck_assert_uint_eq (scan.last, 4);
    ck_assert_uint_eq (scan.end, KVP_WALSEG_SEGMENT_HEADER);
    //  The file's name must agree with the header
    kvp_walseg_scan (seg.bytes, sizeof seg.bytes, 6, NULL, NULL, &scan);
    ck_assert_int_eq (scan.state, KVP_WALSEG_DAMAGED);
    //  Three records, the last exactly at the end of the bytes
    s_seg_add (&seg, 5, 4, 10);
    size_t second = s_seg_add (&seg, 6, 5, 0);
    size_t third = s_seg_add (&seg, 7, 6, 100);
    kvp_walseg_scan (seg.bytes, seg.off, 0, NULL, NULL, &scan);
    ck_assert_int_eq (scan.state, KVP_WALSEG_CLEAN);
    ck_assert_uint_eq (scan.count, 3);
    ck_assert_uint_eq (scan.last, 7);
    ck_assert_uint_eq (scan.end, seg.off);
    //  Cut short: a torn tail after LSN 6
    kvp_walseg_scan (seg.bytes, seg.off - 1, 0, NULL, NULL, &scan);
    ck_assert_int_eq (scan.state, KVP_WALSEG_TORN);
    ck_assert_uint_eq (scan.last, 6);
    ck_assert_uint_eq (scan.end, third);
    ck_assert_uint_eq (scan.dirty, third + KVP_WALSEG_RECORD_HEADER + 100);
    //  LSN 6 lost, 7 written and claiming 6 was synced: damage
    memset (seg.bytes + second, 0, KVP_WALSEG_RECORD_HEADER);
    kvp_walseg_scan (seg.bytes, sizeof seg.bytes, 0, NULL, NULL, &scan);
    ck_assert_int_eq (scan.state, KVP_WALSEG_DAMAGED);
    ck_assert_uint_eq (scan.bad, second);
    ck_assert_uint_eq (scan.last, 5);
    //  ... but if 7 says only 5 had been synced, 6 and 7 are a torn tail
    s_seg_begin (&seg, 5);
    s_seg_add (&seg, 5, 4, 10);
    second = s_seg_add (&seg, 6, 5, 0);
    s_seg_add (&seg, 7, 5, 100);
    seg.bytes [second + 5] ^= 1;
    kvp_walseg_scan (seg.bytes, sizeof seg.bytes, 0, NULL, NULL, &scan);
    ck_assert_int_eq (scan.state, KVP_WALSEG_TORN);
    ck_assert_uint_eq (scan.last, 5);
    ck_assert_uint_gt (scan.dirty, second + 100);
    //  No header: empty if nothing is there, damaged if records are
    memset (seg.bytes, 0, KVP_WALSEG_SEGMENT_HEADER);
    kvp_walseg_scan (seg.bytes, sizeof seg.bytes, 5, NULL, NULL, &scan);
    ck_assert_int_eq (scan.state, KVP_WALSEG_DAMAGED);
    memset (seg.bytes, 0, sizeof seg.bytes);
    seg.bytes [3] = 0x4b;
    kvp_walseg_scan (seg.bytes, sizeof seg.bytes, 5, NULL, NULL, &scan);
    ck_assert_int_eq (scan.state, KVP_WALSEG_EMPTY);
    //  The callback's return stops the scan
    s_seg_begin (&seg, 1);
    for (uint64_t lsn = 1; lsn <= 3; lsn++)
        s_seg_add (&seg, lsn, lsn - 1, s_size (lsn, 50));
    s_expect_t expect = { 1, 0, 50, 0, 2 };
    ck_assert_int_eq (kvp_walseg_scan (seg.bytes, sizeof seg.bytes, 1,
                                       s_expect_fn, &expect, &scan), 7);
    ck_assert_uint_eq (expect.count, 2);
    //  A record that claims itself synced is not one
    s_seg_begin (&seg, 1);
    s_seg_add (&seg, 1, 1, 8);
    kvp_walseg_scan (seg.bytes, sizeof seg.bytes, 1, NULL, NULL, &scan);
    ck_assert_uint_eq (scan.count, 0);
    ck_assert_int_eq (scan.state, KVP_WALSEG_TORN);
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("walseg");
    TCase *tc = tcase_create ("walseg");
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc, test_crc);
    tcase_add_test (tc, test_scan);
    tcase_add_test (tc, test_scan_bound);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
