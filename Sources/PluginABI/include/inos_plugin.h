/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * inos_plugin.h — the INOS Mesh plugin ABI, version 1.2.
 *
 * This header is the whole contract between the INOS host and a plugin. Only C types cross it: a plugin
 * may be written in C, Swift (@_cdecl) or anything that can export a C function.
 *
 * LOADING
 *   The host dlopen()s the plugin file with RTLD_NOW | RTLD_LOCAL and looks up exactly one symbol,
 *   INOS_PLUGIN_ENTRY_SYMBOL. It calls it once, on the loader thread, and checks, in this order:
 *     1. the pointer is not NULL and descriptor->magic == INOS_PLUGIN_MAGIC;
 *     2. descriptor->abi_major == INOS_ABI_MAJOR (a different major is refused);
 *        descriptor->abi_minor <= the host's INOS_ABI_MINOR (a plugin built for a newer host is refused);
 *     3. descriptor->struct_size >= INOS_PLUGIN_DESCRIPTOR_V1_SIZE;
 *     4. descriptor->kind is a known INOS_KIND_*; id, name and version are non-empty;
 *     5. descriptor->toolchain: a plugin that needs the Swift runtime names the compiler that built it
 *        ("swift-6.3"); the host refuses one that differs from its own, because Swift has no stable ABI on
 *        Linux. Plain C plugins say "c" and are accepted by any host.
 *     6. no other live plugin has the same id (unless it is being hot-swapped out).
 *   Each failure has its own error (see docs/plugin-abi.md) and never stops the node for an optional plugin.
 *
 * VERSIONING
 *   Every struct begins with uint32_t struct_size. Fields are append-only within a major version; a reader
 *   checks struct_size before touching a field added in a later minor. There are no padding holes; offsets
 *   are static-asserted in Sources/PluginABI/abi_layout.c.
 *   Optional features are looked up by string id through get_extension ("inos.compression/1"); an id never
 *   changes meaning — an incompatible change gets a new id ("inos.compression/2").
 *
 * LIFETIME AND UNLOADING
 *   A Swift image cannot be unloaded safely (the runtime keeps its metadata registered), so the host never
 *   calls dlclose(). Hot swap = load the new plugin (a distinct file for a new build), route new work to
 *   it, wait until calls in flight on the old instance return, call the old deinit, keep the image mapped.
 *
 * THREADS
 *   init and deinit run on the host's control thread, never concurrently with any other call on the same
 *   instance. Extension functions may be called from any host thread, concurrently, unless the extension
 *   says otherwise; a plugin protects its own instance state. Host API functions may be called from any
 *   thread, at any time between init's start and deinit's return.
 *
 * ERRORS
 *   Functions return inos_status (int32_t). On failure a plugin may fill the caller-provided inos_error
 *   (code + NUL-terminated message, truncated to fit). Nothing Swift-specific (errors, objects, strings)
 *   ever crosses this boundary.
 */
#ifndef INOS_PLUGIN_H
#define INOS_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define INOS_ABI_MAJOR 1
#define INOS_ABI_MINOR 3 /* 1.1: transport table completed (local_address, wrap), connection records;
                          1.2: allocator plan() and placement keys;
                          1.3: compression decompress_each (streaming decode; appended, optional);
                               transport WRITABLE connection records after a send was refused FULL */

/** "INOS" read as a little-endian uint32. */
#define INOS_PLUGIN_MAGIC 0x534F4E49u

/** The one symbol a plugin exports: `const inos_plugin_descriptor *inos_plugin_entry(void)`. */
#define INOS_PLUGIN_ENTRY_SYMBOL "inos_plugin_entry"

/** Toolchain tag of a plugin that does not need the Swift runtime. */
#define INOS_TOOLCHAIN_C "c"

/* ---------------------------------------------------------------------------------------------------- */
/* Status codes. Values never change; new ones are appended.                                             */
/* ---------------------------------------------------------------------------------------------------- */

typedef int32_t inos_status;

#define INOS_OK 0
#define INOS_ERR_INVALID_ARGUMENT 1 /* a parameter is out of range or malformed */
#define INOS_ERR_NO_MEMORY 2        /* the process is out of memory */
#define INOS_ERR_FULL 3             /* ring or arena full: backpressure, retry later — not a failure;
                                       from a store: no space (its capacity, or ENOSPC/EDQUOT from the disk,
                                       with errno in inos_error.detail) */
#define INOS_ERR_NOT_FOUND 4        /* no such key, record, chunk or extension; also "ring empty" */
#define INOS_ERR_UNSUPPORTED 5      /* the plugin or host does not implement this */
#define INOS_ERR_IO 6               /* an operating-system I/O error; the message says which */
#define INOS_ERR_CORRUPT 7          /* data failed verification (hash, checksum, format) */
#define INOS_ERR_TIMEOUT 8
#define INOS_ERR_INTERNAL 9         /* a bug in the plugin or host */
#define INOS_ERR_BUFFER_TOO_SMALL 10 /* the output did not fit; *out_length says how much is needed */
#define INOS_ERR_INCOMPRESSIBLE 11  /* compression would not shrink the input; store it raw */
#define INOS_ERR_CLOSED 12          /* connection or instance is closed or draining */

#define INOS_ERROR_MESSAGE_CAPACITY 240

/**
 * An error report, owned by the caller (usually on its stack). The callee writes code and a
 * NUL-terminated message; it must not write past INOS_ERROR_MESSAGE_CAPACITY bytes of message.
 */
typedef struct inos_error {
    uint32_t struct_size; /* sizeof(inos_error), set by the caller */
    inos_status code;
    uint64_t detail;      /* optional extra number (errno, offset, needed size), 0 if none */
    char message[INOS_ERROR_MESSAGE_CAPACITY];
} inos_error;

/* ---------------------------------------------------------------------------------------------------- */
/* Plugin kinds. A plugin has one primary kind; it may still offer more extensions.                      */
/* ---------------------------------------------------------------------------------------------------- */

typedef uint32_t inos_plugin_kind;

#define INOS_KIND_TRANSPORT 1
#define INOS_KIND_ERASURE_CODEC 2
#define INOS_KIND_COMPRESSION_CODEC 3
#define INOS_KIND_ALLOCATOR 4
#define INOS_KIND_JOB_RUNNER 5
#define INOS_KIND_STORE 6

/* Extension ids, one per kind. The host asks the primary kind's id right after init. */
#define INOS_EXT_TRANSPORT_V1 "inos.transport/1"
#define INOS_EXT_ERASURE_V1 "inos.erasure/1"
#define INOS_EXT_COMPRESSION_V1 "inos.compression/1"
#define INOS_EXT_ALLOCATOR_V1 "inos.allocator/1"
#define INOS_EXT_JOB_RUNNER_V1 "inos.job_runner/1"
#define INOS_EXT_STORE_V1 "inos.store/1"

/* ---------------------------------------------------------------------------------------------------- */
/* Host services, passed to init. Owned by the host, valid until the plugin's deinit returns.            */
/* ---------------------------------------------------------------------------------------------------- */

#define INOS_LOG_TRACE 0
#define INOS_LOG_DEBUG 1
#define INOS_LOG_INFO 2
#define INOS_LOG_WARNING 3
#define INOS_LOG_ERROR 4

/** Ring ids for ring_push / ring_pop. */
#define INOS_RING_INBOX 0  /* toward the node: received frames, requests */
#define INOS_RING_OUTBOX 1 /* from the node: results, frames to send */

/** Switchboard event bits for signal(). */
#define INOS_SIGNAL_INBOX 0x1u
#define INOS_SIGNAL_OUTBOX 0x2u
#define INOS_SIGNAL_CONTROL 0x4u

typedef struct inos_host_api {
    uint32_t struct_size;
    uint16_t abi_major;
    uint16_t abi_minor;
    /** Opaque per-plugin context; pass it back as the first argument of every call. */
    void *ctx;

    /** Log a NUL-terminated UTF-8 message. Any thread. The host copies the message. */
    void (*log)(void *ctx, int32_t level, const char *message);

    /**
     * Reserve `size` bytes of the arena's payload heap. On INOS_OK, *out_offset is the block's offset from
     * the arena base, 64-byte aligned. INOS_ERR_FULL when the heap is exhausted (backpressure: free
     * something or retry later). The caller owns the block until arena_free. Any thread.
     */
    inos_status (*arena_alloc)(void *ctx, uint64_t size, uint64_t *out_offset);
    /** Return a block from arena_alloc. Freeing twice or an unknown offset is ignored and logged. */
    void (*arena_free)(void *ctx, uint64_t offset);
    /** Base address of the arena in this process and its size. Stable for the life of the host. */
    uint8_t *(*arena_base)(void *ctx, uint64_t *out_size);

    /**
     * Append one record to a ring (INOS_RING_*). The host serialises producers, so any thread may call
     * it. INOS_ERR_FULL is backpressure. `length` may be 0; records are at most 1/8 of the ring.
     */
    inos_status (*ring_push)(void *ctx, uint32_t ring, int32_t type, const void *data, uint32_t length);
    /**
     * Take the oldest record of a ring, copying its payload into `buffer`. INOS_ERR_NOT_FOUND when empty;
     * INOS_ERR_BUFFER_TOO_SMALL (record kept, *out_length = its size) when it does not fit.
     */
    inos_status (*ring_pop)(void *ctx, uint32_t ring, int32_t *out_type, void *buffer, uint32_t capacity,
                            uint32_t *out_length);
    /** Raise switchboard event bits (INOS_SIGNAL_*) and wake the host if it sleeps. Any thread. */
    void (*signal)(void *ctx, uint32_t bits);
    /** 1 while transports should pause network reads (inbox above its high watermark), else 0. */
    int32_t (*backpressure)(void *ctx);

    /**
     * Look up a key of this plugin's [plugin.config] table from the manifest, as text. INOS_ERR_NOT_FOUND
     * if absent; INOS_ERR_BUFFER_TOO_SMALL with *out_length = bytes needed (without NUL) if it does not
     * fit. On success the value is NUL-terminated.
     */
    inos_status (*config_get)(void *ctx, const char *key, char *buffer, uint32_t capacity,
                              uint32_t *out_length);
    /** Monotonic clock in nanoseconds (CLOCK_MONOTONIC). Any thread. */
    uint64_t (*clock_ns)(void *ctx);
} inos_host_api;

/* ---------------------------------------------------------------------------------------------------- */
/* The descriptor: returned by the entry function, constant, valid for as long as the image is mapped. */
/* ---------------------------------------------------------------------------------------------------- */

typedef struct inos_plugin_descriptor {
    uint32_t struct_size;   /* sizeof(inos_plugin_descriptor) the plugin was built with */
    uint32_t magic;         /* INOS_PLUGIN_MAGIC */
    uint16_t abi_major;     /* INOS_ABI_MAJOR the plugin was built with */
    uint16_t abi_minor;     /* INOS_ABI_MINOR the plugin was built with */
    inos_plugin_kind kind;  /* INOS_KIND_* */
    const char *id;         /* unique, stable, reverse-DNS style: "inos.compression.lz4" */
    const char *name;       /* human-readable */
    const char *version;    /* the plugin's own version, semver */
    const char *toolchain;  /* "swift-MAJOR.MINOR" or INOS_TOOLCHAIN_C */
    const char *description;

    /**
     * Create an instance. Control thread. `host` stays valid until deinit returns. On INOS_OK,
     * *out_instance is the plugin-owned state passed to every later call (may be NULL). On failure the
     * plugin fills `error`, releases what it took, and is not called again (deinit is not called).
     */
    inos_status (*init)(const inos_host_api *host, void **out_instance, inos_error *error);
    /** Destroy an instance. Control thread, after every call on it has returned. */
    void (*deinit)(void *instance);
    /**
     * Return the constant function table for `extension_id`, or NULL if not offered. The table is
     * owned by the plugin and must stay valid until deinit. Any thread.
     */
    const void *(*get_extension)(void *instance, const char *extension_id);
} inos_plugin_descriptor;

#define INOS_PLUGIN_DESCRIPTOR_V1_SIZE 80u

typedef const inos_plugin_descriptor *(*inos_plugin_entry_fn)(void);

/* ---------------------------------------------------------------------------------------------------- */
/* inos.compression/1 — compression codecs (kind INOS_KIND_COMPRESSION_CODEC)                            */
/* Buffers may be arena slots or any memory the caller owns; the codec never keeps them after return.  */
/* ---------------------------------------------------------------------------------------------------- */

#define INOS_COMPRESSION_FORMAT_LZ4_FRAME 1u

typedef struct inos_compression_v1 {
    uint32_t struct_size;
    uint32_t format; /* INOS_COMPRESSION_FORMAT_* written by compress */
    /** Worst-case compressed size for an input of this size (the dst capacity that always suffices). */
    uint64_t (*max_compressed_size)(void *instance, uint64_t input_size);
    /**
     * Compress src into dst. INOS_ERR_INCOMPRESSIBLE when the output would not be smaller than the input
     * (dst content is then unspecified; store the input raw).
     */
    inos_status (*compress)(void *instance, const uint8_t *src, uint64_t src_length, uint8_t *dst,
                            uint64_t dst_capacity, uint64_t *out_length, inos_error *error);
    /** Decompress a whole frame. INOS_ERR_CORRUPT on malformed input, never a crash. */
    inos_status (*decompress)(void *instance, const uint8_t *src, uint64_t src_length, uint8_t *dst,
                              uint64_t dst_capacity, uint64_t *out_length, inos_error *error);
    /**
     * (ABI 1.3, optional: check inos_compression_has_decompress_each first.) Decompress a whole frame in
     * windows, for a caller that only reads the output once — a host verifying a received chunk against its
     * hash without a buffer for the whole content. Each window is handed to sink(context, bytes, length) as
     * soon as it is decoded, in order; `bytes` is valid only during that call. The plugin's working memory is
     * one window (for frames of 64 KiB blocks, as the LZ4 plugin writes them; larger for frames of larger
     * blocks). A sink status other than INOS_OK stops the decode and is returned. *out_length gets the total
     * decoded length. INOS_ERR_CORRUPT on malformed or truncated input, never a crash.
     */
    inos_status (*decompress_each)(void *instance, const uint8_t *src, uint64_t src_length,
                                   inos_status (*sink)(void *context, const uint8_t *bytes, uint64_t length),
                                   void *context, uint64_t *out_length, inos_error *error);
} inos_compression_v1;

/** Whether a compression table has decompress_each (a 1.2 plugin's table ends before it). */
static inline int inos_compression_has_decompress_each(const inos_compression_v1 *table) {
    return table->struct_size >= offsetof(inos_compression_v1, decompress_each) + sizeof(void *) && table->decompress_each != NULL;
}

/* ---------------------------------------------------------------------------------------------------- */
/* inos.erasure/1 — erasure codecs (kind INOS_KIND_ERASURE_CODEC)                                        */
/* ---------------------------------------------------------------------------------------------------- */

typedef struct inos_erasure_v1 {
    uint32_t struct_size;
    uint32_t max_shards; /* largest k+m supported (ISA-L: 255) */
    /** Compute m parity shards from k data shards, each shard_length bytes. */
    inos_status (*encode)(void *instance, uint32_t k, uint32_t m, uint64_t shard_length,
                          const uint8_t *const *data, uint8_t *const *parity, inos_error *error);
    /**
     * Rebuild the missing shards in place. shards has k+m pointers (data first, then parity), each to
     * shard_length writable bytes; present[i] != 0 marks the ones that hold valid data. At least k must be
     * present, else INOS_ERR_NOT_FOUND.
     */
    inos_status (*reconstruct)(void *instance, uint32_t k, uint32_t m, uint64_t shard_length,
                               uint8_t *const *shards, const uint8_t *present, inos_error *error);
} inos_erasure_v1;

/* ---------------------------------------------------------------------------------------------------- */
/* inos.store/1 — content-addressed chunk stores (kind INOS_KIND_STORE)                                  */
/* Keys are binary content ids (multihash bytes), at most 64 bytes.                                     */
/* ---------------------------------------------------------------------------------------------------- */

typedef struct inos_store_stats {
    uint32_t struct_size;
    uint32_t reserved;
    uint64_t capacity_bytes;
    uint64_t used_bytes;
    uint64_t chunk_count;
    uint64_t quarantined_count;
} inos_store_stats;

typedef struct inos_store_v1 {
    uint32_t struct_size;
    uint32_t reserved;
    /**
     * Durably store `data` under `key`; idempotent. Returns after the data is crash-safe. INOS_ERR_FULL when
     * there is no space (the store's capacity or the disk, ENOSPC); INOS_ERR_IO for any other I/O failure.
     */
    inos_status (*put)(void *instance, const uint8_t *key, uint32_t key_length, const uint8_t *data,
                       uint64_t length, inos_error *error);
    /**
     * Read into dst. INOS_ERR_NOT_FOUND if absent, INOS_ERR_CORRUPT (chunk quarantined) if it fails its
     * hash, INOS_ERR_BUFFER_TOO_SMALL with *out_length = size if dst is too small, INOS_ERR_IO (chunk kept)
     * if the disk could not be read.
     */
    inos_status (*get)(void *instance, const uint8_t *key, uint32_t key_length, uint8_t *dst,
                       uint64_t dst_capacity, uint64_t *out_length, inos_error *error);
    /** Delete a chunk. INOS_ERR_NOT_FOUND if absent. */
    inos_status (*remove)(void *instance, const uint8_t *key, uint32_t key_length, inos_error *error);
    inos_status (*stats)(void *instance, inos_store_stats *out_stats, inos_error *error);
    /**
     * Enumerate stored keys (for garbage collection and anti-entropy): calls visit(context, key, length,
     * stored_bytes) once per chunk, on the calling thread; visit returns 0 to continue, non-zero to stop.
     * Keys put or removed concurrently may or may not be visited.
     */
    inos_status (*list)(void *instance, int32_t (*visit)(void *context, const uint8_t *key, uint32_t key_length,
                                                          uint64_t stored_bytes),
                        void *context, inos_error *error);
    /**
     * Group commit (optional: NULL if unsupported, and absent when struct_size is smaller). stage writes a
     * chunk like put but returns before it is durable, and it is not visible until commit; commit makes
     * every chunk staged before it was called durable and visible, with one flush for the whole batch. A
     * crash before commit returns leaves each staged chunk absent or whole, never half-written.
     */
    inos_status (*stage)(void *instance, const uint8_t *key, uint32_t key_length, const uint8_t *data,
                         uint64_t length, inos_error *error);
    inos_status (*commit)(void *instance, inos_error *error);
} inos_store_v1;

/* ---------------------------------------------------------------------------------------------------- */
/* inos.transport/1 — transports (kind INOS_KIND_TRANSPORT)                                             */
/*                                                                                                      */
/* A transport moves messages ("frames") between nodes; it does not look inside them. On a byte stream  */
/* each frame travels as a 4-byte little-endian length L followed by L bytes; L above the transport's   */
/* max frame size closes that connection (reason INOS_ERR_CORRUPT), never the node.                      */
/*                                                                                                      */
/* Receiving: for each frame the transport takes an arena block (arena_alloc), reads the frame into it,  */
/* pushes an INOS_RECORD_FRAME record on the inbox ring and signals INOS_SIGNAL_INBOX; the consumer     */
/* frees the block. Connection changes are INOS_RECORD_CONNECTION records on the same ring, in order     */
/* with the frames (OPENED before the first frame, CLOSED after the last). While host->backpressure()   */
/* is 1, or when arena_alloc or ring_push return INOS_ERR_FULL, the transport stops reading sockets and */
/* retries later (no frame is dropped); the kernel's buffers then fill and TCP slows the sender.        */
/*                                                                                                      */
/* Strategies: a transport may wrap another (fault injection, batching). The manifest names the slot   */
/* it wraps (`wraps = "transport.tcp"`); right after init the host calls wrap() with a table that       */
/* forwards to whatever plugin serves that slot now, so the inner transport keeps its connections while */
/* strategies are hot-swapped above it. Base transports set wrap to NULL.                               */
/*                                                                                                      */
/* Threads: every function may be called from any thread, concurrently.                                 */
/* ---------------------------------------------------------------------------------------------------- */

#define INOS_RECORD_FRAME 1      /* payload: inos_frame_record */
#define INOS_RECORD_CONNECTION 2 /* payload: inos_connection_record (ABI 1.1) */

typedef struct inos_frame_record {
    uint64_t connection; /* transport-assigned connection id */
    uint64_t offset;     /* arena offset of the frame bytes; the consumer frees it */
    uint64_t length;
} inos_frame_record;

#define INOS_CONNECTION_OPENED 1
#define INOS_CONNECTION_CLOSED 2
/* (ABI 1.3) A send on this connection returned INOS_ERR_FULL and its send queue is below the limit again:
 * one WRITABLE record per refusal episode, so a host waits for it instead of retrying on a timer. A 1.2
 * transport posts none (its hosts retry). */
#define INOS_CONNECTION_WRITABLE 3
#define INOS_PEER_ADDRESS_CAPACITY 64

typedef struct inos_connection_record {
    uint64_t connection;
    uint32_t event;       /* INOS_CONNECTION_* */
    inos_status reason;   /* CLOSED: INOS_OK for an orderly close, else why (INOS_ERR_CORRUPT, _IO, _TIMEOUT) */
    uint32_t inbound;     /* 1 if accepted, 0 if dialed */
    uint32_t reserved;
    char peer[INOS_PEER_ADDRESS_CAPACITY]; /* "tcp://127.0.0.1:7000", NUL-terminated */
} inos_connection_record;

typedef struct inos_transport_v1 {
    uint32_t struct_size;
    uint32_t reserved;
    /** Start accepting connections at an address such as "tcp://127.0.0.1:7000" (port 0: any free port). */
    inos_status (*listen)(void *instance, const char *address, inos_error *error);
    /**
     * Open a connection; *out_connection identifies it in records and send/close. Returns once the
     * connection is established (or failed); its OPENED record precedes every frame of it on the inbox.
     */
    inos_status (*dial)(void *instance, const char *address, uint64_t *out_connection, inos_error *error);
    /**
     * Send one frame. The transport copies the bytes before returning. INOS_ERR_FULL when the
     * connection's send queue is over its limit (the peer reads slower than we write): retry when the
     * connection's WRITABLE record arrives (ABI 1.3).
     * INOS_ERR_CLOSED when the connection is gone.
     */
    inos_status (*send)(void *instance, uint64_t connection, const uint8_t *bytes, uint64_t length,
                        inos_error *error);
    /** Close a connection after the frames already sent; its CLOSED record follows. */
    inos_status (*close)(void *instance, uint64_t connection);

    /* --- ABI 1.1 (check struct_size) --- */

    /** The address the transport listens on ("tcp://127.0.0.1:40123" after listening on port 0). */
    inos_status (*local_address)(void *instance, char *buffer, uint32_t capacity, inos_error *error);
    /**
     * Strategies only (NULL for base transports): delegate to `inner`, a host-owned table and instance
     * valid until this instance's deinit. Called once, right after init, before any other function.
     */
    inos_status (*wrap)(void *instance, const struct inos_transport_v1 *inner, void *inner_instance,
                        inos_error *error);
} inos_transport_v1;

/* ---------------------------------------------------------------------------------------------------- */
/* inos.allocator/1 — replica placement and work allocation (kind INOS_KIND_ALLOCATOR)                   */
/* ---------------------------------------------------------------------------------------------------- */

typedef struct inos_node_info {
    uint8_t node_id[32];
    double load;              /* 0.0 .. 1.0 */
    uint64_t capacity_bytes;
    uint64_t free_bytes;
    uint64_t rtt_us;
    uint64_t capabilities;    /* bit set */
    uint32_t region;
    uint32_t healthy;         /* 0 or 1 */
} inos_node_info;

typedef struct inos_placement_request {
    uint32_t struct_size;
    uint32_t reserved;
    uint64_t resource_size;   /* bytes of the whole resource (what the size tiers look at) */
    double demand_score;      /* 0.0 .. 1.0: the decayed request rate, normalised */
    uint64_t credit_budget;   /* credits per hour the owner offers */
    uint64_t required_capabilities;
    /* 1.2 */
    uint8_t key[32];          /* what is placed (a resource, chunk or shard digest): same key and nodes, same holders */
    uint32_t replicas;        /* place(): holders wanted; 0 = as many as plan() would give */
    uint32_t piece_bytes;     /* place(): bytes each holder will store for this key (for the load check) */
} inos_placement_request;

#define INOS_PLACEMENT_REQUEST_V1_SIZE 40

/* Strategies by size class (the seed's "Scaling Strategy"). */
#define INOS_STRATEGY_FULL 1         /* < 1 MB: the whole resource on every holder */
#define INOS_STRATEGY_CHUNKED 2      /* 1–100 MB: each 1 MiB chunk on its own set of holders */
#define INOS_STRATEGY_ERASURE 3      /* 100 MB–10 GB: chunks + Reed-Solomon parity, one shard per node per stripe */
#define INOS_STRATEGY_HIERARCHICAL 4 /* > 10 GB: seeds hold all, regional hubs a subset + parity, edges cache */

typedef struct inos_placement_plan {
    uint32_t struct_size;
    uint32_t strategy;         /* INOS_STRATEGY_* */
    uint32_t replicas;         /* nodes the resource is spread over, after demand, budget, capacity and clamp */
    uint32_t ideal_replicas;   /* size tier × demand × budget, before capacity limits and clamp */
    uint32_t copies;           /* holders of each piece (chunk or shard) */
    uint32_t data_shards;      /* erasure / hierarchical: k of each stripe (0: no parity) */
    uint32_t parity_shards;    /* m of each stripe */
    uint32_t seeds;            /* hierarchical: nodes that hold every chunk */
    uint32_t hubs_per_region;  /* hierarchical: nodes per region holding that region's subset */
    uint32_t usable_nodes;     /* healthy, capable nodes that stay under the maximum load */
    double hub_fraction;       /* hierarchical: the share of chunks each region's hubs hold */
    double expected_load;      /* mean load of the chosen nodes after placement */
} inos_placement_plan;

typedef struct inos_allocator_v1 {
    uint32_t struct_size;
    uint32_t reserved;
    /**
     * Choose holders for request->key: writes up to out_capacity indices into `nodes` to out_indices, in
     * order of preference, and the count to *out_count. The same key, nodes and weights always give the same
     * holders, and a node joining, leaving or changing weight moves only the keys it gains or loses.
     * Never chooses an unhealthy node, one without the required capabilities, or one this piece would push
     * past the allocator's maximum load; may return fewer than asked (sparse network).
     */
    inos_status (*place)(void *instance, const inos_placement_request *request, const inos_node_info *nodes,
                         uint32_t node_count, uint32_t *out_indices, uint32_t out_capacity,
                         uint32_t *out_count, inos_error *error);
    /* 1.2 */
    /** Decide how a resource is stored: strategy, replica count, copies per piece, stripe geometry. */
    inos_status (*plan)(void *instance, const inos_placement_request *request, const inos_node_info *nodes,
                        uint32_t node_count, inos_placement_plan *out_plan, inos_error *error);
} inos_allocator_v1;

/* ---------------------------------------------------------------------------------------------------- */
/* inos.job_runner/1 — compute job runners (kind INOS_KIND_JOB_RUNNER)                                   */
/*                                                                                                      */
/* Isolation: a node may run a job runner in a child process (manifest isolation = "process"). The      */
/* plugin gets the same host API over the node's arena, mapped at another address (use arena_base),     */
/* with these differences: arena_alloc allocates in a lease the node lent the process (INOS_ERR_FULL    */
/* when it is full; a result must fit in it); the arena outside the lease is read-only (inputs are read  */
/* in place, never written); ring_push and ring_pop answer INOS_ERR_UNSUPPORTED; signal does nothing.   */
/* Jobs reach an isolated runner one at a time. See docs/plugin-abi.md.                                  */
/* ---------------------------------------------------------------------------------------------------- */

typedef struct inos_buffer_ref {
    uint64_t offset; /* arena offset */
    uint64_t length;
} inos_buffer_ref;

typedef struct inos_job {
    uint32_t struct_size;
    uint32_t input_count;
    const char *function;        /* NUL-terminated */
    const char *parameters;      /* NUL-terminated, runner-defined text (may be empty) */
    const inos_buffer_ref *inputs;
} inos_job;

typedef struct inos_job_runner_v1 {
    uint32_t struct_size;
    uint32_t reserved;
    /**
     * Run a job to completion. The runner allocates its output with arena_alloc and reports it in
     * *out_result; ownership passes to the caller.
     */
    inos_status (*run)(void *instance, const inos_job *job, inos_buffer_ref *out_result, inos_error *error);
} inos_job_runner_v1;

#ifdef __cplusplus
}
#endif

#endif /* INOS_PLUGIN_H */
