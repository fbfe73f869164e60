/// How a bulk's events are packed into requests (wire-protocol.md, "Bulk").
public enum Chunking {
    public static let maxEventsPerRequest = 100
    public static let maxBodyBytes = 800 * 1024

    /// The size of a bulk body `[e1,e2,…]` holding events of the given sizes.
    static func bodySize<C: Collection>(ofEventSizes sizes: C) -> Int where C.Element == Int {
        sizes.reduce(1, +) + max(sizes.count - 1, 0) + 1
    }

    /// Consecutive ranges of `eventSizes`, in order, each at most `maxEvents` long and making a
    /// body of at most `maxBodyBytes`. An event too big to fit a body even alone gets a range of
    /// its own; the caller must report it rather than send it (see `fitsAlone`).
    public static func ranges(eventSizes: [Int], maxEvents: Int = maxEventsPerRequest,
                              maxBodyBytes: Int = maxBodyBytes) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var start = 0
        var bodyBytes = 2  // "[" and "]"
        for (index, size) in eventSizes.enumerated() {
            let count = index - start
            let added = size + (count > 0 ? 1 : 0)
            if count > 0 && (count == maxEvents || bodyBytes + added > maxBodyBytes) {
                ranges.append(start..<index)
                start = index
                bodyBytes = 2 + size
            } else {
                bodyBytes += added
            }
        }
        if start < eventSizes.count { ranges.append(start..<eventSizes.count) }
        return ranges
    }

    /// Whether one event fits a bulk body on its own.
    public static func fitsAlone(eventSize: Int, maxBodyBytes: Int = maxBodyBytes) -> Bool {
        eventSize + 2 <= maxBodyBytes
    }
}
