public import ForagerCore
import PGOutput

/// Preparing the warehouse for the mapped tables at start (`create`) or for `forager check`
/// (without): what the ClickHouse warehouse cannot hold yet, Forager's own tables, and each mapped
/// table made, or brought up to what the source became while Forager was stopped.
extension ClickHouseWarehouse {
    public func prepare(tables: [MappedTable], create: Bool) async throws -> [ForagerError] {
        var problems = tables.flatMap(Self.unsupported)
        guard problems.isEmpty else { return problems }
        if create { try await createBookkeeping() }
        let states = try await tableStates()
        for table in tables {
            sourceTypes[table.target] = Dictionary(table.columns.map { ($0.name, $0.sqlType) }) { first, _ in first }
        }
        for table in tables where states[table.source].map({ $0.phase == .streaming }) ?? true {
            try await prepare(table, create: create, problems: &problems)
        }
        return problems
    }

    /// What the ClickHouse warehouse does not support in `table`'s mapping.
    static func unsupported(_ table: MappedTable) -> [ForagerError] {
        var problems: [ForagerError] = []
        if table.identity == .fullRow {
            problems.append(
                ForagerError(
                    .schema, "\(table.source) has no key (REPLICA IDENTITY FULL), which the ClickHouse warehouse does not support yet",
                    hint: "Give the table a primary key, or map it with append_only: true."))
        }
        if !table.extracts.isEmpty {
            problems.append(
                ForagerError(
                    .schema, "\(table.source) has extract entries, which the ClickHouse warehouse does not support yet",
                    hint: "Remove extract from the table's mapping for now; the JSON column arrives as a String."))
        }
        return problems
    }

    /// The database and Forager's own tables: the checkpoint, the table registry, the columns
    /// Forager made and the source types they hold.
    private func createBookkeeping() async throws {
        try await createDatabaseIfMissing()
        try await createBookkeepingTable(
            "_forager_state", columns: "slot String, lsn UInt64, lsn_text String, updated_at DateTime DEFAULT now()", version: "lsn",
            orderBy: "slot")
        try await createBookkeepingTable(
            "_forager_tables",
            columns:
                "slot String, source_schema String, source_table String, state String, synced_lsn String, reason String, version UInt64",
            version: "version", orderBy: "(slot, source_schema, source_table)")
        try await createColumnRegistry()
        try await createSourceTypeRegistry()
        try await syncReplicas()
    }

    /// One streaming table: made when missing, else checked against what Forager made and
    /// brought up to the source. A refusal stops the table at start, or is a problem for check.
    private func prepare(_ table: MappedTable, create: Bool, problems: inout [ForagerError]) async throws {
        if let error = try await shardingMismatch(table) {
            if create { try await recordStopped(table, error, logger: logger) } else { problems.append(error) }
            return
        }
        if create { try await refreshDistributed(table) }
        let existing = try await existingColumns(of: table.target)
        learnOlderTypes(of: table, existing: existing)
        if existing.isEmpty {
            guard create else {
                if let problem = try await layoutProblem(table) { problems.append(problem) }
                return
            }
            logger.info("creating warehouse table", metadata: ["forager.table": "\(table.target)"])
            do {
                try await createTable(table)
            } catch let error as ForagerError where error.code == .schema {
                problems.append(error)
            }
            return
        }
        if let metadata = [Self.version, Self.deleted].first(where: { existing[$0] == nil }) {
            // Not Forager's table: nothing about it is changed or recorded.
            problems.append(
                ForagerError(
                    .warehouse, "ClickHouse table \(table.target) exists but has no \(metadata) column, so it was not made by Forager",
                    hint: "Map the source table to another target name, or drop the table."))
            return
        }
        let made = try await recordedColumns(of: table.target)
        var refusal = made.flatMap { handChanges(table, existing: existing, recorded: $0) } ?? Self.rowsUnnamed(table, existing: existing)
        if refusal == nil { refusal = try await keyChanged(table) }
        if let error = refusal {
            if create { try await recordStopped(table, error, logger: logger) } else { problems.append(error) }
            return
        }
        if create {
            // Made before Forager recorded its columns: taken as Forager made it.
            if made == nil { try await recordColumns(of: table.target, existing) }
            try await followColumnsChangedWhileStopped(table, existing: existing)
        }
        do {
            try await followSourceTypes(table, create: create, problems: &problems)
        } catch let refusal as TableRefusal {
            return try await recordStopped(table, refusal.error, logger: logger)
        }
        if create { try await refreshViewIfStale(table) }
    }

    /// Why an append-only table must stop when its ClickHouse table has no `_forager_row`: it was
    /// made for a table with a key, or by a Forager that told its rows apart by version alone,
    /// under which ClickHouse merged rows that share one (the copy's, one source COPY's).
    static func rowsUnnamed(_ table: MappedTable, existing: [String: String]) -> ForagerError? {
        guard table.identity == .appendOnly, existing[place] == nil else { return nil }
        return ForagerError(
            .schema,
            "ClickHouse table \(table.target) has no \(place) column, which append_only tables need: it was made for a table with a key, or by an older Forager under which ClickHouse could merge rows that share a version (the copy's, the rows of one COPY on the source)",
            hint:
                "Copy the table again: forager resync --table \(table.source) (the table is made anew, with every row the source has; rows the source deleted since are not kept). Or map the table without append_only."
        )
    }

    /// Columns the source added, dropped or made nullable while Forager was stopped.
    private func followColumnsChangedWhileStopped(_ table: MappedTable, existing: [String: String]) async throws {
        let missing = columns(of: table).filter { existing[$0.name] == nil }
        if !missing.isEmpty {
            try await addColumns(missing.map(\.name), to: table)
        }
        // Columns the source dropped: rows applied after the checkpoint have no value there.
        let current = Set(columns(of: table).map(\.name))
        let after = try await checkpoint().map { LSN($0.value + 1) } ?? .zero
        for (name, type) in existing where !current.contains(name) && !name.hasPrefix("_forager_") {
            try await retireColumn(name, of: table.target, type: type, from: after)
        }
        // Columns the source made nullable (or that a row with a NULL stopped the stream at)
        // take NULL from now on.
        for (source, column) in zip(table.columns, columns(of: table)) where !source.notNull {
            guard let type = existing[column.name], !type.hasPrefix("Nullable("), !type.hasPrefix("Array("),
                column.type.hasPrefix("Nullable(")
            else { continue }
            logger.notice(
                "ClickHouse column takes NULL from now on, as the source's",
                metadata: [
                    "forager.table": "\(table.target)", "forager.column": "\(column.name)",
                ])
            try await modifyColumn(column.name, of: table.target, to: "Nullable(\(type))")
        }
    }

    /// Each column's source type against the one recorded in its comment: a change while Forager
    /// was stopped is followed (a widening) or refused (``TableRefusal``); a column without a comment is
    /// recorded when Forager made it that way, else a problem.
    private func followSourceTypes(_ table: MappedTable, create: Bool, problems: inout [ForagerError]) async throws {
        let recorded = try await existingColumnsWithSourceTypes(of: table.target)
        for (source, column) in zip(table.columns, columns(of: table)) {
            guard let current = recorded[column.name] else { continue }
            if !current.sourceType.isEmpty, current.sourceType != source.sqlType {
                if create {
                    try await followTypeChange(
                        table, column: source.name, from: current.sourceType, to: source.sqlType, current: current.type)
                } else if !TypeWidening.allows(from: current.sourceType, to: source.sqlType) {
                    problems.append(
                        ForagerError(
                            .warehouse,
                            "column \(ClickHouseClient.quote(column.name)) of ClickHouse table \(table.target) holds \(current.sourceType) values, but the source column is now \(source.sqlType), which is not a widening",
                            hint: "Forager stops this table on start; resync it: forager resync --table \(table.source)."))
                }
            } else if current.sourceType.isEmpty, [column.type, "Nullable(\(column.type))"].contains(current.type) {
                // An ADD COLUMN interrupted before its comment: the column is as Forager makes it.
                if create {
                    try await recordSourceType(source.sqlType, of: column.name, in: table.target)
                }
            } else if current.sourceType.isEmpty {
                problems.append(
                    ForagerError(
                        .warehouse,
                        "column \(ClickHouseClient.quote(column.name)) of ClickHouse table \(table.target) has type \(current.type), but Forager maps the source column to \(column.type)",
                        hint: "Resync the table to recreate it: forager resync --table \(table.source)."))
            }
        }
    }
}
