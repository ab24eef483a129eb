public import ForagerCore
public import PGOutput
public import PostgresSource
import Synchronization
import WallClock

/// What a running pipeline knows about itself, shared by the pipeline, the monitor and the HTTP
/// endpoint: the source of `/status`, `/readyz` and the gauges of `/metrics`.
public final class PipelineStatus: Sendable {
    /// What the pipeline is doing.
    public enum Phase: String, Codable, Sendable {
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
        public var stoppedTables: [String] = []
    }

    /// `source.slot`: tells pipelines that share a host apart.
    public let slotName: String
    /// `source.heartbeat_interval_s`; nil when heartbeats are off.
    public let heartbeatInterval: Duration?
    /// `metrics.ready_max_lag_s`.
    public let readyMaxLag: Duration
    private let state = Mutex(State())
    private let clock = ContinuousClock()

    /// The status of a pipeline that is starting.
    public init(slotName: String, heartbeatInterval: Duration?, readyMaxLag: Duration) {
        self.slotName = slotName
        self.heartbeatInterval = heartbeatInterval
        self.readyMaxLag = readyMaxLag
    }

    /// What the pipeline is doing now.
    public var phase: Phase { state.withLock { $0.phase } }

    /// The pipeline now does `phase`.
    public func enter(_ phase: Phase) {
        state.withLock {
            guard $0.phase != phase else { return }
            $0.phase = phase
            $0.phaseSince = UnixTime.now
            if phase == .streaming { $0.retry = nil }
        }
    }

    /// The warehouse made everything before `lsn` durable.
    public func committed(_ lsn: LSN) {
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
    public func heartbeat(_ lsn: LSN) {
        let now = clock.now
        state.withLock {
            $0.lag.sent(lsn, at: now)
            $0.lastHeartbeat = (lsn, UnixTime.now)
        }
    }

    /// The mapped tables that are stopped now.
    public func tablesStopped(_ tables: Set<TableName>) {
        let names = tables.map(\.description).sorted()
        state.withLock { $0.stoppedTables = names }
    }

    /// The mapped tables that are stopped, as last told.
    public var stoppedTables: [String] { state.withLock { $0.stoppedTables } }

    /// The slot as just read (nil: the source has no such slot).
    public func slotRead(_ slot: PostgresSource.SlotState?) {
        state.withLock {
            $0.slot = slot
            $0.slotReadAt = UnixTime.now
        }
    }

    /// A failure; `retryIn` when the pipeline tries again after that long.
    public func failed(_ error: any Error, kind: String, retryIn: Duration?, attempt: Int) {
        state.withLock {
            $0.lastError = Report.Failure(error, kind: kind, transient: retryIn != nil)
            if let retryIn {
                $0.retry = Report.Retry(attempt: attempt, nextAt: UnixTime.now + retryIn.seconds)
                $0.phase = .retrying
                $0.phaseSince = UnixTime.now
            }
        }
    }

    /// The copy of `table`, of `tableBytes` on disk, started.
    public func copyStarted(_ table: TableName, tableBytes: Int64?) {
        state.withLock { $0.snapshot[table.description] = Report.TableCopy(bytesCopied: 0, tableBytes: tableBytes, rows: nil, done: false) }
    }

    /// The copy of `table` read `bytes` more.
    public func copyProgress(_ table: TableName, bytes: Int) {
        state.withLock { $0.snapshot[table.description]?.bytesCopied += Int64(bytes) }
    }

    /// The copy's progress, for a terminal.
    public var copyProgress: [CopyProgressLine.Table] {
        state.withLock { state in
            state.snapshot.map {
                CopyProgressLine.Table(name: $0.key, copied: $0.value.bytesCopied, size: $0.value.tableBytes, done: $0.value.done)
            }
        }
    }

    /// The copy of `table` stored `rows` rows.
    public func copyFinished(_ table: TableName, rows: Int) {
        state.withLock {
            $0.snapshot[table.description]?.rows = rows
            $0.snapshot[table.description]?.done = true
        }
    }

    /// The end-to-end lag now, from heartbeats; nil before the first or when they are off.
    public var lag: Duration? {
        let now = clock.now
        return state.withLock { $0.lag.lag(at: now) }
    }

    /// Ready: streaming, and (when heartbeats measure it) the lag within `readyMaxLag`. Otherwise why not.
    public var readiness: (ready: Bool, reason: String) {
        let phase = self.phase
        guard phase == .streaming else { return (false, "not streaming: \(phase.rawValue)") }
        if let lag, lag > readyMaxLag {
            return (false, "lag \(Int(lag.seconds)) s is above metrics.ready_max_lag_s (\(Int(readyMaxLag.seconds)) s)")
        }
        return (true, "streaming")
    }

    /// What `/status` shows now.
    public func report() -> Report {
        let lag = self.lag
        let readiness = self.readiness
        return state.withLock { state in
            let source = state.slot?.sourcePosition
            return Report(
                pipelineSlot: slotName, phase: state.phase, phaseSince: state.phaseSince, ready: readiness.ready,
                readyReason: readiness.reason,
                checkpointLsn: state.checkpoint?.description, checkpointAt: state.checkpointAt,
                sourceLsn: source?.description, lagSeconds: lag?.seconds,
                lagBytes: Self.lagBytes(source: source, checkpoint: state.checkpoint),
                heartbeatIntervalSeconds: heartbeatInterval?.seconds,
                lastHeartbeatLsn: state.lastHeartbeat?.lsn.description, lastHeartbeatAt: state.lastHeartbeat?.at,
                slot: state.slotReadAt.map { Report.Slot(name: slotName, state: state.slot, readAt: $0) },
                lastError: state.lastError, retry: state.retry, snapshot: state.snapshot, stoppedTables: state.stoppedTables)
        }
    }

    /// How far the checkpoint is behind the source's position, in bytes of WAL; nil when either
    /// is unknown.
    public static func lagBytes(source: LSN?, checkpoint: LSN?) -> Int64? {
        guard let source, let checkpoint else { return nil }
        return source > checkpoint ? Int64(source.value - checkpoint.value) : 0
    }
}
