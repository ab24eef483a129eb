public import ForagerCore
internal import LibPQ
import PGOutput

/// The table registry (`_forager_tables`): which mapped tables were copied and from where, which
/// stopped and why, and which wait for a resync.
extension PostgresWarehouse {
    /// The quoted name of the registry table.
    public nonisolated var tablesTable: String { ownTable("_forager_tables") }

    func createRegistry() async throws {
        try await connection.execute(
            """
            CREATE TABLE IF NOT EXISTS \(tablesTable) (
                slot text NOT NULL,
                source_schema text NOT NULL,
                source_table text NOT NULL,
                state text NOT NULL CHECK (state IN ('streaming', 'stopped', 'resync', 'copying')),
                synced_lsn pg_lsn,
                reason text,
                updated_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (slot, source_schema, source_table)
            )
            """)
    }

    /// The recorded state of every table of this slot; empty when nothing is recorded.
    public func tableStates() async throws -> [TableName: TableState] {
        guard try await exists(tablesTable) else { return [:] }
        let rows = try await connection.query(
            "SELECT source_schema, source_table, state, synced_lsn::text, reason FROM \(tablesTable) WHERE slot = $1", [slot])
        var states: [TableName: TableState] = [:]
        for row in rows.rows {
            guard let phase = TableState.Phase(rawValue: row[2] ?? "") else { continue }
            states[TableName(schema: row[0] ?? "", name: row[1] ?? "")] = TableState(
                phase: phase, syncedAt: row[3].flatMap { LSN(string: $0) }, reason: row[4])
        }
        return states
    }

    /// Records a table's state, in the open transaction if there is one.
    public func record(_ table: TableName, _ state: TableState) async throws {
        try await connection.query(
            """
            INSERT INTO \(tablesTable) AS t (slot, source_schema, source_table, state, synced_lsn, reason)
            VALUES ($1, $2, $3, $4, $5::pg_lsn, $6)
            ON CONFLICT (slot, source_schema, source_table) DO UPDATE
            SET state = EXCLUDED.state, synced_lsn = EXCLUDED.synced_lsn, reason = EXCLUDED.reason, updated_at = now()
            """, [slot, table.schema, table.name, state.phase.rawValue, state.syncedAt?.description, state.reason])
    }

    /// Marks tables for a new copy, which the running pipeline (or the next start) takes.
    public func requestResync(_ tables: [TableName]) async throws {
        try await createRegistry()
        for table in tables {
            try await connection.query(
                """
                INSERT INTO \(tablesTable) AS t (slot, source_schema, source_table, state) VALUES ($1, $2, $3, 'resync')
                ON CONFLICT (slot, source_schema, source_table) DO UPDATE SET state = 'resync', updated_at = now()
                """, [slot, table.schema, table.name])
        }
    }

    /// Readies a table's warehouse copy for a new copy of its rows, inside the open transaction:
    /// a table that already has the mapping's columns and key is emptied, so that what was built on
    /// it (views, indexes, grants) stays; any other is dropped and made anew from the mapping, unless
    /// something depends on it, which Forager does not drop.
    public func replaceTable(_ table: MappedTable) async throws {
        let present = try await shape(of: table.target.sql)
        var differences: [String] = []
        if !present.columns.isEmpty {
            var wanted = table
            wanted.target = TableName(schema: "pg_temp", name: "_forager_shape")
            try await connection.execute("DROP TABLE IF EXISTS pg_temp._forager_shape;\n" + Self.createTableSQL(wanted))
            let shape = try await self.shape(of: "pg_temp._forager_shape")
            try await connection.execute("DROP TABLE pg_temp._forager_shape")
            differences = present.differences(from: shape)
            if differences.isEmpty {
                logger.notice(
                    "emptying the warehouse table for a new copy; views, indexes and grants on it stay",
                    metadata: ["forager.table": "\(table.target)"])
                let key =
                    shape.key.isEmpty || !present.key.isEmpty
                    ? ""
                    : ";\nALTER TABLE \(table.target.sql) ADD PRIMARY KEY (\(shape.key.map(SQL.quoteIdentifier).joined(separator: ", ")))"
                try await exclusively(
                    "TRUNCATE \(table.target.sql)\(key);\n" + recordColumnsSQL(table.target), on: [table.target],
                    purpose: "emptying it for a new copy")
                return
            }
        }
        logger.notice("replacing the warehouse table for a new copy", metadata: ["forager.table": "\(table.target)"])
        do {
            try await exclusively("DROP TABLE IF EXISTS \(table.target.sql)", on: [table.target], purpose: "making it anew for a new copy")
        } catch let error as PGError where error.sqlState == "2BP01" {
            throw ForagerError(
                .warehouse,
                "warehouse table \(table.target) must be made anew for a new copy (\(differences.joined(separator: "; "))), but other objects depend on it: \(error.detail ?? error.message)",
                hint:
                    "Forager drops nothing it did not make. Drop those objects (DROP VIEW ... for a view), run Forager again, and create them again once the copy is done."
            )
        }
        try await connection.execute(Self.createTableSQL(table) + ";\n" + recordColumnsSQL(table.target))
    }

    /// The columns (type and NOT NULL, by name) and primary key columns of a table, by its
    /// quoted name; no columns when it does not exist.
    func shape(of table: String) async throws -> TableShape {
        let columns = try await connection.query(
            """
            SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute
            WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped
            """, [table])
        let key = try await connection.query(
            """
            SELECT a.attname FROM pg_index i, unnest(i.indkey::int2[]) WITH ORDINALITY AS k(number, position), pg_attribute a
            WHERE i.indrelid = to_regclass($1) AND i.indisprimary AND a.attrelid = i.indrelid AND a.attnum = k.number
            ORDER BY k.position
            """, [table])
        return TableShape(
            columns: Dictionary(
                columns.rows.map { ($0[0] ?? "", (type: $0[1] ?? "", notNull: $0[2] == "t")) }, uniquingKeysWith: { first, _ in first }),
            key: key.rows.compactMap { $0[0] })
    }

    /// Follows a change of the source table's published columns inside the open transaction: adds
    /// new columns, keeps removed ones (nullable from now on), widens retyped ones where every old
    /// value still fits, and refuses it otherwise (``TableRefusal``: the table stops).
    public func applySchemaChange(_ change: SchemaChange) async throws {
        let table = change.table
        let changed = change.added + change.retyped
        let definitions = change.changedColumnDefinitions
        let current = changed.isEmpty && change.removed.isEmpty ? [:] : try await warehouseTypes(of: table)
        if !change.retyped.isEmpty { try await widenRetyped(change, definitions: definitions, current: current) }
        let stored = Set(table.storedColumns.map(\.name))
        for column in definitions where change.added.contains(column.name) && column.overriddenType == nil && !column.sqlType.isEmpty {
            // A column still in the warehouse whose type cannot hold the new one's values is not
            // the column the source added now: it was dropped, and another of its name added.
            guard let old = current[table.warehouseName(of: column.name)], old != column.sqlType,
                !TypeWidening.allows(from: column.sqlType, to: old)
            else { continue }
            throw TableRefusal(SchemaChange.addedAgain(table, column: column.name, sourceType: column.sqlType, warehouseType: old))
        }
        if !change.added.isEmpty {
            try await addColumns(definitions.filter { change.added.contains($0.name) && stored.contains($0.name) }, to: table)
        }
        forgetStaging(for: table)
        try await keepRemovedColumns(change, current: current)
    }

    /// Widens the retyped columns where every old value still fits; refuses the change (the table
    /// stops) when a column was changed by hand or changed to a type that is not a widening.
    private func widenRetyped(_ change: SchemaChange, definitions: [SourceColumn], current: [String: String]) async throws {
        let table = change.table
        let retyped = definitions.filter { change.retyped.contains($0.name) }
        if let error = handChangedColumns(table, retyped, types: current, recorded: try await recordedTypes(of: table.target)) {
            throw TableRefusal(error)
        }
        for column in definitions
        where change.retyped.contains(column.name) && table.storedColumns.contains(where: { $0.name == column.name }) {
            let name = table.warehouseName(of: column.name)
            guard let old = current[name], column.overriddenType == nil, old != column.sqlType else { continue }
            guard TypeWidening.allows(from: old, to: column.sqlType) else {
                throw TableRefusal(
                    ForagerError(
                        .schema,
                        "column \(SQL.quoteIdentifier(column.name)) of \(table.source) changed type on the source, from \(old) to \(column.sqlType), which is not a widening: existing warehouse values might not fit or might change meaning",
                        hint:
                            "Resync the table to copy it again with the new type: forager resync --table \(table.source). Or map the column to a type that holds both, with types in the mapping, and resync."
                    ))
            }
            logger.notice(
                "widening warehouse column, as on the source",
                metadata: [
                    "forager.table": "\(table.target)", "forager.column": "\(name)", "forager.from": "\(old)",
                    "forager.to": "\(column.sqlType)",
                ])
            try await exclusively(
                "ALTER TABLE \(table.target.sql) ALTER COLUMN \(SQL.quoteIdentifier(name)) TYPE \(column.sqlType);\n"
                    + recordColumnsSQL(table.target, columns: [name]), on: [table.target],
                purpose: "widening a column, as on the source")
        }
    }

    /// Keeps the columns the stream no longer shows, nullable from now on; one the source has
    /// again was added while Forager was stopped, and older rows read its value.
    private func keepRemovedColumns(_ change: SchemaChange, current: [String: String]) async throws {
        let table = change.table
        // A column the stream no longer shows but the source has now was added while Forager was
        // stopped, and these changes are older: their rows read its value for older rows.
        let later = change.removed.compactMap { change.sourceColumns[$0] }
        for column in change.removed where !table.warehouseKey.contains(table.warehouseName(of: column)) {
            let name = SQL.quoteIdentifier(table.warehouseName(of: column))
            // One of another type is a column added after this one was dropped, not this one.
            if let later = later.first(where: { $0.name == column && $0.sqlType == current[table.warehouseName(of: column)] }) {
                logger.notice(
                    "column not in this older part of the stream; its rows take the source's value for rows older than the column",
                    metadata: [
                        "forager.table": "\(table.target)", "forager.column": "\(column)",
                    ])
                let fill = later.missingValue.map { "SET DEFAULT (\(SQL.quoteLiteral($0))::\(later.sqlType)[])[1]" } ?? "DROP DEFAULT"
                try await exclusively(
                    "ALTER TABLE \(table.target.sql) ALTER COLUMN \(name) DROP NOT NULL, ALTER COLUMN \(name) \(fill)", on: [table.target],
                    purpose: "a column older changes lack")
                continue
            }
            logger.notice(
                "column no longer on the source; the warehouse keeps it, NULL from now on",
                metadata: [
                    "forager.table": "\(table.target)", "forager.column": "\(column)",
                ])
            try await exclusively(
                "ALTER TABLE \(table.target.sql) ALTER COLUMN \(name) DROP NOT NULL, ALTER COLUMN \(name) DROP DEFAULT", on: [table.target],
                purpose: "a column the source dropped")
        }
    }

    /// The warehouse table's column types, by column name, as `format_type` prints them.
    func warehouseTypes(of table: MappedTable) async throws -> [String: String] {
        try await shape(of: table.target.sql).columns.mapValues(\.type)
    }
}

/// A warehouse table's columns and primary key, as the catalogue has them.
struct TableShape {
    var columns: [String: (type: String, notNull: Bool)]
    var key: [String]

    /// What keeps a table of this shape from taking the rows of a table of shape `wanted` as it
    /// is; none when every wanted column is here with the same type, every other column here
    /// takes NULL, and the primary key is the wanted one (or there is none yet, to be added).
    func differences(from wanted: TableShape) -> [String] {
        var found: [String] = []
        for (name, column) in wanted.columns.sorted(by: { $0.key < $1.key }) {
            if let type = columns[name]?.type {
                if type != column.type { found.append("\(SQL.quoteIdentifier(name)) is \(type), the copy's is \(column.type)") }
            } else {
                found.append("it lacks \(SQL.quoteIdentifier(name))")
            }
        }
        for (name, column) in columns.sorted(by: { $0.key < $1.key }) where column.notNull && wanted.columns[name] == nil {
            found.append("\(SQL.quoteIdentifier(name)) is NOT NULL but not in the copy")
        }
        if key != wanted.key, !key.isEmpty {
            found.append(
                "its primary key is (\(key.map(SQL.quoteIdentifier).joined(separator: ", "))), the copy's (\(wanted.key.map(SQL.quoteIdentifier).joined(separator: ", ")))"
            )
        }
        return found
    }
}
