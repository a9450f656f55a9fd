/*  kvp_wire.h - the messages between broker and workers (proto/KVP1.md,
    section "Broker and workers").

    Workers connect a DEALER to the broker's ROUTER "workers". Every message
    starts with one command frame (the short ASCII names below); the frames
    after it are fixed per command:

      worker -> broker
        REGISTER  [map: version, id, token, partitions, nparts; zone
                  when the worker names one]
        HEARTBEAT
        REPLY     [tag: 8 bytes] [reply body]
        BYE       (graceful stop: the broker marks the worker down at once)
      broker -> worker
        WELCOME   [map: partitions, nparts, heartbeat_ms]
        REFUSE    [map: error]            (the worker logs it and exits 2)
        ASSIGN    [map: partitions]       (newly given partitions)
        REQUEST   [tag: 8 bytes] [partition: 4 bytes BE] [guid: 36 bytes]
                  [request body]
        HEARTBEAT

    A tag is an opaque 8-byte value the broker chose; the worker returns it
    unchanged. The guid frame is the request's target (for DefineSystem the
    id, made by the broker when the client gave none).

    This module encodes and decodes the two maps (REGISTER, WELCOME/ASSIGN);
    framing is done by the callers with zmsg/zframe. Each encoder clears
    its buffer first. Decoders are strict and bounds-safe: any malformed
    input (bad types, a key given twice, a lying length) gives false.
    Uses msgpack-c.
*/
#ifndef KVP_WIRE_H_INCLUDED
#define KVP_WIRE_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <msgpack.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KVP_WIRE_VERSION    1
#define KVP_W_REGISTER      "REGISTER"
#define KVP_W_HEARTBEAT     "HEARTBEAT"
#define KVP_W_REPLY         "REPLY"
#define KVP_W_BYE           "BYE"
#define KVP_W_WELCOME       "WELCOME"
#define KVP_W_REFUSE        "REFUSE"
#define KVP_W_ASSIGN        "ASSIGN"
#define KVP_W_REQUEST       "REQUEST"

#define KVP_PARTITIONS_MAX  65536   /* largest N */
#define KVP_WORKER_ID_MAX   64      /* worker name, bytes */
#define KVP_TOKEN_MAX       64      /* data directory token, bytes */
#define KVP_ZONE_MAX        64      /* a worker's zone name, bytes */

/*  What a worker says about itself when it registers. */
typedef struct {
    uint32_t version;               /* KVP_WIRE_VERSION */
    char id [KVP_WORKER_ID_MAX + 1];        /* worker name */
    char token [KVP_TOKEN_MAX + 1];         /* random, made with its data dir */
    uint32_t nparts;                /* N its data was made with; 0 if none */
    uint32_t *partitions;           /* partitions it holds data for */
    size_t partition_count;         /* entries in partitions */
    char zone [KVP_ZONE_MAX + 1];   /* its zone (--zone), "" for none */
} kvp_register_t;

/*  Is `zone` (`len` bytes) a zone name: at most KVP_ZONE_MAX bytes of
    printable ASCII (space to tilde)? The empty name is "no zone". */
bool
    kvp_wire_zone_valid (const char *zone, size_t len);

/*  Encode a REGISTER map into `buf`; `zone` only when not empty. */
void
    kvp_register_encode (msgpack_sbuffer *buf, const kvp_register_t *reg);

/*  Decode a REGISTER map. On success the caller frees reg->partitions with
    free(). Returns false (and allocates nothing) on any malformed input:
    bad types, an id or token empty or too long, a partition >= 65536, a
    zone that is not a zone name. An absent zone (an older worker) decodes
    as "". */
bool
    kvp_register_decode (kvp_register_t *reg, const void *body, size_t len);

/*  Encode a WELCOME or ASSIGN map: `partitions` (count entries), `nparts`
    and `heartbeat_ms` (both omitted when 0, as in ASSIGN). */
void
    kvp_assign_encode (msgpack_sbuffer *buf, const uint32_t *partitions,
                       size_t count, uint32_t nparts, uint32_t heartbeat_ms);

/*  Decode a WELCOME or ASSIGN map. On success the caller frees
    *partitions with free(); *nparts and *heartbeat_ms are 0 when absent. */
bool
    kvp_assign_decode (const void *body, size_t len, uint32_t **partitions,
                       size_t *count, uint32_t *nparts,
                       uint32_t *heartbeat_ms);

/*  Encode / decode a REFUSE map {error: str}. decode copies at most
    `size` - 1 bytes and NUL-terminates. */
void
    kvp_refuse_encode (msgpack_sbuffer *buf, const char *error);
bool
    kvp_refuse_decode (const void *body, size_t len, char *error,
                       size_t size);

/*  Tags and partitions as frames: 8-byte and 4-byte big-endian. */
void
    kvp_put_u64 (uint8_t out [8], uint64_t value);
uint64_t
    kvp_get_u64 (const uint8_t in [8]);
void
    kvp_put_u32 (uint8_t out [4], uint32_t value);
uint32_t
    kvp_get_u32 (const uint8_t in [4]);

#ifdef __cplusplus
}
#endif
#endif
