public import ForagerCore
import LibPQ
import Logging

/// The batch: each step in order, each table's rows through its staging table.
extension RedshiftWarehouse {
    /// Applies one change set in the open transaction (opening one), locking what it writes first.
    func applyOnce(_ changes: ChangeSet, stopped: inout StoppedTables) async throws {
        try await beginIfNeeded()
        var targets: [String] = [stateTable, tablesTable]
        for step in changes.allSteps {
            switch step.excluding(stopped.names) {
            case nil: continue
            case .rows(let tables): targets += tables.map(\.table.target.sql)
            case .truncate(let tables): targets += tables.map(\.target.sql)
            case .schemaChange(let change): targets.append(change.table.target.sql)
            case .stopTable: continue
            }
        }
        try await lock(targets)
        try await changes.walk(into: self, stopped: &stopped, logger: logger)
    }

    public func applyTruncate(_ tables: [MappedTable]) async throws {
        logger.notice(
            "emptying warehouse tables, as the source truncated them",
            metadata: ["forager.tables": "\(tables.map(\.target.description))"])
        for table in tables { try await connection.execute(RedshiftSQL.truncate(table)) }
    }

    /// Stages one table's rows in S3, loads them into its staging table and applies them; a value
    /// Redshift cannot hold, or a removal it cannot name the row of, refuses them (``TableRefusal``).
    public func applyRows(_ changes: TableChanges) async throws {
        var changes = changes
        if let defined = definedColumns[changes.table.source] { changes.define(defined) }
        let table = changes.table
        let staged: StagedRows
        do {
            staged = try StagedRows.stage(changes, partSize: configuration.partSize)
        } catch {
            throw TableRefusal(error)
        }
        guard staged.rows > 0 else { return }
        let staging = Staging(table: table, number: stagingNumbers[table.target] ?? 0)
        let manifest = try await upload(staged.parts)
        try await connection.execute(staging.create())
        try await copy(
            into: staging.name, columns: staging.columns, manifestURL: manifest, expected: staged.rows, what: "changes of \(table.source)")
        if !staged.emptyPositions.isEmpty {
            try await connection.execute(staging.fillEmpty(positions: staged.emptyPositions.sorted()))
        }
        if !staged.unchangedPositions.isEmpty {
            let missing = try await connection.query(staging.rowsMissingForUnchanged()).scalar
            guard missing == "0" else {
                throw ForagerError(
                    .warehouse,
                    "an update to \(table.source) left a large (TOAST) value unchanged, but the warehouse table \(table.target) has no row with that key to take it from (\(missing ?? "?") rows)",
                    hint: "The warehouse is missing rows; resync the table: forager resync --table \(table.source).")
            }
            try await connection.execute(staging.fillUnchanged(positions: staged.unchangedPositions.sorted()))
        }
        if staged.actions.contains(.flagDeleted) { try await connection.execute(staging.flagDeleted()) }
        if !staged.actions.isDisjoint(with: [.upsert, .delete]) { try await connection.execute(staging.deleteUsing()) }
        if !staged.actions.isDisjoint(with: [.upsert, .insert]) {
            try await connection.execute(staging.insertSelect(olderRowsValues: olderRowsValues[table.source] ?? [:]))
        }
        try await connection.execute(staging.drop())
        noteTruncations(staged.truncated, of: table)
    }

    /// Follows a change of the source table's published columns: new columns are added (one
    /// ALTER TABLE each); removed ones stay, NULL from now on (only key columns are NOT NULL in
    /// Redshift); a retyped column whose Redshift type is unchanged needs nothing, a longer VARCHAR
    /// is widened at the next start (Redshift widens only outside a transaction), and any other
    /// type change is refused (``TableRefusal``: the table stops).
    public func applySchemaChange(_ change: SchemaChange) async throws {
        let table = change.table
        let present = try await warehouseColumns(of: table.target)
        let definitions = change.changedColumnDefinitions
        for column in definitions where !column.sqlType.isEmpty { definedColumns[table.source, default: [:]][column.name] = column }
        noteOlderRowsValues(change, present: present)
        for column in definitions where change.retyped.contains(column.name) {
            let name = table.warehouseName(of: column.name)
            let wanted = RedshiftSQL.type(of: column)
            guard let current = present[name], current != wanted.sql else { continue }
            if Self.widens(from: current, to: wanted) { throw Self.mustWiden(name, of: table, to: wanted) }
            throw TableRefusal(
                ForagerError(
                    .schema,
                    "column \(SQL.quoteIdentifier(column.name)) of \(table.source) changed type on the source to \(column.sqlType), which Redshift cannot change \(current) into",
                    hint: "Resync the table to copy it again with the new type: forager resync --table \(table.source)."))
        }
        var missing: [SourceColumn] = []
        for column in definitions where change.added.contains(column.name) {
            let name = table.warehouseName(of: column.name)
            guard let current = present[name] else {
                missing.append(column)
                continue
            }
            // A column still in the warehouse whose type cannot hold the new one's values is not
            // the column the source added now: it was dropped, and another of its name added.
            let wanted = RedshiftSQL.type(of: column)
            guard current != wanted.sql else { continue }
            if case .text = wanted.kind, current.hasPrefix("VARCHAR(") {
                if Self.widens(from: current, to: wanted) { throw Self.mustWiden(name, of: table, to: wanted) }
                continue
            }
            throw TableRefusal(SchemaChange.addedAgain(table, column: column.name, sourceType: column.sqlType, warehouseType: current))
        }
        try await add(missing, to: table)
    }

    /// The transient error of a batch that needs a VARCHAR widened: Redshift widens only outside a
    /// transaction, which the next start does before the batch runs again.
    static func mustWiden(_ name: String, of table: MappedTable, to wanted: RedshiftColumnType) -> ForagerError {
        ForagerError(
            .warehouse,
            "column \(SQL.quoteIdentifier(name)) of \(table.target) must widen to \(wanted.sql), which Redshift does only outside a transaction",
            hint: "Nothing is lost: Forager starts again from its checkpoint and widens the column first.", isTransient: true)
    }

    /// Adds columns; rows already there are given the source's value for rows older than each
    /// column (its constant default), in one UPDATE for them all, and the columns keep no default.
    /// When such a value cannot be given (a volatile default, a table rewritten since, or a default
    /// Redshift cannot take) and the table has rows, the table is copied again, as with the other
    /// warehouses (``Warehouse/copyAgain(_:for:logger:)``). All in one transaction: a column that
    /// is there has its older rows' values, or its table's new copy recorded.
    func add(_ columns: [SourceColumn], to table: MappedTable) async throws {
        guard !columns.isEmpty else { return }
        var fills: [(SourceColumn, String)] = []
        var unknown: [String] = []
        for column in columns {
            let literal = column.missingValue == nil ? nil : RedshiftSQL.missingValueLiteral(column)
            if let literal, literal != "NULL" { fills.append((column, literal)) }
            if column.missingValue == nil ? column.olderRowsNeedTheSource : literal == nil { unknown.append(column.name) }
        }
        logger.notice(
            "adding columns to warehouse table, as on the source",
            metadata: ["forager.table": "\(table.target)", "forager.columns": "\(columns.map(\.name))"])
        try await atomically {
            for column in columns { try await connection.execute(RedshiftSQL.addColumn(table, column)) }
            if !fills.isEmpty { try await connection.execute(RedshiftSQL.fillAdded(table, fills)) }
            if !unknown.isEmpty, try await hasRows(table.target) { try await copyAgain(table, for: unknown, logger: logger) }
        }
    }

    /// Keeps, for the rows of an older part of the stream, the value they read for each column
    /// their changes lack but the source has later, of the same type (its value for rows older
    /// than the column, given at ``add(_:to:)``): a column added while Forager was stopped is
    /// added at start, before the changes made before it are replayed. A column the source no
    /// longer has, or one the stream brings again, is written as the changes give it.
    func noteOlderRowsValues(_ change: SchemaChange, present: [String: String]) {
        let table = change.table
        for column in change.removed {
            let name = table.warehouseName(of: column)
            olderRowsValues[table.source, default: [:]][name] = change.sourceColumns[column].flatMap { later in
                let type = RedshiftSQL.type(of: later).sql
                guard present[name] == type, let literal = RedshiftSQL.missingValueLiteral(later), literal != "NULL" else { return nil }
                return "CAST(\(literal) AS \(type))"
            }
        }
        for column in change.added { olderRowsValues[table.source]?[table.warehouseName(of: column)] = nil }
    }

    /// True when a column of Redshift type `current` (as `warehouseColumns` gives it) takes the
    /// values of `wanted` once widened: both VARCHAR, the new one longer.
    static func widens(from current: String, to wanted: RedshiftColumnType) -> Bool {
        guard case .text(let bytes) = wanted.kind, current.hasPrefix("VARCHAR("),
            let length = Int(current.dropFirst("VARCHAR(".count).dropLast())
        else { return false }
        return bytes > length
    }
}
