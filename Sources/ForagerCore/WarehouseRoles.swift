public import PGOutput

/// The warehouse's record of where the stream is: the checkpoint, and each mapped table's state
/// (streaming, stopped, waiting for a resync, being copied).
public protocol CheckpointStore: Sendable {
    /// Where the checkpoint lives, as a person would name it in SQL, for messages.
    var checkpointLocation: String { get }
    /// The stored checkpoint, or nil when there is none.
    func checkpoint() async throws -> LSN?
    /// Removes this slot's checkpoint, for starting over (`forager reset`): the next run takes
    /// a new snapshot. Returns once the checkpoint no longer reads.
    func forgetCheckpoint() async throws
    /// The recorded state of every table; empty when nothing is recorded.
    func tableStates() async throws -> [TableName: TableState]
    /// Records a table's state (in the open transaction, where the warehouse has transactions).
    func record(_ table: TableName, _ state: TableState) async throws
    /// Marks tables for a new copy.
    func requestResync(_ tables: [TableName]) async throws
}

/// The warehouse tables of the mapped tables: made, checked and followed as the source changes.
public protocol WarehouseSchema: Sendable {
    /// Creates what is missing (unless `create` is false) and checks what exists; every problem found.
    func prepare(tables: [MappedTable], create: Bool) async throws -> [ForagerError]
    /// The warehouse tables among `tables` that hold rows.
    func nonEmptyTables(_ tables: [MappedTable]) async throws -> [TableName]
    /// The rows analysts see in each of the warehouse tables `targets` (for ClickHouse, a table's
    /// `_current` view); tables that do not exist yet are left out. Reads only.
    func rowCounts(_ targets: [TableName]) async throws -> [TableName: Int]
}

/// Loads tables' rows as COPY data from the source, for the initial copy and resyncs.
public protocol SnapshotLoader: Sendable {
    /// Whether snapshot loads may be sent in PostgreSQL's binary COPY format.
    var acceptsBinaryCopy: Bool { get }
    /// Whether several connections may load parts of one table at the same time.
    var loadsPartsOfATableAtOnce: Bool { get }
    /// How many more connections the warehouse takes from Forager's role (`Int.max` where it does
    /// not count them; see `PGConnection.freeConnections()`): the parallel snapshot opens no more
    /// than that.
    func freeConnections() async throws -> Int
    /// Starts loading a table's rows: the source columns, then `_forager_lsn`, in COPY format.
    func startLoad(_ table: MappedTable, binary: Bool) async throws
    /// Sends COPY data for the load in progress.
    func load(_ chunk: [UInt8]) async throws
    /// Ends the load in progress; returns the number of rows stored.
    func endLoad() async throws -> Int
    /// Drops and recreates a table's warehouse copy, for a resync.
    func replaceTable(_ table: MappedTable) async throws
}

/// A capability: a warehouse with transactions, whose loads and records go into a unit of work
/// that commits at once. A warehouse without one stores each write durably by itself.
public protocol TransactionalWarehouse: Sendable {
    /// Starts the unit of work the initial copy loads into.
    func beginSnapshot() async throws
    /// Ends the unit of work without storing a checkpoint.
    func commitWithoutCheckpoint() async throws
}

/// A capability: a warehouse that maintains something row by row (a Postgres warehouse's
/// primary keys) that is built faster once after a bulk load.
public protocol BulkLoadPreparing: Sendable {
    /// Before the initial copy loads the empty `tables` over several connections: drops what the
    /// load would maintain row by row, in the open unit of work.
    func beginBulkLoad(_ tables: [MappedTable]) async throws
    /// After that load, in the unit of work that stores its checkpoint: builds what
    /// ``beginBulkLoad(_:)`` dropped (where it is missing).
    func endBulkLoad(_ tables: [MappedTable]) async throws
}

/// A capability: a warehouse that can store the stream's column values as PostgreSQL's binary
/// format sends them, with no conversion. Others take text.
public protocol BinaryValueSink: Sendable {
    /// Why the stream's column values of `tables` must arrive as text, naming the table and
    /// column that decide it; nil when they may all arrive in binary.
    func binaryValuesObstacle(for tables: [MappedTable]) async throws -> String?
    /// Sets whether the stream's column values arrive in binary (`binary 'true'`) or as text.
    func setBinaryValues(_ binary: Bool) async
}

extension Warehouse {
    /// Starts a unit of work where the warehouse has them.
    public func beginUnitOfWork() async throws {
        try await (self as? any TransactionalWarehouse)?.beginSnapshot()
    }

    /// Commits the unit of work without a checkpoint where the warehouse has them; elsewhere
    /// every write is durable already.
    public func commitUnitOfWork() async throws {
        try await (self as? any TransactionalWarehouse)?.commitWithoutCheckpoint()
    }

    /// Why the stream's values of `tables` must arrive as text, or nil when they may arrive in
    /// binary (see ``BinaryValueSink``).
    public func textValuesReason(for tables: [MappedTable]) async throws -> String? {
        guard let binary = self as? any BinaryValueSink else { return "the warehouse reads column values as text" }
        return try await binary.binaryValuesObstacle(for: tables)
    }

    /// Tells a warehouse that takes binary values whether they arrive in binary.
    public func setValuesFormat(binary: Bool) async {
        await (self as? any BinaryValueSink)?.setBinaryValues(binary)
    }
}
