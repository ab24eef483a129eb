/// Why a decode failed, kept as plain values so the hot path never builds a String;
/// the text is only rendered when the failure is turned into a `PGOutputDecodingError`.
enum DecodeFailure: Error {
    case empty
    case truncated(needed: Int, offset: Int, left: Int)
    case unterminatedString(offset: Int)
    case negativeLength(Int32, offset: Int)
    case negativeCount(what: StaticString, value: Int, offset: Int)
    case unexpectedByte(what: StaticString, value: UInt8, offset: Int)
    case unknownMessageType(UInt8)
    case trailingBytes(Int)

    var reason: String {
        switch self {
        case .empty:
            return "empty message"
        case .truncated(let needed, let offset, let left):
            return "truncated: needed \(needed) bytes at offset \(offset), \(left) left"
        case .unterminatedString(let offset):
            return "unterminated string at offset \(offset)"
        case .negativeLength(let value, let offset):
            return "negative length \(value) at offset \(offset)"
        case .negativeCount(let what, let value, let offset):
            return "negative \(what) count \(value) at offset \(offset)"
        case .unexpectedByte(let what, let value, let offset):
            return "unexpected \(what) \(describeByte(value)) at offset \(offset)"
        case .unknownMessageType(let type):
            return "unknown message type \(describeByte(type))"
        case .trailingBytes(let count):
            return "\(count) trailing bytes after message"
        }
    }
}

/// Renders a protocol byte the way the docs name it: `'B'` when printable ASCII, `0x05` otherwise.
func describeByte(_ byte: UInt8) -> String {
    if byte >= 0x20 && byte < 0x7F {
        return "'\(Character(Unicode.Scalar(byte)))'"
    }
    return "0x" + hexByte(byte)
}

func hexByte(_ byte: UInt8) -> String {
    let hex = String(byte, radix: 16, uppercase: true)
    return byte < 0x10 ? "0" + hex : hex
}

/// A forward-only cursor over one message. Offsets in errors are relative to the
/// start of the message so they match a hex dump of `PGOutputDecodingError.bytes`.
struct ByteReader {
    let bytes: ArraySlice<UInt8>
    private(set) var index: Int

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        self.index = bytes.startIndex
    }

    @inline(__always)
    var remaining: Int { bytes.endIndex - index }

    @inline(__always)
    var offset: Int { index - bytes.startIndex }

    @inline(__always)
    func require(_ count: Int) throws(DecodeFailure) {
        guard count <= remaining else {
            throw .truncated(needed: count, offset: offset, left: remaining)
        }
    }

    /// The next byte, left unread.
    @inline(__always)
    func peekUInt8() throws(DecodeFailure) -> UInt8 {
        try require(1)
        return bytes[index]
    }

    @inline(__always)
    mutating func readUInt8() throws(DecodeFailure) -> UInt8 {
        try require(1)
        let value = bytes[index]
        index += 1
        return value
    }

    @inline(__always)
    mutating func readBigEndian<T: FixedWidthInteger & UnsignedInteger>(_: T.Type) throws(DecodeFailure) -> T {
        let size = MemoryLayout<T>.size
        try require(size)
        var value: T = 0
        for i in index..<(index + size) {
            value = (value &<< 8) | T(bytes[i])
        }
        index += size
        return value
    }

    mutating func readInt16() throws(DecodeFailure) -> Int16 { Int16(bitPattern: try readBigEndian(UInt16.self)) }
    mutating func readUInt32() throws(DecodeFailure) -> UInt32 { try readBigEndian(UInt32.self) }
    mutating func readInt32() throws(DecodeFailure) -> Int32 { Int32(bitPattern: try readBigEndian(UInt32.self)) }
    mutating func readUInt64() throws(DecodeFailure) -> UInt64 { try readBigEndian(UInt64.self) }
    mutating func readInt64() throws(DecodeFailure) -> Int64 { Int64(bitPattern: try readBigEndian(UInt64.self)) }

    mutating func readLSN() throws(DecodeFailure) -> LSN { LSN(try readUInt64()) }

    mutating func readTimestamp() throws(DecodeFailure) -> PostgresTimestamp {
        PostgresTimestamp(microseconds: try readInt64())
    }

    /// A NUL-terminated string; invalid UTF-8 is repaired, never trapped on.
    mutating func readCString() throws(DecodeFailure) -> String {
        guard let nul = bytes[index...].firstIndex(of: 0) else {
            throw .unterminatedString(offset: offset)
        }
        let value = String(decoding: bytes[index..<nul], as: UTF8.self)
        index = nul + 1
        return value
    }

    /// `count` bytes as a slice of the input (no copy).
    mutating func readBytes(count: Int) throws(DecodeFailure) -> ArraySlice<UInt8> {
        try require(count)
        let slice = bytes[index..<(index + count)]
        index += count
        return slice
    }

    /// An Int32 length prefix followed by that many bytes; negative lengths are errors.
    mutating func readLengthPrefixedBytes() throws(DecodeFailure) -> ArraySlice<UInt8> {
        let lengthOffset = offset
        let length = try readInt32()
        guard length >= 0 else { throw .negativeLength(length, offset: lengthOffset) }
        return try readBytes(count: Int(length))
    }

    /// Everything that is left (used for the payload of XLogData).
    mutating func readRest() -> ArraySlice<UInt8> {
        let slice = bytes[index...]
        index = bytes.endIndex
        return slice
    }
}
