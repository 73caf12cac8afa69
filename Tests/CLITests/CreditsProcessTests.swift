// SPDX-License-Identifier: Apache-2.0
import APIModel
import Foundation
import HostTestSupport
import Testing

/// The credit economy across real node processes (issue 19, docs/credits.md): balances gate puts where the
/// manifests name an issuer, and a node's ledger is in its records, so it survives kill -9.
extension MeshProcessTests {
@Suite("Credits across node processes", .serialized)
struct CreditsProcessTests {
    typealias NodeProcess = NodeProcessTests.NodeProcess

    /// The ledger figures of a node's last status line: entries and credits earned.
    static func ledger(_ node: NodeProcess) -> (entries: Int, earned: Int) {
        let line = node.output.text.split(separator: "\n").last { $0.contains("; ledger ") }.map(String.init) ?? ""
        let entries = line.components(separatedBy: "; ledger ").last.flatMap { Int($0.prefix { $0.isNumber }) } ?? -1
        let earned = line.components(separatedBy: ", earned ").last.flatMap { Int($0.prefix { $0.isNumber }) } ?? -1
        return (entries, earned)
    }

    /// Waits (a bound on wall time, not a speed check) until every node's ledger holds at least `entries`.
    static func waitForLedger(_ nodes: [NodeProcess], entries: Int, seconds: Double = 90) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if nodes.allSatisfy({ ledger($0).entries >= entries }) { return true }
            usleep(250_000)
        }
        return false
    }

    @Test("with an issuer named, a put from an owner with no credits is refused; after the issuer's grant it is acknowledged; a holder killed with SIGKILL restarts with its ledger")
    func grantGatesPutsAndLedgerSurvivesKill() throws {
        let root = PluginFixtures.directory.appendingPathComponent("credits-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let issuer = try #require(try CLITests.run(["id", "--data-dir", root + "/issuer"]).output.split(separator: "\n").last.map(String.init))
        let owner = try #require(try CLITests.run(["id", "--data-dir", root + "/client"]).output.split(separator: "\n").last.map(String.init))
        let common = ["--listen", "tcp://127.0.0.1:0", "--status-interval", "0.5", "--provide-interval", "1", "--repair-interval", "1", "--credit-issuer", issuer]
        let count = 6
        var nodes = [try NodeProcess(manifest: nil, arguments: ["--data-dir", root + "/n0"] + common)]
        defer { for node in nodes { _ = node.stop(SIGKILL) } }
        let seed = try nodes[0].address()
        for i in 1..<count {
            nodes.append(try NodeProcess(manifest: nil, arguments: ["--data-dir", root + "/n\(i)", "--bootstrap", seed] + common))
        }
        for node in nodes {
            #expect(node.output.waitFor("members \(count - 1) alive, 0 suspect, 0 dead, status from \(count - 1),", seconds: 60), "\(node.output.text)")
        }
        let input = root + "/input.bin"
        try ReplicationProcessTests.randomFile(input, bytes: 3_000_000, seed: 19)

        // No credits yet: every holder refuses the new resource, and the put says why.
        let refused = try CLITests.run(["put", input, "--mesh", seed, "--budget", "50", "--data-dir", root + "/client"])
        #expect(refused.status != 0, "\(refused.output)")
        #expect(refused.output.contains("has 0 credits in this node's ledger"), "\(refused.output)")
        #expect(refused.output.contains("NOT acknowledged"), "\(refused.output)")

        // A put run on a member's data directory goes through that node, which checks its own balance first.
        let throughNode = try CLITests.run(["put", input, "--mesh", seed, "--budget", "50", "--data-dir", root + "/n0"])
        #expect(throughNode.status != 0 && throughNode.output.contains("this node's balance is 0 credits"), "\(throughNode.output)")

        // A grant from someone who is not an issuer mints nothing: a key never paid cannot even add entries.
        let fake = try CLITests.run(["credits", "grant", owner, "--amount", "1000000", "--mesh", seed, "--data-dir", root + "/impostor"])
        #expect(fake.status != 0 && fake.output.contains("did not keep the grant"), "\(fake.output)")
        #expect(nodes.allSatisfy { Self.ledger($0).entries == 0 }, "\(nodes.map { Self.ledger($0) })")
        let stillRefused = try CLITests.run(["put", input, "--mesh", seed, "--budget", "50", "--data-dir", root + "/client"])
        #expect(stillRefused.status != 0 && stillRefused.output.contains("has 0 credits"), "\(stillRefused.output)")

        // The issuer's grant reaches every node by anti-entropy; then the put is acknowledged and the holders paid.
        let grant = try CLITests.run(["credits", "grant", owner, "--amount", "1000", "--mesh", seed, "--data-dir", root + "/issuer"])
        #expect(grant.status == 0 && grant.output.contains("granted 1000 credits to \(owner)"), "\(grant.output)")
        #expect(Self.waitForLedger(nodes, entries: 1), "\(nodes.map { Self.ledger($0) })")
        let put = try CLITests.run(["put", input, "--mesh", seed, "--budget", "50", "--data-dir", root + "/client"])
        #expect(put.status == 0 && put.output.contains("acknowledged after"), "\(put.output)")
        let paid = put.output.split(separator: "\n").filter { $0.hasPrefix("  tcp://") && !$0.contains(" 0 bytes") }.count
        #expect(paid >= 5, "\(put.output)")
        #expect(Self.waitForLedger(nodes, entries: 1 + paid), "\(nodes.map { Self.ledger($0) })")

        // A put through a member's node makes that node the owner that pays the next periods: its status lists it.
        let member = try #require(try CLITests.run(["id", "--data-dir", root + "/n0"]).output.split(separator: "\n").last.map(String.init))
        let memberGrant = try CLITests.run(["credits", "grant", member, "--amount", "1000", "--mesh", seed, "--data-dir", root + "/issuer"])
        #expect(memberGrant.status == 0, "\(memberGrant.output)")
        #expect(Self.waitForLedger(nodes, entries: 2 + paid), "\(nodes.map { Self.ledger($0) })")
        let second = root + "/second.bin"
        try ReplicationProcessTests.randomFile(second, bytes: 1_500_000, seed: 20)
        let owned = try CLITests.run(["put", second, "--mesh", seed, "--budget", "50", "--data-dir", root + "/n0"])
        #expect(owned.status == 0 && owned.output.contains("acknowledged after"), "\(owned.output)")
        let ownedPaid = owned.output.split(separator: "\n").filter { $0.hasPrefix("  tcp://") && !$0.contains(" 0 bytes") }.count
        #expect(Self.waitForLedger(nodes, entries: 2 + paid + ownedPaid), "\(nodes.map { Self.ledger($0) })")
        let report = try OperatorProcessTests.json(StatusReport.self, ["status", "--data-dir", root + "/n0"])
        let billing = try #require(report.replication?.billing, "no billing in the status of a node with credits enforced")
        #expect(billing.ownedResources == 1 && billing.owned.count == 1 && billing.periodSeconds == 86_400, "\(billing)")
        let text = try CLITests.run(["status", "--data-dir", root + "/n0"])
        #expect(text.output.contains("owned     1 resource(s) billed") && text.output.contains("billing   period"), "\(text.output)")

        // A paid holder dies at once (SIGKILL: no shutdown path runs) and comes back alone — no peer to refill its
        // ledger from — with every entry and what it earned.
        let index = try #require((1..<count).first { Self.ledger(nodes[$0]).earned > 0 }, "\(nodes.map { Self.ledger($0) })")
        let before = Self.ledger(nodes[index])
        #expect(nodes[index].stop(SIGKILL) != 0)
        let alone = try NodeProcess(manifest: nil, arguments: [
            "--data-dir", root + "/n\(index)", "--listen", "tcp://127.0.0.1:0", "--status-interval", "0.5", "--credit-issuer", issuer,
        ])
        nodes[index] = alone
        #expect(alone.output.waitFor("; ledger ", seconds: 60), "\(alone.output.text)")
        #expect(Self.ledger(alone).entries == before.entries && Self.ledger(alone).earned == before.earned, "before: \(before); after: \(alone.output.text)")
    }
}
}
