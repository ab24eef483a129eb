internal import Crypto
internal import ForagerCore
public import Foundation

/// A request signed with AWS Signature Version 4, in the `Authorization` header.
///
/// A pure value: give it what the request will carry and it computes the canonical request, the
/// string to sign and the signature, as
/// [Signature Calculations for the Authorization Header](https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html)
/// describes. Paths are encoded once, segment by segment, as S3 wants (other services encode the
/// path twice; this signer is for S3).
public struct SigV4: Sendable {
    /// The HTTP method, such as `GET`.
    public var method: String
    /// The path as the server decodes it, not yet percent-encoded: `/bucket/my key.csv`.
    public var path: String
    /// The query's names and values, not yet percent-encoded; a value may be empty (`lifecycle=`).
    public var query: [(name: String, value: String)]
    /// The headers to sign, `host` among them. Names in any case; values are trimmed and their
    /// runs of spaces made one, as the canonical form wants.
    public var headers: [(name: String, value: String)]
    /// The lowercase hex SHA-256 of the body (``SigV4/sha256Hex(_:)``).
    public var payloadHash: String
    /// When the request is signed (the `x-amz-date` header).
    public var date: Date
    /// The region, such as `us-east-1`.
    public var region: String
    /// The service, `s3` for S3.
    public var service: String
    /// The key that signs; its secret is used only to derive the signing key.
    public var credentials: AWSCredentials
    /// Whether the request carries and signs `x-amz-content-sha256` (S3 requires it).
    public var sendsPayloadHash: Bool

    public init(
        method: String, path: String, query: [(name: String, value: String)] = [], headers: [(name: String, value: String)],
        payloadHash: String, date: Date, region: String, service: String = "s3", credentials: AWSCredentials,
        sendsPayloadHash: Bool = true
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.payloadHash = payloadHash
        self.date = date
        self.region = region
        self.service = service
        self.credentials = credentials
        self.sendsPayloadHash = sendsPayloadHash
    }

    /// The headers the signer adds to the request: `x-amz-date`, `x-amz-content-sha256` (when
    /// ``sendsPayloadHash``), `x-amz-security-token` (with a session token) and `Authorization`.
    public var headersToAdd: [(name: String, value: String)] {
        var added = amzHeaders
        added.append(("Authorization", authorization))
        return added
    }

    /// The `Authorization` header's value.
    public var authorization: String {
        "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
    }

    /// The canonical request: method, encoded path, sorted query, canonical headers, the signed
    /// header names and the payload hash, one a line.
    public var canonicalRequest: String {
        let lines = [
            method, Self.canonicalPath(path), Self.canonicalQuery(query),
            canonicalHeaders.map { "\($0.name):\($0.value)\n" }.joined(), signedHeaders, payloadHash,
        ]
        return lines.joined(separator: "\n")
    }

    /// The string to sign: algorithm, timestamp, scope and the hash of the canonical request.
    public var stringToSign: String {
        ["AWS4-HMAC-SHA256", timestamp, scope, Self.sha256Hex(Array(canonicalRequest.utf8))].joined(separator: "\n")
    }

    /// The signature: lowercase hex HMAC-SHA256 of the string to sign under the derived key.
    public var signature: String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: signingKey)
        return Self.hex(mac)
    }

    /// `yyyyMMdd'T'HHmmss'Z'` in UTC.
    public var timestamp: String { Self.timestamp(of: date) }

    /// `date/region/service/aws4_request`.
    public var scope: String { "\(timestamp.prefix(8))/\(region)/\(service)/aws4_request" }

    /// The derived key: HMAC chain from `"AWS4" + secret` through date, region, service and
    /// `aws4_request`.
    var signingKey: SymmetricKey {
        var key = SymmetricKey(data: Array(("AWS4" + credentials.secretAccessKey).utf8))
        for part in [String(timestamp.prefix(8)), region, service, "aws4_request"] {
            key = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        return key
    }

    private var amzHeaders: [(name: String, value: String)] {
        var added: [(name: String, value: String)] = [("x-amz-date", timestamp)]
        if sendsPayloadHash { added.append(("x-amz-content-sha256", payloadHash)) }
        if let token = credentials.sessionToken { added.append(("x-amz-security-token", token)) }
        return added
    }

    /// Lowercased names in order, each once; values of a repeated name joined by commas.
    private var canonicalHeaders: [(name: String, value: String)] {
        var values: [String: [String]] = [:]
        for (name, value) in headers + amzHeaders {
            values[name.lowercased(), default: []].append(Self.canonicalValue(value))
        }
        return values.keys.sorted().map { ($0, values[$0]!.joined(separator: ",")) }
    }

    private var signedHeaders: String { canonicalHeaders.map(\.name).joined(separator: ";") }

    /// A header value trimmed, with each run of spaces made one.
    static func canonicalValue(_ value: String) -> String {
        value.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
    }

    /// Each segment encoded, the slashes kept; `/` for an empty path.
    public static func canonicalPath(_ path: String) -> String {
        guard !path.isEmpty else { return "/" }
        return path.split(separator: "/", omittingEmptySubsequences: false).map { uriEncode(String($0)) }.joined(separator: "/")
    }

    /// Names and values encoded, sorted by name then value, joined with `&`.
    public static func canonicalQuery(_ query: [(name: String, value: String)]) -> String {
        query.map { (uriEncode($0.name), uriEncode($0.value)) }
            .sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }

    /// Percent-encodes every byte of the UTF-8 but the unreserved `A-Z a-z 0-9 - . _ ~`, with
    /// uppercase hex (a space is `%20`, never `+`).
    public static func uriEncode(_ text: String) -> String {
        var encoded = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                encoded.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                encoded += "%" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 0xF, radix: 16, uppercase: true)
            }
        }
        return encoded
    }

    /// The lowercase hex SHA-256 of `bytes`.
    public static func sha256Hex(_ bytes: [UInt8]) -> String {
        hex(SHA256.hash(data: bytes))
    }

    static func hex(_ digest: some Sequence<UInt8>) -> String {
        digest.map { String($0 >> 4, radix: 16) + String($0 & 0xF, radix: 16) }.joined()
    }

    /// `yyyyMMdd'T'HHmmss'Z'` of `date` in UTC, computed without a formatter or a locale.
    static func timestamp(of date: Date) -> String {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = CivilCalendar.date(fromDays: days)
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(year)\(two(month))\(two(day))T\(two(secondOfDay / 3600))\(two(secondOfDay / 60 % 60))\(two(secondOfDay % 60))Z"
    }
}

extension SigV4: CustomStringConvertible {
    /// The request's method, path and scope; never the secret, the token or the signature.
    public var description: String {
        "SigV4(\(method) \(path), scope: \(scope), key: \(credentials))"
    }
}
