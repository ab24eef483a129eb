import ForagerDemo
import Foundation
import Glibc
import Testing

/// Reproducible random numbers (SplitMix64) for the torture schedule.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("Crash torture", .serialized, .cleansUpScenarios)
struct CrashTortureTests {
    /// FORAGER_TORTURE_SEED replays a failed run's schedule.
    static var seed: UInt64 {
        ProcessInfo.processInfo.environment["FORAGER_TORTURE_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64(UInt32.max))
    }

    enum Sink: String, CustomTestStringConvertible, CaseIterable, Sendable {
        case postgres, clickhouse
        var testDescription: String { rawValue }
    }

    /// The kinds of statement the workload runs; it counts each one that succeeded.
    enum Statement: String, CaseIterable, Sendable {
        case insert = "insert of 200 rows"
        case toastUnchangedUpdate = "update leaving a TOASTed column unchanged"
        case delete
        case multiTableTransaction = "multi-table transaction"
        case keyUpdate = "update of a primary key"
        case truncate = "TRUNCATE"
        case addColumn = "ADD COLUMN"
        case largeTransaction = "large transaction (60,000 rows)"
    }

    @Test(
        "SIGKILL at 24 random moments under a mixed workload: the warehouse equals the source, nothing lost or doubled",
        arguments: Sink.allCases)
    func killsUnderMixedWorkload(_ sink: Sink) async throws {
        let seed = Self.seed
        print("crash torture seed (\(sink.rawValue)): \(seed) (FORAGER_TORTURE_SEED=\(seed) replays the schedule)")
        var random = SplitMix(state: seed)
        let server = sink == .clickhouse ? try await ClickHouseServer.shared() : nil
        let scenario = try await Scenario.make(
            sourceSQL: """
                CREATE TABLE hives (id int PRIMARY KEY, weight int, notes text);
                ALTER TABLE hives ALTER COLUMN notes SET STORAGE EXTERNAL;
                INSERT INTO hives SELECT g, g, repeat('n', 3000) || g FROM generate_series(1, 2000) g;
                CREATE TABLE samples (id bigint PRIMARY KEY, hive int, value numeric);
                INSERT INTO samples SELECT g, g % 2000, g * 1.5 FROM generate_series(1, 200000) g;
                CREATE TABLE alerts (key text PRIMARY KEY, payload jsonb);
                """,
            tables: ["hives", "samples", "alerts"], batch: "batch:\n  max_rows: 5000\n", clickHouse: server)

        let workload = Task { try await Self.mixedWorkload(scenario, seed: seed) }

        try await Self.killRepeatedly(scenario, times: 24, random: &random, seed: seed)
        workload.cancel()
        let ran: [Statement: Int]
        do {
            ran = try await workload.value
        } catch {
            throw HarnessError("seed \(seed): the workload failed: \(error)")
        }
        try await Self.expectWorkloadRan(ran, scenario, seed: seed)

        try await scenario.forager(["sync"])
        if let server {
            try await Self.expectSameInClickHouse(server, scenario, seed: seed)
            let validation = try await scenario.forager(["validate", "--chunk-rows", "20000", "--wait", "5"])
            #expect(
                validation.contains("public.hives: equal") && validation.contains("public.samples: equal")
                    && validation.contains("public.alerts: equal"),
                "seed \(seed):\n\(validation)")
            return
        }
        let validation = try await scenario.forager(["validate", "--chunk-rows", "20000", "--wait", "5"])
        #expect(
            validation.contains("public.hives: equal") && validation.contains("public.samples: equal")
                && validation.contains("public.alerts: equal"),
            "seed \(seed):\n\(validation)")
        try await scenario.expectSameContent(source: "hives", target: "analytics.hives", columns: ["id", "weight", "notes"])
        try await scenario.expectSameContent(source: "samples", target: "analytics.samples", columns: ["id", "hive", "value", "quality"])
        try await scenario.expectSameContent(source: "alerts", target: "analytics.alerts", columns: ["key", "payload"], key: ["key"])
    }

    /// Runs the mixed workload on the source until cancelled; returns how many of each kind of
    /// statement succeeded.
    static func mixedWorkload(_ scenario: Scenario, seed: UInt64) async throws -> [Statement: Int] {
        var random = SplitMix(state: seed ^ 0xABCDEF)
        let connection = try await scenario.source.connect(scenario.sourceDatabase)
        defer { connection.close() }
        var ran: [Statement: Int] = [:]
        func run(_ kind: Statement, _ sql: String) async throws {
            try await connection.execute(sql)
            ran[kind, default: 0] += 1
        }
        var next: Int64 = 1_000_000
        var step = 0
        while !Task.isCancelled {
            step += 1
            switch step {
            case 40:
                try await run(.addColumn, "ALTER TABLE samples ADD COLUMN quality int DEFAULT 0")
            case 80:
                // One large transaction: more rows than a batch, applied in pieces.
                try await run(
                    .largeTransaction,
                    "INSERT INTO samples (id, hive, value) SELECT \(next) + g, g % 2000, g FROM generate_series(1, 60000) g")
                next += 60000
            case let n where n % 55 == 0:
                try await run(.truncate, "TRUNCATE alerts")
            default:
                switch Int.random(in: 0..<6, using: &random) {
                case 0:
                    try await run(
                        .insert, "INSERT INTO samples (id, hive, value) SELECT \(next) + g, g % 2000, g FROM generate_series(1, 200) g")
                    next += 200
                case 1:
                    // TOAST-unchanged: notes is not touched.
                    try await run(
                        .toastUnchangedUpdate,
                        "UPDATE hives SET weight = weight + 1 WHERE id % 97 = \(Int.random(in: 0..<97, using: &random))")
                case 2:
                    try await run(
                        .delete,
                        "DELETE FROM samples WHERE id IN (SELECT id FROM samples WHERE hive = \(Int.random(in: 0..<2000, using: &random)) LIMIT 20)"
                    )
                case 3:
                    try await run(
                        .multiTableTransaction,
                        """
                        BEGIN;
                        INSERT INTO alerts VALUES ('a\(step)', '{"step": \(step)}') ON CONFLICT (key) DO UPDATE SET payload = excluded.payload;
                        UPDATE samples SET value = value + 1 WHERE hive = \(Int.random(in: 0..<2000, using: &random));
                        UPDATE hives SET notes = repeat('m', 2500) || \(step) WHERE id = \(Int.random(in: 1...2000, using: &random));
                        COMMIT;
                        """)
                case 4:
                    try await run(.keyUpdate, "UPDATE samples SET id = id + 10000000 WHERE id = (SELECT min(id) FROM samples)")
                default:
                    try await run(.delete, "DELETE FROM alerts WHERE key IN (SELECT key FROM alerts ORDER BY key LIMIT 3)")
                }
            }
            do {
                try await Task.sleep(for: .milliseconds(15))
            } catch is CancellationError {
                break
            }
        }
        return ran
    }

    /// Starts `forager run` and kills it (SIGKILL) after a random moment, `times` times.
    static func killRepeatedly(_ scenario: Scenario, times: Int, random: inout SplitMix, seed: UInt64) async throws {
        var kills = 0
        while kills < times {
            let process = try scenario.launch(["run"])
            let life = Duration.milliseconds(Int.random(in: 300...2500, using: &random))
            try await Task.sleep(for: life)
            process.signal(SIGKILL)
            let status = try await process.wait(timeout: .seconds(30))
            #expect(status == 128 + SIGKILL, "seed \(seed): forager ended with \(status) before the kill:\n\(process.output)")
            kills += 1
        }
    }

    /// Checks the workload ran every kind of statement, the large transaction and the added column once.
    static func expectWorkloadRan(_ ran: [Statement: Int], _ scenario: Scenario, seed: UInt64) async throws {
        let counts = Statement.allCases.map { "\($0.rawValue) \(ran[$0] ?? 0)" }.joined(separator: ", ")
        for kind in Statement.allCases {
            #expect(ran[kind] ?? 0 >= 1, "seed \(seed): the workload never ran \(kind.rawValue) (ran: \(counts))")
        }
        #expect(ran[.largeTransaction] == 1 && ran[.addColumn] == 1, "seed \(seed): ran: \(counts)")
        let extra = try await scenario.sourceScalar(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'samples' AND column_name = 'quality'")
        #expect(extra == "1", "seed \(seed): the workload did not reach the ADD COLUMN")
    }

    /// Compares each table's `_current` view with the source: count, key sum, and per-column sums
    /// and lengths that ClickHouse and PostgreSQL compute alike.
    static func expectSameInClickHouse(_ server: ClickHouseServer, _ scenario: Scenario, seed: UInt64) async throws {
        let database = "`\(scenario.warehouseDatabase)`"
        let checks: [(source: String, clickHouse: String)] = [
            (
                "SELECT count(*) || E'\\t' || sum(id) || E'\\t' || sum(weight) || E'\\t' || sum(length(notes)) FROM hives",
                "SELECT count(), sum(id), sum(weight), sum(length(notes)) FROM \(database).hives_current"
            ),
            (
                "SELECT count(*) || E'\\t' || sum(id) || E'\\t' || sum(hive) || E'\\t' || coalesce(sum(quality), 0) || E'\\t' || floor(sum(value)) FROM samples",
                "SELECT count(), sum(id), sum(hive), sum(ifNull(quality, 0)), floor(sum(toFloat64(value))) FROM \(database).samples_current"
            ),
            (
                "SELECT count(*) || E'\\t' || coalesce(sum(length(key)), 0) || E'\\t' || coalesce(sum(length(payload::text)), 0) FROM alerts",
                "SELECT count(), sum(length(key)), ifNull(sum(length(payload)), 0) FROM \(database).alerts_current"
            ),
        ]
        for check in checks {
            let expected = try await scenario.sourceScalar(check.source) ?? ""
            let actual = try await server.query(check.clickHouse + " FORMAT TabSeparated").trimmingCharacters(in: .newlines)
            #expect(actual == expected, "seed \(seed): \(check.clickHouse)")
        }
    }
}
