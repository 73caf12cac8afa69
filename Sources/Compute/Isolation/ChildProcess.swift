// SPDX-License-Identifier: Apache-2.0
import Host

#if canImport(Glibc)
import Glibc  // for the signal numbers only: every call goes through Host's sys* layer
#elseif canImport(Musl)
import Musl
#endif

/// A child process this process owns: spawned here, reaped here. If it is still running when the value is
/// destroyed, it is killed (`SIGKILL`) and reaped, so no child outlives its owner unnoticed.
///
/// The child also holds the read end of a *lifeline* pipe whose only write end is ``lifeline`` here: when
/// this process dies, however it dies, the kernel closes the write end, the child reads end-of-file and
/// exits — also in the middle of a job.
struct ChildProcess: ~Copyable {
    let pid: Int32
    /// The write end of the lifeline pipe (close-on-exec, so no other child inherits it).
    private let lifeline: Int32
    /// How the process ended, once it is reaped.
    private(set) var termination: ChildTermination?

    /// Starts `path` with `arguments`, handing it `fds` as descriptors numbered from the returned
    /// `firstDescriptor` up, and the lifeline's read end right after them.
    static func spawn(
        _ path: String, arguments: (_ firstDescriptor: Int32) -> [String], environment: [String: String], passing fds: [Int32]
    ) throws(SystemError) -> ChildProcess {
        let pipe = try sysPipe()
        defer { sysClose(pipe.read) }
        let sources = fds + [pipe.read]
        // Above every source, so no descriptor the child gets overwrites another before it is handed on.
        let first = (sources.max() ?? 2) + 1
        do throws(SystemError) {
            let pid = try sysSpawn(path, arguments: arguments(first), environment: environment, passing: sources, firstTarget: first)
            return ChildProcess(pid: pid, lifeline: pipe.write)
        } catch {
            sysClose(pipe.write)
            throw error
        }
    }

    private init(pid: Int32, lifeline: Int32) {
        self.pid = pid
        self.lifeline = lifeline
    }

    /// The descriptor, in the child, of the lifeline's read end: the one after the handed-on descriptors.
    static func lifelineDescriptor(first: Int32, passed count: Int) -> Int32 { first + Int32(count) }

    /// How the process ended, or `nil` while it runs. Never blocks.
    mutating func poll() -> ChildTermination? {
        guard termination == nil else { return termination }
        do {
            termination = try sysWaitChild(pid, blocking: false)
        } catch {
            termination = .exited(-1)  // ECHILD: reaped by someone else, its status lost; it is gone all the same
        }
        return termination
    }

    /// Waits until the process ends by itself, for at most `seconds`; `nil` if it still runs.
    mutating func wait(seconds: Double) -> ChildTermination? {
        let deadline = sysMonotonicNanoseconds() &+ UInt64(max(0, min(seconds, 1e9)) * 1e9)  // clamped: never traps
        while poll() == nil && sysMonotonicNanoseconds() < deadline { sysSleep(microseconds: 1000) }
        return termination
    }

    /// Kills the process with `SIGKILL` (unless it has ended already) and reaps it.
    @discardableResult
    mutating func kill() -> ChildTermination {
        if let termination { return termination }
        sysKill(pid, SIGKILL)
        let ended = (try? sysWaitChild(pid, blocking: true)) ?? .signaled(SIGKILL)
        termination = ended
        return ended
    }

    deinit {
        if termination == nil {
            sysKill(pid, SIGKILL)
            _ = try? sysWaitChild(pid, blocking: true)
        }
        sysClose(lifeline)
    }
}

