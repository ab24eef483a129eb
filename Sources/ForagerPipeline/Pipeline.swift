public import ForagerConfig
import ForagerCore
import LibPQ
public import Logging
import PostgresSource

/// The pipeline: decides between snapshot and resume from the slot and the warehouse checkpoint,
/// copies tables, and drives the replicator from the source's stream into the warehouse. The
/// executable builds it from the configuration and passes in how to reach the warehouse.
public struct Pipeline: Sendable {
    /// How long a pass streams.
    public enum Mode: Sendable {
        /// Stream until stopped.
        case continuous
        /// Stop once the source's WAL position at start is applied.
        case catchUp
    }

    /// The configuration and mappings it runs.
    public let configuration: ForagerConfiguration
    /// Where it logs (metadata under `forager.`).
    public let logger: Logger
    /// Set to make it wind down: commit what it has, acknowledge, and return.
    public let stop: StopSignal
    /// Opens the configured warehouse (and its comparator for `forager validate`).
    public let warehouses: WarehouseConnector
    /// What `forager run` reports on /status and /metrics; nil for the one-shot commands.
    public var status: PipelineStatus? = nil
    /// The pipeline's metric handles, made with it.
    public let metrics: PipelineMetrics
    /// Values arrive as text whatever `source.binary` says: binary values failed in this pass.
    var textValues = false

    /// A pipeline for `configuration` whose warehouse `warehouses` opens; it winds down once `stop`
    /// is set. It records into `metrics`, by default handles of the bootstrapped metrics system.
    public init(
        configuration: ForagerConfiguration, logger: Logger, stop: StopSignal, warehouses: WarehouseConnector,
        metrics: PipelineMetrics = PipelineMetrics()
    ) {
        self.configuration = configuration
        self.logger = logger
        self.stop = stop
        self.warehouses = warehouses
        self.metrics = metrics
    }

    var sourceURL: ConnectionString { get throws { try ConnectionString(configuration.source.url) } }

    func requests(_ mapped: [ForagerConfiguration.TableMapping]) -> [PostgresSource.TableRequest] {
        mapped.map {
            PostgresSource.TableRequest(
                source: $0.source, target: TableName(schema: configuration.warehouse.schema, name: $0.target),
                location: "\($0.file):\($0.line)", appendOnly: $0.appendOnly)
        }
    }

    /// The path in `source.spill_dir` of what belongs to a stream on `slot`, named after the slot
    /// and the source server and database: two pipelines on one host may use one slot name
    /// against different sources.
    func localPath(for slot: String) throws -> String {
        let url = try sourceURL
        let source = ["host", "hostaddr", "port", "dbname"].map { url[$0] ?? "" }.joined(separator: "|")
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in source.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        return configuration.source.spillDirectory + "/" + slot + "-" + String(hash >> 32, radix: 16)
    }

    /// The spill for the transactions a stream on `slot` streams before they commit, in its own
    /// subdirectory of `source.spill_dir` (emptied: the source streams them again).
    func spill(for slot: String) throws -> StreamSpill {
        try StreamSpill(directory: try localPath(for: slot))
    }

    /// Where `forager run` records its start and its end, for `forager status` to read after the
    /// process is gone.
    public var lastRun: LastRunRecord {
        get throws { LastRunRecord(path: try localPath(for: configuration.source.slot) + ".last-run.json") }
    }

    /// Whether to ask for the values of `tables` in binary: `source.binary`, not turned off for
    /// this pass, and a warehouse that stores them as they are. Logs why not, when not.
    func binaryValues(_ tables: [MappedTable], warehouse: any Warehouse) async throws -> Bool {
        guard configuration.source.binary, !textValues else { return false }
        guard let obstacle = try await warehouse.textValuesReason(for: tables) else { return true }
        logger.info("column values arrive as text", metadata: ["forager.reason": "\(obstacle)"])
        return false
    }

    /// The batcher's limits, from `batch:`.
    var batchLimits: ChangeBatcher.Limits {
        ChangeBatcher.Limits(
            maxRows: configuration.batch.maxRows, maxBytes: configuration.batch.maxBytes, maxAge: configuration.batch.maxAge,
            minInterval: configuration.batch.minInterval)
    }

    /// Opens the source for queries (not for replication).
    func connectSource() async throws -> PostgresSource {
        try await PostgresSource.connect(
            sourceURL, publication: configuration.source.publication, slot: configuration.source.slot, logger: logger)
    }

    /// Opens the configured warehouse.
    func connectWarehouse() async throws -> any Warehouse {
        try await warehouses.connect()
    }

    /// The mapped tables: exact entries, and the source tables that pattern entries select.
    func resolveMappings(_ source: PostgresSource) async throws -> (tables: [ForagerConfiguration.TableMapping], problems: [ForagerError]) {
        guard !configuration.tablePatterns.isEmpty else { return (configuration.tables, []) }
        return configuration.resolveTables(sourceTables: try await source.tableNames())
    }

    /// The mapped tables as the source describes them, with the mapping's options applied, and every
    /// problem: source-side ones and mapping entries that do not fit the table (with file and line).
    func describeTables(
        _ source: PostgresSource, _ mapped: [ForagerConfiguration.TableMapping]
    ) async throws -> (tables: [MappedTable], problems: [ForagerError]) {
        let (tables, problems) = try await source.describe(requests(mapped))
        let merged = MappingMerge.apply(mapped, to: tables)
        return (merged.tables, problems + merged.problems)
    }
}
