/// An event checked against every rule and serialized, ready to go into a request body.
/// Every attempt to deliver it sends these same bytes.
public struct PreparedEvent: Sendable {
    /// The event object, as sent.
    public let json: [UInt8]
    /// The $insert_id given to this occurrence.
    public let insertId: String
    /// The key the hub will de-duplicate on, if any (the caller's, or the generated one).
    public let idempotencyKey: String?
    /// The event name and distinct_id as sent (trimmed), for delivery reports.
    public let name: String
    public let distinctId: String
    /// Wall-clock milliseconds of this occurrence (its $time).
    public let time: Int64
}

/// An event that broke a rule: why, and the event as it would have been sent, so that a
/// bulk can report it as a failed record.
public struct RejectedEvent: Error, Sendable {
    public let error: SuprSendError
    public let recordJSON: [UInt8]
}

/// Applies the rules and the wire format to one event, making it an occurrence: a new
/// $insert_id (a UUID v4) and $time each time. Without a key from the caller, the $insert_id
/// is also the idempotency key (see `autoIdempotency`), so that retries of this occurrence
/// can never be processed twice while a second send of the same event is a second event.
public struct EventPreparer: Sendable {
    public var rules: EventRules
    /// Whether an event without an idempotency key gets its $insert_id as its key, so that
    /// the hub, which de-duplicates on keys only, can drop a retried duplicate.
    public var autoIdempotency: Bool
    let encoder: EventEncoder

    public init(workspaceKey: String, sdkVersion: String, rules: EventRules, autoIdempotency: Bool) {
        self.rules = rules
        self.autoIdempotency = autoIdempotency
        self.encoder = EventEncoder(workspaceKey: workspaceKey, sdkVersion: sdkVersion)
    }

    public func prepare(_ event: Event) -> Result<PreparedEvent, RejectedEvent> {
        let insertId = UUIDv4.make()
        let time = Clock.nowMilliseconds()
        let checked: EventRules.CheckedFields
        do {
            checked = try rules.check(event)
        } catch {
            return .failure(RejectedEvent(error: error, recordJSON: encodeAsGiven(event, insertId: insertId, time: time)))
        }
        let key = checked.idempotencyKey ?? (autoIdempotency ? insertId : nil)
        let fields = EventEncoder.Fields(insertId: insertId, time: time, name: checked.name, distinctId: checked.distinctId,
                                         idempotencyKey: key, tenantId: checked.tenantId,
                                         brandId: checked.brandId)
        var writer = JSONWriter(reservingCapacity: encoder.estimatedSize(fields, properties: event.properties,
                                                                         attachments: event.attachments))
        encoder.encode(fields, properties: event.properties, attachments: event.attachments, into: &writer)
        do {
            try rules.checkSize(writer.bytes.count)
        } catch {
            return .failure(RejectedEvent(error: error, recordJSON: writer.bytes))
        }
        return .success(PreparedEvent(json: writer.bytes, insertId: insertId, idempotencyKey: key,
                                      name: checked.name, distinctId: checked.distinctId, time: time))
    }

    /// The event with its fields as the caller gave them, for a failed record.
    private func encodeAsGiven(_ event: Event, insertId: String, time: Int64) -> [UInt8] {
        var writer = JSONWriter(reservingCapacity: 256 + event.properties.objectBytes.count)
        encoder.encode(EventEncoder.Fields(insertId: insertId, time: time,
                                           name: event.name, distinctId: event.distinctId,
                                           idempotencyKey: event.idempotencyKey, tenantId: event.tenantId,
                                           brandId: event.brandId),
                       properties: event.properties, attachments: event.attachments, into: &writer)
        return writer.bytes
    }
}
