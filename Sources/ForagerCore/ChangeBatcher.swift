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

        public init(maxRows: Int = 50_000, maxBytes: Int = 64 << 20, maxAge: Duration = .milliseconds(500)) {
            self.maxRows = max(1, maxRows)
            self.maxBytes = max(1, maxBytes)
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
    private let tablesBySource: [TableName: MappedTable]
    /// The mapped tables whose OID is known, by it: a Relation message under another name is the
    /// same table renamed.
    private let tablesByRelationID: [UInt32: MappedTable]
    private var relations: [UInt32: RelationBinding] = [:]
    /// The columns each table's stream last described, to notice schema changes.
    private var publishedColumns: [TableName: [SourceColumn]] = [:]
    /// Per table, the position its latest copy was taken at: changes of transactions that commit
    /// before it are in the copy already.
    private var syncPoints: [TableName: LSN]
    /// Transactions that commit at or after this position are skipped (a stream that only fills
    /// the gap up to a handover point).
    private let applyBefore: LSN?
    /// Tables that were stopped: their changes are ignored.
    public private(set) var stoppedTables: Set<TableName>
    /// Relation ids of published tables that are not mapped; their changes are ignored.
    public private(set) var unmappedRelations: [UInt32: TableName] = [:]
    private var transaction: Transaction?
    private var completed = ChangeSet()
    /// The bytes of the values of the changes in `completed`, as received.
    private var completedBytes = 0
    private var completedThrough: LSN?
    /// When the oldest change waiting to be committed arrived, on the caller's monotonic clock.
    private var oldestWaiting: Duration?

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
        self.stoppedTables = stopped
        self.tablesBySource = Dictionary(tables.map { ($0.source, $0) }, uniquingKeysWith: { first, _ in first })
        self.tablesByRelationID = Dictionary(tables.compactMap { table in table.relationID.map { ($0, table) } }, uniquingKeysWith: { first, _ in first })
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
                throw ForagerError(.protocolViolation, "BEGIN of the transaction ending at \(begin.finalLSN) arrived inside another transaction")
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
            return try add(.insert(binding, try binding.widened(insert.newTuple), lsn), at: lsn, bytes: Self.size(insert.newTuple))
        case .update(let update):
            guard let binding = try binding(for: update.relationID), binding.table.identity != .appendOnly else { return [] }
            let old = try (update.oldKey ?? update.oldTuple).map { tuple throws(ForagerError) in try binding.widened(tuple) }
            return try add(
                .update(binding, old: old, new: try binding.widened(update.newTuple), lsn), at: lsn, bytes: Self.size(old) + Self.size(update.newTuple))
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
            throw ForagerError(.protocolViolation, "a streaming message reached the batcher; streamed transactions are replayed as whole ones")
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

    /// Called after each read from the stream: commits what has waited longer than `maxAge`, or
    /// everything whole when `caughtUp` (the server had nothing more buffered), so that a quiet
    /// stream is applied at once while a backlog still forms large batches.
    public mutating func tick(now: Duration, caughtUp: Bool = false) -> [Action] {
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

    private mutating func commitReceived(endLSN: LSN, now: Duration) throws(ForagerError) -> [Action] {
        guard var current = transaction else {
            throw ForagerError(.protocolViolation, "COMMIT ending at \(endLSN) arrived outside a transaction")
        }
        transaction = nil
        if current.skipping { return [] }
        if !current.unplacedSchemaChanges.isEmpty { current.placeSchemaChanges(at: current.finalLSN) }
        for change in current.changes { try completed.fold(change) }
        completedBytes += current.bytes
        completedThrough = endLSN
        if oldestWaiting == nil { oldestWaiting = now }
        let due = current.appliedPieces || completed.changeCount >= limits.maxRows || completedBytes >= limits.maxBytes
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
        completed = ChangeSet()
        completedBytes = 0
        completedThrough = nil
        oldestWaiting = nil
        checkpoint = max(checkpoint, through)
        return .commit(batch, through: through)
    }

    private mutating func bind(_ relation: Relation) throws(ForagerError) {
        let name = TableName(schema: relation.namespace, name: relation.name)
        if let bound = relations[relation.id]?.table ?? tablesByRelationID[relation.id], bound.source != name, !stoppedTables.contains(bound.source) {
            // The same table under another name: renamed, or moved to another schema.
            return stop(bound, relationID: relation.id, ForagerError(
                .schema, "mapped table \(bound.source) was renamed on the source, to \(name): the mapping no longer names it, so Forager stopped this table rather than drop its changes",
                hint: "Map the table by its new name (source: \(name), target: \(bound.target.name), to keep filling the same warehouse table), then resync it: forager resync --table \(name)."))
        }
        guard var table = tablesBySource[name], !stoppedTables.contains(name) else {
            unmappedRelations[relation.id] = name
            relations[relation.id] = nil
            return
        }
        if let point = syncPoints[name], let transaction, transaction.finalLSN < point {
            // The transaction is in the table's copy, which has the shape the table had when copied:
            // nothing to follow, and its changes are skipped.
            table = table.reshaped(to: relation)
            let keyIndexes = table.keyColumns.compactMap { key in relation.columns.firstIndex { $0.name == key } }
            relations[relation.id] = RelationBinding(relation: relation, table: table, keyIndexes: keyIndexes)
            return
        }
        // The first Relation message of a table in this stream may be older than the catalogue
        // the table was described from: changes made while Forager was stopped still follow.
        let olderThanCatalogue = publishedColumns[name] == nil
        let previous = publishedColumns[name] ?? table.columns
        table.columns = previous
        table = table.reshaped(to: relation)
        let names = table.columns.map(\.name)
        let previousNames = previous.map(\.name)
        let added = names.filter { !previousNames.contains($0) }
        let removed = previousNames.filter { !names.contains($0) }
        let retyped = relation.columns.compactMap { column -> String? in
            guard let old = previous.first(where: { $0.name == column.name })?.sourceType,
                  old != (column.typeOID, column.typeModifier) else { return nil }
            return column.name
        }
        publishedColumns[name] = table.columns
        if !added.isEmpty || !removed.isEmpty || !retyped.isEmpty {
            // Columns that older changes name and the catalogue lacks were dropped since, and ones
            // the catalogue has that they lack were added since: the changes keep their own shape.
            // A rename is told apart where the table has fewer dropped columns than that.
            let ownShape = olderThanCatalogue && added.count <= table.droppedColumnCount
            if let error = Self.unfollowable(table, added: added, removed: removed, ownShape: ownShape) {
                stop(table, relationID: relation.id, error)
                return
            }
            appendToTransaction(.schemaChange(SchemaChange(table: table, added: added, removed: removed, retyped: retyped)))
        }
        if let error = Self.identityChanged(table, relation) {
            stop(table, relationID: relation.id, error)
            return
        }
        let keyIndexes = try table.keyColumns.map { key throws(ForagerError) in
            guard let index = names.firstIndex(of: key) else {
                throw ForagerError(.schema, "key column \(SQL.quoteIdentifier(key)) of \(name) is not in the replication stream")
            }
            return index
        }
        relations[relation.id] = RelationBinding(
            relation: relation, table: table, keyIndexes: keyIndexes, widenedReals: Self.widenedReals(relation, catalogue: tablesBySource[name]?.columns ?? []))
    }

    /// The columns of `relation` that arrive as `real` or `real[]` where the catalogue the warehouse
    /// was shaped from (at start) has `double precision`: changes older than the widening.
    private static func widenedReals(_ relation: Relation, catalogue: [SourceColumn]) -> [(index: Int, isArray: Bool)] {
        relation.columns.enumerated().compactMap { index, column in
            guard let now = catalogue.first(where: { $0.name == column.name }), now.overriddenType == nil, let type = now.sourceType?.oid else { return nil }
            switch (column.typeOID, type) {
            case (700, 701): return (index, false)
            case (1021, 1022): return (index, true)
            default: return nil
            }
        }
    }

    /// Why a change of columns cannot be followed, or nil when it can. `ownShape`: the columns are
    /// those of changes older than the catalogue the table was described from, compared with it.
    private static func unfollowable(_ table: MappedTable, added: [String], removed: [String], ownShape: Bool) -> ForagerError? {
        let name = table.source
        if !added.isEmpty && !removed.isEmpty && !ownShape {
            return ForagerError(
                .schema,
                "columns of \(name) were renamed, or dropped and added, on the source (no longer published: \(removed.map(SQL.quoteIdentifier).joined(separator: ", ")); new: \(added.map(SQL.quoteIdentifier).joined(separator: ", "))); Forager cannot tell which, so it stopped this table rather than guess",
                hint: "Resync the table: forager resync --table \(name) (it copies the table again while the others keep streaming).")
        }
        if let key = table.keyColumns.first(where: removed.contains) {
            return ForagerError(
                .schema, "key column \(SQL.quoteIdentifier(key)) of \(name) is no longer published (dropped or renamed on the source), so its changes cannot be matched; the table was stopped",
                hint: "Resync the table: forager resync --table \(name).")
        }
        return nil
    }

    /// Why a table must stop when the source identifies its rows in updates and deletes by other
    /// columns than the ones Forager matches warehouse rows by (a primary key or replica identity
    /// changed): deletes would miss their rows, or rows the source now tells apart would merge.
    /// Nil while the identity still serves: the same key, every column (`REPLICA IDENTITY FULL`),
    /// or none (`NOTHING`, under which the source refuses updates and deletes of published tables).
    private static func identityChanged(_ table: MappedTable, _ relation: Relation) -> ForagerError? {
        guard relation.replicaIdentity != .nothing, relation.replicaIdentity != .full, table.identity != .appendOnly else { return nil }
        let flagged = relation.columns.filter(\.isKey).map(\.name)
        guard table.identity == .fullRow || Set(flagged) != Set(table.keyColumns) else { return nil }
        func list(_ names: [String]) -> String { "(" + names.map(SQL.quoteIdentifier).joined(separator: ", ") + ")" }
        let matched = table.identity == .fullRow ? "the whole row (REPLICA IDENTITY FULL)" : list(table.keyColumns)
        return ForagerError(
            .schema, "the replica identity of \(table.source) changed on the source: its updates and deletes now name rows by \(list(flagged)), where Forager matches warehouse rows by \(matched); Forager stopped this table rather than miss deletes or merge rows",
            hint: "Resync the table to copy it with its new key: forager resync --table \(table.source).")
    }

    /// Stops a table inside the current transaction: the step records it, and its changes are
    /// ignored from here on. Outside a transaction being applied (a replayed one), it was recorded
    /// when first applied.
    private mutating func stop(_ table: MappedTable, relationID: UInt32, _ error: ForagerError) {
        stoppedTables.insert(table.source)
        unmappedRelations[relationID] = table.source
        relations[relationID] = nil
        appendToTransaction(.stopTable(table, error))
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
        if let binding = relations[id] {
            if let point = syncPoints[binding.table.source], let transaction, transaction.finalLSN < point { return nil }
            return binding
        }
        if unmappedRelations[id] != nil { return nil }
        throw ForagerError(.protocolViolation, "a change refers to relation id \(id), which the stream never described")
    }
}
