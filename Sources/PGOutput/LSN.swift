/// A position in the write-ahead log (PostgreSQL's `pg_lsn` / `XLogRecPtr`).
///
/// Written as two hexadecimal halves, `16/B374D848`, as PostgreSQL prints it.
/// See [Streaming Replication Protocol](https://www.postgresql.org/docs/15/protocol-replication.html).
public struct LSN: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var value: UInt64

    public init(_ value: UInt64) {
        self.value = value
    }

    /// The invalid / start position `0/0`.
    public static let zero = LSN(0)

    /// Parses `hi/lo`, each half 1 to 8 hexadecimal digits (either case); nil when malformed.
    public init?(string: String) {
        var high: UInt64 = 0
        var low: UInt64 = 0
        var digits = 0
        var seenSlash = false
        for byte in string.utf8 {
            let nibble: UInt64
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = UInt64(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = UInt64(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = UInt64(byte - UInt8(ascii: "A") + 10)
            case UInt8(ascii: "/"):
                guard !seenSlash, digits > 0 else { return nil }
                seenSlash = true
                digits = 0
                continue
            default:
                return nil
            }
            digits += 1
            guard digits <= 8 else { return nil }
            if seenSlash {
                low = low << 4 | nibble
            } else {
                high = high << 4 | nibble
            }
        }
        guard seenSlash, digits > 0 else { return nil }
        self.value = high << 32 | low
    }

    public var description: String {
        String(value >> 32, radix: 16, uppercase: true) + "/"
            + String(value & 0xFFFF_FFFF, radix: 16, uppercase: true)
    }

    public static func < (lhs: LSN, rhs: LSN) -> Bool {
        lhs.value < rhs.value
    }
}
