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
public actor PostgresWarehouse: WarehouseSink {
    public nonisolated let connection: PGConnection
    public nonisolated let schema: String
    public nonisolated let slot: String
    let logger: Logger
    private var inTransaction = false
    /// A small number per warehouse table, to name its temporary staging tables.
    private var stagingNumbers: [TableName: Int] = [:]
    private var createdKeyTables: Set<String> = []
    private var resolveColumns: (@Sendable (TableName, [String]) async throws -> [SourceColumn])?

    /// Sets how to learn the definition (type, NOT NULL, value for older rows) of columns added on
    /// the source while streaming; without it, added columns are created as `text`.
    public func setColumnResolver(_ resolver: @escaping @Sendable (TableName, [String]) async throws -> [SourceColumn]) {
        resolveColumns = resolver
    }

    /// The checkpoint table, one row per slot.
    public nonisolated var stateTable: String { SQL.quoteIdentifier(schema) + "." + SQL.quoteIdentifier("_forager_state") }

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

    /// The warehouse table for a mapped source table name.
    public nonisolated func target(named name: String) -> TableName { TableName(schema: schema, name: name) }

    // MARK: Schema

    /// Creates the schema, the state table and every missing warehouse table (unless `create` is
    /// false, as for `forager check`); checks the tables that exist. Returns every problem found.
    public func prepare(tables: [MappedTable], create: Bool = true) async throws -> [ForagerError] {
        if create {
            try await connection.execute("""
            CREATE SCHEMA IF NOT EXISTS \(SQL.quoteIdentifier(schema));
            CREATE TABLE IF NOT EXISTS \(stateTable) (
                slot text PRIMARY KEY,
                lsn pg_lsn NOT NULL,
                updated_at timestamptz NOT NULL DEFAULT now()
            )
            """)
        }
        for (index, table) in tables.enumerated() {
            stagingNumbers[table.target] = index
        }
        var problems: [ForagerError] = []
        for table in tables {
            problems += try await checkTypeOverrides(table)
        }
        guard problems.isEmpty else { return problems }
        for table in tables {
            let existing = try await connection.query("""
                SELECT a.attname, format_type(a.atttypid, a.atttypmod)
                FROM pg_attribute a
                WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
                """, [table.target.sql])
            if existing.rows.isEmpty {
                guard create else { continue }
                logger.info("creating warehouse table", metadata: ["forager.table": "\(table.target)"])
                try await connection.execute(Self.createTableSQL(table))
                continue
            }
            let types = Dictionary(existing.rows.map { ($0[0] ?? "", $0[1] ?? "") }, uniquingKeysWith: { first, _ in first })
            let missing = table.columns.filter { types[table.warehouseName(of: $0.name)] == nil }
            if !missing.isEmpty {
                if create {
                    try await addColumns(missing, to: table)
                } else {
                    problems.append(ForagerError(
                        .warehouse, "warehouse table \(table.target) lacks \(missing.map { SQL.quoteIdentifier(table.warehouseName(of: $0.name)) }.joined(separator: ", ")), which the source table \(table.source) has",
                        hint: "forager run and sync add them on start; nothing to do unless you want to add them by hand."))
                }
            }
            for column in table.columns {
                guard let type = types[table.warehouseName(of: column.name)], column.overriddenType == nil else { continue }
                if type != column.sqlType {
                    problems.append(ForagerError(
                        .warehouse, "column \(SQL.quoteIdentifier(table.warehouseName(of: column.name))) of warehouse table \(table.target) has type \(type), but the source has \(column.sqlType)",
                        hint: "Change the warehouse column's type to \(column.sqlType), or drop the warehouse table so Forager recreates and reloads it."))
                }
            }
            for extract in table.extracts where types[extract.column] == nil {
                if create {
                    logger.notice("adding extracted column", metadata: ["forager.table": "\(table.target)", "forager.column": "\(extract.column)"])
                    try await connection.execute("ALTER TABLE \(table.target.sql) ADD COLUMN \(Self.extractDefinition(extract, in: table))")
                }
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
    private func addColumns(_ columns: [SourceColumn], to table: MappedTable) async throws {
        for column in columns {
            let name = SQL.quoteIdentifier(table.warehouseName(of: column.name))
            let type = column.sqlType.isEmpty ? "text" : column.sqlType
            logger.notice("adding column to warehouse table, as on the source", metadata: [
                "forager.table": "\(table.target)", "forager.column": "\(column.name)", "forager.type": "\(type)",
            ])
            if let missing = column.missingValue {
                try await connection.execute("""
                    ALTER TABLE \(table.target.sql) ADD COLUMN IF NOT EXISTS \(name) \(type) DEFAULT (\(SQL.quoteLiteral(missing))::\(type)[])[1];
                    ALTER TABLE \(table.target.sql) ALTER COLUMN \(name) DROP DEFAULT
                    """)
            } else {
                try await connection.execute("ALTER TABLE \(table.target.sql) ADD COLUMN IF NOT EXISTS \(name) \(type)")
            }
        }
    }

    /// Follows a change of the source table's published columns inside the open transaction.
    private func applySchemaChange(_ table: MappedTable, added: [String], removed: [String]) async throws {
        if !added.isEmpty {
            var definitions = table.columns.filter { added.contains($0.name) }
            if let resolveColumns {
                let resolved = try await resolveColumns(table.source, added)
                definitions = definitions.map { column in resolved.first { $0.name == column.name } ?? column }
            }
            try await addColumns(definitions, to: table)
        }
        for name in removed.map(table.warehouseName(of:)) where !table.warehouseKey.contains(name) {
            logger.notice("column no longer on the source; the warehouse keeps it, NULL from now on", metadata: [
                "forager.table": "\(table.target)", "forager.column": "\(name)",
            ])
            try await connection.execute("ALTER TABLE \(table.target.sql) ALTER COLUMN \(SQL.quoteIdentifier(name)) DROP NOT NULL")
        }
    }

    /// A generated column computing an extracted JSON field from the warehouse copy of its source column.
    static func extractDefinition(_ extract: JSONExtract, in table: MappedTable) -> String {
        let sourceType = table.columns.first { $0.name == extract.from }?.sqlType ?? "jsonb"
        let expression = extract.expression(source: SQL.quoteIdentifier(table.warehouseName(of: extract.from)), sourceType: sourceType)
        return "\(SQL.quoteIdentifier(extract.column)) \(extract.type.rawValue) GENERATED ALWAYS AS (\(expression)) STORED"
    }

    static func createTableSQL(_ table: MappedTable) -> String {
        var lines = table.columns.map { column in
            "    \(SQL.quoteIdentifier(table.warehouseName(of: column.name))) \(column.sqlType)\(column.notNull ? " NOT NULL" : "")"
        }
        lines += table.extracts.map { "    " + extractDefinition($0, in: table) }
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

    /// The warehouse tables among `tables` that hold rows.
    public func nonEmptyTables(_ tables: [MappedTable]) async throws -> [TableName] {
        var result: [TableName] = []
        for table in tables where try await connection.query("SELECT EXISTS (SELECT 1 FROM \(table.target.sql))").scalar == "t" {
            result.append(table.target)
        }
        return result
    }

    // MARK: Snapshot

    /// Opens the warehouse transaction that the initial snapshot loads into.
    public func beginSnapshot() async throws {
        try await beginIfNeeded()
    }

    /// Starts loading a table's snapshot rows (the source columns, then `_forager_lsn`).
    /// `binary` selects PostgreSQL's binary COPY format, which the source must then send too.
    public func startLoad(_ table: MappedTable, binary: Bool) async throws {
        let columns = table.columns.map { SQL.quoteIdentifier(table.warehouseName(of: $0.name)) } + [SQL.quoteIdentifier(MetadataColumn.lsn)]
        try await connection.startCopyIn(
            "COPY \(table.target.sql) (\(columns.joined(separator: ", "))) FROM STDIN\(binary ? " (FORMAT binary)" : "")")
    }

    /// Sends COPY data for the load in progress.
    public func load(_ chunk: [UInt8]) async throws {
        try await connection.putCopyData(chunk)
    }

    /// Ends the load in progress; returns the number of rows stored.
    public func endLoad() async throws -> Int {
        try await connection.endCopyIn()
    }

    // MARK: WarehouseSink

    public func apply(_ changes: ChangeSet) async throws {
        try await beginIfNeeded()
        for step in changes.allSteps {
            switch step {
            case .truncate(let tables):
                logger.notice("truncating warehouse tables, as the source did", metadata: [
                    "forager.tables": "\(tables.map(\.target.description))",
                ])
                try await connection.execute("TRUNCATE \(tables.map(\.target.sql).joined(separator: ", "))")
            case .rows(let tables):
                for table in tables { try await applyRows(table) }
            case .schemaChange(let table, let added, let removed):
                try await applySchemaChange(table, added: added, removed: removed)
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

    public func rollback() async throws {
        guard inTransaction else { return }
        try await connection.execute("ROLLBACK")
        inTransaction = false
        createdKeyTables = []
    }

    private func beginIfNeeded() async throws {
        guard !inTransaction else { return }
        try await connection.execute("BEGIN")
        inTransaction = true
    }

    private func applyRows(_ changes: TableChanges) async throws {
        guard changes.table.identity == .key else { return try await applyDeltas(changes) }
        var states = changes.orderedStates
        let table = changes.table
        let soft = table.deletes == .soft
        try await fillUnchangedToast(&states, changes: changes)
        // With soft deletes, a deleted row whose values the batch saw is rewritten as deleted; one
        // it did not see is flagged in place.
        func keptAsDeleted(_ state: RowState) -> TupleData? {
            guard soft, state.row == nil, let row = state.deletedRow, !row.columns.contains(.unchangedToast) else { return nil }
            return row
        }
        let flagged = soft ? states.filter { $0.mayExist && $0.row == nil && keptAsDeleted($0) == nil } : []
        if !flagged.isEmpty { try await flagDeleted(flagged, in: table) }
        let removals = states.filter { $0.mayExist && ($0.row != nil || !soft || keptAsDeleted($0) != nil) }.map(\.key)
        if !removals.isEmpty {
            let keyTable = try await loadKeys(removals, for: table)
            let match = table.warehouseKey.map { "t.\(SQL.quoteIdentifier($0)) = k.\(SQL.quoteIdentifier($0))" }
            try await connection.execute("""
                DELETE FROM \(table.target.sql) AS t USING pg_temp.\(keyTable) AS k WHERE \(match.joined(separator: " AND "))
                """)
        }
        var columns = table.columns.map { SQL.quoteIdentifier(table.warehouseName(of: $0.name)) } + [SQL.quoteIdentifier(MetadataColumn.lsn)]
        if soft { columns.append(SQL.quoteIdentifier(MetadataColumn.deleted)) }
        var started = false
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 20)
        for state in states {
            let deleted = keptAsDeleted(state)
            guard let row = state.row ?? deleted else { continue }
            if !started {
                try await connection.startCopyIn("COPY \(table.target.sql) (\(columns.joined(separator: ", "))) FROM STDIN")
                started = true
            }
            let extra = soft ? [state.lsn.description, deleted == nil ? "f" : "t"] : [state.lsn.description]
            try CopyText.appendRow(row.columns, extra: extra, to: &buffer)
            if buffer.count >= 1 << 20 {
                try await connection.putCopyData(buffer)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        guard started else { return }
        if !buffer.isEmpty { try await connection.putCopyData(buffer) }
        try await connection.endCopyIn()
    }

    /// Applies the changes of a table without a key: removes (or, with soft deletes, flags) as many
    /// identical copies of each row as the batch removed, then adds the copies it added.
    private func applyDeltas(_ changes: TableChanges) async throws {
        let table = changes.table
        let soft = table.deletes == .soft
        let removed = changes.deltas.filter { $0.count < 0 }
        if !removed.isEmpty { try await removeCopies(removed, from: table, soft: soft) }
        var columns = table.columns.map { SQL.quoteIdentifier(table.warehouseName(of: $0.name)) } + [SQL.quoteIdentifier(MetadataColumn.lsn)]
        var buffer: [UInt8] = []
        var started = false
        for delta in changes.deltas where delta.count > 0 {
            if !started {
                if soft { columns.append(SQL.quoteIdentifier(MetadataColumn.deleted)) }
                try await connection.startCopyIn("COPY \(table.target.sql) (\(columns.joined(separator: ", "))) FROM STDIN")
                started = true
            }
            for _ in 0..<delta.count {
                try CopyText.appendRow(delta.row.columns, extra: soft ? [delta.lsn.description, "f"] : [delta.lsn.description], to: &buffer)
            }
            if buffer.count >= 1 << 20 {
                try await connection.putCopyData(buffer)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        guard started else { return }
        if !buffer.isEmpty { try await connection.putCopyData(buffer) }
        try await connection.endCopyIn()
    }

    /// Deletes (or flags as deleted) exactly `-count` copies of each row. Rows are matched on the
    /// text of every column, read through the warehouse type, so that a NULL matches only a NULL.
    private func removeCopies(_ deltas: [RowDelta], from table: MappedTable, soft: Bool) async throws {
        let staging = try stagingTable("_forager_rows_", for: table)
        let values = table.columns.indices.map { "c\($0)" }
        if !createdKeyTables.contains(staging) {
            try await connection.execute("""
                CREATE TEMP TABLE IF NOT EXISTS \(staging) (i int, n int, lsn pg_lsn\(values.map { ", \($0) text" }.joined()))
                """)
            createdKeyTables.insert(staging)
        }
        try await connection.execute("TRUNCATE pg_temp.\(staging)")
        try await connection.startCopyIn("COPY pg_temp.\(staging) (i, n, lsn, \(values.joined(separator: ", "))) FROM STDIN")
        var buffer: [UInt8] = []
        for (index, delta) in deltas.enumerated() {
            buffer.append(contentsOf: "\(index)\t\(-delta.count)\t\(delta.lsn)\t".utf8)
            try CopyText.appendRow(delta.row.columns, extra: [], to: &buffer)
        }
        try await connection.putCopyData(buffer)
        try await connection.endCopyIn()
        let stored = table.columns.map { "t.\(SQL.quoteIdentifier(table.warehouseName(of: $0.name)))::text" }
        let sent = zip(table.columns, values).map { column, value in
            column.sqlType.isEmpty ? "k.\(value)" : "k.\(value)::\(column.sqlType)::text"
        }
        let live = soft ? " WHERE NOT t.\(SQL.quoteIdentifier(MetadataColumn.deleted))" : ""
        let chosen = """
            SELECT ctid, lsn FROM (
                SELECT t.ctid, k.n, k.lsn, row_number() OVER (PARTITION BY k.i ORDER BY t.ctid) AS copy
                FROM \(table.target.sql) AS t JOIN pg_temp.\(staging) AS k
                  ON ROW(\(stored.joined(separator: ", ")))::text = ROW(\(sent.joined(separator: ", ")))::text\(live)
            ) AS matched WHERE copy <= n
            """
        if soft {
            try await connection.execute("""
                UPDATE \(table.target.sql) AS t SET \(SQL.quoteIdentifier(MetadataColumn.deleted)) = true,
                    \(SQL.quoteIdentifier(MetadataColumn.lsn)) = c.lsn, \(SQL.quoteIdentifier(MetadataColumn.syncedAt)) = clock_timestamp()
                FROM (\(chosen)) AS c WHERE t.ctid = c.ctid
                """)
        } else {
            try await connection.execute("DELETE FROM \(table.target.sql) AS t USING (\(chosen)) AS c WHERE t.ctid = c.ctid")
        }
    }

    /// Marks rows deleted in place (soft deletes), with the LSN of each delete.
    private func flagDeleted(_ states: [RowState], in table: MappedTable) async throws {
        let tombstones = try stagingTable("_forager_deleted_", for: table)
        let keyColumns = table.warehouseKey.map(SQL.quoteIdentifier).joined(separator: ", ")
        let lsn = SQL.quoteIdentifier(MetadataColumn.lsn)
        if !createdKeyTables.contains(tombstones) {
            try await connection.execute("""
                CREATE TEMP TABLE IF NOT EXISTS \(tombstones) AS SELECT \(keyColumns), \(lsn) FROM \(table.target.sql) WITH NO DATA
                """)
            createdKeyTables.insert(tombstones)
        }
        try await connection.execute("TRUNCATE pg_temp.\(tombstones)")
        try await connection.startCopyIn("COPY pg_temp.\(tombstones) (\(keyColumns), \(lsn)) FROM STDIN")
        var buffer: [UInt8] = []
        for state in states { try CopyText.appendRow(state.key, extra: [state.lsn.description], to: &buffer) }
        try await connection.putCopyData(buffer)
        try await connection.endCopyIn()
        let match = table.warehouseKey.map { "t.\(SQL.quoteIdentifier($0)) = k.\(SQL.quoteIdentifier($0))" }
        try await connection.execute("""
            UPDATE \(table.target.sql) AS t SET \(SQL.quoteIdentifier(MetadataColumn.deleted)) = true, \(lsn) = k.\(lsn),
                \(SQL.quoteIdentifier(MetadataColumn.syncedAt)) = clock_timestamp()
            FROM pg_temp.\(tombstones) AS k WHERE \(match.joined(separator: " AND "))
            """)
    }

    /// The quoted name of one of a table's temporary staging tables.
    private func stagingTable(_ prefix: String, for table: MappedTable) throws -> String {
        guard let number = stagingNumbers[table.target] else {
            throw ForagerError(.warehouse, "no staging tables were prepared for \(table.target)")
        }
        return SQL.quoteIdentifier(prefix + String(number))
    }

    /// Loads keys into the table's temporary key table (emptied first) and returns its quoted name.
    private func loadKeys(_ keys: [[TupleColumn]], for table: MappedTable) async throws -> String {
        let keyTable = try stagingTable("_forager_keys_", for: table)
        let keyColumns = table.warehouseKey.map(SQL.quoteIdentifier).joined(separator: ", ")
        if !createdKeyTables.contains(keyTable) {
            try await connection.execute("""
                CREATE TEMP TABLE IF NOT EXISTS \(keyTable) AS SELECT \(keyColumns) FROM \(table.target.sql) WITH NO DATA
                """)
            createdKeyTables.insert(keyTable)
        }
        try await connection.execute("TRUNCATE pg_temp.\(keyTable)")
        try await connection.startCopyIn("COPY pg_temp.\(keyTable) (\(keyColumns)) FROM STDIN")
        var buffer: [UInt8] = []
        for key in keys {
            try CopyText.appendRow(key, extra: [], to: &buffer)
            if buffer.count >= 1 << 20 {
                try await connection.putCopyData(buffer)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        if !buffer.isEmpty { try await connection.putCopyData(buffer) }
        try await connection.endCopyIn()
        return keyTable
    }

    /// Replaces unchanged-TOAST markers with the values the warehouse holds for those rows. The
    /// source did not send them because they did not change; the warehouse has them from an
    /// earlier change or the snapshot.
    private func fillUnchangedToast(_ states: inout [RowState], changes: TableChanges) async throws {
        let pending = states.indices.filter { states[$0].row?.columns.contains(.unchangedToast) ?? false }
        guard !pending.isEmpty else { return }
        let table = changes.table
        var columnIndexes = Set<Int>()
        for index in pending {
            for (column, value) in states[index].row!.columns.enumerated() where value == .unchangedToast {
                columnIndexes.insert(column)
            }
        }
        let wanted = columnIndexes.sorted()
        let lookup = pending.map { states[$0].movedFrom ?? states[$0].key }
        let keyTable = try await loadKeys(lookup, for: table)
        let keyColumns = table.warehouseKey.map { "t.\(SQL.quoteIdentifier($0))" }
        let valueColumns = wanted.map { "t.\(SQL.quoteIdentifier(table.warehouseName(of: table.columns[$0].name)))" }
        let using = table.warehouseKey.map(SQL.quoteIdentifier).joined(separator: ", ")
        let rows = try await connection.query("""
            SELECT \((keyColumns + valueColumns).joined(separator: ", "))
            FROM \(table.target.sql) AS t JOIN pg_temp.\(keyTable) AS k USING (\(using))
            """)
        var found: [RowKey: [String?]] = [:]
        let keyCount = table.keyColumns.count
        for row in rows.rows {
            let key: [TupleColumn] = row[0..<keyCount].map { .text(ArraySlice(($0 ?? "").utf8)) }
            found[RowKey(key)] = Array(row[keyCount...])
        }
        for (index, key) in zip(pending, lookup) {
            guard let values = found[RowKey(key)] else {
                throw ForagerError(
                    .warehouse, "an update to \(table.source) left a large (TOAST) value unchanged, but the warehouse table \(table.target) has no row with that key to take it from",
                    hint: "The warehouse is missing rows; run a new snapshot into an empty warehouse schema.")
            }
            for (position, column) in wanted.enumerated() where states[index].row!.columns[column] == .unchangedToast {
                states[index].row!.columns[column] = values[position].map { .text(ArraySlice($0.utf8)) } ?? .null
            }
        }
    }
}
