import ForagerCore
import ForagerPipeline
import Testing

@testable import ForagerConfig

@Suite("The mapping's options applied to the described tables")
struct MappingMergeTests {
    private let hives = TableName(schema: "public", name: "hives")
    private let samples = TableName(schema: "public", name: "samples")

    private func table(_ name: TableName, _ columns: [(String, String)], key: [String] = ["id"]) -> MappedTable {
        MappedTable(
            source: name, target: TableName(schema: "analytics", name: name.name),
            columns: columns.map { SourceColumn(name: $0.0, sqlType: $0.1, notNull: false, binaryCompatible: true) }, keyColumns: key)
    }

    private var hivesTable: MappedTable {
        table(hives, [("id", "bigint"), ("name", "text"), ("notes", "text"), ("meta", "jsonb")])
    }

    private func entry(_ source: TableName, line: Int = 3, _ change: (inout ForagerConfiguration.TableMapping) -> Void = { _ in })
        -> ForagerConfiguration.TableMapping
    {
        var mapping = ForagerConfiguration.TableMapping(source: source, target: source.name, file: "mappings/app.yaml", line: line)
        change(&mapping)
        return mapping
    }

    @Test func excludedColumnsLeaveTheTable() {
        let (tables, problems) = MappingMerge.apply([entry(hives) { $0.excludeColumns = ["notes"] }], to: [hivesTable])
        #expect(problems.isEmpty)
        #expect(tables[0].columns.map(\.name) == ["id", "name", "meta"])
        #expect(tables[0].excludedColumns == ["notes"])
    }

    @Test func anExcludedColumnTheTableLacksIsNamedWithFileAndLine() {
        let (_, problems) = MappingMerge.apply([entry(hives, line: 7) { $0.excludeColumns = ["Notes"] }], to: [hivesTable])
        #expect(problems.count == 1)
        #expect(problems.first?.message.hasPrefix("mappings/app.yaml:7: exclude_columns names \"Notes\"") == true)
        #expect(problems.first?.hint?.contains("id, name, notes, meta") == true)
    }

    @Test func anExcludedKeyColumnIsRefused() {
        let (_, problems) = MappingMerge.apply([entry(hives) { $0.excludeColumns = ["id"] }], to: [hivesTable])
        #expect(problems.map(\.message) == ["mappings/app.yaml:3: exclude_columns names \"id\", part of the primary key of public.hives"])
    }

    @Test func excludingColumnsOfAFullIdentityTableIsRefused() {
        var full = hivesTable
        full.replicaIdentityFull = true
        let (_, problems) = MappingMerge.apply([entry(hives) { $0.excludeColumns = ["notes"] }], to: [full])
        #expect(problems.count == 1)
        #expect(problems.first?.message.contains("REPLICA IDENTITY FULL") == true)
    }

    @Test func aTypeOverrideKeepsTheSourceTypeAndTurnsBinaryOff() {
        let (tables, problems) = MappingMerge.apply([entry(hives) { $0.types = ["name": "varchar(40)"] }], to: [hivesTable])
        #expect(problems.isEmpty)
        let name = tables[0].columns[1]
        #expect(name.sqlType == "varchar(40)")
        #expect(name.overriddenType == "text")
        #expect(!name.binaryCompatible)
        #expect(tables[0].columns[0].binaryCompatible)
    }

    @Test func aTypeOverrideOfAnExcludedColumnIsAProblem() {
        let mapping = entry(hives) {
            $0.excludeColumns = ["notes"]
            $0.types = ["notes": "text"]
        }
        let (_, problems) = MappingMerge.apply([mapping], to: [hivesTable])
        #expect(problems.map(\.message) == ["mappings/app.yaml:3: types names \"notes\", which public.hives does not publish"])
    }

    @Test func extractsReadOnlyFromPublishedJSONColumns() {
        let mapping = entry(hives) {
            $0.extracts = [
                JSONExtract(column: "colour", from: "meta", path: ["colour"], type: .text),
                JSONExtract(column: "size", from: "name", path: ["size"], type: .integer),
                JSONExtract(column: "age", from: "missing", path: ["age"], type: .integer),
            ]
        }
        let (tables, problems) = MappingMerge.apply([mapping], to: [hivesTable])
        #expect(
            problems.map(\.message) == [
                "mappings/app.yaml:3: extract \"size\" reads from \"name\", which is text, not json or jsonb",
                "mappings/app.yaml:3: extract \"age\" reads from \"missing\", which public.hives does not publish",
            ])
        #expect(tables[0].extracts.count == 3)
    }

    @Test func twoColumnsWithOneWarehouseNameAreAProblem() {
        let (tables, problems) = MappingMerge.apply([entry(hives) { $0.renameColumns = ["notes": "name"] }], to: [hivesTable])
        #expect(
            problems.map(\.message) == ["mappings/app.yaml:3: two columns of public.hives would both be called \"name\" in the warehouse"])
        #expect(tables[0].renames == ["notes": "name"])
    }

    @Test func renamingAColumnTheTableLacksIsAProblem() {
        let (_, problems) = MappingMerge.apply([entry(hives) { $0.renameColumns = ["nme": "title"] }], to: [hivesTable])
        #expect(problems.first?.message == "mappings/app.yaml:3: rename_columns names \"nme\", which public.hives does not have")
    }

    @Test func droppingJSONNeedsAKey() {
        var full = hivesTable
        full.identity = .fullRow
        let (_, problems) = MappingMerge.apply([entry(hives) { $0.keepJSON = false }], to: [full])
        #expect(problems.first?.message.contains("keep_json: false needs rows with a key") == true)
    }

    @Test func deletesModeIsTakenAndTablesWithoutAnEntryStayAsDescribed() {
        let other = table(samples, [("id", "bigint"), ("value", "real")])
        let (tables, problems) = MappingMerge.apply([entry(hives) { $0.deletes = .soft }], to: [hivesTable, other])
        #expect(problems.isEmpty)
        #expect(tables[0].deletes == .soft)
        #expect(tables[1] == other)
    }

    @Test func problemsFollowTheOrderOfTheTables() {
        let other = table(samples, [("id", "bigint"), ("value", "real")])
        let mapped = [entry(hives, line: 2) { $0.excludeColumns = ["x"] }, entry(samples, line: 9) { $0.excludeColumns = ["y"] }]
        let (_, problems) = MappingMerge.apply(mapped, to: [other, hivesTable])
        #expect(problems.map { $0.message.prefix(19) } == ["mappings/app.yaml:9", "mappings/app.yaml:2"])
    }
}
