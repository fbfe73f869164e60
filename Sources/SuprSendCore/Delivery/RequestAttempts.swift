/// The attempts of one call (a single event, or one request of a bulk): after each attempt,
/// whether to send again and after how long, by the retry classes (wire-protocol.md), the
/// call's deadline, and whether the events carry idempotency keys.
///
/// It does no I/O, reads no clock and takes no lock: its drivers do. `RequestSender.send`
/// runs it on the caller's thread, sleeping through its waits; `AsyncCalls` runs many at once
/// on one thread over libcurl's multi interface, with timers for its waits. Its log lines are
/// returned (`lines`), for the driver to write outside any lock.
struct RequestAttempts {
    /// What the driver does next.
    enum Step {
        /// Send attempt number `attempt`, with at most this long for it (what is left of the
        /// deadline).
        case send(timeoutMilliseconds: Int)
        /// Wait this long, then call `resume`.
        case wait(seconds: Double)
        /// The call is over.
        case finish(RequestSender.Delivery)
    }

    let url: String
    let attemptsAllowed: Int
    /// Monotonic seconds: no attempt or wait starts after it.
    let deadline: Double
    let retryPolicy: RetryPolicy
    private let keyed: @Sendable () -> Bool
    private var knownKeyed: Bool?
    private(set) var attempt = 0
    /// Log lines the last step made, for the driver to write.
    private(set) var lines: [(LogLevel, String)] = []

    /// Less than this left of a deadline is no time for an attempt.
    static let leastAttemptSeconds = 0.05

    /// `keyed` says whether every event of the body carries an idempotency key, so that the
    /// hub drops a repeat: only then is a request that may have been processed (no answer
    /// after it went out, 500, 502, 504) sent again. Asked only when such a failure happens.
    init(url: String, retryPolicy: RetryPolicy, deadline: Double, keyed: @escaping @Sendable () -> Bool) {
        self.url = url
        self.retryPolicy = retryPolicy
        self.attemptsAllowed = retryPolicy.maxRetries + 1
        self.deadline = deadline
        self.keyed = keyed
    }

    private mutating func isKeyed() -> Bool {
        if let knownKeyed { return knownKeyed }
        let answer = keyed()
        knownKeyed = answer
        return answer
    }

    /// The first attempt, unless the deadline has passed already.
    mutating func begin(now: Double) -> Step {
        lines.removeAll()
        guard deadline - now >= Self.leastAttemptSeconds else {
            return .finish(RequestSender.Delivery(answer: nil, failure: TransportFailure(.permanent, "not sent: the call's "
                + "deadline (call_timeout_ms) passed before the request could start"), attempts: 0))
        }
        return resume(now: now)
    }

    /// The next attempt, after a wait.
    mutating func resume(now: Double) -> Step {
        attempt += 1
        return .send(timeoutMilliseconds: max(Int(((deadline - now) * 1000).rounded(.down)), 1))
    }

    /// An attempt ended (`now`: monotonic seconds; `unixNow`: for a Retry-After date).
    mutating func ended(_ result: Result<HTTPAnswer, TransportFailure>, now: Double, unixNow: Int,
                        unitRandom: () -> Double) -> Step {
        lines.removeAll()
        let transient: AttemptEnd.Transient
        switch AttemptEnd(result) {
        case .final, .permanent:
            return finish(result)
        case .transient(let end):
            transient = end
        }
        guard attempt < attemptsAllowed else { return finish(result) }
        guard RetryPolicy.maySendAgain(mayHaveBeenProcessed: transient.mayHaveBeenProcessed, keyed: isKeyed()) else {
            switch result {
            case .success(let answer):
                lines.append((.warning, "POST \(url) answered HTTP \(answer.status); not sent again: \(RetryPolicy.unkeyedNote)"))
                return finish(result)
            case .failure(var told):
                told.message += "; not sent again: " + RetryPolicy.unkeyedNote
                return finish(.failure(told))
            }
        }
        let retryAfter = transient.retryAfter.flatMap { RetryPolicy.parseRetryAfter($0, nowUnixSeconds: unixNow) }
        let reason = transient.reason
        var wait = retryPolicy.delay(beforeRetry: attempt, retryAfter: retryAfter, unitRandom: unitRandom)
        let left = deadline - now
        let hubWait = retryAfter.map { min(max($0, 0), RetryPolicy.retryAfterCap) } ?? 0
        if hubWait >= left || left - hubWait < Self.leastAttemptSeconds {
            // No time for another attempt (the hub's wait is not ours to shorten): the last
            // outcome stands.
            let why = retryAfter != nil && hubWait >= left
                ? "the hub asked to wait \(milliseconds(hubWait)) ms (Retry-After), more than the \(milliseconds(max(left, 0))) ms left"
                : "no time is left"
            lines.append((.warning, "attempt \(attempt) to POST \(url) failed (\(reason)); not retried: \(why) "
                + "of the call (call_timeout_ms)"))
            guard case .failure(var failure) = result else { return finish(result) }
            failure.message += "; not retried: \(why) of the call (call_timeout_ms)"
            return finish(.failure(failure))
        }
        // Leave the next attempt at least half of what is left.
        wait = min(wait, max(hubWait, left / 2))
        lines.append((.warning, "attempt \(attempt) of \(attemptsAllowed) to POST \(url) failed (\(reason)); "
            + "retrying in \(milliseconds(wait)) ms"))
        return .wait(seconds: wait)
    }

    /// The call is over with this last outcome.
    private func finish(_ result: Result<HTTPAnswer, TransportFailure>) -> Step {
        switch result {
        case .success(let answer): .finish(RequestSender.Delivery(answer: answer, failure: nil, attempts: attempt))
        case .failure(let failure): .finish(RequestSender.Delivery(answer: nil, failure: failure, attempts: attempt))
        }
    }

    private func milliseconds(_ seconds: Double) -> Int { Int((seconds * 1000).rounded()) }
}
