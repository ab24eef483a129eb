import ForagerDemo
import Foundation
import Glibc
import Testing

private let appSchema = """
    CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL, email text, created_at timestamptz NOT NULL DEFAULT now());
    CREATE TABLE hives (id int PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers, label varchar(40), weight_kg numeric(8,3), active boolean NOT NULL DEFAULT true, notes text);
    CREATE TABLE samples (hive_id int NOT NULL, taken_at timestamptz NOT NULL, temperature double precision, payload jsonb, PRIMARY KEY (hive_id, taken_at));
    INSERT INTO customers SELECT g, 'customer ' || g, CASE WHEN g % 3 = 0 THEN NULL ELSE 'c' || g || '@example.org' END, '2024-01-01'::timestamptz + g * interval '1 hour' FROM generate_series(1, 200) g;
    INSERT INTO hives SELECT g, 1 + g % 200, 'hive ' || g, g * 1.125, g % 7 <> 0, E'tab\\there\\nnewline \\\\ backslash' FROM generate_series(1, 500) g;
    INSERT INTO samples SELECT 1 + g % 500, '2024-06-01'::timestamptz + g * interval '1 minute', 20 + (g % 100) / 10.0, jsonb_build_object('humidity', g % 90, 'ok', g % 2 = 0) FROM generate_series(1, 5000) g;
    """

private let appTables = ["public.customers", "public.hives", "public.samples"]

private func expectAllEqual(_ scenario: Scenario, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    try await scenario.expectSameContent(
        source: "customers", target: "analytics.customers", columns: ["id", "name", "email", "created_at"], sourceLocation: sourceLocation)
    try await scenario.expectSameContent(
        source: "hives", target: "analytics.hives", columns: ["id", "customer_id", "label", "weight_kg", "active", "notes"],
        sourceLocation: sourceLocation)
    try await scenario.expectSameContent(
        source: "samples", target: "analytics.samples", columns: ["hive_id", "taken_at", "temperature", "payload"],
        key: ["hive_id", "taken_at"], sourceLocation: sourceLocation)
}

@Suite("Replication into a Postgres warehouse", .serialized, .cleansUpScenarios)
struct ReplicationTests {
    @Test("snapshot, then two syncs with inserts, updates, deletes and multi-table transactions between")
    func snapshotThenSyncs() async throws {
        let scenario = try await Scenario.make(sourceSQL: appSchema, tables: appTables)
        try await scenario.forager(["sync"])
        try await expectAllEqual(scenario)
        #expect(try await scenario.warehouseScalar("SELECT count(*) FROM analytics.samples") == "5000")

        try await scenario.onSource(
            """
            INSERT INTO customers VALUES (1001, 'new one', NULL, now());
            UPDATE hives SET weight_kg = weight_kg + 1, notes = 'changed' WHERE id % 10 = 0;
            DELETE FROM samples WHERE hive_id = 7;
            BEGIN;
            INSERT INTO hives VALUES (501, 1001, 'fresh', 1.5, true, NULL);
            INSERT INTO samples VALUES (501, '2025-01-01', 33.5, '{"x": 1}');
            UPDATE customers SET email = 'moved@example.org' WHERE id = 1001;
            COMMIT;
            BEGIN;
            INSERT INTO customers VALUES (1002, 'short-lived', NULL, now());
            DELETE FROM customers WHERE id = 1002;
            UPDATE hives SET label = 'renamed twice' WHERE id = 3;
            UPDATE hives SET label = 'renamed thrice' WHERE id = 3;
            COMMIT;
            """)
        try await scenario.forager(["sync"])
        try await expectAllEqual(scenario)
        #expect(try await scenario.warehouseScalar("SELECT label FROM analytics.hives WHERE id = 3") == "renamed thrice")
        #expect(try await scenario.warehouseScalar("SELECT count(*) FROM analytics.customers WHERE id = 1002") == "0")

        try await scenario.onSource(
            """
            UPDATE hives SET id = id + 10000 WHERE id BETWEEN 100 AND 120;
            UPDATE samples SET taken_at = taken_at + interval '1 day' WHERE hive_id = 8;
            INSERT INTO samples SELECT 9, '2030-01-01'::timestamptz + g * interval '1 second', g, NULL FROM generate_series(1, 3000) g;
            """)
        try await scenario.forager(["sync"])
        try await expectAllEqual(scenario)
        let lsnColumn = try await scenario.warehouseScalar(
            "SELECT count(*) FROM analytics.samples WHERE _forager_lsn IS NULL OR _forager_synced_at IS NULL")
        #expect(lsnColumn == "0")
    }

    @Test("a value stored out of line (TOAST) survives updates that do not touch it")
    func unchangedToastValuesSurvive() async throws {
        let scenario = try await Scenario.make(
            sourceSQL: """
                CREATE TABLE docs (id int PRIMARY KEY, title text, body text);
                ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL;
                INSERT INTO docs SELECT g, 'doc ' || g, repeat(md5(g::text), 2000) FROM generate_series(1, 20) g;
                """,
            tables: ["docs"])
        try await scenario.syncBeforeAndAfter([
            """
            UPDATE docs SET title = 'retitled ' || id WHERE id <= 10;
            INSERT INTO docs VALUES (21, 'new', repeat('z', 100000));
            UPDATE docs SET title = 'new, retitled' WHERE id = 21;
            """
        ])
        try await scenario.expectSameContent(source: "docs", target: "analytics.docs", columns: ["id", "title", "body"])
        #expect(try await scenario.warehouseScalar("SELECT length(body) FROM analytics.docs WHERE id = 3") == "64000")
    }

    @Test("TRUNCATE on the source empties the warehouse table, in order with the rows around it")
    func truncateIsReplicated() async throws {
        let scenario = try await Scenario.make(
            sourceSQL:
                "CREATE TABLE events (id int PRIMARY KEY, what text); INSERT INTO events SELECT g, 'e' || g FROM generate_series(1, 100) g;",
            tables: ["events"])
        try await scenario.syncBeforeAndAfter([
            """
            BEGIN; INSERT INTO events VALUES (101, 'before'); TRUNCATE events; INSERT INTO events VALUES (1, 'after'); COMMIT;
            INSERT INTO events VALUES (2, 'later');
            """
        ])
        try await scenario.expectSameContent(source: "events", target: "analytics.events", columns: ["id", "what"])
        #expect(try await scenario.warehouseScalar("SELECT string_agg(what, ',' ORDER BY id) FROM analytics.events") == "after,later")
    }

    @Test("TRUNCATE a, b and TRUNCATE ... CASCADE empty every mapped table they reach, in order; unmapped ones are ignored")
    func truncateSeveralTablesAndCascade() async throws {
        let scenario = try await Scenario.make(
            sourceSQL: """
                CREATE TABLE yards (id int PRIMARY KEY, name text);
                CREATE TABLE hives (id int PRIMARY KEY, yard_id int REFERENCES yards);
                CREATE TABLE notes (id int PRIMARY KEY, body text);
                CREATE TABLE scratch (id int PRIMARY KEY);
                INSERT INTO yards SELECT g, 'y' || g FROM generate_series(1, 10) g;
                INSERT INTO hives SELECT g, 1 + g % 10 FROM generate_series(1, 40) g;
                INSERT INTO notes SELECT g, 'n' || g FROM generate_series(1, 5) g;
                INSERT INTO scratch VALUES (1);
                """,
            tables: ["yards", "hives", "notes"])
        try await scenario.syncBeforeAndAfter([
            "BEGIN; INSERT INTO notes VALUES (6, 'before'); TRUNCATE notes, scratch; INSERT INTO notes VALUES (1, 'after'); COMMIT",
            "BEGIN; INSERT INTO yards VALUES (11, 'doomed'); INSERT INTO hives VALUES (41, 11); TRUNCATE yards CASCADE; INSERT INTO yards VALUES (1, 'fresh'); INSERT INTO hives VALUES (1, 1); COMMIT",
            "INSERT INTO hives VALUES (2, 1)",
        ])
        try await scenario.expectSameContent(source: "yards", target: "analytics.yards", columns: ["id", "name"])
        try await scenario.expectSameContent(source: "hives", target: "analytics.hives", columns: ["id", "yard_id"])
        try await scenario.expectSameContent(source: "notes", target: "analytics.notes", columns: ["id", "body"])
        #expect(
            try await scenario.warehouseScalar(
                "SELECT (SELECT count(*) FROM analytics.hives) || '/' || (SELECT string_agg(body, ',') FROM analytics.notes)") == "2/after")
    }

    @Test("a graceful stop leaves the slot's confirmed_flush_lsn equal to the warehouse checkpoint")
    func gracefulStopAcknowledgesCheckpoint() async throws {
        let scenario = try await Scenario.make(sourceSQL: appSchema, tables: appTables)
        let process = try scenario.launch(["run"])
        try await scenario.eventually("the snapshot") {
            try await scenario.warehouseScalar("SELECT count(*) FROM analytics._forager_state WHERE slot = '\(scenario.slot)'") == "1"
        }
        try await scenario.onSource("INSERT INTO customers SELECT g, 'streamed', NULL, now() FROM generate_series(5000, 5999) g")
        try await scenario.eventually("streamed rows") {
            try await scenario.warehouseScalar("SELECT count(*) FROM analytics.customers WHERE name = 'streamed'") == "1000"
        }
        try await scenario.onSource("UPDATE customers SET name = 'last' WHERE id = 5000")
        try await scenario.eventually("the last update") {
            try await scenario.warehouseScalar("SELECT name FROM analytics.customers WHERE id = 5000") == "last"
        }
        process.signal(SIGTERM)
        let status = try await process.wait(timeout: .seconds(30))
        #expect(status == 0)
        let confirmed = try await scenario.source.scalar(
            "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = '\(scenario.slot)'", database: "postgres")
        let checkpoint = try await scenario.checkpoint()
        #expect(confirmed != nil)
        #expect(confirmed == checkpoint)
        try await expectAllEqual(scenario)
    }

    @Test("SIGKILL in the middle of a large stream, then a restart: no row lost, none doubled")
    func killedMidStreamRecovers() async throws {
        let scenario = try await Scenario.make(
            sourceSQL: appSchema, tables: appTables,
            batch: "batch:\n  max_rows: 5000\n  max_age_ms: 200")
        try await scenario.forager(["sync"])
        var statements: [String] = []
        for round in 0..<40 {
            let base = 100_000 + round * 2_500
            statements.append(
                "INSERT INTO samples SELECT 1 + g % 500, '2031-01-01'::timestamptz + g * interval '1 second', g, jsonb_build_object('r', \(round)) FROM generate_series(\(base), \(base + 2_499)) g;"
            )
            statements.append("UPDATE hives SET weight_kg = weight_kg + 1, notes = 'round \(round)' WHERE id % 40 = \(round);")
            statements.append("DELETE FROM samples WHERE hive_id = \(1 + round) AND taken_at < '2025-01-01';")
        }
        statements.append(
            "INSERT INTO samples SELECT 1 + g % 500, '2032-01-01'::timestamptz + g * interval '1 second', g, NULL FROM generate_series(1, 60000) g;"
        )
        // A backlog of 121 transactions, then a run that is killed while it catches up.
        try await scenario.onSourceEach(statements)
        let process = try scenario.launch(["run"])
        try await scenario.eventually("some streamed rows") {
            (Int(try await scenario.warehouseScalar("SELECT count(*) FROM analytics.samples WHERE taken_at >= '2031-01-01'") ?? "0") ?? 0)
                > 5_000
        }
        process.signal(SIGKILL)
        _ = try await process.wait(timeout: .seconds(10))
        let partial =
            Int(try await scenario.warehouseScalar("SELECT count(*) FROM analytics.samples WHERE taken_at >= '2031-01-01'") ?? "0") ?? 0
        try await scenario.forager(["sync"])
        try await expectAllEqual(scenario)
        let total =
            Int(try await scenario.warehouseScalar("SELECT count(*) FROM analytics.samples WHERE taken_at >= '2031-01-01'") ?? "0") ?? 0
        #expect(total == 160_000)
        #expect(partial < total, "the kill should land before the stream finished")
    }

    @Test("forager check lists every problem at once and exits 1")
    func checkReportsProblems() async throws {
        let scenario = try await Scenario.make(
            sourceSQL: "CREATE TABLE keyless (a int, b text); CREATE TABLE fine (id int PRIMARY KEY);",
            tables: ["keyless", "missing_table", "fine"])
        let output = try await scenario.expectOutput(
            of: ["check"], status: 1,
            containing: [
                "public.keyless has no primary key",
                "mappings/app.yaml:3: mapped table public.missing_table does not exist",
            ])
        #expect(!output.contains("public.fine"))
    }

    @Test("sync of a 1,000,000-row table into an empty warehouse gives identical content")
    func millionRowSnapshot() async throws {
        let scenario = try await Scenario.make(
            sourceSQL: """
                CREATE TABLE readings (id bigint PRIMARY KEY, device int NOT NULL, at timestamptz NOT NULL, value double precision, note text);
                INSERT INTO readings SELECT g, g % 5000, '2024-01-01'::timestamptz + g * interval '1 second', sin(g), CASE WHEN g % 11 = 0 THEN NULL ELSE 'n' || g END FROM generate_series(1, 1000000) g;
                """,
            tables: ["readings"])
        try await scenario.forager(["sync"])
        try await scenario.expectSameContent(
            source: "readings", target: "analytics.readings", columns: ["id", "device", "at", "value", "note"])
        try await scenario.onSource(
            "UPDATE readings SET value = -value WHERE id % 100 = 0; DELETE FROM readings WHERE id % 1000 = 1; INSERT INTO readings SELECT g, 1, now(), 0, NULL FROM generate_series(1000001, 1100000) g;"
        )
        try await scenario.forager(["sync"])
        try await scenario.expectSameContent(
            source: "readings", target: "analytics.readings", columns: ["id", "device", "at", "value", "note"])
    }
}

@Suite("Source preflight", .cleansUpScenarios)
struct SourcePreflightTests {
    @Test("forager check warns when the source role is a superuser, and not for a role with only REPLICATION and SELECT")
    func superuserWarning() async throws {
        let scenario = try await Scenario.make(
            sourceSQL:
                "CREATE TABLE fine (id int PRIMARY KEY); CREATE ROLE least_priv LOGIN REPLICATION; GRANT SELECT ON fine TO least_priv;",
            tables: ["fine"])
        let superuser = try await scenario.forager(["check"])
        #expect(superuser.contains("warning: the source role \"postgres\" is a superuser") && superuser.contains("ok: "), "\(superuser)")
        try scenario.rewriteConfig(sourceURL: "postgresql://least_priv@127.0.0.1:\(scenario.source.port)/\(scenario.sourceDatabase)")
        let least = try await scenario.forager(["check"])
        #expect(!least.contains("warning") && least.contains("ok: "), "\(least)")
    }

    @Test("a role without REPLICATION and a server without wal_level=logical each get a clear error")
    func setupProblemsAreNamed() async throws {
        let scenario = try await Scenario.make(
            sourceSQL: "CREATE TABLE fine (id int PRIMARY KEY); CREATE ROLE plain LOGIN; GRANT SELECT ON fine TO plain;",
            tables: ["fine"])
        let plainURL = "postgresql://plain@127.0.0.1:\(scenario.source.port)/\(scenario.sourceDatabase)"
        try scenario.rewriteConfig(sourceURL: plainURL)
        try await scenario.expectOutput(
            of: ["check"], status: 1,
            containing: [
                "has no REPLICATION privilege",
                "ALTER ROLE \"plain\" WITH REPLICATION",
            ])

        let physical = try LocalCluster.startForTests(name: "replica-level", settings: ["wal_level": "replica"])
        defer { physical.stop() }
        try await physical.execute("CREATE TABLE fine (id int PRIMARY KEY)", database: "postgres")
        try scenario.rewriteConfig(sourceURL: physical.url())
        try await scenario.expectOutput(
            of: ["sync"], status: 1,
            containing: [
                "wal_level = replica",
                "ALTER SYSTEM SET wal_level = logical",
            ])
    }
}
