// SPDX-License-Identifier: Apache-2.0

/// The one shape of this project's errors: a ``code`` a program acts on, a ``message`` for people, the
/// ``cause`` underneath (another error, often a ``CodedError`` itself) and the ``location`` that threw it.
///
/// Each module keeps its own error type where callers switch on its codes (``InosError`` where they do not);
/// every one conforms, so the CLI, logs and tests print and walk any of them the same way
/// (``ErrorReport``). A `Code` is a struct wrapping a private enum (or, for numbers another program or the
/// wire defines, a `RawRepresentable` struct), so codes can be added without breaking a `switch`.
public protocol CodedError: Error, CustomStringConvertible {
    associatedtype Code: Hashable, Sendable, CustomStringConvertible

    /// What went wrong, as a value a program compares (`error.code == .notFound`), never parses.
    var code: Code { get }
    /// What went wrong and, where it can, what to do — for people; its text may change between versions.
    var message: String { get }
    /// The error underneath, when this one wraps another (a system call's, a plugin's, a peer's).
    var cause: (any Error)? { get }
    /// Where the error was made, when its type records it.
    var location: ErrorLocation? { get }
}

extension CodedError {
    public var cause: (any Error)? { nil }
    public var location: ErrorLocation? { nil }

    /// The causes under this error, nearest first (empty when it wraps none).
    public var causes: [any Error] {
        var chain: [any Error] = []
        var next = cause
        while let error = next, chain.count < ErrorReport.maximumDepth {
            chain.append(error)
            next = (error as? any CodedError)?.cause
        }
        return chain
    }
}

/// A place in the source: the function, file (`#fileID`) and line that made an error.
public struct ErrorLocation: Hashable, Sendable, CustomStringConvertible {
    public var function: String
    public var file: String
    public var line: Int

    public init(function: String, file: String, line: Int) {
        self.function = function
        self.file = file
        self.line = line
    }

    /// The caller's location: pass `#function`, `#fileID` and `#line` through as default arguments.
    public static func here(function: String = #function, file: String = #fileID, line: Int = #line) -> ErrorLocation {
        ErrorLocation(function: function, file: file, line: line)
    }

    public var description: String { "\(function) (\(file):\(line))" }
}
