import Glibc

/// HTTP dates (RFC 9110 IMF-fixdate): the `Date` header that is signed, and `Retry-After`.
/// Names are written from fixed English tables, never through the C locale, so a host that
/// calls setlocale() cannot change what is signed.
enum HTTPDate {
    private static let dayNames = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let monthNames = ["Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// "Fri, 27 Nov 2026 10:00:00 GMT" for the given Unix time: always 29 ASCII bytes.
    static func format(unixSeconds: Int) -> String {
        var time = time_t(unixSeconds)
        var parts = tm()
        guard gmtime_r(&time, &parts) != nil, (0...9999).contains(Int(parts.tm_year) + 1900) else {
            return "Thu, 01 Jan 1970 00:00:00 GMT"
        }
        return String(unsafeUninitializedCapacity: 29) { out in
            var position = 0
            func put(_ text: String) {
                for byte in text.utf8 { out[position] = byte; position += 1 }
            }
            func put(_ value: Int, digits: Int) {
                var divisor = 1
                for _ in 1..<digits { divisor *= 10 }
                while divisor > 0 {
                    out[position] = UInt8(ascii: "0") + UInt8(value / divisor % 10)
                    position += 1
                    divisor /= 10
                }
            }
            put(dayNames[Int(parts.tm_wday) % 7])
            put(", ")
            put(Int(parts.tm_mday), digits: 2)
            put(" ")
            put(monthNames[Int(parts.tm_mon) % 12])
            put(" ")
            put(Int(parts.tm_year) + 1900, digits: 4)
            put(" ")
            put(Int(parts.tm_hour), digits: 2)
            put(":")
            put(Int(parts.tm_min), digits: 2)
            put(":")
            put(Int(parts.tm_sec), digits: 2)
            put(" GMT")
            return position
        }
    }

    static func now() -> String { format(unixSeconds: Clock.nowSeconds()) }

    /// Parses the three date forms RFC 9110 asks recipients to accept (IMF-fixdate, RFC 850,
    /// asctime) by their parts: a day, a month name, a year and hh:mm:ss. Nil when unreadable.
    static func parse(_ text: String) -> Int? {
        var day: Int?, month: Int?, year: Int?, clock: (Int, Int, Int)?
        let separators: Set<Character> = [" ", ",", "-", "\t"]
        for token in text.split(whereSeparator: { separators.contains($0) }) {
            if token.contains(":") {
                let fields = token.split(separator: ":").compactMap { Int($0) }
                guard fields.count == 3 else { return nil }
                clock = (fields[0], fields[1], fields[2])
            } else if let index = monthNames.firstIndex(where: { $0.lowercased() == token.lowercased() }) {
                month = index
            } else if let number = Int(token) {
                if token.count <= 2 && day == nil {
                    day = number
                } else {
                    year = token.count == 2 ? (number < 70 ? 2000 + number : 1900 + number) : number
                }
            }
        }
        guard let day, let month, let year, let (hour, minute, second) = clock,
              (1...31).contains(day), (1970...9999).contains(year),
              (0...23).contains(hour), (0...59).contains(minute), (0...60).contains(second)
        else { return nil }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        return Int(timegm(&parts))
    }
}
