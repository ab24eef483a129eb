import ForagerCore
import Testing

@Suite struct MappedTableTests {
    private func table(excluding excluded: [String]) -> MappedTable {
        var table = MappedTable(
            source: TableName(schema: "public", name: "tab1"), target: TableName(schema: "analytics", name: "tab1"),
            columns: ["a", "b", "doc", "e", "f"].map { SourceColumn(name: $0, sqlType: "text", notNull: false) }, keyColumns: ["a"])
        table.excludedColumns = excluded
        return table
    }

    @Test("with exclude_columns, columns the column list does not publish are left out, in table order")
    func leavesOutColumnsAddedAfterTheList() {
        var table = table(excluding: ["secret"])
        #expect(table.leaveOutUnpublished(published: ["a", "b", "doc"]) == ["e", "f"])
        #expect(table.columns.map(\.name) == ["a", "b", "doc"])
    }

    @Test("without exclude_columns there is no column list, and every column stays")
    func keepsEveryColumnWithoutExclusions() {
        var table = table(excluding: [])
        #expect(table.leaveOutUnpublished(published: ["a", "b"]).isEmpty)
        #expect(table.columns.map(\.name) == ["a", "b", "doc", "e", "f"])
    }

    @Test("key columns and columns the mapping names (rename_columns, extract) stay, so that a mapping change is still refused")
    func keepsColumnsTheMappingAsksFor() {
        var table = table(excluding: ["secret"])
        table.renames = ["e": "event"]
        table.extracts = [JSONExtract(column: "kind", from: "doc", path: ["kind"], type: .text)]
        #expect(table.leaveOutUnpublished(published: ["b"]) == ["f"])
        #expect(table.columns.map(\.name) == ["a", "b", "doc", "e"])
    }
}
