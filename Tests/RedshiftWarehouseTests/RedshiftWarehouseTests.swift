import Foundation
import LibPQ
import PGOutput
import RedshiftTestSupport
import Testing

@testable import ForagerCore
@testable import RedshiftWarehouse

/// The warehouse driven through its roles against the Redshift emulation and moto's S3.
@Suite("Redshift warehouse against the emulation", .serialized)
struct RedshiftWarehouseTests {
    static let columns = "\"id\", \"note\", \"amount\", \"doc\", \"blob\", \"at\", \"tags\""

    /// A warehouse in a fresh schema with `orders` (and its soft-delete twin) prepared.
    private func prepared(_ schema: String) async throws -> (EmulatedRedshift, RedshiftWarehouse) {
        try await EmulatedRedshift.prepared(schema, [Fixtures.orders(schema: schema), Fixtures.orders(schema: schema, soft: true)])
    }

    private func orders(_ redshift: EmulatedRedshift, _ schema: String, table: String = "orders") async throws -> [[String]] {
        try await redshift.rows("SELECT \(Self.columns), \"_forager_deleted\" FROM \"\(schema)\".\"\(table)\" ORDER BY \"id\"")
    }

    @Test("prepare makes the tables with their layout; a batch of inserts, updates and deletes commits with its checkpoint")
    func batch() async throws {
        let (redshift, warehouse) = try await prepared("rs_batch")
        let layout = try await redshift.rows(
            "SELECT \"column\", distkey::text, sortkey::text FROM pg_table_def WHERE schemaname = 'rs_batch' AND tablename = 'orders' AND (distkey OR sortkey <> 0)"
        )
        #expect(Set(layout.map { $0[0] }) == ["id", "at"])
        try await warehouse.apply(
            Fixtures.inserts(Fixtures.orders(schema: "rs_batch"), notes: (1...4).map { "note \($0), \"quoted\"\nline" }))
        try await warehouse.commit(checkpoint: Fixtures.lsn(100))
        try await warehouse.apply(
            Fixtures.changes(Fixtures.orders(schema: "rs_batch")) { changes in
                try changes.update(old: nil, new: Fixtures.row(2, note: nil, amount: "-0.0001"), lsn: Fixtures.lsn(101))
                try changes.delete(old: Fixtures.row(3, note: nil), lsn: Fixtures.lsn(102))
                try changes.insert(Fixtures.row(5, note: "", blob: "\\x"), lsn: Fixtures.lsn(103))
            })
        try await warehouse.commit(checkpoint: Fixtures.lsn(200))
        let rows = try await orders(redshift, "rs_batch")
        #expect(rows.map { $0[0] } == ["1", "2", "4", "5"])
        #expect(
            rows[0] == [
                "1", "note 1, \"quoted\"\nline", "12.5000", "{\"k\": \"v\"}", "00ff", "2024-05-01 10:00:00.123456+00", "{a,\"b c\"}", "f",
            ])
        #expect(rows[1][1] == "NULL" && rows[1][2] == "-0.0001")
        #expect(rows[3][1] == "" && rows[3][4] == "")
        #expect(try await warehouse.checkpoint() == Fixtures.lsn(200))
        #expect(try await redshift.s3Client().list(prefix: "cdc/rs_batch/").isEmpty)
        let lsns = try await redshift.rows("SELECT \"_forager_lsn\" FROM \"rs_batch\".\"orders\" ORDER BY \"id\"")
        #expect(lsns.map { $0[0] } == ["1", "101", "4", "103"])
    }

    @Test("an unchanged TOAST value is taken from the warehouse row, also when the key moved")
    func unchangedToast() async throws {
        let (redshift, warehouse) = try await prepared("rs_toast")
        let table = Fixtures.orders(schema: "rs_toast")
        try await warehouse.apply(Fixtures.inserts(table, notes: ["large one", "large two"]))
        try await warehouse.commit(checkpoint: Fixtures.lsn(10))
        try await warehouse.apply(
            Fixtures.changes(table) { changes in
                var same = Fixtures.row(1, note: nil, amount: "1.0000")
                same.columns[1] = .unchangedToast
                try changes.update(old: nil, new: same, lsn: Fixtures.lsn(11))
                var moved = Fixtures.row(20, note: nil)
                moved.columns[1] = .unchangedToast
                try changes.update(old: Fixtures.row(2, note: nil), new: moved, lsn: Fixtures.lsn(12))
            })
        try await warehouse.commit(checkpoint: Fixtures.lsn(20))
        let rows = try await orders(redshift, "rs_toast")
        #expect(rows.map { [$0[0], $0[1], $0[2]] } == [["1", "large one", "1.0000"], ["20", "large two", "12.5000"]])
    }

    @Test("TRUNCATE empties the table inside the batch, in order; a soft delete keeps the row marked")
    func truncateAndSoftDelete() async throws {
        let (redshift, warehouse) = try await prepared("rs_trunc")
        let table = Fixtures.orders(schema: "rs_trunc"), soft = Fixtures.orders(schema: "rs_trunc", soft: true)
        var set = try Fixtures.changes(table) { try $0.insert(Fixtures.row(1, note: "before"), lsn: Fixtures.lsn(1)) }
        let after = try Fixtures.changes(table) { try $0.insert(Fixtures.row(2, note: "after"), lsn: Fixtures.lsn(3)) }
        let softRows = try Fixtures.changes(soft) { changes in
            try changes.insert(Fixtures.row(7, note: "kept"), lsn: Fixtures.lsn(4))
            try changes.insert(Fixtures.row(8, note: "flagged later"), lsn: Fixtures.lsn(4))
        }
        set.steps += [.truncate([table])] + after.steps + softRows.steps
        try await warehouse.apply(set)
        try await warehouse.commit(checkpoint: Fixtures.lsn(5))
        #expect(try await orders(redshift, "rs_trunc").map { $0[0] } == ["2"])
        try await warehouse.apply(Fixtures.changes(soft) { try $0.delete(old: Fixtures.row(8, note: nil), lsn: Fixtures.lsn(6)) })
        try await warehouse.commit(checkpoint: Fixtures.lsn(7))
        let kept = try await orders(redshift, "rs_trunc", table: "orders_soft")
        #expect(kept.map { [$0[0], $0[1], $0[7]] } == [["7", "kept", "f"], ["8", "flagged later", "t"]])
        #expect(try await redshift.rows("SELECT \"_forager_lsn\" FROM \"rs_trunc\".\"orders_soft\" WHERE \"id\" = 8") == [["6"]])
    }

    @Test("ADD COLUMN follows the source, one column per statement, in the batch's transaction")
    func addColumn() async throws {
        let (redshift, warehouse) = try await prepared("rs_add")
        var table = Fixtures.orders(schema: "rs_add")
        table.columns.append(SourceColumn(name: "offset", sqlType: "character varying(12)", notNull: false))
        table.columns.append(SourceColumn(name: "new", sqlType: "bigint", notNull: false))
        var set = ChangeSet()
        set.steps = [.schemaChange(SchemaChange(table: table, added: ["offset", "new"]))]
        var row = Fixtures.row(1, note: "wider")
        row.columns += [Fixtures.text("o"), Fixtures.text("9")]
        set.steps += try Fixtures.changes(table) { try $0.insert(row, lsn: Fixtures.lsn(2)) }.steps
        try await warehouse.apply(set)
        try await warehouse.commit(checkpoint: Fixtures.lsn(3))
        #expect(try await redshift.rows("SELECT \"offset\", \"new\" FROM \"rs_add\".\"orders\"") == [["o", "9"]])
        var defaulted = table
        var status = SourceColumn(name: "status", sqlType: "text", notNull: true)
        status.missingValue = "{\"new one\"}"
        var rings = SourceColumn(name: "rings", sqlType: "integer", notNull: false)
        rings.missingValue = "{3}"
        defaulted.columns += [status, rings]
        var later = ChangeSet()
        later.steps = [.schemaChange(SchemaChange(table: defaulted, added: ["status", "rings"]))]
        try await warehouse.apply(later)
        try await warehouse.commit(checkpoint: Fixtures.lsn(4))
        #expect(try await redshift.rows("SELECT \"status\", \"rings\" FROM \"rs_add\".\"orders\"") == [["new one", "3"]])
        // The rows already there are rewritten once for both columns, not once per column.
        let log = try String(contentsOfFile: redshift.statementsLog, encoding: .utf8)
        let fills = log.split(separator: "\n").filter { $0.contains(#"UPDATE \"rs_add\".\"orders\" SET"#) }
        #expect(fills.count == 1 && fills[0].contains(#"\"status\" = 'new one'"#) && fills[0].contains(#"\"rings\" = '3'"#), "\(fills)")
        let types = try await redshift.rows(
            "SELECT \"column\", type FROM pg_table_def WHERE schemaname = 'rs_add' AND tablename = 'orders' AND \"column\" IN ('offset', 'new') ORDER BY 1"
        )
        #expect(types == [["new", "bigint"], ["offset", "character varying(48)"]])
    }

    @Test("a snapshot loads through S3 in parts, in the snapshot's transaction")
    func snapshot() async throws {
        let redshift = try await EmulatedRedshift.shared()
        let warehouse = try await redshift.warehouse(schema: "rs_snap") { $0.partSize = 300 }
        let table = Fixtures.orders(schema: "rs_snap")
        #expect(try await warehouse.prepare(tables: [table], create: true).isEmpty)
        try await warehouse.beginSnapshot()
        try await warehouse.startLoad(table, binary: false)
        var copy = ""
        for id in 1...20 {
            copy += "\(id)\tnote \(id)\\twith tab\t\(id).5\t{\"n\": \(id)}\t\\\\x0a0b\t2024-01-01 00:00:00+00\t{x}\t0/\(id)\n"
        }
        copy += "21\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t0/99\n22\t\t0\t[]\t\\\\x\t\\N\t{}\t0/99\n"
        let bytes = Array(copy.utf8)
        for start in stride(from: 0, to: bytes.count, by: 100) {
            try await warehouse.load(Array(bytes[start..<min(start + 100, bytes.count)]))
        }
        #expect(try await warehouse.endLoad() == 22)
        try await warehouse.commit(checkpoint: Fixtures.lsn(500))
        let rows = try await orders(redshift, "rs_snap")
        #expect(rows.count == 22)
        #expect(rows[0] == ["1", "note 1\twith tab", "1.5000", "{\"n\": 1}", "0a0b", "2024-01-01 00:00:00+00", "{x}", "f"])
        #expect(rows[20] == ["21", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "f"])
        #expect(rows[21] == ["22", "", "0.0000", "[]", "", "NULL", "{}", "f"])
        #expect(try await redshift.rows("SELECT \"_forager_lsn\" FROM \"rs_snap\".\"orders\" WHERE \"id\" = 21") == [["153"]])
        #expect(try await warehouse.checkpoint() == Fixtures.lsn(500))
    }

    @Test("error 1023 at COMMIT rolls back and runs the batch again; a transaction in pieces fails as transient")
    func serializationConflictRetried() async throws {
        let (redshift, warehouse) = try await prepared("rs_1023")
        let table = Fixtures.orders(schema: "rs_1023")
        try await warehouse.apply(Fixtures.inserts(table, notes: ["one", "two"]))
        #expect(try await redshift.rows("SELECT redshift_emulation_fail_next_commit(1023)") == [["armed"]])
        try await warehouse.commit(checkpoint: Fixtures.lsn(3))
        #expect(try await orders(redshift, "rs_1023").map { [$0[0], $0[1]] } == [["1", "one"], ["2", "two"]])
        #expect(try await warehouse.checkpoint() == Fixtures.lsn(3))
        let log = try String(contentsOfFile: redshift.statementsLog, encoding: .utf8)
        let failedCommits = log.split(separator: "\n").filter { $0.contains("\"error\"") && $0.contains("1023") }
        #expect(!failedCommits.isEmpty, "the switch did not fire")
        // A transaction applied in pieces is not kept to run again: 1023 is a transient error.
        try await warehouse.apply(Fixtures.changes(table) { try $0.insert(Fixtures.row(3, note: "piece"), lsn: Fixtures.lsn(4)) })
        try await warehouse.apply(Fixtures.changes(table) { try $0.insert(Fixtures.row(4, note: "piece"), lsn: Fixtures.lsn(5)) })
        #expect(try await redshift.rows("SELECT redshift_emulation_fail_next_commit(1023)") == [["armed"]])
        let error = await #expect(throws: ForagerError.self) { try await warehouse.commit(checkpoint: Fixtures.lsn(6)) }
        #expect(error?.isTransient == true && error?.message.contains("1023") == true, "\(String(describing: error))")
        try await warehouse.rollback()
        #expect(try await orders(redshift, "rs_1023").count == 2)
        #expect(try await warehouse.checkpoint() == Fixtures.lsn(3))
    }
}

/// VARCHAR widening: in place at start, outside a transaction, as Redshift requires.
@Suite("Redshift warehouse widening", .serialized)
struct RedshiftWideningTests {
    @Test("a longer varchar is widened at start; in the stream the batch asks to start again, with nothing applied")
    func widening() async throws {
        var table = Fixtures.orders(schema: "rs_widen")
        table.columns.append(SourceColumn(name: "code", sqlType: "character varying(10)", notNull: false))
        let (redshift, warehouse) = try await EmulatedRedshift.prepared("rs_widen", [table])
        table.columns[7].sqlType = "character varying(20)"
        var set = ChangeSet()
        set.steps = [.schemaChange(SchemaChange(table: table, retyped: ["code"]))]
        let error = await #expect(throws: ForagerError.self) { try await warehouse.apply(set) }
        #expect(error?.isTransient == true && error?.message.contains("only outside a transaction") == true, "\(String(describing: error))")
        try await warehouse.rollback()
        _ = try await redshift.prepared("rs_widen", [table])
        let type = try await redshift.rows(
            "SELECT type FROM pg_table_def WHERE schemaname = 'rs_widen' AND tablename = 'orders' AND \"column\" = 'code'")
        #expect(type == [["character varying(80)"]])
    }
}
