import ClickHouseWarehouse
import ForagerConfig
import ForagerCore
import ForagerPipeline
import LibPQ
import Logging
import Metrics
import PGOutput
import PostgresSource
import PostgresWarehouse

/// Several problems found at once, printed one per line.
struct Problems: Error, CustomStringConvertible {
    var problems: [ForagerError]
    var description: String {
        problems.count == 1 ? problems[0].description
            : "\(problems.count) problems:\n" + problems.map { "- \($0)" }.joined(separator: "\n")
    }
}

/// Wires the concrete source and warehouse to the replicator, and decides between snapshot and
/// resume from the slot and the warehouse checkpoint.
struct Pipeline {
    enum Mode {
        /// Stream until stopped.
        case continuous
        /// Stop once the source's WAL position at start is applied.
        case catchUp
    }

    let configuration: ForagerConfiguration
    let logger: Logger
    let stop: StopSignal
    /// What `forager run` reports on /status and /metrics; nil for the one-shot commands.
    var status: PipelineStatus? = nil
    /// Values arrive as text whatever `source.binary` says: binary values failed in this pass.
    var textValues = false

    var sourceURL: ConnectionString { get throws { try ConnectionString(configuration.source.url) } }
    var warehouseURL: ConnectionString { get throws { try ConnectionString(configuration.warehouse.url) } }
    func requests(_ mapped: [ForagerConfiguration.TableMapping]) -> [PostgresSource.TableRequest] {
        mapped.map {
            PostgresSource.TableRequest(
                source: $0.source, target: TableName(schema: configuration.warehouse.schema, name: $0.target),
                location: "\($0.file):\($0.line)", appendOnly: $0.appendOnly)
        }
    }

    /// The path in `source.spill_dir` of what belongs to a stream on `slot`, named after the slot
    /// and the source server and database: two pipelines on one host may use one slot name
    /// against different sources.
    func localPath(for slot: String) throws -> String {
        let url = try sourceURL
        let source = ["host", "hostaddr", "port", "dbname"].map { url[$0] ?? "" }.joined(separator: "|")
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in source.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        return configuration.source.spillDirectory + "/" + slot + "-" + String(hash >> 32, radix: 16)
    }

    /// The spill for the transactions a stream on `slot` streams before they commit, in its own
    /// subdirectory of `source.spill_dir` (emptied: the source streams them again).
    func spill(for slot: String) throws -> StreamSpill {
        try StreamSpill(directory: try localPath(for: slot))
    }

    /// Where `forager run` records its start and its end, for `forager status` to read after the
    /// process is gone.
    var lastRun: LastRunRecord {
        get throws { LastRunRecord(path: try localPath(for: configuration.source.slot) + ".last-run.json") }
    }

    /// Whether to ask for the values of `tables` in binary: `source.binary`, not turned off for
    /// this pass, and a warehouse that stores them as they are. Logs why not, when not.
    func binaryValues(_ tables: [MappedTable], warehouse: any Warehouse) async throws -> Bool {
        guard configuration.source.binary, !textValues else { return false }
        guard let obstacle = try await warehouse.binaryValuesObstacle(for: tables) else { return true }
        logger.info("column values arrive as text", metadata: ["forager.reason": "\(obstacle)"])
        return false
    }

    /// The batcher's limits, from `batch:`.
    var batchLimits: ChangeBatcher.Limits {
        ChangeBatcher.Limits(maxRows: configuration.batch.maxRows, maxBytes: configuration.batch.maxBytes, maxAge: configuration.batch.maxAge)
    }

    /// Opens the source for queries (not for replication).
    func connectSource() async throws -> PostgresSource {
        try await PostgresSource.connect(
            sourceURL, publication: configuration.source.publication, slot: configuration.source.slot, logger: logger)
    }

    /// Opens the configured warehouse.
    func connectWarehouse() async throws -> any Warehouse {
        switch configuration.warehouse.type {
        case .postgres:
            try await PostgresWarehouse.connect(
                warehouseURL, schema: configuration.warehouse.schema, slot: configuration.source.slot, logger: logger)
        case .clickhouse:
            try await ClickHouseWarehouse.connect(
                url: configuration.warehouse.url, database: configuration.warehouse.schema, user: configuration.warehouse.user,
                password: configuration.warehouse.password, compress: configuration.warehouse.compress,
                caFile: configuration.warehouse.caFile, cluster: configuration.warehouse.cluster,
                insertQuorum: configuration.warehouse.insertQuorum, sharding: configuration.warehouse.sharding,
                slot: configuration.source.slot, logger: logger)
        }
    }

    /// The mapped tables: exact entries, and the source tables that pattern entries select.
    func resolveMappings(_ source: PostgresSource) async throws -> (tables: [ForagerConfiguration.TableMapping], problems: [ForagerError]) {
        guard !configuration.tablePatterns.isEmpty else { return (configuration.tables, []) }
        return configuration.resolveTables(sourceTables: try await source.tableNames())
    }

    /// Runs until stopped, reconnecting after transient failures with exponential backoff and
    /// jitter, forever; permanent failures are thrown. Each attempt is logged and counted.
    func runForever() async throws {
        let status = self.status
        var backoff = Backoff(base: .seconds(1), cap: .seconds(30))
        while !stop.isSet {
            do {
                let resync = ResyncRequest()
                _ = try await runOnce(mode: .continuous, resync: resync)
                guard resync.isRequested else { return }
                logger.notice("a table resync was requested; restarting the stream to copy it")
                backoff.reset()
                continue
            } catch {
                let kind = failureKind(error)
                Counter(label: ForagerMetrics.errors, dimensions: [("kind", kind)]).increment()
                guard Self.isTransient(error), !stop.isSet else {
                    status?.failed(error, kind: kind, retryIn: nil, attempt: backoff.attempt)
                    if stop.isSet, Self.isTransient(error) { return }
                    throw error
                }
                // A run that got as far as streaming starts the backoff over.
                if status?.phase == .streaming { backoff.reset() }
                let wait = backoff.next()
                status?.failed(error, kind: kind, retryIn: wait, attempt: backoff.attempt)
                Counter(label: ForagerMetrics.reconnects, dimensions: [("kind", kind)]).increment()
                logger.warning("\(kind) failed; retrying", metadata: [
                    "forager.error": "\(error)", "forager.attempt": "\(backoff.attempt)",
                    "forager.retry_in": "\(Int(wait.seconds * 1000)) ms",
                ])
                let deadline = ContinuousClock.now + wait
                while !stop.isSet && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
            }
        }
    }

    /// Catches up with the source's WAL position at the start of each pass and returns the final
    /// checkpoint. A table marked for a new copy meanwhile (by `forager resync`, or because rows
    /// older than a column added on the source need the source's values) is copied, and the
    /// catch-up runs again.
    func syncUntilCaughtUp() async throws -> LSN {
        var passes = 1
        while true {
            let resync = ResyncRequest()
            let lsn = try await runOnce(mode: .catchUp, resync: resync)
            guard !stop.isSet, passes < Self.syncPasses, resync.isRequested else { return lsn }
            passes += 1
            logger.notice("a table resync was requested; copying it and catching up again")
        }
    }

    /// The most passes one `forager sync` makes: a copy asked for in every pass would never end.
    static let syncPasses = 4

    /// True when trying again may succeed: lost or refused connections, servers restarting or
    /// overloaded, a stream the server ended. Everything else needs a person.
    static func isTransient(_ error: any Error) -> Bool {
        switch error {
        case let error as PGError: error.isTransient
        case let error as ForagerError: error.isTransient
        default: false
        }
    }

    /// Where a failure happened or what it is about, for `forager_errors_total{kind}` and the status.
    func failureKind(_ error: any Error) -> String {
        switch error {
        case let error as PGError:
            let warehouseEndpoint = configuration.warehouse.type == .postgres ? (try? warehouseURL)?.description : nil
            return warehouseEndpoint.map { error.context.hasSuffix($0) } == true ? "warehouse" : "source"
        case let error as ForagerError:
            return error.code.description.replacingOccurrences(of: " ", with: "_")
        case is Problems:
            return "setup"
        default:
            return "other"
        }
    }

    /// One pass: preflight, snapshot or resume (copying tables that are new or asked to be
    /// resynced), stream. Returns the final acknowledged checkpoint. With `resync`, the stream also
    /// ends (and `resync` is set) when `forager resync` asks for a table's copy.
    func runOnce(mode: Mode, resync: ResyncRequest? = nil) async throws -> LSN {
        do {
            return try await attempt(mode: mode, resync: resync)
        } catch let error as ForagerError where error.code == .binaryValues && !textValues {
            // Nothing of the failed batch was committed or acknowledged: start again in text.
            logger.notice("starting the stream again with column values in text", metadata: ["forager.reason": "\(error.message)"])
            var text = self
            text.textValues = true
            return try await text.attempt(mode: mode, resync: resync)
        }
    }

    private func attempt(mode: Mode, resync: ResyncRequest?) async throws -> LSN {
        status?.enter(.starting)
        let source = try await connectSource()
        defer { source.connection.close() }
        let setupProblems = try await source.setupProblems()
        guard setupProblems.isEmpty else { throw Problems(problems: setupProblems) }
        let (mapped, mappingProblems) = try await resolveMappings(source)
        guard mappingProblems.isEmpty else { throw Problems(problems: mappingProblems) }
        let (described, tableProblems) = try await describeTables(source, mapped)
        guard tableProblems.isEmpty else { throw Problems(problems: tableProblems) }

        let warehouse = try await connectWarehouse()
        defer { warehouse.close() }
        let tables = try await leavingOutUnpublishedColumns(described, source: source, established: { try await establishedTables(warehouse) })
        let mappings = requests(mapped)
        await warehouse.setColumnResolver { table, names in
            let described = try await source.describe(mappings.filter { $0.source == table }).tables.first
            return described?.columns.filter { names.contains($0.name) } ?? []
        }
        let warehouseProblems = try await warehouse.prepare(tables: tables, create: true)
        guard warehouseProblems.isEmpty else { throw Problems(problems: warehouseProblems) }

        let target: LSN? = mode == .catchUp ? try await source.committedWALPosition() : nil
        let replication = try await ReplicationConnection.connect(sourceURL)
        defer { replication.connection.close() }
        let (start, pending) = try await startingPoint(source: source, warehouse: warehouse, replication: replication, tables: tables)
        guard !stop.isSet else { return start }
        status?.committed(start)
        ForagerMetrics.recordCheckpoint(start)
        let states = try await warehouse.tableStates()
        let stopped = Set(states.filter { $0.value.phase == .stopped }.keys)
        for table in tables where stopped.contains(table.source) {
            logger.warning("table is stopped; its changes are not applied until it is resynced", metadata: [
                "forager.table": "\(table.source)", "forager.reason": "\(states[table.source]?.reason ?? "")",
                "forager.fix": "forager resync --table \(table.source)",
            ])
        }
        await warehouse.setStopped(stopped)
        status?.tablesStopped(stopped)

        logger.info("streaming", metadata: [
            "forager.slot": "\(configuration.source.slot)", "forager.lsn": "\(start)",
            "forager.until": "\(target.map(\.description) ?? "stopped")",
        ])
        let binary = try await binaryValues(tables, warehouse: warehouse)
        let format = try await replication.startStreaming(
            slot: configuration.source.slot, publications: source.publications(for: tables), from: start, streamTransactions: true, binary: binary)
        await warehouse.setBinaryValues(format.binaryValues)
        if format.binaryValues {
            logger.info("column values arrive in binary and are stored as received")
        } else if binary {
            logger.info("column values arrive as text: the source is older than PostgreSQL 14")
        }
        status?.enter(.streaming)
        let stop = self.stop
        // Tables being copied are skipped until the copy hands them over.
        var syncPoints = states.compactMapValues { $0.syncedAt }
        for table in pending { syncPoints[table.source] = LSN(UInt64.max) }
        let copyFailed = ResyncRequest()
        var replicator = Replicator(
            stream: replication, sink: WarehouseHandle(warehouse: warehouse, status: status),
            batcher: ChangeBatcher(tables: tables, limits: batchLimits, checkpoint: start, syncPoints: syncPoints, stopped: stopped),
            mode: target.map { .until($0) } ?? .continuous, logger: logger,
            shouldStop: { stop.isSet || copyFailed.isRequested })
        if format.streamsTransactions { replicator.spill = try spill(for: configuration.source.slot) }
        let gate = TransactionGate()
        replicator.gate = pending.isEmpty ? nil : gate
        if let status { replicator.onDurable = { status.committed($0) } }
        // Polled on a connection of its own: the warehouse connection may be in the middle of a COPY.
        let monitor = resync == nil ? nil : try await connectWarehouse()
        defer { monitor?.close() }
        if let resync, let monitor {
            replicator.interruption = {
                guard try await monitor.hasResyncRequests(among: tables) else { return false }
                resync.set()
                return true
            }
        }
        let copier = pending.isEmpty ? nil : Task {
            do {
                try await copyBesideStream(pending, states: states, all: tables, gate: gate)
            } catch {
                copyFailed.set()
                gate.release()
                throw error
            }
        }
        let final: LSN
        do {
            final = try await replicator.run()
        } catch {
            copier?.cancel()
            _ = await copier?.result
            throw error
        }
        try await copier?.value
        if mode == .catchUp, let resync, !resync.isRequested, try await warehouse.hasResyncRequests(among: tables) {
            // Marked in the last batch, after the stream last looked.
            resync.set()
        }
        logger.info("stopped; warehouse checkpoint acknowledged", metadata: ["forager.lsn": "\(final)"])
        return final
    }

    /// Carries out the start decision (``StartDecision``): resume from the warehouse checkpoint, or
    /// create the slot and take the initial snapshot. Also returns the tables to copy beside the
    /// stream.
    private func startingPoint(
        source: PostgresSource, warehouse: any Warehouse, replication: ReplicationConnection, tables: [MappedTable]
    ) async throws -> (LSN, pending: [MappedTable]) {
        let checkpoint = try await warehouse.checkpoint()
        let slot = try await source.slotState()
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
                logger.notice("slot exists but no snapshot was completed; dropping it to start the snapshot again", metadata: ["forager.slot": "\(configuration.source.slot)"])
            }
            try await requireEmpty(warehouse: warehouse, tables: tables)
            if dropSlot { try await source.dropSlot() }
        }
        try await source.ensurePublication(for: tables)
        return (try await snapshot(source: source, warehouse: warehouse, replication: replication, tables: tables), [])
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

    /// The mapped tables as the source describes them, with the mapping's options applied, and every
    /// problem: source-side ones and mapping entries that do not fit the table (with file and line).
    func describeTables(
        _ source: PostgresSource, _ mapped: [ForagerConfiguration.TableMapping]
    ) async throws -> (tables: [MappedTable], problems: [ForagerError]) {
        var (tables, problems) = try await source.describe(requests(mapped))
        for index in tables.indices {
            guard let mapping = mapped.first(where: { $0.source == tables[index].source }) else { continue }
            tables[index].deletes = mapping.deletes
            let names = tables[index].columns.map(\.name)
            for column in mapping.excludeColumns where !names.contains(column) {
                problems.append(ForagerError(
                    .schema, "\(mapping.file):\(mapping.line): exclude_columns names \(SQL.quoteIdentifier(column)), which \(mapping.source) does not have",
                    hint: "Columns of \(mapping.source): \(names.joined(separator: ", ")). Fix the name (case matters) or remove it."))
            }
            for column in mapping.excludeColumns where tables[index].keyColumns.contains(column) {
                problems.append(ForagerError(
                    .schema, "\(mapping.file):\(mapping.line): exclude_columns names \(SQL.quoteIdentifier(column)), part of the primary key of \(mapping.source)",
                    hint: "Forager needs every primary-key column to apply updates and deletes; remove it from exclude_columns."))
            }
            if tables[index].replicaIdentityFull, tables[index].identity != .appendOnly, !mapping.excludeColumns.isEmpty {
                problems.append(ForagerError(
                    .schema, "\(mapping.file):\(mapping.line): \(mapping.source) has REPLICA IDENTITY FULL, so its publication must send every column, but exclude_columns leaves some out (PostgreSQL would then refuse UPDATE and DELETE on the table)",
                    hint: "Give the table a primary key and set REPLICA IDENTITY DEFAULT, or remove exclude_columns."))
            }
            tables[index].excludedColumns = mapping.excludeColumns
            tables[index].columns.removeAll { mapping.excludeColumns.contains($0.name) }
            for (column, _) in mapping.renameColumns.sorted(by: { $0.key < $1.key }) where !names.contains(column) {
                problems.append(ForagerError(
                    .schema, "\(mapping.file):\(mapping.line): rename_columns names \(SQL.quoteIdentifier(column)), which \(mapping.source) does not have",
                    hint: "Columns of \(mapping.source): \(names.joined(separator: ", ")). Fix the name (case matters) or remove it."))
            }
            tables[index].renames = mapping.renameColumns
            for (column, type) in mapping.types.sorted(by: { $0.key < $1.key }) {
                guard let position = tables[index].columns.firstIndex(where: { $0.name == column }) else {
                    problems.append(ForagerError(
                        .schema, "\(mapping.file):\(mapping.line): types names \(SQL.quoteIdentifier(column)), which \(mapping.source) does not publish",
                        hint: "Columns of \(mapping.source): \(tables[index].columns.map(\.name).joined(separator: ", "))."))
                    continue
                }
                tables[index].columns[position].overriddenType = tables[index].columns[position].sqlType
                tables[index].columns[position].sqlType = type
                tables[index].columns[position].binaryCompatible = false
            }
            for extract in mapping.extracts {
                guard let from = tables[index].columns.first(where: { $0.name == extract.from }) else {
                    problems.append(ForagerError(
                        .schema, "\(mapping.file):\(mapping.line): extract \(SQL.quoteIdentifier(extract.column)) reads from \(SQL.quoteIdentifier(extract.from)), which \(mapping.source) does not publish",
                        hint: "Name a json or jsonb column of \(mapping.source) in from."))
                    continue
                }
                if from.sqlType != "json" && from.sqlType != "jsonb" {
                    problems.append(ForagerError(
                        .schema, "\(mapping.file):\(mapping.line): extract \(SQL.quoteIdentifier(extract.column)) reads from \(SQL.quoteIdentifier(extract.from)), which is \(from.sqlType), not json or jsonb",
                        hint: "Extract only from json or jsonb columns."))
                }
            }
            tables[index].extracts = mapping.extracts
            tables[index].keepJSON = mapping.keepJSON
            if !mapping.keepJSON, tables[index].identity == .fullRow {
                problems.append(ForagerError(
                    .schema, "\(mapping.file):\(mapping.line): keep_json: false needs rows with a key, but \(mapping.source) is matched by all its values",
                    hint: "Give the table a primary key, or keep the json columns."))
            }
            let warehouseNames = tables[index].columns.map { tables[index].warehouseName(of: $0.name) } + mapping.extracts.map(\.column)
            for name in Set(warehouseNames) where warehouseNames.filter({ $0 == name }).count > 1 {
                problems.append(ForagerError(
                    .schema, "\(mapping.file):\(mapping.line): two columns of \(mapping.source) would both be called \(SQL.quoteIdentifier(name)) in the warehouse",
                    hint: "Rename one of them to a name no other column of the table has, in rename_columns."))
            }
            tables[index].layout = mapping.layout
            for problem in mapping.layout.problems(columns: warehouseNames, key: tables[index].warehouseKey) {
                problems.append(ForagerError(.schema, "\(mapping.file):\(mapping.line): \(mapping.source): \(problem)"))
            }
        }
        return (tables, problems)
    }
}
