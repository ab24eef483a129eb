import Logging
import PGOutput

/// One run of a ``Replicator``: the state of the read loop and its steps. A class, used by the one
/// task that runs it: its steps change the batcher in place, where a struct's method called across
/// a suspension point would copy it, buffered changes and all.
final class ReplicationLoop<Stream: ReplicationStream, Sink: WarehouseSink, C: Clock> where C.Duration == Duration {
    private let stream: Stream
    private let sink: Sink
    private let logger: Logger
    private let clock: C
    private let metrics: ReplicationMetrics
    private let shouldStop: @Sendable () -> Bool
    private let statusInterval: Duration
    private let idleAdvanceInterval: Duration
    private let interruption: (@Sendable () async throws -> Bool)?
    private let interruptionInterval: Duration
    private let gate: TransactionGate?
    /// The position a sync stops at; nil for a continuous run.
    private let syncTarget: LSN?
    /// The clock's reading when the run began: times are kept as durations since it.
    private let origin: C.Instant
    private let readLimit = 2048

    private var batcher: ChangeBatcher
    private var spill: (any TransactionSpill)?
    private var queue: ApplyQueue<Sink, C>
    private var inStreamBlock = false
    private var acknowledged = LSN.zero
    private var lastStatus: Duration = .zero
    private var lastIdleAdvance: Duration
    private var lastInterruptionCheck: Duration = .zero
    private var serverPosition = LSN.zero
    private var replyRequested = false

    init(_ replicator: consuming Replicator<Stream, Sink, C>) {
        stream = replicator.stream
        sink = replicator.sink
        logger = replicator.logger
        clock = replicator.clock
        metrics = replicator.metrics
        shouldStop = replicator.shouldStop
        statusInterval = replicator.statusInterval
        idleAdvanceInterval = replicator.idleAdvanceInterval
        interruption = replicator.interruption
        interruptionInterval = replicator.interruptionInterval
        gate = replicator.gate
        syncTarget = if case .until(let target) = replicator.mode { target } else { nil }
        origin = replicator.clock.now
        lastIdleAdvance = .zero - replicator.idleAdvanceInterval
        spill = replicator.spill
        queue = ApplyQueue(
            sink: replicator.sink, logger: replicator.logger, clock: replicator.clock, metrics: replicator.metrics,
            durable: replicator.batcher.checkpoint, stopped: StoppedTables(replicator.batcher.stoppedTables),
            onDurable: replicator.onDurable,
            onStopped: replicator.onStopped)
        batcher = replicator.batcher
    }

    /// The time since the run began.
    private var now: Duration { origin.duration(to: clock.now) }

    /// Reads until stopped, then commits what it has; returns the acknowledged final checkpoint.
    func run() async throws -> LSN {
        defer { spill?.closeAll() }
        while !shouldStop() {
            if let syncTarget, batcher.isIdle, batcher.checkpoint >= syncTarget { break }
            if try await interrupted() { break }
            guard let messages = try await stream.read(maxMessages: readLimit, timeout: readTimeout) else {
                throw ForagerError(
                    .replicationState, "the source server ended the replication stream",
                    hint: "Check the source server's log; Forager resumes from its checkpoint.", isTransient: true)
            }
            let readAt = now
            for bytes in messages {
                guard try await handle(bytes, readAt: readAt) else { return try await finish() }
            }
            try await afterRead(caughtUp: messages.count < readLimit)
            if messages.count < readLimit { try await gather() }
        }
        return try await finish()
    }

    /// With the stream caught up and whole transactions waiting, lets the next ones gather instead
    /// of waking for each: until the batch being applied is committed (checking the stream at
    /// least every `min_interval_ms`, so that a long apply still overlaps the reading), or, while
    /// pacing is engaged (``BatchPacing``), for the rest of `min_interval_ms` since the last
    /// batch. Under a steady load of small transactions this is a few wake-ups and one warehouse
    /// round per interval rather than per transaction: on a busy machine their cost came out of
    /// the source's walsender, and the lag grew to seconds (bench case 10).
    private func gather() async throws {
        guard !batcher.isIdle else { return }
        if queue.isApplying {
            await queue.waitForApply(noLongerThan: batcher.limits.minInterval)
        } else if let wait = batcher.gatheringTime(now: now) {
            try await stream.gather(for: wait)
        }
    }

    /// How long a read waits for the server: briefly while whole transactions wait, so that they
    /// are handed over as soon as they are due.
    private var readTimeout: Duration {
        !batcher.isIdle ? .milliseconds(2) : .milliseconds(100)
    }

    /// True when the caller asked, at its interval, to end this run.
    private func interrupted() async throws -> Bool {
        guard let interruption, now - lastInterruptionCheck >= interruptionInterval else { return false }
        lastInterruptionCheck = now
        return try await interruption()
    }

    /// Handles one CopyData payload; false when asked to stop while the gate held a transaction.
    private func handle(_ bytes: [UInt8], readAt: Duration) async throws -> Bool {
        let message: ReplicationMessage
        do { message = try ReplicationMessage.decode(bytes) } catch {
            throw ForagerError(.protocolViolation, "could not decode a replication message: \(error)")
        }
        switch message {
        case .xLogData(let data):
            let decoded = try Self.decode(data.data, at: data.walStart, inStreamBlock: inStreamBlock)
            return try await handle(decoded, data: data, readAt: readAt)
        case .keepalive(let keepalive):
            serverPosition = max(serverPosition, keepalive.walEnd)
            replyRequested = replyRequested || keepalive.replyRequested
            return true
        }
    }

    /// Handles one pgoutput message: streamed transactions go to the spill, the rest to the batcher.
    private func handle(_ decoded: PGOutputMessage, data: XLogData, readAt: Duration) async throws -> Bool {
        switch decoded {
        case .streamStart(let start):
            try spilling { (spill: inout any TransactionSpill) throws(ForagerError) in try spill.start(start) }
            inStreamBlock = true
        case .streamStop:
            try spilling { (spill: inout any TransactionSpill) throws(ForagerError) in try spill.stop() }
            inStreamBlock = false
        case .streamed(let xid, _):
            try spilling { (spill: inout any TransactionSpill) throws(ForagerError) in
                try spill.append(subxid: xid, lsn: data.walStart, message: data.data)
            }
            return true
        case .streamAbort(let abort):
            try spilling { (spill: inout any TransactionSpill) throws(ForagerError) in try spill.abort(abort) }
            if abort.xid == abort.subxid { metrics.recordStreamed(committed: false) }
        case .streamCommit(let commit):
            guard try await replay(commit, at: data.walStart) else { return false }
            metrics.recordStreamed(committed: true)
        default:
            return try await deliver(decoded, at: data.walStart, readAt: readAt)
        }
        if let spill { metrics.recordSpill(spill) }
        return true
    }

    /// Hands one message of a whole transaction to the batcher, after the gate lets its
    /// transaction pass; false when asked to stop while the gate held it. `readAt`: when the
    /// message was read (one clock reading serves a whole read).
    private func deliver(_ decoded: PGOutputMessage, at lsn: LSN, readAt: Duration) async throws -> Bool {
        if let gate, case .begin(let begin) = decoded {
            guard let points = try await waitForPassage(gate, begin.finalLSN) else { return false }
            for (table, lsn) in points { batcher.setSyncPoint(lsn, for: table) }
        }
        let actions = try batcher.receive(decoded, at: lsn, now: readAt)
        if !actions.isEmpty { try await queue.submit(actions) }
        return true
    }

    /// Waits until the gate lets the transaction committing at `finalLSN` pass, keeping the
    /// server's connection alive meanwhile; returns the sync points to apply first, or nil when
    /// asked to stop while held.
    private func waitForPassage(_ gate: TransactionGate, _ finalLSN: LSN) async throws -> [TableName: LSN]? {
        while true {
            switch gate.passage(finalLSN) {
            case .pass(let points):
                return points
            case .held(let generation):
                if now - lastStatus >= statusInterval {
                    try await acknowledge(queue.durable, requestReply: false)
                }
                if shouldStop() { return nil }
                await gate.waitForChange(since: generation, noLongerThan: .milliseconds(100), on: clock)
            }
        }
    }

    /// Runs `body` on the spill; a protocol error when the stream was not asked to stream.
    private func spilling(_ body: (inout any TransactionSpill) throws(ForagerError) -> Void) throws(ForagerError) {
        guard spill != nil else {
            throw ForagerError(.protocolViolation, "the source streamed an uncommitted transaction, which this stream did not ask for")
        }
        try body(&spill!)
    }

    /// Replays a streamed transaction that committed, as a whole one, from its spill file.
    private func replay(_ streamed: StreamCommit, at lsn: LSN) async throws -> Bool {
        guard var reader = try spill?.commit(streamed.xid) else {
            throw ForagerError(
                .protocolViolation, "Stream Commit of transaction \(streamed.xid) on a stream that does not stream transactions")
        }
        let begin = Begin(finalLSN: streamed.commit.commitLSN, commitTime: streamed.commit.commitTime, xid: streamed.xid)
        guard try await deliver(.begin(begin), at: lsn, readAt: now) else {
            reader.discard()
            return false
        }
        while let record = try reader.next() {
            guard case .streamed(_, let change) = try Self.decode(record.message, at: record.lsn, inStreamBlock: true) else {
                throw ForagerError(
                    .protocolViolation, "the spilled message at \(record.lsn) of transaction \(streamed.xid) is not a streamed change")
            }
            _ = try await deliver(change, at: record.lsn, readAt: now)
        }
        return try await deliver(.commit(streamed.commit), at: lsn, readAt: now)
    }

    /// After each read: commits what is due, moves an idle checkpoint to the server's position,
    /// and acknowledges what is durable when it changed, when asked, or at the status interval.
    ///
    /// A stream that is caught up goes to the idle warehouse at once (paced under many small
    /// transactions: ``gather()``); while the previous batch is being applied the loop goes on
    /// reading, and the next batch takes every whole transaction that arrived meanwhile (group commit), rather than one small batch per read each waiting
    /// for the one before. Behind a backlog (a full read) the idle warehouse gets the batch once
    /// it is worth a round (``ChangeBatcher/tick(now:warehouseIdle:caughtUp:)``), not only after
    /// `max_age_ms`: a stream that trailed by a read under a steady load used to leave the
    /// warehouse idle that long. The limits of rows, bytes and age still commit as they would.
    private func afterRead(caughtUp: Bool) async throws {
        try await queue.submit(batcher.tick(now: now, warehouseIdle: !queue.isApplying, caughtUp: caughtUp))
        let idleDue = syncTarget != nil || now - lastIdleAdvance >= idleAdvanceInterval
        if idleDue, let advance = batcher.advanceIdle(to: serverPosition) {
            lastIdleAdvance = now
            try await queue.submit([advance])
        }
        let durable = queue.durable
        let waitingForServer = syncTarget.map { batcher.isIdle && serverPosition < $0 } ?? false
        if replyRequested || waitingForServer || durable != acknowledged || now - lastStatus >= statusInterval {
            try await acknowledge(durable, requestReply: waitingForServer)
            replyRequested = false
        }
    }

    /// Commits every whole transaction received (rolling back the unfinished part of a large
    /// one), acknowledges the result and ends the stream.
    private func finish() async throws -> LSN {
        try await queue.settle()
        let (actions, rollback) = batcher.drain()
        if rollback {
            logger.info("rolling back the unfinished part of a large transaction; it is replayed on the next start")
            try await sink.rollback()
        }
        try await queue.submit(actions)
        try await queue.settle()
        try await acknowledge(queue.durable, requestReply: false)
        try await stream.end()
        return queue.durable
    }

    private func acknowledge(_ lsn: LSN, requestReply: Bool) async throws {
        try await stream.acknowledge(lsn, replyRequested: requestReply)
        acknowledged = lsn
        lastStatus = now
    }

    private static func decode(_ bytes: ArraySlice<UInt8>, at lsn: LSN, inStreamBlock: Bool) throws(ForagerError) -> PGOutputMessage {
        do { return try PGOutputMessage.decode(bytes, inStreamBlock: inStreamBlock) } catch {
            throw ForagerError(.protocolViolation, "could not decode the pgoutput message at \(lsn): \(error)")
        }
    }
}
