import ForagerCore

/// The column types Forager gave each warehouse table (`_forager_columns`), so that a column
/// changed by hand in the warehouse is told apart from one the source changed while Forager was
/// stopped: the first keeps the warehouse from matching what Forager made, the second leaves it so.
extension PostgresWarehouse {
    /// The quoted name of the column registry.
    public nonisolated var columnsTable: String { ownTable("_forager_columns") }

    func createColumnRegistry() async throws {
        try await connection.execute(
            """
            CREATE TABLE IF NOT EXISTS \(columnsTable) (
                table_name text NOT NULL,
                column_name text NOT NULL,
                type text NOT NULL,
                updated_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (table_name, column_name)
            )
            """)
    }

    /// SQL that records the present types of the warehouse `columns` of `table` (of all its
    /// columns, forgetting any others, when nil). Sent in one simple query with the change it
    /// follows, so that the change and its record take effect together or not at all.
    func recordColumnsSQL(_ table: TableName, columns: [String]? = nil) -> String {
        let name = SQL.quoteLiteral(table.name)
        let forget = columns == nil ? "DELETE FROM \(columnsTable) WHERE table_name = \(name);\n" : ""
        let only = columns.map { " AND a.attname IN (\($0.map(SQL.quoteLiteral).joined(separator: ", ")))" } ?? ""
        return forget + """
            INSERT INTO \(columnsTable) (table_name, column_name, type)
            SELECT \(name), a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
            WHERE a.attrelid = \(SQL.quoteLiteral(table.sql))::regclass AND a.attnum > 0 AND NOT a.attisdropped\(only)
            ON CONFLICT (table_name, column_name) DO UPDATE SET type = EXCLUDED.type, updated_at = now()
            """
    }

    /// The types Forager recorded for `table`'s columns; empty when none are recorded (a table
    /// made before Forager recorded them, or no registry yet).
    func recordedTypes(of table: TableName) async throws -> [String: String] {
        guard try await exists(columnsTable) else { return [:] }
        let rows = try await connection.query("SELECT column_name, type FROM \(columnsTable) WHERE table_name = $1", [table.name])
        return Dictionary(rows.rows.map { ($0[0] ?? "", $0[1] ?? "") }, uniquingKeysWith: { first, _ in first })
    }

    /// Those of `columns` (of `table`, as the source has them now) whose warehouse type is
    /// neither what Forager recorded making nor what the source has: changed by hand in the
    /// warehouse. One error naming them, or nil.
    func handChangedColumns(_ table: MappedTable, _ columns: [SourceColumn], types: [String: String], recorded: [String: String])
        -> ForagerError?
    {
        let changed = columns.compactMap { column -> (name: String, now: String, made: String, source: String)? in
            let name = table.warehouseName(of: column.name)
            guard column.overriddenType == nil, let now = types[name], let made = recorded[name], now != made, now != column.sqlType else {
                return nil
            }
            return (name, now, made, column.sqlType)
        }
        guard !changed.isEmpty else { return nil }
        let list = changed.map {
            "\(SQL.quoteIdentifier($0.name)) is \($0.now) where Forager made it \($0.made) (the source has \($0.source))"
        }
        let restore = changed.map { "ALTER TABLE \(table.target.sql) ALTER COLUMN \(SQL.quoteIdentifier($0.name)) TYPE \($0.made)" }
        return ForagerError(
            .warehouse,
            "warehouse table \(table.target) was changed by hand: \(list.joined(separator: "; ")); its values may have changed with it, so Forager applies nothing more to it",
            hint:
                "Resync the table to copy it again: forager resync --table \(table.source). If no value changed, \(restore.joined(separator: "; ")) and start again instead."
        )
    }
}
