/// An event as the caller built it, before any rule is checked. Content rules are checked
/// when the event is sent or appended to a bulk (see `EventRules`), so that a bulk can
/// report a bad event as a failed record instead of refusing it.
///
/// It holds the caller's data only. Each send or append is a new occurrence and gets its
/// own $insert_id and $time when it is prepared (`EventPreparer`); retries of that send
/// reuse the prepared bytes, so they carry the same ones.
public struct Event: Sendable {
    public var distinctId: String
    public var name: String
    public internal(set) var properties: EventProperties = .empty
    /// The caller's key, as given (trimmed when sent). Nil or empty means none.
    public var idempotencyKey: String?
    public var tenantId: String?
    /// The brand the event is sent for (the official SDKs' top-level "brand_id"); nil or empty means none.
    public var brandId: String?
    public internal(set) var attachments: [Attachment] = []
    /// Local files that could not be read but were marked ignore_if_error: logged when sent.
    public internal(set) var skippedAttachments: [String] = []

    public init(distinctId: String, name: String) {
        self.distinctId = distinctId
        self.name = name
    }

    /// Sets the properties from the text of one JSON object, checked strictly now and later
    /// sent as given. Empty text means none. On error the earlier properties are kept.
    public mutating func setProperties(json: [UInt8]) throws(SuprSendError) {
        properties = try EventProperties(json: json)
    }

    /// Sets the properties from one JSON object that the caller wrote itself from typed values
    /// and vouches for, so that it is not scanned a second time: exactly one well-formed object
    /// from `{` to `}` (no surrounding whitespace), nested at most `EventProperties.maxDepth`
    /// levels, valid UTF-8, without repeated top-level keys; `reservedKeys` are those of its
    /// top-level keys that have a reserved prefix (`EventRules.hasReservedPrefix`), in order.
    /// For this package's SuprSend product (its Event writes the JSON from
    /// `[String: EventValue]`); debug builds check the promise with the scanner.
    package mutating func setProperties(wellFormedObject json: [UInt8], reservedKeys: [String]) {
        assert({
            guard case .success(let scan) = JSONScanner.scanObject(json, maxDepth: EventProperties.maxDepth) else { return false }
            return scan.objectRange == 0..<json.count
                && scan.topLevelKeys.filter(EventRules.hasReservedPrefix) == reservedKeys
        }(), "setProperties(wellFormedObject:): not the well-formed object promised")
        properties = EventProperties(objectBytes: json, isEmpty: json.count <= 2, reservedKeys: reservedKeys)
    }

    /// Adds a URL attachment or reads a local file into one (see `Attachment`).
    /// Refuses (too large) an attachment that would take the event past what any event may
    /// carry: the client's own limit is checked exactly when the event is sent.
    public mutating func addAttachment(_ pathOrURL: String, fileName: String?, ignoreIfError: Bool) throws(SuprSendError) {
        let attachment: Attachment
        do {
            attachment = try Attachment.make(pathOrURL, fileName: fileName, ignoreIfError: ignoreIfError)
        } catch let error where ignoreIfError && error.status == .attachment {
            skippedAttachments.append(error.message)
            return
        }
        try append(attachment, what: pathOrURL)
    }

    /// Adds an inline attachment from bytes in memory (see `Attachment.fromMemory`).
    public mutating func addAttachment(data: UnsafeRawBufferPointer, fileName: String, contentType: String?,
                                       ignoreIfError: Bool) throws(SuprSendError) {
        let attachment = try Attachment.fromMemory(data, fileName: fileName, contentType: contentType,
                                               ignoreIfError: ignoreIfError)
        try append(attachment, what: fileName)
    }

    private mutating func append(_ attachment: Attachment, what: String) throws(SuprSendError) {
        let least = 256 + properties.objectBytes.count + distinctId.utf8.count + name.utf8.count
            + attachments.reduce(attachment.leastEncodedSize) { $0 + $1.leastEncodedSize }
        guard least <= EventRules.maxEventBytesLimit else {
            throw SuprSendError(.tooLarge, "attachment '\(excerpt(what))': with it the event would be at least "
                + "\(least) bytes, more than any event can carry (\(EventRules.maxEventBytesLimit)); send a URL instead")
        }
        attachments.append(attachment)
    }
}

/// The caller's properties: the bytes of one JSON object, checked and kept exactly as given,
/// with those of its top-level keys that the reserved-name rule is about.
public struct EventProperties: Sendable {
    public static let maxDepth = 64
    static let empty = EventProperties(objectBytes: Array("{}".utf8), isEmpty: true, reservedKeys: [])

    /// The object from its '{' to its '}'.
    let objectBytes: [UInt8]
    let isEmpty: Bool
    /// The top-level keys with a reserved prefix (`$`, `ss_`), decoded, in order: the only ones
    /// a rule looks at. Usually none, so no string is kept per key.
    let reservedKeys: [String]

    init(objectBytes: [UInt8], isEmpty: Bool, reservedKeys: [String]) {
        self.objectBytes = objectBytes
        self.isEmpty = isEmpty
        self.reservedKeys = reservedKeys
    }

    /// From a scan of the object: its keys, all of them, are filtered here.
    init(objectBytes: [UInt8], scan: JSONObjectScan) {
        self.init(objectBytes: objectBytes, isEmpty: scan.isEmpty,
                  reservedKeys: scan.topLevelKeys.filter(EventRules.hasReservedPrefix))
    }

    init(json: [UInt8]) throws(SuprSendError) {
        if json.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) {
            self = .empty
            return
        }
        let result = json.withUnsafeBufferPointer { JSONScanner.scanObject($0, maxDepth: Self.maxDepth) }
        switch result {
        case .failure(let error):
            throw .argument("properties: \(error.message)")
        case .success(let scan):
            self.init(objectBytes: Array(json[scan.objectRange]), scan: scan)
        }
    }
}
