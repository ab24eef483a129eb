public import ForagerCore
public import PGOutput

/// Encoding of values into PostgreSQL's COPY text format: tab-separated, `\N` for NULL, with
/// backslash, tab, newline and carriage return escaped.
public enum CopyText {
    /// The NULL marker `\N`.
    public static let null: [UInt8] = [0x5C, UInt8(ascii: "N")]

    /// Appends a row of tuple columns, then `lsn` as `_forager_lsn` and, when given, `deleted` as
    /// `_forager_deleted`, then a newline: the apply's path for every row, with no intermediate
    /// strings or arrays.
    public static func appendRow(_ columns: [TupleColumn], lsn: LSN, deleted: Bool?, to output: inout [UInt8]) throws(ForagerError) {
        for index in columns.indices {
            try append(columns[index], to: &output)
            output.append(0x09)
        }
        appendHex(lsn.value >> 32, to: &output)
        output.append(UInt8(ascii: "/"))
        appendHex(lsn.value & 0xFFFF_FFFF, to: &output)
        if let deleted {
            output.append(0x09)
            output.append(deleted ? UInt8(ascii: "t") : UInt8(ascii: "f"))
        }
        output.append(0x0A)
    }

    /// Appends one column's value; an unchanged-TOAST column here is a bug in the caller, which
    /// must resolve it first.
    @inline(__always)
    static func append(_ column: TupleColumn, to output: inout [UInt8]) throws(ForagerError) {
        switch column {
        case .null: output.append(contentsOf: null)
        case .text(let bytes): CopyTextEscapes.escape(bytes, into: &output)
        case .binary:
            throw ForagerError(.protocolViolation, "received a binary column value, but Forager asked for text")
        case .unchangedToast:
            throw ForagerError(.protocolViolation, "an unchanged TOAST value reached the COPY encoder unresolved")
        }
    }

    /// Appends `value` in upper-case hexadecimal, without leading zeros (as `LSN.description`).
    static func appendHex(_ value: UInt64, to output: inout [UInt8]) {
        let digits: StaticString = "0123456789ABCDEF"
        var shift = max(0, (UInt64.bitWidth - value.leadingZeroBitCount + 3) / 4 * 4 - 4)
        while true {
            let nibble = Int((value >> UInt64(shift)) & 0xF)
            output.append(digits.utf8Start[nibble])
            if shift == 0 { break }
            shift -= 4
        }
    }

    /// Appends a whole row of tuple columns followed by `extra` text fields and a newline.
    public static func appendRow(
        _ columns: some Sequence<TupleColumn>, extra: [String], to output: inout [UInt8]
    ) throws(ForagerError) {
        var first = true
        for column in columns {
            if !first { output.append(0x09) }
            first = false
            try append(column, to: &output)
        }
        for field in extra {
            if !first { output.append(0x09) }
            first = false
            CopyTextEscapes.escape(ArraySlice(field.utf8), into: &output)
        }
        output.append(0x0A)
    }
}
