/// One CopyData payload of a logical replication stream, server to client.
///
/// See [Streaming Replication Protocol](https://www.postgresql.org/docs/15/protocol-replication.html)
/// (XLogData and Primary keepalive message, under `START_REPLICATION`).
public enum ReplicationMessage: Sendable, Equatable {
    /// `'w'`: WAL data; for a logical slot with pgoutput its `data` is one pgoutput message.
    case xLogData(XLogData)
    /// `'k'`: the server's keepalive, possibly asking for a standby status update.
    case keepalive(PrimaryKeepalive)

    /// Decodes one whole CopyData payload as returned by `PQgetCopyData`.
    ///
    /// `XLogData.data` is a slice of `bytes`, not a copy.
    public static func decode(_ bytes: [UInt8]) throws(PGOutputDecodingError) -> ReplicationMessage {
        var reader = ByteReader(bytes[...])
        do throws(DecodeFailure) {
            guard !bytes.isEmpty else { throw DecodeFailure.empty }
            let type = try reader.readUInt8()
            let message: ReplicationMessage
            switch type {
            case UInt8(ascii: "w"):
                message = .xLogData(try XLogData(from: &reader))
            case UInt8(ascii: "k"):
                message = .keepalive(try PrimaryKeepalive(from: &reader))
            default:
                throw DecodeFailure.unknownMessageType(type)
            }
            guard reader.remaining == 0 else { throw DecodeFailure.trailingBytes(reader.remaining) }
            return message
        } catch {
            throw PGOutputDecodingError(error, bytes: bytes[...])
        }
    }
}

/// The `'w'` XLogData message: a chunk of WAL starting at `walStart`.
///
/// See [Streaming Replication Protocol](https://www.postgresql.org/docs/15/protocol-replication.html).
public struct XLogData: Sendable, Equatable {
    /// The starting point of the WAL data in this message.
    public var walStart: LSN
    /// The current end of WAL on the server.
    public var walEnd: LSN
    /// The server's system clock at the time of transmission.
    public var serverTime: PostgresTimestamp
    /// The WAL data; a slice of the decoded CopyData payload (no copy), so its indices do not start at 0.
    public var data: ArraySlice<UInt8>

    public init(walStart: LSN, walEnd: LSN, serverTime: PostgresTimestamp, data: ArraySlice<UInt8>) {
        self.walStart = walStart
        self.walEnd = walEnd
        self.serverTime = serverTime
        self.data = data
    }

    /// Decodes the fields after the `'w'` byte; everything left is `data`.
    init(from reader: inout ByteReader) throws(DecodeFailure) {
        try self.init(walStart: reader.readLSN(), walEnd: reader.readLSN(), serverTime: reader.readTimestamp(), data: reader.readRest())
    }
}

/// The `'k'` Primary keepalive message.
///
/// See [Streaming Replication Protocol](https://www.postgresql.org/docs/15/protocol-replication.html).
public struct PrimaryKeepalive: Sendable, Equatable {
    /// The current end of WAL on the server.
    public var walEnd: LSN
    /// The server's system clock at the time of transmission.
    public var serverTime: PostgresTimestamp
    /// True when the server wants a reply (a `StandbyStatusUpdate`) soon, to avoid a timeout disconnect.
    public var replyRequested: Bool

    public init(walEnd: LSN, serverTime: PostgresTimestamp, replyRequested: Bool) {
        self.walEnd = walEnd
        self.serverTime = serverTime
        self.replyRequested = replyRequested
    }

    /// Decodes the fields after the `'k'` byte.
    init(from reader: inout ByteReader) throws(DecodeFailure) {
        try self.init(walEnd: reader.readLSN(), serverTime: reader.readTimestamp(), replyRequested: reader.readUInt8() != 0)
    }
}

/// The client-to-server `'r'` Standby status update, which reports progress and lets the
/// server release WAL up to `flushed`.
///
/// See [Streaming Replication Protocol](https://www.postgresql.org/docs/15/protocol-replication.html).
public struct StandbyStatusUpdate: Sendable, Equatable {
    /// The location of the last WAL byte + 1 received and written.
    public var written: LSN
    /// The location of the last WAL byte + 1 flushed (made durable); the slot's confirmed position.
    public var flushed: LSN
    /// The location of the last WAL byte + 1 applied.
    public var applied: LSN
    /// The client's system clock at the time of transmission.
    public var clientTime: PostgresTimestamp
    /// Asks the server to reply to this message immediately.
    public var replyRequested: Bool

    /// The size of `encoded()`: `'r'`, three Int64 positions, an Int64 timestamp and a Byte1.
    public static let encodedSize = 34

    /// The CopyData payload to send with `PQputCopyData` (34 bytes).
    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.encodedSize)
        bytes.append(UInt8(ascii: "r"))
        appendBigEndian(written.value, to: &bytes)
        appendBigEndian(flushed.value, to: &bytes)
        appendBigEndian(applied.value, to: &bytes)
        appendBigEndian(UInt64(bitPattern: clientTime.microseconds), to: &bytes)
        bytes.append(replyRequested ? 1 : 0)
        return bytes
    }
}

private func appendBigEndian(_ value: UInt64, to bytes: inout [UInt8]) {
    var shift = 56
    while shift >= 0 {
        bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
        shift -= 8
    }
}

extension StandbyStatusUpdate {
    /// The update a client sends once everything through `lsn` is durable on its side: `lsn` as
    /// written, flushed and applied, at `clientTime`.
    public init(confirming lsn: LSN, at clientTime: PostgresTimestamp, replyRequested: Bool) {
        self.init(written: lsn, flushed: lsn, applied: lsn, clientTime: clientTime, replyRequested: replyRequested)
    }
}
