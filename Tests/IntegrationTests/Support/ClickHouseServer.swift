import ForagerDemo
import Foundation
import FoundationNetworking
import Glibc
import Synchronization

/// A private ClickHouse server for the tests, with its own data directory in a temporary folder and
/// free loopback ports, stopped when the tests end: Debian's clickhouse-server 18.16 (a copy of the
/// packaged configuration), or a modern engine (chdb, ClickHouse 26.9, behind the HTTP front in
/// `chdb_front.py`). Both answer `url` and `query(_:)` alike.
final class ClickHouseServer: Sendable {
    enum Kind: String, Sendable, CustomStringConvertible, CaseIterable {
        /// Debian's clickhouse-server 18.16 package, with users and passwords.
        case debian18
        /// ClickHouse 26.9 through chdb from PyPI, in `.build-venv/chdb` (made by
        /// scripts/prerequisites). No access control: any user and password are accepted.
        case modern

        var description: String { rawValue }
    }

    let kind: Kind
    let directory: String
    let httpPort: Int
    /// The https port, when started with certificates (else 0).
    let httpsPort: Int
    private let binary: String
    private let arguments: [String]
    private let process: Mutex<ChildProcess>

    var url: String { "http://127.0.0.1:\(httpPort)" }
    /// A user that needs a password; the tests also check the password never appears in output.
    static let user = "forager_ch"
    static let password = "ch-s3cret-pw"
    /// The one database the least-privilege users may use.
    static let leastPrivilegeDatabase = "least_privilege"
    /// Forager's user as docs/clickhouse.md sets it up: its own database only.
    static let leastPrivilegeUser = "forager_lp"
    /// A read-only analyst of that database, as docs/clickhouse.md sets it up.
    static let analyst = "analyst"

    private init(kind: Kind, directory: String, httpPort: Int, httpsPort: Int, binary: String, arguments: [String], process: ChildProcess) {
        self.kind = kind
        self.directory = directory
        self.httpPort = httpPort
        self.httpsPort = httpsPort
        self.binary = binary
        self.arguments = arguments
        self.process = Mutex(process)
    }

    /// The 18.16 server shared by every ClickHouse test; started on first use.
    static func shared() async throws -> ClickHouseServer {
        try await SharedClickHouse.shared.get(.debian18)
    }

    /// The modern engine shared by the tests that use it; started on first use.
    static func sharedModern() async throws -> ClickHouseServer {
        try await SharedClickHouse.shared.get(.modern)
    }

    /// The shared server of `kind`.
    static func shared(_ kind: Kind) async throws -> ClickHouseServer {
        try await SharedClickHouse.shared.get(kind)
    }

    /// The repository's root, from this file's place in it.
    private static var repositoryRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }

    /// Starts the modern engine: chdb_front.py on a free loopback port, its data in a temporary
    /// folder; `name` tells apart servers of one test process. `upgrading`: a stopped 18.16
    /// server whose data the new server starts from, as an upgrade in place would.
    static func startModern(name: String = "shared", upgrading older: ClickHouseServer? = nil) async throws -> ClickHouseServer {
        let root = repositoryRoot
        let python = ProcessInfo.processInfo.environment["FORAGER_CHDB_PYTHON"] ?? root + "/.build-venv/chdb/bin/python"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw HarnessError("\(python) is missing: run ./scripts/prerequisites (it makes .build-venv/chdb with chdb from PyPI)")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("forager-chdb-\(name)-\(getpid())").path
        try? FileManager.default.removeItem(atPath: directory)
        if let older {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: older.directory + "/data", toPath: directory + "/data")
        } else {
            try FileManager.default.createDirectory(atPath: directory + "/data", withIntermediateDirectories: true)
        }
        let http = try LocalCluster.freePort()
        let arguments = [root + "/Tests/IntegrationTests/Support/chdb_front.py", "--port", "\(http)", "--path", directory + "/data"]
        let process = try ChildProcess(python, arguments, outputPath: directory + "/server.out")
        return try await answering(
            ClickHouseServer(
                kind: .modern, directory: directory, httpPort: http, httpsPort: 0, binary: python, arguments: arguments, process: process))
    }

    /// Starts a server; `name` tells apart servers of one test process. `tcpPort` (free when nil)
    /// and `extraConfig` (a `<yandex>` document for `config.d/`) are for a cluster's servers.
    static func start(
        name: String = "shared", certificates: TestCertificates? = nil, tcpPort: Int? = nil, extraConfig: String? = nil
    ) async throws -> ClickHouseServer {
        let user = Self.user, password = Self.password
        let binary = ["/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
        guard let binary else {
            throw HarnessError("clickhouse-server is not installed; run ./scripts/prerequisites (apt-get install clickhouse-server)")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("forager-clickhouse-\(name)-\(getpid())").path
        try? FileManager.default.removeItem(atPath: directory)
        for sub in ["data", "tmp", "user_files", "format_schemas", "log", "config.d"] {
            try FileManager.default.createDirectory(atPath: directory + "/" + sub, withIntermediateDirectories: true)
        }
        let http = try LocalCluster.freePort(), tcp = try tcpPort ?? LocalCluster.freePort(), interserver = try LocalCluster.freePort()
        let https = certificates == nil ? 0 : try LocalCluster.freePort()
        var config = try String(contentsOfFile: "/etc/clickhouse-server/config.xml", encoding: .utf8)
        let replacements = [
            (
                "<http_port>8123</http_port>",
                "<http_port>\(http)</http_port>" + (certificates == nil ? "" : "<https_port>\(https)</https_port>")
            ),
            ("/etc/clickhouse-server/server.crt", certificates?.serverCertificate ?? "/etc/clickhouse-server/server.crt"),
            ("/etc/clickhouse-server/server.key", certificates?.serverKey ?? "/etc/clickhouse-server/server.key"),
            ("<dhParamsFile>/etc/clickhouse-server/dhparam.pem</dhParamsFile>", ""),
            ("<tcp_port>9000</tcp_port>", "<tcp_port>\(tcp)</tcp_port>"),
            ("<interserver_http_port>9009</interserver_http_port>", "<interserver_http_port>\(interserver)</interserver_http_port>"),
            ("<listen_host>::1</listen_host>", ""),
            ("<path>/var/lib/clickhouse/</path>", "<path>\(directory)/data/</path>"),
            ("/var/lib/clickhouse/tmp/", directory + "/tmp/"),
            ("/var/lib/clickhouse/user_files/", directory + "/user_files/"),
            ("/var/lib/clickhouse/format_schemas/", directory + "/format_schemas/"),
            ("/var/log/clickhouse-server/", directory + "/log/"),
        ]
        for (old, new) in replacements { config = config.replacingOccurrences(of: old, with: new) }
        try config.write(toFile: directory + "/config.xml", atomically: true, encoding: .utf8)
        try extraConfig?.write(toFile: directory + "/config.d/extra.xml", atomically: true, encoding: .utf8)
        // A user with a password, beside the packaged passwordless default user.
        let users = try String(contentsOfFile: "/etc/clickhouse-server/users.xml", encoding: .utf8).replacingOccurrences(
            of: "</users>",
            with: """
                <\(user)><password>\(password)</password><networks><ip>::/0</ip></networks><profile>default</profile><quota>default</quota></\(user)>
                <\(leastPrivilegeUser)><password>\(password)</password><networks><ip>::/0</ip></networks><profile>default</profile><quota>default</quota>
                    <allow_databases><database>\(leastPrivilegeDatabase)</database></allow_databases></\(leastPrivilegeUser)>
                <\(analyst)><password>\(password)</password><networks><ip>::/0</ip></networks><profile>readonly</profile><quota>default</quota>
                    <allow_databases><database>\(leastPrivilegeDatabase)</database></allow_databases></\(analyst)>
                </users>
                """)
        try users.write(toFile: directory + "/users.xml", atomically: true, encoding: .utf8)
        let arguments = ["--config-file=\(directory)/config.xml"]
        let process = try ChildProcess(binary, arguments, outputPath: directory + "/server.out")
        return try await answering(
            ClickHouseServer(
                kind: .debian18, directory: directory, httpPort: http, httpsPort: https, binary: binary, arguments: arguments,
                process: process))
    }

    /// `server`, once it answers; stopped when it never does.
    private static func answering(_ server: ClickHouseServer) async throws -> ClickHouseServer {
        do {
            try await server.waitUntilAnswering()
        } catch {
            server.stop()
            throw error
        }
        return server
    }

    private func waitUntilAnswering() async throws {
        let process = self.process.withLock { $0 }
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if (try? await query("SELECT 1")) == "1\n" { return }
            if process.poll() != nil {
                throw HarnessError("\(what) exited at start:\n\(process.output)")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw HarnessError("\(what) did not answer within 60 s:\n\(process.output)")
    }

    private var what: String {
        switch kind {
        case .debian18: "clickhouse-server"
        case .modern: "chdb_front.py (the modern ClickHouse engine)"
        }
    }

    /// Stops the server, keeping its data, as an outage would.
    func pause() {
        let process = self.process.withLock { $0 }
        process.signal(SIGTERM)
        for _ in 0..<100 where process.poll() == nil { usleep(100_000) }
        if process.poll() == nil { process.signal(SIGKILL) }
        _ = process.waitBlocking()
    }

    /// Kills the server (SIGKILL), as a crash would, keeping its data.
    func kill() {
        let process = self.process.withLock { $0 }
        process.signal(SIGKILL)
        _ = process.waitBlocking()
    }

    /// Starts the server again after `pause()` or `kill()`, on the same ports and data.
    func resume() async throws {
        let process = try ChildProcess(binary, arguments, outputPath: directory + "/server.out")
        self.process.withLock { $0 = process }
        try await waitUntilAnswering()
    }

    /// `sql` asking for 18.16's output on this server: `$us(column)` is a timestamp column as
    /// microseconds since 1970 (`Int64` on 18.16, `DateTime64` on a modern server), decimals
    /// keep their trailing zeros (a modern server drops them), and `Bool` values print as 1 and 0.
    /// For a SELECT without SETTINGS or FORMAT (FORMAT may follow).
    func inClassicForm(_ sql: String) -> String {
        let micros = kind == .modern ? "toUnixTimestamp64Micro($1)" : "$1"
        let query = sql.replacingOccurrences(of: #"\$us\(([^()]*)\)"#, with: micros, options: .regularExpression)
        guard kind == .modern else { return query }
        return query + " SETTINGS output_format_decimal_trailing_zeros = 1, bool_true_representation = '1', bool_false_representation = '0'"
    }

    /// Runs a statement over HTTP; returns the body.
    @discardableResult
    func query(_ sql: String, user: String? = nil) async throws -> String {
        var request = URLRequest(url: URL(string: url + "/")!)
        request.httpMethod = "POST"
        request.httpBody = Data(sql.utf8)
        if let user {
            request.setValue(user, forHTTPHeaderField: "X-ClickHouse-User")
            request.setValue(Self.password, forHTTPHeaderField: "X-ClickHouse-Key")
        }
        let data: Data, response: URLResponse
        do {
            (data, response) = try await URLSession.shared.data(for: request)
        } catch {
            throw HarnessError("\(what) at \(url) did not answer: \(error)\(diagnosis)")
        }
        let body = String(decoding: data, as: UTF8.self)
        guard (response as? HTTPURLResponse)?.statusCode == 200 else { throw HarnessError("ClickHouse: \(body)") }
        return body
    }

    /// Whether the server still runs, and the end of its error log (18.16) or output: for a test
    /// that finds it gone.
    var diagnosis: String {
        let process = self.process.withLock { $0 }
        let status = process.poll().map { "; it exited with status \($0)" } ?? "; it still runs"
        let log = (try? String(contentsOfFile: directory + "/log/clickhouse-server.err.log", encoding: .utf8)) ?? process.output
        return status + "; its log ends:\n" + log.split(separator: "\n").suffix(15).joined(separator: "\n")
    }

    func stop() {
        pause()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Starts each kind's shared server once and stops them when the test process exits.
actor SharedClickHouse {
    static let shared = SharedClickHouse()
    private var servers: [ClickHouseServer.Kind: ClickHouseServer] = [:]

    func get(_ kind: ClickHouseServer.Kind = .debian18) async throws -> ClickHouseServer {
        if let server = servers[kind] { return server }
        let started =
            switch kind {
            case .debian18: try await ClickHouseServer.start()
            case .modern: try await ClickHouseServer.startModern()
            }
        servers[kind] = started
        ExitCleanup.register { started.stop() }
        return started
    }
}
