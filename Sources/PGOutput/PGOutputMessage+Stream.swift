/// The `'S'` Stream Start message: a block of an uncommitted transaction's changes follows
/// (protocol 2, `streaming 'on'`).
///
/// See [Logical Replication Message Formats](https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html).
public struct StreamStart: Sendable, Equatable {
    /// The id of the top-level transaction.
    public var xid: UInt32
    /// True for the transaction's first block.
    public var firstSegment: Bool
}

extension StreamStart {
    init(from reader: inout ByteReader) throws(DecodeFailure) {
        try self.init(xid: reader.readUInt32(), firstSegment: reader.readUInt8() == 1)
    }
}

/// The `'c'` Stream Commit message: a streamed transaction committed.
///
/// See [Logical Replication Message Formats](https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html).
public struct StreamCommit: Sendable, Equatable {
    /// The id of the top-level transaction.
    public var xid: UInt32
    /// The commit, with the fields of a Commit message in the same order: what a transaction sent
    /// whole would end with.
    public var commit: Commit
}

extension StreamCommit {
    init(from reader: inout ByteReader) throws(DecodeFailure) {
        try self.init(xid: reader.readUInt32(), commit: Commit(from: &reader))
    }
}

/// The `'A'` Stream Abort message: a streamed transaction (`subxid == xid`) or one of its
/// subtransactions aborted; the changes streamed for it are void.
///
/// See [Logical Replication Message Formats](https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html).
public struct StreamAbort: Sendable, Equatable {
    /// The id of the top-level transaction.
    public var xid: UInt32
    /// The id of the aborted subtransaction; equal to `xid` when the whole transaction aborted.
    public var subxid: UInt32
}

extension StreamAbort {
    init(from reader: inout ByteReader) throws(DecodeFailure) {
        try self.init(xid: reader.readUInt32(), subxid: reader.readUInt32())
    }
}
