import ForagerCore
import PGOutput
internal import Synchronization

/// Any warehouse as a replicator's sink: schema changes reach it with their columns read from
/// the source's catalogue, and, when the stream's values arrive in binary, a batch whose values
/// the warehouse cannot store as received ends the stream before any of it reaches the warehouse
/// (it starts again in text). The stream that fills in copied tables does not store its position
/// as the pipeline's checkpoint (`storesCheckpoint` false).
struct WarehouseHandle: WarehouseSink {
    let warehouse: any Warehouse
    let catalogue: any SourceCatalogue
    var storesCheckpoint = true
    /// The types each column takes binary values of, when the values arrive in binary.
    private let binaryTypes: Shared?

    /// The types, as the batches in the stream's order change them.
    private final class Shared: Sendable {
        let types: Mutex<BinaryValueTypes>
        init(_ types: BinaryValueTypes) { self.types = Mutex(types) }
    }

    init(warehouse: any Warehouse, catalogue: any SourceCatalogue, storesCheckpoint: Bool = true, binaryValuesOf tables: [MappedTable]?) {
        self.warehouse = warehouse
        self.catalogue = catalogue
        self.storesCheckpoint = storesCheckpoint
        self.binaryTypes = tables.map { Shared(BinaryValueTypes(tables: $0)) }
    }

    func apply(_ changes: ChangeSet, stopped: inout StoppedTables) async throws {
        var resolved = changes
        if changes.hasSchemaChanges { try await resolved.resolveSchemaChanges(from: catalogue) }
        try binaryTypes?.types.withLock { types in try Self.checkBinaryValues(of: resolved, against: &types) }
        try await warehouse.apply(resolved, stopped: &stopped)
    }

    /// Throws ``ForagerError/Code/binaryValues`` when a table's rows arrive with a type its
    /// warehouse column does not take as it is, or a schema change gives a column a type that is
    /// not built in; follows the schema changes in `types` as it goes.
    static func checkBinaryValues(of changes: ChangeSet, against types: inout BinaryValueTypes) throws(ForagerError) {
        for step in changes.allSteps {
            switch step {
            case .rows(let tables):
                for changes in tables { try types.check(changes.table) }
            case .schemaChange(let change):
                if let column = change.changedColumnDefinitions.first(where: { !$0.binaryCompatible }) {
                    throw ForagerError(
                        .binaryValues,
                        "column \(SQL.quoteIdentifier(column.name)) of \(change.table.source) now has a type that is not built in (\(column.sqlType.isEmpty ? "unknown" : column.sqlType)), whose binary values the warehouse cannot store as received",
                        hint: "Nothing is lost: Forager starts the stream again from its checkpoint with values in text.")
                }
                types.follow(change)
            case .truncate, .stopTable:
                continue
            }
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
