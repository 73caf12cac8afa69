// SPDX-License-Identifier: Apache-2.0
//
// Test fixture plugins for the ABI matrix. One source, compiled at test time with -DFIXTURE_<VARIANT>
// into a distinct shared object per variant (see PluginFixtures.swift). Each broken variant breaks
// exactly one rule of inos_plugin.h so the loader's matching error can be checked.
//
// The working variant is a compression-kind "tagging codec": compress copies the input and appends the
// instance's tag (config key `tag`), so a test can tell which plugin instance served a call; an optional
// `delay_us` makes calls overlap a hot swap. After deinit the instance is marked dead (and deliberately
// not freed) so that a call reaching it after deinit is detected instead of being undefined behaviour.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inos_plugin.h"

#ifndef FIXTURE_ID
#define FIXTURE_ID "test.fixture.codec"
#endif

typedef struct fixture_instance {
    char tag[32];
    unsigned delay_us;
    volatile int dead;
    const inos_host_api *host;
} fixture_instance;

static void set_error(inos_error *error, inos_status code, const char *message) {
    if (!error) return;
    error->code = code;
    snprintf(error->message, sizeof error->message, "%s", message);
}

static uint64_t fixture_bound(void *instance, uint64_t n) { (void)instance; return n + 32; }

static inos_status fixture_compress(void *p, const uint8_t *src, uint64_t n, uint8_t *dst, uint64_t cap,
                                    uint64_t *out, inos_error *error) {
    fixture_instance *self = p;
    if (self->dead) { set_error(error, INOS_ERR_CLOSED, "call after deinit"); return INOS_ERR_CLOSED; }
    size_t tag = strlen(self->tag);
    if (cap < n + tag + 1) { set_error(error, INOS_ERR_BUFFER_TOO_SMALL, "small"); return INOS_ERR_BUFFER_TOO_SMALL; }
    if (self->delay_us) usleep(self->delay_us);
    memcpy(dst, src, n);
    memcpy(dst + n, self->tag, tag);
    dst[n + tag] = (uint8_t)tag;
    *out = n + tag + 1;
    if (self->dead) { set_error(error, INOS_ERR_CLOSED, "deinit during call"); return INOS_ERR_CLOSED; }
    return INOS_OK;
}

static inos_status fixture_decompress(void *p, const uint8_t *src, uint64_t n, uint8_t *dst, uint64_t cap,
                                      uint64_t *out, inos_error *error) {
    (void)p;
    if (n == 0 || src[n - 1] + 1u > n) { set_error(error, INOS_ERR_CORRUPT, "no tag"); return INOS_ERR_CORRUPT; }
    uint64_t len = n - 1 - src[n - 1];
    if (cap < len) return INOS_ERR_BUFFER_TOO_SMALL;
    memcpy(dst, src, len);
    *out = len;
    return INOS_OK;
}

static const inos_compression_v1 fixture_codec = {
    sizeof(inos_compression_v1), 0, fixture_bound, fixture_compress, fixture_decompress,
};

#ifdef FIXTURE_HOSTILE
/* Abuses every host service; init succeeds only if the host rejected each abuse with the right status. */
static inos_status fixture_hostile(const inos_host_api *host, inos_error *error) {
    char buffer[8];
    uint32_t length = 0;
    int32_t type = 0;
    uint64_t offset = 0;
    struct { const char *what; inos_status got, want; } checks[] = {
        {"ring_pop NULL buffer", host->ring_pop(host->ctx, INOS_RING_INBOX, &type, NULL, 100, &length), INOS_ERR_INVALID_ARGUMENT},
        {"ring_pop NULL out", host->ring_pop(host->ctx, INOS_RING_INBOX, NULL, buffer, 8, NULL), INOS_ERR_INVALID_ARGUMENT},
        {"ring_pop unknown ring", host->ring_pop(host->ctx, 77, &type, buffer, 8, &length), INOS_ERR_INVALID_ARGUMENT},
        {"ring_pop empty", host->ring_pop(host->ctx, INOS_RING_OUTBOX, &type, buffer, 8, &length), INOS_ERR_NOT_FOUND},
        {"ring_push NULL data", host->ring_push(host->ctx, INOS_RING_INBOX, 1, NULL, 16), INOS_ERR_INVALID_ARGUMENT},
        {"ring_push negative type", host->ring_push(host->ctx, INOS_RING_INBOX, -5, buffer, 8), INOS_ERR_INVALID_ARGUMENT},
        {"ring_push huge record", host->ring_push(host->ctx, INOS_RING_INBOX, 1, buffer, 0x7fffffff), INOS_ERR_INVALID_ARGUMENT},
        {"arena_alloc huge", host->arena_alloc(host->ctx, UINT64_MAX, &offset), INOS_ERR_INVALID_ARGUMENT},
        {"arena_alloc larger than heap", host->arena_alloc(host->ctx, 1ull << 40, &offset), INOS_ERR_FULL},
        {"arena_alloc zero", host->arena_alloc(host->ctx, 0, &offset), INOS_ERR_INVALID_ARGUMENT},
        {"arena_alloc NULL out", host->arena_alloc(host->ctx, 64, NULL), INOS_ERR_INVALID_ARGUMENT},
        {"config_get NULL key", host->config_get(host->ctx, NULL, buffer, 8, &length), INOS_ERR_INVALID_ARGUMENT},
        {"config_get small buffer", host->config_get(host->ctx, "tag", buffer, 2, &length), INOS_ERR_BUFFER_TOO_SMALL},
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        if (checks[i].got != checks[i].want) {
            snprintf(error->message, sizeof error->message, "host accepted abuse '%s': status %d, expected %d",
                     checks[i].what, checks[i].got, checks[i].want);
            return INOS_ERR_INTERNAL;
        }
    }
    host->arena_free(host->ctx, 12345);              /* not a block: ignored and logged */
    host->arena_free(host->ctx, UINT64_MAX);
    host->log(host->ctx, 1000, "log level out of range");
    host->log(host->ctx, INOS_LOG_INFO, NULL);
    host->signal(host->ctx, 0xFFFFFFFFu);
    return INOS_OK;
}
#endif

static inos_status fixture_init(const inos_host_api *host, void **out, inos_error *error) {
#ifdef FIXTURE_HOSTILE
    inos_status hostile = fixture_hostile(host, error);
    if (hostile != INOS_OK) return hostile;
#endif
#ifdef FIXTURE_INIT_FAILS
    (void)host; (void)out;
    set_error(error, INOS_ERR_INVALID_ARGUMENT, "fixture refuses to start: missing setting 'answer'");
    return INOS_ERR_INVALID_ARGUMENT;
#else
    fixture_instance *self = calloc(1, sizeof *self);
    if (!self) { set_error(error, INOS_ERR_NO_MEMORY, "calloc"); return INOS_ERR_NO_MEMORY; }
    self->host = host;
    uint32_t len = 0;
    if (host->config_get(host->ctx, "tag", self->tag, sizeof self->tag, &len) != INOS_OK) strcpy(self->tag, "-");
    char delay[16];
    if (host->config_get(host->ctx, "delay_us", delay, sizeof delay, &len) == INOS_OK) self->delay_us = (unsigned)atoi(delay);
    host->log(host->ctx, INOS_LOG_DEBUG, "fixture started");
    *out = self;
    return INOS_OK;
#endif
}

static void fixture_deinit(void *p) {
    fixture_instance *self = p;
    if (self) self->dead = 1; /* not freed on purpose: see the file comment */
}

static const void *fixture_get_extension(void *instance, const char *id) {
    (void)instance;
#ifdef FIXTURE_NO_EXTENSION
    (void)id;
    return NULL;
#else
    return strcmp(id, INOS_EXT_COMPRESSION_V1) == 0 ? &fixture_codec : NULL;
#endif
}

static const inos_plugin_descriptor fixture_descriptor = {
#ifdef FIXTURE_SMALL_STRUCT
    .struct_size = 40,
#else
    .struct_size = sizeof(inos_plugin_descriptor),
#endif
#ifdef FIXTURE_BAD_MAGIC
    .magic = 0xDEADBEEF,
#else
    .magic = INOS_PLUGIN_MAGIC,
#endif
#ifdef FIXTURE_ABI_MAJOR
    .abi_major = INOS_ABI_MAJOR + 1,
#else
    .abi_major = INOS_ABI_MAJOR,
#endif
#ifdef FIXTURE_ABI_MINOR_NEWER
    .abi_minor = INOS_ABI_MINOR + 7,
#else
    .abi_minor = INOS_ABI_MINOR,
#endif
#ifdef FIXTURE_UNKNOWN_KIND
    .kind = 99,
#else
    .kind = INOS_KIND_COMPRESSION_CODEC,
#endif
#ifdef FIXTURE_EMPTY_ID
    .id = "",
#else
    .id = FIXTURE_ID,
#endif
    .name = "fixture codec",
    .version = "0.0.1",
#ifdef FIXTURE_SWIFT_TOOLCHAIN
    .toolchain = "swift-5.0",
#else
    .toolchain = INOS_TOOLCHAIN_C,
#endif
    .description = "ABI test fixture",
    .init = fixture_init,
    .deinit = fixture_deinit,
    .get_extension = fixture_get_extension,
};

#ifdef FIXTURE_MISSING_ENTRY
const inos_plugin_descriptor *inos_plugin_entry_misspelled(void) { return &fixture_descriptor; }
#elif defined(FIXTURE_NULL_DESCRIPTOR)
const inos_plugin_descriptor *inos_plugin_entry(void) { return NULL; }
#else
const inos_plugin_descriptor *inos_plugin_entry(void) { return &fixture_descriptor; }
#endif
