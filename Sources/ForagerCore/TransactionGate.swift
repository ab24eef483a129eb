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
        /// Counts changes of `hold`; a wait ends once it moved past the one the wait started at.
        var generation: UInt64 = 0
        var nextWait: UInt64 = 0
        var waits: [UInt64: Wait] = [:]
    }

    /// A stream waiting for the hold to change, or a wait cancelled before it began to wait.
    private enum Wait: Sendable {
        case waiting(CheckedContinuation<Void, Never>)
        case cancelled
    }

    /// What the stream may do before a transaction.
    enum Passage: Equatable {
        /// Pass, after applying these table sync points (once).
        case pass([TableName: LSN])
        /// Wait: the hold as it stood at `generation` keeps the transaction back.
        case held(generation: UInt64)
    }

    private let state = Mutex(State())

    public init() {}

    /// Holds the stream at its next transaction. Every transaction the stream passed before this
    /// call committed before it, so a WAL position read after it is beyond all of them.
    public func holdNext() {
        change { $0.hold = .next }
    }

    /// Lets transactions that commit before `lsn` pass, with `syncPoints` applied first, and holds
    /// the rest until ``release()``.
    public func hold(from lsn: LSN, syncPoints: [TableName: LSN]) {
        change {
            $0.hold = .from(lsn)
            $0.syncPoints.merge(syncPoints) { $1 }
        }
    }

    /// Lets everything pass (the sync points already given still apply first).
    public func release() {
        change { $0.hold = .none }
    }

    /// For the stream, before the transaction that commits at `finalLSN`: whether it may pass.
    func passage(_ finalLSN: LSN) -> Passage {
        state.withLock { state in
            switch state.hold {
            case .next: return .held(generation: state.generation)
            case .from(let lsn) where finalLSN >= lsn: return .held(generation: state.generation)
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
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForChange(since: generation) }
            group.addTask { try? await clock.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }

    /// Returns once the hold changed after `generation`, or when the task is cancelled.
    private func waitForChange(since generation: UInt64) async {
        let id = state.withLock { state in
            state.nextWait += 1
            return state.nextWait
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if state.generation != generation || state.waits[id] != nil {
                        state.waits[id] = nil
                        return true
                    }
                    state.waits[id] = .waiting(continuation)
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiting = state.withLock { state -> CheckedContinuation<Void, Never>? in
                guard case .waiting(let continuation) = state.waits[id] else {
                    state.waits[id] = .cancelled
                    return nil
                }
                state.waits[id] = nil
                return continuation
            }
            waiting?.resume()
        }
        state.withLock { $0.waits[id] = nil }
    }

    /// Changes the hold and wakes every waiting stream.
    private func change(_ body: (inout State) -> Void) {
        let woken = state.withLock { state in
            body(&state)
            state.generation += 1
            let waits = state.waits
            state.waits = [:]
            return waits.values.compactMap { wait -> CheckedContinuation<Void, Never>? in
                if case .waiting(let continuation) = wait { continuation } else { nil }
            }
        }
        for continuation in woken { continuation.resume() }
    }
}
