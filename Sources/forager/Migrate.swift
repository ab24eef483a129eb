import ArgumentParser
import ForagerDemo
import Foundation
import LibPQ
import Logging

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply numbered SQL migrations (by default the bundled IoT schema) to a database; safe to run twice.")

    @Option(help: "The database to migrate (a libpq URI or conninfo).")
    var url: String

    @Option(help: "The folder of NNN_name.sql files (default: the bundled migrations/iot).")
    var directory: String?

    func run() async throws {
        let logger = Logger(label: "forager")
        guard let folder = directory ?? locateBundledFolder("migrations/iot") else {
            throw ValidationError("could not find migrations/iot; run from the Forager checkout or pass --directory")
        }
        try await reportingErrors(logger) {
            let connection = try await PGConnection.connect(ConnectionString(url))
            defer { connection.close() }
            let applied = try await MigrationRunner.apply(try MigrationRunner.load(directory: folder), on: connection, logger: logger)
            print(applied.isEmpty ? "up to date" : "applied \(applied.map(String.init).joined(separator: ", "))")
        }
    }
}
