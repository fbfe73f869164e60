/// Lowercase hexadecimal digits, computed rather than looked up: a table in a stored static
/// costs a `swift_once` check and an array access per digit, and this runs 32 times per
/// insert id, 32 per signature and per request body digest.
package enum Hex {
    /// The digit of a nibble (0...15).
    @inline(__always)
    package static func digit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") &+ nibble : UInt8(ascii: "a") &+ (nibble &- 10)
    }
}
