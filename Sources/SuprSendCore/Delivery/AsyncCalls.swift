/// The asynchronous calls of one client in one process: many calls side by side on one thread
/// over libcurl's multi interface (reused connections), each driven by its `RequestAttempts`
/// (the blocking calls' retries and deadline), and each completed exactly once, on this
/// thread, never under a lock of the library.
///
/// Other threads only `submit` (which queues the call and wakes the thread) and `close`.
/// The thread starts with the first call and runs until the close.
final class AsyncCalls: @unchecked Sendable {
    /// How a call ended: its delivery, or `.closed` when the client closed before it could.
    typealias Completion = @Sendable (Result<RequestSender.Delivery, SuprSendError>) -> Void

    let generation = ForkGeneration.current
    private let sender: RequestSender
    private let transport: ConcurrentTransport
    private let unitRandom: @Sendable () -> Double

    /// Guards the inbox and the life cycle (held for bookkeeping only).
    private let lock = Lock()
    private var inbox: [Call] = []
    private var thread: WorkerThread?
    private var closing = false
    /// Set by `close`: calls still running then end as `.closed`.
    private var closeDeadline: Double?

    /// The thread's own: calls with a request in flight, and those waiting to retry.
    private var running: [Int: Call] = [:]
    private var waiting: [(until: Double, call: Call)] = []
    private var nextId = 1

    private struct Call {
        var attempts: RequestAttempts
        let requestURI: String
        let body: [UInt8]
        let done: Completion
        /// When its request in flight started (monotonic seconds), for the log.
        var started = 0.0
    }

    init(sender: RequestSender, transport: ConcurrentTransport, unitRandom: (@Sendable () -> Double)? = nil) {
        self.sender = sender
        self.transport = transport
        self.unitRandom = unitRandom ?? { SecureRandom.unitInterval() }
    }

    /// Queues one call; `done` runs later on the calls' thread. Throws `.closed` after
    /// `close`, and `.internal` when the thread cannot start (then `done` is never called).
    func submit(_ endpoint: RequestSender.Endpoint, body: [UInt8], keyed: (@Sendable () -> Bool)? = nil,
                deadline: Double? = nil, done: @escaping Completion) throws(SuprSendError) {
        let call = Call(attempts: sender.attempts(endpoint, body: body, keyed: keyed, deadline: deadline),
                        requestURI: sender.basePath + endpoint.path, body: body, done: done)
        let queued: Result<Bool, SuprSendError> = lock.withLock {
            guard !closing else { return .failure(SuprSendError(.closed, "the client is closed; nothing was sent")) }
            if thread == nil {
                switch WorkerThread.start(name: "suprsend-async", { [self] in run() }) {
                case .success(let started): thread = started
                case .failure(let error): return .failure(error)
                }
            }
            inbox.append(call)
            return .success(inbox.count == 1)
        }
        // One wake per batch: while the inbox holds calls, the wake that the first of them
        // sent is still to be answered (the thread empties the inbox after every wait), so
        // a burst of calls costs the thread one wake-up, not one each.
        if try queued.get() { transport.wake() }
    }

    /// Stops taking calls; those under way get until `deadline` (monotonic seconds; nil:
    /// none) to end, and the rest end as `.closed`. Returns when every call has completed.
    func close(deadline: Double?) {
        let started: WorkerThread? = lock.withLock {
            closing = true
            closeDeadline = deadline ?? .infinity
            return thread
        }
        guard let started, !started.isCurrent else { return }
        transport.wake()
        started.join()
    }

    /// In a forked child: the calls are the parent's; only the connections are closed.
    func abandonAfterFork() {
        transport.abandonAfterFork()
        AbandonedHandles.keep(object: self)
    }

    // MARK: - The calls' thread

    private typealias Ending = (done: Completion, result: Result<RequestSender.Delivery, SuprSendError>)

    private func run() {
        while true {
            var endings: [Ending] = []
            var lines: [(LogLevel, String)] = []
            let (arrived, deadline) = lock.withLock { () -> ([Call], Double?) in
                defer { inbox.removeAll() }
                return (inbox, closeDeadline)
            }
            let now = sender.monotonic()
            for call in arrived {
                var call = call
                let step = call.attempts.begin(now: now)
                follow(step, of: call, now: now, into: &endings, lines: &lines)
            }
            // Retries whose wait is over.
            let due = waiting.filter { $0.until <= now }
            waiting.removeAll { $0.until <= now }
            for (_, call) in due {
                var call = call
                let step = call.attempts.resume(now: now)
                follow(step, of: call, now: now, into: &endings, lines: &lines)
            }
            let idle = running.isEmpty && waiting.isEmpty
            if let deadline, idle || now >= deadline {
                // Closing: what is left ends now.
                transport.cancelAll()
                let left = Array(running.values) + waiting.map(\.call)
                running.removeAll()
                waiting.removeAll()
                let closed = SuprSendError(.closed, "the client was closed before the call ended")
                endings += left.map { ($0.done, .failure(closed)) }
                finish(endings, lines)
                // A call submitted between the look at the inbox and now: closed too.
                let late = lock.withLock { () -> [Call] in
                    defer { inbox.removeAll() }
                    return inbox
                }
                finish(late.map { ($0.done, .failure(closed)) }, [])
                return
            }
            finish(endings, lines)
            endings.removeAll()
            lines.removeAll()

            var timeout = 3600.0
            if let next = waiting.lazy.map(\.until).min() { timeout = min(timeout, max(next - now, 0)) }
            if let deadline { timeout = min(timeout, max(deadline - now, 0)) }
            let ended = transport.wait(timeout: timeout)
            let after = sender.monotonic()
            let unixNow = sender.now()
            for (id, result) in ended {
                guard var call = running.removeValue(forKey: id) else { continue }
                sender.logOutcome(result, seconds: after - call.started)
                let step = call.attempts.ended(result, now: after, unixNow: unixNow, unitRandom: unitRandom)
                lines += call.attempts.lines
                follow(step, of: call, now: after, into: &endings, lines: &lines)
            }
            finish(endings, lines)
        }
    }

    private func follow(_ step: RequestAttempts.Step, of call: Call, now: Double, into endings: inout [Ending],
                        lines: inout [(LogLevel, String)]) {
        switch step {
        case .send(let timeoutMilliseconds):
            var request = sender.signedRequest(url: call.attempts.url, requestURI: call.requestURI, body: call.body)
            request.timeoutMilliseconds = timeoutMilliseconds
            sender.logRequest(request, attempt: call.attempts.attempt, of: call.attempts.attemptsAllowed)
            let id = nextId
            nextId += 1
            var call = call
            call.started = now
            running[id] = call
            transport.start(request, id: id)
        case .wait(let seconds):
            waiting.append((now + seconds, call))
        case .finish(let delivery):
            endings.append((call.done, .success(delivery)))
        }
    }

    /// Writes the attempts' log lines, then completes the calls: on this thread, holding no lock.
    private func finish(_ endings: [Ending], _ lines: [(LogLevel, String)]) {
        for (level, line) in lines { sender.logger.log(level, line) }
        for (done, result) in endings { done(result) }
    }
}
