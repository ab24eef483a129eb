/// One message of the `pgoutput` logical decoding plugin, protocol version 1
/// (binary tuple columns, `'b'`, are accepted as well).
///
/// Streaming (`'S'`, `'E'`, `'c'`, `'A'`) and two-phase messages of later protocol versions are
/// rejected as unknown message types.
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

    /// Decodes one pgoutput message (the `data` of an `XLogData`). Throws unless every byte is consumed.
    ///
    /// Byte payloads in the result (`TupleColumn.text`, `.binary`, `LogicalMessage.content`) are
    /// slices of `bytes`, not copies.
    public static func decode(_ bytes: ArraySlice<UInt8>) throws(PGOutputDecodingError) -> PGOutputMessage {
        var reader = ByteReader(bytes)
        do throws(DecodeFailure) {
            guard !bytes.isEmpty else { throw DecodeFailure.empty }
            let message = try decode(from: &reader)
            guard reader.remaining == 0 else { throw DecodeFailure.trailingBytes(reader.remaining) }
            return message
        } catch {
            throw PGOutputDecodingError(error, bytes: bytes)
        }
    }

    static func decode(from reader: inout ByteReader) throws(DecodeFailure) -> PGOutputMessage {
        let type = try reader.readUInt8()
        switch type {
        case UInt8(ascii: "B"): return .begin(try Begin.decode(from: &reader))
        case UInt8(ascii: "C"): return .commit(try Commit.decode(from: &reader))
        case UInt8(ascii: "O"): return .origin(try Origin.decode(from: &reader))
        case UInt8(ascii: "R"): return .relation(try Relation.decode(from: &reader))
        case UInt8(ascii: "Y"): return .type(try TypeMessage.decode(from: &reader))
        case UInt8(ascii: "I"): return .insert(try Insert.decode(from: &reader))
        case UInt8(ascii: "U"): return .update(try Update.decode(from: &reader))
        case UInt8(ascii: "D"): return .delete(try Delete.decode(from: &reader))
        case UInt8(ascii: "T"): return .truncate(try Truncate.decode(from: &reader))
        case UInt8(ascii: "M"): return .message(try LogicalMessage.decode(from: &reader))
        default: throw .unknownMessageType(type)
        }
    }
}
