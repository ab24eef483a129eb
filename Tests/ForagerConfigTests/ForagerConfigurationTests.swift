import ForagerCore
import Foundation
import Testing

@testable import ForagerConfig

@Suite("Loading valid configurations")
struct ForagerConfigurationTests {
    @Test func minimalConfigurationGetsTheDefaults() throws {
        try withFixture(config: minimalConfig) { fixture in
            let configuration = try fixture.load()
            #expect(configuration.source == .init(url: sourceURL, publication: "forager", slot: "forager"))
            #expect(configuration.warehouse == .init(type: .postgres, url: warehouseURL, schema: "public"))
            #expect(configuration.batch.maxRows == 50_000)
            #expect(configuration.batch.maxAge == .milliseconds(500))
            #expect(configuration.configPath == fixture.configPath)
            #expect(
                configuration.tables == [
                    .init(
                        source: TableName(schema: "public", name: "samples"), target: "samples",
                        file: fixture.path("mappings/app.yaml"), line: 2)
                ])
        }
    }

    @Test func everyKeySet() throws {
        let config = """
            # Forager
            source:
              url: "\(sourceURL)"
              publication: app_pub
              slot: app_slot_1
            warehouse:
              type: postgres
              url: "host=127.0.0.1 port=5433 dbname=wh"
              schema: analytics
            batch:
              max_rows: 1_000
              max_mb: 16
              max_age_ms: 250
              min_interval_ms: 5
            mappings: ./maps/tables.yml
            """
        let mapping = """
            tables:
              - source: public.samples
                target: samples_v2
              - target: users
                source: auth.users
            """
        try withFixture(config: config, files: ["maps/tables.yml": mapping]) { fixture in
            let configuration = try fixture.load()
            #expect(configuration.source == .init(url: sourceURL, publication: "app_pub", slot: "app_slot_1"))
            #expect(configuration.warehouse == .init(type: .postgres, url: "host=127.0.0.1 port=5433 dbname=wh", schema: "analytics"))
            #expect(
                configuration.batch == .init(maxRows: 1000, maxBytes: 16 << 20, maxAge: .milliseconds(250), minInterval: .milliseconds(5)))
            let file = fixture.path("./maps/tables.yml")
            #expect(
                configuration.tables == [
                    .init(source: TableName(schema: "public", name: "samples"), target: "samples_v2", file: file, line: 2),
                    .init(source: TableName(schema: "auth", name: "users"), target: "users", file: file, line: 4),
                ])
        }
    }

    @Test func environmentOverridesTheURLs() throws {
        let environment = [
            "FORAGER_SOURCE_URL": "postgresql://other@10.0.0.1/app",
            "FORAGER_WAREHOUSE_URL": "dbname=wh",
        ]
        try withFixture(config: minimalConfig) { fixture in
            let configuration = try fixture.load(environment: environment)
            #expect(configuration.source.url == "postgresql://other@10.0.0.1/app")
            #expect(configuration.warehouse.url == "dbname=wh")
        }
    }

    @Test func environmentStandsInForMissingURLs() throws {
        let config = """
            source:
              slot: forager
            mappings: mappings/app.yaml
            """
        try withFixture(config: config) { fixture in
            let configuration = try fixture.load(environment: [
                "FORAGER_SOURCE_URL": "postgresql://a@b/c", "FORAGER_WAREHOUSE_URL": "postgres://d@e/f",
            ])
            #expect(configuration.source.url == "postgresql://a@b/c")
            #expect(configuration.warehouse == .init(url: "postgres://d@e/f"))
        }
    }

    @Test func emptyEnvironmentVariablesDoNotOverride() throws {
        try withFixture(config: minimalConfig) { fixture in
            let configuration = try fixture.load(environment: ["FORAGER_SOURCE_URL": "", "FORAGER_WAREHOUSE_URL": ""])
            #expect(configuration.source.url == sourceURL)
            #expect(configuration.warehouse.url == warehouseURL)
        }
    }

    @Test func directoryOfMappingsIsReadInNameOrder() throws {
        let config = minimalConfig.replacingOccurrences(of: "mappings/app.yaml", with: "mappings")
        let files = [
            "mappings/b_orders.yaml": "tables:\n  - source: shop.orders\n",
            "mappings/a_users.yml": "tables:\n  - source: auth.users\n  - source: auth.sessions\n",
            "mappings/c_items.yaml": "tables:\n  - source: shop.items\n",
            "mappings/notes.txt": "not yaml",
            "mappings/.a_backup.yaml": "tables: [{source: ignored.table}]",
            "mappings/nested/x.yaml": "tables: [{source: ignored.nested}]",
        ]
        try withFixture(config: config, files: files) { fixture in
            let tables = try fixture.load().tables
            #expect(tables.map(\.source.description) == ["auth.users", "auth.sessions", "shop.orders", "shop.items"])
            #expect(
                tables.map(\.file) == [
                    fixture.path("mappings/a_users.yml"), fixture.path("mappings/a_users.yml"),
                    fixture.path("mappings/b_orders.yaml"), fixture.path("mappings/c_items.yaml"),
                ])
            #expect(tables.map(\.line) == [2, 3, 2, 2])
        }
    }

    @Test func quotedAndBareTableNames() throws {
        let mapping = """
            tables:
              - source: samples
              - source: public."Weird Table"
              - source: '"My Schema"."Orders"'
                target: orders
              - source: Sales.Invoices
              - source: "analytics.events"
            """
        try withFixture(config: minimalConfig, files: ["mappings/app.yaml": mapping]) { fixture in
            let tables = try fixture.load().tables
            #expect(
                tables.map(\.source) == [
                    TableName(schema: "public", name: "samples"),
                    TableName(schema: "public", name: "Weird Table"),
                    TableName(schema: "My Schema", name: "Orders"),
                    TableName(schema: "sales", name: "invoices"),
                    TableName(schema: "analytics", name: "events"),
                ])
            #expect(tables.map(\.target) == ["samples", "Weird Table", "orders", "invoices", "events"])
            #expect(tables.map(\.line) == [2, 3, 4, 6, 7])
        }
    }

    @Test func emptySectionsAndCommentsUseDefaults() throws {
        let config = minimalConfig + "\nbatch:\n# nothing set\n"
        try withFixture(config: config) { fixture in
            let configuration = try fixture.load()
            #expect(configuration.batch == .init())
        }
    }

    @Test func parseResolvesMappingsAgainstThePathsDirectory() throws {
        try withFixture(config: nil) { fixture in
            let configuration = try ForagerConfiguration.parse(
                yaml: minimalConfig, path: fixture.path("sub/../forager.yaml"), environment: [:]
            )
            #expect(configuration.configPath == fixture.configPath)
            #expect(configuration.tables.map(\.file) == [fixture.path("sub/../mappings/app.yaml")])
        }
    }

    /// A relative configuration path is named as given, and mapping files relative to it.
    @Test func relativePathsAreShownAsGiven() throws {
        try withFixture(config: minimalConfig, files: ["mappings/app.yaml": "tables: []"]) { fixture in
            let cwd = FileManager.default.currentDirectoryPath
            let depth = cwd.split(separator: "/").count
            let relative = String(repeating: "../", count: depth) + fixture.configPath.dropFirst()
            let error = #expect(throws: ConfigurationError.self) {
                try ForagerConfiguration.load(path: relative, environment: [:])
            }
            let problem = try #require(error?.problems.first)
            #expect(problem.file == String(repeating: "../", count: depth) + fixture.path("mappings/app.yaml").dropFirst())
            #expect(problem.line == 1)
            #expect(problem.key == "tables")
        }
    }
}
