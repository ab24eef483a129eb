public import Logging
public import PGOutput
internal import Synchronization

/// The server side of a logical replication stream, as the replicator needs it.
public protocol ReplicationStream: Sendable {
    /// Returns CopyData payloads (possibly none when `timeout` passed), or nil when the server ended the stream.
    func read(maxMessages: Int, timeout: Duration) async throws -> [[UInt8]]?
    /// Sends a standby status update: everything before `lsn` written, flushed and applied,
    /// stamped with the wall clock's time; `replyRequested` asks the server to answer at once.
    func acknowledge(_ lsn: LSN, replyRequested: Bool) async throws
    /// Ends the stream from the client side, after the server has processed what was sent.
    func end() async throws
    /// Waits `duration` without reading, so that what the server sends meanwhile is read at once
    /// afterwards rather than a message at a time.
    func gather(for duration: Duration) async throws
}

extension ReplicationStream {
    public func gather(for duration: Duration) async throws {
        try await Task.sleep(for: duration)
    }
}

/// A warehouse that applies change sets transactionally, with the checkpoint in the same transaction.
public protocol WarehouseSink: Sendable {
    /// Applies changes inside the open warehouse transaction, opening one if none is open,
    /// leaving out the tables in `stopped` and adding those the changes stop (see
    /// ``ChangeSet/walk(into:stopped:logger:isolation:)``). Should it throw, the caller rolls
    /// back and throws `stopped` away with the unit of work.
    func apply(_ changes: ChangeSet, stopped: inout StoppedTables) async throws
    /// Stores `checkpoint` (the source LSN everything before which is applied) in the open
    /// transaction, opening one if none is open, and commits durably.
    func commit(checkpoint: LSN) async throws
    /// Rolls back the open transaction, if any.
    func rollback() async throws
}

/// Runs the stream: decode, batch, apply, checkpoint, acknowledge. The acknowledgement sent to the
/// source is always the warehouse's committed checkpoint, never more. `C` is the clock that times
/// batches, status updates and checks (a manual one in tests).
public struct Replicator<Stream: ReplicationStream, Sink: WarehouseSink, C: Clock>: Sendable where C.Duration == Duration {
    /// When to stop.
    public enum Mode: Sendable {
        /// Until `shouldStop` returns true.
        case continuous
        /// Until the warehouse checkpoint reaches `lsn` (or `shouldStop` returns true).
        case until(LSN)
    }

    public var stream: Stream
    public var sink: Sink
    public var batcher: ChangeBatcher
    public var mode: Mode
    public var clock: C
    /// How often to send a status update when nothing else prompts one.
    public var statusInterval: Duration = .seconds(10)
    /// How often an idle stream may move the checkpoint to the server's position.
    public var idleAdvanceInterval: Duration = .seconds(10)
    public var logger: Logger
    /// Polled between reads; when it returns true the replicator commits what it has and returns.
    public var shouldStop: @Sendable () -> Bool
    /// Polled every `interruptionInterval`; when it returns true the replicator commits what it
    /// has and returns, so that the caller can do something between two runs (a table resync).
    public var interruption: (@Sendable () async throws -> Bool)?
    public var interruptionInterval: Duration = .seconds(5)
    /// Consulted before each transaction: may hold the stream, and may change table sync points.
    public var gate: TransactionGate?
    /// Told each new durable checkpoint, right after the warehouse committed it.
    public var onDurable: (@Sendable (LSN) -> Void)?
    /// Told the stopped tables, right after the warehouse committed a batch that stopped one.
    public var onStopped: (@Sendable (Set<TableName>) -> Void)?
    /// Where transactions streamed before they commit (protocol 2) wait for their commit; nil when
    /// the stream does not stream them.
    public var spill: (any TransactionSpill)?
    /// Where the run's metrics go.
    public var metrics: ReplicationMetrics

    public init(
        stream: Stream, sink: Sink, batcher: ChangeBatcher, mode: Mode, logger: Logger, clock: C,
        metrics: ReplicationMetrics = ReplicationMetrics(), shouldStop: @escaping @Sendable () -> Bool
    ) {
        self.stream = stream
        self.sink = sink
        self.batcher = batcher
        self.mode = mode
        self.clock = clock
        self.logger = logger
        self.metrics = metrics
        self.shouldStop = shouldStop
    }

    /// Streams until stopped; returns the final checkpoint, which has been acknowledged.
    public consuming func run() async throws -> LSN {
        try await ReplicationLoop(self).run()
    }
}

extension Replicator where C == ContinuousClock {
    /// A replicator timed by the continuous clock.
    public init(
        stream: Stream, sink: Sink, batcher: ChangeBatcher, mode: Mode, logger: Logger,
        metrics: ReplicationMetrics = ReplicationMetrics(), shouldStop: @escaping @Sendable () -> Bool
    ) {
        self.init(
            stream: stream, sink: sink, batcher: batcher, mode: mode, logger: logger, clock: ContinuousClock(), metrics: metrics,
            shouldStop: shouldStop)
    }
}
