// Appends JSON to a byte buffer for building request bodies.
//
// The body is signed byte for byte, so the writer produces bytes directly: no intermediate
// `String`, no per-character work for text that needs no escaping.

struct JSONWriter {
    var bytes: [UInt8]

    init(reservingCapacity capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(max(0, capacity))
    }

    // MARK: Raw bytes (the caller vouches for them being JSON)

    @inline(__always)
    mutating func appendRaw(_ raw: UnsafeBufferPointer<UInt8>) {
        bytes.append(contentsOf: raw)
    }

    @inline(__always)
    mutating func appendRaw(_ raw: StaticString) {
        raw.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    @inline(__always)
    mutating func appendRaw<Bytes: Collection>(_ raw: Bytes) where Bytes.Element == UInt8 {
        bytes.append(contentsOf: raw)
    }

    @inline(__always)
    mutating func appendRawByte(_ byte: UInt8) {
        bytes.append(byte)
    }

    // MARK: Values

    /// Appends `string` quoted, escaping `"`, `\` and U+0000...U+001F; everything else
    /// (including `/` and non-ASCII) is written as its UTF-8 bytes.
    mutating func appendString(_ string: String) {
        let wroteContiguously: Void? = string.utf8.withContiguousStorageIfAvailable { utf8 in
            appendQuoted(utf8: utf8)
        }
        if wroteContiguously == nil {
            // Rare (bridged or lazily-built strings): copy once into native storage.
            var native = string
            native.makeContiguousUTF8()
            let wroteNative: Void? = native.utf8.withContiguousStorageIfAvailable { utf8 in
                appendQuoted(utf8: utf8)
            }
            if wroteNative == nil {
                Array(string.utf8).withUnsafeBufferPointer { appendQuoted(utf8: $0) }
            }
        }
    }

    /// Appends already-valid UTF-8 text quoted and escaped. Runs that need no escaping are
    /// copied in bulk.
    mutating func appendQuoted(utf8: UnsafeBufferPointer<UInt8>) {
        bytes.append(JSONByte.quote)
        var runStart = 0
        var index = 0
        while index < utf8.count {
            let byte = utf8[index]
            if Self.needsNoEscape[Int(byte)] {
                index += 1
                continue
            }
            if runStart < index {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
            }
            appendEscape(for: byte)
            index += 1
            runStart = index
        }
        if runStart < utf8.count {
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<utf8.count]))
        }
        bytes.append(JSONByte.quote)
    }

    /// Whether a byte goes into a JSON string as it is: all but control characters, '"' and '\\'.
    private static let needsNoEscape: [Bool] = (0..<256).map { byte in
        byte >= 0x20 && byte != Int(JSONByte.quote) && byte != Int(JSONByte.backslash)
    }

    private mutating func appendEscape(for byte: UInt8) {
        bytes.append(JSONByte.backslash)
        switch byte {
        case JSONByte.quote: bytes.append(JSONByte.quote)
        case JSONByte.backslash: bytes.append(JSONByte.backslash)
        case 0x08: bytes.append(UInt8(ascii: "b"))
        case 0x09: bytes.append(UInt8(ascii: "t"))
        case 0x0A: bytes.append(UInt8(ascii: "n"))
        case 0x0C: bytes.append(UInt8(ascii: "f"))
        case 0x0D: bytes.append(UInt8(ascii: "r"))
        default:
            bytes.append(UInt8(ascii: "u"))
            bytes.append(UInt8(ascii: "0"))
            bytes.append(UInt8(ascii: "0"))
            bytes.append(Hex.digit(byte >> 4))
            bytes.append(Hex.digit(byte & 0x0F))
        }
    }

    /// Appends `value` in decimal, writing the digits in place (no `String` round trip).
    mutating func appendInt(_ value: Int64) {
        if value < 0 { bytes.append(JSONByte.minus) }
        // `magnitude` is a UInt64, so Int64.min needs no special case.
        var remaining = value.magnitude
        var digitCount = 1
        var probe = remaining
        while probe >= 10 {
            probe /= 10
            digitCount += 1
        }
        let firstDigit = bytes.count
        bytes.append(contentsOf: repeatElement(JSONByte.zero, count: digitCount))
        bytes.withUnsafeMutableBufferPointer { buffer in
            var index = firstDigit + digitCount - 1
            while index >= firstDigit {
                buffer[index] = JSONByte.zero &+ UInt8(truncatingIfNeeded: remaining % 10)
                remaining /= 10
                index -= 1
            }
        }
    }

    @inline(__always)
    mutating func appendInt(_ value: Int) {
        appendInt(Int64(truncatingIfNeeded: value))
    }

    mutating func appendBool(_ value: Bool) {
        appendRaw(value ? "true" : "false")
    }

    mutating func appendNull() {
        appendRaw("null")
    }

    /// `string` as a quoted, escaped JSON string.
    static func quoted(_ string: String) -> [UInt8] {
        var writer = JSONWriter(reservingCapacity: string.utf8.count + 2)
        writer.appendString(string)
        return writer.bytes
    }
}
