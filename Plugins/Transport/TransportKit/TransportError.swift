// SPDX-License-Identifier: Apache-2.0
import PluginABI
import PluginKit

/// A transport failure: a ``PluginStatus`` code (what the transport answers across the ABI) and a message for
/// the operator.
package struct TransportError: Error, CustomStringConvertible {
    package var code: PluginStatus
    package var message: String

    package init(_ code: PluginStatus, _ message: String) {
        self.code = code
        self.message = message
    }

    package static func closed(_ connection: UInt64) -> TransportError {
        TransportError(.closed, "connection \(connection) is closed")
    }

    package var description: String { message }
}

/// A parsed transport address: `scheme://host:port` (TCP) or `mem://name` (in-memory).
package struct TransportAddress: Equatable, CustomStringConvertible {
    package var scheme: String
    package var host: String
    package var port: Int?

    /// Parses `address`, requiring `scheme`; TCP-style schemes need a port (0...65535).
    package init(_ address: String, scheme expected: String, needsPort: Bool) throws(TransportError) {
        let parts = address.split(separator: "://", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            throw TransportError(.invalidArgument, "address \"\(address)\" is not scheme://host:port")
        }
        scheme = String(parts[0])
        guard scheme == expected else {
            throw TransportError(.invalidArgument, "address \"\(address)\": this transport speaks \(expected)://")
        }
        let rest = parts[1]
        if needsPort {
            guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]), (0...65535).contains(port) else {
                throw TransportError(.invalidArgument, "address \"\(address)\" needs a port 0...65535")
            }
            var host = String(rest[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard !host.isEmpty else { throw TransportError(.invalidArgument, "address \"\(address)\" has no host") }
            self.host = host
            self.port = port
        } else {
            guard !rest.isEmpty, !rest.contains("/") else {
                throw TransportError(.invalidArgument, "address \"\(address)\" needs a name")
            }
            host = String(rest)
            port = nil
        }
    }

    package init(scheme: String, host: String, port: Int?) {
        self.scheme = scheme
        self.host = host
        self.port = port
    }

    package var description: String {
        guard let port else { return "\(scheme)://\(host)" }
        return host.contains(":") ? "\(scheme)://[\(host)]:\(port)" : "\(scheme)://\(host):\(port)"
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// Runs `body` on a new detached thread (plugins do not depend on Foundation).
package func startThread(_ body: @escaping @Sendable () -> Void) {
    final class Box: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let box = Unmanaged.passRetained(Box(body))
    var thread = pthread_t()
    guard pthread_create(&thread, nil, { raw in
        let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
        box.body()
        return nil
    }, box.toOpaque()) == 0 else {
        box.takeRetainedValue().body()  // no thread to be had: run inline rather than never
        return
    }
    pthread_detach(thread)
}

/// Names the calling thread for the kernel (`/proc/<pid>/task/<tid>/comm`, shown by `top -H`, `perf` and
/// `Benchmarks/idle/idle.sh`): at most 15 bytes, longer names are cut. Without it a plugin's thread carries the
/// name of whichever host thread started it.
package func setThreadName(_ name: String) {
    // /proc/thread-self/comm is the calling thread's name (what pthread_setname_np writes; Swift's Glibc
    // module does not export that GNU function, and prctl is variadic).
    let descriptor = open("/proc/thread-self/comm", O_WRONLY)
    guard descriptor >= 0 else { return }
    let bytes = Array(name.utf8.prefix(15))
    _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
    close(descriptor)
}

extension Array where Element == UInt8 {
    /// Calls a typed-throwing body with the bytes (Array's own withUnsafeBytes rethrows untyped errors).
    package func withBytes<E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> Void) throws(E) {
        var failure: E?
        withUnsafeBytes { raw in
            do throws(E) { try body(raw) } catch { failure = error }
        }
        if let failure { throw failure }
    }
}
