import Foundation
import Testing

/// `warehouse.type: redshift` end to end: the forager binary copies and streams a table into the
/// Redshift emulation (Support/Redshift), every load staged in moto's S3 with signatures checked.
@Suite("Redshift warehouse through forager", .serialized, .cleansUpScenarios)
struct RedshiftPipelineTests {
    /// A Redshift scenario whose table `t (id int PRIMARY KEY, <column> text)` holds the rows 1 to
    /// `rows`, copied by a first `forager sync`.
    private func syncedTable(_ column: String = "name", rows: Int) async throws -> RedshiftScenario {
        let redshift = try await RedshiftScenario.make(
            sourceSQL:
                "CREATE TABLE t (id int PRIMARY KEY, \(column) text); INSERT INTO t SELECT g, 'n' || g FROM generate_series(1, \(rows)) g;",
            tables: ["t"])
        try await redshift.forager(["sync"])
        return redshift
    }

    @Test("forager sync copies a table into Redshift through S3, then applies inserts, updates and deletes exactly; no key is printed")
    func syncThroughS3() async throws {
        let redshift = try await RedshiftScenario.make(
            sourceSQL: """
                CREATE TABLE hives (id int PRIMARY KEY, label text, weight numeric(6,2), readings jsonb, seen timestamptz);
                INSERT INTO hives SELECT g, 'hive ' || g, g * 1.5, '{"t": 1}', '2026-05-01 10:00:00.123456+00' FROM generate_series(1, 200) g;
                """,
            tables: ["hives"])
        let columns = "id, label, weight, readings, to_char(seen AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"
        try await redshift.forager(["sync"])
        #expect(try await redshift.bothRows("hives", columns: columns).warehouse.count == 200)
        try await redshift.expectSameRows("hives", columns: columns)

        try await redshift.scenario.onSourceEach([
            "INSERT INTO hives VALUES (201, 'new', 9.25, '{\"t\": 2}', '2026-05-02 11:00:00+00')",
            "UPDATE hives SET label = 'moved', weight = weight + 1 WHERE id <= 50",
            "DELETE FROM hives WHERE id BETWEEN 60 AND 69",
            "BEGIN; UPDATE hives SET readings = '{\"t\": 3}' WHERE id = 201; DELETE FROM hives WHERE id = 200; COMMIT",
        ])
        try await redshift.forager(["sync"])
        #expect(try await redshift.bothRows("hives", columns: columns).warehouse.count == 190)
        try await redshift.expectSameRows("hives", columns: columns)
        try await redshift.expectOutput(of: ["status"], containing: ["hives"])
        // Staged objects are removed once their batch committed.
        #expect(try await redshift.redshift.s3Objects(prefix: "\(redshift.prefix)/").isEmpty)
    }

    @Test(
        "redshift: {oversized_text: truncate} stores text over 65,535 bytes cut to fit, in the copy and in changes, logs how many, and validate finds the table equal"
    )
    func oversizedTextTruncated() async throws {
        let redshift = try await RedshiftScenario.make(
            sourceSQL:
                "CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes VALUES (1, repeat('é', 40000)), (2, 'short');",
            mapping: "tables:\n  - source: notes\n    redshift: {oversized_text: truncate}\n")
        try await redshift.expectOutput(of: ["sync"], containing: ["were cut to fit", "forager.values=1"])
        try await redshift.scenario.onSourceEach([
            "INSERT INTO notes VALUES (3, repeat('x', 70000))", "UPDATE notes SET body = body || '!' WHERE id = 2",
        ])
        try await redshift.expectOutput(of: ["sync"], containing: ["were cut to fit", "forager.values=1"])
        let table = "\"\(redshift.schema)\".\"notes\""
        #expect(
            try await redshift.redshift.rows("SELECT \"id\", OCTET_LENGTH(\"body\") FROM \(table) ORDER BY \"id\"")
                == [["1", "65534"], ["2", "6"], ["3", "65535"]])
        #expect(try await redshift.tableStates() == ["notes=streaming"])
        try await redshift.expectOutput(of: ["validate"], containing: ["public.notes: equal (3 rows"])
    }

    @Test(
        "a column added with a constant default while forager was stopped: rows already in Redshift and changes older than the column read the default, with no new copy; rows written after the source drops it read NULL"
    )
    func columnAddedWhileStoppedReadsItsDefault() async throws {
        let redshift = try await syncedTable(rows: 20)
        try await redshift.scenario.onSourceEach([
            "INSERT INTO t VALUES (21, 'older')", "ALTER TABLE t ADD COLUMN kind text DEFAULT 'hive', ADD COLUMN frames int DEFAULT 10",
            "INSERT INTO t VALUES (22, 'newer', 'bee', 3)",
        ])
        let output = try await redshift.forager(["sync"])
        #expect(!output.contains("copying the table again"), "\(output)")
        #expect(try await redshift.bothRows("t", columns: "kind, frames").warehouse.first == ["hive", "10"])
        try await redshift.expectSameRows("t", columns: "id, name, kind, frames")

        try await redshift.scenario.onSourceEach(["ALTER TABLE t DROP COLUMN kind", "INSERT INTO t VALUES (23, 'dropped', 4)"])
        try await redshift.forager(["sync"])
        let kinds = try await redshift.redshift.rows(
            "SELECT id, coalesce(kind, 'NULL') FROM \"\(redshift.schema)\".t WHERE id IN (1, 21, 22, 23) ORDER BY id")
        #expect(kinds == [["1", "hive"], ["21", "hive"], ["22", "bee"], ["23", "NULL"]])
        try await redshift.expectSameRows("t", columns: "id, name, frames")
    }

    @Test("a column dropped and added again as another type stops the table, naming both types, while forager run streams")
    func columnAddedAgainStopsTheTable() async throws {
        let redshift = try await syncedTable("note", rows: 20)
        let running = try await redshift.launchRun()
        try await redshift.scenario.onSourceEach([
            "ALTER TABLE t DROP COLUMN note", "INSERT INTO t VALUES (21)", "ALTER TABLE t ADD COLUMN note int DEFAULT 0",
            "INSERT INTO t VALUES (22, 5)",
        ])
        try await redshift.scenario.eventually("t to stop") { try await redshift.tableStates() == ["t=stopped"] }
        try await running.expectCleanStop()
        try await redshift.expectOutput(
            of: ["status"], status: 1,
            containing: ["was dropped and added again on the source, now as integer", "(VARCHAR(65535)) holds the dropped column's values"])
    }

    @Test(
        "ADD COLUMN whose older rows' value only the source's rows tell (a default lost to a rewrite, a volatile default) copies the table again; columns added while streaming stage their rows by type"
    )
    func addedColumnCopiesTheTableAgain() async throws {
        let redshift = try await syncedTable(rows: 100)
        try await redshift.scenario.onSourceEach([
            "ALTER TABLE t ADD COLUMN w int DEFAULT 42", "VACUUM FULL t", "INSERT INTO t VALUES (101, 'after', 7)",
        ])
        let caughtUp = try await redshift.forager(["sync"])
        #expect(caughtUp.contains("copying the table again"), "\(caughtUp)")
        #expect(try await redshift.bothRows("t", columns: "w", order: "id").warehouse.first == ["42"])
        try await redshift.expectSameRows("t", columns: "id, name, w")

        let running = try await redshift.launchRun()
        try await redshift.scenario.onSourceEach([
            "ALTER TABLE t ADD COLUMN seen timestamptz DEFAULT clock_timestamp()",
            "INSERT INTO t VALUES (102, 'streamed', 8, '2026-01-01 00:00:00+00')",
        ])
        try await redshift.eventuallySameRows("t", columns: "id, name, w, extract(epoch FROM seen)")
        try await redshift.scenario.onSourceEach([
            "ALTER TABLE t ADD COLUMN photo bytea DEFAULT '\\x00ff', ADD COLUMN at date DEFAULT '2026-05-01'",
            "INSERT INTO t (id, name, w, photo, at) VALUES (103, 'typed', 9, '\\x0102', '2026-06-01')",
        ])
        try await redshift.eventuallySameRows("t", columns: "id, name, w, extract(epoch FROM seen), encode(photo, 'hex'), at")
        try await running.expectCleanStop()
        #expect(try await redshift.tableStates() == ["t=streaming"])
    }

    @Test(
        "forager validate compares Redshift tables with the source: equal tables pass; a row changed, removed or added by hand is named by its key, exit 3"
    )
    func validate() async throws {
        let redshift = try await RedshiftScenario.make(
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
        try await redshift.forager(["sync"])
        // validate stages in a folder of its own, which a start of the pipeline leaves alone and
        // validate clears of an interrupted validate's objects.
        let validateFolder = "\(redshift.prefix)/\(redshift.scenario.slot).validate/"
        try await redshift.redshift.putObject(validateFolder + "interrupted/1-0.csv.gz", body: "left by a killed validate")
        try await redshift.forager(["sync"])
        #expect(try await redshift.redshift.s3Objects(prefix: validateFolder).count == 1)
        let equal = try await redshift.forager(["validate", "--chunk-rows", "100"])
        for fragment in ["public.hives: equal (250 rows in 3 chunks)", "public.readings: equal (120 rows in 2 chunks)"] {
            #expect(equal.contains(fragment), "\(equal)")
        }
        #expect(try await redshift.redshift.s3Objects(prefix: validateFolder).isEmpty)
        let statements = try String(contentsOfFile: redshift.redshift.statementsLog, encoding: .utf8)
        #expect(statements.contains("/\(validateFolder)"), "no COPY read from validate's own folder")

        let hives = "\"\(redshift.schema)\".\"hives\"", readings = "\"\(redshift.schema)\".\"readings\""
        for statement in [
            "UPDATE \(hives) SET \"label\" = 'changed by hand' WHERE \"id\" = 42",
            "DELETE FROM \(hives) WHERE \"id\" = 150",
            "INSERT INTO \(hives) (\"id\", \"label\", \"_forager_lsn\") VALUES (1000, 'not on the source', 1)",
            "UPDATE \(readings) SET \"value\" = \"value\" + 1 WHERE \"hive\" = 'hive-3' AND \"value\" = 10",
            "INSERT INTO \(readings) (\"hive\", \"at\", \"value\", \"_forager_lsn\") VALUES ('hive-x', '2026-02-01 00:00:00+00', 1, 1)",
        ] {
            try await redshift.onWarehouse(statement)
        }
        // forager run keeps the checkpoint up with the source's position (which moves without a
        // change to the tables: PostgreSQL logs a snapshot of running transactions now and then),
        // so a differing chunk is compared again once the warehouse has passed where it was read.
        let running = try await redshift.launchRun()
        let differs = try await redshift.forager(["validate", "--chunk-rows", "100", "--wait", "30"], expectStatus: 3)
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
        let one = try await redshift.forager(["validate", "--table", "public.readings", "--wait", "0"], expectStatus: 3)
        #expect(one.contains("public.readings: DIFFERS") && !one.contains("public.hives"), "\(one)")
        try await running.expectCleanStop()
        // The twins are session temporary tables, and their staged objects are removed.
        #expect(try await redshift.redshift.s3Objects(prefix: "\(redshift.prefix)/").isEmpty)
        #expect(
            try await redshift.redshift.rows("SELECT COUNT(*) FROM pg_table_def WHERE tablename LIKE '\\_forager\\_validate%'") == [["0"]])
    }
}
