import PGOutputTestSupport
import Testing

@testable import PGOutput

@Suite("pgoutput messages")
struct PGOutputMessageTests {
    @Test("round trip: encode then decode gives the original", arguments: Fixtures.all)
    func roundTrip(_ fixture: Fixture) throws {
        let bytes = fixture.bytes
        #expect(try PGOutputMessage.decode(bytes[...]) == fixture.message)
    }

    @Test("decodes from a slice that does not start at index 0", arguments: Fixtures.all)
    func decodesFromOffsetSlice(_ fixture: Fixture) throws {
        let padded = [0xAA, 0xBB, 0xCC] + fixture.bytes + [0xDD]
        let message = padded[3..<(padded.count - 1)]
        #expect(try PGOutputMessage.decode(message) == fixture.message)
    }

    @Test("every fixture kind is covered")
    func coversEveryCase() {
        var seen = Set<String>()
        for fixture in Fixtures.all {
            switch fixture.message {
            case .begin: seen.insert("B")
            case .commit: seen.insert("C")
            case .origin: seen.insert("O")
            case .relation: seen.insert("R")
            case .type: seen.insert("Y")
            case .insert: seen.insert("I")
            case .update: seen.insert("U")
            case .delete: seen.insert("D")
            case .truncate: seen.insert("T")
            case .message: seen.insert("M")
            case .streamStart: seen.insert("S")
            case .streamStop: seen.insert("E")
            case .streamCommit: seen.insert("c")
            case .streamAbort: seen.insert("A")
            case .streamed: break  // decoded only inside a stream block: see streamedChanges
            }
        }
        #expect(seen.count == 14)
    }

    @Test("inside a stream block, changes carry a transaction id; outside, the same bytes are not a change", arguments: Fixtures.streamable)
    func streamedChanges(_ fixture: Fixture) throws {
        let xid: UInt32 = 0x0102_0304
        let bytes = PGOutputEncoder.encode(.streamed(xid: xid, fixture.message))
        #expect(bytes[1...4] == [0x01, 0x02, 0x03, 0x04])
        #expect(try PGOutputMessage.decode(bytes[...], inStreamBlock: true) == .streamed(xid: xid, fixture.message))
        #expect(try PGOutputMessage.decode(fixture.bytes[...], inStreamBlock: false) == fixture.message)
    }

    @Test("Stream Commit decodes from hand-written bytes")
    func streamCommitFromLiteralBytes() throws {
        let bytes: [UInt8] = [
            0x63,  // 'c'
            0x00, 0x00, 0x03, 0x09,  // xid 777
            0x00,  // flags
            0x00, 0x00, 0x00, 0x16, 0xB3, 0x74, 0xD8, 0x48,  // commit LSN 16/B374D848
            0x00, 0x00, 0x00, 0x16, 0xB3, 0x74, 0xD8, 0x78,  // end LSN 16/B374D878
            0x00, 0x02, 0xC9, 0x0B, 0x6D, 0x0E, 0x4A, 0x40,  // commit time
        ]
        let expected = StreamCommit(
            xid: 777,
            commit: Commit(
                flags: 0, commitLSN: LSN(string: "16/B374D848")!, endLSN: LSN(string: "16/B374D878")!,
                commitTime: PostgresTimestamp(microseconds: 0x0002_C90B_6D0E_4A40)))
        #expect(try PGOutputMessage.decode(bytes[...]) == .streamCommit(expected))
        #expect(try PGOutputMessage.decode([0x41, 0, 0, 3, 9, 0, 0, 3, 10][...]) == .streamAbort(StreamAbort(xid: 777, subxid: 778)))
        #expect(try PGOutputMessage.decode([0x53, 0, 0, 3, 9, 1][...]) == .streamStart(StreamStart(xid: 777, firstSegment: true)))
    }

    @Test("Begin decodes from hand-written bytes")
    func beginFromLiteralBytes() throws {
        let bytes: [UInt8] = [
            0x42,  // 'B'
            0x00, 0x00, 0x00, 0x16, 0xB3, 0x74, 0xD8, 0x48,  // final LSN 16/B374D848
            0x00, 0x02, 0xC9, 0x0B, 0x6D, 0x0E, 0x4A, 0x40,  // commit time
            0x00, 0x00, 0x03, 0x09,  // xid 777
        ]
        let expected = Begin(
            finalLSN: LSN(string: "16/B374D848")!, commitTime: PostgresTimestamp(microseconds: 0x0002_C90B_6D0E_4A40), xid: 777)
        #expect(try PGOutputMessage.decode(bytes[...]) == .begin(expected))
    }

    @Test("Insert decodes from hand-written bytes, values are slices of the input")
    func insertFromLiteralBytes() throws {
        let bytes: [UInt8] = [
            0x49, 0x00, 0x00, 0x40, 0x01, 0x4E, 0x00, 0x03,  // 'I', relation 16385, 'N', 3 columns
            0x74, 0x00, 0x00, 0x00, 0x01, 0x31,  // 't' "1"
            0x6E,  // 'n'
            0x74, 0x00, 0x00, 0x00, 0x03, 0x66, 0x6F, 0x6F,  // 't' "foo"
        ]
        let message = try PGOutputMessage.decode(bytes[...])
        guard case .insert(let insert) = message else {
            Issue.record("expected an insert, got \(message)")
            return
        }
        #expect(insert.relationID == 16_385)
        #expect(insert.newTuple.columns == [.text(slice("1")), .null, .text(slice("foo"))])
        guard case .text(let foo) = insert.newTuple.columns[2] else { return }
        #expect(foo.startIndex == 20)
        #expect(foo.endIndex == bytes.count)
    }

    @Test("Update with old key carries exactly the key, and new tuple")
    func updateOldKeyShape() throws {
        let update = Update(relationID: 7, oldKey: Fixtures.keyOnly, oldTuple: nil, newTuple: Fixtures.fullRow)
        let bytes = PGOutputEncoder.encode(.update(update))
        #expect(bytes[5] == UInt8(ascii: "K"))
        guard case .update(let decoded) = try PGOutputMessage.decode(bytes[...]) else {
            Issue.record("not an update")
            return
        }
        #expect(decoded.oldKey == Fixtures.keyOnly)
        #expect(decoded.oldTuple == nil)
        #expect(decoded.newTuple == Fixtures.fullRow)
    }

    @Test("invalid UTF-8 in names is repaired, not a crash")
    func invalidUTF8Name() throws {
        var encoder = PGOutputEncoder()
        encoder.char("Y")
        encoder.uint32(99)
        encoder.raw([0xFF, 0xFE, 0x41, 0x00])
        encoder.cString("ok")
        guard case .type(let type) = try PGOutputMessage.decode(encoder.bytes[...]) else {
            Issue.record("not a type message")
            return
        }
        #expect(type.namespace == "\u{FFFD}\u{FFFD}A")
        #expect(type.name == "ok")
    }

    @Test("unknown option and flag bits are ignored")
    func unknownBitsIgnored() throws {
        var truncate = PGOutputEncoder()
        truncate.char("T")
        truncate.int32(1)
        truncate.uint8(0xFE)  // bit 2 set, bit 1 not, plus unknown bits
        truncate.uint32(5)
        #expect(
            try PGOutputMessage.decode(truncate.bytes[...]) == .truncate(Truncate(relationIDs: [5], cascade: false, restartIdentity: true)))

        var relation = PGOutputEncoder()
        relation.char("R")
        relation.uint32(1)
        relation.cString("s")
        relation.cString("t")
        relation.char("d")
        relation.int16(1)
        relation.uint8(0x03)  // key bit plus an unknown bit
        relation.cString("c")
        relation.uint32(23)
        relation.int32(-1)
        let expected = Relation(
            id: 1, namespace: "s", name: "t", replicaIdentity: .default,
            columns: [.init(isKey: true, name: "c", typeOID: 23, typeModifier: -1)])
        #expect(try PGOutputMessage.decode(relation.bytes[...]) == .relation(expected))
    }

    @Test("Relation.ReplicaIdentity spelling and raw values")
    func replicaIdentityRawValues() {
        let identity: Relation.ReplicaIdentity = .full
        #expect(identity == ReplicaIdentity.full)
        #expect(ReplicaIdentity.default.rawValue == UInt8(ascii: "d"))
        #expect(ReplicaIdentity.nothing.rawValue == UInt8(ascii: "n"))
        #expect(ReplicaIdentity.full.rawValue == UInt8(ascii: "f"))
        #expect(ReplicaIdentity.index.rawValue == UInt8(ascii: "i"))
    }
}
