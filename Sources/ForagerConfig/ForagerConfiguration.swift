public import ForagerCore
import Foundation

/// The whole configuration of one Forager pipeline, loaded from YAML.
///
/// The configuration file names the source database, the warehouse, the batching limits and where
/// the table mappings live:
///
/// ```yaml
/// source:
///   url: "postgresql://user@127.0.0.1:5432/app"  # FORAGER_SOURCE_URL overrides
///   publication: forager                         # default forager
///   slot: forager                                # default forager
/// warehouse:
///   type: postgres                               # default postgres (the only type so far)
///   url: "postgresql://user@127.0.0.1:5433/wh"   # FORAGER_WAREHOUSE_URL overrides
///   schema: analytics                            # default public
/// batch:                                         # optional
///   max_rows: 50000                              # default 50000
///   max_mb: 64                                   # default 64: the values a batch holds, in MiB
///   max_age_ms: 500                              # default 500
///   min_interval_ms: 10                          # default 10: the least time between small batches
/// mappings: mappings/app.yaml                    # a file, or a directory of *.yaml / *.yml files
/// ```
///
/// and each mapping file lists tables:
///
/// ```yaml
/// tables:
///   - source: public.samples   # as in SQL; a bare name means schema public
///     target: samples          # optional; default: the source table's name
/// ```
public struct ForagerConfiguration: Sendable, Equatable {
    /// The source database and its replication objects.
    public var source: Source
    /// Where the changes are written.
    public var warehouse: Warehouse
    /// When a batch of changes is flushed to the warehouse.
    public var batch: Batch = Batch()
    /// The tables the mapping files name exactly, in file order; the files of a directory are read
    /// in the order of their names.
    public var tables: [TableMapping]
    /// The entries that select tables by wildcard (`source: public.*`), in file order; see
    /// ``resolveTables(sourceTables:)``.
    public var tablePatterns: [TablePatternMapping] = []
    /// The absolute path of the configuration file.
    public var configPath: String
    /// The HTTP endpoint for metrics and health (`metrics:`).
    public var metrics = Metrics()
    /// When the log warns (`alerts:`).
    public var alerts = AlertRules.Thresholds()
    /// How long `forager run` may take to stop after SIGTERM or SIGINT (`shutdown.grace_s`,
    /// default 30 s); past it, the process exits at once, which is safe: the next start replays
    /// from the warehouse checkpoint.
    public var shutdownGrace: Duration = .seconds(30)
    /// How many source and warehouse connections copy tables at once in the initial snapshot
    /// (`snapshot.parallelism`, default the number of cores, at most 8): large tables are split
    /// into ranges of pages, and several tables are in flight at once.
    public var snapshotParallelism = ForagerConfiguration.defaultSnapshotParallelism

    /// The number of cores, at most 8.
    public static var defaultSnapshotParallelism: Int { min(8, max(1, ProcessInfo.processInfo.activeProcessorCount)) }

    /// The source database (`source:`).
    public struct Source: Sendable, Equatable {
        /// The default publication and slot name.
        public static let defaultName = "forager"

        /// A libpq connection URI or `key=value` string. `FORAGER_SOURCE_URL` overrides the file.
        /// It may hold a password: never log it.
        public var url: String
        /// The publication that lists the replicated tables; default `forager`.
        public var publication: String = Source.defaultName
        /// The logical replication slot; default `forager`. Matches `[a-z0-9_]{1,63}`.
        public var slot: String = Source.defaultName
        /// How often a heartbeat is written on the source (`heartbeat_interval_s`, default 10; 0
        /// turns heartbeats off, nil here). Heartbeats move the slot when the mapped tables are
        /// idle and measure the end-to-end lag.
        public var heartbeatInterval: Duration? = .seconds(10)
        /// Where the changes of large transactions that the source streams before they commit wait
        /// for their commit (`spill_dir`, relative to the configuration file; default
        /// `forager-spill` in the system's temporary directory). One subdirectory per slot and source.
        public var spillDirectory: String = FileManager.default.temporaryDirectory.appendingPathComponent("forager-spill").path
        /// Whether column values are received in PostgreSQL's binary format (`binary`, default
        /// true) where the whole pipeline passes them through: PostgreSQL 14 or later, a Postgres
        /// warehouse, and mapped tables with keys, no extracts, and built-in column types without
        /// `types` overrides. Text otherwise.
        public var binary = true
    }

    /// The warehouse (`warehouse:`).
    public struct Warehouse: Sendable, Equatable {
        /// The default schema of the warehouse tables.
        public static let defaultSchema = "public"
        /// The default ClickHouse database.
        public static let defaultDatabase = "default"

        /// The kind of warehouse; default `postgres`.
        public var type: WarehouseType = .postgres
        /// A connection string for the warehouse. `FORAGER_WAREHOUSE_URL` overrides the file. It may
        /// hold a password: never log it.
        public var url: String
        /// The schema the target tables live in (as stored, not folded); default `public`. For
        /// ClickHouse, the database (`database`, default `default`).
        public var schema: String = Warehouse.defaultSchema
        /// ClickHouse: the user (`user`); nil for the server's default user.
        public var user: String?
        /// ClickHouse: the password (`password`, or `FORAGER_WAREHOUSE_PASSWORD`). Never log it.
        public var password: String?
        /// ClickHouse: whether insert bodies are gzip-compressed (`compression: gzip | none`, default gzip).
        public var compress = true
        /// ClickHouse over https: the PEM file of the certificate authorities the server's
        /// certificate must chain to (`ca_file`, resolved against the configuration file's
        /// directory); nil for the system's.
        public var caFile: String?
        /// ClickHouse: the cluster (`cluster`, a name from the servers' `remote_servers`) whose
        /// replicas hold every table, created `ON CLUSTER` with replicated engines; nil for one server.
        public var cluster: String?
        /// ClickHouse on a cluster: how many replicas must have written an insert before it returns
        /// (`insert_quorum`); nil sends none, so the server's setting applies (0, off, unless a
        /// profile says otherwise).
        public var insertQuorum: Int?
        /// ClickHouse with `insert_quorum`: how long an insert waits for its quorum before it
        /// fails as transient and is retried (`insert_quorum_timeout_s`, default 60).
        public var insertQuorumTimeout: Duration = .seconds(60)
        /// ClickHouse on a cluster: whether each mapped table is spread over the cluster's shards,
        /// a local replicated table per shard under a `Distributed` table (`sharding`, default false).
        public var sharding = false
        /// Redshift: where loads are staged in S3 and the role Redshift reads them with (`s3`,
        /// `iam_role`); nil for the other warehouses.
        public var redshift: RedshiftStaging?
    }

    /// The HTTP endpoint of `forager run` (`metrics:`): `/metrics`, `/healthz`, `/readyz`, `/status`.
    public struct Metrics: Sendable, Equatable {
        /// The default address, loopback only.
        public static let defaultListen = "127.0.0.1:9187"

        /// Host and port to listen on (`listen`, default `127.0.0.1:9187`); nil when `listen: off`.
        public var listen: (host: String, port: Int)? {
            get { host.map { ($0, port) } }
            set {
                host = newValue?.host
                port = newValue?.port ?? 0
            }
        }
        private var host: String? = "127.0.0.1"
        private var port = 9187
        /// `/readyz` fails while the lag is above this (`ready_max_lag_s`, default 300 s).
        public var readyMaxLag: Duration = .seconds(300)

        public init() {}
    }

    /// The kinds of warehouse Forager can write to.
    public enum WarehouseType: String, Sendable, CaseIterable {
        /// A PostgreSQL database.
        case postgres
        /// A ClickHouse server, over its HTTP interface.
        case clickhouse
        /// Amazon Redshift: a libpq connection, with loads staged in S3.
        case redshift
    }

    /// Batching limits (`batch:`): a batch is flushed when it holds `maxRows` rows, when its
    /// values take `maxBytes`, or when its oldest change is `maxAge` old, whichever comes first.
    public struct Batch: Sendable, Equatable {
        /// The default for `max_rows`.
        public static let defaultMaxRows = 50_000
        /// The default for `max_mb`, in bytes.
        public static let defaultMaxBytes = 64 << 20
        /// The default for `max_age_ms`.
        public static let defaultMaxAge: Duration = .milliseconds(500)
        /// The default for `min_interval_ms`.
        public static let defaultMinInterval: Duration = .milliseconds(10)

        /// `max_rows`, at least 1; default 50000.
        public var maxRows: Int = Batch.defaultMaxRows
        /// `max_mb` in bytes, at least 1 MiB; default 64 MiB. Bounds the memory of wide rows,
        /// which `max_rows` alone does not.
        public var maxBytes: Int = Batch.defaultMaxBytes
        /// `max_age_ms`, at least 1 ms; default 500 ms.
        public var maxAge: Duration = Batch.defaultMaxAge
        /// `min_interval_ms`, at least 0 and less than `max_age_ms`; default 10 ms: while
        /// transactions arrive faster than two per interval, a small batch that caught up with the
        /// stream follows the one before it no sooner than this.
        public var minInterval: Duration = Batch.defaultMinInterval
    }

    /// One mapped table. `target` is the warehouse table name (no schema; the warehouse schema
    /// applies).
    public struct TableMapping: Sendable, Equatable {
        /// The source table.
        public var source: TableName
        /// The warehouse table's name, as stored (case kept); defaults to the source table's name.
        public var target: String
        /// What a source DELETE does in the warehouse (`deletes: hard | soft`; default hard).
        public var deletes: DeleteMode = .hard
        /// Source columns that are never sent (`exclude_columns`): left out of the publication's
        /// column list, so their values never leave the source.
        public var excludeColumns: [String] = []
        /// Warehouse names for source columns (`rename_columns: {source: warehouse}`).
        public var renameColumns: [String: String] = [:]
        /// Warehouse types for source columns (`types: {column: type}`), where the default (the
        /// source's type) is not what analysts want.
        public var types: [String: String] = [:]
        /// Warehouse columns computed from fields of JSON columns (`extract`).
        public var extracts: [JSONExtract] = []
        /// `keep_json: false`: the json columns that `extract` reads from are not stored in the
        /// warehouse, only the extracted columns are. Default true.
        public var keepJSON: Bool = true
        /// `append_only: true`: every insert is kept as a new warehouse row; updates, deletes and
        /// truncations are not replicated. For tables without a key, such as event logs.
        public var appendOnly: Bool = false
        /// Columnar warehouses' storage options (`clickhouse:`, `redshift:`).
        public var layout: PhysicalLayout = PhysicalLayout()
        /// The mapping file that lists the table, as shown in problems.
        public var file: String
        /// The 1-based line of the table's entry in `file`.
        public var line: Int
    }

    /// An entry that maps every source table its pattern matches (`source: public.*`), except those
    /// `exclude_tables` matches. Each table lands under its own name; only table-wide options apply.
    public struct TablePatternMapping: Sendable, Equatable {
        public var pattern: TablePattern
        /// Tables left out (`exclude_tables`), by name or pattern.
        public var excludeTables: [TablePattern] = []
        public var deletes: DeleteMode = .hard
        public var appendOnly: Bool = false
        /// The mapping file of the entry, as shown in problems.
        public var file: String
        /// The 1-based line of the entry in `file`.
        public var line: Int
    }

    /// Every mapped table: the exact entries, then the tables of `sourceTables` (the source's tables,
    /// in any order) that a pattern entry selects and no exact entry names, in name order. Problems:
    /// a pattern or exclusion that matches nothing, a table two patterns select, two tables that
    /// would land on the same warehouse table; each starts with the file and line of the entry.
    public func resolveTables(sourceTables: [TableName]) -> (tables: [TableMapping], problems: [ForagerError]) {
        var tables = self.tables
        var problems: [ForagerError] = []
        var claimedBy: [TableName: TablePatternMapping] = [:]
        let exact = Set(self.tables.map(\.source))
        for entry in tablePatterns {
            let location = "\(entry.file):\(entry.line)"
            let matched = sourceTables.filter(entry.pattern.matches).sorted()
            if matched.isEmpty {
                problems.append(
                    ForagerError(
                        .schema, "\(location): \(entry.pattern) matches no table on the source",
                        hint:
                            "Check the pattern (unquoted letters are folded to lower case; * and ? are wildcards outside quotes) and that the source role can see the tables."
                    ))
                continue
            }
            for exclusion in entry.excludeTables where !matched.contains(where: exclusion.matches) {
                problems.append(
                    ForagerError(
                        .schema, "\(location): exclude_tables names \(exclusion), which is not among the tables \(entry.pattern) selects",
                        hint: "Fix the name, or remove it from exclude_tables."))
            }
            for table in matched where !exact.contains(table) && !entry.excludeTables.contains(where: { $0.matches(table) }) {
                if let first = claimedBy[table] {
                    problems.append(
                        ForagerError(
                            .schema,
                            "\(location): \(table) is selected by \(entry.pattern) and also by \(first.pattern) at \(first.file):\(first.line)",
                            hint: "Add it to the exclude_tables of one of the two entries, or map it by its own name."))
                    continue
                }
                claimedBy[table] = entry
                tables.append(
                    TableMapping(
                        source: table, target: table.name, deletes: entry.deletes, appendOnly: entry.appendOnly,
                        file: entry.file, line: entry.line))
            }
        }
        var byTarget: [String: TableMapping] = [:]
        for table in tables {
            if let first = byTarget[table.target] {
                problems.append(
                    ForagerError(
                        .schema,
                        "\(table.file):\(table.line): \(table.source) and \(first.source) (\(first.file):\(first.line)) would both land in the warehouse table \(SQL.quoteIdentifier(table.target))",
                        hint: "Map one of them by its own name with a different target, or exclude it with exclude_tables."))
                continue
            }
            byTarget[table.target] = table
        }
        return (tables, problems)
    }

    /// The environment variable that overrides `source.url`.
    public static let sourceURLVariable = "FORAGER_SOURCE_URL"
    /// The environment variable that overrides `warehouse.url`.
    public static let warehouseURLVariable = "FORAGER_WAREHOUSE_URL"
    /// The environment variable that overrides `warehouse.password` (ClickHouse).
    public static let warehousePasswordVariable = "FORAGER_WAREHOUSE_PASSWORD"

    /// Reads `path`, the mapping files it names, and the environment overrides. Reports every
    /// problem at once.
    ///
    /// - Parameters:
    ///   - path: The configuration file, absolute or relative to the current directory. Problems
    ///     name it as given.
    ///   - environment: Usually `ProcessInfo.processInfo.environment`; `FORAGER_SOURCE_URL` and
    ///     `FORAGER_WAREHOUSE_URL`, when set and not empty, override the file's URLs.
    public static func load(path: String, environment: [String: String]) throws(ConfigurationError) -> ForagerConfiguration {
        let absolute = FilePaths.absolute(path)
        switch FilePaths.readText(atPath: absolute) {
        case .success(let text):
            return try parse(yaml: text, path: path, environment: environment)
        case .failure(let failure):
            throw ConfigurationError(problems: [
                ConfigurationError.Problem(
                    code: .unreadableFile, file: path, line: nil, key: "",
                    message: "cannot read the configuration file: \(failure.reason(absolutePath: absolute)); "
                        + "pass the path of the YAML configuration file"
                )
            ])
        }
    }

    /// Same as ``load(path:environment:)``, from text (for tests); `path` is used for messages and
    /// to resolve relative mapping paths.
    public static func parse(yaml: String, path: String, environment: [String: String]) throws(ConfigurationError) -> ForagerConfiguration {
        var reader = ConfigurationReader(configFile: path, environment: environment)
        let configuration = reader.read(yaml: yaml)
        let problems = reader.sortedProblems()
        guard problems.isEmpty, let configuration else {
            throw ConfigurationError(problems: problems)
        }
        return configuration
    }
}
