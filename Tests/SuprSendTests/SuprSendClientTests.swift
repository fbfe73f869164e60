import Foundation
import Logging
import MetricsTestKit
import ServiceLifecycle
import Synchronization
import Testing

import SuprSend

private func makeClient(_ hub: LocalHub, _ adjust: (inout SuprSendClient.Configuration) -> Void = { _ in })
    throws -> SuprSendClient {
    var configuration = SuprSendClient.Configuration(baseURL: hub.baseURL)
    configuration.maxRetries = 1
    adjust(&configuration)
    return try SuprSendClient(workspaceKey: LocalHub.key, workspaceSecret: LocalHub.secret, configuration: configuration)
}

/// Collects delivery reports from the worker's thread.
private final class Deliveries: Sendable {
    private let reports = Mutex<[Delivery]>([])
    func add(_ delivery: Delivery) { reports.withLock { $0.append(delivery) } }
    var all: [Delivery] { reports.withLock { $0 } }
}

@Suite("SuprSend (Swift product) against the local hub")
struct SuprSendClientTests {
    @Test func trackSendsEveryJSONKindOfProperty() async throws {
        try await withLocalHub { hub in
            let client = try makeClient(hub)
            let event = Event(distinctID: "user-1", name: "order_placed",
                              properties: ["n": 1, "f": 0.5, "s": "x\"y\n", "b": true, "z": nil, "a": [1, 2],
                                           "o": ["k": "v"]],
                              idempotencyKey: "order-1", tenantID: "tenant_1")
            let response = try await client.track(event)
            #expect(response.statusCode == 202)
            #expect(response.messageID.hasPrefix("msg_"))
            let events = try await hub.events()
            try #require(events.count == 1)
            let received = events[0]
            #expect(received["distinct_id"] as? String == "user-1")
            #expect(received["event"] as? String == "order_placed")
            #expect(received["$idempotency_key"] as? String == "order-1")
            #expect(received["tenant_id"] as? String == "tenant_1")
            let properties = try #require(received["properties"] as? [String: Any])
            #expect(properties["n"] as? Int == 1)
            #expect(properties["f"] as? Double == 0.5)
            #expect(properties["s"] as? String == "x\"y\n")
            #expect(properties["b"] as? Bool == true)
            #expect(properties["z"] is NSNull)
            #expect(properties["a"] as? [Int] == [1, 2])
            #expect(properties["o"] as? [String: String] == ["k": "v"])
            try await client.shutdown(timeout: .seconds(2))
        }
    }

    /// Strings are checked for escapes eight bytes at a time: every byte that needs one, at
    /// every place in a word and in the tail, reads back the same at the hub; so do non-ASCII
    /// text, keys that need escapes, and properties too large for the writer's stack buffer.
    @Test func stringsReadBackTheSameAtTheHub() async throws {
        try await withLocalHub { hub in
            let client = try makeClient(hub)
            var strings: [String: EventValue] = [:]
            var expected: [String: String] = [:]
            let needingEscape: [UInt8] = Array(0..<0x20) + [UInt8(ascii: "\""), UInt8(ascii: "\\")]
            for (number, byte) in needingEscape.enumerated() {
                // The byte at a place that moves through two words and the tail (19 bytes).
                let place = number % 19
                let text = String(decoding: Array(repeating: UInt8(ascii: "a"), count: place) + [byte]
                    + Array(repeating: UInt8(ascii: "b"), count: 18 - place), as: UTF8.self)
                strings["s\(number)"] = .string(text)
                expected["s\(number)"] = text
            }
            // Every length through three words, plain and with an escape in the last byte (the
            // short, two-word and long paths, and where the last word overlaps).
            for length in 1...24 {
                let plainText = String((0..<length).map { Character(UnicodeScalar(UInt8(ascii: "A") + UInt8($0))) })
                strings["len\(length)"] = .string(plainText)
                expected["len\(length)"] = plainText
                let escapedText = String(plainText.dropLast()) + "\""
                strings["esc\(length)"] = .string(escapedText)
                expected["esc\(length)"] = escapedText
            }
            let plain = ["", "x", "Zoë 😀 — ünïcödé", String(repeating: "0123456789", count: 300), "~\u{7F}/"]
            for (number, text) in plain.enumerated() {
                strings["p\(number)"] = .string(text)
                expected["p\(number)"] = text
            }
            strings["key \"with\" \\escapes\\\n"] = "k"
            expected["key \"with\" \\escapes\\\n"] = "k"
            let response = try await client.track(Event(distinctID: "u", name: "e1", properties: strings))
            #expect(response.statusCode == 202)
            let events = try await hub.events()
            try #require(events.count == 1)
            var received = try #require(events[0]["properties"] as? [String: String])
            #expect(received.removeValue(forKey: "$ss_sdk_version") != nil)  // the library's own
            #expect(received == expected)

            // Reserved prefixes are refused at the top level only.
            for key in ["$x", "SS_y", "ss_"] {
                await #expect { try await client.track(Event(distinctID: "u", name: "e1", properties: [key: 1, "b": 2])) }
                    throws: { ($0 as? SuprSendError)?.code == .validation && "\($0)".contains(key) }
            }
            #expect(try await client.track(Event(distinctID: "u", name: "e1", properties: ["o": ["$x": 1, "ss_y": 2]]))
                .statusCode == 202)
            try await client.shutdown(timeout: .seconds(2))
        }
    }

    /// Properties are written once from the typed values and not scanned again by the core
    /// (debug builds check that they would pass the scan): the core's nesting limit still holds.
    @Test func propertiesNestUpToTheCoresLimit() async throws {
        try await withLocalHub { hub in
            let client = try makeClient(hub)
            var deep: EventValue = ["k": 1, "a": "x"]
            for level in 0..<62 { deep = level % 2 == 0 ? [deep, nil] : ["n": deep, "b": false] }
            // The properties object is level 1, `deep` holds levels 2 to 64: the most allowed.
            let response = try await client.track(Event(distinctID: "u", name: "e1", properties: ["d": deep, "e": 2]))
            #expect(response.statusCode == 202)
            await #expect { try await client.track(Event(distinctID: "u", name: "e1", properties: ["d": [deep]])) }
                throws: { ($0 as? SuprSendError)?.code == .argument && ($0 as? SuprSendError)?.message.contains("deeper") == true }
            #expect(try await hub.stats()["accepted"] as? Int == 1)
            try await client.shutdown(timeout: .seconds(2))
        }
    }

    @Test func rulesAndRefusalsThrowSuprSendError() async throws {
        try await withLocalHub { hub in
            let client = try makeClient(hub)
            // Broken rules: nothing is sent.
            await #expect { try await client.track(Event(distinctID: " ", name: "order_placed")) } throws: {
                ($0 as? SuprSendError)?.code == .validation
            }
            await #expect { try await client.track(Event(distinctID: "u", name: "$reserved")) } throws: {
                ($0 as? SuprSendError)?.code == .validation
            }
            await #expect { try await client.track(Event(distinctID: "u", name: "e1", properties: ["x": .double(.nan)])) }
                throws: { ($0 as? SuprSendError)?.code == .argument }
            var badURL = Event(distinctID: "u", name: "e1")
            badURL.addAttachment(url: "https://")
            await #expect { try await client.track(badURL) } throws: { ($0 as? SuprSendError)?.code == .argument }
            #expect(try await hub.stats()["requests"] as? Int == 0)
            // Refused by the hub: .http with its status.
            try await hub.faults(["script": [["refuse_records": [0]]]])
            do throws(SuprSendError) {
                _ = try await client.track(Event(distinctID: "u", name: "e1"))
                Issue.record("a refused event did not throw")
            } catch {
                #expect(error.code == .http)
                #expect(error.httpStatus == 400)
                #expect(error.message.contains("injected fault"))
            }
            // A bad option is reported when the client is made.
            #expect { try makeClient(hub) { $0.maxRetries = 99 } } throws: {
                ($0 as? SuprSendError)?.code == .argument && "\($0)".contains("max_retries")
            }
            try await client.shutdown(timeout: .seconds(2))
        }
    }

    @Test func bulkReportsEveryEventsOutcome() async throws {
        try await withLocalHub { hub in
            let client = try makeClient(hub)
            var events = (0..<250).map { Event(distinctID: "user-\($0)", name: "bulk_event", properties: ["i": .int(Int64($0))]) }
            events[7].distinctID = ""  // breaks a rule: a failed record, never sent
            // The first request (events 0...100 but 7) has its record 3 refused.
            try await hub.faults(["script": [["refuse_records": [3]]]])
            let response = try await client.track(bulk: events)
            #expect(response.status == .partial)
            #expect(response.total == 250)
            #expect(response.successCount == 248)
            #expect(response.failureCount == 2)
            #expect(response.failedRecords.map(\.index) == [3, 7])
            #expect(response.failedRecords.map(\.code) == [400, 500])
            #expect(try await hub.events().count == 248)

            let empty = try await client.track(bulk: [])
            #expect(empty.status == .success && empty.total == 0)
            try await client.shutdown(timeout: .seconds(2))
            await #expect { try await client.track(bulk: events) } throws: { ($0 as? SuprSendError)?.code == .closed }
        }
    }

    @Test func attachmentsFromURLsAndFiles() async throws {
        try await withLocalHub { hub in
            let client = try makeClient(hub)
            let path = NSTemporaryDirectory() + "suprsend-attachment-\(UUID().uuidString).txt"
            try Data("hello attachment".utf8).write(to: URL(fileURLWithPath: path))
            defer { try? FileManager.default.removeItem(atPath: path) }

            var event = Event(distinctID: "u", name: "with_files")
            event.addAttachment(url: "https://example.com/invoice.pdf")
            try event.addAttachment(file: path, fileName: "note.txt")
            #expect(throws: SuprSendError.self) {
                try event.addAttachment(file: path + ".missing", fileName: nil)
            }
            do throws(SuprSendError) {
                try event.addAttachment(file: "/nonexistent/file.pdf", fileName: nil)
            } catch {
                #expect(error.code == .attachment)
            }
            _ = try await client.track(event)
            let received = try #require(try await hub.events().first)
            let attachments = try #require((received["properties"] as? [String: Any])?["$attachments"] as? [[String: Any]])
            #expect(attachments.count == 2)
            #expect(attachments[0]["url"] as? String == "https://example.com/invoice.pdf")
            #expect(attachments[1]["filename"] as? String == "note.txt")
            #expect(attachments[1]["data"] as? String == Data("hello attachment".utf8).base64EncodedString())
            try await client.shutdown(timeout: .seconds(2))
        }
    }

    @Test func eightTasksOfTwentyFiveCalls() async throws {
        try await withLocalHub { hub in
            let client = try makeClient(hub)
            try await withThrowingTaskGroup(of: Int.self) { group in
                for task in 0..<8 {
                    group.addTask {
                        var accepted = 0
                        for call in 0..<25 {
                            let response = try await client.track(Event(distinctID: "task-\(task)", name: "concurrent",
                                                                         properties: ["call": .int(Int64(call))]))
                            if response.statusCode == 202 { accepted += 1 }
                        }
                        return accepted
                    }
                }
                var total = 0
                for try await accepted in group { total += accepted }
                #expect(total == 200)
            }
            #expect(try await hub.stats()["accepted"] as? Int == 200)
            try await client.shutdown(timeout: .seconds(2))
        }
    }

    @Test func enqueueFlushShutdownWithCallbacks() async throws {
        try await withLocalHub { hub in
            let deliveries = Deliveries()
            let client = try makeClient(hub) {
                $0.flushInterval = .seconds(60)  // only flush and shutdown send
                $0.onDelivery = { deliveries.add($0) }
            }
            for index in 0..<50 {
                try client.enqueue(Event(distinctID: "u\(index)", name: "queued", idempotencyKey: "key-\(index)"))
            }
            try await client.flush(timeout: .seconds(10))
            let reports = deliveries.all
            #expect(reports.count == 50)
            #expect(reports.allSatisfy { $0.isSuccess && $0.statusCode == 202 && $0.attempts == 1 && $0.error == nil })
            #expect(Set(reports.compactMap(\.idempotencyKey)) == Set((0..<50).map { "key-\($0)" }))
            #expect(reports.allSatisfy { $0.eventName == "queued" && $0.distinctID.hasPrefix("u") && !$0.insertID.isEmpty })
            #expect(try await hub.events().count == 50)

            for index in 0..<5 { try client.enqueue(Event(distinctID: "late\(index)", name: "queued")) }
            try await client.shutdown(timeout: .seconds(10))
            #expect(deliveries.all.count == 55)
            #expect(try await hub.events().count == 55)
            #expect(client.isShutDown)
            #expect { try client.enqueue(Event(distinctID: "u", name: "queued")) } throws: {
                ($0 as? SuprSendError)?.code == .closed
            }
            await #expect { try await client.track(Event(distinctID: "u", name: "e1")) } throws: {
                ($0 as? SuprSendError)?.code == .closed
            }
            await #expect { try await client.flush(timeout: .seconds(1)) } throws: { ($0 as? SuprSendError)?.code == .closed }
            await #expect { try await client.shutdown(timeout: .seconds(1)) } throws: { ($0 as? SuprSendError)?.code == .closed }
        }
    }

    @Test func serviceGroupGracefulShutdownDeliversWhatWasEnqueued() async throws {
        try await withLocalHub { hub in
            let client = try makeClient(hub) {
                $0.flushInterval = .seconds(60)
                $0.shutdownTimeout = .seconds(10)
            }
            var logger = Logger(label: "suprsend-test")
            logger.logLevel = .critical
            let group = ServiceGroup(services: [SuprSendService(client: client)], logger: logger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                for index in 0..<30 { try client.enqueue(Event(distinctID: "u\(index)", name: "before_shutdown")) }
                #expect(try await hub.events().isEmpty)
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            #expect(client.isShutDown)
            #expect(try await hub.events().count == 30)
        }
    }

    @Test func outboxKeepsEventsForTheNextClient() async throws {
        try await withLocalHub { hub in
            let path = NSTemporaryDirectory() + "suprsend-swift-outbox-\(UUID().uuidString).db"
            defer {
                for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
            }
            // The hub holds every request: nothing is delivered before the shutdown's deadline.
            try await hub.faults(["rate": ["delay": 1.0], "seed": 1, "delay_ms": 60000])
            let first = try makeClient(hub) {
                $0.outboxPath = path
                $0.flushInterval = .seconds(60)
            }
            let clock = ContinuousClock()
            let started = clock.now
            for index in 0..<2000 { try first.enqueue(Event(distinctID: "u\(index)", name: "durable")) }
            // An enqueue must not cost more as the outbox grows (the metrics read no count per call).
            #expect(clock.now - started < .seconds(20))
            await #expect { try await first.shutdown(timeout: .zero) } throws: { ($0 as? SuprSendError)?.code == .timeout }
            try await hub.call("POST", "_hub/faults", ["script": []])
            _ = try await hub.call("POST", "_hub/release", ["drop": true])
            // The next client with the same outbox delivers them.
            let second = try makeClient(hub) { $0.outboxPath = path }
            try await second.flush(timeout: .seconds(60))
            try await second.shutdown(timeout: .seconds(10))
            #expect(try await hub.stats()["accepted"] as? Int == 2000)
        }
    }

    @Test func metricsCountEveryFate() async throws {
        try await withLocalHub { hub in
            let metrics = TestMetrics()
            let client = try makeClient(hub) {
                $0.flushInterval = .seconds(60)
                $0.metricsFactory = metrics
                $0.metricsLabel = "metrics-test"
            }
            // The first request gets 503 (retried), the second has its record 0 refused.
            try await hub.faults(["script": [["status": 503], ["refuse_records": [0]]]])
            for index in 0..<10 { try client.enqueue(Event(distinctID: "u\(index)", name: "measured")) }
            let queuedGauge = try metrics.expectGauge("suprsend_events_queued", [("client", "metrics-test")])
            #expect(queuedGauge.lastValue == 10)
            try await client.flush(timeout: .seconds(20))
            let dimensions = [("client", "metrics-test")]
            func total(_ label: String) -> Int64 { metrics.counterTotal(label: label, dimensions: dimensions) }
            #expect(total("suprsend_events_enqueued_total") == 10)
            #expect(total("suprsend_events_delivered_total") == 9)
            #expect(total("suprsend_events_refused_total") == 1)
            #expect(total("suprsend_events_dropped_total") == 0)
            #expect(total("suprsend_events_retried_total") >= 1)
            #expect(queuedGauge.lastValue == 0)
            // Left in the queue at a shutdown with no time: dropped.
            try await hub.faults(["script": [["delay_ms": 3000]]])
            for index in 0..<3 { try client.enqueue(Event(distinctID: "d\(index)", name: "measured")) }
            try? await client.shutdown(timeout: .zero)
            _ = try? await hub.call("POST", "_hub/release", ["drop": true])
            #expect(total("suprsend_events_dropped_total") == 3)
        }
    }
}
