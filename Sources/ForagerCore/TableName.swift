/// A schema-qualified table name, as the server stores it (case preserved, no quotes).
public struct TableName: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var schema: String
    public var name: String

    public init(schema: String, name: String) {
        self.schema = schema
        self.name = name
    }

    /// Parses a name written as in SQL: `schema.table`, `table` (schema `defaultSchema`), with
    /// double quotes where a part needs them (`public."Weird Table"`, `"a.b"."c"""`). Unquoted parts
    /// are folded to lower case, as PostgreSQL does.
    public init(parsing text: String, defaultSchema: String = "public") throws(TableNameError) {
        let parts = try SQLNameParts.split(text).map { part in
            String(part.map { $0.quoted ? $0.character : Character($0.character.lowercased()) })
        }
        switch parts.count {
        case 1: self.init(schema: defaultSchema, name: parts[0])
        default: self.init(schema: parts[0], name: parts[1])
        }
    }

    /// The name quoted for SQL: `"schema"."name"`.
    public var sql: String { SQL.quoteIdentifier(schema) + "." + SQL.quoteIdentifier(name) }

    /// The name as a person writes it, quoted only where needed.
    public var description: String { Self.display(schema) + "." + Self.display(name) }

    static func display(_ part: String) -> String {
        let plain =
            part.first.map { $0 == "_" || ($0.isASCII && $0.isLetter) } ?? false
            && part.allSatisfy { $0 == "_" || ($0.isASCII && ($0.isLowercase || $0.isNumber)) }
        return plain ? part : SQL.quoteIdentifier(part)
    }

    public static func < (lhs: TableName, rhs: TableName) -> Bool {
        (lhs.schema, lhs.name) < (rhs.schema, rhs.name)
    }
}

/// A table name that could not be parsed.
public struct TableNameError: Error, Sendable, Equatable, CustomStringConvertible {
    public var text: String
    public var reason: String
    public var description: String { "invalid table name '\(text)': \(reason)" }
}

/// The parts of a name written as in SQL, each character with whether it was inside double quotes.
enum SQLNameParts {
    typealias Part = [(character: Character, quoted: Bool)]

    /// Splits `schema.table` or `table` into one or two parts; a doubled quote inside quotes is one
    /// quote character.
    static func split(_ text: String) throws(TableNameError) -> [Part] {
        var parts: [Part] = []
        var current: Part = []
        var quoted = false
        var wasQuoted = false
        var iterator = Array(text).makeIterator()
        var pending: Character? = iterator.next()
        while let character = pending {
            pending = iterator.next()
            if quoted {
                if character == "\"" {
                    if pending == "\"" {
                        current.append(("\"", true))
                        pending = iterator.next()
                    } else {
                        quoted = false
                    }
                } else {
                    current.append((character, true))
                }
            } else if character == "\"" {
                guard current.isEmpty, !wasQuoted else { throw TableNameError(text: text, reason: "a quote in the middle of a name part") }
                quoted = true
                wasQuoted = true
            } else if character == "." {
                guard !current.isEmpty else { throw TableNameError(text: text, reason: "an empty name part") }
                parts.append(current)
                current = []
                wasQuoted = false
            } else if character.isWhitespace && !wasQuoted && current.isEmpty {
                continue
            } else {
                guard !wasQuoted else { throw TableNameError(text: text, reason: "characters after a closing quote") }
                if character.isWhitespace {
                    throw TableNameError(text: text, reason: "a space in an unquoted name (quote it: \"\(text)\")")
                }
                current.append((character, false))
            }
        }
        guard !quoted else { throw TableNameError(text: text, reason: "an unclosed double quote") }
        guard !current.isEmpty else { throw TableNameError(text: text, reason: "an empty name part") }
        parts.append(current)
        guard parts.count <= 2 else {
            throw TableNameError(text: text, reason: "more than two dot-separated parts; write schema.table")
        }
        return parts
    }
}
