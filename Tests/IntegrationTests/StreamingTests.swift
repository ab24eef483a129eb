import ForagerDemo
import Foundation
import Glibc
import LibPQ
import Testing

/// Protocol 2 streaming: with `logical_decoding_work_mem` at its minimum (set in the source URL's
/// options), every transaction over 64 kB reaches Forager in blocks before it commits.
@Suite("Large transactions streamed before they commit", .serialized, .cleansUpScenarios)
struct StreamingTests {

    enum Sink: String, CustomTestStringConvertible, CaseIterable, Sendable {
        case postgres, clickhouse
        var testDescription: String { rawValue }
    }

    /// A scenario into `sink`, synced once, with its source streaming every transaction over 64 kB,
    /// and `forager run` started on it.
    private static func streaming(_ sink: Sink) async throws -> (Scenario, ClickHouseServer?, ChildProcess) {
        let server = sink == .clickhouse ? try await ClickHouseServer.shared() : nil
        let scenario = try await Scenario.make(
            sourceSQL: """
                CREATE TABLE items (id int PRIMARY KEY, payload text, n int);
                INSERT INTO items SELECT g, 'seed', 0 FROM generate_series(1, 100) g;
                """,
            tables: ["items"], batch: "batch:\n  max_rows: 3000\n", clickHouse: server)
        try await scenario.forager(["sync"])
        try scenario.rewriteConfig(sourceURL: scenario.sourceURL + "?options=-c%20logical_decoding_work_mem%3D64kB")
        return (scenario, server, try await scenario.launchStreaming())
    }

    /// Begins a transaction on a connection of its own that inserts rows 1000 to 20999: enough for
    /// the source to stream it before it commits. The caller closes the connection.
    private static func beginLargeTransaction(_ scenario: Scenario) async throws -> PGConnection {
        let big = try await scenario.source.connect(scenario.sourceDatabase)
        do {
            try await big.execute("BEGIN")
            try await big.execute("INSERT INTO items SELECT g, repeat('x', 100), 1 FROM generate_series(1000, 20999) g")
        } catch {
            big.close()
            throw error
        }
        return big
    }

    /// The warehouse equals the source: digests on Postgres, `forager validate` on ClickHouse.
    private static func expectEqual(_ scenario: Scenario, _ sink: Sink) async throws {
        if sink == .postgres {
            try await scenario.expectSameContent(source: "items", target: "analytics.items", columns: ["id", "payload", "n"])
        } else {
            try await scenario.expectOutput(of: ["validate", "--wait", "30"], containing: ["public.items: equal"])
        }
    }

    private static func warehouseHas(_ scenario: Scenario, _ server: ClickHouseServer?, id: Int) async throws -> Bool {
        if let server {
            return try await server.query("SELECT count() FROM `\(scenario.warehouseDatabase)`.items_current WHERE id = \(id)") == "1\n"
        }
        return try await scenario.warehouseScalar("SELECT count(*) FROM analytics.items WHERE id = \(id)") == "1"
    }

    /// The spill files of the scenario's slot (in `spill/<slot>-<source>`).
    private func spillFiles(_ scenario: Scenario) -> [String] {
        let root = scenario.directory + "/spill"
        let directories = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).filter { $0.hasPrefix(scenario.slot + "-") }
        return directories.flatMap { directory in
            ((try? FileManager.default.contentsOfDirectory(atPath: root + "/" + directory)) ?? []).filter { $0.hasSuffix(".spill") }
        }
    }

    @Test(
        "a streamed transaction applies whole, in commit order with the small ones committed meanwhile; a rolled-back savepoint and an aborted streamed transaction leave no trace",
        arguments: Sink.allCases)
    func streamedTransactions(_ sink: Sink) async throws {
        let (scenario, server, running) = try await Self.streaming(sink)
        defer { running.signal(SIGKILL) }
        let big = try await Self.beginLargeTransaction(scenario)
        defer { big.close() }
        let small = try await scenario.source.connect(scenario.sourceDatabase)
        defer { small.close() }
        try await small.execute("INSERT INTO items VALUES (500, 'small, committed while the big one is open', 0)")
        try await big.execute("SAVEPOINT s")
        try await big.execute("INSERT INTO items SELECT g, 'rolled back', 2 FROM generate_series(30000, 34999) g")
        try await big.execute("ROLLBACK TO SAVEPOINT s")
        try await big.execute("SAVEPOINT t")
        try await big.execute("UPDATE items SET n = n + 10 WHERE id % 3 = 0")
        try await big.execute("RELEASE SAVEPOINT t")
        try await big.execute("DELETE FROM items WHERE id BETWEEN 1000 AND 1099")
        try await small.execute("UPDATE items SET payload = 'small again' WHERE id = 2")
        try await big.execute("COMMIT")

        try await big.execute("BEGIN")
        try await big.execute("INSERT INTO items SELECT g, repeat('y', 100), 3 FROM generate_series(50000, 69999) g")
        try await big.execute("ROLLBACK")
        try await small.execute("INSERT INTO items VALUES (501, 'after both', 0)")

        try await scenario.eventually("the last row") { try await Self.warehouseHas(scenario, server, id: 501) }
        try await Self.expectEqual(scenario, sink)
        #expect(try await scenario.sourceScalar("SELECT count(*) FROM items") == "20002")
        let streamed = try await scenario.sourceScalar(
            "SELECT stream_txns FROM pg_stat_replication_slots WHERE slot_name = '\(scenario.slot)'")
        #expect((streamed.flatMap { Int($0) } ?? 0) >= 2, "the source streamed \(streamed ?? "no") transactions")
        #expect(spillFiles(scenario).isEmpty, "spill files left: \(spillFiles(scenario))")
        let metrics = await httpGet(port: scenario.metricsPort, "/metrics")?.body ?? ""
        #expect(metrics.contains(#"forager_streamed_transactions_total{outcome="committed"}"#), "\(metrics)")
        #expect(metrics.contains(#"forager_streamed_transactions_total{outcome="aborted"}"#), "\(metrics)")
        #expect(metrics.contains("forager_spill_transactions 0"), "\(metrics)")
        try await running.expectCleanStop()
    }

    @Test(
        "SIGKILL while a streamed transaction is half received: the next run streams it again from the start and applies it once",
        arguments: Sink.allCases)
    func killedMidStream(_ sink: Sink) async throws {
        let (scenario, server, killed) = try await Self.streaming(sink)
        let big = try await Self.beginLargeTransaction(scenario)
        defer { big.close() }
        try await scenario.eventually("a spill file") { !spillFiles(scenario).isEmpty }
        killed.signal(SIGKILL)
        _ = try await killed.wait(timeout: .seconds(30))
        try await big.execute("UPDATE items SET n = 5 WHERE id <= 50")
        try await big.execute("INSERT INTO items SELECT g, 'late', 1 FROM generate_series(21000, 25999) g")
        try await big.execute("COMMIT")
        try await scenario.onSource("INSERT INTO items VALUES (501, 'after', 0)")

        let running = try await scenario.launchStreaming()
        defer { running.signal(SIGKILL) }
        try await scenario.eventually("the last row") { try await Self.warehouseHas(scenario, server, id: 501) }
        try await Self.expectEqual(scenario, sink)
        #expect(spillFiles(scenario).isEmpty, "spill files left: \(spillFiles(scenario))")
        try await running.expectCleanStop()
    }
}
