/// The protocol's rules for one event (wire-protocol.md, "Validation"), checked before
/// anything is sent. Each broken rule is an error that names the field and the rule.
public struct EventRules: Sendable {
    public static let defaultMaxEventBytes = 100 * 1024
    public static let maxEventBytesLimit = 800 * 1024
    public static let maxIdempotencyKeyLength = 255
    public static let maxTenantIdLength = 64

    /// Names that start with '$' but that SuprSend defines and accepts from clients, spelled exactly.
    static let allowedReservedEventNames: Set<String> = [
        "$identify", "$notification_delivered", "$notification_dismiss", "$notification_clicked",
        "$app_launched", "$user_login", "$user_logout",
    ]

    public var maxEventBytes: Int

    public init(maxEventBytes: Int = EventRules.defaultMaxEventBytes) {
        self.maxEventBytes = maxEventBytes
    }

    /// The event's fields as they go on the wire: trimmed, and checked against every rule
    /// but the size, which needs the serialized form (see `EventEncoder`).
    public struct CheckedFields: Sendable {
        public var distinctId: String
        public var name: String
        public var idempotencyKey: String?
        public var tenantId: String?
    }

    public func check(_ event: Event) throws(SuprSendError) -> CheckedFields {
        let distinctId = event.distinctId.trimmingWhitespace()
        guard !distinctId.isEmpty else {
            throw .validation("distinct_id: must not be empty")
        }

        let name = event.name.trimmingWhitespace()
        guard Self.hasAtLeastTwoCharacters(name) else {
            throw .validation("event name: must be at least 2 characters ('\(name)')")
        }
        if Self.hasReservedPrefix(name) && !Self.allowedReservedEventNames.contains(name) {
            throw .validation("event name: must not start with '$' or 'ss_' ('\(name)'); these are reserved by SuprSend")
        }

        for key in event.properties.topLevelKeys where Self.hasReservedPrefix(key) && key != "$attachments" {
            throw .validation("properties: key '\(key)' must not start with '$' or 'ss_'; these are reserved by SuprSend")
        }
        if !event.attachments.isEmpty && event.properties.topLevelKeys.contains("$attachments") {
            throw .validation("properties: '$attachments' is managed by add_attachment; give attachments one way, not both")
        }

        var idempotencyKey = event.idempotencyKey?.trimmingWhitespace()
        if idempotencyKey?.isEmpty == true { idempotencyKey = nil }
        if let key = idempotencyKey, key.utf8.count > Self.maxIdempotencyKeyLength,
           key.unicodeScalars.count > Self.maxIdempotencyKeyLength {
            throw .validation("idempotency_key: must be at most \(Self.maxIdempotencyKeyLength) characters "
                + "(it has \(key.unicodeScalars.count))")
        }

        var tenantId = event.tenantId
        if tenantId?.isEmpty == true { tenantId = nil }
        if let tenant = tenantId {
            guard tenant.utf8.count <= Self.maxTenantIdLength, tenant.utf8.allSatisfy(Self.isTenantIdByte) else {
                throw .validation("tenant_id: must be at most \(Self.maxTenantIdLength) characters of A-Z a-z 0-9 _ - ('\(tenant)')")
            }
        }
        return CheckedFields(distinctId: distinctId, name: name, idempotencyKey: idempotencyKey, tenantId: tenantId)
    }

    public func checkSize(_ serializedBytes: Int) throws(SuprSendError) {
        guard serializedBytes <= maxEventBytes else {
            throw SuprSendError(.tooLarge, "event size: \(serializedBytes) bytes is over the limit of \(maxEventBytes) bytes"
                + (maxEventBytes < Self.maxEventBytesLimit ? " (raise it with max_event_bytes, up to \(Self.maxEventBytesLimit))" : ""))
        }
    }

    /// Counting scalars walks the whole string; a scalar is at most 4 UTF-8 bytes, so a longer
    /// name has two without counting.
    static func hasAtLeastTwoCharacters(_ name: String) -> Bool {
        let bytes = name.utf8.count
        return bytes > 4 || (bytes >= 2 && name.unicodeScalars.count >= 2)
    }

    /// '$' or 'ss_' at the start, in any case.
    static func hasReservedPrefix(_ name: String) -> Bool {
        var bytes = name.utf8.makeIterator()
        guard let first = bytes.next() else { return false }
        if first == UInt8(ascii: "$") { return true }
        guard first | 0x20 == UInt8(ascii: "s"), let second = bytes.next(), second | 0x20 == UInt8(ascii: "s"),
              let third = bytes.next() else { return false }
        return third == UInt8(ascii: "_")
    }

    private static func isTenantIdByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
            return true
        default:
            return false
        }
    }
}
