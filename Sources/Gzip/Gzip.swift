internal import CZlib

/// gzip compression at zlib's fastest level: the point is fewer bytes on the network (request
/// bodies, objects staged in S3), not the smallest body.
public enum Gzip {
    /// The gzip-compressed form of `data`.
    public static func compress(_ data: [UInt8]) throws -> [UInt8] {
        var stream = z_stream()
        // windowBits 15 + 16 asks zlib for a gzip header and trailer.
        guard
            deflateInit2_(&stream, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK
        else {
            throw GzipError()
        }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(data.count))) + 32)
        var input = data
        let status = input.withUnsafeMutableBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                stream.next_in = source.baseAddress
                stream.avail_in = UInt32(source.count)
                stream.next_out = target.baseAddress
                stream.avail_out = UInt32(target.count)
                return deflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END else { throw GzipError() }
        output.removeSubrange(Int(stream.total_out)...)
        return output
    }
}

/// zlib refused to compress (out of memory).
public struct GzipError: Error, CustomStringConvertible {
    public var description: String { "zlib could not compress a body" }
}
