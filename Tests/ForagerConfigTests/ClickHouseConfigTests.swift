import ForagerConfig
import Testing

@Suite("warehouse: type clickhouse")
struct ClickHouseConfigTests {
    private func config(_ warehouse: String) -> String { configuration(warehouse: warehouse) }

    @Test func readsURLDatabaseUserAndThePasswordFromTheEnvironment() throws {
        try withFixture(
            config: config("  type: clickhouse\n  url: http://127.0.0.1:8123\n  database: analytics\n  user: forager\n  password: fromfile")
        ) { fixture in
            let warehouse = try fixture.load(environment: ["FORAGER_WAREHOUSE_PASSWORD": "fromenv"]).warehouse
            #expect(warehouse.type == .clickhouse)
            #expect(warehouse.url == "http://127.0.0.1:8123")
            #expect(warehouse.schema == "analytics")
            #expect(warehouse.user == "forager")
            #expect(warehouse.password == "fromenv")
            let fromFile = try fixture.load().warehouse.password
            #expect(fromFile == "fromfile")
        }
    }

    @Test func aNonHTTPURLAndPostgresKeysAreRefusedWithoutShowingTheURL() throws {
        try withFixture(config: config("  type: clickhouse\n  url: \"postgresql://user:s3cret@127.0.0.1:5433/wh\"\n  schema: analytics")) {
            fixture in
            let problems = fixture.problems()
            #expect(problems.map(\.key) == ["warehouse.url", "warehouse.schema"])
            #expect(problems[0].message.contains("is not an http:// or https:// URL"))
            #expect(problems[1].message.contains("database: analytics"))
            #expect(problems.allSatisfy { $0.hidesSecrets })
        }
    }

    @Test func clickHouseKeysOnAPostgresWarehouseAreRefused() throws {
        try withFixture(config: config("  url: \"\(warehouseURL)\"\n  database: analytics")) { fixture in
            let problem = try fixture.problem()
            expectProblem(problem, key: "warehouse.database", containing: ["only applies to type: clickhouse"])
        }
    }
}

@Suite("warehouse: ca_file")
struct ClickHouseCAFileTests {
    @Test func caFileIsResolvedAgainstTheConfigurationDirectoryAndNeedsHTTPS() throws {
        let config = { (url: String) in
            "source:\n  url: \"\(sourceURL)\"\nwarehouse:\n  type: clickhouse\n  url: \(url)\n  ca_file: certs/ca.pem\nmappings: mappings/app.yaml\n"
        }
        try withFixture(config: config("https://ch.example:8443")) { fixture in
            let caFile = try fixture.load().warehouse.caFile
            #expect(caFile == fixture.path("certs/ca.pem"))
        }
        try withFixture(config: config("http://ch.example:8123")) { fixture in
            let problem = try fixture.problem()
            #expect(problem.key == "warehouse.ca_file" && problem.message.contains("https://"))
        }
    }

    @Test func caFileOnAPostgresWarehousePointsToSSLSettings() throws {
        let problem = try configurationProblem(postgresConfiguration("  ca_file: ca.pem\n"))
        #expect(problem.key == "warehouse.ca_file" && problem.message.contains("sslrootcert"))
    }
}
