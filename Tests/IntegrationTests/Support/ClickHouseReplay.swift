/// Takes a scenario's stream back to a point already applied, so that Forager's next run applies
/// the same changes to ClickHouse again, as after a crash between an insert and its checkpoint.
/// ``mark(_:on:)`` keeps a copy of the slot (its position) and the checkpoint there; ``rewind()``
/// puts both back.
struct ClickHouseReplay {
    let scenario: Scenario
    let server: ClickHouseServer
    private let lsn: Substring
    private let lsnText: Substring

    private var replaySlot: String { scenario.slot + "_replay" }
    private var state: String { "`\(scenario.warehouseDatabase)`._forager_state" }

    /// Marks the point the stream has reached; `server` holds the checkpoint Forager reads.
    static func mark(_ scenario: Scenario, on server: ClickHouseServer) async throws -> ClickHouseReplay {
        let checkpoint = try await server.query(
            "SELECT lsn, lsn_text FROM `\(scenario.warehouseDatabase)`._forager_state WHERE slot = '\(scenario.slot)' ORDER BY lsn DESC LIMIT 1 FORMAT TabSeparated"
        )
        let fields = checkpoint.trimmingCharacters(in: .newlines).split(separator: "\t")
        guard fields.count == 2 else { throw HarnessError("no checkpoint to replay from: \(checkpoint.debugDescription)") }
        let replay = ClickHouseReplay(scenario: scenario, server: server, lsn: fields[0], lsnText: fields[1])
        try await scenario.onSource("SELECT pg_copy_logical_replication_slot('\(scenario.slot)', '\(replay.replaySlot)')")
        return replay
    }

    /// Takes the slot and the checkpoint back to the marked point.
    func rewind() async throws {
        try await scenario.onSource(
            """
            SELECT pg_drop_replication_slot('\(scenario.slot)');
            SELECT pg_copy_logical_replication_slot('\(replaySlot)', '\(scenario.slot)');
            SELECT pg_drop_replication_slot('\(replaySlot)');
            """)
        _ = try await server.query("TRUNCATE TABLE \(state)")
        _ = try await server.query("INSERT INTO \(state) (slot, lsn, lsn_text) VALUES ('\(scenario.slot)', \(lsn), '\(lsnText)')")
    }
}
