/// The `'B'` Begin message: a transaction starts.
///
/// See [Logical Replication Message Formats](https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html).
public struct Begin: Sendable, Equatable {
    /// The final LSN of the transaction (the LSN of its commit record).
    public var finalLSN: LSN
    /// The commit timestamp of the transaction.
    public var commitTime: PostgresTimestamp
    /// The transaction id.
    public var xid: UInt32

    public init(finalLSN: LSN, commitTime: PostgresTimestamp, xid: UInt32) {
        self.finalLSN = finalLSN
        self.commitTime = commitTime
        self.xid = xid
    }

    init(from reader: inout ByteReader) throws(DecodeFailure) {
        try self.init(finalLSN: reader.readLSN(), commitTime: reader.readTimestamp(), xid: reader.readUInt32())
    }
}

/// The `'C'` Commit message: the transaction ends.
///
/// See [Logical Replication Message Formats](https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html).
public struct Commit: Sendable, Equatable {
    /// Flags; currently unused by PostgreSQL (0), kept as sent.
    public var flags: UInt8
    /// The LSN of the commit record.
    public var commitLSN: LSN
    /// The end LSN of the transaction; the position to confirm once the transaction is durable.
    public var endLSN: LSN
    /// The commit timestamp of the transaction.
    public var commitTime: PostgresTimestamp

    public init(flags: UInt8, commitLSN: LSN, endLSN: LSN, commitTime: PostgresTimestamp) {
        self.flags = flags
        self.commitLSN = commitLSN
        self.endLSN = endLSN
        self.commitTime = commitTime
    }

    init(from reader: inout ByteReader) throws(DecodeFailure) {
        try self.init(flags: reader.readUInt8(), commitLSN: reader.readLSN(), endLSN: reader.readLSN(), commitTime: reader.readTimestamp())
    }
}

/// The `'O'` Origin message: the current transaction was replicated from another origin.
///
/// See [Logical Replication Message Formats](https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html).
public struct Origin: Sendable, Equatable {
    /// The LSN of the commit on the origin server.
    public var commitLSN: LSN
    /// The name of the origin.
    public var name: String
}

extension Origin {
    init(from reader: inout ByteReader) throws(DecodeFailure) {
        try self.init(commitLSN: reader.readLSN(), name: reader.readCString())
    }
}

/// The `'M'` Message message: a logical decoding message emitted with `pg_logical_emit_message`
/// (sent only when the `messages` option of pgoutput is on).
///
/// See [Logical Replication Message Formats](https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html).
public struct LogicalMessage: Sendable, Equatable {
    /// True when the message is part of a transaction (flags bit 1).
    public var transactional: Bool
    /// The LSN of the logical decoding message.
    public var lsn: LSN
    /// The prefix given by the emitter.
    public var prefix: String
    /// The content; a slice of the decoded input (no copy).
    public var content: ArraySlice<UInt8>
}

extension LogicalMessage {
    init(from reader: inout ByteReader) throws(DecodeFailure) {
        try self.init(
            transactional: reader.readUInt8() & 1 != 0, lsn: reader.readLSN(), prefix: reader.readCString(),
            content: reader.readLengthPrefixedBytes())
    }
}
