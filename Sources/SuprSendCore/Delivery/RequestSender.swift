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
    /// Less than this left of a deadline is no time for an attempt.
    static let leastAttemptSeconds = 0.05

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

    /// Sends `body`, retrying as the retry classes allow. `keyed` says whether every event in
    /// the body carries an idempotency key, so that the hub drops a repeat: only then is a
    /// request that may have been processed (no answer after it went out, 500, 502, 504) sent
    /// again; without keys a retry could notify twice, so only what certainly was not
    /// processed is retried. Asked only when such a failure happens; nil reads a single
    /// event's body, and takes a bulk's as unkeyed.
    ///
    /// No attempt or wait starts after `deadline` (monotonic seconds; nil: `callTimeoutSeconds`
    /// from now): an attempt gets at most what is left, the last wait is shortened, and a
    /// Retry-After longer than what is left ends the call at once.
    public func send(_ endpoint: Endpoint, body: [UInt8], keyed: (() -> Bool)? = nil, deadline: Double? = nil) -> Delivery {
        let deadline = deadline ?? monotonic() + callTimeoutSeconds
        var knownKeyed: Bool?
        func isKeyed() -> Bool {
            if let knownKeyed { return knownKeyed }
            let answer = keyed?() ?? (endpoint == .event && EventEncoder.carriesIdempotencyKey(body))
            knownKeyed = answer
            return answer
        }
        let url = baseURL + endpoint.path
        let requestURI = basePath + endpoint.path
        let attemptsAllowed = retryPolicy.maxRetries + 1
        var attempt = 0
        let firstLeft = deadline - monotonic()
        guard firstLeft >= Self.leastAttemptSeconds else {
            return Delivery(answer: nil, failure: TransportFailure(.permanent, "not sent: the call's deadline "
                + "(call_timeout_ms) passed before the request could start"), attempts: 0)
        }
        while true {
            attempt += 1
            var request = signedRequest(url: url, requestURI: requestURI, body: body)
            request.timeoutMilliseconds = max(Int(((deadline - monotonic()) * 1000).rounded(.down)), 1)
            logRequest(request, attempt: attempt, of: attemptsAllowed)
            let started = Clock.monotonicSeconds()
            let result = transport.post(request)
            let elapsed = Clock.monotonicSeconds() - started

            let retryAfter: Double?
            let reason: String
            switch result {
            case .success(let answer):
                logAnswer(answer, seconds: elapsed)
                guard RetryPolicy.isRetryable(status: answer.status), attempt < attemptsAllowed else {
                    return Delivery(answer: answer, failure: nil, attempts: attempt)
                }
                guard RetryPolicy.certainlyNotProcessed(status: answer.status) || isKeyed() else {
                    logger.log(.warning, "POST \(url) answered HTTP \(answer.status); not sent again: "
                        + Self.unkeyedNote)
                    return Delivery(answer: answer, failure: nil, attempts: attempt)
                }
                retryAfter = answer.retryAfter.flatMap { RetryPolicy.parseRetryAfter($0, nowUnixSeconds: now()) }
                reason = "HTTP \(answer.status)"
            case .failure(let failure):
                logger.log(.debug, "<- no answer after \(milliseconds(elapsed)) ms: \(failure.message)")
                guard failure.kind == .transient, attempt < attemptsAllowed else {
                    return Delivery(answer: nil, failure: failure, attempts: attempt)
                }
                guard !failure.mayHaveBeenProcessed || isKeyed() else {
                    var told = failure
                    told.message += "; not sent again: " + Self.unkeyedNote
                    return Delivery(answer: nil, failure: told, attempts: attempt)
                }
                retryAfter = nil
                reason = failure.message
            }
            var wait = retryPolicy.delay(beforeRetry: attempt, retryAfter: retryAfter, unitRandom: unitRandom)
            let left = deadline - monotonic()
            let hubWait = retryAfter.map { min(max($0, 0), RetryPolicy.retryAfterCap) } ?? 0
            if hubWait >= left || left - hubWait < Self.leastAttemptSeconds {
                // No time for another attempt (the hub's wait is not ours to shorten): the last
                // outcome stands.
                let why = retryAfter != nil && hubWait >= left
                    ? "the hub asked to wait \(milliseconds(hubWait)) ms (Retry-After), more than the \(milliseconds(max(left, 0))) ms left"
                    : "no time is left"
                logger.log(.warning, "attempt \(attempt) to POST \(url) failed (\(reason)); not retried: \(why) "
                    + "of the call (call_timeout_ms)")
                switch result {
                case .success(let answer):
                    return Delivery(answer: answer, failure: nil, attempts: attempt)
                case .failure(var failure):
                    failure.message += "; not retried: \(why) of the call (call_timeout_ms)"
                    return Delivery(answer: nil, failure: failure, attempts: attempt)
                }
            }
            // Leave the next attempt at least half of what is left.
            wait = min(wait, max(hubWait, left / 2))
            logger.log(.warning, "attempt \(attempt) of \(attemptsAllowed) to POST \(url) failed (\(reason)); "
                + "retrying in \(milliseconds(wait)) ms")
            sleep(wait)
        }
    }

    static let unkeyedNote = "the hub may have processed it, and without an idempotency key "
        + "(auto_idempotency is off) a retry could process it twice"

    /// A request for one attempt, signed now (the Date must be fresh at every attempt).
    func signedRequest(_ endpoint: Endpoint, body: [UInt8]) -> HTTPRequest {
        signedRequest(url: baseURL + endpoint.path, requestURI: basePath + endpoint.path, body: body)
    }

    private func signedRequest(url: String, requestURI: String, body: [UInt8]) -> HTTPRequest {
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

/// The hub's base URL, as the options give it.
public enum BaseURL {
    public static let `default` = "https://hub.suprsend.com/"
    /// A base path longer than this is a mistake (and goes into every request and log line).
    public static let maxPathBytes = 1024

    /// Trims it, checks it, and makes it end in '/'. Only http and https, with a host, and
    /// no query or fragment (the endpoint paths are appended to it). The path is signed as
    /// written and sent as written (CURLOPT_PATH_AS_IS), so it must be plain: printable ASCII
    /// without '.' or '..' segments, which a server or proxy would resolve before checking the
    /// signature. Credentials in the URL are refused: it appears in log lines.
    public static func normalize(_ raw: String) throws(SuprSendError) -> String {
        var url = raw.trimmingWhitespace()
        let lowered = url.lowercased()
        guard lowered.hasPrefix("http://") || lowered.hasPrefix("https://") else {
            throw .argument("base_url: must start with http:// or https:// ('\(excerpt(raw))')")
        }
        guard url.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw .argument("base_url: must be printable ASCII without spaces (percent-encode the rest) ('\(excerpt(raw))')")
        }
        guard !url.contains("?"), !url.contains("#") else {
            throw .argument("base_url: must not contain a query or a fragment ('\(excerpt(raw))')")
        }
        let afterScheme = url.drop(while: { $0 != ":" }).dropFirst(3)
        let authority = afterScheme.prefix(while: { $0 != "/" })
        guard !authority.contains("@") else {
            throw .argument("base_url: must not carry credentials ('user@'); it is written in log lines")
        }
        // host[:port], or [IPv6]:port; the host itself must not be empty.
        let host = authority.hasPrefix("[") ? authority.prefix(while: { $0 != "]" }).dropFirst()
                                            : authority.prefix(while: { $0 != ":" })
        guard !host.isEmpty else { throw .argument("base_url: has no host ('\(excerpt(raw))')") }
        // After the host: nothing, or ':' and a port libcurl can connect to (it would take
        // "http://h:99999/" for another port, or fail only at the first send).
        let afterHost = authority.hasPrefix("[") ? authority.drop(while: { $0 != "]" }).dropFirst()
                                                 : authority.drop(while: { $0 != ":" })
        if !afterHost.isEmpty {
            let port = afterHost.dropFirst()
            guard afterHost.first == ":", !port.isEmpty, port.count <= 5, port.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  let number = Int(port), (1...65535).contains(number) else {
                throw .argument("base_url: the port must be a number from 1 to 65535 ('\(excerpt(raw))')")
            }
        }
        let path = afterScheme.dropFirst(authority.count)
        guard path.utf8.count <= maxPathBytes else {
            throw .argument("base_url: the path is \(path.utf8.count) bytes, more than \(maxPathBytes) ('\(excerpt(raw))')")
        }
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        guard !segments.contains(where: { $0 == "." || $0 == ".." }) else {
            throw .argument("base_url: must not contain '.' or '..' path segments ('\(excerpt(raw))')")
        }
        if !url.hasSuffix("/") { url += "/" }
        return url
    }

    /// "/" for "https://hub.suprsend.com/", "/proxy/" for "http://127.0.0.1:8080/proxy/".
    static func path(of url: String) -> String {
        guard let schemeEnd = url.firstRange(of: "://") else { return "/" }
        let rest = url[schemeEnd.upperBound...]
        guard let slash = rest.firstIndex(of: "/") else { return "/" }
        return String(rest[slash...])
    }
}
