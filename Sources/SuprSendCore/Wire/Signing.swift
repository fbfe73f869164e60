import CCrypto

/// The hub's request signature (wire-protocol.md, "Signature"):
///
///     string_to_sign = METHOD \n md5_hex(body) \n CONTENT_TYPE \n DATE \n REQUEST_URI
///     signature      = base64(HMAC-SHA256(secret, string_to_sign))
///
/// A signer belongs to one secret and is shared by every thread of a client. HMAC
/// (RFC 2104) is computed from SHA-256 states that have already absorbed the padded key,
/// copied for each request; see CCrypto/shim.h for why the low-level digests are used.
final class RequestSigner: Sendable {
    private static let blockSize = 64  // SHA-256's, which HMAC pads the key to

    /// SHA-256 states after key ^ ipad and key ^ opad: never changed after init, copied per use.
    private let innerKeyed: SHA256_CTX
    private let outerKeyed: SHA256_CTX

    init(secret: String) {
        var key = Array(secret.utf8)
        if key.count > Self.blockSize {
            key = Self.sha256(key)
        }
        key += [UInt8](repeating: 0, count: Self.blockSize - key.count)
        var inner = SHA256_CTX()
        var outer = SHA256_CTX()
        SHA256_Init(&inner)
        SHA256_Update(&inner, key.map { $0 ^ 0x36 }, Self.blockSize)
        SHA256_Init(&outer)
        SHA256_Update(&outer, key.map { $0 ^ 0x5C }, Self.blockSize)
        innerKeyed = inner
        outerKeyed = outer
    }

    func signature(method: String, body: UnsafeRawBufferPointer, contentType: String,
                   date: String, requestURI: String) -> String {
        var message = [UInt8]()
        message.reserveCapacity(method.utf8.count + 36 + contentType.utf8.count + date.utf8.count + requestURI.utf8.count)
        message += method.utf8
        message.append(0x0A)
        if !body.isEmpty { message += Self.md5Hex(body).utf8 }
        message.append(0x0A)
        message += contentType.utf8
        message.append(0x0A)
        message += date.utf8
        message.append(0x0A)
        message += requestURI.utf8
        return base64(hmac(message))
    }

    func hmac(_ message: [UInt8]) -> [UInt8] {
        var innerDigest = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
        var mac = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
        var context = innerKeyed
        SHA256_Update(&context, message, message.count)
        SHA256_Final(&innerDigest, &context)
        context = outerKeyed
        SHA256_Update(&context, innerDigest, innerDigest.count)
        SHA256_Final(&mac, &context)
        return mac
    }

    private static func sha256(_ data: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
        SHA256(data, data.count, &digest)
        return digest
    }

    /// One signature with a signer made for it: for tests and one-off use.
    static func signature(method: String, body: UnsafeRawBufferPointer, contentType: String,
                          date: String, requestURI: String, secret: String) -> String {
        RequestSigner(secret: secret).signature(method: method, body: body, contentType: contentType,
                                                date: date, requestURI: requestURI)
    }

    static func md5Hex(_ data: UnsafeRawBufferPointer) -> String {
        var digest = [UInt8](repeating: 0, count: Int(MD5_DIGEST_LENGTH))
        if let base = data.baseAddress {
            MD5(base.assumingMemoryBound(to: UInt8.self), data.count, &digest)
        } else {
            MD5([], 0, &digest)
        }
        return hex(digest)
    }

    static func hex<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        String(unsafeUninitializedCapacity: bytes.count * 2) { out in
            var position = 0
            for byte in bytes {
                out[position] = Hex.digit(byte >> 4)
                out[position + 1] = Hex.digit(byte & 0x0F)
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
