public import ForagerCore

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
///   max_age_ms: 500                              # default 500
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
    public var batch: Batch
    /// The mapped tables from the mapping files, in file order; the files of a directory are read
    /// in the order of their names.
    public var tables: [TableMapping]
    /// The absolute path of the configuration file.
    public var configPath: String

    public init(source: Source, warehouse: Warehouse, batch: Batch = Batch(), tables: [TableMapping], configPath: String) {
        self.source = source
        self.warehouse = warehouse
        self.batch = batch
        self.tables = tables
        self.configPath = configPath
    }

    /// The source database (`source:`).
    public struct Source: Sendable, Equatable {
        /// The default publication and slot name.
        public static let defaultName = "forager"

        /// A libpq connection URI or `key=value` string. `FORAGER_SOURCE_URL` overrides the file.
        /// It may hold a password: never log it.
        public var url: String
        /// The publication that lists the replicated tables; default `forager`.
        public var publication: String
        /// The logical replication slot; default `forager`. Matches `[a-z0-9_]{1,63}`.
        public var slot: String

        public init(url: String, publication: String = Source.defaultName, slot: String = Source.defaultName) {
            self.url = url
            self.publication = publication
            self.slot = slot
        }
    }

    /// The warehouse (`warehouse:`).
    public struct Warehouse: Sendable, Equatable {
        /// The default schema of the warehouse tables.
        public static let defaultSchema = "public"

        /// The kind of warehouse; default `postgres`.
        public var type: WarehouseType
        /// A connection string for the warehouse. `FORAGER_WAREHOUSE_URL` overrides the file. It may
        /// hold a password: never log it.
        public var url: String
        /// The schema the target tables live in (as stored, not folded); default `public`.
        public var schema: String

        public init(type: WarehouseType = .postgres, url: String, schema: String = Warehouse.defaultSchema) {
            self.type = type
            self.url = url
            self.schema = schema
        }
    }

    /// The kinds of warehouse Forager can write to.
    public enum WarehouseType: String, Sendable, CaseIterable {
        /// A PostgreSQL database.
        case postgres
    }

    /// Batching limits (`batch:`): a batch is flushed when it holds `maxRows` rows or its oldest
    /// change is `maxAge` old, whichever comes first.
    public struct Batch: Sendable, Equatable {
        /// The default for `max_rows`.
        public static let defaultMaxRows = 50_000
        /// The default for `max_age_ms`.
        public static let defaultMaxAge: Duration = .milliseconds(500)

        /// `max_rows`, at least 1; default 50000.
        public var maxRows: Int
        /// `max_age_ms`, at least 1 ms; default 500 ms.
        public var maxAge: Duration

        public init(maxRows: Int = Batch.defaultMaxRows, maxAge: Duration = Batch.defaultMaxAge) {
            self.maxRows = maxRows
            self.maxAge = maxAge
        }
    }

    /// One mapped table. `target` is the warehouse table name (no schema; the warehouse schema
    /// applies).
    public struct TableMapping: Sendable, Equatable {
        /// The source table.
        public var source: TableName
        /// The warehouse table's name, as stored (case kept); defaults to the source table's name.
        public var target: String
        /// What a source DELETE does in the warehouse (`deletes: hard | soft`; default hard).
        public var deletes: DeleteMode
        /// Source columns that are never sent (`exclude_columns`): left out of the publication's
        /// column list, so their values never leave the source.
        public var excludeColumns: [String]
        /// Warehouse names for source columns (`rename_columns: {source: warehouse}`).
        public var renameColumns: [String: String]
        /// Warehouse types for source columns (`types: {column: type}`), where the default (the
        /// source's type) is not what analysts want.
        public var types: [String: String]
        /// Warehouse columns computed from fields of JSON columns (`extract`).
        public var extracts: [JSONExtract]
        /// The mapping file that lists the table, as shown in problems.
        public var file: String
        /// The 1-based line of the table's entry in `file`.
        public var line: Int

        public init(
            source: TableName, target: String, deletes: DeleteMode = .hard, excludeColumns: [String] = [],
            renameColumns: [String: String] = [:], types: [String: String] = [:], extracts: [JSONExtract] = [],
            file: String, line: Int
        ) {
            self.extracts = extracts
            self.renameColumns = renameColumns
            self.types = types
            self.source = source
            self.target = target
            self.deletes = deletes
            self.excludeColumns = excludeColumns
            self.file = file
            self.line = line
        }
    }

    /// The environment variable that overrides `source.url`.
    public static let sourceURLVariable = "FORAGER_SOURCE_URL"
    /// The environment variable that overrides `warehouse.url`.
    public static let warehouseURLVariable = "FORAGER_WAREHOUSE_URL"

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
                ),
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
