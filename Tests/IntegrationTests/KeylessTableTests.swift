import Testing

@Suite("Tables without a primary key", .cleansUpScenarios)
struct KeylessTableTests {
    @Test("REPLICA IDENTITY FULL keeps the same multiset of rows; a replica identity index is a key; append_only keeps every insert")
    func keylessTablesReplicateExactly() async throws {
        let scenario = try await Scenario.make(
            sourceSQL: """
                CREATE TABLE readings (sensor int, value double precision, note text, blob text);
                ALTER TABLE readings REPLICA IDENTITY FULL;
                ALTER TABLE readings ALTER COLUMN blob SET STORAGE EXTERNAL;
                INSERT INTO readings SELECT g % 5, g % 3, CASE WHEN g % 4 = 0 THEN NULL ELSE 'n' END, NULL FROM generate_series(1, 60) g;
                INSERT INTO readings VALUES (7, 1.5, 'twin', NULL), (7, 1.5, 'twin', NULL), (7, 1.5, 'twin', NULL);
                INSERT INTO readings VALUES (8, 0, 'large', repeat(md5('x'), 1000));
                CREATE TABLE devices (serial text NOT NULL, name text);
                CREATE UNIQUE INDEX devices_serial ON devices (serial);
                ALTER TABLE devices REPLICA IDENTITY USING INDEX devices_serial;
                INSERT INTO devices SELECT 'S' || g, 'device ' || g FROM generate_series(1, 20) g;
                CREATE TABLE events (at timestamptz, kind text, detail jsonb);
                INSERT INTO events SELECT '2026-01-01'::timestamptz + g * interval '1 s', 'boot', '{"n": 1}' FROM generate_series(1, 10) g;
                """,
            mapping: """
                tables:
                  - source: readings
                  - source: devices
                  - source: events
                    append_only: true
                """)
        try await scenario.syncBeforeAndAfter([
            "DELETE FROM readings WHERE ctid = (SELECT min(ctid) FROM readings WHERE sensor = 7)",
            "UPDATE readings SET note = 'changed' WHERE ctid = (SELECT max(ctid) FROM readings WHERE sensor = 7)",
            "UPDATE readings SET value = value + 10 WHERE sensor = 1 AND note IS NULL",
            "INSERT INTO readings VALUES (9, NULL, NULL, NULL), (9, NULL, NULL, NULL)",
            "DELETE FROM readings WHERE ctid = (SELECT min(ctid) FROM readings WHERE sensor = 9)",
            "UPDATE readings SET sensor = 80 WHERE sensor = 8",
            "UPDATE devices SET serial = 'X' || serial WHERE serial IN ('S1', 'S2')",
            "UPDATE devices SET name = 'renamed' WHERE serial = 'S3'",
            "DELETE FROM devices WHERE serial = 'S4'",
            "INSERT INTO events VALUES ('2026-02-01', 'alarm', '{\"t\": 40}')",
            "UPDATE events SET kind = 'rewritten'",
            "DELETE FROM events WHERE kind = 'rewritten' AND at < '2026-01-01 00:00:05'",
            "INSERT INTO events VALUES ('2026-02-02', 'alarm', NULL)",
        ])
        let readingColumns = ["sensor", "value", "note", "blob"]
        try await scenario.expectSameContent(source: "readings", target: "analytics.readings", columns: readingColumns, key: readingColumns)
        #expect(try await scenario.warehouseScalar("SELECT count(*) FROM analytics.readings WHERE sensor = 7 AND note = 'twin'") == "1")
        #expect(try await scenario.warehouseScalar("SELECT length(blob) FROM analytics.readings WHERE sensor = 80") == "32000")
        try await scenario.expectSameContent(source: "devices", target: "analytics.devices", columns: ["serial", "name"], key: ["serial"])
        // Every insert is kept, none of the updates or deletes is replicated.
        #expect(
            try await scenario.warehouseScalar("SELECT count(*) || '/' || count(*) FILTER (WHERE kind = 'rewritten') FROM analytics.events")
                == "12/0")
        #expect(
            try await scenario.sourceScalar(
                "SELECT pubname || ':' || string_agg(tablename, ',' ORDER BY tablename) FROM pg_publication_tables GROUP BY pubname ORDER BY 1 LIMIT 1"
            ) == "forager_pub:devices,readings")
        #expect(
            try await scenario.sourceScalar(
                "SELECT pubinsert::text || pubupdate::text || pubdelete::text || pubtruncate::text FROM pg_publication WHERE pubname = 'forager_pub_append'"
            ) == "truefalsefalsefalse")
    }

    @Test("a table without a key or identity is refused with the three ways out; with soft deletes, FULL identity flags one copy")
    func keylessWithoutIdentity() async throws {
        let scenario = try await Scenario.make(
            sourceSQL: """
                CREATE TABLE loose (a int, b text);
                CREATE TABLE twins (a int, b text);
                ALTER TABLE twins REPLICA IDENTITY FULL;
                INSERT INTO twins VALUES (1, 'x'), (1, 'x'), (2, NULL);
                """,
            tables: ["loose"])
        try await scenario.expectOutput(
            of: ["check"], status: 1,
            containing: [
                "app.yaml:2: mapped table public.loose has no primary key and no replica identity",
                "REPLICA IDENTITY FULL",
                "append_only: true",
            ])

        try scenario.writeMapping("tables:\n  - source: twins\n    deletes: soft\n")
        try await scenario.syncBeforeAndAfter([
            "DELETE FROM twins WHERE ctid = (SELECT min(ctid) FROM twins WHERE a = 1); DELETE FROM twins WHERE a = 2;"
        ])
        #expect(
            try await scenario.warehouseScalar(
                "SELECT string_agg(a || ':' || coalesce(b, 'NULL') || ':' || _forager_deleted, ',' ORDER BY a, _forager_deleted) FROM analytics.twins"
            ) == "1:x:false,1:x:true,2:NULL:true")
    }
}
