import Synchronization

/// A SuprSend client: the rules, the wire format and the delivery machinery put together.
/// Safe to share between threads.
///
/// Two ways to send, one pipeline (prepare -> batch -> send -> read the answer -> fates):
/// `track` and `BulkBatch` run it on the caller's thread and wait; `enqueue` hands the
/// prepared event to a queue that a worker thread sends from (`BackgroundDelivery`).
public final class Client: @unchecked Sendable {
    public let configuration: Configuration
    let preparer: EventPreparer
    let sender: RequestSender
    var logger: Logger { configuration.logger }

    /// Makes the transport of the background worker (libcurl's multi interface, or a script).
    public typealias ConcurrentTransportFactory = @Sendable () -> Result<ConcurrentTransport, TransportFailure>
    private let makeConcurrentTransport: ConcurrentTransportFactory
    private let workerClock: WorkerClock
    /// This process's background delivery, made by the first enqueue (or anew in a forked child).
    private let backgroundLock = Lock()
    private var backgroundDelivery: BackgroundDelivery?
    /// This process's asynchronous calls, made by the first one (or anew in a forked child).
    private var asyncCallsOfProcess: AsyncCalls?
    private let closed = Atomic<Bool>(false)

    /// A client that talks to the hub through libcurl.
    public convenience init(configuration: Configuration) throws(SuprSendError) {
        var settings = CurlTransport.Settings()
        settings.timeoutMilliseconds = configuration.timeoutMilliseconds
        settings.connectTimeoutMilliseconds = configuration.connectTimeoutMilliseconds
        settings.proxy = configuration.proxy
        settings.caFile = configuration.caFile
        settings.userAgent = Configuration.userAgent
        let transport: CurlTransport
        do {
            transport = try CurlTransport(settings: settings)
        } catch {
            throw SuprSendError(.internal, error.message)
        }
        settings.maxHostConnections = configuration.maxConnections
        let fixedSettings = settings
        self.init(configuration: configuration, transport: transport,
                  concurrentTransport: {
                      do throws(TransportFailure) {
                          return .success(try CurlMultiTransport(settings: fixedSettings))
                      } catch {
                          return .failure(error)
                      }
                  })
        try openOutbox()
    }

    /// A client over any transports: tests use ones that answer from a script.
    public init(configuration: Configuration, transport: HTTPTransport,
                concurrentTransport: ConcurrentTransportFactory? = nil,
                workerClock: WorkerClock = SystemClock(),
                sleep: (@Sendable (Double) -> Void)? = nil) {
        self.configuration = configuration
        self.preparer = EventPreparer(workspaceKey: configuration.workspaceKey, sdkVersion: Configuration.userAgent,
                                      rules: EventRules(maxEventBytes: configuration.maxEventBytes),
                                      autoIdempotency: configuration.autoIdempotency)
        self.sender = RequestSender(baseURL: configuration.baseURL, workspaceKey: configuration.workspaceKey,
                                    workspaceSecret: configuration.workspaceSecret, transport: transport,
                                    retryPolicy: RetryPolicy(maxRetries: configuration.maxRetries),
                                    logger: configuration.logger, sleep: sleep,
                                    callTimeoutMilliseconds: configuration.callTimeoutMilliseconds)
        self.makeConcurrentTransport = concurrentTransport ?? {
            .failure(TransportFailure(.permanent, "this client has no transport for background delivery"))
        }
        self.workerClock = workerClock
    }

    deinit {
        if let calls = asyncCallsOfProcess {
            if calls.generation == ForkGeneration.current {
                calls.close(deadline: Clock.monotonicSeconds())
            } else {
                calls.abandonAfterFork()
            }
        }
        // A client dropped without close: its worker must not run on forever.
        guard let delivery = backgroundDelivery else { return }
        if closed.load(ordering: .acquiring), delivery.generation == ForkGeneration.current { return }
        if delivery.generation == ForkGeneration.current {
            _ = delivery.close(deadline: Clock.monotonicSeconds())
        } else {
            delivery.abandonAfterFork()  // the parent's: left untouched
        }
    }

    /// What became of one event sent with `track`.
    public struct TrackResult: Sendable {
        /// .ok when the hub accepted it; .http or .network otherwise.
        public var status: Status
        public var statusCode: Int
        public var message: String
        public var body: [UInt8]
        public var accepted: Bool { status == .ok }
    }

    /// Validates and sends one event, blocking until the hub answers or every try failed.
    /// Throws when the event breaks a rule (nothing is sent).
    public func track(_ event: Event) throws(SuprSendError) -> TrackResult {
        try checkOpen()
        let prepared = try prepare(event)
        return trackResult(sender.send(.event, body: prepared.json), eventName: event.name)
    }

    /// Checks and serializes the event now, then sends it on the client's asynchronous calls'
    /// thread; `done` gets what `track` would have returned, or `.closed` when the client
    /// closed first, on that thread. Throws (and never calls `done`) for a bad event or a
    /// closed client.
    public func trackAsync(_ event: Event,
                           done: @escaping @Sendable (Result<TrackResult, SuprSendError>) -> Void) throws(SuprSendError) {
        try checkOpen()
        let prepared = try prepare(event)
        let name = event.name
        try asyncCalls().submit(.event, body: prepared.json) { [self] result in
            done(result.map { trackResult($0, eventName: name) })
        }
    }

    /// What became of a single event, from its request's end.
    private func trackResult(_ delivery: RequestSender.Delivery, eventName: String) -> TrackResult {
        guard let answer = delivery.answer else {
            let message = delivery.noAnswerMessage
            logger.log(.error, message)
            return TrackResult(status: .network, statusCode: 0, message: message, body: [])
        }
        let outcome = HubResponses.single(status: answer.status, body: answer.body)
        if !outcome.accepted {
            logger.log(.error, "the hub refused event '\(excerpt(eventName))' (HTTP \(answer.status)): \(outcome.message)")
        }
        return TrackResult(status: outcome.accepted ? .ok : .http, statusCode: answer.status,
                           message: outcome.message, body: answer.body)
    }

    /// This process's asynchronous calls: made on first use, and anew in a forked child.
    func asyncCalls() throws(SuprSendError) -> AsyncCalls {
        let result: Result<AsyncCalls, SuprSendError> = backgroundLock.withLock {
            if let existing = asyncCallsOfProcess {
                if existing.generation == ForkGeneration.current { return .success(existing) }
                existing.abandonAfterFork()
                asyncCallsOfProcess = nil
            }
            switch makeConcurrentTransport() {
            case .success(let transport):
                let calls = AsyncCalls(sender: sender, transport: transport)
                asyncCallsOfProcess = calls
                return .success(calls)
            case .failure(let error):
                return .failure(SuprSendError(.internal, "asynchronous calls could not start: \(error.message)"))
            }
        }
        return try result.get()
    }

    /// Checks and serializes one occurrence of the event (throws when it breaks a rule).
    private func prepare(_ event: Event) throws(SuprSendError) -> PreparedEvent {
        switch preparer.prepare(event) {
        case .success(let prepared):
            logSkippedAttachments(eventName: event.name, notes: event.skippedAttachments)
            return prepared
        case .failure(let rejected):
            throw rejected.error
        }
    }

    /// Warns, when an event is sent, of the files ignore_if_error let it go without.
    func logSkippedAttachments(eventName: String, notes: [String]) {
        for note in notes {
            logger.log(.warning, "event '\(excerpt(eventName))': attachment skipped (ignore_if_error): \(note)")
        }
    }

    // MARK: - Background delivery

    /// With an outbox: opens it now (so that a bad path fails here) and starts the worker, which
    /// delivers what earlier clients left in it.
    public func openOutbox() throws(SuprSendError) {
        guard configuration.outboxPath != nil else { return }
        try background(create: true)!.start()
    }

    /// Checks and serializes the event now, queues it for the worker and returns; never waits
    /// on the network. Throws for a bad event, a full queue, a failed outbox, a closed client.
    public func enqueue(_ event: Event) throws(SuprSendError) {
        try checkOpen("; nothing was queued")
        let prepared = try prepare(event)
        try background(create: true)!.enqueue(prepared)
    }

    /// Throws `.closed` once `close` has begun.
    func checkOpen(_ consequence: String = "") throws(SuprSendError) {
        guard closed.load(ordering: .acquiring) else { return }
        throw SuprSendError(.closed, "the client is closed\(consequence)")
    }

    /// Waits until every event enqueued before the call has its fate, or `timeoutMilliseconds`
    /// pass (negative: no deadline). Throws `.timeout` then, `.storage` when the outbox is
    /// damaged (at once) or was failing at the deadline, `.closed` after close.
    public func flush(timeoutMilliseconds: Int) throws(SuprSendError) {
        try checkOpen()
        guard let delivery = try background(create: false) else { return }
        switch delivery.flush(deadline: deadline(afterMilliseconds: timeoutMilliseconds)) {
        case .done:
            return
        case .failed(let error):
            throw error
        case .timedOut:
            throw SuprSendError(.timeout, "flush: events enqueued before the call still have no fate after "
                + "\(timeoutMilliseconds) ms (they go on being delivered; suprsend_client_stat says how many wait)")
        }
    }

    /// Stops accepting events and calls, delivers what it can before the deadline and stops the
    /// worker. Throws `.timeout` when events were left without a fate, `.storage` when the
    /// outbox is damaged or failing (events may be stuck in it), `.closed` when it was closed
    /// before. Every later call throws `.closed`; the client stays usable for `deliveryStats`.
    public func close(timeoutMilliseconds: Int) throws(SuprSendError) {
        guard closed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            throw SuprSendError(.closed, "close: the client is already closed")
        }
        let deadline = deadline(afterMilliseconds: timeoutMilliseconds)
        // Asynchronous calls in flight get the deadline too, side by side with the queue.
        let calls: AsyncCalls? = backgroundLock.withLock {
            asyncCallsOfProcess?.generation == ForkGeneration.current ? asyncCallsOfProcess : nil
        }
        defer { calls?.close(deadline: deadline) }
        guard let delivery = try background(create: false) else { return }
        switch delivery.close(deadline: deadline) {
        case .done:
            return
        case .failed(let error):
            throw error
        case .timedOut:
            let fate = delivery.queue.isDurable ? "they stay in the outbox for the next client"
                : "reported to the delivery callback as SUPRSEND_E_CLOSED"
            throw SuprSendError(.timeout, "close: some events had no fate when the deadline of \(timeoutMilliseconds) ms "
                + "passed (\(fate))")
        }
    }

    /// Whether `close` has begun.
    public var isClosed: Bool { closed.load(ordering: .acquiring) }

    public var deliveryStats: DeliveryStats {
        (try? background(create: false))?.worker.stats ?? DeliveryStats()
    }

    private func deadline(afterMilliseconds milliseconds: Int) -> Double? {
        milliseconds < 0 ? nil : workerClock.monotonicSeconds() + Double(milliseconds) / 1000
    }

    /// This process's background delivery: made on first use, and made anew in a forked child
    /// (which never touches its parent's: its queue, its worker, its connections).
    private func background(create: Bool) throws(SuprSendError) -> BackgroundDelivery? {
        let result: Result<BackgroundDelivery?, SuprSendError> = backgroundLock.withLock {
            if let existing = backgroundDelivery {
                if existing.generation == ForkGeneration.current { return .success(existing) }
                existing.abandonAfterFork()
                backgroundDelivery = nil
            }
            guard create else { return .success(nil) }
            let queue: EventQueue
            if let path = configuration.outboxPath {
                // A lease outlasts one request (twice its timeout, and 5 s to read the answer and
                // settle), and never more than 2 minutes.
                let lease = min(2 * Double(configuration.timeoutMilliseconds) / 1000 + 5, 120)
                do throws(SuprSendError) {
                    queue = try Outbox(path: path, workspaceKey: configuration.workspaceKey,
                                       maxBytes: configuration.outboxMaxBytes, leaseSeconds: lease,
                                       busyTimeoutMilliseconds: configuration.outboxBusyTimeoutMilliseconds,
                                       powerSafe: configuration.outboxPowerSafe, clock: workerClock, logger: logger)
                } catch {
                    return .failure(error)
                }
            } else {
                queue = MemoryQueue(capacity: configuration.queueCapacity)
            }
            let transport: ConcurrentTransport
            switch makeConcurrentTransport() {
            case .success(let made): transport = made
            case .failure(let error):
                return .failure(SuprSendError(.internal, "background delivery could not start: \(error.message)"))
            }
            let worker = DeliveryWorker(queue: queue, transport: transport, sender: sender,
                                        settings: configuration.workerSettings, clock: workerClock,
                                        onReport: configuration.onDelivery)
            let delivery = BackgroundDelivery(queue: queue, transport: transport, worker: worker, clock: workerClock)
            backgroundDelivery = delivery
            return .success(delivery)
        }
        return try result.get()
    }
}
