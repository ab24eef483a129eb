/// `warehouse.cluster`, `warehouse.insert_quorum`, `warehouse.insert_quorum_timeout_s` and
/// `warehouse.sharding` (type: clickhouse): the ClickHouse cluster whose replicas hold the tables,
/// how many of them must have each insert and how long an insert waits for them, and whether the
/// mapped tables are spread over its shards.
extension ConfigurationReader {
    static let clusterKeys = ["cluster", "insert_quorum", "insert_quorum_timeout_s", "sharding"]

    /// Reads the cluster keys of a ClickHouse `warehouse:` section into `warehouse`.
    mutating func readCluster(_ section: YAMLSection, into warehouse: inout ForagerConfiguration.Warehouse) {
        let file = configFile
        if let field = section["cluster"],
            let name = text(
                field, file: file, expected: "a cluster name",
                fix: "write the name of a cluster in the servers' remote_servers, e.g. cluster: analytics")
        {
            if Self.isClusterName(name) {
                warehouse.cluster = name
            } else {
                report(
                    .invalidValue, file, field.line, field.key,
                    "'\(name)' is not a ClickHouse cluster name: write the name of an element of the servers' remote_servers (letters, digits, _, - and ., starting with a letter or _), e.g. cluster: analytics"
                )
            }
        }
        if let field = section["sharding"],
            let sharding = boolean(
                field, file: file,
                fix: "write sharding: true to spread the mapped tables over the cluster's shards, or sharding: false for one shard")
        {
            if section["cluster"] == nil, sharding {
                report(
                    .invalidValue, file, field.line, field.key,
                    "applies only to a cluster; set warehouse.cluster to the cluster whose shards hold the tables, or remove sharding")
            } else {
                warehouse.sharding = sharding
            }
        }
        readQuorumTimeout(section, into: &warehouse)
        guard let field = section["insert_quorum"] else { return }
        let fix =
            "write how many replicas must have written each insert before Forager goes on, e.g. insert_quorum: 2 (0 for ClickHouse's asynchronous replication)"
        guard let quorum = positiveInteger(field, file: file, fix: fix, atLeast: 0) else { return }
        if section["cluster"] == nil {
            report(.invalidValue, file, field.line, field.key, "applies only to a cluster; set warehouse.cluster, or remove insert_quorum")
        } else {
            warehouse.insertQuorum = quorum
        }
    }

    /// `insert_quorum_timeout_s`: seconds an insert waits for its quorum before it fails (and is
    /// retried); only beside `insert_quorum`.
    private mutating func readQuorumTimeout(_ section: YAMLSection, into warehouse: inout ForagerConfiguration.Warehouse) {
        guard let field = section["insert_quorum_timeout_s"] else { return }
        let fix =
            "write how many seconds an insert may wait for insert_quorum replicas before Forager retries it, e.g. insert_quorum_timeout_s: 60"
        guard let seconds = positiveInteger(field, file: configFile, fix: fix, atLeast: 1) else { return }
        if section["insert_quorum"] == nil {
            report(
                .invalidValue, configFile, field.line, field.key,
                "applies only with insert_quorum; set warehouse.insert_quorum, or remove insert_quorum_timeout_s")
        } else {
            warehouse.insertQuorumTimeout = .seconds(seconds)
        }
    }

    /// A name as a `remote_servers` element can have it: `[A-Za-z_][A-Za-z0-9_.-]*`, at most 255 bytes.
    static func isClusterName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, name.utf8.count <= 255 else { return false }
        func isLetter(_ scalar: Unicode.Scalar) -> Bool { scalar.isASCII && (scalar.properties.isAlphabetic || scalar == "_") }
        return isLetter(first) && name.unicodeScalars.allSatisfy { isLetter($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "." }
    }
}
