/* SPDX-License-Identifier: Apache-2.0 — libffi (Debian libffi-dev): calls by declared signature. */
#include <ffi.h>

/* libffi's type descriptors are mutable C globals; Swift reaches them through this one accessor. */
static inline ffi_type *inos_ffi_type(int code) {
    switch (code) {
    case 0: return &ffi_type_void;
    case 1: return &ffi_type_sint32;
    case 2: return &ffi_type_sint64;
    case 3: return &ffi_type_uint64;
    case 4: return &ffi_type_float;
    case 5: return &ffi_type_double;
    default: return &ffi_type_pointer;
    }
}

static inline ffi_abi inos_ffi_default_abi(void) { return FFI_DEFAULT_ABI; }
