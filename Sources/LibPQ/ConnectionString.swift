internal import CLibPQ

/// A parsed libpq connection string: either a URI (`postgresql://user@host:5432/db?sslmode=require`)
/// or `key=value` pairs (`host=... dbname=...`). Parsing is libpq's own, so every keyword libpq
/// understands works here, and the usual `PG*` environment variables apply at connect time.
public struct ConnectionString: Sendable, CustomStringConvertible {
    /// The keywords that were set, in libpq's order.
    public private(set) var parameters: [(key: String, value: String)]

    /// Parses `text`; throws with libpq's explanation when it is malformed.
    public init(_ text: String) throws(PGError) {
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(text, &errorMessage) else {
            let message = errorMessage.map { String(cString: $0) } ?? "out of memory"
            if let errorMessage { PQfreemem(errorMessage) }
            throw PGError(
                kind: .usage, context: "parsing connection string",
                message: message.trimmedTrailingNewlines,
                hint: "Use a libpq URI (postgresql://user@host:port/dbname) or key=value pairs.")
        }
        defer { PQconninfoFree(options) }
        var parameters: [(key: String, value: String)] = []
        var cursor = options
        while let keyword = cursor.pointee.keyword {
            if let value = cursor.pointee.val {
                parameters.append((String(cString: keyword), String(cString: value)))
            }
            cursor += 1
        }
        self.parameters = parameters
    }

    /// The value of `key`, if set.
    public subscript(key: String) -> String? {
        get { parameters.last(where: { $0.key == key })?.value }
        set {
            parameters.removeAll { $0.key == key }
            if let newValue { parameters.append((key, newValue)) }
        }
    }

    /// Appends `-c name=value` settings to the `options` keyword, keeping what the user set.
    public mutating func addServerSettings(_ settings: [(String, String)]) {
        let extra = settings.map { "-c \($0.0)=\($0.1)" }.joined(separator: " ")
        if let existing = self["options"], !existing.isEmpty {
            self["options"] = existing + " " + extra
        } else {
            self["options"] = extra
        }
    }

    /// A form safe to print: host, port, user and database only, never a password.
    public var description: String {
        let host = self["host"] ?? self["hostaddr"] ?? "localhost"
        let port = self["port"].map { ":\($0)" } ?? ""
        let user = self["user"].map { "\($0)@" } ?? ""
        let database = self["dbname"].map { "/\($0)" } ?? ""
        return "postgresql://\(user)\(host)\(port)\(database)"
    }
}

extension String {
    var trimmedTrailingNewlines: String {
        var result = self
        while let last = result.last, last.isNewline || last == " " { result.removeLast() }
        return result
    }
}
