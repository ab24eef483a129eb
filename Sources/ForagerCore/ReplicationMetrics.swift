public import Metrics
public import PGOutput
internal import Synchronization

/// The metrics the replication core records, made once (when the replicator is, after the
/// metrics system was bootstrapped) and kept for the run: a handle is not looked up again for
/// every batch. The names and label sets are ``ForagerMetrics``'.
public final class ReplicationMetrics: Sendable {
    private let factory: any MetricsFactory
    private let batchDuration: Timer
    private let checkpointLSN: Gauge
    private let checkpointTime: Gauge
    private let spillBytes: Gauge
    private let spillTransactions: Gauge
    private let streamedCommitted: Counter
    private let streamedAborted: Counter
    /// `rows_applied` by table and operation, made the first time a table has changes of a kind.
    private let rowsApplied = Mutex<[RowsKey: Counter]>([:])

    private struct RowsKey: Hashable {
        let table: TableName
        let operation: String
    }

    /// The wall clock's time in seconds since 1970, for the checkpoint's time; without one, the
    /// checkpoint's time is not recorded.
    private let wallClock: (@Sendable () -> Double)?

    /// Handles made by `factory`, or by the metrics system's factory (bootstrapped by now) when nil.
    public init(factory: (any MetricsFactory)? = nil, wallClock: (@Sendable () -> Double)? = nil) {
        let factory = factory ?? MetricsSystem.factory
        self.factory = factory
        self.wallClock = wallClock
        batchDuration = Timer(label: ForagerMetrics.batchDuration, factory: factory)
        checkpointLSN = Gauge(label: ForagerMetrics.checkpointLSN, factory: factory)
        checkpointTime = Gauge(label: ForagerMetrics.checkpointTime, factory: factory)
        spillBytes = Gauge(label: ForagerMetrics.spillBytes, factory: factory)
        spillTransactions = Gauge(label: ForagerMetrics.spillTransactions, factory: factory)
        streamedCommitted = Counter(label: ForagerMetrics.streamedTransactions, dimensions: [("outcome", "committed")], factory: factory)
        streamedAborted = Counter(label: ForagerMetrics.streamedTransactions, dimensions: [("outcome", "aborted")], factory: factory)
    }

    /// Records the spill's size after a change.
    func recordSpill(_ spill: any TransactionSpill) {
        spillBytes.record(Double(spill.bytes))
        spillTransactions.record(Double(spill.transactions))
    }

    /// Counts a transaction the source streamed before it committed, by how it ended.
    func recordStreamed(committed: Bool) {
        (committed ? streamedCommitted : streamedAborted).increment()
    }

    /// Records a committed batch: its duration, its changes per table and operation, and the checkpoint.
    func recordCommit(_ changes: ChangeSet, through: LSN, duration: Duration) {
        batchDuration.recordNanoseconds(duration.nanoseconds)
        recordApplied(changes)
        recordCheckpoint(through)
    }

    /// Records the warehouse checkpoint: the one a run starts from, and each one after a commit.
    public func recordCheckpoint(_ lsn: LSN) {
        checkpointLSN.record(Double(lsn.value))
        if let wallClock { checkpointTime.record(wallClock()) }
    }

    /// Counts the source changes of `changes` as applied.
    func recordApplied(_ changes: ChangeSet) {
        for step in changes.allSteps {
            switch step {
            case .rows(let tables):
                for table in tables {
                    let received = table.received
                    for (operation, count) in [("insert", received.inserts), ("update", received.updates), ("delete", received.deletes)]
                    where count > 0 {
                        rows(table.table.source, operation).increment(by: count)
                    }
                }
            case .truncate(let tables):
                for table in tables { rows(table.source, "truncate").increment() }
            case .schemaChange, .stopTable:
                break
            }
        }
    }

    private func rows(_ table: TableName, _ operation: String) -> Counter {
        let key = RowsKey(table: table, operation: operation)
        return rowsApplied.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(
                label: ForagerMetrics.rowsApplied, dimensions: [("table", table.description), ("operation", operation)], factory: factory)
            counters[key] = counter
            return counter
        }
    }
}
