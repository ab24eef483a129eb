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

/// A warehouse as the pipeline drives it: its tables, the checkpoint, the table registry, the
/// initial copy and the change sink. Every kind of warehouse implements it.
public protocol Warehouse: WarehouseSink {
    /// Where the checkpoint lives, as a person would name it in SQL, for messages.
    var checkpointLocation: String { get }
    /// Whether snapshot loads may be sent in PostgreSQL's binary COPY format.
    var acceptsBinaryCopy: Bool { get }
    /// Whether several connections may load parts of one table at the same time.
    var loadsPartsOfATableAtOnce: Bool { get }

    /// Why the stream's column values of `tables` must arrive as text, naming the table and
    /// column that decide it; nil when they may all arrive in PostgreSQL's binary format, to be
    /// stored as they are, with no conversion.
    func binaryValuesObstacle(for tables: [MappedTable]) async throws -> String?
    /// Sets whether the stream's column values arrive in binary (`binary 'true'`) or as text.
    func setBinaryValues(_ binary: Bool) async
    /// Sets how to learn the definition of columns added on the source while streaming.
    func setColumnResolver(_ resolver: @escaping @Sendable (TableName, [String]) async throws -> [SourceColumn]) async
    /// Creates what is missing (unless `create` is false) and checks what exists; every problem found.
    func prepare(tables: [MappedTable], create: Bool) async throws -> [ForagerError]
    /// The stored checkpoint, or nil when there is none.
    func checkpoint() async throws -> LSN?
    /// Removes this slot's checkpoint, for starting over (`forager reset`): the next run takes
    /// a new snapshot. Returns once the checkpoint no longer reads.
    func forgetCheckpoint() async throws
    /// The warehouse tables among `tables` that hold rows.
    func nonEmptyTables(_ tables: [MappedTable]) async throws -> [TableName]
    /// The rows analysts see in each of the warehouse tables `targets` (for ClickHouse, a table's
    /// `_current` view); tables that do not exist yet are left out. Reads only.
    func rowCounts(_ targets: [TableName]) async throws -> [TableName: Int]

    /// The recorded state of every table; empty when nothing is recorded.
    func tableStates() async throws -> [TableName: TableState]
    /// Records a table's state (in the open transaction, where the warehouse has transactions).
    func record(_ table: TableName, _ state: TableState) async throws
    /// Marks tables for a new copy.
    func requestResync(_ tables: [TableName]) async throws
    /// Treats these source tables as stopped: none of their changes is applied.
    func setStopped(_ tables: Set<TableName>) async
    /// The source tables that are stopped now: those set, and those a change stopped since.
    func stoppedTableNames() async -> Set<TableName>

    /// How many more connections the warehouse takes from Forager's role (`Int.max` where it does
    /// not count them; see `PGConnection.freeConnections()`): the parallel snapshot opens no more
    /// than that.
    func freeConnections() async throws -> Int
    /// Before the initial copy loads the empty `tables` over several connections: drops what the
    /// load would maintain row by row and is built faster once at the end (a Postgres warehouse's
    /// primary keys), in the open unit of work.
    func beginBulkLoad(_ tables: [MappedTable]) async throws
    /// After that load, in the unit of work that stores its checkpoint: builds what
    /// ``beginBulkLoad(_:)`` dropped (where it is missing).
    func endBulkLoad(_ tables: [MappedTable]) async throws
    /// Starts the unit of work the initial copy loads into.
    func beginSnapshot() async throws
    /// Starts loading a table's rows: the source columns, then `_forager_lsn`, in COPY format.
    func startLoad(_ table: MappedTable, binary: Bool) async throws
    /// Sends COPY data for the load in progress.
    func load(_ chunk: [UInt8]) async throws
    /// Ends the load in progress; returns the number of rows stored.
    func endLoad() async throws -> Int
    /// Drops and recreates a table's warehouse copy, for a resync.
    func replaceTable(_ table: MappedTable) async throws
    /// Ends the unit of work without storing a checkpoint.
    func commitWithoutCheckpoint() async throws
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
