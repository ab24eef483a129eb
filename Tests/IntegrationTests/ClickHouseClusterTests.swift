import ForagerDemo
import Foundation
import Glibc
import Testing

/// The ClickHouse warehouse on a cluster (`warehouse.cluster`): two 18.16 replicas of one shard and
/// a ZooKeeper, started by the test (``ClickHouseReplicas``).
@Suite("ClickHouse cluster", .serialized, .cleansUpScenarios)
struct ClickHouseClusterTests {
    private static let columns = "id, value, amount, note, extra"

    /// The source rows as ClickHouse prints them in TabSeparated, one line per row.
    private func sourceRows(_ scenario: Scenario) async throws -> String {
        try await scenario.sourceScalar(
            """
            SELECT coalesce(string_agg(concat_ws(E'\\t', id, value, amount, coalesce(note, '\\N'), coalesce(extra::text, '\\N')), E'\\n' ORDER BY id), '')
            FROM readings
            """) ?? ""
    }

    private func rows(on replica: ClickHouseServer, _ scenario: Scenario, _ sql: String) async throws -> String {
        try await replica.query(sql.replacingOccurrences(of: "$db", with: "`\(scenario.warehouseDatabase)`") + " FORMAT TabSeparated")
            .trimmingCharacters(in: .newlines)
    }

    /// `forager run`, once ready: a quorum insert waits for the other replica's fetch, so the
    /// snapshot may take longer than `launchStreaming` waits on a busy machine.
    private func streaming(_ scenario: Scenario) async throws -> ChildProcess {
        let process = try scenario.launch(["run"])
        do {
            try await scenario.eventually(timeout: .seconds(240), "streaming") {
                await httpGet(port: scenario.metricsPort, "/readyz")?.status == 200
            }
        } catch {
            Issue.record("forager run was not ready; its output ends:\n\(process.output.suffix(6000))")
            throw error
        }
        return process
    }

    @Test(
        "a pipeline into a two-replica cluster: every table replicated ON CLUSTER; a replica killed mid-stream returns and both hold exactly the source's rows"
    )
    func replicaKilledMidStream() async throws {
        let cluster = try await ClickHouseReplicas.start()
        defer { cluster.stop() }
        let (first, second) = (cluster.replicas[0], cluster.replicas[1])
        let scenario = try await Scenario.make(
            sourceSQL: """
                CREATE TABLE readings (id bigint PRIMARY KEY, value double precision, amount numeric(10,2), note text);
                INSERT INTO readings SELECT g, g / 8.0, g / 4.0, 'r' || g FROM generate_series(1, 1000) g;
                """,
            tables: ["readings"], batch: "batch:\n  max_rows: 500", clickHouse: first,
            clickHouseCredentials: "  cluster: \(ClickHouseReplicas.cluster)")
        try await scenario.forager(["sync"])

        try await expectTablesAndColumnsOnEveryReplica(cluster, scenario)

        try await scenario.onSource(
            """
            DO $$ BEGIN FOR i IN 1..150 LOOP
              INSERT INTO readings SELECT 100000 * i + g, g / 3.0, g, 'n', i FROM generate_series(1, 400) g;
              UPDATE readings SET value = value + i, amount = amount + 1 WHERE id % 150 = i;
              DELETE FROM readings WHERE id = i * 3;
              COMMIT;
            END LOOP; END $$;
            """)
        let process = try scenario.launch(["sync"])
        try await Task.sleep(for: .milliseconds(700))
        #expect(process.poll() == nil, "forager sync ended before the replica was killed")
        second.kill()
        let atKill = try await rows(on: first, scenario, "SELECT max(lsn) FROM $db._forager_state")
        let status = try await process.wait(timeout: .seconds(300))
        #expect(status == 0, "forager sync exited \(status) while a replica was down:\n\(process.output)")
        let afterwards = try await rows(on: first, scenario, "SELECT max(lsn) FROM $db._forager_state")
        #expect(UInt64(afterwards) ?? 0 > UInt64(atKill) ?? 0, "no batch was written while the replica was down")
        try await second.resume()
        for replica in cluster.replicas {
            _ = try await replica.query("SYSTEM SYNC REPLICA `\(scenario.warehouseDatabase)`.readings")
            _ = try await replica.query("SYSTEM SYNC REPLICA `\(scenario.warehouseDatabase)`._forager_state")
        }
        let expected = try await sourceRows(scenario)
        #expect(expected.split(separator: "\n").count == 60_850, "the source's changes ran")
        for replica in cluster.replicas {
            let actual = try await rows(on: replica, scenario, "SELECT \(Self.columns) FROM $db.readings_current ORDER BY id")
            #expect(actual == expected, "rows differ on \(replica.url)")
        }
        let checkpoints = try await cluster.replicas.asyncMap { replica in
            try await rows(on: replica, scenario, "SELECT max(lsn) FROM $db._forager_state")
        }
        #expect(checkpoints[0] == checkpoints[1] && checkpoints[0] != "0", "\(checkpoints)")

        // validate keeps its helper tables on the one replica the url reaches.
        let validation = try await scenario.forager(["validate", "--wait", "0"])
        #expect(validation.contains("public.readings: equal"), "\(validation)")
        let leftovers =
            "SELECT count() FROM system.tables WHERE database = '\(scenario.warehouseDatabase)' AND name LIKE '\\\\_forager\\\\_validate%'"
        for replica in cluster.replicas { #expect(try await rows(on: replica, scenario, leftovers) == "0") }

        // sharding: true on this one-shard cluster is refused, by forager check too.
        let config = try String(contentsOfFile: scenario.configPath, encoding: .utf8)
        try config.replacingOccurrences(
            of: "cluster: \(ClickHouseReplicas.cluster)", with: "cluster: \(ClickHouseReplicas.cluster)\n  sharding: true"
        )
        .write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
        let check = try await scenario.forager(["check"], expectStatus: 1)
        #expect(check.contains("warehouse.sharding is on, but cluster `\(ClickHouseReplicas.cluster)` has 1 shard"), "\(check)")
    }

    /// Every table is on every replica, replicated, and the view too; a column added on the source
    /// reaches the second replica with its source type recorded.
    private func expectTablesAndColumnsOnEveryReplica(_ cluster: ClickHouseReplicas, _ scenario: Scenario) async throws {
        let second = cluster.replicas[1]
        // Every table is on both replicas, replicated; the view is on both.
        let engines = "SELECT name, engine FROM system.tables WHERE database = '\(scenario.warehouseDatabase)' ORDER BY name"
        let expectedEngines =
            [
                "_forager_columns", "_forager_source_types", "_forager_state", "_forager_tables", "readings",
            ].map { "\($0)\tReplicatedReplacingMergeTree" } + ["readings_current\tView"]
        for replica in cluster.replicas {
            #expect(try await rows(on: replica, scenario, engines) == expectedEngines.joined(separator: "\n"), "\(replica.url)")
        }
        // A column added on the source reaches both replicas, with its source type recorded.
        try await scenario.onSource("ALTER TABLE readings ADD COLUMN extra integer; UPDATE readings SET extra = id % 7 WHERE id % 100 = 0;")
        try await scenario.forager(["sync"])
        _ = try await second.query("SYSTEM SYNC REPLICA `\(scenario.warehouseDatabase)`.readings")
        #expect(
            try await rows(
                on: second, scenario,
                "SELECT type FROM system.columns WHERE database = '\(scenario.warehouseDatabase)' AND table = 'readings_current' AND name = 'extra'"
            ) == "Nullable(Int32)")
        #expect(
            try await rows(
                on: second, scenario,
                "SELECT source_type FROM $db._forager_source_types FINAL WHERE table_name = 'readings' AND column_name = 'extra'")
                == "integer")
    }

    @Test(
        "insert_quorum: 2 — with a replica down, forager run stores no checkpoint past the batches both replicas hold; after it returns the stream goes on and both hold exactly the source's rows"
    )
    func quorumHoldsTheCheckpoint() async throws {
        let cluster = try await ClickHouseReplicas.start(name: "quorum")
        defer { cluster.stop() }
        let (first, second) = (cluster.replicas[0], cluster.replicas[1])
        let scenario = try await Scenario.make(
            sourceSQL: """
                CREATE TABLE readings (id bigint PRIMARY KEY, value double precision, amount numeric(10,2), note text, extra integer);
                INSERT INTO readings SELECT g, g / 8.0, g / 4.0, 'r' || g, NULL FROM generate_series(1, 1000) g;
                """,
            tables: ["readings"], clickHouse: first,
            clickHouseCredentials: "  cluster: \(ClickHouseReplicas.cluster)\n  insert_quorum: 2\n  insert_quorum_timeout_s: 8")
        let checkpoint = { try await rows(on: first, scenario, "SELECT max(lsn) FROM $db._forager_state") }
        let running = try await streaming(scenario)
        try await scenario.onSource("UPDATE readings SET note = 'before' WHERE id <= 10")
        try await scenario.eventually(timeout: .seconds(120), "the update before the kill") {
            try await rows(on: first, scenario, "SELECT count() FROM $db.readings_current WHERE note = 'before'") == "10"
        }
        second.kill()
        try await Task.sleep(for: .seconds(2))
        let atKill = try await checkpoint()
        try await scenario.onSource("INSERT INTO readings SELECT g, g / 3.0, g, 'during', g FROM generate_series(2000, 2999) g")
        // Longer than insert_quorum_timeout_s (8 s): the waiting insert fails, and so do the next
        // ones (too few live replicas), as transient failures that forager run retries.
        try await Task.sleep(for: .seconds(20))
        #expect(running.poll() == nil, "forager run stopped while a replica was down:\n\(running.output)")
        #expect(running.output.contains("retrying"), "no insert failed for want of its quorum:\n\(running.output.suffix(3000))")
        #expect(try await checkpoint() == atKill, "a checkpoint was stored past rows that only one replica held")
        try await second.resume()
        let end = try await scenario.sourceScalar("SELECT (pg_current_wal_lsn() - '0/0')::bigint") ?? ""
        try await scenario.eventually(timeout: .seconds(180), "the checkpoint passing the rows written while the replica was down") {
            (UInt64(try await checkpoint()) ?? 0) >= (UInt64(end) ?? .max)
        }
        running.signal(SIGTERM)
        _ = try await running.wait(timeout: .seconds(60))
        let expected = try await sourceRows(scenario)
        #expect(expected.split(separator: "\n").count == 2000)
        for replica in cluster.replicas {
            _ = try await replica.query("SYSTEM SYNC REPLICA `\(scenario.warehouseDatabase)`.readings")
            let actual = try await rows(on: replica, scenario, "SELECT \(Self.columns) FROM $db.readings_current ORDER BY id")
            #expect(actual == expected, "rows differ on \(replica.url)")
        }
    }

    @Test(
        "the replica forager run writes to is killed mid-stream: forager retries until it returns, then both replicas hold exactly the source's rows"
    )
    func writtenReplicaKilledMidStream() async throws {
        let cluster = try await ClickHouseReplicas.start(name: "written")
        defer { cluster.stop() }
        let first = cluster.replicas[0]
        let scenario = try await Scenario.make(
            sourceSQL: """
                CREATE TABLE readings (id bigint PRIMARY KEY, value double precision, amount numeric(10,2), note text, extra integer);
                INSERT INTO readings SELECT g, g / 8.0, g / 4.0, 'r' || g, NULL FROM generate_series(1, 1000) g;
                """,
            tables: ["readings"], clickHouse: first, clickHouseCredentials: "  cluster: \(ClickHouseReplicas.cluster)")
        let running = try await streaming(scenario)
        let writer = scenario.writeContinuously { round in
            "INSERT INTO readings VALUES (\(10_000 + round), \(round) / 7.0, \(round), 'w', \(round)); UPDATE readings SET extra = \(round) WHERE id = \(round % 1000 + 1)"
        }
        try await Task.sleep(for: .seconds(2))
        first.kill()
        try await Task.sleep(for: .seconds(5))
        #expect(running.poll() == nil, "forager run stopped while the replica it writes to was down:\n\(running.output)")
        try await first.resume()
        try await Task.sleep(for: .seconds(2))
        writer.cancel()
        _ = try? await writer.value
        let end = try await scenario.sourceScalar("SELECT (pg_current_wal_lsn() - '0/0')::bigint") ?? ""
        try await scenario.eventually(timeout: .seconds(120), "the checkpoint passing the last write") {
            (UInt64(try await rows(on: first, scenario, "SELECT max(lsn) FROM $db._forager_state")) ?? 0) >= (UInt64(end) ?? .max)
        }
        running.signal(SIGTERM)
        _ = try await running.wait(timeout: .seconds(60))
        let expected = try await sourceRows(scenario)
        #expect(expected.split(separator: "\n").count > 1010, "the writer ran while the replica was down")
        for replica in cluster.replicas {
            _ = try await replica.query("SYSTEM SYNC REPLICA `\(scenario.warehouseDatabase)`.readings")
            let actual = try await rows(on: replica, scenario, "SELECT \(Self.columns) FROM $db.readings_current ORDER BY id")
            #expect(actual == expected, "rows differ on \(replica.url)")
        }
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
