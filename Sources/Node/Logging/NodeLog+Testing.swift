// SPDX-License-Identifier: Apache-2.0
import Logging

extension NodeLog {
    /// A log of its own that hands every rendered line to `output` instead of standard error and never
    /// bootstraps swift-log (a test process shares one `LoggingSystem`).
    package static func forTesting(capacity: Int = 1000, level: Logger.Level = .info, output: @escaping @Sendable (String) -> Void) -> NodeLog {
        NodeLog(capacity: capacity, level: level, output: output)
    }

    /// Sets the rendering without bootstrapping swift-log.
    package func setFormatForTesting(_ format: Format) {
        formatRaw.store(format == .json ? 1 : 0, ordering: .relaxed)
    }

    /// How many records the tail holds now.
    package var tailCountForTesting: Int { state.withLock { $0.ring.count } }
}
