import Foundation
import Glibc
import Testing

private let sourceSQL = """
    CREATE TABLE tab1 (a int PRIMARY KEY, b text, secret text);
    INSERT INTO tab1 SELECT g, 'b' || g, 's' || g FROM generate_series(1, 50) g;
    """

private let mapping = "tables:\n  - source: tab1\n    exclude_columns: [secret]\n"

/// A scenario of `tab1` mapped without `secret`, synced, then synced again after a column `e`
/// was added and rows written and updated with it.
private func syncedAcrossAnAddedColumn(clickHouse: ClickHouseServer? = nil) async throws -> Scenario {
    let scenario = try await Scenario.make(sourceSQL: sourceSQL, mapping: mapping, clickHouse: clickHouse)
    try await scenario.syncBeforeAndAfter([
        """
        ALTER TABLE tab1 ADD COLUMN e int;
        INSERT INTO tab1 SELECT g, 'b' || g, 's' || g, g FROM generate_series(51, 80) g;
        UPDATE tab1 SET b = 'changed', e = 7 WHERE a <= 10;
        """
    ])
    return scenario
}

/// The warehouse table's columns that Forager did not add for itself, in order.
private func postgresColumns(_ scenario: Scenario) async throws -> String? {
    try await scenario.warehouseScalar(
        "SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'analytics.tab1'::regclass AND attnum > 0 AND NOT attisdropped AND attname NOT LIKE '\\_forager%'"
    )
}

/// Expects a newly excluded column to be refused as before: the pipeline streamed it.
private func expectNewExclusionRefused(_ scenario: Scenario, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    try scenario.writeMapping("tables:\n  - source: tab1\n    exclude_columns: [secret, b]\n")
    let refused = try await scenario.forager(["sync"], expectStatus: 1)
    #expect(refused.contains("does not publish the columns the mapping asks for public.tab1"), "\(refused)", sourceLocation: sourceLocation)
    try scenario.writeMapping(mapping)
}

@Suite("Excluded columns and columns added later", .serialized, .cleansUpScenarios)
struct ExcludedColumnListTests {
    @Test("with exclude_columns, a column added later is not published, not created and not compared, in sync and run (Postgres warehouse)")
    func addedColumnStaysOutOfPostgres() async throws {
        let scenario = try await syncedAcrossAnAddedColumn()
        #expect(try await postgresColumns(scenario) == "a,b")
        try await scenario.expectSameContent(source: "tab1", target: "analytics.tab1", columns: ["a", "b"], key: ["a"])
        try await scenario.forager(["validate", "--wait", "5"])

        let running = try await scenario.launchStreaming()
        try await scenario.onSource(
            """
            ALTER TABLE tab1 ADD COLUMN f int;
            INSERT INTO tab1 SELECT g, 'b' || g, 's' || g, g, g FROM generate_series(81, 90) g;
            """)
        try await scenario.eventually("the streamed rows") {
            try await scenario.warehouseScalar("SELECT count(*) FROM analytics.tab1") == "90"
        }
        try await scenario.forager(["validate", "--wait", "5"])
        try await running.expectCleanStop()
        try await scenario.forager(["sync"])
        #expect(try await postgresColumns(scenario) == "a,b")
        try await scenario.expectSameContent(source: "tab1", target: "analytics.tab1", columns: ["a", "b"], key: ["a"])

        try await expectNewExclusionRefused(scenario)
        try await scenario.forager(["resync", "--table", "public.tab1"])
        try await scenario.forager(["sync"])
        #expect(try await postgresColumns(scenario) == "a,b,e,f")
        try await scenario.expectSameContent(source: "tab1", target: "analytics.tab1", columns: ["a", "b", "e", "f"], key: ["a"])
        try await scenario.forager(["validate", "--wait", "5"])
    }

    @Test("with exclude_columns, a column added later is not published, not created and not compared (ClickHouse warehouse)")
    func addedColumnStaysOutOfClickHouse() async throws {
        let server = try await ClickHouseServer.shared()
        let scenario = try await syncedAcrossAnAddedColumn(clickHouse: server)
        let columns = """
            SELECT arrayStringConcat(groupArray(name), ',') FROM system.columns
            WHERE database = '\(scenario.warehouseDatabase)' AND table = 'tab1' AND name NOT LIKE '\\_forager%' FORMAT TabSeparated
            """
        #expect(try await server.query(columns).trimmingCharacters(in: .newlines) == "a,b")
        let rows = try await server.query(
            "SELECT count(), countIf(b = 'changed') FROM `\(scenario.warehouseDatabase)`.tab1_current FORMAT TabSeparated")
        #expect(rows.trimmingCharacters(in: .newlines) == "80\t10")
        try await scenario.forager(["validate", "--wait", "5"])
        try await expectNewExclusionRefused(scenario)
    }
}
