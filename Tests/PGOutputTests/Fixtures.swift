import PGOutputTestSupport
import Testing

@testable import PGOutput

/// A named pgoutput message value; its wire form comes from `PGOutputEncoder`.
struct Fixture: Sendable, CustomTestStringConvertible {
    var name: String
    var message: PGOutputMessage

    var bytes: [UInt8] { PGOutputEncoder.encode(message) }
    var testDescription: String { name }
}

func slice(_ string: String) -> ArraySlice<UInt8> { Array(string.utf8)[...] }

enum Fixtures {
    /// The messages that may appear inside a stream block, with a transaction id.
    static var streamable: [Fixture] {
        all.filter {
            switch $0.message {
            case .relation, .type, .insert, .update, .delete, .truncate, .message: true
            default: false
            }
        }
    }

    static let time = PostgresTimestamp(microseconds: 784_111_777_123_456)
    static let allBytes: ArraySlice<UInt8> = Array(0...255)[...]
    static let invalidUTF8: ArraySlice<UInt8> = [0xC3, 0x28, 0xFF, 0xFE, 0x00, 0x80]

    static let keyOnly = TupleData(columns: [.text(slice("42")), .null, .null])
    static let fullRow = TupleData(columns: [.text(slice("42")), .text(slice("grüße 🐘")), .unchangedToast])
    static let mixedRow = TupleData(columns: [
        .null, .unchangedToast, .text([]), .text(slice("plain")), .text(allBytes), .text(invalidUTF8),
        .binary([0x00, 0x00, 0x00, 0x2A]), .binary([]),
    ])

    static let all: [Fixture] = [
        Fixture(name: "begin", message: .begin(Begin(finalLSN: LSN(0x16_B374_D848), commitTime: time, xid: 74_711))),
        Fixture(
            name: "begin extremes",
            message: .begin(Begin(finalLSN: LSN(.max), commitTime: PostgresTimestamp(microseconds: .min), xid: .max))),
        Fixture(
            name: "commit",
            message: .commit(Commit(flags: 0, commitLSN: LSN(0x16_B374_D848), endLSN: LSN(0x16_B374_D878), commitTime: time))),
        Fixture(
            name: "commit negative time",
            message: .commit(Commit(flags: 0, commitLSN: .zero, endLSN: LSN(1), commitTime: PostgresTimestamp(microseconds: -1)))),
        Fixture(name: "origin", message: .origin(Origin(commitLSN: LSN(0x1_0000_0000), name: "pg_16385"))),
        Fixture(name: "origin non-ASCII", message: .origin(Origin(commitLSN: LSN(5), name: "Ursprung-東京-🐘"))),
        Fixture(
            name: "relation",
            message: .relation(
                Relation(
                    id: 16_385, namespace: "public", name: "orders", replicaIdentity: .default,
                    columns: [
                        .init(isKey: true, name: "id", typeOID: 20, typeModifier: -1),
                        .init(isKey: false, name: "customer", typeOID: 1043, typeModifier: 104),
                        .init(isKey: false, name: "amount", typeOID: 1700, typeModifier: 655_366),
                        .init(isKey: true, name: "region", typeOID: 25, typeModifier: -1),
                    ]))),
        Fixture(
            name: "relation full non-ASCII",
            message: .relation(
                Relation(
                    id: .max, namespace: "schéma", name: "Bestellungen_ÄÖÜ_注文", replicaIdentity: .full,
                    columns: [.init(isKey: false, name: "größe", typeOID: 700, typeModifier: -1)]))),
        Fixture(
            name: "relation nothing, no columns, pg_catalog",
            message: .relation(
                Relation(
                    id: 1, namespace: "", name: "t", replicaIdentity: .nothing, columns: []))),
        Fixture(
            name: "relation index",
            message: .relation(
                Relation(
                    id: 2, namespace: "s", name: "", replicaIdentity: .index,
                    columns: [.init(isKey: true, name: "", typeOID: 0, typeModifier: .min)]))),
        Fixture(name: "type", message: .type(TypeMessage(typeOID: 16_400, namespace: "public", name: "mood"))),
        Fixture(name: "type empty namespace", message: .type(TypeMessage(typeOID: 1, namespace: "", name: "väter"))),
        Fixture(name: "insert", message: .insert(Insert(relationID: 16_385, newTuple: fullRow))),
        Fixture(name: "insert mixed columns", message: .insert(Insert(relationID: 16_385, newTuple: mixedRow))),
        Fixture(name: "insert no columns", message: .insert(Insert(relationID: 3, newTuple: TupleData(columns: [])))),
        Fixture(name: "update new only", message: .update(Update(relationID: 16_385, oldKey: nil, oldTuple: nil, newTuple: fullRow))),
        Fixture(
            name: "update with old key", message: .update(Update(relationID: 16_385, oldKey: keyOnly, oldTuple: nil, newTuple: fullRow))),
        Fixture(
            name: "update with old tuple", message: .update(Update(relationID: 16_385, oldKey: nil, oldTuple: mixedRow, newTuple: fullRow))),
        Fixture(name: "delete with key", message: .delete(Delete(relationID: 16_385, oldKey: keyOnly, oldTuple: nil))),
        Fixture(name: "delete with old tuple", message: .delete(Delete(relationID: 16_385, oldKey: nil, oldTuple: mixedRow))),
        Fixture(name: "truncate plain", message: .truncate(Truncate(relationIDs: [16_385], cascade: false, restartIdentity: false))),
        Fixture(name: "truncate cascade", message: .truncate(Truncate(relationIDs: [1, 2, 3], cascade: true, restartIdentity: false))),
        Fixture(
            name: "truncate restart identity", message: .truncate(Truncate(relationIDs: [.max], cascade: false, restartIdentity: true))),
        Fixture(name: "truncate both options", message: .truncate(Truncate(relationIDs: [10, 20], cascade: true, restartIdentity: true))),
        Fixture(name: "truncate none", message: .truncate(Truncate(relationIDs: [], cascade: true, restartIdentity: true))),
        Fixture(
            name: "message transactional",
            message: .message(LogicalMessage(transactional: true, lsn: LSN(0x16_B374_D848), prefix: "forager", content: slice("{\"k\":1}")))
        ),
        Fixture(
            name: "message non-transactional binary",
            message: .message(LogicalMessage(transactional: false, lsn: LSN(9), prefix: "präfix", content: allBytes))),
        Fixture(name: "message empty", message: .message(LogicalMessage(transactional: false, lsn: .zero, prefix: "", content: []))),
        Fixture(name: "stream start", message: .streamStart(StreamStart(xid: 74_711, firstSegment: true))),
        Fixture(name: "stream start, later segment", message: .streamStart(StreamStart(xid: .max, firstSegment: false))),
        Fixture(name: "stream stop", message: .streamStop),
        Fixture(
            name: "stream commit",
            message: .streamCommit(
                StreamCommit(
                    xid: 74_711,
                    commit: Commit(flags: 0, commitLSN: LSN(0x16_B374_D848), endLSN: LSN(0x16_B374_D878), commitTime: time)))),
        Fixture(name: "stream abort of a subtransaction", message: .streamAbort(StreamAbort(xid: 74_711, subxid: 74_712))),
    ]

    /// Framed stream messages; XLogData carries a pgoutput message.
    static let replication: [ReplicationMessage] = [
        .keepalive(PrimaryKeepalive(walEnd: LSN(0x16_B374_D848), serverTime: time, replyRequested: true)),
        .keepalive(PrimaryKeepalive(walEnd: .zero, serverTime: PostgresTimestamp(microseconds: 0), replyRequested: false)),
        .xLogData(
            XLogData(
                walStart: LSN(0x16_B374_D848), walEnd: LSN(0x16_B374_D900), serverTime: time,
                data: PGOutputEncoder.encode(all[13].message)[...])),
        .xLogData(XLogData(walStart: .zero, walEnd: .zero, serverTime: time, data: [])),
    ]
}
