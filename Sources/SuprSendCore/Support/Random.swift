import CCrypto
import Glibc

/// Random bytes from OpenSSL's DRBG (already loaded with libcurl), falling back to the
/// system generator should it ever refuse. Fork-safe as it is: OpenSSL (1.1.1 and 3.x) reseeds
/// its DRBGs in a child it finds forked, so a child's retry jitter is not its parent's; only
/// the library's own pool below must be dropped by hand.
enum SecureRandom {
    static func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        if RAND_bytes(base.assumingMemoryBound(to: UInt8.self), Int32(clamping: buffer.count)) == 1 {
            return
        }
        var generator = SystemRandomNumberGenerator()
        for index in 0..<buffer.count {
            buffer[index] = UInt8(truncatingIfNeeded: generator.next())
        }
    }

    /// A uniformly distributed Double in 0..<1, for retry jitter.
    static func unitInterval() -> Double {
        var value: UInt64 = 0
        withUnsafeMutableBytes(of: &value) { fill($0) }
        return Double(value >> 11) * (1.0 / Double(UInt64(1) << 53))
    }
}

/// Random bytes drawn in blocks: one RAND_bytes call costs thousands of instructions
/// whatever its size, and every event needs 16 bytes for its $insert_id. The block is
/// dropped in a forked child, which must never hand out the same ids as its parent.
final class RandomPool: @unchecked Sendable {
    static let shared = RandomPool()
    private static let blockSize = 4096

    private let lock = Lock()
    private var block = [UInt8](repeating: 0, count: RandomPool.blockSize)
    private var position = RandomPool.blockSize
    private var generation = ForkGeneration.current

    func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        guard buffer.count <= Self.blockSize else { return SecureRandom.fill(buffer) }
        lock.withLock {
            let current = ForkGeneration.current
            if position + buffer.count > Self.blockSize || current != generation {
                block.withUnsafeMutableBytes { SecureRandom.fill($0) }
                position = 0
                generation = current
            }
            block.withUnsafeBytes { source in
                buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[position..<(position + buffer.count)]))
            }
            // Handed-out bytes are not kept around in memory.
            _ = block.withUnsafeMutableBytes { $0[position..<(position + buffer.count)].initializeMemory(as: UInt8.self, repeating: 0) }
            position += buffer.count
        }
    }
}

/// RFC 9562 version 4 UUIDs, the form of $insert_id and generated idempotency keys.
enum UUIDv4 {
    static func make() -> String {
        var raw = (UInt64(0), UInt64(0))
        withUnsafeMutableBytes(of: &raw) { bytes in
            RandomPool.shared.fill(bytes)
            bytes[6] = (bytes[6] & 0x0F) | 0x40  // version 4
            bytes[8] = (bytes[8] & 0x3F) | 0x80  // RFC variant
        }
        return withUnsafeBytes(of: &raw) { bytes in
            String(unsafeUninitializedCapacity: 36) { out in
                var position = 0
                for index in 0..<16 {
                    if index == 4 || index == 6 || index == 8 || index == 10 {
                        out[position] = UInt8(ascii: "-")
                        position += 1
                    }
                    out[position] = Hex.digit(bytes[index] >> 4)
                    out[position + 1] = Hex.digit(bytes[index] & 0x0F)
                    position += 2
                }
                return position
            }
        }
    }
}
