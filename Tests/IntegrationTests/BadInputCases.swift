import ForagerDemo
import Foundation
import Glibc
import Testing

/// A configuration edit that replaces `old` with `new`.
private func replacing(_ old: String, _ new: String) -> @Sendable (Scenario, String) -> String {
    { _, config in config.replacingOccurrences(of: old, with: new) }
}

private func sourceURL(_ scenario: Scenario, user: String = "postgres", password: String? = nil, database: String? = nil) -> String {
    "postgresql://\(user)\(password.map { ":\($0)" } ?? "")@127.0.0.1:\(scenario.source.port)/\(database ?? scenario.sourceDatabase)"
}

/// A warehouse table name of exactly 63 bytes in UTF-8 (34 characters).
let unicodeTarget = "ruche_🐝_" + String(repeating: "é", count: 26)

/// The catalogue of bad inputs for the Postgres warehouse: each names what it breaks, the error
/// it must give and how the good configuration is restored (``BadInputCatalogueTests``).
let badInputs: [BadInput] = [
    // The configuration file: exit 2, nothing touched.
    BadInput(
        name: "malformed YAML", config: replacing("mappings: mappings", "mappings: [mappings"), status: 2,
        expect: ["forager.yaml", "not valid YAML", "fix the YAML syntax at this line"]),
    BadInput(
        name: "unknown top-level key", config: { $1 + "\nsorce:\n  url: x\n" }, status: 2,
        expect: ["unknown key 'sorce'", "did you mean 'source'"]),
    BadInput(
        name: "unknown key in source", config: replacing("  slot:", "  slott:"), status: 2,
        expect: ["unknown key 'slott'", "did you mean 'slot'"]),
    BadInput(
        name: "missing source.url",
        config: { scenario, config in config.replacingOccurrences(of: "url: \"\(scenario.sourceURL)\"", with: "") }, status: 2,
        expect: ["source.url", "missing", "FORAGER_SOURCE_URL"]),
    BadInput(
        name: "missing mappings", config: replacing("mappings: mappings", ""), status: 2,
        expect: ["mappings", "missing", "set mappings to a mapping file or a directory of them"]),
    BadInput(
        name: "invalid slot name",
        config: { scenario, config in config.replacingOccurrences(of: "slot: \(scenario.slot)", with: "slot: My-Slot") }, status: 2,
        expect: ["'My-Slot' is not a valid replication slot name", "my_slot"]),
    BadInput(
        name: "unknown warehouse type", config: replacing("type: postgres", "type: postgress"), status: 2,
        expect: ["'postgress' is not a supported warehouse type", "did you mean 'postgres'"]),
    BadInput(
        name: "batch size of zero", config: { $1 + "\nbatch:\n  max_rows: 0\n" }, status: 2,
        expect: ["batch.max_rows", "at least 1"]),
    BadInput(
        name: "metrics address without a port",
        config: { scenario, config in config.replacingOccurrences(of: "127.0.0.1:\(scenario.metricsPort)", with: "nowhere") }, status: 2,
        expect: ["metrics.listen", "host:port"]),
    BadInput(
        name: "negative heartbeat interval", config: replacing("heartbeat_interval_s: 1", "heartbeat_interval_s: -3"), status: 2,
        expect: ["source.heartbeat_interval_s", "at least 0"]),
    BadInput(
        name: "mappings directory missing", config: replacing("mappings: mappings", "mappings: no_such_dir"), status: 2,
        expect: ["'no_such_dir' does not exist", "create it, or correct the path"]),
    BadInput(
        name: "mapping entry without source", mapping: "tables:\n  - target: x\n", status: 2,
        expect: ["app.yaml:2", "source", "name the source table as schema.table"]),
    BadInput(
        name: "unknown mapping key", mapping: "tables:\n  - source: hives\n    exclude_column: [name]\n", status: 2,
        expect: ["unknown key 'exclude_column'", "did you mean 'exclude_columns'"]),
    BadInput(
        name: "same table mapped twice", mapping: "tables:\n  - source: hives\n  - source: public.hives\n", status: 2,
        expect: ["app.yaml:3", "public.hives is mapped twice", "app.yaml:2", "map each source table once"]),
    BadInput(
        name: "unknown deletes mode", mapping: "tables:\n  - source: hives\n    deletes: sometimes\n", status: 2,
        expect: ["deletes", "hard", "soft"]),
    BadInput(
        name: "FORAGER_SOURCE_URL that is not a connection string", environment: { _ in ["FORAGER_SOURCE_URL": "nonsense"] }, status: 2,
        expect: ["FORAGER_SOURCE_URL is neither a postgresql:// URI nor key=value"]),

    BadInput(
        name: "metrics address already in use",
        config: { scenario, config in
            config.replacingOccurrences(of: "127.0.0.1:\(scenario.metricsPort)", with: "127.0.0.1:\(scenario.source.port)")
        },
        command: ["run"],
        expect: ["the metrics endpoint cannot listen on 127.0.0.1:", "Set metrics.listen to a free host:port"], aftermath: .wholeOrNothing()
    ),

    // Servers that cannot be reached or refuse: exit 1.
    BadInput(
        name: "source port with nothing listening",
        environment: { scenario in
            ["FORAGER_SOURCE_URL": "postgresql://postgres@127.0.0.1:\(try LocalCluster.freePort())/\(scenario.sourceDatabase)"]
        },
        expect: ["Connection refused", "Check that the server is running"]),
    BadInput(
        name: "source host that does not resolve",
        environment: { scenario in
            ["FORAGER_SOURCE_URL": "postgresql://postgres@no-such-host.invalid:5432/\(scenario.sourceDatabase)"]
        },
        expect: ["no-such-host.invalid", "Check the host part of the connection URL", "DNS resolves it"]),
    BadInput(
        name: "warehouse port with nothing listening",
        environment: { scenario in
            ["FORAGER_WAREHOUSE_URL": "postgresql://postgres@127.0.0.1:\(try LocalCluster.freePort())/\(scenario.warehouseDatabase)"]
        },
        expect: ["Connection refused", "Check that the server is running"]),
    BadInput(
        name: "wrong password",
        environment: { scenario in ["FORAGER_SOURCE_URL": sourceURL(scenario, user: "catalogue_pw", password: "not-the-password")] },
        prepare: { scenario in
            try await PasswordRole.ensure(scenario.source); return nil
        },
        expect: ["password authentication failed for user \"catalogue_pw\"", "Check the user and password"],
        reject: ["not-the-password"]),
    BadInput(
        name: "source database that does not exist",
        environment: { scenario in ["FORAGER_SOURCE_URL": sourceURL(scenario, database: "no_such_db")] },
        expect: ["database \"no_such_db\" does not exist", "Check the database and user names"]),
    BadInput(
        name: "role without REPLICATION", environment: { scenario in ["FORAGER_SOURCE_URL": sourceURL(scenario, user: "catalogue_plain")] },
        prepare: { scenario in
            try await scenario.source.execute(
                "DO $$ BEGIN CREATE ROLE catalogue_plain LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$", database: "postgres")
            return nil
        },
        expect: ["role \"catalogue_plain\" has no REPLICATION privilege", "ALTER ROLE \"catalogue_plain\" WITH REPLICATION"]),
    BadInput(
        name: "wal_level not logical", environment: { _ in [:] },
        prepare: { scenario in
            let cluster = try await ReplicaLevelCluster.shared.get()
            try? await cluster.execute("CREATE DATABASE \(scenario.sourceDatabase)", database: "postgres")
            let config = try String(contentsOfFile: scenario.configPath, encoding: .utf8)
                .replacingOccurrences(of: ":\(scenario.source.port)/", with: ":\(cluster.port)/")
            try config.write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
            return nil
        },
        expect: ["wal_level = replica", "ALTER SYSTEM SET wal_level = logical"]),

    // The slot and the publication.
    BadInput(
        name: "slot in use by another process",
        prepare: { scenario in
            let running = try scenario.launch(["run"])
            try await scenario.eventually("the slot in use") {
                try await scenario.sourceScalar("SELECT active FROM pg_replication_slots WHERE slot_name = '\(scenario.slot)'") == "t"
            }
            return running
        },
        expect: ["is in use by another process", "Stop the other Forager"], aftermath: .wholeOrNothing()),
    BadInput(
        name: "slot of another plugin",
        prepare: { scenario in
            try await scenario.onSource("SELECT pg_create_logical_replication_slot('\(scenario.slot)', 'test_decoding')")
            return nil
        },
        expect: ["uses the plugin test_decoding, not pgoutput", "Choose another slot name"], goodSyncFirst: false,
        aftermath: .untouched(
            repair: Repair { scenario in
                try restoreGoodConfiguration(scenario)
                try await scenario.onSource("SELECT pg_drop_replication_slot('\(scenario.slot)')")
            })),
    BadInput(
        name: "slot dropped while the warehouse has a checkpoint",
        prepare: { scenario in
            try await scenario.onSource("SELECT pg_drop_replication_slot('\(scenario.slot)')")
            return nil
        },
        expect: [
            "has a checkpoint", "but the source has no such slot", "start over into the same tables: forager reset --yes, then forager run",
        ],
        aftermath: .untouched(repair: .running(["reset", "--yes"]))),
    BadInput(
        name: "publication that lost a mapped table",
        prepare: { scenario in
            try await scenario.onSource("ALTER PUBLICATION forager_pub DROP TABLE hives")
            return nil
        },
        expect: ["public.hives", "forager resync --table public.hives"],
        aftermath: .untouched(repair: .running(["resync", "--table", "public.hives"]))),

    // Mappings that do not fit the source.
    BadInput(
        name: "mapped table absent", mapping: "tables:\n  - source: hives\n  - source: no_such_table\n",
        expect: ["app.yaml:3", "public.no_such_table does not exist", "Check the name in the mapping file"]),
    BadInput(
        name: "excluded column absent", mapping: "tables:\n  - source: hives\n    exclude_columns: [nope]\n",
        expect: ["exclude_columns names \"nope\"", "Columns of public.hives: id, name, doc"]),
    BadInput(
        name: "renamed column absent", mapping: "tables:\n  - source: hives\n    rename_columns: {nope: x}\n",
        expect: ["rename_columns names \"nope\"", "Columns of public.hives"]),
    BadInput(
        name: "excluded key column", mapping: "tables:\n  - source: hives\n    exclude_columns: [id]\n",
        expect: ["part of the primary key", "remove it from exclude_columns"]),
    BadInput(
        name: "table without key or identity",
        sourceSQL: cataloguedHives + " CREATE TABLE keyless (a int, b text);",
        mapping: "tables:\n  - source: hives\n  - source: keyless\n",
        expect: ["public.keyless has no primary key", "REPLICA IDENTITY FULL", "append_only"]),
    BadInput(
        name: "column of a type only the source has (an enum) arrives as text",
        sourceSQL:
            "CREATE TYPE mood AS ENUM ('calm', 'angry'); CREATE TABLE hives (id int PRIMARY KEY, name text, doc jsonb, temper mood); INSERT INTO hives VALUES (1, 'a', NULL, 'angry');",
        status: 0, expect: ["copied table"], goodSyncFirst: false, aftermath: .synced,
        verify: { scenario in
            let value = try await scenario.warehouseScalar("SELECT temper || ':' || pg_typeof(temper) FROM analytics.hives")
            #expect(value == "angry:text")
        }),
    BadInput(
        name: "rename collision", mapping: "tables:\n  - source: hives\n    rename_columns: {name: id}\n",
        expect: ["would both be called \"id\"", "Rename one of them"]),
    BadInput(
        name: "type override to an unknown type", mapping: "tables:\n  - source: hives\n    types: {name: not_a_type}\n",
        expect: ["the type 'not_a_type', which the warehouse does not know", "Use a type name"]),
    BadInput(
        name: "type override the values cannot take", mapping: "tables:\n  - source: hives\n    types: {doc: date}\n",
        expect: ["cannot hold its jsonb values", "Choose a type that jsonb converts to"]),
    BadInput(
        name: "extract from a column that is not JSON",
        mapping: "tables:\n  - source: hives\n    extract:\n      - {column: w, from: name, path: w, type: integer}\n",
        expect: ["reads from \"name\", which is text, not json or jsonb", "Extract only from json or jsonb columns"]),
    BadInput(
        name: "hostile table name that does not exist",
        mapping: "tables:\n  - source: hives\n  - source: 'public.\"x\"\"; DROP TABLE hives; --\"'\n",
        expect: ["public.\"x\"\"; DROP TABLE hives; --\" does not exist", "Check the name in the mapping file"]),
    BadInput(
        name: "target name of 64 bytes (32 characters)",
        mapping: "tables:\n  - source: hives\n    target: \(String(repeating: "é", count: 32))\n", status: 2,
        expect: ["app.yaml:3", "tables[0].target", "is 64 bytes long, but PostgreSQL names are at most 63 bytes (UTF-8); shorten it"]),
    BadInput(
        name: "reserved words as table and column names replicate",
        sourceSQL: cataloguedHives
            + #" CREATE TABLE "order" ("from" int PRIMARY KEY, "group" text); INSERT INTO "order" VALUES (1, 'a'), (2, 'b');"#,
        mapping: "tables:\n  - source: hives\n  - source: 'public.\"order\"'\n    target: select\n    rename_columns: {group: table}\n",
        status: 0, expect: ["copied table"], aftermath: .synced,
        verify: { scenario in
            try await scenario.onSource(
                #"UPDATE "order" SET "group" = 'changed' WHERE "from" = 1; DELETE FROM "order" WHERE "from" = 2; INSERT INTO "order" VALUES (3, 'new');"#
            )
            try await scenario.forager(["sync"])
            try await scenario.expectSameContent(
                source: #""order""#, target: #"analytics."select""#, columns: ["from", "group"], key: ["from"],
                targetColumns: ["from", "table"])
            #expect(
                try await scenario.warehouseScalar(#"SELECT string_agg("table", ',' ORDER BY "from") FROM analytics."select""#)
                    == "changed,new")
        }),
    BadInput(
        name: "Unicode table, column and 63-byte target names replicate",
        sourceSQL: cataloguedHives
            + #" CREATE TABLE "ruche_été_日本" ("clé" int PRIMARY KEY, "poids_🐝" numeric); INSERT INTO "ruche_été_日本" VALUES (1, 1.5), (2, 2.5);"#,
        mapping:
            "tables:\n  - source: hives\n  - source: 'public.\"ruche_été_日本\"'\n    target: \(unicodeTarget)\n    rename_columns: {poids_🐝: 重さ}\n",
        status: 0, expect: ["copied table"], aftermath: .synced,
        verify: { scenario in
            #expect(unicodeTarget.utf8.count == 63)
            try await scenario.onSource(
                #"UPDATE "ruche_été_日本" SET "poids_🐝" = 9.75 WHERE "clé" = 1; DELETE FROM "ruche_été_日本" WHERE "clé" = 2; INSERT INTO "ruche_été_日本" VALUES (3, 0);"#
            )
            try await scenario.forager(["sync"])
            try await scenario.expectSameContent(
                source: #""ruche_été_日本""#, target: "analytics.\"\(unicodeTarget)\"", columns: ["clé", "poids_🐝"], key: ["clé"],
                targetColumns: ["clé", "重さ"])
            #expect(
                try await scenario.warehouseScalar(
                    "SELECT string_agg(\"重さ\"::text, ',' ORDER BY \"clé\") FROM analytics.\"\(unicodeTarget)\"") == "9.75,0")
        }),
    BadInput(
        name: "pattern that matches nothing", mapping: "tables:\n  - source: hives\n  - source: 'public.zz*'\n",
        expect: ["public.zz* matches no table", "Check the pattern"]),

    // The warehouse, changed behind Forager's back.
    BadInput(
        name: "warehouse column dropped by hand",
        prepare: { scenario in
            try await scenario.warehouse.execute("ALTER TABLE analytics.hives DROP COLUMN name", database: scenario.warehouseDatabase)
            return nil
        },
        command: ["sync"], status: 0,
        expect: ["lacks \"name\", and a column was dropped from it by hand", "forager resync --table public.hives"],
        aftermath: .tableStopped(repair: .running(["resync", "--table", "public.hives"])), columns: ["id", "doc"],
        verify: { scenario in
            let check = try await scenario.forager(["check"], expectStatus: 1)
            #expect(check.contains("table public.hives is stopped"), "\(check)")
        }),
    BadInput(
        name: "warehouse column type changed by hand",
        prepare: { scenario in
            try await scenario.warehouse.execute(
                "ALTER TABLE analytics.hives ALTER COLUMN name TYPE integer USING length(name)", database: scenario.warehouseDatabase)
            return nil
        },
        command: ["sync"], status: 0,
        expect: [
            "warehouse table analytics.hives was changed by hand: \"name\" is integer where Forager made it text (the source has text)",
            "forager resync --table public.hives",
        ],
        aftermath: .tableStopped(repair: .running(["resync", "--table", "public.hives"])), columns: ["id", "doc"],
        verify: { scenario in
            let check = try await scenario.forager(["check"], expectStatus: 1)
            #expect(check.contains("table public.hives is stopped: warehouse table analytics.hives was changed by hand"), "\(check)")
        }),
    BadInput(
        name: "warehouse table not made by Forager",
        prepare: { scenario in
            try await scenario.warehouse.execute(
                "CREATE SCHEMA analytics; CREATE TABLE analytics.hives (id int PRIMARY KEY, name text, doc jsonb)",
                database: scenario.warehouseDatabase)
            return nil
        },
        expect: ["warehouse table analytics.hives exists but has no _forager_lsn column", "Map the source table to another target name"],
        goodSyncFirst: false,
        aftermath: .untouched(
            repair: Repair(target: "analytics.hives_forager") { scenario in
                try restoreGoodConfiguration(scenario)
                try scenario.writeMapping("tables:\n  - source: hives\n    target: hives_forager\n")
            })),
    BadInput(
        name: "warehouse rows without a checkpoint",
        prepare: { scenario in
            try await scenario.warehouse.execute("DELETE FROM analytics._forager_state", database: scenario.warehouseDatabase)
            try await scenario.onSource("SELECT pg_drop_replication_slot('\(scenario.slot)')")
            return nil
        },
        expect: ["already hold rows, but there is no checkpoint", "Empty those tables"],
        aftermath: .untouched(repair: .onWarehouse { _ in "TRUNCATE analytics.hives" })),
    BadInput(
        name: "warehouse schema owned by another role",
        environment: { scenario in
            ["FORAGER_WAREHOUSE_URL": "postgresql://catalogue_limited@127.0.0.1:\(scenario.warehouse.port)/\(scenario.warehouseDatabase)"]
        },
        prepare: { scenario in
            try await scenario.warehouse.execute(
                "DO $$ BEGIN CREATE ROLE catalogue_limited LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$", database: "postgres")
            return nil
        },
        expect: [
            "the warehouse role \"catalogue_limited\" may not create what Forager needs in schema \"analytics\"",
            "GRANT USAGE, CREATE ON SCHEMA \"analytics\" TO \"catalogue_limited\"",
        ]),

    // Commands pointed at the wrong thing.
    BadInput(
        name: "resync of a table that is not mapped", command: ["resync", "--table", "public.nope"],
        expect: ["public.nope is not a mapped table", "Mapped tables: public.hives"]),
    BadInput(
        name: "validate of a table that is not mapped", command: ["validate", "--table", "public.nope"],
        expect: ["public.nope is not a mapped table", "Mapped tables: public.hives"]),
    BadInput(
        name: "drop without --yes", command: ["drop"],
        expect: ["would drop replication slot", "--yes"]),

    // Values at the edges arrive exactly.
    BadInput(
        name: "values at the edges",
        sourceSQL: """
            \(cataloguedHives)
            CREATE TABLE edge (id int PRIMARY KEY, f float8, r real, d date, ts timestamptz, t timestamp, j jsonb, s text, n numeric);
            INSERT INTO edge VALUES
              (1, 'NaN', 'NaN', 'infinity', 'infinity', '-infinity', '{}', '', 'NaN'),
              (2, 'Infinity', '-Infinity', '-infinity', '-infinity', 'infinity', 'null', NULL, 0),
              (3, -0.0, 1e-38, '4713-01-01 BC', '294276-12-31 23:59:59.999999+00', '0001-01-01 00:00:00', '"\\u00e9x"'::text::jsonb, E'\\u00e9\\u0301 \\U0001F41D \\u200d \\u202e rtl \\ufffd', '1e-1000'::numeric),
              (4, 1.7976931348623157e308, 3.4028235e38, '2024-02-29', '2024-06-01 10:00:00.123456+05:30', '2024-06-01 10:00:00.5', '[1, 2.50, "x", {"a": [true, false, null]}]', repeat('x', 100000), 123456789012345678901234567890.123456789);
            INSERT INTO edge (id, j) SELECT 5, jsonb_build_object('big', repeat('z', 10 * 1024 * 1024));
            """,
        mapping: "tables:\n  - source: hives\n  - source: edge\n", status: 0, expect: ["copied table"], aftermath: .synced,
        verify: { scenario in
            try await scenario.onSource(
                """
                INSERT INTO edge SELECT id + 100, f, r, d, ts, t, j, s, n FROM edge WHERE id <= 5;
                UPDATE edge SET s = '' WHERE id = 2; UPDATE edge SET s = NULL WHERE id = 1; UPDATE edge SET f = 1 WHERE id = 5;
                """)
            try await scenario.forager(["sync"])
            try await scenario.expectSameContent(
                source: "edge", target: "analytics.edge", columns: ["id", "f", "r", "d", "ts", "t", "j", "s", "n"])
            #expect(
                try await scenario.warehouseScalar(
                    "SELECT count(*) FILTER (WHERE s = '') || '/' || count(*) FILTER (WHERE s IS NULL) FROM analytics.edge") == "2/4")
            #expect(try await scenario.warehouseScalar("SELECT length(j->>'big') FROM analytics.edge WHERE id = 105") == "10485760")
        }),
]
