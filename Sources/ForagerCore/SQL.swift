/// SQL text helpers. Every identifier Forager sends to a server goes through `quoteIdentifier`.
public enum SQL {
    /// `name` as a double-quoted identifier, with embedded quotes doubled: `my "x"` becomes `"my ""x"""`.
    public static func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingAll("\"", with: "\"\"") + "\""
    }

    /// `value` as a single-quoted string literal, with embedded quotes doubled. Backslashes are
    /// literal because `standard_conforming_strings` is on in every supported server.
    public static func quoteLiteral(_ value: String) -> String {
        "'" + value.replacingAll("'", with: "''") + "'"
    }
}

extension String {
    func replacingAll(_ target: Character, with replacement: String) -> String {
        guard contains(target) else { return self }
        var result = ""
        result.reserveCapacity(count + 2)
        for character in self {
            if character == target { result += replacement } else { result.append(character) }
        }
        return result
    }
}

extension SQL {
    /// Session settings that pin the text form of values, so that what the source prints the
    /// warehouse parses back to the same value whatever the servers' defaults are.
    public static let canonicalTextSettings: [(String, String)] = [
        ("datestyle", "ISO"),
        ("intervalstyle", "postgres"),
        ("extra_float_digits", "3"),
        ("bytea_output", "hex"),
        ("client_encoding", "UTF8"),
    ]
}
