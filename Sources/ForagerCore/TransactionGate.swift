public import PGOutput
internal import Synchronization

/// Lets another task hold a replication stream before a transaction, and change the batcher's
/// table sync points at that moment. A table copied beside the stream uses it to hand over: the
/// stream holds transactions from the handover point on until the copy's own stream has applied
/// everything before it.
public final class TransactionGate: Sendable {
    private enum Hold: Sendable {
        case none
        /// Hold the next transaction, whatever its position.
        case next
        /// Hold transactions that commit at or after the position.
        case from(LSN)
    }

    private struct State: Sendable {
        var hold = Hold.none
        var syncPoints: [TableName: LSN] = [:]
    }

    /// What the stream may do before a transaction.
    enum Passage: Equatable {
        /// Pass, after applying these table sync points (once).
        case pass([TableName: LSN])
        /// Wait: the hold as it stood at `generation` of the gate's changes keeps the transaction back.
        case held(generation: UInt64)
    }

    private let state = Mutex(State())
    /// Moves at every change of the hold; a held stream waits on it.
    private let changes = ChangeSignal()

    public init() {}

    /// Holds the stream at its next transaction. Every transaction the stream passed before this
    /// call committed before it, so a WAL position read after it is beyond all of them.
    public func holdNext() {
        state.withLock { $0.hold = .next }
        changes.changed()
    }

    /// Lets transactions that commit before `lsn` pass, with `syncPoints` applied first, and holds
    /// the rest until ``release()``.
    public func hold(from lsn: LSN, syncPoints: [TableName: LSN]) {
        state.withLock {
            $0.hold = .from(lsn)
            $0.syncPoints.merge(syncPoints) { $1 }
        }
        changes.changed()
    }

    /// Lets everything pass (the sync points already given still apply first).
    public func release() {
        state.withLock { $0.hold = .none }
        changes.changed()
    }

    /// For the stream, before the transaction that commits at `finalLSN`: whether it may pass.
    func passage(_ finalLSN: LSN) -> Passage {
        // Read before the hold: a change after this reading moves past it.
        let generation = changes.generation
        return state.withLock { state in
            switch state.hold {
            case .next: return .held(generation: generation)
            case .from(let lsn) where finalLSN >= lsn: return .held(generation: generation)
            case .none, .from: break
            }
            let points = state.syncPoints
            state.syncPoints = [:]
            return .pass(points)
        }
    }

    /// Returns once the hold changed after `generation` (as ``passage(_:)`` gave it), or after
    /// `timeout` on `clock`, whichever comes first, so that a held stream can keep its connection
    /// alive and notice a stop meanwhile.
    func waitForChange<C: Clock>(since generation: UInt64, noLongerThan timeout: Duration, on clock: C) async
    where C.Duration == Duration {
        await changes.wait(since: generation, until: clock.now.advanced(by: timeout), clock: clock)
    }
}
