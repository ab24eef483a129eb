import ForagerDemo
import Foundation
import LibPQ
import Logging
import Testing

@Suite("IoT schema, fleet load and the demo", .serialized, .cleansUpScenarios)
struct DemoTests {
    private static var repositoryRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    @Test("the migrations apply to an empty database and a second run changes nothing")
    func migrationsAreIdempotent() async throws {
        let clusters = try await SharedClusters.shared.get()
        let database = "migrate_\(await SharedClusters.shared.nextID())"
        try await clusters.source.execute("CREATE DATABASE \(database)", database: "postgres")
        let url = clusters.source.url(database)
        let directory = Self.repositoryRoot + "/migrations/iot"
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("migrate-\(database).log").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        for expected in ["applied 1, 2, 3, 4", "up to date"] {
            try? FileManager.default.removeItem(atPath: log)
            let child = try ChildProcess(Scenario.foragerBinary, ["migrate", "--url", url, "--directory", directory], outputPath: log)
            #expect(try await child.wait(timeout: .seconds(60)) == 0)
            #expect(child.output.contains(expected), "\(child.output)")
        }
        let tables = try await clusters.source.scalar(
            "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'", database: database)
        #expect(tables == "customers,devices,forager_migrations,hives,raw_uploads,samples,yards")
    }

    @Test("the fleet's uploads satisfy every constraint of the schema")
    func fleetLoadFitsTheSchema() async throws {
        let clusters = try await SharedClusters.shared.get()
        let database = "fleet_\(await SharedClusters.shared.nextID())"
        try await clusters.source.execute("CREATE DATABASE \(database)", database: "postgres")
        let connection = try await clusters.source.connect(database)
        defer { connection.close() }
        try await MigrationRunner.apply(
            try MigrationRunner.load(directory: Self.repositoryRoot + "/migrations/iot"), on: connection,
            logger: Logger(label: "test"))
        let load = FleetLoad(shape: .init(hives: 300, burstRate: 600))
        try await load.seed(connection)
        let counters = FleetLoad.Counters()
        let writer = try await clusters.source.connect(database)
        defer { writer.close() }
        let deadline = ContinuousClock.now + .seconds(3)
        await load.run(connections: [writer], counters: counters, shouldStop: { ContinuousClock.now > deadline })
        #expect(counters.failures == 0)
        #expect(counters.samples > 0)
        let stored = try await connection.query(
            """
            SELECT (SELECT count(*) FROM samples), (SELECT count(*) FROM raw_uploads),
                   (SELECT count(*) FROM raw_uploads u WHERE NOT EXISTS (SELECT 1 FROM samples s WHERE s.upload_id = u.id)),
                   (SELECT count(*) FROM samples s JOIN devices d ON d.id = s.device_id WHERE d.hive_id <> s.hive_id)
            """)
        #expect(stored.rows.first == [String(counters.samples), String(counters.uploads), "0", "0"])
    }

    @Test("forager demo --duration 15 exits 0 with every sample in the warehouse, showing Forager's own lag from heartbeats each second")
    func demoRunsEndToEnd() async throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("demo-\(getpid()).log").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("FORAGER_") }
        let child = try ChildProcess(Scenario.foragerBinary, ["demo", "--duration", "15"], outputPath: log, environment: environment)
        let status = try await child.wait(timeout: .seconds(300))
        #expect(status == 0, "\(child.output)")
        #expect(child.output.contains("every sample written at the source is in the warehouse"), "\(child.output)")
        #expect(child.output.contains(/at the source:\s+[1-9][0-9]* rows/), "the fleet should have posted samples")
        #expect(child.output.contains(/forager_lag=[0-9]+ms/), "no second showed Forager's own lag:\n\(child.output)")
        #expect(
            child.output.contains(/Forager's own lag: +p50 [0-9]+ ms, p99 [0-9]+ ms, max [0-9]+ ms over [1-9][0-9]* readings/),
            "\(child.output)")
    }

    @Test("forager demo --warehouse redshift-emulated replicates the fleet through S3 into the Redshift emulation, every sample arriving")
    func demoIntoRedshiftEmulation() async throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("demo-redshift-\(getpid()).log").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("FORAGER_") && !$0.key.hasPrefix("AWS_") }
        let child = try ChildProcess(
            Scenario.foragerBinary, ["demo", "--warehouse", "redshift-emulated", "--duration", "12", "--hives", "2000", "--rate", "1000"],
            outputPath: log, environment: environment)
        let status = try await child.wait(timeout: .seconds(300))
        #expect(status == 0, "\(child.output)")
        #expect(child.output.contains("into the Redshift emulation (S3 staging on moto at http://127.0.0.1:"), "\(child.output)")
        #expect(child.output.contains("every sample written at the source is in the warehouse"), "\(child.output)")
        #expect(child.output.contains(/at the source:\s+[1-9][0-9]* rows/), "the fleet should have posted samples")
        #expect(child.output.contains(/heavy report on warehouse: +[1-9][0-9]* runs/), "the report should have run through the emulator")
        #expect(!child.output.contains("SECRET_ACCESS_KEY '"), "a COPY with its keys was printed:\n\(child.output)")
    }
}
