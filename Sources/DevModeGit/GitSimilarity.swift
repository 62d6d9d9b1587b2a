import CGit2
import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif

/// git's own rename similarity (diffcore-delta.c), as a libgit2 similarity metric, so renames are
/// paired and scored as `git diff` does. libgit2's default metric (hashsig) gives other numbers:
/// "similarity index 98%" where git prints 99%, which breaks "patch text exactly as git prints it".
///
/// git cuts each file into spans ending at a newline or after 64 bytes, hashes every span, and
/// counts the bytes per hash; the bytes two files share over the larger file's size is the score.
final class GitSimilaritySignature {
    /// (span hash, bytes with that hash), sorted by hash.
    let spans: [(hash: UInt32, count: UInt32)]
    let size: Int

    init(_ bytes: UnsafeRawBufferPointer) {
        size = bytes.count
        // git's buffer_is_binary: a NUL in the first 8000 bytes. Text ignores the CR of CRLF.
        let isText = !bytes.prefix(8000).contains(0)
        var counts: [UInt32: UInt32] = [:]
        var accum1: UInt32 = 0, accum2: UInt32 = 0, n: UInt32 = 0
        let hashBase: UInt32 = 107_927
        var i = 0
        while i < bytes.count {
            let c = UInt32(bytes[i])
            i += 1
            if isText && c == 0x0d && i < bytes.count && bytes[i] == 0x0a { continue }
            let old1 = accum1
            accum1 = (accum1 << 7) ^ (accum2 >> 25)
            accum2 = (accum2 << 7) ^ (old1 >> 25)
            accum1 &+= c
            n += 1
            if n < 64 && c != 0x0a { continue }
            counts[(accum1 &+ accum2 &* 0x61) % hashBase, default: 0] &+= n
            n = 0
            accum1 = 0
            accum2 = 0
        }
        if n > 0 { counts[(accum1 &+ accum2 &* 0x61) % hashBase, default: 0] &+= n }
        spans = counts.map { (hash: $0.key, count: $0.value) }.sorted { $0.hash < $1.hash }
    }

    /// git's estimate_similarity as a percentage (its score × 100 / MAX_SCORE, rounded down).
    static func similarity(_ a: GitSimilaritySignature, _ b: GitSimilaritySignature) -> Int32 {
        let maxScore = 60_000, minimumScore = 30_000
        let maxSize = max(a.size, b.size), baseSize = min(a.size, b.size)
        // Sizes too far apart to reach the rename threshold: git does not even look.
        if maxSize * (maxScore - minimumScore) < (maxSize - baseSize) * maxScore { return 0 }
        guard maxSize > 0 else { return 0 }
        var copied = 0
        var s = 0, d = 0
        while s < a.spans.count && d < b.spans.count {
            if a.spans[s].hash == b.spans[d].hash {
                copied += Int(min(a.spans[s].count, b.spans[d].count))
                s += 1
                d += 1
            } else if a.spans[s].hash < b.spans[d].hash {
                s += 1
            } else {
                d += 1
            }
        }
        let score = copied * maxScore / maxSize
        return Int32(score * 100 / maxScore)
    }

    /// The metric for `git_diff_find_options.metric`. The callbacks capture nothing; signatures
    /// are retained objects handed to libgit2 as opaque pointers and released in `free_signature`.
    static var metric: git_diff_similarity_metric {
        git_diff_similarity_metric(
            file_signature: { out, _, path, _ in
                guard let out, let path,
                      let data = FileManager.default.contents(atPath: String(cString: path)) else {
                    return GIT_EBUFS.rawValue  // libgit2 then leaves this file out of rename detection
                }
                let signature = data.withUnsafeBytes { GitSimilaritySignature($0) }
                out.pointee = Unmanaged.passRetained(signature).toOpaque()
                return 0
            },
            buffer_signature: { out, _, buffer, length, _ in
                guard let out else { return GIT_EBUFS.rawValue }
                let signature = GitSimilaritySignature(UnsafeRawBufferPointer(start: buffer, count: buffer == nil ? 0 : length))
                out.pointee = Unmanaged.passRetained(signature).toOpaque()
                return 0
            },
            free_signature: { signature, _ in
                if let signature { Unmanaged<GitSimilaritySignature>.fromOpaque(signature).release() }
            },
            similarity: { score, a, b, _ in
                guard let score, let a, let b else { return GIT_EBUFS.rawValue }
                score.pointee = GitSimilaritySignature.similarity(
                    Unmanaged<GitSimilaritySignature>.fromOpaque(a).takeUnretainedValue(),
                    Unmanaged<GitSimilaritySignature>.fromOpaque(b).takeUnretainedValue())
                return 0
            },
            payload: nil)
    }
}
