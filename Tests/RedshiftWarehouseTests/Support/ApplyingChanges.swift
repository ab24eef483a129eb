import ForagerCore

extension WarehouseSink {
    /// Applies `changes` as the first batch of a stream with no table stopped; returns the tables
    /// stopped after it.
    @discardableResult
    func apply(_ changes: ChangeSet) async throws -> Set<TableName> {
        var stopped = StoppedTables()
        try await apply(changes, stopped: &stopped)
        return stopped.names
    }
}
