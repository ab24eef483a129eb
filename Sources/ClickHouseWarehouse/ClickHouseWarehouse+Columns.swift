import ForagerCore
import Foundation
import PGOutput

/// The columns Forager gave each ClickHouse table, with their types (`_forager_columns`), so that
/// a column dropped or retyped by hand is told apart from a change the source made: ClickHouse
/// keeps no trace of a dropped column, and re-adding one would leave its rows reading a default.
extension ClickHouseWarehouse {
    nonisolated var columnRegistry: String { "\(ClickHouseClient.quote(database)).`_forager_columns`" }

    func createColumnRegistry() async throws {
        try await createBookkeepingTable(
            "_forager_columns", columns: "table_name String, names Array(String), types Array(String), version UInt64", version: "version",
            orderBy: "table_name")
    }

    /// The columns recorded for `table`, by name; nil when none are (a table made before Forager
    /// recorded them, or no registry).
    func recordedColumns(of table: TableName) async throws -> [String: String]? {
        guard try await client.system.execute("EXISTS TABLE \(columnRegistry)").hasPrefix("1") else { return nil }
        let text = try await client.execute(
            """
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
        try await client.execute(
            "INSERT INTO \(columnRegistry) VALUES (\(ClickHouseClient.literal(table.name)), [\(names)], [\(types)], \(version))")
    }

    /// Records the present types of the columns `names` of `table` (after Forager changed them),
    /// keeping what is recorded of the others: a hand change to another column stays visible.
    func recordColumns(_ names: [String], of table: TableName) async throws {
        // The local table: a sharded table's Distributed one is made again after the ALTER.
        let existing = try await existingColumns(of: storageTable(table))
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
            .warehouse,
            "ClickHouse table \(table.target) was changed by hand: \(facts.joined(separator: "; ")); Forager applies nothing more to it, since its rows no longer hold what the source has",
            hint: "Resync the table to copy it again: forager resync --table \(table.source).")
    }

    /// Adds source columns, and refreshes the view. Rows written before read the value the
    /// source's older rows read (its constant default), as the column's `DEFAULT`; `resolved`
    /// holds the source catalogue's definitions where `table`'s are from the stream.
    func addColumns(_ names: [String], to table: MappedTable, resolved: [String: SourceColumn] = [:]) async throws {
        let added = table.columns.filter { names.contains(table.warehouseName(of: $0.name)) }
        let definitions = columns(of: table).filter { names.contains($0.name) }
        let existing = try await existingColumns(of: table.target)
        for column in definitions where existing[column.name] == nil {
            // Nullable: rows written after a drop have no value; arrays cannot be (they hold []).
            let type = column.type.hasPrefix("Nullable(") || column.type.hasPrefix("Array(") ? column.type : "Nullable(\(column.type))"
            logger.notice(
                "adding column to ClickHouse table, as on the source",
                metadata: [
                    "forager.table": "\(table.target)", "forager.column": "\(column.name)", "forager.type": "\(type)",
                ])
            let source = added.first { table.warehouseName(of: $0.name) == column.name }
            let sourceType = source.flatMap { sourceTypes[table.target]?[$0.name] } ?? ""
            let missing = source.flatMap { resolved[$0.name]?.missingValue ?? $0.missingValue }
            let nullable = ClickHouseColumn(name: column.name, type: type, conversion: column.conversion)
            let fill = try missing.map { " DEFAULT \(try nullable.missingDefault($0, table: table.source))" } ?? ""
            try await client.execute(alterStatement(table.target, "ADD COLUMN \(ClickHouseClient.quote(column.name)) \(type)\(fill)"))
            // A separate statement: ClickHouse 18.16 ignores COMMENT in ADD COLUMN.
            try await recordSourceType(sourceType, of: column.name, in: table.target)
        }
        try await recordColumns(definitions.map(\.name), of: table.target)
        try await createView(table)
        let unknown = added.filter { (resolved[$0.name] ?? $0).olderRowsNeedTheSource }.map(\.name)
        if !unknown.isEmpty,
            try await client.execute("SELECT count() FROM \(name(table.target)) FORMAT TabSeparated").hasPrefix("0") == false
        {
            try await copyAgain(table, for: unknown, logger: logger)
        }
    }

    /// The `DEFAULT` expression of a column (see ``ClickHouseColumn/missingDefault(_:table:)``),
    /// nil when it has none; read from the table that holds the rows.
    func defaultExpression(of column: String, in target: TableName) async throws -> String? {
        let table = storageTable(target)
        let text = try await client.system.execute(
            """
            SELECT default_kind, default_expression FROM system.columns WHERE database = \(ClickHouseClient.literal(table.schema)) AND table = \(ClickHouseClient.literal(table.name)) AND name = \(ClickHouseClient.literal(column)) FORMAT TabSeparated
            """)
        let row = TabSeparated.rows(text).first.map { $0.map { String(decoding: $0 ?? [], as: UTF8.self) } } ?? []
        return row.count == 2 && row[0] == "DEFAULT" && !row[1].isEmpty ? row[1] : nil
    }

    /// Changes a column's type, keeping its `DEFAULT` (cast to the new type): ClickHouse forgets
    /// the default on `MODIFY COLUMN`, and parts written before the column was added read their
    /// value from it.
    func modifyColumn(_ column: String, of table: TableName, to type: String) async throws {
        let keep = try await defaultExpression(of: column, in: table).map { " DEFAULT CAST(\($0) AS \(type))" } ?? ""
        try await client.execute(alterStatement(table, "MODIFY COLUMN \(ClickHouseClient.quote(column)) \(type)\(keep)"))
        try await recordColumns([column], of: table)
    }

    /// Prepares a column the source no longer has for rows written without it from stream
    /// position `lsn` on: they hold NULL (an empty array for an array column), so the column is
    /// made Nullable, and its `DEFAULT` (the value of rows older than the column) is limited to
    /// rows before `lsn`. Nothing is done for a column that is ready.
    func retireColumn(_ column: String, of table: TableName, type current: String, from lsn: LSN) async throws {
        let type = current.hasPrefix("Nullable(") || current.hasPrefix("Array(") ? current : "Nullable(\(current))"
        let kept = try await defaultExpression(of: column, in: table)
        var fill = ""
        if let kept, !kept.contains(Self.version) {
            // multiIf: ClickHouse 18.16's if() fails on a Nullable branch and NULL.
            let none = type.hasPrefix("Array(") ? "CAST([] AS \(type))" : "NULL"
            fill = " DEFAULT multiIf(\(ClickHouseClient.quote(Self.version)) < \(lsn.value), CAST(\(kept) AS \(type)), \(none))"
        } else if type == current {
            return
        } else if let kept {
            fill = " DEFAULT CAST(\(kept) AS \(type))"
        }
        try await client.execute(alterStatement(table, "MODIFY COLUMN \(ClickHouseClient.quote(column)) \(type)\(fill)"))
        try await recordColumns([column], of: table)
    }
}
