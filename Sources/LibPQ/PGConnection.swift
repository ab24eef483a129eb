internal import CLibPQ
internal import Dispatch
internal import Glibc

/// One libpq connection.
///
/// Every libpq call runs on the connection's own serial dispatch queue, never on Swift's cooperative
/// thread pool: the async methods hop to that queue, block there as libpq requires, and resume the
/// caller with the result. Calls on one connection are therefore serialized; use several connections
/// for parallel work.
public final class PGConnection: @unchecked Sendable {
    /// Where this connection goes, without any password; safe to log.
    public let endpoint: String
    /// The part this connection plays, put in its errors (``PGError/origin``).
    public let origin: String?
    private let queue: DispatchQueue
    /// Touched only on `queue`.
    private var handle: OpaquePointer?
    /// Touched only on `queue`: the running `COPY TO STDOUT` has delivered its last row.
    var copyOutFinished = true

    private init(handle: OpaquePointer, endpoint: String, origin: String?, queue: DispatchQueue) {
        self.handle = handle
        self.endpoint = endpoint
        self.origin = origin
        self.queue = queue
    }

    deinit {
        if let handle { PQfinish(handle) }
    }

    /// Opens a connection.
    ///
    /// - Parameters:
    ///   - connectionString: any libpq URI or `key=value` string.
    ///   - overrides: keywords that replace the user's (for example `replication=database`).
    ///   - serverSettings: run-time settings sent in the startup packet (`-c name=value`).
    ///   - origin: the part the connection plays (`source`, `warehouse`), which its errors carry.
    public static func connect(
        _ connectionString: ConnectionString,
        overrides: [String: String] = [:],
        serverSettings: [(String, String)] = [],
        origin: String? = nil
    ) async throws -> PGConnection {
        var info = connectionString
        for (key, value) in overrides.sorted(by: { $0.key < $1.key }) { info[key] = value }
        if !serverSettings.isEmpty { info.addServerSettings(serverSettings) }
        if info["connect_timeout"] == nil { info["connect_timeout"] = "10" }
        if info["application_name"] == nil { info["application_name"] = "forager" }
        let endpoint = connectionString.description
        let parameters = info.parameters
        let queue = DispatchQueue(label: "forager.libpq \(endpoint)")
        return try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(
                    with: Result {
                        do {
                            return try openBlocking(parameters: parameters, endpoint: endpoint, origin: origin, queue: queue)
                        } catch var error as PGError {
                            error.origin = origin
                            throw error
                        }
                    })
            }
        }
    }

    private static func openBlocking(
        parameters: [(key: String, value: String)], endpoint: String, origin: String?, queue: DispatchQueue
    ) throws -> PGConnection {
        let keys = parameters.map { strdup($0.key) } + [nil]
        let values = parameters.map { strdup($0.value) } + [nil]
        defer {
            keys.forEach { free($0) }
            values.forEach { free($0) }
        }
        let handle = keys.map { UnsafePointer($0) }.withUnsafeBufferPointer { keyBuffer in
            values.map { UnsafePointer($0) }.withUnsafeBufferPointer { valueBuffer in
                PQconnectdbParams(keyBuffer.baseAddress, valueBuffer.baseAddress, 0)
            }
        }
        guard let handle else {
            throw PGError(kind: .connection, context: "connecting to \(endpoint)", message: "out of memory")
        }
        guard PQstatus(handle) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(handle)).trimmedTrailingNewlines
            PQfinish(handle)
            throw PGError(
                kind: .connection, context: "connecting to \(endpoint)", message: message,
                hint: hintForConnectionFailure(message))
        }
        PQsetNoticeProcessor(handle, { _, _ in }, nil)
        return PGConnection(handle: handle, endpoint: endpoint, origin: origin, queue: queue)
    }

    private static func hintForConnectionFailure(_ message: String) -> String? {
        if message.contains("could not translate host name") || message.contains("Name or service not known")
            || message.contains("Temporary failure in name resolution")
        {
            return
                "Check the host part of the connection URL (postgresql://user@HOST:port/database) and that DNS resolves it from this machine."
        }
        if message.contains("password authentication failed") {
            return "Check the user and password (in the URL, PGPASSWORD or ~/.pgpass)."
        }
        if message.contains("Connection refused") || message.contains("could not connect") {
            return "Check that the server is running and that host and port are right."
        }
        if message.contains("does not exist") {
            return "Check the database and user names in the connection URL."
        }
        return nil
    }

    /// Runs `body` with the raw handle on the connection's queue.
    func withHandle<T: Sendable>(
        _ body: @escaping @Sendable (OpaquePointer) throws -> T
    ) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(
                    with: Result {
                        do {
                            guard let handle = self.handle else {
                                throw PGError(kind: .usage, context: "using \(self.endpoint)", message: "connection is closed")
                            }
                            return try body(handle)
                        } catch var error as PGError {
                            error.origin = self.origin
                            throw error
                        }
                    })
            }
        }
    }

    /// The server's version as a number, such as 150004 for 15.4 (`PQserverVersion`).
    public func serverVersion() async throws -> Int {
        try await withHandle { Int(PQserverVersion($0)) }
    }

    /// How many more connections the server takes from this connection's role: the least of what
    /// `max_connections` leaves after the reserved and the open client sessions, and what the
    /// role's `CONNECTION LIMIT` leaves after its own sessions (walsenders included; no limit for a
    /// superuser or a role without one).
    public func freeConnections() async throws -> Int {
        let free = try await query(
            """
            SELECT least(
                current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int
                    - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int,
                (SELECT CASE WHEN r.rolconnlimit < 0 OR r.rolsuper THEN 2147483647
                        ELSE r.rolconnlimit - (SELECT count(*) FROM pg_stat_activity WHERE usename = current_user)::int END
                 FROM pg_roles AS r WHERE r.rolname = current_user))
            """
        ).scalar
        return free.flatMap { Int($0) } ?? Int.max
    }

    /// Closes the connection. Further calls throw.
    public func close() {
        queue.sync {
            if let handle { PQfinish(handle) }
            handle = nil
        }
    }

    /// Runs one statement with text parameters (`$1`, `$2`, ...) through `PQexecParams`.
    @discardableResult
    public func query(_ sql: String, _ parameters: [String?] = []) async throws -> PGRows {
        let endpoint = self.endpoint
        return try await withHandle { handle in
            let copies = parameters.map { $0.map { strdup($0) } ?? nil }
            defer { copies.forEach { free($0) } }
            let result = copies.map { UnsafePointer($0) }.withUnsafeBufferPointer { values in
                PQexecParams(handle, sql, Int32(parameters.count), nil, values.baseAddress, nil, nil, 0)
            }
            return try Self.consume(
                result, handle: handle, context: "query on \(endpoint)", expecting: [PGRES_TUPLES_OK, PGRES_COMMAND_OK])
        }
    }

    /// Runs one statement and returns its rows with every value in its type's binary send format
    /// (nil for NULL), as `binary 'true'` logical replication sends them.
    public func binaryRows(_ sql: String) async throws -> [[[UInt8]?]] {
        let endpoint = self.endpoint
        return try await withHandle { handle in
            guard let result = PQexecParams(handle, sql, 0, nil, nil, nil, nil, 1) else {
                throw Self.connectionError(handle, context: "query on \(endpoint)")
            }
            defer { PQclear(result) }
            let status = PQresultStatus(result)
            guard status == PGRES_TUPLES_OK else {
                throw Self.resultError(result, handle: handle, context: "query on \(endpoint)", status: status)
            }
            return (0..<PQntuples(result)).map { row in
                (0..<PQnfields(result)).map { column -> [UInt8]? in
                    guard PQgetisnull(result, row, column) == 0, let value = PQgetvalue(result, row, column) else { return nil }
                    return value.withMemoryRebound(to: UInt8.self, capacity: Int(PQgetlength(result, row, column))) {
                        Array(UnsafeBufferPointer(start: $0, count: Int(PQgetlength(result, row, column))))
                    }
                }
            }
        }
    }

    /// Runs one or more statements without parameters (`PQexec`, the simple query protocol), for
    /// DDL, transaction control and replication commands. Returns the last statement's rows.
    @discardableResult
    public func execute(_ sql: String) async throws -> PGRows {
        let endpoint = self.endpoint
        return try await withHandle { handle in
            try Self.consume(
                PQexec(handle, sql), handle: handle, context: "statement on \(endpoint)", expecting: [PGRES_TUPLES_OK, PGRES_COMMAND_OK])
        }
    }

    /// Turns a result into rows, or throws the error it carries. Frees the result.
    static func consume(
        _ result: OpaquePointer?, handle: OpaquePointer, context: String, expecting: [ExecStatusType]
    ) throws -> PGRows {
        guard let result else { throw connectionError(handle, context: context) }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard expecting.contains(status) else {
            throw resultError(result, handle: handle, context: context, status: status)
        }
        return PGRows(result)
    }

    static func connectionError(_ handle: OpaquePointer, context: String) -> PGError {
        let message = String(cString: PQerrorMessage(handle)).trimmedTrailingNewlines
        return PGError(
            kind: PQstatus(handle) == CONNECTION_OK ? .protocolViolation : .connection,
            context: context, message: message.isEmpty ? "no result from server" : message)
    }

    static func resultError(_ result: OpaquePointer, handle: OpaquePointer, context: String, status: ExecStatusType) -> PGError {
        func field(_ code: Character) -> String? {
            PQresultErrorField(result, Int32(code.asciiValue!)).map { String(cString: $0) }
        }
        if status == PGRES_FATAL_ERROR || status == PGRES_NONFATAL_ERROR {
            let message = field("M") ?? String(cString: PQresultErrorMessage(result)).trimmedTrailingNewlines
            let lost = PQstatus(handle) != CONNECTION_OK
            return PGError(
                kind: lost && field("C") == nil ? .connection : .server, context: context,
                message: message, sqlState: field("C"), detail: field("D"), hint: field("H"))
        }
        return PGError(
            kind: .protocolViolation, context: context,
            message: "unexpected result status \(String(cString: PQresStatus(status)))")
    }
}

/// The rows of a query result, copied out of libpq, with every value in text form.
public struct PGRows: Sendable {
    public let columnNames: [String]
    public let rows: [[String?]]
    /// The number of rows a command touched (`PQcmdTuples`), or 0.
    public let affectedRows: Int

    init(_ result: OpaquePointer) {
        let columnCount = PQnfields(result)
        let rowCount = PQntuples(result)
        columnNames = (0..<columnCount).map { String(cString: PQfname(result, $0)) }
        rows = (0..<rowCount).map { row in
            (0..<columnCount).map { column in
                PQgetisnull(result, row, column) == 1 ? nil : String(cString: PQgetvalue(result, row, column))
            }
        }
        affectedRows = Int(String(cString: PQcmdTuples(result))) ?? 0
    }

    /// The value at `row` in the column named `column`; nil when NULL or when there is no such column.
    public subscript(row: Int, column: String) -> String? {
        guard let index = columnNames.firstIndex(of: column) else { return nil }
        return rows[row][index]
    }

    /// The first column of the first row, the common case for scalar queries.
    public var scalar: String? { rows.first?.first ?? nil }
}
