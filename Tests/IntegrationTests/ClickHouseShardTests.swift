import ForagerDemo
import Foundation
import Glibc
import Testing

/// The ClickHouse warehouse spread over a cluster's shards (`warehouse.sharding`): two 18.16
/// servers, one replica of each of two shards, and a ZooKeeper, started by the test
/// (``ClickHouseReplicas``).
@Suite("ClickHouse shards", .serialized, .cleansUpScenarios)
struct ClickHouseShardTests {
    private static let columns = "id, value, amount, note, extra, lower(hex(MD5(big)))"

    /// The source rows as ClickHouse prints ``columns`` in TabSeparated, one line per row.
    private func sourceRows(_ scenario: Scenario) async throws -> String {
        try await scenario.sourceScalar(
            """
            SELECT coalesce(string_agg(concat_ws(E'\\t', id, value, amount, coalesce(note, '\\N'), coalesce(extra::text, '\\N'), md5(big)), E'\\n' ORDER BY id), '')
            FROM readings
            """) ?? ""
    }

    private func rows(on server: ClickHouseServer, _ scenario: Scenario, _ sql: String) async throws -> String {
        try await server.query(sql.replacingOccurrences(of: "$db", with: "`\(scenario.warehouseDatabase)`") + " FORMAT TabSeparated")
            .trimmingCharacters(in: .newlines)
    }

    @Test(
        "a pipeline into a two-shard cluster: rows spread by key, Forager's tables on every server; a shard killed mid-stream holds the checkpoint back until it returns, then every server's view equals the source"
    )
    func shardKilledMidStream() async throws {
        let cluster = try await ClickHouseReplicas.start(name: "shards", shards: 2)
        defer { cluster.stop() }
        let first = cluster.replicas[0]
        // big is stored out of line, so an update of another column sends it as unchanged TOAST.
        let scenario = try await Scenario.make(
            sourceSQL: """
                CREATE TABLE readings (id bigint PRIMARY KEY, value double precision, amount numeric(10,2), note text, big text);
                ALTER TABLE readings ALTER COLUMN big SET STORAGE EXTERNAL;
                INSERT INTO readings SELECT g, g / 8.0, g / 4.0, 'r' || g, CASE WHEN g % 50 = 0 THEN repeat(md5(g::text), 100) ELSE 's' END
                FROM generate_series(1, 1000) g;
                CREATE TABLE tags (id uuid PRIMARY KEY, label text);
                INSERT INTO tags SELECT md5(g::text)::uuid, 't' || g FROM generate_series(1, 200) g;
                CREATE TABLE events (device int NOT NULL, kind text);
                INSERT INTO events SELECT g % 4, 'boot' FROM generate_series(1, 400) g;
                """,
            mapping: "tables:\n  - source: readings\n  - source: tags\n  - source: events\n    append_only: true\n", clickHouse: first,
            clickHouseCredentials: "  cluster: \(ClickHouseReplicas.cluster)\n  sharding: true")
        let running = try scenario.launch(["run"])
        try await scenario.eventually(timeout: .seconds(120), "streaming") {
            await httpGet(port: scenario.metricsPort, "/readyz")?.status == 200
        }

        try await expectShardedTables(cluster, scenario)
        try await streamThroughAShardOutage(cluster, scenario, running)
        let expected = try await expectRowsOnEveryServer(cluster, scenario)
        try await replayEvents(cluster, scenario)
        try await truncateAndResync(cluster, scenario, expected: expected)
        try await refuseShardingOfAFilledDatabase(cluster)
    }

    /// The mapped tables are Distributed tables over a local table per shard; Forager's own
    /// tables are replicated across both servers (a path without {shard}).
    private func expectShardedTables(_ cluster: ClickHouseReplicas, _ scenario: Scenario) async throws {
        let engines = "SELECT name, engine FROM system.tables WHERE database = '\(scenario.warehouseDatabase)' ORDER BY name"
        let expectedEngines =
            ["_forager_columns", "_forager_source_types", "_forager_state", "_forager_tables"].map { "\($0)\tReplicatedReplacingMergeTree" }
            + ["events\tDistributed", "events_current\tView", "events_local\tReplicatedReplacingMergeTree"]
            + ["readings\tDistributed", "readings_current\tView", "readings_local\tReplicatedReplacingMergeTree"]
            + ["tags\tDistributed", "tags_current\tView", "tags_local\tReplicatedReplacingMergeTree"]
        let paths =
            "SELECT count() FROM system.replicas WHERE database = '\(scenario.warehouseDatabase)' AND table LIKE '\\\\_forager%' AND zookeeper_path LIKE '/clickhouse/tables/all/%'"
        for server in cluster.replicas {
            #expect(try await rows(on: server, scenario, engines) == expectedEngines.joined(separator: "\n"), "\(server.url)")
            #expect(try await rows(on: server, scenario, paths) == "4", "\(server.url)")
        }
    }

    private func checkpoint(on server: ClickHouseServer, _ scenario: Scenario) async throws -> String {
        try await rows(on: server, scenario, "SELECT max(lsn) FROM $db._forager_state")
    }

    /// Streams changes, then kills the second shard while more are written, and waits until the
    /// checkpoint passes them after it returns.
    private func streamThroughAShardOutage(_ cluster: ClickHouseReplicas, _ scenario: Scenario, _ running: ChildProcess) async throws {
        let (first, second) = (cluster.replicas[0], cluster.replicas[1])
        // Streamed changes: an added column (ALTER on every shard), updates (the big values
        // unchanged TOAST), deletes, inserts, and key updates that move rows between shards.
        try await scenario.onSource(
            """
            ALTER TABLE readings ADD COLUMN extra integer;
            UPDATE readings SET value = value + 1, extra = id % 7 WHERE id % 25 = 0;
            DELETE FROM readings WHERE id % 40 = 3;
            INSERT INTO readings (id, value, amount, note, extra, big) SELECT g, g / 3.0, g, 'n', g % 5, 's' FROM generate_series(2001, 2300) g;
            UPDATE readings SET id = id + 100000 WHERE id % 30 = 0;
            UPDATE tags SET label = 'u' WHERE label LIKE 't1%';
            COPY events (device) FROM PROGRAM 'yes 7 | head -n 300';
            """)
        let streamed = try await scenario.sourceScalar("SELECT (pg_current_wal_lsn() - '0/0')::bigint") ?? ""
        try await scenario.eventually(timeout: .seconds(60), "the checkpoint passing the streamed changes") {
            (UInt64(try await checkpoint(on: first, scenario)) ?? 0) >= (UInt64(streamed) ?? .max)
        }

        // The second shard is killed: inserts through the Distributed table fail, Forager retries,
        // and the checkpoint stays before the end of the transaction written meanwhile until the
        // shard returns. It may move up to positions before that end: a heartbeat written while
        // the transaction ran, other databases' WAL (a transaction is decoded at its commit).
        second.kill()
        try await Task.sleep(for: .seconds(1))
        try await scenario.onSource(
            """
            INSERT INTO readings (id, value, amount, note, extra, big) SELECT g, g / 7.0, g, 'during', 1, 's' FROM generate_series(3001, 3200) g;
            UPDATE readings SET note = 'moved', id = id + 200000 WHERE id % 30 = 2;
            COPY events (device) FROM PROGRAM 'yes 8 | head -n 200';
            """)
        let afterWrite = try await scenario.sourceScalar("SELECT (pg_current_wal_lsn() - '0/0')::bigint") ?? ""
        try await Task.sleep(for: .seconds(6))
        #expect(running.poll() == nil, "forager run stopped while a shard was down:\n\(running.output)")
        #expect(
            running.output.contains("All connection tries failed"),
            "no insert was refused while a shard was down:\n\(running.output.suffix(3000))")
        let whileDown = try await checkpoint(on: first, scenario)
        #expect(
            (UInt64(whileDown) ?? .max) < (UInt64(afterWrite) ?? 0),
            "a checkpoint (\(whileDown)) was stored past rows the killed shard lacks (written up to \(afterWrite))")
        try await second.resume()
        let end = try await scenario.sourceScalar("SELECT (pg_current_wal_lsn() - '0/0')::bigint") ?? ""
        try await scenario.eventually(timeout: .seconds(90), "the checkpoint passing the rows written while the shard was down") {
            (UInt64(try await checkpoint(on: first, scenario)) ?? 0) >= (UInt64(end) ?? .max)
        }
        running.signal(SIGTERM)
        _ = try await running.wait(timeout: .seconds(60))
    }

    /// Each shard holds some rows, no key on both, and together exactly the source's rows; every
    /// server's views show the source's rows, the checkpoints agree and validate finds the
    /// tables equal. Returns the source's rows of readings.
    private func expectRowsOnEveryServer(_ cluster: ClickHouseReplicas, _ scenario: Scenario) async throws -> String {
        let (first, second) = (cluster.replicas[0], cluster.replicas[1])
        let expected = try await sourceRows(scenario)
        let sourceCount = expected.split(separator: "\n").count
        #expect(sourceCount == 1475, "the source's changes ran: 1000 copied, 25 deleted, 500 inserted")
        var union: [Substring] = []
        for server in cluster.replicas {
            let local = try await rows(
                on: server, scenario, "SELECT \(Self.columns) FROM $db.readings_local FINAL WHERE _forager_deleted = 0 ORDER BY id")
            #expect(!local.isEmpty, "no rows on the shard of \(server.url)")
            union += local.split(separator: "\n")
        }
        let byKey = union.sorted { Int($0.prefix { $0 != "\t" })! < Int($1.prefix { $0 != "\t" })! }
        #expect(byKey.joined(separator: "\n") == expected, "the shards' rows together are not the source's")
        for server in cluster.replicas {
            _ = try await server.query("SYSTEM SYNC REPLICA `\(scenario.warehouseDatabase)`._forager_state")
            let actual = try await rows(on: server, scenario, "SELECT \(Self.columns) FROM $db.readings_current ORDER BY id")
            #expect(actual == expected, "rows differ on \(server.url)")
        }
        try await expectEventsOnEveryServer(cluster, scenario)
        let checkpoints = [try await checkpoint(on: first, scenario), try await checkpoint(on: second, scenario)]
        #expect(checkpoints[0] == checkpoints[1] && checkpoints[0] != "0", "\(checkpoints)")
        let validation = try await scenario.forager(["validate", "--wait", "0"])
        // tags has a uuid key, compared by set: validate's subqueries over its helper tables,
        // which only the first server has, run there (GLOBAL IN).
        #expect(validation.contains("public.readings: equal") && validation.contains("public.tags: equal"), "\(validation)")
        return expected
    }

    /// The append-only table's rows, spread by their version and place: on both shards, and
    /// every insert once through each server's view, also those retried while a shard was down
    /// (an insert refused by one shard may have been written on the other).
    private func expectEventsOnEveryServer(_ cluster: ClickHouseReplicas, _ scenario: Scenario) async throws {
        let expected = try await scenario.sourceScalar(
            "SELECT string_agg(device || E'\\t' || n, E'\\n' ORDER BY device) FROM (SELECT device, count(*) AS n FROM events GROUP BY device) x"
        )
        #expect(expected == "0\t100\n1\t100\n2\t100\n3\t100\n7\t300\n8\t200")
        for server in cluster.replicas {
            #expect(try await rows(on: server, scenario, "SELECT count() > 0 FROM $db.events_local") == "1", "\(server.url)")
            let actual = try await rows(
                on: server, scenario, "SELECT device, count() FROM $db.events_current GROUP BY device ORDER BY device")
            #expect(actual == expected, "events differ on \(server.url)")
        }
    }

    /// A replay of the stream (the slot and the checkpoint taken back to before a COPY into the
    /// append-only table) writes its rows again: each lands on the shard of its first copy,
    /// where it is merged with it, so every server's view counts each row once.
    private func replayEvents(_ cluster: ClickHouseReplicas, _ scenario: Scenario) async throws {
        let replay = try await ClickHouseReplay.mark(scenario, on: cluster.replicas[0])
        try await scenario.onSource("COPY events (device) FROM PROGRAM 'yes 9 | head -n 100'")
        try await scenario.forager(["sync"])
        try await replay.rewind()
        let replayed = try await scenario.forager(["sync"])
        for server in cluster.replicas {
            let counted = try await rows(on: server, scenario, "SELECT count() FROM $db.events_current WHERE device = 9")
            #expect(counted == "100", "\(server.url) counts \(counted) rows of the replayed COPY:\n\(replayed)")
        }
    }

    /// A TRUNCATE on the source empties tags on both shards; a resync makes readings' tables
    /// again on every server and copies its rows onto both shards.
    private func truncateAndResync(_ cluster: ClickHouseReplicas, _ scenario: Scenario, expected: String) async throws {
        let localPath =
            "SELECT zookeeper_path FROM system.replicas WHERE database = '\(scenario.warehouseDatabase)' AND table = 'readings_local'"
        let pathsBefore = try await cluster.replicas.asyncMap { try await rows(on: $0, scenario, localPath) }
        try await scenario.onSource("TRUNCATE tags; INSERT INTO tags SELECT md5(g::text)::uuid, 'again' FROM generate_series(1, 40) g;")
        try await scenario.forager(["resync", "--table", "public.readings"])
        try await scenario.forager(["sync"])
        for server in cluster.replicas {
            #expect(
                try await rows(on: server, scenario, "SELECT count(), countIf(label = 'again') FROM $db.tags_current") == "40\t40",
                "\(server.url)")
            #expect(try await rows(on: server, scenario, "SELECT count() > 0 FROM $db.readings_local") == "1", "\(server.url)")
            let actual = try await rows(on: server, scenario, "SELECT \(Self.columns) FROM $db.readings_current ORDER BY id")
            #expect(actual == expected, "rows differ on \(server.url) after the resync")
        }
        let pathsAfter = try await cluster.replicas.asyncMap { try await rows(on: $0, scenario, localPath) }
        #expect(
            zip(pathsBefore, pathsAfter).allSatisfy { $0 != $1 && !$1.isEmpty },
            "the resync did not make the local tables again: \(pathsBefore) \(pathsAfter)")
    }

    /// A database Forager filled without sharding: turning sharding on is refused, naming the
    /// table replicated within one shard, and nothing is changed.
    private func refuseShardingOfAFilledDatabase(_ cluster: ClickHouseReplicas) async throws {
        let first = cluster.replicas[0]
        let unsharded = try await Scenario.make(
            sourceSQL: "CREATE TABLE notes (id bigint PRIMARY KEY, body text); INSERT INTO notes VALUES (1, 'a');",
            tables: ["notes"], clickHouse: first, clickHouseCredentials: "  cluster: \(ClickHouseReplicas.cluster)")
        try await unsharded.forager(["sync"])
        let config = try String(contentsOfFile: unsharded.configPath, encoding: .utf8)
        try config.replacingOccurrences(
            of: "cluster: \(ClickHouseReplicas.cluster)", with: "cluster: \(ClickHouseReplicas.cluster)\n  sharding: true"
        )
        .write(toFile: unsharded.configPath, atomically: true, encoding: .utf8)
        let refused = try await unsharded.forager(["sync"], expectStatus: 1)
        #expect(refused.contains("warehouse.sharding is on, but Forager's table") && refused.contains("_forager_state"), "\(refused)")
        #expect(
            try await rows(
                on: first, unsharded,
                "SELECT engine FROM system.tables WHERE database = '\(unsharded.warehouseDatabase)' AND name = 'notes'")
                == "ReplicatedReplacingMergeTree")
    }
}
