public import PGOutput

/// Test-only encoder (shared by the test targets) producing the wire form of every message the decoder understands,
/// so fixtures are built from values rather than hand-typed hex.
public struct PGOutputEncoder {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public mutating func uint8(_ value: UInt8) { bytes.append(value) }
    public mutating func char(_ value: Unicode.Scalar) { bytes.append(UInt8(ascii: value)) }
    public mutating func bool(_ value: Bool) { uint8(value ? 1 : 0) }
    public mutating func int16(_ value: Int16) { bigEndian(UInt16(bitPattern: value)) }
    public mutating func uint32(_ value: UInt32) { bigEndian(value) }
    public mutating func int32(_ value: Int32) { bigEndian(UInt32(bitPattern: value)) }
    public mutating func uint64(_ value: UInt64) { bigEndian(value) }
    public mutating func lsn(_ value: LSN) { bigEndian(value.value) }
    public mutating func timestamp(_ value: PostgresTimestamp) { bigEndian(UInt64(bitPattern: value.microseconds)) }

    public mutating func cString(_ value: String) {
        bytes.append(contentsOf: value.utf8)
        bytes.append(0)
    }

    public mutating func lengthPrefixed<C: Collection<UInt8>>(_ value: C) {
        int32(Int32(value.count))
        bytes.append(contentsOf: value)
    }

    public mutating func raw<C: Collection<UInt8>>(_ value: C) { bytes.append(contentsOf: value) }

    private mutating func bigEndian<T: FixedWidthInteger>(_ value: T) {
        var shift = T.bitWidth - 8
        while shift >= 0 {
            bytes.append(UInt8(truncatingIfNeeded: value >> shift))
            shift -= 8
        }
    }

    public mutating func tuple(_ tuple: TupleData) {
        int16(Int16(tuple.columns.count))
        for column in tuple.columns {
            switch column {
            case .null: char("n")
            case .unchangedToast: char("u")
            case .text(let value):
                char("t")
                lengthPrefixed(value)
            case .binary(let value):
                char("b")
                lengthPrefixed(value)
            }
        }
    }

    /// Appends one pgoutput message, as the server encodes it.
    public mutating func message(_ message: PGOutputMessage) {
        switch message {
        case .begin, .commit, .origin, .relation, .type, .message:
            transactionMessage(message)
        case .insert, .update, .delete, .truncate:
            change(message)
        case .streamStart, .streamStop, .streamCommit, .streamAbort, .streamed:
            streamMessage(message)
        }
    }

    /// Begin, Commit, Origin, Relation, Type and logical messages.
    private mutating func transactionMessage(_ message: PGOutputMessage) {
        switch message {
        case .begin(let begin):
            char("B")
            lsn(begin.finalLSN)
            timestamp(begin.commitTime)
            uint32(begin.xid)
        case .commit(let commit):
            char("C")
            commitFields(commit)
        case .origin(let origin):
            char("O")
            lsn(origin.commitLSN)
            cString(origin.name)
        case .relation(let relation):
            char("R")
            uint32(relation.id)
            cString(relation.namespace)
            cString(relation.name)
            uint8(relation.replicaIdentity.rawValue)
            int16(Int16(relation.columns.count))
            for column in relation.columns {
                bool(column.isKey)
                cString(column.name)
                uint32(column.typeOID)
                int32(column.typeModifier)
            }
        case .type(let type):
            char("Y")
            uint32(type.typeOID)
            cString(type.namespace)
            cString(type.name)
        case .message(let message):
            char("M")
            bool(message.transactional)
            lsn(message.lsn)
            cString(message.prefix)
            lengthPrefixed(message.content)
        default:
            preconditionFailure("not a transaction message: \(message)")
        }
    }

    /// Insert, Update, Delete and Truncate.
    private mutating func change(_ message: PGOutputMessage) {
        switch message {
        case .insert(let insert):
            char("I")
            uint32(insert.relationID)
            char("N")
            tuple(insert.newTuple)
        case .update(let update):
            char("U")
            uint32(update.relationID)
            oldRow(key: update.oldKey, tuple: update.oldTuple)
            char("N")
            tuple(update.newTuple)
        case .delete(let delete):
            char("D")
            uint32(delete.relationID)
            oldRow(key: delete.oldKey, tuple: delete.oldTuple)
        case .truncate(let truncate):
            char("T")
            int32(Int32(truncate.relationIDs.count))
            uint8((truncate.cascade ? 1 : 0) | (truncate.restartIdentity ? 2 : 0))
            for id in truncate.relationIDs { uint32(id) }
        default:
            preconditionFailure("not a row change: \(message)")
        }
    }

    /// What a Commit and a Stream Commit both carry, in this order.
    private mutating func commitFields(_ commit: Commit) {
        uint8(commit.flags)
        lsn(commit.commitLSN)
        lsn(commit.endLSN)
        timestamp(commit.commitTime)
    }

    /// The old key ('K') or old row ('O') of an update or delete, when it has one.
    private mutating func oldRow(key: TupleData?, tuple old: TupleData?) {
        if let key {
            char("K")
            tuple(key)
        } else if let old {
            char("O")
            tuple(old)
        }
    }

    /// The messages of transactions streamed before they commit (protocol 2).
    private mutating func streamMessage(_ message: PGOutputMessage) {
        switch message {
        case .streamStart(let start):
            char("S")
            uint32(start.xid)
            bool(start.firstSegment)
        case .streamStop:
            char("E")
        case .streamCommit(let streamed):
            char("c")
            uint32(streamed.xid)
            commitFields(streamed.commit)
        case .streamAbort(let abort):
            char("A")
            uint32(abort.xid)
            uint32(abort.subxid)
        case .streamed(let xid, let inner):
            // The type byte, then the transaction id, then the rest of the inner message.
            let body = Self.encode(inner)
            uint8(body[0])
            uint32(xid)
            raw(body.dropFirst())
        default:
            preconditionFailure("not a streaming message: \(message)")
        }
    }

    public mutating func replication(_ message: ReplicationMessage) {
        switch message {
        case .xLogData(let xLogData):
            char("w")
            lsn(xLogData.walStart)
            lsn(xLogData.walEnd)
            timestamp(xLogData.serverTime)
            raw(xLogData.data)
        case .keepalive(let keepalive):
            char("k")
            lsn(keepalive.walEnd)
            timestamp(keepalive.serverTime)
            bool(keepalive.replyRequested)
        }
    }

    public static func encode(_ message: PGOutputMessage) -> [UInt8] {
        var encoder = PGOutputEncoder()
        encoder.message(message)
        return encoder.bytes
    }

    public static func encode(_ message: ReplicationMessage) -> [UInt8] {
        var encoder = PGOutputEncoder()
        encoder.replication(message)
        return encoder.bytes
    }
}
