internal import CZlib

/// gzip compression at zlib's fastest level: the point is fewer bytes on the network (request
/// bodies, objects staged in S3), not the smallest body.
public enum Gzip {
    /// windowBits 15 + 16 asks zlib for a gzip header and trailer (and to read them back).
    private static let gzipWindowBits: Int32 = 15 + 16

    /// The gzip-compressed form of `data`.
    public static func compress(_ data: [UInt8]) throws -> [UInt8] {
        var stream = z_stream()
        let started = deflateInit2_(
            &stream, 1, Z_DEFLATED, gzipWindowBits, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard started == Z_OK else { throw GzipError(action: "compress") }
        defer { deflateEnd(&stream) }
        let capacity = Int(deflateBound(&stream, UInt(data.count))) + 32
        return try finish(&stream, data, capacity: capacity, action: "compress", step: deflate)
    }

    /// The bytes a gzip stream holds, read by zlib's inflate; throws unless they fit in `capacity` bytes.
    public static func decompress(_ data: [UInt8], capacity: Int) throws -> [UInt8] {
        var stream = z_stream()
        guard inflateInit2_(&stream, gzipWindowBits, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw GzipError(action: "decompress")
        }
        defer { inflateEnd(&stream) }
        // One byte of room more than allowed, so that a stream that would not fit cannot end exactly at the room's end.
        let bytes = try finish(&stream, data, capacity: capacity + 1, action: "decompress", step: inflate)
        guard bytes.count <= capacity else { throw GzipError(action: "decompress") }
        return bytes
    }

    /// Runs `step` (deflate or inflate) once over all of `data` into a buffer of `capacity` bytes.
    private static func finish(
        _ stream: inout z_stream, _ data: [UInt8], capacity: Int, action: String,
        step: (UnsafeMutablePointer<z_stream>?, Int32) -> Int32
    ) throws -> [UInt8] {
        var output = [UInt8](repeating: 0, count: capacity)
        var input = data
        let status = input.withUnsafeMutableBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                stream.next_in = source.baseAddress
                stream.avail_in = UInt32(source.count)
                stream.next_out = target.baseAddress
                stream.avail_out = UInt32(target.count)
                return step(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END else { throw GzipError(action: action) }
        output.removeSubrange(Int(stream.total_out)...)
        return output
    }
}

/// zlib could not compress (out of memory) or decompress (not a whole gzip stream, or larger
/// than the room given).
public struct GzipError: Error, CustomStringConvertible {
    /// "compress" or "decompress".
    public var action: String
    public var description: String { "zlib could not \(action) a body" }
}
