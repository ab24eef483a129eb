public import ArgumentParser
import ForagerConfig
import ForagerPipeline
import Foundation
public import Logging

@main
struct Forager: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forager",
        abstract: "Replicates PostgreSQL tables into a warehouse through logical replication.",
        subcommands: [
            Run.self, Sync.self, Check.self, Status.self, Validate.self, Resync.self, Drop.self, Reset.self, Demo.self, Migrate.self,
        ]
    )
}

/// Options every subcommand that works on a pipeline takes.
struct PipelineOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "The configuration file (YAML).")
    var config: String

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    @Option(help: "Log format: text (for people) or json (one object per line, for log shippers).")
    var logFormat: LogFormat = .text

    func validate() throws {
        guard FileManager.default.fileExists(atPath: config) else {
            throw ValidationError("configuration file '\(config)' does not exist")
        }
    }

    /// Sets up logging and loads the configuration, printing every problem and exiting on failure.
    func load() throws -> (ForagerConfiguration, Logger) {
        let logger = bootstrapLogging(level: logLevel, format: logFormat)
        do {
            let configuration = try ForagerConfiguration.load(path: config, environment: ProcessInfo.processInfo.environment)
            Redaction.register(configuration)
            return (configuration, logger)
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// How log records are written.
enum LogFormat: String, ExpressibleByArgument {
    case text, json
}

/// Sends every log record to standard error at `level` and above; the only place logging is set up.
func bootstrapLogging(level: Logger.Level, format: LogFormat = .text) -> Logger {
    LoggingSystem.bootstrap { label in
        switch format {
        case .text:
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return RedactingLogHandler(base: handler)
        case .json:
            var handler = JSONLogHandler(label: label)
            handler.logLevel = level
            return RedactingLogHandler(base: handler)
        }
    }
    return Logger(label: "forager")
}

extension PipelineOptions {
    /// Loads the configuration (as ``load()`` does) and makes the pipeline of it, stopped by
    /// SIGTERM and SIGINT.
    func pipeline() throws -> Pipeline {
        let (configuration, logger) = try load()
        return Pipeline(configuration: configuration, logger: logger, stop: StopSignal())
    }

    /// Loads the configuration and runs `body` on the pipeline as a service, which SIGTERM and
    /// SIGINT stop gracefully (within `shutdown.grace_s`).
    func runPipeline(_ body: @escaping @Sendable (Pipeline, Logger) async throws -> Void) async throws {
        let pipeline = try pipeline(), logger = pipeline.logger
        let service = StoppableService(stop: pipeline.stop, logger: logger) { try await body(pipeline, logger) }
        try await reportingErrors(logger) {
            try await runServiceGroup(
                [.endingGroup(service, named: "forager")], grace: pipeline.configuration.shutdownGrace, logger: logger)
        }
    }

    /// Runs a command that only reports what it would do unless `confirmed`: prints its report and
    /// exits 1 when it did not do it.
    func runReporting(
        confirmed: Bool, _ command: @escaping @Sendable (Pipeline, Bool) async throws -> (done: Bool, report: String)
    ) async throws {
        try await runPipeline { pipeline, _ in
            let (done, report) = try await command(pipeline, confirmed)
            print(report)
            if !done { throw ExitCode(1) }
        }
    }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Snapshot if needed, then stream changes until SIGTERM or SIGINT.")

    @OptionGroup var options: PipelineOptions

    func run() async throws {
        let (configuration, logger) = try options.load()
        try await reportingErrors(logger) {
            try await RunServices(configuration: configuration, logger: logger).run()
        }
    }
}

struct Sync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Catch up to the source's WAL position as of the start, then exit.")

    @OptionGroup var options: PipelineOptions

    func run() async throws {
        try await options.runPipeline { pipeline, logger in
            var pipeline = pipeline
            // Only for the copy's progress on a terminal: sync serves no endpoint.
            pipeline.status = PipelineStatus(
                slotName: pipeline.configuration.source.slot, heartbeatInterval: nil,
                readyMaxLag: pipeline.configuration.metrics.readyMaxLag)
            let lsn = try await pipeline.syncUntilCaughtUp()
            logger.info("caught up", metadata: ["forager.lsn": "\(lsn)"])
        }
    }
}

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the configuration, the source and the warehouse; list every problem.")

    @OptionGroup var options: PipelineOptions

    func run() async throws {
        let (tables, problems, warnings, notes) = try await options.pipeline().check()
        for note in notes { print("note: \(Redaction.apply(note))") }
        for warning in warnings { print("warning: \(Redaction.apply(warning))") }
        if problems.isEmpty {
            print("ok: source, warehouse and \(tables) mapped table(s) are ready")
            return
        }
        print("\(problems.count) problem(s):")
        for problem in problems { print("- \(Redaction.apply(problem))") }
        throw ExitCode(1)
    }
}

struct Resync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy mapped tables again (after a stop, or to start them afresh) while the others keep streaming.",
        discussion: """
            Replaces each table's warehouse copy with a new copy of the source table. A running \
            `forager run` picks the request up within seconds and copies the tables while the \
            others keep streaming; otherwise the next `forager run` or `forager sync` does.
            """)

    @OptionGroup var options: PipelineOptions

    @Option(name: .customLong("table"), help: "A mapped source table, as in SQL (schema.table); repeat for more.")
    var tables: [String]

    func validate() throws {
        guard !tables.isEmpty else { throw ValidationError("name at least one table with --table schema.table") }
    }

    func run() async throws {
        let tables = self.tables
        try await options.runPipeline { pipeline, _ in
            let requested = try await pipeline.requestResync(tables)
            print(
                "resync requested for \(requested.map(\.description).joined(separator: ", ")); a running forager run copies it within seconds, otherwise the next run or sync does"
            )
        }
    }
}

struct Drop: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove the pipeline's replication slot and publications, so the source retains no WAL for it.",
        discussion: "The warehouse keeps its tables and checkpoint. Without --yes, only says what it would remove.")

    @OptionGroup var options: PipelineOptions

    @Flag(help: "Really drop them.")
    var yes = false

    func run() async throws {
        try await options.runReporting(confirmed: yes) { try await $0.drop(confirmed: $1) }
    }
}

struct Reset: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start the pipeline over into the same warehouse tables (after a lost slot or a source failover).",
        discussion: """
            Drops the slot and publications on the source (as forager drop does), forgets the \
            warehouse checkpoint, and marks every mapped table for a new copy: the next forager run \
            or sync takes a new snapshot and replaces each table's rows. Without --yes, only says \
            what it would do. Refuses while a forager run reads the slot.
            """)

    @OptionGroup var options: PipelineOptions

    @Flag(help: "Really do it.")
    var yes = false

    func run() async throws {
        try await options.runReporting(confirmed: yes) { try await $0.reset(confirmed: $1) }
    }
}

/// Prints an error the way a user can act on, then exits non-zero.
func reportingErrors(_ logger: Logger, _ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as ExitCode {
        throw error
    } catch {
        FileHandle.standardError.write(Data("error: \(Redaction.apply("\(error)"))\n".utf8))
        throw ExitCode(1)
    }
}
