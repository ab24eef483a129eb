import Foundation
import Testing

/// Every metric Forager exports is explained in docs/operations.md and drawn on the Grafana
/// dashboard, so neither falls behind the code.
@Suite("Metrics documentation")
struct MetricsDocumentationTests {
    private static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    private static func text(_ path: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    /// The metric names the sources declare (`"forager_..."` string literals in the declarations).
    private static func declaredMetrics() throws -> Set<String> {
        var names = Set<String>()
        for path in ["Sources/ForagerCore/ForagerMetrics.swift", "Sources/PostgresWarehouse/PostgresWarehouse+Rows.swift"] {
            for line in try text(path).split(separator: "\n") where line.contains("static let") {
                guard let match = line.firstMatch(of: /"(forager_[a-z_]+)"/) else { continue }
                names.insert(String(match.1))
            }
        }
        return names
    }

    @Test("every exported metric has a row in docs/operations.md and a panel on docs/grafana-dashboard.json")
    func everyMetricDocumented() throws {
        let metrics = try Self.declaredMetrics()
        #expect(metrics.count >= 19, "\(metrics.sorted())")
        let runbook = try Self.text("docs/operations.md")
        let dashboard = try JSONSerialization.jsonObject(with: Data(try Self.text("docs/grafana-dashboard.json").utf8)) as? [String: Any]
        let expressions = (dashboard?["panels"] as? [[String: Any]] ?? []).flatMap { panel in
            (panel["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String }
        }.joined(separator: "\n")
        for metric in metrics.sorted() {
            #expect(runbook.contains("| `\(metric)"), "docs/operations.md has no row for \(metric)")
            #expect(expressions.contains(metric), "docs/grafana-dashboard.json draws no panel of \(metric)")
        }
    }
}
