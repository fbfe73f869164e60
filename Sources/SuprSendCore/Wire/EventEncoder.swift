/// Writes the event object of wire-protocol.md ("The event object"):
///
///     {"$insert_id":…,"$time":…,"event":…,"env":…,"distinct_id":…,
///      "properties":{…caller's members…,"$ss_sdk_version":…,"$attachments":[…]},
///      "$idempotency_key":…,"tenant_id":…}
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
        writer.appendRaw("}")
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
