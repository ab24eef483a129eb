import Foundation
import Testing

/// `append_only` tables into ClickHouse: rows without a key, many of them alike and many sharing
/// one WAL position (the copy's; one COPY's on the source), each kept once, also when the stream
/// is replayed after the warehouse has applied it.
@Suite("ClickHouse append_only tables", .serialized, .cleansUpScenarios)
struct ClickHouseAppendOnlyTests {
    @Test(
        "every insert is kept once: identical rows of the copy, one COPY's rows across batch pieces, and a replay of the stream",
        arguments: ClickHouseServer.Kind.allCases)
    func appendOnlyRowsAreKeptOnce(_ kind: ClickHouseServer.Kind) async throws {
        let (server, scenario) = try await Scenario.make(
            clickHouse: kind,
            sourceSQL: """
                CREATE TABLE events (device int NOT NULL, kind text, value double precision);
                INSERT INTO events SELECT g % 4, 'boot', 1.5 FROM generate_series(1, 500) g;
                """,
            mapping: "tables:\n  - source: events\n    append_only: true\n", batch: "batch:\n  max_rows: 100")
        let database = "`\(scenario.warehouseDatabase)`"
        func perDevice(_ table: String) async throws -> String {
            try await server.query("SELECT device, count() FROM \(database).\(table) GROUP BY device ORDER BY device FORMAT TabSeparated")
        }
        func sourcePerDevice() async throws -> String {
            let rows = try await scenario.sourceScalar(
                "SELECT string_agg(device || E'\\t' || n, E'\\n' ORDER BY device) FROM (SELECT device, count(*) AS n FROM events GROUP BY device) x"
            )
            return (rows ?? "") + "\n"
        }
        func expectSourceRows(_ sourceLocation: SourceLocation = #_sourceLocation) async throws {
            let expected = try await sourcePerDevice()
            #expect(try await perDevice("events_current") == expected, sourceLocation: sourceLocation)
            #expect(try await perDevice("events FINAL") == expected, sourceLocation: sourceLocation)
        }
        try await scenario.forager(["sync"])
        // The copy's 500 rows, 125 alike per device, all at version 0.
        try await expectSourceRows()
        #expect(try await perDevice("events_current") == "0\t125\n1\t125\n2\t125\n3\t125\n")

        // The stream from here is replayed below: a copy of the slot keeps its position.
        let replay = try await ClickHouseReplay.mark(scenario, on: server)
        try await scenario.onSourceEach([
            // One COPY: 300 identical rows written by a few WAL records, so many rows share one position;
            // batches of 100 rows apply them in pieces.
            "COPY events (device) FROM PROGRAM 'yes 7 | head -n 300'",
            "INSERT INTO events VALUES (8, 'multi', 1), (8, 'multi', 1), (8, 'multi', 1)",
            "BEGIN; INSERT INTO events VALUES (9, 'x', 2); UPDATE events SET kind = 'ignored' WHERE device = 9; DELETE FROM events WHERE device = 0; COMMIT",
        ])
        try await scenario.forager(["sync"])
        let sourceNow = "0\t125\n1\t125\n2\t125\n3\t125\n7\t300\n8\t3\n9\t1\n"
        #expect(try await perDevice("events_current") == sourceNow)
        #expect(try await perDevice("events FINAL") == sourceNow)
        let versions = try await server.query(
            "SELECT uniqExact(_forager_version) FROM \(database).events WHERE device = 7 FORMAT TabSeparated")
        #expect(
            (Int(versions.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 300) < 300,
            "the COPY's rows should share positions: \(versions)")

        // Replay: the slot and the checkpoint go back to before the COPY, and the same changes are applied again.
        try await replay.rewind()
        try await scenario.forager(["sync"])
        #expect(try await perDevice("events_current") == sourceNow)
        // Merged on disk, rows that a replay wrote twice become one, and no two different rows do.
        try await server.query("OPTIMIZE TABLE \(database).events FINAL")
        #expect(try await perDevice("events") == sourceNow)
        let engine = try await server.query(
            "SELECT engine_full FROM system.tables WHERE database = '\(scenario.warehouseDatabase)' AND name = 'events' FORMAT TabSeparated"
        )
        #expect(engine.contains("ORDER BY (_forager_version, _forager_row)"), "\(engine)")
        // A copy's rows are numbered from 0 under version 0: past 2^32 rows a UInt32 would repeat places.
        let placeType = try await server.query(
            "SELECT type FROM system.columns WHERE database = '\(scenario.warehouseDatabase)' AND table = 'events' AND name = '_forager_row' FORMAT TabSeparated"
        )
        #expect(placeType.trimmingCharacters(in: .whitespacesAndNewlines) == "UInt64")
    }
}
