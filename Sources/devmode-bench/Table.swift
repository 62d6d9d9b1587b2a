import Foundation

/// A plain text table in the transport table's layout: a label, a target, then one cell per column.
struct Table {
    private struct Row {
        var label: String
        var target: String
        var cells: [String]
    }

    let columns: [String]
    private var rows: [Row] = []

    init(columns: [String]) { self.columns = columns }

    mutating func add(_ label: String, _ target: String = "", _ cells: [String]) {
        rows.append(Row(label: label, target: target, cells: cells))
    }

    /// A row with one value (for tables of a single column).
    mutating func add(_ label: String, _ target: String = "", _ cell: String) {
        add(label, target, [cell])
    }

    /// A figure followed by PASS or MISS (nil: no verdict).
    static func cell(_ value: String, _ ok: Bool?) -> String {
        guard let ok else { return value }
        return value.padding(toLength: max(10, value.count + 2), withPad: " ", startingAt: 0) + (ok ? "PASS" : "MISS")
    }

    func render() -> String {
        guard !rows.isEmpty else { return "(no figures)" }
        let labelWidth = rows.map(\.label.count).max()! + 2
        let targetWidth = max(rows.map(\.target.count).max()!, 6) + 2
        let cellWidth = max((rows.flatMap(\.cells) + columns).map(\.count).max()!, 10) + 3
        func line(_ label: String, _ target: String, _ cells: [String]) -> String {
            label.padding(toLength: labelWidth, withPad: " ", startingAt: 0)
                + target.padding(toLength: targetWidth, withPad: " ", startingAt: 0)
                + cells.map { $0.padding(toLength: cellWidth, withPad: " ", startingAt: 0) }.joined()
        }
        var lines = [line("", "target", columns)]
        lines.append(String(repeating: "-", count: labelWidth + targetWidth + cellWidth * columns.count))
        lines += rows.map { line($0.label, $0.target, $0.cells) }
        return lines.map { $0.replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression) }
            .joined(separator: "\n")
    }
}

/// The machine's state, printed before each group so that readers can judge the noise.
enum Machine {
    /// The 1, 5 and 15 minute load averages from /proc/loadavg.
    static func loadAverage() -> [Double] {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return [] }
        return text.split(separator: " ").prefix(3).compactMap { Double($0) }
    }

    static func loadLine(_ group: String) -> (line: String, values: [Double]) {
        let values = loadAverage()
        let shown = values.map { String(format: "%.2f", $0) }.joined(separator: ", ")
        return (
            "== \(group) == load average (1, 5, 15 min): \(shown.isEmpty ? "unknown" : shown) on "
                + "\(ProcessInfo.processInfo.activeProcessorCount) cores",
            values
        )
    }
}

extension Stats {
    static func median(_ values: [UInt64]) -> UInt64 { percentile(values, 0.5) }
    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? 0 : sorted[(sorted.count - 1) / 2]
    }
}

extension Format {
    /// Milliseconds with two decimals (for figures of a few ms).
    static func ms2(_ nanoseconds: UInt64) -> String { String(format: "%.2f", Double(nanoseconds) / 1e6) }
    static func ms2(_ nanoseconds: Double) -> String { String(format: "%.2f", nanoseconds / 1e6) }
    /// A signed difference in microseconds.
    static func signedUs(_ nanoseconds: Double) -> String { String(format: "%+.1f", nanoseconds / 1e3) }
    static func percent(_ fraction: Double) -> String { String(format: "%+.1f%%", fraction * 100) }
}
