import Foundation
import Testing

/// `warehouse.type: redshift` end to end: the forager binary copies and streams a table into the
/// Redshift emulation (Support/Redshift), every load staged in moto's S3 with signatures checked.
@Suite("Redshift warehouse through forager", .serialized, .cleansUpScenarios)
struct RedshiftPipelineTests {
    @Test("forager sync copies a table into Redshift through S3, then applies inserts, updates and deletes exactly; no key is printed")
    func syncThroughS3() async throws {
        let redshift = try await RedshiftScenario.make(
            sourceSQL: """
                CREATE TABLE hives (id int PRIMARY KEY, label text, weight numeric(6,2), readings jsonb, seen timestamptz);
                INSERT INTO hives SELECT g, 'hive ' || g, g * 1.5, '{"t": 1}', '2026-05-01 10:00:00.123456+00' FROM generate_series(1, 200) g;
                """,
            tables: ["hives"])
        let columns = "id, label, weight, readings, to_char(seen AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"
        try await redshift.forager(["sync"])
        #expect(try await redshift.bothRows("hives", columns: columns).warehouse.count == 200)
        try await redshift.expectSameRows("hives", columns: columns)

        try await redshift.scenario.onSourceEach([
            "INSERT INTO hives VALUES (201, 'new', 9.25, '{\"t\": 2}', '2026-05-02 11:00:00+00')",
            "UPDATE hives SET label = 'moved', weight = weight + 1 WHERE id <= 50",
            "DELETE FROM hives WHERE id BETWEEN 60 AND 69",
            "BEGIN; UPDATE hives SET readings = '{\"t\": 3}' WHERE id = 201; DELETE FROM hives WHERE id = 200; COMMIT",
        ])
        try await redshift.forager(["sync"])
        #expect(try await redshift.bothRows("hives", columns: columns).warehouse.count == 190)
        try await redshift.expectSameRows("hives", columns: columns)
        let status = try await redshift.forager(["status"])
        #expect(status.contains("hives"), "\(status)")
        // Staged objects are removed once their batch committed.
        #expect(try await redshift.redshift.s3Objects(prefix: "\(redshift.prefix)/").isEmpty)
    }
}
