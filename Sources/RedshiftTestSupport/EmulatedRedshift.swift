public import ForagerDemo
import Foundation
import Glibc
public import LibPQ
import Logging
import S3Staging
public import S3TestSupport

/// The Redshift emulation of the tests: an upstream PostgreSQL (LocalCluster), moto's S3 with
/// signature checking, and `redshift_emulator.py` in front of both, started once per test process
/// and stopped (cluster removed, emulator killed by its pid) when the process exits.
public struct EmulatedRedshift: Sendable {
    public let upstream: LocalCluster
    public let s3: MotoServer
    public let emulator: ChildProcess
    public let port: Int
    /// The emulator's statements log (JSON lines).
    public let statementsLog: String

    public static var repositoryRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    /// The emulator's URL for libpq.
    public var url: String { "postgresql://postgres@127.0.0.1:\(port)/postgres?sslmode=disable" }

    /// The emulation of this test process, started on first use.
    public static func shared() async throws -> EmulatedRedshift { try await sharedEmulation.get() }

    private static let sharedEmulation = StartedOnce { try await EmulatedRedshift.start() }

    private static func start() async throws -> EmulatedRedshift {
        let s3 = try await MotoServer.shared()
        let upstream = try LocalCluster.start(name: "redshift-upstream", settings: ["fsync": "off"])
        let folder = upstream.directory
        let log = folder + "/statements.jsonl"
        let support = repositoryRoot + "/Tests/IntegrationTests/Support/Redshift"
        let emulator: ChildProcess
        do {
            emulator = try ChildProcess(
                repositoryRoot + "/.build-venv/aws/bin/python",
                [
                    support + "/redshift_emulator.py", "--port", "0", "--upstream-host", "127.0.0.1", "--upstream-port",
                    String(upstream.port),
                    "--upstream-user", "postgres", "--s3-endpoint", s3.endpoint, "--s3-region", s3.region, "--iam-role-key-id",
                    s3.credentials.accessKeyID, "--iam-role-secret", s3.credentials.secretAccessKey, "--statements-log", log,
                ], outputPath: folder + "/emulator.log")
        } catch {
            upstream.stop()
            throw error
        }
        ExitCleanup.register { stop(emulator, upstream) }
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let line = emulator.output.split(separator: "\n").first(where: { $0.hasPrefix("listening on ") }),
                let port = Int(line.dropFirst("listening on ".count).trimmingCharacters(in: .whitespaces))
            {
                return EmulatedRedshift(upstream: upstream, s3: s3, emulator: emulator, port: port, statementsLog: log)
            }
            if emulator.poll() != nil { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw HarnessError(description: "the Redshift emulator did not start: \(emulator.output)")
    }

    /// Stops the emulator (SIGTERM, then SIGKILL after 5 s) and removes the upstream cluster.
    private static func stop(_ emulator: ChildProcess, _ upstream: LocalCluster) {
        emulator.signal(SIGTERM)
        for _ in 0..<50 where emulator.poll() == nil { usleep(100_000) }
        emulator.signal(SIGKILL)
        _ = emulator.waitBlocking()
        upstream.stop()
    }

    /// A connection to the emulator.
    public func connect() async throws -> PGConnection {
        try await PGConnection.connect(ConnectionString(url))
    }

    /// The keys of the staging bucket's objects under `prefix`.
    public func s3Objects(prefix: String) async throws -> [String] {
        try await bucket.list(prefix: prefix)
    }

    /// Puts an object into the staging bucket, as a crash would have left it.
    public func putObject(_ key: String, body: String) async throws {
        try await bucket.put(key, body: Array(body.utf8))
    }

    /// The staging bucket, with the keys the emulation accepts.
    private var bucket: S3Client { S3Client(location: s3.location(), credentials: s3.credentials, logger: Logger(label: "test")) }

    /// Rows of a query through the emulator, NULL as "NULL".
    public func rows(_ sql: String) async throws -> [[String]] {
        let connection = try await connect()
        defer { connection.close() }
        return try await connection.query(sql).rows.map { $0.map { $0 ?? "NULL" } }
    }
}

/// The harness could not start what a test needs.
public struct HarnessError: Error, CustomStringConvertible {
    public var description: String
}
