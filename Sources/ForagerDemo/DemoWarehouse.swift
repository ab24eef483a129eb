/// The warehouse a demo replicates into, when it is not the throwaway PostgreSQL cluster the demo
/// starts by default.
public struct DemoWarehouse: Sendable {
    /// What the demo says it is.
    public var name: String
    /// The lines of the config's `warehouse:` section below `warehouse:` itself (type, url, and
    /// what the type needs), indented by two spaces; the schema is always `analytics`.
    public var settings: String
    /// A PostgreSQL URL where the demo reads the warehouse's tables and statistics to measure
    /// progress and lag.
    public var measureURL: String
    /// Where the analysts' heavy report runs.
    public var reportURL: String
    /// The bundled mapping, relative to the checkout.
    public var mapping: String
    /// What the summary says of `_forager_synced_at` beside the lag it measures.
    public var lagNote: String

    /// A warehouse of its own.
    public init(name: String, settings: String, measureURL: String, reportURL: String, mapping: String, lagNote: String) {
        self.name = name
        self.settings = settings
        self.measureURL = measureURL
        self.reportURL = reportURL
        self.mapping = mapping
        self.lagNote = lagNote
    }

    /// A PostgreSQL warehouse at `url`.
    public static func postgres(url: String) -> DemoWarehouse {
        DemoWarehouse(
            name: "PostgreSQL", settings: "  type: postgres\n  url: \(yamlQuoted(url))\n", measureURL: url, reportURL: url,
            mapping: "mappings/iot.yaml", lagNote: "samples' created_at to _forager_synced_at")
    }

    /// `text` as a single-quoted YAML scalar.
    public static func yamlQuoted(_ text: String) -> String {
        "'\(text.replacingOccurrences(of: "'", with: "''"))'"
    }
}
