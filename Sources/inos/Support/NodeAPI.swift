// SPDX-License-Identifier: Apache-2.0
import APIClient
import APIModel
import ArgumentParser
import Foundation
import Primitives

/// How a command finds the running node it talks to (kubo-style): the API socket in the data directory, or a
/// TCP address with the node's token.
struct NodeAPIOptions: ParsableArguments {
    @Option(name: .long, help: "The node's data directory (its API socket is api.sock there). Default: $INOS_DATA_DIR or ~/.inos.")
    var dataDir: String?

    @Option(name: .long, help: "Talk to the node's TCP API at HOST:PORT instead (needs its token: --token-file, $INOS_API_TOKEN, or api.token in --data-dir).")
    var api: String?

    @Option(name: .long, help: "The file holding the TCP API's bearer token.")
    var tokenFile: String?

    var dataDirectory: String { dataDir ?? defaultDataDirectory() }

    /// The running node's API; throws (clearly) when none runs there.
    func client() throws -> APIClient {
        if let api { return try Self.tcpClient(api, tokenFile: tokenFile, dataDirectory: dataDirectory) }
        guard let client = try APIClient.runningNode(in: dataDirectory) else {
            throw InosError(.unavailable, "no node runs on \(dataDirectory) (no \(API.socketName) there); start one with `inos node --data-dir \(dataDirectory)`, or pass --data-dir / --api")
        }
        return client
    }

    static func tcpClient(_ address: String, tokenFile: String?, dataDirectory: String) throws -> APIClient {
        let trimmed = address.hasPrefix("http://") ? String(address.dropFirst(7)) : address
        // The same HOST:PORT parsing as inos node's listener options; a client needs a real port.
        let (host, port) = try ControlOptions.hostPort(trimmed, option: "--api")
        guard port > 0 else { throw ValidationError("--api \(address) must be HOST:PORT with a port of 1…65535") }
        let token: String
        if let environment = ProcessInfo.processInfo.environment["INOS_API_TOKEN"], tokenFile == nil, !environment.isEmpty {
            token = environment
        } else {
            let path = tokenFile ?? (dataDirectory as NSString).appendingPathComponent(API.tokenName)
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw InosError(.notFound, "no API token: cannot read \(path) (give --token-file or $INOS_API_TOKEN)")
            }
            token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return APIClient(.tcp(host: host, port: port, token: token))
    }
}

/// The running node on `dataDirectory`, if one runs there (nil: the command works on the store itself, as
/// before). A socket that is not safe to talk to is an error, never ignored.
func runningNode(dataDirectory: String?) throws -> APIClient? {
    try APIClient.runningNode(in: dataDirectory ?? defaultDataDirectory())
}

/// Prints `value` as the API's JSON, indented (the commands' `--json`).
func printJSON(_ value: some Encodable) throws {
    let encoder = API.encoder
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    FileHandle.standardOutput.write(try encoder.encode(value) + Data("\n".utf8))
}

func formatBytes(_ bytes: UInt64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes), unit = 0
    while value >= 1024 && unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
}

func formatSeconds(_ seconds: Double) -> String {
    if seconds < 1 { return String(format: "%.0f ms", seconds * 1000) }
    if seconds < 120 { return String(format: "%.0f s", seconds) }
    if seconds < 7200 { return String(format: "%.0f min", seconds / 60) }
    if seconds < 172_800 { return String(format: "%.1f h", seconds / 3600) }
    return String(format: "%.1f d", seconds / 86_400)
}
