import CCurl
import Glibc

/// libcurl's global state, set up once per process before the first handle. libcurl since
/// 7.84 makes this call thread-safe; a Swift global is also initialised exactly once.
private let curlGlobalInitCode: CURLcode = curl_global_init(Int(CURL_GLOBAL_DEFAULT))

/// The oldest libcurl the library works with. The newest of what it uses: CURLOPT_PROTOCOLS_STR
/// (7.85.0); before it CURLOPT_PREREQFUNCTION (7.80.0), curl_multi_wakeup (7.68.0). An older
/// libcurl loads (the functions exist) but refuses options at the first request: said at once.
public enum LibcurlVersion {
    public static let minimum: UInt32 = 0x07_55_00
    public static let minimumText = "7.85.0"

    /// Nil, or why the libcurl this process loaded will not do.
    public static func problem() -> SuprSendError? {
        guard let info = curl_version_info(CURLVERSION_FIRST) else {
            return SuprSendError(.network, "libcurl gave no version information; libsuprsend needs \(minimumText) or newer")
        }
        let text = info.pointee.version.map { String(cString: $0) } ?? "?"
        return problem(versionNumber: UInt32(info.pointee.version_num), versionText: text)
    }

    static func problem(versionNumber: UInt32, versionText: String) -> SuprSendError? {
        guard versionNumber < minimum else { return nil }
        return SuprSendError(.network, "libcurl \(excerpt(versionText)) found; libsuprsend needs \(minimumText) or newer")
    }
}

/// HTTP over libcurl. A pool of easy handles, one per thread sending at the same moment:
/// each keeps its own connection alive between requests, so a client that sends 1,000
/// events one by one opens one connection, not 1,000.
public final class CurlTransport: HTTPTransport, @unchecked Sendable {
    public struct Settings: Sendable {
        public var timeoutMilliseconds: Int = 30_000
        public var connectTimeoutMilliseconds: Int = 10_000
        public var proxy: String?
        public var caFile: String?
        public var userAgent: String = ""
        /// The most connections a multi transport opens to one host (0: no bound).
        public var maxHostConnections: Int = 0
        public init() {}
    }

    private let settings: Settings
    private let sockets = SocketRegistry()
    private let lock = Lock()
    private var idleHandles: [CurlHandle] = []
    private var ownerGeneration = ForkGeneration.current

    public init(settings: Settings) throws(TransportFailure) {
        if let old = LibcurlVersion.problem() {
            throw TransportFailure(.permanent, old.message)
        }
        guard curlGlobalInitCode == CURLE_OK else {
            throw TransportFailure(.permanent, "libcurl could not initialise: \(String(cString: curl_easy_strerror(curlGlobalInitCode)))")
        }
        self.settings = settings
        // Fail now, not on the first event, if the settings are unusable.
        let probe = try CurlHandle.make(settings: settings, sockets: sockets)
        idleHandles.append(probe)
    }

    deinit {
        // Freed in a forked child that never sent: the handles are the parent's, and cleaning
        // them up would end its TLS sessions (close_notify) on the connections it still uses.
        if ownerGeneration != ForkGeneration.current {
            sockets.closeInheritedSockets()
            idleHandles.forEach(AbandonedHandles.keep)
        }
    }

    public func post(_ request: HTTPRequest) -> Result<HTTPAnswer, TransportFailure> {
        let handle: CurlHandle
        do {
            handle = try checkOut()
        } catch {
            return .failure(error)
        }
        let result = handle.post(request)
        checkIn(handle)
        return result
    }

    private func checkOut() throws(TransportFailure) -> CurlHandle {
        var inherited: [CurlHandle] = []
        let reused: CurlHandle? = lock.withLock {
            let generation = ForkGeneration.current
            if generation != ownerGeneration {
                // A forked child inherited the parent's connections: using them, or closing
                // them through libcurl (TLS close_notify), would disturb the parent.
                swap(&inherited, &idleHandles)
                ownerGeneration = generation
                sockets.closeInheritedSockets()
            }
            return idleHandles.popLast()
        }
        inherited.forEach(AbandonedHandles.keep)
        if let reused { return reused }
        return try CurlHandle.make(settings: settings, sockets: sockets)
    }

    private func checkIn(_ handle: CurlHandle) {
        let mine = lock.withLock {
            if handle.generation == ownerGeneration { idleHandles.append(handle) }
            return handle.generation == ownerGeneration
        }
        if !mine { AbandonedHandles.keep(handle) }
    }
}

/// What a forked child inherited of libcurl (easy handles, multi handles): their sockets
/// closed, then kept (never used, never freed) for the life of the process, since cleaning one
/// up would talk on its connection; kept reachable, they are not reported as leaks by memory
/// checkers.
enum AbandonedHandles {
    private static let lock = Lock()
    nonisolated(unsafe) private static var objects: [AnyObject] = []

    static func keep(_ handle: CurlHandle) {
        handle.abandon()
        keep(object: handle)
    }

    static func keep(object: AnyObject) {
        lock.withLock { objects.append(object) }
    }
}

/// One libcurl easy handle with its options set, and the buffers its callbacks fill.
final class CurlHandle {
    /// The most of a response body kept; the rest is read and dropped.
    static let maxBodyBytes = 4 * 1024 * 1024

    let easy: UnsafeMutableRawPointer
    let generation = ForkGeneration.current
    /// Where the handle's sockets are recorded; kept alive as long as the handle, whose
    /// cleanup closes sockets through it.
    private let sockets: SocketRegistry
    /// The header list of the transfer in progress, freed when it ends.
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private var abandoned = false
    /// libcurl keeps this pointer between calls, so it is allocated, not a Swift array.
    private let errorBuffer: UnsafeMutablePointer<CChar> = {
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        buffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        return buffer
    }()
    fileprivate var body: [UInt8] = []
    fileprivate var bodyTruncated = false
    fileprivate var retryAfter: String?
    /// Whether the header block of the answer ended (its empty line came): libcurl takes an
    /// answer cut off inside its headers for a whole one.
    fileprivate var headerEnded = false
    private var currentURL: String?
    private var userAgentHeader = ""
    /// The options' timeout, and the one set on the handle now (shorter for a request with
    /// little left of its caller's deadline).
    private var settingsTimeout = 0
    private var currentTimeout = 0
    /// Requests libcurl has started in the current transfer; a second one is a re-send.
    fileprivate var requestsStarted = 0
    /// A body of no bytes still needs an address: a NULL POSTFIELDS would make libcurl
    /// read the body from stdin.
    nonisolated(unsafe) private static let emptyBody: UnsafePointer<UInt8> = {
        let pointer = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
        pointer.initialize(to: 0)
        return UnsafePointer(pointer)
    }()

    private init(easy: UnsafeMutableRawPointer, sockets: SocketRegistry) {
        self.easy = easy
        self.sockets = sockets
    }

    /// A handle with every fixed option set. On failure the half-made handle is freed by deinit.
    static func make(settings: CurlTransport.Settings, sockets: SocketRegistry) throws(TransportFailure) -> CurlHandle {
        guard let easy = curl_easy_init() else {
            throw TransportFailure(.permanent, "libcurl could not create a handle")
        }
        let handle = CurlHandle(easy: easy, sockets: sockets)
        try handle.configure(settings)
        return handle
    }

    private func configure(_ settings: CurlTransport.Settings) throws(TransportFailure) {
        var failed: (String, CURLcode)?
        func set(_ what: String, _ code: CURLcode) {
            if code != CURLE_OK && failed == nil { failed = (what, code) }
        }
        // No signals: libcurl would otherwise use SIGALRM for DNS timeouts, unsafe in a
        // multi-threaded host.
        set("nosignal", suprsend_curl_set_long(easy, CURLOPT_NOSIGNAL, 1))
        set("timeout", suprsend_curl_set_long(easy, CURLOPT_TIMEOUT_MS, settings.timeoutMilliseconds))
        settingsTimeout = settings.timeoutMilliseconds
        currentTimeout = settings.timeoutMilliseconds
        set("connect timeout", suprsend_curl_set_long(easy, CURLOPT_CONNECTTIMEOUT_MS, settings.connectTimeoutMilliseconds))
        set("protocols", suprsend_curl_set_string(easy, CURLOPT_PROTOCOLS_STR, "http,https"))
        // The path goes out exactly as it was signed (no squashing of "/../" or "//").
        set("path as is", suprsend_curl_set_long(easy, CURLOPT_PATH_AS_IS, 1))
        set("keep-alive", suprsend_curl_set_long(easy, CURLOPT_TCP_KEEPALIVE, 1))
        set("verify peer", suprsend_curl_set_long(easy, CURLOPT_SSL_VERIFYPEER, 1))
        set("verify host", suprsend_curl_set_long(easy, CURLOPT_SSL_VERIFYHOST, 2))
        // The User-Agent goes in the header list: CURLOPT_USERAGENT is formatted anew per request.
        userAgentHeader = "User-Agent: \(settings.userAgent)"
        if let proxy = settings.proxy {
            set("proxy", suprsend_curl_set_string(easy, CURLOPT_PROXY, proxy))
        }
        if let caFile = settings.caFile {
            set("CA file", suprsend_curl_set_string(easy, CURLOPT_CAINFO, caFile))
            // Debian's libcurl also loads the system's CA directory: without this, the file
            // would add trust instead of replacing it.
            set("CA path", suprsend_curl_set_string(easy, CURLOPT_CAPATH, nil))
        }
        // libcurl must not re-send a request on its own (see suprsend_curl_set_prereq_fn).
        set("pre-request function", suprsend_curl_set_prereq_fn(easy, curlBeforeRequest))
        set("pre-request data", suprsend_curl_set_pointer(easy, CURLOPT_PREREQDATA, Unmanaged.passUnretained(self).toOpaque()))
        set("write function", suprsend_curl_set_data_fn(easy, CURLOPT_WRITEFUNCTION, curlWriteBody))
        set("header function", suprsend_curl_set_data_fn(easy, CURLOPT_HEADERFUNCTION, curlReadHeader))
        let context = Unmanaged.passUnretained(self).toOpaque()
        set("write data", suprsend_curl_set_pointer(easy, CURLOPT_WRITEDATA, context))
        set("header data", suprsend_curl_set_pointer(easy, CURLOPT_HEADERDATA, context))
        set("error buffer", suprsend_curl_set_pointer(easy, CURLOPT_ERRORBUFFER, errorBuffer))
        let registry = Unmanaged.passUnretained(sockets).toOpaque()
        set("socket option function", suprsend_curl_set_sockopt_fn(easy, curlSocketOpened))
        set("socket option data", suprsend_curl_set_pointer(easy, CURLOPT_SOCKOPTDATA, registry))
        set("close socket function", suprsend_curl_set_closesocket_fn(easy, curlCloseSocket))
        set("close socket data", suprsend_curl_set_pointer(easy, CURLOPT_CLOSESOCKETDATA, registry))
        if let (what, code) = failed {
            throw TransportFailure(.permanent, "libcurl refused the \(what) option: \(String(cString: curl_easy_strerror(code)))")
        }
    }

    deinit {
        if !abandoned {
            curl_easy_cleanup(easy)
            curl_slist_free_all(headerList)
        }
        errorBuffer.deallocate()
    }

    /// In a forked child: leaves the handle to the process that made it. It is never used or
    /// cleaned up, since that would talk on the parent's connection (a TLS close_notify would
    /// end the parent's session); its socket is closed through the `SocketRegistry`.
    func abandon() {
        abandoned = true
    }

    /// Sets up a transfer of `request` but for its body: URL and headers. The header list
    /// lives until `finish`.
    func begin(_ request: HTTPRequest) -> CURLcode {
        body.removeAll(keepingCapacity: true)
        bodyTruncated = false
        retryAfter = nil
        headerEnded = false
        errorBuffer[0] = 0
        requestsStarted = 0

        curl_slist_free_all(headerList)
        headerList = nil
        for header in request.headers {
            headerList = curl_slist_append(headerList, header)
        }
        headerList = curl_slist_append(headerList, userAgentHeader)
        // Never wait for "100 Continue": the hub answers at once.
        headerList = curl_slist_append(headerList, "Expect:")

        // Setting the URL makes libcurl parse it again; a handle mostly posts to one URL.
        var code = CURLE_OK
        if request.url != currentURL {
            code = suprsend_curl_set_string(easy, CURLOPT_URL, request.url)
            currentURL = code == CURLE_OK ? request.url : nil
        }
        if code == CURLE_OK {
            code = suprsend_curl_set_pointer(easy, CURLOPT_HTTPHEADER, UnsafeMutableRawPointer(headerList))
        }
        let timeout = min(max(request.timeoutMilliseconds ?? settingsTimeout, 1), settingsTimeout)
        if code == CURLE_OK && timeout != currentTimeout {
            code = suprsend_curl_set_long(easy, CURLOPT_TIMEOUT_MS, timeout)
            if code == CURLE_OK { currentTimeout = timeout }
        }
        return code
    }

    /// Sets a body that libcurl copies, for a transfer that outlives the caller's buffer (a
    /// multi transfer).
    func setCopiedBody(_ bytes: [UInt8]) -> CURLcode {
        var code = suprsend_curl_set_offset(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(bytes.count))
        if code == CURLE_OK {
            code = bytes.withUnsafeBytes { raw in
                let pointer = raw.baseAddress ?? UnsafeRawPointer(Self.emptyBody)
                return suprsend_curl_set_pointer(easy, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: pointer))
            }
        }
        return code
    }

    /// Ends a transfer that libcurl finished with `code`: the answer, or why none came.
    func finish(_ code: CURLcode) -> Result<HTTPAnswer, TransportFailure> {
        // The header list is freed now: leave libcurl no pointer to it.
        _ = suprsend_curl_set_pointer(easy, CURLOPT_HTTPHEADER, nil)
        curl_slist_free_all(headerList)
        headerList = nil

        guard code == CURLE_OK else {
            if code == CURLE_ABORTED_BY_CALLBACK && requestsStarted > 1 {
                return .failure(TransportFailure(.transient, "the connection closed before the hub answered "
                    + "(the request may have been processed)", mayHaveBeenProcessed: true))
            }
            // The pre-request function runs once connected, just before the request goes out:
            // a failure after it may come after the hub got, and processed, the request.
            return .failure(TransportFailure(Self.kind(of: code), describe(code), mayHaveBeenProcessed: requestsStarted > 0))
        }
        var status = 0
        _ = suprsend_curl_get_long(easy, CURLINFO_RESPONSE_CODE, &status)
        // A body cut short of its Content-Length, or of its last chunk, libcurl reports itself
        // (CURLE_PARTIAL_FILE, CURLE_RECV_ERROR); headers cut short it does not.
        guard headerEnded, status > 0 else {
            return .failure(TransportFailure(.transient, "the answer was cut off (the connection closed inside its "
                + "headers; the request may have been processed)", mayHaveBeenProcessed: true))
        }
        return .success(HTTPAnswer(status: status, body: body, retryAfter: retryAfter, bodyTruncated: bodyTruncated))
    }

    /// One blocking request on this handle.
    func post(_ request: HTTPRequest) -> Result<HTTPAnswer, TransportFailure> {
        var code = begin(request)
        if code == CURLE_OK {
            code = request.body.withUnsafeBytes { bytes -> CURLcode in
                // POSTFIELDS: libcurl sends the body with the headers, in one write. It keeps the
                // pointer, so the option is cleared before the body goes out of scope.
                defer { _ = suprsend_curl_set_pointer(easy, CURLOPT_POSTFIELDS, nil) }
                var result = suprsend_curl_set_offset(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(bytes.count))
                if result == CURLE_OK {
                    let pointer = bytes.baseAddress ?? UnsafeRawPointer(Self.emptyBody)
                    result = suprsend_curl_set_pointer(easy, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: pointer))
                }
                return result == CURLE_OK ? curl_easy_perform(easy) : result
            }
        }
        return finish(code)
    }

    private func describe(_ code: CURLcode) -> String {
        let summary = String(cString: curl_easy_strerror(code))
        let detail = String(cString: errorBuffer)
        let text = detail.isEmpty || detail == summary ? summary : "\(summary): \(detail)"
        // libcurl refuses a header line or block over its limit (100 KiB) with "Out of
        // memory" (CURLE_TOO_LARGE, 100, since 8.6): said as what happened.
        if (code == CURLE_OUT_OF_MEMORY || code.rawValue == 100) && requestsStarted > 0 && !headerEnded {
            return "the hub's answer had a header too large to read (libcurl: \(text))"
        }
        return text
    }

    /// Which failures another attempt may cure (wire-protocol.md, "Retry classes").
    static func kind(of code: CURLcode) -> TransportFailure.Kind {
        switch code {
        case CURLE_COULDNT_RESOLVE_PROXY, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_CONNECT,
             CURLE_OPERATION_TIMEDOUT, CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_GOT_NOTHING,
             CURLE_PARTIAL_FILE, CURLE_SSL_CONNECT_ERROR, CURLE_HTTP2, CURLE_HTTP2_STREAM,
             CURLE_WEIRD_SERVER_REPLY:
            return .transient
        default:
            return .permanent
        }
    }

    fileprivate func appendBody(_ data: UnsafeRawBufferPointer) {
        let room = Self.maxBodyBytes - body.count
        if data.count > room { bodyTruncated = true }
        if room > 0 { body.append(contentsOf: data.prefix(room)) }
    }

    fileprivate func readHeader(_ line: UnsafeRawBufferPointer) {
        // A new status line starts a new header block (after "100 Continue", or a proxy's).
        if line.starts(with: "HTTP/".utf8) {
            retryAfter = nil
            headerEnded = false
            return
        }
        // The empty line that ends a block ("\r\n"; a bare "\n" from lax servers, which libcurl takes).
        if line.count <= 2 && line.allSatisfy({ $0 == 0x0D || $0 == 0x0A }) && line.last == 0x0A {
            headerEnded = true
            return
        }
        let name = "retry-after:".utf8
        guard line.count > name.count,
              zip(line.prefix(name.count), name).allSatisfy({ ($0 | 0x20) == ($1 | 0x20) || $0 == $1 })
        else { return }
        let value = String(decoding: line.dropFirst(name.count), as: UTF8.self)
        retryAfter = value.trimmingWhitespace()
    }
}


private func curlBeforeRequest(_ context: UnsafeMutableRawPointer?, _ primaryIP: UnsafeMutablePointer<CChar>?,
                               _ localIP: UnsafeMutablePointer<CChar>?, _ primaryPort: Int32, _ localPort: Int32) -> Int32 {
    guard let context else { return CURL_PREREQFUNC_OK }
    let handle = Unmanaged<CurlHandle>.fromOpaque(context).takeUnretainedValue()
    handle.requestsStarted += 1
    return handle.requestsStarted > 1 ? CURL_PREREQFUNC_ABORT : CURL_PREREQFUNC_OK
}

private func curlWriteBody(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?) -> Int {
    let total = size &* count
    guard let data, let context else { return total }
    Unmanaged<CurlHandle>.fromOpaque(context).takeUnretainedValue().appendBody(UnsafeRawBufferPointer(start: data, count: total))
    return total
}

private func curlReadHeader(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?) -> Int {
    let total = size &* count
    guard let data, let context else { return total }
    Unmanaged<CurlHandle>.fromOpaque(context).takeUnretainedValue().readHeader(UnsafeRawBufferPointer(start: data, count: total))
    return total
}

/// The sockets libcurl opened for one transport, recorded as it opens and closes them, so
/// that a forked child can close its copies of them without a word on the wire.
final class SocketRegistry: @unchecked Sendable {
    private let lock = Lock()
    private var open: Set<Int32> = []

    fileprivate func opened(_ socket: Int32) {
        // Close-on-exec: a program the host starts must not inherit the connection to the hub.
        let flags = fcntl(socket, F_GETFD)
        if flags >= 0 { _ = fcntl(socket, F_SETFD, flags | FD_CLOEXEC) }
        lock.withLock { _ = open.insert(socket) }
    }

    fileprivate func closing(_ socket: Int32) {
        lock.withLock { _ = open.remove(socket) }
    }

    /// In a forked child: closes every recorded socket (the parent's connections) and
    /// forgets them. The libcurl handles that used them must never be used again.
    func closeInheritedSockets() {
        let sockets = lock.withLock {
            defer { open.removeAll() }
            return open
        }
        for socket in sockets { close(socket) }
    }
}

private func curlSocketOpened(_ context: UnsafeMutableRawPointer?, _ socket: curl_socket_t, _ purpose: curlsocktype) -> Int32 {
    if let context {
        Unmanaged<SocketRegistry>.fromOpaque(context).takeUnretainedValue().opened(socket)
    }
    return Int32(CURL_SOCKOPT_OK)
}

private func curlCloseSocket(_ context: UnsafeMutableRawPointer?, _ socket: curl_socket_t) -> Int32 {
    if let context {
        Unmanaged<SocketRegistry>.fromOpaque(context).takeUnretainedValue().closing(socket)
    }
    return close(socket)
}
