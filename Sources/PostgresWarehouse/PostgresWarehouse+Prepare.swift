import ForagerCore
import LibPQ
import Logging

/// Making the warehouse ready at start: Forager's own tables, then each mapped table made, or
/// checked against the source and brought along (columns added, widened, made nullable) where
/// that loses nothing; what cannot be followed stops the table (`create`) or is reported (check).
extension PostgresWarehouse {
    func prepareTables(_ tables: [MappedTable], create: Bool) async throws -> [ForagerError] {
        if create { try await createOwnTables() }
        let states = try await tableStates()
        for (index, table) in tables.enumerated() {
            stagingNumbers[table.target] = index
        }
        var problems: [ForagerError] = []
        for table in tables {
            problems += try await checkTypeOverrides(table)
            problems += try await checkTypesExist(table)
        }
        guard problems.isEmpty else { return problems }
        for table in tables where states[table.source].map({ $0.phase == .streaming }) ?? true {
            problems += try await prepare(table, create: create)
        }
        return problems
    }

    /// The schema, the checkpoint table and the registries.
    private func createOwnTables() async throws {
        // CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the schema exists.
        let exists = try await connection.query("SELECT to_regnamespace($1) IS NOT NULL", [SQL.quoteIdentifier(schema)]).scalar == "t"
        if !exists { try await connection.execute("CREATE SCHEMA \(SQL.quoteIdentifier(schema))") }
        try await connection.execute(
            """
            CREATE TABLE IF NOT EXISTS \(stateTable) (
                slot text PRIMARY KEY,
                lsn pg_lsn NOT NULL,
                updated_at timestamptz NOT NULL DEFAULT now()
            )
            """)
        try await createRegistry()
        try await createColumnRegistry()
    }

    /// Makes one mapped table, or checks and brings along the one there.
    private func prepare(_ table: MappedTable, create: Bool) async throws -> [ForagerError] {
        let shape = try await shape(of: table.target.sql)
        let types = shape.columns.mapValues(\.type)
        if types.isEmpty {
            guard create else { return [] }
            logger.info("creating warehouse table", metadata: ["forager.table": "\(table.target)"])
            try await connection.execute(Self.createTableSQL(table) + ";\n" + recordColumnsSQL(table.target))
            return []
        }
        let recorded = try await recordedTypes(of: table.target)
        if recorded.isEmpty, create {
            // Made before Forager recorded its columns: taken as Forager made it.
            try await connection.execute(recordColumnsSQL(table.target))
        }
        if let error = handChangedColumns(table, table.storedColumns, types: types, recorded: recorded)
            ?? keyChanged(table, warehouseKey: shape.key)
        {
            return try await stopOrReport(table, error, create: create)
        }
        var problems = jsonColumnsNowKept(table, types: types)
        let (missing, goOn) = try await addMissingColumns(table, types: types, create: create)
        problems += missing
        guard goOn else { return problems }
        let (retyped, stillFollowed) = try await followRetypedColumns(table, types: types, create: create)
        problems += retyped
        guard stillFollowed else { return problems }
        problems += try await prepareExtracts(table, types: types, create: create)
        if create { try await loosenNotNull(table, shape: shape) }
        return problems + (try await metadataColumns(table, types: types, create: create))
    }

    /// Stops the table with `error` when starting (`create`); returns it to report otherwise.
    private func stopOrReport(_ table: MappedTable, _ error: ForagerError, create: Bool) async throws -> [ForagerError] {
        guard create else { return [error] }
        try await recordStopped(table, error, logger: logger)
        return []
    }

    /// The json columns the mapping now keeps (keep_json) that the warehouse table lacks.
    private func jsonColumnsNowKept(_ table: MappedTable, types: [String: String]) -> [ForagerError] {
        table.storedColumns.filter { column in
            types[table.warehouseName(of: column.name)] == nil && table.extracts.contains { $0.from == column.name }
        }.map { column in
            ForagerError(
                .warehouse,
                "warehouse table \(table.target) lacks the json column \(SQL.quoteIdentifier(table.warehouseName(of: column.name))), which the mapping now keeps (keep_json), so its rows so far would have none",
                hint: "Resync the table to copy it with the column: forager resync --table \(table.source). Or set keep_json: false again.")
        }
    }

    /// Adds the source's columns the warehouse table lacks (columns added while Forager was
    /// stopped); false when the table cannot be followed (a column was dropped from it by hand).
    private func addMissingColumns(_ table: MappedTable, types: [String: String], create: Bool) async throws -> ([ForagerError], Bool) {
        let missing = table.storedColumns.filter { column in
            types[table.warehouseName(of: column.name)] == nil && !table.extracts.contains { $0.from == column.name }
        }
        guard !missing.isEmpty else { return ([], true) }
        let names = missing.map { SQL.quoteIdentifier(table.warehouseName(of: $0.name)) }.joined(separator: ", ")
        if try await hasDroppedColumns(table.target) {
            // Forager never drops a warehouse column: someone did, and its values are gone.
            let error = ForagerError(
                .warehouse,
                "warehouse table \(table.target) lacks \(names), and a column was dropped from it by hand (Forager never drops one); adding it back would leave its existing rows without values",
                hint: "Resync the table to copy it again: forager resync --table \(table.source).")
            return (try await stopOrReport(table, error, create: create), false)
        }
        guard create else {
            return (
                [
                    ForagerError(
                        .warehouse, "warehouse table \(table.target) lacks \(names), which the source table \(table.source) has",
                        hint: "forager run and sync add them on start; nothing to do unless you want to add them by hand.")
                ], true
            )
        }
        try await addColumns(missing, to: table)
        return ([], true)
    }

    /// Follows columns whose type the source changed while Forager was stopped (widened in place,
    /// or the table stops); false when the table stopped.
    private func followRetypedColumns(_ table: MappedTable, types: [String: String], create: Bool) async throws -> ([ForagerError], Bool) {
        let retyped = table.storedColumns.filter { column in
            types[table.warehouseName(of: column.name)].map { $0 != column.sqlType } ?? false && column.overriddenType == nil
        }
        guard !retyped.isEmpty else { return ([], true) }
        if create {
            do {
                try await applySchemaChange(SchemaChange(table: table, retyped: retyped.map(\.name)))
                return ([], true)
            } catch let refusal as TableRefusal {
                return (try await stopOrReport(table, refusal.error, create: create), false)
            }
        }
        let problems = retyped.compactMap { column -> ForagerError? in
            let name = table.warehouseName(of: column.name)
            guard !TypeWidening.allows(from: types[name] ?? "", to: column.sqlType) else { return nil }
            return ForagerError(
                .warehouse,
                "column \(SQL.quoteIdentifier(name)) of warehouse table \(table.target) has type \(types[name] ?? "?"), but the source now has \(column.sqlType), which is not a widening",
                hint:
                    "Forager stops this table on start; resync it to copy it again with the new type: forager resync --table \(table.source)."
            )
        }
        return (problems, true)
    }

    /// Columns the source dropped, or made nullable, while Forager was stopped (or that a row with
    /// a NULL stopped the stream at): new rows may have no value there, so they take NULL.
    private func loosenNotNull(_ table: MappedTable, shape: TableShape) async throws {
        let nullable = Set(
            table.storedColumns.filter { !$0.notNull }.map { table.warehouseName(of: $0.name) } + table.extracts.map(\.column))
        let current = Set(table.storedColumns.map { table.warehouseName(of: $0.name) } + table.extracts.map(\.column))
        let loosen = shape.columns.filter { name, column in
            column.notNull && !name.hasPrefix("_forager_") && !table.warehouseKey.contains(name)
                && (!current.contains(name) || nullable.contains(name))
        }.keys.sorted()
        guard !loosen.isEmpty else { return }
        logger.notice(
            "warehouse columns take NULL from now on, as the source's",
            metadata: [
                "forager.table": "\(table.target)", "forager.columns": "\(loosen)",
            ])
        try await exclusively(
            "ALTER TABLE \(table.target.sql) "
                + loosen.map { "ALTER COLUMN \(SQL.quoteIdentifier($0)) DROP NOT NULL" }.joined(separator: ", "),
            on: [table.target], purpose: "columns the source made nullable or dropped")
    }

    /// Adds `_forager_deleted` to a table made before it existed; reports a table without
    /// Forager's other columns, which Forager did not make.
    private func metadataColumns(_ table: MappedTable, types: [String: String], create: Bool) async throws -> [ForagerError] {
        if types[MetadataColumn.deleted] == nil, types[MetadataColumn.lsn] != nil, create {
            try await connection.execute(
                "ALTER TABLE \(table.target.sql) ADD COLUMN IF NOT EXISTS \(SQL.quoteIdentifier(MetadataColumn.deleted)) boolean NOT NULL DEFAULT false"
            )
        }
        return [MetadataColumn.lsn, MetadataColumn.syncedAt].filter { types[$0] == nil }.map { metadata in
            ForagerError(
                .warehouse, "warehouse table \(table.target) exists but has no \(metadata) column, so it was not made by Forager",
                hint: "Map the source table to another target name, or drop the warehouse table.")
        }
    }

    /// Why a table must stop when the source's key is no longer the warehouse table's primary key
    /// (changed while Forager was stopped), or nil.
    private func keyChanged(_ table: MappedTable, warehouseKey: [String]) -> ForagerError? {
        guard table.identity == .key, !warehouseKey.isEmpty, warehouseKey != table.warehouseKey else { return nil }
        func list(_ names: [String]) -> String { "(" + names.map(SQL.quoteIdentifier).joined(separator: ", ") + ")" }
        return ForagerError(
            .schema,
            "the key of \(table.source) changed on the source while Forager was stopped: its rows are now named by \(list(table.warehouseKey)), but warehouse table \(table.target) is keyed by \(list(warehouseKey)); Forager stopped this table rather than miss deletes or merge rows",
            hint: "Resync the table to copy it with its new key: forager resync --table \(table.source).")
    }

    /// True when a column of the table was dropped (PostgreSQL keeps a dropped column's slot).
    private func hasDroppedColumns(_ table: TableName) async throws -> Bool {
        try await connection.query(
            "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attisdropped)", [table.sql]
        ).scalar == "t"
    }

    /// Every source type a warehouse column takes must exist in the warehouse: an enum, domain or
    /// extension type of the source may not.
    private func checkTypesExist(_ table: MappedTable) async throws -> [ForagerError] {
        var problems: [ForagerError] = []
        var known: [String: Bool] = [:]
        for column in table.storedColumns where column.overriddenType == nil && !column.sqlType.isEmpty {
            if known[column.sqlType] == nil {
                known[column.sqlType] = try await connection.query("SELECT to_regtype($1) IS NOT NULL", [column.sqlType]).scalar == "t"
            }
            guard known[column.sqlType] == false else { continue }
            problems.append(
                ForagerError(
                    .schema,
                    "column \(SQL.quoteIdentifier(column.name)) of \(table.source) has the type \(column.sqlType), which the warehouse does not have",
                    hint:
                        "Create the type in the warehouse as on the source (CREATE TYPE ...; CREATE EXTENSION ...), or give the column a type the warehouse has in the mapping: types: {\(column.name): text}."
                ))
        }
        return problems
    }

    /// Every `types` override must name a type the warehouse knows that the source type casts to.
    private func checkTypeOverrides(_ table: MappedTable) async throws -> [ForagerError] {
        var problems: [ForagerError] = []
        for column in table.columns {
            guard let sourceType = column.overriddenType else { continue }
            let known = try await connection.query("SELECT to_regtype($1) IS NOT NULL", [column.sqlType]).scalar == "t"
            guard known else {
                problems.append(
                    ForagerError(
                        .schema,
                        "types gives column \(SQL.quoteIdentifier(column.name)) of \(table.source) the type '\(column.sqlType)', which the warehouse does not know",
                        hint: "Use a type name as in CREATE TABLE, such as double precision or numeric(12,3)."))
                continue
            }
            // A type only the source has arrives as text, which the override type parses.
            guard try await connection.query("SELECT to_regtype($1) IS NOT NULL", [sourceType]).scalar == "t" else { continue }
            do {
                try await connection.query("SELECT CAST(NULL::\(sourceType) AS \(column.sqlType))")
            } catch let error as PGError {
                problems.append(
                    ForagerError(
                        .schema,
                        "types gives column \(SQL.quoteIdentifier(column.name)) of \(table.source) the type \(column.sqlType), which cannot hold its \(sourceType) values: \(error.message)",
                        hint: "Choose a type that \(sourceType) converts to, or remove the override."))
            }
        }
        return problems
    }

    /// Adds extracted columns that the table lacks, filled from the json column it keeps, and turns
    /// extracted columns that an earlier Forager made as generated columns into plain ones.
    private func prepareExtracts(_ table: MappedTable, types: [String: String], create: Bool) async throws -> [ForagerError] {
        var problems: [ForagerError] = []
        for extract in table.extracts {
            let name = SQL.quoteIdentifier(extract.column)
            guard types[extract.column] == nil else {
                let generated = try await connection.query(
                    "SELECT attgenerated <> '' FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2",
                    [table.target.sql, extract.column])
                if generated.scalar == "t", create {
                    try await connection.execute("ALTER TABLE \(table.target.sql) ALTER COLUMN \(name) DROP EXPRESSION")
                }
                continue
            }
            guard table.storedColumns.contains(where: { $0.name == extract.from }) else {
                problems.append(
                    ForagerError(
                        .warehouse,
                        "extract \(name) is new for \(table.target), whose rows so far cannot be filled: the warehouse does not keep the json column \(SQL.quoteIdentifier(extract.from)) (keep_json: false)",
                        hint: "Resync the table to copy it with the new column: forager resync --table \(table.source)."))
                continue
            }
            guard create else { continue }
            logger.notice(
                "adding extracted column and filling it from the rows so far",
                metadata: [
                    "forager.table": "\(table.target)", "forager.column": "\(extract.column)",
                ])
            let json = SQL.quoteIdentifier(table.warehouseName(of: extract.from))
            let sourceType = types[table.warehouseName(of: extract.from)] == "jsonb" ? "jsonb" : "json"
            try await connection.execute(
                """
                ALTER TABLE \(table.target.sql) ADD COLUMN \(name) \(extract.type.rawValue);
                UPDATE \(table.target.sql) SET \(name) = \(extract.expression(source: json, sourceType: sourceType))
                """)
        }
        return problems
    }
}
