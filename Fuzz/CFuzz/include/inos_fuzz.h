// SPDX-License-Identifier: Apache-2.0
#ifndef INOS_FUZZ_H
#define INOS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* libFuzzer's driver, for a program that keeps its own main (libclang_rt.fuzzer defines it; the fuzz build
 * links it, the normal build never calls it). SwiftPM renames an executable's Swift entry point to
 * <module>_main and aliases main to it, so InosFuzz runs libFuzzer from its @main instead of libFuzzer's main. */
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
