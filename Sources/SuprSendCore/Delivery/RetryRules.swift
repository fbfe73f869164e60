// The retry rules, in one place (wire-protocol.md, "Retry classes"): which ends of an attempt
// are final (`AttemptEnd`), what sending again could risk (`RetryPolicy.maySendAgain`), and how
// long to wait first (`RetryPolicy.delay`). Their drivers: `RequestAttempts` for a call (blocking
// or asynchronous) and `WorkerCore` for background delivery.

/// An attempt's end as the retry rules read it.
enum AttemptEnd {
    /// An answer to read: a success, or a refusal that trying again will not change.
    case final(HTTPAnswer)
    /// A refusal or failure that may pass ("not now"): 408, 429, 5xx, or no answer.
    case transient(Transient)
    /// No answer, and none will come from trying again soon (a bad URL, a refused
    /// certificate). A call ends with it; background delivery retries it until the events
    /// expire, since the cause may be fixed while they wait.
    case permanent(TransportFailure)

    struct Transient {
        /// What happened, for log lines and messages: "HTTP 503", or the failure's message.
        var reason: String
        /// The hub's status; 0 when no answer came.
        var httpStatus: Int
        /// The hub's Retry-After header, unparsed.
        var retryAfter: String?
        /// Whether the hub may have processed the request: a 500, 502 or 504, or no answer
        /// after the request went out.
        var mayHaveBeenProcessed: Bool
    }

    init(_ result: Result<HTTPAnswer, TransportFailure>) {
        switch result {
        case .success(let answer) where RetryPolicy.isRetryable(status: answer.status):
            self = .transient(Transient(reason: "HTTP \(answer.status)", httpStatus: answer.status, retryAfter: answer.retryAfter,
                                        mayHaveBeenProcessed: !RetryPolicy.certainlyNotProcessed(status: answer.status)))
        case .success(let answer):
            self = .final(answer)
        case .failure(let failure) where failure.kind == .transient:
            self = .transient(Transient(reason: failure.message, httpStatus: 0, retryAfter: nil,
                                        mayHaveBeenProcessed: failure.mayHaveBeenProcessed))
        case .failure(let failure):
            self = .permanent(failure)
        }
    }
}

/// When to try a request again and how long to wait first.
///
/// Waits grow exponentially with "full jitter" (a uniform draw between zero and the
/// exponential bound), which spreads out clients that failed together. A Retry-After header
/// is honoured as the least wait, capped so that a hostile or broken server cannot park a
/// caller's thread for long.
public struct RetryPolicy: Sendable {
    public static let defaultMaxRetries = 3
    public static let maxRetriesLimit = 20
    public static let retryAfterCap = 60.0

    public var maxRetries: Int
    public var baseDelay: Double
    public var maxDelay: Double

    public init(maxRetries: Int = defaultMaxRetries, baseDelay: Double = 0.5, maxDelay: Double = 30) {
        self.maxRetries = maxRetries
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// Statuses that say "not now" rather than "never".
    public static func isRetryable(status: Int) -> Bool {
        switch status {
        case 408, 429, 500, 502, 503, 504: true
        default: false
        }
    }

    /// Refusals that say the request was not processed, so that sending it again cannot
    /// process it twice: 408 (the request did not arrive whole), 429 and 503 (turned away).
    /// A 500, 502 or 504 may come after the work was done.
    public static func certainlyNotProcessed(status: Int) -> Bool {
        switch status {
        case 408, 429, 503: true
        default: false
        }
    }

    /// Whether a request that failed may be sent again without risking that the hub
    /// processes its events twice: when it certainly was not processed, or when every event in
    /// it carries an idempotency key (the hub drops a repeat).
    static func maySendAgain(mayHaveBeenProcessed: Bool, keyed: @autoclosure () -> Bool) -> Bool {
        !mayHaveBeenProcessed || keyed()
    }

    static let unkeyedNote = "the hub may have processed it, and without an idempotency key "
        + "(auto_idempotency is off) a retry could process it twice"

    /// The wait before retry number `retry` (1 for the first retry). `unitRandom` returns a
    /// value in 0..<1.
    public func delay(beforeRetry retry: Int, retryAfter: Double?, unitRandom: () -> Double) -> Double {
        let exponent = Double(min(max(retry - 1, 0), 30))
        let bound = min(maxDelay, baseDelay * pow2(exponent))
        let jittered = bound * min(max(unitRandom(), 0), 1)
        guard let retryAfter else { return jittered }
        return max(jittered, min(max(retryAfter, 0), Self.retryAfterCap))
    }

    private func pow2(_ exponent: Double) -> Double {
        var value = 1.0
        for _ in 0..<Int(exponent) { value *= 2 }
        return value
    }

    /// Seconds to wait from a Retry-After value: delay-seconds ("120") or an HTTP date.
    /// Nil when it is neither; a date in the past is 0.
    public static func parseRetryAfter(_ value: String, nowUnixSeconds: Int) -> Double? {
        let text = value.trimmingWhitespace()
        if !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
            // Digits only; anything too long to be an Int is "very long", i.e. the cap.
            return Double(Int(text) ?? Int(retryAfterCap))
        }
        guard let date = HTTPDate.parse(text) else { return nil }
        return Double(max(date - nowUnixSeconds, 0))
    }
}
