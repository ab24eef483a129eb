/// When a small batch that caught up with the stream may go to an idle warehouse: at once, unless
/// transactions arrive fast enough that waiting gathers several per warehouse round. Then it
/// follows the batch before it no sooner than `minInterval`.
///
/// Under a steady load of small transactions (thousands a second), one round per transaction
/// cost Forager and the warehouse about half a core, which on a busy host came out of the source's
/// walsender: the lag grew to seconds (bench case 10). At a hundred transactions a second (bench
/// case 4) each round has one transaction whatever the wait, and waiting would only add latency.
/// So pacing holds a batch only while the mean time between transactions is under half the
/// interval: a batch then gathers two or more.
public struct BatchPacing: Sendable, Equatable {
    /// The least time between two paced batches; zero turns pacing off.
    public let minInterval: Duration
    /// When the last batch was handed over.
    private var lastHandOver: Duration?
    /// When the last transaction arrived.
    private var lastArrival: Duration?
    /// The moving mean of the time between transactions (each gap counted at most twice the
    /// interval, so that a quiet spell is forgotten after a few transactions).
    private var meanGap: Duration?

    public init(minInterval: Duration) {
        self.minInterval = max(.zero, minInterval)
    }

    /// Notes a whole transaction that arrived at `now`.
    public mutating func arrived(at now: Duration) {
        defer { lastArrival = now }
        guard let lastArrival else { return }
        let gap = min(now - lastArrival, minInterval * 2)
        meanGap = meanGap.map { ($0 * 9 + gap) / 10 } ?? gap
    }

    /// Notes that a batch was handed over at `now`.
    public mutating func handedOver(at now: Duration) {
        lastHandOver = now
    }

    /// True while transactions arrive fast enough for pacing (two or more per interval, on average).
    public var isEngaged: Bool {
        guard minInterval > .zero, let meanGap else { return false }
        return meanGap * 2 < minInterval
    }

    /// How long a caught-up batch should still wait at `now`; nil when it may go.
    public func wait(now: Duration) -> Duration? {
        guard isEngaged, let lastHandOver else { return nil }
        let left = lastHandOver + minInterval - now
        return left > .zero ? left : nil
    }
}
