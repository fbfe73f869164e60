extension UnsafeBufferPointer where Element == UInt8 {
    /// Whether the bytes from `start` on are `literal`'s (false when they would run past the
    /// end). A plain loop over both: the generic `elementsEqual` of a slice against a
    /// `String.UTF8View` stepped through two iterators per byte, and the readers of an event's
    /// own members (a fate naming its event, a retry asking for its key) call this per member.
    func hasBytes(_ literal: StaticString, at start: Int) -> Bool {
        literal.withUTF8Buffer { expected in
            guard start >= 0, start <= count - expected.count else { return false }
            var offset = 0
            while offset < expected.count {
                if self[start + offset] != expected[offset] { return false }
                offset += 1
            }
            return true
        }
    }
}
