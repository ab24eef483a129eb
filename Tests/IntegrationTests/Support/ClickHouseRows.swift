import Foundation
import Testing

/// The source's rows as ClickHouse prints the `_current` view: booleans as 0/1, timestamps as
/// microseconds since 1970 UTC, NULL as \N.
func sourceRows(_ scenario: Scenario, _ select: String) async throws -> String {
    try await scenario.sourceScalar("SELECT coalesce(string_agg(line, E'\\n' ORDER BY id), '') FROM (\(select)) AS x") ?? ""
}

/// Rows of `sql` as 18.16 prints them, on either engine: `$db` is the scenario's database,
/// `$us(column)` a timestamp column as microseconds since 1970 (`DateTime64` on a modern server),
/// and decimals keep their trailing zeros.
func clickHouseRows(_ server: ClickHouseServer, _ scenario: Scenario, _ sql: String) async throws -> String {
    try await server.query(
        server.inClassicForm(sql.replacingOccurrences(of: "$db", with: "`\(scenario.warehouseDatabase)`")) + " FORMAT TabSeparated"
    )
    .trimmingCharacters(in: .newlines)
}

/// Expects the rows of `view` (as ``clickHouseRows(_:_:_:)`` reads them) to equal the source's rows
/// of `source` (as ``sourceRows(_:_:)`` reads them).
func expectSameRows(
    _ server: ClickHouseServer, _ scenario: Scenario, view: String, source: String, _ comment: Comment? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) async throws {
    let warehouse = try await clickHouseRows(server, scenario, view)
    #expect(warehouse == (try await sourceRows(scenario, source)), comment, sourceLocation: sourceLocation)
}
