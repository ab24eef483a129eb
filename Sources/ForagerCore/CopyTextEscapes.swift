/// The escapes of PostgreSQL's COPY text format, which ClickHouse's TabSeparated shares: a
/// backslash before `t n r b f v 0` stands for that control byte, before anything else for the
/// byte itself.
public enum CopyTextEscapes {
    /// Appends `value` escaped: backslash, tab, newline and carriage return, the bytes that would
    /// otherwise end a field or a row, and NUL (as `\0`, which ClickHouse needs and PostgreSQL's
    /// text never holds); every other byte stands for itself.
    @inlinable
    public static func escape(_ value: ArraySlice<UInt8>, into output: inout [UInt8]) {
        var needsEscape = false
        for byte in value where byte == 0x5C || byte == 0x09 || byte == 0x0A || byte == 0x0D || byte == 0 {
            needsEscape = true
            break
        }
        guard needsEscape else {
            output.append(contentsOf: value)
            return
        }
        for byte in value {
            switch byte {
            case 0x5C: output.append(0x5C); output.append(0x5C)
            case 0x09: output.append(0x5C); output.append(UInt8(ascii: "t"))
            case 0x0A: output.append(0x5C); output.append(UInt8(ascii: "n"))
            case 0x0D: output.append(0x5C); output.append(UInt8(ascii: "r"))
            case 0: output.append(0x5C); output.append(UInt8(ascii: "0"))
            default: output.append(byte)
            }
        }
    }

    /// Appends the bytes an escaped field stands for.
    @inlinable
    public static func unescape(_ field: ArraySlice<UInt8>, into output: inout [UInt8]) {
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
}
