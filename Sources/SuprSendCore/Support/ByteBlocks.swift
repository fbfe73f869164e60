/// Byte strings packed end to end in 1 MiB blocks, each found again by its `Span`. An array per
/// string would cost its header, malloc's rounding and spare capacity: about as much again as
/// a small event's bytes, which matters for the 100,000 events of a bulk or a queue.
///
/// Blocks are numbered from the first ever made, so that a queue can drop the blocks at the
/// front whose strings it no longer needs while the spans of the others stay valid.
struct ByteBlocks {
    static let blockSize = 1 << 20

    /// Where one string is. 12 bytes: strings are shorter than 2 GiB (the callers' bounds).
    struct Span {
        var block: Int32
        var offset: Int32
        var count: Int32
    }

    private var blocks: [[UInt8]] = []
    /// The number of `blocks[0]`.
    private var firstBlock = 0

    /// Stores a copy of `bytes` (shorter than `Int32.max`) and says where.
    mutating func append(_ bytes: [UInt8]) -> Span {
        if blocks.isEmpty || blocks[blocks.count - 1].count + bytes.count > blocks[blocks.count - 1].capacity {
            var block = [UInt8]()
            block.reserveCapacity(max(Self.blockSize, bytes.count))
            blocks.append(block)
        }
        let last = blocks.count - 1
        let offset = blocks[last].count
        blocks[last].append(contentsOf: bytes)
        return Span(block: Int32(firstBlock + last), offset: Int32(offset), count: Int32(bytes.count))
    }

    func withBytes<Result>(_ span: Span, _ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
        blocks[Int(span.block) - firstBlock].withUnsafeBufferPointer { block in
            body(UnsafeBufferPointer(rebasing: block[Int(span.offset)..<Int(span.offset + span.count)]))
        }
    }

    func bytes(_ span: Span) -> [UInt8] { withBytes(span) { Array($0) } }

    /// Forgets the blocks before the one `span` is in.
    mutating func dropBlocks(before span: Span) {
        let needed = Int(span.block) - firstBlock
        guard needed > 0 else { return }
        blocks.removeFirst(needed)
        firstBlock += needed
    }

    /// Forgets every string; the last block is kept, emptied, to fill on.
    mutating func removeAll() {
        if blocks.count > 1 {
            firstBlock += blocks.count - 1
            blocks.removeFirst(blocks.count - 1)
        }
        if let last = blocks.indices.last { blocks[last].removeAll(keepingCapacity: true) }
    }
}
