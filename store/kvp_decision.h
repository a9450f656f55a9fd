/*  kvp_decision.h - the broker's decision records: every change of what
    the registry remembers (store/kvp_registry.h) is one record, and the
    registry's state is the fold of its records (store/kvp_regstate.h
    applies them). Each record type, its fields, and the state it
    produces once applied:

      CREATE  nparts, replicas, min_insync
              The cluster: N partitions, none placed; R copies wanted of
              each, M of them in sync for a write to be acknowledged.
              Only as the first record.
      WORKER  worker, token
              `worker` is known, with its data-directory token (a new one
              replaces the old).
      ASSIGN  part, worker
              `part` has one copy, on `worker`, which leads it and is its
              in-sync set alone; the epoch grows by one when the leader
              changes. The decision of a cluster of one copy (today's
              lazy assignment); refused on a partition of more copies and
              for a retired worker.
      PLACE   part, workers (1..R, distinct)
              First placement: copies on `workers`, the first leads, all
              in sync (a new partition holds nothing yet), epoch 1.
              Refused unless the partition has no copy and every worker is
              known and not retired.
      LEADER  part, epoch, worker
              `worker` leads from `epoch` on: a promotion, or with the same
              leader a new epoch. Refused unless `epoch` is above the
              current one and `worker` holds a copy and is in sync. A
              leader it replaces leaves the in-sync set (it may hold a tail
              nobody acknowledged, which it drops before it rejoins).
      SHRINK  part, epoch, worker
              `worker` leaves the in-sync set. Refused unless `epoch` is
              the current one and `worker` is an in-sync follower (never
              the leader).
      EXPAND  part, epoch, worker
              `worker` returns to the in-sync set (it caught up). Refused
              unless `epoch` is the current one and `worker` holds a copy
              out of sync.
      MOVE    part, epoch, worker, to
              A copy moved: `worker` loses its copy and `to` takes its
              place in the replica order, out of sync until it caught up
              (EXPAND). An empty `worker` adds a copy (up to R), an empty
              `to` drops one. Refused unless `epoch` is the current one,
              `worker` holds a copy out of sync (so a leader never moves:
              it is promoted away first) and `to` is known, not retired
              and holds no copy.
      RETIRE  worker
              `worker` is retired: it gets no new copy (ASSIGN, PLACE and
              MOVE refuse it); the copies it holds stay until moved.
              Refused for an unknown or retired worker.

    An epoch is the leadership term of one partition: it grows with every
    change of leader, and a decision naming an older epoch is refused, so
    a decision taken on a stale view changes nothing.

    Encoding (all integers big-endian), canonical: one record has one
    encoding, and what decodes encodes back to the same bytes:

      version(1) type(1) length(4) body crc32c(4)

    version is KVP_DECISION_VERSION; length counts the body's bytes; the
    CRC-32C covers everything before it. The body holds the type's fields
    in this order: nparts(4) replicas(1) min_insync(1) | part(2) |
    epoch(8) | count(1) workers | worker | token | to, where a string is
    len(2) bytes NUL (store/kvp_cursor.h). Decoding is strict: a record
    that is cut, longer than its length, of an unknown version or type,
    with a bad CRC or a field out of bounds is KVP_STORE_CORRUPT, and
    nothing is handed out (it is fuzzed: tests/fuzz/fuzz_decision.c).

    A record is not a KVP/1 message and never crosses the wire to clients
    or workers; it lives in store/ beside the registry that keeps it, and
    a replicated registry (the next step: Raft among brokers) carries
    these same bytes as its log entries. Leaf module; libc only.
*/
#ifndef KVP_DECISION_H_INCLUDED
#define KVP_DECISION_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KVP_DECISION_VERSION        1
#define KVP_DECISION_PARTITIONS_MAX 65536       /* N; part is 2 bytes */
#define KVP_DECISION_REPLICAS_MAX   5           /* R */
#define KVP_DECISION_NAME_MAX       511         /* a worker name, bytes */
#define KVP_DECISION_TOKEN_MAX      65535       /* a token, bytes */
#define KVP_DECISION_HEADER         6           /* version type length */
#define KVP_DECISION_TRAILER        4           /* crc32c */
/*  The longest record: a WORKER with the longest name and token */
#define KVP_DECISION_SIZE_MAX       (KVP_DECISION_HEADER + 2 \
    + KVP_DECISION_NAME_MAX + 1 + 2 + KVP_DECISION_TOKEN_MAX + 1 \
    + KVP_DECISION_TRAILER)

typedef enum {
    KVP_DECISION_CREATE = 1,
    KVP_DECISION_WORKER = 2,
    KVP_DECISION_ASSIGN = 3,
    KVP_DECISION_PLACE = 4,
    KVP_DECISION_LEADER = 5,
    KVP_DECISION_SHRINK = 6,
    KVP_DECISION_EXPAND = 7,
    KVP_DECISION_MOVE = 8,
    KVP_DECISION_RETIRE = 9,
    KVP_DECISION_TYPES = 10             /* one past the last type */
} kvp_decision_type_t;

/*  One record. The fields a type does not have are ignored (and decode
    as 0 and NULL). Strings are borrowed: from the caller when it builds a
    record, from the decoded bytes after kvp_decision_decode. */
typedef struct {
    kvp_decision_type_t type;
    uint32_t nparts;                /* CREATE: N, 1..65536 */
    uint8_t replicas;               /* CREATE: R, 1..5 */
    uint8_t min_insync;             /* CREATE: M, 1..R */
    uint32_t part;                  /* a partition, < 65536 (< N to apply) */
    uint64_t epoch;                 /* LEADER SHRINK EXPAND MOVE: >= 1 */
    size_t count;                   /* PLACE: workers, 1..5 */
    const char *workers [KVP_DECISION_REPLICAS_MAX];    /* PLACE */
    const char *worker;             /* the worker decided about; MOVE: the
                                       copy's holder, "" to add a copy */
    const char *token;              /* WORKER: its token, may be "" */
    const char *to;                 /* MOVE: the new holder, "" to drop */
} kvp_decision_t;

/*  Is the record well formed on its own (type known, every field it has
    present and within bounds, PLACE's workers distinct, MOVE naming at
    least one side)? If not, and `why` is not NULL, the reason goes there
    (`size` bytes, NUL-terminated). Nothing here looks at a state. */
bool
    kvp_decision_valid (const kvp_decision_t *self, char *why, size_t size);

/*  Encode a well-formed record into `buf` (`size` bytes; may be NULL with
    size 0). Returns the bytes the encoding takes, having written them only
    if they fit, or 0 if the record is not well formed. */
size_t
    kvp_decision_encode (const kvp_decision_t *self, uint8_t *buf,
                         size_t size);

/*  Decode the record in the `size` bytes at `data` into *self, whose
    strings then point into `data`. Returns 0, or KVP_STORE_CORRUPT with
    *self zeroed if the bytes are not exactly one well-formed record. */
int
    kvp_decision_decode (const void *data, size_t size,
                         kvp_decision_t *self);

/*  The type's name ("create", "worker", ... "retire"), "?" if unknown. */
const char *
    kvp_decision_type_name (kvp_decision_type_t type);

/*  One line for logs, e.g. "leader part 7 epoch 3 worker w2", into `buf`
    (`size` bytes, NUL-terminated, cut if need be). Returns buf. */
const char *
    kvp_decision_describe (const kvp_decision_t *self, char *buf,
                           size_t size);

#ifdef __cplusplus
}
#endif
#endif
