/// The warehouse readings `/status` shows: one read at a time, reused for ``maxAge``, so that
/// polling `/status` costs the warehouse at most one count of each table per ``maxAge``.
public actor WarehouseReadings {
    /// How long a reading is shown before the next request reads again.
    public static let maxAge = Duration.seconds(30)
    /// How long a request waits for a reading in progress before it shows the previous one.
    public static let wait = Duration.seconds(2)

    private let read: @Sendable () async -> WarehouseReading
    private var latest: (reading: WarehouseReading, at: ContinuousClock.Instant)?
    private var reading = false

    /// Readings that `read` takes.
    public init(read: @escaping @Sendable () async -> WarehouseReading) {
        self.read = read
    }

    /// A reading at most ``maxAge`` old if one can be had within ``wait``, else the latest one
    /// (nil before the first finishes).
    public func current() async -> WarehouseReading? {
        let now = ContinuousClock.now
        if let latest, now - latest.at < Self.maxAge { return latest.reading }
        if !reading {
            reading = true
            let read = self.read
            Task { self.store(await read()) }
        }
        let deadline = now + Self.wait
        while reading && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        return latest?.reading
    }

    private func store(_ reading: WarehouseReading) {
        latest = (reading, .now)
        self.reading = false
    }
}
