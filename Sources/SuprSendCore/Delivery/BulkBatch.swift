/// A bulk of events (wire-protocol.md, "Bulk"): appended one by one, each checked as it
/// comes, then sent once, in order, in requests of at most 100 events and 800 KiB.
/// Used by one thread at a time.
///
/// Only what must be kept is kept: the bytes of each valid event, packed, and its place
/// in the order of appending; a bulk of 100,000 events costs little more than their bytes.
public final class BulkBatch {
    private let client: Client
    /// The valid events, serialized, in the order appended.
    private var packed = PackedEvents()
    /// For each packed event, its position among all the events appended.
    private var packedPositions: [Int32] = []
    /// The events that broke a rule, with their positions.
    private var rejected: [(position: Int, event: RejectedEvent)] = []
    private var skippedAttachmentNotes: [(event: String, note: String)] = []
    public private(set) var isTriggered = false

    public init(client: Client) {
        self.client = client
    }

    public var count: Int { packedPositions.count + rejected.count }

    /// Why the last appended event was rejected, if it was.
    public var lastRejectionMessage: String? {
        guard let last = rejected.last, last.position == count - 1 else { return nil }
        return last.event.error.message
    }

    /// Checks and keeps a copy of the event. A bad event is kept too, as a failed record
    /// for the result; its status is returned now as well.
    @discardableResult
    public func append(_ event: Event) throws(SuprSendError) -> Status {
        guard !isTriggered else {
            throw .argument("bulk: already triggered; make a new bulk for more events")
        }
        guard count < Int(Int32.max) else {
            throw SuprSendError(.tooLarge, "bulk: holds \(count) events, the most one bulk can; trigger it and make another")
        }
        for note in event.skippedAttachments { skippedAttachmentNotes.append((event.name, note)) }
        let position = count
        switch client.preparer.prepare(event) {
        case .success(let prepared) where !Chunking.fitsAlone(eventSize: prepared.json.count):
            // Only possible with max_event_bytes at its very top: said now, not at trigger.
            rejected.append((position, RejectedEvent(
                error: SuprSendError(.tooLarge, "event size: \(prepared.json.count) bytes does not fit a bulk request "
                    + "(at most \(Chunking.maxBodyBytes) bytes with its brackets)"),
                recordJSON: prepared.json)))
            return .tooLarge
        case .success(let prepared):
            _ = packed.append(prepared.json)
            packedPositions.append(Int32(position))
            return .ok
        case .failure(let rejectedEvent):
            rejected.append((position, rejectedEvent))
            return rejectedEvent.error.status
        }
    }

    /// Sends every valid event and merges the answers. A bulk is sent once: a second call
    /// throws and sends nothing.
    public func trigger() throws(SuprSendError) -> BulkResult {
        let run = try beginTrigger()
        while let request = run.nextRequest() {
            run.ended(request, client.sender.send(.bulk, body: request.body, keyed: request.keyed, deadline: run.deadline))
        }
        return run.result()
    }

    /// `trigger` on the client's asynchronous calls' thread: its requests go one after another
    /// there, and `done` gets the result, or `.closed` (with what was done before) when the
    /// client closed first. Throws, never calling `done`, as `trigger` does before sending.
    public func triggerAsync(done: @escaping @Sendable (Status, BulkResult) -> Void) throws(SuprSendError) {
        let calls = try client.asyncCalls()
        let run = try beginTrigger()
        @Sendable func sendNext() {
            guard let request = run.nextRequest() else {
                let result = run.result()
                return done(run.closed ? .closed : result.worstFailureStatus, result)
            }
            do throws(SuprSendError) {
                try calls.submit(.bulk, body: request.body, keyed: request.keyed, deadline: run.deadline) { outcome in
                    switch outcome {
                    case .success(let delivery): run.ended(request, delivery)
                    case .failure(let error): run.cut(request, error)
                    }
                    sendNext()
                }
            } catch {
                run.cut(request, error)
                sendNext()
            }
        }
        sendNext()
    }

    /// Checks that the bulk may be sent, and lays out its requests.
    private func beginTrigger() throws(SuprSendError) -> BulkTrigger {
        guard !isTriggered else {
            throw .argument("bulk: already triggered; a bulk is sent once")
        }
        try client.checkOpen("; the bulk was not sent")
        isTriggered = true
        for (event, note) in skippedAttachmentNotes {
            client.logSkippedAttachments(eventName: event, notes: [note])
        }
        return BulkTrigger(client: client, packed: packed, packedPositions: packedPositions, rejected: rejected, total: count)
    }
}

/// One trigger of a bulk: its requests in order, the failures gathered so far, and the rule
/// that once a request got no answer after all its tries the hub is out of reach, so the
/// requests after it fail at once rather than each spending the same tries.
///
/// Used by one thread at a time: the caller's, or (asynchronously) the calls' thread, one
/// request after another, never two at once. That is what `@unchecked Sendable` stands on.
final class BulkTrigger: @unchecked Sendable {
    struct Request: Sendable {
        /// Indices into `packed`.
        let events: [Int]
        let body: [UInt8]
        let keyed: @Sendable () -> Bool
    }

    private let client: Client
    private let packed: PackedEvents
    private let packedPositions: [Int32]
    private let total: Int
    let deadline: Double
    private var chunks: [Range<Int>]
    private var nextChunk = 0
    private var failures: [(position: Int, record: FailedRecord)]
    private var unreachable: String?
    /// A request was cut short by a close.
    private(set) var closed = false

    init(client: Client, packed: PackedEvents, packedPositions: [Int32], rejected: [(position: Int, event: RejectedEvent)],
         total: Int) {
        self.client = client
        self.packed = packed
        self.packedPositions = packedPositions
        self.total = total
        // 500: the event broke a rule and was never sent; the code the official SDKs give a
        // record they refused before sending (wire-protocol.md, "Bulk").
        failures = rejected.map {
            ($0.position, FailedRecord(record: $0.event.recordJSON, error: $0.event.error.message,
                                       code: 500, status: $0.event.error.status))
        }
        deadline = client.sender.monotonic() + Double(client.configuration.callTimeoutMilliseconds) / 1000
        chunks = Chunking.ranges(eventSizes: (0..<packed.eventCount).map { packed.count(of: $0) })
    }

    /// The next request to send; nil when every event has its outcome.
    func nextRequest() -> Request? {
        while nextChunk < chunks.count {
            let events = Array(chunks[nextChunk])
            nextChunk += 1
            if let unreachable {
                fail(events, "not sent: an earlier request of this bulk got no answer (\(unreachable))", status: .network)
                continue
            }
            if closed {
                fail(events, "not sent: the client was closed", status: .closed)
                continue
            }
            var body = [UInt8]()
            body.reserveCapacity(Chunking.bodySize(ofEventSizes: events.map { packed.count(of: $0) }))
            body.append(UInt8(ascii: "["))
            for (position, event) in events.enumerated() {
                if position > 0 { body.append(UInt8(ascii: ",")) }
                packed.withBytes(of: event) { body.append(contentsOf: $0) }
            }
            body.append(UInt8(ascii: "]"))
            let bytes = packed
            return Request(events: events, body: body, keyed: {
                events.allSatisfy { bytes.withBytes(of: $0) { EventEncoder.carriesIdempotencyKey($0) } }
            })
        }
        return nil
    }

    /// A request ended: its events' outcomes from the answer, or all failed when none came.
    func ended(_ request: Request, _ delivery: RequestSender.Delivery) {
        guard let answer = delivery.answer else {
            let message = delivery.noAnswerMessage
            client.logger.log(.error, "bulk request of \(request.events.count) events failed: \(message)")
            fail(request.events, message, status: .network)
            unreachable = message
            return
        }
        let records = HubResponses.bulk(status: answer.status, body: answer.body, bodyTruncated: answer.bodyTruncated,
                                        eventCount: request.events.count)
        for (event, record) in zip(request.events, records) where !record.accepted {
            failures.append((Int(packedPositions[event]), FailedRecord(record: packed.bytes(of: event), error: record.message,
                                                                       code: record.statusCode, status: .http)))
        }
    }

    /// A request could not be sent or end (the client closed): its events fail with why.
    func cut(_ request: Request, _ error: SuprSendError) {
        if error.status == .closed { closed = true }
        fail(request.events, "not sent: \(error.message)", status: error.status)
    }

    private func fail(_ events: [Int], _ message: String, status: Status) {
        for index in events {
            failures.append((Int(packedPositions[index]), FailedRecord(record: packed.bytes(of: index), error: message,
                                                                       code: 500, status: status)))
        }
    }

    func result() -> BulkResult {
        failures.sort { $0.position < $1.position }
        return BulkResult(total: total, failedRecords: failures.map { failure in
            var record = failure.record
            record.index = failure.position
            return record
        })
    }
}

/// The serialized events of a bulk, in the order of appending (`ByteBlocks`: 100,000 events
/// cost little more than their bytes).
struct PackedEvents {
    private var store = ByteBlocks()
    private var spans: [ByteBlocks.Span] = []

    /// Stores the bytes and returns their index.
    mutating func append(_ bytes: [UInt8]) -> Int {
        spans.append(store.append(bytes))
        return spans.count - 1
    }

    var eventCount: Int { spans.count }

    func count(of index: Int) -> Int { Int(spans[index].count) }

    func withBytes<Result>(of index: Int, _ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
        store.withBytes(spans[index], body)
    }

    func bytes(of index: Int) -> [UInt8] { store.bytes(spans[index]) }
}

/// One event the hub did not accept, as the bulk response reports it.
public struct FailedRecord: Sendable {
    /// The event's position in the order of appending (set when the bulk's result is made).
    public var index = -1
    /// The event object (as sent, or as it would have been).
    public var record: [UInt8]
    public var error: String
    /// The hub's status for its refusal; 500 (the official SDKs' convention) for a rule broken
    /// before sending and when no answer came.
    public var code: Int
    /// The C API status of this failure.
    public var status: Status
}

/// The merged result of all the requests of one bulk.
public struct BulkResult: Sendable {
    public let total: Int
    public let success: Int
    /// In the order the events were appended.
    public let failedRecords: [FailedRecord]

    init(total: Int, failedRecords: [FailedRecord]) {
        self.total = total
        self.failedRecords = failedRecords
        self.success = total - failedRecords.count
    }

    public var failure: Int { failedRecords.count }

    /// "success" with no failures (an empty bulk too), "fail" with no successes, else "partial".
    public var status: String {
        if failure == 0 { return "success" }
        return success == 0 ? "fail" : "partial"
    }

    /// The first of the failures whose status says the worst happened (no answer, then a
    /// refusal by the hub, then a rule broken before sending): what the bulk's call returns.
    public var worstFailure: FailedRecord? {
        var worst: FailedRecord?
        for record in failedRecords where worst.map({ Self.severity(record.status) > Self.severity($0.status) }) ?? true {
            worst = record
        }
        return worst
    }

    public var worstFailureStatus: Status { worstFailure?.status ?? .ok }

    static func severity(_ status: Status) -> Int {
        switch status {
        case .internal: 9
        case .network: 8
        case .http: 7
        case .tooLarge: 6
        case .attachment: 5
        case .validation: 4
        case .argument: 3
        case .ok: 0
        default: 2
        }
    }

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
