public import ForagerCore
public import PGOutput

/// The ClickHouse warehouse as `forager validate`'s comparator: a twin comparison (see
/// ClickHouseWarehouse+Compare.swift).
extension ClickHouseWarehouse: TwinComparator {
    /// Key types that PostgreSQL and ClickHouse order alike.
    static let keyTypesOrderedAlike: Set<String> = [
        "smallint", "integer", "bigint", "date", "timestamp without time zone", "timestamp with time zone",
    ]

    public nonisolated func skipReason(_ table: MappedTable) -> String? {
        table.identity == .key ? nil : "the ClickHouse warehouse holds only tables with a key"
    }

    /// Other keys (uuid, numeric, floats, text under a linguistic collation) sort differently on
    /// the two sides.
    public nonisolated func ordersKeysAlike(_ keyTypes: [String], sourceTextBytewise: Bool) -> Bool {
        keyTypes.allSatisfy { Self.keyTypesOrderedAlike.contains($0) || (sourceTextBytewise && $0 == "text") }
    }

    public func comparisonRows(_ table: MappedTable, in scope: TwinComparisonScope) async throws -> (source: [String], warehouse: [String])
    {
        switch scope {
        case .range(let first, let last): try await comparisonRows(table, scope: .range(first: first, last: last))
        case .twinKeys: try await comparisonRows(table, scope: .twinKeys)
        case .unseenKeys: try await comparisonRows(table, scope: .unseenKeys)
        }
    }

    public func unseenKeys(
        _ table: MappedTable, after: [String]?, size: Int, writtenThrough: LSN
    ) async throws -> (keys: [[String]], last: [String])? {
        guard let page = try await nextUnseenKeys(table, after: after, size: size, writtenThrough: writtenThrough) else { return nil }
        return (page.keys, page.last)
    }

    public nonisolated func explaining(_ error: any Error) -> any Error {
        explainingHelperTables(error)
    }
}
