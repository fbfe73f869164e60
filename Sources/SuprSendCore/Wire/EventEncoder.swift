/// Writes the event object of wire-protocol.md ("The event object"):
///
///     {"$insert_id":…,"$time":…,"event":…,"env":…,"distinct_id":…,
///      "properties":{…caller's members…,"$ss_sdk_version":…,"$attachments":[…]},
///      "$idempotency_key":…,"tenant_id":…,"brand_id":…}
///
/// The caller's properties are copied byte for byte: only the SDK's own members are
/// appended before the closing brace, so no value is reordered or re-escaped.
struct EventEncoder: Sendable {
    /// The same in every event of a client: quoted and escaped once.
    private let quotedWorkspaceKey: [UInt8]
    private let quotedSDKVersion: [UInt8]

    init(workspaceKey: String, sdkVersion: String) {
        quotedWorkspaceKey = JSONWriter.quoted(workspaceKey)
        quotedSDKVersion = JSONWriter.quoted(sdkVersion)
    }

    struct Fields {
        var insertId: String
        var time: Int64
        var name: String
        var distinctId: String
        var idempotencyKey: String?
        var tenantId: String?
        var brandId: String?
    }

    /// About the bytes `encode` writes (exact unless strings need escapes): the writer is made
    /// that size, so the event does not keep a doubled buffer's spare half for as long as it
    /// waits in a queue.
    func estimatedSize(_ fields: Fields, properties: EventProperties, attachments: [Attachment]) -> Int {
        let members = 140 + quotedWorkspaceKey.count + quotedSDKVersion.count
        let strings = fields.insertId.utf8.count + fields.name.utf8.count + fields.distinctId.utf8.count
            + (fields.idempotencyKey?.utf8.count ?? 0) + (fields.tenantId?.utf8.count ?? 0)
            + (fields.brandId?.utf8.count ?? 0)
        return members + strings + properties.objectBytes.count + attachments.reduce(0) { $0 + $1.leastEncodedSize + 16 }
    }

    func encode(_ fields: Fields, properties: EventProperties, attachments: [Attachment], into writer: inout JSONWriter) {
        writer.appendRaw("{\"$insert_id\":")
        writer.appendString(fields.insertId)
        writer.appendRaw(",\"$time\":")
        writer.appendInt(fields.time)
        writer.appendRaw(",\"event\":")
        writer.appendString(fields.name)
        writer.appendRaw(",\"env\":")
        writer.appendRaw(quotedWorkspaceKey)
        writer.appendRaw(",\"distinct_id\":")
        writer.appendString(fields.distinctId)
        writer.appendRaw(",\"properties\":")
        encodeProperties(properties, attachments: attachments, into: &writer)
        if let key = fields.idempotencyKey {
            writer.appendRaw(",\"$idempotency_key\":")
            writer.appendString(key)
        }
        if let tenant = fields.tenantId {
            writer.appendRaw(",\"tenant_id\":")
            writer.appendString(tenant)
        }
        if let brand = fields.brandId {
            writer.appendRaw(",\"brand_id\":")
            writer.appendString(brand)
        }
        writer.appendRaw("}")
    }

    /// Whether `json`, an event object made by `encode`, carries "$idempotency_key": the
    /// member after the properties, followed only by an optional tenant_id, an optional
    /// brand_id and the last brace.
    /// For a sender that has only the bytes; it reads the tail, not the whole event.
    static func carriesIdempotencyKey(_ json: [UInt8]) -> Bool {
        json.withUnsafeBufferPointer { carriesIdempotencyKey($0) }
    }

    static func carriesIdempotencyKey(_ json: UnsafeBufferPointer<UInt8>) -> Bool {
        idempotencyKeyValue(json) != nil
    }

    /// Where the top-level "$idempotency_key" value (a quoted JSON string) stands in an event
    /// object made by `encode`, if it has one.
    static func idempotencyKeyValue(_ json: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
        guard var end = json.lastIndex(of: UInt8(ascii: "}")) else { return nil }  // past the last member
        // ,"tenant_id":"<A-Z a-z 0-9 _ ->" then ,"brand_id":"<the same>": values without escapes.
        // Skipped from the end: brand_id first, as it is written last.
        // The patterns are literals, not stored statics: see `EventFields`.
        func skip(_ member: StaticString) {
            let length = member.utf8CodeUnitCount
            if end > 0, json[end - 1] == UInt8(ascii: "\""),
               let open = json[..<(end - 1)].lastIndex(of: UInt8(ascii: "\"")),
               open + 1 >= length, json.hasBytes(member, at: open + 1 - length) {
                end = open + 1 - length
            }
        }
        skip(#","brand_id":""#)
        skip(#","tenant_id":""#)
        // ,"$idempotency_key":"<string>" ending at `end`. Its opening quote follows a comma, so
        // it is a member's and not inside a string; the last one before `end` is the top-level
        // one if there is one, and a nested one is followed by more than a string.
        guard end > 0, json[end - 1] == UInt8(ascii: "\"") else { return nil }
        let member: StaticString = #","$idempotency_key":""#
        let length = member.utf8CodeUnitCount
        let window = max(0, end - length - 6 * EventRules.maxIdempotencyKeyLength - 1)
        var start = end - length
        while start >= window {
            if json[start] == UInt8(ascii: ","), json.hasBytes(member, at: start) { break }
            start -= 1
        }
        guard start >= window else { return nil }
        // The rest must be one string: no quote but escaped ones before the closing one.
        var index = start + length
        while index < end - 1 {
            switch json[index] {
            case UInt8(ascii: "\\"): index += 2
            case UInt8(ascii: "\""): return nil
            default: index += 1
            }
        }
        return index == end - 1 ? (start + length - 1)..<end : nil
    }

    private func encodeProperties(_ properties: EventProperties, attachments: [Attachment], into writer: inout JSONWriter) {
        if properties.isEmpty {
            writer.appendRaw("{")
        } else {
            // Everything but the closing brace, then a comma for the SDK's members.
            properties.objectBytes.withUnsafeBufferPointer { writer.appendRaw(UnsafeBufferPointer(rebasing: $0.dropLast())) }
            writer.appendRaw(",")
        }
        writer.appendRaw("\"$ss_sdk_version\":")
        writer.appendRaw(quotedSDKVersion)
        if !attachments.isEmpty {
            writer.appendRaw(",\"$attachments\":[")
            for (index, attachment) in attachments.enumerated() {
                if index > 0 { writer.appendRaw(",") }
                encodeAttachment(attachment, into: &writer)
            }
            writer.appendRaw("]")
        }
        writer.appendRaw("}")
    }

    private func encodeAttachment(_ attachment: Attachment, into writer: inout JSONWriter) {
        switch attachment {
        case let .url(url, fileName, ignoreIfError):
            writer.appendRaw("{\"filename\":")
            if let fileName { writer.appendString(fileName) } else { writer.appendNull() }
            writer.appendRaw(",\"url\":")
            writer.appendString(url)
            writer.appendRaw(",\"ignore_if_error\":")
            writer.appendBool(ignoreIfError)
            writer.appendRaw("}")
        case let .inline(fileName, contentType, base64, ignoreIfError):
            writer.appendRaw("{\"filename\":")
            writer.appendString(fileName)
            writer.appendRaw(",\"contentType\":")
            writer.appendString(contentType)
            writer.appendRaw(",\"data\":\"")
            base64.withUnsafeBufferPointer { writer.appendRaw($0) }  // base64 needs no escaping
            writer.appendRaw("\",\"ignore_if_error\":")
            writer.appendBool(ignoreIfError)
            writer.appendRaw("}")
        }
    }
}
