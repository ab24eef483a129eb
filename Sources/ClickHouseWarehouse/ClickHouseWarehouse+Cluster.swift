import ForagerCore
import Foundation

/// The ClickHouse warehouse on a cluster (`warehouse.cluster`): bookkeeping tables made on every
/// replica, source types kept in a replicated table (18.16's replicated tables refuse column
/// comments), inserts through a staging table sent with the statement, and a replica brought up
/// to date before Forager reads its checkpoint from it.
extension ClickHouseWarehouse {
    /// The source type of each column, on a cluster (one server keeps them as column comments).
    nonisolated var sourceTypeRegistry: String { "\(ClickHouseClient.quote(database)).`_forager_source_types`" }

    /// Checks that the server knows `cluster` and has the `shard` and `replica` macros that the
    /// replicated tables' ZooKeeper paths and replica names are made of.
    static func checkCluster(_ cluster: String, client: ClickHouseClient) async throws {
        let hosts = try await client.system.execute(
            "SELECT count() FROM system.clusters WHERE cluster = \(ClickHouseClient.literal(cluster))")
        guard let count = Int(hosts.trimmingCharacters(in: .whitespacesAndNewlines)), count > 0 else {
            throw ForagerError(
                .configuration,
                "warehouse.cluster names \(ClickHouseClient.quote(cluster)), which the ClickHouse server at \(client.url) does not have in its remote_servers",
                hint:
                    "Write the name of one of its clusters (SELECT DISTINCT cluster FROM system.clusters), or add the cluster to every server's configuration."
            )
        }
        let text = try await client.system.execute("SELECT macro FROM system.macros FORMAT TabSeparated")
        let macros = Set(text.split(separator: "\n").map(String.init))
        let missing = ["shard", "replica"].filter { !macros.contains($0) }
        guard missing.isEmpty else {
            throw ForagerError(
                .configuration,
                "the ClickHouse server at \(client.url) has no \(missing.joined(separator: " and ")) macro, which the replicated tables of warehouse.cluster \(ClickHouseClient.quote(cluster)) need",
                hint:
                    "Add <macros><shard>01</shard><replica>NAME</replica></macros> to every server's configuration, the shard the same on the replicas of a shard and the replica name different on each."
            )
        }
    }

    /// Creates Forager's database, on every server of the cluster, when this server lacks it (an
    /// `ON CLUSTER` statement waits for every server, so it is not sent when there is nothing to do).
    func createDatabaseIfMissing() async throws {
        let text = try await client.system.execute(
            "SELECT count() FROM system.databases WHERE name = \(ClickHouseClient.literal(database))")
        guard text.hasPrefix("0") else { return }
        try await client.system.execute("CREATE DATABASE IF NOT EXISTS \(ClickHouseClient.quote(database))\(topology.onCluster)")
    }

    /// Creates one of Forager's bookkeeping tables of `columns`, whose rows are replaced by a
    /// higher `version`, when this server lacks it (see
    /// ``ClickHouseTopology/bookkeepingMergeTree(version:database:table:stamp:)``).
    func createBookkeepingTable(_ table: String, columns: String, version: String, orderBy: String) async throws {
        let qualified = "\(ClickHouseClient.quote(database)).\(ClickHouseClient.quote(table))"
        guard try await !client.system.execute("EXISTS TABLE \(qualified)").hasPrefix("1") else {
            return try await checkBookkeepingReplicas(table)
        }
        let stamp = UInt64(Date().timeIntervalSince1970 * 1_000_000)
        let engine = topology.bookkeepingMergeTree(version: version, database: database, table: table, stamp: stamp)
        try await client.execute(
            "CREATE TABLE IF NOT EXISTS \(qualified)\(topology.onCluster) (\(columns)) ENGINE = \(engine) ORDER BY \(orderBy)")
    }

    /// The engine of a table made now on `topology` (this warehouse's when nil; see
    /// ``ClickHouseTopology/replacingMergeTree(version:database:table:stamp:)``).
    nonisolated func replacingEngine(version: String, table: TableName, on topology: ClickHouseTopology? = nil) -> String {
        let stamp = UInt64(Date().timeIntervalSince1970 * 1_000_000)
        return (topology ?? self.topology).replacingMergeTree(version: version, database: table.schema, table: table.name, stamp: stamp)
    }

    func createSourceTypeRegistry() async throws {
        guard topology.isCluster else { return }
        try await createBookkeepingTable(
            "_forager_source_types", columns: "table_name String, column_name String, source_type String, version UInt64",
            version: "version", orderBy: "(table_name, column_name)")
    }

    /// The source (PostgreSQL) type of each of `table`'s columns, by warehouse name.
    func columnSourceTypes(of table: MappedTable) -> [String: String] {
        let pairs = zip(table.columns, columns(of: table)).map { source, column in
            (column.name, source.sqlType.isEmpty ? sourceTypes[table.target]?[source.name] ?? "" : source.sqlType)
        }
        return Dictionary(pairs) { first, _ in first }
    }

    /// Records the source (PostgreSQL) type of a column: as its comment on one server, in
    /// ``sourceTypeRegistry`` on a cluster.
    func recordSourceType(_ type: String, of column: String, in table: TableName) async throws {
        guard topology.isCluster else {
            try await client.execute(
                "ALTER TABLE \(name(table)) COMMENT COLUMN \(ClickHouseClient.quote(column)) \(ClickHouseClient.literal(type))")
            return
        }
        try await recordSourceTypes([column: type], of: table)
    }

    /// Records the source types of columns of `table` in ``sourceTypeRegistry`` (a cluster only).
    func recordSourceTypes(_ types: [String: String], of table: TableName) async throws {
        guard topology.isCluster, !types.isEmpty else { return }
        let version = UInt64(Date().timeIntervalSince1970 * 1_000_000_000)
        let rows = types.sorted { $0.key < $1.key }.map { column, type in
            "(\(ClickHouseClient.literal(table.name)), \(ClickHouseClient.literal(column)), \(ClickHouseClient.literal(type)), \(version))"
        }
        try await client.execute(
            "INSERT INTO \(sourceTypeRegistry) (table_name, column_name, source_type, version) VALUES \(rows.joined(separator: ", "))")
    }

    /// `columns` with the source types recorded in ``sourceTypeRegistry`` (a cluster only; one
    /// server reads them from the column comments).
    func withRecordedSourceTypes(_ columns: [String: (type: String, sourceType: String)], of table: TableName) async throws -> [String: (
        type: String, sourceType: String
    )] {
        guard topology.isCluster, !columns.isEmpty,
            try await client.system.execute("EXISTS TABLE \(sourceTypeRegistry)").hasPrefix("1")
        else { return columns }
        let text = try await client.execute(
            """
            SELECT column_name, argMax(source_type, version) FROM \(sourceTypeRegistry)
            WHERE table_name = \(ClickHouseClient.literal(table.name)) GROUP BY column_name FORMAT TabSeparated
            """)
        var result = columns
        for row in TabSeparated.rows(text) where row.count == 2 {
            let column = String(decoding: row[0] ?? [], as: UTF8.self)
            result[column]?.sourceType = String(decoding: row[1] ?? [], as: UTF8.self)
        }
        return result
    }

    /// Waits until this server's replicas of Forager's tables have fetched every part the log
    /// names (`SYSTEM SYNC REPLICA`), so that the checkpoint read next covers no row this server
    /// lacks. Blocks while a part's only holder is down; a server that stays behind past 60 s is
    /// a transient failure, and Forager tries again.
    func syncReplicas() async throws {
        guard topology.isCluster else { return }
        let text = try await client.system.execute(
            "SELECT table FROM system.replicas WHERE database = \(ClickHouseClient.literal(database)) FORMAT TabSeparated")
        for row in TabSeparated.rows(text) {
            let table =
                ClickHouseClient.quote(database) + "."
                + ClickHouseClient.quote(String(decoding: row.first.flatMap { $0 } ?? [], as: UTF8.self))
            let statement = "SYSTEM SYNC REPLICA \(table)"
            try await client.send(
                parameters: [("wait_end_of_query", "1"), ("receive_timeout", "60")] + client.settings, body: Array(statement.utf8),
                what: ClickHouseClient.summary(of: statement))
        }
    }
}

extension ClickHouseWarehouse {
    /// `error`, or, when it says a validate helper table does not exist on a cluster (the url
    /// reached another replica than the one that made the table), an error that says so and what
    /// to do.
    public nonisolated func explainingHelperTables(_ error: any Error) -> any Error {
        guard topology.isCluster, let error = error as? ForagerError, ClickHouseClient.exceptionCode(in: error.message) == 60,
            error.message.contains("_forager_validate_")
        else { return error }
        return ForagerError(
            .configuration,
            "forager validate keeps its helper tables on the one server that made them, but a request reached another replica of warehouse.cluster: \(error.message)",
            hint:
                "For forager validate, set warehouse.url (or FORAGER_WAREHOUSE_URL) to one replica's HTTP interface rather than a load balancer, or make the load balancer keep a client on one server."
        )
    }
}
