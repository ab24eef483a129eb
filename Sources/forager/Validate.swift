import ArgumentParser
import ClickHouseWarehouse
import ForagerConfig
import ForagerCore
import ForagerPipeline
import Foundation
import LibPQ
import PGOutput
import PostgresSource

extension Pipeline {
    /// Compares the mapped tables (or `only`) between source and warehouse, chunk by chunk.
    func validate(only: [String], chunkRows: Int, wait: Duration) async throws -> [TableValidation] {
        let source = try await connectSource()
        defer { source.connection.close() }
        let (mapped, mappingProblems) = configuration.tablePatterns.isEmpty
            ? (configuration.tables, []) : configuration.resolveTables(sourceTables: try await source.tableNames())
        guard mappingProblems.isEmpty else { throw Problems(problems: mappingProblems) }
        var selected = mapped
        if !only.isEmpty {
            let names = try only.map { name in
                do { return try TableName(parsing: name) } catch {
                    throw ForagerError(.schema, "--table \(name): \(error)", hint: "Write the source table as in SQL: schema.table.")
                }
            }
            for name in names where !mapped.contains(where: { $0.source == name }) {
                throw ForagerError(.schema, "\(name) is not a mapped table", hint: "Mapped tables: \(mapped.map(\.source.description).sorted().joined(separator: ", ")).")
            }
            selected = mapped.filter { names.contains($0.source) }
        }
        let (described, problems) = try await describeTables(source, selected)
        guard problems.isEmpty else { throw Problems(problems: problems) }
        let tables = try await leavingOutUnpublishedColumns(described, source: source, established: { Set(described.map(\.source)) })
        let settings = SQL.canonicalTextSettings + [("timezone", "UTC")]
        let reader = try await PGConnection.connect(sourceURL, serverSettings: settings)
        defer { reader.close() }
        let warehouse = try await connectWarehouse()
        defer { warehouse.close() }
        if let clickHouse = warehouse as? ClickHouseWarehouse {
            let collation = try await reader.query("SELECT datcollate FROM pg_database WHERE datname = current_database()").scalar
            let bytewise = collation == "C" || collation == "POSIX"
            var results: [TableValidation] = []
            for table in tables {
                let validator = ClickHouseChunkValidator(
                    checksum: ChunkChecksum(table: table), source: reader, warehouse: clickHouse, chunkRows: chunkRows, wait: wait,
                    textKeysOrderedAlike: bytewise)
                let result: TableValidation
                do { result = try await validator.run() } catch { throw clickHouse.explainingHelperTables(error) }
                logger.info("validated table", metadata: ["forager.table": "\(table.source)", "forager.result": "\(result.line)"])
                results.append(result)
            }
            return results
        }
        let target = try await PGConnection.connect(warehouseURL, serverSettings: settings)
        defer { target.close() }
        let collationQuery = "SELECT datcollate FROM pg_database WHERE datname = current_database()"
        let sameCollation = try await reader.query(collationQuery).scalar == target.query(collationQuery).scalar
        var results: [TableValidation] = []
        for table in tables {
            let validator = ChunkValidator(
                checksum: ChunkChecksum(table: table, keyCollation: sameCollation ? nil : "C"), source: reader, target: target,
                warehouse: warehouse, chunkRows: chunkRows, wait: wait)
            let result = try await validator.run()
            logger.info("validated table", metadata: ["forager.table": "\(table.source)", "forager.result": "\(result.line)"])
            results.append(result)
        }
        return results
    }
}

/// Walks one table's key ranges, comparing each chunk; a chunk that differs is compared again once
/// the warehouse has passed the source position it was read at, and with fresh reads, before it
/// counts as different: so rows written meanwhile raise no false alarm.
struct ChunkValidator {
    let checksum: ChunkChecksum
    let source: PGConnection
    let target: PGConnection
    let warehouse: any Warehouse
    let chunkRows: Int
    let wait: Duration
    /// Rounds of comparing a differing chunk before it is reported.
    static let rounds = 5

    private struct Aggregate: Equatable {
        var rows: Int
        var sum: String
    }

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
                on: source, checksum.aggregateQuery(after: after != nil, through: through != nil, warehouse: false), (after ?? []) + (through ?? []))
            return (through, aggregate, position)
        }
    }

    private func readWarehouse(after: [String]?, through: [String]?) async throws -> Aggregate {
        try await Self.aggregate(
            on: target, checksum.aggregateQuery(after: after != nil, through: through != nil, warehouse: true), (after ?? []) + (through ?? []))
    }

    private static func aggregate(on connection: PGConnection, _ sql: String, _ parameters: [String]) async throws -> Aggregate {
        let row = try await connection.query(sql, parameters).rows.first
        return Aggregate(rows: row?[0].flatMap { Int($0) } ?? 0, sum: row?[1] ?? "")
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
                (try await source.query(checksum.rowsQuery(after: hasAfter, through: hasThrough, warehouse: false), parameters).rows, position)
            }
            if let behind = try await waitForWarehouse(warehouse, past: position, wait: wait) {
                difference.behind = behind
                return (difference, nil)
            }
            let warehouseRows = try await target.query(checksum.rowsQuery(after: hasAfter, through: hasThrough, warehouse: true), parameters).rows
            let width = checksum.table.keyColumns.count
            var sourceHashes: [[String]: String] = [:]
            for row in sourceRows { sourceHashes[row[0..<width].map { $0 ?? "" }] = row[width] ?? "" }
            var warehouseState: [[String]: RowComparison.Written] = [:]
            for row in warehouseRows {
                let deleted = row[width + 2] == "t"
                warehouseState[row[0..<width].map { $0 ?? "" }] = (deleted ? nil : row[width] ?? "", (LSN(string: row[width + 1] ?? "") ?? .zero).value)
            }
            if comparison.round(source: sourceHashes, warehouse: warehouseState, position: position) { return (nil, nil) }
        }
        return comparison.finish(difference)
    }

}

/// Walks one table's key ranges against ClickHouse: each chunk of source rows is loaded into a
/// twin of the warehouse table and compared there, row by row, with the table's `_current` view
/// (see ``ClickHouseWarehouse/beginComparison(_:)``). Differing chunks get the same second looks as
/// on Postgres: after the warehouse passes the source position, then fresh reads in which a row
/// the warehouse wrote after that position waits for the next round.
struct ClickHouseChunkValidator {
    let checksum: ChunkChecksum
    let source: PGConnection
    let warehouse: ClickHouseWarehouse
    let chunkRows: Int
    let wait: Duration
    /// The source database orders text by bytes (collation C), as ClickHouse does.
    let textKeysOrderedAlike: Bool
    static let rounds = 5
    /// Key types that PostgreSQL and ClickHouse order alike, so that chunks can be bounded by key.
    static let orderedAlike: Set<String> = [
        "smallint", "integer", "bigint", "date", "timestamp without time zone", "timestamp with time zone",
    ]

    private var table: MappedTable { checksum.table }

    func run() async throws -> TableValidation {
        var result = TableValidation(table: table.source)
        guard table.identity == .key else {
            result.skipped = "the ClickHouse warehouse holds only tables with a key"
            return result
        }
        let keyTypes = table.keyColumns.compactMap { key in table.columns.first { $0.name == key }?.sqlType }
        // Other keys (uuid, numeric, floats, text under a linguistic collation) sort differently on
        // the two sides: their chunks are compared by set, and the warehouse keys no chunk had are
        // looked for at the end.
        let alike = keyTypes.allSatisfy { Self.orderedAlike.contains($0) || (textKeysOrderedAlike && $0 == "text") }
        try await warehouse.beginComparison(table)
        do {
            var after: [String]?
            var first = true
            repeat {
                let (through, position) = try await loadChunk(after: after, size: chunkRows)
                let scope: ClickHouseWarehouse.ComparisonScope = alike ? .range(first: first, last: through == nil) : .twinKeys
                let outcome = try await compare(scope, TableValidation.Difference(after: after, through: through), position: position) { [after] in
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
                while let page = try await warehouse.nextUnseenKeys(table, after: after, size: chunkRows, writtenThrough: end) {
                    after = page.last
                    guard !page.keys.isEmpty else { continue }
                    let load = { try await loadRows(.keys(page.keys)) }
                    result.add(try await compare(.unseenKeys, TableValidation.Difference(unmatched: true), position: try await load(), reload: load))
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
        try await source.startCopyOut(checksum.copyQuery(rows, position: position.description))
        var chunks: [[UInt8]] = []
        while let chunk = try await source.readCopyChunk(maxBytes: 1 << 20) { chunks.append(chunk) }
        try await warehouse.loadComparisonChunk(table, chunks)
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
        _ scope: ClickHouseWarehouse.ComparisonScope, _ start: TableValidation.Difference, position: LSN,
        reload: () async throws -> LSN
    ) async throws -> ComparedChunk {
        /// A line without its last field (the version).
        func content(_ line: String) -> Substring { line.lastIndex(of: "\t").map { line[..<$0] } ?? line[...] }
        func same(_ a: [String], _ b: [String]) -> Bool {
            a.count == b.count && zip(a, b).allSatisfy { content($0.0) == content($0.1) }
        }
        var lines = try await warehouse.comparisonRows(table, scope: scope)
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
            lines = try await warehouse.comparisonRows(table, scope: scope)
            if same(lines.source, lines.warehouse) { return ComparedChunk(rows: sourceRows) }
            (difference.sourceRows, difference.warehouseRows) = (lines.source.count, lines.warehouse.count)
            let indexed = index(lines.source).mapValues(\.content)
            if comparison.round(source: indexed, warehouse: index(lines.warehouse).mapValues { ($0.content, $0.version) }, position: position) {
                return ComparedChunk(rows: sourceRows)
            }
        }
        let (found, undecided) = comparison.finish(difference)
        return ComparedChunk(rows: sourceRows, difference: found, undecided: undecided)
    }
}

extension PGConnection {
    /// Runs `body` in a read-only snapshot, with the WAL position read as the snapshot's first
    /// statement: every commit the snapshot sees lies before it. That is the insert position: a
    /// commit made with `synchronous_commit = off` may lie past the write position, and a warehouse
    /// that reached only that would be taken for one holding the commit.
    func inReadOnlySnapshot<T>(_ body: (LSN) async throws -> T) async throws -> T {
        try await execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        do {
            let position = LSN(string: try await query("SELECT pg_current_wal_insert_lsn()::text").scalar ?? "") ?? .zero
            let value = try await body(position)
            try await execute("COMMIT")
            return value
        } catch {
            _ = try? await execute("ROLLBACK")
            throw error
        }
    }

    /// The last key of the `size` rows after `after`, as text; nil when fewer remain.
    func chunkBoundary(_ checksum: ChunkChecksum, after: [String]?, size: Int) async throws -> [String]? {
        try await query(checksum.boundaryQuery(after: after != nil, size: size), after ?? []).rows.first.map { $0.map { $0 ?? "" } }
    }
}

/// Waits until the warehouse checkpoint reaches `position`; says why not when it does not
/// within `wait`.
func waitForWarehouse(_ warehouse: any Warehouse, past position: LSN, wait: Duration) async throws -> String? {
    let deadline = ContinuousClock.now + wait
    while true {
        let checkpoint = try await warehouse.checkpoint()
        if let checkpoint, checkpoint >= position { return nil }
        if ContinuousClock.now >= deadline {
            return "the warehouse checkpoint \(checkpoint?.description ?? "none") did not reach the source position \(position) it was read at within \(Int(wait.seconds)) s: is forager run running?"
        }
        try await Task.sleep(for: .milliseconds(200))
    }
}

struct Validate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare source and warehouse, table by table and key range by key range.",
        discussion: """
            Counts and checksums the mapped columns in chunks of the primary key, in bounded memory. \
            A chunk that differs is compared again once the warehouse has passed the source position \
            it was read at, so rows written meanwhile raise no false alarm. Exits 0 when every \
            compared table is equal, 3 with the differing key ranges, and 4 when nothing differs \
            but some rows kept changing in every round of comparing them, with their key ranges: \
            validate those tables again when writes to them are quieter. 1 is an error that kept \
            it from comparing, 2 a configuration it cannot read.
            """)

    @OptionGroup var options: PipelineOptions

    @Option(name: .customLong("table"), help: "A mapped source table (schema.table); repeat for more. Default: all.")
    var tables: [String] = []

    @Option(help: "Rows per chunk.")
    var chunkRows = 10_000

    @Option(help: "Seconds to wait for the warehouse to pass the source position of a differing chunk.")
    var wait = 60

    func validate() throws {
        guard chunkRows >= 1 else { throw ValidationError("--chunk-rows must be at least 1") }
        guard wait >= 0 else { throw ValidationError("--wait must be 0 or more seconds") }
    }

    func run() async throws {
        try await options.runPipeline { pipeline, _ in
            let results = try await pipeline.validate(only: tables, chunkRows: chunkRows, wait: .seconds(wait))
            for result in results { print(result.line) }
            let verdict = ValidationVerdict(results)
            if verdict != .equal { throw ExitCode(verdict.rawValue) }
        }
    }
}
