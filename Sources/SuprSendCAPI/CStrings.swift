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
        UnsafePointer(OwnedCString.copy(Array(text.utf8)))
    }

    nonisolated(unsafe) private static let emptyPointer = OwnedCString.copy([])

    static var empty: UnsafePointer<CChar> { UnsafePointer(emptyPointer) }
}

/// A NUL-terminated copy of some text or bytes, owned by the object that returns it to C
/// and freed with that object. An embedded NUL ends the string early; C cannot see past it.
final class OwnedCString {
    let pointer: UnsafeMutablePointer<CChar>

    init(_ text: String) {
        var text = text
        // The string's own UTF-8 storage when it has one (native strings do): no array between.
        pointer = text.withUTF8 { Self.copy(UnsafeRawBufferPointer($0)) }
    }

    init(bytes: [UInt8]) {
        pointer = Self.copy(bytes)
    }

    deinit { pointer.deallocate() }

    var cString: UnsafePointer<CChar> { UnsafePointer(pointer) }

    /// The bytes and a NUL, in memory the caller owns (free with deallocate()).
    static func copy(_ bytes: [UInt8]) -> UnsafeMutablePointer<CChar> {
        bytes.withUnsafeBytes { copy($0) }
    }

    static func copy(_ source: UnsafeRawBufferPointer) -> UnsafeMutablePointer<CChar> {
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: source.count + 1)
        if let base = source.baseAddress {
            UnsafeMutableRawPointer(buffer).copyMemory(from: base, byteCount: source.count)
        }
        buffer[source.count] = 0
        return buffer
    }
}
