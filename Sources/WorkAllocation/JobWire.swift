// SPDX-License-Identifier: Apache-2.0
import Content
import Primitives
import Wire

extension FrameType {
    /// Distributed jobs: JOB_RUN asks a node to run a function over some chunks of a resource it holds;
    /// JOB_DONE answers with one result (or error) per chunk.
    public static let jobRun = FrameType(rawValue: 0x68)
    public static let jobDone = FrameType(rawValue: 0x69)
}

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

    public struct Failure: CodedError, Equatable {
        /// ``InosError/Code/unavailable`` when another holder may run the chunk, else ``InosError/Code/failed``.
        public var code: InosError.Code { retryable ? .unavailable : .failed }
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

    public static func encode(_ run: Run) -> [UInt8] {
        let id = run.resource.bytes, function = Array(run.function.utf8.prefix(255)), parameters = Array(run.parameters.utf8.prefix(65_535))
        var out = [UInt8(id.count)] + id + [UInt8(function.count)] + function
        out += withUnsafeBytes(of: UInt16(parameters.count).littleEndian) { Array($0) } + parameters
        out += u32(run.chunks.count)
        for chunk in run.chunks { out += u32(chunk) }
        return out
    }

    /// Chunks one JOB_RUN may name, and outcomes one JOB_DONE may carry.
    public static let maximumChunks = 1 << 20

    public static func decodeRun(_ payload: [UInt8]) -> Run? {
        var reader = ByteReader(payload)
        guard let idBytes = reader.prefixed(UInt8.self), !idBytes.isEmpty, let id = try? ContentID(bytes: Array(idBytes)),
            let function = reader.prefixed(UInt8.self), let parameters = reader.prefixed(UInt16.self),
            let count = reader.count(UInt32.self, max: maximumChunks, elementSize: 4), reader.remaining == 4 * count
        else { return nil }
        var chunks: [Int] = []
        chunks.reserveCapacity(count)
        for _ in 0..<count {
            guard let chunk = reader.read(UInt32.self) else { return nil }
            chunks.append(Int(chunk))  // every UInt32 fits an Int on the 64-bit platforms INOS runs on
        }
        return Run(resource: id, function: String(decoding: function, as: UTF8.self), parameters: String(decoding: parameters, as: UTF8.self), chunks: chunks)
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
        var reader = ByteReader(payload)
        // An outcome is at least chunk (u32) ‖ status (u8) ‖ length (u32).
        guard let count = reader.count(UInt32.self, max: maximumChunks, elementSize: 9) else { return nil }
        var out: [Outcome] = []
        out.reserveCapacity(count)
        for _ in 0..<count {
            guard let chunk = reader.read(UInt32.self), let status = reader.read(UInt8.self), status <= 2,
                let bytes = reader.prefixed(UInt32.self).map(Array.init)
            else { return nil }
            let result: Result<[UInt8], Failure> = status == 0 ? .success(bytes) : .failure(Failure(String(decoding: bytes, as: UTF8.self), retryable: status == 2))
            out.append(Outcome(chunk: Int(chunk), result: result))
        }
        return reader.atEnd ? out : nil
    }
}
