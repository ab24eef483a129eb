import ForagerCore
import PGOutput
import Testing

@Suite("The types whose binary values a warehouse takes as they are")
struct BinaryValueTypesTests {
    /// `hives` with `id` integer and `weight` of the type `weight`, as a relation message or the
    /// catalogue describes it.
    private func hives(weight: UInt32?, extra: SourceColumn? = nil) -> MappedTable {
        MappedTable(
            source: TableName(schema: "public", name: "hives"), target: TableName(schema: "analytics", name: "hives"),
            columns: [
                SourceColumn(name: "id", sqlType: "integer", notNull: true, binaryCompatible: true, sourceType: (23, -1)),
                SourceColumn(
                    name: "weight", sqlType: "numeric", notNull: false, binaryCompatible: true, sourceType: weight.map { ($0, -1) }),
            ] + (extra.map { [$0] } ?? []),
            keyColumns: ["id"])
    }

    @Test func valuesOfTheTypesAtStartPassAndAnotherTypeRestartsInTextNamingTheColumn() throws {
        let types = BinaryValueTypes(tables: [hives(weight: 1700)])
        try types.check(hives(weight: 1700))
        let error = #expect(throws: ForagerError.self) { try types.check(hives(weight: 23)) }
        #expect(error?.code == .binaryValues)
        #expect(error?.message.contains("column \"weight\" of public.hives arrives in binary with a type") == true)
    }

    @Test func anAddedColumnPassesWhenTheStreamSendsTheTypeTheCatalogueGaveIt() throws {
        var types = BinaryValueTypes(tables: [hives(weight: 1700)])
        let added = SourceColumn(name: "mood", sqlType: "smallint", notNull: false, binaryCompatible: true, sourceType: (21, -1))
        var change = SchemaChange(table: hives(weight: 1700, extra: added), added: ["mood"])
        change.sourceColumns = ["mood": added]
        types.follow(change)
        try types.check(hives(weight: 1700, extra: added))

        // Retyped on the source again since: the catalogue's type is not the one the stream sends.
        var later = SchemaChange(table: hives(weight: 1700, extra: added), retyped: ["mood"])
        later.sourceColumns = ["mood": SourceColumn(name: "mood", sqlType: "integer", notNull: false, sourceType: (23, -1))]
        types.follow(later)
        #expect(throws: ForagerError.self) { try types.check(hives(weight: 1700, extra: added)) }
    }
}
