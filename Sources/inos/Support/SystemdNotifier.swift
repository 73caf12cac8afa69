// SPDX-License-Identifier: Apache-2.0
import Foundation
import Host
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
    static func monotonicMicroseconds() -> UInt64 { sysMonotonicNanoseconds() / 1_000 }

    static func send(_ message: String, to name: String) -> InosError? {
        do throws(SystemError) {
            try sysSendUnixDatagram(Array(message.utf8), to: name)
            return nil
        } catch where error.errno == EINVAL {
            return InosError(.invalidArgument, "NOTIFY_SOCKET \"\(name)\" is neither an absolute path nor an abstract name (@…) that fits a Unix socket address", cause: error)
        } catch {
            return InosError(.io, "sd_notify to \(name) failed", cause: error)
        }
    }
}
