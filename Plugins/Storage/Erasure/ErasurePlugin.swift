// SPDX-License-Identifier: Apache-2.0
// The ISA-L Reed-Solomon erasure codec plugin (inos.erasure/1). Being written; see Tests/PluginTests/ErasurePluginTests.swift.
import CISAL
import PluginABI
import PluginKit
