import Gzip
import Testing

@Suite struct GzipTests {
    @Test func roundTripsThroughZlibAndIsAGzipStream() throws {
        let rows = Array((0..<50_000).map { "\($0)\tsome text \($0 % 7)\t\\N\n" }.joined().utf8)
        let compressed = try Gzip.compress(rows)
        #expect(compressed.starts(with: [0x1F, 0x8B]))
        #expect(compressed.count < rows.count / 3)
        #expect(try Gzip.decompress(compressed, capacity: rows.count) == rows)
        #expect(try Gzip.decompress(try Gzip.compress([]), capacity: 0) == [])
    }

    @Test func decompressRefusesWhatIsNotAWholeGzipStreamOrDoesNotFit() throws {
        let compressed = try Gzip.compress(Array(repeating: 7, count: 1000))
        #expect(throws: GzipError.self) { try Gzip.decompress(Array(compressed.dropLast(4)), capacity: 1000) }
        #expect(throws: GzipError.self) { try Gzip.decompress(compressed, capacity: 10) }
        #expect(throws: GzipError.self) { try Gzip.decompress(compressed, capacity: 999) }
        #expect(try Gzip.decompress(compressed, capacity: 1000).count == 1000)
        #expect(throws: GzipError.self) { try Gzip.decompress([1, 2, 3], capacity: 1000) }
    }
}
