/// An error from libpq or from the PostgreSQL server, with the server's diagnostics when there are any.
///
/// `sqlState` is the five-character SQLSTATE code (for example `42P01` for an undefined table); it is
/// `nil` for client-side failures such as a refused connection.
public struct PGError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is; callers use it to decide between retrying and stopping.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable { case connection, server, protocolViolation, usage }
        private let base: Base
        /// The connection could not be made or was lost.
        public static let connection = Kind(base: .connection)
        /// The server reported an error (see `sqlState`).
        public static let server = Kind(base: .server)
        /// The server sent something the client did not expect.
        public static let protocolViolation = Kind(base: .protocolViolation)
        /// The wrapper was used in a way that is not allowed (a bug in Forager).
        public static let usage = Kind(base: .usage)
        public var description: String {
            switch base {
            case .connection: "connection"
            case .server: "server"
            case .protocolViolation: "protocol"
            case .usage: "usage"
            }
        }
    }

    public var kind: Kind
    /// What Forager was doing, for example `connecting to 127.0.0.1:5432/app` or `running query`.
    public var context: String
    /// The primary message from the server or libpq.
    public var message: String
    public var sqlState: String?
    public var detail: String?
    public var hint: String?
    /// The part the failing connection plays, as whoever opened it named it (Forager's `source`
    /// and `warehouse`); nil for a connection opened without one.
    public var origin: String?

    public var description: String {
        var text = "\(context): \(message)"
        if let sqlState { text += " (SQLSTATE \(sqlState))" }
        if let detail, !detail.isEmpty { text += "\nDETAIL: \(detail)" }
        if let hint, !hint.isEmpty { text += "\nHINT: \(hint)" }
        return text
    }

    /// True when the failure is in the transport (connection refused, reset, server shut down),
    /// so that a new connection may succeed.
    public var isConnectionFailure: Bool {
        if kind == .connection { return true }
        guard let sqlState else { return Self.lostConnectionMessages.contains { message.contains($0) } }
        // Class 08: connection exception; 57P01..57P03: admin shutdown, crash shutdown, cannot connect now.
        return sqlState.hasPrefix("08") || ["57P01", "57P02", "57P03"].contains(sqlState)
    }

    /// True when trying again later may succeed: the server is unreachable, restarting, or out of
    /// connections or memory for now. False for what only a person can fix: authentication,
    /// a missing database or role, missing privileges, TLS verification, bad SQL.
    public var isTransient: Bool {
        if let sqlState {
            // 40001/40P01: serialization failure, deadlock; class 53: insufficient resources;
            // 55P03: lock not available; 57014: query canceled (statement timeout, pg_cancel_backend).
            return isConnectionFailure || ["40001", "40P01", "55P03", "57014"].contains(sqlState) || sqlState.hasPrefix("53")
        }
        guard isConnectionFailure else { return false }
        return !Self.permanentConnectionFailures.contains { message.contains($0) }
    }

    /// What libpq reports, without an SQLSTATE, when the server went away in the middle of a
    /// command: a result can carry it while the connection still looks open.
    static let lostConnectionMessages = [
        "server closed the connection unexpectedly", "no connection to the server", "could not receive data from server",
        "could not send data to server", "connection to server was lost", "SSL SYSCALL error",
        "SSL connection has been closed unexpectedly",
    ]

    /// What libpq reports, without an SQLSTATE, when a connection is refused for a reason a retry
    /// does not change.
    static let permanentConnectionFailures = [
        "password authentication failed", "authentication failed", "no pg_hba.conf entry", "does not exist",
        "no password supplied", "is not permitted to log in", "must be superuser or replication role",
        "permission denied", "certificate", "invalid connection option", "invalid sslmode", "invalid URI",
        "missing \"=\"", "does not support SSL", "SSL error: unsupported",
    ]
}
