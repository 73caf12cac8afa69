/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * inos_arena.h — layout of the INOS shared memory arena, version 1.
 *
 * One memfd-backed mapping holds, in order (each region 4096-byte aligned):
 *
 *   +-------------------+  offset 0
 *   | inos_arena_header |  magic, version, feature bits, offset and size of every region (io_uring style)
 *   +-------------------+  header->switchboard_offset
 *   | inos_switchboard  |  event word (futex), backpressure state, manifest slots
 *   +-------------------+  header->inbox_offset
 *   | inbox ring        |  toward the node: received frames, requests (SPSC)
 *   +-------------------+  header->outbox_offset
 *   | outbox ring       |  from the node: results, frames to send (SPSC)
 *   +-------------------+  header->heap_offset
 *   | payload heap      |  blocks handed out by the host's arena_alloc; records point here by offset
 *   +-------------------+  header->total_size
 *
 * Offsets, never pointers, are stored in the arena, so any process that maps it can follow them.
 *
 * RINGS are single-producer single-consumer byte rings in the style of Agrona's OneToOneRingBuffer:
 * power-of-two capacity; tail (producer), head (consumer) and each side's cached copy of the other on
 * their own 128-byte lines; records are {int32 length, int32 type} + payload, 8-byte aligned; a record
 * that would straddle the end is preceded by a padding record. The producer writes records at its private
 * position and store-releases tail to publish them — after each record (inos_ring_try_write) or once for a
 * batch (inos_ring_commit ... inos_ring_publish), which saves a cache-line transfer per record; a claim that
 * finds the ring full publishes what is pending first, so a batch can never wait on itself. The consumer
 * acquire-loads tail, reads, and store-releases head once per batch. Writes never block: a full ring
 * returns INOS_ERR_FULL, which is backpressure, not an error.
 *
 * Only the ring's one producer thread may call the producer functions, and only its one consumer thread
 * the consumer functions. The host's ring_push/ring_pop services serialise many threads onto one side.
 */
#ifndef INOS_ARENA_H
#define INOS_ARENA_H

#include <stdint.h>
#include <string.h>

#include "inos_plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

/** "INOSAREN" as a little-endian uint64. */
#define INOS_ARENA_MAGIC 0x4E455241534F4E49ull
#define INOS_ARENA_LAYOUT_VERSION 1u
#define INOS_ARENA_REGION_ALIGNMENT 4096u
#define INOS_CACHE_LINE 128

/** Feature bits in inos_arena_header.features. */
#define INOS_ARENA_FEATURE_FUTEX 0x1ull /* switchboard event word is a futex */

typedef struct inos_arena_header {
    uint64_t magic;
    uint32_t version;
    uint32_t header_size; /* sizeof(inos_arena_header) */
    uint64_t features;
    uint64_t total_size;
    uint64_t switchboard_offset;
    uint64_t switchboard_size;
    uint64_t inbox_offset;
    uint64_t inbox_size;  /* bytes of the whole ring region, header included */
    uint64_t outbox_offset;
    uint64_t outbox_size;
    uint64_t heap_offset;
    uint64_t heap_size;
    uint64_t reserved[4];
} inos_arena_header;

/* ---------------------------------------------------------------------------------------------------- */
/* Switchboard                                                                                            */
/* ---------------------------------------------------------------------------------------------------- */

#define INOS_MANIFEST_SLOT_COUNT 16

/** A manifest slot: a small published fact ("type T now lives at offset O"), written then seq bumped. */
typedef struct inos_manifest_slot {
    uint32_t type;
    uint32_t flags;
    uint64_t offset;
    uint64_t length;
    uint64_t seq; /* bumped with release ordering after the other fields are written */
} inos_manifest_slot;

typedef struct inos_switchboard {
    /* line 0: events. pending holds INOS_SIGNAL_* bits; event_seq is the futex word, bumped per signal. */
    uint32_t event_seq;
    uint32_t waiters;  /* threads inside futex wait; a signaller skips the wake syscall when 0 */
    uint32_t pending;  /* event bits not yet taken by the host */
    uint32_t reserved0;
    uint8_t pad0[INOS_CACHE_LINE - 16];
    /* line 1: backpressure, written by the host only. */
    uint32_t backpressure; /* 1 = transports pause reads */
    uint32_t high_watermark_permille; /* pause when inbox fill >= this */
    uint32_t low_watermark_permille;  /* resume when inbox fill <= this */
    uint32_t reserved1;
    uint64_t pause_count;
    uint64_t resume_count;
    uint8_t pad1[INOS_CACHE_LINE - 32];
    /* line 2..: manifest slots */
    inos_manifest_slot slots[INOS_MANIFEST_SLOT_COUNT];
} inos_switchboard;

/* ---------------------------------------------------------------------------------------------------- */
/* Rings                                                                                                  */
/* ---------------------------------------------------------------------------------------------------- */

#define INOS_RING_MAGIC 0x474E4952u /* "RING" */
#define INOS_RING_RECORD_HEADER 8u
#define INOS_RING_RECORD_ALIGNMENT 8u
#define INOS_RING_TYPE_PADDING (-1)

typedef struct inos_ring_config {
    uint32_t magic;
    uint32_t reserved;
    uint64_t capacity; /* bytes of record space, a power of two */
    uint64_t mask;     /* capacity - 1 */
    uint64_t max_record; /* largest payload accepted: capacity / 8 - header */
} inos_ring_config;

typedef struct inos_ring {
    inos_ring_config config;                 /* line 0: read-only after init */
    uint8_t pad0[INOS_CACHE_LINE - sizeof(inos_ring_config)];
    uint64_t tail;                           /* line 1: written by the producer (release) */
    uint8_t pad1[INOS_CACHE_LINE - 8];
    uint64_t head;                           /* line 2: written by the consumer (release) */
    uint8_t pad2[INOS_CACHE_LINE - 8];
    uint64_t producer_cached_head;           /* line 3: producer-private */
    uint64_t producer_position;              /* producer-private: claimed and committed, maybe not published */
    uint8_t pad3[INOS_CACHE_LINE - 16];
    uint64_t consumer_cached_tail;           /* line 4: consumer-private */
    uint64_t consumer_position;              /* consumer-private: read but not released */
    uint8_t pad4[INOS_CACHE_LINE - 16];
    /* record bytes follow, at offset sizeof(inos_ring); the ring region is 128-byte aligned */
} inos_ring;

/** A record seen by the consumer. `data` points into the ring: valid until inos_ring_release. */
typedef struct inos_ring_record {
    int32_t type;
    uint32_t length;
    const uint8_t *data;
} inos_ring_record;

static inline uint8_t *inos_ring_buffer(inos_ring *ring) { return (uint8_t *)ring + sizeof(inos_ring); }

/** Bytes of ring region needed for `capacity` bytes of records. */
static inline uint64_t inos_ring_region_size(uint64_t capacity) { return sizeof(inos_ring) + capacity; }

/** Initialise a ring in place over zeroed memory. `capacity` must be a power of two >= 1024. */
static inline int inos_ring_init(inos_ring *ring, uint64_t capacity) {
    if (capacity < 1024 || (capacity & (capacity - 1)) != 0) return INOS_ERR_INVALID_ARGUMENT;
    memset(ring, 0, sizeof(inos_ring));
    ring->config.magic = INOS_RING_MAGIC;
    ring->config.capacity = capacity;
    ring->config.mask = capacity - 1;
    ring->config.max_record = capacity / 8 - INOS_RING_RECORD_HEADER;
    __atomic_store_n(&ring->tail, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&ring->head, 0, __ATOMIC_RELEASE);
    return INOS_OK;
}

static inline uint64_t inos_ring_align(uint64_t n) {
    return (n + (INOS_RING_RECORD_ALIGNMENT - 1)) & ~(uint64_t)(INOS_RING_RECORD_ALIGNMENT - 1);
}

/** Bytes currently used (any thread; a snapshot). */
static inline uint64_t inos_ring_used(const inos_ring *ring) {
    uint64_t head = __atomic_load_n(&ring->head, __ATOMIC_ACQUIRE);
    uint64_t tail = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);
    return tail - head;
}

/* ---- producer side ---------------------------------------------------------------------------------- */

/** Make every committed record visible to the consumer (store-release of tail). Producer only. */
static inline void inos_ring_publish(inos_ring *ring) {
    __atomic_store_n(&ring->tail, ring->producer_position, __ATOMIC_RELEASE);
}

/**
 * Reserve space for one record of `length` payload bytes and write its header. Returns a pointer to the
 * payload (write it, then call inos_ring_commit with *out_next, then inos_ring_publish — now or after more
 * records), or NULL with *out_status INOS_ERR_FULL (backpressure; committed records were published) or
 * INOS_ERR_INVALID_ARGUMENT (length over config.max_record or type < 0).
 */
static inline uint8_t *inos_ring_try_claim(inos_ring *ring, int32_t type, uint32_t length, uint64_t *out_next,
                                           int *out_status) {
    const uint64_t capacity = ring->config.capacity;
    if (type < 0 || length > ring->config.max_record) {
        *out_status = INOS_ERR_INVALID_ARGUMENT;
        return NULL;
    }
    const uint64_t record = inos_ring_align((uint64_t)length + INOS_RING_RECORD_HEADER);
    const uint64_t position = ring->producer_position;
    const uint64_t index = position & ring->config.mask;
    const uint64_t to_end = capacity - index;
    const uint64_t needed = record <= to_end ? record : to_end + record; /* padding + record */

    if (position + needed - ring->producer_cached_head > capacity) {
        ring->producer_cached_head = __atomic_load_n(&ring->head, __ATOMIC_ACQUIRE);
        if (position + needed - ring->producer_cached_head > capacity) {
            inos_ring_publish(ring); /* the consumer must see pending records to make room */
            *out_status = INOS_ERR_FULL;
            return NULL;
        }
    }
    uint8_t *buffer = inos_ring_buffer(ring);
    uint64_t at = index;
    if (record > to_end) {
        int32_t *pad = (int32_t *)(buffer + index);
        pad[0] = (int32_t)to_end;
        pad[1] = INOS_RING_TYPE_PADDING;
        at = 0;
    }
    int32_t *header = (int32_t *)(buffer + at);
    header[0] = (int32_t)(length + INOS_RING_RECORD_HEADER);
    header[1] = type;
    *out_next = position + needed;
    *out_status = INOS_OK;
    return buffer + at + INOS_RING_RECORD_HEADER;
}

/** Finish the record claimed with `next` (it becomes visible at the next publish). Producer only. */
static inline void inos_ring_commit(inos_ring *ring, uint64_t next) { ring->producer_position = next; }

/** Claim, copy, commit and publish one record. INOS_OK, INOS_ERR_FULL or INOS_ERR_INVALID_ARGUMENT. */
static inline int inos_ring_try_write(inos_ring *ring, int32_t type, const void *data, uint32_t length) {
    uint64_t next;
    int status;
    uint8_t *payload = inos_ring_try_claim(ring, type, length, &next, &status);
    if (payload == NULL) return status;
    if (length) memcpy(payload, data, length);
    inos_ring_commit(ring, next);
    inos_ring_publish(ring);
    return INOS_OK;
}

/* ---- consumer side ---------------------------------------------------------------------------------- */

/**
 * Look at the next unread record. Returns 1 and fills *out (data valid until release), or 0 if the ring
 * holds no unread record. Padding records are skipped. Call inos_ring_consume after handling it.
 */
static inline int inos_ring_peek(inos_ring *ring, inos_ring_record *out) {
    uint64_t position = ring->consumer_position;
    for (;;) {
        if (position == ring->consumer_cached_tail) {
            ring->consumer_cached_tail = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);
            if (position == ring->consumer_cached_tail) return 0;
        }
        const uint8_t *at = inos_ring_buffer(ring) + (position & ring->config.mask);
        const int32_t *header = (const int32_t *)at;
        if (header[1] == INOS_RING_TYPE_PADDING) {
            position += (uint64_t)header[0];
            ring->consumer_position = position;
            continue;
        }
        out->type = header[1];
        out->length = (uint32_t)header[0] - INOS_RING_RECORD_HEADER;
        out->data = at + INOS_RING_RECORD_HEADER;
        return 1;
    }
}

/** Mark the record returned by the last peek as read (not yet released to the producer). */
static inline void inos_ring_consume(inos_ring *ring, const inos_ring_record *record) {
    ring->consumer_position += inos_ring_align((uint64_t)record->length + INOS_RING_RECORD_HEADER);
}

/** Give every consumed record's space back to the producer (store-release of head). Batch it. */
static inline void inos_ring_release(inos_ring *ring) {
    __atomic_store_n(&ring->head, ring->consumer_position, __ATOMIC_RELEASE);
}

/* ---- atomics on shared 32-bit words (switchboard), sequentially consistent ------------------------- */

static inline uint32_t inos_atomic_load_u32(uint32_t *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static inline void inos_atomic_store_u32(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }
static inline uint32_t inos_atomic_exchange_u32(uint32_t *p, uint32_t v) {
    return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST);
}
static inline uint32_t inos_atomic_fetch_add_u32(uint32_t *p, uint32_t v) {
    return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
}
static inline uint32_t inos_atomic_fetch_or_u32(uint32_t *p, uint32_t v) {
    return __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST);
}

/* ---- switchboard helpers ------------------------------------------------------------------------------ */

/** Publish a manifest slot: write the fields, then bump seq with release ordering. Producer-only. */
static inline void inos_manifest_publish(inos_manifest_slot *slot, uint32_t type, uint64_t offset,
                                         uint64_t length) {
    slot->type = type;
    slot->offset = offset;
    slot->length = length;
    __atomic_fetch_add(&slot->seq, 1, __ATOMIC_RELEASE);
}

#ifdef __cplusplus
}
#endif

#endif /* INOS_ARENA_H */
