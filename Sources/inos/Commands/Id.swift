// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import Foundation
import Identity
import Primitives

struct Id: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print this node's ID (created on first use in the data directory, mode 0600).",
        discussion: "The node ID is the SHA-256 of the node's Ed25519 public key, in base32 after an 'n'.")

    @Option(name: .long, help: "The node's data directory. Default: $INOS_DATA_DIR or ~/.inos.")
    var dataDir: String?

    @Flag(name: .long, help: "Also print the public key (hex) and the key file.")
    var verbose = false

    func run() throws {
        let directory = dataDir ?? defaultDataDirectory()
        do {
            let identity = try NodeIdentity.loadOrCreate(in: directory)
            print(identity.id)
            if verbose {
                print("public key \(identity.publicKey.map { String(format: "%02x", $0) }.joined())")
                print("key file \(directory)/\(NodeIdentity.fileName)")
            }
        } catch {
            throw error
        }
    }
}
