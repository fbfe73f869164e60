import Synchronization

/// One client's background delivery in one process: the queue, the worker and the worker's
/// thread (started by the first enqueue). A forked child never uses its parent's: the client
/// makes a new one in the child (see `Client.background`), and the parent's is abandoned
/// there untouched, its connections closed without a word.
final class BackgroundDelivery: @unchecked Sendable {
    let generation = ForkGeneration.current
    let queue: EventQueue
    let worker: DeliveryWorker
    let transport: ConcurrentTransport
    private let clock: WorkerClock
    private let threadLock = Lock()
    private var thread: WorkerThread?
    private let started = Atomic<Bool>(false)
    private let closing = Atomic<Bool>(false)
    /// Wake the worker when this many events wait (a batch is full).
    private let batchSize: Int

    init(queue: EventQueue, transport: ConcurrentTransport, worker: DeliveryWorker, clock: WorkerClock) {
        self.queue = queue
        self.transport = transport
        self.worker = worker
        self.clock = clock
        self.batchSize = max(worker.settings.maxEventsPerRequest, 1)
    }

    /// Enqueues under way: a close waits for them before it fixes what it delivers, so that
    /// an event accepted on another thread as the close begins is never left behind.
    private let enqueuesUnderWay = Atomic<Int>(0)

    func enqueue(_ event: PreparedEvent) throws(SuprSendError) {
        // Announce, then look (and close: mark, then look): one of the two sees the other.
        enqueuesUnderWay.add(1, ordering: .sequentiallyConsistent)
        defer { enqueuesUnderWay.subtract(1, ordering: .sequentiallyConsistent) }
        guard !closing.load(ordering: .sequentiallyConsistent) else {
            throw SuprSendError(.closed, "the client is closed; nothing was queued")
        }
        if !started.load(ordering: .acquiring) { try start() }
        let (_, waiting) = try queue.add(event)
        // The worker sleeps until the oldest event's flush interval ends or a batch is full:
        // it needs to hear of the first event, and of each full batch.
        if waiting == 1 || waiting % batchSize == 0 { worker.wake() }
    }

    /// Starts the worker's thread, once.
    func start() throws(SuprSendError) {
        let result: Result<Void, SuprSendError> = threadLock.withLock {
            guard thread == nil else { return .success(()) }
            let worker = self.worker
            switch WorkerThread.start(name: "suprsend-worker", { worker.run() }) {
            case .success(let started):
                thread = started
                self.started.store(true, ordering: .releasing)
                return .success(())
            case .failure(let error):
                return .failure(error)
            }
        }
        try result.get()
    }

    private var workerThread: WorkerThread? { threadLock.withLock { thread } }

    /// Waits until every event enqueued so far has its fate, or the deadline (monotonic
    /// seconds; nil: none). Times out at once on the worker's own thread, which cannot wait
    /// for itself.
    func flush(deadline: Double?) -> DeliveryWorker.FlushOutcome {
        guard let thread = workerThread else { return queue.damage.map { .failed($0) } ?? .done }
        guard !thread.isCurrent else { return .timedOut }
        return worker.flush(upTo: queue.lastSequence, deadline: deadline)
    }

    /// Stops accepting events, delivers what it can before the deadline, stops the worker.
    /// `.done` when no event was left without a fate.
    func close(deadline: Double?) -> DeliveryWorker.FlushOutcome {
        closing.store(true, ordering: .sequentiallyConsistent)
        // The enqueues that got past the check finish first (an outbox's busy timeout at most).
        while enqueuesUnderWay.load(ordering: .sequentiallyConsistent) > 0 { Clock.sleep(seconds: 0.0002) }
        guard let thread = workerThread else { return queue.damage.map { .failed($0) } ?? .done }
        let last = queue.lastSequence
        worker.beginClosing(upTo: last)
        guard !thread.isCurrent else {
            // Closed from the delivery callback: the worker stops after this turn.
            worker.requestStop()
            return .timedOut
        }
        let flushed = worker.flush(upTo: last, deadline: deadline)
        worker.requestStop()
        thread.join()
        if let damage = queue.damage { return .failed(damage) }
        // A flush that ran out of time while callbacks were still running may leave nothing
        // behind: what counts is what had no fate when the worker stopped.
        if worker.leftAtStop == 0 { return .done }
        if case .failed = flushed { return flushed }
        return queue.failure.map { .failed($0) } ?? .timedOut
    }

    /// In a forked child: this delivery is the parent's. Its queue is the parent's business
    /// and its worker thread does not exist here; only its connections are closed.
    func abandonAfterFork() {
        transport.abandonAfterFork()
        AbandonedHandles.keep(object: self)
    }
}
