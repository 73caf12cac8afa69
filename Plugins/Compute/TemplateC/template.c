/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * The C job template: a job-runner plugin written in plain C, and plain C functions with no INOS types at
 * all, which `inos job run --ffi "NAME(buffer, length) -> i64"` calls through libffi by the signature given.
 * Copy this file for a job of your own: keep inos_plugin_entry (so the node can load the library), add
 * functions, and declare their signatures where you call them.
 */
#include "inos_job_template.h"
#include "inos_plugin.h"
#include <string.h>

/* --- Plain functions: no boilerplate, called by declared signature -------------------------------------- */

int64_t inos_template_sum(const uint8_t *data, uint64_t length) {
    int64_t sum = 0;
    for (uint64_t i = 0; i < length; i++) sum += data[i];
    return sum;
}

double inos_template_mean(const uint8_t *data, uint64_t length) {
    return length == 0 ? 0.0 : (double)inos_template_sum(data, length) / (double)length;
}

uint64_t inos_template_count(const uint8_t *data, uint64_t length, int64_t byte) {
    uint64_t count = 0;
    for (uint64_t i = 0; i < length; i++) count += data[i] == (uint8_t)byte;
    return count;
}

double inos_template_scale(double value, int32_t factor) { return value * factor; }

/* --- The plugin: a job runner with one function, "byte-sum" ---------------------------------------------- */

typedef struct { const inos_host_api *host; } runner;
static runner the_runner;

static inos_status run(void *instance, const inos_job *job, inos_buffer_ref *out, inos_error *error) {
    runner *self = instance;
    if (strcmp(job->function, "byte-sum") != 0) {
        error->code = INOS_ERR_NOT_FOUND;
        strncpy(error->message, "no such function (this runner has byte-sum)", INOS_ERROR_MESSAGE_CAPACITY - 1);
        return INOS_ERR_NOT_FOUND;
    }
    uint64_t size = 0;
    uint8_t *base = self->host->arena_base(self->host->ctx, &size);
    int64_t sum = 0;
    for (uint32_t i = 0; i < job->input_count; i++) sum += inos_template_sum(base + job->inputs[i].offset, job->inputs[i].length);
    uint64_t offset = 0;
    if (self->host->arena_alloc(self->host->ctx, 8, &offset) != INOS_OK) return INOS_ERR_FULL;
    memcpy(base + offset, &sum, 8);
    out->offset = offset;
    out->length = 8;
    return INOS_OK;
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
    .abi_minor = INOS_ABI_MINOR, .kind = INOS_KIND_JOB_RUNNER, .id = "inos.jobs.template-c", .name = "C job template",
    .version = "1.0.0", .toolchain = INOS_TOOLCHAIN_C,
    .description = "A job runner in plain C (byte-sum), and plain C functions callable through libffi",
    .init = init, .deinit = deinit, .get_extension = get_extension,
};

const inos_plugin_descriptor *inos_plugin_entry(void) { return &descriptor; }
