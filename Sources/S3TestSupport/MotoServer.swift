internal import ForagerDemo
internal import Foundation
internal import FoundationNetworking
internal import Glibc
public import S3Staging
internal import Synchronization

/// moto's S3-compatible server on a free loopback port, for the tests, with signature checking
/// ON: a request signed with a wrong secret fails with `SignatureDoesNotMatch`, as on S3.
///
/// moto checks nothing by default. With `INITIAL_NO_AUTH_ACTION_COUNT=n` it lets the first `n`
/// actions through unchecked and then authenticates every request against its own IAM (the
/// access key must belong to an IAM user, the signature must match that key's secret, and the
/// user's policies must allow the action). So the server starts with a count of 3, which the
/// setup spends on three IAM calls signed with a throwaway key: CreateUser, PutUserPolicy
/// (`s3:*` on everything) and CreateAccessKey. From then on only that key works; the bucket is
/// made with it, and a request with a wrong secret is checked to fail before `start` returns.
///
/// The server runs in its own process group under a small shell watchdog, killed by ``stop()``
/// (and when the test process exits, or within a second of its death by a signal); its
/// temporary folder goes with it.
public final class MotoServer: Sendable {
    /// `http://127.0.0.1:port`.
    public let endpoint: String
    public let region = "us-east-1"
    /// A bucket that exists, made with ``credentials``.
    public let bucket: String
    /// The IAM user's key: the only one the server accepts.
    public let credentials: AWSCredentials
    private let pid: pid_t
    private let directory: String
    private let stopped = Mutex(false)

    private init(endpoint: String, bucket: String, credentials: AWSCredentials, pid: pid_t, directory: String) {
        self.endpoint = endpoint
        self.bucket = bucket
        self.credentials = credentials
        self.pid = pid
        self.directory = directory
    }

    /// The location of `prefix` in the server's bucket.
    public func location(prefix: String = "", bucket: String? = nil) -> S3Location {
        S3Location(bucket: bucket ?? self.bucket, prefix: prefix, region: region, endpoint: endpoint)
    }

    /// One server for the whole test process, started on first use.
    public static func shared() async throws -> MotoServer {
        try await sharedServer.get()
    }

    private static let sharedServer = StartedOnce { try await MotoServer.start() }

    /// Starts a server of its own, with `bucket` made; the caller stops it.
    public static func start(bucket: String = "forager-staging") async throws -> MotoServer {
        let binary = repositoryRoot + "/.build-venv/aws/bin/moto_server"
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw MotoServerError("\(binary) is missing: run ./scripts/prerequisites (it makes .build-venv/aws with moto[server])")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("forager-moto-\(getpid())-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let port = try LocalCluster.freePort()
        var environment = ProcessInfo.processInfo.environment
        environment["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"
        // Keys the process may have must not reach the server's own boto clients.
        for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"] { environment[name] = nil }
        let pid: pid_t
        do {
            pid = try ChildProcess(
                "/bin/sh", ["-c", watchdog, "moto_server", "\(getpid())", directory, binary, "-H", "127.0.0.1", "-p", "\(port)"],
                outputPath: directory + "/server.out", environment: environment, newProcessGroup: true
            ).pid
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
        let setup = Setup(endpoint: "http://127.0.0.1:\(port)")
        let partial = MotoServer(
            endpoint: setup.endpoint, bucket: bucket, credentials: Setup.throwaway, pid: pid, directory: directory)
        do {
            try await setup.waitUntilAnswering(pid: pid, output: directory + "/server.out")
            let credentials = try await setup.createUserWithKey()
            try await setup.createBucket(bucket, credentials: credentials)
            try await setup.expectSignatureChecking(bucket: bucket, credentials: credentials)
            let server = MotoServer(endpoint: setup.endpoint, bucket: bucket, credentials: credentials, pid: pid, directory: directory)
            ExitCleanup.register { server.stop() }
            return server
        } catch {
            let output = (try? String(contentsOfFile: directory + "/server.out", encoding: .utf8)) ?? ""
            partial.stop()
            throw MotoServerError("moto_server did not start with signature checking on: \(error)\n\(output.suffix(4000))")
        }
    }

    /// Runs the server (the arguments after `$2`) and ends it when the test process (`$1`) is
    /// gone, removing its folder (`$2`), so a test run killed by a signal, which runs no
    /// `atexit`, leaves nothing behind; it also ends when the server exits.
    static let watchdog = """
        parent=$1; folder=$2; shift 2
        "$@" & server=$!
        trap 'kill $server 2>/dev/null; wait $server; exit 0' TERM INT
        while kill -0 "$parent" 2>/dev/null && kill -0 $server 2>/dev/null; do sleep 1; done
        kill $server 2>/dev/null; wait $server
        kill -0 "$parent" 2>/dev/null || rm -rf "$folder"
        """

    /// Makes another bucket with the server's key.
    public func createBucket(_ name: String) async throws {
        try await Setup(endpoint: endpoint).createBucket(name, credentials: credentials)
    }

    /// Kills the server's process group and removes its folder. Safe to call twice.
    public func stop() {
        let first = stopped.withLock { stopped in
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        Self.kill(group: pid)
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// SIGTERM to the group, SIGKILL after 5 s, then the child reaped.
    static func kill(group pid: pid_t) {
        Glibc.kill(-pid, SIGTERM)
        var status: Int32 = 0
        for _ in 0..<50 {
            if waitpid(pid, &status, WNOHANG) == pid { return }
            usleep(100_000)
        }
        Glibc.kill(-pid, SIGKILL)
        _ = waitpid(pid, &status, 0)
    }

    /// The repository's root, from this file's place in it (Sources/S3TestSupport/).
    static var repositoryRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

}

/// The harness failed: moto is missing, did not start, or did not check signatures.
public struct MotoServerError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
