import CCurl
import Glibc

/// HTTP over libcurl's multi interface: several requests in flight from one thread, a wait
/// that another thread can cut short (`curl_multi_wakeup`), and transfers that can be
/// abandoned at any moment (a close that must keep its deadline with a request in flight).
public final class CurlMultiTransport: ConcurrentTransport, @unchecked Sendable {
    private let settings: CurlTransport.Settings
    private let sockets = SocketRegistry()
    private let multi: UnsafeMutableRawPointer
    /// Handles ready for the next request; each keeps its connection alive.
    private var idle: [CurlHandle] = []
    /// Transfers in progress, by request id.
    private var running: [Int: CurlHandle] = [:]
    /// Requests that failed before they could start, reported by the next `wait`.
    private var failedToStart: [(id: Int, result: Result<HTTPAnswer, TransportFailure>)] = []
    private var abandoned = false
    private let generation = ForkGeneration.current

    public init(settings: CurlTransport.Settings) throws(TransportFailure) {
        // Creating a CurlTransport first runs libcurl's global initialisation and checks the settings.
        _ = try CurlTransport(settings: settings)
        guard let multi = curl_multi_init() else {
            throw TransportFailure(.permanent, "libcurl could not create a multi handle")
        }
        self.multi = multi
        self.settings = settings
        if settings.maxHostConnections > 0 {
            // More requests than this wait in libcurl's queue for a connection to free up; and
            // the cache keeps as many, or it would shrink each time fewer were in flight and
            // the next burst would open them again.
            _ = suprsend_curl_multi_set_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, settings.maxHostConnections)
            _ = suprsend_curl_multi_set_long(multi, CURLMOPT_MAXCONNECTS, settings.maxHostConnections)
        }
    }

    deinit {
        // Freed in a forked child: the multi handle and its connections are the parent's.
        if generation != ForkGeneration.current { abandonConnections() }
        guard !abandoned else { return }
        for handle in running.values { curl_multi_remove_handle(multi, handle.easy) }
        running.removeAll()
        idle.removeAll()
        curl_multi_cleanup(multi)
    }

    public func start(_ request: HTTPRequest, id: Int) {
        let handle: CurlHandle
        if let reused = idle.popLast() {
            handle = reused
        } else {
            do {
                handle = try CurlHandle.make(settings: settings, sockets: sockets)
            } catch {
                failedToStart.append((id, .failure(error)))
                return
            }
        }
        var code = handle.begin(request)
        if code == CURLE_OK { code = handle.setCopiedBody(request.body) }
        guard code == CURLE_OK else {
            failedToStart.append((id, handle.finish(code)))
            idle.append(handle)
            return
        }
        let added = curl_multi_add_handle(multi, handle.easy)
        guard added == CURLM_OK else {
            failedToStart.append((id, .failure(TransportFailure(.transient, "libcurl could not start the request: "
                + String(cString: curl_multi_strerror(added))))))
            _ = handle.finish(CURLE_OK)
            idle.append(handle)
            return
        }
        running[id] = handle
    }

    public func wait(timeout: Double) -> [(id: Int, result: Result<HTTPAnswer, TransportFailure>)] {
        // fork() waits for the bookkeeping (see DeliveryWorker.runOnce), not for the poll.
        var ended = ForkGeneration.withoutFork {
            var ended = failedToStart
            failedToStart.removeAll()
            perform(into: &ended)
            return ended
        }
        guard ended.isEmpty else { return ended }
        let milliseconds = Int32(clamping: Int((max(timeout, 0) * 1000).rounded(.up)))
        _ = curl_multi_poll(multi, nil, 0, milliseconds, nil)
        ForkGeneration.withoutFork { perform(into: &ended) }
        return ended
    }

    private func perform(into ended: inout [(id: Int, result: Result<HTTPAnswer, TransportFailure>)]) {
        guard !running.isEmpty else { return }
        var stillRunning: Int32 = 0
        _ = curl_multi_perform(multi, &stillRunning)
        var left: Int32 = 0
        while let message = curl_multi_info_read(multi, &left) {
            guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle else { continue }
            let code = suprsend_curl_message_result(message)
            guard let (id, handle) = running.first(where: { $0.value.easy == UnsafeMutableRawPointer(easy) }) else { continue }
            running[id] = nil
            curl_multi_remove_handle(multi, handle.easy)
            ended.append((id, handle.finish(code)))
            idle.append(handle)
        }
    }

    public func wake() {
        _ = curl_multi_wakeup(multi)
    }

    @discardableResult
    public func cancelAll() -> [Int] {
        let ids = Array(running.keys)
        for (_, handle) in running {
            curl_multi_remove_handle(multi, handle.easy)
            _ = handle.finish(CURLE_ABORTED_BY_CALLBACK)
            idle.append(handle)
        }
        running.removeAll()
        failedToStart.removeAll()
        return ids
    }

    public func abandonAfterFork() {
        guard !abandoned else { return }
        abandonConnections()
        AbandonedHandles.keep(object: self)
    }

    /// Closes the inherited sockets and keeps the handles from ever being cleaned up.
    private func abandonConnections() {
        abandoned = true
        sockets.closeInheritedSockets()
        for handle in idle { AbandonedHandles.keep(handle) }
        for handle in running.values { AbandonedHandles.keep(handle) }
    }
}
