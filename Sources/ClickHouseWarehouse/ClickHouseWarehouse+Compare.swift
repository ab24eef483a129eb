public import ForagerCore
import Foundation
public import PGOutput

/// `forager validate` against ClickHouse. The source rows of a key chunk are loaded, through the
/// same path as a snapshot, into a Memory twin of the warehouse table; the twin and the table's
/// `_current` view are then read back over the same keys, both rendered by ClickHouse from the
/// same column types, so equal rows print equally.
///
/// Keys that PostgreSQL and ClickHouse order alike are compared by range, bounded by keys read
/// from the twins themselves (the previous chunk's last key, this chunk's last key): no key is
/// ever written as a literal. Other keys (uuid, numeric, floats, text under a linguistic
/// collation) are compared by set: the warehouse rows whose keys the twin holds. Each chunk's keys
/// are then kept in an on-disk "seen" table, and at the end the warehouse keys no chunk had are
/// listed page by page, in ClickHouse's order: they are rows the source may lack.
extension ClickHouseWarehouse {
    private nonisolated func twin(_ table: MappedTable) -> MappedTable {
        var twin = table
        twin.target = TableName(schema: table.target.schema, name: "_forager_validate_" + table.target.name + helperSuffix)
        return twin
    }

    private nonisolated func bound(_ table: MappedTable) -> String {
        name(TableName(schema: table.target.schema, name: "_forager_validate_bound_" + table.target.name + helperSuffix))
    }

    private nonisolated func keyTable(_ table: MappedTable, _ role: String) -> String {
        name(TableName(schema: table.target.schema, name: "_forager_validate_\(role)_" + table.target.name + helperSuffix))
    }

    private nonisolated func keyList(_ table: MappedTable) -> String {
        table.warehouseKey.map(ClickHouseClient.quote).joined(separator: ", ")
    }

    /// The tables of a comparison besides the twin, holding keys only.
    private nonisolated func keyTables(_ table: MappedTable) -> [(name: String, engine: String)] {
        [
            (bound(table), "Memory"),
            (keyTable(table, "page"), "Memory"),
            (keyTable(table, "unseen"), "Memory"),
            (keyTable(table, "seen"), "MergeTree ORDER BY (\(keyList(table)))"),
        ]
    }

    /// Makes the empty twin and key tables of `table`.
    public func beginComparison(_ table: MappedTable) async throws {
        let twinTable = twin(table), twinName = name(twinTable.target)
        // The twin takes the table's types, older date and time types included.
        let existing = try await existingColumns(of: table.target)
        learnOlderTypes(of: table, existing: existing)
        learnOlderTypes(of: twinTable, existing: existing)
        try await client.execute("DROP TABLE IF EXISTS \(twinName)")
        try await client.execute("CREATE TABLE \(twinName) AS \(name(table.target)) ENGINE = Memory")
        let keyDefinitions = columns(of: table).filter { table.warehouseKey.contains($0.name) }
            .map { "\(ClickHouseClient.quote($0.name)) \($0.type)" }.joined(separator: ", ")
        for (keyTable, engine) in keyTables(table) {
            try await client.execute("DROP TABLE IF EXISTS \(keyTable)")
            try await client.execute("CREATE TABLE \(keyTable) (\(keyDefinitions)) ENGINE = \(engine)")
        }
    }

    /// Loads one chunk of source rows (COPY text: the columns, then a position) into the twin,
    /// replacing what it held.
    public func loadComparisonChunk(_ table: MappedTable, _ chunks: [[UInt8]]) async throws {
        try await client.execute("TRUNCATE TABLE \(name(twin(table).target))")
        try await startLoad(twin(table), binary: false)
        for chunk in chunks { try await load(chunk) }
        _ = try await endLoad()
    }

    /// Which warehouse rows a comparison reads beside the twin's.
    public enum ComparisonScope: Sendable {
        /// After the previous chunk's last key (unless `first`), through the twin's last key
        /// (unless `last`): for keys both sides order alike.
        case range(first: Bool, last: Bool)
        /// The keys the twin holds.
        case twinKeys
        /// The keys the last ``nextUnseenKeys(_:after:size:writtenThrough:)`` returned.
        case unseenKeys
    }

    /// The twin's rows and the warehouse's rows in `scope`, as lines ordered by key: the key
    /// fields first, then the other columns, then the version (0 for the twin).
    public func comparisonRows(_ table: MappedTable, scope: ComparisonScope) async throws -> (source: [String], warehouse: [String]) {
        let keys = keyList(table)
        let others = table.storedColumns.map { table.warehouseName(of: $0.name) }.filter { !table.warehouseKey.contains($0) }
        let columns = (table.warehouseKey + others).map(ClickHouseClient.quote).joined(separator: ", ")
        // What the `_current` view shows (FINAL, not deleted), read from the table for the version.
        var conditions = ["\(ClickHouseClient.quote(Self.deleted)) = 0"]
        switch scope {
        case .range(let first, let last):
            if !first { conditions.append("tuple(\(keys)) > (SELECT tuple(\(keys)) FROM \(bound(table)))") }
            if !last { conditions.append("tuple(\(keys)) <= (SELECT max(tuple(\(keys))) FROM \(name(twin(table).target)))") }
        case .twinKeys:
            conditions.append("(\(keys)) \(inLocalSubquery) (SELECT \(keys) FROM \(name(twin(table).target)))")
        case .unseenKeys:
            conditions.append("(\(keys)) \(inLocalSubquery) (SELECT \(keys) FROM \(keyTable(table, "unseen")))")
        }
        let range = " WHERE " + conditions.joined(separator: " AND ")
        let source = try await client.execute("SELECT \(columns), 0 FROM \(name(twin(table).target)) ORDER BY \(keys) FORMAT TabSeparated")
        let warehouse = try await client.execute(
            "SELECT \(columns), \(ClickHouseClient.quote(Self.version)) FROM \(name(table.target)) FINAL\(range) ORDER BY \(keys) FORMAT TabSeparated"
        )
        return (Self.lines(source), Self.lines(warehouse))
    }

    /// Adds the twin's keys to the keys seen on the source (an on-disk table, so a table of any
    /// size fits).
    public func recordSeenKeys(_ table: MappedTable) async throws {
        let keys = keyList(table)
        try await client.execute("INSERT INTO \(keyTable(table, "seen")) SELECT \(keys) FROM \(name(twin(table).target))")
    }

    /// One page of warehouse keys: those no source chunk had, and where the page ended.
    public struct UnseenKeys: Sendable {
        /// The keys in PostgreSQL's text form, one value per key column.
        public var keys: [[String]]
        /// The page's last key, as ``nextUnseenKeys(_:after:size:writtenThrough:)`` takes it.
        public var last: [String]
    }

    /// The page of up to `size` warehouse keys after `after` (from the start when nil), in
    /// ClickHouse's order, of rows the `_current` view shows that were last written at or before
    /// `writtenThrough`; of those, the keys never recorded as seen. Nil past the last page. Only
    /// the page's seen keys are looked at, so memory stays bounded by the page; rows written later
    /// are left out, so that rows inserted meanwhile cannot keep the walk from ending.
    public func nextUnseenKeys(_ table: MappedTable, after: [String]?, size: Int, writtenThrough: LSN) async throws -> UnseenKeys? {
        let keys = keyList(table), page = keyTable(table, "page"), unseen = keyTable(table, "unseen")
        let all = columns(of: table)
        let keyColumns = table.warehouseKey.compactMap { key in all.first { $0.name == key } }
        var conditions = [
            "\(ClickHouseClient.quote(Self.deleted)) = 0", "\(ClickHouseClient.quote(Self.version)) <= \(writtenThrough.value)",
        ]
        if let after {
            // Written as literals: 18.16 cannot substitute a scalar subquery's UUID.
            let bound = zip(keyColumns, after).map { Self.exactValue(of: $0, $1) }.joined(separator: ", ")
            conditions.append("tuple(\(keys)) > tuple(\(bound))")
        }
        try await client.execute("TRUNCATE TABLE \(page)")
        try await client.execute(
            """
            INSERT INTO \(page) SELECT \(keys) FROM \(name(table.target)) FINAL WHERE \(conditions.joined(separator: " AND ")) \
            ORDER BY \(keys) LIMIT \(size)
            """)
        let lastText = try await client.execute(
            "SELECT \(keyColumns.map(Self.exactText).joined(separator: ", ")) FROM \(page) ORDER BY \(keys) DESC LIMIT 1 FORMAT TabSeparated"
        )
        guard let last = TabSeparated.rows(lastText).first else { return nil }
        try await client.execute("TRUNCATE TABLE \(unseen)")
        try await client.execute(
            """
            INSERT INTO \(unseen) SELECT \(keys) FROM \(page) \
            WHERE (\(keys)) NOT IN (SELECT \(keys) FROM \(keyTable(table, "seen")) WHERE (\(keys)) IN (SELECT \(keys) FROM \(page)))
            """)
        let text = try await client.execute("SELECT \(keys) FROM \(unseen) ORDER BY \(keys) FORMAT TabSeparated")
        let found = try TabSeparated.rows(text).map { row in
            try zip(row, keyColumns).map { value, column in
                guard let text = ClickHouseColumn.sourceText(of: value ?? [], conversion: column.conversion) else {
                    throw ForagerError(
                        .warehouse,
                        "key column \(ClickHouseClient.quote(column.name)) of \(table.target) holds a value Forager cannot read back as PostgreSQL text",
                        hint: "Validate this table against a Postgres warehouse, or compare it by hand.")
                }
                return String(decoding: text, as: UTF8.self)
            }
        }
        return UnseenKeys(keys: found, last: last.map { String(decoding: $0 ?? [], as: UTF8.self) })
    }

    /// A key column's value as text that ``exactValue(of:_:)`` turns back into the same value:
    /// floats as their bits (18.16 parses some decimal floats one unit in the last place off).
    private static func exactText(_ column: ClickHouseColumn) -> String {
        let quoted = ClickHouseClient.quote(column.name)
        guard column.carriesFloatBits else { return quoted }
        return column.type.contains("Float32") ? "reinterpretAsUInt32(\(quoted))" : "reinterpretAsUInt64(\(quoted))"
    }

    private static func exactValue(of column: ClickHouseColumn, _ text: String) -> String {
        let literal = ClickHouseClient.literal(text)
        guard column.carriesFloatBits else { return "CAST(\(literal) AS \(column.type))" }
        return column.type.contains("Float32")
            ? "reinterpretAsFloat32(reinterpretAsString(toUInt32(\(literal))))"
            : "reinterpretAsFloat64(reinterpretAsString(toUInt64(\(literal))))"
    }

    /// Makes the twin's last key the lower bound of the next chunk.
    public func advanceComparison(_ table: MappedTable) async throws {
        let keys = keyList(table)
        try await client.execute("TRUNCATE TABLE \(bound(table))")
        try await client.execute(
            "INSERT INTO \(bound(table)) SELECT \(keys) FROM \(name(twin(table).target)) ORDER BY \(keys) DESC LIMIT 1")
    }

    /// Drops the twin and key tables.
    public func endComparison(_ table: MappedTable) async throws {
        try await client.execute("DROP TABLE IF EXISTS \(name(twin(table).target))")
        for (keyTable, _) in keyTables(table) { try await client.execute("DROP TABLE IF EXISTS \(keyTable)") }
    }

    private static func lines(_ text: String) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }
}
