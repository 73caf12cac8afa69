// SPDX-License-Identifier: Apache-2.0
//
// What the kernel says about one thread of this process: how long it ran, how long it waited for a CPU, and
// what it is doing now. A watchdog reads it to tell a thread that is starved of CPU from one that is blocked.
import CInosSystem

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The corresponding system call is `gettid(2)`: the calling thread's kernel ID.
package func sysThreadID() -> Int32 { cinos_gettid() }

/// One reading of a thread's scheduler statistics and state (`/proc/self/task/TID/schedstat`, `stat`, `syscall`).
package struct ThreadSample: Sendable, Equatable {
    /// Monotonic time of the reading.
    package var at: UInt64
    /// Nanoseconds the thread has run on a CPU, in all.
    package var onCPU: UInt64
    /// Nanoseconds it has waited runnable for a CPU, in all.
    package var waitingForCPU: UInt64
    /// What it is doing at the reading.
    package var activity: Activity

    package enum Activity: Sendable, Equatable {
        /// Running or runnable.
        case running
        /// Blocked in a system call (its number, the architecture's).
        case inSyscall(Int)
        /// Waiting on disk or other uninterruptible I/O (state D).
        case uninterruptible
        /// Neither could be read.
        case unknown
    }

    package init(at: UInt64, onCPU: UInt64, waitingForCPU: UInt64, activity: Activity) {
        (self.at, self.onCPU, self.waitingForCPU, self.activity) = (at, onCPU, waitingForCPU, activity)
    }

    /// Reads thread `tid` of this process now; nil when `/proc` has no such thread (or is not mounted).
    package static func read(thread tid: Int32, at now: UInt64 = sysMonotonicNanoseconds()) -> ThreadSample? {
        let base = "/proc/self/task/\(tid)/"
        guard let schedstat = readProcFile(base + "schedstat") else { return nil }
        let fields = schedstat.split(separator: " ")
        guard fields.count >= 2, let run = UInt64(fields[0]), let wait = UInt64(fields[1]) else { return nil }
        return ThreadSample(at: now, onCPU: run, waitingForCPU: wait, activity: activity(base))
    }

    private static func activity(_ base: String) -> Activity {
        // stat: "tid (comm) S ..."; comm may hold spaces and parentheses, so the state follows the last ')'.
        if let stat = readProcFile(base + "stat"), let close = stat.lastIndex(of: ")") {
            let state = stat[stat.index(after: close)...].drop { $0 == " " }.first
            if state == "D" { return .uninterruptible }
            if state == "R" { return .running }
        }
        guard let syscall = readProcFile(base + "syscall") else { return .unknown }
        if syscall.hasPrefix("running") { return .running }
        guard let number = Int(syscall.prefix { $0 != " " && $0 != "\n" }), number >= 0 else { return .unknown }
        return .inSyscall(number)
    }

    /// A name for a system call number (x86_64), for a log line: the calls a node's threads block in.
    package static func syscallName(_ number: Int) -> String {
        #if arch(x86_64)
        let names: [Int: String] = [
            0: "read", 1: "write", 3: "close", 7: "poll", 17: "pread64", 18: "pwrite64", 19: "readv", 20: "writev",
            23: "select", 35: "nanosleep", 42: "connect", 43: "accept", 44: "sendto", 45: "recvfrom", 46: "sendmsg",
            47: "recvmsg", 61: "wait4", 74: "fsync", 75: "fdatasync", 76: "truncate", 77: "ftruncate", 82: "rename",
            202: "futex", 230: "clock_nanosleep", 232: "epoll_wait", 257: "openat", 264: "renameat", 277: "sync_file_range",
            281: "epoll_pwait", 285: "fallocate", 288: "accept4", 316: "renameat2",
        ]
        if let name = names[number] { return name }
        #endif
        return "syscall \(number)"
    }

}

/// `path`'s first bytes as text (the /proc files read here are one short line); nil if it cannot be read.
/// Plain libc, not ``SystemFile``: these reads are diagnostics, outside the store's fault injection.
private func readProcFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { _ = close(fd) }
    var buffer = [UInt8](repeating: 0, count: 512)
    let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    guard count > 0 else { return nil }
    return String(decoding: buffer[..<count], as: UTF8.self)
}
