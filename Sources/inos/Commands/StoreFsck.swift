// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import Foundation
import Host
import InosStoreKit
import Primitives

/// `inos store`: offline tools for a chunk store's folder.
struct StoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store", abstract: "Check and repair a pack store's folder (refused while a node has it open).",
        subcommands: [Fsck.self])

    struct Fsck: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read every pack of a pack store, check every record's CRC and every index entry.",
            discussion: """
                Reports damaged pack bytes, index entries whose record is missing or not whole, and whole records \
                the index does not list. With --repair, rewrites index.log (atomically) from what the packs hold: \
                nothing in the packs is changed or deleted; the store trims torn pack tails at its next start. \
                Exits with status 1 when the store is not clean and --repair was not given, and with status 75 \
                (nothing read or changed) while a node or another inos process has the store open: stop it first.
                """)

        /// The exit status while the store is open elsewhere (sysexits' EX_TEMPFAIL: try again later).
        static let inUseExitCode: Int32 = 75

        @Argument(help: "The pack store's folder (the path in its [plugins.config]).")
        var folder: String

        @Flag(name: .long, help: "Rebuild index.log from the packs.")
        var repair = false

        /// Runs the check; while the store is open elsewhere, prints why and exits with ``inUseExitCode``.
        static func check(_ folder: String, repair: Bool) throws -> PackCheck.Report {
            do throws(InosError) {
                return try PackCheck.run(root: folder, repair: repair)
            } catch {
                guard error.code == StoreFolderLock.inUse else { throw error }
                Inos.report(error)
                throw ExitCode(inUseExitCode)
            }
        }

        func run() throws {
            guard sysExists(folder + "/packs") || sysExists(folder + "/index.log") else {
                throw InosError(.failed, "\(folder) is not a pack store (no packs/ and no index.log)")
            }
            let report = try Self.check(folder, repair: repair)
            print("packs: \(report.packs) (\(report.packBytes) bytes), whole records: \(report.records), damaged bytes: \(report.damagedBytes)")
            print("index log: \(report.logEntries) entries, \(report.damagedLogEntries) damaged")
            print("index entries without a whole record: \(report.brokenEntries.count)")
            for key in report.brokenEntries.prefix(20) { print("  \(key)") }
            print("whole records the index does not list: \(report.unindexedRecords)")
            if report.clean {
                print("clean: \(report.chunks) chunks")
            } else if report.repaired {
                print("repaired: index.log rebuilt with \(report.chunks) chunks")
            } else {
                print("not clean: run with --repair to rebuild index.log (\(report.chunks) chunks)")
                throw ExitCode(1)
            }
        }
    }
}
