import Foundation
import Glibc
import Testing

@Suite("Operations", .serialized, .cleansUpScenarios)
struct OperationsTests {
    @Test("forager drop says what it would remove, refuses while the slot is in use, and with --yes leaves no slot or publication")
    func dropRemovesSlotAndPublications() async throws {
        let scenario = try await Scenario.make(
            sourceSQL:
                "CREATE TABLE hives (id int PRIMARY KEY); CREATE TABLE events (at timestamptz, kind text); INSERT INTO hives VALUES (1);",
            mapping: "tables:\n  - source: hives\n  - source: events\n    append_only: true\n")
        try await scenario.forager(["sync"])
        let dryRun = try await scenario.forager(["drop"], expectStatus: 1)
        #expect(dryRun.contains("would drop replication slot \"\(scenario.slot)\""))
        #expect(
            dryRun.contains("publication \"forager_pub\"") && dryRun.contains("publication \"forager_pub_append\"")
                && dryRun.contains("--yes"))
        #expect(try await scenario.sourceScalar("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '\(scenario.slot)'") == "1")

        let running = try scenario.launch(["run"])
        try await scenario.eventually("the slot to be in use") {
            try await scenario.sourceScalar("SELECT active FROM pg_replication_slots WHERE slot_name = '\(scenario.slot)'") == "t"
        }
        let refused = try await scenario.forager(["drop", "--yes"], expectStatus: 1)
        #expect(refused.contains("is in use by a running process"))
        try await running.expectCleanStop()

        let dropped = try await scenario.forager(["drop", "--yes"])
        #expect(dropped.contains("dropped replication slot"))
        #expect(try await scenario.sourceScalar("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '\(scenario.slot)'") == "0")
        #expect(try await scenario.sourceScalar("SELECT count(*) FROM pg_publication WHERE pubname LIKE 'forager_pub%'") == "0")
        #expect(try await scenario.forager(["drop", "--yes"]).contains("nothing to drop"))
    }

    @Test("forager reset says what it would do, then starts over into the same tables: a new slot and snapshot, no row doubled")
    func resetStartsOver() async throws {
        let scenario = try await Scenario.make(
            sourceSQL:
                "CREATE TABLE hives (id int PRIMARY KEY, name text); CREATE TABLE yards (id int PRIMARY KEY); INSERT INTO hives SELECT g, 'h' || g FROM generate_series(1, 100) g; INSERT INTO yards VALUES (1);",
            tables: ["hives", "yards"])
        try await scenario.forager(["sync"])
        let before = try await scenario.checkpoint() ?? ""
        let dryRun = try await scenario.forager(["reset"], expectStatus: 1)
        #expect(
            dryRun.contains("would drop replication slot \"\(scenario.slot)\"")
                && dryRun.contains("forget the warehouse checkpoint \(before)"), "\(dryRun)")
        #expect(dryRun.contains("mark public.hives, public.yards for a new copy") && dryRun.contains("--yes"), "\(dryRun)")
        #expect(try await scenario.checkpoint() == before)

        let done = try await scenario.forager(["reset", "--yes"])
        #expect(done.contains("dropped replication slot") && done.contains("forgot the warehouse checkpoint"), "\(done)")
        #expect(try await scenario.checkpoint() == nil)
        #expect(try await scenario.sourceScalar("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '\(scenario.slot)'") == "0")
        // Changes made while the pipeline has no slot are in the new snapshot.
        try await scenario.onSource(
            "UPDATE hives SET name = 'changed' WHERE id <= 10; DELETE FROM hives WHERE id > 90; INSERT INTO yards VALUES (2);")
        try await scenario.forager(["sync"])
        try await scenario.expectSameContent(source: "hives", target: "analytics.hives", columns: ["id", "name"])
        try await scenario.expectSameContent(source: "yards", target: "analytics.yards", columns: ["id"])
        #expect(try await scenario.warehouseScalar("SELECT string_agg(state, ',') FROM analytics._forager_tables") == "streaming,streaming")
        try await scenario.onSource("INSERT INTO yards VALUES (3)")
        try await scenario.forager(["sync"])
        try await scenario.expectSameContent(source: "yards", target: "analytics.yards", columns: ["id"])
    }

    @Test("with the mapped tables idle and other tables written, the slot's confirmed_flush_lsn keeps advancing")
    func idleSlotAdvances() async throws {
        let scenario = try await Scenario.make(
            sourceSQL: "CREATE TABLE hives (id int PRIMARY KEY); CREATE TABLE unmapped (id serial PRIMARY KEY, pad text);",
            tables: ["hives"])
        let running = try scenario.launch(["run"])
        try await scenario.eventually("streaming") {
            try await scenario.sourceScalar("SELECT active FROM pg_replication_slots WHERE slot_name = '\(scenario.slot)'") == "t"
        }
        let before =
            try await scenario.sourceScalar(
                "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = '\(scenario.slot)'") ?? ""
        try await scenario.onSource("INSERT INTO unmapped (pad) SELECT repeat('x', 1000) FROM generate_series(1, 20000)")
        let written = try await scenario.sourceScalar("SELECT pg_current_wal_lsn()::text") ?? ""
        try await scenario.eventually(timeout: .seconds(45), "the slot to pass the unmapped writes") {
            try await scenario.sourceScalar(
                "SELECT confirmed_flush_lsn >= '\(written)'::pg_lsn FROM pg_replication_slots WHERE slot_name = '\(scenario.slot)'") == "t"
        }
        #expect(try await scenario.sourceScalar("SELECT '\(before)'::pg_lsn < '\(written)'::pg_lsn") == "t")
        #expect(try await scenario.warehouseScalar("SELECT lsn >= '\(written)'::pg_lsn FROM analytics._forager_state") == "t")
        try await running.expectCleanStop()
    }

    @Test("--log-format json writes one JSON object per line, with the metadata as fields")
    func jsonLogs() async throws {
        let scenario = try await Scenario.make(
            sourceSQL: "CREATE TABLE hives (id int PRIMARY KEY); INSERT INTO hives VALUES (1);", tables: ["hives"])
        let output = try await scenario.forager(["sync", "--log-format", "json"])
        let lines = output.split(separator: "\n").filter { !$0.isEmpty }
        #expect(!lines.isEmpty)
        var sawLSN = false
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String]
            #expect(object?["level"] != nil && object?["message"] != nil && object?["time"] != nil, "\(line)")
            sawLSN = sawLSN || object?["forager.lsn"] != nil
        }
        #expect(sawLSN)
    }
}
