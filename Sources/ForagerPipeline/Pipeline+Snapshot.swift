import ForagerCore
import PGOutput
import PostgresSource

/// Copying tables: the initial snapshot of every table over one or several connections, and the
/// copy that single tables share with it (``copyBesideStream(_:states:all:gate:)``).
extension Pipeline {
    /// Creates the slot, copies every table inside its exported snapshot, and commits the copy with
    /// the slot's consistent point as the checkpoint, in one warehouse transaction where the
    /// warehouse has them; then records the tables as streaming.
    func snapshot(
        source: PostgresSource, warehouse: any Warehouse, replication: ReplicationConnection, tables: [MappedTable]
    ) async throws -> LSN {
        status?.enter(.snapshot)
        let created = try await replication.createSlot(named: configuration.source.slot)
        logger.info(
            "taking initial snapshot",
            metadata: [
                "forager.slot": "\(configuration.source.slot)", "forager.lsn": "\(created.consistentPoint)",
                "forager.tables": "\(tables.count)",
            ])
        // Tables stay `copying` until the checkpoint is stored: a warehouse without transactions
        // keeps the rows of tables copied before a crash, and the next start drops them.
        let drawing = status.flatMap { status in CopyProgressLine.drawOnTerminal { status.copyProgress } }
        defer { drawing?.cancel() }
        let copied =
            configuration.snapshotParallelism > 1
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

    /// Copies `tables` as of a slot's exported snapshot into one open warehouse transaction, and
    /// records each table's copy position; tables in `replacing` get a new warehouse table first.
    /// Returns false (after rolling back) when stopped.
    func copy(
        _ tables: [MappedTable], at created: ReplicationConnection.CreatedSlot, into warehouse: any Warehouse,
        replacing: Set<TableName>, phase: TableState.Phase = .streaming
    ) async throws -> Bool {
        let reader = try await snapshotReader(created)
        defer { reader.close() }
        try await warehouse.beginUnitOfWork()
        for table in tables {
            if replacing.contains(table.source) { try await warehouse.replaceTable(table) }
            // Where the warehouse has no transactions, this says whose rows a crash leaves behind.
            try await warehouse.record(table.source, TableState(phase: .copying, syncedAt: created.consistentPoint))
            status?.copyStarted(table.source, tableBytes: try await reader.relationSize(table.source))
            guard let rows = try await load(CopyPiece(table: table.source), of: table, from: reader, into: warehouse, at: created) else {
                try await warehouse.rollback()
                logger.notice("stopped while copying tables; the copy starts again on the next run")
                return false
            }
            status?.copyFinished(table.source, rows: rows)
            try await warehouse.record(table.source, TableState(phase: phase, syncedAt: created.consistentPoint))
            logger.info("copied table", metadata: ["forager.table": "\(table.source)", "forager.rows": "\(rows)"])
        }
        try await reader.commit()
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
        try await warehouse.beginUnitOfWork()
        for table in tables { try await warehouse.record(table.source, TableState(phase: .copying, syncedAt: created.consistentPoint)) }
        try await (warehouse as? any BulkLoadPreparing)?.beginBulkLoad(tables)
        try await warehouse.commitUnitOfWork()
        let reader = try await snapshotReader(created)
        defer { reader.close() }
        let blockSize = try await reader.blockSize()
        var sizes: [(name: TableName, pages: Int64)] = []
        for table in tables {
            let size = try await reader.relationSize(table.source) ?? 0
            status?.copyStarted(table.source, tableBytes: size)
            sizes.append((table.source, (size + blockSize - 1) / blockSize))
        }
        let sourceFree = try await reader.freeConnections()
        let warehouseFree = try await warehouse.freeConnections()
        try await reader.commit()
        let pieces = SnapshotPlan.pieces(
            tables: sizes, parallelism: configuration.snapshotParallelism, splitTables: warehouse.loadsPartsOfATableAtOnce)
        let work = CopyWork(tables: tables, pieces: pieces)
        var connections = min(configuration.snapshotParallelism, pieces.count)
        if min(sourceFree, warehouseFree) < connections {
            logger.notice(
                "the source or the warehouse has fewer free connections than snapshot.parallelism; the copy uses fewer",
                metadata: [
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
        try await (warehouse as? any BulkLoadPreparing)?.endBulkLoad(tables)
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
        try await warehouse.beginUnitOfWork()
        while let (piece, table) = work.next() {
            guard let rows = try await load(piece, of: table, from: reader, into: warehouse, at: created) else {
                work.stop()
                try await warehouse.rollback()
                return
            }
            guard let (total, count) = work.finished(piece, rows: rows) else { continue }
            status?.copyFinished(table.source, rows: total)
            logger.info(
                "copied table", metadata: ["forager.table": "\(table.source)", "forager.rows": "\(total)", "forager.pieces": "\(count)"])
        }
        try await warehouse.commitUnitOfWork()
        try await reader.commit()
    }

    /// A source connection in a read-only transaction on the slot's exported snapshot.
    private func snapshotReader(_ created: ReplicationConnection.CreatedSlot) async throws -> SnapshotReader {
        try await SnapshotReader.open(sourceURL, snapshot: created.snapshotName)
    }

    /// Streams one piece of a table from the source into the warehouse; returns the rows stored,
    /// or nil when asked to stop (the caller rolls back).
    private func load(
        _ piece: CopyPiece, of table: MappedTable, from reader: SnapshotReader, into warehouse: any Warehouse,
        at created: ReplicationConnection.CreatedSlot
    ) async throws -> Int? {
        // Binary COPY passes through untouched where every type is the same on both sides.
        let binary = warehouse.acceptsBinaryCopy && table.columns.allSatisfy(\.binaryCompatible)
        try await reader.startCopy(table, condition: piece.condition, position: created.consistentPoint, binary: binary)
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
