import Foundation
import Testing

/// The ClickHouse users docs/clickhouse.md describes, set up as it says, doing what it says.
@Suite("ClickHouse users", .serialized, .cleansUpScenarios)
struct ClickHouseRolesTests {
    @Test("Forager runs as a user limited to its database; a read-only analyst reads the _current views and can change nothing")
    func leastPrivilege() async throws {
        let server = try await ClickHouseServer.shared()
        let database = ClickHouseServer.leastPrivilegeDatabase
        _ = try await server.query("DROP DATABASE IF EXISTS \(database)")
        let scenario = try await Scenario.make(
            sourceSQL:
                "CREATE TABLE samples (id int PRIMARY KEY, hive int, v float8); INSERT INTO samples SELECT g, g % 10, g * 0.25 FROM generate_series(1, 1000) g;",
            tables: ["samples"], clickHouse: server,
            clickHouseCredentials: "  user: \(ClickHouseServer.leastPrivilegeUser)\n  password: \(ClickHouseServer.password)")
        let config = try String(contentsOfFile: scenario.configPath, encoding: .utf8)
        try config.replacingOccurrences(of: "database: \(scenario.warehouseDatabase)", with: "database: \(database)")
            .write(toFile: scenario.configPath, atomically: true, encoding: .utf8)

        try await scenario.syncBeforeAndAfter([
            "UPDATE samples SET v = -1 WHERE id <= 10; DELETE FROM samples WHERE id > 990; INSERT INTO samples VALUES (2000, 1, 2);"
        ])
        let validation = try await scenario.forager(["validate", "--wait", "0"])
        #expect(validation.contains("public.samples: equal (991 rows"), "\(validation)")

        // Neither user reaches another database.
        _ = try await server.query("CREATE TABLE IF NOT EXISTS default.elsewhere (x UInt8) ENGINE = Memory")
        defer { Task { _ = try? await server.query("DROP TABLE IF EXISTS default.elsewhere") } }
        for user in [ClickHouseServer.leastPrivilegeUser, ClickHouseServer.analyst] {
            await #expect(throws: HarnessError.self, "\(user) read another database") {
                try await server.query("SELECT count() FROM default.elsewhere", user: user)
            }
        }
        await #expect(throws: HarnessError.self) {
            try await server.query("CREATE TABLE default.intruder (x UInt8) ENGINE = Memory", user: ClickHouseServer.leastPrivilegeUser)
        }

        let analyst = ClickHouseServer.analyst
        let counted = try await server.query(
            "SELECT count(), countIf(v = -1) FROM \(database).samples_current FORMAT TabSeparated", user: analyst)
        #expect(counted == "991\t10\n", "\(counted)")
        for statement in [
            "INSERT INTO \(database).samples (id, hive, v, _forager_version, _forager_deleted) VALUES (1, 1, 1, 999999999, 1)",
            "ALTER TABLE \(database).samples DELETE WHERE 1",
            "DROP TABLE \(database).samples",
            "CREATE TABLE \(database).scratch (x UInt8) ENGINE = Memory",
        ] {
            await #expect(throws: HarnessError.self, "the analyst ran: \(statement)") { try await server.query(statement, user: analyst) }
        }
        #expect(try await server.query("SELECT count() FROM \(database).samples_current FORMAT TabSeparated") == "991\n")
        _ = try await server.query("DROP DATABASE IF EXISTS \(database)")
    }
}
