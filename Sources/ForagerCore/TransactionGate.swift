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

    private let state = Mutex(State())

    public init() {}

    /// Holds the stream at its next transaction. Every transaction the stream passed before this
    /// call committed before it, so a WAL position read after it is beyond all of them.
    public func holdNext() {
        state.withLock { $0.hold = .next }
    }

    /// Lets transactions that commit before `lsn` pass, with `syncPoints` applied first, and holds
    /// the rest until ``release()``.
    public func hold(from lsn: LSN, syncPoints: [TableName: LSN]) {
        state.withLock {
            $0.hold = .from(lsn)
            $0.syncPoints.merge(syncPoints) { $1 }
        }
    }

    /// Lets everything pass (the sync points already given still apply first).
    public func release() {
        state.withLock { $0.hold = .none }
    }

    /// For the stream, before the transaction that commits at `finalLSN`: nil while it must wait,
    /// otherwise the sync points to apply (once) before it.
    func passage(_ finalLSN: LSN) -> [TableName: LSN]? {
        state.withLock { state in
            switch state.hold {
            case .next: return nil
            case .from(let lsn) where finalLSN >= lsn: return nil
            case .none, .from: break
            }
            let points = state.syncPoints
            state.syncPoints = [:]
            return points
        }
    }
}
