// SPDX-License-Identifier: Apache-2.0
import Content

/// JOB_RUN (0x68) and JOB_DONE (0x69) payloads (docs/wire.md). Decoders return nil for anything malformed.
public enum JobWire {
    public struct Run: Sendable, Equatable {
        public var resource: ContentID
        public var function: String
        public var parameters: String
        public var chunks: [Int]
        public init(resource: ContentID, function: String, parameters: String, chunks: [Int]) {
            self.resource = resource
            self.function = function
            self.parameters = parameters
            self.chunks = chunks
        }
    }

    /// One chunk's outcome: its result, or the runner's error.
    public struct Outcome: Sendable, Equatable {
        public var chunk: Int
        public var result: Result<[UInt8], Failure>
        public init(chunk: Int, result: Result<[UInt8], Failure>) {
            self.chunk = chunk
            self.result = result
        }
    }

    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public var message: String
        /// The chunk is not available at that node (missing, damaged): another holder may run it. Otherwise the
        /// job itself failed on it, wherever it runs.
        public var retryable: Bool
        public init(_ message: String, retryable: Bool = false) {
            self.message = message
            self.retryable = retryable
        }
        public var description: String { message }
    }

    static func u32(_ v: Int) -> [UInt8] { withUnsafeBytes(of: UInt32(v).littleEndian) { Array($0) } }
    static func readU32(_ b: ArraySlice<UInt8>) -> Int? {
        guard b.count >= 4 else { return nil }
        return Int(b.prefix(4).reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
    }

    public static func encode(_ run: Run) -> [UInt8] {
        let id = run.resource.bytes, function = Array(run.function.utf8.prefix(255)), parameters = Array(run.parameters.utf8.prefix(65_535))
        var out = [UInt8(id.count)] + id + [UInt8(function.count)] + function
        out += withUnsafeBytes(of: UInt16(parameters.count).littleEndian) { Array($0) } + parameters
        out += u32(run.chunks.count)
        for chunk in run.chunks { out += u32(chunk) }
        return out
    }

    public static func decodeRun(_ payload: [UInt8]) -> Run? {
        var rest = payload[...]
        guard let idLength = rest.first.map(Int.init), idLength > 0, rest.count > idLength,
            let id = try? ContentID(bytes: Array(rest.dropFirst().prefix(idLength)))
        else { return nil }
        rest = rest.dropFirst(1 + idLength)
        guard let fnLength = rest.first.map(Int.init), rest.count >= 1 + fnLength + 2 else { return nil }
        let function = String(decoding: rest.dropFirst().prefix(fnLength), as: UTF8.self)
        rest = rest.dropFirst(1 + fnLength)
        let parametersLength = Int(rest.prefix(2).reversed().reduce(UInt16(0)) { $0 << 8 | UInt16($1) })
        rest = rest.dropFirst(2)
        guard rest.count >= parametersLength + 4 else { return nil }
        let parameters = String(decoding: rest.prefix(parametersLength), as: UTF8.self)
        rest = rest.dropFirst(parametersLength)
        guard let count = readU32(rest), count <= 1 << 20, rest.count == 4 + 4 * count else { return nil }
        rest = rest.dropFirst(4)
        let chunks = (0..<count).map { readU32(rest.dropFirst(4 * $0))! }
        return Run(resource: id, function: function, parameters: parameters, chunks: chunks)
    }

    public static func encode(_ outcomes: [Outcome]) -> [UInt8] {
        var out = u32(outcomes.count)
        for outcome in outcomes {
            out += u32(outcome.chunk)
            switch outcome.result {
            case .success(let bytes): out += [0] + u32(bytes.count) + bytes
            case .failure(let failure):
                let text = Array(failure.message.utf8.prefix(1000))
                out += [failure.retryable ? 2 : 1] + u32(text.count) + text
            }
        }
        return out
    }

    public static func decodeDone(_ payload: [UInt8]) -> [Outcome]? {
        var rest = payload[...]
        guard let count = readU32(rest), count <= 1 << 20 else { return nil }
        rest = rest.dropFirst(4)
        var out: [Outcome] = []
        for _ in 0..<count {
            guard let chunk = readU32(rest), rest.count >= 9, let status = rest.dropFirst(4).first, status <= 2,
                let length = readU32(rest.dropFirst(5)), rest.count >= 9 + length
            else { return nil }
            let bytes = Array(rest.dropFirst(9).prefix(length))
            out.append(Outcome(chunk: chunk, result: status == 0 ? .success(bytes) : .failure(Failure(String(decoding: bytes, as: UTF8.self), retryable: status == 2))))
            rest = rest.dropFirst(9 + length)
        }
        return rest.isEmpty ? out : nil
    }
}
