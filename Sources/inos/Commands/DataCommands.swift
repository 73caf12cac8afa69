// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import Content
import DataPath
import Foundation
import Host
import Logging
import Node
import APIModel
import Primitives

/// Options shared by the commands that open the local store.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: "The manifest (TOML). Default: embedded, with the store in --data-dir.")
    var manifest: String?

    @Option(name: .long, help: "Where the embedded manifest keeps the chunk store. Default: $INOS_DATA_DIR or ~/.inos.")
    var dataDir: String?

    /// The pins of this data directory.
    func pins() throws -> PinSet {
        let folder = ((dataDir ?? defaultDataDirectory()) as NSString).appendingPathComponent("pins")
        return try PinSet(folder: folder)
    }

    /// Starts a host with the manifest's plugins and opens the data path on it.
    func open() throws -> (HostRuntime, ContentStore) {
        let manifest = try loadManifest()
        let host = try HostRuntime(manifest: manifest, logger: Logger(label: "inos", factory: { _ in SwiftLogNoOpLogHandler() }))
        do { try host.start() } catch { throw InosError(.failed, "cannot start", cause: error) }
        return (host, try ContentStore(host: host))
    }

    /// A client node (``MeshNode/client(_:)``) on the manifest's plugins, admitted by `meshKey`; `close()` it.
    func clientNode(meshKey: MeshKeyOptions, label: String) throws -> MeshNode {
        let manifest = try loadManifest()
        var configuration = MeshNode.Configuration(
            role: .client, manifest: manifest, dataDirectory: dataDir ?? defaultDataDirectory(), logger: Logger(label: label) { _ in SwiftLogNoOpLogHandler() })
        configuration.admission = try meshKey.admission(manifest.mesh)
        return try MeshNode.client(configuration)
    }

    /// The manifest, with the data directory made first when the store lives there.
    private func loadManifest() throws -> Manifest {
        if let dataDir { try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true) }
        else if manifest == nil {
            try FileManager.default.createDirectory(atPath: defaultDataDirectory(), withIntermediateDirectories: true)
        }
        return try inos.loadManifest(discoveredManifest(self.manifest, dataDirectory: dataDir), dataDirectory: dataDir)
    }
}

struct Put: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Store a file as content-addressed chunks and print its ID.",
        discussion: "Chunks are LZ4-compressed when that helps and protected by Reed-Solomon parity (10+2 by default).")

    @Argument(help: "The file to store.") var file: String
    @OptionGroup var store: StoreOptions
    @OptionGroup var meshKey: MeshKeyOptions
    @OptionGroup var progress: ProgressOptions
    @Option(name: .long, help: "Reed-Solomon data+parity shards per stripe, or 'none'.") var parity = "10+2"
    @Option(name: .long, help: "Chunk size in KiB.") var chunkKib = 1024
    @Option(name: .long, help: "Put into the mesh through the member at this address: the allocator places the pieces, the put returns once they are durable elsewhere (parity is then the allocator's choice).")
    var mesh: String?
    @Option(name: .long, help: "With --mesh: credits per hour offered (free < 100 ≤ standard < 1000 ≤ premium < 10000 ≤ enterprise); it caps the replicas.")
    var budget: UInt64 = 500

    func run() async throws {
        if let mesh { return try await putIntoMesh(mesh) }
        if let client = try store.runningNode() { return try await putThroughNode(client) }
        var options = ContentStore.Options()
        options.chunkSize = chunkKib << 10
        if parity == "none" {
            options.erasure = nil
        } else {
            let parts = parity.split(separator: "+").compactMap { Int($0) }
            guard parts.count == 2 else { throw ValidationError("--parity must look like 10+2, or be 'none'") }
            options.erasure = (parts[0], parts[1])
        }
        let (host, data) = try store.open()
        defer { host.shutdown() }
        let bar = progress.reporter("put")
        defer { bar.finish(failed: true) }  // only when the put did not finish
        do {
            let report = try data.putPinned(file: file, pins: try store.pins(), options: options, progress: bar.update)
            bar.finish()
            if let manifest = report.manifest {
                let stripes = manifest.erasure.map { " in \($0.stripeCount) stripes of \($0.dataShards)+\($0.parityShards)" } ?? ""
                FileHandle.standardError.write(Data("stored \(manifest.size) bytes as \(manifest.chunks.count) chunks\(stripes); \(report.bytesStored) bytes on disk\n".utf8))
            }
            print(report.id)
        }
    }
}

struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a stored resource to a file, rebuilding lost chunks from parity.")

    @Argument(help: "The resource ID (b…).") var id: String
    @Option(name: .shortAndLong, help: "The file to write (optional with --mesh: then the resource is only fetched, stored and pinned).") var output: String?
    @Option(name: .long, help: "Read from the mesh through the member at this address (several holders at once).")
    var mesh: String?
    @OptionGroup var store: StoreOptions
    @OptionGroup var meshKey: MeshKeyOptions
    @OptionGroup var progress: ProgressOptions

    func run() async throws {
        let cid: ContentID
        do { cid = try ContentID(id) } catch { throw ValidationError(error.description) }
        if let mesh { return try await getFromMesh(cid, entry: mesh) }
        guard let output else { throw ValidationError("-o FILE: where to write the resource") }
        if let client = try store.runningNode() { return try await getThroughNode(client, output: output) }
        let (host, data) = try store.open()
        defer { host.shutdown() }
        let bar = progress.reporter("get")
        defer { bar.finish(failed: true) }  // only when the get did not finish
        do {
            let report = try data.get(cid, to: output, progress: bar.update)
            bar.finish()
            if !report.repaired.isEmpty {
                FileHandle.standardError.write(Data("rebuilt \(report.repaired.count) missing or corrupt chunk(s) from parity and stored them again\n".utf8))
            }
            FileHandle.standardError.write(Data("wrote \(report.size) bytes to \(output)\n".utf8))
        }
    }
}

struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check every chunk and parity shard of a resource against its ID.",
        discussion: "Exits 0 when the resource is whole (possibly after --repair), 1 when it is damaged but repairable, 2 when it is lost.")

    @Argument(help: "The resource ID (b…).") var id: String?
    @Flag(name: .long, help: "Rebuild repairable chunks from parity and store them again.") var repair = false
    @Flag(name: .long, help: "Check every object in the store instead of one resource.") var all = false
    @OptionGroup var store: StoreOptions

    func validate() throws {
        guard (id == nil) == all else { throw ValidationError("give a resource ID, or --all") }
    }

    func run() async throws {
        guard let id else { return try scrubAll() }
        let cid: ContentID
        do { cid = try ContentID(id) } catch { throw ValidationError(error.description) }
        let report: ContentStore.VerifyReport
        if let client = try store.runningNode() {
            let result = try await client.call(.POST, "/v1/verify", VerifyRequest(id: id, repair: repair), as: VerifyResult.self)
            func ids(_ texts: [String]) -> [ContentID] { texts.compactMap { try? ContentID($0) } }
            report = ContentStore.VerifyReport(
                chunks: result.chunks, parityShards: result.parityShards, damaged: ids(result.damaged), repairable: ids(result.repairable), lost: ids(result.lost),
                repaired: ids(result.repaired))
        } else {
            let (host, data) = try store.open()
            defer { host.shutdown() }
            report = try data.verify(cid, repair: repair)
        }
        print("\(cid): \(report.chunks) chunks, \(report.parityShards) parity shards")
        if report.isHealthy {
            print("healthy: every chunk and parity shard matches its ID")
            return
        }
        print("damaged: \(report.damaged.count) chunk(s) or shard(s) missing or corrupt")
        for id in report.damaged.prefix(20) { print("  \(id)") }
        if !report.lost.isEmpty {
            print("LOST: \(report.lost.count) data chunk(s) cannot be rebuilt; the resource cannot be read whole")
            throw ExitCode(2)
        }
        if repair {
            print("repaired: \(report.repaired.count) chunk(s) rebuilt from parity and stored again")
            return
        }
        print("repairable: run with --repair (or get) to rebuild \(report.repairable.count) chunk(s) from parity")
        throw ExitCode(1)
    }

    private func scrubAll() throws {
        if try store.runningNode() != nil {
            throw InosError(.unavailable, "a node runs on this data directory: stop it for verify --all (it scrubs the store it holds open), or verify one resource by ID")
        }
        let (host, data) = try store.open()
        defer { host.shutdown() }
        let report: ContentStore.ScrubReport
        report = try data.scrub()
        print("checked \(report.checked) stored objects: \(report.damaged.count) damaged")
        for id in report.damaged.prefix(20) { print("  removed damaged \(id)") }
        if !report.damaged.isEmpty { throw ExitCode(1) }
    }
}

struct Pin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Keep a resource through garbage collection (put pins what it stores).")
    @Argument(help: "The resource ID.") var id: String
    @OptionGroup var store: StoreOptions

    func run() async throws {
        let cid: ContentID
        do { cid = try ContentID(id) } catch { throw ValidationError(error.description) }
        if let client = try store.runningNode() {
            // The node also announces it to the DHT at once.
            return print(try await client.call(.POST, "/v1/pins", PinRequest(id: id), as: Acknowledged.self).message)
        }
        try store.pins().pin(cid)
        print("pinned \(cid)")
    }
}

struct Unpin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Let garbage collection remove a resource.")
    @Argument(help: "The resource ID.") var id: String
    @OptionGroup var store: StoreOptions

    func run() async throws {
        let cid: ContentID
        do { cid = try ContentID(id) } catch { throw ValidationError(error.description) }
        if let client = try store.runningNode() {
            return print(try await client.call(.DELETE, "/v1/pins/\(cid)", as: Acknowledged.self).message)
        }
        guard try store.pins().unpin(cid) else { throw InosError(.notFound, "\(cid) was not pinned") }
        print("unpinned \(cid); run inos gc to free its space")
    }
}

struct GC: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc", abstract: "Remove stored chunks that no pinned resource needs.")
    @OptionGroup var store: StoreOptions

    func run() throws {
        if try store.runningNode() != nil {
            throw InosError(.unavailable, "a node runs on this data directory and holds its store: stop it (inos shutdown) before inos gc")
        }
        let (host, data) = try store.open()
        defer { host.shutdown() }
        do {
            let report = try data.collectGarbage(pins: try store.pins())
            print("\(report.pinned) pinned resources; kept \(report.kept) objects, removed \(report.removed), freed \(report.bytesFreed) bytes")
        }
    }
}
