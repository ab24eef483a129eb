public import ForagerPipeline
import LibPQ
import Synchronization

/// Runs the analysts' heavy report (daily averages per yard over all samples) on the warehouse
/// again and again, and keeps its timings.
public final class ReportRunner: Sendable {
    /// The warehouse.
    public let url: String
    private let timings = Mutex<[Double]>([])

    /// A runner against the warehouse at `url`.
    public init(url: String) { self.url = url }

    /// The report.
    public static let sql = """
        SELECT h.yard_id, date_trunc('day', s.sampled_at) AS day,
               avg(s.temperature_c), avg(s.humidity_pct), avg(s.weight_kg), count(*)
        FROM analytics.samples s JOIN analytics.hives h ON h.id = s.hive_id
        GROUP BY 1, 2
        """

    /// Runs the report every 2 s until `stop` is set; a run in progress finishes first.
    public func loop(until stop: StopSignal) async {
        guard let connection = try? await PGConnection.connect(ConnectionString(url)) else { return }
        defer { connection.close() }
        while !stop.isSet {
            let start = ContinuousClock.now
            if (try? await connection.query(Self.sql)) != nil {
                let elapsed = ContinuousClock.now - start
                timings.withLock { $0.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18) }
            }
            _ = await stop.wait(until: .now + .seconds(2))
        }
    }

    /// The last run's time, in seconds.
    public var last: Double? { timings.withLock { $0.last } }

    /// The runs' count, median and maximum time.
    public var summary: String {
        let values = timings.withLock { $0 }.sorted()
        guard !values.isEmpty else { return "not run" }
        return "\(values.count) runs, median \(Int(values[values.count / 2] * 1000)) ms, max \(Int(values.last! * 1000)) ms"
    }
}
