import ForagerCore

/// Reading TabSeparated text: ClickHouse's responses, and PostgreSQL's COPY text rows (whose
/// escapes are a subset of the same scheme).
enum TabSeparated {
    /// Splits one line (without its newline) into fields, unescaped; nil for `\N`. A tab inside a
    /// value is always escaped, so every tab byte separates fields.
    static func fields(_ line: ArraySlice<UInt8>) -> [[UInt8]?] {
        line.split(separator: 0x09, omittingEmptySubsequences: false).map { field in
            if field.count == 2, field.first == 0x5C, field.last == UInt8(ascii: "N") { return nil }
            var value: [UInt8] = []
            CopyTextEscapes.unescape(field, into: &value)
            return value
        }
    }

    /// The rows of a whole response.
    static func rows(_ text: String) -> [[[UInt8]?]] {
        let bytes = Array(text.utf8)
        return bytes.split(separator: 0x0A, omittingEmptySubsequences: true).map { fields($0) }
    }
}
