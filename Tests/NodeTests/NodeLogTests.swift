// SPDX-License-Identifier: Apache-2.0
import Foundation
import Logging
import Node
import Synchronization
import Testing

/// The node's log: the shared level, both renderings, the bounded tail and its streams.
@Suite("NodeLog")
struct NodeLogTests {
    final class Lines: Sendable {
        let lines = Mutex<[String]>([])
        func append(_ line: String) { lines.withLock { $0.append(line) } }
        var all: [String] { lines.withLock { $0 } }
    }

    @Test("setLevel reaches loggers made before it, at once; a logger's own level wins")
    func sharedLevel() {
        let lines = Lines()
        let log = NodeLog.forTesting(level: .info, output: lines.append)
        let early = log.logger("peers")
        #expect(early.label == "inos.peers")
        early.debug("hidden")
        #expect(lines.all.isEmpty)
        log.setLevel(.debug)
        #expect(log.level == .debug)
        early.debug("shown")
        #expect(lines.all.count == 1)
        log.setLevel(.error)
        early.warning("hidden again")
        #expect(lines.all.count == 1)
        var pinned = log.logger("host")
        pinned.logLevel = .trace
        pinned.trace("its own level")
        #expect(lines.all.count == 2)
    }

    @Test("the text format is StreamLogHandler's layout; metadata sorted")
    func textFormat() throws {
        let lines = Lines()
        let log = NodeLog.forTesting(output: lines.append)
        var logger = log.logger("replication")
        logger[metadataKey: "b"] = "2"
        logger.info("repair round", metadata: ["a": "1"])
        let line = try #require(lines.all.first)
        #expect(line.hasSuffix(" info inos.replication: a=1 b=2 [NodeTests] repair round\n"), "\(line)")
        #expect(line.first?.isNumber == true)
    }

    @Test("the JSON format is one escaped object per line with every field")
    func jsonFormat() throws {
        let lines = Lines()
        let log = NodeLog.forTesting(output: lines.append)
        log.setFormatForTesting(.json)
        let tricky = "quote \" backslash \\ newline \n tab \t unicode ☃ control \u{01}"
        log.logger("compute").warning("\(tricky)", metadata: ["key \"x\"": "\(tricky)", "nested": ["a", "b"]])
        let line = try #require(lines.all.first)
        #expect(line.hasSuffix("\n") && line.dropLast().contains("\n") == false, "one line: \(line)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["message"] as? String == tricky)
        #expect(object["level"] as? String == "warning")
        #expect(object["label"] as? String == "inos.compute")
        #expect(object["source"] as? String == "NodeTests")
        let metadata = try #require(object["metadata"] as? [String: String])
        #expect(metadata["key \"x\""] == tricky)
        #expect(metadata["nested"] == #"["a", "b"]"#)
        let time = try #require(object["time"] as? String)
        #expect(time.count == "2026-12-01T18:53:07.123Z".count && time.hasSuffix("Z") && time.contains("."), "\(time)")
        // The record decodes back to what was logged.
        let record = try JSONDecoder().decode(LogRecord.self, from: Data(line.utf8))
        #expect(record.message == tricky && record.level == .warning && record.metadata["key \"x\""] == tricky)
    }

    @Test("the tail keeps only the newest records")
    func boundedTail() async {
        let log = NodeLog.forTesting(capacity: 10, output: { _ in })
        let logger = log.logger("node")
        for i in 0..<25 { logger.info("record \(i)") }
        #expect(log.tailCountForTesting == 10)
        var replayed: [String] = []
        for await record in log.tail(replay: 100) {
            replayed.append(record.message)
            if replayed.count == 10 { break }
        }
        #expect(replayed == (15..<25).map { "record \($0)" })
    }

    @Test("tail replays the newest records, then streams new ones")
    func tailStreams() async {
        let log = NodeLog.forTesting(output: { _ in })
        let logger = log.logger("node")
        for i in 0..<5 { logger.info("old \(i)") }
        let stream = log.tail(replay: 2)
        #expect(log.tailSubscribers == 1)
        logger.info("new")
        var seen: [String] = []
        for await record in stream {
            seen.append(record.message)
            if seen.count == 3 { break }
        }
        #expect(seen == ["old 3", "old 4", "new"])
    }

    @Test("a consumer that goes away (its task cancelled, as when an API client disconnects) unsubscribes")
    func tailUnsubscribes() async {
        let log = NodeLog.forTesting(output: { _ in })
        let reader = Task {
            for await _ in log.tail(replay: 0) {}
        }
        for _ in 0..<200 where log.tailSubscribers == 0 { try? await Task.sleep(for: .milliseconds(5)) }
        #expect(log.tailSubscribers == 1)
        reader.cancel()
        await reader.value
        #expect(log.tailSubscribers == 0)
    }

    @Test("a consumer that never reads does not block logging: its buffer keeps only the newest")
    func slowConsumer() async {
        let log = NodeLog.forTesting(capacity: 5, output: { _ in })
        let stream = log.tail(replay: 0)
        let logger = log.logger("node")
        let started = ContinuousClock.now
        for i in 0..<(NodeLog.subscriberBuffer * 3) { logger.info("r\(i)") }
        #expect(ContinuousClock.now - started < .seconds(20))
        var first: String?
        for await record in stream {
            first = record.message
            break
        }
        #expect(first == "r\(NodeLog.subscriberBuffer * 2)", "the oldest unread were dropped")
    }

    @Test("Logger.subsystem relabels a NodeLog logger and leaves any other logger as it is")
    func subsystems() {
        let lines = Lines()
        let log = NodeLog.forTesting(output: lines.append)
        var node = log.logger("node")
        node[metadataKey: "node"] = "n1"
        let peers = node.subsystem("peers")
        #expect(peers.label == "inos.peers")
        peers.info("hello")
        #expect(lines.all.first?.contains("inos.peers: node=n1") == true, "\(lines.all)")
        let plain = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        #expect(plain.subsystem("peers").label == "test")
    }
}
