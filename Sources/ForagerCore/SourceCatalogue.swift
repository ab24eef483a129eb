/// The source's catalogue as the pipeline reads it while the stream runs: the current, mapped
/// definitions of a table's columns. A relation message tells a column's type by its OID only;
/// the catalogue tells its SQL type, the value older rows read, and the mapping's overrides.
public protocol SourceCatalogue: Sendable {
    /// The source's columns `names` of `table` as they are now, mapped; names the source no
    /// longer has are left out.
    func columns(_ names: [String], of table: TableName) async throws -> [SourceColumn]
}

extension ChangeSet {
    /// Whether any step changes a table's columns.
    public var hasSchemaChanges: Bool {
        steps.contains { if case .schemaChange = $0 { true } else { false } }
    }

    /// Reads from `catalogue` the columns each schema change names (``SchemaChange/sourceColumns``),
    /// so that a warehouse applies the change without asking the source.
    public mutating func resolveSchemaChanges(from catalogue: some SourceCatalogue) async throws {
        for index in steps.indices {
            guard case .schemaChange(var change) = steps[index], !change.namedColumns.isEmpty else { continue }
            let columns = try await catalogue.columns(change.namedColumns, of: change.table.source)
            change.sourceColumns = Dictionary(columns.map { ($0.name, $0) }) { first, _ in first }
            steps[index] = .schemaChange(change)
        }
    }
}
