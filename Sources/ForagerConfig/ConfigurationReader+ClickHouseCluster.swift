/// `warehouse.cluster`, `warehouse.insert_quorum` and `warehouse.sharding` (type: clickhouse): the
/// ClickHouse cluster whose replicas hold the tables, how many of them must have each insert, and
/// whether the mapped tables are spread over its shards.
extension ConfigurationReader {
    static let clusterKeys = ["cluster", "insert_quorum", "sharding"]

    /// Reads the cluster keys of a ClickHouse `warehouse:` section into `warehouse`.
    mutating func readCluster(_ section: YAMLSection, into warehouse: inout ForagerConfiguration.Warehouse) {
        let file = configFile
        if let field = section["cluster"],
            let name = text(field, file: file, expected: "a cluster name", fix: "write the name of a cluster in the servers' remote_servers, e.g. cluster: analytics")
        {
            if Self.isClusterName(name) {
                warehouse.cluster = name
            } else {
                report(
                    .invalidValue, file, field.line, field.key,
                    "'\(name)' is not a ClickHouse cluster name: write the name of an element of the servers' remote_servers (letters, digits, _, - and ., starting with a letter or _), e.g. cluster: analytics")
            }
        }
        if let field = section["sharding"],
            let sharding = boolean(field, file: file, fix: "write sharding: true to spread the mapped tables over the cluster's shards, or sharding: false for one shard")
        {
            if section["cluster"] == nil, sharding {
                report(.invalidValue, file, field.line, field.key, "applies only to a cluster; set warehouse.cluster to the cluster whose shards hold the tables, or remove sharding")
            } else {
                warehouse.sharding = sharding
            }
        }
        guard let field = section["insert_quorum"] else { return }
        let fix = "write how many replicas must have written each insert before Forager goes on, e.g. insert_quorum: 2 (0 for ClickHouse's asynchronous replication)"
        guard let quorum = positiveInteger(field, file: file, fix: fix, atLeast: 0) else { return }
        if section["cluster"] == nil {
            report(.invalidValue, file, field.line, field.key, "applies only to a cluster; set warehouse.cluster, or remove insert_quorum")
        } else {
            warehouse.insertQuorum = quorum
        }
    }

    /// A name as a `remote_servers` element can have it: `[A-Za-z_][A-Za-z0-9_.-]*`, at most 255 bytes.
    static func isClusterName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, name.utf8.count <= 255 else { return false }
        func isLetter(_ scalar: Unicode.Scalar) -> Bool { scalar.isASCII && (scalar.properties.isAlphabetic || scalar == "_") }
        return isLetter(first) && name.unicodeScalars.allSatisfy { isLetter($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "." }
    }
}
