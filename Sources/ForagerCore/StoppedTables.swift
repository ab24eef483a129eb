public import Logging

/// The source tables whose changes a warehouse no longer applies, until they are resynced: those
/// recorded as stopped at start, and those a change stopped since.
public struct StoppedTables: Sendable {
    public private(set) var names: Set<TableName>

    public init(_ names: Set<TableName> = []) {
        self.names = names
    }

    /// The tables `states` records as stopped.
    public init(recorded states: [TableName: TableState]) {
        self.init(Set(states.filter { $0.value.phase == .stopped }.keys))
    }

    /// Stops `table` because of `error`, saying so in the log; returns the state the warehouse
    /// records for it.
    public mutating func stop(_ table: MappedTable, _ error: ForagerError, logger: Logger) -> TableState {
        names.insert(table.source)
        return Self.stoppedState(table, error, logger: logger)
    }

    /// The state recorded for `table` stopped because of `error`, said in the log.
    static func stoppedState(_ table: MappedTable, _ error: ForagerError, logger: Logger) -> TableState {
        logger.error(
            "table stopped; the other tables keep flowing", metadata: ["forager.table": "\(table.source)", "forager.error": "\(error)"])
        return TableState(phase: .stopped, reason: error.description)
    }
}

extension CheckpointStore {
    /// Records `table` as stopped because of `error`, outside a stream (a problem found at start),
    /// saying so in the log.
    public func recordStopped(_ table: MappedTable, _ error: ForagerError, logger: Logger) async throws {
        try await record(table.source, StoppedTables.stoppedState(table, error, logger: logger))
    }
}
