import Logging
import PGOutput
internal import Synchronization

/// Applies one list of actions in the background while the replicator reads and collapses the
/// next, so that decoding overlaps the warehouse's work. At most one list is in flight, and lists
/// run in order; `durable` is the last checkpoint the warehouse committed, the only position that
/// may be acknowledged.
///
/// An applied list is freed on a task of its own, while the next one applies: freeing a batch's
/// rows costs about a fifth of Forager's work on them (the profile of a catch-up), and the
/// replicator would otherwise wait for it before handing over the next batch. At most one list is
/// being freed, so memory holds at most three: one forming, one applying, one being freed.
struct ApplyQueue<Sink: WarehouseSink, C: Clock> where C.Duration == Duration {
    let sink: Sink
    let logger: Logger
    let clock: C
    let metrics: ReplicationMetrics
    let onDurable: (@Sendable (LSN) -> Void)?
    let onStopped: (@Sendable (Set<TableName>) -> Void)?
    private let committed: Position
    /// The list being applied; its value is the task that frees it afterwards.
    private var inFlight: Task<Task<Void, Never>, any Error>?
    /// The task freeing the list applied before.
    private var releasing: Task<Void, Never>?

    /// The durable position, whether a list is being applied, and the tables stopped as the
    /// warehouse's unit of work stands, written by the background task and read by the replicator.
    private final class Position: Sendable {
        let value: Mutex<LSN>
        let applying = Mutex(false)
        /// Changes each time a list has been applied (or failed).
        let finished = ChangeSignal()
        let stopped: Mutex<StoppedTables>
        init(_ lsn: LSN, stopped: StoppedTables) {
            value = Mutex(lsn)
            self.stopped = Mutex(stopped)
        }
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

    /// - Parameters:
    ///   - durable: the warehouse's committed checkpoint.
    ///   - stopped: the tables the warehouse records as stopped.
    init(
        sink: Sink, logger: Logger, clock: C, metrics: ReplicationMetrics, durable: LSN, stopped: StoppedTables,
        onDurable: (@Sendable (LSN) -> Void)?, onStopped: (@Sendable (Set<TableName>) -> Void)?
    ) {
        self.sink = sink
        self.logger = logger
        self.clock = clock
        self.metrics = metrics
        self.onDurable = onDurable
        self.onStopped = onStopped
        self.committed = Position(durable, stopped: stopped)
    }

    var durable: LSN { committed.value.withLock { $0 } }

    /// True while the warehouse is still working on the last list submitted: a list submitted now
    /// would wait for it.
    var isApplying: Bool { committed.applying.withLock { $0 } }

    /// Returns once the list being applied is done (or failed), or after `limit` on the clock,
    /// whichever comes first; at once when none is being applied.
    func waitForApply(noLongerThan limit: Duration) async {
        let generation = committed.finished.generation
        guard limit > .zero, isApplying else { return }
        await committed.finished.wait(since: generation, until: clock.now.advanced(by: limit), clock: clock)
    }

    /// Waits for the previous list, then starts `actions`.
    mutating func submit(_ actions: [ChangeBatcher.Action]) async throws {
        guard !actions.isEmpty else { return }
        try await settle()
        let sink = self.sink, logger = self.logger, clock = self.clock, metrics = self.metrics
        let committed = self.committed, onDurable = self.onDurable, onStopped = self.onStopped
        let parcel = Parcel(actions)
        committed.applying.withLock { $0 = true }
        inFlight = Task {
            defer {
                committed.applying.withLock { $0 = false }
                committed.finished.changed()
            }
            let actions = parcel.take()
            var stopped = committed.stopped.withLock { $0 }
            let before = stopped.names
            let through = try await Self.perform(sink: sink, logger: logger, clock: clock, metrics: metrics, actions, stopped: &stopped)
            committed.stopped.withLock { $0 = stopped }
            if let through {
                committed.value.withLock { $0 = max($0, through) }
                onDurable?(through)
                if stopped.names != before { onStopped?(stopped.names) }
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

    /// Carries out actions in order, leaving out the tables in `stopped` and adding those the
    /// changes stop; returns the last checkpoint committed, if any.
    static func perform(
        sink: Sink, logger: Logger, clock: C, metrics: ReplicationMetrics, _ actions: [ChangeBatcher.Action], stopped: inout StoppedTables
    ) async throws -> LSN? {
        var committed: LSN?
        for action in actions {
            switch action {
            case .apply(let changes):
                logger.debug("applying part of a large transaction", metadata: ["forager.changes": "\(changes.changeCount)"])
                try await sink.apply(changes, stopped: &stopped)
                metrics.recordApplied(changes)
            case .commit(let changes, let through):
                let started = clock.now
                if !changes.isEmpty { try await sink.apply(changes, stopped: &stopped) }
                try await sink.commit(checkpoint: through)
                metrics.recordCommit(changes, through: through, duration: started.duration(to: clock.now))
                committed = through
                logger.debug("committed batch", metadata: ["forager.changes": "\(changes.changeCount)", "forager.lsn": "\(through)"])
            }
        }
        return committed
    }
}
