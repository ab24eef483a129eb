import Foundation
import PGOutput
import RedshiftTestSupport
import S3Staging
import Testing

@testable import ForagerCore
@testable import RedshiftWarehouse

/// The registry, stopped tables and what the logs show, against the emulation.
@Suite("Redshift warehouse registry and logs", .serialized)
struct RedshiftRegistryTests {
    @Test("a value Redshift cannot hold stops its table, naming the row; the other table's rows commit")
    func unstorableStopsTheTable() async throws {
        let table = Fixtures.orders(schema: "rs_stop"), soft = Fixtures.orders(schema: "rs_stop", soft: true)
        let (redshift, warehouse) = try await EmulatedRedshift.prepared("rs_stop", [table, soft])
        var set = try Fixtures.changes(table) { changes in
            try changes.insert(Fixtures.row(1, note: String(repeating: "é", count: 40000)), lsn: Fixtures.lsn(1))
        }
        set.steps += try Fixtures.changes(soft) { try $0.insert(Fixtures.row(2, note: "flows"), lsn: Fixtures.lsn(2)) }.steps
        let stopped = try await warehouse.apply(set)
        try await warehouse.commit(checkpoint: Fixtures.lsn(3))
        #expect(try await redshift.rows("SELECT \"id\" FROM \"rs_stop\".\"orders_soft\"") == [["2"]])
        #expect(try await redshift.rows("SELECT COUNT(*) FROM \"rs_stop\".\"orders\"") == [["0"]])
        #expect(stopped == [table.source])
        let state = try await warehouse.tableStates()[table.source]
        #expect(state?.phase == .stopped)
        #expect(state?.reason?.contains("column \"note\" of public.orders, row (\"id\")=(1)") == true, "\(String(describing: state))")
        #expect(state?.reason?.contains("80000 bytes is over the 65535") == true)
        let restarted = try await redshift.prepared("rs_stop", [table])
        #expect(try await restarted.tableStates()[table.source]?.phase == .stopped)
    }

    @Test("the registry and the checkpoint are replaced by delete and insert, read back, and forgotten")
    func registry() async throws {
        let table = Fixtures.orders(schema: "rs_registry")
        let (redshift, warehouse) = try await EmulatedRedshift.prepared("rs_registry", [table])
        #expect(try await warehouse.checkpoint() == nil)
        try await warehouse.record(table.source, TableState(phase: .streaming, syncedAt: Fixtures.lsn(0x1_0000_0001)))
        try await warehouse.record(table.source, TableState(phase: .stopped, syncedAt: Fixtures.lsn(7), reason: "it's stopped"))
        #expect(
            try await warehouse.tableStates()[table.source]
                == TableState(phase: .stopped, syncedAt: Fixtures.lsn(7), reason: "it's stopped"))
        try await warehouse.requestResync([table.source])
        #expect(try await warehouse.tableStates()[table.source]?.phase == .resync)
        try await warehouse.commit(checkpoint: Fixtures.lsn(0x2_0000_0000))
        try await warehouse.commit(checkpoint: Fixtures.lsn(5))
        #expect(try await warehouse.checkpoint() == Fixtures.lsn(0x2_0000_0000), "the checkpoint went backwards")
        #expect(try await redshift.rows("SELECT COUNT(*) FROM \"rs_registry\".\"_forager_state\"") == [["1"]])
        try await warehouse.forgetCheckpoint()
        #expect(try await warehouse.checkpoint() == nil)
    }

    @Test("no log line at any level carries a key, while COPY statements are logged redacted")
    func keysNeverLogged() async throws {
        let redshift = try await EmulatedRedshift.shared()
        let log = CollectedLog()
        let keys = redshift.s3.credentials
        let warehouse = try await redshift.warehouse(schema: "rs_logs", logger: log.logger())
        let table = Fixtures.orders(schema: "rs_logs")
        #expect(try await warehouse.prepare(tables: [table], create: true).isEmpty)
        try await warehouse.apply(Fixtures.changes(table) { try $0.insert(Fixtures.row(1, note: "x"), lsn: Fixtures.lsn(1)) })
        try await warehouse.commit(checkpoint: Fixtures.lsn(2))
        let wrong = AWSCredentials(accessKeyID: keys.accessKeyID, secretAccessKey: "anotherWrongSecretForTheLogTest0123456")
        let failing = try await redshift.warehouse(schema: "rs_logs", authorization: .keys(wrong), logger: log.logger())
        _ = try await failing.prepare(tables: [table], create: false)
        await #expect(throws: ForagerError.self) {
            try await failing.apply(Fixtures.changes(table) { try $0.insert(Fixtures.row(2, note: "y"), lsn: Fixtures.lsn(3)) })
        }
        let text = log.text
        #expect(text.contains("SECRET_ACCESS_KEY '***'"), "the COPY was not logged: \(text)")
        #expect(!text.contains(keys.secretAccessKey) && !text.contains(wrong.secretAccessKey) && !text.contains(keys.accessKeyID))
    }
}
