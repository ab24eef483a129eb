import Testing

@Suite("Table selection by pattern", .cleansUpScenarios)
struct TableSelectionIntegrationTests {
    @Test("public.* with exclude_tables maps every other table under its own name; an exact entry wins")
    func patternSelectsTables() async throws {
        let scenario = try await Scenario.make(
            sourceSQL: """
                CREATE TABLE apiaries (id int PRIMARY KEY, name text);
                CREATE TABLE hives (id int PRIMARY KEY, apiary_id int);
                CREATE TABLE "Weird Table" ("Id" int PRIMARY KEY, "Value" text);
                CREATE TABLE audit_log (id bigint PRIMARY KEY, entry text);
                \(Scenario.yearlyPartitions("measurements", "id int, ts date, PRIMARY KEY (id, ts)", by: "ts", years: 2024...2024))
                CREATE SCHEMA other; CREATE TABLE other.apiaries (id int PRIMARY KEY);
                INSERT INTO apiaries SELECT g, 'yard ' || g FROM generate_series(1, 10) g;
                INSERT INTO hives SELECT g, 1 + g % 10 FROM generate_series(1, 50) g;
                INSERT INTO "Weird Table" VALUES (1, 'one');
                INSERT INTO audit_log VALUES (1, 'secret');
                INSERT INTO measurements VALUES (1, '2024-03-01');
                """,
            mapping: """
                tables:
                  - source: public.hives
                    target: colonies
                  - source: public.*
                    deletes: soft
                    exclude_tables: [public.audit_*]
                """)
        try await scenario.expectOutput(
            of: ["check"],
            containing: [
                "ok: source, warehouse and 4 mapped table(s) are ready",
                "note: column values will arrive in binary and be stored as received",
            ])
        try await scenario.syncBeforeAndAfter([
            """
            INSERT INTO apiaries VALUES (11, 'new yard'); DELETE FROM apiaries WHERE id = 1;
            INSERT INTO hives VALUES (51, 11); INSERT INTO audit_log VALUES (2, 'also secret');
            INSERT INTO measurements VALUES (2, '2024-04-01');
            """
        ])
        let tables = try await scenario.warehouseScalar(
            "SELECT string_agg(tablename, ',' ORDER BY tablename COLLATE \"C\") FROM pg_tables WHERE schemaname = 'analytics'")
        #expect(tables == "Weird Table,_forager_columns,_forager_state,_forager_tables,apiaries,colonies,measurements")
        try await scenario.expectSameContent(source: "hives", target: "analytics.colonies", columns: ["id", "apiary_id"])
        try await scenario.expectSameContent(
            source: "\"Weird Table\"", target: "analytics.\"Weird Table\"", columns: ["Id", "Value"], key: ["Id"])
        try await scenario.expectSameContent(source: "measurements", target: "analytics.measurements", columns: ["id", "ts"])
        #expect(
            try await scenario.warehouseScalar("SELECT count(*) FILTER (WHERE _forager_deleted) || '/' || count(*) FROM analytics.apiaries")
                == "1/11")
        #expect(try await scenario.warehouseScalar("SELECT count(*) FROM analytics.colonies WHERE _forager_deleted") == "0")
    }

    @Test("check names a pattern that matches nothing and layout options that do not fit the table, with file and line")
    func checkReportsSelectionAndLayoutProblems() async throws {
        let scenario = try await Scenario.make(
            sourceSQL: "CREATE TABLE samples (id bigint PRIMARY KEY, ts timestamptz, device_id int);", tables: [])
        let output = try await scenario.expectCheckRefuses(
            mapping: """
                tables:
                  - source: audit.*
                  - source: samples
                    rename_columns: {device_id: device}
                    clickhouse: {order_by: [ts, id], partition_by: toYYYYMM(ts)}
                    redshift: {sortkey: [ts], distkey: device_id}
                """,
            containing: ["app.yaml:2: audit.* matches no table on the source"])
        #expect(
            output.contains("app.yaml:3: public.samples: clickhouse.order_by is ts, id, which does not start with the primary key (id)"))
        #expect(output.contains(#"app.yaml:3: public.samples: redshift.distkey names "device_id", which is not a warehouse column"#))
    }
}
