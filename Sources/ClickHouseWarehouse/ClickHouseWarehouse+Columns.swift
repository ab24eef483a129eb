import ForagerCore
import Foundation

/// The columns Forager gave each ClickHouse table, with their types (`_forager_columns`), so that
/// a column dropped or retyped by hand is told apart from a change the source made: ClickHouse
/// keeps no trace of a dropped column, and re-adding one would leave its rows reading a default.
extension ClickHouseWarehouse {
    nonisolated var columnRegistry: String { "\(ClickHouseClient.quote(database)).`_forager_columns`" }

    func createColumnRegistry() async throws {
        try await client.execute("""
            CREATE TABLE IF NOT EXISTS \(columnRegistry) (table_name String, names Array(String), types Array(String), version UInt64)
            ENGINE = ReplacingMergeTree(version) ORDER BY table_name
            """)
    }

    /// The columns recorded for `table`, by name; nil when none are (a table made before Forager
    /// recorded them, or no registry).
    func recordedColumns(of table: TableName) async throws -> [String: String]? {
        guard try await client.system.execute("EXISTS TABLE \(columnRegistry)").hasPrefix("1") else { return nil }
        let text = try await client.execute("""
            SELECT name, type FROM \(columnRegistry) FINAL ARRAY JOIN names AS name, types AS type
            WHERE table_name = \(ClickHouseClient.literal(table.name)) FORMAT TabSeparated
            """)
        var columns: [String: String] = [:]
        for row in TabSeparated.rows(text) where row.count == 2 {
            columns[String(decoding: row[0] ?? [], as: UTF8.self)] = String(decoding: row[1] ?? [], as: UTF8.self)
        }
        return columns.isEmpty ? nil : columns
    }

    /// Records `columns` as the columns Forager gave `table`, replacing what was recorded.
    func recordColumns(of table: TableName, _ columns: [String: String]) async throws {
        let sorted = columns.sorted { $0.key < $1.key }
        let names = sorted.map { ClickHouseClient.literal($0.key) }.joined(separator: ", ")
        let types = sorted.map { ClickHouseClient.literal($0.value) }.joined(separator: ", ")
        let version = UInt64(Date().timeIntervalSince1970 * 1_000_000_000)
        try await client.execute("INSERT INTO \(columnRegistry) VALUES (\(ClickHouseClient.literal(table.name)), [\(names)], [\(types)], \(version))")
    }

    /// Records the present types of the columns `names` of `table` (after Forager changed them),
    /// keeping what is recorded of the others: a hand change to another column stays visible.
    func recordColumns(_ names: [String], of table: TableName) async throws {
        let existing = try await existingColumns(of: table)
        var recorded = try await recordedColumns(of: table) ?? existing
        for name in names { recorded[name] = existing[name] }
        try await recordColumns(of: table, recorded)
    }

    /// What was done by hand to `table` in ClickHouse: columns Forager made that are gone, or
    /// columns of the mapping whose type is neither what Forager recorded nor what it would make
    /// now. One error naming them and the fix, or nil.
    func handChanges(_ table: MappedTable, existing: [String: String], recorded: [String: String]) -> ForagerError? {
        let dropped = recorded.keys.filter { existing[$0] == nil }.sorted()
        let retyped = columns(of: table).compactMap { column -> String? in
            guard let now = existing[column.name], let made = recorded[column.name], now != made,
                  now != column.type, now != "Nullable(\(column.type))"
            else { return nil }
            return "\(ClickHouseClient.quote(column.name)) is \(now) where Forager made it \(made)"
        }
        guard !dropped.isEmpty || !retyped.isEmpty else { return nil }
        let facts = (dropped.isEmpty ? [] : ["\(dropped.map(ClickHouseClient.quote).joined(separator: ", ")) dropped"]) + retyped
        return ForagerError(
            .warehouse, "ClickHouse table \(table.target) was changed by hand: \(facts.joined(separator: "; ")); Forager applies nothing more to it, since its rows no longer hold what the source has",
            hint: "Resync the table to copy it again: forager resync --table \(table.source).")
    }
}
