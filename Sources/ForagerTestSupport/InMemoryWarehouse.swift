public import ForagerCore
import Logging
public import PGOutput
internal import Synchronization

/// A warehouse in memory for tests of the replication core: applies change sets to rows by key
/// inside a transaction, keeps the checkpoint and the tables' states with them, and can be told to
/// fail a commit, as a crash would, or to refuse a table's rows. What it holds is what a real
/// warehouse would after the same calls.
public final class InMemoryWarehouse: WarehouseSink, ChangeStepApplier {
    /// A table's rows: the key's text values to the row's text values (nil for SQL NULL).
    public typealias Rows = [[String?]: [String?]]

    private struct Contents: Sendable {
        var rows: [TableName: Rows] = [:]
        var states: [TableName: TableState] = [:]
        var checkpoint = LSN.zero
    }

    private struct State: Sendable {
        var committed = Contents()
        var open: Contents?
        var commits: [LSN] = []
        var failCommitAt: LSN?
        var refused: Set<TableName> = []
        var refusals = 0
    }

    private let state = Mutex(State())
    /// How long each commit takes (real time), as a warehouse's flush to disk would.
    private let commitTime: Duration

    /// - Parameter commitTime: how long each commit takes.
    public init(commitTime: Duration = .zero) {
        self.commitTime = commitTime
    }

    /// Makes the first commit whose checkpoint reaches `checkpoint` fail (once), as a warehouse
    /// that refused it or a crash between the apply and the commit.
    public func failCommit(reaching checkpoint: LSN) {
        state.withLock { $0.failCommitAt = checkpoint }
    }

    /// Makes the warehouse refuse every row change of `table` from now on, as a constraint added
    /// by hand would: the table stops.
    public func refuseRows(of table: TableName) {
        state.withLock { _ = $0.refused.insert(table) }
    }

    /// How many times the warehouse refused a table's rows.
    public var refusals: Int { state.withLock { $0.refusals } }
    /// The committed state of every table recorded.
    public var tableStates: [TableName: TableState] { state.withLock { $0.committed.states } }
    /// The committed rows of the table fed by `source`.
    public func rows(_ source: TableName) -> Rows { state.withLock { $0.committed.rows[source] ?? [:] } }
    /// The committed checkpoint.
    public var checkpoint: LSN { state.withLock { $0.committed.checkpoint } }
    /// Every checkpoint committed, in order.
    public var commits: [LSN] { state.withLock { $0.commits } }

    public func apply(_ changes: ChangeSet, stopped: inout StoppedTables) async throws {
        try await changes.walk(into: self, stopped: &stopped, logger: Logger(label: "in-memory warehouse"))
    }

    public func applyTruncate(_ tables: [MappedTable]) async throws {
        inOpenTransaction { open in
            for table in tables { open.rows[table.source] = [:] }
        }
    }

    public func applyRows(_ changes: TableChanges) async throws {
        let table = changes.table.source
        if state.withLock({ state in
            guard state.refused.contains(table) else { return false }
            state.refusals += 1
            return true
        }) {
            throw TableRefusal(ForagerError(.warehouse, "the in-memory warehouse was told to refuse the rows of \(table)"))
        }
        try inOpenTransaction { open in
            var rows = open.rows[table] ?? [:]
            for state in changes.orderedStates { try Self.apply(state, to: &rows, table: table) }
            open.rows[table] = rows
        }
    }

    public func applySchemaChange(_ change: SchemaChange) async throws {}

    public func record(_ table: TableName, _ tableState: TableState) async throws {
        inOpenTransaction { $0.states[table] = tableState }
    }

    private func inOpenTransaction<E: Error>(_ body: (inout Contents) throws(E) -> Void) throws(E) {
        try state.withLock { (state: inout State) throws(E) in
            var open = state.open ?? state.committed
            try body(&open)
            state.open = open
        }
    }

    public func commit(checkpoint: LSN) async throws {
        if commitTime > .zero { try await Task.sleep(for: commitTime) }
        try state.withLock { state in
            if let failing = state.failCommitAt, checkpoint >= failing {
                state.failCommitAt = nil
                state.open = nil
                throw ForagerError(.warehouse, "the in-memory warehouse was told to fail the commit of \(checkpoint)")
            }
            var open = state.open ?? state.committed
            open.checkpoint = max(open.checkpoint, checkpoint)
            state.committed = open
            state.open = nil
            state.commits.append(checkpoint)
        }
    }

    public func rollback() async throws {
        state.withLock { $0.open = nil }
    }

    private static func apply(_ state: RowState, to rows: inout Rows, table: TableName) throws {
        let key = state.key.map(text)
        let previous = rows.removeValue(forKey: state.movedFrom.map { $0.map(text) } ?? key) ?? rows.removeValue(forKey: key)
        guard let row = state.row else { return }
        var values: [String?] = []
        for (index, column) in row.columns.enumerated() {
            guard case .unchangedToast = column else {
                values.append(text(column))
                continue
            }
            guard let previous, index < previous.count else {
                throw ForagerError(.warehouse, "\(table) has no row with key \(key) to take an unchanged value from")
            }
            values.append(previous[index])
        }
        rows[key] = values
    }

    private static func text(_ column: TupleColumn) -> String? {
        switch column {
        case .null, .unchangedToast: nil
        case .text(let bytes), .binary(let bytes): String(decoding: bytes, as: UTF8.self)
        }
    }
}
