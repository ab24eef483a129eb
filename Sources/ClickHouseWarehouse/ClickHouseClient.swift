import AsyncHTTPClient
import ForagerCore
import Foundation
import Gzip
import NIOCore
import NIOSSL
import Synchronization

/// ClickHouse's HTTP interface: statements in the request body, or in the `query` parameter with
/// the data to insert in the body. Connections are pooled by the shared HTTP client.
struct ClickHouseClient: Sendable {
    /// The server's HTTP interface, without a trailing slash.
    let url: String
    /// The default database of statements (`database` parameter).
    var database: String
    let user: String?
    /// Never logged, never put in a message.
    let password: String?
    var timeout: Duration = .seconds(300)
    /// Whether insert bodies are sent gzip-compressed (`Content-Encoding: gzip`).
    var compress = true
    /// A PEM file of the certificate authorities that an https server's certificate must chain
    /// to, instead of the system's; nil for the system's.
    var caFile: String?
    /// Settings sent with every insert (see ``ClickHouseServerVersion/insertSettings``).
    var insertSettings: [(String, String)] = []
    /// Settings sent with every request (see ``ClickHouseTopology``'s quorum settings).
    var settings: [(String, String)] = []

    /// The process's HTTP clients for ClickHouse, one per set of trusted certificate authorities.
    /// A server that cannot be reached fails a request within 5 s (the shared client's
    /// browser-like settings would wait 90 s, or until the request's deadline), so that the
    /// pipeline's own retry with backoff takes over; no read timeout, since with
    /// `wait_end_of_query` the server is silent until a statement is done (the request's deadline
    /// bounds it). https verifies the certificate and the host name. They live as long as the process.
    private static let clients = Mutex<[String: HTTPClient]>([:])

    static func http(trusting caFile: String?) throws -> HTTPClient {
        try clients.withLock { clients in
            if let client = clients[caFile ?? ""] { return client }
            var tls = TLSConfiguration.makeClientConfiguration()
            if let caFile {
                guard FileManager.default.isReadableFile(atPath: caFile) else {
                    throw ForagerError(
                        .warehouse, "warehouse.ca_file \(caFile) cannot be read",
                        hint: "Give the path of a PEM file with the certificate authority that signed the ClickHouse server's certificate.")
                }
                tls.trustRoots = .file(caFile)
            }
            let client = HTTPClient(
                eventLoopGroup: HTTPClient.defaultEventLoopGroup,
                configuration: HTTPClient.Configuration(
                    tlsConfiguration: tls, timeout: HTTPClient.Configuration.Timeout(connect: .seconds(5)),
                    connectionPool: HTTPClient.Configuration.ConnectionPool(idleTimeout: .seconds(60))))
            clients[caFile ?? ""] = client
            return client
        }
    }

    /// The same server, with `system` as the default database (for statements that must work
    /// before the pipeline's database exists).
    var system: ClickHouseClient {
        var copy = self
        copy.database = "system"
        return copy
    }

    /// Runs a statement; returns the response body (TabSeparated for a SELECT).
    @discardableResult
    func execute(_ sql: String) async throws -> String {
        // Without wait_end_of_query, an error in the middle of a result comes with status 200,
        // appended to the rows.
        try await send(parameters: [("wait_end_of_query", "1")] + settings, body: Array(sql.utf8), what: Self.summary(of: sql))
    }

    /// Inserts `rows` (TabSeparated, one line per row) with `statement`, an
    /// `INSERT INTO ... FORMAT TabSeparated`.
    func insert(_ statement: String, rows: [UInt8]) async throws {
        let parameters = [("query", statement)] + insertSettings + settings
        if compress {
            try await send(parameters: parameters, body: try Gzip.compress(rows), what: Self.summary(of: statement), encoding: "gzip")
        } else {
            try await send(parameters: parameters, body: rows, what: Self.summary(of: statement))
        }
    }

    @discardableResult
    func send(parameters: [(String, String)], body: [UInt8], what: String, encoding: String? = nil, contentType: String? = nil) async throws
        -> String
    {
        var components = URLComponents(string: url + "/")
        components?.queryItems = ([("database", database)] + parameters).map { URLQueryItem(name: $0.0, value: $0.1) }
        guard let address = components?.url?.absoluteString else {
            throw ForagerError(
                .warehouse, "warehouse.url is not a usable URL", hint: "Write the ClickHouse HTTP interface, such as http://127.0.0.1:8123."
            )
        }
        var request = HTTPClientRequest(url: address)
        request.method = .POST
        if let user { request.headers.add(name: "X-ClickHouse-User", value: user) }
        if let password { request.headers.add(name: "X-ClickHouse-Key", value: password) }
        if let encoding { request.headers.add(name: "Content-Encoding", value: encoding) }
        if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response: HTTPClientResponse
        do {
            response = try await Self.http(trusting: caFile).execute(request, timeout: .seconds(timeout.components.seconds))
        } catch let error as ForagerError {
            throw error
        } catch let error as NIOSSLError {
            throw Self.tlsFailure(url: url, "\(error)")
        } catch let error as BoringSSLError {
            throw Self.tlsFailure(url: url, "\(error)")
        } catch let error as NIOSSLExtraError {
            throw Self.tlsFailure(url: url, "\(error)")
        } catch {
            throw ForagerError(
                .warehouse, "cannot reach the ClickHouse server at \(url): \(error)",
                hint: "Check that it runs and that warehouse.url is right; Forager keeps trying.", isTransient: true)
        }
        let text: String
        do {
            text = String(buffer: try await response.body.collect(upTo: 256 << 20))
        } catch let error as NIOTooManyBytesError {
            throw ForagerError(.warehouse, "the ClickHouse server at \(url) answered \(what) with more than 256 MiB: \(error)")
        } catch {
            // The server went away in the middle of its answer (killed, restarted, a network cut).
            throw ForagerError(
                .warehouse, "the ClickHouse server at \(url) broke off its answer to \(what): \(error)",
                hint: "Forager keeps trying; nothing is checkpointed before ClickHouse has answered.", isTransient: true)
        }
        guard response.status == .ok else {
            throw ForagerError(
                .warehouse, "ClickHouse refused \(what): \(Self.message(from: text))",
                hint: response.status == .unauthorized || response.status == .forbidden
                    ? "Check warehouse.user and the password (warehouse.password or FORAGER_WAREHOUSE_PASSWORD)." : nil,
                isTransient: Self.isTransient(status: Int(response.status.code), body: text))
        }
        return text
    }

    /// A certificate that does not verify: permanent, with what to check.
    static func tlsFailure(url: String, _ reason: String) -> ForagerError {
        ForagerError(
            .warehouse, "the ClickHouse server at \(url) did not pass TLS verification: \(reason)",
            hint:
                "Check that warehouse.url names the host its certificate was made for, and set warehouse.ca_file to the PEM file of the authority that signed it."
        )
    }

    /// Exception codes of a server that is busy or short of resources for now: TIMEOUT_EXCEEDED,
    /// TOO_MANY_SIMULTANEOUS_QUERIES, SOCKET_TIMEOUT, NETWORK_ERROR, MEMORY_LIMIT_EXCEEDED,
    /// TOO_MANY_PARTS, and the server shutting down (ABORTED, 236); on a cluster, a replica that
    /// lost ZooKeeper for now (TABLE_IS_READ_ONLY, KEEPER_EXCEPTION) and a quorum not reached yet
    /// (TOO_FEW_LIVE_REPLICAS, UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE, REPLICA_IS_NOT_IN_QUORUM,
    /// UNKNOWN_STATUS_OF_INSERT); on a sharded cluster, a shard none of whose replicas answers
    /// (ALL_CONNECTION_TRIES_FAILED).
    static let transientCodes: Set<Int> = [159, 202, 209, 210, 236, 241, 252, 242, 279, 999, 285, 286, 289, 319]

    /// True when a refusal may go away by itself: the server is overloaded or unavailable.
    static func isTransient(status: Int, body: String) -> Bool {
        if status == 503 || status == 502 || status == 504 { return true }
        return exceptionCode(in: body).map(transientCodes.contains) ?? false
    }

    /// Exception codes of a table that refuses the rows sent to it: VIOLATED_CONSTRAINT (a CHECK
    /// constraint added by hand), and values its column types cannot parse (CANNOT_PARSE_TEXT,
    /// CANNOT_PARSE_ESCAPE_SEQUENCE, CANNOT_PARSE_INPUT_ASSERTION_FAILED, CANNOT_PARSE_DATE,
    /// CANNOT_PARSE_DATETIME, CANNOT_PARSE_NUMBER).
    static let tableRefusalCodes: Set<Int> = [469, 6, 26, 27, 38, 41, 72]

    /// True when the server's refusal in `text` concerns the rows of the one table they were for.
    static func isTableRefusal(_ text: String) -> Bool {
        exceptionCode(in: text).map(tableRefusalCodes.contains) ?? false
    }

    /// Exception codes of a table definition whose sort or partition key the server refuses:
    /// ILLEGAL_TYPE_OF_ARGUMENT (toYYYYMM of an Int64), ILLEGAL_COLUMN (a nullable key),
    /// UNKNOWN_FUNCTION, UNKNOWN_IDENTIFIER, SYNTAX_ERROR, BAD_ARGUMENTS.
    static let layoutRefusalCodes: Set<Int> = [43, 44, 46, 47, 62, 36]

    /// True when the server's refusal in `text` concerns a table's sort or partition key (an
    /// access or connection error is not one).
    static func isLayoutRefusal(_ text: String) -> Bool {
        exceptionCode(in: text).map(layoutRefusalCodes.contains) ?? false
    }

    /// The number after the first `Code: ` of a ClickHouse exception text.
    static func exceptionCode(in text: String) -> Int? {
        guard let range = text.range(of: "Code: ") else { return nil }
        return Int(text[range.upperBound...].prefix { $0.isNumber })
    }

    /// The server's exception text without the stack trace.
    static func message(from body: String) -> String {
        let firstLine = body.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? body
        return firstLine.count > 500 ? String(firstLine.prefix(500)) + "…" : firstLine
    }

    /// The start of a statement, for messages (never the data).
    static func summary(of sql: String) -> String {
        let flat = sql.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
        return "'" + (flat.count > 120 ? String(flat.prefix(120)) + "…" : flat) + "'"
    }

    /// An identifier quoted for ClickHouse: backquotes, with backquote and backslash escaped.
    static func quote(_ identifier: String) -> String {
        "`" + identifier.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "`", with: "\\`") + "`"
    }

    /// A string literal for ClickHouse: single quotes, with quote and backslash escaped.
    static func literal(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
    }
}
