public import ForagerCore
import PostgresSource

/// The commands around the pipeline: resync requests, drop and reset.
extension Pipeline {
    /// Marks mapped tables for a new copy (`forager resync`); returns their names. A running
    /// pipeline takes the request within seconds; otherwise the next start does.
    public func requestResync(_ names: [String]) async throws -> [TableName] {
        var requested: [TableName] = []
        for name in names {
            do {
                requested.append(try TableName(parsing: name))
            } catch {
                throw ForagerError(
                    .schema, "--table \(name): \(error)", hint: "Write the source table as in SQL: schema.table, quoted where needed.")
            }
        }
        let source = try await connectSource()
        defer { source.connection.close() }
        let (mapped, problems) = try await resolveMappings(source)
        guard problems.isEmpty else { throw Problems(problems: problems) }
        let known = Set(mapped.map(\.source))
        for table in requested where !known.contains(table) {
            throw ForagerError(
                .schema, "\(table) is not a mapped table, so there is nothing to resync",
                hint:
                    "Mapped tables: \(mapped.map(\.source.description).sorted().joined(separator: ", ")). To add a table, add it to a mapping file: the next start copies it."
            )
        }
        let warehouse = try await connectWarehouse()
        defer { warehouse.close() }
        guard try await warehouse.checkpoint() != nil else {
            throw ForagerError(
                .replicationState,
                "the warehouse has no checkpoint for slot \(SQL.quoteIdentifier(configuration.source.slot)): nothing was copied yet",
                hint: "Run forager run or forager sync: the first start copies every mapped table.")
        }
        try await warehouse.requestResync(requested)
        return requested
    }

    /// `forager drop`: removes the slot and the pipeline's publications from the source, so that
    /// it retains no WAL for the pipeline; only says what it would remove unless `confirmed`.
    public func drop(confirmed: Bool) async throws -> (done: Bool, report: String) {
        let source = try await connectSource()
        defer { source.connection.close() }
        let (items, dropped) = try await dropOnSource(source, confirmed: confirmed)
        guard !items.isEmpty else {
            return (
                true,
                "nothing to drop: the source has no slot \(SQL.quoteIdentifier(configuration.source.slot)) and none of the pipeline's publications"
            )
        }
        guard dropped else {
            return (
                false,
                "would drop \(items.joined(separator: " and ")) on the source; the warehouse keeps its tables and checkpoint. Run again with --yes to drop them."
            )
        }
        return (
            true,
            "dropped \(items.joined(separator: " and ")); the warehouse keeps its tables and checkpoint (to start over into the same place, use forager reset instead)"
        )
    }

    /// `forager reset`: starts the pipeline over into the same warehouse tables, after a lost slot
    /// or a source failover. Drops the slot and publications like ``drop(confirmed:)``, forgets the
    /// warehouse checkpoint and marks every mapped table for a new copy: the next run or sync
    /// copies them afresh, replacing their rows. Only says what it would do unless `confirmed`.
    public func reset(confirmed: Bool) async throws -> (done: Bool, report: String) {
        let source = try await connectSource()
        defer { source.connection.close() }
        let mapped = try await resolveMappings(source).tables.map(\.source)
        let warehouse = try await connectWarehouse()
        defer { warehouse.close() }
        let checkpoint = try await warehouse.checkpoint()
        let names = mapped.map(\.description).joined(separator: ", ")
        let forget =
            checkpoint.map { "the warehouse checkpoint \($0) in \(warehouse.checkpointLocation)" }
            ?? "no warehouse checkpoint (there is none)"
        let (items, dropped) = try await dropOnSource(source, confirmed: confirmed)
        let onSource =
            items.isEmpty ? "nothing on the source (no slot or publication left)" : items.joined(separator: " and ") + " on the source"
        guard dropped || (confirmed && items.isEmpty) else {
            return (
                false,
                "would drop \(onSource), forget \(forget), and mark \(names) for a new copy, which the next forager run or sync makes, replacing their rows. Run again with --yes to do it."
            )
        }
        try await warehouse.forgetCheckpoint()
        // A warehouse that never held this pipeline's tables has no registry to mark them in.
        let states = try await warehouse.tableStates()
        if checkpoint != nil || !states.isEmpty {
            for table in mapped { try await warehouse.record(table, TableState(phase: .copying)) }
        }
        try lastRun.remove()
        return (
            true,
            "dropped \(onSource), forgot \(forget), and marked \(names) for a new copy: start forager run (or sync) to copy them afresh"
        )
    }

    /// Drops the slot and the pipeline's publications when `confirmed` (refusing while a process
    /// reads the slot); what there is to drop, and whether it was dropped.
    private func dropOnSource(_ source: PostgresSource, confirmed: Bool) async throws -> (items: [String], dropped: Bool) {
        let slot = try await source.slotState()
        let publications = try await source.existingPublications()
        let slotName = SQL.quoteIdentifier(configuration.source.slot)
        var items: [String] = []
        if let slot {
            let retained = slot.retainedBytes.map { ", retaining \($0) bytes of WAL" } ?? ""
            items.append("replication slot \(slotName)\(retained)")
        }
        items += publications.map { "publication \(SQL.quoteIdentifier($0))" }
        guard confirmed, !items.isEmpty else { return (items, false) }
        if let pid = slot?.activePID {
            throw ForagerError(
                .replicationState, "slot \(slotName) is in use by a running process (pid \(pid) on the source)",
                hint: "Stop that forager run first (SIGTERM), then try again.")
        }
        if slot != nil { try await source.dropSlot() }
        try await source.dropPublications()
        return (items, true)
    }
}
