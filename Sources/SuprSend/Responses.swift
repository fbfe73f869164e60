internal import SuprSendCore

/// The hub's answer to one tracked event (it accepted it: a refusal throws).
public struct TrackResponse: Sendable, Hashable {
    /// The HTTP status of the answer (202 from SuprSend's hub).
    public let statusCode: Int
    /// The hub's id for the event (its `message_id`).
    public let messageID: String
}

/// The merged answers to a bulk of events, sent in requests of at most 100 events and 800 KiB.
public struct BulkResponse: Sendable, Hashable {
    public enum Status: String, Sendable, Hashable {
        /// Every event was accepted (an empty bulk too).
        case success
        /// Some were accepted, some not.
        case partial
        /// None was accepted.
        case fail
    }

    /// One event that was not accepted: refused by the hub, or by a rule before sending
    /// (`code` 500, as the official SDKs report it), or not sent (no answer, shutdown).
    public struct FailedRecord: Sendable, Hashable {
        /// The event's position in the array passed to `track(bulk:)`.
        public let index: Int
        /// The hub's status for the refusal; 500 for an event refused before sending or not sent.
        public let code: Int
        public let message: String
        /// The event object as sent (or as it would have been), JSON.
        public let record: String
    }

    public let status: Status
    public let total: Int
    public let successCount: Int
    public let failureCount: Int
    /// In the order of the events.
    public let failedRecords: [FailedRecord]

    init(_ result: BulkResult) {
        total = result.total
        successCount = result.success
        failureCount = result.failure
        status = result.failure == 0 ? .success : (result.success == 0 ? .fail : .partial)
        failedRecords = result.failedRecords.map {
            FailedRecord(index: $0.index, code: $0.code, message: $0.error,
                         record: String(decoding: $0.record, as: UTF8.self))
        }
    }
}

/// The fate of one event given to `enqueue`, reported to `Configuration.onDelivery` on the
/// delivery thread (keep the callback short; it must not call `flush` or `shutdown`).
///
/// Its fields are read from the event's record when asked for (as the C API's
/// suprsend_delivery_* accessors do): a callback that only looks at `isSuccess` does not pay
/// for decoding the event's id, key, name and distinct id.
public struct Delivery: Sendable, Hashable {
    private let report: DeliveryReport

    /// The hub accepted it.
    public var isSuccess: Bool { report.status == .ok }
    /// The hub's status for the event (its record's, or the request's); 0 when no answer came.
    public var statusCode: Int { report.httpStatus }
    /// The event's `$insert_id`.
    public var insertID: String { report.event.insertId }
    public var idempotencyKey: String? {
        let key = report.event.idempotencyKey
        return key.isEmpty ? nil : key
    }
    public var eventName: String { report.event.name }
    public var distinctID: String { report.event.distinctId }
    /// Requests that carried the event.
    public var attempts: Int { Int(report.event.attempts) }
    /// The hub's message id when delivered, else why not.
    public var message: String { report.message }
    /// Why it was not delivered: `.http` (refused), `.timeout` (older than the maximum age),
    /// `.closed` (still queued when the client shut down); nil when delivered.
    public var error: SuprSendError? {
        report.status == .ok ? nil
            : SuprSendError(report.status, httpStatus: report.httpStatus == 0 ? nil : report.httpStatus,
                            message: report.message)
    }

    init(_ report: DeliveryReport) {
        self.report = report
    }

    public static func == (lhs: Delivery, rhs: Delivery) -> Bool {
        lhs.isSuccess == rhs.isSuccess && lhs.statusCode == rhs.statusCode && lhs.insertID == rhs.insertID
            && lhs.idempotencyKey == rhs.idempotencyKey && lhs.eventName == rhs.eventName
            && lhs.distinctID == rhs.distinctID && lhs.attempts == rhs.attempts && lhs.message == rhs.message
            && lhs.error == rhs.error
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(isSuccess)
        hasher.combine(statusCode)
        hasher.combine(insertID)
        hasher.combine(idempotencyKey)
        hasher.combine(eventName)
        hasher.combine(distinctID)
        hasher.combine(attempts)
        hasher.combine(message)
        hasher.combine(error)
    }
}
