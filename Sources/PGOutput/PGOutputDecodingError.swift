/// A message from the replication stream that could not be decoded.
///
/// It carries the whole raw message so that a failure seen in production can be logged,
/// copied and replayed as a test fixture. Decoding never traps on malformed input; it throws
/// this error instead.
///
/// See [Logical Replication Message Formats](https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html)
/// and [Streaming Replication Protocol](https://www.postgresql.org/docs/15/protocol-replication.html).
public struct PGOutputDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The first byte of the message (its type), or 0 when the message was empty.
    public var messageType: UInt8
    /// The whole raw message as it was handed to the decoder.
    public var bytes: [UInt8]
    /// What was wrong and where, e.g. `truncated: needed 4 bytes at offset 9, 2 left`.
    public var reason: String

    public init(messageType: UInt8, bytes: [UInt8], reason: String) {
        self.messageType = messageType
        self.bytes = bytes
        self.reason = reason
    }

    init(_ failure: DecodeFailure, bytes: ArraySlice<UInt8>) {
        self.init(messageType: bytes.first ?? 0, bytes: Array(bytes), reason: failure.reason)
    }

    /// How many bytes `description` dumps before eliding the rest.
    static let dumpLimit = 256

    public var description: String {
        let type = bytes.isEmpty ? "(empty)" : describeByte(messageType)
        var dump = ""
        dump.reserveCapacity(min(bytes.count, Self.dumpLimit) * 3 + 24)
        for (i, byte) in bytes.prefix(Self.dumpLimit).enumerated() {
            if i > 0 { dump += " " }
            dump += hexByte(byte)
        }
        if bytes.count > Self.dumpLimit {
            dump += " … (\(bytes.count) bytes)"
        }
        return "PGOutputDecodingError(message type \(type): \(reason); \(bytes.count) bytes: [\(dump)])"
    }
}
