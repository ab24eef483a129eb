import ForagerDemo
import Foundation
import Glibc
import Testing

@Suite("Schema changes while streaming", .cleansUpScenarios)
struct SchemaChangeTests {
    /// A scenario with `hives (id int PRIMARY KEY, <columns>)` holding the ids 1 to `rows`, each
    /// followed by `values` (SQL over the series' `g`), and `yards (id, name)`, empty, whose changes
    /// show that the stream goes on; `also` makes the tables `others`, mapped too.
    private func hivesAndYards(
        _ columns: String, rows: Int, values: String, others: [String] = [], also otherSQL: String = ""
    ) async throws -> Scenario {
        try await Scenario.make(
            sourceSQL: """
                CREATE TABLE hives (id int PRIMARY KEY, \(columns));
                CREATE TABLE yards (id int PRIMARY KEY, name text);
                INSERT INTO hives SELECT g, \(values) FROM generate_series(1, \(rows)) g;
                \(otherSQL)
                """,
            tables: ["hives", "yards"] + others)
    }

    @Test(
        "a column added with a default while forager is stopped: rows written before it, still in the stream, read the default, and a later drop leaves newer rows NULL"
    )
    func columnAddedWhileStopped() async throws {
        let scenario = try await Scenario.make(
            sourceSQL:
                "CREATE TABLE hives (id int PRIMARY KEY, label text); INSERT INTO hives SELECT g, 'h' || g FROM generate_series(1, 20) g;",
            tables: ["hives"])
        try await scenario.syncBeforeAndAfter([
            "INSERT INTO hives VALUES (21, 'before the column')",
            "UPDATE hives SET label = 'updated before' WHERE id = 1",
            "ALTER TABLE hives ADD COLUMN frames int NOT NULL DEFAULT 10",
            "INSERT INTO hives VALUES (22, 'after', 7)",
        ])
        try await scenario.expectSameContent(source: "hives", target: "analytics.hives", columns: ["id", "label", "frames"])
        try await scenario.onSourceEach(["ALTER TABLE hives DROP COLUMN frames", "INSERT INTO hives VALUES (23, 'after the drop')"])
        try await scenario.forager(["sync"])
        #expect(
            try await scenario.warehouseScalar(
                "SELECT string_agg(id || ':' || coalesce(frames::text, 'NULL'), ' ' ORDER BY id) FROM analytics.hives WHERE id IN (1, 21, 22, 23)"
            ) == "1:10 21:10 22:7 23:NULL")
    }

    @Test("ADD COLUMN (with and without a default) and DROP COLUMN mid-stream lose nothing; RENAME stops the table until a resync")
    func columnsFollowTheSource() async throws {
        let scenario = try await Scenario.make(
            sourceSQL:
                "CREATE TABLE hives (id int PRIMARY KEY, label text NOT NULL, weight numeric(6,2)); INSERT INTO hives SELECT g, 'h' || g, g FROM generate_series(1, 50) g;",
            tables: ["hives"])
        let process = try scenario.launch(["run"])
        try await scenario.eventually("the snapshot") {
            try await scenario.warehouseScalar("SELECT count(*) FROM analytics.hives") == "50"
        }
        try await scenario.onSourceEach([
            "INSERT INTO hives VALUES (51, 'before', 1)",
            "ALTER TABLE hives ADD COLUMN queen_marked boolean",
            "INSERT INTO hives VALUES (52, 'with queen', 2, true)",
            "ALTER TABLE hives ADD COLUMN frames int NOT NULL DEFAULT 10",
            "UPDATE hives SET frames = 12 WHERE id = 52",
            "ALTER TABLE hives DROP COLUMN weight",
            "INSERT INTO hives VALUES (53, 'after drop', NULL, 8)",
        ])
        try await scenario.eventually("the last insert") {
            try await scenario.warehouseScalar("SELECT count(*) FROM analytics.hives WHERE id = 53") == "1"
        }
        // Every current source column matches, including the default that older rows read.
        try await scenario.expectSameContent(
            source: "hives", target: "analytics.hives", columns: ["id", "label", "queen_marked", "frames"])
        // A dropped column stays in the warehouse with its history.
        #expect(try await scenario.warehouseScalar("SELECT weight FROM analytics.hives WHERE id = 51") == "1.00")
        #expect(try await scenario.warehouseScalar("SELECT weight IS NULL FROM analytics.hives WHERE id = 53") == "t")
        #expect(
            try await scenario.warehouseScalar(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'analytics.hives'::regclass AND attname = 'frames'"
            ) == "integer")

        try await scenario.onSourceEach([
            "ALTER TABLE hives RENAME COLUMN label TO name",
            "INSERT INTO hives VALUES (54, 'renamed', false, 9)",
        ])
        try await scenario.eventually("the table to stop") {
            try await scenario.warehouseScalar("SELECT state FROM analytics._forager_tables WHERE source_table = 'hives'") == "stopped"
        }
        #expect(
            try await scenario.warehouseScalar("SELECT reason FROM analytics._forager_tables WHERE source_table = 'hives'")?.contains(
                "renamed, or dropped and added") == true)
        #expect(try await scenario.warehouseScalar("SELECT count(*) FROM analytics.hives WHERE id = 54") == "0")
        try await scenario.expectOutput(
            of: ["check"], status: 1,
            containing: [
                "table public.hives is stopped",
                "forager resync --table public.hives",
            ])

        // The running pipeline takes the resync: the table is copied again with its new shape.
        try await scenario.expectOutput(of: ["resync", "--table", "hives"], containing: ["resync requested for public.hives"])
        try await scenario.eventually("the resync") {
            try await scenario.warehouseScalar("SELECT count(*) FROM analytics.hives WHERE id = 54") == "1"
        }
        try await scenario.onSource("INSERT INTO hives VALUES (55, 'after resync', true, 1)")
        try await scenario.eventually("the row after the resync") {
            try await scenario.warehouseScalar("SELECT count(*) FROM analytics.hives WHERE id = 55") == "1"
        }
        try await scenario.expectSameContent(source: "hives", target: "analytics.hives", columns: ["id", "name", "queen_marked", "frames"])
        try await process.expectCleanStop()
    }

    @Test("type widening is followed; another type change stops only that table, which a resync repairs")
    func typeChanges() async throws {
        let scenario = try await hivesAndYards(
            "label varchar(10), weight numeric(6,2), frames smallint", rows: 20, values: "'h' || g, g, 10")
        try await scenario.forager(["sync"])
        try await scenario.onSourceEach([
            "INSERT INTO hives VALUES (21, 'before', 1.5, 8)",
            "ALTER TABLE hives ALTER COLUMN id TYPE bigint, ALTER COLUMN label TYPE varchar(40), ALTER COLUMN frames TYPE integer",
            "INSERT INTO hives VALUES (5000000000, 'a much longer label', 2.25, 100000)",
            "ALTER TABLE hives ALTER COLUMN weight TYPE numeric(12,4)",
            "UPDATE hives SET weight = 12345678.1234 WHERE id = 1",
        ])
        let widened = try await scenario.forager(["sync"])
        // The warehouse was widened at start, but the stream still sends row 21 as an integer: binary
        // values cannot go in as they are, so the pass starts again in text.
        #expect(widened.contains("starting the stream again with column values in text"), "\(widened)")
        try await scenario.expectSameContent(source: "hives", target: "analytics.hives", columns: ["id", "label", "weight", "frames"])
        #expect(
            try await scenario.warehouseScalar(
                "SELECT string_agg(format_type(atttypid, atttypmod), ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'analytics.hives'::regclass AND attnum BETWEEN 1 AND 4"
            ) == "bigint,character varying(40),numeric(12,4),integer")

        try await scenario.onSourceEach([
            "ALTER TABLE hives ALTER COLUMN weight TYPE text",
            "UPDATE hives SET weight = 'heavy' WHERE id = 2",
            "INSERT INTO yards VALUES (1, 'still flowing')",
        ])
        try await scenario.forager(["sync"])
        #expect(try await scenario.warehouseScalar("SELECT name FROM analytics.yards") == "still flowing")
        #expect(try await scenario.warehouseScalar("SELECT weight::text FROM analytics.hives WHERE id = 2") == "2.0000")
        let reason = try await scenario.warehouseScalar(
            "SELECT state || ': ' || reason FROM analytics._forager_tables WHERE source_table = 'hives'")
        #expect(
            reason?.hasPrefix("stopped: column \"weight\" of public.hives changed type on the source, from numeric(12,4) to text") == true)

        try await scenario.onSource("INSERT INTO yards VALUES (2, 'flowing too'); UPDATE hives SET label = 'while stopped' WHERE id = 3;")
        try await scenario.forager(["resync", "--table", "public.hives"])
        try await scenario.forager(["sync"])
        try await scenario.expectSameContent(source: "hives", target: "analytics.hives", columns: ["id", "label", "weight", "frames"])
        try await scenario.expectSameContent(source: "yards", target: "analytics.yards", columns: ["id", "name"])
        #expect(
            try await scenario.warehouseScalar("SELECT state FROM analytics._forager_tables WHERE source_table = 'hives'") == "streaming")
        try await scenario.expectOutput(of: ["resync", "--table", "nope"], status: 1, containing: ["public.nope is not a mapped table"])
    }

    @Test(
        "a mapped table renamed on the source while Forager streams stops, instead of its changes being dropped; mapped by its new name and resynced, it fills the same warehouse table"
    )
    func tableRenamedOnTheSource() async throws {
        let scenario = try await hivesAndYards("label text", rows: 5, values: "'h' || g")
        let process = try await scenario.launchStreaming(thenEach: [
            "ALTER TABLE hives RENAME TO old_hives",
            "INSERT INTO old_hives VALUES (6, 'after the rename')",
            "INSERT INTO yards VALUES (1, 'still flowing')",
        ])
        try await scenario.eventually("the table to stop") {
            try await scenario.warehouseScalar("SELECT state FROM analytics._forager_tables WHERE source_table = 'hives'") == "stopped"
        }
        let reason = try await scenario.warehouseScalar("SELECT reason FROM analytics._forager_tables WHERE source_table = 'hives'") ?? ""
        #expect(reason.contains("mapped table public.hives was renamed on the source, to public.old_hives"), "\(reason)")
        try await scenario.eventually("the other table") {
            try await scenario.warehouseScalar("SELECT name FROM analytics.yards WHERE id = 1") == "still flowing"
        }
        try await process.expectCleanStop()

        // What the hint says: map it by its new name, into the same warehouse table, and resync.
        try scenario.writeMapping("tables:\n  - source: old_hives\n    target: hives\n  - source: yards\n")
        try await scenario.forager(["resync", "--table", "old_hives"])
        try await scenario.onSource("INSERT INTO old_hives VALUES (7, 'later')")
        try await scenario.forager(["sync"])
        try await scenario.expectSameContent(source: "old_hives", target: "analytics.hives", columns: ["id", "label"])
        #expect(
            try await scenario.warehouseScalar("SELECT state FROM analytics._forager_tables WHERE source_table = 'old_hives'")
                == "streaming")
    }

    @Test(
        "a primary key changed on the source, while Forager streams or while it is stopped, stops only that table instead of missing its deletes; a resync copies it with the new key"
    )
    func keyChangedOnTheSource() async throws {
        let scenario = try await Scenario.make(
            sourceSQL: """
                CREATE TABLE hives (id int PRIMARY KEY, tag text NOT NULL UNIQUE, label text);
                CREATE TABLE boxes (id int PRIMARY KEY, tag text NOT NULL UNIQUE);
                CREATE TABLE yards (id int PRIMARY KEY, name text);
                INSERT INTO hives SELECT g, 't' || g, 'h' || g FROM generate_series(1, 5) g;
                INSERT INTO boxes SELECT g, 'b' || g FROM generate_series(1, 5) g;
                """,
            tables: ["hives", "boxes", "yards"])
        let state = { (table: String) in
            try await scenario.warehouseScalar(
                "SELECT state || ': ' || coalesce(reason, '') FROM analytics._forager_tables WHERE source_table = '\(table)'") ?? ""
        }
        let process = try await scenario.launchStreaming(thenEach: [
            "ALTER TABLE hives DROP CONSTRAINT hives_pkey, ADD PRIMARY KEY (tag)",
            "DELETE FROM hives WHERE id = 3",
            "INSERT INTO yards VALUES (1, 'still flowing')",
        ])
        try await scenario.eventually("the table to stop") { try await state("hives").hasPrefix("stopped") }
        #expect(
            try await state("hives").contains(
                "the replica identity of public.hives changed on the source: its updates and deletes now name rows by (\"tag\"), where Forager matches warehouse rows by (\"id\")"
            ))
        try await scenario.eventually("the other table") {
            try await scenario.warehouseScalar("SELECT name FROM analytics.yards WHERE id = 1") == "still flowing"
        }
        try await process.expectCleanStop()

        // While Forager is stopped.
        try await scenario.onSourceEach([
            "ALTER TABLE boxes DROP CONSTRAINT boxes_pkey, ADD PRIMARY KEY (tag)", "DELETE FROM boxes WHERE id = 2",
        ])
        try await scenario.expectOutput(
            of: ["check"], status: 1, containing: ["the key of public.boxes changed on the source while Forager was stopped"])
        try await scenario.forager(["sync"])
        #expect(try await state("boxes").contains("warehouse table analytics.boxes is keyed by (\"id\")"))

        for table in ["hives", "boxes"] { try await scenario.forager(["resync", "--table", table]) }
        try await scenario.forager(["sync"])
        try await scenario.expectSameContent(source: "hives", target: "analytics.hives", columns: ["id", "tag", "label"])
        try await scenario.expectSameContent(source: "boxes", target: "analytics.boxes", columns: ["id", "tag"])
        for table in ["hives", "boxes"] {
            #expect(try await state(table) == "streaming: ")
            #expect(
                try await scenario.warehouseScalar(
                    "SELECT string_agg(a.attname, ',') FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'analytics.\(table)'::regclass AND i.indisprimary"
                ) == "tag")
        }
    }

    @Test("a column the source makes nullable (DROP NOT NULL), while Forager streams or while it is stopped, takes NULLs in the warehouse")
    func columnMadeNullable() async throws {
        let scenario = try await Scenario.make(sourceSQL: ColumnMadeNullable.sourceSQL, tables: ["hives"])
        let process = try await scenario.launchStreaming(thenEach: ColumnMadeNullable.whileStreaming)
        try await scenario.eventually("the row with a NULL") {
            try await scenario.warehouseScalar("SELECT count(*) FROM analytics.hives WHERE id = 6 AND label IS NULL") == "1"
        }
        try await process.expectCleanStop()
        #expect(process.output.contains("the source made the column nullable"), "\(process.output)")

        try await scenario.onSourceEach(ColumnMadeNullable.whileStopped)
        try await scenario.forager(["sync"])
        try await scenario.expectSameContent(source: "hives", target: "analytics.hives", columns: ["id", "label", "frames"])
        #expect(
            try await scenario.warehouseScalar(
                "SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'analytics.hives'::regclass AND attnotnull AND attnum > 0"
            ) == "id,_forager_lsn,_forager_synced_at,_forager_deleted")
    }

    @Test(
        "a schema change waits for a long warehouse report a second at a time, so the table's other readers are not held up behind it; the log names the report's session"
    )
    func schemaChangeLetsReadersIn() async throws {
        let scenario = try await Scenario.make(
            sourceSQL:
                "CREATE TABLE hives (id int PRIMARY KEY, label text); INSERT INTO hives SELECT g, 'h' || g FROM generate_series(1, 10) g;",
            tables: ["hives"])
        let process = try await scenario.launchStreaming()
        let report = try await scenario.warehouse.connect(scenario.warehouseDatabase)
        defer { report.close() }
        try await report.execute("SET application_name = 'long_report'")
        try await report.execute("BEGIN")
        try await report.execute("SELECT count(*) FROM analytics.hives")
        try await scenario.onSourceEach(["ALTER TABLE hives ADD COLUMN frames int", "INSERT INTO hives VALUES (11, 'new', 8)"])

        // PostgreSQL would queue these behind an ALTER TABLE waiting for the report.
        let reader = try await scenario.warehouse.connect(scenario.warehouseDatabase)
        defer { reader.close() }
        try await reader.execute("SET statement_timeout = '3s'")
        let until = ContinuousClock.now + .seconds(8)
        var reads = 0
        while ContinuousClock.now < until {
            #expect(try await reader.query("SELECT count(*) FROM analytics.hives").scalar == "10")
            reads += 1
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(reads >= 10)
        try await scenario.eventually(timeout: .seconds(20), "the warning naming the report") {
            process.output.contains("waiting for other sessions to let go of warehouse tables") && process.output.contains("long_report")
        }

        try await report.execute("COMMIT")
        try await scenario.eventually("the change after the report") {
            try await scenario.warehouseScalar("SELECT frames FROM analytics.hives WHERE id = 11") == "8"
        }
        try await scenario.expectSameContent(source: "hives", target: "analytics.hives", columns: ["id", "label", "frames"])
        try await process.expectCleanStop()
    }

    @Test(
        "a resync keeps what was built on the warehouse table (a view, an index, a grant) while its shape holds; where its shape changes, views on it are named and nothing is dropped"
    )
    func resyncKeepsWhatWasBuiltOnTheTable() async throws {
        let scenario = try await hivesAndYards("label text, weight numeric(6,2)", rows: 20, values: "'h' || g, g")
        try await scenario.forager(["sync"])
        let reader = "reader_\(scenario.id)"
        try await scenario.warehouse.execute(
            """
            CREATE ROLE \(reader);
            CREATE SCHEMA reports;
            CREATE VIEW reports.heavy AS SELECT id, label FROM analytics.hives WHERE weight > 10;
            CREATE INDEX hives_by_label ON analytics.hives (label);
            GRANT USAGE ON SCHEMA analytics TO \(reader);
            GRANT SELECT ON analytics.hives TO \(reader);
            """, database: scenario.warehouseDatabase)
        try await scenario.onSource(
            "UPDATE hives SET weight = 50 WHERE id = 2; DELETE FROM hives WHERE id = 20; INSERT INTO hives VALUES (21, 'new', 30);")
        try await scenario.forager(["resync", "--table", "hives"])
        try await scenario.forager(["sync"])
        try await scenario.expectSameContent(source: "hives", target: "analytics.hives", columns: ["id", "label", "weight"])
        #expect(
            try await scenario.warehouseScalar("SELECT string_agg(id::text, ',' ORDER BY id) FROM reports.heavy")
                == "2,11,12,13,14,15,16,17,18,19,21")
        #expect(
            try await scenario.warehouseScalar(
                "SELECT count(*) FROM pg_indexes WHERE schemaname = 'analytics' AND indexname = 'hives_by_label'") == "1")
        #expect(try await scenario.warehouseScalar("SELECT has_table_privilege('\(reader)', 'analytics.hives', 'SELECT')") == "t")
        #expect(
            try await scenario.warehouseScalar("SELECT state FROM analytics._forager_tables WHERE source_table = 'hives'") == "streaming")

        // A type change the warehouse cannot follow in place: the resync must make the table anew.
        try await scenario.onSourceEach([
            "ALTER TABLE hives ALTER COLUMN label TYPE int USING length(label)", "INSERT INTO yards VALUES (1, 'y')",
        ])
        try await scenario.forager(["sync"])
        #expect(try await scenario.warehouseScalar("SELECT state FROM analytics._forager_tables WHERE source_table = 'hives'") == "stopped")
        try await scenario.forager(["resync", "--table", "hives"])
        try await scenario.expectOutput(
            of: ["sync"], status: 1,
            containing: [
                "\"label\" is text, the copy's is integer",
                "reports.heavy",
                "DROP VIEW",
            ])
        #expect(try await scenario.warehouseScalar("SELECT count(*) FROM reports.heavy") == "11")
        try await scenario.warehouse.execute("DROP VIEW reports.heavy", database: scenario.warehouseDatabase)
        try await scenario.forager(["sync"])
        try await scenario.expectSameContent(source: "hives", target: "analytics.hives", columns: ["id", "label", "weight"])
        try await scenario.expectSameContent(source: "yards", target: "analytics.yards", columns: ["id", "name"])
        try await scenario.warehouse.execute("DROP OWNED BY \(reader); DROP ROLE \(reader)", database: scenario.warehouseDatabase)
    }

    @Test(
        "a column dropped and added again under its name with another type, while Forager streams, stops only its table (never a value of one read as the other) and keeps the old values; a resync repairs it"
    )
    func columnDroppedAndAddedAgain() async throws {
        let scenario = try await hivesAndYards(
            "label text, code int", rows: 5, values: "'h' || g, g", others: ["boxes"],
            also: "CREATE TABLE boxes (id int PRIMARY KEY, code int); INSERT INTO boxes SELECT g, g FROM generate_series(1, 5) g;")
        let process = try await scenario.launchStreaming(thenEach: [
            "ALTER TABLE hives DROP COLUMN code", "INSERT INTO hives VALUES (6, 'after the drop')",
        ])
        try await scenario.eventually("the row after the drop") {
            try await scenario.warehouseScalar("SELECT count(*) FROM analytics.hives WHERE id = 6") == "1"
        }
        // Four bytes of text would read as an integer in binary.
        try await scenario.onSourceEach([
            "ALTER TABLE hives ADD COLUMN code text",
            "INSERT INTO hives VALUES (7, 'text code', 'abcd')",
            "INSERT INTO yards VALUES (1, 'still flowing')",
        ])
        try await scenario.eventually("the table to stop") {
            try await scenario.warehouseScalar("SELECT state FROM analytics._forager_tables WHERE source_table = 'hives'") == "stopped"
        }
        try await scenario.eventually("the other table") {
            try await scenario.warehouseScalar("SELECT name FROM analytics.yards WHERE id = 1") == "still flowing"
        }
        let reason = try await scenario.warehouseScalar("SELECT reason FROM analytics._forager_tables WHERE source_table = 'hives'") ?? ""
        #expect(reason.contains("column \"code\" of public.hives was dropped and added again on the source, now as text"), "\(reason)")
        #expect(reason.contains("integer"), "\(reason)")
        #expect(try await scenario.warehouseScalar("SELECT count(*) FROM analytics.hives WHERE id = 7") == "0")
        #expect(
            try await scenario.warehouseScalar("SELECT string_agg(coalesce(code::text, 'NULL'), ',' ORDER BY id) FROM analytics.hives")
                == "1,2,3,4,5,NULL")
        // Ops see it without reading the log: a gauge, /status, and an alert naming the table.
        try await scenario.eventually("the stopped-table gauge, status and alert") {
            let metrics = try PrometheusText(await httpGet(port: scenario.metricsPort, "/metrics")?.body ?? "")
            let status =
                try JSONSerialization.jsonObject(with: Data((await httpGet(port: scenario.metricsPort, "/status")?.body ?? "{}").utf8))
                as? [String: Any]
            return metrics["forager_tables_stopped"] == 1 && status?["stopped_tables"] as? [String] == ["public.hives"]
                && process.output.contains("forager.alert=table_stopped")
        }
        #expect(
            try await scenario.warehouseScalar(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'analytics.hives'::regclass AND attname = 'code'"
            ) == "integer")

        try await expectDropHeldBehindALockStopsBoxes(scenario)

        for table in ["hives", "boxes"] {
            try await scenario.forager(["resync", "--table", table])
            try await scenario.eventually("the resync of \(table)") {
                try await scenario.warehouseScalar("SELECT code FROM analytics.\(table) WHERE id = 7") == "abcd"
            }
        }
        try await scenario.eventually("the gauge back at 0 and the alert resolved") {
            let metrics = try PrometheusText(await httpGet(port: scenario.metricsPort, "/metrics")?.body ?? "")
            return metrics["forager_tables_stopped"] == 0 && process.output.contains("no mapped table is stopped any more")
        }
        try await scenario.expectSameContent(source: "hives", target: "analytics.hives", columns: ["id", "label", "code"])
        try await scenario.expectSameContent(source: "boxes", target: "analytics.boxes", columns: ["id", "code"])
        try await process.expectCleanStop()
    }

    /// Forager sees the drop of boxes.code only once the new column (with a default) exists, as a
    /// warehouse lock holds the change before it until then: boxes stops too, its old values kept.
    private func expectDropHeldBehindALockStopsBoxes(_ scenario: Scenario) async throws {
        let blocker = try await scenario.warehouse.connect(scenario.warehouseDatabase)
        defer { blocker.close() }
        try await blocker.execute("BEGIN")
        try await blocker.execute("LOCK TABLE analytics.yards IN ACCESS EXCLUSIVE MODE")
        try await scenario.onSourceEach([
            "INSERT INTO yards VALUES (2, 'held')",
            "ALTER TABLE boxes DROP COLUMN code",
            "INSERT INTO boxes VALUES (6)",
            "ALTER TABLE boxes ADD COLUMN code text DEFAULT 'none'",
            "INSERT INTO boxes VALUES (7, 'abcd')",
        ])
        try await blocker.execute("COMMIT")
        try await scenario.eventually("the second table to stop") {
            try await scenario.warehouseScalar("SELECT state FROM analytics._forager_tables WHERE source_table = 'boxes'") == "stopped"
        }
        let second = try await scenario.warehouseScalar("SELECT reason FROM analytics._forager_tables WHERE source_table = 'boxes'") ?? ""
        #expect(second.contains("column \"code\" of public.boxes was dropped and added again on the source, now as text"), "\(second)")
        #expect(
            try await scenario.warehouseScalar("SELECT string_agg(coalesce(code::text, 'NULL'), ',' ORDER BY id) FROM analytics.boxes")
                == "1,2,3,4,5,NULL")
        #expect(try await scenario.warehouseScalar("SELECT name FROM analytics.yards WHERE id = 2") == "held")
    }

    @Test(
        "a warehouse column changed by hand stops only its table, saying so (not as a source change), and is never widened back; source widenings raise no false alarm"
    )
    func warehouseColumnChangedByHand() async throws {
        let scenario = try await hivesAndYards("label text, weight int", rows: 20, values: "'hive number ' || g, g")
        // The source widens a column while Forager is stopped: followed, and recorded, so later starts agree.
        try await scenario.syncBeforeAndAfter([
            "ALTER TABLE hives ALTER COLUMN weight TYPE bigint", "INSERT INTO hives VALUES (21, 'big', 5000000000)",
        ])
        try await scenario.forager(["sync"])
        #expect(
            try await scenario.warehouseScalar("SELECT state FROM analytics._forager_tables WHERE source_table = 'hives'") == "streaming")
        try await scenario.expectSameContent(source: "hives", target: "analytics.hives", columns: ["id", "label", "weight"])

        // Someone shortens a column in the warehouse, cutting its values; text would be a widening of it.
        try await scenario.warehouse.execute(
            "ALTER TABLE analytics.hives ALTER COLUMN label TYPE varchar(3) USING left(label, 3)", database: scenario.warehouseDatabase)
        try await scenario.onSource(
            "INSERT INTO hives VALUES (22, 'after the hand change', 1); INSERT INTO yards VALUES (1, 'still flowing');")
        let check = try await scenario.forager(["check"], expectStatus: 1)
        #expect(
            check.contains(
                "warehouse table analytics.hives was changed by hand: \"label\" is character varying(3) where Forager made it text (the source has text)"
            ), "\(check)")
        #expect(check.contains("forager resync --table public.hives"), "\(check)")
        try await scenario.forager(["sync"])
        let reason =
            try await scenario.warehouseScalar("SELECT state || ': ' || reason FROM analytics._forager_tables WHERE source_table = 'hives'")
            ?? ""
        #expect(reason.hasPrefix("stopped: warehouse table analytics.hives was changed by hand"), "\(reason)")
        #expect(!reason.contains("changed type on the source"), "\(reason)")
        #expect(
            try await scenario.warehouseScalar(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'analytics.hives'::regclass AND attname = 'label'"
            ) == "character varying(3)")
        #expect(try await scenario.warehouseScalar("SELECT name FROM analytics.yards") == "still flowing")
        #expect(try await scenario.warehouseScalar("SELECT count(*) FROM analytics.hives WHERE id = 22") == "0")

        try await scenario.forager(["resync", "--table", "public.hives"])
        try await scenario.forager(["sync"])
        try await scenario.expectSameContent(source: "hives", target: "analytics.hives", columns: ["id", "label", "weight"])
        #expect(
            try await scenario.warehouseScalar("SELECT state FROM analytics._forager_tables WHERE source_table = 'hives'") == "streaming")
    }
}
