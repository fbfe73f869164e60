// An event's properties as JSON text, written from `[String: EventValue]` once per `track` or
// `enqueue`. This is most of what the Swift product adds to the core's cost per event, so the
// bytes go through a pointer into a buffer on the stack (`JSONBytes`), not `[UInt8].append`,
// which checks the array's uniqueness and capacity at every byte.

internal import SuprSendCore

extension EventValue {
    /// Room on the stack for a typical event's properties; larger ones move to the heap.
    private static let stackBytes = 1024

    /// An object's members as JSON text, in the dictionary's order (JSON objects have none);
    /// `reservedKeys` gets those of its keys that have a reserved prefix, in that order (a
    /// rule refuses them; usually there are none). Nil for what `checkedObjectJSON` refuses (a
    /// non-finite number) or the core would (nesting deeper than `maxLevel`): the caller then
    /// takes that path, whose error names the place. No path strings are built on the way.
    static func objectJSON(_ members: [String: EventValue], reservedKeys: inout [String]) -> [UInt8]? {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: stackBytes) { stack in
            var out = JSONBytes(stack)
            guard writeObject(members, to: &out, level: 1, reservedKeys: &reservedKeys, isTopLevel: true) else {
                return nil
            }
            return out.array
        }
    }

    /// The same text written with every check and a path in each error: `.argument` names the
    /// first non-finite number. Nesting is left to the core's scanner, which names its place.
    static func checkedObjectJSON(_ members: [String: EventValue]) throws(SuprSendError) -> [UInt8] {
        try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: stackBytes) { stack throws(SuprSendError) in
            var out = JSONBytes(stack)
            try EventValue.object(members).write(to: &out, path: "properties")
            return out.array
        }
    }

    /// `isTopLevel` false: a nested object, whose keys no rule looks at.
    private static func writeObject(_ members: [String: EventValue], to out: inout JSONBytes, level: Int,
                                    reservedKeys: inout [String], isTopLevel: Bool) -> Bool {
        out.append(UInt8(ascii: "{"))
        var first = true
        for (key, value) in members {
            if first { first = false } else { out.append(UInt8(ascii: ",")) }
            if writeKey(key, to: &out, isTopLevel: isTopLevel) { reservedKeys.append(key) }
            guard value.writeUnchecked(to: &out, level: level) else { return false }
        }
        out.append(UInt8(ascii: "}"))
        return true
    }

    /// The value of a member or element of a container at nesting `level`. See `objectJSON`.
    /// Consuming: members and elements come out of their collections as copies already, so the
    /// payload is moved out, not copied again.
    private consuming func writeUnchecked(to out: inout JSONBytes, level: Int) -> Bool {
        switch consume self {
        case .null: out.append("null")
        case .bool(let value): out.append(value ? "true" : "false")
        case .int(let value): Self.writeInteger(value, to: &out)
        case .double(let value):
            guard value.isFinite else { return false }
            Self.writeDouble(value, to: &out)
        case .string(let value): Self.writeString(value, to: &out)
        case .array(let values):
            guard level < Self.maxLevel else { return false }
            out.append(UInt8(ascii: "["))
            var first = true
            for value in values {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                guard value.writeUnchecked(to: &out, level: level + 1) else { return false }
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            guard level < Self.maxLevel else { return false }
            var none: [String] = []
            return Self.writeObject(members, to: &out, level: level + 1, reservedKeys: &none, isTopLevel: false)
        }
        return true
    }

    private func write(to out: inout JSONBytes, path: String) throws(SuprSendError) {
        switch self {
        case .null: out.append("null")
        case .bool(let value): out.append(value ? "true" : "false")
        case .int(let value): Self.writeInteger(value, to: &out)
        case .double(let value):
            guard value.isFinite else {
                throw SuprSendError(code: .argument, message: "\(path): \(value) is not a JSON number")
            }
            Self.writeDouble(value, to: &out)
        case .string(let value): Self.writeString(value, to: &out)
        case .array(let values):
            out.append(UInt8(ascii: "["))
            for (index, value) in values.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                try value.write(to: &out, path: "\(path)[\(index)]")
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            var first = true
            for (key, value) in members {
                if first { first = false } else { out.append(UInt8(ascii: ",")) }
                _ = Self.writeKey(key, to: &out, isTopLevel: false)
                try value.write(to: &out, path: "\(path).\(key)")
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Decimal digits, as `String(value)` writes them, without making the string.
    private static func writeInteger(_ value: Int64, to out: inout JSONBytes) {
        if value >= 0 && value < 10 {
            out.append(UInt8(ascii: "0") + UInt8(value))
            return
        }
        if value < 0 { out.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var start = 20
            repeat {
                start -= 1
                digits[start] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            out.append(UnsafeBufferPointer(rebasing: digits[start...]))
        }
    }

    /// A finite number as `description` writes it: the fewest digits that read back as the same
    /// number. Most numbers in properties (prices, amounts) have a few decimals: those are found
    /// by scaling (exact checks, no digit generation); the rest go through `description`.
    static func writeDouble(_ value: Double, to out: inout JSONBytes) {
        if let (units, decimals) = shortDecimal(value.magnitude) {
            if value < 0 { out.append(UInt8(ascii: "-")) }
            var divisor: UInt64 = 1
            for _ in 0..<decimals { divisor *= 10 }
            writeInteger(Int64(units / divisor), to: &out)
            out.append(UInt8(ascii: "."))
            guard decimals > 0 else { return out.append(UInt8(ascii: "0")) }
            var fraction = units % divisor
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: decimals) { digits in
                for place in stride(from: decimals - 1, through: 0, by: -1) {
                    digits[place] = UInt8(ascii: "0") + UInt8(fraction % 10)
                    fraction /= 10
                }
                out.append(UnsafeBufferPointer(digits))
            }
            return
        }
        var text = value.description
        text.withUTF8 { out.append($0) }
    }

    /// `magnitude` as `units / 10^decimals` with the fewest decimals (at most 6) that read back
    /// as it, when `description` would write the same digits without an exponent; nil otherwise.
    static func shortDecimal(_ magnitude: Double) -> (units: UInt64, decimals: Int)? {
        guard magnitude >= 1e-3 && magnitude < 1e15 else { return nil }
        var scale = 1.0  // 10^decimals, exact
        for decimals in 0...6 {
            // Neighbouring numbers closer than a third of 10^-decimals: at most one fraction with
            // this many decimals reads back as `magnitude` (the closest, so the one `description`
            // writes), it is the integer nearest to the rounded product, and no shorter one was
            // passed over on the way (the same holds, ten times over, for fewer decimals).
            guard magnitude.ulp * scale < 1.0 / 3 else { return nil }
            let units = (magnitude * scale).rounded()
            if units / scale == magnitude { return (UInt64(units), decimals) }
            scale *= 10
        }
        return nil
    }

    private static func writeString(_ string: String, to out: inout JSONBytes) {
        withUTF8(of: string) { out.appendQuoted($0) }
    }

    /// Writes `"key":`. True for a top-level key with a reserved prefix (a rule refuses it).
    private static func writeKey(_ key: String, to out: inout JSONBytes, isTopLevel: Bool) -> Bool {
        withUTF8(of: key) { utf8 in
            out.appendQuoted(utf8)
            out.append(UInt8(ascii: ":"))
            return isTopLevel && EventRules.hasReservedPrefix(utf8: utf8)
        }
    }

    /// A string's UTF-8 bytes in place: native strings, small or not, have them contiguous.
    @inline(__always)
    private static func withUTF8<Result>(of string: String, _ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
        if let result = string.utf8.withContiguousStorageIfAvailable(body) { return result }
        var contiguous = string  // bridged or lazily built: copied once
        return contiguous.withUTF8(body)
    }
}

/// JSON text written through a pointer: into the caller's buffer (on the stack) while it fits,
/// then into a heap buffer that doubles. `array` copies the text out once.
struct JSONBytes: ~Copyable {
    private var start: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    private var count = 0
    /// Whether `start` is ours to free (the caller's buffer is not).
    private var onHeap = false

    /// Writes into `buffer` first. An empty buffer is allowed (the heap from the first byte).
    init(_ buffer: UnsafeMutableBufferPointer<UInt8>) {
        if let base = buffer.baseAddress, buffer.count > 0 {
            start = base
            capacity = buffer.count
        } else {
            start = .allocate(capacity: 256)
            capacity = 256
            onHeap = true
        }
    }

    deinit {
        if onHeap { start.deallocate() }
    }

    @inline(__always)
    mutating func append(_ byte: UInt8) {
        if count == capacity { grow(adding: 1) }
        start[count] = byte
        count += 1
    }

    @inline(__always)
    mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let source = bytes.baseAddress, !bytes.isEmpty else { return }
        if capacity - count < bytes.count { grow(adding: bytes.count) }
        (start + count).initialize(from: source, count: bytes.count)
        count += bytes.count
    }

    @inline(__always)
    mutating func append(_ text: StaticString) {
        text.withUTF8Buffer { append($0) }
    }

    @inline(never)
    private mutating func grow(adding extra: Int) {
        let larger = Swift.max(capacity * 2, count + extra)
        let moved = UnsafeMutablePointer<UInt8>.allocate(capacity: larger)
        moved.initialize(from: start, count: count)
        if onHeap { start.deallocate() }
        start = moved
        capacity = larger
        onHeap = true
    }

    /// `utf8` quoted, escaping `"`, `\` and U+0000...U+001F. Most text needs no escape: it is
    /// checked a word (eight bytes) at a time and copied whole; text shorter than a word (most
    /// keys and values) is read into one word, checked and stored at once.
    mutating func appendQuoted(_ utf8: UnsafeBufferPointer<UInt8>) {
        // Wrapping arithmetic: lengths and positions are bounded by memory, far from overflow.
        let length = utf8.count
        // Room for the quotes and a whole word past the text.
        if capacity &- count < length &+ 10 { grow(adding: length &+ 10) }
        let opening = start + count
        let text = UnsafeMutableRawPointer(opening + 1)
        if length < 8 {
            var word = Self.padding
            var shift: UInt64 = 0
            for byte in utf8 {
                word = word & ~(0xFF &<< shift) | UInt64(byte) &<< shift
                shift &+= 8
            }
            guard !Self.wordNeedsEscape(word) else { return appendEscapedQuoted(utf8) }
            text.storeBytes(of: word, as: UInt64.self)  // the bytes past the text are not counted
        } else if length <= 16 {
            // Two words, overlapping when shorter than 16 bytes.
            let source = UnsafeRawBufferPointer(utf8)
            let first = source.loadUnaligned(as: UInt64.self)
            let last = source.loadUnaligned(fromByteOffset: length &- 8, as: UInt64.self)
            guard !Self.wordNeedsEscape(first), !Self.wordNeedsEscape(last) else { return appendEscapedQuoted(utf8) }
            text.storeBytes(of: first, as: UInt64.self)
            text.storeBytes(of: last, toByteOffset: length &- 8, as: UInt64.self)
        } else {
            guard let source = utf8.baseAddress, !Self.needsEscape(longText: utf8) else { return appendEscapedQuoted(utf8) }
            text.copyMemory(from: source, byteCount: length)
        }
        opening.pointee = UInt8(ascii: "\"")
        text.storeBytes(of: UInt8(ascii: "\""), toByteOffset: length, as: UInt8.self)
        count &+= length &+ 2
    }

    private mutating func appendEscapedQuoted(_ utf8: UnsafeBufferPointer<UInt8>) {
        append(UInt8(ascii: "\""))
        var runStart = 0
        for index in utf8.indices {
            let byte = utf8[index]
            guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
            append(UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
            runStart = index + 1
            switch byte {
            case UInt8(ascii: "\""): append("\\\"")
            case UInt8(ascii: "\\"): append("\\\\")
            case 0x0A: append("\\n")
            case 0x0D: append("\\r")
            case 0x09: append("\\t")
            default:
                append("\\u00")
                append(Hex.digit(byte >> 4))
                append(Hex.digit(byte & 0xF))
            }
        }
        append(UnsafeBufferPointer(rebasing: utf8[runStart...]))
        append(UInt8(ascii: "\""))
    }

    /// Eight times `a`, which needs no escape.
    private static let padding: UInt64 = 0x6161_6161_6161_6161

    /// Whether any byte of text of eight bytes or more is below 0x20, `"` or `\`: a word at a
    /// time, the last word overlapping the one before.
    @inline(__always)
    private static func needsEscape(longText utf8: UnsafeBufferPointer<UInt8>) -> Bool {
        let bytes = UnsafeRawBufferPointer(utf8)
        var offset = 0
        while offset + 8 < bytes.count {
            if wordNeedsEscape(bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) { return true }
            offset += 8
        }
        return wordNeedsEscape(bytes.loadUnaligned(fromByteOffset: bytes.count - 8, as: UInt64.self))
    }

    /// Whether any of eight bytes is below 0x20, `"` or `\`: the tests of the core's `ByteWords`
    /// (which says why they are exact), their lanes joined before the one branch.
    @inline(__always)
    private static func wordNeedsEscape(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let quote = word ^ (ones &* 0x22)
        let backslash = word ^ (ones &* 0x5C)
        let lanes = (word &- ones &* 0x20) & ~word | (quote &- ones) & ~quote | (backslash &- ones) & ~backslash
        return lanes & (ones &* 0x80) != 0
    }

    /// The text written so far.
    var array: [UInt8] {
        [UInt8](UnsafeBufferPointer(start: start, count: count))
    }
}
