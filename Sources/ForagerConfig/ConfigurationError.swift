/// Every problem found while loading a configuration, each naming the file, line and key, and what
/// to do about it.
///
/// Loading does not stop at the first problem: the configuration file, the mapping files and the
/// environment overrides are all checked, and everything wrong is reported together, so one edit
/// fixes them all. No message ever contains a connection URL, since one may hold a password.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    /// The problems, grouped by file in the order the files were read, and by line within a file.
    public var problems: [Problem]

    public init(problems: [Problem]) {
        self.problems = problems
    }

    /// `"N problem(s) in the configuration:"` followed by one line per problem.
    public var description: String {
        (["\(problems.count) problem(s) in the configuration:"] + problems.map(\.description))
            .joined(separator: "\n")
    }

    /// One thing wrong with the configuration.
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        /// What kind of problem this is, for code that reacts to some kinds differently.
        public var code: Code
        /// The file as the user gave it: the configuration file's path as passed to `load`, or a
        /// mapping file's path (the configuration file's directory joined with the `mappings` value).
        public var file: String
        /// The 1-based line, or `nil` when the problem is about the file as a whole (a key that is
        /// absent, a file that cannot be read, an environment variable).
        public var line: Int?
        /// The dotted path of the key, such as `source.url` or `tables[2].source` (entries of
        /// `tables` count from 0); empty when the problem is not about one key (a YAML syntax error).
        public var key: String
        /// What is wrong and what to do about it.
        public var message: String

        /// `file:line: key: message`, such as `forager.yaml:3: source.slot: ...`; the line and the
        /// key are left out when there is none.
        public var description: String {
            var text = file
            if let line { text += ":\(line)" }
            text += ": "
            if !key.isEmpty { text += key + ": " }
            return text + message
        }
    }

    /// The kind of a ``Problem``. New kinds may be added, so do not switch over them exhaustively.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case malformedYAML
            case unknownKey
            case missingKey
            case wrongKind
            case invalidValue
            case unreadableFile
            case duplicate
        }

        private let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// The text is not valid YAML (the parser's message and line are given).
        public static let malformedYAML = Code(.malformedYAML)
        /// A key that Forager does not know, usually a typo.
        public static let unknownKey = Code(.unknownKey)
        /// A required key is absent.
        public static let missingKey = Code(.missingKey)
        /// A value of the wrong kind: a mapping where text is expected, a word where a number is.
        public static let wrongKind = Code(.wrongKind)
        /// A value of the right kind that is not allowed: out of range, badly formed, unsupported.
        public static let invalidValue = Code(.invalidValue)
        /// A file or directory that does not exist, cannot be read, or holds no mapping files.
        public static let unreadableFile = Code(.unreadableFile)
        /// The same source table or target name used twice.
        public static let duplicate = Code(.duplicate)

        public var description: String { base.rawValue }
    }
}
