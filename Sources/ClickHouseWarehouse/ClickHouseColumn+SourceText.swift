import ForagerCore

/// Back from ClickHouse to PostgreSQL's text form: for values the source did not send again
/// (unchanged TOAST values, rows kept by `deletes: soft`).
extension ClickHouseColumn {
    /// PostgreSQL's text form of a value ClickHouse returned for a column with `conversion` (the
    /// reverse of ``append(_:to:table:)``), for values the source did not send again; nil when
    /// unreadable. Arrays arrive as their elements' text, hex-encoded: `V3132,N` for `['12', NULL]`.
    static func sourceText(of value: [UInt8], conversion: Conversion) -> [UInt8]? {
        switch conversion {
        case .verbatim, .decimal: return value
        case .bytea:
            let hex = Array("0123456789abcdef".utf8)
            var text: [UInt8] = [0x5C, UInt8(ascii: "x")]
            for byte in value { text += [hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]] }
            return text
        case .boolean: return Array((value == [UInt8(ascii: "1")] || value == Array("true".utf8) ? "t" : "f").utf8)
        case .float:
            // ClickHouse prints floats exactly, as nan, inf and -inf for the special values.
            switch String(decoding: value, as: UTF8.self) {
            case "nan": return Array("NaN".utf8)
            case "inf": return Array("Infinity".utf8)
            case "-inf": return Array("-Infinity".utf8)
            default: return value
            }
        case .date: return value == Array("0000-00-00".utf8) ? Array("1970-01-01".utf8) : value
        case .timestamp:
            guard let micros = Int64(String(decoding: value, as: UTF8.self)) else { return nil }
            return Array(timestampText(micros).utf8)
        case .dateTime64(let wide):
            let range = wide ? wideDateTime64Range : dateTime64Range
            if value == Array(dateTime64Text(range.upperBound).utf8) { return Array("infinity".utf8) }
            if value == Array(dateTime64Text(range.lowerBound).utf8) { return Array("-infinity".utf8) }
            return value + Array("+00".utf8)
        case .array(let element, _):
            var text: [UInt8] = [UInt8(ascii: "{")]
            for (index, item) in value.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false).enumerated()
            where !(value.isEmpty && index == 0) {
                if index > 0 { text.append(UInt8(ascii: ",")) }
                if item == [UInt8(ascii: "N")][...] {
                    text += Array("NULL".utf8)
                    continue
                }
                guard item.first == UInt8(ascii: "V"), let raw = hexDigits(item.dropFirst()),
                    let converted = sourceText(of: raw, conversion: element)
                else { return nil }
                text.append(UInt8(ascii: "\""))
                for byte in converted {
                    if byte == UInt8(ascii: "\"") || byte == 0x5C { text.append(0x5C) }
                    text.append(byte)
                }
                text.append(UInt8(ascii: "\""))
            }
            text.append(UInt8(ascii: "}"))
            return text
        }
    }

    /// The expression that prints a key column's values the same on every server version, for
    /// finding rows by key: `toString`, except that decimals lose their trailing zeros (18.16 prints
    /// `Decimal(10,2)` 1.5 as `1.50`, servers from 21.9 on as `1.5`).
    var keyText: String {
        let text = "toString(\(ClickHouseClient.quote(name)))"
        guard conversion == .decimal else { return text }
        return "replaceRegexpOne(\(text), '(\\\\.[0-9]*[1-9])0+$|\\\\.0+$', '\\\\1')"
    }

    /// A decimal's text without the trailing zeros of its fraction (and without the point when
    /// nothing is left of it), as ``keyText`` prints it: `1.50` -> `1.5`, `2.00` -> `2`, `100` -> `100`.
    static func withoutTrailingZeros(_ text: [UInt8]) -> [UInt8] {
        guard text.contains(UInt8(ascii: ".")) else { return text }
        var trimmed = text[...]
        while trimmed.last == UInt8(ascii: "0") { trimmed = trimmed.dropLast() }
        if trimmed.last == UInt8(ascii: ".") { trimmed = trimmed.dropLast() }
        return Array(trimmed)
    }

    /// Bytes from hex digits without a prefix.
    static func hexDigits(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        hexBytes([0x5C, UInt8(ascii: "x")] + text)
    }

    /// `2024-06-01 10:00:00.123456+00` for microseconds since 1970 UTC; `infinity` and
    /// `-infinity` for the extremes.
    static func timestampText(_ micros: Int64) -> String {
        if micros == Int64.max { return "infinity" }
        if micros == Int64.min { return "-infinity" }
        let seconds = micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000
        let fraction = micros - seconds * 1_000_000
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let time = seconds - days * 86_400
        let (year, month, day) = CivilCalendar.date(fromDays: days)
        func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let yearText = year > 0 ? String(String(year).leftPadded(to: 4)) : String(String(1 - year).leftPadded(to: 4))
        var text = "\(yearText)-\(two(month))-\(two(day)) \(two(time / 3600)):\(two(time % 3600 / 60)):\(two(time % 60))"
        if fraction > 0 { text += "." + String(String(fraction).leftPadded(to: 6)) }
        text += "+00"
        if year <= 0 { text += " BC" }
        return text
    }
}

/// Reads digits and separators from bytes.
struct DigitReader {
    let bytes: ArraySlice<UInt8>
    var index: Int

    init(bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        self.index = bytes.startIndex
    }

    var atEnd: Bool { index >= bytes.endIndex }
    var peek: UInt8? { index < bytes.endIndex ? bytes[index] : nil }
    var peekNext: UInt8? { index + 1 < bytes.endIndex ? bytes[index + 1] : nil }

    mutating func advance() { index += 1 }

    /// Skips `character` when it comes next.
    mutating func skip(_ character: Unicode.Scalar) -> Bool {
        guard peek == UInt8(ascii: character) else { return false }
        index += 1
        return true
    }

    mutating func digit() -> UInt8? {
        guard let byte = peek, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
        index += 1
        return byte - UInt8(ascii: "0")
    }

    /// One or more digits.
    mutating func number() -> Int64? {
        guard var value = digit().map(Int64.init) else { return nil }
        while let next = digit() { value = value * 10 + Int64(next) }
        return value
    }
}

extension String {
    /// The string with zeros in front, to `width` characters.
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
