// SPDX-License-Identifier: Apache-2.0

/// How any error is shown to people — the CLI's "Error: …" block, a log line — the same way for every type:
/// the message, the code, where it was made, then each cause with its own code, indented under the one it
/// explains. An error that is not a ``CodedError`` is one line, its `description`.
///
/// ```
/// Error: job word-count over bafk… failed
///   code: refused
///   at: run() (inos/JobSubmit.swift:40)
///   cause: no node could run chunk 3
///     code: unavailable
///     cause: connection 7 closed
/// ```
public enum ErrorReport {
    /// Causes beyond this depth are not followed (a cycle, or a chain nobody reads).
    public static let maximumDepth = 16

    /// The report of `error`, lines joined by newlines, starting with `Error: `.
    public static func text(_ error: any Error, includeLocation: Bool = true) -> String {
        lines(error, includeLocation: includeLocation).joined(separator: "\n")
    }

    /// The report's lines: the first is `Error: message`; causes are indented two spaces per level.
    public static func lines(_ error: any Error, includeLocation: Bool = true) -> [String] {
        var lines: [String] = []
        var next: (any Error)? = error
        var depth = 0
        while let current = next, depth < maximumDepth {
            let indent = String(repeating: "  ", count: depth)
            let lead = depth == 0 ? "Error: " : "\(indent)cause: "
            guard let coded = current as? any CodedError else {
                lines.append(lead + String(describing: current))
                break
            }
            lines.append(lead + coded.message)
            lines.append("\(indent)  code: \(coded.code)")
            if includeLocation, let location = coded.location { lines.append("\(indent)  at: \(location)") }
            next = coded.cause
            depth += 1
        }
        return lines
    }

    /// The codes along the chain, outermost first, as text (`["failed", "no space", "INOS_ERR_FULL"]`); an
    /// error that is not a ``CodedError`` ends the list.
    public static func codes(_ error: any Error) -> [String] {
        var codes: [String] = []
        var next: (any Error)? = error
        while let coded = next as? any CodedError, codes.count < maximumDepth {
            codes.append(String(describing: coded.code))
            next = coded.cause
        }
        return codes
    }
}
