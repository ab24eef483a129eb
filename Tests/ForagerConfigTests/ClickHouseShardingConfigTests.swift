import ForagerConfig
import Testing

@Suite("warehouse: sharding")
struct ClickHouseShardingConfigTests {
    @Test func readsShardingOnACluster() throws {
        let warehouse = try loaded(clickHouseConfiguration("  cluster: analytics\n  sharding: true\n")).warehouse
        #expect(warehouse.cluster == "analytics" && warehouse.sharding)
        #expect(try loaded(clickHouseConfiguration("  cluster: analytics\n")).warehouse.sharding == false)
        #expect(try loaded(clickHouseConfiguration("  sharding: false\n")).warehouse.sharding == false)
    }

    @Test func shardingWithoutAClusterIsRefusedNamingTheFileAndKey() throws {
        let problem = try configurationProblem(clickHouseConfiguration("  sharding: true\n"))
        expectProblem(problem, line: 6, key: "warehouse.sharding", containing: ["applies only to a cluster", "set warehouse.cluster"])
    }

    @Test func shardingIsTrueOrFalse() throws {
        let problem = try configurationProblem(clickHouseConfiguration("  cluster: c\n  sharding: by_key\n"))
        expectProblem(problem, line: 7, key: "warehouse.sharding")
    }

    @Test func shardingOnAPostgresWarehouseIsRefused() throws {
        let problem = try configurationProblem(postgresConfiguration("  sharding: true\n"))
        #expect(problem.key == "warehouse.sharding" && problem.message.contains("only applies to type: clickhouse"))
    }
}
