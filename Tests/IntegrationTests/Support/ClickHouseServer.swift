import ForagerDemo
import Foundation
import FoundationNetworking
import Glibc
import Synchronization

/// A private ClickHouse server for the tests: a copy of the packaged configuration with its own
/// data directory in a temporary folder and free loopback ports, stopped when the tests end.
final class ClickHouseServer: Sendable {
    let directory: String
    let httpPort: Int
    /// The https port, when started with certificates (else 0).
    let httpsPort: Int
    private let binary: String
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

    private init(directory: String, httpPort: Int, httpsPort: Int, binary: String, process: ChildProcess) {
        self.directory = directory
        self.httpPort = httpPort
        self.httpsPort = httpsPort
        self.binary = binary
        self.process = Mutex(process)
    }

    /// The server shared by every ClickHouse test; started on first use.
    static func shared() async throws -> ClickHouseServer {
        try await SharedClickHouse.shared.get()
    }

    /// Starts a server; `name` tells apart servers of one test process.
    static func start(name: String = "shared", certificates: TestCertificates? = nil) async throws -> ClickHouseServer {
        let user = Self.user, password = Self.password
        let binary = ["/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let binary else {
            throw HarnessError("clickhouse-server is not installed; run ./scripts/prerequisites (apt-get install clickhouse-server)")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("forager-clickhouse-\(name)-\(getpid())").path
        try? FileManager.default.removeItem(atPath: directory)
        for sub in ["data", "tmp", "user_files", "format_schemas", "log"] {
            try FileManager.default.createDirectory(atPath: directory + "/" + sub, withIntermediateDirectories: true)
        }
        let http = try LocalCluster.freePort(), tcp = try LocalCluster.freePort(), interserver = try LocalCluster.freePort()
        let https = certificates == nil ? 0 : try LocalCluster.freePort()
        var config = try String(contentsOfFile: "/etc/clickhouse-server/config.xml", encoding: .utf8)
        let replacements = [
            ("<http_port>8123</http_port>", "<http_port>\(http)</http_port>" + (certificates == nil ? "" : "<https_port>\(https)</https_port>")),
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
        // A user with a password, beside the packaged passwordless default user.
        let users = try String(contentsOfFile: "/etc/clickhouse-server/users.xml", encoding: .utf8).replacingOccurrences(of: "</users>", with: """
            <\(user)><password>\(password)</password><networks><ip>::/0</ip></networks><profile>default</profile><quota>default</quota></\(user)>
            <\(leastPrivilegeUser)><password>\(password)</password><networks><ip>::/0</ip></networks><profile>default</profile><quota>default</quota>
                <allow_databases><database>\(leastPrivilegeDatabase)</database></allow_databases></\(leastPrivilegeUser)>
            <\(analyst)><password>\(password)</password><networks><ip>::/0</ip></networks><profile>readonly</profile><quota>default</quota>
                <allow_databases><database>\(leastPrivilegeDatabase)</database></allow_databases></\(analyst)>
            </users>
            """)
        try users.write(toFile: directory + "/users.xml", atomically: true, encoding: .utf8)
        let process = try ChildProcess(binary, ["--config-file=\(directory)/config.xml"], outputPath: directory + "/server.out")
        let server = ClickHouseServer(directory: directory, httpPort: http, httpsPort: https, binary: binary, process: process)
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
                throw HarnessError("clickhouse-server exited at start:\n\(process.output)")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw HarnessError("clickhouse-server did not answer within 60 s:\n\(process.output)")
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
        let process = try ChildProcess(binary, ["--config-file=\(directory)/config.xml"], outputPath: directory + "/server.out")
        self.process.withLock { $0 = process }
        try await waitUntilAnswering()
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
        let (data, response) = try await URLSession.shared.data(for: request)
        let body = String(decoding: data, as: UTF8.self)
        guard (response as? HTTPURLResponse)?.statusCode == 200 else { throw HarnessError("ClickHouse: \(body)") }
        return body
    }

    func stop() {
        pause()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Starts the shared server once and stops it when the test process exits.
actor SharedClickHouse {
    static let shared = SharedClickHouse()
    private var server: ClickHouseServer?

    func get() async throws -> ClickHouseServer {
        if let server { return server }
        let started = try await ClickHouseServer.start()
        server = started
        ClickHouseRegistry.server.withLock { $0 = started }
        atexit { ClickHouseRegistry.server.withLock { $0 }?.stop() }
        return started
    }
}

enum ClickHouseRegistry {
    static let server = Mutex<ClickHouseServer?>(nil)
}
