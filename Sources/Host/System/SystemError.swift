// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A failed system call: which call, and the `errno` it left.
public struct SystemError: Error, Hashable, CustomStringConvertible {
    /// The name of the C function that failed, e.g. `"mmap"`.
    public var call: String
    /// The `errno` value.
    public var errno: Int32

    public init(call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    public var description: String {
        "\(call) failed: \(String(cString: strerror(errno))) (errno \(errno))"
    }
}
