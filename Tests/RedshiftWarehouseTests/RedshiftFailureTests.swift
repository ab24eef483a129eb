import ForagerDemo
import Foundation
import LibPQ
import PGOutput
import RedshiftTestSupport
import S3Staging
import Testing

@testable import ForagerCore
@testable import RedshiftWarehouse

/// Failures against the emulation: load errors, wrong keys, orphans; and the grammar check of every
/// statement the warehouse sent.
@Suite("Redshift warehouse failures and statements", .serialized)
struct RedshiftFailureTests {
    @Test("a load error is surfaced with its stl_load_errors text, and nothing of the batch is applied")
    func loadError() async throws {
        let table = Fixtures.orders(schema: "rs_loaderr")
        let (redshift, warehouse) = try await EmulatedRedshift.prepared("rs_loaderr", [table])
        // A key the source would never send as an integer: Redshift's COPY refuses it.
        let error = await #expect(throws: ForagerError.self) {
            try await warehouse.apply(
                Fixtures.changes(table) { changes in
                    try changes.insert(Fixtures.row(1, note: "fine"), lsn: Fixtures.lsn(1))
                    var bad = Fixtures.row(2, note: "bad")
                    bad.columns[0] = Fixtures.text("two")
                    try changes.insert(bad, lsn: Fixtures.lsn(2))
                })
        }
        let message = error?.message ?? ""
        #expect(message.contains("stl_load_errors:") && message.contains("column id") && message.contains("'two'"), "\(message)")
        #expect(message.contains(".csv.gz line 2"), "\(message)")
        try await warehouse.rollback()
        #expect(try await redshift.rows("SELECT COUNT(*) FROM \"rs_loaderr\".\"orders\"") == [["0"]])
        #expect(try await redshift.s3Client().list(prefix: "cdc/rs_loaderr/").isEmpty)
    }

    @Test("a statement error from Redshift says it came from the warehouse, so status and metrics count it there")
    func errorOrigin() async throws {
        let redshift = try await EmulatedRedshift.shared()
        let warehouse = try await redshift.warehouse(schema: "rs_origin")
        let error = await #expect(throws: PGError.self) {
            try await warehouse.connection.execute("SELECT * FROM \"rs_origin\".\"nowhere\"")
        }
        #expect(error?.origin == "warehouse")
    }

    @Test("wrong S3 keys fail with an error that names S3 and not the secret")
    func wrongKeys() async throws {
        let redshift = try await EmulatedRedshift.shared()
        let wrong = AWSCredentials(
            accessKeyID: redshift.s3.credentials.accessKeyID, secretAccessKey: "wrongSecretWrongSecretWrongSecret0123")
        let table = Fixtures.orders(schema: "rs_keys")
        let copying = try await redshift.warehouse(schema: "rs_keys", authorization: .keys(wrong))
        #expect(try await copying.prepare(tables: [table], create: true).isEmpty)
        let copyError = await #expect(throws: ForagerError.self) {
            try await copying.apply(Fixtures.changes(table) { try $0.insert(Fixtures.row(1, note: "x"), lsn: Fixtures.lsn(1)) })
        }
        let copyText = "\(copyError.map { "\($0)" } ?? "")"
        #expect(copyText.contains("SignatureDoesNotMatch") || copyText.contains("403"), "\(copyText)")
        #expect(!copyText.contains(wrong.secretAccessKey) && !copyText.contains(redshift.s3.credentials.secretAccessKey))
        #expect(!copyText.contains(wrong.accessKeyID) && !copyText.contains("stl_load_errors:"), "\(copyText)")
        try await copying.rollback()
        let uploading = try await redshift.warehouse(schema: "rs_keys", uploadCredentials: wrong)
        _ = try await uploading.prepare(tables: [table], create: false)
        let uploadError = await #expect(throws: ForagerError.self) {
            try await uploading.apply(Fixtures.changes(table) { try $0.insert(Fixtures.row(1, note: "x"), lsn: Fixtures.lsn(1)) })
        }
        let uploadText = "\(uploadError.map { "\($0)" } ?? "")"
        #expect(uploadText.contains("S3 refused"), "\(uploadText)")
        #expect(!uploadText.contains(wrong.secretAccessKey))
        try await uploading.rollback()
    }

    @Test("objects an earlier run left under the slot's folder are removed at start, others kept")
    func orphans() async throws {
        let redshift = try await EmulatedRedshift.shared()
        let client = redshift.s3Client()
        try await client.put("cdc/rs_orphans/slot_a/dead-1/1-0.csv.gz", body: [1, 2, 3])
        try await client.put("cdc/rs_orphans/slot_b/alive/1-0.csv.gz", body: [1])
        _ = try await redshift.prepared("rs_orphans", [Fixtures.orders(schema: "rs_orphans")])
        #expect(try await client.list(prefix: "cdc/rs_orphans/") == ["cdc/rs_orphans/slot_b/alive/1-0.csv.gz"])
        try await client.delete("cdc/rs_orphans/slot_b/alive/1-0.csv.gz")
    }

    @Test("every statement the warehouse sent parses in sqlfluff's Redshift dialect")
    func grammar() async throws {
        let table = Fixtures.orders(schema: "rs_grammar"), soft = Fixtures.orders(schema: "rs_grammar", soft: true)
        // Sends the statements of a whole round itself, whatever ran before.
        let (redshift, warehouse) = try await EmulatedRedshift.prepared("rs_grammar", [table, soft])
        try await warehouse.apply(
            Fixtures.changes(soft) { changes in
                for id in 1...3 { try changes.insert(Fixtures.row(id, note: "n"), lsn: Fixtures.lsn(UInt64(id))) }
            })
        try await warehouse.commit(checkpoint: Fixtures.lsn(3))
        var set = try Fixtures.changes(soft) { changes in
            try changes.delete(old: Fixtures.row(2, note: nil), lsn: Fixtures.lsn(4))
            var toast = Fixtures.row(3, note: nil)
            toast.columns[1] = .unchangedToast
            try changes.update(old: nil, new: toast, lsn: Fixtures.lsn(5))
        }
        set.steps.append(.truncate([table]))
        set.steps += try Fixtures.changes(table) { try $0.delete(old: Fixtures.row(2, note: nil), lsn: Fixtures.lsn(6)) }.steps
        try await warehouse.apply(set)
        try await warehouse.commit(checkpoint: Fixtures.lsn(7))
        #expect(
            try await redshift.rows("SELECT \"id\", \"note\", \"_forager_deleted\" FROM \"rs_grammar\".\"orders_soft\" ORDER BY 1") == [
                ["1", "n", "f"], ["2", "n", "t"], ["3", "n", "f"],
            ])
        try await warehouse.record(table.source, TableState(phase: .streaming, syncedAt: Fixtures.lsn(5)))
        _ = try await warehouse.tableStates()
        _ = try await warehouse.rowCounts([table.target])
        let log = try String(contentsOfFile: redshift.statementsLog, encoding: .utf8)
        for needed in ["DELETE FROM \\\"rs_grammar\\\".\\\"orders\\\" USING", "UPDATE \\\"_forager_stage_", "LOCK ", "COPY "] {
            #expect(log.contains(needed), "the statements log lacks \(needed)")
        }
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("forager-sqlfluff-\(getpid()).log").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        let check = try ChildProcess(
            EmulatedRedshift.repositoryRoot + "/.build-venv/aws/bin/python",
            [EmulatedRedshift.repositoryRoot + "/Tests/IntegrationTests/Support/Redshift/check_redshift_sql.py", redshift.statementsLog],
            outputPath: output)
        let status = try await check.wait(timeout: .seconds(300))
        #expect(status == 0, "\(check.output)")
    }
}
