import Glibc
import SuprSendCore

/// suprsend_last_error(): one message per thread, as a malloc'd C string held in a pthread
/// key (freed when the thread ends or the next message replaces it). Swift's own
/// thread-locals are not used: the message must outlive Swift frames and be readable from C.
enum LastError {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { free($0) }
        return key
    }()

    static func set(_ message: String) {
        let previous = pthread_getspecific(key)
        pthread_setspecific(key, strdup(message))
        free(previous)
    }

    static var current: UnsafePointer<CChar> {
        guard let message = pthread_getspecific(key) else { return CText.empty }
        return UnsafePointer(message.assumingMemoryBound(to: CChar.self))
    }

    /// Records the error for this thread and gives its status as the C return value.
    static func report(_ error: SuprSendError) -> Int32 {
        set(error.message)
        return error.status.rawValue
    }
}
