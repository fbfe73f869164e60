/// When to try a request again and how long to wait first (wire-protocol.md, "Retry classes").
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
