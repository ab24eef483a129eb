public import ForagerCore
public import Metrics
public import PGOutput
import Synchronization
import WallClock

/// The metrics the pipeline records beside the replication core's (``ReplicationMetrics``): the
/// status gauges of `/metrics`, errors and reconnections by kind, heartbeats and the checkpoint a
/// run starts from. Made once, after the metrics system is bootstrapped (or with a factory of its
/// own), and kept for the process; the handles of a `kind` or a `table` are made the first time
/// it is seen. The names and label sets are ``ForagerMetrics``'.
public final class PipelineMetrics: Sendable {
    private let factory: any MetricsFactory
    private let lagSeconds: Gauge
    private let lagBytes: Gauge
    private let retainedWALBytes: Gauge
    private let slotActive: Gauge
    private let streaming: Gauge
    private let tablesStopped: Gauge
    /// The replication core's handles, made with the same factory; every stream of the pipeline
    /// records into them.
    public let replication: ReplicationMetrics
    private let heartbeats: Counter
    private let errors = Mutex<[String: Counter]>([:])
    private let reconnects = Mutex<[String: Counter]>([:])
    private let snapshots = Mutex<[String: SnapshotGauges]>([:])

    /// The gauges of one table's copy.
    private struct SnapshotGauges {
        let bytesCopied: Gauge
        let tableBytes: Gauge
        let rows: Gauge
    }

    /// Handles made by `factory`, or by the metrics system's factory (bootstrapped by now) when nil.
    public init(factory: (any MetricsFactory)? = nil) {
        let factory = factory ?? MetricsSystem.factory
        self.factory = factory
        func gauge(_ label: String) -> Gauge { Gauge(label: label, factory: factory) }
        lagSeconds = gauge(ForagerMetrics.lagSeconds)
        lagBytes = gauge(ForagerMetrics.lagBytes)
        retainedWALBytes = gauge(ForagerMetrics.retainedWALBytes)
        slotActive = gauge(ForagerMetrics.slotActive)
        streaming = gauge(ForagerMetrics.streaming)
        tablesStopped = gauge(ForagerMetrics.tablesStopped)
        replication = ReplicationMetrics(factory: factory, wallClock: { UnixTime.now })
        heartbeats = Counter(label: ForagerMetrics.heartbeats, factory: factory)
    }

    /// Counts a failure of `kind` (`forager_errors_total{kind}`).
    public func error(kind: String) {
        counter(ForagerMetrics.errors, kind: kind, in: errors).increment()
    }

    /// Counts a reconnection after a transient failure of `kind` (`forager_reconnects_total{kind}`).
    public func reconnect(kind: String) {
        counter(ForagerMetrics.reconnects, kind: kind, in: reconnects).increment()
    }

    /// Counts a heartbeat written on the source.
    public func heartbeat() {
        heartbeats.increment()
    }

    /// Records the warehouse checkpoint a run starts from (the core records those after commits).
    public func recordCheckpoint(_ lsn: LSN) {
        replication.recordCheckpoint(lsn)
    }

    /// Sets the gauges that describe the present (lag, slot, phase, copies) from `report`.
    public func recordGauges(_ report: PipelineStatus.Report) {
        if let lag = report.lagSeconds { lagSeconds.record(lag) }
        if let bytes = report.lagBytes { lagBytes.record(Double(bytes)) }
        if let slot = report.slot {
            if let retained = slot.retainedWalBytes { retainedWALBytes.record(Double(retained)) }
            slotActive.record(slot.active == true ? 1 : 0)
        }
        streaming.record(report.phase == .streaming ? 1 : 0)
        tablesStopped.record(Double(report.stoppedTables?.count ?? 0))
        for (table, copy) in report.snapshot {
            let gauges = snapshotGauges(table)
            gauges.bytesCopied.record(Double(copy.bytesCopied))
            if let size = copy.tableBytes { gauges.tableBytes.record(Double(size)) }
            if let rows = copy.rows { gauges.rows.record(Double(rows)) }
        }
    }

    private func counter(_ label: String, kind: String, in counters: borrowing Mutex<[String: Counter]>) -> Counter {
        counters.withLock { counters in
            if let counter = counters[kind] { return counter }
            let counter = Counter(label: label, dimensions: [("kind", kind)], factory: factory)
            counters[kind] = counter
            return counter
        }
    }

    private func snapshotGauges(_ table: String) -> SnapshotGauges {
        snapshots.withLock { snapshots in
            if let gauges = snapshots[table] { return gauges }
            func gauge(_ label: String) -> Gauge { Gauge(label: label, dimensions: [("table", table)], factory: factory) }
            let gauges = SnapshotGauges(
                bytesCopied: gauge(ForagerMetrics.snapshotBytesCopied), tableBytes: gauge(ForagerMetrics.snapshotTableBytes),
                rows: gauge(ForagerMetrics.snapshotRows))
            snapshots[table] = gauges
            return gauges
        }
    }
}
