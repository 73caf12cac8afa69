// SPDX-License-Identifier: Apache-2.0
import CFFI
import Primitives

/// A C function's signature as declared where it is called, e.g.
/// `inos_template_sum(buffer, length) -> i64`: so a plugin's plain C functions need no INOS boilerplate.
///
/// Argument types: `i32`, `i64`, `u64`, `f32`, `f64` (taken from the call's literal arguments, in order),
/// `buffer` (a pointer to the next input's arena slot) and `length` (the byte length of the last buffer, as
/// u64). Return types: the numeric ones and `void`.
public struct ForeignSignature: Sendable, Equatable {
    public enum Kind: String, Sendable { case i32, i64, u64, f32, f64, buffer, length, void }

    public var name: String
    public var arguments: [Kind]
    public var returns: Kind

    public init(parsing text: String) throws(InosError) {
        let parts = text.split(separator: "->", maxSplits: 1).map { String($0).trimmed() }
        guard parts.count == 2, let open = parts[0].firstIndex(of: "("), parts[0].hasSuffix(")") else {
            throw InosError(.invalidArgument, "signature \"\(text)\" is not NAME(type, …) -> type")
        }
        name = String(parts[0][..<open]).trimmed()
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
            throw InosError(.invalidArgument, "\"\(name)\" is not a C function name")
        }
        let list = parts[0][parts[0].index(after: open)..<parts[0].index(before: parts[0].endIndex)]
        arguments = []
        for token in list.split(separator: ",").map({ String($0).trimmed() }) where !token.isEmpty {
            guard let kind = Kind(rawValue: token), kind != .void else {
                throw InosError(.invalidArgument, "unknown argument type \"\(token)\" (i32, i64, u64, f32, f64, buffer, length)")
            }
            arguments.append(kind)
        }
        guard let result = Kind(rawValue: parts[1]), result != .buffer, result != .length else {
            throw InosError(.invalidArgument, "unknown return type \"\(parts[1])\" (i32, i64, u64, f32, f64, void)")
        }
        returns = result
        if let first = arguments.firstIndex(of: .length), !arguments[..<first].contains(.buffer) {
            throw InosError(.invalidArgument, "\"length\" must follow a \"buffer\" argument")
        }
    }
}

extension String {
    fileprivate func trimmed() -> String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}

/// Calls `function` (the address of a C function) by `signature` through libffi, with `buffers` for the
/// buffer arguments and `literals` for the numeric ones; returns the result as text. Every argument is
/// checked against the declaration before the call: a mismatch is an error, never a bad call.
public func callForeign(_ function: UnsafeMutableRawPointer, _ signature: ForeignSignature, buffers: [UnsafeRawBufferPointer], literals: [String])
    throws(InosError) -> String
{
    let bufferCount = signature.arguments.filter { $0 == .buffer }.count
    let literalCount = signature.arguments.filter { ![.buffer, .length].contains($0) }.count
    guard bufferCount == buffers.count else {
        throw InosError(.invalidArgument, "\(signature.name) takes \(bufferCount) buffer(s); \(buffers.count) input(s) given")
    }
    guard literalCount == literals.count else {
        throw InosError(.invalidArgument, "\(signature.name) takes \(literalCount) number(s); \(literals.count) --arg value(s) given")
    }
    // Storage for each argument value (8 bytes suffices for every declared type).
    let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: 8 * max(1, signature.arguments.count), alignment: 8)
    defer { storage.deallocate() }
    var types: [UnsafeMutablePointer<ffi_type>?] = []
    var values: [UnsafeMutableRawPointer?] = []
    var nextBuffer = 0, nextLiteral = 0
    var lastLength: UInt64 = 0
    for (index, kind) in signature.arguments.enumerated() {
        let slot = storage.baseAddress! + 8 * index
        switch kind {
        case .buffer:
            let buffer = buffers[nextBuffer]
            nextBuffer += 1
            slot.storeBytes(of: UnsafeRawPointer(buffer.baseAddress), as: UnsafeRawPointer?.self)
            lastLength = UInt64(buffer.count)
            types.append(inos_ffi_type(6))
        case .length:
            slot.storeBytes(of: lastLength, as: UInt64.self)
            types.append(inos_ffi_type(3))
        default:
            let text = literals[nextLiteral]
            nextLiteral += 1
            switch kind {
            case .i32:
                guard let value = Int32(text) else { throw InosError(.invalidArgument, "argument \(index + 1) \"\(text)\" is not an i32") }
                slot.storeBytes(of: value, as: Int32.self)
                types.append(inos_ffi_type(1))
            case .i64:
                guard let value = Int64(text) else { throw InosError(.invalidArgument, "argument \(index + 1) \"\(text)\" is not an i64") }
                slot.storeBytes(of: value, as: Int64.self)
                types.append(inos_ffi_type(2))
            case .u64:
                guard let value = UInt64(text) else { throw InosError(.invalidArgument, "argument \(index + 1) \"\(text)\" is not a u64") }
                slot.storeBytes(of: value, as: UInt64.self)
                types.append(inos_ffi_type(3))
            case .f32:
                guard let value = Float(text) else { throw InosError(.invalidArgument, "argument \(index + 1) \"\(text)\" is not an f32") }
                slot.storeBytes(of: value, as: Float.self)
                types.append(inos_ffi_type(4))
            default:
                guard let value = Double(text) else { throw InosError(.invalidArgument, "argument \(index + 1) \"\(text)\" is not an f64") }
                slot.storeBytes(of: value, as: Double.self)
                types.append(inos_ffi_type(5))
            }
        }
        values.append(slot)
    }
    let returnCode: Int32 = switch signature.returns {
    case .void: 0
    case .i32: 1
    case .i64: 2
    case .u64: 3
    case .f32: 4
    default: 5
    }
    var cif = ffi_cif()
    var result = (UInt64(0), UInt64(0))
    let prepared = types.withUnsafeMutableBufferPointer { typeList in
        ffi_prep_cif(&cif, inos_ffi_default_abi(), UInt32(typeList.count), inos_ffi_type(returnCode), typeList.baseAddress)
    }
    guard prepared == FFI_OK else { throw InosError(.invalidArgument, "libffi cannot prepare a call to \(signature.name)") }
    let entry = unsafeBitCast(function, to: (@convention(c) () -> Void).self)
    values.withUnsafeMutableBufferPointer { valueList in
        withUnsafeMutableBytes(of: &result) { ffi_call(&cif, entry, $0.baseAddress, valueList.baseAddress) }
    }
    return withUnsafeBytes(of: result) { raw in
        switch signature.returns {
        case .void: ""
        case .i32: String(Int32(truncatingIfNeeded: raw.load(as: Int64.self)))
        case .i64: String(raw.load(as: Int64.self))
        case .u64: String(raw.load(as: UInt64.self))
        case .f32: String(raw.load(as: Float.self))
        default: String(raw.load(as: Double.self))
        }
    }
}

/// A C function with numeric arguments prepared once for many calls (ffi_prep_cif done up front): what a
/// job runner calling the same function per record uses, and what the ffi overhead benchmark measures.
public final class PreparedForeignCall {
    private var cif = ffi_cif()
    private var types: [UnsafeMutablePointer<ffi_type>?]
    private let entry: @convention(c) () -> Void
    public let signature: ForeignSignature

    /// Only numeric argument and return types (no buffers); nil if libffi cannot prepare the call.
    public init?(_ function: UnsafeMutableRawPointer, _ signature: ForeignSignature) {
        func code(_ kind: ForeignSignature.Kind) -> Int32? {
            switch kind {
            case .void: 0
            case .i32: 1
            case .i64: 2
            case .u64: 3
            case .f32: 4
            case .f64: 5
            default: nil
            }
        }
        guard let result = code(signature.returns), signature.arguments.allSatisfy({ code($0) != nil }) else { return nil }
        self.signature = signature
        types = signature.arguments.map { inos_ffi_type(code($0)!) }
        entry = unsafeBitCast(function, to: (@convention(c) () -> Void).self)
        let status = types.withUnsafeMutableBufferPointer { list in
            ffi_prep_cif(&cif, inos_ffi_default_abi(), UInt32(list.count), inos_ffi_type(result), list.baseAddress)
        }
        guard status == FFI_OK else { return nil }
    }

    /// Calls with argument values already laid out (one pointer per argument) and a result buffer.
    public func call(_ arguments: UnsafeMutablePointer<UnsafeMutableRawPointer?>, result: UnsafeMutableRawPointer) {
        ffi_call(&cif, entry, result, arguments)
    }
}
