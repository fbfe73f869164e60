// Entry points for the libFuzzer harnesses in fuzz/: C-callable hooks into parsers that the
// public C API reaches only through the network (the hub's answers, HTTP dates, Retry-After).
// Each only calls existing internals, then checks a few invariants of what came back; it
// returns 0, or a nonzero code naming the invariant that failed (the harness then aborts).
// Compiled only into the fuzzing build (fuzz/run.sh defines SUPRSEND_FUZZ_HOOKS): the shipped
// library carries no test code. Not part of the C API either way: the names do not match
// scripts/exports.map's suprsend_*.
#if SUPRSEND_FUZZ_HOOKS

private func fuzzBytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard let data, size > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: size))
}

private let fuzzStatuses = [200, 201, 202, 204, 207, 299, 300, 400, 401, 403, 404, 413, 429, 500, 502, 503, 0, 100]

/// A bulk answer: byte 0 picks the HTTP status (and, with its top bit, a truncated body),
/// byte 1 the number of events, the rest is the body.
@_cdecl("suprsendcore_fuzz_bulk_answer")
public func suprsendcoreFuzzBulkAnswer(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = fuzzBytes(data, size)
    guard input.count >= 2 else { return 0 }
    let status = fuzzStatuses[Int(input[0] & 0x7F) % fuzzStatuses.count]
    let truncated = input[0] & 0x80 != 0
    let eventCount = Int(input[1])
    let body = Array(input[2...])

    let records = HubResponses.bulk(status: status, body: body, bodyTruncated: truncated, eventCount: eventCount)
    guard records.count == eventCount else { return 1 }
    for record in records where record.accepted && record.mayRetry { return 2 }

    // The fast reader and the general parser must agree on what they both read.
    let fast = body.withUnsafeBufferPointer { BulkAnswerReader.records(in: $0) }
    if let fast, let json = JSONValue.parse(body) {
        guard let list = json["records"]?.arrayValue else { return 3 }
        guard list.count == fast.count else { return 4 }
        for case let .other(range) in fast {
            guard range.lowerBound >= 0, range.upperBound <= body.count, range.lowerBound < range.upperBound else { return 5 }
            guard body.withUnsafeBufferPointer({ JSONValue.parse(UnsafeBufferPointer(rebasing: $0[range])) }) != nil else { return 6 }
        }
    }
    return 0
}

/// A single-event answer: byte 0 picks the HTTP status, the rest is the body.
@_cdecl("suprsendcore_fuzz_single_answer")
public func suprsendcoreFuzzSingleAnswer(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = fuzzBytes(data, size)
    guard input.count >= 1 else { return 0 }
    let status = fuzzStatuses[Int(input[0]) % fuzzStatuses.count]
    let body = Array(input[1...])
    let single = HubResponses.single(status: status, body: body)
    guard single.accepted == (200..<300).contains(status) else { return 1 }
    let message = HubResponses.errorMessage(status: status, body: body)
    guard !message.isEmpty else { return 2 }
    _ = HubResponses.describe(status: status, message: message)
    return 0
}

/// An HTTP date (any of the three forms) as text; and the first 8 bytes as a Unix time to
/// format: whatever is formatted in years 1970-9999 must parse back to the same time. (A
/// parsed date may lie just past 9999, e.g. "31 Dec 9999 23:59:60"; format does not go there.)
@_cdecl("suprsendcore_fuzz_http_date")
public func suprsendcoreFuzzHTTPDate(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = fuzzBytes(data, size)
    let lastFormattable = 253_402_300_799  // 9999-12-31 23:59:59
    if let parsed = HTTPDate.parse(String(decoding: input, as: UTF8.self)) {
        guard parsed >= 0 else { return 1 }
        if parsed <= lastFormattable, HTTPDate.parse(HTTPDate.format(unixSeconds: parsed)) != parsed { return 2 }
    }
    if input.count >= 8 {
        var raw: UInt64 = 0
        for byte in input[0..<8] { raw = raw << 8 | UInt64(byte) }
        let time = Int(truncatingIfNeeded: raw)
        let text = HTTPDate.format(unixSeconds: time)
        guard text.utf8.count == 29 else { return 3 }
        if (0...lastFormattable).contains(time), HTTPDate.parse(text) != time { return 4 }
    }
    return 0
}

/// A Retry-After value: delay-seconds or an HTTP date, never a negative wait.
@_cdecl("suprsendcore_fuzz_retry_after")
public func suprsendcoreFuzzRetryAfter(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let text = String(decoding: fuzzBytes(data, size), as: UTF8.self)
    let now = 1_795_780_800  // 2026-11-27 12:00:00 GMT
    guard let seconds = RetryPolicy.parseRetryAfter(text, nowUnixSeconds: now) else { return 0 }
    guard seconds >= 0, seconds.isFinite else { return 1 }
    let policy = RetryPolicy()
    let delay = policy.delay(beforeRetry: 1, retryAfter: seconds, unitRandom: { 0.5 })
    guard delay >= 0, delay.isFinite, delay <= max(RetryPolicy.retryAfterCap, policy.delay(beforeRetry: 1, retryAfter: nil, unitRandom: { 0.5 })) else { return 2 }
    return 0
}
#endif
