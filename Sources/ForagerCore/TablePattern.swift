/// A set of tables written as in SQL with shell-style wildcards: `public.*`, `sensors.reading_?`,
/// `*.events`. `*` matches any run of characters and `?` one character, in unquoted parts only;
/// quoted parts (`public."Weird*"`) match literally, and unquoted letters are folded to lower case.
public struct TablePattern: Hashable, Sendable, CustomStringConvertible {
    /// One element of a part: a literal character or a wildcard.
    enum Element: Hashable, Sendable {
        case character(Character)
        /// `*`
        case anyRun
        /// `?`
        case anyOne
    }

    let schema: [Element]
    let name: [Element]
    /// The text as written.
    public let text: String

    /// Parses a pattern; a bare name (`samples`, `reading_*`) means schema `defaultSchema`.
    public init(parsing text: String, defaultSchema: String = "public") throws(TableNameError) {
        let parts = try SQLNameParts.split(text).map { part in
            part.map { element -> Element in
                guard !element.quoted else { return .character(element.character) }
                switch element.character {
                case "*": return .anyRun
                case "?": return .anyOne
                default: return .character(Character(element.character.lowercased()))
                }
            }
        }
        self.text = text
        if parts.count == 1 {
            schema = defaultSchema.map(Element.character)
            name = parts[0]
        } else {
            schema = parts[0]
            name = parts[1]
        }
    }

    /// True when the text has a wildcard outside quotes, so it names a set of tables rather than one.
    public static func hasWildcard(_ text: String) -> Bool {
        guard let parts = try? SQLNameParts.split(text) else { return false }
        return parts.contains { $0.contains { !$0.quoted && ($0.character == "*" || $0.character == "?") } }
    }

    public func matches(_ table: TableName) -> Bool {
        Self.matches(schema[...], Array(table.schema)[...]) && Self.matches(name[...], Array(table.name)[...])
    }

    public var description: String { text }

    /// Wildcard matching with backtracking to the last `*`; linear in practice for names.
    private static func matches(_ pattern: ArraySlice<Element>, _ text: ArraySlice<Character>) -> Bool {
        var p = pattern.startIndex, t = text.startIndex
        var star: (pattern: Int, text: Int)?
        while t < text.endIndex {
            if p < pattern.endIndex {
                switch pattern[p] {
                case .anyRun:
                    star = (p, t)
                    p += 1
                    continue
                case .anyOne:
                    p += 1
                    t += 1
                    continue
                case .character(let character) where character == text[t]:
                    p += 1
                    t += 1
                    continue
                case .character:
                    break
                }
            }
            guard let last = star else { return false }
            p = last.pattern + 1
            t = last.text + 1
            star = (last.pattern, last.text + 1)
        }
        while p < pattern.endIndex, pattern[p] == .anyRun { p += 1 }
        return p == pattern.endIndex
    }
}
