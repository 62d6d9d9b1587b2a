import Foundation
import Testing

/// The project's own docs stand on their own in a fresh clone: every relative link in README,
/// CONTRIBUTING, docs/ and protocol/ names a file of the repository.
@Suite struct DocLinkTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static var documents: [URL] {
        var found = ["README.md", "CONTRIBUTING.md"].map { repository.appendingPathComponent($0) }
        for folder in ["docs", "protocol"] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: repository.appendingPathComponent(folder).path)) ?? []
            found += names.filter { $0.hasSuffix(".md") }.sorted().map { repository.appendingPathComponent(folder + "/" + $0) }
        }
        return found
    }

    @Test func relativeLinksResolveInsideTheRepository() throws {
        let documents = Self.documents
        #expect(documents.count >= 5, "README, CONTRIBUTING, docs/ARCHITECTURE, docs/CONVENTIONS, protocol/README")
        let link = try Regex(#"\]\(([^)\s]+)\)"#)
        var checked = 0
        for document in documents {
            let text = try String(contentsOf: document, encoding: .utf8)
            for match in text.matches(of: link) {
                guard let target = match.output[1].substring.map(String.init) else { continue }
                if target.hasPrefix("http://") || target.hasPrefix("https://") || target.hasPrefix("#")
                    || target.hasPrefix("mailto:")
                {
                    continue
                }
                let path = String(target.split(separator: "#", maxSplits: 1).first ?? "")
                let resolved = document.deletingLastPathComponent().appendingPathComponent(path).standardizedFileURL
                #expect(
                    resolved.path.hasPrefix(Self.repository.standardizedFileURL.path + "/"),
                    "\(document.lastPathComponent): '\(target)' points outside the repository")
                #expect(
                    FileManager.default.fileExists(atPath: resolved.path),
                    "\(document.lastPathComponent): '\(target)' names no file of the repository")
                checked += 1
            }
        }
        #expect(checked > 10)
    }
}
