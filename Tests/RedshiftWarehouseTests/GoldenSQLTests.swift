import ForagerCore
import Foundation
import S3Staging
import Testing

@testable import RedshiftWarehouse

/// The DDL and apply statements of the representative table, compared byte for byte with the
/// files in `Golden/`, which were reviewed against the Redshift Database Developer Guide. A change
/// to the generated SQL shows in the diff of those files.
///
/// To regenerate them after an intended change, run the suite with the variable set, then review
/// the diff:
///
///     FORAGER_REGENERATE_GOLDEN=1 swift test --disable-xctest --filter RedshiftWarehouseTests.GoldenSQLTests
@Suite("Golden SQL")
struct GoldenSQLTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    /// Every statement the warehouse sends for `table`, in the order of a batch, separated by `;`.
    static func statements(for table: MappedTable) -> String {
        let staging = Staging(table: table, number: 0)
        let keys = AWSKeysForGolden.keys
        let statements = [
            RedshiftSQL.createStateTable("\"analytics\".\"_forager_state\""),
            RedshiftSQL.createRegistry("\"analytics\".\"_forager_tables\""),
            RedshiftSQL.createTable(table),
            RedshiftSQL.lock([table.target.sql, "\"analytics\".\"_forager_tables\"", "\"analytics\".\"_forager_state\""]),
            staging.create(),
            RedshiftSQL.redact(
                RedshiftSQL.copy(
                    into: staging.name, columns: staging.columns, manifestURL: "s3://forager-staging/cdc/slot_a/1f-1/1.manifest",
                    authorization: .keys(keys), region: "us-east-1")),
            RedshiftSQL.copy(
                into: staging.name, columns: staging.columns, manifestURL: "s3://forager-staging/cdc/slot_a/1f-1/1.manifest",
                authorization: .iamRole("arn:aws:iam::123456789012:role/forager-load"), region: nil),
            "SELECT pg_last_copy_count()",
            staging.fillEmpty(positions: [4]),
            staging.rowsMissingForUnchanged(),
            staging.fillUnchanged(positions: [1, 3]),
            staging.flagDeleted(),
            staging.deleteUsing(),
            staging.insertSelect(),
            staging.insertSelect(olderRowsValues: [
                "kind": "CAST('hive' AS VARCHAR(65535))", "frames": "CAST('10' AS INTEGER)", "note": "'kept'",
            ]),
            staging.drop(),
            RedshiftSQL.truncate(table),
        ]
        let offset = SourceColumn(name: "offset", sqlType: "character varying(30)", notNull: false)
        let rings = SourceColumn(name: "rings", sqlType: "integer", notNull: false)
        let tail =
            RedshiftSQL.storeCheckpoint("\"analytics\".\"_forager_state\"", slot: "slot_a", lsn: 0x16_B374_D848)
            + [
                RedshiftSQL.addColumn(table, offset),
                RedshiftSQL.addColumn(table, rings),
                RedshiftSQL.fillAdded(table, [(offset, "'a''b'"), (rings, "'3'")]),
                RedshiftSQL.widen(table, column: "offset", to: RedshiftTypes.mapping(of: "character varying(60)")),
            ]
        return (statements + tail).joined(separator: ";\n\n") + ";\n"
    }

    /// Soft deletes change the actions of the staged rows, not the statements: a table that flags
    /// its deleted rows sends exactly the statements of one that removes them, so both compare
    /// with one file (a difference would need a file of its own).
    @Test("the statements of a table with a key, removing or flagging deleted rows", arguments: [false, true])
    func golden(soft: Bool) throws {
        var table = Fixtures.orders(soft: soft)
        (table.source.name, table.target.name) = ("orders", "orders")
        let generated = Self.statements(for: table)
        let file = "orders.sql"
        let url = Self.folder.appendingPathComponent(file)
        if ProcessInfo.processInfo.environment["FORAGER_REGENERATE_GOLDEN"] == "1", !soft {
            try generated.write(to: url, atomically: true, encoding: .utf8)
        }
        let golden = try String(contentsOf: url, encoding: .utf8)
        #expect(generated == golden, "the generated SQL differs from \(file); regenerate and review the diff")
    }
}

/// Keys that look real, only for showing that the golden COPY is redacted.
enum AWSKeysForGolden {
    static let keys = AWSCredentials(
        accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        sessionToken: "FwoGZXIvYXdzEXAMPLE")
}
