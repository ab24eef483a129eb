import Yams

/// Walks the YAML of a configuration and its mapping files, collecting every problem on the way
/// instead of stopping at the first.
struct ConfigurationReader {
    typealias Problem = ConfigurationError.Problem
    typealias Code = ConfigurationError.Code

    /// The configuration file's path as given, for messages.
    let configFile: String
    /// The configuration file's absolute path.
    let configPath: String
    let environment: [String: String]
    private(set) var problems: [Problem] = []
    private var fileOrder: [String] = []

    init(configFile: String, environment: [String: String]) {
        self.configFile = configFile
        self.configPath = FilePaths.absolute(configFile)
        self.environment = environment
        self.fileOrder = [configFile]
    }

    /// Notes that `file` is read now, so its problems are listed after those of earlier files
    /// even when found later (duplicates across files).
    mutating func startReading(_ file: String) {
        if !fileOrder.contains(file) { fileOrder.append(file) }
    }

    mutating func report(_ code: Code, _ file: String, _ line: Int?, _ key: String, _ message: String) {
        startReading(file)
        problems.append(Problem(code: code, file: file, line: line, key: key, message: message))
    }

    /// The problems grouped by file in the order the files were read, then by line (problems
    /// about a whole file first); otherwise in the order they were found.
    func sortedProblems() -> [Problem] {
        let rank = Dictionary(fileOrder.enumerated().map { ($1, $0) }, uniquingKeysWith: min)
        return problems.enumerated().sorted { lhs, rhs in
            let left = (rank[lhs.element.file] ?? .max, lhs.element.line ?? 0, lhs.offset)
            let right = (rank[rhs.element.file] ?? .max, rhs.element.line ?? 0, rhs.offset)
            return left < right
        }.map(\.element)
    }

    // MARK: YAML

    enum Composed {
        case node(Node)
        /// Nothing but comments or white space.
        case empty
        /// A syntax error, reported.
        case failed
    }

    mutating func compose(_ text: String, file: String, isMappingFile: Bool) -> Composed {
        do {
            guard let node = try Yams.compose(yaml: text) else { return .empty }
            return .node(node)
        } catch let error as YamlError {
            let (line, message) = Self.describe(error, text: text, isMappingFile: isMappingFile)
            report(.malformedYAML, file, line, "", message)
        } catch {
            report(.malformedYAML, file, nil, "", "not valid YAML (\(error)); fix the syntax")
        }
        return .failed
    }

    /// The parser's message and line. Yams's own description quotes the offending line, which may
    /// hold a connection URL with a password, so it is not used.
    static func describe(_ error: YamlError, text: String, isMappingFile: Bool) -> (line: Int?, message: String) {
        let fix = "fix the YAML syntax at this line (check the indentation, a missing ':' or an unclosed quote)"
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _),
            let .composer(context, problem, mark, _):
            var message = "not valid YAML: \(problem) at column \(mark.column)"
            if let context {
                message += " (\(context.text) that started at line \(context.mark.line))"
            }
            message += "; " + fix
            let lines = [mark.line, context?.mark.line].compactMap { $0 }
            if isMappingFile, lines.contains(where: { startsWithQuotedTableName(line: $0, of: text) }) {
                message +=
                    ". A table name that starts with a double quote must be wrapped in single quotes,"
                    + " as in source: '\"Weird Schema\".samples'"
            }
            return (mark.line, message)
        case let .reader(problem, offset, _, _):
            let line = offset.map { YAMLText.line(atUTF8Offset: $0, of: text) }
            return (line, "not valid YAML: \(problem); remove or replace the offending character")
        case let .duplicatedKeysInMapping(duplicates, context):
            let names = duplicates.map { "'\($0)'" }.joined(separator: ", ")
            let verb = duplicates.count == 1 ? "appears" : "appear"
            return (context.mark.line, "the key \(names) \(verb) more than once in the same mapping; keep only one")
        default:
            return (nil, "not valid YAML (\(error)); " + fix)
        }
    }

    private static func startsWithQuotedTableName(line: Int, of text: String) -> Bool {
        guard var rest = YAMLText.line(line, of: text)?.drop(while: { $0 == " " || $0 == "-" }) else { return false }
        for key in ["source:", "target:"] where rest.hasPrefix(key) {
            rest = rest.dropFirst(key.count).drop(while: { $0 == " " })
            return rest.hasPrefix("\"")
        }
        return false
    }

    // MARK: Mappings and scalars

    /// The section `name` at the top level of the configuration file, read as ``section`` reads one.
    mutating func topLevelSection(_ name: String, of top: YAMLSection, allowed: [String], expected: String) -> YAMLSection {
        section(
            top[name]?.value, file: configFile, path: name, line: top[name]?.line, allowed: allowed, place: "in \(name)", expected: expected
        )
    }

    /// The options under a mapping entry's `field`, read as ``section`` reads one.
    mutating func options(of field: YAMLField, file: String, allowed: [String], expected: String) -> YAMLSection {
        section(field.value, file: file, path: field.key, line: field.line, allowed: allowed, place: "in \(field.key)", expected: expected)
    }

    /// Checks a YAML mapping's keys against `allowed`, reporting unknown ones. An absent or empty
    /// (`null`) value is an empty section; any other kind is reported as `expected`.
    ///
    /// - Parameter place: where the keys are, for messages: `in source`, `at the top level`.
    /// - Parameter hints: messages for unknown keys that are common mistakes, in place of a suggestion.
    mutating func section(
        _ node: Node?, file: String, path: String, line: Int?, allowed: [String], place: String,
        expected: String, hints: [String: String] = [:]
    ) -> YAMLSection {
        var section = YAMLSection(path: path, line: line, isPresent: node != nil, isUsable: true, fields: [:])
        guard let node, !node.isNull else { return section }
        guard case .mapping(let mapping) = node else {
            section.isUsable = false
            let subject = path.isEmpty ? "the top level" : path
            report(.wrongKind, file, line ?? node.line, path, "\(subject) must be \(expected); found \(node.kindDescription)")
            return section
        }
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode, allowed.contains(scalar.string) else {
                let name = keyNode.scalar?.string ?? keyNode.kindDescription
                if Self.mayHoldPassword(name) {
                    report(
                        .unknownKey, file, keyNode.line, section.key("(connection string)"),
                        "unknown key that looks like a connection string \(place) (not shown, as it may hold a "
                            + "password); write it as the value of url, as in url: \"postgresql://user@host/dbname\""
                    )
                    continue
                }
                let message = hints[name] ?? KeySuggestion.unknownKeyMessage(name, place: place, valid: allowed)
                report(.unknownKey, file, keyNode.line, section.key(name), message)
                continue
            }
            section.fields[scalar.string] = YAMLField(key: section.key(scalar.string), line: keyNode.line, value: value)
        }
        return section
    }

    /// Text that may be a connection string, so is never echoed.
    static func mayHoldPassword(_ text: String) -> Bool {
        text.contains("://") || text.contains("=") || text.contains("@") || text.lowercased().contains("password")
    }

    /// A scalar's text. A mapping, a list or no value is reported as not being `expected`, followed
    /// by `fix`.
    mutating func text(_ field: YAMLField, file: String, expected: String, fix: String) -> String? {
        if case .scalar(let scalar) = field.value, !field.value.isNull {
            return scalar.string
        }
        let code: Code = field.value.isNull ? .missingKey : .wrongKind
        let found = field.value.isNull ? "has no value" : "must be \(expected), not \(field.value.kindDescription)"
        report(code, file, field.line, field.key, "\(found); \(fix)")
        return nil
    }

    /// A list of names (`[a, b]` or one `- a` per line); a single name is accepted as a list of one.
    mutating func nameList(_ field: YAMLField, file: String, fix: String) -> [String]? {
        let items: [Node]
        switch field.value {
        case .sequence(let sequence): items = Array(sequence)
        case .scalar where !field.value.isNull: items = [field.value]
        default:
            report(
                field.value.isNull ? .missingKey : .wrongKind, file, field.line, field.key,
                "must be a list of column names, not \(field.value.kindDescription); \(fix)")
            return nil
        }
        var names: [String] = []
        for (index, item) in items.enumerated() {
            guard case .scalar(let scalar) = item, !item.isNull, !scalar.string.isEmpty else {
                report(
                    .wrongKind, file, item.line ?? field.line, "\(field.key)[\(index)]",
                    "must be a column name, not \(item.kindDescription); \(fix)")
                return nil
            }
            names.append(scalar.string)
        }
        return names
    }

    /// `true` or `false` (YAML's other spellings, such as `yes`, are refused as unclear).
    mutating func boolean(_ field: YAMLField, file: String, fix: String) -> Bool? {
        guard let text = text(field, file: file, expected: "true or false", fix: fix) else { return nil }
        switch text {
        case "true": return true
        case "false": return false
        default:
            report(.wrongKind, file, field.line, field.key, "must be true or false, not '\(text)'; \(fix)")
            return nil
        }
    }

    /// A whole number of at least 1, written plainly (`50000`, `50_000`).
    mutating func positiveInteger(_ field: YAMLField, file: String, fix: String, atLeast minimum: Int = 1) -> Int? {
        guard let text = text(field, file: file, expected: "a whole number", fix: fix) else { return nil }
        let digits = text.filter { $0 != "_" }
        let body = digits.hasPrefix("-") || digits.hasPrefix("+") ? digits.dropFirst() : Substring(digits)
        guard !body.isEmpty, body.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            report(.wrongKind, file, field.line, field.key, "must be a whole number, not '\(text)'; \(fix)")
            return nil
        }
        guard let value = Int(digits) else {
            report(.invalidValue, file, field.line, field.key, "\(text) is too large; \(fix)")
            return nil
        }
        guard value >= minimum else {
            report(.invalidValue, file, field.line, field.key, "must be at least \(minimum), not \(value); \(fix)")
            return nil
        }
        return value
    }

    /// PostgreSQL's limit on names (NAMEDATALEN - 1); longer names are silently truncated.
    static let maximumNameBytes = 63

    /// Checks a PostgreSQL name: not empty and at most 63 bytes. `what` names it ("a publication
    /// name"); `fallback` says what to do instead of leaving it empty.
    mutating func checkName(_ name: String, field: YAMLField, file: String, what: String, fallback: String) -> Bool {
        if name.isEmpty {
            report(.invalidValue, file, field.line, field.key, "is empty; write \(what), or \(fallback)")
            return false
        }
        if name.utf8.count > Self.maximumNameBytes {
            report(
                .invalidValue, file, field.line, field.key,
                "'\(name)' is \(name.utf8.count) bytes long, but PostgreSQL names are at most "
                    + "\(Self.maximumNameBytes) bytes (UTF-8); shorten it"
            )
            return false
        }
        return true
    }
}
