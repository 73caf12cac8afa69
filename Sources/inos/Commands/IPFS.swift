// SPDX-License-Identifier: Apache-2.0
import APIModel
import ArgumentParser
import Content
import DataPath
import Foundation
import Node
import Primitives

/// `inos export ID --car FILE` and `inos import FILE.car`: resources as IPFS has them (docs/data-path.md).
struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a stored resource as a CARv1 IPFS imports (`ipfs dag import`), or print its IPFS CID.",
        discussion: """
            The CAR's root is a UnixFS file over the resource's chunks as raw leaves, balanced with 174 links per \
            node — the layout `ipfs add --cid-version=1 --raw-leaves --chunker=size-1048576` gives the same bytes, \
            so the root CID is the one IPFS computes (for a resource put with the default 1 MiB chunks).
            """)
    @Argument(help: "The resource ID (b…).") var id: String
    @Option(name: .long, help: "The CAR file to write.") var car: String?
    @Flag(name: .long, help: "Only print the IPFS CID (no CAR).") var cid = false
    @OptionGroup var store: StoreOptions

    func validate() throws {
        guard (car != nil) != cid else { throw ValidationError("give --car FILE, or --cid") }
    }

    func run() async throws {
        let resource: ContentID
        do { resource = try ContentID(id) } catch { throw ValidationError(error.description) }
        if let client = try store.runningNode() {
            if cid {
                let answer = try await client.call(.GET, "/v1/resources/\(resource)", as: ResourceReport.self)
                return print(answer.ipfsCid)
            }
            let path = absolutePath(car!)
            let answer = try await client.call(.POST, "/v1/export", ExportRequest(id: resource.description, car: path), as: ExportResult.self)
            FileHandle.standardError.write(Data("wrote \(answer.bytes) bytes to \(car!) (by the running node)\n".utf8))
            return print(answer.ipfsCid)
        }
        let (host, data) = try store.open()
        defer { host.shutdown() }
        if cid { return print(try data.ipfsLayout(of: resource).root) }
        let (root, bytes) = try ResourceFiles.exportCAR(resource, from: data, to: car!)
        FileHandle.standardError.write(Data("wrote \(bytes) bytes to \(car!)\n".utf8))
        print(root)
    }
}

struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Store the UnixFS file of a CARv1 (`ipfs dag export`, `inos export`) as a resource; print its ID.",
        discussion: "Every block is checked against its CID. The file is stored with the archive's chunk size, so its IPFS CID is the archive's root when the archive has the balanced raw-leaves layout.")
    @Argument(help: "The CAR file.") var file: String
    @Option(name: .long, help: "Reed-Solomon data+parity shards per stripe, or 'none'.") var parity = "10+2"
    @OptionGroup var store: StoreOptions

    func run() async throws {
        var erasure: (Int, Int)?
        if parity != "none" {
            let parts = parity.split(separator: "+").compactMap { Int($0) }
            guard parts.count == 2 else { throw ValidationError("--parity must look like 10+2, or be 'none'") }
            erasure = (parts[0], parts[1])
        }
        let result: CARImportResult
        if let client = try store.runningNode() {
            result = try await client.call(.POST, "/v1/import", ImportRequest(path: absolutePath(file), parity: parity == "none" ? nil : parity), as: CARImportResult.self)
        } else {
            let (host, data) = try store.open()
            defer { host.shutdown() }
            let imported = try ResourceFiles.importCAR(file, into: data, pins: try store.pins(), erasure: erasure)
            result = CARImportResult(id: imported.id.description, archiveRoot: imported.archiveRoot.description, storedRoot: imported.storedRoot.description, size: imported.size, blocks: imported.blocks)
        }
        let same = result.archiveRoot == result.storedRoot
        FileHandle.standardError.write(Data(("stored \(result.size) bytes from \(result.blocks) block(s); IPFS root \(result.archiveRoot)"
            + (same ? " (the stored resource lays out to the same root)" : "; stored as \(result.storedRoot) (the archive's layout is not the balanced raw-leaves one)") + "\n").utf8))
        print(result.id)
    }
}
