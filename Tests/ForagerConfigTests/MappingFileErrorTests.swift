import ForagerConfig
import Foundation
import Testing

@Suite("Reporting problems of the mappings path and mapping files")
struct MappingFileErrorTests {
    // MARK: The mappings path

    @Test func mappingsPathDoesNotExist() throws {
        try withFixture(config: minimalConfig, files: [:]) { fixture in
            let problem = try fixture.problem()
            expectProblem(problem, code: .unreadableFile, file: fixture.configPath, line: 5, key: "mappings")
            #expect(problem.message.hasPrefix("'mappings/app.yaml' does not exist (looked for \(fixture.path("mappings/app.yaml")))"))
            #expect(problem.message.contains("relative to the configuration file's directory"))
        }
    }

    @Test func mappingsDirectoryWithoutYAMLFiles() throws {
        let config = minimalConfig.replacingOccurrences(of: "mappings/app.yaml", with: "mappings/")
        try withFixture(config: config, files: ["mappings/readme.txt": "hi"]) { fixture in
            let problem = try fixture.problem()
            expectProblem(
                problem, code: .unreadableFile, line: 5, key: "mappings",
                containing: ["has no .yaml or .yml files; add a mapping file to it"])
        }
    }

    @Test func mappingsOfTheWrongKind() throws {
        let config = minimalConfig.replacingOccurrences(of: "mappings: mappings/app.yaml", with: "mappings:\n  - a.yaml")
        try withFixture(config: config) { fixture in
            let problem = try fixture.problem()
            expectProblem(problem, code: .wrongKind, line: 5, key: "mappings")
            #expect(problem.message.hasPrefix("must be a path, not a list; write the path of a mapping file or a directory of them"))
        }
    }

    // MARK: Mapping files

    @Test func mappingFileWithoutTables() throws {
        try withFixture(config: minimalConfig, files: ["mappings/app.yaml": "tabels:\n  - source: x\n"]) { fixture in
            let problems = fixture.problems()
            let file = fixture.path("mappings/app.yaml")
            #expect(problems.map(\.file) == [file, file])
            expectProblems(problems, lines: [nil, 1], keys: ["tables", "tabels"])
            #expect(problems[0].message.hasPrefix("the mapping file has no tables list; add tables:"))
            #expect(problems[1].message == "unknown key 'tabels' at the top level of the mapping file; did you mean 'tables'?")
        }
    }

    @Test func emptyTablesList() throws {
        try withFixture(config: minimalConfig, files: ["mappings/app.yaml": "# app\ntables: []\n"]) { fixture in
            let problem = try fixture.problem()
            expectProblem(problem, code: .invalidValue, file: fixture.path("mappings/app.yaml"), line: 2, key: "tables")
            #expect(problem.message.hasPrefix("is empty; list at least one table"))
        }
    }

    @Test func mappingFileThatIsAList() throws {
        try withFixture(config: minimalConfig, files: ["mappings/app.yaml": "- source: public.samples\n"]) { fixture in
            let problem = try fixture.problem()
            #expect(problem.code == .wrongKind)
            #expect(problem.line == 1)
            #expect(problem.message.hasSuffix("put the list under 'tables:'"))
        }
    }

    @Test func tableEntryProblems() throws {
        let mapping = """
            tables:
              - source: public.samples
                taget: samples_copy
              - target: lonely
              - public.orders
              - source: public.a.b
              - source: '"unclosed'
            """
        try withFixture(config: minimalConfig, files: ["mappings/app.yaml": mapping]) { fixture in
            let problems = fixture.problems()
            #expect(problems.map(\.file) == Array(repeating: fixture.path("mappings/app.yaml"), count: 5))
            expectProblems(
                problems, lines: [3, 4, 5, 6, 7],
                keys: ["tables[0].taget", "tables[1].source", "tables[2]", "tables[3].source", "tables[4].source"])
            #expect(problems.map(\.code) == [.unknownKey, .missingKey, .wrongKind, .invalidValue, .invalidValue])
            #expect(problems[0].message == "unknown key 'taget' in tables[0]; did you mean 'target'?")
            #expect(problems[1].message == "missing; name the source table as schema.table, such as source: public.samples")
            #expect(problems[2].message.hasSuffix("write '- source: public.orders'"))
            #expect(
                problems[3].message.hasPrefix(
                    "'public.a.b' is not a table name: more than two dot-separated parts; write schema.table; write it as schema.table"))
            #expect(problems[4].message.contains("an unclosed double quote"))
        }
    }

    @Test func doubleQuotesEatenByYAMLAreExplained() throws {
        let mapping = """
            tables:
              - source: "Weird Table"
            """
        try withFixture(config: minimalConfig, files: ["mappings/app.yaml": mapping]) { fixture in
            let problem = try fixture.problem()
            expectProblem(problem, line: 2, key: "tables[0].source", containing: ["wrap the whole value in single quotes"])
        }
        let broken = """
            tables:
              - source: "Weird Schema".samples
            """
        try withFixture(config: minimalConfig, files: ["mappings/app.yaml": broken]) { fixture in
            let problem = try fixture.problem()
            #expect(problem.code == .malformedYAML)
            #expect(problem.line == 2)
            #expect(problem.message.contains("must be wrapped in single quotes"))
        }
    }

    @Test func sameSourceTableMappedTwiceNamesBothLines() throws {
        let config = minimalConfig.replacingOccurrences(of: "mappings/app.yaml", with: "mappings")
        let files = [
            "mappings/a.yaml": "tables:\n  - source: public.samples\n",
            "mappings/b.yaml": "tables:\n  - source: shop.orders\n  - source: samples\n    target: other\n",
        ]
        try withFixture(config: config, files: files) { fixture in
            let problem = try fixture.problem()
            expectProblem(problem, code: .duplicate, file: fixture.path("mappings/b.yaml"), line: 3, key: "tables[1].source")
            #expect(
                problem.message
                    == "public.samples is mapped twice, here and at \(fixture.path("mappings/a.yaml")):2; map each source table once: remove one of the entries"
            )
        }
    }

    @Test func twoTablesWithTheSameTarget() throws {
        let mapping = """
            tables:
              - source: app.users
              - source: auth.users
              - source: shop.orders
                target: users
            """
        try withFixture(config: minimalConfig, files: ["mappings/app.yaml": mapping]) { fixture in
            let problems = fixture.problems()
            expectProblems(problems, codes: [.duplicate, .duplicate], lines: [3, 5], keys: ["tables[1].target", "tables[2].target"])
            let file = fixture.path("mappings/app.yaml")
            #expect(
                problems[0].message
                    == "target 'users' (by default, the source table's name) is also the target of app.users at \(file):2; give one of them a different target"
            )
            #expect(
                problems[1].message == "target 'users' is also the target of app.users at \(file):2; give one of them a different target")
        }
    }

    @Test func invalidTargets() throws {
        let mapping = """
            tables:
              - source: a
                target: ""
              - source: b
                target: \(String(repeating: "t", count: 64))
              - source: c
                target: analytics.c
            """
        try withFixture(config: minimalConfig, files: ["mappings/app.yaml": mapping]) { fixture in
            let problems = fixture.problems()
            expectProblems(
                problems, codes: [.invalidValue, .invalidValue, .invalidValue], lines: [3, 5, 7],
                keys: ["tables[0].target", "tables[1].target", "tables[2].target"])
            #expect(problems[0].message == "is empty; write the warehouse table's name, or remove target to use the source table's name")
            #expect(problems[1].message.contains("64 bytes long, but PostgreSQL names are at most 63 bytes"))
            #expect(problems[2].message.hasSuffix("(tables go into warehouse.schema); write only the table's name"))
        }
    }

    @Test func malformedMappingFile() throws {
        try withFixture(config: minimalConfig, files: ["mappings/app.yaml": "tables:\n  - source: a\n   target: b\n"]) { fixture in
            let problem = try fixture.problem()
            expectProblem(
                problem, code: .malformedYAML, file: fixture.path("mappings/app.yaml"), line: 3, key: "",
                containing: ["fix the YAML syntax at this line"])
        }
    }
}
