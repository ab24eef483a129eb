import ForagerCore
import PGOutput
import PostgresSource

/// Against a warehouse that compares in place (``TwinComparator``, ClickHouse): each chunk of
/// source rows is loaded into a twin of the warehouse table and compared there, row by row, with
/// the rows analysts see. Differing chunks get the same second looks as with checksums: after the
/// warehouse passes the source position, then fresh reads in which a row the warehouse wrote after
/// that position waits for the next round.
extension ChunkValidator where Warehouse == any TwinComparator {
    private var table: MappedTable { checksum.table }

    /// Compares the table; `sourceTextBytewise`: the source database orders text by bytes
    /// (collation C).
    func run(sourceTextBytewise: Bool) async throws -> TableValidation {
        var result = TableValidation(table: table.source)
        if let reason = warehouse.skipReason(table) {
            result.skipped = reason
            return result
        }
        let keyTypes = table.keyColumns.compactMap { key in table.columns.first { $0.name == key }?.sqlType }
        // Keys that sort differently on the two sides are compared by set, chunk by chunk, and the
        // warehouse keys no chunk had are looked for at the end.
        let alike = warehouse.ordersKeysAlike(keyTypes, sourceTextBytewise: sourceTextBytewise)
        try await warehouse.beginComparison(table)
        do {
            var after: [String]?
            var first = true
            repeat {
                let (through, position) = try await loadChunk(after: after, size: chunkRows)
                let scope: TwinComparisonScope = alike ? .range(first: first, last: through == nil) : .twinKeys
                let outcome = try await compare(scope, TableValidation.Difference(after: after, through: through), position: position) {
                    [after] in
                    try await loadChunk(after: after, size: chunkRows, through: .some(through)).1
                }
                result.add(outcome)
                if alike {
                    try await warehouse.advanceComparison(table)
                } else {
                    try await warehouse.recordSeenKeys(table)
                }
                after = through
                first = false
            } while after != nil
            if !alike {
                // Warehouse rows written after this position reflect source changes made after
                // every chunk was read: the next validate looks at them.
                let end = try await source.inReadOnlySnapshot { $0 }
                var after: [String]?
                while let page = try await warehouse.unseenKeys(table, after: after, size: chunkRows, writtenThrough: end) {
                    after = page.last
                    guard !page.keys.isEmpty else { continue }
                    let load = { try await loadRows(.keys(page.keys)) }
                    result.add(
                        try await compare(
                            .unseenKeys, TableValidation.Difference(unmatched: true), position: try await load(), reload: load))
                }
            }
            try await warehouse.endComparison(table)
        } catch {
            try? await warehouse.endComparison(table)
            throw error
        }
        return result
    }

    /// Loads the rows after `after` (the next `size`, or through `fixed`) into the twin; returns
    /// the chunk's last key (nil at the end) and the source position it was read at.
    private func loadChunk(after: [String]?, size: Int, through fixed: [String]?? = nil) async throws -> ([String]?, LSN) {
        try await source.inReadOnlySnapshot { position in
            var through: [String]?
            if let fixed { through = fixed } else { through = try await source.chunkBoundary(checksum, after: after, size: size) }
            try await loadRows(.range(after: after, through: through), position: position)
            return (through, position)
        }
    }

    /// Loads the source rows `rows` into the twin, in a snapshot of its own; returns its position.
    private func loadRows(_ rows: ChunkChecksum.CopiedRows) async throws -> LSN {
        try await source.inReadOnlySnapshot { position in
            try await loadRows(rows, position: position)
            return position
        }
    }

    /// Loads the source rows `rows` into the twin, in the snapshot open at `position`.
    private func loadRows(_ rows: ChunkChecksum.CopiedRows, position: LSN) async throws {
        try await warehouse.loadComparisonChunk(table, try await source.copyOut(checksum.copyQuery(rows, position: position.description)))
    }

    /// Key fields, content, and version of each line.
    private func index(_ lines: [String]) -> [[String]: (content: String, version: UInt64)] {
        let width = table.keyColumns.count
        var rows: [[String]: (content: String, version: UInt64)] = [:]
        for line in lines {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard fields.count > width else { continue }
            rows[Array(fields[0..<width])] = (fields.dropLast().joined(separator: "\t"), UInt64(fields.last ?? "") ?? 0)
        }
        return rows
    }

    /// Compares the twin, loaded at `position`, with the warehouse rows in `scope`; when they
    /// differ, waits for the warehouse to pass the position, then compares row by row in rounds,
    /// each after `reload` loads the twin afresh (returning the new position). Returns the
    /// difference (nil when equal), the rows that kept changing, and the source rows compared.
    private func compare(
        _ scope: TwinComparisonScope, _ start: TableValidation.Difference, position: LSN,
        reload: () async throws -> LSN
    ) async throws -> ComparedChunk {
        /// A line without its last field (the version).
        func content(_ line: String) -> Substring { line.lastIndex(of: "\t").map { line[..<$0] } ?? line[...] }
        func same(_ a: [String], _ b: [String]) -> Bool {
            a.count == b.count && zip(a, b).allSatisfy { content($0.0) == content($0.1) }
        }
        var lines = try await warehouse.comparisonRows(table, in: scope)
        let sourceRows = lines.source.count
        if same(lines.source, lines.warehouse) { return ComparedChunk(rows: sourceRows) }
        var difference = start
        (difference.sourceRows, difference.warehouseRows) = (lines.source.count, lines.warehouse.count)
        if let behind = try await waitForWarehouse(warehouse, past: position, wait: wait) {
            difference.behind = behind
            return ComparedChunk(rows: sourceRows, difference: difference)
        }
        var position = position
        var comparison = RowComparison()
        for round in 0..<Self.rounds {
            if round > 0 {
                try await Task.sleep(for: .milliseconds(200))
                position = try await reload()
                if let behind = try await waitForWarehouse(warehouse, past: position, wait: wait) {
                    difference.behind = behind
                    return ComparedChunk(rows: sourceRows, difference: difference)
                }
            }
            lines = try await warehouse.comparisonRows(table, in: scope)
            if same(lines.source, lines.warehouse) { return ComparedChunk(rows: sourceRows) }
            (difference.sourceRows, difference.warehouseRows) = (lines.source.count, lines.warehouse.count)
            let indexed = index(lines.source).mapValues(\.content)
            if comparison.round(
                source: indexed, warehouse: index(lines.warehouse).mapValues { ($0.content, $0.version) }, position: position)
            {
                return ComparedChunk(rows: sourceRows)
            }
        }
        let (found, undecided) = comparison.finish(difference)
        return ComparedChunk(rows: sourceRows, difference: found, undecided: undecided)
    }
}
