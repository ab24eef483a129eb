import Foundation
import Glibc
import Testing

@Suite("forager validate", .serialized, .cleansUpScenarios)
struct ValidateTests {
    /// A scenario whose table `samples (id, v)` holds the ids 1 to `rows`, each with v = 0.
    private func samples(rows: Int) async throws -> Scenario {
        try await Scenario.make(
            sourceSQL:
                "CREATE TABLE samples (id int PRIMARY KEY, v int); INSERT INTO samples SELECT g, 0 FROM generate_series(1, \(rows)) g;",
            tables: ["samples"])
    }

    @Test(
        "an exact answer on a quiet source: equal, then the tampered key ranges named, for keyed, composite-key, keyless and mapped tables")
    func quietSource() async throws {
        let scenario = try await Scenario.make(
            sourceSQL: """
                CREATE TABLE samples (id int PRIMARY KEY, v float8, note text, secret text);
                INSERT INTO samples SELECT g, g / 3.0, 'n' || g, 's' FROM generate_series(1, 1050) g;
                CREATE TABLE readings (hive text, at timestamptz, value numeric, PRIMARY KEY (hive, at));
                INSERT INTO readings SELECT 'hive-' || (g % 7), timestamptz '2026-01-01' + g * interval '1 minute', g FROM generate_series(1, 500) g;
                CREATE TABLE log (at timestamptz, line text); ALTER TABLE log REPLICA IDENTITY FULL;
                INSERT INTO log SELECT timestamptz '2026-01-01' + g * interval '1 s', 'same' FROM generate_series(1, 30) g;
                CREATE TABLE events (at timestamptz, kind text); INSERT INTO events VALUES (now(), 'x');
                """,
            mapping: """
                tables:
                  - source: samples
                    deletes: soft
                    exclude_columns: [secret]
                    rename_columns: {note: remark}
                  - source: readings
                  - source: log
                  - source: events
                    append_only: true
                """)
        try await scenario.syncBeforeAndAfter(["DELETE FROM samples WHERE id = 7; UPDATE samples SET note = 'changed' WHERE id = 8;"])
        try await scenario.expectOutput(
            of: ["validate", "--chunk-rows", "100"],
            containing: [
                "public.samples: equal (1049 rows in 11 chunks)",
                "public.readings: equal (500 rows in 5 chunks)",
                "public.log: equal (30 rows in 1 chunk)",
                "public.events: not compared: append_only",
            ])

        try await scenario.warehouse.execute(
            """
            DELETE FROM analytics.samples WHERE id = 150;
            UPDATE analytics.samples SET v = v + 1e-9 WHERE id = 1020;
            UPDATE analytics.readings SET value = value + 1 WHERE hive = 'hive-3' AND value = 10;
            DELETE FROM analytics.log WHERE ctid = (SELECT ctid FROM analytics.log LIMIT 1);
            """, database: scenario.warehouseDatabase)
        try await scenario.expectOutput(
            of: ["validate", "--chunk-rows", "100", "--wait", "1"], status: 3,
            containing: [
                "public.samples: DIFFERS in 2 of 11 chunks",
                "keys (101, 201]: source 100 rows, warehouse 99",
                "keys (1001, end]: 49 rows on both sides, different content",
                "public.readings: DIFFERS in 1 of 5 chunks",
                "public.log: DIFFERS in 1 of 1 chunk",
            ])
        let one = try await scenario.forager(["validate", "--table", "public.readings", "--wait", "0"], expectStatus: 3)
        #expect(one.contains("public.readings") && !one.contains("public.samples"), "\(one)")
        _ = try await scenario.forager(["validate", "--table", "public.nope"], expectStatus: 1)
    }

    @Test("validate holds one chunk at a time: its peak memory is the same for 100,000 rows and for 1,000,000")
    func boundedMemory() async throws {
        let scenario = try await Scenario.make(
            sourceSQL: """
                CREATE TABLE small (id int PRIMARY KEY, v text); INSERT INTO small SELECT g, md5(g::text) FROM generate_series(1, 100000) g;
                CREATE TABLE big (id int PRIMARY KEY, v text); INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 1000000) g;
                """,
            tables: ["small", "big"])
        try await scenario.forager(["sync"])
        func validate(_ table: String) async throws -> (peak: Int, output: String) {
            let process = try scenario.launch(["validate", "--table", "public.\(table)", "--wait", "0"])
            var peak = 0
            while true {
                if let now = try? process.peakResidentMiB() { peak = max(peak, now) }
                if let status = process.poll() {
                    #expect(status == 0, "\(process.output)")
                    return (peak, process.output)
                }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        let small = try await validate("small")
        let big = try await validate("big")
        #expect(small.output.contains("public.small: equal (100000 rows in 10 chunks)"), "\(small.output)")
        #expect(big.output.contains("public.big: equal (1000000 rows in 100 chunks)"), "\(big.output)")
        #expect(small.peak > 0 && big.peak - small.peak < 16, "peak RSS \(small.peak) MiB for 100,000 rows, \(big.peak) MiB for 1,000,000")
    }

    @Test("no false alarm while the source is being written and forager run streams")
    func underWrites() async throws {
        let scenario = try await samples(rows: 50000)
        let running = try await scenario.launchStreaming()
        defer { running.signal(SIGKILL) }
        let writer = scenario.writeContinuously { round in
            """
            UPDATE samples SET v = v + 1 WHERE id % 500 = \(round % 500);
            INSERT INTO samples SELECT 50000 + \(round) * 10 + g, \(round) FROM generate_series(1, 10) g;
            DELETE FROM samples WHERE id = \(round * 13 % 50000 + 1);
            """
        }
        let added = { try await scenario.sourceScalar("SELECT count(*) FROM samples WHERE id > 50000").flatMap { Int($0) } ?? 0 }
        try await scenario.eventually("the writer under way") { try await added() >= 50 }
        let before = try await added()
        let output = try await scenario.forager(["validate", "--chunk-rows", "1000", "--wait", "30"])
        let during = try await added() - before
        writer.cancel()
        _ = await writer.result
        #expect(output.contains("public.samples: equal"), "\(output)")
        #expect(during >= 30, "only \(during) rows were written while validating")

        // Rows changed behind Forager's back are found and named, row by row.
        try await scenario.warehouse.execute(
            "DELETE FROM analytics.samples WHERE id = 2; UPDATE analytics.samples SET v = -99 WHERE id = 3;",
            database: scenario.warehouseDatabase)
        let tampered = try await scenario.expectOutput(
            of: ["validate", "--chunk-rows", "1000", "--wait", "30"], status: 3, containing: ["DIFFERS in 1 of"])
        #expect(
            tampered.contains("]: source 1000 rows, warehouse 999; 2 rows differ: 2 missing in the warehouse, 3 different"), "\(tampered)")
        try await running.expectCleanStop()
    }

    @Test(
        "rows the warehouse wrote anew in every round of comparing are undecided: exit 2, with their key range and what to do; a difference beside them is exit 1"
    )
    func undecidedRows() async throws {
        let scenario = try await samples(rows: 3000)
        try await scenario.forager(["sync"])
        let running = try await scenario.launchStreaming()
        defer { running.signal(SIGKILL) }
        // The warehouse records row 1500's last write at a position past every source position a
        // round reads at, as for a row the source updates without pause.
        try await scenario.warehouse.execute(
            "UPDATE analytics.samples SET v = -1, _forager_lsn = 'FFFFFFFF/FFFFFFFF' WHERE id = 1500", database: scenario.warehouseDatabase)
        let undecided = try await scenario.forager(["validate", "--chunk-rows", "1000", "--wait", "30"], expectStatus: 4)
        #expect(
            undecided.contains(
                """
                public.samples: UNDECIDED: 1 row kept changing in every round of comparing, so could not be compared (3000 rows in 3 chunks; the rest equal):
                  keys (1000, 2000]: 1 row: 1500
                  Validate public.samples again when writes to it are quieter: forager validate --table public.samples
                """), "\(undecided)")

        try await scenario.warehouse.execute("DELETE FROM analytics.samples WHERE id = 10", database: scenario.warehouseDatabase)
        let differs = try await scenario.forager(["validate", "--chunk-rows", "1000", "--wait", "30"], expectStatus: 3)
        #expect(
            differs.contains(
                "public.samples: DIFFERS in 1 of 3 chunks:\n  keys (start, 1000]: source 1000 rows, warehouse 999; 1 row differs: 10 missing in the warehouse"
            ), "\(differs)")
        #expect(
            differs.contains(
                "  and 1 row kept changing in every round of comparing, so could not be compared:\n  keys (1000, 2000]: 1 row: 1500"),
            "\(differs)")
        try await running.expectCleanStop()
    }
}

@Suite("forager validate, ClickHouse", .serialized, .cleansUpScenarios)
struct ClickHouseValidateTests {
    /// A scenario on the shared ClickHouse server, synced, that `forager validate` in chunks of 1000
    /// rows reports as each of `equal` says.
    private func syncedAndValidated(sourceSQL: String, tables: [String], equal: [String]) async throws -> (ClickHouseServer, Scenario) {
        let (server, scenario) = try await Scenario.make(clickHouse: .debian18, sourceSQL: sourceSQL, tables: tables)
        try await scenario.forager(["sync"])
        try await expectValidation(scenario, wait: 0, containing: equal)
        return (server, scenario)
    }

    /// Runs `forager validate` in chunks of 1000 rows, waiting up to `wait` seconds for the
    /// warehouse, and expects it to exit `status` with each of `fragments` in its output.
    @discardableResult
    private func expectValidation(
        _ scenario: Scenario, wait: Int, status: Int32 = 0, containing fragments: [String],
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> String {
        try await scenario.expectOutput(
            of: ["validate", "--chunk-rows", "1000", "--wait", "\(wait)"], status: status, containing: fragments,
            sourceLocation: sourceLocation)
    }

    /// Runs `forager validate` in chunks of 1000 rows while `statements(round)` are written to the
    /// source (see ``Scenario/writeContinuously(pause:_:)``) and expects each of `tables` equal.
    private func expectEqualUnderWrites(
        _ scenario: Scenario, _ tables: String..., sourceLocation: SourceLocation = #_sourceLocation,
        statements: @escaping @Sendable (Int) -> String
    ) async throws {
        let writer = scenario.writeContinuously(statements)
        try await Task.sleep(for: .seconds(1))
        try await expectValidation(scenario, wait: 30, containing: tables.map { "\($0): equal" }, sourceLocation: sourceLocation)
        writer.cancel()
        _ = await writer.result
    }

    @Test(
        "validate compares the _current view chunk by chunk: equal after sync, no false alarm under writes, and the rows changed behind Forager's back named"
    )
    func clickHouseValidate() async throws {
        let (server, scenario) = try await syncedAndValidated(
            sourceSQL: """
                CREATE TABLE readings (id bigint PRIMARY KEY, value float8, note text, at timestamptz, n numeric(10,2), tags text[]);
                INSERT INTO readings SELECT g, g / 7.0, CASE WHEN g % 5 = 0 THEN NULL ELSE 'r' || g END,
                    timestamptz '2026-01-01' + g * interval '1 s', g * 1.25, ARRAY['a', 'b' || g] FROM generate_series(1, 2500) g;
                """,
            tables: ["readings"], equal: ["public.readings: equal (2500 rows in 3 chunks)"])

        let running = try await scenario.launchStreaming()
        defer { running.signal(SIGKILL) }
        try await scenario.onSource("UPDATE readings SET note = 'changed' WHERE id = 2000; DELETE FROM readings WHERE id = 2001;")
        let database = "`\(scenario.warehouseDatabase)`"
        try await scenario.eventually("the changes") {
            try await server.query("SELECT count() FROM \(database).readings_current") == "2499\n"
        }
        // While the source is written, in every chunk, validate raises no false alarm.
        try await expectEqualUnderWrites(scenario, "public.readings") { round in
            """
            UPDATE readings SET value = value + 1 WHERE id % 100 = \(round % 100) AND id NOT IN (10, 1500);
            INSERT INTO readings SELECT 10000 + \(round) * 5 + g, 1, 'w', now(), 1, NULL FROM generate_series(1, 5) g;
            """
        }

        // Versions above the copy's 0 but below any stream position: rows written behind Forager's back.
        try await server.query(
            "INSERT INTO \(database).readings SELECT id, value, 'tampered', at, n, tags, 1, 0, _forager_synced_at FROM \(database).readings_current WHERE id = 10"
        )
        try await server.query(
            "INSERT INTO \(database).readings SELECT id, value, note, at, n, tags, 1, 1, _forager_synced_at FROM \(database).readings_current WHERE id = 1500"
        )
        try await expectValidation(
            scenario, wait: 30, status: 3,
            containing: [
                "public.readings: DIFFERS in 2 of",
                "1 row differs: 10 different",
                "1 row differs: 1500 missing in the warehouse",
            ])
        try await running.expectCleanStop()
    }

    @Test(
        "keys the two sides order differently ((uuid, timestamptz), numeric as text) are compared by set in chunks: equal, no false alarm under writes, and missing, different and extra rows named"
    )
    func keysOrderedDifferently() async throws {
        let (server, scenario) = try await syncedAndValidated(
            sourceSQL: """
                CREATE TABLE tagged (id uuid, at timestamptz, value int, note text, PRIMARY KEY (id, at));
                INSERT INTO tagged SELECT md5((g % 50)::text)::uuid, timestamptz '2026-01-01' + g * interval '1.5 s', g, 't' || g FROM generate_series(1, 2500) g;
                CREATE TABLE priced (code numeric PRIMARY KEY, label text);
                INSERT INTO priced SELECT g * 1.5, 'p' || g FROM generate_series(1, 2500) g;
                """,
            tables: ["tagged", "priced"],
            equal: ["public.tagged: equal (2500 rows in 3 chunks)", "public.priced: equal (2500 rows in 3 chunks)"])

        // Inserts land in chunks already compared: they are found among the unmatched warehouse
        // keys and checked again on the source, so raise no false alarm.
        let running = try await scenario.launchStreaming()
        defer { running.signal(SIGKILL) }
        try await expectEqualUnderWrites(scenario, "public.tagged", "public.priced") { round in
            """
            INSERT INTO tagged SELECT gen_random_uuid(), now(), g, 'w' FROM generate_series(1, 2) g;
            UPDATE tagged SET value = value + 1 WHERE note IN ('t\(round % 2500 + 6)', 't\((round * 7) % 2500 + 6)');
            INSERT INTO priced VALUES (\(round) + 0.25, 'w');
            DELETE FROM priced WHERE code = \(round + 1) * 1.5;
            """
        }

        let database = "`\(scenario.warehouseDatabase)`"
        try await scenario.eventually("the warehouse caught up") {
            try await server.query("SELECT count() FROM \(database).priced_current")
                == (try await scenario.sourceScalar("SELECT count(*) FROM priced") ?? "") + "\n"
        }
        let changed = try await server.query(
            "SELECT concat('(', toString(id), ', ', toString(at), ')') FROM \(database).tagged_current WHERE note = 't5'"
        )
        .trimmingCharacters(in: .whitespacesAndNewlines)
        try await server.query(
            "INSERT INTO \(database).tagged SELECT id, at, value, 'tampered', 1, 0, _forager_synced_at FROM \(database).tagged_current WHERE note = 't5'"
        )
        try await server.query(
            "INSERT INTO \(database).tagged SELECT toUUID('00000000-0000-0000-0000-0000000000ee'), toInt64(1700000000123456), 1, 'extra', 1, 0, now()"
        )
        try await server.query(
            "INSERT INTO \(database).priced SELECT code, label, 1, 1, _forager_synced_at FROM \(database).priced_current WHERE code = '3750.0'"
        )
        try await server.query("INSERT INTO \(database).priced SELECT '99999.5', 'extra', 1, 0, now()")
        let differs = try await expectValidation(
            scenario, wait: 30, status: 3,
            containing: [
                "public.tagged: DIFFERS in 2 of",
                "1 row differs: \(changed) different",
            ])
        #expect(
            differs.contains(
                "warehouse keys outside every source chunk: source 0 rows, warehouse 1; 1 row differs: (00000000-0000-0000-0000-0000000000ee, 1700000000123456) extra in the warehouse"
            ), "\(differs)")
        #expect(differs.contains("public.priced: DIFFERS in 2 of"), "\(differs)")
        #expect(differs.contains("1 row differs: 3750.0 missing in the warehouse"), "\(differs)")
        #expect(differs.contains("1 row differs: 99999.5 extra in the warehouse"), "\(differs)")
        try await running.expectCleanStop()
    }
}
