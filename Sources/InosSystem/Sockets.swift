// SPDX-License-Identifier: Apache-2.0
//
// Socket calls of the one syscall layer: a datagram to a Unix socket (systemd's notify socket). The mesh's own
// sockets belong to the transport plugins (SwiftNIO), not here.
import Primitives

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Sends `message` as one datagram to the Unix socket `name`: a file system path, or (when it starts with `@`)
/// a name in Linux's abstract namespace. The corresponding C functions are `socket(AF_UNIX, SOCK_DGRAM)` and
/// `sendto`, retried on EINTR.
/// - Throws: ``SystemError`` with `EINVAL` when `name` is neither an absolute path nor `@…`, or does not fit
///   `sun_path`; the call's errno otherwise.
package func sysSendUnixDatagram(_ message: [UInt8], to name: String) throws(SystemError) {
    #if os(Linux)
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    var path = Array(name.utf8)
    let abstract = path.first == UInt8(ascii: "@")
    if abstract { path[0] = 0 }  // the abstract namespace: a leading NUL, the length says where the name ends
    let capacity = MemoryLayout.size(ofValue: address.sun_path)
    guard path.count > 1 || !abstract, !path.isEmpty, path.count < capacity, abstract || path.first == UInt8(ascii: "/") else {
        throw SystemError(call: "sendto", errno: EINVAL, path: name)
    }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        raw.copyBytes(from: path)
        if !abstract { raw[path.count] = 0 }
    }
    let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path) ?? 2
    let length = socklen_t(pathOffset + path.count + (abstract ? 0 : 1))
    let fd = try retryingEINTR("socket") { socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
    defer { sysClose(fd) }
    _ = try withUnsafePointer(to: &address) { (pointer) throws(SystemError) in
        try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { (socketAddress) throws(SystemError) in
            try retryingEINTR("sendto") { sendto(fd, message, message.count, Int32(MSG_NOSIGNAL), socketAddress, length) }
        }
    }
    #else
    throw SystemError(call: "sendto", errno: ENOTSUP, path: name)  // systemd (and the abstract namespace) are Linux's
    #endif
}
