import ForagerCore
import Synchronization

/// The pieces of a parallel copy still to take, and what the finished ones stored per table.
final class CopyWork: Sendable {
    let tables: [MappedTable]
    private struct State {
        var queue: [CopyPiece]
        var next = 0
        var remaining: [TableName: Int] = [:]
        var pieces: [TableName: Int] = [:]
        var rows: [TableName: Int] = [:]
        var stopped = false
    }
    private let state: Mutex<State>

    init(tables: [MappedTable], pieces: [CopyPiece]) {
        self.tables = tables
        var state = State(queue: pieces)
        for piece in pieces { state.remaining[piece.table, default: 0] += 1 }
        state.pieces = state.remaining
        self.state = Mutex(state)
    }

    /// True when a connection was asked to stop.
    var stopped: Bool { state.withLock { $0.stopped } }

    func stop() { state.withLock { $0.stopped = true } }

    /// The next piece and its table; nil when none is left or the copy stops.
    func next() -> (CopyPiece, MappedTable)? {
        state.withLock { state in
            while !state.stopped, state.next < state.queue.count {
                let piece = state.queue[state.next]
                state.next += 1
                if let table = tables.first(where: { $0.source == piece.table }) { return (piece, table) }
            }
            return nil
        }
    }

    /// Counts a finished piece; when it was its table's last, the table's rows and pieces.
    func finished(_ piece: CopyPiece, rows: Int) -> (rows: Int, pieces: Int)? {
        state.withLock { state in
            state.rows[piece.table, default: 0] += rows
            state.remaining[piece.table, default: 1] -= 1
            guard state.remaining[piece.table] == 0 else { return nil }
            return (state.rows[piece.table] ?? 0, state.pieces[piece.table] ?? 1)
        }
    }
}
