// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import Foundation
import Host
import Primitives
import Session

/// `inos key`: mesh keys, the pre-shared secrets that admit nodes to a private mesh.
struct Key: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create and inspect mesh keys (the secret that admits nodes to a private mesh).",
        discussion: """
            Give every member the same key file ([mesh] key_file in the manifest, or --mesh-key): only holders \
            complete the session handshake. To rotate, list the new key second everywhere (key_files), then \
            first everywhere, then remove the old one.
            """,
        subcommands: [Generate.self, ID.self])

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a new random mesh key (a comment header and 64 hex digits; file mode 0600).")

        @Option(name: .long, help: "The file to write (mode 0600). Without it the key is printed on standard output.")
        var out: String?

        @Flag(name: .long, help: "Replace an existing file.")
        var force = false

        func run() throws {
            let key = MeshKey.generate()
            let text = MeshKeyFile.encode(key.bytes, id: key.id)
            guard let out else { return print(text, terminator: "") }
            try MeshKeyFile.write(text, to: out, force: force)
            FileHandle.standardError.write(Data("wrote mesh key \(key.id) to \(out)\n".utf8))
        }
    }

    struct ID: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "id", abstract: "Print a mesh key file's key ID (the fingerprint nodes log; never the key).")

        @Argument(help: "The mesh key file.") var file: String

        func run() throws {
            let bytes: [UInt8]
            bytes = try MeshKeyFile.read(file)
            print(MeshKey(bytes: bytes)!.id)
        }
    }
}
