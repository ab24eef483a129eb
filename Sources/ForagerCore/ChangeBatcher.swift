public import PGOutput

/// Turns the pgoutput message stream into warehouse batches: whole transactions, collapsed by key,
/// flushed by row count, size or age, in commit order.
///
/// A value-type state machine with no IO: the caller feeds it messages and the time, and carries out
/// the actions it returns. Transactions that end at or before `checkpoint` (already in the warehouse)
/// are skipped. A transaction larger than `maxRows` or `maxBytes` is applied in pieces inside one
/// open warehouse transaction that commits only with the source transaction, so memory stays
/// bounded and no partial transaction is ever visible or checkpointed.
public struct ChangeBatcher: Sendable {
    /// Flush limits.
    public struct Limits: Sendable {
        /// Apply once this many changes are waiting (and, inside one transaction, apply a piece).
        public var maxRows: Int
        /// Apply once the waiting changes' values take this many bytes (and, inside one
        /// transaction, apply a piece): the memory budget of a batch, whatever its rows' width.
        public var maxBytes: Int
        /// Apply committed changes once the oldest has waited this long.
        public var maxAge: Duration
        /// While transactions arrive faster than two per interval, a caught-up batch that is
        /// neither an eighth of `maxRows` nor a fifth of `maxAge` old is handed to an idle
        /// warehouse no sooner than this after the one before it: one warehouse round per
        /// interval instead of one per transaction (``BatchPacing``; zero: never paced).
        public var minInterval: Duration

        public init(
            maxRows: Int = 50_000, maxBytes: Int = 64 << 20, maxAge: Duration = .milliseconds(500),
            minInterval: Duration = .milliseconds(10)
        ) {
            self.maxRows = max(1, maxRows)
            self.maxBytes = max(1, maxBytes)
            self.maxAge = maxAge
            self.minInterval = max(.zero, minInterval)
        }
    }

    /// What the caller must do next, in order.
    public enum Action: Sendable {
        /// Apply the changes inside the open warehouse transaction (open one if none is open); do not commit.
        case apply(ChangeSet)
        /// Apply the changes (possibly none), store the checkpoint `through` in the same warehouse
        /// transaction, commit, and then acknowledge `through` to the source.
        case commit(ChangeSet, through: LSN)
    }

    private struct Transaction: Sendable {
        var finalLSN: LSN
        var skipping: Bool
        var changes: [SourceChange] = []
        /// Pieces of this transaction were applied into the open warehouse transaction.
        var appliedPieces = false
        /// The bytes of the values in `changes`.
        var bytes = 0
        /// Indexes in `changes` of schema changes whose position is not known yet: a relation
        /// message has none (the server sends it at position 0), so a schema change takes the
        /// position of the change that follows it, or of the commit.
        var unplacedSchemaChanges: [Int] = []

        /// Gives the schema changes that wait for a position the position `lsn`.
        mutating func placeSchemaChanges(at lsn: LSN) {
            for index in unplacedSchemaChanges {
                guard case .schemaChange(var change) = changes[index] else { continue }
                change.lsn = lsn
                changes[index] = .schemaChange(change)
            }
            unplacedSchemaChanges.removeAll()
        }
    }

    public let limits: Limits
    /// The last LSN handed out in a `.commit` action: everything before it is in the warehouse.
    public private(set) var checkpoint: LSN
    /// The tables the stream describes, and which of them are stopped.
    private var tracker: RelationTracker
    /// Per table, the position its latest copy was taken at: changes of transactions that commit
    /// before it are in the copy already.
    private var syncPoints: [TableName: LSN]
    /// Transactions that commit at or after this position are skipped (a stream that only fills
    /// the gap up to a handover point).
    private let applyBefore: LSN?
    /// Tables that were stopped: their changes are ignored.
    public var stoppedTables: Set<TableName> { tracker.stoppedTables }
    private var transaction: Transaction?
    /// Numbers the rows inserted at one position (one WAL record: a COPY or a multi-row insert
    /// writes many rows in one), across the pieces of a transaction.
    private var record = RecordRows()
    private var completed = ChangeSet()
    /// The bytes of the values of the changes in `completed`, as received.
    private var completedBytes = 0
    private var completedThrough: LSN?
    /// When the oldest change waiting to be committed arrived, on the caller's monotonic clock.
    private var oldestWaiting: Duration?
    /// When a caught-up batch may go to the idle warehouse.
    private var pacing: BatchPacing

    /// - Parameters:
    ///   - syncPoints: per source table, the position its copy in the warehouse was taken at, when
    ///     that is after `checkpoint`; its changes in transactions committing before it are skipped.
    ///   - stopped: source tables whose changes are ignored until they are resynced.
    ///   - applyBefore: when set, transactions that commit at or after it are skipped.
    public init(
        tables: [MappedTable], limits: Limits, checkpoint: LSN, syncPoints: [TableName: LSN] = [:], stopped: Set<TableName> = [],
        applyBefore: LSN? = nil
    ) {
        self.limits = limits
        self.checkpoint = checkpoint
        self.syncPoints = syncPoints
        self.applyBefore = applyBefore
        self.tracker = RelationTracker(tables: tables, stopped: stopped)
        self.pacing = BatchPacing(minInterval: limits.minInterval)
    }

    /// True when nothing is buffered and no warehouse transaction is open: the stream is caught up
    /// with the warehouse, so a keepalive position may become the checkpoint.
    public var isIdle: Bool { transaction == nil && completedThrough == nil }

    /// Feeds one pgoutput message; `lsn` is the XLogData start position of the message, `now` the
    /// time it was read on the caller's monotonic clock (the time since an origin of its choosing).
    public mutating func receive(
        _ message: PGOutputMessage, at lsn: LSN, now: Duration
    ) throws(ForagerError) -> [Action] {
        switch message {
        case .begin(let begin):
            guard transaction == nil else {
                throw ForagerError(
                    .protocolViolation, "BEGIN of the transaction ending at \(begin.finalLSN) arrived inside another transaction")
            }
            let beyond = applyBefore.map { begin.finalLSN >= $0 } ?? false
            transaction = Transaction(finalLSN: begin.finalLSN, skipping: begin.finalLSN < checkpoint || beyond)
            return []
        case .commit(let commit):
            return try commitReceived(endLSN: commit.endLSN, now: now)
        case .relation(let relation):
            try bind(relation)
            return []
        case .insert(let insert):
            guard let binding = try binding(for: insert.relationID) else { return [] }
            let place = binding.table.identity == .appendOnly ? record.place(of: lsn) : 0
            return try add(
                .insert(binding, try binding.widened(insert.newTuple), lsn, place: place), at: lsn, bytes: Self.size(insert.newTuple))
        case .update(let update):
            guard let binding = try binding(for: update.relationID), binding.table.identity != .appendOnly else { return [] }
            let old = try (update.oldKey ?? update.oldTuple).map { tuple throws(ForagerError) in try binding.widened(tuple) }
            return try add(
                .update(binding, old: old, new: try binding.widened(update.newTuple), lsn), at: lsn,
                bytes: Self.size(old) + Self.size(update.newTuple))
        case .delete(let delete):
            guard let binding = try binding(for: delete.relationID), binding.table.identity != .appendOnly else { return [] }
            guard let old = delete.oldKey ?? delete.oldTuple else {
                throw ForagerError(
                    .schema, "a DELETE on \(binding.table.source) carries no key",
                    hint: "Give \(binding.table.source) a primary key (REPLICA IDENTITY DEFAULT) or set REPLICA IDENTITY FULL on it.")
            }
            return try add(.delete(binding, old: try binding.widened(old), lsn), at: lsn, bytes: Self.size(old))
        case .truncate(let truncate):
            var tables: [MappedTable] = []
            for id in truncate.relationIDs {
                if let table = try binding(for: id)?.table, table.identity != .appendOnly { tables.append(table) }
            }
            guard !tables.isEmpty else { return [] }
            return try add(.truncate(tables), at: lsn, bytes: 0)
        case .message(let message):
            guard !message.transactional else { return [] }
            return passed(message.lsn, now: now)
        case .origin, .type:
            return []
        case .streamStart, .streamStop, .streamCommit, .streamAbort, .streamed:
            throw ForagerError(
                .protocolViolation, "a streaming message reached the batcher; streamed transactions are replayed as whole ones")
        }
    }

    /// A position the stream passed outside any transaction (a non-transactional logical message,
    /// such as Forager's heartbeat): every commit before it has been received, so the checkpoint
    /// may move there with the next batch, or by itself when nothing waits.
    private mutating func passed(_ lsn: LSN, now: Duration) -> [Action] {
        guard transaction == nil, lsn > max(checkpoint, completedThrough ?? .zero) else { return [] }
        if let applyBefore, lsn >= applyBefore { return [] }
        completedThrough = lsn
        if oldestWaiting == nil { oldestWaiting = now }
        return []
    }

    /// Sets the position a table's copy was taken at, from the next transaction on: its changes in
    /// transactions that commit before `lsn` are skipped.
    public mutating func setSyncPoint(_ lsn: LSN, for table: TableName) {
        syncPoints[table] = lsn
    }

    /// Called after each read from the stream: commits what has waited longer than `maxAge`; and,
    /// when `warehouseIdle` (no batch being applied), everything whole if `caughtUp` (the server
    /// had nothing more buffered), or, behind a backlog, once the waiting batch is worth a
    /// warehouse round of its own: an eighth of `maxRows`, or a fifth of `maxAge` old. A quiet
    /// stream is applied at once (under many small transactions, paced: ``BatchPacing``), a
    /// backlog still forms large batches, and a stream that trails by
    /// a read or two waits for neither `maxAge` nor its end while the warehouse sits idle. While
    /// the warehouse is busy, a batch of an eighth of `maxRows` is handed over to wait for it.
    public mutating func tick(now: Duration, warehouseIdle: Bool = false, caughtUp: Bool = false) -> [Action] {
        guard let oldestWaiting else { return [] }
        let age = now - oldestWaiting
        // While the warehouse is busy, a batch worth a round by its size is handed over anyway: it
        // waits for the one being applied, and so does the reading, instead of the batch growing to
        // max_rows beside every apply (bench case 2: a third slower, twice the memory).
        let bySize = completed.changeCount >= limits.maxRows / 8
        let caughtUpAndDue = caughtUp && pacing.wait(now: now) == nil
        let handOver = bySize || warehouseIdle && (age >= limits.maxAge / 5 || caughtUpAndDue)
        guard age >= limits.maxAge || handOver else { return [] }
        if let transaction, transaction.appliedPieces { return [] }
        guard let action = takeCompleted() else { return [] }
        pacing.handedOver(at: now)
        return [action]
    }

    /// What to do on shutdown: commit every whole transaction received. `rollback` is true when
    /// pieces of an unfinished transaction were applied and the open warehouse transaction must be
    /// rolled back instead (it is replayed on the next start).
    public mutating func drain() -> (actions: [Action], rollback: Bool) {
        if let transaction, transaction.appliedPieces {
            self.transaction = nil
            return ([], true)
        }
        transaction = nil
        return (takeCompleted().map { [$0] } ?? [], false)
    }

    /// How long whole transactions that wait should gather before a tick hands them to an idle
    /// warehouse: the rest of `minInterval` since the last batch was handed over, while pacing is
    /// engaged (``BatchPacing``); nil when none wait or they may go.
    public func gatheringTime(now: Duration) -> Duration? {
        guard completedThrough != nil else { return nil }
        return pacing.wait(now: now)
    }

    /// Marks `lsn` as the checkpoint when idle (the caller stores it and acknowledges it).
    /// Returns the action to carry out, or nil when it would not move the checkpoint forward.
    public mutating func advanceIdle(to lsn: LSN) -> Action? {
        guard isIdle, lsn > checkpoint else { return nil }
        checkpoint = lsn
        return .commit(ChangeSet(), through: lsn)
    }

    private mutating func commitReceived(endLSN: LSN, now: Duration) throws(ForagerError) -> [Action] {
        guard var current = transaction else {
            throw ForagerError(.protocolViolation, "COMMIT ending at \(endLSN) arrived outside a transaction")
        }
        transaction = nil
        if current.skipping { return [] }
        if !current.unplacedSchemaChanges.isEmpty { current.placeSchemaChanges(at: current.finalLSN) }
        for index in current.changes.indices { try completed.fold(current.changes[index]) }
        completedBytes += current.bytes
        completedThrough = endLSN
        pacing.arrived(at: now)
        if oldestWaiting == nil { oldestWaiting = now }
        let due =
            current.appliedPieces || completed.changeCount >= limits.maxRows || completedBytes >= limits.maxBytes
            || now - (oldestWaiting ?? now) >= limits.maxAge
        guard due, let action = takeCompleted() else { return [] }
        return [action]
    }

    /// The bytes of a tuple's values, which the change holds on to until it is applied.
    @inline(__always)
    private static func size(_ tuple: TupleData?) -> Int {
        guard let tuple else { return 0 }
        var total = 0
        for column in tuple.columns {
            switch column {
            case .text(let value), .binary(let value): total += value.count
            case .null, .unchangedToast: break
            }
        }
        return total
    }

    private mutating func add(_ change: SourceChange, at lsn: LSN, bytes: Int) throws(ForagerError) -> [Action] {
        // Mutated in place through the optional: copying `transaction` out would copy its change
        // array on every append.
        guard transaction != nil else {
            throw ForagerError(.protocolViolation, "a row change arrived outside a transaction")
        }
        if transaction!.skipping { return [] }
        if !transaction!.unplacedSchemaChanges.isEmpty { transaction!.placeSchemaChanges(at: lsn) }
        transaction!.changes.append(change)
        transaction!.bytes += bytes
        guard transaction!.changes.count >= limits.maxRows || transaction!.bytes >= limits.maxBytes else { return [] }
        var actions: [Action] = []
        if let earlier = takeCompleted() { actions.append(earlier) }
        var piece = ChangeSet()
        for change in transaction!.changes { try piece.fold(change) }
        transaction!.changes.removeAll(keepingCapacity: true)
        transaction!.bytes = 0
        transaction!.appliedPieces = true
        actions.append(.apply(piece))
        return actions
    }

    private mutating func takeCompleted() -> Action? {
        guard let through = completedThrough else { return nil }
        let batch = completed
        completed = ChangeSet(like: batch)
        completedBytes = 0
        completedThrough = nil
        oldestWaiting = nil
        checkpoint = max(checkpoint, through)
        return .commit(batch, through: through)
    }

    /// Follows a Relation message; a change of shape, or a stop, goes into the current transaction
    /// (outside one being applied, a replayed one, it was recorded when first applied).
    private mutating func bind(_ relation: Relation) throws(ForagerError) {
        let finalLSN = transaction?.finalLSN
        let outcomes = try tracker.bind(relation) { name in
            guard let point = syncPoints[name], let finalLSN else { return false }
            return finalLSN < point
        }
        for outcome in outcomes {
            switch outcome {
            case .schemaChange(let change): appendToTransaction(.schemaChange(change))
            case .stop(let table, let error): appendToTransaction(.stopTable(table, error))
            }
        }
    }

    private mutating func appendToTransaction(_ change: SourceChange) {
        guard var current = transaction, !current.skipping else { return }
        transaction = nil
        if case .schemaChange = change { current.unplacedSchemaChanges.append(current.changes.count) }
        current.changes.append(change)
        transaction = current
    }

    /// The binding of a relation, or nil when its changes are ignored: not mapped, stopped, or
    /// already in the table's copy (the transaction commits before the copy's position).
    private func binding(for id: UInt32) throws(ForagerError) -> RelationBinding? {
        guard let binding = try tracker.binding(for: id) else { return nil }
        if let point = syncPoints[binding.table.source], let transaction, transaction.finalLSN < point { return nil }
        return binding
    }
}

/// The place of each inserted row among the rows of its WAL record: 0 for the first row at a
/// position, then 1, 2, … while the position stays the same. The stream sends a record's rows one
/// after another and in the same order whenever it is replayed, so a row's position and place
/// name it across crashes and restarts: a warehouse without transactions tells apart rows that
/// share a position, and recognises a replayed one, by them.
struct RecordRows: Sendable {
    private var position = LSN.zero
    private var next: UInt32 = 0

    mutating func place(of lsn: LSN) -> UInt32 {
        if lsn != position {
            position = lsn
            next = 0
        }
        defer { next += 1 }
        return next
    }
}
