internal import Foundation

/// Where staged files go: a bucket, a key prefix inside it, the bucket's region, and for an
/// S3-compatible server its endpoint.
public struct S3Location: Sendable, Hashable, CustomStringConvertible {
    public var bucket: String
    /// The folder the staged files go under, such as `forager/staging/`; keys are the caller's
    /// to build from it (``key(_:)``).
    public var prefix: String
    /// The bucket's region, such as `us-east-1`; part of every signature.
    public var region: String
    /// An S3-compatible server's URL, such as `http://127.0.0.1:9000`, addressed path-style
    /// (`endpoint/bucket/key`); nil for AWS's own, addressed virtual-hosted-style
    /// (`https://bucket.s3.region.amazonaws.com/key`).
    public var endpoint: String?

    public init(bucket: String, prefix: String = "", region: String, endpoint: String? = nil) {
        self.bucket = bucket
        self.prefix = prefix
        self.region = region
        self.endpoint = endpoint
    }

    /// `name` under the prefix, with one slash between them.
    public func key(_ name: String) -> String {
        guard !prefix.isEmpty else { return name }
        return prefix.hasSuffix("/") ? prefix + name : prefix + "/" + name
    }

    public var description: String { "s3://\(bucket)/\(prefix) (\(region)\(endpoint.map { ", " + $0 } ?? ""))" }

    /// Where a request for `key` (the bucket itself when nil) goes.
    struct Address: Equatable {
        /// `scheme://host[:port]`, without a path.
        var origin: String
        /// The `Host` header: the host, and the port when it is not the scheme's default.
        var host: String
        /// The path as the server decodes it, not yet encoded.
        var path: String
    }

    /// The address of `key`, or of the bucket when `key` is nil; nil when the endpoint is not a
    /// usable `http` or `https` URL.
    func address(key: String?) -> Address? {
        guard let endpoint else {
            let host = "\(bucket).s3.\(region).amazonaws.com"
            return Address(origin: "https://" + host, host: host, path: "/" + (key ?? ""))
        }
        guard let components = URLComponents(string: endpoint), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let hostName = components.host, !hostName.isEmpty
        else { return nil }
        let defaultPort = scheme == "https" ? 443 : 80
        let host = hostName + (components.port.map { $0 == defaultPort ? "" : ":\($0)" } ?? "")
        var basePath = components.path
        while basePath.hasSuffix("/") { basePath.removeLast() }
        return Address(origin: "\(scheme)://\(host)", host: host, path: basePath + "/" + bucket + (key.map { "/" + $0 } ?? ""))
    }
}
