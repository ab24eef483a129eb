public import ForagerCore

/// How one source column is stored in ClickHouse, and how PostgreSQL's text form of a value
/// becomes ClickHouse's TabSeparated form.
///
/// ClickHouse 18.16 (Debian's package) has no `DateTime64`, and its `Date` and `DateTime` cover
/// 1970 to 2105 only, so there timestamps are stored exactly as microseconds since 1970-01-01 00:00
/// UTC (`Int64`); newer servers get `DateTime64(6, 'UTC')` and, from 22.8, `Date32` (see
/// ``ClickHouseTypeGeneration``). A value outside its type's range stops the table with an error naming
/// the column, rather than being changed.
public struct ClickHouseColumn: Sendable, Equatable {
    /// The conversion of a value's text.
    public enum Conversion: Sendable, Equatable {
        /// The same text (integers, text types, uuid, json, and types stored as `String`).
        case verbatim
        /// `t`/`f` to `1`/`0` (which `Bool` reads too).
        case boolean
        /// The IEEE 754 bits of the value as an unsigned integer (`Float32` when `single`): ClickHouse
        /// 18.16 parses some decimal floats one unit in the last place off, so floats travel as
        /// bits, as external data of the insert that reinterprets them (see ``ClickHouseWarehouse``).
        case float(single: Bool)
        /// The same text; `NaN`, which `Decimal` cannot hold, is an error.
        case decimal
        /// `YYYY-MM-DD` within 1970-01-01 … 2105-12-31 (`Date`), or 1900-01-01 … 2299-12-31 when
        /// `wide` (`Date32`).
        case date(wide: Bool)
        /// Microseconds since 1970-01-01 00:00 UTC; `timestamp without time zone` is read as UTC.
        /// `infinity` and `-infinity` become the largest and smallest `Int64`.
        case timestamp
        /// `\x…` hex to the raw bytes.
        case bytea
        /// `DateTime64(6, 'UTC')` text, `2024-06-01 08:00:00.250000`, within 1925 … 2283, or 1900 …
        /// 2299 when `wide` (servers from 22.8 on). `infinity` and `-infinity` become the range's
        /// ends.
        case dateTime64(wide: Bool)
        /// A one-dimensional PostgreSQL array (`{1,NULL,3}`) to a ClickHouse array (`[1,NULL,3]`),
        /// each element converted as given; `quoted` elements are written as quoted strings.
        indirect case array(Conversion, quoted: Bool)
    }

    /// The warehouse column's name.
    public var name: String
    /// The ClickHouse type, `Nullable(…)` where the source column is nullable.
    public var type: String
    public var conversion: Conversion

    /// The ClickHouse column for a source column of PostgreSQL type `sqlType` (as `format_type`
    /// prints it), with the types of generation `types`.
    public init(name: String, sqlType: String, nullable: Bool, types: ClickHouseTypeGeneration = .classic) {
        var (base, conversion) = Self.mapping(sqlType, types: types)
        if case .array = conversion, nullable {
            // ClickHouse has no Nullable(Array(…)): a NULL array could only become an empty one.
            (base, conversion) = ("String", .verbatim)
        }
        self.name = name
        self.type = nullable ? "Nullable(\(base))" : base
        self.conversion = conversion
    }

    static func mapping(_ sqlType: String, types: ClickHouseTypeGeneration = .classic) -> (String, Conversion) {
        if sqlType.hasSuffix("[]") {
            let (element, conversion) = mapping(String(sqlType.dropLast(2)), types: types)
            if conversion == .bytea || element.hasPrefix("Array(") { return ("String", .verbatim) }
            return (
                "Array(Nullable(\(element)))",
                .array(conversion, quoted: ["String", "UUID", "Date", "Date32"].contains(element) || element.hasPrefix("DateTime64"))
            )
        }
        switch sqlType {
        case "smallint": return ("Int16", .verbatim)
        case "integer": return ("Int32", .verbatim)
        case "bigint": return ("Int64", .verbatim)
        case "real": return ("Float32", .float(single: true))
        case "double precision": return ("Float64", .float(single: false))
        case "boolean": return (types == .modern ? "Bool" : "UInt8", .boolean)
        case "uuid": return ("UUID", .verbatim)
        case "date": return types == .modern ? ("Date32", .date(wide: true)) : ("Date", .date(wide: false))
        case "bytea": return ("String", .bytea)
        default: break
        }
        if sqlType.hasPrefix("timestamp") {
            return types == .classic ? ("Int64", .timestamp) : ("DateTime64(6, 'UTC')", .dateTime64(wide: types == .modern))
        }
        if sqlType.hasPrefix("numeric("), let close = sqlType.firstIndex(of: ")") {
            let parts = sqlType[sqlType.index(sqlType.startIndex, offsetBy: 8)..<close].split(separator: ",").compactMap { Int($0) }
            if let precision = parts.first, precision <= 38 {
                return ("Decimal(\(precision), \(parts.count > 1 ? parts[1] : 0))", .decimal)
            }
        }
        return ("String", .verbatim)
    }

    /// `type` without its `Nullable(…)`.
    static func withoutNullable(_ type: String) -> String {
        type.hasPrefix("Nullable(") ? String(type.dropFirst(9).dropLast()) : type
    }

    /// True when a ClickHouse column of type `old` can become `new` in place without losing a
    /// value: wider integers, Float32 to Float64, a Decimal with at least as many integer and
    /// fraction digits, each possibly inside the same `Nullable`.
    static func widens(from old: String, to new: String) -> Bool {
        func unwrap(_ type: String) -> (String, Bool) {
            type.hasPrefix("Nullable(") ? (String(type.dropFirst(9).dropLast()), true) : (type, false)
        }
        let (from, fromNullable) = unwrap(old), (to, toNullable) = unwrap(new)
        guard fromNullable == toNullable else { return false }
        let integers = ["Int16", "Int32", "Int64"]
        if let a = integers.firstIndex(of: from), let b = integers.firstIndex(of: to) { return b > a }
        if from == "Float32" && to == "Float64" { return true }
        func decimal(_ type: String) -> (Int, Int)? {
            guard type.hasPrefix("Decimal("), type.hasSuffix(")") else { return nil }
            let parts = type.dropFirst(8).dropLast().split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            return parts.count == 2 ? (parts[0], parts[1]) : nil
        }
        if let (p1, s1) = decimal(from), let (p2, s2) = decimal(to) { return s2 >= s1 && p2 - s2 >= p1 - s1 }
        return false
    }

    /// Appends the TabSeparated form of a value given as PostgreSQL's text (nil for NULL).
    /// `table` names the table in errors.
    public func append(_ value: ArraySlice<UInt8>?, to output: inout [UInt8], table: TableName) throws(ForagerError) {
        guard let value else {
            // ClickHouse would store a type's default (0, '', []) for NULL in a column that is not
            // Nullable: the source made the column nullable since the column was made.
            guard type.hasPrefix("Nullable(") else { throw nullRefusal(table: table) }
            output.append(contentsOf: [0x5C, UInt8(ascii: "N")])
            return
        }
        switch conversion {
        case .verbatim:
            CopyTextEscapes.escape(value, into: &output)
        case .boolean:
            output.append(value.first == UInt8(ascii: "t") ? UInt8(ascii: "1") : UInt8(ascii: "0"))
        case .float(let single):
            // Swift reads PostgreSQL's shortest exact text (and NaN, Infinity, -Infinity) exactly.
            let text = String(decoding: value, as: UTF8.self)
            if single {
                guard let number = Float(text) else { throw refusal(value, table: table, why: "not a real number") }
                Self.appendDecimal(Int64(number.bitPattern), to: &output)
            } else {
                guard let number = Double(text) else { throw refusal(value, table: table, why: "not a double precision number") }
                Self.appendDecimal(number.bitPattern, to: &output)
            }
        case .decimal:
            guard value.first != UInt8(ascii: "N") else {
                throw refusal(value, table: table, why: "NaN, which ClickHouse's Decimal cannot hold")
            }
            output.append(contentsOf: value)
        case .date(let wide):
            let (first, last) = wide ? (Self.firstDate32, Self.lastDate32) : (Self.firstDate, Self.lastDate)
            guard value.count == 10, !value.lexicographicallyPrecedes(first), !last.lexicographicallyPrecedes(value) else {
                let range = "\(String(decoding: first, as: UTF8.self)) to \(String(decoding: last, as: UTF8.self))"
                throw refusal(value, table: table, why: "outside the range of ClickHouse's \(wide ? "Date32" : "Date") (\(range))")
            }
            output.append(contentsOf: value)
        case .timestamp:
            guard let microseconds = Self.microseconds(value) else {
                throw refusal(value, table: table, why: "not a timestamp Forager can read")
            }
            Self.appendDecimal(microseconds, to: &output)
        case .dateTime64(let wide):
            let range = wide ? Self.wideDateTime64Range : Self.dateTime64Range
            guard let read = Self.microseconds(value) else { throw refusal(value, table: table, why: "not a timestamp Forager can read") }
            // infinity and -infinity, as the range's ends.
            let microseconds = read == .max ? range.upperBound : read == .min ? range.lowerBound : read
            guard range.contains(microseconds) else {
                throw refusal(
                    value, table: table, why: "outside the range of ClickHouse's DateTime64 (\(wide ? "1900 to 2299" : "1925 to 2283"))")
            }
            output.append(contentsOf: Array(Self.dateTime64Text(microseconds).utf8))
        case .bytea:
            guard let bytes = Self.hexBytes(value) else { throw refusal(value, table: table, why: "not bytea in hex form") }
            CopyTextEscapes.escape(bytes[...], into: &output)
        case .array(let element, let quoted):
            try appendArray(value, of: element, quoted: quoted, to: &output, table: table)
        }
    }

    /// Appends an array's ClickHouse literal, `[e1,e2,NULL]`, each element converted by `element`
    /// and single-quoted when `quoted`.
    private func appendArray(
        _ value: ArraySlice<UInt8>, of element: Conversion, quoted: Bool, to output: inout [UInt8], table: TableName
    ) throws(ForagerError) {
        guard let elements = Self.arrayElements(value) else {
            throw refusal(
                value, table: table,
                why: "not a one-dimensional array with default bounds, which is all a ClickHouse Array column holds")
        }
        let single = ClickHouseColumn(name: name, type: "", conversion: element)
        output.append(UInt8(ascii: "["))
        var scratch: [UInt8] = []
        for (index, item) in elements.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            guard let item else {
                output.append(contentsOf: Self.nullLiteral)
                continue
            }
            scratch.removeAll(keepingCapacity: true)
            try single.append(item[...], to: &scratch, table: table)
            if quoted {
                // The element's text is written raw (dates and uuids need no escapes) and
                // quoted here; strings arrive escaped for TabSeparated and are unescaped first.
                var raw: [UInt8] = []
                CopyTextEscapes.unescape(scratch[...], into: &raw)
                Self.appendQuoted(raw, to: &output)
            } else {
                output.append(contentsOf: scratch)
            }
        }
        output.append(UInt8(ascii: "]"))
    }

    private static let nullLiteral = Array("NULL".utf8)
    /// 1925-01-01 00:00:00 to 2283-11-11 23:59:59.999999 UTC, in microseconds.
    static let dateTime64Range: ClosedRange<Int64> = -1_420_070_400_000_000...9_904_550_399_999_999
    /// 1900-01-01 00:00:00 to 2299-12-31 23:59:59.999999 UTC, in microseconds (servers from 22.8 on).
    static let wideDateTime64Range: ClosedRange<Int64> = -2_208_988_800_000_000...10_413_791_999_999_999

    /// `2024-06-01 08:00:00.250000`: a UTC time with six fraction digits, as DateTime64(6) reads it.
    static func dateTime64Text(_ micros: Int64) -> String {
        var text = timestampText(micros)
        text.removeLast(3)
        if !text.contains(".") { text += ".000000" }
        return text
    }
    private static let firstDate = Array("1970-01-01".utf8), lastDate = Array("2105-12-31".utf8)
    private static let firstDate32 = Array("1900-01-01".utf8), lastDate32 = Array("2299-12-31".utf8)

    /// Appends the decimal digits of `value`.
    static func appendDecimal(_ value: Int64, to output: inout [UInt8]) {
        if value < 0 { output.append(UInt8(ascii: "-")) }
        appendDecimal(value.magnitude, to: &output)
    }

    /// Appends `value`'s decimal digits, written right to left into a buffer on the stack and
    /// appended at once (a row's version, place and float bits go through here).
    static func appendDecimal(_ value: UInt64, to output: inout [UInt8]) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var magnitude = value
            var start = digits.count
            repeat {
                start -= 1
                digits[start] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            output.append(contentsOf: UnsafeBufferPointer(rebasing: digits[start...]))
        }
    }

    private func nullRefusal(table: TableName) -> ForagerError {
        let what =
            "column \(SQL.quoteIdentifier(name)) of \(table) has a NULL, which its ClickHouse column (\(type)) cannot hold: the source made the column nullable"
        guard case .array = conversion else {
            return ForagerError(
                .warehouse, what,
                hint:
                    "Nothing is lost: Forager starts the stream again from its checkpoint and makes the ClickHouse column Nullable first.",
                isTransient: true)
        }
        return ForagerError(
            .schema, what + " (a nullable array is stored as String, which an Array column cannot become in place)",
            hint: "Resync the table to recreate it: forager resync --table \(table), then start Forager again.")
    }

    private func refusal(_ value: ArraySlice<UInt8>, table: TableName, why: String) -> ForagerError {
        let shown = String(decoding: value.prefix(64), as: UTF8.self)
        return ForagerError(
            .schema, "column \(SQL.quoteIdentifier(name)) of \(table) has the value '\(shown)', \(why)",
            hint:
                "Store the column as text in ClickHouse: add types: {\(name): text} to the table's mapping, then resync the table (forager resync --table \(table))."
        )
    }

    init(name: String, type: String, conversion: Conversion) {
        self.name = name
        self.type = type
        self.conversion = conversion
    }

    /// A quoted string inside an array: backslash, quote, tab, newline, carriage return and NUL
    /// escaped.
    static func appendQuoted(_ raw: [UInt8], to output: inout [UInt8]) {
        output.append(UInt8(ascii: "'"))
        for byte in raw {
            switch byte {
            case 0x5C: output.append(contentsOf: [0x5C, 0x5C])
            case UInt8(ascii: "'"): output.append(contentsOf: [0x5C, UInt8(ascii: "'")])
            case 0x09: output.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0x0A: output.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: output.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0: output.append(contentsOf: [0x5C, UInt8(ascii: "0")])
            default: output.append(byte)
            }
        }
        output.append(UInt8(ascii: "'"))
    }

    /// The elements of a one-dimensional PostgreSQL array in its text form (`{1,"a b",NULL}`),
    /// unquoted; nil for a multi-dimensional array, one with explicit bounds, or malformed text.
    static func arrayElements(_ text: ArraySlice<UInt8>) -> [[UInt8]?]? {
        guard text.first == UInt8(ascii: "{"), text.last == UInt8(ascii: "}") else { return nil }
        var elements: [[UInt8]?] = []
        var index = text.startIndex + 1
        let end = text.endIndex - 1
        if index == end { return [] }
        while index <= end {
            var element: [UInt8] = []
            if text[index] == UInt8(ascii: "\"") {
                index += 1
                while index < end, text[index] != UInt8(ascii: "\"") {
                    if text[index] == 0x5C { index += 1 }
                    guard index < end else { return nil }
                    element.append(text[index])
                    index += 1
                }
                guard index < end else { return nil }
                index += 1
                elements.append(element)
            } else {
                while index < end, text[index] != UInt8(ascii: ",") {
                    if text[index] == UInt8(ascii: "{") || text[index] == UInt8(ascii: "\"") { return nil }
                    element.append(text[index])
                    index += 1
                }
                elements.append(element.count == 4 && String(decoding: element, as: UTF8.self).uppercased() == "NULL" ? nil : element)
            }
            if index == end { break }
            guard text[index] == UInt8(ascii: ",") else { return nil }
            index += 1
        }
        return elements
    }

    /// `\x0aff` → [0x0a, 0xff].
    static func hexBytes(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        guard text.count >= 2, text.first == 0x5C, text[text.startIndex + 1] == UInt8(ascii: "x"), text.count % 2 == 0 else { return nil }
        func nibble(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.count / 2 - 1)
        var index = text.startIndex + 2
        while index < text.endIndex {
            guard let high = nibble(text[index]), let low = nibble(text[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    /// Microseconds since 1970-01-01 00:00 UTC of a timestamp in PostgreSQL's ISO output
    /// (`2024-06-01 10:00:00.25+02`, `0044-03-15 12:00:00 BC`, `infinity`); nil when unreadable.
    static func microseconds(_ text: String) -> Int64? {
        microseconds(Array(text.utf8)[...])
    }

    /// The same, from the bytes of the text, without allocating.
    static func microseconds(_ text: ArraySlice<UInt8>) -> Int64? {
        var reader = DigitReader(bytes: text)
        if text.first == UInt8(ascii: "i") { return text.elementsEqual("infinity".utf8) ? Int64.max : nil }
        if text.first == UInt8(ascii: "-") { return text.elementsEqual("-infinity".utf8) ? Int64.min : nil }
        guard let year = reader.number(), reader.skip("-"), let month = reader.number(), reader.skip("-"), let day = reader.number() else {
            return nil
        }
        var seconds: Int64 = 0, fraction: Int64 = 0, offset: Int64 = 0
        if reader.peek == UInt8(ascii: " "), reader.peekNext != UInt8(ascii: "B") {
            reader.advance()
            guard let hours = reader.number(), reader.skip(":"), let minutes = reader.number(), reader.skip(":"),
                let whole = reader.number()
            else { return nil }
            seconds = hours * 3600 + minutes * 60 + whole
            if reader.skip(".") {
                var scale: Int64 = 100_000
                while let digit = reader.digit() {
                    fraction += Int64(digit) * scale
                    scale /= 10
                }
            }
            if let sign = reader.peek, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
                reader.advance()
                guard let zoneHours = reader.number() else { return nil }
                var magnitude = zoneHours * 3600
                if reader.skip(":"), let zoneMinutes = reader.number() { magnitude += zoneMinutes * 60 }
                if reader.skip(":"), let zoneSeconds = reader.number() { magnitude += zoneSeconds }
                offset = sign == UInt8(ascii: "-") ? -magnitude : magnitude
            }
        }
        var astronomicalYear = year
        if reader.skip(" ") {
            guard reader.skip("B"), reader.skip("C") else { return nil }
            astronomicalYear = 1 - year
        }
        guard reader.atEnd else { return nil }
        let days = CivilCalendar.days(year: astronomicalYear, month: month, day: day)
        return (days * 86_400 + seconds - offset) * 1_000_000 + fraction
    }

    /// The `DEFAULT` expression that gives rows written before the column was added the value
    /// PostgreSQL's older rows read for it: `missing` is `pg_attribute.attmissingval`, the array
    /// text of one value (`{5}`). ClickHouse reads it for parts that lack the column, as
    /// PostgreSQL does for rows written before its `ADD COLUMN … DEFAULT`.
    public func missingDefault(_ missing: String, table: TableName) throws(ForagerError) -> String {
        guard let elements = Self.arrayElements(Array(missing.utf8)[...]), elements.count == 1 else {
            throw ForagerError(
                .schema,
                "column \(SQL.quoteIdentifier(name)) of \(table) has a value for rows older than the column that Forager cannot read: \(missing)",
                hint: "Resync the table (forager resync --table \(table)) so that its rows are copied with the column's values.")
        }
        guard let value = elements[0] else { return "NULL" }
        var staged: [UInt8] = []
        try append(value[...], to: &staged, table: table)
        var raw: [UInt8] = []
        if case .array = conversion { raw = staged } else { CopyTextEscapes.unescape(staged[...], into: &raw) }
        return fromStaging("CAST(\(Self.byteLiteral(raw)) AS \(stagingType))")
    }

    /// A string literal of any bytes: quote and backslash escaped, other bytes outside printable
    /// ASCII as `\xHH`.
    static func byteLiteral(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var literal: [UInt8] = [UInt8(ascii: "'")]
        for byte in bytes {
            switch byte {
            case 0x5C, UInt8(ascii: "'"): literal += [0x5C, byte]
            case 0x20..<0x7F: literal.append(byte)
            default: literal += [0x5C, UInt8(ascii: "x"), digits[Int(byte >> 4)], digits[Int(byte & 0xF)]]
            }
        }
        literal.append(UInt8(ascii: "'"))
        return String(decoding: literal, as: UTF8.self)
    }

    /// Whether values travel as float bits (see ``Conversion/float(single:)``).
    var carriesFloatBits: Bool {
        switch conversion {
        case .float, .array(.float, _): true
        default: false
        }
    }

    /// The column's type in the rows sent (as external data): floats as their bits.
    var stagingType: String {
        type.replacingOccurrences(of: "Float64", with: "UInt64").replacingOccurrences(of: "Float32", with: "UInt32")
    }

    /// The expression that turns `quoted`, a value of the type the rows were sent in, into the column's type.
    func fromStaging(_ quoted: String) -> String {
        guard carriesFloatBits else { return quoted }
        let float = type.contains("Float32") ? "Float32" : "Float64"
        func value(_ x: String, nullable: Bool) -> String {
            nullable
                ? "if(isNull(\(x)), NULL, reinterpretAs\(float)(reinterpretAsString(assumeNotNull(\(x)))))"
                : "reinterpretAs\(float)(reinterpretAsString(\(x)))"
        }
        if case .array = conversion { return "arrayMap(v -> \(value("v", nullable: true)), \(quoted))" }
        return value(quoted, nullable: type.hasPrefix("Nullable("))
    }
}
