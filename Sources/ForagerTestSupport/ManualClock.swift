internal import Synchronization

/// A clock whose time moves only when told (``advance(by:)``), for tests of code that waits on
/// intervals: what happens at ten seconds is tested without waiting ten seconds.
public final class ManualClock: Clock, Sendable {
    /// A reading of the clock: the time advanced since it was made.
    public struct Instant: InstantProtocol, Sendable {
        public let offset: Duration

        public init(offset: Duration) { self.offset = offset }
        public func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        public func duration(to other: Instant) -> Duration { other.offset - offset }
        public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
    }

    private let time = Mutex(Duration.zero)

    public init() {}

    public var now: Instant { Instant(offset: time.withLock { $0 }) }
    public var minimumResolution: Duration { .nanoseconds(1) }

    /// Moves the time forward; sleepers whose deadline it passes wake (within a millisecond).
    public func advance(by duration: Duration) {
        time.withLock { $0 += duration }
    }

    /// Returns once the time reached `deadline`, or throws when the task is cancelled first.
    public func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        while now < deadline { try await Task.sleep(for: .milliseconds(1)) }
    }
}
