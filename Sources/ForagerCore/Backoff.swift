/// Exponential backoff with jitter, for reconnecting after transient failures.
///
/// The n-th wait is drawn uniformly from the upper half of `min(cap, base × 2ⁿ)`: it grows quickly
/// to the cap, and the random half keeps many Forager instances (or one instance's reconnects
/// after a shared outage) from retrying in lockstep. `reset()` after a success starts over.
public struct Backoff: Sendable, Equatable {
    public let base: Duration
    public let cap: Duration
    /// Failed attempts since the last success.
    public private(set) var attempt = 0

    public init(base: Duration = .seconds(1), cap: Duration = .seconds(60)) {
        precondition(base > .zero && cap >= base, "backoff needs 0 < base <= cap")
        self.base = base
        self.cap = cap
    }

    /// The wait before the next attempt; counts the failure.
    public mutating func next(using generator: inout some RandomNumberGenerator) -> Duration {
        let ceiling = ceilingForAttempt(attempt)
        attempt += 1
        let half = ceiling / 2
        let jitter = Double.random(in: 0...1, using: &generator)
        return half + half * jitter
    }

    /// The wait before the next attempt, with the system's random numbers.
    public mutating func next() -> Duration {
        var generator = SystemRandomNumberGenerator()
        return next(using: &generator)
    }

    /// Starts over after a success.
    public mutating func reset() { attempt = 0 }

    private func ceilingForAttempt(_ attempt: Int) -> Duration {
        // Doubling past 2^20 seconds is beyond any sensible cap; stop multiplying before overflow.
        var ceiling = base
        for _ in 0..<min(attempt, 40) {
            ceiling = ceiling * 2
            if ceiling >= cap { return cap }
        }
        return min(ceiling, cap)
    }
}
