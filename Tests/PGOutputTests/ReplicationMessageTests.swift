import PGOutputTestSupport
import Testing

@testable import PGOutput

@Suite("replication stream framing")
struct ReplicationMessageTests {
    @Test("round trip of XLogData and keepalive framing")
    func roundTrip() throws {
        for message in Fixtures.replication {
            let bytes = PGOutputEncoder.encode(message)
            #expect(try ReplicationMessage.decode(bytes) == message)
        }
    }

    @Test("keepalive decodes from hand-written bytes")
    func keepaliveLiteral() throws {
        let bytes: [UInt8] = [
            0x6B,  // 'k'
            0x00, 0x00, 0x00, 0x16, 0xB3, 0x74, 0xD8, 0x48,
            0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE,  // -2 microseconds
            0x01,
        ]
        let expected = PrimaryKeepalive(walEnd: LSN(0x16_B374_D848), serverTime: PostgresTimestamp(microseconds: -2), replyRequested: true)
        #expect(try ReplicationMessage.decode(bytes) == .keepalive(expected))
    }

    @Test("XLogData wrapping a pgoutput message decodes end to end, data is a slice")
    func xLogDataEndToEnd() throws {
        for fixture in Fixtures.all {
            let inner = fixture.bytes
            let framed = PGOutputEncoder.encode(
                .xLogData(
                    XLogData(
                        walStart: LSN(0x10), walEnd: LSN(0x20), serverTime: Fixtures.time, data: inner[...])))
            #expect(framed.count == 25 + inner.count)
            guard case .xLogData(let xLogData) = try ReplicationMessage.decode(framed) else {
                Issue.record("not XLogData")
                continue
            }
            #expect(xLogData.walStart == LSN(0x10))
            #expect(xLogData.walEnd == LSN(0x20))
            #expect(xLogData.serverTime == Fixtures.time)
            #expect(xLogData.data.startIndex == 25)
            #expect(xLogData.data.endIndex == framed.count)
            #expect(try PGOutputMessage.decode(xLogData.data) == fixture.message)
        }
    }

    @Test("StandbyStatusUpdate.encoded() has the exact bytes")
    func standbyStatusUpdateBytes() {
        let update = StandbyStatusUpdate(
            written: LSN(string: "16/B374D848")!,
            flushed: LSN(string: "16/B374D800")!,
            applied: .zero,
            clientTime: PostgresTimestamp(microseconds: 0x0102_0304_0506_0708),
            replyRequested: true)
        let expected: [UInt8] = [
            0x72,  // 'r'
            0x00, 0x00, 0x00, 0x16, 0xB3, 0x74, 0xD8, 0x48,
            0x00, 0x00, 0x00, 0x16, 0xB3, 0x74, 0xD8, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
            0x01,
        ]
        #expect(update.encoded() == expected)
        #expect(update.encoded().count == StandbyStatusUpdate.encodedSize)

        let negative = StandbyStatusUpdate(
            written: LSN(.max), flushed: LSN(1), applied: LSN(2),
            clientTime: PostgresTimestamp(microseconds: -1), replyRequested: false)
        let bytes = negative.encoded()
        #expect(bytes.count == 34)
        #expect(Array(bytes[1..<9]) == [UInt8](repeating: 0xFF, count: 8))
        #expect(Array(bytes[25..<33]) == [UInt8](repeating: 0xFF, count: 8))
        #expect(bytes[33] == 0)
    }

    @Test("unknown and empty CopyData payloads are errors")
    func unknownType() {
        #expect(throws: PGOutputDecodingError(messageType: 0x72, bytes: [0x72], reason: "unknown message type 'r'")) {
            try ReplicationMessage.decode([0x72])
        }
        #expect(throws: PGOutputDecodingError(messageType: 0, bytes: [], reason: "empty message")) {
            try ReplicationMessage.decode([])
        }
    }
}

@Suite("PostgresTimestamp")
struct PostgresTimestampTests {
    @Test("converts to and from Unix time")
    func unixTime() {
        #expect(PostgresTimestamp(microseconds: 0).secondsSince1970 == 946_684_800)
        #expect(PostgresTimestamp(microseconds: 1_500_000).secondsSince1970 == 946_684_801.5)
        #expect(PostgresTimestamp(secondsSince1970: 946_684_801.5) == PostgresTimestamp(microseconds: 1_500_000))
        #expect(PostgresTimestamp(secondsSince1970: 0) == PostgresTimestamp(microseconds: -946_684_800_000_000))
        #expect(PostgresTimestamp(secondsSince1970: .infinity).microseconds == .max)
        #expect(PostgresTimestamp(secondsSince1970: -.infinity).microseconds == .min)
        #expect(PostgresTimestamp(secondsSince1970: .nan).microseconds == 0)
        #expect(PostgresTimestamp(microseconds: -1) < PostgresTimestamp(microseconds: 0))
    }
}
