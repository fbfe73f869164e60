import Testing
@testable import SuprSend

/// The properties writer against the standard library's own text, without a hub.
@Suite struct PropertiesJSONTests {
    private func json(_ value: Double) -> String {
        var out: [UInt8] = []
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { stack in
            var bytes = JSONBytes(stack)
            EventValue.writeDouble(value, to: &bytes)
            out = bytes.array
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Numbers with a few decimals take a shortcut: it writes what `description` writes.
    @Test func numbersAreWrittenAsDescriptionWritesThem() {
        var mismatches: [String] = []
        func check(_ value: Double) {
            let written = json(value)
            if written != value.description && mismatches.count < 10 { mismatches.append("\(written) for \(value)") }
        }
        // Prices and amounts: every cent up to 100,000.00, tenths and thousandths elsewhere.
        for cents in 0..<10_000_000 where cents % 31 == 0 || cents < 100_000 { check(Double(cents) / 100) }
        for scale in [10.0, 1_000, 10_000, 100_000, 1_000_000] {
            for units in stride(from: 1, to: 50_000_000, by: 1_999) {
                check(Double(units) / scale)
                check(-Double(units) / scale)
            }
        }
        // Arithmetic results, whole numbers up to the edges of the shortcut, and random values.
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<150_000 {
            check(Double.random(in: 1e-4...1e16, using: &generator))
            check(Double(Int64.random(in: -1_000_000_000_000_000...1_000_000_000_000_000, using: &generator)))
            check(Double(Int.random(in: 0...99_999, using: &generator)) / 100 * 3)
            check(Double(bitPattern: UInt64.random(in: 0...UInt64.max, using: &generator) & ~(0x7FF << 52)
                | ((0x3F5 + UInt64.random(in: 0...0x60, using: &generator)) << 52)))
        }
        for value in [0.1 + 0.2, 0.001, 0.000999, 1e15, 999_999_999_999_999.9, 9_007_199_254_740_991, 1e-3 * 3,
                      0.0, -0.0, 5e-324, 1.7976931348623157e308, 1299.5, 2.675, 1.005, 4.35 * 100] {
            check(value)
        }
        #expect(mismatches.isEmpty, "\(mismatches)")
        // The shortcut is taken where it should be, and left where it must be.
        #expect(EventValue.shortDecimal(1299.5).map { $0 == (12995, 1) } == true)
        #expect(EventValue.shortDecimal(42).map { $0 == (42, 0) } == true)
        #expect(EventValue.shortDecimal(0.001).map { $0 == (1, 3) } == true)
        #expect(EventValue.shortDecimal(0.1 + 0.2) == nil)
        #expect(EventValue.shortDecimal(1e15) == nil)
        #expect(json(-1299.5) == "-1299.5" && json(7) == "7.0" && json(-0.25) == "-0.25")
    }
}
