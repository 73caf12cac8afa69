// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import Logging
import Node

/// `--log-level` and `--log-format`, for every command that logs (`inos node`; others may take the group).
struct LogOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("trace, debug, info, notice, warning, error or critical (at run time: inos log level LEVEL).", valueName: "level"))
    var logLevel: Logger.Level = .info

    @Option(name: .long, help: ArgumentHelp("text (timestamp, level, label, metadata, message) or json (one object per line).", valueName: "format"))
    var logFormat: NodeLog.Format = .text

    /// Bootstraps the process's ``NodeLog`` with these options and returns a logger for `subsystem`.
    func bootstrap(_ subsystem: String) -> Logger {
        NodeLog.shared.bootstrap(level: logLevel, format: logFormat)
        return NodeLog.shared.logger(subsystem)
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
extension NodeLog.Format: ExpressibleByArgument {}
