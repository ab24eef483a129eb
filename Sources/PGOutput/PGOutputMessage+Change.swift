/// The `'I'` Insert message: a new row.
///
/// See [Logical Replication Message Formats](https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html).
public struct Insert: Sendable, Equatable {
    /// The OID of the relation, as announced by an earlier `Relation` message.
    public var relationID: UInt32
    /// The inserted row.
    public var newTuple: TupleData
}

extension Insert {
    init(from reader: inout ByteReader) throws(DecodeFailure) {
        relationID = try reader.readUInt32()
        try reader.expectTupleMarker(UInt8(ascii: "N"))
        newTuple = try TupleData(from: &reader)
    }
}

/// The `'U'` Update message: a changed row.
///
/// At most one of `oldKey` and `oldTuple` is set: `oldKey` (`'K'`) when the replica identity
/// key changed, `oldTuple` (`'O'`) for `REPLICA IDENTITY FULL`, neither otherwise.
///
/// See [Logical Replication Message Formats](https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html).
public struct Update: Sendable, Equatable {
    /// The OID of the relation, as announced by an earlier `Relation` message.
    public var relationID: UInt32
    /// The old values of the replica identity key columns (`'K'`), other columns null.
    public var oldKey: TupleData?
    /// The whole old row (`'O'`).
    public var oldTuple: TupleData?
    /// The new row (`'N'`); unchanged TOASTed values are `.unchangedToast`.
    public var newTuple: TupleData
}

extension Update {
    init(from reader: inout ByteReader) throws(DecodeFailure) {
        relationID = try reader.readUInt32()
        (oldKey, oldTuple) = try reader.readOldRow(required: false)
        try reader.expectTupleMarker(UInt8(ascii: "N"))
        newTuple = try TupleData(from: &reader)
    }
}

/// The `'D'` Delete message: a removed row.
///
/// Exactly one of `oldKey` (`'K'`, replica identity default or index) and `oldTuple`
/// (`'O'`, replica identity full) is set in a decoded message.
///
/// See [Logical Replication Message Formats](https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html).
public struct Delete: Sendable, Equatable {
    /// The OID of the relation, as announced by an earlier `Relation` message.
    public var relationID: UInt32
    /// The values of the replica identity key columns (`'K'`), other columns null.
    public var oldKey: TupleData?
    /// The whole old row (`'O'`).
    public var oldTuple: TupleData?
}

extension Delete {
    init(from reader: inout ByteReader) throws(DecodeFailure) {
        relationID = try reader.readUInt32()
        (oldKey, oldTuple) = try reader.readOldRow(required: true)
    }
}

/// The `'T'` Truncate message: one or more relations were truncated in one statement.
///
/// See [Logical Replication Message Formats](https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html).
public struct Truncate: Sendable, Equatable {
    /// The OIDs of the truncated relations.
    public var relationIDs: [UInt32]
    /// `TRUNCATE ... CASCADE` (option bit 1).
    public var cascade: Bool
    /// `TRUNCATE ... RESTART IDENTITY` (option bit 2).
    public var restartIdentity: Bool
}

extension Truncate {
    init(from reader: inout ByteReader) throws(DecodeFailure) {
        let countOffset = reader.offset
        let count = Int(try reader.readInt32())
        guard count >= 0 else { throw .negativeCount(what: "relation", value: count, offset: countOffset) }
        let options = try reader.readUInt8()
        // Check the whole array is present before allocating for it.
        try reader.require(count * 4)
        var relationIDs: [UInt32] = []
        relationIDs.reserveCapacity(count)
        for _ in 0..<count {
            relationIDs.append(try reader.readUInt32())
        }
        self.relationIDs = relationIDs
        cascade = options & 1 != 0
        restartIdentity = options & 2 != 0
    }
}

extension ByteReader {
    /// Reads the Byte1 that introduces a TupleData (`'N'`, `'K'` or `'O'`) and checks it.
    mutating func expectTupleMarker(_ expected: UInt8) throws(DecodeFailure) {
        let markerOffset = offset
        let marker = try readUInt8()
        guard marker == expected else {
            throw .unexpectedByte(what: "tuple marker", value: marker, offset: markerOffset)
        }
    }

    /// The old row of an Update or Delete: `'K'` and the replica identity key columns, or `'O'` and
    /// the whole old row. Unless `required`, any other byte is left unread and both are nil (an
    /// Update without an old row, whose `'N'` new row follows at once).
    mutating func readOldRow(required: Bool) throws(DecodeFailure) -> (key: TupleData?, tuple: TupleData?) {
        let marker = try peekUInt8()
        guard marker == UInt8(ascii: "K") || marker == UInt8(ascii: "O") else {
            if required { throw .unexpectedByte(what: "tuple marker", value: marker, offset: offset) }
            return (nil, nil)
        }
        _ = try readUInt8()
        let old = try TupleData(from: &self)
        return marker == UInt8(ascii: "K") ? (old, nil) : (nil, old)
    }
}
