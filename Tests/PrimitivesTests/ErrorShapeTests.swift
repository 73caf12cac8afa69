// SPDX-License-Identifier: Apache-2.0
import Primitives
import Testing

/// A module's own error type with a code to switch on, as DataPathError or MeshError are.
private struct StoreFailure: CodedError {
    struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String { case noSpace = "no space", io = "I/O error" }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        static let noSpace = Code(.noSpace)
        static let io = Code(.io)
        var description: String { base.rawValue }
    }
    var code: Code
    var message: String
    var cause: (any Error)?
    var description: String { message }
}

/// An error outside the shape (a library's).
private struct PlainError: Error, CustomStringConvertible {
    var description: String { "write /d/x failed: No space left on device (errno 28)" }
}

@Suite("One error shape: code, message, cause, location, printed the same way")
struct ErrorShapeTests {
    @Test("InosError codes print stable names and compare by value")
    func codes() {
        let names: [(InosError.Code, String)] = [
            (.invalidArgument, "invalid argument"), (.malformed, "malformed"), (.notFound, "not found"),
            (.alreadyExists, "already exists"), (.io, "I/O error"), (.noSpace, "no space"), (.corrupt, "corrupt"),
            (.unsupported, "unsupported"), (.unavailable, "unavailable"), (.timeout, "timeout"), (.refused, "refused"),
            (.closed, "closed"), (.insecure, "insecure"), (.failed, "failed"), (.internal, "internal error"),
        ]
        #expect(Set(names.map(\.0)).count == names.count)
        for (code, name) in names { #expect(code.description == name) }
        #expect(InosError(.notFound, "x").code == .notFound)
        #expect(InosError(.notFound, "x").code != .io)
    }

    @Test("an InosError records where it was made, and its one-line description appends the cause")
    func location() {
        let line = #line + 1
        let error = InosError(.failed, "storing the job's result", cause: PlainError())
        #expect(error.location?.file == "PrimitivesTests/ErrorShapeTests.swift")
        #expect(error.location?.line == line)
        #expect(error.location?.function == "location()")
        #expect(error.description == "storing the job's result: write /d/x failed: No space left on device (errno 28)")
        #expect(InosError(.timeout, "no answer").description == "no answer")
    }

    @Test("the report prints message, code and every cause with its code, indented, in order")
    func report() {
        let store = StoreFailure(code: .noSpace, message: "storing chunk c1 failed", cause: PlainError())
        let outer = InosError(.failed, "put big.bin", cause: store)
        #expect(
            ErrorReport.lines(outer, includeLocation: false) == [
                "Error: put big.bin",
                "  code: failed",
                "  cause: storing chunk c1 failed",
                "    code: no space",
                "    cause: write /d/x failed: No space left on device (errno 28)",
            ])
        #expect(ErrorReport.codes(outer) == ["failed", "no space"])
        #expect(outer.causes.count == 2)
        #expect(outer.causes.first is StoreFailure && outer.causes.last is PlainError)
        // With locations: the line after each code names where it was made (the store type records none).
        let located = ErrorReport.lines(outer)
        #expect(located[2].hasPrefix("  at: report() (PrimitivesTests/ErrorShapeTests.swift:"))
        #expect(located[3] == "  cause: storing chunk c1 failed")
    }

    @Test("an error outside the shape is one line; the wrapping init keeps an InosError's code")
    func plain() {
        #expect(ErrorReport.text(PlainError()) == "Error: write /d/x failed: No space left on device (errno 28)")
        #expect(ErrorReport.codes(PlainError()).isEmpty)
        #expect(InosError("reading the key", wrapping: InosError(.insecure, "mode 644")).code == .insecure)
        #expect(InosError("reading the key", wrapping: PlainError()).code == .failed)
    }

    @Test("a cause chain that loops is cut at the maximum depth, not followed forever")
    func depth() {
        var error = InosError(.internal, "level 0")
        for level in 1...40 { error = InosError(.internal, "level \(level)", cause: error) }
        let lines = ErrorReport.lines(error, includeLocation: false)
        #expect(lines.count == 2 * ErrorReport.maximumDepth)
        #expect(error.causes.count == ErrorReport.maximumDepth)
    }
}
