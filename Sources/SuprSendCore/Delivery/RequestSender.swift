/// Sends one request body to an endpoint of the hub: signs it, hands it to the transport,
/// and retries what the retry classes allow. Every attempt is signed anew with a fresh
/// Date; the body, and so each event's $insert_id and idempotency key, stays the same.
///
/// It knows nothing of events or of the C API, so a background worker can drive it as
/// well as a caller's thread.
public final class RequestSender: Sendable {
    public enum Endpoint: Sendable {
        case event
        case bulk

        var path: String {
            switch self {
            case .event: "v2/event/"
            case .bulk: "v2/bulk/event/"
            }
        }
    }

    /// How a request ended after all its attempts.
    public struct Delivery: Sendable {
        /// The last answer, when one came.
        public var answer: HTTPAnswer?
        /// Why no answer came, when none did.
        public var failure: TransportFailure?
        public var attempts: Int

        /// Why no answer came, for a failed event's message.
        public var noAnswerMessage: String {
            if attempts == 0 { return failure?.message ?? "not sent" }
            return "no answer from the hub after \(attempts) attempt\(attempts == 1 ? "" : "s"): "
                + (failure?.message ?? "unknown error")
        }
    }

    public static let contentType = "application/json; charset=utf-8"

    let baseURL: String
    /// The path part of the base URL, which the signature's request URI starts with.
    let basePath: String
    let workspaceKey: String
    let signer: RequestSigner
    let transport: HTTPTransport
    let retryPolicy: RetryPolicy
    let logger: Logger
    let sleep: @Sendable (Double) -> Void
    let unitRandom: @Sendable () -> Double
    let now: @Sendable () -> Int
    let monotonic: @Sendable () -> Double
    /// How long one `send` may take, attempts and waits included, when its caller gives no
    /// deadline of its own (call_timeout_ms).
    let callTimeoutSeconds: Double

    public static let defaultCallTimeoutMilliseconds = 120_000

    public init(baseURL: String, workspaceKey: String, workspaceSecret: String, transport: HTTPTransport,
                retryPolicy: RetryPolicy, logger: Logger,
                sleep: (@Sendable (Double) -> Void)? = nil,
                unitRandom: (@Sendable () -> Double)? = nil,
                now: (@Sendable () -> Int)? = nil,
                monotonic: (@Sendable () -> Double)? = nil,
                callTimeoutMilliseconds: Int = RequestSender.defaultCallTimeoutMilliseconds) {
        self.monotonic = monotonic ?? { Clock.monotonicSeconds() }
        self.callTimeoutSeconds = Double(callTimeoutMilliseconds) / 1000
        self.baseURL = baseURL
        self.basePath = BaseURL.path(of: baseURL)
        self.workspaceKey = workspaceKey
        self.signer = RequestSigner(secret: workspaceSecret)
        self.transport = transport
        self.retryPolicy = retryPolicy
        self.logger = logger
        self.sleep = sleep ?? { Clock.sleep(seconds: $0) }
        self.unitRandom = unitRandom ?? { SecureRandom.unitInterval() }
        self.now = now ?? { Clock.nowSeconds() }
    }

    /// Sends `body`, retrying as the retry classes allow (`RequestAttempts`), and waits on
    /// this thread. `keyed`: whether every event in the body carries an idempotency key; nil
    /// reads a single event's body, and takes a bulk's as unkeyed.
    ///
    /// No attempt or wait starts after `deadline` (monotonic seconds; nil: `callTimeoutSeconds`
    /// from now): an attempt gets at most what is left, the last wait is shortened, and a
    /// Retry-After longer than what is left ends the call at once.
    public func send(_ endpoint: Endpoint, body: [UInt8], keyed: (@Sendable () -> Bool)? = nil, deadline: Double? = nil) -> Delivery {
        var attempts = self.attempts(endpoint, body: body, keyed: keyed, deadline: deadline)
        let url = attempts.url
        let requestURI = basePath + endpoint.path
        var step = attempts.begin(now: monotonic())
        var started = 0.0
        while true {
            switch step {
            case .send(let timeoutMilliseconds):
                var request = signedRequest(url: url, requestURI: requestURI, body: body)
                request.timeoutMilliseconds = timeoutMilliseconds
                logRequest(request, attempt: attempts.attempt, of: attempts.attemptsAllowed)
                started = Clock.monotonicSeconds()
                let result = transport.post(request)
                logOutcome(result, seconds: Clock.monotonicSeconds() - started)
                step = attempts.ended(result, now: monotonic(), unixNow: now(), unitRandom: unitRandom)
                for (level, line) in attempts.lines { logger.log(level, line) }
            case .wait(let seconds):
                sleep(seconds)
                step = attempts.resume(now: monotonic())
            case .finish(let delivery):
                return delivery
            }
        }
    }

    /// The attempts of one call to `endpoint` (see `RequestAttempts`), for any driver.
    func attempts(_ endpoint: Endpoint, body: [UInt8], keyed: (@Sendable () -> Bool)?, deadline: Double?) -> RequestAttempts {
        let isEvent = endpoint == .event
        let keyed = keyed ?? { isEvent && EventEncoder.carriesIdempotencyKey(body) }
        return RequestAttempts(url: baseURL + endpoint.path, retryPolicy: retryPolicy,
                               deadline: deadline ?? monotonic() + callTimeoutSeconds, keyed: keyed)
    }

    /// An attempt's end at debug level.
    func logOutcome(_ result: Result<HTTPAnswer, TransportFailure>, seconds: Double, to logger: Logger? = nil) {
        switch result {
        case .success(let answer): logAnswer(answer, seconds: seconds, to: logger)
        case .failure(let failure): (logger ?? self.logger).log(.debug, "<- no answer after \(milliseconds(seconds)) ms: \(failure.message)")
        }
    }

    /// A request for one attempt, signed now (the Date must be fresh at every attempt).
    func signedRequest(_ endpoint: Endpoint, body: [UInt8]) -> HTTPRequest {
        signedRequest(url: baseURL + endpoint.path, requestURI: basePath + endpoint.path, body: body)
    }

    func signedRequest(url: String, requestURI: String, body: [UInt8]) -> HTTPRequest {
        let date = HTTPDate.format(unixSeconds: now())
        let signature = body.withUnsafeBytes {
            signer.signature(method: "POST", body: $0, contentType: Self.contentType, date: date, requestURI: requestURI)
        }
        return HTTPRequest(url: url,
                           headers: ["Content-Type: \(Self.contentType)", "Date: \(date)",
                                     "Authorization: \(workspaceKey):\(signature)"],
                           body: body)
    }

    /// Request and response lines at debug level. The signature is never logged: with the
    /// body and date it would let a reader replay the request.
    func logRequest(_ request: HTTPRequest, attempt: Int, of attempts: Int?, to logger: Logger? = nil) {
        let logger = logger ?? self.logger
        guard logger.isEnabled(.debug) else { return }
        let headers = request.headers.map { $0.hasPrefix("Authorization:") ? "Authorization: \(workspaceKey):[redacted]" : $0 }
        let count = attempts.map { "attempt \(attempt) of \($0)" } ?? "attempt \(attempt)"
        logger.log(.debug, "-> POST \(request.url) (\(count), \(request.body.count) bytes) "
            + headers.joined(separator: " | ") + " | body: " + excerpt(request.body))
    }

    func logAnswer(_ answer: HTTPAnswer, seconds: Double, to logger: Logger? = nil) {
        let logger = logger ?? self.logger
        guard logger.isEnabled(.debug) else { return }
        logger.log(.debug, "<- HTTP \(answer.status) in \(milliseconds(seconds)) ms (\(answer.body.count) bytes)"
            + (answer.retryAfter.map { " Retry-After: \($0)" } ?? "") + " | body: " + excerpt(answer.body))
    }

    private func excerpt(_ bytes: [UInt8]) -> String {
        let limit = 1000
        if bytes.count <= limit { return String(decoding: bytes, as: UTF8.self) }
        return String(decoding: bytes[0..<limit], as: UTF8.self) + "… (\(bytes.count - limit) more bytes)"
    }

    private func milliseconds(_ seconds: Double) -> Int { Int((seconds * 1000).rounded()) }
}
