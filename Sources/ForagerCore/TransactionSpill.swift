public import PGOutput

/// Where the changes of transactions that the source streams before they commit (protocol 2,
/// `streaming 'on'`) wait for their commit or abort. The replication loop hands it every streamed
/// message and replays a committed transaction from it as a whole one; where the changes are kept
/// (files on disk, in `PostgresSource`) is the implementation's business.
public protocol TransactionSpill: Sendable {
    /// The transaction a committed one is replayed from.
    associatedtype Replay: SpilledTransaction

    /// Bytes kept for transactions not yet committed or aborted.
    var bytes: Int { get }
    /// How many transactions are open.
    var transactions: Int { get }

    /// A block of `start.xid`'s changes begins.
    mutating func start(_ start: StreamStart) throws(ForagerError)
    /// The current block ends.
    mutating func stop() throws(ForagerError)
    /// Keeps one streamed message (`message` holds its transaction id) of subtransaction `subxid`
    /// at `lsn`, in the current block.
    mutating func append(subxid: UInt32, lsn: LSN, message: ArraySlice<UInt8>) throws(ForagerError)
    /// Drops an aborted transaction, or the part of one that an aborted subtransaction wrote.
    mutating func abort(_ abort: StreamAbort) throws(ForagerError)
    /// Hands over a committed transaction to replay; the spill forgets it.
    mutating func commit(_ xid: UInt32) throws(ForagerError) -> Replay
    /// Drops everything (on shutdown: the source streams unfinished transactions again).
    mutating func closeAll()
}

/// The kept messages of one committed transaction, in the order they were streamed.
public protocol SpilledTransaction {
    /// The next message and its position, or nil at the end (when what was kept is removed).
    mutating func next() throws(ForagerError) -> (lsn: LSN, message: ArraySlice<UInt8>)?
    /// Drops what is left without replaying it.
    func discard()
}
