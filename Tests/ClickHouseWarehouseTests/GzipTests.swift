import CZlib
import Gzip
import Testing

@testable import ClickHouseWarehouse

@Suite struct GzipTests {
    /// zlib's own inflate, reading the gzip wrapper.
    private func gunzip(_ data: [UInt8], expectedSize: Int) -> [UInt8]? {
        var stream = z_stream()
        guard inflateInit2_(&stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
        defer { inflateEnd(&stream) }
        var input = data
        var output = [UInt8](repeating: 0, count: expectedSize + 1)
        let status = input.withUnsafeMutableBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                stream.next_in = source.baseAddress
                stream.avail_in = UInt32(source.count)
                stream.next_out = target.baseAddress
                stream.avail_out = UInt32(target.count)
                return inflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END else { return nil }
        return Array(output[..<Int(stream.total_out)])
    }

    @Test func roundTripsThroughZlibAndIsAGzipStream() throws {
        let rows = Array((0..<50_000).map { "\($0)\tsome text \($0 % 7)\t\\N\n" }.joined().utf8)
        let compressed = try Gzip.compress(rows)
        #expect(compressed.starts(with: [0x1F, 0x8B]))
        #expect(compressed.count < rows.count / 3)
        #expect(gunzip(compressed, expectedSize: rows.count) == rows)
        #expect(gunzip(try Gzip.compress([]), expectedSize: 0) == [])
    }
}
