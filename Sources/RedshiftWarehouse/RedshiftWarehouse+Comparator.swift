public import ForagerCore
public import PGOutput

/// The Redshift warehouse as `forager validate`'s comparator: a twin comparison, on a connection
/// of its own. The source rows of a key chunk are loaded into a session temporary twin of the
/// table through the same path as a snapshot (COPY text to CSV, gzip objects in S3, COPY with a
/// manifest, empty VARBYTE values filled); the twin and the warehouse table are then read back
/// over the same keys, both printed by Redshift from the same column types, so equal rows print
/// equally whatever Redshift makes of a value (SUPER's JSON, VARBYTE's hexadecimal, DECIMAL's
/// scale, timestamps' microseconds). The SQL is ``RedshiftComparisonSQL``.
///
/// Keys that PostgreSQL and Redshift order alike are compared by range, bounded by keys read from
/// the twin and from the previous chunk. Other keys (text, whose trailing blanks Redshift ignores
/// in comparisons, uuid and the other types held as VARCHAR, floats) are compared by set: the
/// warehouse rows whose keys the twin holds; the warehouse keys no chunk had are listed at the end,
/// page by page.
extension RedshiftWarehouse: TwinComparator {
    /// Source key types that Redshift orders as PostgreSQL does, held in the type of the same
    /// order (a `numeric(p,s)` becomes DECIMAL; see ``RedshiftTypes``).
    static let keyTypesOrderedAlike: Set<String> = [
        "smallint", "integer", "bigint", "boolean", "date", "timestamp without time zone", "timestamp with time zone",
    ]

    public nonisolated func skipReason(_ table: MappedTable) -> String? {
        switch table.identity {
        case .key: return table.warehouseKey.isEmpty ? "the table has no key to compare rows by" : nil
        case .fullRow: return "the Redshift warehouse compares rows by key, and the table has none (compare counts with forager status)"
        case .appendOnly: return "append_only keeps every insert, including rows the source has since deleted"
        }
    }

    /// Text is not, even when the source orders it by bytes: Redshift ignores trailing blanks
    /// when it compares VARCHARs.
    public nonisolated func ordersKeysAlike(_ keyTypes: [String], sourceTextBytewise: Bool) -> Bool {
        Self.ordersKeysAlike(keyTypes)
    }

    static func ordersKeysAlike(_ keyTypes: [String]) -> Bool {
        keyTypes.allSatisfy { type in
            Self.keyTypesOrderedAlike.contains(RedshiftTypes.split(type).base) || RedshiftTypes.mapping(of: type).kind == .decimal
        }
    }

    /// Makes the empty twin of `table` and the tables that hold keys.
    public func beginComparison(_ table: MappedTable) async throws {
        for statement in RedshiftComparisonSQL(table: table).begin() { try await connection.execute(statement) }
    }

    /// Loads one chunk of source rows (COPY text: the columns, then a position) into the twin,
    /// replacing what it held.
    public func loadComparisonChunk(_ table: MappedTable, _ chunks: [[UInt8]]) async throws {
        let comparison = RedshiftComparisonSQL(table: table), twin = comparison.twin
        try await connection.execute(comparison.emptyTwin())
        let keyIndexes = table.keyColumns.compactMap { key in table.columns.firstIndex { $0.name == key } }
        var converter = CopyTextToCSV(kinds: twin.kinds, keyIndexes: keyIndexes, fromCount: twin.keyKinds.count)
        var parts: [[UInt8]] = [[]]
        do {
            for chunk in chunks {
                try converter.convert(chunk, to: &parts[parts.count - 1])
                if parts[parts.count - 1].count >= configuration.partSize { parts.append([]) }
            }
            try converter.finish()
        } catch {
            throw Self.uncomparable(error.problem, table: table, key: error.key)
        }
        guard converter.rows > 0 else { return }
        do {
            let manifest = try await upload(parts.filter { !$0.isEmpty })
            try await copy(
                into: twin.name, columns: twin.columns, manifestURL: manifest, expected: converter.rows,
                what: "the source rows of \(table.source) to compare")
        } catch {
            await deleteStaged()
            throw error
        }
        await deleteStaged()
        if !converter.emptyPositions.isEmpty {
            try await connection.execute(twin.fillEmpty(positions: converter.emptyPositions.sorted()))
        }
    }

    public func comparisonRows(_ table: MappedTable, in scope: TwinComparisonScope) async throws -> (source: [String], warehouse: [String])
    {
        let comparison = RedshiftComparisonSQL(table: table)
        let source = try await connection.query(comparison.twinRows()).rows
        let warehouse = try await connection.query(comparison.warehouseRows(in: scope)).rows
        return (source.map(RedshiftComparisonSQL.line), warehouse.map(RedshiftComparisonSQL.line))
    }

    public func advanceComparison(_ table: MappedTable) async throws {
        for statement in RedshiftComparisonSQL(table: table).advance() { try await connection.execute(statement) }
    }

    public func recordSeenKeys(_ table: MappedTable) async throws {
        try await connection.execute(RedshiftComparisonSQL(table: table).recordSeen())
    }

    /// The next page of up to `size` warehouse keys, in Redshift's order, of rows analysts see
    /// that were last written at or before `writtenThrough`, and of those the keys no chunk had,
    /// in PostgreSQL's text form. The page starts after the last one's last key, which the
    /// comparison keeps in Redshift (so no key is ever written as a literal): `after` only says
    /// whether a page came before (nil: start from the first key). Nil past the last page.
    public func unseenKeys(
        _ table: MappedTable, after: [String]?, size: Int, writtenThrough: LSN
    ) async throws -> (keys: [[String]], last: [String])? {
        let comparison = RedshiftComparisonSQL(table: table)
        let fill = comparison.fillPage(fromStart: after == nil, size: size)
        try await connection.execute(fill[0])
        try await connection.query(fill[1], [String(writtenThrough.value)])
        guard let last = try await connection.query(comparison.pageLast()).rows.first else { return nil }
        for statement in comparison.keepPage() { try await connection.execute(statement) }
        let keys = try await connection.query(comparison.unseenKeys()).rows.map(comparison.sourceText(ofKey:))
        return (keys, comparison.sourceText(ofKey: last))
    }

    /// Drops the twin and the key tables (they would go with the session anyway).
    public func endComparison(_ table: MappedTable) async throws {
        for statement in RedshiftComparisonSQL(table: table).end() { try await connection.execute(statement) }
    }

    /// Errors of a COPY already name the table, the objects and `stl_load_errors`, without keys.
    public nonisolated func explaining(_ error: any Error) -> any Error { error }

    /// The error for a source value that Redshift cannot hold, met while loading the twin: the
    /// apply's, which names the column, the row's key and what to do, said of the comparison.
    static func uncomparable(_ problem: RedshiftCSV.ValueProblem, table: MappedTable, key: [ArraySlice<UInt8>?]) -> ForagerError {
        var error = unstorable(problem, table: table, key: key)
        error.message =
            "\(table.source) cannot be compared, as the warehouse cannot hold a row of it as the source has it: " + error.message
        return error
    }
}
