import ForagerDemo
import Foundation
import Glibc
import Synchronization

extension LocalCluster {
    /// Starts a cluster that is stopped when the test process exits.
    static func startForTests(name: String, settings: [String: String]) throws -> LocalCluster {
        let cluster = try LocalCluster.start(name: "test-" + name, settings: ["fsync": "off"].merging(settings) { $1 })
        StopAtExit.register { cluster.stop() }
        return cluster
    }
}

extension LocalCluster {
    /// A private source cluster (wal_level logical), for tests that stop or restart it.
    static func startSourceForTests(name: String, settings: [String: String] = [:]) throws -> LocalCluster {
        try startForTests(
            name: name, settings: ["wal_level": "logical", "max_replication_slots": "10", "max_wal_senders": "10"].merging(settings) { $1 })
    }
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Stops every server the test process started (PostgreSQL clusters, ClickHouse servers and
/// replicas) when it exits, a test that fails midway included.
enum StopAtExit {
    private static let stops = Mutex<[@Sendable () -> Void]>([])

    /// Runs `stop` when the test process exits; the first registration installs the exit hook.
    static func register(_ stop: @escaping @Sendable () -> Void) {
        let first = stops.withLock { list in
            list.append(stop)
            return list.count == 1
        }
        if first { atexit { StopAtExit.stopAll() } }
    }

    static func stopAll() {
        let list = stops.withLock { list in
            defer { list = [] }
            return list
        }
        list.forEach { $0() }
    }
}

/// Kills every forager process a test started and left running (a test that failed before
/// stopping it) when the test process exits, so that none outlives the run.
enum ChildRegistry {
    private static let children = Mutex<(list: [ChildProcess], hooked: Bool)>(([], false))

    static func register(_ child: ChildProcess) {
        let first = children.withLock { state in
            state.list.removeAll { $0.poll() != nil }
            state.list.append(child)
            defer { state.hooked = true }
            return !state.hooked
        }
        if first { atexit { ChildRegistry.killAll() } }
    }

    static func killAll() {
        for child in children.withLock({ $0.list }) where child.poll() == nil {
            child.signal(SIGKILL)
            _ = child.waitBlocking()
        }
    }
}

/// The source and warehouse clusters shared by the integration tests; each test works in databases
/// and slots of its own.
actor SharedClusters {
    static let shared = SharedClusters()
    private var clusters: (source: LocalCluster, warehouse: LocalCluster)?
    private var counter = 0

    func get() throws -> (source: LocalCluster, warehouse: LocalCluster) {
        if let clusters { return clusters }
        let source = try LocalCluster.startForTests(
            name: "source",
            settings: [
                "wal_level": "logical", "max_replication_slots": "40", "max_wal_senders": "40",
            ])
        let warehouse = try LocalCluster.startForTests(name: "warehouse", settings: [:])
        clusters = (source, warehouse)
        return (source, warehouse)
    }

    func nextID() -> Int {
        counter += 1
        return counter
    }
}
