import ForagerCore
import Glibc
import PGOutput
import PostgresSource
internal import Synchronization

/// Copying single tables (newly mapped, resynced, or whose copy a stop interrupted) while the
/// main stream keeps its place and goes on with the others.
extension Pipeline {
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
    ///
    /// A table the temporary stream stops stays stopped: the main stream, which would apply its
    /// changes from `H` on, is asked to end (`streamMustRestart`) so that the next pass skips it.
    func copyBesideStream(
        _ pending: [MappedTable], states: [TableName: TableState], all: [MappedTable], gate: TransactionGate,
        streamMustRestart: ResyncRequest
    ) async throws {
        let names = pending.map(\.source.description)
        let source = try await connectSource()
        defer { source.connection.close() }
        let warehouse = try await connectWarehouse()
        defer { warehouse.close() }
        let requests = pending.map {
            PostgresSource.TableRequest(source: $0.source, target: $0.target, location: nil, appendOnly: $0.identity == .appendOnly)
        }
        for table in pending { try await warehouse.record(table.source, TableState(phase: .copying)) }
        let problems = try await warehouse.prepare(tables: pending, create: true)
        guard problems.isEmpty else { throw Problems(problems: problems) }
        try await source.ensurePublication(for: all)
        let temporary = try await ReplicationConnection.connect(sourceURL)
        defer { temporary.connection.close() }
        let created = try await temporary.createSlot(named: "forager_copy_\(getpid())", temporary: true)
        logger.info(
            "copying tables while the others stream",
            metadata: [
                "forager.tables": "\(names)", "forager.lsn": "\(created.consistentPoint)",
            ])
        let replacing = Set(pending.filter { states[$0.source] != nil }.map(\.source))
        guard try await copy(pending, at: created, into: warehouse, replacing: replacing, phase: .copying) else { return }
        try await warehouse.commitUnitOfWork()

        gate.holdNext()
        let handover = try await source.committedWALPosition()
        gate.hold(from: handover, syncPoints: Dictionary(pending.map { ($0.source, handover) }) { first, _ in first })
        logger.info(
            "copied; applying the changes made meanwhile",
            metadata: [
                "forager.tables": "\(names)", "forager.from": "\(created.consistentPoint)", "forager.until": "\(handover)",
            ])
        let copySlot = "forager_copy_\(getpid())"
        let format = try await temporary.startStreaming(
            slot: copySlot, publications: source.publications(for: all), from: created.consistentPoint, streamTransactions: true,
            binary: try await binaryValues(pending, warehouse: warehouse))
        await warehouse.setValuesFormat(binary: format.binaryValues)
        let stop = self.stop
        var catchUp = Replicator(
            stream: temporary,
            sink: WarehouseHandle(
                warehouse: warehouse, catalogue: source.catalogue(for: requests), storesCheckpoint: false,
                binaryValuesOf: format.binaryValues ? pending : nil
            ),
            batcher: ChangeBatcher(tables: pending, limits: batchLimits, checkpoint: created.consistentPoint, applyBefore: handover),
            mode: .until(handover), logger: logger, metrics: metrics.replication, shouldStop: { stop.isSet || Task.isCancelled })
        if format.streamsTransactions { catchUp.spill = try spill(for: copySlot) }
        let stoppedMeanwhile = Mutex<Set<TableName>>([])
        catchUp.onStopped = { names in stoppedMeanwhile.withLock { $0 = names } }
        let reached = try await catchUp.run()
        guard reached >= handover else { return }
        let stopped = stoppedMeanwhile.withLock { $0 }
        // A change applied while catching up may have asked for another copy (a column whose older
        // rows' values only the source tells), as may `forager resync`: that request stands.
        let copying = Set(pending.map(\.source))
        let copyAgain = Set(try await warehouse.tableStates().filter { copying.contains($0.key) && $0.value.phase == .resync }.keys)
        for table in pending where !stopped.contains(table.source) && !copyAgain.contains(table.source) {
            try await warehouse.record(table.source, TableState(phase: .streaming, syncedAt: handover))
        }
        guard stopped.isEmpty, copyAgain.isEmpty else {
            logger.notice(
                "a table stopped, or was asked to be copied again, while its copy caught up; starting the stream again",
                metadata: [
                    "forager.stopped": "\(stopped.map(\.description).sorted())",
                    "forager.copy_again": "\(copyAgain.map(\.description).sorted())",
                ])
            return streamMustRestart.set()
        }
        gate.release()
        logger.info("tables copied; they stream from here", metadata: ["forager.tables": "\(names)", "forager.lsn": "\(handover)"])
    }
}
