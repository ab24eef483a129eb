import Foundation
import Glibc
import Testing

@Suite("Least privilege", .serialized, .cleansUpScenarios)
struct LeastPrivilegeTests {
    @Test(
        "set up as docs/operations.md says (a role with LOGIN REPLICATION and SELECT on the mapped tables, a publication the tables' owner made), sync and run replicate inserts, updates and deletes exactly"
    )
    func leastPrivilegeSource() async throws {
        let scenario = try await Scenario.make(sourceSQL: "SELECT 1", tables: ["public.samples", "public.hives"])
        let (owner, role, password) = try await Self.setUpAsDocumented(scenario)

        try scenario.rewriteConfig(
            sourceURL: "postgresql://\(role):\(password)@127.0.0.1:\(scenario.source.port)/\(scenario.sourceDatabase)")
        let check = try await scenario.forager(["check"])
        #expect(check.contains("ok: ") && !check.contains("warning"), "\(check)")
        try await scenario.forager(["sync"])
        try await expectSame(scenario)

        try await scenario.onSourceEach([
            "UPDATE samples SET value = value * 2, note = NULL WHERE id % 7 = 0",
            "DELETE FROM samples WHERE id % 11 = 0",
            "INSERT INTO samples SELECT g, g % 20, g, 'after sync' FROM generate_series(5001, 5500) g",
            "UPDATE hives SET name = name || ' (moved)', doc = doc || '{\"moved\": true}' WHERE id <= 5",
        ])
        let running = try await scenario.launchStreaming()
        let writer = scenario.writeContinuously { round in
            """
            INSERT INTO samples VALUES (\(100_000 + round), \(round % 20), \(round), 'streamed');
            UPDATE samples SET value = value + 1 WHERE id = \(round * 37 % 5000 + 1);
            DELETE FROM samples WHERE id = \(round * 53 % 5000 + 1);
            UPDATE hives SET doc = jsonb_build_object('round', \(round)) WHERE id = \(round % 20 + 1);
            """
        }
        try await scenario.eventually("the writer under way") {
            Int(try await scenario.sourceScalar("SELECT count(*) FROM samples WHERE id > 100000") ?? "") ?? 0 >= 100
        }
        writer.cancel()
        _ = await writer.result
        try await scenario.onSource("DELETE FROM hives WHERE id = 20; INSERT INTO hives VALUES (21, 'last', NULL);")
        let sourceDigest = try await scenario.sourceScalar(Scenario.digestSQL(table: "samples", columns: Self.sampleColumns, key: ["id"]))
        try await scenario.eventually("the warehouse caught up") {
            let samples = try await scenario.warehouseScalar(
                Scenario.digestSQL(table: "analytics.samples", columns: Self.sampleColumns, key: ["id"]))
            let last = try await scenario.warehouseScalar("SELECT count(*) FROM analytics.hives WHERE id = 21")
            return samples == sourceDigest && last == "1"
        }
        try await running.expectCleanStop()
        try await expectSame(scenario)
        let validation = try await scenario.forager(["validate", "--wait", "5"])
        #expect(validation.contains("public.samples: equal") && validation.contains("public.hives: equal"), "\(validation)")
        #expect(
            try await scenario.sourceScalar("SELECT string_agg(pubname || ':' || pubowner::regrole::text, ',') FROM pg_publication")
                == "forager_pub:\(owner)")
    }

    /// The source set up as docs/operations.md says: the application's tables owned by a role of
    /// their own, Forager's role with LOGIN REPLICATION and SELECT on the mapped tables (and its
    /// pg_hba.conf line), and the publication made once by the tables' owner.
    private static func setUpAsDocumented(_ scenario: Scenario) async throws -> (owner: String, role: String, password: String) {
        let owner = "lp_owner_\(scenario.id)", role = "lp_forager_\(scenario.id)", password = "Src-S3cret-Pw-lp"

        // The application's tables, owned by a role of their own.
        try await scenario.source.execute("CREATE ROLE \(owner) LOGIN", database: "postgres")
        try await scenario.onSource(
            """
            GRANT CREATE ON DATABASE \(scenario.sourceDatabase) TO \(owner);
            GRANT CREATE ON SCHEMA public TO \(owner);
            SET ROLE \(owner);
            CREATE TABLE samples (id bigint PRIMARY KEY, hive int NOT NULL, value numeric, note text);
            CREATE TABLE hives (id int PRIMARY KEY, name text NOT NULL, doc jsonb);
            CREATE TABLE private_notes (id int PRIMARY KEY, secret text);
            INSERT INTO samples SELECT g, g % 20, g * 1.25, 'n' || g FROM generate_series(1, 5000) g;
            INSERT INTO hives SELECT g, 'hive ' || g, jsonb_build_object('frames', g) FROM generate_series(1, 20) g;
            RESET ROLE;
            """)

        // docs/operations.md, "The source role": the role, its grants, and its pg_hba.conf line.
        try await scenario.source.execute("CREATE ROLE \(role) LOGIN REPLICATION PASSWORD '\(password)'", database: "postgres")
        try await scenario.onSource(
            """
            GRANT USAGE ON SCHEMA public TO \(role);
            GRANT SELECT ON public.samples, public.hives TO \(role);
            """)
        let hba = scenario.source.directory + "/data/pg_hba.conf"
        let rules = try String(contentsOfFile: hba, encoding: .utf8)
        try ("host \(scenario.sourceDatabase) \(role) 127.0.0.1/32 scram-sha-256\n" + rules).write(
            toFile: hba, atomically: false, encoding: .utf8)
        try await scenario.source.execute("SELECT pg_reload_conf()", database: "postgres")

        // The publication, made once by the tables' owner.
        try await scenario.onSource(
            """
            SET ROLE \(owner);
            CREATE PUBLICATION forager_pub WITH (publish = 'insert, update, delete, truncate', publish_via_partition_root = true);
            ALTER PUBLICATION forager_pub ADD TABLE public.samples, public.hives;
            RESET ROLE;
            """)
        #expect(
            try await scenario.source.scalar(
                "SELECT concat_ws(',', rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls) FROM pg_roles WHERE rolname = '\(role)'",
                database: "postgres") == "f,f,f,t,f")
        #expect(try await scenario.sourceScalar("SELECT has_table_privilege('\(role)', 'private_notes', 'SELECT')") == "f")
        return (owner, role, password)
    }

    static let sampleColumns = ["id", "hive", "value", "note"]

    private func expectSame(_ scenario: Scenario, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        try await scenario.expectSameContent(
            source: "samples", target: "analytics.samples", columns: Self.sampleColumns, sourceLocation: sourceLocation)
        try await scenario.expectSameContent(
            source: "hives", target: "analytics.hives", columns: ["id", "name", "doc"], sourceLocation: sourceLocation)
    }

    @Test(
        "the warehouse roles of docs/operations.md: Forager owns its schema and nothing else; an analyst reads every table, later ones included, and can change nothing"
    )
    func warehouseRoles() async throws {
        let scenario = try await Scenario.make(
            sourceSQL:
                "CREATE TABLE hives (id int PRIMARY KEY, name text); CREATE TABLE yards (id int PRIMARY KEY); INSERT INTO hives VALUES (1, 'a'); INSERT INTO yards VALUES (1);",
            tables: ["hives"])
        let owner = "forager_wh_\(scenario.id)", analyst = "analyst_\(scenario.id)"
        // docs/operations.md, "Roles on the warehouse", as written.
        try await scenario.warehouse.execute(
            """
            CREATE ROLE \(owner) LOGIN PASSWORD 'Wh-S3cret-Pw-lp';
            CREATE SCHEMA analytics AUTHORIZATION \(owner);
            CREATE ROLE \(analyst) LOGIN PASSWORD 'Wh-S3cret-Pw-lp';
            GRANT USAGE ON SCHEMA analytics TO \(analyst);
            GRANT SELECT ON ALL TABLES IN SCHEMA analytics TO \(analyst);
            ALTER DEFAULT PRIVILEGES FOR ROLE \(owner) IN SCHEMA analytics GRANT SELECT ON TABLES TO \(analyst);
            """, database: scenario.warehouseDatabase)
        try scenario.rewriteConfig(
            warehouseURL: scenario.warehouseURL.replacingOccurrences(of: "postgresql://postgres@", with: "postgresql://\(owner)@"))
        try await scenario.forager(["sync"])
        #expect(
            try await scenario.warehouseScalar("SELECT string_agg(DISTINCT tableowner, ',') FROM pg_tables WHERE schemaname = 'analytics'")
                == owner)

        // A table mapped later, and a resync that replaces a table: the analyst reads both.
        try scenario.writeMapping("tables:\n  - source: hives\n  - source: yards\n")
        try await scenario.forager(["resync", "--table", "public.hives"])
        try await scenario.onSource("INSERT INTO hives VALUES (2, 'b')")
        try await scenario.forager(["sync"])

        let session = try await scenario.warehouse.connect(scenario.warehouseDatabase)
        defer { session.close() }
        try await session.execute("SET ROLE \(analyst)")
        #expect(
            try await session.query("SELECT (SELECT count(*) FROM analytics.hives) || '/' || (SELECT count(*) FROM analytics.yards)").scalar
                == "2/1")
        for statement in [
            "INSERT INTO analytics.hives (id, name) VALUES (3, 'c')", "UPDATE analytics._forager_state SET lsn = '0/0'",
            "DELETE FROM analytics._forager_tables", "DELETE FROM analytics._forager_columns", "DROP TABLE analytics.yards",
            "CREATE TABLE analytics.scratch (x int)",
        ] {
            await #expect(throws: (any Error).self, "the analyst ran: \(statement)") { try await session.execute(statement) }
        }
        try await scenario.expectSameContent(source: "hives", target: "analytics.hives", columns: ["id", "name"])
    }
}
