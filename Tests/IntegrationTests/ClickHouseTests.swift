import Foundation
import Glibc
import Testing

/// Every scenario runs on Debian's 18.16 and on a modern engine (ClickHouse 26.9 through chdb).
@Suite("ClickHouse warehouse", .serialized, .cleansUpScenarios)
struct ClickHouseTests {
    @Test(
        "snapshot, inserts, updates, deletes, TOAST-unchanged updates, TRUNCATE and ADD COLUMN reach the _current view",
        arguments: ClickHouseServer.Kind.allCases)
    func replicatesIntoClickHouse(_ kind: ClickHouseServer.Kind) async throws {
        let (server, scenario) = try await Scenario.make(
            clickHouse: kind,
            sourceSQL: """
                CREATE TABLE samples (id bigint PRIMARY KEY, hive int NOT NULL, taken_at timestamptz NOT NULL, weight numeric(8,3),
                    ok boolean, note text, body text, raw bytea);
                ALTER TABLE samples ALTER COLUMN body SET STORAGE EXTERNAL;
                INSERT INTO samples SELECT g, g % 7, '2026-01-01 00:00:00+00'::timestamptz + g * interval '1.5 s', g * 0.125, g % 2 = 0,
                    CASE WHEN g % 5 = 0 THEN NULL ELSE E'tab\\there ' || g END, repeat(md5(g::text), 400), '\\x00ff0a'::bytea
                FROM generate_series(1, 2000) g;
                """,
            tables: ["samples"])
        try await scenario.forager(["sync"])
        let select = """
            SELECT id, concat_ws(E'\\t', id, hive, (extract(epoch FROM taken_at) * 1000000)::bigint, coalesce(weight::text, '\\N'),
                coalesce(ok::int::text, '\\N'), coalesce(replace(note, E'\\t', '\\t'), '\\N'), md5(body), coalesce(encode(raw, 'hex'), '\\N')) AS line FROM samples
            """
        let view = "SELECT id, hive, $us(taken_at), weight, ok, note, lower(hex(MD5(body))), hex(raw) FROM $db.samples_current ORDER BY id"
        func expectEqual(_ sourceLocation: SourceLocation = #_sourceLocation) async throws {
            let expected = try await sourceRows(scenario, select)
            let actual = try await clickHouseRows(server, scenario, view)
            let differing = zip(actual.lowercased().split(separator: "\n"), expected.lowercased().split(separator: "\n")).filter {
                $0 != $1
            }.prefix(3)
            #expect(
                actual.lowercased() == expected.lowercased(), "first differences (warehouse, source): \(Array(differing))",
                sourceLocation: sourceLocation)
        }
        try await expectEqual()
        let types = try await clickHouseRows(
            server, scenario,
            """
            SELECT name, type FROM system.columns WHERE database = '\(scenario.warehouseDatabase)' AND table = 'samples'
                AND name IN ('taken_at', 'weight', 'ok') ORDER BY name
            """)
        // TabSeparated escapes the quotes.
        let (booleans, timestamps) = kind == .modern ? ("Bool", "DateTime64(6, \\'UTC\\')") : ("UInt8", "Int64")
        #expect(types == "ok\tNullable(\(booleans))\ntaken_at\t\(timestamps)\nweight\tNullable(Decimal(8, 3))", "\(types)")

        try await scenario.onSourceEach([
            "UPDATE samples SET note = 'touched' WHERE id <= 10",
            "UPDATE samples SET id = id + 100000 WHERE id BETWEEN 11 AND 15",
            "DELETE FROM samples WHERE id BETWEEN 20 AND 30",
            "INSERT INTO samples VALUES (5000, 1, now(), 1.5, NULL, 'new', 'short', NULL)",
            "BEGIN; INSERT INTO samples VALUES (5001, 1, now(), 2, true, 'gone', 'x', NULL); DELETE FROM samples WHERE id = 5001; COMMIT",
        ])
        try await scenario.forager(["sync"])
        try await expectEqual()
        if kind == .modern {
            // Tombstones mark themselves: FINAL alone leaves deleted rows out.
            let engine = try await clickHouseRows(
                server, scenario,
                "SELECT engine_full FROM system.tables WHERE database = '\(scenario.warehouseDatabase)' AND name = 'samples'")
            #expect(engine.hasPrefix("ReplacingMergeTree(_forager_version, _forager_deleted)"), "\(engine)")
            #expect(
                try await clickHouseRows(server, scenario, "SELECT count() FROM $db.samples FINAL")
                    == (try await scenario.sourceScalar("SELECT count(*) FROM samples")))
        }

        try await scenario.onSourceEach([
            "ALTER TABLE samples ADD COLUMN queen boolean",
            "UPDATE samples SET queen = true WHERE id = 1",
            "BEGIN; DELETE FROM samples WHERE id = 2; TRUNCATE samples; INSERT INTO samples VALUES (1, 2, now(), 3, false, 'after', 'b', NULL, false); COMMIT",
        ])
        try await scenario.forager(["sync"])
        try await expectEqual()
        #expect(try await clickHouseRows(server, scenario, "SELECT id, queen FROM $db.samples_current") == "1\t0")

        try await scenario.onSourceEach([
            "ALTER TABLE samples DROP COLUMN hive",
            "INSERT INTO samples (id, taken_at, note, body) VALUES (7000, now(), 'after drop', 'b')",
        ])
        try await scenario.forager(["sync"])
        // A modern server's view keeps the column types it was made with and casts to them: the view
        // is made again after the column became Nullable (issue 17, bug 1: this read failed with
        // "Code: 349 ... Cannot convert NULL value to non-Nullable type").
        let afterDrop = try await clickHouseRows(server, scenario, "SELECT id, hive FROM $db.samples_current ORDER BY id")
        #expect(afterDrop == "1\t2\n7000\t\\N")
    }

    @Test(
        "forager reset starts over into the same ClickHouse tables: the checkpoint forgotten, a new snapshot, no row doubled",
        arguments: ClickHouseServer.Kind.allCases)
    func resetStartsOver(_ kind: ClickHouseServer.Kind) async throws {
        let (server, scenario) = try await Scenario.make(
            clickHouse: kind,
            sourceSQL:
                "CREATE TABLE hives (id int PRIMARY KEY, name text); INSERT INTO hives SELECT g, 'h' || g FROM generate_series(1, 100) g;",
            tables: ["hives"])
        try await scenario.forager(["sync"])
        let done = try await scenario.forager(["reset", "--yes"])
        #expect(done.contains("forgot the warehouse checkpoint") && done.contains("marked public.hives for a new copy"), "\(done)")
        try await scenario.onSource("UPDATE hives SET name = 'changed' WHERE id <= 10; DELETE FROM hives WHERE id > 90;")
        try await scenario.forager(["sync"])
        #expect(try await clickHouseRows(server, scenario, "SELECT count(), countIf(name = 'changed') FROM $db.hives_current") == "90\t10")
        #expect(try await clickHouseRows(server, scenario, "SELECT count() FROM $db.hives FINAL") == "90")
        try await scenario.expectOutput(of: ["validate", "--wait", "0"], containing: ["public.hives: equal (90 rows"])
    }

    @Test(
        "SIGKILL mid-stream, then a restart: the _current view equals the source, no row lost or doubled",
        arguments: ClickHouseServer.Kind.allCases)
    func replayAfterKill(_ kind: ClickHouseServer.Kind) async throws {
        let (server, scenario) = try await Scenario.make(
            clickHouse: kind,
            sourceSQL:
                "CREATE TABLE readings (id bigint PRIMARY KEY, value double precision, note text); INSERT INTO readings SELECT g, g, 'r' || g FROM generate_series(1, 1000) g;",
            tables: ["readings"], batch: "batch:\n  max_rows: 500")
        try await scenario.forager(["sync"])
        try await scenario.onSource(
            """
            DO $$ BEGIN FOR i IN 1..150 LOOP
              INSERT INTO readings SELECT 100000 * i + g, g, 'n' FROM generate_series(1, 400) g;
              UPDATE readings SET value = value + i WHERE id % 150 = i;
              DELETE FROM readings WHERE id = i * 3;
              COMMIT;
            END LOOP; END $$;
            """)
        let process = try scenario.launch(["sync"])
        try await Task.sleep(for: .milliseconds(700))
        process.signal(SIGKILL)
        _ = try await process.wait(timeout: .seconds(30))
        try await scenario.forager(["sync"])
        let expected = try await sourceRows(scenario, "SELECT id, concat_ws(E'\\t', id, value, note) AS line FROM readings")
        let actual = try await clickHouseRows(server, scenario, "SELECT id, value, note FROM $db.readings_current ORDER BY id")
        #expect(actual == expected)
        #expect(
            try await clickHouseRows(server, scenario, "SELECT count() FROM $db.readings_current")
                == (try await scenario.sourceScalar("SELECT count(*) FROM readings")))
    }

    @Test(
        "forager sync of a 1,000,000-row IoT samples table: the _current view's count and per-column aggregates equal the source's",
        arguments: ClickHouseServer.Kind.allCases)
    func millionSamples(_ kind: ClickHouseServer.Kind) async throws {
        let (server, scenario) = try await Scenario.make(
            clickHouse: kind,
            sourceSQL: """
                CREATE TABLE samples (
                    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, hive_id bigint NOT NULL, device_id bigint NOT NULL,
                    upload_id bigint NOT NULL, sampled_at timestamptz NOT NULL, temperature_c double precision, humidity_pct real,
                    weight_kg numeric(7,3), battery_v real, sound_db real, payload jsonb NOT NULL DEFAULT '{}',
                    created_at timestamptz NOT NULL DEFAULT clock_timestamp());
                INSERT INTO samples (hive_id, device_id, upload_id, sampled_at, temperature_c, humidity_pct, weight_kg, battery_v, sound_db, payload)
                SELECT g % 50000, g % 50000, g / 6, '2026-06-01'::timestamptz + g * interval '86.4 ms',
                    CASE WHEN g % 97 = 0 THEN NULL ELSE 20 + (g % 400) / 10.0 END, (g % 1000) / 10.0,
                    CASE WHEN g % 89 = 0 THEN NULL ELSE (g % 90000) / 1000.0 END, 3.7, NULL,
                    jsonb_build_object('fw', 'v' || (g % 5), 'rssi', -(g % 90))
                FROM generate_series(1, 1000000) g;
                """,
            tables: ["samples"])
        try await scenario.forager(["sync"])
        let source =
            try await scenario.sourceScalar(
                """
                SELECT concat_ws(E'\t', count(*), sum(hive_id), min(id), max(id), sum(upload_id),
                    min((extract(epoch FROM sampled_at) * 1000000)::bigint), max((extract(epoch FROM sampled_at) * 1000000)::bigint),
                    sum(temperature_c), count(*) - count(temperature_c), sum(humidity_pct::float8), sum(weight_kg), count(*) - count(weight_kg),
                    sum(battery_v::float8), count(*) - count(sound_db), sum(length(payload::text)))
                FROM samples
                """) ?? ""
        let warehouse = try await clickHouseRows(
            server, scenario,
            """
            SELECT count(), sum(hive_id), min(id), max(id), sum(upload_id), min($us(sampled_at)), max($us(sampled_at)),
                sum(temperature_c), countIf(isNull(temperature_c)), sum(humidity_pct), sum(weight_kg), countIf(isNull(weight_kg)),
                sum(battery_v), countIf(isNull(sound_db)), sum(length(payload))
            FROM $db.samples_current
            """)
        let expected = source.split(separator: "\t").map(String.init), actual = warehouse.split(separator: "\t").map(String.init)
        #expect(expected.count == 15 && actual.count == 15, "\(expected) vs \(actual)")
        for (index, (want, got)) in zip(expected, actual).enumerated() {
            if let a = Double(want), let b = Double(got), [7, 9, 12].contains(index) {
                // Float sums depend on the order of addition.
                #expect(abs(a - b) <= abs(a) * 1e-9, "aggregate \(index): source \(want), ClickHouse \(got)")
            } else {
                #expect(want == got, "aggregate \(index): source \(want), ClickHouse \(got)")
            }
        }
    }

    @Test(
        "every type ClickHouse can hold arrives with the same value, after the snapshot and after streamed inserts and updates",
        arguments: ClickHouseServer.Kind.allCases)
    func typesRoundTrip(_ kind: ClickHouseServer.Kind) async throws {
        // A modern server's Date32 and DateTime64 hold 1900 to 2299; 18.16's Int64 timestamps any
        // year, its Date 1970 to 2105.
        let (firstDay, lastDay, lastTime) =
            kind == .modern ? ("1900-01-01", "2299-12-31", "2299-12-31 23:59:59") : ("1970-01-01", "2105-12-31", "4000-01-01 00:00:00")
        let (infinity, minusInfinity) =
            kind == .modern ? ("10413791999999999", "-2208988800000000") : ("9223372036854775807", "-9223372036854775808")
        let values = [
            "1, 32767, 2147483647, 9223372036854775807, 25.952, 25.952, 12.5, '12345678901234567890.123456789', true, E'tab\\there\\nnew \\\\ back ''quote'' ü 🐝', 'abc', 'ab', '\\x00ff0a'::bytea, '2024-02-29', '2024-06-01 10:00:00.123456', '2024-06-01 10:00:00.5+02', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"a\": [1, 2]}', '{\"b\": null}', '{1,NULL,3}', '1 day 02:00:00', '192.168.0.1/24'",
            "2, -32768, -2147483648, -9223372036854775808, 'NaN', 'Infinity', -0.001, 'NaN', false, '', '', '', '\\x'::bytea, '\(firstDay)', '1900-01-01 00:00:00', 'infinity', '00000000-0000-0000-0000-000000000000', '[]', '{}', '{}', '-3 mons', '::1'",
            "3, 0, 0, 0, '-Infinity', '-0', 0, '0.000', NULL, NULL, NULL, NULL, NULL, '\(lastDay)', '\(lastTime)', '-infinity', NULL, 'null', '[1, \"x\"]', NULL, NULL, NULL",
        ]
        let (server, scenario) = try await Scenario.make(
            clickHouse: kind,
            sourceSQL: """
                CREATE TABLE types (id int PRIMARY KEY, s smallint, i integer, b bigint, r real, d double precision, n numeric(10,3),
                    nu numeric, flag boolean, t text, v varchar(5), c char(4), raw bytea, day date, ts timestamp, tstz timestamptz,
                    u uuid, j json, jb jsonb, arr int[], iv interval, net inet,
                    ai int[] NOT NULL DEFAULT '{}', ats text[] NOT NULL DEFAULT '{}', big float8[] NOT NULL DEFAULT '{}');
                ALTER TABLE types ALTER COLUMN big SET STORAGE EXTERNAL;
                INSERT INTO types VALUES (\(values[0])), (\(values[1]));
                UPDATE types SET ai = '{1,NULL,-3}', ats = '{plain,"with space","q\\"b\\\\",NULL,"NULL",""}', big = array_fill(1.5::float8, ARRAY[3000]) WHERE id = 1;
                """,
            tables: ["types"])
        let source = """
            SELECT id, concat_ws(E'\\t', id, s, i, b,
                CASE WHEN r = 'NaN' THEN 'nan' WHEN r = 'Infinity' THEN 'inf' WHEN r = '-Infinity' THEN '-inf' ELSE r::text END,
                CASE WHEN d = 'NaN' THEN 'nan' WHEN d = 'Infinity' THEN 'inf' WHEN d = '-Infinity' THEN '-inf' ELSE d::text END,
                n, upper(encode(convert_to(nu::text, 'UTF8'), 'hex')), coalesce(flag::int::text, '\\N'),
                coalesce(upper(encode(convert_to(t, 'UTF8'), 'hex')), '\\N'), coalesce(upper(encode(convert_to(v, 'UTF8'), 'hex')), '\\N'),
                CASE WHEN c IS NULL THEN '\\N' ELSE upper(encode(convert_to(concat(c), 'UTF8'), 'hex')) END, coalesce(upper(encode(raw, 'hex')), '\\N'), day - date '1970-01-01',
                CASE WHEN ts = 'infinity' THEN '\(infinity)' WHEN ts = '-infinity' THEN '\(minusInfinity)'
                     ELSE (extract(epoch FROM ts) * 1000000)::bigint::text END,
                CASE WHEN tstz = 'infinity' THEN '\(infinity)' WHEN tstz = '-infinity' THEN '\(minusInfinity)'
                     ELSE (extract(epoch FROM tstz) * 1000000)::bigint::text END,
                coalesce(u::text, '\\N'), upper(encode(convert_to(j::text, 'UTF8'), 'hex')), upper(encode(convert_to(jb::text, 'UTF8'), 'hex')),
                coalesce(upper(encode(convert_to(arr::text, 'UTF8'), 'hex')), '\\N'), coalesce(upper(encode(convert_to(iv::text, 'UTF8'), 'hex')), '\\N'),
                CASE WHEN net IS NULL THEN '\\N' ELSE upper(encode(convert_to(concat(net), 'UTF8'), 'hex')) END,
                \(["ai", "ats", "big"].map { "(SELECT coalesce(string_agg(CASE WHEN e IS NULL THEN 'N' ELSE 'V' || upper(encode(convert_to(e::text, 'UTF8'), 'hex')) END, ',' ORDER BY n), '') FROM unnest(\($0)) WITH ORDINALITY AS u(e, n))" }.joined(separator: ", "))) AS line FROM types
            """
        let view = """
            SELECT id, s, i, b, r, d, n, hex(nu), flag, hex(t), hex(v), hex(c), hex(raw), toInt32(day), $us(ts), $us(tstz), u, hex(j), hex(jb), hex(arr), hex(iv), hex(net),
                \(["ai", "ats", "big"].map { "arrayStringConcat(arrayMap(x -> ifNull(concat('V', hex(toString(x))), 'N'), \($0)), ',')" }.joined(separator: ", "))
            FROM $db.types_current ORDER BY id
            """
        func expectEqual(_ sourceLocation: SourceLocation = #_sourceLocation) async throws {
            let expected = try await sourceRows(scenario, source).replacingOccurrences(of: "\\N", with: "\\N")
            let actual = try await clickHouseRows(server, scenario, view)
            let differing = zip(actual.split(separator: "\n"), expected.split(separator: "\n")).filter { $0 != $1 }
            #expect(actual == expected, "differences (warehouse, source): \(differing)", sourceLocation: sourceLocation)
        }
        try await scenario.forager(["sync"])
        try await expectEqual()
        try await scenario.onSource("INSERT INTO types VALUES (\(values[2])); UPDATE types SET t = t || '!', s = s - 1 WHERE id = 1;")
        try await scenario.forager(["sync"])
        try await expectEqual()
    }

    @Test(
        "a user with a password works; a wrong password is refused with what to check, and no password is ever printed (18.16: the modern engine's front has no users)"
    )
    func credentials() async throws {
        let server = try await ClickHouseServer.shared()
        let scenario = try await Scenario.make(
            sourceSQL: "CREATE TABLE hives (id int PRIMARY KEY, label text); INSERT INTO hives VALUES (1, 'one');",
            tables: ["hives"], clickHouse: server,
            clickHouseCredentials: "  user: \(ClickHouseServer.user)\n  password: \(ClickHouseServer.password)")
        let output = try await scenario.forager(["sync", "--log-level", "debug"])
        #expect(try await clickHouseRows(server, scenario, "SELECT label FROM $db.hives_current") == "one")
        #expect(!output.contains(ClickHouseServer.password))

        let config = try String(contentsOfFile: scenario.configPath, encoding: .utf8)
        try config.replacingOccurrences(of: ClickHouseServer.password, with: "wrong-pw-123").write(
            toFile: scenario.configPath, atomically: true, encoding: .utf8)
        let refused = try await scenario.expectOutput(of: ["check"], status: 1, containing: ["Check warehouse.user and the password"])
        #expect(!refused.contains("wrong-pw-123") && !refused.contains(ClickHouseServer.password))
    }

    @Test(
        "a table added to the mapping is copied beside the stream and then streamed; resync replaces a table's copy",
        arguments: ClickHouseServer.Kind.allCases)
    func newTableAndResync(_ kind: ClickHouseServer.Kind) async throws {
        let (server, scenario) = try await Scenario.make(
            clickHouse: kind,
            sourceSQL: """
                CREATE TABLE hives (id int PRIMARY KEY, n int NOT NULL);
                CREATE TABLE visits (id int PRIMARY KEY, hive_id int NOT NULL, weight double precision);
                INSERT INTO hives SELECT g, 0 FROM generate_series(1, 10) g;
                INSERT INTO visits SELECT g, g % 10, g / 3.0 FROM generate_series(1, 500) g;
                """,
            tables: ["hives"])
        try await scenario.forager(["sync"])
        try scenario.writeMapping("tables:\n  - source: hives\n  - source: visits\n")
        try await scenario.onSource("INSERT INTO visits VALUES (501, 1, 0.1); UPDATE hives SET n = 1 WHERE id = 1;")
        try await scenario.syncBeforeAndAfter(["UPDATE visits SET weight = weight * 2 WHERE id <= 100; DELETE FROM visits WHERE id > 490;"])
        let source = "SELECT id, concat_ws(E'\\t', id, hive_id, weight) AS line FROM visits"
        let view = "SELECT id, hive_id, weight FROM $db.visits_current ORDER BY id"
        try await expectSameRows(server, scenario, view: view, source: source)
        #expect(try await clickHouseRows(server, scenario, "SELECT n FROM $db.hives_current WHERE id = 1") == "1")

        try await scenario.forager(["resync", "--table", "visits"])
        try await scenario.onSource("INSERT INTO visits VALUES (600, 2, 6);")
        try await scenario.forager(["sync"])
        try await expectSameRows(server, scenario, view: view, source: source)
        #expect(
            try await clickHouseRows(
                server, scenario, "SELECT argMax(state, version) FROM $db._forager_tables WHERE source_table = 'visits'") == "streaming")
    }

    @Test(
        "SIGKILL during the initial copy into ClickHouse: the next run drops the partial copy and loads it whole",
        arguments: ClickHouseServer.Kind.allCases)
    func interruptedSnapshotHeals(_ kind: ClickHouseServer.Kind) async throws {
        let (server, scenario) = try await Scenario.make(
            clickHouse: kind,
            sourceSQL:
                "CREATE TABLE readings (id bigint PRIMARY KEY, note text NOT NULL); INSERT INTO readings SELECT g, repeat('x', 200) FROM generate_series(1, 400000) g;",
            tables: ["readings"])
        let process = try scenario.launch(["sync"])
        try await scenario.eventually(timeout: .seconds(120), "part of the copy") {
            Int(try await clickHouseRows(server, scenario, "SELECT count() FROM $db.readings")) ?? 0 > 0
        }
        process.signal(SIGKILL)
        _ = try await process.wait(timeout: .seconds(30))
        let partial = Int(try await clickHouseRows(server, scenario, "SELECT count() FROM $db.readings")) ?? 0
        let output = try await scenario.forager(["sync"])
        #expect(output.contains("dropping the rows of an interrupted copy"), "the kill landed after the copy (\(partial) rows)")
        #expect(try await clickHouseRows(server, scenario, "SELECT count(), uniqExact(id) FROM $db.readings_current") == "400000\t400000")
    }

    @Test(
        "unchanged large values are filled in also for a table keyed by a float, or by a numeric that a modern server prints without trailing zeros (issue 17, bug 2)",
        arguments: ClickHouseServer.Kind.allCases)
    func floatKeyedToast(_ kind: ClickHouseServer.Kind) async throws {
        let (server, scenario) = try await Scenario.make(
            clickHouse: kind,
            sourceSQL: """
                CREATE TABLE levels (level double precision PRIMARY KEY, label text, body text);
                ALTER TABLE levels ALTER COLUMN body SET STORAGE EXTERNAL;
                INSERT INTO levels VALUES (25.952, 'a', repeat('x', 20000)), ('NaN', 'b', repeat('y', 20000)), (-0.5, 'c', repeat('z', 20000));
                CREATE TABLE prices (sku text, amount numeric(10,2), label text, body text, PRIMARY KEY (sku, amount));
                ALTER TABLE prices ALTER COLUMN body SET STORAGE EXTERNAL;
                INSERT INTO prices VALUES ('a', 1.50, 'a', repeat('x', 20000)), ('b', 2.00, 'b', repeat('y', 20000)), ('c', 100, 'c', repeat('z', 20000)),
                    ('d', -0.25, 'd', repeat('w', 20000));
                """,
            tables: ["levels", "prices"])
        try await scenario.syncBeforeAndAfter(["UPDATE levels SET label = label || '!'; UPDATE prices SET label = label || '!';"])
        #expect(
            try await clickHouseRows(server, scenario, "SELECT level, label, length(body) FROM $db.levels_current ORDER BY label")
                == "25.952\ta!\t20000\nnan\tb!\t20000\n-0.5\tc!\t20000")
        #expect(
            try await clickHouseRows(server, scenario, "SELECT sku, amount, label, length(body) FROM $db.prices_current ORDER BY sku")
                == "a\t1.50\ta!\t20000\nb\t2.00\tb!\t20000\nc\t100.00\tc!\t20000\nd\t-0.25\td!\t20000")
    }

    @Test(
        "partition_by and order_by over nullable columns: a modern server sorts and partitions by them; 18.16 refuses, and forager check says so with the mapping's entry and the way out (issue 17, bug 4)",
        arguments: ClickHouseServer.Kind.allCases)
    func layoutOverNullableColumns(_ kind: ClickHouseServer.Kind) async throws {
        let (server, scenario) = try await Scenario.make(
            clickHouse: kind,
            sourceSQL: """
                CREATE TABLE visits (id int PRIMARY KEY, region int, seen_at timestamptz);
                INSERT INTO visits SELECT g, CASE WHEN g % 3 = 0 THEN NULL ELSE g % 4 END,
                    CASE WHEN g % 5 = 0 THEN NULL ELSE '2026-01-01'::timestamptz + g * interval '9 days' END FROM generate_series(1, 40) g;
                """,
            mapping: "tables:\n  - source: visits\n    clickhouse: {order_by: [id, region], partition_by: toYYYYMM(seen_at)}\n")
        _ = try await server.query("CREATE DATABASE IF NOT EXISTS `\(scenario.warehouseDatabase)`")
        guard kind == .modern else {
            let check = try await scenario.forager(["check"], expectStatus: 1)
            #expect(
                check.contains(
                    "ClickHouse refuses to make table \(scenario.warehouseDatabase).visits with the mapping's layout of public.visits (clickhouse: {partition_by: toYYYYMM(seen_at), order_by: [id, region]})"
                ), "\(check)")
            #expect(
                check.contains("partition and sort by columns that are NOT NULL")
                    && check.contains("toYYYYMM(toDateTime(intDiv(ts, 1000000)))"), "\(check)")
            #expect(try await server.query("SELECT count() FROM system.tables WHERE database = '\(scenario.warehouseDatabase)'") == "0\n")
            try await scenario.expectOutput(of: ["sync"], status: 1, containing: ["ClickHouse refuses to make table"])
            return
        }
        try await scenario.forager(["check"])
        try await scenario.syncBeforeAndAfter(["UPDATE visits SET seen_at = seen_at WHERE id <= 5; DELETE FROM visits WHERE id = 6;"])
        let source =
            "SELECT id, concat_ws(E'\\t', id, coalesce(region::text, '\\N'), coalesce((extract(epoch FROM seen_at) * 1000000)::bigint::text, '\\N')) AS line FROM visits"
        try await expectSameRows(
            server, scenario, view: "SELECT id, region, $us(seen_at) FROM $db.visits_current ORDER BY id", source: source)
        #expect(
            try await clickHouseRows(
                server, scenario,
                "SELECT partition_key, sorting_key FROM system.tables WHERE database = '\(scenario.warehouseDatabase)' AND name = 'visits'")
                == "toYYYYMM(seen_at)\tid, region")
    }
}
