import Synchronization

/// Set once the pipeline is asked to stop (a graceful shutdown after SIGINT or SIGTERM); work in
/// progress reads ``isSet`` between steps, and waits end early through ``wait(until:clock:)``.
public final class StopSignal: Sendable {
    private struct State {
        var isSet = false
        var nextWaiter = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    /// A signal that is not set.
    public init() {}

    /// True once ``set()`` was called.
    public var isSet: Bool { state.withLock { $0.isSet } }

    /// Sets the signal and wakes every ``wait(until:clock:)`` in progress.
    public func set() {
        let waiters = state.withLock { state in
            state.isSet = true
            defer { state.waiters = [:] }
            return state.waiters.values
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Waits until the signal is set or `deadline` passes on `clock`, whichever comes first, or the
    /// task is cancelled. True when the signal is set.
    public func wait<C: Clock>(until deadline: C.Instant, clock: C) async -> Bool {
        guard !isSet else { return true }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitUntilSet() }
            group.addTask { try? await clock.sleep(until: deadline, tolerance: nil) }
            await group.next()
            group.cancelAll()
        }
        return isSet
    }

    /// Waits until the signal is set or `deadline` passes, whichever comes first. True when set.
    public func wait(until deadline: ContinuousClock.Instant) async -> Bool {
        await wait(until: deadline, clock: ContinuousClock())
    }

    /// Returns once the signal is set or the task is cancelled.
    private func waitUntilSet() async {
        let id = state.withLock { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    if state.isSet || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}
