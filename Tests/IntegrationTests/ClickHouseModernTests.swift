import Foundation
import Glibc
import Testing

/// What only a modern engine (ClickHouse 26.9 through chdb and Support/chdb_front.py) has or shows:
/// ClickHouseTests run every other scenario on both it and Debian's 18.16. Where the output
/// differs between the versions, the queries ask for the 18.16 form: timestamps (DateTime64(6,
/// 'UTC') on a modern server) as microseconds since 1970, decimals with their trailing zeros.
@Suite("ClickHouse warehouse on a modern engine", .serialized, .cleansUpScenarios)
struct ClickHouseModernTests {
    @Test("the front answers as ClickHouse's HTTP interface: version, error code and text; kill and resume keep the data")
    func frontAnswersAsClickHouse() async throws {
        let server = try await ClickHouseServer.startModern(name: "front")
        defer { server.stop() }
        #expect(server.kind == .modern)
        let version = try await server.query("SELECT version()")
        #expect(version.hasPrefix("26."), "\(version)")
        do {
            try await server.query("SELECT * FROM no_such_table_anywhere")
            Issue.record("a missing table did not fail")
        } catch {
            #expect("\(error)".contains("Code: 60. DB::Exception:") && "\(error)".contains("(UNKNOWN_TABLE) (version 26."), "\(error)")
        }
        try await server.query("CREATE TABLE kept (id UInt32) ENGINE = MergeTree ORDER BY id")
        try await server.query("INSERT INTO kept VALUES (1), (2)")
        server.kill()
        try await server.resume()
        #expect(try await server.query("SELECT sum(id) FROM kept") == "3\n")
        server.pause()
        try await server.resume()
        #expect(try await server.query("SELECT count() FROM kept") == "2\n")
    }

    @Test(
        "a column widened or made nullable on the source reads its new values through the _current view (issue 17, bug 1: 100000 read as -31072)"
    )
    func widenedColumnsReadThroughTheView() async throws {
        let (server, scenario) = try await Scenario.make(
            clickHouse: .modern,
            sourceSQL: """
                CREATE TABLE hives (id int PRIMARY KEY, frames smallint, weight numeric(6,2), label text NOT NULL);
                INSERT INTO hives SELECT g, g, g, 'h' || g FROM generate_series(1, 5) g;
                """,
            tables: ["hives"])
        try await scenario.syncBeforeAndAfter([
            "ALTER TABLE hives ALTER COLUMN frames TYPE integer, ALTER COLUMN weight TYPE numeric(12,4), ALTER COLUMN label DROP NOT NULL",
            "UPDATE hives SET frames = 100000, weight = 12345678.1234, label = NULL WHERE id = 1",
        ])
        let row = try await clickHouseRows(
            server, scenario,
            "SELECT frames, toString(weight), label FROM $db.hives_current WHERE id = 1 SETTINGS output_format_decimal_trailing_zeros = 1")
        #expect(row == "100000\t12345678.1234\t\\N", "\(row)")
        try await scenario.expectValidatedEqual("public.hives")
    }

    @Test(
        "a CHECK constraint added by hand to a ClickHouse table and violated by new rows stops only that table, with the server's message and the way out"
    )
    func constraintAddedByHandStopsOnlyItsTable() async throws {
        let (server, scenario) = try await Scenario.make(
            clickHouse: .modern,
            sourceSQL:
                "CREATE TABLE other (id int PRIMARY KEY, n int); CREATE TABLE daily (id int PRIMARY KEY, v text); INSERT INTO other VALUES (1, 1);",
            tables: ["other", "daily"])
        try await scenario.forager(["sync"])
        try await server.query("ALTER TABLE `\(scenario.warehouseDatabase)`.other ADD CONSTRAINT positive CHECK n > 0")
        try await scenario.onSourceEach(["INSERT INTO other VALUES (2, -1)", "INSERT INTO daily VALUES (1, 'after')"])
        try await scenario.forager(["sync"])
        #expect(try await clickHouseRows(server, scenario, "SELECT v FROM $db.daily_current WHERE id = 1") == "after")
        let reason = try await clickHouseRows(
            server, scenario, "SELECT argMax(concat(state, ': ', reason), version) FROM $db._forager_tables WHERE source_table = 'other'")
        #expect(
            reason.hasPrefix("stopped: ClickHouse table") && reason.contains("positive")
                && reason.contains("forager resync --table public.other"), "\(reason)")

        try await server.query("ALTER TABLE `\(scenario.warehouseDatabase)`.other DROP CONSTRAINT positive")
        try await scenario.forager(["resync", "--table", "other"])
        try await scenario.forager(["sync"])
        #expect(try await clickHouseRows(server, scenario, "SELECT n FROM $db.other_current ORDER BY id") == "1\n-1")
        try await scenario.expectValidatedEqual("public.other")
    }

    @Test(
        "a table made by 18.16 keeps its types when the server is upgraded: timestamps stay Int64 microseconds, dates Date, and streaming goes on (issue 17, bug 3)"
    )
    func tableMadeBy18KeepsItsTypesAfterAnUpgrade() async throws {
        let (older, scenario) = try await Scenario.make(
            ownClickHouse: "before-upgrade",
            sourceSQL: """
                CREATE TABLE visits (id int PRIMARY KEY, seen_at timestamptz, day date, times timestamp[] NOT NULL, note text, ok boolean);
                ALTER TABLE visits ALTER COLUMN note SET STORAGE EXTERNAL;
                INSERT INTO visits SELECT g, '2026-01-01 00:00:00.25+00'::timestamptz + g * interval '1 hour', '2026-01-01'::date + g,
                    ARRAY['2026-01-01 10:00:00'::timestamp + g * interval '1 s'], repeat(md5(g::text), 400), g % 2 = 0 FROM generate_series(1, 20) g;
                """,
            tables: ["visits"])
        try await scenario.forager(["sync"])
        older.pause()
        let upgraded = try await ClickHouseServer.startModern(name: "upgraded", upgrading: older)
        defer { upgraded.stop() }
        let config = try String(contentsOfFile: scenario.configPath, encoding: .utf8)
        try config.replacingOccurrences(of: older.url, with: upgraded.url).write(
            toFile: scenario.configPath, atomically: true, encoding: .utf8)
        try await scenario.onSourceEach([
            "INSERT INTO visits VALUES (100, '2026-06-01 12:00:00.5+00', '2026-06-01', ARRAY['2026-06-01 12:00:00'::timestamp], 'new', true)",
            "UPDATE visits SET seen_at = seen_at + interval '1 day' WHERE id <= 5",
            "ALTER TABLE visits ADD COLUMN checked_at timestamptz, ADD COLUMN done boolean",
            "UPDATE visits SET done = NOT ok WHERE id <= 3",
            "UPDATE visits SET checked_at = '2026-07-01 00:00:00+00' WHERE id = 7",
        ])
        try await scenario.forager(["sync"])
        let types = try await upgraded.query(
            """
            SELECT name, type FROM system.columns WHERE database = '\(scenario.warehouseDatabase)' AND table = 'visits'
                AND name IN ('seen_at', 'day', 'times', 'checked_at', 'ok', 'done') ORDER BY name FORMAT TabSeparated
            """)
        // TabSeparated escapes the quotes.
        #expect(
            types
                == "checked_at\tNullable(DateTime64(6, \\'UTC\\'))\nday\tNullable(Date)\ndone\tNullable(Bool)\nok\tNullable(UInt8)\nseen_at\tNullable(Int64)\ntimes\tArray(Nullable(Int64))\n",
            "\(types)")
        let source = """
            SELECT id, concat_ws(E'\\t', id, (extract(epoch FROM seen_at) * 1000000)::bigint, day - date '1970-01-01',
                coalesce((extract(epoch FROM checked_at) * 1000000)::bigint::text, '\\N'), md5(note), ok::int, coalesce(done::int::text, '\\N'),
                (SELECT string_agg((extract(epoch FROM t) * 1000000)::bigint::text, ',') FROM unnest(times) AS t)) AS line FROM visits
            """
        let view = """
            SELECT id, seen_at, toInt32(day), toUnixTimestamp64Micro(checked_at), lower(hex(MD5(note))), ok, toUInt8(done), arrayStringConcat(arrayMap(x -> toString(x), times), ',')
            FROM `\(scenario.warehouseDatabase)`.visits_current ORDER BY id FORMAT TabSeparated
            """
        #expect(try await upgraded.query(view).trimmingCharacters(in: .newlines) == (try await sourceRows(scenario, source)))
        try await scenario.expectOutput(of: ["validate", "--wait", "0"], containing: ["public.visits: equal (21 rows"])
    }
}
