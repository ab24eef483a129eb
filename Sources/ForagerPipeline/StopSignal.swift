import ForagerCore
import Synchronization

/// Set once the pipeline is asked to stop (a graceful shutdown after SIGINT or SIGTERM); work in
/// progress reads ``isSet`` between steps, and waits end early through ``wait(until:clock:)``.
public final class StopSignal: Sendable {
    private let flag = Mutex(false)
    private let changes = ChangeSignal()

    /// A signal that is not set.
    public init() {}

    /// True once ``set()`` was called.
    public var isSet: Bool { flag.withLock { $0 } }

    /// Sets the signal and wakes every ``wait(until:clock:)`` in progress.
    public func set() {
        flag.withLock { $0 = true }
        changes.changed()
    }

    /// Waits until the signal is set or `deadline` passes on `clock`, whichever comes first, or the
    /// task is cancelled. True when the signal is set.
    public func wait<C: Clock>(until deadline: C.Instant, clock: C) async -> Bool {
        // Read before the flag: a set() after this reading moves past it.
        let generation = changes.generation
        guard !isSet else { return true }
        await changes.wait(since: generation, until: deadline, clock: clock)
        return isSet
    }

    /// Waits until the signal is set or `deadline` passes, whichever comes first. True when set.
    public func wait(until deadline: ContinuousClock.Instant) async -> Bool {
        await wait(until: deadline, clock: ContinuousClock())
    }
}
