import ForagerConfig
import ForagerCore
import PostgresSource
import WallClock

/// `forager status`, and the warehouse's part of a running process's `/status`.
extension Pipeline {
    /// Asks the running `forager run` at host and port for its `/status`; nil when nothing answers.
    public typealias ProcessReportFetch = @Sendable (_ host: String, _ port: Int) async -> PipelineStatus.Report?

    /// Reads the state of the pipeline without changing anything: no slot is created, no table
    /// touched; a running `forager run` is asked over its HTTP endpoint with `fetch`.
    public func statusReport(askingProcess fetch: ProcessReportFetch) async -> StatusOutput {
        var output = StatusOutput()
        let (mapped, slot) = await readSource(into: &output)
        output.add(await readWarehouse(mapped: mapped))
        if output.sourceError == nil {
            output.noteSlot(exists: slot != nil, walStatus: slot?.walStatus, named: configuration.source.slot)
        }
        if let address = configuration.metrics.listen {
            let report = await fetch(address.host, address.port)
            output.add(process: report, endpoint: "\(address.host):\(address.port)", slot: configuration.source.slot)
        }
        if output.process == nil, let run = (try? lastRun)?.read() {
            output.add(lastRun: run, alive: run.endedAt == nil ? run.isAlive : nil)
        }
        return output
    }

    /// The source's side of the status: its WAL position and the slot, in `output`; returns the
    /// mapped tables (patterns resolved when the source answers) and the slot.
    private func readSource(
        into output: inout StatusOutput
    ) async -> (mapped: [(source: TableName, target: String)], slot: PostgresSource.SlotState?) {
        var mapped = configuration.tables.map { (source: $0.source, target: $0.target) }
        var slot: PostgresSource.SlotState?
        do {
            let source = try await connectSource()
            defer { source.connection.close() }
            slot = try await source.slotState()
            output.sourceLsn = try await source.currentWALWritePosition().description
            if !configuration.tablePatterns.isEmpty {
                mapped = configuration.resolveTables(sourceTables: try await source.tableNames()).tables.map { ($0.source, $0.target) }
            }
            output.slot = PipelineStatus.Report.Slot(name: configuration.source.slot, state: slot, readAt: UnixTime.now)
        } catch {
            output.sourceError = Redaction.apply("\(error)")
            output.attention.append("cannot read the source: \(output.sourceError ?? "")")
        }
        return (mapped, slot)
    }

    /// The warehouse's side of the status: its checkpoint, and each mapped table's recorded state
    /// and row count. Reads only.
    func readWarehouse(mapped: [(source: TableName, target: String)]) async -> WarehouseReading {
        var reading = WarehouseReading(tables: [], readAt: UnixTime.now)
        do {
            let warehouse = try await connectWarehouse()
            defer { warehouse.close() }
            reading.checkpointLsn = try await warehouse.checkpoint()?.description
            let states = try await warehouse.tableStates()
            let targets = mapped.map { TableName(schema: configuration.warehouse.schema, name: $0.target) }
            let counts = try await warehouse.rowCounts(targets)
            for (table, target) in zip(mapped, targets) {
                let state = states[table.source]
                reading.tables.append(
                    WarehouseReading.Table(
                        source: table.source.description, target: target.description, state: state?.phase.rawValue ?? "not_copied",
                        rows: counts[target], syncedAt: state?.syncedAt?.description, reason: state?.reason))
            }
        } catch {
            reading.error = Redaction.apply("\(error)")
        }
        reading.readAt = UnixTime.now
        return reading
    }

    /// ``readWarehouse(mapped:)`` for the running process's `/status`: the mapping's tables, with
    /// patterns resolved on the source.
    public func readWarehouseForStatus() async -> WarehouseReading {
        var mapped = configuration.tables.map { (source: $0.source, target: $0.target) }
        if !configuration.tablePatterns.isEmpty {
            do {
                let source = try await connectSource()
                defer { source.connection.close() }
                mapped = configuration.resolveTables(sourceTables: try await source.tableNames()).tables.map { ($0.source, $0.target) }
            } catch {
                return WarehouseReading(
                    tables: [], error: "cannot resolve the mapping's table patterns on the source: \(Redaction.apply("\(error)"))",
                    readAt: UnixTime.now)
            }
        }
        return await readWarehouse(mapped: mapped)
    }
}
