public import ForagerCore
public import PGOutput

/// A snapshot load: COPY text rows from the source, turned into TabSeparated rows for ClickHouse
/// and sent in blocks, so that no table is held in memory.
struct Load {
    let table: MappedTable
    let columns: [ClickHouseColumn]
    /// The end of the last chunk that did not end a row.
    var partial: [UInt8] = []
    var block: [UInt8] = []
    var rows = 0
    /// The most rows an append-only table's copy can name: its `_forager_row` column's range
    /// (see ``ClickHouseWarehouse/placeLimit(type:)``).
    var placeLimit = Int.max

    /// Appends whole COPY rows, each ended by a newline, to the block. The block is moved out
    /// meanwhile and the columns read once, so that no row copies or retains them.
    mutating func append(lines: ArraySlice<UInt8>) throws {
        var output: [UInt8] = []
        swap(&output, &block)
        defer { swap(&output, &block) }
        let (columns, table) = (self.columns, self.table)
        var start = lines.startIndex
        while start < lines.endIndex, let end = lines[start...].firstIndex(of: 0x0A) {
            guard rows <= placeLimit else { throw ClickHouseWarehouse.placeRangeExceeded(table, limit: placeLimit) }
            try ClickHouseWarehouse.appendCopyRow(lines[start..<end], columns: columns, table: table, place: rows, to: &output)
            rows += 1
            start = end + 1
        }
    }
}

extension ClickHouseWarehouse {
    /// `INSERT INTO … (columns…, _forager_version, _forager_deleted[, _forager_row]) FORMAT TabSeparated`.
    nonisolated func insertStatement(_ table: MappedTable, columns: [ClickHouseColumn]) -> String {
        let names = (columns.map(\.name) + Self.metadataColumns(of: table).map(\.name)).map(ClickHouseClient.quote)
        return "INSERT INTO \(name(table.target)) (\(names.joined(separator: ", "))) FORMAT TabSeparated"
    }

    /// The metadata columns each inserted row ends with, in order: its version and deleted flag,
    /// and an append-only table's row's place.
    static func metadataColumns(of table: MappedTable) -> [(name: String, type: String)] {
        let columns = [(name: version, type: "UInt64"), (name: deleted, type: "UInt8")]
        return table.identity == .appendOnly ? columns + [(name: place, type: "UInt64")] : columns
    }

    /// Inserts TabSeparated rows of `columns` (then the version and the deleted flag). The rows of
    /// a table with float columns go as external data (a table for this one request) with the
    /// `INSERT ... SELECT` that turns the floats' bits back into floats, exactly: no request
    /// depends on which server took an earlier one (a cluster's replicas, ClickHouse Cloud's, or
    /// any load balancer).
    func insert(_ rows: [UInt8], into table: MappedTable, columns: [ClickHouseColumn]) async throws {
        guard columns.contains(where: \.carriesFloatBits) else {
            return try await client.insert(insertStatement(table, columns: columns), rows: rows)
        }
        let metadata = Self.metadataColumns(of: table)
        let names = (columns.map(\.name) + metadata.map(\.name)).map(ClickHouseClient.quote)
        let structure =
            columns.enumerated().map { (name: "c\($0.offset + 1)", type: ClickHouseTopology.externalDataType($0.element.stagingType)) }
            + metadata.enumerated().map { (name: "m\($0.offset + 1)", type: $0.element.type) }
        let values = columns.enumerated().map { $0.element.fromStaging("c\($0.offset + 1)") } + metadata.indices.map { "m\($0 + 1)" }
        try await client.insert(
            "INSERT INTO \(name(table.target)) (\(names.joined(separator: ", "))) SELECT \(values.joined(separator: ", ")) FROM forager_rows",
            externalTable: "forager_rows", structure: structure, rows: rows)
    }

    // MARK: Snapshot

    /// Requests over HTTP hold no session: not counted.
    public func freeConnections() async throws -> Int { Int.max }

    public func startLoad(_ table: MappedTable, binary: Bool) async throws {
        guard !binary else { throw ForagerError(.warehouse, "the ClickHouse warehouse reads COPY text, not binary") }
        var load = Load(table: table, columns: columns(of: table))
        if table.identity == .appendOnly, let type = try await existingColumns(of: table.target)[Self.place] {
            load.placeLimit = Self.placeLimit(type: type)
        }
        loading = load
    }

    /// The last place a `_forager_row` column of `type` holds: tables made before it was `UInt64`
    /// have `UInt32`, which names the first 4,294,967,296 rows of a copy.
    static func placeLimit(type: String) -> Int { type == "UInt32" ? Int(UInt32.max) : Int.max }

    /// A copy that has more rows than its table's `_forager_row` can tell apart: ClickHouse would
    /// merge the rows past the limit with earlier ones.
    static func placeRangeExceeded(_ table: MappedTable, limit: Int) -> ForagerError {
        ForagerError(
            .schema,
            "the copy of \(table.source) has more than \(limit + 1) rows, more than the \(place) column of ClickHouse table \(table.target) (UInt32, made by an earlier Forager) can tell apart",
            hint:
                "Copy it again into a table made anew, whose \(place) is UInt64: forager resync --table \(table.source)."
        )
    }

    public func load(_ chunk: [UInt8]) async throws {
        guard var load = loading else { throw ForagerError(.warehouse, "load without startLoad") }
        loading = nil
        var start = 0
        if !load.partial.isEmpty, let end = chunk.firstIndex(of: 0x0A) {
            let line = load.partial + chunk[...end]
            load.partial = []
            try load.append(lines: line[...])
            start = end + 1
        }
        let rest = chunk[start...].lastIndex(of: 0x0A).map { $0 + 1 } ?? start
        try load.append(lines: chunk[start..<rest])
        load.partial += chunk[rest...]
        if load.block.count >= Self.blockBytes {
            try await insert(load.block, into: load.table, columns: load.columns)
            load.block.removeAll(keepingCapacity: true)
        }
        loading = load
    }

    public func endLoad() async throws -> Int {
        guard var load = loading else { throw ForagerError(.warehouse, "endLoad without startLoad") }
        loading = nil
        if !load.partial.isEmpty { try load.append(lines: (load.partial + [0x0A])[...]) }
        if !load.block.isEmpty { try await insert(load.block, into: load.table, columns: load.columns) }
        return load.rows
    }

    /// One COPY text row (the source columns, then the snapshot's LSN, which version 0 replaces:
    /// every change streamed later wins over the copy). Fields are read in place; only one with
    /// an escape is decoded, into a scratch buffer.
    static func appendCopyRow(
        _ line: ArraySlice<UInt8>, columns: [ClickHouseColumn], table: MappedTable, place: Int, to block: inout [UInt8]
    ) throws {
        let source = table.source
        var column = 0
        var start = line.startIndex
        var scratch: [UInt8] = []
        while column < columns.count {
            guard start <= line.endIndex else { break }
            let end = line[start...].firstIndex(of: 0x09) ?? line.endIndex
            let field = line[start..<end]
            if field.count == 2, field.first == 0x5C, field.last == UInt8(ascii: "N") {
                try columns[column].append(nil, to: &block, table: source)
            } else if field.contains(0x5C) {
                scratch.removeAll(keepingCapacity: true)
                CopyTextEscapes.unescape(field, into: &scratch)
                try columns[column].append(scratch[...], to: &block, table: source)
            } else {
                try columns[column].append(field, to: &block, table: source)
            }
            block.append(0x09)
            column += 1
            start = end + 1
        }
        guard column == columns.count, start <= line.endIndex, !line[start...].contains(0x09) else {
            throw ForagerError(.protocolViolation, "a COPY row of \(source) does not have the \(columns.count + 1) fields expected")
        }
        if table.identity == .appendOnly {
            // The copy is made anew whenever it is interrupted, so a row's place in it names it.
            block.append(contentsOf: snapshotVersion.dropLast())
            block.append(0x09)
            ClickHouseColumn.appendDecimal(UInt64(place), to: &block)
            block.append(0x0A)
        } else {
            block.append(contentsOf: snapshotVersion)
        }
    }

    /// `0\t0\n`: version 0, not deleted.
    private static let snapshotVersion = Array("0\t0\n".utf8)

    // MARK: WarehouseSink

    public func apply(_ changes: ChangeSet, stopped: inout StoppedTables) async throws {
        try await changes.walk(into: self, stopped: &stopped, logger: logger)
    }

    public func applyTruncate(_ tables: [MappedTable]) async throws {
        for table in tables {
            logger.notice("truncating ClickHouse table, as the source did", metadata: ["forager.table": "\(table.target)"])
            try await client.execute(truncateStatement(table.target))
        }
    }

    /// Inserts a table's rows; a refusal that concerns that table alone (a CHECK constraint added
    /// by hand, a value its column cannot parse) stops only it (``TableRefusal``), with the
    /// server's message and the way out, and the other tables keep flowing.
    public func applyRows(_ changes: TableChanges) async throws {
        do {
            try await insertRows(changes)
        } catch let error as ForagerError where error.code == .warehouse && ClickHouseClient.isTableRefusal(error.message) {
            throw TableRefusal(
                ForagerError(
                    .warehouse, "ClickHouse table \(changes.table.target) refuses a change to \(changes.table.source): \(error.message)",
                    hint:
                        "From this change on, none of the table's changes are applied; the other tables keep flowing. If a constraint or type was changed on the ClickHouse table by hand, undo it, then copy the table again: forager resync --table \(changes.table.source)."
                ))
        }
    }

    /// Inserts the batch's final row versions; a delete is a tombstone row (`_forager_deleted = 1`)
    /// with the delete's version, carrying the row's last values when the table keeps deleted
    /// rows (`deletes: soft`).
    private func insertRows(_ changes: TableChanges) async throws {
        let table = changes.table
        let columns = columns(of: table)
        var states = changes.orderedStates
        if table.identity != .appendOnly { try await fillFromWarehouse(&states, table: table, columns: columns) }
        let (rows, tombstones) = try Self.encode(changes, states: states, columns: columns)
        if !rows.isEmpty { try await insert(rows, into: table, columns: columns) }
        if !tombstones.isEmpty {
            let keyColumns = changes.keyIndexes.map { columns[$0] }
            try await insert(tombstones, into: table, columns: keyColumns)
        }
    }

    /// The TabSeparated rows of a table's changes (`states`: its row states, unchanged values
    /// filled in), and of the tombstones that carry only the key. The columns are read through
    /// one buffer pointer, so that no value copies its column.
    private static func encode(
        _ changes: TableChanges, states: [RowState], columns: [ClickHouseColumn]
    ) throws -> (rows: [UInt8], tombstones: [UInt8]) {
        let source = changes.table.source
        var rows: [UInt8] = []
        var tombstones: [UInt8] = []
        try columns.withUnsafeBufferPointer { columns in
            // An append-only table: one delta per insert, whose position and place name the row.
            for delta in changes.deltas {
                try append(
                    delta.row.columns, version: delta.lsn, deleted: false, place: delta.place, columns: columns, source: source, to: &rows)
            }
            for state in states {
                if let row = state.row {
                    try append(row.columns, version: state.lsn, deleted: false, columns: columns, source: source, to: &rows)
                } else if let row = state.deletedRow, !row.columns.contains(.unchangedToast) {
                    try append(row.columns, version: state.lsn, deleted: true, columns: columns, source: source, to: &rows)
                } else {
                    for (position, value) in state.key.enumerated() {
                        try columns[changes.keyIndexes[position]].append(text(value), to: &tombstones, table: source)
                        tombstones.append(0x09)
                    }
                    ClickHouseColumn.appendDecimal(state.lsn.value, to: &tombstones)
                    tombstones.append(contentsOf: [0x09, UInt8(ascii: "1"), 0x0A])
                }
            }
        }
        return (rows, tombstones)
    }

    /// One row's values, then its metadata (see ``metadataColumns(of:)``).
    private static func append(
        _ values: [TupleColumn], version: LSN, deleted: Bool, place: UInt32? = nil, columns: UnsafeBufferPointer<ClickHouseColumn>,
        source: TableName, to output: inout [UInt8]
    ) throws {
        for index in columns.indices {
            try columns[index].append(index < values.count ? text(values[index]) : nil, to: &output, table: source)
            output.append(0x09)
        }
        ClickHouseColumn.appendDecimal(version.value, to: &output)
        output.append(0x09)
        output.append(deleted ? UInt8(ascii: "1") : UInt8(ascii: "0"))
        if let place {
            output.append(0x09)
            ClickHouseColumn.appendDecimal(UInt64(place), to: &output)
        }
        output.append(0x0A)
    }

    /// A key value as ``ClickHouseColumn/keyText`` prints the column: the converted value, except
    /// for floats (which are converted to their bits for inserting), whose shortest text both sides
    /// share, and decimals, without trailing zeros.
    static func keyText(_ value: TupleColumn, column: ClickHouseColumn, table: MappedTable) throws -> [UInt8] {
        if column.carriesFloatBits, let text = Self.text(value) {
            switch String(decoding: text, as: UTF8.self) {
            case "NaN": return Array("nan".utf8)
            case "Infinity": return Array("inf".utf8)
            case "-Infinity": return Array("-inf".utf8)
            default: return Array(text)
            }
        }
        var encoded: [UInt8] = []
        try column.append(Self.text(value), to: &encoded, table: table.source)
        let text = TabSeparated.fields(encoded[...]).first.flatMap { $0 } ?? []
        return column.conversion == .decimal ? ClickHouseColumn.withoutTrailingZeros(text) : text
    }

    static func text(_ value: TupleColumn) -> ArraySlice<UInt8>? {
        if case .text(let bytes) = value { return bytes }
        return nil
    }

    /// Replaces unchanged-TOAST values (and, with soft deletes, the values of rows deleted without
    /// the batch seeing them) with what ClickHouse holds for those keys.
    private func fillFromWarehouse(_ states: inout [RowState], table: MappedTable, columns: [ClickHouseColumn]) async throws {
        let soft = table.deletes == .soft
        let pending = states.indices.filter { index in
            if let row = states[index].row { return row.columns.contains(.unchangedToast) }
            return soft && states[index].mayExist && (states[index].deletedRow?.columns.contains(.unchangedToast) ?? true)
        }
        guard !pending.isEmpty else { return }
        let keyIndexes = table.keyColumns.compactMap { key in table.columns.firstIndex { $0.name == key } }
        func keyTexts(_ key: [TupleColumn]) throws -> [[UInt8]] {
            try key.enumerated().map { position, value in try Self.keyText(value, column: columns[keyIndexes[position]], table: table) }
        }
        func literal(_ key: [TupleColumn]) throws -> String {
            "(" + (try keyTexts(key)).map { ClickHouseClient.literal(String(decoding: $0, as: UTF8.self)) }.joined(separator: ", ") + ")"
        }
        let lookups = pending.map { states[$0].movedFrom ?? states[$0].key }
        let keyList = keyIndexes.map { columns[$0].keyText }.joined(separator: ", ")
        // Arrays come back as their elements' text, hex-encoded, so that no quoting is in the way.
        let wanted = columns.map { column in
            guard case .array = column.conversion else { return ClickHouseClient.quote(column.name) }
            return
                "arrayStringConcat(arrayMap(x -> ifNull(concat('V', hex(toString(x))), 'N'), \(ClickHouseClient.quote(column.name))), ',')"
        }.joined(separator: ", ")
        let text = try await client.execute(
            """
            SELECT \(keyList), \(wanted) FROM \(name(table.target)) FINAL
            WHERE (\(keyList)) IN (\(try lookups.map(literal).joined(separator: ", "))) FORMAT TabSeparated
            """)
        var found: [[UInt8]: [[UInt8]?]] = [:]
        for row in TabSeparated.rows(text) where row.count == keyIndexes.count + columns.count {
            let key = row[0..<keyIndexes.count].map { $0 ?? [] }.joined(separator: [0x09])
            found[Array(key)] = Array(row[keyIndexes.count...])
        }
        for (index, lookup) in zip(pending, lookups) {
            let key = try keyTexts(lookup)
            guard let values = found[Array(key.joined(separator: [0x09]))] else {
                throw ForagerError(
                    .warehouse,
                    "a change to \(table.source) needs values the source did not send (a large unchanged value, or a deleted row kept by deletes: soft), but ClickHouse table \(table.target) has no row with that key",
                    hint: "The warehouse is missing rows; resync the table: forager resync --table \(table.source).")
            }
            var row =
                states[index].row ?? states[index].deletedRow ?? TupleData(columns: Array(repeating: .unchangedToast, count: columns.count))
            for (column, value) in row.columns.enumerated() where value == .unchangedToast {
                row.columns[column] = try Self.sourceText(values[column], column: columns[column], table: table)
            }
            if states[index].row != nil { states[index].row = row } else { states[index].deletedRow = row }
        }
    }

    /// A value ClickHouse returned, back in PostgreSQL's text form (for the types a large value
    /// can have).
    private static func sourceText(_ value: [UInt8]?, column: ClickHouseColumn, table: MappedTable) throws -> TupleColumn {
        guard let value else { return .null }
        guard let text = ClickHouseColumn.sourceText(of: value, conversion: column.conversion) else {
            throw ForagerError(
                .warehouse,
                "column \(SQL.quoteIdentifier(column.name)) of \(table.target) holds a value Forager cannot read back from ClickHouse to fill in a value the source did not send"
            )
        }
        return .text(text[...])
    }

    /// Follows a change of the source table's columns: added ones are added (nullable), removed
    /// ones stay, retyped ones are widened in place where ClickHouse can, and refused otherwise
    /// (``TableRefusal``: the table stops).
    public func applySchemaChange(_ change: SchemaChange) async throws {
        let old = sourceTypes[change.table.target] ?? [:]
        let resolved = sourceColumns(of: change)
        if !change.retyped.isEmpty {
            let table = change.table
            let existing = try await existingColumns(of: table.target)
            for name in change.retyped {
                guard let from = old[name], let to = resolved[name]?.sqlType, from != to,
                    let current = existing[table.warehouseName(of: name)]
                else {
                    continue
                }
                try await followTypeChange(table, column: name, from: from, to: to, current: current)
            }
        }
        if !change.added.isEmpty {
            if let error = try await addedAgain(change.added, to: change.table, resolved: resolved) {
                throw TableRefusal(error)
            }
            try await addColumns(change.added.map(change.table.warehouseName(of:)), to: change.table, resolved: resolved)
        }
        guard !change.removed.isEmpty else { return }
        // New rows have no value for a removed column: it must hold NULL, not a type's default.
        let existing = try await existingColumns(of: change.table.target)
        var from = change.lsn
        if from == nil { from = try await checkpoint().map { LSN($0.value + 1) } }
        // A column the stream no longer shows but the source has now was added while Forager was
        // stopped, and these changes are older: their rows read the column's default.
        for name in change.removed.filter({ resolved[$0] == nil }).map(change.table.warehouseName(of:))
        where !change.table.warehouseKey.contains(name) {
            logger.notice(
                "column no longer on the source; ClickHouse keeps it, NULL from now on",
                metadata: [
                    "forager.table": "\(change.table.target)", "forager.column": "\(name)", "forager.lsn": "\(from ?? .zero)",
                ])
            guard let type = existing[name] else { continue }
            try await retireColumn(name, of: change.table.target, type: type, from: from ?? .zero)
        }
        try await refreshViewIfStale(change.table)
    }

    /// Why `table` must stop when one of the source columns `added` is still in ClickHouse with a
    /// type that cannot hold the new column's values (the source dropped that column and added
    /// another of its name), or nil.
    private func addedAgain(_ added: [String], to table: MappedTable, resolved: [String: SourceColumn]) async throws -> ForagerError? {
        let existing = try await existingColumns(of: table.target)
        let kept = added.filter { name in
            existing[table.warehouseName(of: name)] != nil && table.columns.contains { $0.name == name && $0.overriddenType == nil }
        }
        guard !kept.isEmpty else { return nil }
        let definitions = columns(of: table)
        func nullable(_ type: String) -> String { type.hasPrefix("Nullable(") ? type : "Nullable(\(type))" }
        for name in kept {
            guard let current = existing[table.warehouseName(of: name)],
                let column = definitions.first(where: { $0.name == table.warehouseName(of: name) })
            else { continue }
            let new = nullable(column.type), old = nullable(current)
            guard new != old, !ClickHouseColumn.widens(from: new, to: old) else { continue }
            return SchemaChange.addedAgain(table, column: name, sourceType: resolved[name]?.sqlType ?? column.type, warehouseType: current)
        }
        return nil
    }

    /// Stores the checkpoint once the batch's inserts have returned.
    public func commit(checkpoint: LSN) async throws {
        var row: [UInt8] = []
        CopyTextEscapes.escape(ArraySlice(slot.utf8), into: &row)
        row += Array("\t\(checkpoint.value)\t\(checkpoint)\n".utf8)
        try await client.insert("INSERT INTO \(checkpointLocation) (slot, lsn, lsn_text) FORMAT TabSeparated", rows: row)
    }

    /// Nothing to undo: ClickHouse has no transactions. What was inserted is replayed, with the
    /// same versions, from the checkpoint.
    public func rollback() async throws {}
}
