/// An error Forager raises itself, saying what is wrong, where, and what to do.
///
/// Most are permanent: a retry cannot fix a bad mapping, a missing slot or a schema mismatch, and
/// the pipeline stops. `isTransient` marks the few a retry can (a stream the server ended).
public struct ForagerError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        /// The source server is not set up for logical replication or lacks privileges.
        public static let sourceSetup = Code("source setup")
        /// The slot or the warehouse checkpoint is in a state Forager will not guess about.
        public static let replicationState = Code("replication state")
        /// A table's shape does not fit (no primary key, columns changed, unsupported type).
        public static let schema = Code("schema")
        /// The server sent something Forager cannot decode or did not expect.
        public static let protocolViolation = Code("protocol")
        /// The warehouse is not in the state Forager expects.
        public static let warehouse = Code("warehouse")
        /// A setting this machine cannot honour (an address in use, a file that cannot be read).
        public static let configuration = Code("configuration")
        /// Column values arrived in binary that the warehouse cannot store as received (a type
        /// changed in the stream): the stream starts again with values in text.
        public static let binaryValues = Code("binary values")
        public var description: String { name }
    }

    public var code: Code
    /// What is wrong, naming the table, column, slot or key concerned.
    public var message: String
    /// What to do about it.
    public var hint: String?
    /// True when trying again later may succeed, such as when the server ended a stream as it shut down.
    public var isTransient: Bool

    public init(_ code: Code, _ message: String, hint: String? = nil, isTransient: Bool = false) {
        self.code = code
        self.message = message
        self.hint = hint
        self.isTransient = isTransient
    }

    public var description: String {
        hint.map { "\(message)\nHINT: \($0)" } ?? message
    }
}
