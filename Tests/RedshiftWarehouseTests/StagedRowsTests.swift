import PGOutput
import Testing

@testable import ForagerCore
@testable import RedshiftWarehouse

@Suite("Staged rows")
struct StagedRowsTests {
    private func staged(_ table: MappedTable, _ body: (inout TableChanges) throws -> Void) throws -> (StagedRows, String) {
        let changes = try Fixtures.changes(table, body)
        guard case .rows(let tables) = changes.steps[0] else { throw ForagerError(.warehouse, "no rows") }
        let rows = try StagedRows.stage(tables[0])
        return (rows, rows.parts.map { String(decoding: $0, as: UTF8.self) }.joined())
    }

    @Test("inserts, updates and deletes become actions; an update's unchanged TOAST value is marked, not sent")
    func actions() throws {
        let (rows, csv) = try staged(Fixtures.orders()) { changes in
            try changes.insert(Fixtures.row(1, note: "new"), lsn: Fixtures.lsn(10))
            var toast = Fixtures.row(2, note: nil)
            toast.columns[1] = .unchangedToast
            try changes.update(old: nil, new: toast, lsn: Fixtures.lsn(11))
            try changes.delete(old: Fixtures.row(3, note: nil), lsn: Fixtures.lsn(12))
        }
        #expect(rows.rows == 3)
        #expect(rows.actions == [.insert, .upsert, .delete])
        #expect(rows.unchangedPositions == [1])
        let lines = csv.split(separator: "\n")
        #expect(lines[0].hasSuffix(",\"10\",\"false\",\"i\",<forager:null>,<forager:null>,<forager:null>"))
        #expect(lines[1].hasPrefix("\"2\",<forager:null>,\"12.5000\""))
        #expect(lines[1].hasSuffix(",\"11\",\"false\",\"u\",\",1,\",<forager:null>,<forager:null>"))
        #expect(
            lines[2]
                == "\"3\",<forager:null>,<forager:null>,<forager:null>,<forager:null>,<forager:null>,<forager:null>,\"12\",\"false\",\"d\",<forager:null>,<forager:null>,<forager:null>"
        )
    }

    @Test("a column the stream added has no type until the sink defines it from a schema change; then its values stage by type")
    func definedColumns() throws {
        var table = Fixtures.orders()
        table.columns[4].sqlType = ""
        let changes = try Fixtures.changes(table) { try $0.insert(Fixtures.row(1, note: "n"), lsn: Fixtures.lsn(10)) }
        guard case .rows(var tables) = changes.steps[0] else { throw ForagerError(.warehouse, "no rows") }
        let untyped = String(decoding: try StagedRows.stage(tables[0]).parts.joined(), as: UTF8.self)
        #expect(untyped.contains(",\"\\x00ff\","), "an untyped column stages the source's text:\n\(untyped)")
        tables[0].define([
            "blob": SourceColumn(name: "blob", sqlType: "bytea", notNull: false),
            "note": SourceColumn(name: "note", sqlType: "jsonb", notNull: false),
        ])
        #expect(
            tables[0].table.columns[4].sqlType == "bytea" && tables[0].table.columns[1].sqlType == "text",
            "only untyped columns are defined")
        let typed = String(decoding: try StagedRows.stage(tables[0]).parts.joined(), as: UTF8.self)
        #expect(typed.contains(",\"00ff\","), "a VARBYTE stages bare hexadecimal:\n\(typed)")
    }

    @Test("oversized_text: truncate cuts and counts long text outside the key; a long key still stops the table")
    func truncation() throws {
        var table = Fixtures.orders()
        table.columns[0] = SourceColumn(name: "id", sqlType: "character varying(2)", notNull: true)
        table.layout.redshift?.oversizedText = .truncate
        let note = String(repeating: "x", count: 70_000)
        let (rows, csv) = try staged(table) { changes in
            var first = Fixtures.row(1, note: note)
            first.columns[0] = Fixtures.text("k1")
            try changes.insert(first, lsn: Fixtures.lsn(10))
            var second = Fixtures.row(2, note: "short")
            second.columns[0] = Fixtures.text("k2")
            try changes.insert(second, lsn: Fixtures.lsn(11))
        }
        #expect(rows.truncated == [1: 1])
        #expect(csv.contains("\"k1\",\"" + String(repeating: "x", count: 65535) + "\","))
        #expect(!csv.contains(String(repeating: "x", count: 65536)))
        #expect(throws: ForagerError.self, "a key over its VARCHAR is never cut") {
            _ = try staged(table) { changes in
                var row = Fixtures.row(3, note: "n")
                row.columns[0] = Fixtures.text(String(repeating: "k", count: 9))
                try changes.insert(row, lsn: Fixtures.lsn(12))
            }
        }
        table.layout.redshift?.oversizedText = .stop
        #expect(throws: ForagerError.self, "without the option the row is refused") {
            _ = try staged(table) { try $0.insert(Fixtures.row(4, note: note), lsn: Fixtures.lsn(13)) }
        }
    }

    @Test("soft deletes keep a row whose values the batch saw, and flag one it did not")
    func softDeletes() throws {
        let (rows, csv) = try staged(Fixtures.orders(soft: true)) { changes in
            try changes.update(old: nil, new: Fixtures.row(1, note: "seen"), lsn: Fixtures.lsn(10))
            try changes.delete(old: Fixtures.row(1, note: nil), lsn: Fixtures.lsn(11))
            try changes.delete(old: Fixtures.row(2, note: nil), lsn: Fixtures.lsn(12))
        }
        #expect(rows.actions == [.upsert, .flagDeleted])
        let lines = csv.split(separator: "\n")
        #expect(
            lines[0].hasPrefix("\"1\",\"seen\"")
                && lines[0].hasSuffix(",\"11\",\"true\",\"u\",<forager:null>,<forager:null>,<forager:null>"))
        #expect(lines[1].hasSuffix(",\"12\",\"true\",\"f\",<forager:null>,<forager:null>,<forager:null>"))
    }

    @Test("a moved row with an unchanged value names the key it moved from")
    func movedFrom() throws {
        let (_, csv) = try staged(Fixtures.orders()) { changes in
            var moved = Fixtures.row(9, note: nil)
            moved.columns[1] = .unchangedToast
            try changes.update(old: Fixtures.row(4, note: nil), new: moved, lsn: Fixtures.lsn(20))
        }
        let lines = csv.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("\"9\"") && $0.hasSuffix(",\"u\",\",1,\",<forager:null>,\"4\"") }, "\(csv)")
    }

    @Test("rows split into parts of about the part size")
    func parts() throws {
        let changes = try Fixtures.changes(Fixtures.orders()) { changes in
            for id in 0..<100 {
                try changes.insert(Fixtures.row(id, note: String(repeating: "n", count: 100)), lsn: Fixtures.lsn(UInt64(id + 1)))
            }
        }
        guard case .rows(let tables) = changes.steps[0] else { return }
        let rows = try StagedRows.stage(tables[0], partSize: 2000)
        #expect(rows.parts.count > 5)
        #expect(rows.parts.allSatisfy { $0.last == 0x0A })
        #expect(rows.parts.reduce(0) { $0 + $1.filter { $0 == 0x0A }.count } == 100)
    }

    @Test("a table without a key whose rows a batch removes stops, with what to do")
    func keylessRemoval() throws {
        var table = Fixtures.orders()
        table.identity = .fullRow
        table.keyColumns = []
        var tableChanges = TableChanges(table: table, keyIndexes: [])
        try tableChanges.delete(old: Fixtures.row(1, note: "x"), lsn: Fixtures.lsn(3))
        let error = #expect(throws: ForagerError.self) { try StagedRows.stage(tableChanges) }
        #expect(error?.hint?.contains("forager resync --table public.orders") == true)
    }
}
