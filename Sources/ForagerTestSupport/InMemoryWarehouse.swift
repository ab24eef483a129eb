public import ForagerCore
public import PGOutput
internal import Synchronization

/// A warehouse in memory for tests of the replication core: applies change sets to rows by key
/// inside a transaction, keeps the checkpoint with them, and can be told to fail a commit, as a
/// crash or a refusal would. What it holds is what a real warehouse would after the same calls.
public final class InMemoryWarehouse: WarehouseSink {
    /// A table's rows: the key's text values to the row's text values (nil for SQL NULL).
    public typealias Rows = [[String?]: [String?]]

    private struct Contents: Sendable {
        var rows: [TableName: Rows] = [:]
        var checkpoint = LSN.zero
    }

    private struct State: Sendable {
        var committed = Contents()
        var open: Contents?
        var commits: [LSN] = []
        var failCommitAt: LSN?
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

    /// The committed rows of the table fed by `source`.
    public func rows(_ source: TableName) -> Rows { state.withLock { $0.committed.rows[source] ?? [:] } }
    /// The committed checkpoint.
    public var checkpoint: LSN { state.withLock { $0.committed.checkpoint } }
    /// Every checkpoint committed, in order.
    public var commits: [LSN] { state.withLock { $0.commits } }

    public func apply(_ changes: ChangeSet) async throws {
        try state.withLock { state in
            var open = state.open ?? state.committed
            for step in changes.allSteps { try Self.apply(step, to: &open) }
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

    private static func apply(_ step: ChangeStep, to contents: inout Contents) throws {
        switch step {
        case .rows(let tables):
            for table in tables {
                var rows = contents.rows[table.table.source] ?? [:]
                for state in table.orderedStates { try apply(state, to: &rows, table: table.table.source) }
                contents.rows[table.table.source] = rows
            }
        case .truncate(let tables):
            for table in tables { contents.rows[table.source] = [:] }
        case .schemaChange, .stopTable:
            break
        }
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
