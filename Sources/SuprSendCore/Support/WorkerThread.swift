import Glibc

/// A plain POSIX thread running a closure: the library runs inside C hosts and uses no
/// Swift concurrency (a C host never drains its executors, and a forked child would hang).
final class WorkerThread: @unchecked Sendable {
    private var thread = pthread_t()
    private var joined = false

    private final class Start {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    /// Starts the thread, or returns nil (with errno's text) when the system refuses.
    static func start(name: String, _ body: @escaping () -> Void) -> Result<WorkerThread, SuprSendError> {
        let worker = WorkerThread()
        let context = Unmanaged.passRetained(Start(body)).toOpaque()
        let code = pthread_create(&worker.thread, nil, { context in
            let start = Unmanaged<Start>.fromOpaque(context!).takeRetainedValue()
            start.body()
            return nil
        }, context)
        guard code == 0 else {
            Unmanaged<Start>.fromOpaque(context).release()
            return .failure(SuprSendError(.internal, "could not start the \(name) thread: \(systemErrorMessage(code))"))
        }
        return .success(worker)
    }

    /// Waits for the thread to end. Must not be called from the thread itself.
    func join() {
        guard !joined else { return }
        joined = true
        pthread_join(thread, nil)
    }

    var isCurrent: Bool { pthread_equal(thread, pthread_self()) != 0 }
}
