/// The column values of one row in an Insert, Update or Delete message.
///
/// See [Logical Replication Message Formats](https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html)
/// (TupleData).
public struct TupleData: Sendable, Equatable {
    /// One value per column of the relation, in the order of `Relation.columns`.
    public var columns: [TupleColumn]

    public init(columns: [TupleColumn]) {
        self.columns = columns
    }

    init(from reader: inout ByteReader) throws(DecodeFailure) {
        let countOffset = reader.offset
        let count = Int(try reader.readInt16())
        guard count >= 0 else { throw .negativeCount(what: "column", value: count, offset: countOffset) }
        var columns: [TupleColumn] = []
        // Each column takes at least its kind byte, so the remaining bytes bound the allocation.
        columns.reserveCapacity(min(count, reader.remaining))
        for _ in 0..<count {
            columns.append(try TupleColumn.decode(from: &reader))
        }
        self.columns = columns
    }
}

/// One column value inside `TupleData`.
///
/// The `text` and `binary` payloads are slices of the decoded input (no copy); their indices do
/// not start at 0, and they keep the whole input array alive while held.
///
/// See [Logical Replication Message Formats](https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html)
/// (TupleData).
public enum TupleColumn: Sendable, Equatable {
    /// `'n'`: SQL NULL.
    case null
    /// `'u'`: an unchanged TOASTed value; the actual value is not sent.
    case unchangedToast
    /// `'t'`: the value in the type's text output format.
    case text(ArraySlice<UInt8>)
    /// `'b'`: the value in the type's binary send format (when the `binary` option is on).
    case binary(ArraySlice<UInt8>)

    static func decode(from reader: inout ByteReader) throws(DecodeFailure) -> TupleColumn {
        let kindOffset = reader.offset
        let kind = try reader.readUInt8()
        switch kind {
        case UInt8(ascii: "n"): return .null
        case UInt8(ascii: "u"): return .unchangedToast
        case UInt8(ascii: "t"): return .text(try reader.readLengthPrefixedBytes())
        case UInt8(ascii: "b"): return .binary(try reader.readLengthPrefixedBytes())
        default: throw .unexpectedByte(what: "tuple column kind", value: kind, offset: kindOffset)
        }
    }
}
