import ForagerCore
import ForagerPipeline
import Glibc
import Synchronization
import LibPQ
import PGOutput
import PostgresSource
import PostgresWarehouse

/// Copying tables: the initial snapshot of every table, and later copies of single tables (newly
/// mapped, or resynced) while the slot keeps its place.
extension Pipeline {
    /// Creates the slot, copies every table inside its exported snapshot, and commits the copy with
    /// the slot's consistent point as the checkpoint, in one warehouse transaction where the
    /// warehouse has them; then records the tables as streaming.
    func snapshot(
        source: PostgresSource, warehouse: any Warehouse, replication: ReplicationConnection, tables: [MappedTable]
    ) async throws -> LSN {
        status?.enter(.snapshot)
        let created = try await replication.createSlot(named: configuration.source.slot)
        logger.info("taking initial snapshot", metadata: [
            "forager.slot": "\(configuration.source.slot)", "forager.lsn": "\(created.consistentPoint)",
            "forager.tables": "\(tables.count)",
        ])
        // Tables stay `copying` until the checkpoint is stored: a warehouse without transactions
        // keeps the rows of tables copied before a crash, and the next start drops them.
        let drawing = drawCopyProgress()
        defer { drawing?.cancel() }
        let copied = configuration.snapshotParallelism > 1
            ? try await copyInParallel(tables, at: created, into: warehouse)
            : try await copy(tables, at: created, into: warehouse, replacing: [], phase: .copying)
        drawing?.cancel()
        await drawing?.value
        guard copied else { return created.consistentPoint }
        try await warehouse.commit(checkpoint: created.consistentPoint)
        for table in tables {
            try await warehouse.record(table.source, TableState(phase: .streaming, syncedAt: created.consistentPoint))
        }
        logger.info("snapshot committed", metadata: ["forager.lsn": "\(created.consistentPoint)"])
        return created.consistentPoint
    }

    /// Copies tables that are new to the pipeline, asked to be resynced, or whose copy was
    /// interrupted, while the main stream goes on with the other tables (it skips these).
    ///
    /// The tables join the publication; a temporary slot gives a snapshot and its position `C`; the
    /// copy commits (without the pipeline's checkpoint). Then the handover: `gate` holds the main
    /// stream at its next transaction, a WAL position `H` past every commit so far and flushed
    /// (`committedWALPosition()`, so both streams reach it) is read, and the main stream
    /// goes on up to `H` with the tables' sync points set to `H`, while the temporary slot's stream
    /// applies the tables' changes between `C` and `H`. Once it has, the tables are recorded as
    /// streaming from `H` and the main stream passes `H`, now applying their changes.
    func copyBesideStream(_ pending: [MappedTable], states: [TableName: TableState], all: [MappedTable], gate: TransactionGate) async throws {
        let names = pending.map(\.source.description)
        let source = try await connectSource()
        defer { source.connection.close() }
        let warehouse = try await connectWarehouse()
        defer { warehouse.close() }
        let requests = pending.map {
            PostgresSource.TableRequest(source: $0.source, target: $0.target, location: nil, appendOnly: $0.identity == .appendOnly)
        }
        await warehouse.setColumnResolver { table, names in
            let described = try await source.describe(requests.filter { $0.source == table }).tables.first
            return described?.columns.filter { names.contains($0.name) } ?? []
        }
        for table in pending { try await warehouse.record(table.source, TableState(phase: .copying)) }
        let problems = try await warehouse.prepare(tables: pending, create: true)
        guard problems.isEmpty else { throw Problems(problems: problems) }
        try await source.ensurePublication(for: all)
        let temporary = try await ReplicationConnection.connect(sourceURL)
        defer { temporary.connection.close() }
        let created = try await temporary.createSlot(named: "forager_copy_\(getpid())", temporary: true)
        logger.info("copying tables while the others stream", metadata: [
            "forager.tables": "\(names)", "forager.lsn": "\(created.consistentPoint)",
        ])
        let replacing = Set(pending.filter { states[$0.source] != nil }.map(\.source))
        guard try await copy(pending, at: created, into: warehouse, replacing: replacing, phase: .copying) else { return }
        try await warehouse.commitWithoutCheckpoint()

        gate.holdNext()
        let handover = try await source.committedWALPosition()
        gate.hold(from: handover, syncPoints: Dictionary(pending.map { ($0.source, handover) }) { first, _ in first })
        logger.info("copied; applying the changes made meanwhile", metadata: [
            "forager.tables": "\(names)", "forager.from": "\(created.consistentPoint)", "forager.until": "\(handover)",
        ])
        let copySlot = "forager_copy_\(getpid())"
        let format = try await temporary.startStreaming(
            slot: copySlot, publications: source.publications(for: all), from: created.consistentPoint, streamTransactions: true,
            binary: try await binaryValues(pending, warehouse: warehouse))
        await warehouse.setBinaryValues(format.binaryValues)
        let stop = self.stop
        var catchUp = Replicator(
            stream: temporary, sink: WarehouseHandle(warehouse: warehouse, storesCheckpoint: false),
            batcher: ChangeBatcher(tables: pending, limits: batchLimits, checkpoint: created.consistentPoint, applyBefore: handover),
            mode: .until(handover), logger: logger, shouldStop: { stop.isSet || Task.isCancelled })
        if format.streamsTransactions { catchUp.spill = try spill(for: copySlot) }
        let reached = try await catchUp.run()
        guard reached >= handover else { return }
        for table in pending { try await warehouse.record(table.source, TableState(phase: .streaming, syncedAt: handover)) }
        gate.release()
        logger.info("tables copied; they stream from here", metadata: ["forager.tables": "\(names)", "forager.lsn": "\(handover)"])
    }

    /// Copies `tables` as of a slot's exported snapshot into one open warehouse transaction, and
    /// records each table's copy position; tables in `replacing` get a new warehouse table first.
    /// Returns false (after rolling back) when stopped.
    private func copy(
        _ tables: [MappedTable], at created: ReplicationConnection.CreatedSlot, into warehouse: any Warehouse,
        replacing: Set<TableName>, phase: TableState.Phase = .streaming
    ) async throws -> Bool {
        let reader = try await snapshotReader(created)
        defer { reader.close() }
        try await warehouse.beginSnapshot()
        for table in tables {
            if replacing.contains(table.source) { try await warehouse.replaceTable(table) }
            // Where the warehouse has no transactions, this says whose rows a crash leaves behind.
            try await warehouse.record(table.source, TableState(phase: .copying, syncedAt: created.consistentPoint))
            let size = try await reader.query("SELECT pg_relation_size($1::regclass)", [table.source.sql]).scalar.flatMap { Int64($0) }
            status?.copyStarted(table.source, tableBytes: size)
            guard let rows = try await load(CopyPiece(table: table.source), of: table, from: reader, into: warehouse, at: created) else {
                try await warehouse.rollback()
                logger.notice("stopped while copying tables; the copy starts again on the next run")
                return false
            }
            status?.copyFinished(table.source, rows: rows)
            try await warehouse.record(table.source, TableState(phase: phase, syncedAt: created.consistentPoint))
            logger.info("copied table", metadata: ["forager.table": "\(table.source)", "forager.rows": "\(rows)"])
        }
        try await reader.execute("COMMIT")
        return true
    }

    /// Copies `tables` over `snapshot.parallelism` pairs of connections that share the slot's
    /// exported snapshot: several tables at once, large ones in ranges of pages where the
    /// warehouse can load parts of a table at once. The tables are recorded as `copying` and
    /// committed before any row (their primary keys dropped, to be built after the load in the
    /// transaction that stores the checkpoint), and each connection commits its own rows: a crash
    /// leaves tables marked `copying`, which the next start copies again into new tables. Returns
    /// false (after rolling back what is not committed) when stopped.
    private func copyInParallel(
        _ tables: [MappedTable], at created: ReplicationConnection.CreatedSlot, into warehouse: any Warehouse
    ) async throws -> Bool {
        try await warehouse.beginSnapshot()
        for table in tables { try await warehouse.record(table.source, TableState(phase: .copying, syncedAt: created.consistentPoint)) }
        try await warehouse.beginBulkLoad(tables)
        try await warehouse.commitWithoutCheckpoint()
        let reader = try await snapshotReader(created)
        defer { reader.close() }
        let blockSize = try await reader.query("SELECT current_setting('block_size')").scalar.flatMap { Int64($0) } ?? 8192
        var sizes: [(name: TableName, pages: Int64)] = []
        for table in tables {
            let size = try await reader.query("SELECT pg_relation_size($1::regclass)", [table.source.sql]).scalar.flatMap { Int64($0) } ?? 0
            status?.copyStarted(table.source, tableBytes: size)
            sizes.append((table.source, (size + blockSize - 1) / blockSize))
        }
        let sourceFree = try await reader.freeConnections()
        let warehouseFree = try await warehouse.freeConnections()
        try await reader.execute("COMMIT")
        let pieces = SnapshotPlan.pieces(
            tables: sizes, parallelism: configuration.snapshotParallelism, splitTables: warehouse.loadsPartsOfATableAtOnce)
        let work = CopyWork(tables: tables, pieces: pieces)
        var connections = min(configuration.snapshotParallelism, pieces.count)
        if min(sourceFree, warehouseFree) < connections {
            logger.notice("the source or the warehouse has fewer free connections than snapshot.parallelism; the copy uses fewer", metadata: [
                "forager.parallelism": "\(configuration.snapshotParallelism)",
                "forager.source_free_connections": "\(sourceFree)", "forager.warehouse_free_connections": "\(warehouseFree)",
                "forager.hint": "Raise max_connections or the role's CONNECTION LIMIT on that server, or lower snapshot.parallelism.",
            ])
            connections = max(1, min(sourceFree, warehouseFree))
        }
        logger.info("copying in parallel", metadata: ["forager.connections": "\(connections)", "forager.pieces": "\(pieces.count)"])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<connections {
                group.addTask { try await self.copyPieces(work, at: created) }
            }
            try await group.waitForAll()
        }
        guard !work.stopped else {
            logger.notice("stopped while copying tables; the copy starts again on the next run")
            return false
        }
        try await warehouse.endBulkLoad(tables)
        return true
    }

    /// One connection pair of a parallel copy: takes pieces until none is left, then commits.
    private func copyPieces(_ work: CopyWork, at created: ReplicationConnection.CreatedSlot) async throws {
        let reader = try await snapshotReader(created)
        defer { reader.close() }
        let warehouse = try await connectWarehouse()
        defer { warehouse.close() }
        let problems = try await warehouse.prepare(tables: work.tables, create: false)
        guard problems.isEmpty else { throw Problems(problems: problems) }
        try await warehouse.beginSnapshot()
        while let (piece, table) = work.next() {
            guard let rows = try await load(piece, of: table, from: reader, into: warehouse, at: created) else {
                work.stop()
                try await warehouse.rollback()
                return
            }
            guard let (total, count) = work.finished(piece, rows: rows) else { continue }
            status?.copyFinished(table.source, rows: total)
            logger.info("copied table", metadata: ["forager.table": "\(table.source)", "forager.rows": "\(total)", "forager.pieces": "\(count)"])
        }
        try await warehouse.commitWithoutCheckpoint()
        try await reader.execute("COMMIT")
    }

    /// On a terminal, redraws the copy's progress on one line of stderr twice a second until
    /// cancelled (the metrics and /status carry the same numbers otherwise).
    private func drawCopyProgress() -> Task<Void, Never>? {
        guard isatty(STDERR_FILENO) == 1, let status else { return nil }
        return Task {
            var drawn = false
            while !Task.isCancelled {
                Self.writeToTerminal("\r\u{1B}[K" + CopyProgressLine.render(status.copyProgress))
                drawn = true
                try? await Task.sleep(for: .milliseconds(500))
            }
            if drawn { Self.writeToTerminal("\r\u{1B}[K" + CopyProgressLine.render(status.copyProgress) + "\n") }
        }
    }

    private static func writeToTerminal(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }

    /// A source connection in a read-only transaction on the slot's exported snapshot.
    private func snapshotReader(_ created: ReplicationConnection.CreatedSlot) async throws -> PGConnection {
        let reader = try await PGConnection.connect(sourceURL, serverSettings: SQL.canonicalTextSettings)
        do {
            try await reader.execute("""
                BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;
                SET TRANSACTION SNAPSHOT \(SQL.quoteLiteral(created.snapshotName))
                """)
        } catch {
            reader.close()
            throw error
        }
        return reader
    }

    /// Streams one piece of a table from the source into the warehouse; returns the rows stored,
    /// or nil when asked to stop (the caller rolls back).
    private func load(
        _ piece: CopyPiece, of table: MappedTable, from reader: PGConnection, into warehouse: any Warehouse,
        at created: ReplicationConnection.CreatedSlot
    ) async throws -> Int? {
        let columns = table.columns.map { SQL.quoteIdentifier($0.name) }.joined(separator: ", ")
        // Binary COPY passes through untouched where every type is the same on both sides.
        let binary = warehouse.acceptsBinaryCopy && table.columns.allSatisfy(\.binaryCompatible)
        let condition = piece.condition.map { " WHERE \($0)" } ?? ""
        try await reader.startCopyOut(
            "COPY (SELECT \(columns), \(SQL.quoteLiteral(created.consistentPoint.description))::pg_lsn FROM \(table.source.sql)\(condition)) TO STDOUT\(binary ? " (FORMAT binary)" : "")")
        try await warehouse.startLoad(table, binary: binary)
        var chunk = try await reader.readCopyChunk(maxBytes: 1 << 20)
        while let current = chunk {
            if stop.isSet || Task.isCancelled { return nil }
            async let next = reader.readCopyChunk(maxBytes: 1 << 20)
            try await warehouse.load(current)
            status?.copyProgress(table.source, bytes: current.count)
            chunk = try await next
        }
        return try await warehouse.endLoad()
    }
}

/// The pieces of a parallel copy still to take, and what the finished ones stored per table.
final class CopyWork: Sendable {
    let tables: [MappedTable]
    private struct State {
        var queue: [CopyPiece]
        var next = 0
        var remaining: [TableName: Int] = [:]
        var pieces: [TableName: Int] = [:]
        var rows: [TableName: Int] = [:]
        var stopped = false
    }
    private let state: Mutex<State>

    init(tables: [MappedTable], pieces: [CopyPiece]) {
        self.tables = tables
        var state = State(queue: pieces)
        for piece in pieces { state.remaining[piece.table, default: 0] += 1 }
        state.pieces = state.remaining
        self.state = Mutex(state)
    }

    /// True when a connection was asked to stop.
    var stopped: Bool { state.withLock { $0.stopped } }

    func stop() { state.withLock { $0.stopped = true } }

    /// The next piece and its table; nil when none is left or the copy stops.
    func next() -> (CopyPiece, MappedTable)? {
        state.withLock { state in
            while !state.stopped, state.next < state.queue.count {
                let piece = state.queue[state.next]
                state.next += 1
                if let table = tables.first(where: { $0.source == piece.table }) { return (piece, table) }
            }
            return nil
        }
    }

    /// Counts a finished piece; when it was its table's last, the table's rows and pieces.
    func finished(_ piece: CopyPiece, rows: Int) -> (rows: Int, pieces: Int)? {
        state.withLock { state in
            state.rows[piece.table, default: 0] += rows
            state.remaining[piece.table, default: 1] -= 1
            guard state.remaining[piece.table] == 0 else { return nil }
            return (state.rows[piece.table] ?? 0, state.pieces[piece.table] ?? 1)
        }
    }
}

/// Any warehouse as a replicator's sink. The stream that fills in copied tables does not store
/// its position as the pipeline's checkpoint (`storesCheckpoint` false).
struct WarehouseHandle: WarehouseSink {
    let warehouse: any Warehouse
    var storesCheckpoint = true
    /// Told which tables are stopped after each commit.
    var status: PipelineStatus?

    func apply(_ changes: ChangeSet) async throws { try await warehouse.apply(changes) }
    func commit(checkpoint: LSN) async throws {
        if storesCheckpoint {
            try await warehouse.commit(checkpoint: checkpoint)
        } else {
            try await warehouse.commitWithoutCheckpoint()
        }
        status?.tablesStopped(await warehouse.stoppedTableNames())
    }
    func rollback() async throws { try await warehouse.rollback() }
}

/// Set when the stream ended because a table resync was requested.
final class ResyncRequest: Sendable {
    private let flag = Mutex(false)
    var isRequested: Bool { flag.withLock { $0 } }
    func set() { flag.withLock { $0 = true } }
}
