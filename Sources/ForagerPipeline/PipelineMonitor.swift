public import ForagerConfig
import ForagerCore
import LibPQ
public import Logging
import PostgresSource

/// What `forager run` watches beside the pipeline, a round every heartbeat interval: writes a
/// heartbeat on the source, reads the slot's state into the status, and logs alerts. On its own
/// source connection, reopened after failures; a failure only skips a round.
public struct PipelineMonitor {
    let configuration: ForagerConfiguration
    let status: PipelineStatus
    let metrics: PipelineMetrics
    let logger: Logger
    private var rules: AlertRules
    private var heartbeats: Bool
    private var source: PostgresSource?

    /// A monitor of the pipeline of `configuration`, reporting into `status` and `metrics`.
    public init(configuration: ForagerConfiguration, status: PipelineStatus, metrics: PipelineMetrics, logger: Logger) {
        self.configuration = configuration
        self.status = status
        self.metrics = metrics
        self.logger = logger
        rules = AlertRules(thresholds: configuration.alerts)
        heartbeats = configuration.source.heartbeatInterval != nil
    }

    /// The time between rounds: `source.heartbeat_interval_s`, or 10 s when heartbeats are off.
    public var interval: Duration { configuration.source.heartbeatInterval ?? .seconds(10) }

    /// One round; a failure is logged at debug level and the connection is opened anew next round.
    public mutating func round() async {
        do {
            let connected: PostgresSource
            if let source {
                connected = source
            } else {
                connected = try await PostgresSource.connect(
                    try ConnectionString(configuration.source.url), publication: configuration.source.publication,
                    slot: configuration.source.slot, logger: logger)
                source = connected
            }
            if heartbeats { try await heartbeat(connected) }
            let slot = try await connected.slotState()
            status.slotRead(slot)
            let facts = AlertRules.Facts(
                slotExists: slot != nil, slotActive: slot?.activePID != nil, walStatus: slot?.walStatus,
                retainedWALBytes: slot?.retainedBytes, lag: status.lag, stoppedTables: status.stoppedTables)
            for alert in rules.evaluate(facts, slot: configuration.source.slot, now: .now) {
                if alert.firing {
                    logger.warning(
                        "\(alert.message)", metadata: ["forager.alert": "\(alert.kind.rawValue)", "forager.fix": "\(alert.fix)"])
                } else {
                    logger.notice("\(alert.message)", metadata: ["forager.alert": "\(alert.kind.rawValue)", "forager.resolved": "true"])
                }
            }
        } catch {
            logger.debug("monitor: could not read the source this round", metadata: ["forager.error": "\(error)"])
            source?.connection.close()
            source = nil
        }
    }

    /// Writes a heartbeat; turns heartbeats off, with a warning, where the role may not write one.
    private mutating func heartbeat(_ source: PostgresSource) async throws {
        do {
            status.heartbeat(try await source.emitHeartbeat())
            metrics.heartbeat()
        } catch let error as PGError where error.sqlState == "42501" || error.sqlState == "25006" {
            // 42501: EXECUTE revoked; 25006: a read-only session (default_transaction_read_only, a standby).
            heartbeats = false
            logger.warning(
                "heartbeats are off: the source role cannot write logical messages here",
                metadata: [
                    "forager.error": "\(error.message)",
                    "forager.fix":
                        "Let the source role run pg_logical_emit_message (GRANT EXECUTE, and a read-write session), or set source.heartbeat_interval_s: 0 to silence this",
                ])
        }
    }

    /// Closes the monitor's source connection.
    public func close() {
        source?.connection.close()
    }
}
