public import Logging
import Metrics
public import PGOutput
internal import Synchronization

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
    /// Polled every `interruptionInterval`; when it returns true the replicator commits what it
    /// has and returns, so that the caller can do something between two runs (a table resync).
    public var interruption: (@Sendable () async throws -> Bool)?
    public var interruptionInterval: Duration = .seconds(5)
    /// Consulted before each transaction: may hold the stream, and may change table sync points.
    public var gate: TransactionGate?
    /// Told each new durable checkpoint, right after the warehouse committed it.
    public var onDurable: (@Sendable (LSN) -> Void)?
    /// Where transactions streamed before they commit (protocol 2) wait for their commit; nil when
    /// the stream does not stream them.
    public var spill: StreamSpill?

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
        let interruption = self.interruption, interruptionInterval = self.interruptionInterval, gate = self.gate
        let onDurable = self.onDurable
        var spill = self.spill
        defer { spill?.closeAll() }
        var inStreamBlock = false
        let clock = ContinuousClock()
        let readLimit = 2048
        var acknowledged = LSN.zero
        var lastStatus = clock.now
        var lastIdleAdvance = clock.now - idleAdvanceInterval
        var lastInterruptionCheck = clock.now
        var serverPosition = LSN.zero
        var replyRequested = false
        let syncTarget: LSN? = if case .until(let target) = self.mode { target } else { nil }
        var queue = ApplyQueue(sink: sink, logger: logger, durable: batcher.checkpoint, onDurable: onDurable)

        /// Hands one message of a whole transaction to the batcher, after the gate lets its
        /// transaction pass; false when asked to stop while the gate held it. `now`: when the
        /// message was read (one clock reading serves a whole read).
        func deliver(_ decoded: PGOutputMessage, at lsn: LSN, now: ContinuousClock.Instant) async throws -> Bool {
            if let gate, case .begin(let begin) = decoded {
                var points = gate.passage(begin.finalLSN)
                while points == nil {
                    // Held: keep the server's connection alive meanwhile.
                    if clock.now - lastStatus >= statusInterval {
                        try await Self.acknowledge(stream: stream, queue.durable, requestReply: false)
                        acknowledged = queue.durable
                        lastStatus = clock.now
                    }
                    if shouldStop() { return false }
                    try await Task.sleep(for: .milliseconds(5))
                    points = gate.passage(begin.finalLSN)
                }
                for (table, lsn) in points ?? [:] { batcher.setSyncPoint(lsn, for: table) }
            }
            let actions = try batcher.receive(decoded, at: lsn, now: now)
            if !actions.isEmpty { try await queue.submit(actions) }
            return true
        }

        /// Runs `body` on the spill; a protocol error when the stream was not asked to stream.
        func spilling(_ body: (inout StreamSpill) throws(ForagerError) -> Void) throws(ForagerError) {
            guard spill != nil else {
                throw ForagerError(.protocolViolation, "the source streamed an uncommitted transaction, which this stream did not ask for")
            }
            try body(&spill!)
        }

        /// Replays a streamed transaction that committed, as a whole one, from its spill file.
        func replay(_ commit: StreamCommit, at lsn: LSN) async throws -> Bool {
            guard var reader = try spill?.commit(commit.xid) else {
                throw ForagerError(.protocolViolation, "Stream Commit of transaction \(commit.xid) on a stream that does not stream transactions")
            }
            let begin = Begin(finalLSN: commit.commitLSN, commitTime: commit.commitTime, xid: commit.xid)
            guard try await deliver(.begin(begin), at: lsn, now: clock.now) else {
                reader.discard()
                return false
            }
            while let record = try reader.next() {
                guard case .streamed(_, let change) = try Self.decode(record.message, at: record.lsn, inStreamBlock: true) else {
                    throw ForagerError(.protocolViolation, "the spilled message at \(record.lsn) of transaction \(commit.xid) is not a streamed change")
                }
                _ = try await deliver(change, at: record.lsn, now: clock.now)
            }
            let end = Commit(flags: commit.flags, commitLSN: commit.commitLSN, endLSN: commit.endLSN, commitTime: commit.commitTime)
            return try await deliver(.commit(end), at: lsn, now: clock.now)
        }

        reading: while !shouldStop() {
            if let syncTarget, batcher.isIdle, batcher.checkpoint >= syncTarget { break }
            if let interruption, clock.now - lastInterruptionCheck >= interruptionInterval {
                lastInterruptionCheck = clock.now
                if try await interruption() { break }
            }
            guard let messages = try await stream.read(maxMessages: readLimit, timeout: .milliseconds(100)) else {
                throw ForagerError(
                    .replicationState, "the source server ended the replication stream",
                    hint: "Check the source server's log; Forager resumes from its checkpoint.", isTransient: true)
            }
            let now = clock.now
            for bytes in messages {
                let message: ReplicationMessage
                do { message = try ReplicationMessage.decode(bytes) } catch {
                    throw ForagerError(.protocolViolation, "could not decode a replication message: \(error)")
                }
                switch message {
                case .xLogData(let data):
                    let decoded = try Self.decode(data.data, at: data.walStart, inStreamBlock: inStreamBlock)
                    switch decoded {
                    case .streamStart(let start):
                        try spilling { (spill: inout StreamSpill) throws(ForagerError) in try spill.start(start) }
                        inStreamBlock = true
                    case .streamStop:
                        try spilling { (spill: inout StreamSpill) throws(ForagerError) in try spill.stop() }
                        inStreamBlock = false
                        if let spill { ForagerMetrics.recordSpill(spill) }
                    case .streamed(let xid, _):
                        try spilling { (spill: inout StreamSpill) throws(ForagerError) in try spill.append(subxid: xid, lsn: data.walStart, message: data.data) }
                    case .streamAbort(let abort):
                        try spilling { (spill: inout StreamSpill) throws(ForagerError) in try spill.abort(abort) }
                        if abort.xid == abort.subxid {
                            Counter(label: ForagerMetrics.streamedTransactions, dimensions: [("outcome", "aborted")]).increment()
                        }
                        if let spill { ForagerMetrics.recordSpill(spill) }
                    case .streamCommit(let commit):
                        guard try await replay(commit, at: data.walStart) else { break reading }
                        Counter(label: ForagerMetrics.streamedTransactions, dimensions: [("outcome", "committed")]).increment()
                        if let spill { ForagerMetrics.recordSpill(spill) }
                    default:
                        guard try await deliver(decoded, at: data.walStart, now: now) else { break reading }
                    }
                case .keepalive(let keepalive):
                    serverPosition = max(serverPosition, keepalive.walEnd)
                    replyRequested = replyRequested || keepalive.replyRequested
                }
            }
            try await queue.submit(batcher.tick(now: clock.now, caughtUp: messages.count < readLimit))
            let idleDue = syncTarget != nil || clock.now - lastIdleAdvance >= idleAdvanceInterval
            if idleDue, let advance = batcher.advanceIdle(to: serverPosition) {
                lastIdleAdvance = clock.now
                try await queue.submit([advance])
            }
            let durable = queue.durable
            let waitingForServer = syncTarget.map { batcher.isIdle && serverPosition < $0 } ?? false
            if replyRequested || waitingForServer || durable != acknowledged || clock.now - lastStatus >= statusInterval {
                try await Self.acknowledge(stream: stream, durable, requestReply: waitingForServer)
                acknowledged = durable
                lastStatus = clock.now
                replyRequested = false
            }
        }

        try await queue.settle()
        let (actions, rollback) = batcher.drain()
        if rollback {
            logger.info("rolling back the unfinished part of a large transaction; it is replayed on the next start")
            try await sink.rollback()
        }
        try await queue.submit(actions)
        try await queue.settle()
        try await Self.acknowledge(stream: stream, queue.durable, requestReply: false)
        try await stream.end()
        return queue.durable
    }

    private static func decode(_ bytes: ArraySlice<UInt8>, at lsn: LSN, inStreamBlock: Bool) throws(ForagerError) -> PGOutputMessage {
        do { return try PGOutputMessage.decode(bytes, inStreamBlock: inStreamBlock) } catch {
            throw ForagerError(.protocolViolation, "could not decode the pgoutput message at \(lsn): \(error)")
        }
    }

    private static func acknowledge(stream: Stream, _ lsn: LSN, requestReply: Bool) async throws {
        let update = StandbyStatusUpdate(
            written: lsn, flushed: lsn, applied: lsn, clientTime: .now, replyRequested: requestReply)
        try await stream.send(update)
    }
}

/// Applies one list of actions in the background while the replicator reads and collapses the
/// next, so that decoding overlaps the warehouse's work. At most one list is in flight, and lists
/// run in order; `durable` is the last checkpoint the warehouse committed, the only position that
/// may be acknowledged.
///
/// An applied list is freed on a task of its own, while the next one applies: freeing a batch's
/// rows costs about a fifth of Forager's work on them (the profile of a catch-up), and the
/// replicator would otherwise wait for it before handing over the next batch. At most one list is
/// being freed, so memory holds at most three: one forming, one applying, one being freed.
private struct ApplyQueue<Sink: WarehouseSink> {
    let sink: Sink
    let logger: Logger
    let onDurable: (@Sendable (LSN) -> Void)?
    private let committed: Position
    /// The list being applied; its value is the task that frees it afterwards.
    private var inFlight: Task<Task<Void, Never>, any Error>?
    /// The task freeing the list applied before.
    private var releasing: Task<Void, Never>?

    /// The durable position, written by the background task and read by the replicator.
    private final class Position: Sendable {
        let value: Mutex<LSN>
        init(_ lsn: LSN) { value = Mutex(lsn) }
    }

    /// A list handed to the task that applies or frees it, which takes it out: the task's closure
    /// then holds no second reference, and the list is freed where the taker lets go of it.
    private final class Parcel: Sendable {
        private let contents: Mutex<[ChangeBatcher.Action]>
        init(_ actions: consuming [ChangeBatcher.Action]) { contents = Mutex(actions) }

        func take() -> [ChangeBatcher.Action] {
            contents.withLock { contents in
                var taken: [ChangeBatcher.Action] = []
                swap(&taken, &contents)
                return taken
            }
        }
    }

    init(sink: Sink, logger: Logger, durable: LSN, onDurable: (@Sendable (LSN) -> Void)?) {
        self.sink = sink
        self.logger = logger
        self.onDurable = onDurable
        self.committed = Position(durable)
    }

    var durable: LSN { committed.value.withLock { $0 } }

    /// Waits for the previous list, then starts `actions`.
    mutating func submit(_ actions: [ChangeBatcher.Action]) async throws {
        guard !actions.isEmpty else { return }
        try await settle()
        let sink = self.sink, logger = self.logger, committed = self.committed, onDurable = self.onDurable
        let parcel = Parcel(actions)
        inFlight = Task {
            let actions = parcel.take()
            if let through = try await Self.perform(sink: sink, logger: logger, actions) {
                committed.value.withLock { $0 = max($0, through) }
                onDurable?(through)
            }
            let applied = Parcel(consume actions)
            return Task.detached(priority: .utility) { _ = applied.take() }
        }
        // Pieces of one huge transaction are not overlapped, and each is freed before the next
        // forms: memory stays at one piece.
        if actions.contains(where: { if case .apply = $0 { true } else { false } }) {
            try await settle()
            await releasing?.value
            releasing = nil
        }
    }

    /// Waits for the list in flight; rethrows its error.
    mutating func settle() async throws {
        guard let task = inFlight else { return }
        inFlight = nil
        let release = try await task.value
        await releasing?.value
        releasing = release
    }

    /// Carries out actions in order; returns the last checkpoint committed, if any.
    static func perform(sink: Sink, logger: Logger, _ actions: [ChangeBatcher.Action]) async throws -> LSN? {
        var committed: LSN?
        let clock = ContinuousClock()
        for action in actions {
            switch action {
            case .apply(let changes):
                logger.debug("applying part of a large transaction", metadata: ["forager.changes": "\(changes.changeCount)"])
                try await sink.apply(changes)
                ForagerMetrics.recordApplied(changes)
            case .commit(let changes, let through):
                let started = clock.now
                if !changes.isEmpty { try await sink.apply(changes) }
                try await sink.commit(checkpoint: through)
                ForagerMetrics.recordCommit(changes, through: through, duration: clock.now - started)
                committed = through
                logger.debug("committed batch", metadata: ["forager.changes": "\(changes.changeCount)", "forager.lsn": "\(through)"])
            }
        }
        return committed
    }

}
