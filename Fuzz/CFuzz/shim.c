// SPDX-License-Identifier: Apache-2.0
// Declarations only (include/inos_fuzz.h); SwiftPM needs a source file in a C target.
#include "inos_fuzz.h"
