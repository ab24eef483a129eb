public import Logging
public import PGOutput

/// The server side of a logical replication stream, as the replicator needs it.
public protocol ReplicationStream: Sendable {
    /// Returns CopyData payloads (possibly none when `timeout` passed), or nil when the server ended the stream.
    func read(maxMessages: Int, timeout: Duration) async throws -> [[UInt8]]?
    /// Sends a standby status update.
    func send(_ update: StandbyStatusUpdate) async throws
    /// Ends the stream from the client side, after the server has processed what was sent.
    func end() async throws
}

/// A warehouse that applies change sets transactionally, with the checkpoint in the same transaction.
public protocol WarehouseSink: Sendable {
    /// Applies changes inside the open warehouse transaction, opening one if none is open.
    func apply(_ changes: ChangeSet) async throws
    /// Stores `checkpoint` (the source LSN everything before which is applied) in the open
    /// transaction, opening one if none is open, and commits durably.
    func commit(checkpoint: LSN) async throws
    /// Rolls back the open transaction, if any.
    func rollback() async throws
}

/// Runs the stream: decode, batch, apply, checkpoint, acknowledge. The acknowledgement sent to the
/// source is always the warehouse's committed checkpoint, never more.
public struct Replicator<Stream: ReplicationStream, Sink: WarehouseSink>: Sendable {
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
    /// How often to send a status update when nothing else prompts one.
    public var statusInterval: Duration = .seconds(10)
    /// How often an idle stream may move the checkpoint to the server's position.
    public var idleAdvanceInterval: Duration = .seconds(10)
    public var logger: Logger
    /// Polled between reads; when it returns true the replicator commits what it has and returns.
    public var shouldStop: @Sendable () -> Bool

    public init(
        stream: Stream, sink: Sink, batcher: ChangeBatcher, mode: Mode, logger: Logger,
        shouldStop: @escaping @Sendable () -> Bool
    ) {
        self.stream = stream
        self.sink = sink
        self.batcher = batcher
        self.mode = mode
        self.logger = logger
        self.shouldStop = shouldStop
    }

    /// Streams until stopped; returns the final checkpoint, which has been acknowledged.
    public consuming func run() async throws -> LSN {
        // Everything the loop touches lives in locals: a method call on `self` across a suspension
        // point copies `self`, and a copied batcher would copy its buffered changes on every append.
        var batcher = self.batcher
        let stream = self.stream, sink = self.sink, logger = self.logger, shouldStop = self.shouldStop
        let statusInterval = self.statusInterval, idleAdvanceInterval = self.idleAdvanceInterval
        let clock = ContinuousClock()
        let readLimit = 2048
        var acknowledged = LSN.zero
        var lastStatus = clock.now
        var lastIdleAdvance = clock.now - idleAdvanceInterval
        var serverPosition = LSN.zero
        var replyRequested = false
        let syncTarget: LSN? = if case .until(let target) = self.mode { target } else { nil }

        while !shouldStop() {
            if let syncTarget, batcher.isIdle, batcher.checkpoint >= syncTarget { break }
            guard let messages = try await stream.read(maxMessages: readLimit, timeout: .milliseconds(100)) else {
                throw ForagerError(
                    .replicationState, "the source server ended the replication stream",
                    hint: "Check the source server's log; Forager resumes from its checkpoint when restarted.")
            }
            for bytes in messages {
                let message: ReplicationMessage
                do { message = try ReplicationMessage.decode(bytes) } catch {
                    throw ForagerError(.protocolViolation, "could not decode a replication message: \(error)")
                }
                switch message {
                case .xLogData(let data):
                    let decoded: PGOutputMessage
                    do { decoded = try PGOutputMessage.decode(data.data) } catch {
                        throw ForagerError(.protocolViolation, "could not decode the pgoutput message at \(data.walStart): \(error)")
                    }
                    try await Self.perform(sink: sink, logger: logger, try batcher.receive(decoded, at: data.walStart, now: clock.now))
                case .keepalive(let keepalive):
                    serverPosition = max(serverPosition, keepalive.walEnd)
                    replyRequested = replyRequested || keepalive.replyRequested
                }
            }
            try await Self.perform(sink: sink, logger: logger, batcher.tick(now: clock.now, caughtUp: messages.count < readLimit))
            let idleDue = syncTarget != nil || clock.now - lastIdleAdvance >= idleAdvanceInterval
            if idleDue, let advance = batcher.advanceIdle(to: serverPosition) {
                lastIdleAdvance = clock.now
                try await Self.perform(sink: sink, logger: logger, [advance])
            }
            let waitingForServer = syncTarget.map { batcher.isIdle && serverPosition < $0 } ?? false
            if replyRequested || waitingForServer || batcher.checkpoint != acknowledged
                || clock.now - lastStatus >= statusInterval
            {
                try await Self.acknowledge(stream: stream, batcher.checkpoint, requestReply: waitingForServer)
                acknowledged = batcher.checkpoint
                lastStatus = clock.now
                replyRequested = false
            }
        }

        let (actions, rollback) = batcher.drain()
        if rollback {
            logger.info("rolling back the unfinished part of a large transaction; it is replayed on the next start")
            try await sink.rollback()
        }
        try await Self.perform(sink: sink, logger: logger, actions)
        try await Self.acknowledge(stream: stream, batcher.checkpoint, requestReply: false)
        try await stream.end()
        return batcher.checkpoint
    }

    private static func perform(sink: Sink, logger: Logger, _ actions: [ChangeBatcher.Action]) async throws {
        for action in actions {
            switch action {
            case .apply(let changes):
                logger.debug("applying part of a large transaction", metadata: ["forager.changes": "\(changes.changeCount)"])
                try await sink.apply(changes)
            case .commit(let changes, let through):
                if !changes.isEmpty { try await sink.apply(changes) }
                try await sink.commit(checkpoint: through)
                logger.debug("committed batch", metadata: ["forager.changes": "\(changes.changeCount)", "forager.lsn": "\(through)"])
            }
        }
    }

    private static func acknowledge(stream: Stream, _ lsn: LSN, requestReply: Bool) async throws {
        let update = StandbyStatusUpdate(
            written: lsn, flushed: lsn, applied: lsn, clientTime: .now, replyRequested: requestReply)
        try await stream.send(update)
    }
}
