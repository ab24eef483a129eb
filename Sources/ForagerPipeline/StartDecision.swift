public import ForagerCore
public import PGOutput

/// What the source and the warehouse hold when a pipeline starts, as far as the decision of where
/// to start needs it.
public struct StartFacts: Sendable {
    /// A replication slot as the source reports it.
    public struct Slot: Sendable {
        public var plugin: String
        /// The process reading from it, if one is.
        public var activePID: Int?
        /// `pg_replication_slots.wal_status`; `lost` when the WAL it needed is gone.
        public var walStatus: String?
    }

    /// `source.slot` and `source.publication`, for the messages.
    public var slotName: String
    public var publication: String
    /// The slot, or nil when the source has none of that name.
    public var slot: Slot?
    /// The warehouse checkpoint of the slot, or nil.
    public var checkpoint: LSN?
    /// The mapped source tables, in mapping order.
    public var tables: [TableName]
    /// The warehouse's table registry.
    public var states: [TableName: TableState] = [:]
    /// Tables the publication does not publish as the mapping asks (columns, operations); read
    /// only when there are both a slot and a checkpoint.
    public var publicationMismatches: Set<TableName> = []
}

/// Where streaming starts: resume from the warehouse checkpoint, or take the initial snapshot.
/// ``decide(_:)`` refuses every state in which either would lose or double rows; the pipeline
/// only carries the decision out.
public enum StartDecision: Sendable, Equatable {
    /// Resume from the warehouse checkpoint `checkpoint`.
    /// - `register`: tables to record as streaming first (a pipeline from before the table
    ///   registry: every table it published was copied).
    /// - `pending`: tables to copy beside the stream: newly mapped, asked to be resynced, or whose
    ///   copy a stop interrupted.
    /// - `mustBeEmpty`: the pending tables the warehouse knows nothing of, whose tables must hold
    ///   no rows Forager did not put there.
    case resume(from: LSN, register: [TableName], pending: [TableName], mustBeEmpty: [TableName])
    /// Take the initial snapshot of every table, into empty tables; `dropSlot`: the slot exists but
    /// no snapshot was completed, so it is dropped and made again.
    case snapshot(dropSlot: Bool)

    /// The decision for `facts`, or the error that says why starting would lose or double rows
    /// and what to do.
    public static func decide(_ facts: StartFacts) throws(ForagerError) -> StartDecision {
        if let slot = facts.slot { try checkUsable(slot, named: facts.slotName) }
        switch (facts.slot, facts.checkpoint) {
        case (.some, .some(let checkpoint)):
            return try resume(from: checkpoint, facts)
        case (nil, .some(let checkpoint)):
            throw ForagerError(
                .replicationState,
                "the warehouse has a checkpoint at \(checkpoint) for slot \(SQL.quoteIdentifier(facts.slotName)), but the source has no such slot; changes since then may be gone",
                hint:
                    "If the slot was dropped on purpose, or the source failed over to a server without it, start over into the same tables: forager reset --yes, then forager run. Otherwise point source.url at the server that has the slot."
            )
        case (.some, nil):
            return .snapshot(dropSlot: true)
        case (nil, nil):
            return .snapshot(dropSlot: false)
        }
    }

    private static func resume(from checkpoint: LSN, _ facts: StartFacts) throws(ForagerError) -> StartDecision {
        var states = facts.states
        var register: [TableName] = []
        if states.isEmpty {
            register = facts.tables.filter { !facts.publicationMismatches.contains($0) }
            for table in register { states[table] = TableState(phase: .streaming) }
        }
        let pending = facts.tables.filter { states[$0].map { $0.phase == .resync || $0.phase == .copying } ?? true }
        let changed = facts.tables.filter { facts.publicationMismatches.contains($0) && states[$0]?.phase == .streaming }
        guard changed.isEmpty else {
            let names = changed.map(\.description)
            throw ForagerError(
                .replicationState,
                "publication \(SQL.quoteIdentifier(facts.publication)) does not publish the columns the mapping asks for \(names.joined(separator: ", ")) (exclude_columns or append_only changed); the pipeline has been streaming them as they were",
                hint:
                    "Resync those tables to apply the new mapping: forager resync --table \(names.joined(separator: " --table ")). Or undo the mapping change."
            )
        }
        return .resume(from: checkpoint, register: register, pending: pending, mustBeEmpty: pending.filter { states[$0] == nil })
    }

    /// Refuses a slot Forager cannot read from: another plugin's, one in use, or one whose WAL is gone.
    public static func checkUsable(_ slot: StartFacts.Slot, named slotName: String) throws(ForagerError) {
        let name = SQL.quoteIdentifier(slotName)
        guard slot.plugin == "pgoutput" else {
            throw ForagerError(
                .replicationState, "slot \(name) uses the plugin \(slot.plugin), not pgoutput",
                hint: "Choose another slot name in source.slot, or drop that slot if nothing else uses it.")
        }
        if let pid = slot.activePID {
            throw ForagerError(
                .replicationState, "slot \(name) is in use by another process (pid \(pid) on the source)",
                hint: "Stop the other Forager (or consumer) first; only one reader per slot is possible.")
        }
        if slot.walStatus == "lost" {
            throw ForagerError(
                .replicationState, "slot \(name) has been invalidated (wal_status = lost): the WAL it needed was removed",
                hint:
                    "The warehouse can no longer be caught up from this slot. Start over into the same tables: forager reset --yes, then forager run (docs/operations.md, 'Slot lost'). Raise max_slot_wal_keep_size on the source so that it does not happen again."
            )
        }
    }
}
