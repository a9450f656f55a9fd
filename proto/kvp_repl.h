/*  kvp_repl.h - the replication messages between broker and workers
    (spec section 12; proto/KVP1.md, "Replication"). They travel on the
    workers socket beside the commands of kvp_wire.h; every one starts
    with its command frame, then a fixed header frame of big-endian
    integers, then at most one variable frame:

      b -> w  ROLE    [part 4 epoch 8 flags 1] [leader id]
              You lead `part` from `epoch` when the id is yours (flags
              bit 0: writable, the in-sync set holds at least M), else
              follow it at `epoch`.
      w -> b  REPL    [part 4 epoch 8 prev 8 seq 8] [changes]
      b -> w  REPL    (the same frames, to each follower)
              A leader's committed changes to `part`, taking its
              position (below) from `prev` to `seq`.
      w -> b  ACK     [part 4 epoch 8 seq 8]
              The follower holds (synced) `part` up to `seq`.
      w -> b  RESYNC  [part 4 epoch 8 seq 8]
              The follower cannot continue from `seq`: send it a copy.
      b -> w  COMMIT  [part 4 epoch 8 seq 8]
              Every member of the in-sync set holds `part` up to `seq`.
      b -> w  COPY    [part 4 epoch 8] [to id]
              Send a copy of `part` to the follower `to`.
      w -> b  CHUNK   [to id] [part 4 epoch 8 seq 8 index 4 last 1] [changes]
      b -> w  CHUNK   [part 4 epoch 8 seq 8 index 4 last 1] [changes]
              Piece `index` of that copy; the copy holds jobs up to `seq`.

    Decoders are strict: a header of another size is refused (false), so
    a message is taken whole or not at all. Leaf module.
*/
#ifndef KVP_REPL_H_INCLUDED
#define KVP_REPL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KVP_W_ROLE      "ROLE"
#define KVP_W_REPL      "REPL"
#define KVP_W_ACK       "ACK"
#define KVP_W_RESYNC    "RESYNC"
#define KVP_W_COMMIT    "COMMIT"
#define KVP_W_COPY      "COPY"
#define KVP_W_CHUNK     "CHUNK"

/*  Header sizes, bytes */
#define KVP_REPL_ROLE   13          /* part epoch flags */
#define KVP_REPL_DATA   28          /* REPL: part epoch prev seq */
#define KVP_REPL_POS    20          /* ACK RESYNC COMMIT: part epoch seq */
#define KVP_REPL_COPY   12          /* part epoch */
#define KVP_REPL_CHUNK  25          /* part epoch seq index last */
#define KVP_REPL_HEADER_MAX 28

#define KVP_REPL_WRITABLE 0x01      /* ROLE flags */

/*  A position in a partition's stream: its last job's seq times 2^24,
    plus the writes that made no job (DefineSystem, ...) since that job,
    so that every REPL moves it on and a reply waits for exactly what it
    saw. A store knows only its seq (the low bits 0). */
#define KVP_REPL_SUB_BITS 24
#define kvp_repl_position(seq)  ((uint64_t) (seq) << KVP_REPL_SUB_BITS)
#define kvp_repl_job(position)  ((uint64_t) (position) >> KVP_REPL_SUB_BITS)

/*  Every field any header has; each command uses its own. */
typedef struct {
    uint32_t part;
    uint64_t epoch;
    uint64_t prev;                  /* REPL */
    uint64_t seq;                   /* REPL ACK RESYNC COMMIT CHUNK */
    uint32_t index;                 /* CHUNK */
    bool last;                      /* CHUNK */
    bool writable;                  /* ROLE */
} kvp_repl_t;

/*  Encode the header of `size` (one of the sizes above) into `out`
    (KVP_REPL_HEADER_MAX bytes). Returns size. */
size_t
    kvp_repl_encode (const kvp_repl_t *self, size_t size, uint8_t *out);

/*  Decode a header that must be exactly `size` bytes. False (and *self
    zeroed) otherwise, or when a field is out of range (part >= 65536,
    epoch 0, REPL with seq < prev, flags or last with unknown bits). */
bool
    kvp_repl_decode (kvp_repl_t *self, size_t size, const void *data,
                     size_t len);

#ifdef __cplusplus
}
#endif
#endif
