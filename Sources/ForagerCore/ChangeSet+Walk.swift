public import Logging

/// A warehouse's refusal that concerns one table alone: a value it cannot hold, a constraint added
/// by hand, a schema change it cannot follow. The walk over a change set stops that table (records
/// it with `error`) and goes on with the others. The step that throws it leaves the unit of work as
/// if none of the table's rows of that step had been applied.
public struct TableRefusal: Error, Sendable, CustomStringConvertible {
    /// What is wrong, naming the table, and what to do.
    public var error: ForagerError

    public init(_ error: ForagerError) {
        self.error = error
    }

    /// The refusal's own message, should it reach a person (outside a walk it is not caught).
    public var description: String { error.description }
}

/// What a warehouse does with each kind of step of a change set. The walk over the steps, which
/// tables are skipped as stopped, and stopping a table are the core's (``ChangeSet/walk(into:stopped:logger:isolation:)``);
/// a warehouse only carries out a step and persists a table's state.
public protocol ChangeStepApplier: Sendable {
    /// Empties `tables`, as the source truncated them.
    func applyTruncate(_ tables: [MappedTable]) async throws
    /// Applies one table's rows; throws ``TableRefusal`` when the warehouse refuses them.
    func applyRows(_ changes: TableChanges) async throws
    /// Follows a change of a table's columns (resolved from the source's catalogue); throws
    /// ``TableRefusal`` when the warehouse cannot follow it.
    func applySchemaChange(_ change: SchemaChange) async throws
    /// Records a table's state (in the open transaction, where the warehouse has transactions).
    func record(_ table: TableName, _ state: TableState) async throws
}

extension ChangeSet {
    /// Carries out the steps in order into `applier`, leaving out the tables in `stopped`. A
    /// ``ChangeStep/stopTable(_:_:)`` step, or a step the warehouse refuses for one table, stops that
    /// table: it is recorded as stopped, added to `stopped`, and none of its later changes is applied.
    /// `stopped` changes only as the warehouse's unit of work does: should a later step throw, the
    /// caller throws away both.
    public func walk(
        into applier: some ChangeStepApplier, stopped: inout StoppedTables, logger: Logger,
        isolation: isolated (any Actor)? = #isolation
    ) async throws {
        for step in allSteps {
            // Evaluated per step: a step may stop a table for the steps after it.
            guard let step = step.excluding(stopped.names) else { continue }
            for (table, error) in try await Self.carryOut(step, into: applier) {
                try await applier.record(table.source, stopped.stop(table, error, logger: logger))
            }
        }
    }

    /// Carries out one step; returns the tables it stops and why.
    private static func carryOut(
        _ step: ChangeStep, into applier: some ChangeStepApplier, isolation: isolated (any Actor)? = #isolation
    ) async throws -> [(MappedTable, ForagerError)] {
        switch step {
        case .truncate(let tables):
            try await applier.applyTruncate(tables)
            return []
        case .rows(let tables):
            var refused: [(MappedTable, ForagerError)] = []
            for changes in tables {
                do {
                    try await applier.applyRows(changes)
                } catch let refusal as TableRefusal {
                    refused.append((changes.table, refusal.error))
                }
            }
            return refused
        case .schemaChange(let change):
            do {
                try await applier.applySchemaChange(change)
                return []
            } catch let refusal as TableRefusal {
                return [(change.table, refusal.error)]
            }
        case .stopTable(let table, let error):
            return [(table, error)]
        }
    }
}
