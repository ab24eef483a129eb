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
        try await SharedMoto.instance.get()
    }

    /// Starts a server of its own, with `bucket` made; the caller stops it.
    public static func start(bucket: String = "forager-staging") async throws -> MotoServer {
        let binary = repositoryRoot + "/.build-venv/aws/bin/moto_server"
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw MotoServerError("\(binary) is missing: run ./scripts/prerequisites (it makes .build-venv/aws with moto[server])")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("forager-moto-\(getpid())-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let port = try freePort()
        var environment = ProcessInfo.processInfo.environment
        environment["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"
        // Keys the process may have must not reach the server's own boto clients.
        for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"] { environment[name] = nil }
        let pid: pid_t
        do {
            pid = try spawn(
                "/bin/sh", ["-c", watchdog, "moto_server", "\(getpid())", directory, binary, "-H", "127.0.0.1", "-p", "\(port)"],
                output: directory + "/server.out", environment: environment)
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
            MotoRegistry.add(pid, directory: directory)
            return MotoServer(endpoint: setup.endpoint, bucket: bucket, credentials: credentials, pid: pid, directory: directory)
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
        MotoRegistry.remove(pid)
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

    /// Starts `executable` as the leader of a new process group; stdout and stderr to `output`.
    static func spawn(_ executable: String, _ arguments: [String], output: String, environment: [String: String]) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for number in [SIGINT, SIGTERM, SIGPIPE, SIGHUP] { sigaddset(&defaults, number) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let env = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { env.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, env)
        guard result == 0 else { throw MotoServerError("could not start \(executable): error \(result)") }
        return pid
    }

    /// A TCP port on 127.0.0.1 that nothing listens on right now.
    static func freePort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw MotoServerError("socket() failed: errno \(errno)") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw MotoServerError("bind() failed: errno \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// The harness failed: moto is missing, did not start, or did not check signatures.
public struct MotoServerError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// The process's shared server.
actor SharedMoto {
    static let instance = SharedMoto()
    /// The one start, awaited by every test that asks while it runs.
    private var server: Task<MotoServer, any Error>?

    func get() async throws -> MotoServer {
        if let server { return try await server.value }
        let starting = Task { try await MotoServer.start() }
        server = starting
        return try await starting.value
    }
}

/// Servers still running, killed (and their folders removed) when the test process exits.
enum MotoRegistry {
    private static let state = Mutex<(registered: Bool, servers: [pid_t: String])>((false, [:]))

    static func add(_ pid: pid_t, directory: String) {
        let first = state.withLock { state in
            defer { state = (true, state.servers.merging([pid: directory]) { $1 }) }
            return !state.registered
        }
        if first { atexit { MotoRegistry.killAll() } }
    }

    static func remove(_ pid: pid_t) {
        state.withLock { _ = $0.servers.removeValue(forKey: pid) }
    }

    static func killAll() {
        for (pid, directory) in state.withLock({ $0.servers }) {
            MotoServer.kill(group: pid)
            try? FileManager.default.removeItem(atPath: directory)
        }
    }
}
