/// Questions about eight bytes at once, for scanning text a word at a time instead of a byte at
/// a time. A byte is below n (n <= 0x80) exactly when some lane of `(x - n * 0x0101...) & ~x`
/// has its high bit set (a borrow can mark a lane beyond a true one, never make a false "none");
/// a byte equals b exactly when it is below 1 after an xor with b.
enum ByteWords {
    /// `byte` in every lane.
    @inline(__always)
    static func repeating(_ byte: UInt8) -> UInt64 {
        0x0101_0101_0101_0101 &* UInt64(byte)
    }

    /// Whether any byte of `word` is below `bound` (at most 0x80).
    @inline(__always)
    static func containsByte(below bound: UInt8, in word: UInt64) -> Bool {
        (word &- repeating(bound)) & ~word & repeating(0x80) != 0
    }

    /// Whether any byte of `word` is `byte`.
    @inline(__always)
    static func contains(_ byte: UInt8, in word: UInt64) -> Bool {
        containsByte(below: 1, in: word ^ repeating(byte))
    }
}
