/// A bulk of events (wire-protocol.md, "Bulk"): appended one by one, each checked as it
/// comes, then sent once, in order, in requests of at most 100 events and 800 KiB.
/// Used by one thread at a time.
public final class BulkBatch {
    private enum Entry {
        case ready(PreparedEvent)
        case rejected(RejectedEvent)
    }

    private let client: Client
    private var entries: [Entry] = []
    private var skippedAttachmentNotes: [(event: String, note: String)] = []
    public private(set) var isTriggered = false

    public init(client: Client) {
        self.client = client
    }

    public var count: Int { entries.count }

    /// Why the last appended event was rejected, if it was.
    public var lastRejectionMessage: String? {
        if case .rejected(let rejected)? = entries.last { return rejected.error.message }
        return nil
    }

    /// Checks and keeps a copy of the event. A bad event is kept too, as a failed record
    /// for the result; its status is returned now as well.
    @discardableResult
    public func append(_ event: Event) throws(SuprSendError) -> Status {
        guard !isTriggered else {
            throw .argument("bulk: already triggered; make a new bulk for more events")
        }
        for note in event.skippedAttachments { skippedAttachmentNotes.append((event.name, note)) }
        switch client.preparer.prepare(event) {
        case .success(let prepared):
            entries.append(.ready(prepared))
            return .ok
        case .failure(let rejected):
            entries.append(.rejected(rejected))
            return rejected.error.status
        }
    }

    /// Sends every valid event and merges the answers. A bulk is sent once: a second call
    /// throws and sends nothing.
    public func trigger() throws(SuprSendError) -> BulkResult {
        guard !isTriggered else {
            throw .argument("bulk: already triggered; a bulk is sent once")
        }
        isTriggered = true
        for (event, note) in skippedAttachmentNotes {
            client.logger.log(.warning, "event '\(event)': attachment skipped (ignore_if_error): \(note)")
        }

        var outcomes = [BulkResult.Outcome?](repeating: nil, count: entries.count)
        var sendable: [(index: Int, event: PreparedEvent)] = []
        for (index, entry) in entries.enumerated() {
            switch entry {
            case .rejected(let rejected):
                outcomes[index] = .failed(FailedRecord(record: rejected.recordJSON, error: rejected.error.message,
                                                       code: 500, status: rejected.error.status))
            case .ready(let event) where !Chunking.fitsAlone(eventSize: event.json.count):
                outcomes[index] = .failed(FailedRecord(
                    record: event.json, error: "event size: \(event.json.count) bytes does not fit a bulk request "
                        + "(at most \(Chunking.maxBodyBytes) bytes)", code: 500, status: .tooLarge))
            case .ready(let event):
                sendable.append((index, event))
            }
        }

        for range in Chunking.ranges(eventSizes: sendable.map { $0.event.json.count }) {
            let chunk = sendable[range]
            for (offset, outcome) in send(chunk.map { $0.event }).enumerated() {
                outcomes[chunk[chunk.startIndex + offset].index] = outcome
            }
        }
        return BulkResult(outcomes: outcomes.map { $0 ?? .failed(FailedRecord(record: [], error: "not sent", code: 500, status: .internal)) })
    }

    private func send(_ events: [PreparedEvent]) -> [BulkResult.Outcome] {
        var body = [UInt8]()
        body.reserveCapacity(Chunking.bodySize(ofEventSizes: events.map { $0.json.count }))
        body.append(UInt8(ascii: "["))
        for (index, event) in events.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            body.append(contentsOf: event.json)
        }
        body.append(UInt8(ascii: "]"))

        let delivery = client.sender.send(.bulk, body: body)
        guard let answer = delivery.answer else {
            let message = "no answer from the hub after \(delivery.attempts) attempt\(delivery.attempts == 1 ? "" : "s"): "
                + (delivery.failure?.message ?? "unknown error")
            client.logger.log(.error, "bulk request of \(events.count) events failed: \(message)")
            return events.map { .failed(FailedRecord(record: $0.json, error: message, code: 500, status: .network)) }
        }
        let records = HubResponses.bulk(status: answer.status, body: answer.body, eventCount: events.count)
        return zip(events, records).map { event, record in
            record.accepted ? .accepted
                : .failed(FailedRecord(record: event.json, error: record.message, code: record.statusCode, status: .http))
        }
    }
}

/// One event the hub did not accept, as the bulk response reports it.
public struct FailedRecord: Sendable {
    /// The event object (as sent, or as it would have been).
    public var record: [UInt8]
    public var error: String
    /// The HTTP status for the event, or 500 (the official SDKs' convention) when there was none.
    public var code: Int
    /// The C API status of this failure.
    public var status: Status
}

/// The merged result of all the requests of one bulk.
public struct BulkResult: Sendable {
    public enum Outcome: Sendable {
        case accepted
        case failed(FailedRecord)
    }

    public let total: Int
    public let success: Int
    public let failedRecords: [FailedRecord]

    init(outcomes: [Outcome]) {
        var failed: [FailedRecord] = []
        for case .failed(let record) in outcomes { failed.append(record) }
        total = outcomes.count
        failedRecords = failed
        success = total - failed.count
    }

    public var failure: Int { failedRecords.count }

    /// "success" with no failures (an empty bulk too), "fail" with no successes, else "partial".
    public var status: String {
        if failure == 0 { return "success" }
        return success == 0 ? "fail" : "partial"
    }

    /// .ok when every event was accepted, else the status of the first failure.
    public var firstFailureStatus: Status { failedRecords.first?.status ?? .ok }

    /// `[{"record": {...}, "error": "...", "code": 500}, ...]`
    public func failedRecordsJSON() -> [UInt8] {
        var writer = JSONWriter(reservingCapacity: 2 + failedRecords.reduce(0) { $0 + $1.record.count + 64 })
        writer.appendRaw("[")
        for (index, failed) in failedRecords.enumerated() {
            if index > 0 { writer.appendRaw(",") }
            writer.appendRaw("{\"record\":")
            if failed.record.isEmpty {
                writer.appendNull()
            } else {
                failed.record.withUnsafeBufferPointer { writer.appendRaw($0) }
            }
            writer.appendRaw(",\"error\":")
            writer.appendString(failed.error)
            writer.appendRaw(",\"code\":")
            writer.appendInt(Int64(failed.code))
            writer.appendRaw("}")
        }
        writer.appendRaw("]")
        return writer.bytes
    }
}
