import Synchronization

/// Set once the pipeline is asked to stop (SIGINT, SIGTERM, a graceful shutdown); long-running
/// work polls it and winds down cleanly.
public final class StopSignal: Sendable {
    private let flag = Mutex(false)

    /// A signal that is not set.
    public init() {}

    /// True once ``set()`` was called.
    public var isSet: Bool { flag.withLock { $0 } }

    /// Asks everything that polls this signal to stop.
    public func set() { flag.withLock { $0 = true } }
}
