import ForagerCore
import PGOutput

/// Any warehouse as a replicator's sink: schema changes reach it with their columns read from
/// the source's catalogue. The stream that fills in copied tables does not store its position as
/// the pipeline's checkpoint (`storesCheckpoint` false).
struct WarehouseHandle: WarehouseSink {
    let warehouse: any Warehouse
    let catalogue: any SourceCatalogue
    var storesCheckpoint = true
    /// Told which tables are stopped after each commit.
    var status: PipelineStatus?

    func apply(_ changes: ChangeSet) async throws {
        guard changes.hasSchemaChanges else { return try await warehouse.apply(changes) }
        var resolved = changes
        try await resolved.resolveSchemaChanges(from: catalogue)
        try await warehouse.apply(resolved)
    }
    func commit(checkpoint: LSN) async throws {
        if storesCheckpoint {
            try await warehouse.commit(checkpoint: checkpoint)
        } else {
            try await warehouse.commitUnitOfWork()
        }
        status?.tablesStopped(await warehouse.stoppedTableNames())
    }
    func rollback() async throws { try await warehouse.rollback() }
}
