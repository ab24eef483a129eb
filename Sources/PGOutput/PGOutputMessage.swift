/// One message of the `pgoutput` logical decoding plugin, protocol versions 1 and 2 (binary tuple
/// columns, `'b'`, are accepted as well).
///
/// Protocol 2 with `streaming 'on'` sends a large transaction in blocks before it commits: Stream
/// Start, its changes (each with the id of its (sub)transaction), Stream Stop; then Stream Commit or
/// Stream Abort. Two-phase messages of later protocol versions are rejected as unknown message types.
///
/// Messages are decoded, not built: only those other modules make (Begin and Commit for a streamed
/// transaction's replay, Relation for a scripted stream) have a public init; tests build the others
/// through `@testable import PGOutput`.
///
/// See [Logical Replication Message Formats](https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html).
public enum PGOutputMessage: Sendable, Equatable {
    /// `'B'`: a transaction starts.
    case begin(Begin)
    /// `'C'`: the transaction ends.
    case commit(Commit)
    /// `'O'`: the transaction came from another origin.
    case origin(Origin)
    /// `'R'`: describes a relation; sent before the first change of that relation in a session
    /// and again whenever its definition changes.
    case relation(Relation)
    /// `'Y'`: describes a non-built-in data type used by a following relation.
    case type(TypeMessage)
    /// `'I'`: a row was inserted.
    case insert(Insert)
    /// `'U'`: a row was updated.
    case update(Update)
    /// `'D'`: a row was deleted.
    case delete(Delete)
    /// `'T'`: one or more tables were truncated.
    case truncate(Truncate)
    /// `'M'`: a logical decoding message (`pg_logical_emit_message`).
    case message(LogicalMessage)
    /// `'S'`: a block of an uncommitted transaction's changes follows.
    case streamStart(StreamStart)
    /// `'E'`: the block of streamed changes ends.
    case streamStop
    /// `'c'`: a streamed transaction committed.
    case streamCommit(StreamCommit)
    /// `'A'`: a streamed transaction, or one of its subtransactions, aborted.
    case streamAbort(StreamAbort)
    /// A message inside a stream block (relation, type, row change, truncate or logical message),
    /// with the id of the transaction or subtransaction it belongs to.
    indirect case streamed(xid: UInt32, PGOutputMessage)

    /// Decodes one pgoutput message (the `data` of an `XLogData`). Throws unless every byte is consumed.
    /// `inStreamBlock` is true between Stream Start and Stream Stop, where changes carry a
    /// transaction id and decode as ``streamed(xid:_:)``.
    ///
    /// Byte payloads in the result (`TupleColumn.text`, `.binary`, `LogicalMessage.content`) are
    /// slices of `bytes`, not copies.
    public static func decode(_ bytes: ArraySlice<UInt8>, inStreamBlock: Bool = false) throws(PGOutputDecodingError) -> PGOutputMessage {
        var reader = ByteReader(bytes)
        do throws(DecodeFailure) {
            guard !bytes.isEmpty else { throw DecodeFailure.empty }
            let message = try decode(from: &reader, inStreamBlock: inStreamBlock)
            guard reader.remaining == 0 else { throw DecodeFailure.trailingBytes(reader.remaining) }
            return message
        } catch {
            throw PGOutputDecodingError(error, bytes: bytes)
        }
    }

    /// Message types that carry a transaction id inside a stream block.
    private static let streamedTypes: Set<UInt8> = Set("RYIUDTM".utf8)

    static func decode(from reader: inout ByteReader, inStreamBlock: Bool) throws(DecodeFailure) -> PGOutputMessage {
        let type = try reader.readUInt8()
        if inStreamBlock, streamedTypes.contains(type) {
            let xid = try reader.readUInt32()
            return .streamed(xid: xid, try decode(type, from: &reader))
        }
        return try decode(type, from: &reader)
    }

    private static func decode(_ type: UInt8, from reader: inout ByteReader) throws(DecodeFailure) -> PGOutputMessage {
        switch type {
        case UInt8(ascii: "B"): return .begin(try Begin(from: &reader))
        case UInt8(ascii: "C"): return .commit(try Commit(from: &reader))
        case UInt8(ascii: "O"): return .origin(try Origin(from: &reader))
        case UInt8(ascii: "R"): return .relation(try Relation(from: &reader))
        case UInt8(ascii: "Y"): return .type(try TypeMessage(from: &reader))
        case UInt8(ascii: "I"): return .insert(try Insert(from: &reader))
        case UInt8(ascii: "U"): return .update(try Update(from: &reader))
        case UInt8(ascii: "D"): return .delete(try Delete(from: &reader))
        case UInt8(ascii: "T"): return .truncate(try Truncate(from: &reader))
        case UInt8(ascii: "M"): return .message(try LogicalMessage(from: &reader))
        case UInt8(ascii: "S"): return .streamStart(try StreamStart(from: &reader))
        case UInt8(ascii: "E"): return .streamStop
        case UInt8(ascii: "c"): return .streamCommit(try StreamCommit(from: &reader))
        case UInt8(ascii: "A"): return .streamAbort(try StreamAbort(from: &reader))
        default: throw .unknownMessageType(type)
        }
    }
}
