import ForagerDemo

extension LocalCluster {
    /// Starts a cluster that is stopped when the test process exits.
    static func startForTests(name: String, settings: [String: String]) throws -> LocalCluster {
        let cluster = try LocalCluster.start(name: "test-" + name, settings: ["fsync": "off"].merging(settings) { $1 })
        ExitCleanup.register { cluster.stop() }
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
