import ForagerCore
import PGOutput
import PostgresSource

/// Walks one table's key ranges, comparing each chunk with the warehouse's comparator (a
/// ``ChecksumComparator`` here, a ``TwinComparator`` in ChunkValidator+Twin.swift); a chunk that
/// differs is compared again once the warehouse has passed the source position it was read at,
/// and with fresh reads, before it counts as different: so rows written meanwhile raise no false
/// alarm.
struct ChunkValidator<Warehouse> {
    let checksum: ChunkChecksum
    let source: ChunkReader
    let warehouse: Warehouse
    let chunkRows: Int
    let wait: Duration
    /// Rounds of comparing a differing chunk before it is reported.
    static var rounds: Int { 5 }
}

/// A chunk's row count and checksum, as the comparison query reads them on either side.
private struct Aggregate: Equatable {
    var rows: Int
    var sum: String
}

/// Comparing checksums: each side sums its chunk, and only a chunk whose sums differ is read row
/// by row.
extension ChunkValidator where Warehouse == any ChecksumComparator {
    func run() async throws -> TableValidation {
        var result = TableValidation(table: checksum.table.source)
        if checksum.table.identity == .appendOnly {
            result.skipped = "append_only keeps every insert, including rows the source has since deleted"
            return result
        }
        var after: [String]?
        repeat {
            let (through, aggregate, position) = try await readSource(after: after)
            let (difference, undecided) = try await compare(after: after, through: through, source: aggregate, position: position)
            result.add(ComparedChunk(rows: aggregate.rows, difference: difference, undecided: undecided))
            after = through
        } while after != nil && checksum.isChunked
        return result
    }

    /// The chunk after `after`: its last key (nil when it runs to the end), its aggregate, and
    /// the source position at which it was read.
    private func readSource(after: [String]?) async throws -> ([String]?, Aggregate, LSN) {
        try await source.inReadOnlySnapshot { position in
            let through = checksum.isChunked ? try await source.chunkBoundary(checksum, after: after, size: chunkRows) : nil
            let aggregate = try await Self.aggregate(
                on: source, checksum.aggregateQuery(after: after != nil, through: through != nil, warehouse: false),
                (after ?? []) + (through ?? []))
            return (through, aggregate, position)
        }
    }

    private func readWarehouse(after: [String]?, through: [String]?) async throws -> Aggregate {
        Self.aggregate(
            try await warehouse.rows(
                checksum.aggregateQuery(after: after != nil, through: through != nil, warehouse: true), (after ?? []) + (through ?? [])
            ).first)
    }

    private static func aggregate(on reader: ChunkReader, _ sql: String, _ parameters: [String]) async throws -> Aggregate {
        aggregate(try await reader.rows(sql, parameters).first)
    }

    private static func aggregate(_ row: [String?]?) -> Aggregate {
        Aggregate(rows: row?[0].flatMap { Int($0) } ?? 0, sum: row?[1] ?? "")
    }

    /// Nil when the chunk is equal, possibly after waiting for the warehouse and reading again;
    /// also the rows that could not be compared because they kept changing.
    private func compare(
        after: [String]?, through: [String]?, source: Aggregate, position: LSN
    ) async throws -> (TableValidation.Difference?, TableValidation.Undecided?) {
        var warehouseAggregate = try await readWarehouse(after: after, through: through)
        if source == warehouseAggregate { return (nil, nil) }
        let behind = try await waitForWarehouse(warehouse, past: position, wait: wait)
        warehouseAggregate = try await readWarehouse(after: after, through: through)
        if source == warehouseAggregate { return (nil, nil) }
        var difference = TableValidation.Difference(
            after: after, through: through, sourceRows: source.rows, warehouseRows: warehouseAggregate.rows, behind: behind)
        guard behind == nil else { return (difference, nil) }
        guard checksum.isChunked else {
            // Without a key, rows cannot be told apart: compare the whole table again, fresh.
            for _ in 0..<Self.rounds {
                let (_, fresh, freshPosition) = try await readSource(after: nil)
                difference.behind = try await waitForWarehouse(warehouse, past: freshPosition, wait: wait)
                let again = try await readWarehouse(after: nil, through: nil)
                if fresh == again { return (nil, nil) }
                (difference.sourceRows, difference.warehouseRows) = (fresh.rows, again.rows)
                if difference.behind != nil { break }
            }
            return (difference, nil)
        }
        return try await drillDown(difference)
    }

    /// Compares a differing chunk row by row, in rounds: each reads the source in a snapshot at
    /// position P, waits for the warehouse to pass P, and compares the rows the warehouse last
    /// wrote at or before P (a row written after P is newer than the snapshot and waits for the
    /// next round). Rows that differ in every round are reported.
    private func drillDown(_ start: TableValidation.Difference) async throws -> (TableValidation.Difference?, TableValidation.Undecided?) {
        var difference = start
        let parameters = (start.after ?? []) + (start.through ?? [])
        let hasAfter = start.after != nil, hasThrough = start.through != nil
        var comparison = RowComparison()
        for round in 0..<Self.rounds {
            if round > 0 { try await Task.sleep(for: .milliseconds(200)) }
            let (sourceRows, position) = try await source.inReadOnlySnapshot { position in
                (
                    try await source.rows(checksum.rowsQuery(after: hasAfter, through: hasThrough, warehouse: false), parameters),
                    position
                )
            }
            if let behind = try await waitForWarehouse(warehouse, past: position, wait: wait) {
                difference.behind = behind
                return (difference, nil)
            }
            let warehouseRows = try await warehouse.rows(
                checksum.rowsQuery(after: hasAfter, through: hasThrough, warehouse: true), parameters)
            let width = checksum.table.keyColumns.count
            var sourceHashes: [[String]: String] = [:]
            for row in sourceRows { sourceHashes[row[0..<width].map { $0 ?? "" }] = row[width] ?? "" }
            var warehouseState: [[String]: RowComparison.Written] = [:]
            for row in warehouseRows {
                let deleted = row[width + 2] == "t"
                warehouseState[row[0..<width].map { $0 ?? "" }] = (
                    deleted ? nil : row[width] ?? "", (LSN(string: row[width + 1] ?? "") ?? .zero).value
                )
            }
            if comparison.round(source: sourceHashes, warehouse: warehouseState, position: position) { return (nil, nil) }
        }
        return comparison.finish(difference)
    }
}
