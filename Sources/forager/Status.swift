import ArgumentParser
import AsyncHTTPClient
import ForagerConfig
import ForagerCore
import Foundation
import LibPQ
import NIOCore
import PGOutput
import PostgresSource

/// The warehouse's checkpoint and the mapped tables as the warehouse records them, read at `readAt`
/// (Unix time); `error` when the warehouse could not be read.
struct WarehouseReading: Codable, Sendable {
    struct Table: Codable, Sendable {
        var source: String
        var target: String
        /// streaming, stopped, resync, copying, or not_copied (the warehouse has no record yet).
        var state: String
        var rows: Int?
        var syncedAt: String?
        var reason: String?
    }
    var checkpointLsn: String?
    var tables: [Table]
    var error: String?
    var readAt: Double
}

/// What `forager status` prints: the slot as the source sees it, the warehouse's checkpoint and
/// tables, and what the running `forager run` reports about itself, if one answers.
struct StatusOutput: Codable, Sendable {
    var slot: PipelineStatus.Report.Slot?
    var sourceLsn: String?
    var sourceError: String?
    var checkpointLsn: String?
    var warehouseError: String?
    var lagBytes: Int64?
    /// From the running process (heartbeats); nil when none answers or heartbeats are off.
    var lagSeconds: Double?
    var tables: [WarehouseReading.Table]
    /// Where the running process was asked, and its answer.
    var processEndpoint: String?
    var process: PipelineStatus.Report?
    var lastError: PipelineStatus.Report.Failure?
    /// What the last `forager run` recorded, when no running process answered.
    var lastRun: LastRunRecord.Run?
    /// Whether the process of `lastRun` still runs on this machine (nil when it recorded its end).
    var lastRunAlive: Bool?
    /// What needs a person, one line each; empty when all is well.
    var attention: [String]
}

extension Pipeline {
    /// Reads the state of the pipeline without changing anything: no slot is created, no table
    /// touched; a running `forager run` is asked over its HTTP endpoint.
    func statusReport() async -> StatusOutput {
        var output = StatusOutput(tables: [], attention: [])
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
        let warehouse = await readWarehouse(mapped: mapped)
        output.checkpointLsn = warehouse.checkpointLsn
        output.tables = warehouse.tables
        output.warehouseError = warehouse.error
        if let error = warehouse.error {
            output.attention.append("cannot read the warehouse: \(error)")
        }
        for table in warehouse.tables where table.state == TableState.Phase.stopped.rawValue {
            output.attention.append("table \(table.source) is stopped: \(table.reason ?? "no reason recorded"); run forager resync --table \(table.source)")
        }
        let checkpoint = warehouse.checkpointLsn.flatMap { LSN(string: $0) }
        output.lagBytes = PipelineStatus.lagBytes(source: output.sourceLsn.flatMap { LSN(string: $0) }, checkpoint: checkpoint)
        if output.sourceError == nil {
            if slot == nil {
                output.attention.append("the source has no slot \(configuration.source.slot): nothing is retained for this pipeline; the next forager run creates it and copies every table")
            } else if slot?.walStatus == "lost" {
                output.attention.append("slot \(configuration.source.slot) was invalidated (wal_status = lost); see docs/operations.md, 'Slot lost'")
            }
        }
        if let address = configuration.metrics.listen {
            output.processEndpoint = "\(address.host):\(address.port)"
            let report = await Self.fetchProcessReport(host: address.host, port: address.port)
            if let report, report.pipelineSlot != configuration.source.slot {
                output.attention.append("the process answering at \(address.host):\(address.port) runs the pipeline of slot \(report.pipelineSlot), not \(configuration.source.slot): give each pipeline its own metrics.listen")
            } else {
                output.process = report
                output.lagSeconds = report?.lagSeconds
                output.lastError = report?.lastError
            }
        }
        if output.process == nil, let run = (try? lastRun)?.read() {
            output.lastRun = run
            output.lastError = run.error
            if run.endedAt == nil {
                output.lastRunAlive = run.isAlive
                if !run.isAlive {
                    output.attention.append("the last forager run (pid \(run.pid)) recorded no end: it was killed; look at its log, then start forager run again")
                }
            } else if run.error != nil {
                output.attention.append("the last forager run stopped with the error shown as its last error; fix its cause and start forager run again")
            }
        }
        return output
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
                reading.tables.append(WarehouseReading.Table(
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
    func readWarehouseForStatus() async -> WarehouseReading {
        var mapped = configuration.tables.map { (source: $0.source, target: $0.target) }
        if !configuration.tablePatterns.isEmpty {
            do {
                let source = try await connectSource()
                defer { source.connection.close() }
                mapped = configuration.resolveTables(sourceTables: try await source.tableNames()).tables.map { ($0.source, $0.target) }
            } catch {
                return WarehouseReading(tables: [], error: "cannot resolve the mapping's table patterns on the source: \(Redaction.apply("\(error)"))", readAt: UnixTime.now)
            }
        }
        return await readWarehouse(mapped: mapped)
    }

    /// The running process's `/status`, or nil when nothing answers there.
    static func fetchProcessReport(host: String, port: Int) async -> PipelineStatus.Report? {
        let hostPart = host.contains(":") ? "[\(host)]" : host
        var request = HTTPClientRequest(url: "http://\(hostPart):\(port)/status")
        request.method = .GET
        guard let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(3)), response.status == .ok,
              let body = try? await response.body.collect(upTo: 4 << 20)
        else { return nil }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try? decoder.decode(PipelineStatus.Report.self, from: Data(buffer: body))
    }
}

extension StatusOutput {
    /// The report for people.
    var text: String {
        var lines: [String] = []
        if let slot {
            if slot.exists {
                let active = slot.active == true ? "active (pid \(slot.activePid.map(String.init) ?? "?") on the source)" : "inactive"
                lines.append("slot \(slot.name): \(active), wal_status \(slot.walStatus ?? "unknown"), retains \(Self.bytes(slot.retainedWalBytes)) of WAL, confirmed flush \(slot.confirmedFlushLsn ?? "none")")
            } else {
                lines.append("slot \(slot.name): does not exist")
            }
        }
        if let sourceError { lines.append("source: unreadable: \(sourceError)") }
        if let sourceLsn { lines.append("source WAL position: \(sourceLsn)") }
        if let warehouseError { lines.append("warehouse: unreadable: \(warehouseError)") }
        lines.append("warehouse checkpoint: \(checkpointLsn ?? "none")")
        let lagSeconds = self.lagSeconds.map { String(format: "%.1f s", $0) } ?? "unknown (no running process answered, or heartbeats are off)"
        lines.append("lag: \(Self.bytes(lagBytes)) of WAL, \(lagSeconds)")
        if let processEndpoint {
            if let process {
                lines.append("process at \(processEndpoint): \(process.phase.rawValue), \(process.ready ? "ready" : "not ready (\(process.readyReason))")")
            } else {
                lines.append("process at \(processEndpoint): no answer (not running, or running elsewhere)")
            }
        }
        if let lastRun {
            let ended = lastRun.endedAt.map { "ended \(Self.time($0))" }
                ?? (lastRunAlive == true ? "still running (set metrics.listen to see its state)" : "recorded no end (killed)")
            lines.append("last run: pid \(lastRun.pid), started \(Self.time(lastRun.startedAt)), \(ended)")
        }
        if let lastError {
            lines.append("last error (\(lastError.kind), \(lastError.transient ? "retrying" : "stopped")): \(lastError.message)")
        }
        lines.append("tables:")
        for table in tables {
            lines.append("  \(table.source) -> \(table.target): \(table.state), \(table.rows.map { "\($0) rows" } ?? "no table yet")\(table.reason.map { " (\($0))" } ?? "")")
        }
        if !attention.isEmpty {
            lines.append("needs attention:")
            lines += attention.map { "  - \($0)" }
        }
        return lines.joined(separator: "\n")
    }

    /// A Unix time as ISO 8601, UTC.
    static func time(_ seconds: Double) -> String {
        Date(timeIntervalSince1970: seconds).formatted(.iso8601)
    }

    static func bytes(_ value: Int64?) -> String {
        guard let value else { return "unknown" }
        if value >= 1 << 30 { return String(format: "%.1f GiB", Double(value) / Double(1 << 30)) }
        if value >= 1 << 20 { return String(format: "%.1f MiB", Double(value) / Double(1 << 20)) }
        if value >= 1 << 10 { return String(format: "%.1f KiB", Double(value) / Double(1 << 10)) }
        return "\(value) bytes"
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the slot, the warehouse checkpoint, lag, tables and the running process's state.",
        discussion: """
            Reads only: it never creates, changes or locks anything, so it is safe beside a running \
            forager run (whose own report it fetches from metrics.listen). Exits 1 when something \
            needs attention (listed at the end), 0 otherwise.
            """)

    @OptionGroup var options: PipelineOptions

    @Flag(help: "Print JSON (snake_case keys) instead of text.")
    var json = false

    func run() async throws {
        let (configuration, logger) = try options.load()
        let output = await Pipeline(configuration: configuration, logger: logger, stop: StopSignal()).statusReport()
        if json {
            let data = try JSONEncoder.forager.encode(output)
            print(Redaction.apply(String(decoding: data, as: UTF8.self)))
        } else {
            print(Redaction.apply(output.text))
        }
        if !output.attention.isEmpty { throw ExitCode(1) }
    }
}
