import ForagerConfig
import ForagerCore
import Testing

@Suite("deletes: hard | soft")
struct DeleteModeTests {
    @Test func defaultsToHardAndReadsSoft() throws {
        let mapping = """
            tables:
              - source: public.samples
              - source: public.hives
                deletes: soft
              - source: public.yards
                deletes: hard
            """
        try withFixture(config: minimalConfig, files: ["mappings/app.yaml": mapping]) { fixture in
            let tables = try fixture.load().tables
            #expect(tables.map(\.deletes) == [.hard, .soft, .hard])
        }
    }

    @Test func anUnknownModeNamesTheLineAndTheChoices() throws {
        let mapping = """
            tables:
              - source: public.samples
                deletes: archive
            """
        try withFixture(config: minimalConfig, files: ["mappings/app.yaml": mapping]) { fixture in
            let problem = try fixture.problem()
            #expect(problem.line == 3)
            #expect(problem.key == "tables[0].deletes")
            #expect(problem.message.contains("'archive' is not a delete mode"))
            #expect(problem.message.contains("deletes: soft"))
        }
    }
}

@Suite("exclude_columns")
struct ExcludeColumnsTests {
    @Test func readsAFlowListABlockListAndASingleName() throws {
        let mapping = """
            tables:
              - source: public.customers
                exclude_columns: [email, "Phone Number"]
              - source: public.devices
                exclude_columns:
                  - serial
              - source: public.yards
                exclude_columns: latitude
            """
        try withFixture(config: minimalConfig, files: ["mappings/app.yaml": mapping]) { fixture in
            let tables = try fixture.load().tables
            #expect(tables.map(\.excludeColumns) == [["email", "Phone Number"], ["serial"], ["latitude"]])
        }
    }

    @Test func aMappingInsteadOfAListIsNamedWithTheFix() throws {
        let mapping = """
            tables:
              - source: public.customers
                exclude_columns: {email: true}
            """
        try withFixture(config: minimalConfig, files: ["mappings/app.yaml": mapping]) { fixture in
            let problem = try fixture.problem()
            #expect(problem.line == 3)
            #expect(problem.key == "tables[0].exclude_columns")
            #expect(problem.message.contains("must be a list of column names, not a mapping"))
            #expect(problem.message.contains("exclude_columns: [email, phone]"))
        }
    }
}

@Suite("rename_columns")
struct RenameColumnsTests {
    @Test func readsTheMapping() throws {
        let mapping = """
            tables:
              - source: public.samples
                rename_columns: {temp: temperature_c, "Hum": humidity_pct}
            """
        try withFixture(config: minimalConfig, files: ["mappings/app.yaml": mapping]) { fixture in
            let tables = try fixture.load().tables
            #expect(tables[0].renameColumns == ["temp": "temperature_c", "Hum": "humidity_pct"])
        }
    }

    @Test func twoColumnsOntoOneNameIsACollision() throws {
        let mapping = """
            tables:
              - source: public.samples
                rename_columns:
                  temp: reading
                  hum: reading
            """
        try withFixture(config: minimalConfig, files: ["mappings/app.yaml": mapping]) { fixture in
            let problem = try fixture.problem()
            #expect(problem.line == 5)
            #expect(problem.key == "tables[0].rename_columns.hum")
            #expect(problem.message.contains("which temp is already renamed to"))
        }
    }

    @Test func forageredNamesAreReserved() throws {
        let mapping = """
            tables:
              - source: public.samples
                rename_columns: {temp: _forager_lsn}
            """
        try withFixture(config: minimalConfig, files: ["mappings/app.yaml": mapping]) { fixture in
            let problem = try fixture.problem()
            #expect(problem.message.contains("kept for Forager's own columns"))
        }
    }
}

@Suite("types")
struct TypeOverrideConfigTests {
    @Test func readsTypesAndRefusesSQLInThem() throws {
        let good = "tables:\n  - source: public.samples\n    types: {weight_kg: double precision, at: \"timestamp(3) with time zone\"}\n"
        try withFixture(config: minimalConfig, files: ["mappings/app.yaml": good]) { fixture in
            let tables = try fixture.load().tables
            #expect(tables[0].types == ["weight_kg": "double precision", "at": "timestamp(3) with time zone"])
        }
        let bad = "tables:\n  - source: public.samples\n    types: {weight_kg: \"int; DROP TABLE x\"}\n"
        try withFixture(config: minimalConfig, files: ["mappings/app.yaml": bad]) { fixture in
            let problem = try fixture.problem()
            #expect(problem.key == "tables[0].types.weight_kg")
            #expect(problem.message.contains("is not a type name"))
        }
    }
}

@Suite("keep_json and date extracts")
struct KeepJSONTests {
    @Test func keepJSONFalseNeedsAnExtractAndDateTypesAreAccepted() throws {
        try withFixture(
            config: minimalConfig,
            files: [
                "mappings/app.yaml": """
                tables:
                  - source: public.samples
                    keep_json: false
                    extract:
                      - {column: day, from: payload, path: day, type: date}
                      - {column: at, from: payload, path: at, type: timestamptz}
                  - source: public.hives
                    keep_json: false
                """
            ]
        ) { fixture in
            let problem = try fixture.problem()
            #expect(problem.key == "tables[1].keep_json")
            #expect(problem.message.contains("only applies with extract"))
        }
        try withFixture(
            config: minimalConfig,
            files: [
                "mappings/app.yaml": """
                tables:
                  - source: public.samples
                    keep_json: false
                    extract:
                      - {column: day, from: payload, path: day, type: date}
                """
            ]
        ) { fixture in
            let table = try #require(try fixture.load().tables.first)
            #expect(!table.keepJSON)
            #expect(table.extracts.map(\.type) == [.date])
        }
    }
}
