import ForagerCore
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
        guard try await copy(tables, at: created, into: warehouse, replacing: [], phase: .copying) else { return created.consistentPoint }
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
    /// stream at its next transaction, the current WAL position `H` is read, and the main stream
    /// goes on up to `H` with the tables' sync points set to `H`, while the temporary slot's stream
    /// applies the tables' changes between `C` and `H`. Once it has, the tables are recorded as
    /// streaming from `H` and the main stream passes `H`, now applying their changes.
    func copyBesideStream(_ pending: [MappedTable], states: [TableName: TableState], all: [MappedTable], gate: TransactionGate) async throws {
        let names = pending.map(\.source.description)
        let source = try await PostgresSource.connect(
            sourceURL, publication: configuration.source.publication, slot: configuration.source.slot, logger: logger)
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
        let handover = try await source.currentWALPosition()
        gate.hold(from: handover, syncPoints: Dictionary(pending.map { ($0.source, handover) }) { first, _ in first })
        logger.info("copied; applying the changes made meanwhile", metadata: [
            "forager.tables": "\(names)", "forager.from": "\(created.consistentPoint)", "forager.until": "\(handover)",
        ])
        let copySlot = "forager_copy_\(getpid())"
        let streamsTransactions = try await temporary.startStreaming(
            slot: copySlot, publications: source.publications(for: all), from: created.consistentPoint, streamTransactions: true)
        let stop = self.stop
        let limits = ChangeBatcher.Limits(maxRows: configuration.batch.maxRows, maxAge: configuration.batch.maxAge)
        var catchUp = Replicator(
            stream: temporary, sink: WarehouseHandle(warehouse: warehouse, storesCheckpoint: false),
            batcher: ChangeBatcher(tables: pending, limits: limits, checkpoint: created.consistentPoint, applyBefore: handover),
            mode: .until(handover), logger: logger, shouldStop: { stop.isSet || Task.isCancelled })
        if streamsTransactions { catchUp.spill = try spill(for: copySlot) }
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
        let reader = try await PGConnection.connect(sourceURL, serverSettings: SQL.canonicalTextSettings)
        defer { reader.close() }
        try await reader.execute("""
            BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;
            SET TRANSACTION SNAPSHOT \(SQL.quoteLiteral(created.snapshotName))
            """)
        try await warehouse.beginSnapshot()
        for table in tables {
            if replacing.contains(table.source) { try await warehouse.replaceTable(table) }
            // Where the warehouse has no transactions, this says whose rows a crash leaves behind.
            try await warehouse.record(table.source, TableState(phase: .copying, syncedAt: created.consistentPoint))
            let size = try await reader.query("SELECT pg_relation_size($1::regclass)", [table.source.sql]).scalar.flatMap { Int64($0) }
            status?.copyStarted(table.source, tableBytes: size)
            let columns = table.columns.map { SQL.quoteIdentifier($0.name) }.joined(separator: ", ")
            // Binary COPY passes through untouched where every type is the same on both sides.
            let binary = warehouse.acceptsBinaryCopy && table.columns.allSatisfy(\.binaryCompatible)
            try await reader.startCopyOut(
                "COPY (SELECT \(columns), \(SQL.quoteLiteral(created.consistentPoint.description))::pg_lsn FROM \(table.source.sql)) TO STDOUT\(binary ? " (FORMAT binary)" : "")")
            try await warehouse.startLoad(table, binary: binary)
            var chunk = try await reader.readCopyChunk(maxBytes: 1 << 20)
            while let current = chunk {
                if stop.isSet || Task.isCancelled {
                    try await warehouse.rollback()
                    logger.notice("stopped while copying tables; the copy starts again on the next run")
                    return false
                }
                async let next = reader.readCopyChunk(maxBytes: 1 << 20)
                try await warehouse.load(current)
                status?.copyProgress(table.source, bytes: current.count)
                chunk = try await next
            }
            let rows = try await warehouse.endLoad()
            status?.copyFinished(table.source, rows: rows)
            try await warehouse.record(table.source, TableState(phase: phase, syncedAt: created.consistentPoint))
            logger.info("copied table", metadata: ["forager.table": "\(table.source)", "forager.rows": "\(rows)"])
        }
        try await reader.execute("COMMIT")
        return true
    }
}

/// Any warehouse as a replicator's sink. The stream that fills in copied tables does not store
/// its position as the pipeline's checkpoint (`storesCheckpoint` false).
struct WarehouseHandle: WarehouseSink {
    let warehouse: any Warehouse
    var storesCheckpoint = true

    func apply(_ changes: ChangeSet) async throws { try await warehouse.apply(changes) }
    func commit(checkpoint: LSN) async throws {
        if storesCheckpoint {
            try await warehouse.commit(checkpoint: checkpoint)
        } else {
            try await warehouse.commitWithoutCheckpoint()
        }
    }
    func rollback() async throws { try await warehouse.rollback() }
}

/// Set when the stream ended because a table resync was requested.
final class ResyncRequest: Sendable {
    private let flag = Mutex(false)
    var isRequested: Bool { flag.withLock { $0 } }
    func set() { flag.withLock { $0 = true } }
}
