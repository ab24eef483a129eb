public import ForagerCore
public import PGOutput

/// Rows in the CSV that Redshift's `COPY ... FORMAT CSV NULL AS '<forager:null>'` reads: fields
/// separated by commas, every value in double quotes (a quote inside doubled), NULL the unquoted
/// marker, which no quoted value can be (a value equal to the marker is refused all the same). Values arrive in PostgreSQL's text form and are written as Redshift
/// reads them (see ``RedshiftValueKind``); a value Redshift cannot hold is a ``ValueProblem``,
/// never cut or changed, unless its table's mapping asks for text to be cut (`.truncatedText`).
public enum RedshiftCSV {
    /// The NULL marker, unquoted (``RedshiftSQL/nullMarker``).
    public static let null: [UInt8] = Array(RedshiftSQL.nullMarker.utf8)
    /// The most bytes Redshift's COPY takes in one row.
    public static let maxRowBytes = 4 << 20

    /// Why a value cannot be written: its column's position and what is wrong.
    public struct ValueProblem: Error, Sendable, Equatable {
        /// The value's position in the row.
        public var column: Int
        public var reason: String
    }

    /// Appends one value (nil for NULL) of a column of `kind`.
    public static func append(_ value: ArraySlice<UInt8>?, kind: RedshiftValueKind, column: Int, to output: inout [UInt8])
        throws(ValueProblem)
    {
        guard let value else { return output.append(contentsOf: null) }
        quoted(try converted(value, kind: kind, column: column), to: &output)
    }

    /// A value of a column of `kind` as Redshift reads it, before quoting; throws when Redshift
    /// cannot hold it.
    public static func converted(_ value: ArraySlice<UInt8>, kind: RedshiftValueKind, column: Int) throws(ValueProblem) -> ArraySlice<UInt8>
    {
        func problem(_ reason: String) -> ValueProblem { ValueProblem(column: column, reason: reason) }
        if value.count == null.count, value.elementsEqual(null) {
            throw problem("the value is the staged CSV's NULL marker \(RedshiftSQL.nullMarker)")
        }
        switch kind {
        case .plain, .float, .json:
            return value
        case .decimal:
            if value.contains(where: { $0 == UInt8(ascii: "N") || $0 == UInt8(ascii: "I") }) {
                throw problem("DECIMAL cannot hold \(String(decoding: value, as: UTF8.self))")
            }
            return value
        case .dateTime:
            if value.last == UInt8(ascii: "y"), value.elementsEqual("infinity".utf8) || value.elementsEqual("-infinity".utf8) {
                throw problem("Redshift dates and timestamps cannot hold \(String(decoding: value, as: UTF8.self))")
            }
            return value
        case .text(let maxBytes):
            guard value.count <= maxBytes else {
                throw problem("a value of \(value.count) bytes is over the \(maxBytes) that VARCHAR(\(maxBytes)) holds")
            }
            return value
        case .truncatedText(let maxBytes):
            return truncated(value, toBytes: maxBytes)
        case .varbyte(let maxBytes):
            guard value.count >= 2, value.first == 0x5C, value[value.startIndex + 1] == UInt8(ascii: "x") else {
                throw problem("a bytea value is not in hex form (bytea_output = hex)")
            }
            guard (value.count - 2) / 2 <= maxBytes else {
                throw problem("a value of \((value.count - 2) / 2) bytes is over the \(maxBytes) that VARBYTE(\(maxBytes)) holds")
            }
            // Redshift's COPY loads an empty one as NULL: the stage's `_forager_empty` marks it.
            return value.dropFirst(2)
        case .lsn:
            guard let lsn = LSN(string: String(decoding: value, as: UTF8.self)) else {
                throw problem("'\(String(decoding: value, as: UTF8.self))' is not a pg_lsn")
            }
            return ArraySlice(String(lsn.value).utf8)
        }
    }

    /// `value` (UTF-8) cut to at most `maxBytes` bytes, at a character's boundary.
    public static func truncated(_ value: ArraySlice<UInt8>, toBytes maxBytes: Int) -> ArraySlice<UInt8> {
        guard value.count > maxBytes else { return value }
        var end = value.startIndex + maxBytes
        // A continuation byte (10xxxxxx) at the cut belongs to the character before it.
        while end > value.startIndex, value[end] & 0xC0 == 0x80 { end -= 1 }
        return value[value.startIndex..<end]
    }

    /// Counts, by column position, the values of `truncatedText` columns that are cut when
    /// written; looks only at those columns (most tables have none).
    struct TruncationCount: Sendable {
        private let limits: [(position: Int, maxBytes: Int)]
        /// How many values were cut, by column position.
        private(set) var byPosition: [Int: Int] = [:]

        init(kinds: [RedshiftValueKind]) {
            limits = kinds.enumerated().compactMap { position, kind in
                guard case .truncatedText(let maxBytes) = kind else { return nil }
                return (position, maxBytes)
            }
        }

        /// Counts a row's values that are cut; `length` gives the bytes of the value at a position
        /// (nil for NULL).
        @inline(__always)
        mutating func count(_ length: (Int) -> Int?) {
            for (position, maxBytes) in limits where (length(position) ?? 0) > maxBytes {
                byPosition[position, default: 0] += 1
            }
        }
    }

    /// Appends `value` in double quotes, with quotes inside doubled.
    @inline(__always)
    static func quoted(_ value: ArraySlice<UInt8>, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        if value.contains(UInt8(ascii: "\"")) {
            for byte in value {
                output.append(byte)
                if byte == UInt8(ascii: "\"") { output.append(byte) }
            }
        } else {
            output.append(contentsOf: value)
        }
        output.append(UInt8(ascii: "\""))
    }

    /// Appends a row of stream values of columns of `kinds` (`.unchangedToast` written as NULL:
    /// the apply fills it from the warehouse row), then `extra` fields, then a newline.
    public static func appendRow(
        _ values: [TupleColumn], kinds: [RedshiftValueKind], extra: [ArraySlice<UInt8>?], to output: inout [UInt8]
    ) throws(ValueProblem) {
        let start = output.count
        for (index, value) in values.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            switch value {
            case .text(let bytes): try append(bytes, kind: kinds[index], column: index, to: &output)
            case .null, .unchangedToast: output.append(contentsOf: null)
            case .binary: throw ValueProblem(column: index, reason: "a value arrived in binary; the Redshift warehouse reads text")
            }
        }
        try appendExtra(extra, first: values.isEmpty, start: start, to: &output)
    }

    /// Appends the row's extra (metadata) fields, quoted, and the newline; checks the row's size.
    static func appendExtra(_ extra: [ArraySlice<UInt8>?], first: Bool, start: Int, to output: inout [UInt8]) throws(ValueProblem) {
        for (index, field) in extra.enumerated() {
            if index > 0 || !first { output.append(UInt8(ascii: ",")) }
            if let field { quoted(field, to: &output) } else { output.append(contentsOf: null) }
        }
        output.append(0x0A)
        guard output.count - start <= maxRowBytes else {
            let size = output.count - start
            output.removeSubrange(start...)
            throw ValueProblem(
                column: -1, reason: "the row takes \(size) bytes in CSV, over the \(maxRowBytes) Redshift's COPY takes in one row")
        }
    }

    /// The positions of the empty values (`\x`) of VARBYTE columns in a row.
    static func emptyVarbytes(_ values: [TupleColumn], kinds: [RedshiftValueKind]) -> [Int] {
        values.indices.filter { index in
            guard case .varbyte = kinds[index], case .text(let value) = values[index] else { return false }
            return value.count == 2
        }
    }

    /// Positions as a staged field, `,3,7,`; nil when there are none.
    static func positionList(_ positions: [Int]) -> ArraySlice<UInt8>? {
        positions.isEmpty ? nil : ArraySlice(("," + positions.map { "\($0)," }.joined()).utf8)
    }

    /// The text of a key for messages: `(id)=(42)`, as PostgreSQL names a row.
    public static func describeKey(_ table: MappedTable, values: [ArraySlice<UInt8>?]) -> String {
        let names = table.warehouseKey.map(SQL.quoteIdentifier).joined(separator: ", ")
        let shown = values.map { $0.map { String(decoding: $0.prefix(200), as: UTF8.self) } ?? "NULL" }.joined(separator: ", ")
        return "(\(names))=(\(shown))"
    }
}
