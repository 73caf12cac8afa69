// SPDX-License-Identifier: Apache-2.0
import Foundation
import Primitives

/// The systemd notification protocol (`sd_notify(3)`), written out: one datagram of `KEY=VALUE` lines to the
/// Unix socket named by `$NOTIFY_SOCKET` — an abstract socket when the name starts with `@`. Without the
/// variable (not started by systemd with `Type=notify`) every call does nothing.
///
/// The node sends `READY=1` once it listens, `STATUS=…` with a one-line summary, `RELOADING=1` with
/// `MONOTONIC_USEC=…` and then `READY=1` around a SIGHUP reload, and `STOPPING=1` when it begins to stop.
struct SystemdNotifier: Sendable {
    /// The socket's name as `$NOTIFY_SOCKET` gives it, nil when the variable is unset or empty.
    let socketName: String?

    init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        let name = environment["NOTIFY_SOCKET"] ?? ""
        socketName = name.isEmpty ? nil : name
    }

    var isEnabled: Bool { socketName != nil }

    /// Sends `fields` as one datagram (`KEY=VALUE` lines). Errors are returned for the caller to log: a failed
    /// notification must not stop the node.
    @discardableResult
    func notify(_ fields: [(String, String)]) -> InosError? {
        guard let socketName else { return nil }
        let message = fields.map { "\($0.0)=\($0.1)" }.joined(separator: "\n")
        return Self.send(message, to: socketName)
    }

    func ready(status: String) { notify([("READY", "1"), ("STATUS", status)]) }
    func stopping() { notify([("STOPPING", "1"), ("STATUS", "stopping")]) }
    func reloading() { notify([("RELOADING", "1"), ("MONOTONIC_USEC", String(Self.monotonicMicroseconds()))]) }
    func status(_ line: String) { notify([("STATUS", line)]) }

    /// CLOCK_MONOTONIC in microseconds, as systemd compares it with its own.
    static func monotonicMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000
    }

    /// The corresponding C calls are `socket(AF_UNIX, SOCK_DGRAM)` and `sendto(2)`; EINTR is retried.
    static func send(_ message: String, to name: String) -> InosError? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var path = Array(name.utf8)
        let abstract = path.first == UInt8(ascii: "@")
        if abstract { path[0] = 0 }  // Linux's abstract namespace: a leading NUL, the length says where it ends
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !path.isEmpty, path.count < capacity, name.hasPrefix("/") || abstract else {
            return InosError(.invalidArgument, "NOTIFY_SOCKET \"\(name)\" is neither an absolute path nor an abstract name (@…) shorter than \(capacity) bytes")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path)
            if !abstract { raw[path.count] = 0 }
        }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path).map { $0 + path.count + (abstract ? 0 : 1) } ?? MemoryLayout<sockaddr_un>.size)
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return InosError(.io, "sd_notify: socket(AF_UNIX, SOCK_DGRAM): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let bytes = Array(message.utf8)
        while true {
            let sent = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, bytes, bytes.count, Int32(MSG_NOSIGNAL), $0, length) }
            }
            if sent >= 0 { return nil }
            if errno == EINTR { continue }
            return InosError(.io, "sd_notify to \(name): \(String(cString: strerror(errno)))")
        }
    }
}
