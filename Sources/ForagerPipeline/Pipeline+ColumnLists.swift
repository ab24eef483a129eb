import ForagerCore
import PostgresSource

/// Columns added to a source table after `exclude_columns` made its publication entry a column
/// list: PostgreSQL does not publish them, so Forager neither creates nor compares them.
extension Pipeline {
    /// `tables` without the columns their publication's column list does not publish, for the
    /// tables `established` returns (copied and streaming from that list; asked only when a table
    /// has `exclude_columns`); other tables keep every column, and their copy sets the list anew.
    /// Logs each table that has such columns, with the way to bring them in.
    func leavingOutUnpublishedColumns(
        _ tables: [MappedTable], source: PostgresSource, established: () async throws -> Set<TableName>
    ) async throws -> [MappedTable] {
        guard tables.contains(where: { !$0.excludedColumns.isEmpty }) else { return tables }
        let established = try await established()
        let main = try await source.publishedColumns(in: source.publication) ?? [:]
        let append = try await source.publishedColumns(in: source.appendPublication) ?? [:]
        return tables.map { table in
            var table = table
            let published = (table.identity == .appendOnly ? append : main)[table.source]
            guard established.contains(table.source), let published else { return table }
            let left = table.leaveOutUnpublished(published: published)
            guard !left.isEmpty else { return table }
            logger.notice(
                "columns added to the source table after exclude_columns made its publication's column list are not published, so not replicated nor compared",
                metadata: [
                    "forager.table": "\(table.source)", "forager.columns": "\(left.map(SQL.quoteIdentifier).joined(separator: ", "))",
                    "forager.fix":
                        "To replicate them, resync the table (its copy publishes every column exclude_columns does not name): forager resync --table \(table.source)",
                ])
            return table
        }
    }

    /// The tables copied and streaming (or stopped) in the warehouse: their publication entries
    /// are what the stream has been following. None before the first snapshot is committed.
    func establishedTables(_ warehouse: any Warehouse) async throws -> Set<TableName> {
        guard try await warehouse.checkpoint() != nil else { return [] }
        return Set(try await warehouse.tableStates().filter { $0.value.phase == .streaming || $0.value.phase == .stopped }.keys)
    }
}
