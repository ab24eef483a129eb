import ForagerCore
import Logging

/// Mapped tables on a sharded cluster (`warehouse.sharding`). Each mapped table is two tables:
/// `<table>_local`, a replicated table on every server whose replicas are that server's shard, and
/// `<table>`, a `Distributed` table over them (made `AS` the local table, so with its columns and
/// defaults), through which Forager inserts (each row to the shard of its key's hash) and reads
/// (every shard). `ALTER` and `TRUNCATE` go to the local tables `ON CLUSTER`, since a replicated
/// table passes them only to the replicas of its own shard; the `Distributed` table is then made
/// again from the local table whenever their columns differ.
extension ClickHouseWarehouse {
    /// The table that holds `table`'s rows: `<table>_local` on a sharded cluster, else `table`.
    nonisolated func storageTable(_ table: TableName) -> TableName {
        topology.isSharded ? TableName(schema: table.schema, name: table.name + "_local") : table
    }

    /// `ALTER TABLE … clause` for the table that holds `table`'s rows, on every shard when sharded.
    nonisolated func alterStatement(_ table: TableName, _ clause: String) -> String {
        "ALTER TABLE \(name(storageTable(table)))\(topology.isSharded ? topology.onCluster : "") \(clause)"
    }

    /// `TRUNCATE TABLE` for the table that holds `table`'s rows, on every shard when sharded.
    nonisolated func truncateStatement(_ table: TableName) -> String {
        "TRUNCATE TABLE \(name(storageTable(table)))\(topology.isSharded ? topology.onCluster : "")"
    }

    /// `IN` before a subquery over tables of this server only (validate's helper tables) in a
    /// query of a mapped table: `GLOBAL IN` when sharded, so that the subquery runs here and its
    /// rows go to the shards, which lack those tables.
    nonisolated var inLocalSubquery: String { topology.isSharded ? "GLOBAL IN" : "IN" }

    /// Checks that a cluster that `warehouse.sharding` spreads the tables over has more than one
    /// shard: on one, every row would land on it and sharding only adds a table.
    static func checkShards(_ cluster: String, client: ClickHouseClient, logger: Logger) async throws {
        let text = try await client.system.execute(
            "SELECT uniqExact(shard_num) FROM system.clusters WHERE cluster = \(ClickHouseClient.literal(cluster)) FORMAT TabSeparated")
        let shards = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        guard shards > 1 else {
            throw ForagerError(
                .configuration,
                "warehouse.sharding is on, but cluster \(ClickHouseClient.quote(cluster)) has \(shards) shard in the remote_servers of the ClickHouse server at \(client.url)",
                hint:
                    "Remove warehouse.sharding (a one-shard cluster replicates every table without it), or add the other shards to remote_servers on every server."
            )
        }
        logger.debug("ClickHouse tables are spread over the cluster's shards", metadata: ["forager.shards": "\(shards)"])
    }

    /// Makes `table`'s `Distributed` table on every server, when sharded.
    func createDistributed(_ table: MappedTable) async throws {
        let columns = columns(of: table)
        let keyColumns =
            table.identity == .appendOnly
            ? [(name: Self.version, type: "UInt64"), (name: Self.place, type: "UInt64")]
            : table.warehouseKey.compactMap { key in columns.first { $0.name == key }.map { (name: key, type: $0.type) } }
        let shardingKey = ClickHouseTopology.shardingKey(keyColumns: keyColumns)
        let local = storageTable(table.target)
        guard let engine = topology.distributed(database: local.schema, local: local.name, shardingKey: shardingKey) else { return }
        try await client.execute(
            "CREATE TABLE IF NOT EXISTS \(name(table.target))\(topology.onCluster) AS \(name(local)) ENGINE = \(engine)")
    }

    /// Whether `table`'s `Distributed` table lacks a column, a type or a default of its local
    /// table (an `ALTER` done since, or interrupted before the `Distributed` table was made again).
    func distributedIsStale(_ table: MappedTable) async throws -> Bool {
        guard topology.isSharded else { return false }
        let definitions = try await columnDefinitions(of: table.target)
        guard !definitions.isEmpty else { return false }
        return try await definitions != columnDefinitions(of: storageTable(table.target))
    }

    /// Makes `table`'s `Distributed` table again from its local table when it is stale.
    func refreshDistributed(_ table: MappedTable) async throws {
        guard try await distributedIsStale(table) else { return }
        logger.notice(
            "making the Distributed table again: its columns are not its local table's", metadata: ["forager.table": "\(table.target)"])
        try await client.execute("DROP TABLE IF EXISTS \(name(table.target))\(topology.onCluster)")
        try await createDistributed(table)
    }

    /// Each column's name, type and default, one line each; empty when there is no such table.
    private func columnDefinitions(of table: TableName) async throws -> String {
        try await client.system.execute(
            """
            SELECT name, type, default_kind, default_expression FROM system.columns
            WHERE database = \(ClickHouseClient.literal(table.schema)) AND table = \(ClickHouseClient.literal(table.name)) ORDER BY name FORMAT TabSeparated
            """)
    }

    /// Why `table` cannot be used as it is: its ClickHouse table was made with sharding and
    /// `warehouse.sharding` is off now, or the other way round; nil when it matches or is missing.
    func shardingMismatch(_ table: MappedTable) async throws -> ForagerError? {
        guard topology.isCluster else { return nil }
        let engine = try await client.system.execute(
            """
            SELECT engine FROM system.tables WHERE database = \(ClickHouseClient.literal(table.target.schema)) AND name = \(ClickHouseClient.literal(table.target.name)) FORMAT TabSeparated
            """
        ).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !engine.isEmpty, (engine == "Distributed") != topology.isSharded else { return nil }
        let made = topology.isSharded ? "was made without sharding (\(engine))" : "was made with sharding (Distributed)"
        return ForagerError(
            .schema,
            "ClickHouse table \(table.target) \(made), but warehouse.sharding is \(topology.isSharded ? "on" : "off") now; Forager stopped this table rather than write to part of the cluster",
            hint: "Copy the table again to make it as configured: forager resync --table \(table.source).")
    }

    /// On a sharded cluster, refuses one of Forager's own tables that exists but is replicated
    /// within one shard only (made before `warehouse.sharding` was turned on): the servers of the
    /// other shards lack it, so a checkpoint there would not outlive that shard.
    func checkBookkeepingReplicas(_ table: String) async throws {
        guard topology.isSharded else { return }
        let path = try await client.system.execute(
            """
            SELECT zookeeper_path FROM system.replicas WHERE database = \(ClickHouseClient.literal(database)) AND table = \(ClickHouseClient.literal(table)) FORMAT TabSeparated
            """
        ).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !path.hasPrefix("/clickhouse/tables/all/") else { return }
        throw ForagerError(
            .configuration,
            "warehouse.sharding is on, but Forager's table \(ClickHouseClient.quote(database)).\(ClickHouseClient.quote(table)) was made without it (ZooKeeper path \(path.isEmpty ? "none, not replicated" : path)), so the servers of other shards do not hold it",
            hint:
                "Sharding applies to a database Forager makes: set warehouse.database to a new database and start again (the tables are copied afresh), or remove warehouse.sharding."
        )
    }
}
