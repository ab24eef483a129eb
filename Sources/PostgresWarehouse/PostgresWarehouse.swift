public import ForagerCore
public import LibPQ
public import Logging
public import PGOutput

/// The `postgres` warehouse: a separate PostgreSQL (or Postgres-wire) database that holds a copy of
/// every mapped table plus Forager's checkpoint.
///
/// Changes are applied set-based: rows that may already exist are removed through a key staging
/// table (`DELETE ... USING`), then every row's final version is loaded with `COPY`. The batch and
/// the checkpoint commit in one transaction, so a batch is either wholly applied and checkpointed
/// or not at all.
public actor PostgresWarehouse: Warehouse {
    public nonisolated let connection: PGConnection
    public nonisolated let schema: String
    public nonisolated let slot: String
    let logger: Logger
    /// A warehouse transaction is open (a batch, a copy).
    var inTransaction = false
    /// The open transaction has the savepoint a table's rows are applied behind.
    var rowsSavepoint = false
    /// A small number per warehouse table, to name its temporary staging tables.
    var stagingNumbers: [TableName: Int] = [:]
    /// The staging tables created in this session.
    var createdKeyTables: Set<String> = []
    /// Source tables that are stopped: none of their changes is applied.
    var stoppedTables: Set<TableName> = []
    /// The snapshot load in progress.
    var loading: RowWriter?
    var resolveColumns: (@Sendable (TableName, [String]) async throws -> [SourceColumn])?
    /// The stream's column values arrive in binary: rows and keys are written with binary COPY.
    var binaryValues = false
    /// How rows and keys of changes are written into COPY.
    var valueFormat: ValueFormat { binaryValues ? .binary : .text }
    /// Per source table and column, the source type (by OID) whose binary values the warehouse
    /// column takes as they are: the type when ``binaryValuesObstacle(for:)`` compared them, or
    /// the one a followed schema change gave the column.
    var binaryTypes: [TableName: [String: UInt32]] = [:]

    /// Nil when every table's values can be stored as received: a table with a key or append-only
    /// (rows of a table without one are matched by their text), without extracts (computed from
    /// json text), whose columns have built-in types, no `types` override, and the source's type
    /// in the warehouse (binary COPY reads each type's own format); it then records the source
    /// types it compared, against which ``checkBinaryTypes(of:)`` checks the stream. Otherwise
    /// which table and column keep values in text, and why.
    public func binaryValuesObstacle(for tables: [MappedTable]) async throws -> String? {
        for table in tables {
            var reason: String?
            if table.identity == .fullRow {
                reason = "it has no key, and its rows are matched by their text"
            } else if !table.extracts.isEmpty {
                reason = "extracts are computed from json text"
            } else if let column = table.columns.first(where: { !$0.binaryCompatible || $0.overriddenType != nil }) {
                reason = "column \(SQL.quoteIdentifier(column.name)) has a type that is not built in, or a types override"
            } else {
                let types = try await warehouseTypes(of: table)
                if let column = table.columns.first(where: { column in types[table.warehouseName(of: column.name)].map { $0 != column.sqlType } ?? false }) {
                    reason = "column \(SQL.quoteIdentifier(column.name)) has another type in the warehouse than on the source"
                }
            }
            if let reason { return "\(table.source): \(reason)" }
        }
        for table in tables {
            binaryTypes[table.source] = Dictionary(table.columns.compactMap { column in column.sourceType.map { (column.name, $0.0) } }) { first, _ in first }
        }
        return nil
    }

    /// Throws when a table's values, arriving in binary with the types of the stream's relation
    /// message, are not of the types the warehouse columns take as they are: a type changed while
    /// Forager was stopped, and changes from before it still arrive in the old type.
    func checkBinaryTypes(of table: MappedTable) throws {
        let known = binaryTypes[table.source] ?? [:]
        guard let column = table.columns.first(where: { column in column.sourceType.map { known[column.name] != $0.0 } ?? true }) else { return }
        throw ForagerError(
            .binaryValues, "column \(SQL.quoteIdentifier(column.name)) of \(table.source) arrives in binary with a type that its column in \(table.target) does not take as it is (the type changed on the source)",
            hint: "Nothing is lost: Forager starts the stream again from its checkpoint with values in text.")
    }

    public func setBinaryValues(_ binary: Bool) {
        binaryValues = binary
    }

    /// Sets how to learn the definition (type, NOT NULL, value for older rows) of columns added on
    /// the source while streaming; without it, added columns are created as `text`.
    public func setColumnResolver(_ resolver: @escaping @Sendable (TableName, [String]) async throws -> [SourceColumn]) {
        resolveColumns = resolver
    }

    /// The checkpoint table, one row per slot.
    public nonisolated var stateTable: String { SQL.quoteIdentifier(schema) + "." + SQL.quoteIdentifier("_forager_state") }

    public nonisolated var checkpointLocation: String { stateTable }
    public nonisolated var acceptsBinaryCopy: Bool { true }
    /// Each connection loads into its own session's staging tables: parts of one table load at once.
    public nonisolated var loadsPartsOfATableAtOnce: Bool { true }
    public nonisolated func close() { connection.close() }

    public init(connection: PGConnection, schema: String, slot: String, logger: Logger) {
        self.connection = connection
        self.schema = schema
        self.slot = slot
        self.logger = logger
    }

    /// Opens a connection to the warehouse.
    public static func connect(_ url: ConnectionString, schema: String, slot: String, logger: Logger) async throws -> PostgresWarehouse {
        let connection = try await PGConnection.connect(url, serverSettings: SQL.canonicalTextSettings)
        return PostgresWarehouse(connection: connection, schema: schema, slot: slot, logger: logger)
    }

    // MARK: Schema

    /// Creates the schema, the state table and every missing warehouse table (unless `create` is
    /// false, as for `forager check`); checks the tables that exist. A column whose source type
    /// changed is widened, or its table stopped (see ``applySchemaChange(_:)``). Tables that are
    /// stopped or wait for a resync are not checked. Returns every problem found.
    public func prepare(tables: [MappedTable], create: Bool = true) async throws -> [ForagerError] {
        do {
            return try await prepareTables(tables, create: create)
        } catch let error as PGError where error.sqlState == "42501" {
            let row = try await connection.query("SELECT current_user, current_database()").rows.first
            let role = SQL.quoteIdentifier(row?[0] ?? "?"), database = SQL.quoteIdentifier(row?[1] ?? "?")
            let name = SQL.quoteIdentifier(schema)
            throw ForagerError(
                .warehouse, "the warehouse role \(role) may not create what Forager needs in schema \(name): \(error.message)",
                hint: "As the database owner or a superuser, run CREATE SCHEMA IF NOT EXISTS \(name) AUTHORIZATION \(role); (or, for a schema owned by another role, GRANT USAGE, CREATE ON SCHEMA \(name) TO \(role); and GRANT CREATE ON DATABASE \(database) TO \(role);).")
        }
    }

    private func prepareTables(_ tables: [MappedTable], create: Bool) async throws -> [ForagerError] {
        if create {
            // CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the schema exists.
            let exists = try await connection.query("SELECT to_regnamespace($1) IS NOT NULL", [SQL.quoteIdentifier(schema)]).scalar == "t"
            if !exists { try await connection.execute("CREATE SCHEMA \(SQL.quoteIdentifier(schema))") }
            try await connection.execute("""
            CREATE TABLE IF NOT EXISTS \(stateTable) (
                slot text PRIMARY KEY,
                lsn pg_lsn NOT NULL,
                updated_at timestamptz NOT NULL DEFAULT now()
            )
            """)
            try await createRegistry()
            try await createColumnRegistry()
        }
        let states = try await tableStates()
        stoppedTables = Set(states.filter { $0.value.phase == .stopped }.keys)
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
            let shape = try await shape(of: table.target.sql)
            let types = shape.columns.mapValues(\.type)
            if types.isEmpty {
                guard create else { continue }
                logger.info("creating warehouse table", metadata: ["forager.table": "\(table.target)"])
                try await connection.execute(Self.createTableSQL(table) + ";\n" + recordColumnsSQL(table.target))
                continue
            }
            let recorded = try await recordedTypes(of: table.target)
            if recorded.isEmpty, create {
                // Made before Forager recorded its columns: taken as Forager made it.
                try await connection.execute(recordColumnsSQL(table.target))
            }
            if let error = handChangedColumns(table, table.storedColumns, types: types, recorded: recorded) ?? keyChanged(table, warehouseKey: shape.key) {
                if create {
                    try await stop(table, error)
                } else {
                    problems.append(error)
                }
                continue
            }
            var missing = table.storedColumns.filter { types[table.warehouseName(of: $0.name)] == nil }
            for column in missing where table.extracts.contains(where: { $0.from == column.name }) {
                problems.append(ForagerError(
                    .warehouse, "warehouse table \(table.target) lacks the json column \(SQL.quoteIdentifier(table.warehouseName(of: column.name))), which the mapping now keeps (keep_json), so its rows so far would have none",
                    hint: "Resync the table to copy it with the column: forager resync --table \(table.source). Or set keep_json: false again."))
            }
            missing.removeAll { column in table.extracts.contains { $0.from == column.name } }
            if !missing.isEmpty {
                let names = missing.map { SQL.quoteIdentifier(table.warehouseName(of: $0.name)) }.joined(separator: ", ")
                if try await hasDroppedColumns(table.target) {
                    // Forager never drops a warehouse column: someone did, and its values are gone.
                    let error = ForagerError(
                        .warehouse, "warehouse table \(table.target) lacks \(names), and a column was dropped from it by hand (Forager never drops one); adding it back would leave its existing rows without values",
                        hint: "Resync the table to copy it again: forager resync --table \(table.source).")
                    if create {
                        try await stop(table, error)
                    } else {
                        problems.append(error)
                    }
                    continue
                }
                if create {
                    try await addColumns(missing, to: table)
                } else {
                    problems.append(ForagerError(
                        .warehouse, "warehouse table \(table.target) lacks \(missing.map { SQL.quoteIdentifier(table.warehouseName(of: $0.name)) }.joined(separator: ", ")), which the source table \(table.source) has",
                        hint: "forager run and sync add them on start; nothing to do unless you want to add them by hand."))
                }
            }
            let retyped = table.storedColumns.filter { column in
                types[table.warehouseName(of: column.name)].map { $0 != column.sqlType } ?? false && column.overriddenType == nil
            }
            if !retyped.isEmpty {
                if create {
                    try await applySchemaChange(SchemaChange(table: table, retyped: retyped.map(\.name)))
                    if stoppedTables.contains(table.source) { continue }
                } else {
                    for column in retyped where !TypeWidening.allows(from: types[table.warehouseName(of: column.name)] ?? "", to: column.sqlType) {
                        problems.append(ForagerError(
                            .warehouse, "column \(SQL.quoteIdentifier(table.warehouseName(of: column.name))) of warehouse table \(table.target) has type \(types[table.warehouseName(of: column.name)] ?? "?"), but the source now has \(column.sqlType), which is not a widening",
                            hint: "Forager stops this table on start; resync it to copy it again with the new type: forager resync --table \(table.source)."))
                    }
                }
            }
            problems += try await prepareExtracts(table, types: types, create: create)
            // Columns the source dropped, or made nullable, while Forager was stopped (or that a
            // row with a NULL stopped the stream at): new rows may have no value there.
            let nullable = Set(table.storedColumns.filter { !$0.notNull }.map { table.warehouseName(of: $0.name) } + table.extracts.map(\.column))
            let current = Set(table.storedColumns.map { table.warehouseName(of: $0.name) } + table.extracts.map(\.column))
            let loosen = shape.columns.filter { name, column in
                column.notNull && !name.hasPrefix("_forager_") && !table.warehouseKey.contains(name) && (!current.contains(name) || nullable.contains(name))
            }.keys.sorted()
            if !loosen.isEmpty, create {
                logger.notice("warehouse columns take NULL from now on, as the source's", metadata: [
                    "forager.table": "\(table.target)", "forager.columns": "\(loosen)",
                ])
                try await exclusively(
                    "ALTER TABLE \(table.target.sql) " + loosen.map { "ALTER COLUMN \(SQL.quoteIdentifier($0)) DROP NOT NULL" }.joined(separator: ", "),
                    on: [table.target], purpose: "columns the source made nullable or dropped")
            }
            if types[MetadataColumn.deleted] == nil, types[MetadataColumn.lsn] != nil, create {
                try await connection.execute(
                    "ALTER TABLE \(table.target.sql) ADD COLUMN IF NOT EXISTS \(SQL.quoteIdentifier(MetadataColumn.deleted)) boolean NOT NULL DEFAULT false")
            }
            for metadata in [MetadataColumn.lsn, MetadataColumn.syncedAt] where types[metadata] == nil {
                problems.append(ForagerError(
                    .warehouse, "warehouse table \(table.target) exists but has no \(metadata) column, so it was not made by Forager",
                    hint: "Map the source table to another target name, or drop the warehouse table."))
            }
        }
        return problems
    }

    /// Why a table must stop when the source's key is no longer the warehouse table's primary key
    /// (changed while Forager was stopped), or nil.
    private func keyChanged(_ table: MappedTable, warehouseKey: [String]) -> ForagerError? {
        guard table.identity == .key, !warehouseKey.isEmpty, warehouseKey != table.warehouseKey else { return nil }
        func list(_ names: [String]) -> String { "(" + names.map(SQL.quoteIdentifier).joined(separator: ", ") + ")" }
        return ForagerError(
            .schema, "the key of \(table.source) changed on the source while Forager was stopped: its rows are now named by \(list(table.warehouseKey)), but warehouse table \(table.target) is keyed by \(list(warehouseKey)); Forager stopped this table rather than miss deletes or merge rows",
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
            problems.append(ForagerError(
                .schema, "column \(SQL.quoteIdentifier(column.name)) of \(table.source) has the type \(column.sqlType), which the warehouse does not have",
                hint: "Create the type in the warehouse as on the source (CREATE TYPE ...; CREATE EXTENSION ...), or give the column a type the warehouse has in the mapping: types: {\(column.name): text}."))
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
                problems.append(ForagerError(
                    .schema, "types gives column \(SQL.quoteIdentifier(column.name)) of \(table.source) the type '\(column.sqlType)', which the warehouse does not know",
                    hint: "Use a type name as in CREATE TABLE, such as double precision or numeric(12,3)."))
                continue
            }
            // A type only the source has arrives as text, which the override type parses.
            guard try await connection.query("SELECT to_regtype($1) IS NOT NULL", [sourceType]).scalar == "t" else { continue }
            do {
                try await connection.query("SELECT CAST(NULL::\(sourceType) AS \(column.sqlType))")
            } catch let error as PGError {
                problems.append(ForagerError(
                    .schema, "types gives column \(SQL.quoteIdentifier(column.name)) of \(table.source) the type \(column.sqlType), which cannot hold its \(sourceType) values: \(error.message)",
                    hint: "Choose a type that \(sourceType) converts to, or remove the override."))
            }
        }
        return problems
    }

    /// Adds source columns to a warehouse table. Rows that are already there get the value the
    /// source's older rows read for the column (its constant default), or NULL.
    func addColumns(_ columns: [SourceColumn], to table: MappedTable) async throws {
        for column in columns {
            let name = SQL.quoteIdentifier(table.warehouseName(of: column.name))
            let type = column.sqlType.isEmpty ? "text" : column.sqlType
            logger.notice("adding column to warehouse table, as on the source", metadata: [
                "forager.table": "\(table.target)", "forager.column": "\(column.name)", "forager.type": "\(type)",
            ])
            let record = recordColumnsSQL(table.target, columns: [table.warehouseName(of: column.name)])
            if let missing = column.missingValue {
                try await exclusively("""
                    ALTER TABLE \(table.target.sql) ADD COLUMN IF NOT EXISTS \(name) \(type) DEFAULT (\(SQL.quoteLiteral(missing))::\(type)[])[1];
                    ALTER TABLE \(table.target.sql) ALTER COLUMN \(name) DROP DEFAULT;
                    \(record)
                    """, on: [table.target], purpose: "ADD COLUMN, as on the source")
            } else {
                try await exclusively("ALTER TABLE \(table.target.sql) ADD COLUMN IF NOT EXISTS \(name) \(type);\n" + record, on: [table.target], purpose: "ADD COLUMN, as on the source")
            }
        }
        let unknown = columns.filter(\.olderRowsNeedTheSource).map(\.name)
        if !unknown.isEmpty, try await connection.query("SELECT EXISTS (SELECT 1 FROM \(table.target.sql))").scalar == "t" {
            try await copyAgain(table, for: unknown, logger: logger)
        }
    }

    /// Adds extracted columns that the table lacks, filled from the json column it keeps, and turns
    /// extracted columns that an earlier Forager made as generated columns into plain ones.
    private func prepareExtracts(_ table: MappedTable, types: [String: String], create: Bool) async throws -> [ForagerError] {
        var problems: [ForagerError] = []
        for extract in table.extracts {
            let name = SQL.quoteIdentifier(extract.column)
            guard types[extract.column] == nil else {
                let generated = try await connection.query(
                    "SELECT attgenerated <> '' FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2", [table.target.sql, extract.column])
                if generated.scalar == "t", create {
                    try await connection.execute("ALTER TABLE \(table.target.sql) ALTER COLUMN \(name) DROP EXPRESSION")
                }
                continue
            }
            guard table.storedColumns.contains(where: { $0.name == extract.from }) else {
                problems.append(ForagerError(
                    .warehouse, "extract \(name) is new for \(table.target), whose rows so far cannot be filled: the warehouse does not keep the json column \(SQL.quoteIdentifier(extract.from)) (keep_json: false)",
                    hint: "Resync the table to copy it with the new column: forager resync --table \(table.source)."))
                continue
            }
            guard create else { continue }
            logger.notice("adding extracted column and filling it from the rows so far", metadata: [
                "forager.table": "\(table.target)", "forager.column": "\(extract.column)",
            ])
            let json = SQL.quoteIdentifier(table.warehouseName(of: extract.from))
            let sourceType = types[table.warehouseName(of: extract.from)] == "jsonb" ? "jsonb" : "json"
            try await connection.execute("""
                ALTER TABLE \(table.target.sql) ADD COLUMN \(name) \(extract.type.rawValue);
                UPDATE \(table.target.sql) SET \(name) = \(extract.expression(source: json, sourceType: sourceType))
                """)
        }
        return problems
    }

    static func createTableSQL(_ table: MappedTable) -> String {
        var lines = table.storedColumns.map { column in
            "    \(SQL.quoteIdentifier(table.warehouseName(of: column.name))) \(column.sqlType)\(column.notNull ? " NOT NULL" : "")"
        }
        lines += table.extracts.map { "    \(SQL.quoteIdentifier($0.column)) \($0.type.rawValue)" }
        lines.append("    \(SQL.quoteIdentifier(MetadataColumn.lsn)) pg_lsn NOT NULL")
        lines.append("    \(SQL.quoteIdentifier(MetadataColumn.syncedAt)) timestamptz NOT NULL DEFAULT clock_timestamp()")
        lines.append("    \(SQL.quoteIdentifier(MetadataColumn.deleted)) boolean NOT NULL DEFAULT false")
        if !table.warehouseKey.isEmpty {
            lines.append("    PRIMARY KEY (\(table.warehouseKey.map(SQL.quoteIdentifier).joined(separator: ", ")))")
        }
        return "CREATE TABLE \(table.target.sql) (\n\(lines.joined(separator: ",\n"))\n)"
    }

    /// The stored checkpoint for this slot, or nil when there is none.
    public func checkpoint() async throws -> LSN? {
        guard try await connection.query("SELECT to_regclass($1) IS NOT NULL", [stateTable]).scalar == "t" else { return nil }
        let text = try await connection.query("SELECT lsn FROM \(stateTable) WHERE slot = $1", [slot]).scalar
        return text.flatMap { LSN(string: $0) }
    }

    public func forgetCheckpoint() async throws {
        guard try await connection.query("SELECT to_regclass($1) IS NOT NULL", [stateTable]).scalar == "t" else { return }
        try await connection.query("DELETE FROM \(stateTable) WHERE slot = $1", [slot])
    }

    /// The warehouse tables among `tables` that hold rows.
    public func nonEmptyTables(_ tables: [MappedTable]) async throws -> [TableName] {
        var result: [TableName] = []
        for table in tables where try await connection.query("SELECT EXISTS (SELECT 1 FROM \(table.target.sql))").scalar == "t" {
            result.append(table.target)
        }
        return result
    }

    public func rowCounts(_ targets: [TableName]) async throws -> [TableName: Int] {
        // A count waits behind another session's lock (an ALTER, a LOCK TABLE) no longer than this;
        // the connection's setting is restored afterwards.
        try await connection.execute("SET lock_timeout = '2s'")
        do {
            var counts: [TableName: Int] = [:]
            for target in targets {
                guard try await connection.query("SELECT to_regclass($1) IS NOT NULL", [target.sql]).scalar == "t" else { continue }
                do {
                    counts[target] = try await connection.query("SELECT count(*) FROM \(target.sql)").scalar.flatMap { Int($0) }
                } catch let error as PGError where error.sqlState == "55P03" {
                    throw ForagerError(
                        .warehouse, "cannot count the rows of \(target): another session has held a lock on it for over 2 s",
                        hint: "See pg_locks on the warehouse for the session, and ask again once it ends.")
                }
            }
            try await connection.execute("RESET lock_timeout")
            return counts
        } catch {
            _ = try? await connection.execute("RESET lock_timeout")
            throw error
        }
    }

    // MARK: WarehouseSink

    public func apply(_ changes: ChangeSet) async throws {
        try await beginIfNeeded()
        for step in changes.allSteps {
            // Evaluated per step: a step may stop a table for the steps after it.
            switch step.excluding(stoppedTables) {
            case nil:
                continue
            case .truncate(let tables):
                logger.notice("truncating warehouse tables, as the source did", metadata: [
                    "forager.tables": "\(tables.map(\.target.description))",
                ])
                try await exclusively("TRUNCATE \(tables.map(\.target.sql).joined(separator: ", "))", on: tables.map(\.target), purpose: "TRUNCATE, as the source did")
            case .rows(let tables):
                for table in tables { try await applyTableRows(table) }
            case .schemaChange(let change):
                try await applySchemaChange(change)
            case .stopTable(let table, let error):
                try await stop(table, error)
            }
        }
    }

    public func commit(checkpoint: LSN) async throws {
        try await beginIfNeeded()
        try await connection.query("""
            INSERT INTO \(stateTable) AS s (slot, lsn, updated_at) VALUES ($1, $2::pg_lsn, now())
            ON CONFLICT (slot) DO UPDATE SET lsn = GREATEST(s.lsn, EXCLUDED.lsn), updated_at = now()
            """, [slot, checkpoint.description])
        try await connection.execute("COMMIT")
        inTransaction = false
    }

    /// Commits the open transaction without touching the checkpoint: for a stream that fills in a
    /// table beside the main one, whose position is not the pipeline's.
    public func commitWithoutCheckpoint() async throws {
        guard inTransaction else { return }
        try await connection.execute("COMMIT")
        inTransaction = false
    }

    public func rollback() async throws {
        guard inTransaction else { return }
        try await connection.execute("ROLLBACK")
        inTransaction = false
        createdKeyTables = []
    }

    func beginIfNeeded() async throws {
        guard !inTransaction else { return }
        try await connection.execute("BEGIN")
        inTransaction = true
        rowsSavepoint = false
    }
}
