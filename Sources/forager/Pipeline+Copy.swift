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
    /// the slot's consistent point as the checkpoint, all in one warehouse transaction.
    func snapshot(
        source: PostgresSource, warehouse: PostgresWarehouse, replication: ReplicationConnection, tables: [MappedTable]
    ) async throws -> LSN {
        let created = try await replication.createSlot(named: configuration.source.slot)
        logger.info("taking initial snapshot", metadata: [
            "forager.slot": "\(configuration.source.slot)", "forager.lsn": "\(created.consistentPoint)",
            "forager.tables": "\(tables.count)",
        ])
        guard try await copy(tables, at: created, into: warehouse, replacing: []) else { return created.consistentPoint }
        try await warehouse.commit(checkpoint: created.consistentPoint)
        logger.info("snapshot committed", metadata: ["forager.lsn": "\(created.consistentPoint)"])
        return created.consistentPoint
    }

    /// Copies tables that are new to the pipeline or asked to be resynced, while the slot stays at
    /// `checkpoint`: the tables join the publication, a temporary slot gives a snapshot and its
    /// position, and the copies commit with that position recorded per table, so that the stream
    /// skips their changes in transactions that commit before it (those are in the copy).
    func copyTables(
        _ pending: [MappedTable], states: [TableName: TableState], source: PostgresSource, warehouse: PostgresWarehouse,
        all: [MappedTable], checkpoint: LSN
    ) async throws {
        let resynced = pending.filter { states[$0.source]?.phase == .resync }
        try await requireEmpty(warehouse: warehouse, tables: pending.filter { states[$0.source] == nil })
        try await source.ensurePublication(for: all)
        let temporary = try await ReplicationConnection.connect(sourceURL)
        defer { temporary.connection.close() }
        let created = try await temporary.createSlot(named: "forager_copy_\(getpid())", temporary: true)
        logger.info("copying tables while the other tables wait in the slot", metadata: [
            "forager.tables": "\(pending.map(\.source.description))", "forager.lsn": "\(created.consistentPoint)",
        ])
        guard try await copy(pending, at: created, into: warehouse, replacing: Set(resynced.map(\.source))) else { return }
        try await warehouse.commit(checkpoint: checkpoint)
        logger.info("tables copied; they stream from here", metadata: ["forager.tables": "\(pending.map(\.source.description))"])
    }

    /// Copies `tables` as of a slot's exported snapshot into one open warehouse transaction, and
    /// records each table's copy position; tables in `replacing` get a new warehouse table first.
    /// Returns false (after rolling back) when stopped.
    private func copy(
        _ tables: [MappedTable], at created: ReplicationConnection.CreatedSlot, into warehouse: PostgresWarehouse,
        replacing: Set<TableName>
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
            let columns = table.columns.map { SQL.quoteIdentifier($0.name) }.joined(separator: ", ")
            // Binary COPY passes through untouched where every type is the same on both sides.
            let binary = table.columns.allSatisfy(\.binaryCompatible)
            try await reader.startCopyOut(
                "COPY (SELECT \(columns), \(SQL.quoteLiteral(created.consistentPoint.description))::pg_lsn FROM \(table.source.sql)) TO STDOUT\(binary ? " (FORMAT binary)" : "")")
            try await warehouse.startLoad(table, binary: binary)
            var chunk = try await reader.readCopyChunk(maxBytes: 1 << 20)
            while let current = chunk {
                if stop.isSet {
                    try await warehouse.rollback()
                    logger.notice("stopped while copying tables; the copy starts again on the next run")
                    return false
                }
                async let next = reader.readCopyChunk(maxBytes: 1 << 20)
                try await warehouse.load(current)
                chunk = try await next
            }
            let rows = try await warehouse.endLoad()
            try await warehouse.record(table.source, TableState(phase: .streaming, syncedAt: created.consistentPoint))
            logger.info("copied table", metadata: ["forager.table": "\(table.source)", "forager.rows": "\(rows)"])
        }
        try await reader.execute("COMMIT")
        return true
    }
}

/// Set when the stream ended because a table resync was requested.
final class ResyncRequest: Sendable {
    private let flag = Mutex(false)
    var isRequested: Bool { flag.withLock { $0 } }
    func set() { flag.withLock { $0 = true } }
}
