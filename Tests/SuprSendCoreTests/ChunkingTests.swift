import Testing

@testable import SuprSendCore

@Suite("Chunking")
struct ChunkingTests {
    @Test func limits() {
        #expect(Chunking.maxEventsPerRequest == 100)
        #expect(Chunking.maxBodyBytes == 819_200)
    }

    @Test func byCount() {
        #expect(Chunking.ranges(eventSizes: []) == [])
        #expect(Chunking.ranges(eventSizes: [10]) == [0..<1])
        #expect(Chunking.ranges(eventSizes: Array(repeating: 10, count: 100)) == [0..<100])
        #expect(Chunking.ranges(eventSizes: Array(repeating: 10, count: 101)) == [0..<100, 100..<101])
        #expect(Chunking.ranges(eventSizes: Array(repeating: 10, count: 250)) == [0..<100, 100..<200, 200..<250])
        #expect(Chunking.ranges(eventSizes: Array(repeating: 10, count: 200)) == [0..<100, 100..<200])
        #expect(Chunking.ranges(eventSizes: Array(repeating: 10, count: 7), maxEvents: 3) == [0..<3, 3..<6, 6..<7])
    }

    @Test func bodySizeFormula() {
        #expect(Chunking.bodySize(ofEventSizes: [Int]()) == 2)  // "[]"
        #expect(Chunking.bodySize(ofEventSizes: [5]) == 7)  // "[" + 5 + "]"
        #expect(Chunking.bodySize(ofEventSizes: [5, 6, 7]) == 2 + 18 + 2)
    }

    @Test func bodyOfExactlyTheLimitIsOneChunk() {
        // "[" + a + "," + b + "]" == 819200
        let a = 409_600
        let b = 819_200 - 3 - a
        #expect(Chunking.bodySize(ofEventSizes: [a, b]) == 819_200)
        #expect(Chunking.ranges(eventSizes: [a, b]) == [0..<2])
        #expect(Chunking.ranges(eventSizes: [a, b + 1]) == [0..<1, 1..<2])
        // Many events: 8 of 102_396 bytes plus commas and brackets = 819_177; fill the rest.
        var sizes = Array(repeating: 102_396, count: 8)
        let used = Chunking.bodySize(ofEventSizes: sizes)
        sizes.append(819_200 - used - 1)
        #expect(Chunking.bodySize(ofEventSizes: sizes) == 819_200)
        #expect(Chunking.ranges(eventSizes: sizes) == [0..<9])
        sizes[8] += 1
        #expect(Chunking.ranges(eventSizes: sizes) == [0..<8, 8..<9])
    }

    @Test func everyChunkRespectsBothLimits() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20 {
            let sizes = (0..<(1 + Int.random(in: 0..<400, using: &generator))).map { _ in
                Int.random(in: 1...60_000, using: &generator)
            }
            let ranges = Chunking.ranges(eventSizes: sizes)
            // Contiguous, in order, covering everything.
            #expect(ranges.first?.lowerBound == 0)
            #expect(ranges.last?.upperBound == sizes.count)
            for (left, right) in zip(ranges, ranges.dropFirst()) { #expect(left.upperBound == right.lowerBound) }
            for range in ranges {
                #expect(!range.isEmpty)
                #expect(range.count <= 100)
                #expect(Chunking.bodySize(ofEventSizes: sizes[range]) <= 819_200)
            }
            // Greedy: the next event would not have fitted.
            for (left, right) in zip(ranges, ranges.dropFirst()) where left.count < 100 {
                #expect(Chunking.bodySize(ofEventSizes: sizes[left.lowerBound...right.lowerBound]) > 819_200)
            }
        }
    }

    @Test func hugeEventGetsItsOwnRange() {
        #expect(Chunking.ranges(eventSizes: [10, 900_000, 10]) == [0..<1, 1..<2, 2..<3])
        #expect(Chunking.ranges(eventSizes: [900_000]) == [0..<1])
        #expect(Chunking.ranges(eventSizes: [900_000, 900_000, 5, 5]) == [0..<1, 1..<2, 2..<4])
    }

    @Test func fitsAlone() {
        #expect(Chunking.fitsAlone(eventSize: 1))
        #expect(Chunking.fitsAlone(eventSize: 819_198))
        #expect(!Chunking.fitsAlone(eventSize: 819_199))
        #expect(!Chunking.fitsAlone(eventSize: 819_200))
        #expect(Chunking.fitsAlone(eventSize: 98, maxBodyBytes: 100))
        #expect(!Chunking.fitsAlone(eventSize: 99, maxBodyBytes: 100))
    }
}
