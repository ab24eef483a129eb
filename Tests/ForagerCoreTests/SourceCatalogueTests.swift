import PGOutput
import Synchronization
import Testing

@testable import ForagerCore

/// A catalogue that answers from a list and counts what it was asked.
private final class ListedCatalogue: SourceCatalogue {
    let known: [SourceColumn]
    let asked = Mutex<[[String]]>([])
    init(_ known: [SourceColumn]) { self.known = known }

    func columns(_ names: [String], of table: TableName) async throws -> [SourceColumn] {
        asked.withLock { $0.append(names) }
        return known.filter { names.contains($0.name) }
    }
}

@Suite("Schema changes resolved from the source's catalogue before a warehouse sees them")
struct SourceCatalogueTests {
    private let table = MappedTable(
        source: TableName(schema: "public", name: "hives"), target: TableName(schema: "analytics", name: "hives"),
        columns: [
            SourceColumn(name: "id", sqlType: "integer", notNull: true),
            SourceColumn(name: "weight", sqlType: "", notNull: false),
            SourceColumn(name: "note", sqlType: "", notNull: false),
        ],
        keyColumns: ["id"])

    private var insert: SourceChange {
        let relation = Relation(
            id: 7, namespace: "public", name: "hives", replicaIdentity: .default,
            columns: [
                .init(isKey: true, name: "id", typeOID: 23, typeModifier: -1),
                .init(isKey: false, name: "weight", typeOID: 1700, typeModifier: -1),
                .init(isKey: false, name: "note", typeOID: 25, typeModifier: -1),
            ])
        let binding = RelationBinding(relation: relation, table: table, keyIndexes: [0])
        return .insert(binding, TupleData(columns: [.text(Array("1".utf8)[...]), .null, .null]), LSN(0x10), place: 0)
    }

    @Test func eachChangeGetsTheCatalogueDefinitionsOfTheColumnsItNames() async throws {
        let catalogue = ListedCatalogue([
            SourceColumn(name: "weight", sqlType: "numeric(6,2)", notNull: false, missingValue: "0"),
            SourceColumn(name: "gone", sqlType: "text", notNull: false),
        ])
        var changes = ChangeSet()
        try changes.fold(insert)
        try changes.fold(.schemaChange(SchemaChange(table: table, added: ["weight", "note"], removed: ["gone", "old"], lsn: LSN(0x20))))
        try changes.fold(insert)
        #expect(changes.hasSchemaChanges)
        try await changes.resolveSchemaChanges(from: catalogue)
        #expect(catalogue.asked.withLock { $0 } == [["weight", "note", "gone", "old"]])
        let resolved = changes.steps.compactMap { step -> SchemaChange? in if case .schemaChange(let change) = step { change } else { nil }
        }
        #expect(resolved.count == 1)
        let change = try #require(resolved.first)
        // `note` is no longer on the source: it keeps the stream's definition; `old` is gone, `gone` is back.
        #expect(change.sourceColumns.keys.sorted() == ["gone", "weight"])
        #expect(change.changedColumnDefinitions.map(\.sqlType) == ["numeric(6,2)", ""])
        #expect(change.changedColumnDefinitions.first?.missingValue == "0")
        #expect(changes.allSteps.count == 3, "the rows on either side of the change stay where they were")
    }

    @Test func aBatchWithoutSchemaChangesAsksNothing() async throws {
        let catalogue = ListedCatalogue([])
        var changes = ChangeSet()
        try changes.fold(insert)
        try changes.fold(.schemaChange(SchemaChange(table: table, lsn: LSN(0x20))))
        try await changes.resolveSchemaChanges(from: catalogue)
        #expect(catalogue.asked.withLock { $0 }.isEmpty, "a change that names no column needs no catalogue")
        var rowsOnly = ChangeSet()
        try rowsOnly.fold(insert)
        #expect(!rowsOnly.hasSchemaChanges)
    }
}
