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
        public var brandId: String?
    }

    public func check(_ event: Event) throws(SuprSendError) -> CheckedFields {
        let distinctId = event.distinctId.trimmingWhitespace()
        guard !distinctId.isEmpty else {
            throw .validation("distinct_id: must not be empty")
        }

        let name = event.name.trimmingWhitespace()
        guard Self.hasAtLeastTwoCharacters(name) else {
            throw .validation("event name: must be at least 2 characters ('\(excerpt(name))')")
        }
        if Self.hasReservedPrefix(name) && !Self.allowedReservedEventNames.contains(name) {
            throw .validation("event name: must not start with '$' or 'ss_' ('\(excerpt(name))'); these are reserved by SuprSend")
        }

        for key in event.properties.reservedKeys where key != "$attachments" {
            throw .validation("properties: key '\(excerpt(key))' must not start with '$' or 'ss_'; these are reserved by SuprSend")
        }
        if event.properties.reservedKeys.contains("$attachments") {
            if !event.attachments.isEmpty {
                throw .validation("properties: '$attachments' is managed by add_attachment; give attachments one way, not both")
            }
            try Self.checkGivenAttachments(event.properties)
        }

        var idempotencyKey = event.idempotencyKey?.trimmingWhitespace()
        if idempotencyKey?.isEmpty == true { idempotencyKey = nil }
        if let key = idempotencyKey, key.utf8.count > Self.maxIdempotencyKeyLength,
           key.unicodeScalars.count > Self.maxIdempotencyKeyLength {
            throw .validation("idempotency_key: must be at most \(Self.maxIdempotencyKeyLength) characters "
                + "(it has \(key.unicodeScalars.count))")
        }

        let tenantId = try Self.checkTenantLike(event.tenantId, field: "tenant_id")
        let brandId = try Self.checkTenantLike(event.brandId, field: "brand_id")
        return CheckedFields(distinctId: distinctId, name: name, idempotencyKey: idempotencyKey, tenantId: tenantId,
                             brandId: brandId)
    }

    /// tenant_id and brand_id: nil or empty means none; else at most 64 of A-Z a-z 0-9 _ -.
    private static func checkTenantLike(_ value: String?, field: String) throws(SuprSendError) -> String? {
        guard let value, !value.isEmpty else { return nil }
        guard value.utf8.count <= Self.maxTenantIdLength, value.utf8.allSatisfy(Self.isTenantIdByte) else {
            throw .validation("\(field): must be at most \(Self.maxTenantIdLength) characters of A-Z a-z 0-9 _ - ('\(excerpt(value))')")
        }
        return value
    }

    /// A caller's own properties.$attachments, held to the shape the hub accepts
    /// (wire-protocol.md, "Attachments"), so that it is refused here like the library's own.
    static func checkGivenAttachments(_ properties: EventProperties) throws(SuprSendError) {
        let field = "properties.$attachments"
        guard let list = JSONValue.parse(properties.objectBytes, maxDepth: EventProperties.maxDepth)?["$attachments"]?.arrayValue else {
            throw .validation("\(field): must be an array of attachment objects")
        }
        for (index, item) in list.enumerated() {
            let at = "\(field)[\(index)]"
            guard let members = item.objectValue else { throw .validation("\(at): must be an object") }
            func member(_ name: String) -> JSONValue? {
                guard let value = members.first(where: { $0.key == name })?.value, !value.isNull else { return nil }
                return value
            }
            switch (member("url"), member("data")) {
            case (let url?, nil):
                guard let text = url.stringValue, Attachment.isDownloadableURL(text) else {
                    throw .validation("\(at).url: must be an http:// or https:// URL with a host")
                }
            case (nil, let data?):
                guard let text = data.stringValue, !text.isEmpty, isStandardBase64(text.utf8) else {
                    throw .validation("\(at).data: must be non-empty standard base64 with padding")
                }
            default:
                throw .validation("\(at): must have exactly one of 'url' (to download) or 'data' (base64)")
            }
            for name in ["filename", "contentType"] where member(name).map({ $0.stringValue == nil }) ?? false {
                throw .validation("\(at).\(name): must be a string or null")
            }
            if let flag = member("ignore_if_error"), flag.boolValue == nil {
                throw .validation("\(at).ignore_if_error: must be true or false")
            }
        }
    }

    private static func isStandardBase64(_ text: String.UTF8View) -> Bool {
        guard text.count % 4 == 0 else { return false }
        let padding = text.reversed().prefix(while: { $0 == UInt8(ascii: "=") }).count
        guard padding <= 2 else { return false }
        return text.dropLast(padding).allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "/"):
                return true
            default:
                return false
            }
        }
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
    package static func hasReservedPrefix(_ name: String) -> Bool {
        if let reserved = name.utf8.withContiguousStorageIfAvailable(hasReservedPrefix(utf8:)) { return reserved }
        var contiguous = name  // bridged or lazily built: copied once
        return contiguous.withUTF8(hasReservedPrefix(utf8:))
    }

    /// The same for a name's UTF-8 bytes.
    package static func hasReservedPrefix(utf8 bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let first = bytes.first else { return false }
        if first == UInt8(ascii: "$") { return true }
        return bytes.count >= 3 && first | 0x20 == UInt8(ascii: "s") && bytes[1] | 0x20 == UInt8(ascii: "s")
            && bytes[2] == UInt8(ascii: "_")
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
