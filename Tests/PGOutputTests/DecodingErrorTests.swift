import PGOutput
import PGOutputTestSupport
import Testing

@Suite("decoding errors")
struct DecodingErrorTests {
    private func decodeError(_ bytes: [UInt8]) -> PGOutputDecodingError? {
        do {
            let message = try PGOutputMessage.decode(bytes[...])
            Issue.record("decoded unexpectedly: \(message)")
            return nil
        } catch {
            return error
        }
    }

    @Test("truncated length prefix names what was needed, where, and what was left")
    func truncatedReason() {
        // 'I', relation, 'N', 1 column, 't', then only 2 of the 4 length bytes.
        let bytes: [UInt8] = [0x49, 0, 0, 0, 1, 0x4E, 0, 1, 0x74, 0, 0]
        let error = decodeError(bytes)
        #expect(error?.reason == "truncated: needed 4 bytes at offset 9, 2 left")
        #expect(error?.messageType == UInt8(ascii: "I"))
        #expect(error?.bytes == bytes)
    }

    @Test("unknown message type, including two-phase messages of protocol 3")
    func unknownMessageType() {
        #expect(decodeError([0x5A])?.reason == "unknown message type 'Z'")
        #expect(decodeError([0x62, 0, 0, 0, 1, 1])?.reason == "unknown message type 'b'")
        #expect(decodeError([0x05])?.reason == "unknown message type 0x05")
        #expect(decodeError([])?.messageType == 0)
        #expect(decodeError([])?.reason == "empty message")
    }

    @Test("trailing bytes")
    func trailingBytes() {
        var bytes = PGOutputEncoder.encode(Fixtures.all[0].message)
        bytes += [1, 2, 3]
        #expect(decodeError(bytes)?.reason == "3 trailing bytes after message")
    }

    @Test("negative counts and lengths")
    func negativeCounts() {
        // Insert with column count -1.
        #expect(decodeError([0x49, 0, 0, 0, 1, 0x4E, 0xFF, 0xFF])?.reason == "negative column count -1 at offset 6")
        // Text column with length -2.
        #expect(
            decodeError([0x49, 0, 0, 0, 1, 0x4E, 0, 1, 0x74, 0xFF, 0xFF, 0xFF, 0xFE])?.reason
                == "negative length -2 at offset 9")
        // Truncate with -1 relations.
        #expect(decodeError([0x54, 0xFF, 0xFF, 0xFF, 0xFF, 0])?.reason == "negative relation count -1 at offset 1")
        // Relation with -32768 columns.
        #expect(decodeError([0x52, 0, 0, 0, 1, 0, 0, 0x64, 0x80, 0x00])?.reason == "negative column count -32768 at offset 8")
        // Logical message content length Int32.min.
        #expect(decodeError([0x4D, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0])?.reason == "negative length -2147483648 at offset 11")
    }

    @Test("huge counts and lengths are checked against what is left, not allocated")
    func hugeCounts() {
        #expect(decodeError([0x49, 0, 0, 0, 1, 0x4E, 0x7F, 0xFF])?.reason == "truncated: needed 1 bytes at offset 8, 0 left")
        #expect(decodeError([0x54, 0x7F, 0xFF, 0xFF, 0xFF, 0, 1, 2])?.reason == "truncated: needed 8589934588 bytes at offset 6, 2 left")
        #expect(
            decodeError([0x49, 0, 0, 0, 1, 0x4E, 0, 1, 0x62, 0x7F, 0xFF, 0xFF, 0xFF, 1])?.reason
                == "truncated: needed 2147483647 bytes at offset 13, 1 left")
    }

    @Test("unexpected markers and kinds")
    func unexpectedBytes() {
        #expect(decodeError([0x49, 0, 0, 0, 1, 0x4B, 0, 0])?.reason == "unexpected tuple marker 'K' at offset 5")
        #expect(decodeError([0x44, 0, 0, 0, 1, 0x4E, 0, 0])?.reason == "unexpected tuple marker 'N' at offset 5")
        #expect(decodeError([0x55, 0, 0, 0, 1, 0x4B, 0, 0, 0x4B, 0, 0])?.reason == "unexpected tuple marker 'K' at offset 8")
        #expect(decodeError([0x55, 0, 0, 0, 1, 0x78, 0, 0])?.reason == "unexpected tuple marker 'x' at offset 5")
        #expect(decodeError([0x44, 0, 0, 0, 1, 0x78, 0, 0])?.reason == "unexpected tuple marker 'x' at offset 5")
        #expect(decodeError([0x49, 0, 0, 0, 1, 0x4E, 0, 1, 0x78])?.reason == "unexpected tuple column kind 'x' at offset 8")
        #expect(decodeError([0x52, 0, 0, 0, 1, 0, 0, 0x78, 0, 0])?.reason == "unexpected replica identity 'x' at offset 7")
        #expect(decodeError([0x4F, 0, 0, 0, 0, 0, 0, 0, 0, 0x61, 0x62])?.reason == "unterminated string at offset 9")
    }

    @Test("description shows the type, the reason and a capped hex dump")
    func description() {
        let short = PGOutputDecodingError(messageType: 0x42, bytes: [0x42, 0x00, 0xAB], reason: "r")
        #expect(short.description == "PGOutputDecodingError(message type 'B': r; 3 bytes: [42 00 AB])")

        let long = PGOutputDecodingError(messageType: 0x01, bytes: [UInt8](repeating: 0x01, count: 300), reason: "why")
        #expect(long.description.hasPrefix("PGOutputDecodingError(message type 0x01: why; 300 bytes: [01 01"))
        #expect(long.description.hasSuffix("01 … (300 bytes)])"))
        #expect(long.description.split(separator: " ").filter { $0 == "01" }.count == 255)

        let empty = PGOutputDecodingError(messageType: 0, bytes: [], reason: "empty message")
        #expect(empty.description == "PGOutputDecodingError(message type (empty): empty message; 0 bytes: [])")
    }
}
