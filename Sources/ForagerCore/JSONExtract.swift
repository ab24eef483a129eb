/// A warehouse column computed from a field inside a `json` or `jsonb` source column (`extract`).
///
/// A Postgres warehouse computes it with ``expression(source:sourceType:)`` as rows are written, in
/// the snapshot and in the stream alike. A missing field, a JSON null or a value of the wrong kind
/// gives NULL, never an error.
public struct JSONExtract: Sendable, Equatable {
    /// The warehouse types an extract can produce.
    public enum ValueType: String, Sendable, CaseIterable {
        case smallint, integer, bigint, real
        case doublePrecision = "double precision"
        case numeric, boolean, text, jsonb
        /// An ISO 8601 date string: `2024-06-01`.
        case date
        /// An ISO 8601 date and time without offset: `2024-06-01T10:00:00` (a string with an offset
        /// is of the wrong kind, as the offset would be dropped).
        case timestamp
        /// An ISO 8601 date and time; without an offset, UTC: `2024-06-01T10:00:00+02:00`.
        case timestamptz
    }

    /// The new warehouse column.
    public var column: String
    /// The source column holding the JSON.
    public var from: String
    /// Keys and array indexes, outermost first: `climate.temp` is `["climate", "temp"]`,
    /// `readings[0]` is `["readings", "0"]`.
    public var path: [String]
    public var type: ValueType

    public init(column: String, from: String, path: [String], type: ValueType) {
        self.column = column
        self.from = from
        self.path = path
        self.type = type
    }

    /// Splits `climate.temp`, `readings[0].value` or `"odd.key".x` into path elements; nil when malformed.
    public static func parsePath(_ text: String) -> [String]? {
        var elements: [String] = []
        var current = ""
        var characters = Array(text)[...]
        var expectElement = true
        while let character = characters.first {
            characters = characters.dropFirst()
            switch character {
            case "\"":
                guard expectElement, current.isEmpty, let end = characters.firstIndex(of: "\"") else { return nil }
                current = String(characters[..<end])
                characters = characters[(end + 1)...]
                guard !current.isEmpty else { return nil }
                expectElement = false
            case ".":
                guard !current.isEmpty else { return nil }
                elements.append(current)
                current = ""
                expectElement = true
            case "[":
                guard !current.isEmpty || !elements.isEmpty, let end = characters.firstIndex(of: "]") else { return nil }
                let index = String(characters[..<end])
                guard !index.isEmpty, index.allSatisfy(\.isNumber) else { return nil }
                if !current.isEmpty { elements.append(current) }
                current = ""
                elements.append(index)
                characters = characters[(end + 1)...]
                expectElement = false
                if let next = characters.first, next != "." && next != "[" { return nil }
                if characters.first == "." {
                    characters = characters.dropFirst()
                    expectElement = true
                    guard !characters.isEmpty else { return nil }
                }
            default:
                guard expectElement || current.isEmpty == false else { return nil }
                current.append(character)
            }
        }
        if !current.isEmpty { elements.append(current) }
        guard !elements.isEmpty, !text.hasSuffix(".") else { return nil }
        return elements
    }

    /// The SQL expression computing the value from the quoted JSON column `source` of type
    /// `sourceType` (`json` or `jsonb`). It never raises an error: every cast is guarded.
    public func expression(source: String, sourceType: String) -> String {
        let value = fieldValue(source: source, sourceType: sourceType)
        let kind = "jsonb_typeof\(value)"
        let text = "(\(value) #>> '{}')"
        // Numbers the target type cannot hold (too large, too small, not whole) give NULL, not an error.
        func integer(_ low: String, _ high: String) -> String {
            "CASE WHEN \(kind) = 'number' AND \(text) ~ '^-?[0-9]+$' THEN CASE WHEN \(text)::numeric BETWEEN \(low) AND \(high) THEN \(text)::\(type.rawValue) END END"
        }
        func float(_ largest: String, _ smallest: String) -> String {
            "CASE WHEN \(kind) = 'number' THEN CASE WHEN abs(\(text)::numeric) <= \(largest) AND (\(text)::numeric = 0 OR abs(\(text)::numeric) >= \(smallest)) THEN \(text)::\(type.rawValue) END END"
        }
        // ISO 8601 only, checked before casting: the cast would accept words such as 'now', and
        // raise an error on an impossible date.
        let day = "(0[1-9]|[12][0-9]|3[01])"
        let date = "[0-9]{4}-(0[1-9]|1[0-2])-\(day)"
        let time = "([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\\.[0-9]+)?)?)?"
        let zone = "(Z|[+-](0[0-9]|1[0-5])(:?[0-5][0-9])?)"
        func calendar(_ pattern: String, _ cast: String) -> String {
            let lastDay = "extract(day from (left(\(text), 7) || '-01')::date + interval '1 month' - interval '1 day')"
            return
                "CASE WHEN \(kind) = 'string' AND \(text) ~ '^\(pattern)$' AND left(\(text), 4) <> '0000' THEN CASE WHEN substr(\(text), 9, 2)::int <= \(lastDay) THEN \(cast) END END"
        }
        switch type {
        case .smallint: return integer("-32768", "32767")
        case .integer: return integer("-2147483648", "2147483647")
        case .bigint: return integer("-9223372036854775808", "9223372036854775807")
        case .real: return float("3.4e38", "1.5e-45")
        case .doublePrecision: return float("1.7e308", "5e-324")
        case .numeric: return "CASE WHEN \(kind) = 'number' THEN \(text)::numeric END"
        case .boolean: return "CASE WHEN \(kind) = 'boolean' THEN \(text)::boolean END"
        case .text: return "CASE WHEN \(kind) <> 'null' THEN \(text) END"
        case .jsonb: return "CASE WHEN \(kind) <> 'null' THEN \(value) END"
        case .date: return calendar(date, "\(text)::date")
        case .timestamp: return calendar(date + time, "\(text)::timestamp")
        case .timestamptz:
            return calendar(
                date + time + zone + "?",
                "CASE WHEN \(text) ~ '\(zone)$' THEN \(text)::timestamptz ELSE (\(text) || '+00')::timestamptz END")
        }
    }

    /// SQL that is true when the field is present and not a JSON null, so that a NULL from
    /// ``expression(source:sourceType:)`` means a value of the wrong kind.
    public func presence(source: String, sourceType: String) -> String {
        "coalesce(jsonb_typeof\(fieldValue(source: source, sourceType: sourceType)), 'null') <> 'null'"
    }

    private func fieldValue(source: String, sourceType: String) -> String {
        let json = sourceType == "json" ? "\(source)::jsonb" : source
        let pathLiteral = SQL.quoteLiteral(
            "{" + path.map { "\"" + $0.replacingAll("\\", with: "\\\\").replacingAll("\"", with: "\\\"") + "\"" }.joined(separator: ",")
                + "}")
        return "(\(json) #> \(pathLiteral))"
    }
}
