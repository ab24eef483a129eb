public import ForagerCore
public import LibPQ
public import Logging
public import PGOutput
public import S3Staging

/// The `redshift` warehouse: Amazon Redshift, reached over the PostgreSQL wire protocol, loaded
/// from S3 ([docs/redshift.md](../../docs/redshift.md)).
///
/// Each batch opens one transaction that locks the tables it writes (in a fixed order), stages
/// each table's rows in S3 as gzip CSV objects with a manifest, COPYs them into a session
/// temporary table, applies that with `DELETE ... USING` and `INSERT ... SELECT`, and stores the
/// checkpoint by delete and insert before COMMIT. A serializable isolation violation (error 1023)
/// rolls the transaction back and runs the whole batch again, after a pause that doubles each time.
public actor RedshiftWarehouse: Warehouse, ChangeStepApplier, TransactionalWarehouse {
    /// Where the warehouse is and how it stages rows.
    public struct Configuration: Sendable {
        /// The schema of the warehouse tables and of Forager's own.
        public var schema: String
        /// The replication slot: names the checkpoint row and, by default, the staging folder.
        public var slot: String
        /// Where rows are staged: objects go under `<prefix>/<folder>/<batch>/`.
        public var staging: S3Location
        /// The staging folder under the prefix: the slot's for the pipeline (cleared of a crash's
        /// leftovers at each start); validate's comparator has one of its own, `<slot>.validate`
        /// (slot names have no dot), so that a start of the pipeline never removes its objects.
        public var folder: String
        /// The keys uploads are signed with.
        public var uploadCredentials: AWSCredentials
        /// How COPY reads the objects.
        public var authorization: CopyAuthorization
        /// The uncompressed size of one staged object (default 32 MiB).
        public var partSize = 32 << 20
        /// How often a batch is tried in all when Redshift reports error 1023 (default 5).
        public var attempts = 5
        /// The pause before the first retry, doubled before each next one (default 200 ms).
        public var retryDelay: Duration = .milliseconds(200)

        public init(
            schema: String, slot: String, staging: S3Location, uploadCredentials: AWSCredentials, authorization: CopyAuthorization
        ) {
            self.schema = schema
            self.slot = slot
            self.folder = slot
            self.staging = staging
            self.uploadCredentials = uploadCredentials
            self.authorization = authorization
        }
    }

    public nonisolated let connection: PGConnection
    public nonisolated let configuration: Configuration
    let s3: S3Client
    let logger: Logger
    /// Names this process's staging folders, so that two runs never share one.
    let run = String(UInt32.random(in: 0...UInt32.max), radix: 16)
    /// A transaction is open.
    var inTransaction = false
    /// The tables the open transaction has locked (quoted names).
    var locked: Set<String> = []
    /// The change set applied in the open transaction, and the tables stopped before it, run again
    /// after error 1023. Only one is kept, so memory stays bounded: a transaction applied in pieces
    /// is not replayable.
    var pending: (changes: ChangeSet, stopped: StoppedTables)?
    /// The open transaction can be run again: it holds at most `pending` (no second piece, no
    /// snapshot rows, which are not kept).
    var replayable = true
    /// The objects staged in the open transaction, deleted once it ends.
    var stagedKeys: [String] = []
    /// Counts transactions (a staging folder each) and uploads within one.
    var batchNumber = 0
    var uploadNumber = 0
    /// A small number per warehouse table, to name its staging table.
    var stagingNumbers: [TableName: Int] = [:]
    /// The snapshot load in progress.
    var loading: SnapshotLoad?
    /// The definitions of columns added while streaming, by source table and name, learned from
    /// the schema changes applied: the stream tells a new column's type by its OID only, and rows
    /// are staged by type.
    var definedColumns: [TableName: [String: SourceColumn]] = [:]
    /// The literals that rows of an older part of the stream read for columns their changes lack,
    /// by source table and warehouse column name (``noteOlderRowsValues(_:present:)``).
    var olderRowsValues: [TableName: [String: String]] = [:]
    /// Values cut to fit in the open transaction, by table and column: counted once it commits.
    var truncations: [TableName: [String: Int]] = [:]

    public nonisolated var checkpointLocation: String { stateTable }
    /// The checkpoint table, one row per slot.
    public nonisolated var stateTable: String { qualified("_forager_state") }
    /// The table registry.
    public nonisolated var tablesTable: String { qualified("_forager_tables") }
    nonisolated func qualified(_ name: String) -> String { SQL.quoteIdentifier(configuration.schema) + "." + SQL.quoteIdentifier(name) }
    /// The staging folder of this slot (or of its validate), which only Forager writes.
    nonisolated var slotFolder: String { configuration.staging.key(configuration.folder + "/") }
    /// The keys that must never appear in a message (the access key ids too).
    nonisolated var secrets: [String] {
        var keys = [configuration.uploadCredentials]
        if case .keys(let copying) = configuration.authorization { keys.append(copying) }
        return keys.flatMap { [$0.accessKeyID, $0.secretAccessKey, $0.sessionToken ?? ""] }
    }

    public init(connection: PGConnection, configuration: Configuration, logger: Logger) {
        self.connection = connection
        self.configuration = configuration
        self.logger = logger
        self.s3 = S3Client(location: configuration.staging, credentials: configuration.uploadCredentials, logger: logger)
    }

    /// Opens validate's comparator: a warehouse of its own, staging in `<slot>.validate` (see
    /// ``Configuration/folder``), which it first clears of what an interrupted validate left.
    public static func connectComparator(
        _ url: ConnectionString, configuration: Configuration, logger: Logger
    ) async throws -> RedshiftWarehouse {
        var configuration = configuration
        configuration.folder = configuration.slot + ".validate"
        let comparator = try await connect(url, configuration: configuration, logger: logger)
        try await comparator.deleteOrphans()
        return comparator
    }

    /// Opens a connection to Redshift.
    public static func connect(_ url: ConnectionString, configuration: Configuration, logger: Logger) async throws -> RedshiftWarehouse {
        let connection = try await PGConnection.connect(url, origin: "warehouse")
        return RedshiftWarehouse(connection: connection, configuration: configuration, logger: logger)
    }

    public nonisolated func close() { connection.close() }

    // MARK: Transactions

    func beginIfNeeded() async throws {
        guard !inTransaction else { return }
        try await connection.execute("BEGIN")
        inTransaction = true
        locked = []
        replayable = true
        batchNumber += 1
        uploadNumber = 0
    }

    /// Runs `body` in the open transaction, or in one of its own that commits when `body` returns
    /// and rolls back when it throws: work done outside a batch (a start's new columns) is then
    /// all or nothing, as within one.
    func atomically(_ body: () async throws -> Void) async throws {
        guard !inTransaction else { return try await body() }
        try await connection.execute("BEGIN")
        inTransaction = true
        defer { inTransaction = false }
        do {
            try await body()
            try await connection.execute("COMMIT")
        } catch {
            _ = try? await connection.execute("ROLLBACK")
            throw error
        }
    }

    /// Locks `tables` (quoted names) not yet locked in the open transaction, in one fixed order.
    func lock(_ tables: [String]) async throws {
        let new = Set(tables).subtracting(locked)
        guard !new.isEmpty else { return }
        try await connection.execute(RedshiftSQL.lock(Array(new)))
        locked.formUnion(new)
    }

    public func apply(_ changes: ChangeSet, stopped: inout StoppedTables) async throws {
        let before = stopped
        var after = before
        try await retryingConflicts {
            after = before
            try await self.applyOnce(changes, stopped: &after)
        }
        stopped = after
        if replayable, pending == nil {
            pending = (changes, before)
        } else {
            pending = nil
            replayable = false
        }
    }

    public func commit(checkpoint: LSN) async throws {
        try await retryingConflicts { try await self.commitOnce(checkpoint) }
        pending = nil
        reportTruncations()
        await deleteStaged()
    }

    public func rollback() async throws {
        guard inTransaction else { return }
        inTransaction = false
        pending = nil
        truncations = [:]
        do {
            try await connection.execute("ROLLBACK")
        } catch {
            await deleteStaged()
            throw error
        }
        await deleteStaged()
    }

    /// Starts the unit of work the snapshot loads into.
    public func beginSnapshot() async throws {
        try await beginIfNeeded()
    }

    public func commitWithoutCheckpoint() async throws {
        guard inTransaction else { return }
        try await connection.execute("COMMIT")
        inTransaction = false
        pending = nil
        reportTruncations()
        await deleteStaged()
    }

    private func commitOnce(_ checkpoint: LSN) async throws {
        try await beginIfNeeded()
        try await lock([stateTable])
        let stored = try await connection.query("SELECT MAX(\"lsn\") FROM \(stateTable) WHERE \"slot\" = $1", [configuration.slot])
            .scalar.flatMap { UInt64($0) }
        for statement in RedshiftSQL.storeCheckpoint(stateTable, slot: configuration.slot, lsn: max(stored ?? 0, checkpoint.value)) {
            try await connection.execute(statement)
        }
        try await connection.execute("COMMIT")
        inTransaction = false
    }

    /// Runs `body`; when Redshift reports a serializable isolation violation (error 1023), rolls
    /// the transaction back, waits, and runs the transaction's kept change set and `body` again.
    /// A transaction that is not replayable fails with a transient error instead: the pipeline
    /// starts again from its checkpoint.
    func retryingConflicts(_ body: () async throws -> Void) async throws {
        var attempt = 1
        while true {
            do {
                if attempt > 1, var pending {
                    try await applyOnce(pending.changes, stopped: &pending.stopped)
                }
                return try await body()
            } catch let error as PGError where Self.isSerializationConflict(error) {
                guard attempt < configuration.attempts, replayable else {
                    try? await rollback()
                    throw ForagerError(
                        .warehouse,
                        "Redshift reported a serializable isolation violation (error 1023) \(attempt) times: \(error.message) \(error.detail ?? "")",
                        hint: "Another session writes the same tables; Forager starts again from its checkpoint.", isTransient: true)
                }
                let delay = configuration.retryDelay * (1 << (attempt - 1))
                logger.notice(
                    "serializable isolation violation (1023); running the batch again",
                    metadata: ["forager.attempt": "\(attempt)", "forager.delay": "\(delay)"])
                let kept = pending
                try await rollback()
                pending = kept
                try await Task.sleep(for: delay)
                attempt += 1
            }
        }
    }

    /// Redshift's error 1023 (its message is the number; the detail names the violation).
    static func isSerializationConflict(_ error: PGError) -> Bool {
        error.message.hasPrefix("1023") || (error.detail?.contains("Serializable isolation violation") ?? false)
    }

    /// The error for a value Redshift cannot hold, naming the table, the column and the row's key.
    static func unstorable(_ problem: RedshiftCSV.ValueProblem, table: MappedTable, key: [ArraySlice<UInt8>?]) -> ForagerError {
        let column = problem.column >= 0 && problem.column < table.columns.count ? table.columns[problem.column].name : nil
        let place = column.map { "column \(SQL.quoteIdentifier($0)) of \(table.source)" } ?? "a row of \(table.source)"
        return ForagerError(
            .schema,
            "\(place), row \(RedshiftCSV.describeKey(table, values: key)), cannot be stored in Redshift: \(problem.reason); Forager stopped this table rather than change the value",
            hint:
                "Map the column to a type that holds the value (types: {\(column ?? "column"): text}), or leave it out (exclude_columns), then resync: forager resync --table \(table.source)."
        )
    }
}
