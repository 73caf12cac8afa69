// SPDX-License-Identifier: Apache-2.0

/// The compiler tag of the image this file is compiled into, e.g. `"swift-6.3"`. A Swift plugin must carry the same tag:
/// Swift has no stable ABI on Linux, so a plugin from another compiler could misread runtime metadata.
public let swiftToolchainTag: String = {
    #if compiler(>=7.0)
    return "swift-7+"
    #elseif compiler(>=6.4)
    return "swift-6.4"
    #elseif compiler(>=6.3)
    return "swift-6.3"
    #elseif compiler(>=6.2)
    return "swift-6.2"
    #elseif compiler(>=6.1)
    return "swift-6.1"
    #else
    return "swift-6.0"
    #endif
}()
