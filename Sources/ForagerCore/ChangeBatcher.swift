public import PGOutput

/// Turns the pgoutput message stream into warehouse batches: whole transactions, collapsed by key,
/// flushed by row count or age, in commit order.
///
/// A value-type state machine with no IO: the caller feeds it messages and the time, and carries out
/// the actions it returns. Transactions that end at or before `checkpoint` (already in the warehouse)
/// are skipped. A transaction larger than `maxRows` is applied in pieces inside one open warehouse
/// transaction that commits only with the source transaction, so memory stays bounded and no
/// partial transaction is ever visible or checkpointed.
public struct ChangeBatcher: Sendable {
    /// Flush limits.
    public struct Limits: Sendable {
        /// Apply once this many changes are waiting (and, inside one transaction, apply a piece).
        public var maxRows: Int
        /// Apply committed changes once the oldest has waited this long.
        public var maxAge: Duration

        public init(maxRows: Int = 50_000, maxAge: Duration = .milliseconds(500)) {
            self.maxRows = max(1, maxRows)
            self.maxAge = maxAge
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
    }

    public let limits: Limits
    /// The last LSN handed out in a `.commit` action: everything before it is in the warehouse.
    public private(set) var checkpoint: LSN
    private let tablesBySource: [TableName: MappedTable]
    private var relations: [UInt32: RelationBinding] = [:]
    /// The column names each table's stream last described, to notice schema changes.
    private var publishedColumns: [TableName: [String]] = [:]
    /// Relation ids of published tables that are not mapped; their changes are ignored.
    public private(set) var unmappedRelations: [UInt32: TableName] = [:]
    private var transaction: Transaction?
    private var completed = ChangeSet()
    private var completedThrough: LSN?
    private var oldestWaiting: ContinuousClock.Instant?

    public init(tables: [MappedTable], limits: Limits, checkpoint: LSN) {
        self.limits = limits
        self.checkpoint = checkpoint
        self.tablesBySource = Dictionary(tables.map { ($0.source, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// True when nothing is buffered and no warehouse transaction is open: the stream is caught up
    /// with the warehouse, so a keepalive position may become the checkpoint.
    public var isIdle: Bool { transaction == nil && completedThrough == nil }

    /// Feeds one pgoutput message; `lsn` is the XLogData start position of the message.
    public mutating func receive(
        _ message: PGOutputMessage, at lsn: LSN, now: ContinuousClock.Instant
    ) throws(ForagerError) -> [Action] {
        switch message {
        case .begin(let begin):
            guard transaction == nil else {
                throw ForagerError(.protocolViolation, "BEGIN of the transaction ending at \(begin.finalLSN) arrived inside another transaction")
            }
            transaction = Transaction(finalLSN: begin.finalLSN, skipping: begin.finalLSN < checkpoint)
            return []
        case .commit(let commit):
            return try commitReceived(endLSN: commit.endLSN, now: now)
        case .relation(let relation):
            try bind(relation)
            return []
        case .insert(let insert):
            guard let binding = try binding(for: insert.relationID) else { return [] }
            return try add(.insert(binding, insert.newTuple, lsn))
        case .update(let update):
            guard let binding = try binding(for: update.relationID), binding.table.identity != .appendOnly else { return [] }
            return try add(.update(binding, old: update.oldKey ?? update.oldTuple, new: update.newTuple, lsn))
        case .delete(let delete):
            guard let binding = try binding(for: delete.relationID), binding.table.identity != .appendOnly else { return [] }
            guard let old = delete.oldKey ?? delete.oldTuple else {
                throw ForagerError(
                    .schema, "a DELETE on \(binding.table.source) carries no key",
                    hint: "Give \(binding.table.source) a primary key (REPLICA IDENTITY DEFAULT) or set REPLICA IDENTITY FULL on it.")
            }
            return try add(.delete(binding, old: old, lsn))
        case .truncate(let truncate):
            var tables: [MappedTable] = []
            for id in truncate.relationIDs {
                if let table = try binding(for: id)?.table, table.identity != .appendOnly { tables.append(table) }
            }
            guard !tables.isEmpty else { return [] }
            return try add(.truncate(tables))
        case .origin, .type, .message:
            return []
        }
    }

    /// Called after each read from the stream: commits what has waited longer than `maxAge`, or
    /// everything whole when `caughtUp` (the server had nothing more buffered), so that a quiet
    /// stream is applied at once while a backlog still forms large batches.
    public mutating func tick(now: ContinuousClock.Instant, caughtUp: Bool = false) -> [Action] {
        guard let oldestWaiting, caughtUp || now - oldestWaiting >= limits.maxAge else { return [] }
        if let transaction, transaction.appliedPieces { return [] }
        return takeCompleted().map { [$0] } ?? []
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

    /// Marks `lsn` as the checkpoint when idle (the caller stores it and acknowledges it).
    /// Returns the action to carry out, or nil when it would not move the checkpoint forward.
    public mutating func advanceIdle(to lsn: LSN) -> Action? {
        guard isIdle, lsn > checkpoint else { return nil }
        checkpoint = lsn
        return .commit(ChangeSet(), through: lsn)
    }

    private mutating func commitReceived(endLSN: LSN, now: ContinuousClock.Instant) throws(ForagerError) -> [Action] {
        guard let current = transaction else {
            throw ForagerError(.protocolViolation, "COMMIT ending at \(endLSN) arrived outside a transaction")
        }
        transaction = nil
        if current.skipping { return [] }
        for change in current.changes { try completed.fold(change) }
        completedThrough = endLSN
        if oldestWaiting == nil { oldestWaiting = now }
        let due = current.appliedPieces || completed.changeCount >= limits.maxRows
            || now - (oldestWaiting ?? now) >= limits.maxAge
        guard due, let action = takeCompleted() else { return [] }
        return [action]
    }

    private mutating func add(_ change: SourceChange) throws(ForagerError) -> [Action] {
        // Mutated in place through the optional: copying `transaction` out would copy its change
        // array on every append.
        guard transaction != nil else {
            throw ForagerError(.protocolViolation, "a row change arrived outside a transaction")
        }
        if transaction!.skipping { return [] }
        transaction!.changes.append(change)
        guard transaction!.changes.count >= limits.maxRows else { return [] }
        var actions: [Action] = []
        if let earlier = takeCompleted() { actions.append(earlier) }
        var piece = ChangeSet()
        for change in transaction!.changes { try piece.fold(change) }
        transaction!.changes.removeAll(keepingCapacity: true)
        transaction!.appliedPieces = true
        actions.append(.apply(piece))
        return actions
    }

    private mutating func takeCompleted() -> Action? {
        guard let through = completedThrough else { return nil }
        let batch = completed
        completed = ChangeSet()
        completedThrough = nil
        oldestWaiting = nil
        checkpoint = max(checkpoint, through)
        return .commit(batch, through: through)
    }

    private mutating func bind(_ relation: Relation) throws(ForagerError) {
        let name = TableName(schema: relation.namespace, name: relation.name)
        guard var table = tablesBySource[name] else {
            unmappedRelations[relation.id] = name
            relations[relation.id] = nil
            return
        }
        let names = relation.columns.map(\.name)
        let previous = publishedColumns[name] ?? table.columns.map(\.name)
        if names != previous {
            let added = names.filter { !previous.contains($0) }
            let removed = previous.filter { !names.contains($0) }
            if !added.isEmpty && !removed.isEmpty {
                throw ForagerError(
                    .schema,
                    "columns of \(name) were renamed, or dropped and added, on the source (no longer published: \(removed.map(SQL.quoteIdentifier).joined(separator: ", ")); new: \(added.map(SQL.quoteIdentifier).joined(separator: ", "))); Forager cannot tell which, so it stops rather than guess",
                    hint: "Resync: stop Forager, drop the warehouse tables of this pipeline, DELETE its row from _forager_state, drop the slot (SELECT pg_drop_replication_slot('<slot>') on the source), and run Forager again to take a new snapshot.")
            }
            if let key = table.keyColumns.first(where: removed.contains) {
                throw ForagerError(
                    .schema, "primary-key column \(SQL.quoteIdentifier(key)) of \(name) is no longer published (dropped or renamed on the source)",
                    hint: "Forager cannot follow a change of the primary key. Resync the table: drop the warehouse table \(table.target) and its checkpoint, then restart.")
            }
            if var current = transaction, !current.skipping {
                transaction = nil
                current.changes.append(.schemaChange(table.reshaped(to: relation), added: added, removed: removed))
                transaction = current
            }
        }
        publishedColumns[name] = names
        table = table.reshaped(to: relation)
        let keyIndexes = try table.keyColumns.map { key throws(ForagerError) in
            guard let index = names.firstIndex(of: key) else {
                throw ForagerError(.schema, "primary-key column \(SQL.quoteIdentifier(key)) of \(name) is not in the replication stream")
            }
            return index
        }
        relations[relation.id] = RelationBinding(relation: relation, table: table, keyIndexes: keyIndexes)
    }

    private func binding(for id: UInt32) throws(ForagerError) -> RelationBinding? {
        if let binding = relations[id] { return binding }
        if unmappedRelations[id] != nil { return nil }
        throw ForagerError(.protocolViolation, "a change refers to relation id \(id), which the stream never described")
    }
}
