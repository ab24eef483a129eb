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

    static func decode(from reader: inout ByteReader) throws(DecodeFailure) -> Begin {
        let finalLSN = try reader.readLSN()
        let commitTime = try reader.readTimestamp()
        let xid = try reader.readUInt32()
        return Begin(finalLSN: finalLSN, commitTime: commitTime, xid: xid)
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

    static func decode(from reader: inout ByteReader) throws(DecodeFailure) -> Commit {
        let flags = try reader.readUInt8()
        let commitLSN = try reader.readLSN()
        let endLSN = try reader.readLSN()
        let commitTime = try reader.readTimestamp()
        return Commit(flags: flags, commitLSN: commitLSN, endLSN: endLSN, commitTime: commitTime)
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

    public init(commitLSN: LSN, name: String) {
        self.commitLSN = commitLSN
        self.name = name
    }

    static func decode(from reader: inout ByteReader) throws(DecodeFailure) -> Origin {
        let commitLSN = try reader.readLSN()
        let name = try reader.readCString()
        return Origin(commitLSN: commitLSN, name: name)
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

    public init(transactional: Bool, lsn: LSN, prefix: String, content: ArraySlice<UInt8>) {
        self.transactional = transactional
        self.lsn = lsn
        self.prefix = prefix
        self.content = content
    }

    static func decode(from reader: inout ByteReader) throws(DecodeFailure) -> LogicalMessage {
        let flags = try reader.readUInt8()
        let lsn = try reader.readLSN()
        let prefix = try reader.readCString()
        let content = try reader.readLengthPrefixedBytes()
        return LogicalMessage(transactional: flags & 1 != 0, lsn: lsn, prefix: prefix, content: content)
    }
}
