import ForagerConfig
import Testing

@Suite("warehouse: sharding")
struct ClickHouseShardingConfigTests {
    private func config(_ keys: String, type: String = "clickhouse") -> String {
        "source:\n  url: \"\(sourceURL)\"\nwarehouse:\n  type: \(type)\n  url: http://127.0.0.1:8123\n\(keys)mappings: mappings/app.yaml\n"
    }

    @Test func readsShardingOnACluster() throws {
        try withFixture(config: config("  cluster: analytics\n  sharding: true\n")) { fixture in
            let warehouse = try fixture.load().warehouse
            #expect(warehouse.cluster == "analytics" && warehouse.sharding)
        }
        try withFixture(config: config("  cluster: analytics\n")) { fixture in
            let sharding = try fixture.load().warehouse.sharding
            #expect(sharding == false)
        }
        try withFixture(config: config("  sharding: false\n")) { fixture in
            let sharding = try fixture.load().warehouse.sharding
            #expect(sharding == false)
        }
    }

    @Test func shardingWithoutAClusterIsRefusedNamingTheFileAndKey() throws {
        try withFixture(config: config("  sharding: true\n")) { fixture in
            let problem = try fixture.problem()
            #expect(problem.key == "warehouse.sharding")
            #expect(problem.file == fixture.configPath)
            #expect(problem.line == 6)
            #expect(
                problem.message.contains("applies only to a cluster") && problem.message.contains("set warehouse.cluster"),
                "\(problem.message)")
        }
    }

    @Test func shardingIsTrueOrFalse() throws {
        try withFixture(config: config("  cluster: c\n  sharding: by_key\n")) { fixture in
            let problem = try fixture.problem()
            #expect(problem.key == "warehouse.sharding" && problem.line == 7, "\(problem)")
        }
    }

    @Test func shardingOnAPostgresWarehouseIsRefused() throws {
        try withFixture(
            config:
                "source:\n  url: \"\(sourceURL)\"\nwarehouse:\n  url: \"\(warehouseURL)\"\n  sharding: true\nmappings: mappings/app.yaml\n"
        ) { fixture in
            let problem = try fixture.problem()
            #expect(problem.key == "warehouse.sharding" && problem.message.contains("only applies to type: clickhouse"))
        }
    }
}
