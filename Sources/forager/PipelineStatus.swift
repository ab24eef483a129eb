import ForagerCore
import ForagerPipeline
import Foundation
import Metrics
import PGOutput
import PostgresSource
import Synchronization

/// What a running pipeline knows about itself, shared by the pipeline, the monitor and the HTTP
/// endpoint: the source of `/status`, `/readyz` and the gauges of `/metrics`.
final class PipelineStatus: Sendable {
    /// What the pipeline is doing.
    enum Phase: String, Codable, Sendable {
        /// Connecting and checking the source and the warehouse.
        case starting
        /// Taking the initial snapshot (tables copied beside the stream do not change the phase).
        case snapshot
        /// Streaming changes.
        case streaming
        /// Waiting to retry after a transient failure.
        case retrying
        /// Winding down after SIGTERM or SIGINT.
        case stopping
    }

    private struct State {
        var phase = Phase.starting
        var phaseSince = UnixTime.now
        var lag = LagTracker()
        var checkpoint: LSN?
        var checkpointAt: Double?
        var slot: PostgresSource.SlotState?
        var slotReadAt: Double?
        var lastError: Report.Failure?
        var retry: Report.Retry?
        var snapshot: [String: Report.TableCopy] = [:]
        var lastHeartbeat: (lsn: LSN, at: Double)?
        var stoppedTables: [String] = []
    }

    let slotName: String
    let heartbeatInterval: Duration?
    let readyMaxLag: Duration
    private let state = Mutex(State())
    private let clock = ContinuousClock()

    init(slotName: String, heartbeatInterval: Duration?, readyMaxLag: Duration) {
        self.slotName = slotName
        self.heartbeatInterval = heartbeatInterval
        self.readyMaxLag = readyMaxLag
    }

    var phase: Phase { state.withLock { $0.phase } }

    func enter(_ phase: Phase) {
        state.withLock {
            guard $0.phase != phase else { return }
            $0.phase = phase
            $0.phaseSince = UnixTime.now
            if phase == .streaming { $0.retry = nil }
        }
    }

    /// The warehouse made everything before `lsn` durable.
    func committed(_ lsn: LSN) {
        let now = clock.now
        state.withLock {
            $0.lag.committed(lsn, at: now)
            if $0.checkpoint.map({ lsn > $0 }) ?? true {
                $0.checkpoint = lsn
                $0.checkpointAt = UnixTime.now
            }
        }
    }

    /// A heartbeat was written at `lsn`.
    func heartbeat(_ lsn: LSN) {
        let now = clock.now
        state.withLock {
            $0.lag.sent(lsn, at: now)
            $0.lastHeartbeat = (lsn, UnixTime.now)
        }
    }

    /// The mapped tables that are stopped now.
    func tablesStopped(_ tables: Set<TableName>) {
        let names = tables.map(\.description).sorted()
        state.withLock { $0.stoppedTables = names }
    }

    /// The mapped tables that are stopped, as last told.
    var stoppedTables: [String] { state.withLock { $0.stoppedTables } }

    func slotRead(_ slot: PostgresSource.SlotState?) {
        state.withLock {
            $0.slot = slot
            $0.slotReadAt = UnixTime.now
        }
    }

    /// A failure; `retryIn` when the pipeline tries again after that long.
    func failed(_ error: any Error, kind: String, retryIn: Duration?, attempt: Int) {
        state.withLock {
            $0.lastError = Report.Failure(message: Redaction.apply("\(error)"), kind: kind, at: UnixTime.now, transient: retryIn != nil)
            if let retryIn {
                $0.retry = Report.Retry(attempt: attempt, nextAt: UnixTime.now + retryIn.seconds)
                $0.phase = .retrying
                $0.phaseSince = UnixTime.now
            }
        }
    }

    func copyStarted(_ table: TableName, tableBytes: Int64?) {
        state.withLock { $0.snapshot[table.description] = Report.TableCopy(bytesCopied: 0, tableBytes: tableBytes, rows: nil, done: false) }
    }

    func copyProgress(_ table: TableName, bytes: Int) {
        state.withLock { $0.snapshot[table.description]?.bytesCopied += Int64(bytes) }
    }

    /// The copy's progress, for a terminal.
    var copyProgress: [CopyProgressLine.Table] {
        state.withLock { state in
            state.snapshot.map { CopyProgressLine.Table(name: $0.key, copied: $0.value.bytesCopied, size: $0.value.tableBytes, done: $0.value.done) }
        }
    }

    func copyFinished(_ table: TableName, rows: Int) {
        state.withLock {
            $0.snapshot[table.description]?.rows = rows
            $0.snapshot[table.description]?.done = true
        }
    }

    /// The end-to-end lag now, from heartbeats; nil before the first or when they are off.
    var lag: Duration? {
        let now = clock.now
        return state.withLock { $0.lag.lag(at: now) }
    }

    /// Ready: streaming, and (when heartbeats measure it) the lag within `readyMaxLag`. Otherwise why not.
    var readiness: (ready: Bool, reason: String) {
        let phase = self.phase
        guard phase == .streaming else { return (false, "not streaming: \(phase.rawValue)") }
        if let lag, lag > readyMaxLag {
            return (false, "lag \(Int(lag.seconds)) s is above metrics.ready_max_lag_s (\(Int(readyMaxLag.seconds)) s)")
        }
        return (true, "streaming")
    }

    /// What `/status` shows.
    struct Report: Codable, Sendable {
        struct Failure: Codable, Sendable {
            var message: String
            var kind: String
            var at: Double
            var transient: Bool
        }
        struct Retry: Codable, Sendable {
            var attempt: Int
            var nextAt: Double
        }
        struct TableCopy: Codable, Sendable {
            var bytesCopied: Int64
            var tableBytes: Int64?
            var rows: Int?
            var done: Bool
        }
        struct Slot: Codable, Sendable {
            var name: String
            var exists: Bool
            var active: Bool?
            var activePid: Int?
            var walStatus: String?
            var retainedWalBytes: Int64?
            var confirmedFlushLsn: String?
            var readAt: Double?

            /// The slot `name` as read at `readAt`; `state` is nil when the source has no such slot.
            init(name: String, state: PostgresSource.SlotState?, readAt: Double) {
                self.name = name
                exists = state != nil
                active = state.map { $0.activePID != nil }
                activePid = state?.activePID
                walStatus = state?.walStatus
                retainedWalBytes = state?.retainedBytes
                confirmedFlushLsn = state?.confirmedFlush?.description
                self.readAt = readAt
            }
        }
        /// The slot of the pipeline this process runs: tells pipelines that share a host apart.
        var pipelineSlot: String
        var phase: Phase
        var phaseSince: Double
        var ready: Bool
        var readyReason: String
        var checkpointLsn: String?
        var checkpointAt: Double?
        var sourceLsn: String?
        var lagSeconds: Double?
        var lagBytes: Int64?
        var heartbeatIntervalSeconds: Double?
        var lastHeartbeatLsn: String?
        var lastHeartbeatAt: Double?
        var slot: Slot?
        var lastError: Failure?
        var retry: Retry?
        var snapshot: [String: TableCopy]
        /// The mapped tables that are stopped (nothing more is applied to them until a resync).
        var stoppedTables: [String]?
        /// The warehouse's checkpoint and tables (states, row counts), read on request at most
        /// every ``WarehouseReadings/maxAge``; nil where it is not read (the pipeline's own report).
        var warehouse: WarehouseReading?
    }

    func report() -> Report {
        let lag = self.lag
        let readiness = self.readiness
        return state.withLock { state in
            let source = state.slot?.sourcePosition
            return Report(
                pipelineSlot: slotName, phase: state.phase, phaseSince: state.phaseSince, ready: readiness.ready, readyReason: readiness.reason,
                checkpointLsn: state.checkpoint?.description, checkpointAt: state.checkpointAt,
                sourceLsn: source?.description, lagSeconds: lag?.seconds,
                lagBytes: Self.lagBytes(source: source, checkpoint: state.checkpoint),
                heartbeatIntervalSeconds: heartbeatInterval?.seconds,
                lastHeartbeatLsn: state.lastHeartbeat?.lsn.description, lastHeartbeatAt: state.lastHeartbeat?.at,
                slot: state.slotReadAt.map { Report.Slot(name: slotName, state: state.slot, readAt: $0) },
                lastError: state.lastError, retry: state.retry, snapshot: state.snapshot, stoppedTables: state.stoppedTables)
        }
    }

    static func lagBytes(source: LSN?, checkpoint: LSN?) -> Int64? {
        guard let source, let checkpoint else { return nil }
        return source > checkpoint ? Int64(source.value - checkpoint.value) : 0
    }

    /// Sets the gauges that describe the present (lag, slot, phase, copies) from this status.
    func refreshGauges() {
        let report = self.report()
        if let lag = report.lagSeconds { Gauge(label: ForagerMetrics.lagSeconds).record(lag) }
        if let bytes = report.lagBytes { Gauge(label: ForagerMetrics.lagBytes).record(Double(bytes)) }
        if let slot = report.slot {
            if let retained = slot.retainedWalBytes { Gauge(label: ForagerMetrics.retainedWALBytes).record(Double(retained)) }
            Gauge(label: ForagerMetrics.slotActive).record(slot.active == true ? 1 : 0)
        }
        Gauge(label: ForagerMetrics.streaming).record(report.phase == .streaming ? 1 : 0)
        Gauge(label: ForagerMetrics.tablesStopped).record(Double(report.stoppedTables?.count ?? 0))
        for (table, copy) in report.snapshot {
            Gauge(label: ForagerMetrics.snapshotBytesCopied, dimensions: [("table", table)]).record(Double(copy.bytesCopied))
            if let size = copy.tableBytes {
                Gauge(label: ForagerMetrics.snapshotTableBytes, dimensions: [("table", table)]).record(Double(size))
            }
            if let rows = copy.rows { Gauge(label: ForagerMetrics.snapshotRows, dimensions: [("table", table)]).record(Double(rows)) }
        }
    }
}

extension JSONEncoder {
    /// The encoder of every JSON document Forager prints or serves: snake_case keys, sorted.
    static var forager: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return encoder
    }
}
