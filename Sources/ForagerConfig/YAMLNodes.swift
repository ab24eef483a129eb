import Yams

extension Node {
    /// The 1-based line the node starts on.
    var line: Int? { mark?.line }

    /// The resolved tag (`Tag.name` is not public).
    private var tagName: Tag.Name { Tag.Name(rawValue: tag.rawValue) }

    /// `~`, `null` or nothing at all after a key.
    var isNull: Bool {
        if case .scalar = self { return tagName == .null }
        return false
    }

    /// The node's kind as a message names it: "a mapping", "a list", "a number", "text"...
    var kindDescription: String {
        switch self {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar:
            switch tagName {
            case .null: return "no value"
            case .int, .float: return "a number"
            case .bool: return "true/false"
            default: return "text"
            }
        }
    }
}

/// A key of a YAML mapping that Forager knows, with its value.
struct YAMLField {
    /// The dotted path, such as `source.slot`.
    var key: String
    /// The line of the key.
    var line: Int?
    var value: Node
}

/// A YAML mapping whose keys were checked against the allowed ones.
struct YAMLSection {
    /// The dotted path of the mapping itself; empty at the top level of a file.
    var path: String
    /// The line of the key that introduced the mapping, if any.
    var line: Int?
    /// `false` when the mapping is absent, or was not a mapping (which was reported).
    var isPresent: Bool
    /// `false` when the value was not a mapping; then nothing more is reported about its keys.
    var isUsable: Bool
    var fields: [String: YAMLField]

    subscript(name: String) -> YAMLField? { fields[name] }

    func key(_ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }
}

enum YAMLText {
    /// The text of line `line` (1-based), for hints about a syntax error; never shown to the user,
    /// since it may hold a connection URL.
    static func line(_ line: Int, of text: String) -> Substring? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        return lines.indices.contains(line - 1) ? lines[line - 1] : nil
    }

    /// The 1-based line of a UTF-8 byte offset.
    static func line(atUTF8Offset offset: Int, of text: String) -> Int {
        1 + text.utf8.prefix(offset).reduce(0) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
    }
}
