import Foundation
import Testing

private let sourceSQL = """
    CREATE TABLE readings (id int PRIMARY KEY, value text NOT NULL);
    INSERT INTO readings SELECT g, 'first ' || g FROM generate_series(1, 9090) g;
    """

/// Runs `body` with the source cluster's WAL writer slowed to one round every 10 s, so WAL that
/// asynchronous commits leave in the buffers stays unwritten and unflushed; restores it after.
private func withSlowWALWriter(_ scenario: Scenario, _ body: () async throws -> Void) async throws {
    try await scenario.source.execute("ALTER SYSTEM SET wal_writer_delay = '10s'", database: "postgres")
    try await scenario.source.execute("SELECT pg_reload_conf()", database: "postgres")
    do {
        try await body()
    } catch {
        await restoreWALWriter(scenario)
        throw error
    }
    await restoreWALWriter(scenario)
}

private func restoreWALWriter(_ scenario: Scenario) async {
    do {
        try await scenario.source.execute("ALTER SYSTEM RESET wal_writer_delay", database: "postgres")
        try await scenario.source.execute("SELECT pg_reload_conf()", database: "postgres")
    } catch {
        Issue.record("could not restore wal_writer_delay on the shared source cluster: \(error)")
    }
}

/// A session with `synchronous_commit = off` replaces every row, and `forager sync` starts right after.
private func replaceRowsAsynchronously(_ scenario: Scenario) async throws {
    try await scenario.onSourceEach([
        "SET synchronous_commit = off",
        "DELETE FROM readings",
        "INSERT INTO readings SELECT g, 'second ' || g FROM generate_series(1, 20000) g",
    ])
}

/// Runs `forager sync` and expects it well within the slowed `wal_writer_delay`: the stream must
/// reach the target without waiting for the WAL writer to flush.
private func expectPromptSync(_ scenario: Scenario, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let started = ContinuousClock.now
    try await scenario.forager(["sync"], timeout: .seconds(60))
    let elapsed = ContinuousClock.now - started
    #expect(elapsed < .seconds(7), "sync took \(elapsed): it waited for the WAL writer", sourceLocation: sourceLocation)
}

@Suite("The sync target", .serialized, .cleansUpScenarios)
struct SyncTargetTests {
    @Test("sync contains transactions committed with synchronous_commit = off just before it started (Postgres warehouse)")
    func asynchronousCommitsIntoPostgres() async throws {
        let scenario = try await Scenario.make(sourceSQL: sourceSQL, tables: ["readings"])
        try await scenario.forager(["sync"])
        try await withSlowWALWriter(scenario) {
            try await replaceRowsAsynchronously(scenario)
            try await expectPromptSync(scenario)
            #expect(try await scenario.warehouseScalar("SELECT count(*) FROM analytics.readings") == "20000")
            try await scenario.expectSameContent(source: "readings", target: "analytics.readings", columns: ["id", "value"])
        }
    }

    @Test("sync contains transactions committed with synchronous_commit = off just before it started (ClickHouse warehouse)")
    func asynchronousCommitsIntoClickHouse() async throws {
        let (server, scenario) = try await Scenario.make(clickHouse: .debian18, sourceSQL: sourceSQL, tables: ["readings"])
        try await scenario.forager(["sync"])
        try await withSlowWALWriter(scenario) {
            try await replaceRowsAsynchronously(scenario)
            try await expectPromptSync(scenario)
            let rows = try await server.query(
                "SELECT count(), countIf(startsWith(value, 'second ')) FROM `\(scenario.warehouseDatabase)`.readings_current FORMAT TabSeparated"
            )
            #expect(rows.trimmingCharacters(in: .newlines) == "20000\t20000")
        }
    }
}
