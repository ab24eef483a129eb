public import ForagerCore
import Foundation

/// `forager validate` against ClickHouse. The source rows of a key chunk are loaded, through the
/// same path as a snapshot, into a Memory twin of the warehouse table; the twin and the table's
/// `_current` view are then read back over the same key range, both rendered by ClickHouse from the
/// same column types, so equal rows print equally. The range is bounded by keys read from the twins
/// themselves (the previous chunk's last key, this chunk's last key): no key is ever written as a
/// literal.
extension ClickHouseWarehouse {
    private nonisolated func twin(_ table: MappedTable) -> MappedTable {
        var twin = table
        twin.target = TableName(schema: table.target.schema, name: "_forager_validate_" + table.target.name)
        return twin
    }

    private nonisolated func bound(_ table: MappedTable) -> String {
        name(TableName(schema: table.target.schema, name: "_forager_validate_bound_" + table.target.name))
    }

    private nonisolated func keyList(_ table: MappedTable) -> String {
        table.warehouseKey.map(ClickHouseClient.quote).joined(separator: ", ")
    }

    /// Makes the empty twin and bound tables of `table`.
    public func beginComparison(_ table: MappedTable) async throws {
        let twinTable = twin(table), twinName = name(twinTable.target), bound = bound(table)
        try await client.execute("DROP TABLE IF EXISTS \(twinName)")
        try await client.execute("DROP TABLE IF EXISTS \(bound)")
        try await client.execute("CREATE TABLE \(twinName) AS \(name(table.target)) ENGINE = Memory")
        let keyDefinitions = columns(of: table).filter { table.warehouseKey.contains($0.name) }
            .map { "\(ClickHouseClient.quote($0.name)) \($0.type)" }
        try await client.execute("CREATE TABLE \(bound) (\(keyDefinitions.joined(separator: ", "))) ENGINE = Memory")
        stagedShapes.remove(twinTable.target)
    }

    /// Loads one chunk of source rows (COPY text: the columns, then a position) into the twin,
    /// replacing what it held.
    public func loadComparisonChunk(_ table: MappedTable, _ chunks: [[UInt8]]) async throws {
        try await client.execute("TRUNCATE TABLE \(name(twin(table).target))")
        try await startLoad(twin(table), binary: false)
        for chunk in chunks { try await load(chunk) }
        _ = try await endLoad()
    }

    /// The twin's rows and the warehouse's rows over the twin's key range (after the previous
    /// chunk's last key; through the twin's last key unless `last`), as lines ordered by key: the
    /// key fields first, then the other columns, then the version (0 for the twin).
    public func comparisonRows(_ table: MappedTable, first: Bool, last: Bool) async throws -> (source: [String], warehouse: [String]) {
        let keys = keyList(table)
        let others = table.storedColumns.map { table.warehouseName(of: $0.name) }.filter { !table.warehouseKey.contains($0) }
        let columns = (table.warehouseKey + others).map(ClickHouseClient.quote).joined(separator: ", ")
        // What the `_current` view shows (FINAL, not deleted), read from the table for the version.
        var conditions = ["\(ClickHouseClient.quote(Self.deleted)) = 0"]
        if !first { conditions.append("tuple(\(keys)) > (SELECT tuple(\(keys)) FROM \(bound(table)))") }
        if !last { conditions.append("tuple(\(keys)) <= (SELECT max(tuple(\(keys))) FROM \(name(twin(table).target)))") }
        let range = " WHERE " + conditions.joined(separator: " AND ")
        let source = try await client.execute("SELECT \(columns), 0 FROM \(name(twin(table).target)) ORDER BY \(keys) FORMAT TabSeparated")
        let warehouse = try await client.execute(
            "SELECT \(columns), \(ClickHouseClient.quote(Self.version)) FROM \(name(table.target)) FINAL\(range) ORDER BY \(keys) FORMAT TabSeparated")
        return (Self.lines(source), Self.lines(warehouse))
    }

    /// Makes the twin's last key the lower bound of the next chunk.
    public func advanceComparison(_ table: MappedTable) async throws {
        let keys = keyList(table)
        try await client.execute("TRUNCATE TABLE \(bound(table))")
        try await client.execute("INSERT INTO \(bound(table)) SELECT \(keys) FROM \(name(twin(table).target)) ORDER BY \(keys) DESC LIMIT 1")
    }

    /// Drops the twin and bound tables.
    public func endComparison(_ table: MappedTable) async throws {
        try await client.execute("DROP TABLE IF EXISTS \(name(twin(table).target))")
        try await client.execute("DROP TABLE IF EXISTS \(bound(table))")
        try await client.execute("DROP TABLE IF EXISTS \(ClickHouseClient.quote(table.target.schema)).\(ClickHouseClient.quote("_forager_stage__forager_validate_" + table.target.name))")
    }

    private static func lines(_ text: String) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }
}
