/// An event checked against every rule and serialized, ready to go into a request body.
public struct PreparedEvent: Sendable {
    /// The event object, as sent.
    public let json: [UInt8]
    /// The key the hub will de-duplicate on, if any (the caller's, or the generated one).
    public let idempotencyKey: String?
}

/// An event that broke a rule: why, and the event as it would have been sent, so that a
/// bulk can report it as a failed record.
public struct RejectedEvent: Error, Sendable {
    public let error: SuprSendError
    public let recordJSON: [UInt8]
}

/// Applies the rules and the wire format to one event. Pure: the same event gives the same
/// bytes every time, which is what makes a resend a retry rather than a new event.
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
        let checked: EventRules.CheckedFields
        do {
            checked = try rules.check(event)
        } catch {
            return .failure(RejectedEvent(error: error, recordJSON: encodeAsGiven(event)))
        }
        let key = checked.idempotencyKey ?? (autoIdempotency ? event.insertId : nil)
        var writer = JSONWriter(reservingCapacity: 256 + event.properties.objectBytes.count)
        encoder.encode(EventEncoder.Fields(insertId: event.insertId, time: event.createdAtMilliseconds,
                                           name: checked.name, distinctId: checked.distinctId,
                                           idempotencyKey: key, tenantId: checked.tenantId),
                       properties: event.properties, attachments: event.attachments, into: &writer)
        do {
            try rules.checkSize(writer.bytes.count)
        } catch {
            return .failure(RejectedEvent(error: error, recordJSON: writer.bytes))
        }
        return .success(PreparedEvent(json: writer.bytes, idempotencyKey: key))
    }

    /// The event with its fields as the caller gave them, for a failed record.
    private func encodeAsGiven(_ event: Event) -> [UInt8] {
        var writer = JSONWriter(reservingCapacity: 256 + event.properties.objectBytes.count)
        encoder.encode(EventEncoder.Fields(insertId: event.insertId, time: event.createdAtMilliseconds,
                                           name: event.name, distinctId: event.distinctId,
                                           idempotencyKey: event.idempotencyKey, tenantId: event.tenantId),
                       properties: event.properties, attachments: event.attachments, into: &writer)
        return writer.bytes
    }
}
