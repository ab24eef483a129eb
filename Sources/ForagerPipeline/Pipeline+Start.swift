import ForagerCore
import PGOutput
import PostgresSource

/// Where a pass starts: the start decision (``StartDecision``) carried out.
extension Pipeline {
    /// Carries out the start decision (``StartDecision``): resume from the warehouse checkpoint, or
    /// create the slot and take the initial snapshot. Also returns the tables to copy beside the
    /// stream.
    func startingPoint(
        source: PostgresSource, warehouse: any Warehouse, replication: ReplicationConnection, tables: [MappedTable]
    ) async throws -> (LSN, pending: [MappedTable]) {
        let checkpoint = try await warehouse.checkpoint()
        let slot = try await slotStateOnceReleased(source)
        var facts = StartFacts(
            slotName: configuration.source.slot, publication: configuration.source.publication, slot: slot.map(Self.facts),
            checkpoint: checkpoint, tables: tables.map(\.source))
        if slot != nil, checkpoint != nil {
            facts.states = try await warehouse.tableStates()
            facts.publicationMismatches = Set(try await source.publicationMismatches(for: tables).map(\.source))
        }
        let mapped = { (names: [TableName]) in tables.filter { names.contains($0.source) } }
        switch try StartDecision.decide(facts) {
        case .resume(let checkpoint, let register, let pending, let mustBeEmpty):
            for table in register { try await warehouse.record(table, TableState(phase: .streaming)) }
            logger.info("resuming from warehouse checkpoint", metadata: ["forager.lsn": "\(checkpoint)"])
            try await requireEmpty(warehouse: warehouse, tables: mapped(mustBeEmpty))
            return (checkpoint, mapped(pending))
        case .snapshot(let dropSlot):
            if dropSlot {
                logger.notice(
                    "slot exists but no snapshot was completed; dropping it to start the snapshot again",
                    metadata: ["forager.slot": "\(configuration.source.slot)"])
            }
            try await requireEmpty(warehouse: warehouse, tables: tables)
            if dropSlot { try await source.dropSlot() }
        }
        try await source.ensurePublication(for: tables)
        return (try await snapshot(source: source, warehouse: warehouse, replication: replication, tables: tables), [])
    }

    /// The slot's state, once a process that holds it has let go, or after five seconds: a reader
    /// that was just killed (a crash, a restart by a supervisor) holds the slot until its walsender
    /// on the source notices, usually within moments, and a start that came too soon would be
    /// refused. A slot still in use after that is refused by the start decision.
    func slotStateOnceReleased(_ source: PostgresSource) async throws -> PostgresSource.SlotState? {
        let deadline = ContinuousClock.now + .seconds(5)
        var slot = try await source.slotState()
        if let pid = slot?.activePID {
            logger.info(
                "the slot is in use; waiting up to 5 s for its reader to let go",
                metadata: [
                    "forager.slot": "\(configuration.source.slot)", "forager.pid": "\(pid)",
                ])
        }
        while slot?.activePID != nil, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            slot = try await source.slotState()
        }
        return slot
    }

    /// What the start decision needs of a slot.
    static func facts(_ slot: PostgresSource.SlotState) -> StartFacts.Slot {
        StartFacts.Slot(plugin: slot.plugin, activePID: slot.activePID, walStatus: slot.walStatus)
    }

    /// Refuses to load tables that hold rows Forager did not put there. Rows of a copy that was
    /// interrupted (recorded as `copying`: a warehouse without transactions keeps them) are
    /// dropped with the table, which is made anew.
    func requireEmpty(warehouse: any Warehouse, tables: [MappedTable]) async throws {
        let states = try await warehouse.tableStates()
        for table in tables where states[table.source]?.phase == .copying {
            logger.notice("dropping the rows of an interrupted copy", metadata: ["forager.table": "\(table.target)"])
            try await warehouse.replaceTable(table)
        }
        let filled = try await warehouse.nonEmptyTables(tables)
        guard filled.isEmpty else {
            throw ForagerError(
                .replicationState,
                "warehouse tables \(filled.map(\.description).joined(separator: ", ")) already hold rows, but there is no checkpoint for slot \(SQL.quoteIdentifier(configuration.source.slot)); loading a snapshot on top would double them",
                hint: "Empty those tables (or use another warehouse.schema) and run Forager again.")
        }
    }
}
