// SPDX-License-Identifier: Apache-2.0
//
// Compile-time proof of the ABI layout: these offsets are frozen for ABI 1.x (fields are append-only).
// A change that moves a field fails the build here instead of corrupting a plugin at run time.
#include <stddef.h>
#include "inos_arena.h"
#include "inos_plugin.h"

#define INOS_ASSERT_OFFSET(type, field, value) \
    _Static_assert(offsetof(type, field) == (value), #type "." #field " moved: the plugin ABI is frozen")
#define INOS_ASSERT_SIZE(type, value) _Static_assert(sizeof(type) == (value), #type " changed size")

INOS_ASSERT_OFFSET(inos_plugin_descriptor, struct_size, 0);
INOS_ASSERT_OFFSET(inos_plugin_descriptor, magic, 4);
INOS_ASSERT_OFFSET(inos_plugin_descriptor, abi_major, 8);
INOS_ASSERT_OFFSET(inos_plugin_descriptor, abi_minor, 10);
INOS_ASSERT_OFFSET(inos_plugin_descriptor, kind, 12);
INOS_ASSERT_OFFSET(inos_plugin_descriptor, id, 16);
INOS_ASSERT_OFFSET(inos_plugin_descriptor, toolchain, 40);
INOS_ASSERT_OFFSET(inos_plugin_descriptor, init, 56);
INOS_ASSERT_OFFSET(inos_plugin_descriptor, get_extension, 72);
_Static_assert(sizeof(inos_plugin_descriptor) == INOS_PLUGIN_DESCRIPTOR_V1_SIZE, "descriptor v1 size");

INOS_ASSERT_OFFSET(inos_host_api, ctx, 8);
INOS_ASSERT_OFFSET(inos_host_api, log, 16);
INOS_ASSERT_OFFSET(inos_host_api, arena_alloc, 24);
INOS_ASSERT_OFFSET(inos_host_api, clock_ns, 88);
_Static_assert(sizeof(inos_host_api) == 96, "host api v1 size");

INOS_ASSERT_OFFSET(inos_error, code, 4);
INOS_ASSERT_OFFSET(inos_error, detail, 8);
INOS_ASSERT_OFFSET(inos_error, message, 16);

INOS_ASSERT_OFFSET(inos_compression_v1, compress, 16);
INOS_ASSERT_OFFSET(inos_compression_v1, decompress_each, 32);
INOS_ASSERT_OFFSET(inos_erasure_v1, reconstruct, 16);
INOS_ASSERT_OFFSET(inos_store_v1, stats, 32);
INOS_ASSERT_OFFSET(inos_store_v1, list, 40);
INOS_ASSERT_OFFSET(inos_store_v1, stage, 48);
INOS_ASSERT_OFFSET(inos_store_v1, commit, 56);
INOS_ASSERT_OFFSET(inos_transport_v1, close, 32);
INOS_ASSERT_OFFSET(inos_transport_v1, local_address, 40);
INOS_ASSERT_OFFSET(inos_transport_v1, wrap, 48);
INOS_ASSERT_SIZE(inos_transport_v1, 56);
INOS_ASSERT_OFFSET(inos_connection_record, event, 8);
INOS_ASSERT_OFFSET(inos_connection_record, peer, 24);
INOS_ASSERT_SIZE(inos_connection_record, 88);
INOS_ASSERT_OFFSET(inos_allocator_v1, place, 8);
INOS_ASSERT_OFFSET(inos_allocator_v1, plan, 16);
INOS_ASSERT_SIZE(inos_allocator_v1, 24);
INOS_ASSERT_OFFSET(inos_placement_request, required_capabilities, 32);
_Static_assert(INOS_PLACEMENT_REQUEST_V1_SIZE == 40, "placement request v1 size");
INOS_ASSERT_OFFSET(inos_placement_request, key, 40);
INOS_ASSERT_OFFSET(inos_placement_request, piece_bytes, 76);
INOS_ASSERT_SIZE(inos_placement_request, 80);
INOS_ASSERT_OFFSET(inos_placement_plan, hub_fraction, 40);
INOS_ASSERT_SIZE(inos_placement_plan, 56);
INOS_ASSERT_SIZE(inos_node_info, 80);
INOS_ASSERT_OFFSET(inos_job_runner_v1, run, 8);
INOS_ASSERT_OFFSET(inos_node_info, load, 32);
INOS_ASSERT_OFFSET(inos_node_info, healthy, 76);
INOS_ASSERT_OFFSET(inos_job, inputs, 24);

_Static_assert(sizeof(inos_arena_header) == 128, "arena header is two cache lines... of 64 bytes");
INOS_ASSERT_OFFSET(inos_arena_header, heap_size, 88);
INOS_ASSERT_OFFSET(inos_switchboard, event_seq, 0);
INOS_ASSERT_OFFSET(inos_switchboard, backpressure, 128);
INOS_ASSERT_OFFSET(inos_switchboard, slots, 256);
INOS_ASSERT_OFFSET(inos_ring, config, 0);
INOS_ASSERT_OFFSET(inos_ring, tail, 128);
INOS_ASSERT_OFFSET(inos_ring, head, 256);
INOS_ASSERT_OFFSET(inos_ring, producer_cached_head, 384);
INOS_ASSERT_OFFSET(inos_ring, producer_position, 392);
INOS_ASSERT_OFFSET(inos_ring, consumer_cached_tail, 512);
_Static_assert(sizeof(inos_ring) == 640, "ring header is five 128-byte lines");

// A symbol so the library is never empty; also lets a tool read the ABI version of a host binary.
const unsigned inos_abi_version_of_this_host = (INOS_ABI_MAJOR << 16) | INOS_ABI_MINOR;
