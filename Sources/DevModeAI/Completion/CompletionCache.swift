import FoundationEssentials
import Synchronization

/// Completions already computed, least recently used out first, with type-ahead reuse: after
/// candidates were stored for prefix P, a lookup at P + typed (typed has no newline) answers with
/// the candidates that start with `typed`, minus `typed`.
///
/// An entry is filed under the model, the path, a hash of the suffix and a hash of the prefix up to
/// the start of its current line; the current line itself is kept and compared. A lookup therefore
/// reads the prefix and suffix once to hash them (about 10 GB/s) and compares one line per entry of
/// its group, whatever the document's size. The hashes are 64-bit and seeded per process.
public final class CompletionCache: Sendable {
    public let capacity: Int
    private let state: Mutex<LRU>

    public init(capacity: Int = 256) {
        self.capacity = max(1, capacity)
        state = Mutex(LRU(capacity: max(1, capacity)))
    }

    /// The candidates for the cursor between `prefix` and `suffix`: those stored for this very
    /// place, or, as the user types on, those stored for an earlier place on the same line that
    /// start with what was typed since (with it removed). Nil when nothing is left.
    public func lookup(model: String, path: String, prefix: String, suffix: String) -> [String]? {
        let (key, line) = Self.key(model: model, path: path, prefix: prefix, suffix: suffix)
        return state.withLock { $0.lookup(key, line: line) }
    }

    /// Remembers `candidates` (empty ones dropped; nothing stored when none is left) for the cursor
    /// between `prefix` and `suffix`, replacing what was stored for the same place.
    public func store(model: String, path: String, prefix: String, suffix: String, candidates: [String]) {
        let kept = candidates.filter { !$0.isEmpty }
        guard !kept.isEmpty else { return }
        let (key, line) = Self.key(model: model, path: path, prefix: prefix, suffix: suffix)
        state.withLock { $0.store(key, line: line, candidates: kept) }
    }

    /// Entries held (one per stored place).
    public var count: Int { state.withLock { $0.count } }

    public func removeAll() { state.withLock { $0.removeAll() } }

    // MARK: Keys

    struct Key: Hashable {
        var model: String
        var path: String
        var headHash: UInt64
        var headBytes: Int
        var suffixHash: UInt64
        var suffixBytes: Int
    }

    private static let seed: UInt64 = .random(in: .min ... .max)

    /// The key of the prefix's head (up to and including its last newline) and the current line.
    static func key(model: String, path: String, prefix: String, suffix: String) -> (Key, Substring) {
        let u = prefix.utf8
        var lineStart = u.endIndex
        while lineStart > u.startIndex {
            let before = u.index(before: lineStart)
            if u[before] == 0x0A { break }
            lineStart = before
        }
        let headBytes = u.distance(from: u.startIndex, to: lineStart)
        var p = prefix
        let headHash = p.withUTF8 { FastHash.hash(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer($0)[..<headBytes]), seed: seed) }
        var s = suffix
        let suffixHash = s.withUTF8 { FastHash.hash(UnsafeRawBufferPointer($0), seed: seed) }
        let key = Key(
            model: model, path: path, headHash: headHash, headBytes: headBytes, suffixHash: suffixHash,
            suffixBytes: suffix.utf8.count)
        return (key, prefix[lineStart...])
    }

    // MARK: LRU

    /// A doubly linked list over slots (most recent at `head`), and the slots of each key.
    struct LRU {
        struct Slot {
            var key: Key
            var line: String
            var candidates: [String]
            var previous = -1
            var next = -1
        }

        let capacity: Int
        var slots: [Slot] = []
        var free: [Int] = []
        var groups: [Key: [Int]] = [:]
        var head = -1
        var tail = -1
        var count = 0

        init(capacity: Int) { self.capacity = capacity }

        mutating func lookup(_ key: Key, line: Substring) -> [String]? {
            guard let group = groups[key] else { return nil }
            // The longest stored line that the current line extends, then shorter ones.
            let matching = group.filter { line.utf8.starts(with: slots[$0].line.utf8) }
                .sorted { slots[$0].line.utf8.count > slots[$1].line.utf8.count }
            for slot in matching {
                let typedBytes = slots[slot].line.utf8.count
                let typed = line.utf8.dropFirst(typedBytes)
                guard !typed.contains(0x0A) else { continue }
                var result: [String] = []
                for candidate in slots[slot].candidates where candidate.utf8.starts(with: typed) {
                    let rest = candidate.utf8.dropFirst(typed.count)
                    // The remainder must start on a scalar boundary to be text of its own.
                    if let first = rest.first, first & 0xC0 != 0x80 { result.append(String(Substring(rest))) }
                }
                if !result.isEmpty {
                    moveToFront(slot)
                    return result
                }
            }
            return nil
        }

        mutating func store(_ key: Key, line: Substring, candidates: [String]) {
            if let existing = groups[key]?.first(where: { slots[$0].line.utf8.elementsEqual(line.utf8) }) {
                slots[existing].candidates = candidates
                moveToFront(existing)
                return
            }
            if count == capacity { evict(tail) }
            let slot = Slot(key: key, line: String(line), candidates: candidates)
            let index: Int
            if let reused = free.popLast() {
                slots[reused] = slot
                index = reused
            } else {
                slots.append(slot)
                index = slots.count - 1
            }
            groups[key, default: []].append(index)
            count += 1
            link(index)
        }

        mutating func removeAll() { self = LRU(capacity: capacity) }

        private mutating func evict(_ index: Int) {
            unlink(index)
            let key = slots[index].key
            groups[key]?.removeAll { $0 == index }
            if groups[key]?.isEmpty == true { groups.removeValue(forKey: key) }
            slots[index].candidates = []
            slots[index].line = ""
            free.append(index)
            count -= 1
        }

        private mutating func moveToFront(_ index: Int) {
            guard index != head else { return }
            unlink(index)
            link(index)
        }

        private mutating func link(_ index: Int) {
            slots[index].previous = -1
            slots[index].next = head
            if head >= 0 { slots[head].previous = index }
            head = index
            if tail < 0 { tail = index }
        }

        private mutating func unlink(_ index: Int) {
            let previous = slots[index].previous
            let next = slots[index].next
            if previous >= 0 { slots[previous].next = next } else { head = next }
            if next >= 0 { slots[next].previous = previous } else { tail = previous }
            slots[index].previous = -1
            slots[index].next = -1
        }
    }
}

/// A 64-bit hash of bytes, four multiply-rotate lanes of 8 bytes (the shape of xxHash64): several
/// GB/s, so keying a cache entry by a whole document prefix costs microseconds. Not a
/// cryptographic hash; the seed keeps keys from being predictable across processes.
enum FastHash {
    private static let p1: UInt64 = 0x9E37_79B1_85EB_CA87
    private static let p2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    private static let p3: UInt64 = 0x1656_67B1_9E37_79F9
    private static let p4: UInt64 = 0x85EB_CA77_C2B2_AE63
    private static let p5: UInt64 = 0x27D4_EB2F_1656_67C5

    @inline(__always) private static func rotl(_ x: UInt64, _ r: UInt64) -> UInt64 { (x << r) | (x >> (64 - r)) }

    @inline(__always) private static func round(_ acc: UInt64, _ input: UInt64) -> UInt64 {
        rotl(acc &+ input &* p2, 31) &* p1
    }

    @inline(__always) private static func merge(_ acc: UInt64, _ lane: UInt64) -> UInt64 {
        (acc ^ round(0, lane)) &* p1 &+ p4
    }

    static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64) -> UInt64 {
        let n = bytes.count
        var i = 0
        var h: UInt64
        if n >= 32 {
            var v1 = seed &+ p1 &+ p2
            var v2 = seed &+ p2
            var v3 = seed
            var v4 = seed &- p1
            while i + 32 <= n {
                v1 = round(v1, bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                v2 = round(v2, bytes.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self))
                v3 = round(v3, bytes.loadUnaligned(fromByteOffset: i + 16, as: UInt64.self))
                v4 = round(v4, bytes.loadUnaligned(fromByteOffset: i + 24, as: UInt64.self))
                i += 32
            }
            h = rotl(v1, 1) &+ rotl(v2, 7) &+ rotl(v3, 12) &+ rotl(v4, 18)
            h = merge(h, v1)
            h = merge(h, v2)
            h = merge(h, v3)
            h = merge(h, v4)
        } else {
            h = seed &+ p5
        }
        h = h &+ UInt64(n)
        while i + 8 <= n {
            h ^= round(0, bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            h = rotl(h, 27) &* p1 &+ p4
            i += 8
        }
        while i < n {
            h ^= UInt64(bytes[i]) &* p5
            h = rotl(h, 11) &* p1
            i += 1
        }
        h ^= h >> 33
        h = h &* p2
        h ^= h >> 29
        h = h &* p3
        h ^= h >> 32
        return h
    }
}
