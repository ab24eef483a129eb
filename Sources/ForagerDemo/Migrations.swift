internal import Foundation
public import LibPQ
public import Logging

/// One numbered SQL migration file, `NNN_description.sql`.
public struct Migration: Sendable, Equatable {
    public var version: Int
    public var name: String
    public var sql: String
}

/// Applies numbered SQL migrations in order and records each in `forager_migrations`, so running
/// it twice changes nothing. Each migration and its record commit together.
public enum MigrationRunner {
    /// Reads `directory`'s `NNN_name.sql` files, sorted by number.
    public static func load(directory: String) throws -> [Migration] {
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".sql") }
        var migrations: [Migration] = []
        for file in files {
            let stem = String(file.dropLast(4))
            guard let underscore = stem.firstIndex(of: "_"), let version = Int(stem[..<underscore]) else {
                throw MigrationError("\(directory)/\(file): a migration file must be named NNN_description.sql")
            }
            let sql = try String(contentsOfFile: directory + "/" + file, encoding: .utf8)
            migrations.append(Migration(version: version, name: String(stem[stem.index(after: underscore)...]), sql: sql))
        }
        migrations.sort { $0.version < $1.version }
        for (previous, next) in zip(migrations, migrations.dropFirst()) where previous.version == next.version {
            throw MigrationError("\(directory): two migrations have the number \(next.version) (\(previous.name), \(next.name))")
        }
        return migrations
    }

    /// Applies the migrations not yet recorded; returns the versions applied now.
    @discardableResult
    public static func apply(_ migrations: [Migration], on connection: PGConnection, logger: Logger) async throws -> [Int] {
        try await connection.execute(
            """
            CREATE TABLE IF NOT EXISTS forager_migrations (
                version integer PRIMARY KEY,
                name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """)
        var applied: [Int] = []
        for migration in migrations {
            try await connection.execute("BEGIN; LOCK TABLE forager_migrations IN EXCLUSIVE MODE")
            do {
                let done = try await connection.query("SELECT name FROM forager_migrations WHERE version = $1", [String(migration.version)])
                if let name = done.scalar {
                    guard name == migration.name else {
                        throw MigrationError(
                            "migration \(migration.version) was applied as '\(name)' but the file is now '\(migration.name)'; migrations must not be renumbered"
                        )
                    }
                    try await connection.execute("COMMIT")
                    continue
                }
                try await connection.execute(migration.sql)
                try await connection.query(
                    "INSERT INTO forager_migrations (version, name) VALUES ($1, $2)", [String(migration.version), migration.name])
                try await connection.execute("COMMIT")
                logger.info("applied migration", metadata: ["forager.migration": "\(migration.version)_\(migration.name)"])
                applied.append(migration.version)
            } catch {
                _ = try? await connection.execute("ROLLBACK")
                throw error
            }
        }
        return applied
    }
}

/// A migration that cannot be read or applied.
public struct MigrationError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// Finds a folder shipped with Forager (such as `migrations/iot`): in the working directory, or
/// next to the executable's build folder when it runs from a checkout.
public func locateBundledFolder(_ relativePath: String) -> String? {
    var candidates = [FileManager.default.currentDirectoryPath]
    var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    for _ in 0..<6 {
        candidates.append(directory.path)
        directory = directory.deletingLastPathComponent()
    }
    return candidates.map { $0 + "/" + relativePath }.first { FileManager.default.fileExists(atPath: $0) }
}
