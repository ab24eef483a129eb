import ForagerCore
import PGOutput

/// Any warehouse as a replicator's sink: schema changes reach it with their columns read from
/// the source's catalogue. The stream that fills in copied tables does not store its position as
/// the pipeline's checkpoint (`storesCheckpoint` false).
struct WarehouseHandle: WarehouseSink {
    let warehouse: any Warehouse
    let catalogue: any SourceCatalogue
    var storesCheckpoint = true

    /// The stream's column values arrive in binary, stored as received.
    var binaryValues = false

    func apply(_ changes: ChangeSet, stopped: inout StoppedTables) async throws {
        guard changes.hasSchemaChanges else { return try await warehouse.apply(changes, stopped: &stopped) }
        var resolved = changes
        try await resolved.resolveSchemaChanges(from: catalogue)
        if binaryValues { try Self.checkBinaryValues(of: resolved) }
        try await warehouse.apply(resolved, stopped: &stopped)
    }

    /// Throws ``ForagerError/Code/binaryValues`` when a schema change gives a column a type that is
    /// not built in: its binary values cannot be stored as received, and the stream starts again
    /// with values in text before any of the batch reaches the warehouse.
    static func checkBinaryValues(of changes: ChangeSet) throws {
        for case .schemaChange(let change) in changes.allSteps {
            guard let column = change.changedColumnDefinitions.first(where: { !$0.binaryCompatible }) else { continue }
            throw ForagerError(
                .binaryValues,
                "column \(SQL.quoteIdentifier(column.name)) of \(change.table.source) now has a type that is not built in (\(column.sqlType.isEmpty ? "unknown" : column.sqlType)), whose binary values the warehouse cannot store as received",
                hint: "Nothing is lost: Forager starts the stream again from its checkpoint with values in text.")
        }
    }
    func commit(checkpoint: LSN) async throws {
        if storesCheckpoint {
            try await warehouse.commit(checkpoint: checkpoint)
        } else {
            try await warehouse.commitUnitOfWork()
        }
    }
    func rollback() async throws { try await warehouse.rollback() }
}
