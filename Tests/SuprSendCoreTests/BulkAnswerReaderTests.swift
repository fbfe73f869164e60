import Testing
@testable import SuprSendCore

/// The fast reader of bulk answers must agree with the general parser on every shape, or
/// give up (nil) so that the general parser decides.
@Suite("Bulk answer reader")
struct BulkAnswerReaderTests {
    private func read(_ text: String) -> [BulkAnswerReader.Record]? {
        Array(text.utf8).withUnsafeBufferPointer { BulkAnswerReader.records(in: $0) }
    }

    private func isAccepted(_ record: BulkAnswerReader.Record) -> Bool {
        if case .accepted = record { return true }
        return false
    }

    @Test func readsSuccessRecordsWithTheirIdsAndCodes() throws {
        let records = try #require(read(#"""
            {"status": "success", "records": [
              {"status": "success", "message_id": "m-1", "status_code": 202},
              {"message_id": "m-2", "extra": {"nested": [1, {"a": null}], "s": "x\"y"}, "status": "success"}
            ]}
            """#))
        #expect(records.count == 2)
        guard case let .accepted(code, id) = records[0] else { Issue.record("not accepted"); return }
        #expect(code == 202 && id == "m-1")
        guard case let .accepted(code2, id2) = records[1] else { Issue.record("not accepted"); return }
        #expect(code2 == nil && id2 == "m-2")
    }

    @Test func leavesOtherRecordsToTheGeneralParser() throws {
        let text = #"{"records":[{"status":"error","error":{"message":"bad","type":"t"},"status_code":400}, "odd", {"status":"SUCCESS"}]}"#
        let records = try #require(read(text))
        #expect(records.count == 3)
        #expect(!records.contains(where: isAccepted))
        guard case .other(let range) = records[0] else { Issue.record("expected .other"); return }
        let bytes = Array(text.utf8)[range]
        #expect(String(decoding: bytes, as: UTF8.self).hasPrefix(#"{"status":"error""#))
        // And the answer as a whole: the uppercase status is accepted by the general parser.
        let merged = HubResponses.bulk(status: 202, body: Array(text.utf8), eventCount: 3)
        #expect(merged.map(\.accepted) == [false, false, true])
        #expect(merged[0].message == "bad" && merged[0].statusCode == 400)
    }

    @Test(arguments: [
        "", "OK", "[]", "{", #"{"records": [}"#, #"{"records": [{"status": "success"},]}"#,
        #"{"records": [{"status": "success"}]} trailing"#, #"{"records": {"a": 1}}"#, #"{"status": "success"}"#,
        #"{"records": [{"status": "success"}], "x": [1, 2,]}"#,
    ])
    func givesUpOnAnythingElse(_ text: String) {
        #expect(read(text) == nil, "\(text)")
    }

    /// Found by fuzz_bulk_answer: "records" twice, the first not a list. The general parser
    /// reads the first member of a name; the reader must not pick a later one.
    @Test(arguments: [
        #"{"records": "x", "records": [{"status": "success"}]}"#,
        #"{"records": [{"status": "success"}], "records": []}"#,
        #"{"rec\u006frds": [], "records": [{"status": "success"}]}"#,
    ])
    func givesUpOnKeysTheGeneralParserCouldReadOtherwise(_ text: String) {
        #expect(read(text) == nil, "\(text)")
        let merged = HubResponses.bulk(status: 202, body: Array(text.utf8), eventCount: 1)
        #expect(merged.count == 1)
    }

    /// The general parser then decides by the first "status" it decodes.
    @Test(arguments: [
        (#"{"records": [{"status": "success", "status": "error"}]}"#, true),
        (#"{"records": [{"status": "error", "status": "success"}]}"#, false),
        (#"{"records": [{"st\u0061tus": "error", "status": "success"}]}"#, false),
    ])
    func leavesRecordsWithRepeatedOrEscapedKeysToTheGeneralParser(_ text: String, accepted: Bool) throws {
        let records = try #require(read(text))
        #expect(records.count == 1 && !isAccepted(records[0]), "\(text)")
        let merged = HubResponses.bulk(status: 202, body: Array(text.utf8), eventCount: 1)
        #expect(merged.map(\.accepted) == [accepted], "\(text)")
    }

    @Test func emptyRecordList() {
        #expect(read(#"{"records": []}"#)?.isEmpty == true)
    }

    @Test func deepValuesAreSkippedWithinTheLimit() {
        let deep = String(repeating: "[", count: 60) + String(repeating: "]", count: 60)
        #expect(read(#"{"x": \#(deep), "records": [{"status": "success"}]}"#)?.count == 1)
        let tooDeep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(read(#"{"x": \#(tooDeep), "records": []}"#) == nil)
    }
}

@Suite("Hub responses: answers that cannot be trusted")
struct UntrustedAnswerTests {
    private func bulk(_ text: String, status: Int = 202, truncated: Bool = false, events: Int = 3) -> [HubResponses.Record] {
        HubResponses.bulk(status: status, body: Array(text.utf8), bodyTruncated: truncated, eventCount: events)
    }

    @Test func aTruncatedAnswerFailsEveryEvent() {
        let records = bulk(#"{"status":"success","records":[{"status":"success"},{"status":"success"},{"status":"succ"#,
                           truncated: true)
        #expect(records.count == 3 && records.allSatisfy { !$0.accepted && $0.statusCode == 500 })
        #expect(records[0].message.contains("too large"))
    }

    @Test(arguments: [#"{"records": [{"status": "success"},"#, #"[{"status":"success"}"#, "{ not json"])
    func brokenJSONFailsEveryEvent(_ text: String) {
        let records = bulk(text)
        #expect(records.allSatisfy { !$0.accepted }, "\(text)")
    }

    @Test(arguments: ["OK", "", "accepted"])
    func plainTextFromOlderHubsAcceptsTheRequest(_ text: String) {
        #expect(bulk(text).allSatisfy { $0.accepted })
    }

    @Test func longOrControlFilledMessagesAreMadeReadable() {
        let long = String(repeating: "x", count: 100_000)
        let single = HubResponses.single(status: 400, body: Array(#"{"error":{"message":"\#(long)"}}"#.utf8))
        #expect(single.message.count <= HubResponses.maxPlainMessageLength + 1)
        let records = bulk(#"{"records":[{"status":"error","error":{"message":"\#(long)"}}]}"#, events: 1)
        #expect(records[0].message.count <= HubResponses.maxPlainMessageLength + 1)
        let controls = HubResponses.single(status: 400, body: Array(#"{"message":"line1\nline2\u0001\u0007end"}"#.utf8))
        #expect(controls.message == "line1 line2 end")
    }
}
