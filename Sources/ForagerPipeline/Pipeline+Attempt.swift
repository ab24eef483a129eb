import ForagerConfig
import ForagerCore
import PGOutput
import PostgresSource

/// One pass of the pipeline, step by step: preflight, the start decision, the stream.
extension Pipeline {
    func attempt(mode: Mode, resync: ResyncRequest) async throws -> LSN {
        status?.enter(.starting)
        let source = try await connectSource()
        defer { source.connection.close() }
        let (mapped, described) = try await checkedTables(source)
        let warehouse = try await connectWarehouse()
        defer { warehouse.close() }
        let tables = try await prepare(warehouse, for: described, source: source)

        let target: LSN? = mode == .catchUp ? try await source.committedWALPosition() : nil
        let replication = try await ReplicationConnection.connect(sourceURL)
        defer { replication.connection.close() }
        let (start, pending) = try await startingPoint(source: source, warehouse: warehouse, replication: replication, tables: tables)
        guard !stop.isSet else { return start }
        status?.committed(start)
        metrics.recordCheckpoint(start)
        let (states, stopped) = try await applyStoppedTables(warehouse, tables)

        logger.info(
            "streaming",
            metadata: [
                "forager.slot": "\(configuration.source.slot)", "forager.lsn": "\(start)",
                "forager.until": "\(target.map(\.description) ?? "stopped")",
            ])
        let format = try await startStreaming(replication, source: source, warehouse: warehouse, tables: tables, from: start)
        status?.enter(.streaming)
        // Tables being copied are skipped until the copy hands them over.
        var syncPoints = states.compactMapValues { $0.syncedAt }
        for table in pending { syncPoints[table.source] = LSN(UInt64.max) }
        let batcher = ChangeBatcher(tables: tables, limits: batchLimits, checkpoint: start, syncPoints: syncPoints, stopped: stopped)
        let final = try await stream(
            replication, format: format, batcher: batcher, into: warehouse, catalogue: source.catalogue(for: requests(mapped)),
            target: target, tables: tables, pending: pending, states: states, resync: resync)
        if mode == .catchUp, !resync.isRequested, try await warehouse.hasResyncRequests(among: tables) {
            // Marked in the last batch, after the stream last looked.
            resync.set()
        }
        logger.info("stopped; warehouse checkpoint acknowledged", metadata: ["forager.lsn": "\(final)"])
        return final
    }

    /// The mapped tables as the source describes them, once the source's setup, the mapping and
    /// the tables have no problem; otherwise every problem of the first step that has some.
    private func checkedTables(
        _ source: PostgresSource
    ) async throws -> (mapped: [ForagerConfiguration.TableMapping], described: [MappedTable]) {
        let setupProblems = try await source.setupProblems()
        guard setupProblems.isEmpty else { throw Problems(problems: setupProblems) }
        let (mapped, mappingProblems) = try await resolveMappings(source)
        guard mappingProblems.isEmpty else { throw Problems(problems: mappingProblems) }
        let (described, tableProblems) = try await describeTables(source, mapped)
        guard tableProblems.isEmpty else { throw Problems(problems: tableProblems) }
        return (mapped, described)
    }

    /// Creates and checks the warehouse's tables for `described` (without the columns their
    /// publication does not publish).
    private func prepare(_ warehouse: any Warehouse, for described: [MappedTable], source: PostgresSource) async throws -> [MappedTable] {
        let tables = try await leavingOutUnpublishedColumns(
            described, source: source, established: { try await establishedTables(warehouse) })
        let warehouseProblems = try await warehouse.prepare(tables: tables, create: true)
        guard warehouseProblems.isEmpty else { throw Problems(problems: warehouseProblems) }
        return tables
    }

    /// Logs the stopped tables among `tables` and tells the status of them;
    /// returns the recorded table states and the stopped tables.
    private func applyStoppedTables(
        _ warehouse: any Warehouse, _ tables: [MappedTable]
    ) async throws -> (states: [TableName: TableState], stopped: Set<TableName>) {
        let states = try await warehouse.tableStates()
        let stopped = StoppedTables(recorded: states).names
        for table in tables where stopped.contains(table.source) {
            logger.warning(
                "table is stopped; its changes are not applied until it is resynced",
                metadata: [
                    "forager.table": "\(table.source)", "forager.reason": "\(states[table.source]?.reason ?? "")",
                    "forager.fix": "forager resync --table \(table.source)",
                ])
        }
        status?.tablesStopped(stopped)
        return (states, stopped)
    }

    /// Starts the slot's stream at `start`, with values in binary where they can be, and tells the
    /// warehouse which format they arrive in.
    private func startStreaming(
        _ replication: ReplicationConnection, source: PostgresSource, warehouse: any Warehouse, tables: [MappedTable], from start: LSN
    ) async throws -> ReplicationConnection.StreamFormat {
        let binary = try await binaryValues(tables, warehouse: warehouse)
        let format = try await replication.startStreaming(
            slot: configuration.source.slot, publications: source.publications(for: tables), from: start, streamTransactions: true,
            binary: binary)
        await warehouse.setValuesFormat(binary: format.binaryValues)
        if format.binaryValues {
            logger.info("column values arrive in binary and are stored as received")
        } else if binary {
            logger.info("column values arrive as text: the source is older than PostgreSQL 14")
        }
        return format
    }

    /// Runs the replicator over the stream until it ends (stopped, caught up, a resync requested,
    /// or a failed copy beside it), copying `pending` beside it; returns the final checkpoint.
    private func stream(
        _ replication: ReplicationConnection, format: ReplicationConnection.StreamFormat, batcher: ChangeBatcher,
        into warehouse: any Warehouse, catalogue: PostgresSource.Catalogue, target: LSN?, tables: [MappedTable], pending: [MappedTable],
        states: [TableName: TableState], resync: ResyncRequest
    ) async throws -> LSN {
        let stop = self.stop
        let copyFailed = ResyncRequest()
        var replicator = Replicator(
            stream: replication,
            sink: WarehouseHandle(warehouse: warehouse, catalogue: catalogue, binaryValuesOf: format.binaryValues ? tables : nil),
            batcher: batcher,
            mode: target.map { .until($0) } ?? .continuous, logger: logger, metrics: metrics.replication,
            shouldStop: { stop.isSet || copyFailed.isRequested || resync.isRequested })
        if format.streamsTransactions { replicator.spill = try spill(for: configuration.source.slot) }
        let gate = TransactionGate()
        replicator.gate = pending.isEmpty ? nil : gate
        if let status {
            replicator.onDurable = { status.committed($0) }
            replicator.onStopped = { status.tablesStopped($0) }
        }
        // Polled on a connection of its own: the warehouse connection may be in the middle of a COPY.
        let monitor = try await connectWarehouse()
        defer { monitor.close() }
        replicator.interruption = {
            guard try await monitor.hasResyncRequests(among: tables) else { return false }
            resync.set()
            return true
        }
        let copier =
            pending.isEmpty
            ? nil
            : Task {
                do {
                    try await copyBesideStream(pending, states: states, all: tables, gate: gate, streamMustRestart: resync)
                } catch {
                    copyFailed.set()
                    gate.release()
                    throw error
                }
            }
        let final: LSN
        do {
            final = try await replicator.run()
        } catch {
            copier?.cancel()
            _ = await copier?.result
            throw error
        }
        try await copier?.value
        return final
    }
}
