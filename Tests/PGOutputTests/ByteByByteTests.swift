import PGOutput
import PGOutputTestSupport
import Testing

/// Feeds every strict prefix of each fixture (as a streaming decoder would see it arrive),
/// the whole fixture, and the fixture plus one extra byte.
@Suite("byte by byte")
struct ByteByByteTests {
    @Test("pgoutput: every strict prefix throws, whole decodes, extra byte throws", arguments: Fixtures.all)
    func pgOutputPrefixes(_ fixture: Fixture) throws {
        let bytes = fixture.bytes
        for length in 0..<bytes.count {
            let prefix = bytes[0..<length]
            do {
                let message = try PGOutputMessage.decode(prefix)
                Issue.record("prefix of length \(length) decoded as \(message)")
            } catch {
                #expect(error.messageType == (prefix.first ?? 0))
                #expect(error.bytes == Array(prefix))
                #expect(!error.reason.isEmpty)
            }
        }
        #expect(try PGOutputMessage.decode(bytes[...]) == fixture.message)

        let extended = bytes + [0x00]
        #expect(throws: PGOutputDecodingError(messageType: bytes[0], bytes: extended, reason: "1 trailing bytes after message")) {
            try PGOutputMessage.decode(extended[...])
        }
    }

    @Test("keepalive: every strict prefix throws, whole decodes, extra byte throws")
    func keepalivePrefixes() throws {
        for message in Fixtures.replication {
            guard case .keepalive = message else { continue }
            let bytes = PGOutputEncoder.encode(message)
            #expect(bytes.count == 18)
            for length in 0..<bytes.count {
                let prefix = Array(bytes[0..<length])
                #expect(throws: PGOutputDecodingError.self) { try ReplicationMessage.decode(prefix) }
            }
            #expect(try ReplicationMessage.decode(bytes) == message)
            #expect(throws: PGOutputDecodingError.self) { try ReplicationMessage.decode(bytes + [0x01]) }
        }
    }

    /// XLogData's payload runs to the end of the CopyData, so only its 25-byte header can be short.
    @Test("XLogData: every prefix shorter than the header throws")
    func xLogDataHeaderPrefixes() throws {
        for message in Fixtures.replication {
            guard case .xLogData(let xLogData) = message else { continue }
            let bytes = PGOutputEncoder.encode(message)
            for length in 0..<25 {
                let prefix = Array(bytes[0..<length])
                do {
                    _ = try ReplicationMessage.decode(prefix)
                    Issue.record("header prefix of length \(length) decoded")
                } catch {
                    #expect(error.messageType == (prefix.first ?? 0))
                    #expect(error.bytes == prefix)
                }
            }
            for length in 25...bytes.count {
                let prefix = Array(bytes[0..<length])
                let decoded = try ReplicationMessage.decode(prefix)
                #expect(
                    decoded
                        == .xLogData(
                            XLogData(
                                walStart: xLogData.walStart, walEnd: xLogData.walEnd,
                                serverTime: xLogData.serverTime, data: xLogData.data.prefix(length - 25))))
            }
        }
    }
}
