internal import AsyncHTTPClient
internal import Crypto
internal import ForagerCore
internal import Foundation
public import Logging
internal import NIOCore

/// A small S3 client for staging files: put, get, delete, list and delete under a prefix, each
/// request signed with ``SigV4``.
///
/// Failures are ``ForagerError``s of kind `.warehouse` naming the operation, the bucket and the
/// key, with a hint; `isTransient` marks those a retry may fix (a server that cannot be reached,
/// HTTP 500 and 503, `SlowDown`). Log lines carry the operation, bucket, key, status and size as
/// metadata; never a header, a secret or a token.
public struct S3Client: Sendable {
    public let location: S3Location
    let credentials: AWSCredentials
    public var logger: Logger
    /// The longest one request may take, body included.
    public var timeout: Duration
    /// The largest object ``get(_:)`` reads.
    public var maximumObjectSize = 1 << 30
    /// The clock that dates signatures (a test may fix it).
    var now: @Sendable () -> Date = { Date() }

    public init(location: S3Location, credentials: AWSCredentials, logger: Logger, timeout: Duration = .seconds(300)) {
        self.location = location
        self.credentials = credentials
        self.logger = logger
        self.timeout = timeout
    }

    /// The process's HTTP client for S3: a server that cannot be reached fails a request within
    /// 5 s, so the caller's retry takes over; redirects are not followed (S3 answers a request
    /// to the wrong region with one, and the error says which region to set). https verifies
    /// the certificate and the host name. It lives as long as the process.
    static let http = HTTPClient(
        eventLoopGroup: HTTPClient.defaultEventLoopGroup,
        configuration: HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: HTTPClient.Configuration.Timeout(connect: .seconds(5)),
            connectionPool: HTTPClient.Configuration.ConnectionPool(idleTimeout: .seconds(60))))

    /// Stores `body` as `key` (PutObject), replacing any object there.
    public func put(_ key: String, body: [UInt8], contentType: String = "application/octet-stream") async throws {
        _ = try await send("put", method: "PUT", key: key, headers: [("Content-Type", contentType)], body: body)
    }

    /// The bytes of `key` (GetObject).
    public func get(_ key: String) async throws -> [UInt8] {
        try await send("get", method: "GET", key: key, limit: maximumObjectSize)
    }

    /// Removes `key` (DeleteObject); a key that is not there is no error, as on S3.
    public func delete(_ key: String) async throws {
        _ = try await send("delete", method: "DELETE", key: key)
    }

    /// Every key that starts with `prefix`, in S3's order (ListObjectsV2, following continuation
    /// tokens). `pageSize` is the `max-keys` of each request (S3's default and maximum is 1000).
    public func list(prefix: String, pageSize: Int? = nil) async throws -> [String] {
        var keys: [String] = []
        var token: String?
        repeat {
            var query = [(name: "list-type", value: "2"), (name: "prefix", value: prefix)]
            if let pageSize { query.append(("max-keys", String(pageSize))) }
            if let token { query.append(("continuation-token", token)) }
            let answer = try await send("list", method: "GET", key: nil, query: query, listPrefix: prefix)
            let page = String(decoding: answer, as: UTF8.self)
            keys += S3XML.values(of: "Key", in: page)
            let truncated = S3XML.value(of: "IsTruncated", in: page) == "true"
            let next = truncated ? S3XML.value(of: "NextContinuationToken", in: page) : nil
            // A list cut short would leave staged files behind (or load too few): stop instead.
            if truncated && (next == nil || next == token) {
                throw ForagerError(
                    .warehouse,
                    "S3 answered a truncated list of \(S3Failure.place(bucket: location.bucket, key: prefix)) without a new continuation token",
                    hint: "The server does not page ListObjectsV2 correctly; report it with the server's name and version.")
            }
            token = next
        } while token != nil
        return keys
    }

    /// Removes every object whose key starts with `prefix` (a list, then DeleteObjects by 1000);
    /// returns how many there were. An empty prefix is refused: it would empty the bucket.
    @discardableResult
    public func deleteAll(prefix: String) async throws -> Int {
        guard !prefix.isEmpty else {
            throw ForagerError(
                .warehouse, "refusing to delete everything in s3://\(location.bucket): deleteAll was given an empty prefix",
                hint: "Give the staging prefix (warehouse.s3.prefix) to delete under.")
        }
        let keys = try await list(prefix: prefix)
        var start = 0
        while start < keys.count {
            let batch = Array(keys[start..<min(start + 1000, keys.count)])
            try await deleteObjects(batch, prefix: prefix)
            start += batch.count
        }
        return keys.count
    }

    /// One DeleteObjects request; an `<Error>` for any key in the answer fails the whole call.
    private func deleteObjects(_ keys: [String], prefix: String) async throws {
        let objects = keys.map { "<Object><Key>\(S3XML.escape($0))</Key></Object>" }.joined()
        let body = Array("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Delete><Quiet>true</Quiet>\(objects)</Delete>".utf8)
        let md5 = Data(Insecure.MD5.hash(data: body)).base64EncodedString()
        let answer = try await send(
            "delete", method: "POST", key: nil, query: [("delete", "")],
            headers: [("Content-MD5", md5), ("Content-Type", "application/xml")],
            body: body, listPrefix: prefix)
        let errors = S3XML.values(of: "Error", in: String(decoding: answer, as: UTF8.self))
        guard let first = errors.first else { return }
        let failure = S3Failure.refusal(
            operation: "delete (\(errors.count) of \(keys.count) keys refused)", bucket: location.bucket,
            key: S3XML.value(of: "Key", in: first) ?? prefix, status: 200, body: "<Error>\(first)</Error>", secrets: secrets)
        throw failure
    }

    private var secrets: [String] { [credentials.secretAccessKey] + (credentials.sessionToken.map { [$0] } ?? []) }

    /// Signs and sends one request; returns the body of a 2xx answer, else throws the refusal.
    /// `listPrefix` names the prefix in messages of bucket-wide requests.
    private func send(
        _ operation: String, method: String, key: String?, query: [(name: String, value: String)] = [],
        headers: [(name: String, value: String)] = [], body: [UInt8] = [], listPrefix: String? = nil, limit: Int = 64 << 20
    ) async throws -> [UInt8] {
        let named = key ?? listPrefix.map { $0 + "*" }
        guard let address = location.address(key: key) else {
            throw ForagerError(
                .warehouse, "the S3 endpoint \(location.endpoint ?? "") is not an http or https URL",
                hint: "Write the S3-compatible server's URL, such as http://127.0.0.1:9000, or leave the endpoint out for AWS.")
        }
        let signer = SigV4(
            method: method, path: address.path, query: query, headers: [(name: "host", value: address.host)] + headers,
            payloadHash: SigV4.sha256Hex(body), date: now(), region: location.region, service: "s3", credentials: credentials)
        let queryString = query.map { SigV4.uriEncode($0.name) + "=" + SigV4.uriEncode($0.value) }.joined(separator: "&")
        var request = HTTPClientRequest(
            url: address.origin + SigV4.canonicalPath(address.path) + (queryString.isEmpty ? "" : "?" + queryString))
        request.method = .init(rawValue: method)
        request.headers.add(name: "Host", value: address.host)
        for (name, value) in headers + signer.headersToAdd { request.headers.add(name: name, value: value) }
        if method == "PUT" || method == "POST" { request.body = .bytes(ByteBuffer(bytes: body)) }
        let started = ContinuousClock.now
        let response: HTTPClientResponse
        let answer: ByteBuffer
        do {
            response = try await Self.http.execute(request, timeout: .seconds(timeout.components.seconds))
            answer = try await response.body.collect(upTo: response.status.code < 300 ? limit : 1 << 20)
        } catch is NIOTooManyBytesError {
            throw ForagerError(
                .warehouse, "\(S3Failure.place(bucket: location.bucket, key: named)) is larger than the \(limit) bytes \(operation) reads",
                hint: "Stage smaller files, or raise the client's maximumObjectSize.")
        } catch {
            throw S3Failure.unreachable(
                operation: operation, bucket: location.bucket, key: named, endpoint: address.origin, error: error, secrets: secrets)
        }
        logger.debug(
            "S3 request",
            metadata: [
                "forager.s3.operation": "\(operation)", "forager.s3.bucket": "\(location.bucket)", "forager.s3.key": "\(named ?? "")",
                "forager.s3.status": "\(response.status.code)", "forager.s3.bytes_sent": "\(body.count)",
                "forager.s3.bytes_received": "\(answer.readableBytes)", "forager.s3.duration": "\(ContinuousClock.now - started)",
            ])
        guard (200..<300).contains(response.status.code) else {
            throw S3Failure.refusal(
                operation: operation, bucket: location.bucket, key: named, status: Int(response.status.code),
                body: String(buffer: answer), secrets: secrets)
        }
        return Array(answer.readableBytesView)
    }
}
