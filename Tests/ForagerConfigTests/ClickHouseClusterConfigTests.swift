import ForagerConfig
import Testing

@Suite("warehouse: cluster and insert_quorum")
struct ClickHouseClusterConfigTests {
    private func config(_ keys: String, type: String = "clickhouse") -> String {
        "source:\n  url: \"\(sourceURL)\"\nwarehouse:\n  type: \(type)\n  url: http://127.0.0.1:8123\n\(keys)mappings: mappings/app.yaml\n"
    }

    @Test func readsTheClusterAndTheQuorum() throws {
        try withFixture(config: config("  cluster: analytics-eu.2\n  insert_quorum: 2\n")) { fixture in
            let warehouse = try fixture.load().warehouse
            #expect(warehouse.cluster == "analytics-eu.2")
            #expect(warehouse.insertQuorum == 2)
            #expect(warehouse.insertQuorumTimeout == .seconds(60))
        }
        try withFixture(config: config("  cluster: c\n  insert_quorum: 2\n  insert_quorum_timeout_s: 8\n")) { fixture in
            let timeout = try fixture.load().warehouse.insertQuorumTimeout
            #expect(timeout == .seconds(8))
        }
        try withFixture(config: config("")) { fixture in
            let warehouse = try fixture.load().warehouse
            #expect(warehouse.cluster == nil && warehouse.insertQuorum == nil)
        }
    }

    @Test func aClusterNameThatIsNoIdentifierIsRefusedNamingTheFileAndKey() throws {
        for name in ["'two words'", "'`x`'", "'1st'", "''", "'a;b'"] {
            try withFixture(config: config("  cluster: \(name)\n")) { fixture in
                let problem = try fixture.problem()
                #expect(problem.key == "warehouse.cluster", "\(name)")
                #expect(problem.file == fixture.configPath)
                #expect(problem.line == 6)
                #expect(
                    problem.message.contains("is not a ClickHouse cluster name") && problem.message.contains("remote_servers"),
                    "\(problem.message)")
            }
        }
    }

    @Test func aQuorumNeedsAClusterAndAWholeNumber() throws {
        try withFixture(config: config("  insert_quorum: 2\n")) { fixture in
            let problem = try fixture.problem()
            #expect(problem.key == "warehouse.insert_quorum" && problem.message.contains("set warehouse.cluster"))
        }
        try withFixture(config: config("  cluster: c\n  insert_quorum: all\n")) { fixture in
            let problem = try fixture.problem()
            #expect(problem.key == "warehouse.insert_quorum" && problem.message.contains("whole number"))
        }
        try withFixture(config: config("  cluster: c\n  insert_quorum: 0\n")) { fixture in
            let quorum = try fixture.load().warehouse.insertQuorum
            #expect(quorum == 0)
        }
    }

    @Test func aQuorumTimeoutNeedsAQuorumAndWholeSeconds() throws {
        try withFixture(config: config("  cluster: c\n  insert_quorum_timeout_s: 8\n")) { fixture in
            let problem = try fixture.problem()
            #expect(
                problem.key == "warehouse.insert_quorum_timeout_s" && problem.message.contains("set warehouse.insert_quorum"),
                "\(problem.message)")
        }
        for value in ["0", "soon"] {
            try withFixture(config: config("  cluster: c\n  insert_quorum: 2\n  insert_quorum_timeout_s: \(value)\n")) { fixture in
                let problem = try fixture.problem()
                #expect(problem.key == "warehouse.insert_quorum_timeout_s" && problem.line == 8, "\(value): \(problem.message)")
            }
        }
    }

    @Test func clusterKeysOnAPostgresWarehouseAreRefused() throws {
        try withFixture(
            config: "source:\n  url: \"\(sourceURL)\"\nwarehouse:\n  url: \"\(warehouseURL)\"\n  cluster: c\nmappings: mappings/app.yaml\n"
        ) { fixture in
            let problem = try fixture.problem()
            #expect(problem.key == "warehouse.cluster" && problem.message.contains("only applies to type: clickhouse"))
        }
    }
}
