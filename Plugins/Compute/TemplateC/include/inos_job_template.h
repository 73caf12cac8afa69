/* SPDX-License-Identifier: Apache-2.0 — the C job template's plain functions (callable through libffi). */
#include <stdint.h>

int64_t inos_template_sum(const uint8_t *data, uint64_t length);
double inos_template_mean(const uint8_t *data, uint64_t length);
uint64_t inos_template_count(const uint8_t *data, uint64_t length, int64_t byte);
double inos_template_scale(double value, int32_t factor);
