public import ForagerCore
public import PGOutput

/// The ClickHouse warehouse as `forager validate`'s comparator: a twin comparison (see
/// ClickHouseWarehouse+Compare.swift).
extension ClickHouseWarehouse: TwinComparator {
    public func comparisonRows(_ table: MappedTable, in scope: TwinComparisonScope) async throws -> (source: [String], warehouse: [String]) {
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
