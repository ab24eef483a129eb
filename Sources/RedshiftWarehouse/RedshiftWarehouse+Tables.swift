public import ForagerCore
import LibPQ
import Logging
public import PGOutput

/// Forager's own tables (checkpoint and registry, replaced by delete and insert: Redshift has no
/// upsert), and the mapped tables made at start and checked.
extension RedshiftWarehouse {
    public func checkpoint() async throws -> LSN? {
        guard try await exists("_forager_state") else { return nil }
        let text = try await connection.query("SELECT MAX(\"lsn\") FROM \(stateTable) WHERE \"slot\" = $1", [configuration.slot]).scalar
        return text.flatMap { UInt64($0) }.map { LSN($0) }
    }

    public func forgetCheckpoint() async throws {
        guard try await exists("_forager_state") else { return }
        try await connection.query("DELETE FROM \(stateTable) WHERE \"slot\" = $1", [configuration.slot])
    }

    public func tableStates() async throws -> [TableName: TableState] {
        guard try await exists("_forager_tables") else { return [:] }
        let rows = try await connection.query(
            "SELECT \"source_schema\", \"source_table\", \"state\", \"synced_lsn\", \"reason\" FROM \(tablesTable) WHERE \"slot\" = $1",
            [configuration.slot])
        var states: [TableName: TableState] = [:]
        for row in rows.rows {
            guard let phase = TableState.Phase(rawValue: row[2] ?? "") else { continue }
            states[TableName(schema: row[0] ?? "", name: row[1] ?? "")] = TableState(
                phase: phase, syncedAt: row[3].flatMap { UInt64($0) }.map { LSN($0) }, reason: row[4])
        }
        return states
    }

    /// Records a table's state by delete and insert: in the open transaction, or in one of its own.
    public func record(_ table: TableName, _ state: TableState) async throws {
        try await atomically { try await replaceRecord(table, state) }
    }

    private func replaceRecord(_ table: TableName, _ state: TableState) async throws {
        let parameters: [String?] = [configuration.slot, table.schema, table.name]
        try await connection.query(
            "DELETE FROM \(tablesTable) WHERE \"slot\" = $1 AND \"source_schema\" = $2 AND \"source_table\" = $3", parameters)
        try await connection.query(
            """
            INSERT INTO \(tablesTable) ("slot", "source_schema", "source_table", "state", "synced_lsn", "reason", "updated_at")
            VALUES ($1, $2, $3, $4, $5, $6, GETDATE())
            """,
            parameters + [
                state.phase.rawValue, state.syncedAt.map { String($0.value) },
                state.reason.map { String(decoding: $0.utf8.prefix(60000), as: UTF8.self) },
            ])
    }

    public func requestResync(_ tables: [TableName]) async throws {
        try await connection.execute(RedshiftSQL.createRegistry(tablesTable))
        let states = try await tableStates()
        for table in tables {
            var state = states[table] ?? TableState(phase: .resync)
            state.phase = .resync
            try await record(table, state)
        }
    }

    /// Creates the schema, Forager's tables and (unless `create` is false) every missing mapped
    /// table; adds the columns a table lacks and widens its VARCHARs where the source's grew;
    /// removes staged objects an earlier run left (for `forager check`, without `create`: checks
    /// that the staging bucket answers to the keys). Returns every problem found. (The mapping's
    /// `redshift:` layout is checked with the mapping, naming its file and line; a table already
    /// there with another layout is named here.)
    public func prepare(tables: [MappedTable], create: Bool) async throws -> [ForagerError] {
        var problems: [ForagerError] = []
        if create {
            try await connection.execute("CREATE SCHEMA IF NOT EXISTS \(SQL.quoteIdentifier(configuration.schema))")
            try await connection.execute(RedshiftSQL.createStateTable(stateTable))
            try await connection.execute(RedshiftSQL.createRegistry(tablesTable))
            try await deleteOrphans()
        } else if let problem = try await stagingProblem() {
            problems.append(problem)
        }
        let states = try await tableStates()
        for (index, table) in tables.enumerated() { stagingNumbers[table.target] = index }
        for table in tables where !table.extracts.isEmpty {
            problems.append(
                ForagerError(
                    .configuration, "\(table.source) has extracts, which the Redshift warehouse does not compute",
                    hint: "Remove extract from its mapping; Redshift's SUPER columns can be queried with PartiQL instead."))
        }
        guard problems.isEmpty else { return problems }
        for table in tables where states[table.source].map({ $0.phase == .streaming }) ?? true {
            problems += try await prepare(table, create: create)
        }
        return problems
    }

    /// Why batches cannot be staged: the bucket is missing, or refuses the keys (S3's error, naming
    /// the bucket and what to do); nil when a listing of the slot's folder answers.
    private func stagingProblem() async throws -> ForagerError? {
        do {
            _ = try await s3.list(prefix: slotFolder, pageSize: 1)
            return nil
        } catch let error as ForagerError where !error.isTransient {
            return error
        }
    }

    /// Makes one table, or brings the one there along: missing columns added (with what older
    /// rows read for them), VARCHARs widened, a layout other than the mapping's named.
    private func prepare(_ table: MappedTable, create: Bool) async throws -> [ForagerError] {
        let present = try await warehouseColumns(of: table.target)
        guard !present.isEmpty else {
            guard create else { return [] }
            logger.info("creating warehouse table", metadata: ["forager.table": "\(table.target)"])
            try await connection.execute(RedshiftSQL.createTable(table))
            return []
        }
        var problems = [try await layoutProblem(of: table, create: create)].compactMap { $0 }
        var missing: [SourceColumn] = []
        for column in table.storedColumns {
            let name = table.warehouseName(of: column.name)
            let wanted = RedshiftSQL.type(of: column)
            guard let current = present[name] else {
                guard create else {
                    problems.append(
                        ForagerError(
                            .warehouse, "warehouse table \(table.target) lacks \(SQL.quoteIdentifier(name)), which forager run adds"))
                    continue
                }
                missing.append(column)
                continue
            }
            guard Self.widens(from: current, to: wanted) else { continue }
            guard create else {
                problems.append(
                    ForagerError(
                        .warehouse,
                        "column \(SQL.quoteIdentifier(name)) of \(table.target) is \(current); forager run widens it to \(wanted.sql)"))
                continue
            }
            logger.notice(
                "widening warehouse column, as on the source",
                metadata: ["forager.table": "\(table.target)", "forager.column": "\(name)", "forager.to": "\(wanted.sql)"])
            try await connection.execute(RedshiftSQL.widen(table, column: name, to: wanted))
        }
        // Added while Forager was stopped: as when the stream brings them, rows already there read
        // the source's value for rows older than each column, or the table is copied again.
        try await add(missing, to: table)
        return problems
    }

    public func nonEmptyTables(_ tables: [MappedTable]) async throws -> [TableName] {
        var result: [TableName] = []
        for table in tables where try await hasRows(table.target) { result.append(table.target) }
        return result
    }

    public func rowCounts(_ targets: [TableName]) async throws -> [TableName: Int] {
        var counts: [TableName: Int] = [:]
        for target in targets where try await !warehouseColumns(of: target).isEmpty {
            counts[target] = try await connection.query("SELECT COUNT(*) FROM \(target.sql)").scalar.flatMap { Int($0) }
        }
        return counts
    }

    func hasRows(_ target: TableName) async throws -> Bool {
        guard try await !warehouseColumns(of: target).isEmpty else { return false }
        return try await connection.query("SELECT 1 FROM \(target.sql) LIMIT 1").rows.count > 0
    }

    /// Whether Forager's table `name` exists in the schema.
    private func exists(_ name: String) async throws -> Bool {
        try await !warehouseColumns(of: TableName(schema: configuration.schema, name: name)).isEmpty
    }

    /// A table's columns and their Redshift types (as ``RedshiftTypes`` spells them); empty when
    /// the table does not exist.
    func warehouseColumns(of table: TableName) async throws -> [String: String] {
        let rows = try await connection.query(
            """
            SELECT column_name, data_type, character_maximum_length, numeric_precision, numeric_scale
            FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2
            """, [table.schema, table.name]
        ).rows
        var columns: [String: String] = [:]
        for row in rows {
            let type = row[1] ?? ""
            switch type {
            case "character varying": columns[row[0] ?? ""] = "VARCHAR(\(row[2] ?? "256"))"
            case "numeric": columns[row[0] ?? ""] = "DECIMAL(\(row[3] ?? "18"),\(row[4] ?? "0"))"
            default: columns[row[0] ?? ""] = RedshiftTypes.mapping(of: type).sql
            }
        }
        return columns
    }
}
