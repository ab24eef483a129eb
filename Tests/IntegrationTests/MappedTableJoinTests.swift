import ForagerDemo
import Foundation
import Glibc
import Testing

/// Tables that join a running pipeline: added to the mapping, copied while the others stream, then
/// streamed themselves.
@Suite("Tables added to the mapping", .cleansUpScenarios)
struct MappedTableJoinTests {
    /// A scenario whose table `hives (id, n)` holds `hives` rows, mapped and copied by a first sync,
    /// beside the tables `otherSQL` makes, not mapped yet.
    private func hivesSynced(_ hives: Int, beside otherSQL: String) async throws -> Scenario {
        let scenario = try await Scenario.make(
            sourceSQL: """
                CREATE TABLE hives (id int PRIMARY KEY, n int);
                INSERT INTO hives SELECT g, 0 FROM generate_series(1, \(hives)) g;
                \(otherSQL)
                """,
            tables: ["hives"])
        try await scenario.forager(["sync"])
        return scenario
    }

    @Test("a table added to the mapping is copied and then streamed, with writes running throughout; none lost or doubled")
    func newlyMappedTableJoins() async throws {
        let scenario = try await hivesSynced(
            100,
            beside: """
                CREATE TABLE visits (id int PRIMARY KEY, hive_id int, n int);
                INSERT INTO visits SELECT g, g % 100, 0 FROM generate_series(1, 1000) g;
                """)
        let writer = scenario.writeContinuously(pause: .zero) { round in
            let next = 1000 + round
            return """
                BEGIN; INSERT INTO visits VALUES (\(next), \(next % 100), 0);
                UPDATE visits SET n = n + 1 WHERE id = \(1 + next % 1000);
                DELETE FROM visits WHERE id = \(next - 500) AND id % 7 = 0;
                UPDATE hives SET n = n + 1 WHERE id = \(1 + next % 100); COMMIT
                """
        }
        try await Task.sleep(for: .milliseconds(300))
        try scenario.writeMapping("tables:\n  - source: hives\n  - source: visits\n")
        try await scenario.forager(["sync"])
        try await Task.sleep(for: .milliseconds(300))
        writer.cancel()
        _ = await writer.result
        try await scenario.forager(["sync"])
        try await scenario.expectSameContent(source: "visits", target: "analytics.visits", columns: ["id", "hive_id", "n"])
        try await scenario.expectSameContent(source: "hives", target: "analytics.hives", columns: ["id", "n"])
        #expect(try await scenario.sourceScalar("SELECT count(*) > 1000 FROM visits") == "t")
    }

    @Test("while a newly mapped large table is copied, the other tables keep streaming; then it streams too, none lost or doubled")
    func otherTablesStreamDuringACopy() async throws {
        let scenario = try await hivesSynced(
            10,
            beside: """
                CREATE TABLE readings (id bigint PRIMARY KEY, hive_id int, value double precision);
                INSERT INTO readings SELECT g, g % 10, g FROM generate_series(1, 2000000) g;
                """)
        try scenario.writeMapping("tables:\n  - source: hives\n  - source: readings\n")
        let process = try scenario.launch(["run"])
        let writer = scenario.writeContinuously(pause: .milliseconds(5)) { round in
            let next = 99 + round
            return """
                BEGIN; INSERT INTO hives VALUES (\(next), 0); UPDATE readings SET value = -value WHERE id = \(next * 7);
                INSERT INTO readings VALUES (\(3_000_000 + next), 1, 0); COMMIT
                """
        }
        var streamedDuringCopy = false
        try await scenario.eventually(timeout: .seconds(120), "the copy to finish") {
            let state = try await scenario.warehouseScalar("SELECT state FROM analytics._forager_tables WHERE source_table = 'readings'")
            if state == "copying", try await scenario.warehouseScalar("SELECT count(*) > 5 FROM analytics.hives WHERE id >= 100") == "t" {
                streamedDuringCopy = true
            }
            return state == "streaming"
        }
        #expect(streamedDuringCopy, "rows of hives should arrive while readings is being copied")
        try await Task.sleep(for: .milliseconds(500))
        writer.cancel()
        _ = await writer.result
        try await scenario.eventually(timeout: .seconds(60), "the warehouse to catch up") {
            let source = try await scenario.sourceScalar(
                Scenario.digestSQL(table: "readings", columns: ["id", "hive_id", "value"], key: ["id"]))
            let warehouse = try await scenario.warehouseScalar(
                Scenario.digestSQL(table: "analytics.readings", columns: ["id", "hive_id", "value"], key: ["id"]))
            return source == warehouse
        }
        try await scenario.expectSameContent(source: "hives", target: "analytics.hives", columns: ["id", "n"])
        try await process.expectCleanStop()
    }

    @Test("a newly mapped table that the warehouse refuses a change to while its copy catches up stays stopped; the others flow")
    func aTableStoppedDuringItsCatchUpStaysStopped() async throws {
        let scenario = try await hivesSynced(
            1,
            beside: """
                CREATE TABLE readings (id bigint PRIMARY KEY, label text);
                INSERT INTO readings SELECT g, 'ok' FROM generate_series(1, 1000000) g;
                """)
        // A `types` override too narrow for one value: the warehouse refuses that row, and only it.
        try scenario.writeMapping("tables:\n  - source: hives\n  - source: readings\n    types: {label: varchar(5)}\n")
        let process = try scenario.launch(["run"])
        // The copy's slot exists: a change committed from now on is not in the copy, and reaches the
        // warehouse through the copy's own stream, before the handover.
        try await scenario.eventually(timeout: .seconds(60), "the copy's slot") {
            try await scenario.sourceScalar("SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'forager_copy_%'") == "1"
        }
        try await Task.sleep(for: .milliseconds(300))
        try await scenario.onSource("INSERT INTO readings VALUES (2000001, 'far too long for five')")
        #expect(
            try await scenario.warehouseScalar("SELECT state FROM analytics._forager_tables WHERE source_table = 'readings'") == "copying",
            "the copy ended before the refused change was made: the test did not reach the catch-up")
        try await scenario.eventually(timeout: .seconds(120), "the table to stop") {
            try await scenario.warehouseScalar("SELECT state FROM analytics._forager_tables WHERE source_table = 'readings'") == "stopped"
        }
        // Made after the handover: had the table been recorded as streaming, these would be applied
        // while the refused change and those before the handover are not.
        try await scenario.onSource("INSERT INTO readings VALUES (2000002, 'later'); INSERT INTO hives VALUES (2, 0)")
        try await scenario.eventually(timeout: .seconds(60), "hives to go on") {
            try await scenario.warehouseScalar("SELECT count(*) FROM analytics.hives") == "2"
        }
        #expect(
            try await scenario.warehouseScalar("SELECT state FROM analytics._forager_tables WHERE source_table = 'readings'") == "stopped")
        let reason = try await scenario.warehouseScalar("SELECT reason FROM analytics._forager_tables WHERE source_table = 'readings'")
        #expect(reason?.contains("forager resync --table public.readings") == true, "\(reason ?? "no reason")")
        #expect(try await scenario.warehouseScalar("SELECT count(*) FROM analytics.readings WHERE id > 2000000") == "0")
        try await process.expectCleanStop()
    }
}
