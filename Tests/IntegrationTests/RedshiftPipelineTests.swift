import Foundation
import RedshiftTestSupport
import Testing

/// `warehouse.type: redshift` end to end: the forager binary copies and streams a table into the
/// Redshift emulation (Support/Redshift), every load staged in moto's S3 with signatures checked.
@Suite("Redshift warehouse through forager", .serialized, .cleansUpScenarios)
struct RedshiftPipelineTests {
    /// A scenario whose warehouse is a schema of the Redshift emulation, staging in moto's S3.
    static func scenario(sourceSQL: String, tables: [String]) async throws -> (EmulatedRedshift, Scenario, String) {
        let redshift = try await EmulatedRedshift.shared()
        let scenario = try await Scenario.make(sourceSQL: sourceSQL, tables: tables)
        let schema = "rs_\(scenario.slot)"
        let s3 = redshift.s3
        let config = try String(contentsOfFile: scenario.configPath, encoding: .utf8)
        let postgresWarehouse = "warehouse:\n  type: postgres\n  url: \"\(scenario.warehouseURL)\"\n  schema: analytics\n"
        #expect(config.contains(postgresWarehouse))
        try config.replacingOccurrences(
            of: postgresWarehouse,
            with: """
                warehouse:
                  type: redshift
                  url: "\(redshift.url)"
                  schema: \(schema)
                  s3: {bucket: \(s3.bucket), region: \(s3.region), endpoint: "\(s3.endpoint)", prefix: "cdc/\(schema)"}

                """
        ).write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
        return (redshift, scenario, schema)
    }

    /// Runs `forager <arguments>` with the S3 keys in its environment, expecting it to exit
    /// `expectStatus` without printing the secret key.
    @discardableResult
    static func forager(_ arguments: [String], expectStatus: Int32 = 0, in scenario: Scenario, _ redshift: EmulatedRedshift) async throws
        -> String
    {
        let keys = redshift.s3.credentials
        let output = try await scenario.forager(
            arguments, expectStatus: expectStatus,
            environment: ["AWS_ACCESS_KEY_ID": keys.accessKeyID, "AWS_SECRET_ACCESS_KEY": keys.secretAccessKey])
        #expect(!output.contains(keys.secretAccessKey), "forager \(arguments) printed the secret key")
        return output
    }

    @Test("forager sync copies a table into Redshift through S3, then applies inserts, updates and deletes exactly; no key is printed")
    func syncThroughS3() async throws {
        let (redshift, scenario, schema) = try await Self.scenario(
            sourceSQL: """
                CREATE TABLE hives (id int PRIMARY KEY, label text, weight numeric(6,2), readings jsonb, seen timestamptz);
                INSERT INTO hives SELECT g, 'hive ' || g, g * 1.5, '{"t": 1}', '2026-05-01 10:00:00.123456+00' FROM generate_series(1, 200) g;
                """,
            tables: ["hives"])
        @discardableResult func forager(_ arguments: [String], expectStatus: Int32 = 0) async throws -> String {
            try await Self.forager(arguments, expectStatus: expectStatus, in: scenario, redshift)
        }
        func warehouseRows() async throws -> [[String]] {
            try await redshift.rows(
                "SELECT id, label, weight, readings, to_char(seen AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') FROM \"\(schema)\".hives ORDER BY id"
            )
        }
        func sourceRows() async throws -> [[String]] {
            let text =
                try await scenario.sourceScalar(
                    "SELECT string_agg(concat_ws('|', id, label, weight, readings, to_char(seen AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')), E'\\n' ORDER BY id) FROM hives"
                ) ?? ""
            return text.split(separator: "\n").map { $0.split(separator: "|", omittingEmptySubsequences: false).map(String.init) }
        }
        try await forager(["sync"])
        #expect(try await warehouseRows().count == 200)
        #expect(try await warehouseRows() == (try await sourceRows()))

        try await scenario.onSourceEach([
            "INSERT INTO hives VALUES (201, 'new', 9.25, '{\"t\": 2}', '2026-05-02 11:00:00+00')",
            "UPDATE hives SET label = 'moved', weight = weight + 1 WHERE id <= 50",
            "DELETE FROM hives WHERE id BETWEEN 60 AND 69",
            "BEGIN; UPDATE hives SET readings = '{\"t\": 3}' WHERE id = 201; DELETE FROM hives WHERE id = 200; COMMIT",
        ])
        try await forager(["sync"])
        #expect(try await warehouseRows().count == 190)
        #expect(try await warehouseRows() == (try await sourceRows()))
        let status = try await forager(["status"])
        #expect(status.contains("hives"), "\(status)")
        // Staged objects are removed once their batch committed.
        #expect(try await redshift.s3Objects(prefix: "cdc/\(schema)/").isEmpty)
    }

    @Test(
        "forager validate compares Redshift tables with the source: equal tables pass; a row changed, removed or added by hand is named by its key, exit 3"
    )
    func validate() async throws {
        let (redshift, scenario, schema) = try await Self.scenario(
            sourceSQL: """
                CREATE TABLE hives (id int PRIMARY KEY, label text, weight numeric(6,2), readings jsonb, photo bytea, seen timestamptz, tags text[]);
                INSERT INTO hives SELECT g, CASE WHEN g % 5 = 0 THEN NULL ELSE 'hive "' || g || E'",\n\t\\\\ ünï 🐝' END, g * 1.5,
                    jsonb_build_object('t', g, 's', E'a\tb'), CASE WHEN g % 7 = 0 THEN NULL WHEN g % 11 = 0 THEN '' ELSE int4send(g) END,
                    timestamptz '2026-05-01 10:00:00.123456+00' + g * interval '1 minute', ARRAY['a', g::text, NULL]
                FROM generate_series(1, 250) g;
                CREATE TABLE readings (hive text, at timestamptz, value numeric(8,2), PRIMARY KEY (hive, at));
                INSERT INTO readings SELECT 'hive-' || (g % 7), timestamptz '2026-01-01' + g * interval '1 minute', g FROM generate_series(1, 120) g;
                """,
            tables: ["hives", "readings"])
        @discardableResult func forager(_ arguments: [String], expectStatus: Int32 = 0) async throws -> String {
            try await Self.forager(arguments, expectStatus: expectStatus, in: scenario, redshift)
        }
        try await forager(["sync"])
        let equal = try await forager(["validate", "--chunk-rows", "100"])
        for fragment in ["public.hives: equal (250 rows in 3 chunks)", "public.readings: equal (120 rows in 2 chunks)"] {
            #expect(equal.contains(fragment), "\(equal)")
        }

        let hives = "\"\(schema)\".\"hives\"", readings = "\"\(schema)\".\"readings\""
        for statement in [
            "UPDATE \(hives) SET \"label\" = 'changed by hand' WHERE \"id\" = 42",
            "DELETE FROM \(hives) WHERE \"id\" = 150",
            "INSERT INTO \(hives) (\"id\", \"label\", \"_forager_lsn\") VALUES (1000, 'not on the source', 1)",
            "UPDATE \(readings) SET \"value\" = \"value\" + 1 WHERE \"hive\" = 'hive-3' AND \"value\" = 10",
            "INSERT INTO \(readings) (\"hive\", \"at\", \"value\", \"_forager_lsn\") VALUES ('hive-x', '2026-02-01 00:00:00+00', 1, 1)",
        ] {
            _ = try await redshift.rows(statement)
        }
        // forager run keeps the checkpoint up with the source's position (which moves without a
        // change to the tables: PostgreSQL logs a snapshot of running transactions now and then),
        // so a differing chunk is compared again once the warehouse has passed where it was read.
        let keys = redshift.s3.credentials
        let running = try await scenario.launchStreaming(
            environment: ["AWS_ACCESS_KEY_ID": keys.accessKeyID, "AWS_SECRET_ACCESS_KEY": keys.secretAccessKey])
        let differs = try await forager(["validate", "--chunk-rows", "100", "--wait", "30"], expectStatus: 3)
        for fragment in [
            "public.hives: DIFFERS in 3 of 3 chunks",
            "keys (start, 100]: 100 rows on both sides, different content; 1 row differs: 42 different",
            "keys (100, 200]: source 100 rows, warehouse 99; 1 row differs: 150 missing in the warehouse",
            "keys (200, end]: source 50 rows, warehouse 51; 1 row differs: 1000 extra in the warehouse",
            "public.readings: DIFFERS in 2 of",
            "(hive-3, 2026-01-01 00:10:00+00) different",
            "warehouse keys outside every source chunk: source 0 rows, warehouse 1; 1 row differs: (hive-x, 2026-02-01 00:00:00+00) extra in the warehouse",
        ] {
            #expect(differs.contains(fragment), "\(differs)")
        }
        let one = try await forager(["validate", "--table", "public.readings", "--wait", "0"], expectStatus: 3)
        #expect(one.contains("public.readings: DIFFERS") && !one.contains("public.hives"), "\(one)")
        try await running.expectCleanStop()
        // The twins are session temporary tables, and their staged objects are removed.
        #expect(try await redshift.s3Objects(prefix: "cdc/\(schema)/").isEmpty)
        #expect(try await redshift.rows("SELECT COUNT(*) FROM pg_table_def WHERE tablename LIKE '\\_forager\\_validate%'") == [["0"]])
    }
}
