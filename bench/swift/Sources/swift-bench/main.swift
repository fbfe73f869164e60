// swift-bench: the SuprSend Swift library product, timed from inside the process, for
// bench/run.py's swift_* scenarios (the Swift counterpart of bench/c_bench.c).
//
//   swift-bench track BASE_URL KEY SECRET N [IN_FLIGHT]
//       N events, one `try await client.track(event)` each, from IN_FLIGHT tasks (default 100)
//       that each await one call at a time: at most IN_FLIGHT calls in flight, as c_bench's
//       async mode keeps IN_FLIGHT suprsend_track_event_async calls in flight. maxRetries 0,
//       as c_bench's single and async modes.
//   swift-bench enqueue BASE_URL KEY SECRET N
//       N events `client.enqueue(event)`'d on this thread, then `try await client.flush`:
//       background delivery end to end (c_bench's enqueue mode); the Configuration's defaults but
//       queueCapacity N (room for them all) and an onDelivery that counts the fates.
//
// Prints one JSON line with c_bench's fields: events, ok, failed, wall_s, cpu_user_s, cpu_sys_s
// (getrusage(RUSAGE_SELF) around the timed part only, every thread of the process), maxrss_kb,
// peak_rss_kb (VmHWM), error; enqueue also enqueue_wall_s, enqueue_thread_cpu_s (this thread's
// CPU around the enqueue loop: building each Event, enqueue), enqueue_process_cpu_s,
// event_creation_thread_cpu_s (the same Events built and dropped, timed apart after the run),
// flush_wall_s, rss_before_kb, the fates. Process start-up and client creation are not timed.
// Every event is built in the loop, as c_bench builds each suprsend_event: the same distinct id,
// name and properties.
import Glibc
import SuprSend
import Synchronization

func warn(_ text: String) {
    var bytes = Array(text.utf8)
    bytes.append(0x0A)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

func usage() -> Never {
    warn("usage: swift-bench track BASE_URL KEY SECRET N [IN_FLIGHT]\n"
        + "       swift-bench enqueue BASE_URL KEY SECRET N")
    exit(2)
}

/// The same event as c_bench.c's make_event (and floor.c, py_client.py).
@inline(never)
func makeEvent(_ i: Int) -> Event {
    Event(distinctID: "user_\(i)", name: "product_purchased",
          properties: ["first_name": "User", "order_id": .string("ord_\(i)"), "amount": 1299.5, "currency": "INR",
                       "items": [["sku": "sku_1", "qty": 2], ["sku": "sku_2", "qty": 1]], "is_first_order": false])
}

func nowSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func threadCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func resourceUsage() -> rusage {
    var r = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &r)
    return r
}

func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }

/// A line of /proc/self/status in KiB (VmHWM: peak RSS; VmRSS: now). ru_maxrss is not used for
/// the peak: Linux carries the parent's high-water mark across fork+exec (bench/measure.h).
func procStatusKB(_ field: String) -> Int {
    guard let f = fopen("/proc/self/status", "r") else { return -1 }
    defer { fclose(f) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, Int32(line.count), f) != nil {
        let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if text.hasPrefix(field + ":") {
            return Int(text.dropFirst(field.count + 1).filter { $0.isNumber }) ?? -1
        }
    }
    return -1
}

func jsonString(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case _ where scalar.value < 0x20: out += "'"
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

/// The first error seen, from any task or the delivery thread.
final class FirstError: Sendable {
    private let text = Mutex<String>("")
    func note(_ what: String) { text.withLock { if $0.isEmpty { $0 = String(what.prefix(500)) } } }
    var value: String { text.withLock { $0 } }
}

/// Fates counted by onDelivery (the delivery thread).
final class Fates: Sendable {
    let delivered = Atomic<Int>(0)
    let other = Atomic<Int>(0)
}

func printResult(events: Int, ok: Int, failed: Int, wall: Double, r0: rusage, r1: rusage, extra: [(String, String)],
                 error: String) {
    var fields: [(String, String)] = [
        ("events", "\(events)"), ("ok", "\(ok)"), ("failed", "\(failed)"), ("threads", "1"),
        ("wall_s", "\(wall)"),
        ("cpu_user_s", "\(seconds(r1.ru_utime) - seconds(r0.ru_utime))"),
        ("cpu_sys_s", "\(seconds(r1.ru_stime) - seconds(r0.ru_stime))"),
        ("maxrss_kb", "\(r1.ru_maxrss)"), ("peak_rss_kb", "\(procStatusKB("VmHWM"))"),
    ]
    fields += extra
    fields.append(("error", jsonString(error)))
    print("{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}")
    fflush(nil)
}

func trackMain(base: String, key: String, secret: String, n: Int, inFlight: Int) async -> Int32 {
    var configuration = SuprSendClient.Configuration(baseURL: base)
    configuration.maxRetries = 0
    let client: SuprSendClient
    do {
        client = try SuprSendClient(workspaceKey: key, workspaceSecret: secret, configuration: configuration)
    } catch {
        warn("swift-bench: client: \(error)")
        return 2
    }
    let firstError = FirstError()
    let workers = min(inFlight, n)
    let r0 = resourceUsage()
    let w0 = nowSeconds()
    // IN_FLIGHT tasks, each awaiting one track at a time: events i ≡ w (mod IN_FLIGHT).
    let (ok, failed) = await withTaskGroup(of: (Int, Int).self) { group in
        for w in 0..<workers {
            group.addTask {
                var ok = 0, failed = 0
                for i in stride(from: w, to: n, by: workers) {
                    do {
                        let response = try await client.track(makeEvent(i))
                        if response.statusCode / 100 == 2 { ok += 1 } else { failed += 1 }
                    } catch {
                        failed += 1
                        firstError.note("track: \(error)")
                    }
                }
                return (ok, failed)
            }
        }
        var ok = 0, failed = 0
        for await (o, f) in group { ok += o; failed += f }
        return (ok, failed)
    }
    let w1 = nowSeconds()
    let r1 = resourceUsage()
    do {
        try await client.shutdown(timeout: .seconds(2))
    } catch {
        firstError.note("shutdown: \(error)")
    }
    printResult(events: n, ok: ok, failed: failed, wall: w1 - w0, r0: r0, r1: r1,
                extra: [("mode", "\"track\""), ("in_flight", "\(workers)")], error: firstError.value)
    return failed > 0 ? 1 : 0
}

func enqueueMain(base: String, key: String, secret: String, n: Int) async -> Int32 {
    let fates = Fates()
    let firstError = FirstError()
    var configuration = SuprSendClient.Configuration(baseURL: base)
    configuration.queueCapacity = n
    configuration.onDelivery = { delivery in
        if delivery.isSuccess {
            fates.delivered.add(1, ordering: .relaxed)
        } else {
            fates.other.add(1, ordering: .relaxed)
            firstError.note("fate \(delivery.error.map { "\($0)" } ?? "?") (HTTP \(delivery.statusCode), "
                + "\(delivery.attempts) attempts): \(delivery.message)")
        }
    }
    let client: SuprSendClient
    do {
        client = try SuprSendClient(workspaceKey: key, workspaceSecret: secret, configuration: configuration)
    } catch {
        warn("swift-bench: client: \(error)")
        return 2
    }
    let rss0 = procStatusKB("VmRSS")
    let r0 = resourceUsage()
    let w0 = nowSeconds(), tc0 = threadCPUSeconds()
    var queued = 0
    for i in 0..<n {
        do {
            try client.enqueue(makeEvent(i))
            queued += 1
        } catch {
            firstError.note("enqueue: \(error)")
        }
    }
    let tc1 = threadCPUSeconds(), w1 = nowSeconds()
    let r1 = resourceUsage()
    var flushStatus = "OK"
    do {
        try await client.flush(timeout: .seconds(60))
    } catch {
        flushStatus = "\(error.code)"
        firstError.note("flush: \(error)")
    }
    let w2 = nowSeconds()
    let r2 = resourceUsage()
    let delivered = fates.delivered.load(ordering: .relaxed), other = fates.other.load(ordering: .relaxed)
    let ok = flushStatus == "OK" && delivered == n ? n : 0
    var failed = 0
    if ok == 0 {
        failed = max(1, n - delivered)
        firstError.note("flush \(flushStatus), delivered \(delivered) of \(n)")
    }
    // The same events built and dropped, not enqueued: what the loop spends outside enqueue.
    let c0 = threadCPUSeconds()
    for i in 0..<n { _ = makeEvent(i) }
    let create = threadCPUSeconds() - c0
    var closeStatus = "OK"
    do {
        try await client.shutdown(timeout: .seconds(2))
    } catch {
        closeStatus = "\(error.code)"
    }
    printResult(events: n, ok: ok, failed: failed, wall: w2 - w0, r0: r0, r1: r2, extra: [
        ("mode", "\"enqueue\""), ("queued", "\(queued)"), ("flush_status", jsonString(flushStatus)),
        ("delivered", "\(delivered)"), ("fates", "{\"delivered\":\(delivered),\"other\":\(other)}"),
        ("enqueue_wall_s", "\(w1 - w0)"), ("enqueue_thread_cpu_s", "\(tc1 - tc0)"),
        ("enqueue_process_cpu_s", "\(seconds(r1.ru_utime) + seconds(r1.ru_stime) - seconds(r0.ru_utime) - seconds(r0.ru_stime))"),
        ("event_creation_thread_cpu_s", "\(create)"), ("flush_wall_s", "\(w2 - w1)"), ("rss_before_kb", "\(rss0)"),
        ("close_status", jsonString(closeStatus)),
    ], error: firstError.value)
    return failed > 0 ? 1 : 0
}

let arguments = CommandLine.arguments
guard arguments.count >= 6, let n = Int(arguments[5]), n > 0 else { usage() }
let (mode, base, key, secret) = (arguments[1], arguments[2], arguments[3], arguments[4])
let status: Int32
switch mode {
case "track":
    let inFlight = arguments.count > 6 ? Int(arguments[6]) ?? 0 : 100
    guard inFlight > 0 else { usage() }
    status = await trackMain(base: base, key: key, secret: secret, n: n, inFlight: inFlight)
case "enqueue":
    status = await enqueueMain(base: base, key: key, secret: secret, n: n)
default:
    usage()
}
exit(status)
