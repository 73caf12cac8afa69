/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * A test-only job runner (inos.job_runner/1) whose jobs misbehave on purpose, for the isolation tests.
 * Compiled at test time by PluginFixtures.faultJobRunner(); not a product of the package, and not a
 * template (that is Plugins/Compute/Examples).
 *
 *   echo         the inputs, concatenated, in a block from arena_alloc (a well-behaved job)
 *   crash        writes through a bad pointer: SIGSEGV
 *   abort        abort(): SIGABRT
 *   exit         exit(7) in the middle of the job
 *   hang         never returns (sleeps)
 *   alloc-crash  allocates eight 4 KiB blocks with arena_alloc, keeps them, then crashes (SIGSEGV)
 *   scribble     writes into its first input slot (outside its lease: read-only in an isolated runner)
 *   host-rings   reports what ring_push answers, as text: "ring_push STATUS"
 */
#include "inos_plugin.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const inos_host_api *host;
} fault_runner;

static fault_runner the_runner;
static volatile uintptr_t bad_address = 16; /* volatile: the compiler cannot see the fault coming */

static inos_status fail(inos_error *error, inos_status code, const char *message) {
    if (error) {
        error->code = code;
        strncpy(error->message, message, INOS_ERROR_MESSAGE_CAPACITY - 1);
        error->message[INOS_ERROR_MESSAGE_CAPACITY - 1] = 0;
    }
    return code;
}

static inos_status reply(const inos_host_api *host, const void *bytes, uint64_t length, inos_buffer_ref *out,
                         inos_error *error) {
    uint64_t size = 0, offset = 0;
    uint8_t *base = host->arena_base(host->ctx, &size);
    if (host->arena_alloc(host->ctx, length ? length : 1, &offset) != INOS_OK) return fail(error, INOS_ERR_FULL, "no arena space");
    if (length) memcpy(base + offset, bytes, length);
    out->offset = offset;
    out->length = length;
    return INOS_OK;
}

static inos_status run(void *instance, const inos_job *job, inos_buffer_ref *out, inos_error *error) {
    const inos_host_api *host = ((fault_runner *)instance)->host;
    uint64_t size = 0;
    uint8_t *base = host->arena_base(host->ctx, &size);
    const char *f = job->function;
    if (strcmp(f, "echo") == 0) {
        uint64_t total = 0;
        for (uint32_t i = 0; i < job->input_count; i++) total += job->inputs[i].length;
        uint64_t offset = 0;
        if (host->arena_alloc(host->ctx, total ? total : 1, &offset) != INOS_OK) return fail(error, INOS_ERR_FULL, "no arena space");
        uint64_t at = offset;
        for (uint32_t i = 0; i < job->input_count; i++) {
            memcpy(base + at, base + job->inputs[i].offset, job->inputs[i].length);
            at += job->inputs[i].length;
        }
        out->offset = offset;
        out->length = total;
        return INOS_OK;
    }
    if (strcmp(f, "slow-length") == 0) {
        /* Sleeps `parameters` milliseconds, then answers the input's length as text: a job slow enough to kill a
           node in the middle of it. */
        usleep((useconds_t)atoi(job->parameters ? job->parameters : "0") * 1000);
        uint64_t total = 0;
        for (uint32_t i = 0; i < job->input_count; i++) total += job->inputs[i].length;
        char text[32];
        int length = snprintf(text, sizeof text, "%llu\n", (unsigned long long)total);
        uint64_t offset = 0;
        if (host->arena_alloc(host->ctx, (uint64_t)length, &offset) != INOS_OK) return fail(error, INOS_ERR_FULL, "no arena space");
        memcpy(base + offset, text, (size_t)length);
        out->offset = offset;
        out->length = (uint64_t)length;
        return INOS_OK;
    }
    if (strcmp(f, "crash") == 0) {
        *(volatile int *)bad_address = 1;
        return fail(error, INOS_ERR_INTERNAL, "survived a bad pointer");
    }
    if (strcmp(f, "abort") == 0) abort();
    if (strcmp(f, "exit") == 0) exit(7);
    if (strcmp(f, "hang") == 0) {
        for (;;) sleep(1);
    }
    if (strcmp(f, "alloc-crash") == 0) {
        for (int i = 0; i < 8; i++) {
            uint64_t offset = 0;
            if (host->arena_alloc(host->ctx, 4096, &offset) != INOS_OK) return fail(error, INOS_ERR_FULL, "no arena space");
            memset(base + offset, 0xAB, 4096);
        }
        *(volatile int *)bad_address = 1;
        return fail(error, INOS_ERR_INTERNAL, "survived a bad pointer");
    }
    if (strcmp(f, "scribble") == 0) {
        if (job->input_count < 1 || job->inputs[0].length < 1) return fail(error, INOS_ERR_INVALID_ARGUMENT, "scribble needs an input");
        memset(base + job->inputs[0].offset, 'X', job->inputs[0].length);
        return reply(host, "scribbled", 9, out, error);
    }
    if (strcmp(f, "host-rings") == 0) {
        char text[64];
        inos_status status = host->ring_push(host->ctx, INOS_RING_OUTBOX, 999, "x", 1);
        int n = snprintf(text, sizeof text, "ring_push %d", (int)status);
        return reply(host, text, (uint64_t)n, out, error);
    }
    return fail(error, INOS_ERR_NOT_FOUND, "no such function (echo, slow-length, crash, abort, exit, hang, alloc-crash, scribble, host-rings)");
}

static const inos_job_runner_v1 table = {.struct_size = sizeof(inos_job_runner_v1), .run = run};

static inos_status init(const inos_host_api *host, void **out_instance, inos_error *error) {
    (void)error;
    the_runner.host = host;
    *out_instance = &the_runner;
    return INOS_OK;
}

static void deinit(void *instance) { (void)instance; }

static const void *get_extension(void *instance, const char *id) {
    (void)instance;
    return strcmp(id, INOS_EXT_JOB_RUNNER_V1) == 0 ? &table : NULL;
}

static const inos_plugin_descriptor descriptor = {
    .struct_size = sizeof(inos_plugin_descriptor), .magic = INOS_PLUGIN_MAGIC, .abi_major = INOS_ABI_MAJOR,
    .abi_minor = INOS_ABI_MINOR, .kind = INOS_KIND_JOB_RUNNER, .id = "test.jobs.faults", .name = "Misbehaving test jobs",
    .version = "1.0.0", .toolchain = INOS_TOOLCHAIN_C,
    .description = "Test-only jobs that crash, abort, exit, hang or write where they should not",
    .init = init, .deinit = deinit, .get_extension = get_extension,
};

const inos_plugin_descriptor *inos_plugin_entry(void) { return &descriptor; }
