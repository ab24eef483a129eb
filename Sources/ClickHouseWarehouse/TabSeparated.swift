/// Reading TabSeparated text: ClickHouse's responses, and PostgreSQL's COPY text rows (whose
/// escapes are a subset of the same scheme).
enum TabSeparated {
    /// Splits one line (without its newline) into fields, unescaped; nil for `\N`. A tab inside a
    /// value is always escaped, so every tab byte separates fields.
    static func fields(_ line: ArraySlice<UInt8>) -> [[UInt8]?] {
        line.split(separator: 0x09, omittingEmptySubsequences: false).map { field in
            if field.count == 2, field.first == 0x5C, field.last == UInt8(ascii: "N") { return nil }
            var value: [UInt8] = []
            unescape(field, into: &value)
            return value
        }
    }

    /// Appends the bytes an escaped field stands for.
    static func unescape(_ field: ArraySlice<UInt8>, into output: inout [UInt8]) {
        var index = field.startIndex
        while index < field.endIndex {
            let byte = field[index]
            if byte == 0x5C, index + 1 < field.endIndex {
                index += 1
                switch field[index] {
                case UInt8(ascii: "t"): output.append(0x09)
                case UInt8(ascii: "n"): output.append(0x0A)
                case UInt8(ascii: "r"): output.append(0x0D)
                case UInt8(ascii: "b"): output.append(0x08)
                case UInt8(ascii: "f"): output.append(0x0C)
                case UInt8(ascii: "v"): output.append(0x0B)
                case UInt8(ascii: "0"): output.append(0)
                default: output.append(field[index])
                }
            } else {
                output.append(byte)
            }
            index += 1
        }
    }

    /// The rows of a whole response.
    static func rows(_ text: String) -> [[[UInt8]?]] {
        let bytes = Array(text.utf8)
        return bytes.split(separator: 0x0A, omittingEmptySubsequences: true).map { fields($0) }
    }
}
