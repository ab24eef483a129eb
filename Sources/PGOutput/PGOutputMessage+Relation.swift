/// A relation's `REPLICA IDENTITY` setting (`pg_class.relreplident`), which decides what an
/// Update or Delete sends about the old row.
///
/// See [Logical Replication Message Formats](https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html).
public enum ReplicaIdentity: UInt8, Sendable, Hashable {
    /// `'d'`: the primary key columns.
    case `default` = 0x64
    /// `'n'`: nothing; updates and deletes carry no old row.
    case nothing = 0x6E
    /// `'f'`: all columns.
    case full = 0x66
    /// `'i'`: the columns of a chosen unique index.
    case index = 0x69
}

/// The `'R'` Relation message: the schema of a table whose changes follow.
///
/// See [Logical Replication Message Formats](https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html).
public struct Relation: Sendable, Equatable {
    /// Also reachable as `Relation.ReplicaIdentity`.
    public typealias ReplicaIdentity = PGOutput.ReplicaIdentity

    /// The relation's OID, which later Insert, Update, Delete and Truncate messages refer to.
    public var id: UInt32
    /// The schema name; the empty string stands for `pg_catalog`.
    public var namespace: String
    /// The relation name.
    public var name: String
    /// The relation's replica identity setting.
    public var replicaIdentity: ReplicaIdentity
    /// The published columns in attribute order (generated columns are not sent).
    public var columns: [Column]

    /// One column of a `Relation`.
    public struct Column: Sendable, Equatable {
        /// True when the column is part of the replica identity key (flags bit 1).
        public var isKey: Bool
        /// The column name.
        public var name: String
        /// The OID of the column's data type.
        public var typeOID: UInt32
        /// The type modifier (`atttypmod`), -1 when there is none.
        public var typeModifier: Int32

        public init(isKey: Bool, name: String, typeOID: UInt32, typeModifier: Int32) {
            self.isKey = isKey
            self.name = name
            self.typeOID = typeOID
            self.typeModifier = typeModifier
        }

        init(from reader: inout ByteReader) throws(DecodeFailure) {
            try self.init(
                isKey: reader.readUInt8() & 1 != 0, name: reader.readCString(), typeOID: reader.readUInt32(),
                typeModifier: reader.readInt32())
        }
    }

    public init(id: UInt32, namespace: String, name: String, replicaIdentity: ReplicaIdentity, columns: [Column]) {
        self.id = id
        self.namespace = namespace
        self.name = name
        self.replicaIdentity = replicaIdentity
        self.columns = columns
    }

    /// The smallest encoding of a column: flags, an empty name's NUL, type OID and typmod.
    private static let minimumColumnSize = 1 + 1 + 4 + 4

    init(from reader: inout ByteReader) throws(DecodeFailure) {
        id = try reader.readUInt32()
        namespace = try reader.readCString()
        name = try reader.readCString()
        let identityOffset = reader.offset
        let identityByte = try reader.readUInt8()
        guard let replicaIdentity = ReplicaIdentity(rawValue: identityByte) else {
            throw .unexpectedByte(what: "replica identity", value: identityByte, offset: identityOffset)
        }
        self.replicaIdentity = replicaIdentity
        let countOffset = reader.offset
        let count = Int(try reader.readInt16())
        guard count >= 0 else { throw .negativeCount(what: "column", value: count, offset: countOffset) }
        var columns: [Column] = []
        // Never trust a count for an allocation beyond what the remaining bytes could hold.
        columns.reserveCapacity(min(count, reader.remaining / Self.minimumColumnSize))
        for _ in 0..<count {
            columns.append(try Column(from: &reader))
        }
        self.columns = columns
    }
}

/// The `'Y'` Type message: names a non-built-in data type used by a following Relation.
///
/// See [Logical Replication Message Formats](https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html).
public struct TypeMessage: Sendable, Equatable {
    /// The OID of the data type.
    public var typeOID: UInt32
    /// The schema name; the empty string stands for `pg_catalog`.
    public var namespace: String
    /// The type name.
    public var name: String
}

extension TypeMessage {
    init(from reader: inout ByteReader) throws(DecodeFailure) {
        try self.init(typeOID: reader.readUInt32(), namespace: reader.readCString(), name: reader.readCString())
    }
}
