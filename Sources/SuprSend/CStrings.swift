import Glibc
import SuprSendCore

/// Text that crosses the C boundary.
enum CText {
    /// A caller's string as Swift text: NULL and invalid UTF-8 are errors naming the field.
    static func decode(_ pointer: UnsafePointer<CChar>?, _ field: String) throws(SuprSendError) -> String {
        guard let pointer else { throw SuprSendError(.argument, "\(field): must not be NULL") }
        guard let text = String(validatingCString: pointer) else {
            throw SuprSendError(.argument, "\(field): not valid UTF-8")
        }
        return text
    }

    /// Like `decode`, but NULL is "not given".
    static func decodeOptional(_ pointer: UnsafePointer<CChar>?, _ field: String) throws(SuprSendError) -> String? {
        guard pointer != nil else { return nil }
        return try decode(pointer, field)
    }

    /// A C string that lives for the whole process, for names and versions.
    static func immortal(_ text: String) -> UnsafePointer<CChar> {
        UnsafePointer(strdup(text) ?? emptyPointer)
    }

    nonisolated(unsafe) static let emptyPointer: UnsafeMutablePointer<CChar> = {
        let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: 1)
        pointer.initialize(to: 0)
        return pointer
    }()

    static var empty: UnsafePointer<CChar> { UnsafePointer(emptyPointer) }
}

/// A NUL-terminated copy of some text or bytes, owned by the object that returns it to C
/// and freed with that object. An embedded NUL ends the string early; C cannot see past it.
final class OwnedCString {
    let pointer: UnsafeMutablePointer<CChar>

    init(_ text: String) {
        pointer = strdup(text) ?? OwnedCString.fallback()
    }

    init(bytes: [UInt8]) {
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
        bytes.withUnsafeBufferPointer { source in
            if let base = source.baseAddress {
                UnsafeMutableRawPointer(buffer).copyMemory(from: base, byteCount: bytes.count)
            }
        }
        buffer[bytes.count] = 0
        pointer = buffer
    }

    deinit { free(pointer) }

    var cString: UnsafePointer<CChar> { UnsafePointer(pointer) }

    /// strdup fails only when memory is exhausted; an empty string keeps the promise of
    /// "never NULL" without trapping.
    private static func fallback() -> UnsafeMutablePointer<CChar> {
        let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: 1)
        pointer.initialize(to: 0)
        return pointer
    }
}
