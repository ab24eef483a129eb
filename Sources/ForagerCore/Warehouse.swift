public import Logging
public import PGOutput

/// What the warehouse records about one mapped table, beside the pipeline's checkpoint.
public struct TableState: Sendable, Equatable {
    public enum Phase: String, Sendable {
        /// Copied, and following the stream.
        case streaming
        /// A change could not be followed; nothing more is applied until a resync.
        case stopped
        /// `forager resync` asked for a new copy.
        case resync
        /// Being copied beside the stream; a restart copies it again.
        case copying
    }

    public var phase: Phase
    /// The source position the table's copy was taken at: changes of transactions that commit
    /// before it are in the copy.
    public var syncedAt: LSN?
    /// Why the table stopped.
    public var reason: String?

    public init(phase: Phase, syncedAt: LSN? = nil, reason: String? = nil) {
        self.phase = phase
        self.syncedAt = syncedAt
        self.reason = reason
    }
}

/// A warehouse as the pipeline drives it, made of its roles: the change sink, the checkpoint and
/// table registry, the tables' schema, and the snapshot loader. What only some warehouses can do
/// is a capability of its own, checked for where it is used (``TransactionalWarehouse``,
/// ``BulkLoadPreparing``, ``BinaryValueSink``).
public protocol Warehouse: WarehouseSink, CheckpointStore, WarehouseSchema, SnapshotLoader {
    /// Closes the connection.
    func close()
}

extension Warehouse {
    /// True when one of `tables` waits for a resync. A table no longer mapped may still be
    /// recorded as waiting: it is not copied, so it must not count.
    public func hasResyncRequests(among tables: [MappedTable]) async throws -> Bool {
        let mapped = Set(tables.map(\.source))
        return try await tableStates().contains { mapped.contains($0.key) && $0.value.phase == .resync }
    }

    /// Marks `table` for a new copy (in the open transaction, where the warehouse has
    /// transactions) because the rows it holds are older than `columns`, whose values for them only
    /// the source's rows tell. Where a copy would drop rows kept as history, says so instead.
    public func copyAgain(_ table: MappedTable, for columns: [String], logger: Logger) async throws {
        let reason = SchemaChange.olderRowsNeedTheSource(table, columns: columns)
        guard table.copyLosesNothing else {
            return logger.warning(
                "\(reason)", metadata: ["forager.table": "\(table.source)", "forager.fix": "\(SchemaChange.olderRowsKeptAsHistory(table))"])
        }
        logger.notice(
            "copying the table again: \(reason)", metadata: ["forager.table": "\(table.source)", "forager.columns": "\(columns)"])
        try await record(table.source, TableState(phase: .resync, reason: reason))
    }
}
