import ForagerCore

/// The warehouse readings `/status` shows: one read at a time, reused for ``maxAge``, so that
/// polling `/status` costs the warehouse at most one count of each table per ``maxAge``.
public actor WarehouseReadings {
    /// How long a reading is shown before the next request reads again.
    public static let maxAge = Duration.seconds(30)

    private let read: @Sendable () async -> WarehouseReading
    private let wait: Duration
    private var latest: (reading: WarehouseReading, at: ContinuousClock.Instant)?
    /// Moves when the read in progress has stored its reading; nil when none is in progress.
    private var inProgress: ChangeSignal?

    /// Readings that `read` takes; a request waits up to `wait` for a read in progress before it
    /// shows the previous reading.
    public init(wait: Duration = .seconds(2), read: @escaping @Sendable () async -> WarehouseReading) {
        self.wait = wait
        self.read = read
    }

    /// A reading at most ``maxAge`` old if one can be had within the wait, else the latest one
    /// (nil before the first finishes).
    public func current() async -> WarehouseReading? {
        let now = ContinuousClock.now
        if let latest, now - latest.at < Self.maxAge { return latest.reading }
        let done: ChangeSignal
        if let inProgress {
            done = inProgress
        } else {
            done = ChangeSignal()
            inProgress = done
            let read = self.read
            Task { self.store(await read(), done: done) }
        }
        await done.wait(since: 0, until: now + wait, clock: ContinuousClock())
        return latest?.reading
    }

    private func store(_ reading: WarehouseReading, done: ChangeSignal) {
        latest = (reading, .now)
        inProgress = nil
        done.changed()
    }
}
