import Glibc

/// Runs a blocking call (the core's flush and close wait on a condition variable for up to
/// their deadline) on a thread of its own, never on a thread of Swift's cooperative pool, and
/// resumes the caller with its result.
func onDedicatedThread<Value: Sendable>(
    _ body: @escaping @Sendable () throws(SuprSendError) -> Value
) async throws(SuprSendError) -> Value {
    let result: Result<Value, SuprSendError> = await withCheckedContinuation { continuation in
        let work = ThreadWork {
            do throws(SuprSendError) {
                continuation.resume(returning: .success(try body()))
            } catch {
                continuation.resume(returning: .failure(error))
            }
        }
        var thread = pthread_t()
        let context = Unmanaged.passRetained(work).toOpaque()
        let started = pthread_create(&thread, nil, { context in
            let work = Unmanaged<ThreadWork>.fromOpaque(context!).takeRetainedValue()
            work.run()
            return nil
        }, context)
        if started == 0 {
            pthread_detach(thread)
        } else {
            Unmanaged<ThreadWork>.fromOpaque(context).release()
            continuation.resume(returning: .failure(SuprSendError(
                code: .internal, message: "could not start a thread (pthread_create: \(started))")))
        }
    }
    return try result.get()
}

private final class ThreadWork: Sendable {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}
