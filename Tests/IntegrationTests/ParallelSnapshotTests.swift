import ForagerDemo
import Foundation
import Testing

@Suite("Parallel initial snapshot", .serialized, .cleansUpScenarios)
struct ParallelSnapshotTests {
    enum Sink: String, CustomTestStringConvertible, CaseIterable, Sendable {
        case postgres, clickhouse
        var testDescription: String { rawValue }
    }

    /// The `forager.pieces` of the "copied table" line of `table` in `output`.
    private func pieces(of table: String, in output: String) -> Int? {
        let line = output.split(separator: "\n").first { $0.contains("copied table") && $0.contains("forager.table=\(table)") }
        guard let line, let range = line.range(of: "forager.pieces=") else { return nil }
        return Int(line[range.upperBound...].prefix { $0.isNumber })
    }

    @Test(
        "a parallel snapshot of tables written meanwhile is exact: the large one in ranges of pages (Postgres), several tables at once",
        arguments: Sink.allCases)
    func parallelSnapshot(_ sink: Sink) async throws {
        let server = sink == .clickhouse ? try await ClickHouseServer.shared() : nil
        let scenario = try await Scenario.make(
            sourceSQL: """
                CREATE TABLE samples (id bigint PRIMARY KEY, hive int, value float8, note text);
                INSERT INTO samples SELECT g, g % 500, g / 3.0, repeat('n', 40) FROM generate_series(1, 150000) g;
                CREATE TABLE hives (id int PRIMARY KEY, name text);
                INSERT INTO hives SELECT g, 'h' || g FROM generate_series(1, 500) g;
                """,
            tables: ["samples", "hives"], batch: "snapshot:\n  parallelism: 3\n", clickHouse: server)
        let writer = scenario.writeContinuously { round in
            """
            UPDATE samples SET value = value + 1 WHERE id % 1000 = \(round % 1000);
            INSERT INTO samples VALUES (200000 + \(round), 1, 1, 'w');
            DELETE FROM samples WHERE id = \(round * 7 + 1);
            UPDATE hives SET name = name || '.' WHERE id = \(round % 500 + 1);
            """
        }
        try await Task.sleep(for: .milliseconds(300))
        let output = try await scenario.forager(["sync"])
        writer.cancel()
        _ = await writer.result
        #expect(output.contains("copying in parallel"), "\(output)")
        #expect(pieces(of: "public.hives", in: output) == 1, "\(output)")
        let samplePieces = pieces(of: "public.samples", in: output) ?? 0
        #expect(sink == .postgres ? samplePieces > 3 : samplePieces == 1, "\(output)")
        try await scenario.forager(["sync"])
        if sink == .postgres {
            try await scenario.expectSameContent(source: "samples", target: "analytics.samples", columns: ["id", "hive", "value", "note"])
            try await scenario.expectSameContent(source: "hives", target: "analytics.hives", columns: ["id", "name"])
            // The primary keys were dropped for the load and built after it.
            #expect(output.contains("building the primary key after the load"), "\(output)")
            #expect(
                try await scenario.warehouseScalar(
                    """
                    SELECT string_agg(conrelid::regclass::text || ':' || pg_get_constraintdef(oid), ' ' ORDER BY conrelid::regclass::text)
                    FROM pg_constraint WHERE contype = 'p' AND conrelid IN ('analytics.samples'::regclass, 'analytics.hives'::regclass)
                    """) == "analytics.hives:PRIMARY KEY (id) analytics.samples:PRIMARY KEY (id)")
        } else {
            let validation = try await scenario.forager(["validate", "--wait", "30"])
            #expect(validation.contains("public.samples: equal") && validation.contains("public.hives: equal"), "\(validation)")
        }
    }

    @Test(
        "a source, or a warehouse, with fewer free connections than snapshot.parallelism gets a copy over fewer, with a notice that says so; check warns beforehand"
    )
    func fewerFreeConnections() async throws {
        let scenario = try await Scenario.make(
            sourceSQL: """
                CREATE TABLE samples (id bigint PRIMARY KEY, note text);
                INSERT INTO samples SELECT g, repeat('n', 40) FROM generate_series(1, 30000) g;
                DO $$ BEGIN CREATE ROLE copier_limited LOGIN REPLICATION CONNECTION LIMIT 4;
                  EXCEPTION WHEN duplicate_object THEN NULL; END $$;
                ALTER TABLE samples OWNER TO copier_limited;
                DO $$ BEGIN EXECUTE format('GRANT CREATE ON DATABASE %I TO copier_limited', current_database()); END $$;
                """,
            tables: ["samples"], batch: "snapshot:\n  parallelism: 3\n")
        try scenario.rewriteConfig(sourceURL: "postgresql://copier_limited@127.0.0.1:\(scenario.source.port)/\(scenario.sourceDatabase)")
        let check = try await scenario.forager(["check"])
        #expect(
            check.contains("warning: a snapshot would copy over 1 connection(s), not snapshot.parallelism 3: the source has only 1 free")
                && check.contains("ok: "), "\(check)")
        // Its session, its walsender and the snapshot's reader take three of the role's four.
        let output = try await scenario.forager(["sync"])
        #expect(
            output.contains("fewer free connections than snapshot.parallelism") && output.contains("forager.source_free_connections=1"),
            "\(output)")
        #expect(output.contains("forager.connections=1"), "\(output)")
        try await scenario.expectSameContent(source: "samples", target: "analytics.samples", columns: ["id", "note"])

        let limited = try await Scenario.make(
            sourceSQL: """
                CREATE TABLE samples (id bigint PRIMARY KEY, note text);
                INSERT INTO samples SELECT g, repeat('n', 40) FROM generate_series(1, 30000) g;
                """,
            tables: ["samples"], batch: "snapshot:\n  parallelism: 3\n")
        try await limited.warehouse.execute(
            """
            DO $$ BEGIN CREATE ROLE loader_limited LOGIN CONNECTION LIMIT 2; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
            GRANT CREATE ON DATABASE \(limited.warehouseDatabase) TO loader_limited;
            """, database: "postgres")
        try limited.rewriteConfig(
            warehouseURL: "postgresql://loader_limited@127.0.0.1:\(limited.warehouse.port)/\(limited.warehouseDatabase)")
        let checked = try await limited.forager(["check"])
        #expect(checked.contains("not snapshot.parallelism 3: the warehouse has only 1 free"), "\(checked)")
        // Its session takes one of the role's two.
        let loaded = try await limited.forager(["sync"])
        #expect(loaded.contains("forager.warehouse_free_connections=1") && loaded.contains("forager.connections=1"), "\(loaded)")
        try await limited.expectSameContent(source: "samples", target: "analytics.samples", columns: ["id", "note"])
    }

    @Test("on a terminal, the copy's progress is drawn on one line and ends with every table done")
    func progressOnATerminal() async throws {
        let piped = try await Scenario.make(
            sourceSQL: "CREATE TABLE hives (id int PRIMARY KEY); INSERT INTO hives SELECT generate_series(1, 10);", tables: ["hives"])
        let log = try await piped.forager(["sync"])
        #expect(log.contains("copied table") && !log.contains("copying: "), "\(log)")

        let scenario = try await Scenario.make(
            sourceSQL: """
                CREATE TABLE samples (id bigint PRIMARY KEY, note text);
                INSERT INTO samples SELECT g, repeat('n', 40) FROM generate_series(1, 20000) g;
                CREATE TABLE hives (id int PRIMARY KEY);
                INSERT INTO hives SELECT generate_series(1, 10);
                """,
            tables: ["samples", "hives"])
        // script(1) gives forager a terminal; its output is what the terminal showed.
        let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("FORAGER_") }
        let terminal = try ChildProcess(
            "/usr/bin/script", ["-qec", "\(Scenario.foragerBinary) sync --config \(scenario.configPath)", "/dev/null"],
            outputPath: scenario.directory + "/terminal.log", environment: environment)
        #expect(try await terminal.wait(timeout: .seconds(120)) == 0, "\(terminal.output)")
        #expect(terminal.output.contains("\u{1B}[Kcopying: 2 of 2 tables done"), "\(terminal.output)")
    }
}
