/// The names of the metrics Forager exports.
///
/// Label sets are fixed: `table` (a mapped source table), `operation` (insert, update, delete,
/// truncate), `kind` (an error's kind) and `outcome` (committed, aborted). docs/operations.md says what each one means.
public enum ForagerMetrics {
    /// Counter: source changes applied to the warehouse, by `table` and `operation`.
    public static let rowsApplied = "forager_rows_applied_total"
    /// Histogram (seconds): how long applying and committing one batch took.
    public static let batchDuration = "forager_batch_duration_seconds"
    /// Gauge: the warehouse checkpoint, as a WAL byte position.
    public static let checkpointLSN = "forager_checkpoint_lsn"
    /// Gauge: when the warehouse checkpoint last moved, or was read at the start of a run (Unix time, seconds).
    public static let checkpointTime = "forager_checkpoint_timestamp_seconds"
    /// Gauge: end-to-end lag from heartbeats: source commit to warehouse commit.
    public static let lagSeconds = "forager_replication_lag_seconds"
    /// Gauge: the source's current WAL position minus the warehouse checkpoint.
    public static let lagBytes = "forager_replication_lag_bytes"
    /// Gauge: WAL the slot keeps on the source (current position minus the slot's restart_lsn).
    public static let retainedWALBytes = "forager_slot_retained_wal_bytes"
    /// Gauge: 1 while a process streams from the slot, else 0.
    public static let slotActive = "forager_slot_active"
    /// Gauge: 1 while the pipeline streams (not copying, not waiting to retry), else 0.
    public static let streaming = "forager_streaming"
    /// Gauge: bytes of a table's initial or resync copy read so far, by `table`.
    public static let snapshotBytesCopied = "forager_snapshot_bytes_copied"
    /// Gauge: the size of a table being copied (its heap on the source), by `table`.
    public static let snapshotTableBytes = "forager_snapshot_table_bytes"
    /// Gauge: rows of a table's last finished copy, by `table`.
    public static let snapshotRows = "forager_snapshot_rows"
    /// Counter: reconnections after transient failures, by `kind` (as `errors`).
    public static let reconnects = "forager_reconnects_total"
    /// Counter: failures, by `kind` (source, warehouse, replication state, schema, ...).
    public static let errors = "forager_errors_total"
    /// Gauge: mapped tables that are stopped (nothing more is applied to them until a resync).
    public static let tablesStopped = "forager_tables_stopped"
    /// Counter: heartbeats written on the source.
    public static let heartbeats = "forager_heartbeats_total"
    /// Gauge: bytes of large open transactions kept in `source.spill_dir` until they commit.
    public static let spillBytes = "forager_spill_bytes"
    /// Gauge: large open transactions streamed by the source and kept in `source.spill_dir`.
    public static let spillTransactions = "forager_spill_transactions"
    /// Counter: transactions the source streamed before they committed, by how they ended
    /// (`outcome`: committed, aborted).
    public static let streamedTransactions = "forager_streamed_transactions_total"
}

extension Duration {
    /// The whole duration in nanoseconds (saturating).
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? (seconds < 0 ? .min : .max) : whole + attoseconds / 1_000_000_000
    }

    /// The duration in seconds, as a floating-point number.
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
