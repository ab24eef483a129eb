import ForagerDemo
import Foundation
import Glibc
import Testing

@Suite("Table shapes", .cleansUpScenarios)
struct TableShapeTests {
    @Test("a partitioned source table arrives in one warehouse table, across partitions and row moves")
    func partitionedTableArrivesWhole() async throws {
        let scenario = try await Scenario.make(
            sourceSQL: """
                \(Scenario.yearlyPartitions("readings", "id bigint, taken_on date, value real, PRIMARY KEY (id, taken_on)", by: "taken_on", years: 2024...2025))
                INSERT INTO readings SELECT g, date '2024-06-01' + g, g FROM generate_series(1, 400) g;
                """,
            tables: ["readings"])
        try await scenario.syncBeforeAndAfter([
            """
            INSERT INTO readings VALUES (1000, '2025-03-01', 1), (1001, '2024-03-01', 2);
            UPDATE readings SET taken_on = '2025-02-02' WHERE id = 10;
            DELETE FROM readings WHERE id = 20;
            """
        ])
        try await scenario.expectSameContent(
            source: "readings", target: "analytics.readings", columns: ["id", "taken_on", "value"], key: ["id", "taken_on"])
        #expect(try await scenario.warehouseScalar("SELECT count(*) FROM analytics.readings") == "401")

        // A partition truncated on its own (a retention job): PostgreSQL sends nothing for it when it
        // publishes through the partitioned table, so the warehouse keeps its rows, and only them.
        let kept = try await scenario.sourceScalar("SELECT count(*) FROM readings_2024")
        try await scenario.onSource("TRUNCATE readings_2024; INSERT INTO readings VALUES (2000, '2025-05-05', 3);")
        try await scenario.forager(["sync"])
        #expect(try await scenario.warehouseScalar("SELECT count(*) FROM analytics.readings WHERE taken_on < '2025-01-01'") == kept)
        #expect(try await scenario.warehouseScalar("SELECT count(*) FROM analytics.readings") == "402")
    }

    @Test("large values in text, jsonb and bytea survive updates that leave them unchanged, per row and per column")
    func toastAcrossTypes() async throws {
        let scenario = try await Scenario.make(
            sourceSQL: """
                CREATE TABLE blobs (id int PRIMARY KEY, note text, doc jsonb, raw bytea, counter int);
                INSERT INTO blobs SELECT g, repeat('n' || g, 5000), jsonb_build_object('k', repeat(md5(g::text), 400)),
                    decode(repeat(md5(g::text), 400), 'hex'), 0 FROM generate_series(1, 6) g;
                """,
            tables: ["blobs"])
        try await scenario.syncBeforeAndAfter([
            """
            BEGIN;
            UPDATE blobs SET counter = counter + 1;
            UPDATE blobs SET note = 'short now' WHERE id = 1;
            UPDATE blobs SET doc = '{"small": true}' WHERE id = 2;
            UPDATE blobs SET counter = counter + 1 WHERE id IN (1, 2);
            INSERT INTO blobs VALUES (7, repeat('x', 20000), jsonb_build_object('big', repeat('y', 20000)), decode(repeat('ab', 20000), 'hex'), 0);
            UPDATE blobs SET counter = 5 WHERE id = 7;
            COMMIT;
            UPDATE blobs SET counter = counter + 10 WHERE id IN (3, 7);
            """
        ])
        try await scenario.expectSameContent(source: "blobs", target: "analytics.blobs", columns: ["id", "note", "doc", "raw", "counter"])
        #expect(try await scenario.warehouseScalar("SELECT sum(length(raw)) FROM analytics.blobs") == "58400")
    }
}

@Suite("Soft deletes", .cleansUpScenarios)
struct SoftDeleteTests {
    @Test("deletes: soft keeps deleted rows flagged, whether or not the batch saw their values")
    func softDeletesKeepRows() async throws {
        let scenario = try await Scenario.make(
            sourceSQL:
                "CREATE TABLE uploads (id int PRIMARY KEY, path text, handled boolean); INSERT INTO uploads SELECT g, 's3://b/' || g, false FROM generate_series(1, 20) g;",
            mapping: "tables:\n  - source: uploads\n    deletes: soft\n")
        try await scenario.syncBeforeAndAfter([
            """
            DELETE FROM uploads WHERE id <= 3;
            BEGIN; UPDATE uploads SET handled = true WHERE id = 4; DELETE FROM uploads WHERE id = 4; COMMIT;
            BEGIN; INSERT INTO uploads VALUES (21, 's3://b/21', false); DELETE FROM uploads WHERE id = 21; COMMIT;
            BEGIN; DELETE FROM uploads WHERE id = 5; INSERT INTO uploads VALUES (5, 's3://b/5-again', true); COMMIT;
            """
        ])
        // Live rows equal the source's.
        let live = Scenario.digestSQL(table: "uploads", columns: ["id", "path", "handled"], key: ["id"])
        let warehouseLive = Scenario.digestSQL(
            table: "(SELECT * FROM analytics.uploads WHERE NOT _forager_deleted) w", columns: ["id", "path", "handled"], key: ["id"])
        #expect(try await scenario.sourceScalar(live) == (try await scenario.warehouseScalar(warehouseLive)))
        #expect(
            try await scenario.warehouseScalar(
                "SELECT string_agg(id || ':' || handled, ',' ORDER BY id) FROM analytics.uploads WHERE _forager_deleted")
                == "1:false,2:false,3:false,4:true,21:false")
        #expect(
            try await scenario.warehouseScalar(
                "SELECT count(DISTINCT _forager_lsn) FROM analytics.uploads WHERE _forager_deleted AND _forager_lsn >= (SELECT _forager_lsn FROM analytics.uploads WHERE id = 6)"
            ) == "5")
    }
}

@Suite("Excluded columns", .cleansUpScenarios)
struct ExcludedColumnTests {
    @Test("exclude_columns keeps personal data on the source: not published, not in the warehouse")
    func excludedColumnsNeverLeave() async throws {
        let scenario = try await Scenario.make(
            sourceSQL:
                "CREATE TABLE customers (id int PRIMARY KEY, name text, email text, phone text); INSERT INTO customers SELECT g, 'c' || g, g || '@example.org', '555-' || g FROM generate_series(1, 30) g;",
            mapping: "tables:\n  - source: customers\n    exclude_columns: [email, phone]\n")
        try await scenario.syncBeforeAndAfter([
            "INSERT INTO customers VALUES (31, 'new', 'secret@example.org', '555-0'); UPDATE customers SET email = 'x@example.org', name = 'renamed' WHERE id = 1;"
        ])
        try await scenario.expectSameContent(source: "customers", target: "analytics.customers", columns: ["id", "name"])
        #expect(
            try await scenario.warehouseScalar(
                "SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'analytics.customers'::regclass AND attnum > 0 AND NOT attisdropped AND attname NOT LIKE '\\_forager%'"
            ) == "id,name")
        #expect(
            try await scenario.sourceScalar(
                "SELECT array_to_string(attnames, ',') FROM pg_publication_tables WHERE pubname = 'forager_pub'") == "id,name")

        try await scenario.expectCheckRefuses(
            mapping: "tables:\n  - source: customers\n    exclude_columns: [emial, id]\n",
            containing: [
                "app.yaml:2: exclude_columns names \"emial\", which public.customers does not have",
                "part of the primary key",
            ])
    }
}

@Suite("Renamed columns", .cleansUpScenarios)
struct RenamedColumnTests {
    @Test("rename_columns gives warehouse columns other names, key columns included, through every path")
    func renamedColumnsCarryTheData() async throws {
        let scenario = try await Scenario.make(
            sourceSQL: """
                CREATE TABLE readings (id int PRIMARY KEY, temp real, note text, "Raw Blob" text);
                ALTER TABLE readings ALTER COLUMN "Raw Blob" SET STORAGE EXTERNAL;
                INSERT INTO readings SELECT g, g / 2.0, 'n' || g, repeat('r', 10000) FROM generate_series(1, 40) g;
                """,
            mapping: """
                tables:
                  - source: readings
                    deletes: soft
                    rename_columns: {id: reading_id, temp: temperature_c, "Raw Blob": raw_blob}
                """)
        try await scenario.syncBeforeAndAfter([
            """
            INSERT INTO readings VALUES (41, 20.5, 'new', 'small');
            UPDATE readings SET temp = -1 WHERE id <= 5;
            UPDATE readings SET id = 100 WHERE id = 6;
            DELETE FROM readings WHERE id IN (7, 41);
            """
        ])
        let source = Scenario.digestSQL(table: "readings", columns: ["id", "temp", "note", "Raw Blob"], key: ["id"])
        let warehouse = Scenario.digestSQL(
            table: "(SELECT * FROM analytics.readings WHERE NOT _forager_deleted) w",
            columns: ["reading_id", "temperature_c", "note", "raw_blob"], key: ["reading_id"])
        #expect(try await scenario.sourceScalar(source) == (try await scenario.warehouseScalar(warehouse)))
        #expect(try await scenario.warehouseScalar("SELECT count(*) FROM analytics.readings WHERE _forager_deleted") == "3")

        try await scenario.expectCheckRefuses(
            mapping: """
                tables:
                  - source: readings
                    rename_columns: {temp: note}
                """,
            containing: ["would both be called \"note\" in the warehouse"])
    }
}

@Suite("Type overrides", .cleansUpScenarios)
struct TypeOverrideTests {
    @Test("types overrides a warehouse column's type; check refuses a type that cannot hold the data")
    func typeOverrides() async throws {
        let scenario = try await Scenario.make(
            sourceSQL:
                "CREATE TABLE hives (id int PRIMARY KEY, weight numeric(7,3), label varchar(20)); INSERT INTO hives SELECT g, g * 1.5, 'h' || g FROM generate_series(1, 10) g;",
            mapping: "tables:\n  - source: hives\n    types: {weight: double precision, label: text}\n")
        try await scenario.syncBeforeAndAfter([
            "INSERT INTO hives VALUES (11, 2.125, 'new'); UPDATE hives SET weight = 0.001 WHERE id = 1;"
        ])
        try await scenario.expectSameContent(
            source: "(SELECT id, weight::double precision AS weight, label::text AS label FROM hives) s", target: "analytics.hives",
            columns: ["id", "weight", "label"])
        #expect(
            try await scenario.warehouseScalar(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'analytics.hives'::regclass AND attname = 'weight'"
            ) == "double precision")

        try await scenario.expectCheckRefuses(
            mapping: "tables:\n  - source: hives\n    types: {weight: point, label: nosuchtype}\n",
            containing: [
                "the type point, which cannot hold its numeric(7,3) values",
                "the type 'nosuchtype', which the warehouse does not know",
            ])
    }
}

@Suite("JSON extraction", .cleansUpScenarios)
struct JSONExtractionTests {
    @Test("extract turns JSON fields into typed columns; missing or ill-typed fields become NULL, never an error")
    func extractedColumns() async throws {
        let scenario = try await Scenario.make(
            sourceSQL: """
                CREATE TABLE samples (id int PRIMARY KEY, payload jsonb, raw json);
                INSERT INTO samples VALUES
                  (1, '{"climate": {"temp": 34.5}, "readings": [7, 8], "ok": true, "fw": "v2", "big": 99999999999}', '{"n": 3}'),
                  (2, '{"climate": {"temp": "hot"}, "readings": [], "ok": "yes", "fw": {"major": 2}}', '{"n": "x"}'),
                  (3, NULL, NULL);
                """,
            mapping: """
                tables:
                  - source: samples
                    extract:
                      - {column: temperature_c, from: payload, path: climate.temp, type: double precision}
                      - {column: first_reading, from: payload, path: "readings[0]", type: integer}
                      - {column: ok, from: payload, path: ok, type: boolean}
                      - {column: firmware, from: payload, path: fw, type: text}
                      - {column: big, from: payload, path: big, type: integer}
                      - {column: n, from: raw, path: n, type: bigint}
                """)
        try await scenario.forager(["sync"])
        // An earlier Forager made extracted columns as generated columns: they become plain ones.
        try await scenario.warehouse.execute(
            "ALTER TABLE analytics.samples DROP COLUMN firmware; ALTER TABLE analytics.samples ADD COLUMN firmware text GENERATED ALWAYS AS (payload ->> 'fw') STORED",
            database: scenario.warehouseDatabase)
        try await scenario.onSource(
            """
            INSERT INTO samples VALUES (4, '{"climate": {"temp": -2}, "readings": [1.5], "fw": "v3"}', '{"n": 12}');
            UPDATE samples SET payload = jsonb_set(payload, '{climate,temp}', '36.25') WHERE id = 1;
            """)
        try await scenario.forager(["sync"])
        let rows = try await scenario.warehouseScalar(
            """
            SELECT string_agg(concat_ws('|', id, temperature_c, first_reading, ok, firmware, big, n), ';' ORDER BY id)
            FROM analytics.samples
            """)
        #expect(rows == #"1|36.25|7|t|v2|3;2|{"major": 2};3;4|-2|v3|12"#)
        try await scenario.expectSameContent(source: "samples", target: "analytics.samples", columns: ["id", "payload"])

        try await scenario.expectCheckRefuses(
            mapping: """
                tables:
                  - source: samples
                    extract:
                      - {column: t, from: id, path: x, type: text}
                """,
            containing: ["reads from \"id\", which is integer, not json or jsonb"])
    }

    @Test("dates and times extract from ISO 8601 strings only; NULLs from missing and ill-typed fields are counted in the log")
    func datesAndCounts() async throws {
        let scenario = try await Scenario.make(
            sourceSQL: """
                CREATE TABLE events (id int PRIMARY KEY, body jsonb);
                INSERT INTO events VALUES
                  (1, '{"day": "2024-02-29", "at": "2024-06-01T10:00:00.25", "atz": "2024-06-01T10:00:00+02:00", "n": 32767}'),
                  (2, '{"day": "2023-02-29", "at": "now", "atz": "2024-06-01 10:00", "n": -32768}'),
                  (3, '{"day": "0000-01-01", "at": "2024-06-01T10:00:00+02:00", "atz": "2024-13-01T10:00:00Z", "n": 32768}'),
                  (4, '{"day": 20240101, "at": "2024-06-01", "atz": "2024-06-01T25:00:00Z"}');
                """,
            mapping: """
                tables:
                  - source: events
                    extract:
                      - {column: day, from: body, path: day, type: date}
                      - {column: at, from: body, path: at, type: timestamp}
                      - {column: atz, from: body, path: atz, type: timestamptz}
                      - {column: n, from: body, path: n, type: smallint}
                """)
        let output = try await scenario.forager(["sync"])
        let rows = try await scenario.warehouseScalar(
            """
            SELECT string_agg(concat_ws('|', id, day, at, atz AT TIME ZONE 'UTC', n), ';' ORDER BY id) FROM analytics.events
            """)
        #expect(
            rows == "1|2024-02-29|2024-06-01 10:00:00.25|2024-06-01 08:00:00|32767;2|2024-06-01 10:00:00|-32768;3;4|2024-06-01 00:00:00")
        #expect(output.contains("extracted fields missing or of the wrong kind were stored as NULL"))
        #expect(output.contains(#"forager.column=day forager.missing=0 forager.table=analytics.events forager.wrong_kind=3"#))
        #expect(output.contains(#"forager.column=n forager.missing=1 forager.table=analytics.events forager.wrong_kind=1"#))
    }

    @Test(
        "keep_json: false stores only the extracted columns, also across updates that leave the json unchanged (TOAST); a new extract is filled"
    )
    func dropTheJSONColumn() async throws {
        // Every mapping below extracts these two; the first drops the json columns, the last extracts one more.
        let extracts =
            "    extract:\n      - {column: temp, from: payload, path: temp, type: integer}\n"
            + "      - {column: fw, from: meta, path: fw, type: text}\n"
        let scenario = try await Scenario.make(
            sourceSQL: """
                CREATE TABLE samples (id int PRIMARY KEY, note text, payload jsonb, meta jsonb);
                ALTER TABLE samples ALTER COLUMN payload SET STORAGE EXTERNAL;
                INSERT INTO samples SELECT g, 'n' || g, jsonb_build_object('temp', g, 'pad', repeat('x', 10000)), jsonb_build_object('fw', 'v' || g) FROM generate_series(1, 5) g;
                """,
            mapping: "tables:\n  - source: samples\n    keep_json: false\n" + extracts)
        try await scenario.syncBeforeAndAfter([
            "UPDATE samples SET note = 'touched' WHERE id <= 2",
            "UPDATE samples SET note = 'moved', id = 10 WHERE id = 3",
            "UPDATE samples SET payload = payload || '{\"temp\": 40}' WHERE id = 4",
            "INSERT INTO samples VALUES (6, 'new', '{\"temp\": 6}', '{}')",
        ])
        #expect(
            try await scenario.warehouseScalar(
                "SELECT string_agg(concat_ws('|', id, note, temp, fw), ';' ORDER BY id) FROM analytics.samples")
                == "1|touched|1|v1;2|touched|2|v2;4|n4|40|v4;5|n5|5|v5;6|new|6;10|moved|3|v3")
        #expect(
            try await scenario.warehouseScalar(
                "SELECT count(*) FROM pg_attribute WHERE attrelid = 'analytics.samples'::regclass AND attname IN ('payload', 'meta')")
                == "0")

        try scenario.writeMapping("tables:\n  - source: samples\n" + extracts)
        try await scenario.expectOutput(
            of: ["sync"], status: 1, containing: ["lacks the json column \"payload\", which the mapping now keeps"])
        try await scenario.forager(["resync", "--table", "samples"])
        try await scenario.forager(["sync"])
        try await scenario.expectSameContent(source: "samples", target: "analytics.samples", columns: ["id", "note", "payload", "meta"])

        try scenario.writeMapping(
            "tables:\n  - source: samples\n" + extracts + "      - {column: temp_text, from: payload, path: temp, type: text}\n")
        try await scenario.forager(["sync"])
        #expect(
            try await scenario.warehouseScalar("SELECT string_agg(temp_text, ',' ORDER BY id) FROM analytics.samples") == "1,2,40,5,6,3")
    }
}
