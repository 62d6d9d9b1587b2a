import DevModeSpawn
import DevModeAI
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `--suite local-engine`: the embedded `local` completion engine (DevModeAI), in process.
/// Latency: ~100k lines of swift-nio (sources, then tests, in path order) learnt, then `complete`
/// at 2,000 random cursor positions. Quality: swift-nio's Sources with every tenth file (by a
/// seeded shuffle) held out; 1,000 random cursors inside held-out lines (not in comment lines), the
/// rest of the line asked for and compared with the truth.
struct LocalEngineSuite {
    static let p99TargetMs = 10.0
    static let trainingTargetSeconds = 5.0

    var repository = "/opt/swift-packages/apple/swift-nio.git"
    var latencyLines = 100_000
    var latencySamples = 2_000
    var qualitySamples = 1_000

    struct Figures: Codable {
        var repository: String
        var latencyFiles = 0
        var latencyLines = 0
        var trainingSeconds = 0.0
        var trainingLinesPerSecond = 0.0
        var tokens = 0
        var ngrams = 0
        var vocabulary = 0
        var rssBeforeMegabytes = 0.0
        var rssAfterMegabytes = 0.0
        var completeP50Milliseconds = 0.0
        var completeP99Milliseconds = 0.0
        var completeMaxMilliseconds = 0.0
        var latencySamples = 0
        var emptyResults = 0
        var updateOneFileMilliseconds = 0.0
        var qualityTrainFiles = 0
        var qualityHeldOutFiles = 0
        var qualitySamples = 0
        var exactMatchRate = 0.0
        var prefixMatchRate = 0.0
        var charactersSavedRate = 0.0
        var p99TargetMilliseconds = LocalEngineSuite.p99TargetMs
        var trainingTargetSeconds = LocalEngineSuite.trainingTargetSeconds
        var examples: [String] = []
    }

    struct SplitMix {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
    }

    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    static func rssMegabytes() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let kb = line.split(separator: " ").dropFirst().first.flatMap { Double($0) } ?? 0
            return kb / 1024
        }
        return 0
    }

    /// The Swift files of the repository's HEAD: (path, text), in path order.
    func sources(workDirectory: String) throws -> [(String, String)] {
        let directory = workDirectory + "/local-engine-src"
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let outcome = try Spawn.run(
            "/bin/sh", ["-c", "git --git-dir '\(repository)' archive HEAD | tar -x -C '\(directory)'"],
            environment: ProcessInfo.processInfo.environment)
        guard outcome.status == 0 else { throw BenchError("git archive failed: \(outcome.stderrText)") }
        var files: [(String, String)] = []
        let enumerator = FileManager.default.enumerator(atPath: directory)
        while let path = enumerator?.nextObject() as? String {
            guard path.hasSuffix(".swift"), let text = try? String(contentsOfFile: directory + "/" + path, encoding: .utf8)
            else { continue }
            files.append((path, text))
        }
        try? FileManager.default.removeItem(atPath: directory)
        return files.sorted { $0.0 < $1.0 }
    }

    func run(workDirectory: String, progress: (String) -> Void) throws -> Figures {
        var figures = Figures(repository: repository)
        let all = try sources(workDirectory: workDirectory)
        guard !all.isEmpty else { throw BenchError("no Swift files in \(repository)") }

        // (1) Latency on ~100k lines: Sources first, then Tests.
        var project: [(String, String)] = []
        var lines = 0
        for file in all.filter({ $0.0.hasPrefix("Sources/") }) + all.filter({ !$0.0.hasPrefix("Sources/") }) {
            guard lines < latencyLines else { break }
            project.append(file)
            lines += file.1.utf8.reduce(0) { $0 + ($1 == 10 ? 1 : 0) }
        }
        figures.latencyFiles = project.count
        figures.latencyLines = lines
        figures.rssBeforeMegabytes = Self.rssMegabytes()
        let engine = LocalCompletionEngine()
        let start = Self.now()
        for (path, text) in project { engine.update(path: path, text: text) }
        figures.trainingSeconds = Double(Self.now() - start) / 1e9
        figures.trainingLinesPerSecond = Double(lines) / figures.trainingSeconds
        figures.rssAfterMegabytes = Self.rssMegabytes()
        let stats = engine.stats
        figures.tokens = stats.tokens
        figures.ngrams = stats.ngrams
        figures.vocabulary = stats.vocabulary
        progress(
            "  learnt \(project.count) files, \(lines) lines in \(String(format: "%.2f", figures.trainingSeconds)) s: "
                + "\(stats.tokens) tokens, \(stats.ngrams) n-grams, \(stats.vocabulary) distinct tokens")

        var random = SplitMix(state: 42)
        var samples: [UInt64] = []
        samples.reserveCapacity(latencySamples)
        for _ in 0..<latencySamples {
            let (_, text) = project[random.below(project.count)]
            let utf8 = Array(text.utf8)
            guard !utf8.isEmpty else { continue }
            var cut = random.below(utf8.count)
            while cut > 0, cut < utf8.count, utf8[cut] & 0xC0 == 0x80 { cut -= 1 }
            let prefix = String(decoding: utf8[..<cut], as: UTF8.self)
            let suffix = String(decoding: utf8[cut...], as: UTF8.self)
            let t0 = Self.now()
            let result = engine.complete(prefix: prefix, suffix: suffix, language: "swift")
            samples.append(Self.now() - t0)
            if result.isEmpty { figures.emptyResults += 1 }
        }
        samples.sort()
        figures.latencySamples = samples.count
        figures.completeP50Milliseconds = Double(Stats.percentile(samples, 0.5)) / 1e6
        figures.completeP99Milliseconds = Double(Stats.percentile(samples, 0.99)) / 1e6
        figures.completeMaxMilliseconds = Double(samples.last ?? 0) / 1e6
        // Re-learning one (large) file: what an edit of an open document costs.
        if let largest = project.max(by: { $0.1.utf8.count < $1.1.utf8.count }) {
            let t0 = Self.now()
            engine.update(path: largest.0, text: largest.1 + "\n// edited\n")
            figures.updateOneFileMilliseconds = Double(Self.now() - t0) / 1e6
        }
        progress(
            "  complete: p50 \(String(format: "%.2f", figures.completeP50Milliseconds)) ms, p99 "
                + "\(String(format: "%.2f", figures.completeP99Milliseconds)) ms over \(samples.count) cursors")

        // (2) Quality: hold out 10% of swift-nio's Sources.
        var shuffled = all.filter { $0.0.hasPrefix("Sources/") }
        var shuffle = SplitMix(state: 7)
        for i in stride(from: shuffled.count - 1, to: 0, by: -1) { shuffled.swapAt(i, shuffle.below(i + 1)) }
        let heldOutCount = max(1, shuffled.count / 10)
        let heldOut = Array(shuffled.prefix(heldOutCount))
        let training = shuffled.dropFirst(heldOutCount)
        let model = LocalCompletionEngine()
        for (path, text) in training { model.update(path: path, text: text) }
        figures.qualityTrainFiles = training.count
        figures.qualityHeldOutFiles = heldOut.count

        // Candidate lines: (file, line start offset, line end offset) of non-blank, non-comment lines.
        var candidates: [(Int, Int, Int)] = []
        var heldBytes: [[UInt8]] = []
        for (index, file) in heldOut.enumerated() {
            let bytes = Array(file.1.utf8)
            heldBytes.append(bytes)
            var lineStart = 0
            for i in 0...bytes.count where i == bytes.count || bytes[i] == 10 {
                let line = String(decoding: bytes[lineStart..<i], as: UTF8.self)
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed.count >= 2, !trimmed.hasPrefix("//"), !trimmed.hasPrefix("*"), !trimmed.hasPrefix("/*") {
                    candidates.append((index, lineStart, i))
                }
                lineStart = i + 1
            }
        }
        var exact = 0
        var prefixMatches = 0
        var saved = 0
        var total = 0
        var quality = SplitMix(state: 99)
        var asked = 0
        while asked < qualitySamples, !candidates.isEmpty {
            let (file, lineStart, lineEnd) = candidates[quality.below(candidates.count)]
            let bytes = heldBytes[file]
            // After at least one non-blank character of the line, before its end.
            var firstText = lineStart
            while firstText < lineEnd, bytes[firstText] == 32 || bytes[firstText] == 9 { firstText += 1 }
            guard lineEnd - firstText >= 2 else { continue }
            var cut = firstText + 1 + quality.below(lineEnd - firstText - 1)
            while cut > firstText + 1, bytes[cut] & 0xC0 == 0x80 { cut -= 1 }
            let truth = String(decoding: bytes[cut..<lineEnd], as: UTF8.self).trimmingCharacters(in: .whitespaces)
            guard !truth.isEmpty else { continue }
            asked += 1
            let prefix = String(decoding: bytes[..<cut], as: UTF8.self)
            let suffix = String(decoding: bytes[lineEnd...], as: UTF8.self)
            let suggestion = (model.complete(prefix: prefix, suffix: suffix, language: "swift").first?.text ?? "")
                .trimmingCharacters(in: .whitespaces)
            let truthChars = Array(truth)
            let suggestionChars = Array(suggestion)
            var common = 0
            while common < truthChars.count, common < suggestionChars.count, truthChars[common] == suggestionChars[common] {
                common += 1
            }
            total += truthChars.count
            saved += common
            if suggestion == truth { exact += 1 }
            if !suggestion.isEmpty, common == suggestionChars.count { prefixMatches += 1 }
            if figures.examples.count < 8 {
                let before = String(String(decoding: bytes[lineStart..<cut], as: UTF8.self).trimmingCharacters(in: .whitespaces).suffix(40))
                figures.examples.append("\(before)⟨\(suggestion)⟩ truth ⟨\(truth)⟩")
            }
        }
        figures.qualitySamples = asked
        figures.exactMatchRate = asked == 0 ? 0 : Double(exact) / Double(asked)
        figures.prefixMatchRate = asked == 0 ? 0 : Double(prefixMatches) / Double(asked)
        figures.charactersSavedRate = total == 0 ? 0 : Double(saved) / Double(total)
        return figures
    }

    func table(_ f: Figures) -> String {
        var table = Table(columns: ["local engine"])
        table.add("latency project", "", "\(f.latencyFiles) files, \(f.latencyLines) lines")
        table.add(
            "training time (s)", "≤ \(Int(Self.trainingTargetSeconds))",
            Table.cell(String(format: "%.2f", f.trainingSeconds), f.trainingSeconds <= Self.trainingTargetSeconds))
        table.add("training (lines/s)", "", String(format: "%.0f", f.trainingLinesPerSecond))
        table.add("tokens / n-grams / vocab", "", "\(f.tokens) / \(f.ngrams) / \(f.vocabulary)")
        table.add(
            "RSS before → after (MB)", "",
            String(format: "%.1f → %.1f", f.rssBeforeMegabytes, f.rssAfterMegabytes))
        table.add("complete p50 (ms)", "", String(format: "%.3f", f.completeP50Milliseconds))
        table.add(
            "complete p99 (ms)", "≤ \(Int(Self.p99TargetMs))",
            Table.cell(String(format: "%.3f", f.completeP99Milliseconds), f.completeP99Milliseconds <= Self.p99TargetMs))
        table.add("complete max (ms)", "", String(format: "%.3f", f.completeMaxMilliseconds))
        table.add("cursors / empty results", "", "\(f.latencySamples) / \(f.emptyResults)")
        table.add("re-learn largest file (ms)", "", String(format: "%.2f", f.updateOneFileMilliseconds))
        table.add("quality: train / held-out files", "", "\(f.qualityTrainFiles) / \(f.qualityHeldOutFiles)")
        table.add("quality: cursors", "", "\(f.qualitySamples)")
        table.add("exact match", "", String(format: "%.1f%%", f.exactMatchRate * 100))
        table.add("prefix match", "", String(format: "%.1f%%", f.prefixMatchRate * 100))
        table.add("characters saved", "", String(format: "%.1f%%", f.charactersSavedRate * 100))
        return table.render()
    }

    /// Adds the figures to the report's JSON object (one line) under "localEngine".
    static func merge(json: String, figures: Figures?) -> String {
        guard let figures,
            var object = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any],
            let encoded = try? JSONEncoder().encode(figures),
            let value = try? JSONSerialization.jsonObject(with: encoded)
        else { return json }
        object["localEngine"] = value
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return json }
        return String(decoding: data, as: UTF8.self)
    }
}
