// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Primitives

/// A failed system call: which call, the `errno` it left, and the file it was about when there is one.
public struct SystemError: CodedError, Hashable {
    /// The name of the C function that failed, e.g. `"mmap"`.
    public var call: String
    /// The `errno` value.
    public var errno: Int32
    /// The path the call was about (opened, read, written, renamed), when it was about a file.
    public var path: String?

    public init(call: String, errno: Int32, path: String? = nil) {
        self.call = call
        self.errno = errno
        self.path = path
    }

    /// The device or file system has no room left (`ENOSPC`, or `EDQUOT` for a full quota).
    public var isNoSpace: Bool { errno == ENOSPC || errno == EDQUOT }

    /// The class of failure: ``InosError/Code/noSpace`` for ENOSPC/EDQUOT, ``InosError/Code/notFound`` for
    /// ENOENT, ``InosError/Code/alreadyExists`` for EEXIST, else ``InosError/Code/io`` (``errno`` says which).
    public var code: InosError.Code {
        if isNoSpace { return .noSpace }
        switch errno {
        case ENOENT: return .notFound
        case EEXIST: return .alreadyExists
        default: return .io
        }
    }

    public var message: String { description }

    /// The C library's text for `errno`, e.g. "Input/output error".
    public var reason: String { String(cString: strerror(errno)) }

    public var description: String {
        "\(call)\(path.map { " \($0)" } ?? "") failed: \(reason) (errno \(errno))"
    }
}
