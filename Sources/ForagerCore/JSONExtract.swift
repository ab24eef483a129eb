/// A warehouse column computed from a field inside a `json` or `jsonb` source column (`extract`).
///
/// In a Postgres warehouse it is a stored generated column, so the snapshot and the stream fill it
/// the same way. A missing field, a JSON null or a value of the wrong kind gives NULL, never an error.
public struct JSONExtract: Sendable, Equatable {
    /// The warehouse types an extract can produce.
    public enum ValueType: String, Sendable, CaseIterable {
        case smallint, integer, bigint, real
        case doublePrecision = "double precision"
        case numeric, boolean, text, jsonb
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
    /// `sourceType` (`json` or `jsonb`). Immutable, so it can define a generated column.
    public func expression(source: String, sourceType: String) -> String {
        let json = sourceType == "json" ? "\(source)::jsonb" : source
        let pathLiteral = SQL.quoteLiteral("{" + path.map { "\"" + $0.replacingAll("\\", with: "\\\\").replacingAll("\"", with: "\\\"") + "\"" }.joined(separator: ",") + "}")
        let value = "(\(json) #> \(pathLiteral))"
        let kind = "jsonb_typeof\(value)"
        let text = "(\(value) #>> '{}')"
        // Numbers the target type cannot hold (too large, too small, not whole) give NULL, not an error.
        func number(_ bound: String, integral: Bool, smallest: String? = nil) -> String {
            let shape = integral ? " AND \(text) ~ '^-?[0-9]+$'" : ""
            let tiny = smallest.map { " AND (\(text)::numeric = 0 OR abs(\(text)::numeric) >= \($0))" } ?? ""
            return "CASE WHEN \(kind) = 'number'\(shape) AND abs(\(text)::numeric) <= \(bound)\(tiny) THEN \(text)::\(type.rawValue) END"
        }
        switch type {
        case .smallint: return number("32767", integral: true)
        case .integer: return number("2147483647", integral: true)
        case .bigint: return number("9223372036854775807", integral: true)
        case .real: return number("3.4e38", integral: false, smallest: "1.5e-45")
        case .doublePrecision: return number("1.7e308", integral: false, smallest: "5e-324")
        case .numeric: return "CASE WHEN \(kind) = 'number' THEN \(text)::numeric END"
        case .boolean: return "CASE WHEN \(kind) = 'boolean' THEN \(text)::boolean END"
        case .text: return "CASE WHEN \(kind) <> 'null' THEN \(text) END"
        case .jsonb: return "CASE WHEN \(kind) <> 'null' THEN \(value) END"
        }
    }
}
