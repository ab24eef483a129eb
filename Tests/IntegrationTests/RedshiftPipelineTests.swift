import Foundation
import RedshiftTestSupport
import Testing

/// `warehouse.type: redshift` end to end: the forager binary copies and streams a table into the
/// Redshift emulation (Support/Redshift), every load staged in moto's S3 with signatures checked.
@Suite("Redshift warehouse through forager", .serialized, .cleansUpScenarios)
struct RedshiftPipelineTests {
    @Test("forager sync copies a table into Redshift through S3, then applies inserts, updates and deletes exactly; no key is printed")
    func syncThroughS3() async throws {
        let redshift = try await EmulatedRedshift.shared()
        let scenario = try await Scenario.make(
            sourceSQL: """
                CREATE TABLE hives (id int PRIMARY KEY, label text, weight numeric(6,2), readings jsonb, seen timestamptz);
                INSERT INTO hives SELECT g, 'hive ' || g, g * 1.5, '{"t": 1}', '2026-05-01 10:00:00.123456+00' FROM generate_series(1, 200) g;
                """,
            tables: ["hives"])
        let schema = "rs_\(scenario.slot)"
        let s3 = redshift.s3
        let config = try String(contentsOfFile: scenario.configPath, encoding: .utf8)
        let postgresWarehouse = "warehouse:\n  type: postgres\n  url: \"\(scenario.warehouseURL)\"\n  schema: analytics\n"
        #expect(config.contains(postgresWarehouse))
        try config.replacingOccurrences(
            of: postgresWarehouse,
            with: """
                warehouse:
                  type: redshift
                  url: "\(redshift.url)"
                  schema: \(schema)
                  s3: {bucket: \(s3.bucket), region: \(s3.region), endpoint: "\(s3.endpoint)", prefix: "cdc/\(schema)"}

                """
        ).write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
        let keys = ["AWS_ACCESS_KEY_ID": s3.credentials.accessKeyID, "AWS_SECRET_ACCESS_KEY": s3.credentials.secretAccessKey]
        @discardableResult func forager(_ arguments: [String], expectStatus: Int32 = 0) async throws -> String {
            let output = try await scenario.forager(arguments, expectStatus: expectStatus, environment: keys)
            #expect(!output.contains(s3.credentials.secretAccessKey), "forager \(arguments) printed the secret key")
            return output
        }
        func warehouseRows() async throws -> [[String]] {
            try await redshift.rows(
                "SELECT id, label, weight, readings, to_char(seen AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') FROM \"\(schema)\".hives ORDER BY id"
            )
        }
        func sourceRows() async throws -> [[String]] {
            let text =
                try await scenario.sourceScalar(
                    "SELECT string_agg(concat_ws('|', id, label, weight, readings, to_char(seen AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')), E'\\n' ORDER BY id) FROM hives"
                ) ?? ""
            return text.split(separator: "\n").map { $0.split(separator: "|", omittingEmptySubsequences: false).map(String.init) }
        }
        try await forager(["sync"])
        #expect(try await warehouseRows().count == 200)
        #expect(try await warehouseRows() == (try await sourceRows()))

        try await scenario.onSourceEach([
            "INSERT INTO hives VALUES (201, 'new', 9.25, '{\"t\": 2}', '2026-05-02 11:00:00+00')",
            "UPDATE hives SET label = 'moved', weight = weight + 1 WHERE id <= 50",
            "DELETE FROM hives WHERE id BETWEEN 60 AND 69",
            "BEGIN; UPDATE hives SET readings = '{\"t\": 3}' WHERE id = 201; DELETE FROM hives WHERE id = 200; COMMIT",
        ])
        try await forager(["sync"])
        #expect(try await warehouseRows().count == 190)
        #expect(try await warehouseRows() == (try await sourceRows()))
        let status = try await forager(["status"])
        #expect(status.contains("hives"), "\(status)")
        // Staged objects are removed once their batch committed.
        #expect(try await redshift.s3Objects(prefix: "cdc/\(schema)/").isEmpty)
    }
}
