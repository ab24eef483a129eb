public import LibPQ

/// The live terminal view: one refreshed panel on a terminal, one line per second otherwise.
public struct LiveView {
    let interactive: Bool
    private var previousSamples = 0
    private var previousApplied: Int?
    private var watermark = 0
    /// Forager's own lag at every tick so far, for the summary.
    public private(set) var foragerLag = LagSummary()

    /// A panel redrawn in place when `interactive`, else a line per tick.
    public init(interactive: Bool) { self.interactive = interactive }

    /// Shows the last second: samples ingested, rows applied, the samples' lag and Forager's own
    /// (`foragerLag`, from heartbeats; nil before the first), and the report's time.
    public mutating func tick(
        counters: FleetLoad.Counters, warehouse: PGConnection, report: ReportRunner, foragerLag: Duration?, target: Int, elapsed: Duration
    ) async throws {
        let samples = counters.samples
        let ingested = samples - previousSamples
        previousSamples = samples
        let applied =
            Int(
                try await warehouse.query(
                    "SELECT n_tup_ins FROM pg_stat_user_tables WHERE schemaname = 'analytics' AND relname = 'samples'"
                ).scalar ?? "0") ?? 0
        let appliedRate = previousApplied.map { applied - $0 } ?? 0
        previousApplied = applied
        let lag = try await warehouse.query(
            """
            SELECT round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM _forager_synced_at - created_at)) * 1000)::numeric),
                   round((percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM _forager_synced_at - created_at)) * 1000)::numeric),
                   max(id)
            FROM analytics.samples WHERE id > $1
            """, [String(watermark)])
        let row = lag.rows.first ?? []
        if let maximum = row.last.flatMap({ $0 }).flatMap(Int.init) { watermark = max(watermark, maximum - 20_000) }
        let p50 = row.first.flatMap { $0 } ?? "-"
        let p99 = row.count > 1 ? row[1] ?? "-" : "-"
        let reportTime = report.last.map { "\(Int($0 * 1000)) ms" } ?? "-"
        if let foragerLag { self.foragerLag.add(foragerLag) }
        let ownLag = foragerLag.map { "\(LagSummary.milliseconds($0))" } ?? "-"
        let seconds = elapsed.components.seconds
        if interactive {
            print("\u{1B}[H\u{1B}[2J", terminator: "")
            print(
                """
                Forager demo: \(seconds) s                                  (Ctrl-C to stop)

                  source ingestion      \(pad(ingested)) samples/s   (fleet bursts at \(target)/s)
                  applied to warehouse  \(pad(appliedRate)) rows/s
                  replication lag       p50 \(p50) ms   p99 \(p99) ms   (samples' created_at to _forager_synced_at)
                  Forager's own lag     \(ownLag) ms   (heartbeat written on the source to its warehouse checkpoint)
                  heavy analyst report  \(reportTime)   (daily averages per yard over all samples)
                  samples so far        \(samples) posted, \(counters.failures) failed uploads
                """)
        } else {
            print(
                "t=\(seconds)s ingested=\(ingested)/s applied=\(appliedRate)/s lag_p50=\(p50)ms lag_p99=\(p99)ms forager_lag=\(ownLag)ms report=\(reportTime) samples=\(samples)"
            )
        }
    }

    private func pad(_ value: Int) -> String {
        let text = String(value)
        return String(repeating: " ", count: max(0, 7 - text.count)) + text
    }
}

/// Forager's own lag as the live view saw it each second: percentiles for the summary.
public struct LagSummary: Sendable {
    private var readings: [Duration] = []

    /// Adds one reading.
    mutating func add(_ lag: Duration) { readings.append(lag) }

    /// "p50 N ms, p99 N ms, max N ms over K readings", or a dash before any.
    public var text: String {
        guard !readings.isEmpty else { return "- (no heartbeat reached the warehouse)" }
        let sorted = readings.sorted()
        func percentile(_ p: Double) -> Int {
            Self.milliseconds(sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)])
        }
        return
            "p50 \(percentile(0.5)) ms, p99 \(percentile(0.99)) ms, max \(Self.milliseconds(sorted[sorted.count - 1])) ms over \(sorted.count) readings"
    }

    static func milliseconds(_ duration: Duration) -> Int {
        Int(duration / .milliseconds(1))
    }
}
