import PGOutput
import Testing

@testable import ForagerCore
@testable import ForagerPipeline

@Suite("A schema change the stream's binary values cannot follow is caught before the warehouse sees it")
struct WarehouseHandleTests {
    private let table = MappedTable(
        source: TableName(schema: "public", name: "hives"), target: TableName(schema: "analytics", name: "hives"),
        columns: [
            SourceColumn(name: "id", sqlType: "integer", notNull: true, binaryCompatible: true),
            SourceColumn(name: "mood", sqlType: "", notNull: false),
        ],
        keyColumns: ["id"])

    /// A batch that adds `mood`, whose type the catalogue read as `definition`.
    private func addingMood(_ definition: SourceColumn) throws -> ChangeSet {
        var change = SchemaChange(table: table, added: ["mood"], lsn: LSN(0x20))
        change.sourceColumns = ["mood": definition]
        var changes = ChangeSet()
        try changes.fold(.schemaChange(change))
        return changes
    }

    @Test func aColumnAddedWithATypeThatIsNotBuiltInRestartsTheStreamInText() throws {
        let changes = try addingMood(SourceColumn(name: "mood", sqlType: "public.mood", notNull: false, binaryCompatible: false))
        var types = BinaryValueTypes(tables: [table])
        let error = #expect(throws: ForagerError.self) { try WarehouseHandle.checkBinaryValues(of: changes, against: &types) }
        #expect(error?.code == .binaryValues)
        #expect(error?.message.contains("column \"mood\" of public.hives now has a type that is not built in (public.mood)") == true)
    }

    @Test func aColumnAddedWithABuiltInTypeGoesOnInBinary() throws {
        let changes = try addingMood(SourceColumn(name: "mood", sqlType: "smallint", notNull: false, binaryCompatible: true))
        var types = BinaryValueTypes(tables: [table])
        try WarehouseHandle.checkBinaryValues(of: changes, against: &types)
    }
}
