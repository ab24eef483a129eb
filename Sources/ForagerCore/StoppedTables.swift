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
        logger.error(
            "table stopped; the other tables keep flowing", metadata: ["forager.table": "\(table.source)", "forager.error": "\(error)"])
        names.insert(table.source)
        return TableState(phase: .stopped, reason: error.description)
    }
}

extension CheckpointStore {
    /// Records `table` as stopped because of `error`, outside a stream (a problem found at start),
    /// saying so in the log.
    public func recordStopped(_ table: MappedTable, _ error: ForagerError, logger: Logger) async throws {
        var stopping = StoppedTables()
        try await record(table.source, stopping.stop(table, error, logger: logger))
    }
}
