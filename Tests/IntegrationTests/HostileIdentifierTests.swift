import Foundation
import Testing

/// A table and column name of 63 bytes, the most PostgreSQL keeps.
private let long = String(repeating: "h", count: 63)

@Suite("Hostile identifiers", .cleansUpScenarios)
struct HostileIdentifierTests {
    /// The source of both tests: `y`, which nothing may drop; a table whose name and columns try
    /// to drop it, with two rows and `rows`; `more`; and a table and column named with 63 bytes.
    private static func sourceSQL(rows: String, more: String = "") -> String {
        return """
            CREATE TABLE y (id int PRIMARY KEY); INSERT INTO y VALUES (1);
            CREATE TABLE "x""; DROP TABLE y; --" ("id"";--" int PRIMARY KEY, "select" text, "Mixed Case" int, "'; DELETE FROM y; --" text);
            INSERT INTO "x""; DROP TABLE y; --" VALUES (1, 'a', 1, 'q''uote'), (2, 'b', 2, E'back\\\\slash')\(rows);
            \(more)
            CREATE TABLE "\(long)" ("\(long)" int PRIMARY KEY, "ruche_été_日本" text);
            INSERT INTO "\(long)" VALUES (1, 'été');
            """
    }

    /// Syncs, changes the hostile tables on the source (and runs `more`), and syncs again.
    private static func syncChangesAndSync(_ scenario: Scenario, more: String = "") async throws {
        try await scenario.syncBeforeAndAfter([
            """
            INSERT INTO "x""; DROP TABLE y; --" VALUES (3, 'c', 3, ';');
            UPDATE "x""; DROP TABLE y; --" SET "select" = 'changed' WHERE "id"";--" = 1;
            DELETE FROM "x""; DROP TABLE y; --" WHERE "id"";--" = 2;
            \(more)
            INSERT INTO "\(long)" VALUES (2, '日本');
            """
        ])
    }

    @Test("tables and columns named with quotes, semicolons, reserved words, 63 bytes and Unicode replicate, and nothing they spell is run")
    func hostileNames() async throws {
        let scenario = try await Scenario.make(
            sourceSQL: Self.sourceSQL(
                rows: "",
                more: """
                    CREATE TABLE "order" ("from" int PRIMARY KEY, "group" text);
                    INSERT INTO "order" VALUES (1, 'g');
                    """),
            mapping: """
                tables:
                  - source: 'public."x""; DROP TABLE y; --"'
                  - source: 'public."order"'
                    rename_columns: {group: 'a "quoted" name; --'}
                  - source: 'public."\(long)"'
                """)
        try await scenario.warehouse.execute(
            "CREATE SCHEMA analytics; CREATE TABLE analytics.y (id int); INSERT INTO analytics.y VALUES (1);",
            database: scenario.warehouseDatabase)
        try await Self.syncChangesAndSync(scenario, more: #"UPDATE "order" SET "group" = 'h';"#)
        #expect(try await scenario.sourceScalar("SELECT count(*) FROM y") == "1")
        #expect(try await scenario.warehouseScalar("SELECT count(*) FROM analytics.y") == "1")
        try await scenario.expectSameContent(
            source: #""x""; DROP TABLE y; --""#, target: #"analytics."x""; DROP TABLE y; --""#,
            columns: [#"id"";--"#, "select", "Mixed Case", "'; DELETE FROM y; --"], key: [#"id"";--"#])
        #expect(try await scenario.warehouseScalar(#"SELECT "a ""quoted"" name; --" FROM analytics."order""#) == "h")
        try await scenario.expectSameContent(
            source: "\"\(long)\"", target: "analytics.\"\(long)\"", columns: [long, "ruche_été_日本"], key: [long])
        try await scenario.expectOutput(of: ["validate", "--wait", "0"], containing: [#"public."x""; DROP TABLE y; --": equal (2 rows"#])
    }

    @Test("the same hostile names replicate into ClickHouse and validate equal; nothing they spell is run there")
    func hostileNamesInClickHouse() async throws {
        let (server, scenario) = try await Scenario.make(
            clickHouse: .debian18, sourceSQL: Self.sourceSQL(rows: ", (4, 'tick`', 4, '`; DROP TABLE y; --')"),
            mapping: """
                tables:
                  - source: 'public."x""; DROP TABLE y; --"'
                    rename_columns: {select: 'a `back-ticked` name; --'}
                  - source: 'public."\(long)"'
                """)
        _ = try await server.query("CREATE DATABASE IF NOT EXISTS `\(scenario.warehouseDatabase)`")
        _ = try await server.query("CREATE TABLE `\(scenario.warehouseDatabase)`.y (id UInt8) ENGINE = Memory")
        _ = try await server.query("INSERT INTO `\(scenario.warehouseDatabase)`.y VALUES (1)")
        try await Self.syncChangesAndSync(scenario)
        #expect(try await scenario.sourceScalar("SELECT count(*) FROM y") == "1")
        #expect(
            try await server.query("SELECT count() FROM `\(scenario.warehouseDatabase)`.y").trimmingCharacters(in: .whitespacesAndNewlines)
                == "1")
        let renamed = try await server.query(
            "SELECT `a \\`back-ticked\\` name; --` FROM `\(scenario.warehouseDatabase)`.`x\"; DROP TABLE y; --_current` ORDER BY `id\";--` FORMAT TabSeparated"
        )
        #expect(renamed == "changed\nc\ntick`\n", "\(renamed)")
        try await scenario.expectOutput(
            of: ["validate", "--wait", "0"],
            containing: [
                #"public."x""; DROP TABLE y; --": equal (3 rows"#,
                "public.\(long): equal (2 rows",
            ])
    }
}
