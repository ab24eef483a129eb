import ClickHouseWarehouse
import ForagerConfig
import ForagerCore
import ForagerPipeline
import LibPQ
import Logging
import PGOutput
import PostgresSource
import PostgresWarehouse

/// The commands around the pipeline: resync requests, drop, reset and the preflight check.
extension Pipeline {
    /// Marks mapped tables for a new copy (`forager resync`); returns their names. A running
    /// pipeline takes the request within seconds; otherwise the next start does.
    func requestResync(_ names: [String]) async throws -> [TableName] {
        var requested: [TableName] = []
        for name in names {
            do {
                requested.append(try TableName(parsing: name))
            } catch {
                throw ForagerError(.schema, "--table \(name): \(error)", hint: "Write the source table as in SQL: schema.table, quoted where needed.")
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
                hint: "Mapped tables: \(mapped.map(\.source.description).sorted().joined(separator: ", ")). To add a table, add it to a mapping file: the next start copies it.")
        }
        let warehouse = try await connectWarehouse()
        defer { warehouse.close() }
        guard try await warehouse.checkpoint() != nil else {
            throw ForagerError(
                .replicationState, "the warehouse has no checkpoint for slot \(SQL.quoteIdentifier(configuration.source.slot)): nothing was copied yet",
                hint: "Run forager run or forager sync: the first start copies every mapped table.")
        }
        try await warehouse.requestResync(requested)
        return requested
    }

    /// `forager drop`: removes the slot and the pipeline's publications from the source, so that
    /// it retains no WAL for the pipeline; only says what it would remove unless `confirmed`.
    func drop(confirmed: Bool) async throws -> (done: Bool, report: String) {
        let source = try await connectSource()
        defer { source.connection.close() }
        let (items, dropped) = try await dropOnSource(source, confirmed: confirmed)
        guard !items.isEmpty else { return (true, "nothing to drop: the source has no slot \(SQL.quoteIdentifier(configuration.source.slot)) and none of the pipeline's publications") }
        guard dropped else {
            return (false, "would drop \(items.joined(separator: " and ")) on the source; the warehouse keeps its tables and checkpoint. Run again with --yes to drop them.")
        }
        return (true, "dropped \(items.joined(separator: " and ")); the warehouse keeps its tables and checkpoint (to start over into the same place, use forager reset instead)")
    }

    /// `forager reset`: starts the pipeline over into the same warehouse tables, after a lost slot
    /// or a source failover. Drops the slot and publications like ``drop(confirmed:)``, forgets the
    /// warehouse checkpoint and marks every mapped table for a new copy: the next run or sync
    /// copies them afresh, replacing their rows. Only says what it would do unless `confirmed`.
    func reset(confirmed: Bool) async throws -> (done: Bool, report: String) {
        let source = try await connectSource()
        defer { source.connection.close() }
        let mapped = try await resolveMappings(source).tables.map(\.source)
        let warehouse = try await connectWarehouse()
        defer { warehouse.close() }
        let checkpoint = try await warehouse.checkpoint()
        let names = mapped.map(\.description).joined(separator: ", ")
        let forget = checkpoint.map { "the warehouse checkpoint \($0) in \(warehouse.checkpointLocation)" } ?? "no warehouse checkpoint (there is none)"
        let (items, dropped) = try await dropOnSource(source, confirmed: confirmed)
        let onSource = items.isEmpty ? "nothing on the source (no slot or publication left)" : items.joined(separator: " and ") + " on the source"
        guard dropped || (confirmed && items.isEmpty) else {
            return (false, "would drop \(onSource), forget \(forget), and mark \(names) for a new copy, which the next forager run or sync makes, replacing their rows. Run again with --yes to do it.")
        }
        try await warehouse.forgetCheckpoint()
        // A warehouse that never held this pipeline's tables has no registry to mark them in.
        let states = try await warehouse.tableStates()
        if checkpoint != nil || !states.isEmpty {
            for table in mapped { try await warehouse.record(table, TableState(phase: .copying)) }
        }
        try lastRun.remove()
        return (true, "dropped \(onSource), forgot \(forget), and marked \(names) for a new copy: start forager run (or sync) to copy them afresh")
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

    /// Everything `forager check` looks at, without creating or changing anything: the problems
    /// found, warnings (which do not fail the check), notes on how Forager will work, and how many
    /// tables are mapped.
    func check() async -> (tables: Int, problems: [String], warnings: [String], notes: [String]) {
        var problems: [String] = []
        var warnings: [String] = []
        var notes: [String] = []
        var count = configuration.tables.count
        do {
            let source = try await connectSource()
            defer { source.connection.close() }
            problems += try await source.setupProblems().map(\.description)
            warnings += try await source.setupWarnings()
            let (mapped, mappingProblems) = try await resolveMappings(source)
            problems += mappingProblems.map(\.description)
            count = mapped.count
            let (tables, tableProblems) = try await describeTables(source, mapped)
            problems += tableProblems.map(\.description)
            if let slot = try await source.slotState() {
                do { try StartDecision.checkUsable(Self.facts(slot), named: configuration.source.slot) } catch { problems.append("\(error)") }
            }
            do {
                let warehouse = try await connectWarehouse()
                defer { warehouse.close() }
                problems += try await warehouse.prepare(tables: tables, create: false).map(\.description)
                notes.append(try await valuesNote(tables, source: source, warehouse: warehouse))
                warnings += try await snapshotConnectionsWarning(source: source, warehouse: warehouse)
                let states = try await warehouse.tableStates()
                for table in tables {
                    guard let state = states[table.source], state.phase == .stopped else { continue }
                    problems.append("table \(table.source) is stopped: \(state.reason ?? "no reason recorded")\nFIX: forager resync --table \(table.source)")
                }
            } catch {
                problems.append("warehouse: \(error)")
            }
        } catch {
            problems.append("source: \(error)")
        }
        return (count, problems, warnings, notes)
    }

    /// A warning when the initial snapshot would copy over fewer connections than
    /// `snapshot.parallelism`, because the source or the warehouse has fewer free for Forager's role.
    private func snapshotConnectionsWarning(source: PostgresSource, warehouse: any Warehouse) async throws -> [String] {
        let parallelism = configuration.snapshotParallelism
        // A snapshot also holds the replication connection and a reader on the source.
        let sourceFree = try await source.connection.freeConnections() - 2
        let warehouseFree = try await warehouse.freeConnections()
        let free = min(sourceFree, warehouseFree)
        guard free < parallelism else { return [] }
        let server = sourceFree <= warehouseFree ? "source" : "warehouse"
        return ["""
            a snapshot would copy over \(max(1, free)) connection(s), not snapshot.parallelism \(parallelism): the \(server) has only \(max(0, free)) free for Forager's role
            FIX: raise max_connections or the role's CONNECTION LIMIT on the \(server), or set snapshot.parallelism to \(max(1, free))
            """]
    }

    /// How column values will arrive, and why when in text.
    private func valuesNote(_ tables: [MappedTable], source: PostgresSource, warehouse: any Warehouse) async throws -> String {
        guard configuration.source.binary else { return "column values will arrive as text (source.binary is false)" }
        guard try await source.connection.serverVersion() >= 140000 else {
            return "column values will arrive as text: the source is older than PostgreSQL 14"
        }
        if let obstacle = try await warehouse.binaryValuesObstacle(for: tables) {
            return "column values will arrive as text, because \(obstacle)"
        }
        return "column values will arrive in binary and be stored as received"
    }
}
