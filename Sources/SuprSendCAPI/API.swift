// The C API of include/suprsend.h. Each function checks its arguments, calls the core, and
// turns a thrown error into a status plus suprsend_last_error(). `@c @implementation`
// makes the compiler check every signature against the hand-written header.
import CSuprSend
import Glibc
import SuprSendCore

// MARK: - Version and status

nonisolated(unsafe) private let versionCString = CText.immortal(Configuration.version)
nonisolated(unsafe) private let statusNameCStrings: [Int32: UnsafePointer<CChar>] = {
    let all: [Status] = [.ok, .argument, .validation, .tooLarge, .attachment, .network, .http,
                         .timeout, .queueFull, .storage, .closed, .internal]
    return Dictionary(uniqueKeysWithValues: all.map { ($0.rawValue, CText.immortal("\($0.name)")) })
}()
nonisolated(unsafe) private let unknownStatusCString = CText.immortal("SUPRSEND_E_UNKNOWN")

@c @implementation
public func suprsend_version() -> UnsafePointer<CChar>! { versionCString }

@c @implementation
public func suprsend_version_number() -> Int32 { Configuration.versionNumber }

@c @implementation
public func suprsend_status_name(_ status: Int32) -> UnsafePointer<CChar>! {
    statusNameCStrings[status] ?? unknownStatusCString
}

@c @implementation
public func suprsend_last_error() -> UnsafePointer<CChar>! { LastError.current }

/// Runs a body that may fail and gives the C status: the common shape of the setters.
private func status(_ body: () throws(SuprSendError) -> Void) -> Int32 {
    do {
        try body()
        return Status.ok.rawValue
    } catch {
        return LastError.report(error)
    }
}

// MARK: - Options

@c @implementation
public func suprsend_options_new(_ key: UnsafePointer<CChar>!, _ secret: UnsafePointer<CChar>!) -> OpaquePointer! {
    do throws(SuprSendError) {
        let configuration = try Configuration(workspaceKey: try CText.decode(key, "workspace_key"),
                                              workspaceSecret: try CText.decode(secret, "workspace_secret"))
        return Handle.make(OptionsObject(configuration))
    } catch {
        _ = LastError.report(error)
        return nil
    }
}

/// Applies a change to the options behind a handle.
private func updateOptions(_ handle: OpaquePointer?, _ change: (inout Configuration) throws(SuprSendError) -> Void) -> Int32 {
    status { () throws(SuprSendError) in
        let options: OptionsObject = try Handle.require(handle, "options")
        try change(&options.configuration)
    }
}

@c @implementation
public func suprsend_options_set_base_url(_ options: OpaquePointer!, _ url: UnsafePointer<CChar>!) -> Int32 {
    updateOptions(options) { (configuration) throws(SuprSendError) in try configuration.setBaseURL(try CText.decode(url, "base_url")) }
}

@c @implementation
public func suprsend_options_set_timeout_ms(_ options: OpaquePointer!, _ milliseconds: Int) -> Int32 {
    updateOptions(options) { (configuration) throws(SuprSendError) in try configuration.setTimeout(milliseconds: milliseconds) }
}

@c @implementation
public func suprsend_options_set_call_timeout_ms(_ options: OpaquePointer!, _ milliseconds: Int) -> Int32 {
    updateOptions(options) { (configuration) throws(SuprSendError) in try configuration.setCallTimeout(milliseconds: milliseconds) }
}

@c @implementation
public func suprsend_options_set_connect_timeout_ms(_ options: OpaquePointer!, _ milliseconds: Int) -> Int32 {
    updateOptions(options) { (configuration) throws(SuprSendError) in try configuration.setConnectTimeout(milliseconds: milliseconds) }
}

@c @implementation
public func suprsend_options_set_proxy(_ options: OpaquePointer!, _ url: UnsafePointer<CChar>!) -> Int32 {
    updateOptions(options) { (configuration) throws(SuprSendError) in try configuration.setProxy(try CText.decodeOptional(url, "proxy")) }
}

@c @implementation
public func suprsend_options_set_ca_file(_ options: OpaquePointer!, _ path: UnsafePointer<CChar>!) -> Int32 {
    updateOptions(options) { (configuration) throws(SuprSendError) in try configuration.setCAFile(try CText.decodeOptional(path, "ca_file")) }
}

@c @implementation
public func suprsend_options_set_max_retries(_ options: OpaquePointer!, _ count: Int32) -> Int32 {
    updateOptions(options) { (configuration) throws(SuprSendError) in try configuration.setMaxRetries(Int(count)) }
}

@c @implementation
public func suprsend_options_set_max_event_bytes(_ options: OpaquePointer!, _ bytes: Int) -> Int32 {
    updateOptions(options) { (configuration) throws(SuprSendError) in try configuration.setMaxEventBytes(bytes) }
}

@c @implementation
public func suprsend_options_set_auto_idempotency(_ options: OpaquePointer!, _ on: Int32) -> Int32 {
    updateOptions(options) { configuration in configuration.autoIdempotency = on != 0 }
}

/// The host's callback and its pointer, carried into the core's logger. The host promises
/// the callback may be called from any thread (suprsend.h), which is what makes this Sendable.
private struct HostLogCallback: @unchecked Sendable {
    let function: suprsend_log_fn
    let userData: UnsafeMutableRawPointer?

    func callAsFunction(_ level: LogLevel, _ message: String) {
        message.withCString { function(level.rawValue, $0, userData) }
    }
}

@c @implementation
public func suprsend_options_set_log(_ options: OpaquePointer!, _ minimumLevel: Int32, _ function: suprsend_log_fn!,
                                     _ userData: UnsafeMutableRawPointer!) -> Int32 {
    updateOptions(options) { configuration in
        guard let function else {
            configuration.logger = .off
            return
        }
        let callback = HostLogCallback(function: function, userData: userData)
        configuration.logger = Logger(minimumLevel: minimumLevel, sink: { callback($0, $1) })
    }
}

@c @implementation
public func suprsend_options_free(_ options: OpaquePointer!) {
    Handle.release(options, as: OptionsObject.self)
}

// MARK: - Client

@c @implementation
public func suprsend_client_new(_ options: OpaquePointer!, _ out: UnsafeMutablePointer<OpaquePointer?>!) -> Int32 {
    out?.pointee = nil
    return status { () throws(SuprSendError) in
        guard let out else { throw SuprSendError(.argument, "out: must not be NULL") }
        let optionsObject: OptionsObject = try Handle.require(options, "options")
        // Before anything else: an old libcurl would fail later, and less clearly.
        if let old = LibcurlVersion.problem() { throw old }
        let client = try Client(configuration: optionsObject.configuration)
        out.pointee = Handle.make(ClientObject(client))
    }
}

@c @implementation
public func suprsend_client_free(_ client: OpaquePointer!) {
    guard let object: ClientObject = Handle.get(client) else {
        Handle.release(client, as: ClientObject.self)  // NULL: nothing; another kind: said so
        return
    }
    if !object.client.isClosed {
        try? object.client.close(timeoutMilliseconds: object.client.configuration.shutdownTimeoutMilliseconds)
    }
    Handle.release(client, as: ClientObject.self)
}

// MARK: - Events

@c @implementation
public func suprsend_event_new(_ distinctId: UnsafePointer<CChar>!, _ eventName: UnsafePointer<CChar>!) -> OpaquePointer! {
    do throws(SuprSendError) {
        let event = Event(distinctId: try CText.decode(distinctId, "distinct_id"),
                          name: try CText.decode(eventName, "event name"))
        return Handle.make(EventObject(event))
    } catch {
        _ = LastError.report(error)
        return nil
    }
}

@c @implementation
public func suprsend_event_new_json(_ json: UnsafePointer<CChar>!) -> OpaquePointer! {
    do throws(SuprSendError) {
        guard let json else { throw SuprSendError(.argument, "event JSON: must not be NULL") }
        let event = try json.withMemoryRebound(to: UInt8.self, capacity: strlen(json) + 1) { (bytes) throws(SuprSendError) in
            try Event(json: UnsafeBufferPointer(start: bytes, count: strlen(json)))
        }
        return Handle.make(EventObject(event))
    } catch {
        _ = LastError.report(error)
        return nil
    }
}

/// Applies a change to the event behind a handle.
private func updateEvent(_ handle: OpaquePointer?, _ change: (inout Event) throws(SuprSendError) -> Void) -> Int32 {
    status { () throws(SuprSendError) in
        let object: EventObject = try Handle.require(handle, "event")
        try change(&object.event)
    }
}

@c @implementation
public func suprsend_event_set_properties_json(_ event: OpaquePointer!, _ json: UnsafePointer<CChar>!) -> Int32 {
    updateEvent(event) { (event) throws(SuprSendError) in
        guard let json else {
            try event.setProperties(json: [])
            return
        }
        let length = strlen(json)
        let bytes = json.withMemoryRebound(to: UInt8.self, capacity: length) { Array(UnsafeBufferPointer(start: $0, count: length)) }
        try event.setProperties(json: bytes)
    }
}

@c @implementation
public func suprsend_event_set_idempotency_key(_ event: OpaquePointer!, _ key: UnsafePointer<CChar>!) -> Int32 {
    updateEvent(event) { (event) throws(SuprSendError) in event.idempotencyKey = try CText.decodeOptional(key, "idempotency_key") }
}

@c @implementation
public func suprsend_event_set_tenant_id(_ event: OpaquePointer!, _ tenantId: UnsafePointer<CChar>!) -> Int32 {
    updateEvent(event) { (event) throws(SuprSendError) in event.tenantId = try CText.decodeOptional(tenantId, "tenant_id") }
}

@c @implementation
public func suprsend_event_set_brand_id(_ event: OpaquePointer!, _ brandId: UnsafePointer<CChar>!) -> Int32 {
    updateEvent(event) { (event) throws(SuprSendError) in event.brandId = try CText.decodeOptional(brandId, "brand_id") }
}

@c @implementation
public func suprsend_event_add_attachment_data(_ event: OpaquePointer!, _ data: UnsafeRawPointer!, _ size: Int,
                                               _ fileName: UnsafePointer<CChar>!, _ contentType: UnsafePointer<CChar>!,
                                               _ ignoreIfError: Int32) -> Int32 {
    updateEvent(event) { (event) throws(SuprSendError) in
        guard let data, size > 0 else {
            throw SuprSendError(.argument, size < 0 ? "attachment data: size must not be negative" : "attachment data: no data")
        }
        try event.addAttachment(data: UnsafeRawBufferPointer(start: data, count: size),
                                fileName: try CText.decode(fileName, "attachment file name"),
                                contentType: try CText.decodeOptional(contentType, "attachment content type"),
                                ignoreIfError: ignoreIfError != 0)
    }
}

@c @implementation
public func suprsend_event_add_attachment(_ event: OpaquePointer!, _ pathOrURL: UnsafePointer<CChar>!,
                                          _ fileName: UnsafePointer<CChar>!, _ ignoreIfError: Int32) -> Int32 {
    updateEvent(event) { (event) throws(SuprSendError) in
        try event.addAttachment(try CText.decode(pathOrURL, "attachment path or URL"),
                                fileName: try CText.decodeOptional(fileName, "attachment file name"),
                                ignoreIfError: ignoreIfError != 0)
    }
}

@c @implementation
public func suprsend_event_free(_ event: OpaquePointer!) {
    Handle.release(event, as: EventObject.self)
}

// MARK: - Sending one event

@c @implementation
public func suprsend_track_event(_ client: OpaquePointer!, _ event: OpaquePointer!,
                                 _ out: UnsafeMutablePointer<OpaquePointer?>!) -> Int32 {
    out?.pointee = nil
    do throws(SuprSendError) {
        let clientObject: ClientObject = try Handle.require(client, "client")
        let eventObject: EventObject = try Handle.require(event, "event")
        let result = try clientObject.client.track(eventObject.event)
        out?.pointee = Handle.make(ResponseObject(result))
        if !result.accepted {
            LastError.set(HubResponses.describe(status: result.statusCode, message: result.message))
        }
        return result.status.rawValue
    } catch {
        return LastError.report(error)
    }
}

@c @implementation
public func suprsend_response_success(_ response: OpaquePointer!) -> Int32 {
    guard let object: ResponseObject = Handle.get(response) else { return 0 }
    return object.accepted ? 1 : 0
}

@c @implementation
public func suprsend_response_status_code(_ response: OpaquePointer!) -> Int32 {
    guard let object: ResponseObject = Handle.get(response) else { return 0 }
    return object.statusCode
}

@c @implementation
public func suprsend_response_message(_ response: OpaquePointer!) -> UnsafePointer<CChar>! {
    guard let object: ResponseObject = Handle.get(response) else { return CText.empty }
    return object.message.cString
}

@c @implementation
public func suprsend_response_body(_ response: OpaquePointer!) -> UnsafePointer<CChar>! {
    guard let object: ResponseObject = Handle.get(response) else { return CText.empty }
    return object.body.cString
}

@c @implementation
public func suprsend_response_free(_ response: OpaquePointer!) {
    Handle.release(response, as: ResponseObject.self)
}

// MARK: - Bulk

@c @implementation
public func suprsend_bulk_new(_ client: OpaquePointer!) -> OpaquePointer! {
    do throws(SuprSendError) {
        let clientObject: ClientObject = try Handle.require(client, "client")
        return Handle.make(BulkObject(clientObject))
    } catch {
        _ = LastError.report(error)
        return nil
    }
}

@c @implementation
public func suprsend_bulk_append(_ bulk: OpaquePointer!, _ event: OpaquePointer!) -> Int32 {
    do throws(SuprSendError) {
        let bulkObject: BulkObject = try Handle.require(bulk, "bulk")
        let eventObject: EventObject = try Handle.require(event, "event")
        let appended = try bulkObject.batch.append(eventObject.event)
        guard appended == .ok else {
            // Kept as a failed record; the message says why it will not be sent.
            LastError.set("event kept as a failed record: \(bulkObject.batch.lastRejectionMessage ?? "invalid")")
            return appended.rawValue
        }
        return Status.ok.rawValue
    } catch {
        return LastError.report(error)
    }
}

@c @implementation
public func suprsend_bulk_append_json(_ bulk: OpaquePointer!, _ json: UnsafePointer<CChar>!) -> Int32 {
    do throws(SuprSendError) {
        let bulkObject: BulkObject = try Handle.require(bulk, "bulk")
        guard let json else { throw SuprSendError(.argument, "events JSON: must not be NULL") }
        let length = strlen(json)
        let events = try json.withMemoryRebound(to: UInt8.self, capacity: length + 1) { (bytes) throws(SuprSendError) in
            try Event.list(json: UnsafeBufferPointer(start: bytes, count: length))
        }
        guard !bulkObject.batch.isTriggered else {
            throw SuprSendError(.argument, "bulk: already triggered; make a new bulk for more events")
        }
        // As suprsend_bulk_append for each, in order; the first invalid one is the status.
        var first: (status: Status, message: String)?
        var invalid = 0
        for event in events {
            let appended = try bulkObject.batch.append(event)
            if appended != .ok {
                invalid += 1
                if first == nil { first = (appended, bulkObject.batch.lastRejectionMessage ?? "invalid") }
            }
        }
        guard let first else { return Status.ok.rawValue }
        LastError.set(invalid == 1 && events.count == 1
            ? "event kept as a failed record: \(first.message)"
            : "\(invalid) of \(events.count) events kept as failed records; the first: \(first.message)")
        return first.status.rawValue
    } catch {
        return LastError.report(error)
    }
}

@c @implementation
public func suprsend_bulk_count(_ bulk: OpaquePointer!) -> Int {
    guard let object: BulkObject = Handle.get(bulk) else { return 0 }
    return object.batch.count
}

@c @implementation
public func suprsend_bulk_trigger(_ bulk: OpaquePointer!, _ out: UnsafeMutablePointer<OpaquePointer?>!) -> Int32 {
    out?.pointee = nil
    do throws(SuprSendError) {
        let bulkObject: BulkObject = try Handle.require(bulk, "bulk")
        let result = try bulkObject.batch.trigger()
        out?.pointee = Handle.make(BulkResponseObject(result))
        // The status says the worst that happened to any event, not merely the first failure.
        if let worst = result.worstFailure {
            let worstError = worst.status == .http ? HubResponses.describe(status: worst.code, message: worst.error) : worst.error
            LastError.set("\(result.failure) of \(result.total) events failed; the worst: \(worstError)")
        }
        return result.worstFailureStatus.rawValue
    } catch {
        return LastError.report(error)
    }
}

@c @implementation
public func suprsend_bulk_free(_ bulk: OpaquePointer!) {
    Handle.release(bulk, as: BulkObject.self)
}

@c @implementation
public func suprsend_bulk_response_status(_ response: OpaquePointer!) -> UnsafePointer<CChar>! {
    guard let object: BulkResponseObject = Handle.get(response) else { return CText.empty }
    return object.status.cString
}

@c @implementation
public func suprsend_bulk_response_total(_ response: OpaquePointer!) -> Int {
    guard let object: BulkResponseObject = Handle.get(response) else { return 0 }
    return object.result.total
}

@c @implementation
public func suprsend_bulk_response_success(_ response: OpaquePointer!) -> Int {
    guard let object: BulkResponseObject = Handle.get(response) else { return 0 }
    return object.result.success
}

@c @implementation
public func suprsend_bulk_response_failure(_ response: OpaquePointer!) -> Int {
    guard let object: BulkResponseObject = Handle.get(response) else { return 0 }
    return object.result.failure
}

@c @implementation
public func suprsend_bulk_response_failed_records_json(_ response: OpaquePointer!) -> UnsafePointer<CChar>! {
    guard let object: BulkResponseObject = Handle.get(response) else { return CText.empty }
    return object.failedRecordsJSON.cString
}

// MARK: - Asynchronous calls

/// The host's completion and its pointer. The host promises that they may be used on a thread
/// of the library (suprsend.h), which is what makes this Sendable.
private struct HostCompletion<Function>: @unchecked Sendable {
    let function: Function
    let userData: UnsafeMutableRawPointer?
}

@c @implementation
public func suprsend_track_event_async(_ client: OpaquePointer!, _ event: OpaquePointer!, _ done: suprsend_response_fn!,
                                       _ userData: UnsafeMutableRawPointer!) -> Int32 {
    status { () throws(SuprSendError) in
        let clientObject: ClientObject = try Handle.require(client, "client")
        let eventObject: EventObject = try Handle.require(event, "event")
        guard let done else { throw SuprSendError(.argument, "done: must not be NULL") }
        let completion = HostCompletion(function: done, userData: userData)
        try clientObject.client.trackAsync(eventObject.event) { result in
            switch result {
            case .success(let tracked):
                completion.function(tracked.status.rawValue, Handle.make(ResponseObject(tracked)), completion.userData)
            case .failure(let error):
                completion.function(error.status.rawValue, nil, completion.userData)
            }
        }
    }
}

@c @implementation
public func suprsend_bulk_trigger_async(_ bulk: OpaquePointer!, _ done: suprsend_bulk_response_fn!,
                                        _ userData: UnsafeMutableRawPointer!) -> Int32 {
    status { () throws(SuprSendError) in
        let bulkObject: BulkObject = try Handle.require(bulk, "bulk")
        guard let done else { throw SuprSendError(.argument, "done: must not be NULL") }
        let completion = HostCompletion(function: done, userData: userData)
        try bulkObject.batch.triggerAsync { status, result in
            completion.function(status.rawValue, Handle.make(BulkResponseObject(result)), completion.userData)
        }
    }
}

@c @implementation
public func suprsend_options_set_max_connections(_ options: OpaquePointer!, _ connections: Int) -> Int32 {
    updateOptions(options) { (configuration) throws(SuprSendError) in try configuration.setMaxConnections(connections) }
}

// MARK: - Typed outcomes of a bulk

@c @implementation
public func suprsend_bulk_response_failed_index(_ response: OpaquePointer!, _ index: Int) -> Int {
    guard let object: BulkResponseObject = Handle.get(response), let record = object.failed(index) else { return -1 }
    return record.index
}

@c @implementation
public func suprsend_bulk_response_failed_status(_ response: OpaquePointer!, _ index: Int) -> Int32 {
    guard let object: BulkResponseObject = Handle.get(response), let record = object.failed(index) else { return 0 }
    return record.status.rawValue
}

@c @implementation
public func suprsend_bulk_response_failed_code(_ response: OpaquePointer!, _ index: Int) -> Int32 {
    guard let object: BulkResponseObject = Handle.get(response), let record = object.failed(index) else { return 0 }
    return Int32(clamping: record.code)
}

@c @implementation
public func suprsend_bulk_response_failed_message(_ response: OpaquePointer!, _ index: Int) -> UnsafePointer<CChar>? {
    guard let object: BulkResponseObject = Handle.get(response) else { return nil }
    return object.message(index)
}

@c @implementation
public func suprsend_bulk_response_failed_record_json(_ response: OpaquePointer!, _ index: Int) -> UnsafePointer<CChar>? {
    guard let object: BulkResponseObject = Handle.get(response) else { return nil }
    return object.recordJSON(index)
}

@c @implementation
public func suprsend_bulk_response_free(_ response: OpaquePointer!) {
    Handle.release(response, as: BulkResponseObject.self)
}

// MARK: - Background delivery

@c @implementation
public func suprsend_options_set_outbox_path(_ options: OpaquePointer!, _ path: UnsafePointer<CChar>!) -> Int32 {
    updateOptions(options) { (configuration) throws(SuprSendError) in try configuration.setOutboxPath(try CText.decodeOptional(path, "outbox_path")) }
}

@c @implementation
public func suprsend_options_set_outbox_power_safe(_ options: OpaquePointer!, _ on: Int32) -> Int32 {
    updateOptions(options) { configuration in configuration.outboxPowerSafe = on != 0 }
}

@c @implementation
public func suprsend_options_set_queue_capacity(_ options: OpaquePointer!, _ events: Int) -> Int32 {
    updateOptions(options) { (configuration) throws(SuprSendError) in try configuration.setQueueCapacity(events) }
}

@c @implementation
public func suprsend_options_set_outbox_busy_timeout_ms(_ options: OpaquePointer!, _ milliseconds: Int) -> Int32 {
    updateOptions(options) { (configuration) throws(SuprSendError) in try configuration.setOutboxBusyTimeout(milliseconds: milliseconds) }
}

@c @implementation
public func suprsend_options_set_outbox_max_bytes(_ options: OpaquePointer!, _ bytes: Int64) -> Int32 {
    updateOptions(options) { (configuration) throws(SuprSendError) in try configuration.setOutboxMaxBytes(bytes) }
}

@c @implementation
public func suprsend_options_set_flush_interval_ms(_ options: OpaquePointer!, _ milliseconds: Int) -> Int32 {
    updateOptions(options) { (configuration) throws(SuprSendError) in try configuration.setFlushInterval(milliseconds: milliseconds) }
}

@c @implementation
public func suprsend_options_set_max_event_age_s(_ options: OpaquePointer!, _ seconds: Int) -> Int32 {
    updateOptions(options) { (configuration) throws(SuprSendError) in try configuration.setMaxEventAge(seconds: seconds) }
}

@c @implementation
public func suprsend_options_set_shutdown_timeout_ms(_ options: OpaquePointer!, _ milliseconds: Int) -> Int32 {
    updateOptions(options) { (configuration) throws(SuprSendError) in try configuration.setShutdownTimeout(milliseconds: milliseconds) }
}

/// The host's delivery callback and its pointer, carried into the core. The host promises
/// it may be called on the worker thread (suprsend.h), which is what makes this Sendable.
private struct HostDeliveryCallback: @unchecked Sendable {
    let function: suprsend_delivery_fn
    let userData: UnsafeMutableRawPointer?

    func callAsFunction(_ report: DeliveryReport) {
        let object = DeliveryObject(report)
        withExtendedLifetime(object) {
            function(OpaquePointer(Unmanaged.passUnretained(object).toOpaque()), userData)
        }
    }
}

@c @implementation
public func suprsend_options_set_delivery_callback(_ options: OpaquePointer!, _ function: suprsend_delivery_fn!,
                                                   _ userData: UnsafeMutableRawPointer!) -> Int32 {
    updateOptions(options) { configuration in
        guard let function else {
            configuration.onDelivery = nil
            return
        }
        let callback = HostDeliveryCallback(function: function, userData: userData)
        configuration.onDelivery = { callback($0) }
    }
}

@c @implementation
public func suprsend_delivery_status(_ delivery: OpaquePointer!) -> Int32 {
    guard let object: DeliveryObject = Handle.get(delivery) else { return Status.argument.rawValue }
    return object.report.status.rawValue
}

@c @implementation
public func suprsend_delivery_http_status(_ delivery: OpaquePointer!) -> Int32 {
    guard let object: DeliveryObject = Handle.get(delivery) else { return 0 }
    return Int32(clamping: object.report.httpStatus)
}

@c @implementation
public func suprsend_delivery_message(_ delivery: OpaquePointer!) -> UnsafePointer<CChar>! {
    guard let object: DeliveryObject = Handle.get(delivery) else { return CText.empty }
    return object.text(.message)
}

@c @implementation
public func suprsend_delivery_insert_id(_ delivery: OpaquePointer!) -> UnsafePointer<CChar>! {
    guard let object: DeliveryObject = Handle.get(delivery) else { return CText.empty }
    return object.text(.insertId)
}

@c @implementation
public func suprsend_delivery_idempotency_key(_ delivery: OpaquePointer!) -> UnsafePointer<CChar>! {
    guard let object: DeliveryObject = Handle.get(delivery) else { return CText.empty }
    return object.text(.idempotencyKey)
}

@c @implementation
public func suprsend_delivery_event_name(_ delivery: OpaquePointer!) -> UnsafePointer<CChar>! {
    guard let object: DeliveryObject = Handle.get(delivery) else { return CText.empty }
    return object.text(.eventName)
}

@c @implementation
public func suprsend_delivery_distinct_id(_ delivery: OpaquePointer!) -> UnsafePointer<CChar>! {
    guard let object: DeliveryObject = Handle.get(delivery) else { return CText.empty }
    return object.text(.distinctId)
}

@c @implementation
public func suprsend_delivery_attempts(_ delivery: OpaquePointer!) -> Int32 {
    guard let object: DeliveryObject = Handle.get(delivery) else { return 0 }
    return object.report.event.attempts
}

@c @implementation
public func suprsend_enqueue(_ client: OpaquePointer!, _ event: OpaquePointer!) -> Int32 {
    status { () throws(SuprSendError) in
        let clientObject: ClientObject = try Handle.require(client, "client")
        let eventObject: EventObject = try Handle.require(event, "event")
        try clientObject.client.enqueue(eventObject.event)
    }
}

@c @implementation
public func suprsend_flush(_ client: OpaquePointer!, _ timeoutMilliseconds: Int) -> Int32 {
    status { () throws(SuprSendError) in
        let clientObject: ClientObject = try Handle.require(client, "client")
        try clientObject.client.flush(timeoutMilliseconds: timeoutMilliseconds)
    }
}

@c @implementation
public func suprsend_client_close(_ client: OpaquePointer!, _ timeoutMilliseconds: Int) -> Int32 {
    status { () throws(SuprSendError) in
        // The handle stays valid: later calls, on any thread, get SUPRSEND_E_CLOSED until
        // suprsend_client_free releases it.
        let clientObject: ClientObject = try Handle.require(client, "client")
        try clientObject.client.close(timeoutMilliseconds: timeoutMilliseconds)
    }
}

@c @implementation
public func suprsend_client_stat(_ client: OpaquePointer!, _ which: Int32, _ out: UnsafeMutablePointer<Int64>!) -> Int32 {
    status { () throws(SuprSendError) in
        let clientObject: ClientObject = try Handle.require(client, "client")
        guard let out else { throw SuprSendError(.argument, "out: must not be NULL") }
        guard let value = statValue(clientObject.client.deliveryStats, which) else {
            throw SuprSendError(.argument, "which: \(which) is not a SUPRSEND_STAT_* value")
        }
        out.pointee = value
    }
}

@c @implementation
public func suprsend_client_stats(_ client: OpaquePointer!, _ out: UnsafeMutablePointer<Int64>!, _ count: Int32) -> Int32 {
    status { () throws(SuprSendError) in
        let clientObject: ClientObject = try Handle.require(client, "client")
        guard let out else { throw SuprSendError(.argument, "out: must not be NULL") }
        guard count >= 0 else { throw SuprSendError(.argument, "count: must not be negative (got \(count))") }
        let stats = clientObject.client.deliveryStats
        for index in 0..<Int(count) {
            out[index] = statValue(stats, Int32(index) + 1) ?? -1
        }
    }
}

/// One counter by its SUPRSEND_STAT_* id; nil for an id this library does not know.
private func statValue(_ stats: DeliveryStats, _ which: Int32) -> Int64? {
    switch which {
    case SUPRSEND_STAT_QUEUED: Int64(stats.queued)
    case SUPRSEND_STAT_IN_FLIGHT: Int64(stats.inFlight)
    case SUPRSEND_STAT_DELIVERED: Int64(stats.delivered)
    case SUPRSEND_STAT_REFUSED: Int64(stats.refused)
    case SUPRSEND_STAT_DROPPED: Int64(stats.dropped)
    case SUPRSEND_STAT_RETRIES: Int64(stats.retries)
    case SUPRSEND_STAT_OUTBOX_BYTES: stats.storageBytes
    default: nil
    }
}
