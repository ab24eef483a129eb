/// The warehouse's checkpoint and the mapped tables as the warehouse records them, read at `readAt`
/// (Unix time); `error` when the warehouse could not be read.
public struct WarehouseReading: Codable, Sendable {
    /// One mapped table.
    public struct Table: Codable, Sendable {
        public var source: String
        public var target: String
        /// streaming, stopped, resync, copying, or not_copied (the warehouse has no record yet).
        public var state: String
        public var rows: Int?
        public var syncedAt: String?
        public var reason: String?
    }
    public var checkpointLsn: String?
    public var tables: [Table]
    public var error: String?
    public var readAt: Double
}

/// What `forager status` prints: the slot as the source sees it, the warehouse's checkpoint and
/// tables, and what the running `forager run` reports about itself, if one answers.
public struct StatusOutput: Codable, Sendable {
    /// The slot as the source reports it; nil when the source could not be read.
    public var slot: PipelineStatus.Report.Slot?
    /// The source's WAL write position.
    public var sourceLsn: String?
    /// Why the source could not be read (secrets masked).
    public var sourceError: String?
    /// The warehouse's checkpoint of the slot.
    public var checkpointLsn: String?
    /// Why the warehouse could not be read (secrets masked).
    public var warehouseError: String?
    /// How far the checkpoint is behind the source's WAL position, in bytes.
    public var lagBytes: Int64?
    /// From the running process (heartbeats); nil when none answers or heartbeats are off.
    public var lagSeconds: Double?
    /// The mapped tables as the warehouse records them.
    public var tables: [WarehouseReading.Table]
    /// Where the running process was asked, and its answer.
    public var processEndpoint: String?
    public var process: PipelineStatus.Report?
    public var lastError: PipelineStatus.Report.Failure?
    /// What the last `forager run` recorded, when no running process answered.
    public var lastRun: LastRunRecord.Run?
    /// Whether the process of `lastRun` still runs on this machine (nil when it recorded its end).
    public var lastRunAlive: Bool?
    /// What needs a person, one line each; empty when all is well.
    public var attention: [String]

    /// A report with `tables` and `attention`, and nothing known yet of the rest.
    public init(tables: [WarehouseReading.Table] = [], attention: [String] = []) {
        self.tables = tables
        self.attention = attention
    }
}
