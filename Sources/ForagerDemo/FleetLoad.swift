internal import ForagerCore
public import LibPQ
internal import PGOutput
internal import Synchronization
import WallClock

/// Behaves like the seed company's fleet of hive sensors: devices wake up together in a short
/// window at the start of every cycle and post bursts of samples, with a background trickle in
/// between. Each upload goes through the ingestion path the seed's app used: one raw upload row and
/// its samples, in one transaction.
public struct FleetLoad: Sendable {
    /// How the fleet behaves.
    public struct Shape: Sendable {
        /// Hives (one device each) in the fleet.
        public var hives: Int
        /// Samples per second during a wake-up window.
        public var burstRate: Int
        /// Samples each upload carries (readings buffered since the last upload).
        public var samplesPerUpload: Int = 6
        /// Length of one cycle and of the wake-up window at its start.
        public var cycle: Duration = .seconds(10)
        public var window: Duration = .seconds(3)
        /// Between windows, this fraction of `burstRate` keeps trickling in.
        public var trickleFraction: Double = 0.1

        public init(hives: Int, burstRate: Int) {
            self.hives = max(1, hives)
            self.burstRate = max(1, burstRate)
        }
    }

    /// Live counters, shared with whoever displays them.
    public final class Counters: Sendable {
        private let state = Mutex<(uploads: Int, samples: Int, failures: Int)>((0, 0, 0))
        public init() {}
        public var uploads: Int { state.withLock { $0.uploads } }
        public var samples: Int { state.withLock { $0.samples } }
        public var failures: Int { state.withLock { $0.failures } }
        func record(samples: Int) {
            state.withLock {
                $0.uploads += 1; $0.samples += samples
            }
        }
        func recordFailure() { state.withLock { $0.failures += 1 } }
    }

    public var shape: Shape
    public init(shape: Shape) { self.shape = shape }

    /// Seeds customers, yards, hives and devices for `shape.hives` hives (ids 1...hives, device id = hive id).
    public func seed(_ connection: PGConnection) async throws {
        let hives = shape.hives
        let yards = max(1, hives / 10)
        let customers = max(1, yards / 10)
        try await connection.execute(
            """
            BEGIN;
            INSERT INTO customers (name, email, country)
                SELECT 'Apiary ' || g, 'owner' || g || '@example.org', (ARRAY['NZ','AU','FR','US'])[1 + g % 4] FROM generate_series(1, \(customers)) g;
            INSERT INTO yards (customer_id, name, latitude, longitude)
                SELECT 1 + g % \(customers), 'Yard ' || g, -45 + (g % 900) / 10.0, 165 + (g % 150) / 10.0 FROM generate_series(1, \(yards)) g;
            INSERT INTO hives (yard_id, label, installed_on)
                SELECT 1 + g % \(yards), 'H-' || lpad(g::text, 6, '0'), date '2024-09-01' + (g % 200) FROM generate_series(1, \(hives)) g;
            INSERT INTO devices (hive_id, serial, firmware)
                SELECT g, 'BH' || lpad(g::text, 8, '0'), 'v2.' || (g % 7) FROM generate_series(1, \(hives)) g;
            COMMIT;
            """)
    }

    /// The ingestion statement: one upload row and its samples, atomically, in one round trip.
    static let ingestSQL = """
        WITH upload AS (
            INSERT INTO raw_uploads (device_id, object_path, byte_size) VALUES ($1, $2, $3) RETURNING id
        )
        INSERT INTO samples (hive_id, device_id, upload_id, sampled_at, temperature_c, humidity_pct, weight_kg, battery_v, sound_db, payload)
        SELECT $1, $1, upload.id, to_timestamp(s.at), s.temperature, s.humidity, s.weight, s.battery, s.sound, s.payload
        FROM upload, unnest($4::float8[], $5::float8[], $6::real[], $7::numeric[], $8::real[], $9::real[], $10::jsonb[])
            AS s(at, temperature, humidity, weight, battery, sound, payload)
        """

    /// Posts uploads over `connections` (one worker each) until `shouldStop` returns true.
    public func run(connections: [PGConnection], counters: Counters, shouldStop: @escaping @Sendable () -> Bool) async {
        let start = ContinuousClock.now
        await withTaskGroup(of: Void.self) { group in
            for (index, connection) in connections.enumerated() {
                group.addTask {
                    await worker(
                        index: index, of: connections.count, connection: connection, start: start, counters: counters,
                        shouldStop: shouldStop)
                }
            }
        }
    }

    private func worker(
        index: Int, of workers: Int, connection: PGConnection, start: ContinuousClock.Instant,
        counters: Counters, shouldStop: @Sendable () -> Bool
    ) async {
        var generator = SystemRandomNumberGenerator()
        var device = 1 + index
        var sequence = 0
        while !shouldStop() {
            let second = ContinuousClock.now
            let intoCycle = (second - start).components.seconds % shape.cycle.components.seconds
            let inWindow = intoCycle < shape.window.components.seconds
            let rate = inWindow ? Double(shape.burstRate) : Double(shape.burstRate) * shape.trickleFraction
            let uploads = max(1, Int(rate / Double(shape.samplesPerUpload) / Double(workers)))
            for _ in 0..<uploads where !shouldStop() {
                sequence += 1
                do {
                    try await connection.query(Self.ingestSQL, parameters(device: device, sequence: sequence, using: &generator))
                    counters.record(samples: shape.samplesPerUpload)
                } catch {
                    counters.recordFailure()
                }
                device += workers
                if device > shape.hives { device = 1 + index }
                if ContinuousClock.now - second >= .seconds(1) { break }
            }
            let rest = .seconds(1) - (ContinuousClock.now - second)
            if rest > .zero { try? await Task.sleep(for: rest) }
        }
    }

    private func parameters(device: Int, sequence: Int, using generator: inout SystemRandomNumberGenerator) -> [String?] {
        let count = shape.samplesPerUpload
        var temperatures: [String] = [], humidity: [String] = [], weights: [String] = []
        var battery: [String] = [], sound: [String] = [], payloads: [String] = []
        for _ in 0..<count {
            temperatures.append(String(format2(Double.random(in: 30...37, using: &generator))))
            humidity.append(String(format2(Double.random(in: 40...80, using: &generator))))
            weights.append(String(format2(Double.random(in: 20...80, using: &generator))))
            battery.append(String(format2(Double.random(in: 3.3...4.2, using: &generator))))
            sound.append(String(format2(Double.random(in: 30...70, using: &generator))))
            let brood = Int.random(in: 0...100, using: &generator)
            payloads.append(
                "\"{\\\"climate\\\": {\\\"temp_outside\\\": \(format2(Double.random(in: -5...35, using: &generator)))}, \\\"brood_pct\\\": \(brood), \\\"fw\\\": \\\"v2\\\"}\""
            )
        }
        return [
            String(device), "s3://hive-uploads/\(device)/\(sequence)-\(UInt32.random(in: 0...UInt32.max, using: &generator)).bin",
            String(count * 48), FleetLoad.sampleTimes(count), array(temperatures), array(humidity), array(weights),
            array(battery), array(sound), array(payloads),
        ]
    }

    /// Sample times one minute apart up to now, as an array of Unix epoch seconds.
    static func sampleTimes(_ count: Int) -> String {
        let now = PostgresTimestamp.now.secondsSince1970
        return array((0..<count).map { String(now - Double((count - 1 - $0) * 60)) })
    }
}

private func array(_ items: [String]) -> String { "{" + items.joined(separator: ",") + "}" }
private func format2(_ value: Double) -> String {
    let scaled = (value * 100).rounded() / 100
    return String(scaled)
}
