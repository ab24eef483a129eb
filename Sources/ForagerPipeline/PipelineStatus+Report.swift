import ForagerCore
public import PostgresSource
import WallClock

extension PipelineStatus {
    /// What `/status` shows (JSON, snake_case keys), and what `forager status` reads from a running
    /// process.
    public struct Report: Codable, Sendable {
        /// The last failure of the pipeline.
        public struct Failure: Codable, Sendable {
            /// What failed (secrets masked).
            public var message: String
            /// ``FailureKind``.
            public var kind: String
            /// When (Unix time).
            public var at: Double
            /// Whether the pipeline retries.
            public var transient: Bool
        }

        /// The next attempt after a transient failure.
        public struct Retry: Codable, Sendable {
            public var attempt: Int
            /// When (Unix time).
            public var nextAt: Double
        }

        /// One table's initial copy.
        public struct TableCopy: Codable, Sendable {
            /// Bytes read from the source so far.
            public var bytesCopied: Int64
            /// The table's size on disk.
            public var tableBytes: Int64?
            /// The rows stored, once done.
            public var rows: Int?
            public var done: Bool
        }

        /// The replication slot as last read on the source.
        public struct Slot: Codable, Sendable {
            public var name: String
            public var exists: Bool
            public var active: Bool?
            public var activePid: Int?
            public var walStatus: String?
            public var retainedWalBytes: Int64?
            public var confirmedFlushLsn: String?
            /// When it was read (Unix time).
            public var readAt: Double?

            /// The slot `name` as read at `readAt`; `state` is nil when the source has no such slot.
            public init(name: String, state: PostgresSource.SlotState?, readAt: Double) {
                self.name = name
                exists = state != nil
                active = state.map { $0.activePID != nil }
                activePid = state?.activePID
                walStatus = state?.walStatus
                retainedWalBytes = state?.retainedBytes
                confirmedFlushLsn = state?.confirmedFlush?.description
                self.readAt = readAt
            }
        }

        /// The slot of the pipeline this process runs: tells pipelines that share a host apart.
        public var pipelineSlot: String
        public var phase: Phase
        /// When the phase began (Unix time).
        public var phaseSince: Double
        public var ready: Bool
        /// Why ready or not, for `/readyz`.
        public var readyReason: String
        public var checkpointLsn: String?
        /// When the checkpoint last moved (Unix time).
        public var checkpointAt: Double?
        public var sourceLsn: String?
        /// The end-to-end lag from heartbeats.
        public var lagSeconds: Double?
        public var lagBytes: Int64?
        public var heartbeatIntervalSeconds: Double?
        public var lastHeartbeatLsn: String?
        public var lastHeartbeatAt: Double?
        public var slot: Slot?
        public var lastError: Failure?
        public var retry: Retry?
        /// The initial copy by table, while and after it runs.
        public var snapshot: [String: TableCopy]
        /// The mapped tables that are stopped (nothing more is applied to them until a resync).
        public var stoppedTables: [String]?
        /// The warehouse's checkpoint and tables (states, row counts), read on request at most
        /// every ``WarehouseReadings/maxAge``; nil where it is not read (the pipeline's own report).
        public var warehouse: WarehouseReading?
    }
}

extension PipelineStatus.Report.Failure {
    /// `error`, of kind `kind` (``FailureKind``), now, with its secrets masked; `transient` when the
    /// pipeline retries.
    public init(_ error: any Error, kind: String, transient: Bool) {
        self.init(message: Redaction.apply("\(error)"), kind: kind, at: UnixTime.now, transient: transient)
    }
}
