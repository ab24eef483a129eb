public import ForagerCore
import LibPQ
import PGOutput

/// Applying row changes: set-based removal through staging tables, then `COPY`.
extension PostgresWarehouse {
    /// Applies one table's rows behind a savepoint, so that what concerns that table alone stops
    /// only it: rows inserted again under keys the warehouse still holds (a partition truncated or
    /// detached on its own, then filled again) replace the rows kept; a constraint or a value the
    /// warehouse table refuses (a CHECK added by hand, a `types` override too narrow) stops the
    /// table (``TableRefusal``) with the row and the way out, and the other tables keep flowing.
    public func applyRows(_ changes: TableChanges) async throws {
        try await connection.execute(rowsSavepoint ? "RELEASE SAVEPOINT forager_rows; SAVEPOINT forager_rows" : "SAVEPOINT forager_rows")
        rowsSavepoint = true
        do {
            do {
                try await writeRows(changes)
            } catch let error as PGError where error.sqlState == "23505" && changes.table.identity == .key {
                try await undoTableRows(changes.table)
                let reason =
                    changes.table.deletes == .soft
                    ? "rows kept as deleted (deletes: soft), or removed on the source without a change the stream carries"
                    : "the source removed them without a change the stream carries (a partition truncated, detached or dropped on its own)"
                logger.notice(
                    "rows inserted on the source have keys the warehouse table still holds; the newer rows replace them",
                    metadata: [
                        "forager.table": "\(changes.table.target)", "forager.detail": "\(error.detail ?? error.message)",
                        "forager.reason": "\(reason)",
                    ])
                try await writeRows(changes, replacing: true)
            }
        } catch let error as PGError where error.sqlState == "23502" {
            // The source enforces NOT NULL: a NULL arrives only once it no longer does.
            throw ForagerError(
                .warehouse,
                "a change to \(changes.table.source) has a NULL that warehouse table \(changes.table.target) does not take (\(error.message)): the source made the column nullable",
                hint: "Nothing is lost: Forager starts the stream again from its checkpoint and makes the warehouse column nullable first.",
                isTransient: true)
        } catch let error as PGError where ["22", "23"].contains(error.sqlState?.prefix(2)) {
            try await undoTableRows(changes.table)
            throw TableRefusal(
                ForagerError(
                    .warehouse,
                    "warehouse table \(changes.table.target) refuses a change to \(changes.table.source): \(error.message) (SQLSTATE \(error.sqlState ?? ""))\(error.detail.map { "; \($0)" } ?? "")",
                    hint:
                        "None of the table's changes from here on were applied; the other tables keep flowing. If a constraint, index or type was added to the warehouse table by hand, drop it or make it hold what the source holds, then copy the table again: forager resync --table \(changes.table.source)."
                ))
        }
    }

    /// Undoes what a table's rows did since its savepoint; its staging tables are made anew.
    private func undoTableRows(_ table: MappedTable) async throws {
        try await connection.execute("ROLLBACK TO SAVEPOINT forager_rows")
        forgetStaging(for: table)
    }

    /// Writes a table's rows; `replacing`: inserted rows replace warehouse rows of their key.
    func writeRows(_ changes: TableChanges, replacing: Bool = false) async throws {
        guard changes.table.identity == .key else { return try await applyDeltas(changes) }
        var states = changes.orderedStates
        let table = changes.table
        let soft = table.deletes == .soft
        let kept = try await fillUnchangedToast(&states, changes: changes)
        // With soft deletes, a deleted row whose values the batch saw is rewritten as deleted; one
        // it did not see is flagged in place.
        func keptAsDeleted(_ state: RowState) -> TupleData? {
            guard soft, state.row == nil, let row = state.deletedRow, !row.columns.contains(.unchangedToast) else { return nil }
            return row
        }
        let flagged = soft ? states.filter { $0.mayExist && $0.row == nil && keptAsDeleted($0) == nil } : []
        if !flagged.isEmpty { try await flagDeleted(flagged, in: table) }
        let removals = states.filter { ($0.mayExist || replacing && $0.row != nil) && ($0.row != nil || !soft || keptAsDeleted($0) != nil) }
            .map(\.key)
        if !removals.isEmpty {
            let keyTable = try await loadKeys(removals, for: table)
            let match = table.warehouseKey.map { "t.\(SQL.quoteIdentifier($0)) = k.\(SQL.quoteIdentifier($0))" }
            try await connection.execute(
                """
                DELETE FROM \(table.target.sql) AS t USING pg_temp.\(keyTable) AS k WHERE \(match.joined(separator: " AND "))
                """)
        }
        var writer: RowWriter?
        for (index, state) in states.enumerated() {
            let deleted = keptAsDeleted(state)
            guard let row = state.row ?? deleted else { continue }
            if writer == nil { writer = try await openRows(for: table, withDeleted: soft) }
            try writer!.append(row.columns, lsn: state.lsn, deleted: deleted != nil, kept: kept[index] ?? [:])
            try await flushIfFull(&writer!)
        }
        if let writer { try await closeRows(writer) }
    }

    /// Applies the changes of a table without a key: removes (or, with soft deletes, flags) as many
    /// identical copies of each row as the batch removed, then adds the copies it added.
    private func applyDeltas(_ changes: TableChanges) async throws {
        let table = changes.table
        let soft = table.deletes == .soft
        let removed = changes.deltas.filter { $0.count < 0 }
        if !removed.isEmpty { try await removeCopies(removed, from: table, soft: soft) }
        var writer: RowWriter?
        for delta in changes.deltas where delta.count > 0 {
            if writer == nil { writer = try await openRows(for: table, withDeleted: soft) }
            for _ in 0..<delta.count {
                try writer!.append(delta.row.columns, lsn: delta.lsn, deleted: false)
            }
            try await flushIfFull(&writer!)
        }
        if let writer { try await closeRows(writer) }
    }

    /// Deletes (or flags as deleted) exactly `-count` copies of each row. Rows are matched on the
    /// text of every column, read through the warehouse type, so that a NULL matches only a NULL.
    private func removeCopies(_ deltas: [RowDelta], from table: MappedTable, soft: Bool) async throws {
        let staging = try stagingTable("_forager_rows_", for: table)
        let values = table.columns.indices.map { "c\($0)" }
        if !createdKeyTables.contains(staging) {
            try await connection.execute("DROP TABLE IF EXISTS pg_temp.\(staging)")
            try await connection.execute("CREATE TEMP TABLE \(staging) (i int, n int, lsn pg_lsn\(values.map { ", \($0) text" }.joined()))")
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
            try await connection.execute(
                """
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
            // Made anew once per shape: a key column's type may have changed since.
            try await connection.execute("DROP TABLE IF EXISTS pg_temp.\(tombstones)")
            try await connection.execute(
                """
                CREATE TEMP TABLE \(tombstones) AS SELECT \(keyColumns), \(lsn) FROM \(table.target.sql) WITH NO DATA
                """)
            createdKeyTables.insert(tombstones)
        }
        try await connection.execute("TRUNCATE pg_temp.\(tombstones)")
        try await connection.startCopyIn("COPY pg_temp.\(tombstones) (\(keyColumns), \(lsn)) FROM STDIN\(valueFormat.option)")
        var buffer = valueFormat.header
        for state in states { try valueFormat.appendRow(state.key, lsn: state.lsn, deleted: nil, to: &buffer) }
        buffer += valueFormat.trailer
        try await connection.putCopyData(buffer)
        try await connection.endCopyIn()
        let match = table.warehouseKey.map { "t.\(SQL.quoteIdentifier($0)) = k.\(SQL.quoteIdentifier($0))" }
        try await connection.execute(
            """
            UPDATE \(table.target.sql) AS t SET \(SQL.quoteIdentifier(MetadataColumn.deleted)) = true, \(lsn) = k.\(lsn),
                \(SQL.quoteIdentifier(MetadataColumn.syncedAt)) = clock_timestamp()
            FROM pg_temp.\(tombstones) AS k WHERE \(match.joined(separator: " AND "))
            """)
    }

    /// The quoted name of one of a table's temporary staging tables.
    func stagingTable(_ prefix: String, for table: MappedTable) throws -> String {
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
            // Made anew once per shape: a key column's type may have changed since.
            try await connection.execute("DROP TABLE IF EXISTS pg_temp.\(keyTable)")
            try await connection.execute(
                """
                CREATE TEMP TABLE \(keyTable) AS SELECT \(keyColumns) FROM \(table.target.sql) WITH NO DATA
                """)
            createdKeyTables.insert(keyTable)
        }
        try await connection.execute("TRUNCATE pg_temp.\(keyTable)")
        try await connection.startCopyIn("COPY pg_temp.\(keyTable) (\(keyColumns)) FROM STDIN\(valueFormat.option)")
        var buffer = valueFormat.header
        for key in keys {
            try valueFormat.appendRow(key, lsn: nil, deleted: nil, to: &buffer)
            if buffer.count >= 1 << 20 {
                try await connection.putCopyData(buffer)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        buffer += valueFormat.trailer
        if !buffer.isEmpty { try await connection.putCopyData(buffer) }
        try await connection.endCopyIn()
        return keyTable
    }

    /// Replaces unchanged-TOAST markers with the values the warehouse holds for those rows. The
    /// source did not send them because they did not change; the warehouse has them from an
    /// earlier change or the snapshot. A json column the warehouse does not keep (`keep_json:
    /// false`) becomes NULL, and the values extracted from it are kept instead: returned by state
    /// index, then by extract index.
    private func fillUnchangedToast(_ states: inout [RowState], changes: TableChanges) async throws -> [Int: [Int: String?]] {
        let pending = states.indices.filter { states[$0].row?.columns.contains(.unchangedToast) ?? false }
        guard !pending.isEmpty else { return [:] }
        let table = changes.table
        let stored = Set(table.storedColumns.map(\.name))
        var columnIndexes = Set<Int>()
        for index in pending {
            for (column, value) in states[index].row!.columns.enumerated() where value == .unchangedToast {
                columnIndexes.insert(column)
            }
        }
        let wanted = columnIndexes.sorted().filter { stored.contains(table.columns[$0].name) }
        let dropped = columnIndexes.sorted().filter { !stored.contains(table.columns[$0].name) }
        let extracts = table.extracts.indices.filter { index in dropped.contains { table.columns[$0].name == table.extracts[index].from } }
        let lookup = pending.map { states[$0].movedFrom ?? states[$0].key }
        let keyTable = try await loadKeys(lookup, for: table)
        let keyColumns = table.warehouseKey.map { "t.\(SQL.quoteIdentifier($0))" }
        let valueColumns =
            wanted.map { "t.\(SQL.quoteIdentifier(table.warehouseName(of: table.columns[$0].name)))" }
            + extracts.map { "t.\(SQL.quoteIdentifier(table.extracts[$0].column))" }
        let using = table.warehouseKey.map(SQL.quoteIdentifier).joined(separator: ", ")
        let select = """
            SELECT \((keyColumns + valueColumns).joined(separator: ", "))
            FROM \(table.target.sql) AS t JOIN pg_temp.\(keyTable) AS k USING (\(using))
            """
        // The values in the stream's format: keys compare byte for byte with the stream's.
        let rows: [[TupleColumn]] =
            binaryValues
            ? try await connection.binaryRows(select).map { $0.map { $0.map { .binary($0[...]) } ?? .null } }
            : try await connection.query(select).rows.map { $0.map { $0.map { .text(ArraySlice($0.utf8)) } ?? .null } }
        var found: [RowKey: [TupleColumn]] = [:]
        let keyCount = table.keyColumns.count
        for row in rows {
            found[RowKey(Array(row[0..<keyCount]))] = Array(row[keyCount...])
        }
        var kept: [Int: [Int: String?]] = [:]
        for (index, key) in zip(pending, lookup) {
            guard let values = found[RowKey(key)] else {
                throw ForagerError(
                    .warehouse,
                    "an update to \(table.source) left a large (TOAST) value unchanged, but the warehouse table \(table.target) has no row with that key to take it from",
                    hint: "The warehouse is missing rows; resync the table: forager resync --table \(table.source).")
            }
            for (position, column) in wanted.enumerated() where states[index].row!.columns[column] == .unchangedToast {
                states[index].row!.columns[column] = values[position]
            }
            for column in dropped where states[index].row!.columns[column] == .unchangedToast {
                states[index].row!.columns[column] = .null
                for (position, extract) in extracts.enumerated() where table.extracts[extract].from == table.columns[column].name {
                    // Extracts are text: tables with extracts never receive binary values.
                    guard case .text(let value) = values[wanted.count + position] else {
                        kept[index, default: [:]][extract] = .some(nil)
                        continue
                    }
                    kept[index, default: [:]][extract] = String(decoding: value, as: UTF8.self)
                }
            }
        }
        return kept
    }
}
