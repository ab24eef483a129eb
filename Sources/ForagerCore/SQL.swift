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

    /// One value: how many more connections the server takes from the current role, the least of
    /// what `max_connections` leaves after the reserved and the open client sessions, and what the
    /// role's `CONNECTION LIMIT` leaves after its own sessions (walsenders included; none for a
    /// superuser or a role without a limit).
    public static let freeConnectionsQuery = """
        SELECT least(
            current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int
                - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int,
            (SELECT CASE WHEN r.rolconnlimit < 0 OR r.rolsuper THEN 2147483647
                    ELSE r.rolconnlimit - (SELECT count(*) FROM pg_stat_activity WHERE usename = current_user)::int END
             FROM pg_roles AS r WHERE r.rolname = current_user))
        """
}
