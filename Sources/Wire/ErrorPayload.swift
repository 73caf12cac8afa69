// SPDX-License-Identifier: Apache-2.0
import Primitives

/// The payload of an ERROR answer (docs/wire.md): a code (u32, little-endian) and UTF-8 text for people.
///
/// The code is what a program acts on — `busy` means retry later, `unknownType` that the peer does not speak
/// that type (a newer node probing an older one gets this, not a closed session); the text only explains.
public struct ErrorPayload: Equatable, Sendable, CustomStringConvertible {
    /// What went wrong, as a number both sides agree on; values this node does not know keep their number.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }

        /// An ERROR from an older node that sent text only (or fewer than four bytes).
        public static let unspecified = Code(rawValue: 0)
        /// Too many requests from this peer are in flight, or the lane is full: retry later.
        public static let busy = Code(rawValue: 1)
        /// No module on the peer registered the type (it does not serve it: an older node, or a client).
        public static let unknownType = Code(rawValue: 2)
        /// The request did not decode.
        public static let malformed = Code(rawValue: 3)

        public var description: String {
            switch self {
            case .unspecified: "unspecified"
            case .busy: "busy"
            case .unknownType: "unknown type"
            case .malformed: "malformed"
            default: "code \(rawValue)"
            }
        }
    }

    /// The most text kept from a peer's ERROR (it ends up in logs and error messages).
    public static let maximumTextBytes = 512

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var encoded: [UInt8] {
        withUnsafeBytes(of: code.rawValue.littleEndian) { Array($0) } + Array(message.utf8.prefix(Self.maximumTextBytes))
    }

    /// Decodes any bytes: fewer than four is an ``Code/unspecified`` error with those bytes as text; text past
    /// ``maximumTextBytes`` is cut, invalid UTF-8 replaced.
    public init(decoding payload: some Collection<UInt8>) {
        var reader = ByteReader(Array(payload))
        guard let raw = reader.read(UInt32.self) else {
            self.init(.unspecified, String(decoding: reader.rest().prefix(Self.maximumTextBytes), as: UTF8.self))
            return
        }
        self.init(Code(rawValue: raw), String(decoding: reader.rest().prefix(Self.maximumTextBytes), as: UTF8.self))
    }

    public var description: String { "\(code): \(message)" }
}
