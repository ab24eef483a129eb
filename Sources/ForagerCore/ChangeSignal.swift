internal import Synchronization

/// Something tasks wait on until it changes, with a deadline: a counter of changes (the
/// generation) and the tasks waiting for it to move. A waiter reads ``generation`` before it
/// looks at the state it waits on, so a change made after that look always wakes it.
public final class ChangeSignal: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var nextWaiter = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// How many changes there have been.
    public var generation: UInt64 { state.withLock { $0.generation } }

    /// Records a change and wakes every waiting task.
    public func changed() {
        let waiters = state.withLock { state in
            state.generation += 1
            defer { state.waiters = [:] }
            return state.waiters.values
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once there was a change after `generation`, at `deadline` on `clock`, or when the
    /// task is cancelled, whichever comes first.
    public func wait<C: Clock>(since generation: UInt64, until deadline: C.Instant, clock: C) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.wait(since: generation) }
            group.addTask { try? await clock.sleep(until: deadline, tolerance: nil) }
            await group.next()
            group.cancelAll()
        }
    }

    /// Returns once there was a change after `generation`, or when the task is cancelled.
    private func wait(since generation: UInt64) async {
        let id = state.withLock { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                // A cancellation before this point finds no waiter to resume; it is seen here.
                let now = state.withLock { state in
                    if state.generation != generation || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}
