import Foundation
import Glibc
import Testing

/// The ClickHouse warehouse following the source's schema: type changes, columns made nullable,
/// dropped, added again and added with defaults, and changes made by hand that stop a table.
extension ClickHouseTests {
    @Test(
        "type widening is followed in place; another type change stops only that table until a resync; soft deletes keep the row's values",
        arguments: ClickHouseServer.Kind.allCases)
    func typeChangesAndSoftDeletes(_ kind: ClickHouseServer.Kind) async throws {
        let (server, scenario) = try await Scenario.make(
            clickHouse: kind,
            sourceSQL: """
                CREATE TABLE hives (id int PRIMARY KEY, label varchar(10), weight numeric(6,2), temp real, frames smallint);
                CREATE TABLE yards (id int PRIMARY KEY, name text);
                INSERT INTO hives SELECT g, 'h' || g, g, g / 2.0, 10 FROM generate_series(1, 20) g;
                """,
            mapping: "tables:\n  - source: hives\n  - source: yards\n    deletes: soft\n")
        try await scenario.syncBeforeAndAfter([
            "ALTER TABLE hives ALTER COLUMN label TYPE varchar(40), ALTER COLUMN frames TYPE integer, ALTER COLUMN temp TYPE double precision, ALTER COLUMN weight TYPE numeric(12,4)",
            "INSERT INTO hives VALUES (5000, 'a much longer label', 12345678.1234, 1.25, 100000)",
            "INSERT INTO yards VALUES (1, 'kept'), (2, 'gone')",
            "DELETE FROM yards WHERE id = 2",
        ])
        let columns = "SELECT id, label, weight, temp, frames FROM $db.hives_current ORDER BY id"
        let source = "SELECT id, concat_ws(E'\\t', id, label, weight, temp, frames) AS line FROM hives"
        try await expectSameRows(server, scenario, view: columns, source: source)
        #expect(
            try await clickHouseRows(
                server, scenario,
                "SELECT type FROM system.columns WHERE database = '\(scenario.warehouseDatabase)' AND table = 'hives' AND name IN ('frames', 'weight') ORDER BY name"
            ) == "Nullable(Int32)\nNullable(Decimal(12, 4))")
        #expect(
            try await clickHouseRows(server, scenario, "SELECT id, name, _forager_deleted FROM $db.yards FINAL ORDER BY id")
                == "1\tkept\t0\n2\tgone\t1")

        try await scenario.onSourceEach([
            "ALTER TABLE hives ALTER COLUMN weight TYPE text",
            "UPDATE hives SET weight = 'heavy' WHERE id = 2",
            "INSERT INTO yards VALUES (3, 'still flowing')",
        ])
        try await scenario.forager(["sync"])
        #expect(try await clickHouseRows(server, scenario, "SELECT name FROM $db.yards_current WHERE id = 3") == "still flowing")
        #expect(
            try await clickHouseRows(
                server, scenario, "SELECT argMax(state, version) FROM $db._forager_tables WHERE source_table = 'hives'") == "stopped")
        try await scenario.forager(["resync", "--table", "hives"])
        try await scenario.forager(["sync"])
        try await expectSameRows(server, scenario, view: columns, source: source)
    }

    @Test(
        "a ClickHouse column dropped or retyped by hand stops only its table, saying so, instead of being re-added; source changes raise no false alarm",
        arguments: ClickHouseServer.Kind.allCases)
    func handChangesStopTheTable(_ kind: ClickHouseServer.Kind) async throws {
        let (server, scenario) = try await Scenario.make(
            clickHouse: kind,
            sourceSQL: """
                CREATE TABLE hives (id int PRIMARY KEY, label text, frames smallint);
                CREATE TABLE yards (id int PRIMARY KEY, name text, area int);
                INSERT INTO hives SELECT g, 'h' || g, 10 FROM generate_series(1, 20) g;
                INSERT INTO yards SELECT g, 'y' || g, g FROM generate_series(1, 5) g;
                """,
            tables: ["hives", "yards"])
        let database = scenario.warehouseDatabase
        let state = { (table: String) in
            try await clickHouseRows(
                server, scenario, "SELECT argMax(state, version) FROM $db._forager_tables WHERE source_table = '\(table)'")
        }
        try await scenario.forager(["sync"])
        // The source adds, widens and drops columns, streamed and while Forager is stopped: all followed, none taken for a hand change.
        try await scenario.onSourceEach([
            "ALTER TABLE hives ADD COLUMN queen text", "INSERT INTO hives VALUES (21, 'new', 8, 'q')",
            "ALTER TABLE yards DROP COLUMN area", "INSERT INTO yards VALUES (6, 'y6')",
        ])
        try await scenario.syncBeforeAndAfter([
            "ALTER TABLE hives ALTER COLUMN frames TYPE integer", "UPDATE hives SET frames = 100000 WHERE id = 1",
        ])
        // A second start compares the widened warehouse table with the source: no false alarm.
        try await scenario.forager(["sync"])
        #expect(try await state("hives") == "streaming")
        #expect(try await state("yards") == "streaming")

        // By hand: a column dropped from one table, a column retyped in the other.
        _ = try await server.query("ALTER TABLE `\(database)`.hives DROP COLUMN label")
        _ = try await server.query("ALTER TABLE `\(database)`.yards MODIFY COLUMN name Nullable(FixedString(2))")
        let check = try await scenario.expectOutput(
            of: ["check"], status: 1, containing: ["ClickHouse table \(database).hives was changed by hand: `label` dropped"])
        #expect(
            check.contains(
                "ClickHouse table \(database).yards was changed by hand: `name` is Nullable(FixedString(2)) where Forager made it"),
            "\(check)")
        #expect(check.contains("forager resync --table public.hives"), "\(check)")
        try await scenario.onSource("INSERT INTO hives VALUES (22, 'after', 1); INSERT INTO yards VALUES (7, 'y7');")
        try await scenario.forager(["sync"])
        #expect(try await state("hives") == "stopped")
        #expect(try await state("yards") == "stopped")
        #expect(
            try await clickHouseRows(
                server, scenario, "SELECT count() FROM system.columns WHERE database = '\(database)' AND table = 'hives' AND name = 'label'"
            ) == "0")
        // The table, not the view: a modern server's view fails on the column dropped by hand (Code 47).
        #expect(
            try await clickHouseRows(server, scenario, "SELECT count() FROM $db.hives FINAL WHERE id = 22 AND _forager_deleted = 0") == "0")

        try await scenario.forager(["resync", "--table", "hives"])
        try await scenario.forager(["resync", "--table", "yards"])
        try await scenario.forager(["sync"])
        #expect(try await state("hives") == "streaming")
        #expect(try await state("yards") == "streaming")
        let validation = try await scenario.forager(["validate", "--wait", "0"])
        #expect(validation.contains("public.hives: equal (22 rows") && validation.contains("public.yards: equal (7 rows"), "\(validation)")
    }

    @Test(
        "a primary key changed on the source, while Forager streams or while it is stopped, stops only that table instead of missing its deletes; a resync recreates it with the new key",
        arguments: ClickHouseServer.Kind.allCases)
    func keyChangedOnTheSource(_ kind: ClickHouseServer.Kind) async throws {
        let (server, scenario) = try await Scenario.make(
            clickHouse: kind,
            sourceSQL: """
                CREATE TABLE hives (id int PRIMARY KEY, tag text NOT NULL UNIQUE);
                CREATE TABLE boxes (id int PRIMARY KEY, tag text NOT NULL UNIQUE);
                CREATE TABLE yards (id int PRIMARY KEY, region int NOT NULL DEFAULT 0, name text);
                INSERT INTO hives SELECT g, 't' || g FROM generate_series(1, 5) g;
                INSERT INTO boxes SELECT g, 'b' || g FROM generate_series(1, 5) g;
                """,
            // A table sorted by order_by, beyond its key, is not taken for one whose key changed.
            mapping: "tables:\n  - source: hives\n  - source: boxes\n  - source: yards\n    clickhouse: {order_by: [id, region]}\n")
        let state = { (table: String) in
            try await clickHouseRows(
                server, scenario,
                "SELECT concat(argMax(state, version), ': ', argMax(reason, version)) FROM $db._forager_tables WHERE source_table = '\(table)'"
            )
        }
        let running = try await scenario.launchStreaming(thenEach: [
            "ALTER TABLE hives DROP CONSTRAINT hives_pkey, ADD PRIMARY KEY (tag)",
            "DELETE FROM hives WHERE id = 3",
            "INSERT INTO yards (id, name) VALUES (1, 'still flowing')",
        ])
        try await scenario.eventually("the table to stop") { try await state("hives").hasPrefix("stopped") }
        #expect(try await state("hives").contains("the replica identity of public.hives changed on the source"))
        try await scenario.eventually("the other table") {
            try await clickHouseRows(server, scenario, "SELECT name FROM $db.yards_current WHERE id = 1") == "still flowing"
        }
        try await running.expectCleanStop()

        try await scenario.onSourceEach([
            "ALTER TABLE boxes DROP CONSTRAINT boxes_pkey, ADD PRIMARY KEY (tag)", "DELETE FROM boxes WHERE id = 2",
        ])
        let check = try await scenario.forager(["check"], expectStatus: 1)
        #expect(
            check.contains(
                "ClickHouse table \(scenario.warehouseDatabase).boxes tells rows apart by (`id`), but the mapping of public.boxes now sorts them by (`tag`)"
            ), "\(check)")
        try await scenario.forager(["sync"])
        #expect(try await state("boxes").hasPrefix("stopped"))

        for table in ["hives", "boxes"] { try await scenario.forager(["resync", "--table", table]) }
        try await scenario.forager(["sync"])
        for table in ["hives", "boxes"] {
            let source = "SELECT id, concat_ws(E'\\t', id, tag) AS line FROM \(table)"
            try await expectSameRows(
                server, scenario, view: "SELECT id, tag FROM $db.\(table)_current ORDER BY id", source: source, "\(table)")
            #expect(try await state(table).hasPrefix("streaming"))
        }
        #expect(try await state("yards").hasPrefix("streaming"))
        #expect(
            try await clickHouseRows(
                server, scenario,
                "SELECT sorting_key FROM system.tables WHERE database = '\(scenario.warehouseDatabase)' AND name = 'yards'") == "id, region"
        )
    }

    @Test(
        "a column the source makes nullable (DROP NOT NULL), while Forager streams or while it is stopped, takes NULLs in ClickHouse, never a type's default",
        arguments: ClickHouseServer.Kind.allCases)
    func columnMadeNullable(_ kind: ClickHouseServer.Kind) async throws {
        let (server, scenario) = try await Scenario.make(clickHouse: kind, sourceSQL: ColumnMadeNullable.sourceSQL, tables: ["hives"])
        let running = try await scenario.launchStreaming(thenEach: ColumnMadeNullable.whileStreaming)
        try await scenario.eventually("the row with a NULL") {
            try await clickHouseRows(server, scenario, "SELECT count() FROM $db.hives_current WHERE id = 6 AND isNull(label)") == "1"
        }
        try await running.expectCleanStop()

        try await scenario.onSourceEach(ColumnMadeNullable.whileStopped)
        try await scenario.forager(["sync"])
        let columns = "SELECT id, label, frames FROM $db.hives_current ORDER BY id"
        let source = "SELECT id, concat_ws(E'\\t', id, coalesce(label, '\\N'), coalesce(frames::text, '\\N')) AS line FROM hives"
        try await expectSameRows(server, scenario, view: columns, source: source)
    }

    @Test(
        "a column dropped and added again under its name with another type, while Forager streams, stops only its table and keeps the old values; a resync repairs it",
        arguments: ClickHouseServer.Kind.allCases)
    func columnDroppedAndAddedAgain(_ kind: ClickHouseServer.Kind) async throws {
        let (server, scenario) = try await Scenario.make(
            clickHouse: kind,
            sourceSQL: """
                CREATE TABLE hives (id int PRIMARY KEY, label text, code int);
                CREATE TABLE yards (id int PRIMARY KEY, name text);
                INSERT INTO hives SELECT g, 'h' || g, g FROM generate_series(1, 5) g;
                """,
            tables: ["hives", "yards"])
        let running = try await scenario.launchStreaming(thenEach: [
            "ALTER TABLE hives DROP COLUMN code", "INSERT INTO hives VALUES (6, 'after the drop')",
        ])
        try await scenario.eventually("the row after the drop") {
            try await clickHouseRows(server, scenario, "SELECT count() FROM $db.hives_current WHERE id = 6") == "1"
        }
        // Text that parses as the old column's type would go in unnoticed.
        try await scenario.onSourceEach([
            "ALTER TABLE hives ADD COLUMN code text",
            "INSERT INTO hives VALUES (7, 'text code', '42')",
            "INSERT INTO yards VALUES (1, 'still flowing')",
        ])
        try await scenario.eventually("the table to stop") {
            try await clickHouseRows(
                server, scenario, "SELECT argMax(state, version) FROM $db._forager_tables WHERE source_table = 'hives'") == "stopped"
        }
        try await scenario.eventually("the other table") {
            try await clickHouseRows(server, scenario, "SELECT name FROM $db.yards_current WHERE id = 1") == "still flowing"
        }
        let reason = try await clickHouseRows(
            server, scenario, "SELECT argMax(reason, version) FROM $db._forager_tables WHERE source_table = 'hives'")
        #expect(reason.contains("column \"code\" of public.hives was dropped and added again on the source, now as text"), "\(reason)")
        #expect(try await clickHouseRows(server, scenario, "SELECT count() FROM $db.hives_current WHERE id = 7") == "0")
        #expect(
            try await clickHouseRows(
                server, scenario,
                "SELECT arrayStringConcat(groupArray(ifNull(toString(code), 'NULL')), ',') FROM (SELECT code FROM $db.hives_current ORDER BY id)"
            ) == "1,2,3,4,5,NULL")

        try await scenario.forager(["resync", "--table", "hives"])
        try await scenario.eventually("the resync") {
            try await clickHouseRows(server, scenario, "SELECT code FROM $db.hives_current WHERE id = 7") == "42"
        }
        let columns = "SELECT id, label, code FROM $db.hives_current ORDER BY id"
        let source = "SELECT id, concat_ws(E'\\t', id, label, coalesce(code, '\\N')) AS line FROM hives"
        try await expectSameRows(server, scenario, view: columns, source: source)
        #expect(
            try await clickHouseRows(
                server, scenario,
                "SELECT type FROM system.columns WHERE database = '\(scenario.warehouseDatabase)' AND table = 'hives' AND name = 'code'")
                == "Nullable(String)")
        try await running.expectCleanStop()
    }

    @Test(
        "an ADD COLUMN interrupted after the column was added (no comment, no view) heals at the next start",
        arguments: ClickHouseServer.Kind.allCases)
    func interruptedAddColumnHeals(_ kind: ClickHouseServer.Kind) async throws {
        let (server, scenario) = try await Scenario.make(
            clickHouse: kind,
            sourceSQL:
                "CREATE TABLE hives (id int PRIMARY KEY, label text); INSERT INTO hives SELECT g, 'h' || g FROM generate_series(1, 5) g;",
            tables: ["hives"])
        let database = scenario.warehouseDatabase
        try await scenario.forager(["sync"])
        try await scenario.onSourceEach(["ALTER TABLE hives ADD COLUMN frames int", "INSERT INTO hives VALUES (6, 'h6', 12)"])
        // What a kill right after Forager's ADD COLUMN leaves: the column, without its comment, and the old view.
        _ = try await server.query("ALTER TABLE `\(database)`.hives ADD COLUMN frames Nullable(Int32)")
        try await scenario.forager(["sync"])
        #expect(
            try await clickHouseRows(server, scenario, "SELECT id, frames FROM $db.hives_current ORDER BY id")
                == "1\t\\N\n2\t\\N\n3\t\\N\n4\t\\N\n5\t\\N\n6\t12")
        #expect(
            try await clickHouseRows(
                server, scenario,
                "SELECT comment FROM system.columns WHERE database = '\(database)' AND table = 'hives' AND name = 'frames'") == "integer")
        try await scenario.forager(["sync"])
        try await scenario.expectOutput(of: ["validate", "--wait", "0"], containing: ["public.hives: equal (6 rows"])
    }

    @Test(
        "ADD COLUMN with a default gives the rows already in ClickHouse the source's value, streamed or found at start, and after a widening or a drop",
        arguments: ClickHouseServer.Kind.allCases)
    func addedColumnsKeepTheirDefaults(_ kind: ClickHouseServer.Kind) async throws {
        let (server, scenario) = try await Scenario.make(
            clickHouse: kind,
            sourceSQL: """
                CREATE TABLE hives (id int PRIMARY KEY, name text);
                INSERT INTO hives SELECT g, 'h' || g FROM generate_series(1, 50) g;
                """,
            tables: ["hives"])
        try await scenario.forager(["sync"])

        // Added while forager streams: the schema change arrives with the next change.
        let running = try await scenario.launchStreaming(thenEach: [
            "ALTER TABLE hives ADD COLUMN frames int DEFAULT 7, ADD COLUMN label text DEFAULT E'it''s a\\ttab \\\\ é', ADD COLUMN ratio double precision DEFAULT 0.1",
            "INSERT INTO hives (id, name, frames, label, ratio) VALUES (100, 'new', NULL, 'x', NULL)",
        ])
        try await scenario.eventually("the row after ADD COLUMN") {
            try await clickHouseRows(server, scenario, "SELECT count() FROM $db.hives_current WHERE id = 100") == "1"
        }
        try await running.expectCleanStop()

        // Added while forager is stopped: found by comparing the catalogue at start; a row written
        // before the columns, still in the stream, reads their defaults too.
        try await scenario.onSource("INSERT INTO hives (id, name, frames, label, ratio) VALUES (60, 'before', 1, 'b', 2)")
        try await scenario.onSource(
            """
            ALTER TABLE hives ADD COLUMN tags text[] NOT NULL DEFAULT '{a,"b c"}', ADD COLUMN checked_at timestamptz DEFAULT '2026-05-01 10:00:00.25+00',
                ADD COLUMN queen boolean DEFAULT true, ADD COLUMN raw bytea DEFAULT '\\x00ff41'
            """)
        try await scenario.forager(["sync"])
        let columns = "SELECT id, frames, label, ratio, tags, $us(checked_at), queen FROM $db.hives_current ORDER BY id"
        let source = """
            SELECT id, concat_ws(E'\\t', id, coalesce(frames::text, '\\N'), coalesce(replace(replace(replace(label, '\\', '\\\\'), E'\\t', '\\t'), '''', '\\'''), '\\N'),
                coalesce(ratio::text, '\\N'), replace(array_to_json(tags)::text, '"', ''''),
                (extract(epoch FROM checked_at) * 1000000)::bigint, queen::int) AS line FROM hives
            """
        let (actual, expected) = (try await clickHouseRows(server, scenario, columns), try await sourceRows(scenario, source))
        let differing = zip(actual.split(separator: "\n"), expected.split(separator: "\n")).filter { $0 != $1 }.prefix(3)
        #expect(actual == expected, "first differences (warehouse, source): \(Array(differing))")
        #expect(try await clickHouseRows(server, scenario, "SELECT DISTINCT hex(raw) FROM $db.hives_current") == "00FF41")

        // A widening and a drop while forager streams, a drop while it is stopped: the ClickHouse
        // columns are retyped, older rows keep their value, newer ones have none.
        let streaming = try await scenario.launchStreaming(thenEach: [
            "ALTER TABLE hives ALTER COLUMN frames TYPE bigint",
            "ALTER TABLE hives DROP COLUMN queen",
            "INSERT INTO hives (id, name) VALUES (101, 'after')",
        ])
        try await scenario.eventually("the row after DROP COLUMN") {
            try await clickHouseRows(server, scenario, "SELECT count() FROM $db.hives_current WHERE id = 101") == "1"
        }
        try await streaming.expectCleanStop()
        try await scenario.onSourceEach(["ALTER TABLE hives DROP COLUMN label", "INSERT INTO hives (id, name) VALUES (102, 'stopped')"])
        try await scenario.forager(["sync"])
        let retired = try await clickHouseRows(
            server, scenario, "SELECT DISTINCT frames, queen, label FROM $db.hives_current WHERE id <= 50 OR id >= 101 ORDER BY id")
        let defaults = try await clickHouseRows(
            server, scenario,
            "SELECT name, default_expression FROM system.columns WHERE database = '\(scenario.warehouseDatabase)' AND table = 'hives'")
        #expect(retired == "7\t1\tit\\'s a\\ttab \\\\ é\n7\t\\N\tit\\'s a\\ttab \\\\ é\n7\t\\N\t\\N", "\(retired)\n\(defaults)")
        try await scenario.expectValidatedEqual("public.hives")
    }
}
