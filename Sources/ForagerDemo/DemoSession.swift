public import ForagerConfig
public import ForagerPipeline
import Foundation
import Glibc
import LibPQ
public import Logging
import Synchronization

/// The demo's moving parts and what they created, so that all of it is removed at the end.
public struct DemoSession {
    let hives: Int
    let rate: Int
    let logger: Logger
    /// The pipeline for a configuration, which winds down once its stop signal is set.
    let makePipeline: @Sendable (ForagerConfiguration, StopSignal) -> Pipeline
    /// The warehouse, when it is not a throwaway PostgreSQL cluster.
    let warehouse: DemoWarehouse?
    private var clusters: [LocalCluster] = []
    private var directory: String?

    /// A demo of a fleet of `hives` posting `rate` samples a second while awake, replicated by the
    /// pipelines `makePipeline` makes, into `warehouse` (by default a throwaway PostgreSQL cluster, or
    /// FORAGER_WAREHOUSE_URL).
    public init(
        hives: Int, rate: Int, logger: Logger, warehouse: DemoWarehouse? = nil,
        makePipeline: @escaping @Sendable (ForagerConfiguration, StopSignal) -> Pipeline
    ) {
        self.hives = hives
        self.rate = rate
        self.logger = logger
        self.warehouse = warehouse
        self.makePipeline = makePipeline
    }

    /// Stops the clusters the demo started and removes its files.
    public func tearDown() {
        clusters.forEach { $0.stop() }
        if let directory { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// Runs the demo; returns true when every sample written at the source is in the warehouse.
    public mutating func run(until duration: Duration?, stop: StopSignal) async throws -> Bool {
        let (sourceURL, target) = try startServers()
        guard let migrations = locateBundledFolder("migrations/iot"), let mapping = locateBundledFolder(target.mapping) else {
            throw DemoError("could not find migrations/iot and \(target.mapping); run the demo from the Forager checkout")
        }
        say("applying the IoT schema and seeding \(hives) hives")
        let source = try await PGConnection.connect(ConnectionString(sourceURL))
        defer { source.close() }
        try await MigrationRunner.apply(try MigrationRunner.load(directory: migrations), on: source, logger: logger)
        let load = FleetLoad(shape: .init(hives: hives, burstRate: rate))
        if try await source.query("SELECT count(*) FROM hives").scalar == "0" { try await load.seed(source) }

        let configuration = try writeConfiguration(sourceURL: sourceURL, warehouse: target, mapping: mapping)
        say("starting Forager (snapshot, then streaming) into \(target.name)")
        let pipelineStop = StopSignal()
        let failure = Mutex<String?>(nil)
        let status = PipelineStatus(
            slotName: configuration.source.slot, heartbeatInterval: configuration.source.heartbeatInterval, readyMaxLag: .seconds(60))
        let pipeline = Task { [makePipeline] in
            var pipeline = makePipeline(configuration, pipelineStop)
            pipeline.status = status
            do { try await pipeline.runForever() } catch {
                failure.withLock { $0 = "\(error)" }
            }
        }
        let monitor = Task { [logger] in
            await Self.monitor(configuration: configuration, status: status, logger: logger, until: pipelineStop)
        }
        let warehouse = try await PGConnection.connect(ConnectionString(target.measureURL))
        defer { warehouse.close() }
        try await waitFor("the snapshot", failure: failure) {
            let rows = try await warehouse.query("SELECT count(*) FROM analytics._forager_state")
            return rows.scalar.map { $0 != "0" } ?? false
        }

        say("the fleet wakes up every 10 s and posts for 3 s at \(rate) samples/s; Ctrl-C ends the demo")
        let counters = FleetLoad.Counters()
        let loadStop = StopSignal()
        var writers: [PGConnection] = []
        for _ in 0..<4 { writers.append(try await PGConnection.connect(ConnectionString(sourceURL))) }
        defer { writers.forEach { $0.close() } }
        let fleet = Task { [writers] in await load.run(connections: writers, counters: counters, shouldStop: { loadStop.isSet }) }
        let report = ReportRunner(url: target.reportURL)
        let reports = Task { await report.loop(until: loadStop) }

        var view = LiveView(interactive: isatty(STDOUT_FILENO) == 1)
        let started = ContinuousClock.now
        while !stop.isSet, duration.map({ ContinuousClock.now - started < $0 }) ?? true {
            if let message = failure.withLock({ $0 }) { throw DemoError("Forager stopped: \(message)") }
            _ = await stop.wait(until: .now + .seconds(1))
            try Task.checkCancellation()
            try await view.tick(
                counters: counters, warehouse: warehouse, report: report, foragerLag: status.lag, target: rate,
                elapsed: ContinuousClock.now - started)
        }
        loadStop.set()
        await fleet.value
        await reports.value

        say("load stopped; waiting for the warehouse to catch up")
        let sourceCount = try await source.query("SELECT count(*) FROM samples").scalar ?? "0"
        try await waitFor("the warehouse to catch up", timeout: .seconds(300), failure: failure) {
            try await warehouse.query("SELECT count(*) FROM analytics.samples").scalar == sourceCount
        }
        pipelineStop.set()
        await pipeline.value
        await monitor.value
        return try await summary(
            counters: counters, source: source, warehouse: warehouse, report: report, foragerLag: view.foragerLag, lagNote: target.lagNote)
    }

    /// Heartbeats on the source every `source.heartbeat_interval_s`, as `forager run` writes
    /// them, so that `status` measures Forager's own lag; until `stop` is set.
    private static func monitor(configuration: ForagerConfiguration, status: PipelineStatus, logger: Logger, until stop: StopSignal) async {
        var monitor = PipelineMonitor(configuration: configuration, status: status, metrics: PipelineMetrics(), logger: logger)
        defer { monitor.close() }
        while !stop.isSet {
            await monitor.round()
            _ = await stop.wait(until: .now + monitor.interval)
        }
    }

    private mutating func startServers() throws -> (String, DemoWarehouse) {
        let environment = ProcessInfo.processInfo.environment
        if warehouse == nil, let source = environment["FORAGER_SOURCE_URL"], let url = environment["FORAGER_WAREHOUSE_URL"] {
            say("using FORAGER_SOURCE_URL and FORAGER_WAREHOUSE_URL")
            return (source, .postgres(url: url))
        }
        say("starting a throwaway source cluster\(warehouse == nil ? " and a warehouse cluster" : "")")
        let source = try LocalCluster.start(name: "demo-source", settings: ["wal_level": "logical", "max_replication_slots": "10"])
        clusters.append(source)
        if let warehouse { return (source.url(), warehouse) }
        let cluster = try LocalCluster.start(name: "demo-warehouse", settings: [:])
        clusters.append(cluster)
        return (source.url(), .postgres(url: cluster.url()))
    }

    private mutating func writeConfiguration(sourceURL: String, warehouse: DemoWarehouse, mapping: String) throws -> ForagerConfiguration {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("forager-demo-\(getpid())").path
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory + "/mappings", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: mapping, toPath: directory + "/mappings/iot.yaml")
        let config = """
            source:
              url: \(DemoWarehouse.yamlQuoted(sourceURL))
              publication: forager_demo
              slot: forager_demo
              heartbeat_interval_s: 1
            warehouse:
            \(warehouse.settings)  schema: analytics
            mappings: mappings
            """
        try config.write(toFile: directory + "/forager.yaml", atomically: true, encoding: .utf8)
        return try ForagerConfiguration.load(path: directory + "/forager.yaml", environment: [:])
    }

    private func waitFor(
        _ what: String, timeout: Duration = .seconds(120), failure: borrowing Mutex<String?>, _ condition: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let message = failure.withLock({ $0 }) { throw DemoError("Forager stopped: \(message)") }
            if (try? await condition()) == true { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw DemoError("timed out waiting for \(what)")
    }

    private func summary(
        counters: FleetLoad.Counters, source: PGConnection, warehouse: PGConnection, report: ReportRunner, foragerLag: LagSummary,
        lagNote: String
    ) async throws -> Bool {
        let digest = "SELECT count(*) || ' rows, id digest ' || coalesce(md5(string_agg(id::text, ',' ORDER BY id)), '-') FROM "
        let sourceDigest = try await source.query(digest + "samples").scalar ?? ""
        let warehouseDigest = try await warehouse.query(digest + "analytics.samples").scalar ?? ""
        let lag = try await warehouse.query(
            """
            SELECT round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM _forager_synced_at - created_at)) * 1000)::numeric),
                   round((percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM _forager_synced_at - created_at)) * 1000)::numeric)
            FROM analytics.samples
            """)
        let equal = sourceDigest == warehouseDigest
        print(
            """

            Summary
              samples posted by the fleet:  \(counters.samples) in \(counters.uploads) uploads (\(counters.failures) failed uploads)
              samples at the source:        \(sourceDigest)
              samples in the warehouse:     \(warehouseDigest)
              lag (commit to warehouse):    p50 \(lag.rows.first?[0] ?? "-") ms, p99 \(lag.rows.first?[1] ?? "-") ms (\(lagNote))
              Forager's own lag:            \(foragerLag.text) (heartbeats, read each second)
              heavy report on warehouse:    \(report.summary)
              \(equal ? "every sample written at the source is in the warehouse" : "MISMATCH: the warehouse does not hold exactly the source's samples")
            """)
        return equal
    }

    private func say(_ text: String) { print("forager demo: \(text)") }
}

/// Why the demo could not go on.
public struct DemoError: Error, CustomStringConvertible {
    public let description: String

    init(_ description: String) {
        self.description = description
    }
}
