extension Scenario {
    /// A scenario as ``make(sourceSQL:tables:mapping:batch:heartbeat:clickHouse:clickHouseCredentials:source:warehouse:ownWarehouse:ownClickHouse:readyMaxLag:sourceDatabaseOptions:)``
    /// makes it, into the shared ClickHouse server of `kind`; returned with that server.
    static func make(
        clickHouse kind: ClickHouseServer.Kind, sourceSQL: String, tables: [String] = [], mapping: String? = nil, batch: String = ""
    ) async throws -> (ClickHouseServer, Scenario) {
        let server = try await ClickHouseServer.shared(kind)
        return (server, try await make(sourceSQL: sourceSQL, tables: tables, mapping: mapping, batch: batch, clickHouse: server))
    }

    /// A scenario as ``make(clickHouse:sourceSQL:tables:mapping:batch:)`` makes it, into an 18.16
    /// server started for it alone (`name` tells it apart), for tests that stop the server; the
    /// server stops when the test ends.
    static func make(
        ownClickHouse name: String, sourceSQL: String, tables: [String], batch: String = ""
    ) async throws -> (ClickHouseServer, Scenario) {
        let server = try await ClickHouseServer.start(name: name)
        do {
            return (server, try await make(sourceSQL: sourceSQL, tables: tables, batch: batch, ownClickHouse: server))
        } catch {
            server.stop()
            throw error
        }
    }
}
