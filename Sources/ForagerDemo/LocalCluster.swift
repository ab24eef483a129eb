internal import Foundation
internal import Glibc
public import LibPQ

/// A throwaway PostgreSQL cluster in a temporary directory on a free loopback port, for the demo,
/// the benchmarks and the tests.
///
/// `initdb` and `pg_ctl` refuse to run as root, so under root they run as the `postgres` user.
public final class LocalCluster: Sendable {
    public let name: String
    public let directory: String
    public let port: Int
    /// The server options it was started with, to start it again after `pause()`.
    private let options: String

    /// The superuser URL for `database`.
    public func url(_ database: String = "postgres") -> String {
        "postgresql://postgres@127.0.0.1:\(port)/\(database)"
    }

    private init(name: String, directory: String, port: Int, options: String) {
        self.name = name
        self.directory = directory
        self.port = port
        self.options = options
    }

    /// Creates and starts a cluster with `settings` (`-c name=value`).
    public static func start(name: String, settings: [String: String]) throws -> LocalCluster {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("forager-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if getuid() == 0 { try run("/bin/chown", ["postgres:postgres", directory]) }
        let data = directory + "/data"
        try runAsPostgres(binary("initdb"), ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"])
        let port = try freePort()
        var options = [
            "-p \(port)", "-c listen_addresses=127.0.0.1", "-c unix_socket_directories='\(directory)'",
            "-c max_connections=60",
        ]
        options += settings.sorted(by: { $0.key < $1.key }).map { "-c \($0.key)=\($0.value)" }
        let cluster = LocalCluster(name: name, directory: directory, port: port, options: options.joined(separator: " "))
        try cluster.resume()
        return cluster
    }

    /// Shuts the server down (fast: clients are disconnected, the data stays), as a crash or
    /// maintenance would; `resume()` starts it again on the same port.
    public func pause() throws {
        try Self.runAsPostgres(Self.binary("pg_ctl"), ["-D", directory + "/data", "-m", "fast", "-w", "stop"])
    }

    /// Kills the server as a crash would (`immediate`: no checkpoint, recovery on the next start);
    /// `resume()` starts it again.
    public func crash() throws {
        try Self.runAsPostgres(Self.binary("pg_ctl"), ["-D", directory + "/data", "-m", "immediate", "-w", "stop"])
    }

    /// Starts the server (again).
    public func resume() throws {
        try Self.runAsPostgres(
            Self.binary("pg_ctl"), ["-D", directory + "/data", "-l", directory + "/server.log", "-w", "-t", "60", "-o", options, "start"])
    }

    /// Stops the server at once and removes its directory.
    public func stop() {
        _ = try? Self.runAsPostgres(Self.binary("pg_ctl"), ["-D", directory + "/data", "-m", "immediate", "-w", "stop"])
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Connects to `database` as the superuser.
    public func connect(_ database: String = "postgres") async throws -> PGConnection {
        try await PGConnection.connect(ConnectionString(url(database)))
    }

    /// Runs SQL in `database` on a fresh connection.
    public func execute(_ sql: String, database: String) async throws {
        let connection = try await connect(database)
        defer { connection.close() }
        try await connection.execute(sql)
    }

    /// The first column of the first row of `sql`.
    public func scalar(_ sql: String, database: String) async throws -> String? {
        let connection = try await connect(database)
        defer { connection.close() }
        return try await connection.query(sql).scalar
    }

    /// The path of a PostgreSQL server program, preferring version 15's.
    public static func binary(_ name: String) -> String {
        for directory in [
            "/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin", "/usr/local/bin", "/usr/bin",
        ] {
            let path = directory + "/" + name
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return name
    }

    static func runAsPostgres(_ executable: String, _ arguments: [String]) throws {
        if getuid() == 0 {
            try run("/usr/sbin/runuser", ["-u", "postgres", "--", executable] + arguments)
        } else {
            try run(executable, arguments)
        }
    }

    static func run(_ executable: String, _ arguments: [String]) throws {
        let outputPath = FileManager.default.temporaryDirectory
            .appendingPathComponent("forager-cluster-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).out").path
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let child = try ChildProcess(executable, arguments, outputPath: outputPath)
        let status = child.waitBlocking()
        guard status == 0 else {
            throw ChildProcessError("\(executable) \(arguments.joined(separator: " ")) failed with \(status):\n\(child.output)")
        }
    }

    /// A TCP port on 127.0.0.1 that nothing listens on right now.
    public static func freePort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw ChildProcessError("socket() failed: errno \(errno)") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw ChildProcessError("bind() failed: errno \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
