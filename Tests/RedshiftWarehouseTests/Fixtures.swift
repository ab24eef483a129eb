import PGOutput

@testable import ForagerCore

/// The representative table of the tests and golden files: a key, a text, a numeric, a jsonb, a
/// bytea, a timestamptz and an array column.
enum Fixtures {
    static func orders(schema: String = "analytics", soft: Bool = false) -> MappedTable {
        var table = MappedTable(
            source: TableName(schema: "public", name: soft ? "orders_soft" : "orders"),
            target: TableName(schema: schema, name: soft ? "orders_soft" : "orders"),
            columns: [
                SourceColumn(name: "id", sqlType: "integer", notNull: true),
                SourceColumn(name: "note", sqlType: "text", notNull: false),
                SourceColumn(name: "amount", sqlType: "numeric(12,4)", notNull: false),
                SourceColumn(name: "doc", sqlType: "jsonb", notNull: false),
                SourceColumn(name: "blob", sqlType: "bytea", notNull: false),
                SourceColumn(name: "at", sqlType: "timestamp with time zone", notNull: false),
                SourceColumn(name: "tags", sqlType: "text[]", notNull: false),
            ], keyColumns: ["id"])
        table.deletes = soft ? .soft : .hard
        table.layout = PhysicalLayout(redshift: PhysicalLayout.Redshift(sortKey: ["at"], distKey: "id"))
        return table
    }

    static func text(_ value: String) -> TupleColumn { .text(ArraySlice(value.utf8)) }

    /// A row of `orders` with id `id` and a note.
    static func row(_ id: Int, note: String?, amount: String = "12.5000", blob: String = "\\x00ff") -> TupleData {
        TupleData(columns: [
            text(String(id)), note.map(text) ?? .null, text(amount), text("{\"k\": \"v\"}"), text(blob),
            text("2024-05-01 10:00:00.123456+00"),
            text("{a,\"b c\"}"),
        ])
    }

    /// A change set of one rows step with `body` folded into the table's changes.
    static func changes(_ table: MappedTable, _ body: (inout TableChanges) throws -> Void) rethrows -> ChangeSet {
        var tableChanges = TableChanges(table: table, keyIndexes: [0])
        try body(&tableChanges)
        var set = ChangeSet()
        set.steps = [.rows([tableChanges])]
        return set
    }

    /// A change set inserting rows 1, 2, … of `table`, with `notes` in order, at LSNs 1, 2, ….
    static func inserts(_ table: MappedTable, notes: [String]) throws -> ChangeSet {
        try changes(table) { changes in
            for (index, note) in notes.enumerated() {
                try changes.insert(row(index + 1, note: note), lsn: lsn(UInt64(index + 1)))
            }
        }
    }

    static func lsn(_ value: UInt64) -> LSN { LSN(value) }
}
