import ForagerCore
import Foundation
import PostgresSource
import Testing

@testable import PGOutput

@Suite struct StreamSpillTests {
    private func directory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("forager-spill-test-\(UUID().uuidString)").path
    }

    private func files(_ directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }

    private func replay(_ spill: inout StreamSpill, _ xid: UInt32) throws -> [(UInt64, [UInt8])] {
        var reader = try spill.commit(xid)
        var records: [(UInt64, [UInt8])] = []
        while let record = try reader.next() { records.append((record.lsn.value, Array(record.message))) }
        return records
    }

    @Test func recordsReplayInOrderAcrossBlocksAndInterleavedTransactionsAndTheFileGoes() throws {
        let path = directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        var spill = try StreamSpill(directory: path)
        let large = [UInt8](repeating: 7, count: (1 << 20) + 5)
        try spill.start(StreamStart(xid: 10, firstSegment: true))
        try spill.append(subxid: 10, lsn: LSN(1), message: [1, 2, 3])
        try spill.append(subxid: 10, lsn: LSN(2), message: large[...])
        try spill.stop()
        try spill.start(StreamStart(xid: 20, firstSegment: true))
        try spill.append(subxid: 20, lsn: LSN(3), message: [9])
        try spill.stop()
        try spill.start(StreamStart(xid: 10, firstSegment: false))
        try spill.append(subxid: 10, lsn: LSN(4), message: [])
        try spill.stop()
        #expect(spill.transactions == 2)
        #expect(spill.bytes == 3 * 12 + 3 + large.count + 12 + 1)
        let records = try replay(&spill, 10)
        #expect(records.map(\.0) == [1, 2, 4])
        #expect(records[0].1 == [1, 2, 3] && records[1].1 == large && records[2].1 == [])
        #expect(files(path) == ["20.spill"])
        #expect(try replay(&spill, 20).map(\.1) == [[9]])
        #expect(files(path).isEmpty)
    }

    @Test func aSubtransactionAbortDropsItsChangesAndThoseOfLaterSubtransactionsBufferedOrWritten() throws {
        let path = directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        var spill = try StreamSpill(directory: path)
        try spill.start(StreamStart(xid: 10, firstSegment: true))
        try spill.append(subxid: 10, lsn: LSN(1), message: [1])
        try spill.append(subxid: 11, lsn: LSN(2), message: [2])
        try spill.stop()  // written out: the next abort truncates the file
        try spill.start(StreamStart(xid: 10, firstSegment: false))
        try spill.append(subxid: 12, lsn: LSN(3), message: [3])
        try spill.stop()
        try spill.abort(StreamAbort(xid: 10, subxid: 11))
        try spill.start(StreamStart(xid: 10, firstSegment: false))
        try spill.append(subxid: 10, lsn: LSN(4), message: [4])
        try spill.append(subxid: 13, lsn: LSN(5), message: [5])
        try spill.abort(StreamAbort(xid: 10, subxid: 13))  // still buffered
        try spill.append(subxid: 10, lsn: LSN(6), message: [6])
        try spill.abort(StreamAbort(xid: 10, subxid: 99))  // never streamed a change: nothing to drop
        try spill.stop()
        #expect(try replay(&spill, 10).map(\.1) == [[1], [4], [6]])
    }

    @Test func anAbortedTransactionLeavesNoFileNorDoesShutdownAndANewSpillEmptiesTheDirectory() throws {
        let path = directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        var spill = try StreamSpill(directory: path)
        for xid: UInt32 in [1, 2, 3] {
            try spill.start(StreamStart(xid: xid, firstSegment: true))
            try spill.append(subxid: xid, lsn: LSN(UInt64(xid)), message: [UInt8(xid)])
            try spill.stop()
        }
        try spill.abort(StreamAbort(xid: 1, subxid: 1))
        #expect(files(path) == ["2.spill", "3.spill"])
        _ = try StreamSpill(directory: path)
        #expect(files(path).isEmpty)
        spill.closeAll()
        #expect(spill.transactions == 0)
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func messagesOutOfPlaceAreProtocolErrors() throws {
        let path = directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        var spill = try StreamSpill(directory: path)
        #expect(throws: ForagerError.self) { try spill.append(subxid: 1, lsn: LSN(1), message: [1]) }
        #expect(throws: ForagerError.self) { try spill.stop() }
        #expect(throws: ForagerError.self) { _ = try spill.commit(5) }
        try spill.start(StreamStart(xid: 1, firstSegment: true))
        #expect(throws: ForagerError.self) { try spill.start(StreamStart(xid: 2, firstSegment: true)) }
    }

    @Test func anUnusableDirectoryNamesItselfAndTheSetting() {
        #expect {
            _ = try StreamSpill(directory: "/proc/forager-cannot-be-here")
        } throws: { error in
            "\(error)".contains("/proc/forager-cannot-be-here") && "\(error)".contains("source.spill_dir")
        }
    }
}
