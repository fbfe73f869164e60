/// One HTTP POST as the delivery machinery hands it to a transport: the body and headers
/// are final and signed; the transport only moves bytes.
public struct HTTPRequest: Sendable {
    public var url: String
    /// "Name: value" lines.
    public var headers: [String]
    public var body: [UInt8]
    /// The most this request may take, when less than the transport's own timeout: what is
    /// left of a caller's deadline.
    public var timeoutMilliseconds: Int? = nil
}

/// An answer from the server, whatever its status.
public struct HTTPAnswer: Sendable, Equatable {
    public var status: Int
    public var body: [UInt8]
    /// The Retry-After header, raw, when there was one.
    public var retryAfter: String?
    /// Whether the body was longer than a transport keeps, and cut.
    public var bodyTruncated: Bool

    public init(status: Int, body: [UInt8], retryAfter: String? = nil, bodyTruncated: Bool = false) {
        self.status = status
        self.body = body
        self.retryAfter = retryAfter
        self.bodyTruncated = bodyTruncated
    }
}

/// No answer: the request may or may not have reached the server.
public struct TransportFailure: Error, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// Worth another try: could not resolve or connect, reset, timed out, no reply.
        case transient
        /// Will fail the same way again: a malformed URL, a TLS certificate that is not trusted.
        case permanent
    }
    public var kind: Kind
    public var message: String
    /// Whether the request may have reached the hub and been processed (the failure came
    /// after it was sent): sent again, it could be processed twice unless it carries an
    /// idempotency key.
    public var mayHaveBeenProcessed: Bool

    public init(_ kind: Kind, _ message: String, mayHaveBeenProcessed: Bool = false) {
        self.kind = kind
        self.message = message
        self.mayHaveBeenProcessed = mayHaveBeenProcessed
    }
}

/// Moves one request and its answer. Implementations must be safe to call from many
/// threads at once; the delivery machinery does retries, not the transport.
public protocol HTTPTransport: AnyObject, Sendable {
    func post(_ request: HTTPRequest) -> Result<HTTPAnswer, TransportFailure>
}

/// Moves several requests at once, for the background worker, which drives it from its one
/// thread: `start` requests, then `wait` for their ends. Only `wake` may be called from
/// other threads.
public protocol ConcurrentTransport: AnyObject, Sendable {
    /// Starts a request; its end is reported by a later `wait` with the same id.
    func start(_ request: HTTPRequest, id: Int)

    /// Moves the transfers along and returns those that ended, waiting at most `timeout`
    /// seconds for one to end or for `wake`.
    func wait(timeout: Double) -> [(id: Int, result: Result<HTTPAnswer, TransportFailure>)]

    /// Makes a `wait` in progress, or the next one, return at once. Any thread.
    func wake()

    /// Abandons every transfer in progress (their ends are never reported) and returns their
    /// ids: a close whose deadline passed.
    @discardableResult
    func cancelAll() -> [Int]

    /// In a forked child: gives up the parent's transfers and connections without a word on
    /// the wire. The transport is never used again.
    func abandonAfterFork()
}
