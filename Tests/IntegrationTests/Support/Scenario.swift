import ForagerDemo
import Foundation
import Glibc
import LibPQ
import Testing

/// One test's world: a source database, a warehouse database, a slot, and config files for Forager.
struct Scenario {
    let source: LocalCluster
    let warehouse: LocalCluster
    let id: Int
    let directory: String
    /// Where `forager run` serves /metrics, /healthz, /readyz and /status.
    let metricsPort: Int
    /// Whether `warehouse` is the scenario's own cluster, stopped by ``cleanUp()``.
    let ownsWarehouse: Bool
    /// A ClickHouse server started for this scenario alone, stopped by ``cleanUp()``.
    let ownClickHouse: ClickHouseServer?

    var sourceDatabase: String { "src_\(id)" }
    var warehouseDatabase: String { "wh_\(id)" }
    var slot: String { "forager_\(id)" }
    var configPath: String { directory + "/forager.yaml" }
    var sourceURL: String { source.url(sourceDatabase) }
    var warehouseURL: String { warehouse.url(warehouseDatabase) }

    /// Creates both databases, runs `sourceSQL` on the source, and writes a config that maps `tables`
    /// (`schema.table` as in a mapping file) into the warehouse schema `analytics`; `mapping`, when
    /// given, is written as the mapping file instead.
    /// `batch` is more top-level YAML (batch, alerts, shutdown sections); `heartbeat` is
    /// `source.heartbeat_interval_s`; `source` and `warehouse` replace the shared clusters (for tests
    /// that stop them); `ownWarehouse` names a warehouse cluster started for this scenario alone (for
    /// tests that pause it), stopped when the test ends; `ownClickHouse` is a ClickHouse server started
    /// for this scenario alone, its warehouse instead of `clickHouse`, stopped when the test ends;
    /// `sourceDatabaseOptions` follows `CREATE DATABASE` for the source (`ENCODING 'LATIN1' ...`).
    static func make(
        sourceSQL: String, tables: [String] = [], mapping: String? = nil, batch: String = "", heartbeat: Int = 1,
        clickHouse: ClickHouseServer? = nil,
        clickHouseCredentials: String = "", source: LocalCluster? = nil, warehouse: LocalCluster? = nil, ownWarehouse: String? = nil,
        ownClickHouse: ClickHouseServer? = nil, readyMaxLag: Int? = nil, sourceDatabaseOptions: String = ""
    ) async throws -> Scenario {
        let shared = try await SharedClusters.shared.get()
        let own = try ownWarehouse.map { try LocalCluster.startForTests(name: $0, settings: [:]) }
        let clusters = (source: source ?? shared.source, warehouse: own ?? warehouse ?? shared.warehouse)
        let id = await SharedClusters.shared.nextID()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("forager-scenario-\(getpid())-\(id)").path
        try FileManager.default.createDirectory(atPath: directory + "/mappings", withIntermediateDirectories: true)
        let scenario = Scenario(
            source: clusters.source, warehouse: clusters.warehouse, id: id, directory: directory, metricsPort: try LocalCluster.freePort(),
            ownsWarehouse: own != nil, ownClickHouse: ownClickHouse)
        try await clusters.source.execute("CREATE DATABASE \(scenario.sourceDatabase) \(sourceDatabaseOptions)", database: "postgres")
        try await clusters.warehouse.execute("CREATE DATABASE \(scenario.warehouseDatabase)", database: "postgres")
        try await clusters.source.execute(sourceSQL, database: scenario.sourceDatabase)
        let warehouseSection =
            (ownClickHouse ?? clickHouse).map {
                """
                warehouse:
                  type: clickhouse
                  url: "\($0.url)"
                  database: \(scenario.warehouseDatabase)
                \(clickHouseCredentials)
                """
            } ?? """
                warehouse:
                  type: postgres
                  url: "\(scenario.warehouseURL)"
                  schema: analytics
                """
        let config = """
            source:
              url: "\(scenario.sourceURL)"
              publication: forager_pub
              slot: \(scenario.slot)
              heartbeat_interval_s: \(heartbeat)
              spill_dir: spill
            \(warehouseSection)
            \(batch)
            metrics:
              listen: "127.0.0.1:\(scenario.metricsPort)"
            \(readyMaxLag.map { "  ready_max_lag_s: \($0)" } ?? "")
            mappings: mappings
            """
        try config.write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
        try config.write(toFile: scenario.directory + "/forager.yaml.original", atomically: true, encoding: .utf8)
        try scenario.writeMapping(mapping ?? "tables:\n" + tables.map { "  - source: '\($0)'\n" }.joined())
        if let cleanup = ScenarioCleanup.current {
            cleanup.add(scenario)
        } else {
            Issue.record("a scenario made outside a suite with the .cleansUpScenarios trait would never be cleaned up")
        }
        return scenario
    }

    /// Replaces the scenario's mapping file.
    func writeMapping(_ yaml: String) throws {
        try yaml.write(toFile: directory + "/mappings/app.yaml", atomically: true, encoding: .utf8)
    }

    /// Points the config at another source URL.
    func rewriteConfig(sourceURL: String? = nil, warehouseURL: String? = nil) throws {
        let original = try String(contentsOfFile: directory + "/forager.yaml.original", encoding: .utf8)
        try original.replacingOccurrences(of: self.sourceURL, with: sourceURL ?? self.sourceURL)
            .replacingOccurrences(of: self.warehouseURL, with: warehouseURL ?? self.warehouseURL)
            .write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// Runs SQL on the source database.
    func onSource(_ sql: String) async throws {
        try await source.execute(sql, database: sourceDatabase)
    }

    /// Runs each statement as its own transaction, in order, on one source connection.
    func onSourceEach(_ statements: [String]) async throws {
        let connection = try await source.connect(sourceDatabase)
        defer { connection.close() }
        for statement in statements { try await connection.execute(statement) }
    }

    /// Runs `forager sync`, then `statements` as ``onSourceEach(_:)`` does, then `forager sync`
    /// again: the changes reach the warehouse through the stream, after the copy.
    func syncBeforeAndAfter(_ statements: [String]) async throws {
        try await forager(["sync"])
        try await onSourceEach(statements)
        try await forager(["sync"])
    }

    func sourceScalar(_ sql: String) async throws -> String? {
        try await source.scalar(sql, database: sourceDatabase)
    }

    func warehouseScalar(_ sql: String) async throws -> String? {
        try await warehouse.scalar(sql, database: warehouseDatabase)
    }

    /// Runs `forager <arguments> --config <config>` to completion.
    @discardableResult
    func forager(
        _ arguments: [String], expectStatus: Int32 = 0, timeout: Duration = .seconds(300), environment: [String: String] = [:]
    ) async throws -> String {
        let process = try launch(arguments, environment: environment)
        let status = try await process.wait(timeout: timeout)
        let output = process.output
        if status != expectStatus {
            Issue.record("forager \(arguments.joined(separator: " ")) exited \(status), expected \(expectStatus):\n\(output)")
        }
        Self.expectNoSecret(in: output, of: arguments)
        return output
    }

    /// The passwords the tests give Forager; no output of any forager command may show one.
    static let testSecrets = [
        ClickHouseServer.password, "the-password", "not-the-password", "wrong-pw-123", "Src-S3cret-Pw-", "Wh-S3cret-Pw-",
    ]

    /// Records an issue when `output` shows a test password.
    static func expectNoSecret(in output: String, of arguments: [String]) {
        for secret in testSecrets where output.contains(secret) {
            Issue.record("forager \(arguments.joined(separator: " ")) printed the test secret \(secret.debugDescription):\n\(output)")
        }
    }

    /// Starts `forager <arguments> --config <config>` in the background; its output goes to a log file.
    func launch(_ arguments: [String], environment extra: [String: String] = [:]) throws -> ChildProcess {
        // Kept after the test under FORAGER_TEST_LOGS, where scripts/test checks them for passwords.
        let logDirectory = ProcessInfo.processInfo.environment["FORAGER_TEST_LOGS"] ?? directory
        let log = logDirectory + "/forager-\(id)-\(arguments.first ?? "")-\(UInt32.random(in: 0...UInt32.max)).log"
        let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("FORAGER_") }.merging(extra) { $1 }
        let process = try ChildProcess(Self.foragerBinary, arguments + ["--config", configPath], outputPath: log, environment: environment)
        // A test that fails before stopping it leaves it running: killed when the test process exits.
        ExitCleanup.register {
            guard process.poll() == nil else { return }
            process.signal(SIGKILL)
            _ = process.waitBlocking()
        }
        return process
    }

    /// Starts `forager <arguments>` (a run) and waits until it answers ready on its endpoint.
    func launchStreaming(_ arguments: [String] = ["run"]) async throws -> ChildProcess {
        let process = try launch(arguments)
        try await eventually("streaming") { await httpGet(port: metricsPort, "/readyz")?.status == 200 }
        return process
    }

    /// Starts `forager run` as ``launchStreaming(_:)`` does and, once it streams, runs `statements`
    /// as ``onSourceEach(_:)`` does: changes that reach the warehouse while Forager streams.
    func launchStreaming(thenEach statements: [String]) async throws -> ChildProcess {
        let process = try await launchStreaming()
        try await onSourceEach(statements)
        return process
    }

    /// Runs `statements(round)` on the source over and over, pausing `pause` between rounds,
    /// until the returned task is cancelled.
    func writeContinuously(pause: Duration = .milliseconds(20), _ statements: @escaping @Sendable (Int) -> String) -> Task<Void, any Error>
    {
        Task {
            let connection = try await source.connect(sourceDatabase)
            defer { connection.close() }
            var round = 0
            while !Task.isCancelled {
                round += 1
                try await connection.execute(statements(round))
                try await Task.sleep(for: pause)
            }
        }
    }

    /// Polls `condition` until it holds or `timeout` passes; an error (say, a table that does not
    /// exist yet) counts as not yet.
    func eventually(timeout: Duration = .seconds(60), _ what: String, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if (try? await condition()) == true { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw HarnessError("timed out waiting for \(what)")
    }

    /// SQL that makes `table` (`columns`), partitioned by range of the date `key`, with a partition
    /// `<table>_<year>` for each of `years`.
    static func yearlyPartitions(_ table: String, _ columns: String, by key: String, years: ClosedRange<Int>) -> String {
        "CREATE TABLE \(table) (\(columns)) PARTITION BY RANGE (\(key));\n"
            + years.map { "CREATE TABLE \(table)_\($0) PARTITION OF \(table) FOR VALUES FROM ('\($0)-01-01') TO ('\($0 + 1)-01-01');\n" }
            .joined()
    }

    /// A digest of a table's content (row count and md5 of every row in key order) over `columns`.
    static func digestSQL(table: String, columns: [String], key: [String]) -> String {
        let list = columns.map { "\"\($0)\"" }.joined(separator: ", ")
        let order = key.map { "x.\"\($0)\"" }.joined(separator: ", ")
        return
            "SELECT count(*)::text || ':' || coalesce(md5(string_agg(x::text, E'\\n' ORDER BY \(order))), '') FROM (SELECT \(list) FROM \(table)) x"
    }

    /// Expects the warehouse copy of `sourceTable` to equal the source, row for row; `targetColumns`
    /// names the warehouse's columns where the mapping renames them (the key keeps its names).
    func expectSameContent(
        source sourceTable: String, target: String, columns: [String], key: [String] = ["id"], targetColumns: [String]? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let sourceDigest = try await sourceScalar(Self.digestSQL(table: sourceTable, columns: columns, key: key))
        let warehouseDigest = try await warehouseScalar(Self.digestSQL(table: target, columns: targetColumns ?? columns, key: key))
        #expect(sourceDigest == warehouseDigest, "content of \(sourceTable) differs from \(target)", sourceLocation: sourceLocation)
    }

    /// The warehouse checkpoint for this scenario's slot.
    func checkpoint() async throws -> String? {
        try await warehouseScalar("SELECT lsn::text FROM analytics._forager_state WHERE slot = '\(slot)'")
    }

    /// Drops the scenario's slot, removes its files and stops a warehouse or ClickHouse server of its own; run by
    /// ``ScenarioCleanup`` after the test.
    func cleanUp() async {
        try? await source.execute(
            "SELECT pg_drop_replication_slot('\(slot)') FROM pg_replication_slots WHERE slot_name = '\(slot)' AND NOT active",
            database: "postgres")
        try? FileManager.default.removeItem(atPath: directory)
        if ownsWarehouse { warehouse.stop() }
        ownClickHouse?.stop()
    }

    /// The forager executable built next to the test bundle (or FORAGER_BIN).
    static var foragerBinary: String {
        if let path = ProcessInfo.processInfo.environment["FORAGER_BIN"] { return path }
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        if directory.pathExtension == "xctest" { directory = directory.deletingLastPathComponent() }
        return directory.appendingPathComponent("forager").path
    }
}
