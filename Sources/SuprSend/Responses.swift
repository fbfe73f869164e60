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
public struct Delivery: Sendable, Hashable {
    /// The hub accepted it.
    public let isSuccess: Bool
    /// The hub's status for the event (its record's, or the request's); 0 when no answer came.
    public let statusCode: Int
    /// The event's `$insert_id`.
    public let insertID: String
    public let idempotencyKey: String?
    public let eventName: String
    public let distinctID: String
    /// Requests that carried the event.
    public let attempts: Int
    /// The hub's message id when delivered, else why not.
    public let message: String
    /// Why it was not delivered: `.http` (refused), `.timeout` (older than the maximum age),
    /// `.closed` (still queued when the client shut down); nil when delivered.
    public let error: SuprSendError?

    init(_ report: DeliveryReport) {
        let event = report.event
        isSuccess = report.status == .ok
        statusCode = report.httpStatus
        insertID = event.insertId
        let key = event.idempotencyKey
        idempotencyKey = key.isEmpty ? nil : key
        eventName = event.name
        distinctID = event.distinctId
        attempts = Int(event.attempts)
        message = report.message
        error = report.status == .ok ? nil
            : SuprSendError(report.status, httpStatus: report.httpStatus == 0 ? nil : report.httpStatus, message: report.message)
    }
}
