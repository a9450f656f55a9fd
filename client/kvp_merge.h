/*  kvp_merge.h - the events of each partition in seq order, each once: the
    logic of the gap-free subscriber (kvp_feed), with no sockets, so a
    scripted stream can drive it in a test.

    Events reach a subscriber two ways, the live stream (PUB/SUB) and
    replays of the stored log (GetEvents), in any order, with repeats and
    with gaps. For each partition it tracks, the merge knows the next seq
    it wants: an event with that seq is queued for the caller at once, an
    earlier one is a repeat and dropped, a later one is held until the
    seqs before it have come (the caller sees the gap with kvp_merge_gap
    and replays it). The caller takes the queue in order with
    kvp_merge_pop, which also moves the partition's position (the last seq
    handed on, what a subscriber saves to resume from).

    A partition is tracked from a known position, from the start of what
    is kept (the first replay then says where that is: seqs before it are
    skipped, not lost), or from "now" (events are held, none handed on,
    until kvp_merge_known gives the position). Seqs that a replay says are
    gone (past retention) are handed on as one LOST item per run, in their
    place in the order: never hidden.

    Held events are bounded in bytes: past the bound a live event is shed
    (it is read back by the replay of the gap it leaves). One merge is used
    by one thread. No dependencies beyond libc.
*/
#ifndef KVP_MERGE_H_INCLUDED
#define KVP_MERGE_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KVP_MERGE_PARTS 65536   /* partitions 0 .. KVP_MERGE_PARTS - 1 */

/*  Where a tracked partition starts. */
typedef enum {
    KVP_MERGE_AT,               /* after a known position */
    KVP_MERGE_START,            /* from the first event kept */
    KVP_MERGE_NOW               /* unknown until kvp_merge_known */
} kvp_merge_from_t;

/*  What kvp_merge_offer did with an event. */
typedef enum {
    KVP_MERGE_QUEUED,           /* queued for the caller (or passed over) */
    KVP_MERGE_HELD,             /* held: seqs before it are missing */
    KVP_MERGE_REPEAT,           /* already queued, handed on or held */
    KVP_MERGE_SHED,             /* not held: the byte bound is reached */
    KVP_MERGE_IGNORED           /* not a tracked partition */
} kvp_merge_rc_t;

/*  Flags of an offered event. */
#define KVP_MERGE_REPLAYED  1   /* it came from a replay */
#define KVP_MERGE_HIDDEN    2   /* pass over it: advance, do not hand on
                                   (a replayed event the caller did not
                                   subscribe to) */

typedef enum {
    KVP_MERGE_EVENT,            /* an event to hand on */
    KVP_MERGE_LOST              /* seqs that can no longer be read */
} kvp_merge_kind_t;

/*  One item of the queue (kvp_merge_pop). */
typedef struct {
    kvp_merge_kind_t kind;
    uint32_t partition;
    uint64_t seq;               /* EVENT: its seq; LOST: the first lost */
    uint64_t count;             /* LOST: how many (1 for an EVENT) */
    bool replayed;              /* EVENT: it filled a gap from a replay */
    const void *body;           /* EVENT: its bytes, the merge's, valid
                                   until the next pop or destroy */
    size_t len;                 /* bytes of body */
} kvp_merge_item_t;

/*  Counters since the merge was made. */
typedef struct {
    uint64_t delivered;         /* events handed on */
    uint64_t replayed;          /* of them, ones a replay brought */
    uint64_t repeats;           /* offers dropped as already seen */
    uint64_t lost;              /* seqs handed on as LOST */
    uint64_t shed;              /* live events not held (byte bound) */
    uint64_t skipped;           /* seqs passed over: before a position
                                   became known, or HIDDEN */
    size_t held_bytes;          /* bytes held now */
} kvp_merge_stats_t;

typedef struct _kvp_merge_t kvp_merge_t;

/*  Make a merge holding at most `held_max` bytes of events ahead of gaps
    (0: 64 MiB). NULL when out of memory. */
kvp_merge_t *
    kvp_merge_new (size_t held_max);

/*  Free everything and null the caller's pointer; safe on NULL. */
void
    kvp_merge_destroy (kvp_merge_t **self_p);

/*  Track partition `part`: after position `last` (KVP_MERGE_AT; 0 for
    "before seq 1"), from the first kept (KVP_MERGE_START) or from an
    unknown position (KVP_MERGE_NOW). Returns 0, or -1 if part is out of
    range, already tracked, or memory runs out. */
int
    kvp_merge_track (kvp_merge_t *self, uint32_t part, kvp_merge_from_t from,
                     uint64_t last);

/*  A NOW partition's position is `last`: events held at or before it are
    skipped, the rest handed on from last + 1. Ignored unless part is a
    NOW partition still waiting. */
void
    kvp_merge_known (kvp_merge_t *self, uint32_t part, uint64_t last);

/*  Whether `part` is tracked, and whether its position is known. */
bool
    kvp_merge_tracked (kvp_merge_t *self, uint32_t part);
bool
    kvp_merge_is_known (kvp_merge_t *self, uint32_t part);

/*  Offer event `seq` of `part` (`len` bytes at `body`, copied; may be
    NULL with KVP_MERGE_HIDDEN), with KVP_MERGE_* flags. */
kvp_merge_rc_t
    kvp_merge_offer (kvp_merge_t *self, uint32_t part, uint64_t seq,
                     const void *body, size_t len, int flags);

/*  A replay of `part` said the seqs before `first` are gone. The ones
    not held are handed on as LOST (skipped, not lost, for a START
    partition that has handed nothing on yet); the position moves to
    first - 1 as they are popped. */
void
    kvp_merge_gone (kvp_merge_t *self, uint32_t part, uint64_t first);

/*  The first seq of `part` not yet queued (what to replay from; 0 if the
    partition is untracked or its position unknown), and whether events
    are held after a missing seq (a gap to replay). */
uint64_t
    kvp_merge_next (kvp_merge_t *self, uint32_t part);
bool
    kvp_merge_gap (kvp_merge_t *self, uint32_t part);

/*  The next item to hand on into *item; false when the queue is empty.
    HIDDEN events are passed over here (they only move the position). */
bool
    kvp_merge_pop (kvp_merge_t *self, kvp_merge_item_t *item);

/*  The last seq of `part` handed on (popped), into *last. False when
    untracked or unknown. */
bool
    kvp_merge_position (kvp_merge_t *self, uint32_t part, uint64_t *last);

/*  The counters. */
void
    kvp_merge_stats (kvp_merge_t *self, kvp_merge_stats_t *stats);

#ifdef __cplusplus
}
#endif
#endif
