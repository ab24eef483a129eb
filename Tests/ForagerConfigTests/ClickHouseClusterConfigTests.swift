import ForagerConfig
import Testing

@Suite("warehouse: cluster and insert_quorum")
struct ClickHouseClusterConfigTests {
    @Test func readsTheClusterAndTheQuorum() throws {
        let warehouse = try loaded(clickHouseConfiguration("  cluster: analytics-eu.2\n  insert_quorum: 2\n")).warehouse
        #expect(warehouse.cluster == "analytics-eu.2")
        #expect(warehouse.insertQuorum == 2)
        #expect(warehouse.insertQuorumTimeout == .seconds(60))
        let timeout = try loaded(clickHouseConfiguration("  cluster: c\n  insert_quorum: 2\n  insert_quorum_timeout_s: 8\n"))
            .warehouse.insertQuorumTimeout
        #expect(timeout == .seconds(8))
        let plain = try loaded(clickHouseConfiguration("")).warehouse
        #expect(plain.cluster == nil && plain.insertQuorum == nil)
    }

    @Test func aClusterNameThatIsNoIdentifierIsRefusedNamingTheFileAndKey() throws {
        for name in ["'two words'", "'`x`'", "'1st'", "''", "'a;b'"] {
            let problem = try configurationProblem(clickHouseConfiguration("  cluster: \(name)\n"))
            expectProblem(problem, line: 6, key: "warehouse.cluster", containing: ["is not a ClickHouse cluster name", "remote_servers"])
        }
    }

    @Test func aQuorumNeedsAClusterAndAWholeNumber() throws {
        let withoutCluster = try configurationProblem(clickHouseConfiguration("  insert_quorum: 2\n"))
        #expect(withoutCluster.key == "warehouse.insert_quorum" && withoutCluster.message.contains("set warehouse.cluster"))
        let notANumber = try configurationProblem(clickHouseConfiguration("  cluster: c\n  insert_quorum: all\n"))
        #expect(notANumber.key == "warehouse.insert_quorum" && notANumber.message.contains("whole number"))
        #expect(try loaded(clickHouseConfiguration("  cluster: c\n  insert_quorum: 0\n")).warehouse.insertQuorum == 0)
    }

    @Test func aQuorumTimeoutNeedsAQuorumAndWholeSeconds() throws {
        let problem = try configurationProblem(clickHouseConfiguration("  cluster: c\n  insert_quorum_timeout_s: 8\n"))
        #expect(
            problem.key == "warehouse.insert_quorum_timeout_s" && problem.message.contains("set warehouse.insert_quorum"),
            "\(problem.message)")
        for value in ["0", "soon"] {
            let problem = try configurationProblem(
                clickHouseConfiguration("  cluster: c\n  insert_quorum: 2\n  insert_quorum_timeout_s: \(value)\n"))
            expectProblem(problem, line: 8, key: "warehouse.insert_quorum_timeout_s")
        }
    }

    @Test func clusterKeysOnAPostgresWarehouseAreRefused() throws {
        let problem = try configurationProblem(postgresConfiguration("  cluster: c\n"))
        #expect(problem.key == "warehouse.cluster" && problem.message.contains("only applies to type: clickhouse"))
    }
}
