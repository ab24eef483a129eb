import Foundation
import Testing

@testable import ForagerConfig

@Suite("Reporting configuration problems")
struct ConfigurationErrorTests {
    // MARK: The configuration file

    @Test func malformedYAMLGivesTheParsersMessageAndLine() throws {
        let config = """
            source:
              url: "\(sourceURL)
            warehouse:
              url: x
            """
        try withFixture(config: config) { fixture in
            let problem = try fixture.problem()
            expectProblem(problem, code: .malformedYAML, file: fixture.configPath, line: 4, key: "")
            #expect(
                problem.message.hasPrefix(
                    "not valid YAML: found unexpected end of stream at column 9 (while scanning a quoted scalar that started at line 2)"))
            #expect(problem.message.contains("fix the YAML syntax"))
            #expect(problem.hidesSecrets)
        }
    }

    @Test func duplicateYAMLKey() throws {
        let config = minimalConfig + "\nsource:\n  url: x\n"
        try withFixture(config: config) { fixture in
            let problem = try fixture.problem()
            #expect(problem.code == .malformedYAML)
            #expect(problem.line == 1)
            #expect(problem.message.contains("'source' appears more than once"))
            #expect(problem.message.contains("keep only one"))
        }
    }

    @Test func topLevelMustBeAMapping() throws {
        try withFixture(config: "- source\n- warehouse\n") { fixture in
            let problem = try fixture.problem()
            expectProblem(problem, code: .wrongKind, file: fixture.configPath, line: 1, key: "")
            #expect(
                problem.message
                    == "the top level must be a mapping with the keys source, warehouse, batch, mappings, metrics, alerts and shutdown; found a list"
            )
        }
    }

    @Test func emptyConfigurationFile() throws {
        try withFixture(config: "# nothing yet\n") { fixture in
            let problem = try fixture.problem()
            #expect(problem.line == nil)
            #expect(problem.message.contains("add at least source.url, warehouse.url and mappings"))
        }
    }

    @Test func missingConfigurationFile() throws {
        try withFixture(config: nil) { fixture in
            let problem = try fixture.problem()
            #expect(problem.code == .unreadableFile)
            #expect(problem.file == fixture.configPath)
            #expect(problem.line == nil)
            #expect(problem.message.contains("does not exist"))
        }
    }

    @Test func unknownKeySuggestsTheClosest() throws {
        let config = """
            source:
              url: "\(sourceURL)"
              slto: forager
            warehouse:
              url: "\(warehouseURL)"
              Schema: analytics
            batch:
              max_age: 10
            mappings: mappings/app.yaml
            """
        try withFixture(config: config) { fixture in
            let problems = fixture.problems()
            #expect(problems.map(\.code) == [.unknownKey, .unknownKey, .unknownKey])
            #expect(problems.map(\.file) == Array(repeating: fixture.configPath, count: 3))
            expectProblems(problems, lines: [3, 6, 8], keys: ["source.slto", "warehouse.Schema", "batch.max_age"])
            #expect(
                problems.map(\.message) == [
                    "unknown key 'slto' in source; did you mean 'slot'?",
                    "unknown key 'Schema' in warehouse; did you mean 'schema'?",
                    "unknown key 'max_age' in batch; did you mean 'max_age_ms'?",
                ])
        }
    }

    @Test func unknownKeyFarFromAllListsTheValidKeys() throws {
        try withFixture(config: minimalConfig + "\nlogging: debug\nsorce: {}\n") { fixture in
            let problems = fixture.problems()
            expectProblems(problems, lines: [6, 7], keys: ["logging", "sorce"])
            #expect(
                problems[0].message
                    == "unknown key 'logging' at the top level; remove it, or use one of the valid keys: 'source', 'warehouse', 'batch', 'mappings', 'metrics', 'alerts', 'shutdown', 'snapshot'"
            )
            #expect(problems[1].message == "unknown key 'sorce' at the top level; did you mean 'source'?")
        }
    }

    @Test func tablesInTheConfigurationFile() throws {
        try withFixture(config: minimalConfig + "\ntables:\n  - source: x\n") { fixture in
            let problem = try fixture.problem()
            expectProblem(problem, code: .unknownKey, line: 6, key: "tables", containing: ["move them to a file and name it in mappings"])
        }
    }

    @Test func missingURLsAndMappings() throws {
        try withFixture(config: "source:\n  slot: forager\n") { fixture in
            let problems = fixture.problems()
            expectProblems(
                problems, codes: [.missingKey, .missingKey, .missingKey], lines: [nil, nil, 1],
                keys: ["warehouse.url", "mappings", "source.url"])
            #expect(problems[0].message.contains("set warehouse.url to the warehouse's connection string"))
            #expect(problems[0].message.contains("or set FORAGER_WAREHOUSE_URL"))
            #expect(problems[1].message.contains("e.g. mappings: mappings/app.yaml"))
            #expect(problems[2].message.contains("or set FORAGER_SOURCE_URL"))
            #expect(problems[2].description.hasPrefix(fixture.configPath + ":1: source.url: missing; "))
        }
    }

    @Test func urlOfTheWrongKindOrShape() throws {
        let config = """
            source:
              url:
                host: 127.0.0.1
                password: s3cret
            warehouse:
              url: 127.0.0.1:5433 s3cret
            mappings: mappings/app.yaml
            """
        try withFixture(config: config) { fixture in
            let problems = fixture.problems()
            expectProblems(problems, codes: [.wrongKind, .invalidValue], lines: [2, 6], keys: ["source.url", "warehouse.url"])
            #expect(
                problems[0].message.hasPrefix("must be a connection string, not a mapping; write the source database's connection string"))
            #expect(problems[1].message.contains("the value is not shown"))
            #expect(problems[1].message.contains("such as postgresql://user@host:5432/dbname"))
            #expect(problems.allSatisfy { $0.hidesSecrets })
        }
    }

    @Test func connectionStringWrittenAsAKeyIsNotShown() throws {
        let config = minimalConfig.replacingOccurrences(of: "source:\n", with: "source:\n  \(sourceURL):\n")
        try withFixture(config: config) { fixture in
            let problem = try fixture.problem()
            expectProblem(
                problem, code: .unknownKey, line: 2, key: "source.(connection string)", containing: ["write it as the value of url"])
            #expect(problem.hidesSecrets)
        }
    }

    @Test func invalidURLInTheEnvironment() throws {
        try withFixture(config: minimalConfig) { fixture in
            let problem = try fixture.problem(environment: ["FORAGER_SOURCE_URL": "s3cret@127.0.0.1"])
            expectProblem(problem, code: .invalidValue, file: fixture.configPath, line: nil, key: "source.url")
            #expect(problem.message.hasPrefix("FORAGER_SOURCE_URL is neither a postgresql:// URI"))
            #expect(problem.hidesSecrets)
        }
    }

    @Test func sectionOfTheWrongKind() throws {
        let config = """
            source: "\(sourceURL)"
            warehouse:
              url: "\(warehouseURL)"
            batch: [1, 2]
            mappings: mappings/app.yaml
            """
        try withFixture(config: config) { fixture in
            let problems = fixture.problems()
            expectProblems(problems, codes: [.wrongKind, .wrongKind], lines: [1, 4], keys: ["source", "batch"])
            #expect(
                problems[0].message
                    == "source must be a mapping with the keys url, publication, slot, heartbeat_interval_s, spill_dir and binary; found text"
            )
            #expect(
                problems[1].message
                    == "batch must be a mapping with the keys max_rows, max_mb, max_age_ms and min_interval_ms; found a list")
            #expect(problems.allSatisfy { $0.hidesSecrets })
        }
    }

    @Test func batchValuesOfTheWrongKindOrRange() throws {
        for (rows, age, codes, messages) in [
            (
                "lots", "1.5", [ConfigurationError.Code.wrongKind, .wrongKind],
                ["must be a whole number, not 'lots'", "must be a whole number, not '1.5'"]
            ),
            ("0", "-3", [.invalidValue, .invalidValue], ["must be at least 1, not 0", "must be at least 1, not -3"]),
            (
                "99999999999999999999", "{}", [.invalidValue, .wrongKind],
                ["99999999999999999999 is too large", "must be a whole number, not a mapping"]
            ),
        ] {
            try withFixture(config: minimalConfig + "\nbatch:\n  max_rows: \(rows)\n  max_age_ms: \(age)\n") { fixture in
                let problems = fixture.problems()
                expectProblems(problems, codes: codes, lines: [7, 8], keys: ["batch.max_rows", "batch.max_age_ms"])
                #expect(
                    problems.count == 2
                        && problems[0].message.hasPrefix(messages[0] + "; write the most rows in one batch, e.g. max_rows: 50000"))
                #expect(problems.count == 2 && problems[1].message.hasPrefix(messages[1] + "; write the longest a change waits"))
            }
        }
    }

    @Test func minimumIntervalBelowTheMaximumAge() throws {
        for (age, interval, message) in [
            ("", "-1", "must be at least 0, not -1; write the least time between two small batches"),
            ("", "500", "must be less than max_age_ms (500), not 500; lower it, e.g. min_interval_ms: 10"),
            ("\n  max_age_ms: 20", "25", "must be less than max_age_ms (20), not 25; lower it"),
        ] {
            try withFixture(config: minimalConfig + "\nbatch:\n  min_interval_ms: \(interval)\(age)\n") { fixture in
                let problem = try fixture.problem()
                expectProblem(problem, code: .invalidValue, line: 7, key: "batch.min_interval_ms")
                #expect(problem.message.hasPrefix(message))
            }
        }
        try withFixture(config: minimalConfig + "\nbatch:\n  min_interval_ms: 0\n") { fixture in
            let batch = try fixture.load().batch
            #expect(batch.minInterval == .zero)
        }
        try withFixture(config: minimalConfig) { fixture in
            let batch = try fixture.load().batch
            #expect(batch.minInterval == .milliseconds(10))
        }
    }

    @Test func unsupportedWarehouseType() throws {
        let config = minimalConfig.replacingOccurrences(of: "warehouse:\n", with: "warehouse:\n  type: snowflake\n")
        try withFixture(config: config) { fixture in
            let problem = try fixture.problem()
            expectProblem(problem, code: .invalidValue, line: 4, key: "warehouse.type")
            let types = "the supported types are 'postgres', 'clickhouse', 'redshift'"
            #expect(problem.message == "'snowflake' is not a supported warehouse type; \(types)")
        }
        let misspelt = minimalConfig.replacingOccurrences(of: "warehouse:\n", with: "warehouse:\n  type: Postgres\n")
        try withFixture(config: misspelt) { fixture in
            let problem = try fixture.problem()
            #expect(problem.message.contains("did you mean 'postgres'?"))
        }
    }

    @Test func invalidSlotName() throws {
        let config = minimalConfig.replacingOccurrences(of: "source:\n", with: "source:\n  slot: Forager-Main\n")
        try withFixture(config: config) { fixture in
            let problem = try fixture.problem()
            expectProblem(
                problem, code: .invalidValue, file: fixture.configPath, line: 2, key: "source.slot", containing: ["[a-z0-9_]{1,63}"])
            #expect(problem.message.hasSuffix("use e.g. 'forager_main'"))
        }
        let long = String(repeating: "s", count: 64)
        try withFixture(config: minimalConfig.replacingOccurrences(of: "source:\n", with: "source:\n  slot: \(long)\n")) { fixture in
            let problem = try fixture.problem()
            #expect(problem.message.contains("1 to 63"))
        }
    }

    @Test func emptyPublicationAndOverlongSchema() throws {
        let schema = String(repeating: "é", count: 32)  // 64 bytes in UTF-8
        let config = """
            source:
              url: "\(sourceURL)"
              publication: ""
            warehouse:
              url: "\(warehouseURL)"
              schema: \(schema)
            mappings: mappings/app.yaml
            """
        try withFixture(config: config) { fixture in
            let problems = fixture.problems()
            expectProblems(
                problems, codes: [.invalidValue, .invalidValue], lines: [3, 6], keys: ["source.publication", "warehouse.schema"])
            #expect(problems[0].message == "is empty; write the publication's name, or remove the key to use 'forager'")
            #expect(problems[1].message.contains("is 64 bytes long, but PostgreSQL names are at most 63 bytes"))
            #expect(problems[1].message.hasSuffix("shorten it"))
        }
    }

    @Test func valueWithNoValue() throws {
        try withFixture(config: minimalConfig.replacingOccurrences(of: "source:\n", with: "source:\n  slot:\n")) { fixture in
            let problem = try fixture.problem()
            expectProblem(problem, code: .missingKey, line: 2, key: "source.slot")
            #expect(problem.message == "has no value; write e.g. slot: forager")
        }
    }

    // MARK: Many at once

    @Test func everyProblemIsReportedTogether() throws {
        let config = """
            source:
              url: "\(sourceURL)"
              slto: forager
            warehouse:
              type: bigquery
            batch:
              max_rows: 0
            mappings: mappings
            """
        let files = [
            "mappings/a.yaml": "tables:\n  - source: public.samples\n  - source: public.samples\n",
            "mappings/b.yaml": "tables:\n  - sauce: x\n",
        ]
        try withFixture(config: config, files: files) { fixture in
            let error = #expect(throws: ConfigurationError.self) { try fixture.load() }
            let problems = try #require(error?.problems)
            #expect(
                problems.map(\.key) == [
                    "source.slto", "warehouse.url", "warehouse.type", "batch.max_rows",
                    "tables[1].source", "tables[0].sauce", "tables[0].source",
                ])
            #expect(
                problems.map(\.file) == Array(repeating: fixture.configPath, count: 4)
                    + [fixture.path("mappings/a.yaml")] + Array(repeating: fixture.path("mappings/b.yaml"), count: 2))
            let description = try #require(error?.description)
            let lines = description.split(separator: "\n")
            #expect(lines.first == "7 problem(s) in the configuration:")
            #expect(lines.count == 8)
            #expect(lines[1] == "\(fixture.configPath):3: source.slto: unknown key 'slto' in source; did you mean 'slot'?")
            #expect(!description.contains("s3cret"))
        }
    }

    @Test func problemDescription() {
        let problem = ConfigurationError.Problem(code: .missingKey, file: "forager.yaml", line: 3, key: "source.url", message: "missing")
        #expect(problem.description == "forager.yaml:3: source.url: missing")
        let whole = ConfigurationError.Problem(code: .malformedYAML, file: "forager.yaml", line: nil, key: "", message: "empty")
        #expect(whole.description == "forager.yaml: empty")
        #expect(
            ConfigurationError(problems: [problem, whole]).description
                == "2 problem(s) in the configuration:\nforager.yaml:3: source.url: missing\nforager.yaml: empty")
    }
}
