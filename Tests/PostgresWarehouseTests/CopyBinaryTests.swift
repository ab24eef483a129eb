import ForagerCore
import PGOutput
import PostgresWarehouse
import Testing

@Suite struct CopyBinaryTests {
    @Test func theHeaderAndTrailerAreTheFormatsSignatureAndEnd() {
        #expect(CopyBinary.header == [0x50, 0x47, 0x43, 0x4F, 0x50, 0x59, 0x0A, 0xFF, 0x0D, 0x0A, 0x00, 0, 0, 0, 0, 0, 0, 0, 0])
        #expect(CopyBinary.trailer == [0xFF, 0xFF])
    }

    @Test func aRowIsItsFieldCountThenLengthPrefixedValuesAsReceived() throws {
        var output: [UInt8] = []
        try CopyBinary.appendRow([.binary([0, 0, 0, 42]), .null, .binary([])], lsn: LSN(0x16_B374_D848), deleted: true, to: &output)
        #expect(
            output == [
                0, 5,
                0, 0, 0, 4, 0, 0, 0, 42,
                0xFF, 0xFF, 0xFF, 0xFF,
                0, 0, 0, 0,
                0, 0, 0, 8, 0, 0, 0, 0x16, 0xB3, 0x74, 0xD8, 0x48,
                0, 0, 0, 1, 1,
            ])
        var key: [UInt8] = []
        try CopyBinary.appendRow([.binary([7])], lsn: nil, deleted: nil, to: &key)
        #expect(key == [0, 1, 0, 0, 0, 1, 7])
    }

    @Test func aLargeValueIsLeftWhereItArrivedWithItsPlaceRecorded() throws {
        let message: [UInt8] = [9, 9] + Array(repeating: 7, count: 8)
        let large = message[2...]
        var output: [UInt8] = []
        var deferred: [CopyBinary.DeferredValue] = []
        try CopyBinary.appendRow(
            [.binary([1]), .binary(large), .null], lsn: nil, deleted: nil, to: &output, deferring: &deferred, atLeast: 8)
        #expect(output == [0, 3, 0, 0, 0, 1, 1, 0, 0, 0, 8, 0xFF, 0xFF, 0xFF, 0xFF])
        #expect(deferred.map(\.offset) == [11])
        #expect(deferred.first?.bytes == large)
        // The value is the received bytes themselves, not a copy.
        let sameStorage = deferred.first?.bytes.withUnsafeBufferPointer { kept in
            large.withUnsafeBufferPointer { kept.baseAddress == $0.baseAddress }
        }
        #expect(sameStorage == true)
        let spliced = Array(output[..<11]) + large + output[11...]
        var whole: [UInt8] = []
        try CopyBinary.appendRow([.binary([1]), .binary(large), .null], lsn: nil, deleted: nil, to: &whole)
        #expect(spliced == whole)
    }

    @Test func textAndUnresolvedValuesAreRefused() {
        var output: [UInt8] = []
        do {
            try CopyBinary.appendRow([.text(ArraySlice("1".utf8))], lsn: nil, deleted: nil, to: &output)
            Issue.record("a text value was written into binary COPY")
        } catch {
            #expect(error.code == .binaryValues, "a type without binary output restarts the stream in text")
        }
        #expect(throws: ForagerError.self) { try CopyBinary.appendRow([.unchangedToast], lsn: nil, deleted: nil, to: &output) }
    }
}
