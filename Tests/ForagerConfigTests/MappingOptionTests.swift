import ForagerConfig
import ForagerCore
import Testing

@Suite("deletes: hard | soft")
struct DeleteModeTests {
    @Test func defaultsToHardAndReadsSoft() throws {
        let tables = try mappedTables(
            """
            tables:
              - source: public.samples
              - source: public.hives
                deletes: soft
              - source: public.yards
                deletes: hard
            """)
        #expect(tables.map(\.deletes) == [.hard, .soft, .hard])
    }

    @Test func anUnknownModeNamesTheLineAndTheChoices() throws {
        let problem = try mappingProblem("tables:\n  - source: public.samples\n    deletes: archive\n")
        expectProblem(problem, line: 3, key: "tables[0].deletes", containing: ["'archive' is not a delete mode", "deletes: soft"])
    }
}

@Suite("exclude_columns")
struct ExcludeColumnsTests {
    @Test func readsAFlowListABlockListAndASingleName() throws {
        let tables = try mappedTables(
            """
            tables:
              - source: public.customers
                exclude_columns: [email, "Phone Number"]
              - source: public.devices
                exclude_columns:
                  - serial
              - source: public.yards
                exclude_columns: latitude
            """)
        #expect(tables.map(\.excludeColumns) == [["email", "Phone Number"], ["serial"], ["latitude"]])
    }

    @Test func aMappingInsteadOfAListIsNamedWithTheFix() throws {
        let problem = try mappingProblem("tables:\n  - source: public.customers\n    exclude_columns: {email: true}\n")
        expectProblem(
            problem, line: 3, key: "tables[0].exclude_columns",
            containing: ["must be a list of column names, not a mapping", "exclude_columns: [email, phone]"])
    }
}

@Suite("rename_columns")
struct RenameColumnsTests {
    @Test func readsTheMapping() throws {
        let tables = try mappedTables(
            "tables:\n  - source: public.samples\n    rename_columns: {temp: temperature_c, \"Hum\": humidity_pct}\n")
        #expect(tables[0].renameColumns == ["temp": "temperature_c", "Hum": "humidity_pct"])
    }

    @Test func twoColumnsOntoOneNameIsACollision() throws {
        let problem = try mappingProblem(
            """
            tables:
              - source: public.samples
                rename_columns:
                  temp: reading
                  hum: reading
            """)
        expectProblem(problem, line: 5, key: "tables[0].rename_columns.hum", containing: ["which temp is already renamed to"])
    }

    @Test func forageredNamesAreReserved() throws {
        let problem = try mappingProblem("tables:\n  - source: public.samples\n    rename_columns: {temp: _forager_lsn}\n")
        #expect(problem.message.contains("kept for Forager's own columns"))
    }
}

@Suite("types")
struct TypeOverrideConfigTests {
    @Test func readsTypesAndRefusesSQLInThem() throws {
        let tables = try mappedTables(
            "tables:\n  - source: public.samples\n    types: {weight_kg: double precision, at: \"timestamp(3) with time zone\"}\n")
        #expect(tables[0].types == ["weight_kg": "double precision", "at": "timestamp(3) with time zone"])
        let problem = try mappingProblem("tables:\n  - source: public.samples\n    types: {weight_kg: \"int; DROP TABLE x\"}\n")
        expectProblem(problem, key: "tables[0].types.weight_kg", containing: ["is not a type name"])
    }
}

@Suite("keep_json and date extracts")
struct KeepJSONTests {
    @Test func keepJSONFalseNeedsAnExtractAndDateTypesAreAccepted() throws {
        let problem = try mappingProblem(
            """
            tables:
              - source: public.samples
                keep_json: false
                extract:
                  - {column: day, from: payload, path: day, type: date}
                  - {column: at, from: payload, path: at, type: timestamptz}
              - source: public.hives
                keep_json: false
            """)
        expectProblem(problem, key: "tables[1].keep_json", containing: ["only applies with extract"])
        let table = try #require(
            try mappedTables(
                """
                tables:
                  - source: public.samples
                    keep_json: false
                    extract:
                      - {column: day, from: payload, path: day, type: date}
                """
            ).first)
        #expect(!table.keepJSON)
        #expect(table.extracts.map(\.type) == [.date])
    }
}
