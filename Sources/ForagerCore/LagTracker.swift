public import PGOutput

/// End-to-end replication lag, measured with heartbeats on one clock.
///
/// A heartbeat is a logical message written on the source at a known WAL position; it is
/// `sent(at:)` the moment the source returned that position. Once the warehouse checkpoint reaches
/// the position, the time between the two is a lag sample: from the source's commit to the
/// warehouse's, measured on Forager's clock only, so clock skew between hosts does not enter.
/// Between samples, an unapplied heartbeat older than the last sample makes the lag grow with it,
/// so the lag rises while the warehouse is down instead of freezing at its last value.
public struct LagTracker: Sendable {
    /// Heartbeats written but not yet in the warehouse, oldest first.
    private var pending: [(lsn: LSN, sentAt: ContinuousClock.Instant)] = []
    /// The latest sample.
    public private(set) var lastSample: Duration?
    /// The latest durable warehouse checkpoint seen.
    public private(set) var checkpoint: LSN?
    /// Most heartbeats remembered; past this the middle ones are forgotten (the oldest decides the
    /// lag, the newest the next sample).
    static let capacity = 1024

    public init() {}

    /// Records a heartbeat written at WAL position `lsn` at `now`.
    public mutating func sent(_ lsn: LSN, at now: ContinuousClock.Instant) {
        if let checkpoint, lsn <= checkpoint { return }
        if pending.count >= Self.capacity { pending.remove(at: pending.count / 2) }
        pending.append((lsn, now))
    }

    /// Records that the warehouse made everything before `lsn` durable at `now`.
    public mutating func committed(_ lsn: LSN, at now: ContinuousClock.Instant) {
        checkpoint = max(checkpoint ?? lsn, lsn)
        guard let newest = pending.lastIndex(where: { $0.lsn <= lsn }) else { return }
        lastSample = now - pending[newest].sentAt
        pending.removeFirst(newest + 1)
    }

    /// The lag at `now`: the last sample, or longer while a heartbeat older than that waits.
    /// Nil before the first heartbeat.
    public func lag(at now: ContinuousClock.Instant) -> Duration? {
        let waiting = pending.first.map { now - $0.sentAt }
        switch (lastSample, waiting) {
        case (let sample?, let waiting?): return max(sample, waiting)
        case (let sample?, nil): return sample
        case (nil, let waiting?): return waiting
        case (nil, nil): return nil
        }
    }
}
