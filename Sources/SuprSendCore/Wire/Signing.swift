import CCrypto

/// The hub's request signature (wire-protocol.md, "Signature"):
///
///     string_to_sign = METHOD \n md5_hex(body) \n CONTENT_TYPE \n DATE \n REQUEST_URI
///     signature      = base64(HMAC-SHA256(secret, string_to_sign))
enum RequestSigner {
    static func signature(method: String, body: UnsafeRawBufferPointer, contentType: String,
                          date: String, requestURI: String, secret: String) -> String {
        let bodyHash = body.isEmpty ? "" : md5Hex(body)
        var message = method
        message.reserveCapacity(method.utf8.count + 40 + contentType.utf8.count + date.utf8.count + requestURI.utf8.count)
        message += "\n"
        message += bodyHash
        message += "\n"
        message += contentType
        message += "\n"
        message += date
        message += "\n"
        message += requestURI
        return base64(hmacSHA256(key: secret, message: message))
    }

    static func md5Hex(_ data: UnsafeRawBufferPointer) -> String {
        var digest = [UInt8](repeating: 0, count: Int(MD5_DIGEST_LENGTH))
        var length: UInt32 = 0
        let ok = digest.withUnsafeMutableBufferPointer { out in
            EVP_Digest(data.baseAddress, data.count, out.baseAddress, &length, EVP_md5(), nil) == 1
        }
        return ok ? hex(digest[0..<Int(length)]) : ""
    }

    static func hmacSHA256(key: String, message: String) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        var key = key
        var message = message
        key.withUTF8 { keyBytes in
            message.withUTF8 { messageBytes in
                digest.withUnsafeMutableBufferPointer { out in
                    _ = HMAC(EVP_sha256(), keyBytes.baseAddress, Int32(clamping: keyBytes.count),
                             messageBytes.baseAddress, messageBytes.count, out.baseAddress, &length)
                }
            }
        }
        return Array(digest[0..<Int(length)])
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    static func hex<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        String(unsafeUninitializedCapacity: bytes.count * 2) { out in
            var position = 0
            for byte in bytes {
                out[position] = hexDigits[Int(byte >> 4)]
                out[position + 1] = hexDigits[Int(byte & 0x0F)]
                position += 2
            }
            return position
        }
    }
}

/// Standard base64 with '=' padding.
func base64(_ bytes: [UInt8]) -> String {
    bytes.withUnsafeBufferPointer { base64Bytes(UnsafeRawBufferPointer($0)) }.withUnsafeBufferPointer {
        String(decoding: $0, as: UTF8.self)
    }
}

/// Base64 of raw bytes as ASCII bytes, for writing straight into a JSON body.
func base64Bytes(_ data: UnsafeRawBufferPointer) -> [UInt8] {
    guard data.count > 0, let input = data.baseAddress else { return [] }
    let encodedLength = (data.count + 2) / 3 * 4
    // EVP_EncodeBlock takes an int length: encode in slices well under that bound.
    let sliceLength = 3 * 1024 * 1024
    var output = [UInt8](repeating: 0, count: encodedLength + 1)
    var written = 0
    output.withUnsafeMutableBufferPointer { out in
        guard let base = out.baseAddress else { return }
        var offset = 0
        while offset < data.count {
            let count = min(sliceLength, data.count - offset)
            let produced = EVP_EncodeBlock(base + written,
                                           input.assumingMemoryBound(to: UInt8.self) + offset,
                                           Int32(count))
            written += Int(produced)
            offset += count
        }
    }
    output.removeLast(output.count - written)
    return output
}
