import Foundation
import Testing

/// A LATIN1 source database; the test connection sends UTF-8, which the server converts.
private let latin1 = "ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"

private let tablesSQL = """
    CREATE TABLE words (id int PRIMARY KEY, word text, note varchar(20));
    INSERT INTO words SELECT g, (ARRAY['Grüße', 'façade', 'naïve', 'plain', 'Øre £5'])[1 + g % 5] || ' ' || g, 'Ä' || g FROM generate_series(1, 300) g;
    CREATE TABLE places (name text PRIMARY KEY, n int);
    INSERT INTO places SELECT (ARRAY['Zürich', 'Ärger', 'Öl', 'Mainz', 'émigré'])[1 + g % 5] || g, g FROM generate_series(1, 300) g;
    """

/// Makes a scenario with a LATIN1 source holding non-ASCII text, in values and in keys.
private func latin1Scenario(clickHouse: ClickHouseServer? = nil) async throws -> Scenario {
    let scenario = try await Scenario.make(
        sourceSQL: "SELECT 1", tables: ["words", "places"], clickHouse: clickHouse, sourceDatabaseOptions: latin1)
    // A statement is converted with the client encoding in force when it arrives.
    try await scenario.onSourceEach(["SET client_encoding = 'UTF8'", tablesSQL])
    return scenario
}

@Suite("forager validate on a LATIN1 source", .serialized, .cleansUpScenarios)
struct EncodingValidateTests {
    @Test("a LATIN1 source replicated into a UTF-8 Postgres warehouse validates equal; a changed non-ASCII row is found")
    func latin1SourceIntoPostgres() async throws {
        let scenario = try await latin1Scenario()
        try await scenario.forager(["sync"])
        #expect(try await scenario.warehouseScalar("SELECT word FROM analytics.words WHERE id = 5") == "Grüße 5")
        let equal = try await scenario.forager(["validate", "--chunk-rows", "50", "--wait", "0"])
        #expect(equal.contains("public.words: equal (300 rows in 6 chunks)"), "\(equal)")
        #expect(equal.contains("public.places: equal (300 rows in 6 chunks)"), "\(equal)")

        try await scenario.warehouse.execute(
            "UPDATE analytics.words SET word = 'Grüsse 10' WHERE id = 10", database: scenario.warehouseDatabase)
        let differs = try await scenario.forager(["validate", "--chunk-rows", "50", "--wait", "1"], expectStatus: 3)
        #expect(differs.contains("public.words: DIFFERS in 1 of 6 chunks"), "\(differs)")
        #expect(differs.contains("public.places: equal"), "\(differs)")
    }

    @Test("a LATIN1 source replicated into ClickHouse validates equal; a changed non-ASCII row is found")
    func latin1SourceIntoClickHouse() async throws {
        let server = try await ClickHouseServer.shared()
        let scenario = try await latin1Scenario(clickHouse: server)
        try await scenario.forager(["sync"])
        let database = "`\(scenario.warehouseDatabase)`"
        #expect(try await server.query("SELECT word FROM \(database).words_current WHERE id = 5") == "Grüße 5\n")
        let equal = try await scenario.forager(["validate", "--chunk-rows", "50", "--wait", "0"])
        #expect(equal.contains("public.words: equal (300 rows in 6 chunks)"), "\(equal)")
        #expect(equal.contains("public.places: equal (300 rows in 6 chunks)"), "\(equal)")

        try await server.query(
            "INSERT INTO \(database).words SELECT id, 'Grüsse 10', note, 1, 0, _forager_synced_at FROM \(database).words_current WHERE id = 10"
        )
        let differs = try await scenario.forager(["validate", "--chunk-rows", "50", "--wait", "1"], expectStatus: 3)
        #expect(differs.contains("public.words: DIFFERS in 1 of"), "\(differs)")
        // The rows are named only once the warehouse checkpoint reaches the source's position, which
        // other databases of the shared source cluster may keep moving: the chunk is what is certain.
        #expect(differs.contains("keys (start, 50]"), "\(differs)")
    }
}
