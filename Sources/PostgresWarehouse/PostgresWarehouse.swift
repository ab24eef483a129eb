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
public actor PostgresWarehouse: Warehouse, ChangeStepApplier, TransactionalWarehouse, BulkLoadPreparing, BinaryValueSink {
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
    /// The snapshot load in progress.
    var loading: RowWriter?
    /// The stream's column values arrive in binary: rows and keys are written with binary COPY.
    var binaryValues = false
    /// How rows and keys of changes are written into COPY.
    var valueFormat: ValueFormat { binaryValues ? .binary : .text }
    /// Nil when every table's values can be stored as received: a table with a key or append-only
    /// (rows of a table without one are matched by their text), without extracts (computed from
    /// json text), whose columns have built-in types, no `types` override, and the source's type
    /// in the warehouse (binary COPY reads each type's own format). Otherwise which table and column
    /// keep values in text, and why. (The pipeline checks the stream's types against these:
    /// ``BinaryValueTypes``.)
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
                if let column = table.columns.first(where: { column in
                    types[table.warehouseName(of: column.name)].map { $0 != column.sqlType } ?? false
                }) {
                    reason = "column \(SQL.quoteIdentifier(column.name)) has another type in the warehouse than on the source"
                }
            }
            if let reason { return "\(table.source): \(reason)" }
        }
        return nil
    }

    public func setBinaryValues(_ binary: Bool) {
        binaryValues = binary
    }

    /// The checkpoint table, one row per slot.
    public nonisolated var stateTable: String { ownTable("_forager_state") }

    /// The quoted name of one of Forager's own tables in the warehouse schema.
    nonisolated func ownTable(_ name: String) -> String { TableName(schema: schema, name: name).sql }

    /// Whether the table of quoted name `table` exists.
    func exists(_ table: String) async throws -> Bool {
        try await connection.query("SELECT to_regclass($1) IS NOT NULL", [table]).scalar == "t"
    }

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
        let connection = try await PGConnection.connect(url, serverSettings: SQL.canonicalTextSettings, origin: "warehouse")
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
                hint:
                    "As the database owner or a superuser, run CREATE SCHEMA IF NOT EXISTS \(name) AUTHORIZATION \(role); (or, for a schema owned by another role, GRANT USAGE, CREATE ON SCHEMA \(name) TO \(role); and GRANT CREATE ON DATABASE \(database) TO \(role);)."
            )
        }
    }

    /// Adds source columns to a warehouse table. Rows that are already there get the value the
    /// source's older rows read for the column (its constant default), or NULL.
    func addColumns(_ columns: [SourceColumn], to table: MappedTable) async throws {
        for column in columns {
            let name = SQL.quoteIdentifier(table.warehouseName(of: column.name))
            let type = column.sqlType.isEmpty ? "text" : column.sqlType
            logger.notice(
                "adding column to warehouse table, as on the source",
                metadata: [
                    "forager.table": "\(table.target)", "forager.column": "\(column.name)", "forager.type": "\(type)",
                ])
            let record = recordColumnsSQL(table.target, columns: [table.warehouseName(of: column.name)])
            if let missing = column.missingValue {
                try await exclusively(
                    """
                    ALTER TABLE \(table.target.sql) ADD COLUMN IF NOT EXISTS \(name) \(type) DEFAULT (\(SQL.quoteLiteral(missing))::\(type)[])[1];
                    ALTER TABLE \(table.target.sql) ALTER COLUMN \(name) DROP DEFAULT;
                    \(record)
                    """, on: [table.target], purpose: "ADD COLUMN, as on the source")
            } else {
                try await exclusively(
                    "ALTER TABLE \(table.target.sql) ADD COLUMN IF NOT EXISTS \(name) \(type);\n" + record, on: [table.target],
                    purpose: "ADD COLUMN, as on the source")
            }
        }
        let unknown = columns.filter(\.olderRowsNeedTheSource).map(\.name)
        if !unknown.isEmpty, try await connection.query("SELECT EXISTS (SELECT 1 FROM \(table.target.sql))").scalar == "t" {
            try await copyAgain(table, for: unknown, logger: logger)
        }
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
        guard try await exists(stateTable) else { return nil }
        let text = try await connection.query("SELECT lsn FROM \(stateTable) WHERE slot = $1", [slot]).scalar
        return text.flatMap { LSN(string: $0) }
    }

    public func forgetCheckpoint() async throws {
        guard try await exists(stateTable) else { return }
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
                guard try await exists(target.sql) else { continue }
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

    public func apply(_ changes: ChangeSet, stopped: inout StoppedTables) async throws {
        try await beginIfNeeded()
        try await changes.walk(into: self, stopped: &stopped, logger: logger)
    }

    public func applyTruncate(_ tables: [MappedTable]) async throws {
        logger.notice(
            "truncating warehouse tables, as the source did",
            metadata: [
                "forager.tables": "\(tables.map(\.target.description))"
            ])
        try await exclusively(
            "TRUNCATE \(tables.map(\.target.sql).joined(separator: ", "))", on: tables.map(\.target),
            purpose: "TRUNCATE, as the source did")
    }

    /// Stores the checkpoint and commits in one round trip: a batch of a few small transactions
    /// spends most of its time waiting on round trips. Should the checkpoint's statement fail, the
    /// COMMIT after it in the same query is not run.
    public func commit(checkpoint: LSN) async throws {
        try await beginIfNeeded()
        try await connection.execute(
            """
            INSERT INTO \(stateTable) AS s (slot, lsn, updated_at) VALUES (\(SQL.quoteLiteral(slot)), \(SQL.quoteLiteral(checkpoint.description))::pg_lsn, now())
            ON CONFLICT (slot) DO UPDATE SET lsn = GREATEST(s.lsn, EXCLUDED.lsn), updated_at = now();
            COMMIT
            """)
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
