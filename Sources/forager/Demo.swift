import ArgumentParser
import ForagerDemo
import ForagerPipeline
import Foundation
import Logging
import RedshiftTestSupport
import UnixSignals

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Everything local: throwaway source and warehouse, the IoT schema, a sensor fleet, and Forager between them.",
        discussion: """
            Starts two PostgreSQL clusters in a temporary directory (or uses FORAGER_SOURCE_URL and \
            FORAGER_WAREHOUSE_URL), applies migrations/iot, starts Forager, and runs a load generator that \
            behaves like a fleet of hive sensors. A live view shows ingestion, apply rate, lag and a heavy \
            report's time on the warehouse. Ctrl-C or --duration ends it with a summary and removes what it created. \
            With --warehouse redshift-emulated the warehouse is the test suite's Redshift emulation (a \
            PostgreSQL-wire front over a throwaway cluster, loading COPY from S3 on a local moto server, made \
            by ./scripts/prerequisites), and every change reaches it through S3.
            """)

    /// The warehouses the demo can start.
    enum WarehouseKind: String, ExpressibleByArgument, CaseIterable {
        case postgres
        case redshiftEmulated = "redshift-emulated"
    }

    @Option(help: "Hives in the fleet (one sensor each).")
    var hives = 50_000

    @Option(help: "Samples per second while the fleet is awake.")
    var rate = 5_000

    @Option(help: "Stop after this many seconds (default: until Ctrl-C).")
    var duration: Int?

    @Option(help: "The warehouse: a throwaway PostgreSQL cluster, or the Redshift emulation with S3 staging.")
    var warehouse: WarehouseKind = .postgres

    @Option(help: "Log level for Forager's own messages.")
    var logLevel: Logger.Level = .warning

    func validate() throws {
        guard hives >= 1 else { throw ValidationError("--hives must be at least 1") }
        guard rate >= 1 else { throw ValidationError("--rate must be at least 1") }
        if let duration, duration < 1 { throw ValidationError("--duration must be at least 1 second") }
    }

    func run() async throws {
        let logger = bootstrapLogging(level: logLevel)
        // Ctrl-C or SIGTERM ends the load; the demo then waits for the warehouse and summarises.
        let stop = StopSignal()
        let signals = Task {
            for await _ in await UnixSignalsSequence(trapping: .sigint, .sigterm) { stop.set() }
        }
        defer { signals.cancel() }
        do {
            var target: DemoWarehouse?
            var environment = ProcessInfo.processInfo.environment
            if warehouse == .redshiftEmulated {
                print("forager demo: starting the Redshift emulation (moto's S3, a PostgreSQL cluster, the emulator)")
                let redshift = try await EmulatedRedshift.shared()
                target = redshift.demoWarehouse
                environment.merge(redshift.environment) { _, emulation in emulation }
            }
            var session = DemoSession(hives: hives, rate: rate, logger: logger, warehouse: target) { [environment] configuration, stop in
                Pipeline(
                    configuration: configuration, logger: logger, stop: stop,
                    warehouses: .configured(configuration, logger: logger, environment: environment))
            }
            defer { session.tearDown() }
            let equal = try await session.run(until: duration.map { .seconds($0) }, stop: stop)
            if !equal { throw ExitCode(1) }
        } catch let error as ExitCode {
            throw error
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
