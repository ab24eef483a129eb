import ForagerDemo
import Foundation
import Glibc
import Synchronization

/// A ClickHouse cluster for the tests: one shard of two clickhouse-server 18.16 replicas, or two
/// shards of one replica each (``start(name:shards:)``), and the ZooKeeper they share (Debian's `zookeeper` package, run from its jar), all on free loopback
/// ports with their data in temporary folders, stopped by ``stop()`` or when the tests end. Each
/// server has the cluster in `remote_servers`, the `shard` and `replica` macros, and the packaged
/// `distributed_ddl` queue, so `ON CLUSTER` statements and replicated tables work as in production.
final class ClickHouseReplicas: Sendable {
    /// The cluster's name in `remote_servers`.
    static let cluster = "forager_test"

    let zooKeeper: ZooKeeperServer
    let replicas: [ClickHouseServer]
    private let stopped = Mutex(false)

    private init(zooKeeper: ZooKeeperServer, replicas: [ClickHouseServer]) {
        self.zooKeeper = zooKeeper
        self.replicas = replicas
    }

    /// Starts ZooKeeper and two servers: replicas of one shard, or with `shards: 2` one replica of
    /// each of two shards; `name` tells apart clusters of one test process.
    static func start(name: String = "cluster", shards: Int = 1) async throws -> ClickHouseReplicas {
        let zooKeeper = try await ZooKeeperServer.start(name: name)
        var replicas: [ClickHouseServer] = []
        do {
            let ports = [try LocalCluster.freePort(), try LocalCluster.freePort()]
            for (index, port) in ports.enumerated() {
                let config = configuration(zooKeeperPort: zooKeeper.port, tcpPorts: ports, server: index, shards: shards)
                replicas.append(try await ClickHouseServer.start(name: "\(name)-r\(index + 1)", tcpPort: port, extraConfig: config))
            }
            let cluster = ClickHouseReplicas(zooKeeper: zooKeeper, replicas: replicas)
            for replica in replicas { try await cluster.waitForZooKeeper(replica) }
            ExitCleanup.register { cluster.stop() }
            return cluster
        } catch {
            for replica in replicas { replica.stop() }
            zooKeeper.stop()
            throw error
        }
    }

    /// The `config.d` document of the server `server` (0-based) of `tcpPorts`: the servers are
    /// spread over `shards` shards in turn (`shards: 1`, replicas of one shard).
    private static func configuration(zooKeeperPort: Int, tcpPorts: [Int], server: Int, shards: Int) -> String {
        func member(_ port: Int) -> String { "<replica><host>127.0.0.1</host><port>\(port)</port></replica>" }
        let shardElements = (0..<shards).map { shard in
            let members = tcpPorts.enumerated().filter { $0.offset % shards == shard }.map { member($0.element) }.joined()
            return "<shard><internal_replication>true</internal_replication>\(members)</shard>"
        }.joined()
        return """
            <yandex>
                <zookeeper><node><host>127.0.0.1</host><port>\(zooKeeperPort)</port></node><session_timeout_ms>6000</session_timeout_ms></zookeeper>
                <macros><shard>0\(server % shards + 1)</shard><replica>r\(server + 1)</replica></macros>
                <interserver_http_host>127.0.0.1</interserver_http_host>
                <remote_servers><\(cluster)>\(shardElements)</\(cluster)></remote_servers>
            </yandex>
            """
    }

    /// Waits until `replica` reads ZooKeeper.
    private func waitForZooKeeper(_ replica: ClickHouseServer) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if (try? await replica.query("SELECT count() > 0 FROM system.zookeeper WHERE path = '/'")) == "1\n" { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw HarnessError("clickhouse-server at \(replica.url) did not reach ZooKeeper on port \(zooKeeper.port) within 60 s")
    }

    /// Stops the replicas and ZooKeeper and removes their data.
    func stop() {
        guard
            !stopped.withLock({ stopped in
                defer { stopped = true }; return stopped
            })
        else { return }
        for replica in replicas { replica.stop() }
        zooKeeper.stop()
    }
}

/// A standalone ZooKeeper from Debian's `zookeeper` package on a free loopback port, its data in a
/// temporary folder.
final class ZooKeeperServer: Sendable {
    let port: Int
    let directory: String
    private let process: ChildProcess

    private init(port: Int, directory: String, process: ChildProcess) {
        self.port = port
        self.directory = directory
        self.process = process
    }

    static func start(name: String) async throws -> ZooKeeperServer {
        let jar = "/usr/share/java/zookeeper.jar"
        guard FileManager.default.fileExists(atPath: jar), FileManager.default.isExecutableFile(atPath: "/usr/bin/java") else {
            throw HarnessError("ZooKeeper is not installed; run ./scripts/prerequisites (apt-get install zookeeper)")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("forager-zookeeper-\(name)-\(getpid())").path
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory + "/data", withIntermediateDirectories: true)
        let port = try LocalCluster.freePort()
        let config = """
            tickTime=500
            dataDir=\(directory)/data
            clientPort=\(port)
            clientPortAddress=127.0.0.1
            admin.enableServer=false
            4lw.commands.whitelist=srvr

            """
        try config.write(toFile: directory + "/zoo.cfg", atomically: true, encoding: .utf8)
        // The jar's manifest names its dependencies; without an slf4j binding ZooKeeper logs nothing.
        let arguments = ["-Xmx256m", "-cp", jar, "org.apache.zookeeper.server.ZooKeeperServerMain", directory + "/zoo.cfg"]
        let process = try ChildProcess("/usr/bin/java", arguments, outputPath: directory + "/zookeeper.out")
        let server = ZooKeeperServer(port: port, directory: directory, process: process)
        // clickhouse-server 18.16 crashes (signal 11 in its DDL worker) when ZooKeeper refuses its
        // first sessions, as it does while it listens but does not serve yet: the servers start
        // only once ZooKeeper serves.
        let deadline = ContinuousClock.now + .seconds(60)
        while !server.answers() {
            let output = { (try? String(contentsOfFile: directory + "/zookeeper.out", encoding: .utf8)) ?? "" }
            if process.poll() != nil {
                server.stop()
                throw HarnessError("ZooKeeper exited at start:\n\(output())")
            }
            if ContinuousClock.now > deadline {
                server.stop()
                throw HarnessError("ZooKeeper did not answer on port \(port) within 60 s:\n\(output())")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        return server
    }

    /// Whether ZooKeeper serves: its `srvr` command answers with the server's statistics (before
    /// it serves, with "not currently serving requests"; `ruok` says `imok` already then).
    private func answers() -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0, send(descriptor, "srvr", 4, 0) == 4 else { return false }
        let expected = Array("Zookeeper version".utf8)
        var reply = [UInt8](repeating: 0, count: expected.count)
        return recv(descriptor, &reply, expected.count, Int32(MSG_WAITALL)) == expected.count && reply == expected
    }

    func stop() {
        if process.poll() == nil {
            process.signal(SIGTERM)
            for _ in 0..<50 where process.poll() == nil { usleep(100_000) }
            if process.poll() == nil { process.signal(SIGKILL) }
            _ = process.waitBlocking()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }
}
