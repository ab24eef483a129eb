import Foundation

/// Where Forager's ClickHouse tables live: on one server, or on every replica of a cluster
/// (`warehouse.cluster`). The DDL text that differs between the two is made here, without IO.
///
/// On a cluster, databases, tables and views are made and dropped `ON CLUSTER` (through the
/// servers' distributed DDL queue in ZooKeeper), and every table Forager keeps data in is a
/// `Replicated…MergeTree` under a ZooKeeper path of its own, so that each replica holds all rows.
/// `ALTER`, `TRUNCATE` and inserts need no clause: a replicated table passes them on by itself.
///
/// A sharded cluster (`warehouse.sharding`) keeps each mapped table's rows in a local table per
/// shard, replicated within the shard, under a `Distributed` table that Forager writes and reads
/// through; its own tables are replicated across every server (see ``shardedMergeTree(version:database:table:stamp:)``).
struct ClickHouseTopology: Sendable, Equatable {
    /// The cluster, as the servers' `remote_servers` name it; nil for one server.
    let cluster: String?
    /// Whether mapped tables are spread over the cluster's shards.
    let isSharded: Bool

    init(cluster: String?, sharded: Bool = false) {
        self.cluster = cluster
        self.isSharded = cluster != nil && sharded
    }

    var isCluster: Bool { cluster != nil }

    /// ` ON CLUSTER `name`` for statements every server of the cluster runs; empty for one server.
    var onCluster: String {
        cluster.map { " ON CLUSTER " + ClickHouseClient.quote($0) } ?? ""
    }

    /// The engine of a table whose rows are replaced by a higher `version` (a quoted column):
    /// `ReplacingMergeTree(version)`, or on a cluster its replicated twin under the path of
    /// ``zooKeeperPath(database:table:stamp:)`` with the `{replica}` macro as the replica's name.
    func replacingMergeTree(version: String, database: String, table: String, stamp: UInt64) -> String {
        guard isCluster else { return "ReplacingMergeTree(\(version))" }
        let path = ClickHouseClient.literal(Self.zooKeeperPath(database: database, table: table, stamp: stamp))
        return "ReplicatedReplacingMergeTree(\(path), '{replica}', \(version))"
    }

    /// `/clickhouse/tables/{shard}/forager/<database>/<table>/<stamp>`: `{shard}` is the server's
    /// macro, so the replicas of one shard share the path; the names are escaped (no macro, no `/`
    /// of theirs is read as such); `stamp` (the time the table was made) sets a table made again
    /// apart from the one it replaces, whose ZooKeeper nodes may outlive it for a while.
    static func zooKeeperPath(database: String, table: String, stamp: UInt64) -> String {
        "/clickhouse/tables/{shard}/forager/\(pathComponent(database))/\(pathComponent(table))/\(stamp)"
    }

    /// The engine of one of Forager's own tables (checkpoints, registries): on a sharded cluster a
    /// replicated table whose replicas are every server of the cluster, whatever its shard, under
    /// ``allServersPath(database:table:stamp:)`` with `{shard}-{replica}` as the replica's name
    /// (unique cluster-wide); otherwise as ``replacingMergeTree(version:database:table:stamp:)``.
    func bookkeepingMergeTree(version: String, database: String, table: String, stamp: UInt64) -> String {
        guard isSharded else { return replacingMergeTree(version: version, database: database, table: table, stamp: stamp) }
        let path = ClickHouseClient.literal(Self.allServersPath(database: database, table: table, stamp: stamp))
        return "ReplicatedReplacingMergeTree(\(path), '{shard}-{replica}', \(version))"
    }

    /// `/clickhouse/tables/all/forager/<database>/<table>/<stamp>`: no `{shard}`, so that the
    /// servers of every shard share it (names escaped as in ``zooKeeperPath(database:table:stamp:)``).
    static func allServersPath(database: String, table: String, stamp: UInt64) -> String {
        "/clickhouse/tables/all/forager/\(pathComponent(database))/\(pathComponent(table))/\(stamp)"
    }

    /// `Distributed('cluster', 'database', 'local', expression)`: the engine of a sharded mapped
    /// table over its local tables, rows sent to the shard `expression` picks.
    func distributed(database: String, local: String, shardingKey: String) -> String? {
        guard let cluster, isSharded else { return nil }
        let arguments = [cluster, database, local].map(ClickHouseClient.literal) + [shardingKey]
        return "Distributed(\(arguments.joined(separator: ", ")))"
    }

    /// The expression that picks a row's shard: a hash of the key columns (quoted names, with
    /// their ClickHouse types), so that every version of a row and its tombstone land on one
    /// shard, where `FINAL` sees them together (for an append-only table, the version and place
    /// that name a row, so that a replayed row meets its first copy). 18.16's `cityHash64` takes
    /// no `UUID` or `Decimal`: those are hashed as their text, which depends on nothing but the
    /// value and the column's type.
    static func shardingKey(keyColumns: [(name: String, type: String)]) -> String {
        precondition(!keyColumns.isEmpty, "a sharded table is spread by the columns that name its rows")
        let arguments = keyColumns.map { column in
            let quoted = ClickHouseClient.quote(column.name)
            return column.type.contains("UUID") || column.type.contains("Decimal") ? "toString(\(quoted))" : quoted
        }
        return "cityHash64(\(arguments.joined(separator: ", ")))"
    }

    /// `name` with every byte outside `[A-Za-z0-9_-]` written as `%XX`.
    static func pathComponent(_ name: String) -> String {
        var result = ""
        for byte in name.utf8 {
            let letter = (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte | 0x20)
            if letter || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") {
                result.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                result += "%" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 0xF, radix: 16, uppercase: true)
            }
        }
        return result
    }

    /// A column type as the structure of external data (`<name>_structure`) takes it: 18.16 splits
    /// that text at every space and comma, so `Decimal(P, S)` is written `Decimal32(S)`,
    /// `Decimal64(S)` or `Decimal128(S)` (the same values), and no other type of 18.16 has either.
    static func externalDataType(_ type: String) -> String {
        var result = ""
        var rest = Substring(type)
        while let start = rest.range(of: "Decimal(") {
            result += rest[..<start.lowerBound]
            let arguments = rest[start.upperBound...].prefix { $0 != ")" }
            let parts = arguments.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard parts.count == 2, let precision = parts[0], let scale = parts[1] else {
                result += rest[start.lowerBound..<start.upperBound]
                rest = rest[start.upperBound...]
                continue
            }
            let bits = precision <= 9 ? 32 : precision <= 18 ? 64 : 128
            result += "Decimal\(bits)(\(scale))"
            rest = rest[start.upperBound...].dropFirst(arguments.count + 1)
        }
        return result + rest
    }
}

extension ClickHouseTopology {
    /// The settings of every request on a cluster with `warehouse.insert_quorum`: inserts return
    /// once `quorum` replicas have written them (within `timeout`, else a transient failure), and reads
    /// refuse a replica that lacks a part written with a quorum. None when `quorum` is nil: the
    /// server's own settings apply.
    static func quorumSettings(_ quorum: Int?, timeout: Duration) -> [(String, String)] {
        guard let quorum else { return [] }
        return [
            ("insert_quorum", "\(quorum)"), ("insert_quorum_timeout", "\(timeout.components.seconds * 1000)"),
            ("select_sequential_consistency", quorum > 0 ? "1" : "0"),
        ]
    }

    /// The settings of every request on a sharded cluster: an insert into a `Distributed` table
    /// returns only once every shard it sends rows to has written them (not when they are queued
    /// on the server that took it), so the checkpoint written after it covers rows every shard holds.
    var shardingSettings: [(String, String)] {
        isSharded ? [("insert_distributed_sync", "1")] : []
    }
}
