import ForagerCore
import LibPQ
import Metrics
import PGOutput

/// How received values are written into a COPY: as text, or in binary as they arrived (see
/// ``PostgresWarehouse/binaryValuesObstacle(for:)``).
enum ValueFormat {
    case text, binary

    /// The COPY option that selects the format.
    var option: String { self == .binary ? " (FORMAT binary)" : "" }
    /// The bytes that open the COPY data.
    var header: [UInt8] { self == .binary ? CopyBinary.header : [] }
    /// The bytes that end it.
    var trailer: [UInt8] { self == .binary ? CopyBinary.trailer : [] }

    /// Binary values of at least this many bytes are sent from the message they arrived in rather
    /// than copied into the COPY buffer: a 10 MB jsonb value is not held twice.
    static let deferredValueSize = 256 << 10

    /// Appends a row of `columns`, every value into `buffer`, then, when given, `lsn` as
    /// `_forager_lsn` and `deleted` as `_forager_deleted`.
    @inline(__always)
    func appendRow(_ columns: [TupleColumn], lsn: LSN?, deleted: Bool?, to buffer: inout [UInt8]) throws(ForagerError) {
        var none: [CopyBinary.DeferredValue] = []
        try appendRow(columns, lsn: lsn, deleted: deleted, to: &buffer, deferring: &none, atLeast: .max)
    }

    /// Appends a row like ``appendRow(_:lsn:deleted:to:)``, except that in binary, values of
    /// `size` bytes or more (by default ``deferredValueSize``) go into `deferred` instead of `buffer`.
    @inline(__always)
    func appendRow(
        _ columns: [TupleColumn], lsn: LSN?, deleted: Bool?, to buffer: inout [UInt8], deferring deferred: inout [CopyBinary.DeferredValue],
        atLeast size: Int = deferredValueSize
    ) throws(ForagerError) {
        switch self {
        case .binary:
            try CopyBinary.appendRow(columns, lsn: lsn, deleted: deleted, to: &buffer, deferring: &deferred, atLeast: size)
        case .text:
            guard let lsn else { return try CopyText.appendRow(columns, extra: deleted.map { [$0 ? "t" : "f"] } ?? [], to: &buffer) }
            try CopyText.appendRow(columns, lsn: lsn, deleted: deleted, to: &buffer)
        }
    }
}

/// The COPY stream that writes complete rows of one table: straight into the warehouse table, or,
/// for a table with extracted JSON columns, into a staging table from which one `INSERT ... SELECT`
/// computes the extracted values and counts the fields that were missing or of the wrong kind.
struct RowWriter {
    let table: MappedTable
    /// True when rows go through the staging table (the table has extracts).
    let staged: Bool
    /// The quoted staging table, when staged.
    let stage: String?
    /// Whether rows carry `_forager_deleted` (always, when staged).
    let withDeleted: Bool
    /// How the values of changes are written (text when staged).
    let format: ValueFormat
    var buffer: [UInt8] = []
    /// Large values that belong inside `buffer`, sent from where they arrived.
    var deferred: [CopyBinary.DeferredValue] = []
    var rows = 0

    /// Appends a row: the source's columns, in order (json columns that the warehouse does not
    /// keep included, NULL when unknown), with its LSN and whether it is kept as deleted. `kept`
    /// gives values, by extract index, to store instead of computing them (a nil value keeps NULL).
    mutating func append(_ columns: [TupleColumn], lsn: LSN, deleted: Bool, kept: [Int: String?] = [:]) throws {
        rows += 1
        guard staged else {
            // The common path, once per row: no intermediate strings or arrays.
            try format.appendRow(columns, lsn: lsn, deleted: withDeleted ? deleted : nil, to: &buffer, deferring: &deferred)
            return
        }
        var extras = [TupleColumn.text(ArraySlice(lsn.description.utf8)), .text(ArraySlice((deleted ? "t" : "f").utf8))]
        for index in table.extracts.indices {
            if let value = kept[index] {
                extras += [.text(ArraySlice("t".utf8)), value.map { .text(ArraySlice($0.utf8)) } ?? .null]
            } else {
                extras += [.text(ArraySlice("f".utf8)), .null]
            }
        }
        try CopyText.appendRow([columns, extras].joined(), extra: [], to: &buffer)
    }
}

extension PostgresWarehouse {
    /// The counter of extracted values stored as NULL, by `table`, `column` and `kind` (`missing`:
    /// no field, or a JSON null; `wrong_kind`: a value the type cannot hold).
    public static let extractNullsMetric = "forager_extract_nulls_total"

    /// The staging table's columns for the keep flag and kept value of extract `index`.
    static func keepColumn(_ index: Int) -> String { SQL.quoteIdentifier("_forager_keep_\(index)") }
    static func valueColumn(_ index: Int) -> String { SQL.quoteIdentifier("_forager_value_\(index)") }

    /// Starts writing rows of `table`. `withDeleted`: rows carry `_forager_deleted`. `snapshot`:
    /// the caller sends raw COPY data of the source columns plus `_forager_lsn`, in binary when
    /// `binary`. Otherwise rows are changes, in binary when the stream's values are (never for a
    /// table with extracts: see ``binaryValuesObstacle(for:)``).
    func openRows(for table: MappedTable, withDeleted: Bool, snapshot: Bool = false, binary: Bool = false) async throws -> RowWriter {
        let lsn = SQL.quoteIdentifier(MetadataColumn.lsn), deleted = SQL.quoteIdentifier(MetadataColumn.deleted)
        let values: ValueFormat = !snapshot && table.extracts.isEmpty ? valueFormat : .text
        let format = snapshot ? (binary ? ValueFormat.binary.option : "") : values.option
        guard !table.extracts.isEmpty else {
            var columns = table.columns.map { SQL.quoteIdentifier(table.warehouseName(of: $0.name)) } + [lsn]
            if withDeleted && !snapshot { columns.append(deleted) }
            try await connection.startCopyIn("COPY \(table.target.sql) (\(columns.joined(separator: ", "))) FROM STDIN\(format)")
            return RowWriter(
                table: table, staged: false, stage: nil, withDeleted: withDeleted && !snapshot, format: values, buffer: values.header)
        }
        let stage = try await prepareStage(for: table)
        var columns = table.columns.map { SQL.quoteIdentifier(table.warehouseName(of: $0.name)) } + [lsn]
        if !snapshot {
            columns.append(deleted)
            for index in table.extracts.indices { columns += [Self.keepColumn(index), Self.valueColumn(index)] }
        }
        try await connection.startCopyIn("COPY pg_temp.\(stage) (\(columns.joined(separator: ", "))) FROM STDIN\(format)")
        return RowWriter(table: table, staged: true, stage: stage, withDeleted: true, format: .text)
    }

    /// Sends the writer's buffer once it holds a megabyte, or a large value waits.
    func flushIfFull(_ writer: inout RowWriter) async throws {
        guard writer.buffer.count >= 1 << 20 || !writer.deferred.isEmpty else { return }
        try await send(&writer)
    }

    /// Sends the writer's buffer with its deferred values in their places, and empties both.
    private func send(_ writer: inout RowWriter) async throws {
        var start = 0
        for value in writer.deferred {
            try await connection.putCopyData(writer.buffer[start..<value.offset])
            try await connection.putCopyData(value.bytes)
            start = value.offset
        }
        try await connection.putCopyData(writer.buffer[start...])
        writer.buffer.removeAll(keepingCapacity: true)
        writer.deferred.removeAll()
    }

    /// Ends the rows; for a staged table computes the extracted columns into the warehouse table,
    /// and logs the fields that gave NULL. Returns the number of rows written.
    @discardableResult
    func closeRows(_ writer: RowWriter) async throws -> Int {
        var writer = writer
        writer.buffer += writer.format.trailer
        try await send(&writer)
        let copied = try await connection.endCopyIn()
        guard writer.staged, let stage = writer.stage else { return copied }
        let table = writer.table
        let lsn = SQL.quoteIdentifier(MetadataColumn.lsn), deleted = SQL.quoteIdentifier(MetadataColumn.deleted)
        let stored = table.storedColumns.map { SQL.quoteIdentifier(table.warehouseName(of: $0.name)) } + [lsn, deleted]
        var computed: [String] = [], counts: [String] = []
        for (index, extract) in table.extracts.enumerated() {
            let json = SQL.quoteIdentifier(table.warehouseName(of: extract.from))
            let sourceType = table.columns.first { $0.name == extract.from }?.sqlType == "jsonb" ? "jsonb" : "json"
            let value = "_forager_e\(index)", present = "_forager_p\(index)"
            computed.append(
                "CASE WHEN \(Self.keepColumn(index)) THEN \(Self.valueColumn(index)) ELSE \(extract.expression(source: json, sourceType: sourceType)) END AS \(value)"
            )
            computed.append("(NOT \(Self.keepColumn(index)) AND \(extract.presence(source: json, sourceType: sourceType))) AS \(present)")
            computed.append("\(Self.keepColumn(index)) AS _forager_k\(index)")
            counts.append("count(*) FILTER (WHERE \(present) AND \(value) IS NULL)")
            counts.append("count(*) FILTER (WHERE NOT _forager_k\(index) AND NOT \(present))")
        }
        let targets = stored + table.extracts.map { SQL.quoteIdentifier($0.column) }
        let values = stored + table.extracts.indices.map { "_forager_e\($0)" }
        let result = try await connection.query(
            """
            WITH s AS (SELECT \((stored + computed).joined(separator: ", ")) FROM pg_temp.\(stage)),
            written AS (INSERT INTO \(table.target.sql) (\(targets.joined(separator: ", "))) SELECT \(values.joined(separator: ", ")) FROM s RETURNING 1)
            SELECT (SELECT count(*) FROM written), \(counts.joined(separator: ", ")) FROM s
            """)
        try await connection.execute("TRUNCATE pg_temp.\(stage)")
        guard let row = result.rows.first else { return 0 }
        for (index, extract) in table.extracts.enumerated() {
            let wrongKind = Int(row[1 + 2 * index] ?? "") ?? 0, missing = Int(row[2 + 2 * index] ?? "") ?? 0
            guard wrongKind > 0 || missing > 0 else { continue }
            for (kind, count) in [("wrong_kind", wrongKind), ("missing", missing)] where count > 0 {
                Counter(
                    label: Self.extractNullsMetric,
                    dimensions: [
                        ("table", table.target.description), ("column", extract.column), ("kind", kind),
                    ]
                ).increment(by: count)
            }
            logger.log(
                level: wrongKind > 0 ? .notice : .info, "extracted fields missing or of the wrong kind were stored as NULL",
                metadata: [
                    "forager.table": "\(table.target)", "forager.column": "\(extract.column)",
                    "forager.wrong_kind": "\(wrongKind)", "forager.missing": "\(missing)",
                ])
        }
        return Int(row[0] ?? "") ?? 0
    }

    /// Creates the staging table of a table with extracts (once per session and shape), empty.
    /// Its columns have the warehouse table's types, so the `INSERT ... SELECT` needs no casts.
    private func prepareStage(for table: MappedTable) async throws -> String {
        let stage = try stagingTable("_forager_stage_", for: table)
        if !createdKeyTables.contains(stage) {
            let types = try await warehouseTypes(of: table)
            let columns = table.columns.map { column in
                let name = table.warehouseName(of: column.name)
                let type = types[name] ?? (column.sqlType.isEmpty ? "text" : column.sqlType)
                return "\(SQL.quoteIdentifier(name)) \(type)"
            }
            var definitions =
                columns + [
                    "\(SQL.quoteIdentifier(MetadataColumn.lsn)) pg_lsn",
                    "\(SQL.quoteIdentifier(MetadataColumn.deleted)) boolean NOT NULL DEFAULT false",
                ]
            for (index, extract) in table.extracts.enumerated() {
                definitions.append("\(Self.keepColumn(index)) boolean NOT NULL DEFAULT false")
                definitions.append("\(Self.valueColumn(index)) \(extract.type.rawValue)")
            }
            try await connection.execute("DROP TABLE IF EXISTS pg_temp.\(stage)")
            try await connection.execute("CREATE TEMP TABLE \(stage) (\(definitions.joined(separator: ", ")))")
            createdKeyTables.insert(stage)
        } else {
            try await connection.execute("TRUNCATE pg_temp.\(stage)")
        }
        return stage
    }

    /// Forgets a table's staging tables after its shape changed, so they are made again.
    func forgetStaging(for table: MappedTable) {
        guard let number = stagingNumbers[table.target] else { return }
        for prefix in ["_forager_stage_", "_forager_rows_", "_forager_keys_", "_forager_deleted_"] {
            createdKeyTables.remove(SQL.quoteIdentifier(prefix + String(number)))
        }
    }
}
